/*
 * CA rollover (RFC 8894 §4.7): the next certificate and key, loaded with the
 * generation, become active at their activation time, checked per request
 * against the time the caller passes. GetNextCACert is an operation (ops/cacert.c).
 */
#include "scepd/state/rollover.h"
#include "scepd/log.h"
#include "util/error_internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const struct scepd_rollover *rollover_of(const struct scepd_generation *generation,
                                                const struct scepd_ca *ca)
{
    for (size_t i = 0; generation != NULL && i < generation->rollover_count; i++)
        if (generation->rollovers[i].ca == ca)
            return &generation->rollovers[i];
    return NULL;
}

static int is_active(const struct scepd_rollover *rollover, time_t now)
{
    return rollover != NULL && rollover->next != NULL && rollover->activate_at > 0 &&
           now >= rollover->activate_at;
}

const scep_ca *scepd_ca_active(const struct scepd_generation *generation, const struct scepd_ca *ca,
                               time_t now)
{
    const struct scepd_rollover *rollover = rollover_of(generation, ca);
    return is_active(rollover, now) ? rollover->next : ca->ca;
}

X509 *scepd_ca_announced_next(const struct scepd_generation *generation, const struct scepd_ca *ca,
                              time_t now)
{
    const struct scepd_rollover *rollover = rollover_of(generation, ca);
    if (rollover == NULL || is_active(rollover, now))
        return NULL;
    return rollover->next_cert;
}

size_t scepd_ca_keys(const scep_ca **out, size_t max, const struct scepd_generation *generation,
                     const struct scepd_ca *ca, time_t now)
{
    const struct scepd_rollover *rollover = rollover_of(generation, ca);
    size_t n = 0;
    const scep_ca *active = scepd_ca_active(generation, ca, now);
    if (n < max)
        out[n++] = active;
    if (rollover != NULL && rollover->next != NULL && n < max)
        out[n++] = active == ca->ca ? rollover->next : ca->ca;
    return n;
}

const scep_ca *scepd_ca_issuer_of(const struct scepd_generation *generation,
                                  const struct scepd_ca *ca, time_t now, X509 *cert)
{
    const scep_ca *keys[2];
    size_t n = scepd_ca_keys(keys, 2, generation, ca, now);
    for (size_t i = 0; i < n; i++) {
        /* Same subject for both keys: only the signature tells them apart. */
        if (X509_verify(cert, X509_get0_pubkey(scep_ca_cert(keys[i]))) == 1)
            return keys[i];
    }
    ERR_clear_error();
    return NULL;
}

int scepd_ca_cert_body(unsigned char **out, size_t *out_len, const char **out_type,
                       const scep_ca *ca, int includeroot)
{
    int rc = SCEP_OK;
    X509 *cert = scep_ca_cert(ca);
    STACK_OF(X509) *chain = scep_ca_chain(ca);
    STACK_OF(X509) *bundle = sk_X509_new_null();
    ENSURE_ALLOC(bundle);
    sk_X509_push(bundle, cert);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *link = sk_X509_value(chain, i);
        if (!includeroot && X509_check_issued(link, link) == X509_V_OK)
            continue;
        sk_X509_push(bundle, link);
    }
    if (sk_X509_num(bundle) == 1) {
        unsigned char *der = NULL;
        int len = i2d_X509(cert, &der);
        ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the CA certificate");
        *out = der;
        *out_len = (size_t)len;
        *out_type = "application/x-x509-ca-cert";
    } else {
        GUARD(scep_certs_only_build(out, out_len, bundle, NULL));
        *out_type = "application/x-x509-ca-ra-cert";
    }
cleanup:
    sk_X509_free(bundle);
    return rc;
}

/* ---- loading ---- */

static int pem_cert(X509 **out, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (*out == NULL)
        return scep_fail_ossl(SCEP_ESTORE, "the stored next certificate is not PEM");
    return SCEP_OK;
}

static int load_one(struct scepd_rollover *out, const struct scepd_ca *ca, const scep_store_ca *row)
{
    int rc = SCEP_OK;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *chain = NULL;
    unsigned warnings = 0;

    out->ca = ca;
    if (row->next_cert_pem == NULL)
        return SCEP_OK;
    GUARD(pem_cert(&out->next_cert, row->next_cert_pem));
    if (row->next_key_ref == NULL || row->next_activate_at <= 0)
        return SCEP_OK; /* announced only (scep_store_ca_set_next_cert) */
    /* As for the current key: a file 0600 and ours, or scepd does not serve with it. */
    GUARD(scep_key_open(&key, row->next_key_ref, SCEP_KEY_OPEN_CHECK_FILE));
    ENSURE(X509_NAME_cmp(X509_get_subject_name(out->next_cert),
                         X509_get_subject_name(scep_ca_cert(ca->ca))) == 0,
           SCEP_ECONFIG, "the next certificate's subject differs from the CA's (RFC 8894 §4.7)");
    /* A new root stands alone; an externally issued next certificate has the old parents. */
    chain = X509_check_issued(out->next_cert, out->next_cert) == X509_V_OK
                ? sk_X509_new_null()
                : X509_chain_up_ref(scep_ca_chain(ca->ca));
    ENSURE_ALLOC(chain);
    GUARD(scep_ca_new(&out->next, &warnings, out->next_cert, key, chain));
    out->activate_at = (time_t)row->next_activate_at;
    for (unsigned bit = 1; bit != 0 && bit <= warnings; bit <<= 1)
        if (warnings & bit)
            scepd_log(SCEPD_LOG_WARN, "event=ca_warning ca=%s certificate=next warning=\"%s\"",
                      ca->name, scep_ca_warning_text(bit));
cleanup:
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

int scepd_rollover_load(struct scepd_generation *generation, struct scepd_server *server)
{
    int rc = SCEP_OK;
    scep_store *store = NULL;
    scep_store_ca *row = NULL;

    generation->rollovers =
        calloc(generation->ca_count ? generation->ca_count : 1, sizeof(*generation->rollovers));
    ENSURE_ALLOC(generation->rollovers);
    GUARD(scepd_server_store(&store, server));
    for (size_t i = 0; i < generation->ca_count; i++) {
        const struct scepd_ca *ca = &generation->cas[i];
        GUARD(scep_store_ca_get(&row, store, ca->name));
        rc = load_one(&generation->rollovers[i], ca, row);
        generation->rollover_count++;
        if (rc < 0) {
            rc = scep_fail(rc, "CA %s: next certificate: %s", ca->name, scep_error_message());
            goto cleanup;
        }
        if (generation->rollovers[i].next != NULL)
            scepd_log(SCEPD_LOG_INFO, "event=rollover_loaded ca=%s activate_at=%lld", ca->name,
                      (long long)generation->rollovers[i].activate_at);
        scep_store_ca_free(row);
        row = NULL;
    }
cleanup:
    scep_store_ca_free(row);
    return rc;
}

void scepd_rollover_free(struct scepd_generation *generation)
{
    for (size_t i = 0; i < generation->rollover_count; i++) {
        X509_free(generation->rollovers[i].next_cert);
        scep_ca_free(generation->rollovers[i].next);
    }
    free(generation->rollovers);
    generation->rollovers = NULL;
    generation->rollover_count = 0;
}
