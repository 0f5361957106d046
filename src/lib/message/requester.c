/*
 * What a requester needs before it can send its first message: a
 * self-signed signer certificate (RFC 8894 §2.3) and a transactionID.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/rand.h>

int scep_self_signed_signer(X509 **out, EVP_PKEY *key, const X509_REQ *csr, scep_digest digest,
                            int days)
{
    int rc = SCEP_OK;
    X509 *cert = NULL;
    BIGNUM *bn = NULL;
    const EVP_MD *md = NULL;
    unsigned char serial[16];

    ENSURE(out != NULL && key != NULL && csr != NULL, SCEP_EINVAL,
           "key and certificate request are required");
    ENSURE(days > 0 && days <= 36500, SCEP_EINVAL, "validity must be 1 to 36500 days");
    const X509_NAME *subject = X509_REQ_get_subject_name(csr);
    /* RFC 8894 §3.3.1: the request carries the subject DN the signer repeats. */
    ENSURE(subject != NULL && X509_NAME_entry_count(subject) > 0, SCEP_EINVAL,
           "the certificate request has an empty subject");
    GUARD(scep_digest_md(&md, digest, 0));

    cert = X509_new();
    ENSURE_ALLOC(cert);
    ENSURE_OSSL(X509_set_version(cert, X509_VERSION_3) == 1, SCEP_ECRYPTO, "version");
    ENSURE_OSSL(RAND_bytes(serial, sizeof(serial)) == 1, SCEP_ECRYPTO, "random serial");
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ENSURE_ALLOC(bn);
    ENSURE_OSSL(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL, SCEP_ECRYPTO,
                "serial");
    ENSURE_OSSL(X509_set_subject_name(cert, subject) == 1, SCEP_ECRYPTO, "subject");
    ENSURE_OSSL(X509_set_issuer_name(cert, subject) == 1, SCEP_ECRYPTO, "issuer");
    /* Backdated an hour for servers whose clock runs behind. */
    ENSURE_OSSL(X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL, SCEP_ECRYPTO,
                "notBefore");
    ENSURE_OSSL(X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) != NULL, SCEP_ECRYPTO,
                "notAfter");
    ENSURE_OSSL(X509_set_pubkey(cert, key) == 1, SCEP_ECRYPTO, "public key");
    ENSURE_OSSL(X509_sign(cert, key, md) > 0, SCEP_ECRYPTO,
                "cannot sign the self-signed certificate");
    *out = cert;
    cert = NULL;

cleanup:
    BN_free(bn);
    X509_free(cert);
    return rc;
}

int scep_transaction_id_from_key(char **out, EVP_PKEY *key)
{
    int rc = SCEP_OK;
    unsigned char *spki = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    static const char hex[] = "0123456789ABCDEF";

    ENSURE(out != NULL && key != NULL, SCEP_EINVAL, "key required");
    int len = i2d_PUBKEY(key, &spki);
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the public key");
    ENSURE_OSSL(EVP_Digest(spki, (size_t)len, digest, &digest_len, EVP_sha256(), NULL) == 1,
                SCEP_ECRYPTO, "SHA-256");
    char *text = OPENSSL_malloc(digest_len * 2 + 1);
    ENSURE_ALLOC(text);
    for (unsigned int i = 0; i < digest_len; i++) {
        text[2 * i] = hex[digest[i] >> 4];
        text[2 * i + 1] = hex[digest[i] & 0xf];
    }
    text[digest_len * 2] = '\0';
    *out = text;

cleanup:
    OPENSSL_free(spki);
    return rc;
}
