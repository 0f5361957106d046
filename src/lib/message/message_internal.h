/*
 * Internals shared by the message layer's files: the parsed pkiMessage, the
 * algorithm tables, attribute helpers and the per-messageType content codecs.
 */
#ifndef SCEP_MESSAGE_INTERNAL_H
#define SCEP_MESSAGE_INTERNAL_H

#include "scep/message.h"

#include <openssl/cms.h>
#include <openssl/pkcs7.h>

struct scep_pkimessage {
    scep_message_type type;
    char *transaction_id;
    unsigned char sender_nonce[SCEP_NONCE_MAX];
    size_t sender_nonce_len;
    unsigned char recipient_nonce[SCEP_NONCE_MAX];
    size_t recipient_nonce_len;
    int has_sender_nonce;
    int has_recipient_nonce;
    scep_pki_status status;
    scep_fail_info fail_info;
    char *fail_info_text;
    X509 *signer_cert;
    scep_digest digest;

    /* The pkcsPKIEnvelope (EnvelopedData DER), absent for PENDING/FAILURE. */
    unsigned char *envelope;
    size_t envelope_len;
    scep_cipher cipher;

    /* Filled by decrypt. */
    int decrypted;
    size_t recipient_index;
    unsigned char *content;
    size_t content_len;
    X509_REQ *csr;
    X509_NAME *issuer;
    X509_NAME *subject;
    ASN1_INTEGER *serial;
    STACK_OF(X509) * certs;
    X509_CRL *crl;
};

/* ---- algorithms (algs.c) ---- */
size_t scep_options_max_size(const scep_message_options *options);
int scep_options_legacy(const scep_message_options *options);
/* The EVP digest for `digest`, SCEP_EBADALG when unknown or disallowed. */
int scep_digest_md(const EVP_MD **out, scep_digest digest, int legacy);
/* Maps a digest OID NID to our enum; SCEP_EBADALG when unknown or disallowed. */
int scep_digest_from_nid(scep_digest *out, int nid, int legacy);
int scep_cipher_evp(const EVP_CIPHER **out, scep_cipher cipher, int legacy);
int scep_cipher_from_nid(scep_cipher *out, int nid, int legacy);

/* ---- attributes (attrs.c) ---- */
typedef enum scep_attr_id {
    SCEP_ATTR_MESSAGE_TYPE,
    SCEP_ATTR_PKI_STATUS,
    SCEP_ATTR_FAIL_INFO,
    SCEP_ATTR_SENDER_NONCE,
    SCEP_ATTR_RECIPIENT_NONCE,
    SCEP_ATTR_TRANSACTION_ID,
    SCEP_ATTR_FAIL_INFO_TEXT
} scep_attr_id;

/* The SCEP attributes to sign into a pkiMessage. */
typedef struct scep_signed_attrs {
    scep_message_type type;
    const char *transaction_id;
    const unsigned char *sender_nonce;
    const unsigned char *recipient_nonce; /* NULL: omitted */
    size_t recipient_nonce_len;
    int has_status;
    scep_pki_status status;
    scep_fail_info fail_info;
    const char *fail_info_text; /* NULL: omitted */
} scep_signed_attrs;

int scep_attrs_add(CMS_SignerInfo *si, const scep_signed_attrs *attrs);
/* Reads and type-checks every SCEP attribute of `si` into `msg`. */
int scep_attrs_read(scep_pkimessage *msg, CMS_SignerInfo *si);

/* ---- outer SignedData (pkimessage.c) ---- */
/*
 * Signs `content` (may be empty) as id-data with `attrs`, SignerInfo by
 * signer_cert/key with `digest`, including signer_cert and extra_certs.
 */
int scep_signed_data_build(unsigned char **out, size_t *out_len, const unsigned char *content,
                           size_t content_len, X509 *signer_cert, EVP_PKEY *signer_key,
                           STACK_OF(X509) * extra_certs, scep_digest digest,
                           const scep_signed_attrs *attrs, int legacy);
/* Checks size, decodes BER/DER without trailing data. */
int scep_der_check(const unsigned char *der, size_t der_len, size_t max_size);

/* ---- envelope (envelope.c) ---- */
int scep_envelope_encrypt(unsigned char **out, size_t *out_len, const unsigned char *data,
                          size_t data_len, X509 *recipient, scep_cipher cipher, int legacy);
/* Reads the content cipher of an EnvelopedData without decrypting. */
int scep_envelope_cipher(scep_cipher *out, const unsigned char *der, size_t der_len, int legacy);
int scep_envelope_decrypt(unsigned char **out, size_t *out_len, size_t *out_index,
                          const unsigned char *der, size_t der_len, X509 *const *certs,
                          EVP_PKEY *const *keys, size_t count, int legacy);

/* ---- per-message content codecs ---- */
int scep_pkcsreq_encode(unsigned char **out, size_t *out_len, X509_REQ *csr);
int scep_pkcsreq_decode(scep_pkimessage *msg);
int scep_certpoll_encode(unsigned char **out, size_t *out_len, const X509_NAME *issuer,
                         const X509_NAME *subject);
int scep_certpoll_decode(scep_pkimessage *msg);
int scep_getcert_encode(unsigned char **out, size_t *out_len, const X509_NAME *issuer,
                        const ASN1_INTEGER *serial);
int scep_getcert_decode(scep_pkimessage *msg);
int scep_certrep_decode(scep_pkimessage *msg);

/* Copies `len` bytes into a fresh OPENSSL_malloc buffer. */
int scep_bytes_dup(unsigned char **out, const unsigned char *data, size_t len);

#endif
