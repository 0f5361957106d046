/*
 * scepctl alias: the SCEP aliases of the configuration file
 * (`/scep/ALIAS/pkiclient.exe`). Changes go through the config API, which
 * validates every value against the settings table, and are written back
 * atomically with scep_config_format(); a running scepd picks them up on
 * SIGHUP. A file that configures no alias gets the built-in alias `scep`.
 */
#include "scepctl/scepctl.h"

#include <string.h>

#include <openssl/crypto.h>

#include "ca/profiles.h"

#define DEFAULT_ALIAS SCEP_CONFIG_BUILTIN_ALIAS

/* Whether `alias` is the built-in one: named `scep` while the file configures no alias. */
static bool builtin_alias(const struct scepctl *ctx, const char *alias)
{
    return scep_config_alias_count(ctx->config) == 0 && strcmp(alias, DEFAULT_ALIAS) == 0;
}

/* The alias in ctx->config; the built-in alias is added in memory. */
static int find_alias(struct scepctl *ctx, const char *alias,
                      const struct scep_config_alias_settings **out)
{
    int rc = scepctl_load_config(ctx);
    if (rc != 0)
        return rc;
    if (builtin_alias(ctx, alias) && scep_config_alias_add(ctx->config, alias) < 0)
        return scepctl_fail(ctx, "alias %s", alias);
    *out = scep_config_alias(ctx->config, alias);
    if (*out == NULL)
        return scepctl_error(ctx, "no alias %s (see scepctl alias list)", alias);
    return 0;
}

static bool ra_without_secret(const struct scep_config_alias_settings *settings)
{
    return settings->operationmode == SCEP_ALIAS_MODE_RA &&
           settings->ra_onetimechallenges != SCEP_ALIAS_CHALLENGES_REQUIRE &&
           (settings->ra_authpwd == NULL || settings->ra_authpwd[0] == '\0');
}

/*
 * What scepd would refuse when it reloads: an unknown profile is an error (the
 * file is not written); a CA missing from the store and an RA alias without a
 * shared secret are warnings, since the CA may be added next.
 */
static int check_alias(struct scepctl *ctx, const char *alias)
{
    const struct scep_config_alias_settings *settings = scep_config_alias(ctx->config, alias);
    const char *profiles[] = {settings->certificateprofile, settings->ra_certificateprofile};
    scep_profile unused;
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (profiles[i] != NULL && scep_profile_named(&unused, profiles[i]) < 0)
            return scepctl_error(ctx, "alias %s: unknown certificate profile \"%s\" (known: %s)",
                                 alias, profiles[i], scep_profile_names());
    if (ra_without_secret(settings))
        scepctl_warn(ctx, "alias %s: operationmode = ra but ra.authPwd is empty", alias);

    const char *cas[] = {settings->defaultca, settings->ra_defaultca};
    scep_store *store = NULL;
    for (size_t i = 0; i < sizeof(cas) / sizeof(cas[0]); i++) {
        if (cas[i] == NULL)
            continue;
        if (store == NULL && scep_config_store_open(&store, ctx->config, 0) < 0)
            break; /* the file is still valid; the store may not be reachable from here */
        scep_store_ca *row = NULL;
        if (scep_store_ca_get(&row, store, cas[i]) == SCEP_ENOTFOUND)
            scepctl_warn(ctx,
                         "alias %s: CA \"%s\" is not in the store yet; scepd will refuse "
                         "the alias until it is (scepctl ca init or ca import)",
                         alias, cas[i]);
        scep_store_ca_free(row);
    }
    scep_store_close(store);
    return 0;
}

static int alias_list(struct scepctl *ctx, const struct scepctl_args *args)
{
    int rc = scepctl_load_config(ctx);
    if (rc != 0)
        return rc;
    bool builtin = builtin_alias(ctx, DEFAULT_ALIAS);
    if (builtin && scep_config_alias_add(ctx->config, DEFAULT_ALIAS) < 0)
        return scepctl_fail(ctx, "alias %s", DEFAULT_ALIAS);
    const char *default_alias = scep_config_default_alias(ctx->config);
    fprintf(ctx->out, "ALIAS\tMODE\tCA\tPROFILE\tAPPROVAL\n");
    for (size_t i = 0; i < scep_config_alias_count(ctx->config); i++) {
        const char *name = scep_config_alias_name(ctx->config, i);
        const struct scep_config_alias_settings *s = scep_config_alias(ctx->config, name);
        bool ra = s->operationmode == SCEP_ALIAS_MODE_RA;
        const char *ca = ra ? s->ra_defaultca : s->defaultca;
        fprintf(ctx->out, "%s%s%s\t%s\t%s\t%s\t%s\n", name, builtin ? " (built-in)" : "",
                default_alias != NULL && strcmp(name, default_alias) == 0 ? " (default)" : "",
                ra ? "ra" : "ca", ca ? ca : "(the only CA)",
                ra ? s->ra_certificateprofile : s->certificateprofile,
                s->approval == SCEP_ALIAS_APPROVAL_MANUAL ? "manual" : "auto");
    }
    return 0;
}

static int print_setting(const struct scep_config_setting *setting, const char *value, bool is_set,
                         void *payload)
{
    FILE *out = payload;
    fprintf(out, "  %-40s %s%s\n", setting->name, value ? value : "(unset)",
            is_set ? "" : "  (default)");
    return 0;
}

static int alias_show(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = args->positional[0];
    const struct scep_config_alias_settings *settings = NULL;
    int rc = find_alias(ctx, alias, &settings);
    if (rc != 0)
        return rc;
    fprintf(ctx->out, "Alias %s (URL path /scep/%s/pkiclient.exe)\n", alias, alias);
    /* Secrets come masked: SCEP_CONFIG_SHOW_SECRETS is never passed. */
    if (scep_config_foreach(ctx->config, alias, 0, print_setting, ctx->out) < 0)
        return scepctl_fail(ctx, "alias %s", alias);
    if (ra_without_secret(settings))
        scepctl_warn(ctx,
                     "alias %s: operationmode = ra but ra.authPwd is empty: scepd issues to "
                     "any request (EJBCA semantics)",
                     alias);
    return 0;
}

/* One line from stdin for KEY=-, so a secret need not appear on the command line. */
static int read_value_line(struct scepctl *ctx, char *out, size_t size, const char *key)
{
    if (fgets(out, (int)size, stdin) == NULL)
        return scepctl_error(ctx, "%s=-: nothing on standard input", key);
    size_t len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    return 0;
}

static int alias_set(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = args->positional[0];
    char key[128];
    char secret[SCEPCTL_PASSWORD_MAX + 2] = "";
    int rc = scepctl_load_config(ctx);
    if (rc != 0)
        return rc;
    bool created = scep_config_alias(ctx->config, alias) == NULL;
    if (created && scep_config_alias_add(ctx->config, alias) < 0)
        return scepctl_fail(ctx, "alias %s", alias);
    for (size_t i = 1; i < args->positional_count; i++) {
        const char *pair = args->positional[i];
        const char *equals = strchr(pair, '=');
        if (equals == NULL || equals == pair)
            return scepctl_usage(ctx, "alias set: expected KEY=VALUE, got \"%s\"", pair);
        size_t key_len = (size_t)(equals - pair);
        if (key_len >= sizeof(key))
            return scepctl_usage(ctx, "alias set: key too long in \"%.40s...\"", pair);
        memcpy(key, pair, key_len);
        key[key_len] = '\0';
        const char *value = equals + 1;
        const struct scep_config_setting *setting =
            scep_config_setting_find(SCEP_CONFIG_SCOPE_ALIAS, key);
        if (setting != NULL && (setting->flags & SCEP_CONFIG_SECRET) && strcmp(value, "-") == 0) {
            if ((rc = read_value_line(ctx, secret, sizeof(secret), key)) != 0)
                goto cleanup;
            value = secret;
        }
        rc = scep_config_set(ctx->config, alias, key, value);
        OPENSSL_cleanse(secret, sizeof(secret));
        if (rc < 0) {
            /* Nothing is written: the file keeps its previous content. */
            rc = scepctl_fail(ctx, "alias %s", alias);
            goto cleanup;
        }
    }
    rc = check_alias(ctx, alias);
    if (rc == 0)
        rc = scepctl_save_config(ctx);
    if (rc != 0)
        goto cleanup;
    scepctl_audit(ctx, created ? "alias_add" : "alias_set", alias, NULL);
    fprintf(ctx->out, "Alias %s %s in %s\n", alias, created ? "added" : "updated",
            ctx->resolved_config);
    scepctl_reload_hint(ctx);

cleanup:
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

static int alias_remove(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = args->positional[0];
    int rc = scepctl_load_config(ctx);
    if (rc != 0)
        return rc;
    if (scep_config_alias(ctx->config, alias) == NULL) {
        if (builtin_alias(ctx, alias))
            return scepctl_error(ctx,
                                 "alias %s is built in: scepd serves it while the file "
                                 "configures no alias",
                                 alias);
        return scepctl_error(ctx, "no alias %s (see scepctl alias list)", alias);
    }
    if (scep_config_alias_remove(ctx->config, alias) < 0)
        return scepctl_fail(ctx, "alias %s", alias);
    if ((rc = scepctl_save_config(ctx)) != 0)
        return rc;
    scepctl_audit(ctx, "alias_remove", alias, NULL);
    fprintf(ctx->out, "Alias %s removed from %s\n", alias, ctx->resolved_config);
    if (scep_config_alias_count(ctx->config) == 0)
        fprintf(ctx->out, "No alias is configured: scepd serves the built-in alias %s.\n",
                DEFAULT_ALIAS);
    scepctl_reload_hint(ctx);
    return 0;
}

static int alias_upload(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = scepctl_arg(args, "alias");
    const char *file = scepctl_arg(args, "file");
    int rc = scepctl_load_config(ctx);
    if (rc != 0)
        return rc;
    size_t warnings_before = scep_config_warning_count(ctx->config);
    bool existed = scep_config_alias(ctx->config, alias) != NULL;
    if (scep_config_import_alias_file(ctx->config, file, alias) < 0)
        return scepctl_fail(ctx, "cannot import %s", file);
    for (size_t i = warnings_before; i < scep_config_warning_count(ctx->config); i++)
        scepctl_warn(ctx, "%s", scep_config_warning(ctx->config, i));
    if ((rc = check_alias(ctx, alias)) != 0 || (rc = scepctl_save_config(ctx)) != 0)
        return rc;
    scepctl_audit(ctx, "alias_upload", alias, NULL);
    fprintf(ctx->out, "Alias %s %s from %s into %s\n", alias, existed ? "replaced" : "added", file,
            ctx->resolved_config);
    scepctl_reload_hint(ctx);
    return 0;
}

static const struct scepctl_option upload_options[] = {
    {"alias", "ALIAS", true, "the alias to create or replace"},
    {"file", "FILE", true, "EJBCA SCEP alias export (.properties)"},
};

static const struct scepctl_command commands[] = {
    {"list", "list", "List aliases: mode, CA, certificate profile, approval.", NULL, NULL, 0, 0, 0,
     alias_list},
    {"show", "show ALIAS",
     "Print every setting of an alias with its effective value (secrets masked).", NULL, NULL, 0, 1,
     1, alias_show},
    {"set", "set ALIAS KEY=VALUE [KEY=VALUE...]",
     "Set alias keys (EJBCA names, e.g. operationmode=ra ra.authPwd=-); adds the alias if new.",
     "An empty VALUE restores the default. For a secret key, VALUE - reads the value\n"
     "from standard input so that it stays out of the process list. Every value is\n"
     "validated first; on any error the file is left as it was. The file is rewritten\n"
     "atomically with its mode and owner kept; comments in it are not preserved.",
     NULL, 0, 2, SCEPCTL_MAX_POSITIONAL, alias_set},
    {"remove", "remove ALIAS", "Remove an alias and all its keys from the configuration file.",
     NULL, NULL, 0, 1, 1, alias_remove},
    {"upload", "upload --alias ALIAS --file PROPERTIES",
     "Create or replace an alias from an EJBCA SCEP alias export.",
     "Keys of ALIAS are taken when the file has that alias; otherwise the file must hold\n"
     "exactly one alias. EJBCA keys scepd does not implement are reported and skipped.",
     upload_options, sizeof(upload_options) / sizeof(upload_options[0]), 0, 0, alias_upload},
};

const struct scepctl_group scepctl_group_alias = {
    "alias", "SCEP aliases in the configuration file: list, show, set, remove, upload.", commands,
    sizeof(commands) / sizeof(commands[0]), false};
