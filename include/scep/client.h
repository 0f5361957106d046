/*
 * libscep client: GetCACaps, GetCACert, GetNextCACert, enrollment (PKCSReq and
 * RenewalReq), polling (CertPoll), GetCert and GetCRL against a SCEP server
 * (RFC 8894 §4), over libcurl or a caller-supplied transport.
 *
 * Ownership: every `**out` becomes the caller's and is released with the
 * matching _free (OPENSSL_free for strings and byte buffers). Pointers
 * returned by accessors are borrowed from their parent object and live as
 * long as it. Certificates and keys passed in are borrowed for the duration of
 * the call; those stored in a scep_client (the pinned CA certificate) are
 * up-referenced at creation and released by scep_client_free().
 *
 * Thread safety: a scep_client is immutable after scep_client_new() except
 * for its CA/caps cache, which a mutex guards; one client may be used by any
 * number of threads at once for parallel enrollments. A custom transport or
 * verification callback must then be thread-safe itself. Result and pending
 * objects are not synchronised: use each from one thread at a time.
 * Keys are EVP_PKEY, so keys held by an OpenSSL provider (PKCS#11) work; a
 * key must not be used by two operations at once unless its provider allows it.
 *
 * Errors: 0 or a negative SCEP_E* code, with the thread's last error message
 * (scep/error.h). A server's CertRep FAILURE is not an error of the call: the
 * call succeeds and the result says FAILURE with its failInfo.
 */
#ifndef SCEP_CLIENT_H
#define SCEP_CLIENT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "scep/caps.h"
#include "scep/fingerprint.h"
#include "scep/common.h"
#include "scep/error.h"
#include "scep/message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct scep_client scep_client;
typedef struct scep_ca_certs scep_ca_certs;
typedef struct scep_result scep_result;
typedef struct scep_pending scep_pending;

/* ---- Transport ----------------------------------------------------------------------------- */

/* One HTTP exchange. GET has no body; POST carries the DER pkiMessage. */
typedef struct scep_http_request {
    const char *method;       /* "GET" or "POST" */
    const char *url;          /* complete URL with the query already percent-encoded */
    const char *content_type; /* POST only: "application/x-pki-message" */
    const unsigned char *body;
    size_t body_len;
} scep_http_request;

/* Filled by a transport; the strings and body are OPENSSL_malloc'd and freed by the library. */
typedef struct scep_http_response {
    long status;        /* HTTP status code */
    char *content_type; /* may be NULL */
    unsigned char *body;
    size_t body_len;
} scep_http_response;

/*
 * A transport: performs `request` and fills `out`, refusing bodies larger than
 * `max_size` (SCEP_ETOOBIG). Returns 0, or SCEP_ENETWORK / SCEP_ETIMEOUT /
 * SCEP_ETOOBIG with a message recorded through scep_client_record_error().
 * Called concurrently when the client is shared between threads.
 */
typedef int (*scep_transport_fn)(scep_http_response *out, const scep_http_request *request,
                                 size_t max_size, void *payload);

/* Lets a transport record the thread's last error: returns `code`. */
SCEP_EXPORT int scep_client_record_error(int code, const char *message);

/* ---- CA verification ----------------------------------------------------------------------- */

/*
 * Decides whether the CA certificate a server sent is the right one (for
 * example by showing its fingerprint to a person). Return 0 to accept, any
 * other value to refuse. `ca_cert` is the SCEP CA; `all_certs` everything
 * GetCACert returned. Both are borrowed for the call.
 */
typedef int (*scep_ca_verify_fn)(X509 *ca_cert, STACK_OF(X509) * all_certs, void *payload);

/* How scep_client_options.renewal picks the messageType of a renewal. */
typedef enum scep_renewal_mode {
    SCEP_RENEWAL_AUTO = 0,   /* RenewalReq when the server advertises Renewal, else PKCSReq */
    SCEP_RENEWAL_RENEWALREQ, /* always RenewalReq (17) */
    SCEP_RENEWAL_PKCSREQ     /* PKCSReq signed with the existing certificate (sscep, Cisco) */
} scep_renewal_mode;

typedef enum scep_log_level { SCEP_LOG_INFO = 1, SCEP_LOG_DEBUG = 2 } scep_log_level;
typedef void (*scep_log_fn)(scep_log_level level, const char *line, void *payload);

typedef struct scep_client_options {
    /* The SCEP URL, e.g. http://host/scep/ALIAS/pkiclient.exe (required). */
    const char *url;

    /*
     * CA verifier: set exactly one of ca_cert, ca_fingerprint or verify_ca, or
     * insecure_accept_any_ca (only sensible to fetch and show a CA, as sscep's
     * getca does). ca_cert is up-referenced: the SCEP CA the server returns must
     * equal it, or be issued by it when ca_cert is a root in the same bundle.
     * ca_fingerprint is hex (colons and spaces ignored) over the CA certificate's DER.
     */
    X509 *ca_cert;
    const char *ca_fingerprint;
    scep_fingerprint_alg fingerprint_alg; /* 0 means SHA-256 */
    scep_ca_verify_fn verify_ca;
    void *verify_ca_payload;
    int insecure_accept_any_ca;

    /* Keep the verified CA certificates and the caps between operations. */
    int cache_ca;

    /* Algorithms: 0 picks from GetCACaps (scep_caps_choose_digest/cipher). */
    scep_digest digest;
    scep_cipher cipher;
    /* Allow MD5/single DES both ways (SCEP_MSG_LEGACY), e.g. for micromdm's DES replies. */
    int legacy;
    /* Skip GetCACaps and use this caps text instead (one keyword per line). */
    const char *caps;
    scep_renewal_mode renewal;
    /* Force GET for PKIOperation even when POSTPKIOperation is advertised. */
    int force_get;

    /* Transport (ignored by a custom transport). 0 means the default. */
    long timeout_seconds;         /* whole exchange; default 60 */
    long connect_timeout_seconds; /* default 15 */
    size_t max_response_size;     /* default SCEP_MESSAGE_MAX_DEFAULT */
    const char *tls_ca_file;      /* HTTPS: CA bundle instead of the system one */
    const char *tls_client_cert;  /* HTTPS client certificate (PEM file) */
    const char *tls_client_key;   /* its key (PEM file) */
    int tls_insecure;             /* HTTPS: do not verify the server (testing only) */
    const char *proxy;            /* explicit proxy; NULL uses the environment, "" none */
    int follow_redirects;         /* off by default; at most 5 when on */

    scep_transport_fn transport; /* NULL: libcurl */
    void *transport_payload;

    scep_log_fn log; /* optional: operation, transactionID, algorithms, status; DEBUG dumps */
    void *log_payload;
} scep_client_options;

/*
 * Creates a client. Copies every string and up-references ca_cert; the
 * options struct may be discarded afterwards.
 */
SCEP_EXPORT int scep_client_new(scep_client **out,
                                const scep_client_options *options) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_client_free(scep_client *client);

/* ---- Operations ---------------------------------------------------------------------------- */
/*
 * `ca_identifier` is the optional `message=` of GetCACert/GetCACaps (NDES,
 * multi-CA servers); NULL sends none. Operations that need the CA certificate
 * fetch and verify it first (or take it from the cache).
 */

/* GetCACaps. An HTTP or network failure is an error, never "no capabilities". */
SCEP_EXPORT int scep_client_get_caps(scep_client *client, scep_caps *out,
                                     const char *ca_identifier) SCEP_MUST_CHECK;

/*
 * GetCACert, verified with the client's verifier. With no RA, the CA both
 * decrypts requests and signs replies; with RA certificates the encryption
 * certificate is the one with keyEncipherment and the signing one the one
 * with digitalSignature (NDES splits them).
 */
SCEP_EXPORT int scep_client_get_ca(scep_client *client, scep_ca_certs **out,
                                   const char *ca_identifier) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_ca_certs_free(scep_ca_certs *certs);
SCEP_EXPORT X509 *scep_ca_certs_ca(const scep_ca_certs *certs);
SCEP_EXPORT X509 *scep_ca_certs_encryption(const scep_ca_certs *certs);
SCEP_EXPORT X509 *scep_ca_certs_signer(const scep_ca_certs *certs);
/* Everything the server sent, in its order. */
SCEP_EXPORT STACK_OF(X509) * scep_ca_certs_all(const scep_ca_certs *certs);

/* GetNextCACert, verified against the current (verified) CA. Caller frees the stack. */
SCEP_EXPORT int scep_client_get_next_ca(scep_client *client, STACK_OF(X509) * *out,
                                        const char *ca_identifier) SCEP_MUST_CHECK;

typedef struct scep_enroll_request {
    X509_REQ *csr; /* required; carries the challengePassword when there is one */
    EVP_PKEY *key; /* the CSR's private key */
    /* Renewal: the existing certificate and its key sign the request (and the
     * reply is encrypted to that certificate). NULL: a self-signed signer from `key`. */
    X509 *existing_cert;
    EVP_PKEY *existing_key;
    const char *ca_identifier;
    const char *transaction_id; /* NULL: derived from the CSR's public key */
} scep_enroll_request;

/* PKCSReq, or RenewalReq / PKCSReq signed with existing_cert (see scep_renewal_mode). */
SCEP_EXPORT int scep_client_enroll(scep_client *client, scep_result **out,
                                   const scep_enroll_request *request) SCEP_MUST_CHECK;

/* CertPoll for a pending enrollment; `key` is the key that signed the original request. */
SCEP_EXPORT int scep_client_poll(scep_client *client, scep_result **out,
                                 const scep_pending *pending, EVP_PKEY *key) SCEP_MUST_CHECK;

/* GetCert by serial number of a certificate issued by the CA; signed with signer_cert/key. */
SCEP_EXPORT int scep_client_get_cert(scep_client *client, scep_result **out,
                                     const ASN1_INTEGER *serial, X509 *signer_cert,
                                     EVP_PKEY *signer_key,
                                     const char *ca_identifier) SCEP_MUST_CHECK;

/* GetCRL for `cert` (its issuer and serial); signed with `cert` and its key. */
SCEP_EXPORT int scep_client_get_crl(scep_client *client, scep_result **out, X509 *cert,
                                    EVP_PKEY *key, const char *ca_identifier) SCEP_MUST_CHECK;

/* ---- Results ------------------------------------------------------------------------------- */

SCEP_EXPORT void scep_result_free(scep_result *result);
SCEP_EXPORT scep_pki_status scep_result_status(const scep_result *result);
SCEP_EXPORT const char *scep_result_transaction_id(const scep_result *result);
/* SUCCESS: the certificate matching the request's key (or the first); NULL otherwise. */
SCEP_EXPORT X509 *scep_result_cert(const scep_result *result);
/* SUCCESS: every certificate of the reply, in message order (may be NULL for GetCRL). */
SCEP_EXPORT STACK_OF(X509) * scep_result_certs(const scep_result *result);
SCEP_EXPORT X509_CRL *scep_result_crl(const scep_result *result);
/* FAILURE: failInfo and failInfoText (NULL when the server sent none). */
SCEP_EXPORT scep_fail_info scep_result_fail_info(const scep_result *result);
SCEP_EXPORT const char *scep_result_fail_info_text(const scep_result *result);
/* The algorithms used for the request. */
SCEP_EXPORT scep_digest scep_result_digest(const scep_result *result);
SCEP_EXPORT scep_cipher scep_result_cipher(const scep_result *result);
SCEP_EXPORT scep_message_type scep_result_message_type(const scep_result *result);
/* PENDING: what to poll with (borrowed). NULL otherwise. */
SCEP_EXPORT const scep_pending *scep_result_pending(const scep_result *result);

/* ---- Pending state ------------------------------------------------------------------------- */

/*
 * A pending enrollment as text ("key = value" lines, no secrets: the key is
 * not in it), so polling can resume in another process. Caller frees `*out`
 * with OPENSSL_free.
 */
SCEP_EXPORT int scep_pending_save(char **out, const scep_pending *pending) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_pending_load(scep_pending **out, const char *text, size_t len) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_pending_free(scep_pending *pending);
SCEP_EXPORT const char *scep_pending_transaction_id(const scep_pending *pending);

/* ---- Helpers ------------------------------------------------------------------------------- */

/* Whether `cert` has fingerprint `hex` (colons/spaces ignored, any case). 0 yes, SCEP_EVERIFY no.
 */

#ifdef __cplusplus
}
#endif

#endif /* SCEP_CLIENT_H */
