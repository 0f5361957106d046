/*
 * The current CRL of a CA: served from the store while current, regenerated
 * and stored otherwise (crl/publish.h).
 */
#include "crl/publish.h"
#include "util/error_internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* RFC 5280 §5.3.1; 7 is not used. */
static const char *const reason_names[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
};
#define REASON_COUNT ((int)(sizeof(reason_names) / sizeof(reason_names[0])))

int scep_crl_reason_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < REASON_COUNT; i++)
        if (reason_names[i] != NULL && strcasecmp(name, reason_names[i]) == 0)
            return i;
    return -1;
}

const char *scep_crl_reason_name(int reason)
{
    if (reason == SCEP_STORE_NO_REASON)
        return reason_names[0];
    return reason >= 0 && reason < REASON_COUNT ? reason_names[reason] : NULL;
}

const char *scep_crl_reason_names(void)
{
    return "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
           "cessationOfOperation, certificateHold, removeFromCRL, privilegeWithdrawn, "
           "aACompromise";
}

int scep_crl_is_current(const scep_store_crl *crl, int64_t revoked_count,
                        const struct scep_crl_timing *timing, int64_t now)
{
    if (crl == NULL || crl->revoked_count != revoked_count)
        return 0;
    int64_t before = timing->regenerate_before;
    if (before > timing->validity / 2)
        before = timing->validity / 2;
    return now >= crl->this_update && now < crl->next_update - before;
}

struct crl_job {
    const scep_ca *ca;
    const struct scep_crl_timing *timing;
    int64_t now;
};

static int job_fresh(const scep_store_crl *latest, int64_t revoked_count, void *payload)
{
    const struct crl_job *job = payload;
    return scep_crl_is_current(latest, revoked_count, job->timing, job->now);
}

/* Signs the CRL over the store's revocations (called inside the store's write transaction). */
static int job_sign(scep_store_crl *crl, const scep_store_revoked *revoked, size_t count,
                    void *payload)
{
    const struct crl_job *job = payload;
    int rc = SCEP_OK;
    scep_crl_entry *entries = NULL;
    ASN1_INTEGER **serials = NULL;
    X509_CRL *signed_crl = NULL;
    unsigned char *der = NULL;

    entries = calloc(count ? count : 1, sizeof(*entries));
    serials = calloc(count ? count : 1, sizeof(*serials));
    ENSURE_ALLOC(entries);
    ENSURE_ALLOC(serials);
    for (size_t i = 0; i < count; i++) {
        GUARD(scep_serial_from_hex(&serials[i], revoked[i].serial));
        entries[i].serial = serials[i];
        entries[i].revocation_time = (time_t)revoked[i].revoked_at;
        entries[i].reason = revoked[i].reason >= 0 ? (scep_crl_reason)revoked[i].reason
                                                   : SCEP_CRL_REASON_UNSPECIFIED;
    }
    crl->this_update = job->now;
    crl->next_update = job->now + job->timing->validity;
    scep_crl_params params = {
        .crl_number = (uint64_t)crl->crl_number,
        .this_update = (time_t)crl->this_update,
        .next_update = (time_t)crl->next_update,
    };
    GUARD(scep_ca_crl(&signed_crl, job->ca, entries, count, &params));
    int len = i2d_X509_CRL(signed_crl, &der);
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the CRL");
    crl->der = der;
    crl->der_len = (size_t)len;

cleanup:
    X509_CRL_free(signed_crl);
    for (size_t i = 0; serials != NULL && i < count; i++)
        ASN1_INTEGER_free(serials[i]);
    free(serials);
    free(entries);
    return rc;
}

int scep_crl_current(scep_store_crl **out, int *out_generated, scep_store *store,
                     const char *ca_name, const scep_ca *ca, const struct scep_crl_timing *timing,
                     int force)
{
    int rc = SCEP_OK;
    scep_store_crl *stored = NULL;
    int64_t revoked_count = 0;
    ENSURE(out != NULL && store != NULL && ca_name != NULL && ca != NULL && timing != NULL,
           SCEP_EINVAL, "scep_crl_current: NULL argument");
    ENSURE(timing->validity > 0 && timing->regenerate_before >= 0, SCEP_EINVAL,
           "CRL validity must be positive");
    *out = NULL;
    if (out_generated != NULL)
        *out_generated = 0;
    struct crl_job job = {.ca = ca, .timing = timing, .now = (int64_t)time(NULL)};

    /* The common case, without the write lock: the stored CRL is still current. */
    if (!force) {
        rc = scep_store_crl_get(&stored, store, ca_name);
        if (rc != SCEP_ENOTFOUND)
            GUARD(rc);
        rc = SCEP_OK;
        GUARD(scep_store_cert_count_revoked(&revoked_count, store, ca_name));
        if (scep_crl_is_current(stored, revoked_count, timing, job.now)) {
            *out = stored;
            stored = NULL;
            goto cleanup;
        }
    }
    GUARD(scep_store_crl_publish(out, out_generated, store, ca_name, force ? NULL : job_fresh,
                                 job_sign, &job));
cleanup:
    scep_store_crl_free(stored);
    return rc;
}

static int chain_from_pem(STACK_OF(X509) * *out, const char *pem)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (chain == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    if (pem != NULL && pem[0] != '\0') {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *cert = NULL;
        /* Bounded by the PEM text itself; the store caps it at SCEP_STORE_MAX_TEXT. */
        while (bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            if (sk_X509_push(chain, cert) <= 0)
                X509_free(cert);
        BIO_free(bio);
        ERR_clear_error();
    }
    *out = chain;
    return SCEP_OK;
}

int scep_crl_load_ca(scep_ca **out, const scep_store_ca *row)
{
    int rc = SCEP_OK;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *chain = NULL;
    ENSURE(out != NULL && row != NULL && row->key_ref != NULL && row->cert_pem != NULL, SCEP_EINVAL,
           "scep_crl_load_ca: NULL argument");
    GUARD(scep_key_open(&key, row->key_ref, SCEP_KEY_OPEN_CHECK_FILE));
    GUARD(scep_cert_decode(&cert, (const unsigned char *)row->cert_pem, strlen(row->cert_pem)));
    GUARD(chain_from_pem(&chain, row->chain_pem));
    GUARD(scep_ca_new(out, NULL, cert, key, chain));
cleanup:
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}
