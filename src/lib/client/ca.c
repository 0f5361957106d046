/*
 * GetCACert replies (RFC 8894 §4.2): one DER CA certificate, or a certs-only
 * bundle of CA and RA certificates; choosing which certificate encrypts and
 * which signs, and checking the CA against the caller's verifier.
 */
#include "client/client_internal.h"
#include "util/error_internal.h"

#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <strings.h>

void scep_ca_certs_free(scep_ca_certs *certs)
{
    if (certs == NULL)
        return;
    sk_X509_pop_free(certs->all, X509_free);
    sk_X509_free(certs->trusted_signers);
    OPENSSL_free(certs);
}

X509 *scep_ca_certs_ca(const scep_ca_certs *certs)
{
    return certs ? certs->ca : NULL;
}

X509 *scep_ca_certs_encryption(const scep_ca_certs *certs)
{
    return certs ? certs->encryption : NULL;
}

X509 *scep_ca_certs_signer(const scep_ca_certs *certs)
{
    return certs ? certs->signer : NULL;
}

STACK_OF(X509) * scep_ca_certs_all(const scep_ca_certs *certs)
{
    return certs ? certs->all : NULL;
}

static int is_ca(X509 *cert)
{
    return X509_check_ca(cert) != 0;
}

static int issued_by(X509 *cert, X509 *issuer)
{
    if (X509_check_issued(issuer, cert) != X509_V_OK)
        return 0;
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    return key != NULL && X509_verify(cert, key) == 1;
}

static int has_usage(X509 *cert, uint32_t usage)
{
    /* X509_get_key_usage returns all bits when the extension is absent. */
    return (X509_get_key_usage(cert) & usage) != 0;
}

/*
 * Picks the SCEP CA, the encryption and the signing certificates. RA
 * certificates are the non-CA certificates issued by the CA; with none, the
 * CA does both jobs (interop.md §13).
 */
static int classify(scep_ca_certs *set)
{
    int rc = SCEP_OK;
    int n = sk_X509_num(set->all);
    X509 *ca = NULL;

    /* The CA that issued an RA certificate; otherwise the lowest CA in the bundle. */
    for (int i = 0; i < n && ca == NULL; i++) {
        X509 *ra = sk_X509_value(set->all, i);
        if (is_ca(ra))
            continue;
        for (int j = 0; j < n; j++) {
            X509 *cand = sk_X509_value(set->all, j);
            if (cand != ra && is_ca(cand) && issued_by(ra, cand)) {
                ca = cand;
                break;
            }
        }
    }
    for (int i = 0; i < n && ca == NULL; i++) {
        X509 *cand = sk_X509_value(set->all, i);
        if (!is_ca(cand))
            continue;
        int issues_another_ca = 0;
        for (int j = 0; j < n; j++) {
            X509 *other = sk_X509_value(set->all, j);
            if (other != cand && is_ca(other) && X509_cmp(other, cand) != 0 &&
                issued_by(other, cand))
                issues_another_ca = 1;
        }
        if (!issues_another_ca)
            ca = cand;
    }
    if (ca == NULL && n == 1)
        ca = sk_X509_value(set->all, 0); /* a lone certificate without basicConstraints */
    ENSURE(ca != NULL, SCEP_EVERIFY, "GetCACert reply holds no CA certificate");
    set->ca = ca;

    set->trusted_signers = sk_X509_new_null();
    ENSURE_ALLOC(set->trusted_signers);
    for (int i = 0; i < n; i++) {
        X509 *ra = sk_X509_value(set->all, i);
        if (ra == ca || is_ca(ra) || !issued_by(ra, ca))
            continue;
        if (set->encryption == NULL && has_usage(ra, KU_KEY_ENCIPHERMENT) &&
            EVP_PKEY_get_base_id(X509_get0_pubkey(ra)) == EVP_PKEY_RSA)
            set->encryption = ra;
        if (has_usage(ra, KU_DIGITAL_SIGNATURE)) {
            if (set->signer == NULL)
                set->signer = ra;
            ENSURE_ALLOC(sk_X509_push(set->trusted_signers, ra) > 0 ? set : NULL);
        }
    }
    if (set->encryption == NULL)
        set->encryption = ca;
    if (set->signer == NULL)
        set->signer = ca;
    ENSURE_ALLOC(sk_X509_push(set->trusted_signers, ca) > 0 ? set : NULL);

cleanup:
    return rc;
}

int scep_ca_certs_from_reply(scep_ca_certs **out, const char *content_type,
                             const unsigned char *body, size_t body_len, size_t max_size)
{
    int rc = SCEP_OK;
    scep_ca_certs *set = NULL;
    X509 *cert = NULL;

    ENSURE(out != NULL, SCEP_EINVAL, "output pointer missing");
    *out = NULL;
    ENSURE(body != NULL && body_len > 0, SCEP_EMALFORMED, "GetCACert reply is empty");
    set = OPENSSL_zalloc(sizeof(*set));
    ENSURE_ALLOC(set);

    int ra_bundle =
        content_type != NULL && strncasecmp(content_type, "application/x-x509-ca-ra-cert", 29) == 0;
    if (!ra_bundle) {
        /* application/x-x509-ca-cert: one DER certificate (PEM tolerated). */
        const unsigned char *p = body;
        cert = d2i_X509(NULL, &p, (long)body_len);
        if (cert != NULL && p != body + body_len) {
            X509_free(cert);
            cert = NULL;
        }
        if (cert == NULL) {
            BIO *bio = BIO_new_mem_buf(body, (int)body_len);
            ENSURE_ALLOC(bio);
            cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            BIO_free(bio);
        }
    }
    if (cert != NULL) {
        set->all = sk_X509_new_null();
        ENSURE_ALLOC(set->all);
        ENSURE_ALLOC(sk_X509_push(set->all, cert) > 0 ? set : NULL);
        cert = NULL;
    } else {
        /* Some servers send a bundle under the CA-only type; accept it either way. */
        GUARD(scep_certs_only_parse(&set->all, NULL, body, body_len, max_size));
        ENSURE(sk_X509_num(set->all) > 0, SCEP_EMALFORMED, "GetCACert bundle is empty");
    }
    GUARD(classify(set));
    *out = set;
    set = NULL;

cleanup:
    X509_free(cert);
    scep_ca_certs_free(set);
    return rc;
}

int scep_ca_certs_dup(scep_ca_certs **out, const scep_ca_certs *in)
{
    int rc = SCEP_OK;
    scep_ca_certs *set = OPENSSL_zalloc(sizeof(*set));
    ENSURE_ALLOC(set);
    set->all = X509_chain_up_ref(in->all);
    ENSURE_ALLOC(set->all);
    set->trusted_signers = sk_X509_dup(in->trusted_signers);
    ENSURE_ALLOC(set->trusted_signers);
    set->ca = in->ca;
    set->encryption = in->encryption;
    set->signer = in->signer;
    *out = set;
    set = NULL;

cleanup:
    scep_ca_certs_free(set);
    return rc;
}

int scep_client_verify_ca(const scep_client *client, const scep_ca_certs *certs)
{
    int rc = SCEP_OK;
    if (client->pinned_ca != NULL) {
        if (X509_cmp(client->pinned_ca, certs->ca) == 0)
            return SCEP_OK;
        /* A pinned root that issued the SCEP CA and came in the same bundle. */
        int found = 0;
        for (int i = 0; i < sk_X509_num(certs->all); i++)
            if (X509_cmp(sk_X509_value(certs->all, i), client->pinned_ca) == 0)
                found = 1;
        ENSURE(found && issued_by(certs->ca, client->pinned_ca), SCEP_EVERIFY,
               "the server's CA certificate is not the configured one");
        return SCEP_OK;
    }
    if (client->ca_fingerprint != NULL) {
        rc =
            scep_cert_check_fingerprint(certs->ca, client->ca_fingerprint, client->fingerprint_alg);
        if (rc == SCEP_EVERIFY) {
            char *got = NULL;
            if (scep_cert_fingerprint(&got, certs->ca, client->fingerprint_alg) == SCEP_OK) {
                rc = scep_fail(SCEP_EVERIFY,
                               "CA certificate fingerprint mismatch: expected %s, server sent %s",
                               client->ca_fingerprint, got);
                OPENSSL_free(got);
            }
        }
        return rc;
    }
    if (client->verify_ca != NULL) {
        ENSURE(client->verify_ca(certs->ca, certs->all, client->verify_ca_payload) == 0,
               SCEP_EVERIFY, "the CA certificate was refused by the verification callback");
        return SCEP_OK;
    }
    ENSURE(client->insecure_accept_any_ca, SCEP_EVERIFY, "no CA verifier configured");

cleanup:
    return rc;
}
