/*
 * The configuration object: the settings table generated from config.h, the
 * properties reader (shared by scepd.conf and EJBCA alias exports), typed
 * storage, validation, and the text, `show` and Markdown writers.
 */
#include "config/config.h"
#include "config/config_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the table ------------------------------------------------------------ */

#define ROW_(scope, strct, field, name, type, def, min, max, allowed, check, flags, desc)          \
    {                                                                                              \
        name,                                                                                      \
        scope,                                                                                     \
        SCEP_CONFIG_TYPE_##type,                                                                   \
        def,                                                                                       \
        min,                                                                                       \
        max,                                                                                       \
        allowed,                                                                                   \
        SCEP_CONFIG_CHECK_##check,                                                                 \
        flags,                                                                                     \
        desc,                                                                                      \
        offsetof(struct strct, field)},
#define GLOBAL_ROW_(...) ROW_(SCEP_CONFIG_SCOPE_GLOBAL, scep_config_global, __VA_ARGS__)
#define ALIAS_ROW_(...)  ROW_(SCEP_CONFIG_SCOPE_ALIAS, scep_config_alias_settings, __VA_ARGS__)

static const struct scep_config_setting global_settings[] = {
    SCEP_CONFIG_GLOBAL_SETTINGS(GLOBAL_ROW_)};
static const struct scep_config_setting alias_settings[] = {SCEP_CONFIG_ALIAS_SETTINGS(ALIAS_ROW_)};

#define GLOBAL_COUNT (sizeof(global_settings) / sizeof(global_settings[0]))
#define ALIAS_COUNT  (sizeof(alias_settings) / sizeof(alias_settings[0]))

/*
 * EJBCA ScepConfiguration keys found in real exports. ra.entityProfile is
 * EJBCA's own name for the RA end entity profile; the Intune keys configure a
 * Microsoft Intune validation scepd does not have.
 */
static const struct scep_config_ejbca_key ejbca_keys[] = {
    {"ra.entityProfile", "ra.endEntityProfile"},
    {"ra.createOrEditUser", NULL},
    {"returnCaChainInGetCaCert", "includeroot"},
    {"useIntune", NULL},
    {"intuneAadAppId", NULL},
    {"intuneAadUseKeyBinding", NULL},
    {"intuneAadAppKey", NULL},
    {"intuneAadAppKeyBinding", NULL},
    {"intuneTenant", NULL},
    {"intuneProxyHost", NULL},
    {"intuneProxyPort", NULL},
    {"intuneProxyUser", NULL},
    {"intuneProxyPass", NULL},
    {"intuneAuthority", NULL},
    {"intuneGraphApiVersion", NULL},
    {"intuneGraphResourceUrl", NULL},
    {"intuneIntuneResourceUrl", NULL},
};

const struct scep_config_setting *scep_config_settings(enum scep_config_scope scope,
                                                       size_t *out_count)
{
    if (scope == SCEP_CONFIG_SCOPE_GLOBAL) {
        *out_count = GLOBAL_COUNT;
        return global_settings;
    }
    *out_count = ALIAS_COUNT;
    return alias_settings;
}

const struct scep_config_setting *scep_config_setting_find(enum scep_config_scope scope,
                                                           const char *name)
{
    size_t count = 0;
    const struct scep_config_setting *table = scep_config_settings(scope, &count);
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

const struct scep_config_ejbca_key *scep_config_ejbca_keys(size_t *out_count)
{
    *out_count = sizeof(ejbca_keys) / sizeof(ejbca_keys[0]);
    return ejbca_keys;
}

/* ---- a bounded string builder ----------------------------------------------- */

#define SBUF_MAX (16u * 1024 * 1024)

struct sbuf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (n >= SBUF_MAX - sb->len) {
        sb->failed = true;
        return;
    }
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *grown = realloc(sb->data, cap);
        if (grown == NULL) {
            sb->failed = true;
            return;
        }
        sb->data = grown;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sb_str(struct sbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void sb_printf(struct sbuf *sb, const char *fmt, ...) SCEP_PRINTF(2, 3);
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        sb->failed = true;
        return;
    }
    sb_add(sb, tmp, (size_t)n);
}

/* Hands the text to the caller, or frees it and reports why it failed. */
static int sb_finish(struct sbuf *sb, char **out)
{
    if (sb->failed || sb->data == NULL) {
        bool empty = !sb->failed;
        free(sb->data);
        if (empty) {
            *out = strdup("");
            return *out ? 0 : scep_fail(SCEP_ENOMEM, "out of memory");
        }
        return scep_fail(SCEP_ENOMEM, "out of memory or text too long");
    }
    *out = sb->data;
    return 0;
}

/* ---- the object ------------------------------------------------------------ */

struct alias_entry {
    char name[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    struct scep_config_alias_settings values;
    int line[ALIAS_COUNT]; /* 0: default; > 0: file line; -1: set through the API */
};

struct scep_config {
    struct scep_config_global global;
    int global_line[GLOBAL_COUNT];
    struct alias_entry **aliases;
    size_t alias_count, alias_cap;
    char **warnings;
    size_t warning_count, warning_cap;
};

static void *slot_of(void *base, const struct scep_config_setting *s)
{
    return (char *)base + s->offset;
}

static const void *cslot_of(const void *base, const struct scep_config_setting *s)
{
    return (const char *)base + s->offset;
}

static void list_free(struct scep_config_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static void value_free(const struct scep_config_setting *s, void *slot)
{
    if (s->type == SCEP_CONFIG_TYPE_STRING) {
        char **str = slot;
        if (*str != NULL && (s->flags & SCEP_CONFIG_SECRET) != 0)
            OPENSSL_cleanse(*str, strlen(*str));
        free(*str);
        *str = NULL;
    } else if (s->type == SCEP_CONFIG_TYPE_LIST) {
        list_free(slot);
    }
}

/* Index of `text` in "a|b|c" (case-insensitive), or -1. */
static int allowed_index(const char *allowed, const char *text, size_t text_len)
{
    int index = 0;
    for (const char *p = allowed;; index++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == text_len && strncasecmp(p, text, n) == 0)
            return index;
        if (bar == NULL)
            return -1;
        p = bar + 1;
    }
}

/* The index-th word of "a|b|c" into buf. */
static const char *allowed_name(const char *allowed, int index, char *buf, size_t len)
{
    const char *p = allowed;
    for (int i = 0; i < index && p != NULL; i++) {
        p = strchr(p, '|');
        if (p != NULL)
            p++;
    }
    if (p == NULL)
        return "?";
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* "one of a, b, c" */
static void allowed_phrase(const char *allowed, char *buf, size_t len)
{
    struct sbuf sb = {0};
    sb_str(&sb, "one of ");
    for (const char *p = allowed; *p != '\0'; p++)
        if (*p == '|')
            sb_str(&sb, ", ");
        else
            sb_add(&sb, p, 1);
    int n = snprintf(buf, len, "%s", sb.failed || sb.data == NULL ? "an allowed value" : sb.data);
    (void)n;
    free(sb.data);
}

static int check_database(const char *text)
{
    if (strncmp(text, "sqlite:", 7) == 0 && text[7] != '\0')
        return 0;
    if ((strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0))
        return 0;
    /* A libpq keyword string may hold a password: accepted, and never echoed. */
    if ((strncmp(text, "postgresql:", 11) == 0 && text[11] != '\0') ||
        (strncmp(text, "postgres:", 9) == 0 && text[9] != '\0'))
        return 0;
    return scep_fail(SCEP_ECONFIG, "expected sqlite:PATH or postgresql://..., got \"%.64s\"", text);
}

static int parse_list(const struct scep_config_setting *s, const char *text,
                      struct scep_config_list *out)
{
    int rc = 0;
    struct scep_config_list list = {0, NULL};
    size_t max_items = (size_t)s->max;
    list.items = calloc(max_items + 1, sizeof(char *));
    ENSURE_ALLOC(list.items);
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t n = (size_t)(end - p);
        ENSURE(n > 0, SCEP_ECONFIG,
               "expected a comma-separated list without empty items, got \"%.64s\"", text);
        ENSURE(list.count < max_items, SCEP_ECONFIG, "expected at most %lld items, got \"%.64s\"",
               s->max, text);
        if (s->allowed != NULL) {
            int index = allowed_index(s->allowed, p, n);
            if (index < 0) {
                char phrase[256];
                allowed_phrase(s->allowed, phrase, sizeof(phrase));
                ENSURE(false, SCEP_ECONFIG, "expected items %s, got \"%.*s\"", phrase,
                       (int)(n > 64 ? 64 : n), p);
            }
            char name[64];
            list.items[list.count] = strdup(allowed_name(s->allowed, index, name, sizeof(name)));
        } else {
            list.items[list.count] = strndup(p, n);
        }
        ENSURE_ALLOC(list.items[list.count]);
        list.count++;
        if (s->check == SCEP_CONFIG_CHECK_LISTEN) {
            struct scep_listen_addr addr;
            GUARD(scep_config_parse_listen(&addr, list.items[list.count - 1]));
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    ENSURE(list.count >= (size_t)s->min, SCEP_ECONFIG,
           "expected at least %lld items, got \"%.64s\"", s->min, text);
    *out = list;
    list.items = NULL;
    list.count = 0;
cleanup:
    list_free(&list);
    return rc;
}

/*
 * Parses `text` for setting `s` and, only when valid, replaces the value in
 * `slot`. The error message says what was expected (no location prefix).
 */
static int value_parse(const struct scep_config_setting *s, const char *text, void *slot)
{
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return scep_fail(SCEP_ECONFIG, "expected printable text, got a control character");
    int rc = 0;
    switch (s->type) {
    case SCEP_CONFIG_TYPE_STRING: {
        size_t n = strlen(text);
        if (s->max > 0 && (n < (size_t)s->min || n > (size_t)s->max))
            return scep_fail(SCEP_ECONFIG, "expected text of %lld to %lld characters, got %zu",
                             s->min, s->max, n);
        if (s->check == SCEP_CONFIG_CHECK_DATABASE && (rc = check_database(text)) < 0)
            return rc;
        char *copy = strdup(text);
        if (copy == NULL)
            return scep_fail(SCEP_ENOMEM, "out of memory");
        value_free(s, slot);
        *(char **)slot = copy;
        return 0;
    }
    case SCEP_CONFIG_TYPE_BOOL:
        return scep_config_parse_bool(slot, text);
    case SCEP_CONFIG_TYPE_INT:
        return scep_config_parse_int(slot, text, s->min, s->max);
    case SCEP_CONFIG_TYPE_SIZE:
        return scep_config_parse_size(slot, text, s->min, s->max);
    case SCEP_CONFIG_TYPE_DURATION:
        return scep_config_parse_duration(slot, text, s->min, s->max);
    case SCEP_CONFIG_TYPE_ENUM: {
        int index = allowed_index(s->allowed, text, strlen(text));
        if (index < 0) {
            char phrase[256];
            allowed_phrase(s->allowed, phrase, sizeof(phrase));
            return scep_fail(SCEP_ECONFIG, "expected %s, got \"%.64s\"", phrase, text);
        }
        *(int *)slot = index;
        return 0;
    }
    case SCEP_CONFIG_TYPE_LIST: {
        struct scep_config_list list;
        if ((rc = parse_list(s, text, &list)) < 0)
            return rc;
        value_free(s, slot);
        *(struct scep_config_list *)slot = list;
        return 0;
    }
    }
    return scep_fail(SCEP_EINVAL, "unknown setting type");
}

/* Restores the table's default. Defaults are checked by the unit tests. */
static int value_reset(const struct scep_config_setting *s, void *slot)
{
    value_free(s, slot);
    if (s->default_value == NULL) {
        if (s->type == SCEP_CONFIG_TYPE_BOOL)
            *(bool *)slot = false;
        else if (s->type != SCEP_CONFIG_TYPE_STRING && s->type != SCEP_CONFIG_TYPE_LIST)
            memset(slot, 0, s->type == SCEP_CONFIG_TYPE_ENUM ? sizeof(int) : sizeof(long long));
        return 0;
    }
    return value_parse(s, s->default_value, slot);
}

/* Appends the value's text form; returns false when unset. */
static bool value_text(struct sbuf *sb, const struct scep_config_setting *s, const void *slot)
{
    char buf[64];
    switch (s->type) {
    case SCEP_CONFIG_TYPE_STRING: {
        const char *str = *(char *const *)slot;
        if (str == NULL)
            return false;
        sb_str(sb, str);
        return true;
    }
    case SCEP_CONFIG_TYPE_BOOL:
        sb_str(sb, *(const bool *)slot ? "true" : "false");
        return true;
    case SCEP_CONFIG_TYPE_INT:
        sb_printf(sb, "%lld", *(const long long *)slot);
        return true;
    case SCEP_CONFIG_TYPE_SIZE:
    case SCEP_CONFIG_TYPE_DURATION:
        scep_config_scaled_text(buf, sizeof(buf), *(const long long *)slot, s->type);
        sb_str(sb, buf);
        return true;
    case SCEP_CONFIG_TYPE_ENUM:
        sb_str(sb, allowed_name(s->allowed, *(const int *)slot, buf, sizeof(buf)));
        return true;
    case SCEP_CONFIG_TYPE_LIST: {
        const struct scep_config_list *list = slot;
        if (list->count == 0)
            return false;
        for (size_t i = 0; i < list->count; i++) {
            if (i > 0)
                sb_str(sb, ", ");
            sb_str(sb, list->items[i]);
        }
        return true;
    }
    }
    return false;
}

static int scope_reset(const struct scep_config_setting *table, size_t count, void *base)
{
    for (size_t i = 0; i < count; i++) {
        int rc = value_reset(&table[i], slot_of(base, &table[i]));
        if (rc < 0)
            return scep_fail(rc, "default of %s is invalid: %s", table[i].name,
                             scep_error_message());
    }
    return 0;
}

static void scope_free(const struct scep_config_setting *table, size_t count, void *base)
{
    for (size_t i = 0; i < count; i++)
        value_free(&table[i], slot_of(base, &table[i]));
}

static void alias_entry_free(struct alias_entry *entry)
{
    if (entry == NULL)
        return;
    scope_free(alias_settings, ALIAS_COUNT, &entry->values);
    free(entry);
}

static bool alias_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > SCEP_CONFIG_ALIAS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int alias_entry_new(struct alias_entry **out, const char *name)
{
    int rc = 0;
    struct alias_entry *entry = calloc(1, sizeof(*entry));
    ENSURE_ALLOC(entry);
    size_t n = strlen(name);
    ENSURE(alias_name_valid(name, n), SCEP_ECONFIG,
           "alias name \"%.64s\" must be 1-%d characters of A-Z a-z 0-9 _ -", name,
           SCEP_CONFIG_ALIAS_NAME_MAX);
    memcpy(entry->name, name, n + 1);
    GUARD(scope_reset(alias_settings, ALIAS_COUNT, &entry->values));
    *out = entry;
    entry = NULL;
cleanup:
    alias_entry_free(entry);
    return rc;
}

static struct alias_entry *alias_find(const scep_config *cfg, const char *name, size_t *out_index)
{
    for (size_t i = 0; i < cfg->alias_count; i++)
        if (strcmp(cfg->aliases[i]->name, name) == 0) {
            if (out_index != NULL)
                *out_index = i;
            return cfg->aliases[i];
        }
    return NULL;
}

/* Appends `entry` (taking it over only on success). */
static int alias_append(scep_config *cfg, struct alias_entry *entry)
{
    if (cfg->alias_count >= SCEP_CONFIG_ALIASES_MAX)
        return scep_fail(SCEP_ETOOBIG, "more than %d aliases", SCEP_CONFIG_ALIASES_MAX);
    if (cfg->alias_count == cfg->alias_cap) {
        size_t cap = cfg->alias_cap ? cfg->alias_cap * 2 : 8;
        struct alias_entry **grown = realloc(cfg->aliases, cap * sizeof(*grown));
        if (grown == NULL)
            return scep_fail(SCEP_ENOMEM, "out of memory");
        cfg->aliases = grown;
        cfg->alias_cap = cap;
    }
    cfg->aliases[cfg->alias_count++] = entry;
    return 0;
}

static int warn(scep_config *cfg, const char *fmt, ...) SCEP_PRINTF(2, 3);
static int warn(scep_config *cfg, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return scep_fail(SCEP_EINVAL, "bad warning format");
    if (cfg->warning_count == cfg->warning_cap) {
        size_t cap = cfg->warning_cap ? cfg->warning_cap * 2 : 4;
        if (cap > 10000)
            return 0; /* enough said */
        char **grown = realloc(cfg->warnings, cap * sizeof(*grown));
        if (grown == NULL)
            return scep_fail(SCEP_ENOMEM, "out of memory");
        cfg->warnings = grown;
        cfg->warning_cap = cap;
    }
    cfg->warnings[cfg->warning_count] = strdup(text);
    if (cfg->warnings[cfg->warning_count] == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    cfg->warning_count++;
    return 0;
}

int scep_config_new(scep_config **out)
{
    int rc = 0;
    scep_config *cfg = calloc(1, sizeof(*cfg));
    ENSURE_ALLOC(cfg);
    GUARD(scope_reset(global_settings, GLOBAL_COUNT, &cfg->global));
    *out = cfg;
    cfg = NULL;
cleanup:
    scep_config_free(cfg);
    return rc;
}

void scep_config_free(scep_config *cfg)
{
    if (cfg == NULL)
        return;
    scope_free(global_settings, GLOBAL_COUNT, &cfg->global);
    for (size_t i = 0; i < cfg->alias_count; i++)
        alias_entry_free(cfg->aliases[i]);
    free(cfg->aliases);
    for (size_t i = 0; i < cfg->warning_count; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

const struct scep_config_global *scep_config_global_values(const scep_config *cfg)
{
    return &cfg->global;
}

size_t scep_config_alias_count(const scep_config *cfg)
{
    return cfg->alias_count;
}

const char *scep_config_alias_name(const scep_config *cfg, size_t index)
{
    return index < cfg->alias_count ? cfg->aliases[index]->name : NULL;
}

const char *scep_config_default_alias(const scep_config *cfg)
{
    const char *named = cfg->global.default_alias;
    if (named != NULL && named[0] != '\0')
        return alias_find(cfg, named, NULL) != NULL ? cfg->global.default_alias : NULL;
    if (cfg->alias_count == 0)
        return SCEP_CONFIG_BUILTIN_ALIAS;
    if (cfg->alias_count == 1)
        return cfg->aliases[0]->name;
    struct alias_entry *builtin = alias_find(cfg, SCEP_CONFIG_BUILTIN_ALIAS, NULL);
    return builtin != NULL ? builtin->name : NULL;
}

const struct scep_config_alias_settings *scep_config_alias(const scep_config *cfg,
                                                           const char *alias)
{
    struct alias_entry *entry = alias_find(cfg, alias, NULL);
    return entry ? &entry->values : NULL;
}

size_t scep_config_warning_count(const scep_config *cfg)
{
    return cfg->warning_count;
}

const char *scep_config_warning(const scep_config *cfg, size_t index)
{
    return index < cfg->warning_count ? cfg->warnings[index] : NULL;
}

int scep_config_alias_add(scep_config *cfg, const char *alias)
{
    if (alias_find(cfg, alias, NULL) != NULL)
        return scep_fail(SCEP_EEXISTS, "alias %.64s already exists", alias);
    struct alias_entry *entry = NULL;
    int rc = alias_entry_new(&entry, alias);
    if (rc < 0)
        return rc;
    if ((rc = alias_append(cfg, entry)) < 0)
        alias_entry_free(entry);
    return rc;
}

int scep_config_alias_remove(scep_config *cfg, const char *alias)
{
    size_t index = 0;
    struct alias_entry *entry = alias_find(cfg, alias, &index);
    if (entry == NULL)
        return scep_fail(SCEP_ENOTFOUND, "no alias %.64s", alias);
    alias_entry_free(entry);
    memmove(&cfg->aliases[index], &cfg->aliases[index + 1],
            (cfg->alias_count - index - 1) * sizeof(cfg->aliases[0]));
    cfg->alias_count--;
    return 0;
}

/* ---- key resolution and assignment ------------------------------------------ */

enum key_kind { KEY_SETTING, KEY_IGNORED, KEY_UNKNOWN };

/* Finds the setting an alias key names, following EJBCA synonyms. */
static enum key_kind resolve_alias_key(const char *key, const struct scep_config_setting **out)
{
    *out = scep_config_setting_find(SCEP_CONFIG_SCOPE_ALIAS, key);
    if (*out != NULL)
        return KEY_SETTING;
    for (size_t i = 0; i < sizeof(ejbca_keys) / sizeof(ejbca_keys[0]); i++) {
        if (strcasecmp(ejbca_keys[i].name, key) != 0)
            continue;
        if (ejbca_keys[i].synonym_of == NULL)
            return KEY_IGNORED;
        *out = scep_config_setting_find(SCEP_CONFIG_SCOPE_ALIAS, ejbca_keys[i].synonym_of);
        return *out ? KEY_SETTING : KEY_UNKNOWN;
    }
    return KEY_UNKNOWN;
}

/* Re-records the current error with a "where: key: " prefix. */
static int prefix_error(int rc, const char *where, int line, const char *key)
{
    char detail[512];
    int n = snprintf(detail, sizeof(detail), "%s", scep_error_message());
    (void)n;
    if (line > 0)
        return scep_fail(rc, "%s:%d: %s: %s", where, line, key, detail);
    return scep_fail(rc, "%s: %s", key, detail);
}

/* Validates and stores one value; an empty value restores the default. */
static int assign(const struct scep_config_setting *s, void *base, int *lines, const char *value,
                  int line)
{
    void *slot = slot_of(base, s);
    int rc = value[0] == '\0' ? value_reset(s, slot) : value_parse(s, value, slot);
    if (rc < 0)
        return rc;
    lines[s - (s->scope == SCEP_CONFIG_SCOPE_GLOBAL ? global_settings : alias_settings)] =
        value[0] == '\0' && line < 0 ? 0 : line;
    return 0;
}

int scep_config_set(scep_config *cfg, const char *alias, const char *key, const char *value)
{
    int rc = 0;
    char label[SCEP_CONFIG_ALIAS_NAME_MAX + 128];
    int n = snprintf(label, sizeof(label), "%s%s%.100s", alias ? alias : "", alias ? "." : "", key);
    (void)n;
    if (alias == NULL) {
        const struct scep_config_setting *s =
            scep_config_setting_find(SCEP_CONFIG_SCOPE_GLOBAL, key);
        if (s == NULL)
            return scep_fail(SCEP_ECONFIG, "%s: unknown setting", label);
        rc = assign(s, &cfg->global, cfg->global_line, value, -1);
    } else {
        struct alias_entry *entry = alias_find(cfg, alias, NULL);
        if (entry == NULL)
            return scep_fail(SCEP_ENOTFOUND, "no alias %.64s", alias);
        const struct scep_config_setting *s = NULL;
        enum key_kind kind = resolve_alias_key(key, &s);
        if (kind == KEY_IGNORED)
            return scep_fail(SCEP_ECONFIG, "%s: EJBCA setting not supported by scepd", label);
        if (kind == KEY_UNKNOWN)
            return scep_fail(SCEP_ECONFIG, "%s: unknown setting", label);
        rc = assign(s, &entry->values, entry->line, value, -1);
    }
    return rc < 0 ? prefix_error(rc, NULL, 0, label) : 0;
}

/* ---- the properties reader ---------------------------------------------------- */

typedef int (*entry_cb)(void *payload, const char *key, const char *value, int line);

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

static void utf8_put(struct sbuf *sb, unsigned cp)
{
    char b[3];
    if (cp < 0x80) {
        b[0] = (char)cp;
        sb_add(sb, b, 1);
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        sb_add(sb, b, 2);
    } else {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        sb_add(sb, b, 3);
    }
}

/*
 * Java .properties escapes: \t \n \r \f, \uXXXX (BMP, no surrogates), and a
 * backslash before any other character stands for that character (\: \= \\ \#).
 */
static int unescape(struct sbuf *sb, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\') {
            sb_add(sb, &p[i], 1);
            continue;
        }
        if (++i == n)
            break;
        char c = p[i];
        if (c == 'u') {
            unsigned cp = 0;
            for (int k = 0; k < 4; k++) {
                char h = ++i < n ? p[i] : '\0';
                int d = (h >= '0' && h <= '9')   ? h - '0'
                        : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                        : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                 : -1;
                if (d < 0)
                    return scep_fail(SCEP_ECONFIG, "malformed \\uXXXX escape");
                cp = cp * 16 + (unsigned)d;
            }
            if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
                return scep_fail(SCEP_ECONFIG, "unsupported \\u%04X escape", cp);
            utf8_put(sb, cp);
            continue;
        }
        char out = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
        sb_add(sb, &out, 1);
    }
    return sb->failed ? scep_fail(SCEP_ENOMEM, "out of memory") : 0;
}

/* Splits one logical line at its first unescaped '=' and reports the entry. */
static int read_entry(const char *name, const char *line, size_t n, int lineno, entry_cb cb,
                      void *payload)
{
    int rc = 0;
    struct sbuf key = {0}, value = {0};
    size_t sep = 0;
    bool escaped = false;
    for (; sep < n; sep++) {
        if (escaped)
            escaped = false;
        else if (line[sep] == '\\')
            escaped = true;
        else if (line[sep] == '=')
            break;
    }
    ENSURE(sep < n, SCEP_ECONFIG, "%s:%d: expected key = value", name, lineno);
    size_t key_end = sep;
    while (key_end > 0 && is_blank(line[key_end - 1]) &&
           !(key_end > 1 && line[key_end - 2] == '\\'))
        key_end--;
    size_t value_start = sep + 1;
    while (value_start < n && is_blank(line[value_start]))
        value_start++;
    size_t value_end = n;
    while (value_end > value_start && is_blank(line[value_end - 1]) &&
           !(value_end - value_start > 1 && line[value_end - 2] == '\\'))
        value_end--;
    ENSURE(key_end > 0, SCEP_ECONFIG, "%s:%d: expected a key before '='", name, lineno);
    if (unescape(&key, line, key_end) < 0 ||
        unescape(&value, line + value_start, value_end - value_start) < 0) {
        rc = prefix_error(scep_error_code(), name, lineno, "value");
        goto cleanup;
    }
    GUARD(cb(payload, key.data, value.data ? value.data : "", lineno));
cleanup:
    free(key.data);
    if (value.data != NULL)
        OPENSSL_cleanse(value.data, value.len); /* may be ra.authPwd */
    free(value.data);
    return rc;
}

/*
 * Reads properties text: `key = value` lines, `#`/`!` comment lines, blank
 * lines, and Java's line continuation (an odd number of trailing backslashes
 * joins the next line, whose leading blanks are dropped).
 */
static int read_properties(const char *name, const char *text, size_t len, entry_cb cb,
                           void *payload)
{
    int rc = 0;
    struct sbuf logical = {0};
    ENSURE(len <= SCEP_CONFIG_FILE_MAX, SCEP_ETOOBIG, "%s: larger than %d bytes", name,
           SCEP_CONFIG_FILE_MAX);
    ENSURE(memchr(text, '\0', len) == NULL, SCEP_ECONFIG, "%s: contains a NUL byte", name);
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        int start_line = ++lineno;
        logical.len = 0;
        bool first = true;
        for (;;) {
            const char *eol = memchr(text + pos, '\n', len - pos);
            size_t end = eol ? (size_t)(eol - text) : len;
            size_t next = eol ? end + 1 : len;
            if (end > pos && text[end - 1] == '\r')
                end--;
            while (pos < end && is_blank(text[pos]))
                pos++;
            if (first && (pos == end || text[pos] == '#' || text[pos] == '!')) {
                pos = next;
                break; /* blank or comment: comments never continue */
            }
            first = false;
            size_t slashes = 0;
            while (slashes < end - pos && text[end - 1 - slashes] == '\\')
                slashes++;
            bool continues = slashes % 2 == 1;
            sb_add(&logical, text + pos, end - pos - (continues ? 1 : 0));
            ENSURE(!logical.failed && logical.len <= SCEP_CONFIG_LINE_MAX, SCEP_ETOOBIG,
                   "%s:%d: line longer than %d bytes", name, start_line, SCEP_CONFIG_LINE_MAX);
            pos = next;
            if (!continues || pos >= len)
                break;
            lineno++;
        }
        if (!first)
            GUARD(read_entry(name, logical.data ? logical.data : "", logical.len, start_line, cb,
                             payload));
    }
cleanup:
    if (logical.data != NULL)
        OPENSSL_cleanse(logical.data, logical.cap);
    free(logical.data);
    return rc;
}

static int read_file(const char *path, char **out, size_t *out_len)
{
    int rc = 0;
    char *data = NULL;
    FILE *f = fopen(path, "rb");
    ENSURE(f != NULL, SCEP_EIO, "%s: cannot open", path);
    data = malloc(SCEP_CONFIG_FILE_MAX + 1);
    ENSURE_ALLOC(data);
    size_t n = fread(data, 1, SCEP_CONFIG_FILE_MAX + 1, f);
    ENSURE(!ferror(f), SCEP_EIO, "%s: read error", path);
    ENSURE(n <= SCEP_CONFIG_FILE_MAX, SCEP_ETOOBIG, "%s: larger than %d bytes", path,
           SCEP_CONFIG_FILE_MAX);
    data[n] = '\0';
    *out = data;
    *out_len = n;
    data = NULL;
cleanup:
    if (f != NULL)
        fclose(f);
    free(data);
    return rc;
}

/* ---- scepd.conf ------------------------------------------------------------- */

struct parse_ctx {
    scep_config *cfg;
    const char *name;
    /* import only: */
    const char *only_alias;                        /* take keys of this alias only */
    struct alias_entry *target;                    /* and store them here */
    char (*found)[SCEP_CONFIG_ALIAS_NAME_MAX + 1]; /* pass 1: aliases seen */
    size_t found_count;
};

/* Stores one value, refusing a key given twice (a typo more often than intent). */
static int store(struct parse_ctx *ctx, const struct scep_config_setting *s, void *base, int *lines,
                 const char *key, const char *value, int line)
{
    size_t index =
        (size_t)(s - (s->scope == SCEP_CONFIG_SCOPE_GLOBAL ? global_settings : alias_settings));
    if (lines[index] > 0)
        return scep_fail(SCEP_ECONFIG, "%s:%d: %s: set twice (first on line %d)", ctx->name, line,
                         key, lines[index]);
    int rc = assign(s, base, lines, value, line);
    return rc < 0 ? prefix_error(rc, ctx->name, line, key) : 0;
}

/* Splits "ALIAS.key"; *out_key points into `key`. */
static int split_alias_key(const struct parse_ctx *ctx, const char *key, int line,
                           char alias[SCEP_CONFIG_ALIAS_NAME_MAX + 1], const char **out_key)
{
    const char *dot = strchr(key, '.');
    size_t n = (size_t)(dot - key);
    if (!alias_name_valid(key, n))
        return scep_fail(SCEP_ECONFIG,
                         "%s:%d: %s: alias name must be 1-%d characters of A-Z a-z 0-9 _ -",
                         ctx->name, line, key, SCEP_CONFIG_ALIAS_NAME_MAX);
    memcpy(alias, key, n);
    alias[n] = '\0';
    *out_key = dot + 1;
    return 0;
}

static int alias_key_entry(struct parse_ctx *ctx, struct alias_entry *entry, const char *key,
                           const char *alias_key, const char *value, int line)
{
    const struct scep_config_setting *s = NULL;
    switch (resolve_alias_key(alias_key, &s)) {
    case KEY_IGNORED:
        return warn(ctx->cfg, "%s:%d: %s: EJBCA setting not supported by scepd, ignored", ctx->name,
                    line, key);
    case KEY_UNKNOWN:
        return scep_fail(SCEP_ECONFIG, "%s:%d: %s: unknown alias setting", ctx->name, line, key);
    case KEY_SETTING:
        break;
    }
    return store(ctx, s, &entry->values, entry->line, key, value, line);
}

static int config_entry(void *payload, const char *key, const char *value, int line)
{
    struct parse_ctx *ctx = payload;
    if (strchr(key, '.') == NULL) {
        const struct scep_config_setting *s =
            scep_config_setting_find(SCEP_CONFIG_SCOPE_GLOBAL, key);
        if (s == NULL)
            return scep_fail(SCEP_ECONFIG, "%s:%d: %s: unknown setting", ctx->name, line, key);
        return store(ctx, s, &ctx->cfg->global, ctx->cfg->global_line, key, value, line);
    }
    char alias[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    const char *alias_key = NULL;
    int rc = split_alias_key(ctx, key, line, alias, &alias_key);
    if (rc < 0)
        return rc;
    struct alias_entry *entry = alias_find(ctx->cfg, alias, NULL);
    if (entry == NULL) {
        if ((rc = alias_entry_new(&entry, alias)) < 0)
            return rc;
        if ((rc = alias_append(ctx->cfg, entry)) < 0) {
            alias_entry_free(entry);
            return rc;
        }
    }
    return alias_key_entry(ctx, entry, key, alias_key, value, line);
}

int scep_config_parse(scep_config **out, const char *name, const char *text, size_t len)
{
    int rc = 0;
    scep_config *cfg = NULL;
    GUARD(scep_config_new(&cfg));
    struct parse_ctx ctx = {.cfg = cfg, .name = name};
    GUARD(read_properties(name, text, len, config_entry, &ctx));
    *out = cfg;
    cfg = NULL;
cleanup:
    scep_config_free(cfg);
    return rc;
}

int scep_config_load(scep_config **out, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc == 0)
        rc = scep_config_parse(out, path, text, len);
    if (text != NULL)
        OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

/* ---- EJBCA alias export ----------------------------------------------------- */

#define IMPORT_ALIASES_MAX 64

static int import_scan_entry(void *payload, const char *key, const char *value, int line)
{
    struct parse_ctx *ctx = payload;
    if (strchr(key, '.') == NULL)
        return 0; /* EJBCA's "aliaslist" and the like */
    char alias[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    const char *alias_key = NULL;
    int rc = split_alias_key(ctx, key, line, alias, &alias_key);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < ctx->found_count; i++)
        if (strcmp(ctx->found[i], alias) == 0)
            return 0;
    if (ctx->found_count == IMPORT_ALIASES_MAX)
        return scep_fail(SCEP_ETOOBIG, "%s: more than %d aliases", ctx->name, IMPORT_ALIASES_MAX);
    memcpy(ctx->found[ctx->found_count++], alias, sizeof(alias));
    return 0;
}

static int import_entry(void *payload, const char *key, const char *value, int line)
{
    struct parse_ctx *ctx = payload;
    if (strchr(key, '.') == NULL)
        return 0;
    char alias[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    const char *alias_key = NULL;
    int rc = split_alias_key(ctx, key, line, alias, &alias_key);
    if (rc < 0 || strcmp(alias, ctx->only_alias) != 0)
        return rc;
    return alias_key_entry(ctx, ctx->target, key, alias_key, value, line);
}

int scep_config_import_alias_text(scep_config *cfg, const char *name, const char *text, size_t len,
                                  const char *alias)
{
    int rc = 0;
    char(*found)[SCEP_CONFIG_ALIAS_NAME_MAX + 1] = calloc(IMPORT_ALIASES_MAX, sizeof(*found));
    scep_config *scratch = NULL;
    struct alias_entry *entry = NULL;
    ENSURE_ALLOC(found);
    GUARD(scep_config_new(&scratch));
    struct parse_ctx ctx = {.cfg = scratch, .name = name, .found = found};
    GUARD(read_properties(name, text, len, import_scan_entry, &ctx));

    const char *source = NULL;
    for (size_t i = 0; alias != NULL && i < ctx.found_count; i++)
        if (strcmp(found[i], alias) == 0)
            source = found[i];
    if (source == NULL) {
        ENSURE(ctx.found_count > 0, SCEP_ECONFIG, "%s: no ALIAS.key entries", name);
        ENSURE(ctx.found_count == 1, SCEP_ECONFIG,
               "%s: holds %zu aliases (%s, %s, ...); name the one to import", name, ctx.found_count,
               found[0], found[1]);
        source = found[0];
    }
    GUARD(alias_entry_new(&entry, alias != NULL ? alias : source));
    ctx.only_alias = source;
    ctx.target = entry;
    GUARD(read_properties(name, text, len, import_entry, &ctx));

    /* Commit: warnings first (can fail), then the swap (cannot). */
    for (size_t i = 0; i < scratch->warning_count; i++)
        GUARD(warn(cfg, "%s", scratch->warnings[i]));
    size_t index = 0;
    struct alias_entry *old = alias_find(cfg, entry->name, &index);
    if (old != NULL) {
        cfg->aliases[index] = entry;
        alias_entry_free(old);
    } else {
        GUARD(alias_append(cfg, entry));
    }
    entry = NULL;
cleanup:
    alias_entry_free(entry);
    scep_config_free(scratch);
    free(found);
    return rc;
}

int scep_config_import_alias_file(scep_config *cfg, const char *path, const char *alias)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc == 0)
        rc = scep_config_import_alias_text(cfg, path, text, len, alias);
    if (text != NULL)
        OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

/* ---- writers ------------------------------------------------------------------ */

#define MASK "********"

int scep_config_foreach(const scep_config *cfg, const char *alias, unsigned flags,
                        scep_config_foreach_cb cb, void *payload)
{
    const struct scep_config_setting *table = global_settings;
    size_t count = GLOBAL_COUNT;
    const void *base = &cfg->global;
    const int *lines = cfg->global_line;
    if (alias != NULL) {
        const struct alias_entry *entry = alias_find(cfg, alias, NULL);
        if (entry == NULL)
            return scep_fail(SCEP_ENOTFOUND, "no alias %.64s", alias);
        table = alias_settings;
        count = ALIAS_COUNT;
        base = &entry->values;
        lines = entry->line;
    }
    for (size_t i = 0; i < count; i++) {
        struct sbuf sb = {0};
        bool has = value_text(&sb, &table[i], cslot_of(base, &table[i]));
        if (sb.failed) {
            free(sb.data);
            return scep_fail(SCEP_ENOMEM, "out of memory");
        }
        const char *text = has ? (sb.data ? sb.data : "") : NULL;
        if (has && (table[i].flags & SCEP_CONFIG_SECRET) && !(flags & SCEP_CONFIG_SHOW_SECRETS))
            text = MASK;
        int rc = cb(&table[i], text, lines[i] != 0, payload);
        if (sb.data != NULL)
            OPENSSL_cleanse(sb.data, sb.len);
        free(sb.data);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Escapes what the reader would otherwise change: backslashes, leading and trailing blanks. */
static void put_escaped(struct sbuf *sb, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\' || ((p == s || p[1] == '\0') && is_blank(*p)))
            sb_add(sb, "\\", 1);
        sb_add(sb, p, 1);
    }
}

static void format_scope(struct sbuf *sb, const char *prefix,
                         const struct scep_config_setting *table, size_t count, const void *base,
                         const int *lines, unsigned flags)
{
    for (size_t i = 0; i < count; i++) {
        if (lines[i] == 0 && !(flags & SCEP_CONFIG_WITH_DEFAULTS))
            continue;
        struct sbuf value = {0};
        bool has = value_text(&value, &table[i], cslot_of(base, &table[i]));
        if (value.failed)
            sb->failed = true;
        sb_printf(sb, "%s%s = ", prefix, table[i].name);
        if (has && (table[i].flags & SCEP_CONFIG_SECRET) && (flags & SCEP_CONFIG_MASK_SECRETS))
            sb_str(sb, MASK);
        else if (has && value.data != NULL)
            put_escaped(sb, value.data);
        sb_str(sb, "\n");
        if (value.data != NULL)
            OPENSSL_cleanse(value.data, value.len);
        free(value.data);
    }
}

int scep_config_format(const scep_config *cfg, unsigned flags, char **out)
{
    struct sbuf sb = {0};
    format_scope(&sb, "", global_settings, GLOBAL_COUNT, &cfg->global, cfg->global_line, flags);
    for (size_t i = 0; i < cfg->alias_count; i++) {
        const struct alias_entry *entry = cfg->aliases[i];
        char prefix[SCEP_CONFIG_ALIAS_NAME_MAX + 2];
        int n = snprintf(prefix, sizeof(prefix), "%s.", entry->name);
        (void)n;
        sb_printf(&sb, "%s# alias %s\n", sb.len > 0 ? "\n" : "", entry->name);
        format_scope(&sb, prefix, alias_settings, ALIAS_COUNT, &entry->values, entry->line, flags);
    }
    return sb_finish(&sb, out);
}

/* ---- Markdown reference ------------------------------------------------------- */

static void md_cell(struct sbuf *sb, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '|')
            sb_add(sb, "\\", 1);
        sb_add(sb, p, 1);
    }
}

static void md_type(struct sbuf *sb, const struct scep_config_setting *s)
{
    char lo[32], hi[32];
    switch (s->type) {
    case SCEP_CONFIG_TYPE_STRING:
        sb_str(sb, s->check == SCEP_CONFIG_CHECK_DATABASE ? "database URL" : "string");
        break;
    case SCEP_CONFIG_TYPE_BOOL:
        sb_str(sb, "boolean");
        break;
    case SCEP_CONFIG_TYPE_INT:
        sb_printf(sb, "integer, %lld to %lld", s->min, s->max);
        break;
    case SCEP_CONFIG_TYPE_SIZE:
    case SCEP_CONFIG_TYPE_DURATION:
        scep_config_scaled_text(lo, sizeof(lo), s->min, s->type);
        scep_config_scaled_text(hi, sizeof(hi), s->max, s->type);
        sb_printf(sb, "%s, %s to %s", s->type == SCEP_CONFIG_TYPE_SIZE ? "size" : "duration", lo,
                  hi);
        break;
    case SCEP_CONFIG_TYPE_ENUM:
    case SCEP_CONFIG_TYPE_LIST:
        if (s->type == SCEP_CONFIG_TYPE_LIST)
            sb_printf(sb, "list of %lld to %lld%s", s->min, s->max,
                      s->check == SCEP_CONFIG_CHECK_LISTEN ? " host:port" : "");
        else
            sb_str(sb, "one of");
        if (s->allowed != NULL) {
            sb_str(sb, s->type == SCEP_CONFIG_TYPE_LIST ? " of " : " ");
            for (const char *p = s->allowed; *p != '\0'; p++) {
                if (p == s->allowed)
                    sb_str(sb, "`");
                if (*p == '|')
                    sb_str(sb, "`, `");
                else
                    sb_add(sb, p, 1);
            }
            sb_str(sb, "`");
        }
        break;
    }
}

static void md_table(struct sbuf *sb, const char *prefix, const struct scep_config_setting *table,
                     size_t count)
{
    sb_str(sb, "| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < count; i++) {
        const struct scep_config_setting *s = &table[i];
        sb_printf(sb, "| `%s%s` | ", prefix, s->name);
        md_type(sb, s);
        if (s->default_value != NULL)
            sb_printf(sb, " | `%s` | ", s->default_value);
        else
            sb_str(sb, " | (unset) | ");
        md_cell(sb, s->description);
        if (s->flags & SCEP_CONFIG_SECRET)
            sb_str(sb, " (secret: masked in `alias show`)");
        sb_str(sb, " |\n");
    }
}

int scep_config_markdown(char **out)
{
    struct sbuf sb = {0};
    sb_str(&sb, "### Global settings\n\n");
    md_table(&sb, "", global_settings, GLOBAL_COUNT);
    sb_str(&sb, "\n### Alias settings\n\n"
                "Written `ALIAS.key`, where ALIAS is 1-64 characters of `A-Z a-z 0-9 _ -`. "
                "Keys match case-insensitively; alias names do not.\n\n");
    md_table(&sb, "ALIAS.", alias_settings, ALIAS_COUNT);
    sb_str(&sb, "\n### Other EJBCA alias keys\n\n"
                "| Key | Treatment |\n| --- | --- |\n");
    for (size_t i = 0; i < sizeof(ejbca_keys) / sizeof(ejbca_keys[0]); i++) {
        if (ejbca_keys[i].synonym_of != NULL)
            sb_printf(&sb, "| `ALIAS.%s` | same as `ALIAS.%s` |\n", ejbca_keys[i].name,
                      ejbca_keys[i].synonym_of);
        else
            sb_printf(&sb, "| `ALIAS.%s` | accepted and ignored, with a warning |\n",
                      ejbca_keys[i].name);
    }
    return sb_finish(&sb, out);
}

/* ---- man page reference (scepd.conf(5)) ------------------------------------------ */

/*
 * Text for troff: Markdown's `code` becomes bold, a backslash \e, a line never starts
 * with a control character, and non-ASCII UTF-8 becomes \[uXXXX].
 */
static void troff_text(struct sbuf *sb, const char *s)
{
    bool bold = false;
    if (s[0] == '.' || s[0] == '\'')
        sb_str(sb, "\\&");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '`') {
            sb_str(sb, bold ? "\\fR" : "\\fB");
            bold = !bold;
        } else if (*p == '\\') {
            sb_str(sb, "\\e");
        } else if (*p == '-') {
            sb_str(sb, "\\-");
        } else if (*p >= 0xC2 && *p < 0xF0 && (p[1] & 0xC0) == 0x80) {
            unsigned cp;
            if (*p < 0xE0) {
                cp = ((unsigned)(*p & 0x1F) << 6) | (p[1] & 0x3F);
                p += 1;
            } else if ((p[2] & 0xC0) == 0x80) {
                cp = ((unsigned)(*p & 0x0F) << 12) | ((unsigned)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
                p += 2;
            } else {
                continue;
            }
            sb_printf(sb, "\\[u%04X]", cp);
        } else if (*p >= 0x80) {
            continue; /* not UTF-8 the table would hold */
        } else {
            sb_add(sb, (const char *)p, 1);
        }
    }
    if (bold)
        sb_str(sb, "\\fR");
}

static void troff_table(struct sbuf *sb, const char *prefix,
                        const struct scep_config_setting *table, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct scep_config_setting *s = &table[i];
        struct sbuf type = {0};
        md_type(&type, s);
        sb_str(sb, ".TP\n.B ");
        troff_text(sb, prefix);
        troff_text(sb, s->name);
        sb_str(sb, "\n");
        troff_text(sb, type.data != NULL ? type.data : "");
        sb->failed = sb->failed || type.failed;
        free(type.data);
        if (s->default_value != NULL) {
            sb_str(sb, "; default \\fB");
            troff_text(sb, s->default_value);
            sb_str(sb, "\\fR");
        } else {
            sb_str(sb, "; unset by default");
        }
        sb_str(sb, ".\n.br\n");
        troff_text(sb, s->description);
        if (s->flags & SCEP_CONFIG_SECRET)
            sb_str(sb, " (secret: masked in \\fBalias show\\fR)");
        sb_str(sb, ".\n");
    }
}

int scep_config_manpage(char **out)
{
    struct sbuf sb = {0};
    sb_str(&sb, ".SS \"Global settings\"\n");
    troff_table(&sb, "", global_settings, GLOBAL_COUNT);
    sb_str(&sb, ".SS \"Alias settings\"\n"
                "Written \\fIALIAS\\fB.\\fIkey\\fR, where \\fIALIAS\\fR is 1\\-64 characters of "
                "\\fBA\\-Z a\\-z 0\\-9 _ \\-\\fR.\n"
                "Keys match case\\-insensitively; alias names do not.\n");
    troff_table(&sb, "ALIAS.", alias_settings, ALIAS_COUNT);
    sb_str(&sb, ".SS \"Other EJBCA alias keys\"\n");
    for (size_t i = 0; i < sizeof(ejbca_keys) / sizeof(ejbca_keys[0]); i++) {
        sb_str(&sb, ".TP\n.B ALIAS.");
        troff_text(&sb, ejbca_keys[i].name);
        if (ejbca_keys[i].synonym_of != NULL) {
            sb_str(&sb, "\nsame as \\fBALIAS.");
            troff_text(&sb, ejbca_keys[i].synonym_of);
            sb_str(&sb, "\\fR\n");
        } else {
            sb_str(&sb, "\naccepted and ignored, with a warning\n");
        }
    }
    return sb_finish(&sb, out);
}

static int secret_set(const struct scep_config_setting *s, const void *values)
{
    if ((s->flags & SCEP_CONFIG_SECRET) == 0 || s->type != SCEP_CONFIG_TYPE_STRING)
        return 0;
    const char *const *str = (const char *const *)((const char *)values + s->offset);
    return *str != NULL && (*str)[0] != '\0';
}

const char *scep_config_secret_setting(const scep_config *cfg)
{
    size_t count = 0;
    const struct scep_config_setting *table =
        scep_config_settings(SCEP_CONFIG_SCOPE_GLOBAL, &count);
    const struct scep_config_global *global = scep_config_global_values(cfg);
    for (size_t i = 0; i < count; i++)
        if (secret_set(&table[i], global))
            return table[i].name;
    table = scep_config_settings(SCEP_CONFIG_SCOPE_ALIAS, &count);
    for (size_t a = 0; a < scep_config_alias_count(cfg); a++) {
        const struct scep_config_alias_settings *values =
            scep_config_alias(cfg, scep_config_alias_name(cfg, a));
        for (size_t i = 0; values != NULL && i < count; i++)
            if (secret_set(&table[i], values))
                return table[i].name;
    }
    return NULL;
}
