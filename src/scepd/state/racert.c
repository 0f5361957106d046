/*
 * RA certificates for an alias (racert.h): loading and checking them, the
 * GetCACert body that lists them first, and the choice of the reply signer.
 */
#include "scepd/state/racert.h"
#include "scepd/log.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static int load_pair(X509 **out_cert, EVP_PKEY **out_key, const struct scepd_alias *alias,
                     const char *cert_path, const char *key_path, const char *what)
{
    int rc = SCEP_OK;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    /* A relay alias has no CA here: the CA node checks what it serves (relay/). */
    X509 *ca_cert = alias->ca != NULL ? scep_ca_cert(alias->ca->ca) : NULL;

    if (key_path == NULL || key_path[0] == '\0')
        return scep_fail(SCEP_ECONFIG, "alias %s: %s is set but its key is not", alias->name, what);
    /* As for CA keys: 0600 and ours, or scepd refuses to serve with it. */
    if (scep_key_open(&key, key_path, SCEP_KEY_OPEN_CHECK_FILE) < 0) {
        rc = scep_fail(SCEP_ECONFIG, "alias %s: %s key: %s", alias->name, what,
                       scep_error_message());
        goto cleanup;
    }
    if (scep_cert_load(&cert, cert_path) < 0) {
        rc = scep_fail(SCEP_ECONFIG, "alias %s: %s: %s", alias->name, what, scep_error_message());
        goto cleanup;
    }
    ENSURE(X509_check_private_key(cert, key) == 1, SCEP_ECONFIG,
           "alias %s: %s %s: the key %s does not match it", alias->name, what, cert_path, key_path);
    ENSURE(ca_cert == NULL || (X509_check_issued(ca_cert, cert) == X509_V_OK &&
                               X509_verify(cert, X509_get0_pubkey(ca_cert)) == 1),
           SCEP_ECONFIG, "alias %s: %s %s was not issued by the alias's CA %s", alias->name, what,
           cert_path, alias->ca->name);
    *out_cert = cert;
    *out_key = key;
    cert = NULL;
    key = NULL;

cleanup:
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* interop.md §13, §17: warn, do not refuse. keyUsage absent means every usage. */
static void warn_key_usage(const struct scepd_alias *alias, X509 *cert, uint32_t needed,
                           const char *what)
{
    uint32_t ku = X509_get_key_usage(cert);
    if ((needed & KU_DIGITAL_SIGNATURE) && !(ku & KU_DIGITAL_SIGNATURE))
        scepd_log(SCEPD_LOG_WARN,
                  "event=ra_warning alias=%s warning=\"%s lacks keyUsage digitalSignature: "
                  "clients cannot verify replies signed with it\"",
                  alias->name, what);
    if ((needed & KU_KEY_ENCIPHERMENT) && !(ku & KU_KEY_ENCIPHERMENT))
        scepd_log(SCEPD_LOG_WARN,
                  "event=ra_warning alias=%s warning=\"%s lacks keyUsage keyEncipherment: "
                  "clients may refuse to encrypt to it\"",
                  alias->name, what);
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=ra_warning alias=%s warning=\"%s has expired\"",
                  alias->name, what);
}

int scepd_racert_load(struct scepd_alias *alias)
{
    int rc = SCEP_OK;
    const struct scep_config_alias_settings *s = alias->settings;
    struct scepd_racert *ra = NULL;
    int has_cert = s->ra_cert != NULL && s->ra_cert[0] != '\0';
    int has_sign = s->ra_signcert != NULL && s->ra_signcert[0] != '\0';

    alias->ra = NULL;
    if (!has_cert) {
        ENSURE(!has_sign, SCEP_ECONFIG,
               "alias %s: ra.signcert needs ra.cert (the encryption RA certificate)", alias->name);
        return SCEP_OK;
    }
    ra = calloc(1, sizeof(*ra));
    ENSURE_ALLOC(ra);
    GUARD(load_pair(&ra->enc_cert, &ra->enc_key, alias, s->ra_cert, s->ra_key,
                    has_sign ? "ra.cert (encryption RA certificate)" : "ra.cert"));
    ENSURE(EVP_PKEY_is_a(ra->enc_key, "RSA"), SCEP_ECONFIG,
           "alias %s: ra.cert: SCEP clients encrypt with RSA key transport; the RA key must "
           "be RSA",
           alias->name);
    if (has_sign) {
        GUARD(load_pair(&ra->sign_cert, &ra->sign_key, alias, s->ra_signcert, s->ra_signkey,
                        "ra.signcert (signing RA certificate)"));
        warn_key_usage(alias, ra->enc_cert, KU_KEY_ENCIPHERMENT, "RA encryption certificate");
        warn_key_usage(alias, ra->sign_cert, KU_DIGITAL_SIGNATURE, "RA signing certificate");
    } else {
        ENSURE(X509_up_ref(ra->enc_cert) == 1 && EVP_PKEY_up_ref(ra->enc_key) == 1, SCEP_ECRYPTO,
               "cannot reference the RA certificate");
        ra->sign_cert = ra->enc_cert;
        ra->sign_key = ra->enc_key;
        /* Windows wants both on a single RA certificate (interop.md §13). */
        warn_key_usage(alias, ra->enc_cert, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT,
                       "RA certificate");
    }
    alias->ra = ra;
    ra = NULL;
    scepd_log(SCEPD_LOG_INFO, "event=ra_loaded alias=%s split=%s", alias->name,
              has_sign ? "yes" : "no");

cleanup:
    scepd_racert_free(ra);
    return rc;
}

void scepd_racert_free(struct scepd_racert *ra)
{
    if (ra == NULL)
        return;
    X509_free(ra->enc_cert);
    EVP_PKEY_free(ra->enc_key);
    X509_free(ra->sign_cert);
    EVP_PKEY_free(ra->sign_key);
    free(ra);
}

int scepd_racert_ca_cert_body(unsigned char **out, size_t *out_len, const char **out_type,
                              const struct scepd_racert *ra, const scep_ca *ca, int includeroot)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *chain = scep_ca_chain(ca);
    STACK_OF(X509) *bundle = sk_X509_new_null();
    ENSURE_ALLOC(bundle);
    /* interop.md §13, §14: the RA certificates first (the one to encrypt to leading),
     * then the CA, which clients need to verify them. */
    ENSURE(sk_X509_push(bundle, ra->enc_cert) > 0, SCEP_ENOMEM, "out of memory");
    if (ra->sign_cert != ra->enc_cert)
        ENSURE(sk_X509_push(bundle, ra->sign_cert) > 0, SCEP_ENOMEM, "out of memory");
    ENSURE(sk_X509_push(bundle, scep_ca_cert(ca)) > 0, SCEP_ENOMEM, "out of memory");
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *link = sk_X509_value(chain, i);
        if (!includeroot && X509_check_issued(link, link) == X509_V_OK)
            continue;
        ENSURE(sk_X509_push(bundle, link) > 0, SCEP_ENOMEM, "out of memory");
    }
    GUARD(scep_certs_only_build(out, out_len, bundle, NULL));
    *out_type = "application/x-x509-ca-ra-cert";

cleanup:
    sk_X509_free(bundle);
    return rc;
}
