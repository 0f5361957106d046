/*
 * libscep message layer: SCEP pkiMessages (RFC 8894 §3), built and parsed with
 * OpenSSL's CMS. No policy lives here: this layer turns bytes into a verified,
 * decrypted message and a message description into signed, encrypted bytes.
 *
 * Ownership: every `**out` becomes the caller's and is released with the
 * matching _free (or OPENSSL_free for byte buffers). Pointers returned by
 * accessors are borrowed from their parent object and live as long as it.
 */
#ifndef SCEP_MESSAGE_H
#define SCEP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "scep/common.h"
#include "scep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* messageType, RFC 8894 §3.2.1.2 (Table 3). */
typedef enum scep_message_type {
    SCEP_MSG_CERTREP = 3,
    SCEP_MSG_RENEWALREQ = 17,
    SCEP_MSG_PKCSREQ = 19,
    SCEP_MSG_CERTPOLL = 20, /* GetCertInitial in draft-nourse-scep */
    SCEP_MSG_GETCERT = 21,
    SCEP_MSG_GETCRL = 22
} scep_message_type;

/* pkiStatus, RFC 8894 §3.2.1.3 (Table 4). */
typedef enum scep_pki_status {
    SCEP_STATUS_SUCCESS = 0,
    SCEP_STATUS_FAILURE = 2,
    SCEP_STATUS_PENDING = 3
} scep_pki_status;

/* Digest algorithms for the SignerInfo. MD5 needs SCEP_MSG_LEGACY. */
typedef enum scep_digest {
    SCEP_DIGEST_MD5 = 1,
    SCEP_DIGEST_SHA1,
    SCEP_DIGEST_SHA256,
    SCEP_DIGEST_SHA384,
    SCEP_DIGEST_SHA512
} scep_digest;

/* Content-encryption ciphers for the pkcsPKIEnvelope. DES needs SCEP_MSG_LEGACY. */
typedef enum scep_cipher {
    SCEP_CIPHER_DES = 1,
    SCEP_CIPHER_DES3,
    SCEP_CIPHER_AES128,
    SCEP_CIPHER_AES192,
    SCEP_CIPHER_AES256
} scep_cipher;

#define SCEP_NONCE_LEN 16
/* Nonces read from peers may be 8 to 64 octets: old Go clients send 8 (RFC 8894 says 16);
 * they are echoed back exactly. */
#define SCEP_NONCE_MIN 8
#define SCEP_NONCE_MAX 64
/* Longest transactionID accepted; real clients send 32 to 64 characters. */
#define SCEP_TRANSACTION_ID_MAX 256
/* Default largest pkiMessage accepted by the parser. */
#define SCEP_MESSAGE_MAX_DEFAULT (1024 * 1024)

/* Flags for scep_message_options.flags. */
#define SCEP_MSG_LEGACY 0x1u /* accept and produce MD5 digests and single DES */

typedef struct scep_message_options {
    size_t max_size; /* largest input in bytes; 0 means SCEP_MESSAGE_MAX_DEFAULT */
    unsigned flags;  /* SCEP_MSG_* */
} scep_message_options;

/* Names as the protocol and GetCACaps spell them: "SHA-256", "AES-128-CBC", "PKCSReq". */
SCEP_EXPORT const char *scep_digest_name(scep_digest digest);
SCEP_EXPORT const char *scep_cipher_name(scep_cipher cipher);
SCEP_EXPORT const char *scep_message_type_name(scep_message_type type);
SCEP_EXPORT const char *scep_pki_status_name(scep_pki_status status);
/* Parses "sha256", "SHA-256", "aes256", "AES-256-CBC", "3des"...; case-insensitive. */
SCEP_EXPORT int scep_digest_from_name(scep_digest *out, const char *name) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_cipher_from_name(scep_cipher *out, const char *name) SCEP_MUST_CHECK;

/* ---- Requests (client side) ---------------------------------------------------------------- */

/*
 * A request to build. Which content fields are read depends on `type`:
 * PKCSReq/RenewalReq: csr; CertPoll: issuer + subject (IssuerAndSubject);
 * GetCert/GetCRL: issuer + serial (IssuerAndSerialNumber).
 */
typedef struct scep_request {
    scep_message_type type;
    const char *transaction_id;        /* PrintableString; NULL derives one from the CSR's key */
    const unsigned char *sender_nonce; /* SCEP_NONCE_LEN octets; NULL draws a random one */
    X509 *signer_cert;                 /* self-signed or existing certificate */
    EVP_PKEY *signer_key;              /* RSA or EC */
    X509 *recipient_cert;              /* CA or RA encryption certificate (RSA) */
    scep_digest digest;
    scep_cipher cipher;
    X509_REQ *csr;
    const X509_NAME *issuer;
    const X509_NAME *subject;
    const ASN1_INTEGER *serial;
} scep_request;

/*
 * Builds a signed, encrypted pkiMessage (DER) from `request`. The transactionID
 * and senderNonce used are returned through `out_transaction_id` (caller frees
 * with OPENSSL_free; may be NULL) and `out_sender_nonce` (may be NULL) so that
 * the reply can be checked.
 */
SCEP_EXPORT int scep_request_build(unsigned char **out, size_t *out_len, char **out_transaction_id,
                                   unsigned char out_sender_nonce[SCEP_NONCE_LEN],
                                   const scep_request *request,
                                   const scep_message_options *options) SCEP_MUST_CHECK;

/* ---- Replies (server side) ----------------------------------------------------------------- */

/*
 * A CertRep to build (RFC 8894 §3.3.2). SUCCESS carries `certs` (issued or
 * requested certificate first) and/or `crl`, encrypted to `recipient_cert`
 * with `cipher`. FAILURE carries fail_info and, when set, fail_info_text.
 */
typedef struct scep_reply {
    scep_pki_status status;
    const char *transaction_id;           /* copied from the request */
    const unsigned char *recipient_nonce; /* the request's senderNonce */
    size_t recipient_nonce_len;           /* its length; 0 means SCEP_NONCE_LEN */
    const unsigned char *sender_nonce;    /* NULL draws a random one */
    X509 *signer_cert;                    /* CA or RA signing certificate */
    EVP_PKEY *signer_key;
    STACK_OF(X509) * extra_certs; /* added to the SignedData certificates; may be NULL */
    scep_digest digest;
    /* SUCCESS only */
    X509 *recipient_cert; /* the request's signer certificate */
    scep_cipher cipher;
    STACK_OF(X509) * certs; /* certificates for the certs-only bundle, leaf first */
    X509_CRL *crl;
    /* FAILURE only */
    scep_fail_info fail_info;
    const char *fail_info_text; /* UTF-8, optional */
} scep_reply;

SCEP_EXPORT int scep_reply_build(unsigned char **out, size_t *out_len, const scep_reply *reply,
                                 const scep_message_options *options) SCEP_MUST_CHECK;

/* ---- Parsing (both sides) ------------------------------------------------------------------ */

typedef struct scep_pkimessage scep_pkimessage;

/*
 * Parses and verifies a pkiMessage: size limit, BER or DER, no trailing data,
 * SignedData with one signer over id-data, signature and messageDigest valid,
 * allowed digest, every required attribute present with its ASN.1 type and size
 * (RFC 8894 §3.2.1). The signer certificate comes from the message, or from
 * `signer_candidates` when the message carries none (some servers omit it).
 *
 * When `trusted_signers` is non-NULL the signer certificate must be one of
 * them (a client checking that a CertRep comes from its CA/RA); otherwise any
 * certificate that verifies the signature is accepted (a server receiving a
 * request signed by a self-signed certificate).
 *
 * The envelope is not opened: call scep_pkimessage_decrypt() for that.
 */
SCEP_EXPORT int scep_pkimessage_parse(scep_pkimessage **out, const unsigned char *der,
                                      size_t der_len, STACK_OF(X509) * signer_candidates,
                                      STACK_OF(X509) * trusted_signers,
                                      const scep_message_options *options) SCEP_MUST_CHECK;

SCEP_EXPORT void scep_pkimessage_free(scep_pkimessage *msg);

/*
 * Reads what a server needs to answer a request it cannot accept (signature
 * wrong, algorithm refused): transactionID, senderNonce, messageType and the
 * signer certificate, WITHOUT verifying anything. Use only to address a
 * CertRep FAILURE after scep_pkimessage_parse() failed; never trust the
 * result otherwise. Accessors other than those four return nothing useful.
 */
SCEP_EXPORT int scep_pkimessage_peek(scep_pkimessage **out, const unsigned char *der,
                                     size_t der_len,
                                     const scep_message_options *options) SCEP_MUST_CHECK;

/*
 * Opens the pkcsPKIEnvelope with one of `count` certificate/key pairs, trying
 * first those the recipientInfo names and then the others (some clients wrap
 * their recipient identifier oddly), and parses the content for the
 * messageType. RSA PKCS#1 v1.5 and RSA-OAEP key transport are accepted.
 * Messages without an envelope (CertRep PENDING/FAILURE) succeed at once.
 */
SCEP_EXPORT int scep_pkimessage_decrypt(scep_pkimessage *msg, X509 *const *certs,
                                        EVP_PKEY *const *keys, size_t count,
                                        const scep_message_options *options) SCEP_MUST_CHECK;

/*
 * Takes the pkcsPKIEnvelope's content from someone who opened it (an RA in front
 * of the CA) instead of decrypting it here, and parses it for the messageType as
 * scep_pkimessage_decrypt() does (a CSR's self-signature is verified). `msg` must
 * come from scep_pkimessage_parse() (its signature is verified), be a request (not a
 * CertRep) and carry an envelope. Nothing binds the content to the envelope: the
 * message signature covers the encrypted envelope only, so the content is as
 * trustworthy as whoever opened it. recipient_index is SIZE_MAX afterwards. The content is copied;
 * content that does not parse for the messageType is refused and not kept (the message stays
 * without content, as before the call).
 */
SCEP_EXPORT int scep_pkimessage_set_content(scep_pkimessage *msg, const unsigned char *content,
                                            size_t content_len) SCEP_MUST_CHECK;

/*
 * For a client checking a reply: messageType is CertRep, transactionID equals
 * `transaction_id` and recipientNonce equals `sender_nonce` (RFC 8894 §3.2.1.5).
 */
SCEP_EXPORT int
scep_pkimessage_check_reply(const scep_pkimessage *reply, const char *transaction_id,
                            const unsigned char sender_nonce[SCEP_NONCE_LEN]) SCEP_MUST_CHECK;

/* Accessors. Everything returned is borrowed from `msg`. */
SCEP_EXPORT scep_message_type scep_pkimessage_type(const scep_pkimessage *msg);
SCEP_EXPORT const char *scep_pkimessage_transaction_id(const scep_pkimessage *msg);
SCEP_EXPORT const unsigned char *scep_pkimessage_sender_nonce(const scep_pkimessage *msg);
SCEP_EXPORT size_t scep_pkimessage_sender_nonce_len(const scep_pkimessage *msg);
/* NULL when the message carries no recipientNonce. */
SCEP_EXPORT const unsigned char *scep_pkimessage_recipient_nonce(const scep_pkimessage *msg);
SCEP_EXPORT size_t scep_pkimessage_recipient_nonce_len(const scep_pkimessage *msg);
/* CertRep only: status, and for FAILURE the failInfo and optional failInfoText (or NULL). */
SCEP_EXPORT scep_pki_status scep_pkimessage_status(const scep_pkimessage *msg);
SCEP_EXPORT scep_fail_info scep_pkimessage_fail_info(const scep_pkimessage *msg);
SCEP_EXPORT const char *scep_pkimessage_fail_info_text(const scep_pkimessage *msg);
SCEP_EXPORT X509 *scep_pkimessage_signer_cert(const scep_pkimessage *msg);
SCEP_EXPORT scep_digest scep_pkimessage_digest(const scep_pkimessage *msg);
/* Whether the message has a pkcsPKIEnvelope, and its cipher (valid after parse). */
SCEP_EXPORT int scep_pkimessage_has_envelope(const scep_pkimessage *msg);
SCEP_EXPORT scep_cipher scep_pkimessage_cipher(const scep_pkimessage *msg);
/* After decrypt: the certificate the envelope was opened with (index into certs/keys). */
SCEP_EXPORT size_t scep_pkimessage_recipient_index(const scep_pkimessage *msg);
/* After decrypt: the raw messageData (DER). */
SCEP_EXPORT const unsigned char *scep_pkimessage_content(const scep_pkimessage *msg,
                                                         size_t *out_len);
/* PKCSReq/RenewalReq after decrypt: the CSR (its self-signature already verified). */
SCEP_EXPORT X509_REQ *scep_pkimessage_csr(const scep_pkimessage *msg);
/* CertPoll: issuer and subject. GetCert/GetCRL: issuer and serial. */
SCEP_EXPORT const X509_NAME *scep_pkimessage_issuer(const scep_pkimessage *msg);
SCEP_EXPORT const X509_NAME *scep_pkimessage_subject(const scep_pkimessage *msg);
SCEP_EXPORT const ASN1_INTEGER *scep_pkimessage_serial(const scep_pkimessage *msg);
/* CertRep SUCCESS after decrypt: certificates in message order, and the CRL if any. */
SCEP_EXPORT STACK_OF(X509) * scep_pkimessage_certs(const scep_pkimessage *msg);
SCEP_EXPORT X509_CRL *scep_pkimessage_crl(const scep_pkimessage *msg);

/* ---- Requester helpers --------------------------------------------------------------------- */

/*
 * A self-signed certificate for `key` whose subject equals the CSR's subject,
 * as RFC 8894 §2.3 asks of a client without a certificate. Valid from one
 * hour ago for `days` days.
 */
SCEP_EXPORT int scep_self_signed_signer(X509 **out, EVP_PKEY *key, const X509_REQ *csr,
                                        scep_digest digest, int days) SCEP_MUST_CHECK;

/*
 * The transactionID most clients use: the upper-case hex SHA-256 of the DER
 * SubjectPublicKeyInfo. Caller frees with OPENSSL_free.
 */
SCEP_EXPORT int scep_transaction_id_from_key(char **out, EVP_PKEY *key) SCEP_MUST_CHECK;

/* Fills `out` with a fresh random 16-octet nonce. */
SCEP_EXPORT int scep_nonce_generate(unsigned char out[SCEP_NONCE_LEN]) SCEP_MUST_CHECK;

/* ---- Degenerate certs-only SignedData (RFC 8894 §3.4) --------------------------------------- */

/* Builds a certs-only SignedData (DER) holding `certs` in order and/or `crl`. */
SCEP_EXPORT int scep_certs_only_build(unsigned char **out, size_t *out_len, STACK_OF(X509) * certs,
                                      X509_CRL *crl) SCEP_MUST_CHECK;

/*
 * Parses a certs-only SignedData (BER or DER) into its certificates (order
 * kept) and CRLs. Either output may be NULL when not wanted.
 */
SCEP_EXPORT int scep_certs_only_parse(STACK_OF(X509) * *out_certs, STACK_OF(X509_CRL) * *out_crls,
                                      const unsigned char *der, size_t der_len,
                                      size_t max_size) SCEP_MUST_CHECK;

/* ---- GetNextCACert (RFC 8894 §4.7) ---------------------------------------------------------- */

/* SignedData signed by the current CA whose content is a certs-only bundle of `next_certs`. */
SCEP_EXPORT int scep_next_ca_build(unsigned char **out, size_t *out_len,
                                   STACK_OF(X509) * next_certs, X509 *signer_cert,
                                   EVP_PKEY *signer_key, scep_digest digest) SCEP_MUST_CHECK;

/* Verifies the signature against `current_ca` and returns the next certificates. */
SCEP_EXPORT int scep_next_ca_parse(STACK_OF(X509) * *out_next_certs, const unsigned char *der,
                                   size_t der_len, X509 *current_ca,
                                   size_t max_size) SCEP_MUST_CHECK;

/* ---- GET form of PKIOperation (RFC 8894 §4.1) ----------------------------------------------- */

/*
 * Decodes the `message=` value of a GET PKIOperation as it arrives in the raw
 * query string: percent-decoding that leaves '+' alone, a space read back as
 * '+', base64url '-'/'_' accepted, CR/LF/whitespace dropped, padding optional.
 * Any other character is an error. Caller frees with OPENSSL_free.
 */
SCEP_EXPORT int scep_base64_decode_lenient(unsigned char **out, size_t *out_len, const char *text,
                                           size_t text_len, size_t max_size) SCEP_MUST_CHECK;

/* Plain base64 (no line breaks), NUL-terminated; caller frees with OPENSSL_free. */
SCEP_EXPORT int scep_base64_encode(char **out, const unsigned char *data,
                                   size_t data_len) SCEP_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif /* SCEP_MESSAGE_H */
