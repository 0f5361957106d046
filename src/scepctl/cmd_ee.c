/*
 * scepctl ee: end entities, the enrollment codes of CA mode. scepd takes the
 * username from the CSR subject (CN, or the alias's usernamefield) and the
 * password from its challengePassword, and issues once while the status is
 * NEW; `ee reset` allows one more enrollment. The certificate carries the
 * registered DN and SANs (docs/security.md), and the end entity enrolls only
 * through its alias.
 */
#include "scepctl/scepctl.h"

#include <string.h>

#include <openssl/crypto.h>

#include "ca/profiles.h"
#include "scep/ca.h"

static const char *status_name(scep_store_ee_status status)
{
    return scep_ee_status_name(status);
}

/* The alias --alias names, or the default one; a usage error when there is none. */
static int resolve_alias(struct scepctl *ctx, const char **alias)
{
    if (scep_ee_resolve_alias(alias, ctx->config) < 0)
        return scepctl_usage(ctx, "--alias: %s (see scepctl alias list)", scep_error_message());
    return 0;
}

/* --san in the one canonical spelling scepd and `ee show` read back; NULL for none. */
static int canonical_sans(struct scepctl *ctx, char **out, const char *san)
{
    if (scep_ee_canonical_sans(out, san) < 0)
        return scepctl_fail(ctx, "--san");
    return 0;
}

/* A library error of ee add, reset or remove as scepctl reports it. */
static int ee_failure(struct scepctl *ctx, int rc, const char *what, const char *username)
{
    if (rc == SCEP_EINVAL || rc == SCEP_ENOTFOUND || rc == SCEP_EEXISTS)
        return scepctl_error(ctx, "%s", scep_error_message());
    return scepctl_fail(ctx, "cannot %s end entity %s", what, username);
}

/* The change is the library's (scep_ee_*), the call scepd's admin API makes too. */
static int ee_add(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    char password[SCEPCTL_PASSWORD_MAX + 1] = "";
    char actor[96];
    scep_ee_outcome outcome;
    scep_ee_registration registration = {.username = username,
                                         .dn = scepctl_arg(args, "dn"),
                                         .profile = scepctl_arg(args, "profile"),
                                         .ca_name = scepctl_arg(args, "ca"),
                                         .alias = scepctl_arg(args, "alias"),
                                         .san = scepctl_arg(args, "san")};
    int rc = scepctl_password(ctx, password, args);
    if (rc != 0 || (rc = scepctl_open_store(ctx)) != 0)
        goto cleanup;
    scepctl_actor(actor, sizeof(actor));
    rc = scep_ee_register(&outcome, ctx->store, ctx->config, &registration, password, actor);
    /* Options that name nothing usable are usage errors; a malformed DN or SAN is not. */
    if (rc < 0 && outcome.field != NULL && strcmp(outcome.field, "dn") != 0 &&
        strcmp(outcome.field, "san") != 0 && !(rc == SCEP_ENOTFOUND && registration.ca_name)) {
        rc = scepctl_usage(ctx, "--%s: %s%s", outcome.field, scep_error_message(),
                           strcmp(outcome.field, "ca") == 0 ? " (pass --ca NAME)" : "");
        goto cleanup;
    }
    if (rc < 0) {
        rc = ee_failure(ctx, rc, "add", username);
        goto cleanup;
    }
    if (outcome.audit_failed)
        scepctl_warn(ctx, "the audit event was not recorded: %s", scep_error_message());
    fprintf(ctx->out, "End entity %s added (CA %s, alias %s, status NEW)\n", username,
            outcome.ca_name, outcome.alias);
    /* The one place a password is printed: the operator asked for a generated one. */
    if (scepctl_arg(args, "generate-password") != NULL)
        fprintf(ctx->out, "Password: %s\n", password);
cleanup:
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

static int ee_list(struct scepctl *ctx, const struct scepctl_args *args)
{
    scep_store_end_entity *rows = NULL;
    size_t count = 0;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if (scep_store_ee_list(&rows, &count, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot list the end entities");
    if (count == 0)
        fprintf(ctx->err, "no end entities\n");
    else
        fprintf(ctx->out, "USERNAME\tSTATUS\tCA\tPROFILE\tDN\tALIAS\n");
    for (size_t i = 0; i < count; i++)
        fprintf(ctx->out, "%s\t%s\t%s\t%s\t%s\t%s\n", rows[i].username, status_name(rows[i].status),
                rows[i].ca_name ? rows[i].ca_name : "-", rows[i].profile ? rows[i].profile : "-",
                rows[i].subject_dn ? rows[i].subject_dn : "-",
                rows[i].alias ? rows[i].alias : "(default)");
    scep_store_ee_list_free(rows, count);
    return 0;
}

static int ee_show(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    scep_store_end_entity *ee = NULL;
    char created[32], updated[32];
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    rc = scep_store_ee_get(&ee, ctx->store, username);
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no end entity %s (see scepctl ee list)", username);
    if (rc < 0)
        return scepctl_fail(ctx, "end entity %s", username);
    scepctl_format_time(created, ee->created_at);
    scepctl_format_time(updated, ee->updated_at);
    fprintf(ctx->out,
            "Username:     %s\n"
            "Status:       %s\n"
            "DN:           %s\n"
            "CA:           %s\n"
            "Profile:      %s\n"
            "Alias:        %s\n"
            "Created by:   %s%s\n"
            "Created:      %s\n"
            "Updated:      %s\n",
            ee->username, status_name(ee->status), ee->subject_dn ? ee->subject_dn : "-",
            ee->ca_name ? ee->ca_name : "-",
            ee->profile ? ee->profile : "(the alias's certificateprofile)",
            ee->alias ? ee->alias : "(the default alias)",
            ee->ra_alias ? "RA mode of alias " : "scepctl", ee->ra_alias ? ee->ra_alias : "",
            created, updated);
    long long max_failed = scep_config_global_values(ctx->config)->max_failed_codes;
    fprintf(ctx->out, "Wrong codes:  %lld%s\n", (long long)ee->failed_codes,
            max_failed > 0 && ee->failed_codes >= max_failed
                ? " (locked: max_failed_codes reached; ee reset unlocks)"
                : "");
    /* One line per registered name: the names the certificate will carry. */
    const char *sans = ee->sans != NULL && ee->sans[0] != '\0' ? ee->sans : NULL;
    fprintf(ctx->out, "SANs:        %s", sans ? "" : " -\n");
    for (const char *p = sans; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        fprintf(ctx->out, " %.*s%s", (int)len, p, end != NULL ? "" : "\n");
        p = end != NULL ? end + 1 : p + len;
    }
    scep_store_ee_free(ee);
    return 0;
}

static int ee_set(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    scep_store_end_entity *ee = NULL;
    char *sans = NULL;
    X509_NAME *parsed = NULL;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    rc = scep_store_ee_get(&ee, ctx->store, username);
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no end entity %s (see scepctl ee list)", username);
    if (rc < 0)
        return scepctl_fail(ctx, "end entity %s", username);
    scep_store_end_entity changed = *ee;
    const char *dn = scepctl_arg(args, "dn");
    const char *profile = scepctl_arg(args, "profile");
    const char *alias = scepctl_arg(args, "alias");
    const char *san = scepctl_arg(args, "san");
    if (dn != NULL) {
        if (scep_dn_parse(&parsed, dn) < 0) {
            rc = scepctl_fail(ctx, "--dn");
            goto cleanup;
        }
        changed.subject_dn = dn;
    }
    if (profile != NULL) {
        scep_profile unused;
        if (profile[0] != '\0' && scep_profile_named(&unused, profile) < 0) {
            rc = scepctl_usage(ctx, "--profile %s: unknown profile (known: %s)", profile,
                               scep_profile_names());
            goto cleanup;
        }
        changed.profile = profile[0] != '\0' ? profile : NULL;
    }
    if (alias != NULL) {
        if ((rc = resolve_alias(ctx, &alias)) != 0)
            goto cleanup;
        changed.alias = alias;
    }
    if (san != NULL) {
        if ((rc = canonical_sans(ctx, &sans, san)) != 0)
            goto cleanup;
        changed.sans = sans;
    }
    rc = scep_store_ee_update(ctx->store, &changed);
    if (rc < 0) {
        rc = rc == SCEP_EDENIED ? scepctl_error(ctx, "%s", scep_error_message())
                                : scepctl_fail(ctx, "cannot change end entity %s", username);
        goto cleanup;
    }
    scepctl_audit(ctx, "ee_set", NULL, username);
    fprintf(ctx->out, "End entity %s changed\n", username);
    rc = 0;
cleanup:
    X509_NAME_free(parsed);
    OPENSSL_free(sans);
    scep_store_ee_free(ee);
    return rc;
}

static int ee_reset(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    char password[SCEPCTL_PASSWORD_MAX + 1] = "";
    char actor[96];
    scep_ee_outcome outcome;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if ((rc = scepctl_password(ctx, password, args)) != 0)
        goto cleanup;
    scepctl_actor(actor, sizeof(actor));
    if ((rc = scep_ee_reset_audited(&outcome, ctx->store, username, password, actor)) < 0) {
        rc = ee_failure(ctx, rc, "reset", username);
        goto cleanup;
    }
    if (outcome.audit_failed)
        scepctl_warn(ctx, "the audit event was not recorded: %s", scep_error_message());
    fprintf(ctx->out, "End entity %s reset (status NEW, new password)\n", username);
    if (scepctl_arg(args, "generate-password") != NULL)
        fprintf(ctx->out, "Password: %s\n", password);
cleanup:
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

static int ee_remove(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    char actor[96];
    scep_ee_outcome outcome;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    scepctl_actor(actor, sizeof(actor));
    if ((rc = scep_ee_remove_audited(&outcome, ctx->store, username, actor)) < 0)
        return ee_failure(ctx, rc, "remove", username);
    if (outcome.audit_failed)
        scepctl_warn(ctx, "the audit event was not recorded: %s", scep_error_message());
    fprintf(ctx->out, "End entity %s removed\n", username);
    return 0;
}

static const struct scepctl_option add_options[] = {
    {"username", "U", true, "username: what scepd finds in the CSR's CN (or usernamefield)"},
    {"password", "P", false, "enrollment password (the CSR's challengePassword); - reads stdin"},
    {"generate-password", NULL, false, "generate a random password and print it"},
    {"dn", "DN", true,
     "the registered subject: DN in RFC 4514 order, most specific first: "
     "\"CN=dev1,O=Example,C=DE\" (or OpenSSL's \"/C=DE/O=Example/CN=dev1\")"},
    {"san", "LIST", false,
     "registered subjectAltNames: dns:NAME,ip:ADDR,email:ADDR,uri:URI,upn:NAME"},
    {"alias", "ALIAS", false, "the alias it enrolls through (default: default_alias)"},
    {"ca", "NAME", false, "issuing CA (default: the only CA)"},
    {"profile", "NAME", false, "certificate profile: ENDUSER, DEVICE, SERVER, IPSEC, REGISTERED"},
};
static const struct scepctl_option set_options[] = {
    {"username", "U", true, "the end entity"},
    {"dn", "DN", false, "new registered subject (RFC 4514, most specific first)"},
    {"san", "LIST", false, "new registered subjectAltNames (\"\" for none)"},
    {"alias", "ALIAS", false, "the alias it enrolls through from now on"},
    {"profile", "NAME", false, "certificate profile (\"\" for the alias's)"},
};
static const struct scepctl_option reset_options[] = {
    {"username", "U", true, "the end entity"},
    {"password", "P", false, "new password; - reads it from stdin"},
    {"generate-password", NULL, false, "generate a random password and print it"},
};
static const struct scepctl_option username_option[] = {
    {"username", "U", true, "the end entity"},
};

static const struct scepctl_command commands[] = {
    {"add",
     "add --username U (--password P|-|--generate-password) --dn DN [--san LIST]\n"
     "       [--alias ALIAS] [--ca NAME] [--profile NAME]",
     "Register an end entity that may enroll once (status NEW).",
     "The certificate carries the registered --dn and --san, whatever the CSR asks\n"
     "(ALIAS.names.csr = refuse refuses a CSR asking for more); the end entity enrolls\n"
     "only through --alias. DNs are RFC 4514 text, most specific RDN first\n"
     "(\"CN=dev1,O=Example,C=DE\"), or OpenSSL's \"/C=DE/O=Example/CN=dev1\".\n"
     "--password on the command line is visible to other local users (ps); prefer\n"
     "--password - (read from stdin, no echo on a terminal) or --generate-password.\n"
     "The password is stored only as a salted PBKDF2 hash.",
     add_options, sizeof(add_options) / sizeof(add_options[0]), 0, 0, ee_add},
    {"list", "list", "List end entities: username, status, CA, profile and DN.", NULL, NULL, 0, 0,
     0, ee_list},
    {"show", "show --username U", "Show one end entity (never its password).", NULL,
     username_option, 1, 0, 0, ee_show},
    {"set", "set --username U [--dn DN] [--san LIST] [--alias ALIAS] [--profile NAME]",
     "Change what an end entity's certificates carry and where it enrolls.",
     "Status, CA and enrollment code stay. End entities RA mode created take their names\n"
     "from their requests and cannot be changed.",
     set_options, sizeof(set_options) / sizeof(set_options[0]), 0, 0, ee_set},
    {"reset", "reset --username U (--password P|-|--generate-password)",
     "Set the status back to NEW with a new password, to allow one more enrollment.", NULL,
     reset_options, sizeof(reset_options) / sizeof(reset_options[0]), 0, 0, ee_reset},
    {"remove", "remove --username U", "Delete an end entity.", NULL, username_option, 1, 0, 0,
     ee_remove},
};

const struct scepctl_group scepctl_group_ee = {
    "ee", "End entities (CA-mode enrollment codes): add, list, show, set, reset, remove.", commands,
    sizeof(commands) / sizeof(commands[0]), false};
