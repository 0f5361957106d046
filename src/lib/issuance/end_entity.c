#include "issuance/end_entity.h"
#include "ca/profiles.h"
#include "scep/ca.h"
#include "store/store_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

const char *scep_ee_status_name(scep_store_ee_status status)
{
    return scep_store_ee_status_text(status); /* the names the store keeps */
}

int scep_ee_generate_password(char out[SCEP_EE_GENERATED_LEN + 1])
{
    /* No 0/O, 1/l/I: the password is read aloud and typed into devices. */
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    const size_t n = sizeof(alphabet) - 1;
    size_t filled = 0;
    while (filled < SCEP_EE_GENERATED_LEN) {
        unsigned char byte;
        if (RAND_bytes(&byte, 1) != 1)
            return scep_fail_ossl(SCEP_ECRYPTO, "the random generator failed");
        /* Rejection sampling keeps every symbol equally likely. */
        if (byte >= 256 - (256 % n))
            continue;
        out[filled++] = alphabet[byte % n];
    }
    out[filled] = '\0';
    return SCEP_OK;
}

/* 1..`max` characters, none of them a control character. */
static int text_check(const char *text, size_t max, const char *what)
{
    size_t len = text != NULL ? strlen(text) : 0;
    if (len == 0 || len > max)
        return scep_fail(SCEP_EINVAL, "%s: expected 1 to %zu characters", what, max);
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return scep_fail(SCEP_EINVAL, "%s: control characters are not allowed", what);
    return SCEP_OK;
}

int scep_ee_password_check(const char *password)
{
    return text_check(password, SCEP_EE_PASSWORD_MAX, "the password");
}

int scep_ee_canonical_sans(char **out, const char *san)
{
    GENERAL_NAMES *names = NULL;
    *out = NULL;
    if (san == NULL)
        return SCEP_OK;
    int rc = scep_san_parse(&names, san);
    if (rc == SCEP_OK)
        rc = scep_san_format(out, names, '\n');
    GENERAL_NAMES_free(names);
    if (rc < 0)
        return rc == SCEP_ENOMEM ? rc : scep_fail(SCEP_EINVAL, "san: %s", scep_error_message());
    if ((*out)[0] == '\0') {
        OPENSSL_free(*out);
        *out = NULL;
    }
    return SCEP_OK;
}

int scep_ee_resolve_alias(const char **alias, const scep_config *config)
{
    if (*alias == NULL && (*alias = scep_config_default_alias(config)) == NULL)
        return scep_fail(SCEP_EINVAL, "several aliases and no default_alias: name the alias");
    if (scep_config_alias(config, *alias) == NULL &&
        !(scep_config_alias_count(config) == 0 && strcmp(*alias, SCEP_CONFIG_BUILTIN_ALIAS) == 0))
        return scep_fail(SCEP_EINVAL, "alias %s: no such alias", *alias);
    return SCEP_OK;
}

/* The CA `requested` names (it must exist), or the only CA of the store. */
static int choose_ca(char *out, size_t out_size, scep_store *store, const char *requested)
{
    int rc = SCEP_OK;
    scep_store_ca *rows = NULL;
    size_t count = 0;
    if (requested != NULL) {
        scep_store_ca *row = NULL;
        rc = scep_store_ca_get(&row, store, requested);
        scep_store_ca_free(row);
        if (rc == SCEP_ENOTFOUND)
            return scep_fail(SCEP_ENOTFOUND, "no CA %s", requested);
        if (rc < 0)
            return rc;
        snprintf(out, out_size, "%s", requested);
        return SCEP_OK;
    }
    GUARD(scep_store_ca_list(&rows, &count, store));
    ENSURE(count > 0, SCEP_EINVAL, "there is no CA yet");
    ENSURE(count == 1, SCEP_EINVAL, "there are %zu CAs: name the CA", count);
    snprintf(out, out_size, "%s", rows[0].name);
cleanup:
    scep_store_ca_list_free(rows, count);
    return rc;
}

static void audit(scep_ee_outcome *out, scep_store *store, const char *actor, const char *action,
                  const char *username)
{
    scep_store_audit_event event = {
        .actor = actor, .action = action, .outcome = "ok", .detail = username};
    if (scep_store_audit_append(store, &event) < 0)
        out->audit_failed = 1;
}

int scep_ee_register(scep_ee_outcome *out, scep_store *store, const scep_config *config,
                     const scep_ee_registration *registration, const char *password,
                     const char *actor)
{
    int rc = SCEP_OK;
    char *sans = NULL;
    X509_NAME *parsed = NULL;
    const char *alias = registration->alias;
    memset(out, 0, sizeof(*out));
    out->field = "username";
    GUARD(text_check(registration->username, SCEP_EE_USERNAME_MAX, "username"));
    out->field = "dn";
    ENSURE(registration->dn != NULL, SCEP_EINVAL, "dn: the registered subject is required");
    rc = scep_dn_parse(&parsed, registration->dn);
    if (rc < 0) {
        rc = scep_fail(SCEP_EINVAL, "dn: %s", scep_error_message());
        goto cleanup;
    }
    out->field = "profile";
    if (registration->profile != NULL) {
        scep_profile unused;
        ENSURE(scep_profile_named(&unused, registration->profile) == SCEP_OK, SCEP_EINVAL,
               "profile %s: unknown profile (known: %s)", registration->profile,
               scep_profile_names());
    }
    out->field = "password";
    GUARD(scep_ee_password_check(password));
    out->field = "san";
    GUARD(scep_ee_canonical_sans(&sans, registration->san));
    out->field = "ca";
    GUARD(choose_ca(out->ca_name, sizeof(out->ca_name), store, registration->ca_name));
    out->field = "alias";
    GUARD(scep_ee_resolve_alias(&alias, config));
    out->field = NULL;
    snprintf(out->alias, sizeof(out->alias), "%s", alias);
    scep_store_end_entity ee = {.username = registration->username,
                                .subject_dn = registration->dn,
                                .status = SCEP_EE_NEW,
                                .profile = registration->profile,
                                .ca_name = out->ca_name,
                                .alias = alias,
                                .sans = sans};
    GUARD(scep_store_ee_add(store, &ee, password));
    audit(out, store, actor, "ee_add", registration->username);
cleanup:
    X509_NAME_free(parsed);
    OPENSSL_free(sans);
    return rc;
}

int scep_ee_reset_audited(scep_ee_outcome *out, scep_store *store, const char *username,
                          const char *password, const char *actor)
{
    int rc = SCEP_OK;
    memset(out, 0, sizeof(*out));
    GUARD(scep_ee_password_check(password));
    rc = scep_store_ee_reset(store, username, password);
    if (rc == SCEP_ENOTFOUND)
        rc = scep_fail(SCEP_ENOTFOUND, "no end entity %s", username);
    GUARD(rc);
    audit(out, store, actor, "ee_reset", username);
cleanup:
    return rc;
}

int scep_ee_remove_audited(scep_ee_outcome *out, scep_store *store, const char *username,
                           const char *actor)
{
    int rc = SCEP_OK;
    memset(out, 0, sizeof(*out));
    rc = scep_store_ee_remove(store, username);
    if (rc == SCEP_ENOTFOUND)
        rc = scep_fail(SCEP_ENOTFOUND, "no end entity %s", username);
    GUARD(rc);
    audit(out, store, actor, "ee_remove", username);
cleanup:
    return rc;
}
