/*
 * The store frontend: picks the backend from the URL scheme, checks arguments,
 * hashes secrets and normalises serials once for every backend, runs the
 * multi-step operations (CRL publish, challenge consume, request hold and
 * get_or_insert; issuance in issuance_tx.c) in the backend's write transaction,
 * and dispatches through the backend's ops table.
 */
#include "store/store_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

/* ---- backends ------------------------------------------------------------ */

struct store_backend {
    const char *scheme;
    int (*open)(scep_store **out, const char *location, const scep_store_open_options *options);
};

static const struct store_backend store_backends[] = {
    {"sqlite", scep_store_sqlite_open},
    {"postgresql", scep_store_postgres_open},
    {"postgres", scep_store_postgres_open},
};

int scep_store_open_with(scep_store **out, const char *url, const scep_store_open_options *options)
{
    static const scep_store_open_options defaults = {NULL, 0};
    int rc = SCEP_OK;
    ENSURE(out != NULL && url != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    const char *colon = strchr(url, ':');
    ENSURE(colon != NULL, SCEP_ECONFIG,
           "store URL has no scheme (expected sqlite:/path or postgresql://...)");
    size_t scheme_len = (size_t)(colon - url);
    for (size_t i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++) {
        const struct store_backend *b = &store_backends[i];
        if (strlen(b->scheme) == scheme_len && strncmp(b->scheme, url, scheme_len) == 0) {
            GUARD(b->open(out, colon + 1, options != NULL ? options : &defaults));
            (*out)->password_iterations = SCEP_STORE_PBKDF2_DEFAULT_ITERATIONS;
            goto cleanup;
        }
    }
    rc = scep_fail(SCEP_ECONFIG, "unknown store URL scheme '%.*s' (supported: sqlite, postgresql)",
                   (int)scheme_len, url);
cleanup:
    return rc;
}

int scep_store_open(scep_store **out, const char *url)
{
    return scep_store_open_with(out, url, NULL);
}

int scep_store_open_existing(scep_store **out, const char *url)
{
    const scep_store_open_options options = {.must_exist = 1};
    return scep_store_open_with(out, url, &options);
}

void scep_store_close(scep_store *store)
{
    if (store != NULL)
        store->ops->close(store);
}

int scep_store_backup(scep_store *store, const char *path)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL && path != NULL && path[0] != '\0', SCEP_EINVAL, "store: NULL argument");
    GUARD(store->ops->backup(store, path));
cleanup:
    return rc;
}

const char *scep_store_backend(const scep_store *store)
{
    return store != NULL ? store->ops->name : "none";
}

int scep_store_schema_version(int *out, scep_store *store)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(store->ops->schema_version(out, store));
cleanup:
    return rc;
}

int scep_store_integrity_check(char **out_problem, scep_store *store)
{
    int rc = SCEP_OK;
    ENSURE(out_problem != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out_problem = NULL;
    if (store->ops->integrity_check != NULL)
        GUARD(store->ops->integrity_check(out_problem, store));
cleanup:
    return rc;
}

int scep_store_config_revision(int64_t *out, scep_store *store)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(store->ops->config_revision(out, store));
cleanup:
    return rc;
}

int scep_store_schema_version_supported(void)
{
    return SCEP_STORE_SCHEMA_VERSION;
}

int scep_store_set_password_iterations(scep_store *store, uint32_t iterations)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    ENSURE(iterations >= SCEP_STORE_PBKDF2_MIN_ITERATIONS &&
               iterations <= SCEP_STORE_PBKDF2_MAX_ITERATIONS,
           SCEP_EINVAL, "PBKDF2 iteration count %u out of range %u..%u", (unsigned)iterations,
           SCEP_STORE_PBKDF2_MIN_ITERATIONS, SCEP_STORE_PBKDF2_MAX_ITERATIONS);
    store->password_iterations = iterations;
cleanup:
    return rc;
}

/* ---- argument checks ------------------------------------------------------ */

static int64_t now_seconds(void)
{
    return (int64_t)time(NULL);
}

/* A required (non-empty) or optional text argument within the size limit. */
static int check_text(const char *s, int required, const char *what)
{
    if (s == NULL)
        return required ? scep_fail(SCEP_EINVAL, "store: %s is required", what) : SCEP_OK;
    size_t len = strnlen(s, SCEP_STORE_MAX_TEXT + 1);
    if (required && len == 0)
        return scep_fail(SCEP_EINVAL, "store: %s is empty", what);
    if (len > SCEP_STORE_MAX_TEXT)
        return scep_fail(SCEP_ETOOBIG, "store: %s is longer than %u bytes", what,
                         SCEP_STORE_MAX_TEXT);
    return SCEP_OK;
}

static int check_blob(const unsigned char *p, size_t len, int required, const char *what)
{
    if (p == NULL && len != 0)
        return scep_fail(SCEP_EINVAL, "store: %s is NULL with a length", what);
    if (required && (p == NULL || len == 0))
        return scep_fail(SCEP_EINVAL, "store: %s is required", what);
    if (len > SCEP_STORE_MAX_BLOB)
        return scep_fail(SCEP_ETOOBIG, "store: %s is larger than %u bytes", what,
                         SCEP_STORE_MAX_BLOB);
    return SCEP_OK;
}

/*
 * One spelling per serial number: upper-case hex, no leading zeros, positive,
 * at most 20 octets (RFC 5280 §4.1.2.2).
 */
static int normalize_serial(char out[SCEP_STORE_MAX_SERIAL_HEX + 1], const char *serial)
{
    if (serial == NULL)
        return scep_fail(SCEP_EINVAL, "store: serial is required");
    size_t len = strnlen(serial, SCEP_STORE_MAX_SERIAL_HEX * 2 + 1);
    size_t start = 0;
    while (start < len && serial[start] == '0')
        start++;
    if (len == 0 || start == len)
        return scep_fail(SCEP_EINVAL, "store: serial must be a positive hex number");
    if (len - start > SCEP_STORE_MAX_SERIAL_HEX)
        return scep_fail(SCEP_EINVAL, "store: serial is longer than 20 octets");
    size_t n = 0;
    /* OpenSSL's spelling (`openssl x509 -serial`): whole octets, so an odd count of
     * significant digits gets one leading zero. */
    if ((len - start) % 2 == 1)
        out[n++] = '0';
    for (size_t i = start; i < len; i++) {
        unsigned char c = (unsigned char)serial[i];
        if (!isxdigit(c))
            return scep_fail(SCEP_EINVAL, "store: serial '%s' is not hex", serial);
        out[n++] = (char)toupper(c);
    }
    out[n] = '\0';
    return SCEP_OK;
}

static int check_ee_status(scep_store_ee_status status)
{
    if (status < SCEP_EE_NEW || status > SCEP_EE_DISABLED)
        return scep_fail(SCEP_EINVAL, "store: unknown end entity status %d", (int)status);
    return SCEP_OK;
}

static int check_list_out(const void *out, const size_t *out_count, const scep_store *store)
{
    if (out == NULL || out_count == NULL || store == NULL)
        return scep_fail(SCEP_EINVAL, "store: NULL argument");
    return SCEP_OK;
}

/* ---- record memory ----------------------------------------------------------- */

void scep_store_release(const void *p)
{
    /* Records expose const pointers; the memory is the record's own. */
    OPENSSL_free((void *)(uintptr_t)p);
}

void scep_store_ca_clear(scep_store_ca *ca)
{
    scep_store_release(ca->name);
    scep_store_release(ca->cert_pem);
    scep_store_release(ca->key_ref);
    scep_store_release(ca->chain_pem);
    scep_store_release(ca->next_cert_pem);
    scep_store_release(ca->next_key_ref);
    memset(ca, 0, sizeof(*ca));
}

void scep_store_ee_clear(scep_store_end_entity *ee)
{
    scep_store_release(ee->username);
    scep_store_release(ee->subject_dn);
    scep_store_release(ee->profile);
    scep_store_release(ee->ca_name);
    scep_store_release(ee->alias);
    scep_store_release(ee->sans);
    scep_store_release(ee->ra_alias);
    memset(ee, 0, sizeof(*ee));
}

void scep_store_request_clear(scep_store_request *req)
{
    scep_store_release(req->alias);
    scep_store_release(req->transaction_id);
    scep_store_release(req->csr_der);
    scep_store_release(req->signer_cert_der);
    scep_store_release(req->reason);
    scep_store_release(req->client_addr);
    scep_store_release(req->ca_name);
    scep_store_release(req->cert_serial);
    scep_store_release(req->decided_mode);
    scep_store_release(req->decided_username);
    scep_store_release(req->decided_profile);
    scep_store_release(req->decided_subject);
    scep_store_release(req->decided_sans);
    scep_store_release(req->replaces_serial);
    scep_store_release(req->renews_serial);
    memset(req, 0, sizeof(*req));
}

void scep_store_cert_clear(scep_store_cert *cert)
{
    scep_store_release(cert->ca_name);
    scep_store_release(cert->serial);
    scep_store_release(cert->subject);
    scep_store_release(cert->issuer);
    scep_store_release(cert->der);
    scep_store_release(cert->username);
    scep_store_release(cert->transaction_id);
    memset(cert, 0, sizeof(*cert));
}

void scep_store_audit_clear(scep_store_audit_event *event)
{
    scep_store_release(event->actor);
    scep_store_release(event->action);
    scep_store_release(event->alias);
    scep_store_release(event->transaction_id);
    scep_store_release(event->outcome);
    scep_store_release(event->detail);
    scep_store_release(event->prev_hash);
    scep_store_release(event->hash);
    memset(event, 0, sizeof(*event));
}

void scep_store_setting_clear(scep_store_setting *setting)
{
    scep_store_release(setting->key);
    scep_store_release(setting->value);
    memset(setting, 0, sizeof(*setting));
}

void scep_store_revoked_clear(scep_store_revoked *revoked)
{
    scep_store_release(revoked->serial);
    memset(revoked, 0, sizeof(*revoked));
}

void scep_store_crl_clear(scep_store_crl *crl)
{
    scep_store_release(crl->ca_name);
    scep_store_release(crl->der);
    memset(crl, 0, sizeof(*crl));
}

void scep_store_crl_free(scep_store_crl *crl)
{
    if (crl == NULL)
        return;
    scep_store_crl_clear(crl);
    OPENSSL_free(crl);
}

void scep_store_ca_free(scep_store_ca *item)
{
    if (item == NULL)
        return;
    scep_store_ca_clear(item);
    OPENSSL_free(item);
}

void scep_store_ca_list_free(scep_store_ca *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_ca_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_ee_free(scep_store_end_entity *item)
{
    if (item == NULL)
        return;
    scep_store_ee_clear(item);
    OPENSSL_free(item);
}

void scep_store_ee_list_free(scep_store_end_entity *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_ee_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_request_free(scep_store_request *item)
{
    if (item == NULL)
        return;
    scep_store_request_clear(item);
    OPENSSL_free(item);
}

void scep_store_request_list_free(scep_store_request *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_request_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_cert_free(scep_store_cert *item)
{
    if (item == NULL)
        return;
    scep_store_cert_clear(item);
    OPENSSL_free(item);
}

void scep_store_cert_list_free(scep_store_cert *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_cert_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_audit_list_free(scep_store_audit_event *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_audit_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_setting_list_free(scep_store_setting *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_setting_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_revoked_list_free(scep_store_revoked *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        scep_store_revoked_clear(&list[i]);
    OPENSSL_free(list);
}

void scep_store_string_free(char *s)
{
    OPENSSL_free(s);
}

void scep_store_string_list_free(char **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        OPENSSL_free(list[i]);
    OPENSSL_free(list);
}

/* ---- CAs ------------------------------------------------------------------------ */

int scep_store_ca_add(scep_store *store, const scep_store_ca *ca)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL && ca != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(ca->name, 1, "CA name"));
    GUARD(check_text(ca->cert_pem, 1, "CA certificate"));
    GUARD(check_text(ca->key_ref, 1, "CA key reference"));
    GUARD(check_text(ca->chain_pem, 0, "CA chain"));
    GUARD(check_text(ca->next_cert_pem, 0, "CA next certificate"));
    GUARD(store->ops->ca_add(store, ca));
cleanup:
    return rc;
}

int scep_store_ca_get(scep_store_ca **out, scep_store *store, const char *name)
{
    int rc = SCEP_OK;
    scep_store_ca *ca = NULL;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    GUARD(check_text(name, 1, "CA name"));
    ca = OPENSSL_zalloc(sizeof(*ca));
    ENSURE_ALLOC(ca);
    GUARD(store->ops->ca_get(ca, store, name));
    *out = ca;
    ca = NULL;
cleanup:
    scep_store_ca_free(ca);
    return rc;
}

int scep_store_ca_list(scep_store_ca **out, size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    GUARD(store->ops->ca_list(out, out_count, store));
cleanup:
    return rc;
}

int scep_store_ca_set_next_cert(scep_store *store, const char *name, const char *next_cert_pem)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(name, 1, "CA name"));
    GUARD(check_text(next_cert_pem, 0, "CA next certificate"));
    GUARD(store->ops->ca_set_next_cert(store, name, next_cert_pem, NULL, 0));
cleanup:
    return rc;
}

int scep_store_ca_set_next(scep_store *store, const char *name, const char *next_cert_pem,
                           const char *next_key_ref, int64_t next_activate_at)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(name, 1, "CA name"));
    if (next_cert_pem == NULL) {
        GUARD(store->ops->ca_set_next_cert(store, name, NULL, NULL, 0));
        goto cleanup;
    }
    GUARD(check_text(next_cert_pem, 1, "CA next certificate"));
    GUARD(check_text(next_key_ref, 1, "CA next key reference"));
    ENSURE(next_activate_at > 0, SCEP_EINVAL, "store: the rollover needs an activation time");
    GUARD(store->ops->ca_set_next_cert(store, name, next_cert_pem, next_key_ref, next_activate_at));
cleanup:
    return rc;
}

int scep_store_ca_next_crl_number(int64_t *out, scep_store *store, const char *name)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(name, 1, "CA name"));
    GUARD(store->ops->ca_next_crl_number(out, store, name));
cleanup:
    return rc;
}

/* ---- aliases -------------------------------------------------------------------- */

int scep_store_alias_add(scep_store *store, const char *alias)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(alias, 1, "alias"));
    GUARD(store->ops->alias_add(store, alias));
cleanup:
    return rc;
}

int scep_store_alias_remove(scep_store *store, const char *alias)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(alias, 1, "alias"));
    GUARD(store->ops->alias_remove(store, alias));
cleanup:
    return rc;
}

int scep_store_alias_list(char ***out, size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    GUARD(store->ops->alias_list(out, out_count, store));
cleanup:
    return rc;
}

int scep_store_alias_setting_set(scep_store *store, const char *alias, const char *key,
                                 const char *value)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(alias, 1, "alias"));
    GUARD(check_text(key, 1, "setting key"));
    GUARD(check_text(value, 0, "setting value"));
    ENSURE(value != NULL, SCEP_EINVAL, "store: setting value is required");
    GUARD(store->ops->alias_setting_set(store, alias, key, value));
cleanup:
    return rc;
}

int scep_store_alias_setting_get(char **out, scep_store *store, const char *alias, const char *key)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    GUARD(check_text(alias, 1, "alias"));
    GUARD(check_text(key, 1, "setting key"));
    GUARD(store->ops->alias_setting_get(out, store, alias, key));
cleanup:
    return rc;
}

int scep_store_alias_setting_list(scep_store_setting **out, size_t *out_count, scep_store *store,
                                  const char *alias)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    GUARD(check_text(alias, 1, "alias"));
    GUARD(store->ops->alias_setting_list(out, out_count, store, alias));
cleanup:
    return rc;
}

int scep_store_alias_setting_remove(scep_store *store, const char *alias, const char *key)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(alias, 1, "alias"));
    GUARD(check_text(key, 1, "setting key"));
    GUARD(store->ops->alias_setting_remove(store, alias, key));
cleanup:
    return rc;
}

/* ---- end entities ------------------------------------------------------------------ */

int scep_store_ee_add(scep_store *store, const scep_store_end_entity *ee, const char *password)
{
    int rc = SCEP_OK;
    char *hash = NULL;
    ENSURE(store != NULL && ee != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(ee->username, 1, "username"));
    GUARD(check_text(ee->subject_dn, 1, "subject DN"));
    GUARD(check_text(ee->profile, 0, "profile"));
    GUARD(check_text(ee->ca_name, 1, "CA name"));
    GUARD(check_text(ee->alias, 0, "alias"));
    GUARD(check_text(ee->sans, 0, "subjectAltNames"));
    GUARD(check_text(password, 1, "password"));
    scep_store_end_entity row = *ee;
    row.ra_alias = NULL;
    if (row.status == 0)
        row.status = SCEP_EE_NEW;
    GUARD(check_ee_status(row.status));
    GUARD(scep_store_password_hash(&hash, password, store->password_iterations));
    GUARD(store->ops->ee_add(store, &row, hash));
cleanup:
    OPENSSL_clear_free(hash, hash != NULL ? strlen(hash) : 0);
    return rc;
}

int scep_store_ee_get(scep_store_end_entity **out, scep_store *store, const char *username)
{
    int rc = SCEP_OK;
    scep_store_end_entity *ee = NULL;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    GUARD(check_text(username, 1, "username"));
    ee = OPENSSL_zalloc(sizeof(*ee));
    ENSURE_ALLOC(ee);
    GUARD(store->ops->ee_get(ee, NULL, store, username));
    *out = ee;
    ee = NULL;
cleanup:
    scep_store_ee_free(ee);
    return rc;
}

int scep_store_ee_list(scep_store_end_entity **out, size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    GUARD(store->ops->ee_list(out, out_count, store));
cleanup:
    return rc;
}

int scep_store_ee_set_status(scep_store *store, const char *username, scep_store_ee_status status)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(username, 1, "username"));
    GUARD(check_ee_status(status));
    GUARD(store->ops->ee_set_status(store, username, status));
cleanup:
    return rc;
}

int scep_store_ee_update(scep_store *store, const scep_store_end_entity *ee)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL && ee != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(ee->username, 1, "username"));
    GUARD(check_text(ee->subject_dn, 1, "subject DN"));
    GUARD(check_text(ee->profile, 0, "profile"));
    GUARD(check_text(ee->alias, 0, "alias"));
    GUARD(check_text(ee->sans, 0, "subjectAltNames"));
    GUARD(store->ops->ee_update(store, ee, now_seconds()));
cleanup:
    return rc;
}

int scep_store_ee_code_failed(scep_store *store, const char *username, int64_t *out_count)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(username, 1, "username"));
    GUARD(store->ops->ee_code_failed(store, username, out_count, now_seconds()));
cleanup:
    return rc;
}

int scep_store_ee_reset(scep_store *store, const char *username, const char *new_password)
{
    int rc = SCEP_OK;
    char *hash = NULL;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(username, 1, "username"));
    GUARD(check_text(new_password, 1, "password"));
    GUARD(scep_store_password_hash(&hash, new_password, store->password_iterations));
    GUARD(store->ops->ee_reset(store, username, hash));
cleanup:
    OPENSSL_clear_free(hash, hash != NULL ? strlen(hash) : 0);
    return rc;
}

int scep_store_ee_remove(scep_store *store, const char *username)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(username, 1, "username"));
    GUARD(store->ops->ee_remove(store, username));
cleanup:
    return rc;
}

int scep_store_ee_verify_password(scep_store_end_entity **out, scep_store *store,
                                  const char *username, const char *password)
{
    int rc = SCEP_OK;
    scep_store_end_entity *ee = NULL;
    char *hash = NULL;
    if (out != NULL)
        *out = NULL;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(username, 1, "username"));
    GUARD(check_text(password, 0, "password"));
    ENSURE(password != NULL, SCEP_EINVAL, "store: password is required");
    ee = OPENSSL_zalloc(sizeof(*ee));
    ENSURE_ALLOC(ee);
    rc = store->ops->ee_get(ee, &hash, store, username);
    if (rc == SCEP_ENOTFOUND) {
        /* Same work as a wrong password, so timing does not reveal usernames. */
        scep_store_password_dummy(password, store->password_iterations);
        ENSURE(0, SCEP_EDENIED, "invalid username or password");
    }
    GUARD(rc);
    GUARD(scep_store_password_verify(hash, password));
    if (out != NULL) {
        *out = ee;
        ee = NULL;
    }
cleanup:
    OPENSSL_clear_free(hash, hash != NULL ? strlen(hash) : 0);
    scep_store_ee_free(ee);
    return rc;
}

/* ---- requests ------------------------------------------------------------------------ */

static int check_request_status(scep_store_request_status status, int allow_zero)
{
    if ((allow_zero && status == 0) || (status >= SCEP_REQ_PENDING && status <= SCEP_REQ_FAILED))
        return SCEP_OK;
    return scep_fail(SCEP_EINVAL, "store: unknown request status %d", (int)status);
}

static int check_fail_info(int fail_info)
{
    if (fail_info == SCEP_STORE_NO_FAIL_INFO ||
        (fail_info >= SCEP_FAIL_BAD_ALG && fail_info <= SCEP_FAIL_BAD_CERT_ID))
        return SCEP_OK;
    return scep_fail(SCEP_EINVAL, "store: unknown failInfo %d", fail_info);
}

/* The insert and the read back are one transaction: the row read is the row kept. */
static int request_get_or_insert(scep_store_request *out, int *out_created, scep_store *store,
                                 const scep_store_request *req, int64_t now)
{
    int rc = SCEP_OK;
    int in_tx = 0;
    scep_store_request row = *req;
    if (row.status == 0)
        row.status = SCEP_REQ_PENDING;
    GUARD(store->ops->begin_write(store));
    in_tx = 1;
    GUARD(store->ops->request_insert_if_absent(out_created, store, &row, now));
    GUARD(store->ops->request_find(out, store, req->alias, req->transaction_id));
    GUARD(store->ops->commit(store));
    in_tx = 0;
cleanup:
    if (in_tx)
        store->ops->rollback(store);
    return rc;
}

int scep_store_request_get_or_insert(scep_store_request **out, int *out_created, scep_store *store,
                                     const scep_store_request *req)
{
    int rc = SCEP_OK;
    scep_store_request *row = NULL;
    int created = 0;
    ENSURE(out != NULL && store != NULL && req != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    if (out_created != NULL)
        *out_created = 0;
    GUARD(check_text(req->alias, 1, "alias"));
    GUARD(check_text(req->transaction_id, 1, "transactionID"));
    GUARD(check_blob(req->csr_der, req->csr_der_len, 0, "CSR"));
    GUARD(check_blob(req->signer_cert_der, req->signer_cert_der_len, 0, "signer certificate"));
    GUARD(check_text(req->reason, 0, "reason"));
    GUARD(check_text(req->client_addr, 0, "client address"));
    GUARD(check_request_status(req->status, 1));
    ENSURE(req->status != SCEP_REQ_ISSUED, SCEP_EINVAL,
           "store: a request becomes ISSUED only through scep_store_issue");
    GUARD(check_fail_info(req->fail_info));
    row = OPENSSL_zalloc(sizeof(*row));
    ENSURE_ALLOC(row);
    GUARD(request_get_or_insert(row, &created, store, req, now_seconds()));
    *out = row;
    row = NULL;
    if (out_created != NULL)
        *out_created = created;
cleanup:
    scep_store_request_free(row);
    return rc;
}

/* The check for another waiting request and the hold are one write transaction. */
static int request_hold(scep_store *store, int64_t id, const char *reason,
                        const scep_store_decision *d, int64_t exclusive_since, int64_t *out_other,
                        int64_t now)
{
    int rc = SCEP_OK;
    int in_tx = 0;
    int changed = 0;
    GUARD(store->ops->begin_write(store));
    in_tx = 1;
    if (exclusive_since > 0) {
        int found = 0;
        int64_t other = 0;
        GUARD(store->ops->request_held_for(&other, &found, store, reason, d->username, id,
                                           exclusive_since));
        if (found) {
            if (out_other != NULL)
                *out_other = other;
            ENSURE(0, SCEP_EEXISTS, "request %lld of %s already awaits approval", (long long)other,
                   d->username);
        }
    }
    GUARD(store->ops->request_set_hold(&changed, store, id, reason, d, now));
    if (!changed)
        GUARD(scep_store_explain_request(store, id));
    GUARD(store->ops->commit(store));
    in_tx = 0;
cleanup:
    if (in_tx)
        store->ops->rollback(store);
    return rc;
}

int scep_store_request_hold(scep_store *store, int64_t id, const char *reason,
                            const scep_store_decision *decision, int64_t exclusive_since,
                            int64_t *out_other)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL && decision != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(reason, 1, "reason"));
    GUARD(check_text(decision->mode, 1, "decision mode"));
    GUARD(check_text(decision->username, 1, "username"));
    GUARD(check_text(decision->profile, 1, "profile"));
    GUARD(check_text(decision->ca_name, 1, "CA name"));
    GUARD(check_text(decision->subject, 0, "subject"));
    ENSURE(decision->subject != NULL, SCEP_EINVAL, "store: the decision has no subject");
    GUARD(check_text(decision->sans, 0, "subjectAltNames"));
    GUARD(check_text(decision->replaces_serial, 0, "serial"));
    GUARD(check_text(decision->renews_serial, 0, "serial"));
    if (out_other != NULL)
        *out_other = 0;
    GUARD(request_hold(store, id, reason, decision, exclusive_since, out_other, now_seconds()));
cleanup:
    return rc;
}

int scep_store_request_retire(scep_store *store, int64_t id)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(store->ops->request_retire(store, id, now_seconds()));
cleanup:
    return rc;
}

int scep_store_request_get(scep_store_request **out, scep_store *store, int64_t id)
{
    int rc = SCEP_OK;
    scep_store_request *row = NULL;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    row = OPENSSL_zalloc(sizeof(*row));
    ENSURE_ALLOC(row);
    GUARD(store->ops->request_get(row, store, id));
    *out = row;
    row = NULL;
cleanup:
    scep_store_request_free(row);
    return rc;
}

int scep_store_request_find(scep_store_request **out, scep_store *store, const char *alias,
                            const char *transaction_id)
{
    int rc = SCEP_OK;
    scep_store_request *row = NULL;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    GUARD(check_text(alias, 1, "alias"));
    GUARD(check_text(transaction_id, 1, "transactionID"));
    row = OPENSSL_zalloc(sizeof(*row));
    ENSURE_ALLOC(row);
    GUARD(store->ops->request_find(row, store, alias, transaction_id));
    *out = row;
    row = NULL;
cleanup:
    scep_store_request_free(row);
    return rc;
}

int scep_store_request_update(scep_store *store, int64_t id, scep_store_request_status status,
                              int fail_info, const char *reason)
{
    int rc = SCEP_OK;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_request_status(status, 0));
    ENSURE(status != SCEP_REQ_ISSUED, SCEP_EINVAL,
           "store: a request becomes ISSUED only through scep_store_issue");
    GUARD(check_fail_info(fail_info));
    GUARD(check_text(reason, 0, "reason"));
    GUARD(store->ops->request_update(store, id, status, fail_info, reason, now_seconds()));
cleanup:
    return rc;
}

int scep_store_request_list(scep_store_request **out, size_t *out_count, scep_store *store,
                            scep_store_request_status status, size_t limit)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    GUARD(check_request_status(status, 1));
    if (limit == 0 || limit > SCEP_STORE_MAX_LIST)
        limit = SCEP_STORE_MAX_LIST;
    GUARD(store->ops->request_list(out, out_count, store, status, limit));
cleanup:
    return rc;
}

int scep_store_request_count(int64_t *out, scep_store *store, scep_store_request_status status,
                             const char *reason)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = 0;
    GUARD(check_request_status(status, 1));
    if (reason != NULL)
        GUARD(check_text(reason, 1, "reason"));
    GUARD(store->ops->request_count(out, store, status, reason));
cleanup:
    return rc;
}

/* ---- certificates ------------------------------------------------------------------ */

static int check_cert(const scep_store_cert *cert)
{
    int rc = SCEP_OK;
    GUARD(check_text(cert->ca_name, 1, "CA name"));
    GUARD(check_text(cert->subject, 1, "subject"));
    GUARD(check_text(cert->issuer, 1, "issuer"));
    GUARD(check_blob(cert->der, cert->der_len, 1, "certificate DER"));
    GUARD(check_text(cert->username, 0, "username"));
    GUARD(check_text(cert->transaction_id, 0, "transactionID"));
    ENSURE(cert->not_before <= cert->not_after, SCEP_EINVAL,
           "store: certificate notBefore is after notAfter");
cleanup:
    return rc;
}

int scep_store_cert_add(scep_store *store, const scep_store_cert *cert)
{
    int rc = SCEP_OK;
    char serial[SCEP_STORE_MAX_SERIAL_HEX + 1];
    ENSURE(store != NULL && cert != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_cert(cert));
    GUARD(normalize_serial(serial, cert->serial));
    scep_store_cert row = *cert;
    row.serial = serial;
    GUARD(store->ops->cert_add(store, &row, now_seconds()));
cleanup:
    return rc;
}

int scep_store_cert_get(scep_store_cert **out, scep_store *store, const char *ca_name,
                        const char *serial)
{
    int rc = SCEP_OK;
    char normalized[SCEP_STORE_MAX_SERIAL_HEX + 1];
    scep_store_cert *cert = NULL;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    GUARD(check_text(ca_name, 1, "CA name"));
    GUARD(normalize_serial(normalized, serial));
    cert = OPENSSL_zalloc(sizeof(*cert));
    ENSURE_ALLOC(cert);
    GUARD(store->ops->cert_get(cert, store, ca_name, normalized));
    *out = cert;
    cert = NULL;
cleanup:
    scep_store_cert_free(cert);
    return rc;
}

int scep_store_cert_list(scep_store_cert **out, size_t *out_count, scep_store *store,
                         const scep_store_cert_filter *filter)
{
    int rc = SCEP_OK;
    scep_store_cert_filter f = {0};
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    if (filter != NULL)
        f = *filter;
    GUARD(check_text(f.ca_name, 0, "CA name"));
    GUARD(check_text(f.subject, 0, "subject"));
    ENSURE(f.status == 0 || f.status == SCEP_CERT_VALID || f.status == SCEP_CERT_REVOKED,
           SCEP_EINVAL, "store: unknown certificate status %d", (int)f.status);
    if (f.limit == 0 || f.limit > SCEP_STORE_MAX_LIST)
        f.limit = SCEP_STORE_MAX_LIST;
    ENSURE(f.offset <= INT64_MAX, SCEP_EINVAL, "store: offset out of range");
    GUARD(store->ops->cert_list(out, out_count, store, &f));
cleanup:
    return rc;
}

int scep_store_cert_revoke(scep_store *store, const char *ca_name, const char *serial,
                           int64_t revoked_at, int reason)
{
    int rc = SCEP_OK;
    char normalized[SCEP_STORE_MAX_SERIAL_HEX + 1];
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(ca_name, 1, "CA name"));
    GUARD(normalize_serial(normalized, serial));
    /* CRLReason values 0..10, 7 unused (RFC 5280 §5.3.1). */
    ENSURE(reason == SCEP_STORE_NO_REASON || (reason >= 0 && reason <= 10 && reason != 7),
           SCEP_EINVAL, "store: invalid CRL reason %d", reason);
    if (revoked_at == 0)
        revoked_at = now_seconds();
    int changed = 0;
    GUARD(
        store->ops->cert_revoke_if_valid(&changed, store, ca_name, normalized, revoked_at, reason));
    if (!changed)
        GUARD(scep_store_explain_cert(store, ca_name, normalized));
cleanup:
    return rc;
}

int scep_store_cert_list_revoked(scep_store_revoked **out, size_t *out_count, scep_store *store,
                                 const char *ca_name)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    GUARD(check_text(ca_name, 1, "CA name"));
    GUARD(store->ops->cert_list_revoked(out, out_count, store, ca_name));
cleanup:
    return rc;
}

int scep_store_cert_count_revoked(int64_t *out, scep_store *store, const char *ca_name)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = 0;
    GUARD(check_text(ca_name, 1, "CA name"));
    GUARD(store->ops->cert_count_revoked(out, store, ca_name));
cleanup:
    return rc;
}

/* ---- stored CRLs -------------------------------------------------------------------- */

int scep_store_crl_get(scep_store_crl **out, scep_store *store, const char *ca_name)
{
    int rc = SCEP_OK;
    scep_store_crl *crl = NULL;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    GUARD(check_text(ca_name, 1, "CA name"));
    crl = OPENSSL_zalloc(sizeof(*crl));
    ENSURE_ALLOC(crl);
    GUARD(store->ops->crl_get(crl, store, ca_name));
    *out = crl;
    crl = NULL;
cleanup:
    scep_store_crl_free(crl);
    return rc;
}

/* `out` is zeroed; `now` is created_at. */
static int crl_publish(scep_store_crl *out, int *out_generated, scep_store *store,
                       const char *ca_name, scep_store_crl_fresh_cb fresh,
                       scep_store_crl_sign_cb sign, void *payload, int64_t now)
{
    int rc = SCEP_OK;
    int in_tx = 0;
    int have_latest = 0;
    int64_t revoked_count = 0;
    scep_store_revoked *revoked = NULL;
    size_t count = 0;

    /*
     * begin_write before reading the newest CRL: of two connections that both found it
     * stale, the second waits here, then sees the first's CRL.
     */
    GUARD(store->ops->begin_write(store));
    in_tx = 1;
    rc = store->ops->crl_get(out, store, ca_name);
    if (rc == SCEP_ENOTFOUND) {
        scep_store_crl_clear(out);
        rc = SCEP_OK;
    } else {
        GUARD(rc);
        have_latest = 1;
    }
    GUARD(store->ops->cert_count_revoked(&revoked_count, store, ca_name));
    if (fresh != NULL && fresh(have_latest ? out : NULL, revoked_count, payload)) {
        *out_generated = 0;
        GUARD(store->ops->commit(store));
        in_tx = 0;
        goto cleanup;
    }
    scep_store_crl_clear(out);
    GUARD(store->ops->ca_next_crl_number(&out->crl_number, store, ca_name));
    GUARD(store->ops->cert_list_revoked(&revoked, &count, store, ca_name));
    out->ca_name = OPENSSL_strdup(ca_name);
    ENSURE_ALLOC(out->ca_name);
    out->revoked_count = (int64_t)count;
    GUARD(sign(out, revoked, count, payload));
    ENSURE(out->der != NULL && out->der_len > 0 && out->der_len <= SCEP_STORE_MAX_BLOB, SCEP_EINVAL,
           "store: the signed CRL is empty or larger than %u bytes", SCEP_STORE_MAX_BLOB);
    ENSURE(out->next_update > out->this_update, SCEP_EINVAL,
           "store: CRL nextUpdate is not after thisUpdate");
    GUARD(store->ops->crl_insert(store, out, now));
    GUARD(store->ops->crl_prune(store, ca_name, SCEP_STORE_CRL_HISTORY));
    GUARD(store->ops->commit(store));
    in_tx = 0;
    *out_generated = 1;
cleanup:
    if (in_tx)
        store->ops->rollback(store);
    scep_store_revoked_list_free(revoked, count);
    return rc;
}

int scep_store_crl_publish(scep_store_crl **out, int *out_generated, scep_store *store,
                           const char *ca_name, scep_store_crl_fresh_cb fresh,
                           scep_store_crl_sign_cb sign, void *payload)
{
    int rc = SCEP_OK;
    int generated = 0;
    scep_store_crl *crl = NULL;
    ENSURE(out != NULL && store != NULL && sign != NULL, SCEP_EINVAL, "store: NULL argument");
    *out = NULL;
    if (out_generated != NULL)
        *out_generated = 0;
    GUARD(check_text(ca_name, 1, "CA name"));
    crl = OPENSSL_zalloc(sizeof(*crl));
    ENSURE_ALLOC(crl);
    GUARD(crl_publish(crl, &generated, store, ca_name, fresh, sign, payload, now_seconds()));
    *out = crl;
    crl = NULL;
    if (out_generated != NULL)
        *out_generated = generated;
cleanup:
    scep_store_crl_free(crl);
    return rc;
}

/* ---- issuance ---------------------------------------------------------------------- */

int scep_store_issue(scep_store *store, const scep_store_issuance *issuance)
{
    int rc = SCEP_OK;
    char serial[SCEP_STORE_MAX_SERIAL_HEX + 1];
    ENSURE(store != NULL && issuance != NULL && issuance->cert != NULL, SCEP_EINVAL,
           "store: NULL argument");
    GUARD(check_cert(issuance->cert));
    GUARD(normalize_serial(serial, issuance->cert->serial));
    GUARD(check_text(issuance->username, 0, "username"));
    GUARD(check_text(issuance->actor, 0, "actor"));
    GUARD(check_text(issuance->alias, 0, "alias"));
    ENSURE(issuance->request_id >= 0, SCEP_EINVAL, "store: negative request id");
    char revoke_serial[SCEP_STORE_MAX_SERIAL_HEX + 1];
    if (issuance->revoke_serial != NULL) {
        GUARD(normalize_serial(revoke_serial, issuance->revoke_serial));
        ENSURE(issuance->revoke_reason == SCEP_STORE_NO_REASON ||
                   (issuance->revoke_reason >= 0 && issuance->revoke_reason <= 10 &&
                    issuance->revoke_reason != 7),
               SCEP_EINVAL, "store: invalid CRL reason %d", issuance->revoke_reason);
        ENSURE(strcmp(revoke_serial, serial) != 0, SCEP_EINVAL,
               "store: an issuance cannot revoke its own certificate");
    }
    scep_store_cert cert = *issuance->cert;
    cert.serial = serial;
    if (cert.username == NULL)
        cert.username = issuance->username;
    scep_store_issuance normalized = *issuance;
    normalized.cert = &cert;
    if (issuance->revoke_serial != NULL)
        normalized.revoke_serial = revoke_serial;
    GUARD(scep_store_issue_tx(store, NULL, &normalized, now_seconds()));
cleanup:
    return rc;
}

int scep_store_issue_ra(scep_store *store, const scep_store_issuance *issuance,
                        const scep_store_ra_entity *ra)
{
    int rc = SCEP_OK;
    char serial[SCEP_STORE_MAX_SERIAL_HEX + 1];
    ENSURE(store != NULL && issuance != NULL && issuance->cert != NULL && ra != NULL, SCEP_EINVAL,
           "store: NULL argument");
    GUARD(check_cert(issuance->cert));
    GUARD(normalize_serial(serial, issuance->cert->serial));
    GUARD(check_text(ra->username, 1, "username"));
    GUARD(check_text(ra->subject_dn, 1, "subject DN"));
    GUARD(check_text(ra->profile, 0, "profile"));
    GUARD(check_text(ra->ca_name, 1, "CA name"));
    GUARD(check_text(ra->alias, 1, "alias"));
    GUARD(check_text(ra->sans, 0, "subjectAltNames"));
    ENSURE(ra->on_existing == SCEP_STORE_RA_REISSUE || ra->on_existing == SCEP_STORE_RA_REFUSE,
           SCEP_EINVAL, "store: bad on_existing policy");
    ENSURE(issuance->username == NULL || strcmp(issuance->username, ra->username) == 0, SCEP_EINVAL,
           "store: RA issuance names two end entities");
    GUARD(check_text(issuance->actor, 0, "actor"));
    GUARD(check_text(issuance->alias, 0, "alias"));
    ENSURE(issuance->request_id >= 0, SCEP_EINVAL, "store: negative request id");
    scep_store_cert cert = *issuance->cert;
    cert.serial = serial;
    if (cert.username == NULL)
        cert.username = ra->username;
    scep_store_issuance normalized = *issuance;
    normalized.cert = &cert;
    normalized.username = ra->username;
    GUARD(scep_store_issue_tx(store, ra, &normalized, now_seconds()));
cleanup:
    return rc;
}

/* ---- challenges --------------------------------------------------------------------- */

static int challenge_hash(unsigned char hash[SCEP_STORE_HASH_LEN], const char *challenge)
{
    int rc = SCEP_OK;
    unsigned int len = 0;
    GUARD(check_text(challenge, 1, "challenge"));
    ENSURE_OSSL(EVP_Digest(challenge, strlen(challenge), hash, &len, EVP_sha256(), NULL) == 1 &&
                    len == SCEP_STORE_HASH_LEN,
                SCEP_ECRYPTO, "challenge hash");
cleanup:
    return rc;
}

int scep_store_challenge_new(char out[SCEP_CHALLENGE_LEN + 1], int64_t *out_expires_at,
                             scep_store *store, const char *alias, int64_t ttl_seconds,
                             const char *subject_pattern)
{
    int rc = SCEP_OK;
    unsigned char random[SCEP_CHALLENGE_LEN / 2];
    static const char hex[] = "0123456789abcdef";
    ENSURE(out != NULL && ttl_seconds > 0, SCEP_EINVAL, "challenge: bad argument");
    out[0] = '\0';
    ENSURE_OSSL(RAND_bytes(random, sizeof(random)) == 1, SCEP_ECRYPTO,
                "no randomness for the challenge");
    for (size_t i = 0; i < sizeof(random); i++) {
        out[2 * i] = hex[random[i] >> 4];
        out[2 * i + 1] = hex[random[i] & 0x0f];
    }
    out[SCEP_CHALLENGE_LEN] = '\0';
    int64_t expires_at = now_seconds() + ttl_seconds;
    rc = scep_store_challenge_add(store, alias, out, expires_at, subject_pattern);
    if (rc < 0) {
        OPENSSL_cleanse(out, SCEP_CHALLENGE_LEN + 1);
        goto cleanup;
    }
    if (out_expires_at != NULL)
        *out_expires_at = expires_at;
cleanup:
    OPENSSL_cleanse(random, sizeof(random));
    return rc;
}

int scep_store_challenge_add(scep_store *store, const char *alias, const char *challenge,
                             int64_t expires_at, const char *subject_pattern)
{
    int rc = SCEP_OK;
    unsigned char hash[SCEP_STORE_HASH_LEN];
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(alias, 1, "alias"));
    GUARD(check_text(subject_pattern, 0, "subject pattern"));
    GUARD(challenge_hash(hash, challenge));
    GUARD(
        store->ops->challenge_add(store, alias, hash, expires_at, subject_pattern, now_seconds()));
cleanup:
    return rc;
}

/*
 * In one write transaction: the stored hash is compared with CRYPTO_memcmp, then the
 * alias, the use and the expiry are checked before the challenge is consumed.
 */
static int challenge_consume(char **out_subject_pattern, scep_store *store, const char *alias,
                             const unsigned char hash[SCEP_STORE_HASH_LEN], int64_t now)
{
    int rc = SCEP_OK;
    int in_tx = 0;
    int found = 0;
    int changed = 0;
    struct scep_store_challenge_row row;
    memset(&row, 0, sizeof(row));

    GUARD(store->ops->begin_write(store));
    in_tx = 1;
    GUARD(store->ops->challenge_find(&row, &found, store, hash));
    ENSURE(found, SCEP_EDENIED, "challenge password not recognised");
    ENSURE(row.hash_len == SCEP_STORE_HASH_LEN &&
               CRYPTO_memcmp(row.hash, hash, SCEP_STORE_HASH_LEN) == 0,
           SCEP_EDENIED, "challenge password not recognised");
    ENSURE(row.alias != NULL && strcmp(row.alias, alias) == 0, SCEP_EDENIED,
           "challenge password not recognised for alias '%s'", alias);
    ENSURE(!row.used, SCEP_ESTATE, "challenge password already used");
    ENSURE(row.expires_at > now, SCEP_EDENIED, "challenge password expired");
    GUARD(store->ops->challenge_mark_used(&changed, store, row.id, now));
    ENSURE(changed, SCEP_ESTATE, "challenge password already used");
    GUARD(store->ops->commit(store));
    in_tx = 0;
    *out_subject_pattern = row.subject_pattern;
    row.subject_pattern = NULL;
cleanup:
    if (in_tx)
        store->ops->rollback(store);
    OPENSSL_free(row.alias);
    OPENSSL_free(row.subject_pattern);
    OPENSSL_cleanse(row.hash, sizeof(row.hash));
    return rc;
}

int scep_store_challenge_consume(char **out_subject_pattern, scep_store *store, const char *alias,
                                 const char *challenge)
{
    int rc = SCEP_OK;
    unsigned char hash[SCEP_STORE_HASH_LEN];
    char *pattern = NULL;
    if (out_subject_pattern != NULL)
        *out_subject_pattern = NULL;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(alias, 1, "alias"));
    GUARD(challenge_hash(hash, challenge));
    GUARD(challenge_consume(&pattern, store, alias, hash, now_seconds()));
    if (out_subject_pattern != NULL) {
        *out_subject_pattern = pattern;
        pattern = NULL;
    }
cleanup:
    OPENSSL_free(pattern);
    return rc;
}

int scep_store_challenge_purge_expired(size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    size_t count = 0;
    if (out_count != NULL)
        *out_count = 0;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(store->ops->challenge_purge_expired(&count, store, now_seconds()));
    if (out_count != NULL)
        *out_count = count;
cleanup:
    return rc;
}

int scep_store_request_purge(size_t *out_count, scep_store *store, int64_t before, unsigned flags)
{
    int rc = SCEP_OK;
    size_t count = 0;
    if (out_count != NULL)
        *out_count = 0;
    ENSURE(store != NULL, SCEP_EINVAL, "store: NULL argument");
    ENSURE((flags & ~(unsigned)SCEP_STORE_PURGE_ISSUED) == 0, SCEP_EINVAL,
           "store: unknown request purge flags %#x", flags);
    GUARD(store->ops->request_purge(&count, store, before, flags));
    if (out_count != NULL)
        *out_count = count;
cleanup:
    return rc;
}

/* ---- audit ---------------------------------------------------------------------------- */

int scep_store_audit_append(scep_store *store, const scep_store_audit_event *event)
{
    int rc = SCEP_OK;
    int in_tx = 0;
    ENSURE(store != NULL && event != NULL, SCEP_EINVAL, "store: NULL argument");
    GUARD(check_text(event->actor, 1, "audit actor"));
    GUARD(check_text(event->action, 1, "audit action"));
    GUARD(check_text(event->alias, 0, "audit alias"));
    GUARD(check_text(event->transaction_id, 0, "audit transactionID"));
    GUARD(check_text(event->outcome, 1, "audit outcome"));
    GUARD(check_text(event->detail, 0, "audit detail"));
    scep_store_audit_event row = *event;
    row.id = 0;
    row.prev_hash = NULL;
    row.hash = NULL;
    if (row.time == 0)
        row.time = now_seconds();
    GUARD(store->ops->begin_write(store));
    in_tx = 1;
    GUARD(scep_store_audit_append_in_tx(store, &row));
    GUARD(store->ops->commit(store));
    in_tx = 0;
cleanup:
    if (in_tx)
        store->ops->rollback(store);
    return rc;
}

int scep_store_audit_list_since(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                                int64_t since, size_t limit)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    if (limit == 0 || limit > SCEP_STORE_MAX_LIST)
        limit = SCEP_STORE_MAX_LIST;
    GUARD(store->ops->audit_list(out, out_count, store, since, limit));
cleanup:
    return rc;
}

int scep_store_audit_page(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                          int64_t before_id, size_t limit)
{
    int rc = SCEP_OK;
    GUARD(check_list_out(out, out_count, store));
    *out = NULL;
    *out_count = 0;
    ENSURE(before_id >= 0, SCEP_EINVAL, "an audit page starts below a positive id");
    if (before_id == 0)
        before_id = INT64_MAX;
    if (limit == 0 || limit > SCEP_STORE_MAX_LIST)
        limit = SCEP_STORE_MAX_LIST;
    GUARD(store->ops->audit_page(out, out_count, store, before_id, limit));
cleanup:
    return rc;
}

int scep_store_audit_list(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                          size_t limit)
{
    return scep_store_audit_list_since(out, out_count, store, INT64_MIN, limit);
}
