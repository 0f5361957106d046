/*
 * The pkcsPKIEnvelope (RFC 8894 §3.2.2): CMS EnvelopedData with RSA key
 * transport. Output uses PKCS#1 v1.5, as every SCEP peer can read it; input
 * accepts PKCS#1 v1.5 and RSA-OAEP (Windows-era clients).
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <string.h>

/*
 * Just enough of the EnvelopedData structure (RFC 5652 §6.1) to read the
 * content-encryption algorithm, which OpenSSL's CMS API does not expose.
 * Recipient infos and attributes are kept opaque.
 */
typedef struct {
    ASN1_OBJECT *content_type;
    X509_ALGOR *algorithm;
    ASN1_OCTET_STRING *encrypted_content;
} SCEP_ENC_CONTENT_INFO;

typedef struct {
    ASN1_INTEGER *version;
    STACK_OF(ASN1_TYPE) * originator_info;
    STACK_OF(ASN1_TYPE) * recipient_infos;
    SCEP_ENC_CONTENT_INFO *encrypted_content_info;
    STACK_OF(ASN1_TYPE) * unprotected_attrs;
} SCEP_ENVELOPED_OUTLINE;

typedef struct {
    ASN1_OBJECT *content_type;
    SCEP_ENVELOPED_OUTLINE *enveloped;
} SCEP_ENVELOPED_CONTENT_INFO;

/* clang-format off */
ASN1_SEQUENCE(SCEP_ENC_CONTENT_INFO) = {
    ASN1_SIMPLE(SCEP_ENC_CONTENT_INFO, content_type, ASN1_OBJECT),
    ASN1_SIMPLE(SCEP_ENC_CONTENT_INFO, algorithm, X509_ALGOR),
    ASN1_IMP_OPT(SCEP_ENC_CONTENT_INFO, encrypted_content, ASN1_OCTET_STRING, 0),
} static_ASN1_SEQUENCE_END(SCEP_ENC_CONTENT_INFO)

ASN1_SEQUENCE(SCEP_ENVELOPED_OUTLINE) = {
    ASN1_SIMPLE(SCEP_ENVELOPED_OUTLINE, version, ASN1_INTEGER),
    ASN1_IMP_SEQUENCE_OF_OPT(SCEP_ENVELOPED_OUTLINE, originator_info, ASN1_ANY, 0),
    ASN1_SET_OF(SCEP_ENVELOPED_OUTLINE, recipient_infos, ASN1_ANY),
    ASN1_SIMPLE(SCEP_ENVELOPED_OUTLINE, encrypted_content_info, SCEP_ENC_CONTENT_INFO),
    ASN1_IMP_SET_OF_OPT(SCEP_ENVELOPED_OUTLINE, unprotected_attrs, ASN1_ANY, 1),
} static_ASN1_SEQUENCE_END(SCEP_ENVELOPED_OUTLINE)

ASN1_SEQUENCE(SCEP_ENVELOPED_CONTENT_INFO) = {
    ASN1_SIMPLE(SCEP_ENVELOPED_CONTENT_INFO, content_type, ASN1_OBJECT),
    ASN1_EXP(SCEP_ENVELOPED_CONTENT_INFO, enveloped, SCEP_ENVELOPED_OUTLINE, 0),
} static_ASN1_SEQUENCE_END(SCEP_ENVELOPED_CONTENT_INFO)
    /* clang-format on */

    static int decode_enveloped(CMS_ContentInfo * *out, const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    if (cms == NULL)
        return scep_fail_ossl(SCEP_EMALFORMED, "pkcsPKIEnvelope is not a valid CMS ContentInfo");
    if (p != der + der_len) {
        CMS_ContentInfo_free(cms);
        return scep_fail(SCEP_EMALFORMED, "pkcsPKIEnvelope has trailing data");
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
        CMS_ContentInfo_free(cms);
        return scep_fail(SCEP_ECONTENT, "pkcsPKIEnvelope is not an EnvelopedData");
    }
    *out = cms;
    return SCEP_OK;
}

int scep_envelope_cipher(scep_cipher *out, const unsigned char *der, size_t der_len, int legacy)
{
    int rc = SCEP_OK;
    CMS_ContentInfo *cms = NULL;
    SCEP_ENVELOPED_CONTENT_INFO *outline = NULL;

    GUARD(decode_enveloped(&cms, der, der_len));
    const unsigned char *p = der;
    outline = (SCEP_ENVELOPED_CONTENT_INFO *)ASN1_item_d2i(
        NULL, &p, (long)der_len, ASN1_ITEM_rptr(SCEP_ENVELOPED_CONTENT_INFO));
    ENSURE_OSSL(outline != NULL, SCEP_EMALFORMED, "cannot read the EnvelopedData structure");
    SCEP_ENC_CONTENT_INFO *eci = outline->enveloped->encrypted_content_info;
    /* RFC 8894 §3.2.2: the encrypted content type MUST be id-data. */
    ENSURE(OBJ_obj2nid(eci->content_type) == NID_pkcs7_data, SCEP_ECONTENT,
           "encrypted content type is not id-data");
    GUARD(scep_cipher_from_nid(out, OBJ_obj2nid(eci->algorithm->algorithm), legacy));

cleanup:
    ASN1_item_free((ASN1_VALUE *)outline, ASN1_ITEM_rptr(SCEP_ENVELOPED_CONTENT_INFO));
    CMS_ContentInfo_free(cms);
    return rc;
}

int scep_envelope_encrypt(unsigned char **out, size_t *out_len, const unsigned char *data,
                          size_t data_len, X509 *recipient, scep_cipher cipher, int legacy)
{
    int rc = SCEP_OK;
    const EVP_CIPHER *evp_cipher = NULL;
    STACK_OF(X509) *recipients = NULL;
    BIO *in = NULL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL;

    ENSURE(recipient != NULL, SCEP_EINVAL, "no recipient certificate");
    EVP_PKEY *pub = X509_get0_pubkey(recipient);
    /* RFC 8894 §3.1: RSA key transport; an EC requester's reply uses CMS key
     * agreement (ECDH), which our client reads. */
    ENSURE(pub != NULL && (EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_is_a(pub, "EC")), SCEP_EBADALG,
           "the recipient certificate must have an RSA or EC key to encrypt to");
    GUARD(scep_cipher_evp(&evp_cipher, cipher, legacy));

    recipients = sk_X509_new_null();
    ENSURE_ALLOC(recipients);
    ENSURE_ALLOC(sk_X509_push(recipients, recipient) > 0 ? recipients : NULL);
    in = BIO_new_mem_buf(data, (int)data_len);
    ENSURE_ALLOC(in);
    cms = CMS_encrypt(recipients, in, evp_cipher, CMS_BINARY);
    ENSURE_OSSL(cms != NULL, SCEP_ECRYPTO, "cannot build the pkcsPKIEnvelope");
    int len = i2d_CMS_ContentInfo(cms, &der);
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the pkcsPKIEnvelope");
    *out = der;
    *out_len = (size_t)len;
    der = NULL;

cleanup:
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    sk_X509_free(recipients);
    return rc;
}

static int names_recipient(CMS_ContentInfo *cms, X509 *cert)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
    for (int i = 0; cert != NULL && i < sk_CMS_RecipientInfo_num(ris); i++) {
        CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
        if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
            CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
            return 1;
        if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
            STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
            for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
                if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, j),
                                                       cert) == 0)
                    return 1;
        }
    }
    return 0;
}

/*
 * Every SCEP messageData (PKCS#10, IssuerAndSubject, IssuerAndSerialNumber,
 * certs-only ContentInfo) is exactly one DER/BER SEQUENCE. A key the
 * recipientInfo does not name may "succeed" on garbage: OpenSSL then uses a
 * random content key (its defence against padding oracles) and about one time
 * in 256 the CBC padding happens to check out. Such output is not one SEQUENCE.
 */
static int is_one_sequence(const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    long body = 0;
    int tag = 0, xclass = 0;
    int ret = ASN1_get_object(&p, &body, &tag, &xclass, (long)len);
    if ((ret & 0x80) || tag != V_ASN1_SEQUENCE || xclass != V_ASN1_UNIVERSAL ||
        !(ret & V_ASN1_CONSTRUCTED)) {
        ERR_clear_error();
        return 0;
    }
    if (ret & 1) /* indefinite length (BER): the decoders below check the rest */
        return 1;
    return (size_t)(p - data) + (size_t)body == len;
}

/* One decryption attempt on a fresh decode, so no state leaks between keys. */
static int try_decrypt(unsigned char **out, size_t *out_len, const unsigned char *der,
                       size_t der_len, X509 *cert, EVP_PKEY *key)
{
    int rc = SCEP_OK;
    CMS_ContentInfo *cms = NULL;
    BIO *plain = BIO_new(BIO_s_mem());
    ENSURE_ALLOC(plain);
    GUARD(decode_enveloped(&cms, der, der_len));
    ENSURE_OSSL(CMS_decrypt(cms, key, cert, NULL, plain, CMS_BINARY) == 1, SCEP_EDECRYPT,
                "cannot decrypt the pkcsPKIEnvelope");
    char *data = NULL;
    long len = BIO_get_mem_data(plain, &data);
    ENSURE(len > 0, SCEP_EDECRYPT, "the pkcsPKIEnvelope decrypts to nothing");
    ENSURE(is_one_sequence((const unsigned char *)data, (size_t)len), SCEP_EDECRYPT,
           "the pkcsPKIEnvelope does not decrypt to a SCEP messageData");
    GUARD(scep_bytes_dup(out, (const unsigned char *)data, (size_t)len));
    *out_len = (size_t)len;

cleanup:
    BIO_free(plain);
    CMS_ContentInfo_free(cms);
    return rc;
}

int scep_envelope_decrypt(unsigned char **out, size_t *out_len, size_t *out_index,
                          const unsigned char *der, size_t der_len, X509 *const *certs,
                          EVP_PKEY *const *keys, size_t count, int legacy)
{
    int rc = SCEP_OK;
    CMS_ContentInfo *cms = NULL;
    scep_cipher cipher;
    int any_named = 0;

    ENSURE(count > 0 && keys != NULL, SCEP_EINVAL, "no decryption key");
    GUARD(scep_envelope_cipher(&cipher, der, der_len, legacy));
    GUARD(decode_enveloped(&cms, der, der_len));

    /* Keys whose certificate the recipientInfo names go first; then the rest,
     * since some clients wrap the recipient identifier oddly (interop.md §9). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < count; i++) {
            int named = certs != NULL && names_recipient(cms, certs[i]);
            any_named |= named;
            if (named != (pass == 0) || keys[i] == NULL)
                continue;
            rc = try_decrypt(out, out_len, der, der_len, named ? certs[i] : NULL, keys[i]);
            if (rc == SCEP_OK) {
                if (out_index != NULL)
                    *out_index = i;
                goto cleanup;
            }
        }
    }
    if (any_named)
        rc = scep_fail(SCEP_EDECRYPT, "the pkcsPKIEnvelope does not decrypt with our key");
    else
        rc = scep_fail(SCEP_ERECIPIENT,
                       "the pkcsPKIEnvelope is not encrypted to any of our certificates");

cleanup:
    CMS_ContentInfo_free(cms);
    return rc;
}
