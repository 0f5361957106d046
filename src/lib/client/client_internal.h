/*
 * Internals of the client: the client object, the CA set, results and the
 * pieces shared between its files (URL building, HTTP, CA selection).
 */
#ifndef SCEP_CLIENT_INTERNAL_H
#define SCEP_CLIENT_INTERNAL_H

#include "scep/client.h"

#include <pthread.h>

struct scep_ca_certs {
    STACK_OF(X509) * all;
    X509 *ca;
    X509 *encryption;
    X509 *signer;
    STACK_OF(X509) * trusted_signers; /* who may sign a CertRep: signer RA(s) and the CA */
};

struct scep_client {
    char *url;
    X509 *pinned_ca;
    char *ca_fingerprint;
    scep_fingerprint_alg fingerprint_alg;
    scep_ca_verify_fn verify_ca;
    void *verify_ca_payload;
    int insecure_accept_any_ca;
    int cache_ca;
    scep_digest digest;
    scep_cipher cipher;
    int legacy;
    char *caps_text;
    scep_renewal_mode renewal;
    int force_get;
    long timeout_seconds;
    long connect_timeout_seconds;
    size_t max_response_size;
    char *tls_ca_file;
    char *tls_client_cert;
    char *tls_client_key;
    int tls_insecure;
    char *proxy;
    int follow_redirects;
    scep_transport_fn transport;
    void *transport_payload;
    scep_log_fn log;
    void *log_payload;

    /* Cache, guarded by `lock`; keyed by CA identifier. */
    pthread_mutex_t lock;
    char *cached_ca_identifier;
    scep_ca_certs *cached_ca;
    int have_cached_caps;
    scep_caps cached_caps;
    char *cached_caps_identifier;
};

struct scep_pending {
    char *transaction_id;
    char *ca_identifier;
    X509_NAME *issuer;
    X509_NAME *subject;
    X509 *signer_cert;
    scep_digest digest;
    scep_cipher cipher;
};

struct scep_result {
    scep_message_type message_type;
    scep_pki_status status;
    char *transaction_id;
    STACK_OF(X509) * certs;
    X509 *cert;
    X509_CRL *crl;
    scep_fail_info fail_info;
    char *fail_info_text;
    scep_digest digest;
    scep_cipher cipher;
    scep_pending *pending;
};

/* ---- transport.c ---- */
/*
 * BASE?operation=OP[&message=ESCAPED]: `message` fully percent-encoded
 * (RFC 3986 unreserved characters only), so base64's '+', '/' and '=' survive.
 */
int scep_client_build_url(char **out, const char *base, const char *operation, const char *message);
/* Runs one exchange through the client's transport; non-200 is SCEP_EHTTP. */
int scep_client_http(scep_client *client, scep_http_response *out,
                     const scep_http_request *request);
void scep_http_response_clear(scep_http_response *response);
/* The libcurl transport; `payload` is the scep_client. */
int scep_curl_transport(scep_http_response *out, const scep_http_request *request, size_t max_size,
                        void *payload);

/* ---- ca.c ---- */
/* Splits a GetCACert reply into CA, encryption and signing certificates (unverified). */
int scep_ca_certs_from_reply(scep_ca_certs **out, const char *content_type,
                             const unsigned char *body, size_t body_len, size_t max_size);
/* Applies the client's verifier to `certs`. */
int scep_client_verify_ca(const scep_client *client, const scep_ca_certs *certs);
int scep_ca_certs_dup(scep_ca_certs **out, const scep_ca_certs *in);

/* ---- client.c ---- */
void scep_client_logf(const scep_client *client, scep_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Caps from the cache, the caps option, or GetCACaps. */
int scep_client_caps(scep_client *client, scep_caps *out, const char *ca_identifier);
/* The verified CA set from the cache or GetCACert; the caller frees the copy it gets. */
int scep_client_ca(scep_client *client, scep_ca_certs **out, const char *ca_identifier);

/* ---- pending.c ---- */
int scep_pending_new(scep_pending **out, const char *transaction_id, const char *ca_identifier,
                     const X509_NAME *issuer, const X509_NAME *subject, X509 *signer_cert,
                     scep_digest digest, scep_cipher cipher);

#endif /* SCEP_CLIENT_INTERNAL_H */
