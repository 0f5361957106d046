/*
 * scepctl ee: end entities, the enrollment codes of CA mode. scepd takes the
 * username from the CSR subject (CN, or the alias's usernamefield) and the
 * password from its challengePassword, and issues once while the status is
 * NEW; `ee reset` allows one more enrollment.
 */
#include "scepctl/scepctl.h"

#include <string.h>

#include <openssl/crypto.h>

#include "ca/profiles.h"
#include "scep/ca.h"

#define USERNAME_MAX 256

static const char *status_name(scep_store_ee_status status)
{
    switch (status) {
    case SCEP_EE_NEW:
        return "NEW";
    case SCEP_EE_GENERATED:
        return "GENERATED";
    case SCEP_EE_REVOKED:
        return "REVOKED";
    case SCEP_EE_DISABLED:
        return "DISABLED";
    }
    return "?";
}

static int check_username(struct scepctl *ctx, const char *username)
{
    size_t len = strlen(username);
    if (len == 0 || len > USERNAME_MAX)
        return scepctl_usage(ctx, "--username: expected 1 to %d characters", USERNAME_MAX);
    for (const char *p = username; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return scepctl_usage(ctx, "--username: control characters are not allowed");
    return 0;
}

/* The CA named by --ca, or the only CA of the store. `out` holds the name (caller frees). */
static int choose_ca(struct scepctl *ctx, char **out, const char *requested)
{
    scep_store_ca *rows = NULL;
    size_t count = 0;
    int rc = SCEPCTL_EXIT_ERROR;
    if (requested != NULL) {
        scep_store_ca *row = NULL;
        rc = scep_store_ca_get(&row, ctx->store, requested);
        if (rc == SCEP_ENOTFOUND)
            return scepctl_error(ctx, "no CA %s (see scepctl ca list)", requested);
        if (rc < 0)
            return scepctl_fail(ctx, "CA %s", requested);
        scep_store_ca_free(row);
        *out = OPENSSL_strdup(requested);
        return *out != NULL ? 0 : scepctl_error(ctx, "out of memory");
    }
    if (scep_store_ca_list(&rows, &count, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot list the CAs");
    if (count == 0)
        rc = scepctl_error(ctx, "there is no CA yet: create one with scepctl ca init");
    else if (count > 1)
        rc = scepctl_usage(ctx, "there are %zu CAs: pass --ca NAME (see scepctl ca list)", count);
    else if ((*out = OPENSSL_strdup(rows[0].name)) == NULL)
        rc = scepctl_error(ctx, "out of memory");
    else
        rc = 0;
    scep_store_ca_list_free(rows, count);
    return rc;
}

static int ee_add(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    const char *dn = scepctl_arg(args, "dn");
    const char *profile = scepctl_arg(args, "profile");
    char password[SCEPCTL_PASSWORD_MAX + 1] = "";
    char *ca_name = NULL;
    X509_NAME *parsed = NULL;
    int rc = check_username(ctx, username);
    if (rc != 0)
        return rc;
    if (scep_dn_parse(&parsed, dn) < 0)
        return scepctl_fail(ctx, "--dn");
    X509_NAME_free(parsed);
    if (profile != NULL) {
        scep_profile unused;
        if (scep_profile_named(&unused, profile) < 0)
            return scepctl_usage(ctx, "--profile %s: unknown profile (known: %s)", profile,
                                 scep_profile_names());
    }
    if ((rc = scepctl_open_store(ctx)) != 0 ||
        (rc = choose_ca(ctx, &ca_name, scepctl_arg(args, "ca"))) != 0)
        return rc;
    if ((rc = scepctl_password(ctx, password, args)) != 0)
        goto cleanup;

    scep_store_end_entity ee = {.username = username,
                                .subject_dn = dn,
                                .status = SCEP_EE_NEW,
                                .profile = profile,
                                .ca_name = ca_name};
    if (scep_store_ee_add(ctx->store, &ee, password) < 0) {
        rc = scepctl_fail(ctx, "cannot add end entity %s", username);
        goto cleanup;
    }
    scepctl_audit(ctx, "ee_add", NULL, username);
    fprintf(ctx->out, "End entity %s added (CA %s, status NEW)\n", username, ca_name);
    /* The one place a password is printed: the operator asked for a generated one. */
    if (scepctl_arg(args, "generate-password") != NULL)
        fprintf(ctx->out, "Password: %s\n", password);

cleanup:
    OPENSSL_cleanse(password, sizeof(password));
    OPENSSL_free(ca_name);
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
        fprintf(ctx->out, "USERNAME\tSTATUS\tCA\tPROFILE\tDN\n");
    for (size_t i = 0; i < count; i++)
        fprintf(ctx->out, "%s\t%s\t%s\t%s\t%s\n", rows[i].username, status_name(rows[i].status),
                rows[i].ca_name ? rows[i].ca_name : "-", rows[i].profile ? rows[i].profile : "-",
                rows[i].subject_dn ? rows[i].subject_dn : "-");
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
            "Created:      %s\n"
            "Updated:      %s\n",
            ee->username, status_name(ee->status), ee->subject_dn ? ee->subject_dn : "-",
            ee->ca_name ? ee->ca_name : "-",
            ee->profile ? ee->profile : "(the alias's certificateprofile)", created, updated);
    scep_store_ee_free(ee);
    return 0;
}

static int ee_reset(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *username = scepctl_arg(args, "username");
    char password[SCEPCTL_PASSWORD_MAX + 1] = "";
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if ((rc = scepctl_password(ctx, password, args)) != 0)
        goto cleanup;
    if ((rc = scep_store_ee_reset(ctx->store, username, password)) < 0) {
        rc = rc == SCEP_ENOTFOUND
                 ? scepctl_error(ctx, "no end entity %s (see scepctl ee list)", username)
                 : scepctl_fail(ctx, "cannot reset end entity %s", username);
        goto cleanup;
    }
    scepctl_audit(ctx, "ee_reset", NULL, username);
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
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    rc = scep_store_ee_remove(ctx->store, username);
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no end entity %s (see scepctl ee list)", username);
    if (rc < 0)
        return scepctl_fail(ctx, "cannot remove end entity %s", username);
    scepctl_audit(ctx, "ee_remove", NULL, username);
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
    {"ca", "NAME", false, "issuing CA (default: the only CA)"},
    {"profile", "NAME", false, "certificate profile: ENDUSER, DEVICE, SERVER, IPSEC, REGISTERED"},
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
     "add --username U (--password P|-|--generate-password) --dn DN [--ca NAME] [--profile NAME]",
     "Register an end entity that may enroll once (status NEW).",
     "--password on the command line is visible to other local users (ps); prefer\n"
     "--password - (read from stdin, no echo on a terminal) or --generate-password.\n"
     "The password is stored only as a salted PBKDF2 hash.",
     add_options, sizeof(add_options) / sizeof(add_options[0]), 0, 0, ee_add},
    {"list", "list", "List end entities: username, status, CA, profile and DN.", NULL, NULL, 0, 0,
     0, ee_list},
    {"show", "show --username U", "Show one end entity (never its password).", NULL,
     username_option, 1, 0, 0, ee_show},
    {"reset", "reset --username U (--password P|-|--generate-password)",
     "Set the status back to NEW with a new password, to allow one more enrollment.", NULL,
     reset_options, sizeof(reset_options) / sizeof(reset_options[0]), 0, 0, ee_reset},
    {"remove", "remove --username U", "Delete an end entity.", NULL, username_option, 1, 0, 0,
     ee_remove},
};

const struct scepctl_group scepctl_group_ee = {
    "ee", "End entities (CA-mode enrollment codes): add, list, show, reset, remove.", commands,
    sizeof(commands) / sizeof(commands[0])};
