#include "scepd/log.h"

#include <openssl/crypto.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/*
 * jansson copies the challenge password into its objects and its output, and
 * frees them without wiping: every block it allocates carries its size in front
 * so that it can be wiped. jansson's allocator is process-wide and must not change
 * under live objects, hence set once, before scepd's first jansson call (every
 * jansson caller in scepd goes through scepd_jansson_init).
 */
#define WIPED_HEADER _Alignof(max_align_t)
_Static_assert(WIPED_HEADER >= sizeof(size_t), "the size must fit in front of the block");

static void *wiped_malloc(size_t size)
{
    if (size > SIZE_MAX - WIPED_HEADER)
        return NULL;
    unsigned char *block = malloc(size + WIPED_HEADER);
    if (block == NULL)
        return NULL;
    memcpy(block, &size, sizeof(size));
    return block + WIPED_HEADER;
}

static void wiped_free(void *ptr)
{
    if (ptr == NULL)
        return;
    unsigned char *block = (unsigned char *)ptr - WIPED_HEADER;
    size_t size;
    memcpy(&size, block, sizeof(size));
    OPENSSL_cleanse(ptr, size);
    free(block);
}

static pthread_once_t jansson_once = PTHREAD_ONCE_INIT;

static void init_jansson(void)
{
    json_set_alloc_funcs(wiped_malloc, wiped_free);
}

void scepd_jansson_init(void)
{
    pthread_once(&jansson_once, init_jansson);
}

static atomic_int log_level = SCEPD_LOG_INFO;
static atomic_int log_format = SCEPD_LOG_TEXT;
static atomic_int log_target = SCEPD_LOG_STDERR;
static atomic_int syslog_open;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void scepd_log_set_level(enum scepd_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void scepd_log_set_output(enum scepd_log_format format, enum scepd_log_target target)
{
    if (target == SCEPD_LOG_SYSLOG && !atomic_exchange(&syslog_open, 1))
        openlog("scepd", LOG_PID, LOG_DAEMON);
    atomic_store(&log_format, (int)format);
    atomic_store(&log_target, (int)target);
}

int scepd_log_level_from_name(enum scepd_log_level *out, const char *name)
{
    for (int i = 0; i <= SCEPD_LOG_DEBUG; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum scepd_log_level)i;
            return 0;
        }
    }
    return -1;
}

int scepd_log_enabled(enum scepd_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

void scepd_log_escape(char *out, size_t out_size, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    if (out_size == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        char piece[4];
        size_t len = 1;
        if (*p < 0x20 || *p == 0x7f) {
            piece[0] = '\\';
            piece[1] = 'x';
            piece[2] = hex[*p >> 4];
            piece[3] = hex[*p & 0xf];
            len = 4;
        } else if (*p == '"' || *p == '\\') {
            piece[0] = '\\';
            piece[1] = (char)*p;
            len = 2;
        } else {
            piece[0] = (char)*p;
        }
        if (used + len >= out_size)
            break;
        memcpy(out + used, piece, len);
        used += len;
    }
    out[used] = '\0';
}

void scepd_log_value(char *out, size_t out_size, const char *text)
{
    if (out_size == 0)
        return;
    if (text == NULL || text[0] == '\0') {
        snprintf(out, out_size, "-");
        return;
    }
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0' && plain; p++)
        plain = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    if (plain) {
        snprintf(out, out_size, "%s", text);
        return;
    }
    if (out_size < 3) {
        out[0] = '\0';
        return;
    }
    out[0] = '"';
    scepd_log_escape(out + 1, out_size - 2, text);
    size_t len = strlen(out);
    out[len] = '"';
    out[len + 1] = '\0';
}

/* A growing byte string for one decoded value. */
struct bytes {
    char *data;
    size_t len, cap;
};

static int bytes_put(struct bytes *b, char c)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 128;
        char *data = realloc(b->data, cap);
        if (data == NULL)
            return -1;
        b->data = data;
        b->cap = cap;
    }
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Length of the "key=" at p (key chars then '='), or 0. */
static size_t key_length(const char *p)
{
    size_t n = 0;
    while (is_key_char(p[n]))
        n++;
    return n > 0 && p[n] == '=' ? n : 0;
}

/*
 * Decodes the quoted value at p (after its opening quote) into out; returns the end.
 * The closing quote is the one followed by the end of the line or by blanks and the
 * next key=: a quote inside a value that was not escaped stays text.
 */
static const char *quoted_value(const char *p, struct bytes *out)
{
    while (*p != '\0') {
        if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\')) {
            if (bytes_put(out, p[1]) < 0)
                return NULL;
            p += 2;
            continue;
        }
        if (p[0] == '\\' && p[1] == 'x' && OPENSSL_hexchar2int((unsigned char)p[2]) >= 0 &&
            OPENSSL_hexchar2int((unsigned char)p[3]) >= 0) {
            if (bytes_put(out, (char)(OPENSSL_hexchar2int((unsigned char)p[2]) * 16 +
                                      OPENSSL_hexchar2int((unsigned char)p[3]))) < 0)
                return NULL;
            p += 4;
            continue;
        }
        if (p[0] == '"') {
            const char *next = p + 1;
            while (*next == ' ')
                next++;
            if (*next == '\0' || (next > p + 1 && key_length(next) > 0))
                return p + 1;
        }
        if (bytes_put(out, *p) < 0)
            return NULL;
        p++;
    }
    return p;
}

/* A JSON string of `text`; bytes that are no UTF-8 become '?' (jansson takes UTF-8 only). */
static json_t *string_value(char *text, size_t len)
{
    json_t *value = json_stringn(text, len);
    if (value != NULL)
        return value;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] >= 0x80 || text[i] == '\0')
            text[i] = '?';
    return json_stringn(text, len);
}

/* Sets key (or key_2, key_3... when taken) to the value; takes the value's reference. */
static int add_pair(json_t *object, const char *key, size_t key_len, json_t *value)
{
    char name[80];
    if (value == NULL)
        return -1;
    if (key_len > 64)
        key_len = 64;
    snprintf(name, sizeof(name), "%.*s", (int)key_len, key);
    for (int n = 2; json_object_get(object, name) != NULL && n < 100; n++)
        snprintf(name, sizeof(name), "%.*s_%d", (int)key_len, key, n);
    return json_object_set_new(object, name, value);
}

char *scepd_log_json(const char *time, const char *level, const char *message)
{
    char *line = NULL;
    struct bytes value = {0};
    struct bytes words = {0};
    scepd_jansson_init();
    json_t *object = json_object();
    if (object == NULL || add_pair(object, "time", 4, json_string(time)) < 0 ||
        add_pair(object, "level", 5, json_string(level)) < 0)
        goto done;
    const char *p = message;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        size_t key_len = key_length(p);
        if (key_len == 0) {
            /* A word outside any pair: kept, in order, in "message". */
            if (words.len > 0 && bytes_put(&words, ' ') < 0)
                goto done;
            for (; *p != '\0' && *p != ' '; p++)
                if (bytes_put(&words, *p) < 0)
                    goto done;
            continue;
        }
        const char *key = p;
        p += key_len + 1;
        value.len = 0;
        if (bytes_put(&value, '\0') < 0)
            goto done;
        value.len = 0;
        if (*p == '"') {
            if ((p = quoted_value(p + 1, &value)) == NULL)
                goto done;
        } else {
            for (; *p != '\0' && *p != ' '; p++)
                if (bytes_put(&value, *p) < 0)
                    goto done;
        }
        if (add_pair(object, key, key_len, string_value(value.data, value.len)) < 0)
            goto done;
    }
    if (words.len > 0 && add_pair(object, "message", 7, string_value(words.data, words.len)) < 0)
        goto done;
    /* Into malloc's memory, not jansson's (json_dumps): the caller frees it with free(). */
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
    size_t len = json_dumpb(object, NULL, 0, flags);
    line = len > 0 ? malloc(len + 1) : NULL;
    if (line != NULL) {
        if (json_dumpb(object, line, len, flags) == len) {
            line[len] = '\0';
        } else {
            free(line);
            line = NULL;
        }
    }

done:
    json_decref(object);
    free(value.data);
    free(words.data);
    return line;
}

static int syslog_priority(enum scepd_log_level level)
{
    static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    return priorities[level];
}

void scepd_log(enum scepd_log_level level, const char *fmt, ...)
{
    if (!scepd_log_enabled(level))
        return;
    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t used = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(line + used, sizeof(line) - used, ".%03ldZ", now.tv_nsec / 1000000);
    if (n > 0)
        used += (size_t)n;
    size_t time_len = used;
    n = snprintf(line + used, sizeof(line) - used, " %s ", level_names[level]);
    if (n > 0)
        used += (size_t)n;
    size_t message_at = used;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    va_end(ap);
    if (n > 0)
        used += (size_t)n;
    if (used >= sizeof(line) - 1)
        used = sizeof(line) - 2;
    /* A last guard for values not passed through scepd_log_escape: one event, one line. */
    for (size_t i = 0; i < used; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[used] = '\0';

    int target = atomic_load(&log_target);
    char *json = NULL;
    const char *text = line;
    if (atomic_load(&log_format) == SCEPD_LOG_JSON) {
        line[time_len] = '\0';
        json = scepd_log_json(line, level_names[level], line + message_at);
        if (json == NULL) {
            line[time_len] = ' ';
            json = scepd_log_json("-", level_names[level], "event=log_failed");
        }
        text = json;
    } else if (target == SCEPD_LOG_SYSLOG) {
        text = line + message_at; /* syslog stamps time and priority itself */
    }
    if (text == NULL)
        return;
    if (target == SCEPD_LOG_SYSLOG) {
        syslog(syslog_priority(level), "%s", text);
    } else {
        /* journal: "<N>" in front, which journald reads as the line's priority. */
        char prefix[8] = "";
        if (target == SCEPD_LOG_JOURNAL)
            snprintf(prefix, sizeof(prefix), "<%d>", syslog_priority(level));
        size_t prefix_len = strlen(prefix);
        size_t text_len = strlen(text);
        char *out = malloc(prefix_len + text_len + 1);
        if (out != NULL) {
            memcpy(out, prefix, prefix_len);
            memcpy(out + prefix_len, text, text_len);
            out[prefix_len + text_len] = '\n';
            ssize_t written = write(STDERR_FILENO, out, prefix_len + text_len + 1);
            (void)written;
            free(out);
        }
    }
    free(json);
}
