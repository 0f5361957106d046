/*
 * One request's context, shared by the operation handlers, and the helpers
 * that answer it. Every request ends in exactly one log line.
 */
#ifndef SCEPD_OPS_H
#define SCEPD_OPS_H

#include "scepd/http/http.h"
#include "scepd/state/server.h"

#include <time.h>

/* Seconds a client is told to wait after a 503 (the store unreachable, /healthz). */
#define SCEPD_OP_RETRY_AFTER "10"

struct scepd_outcome;

struct scepd_op {
    struct scepd_server *server;
    const struct scepd_generation *generation;
    const struct scepd_alias *alias;
    const struct scepd_http_request *http;
    struct scepd_http_response *response;
    struct timespec start;
    time_t now; /* wall clock at the start: decides which CA certificate is active */
    /* The CA the request addresses (CA identifier, or the key that opened the envelope),
     * and for PKIOperation the certificate and key the client encrypted to (caid.c). */
    const struct scepd_ca *ca;
    const scep_ca *recipient;
    /* For the log line. */
    const char *operation;
    const char *message_type;
    char transaction_id[SCEP_TRANSACTION_ID_MAX + 1];
    const char *outcome;
    int fail_info; /* -1: none */
    char detail[256];
    /* A store call found the store unreachable (scepd_op_store_lost): the answer is 503. */
    int store_lost;
    /* On the CA node, a request that came through a relay (relay/ca.c): scepd_reply hands
     * the outcome here instead of building a CertRep, which the relay builds and signs
     * with its RA key. NULL otherwise. */
    int (*relay_sink)(struct scepd_op *op, const struct scepd_outcome *outcome);
    void *relay_payload;
};

/* Plain-text answer with an HTTP status (before a request could be verified). */
void scepd_op_text(struct scepd_op *op, unsigned status, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets the response body to a copy of `data`. */
int scepd_op_body(struct scepd_op *op, unsigned status, const char *content_type,
                  const unsigned char *data, size_t len);
void scepd_op_detail(struct scepd_op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Every store error met while answering goes through here: returns 1 and marks the request
 * when `rc` says the store cannot be reached (SCEP_EUNAVAILABLE). Such a request is answered
 * 503 with Retry-After (scepd_op_unavailable) instead of a CertRep FAILURE, which a SCEP
 * client takes as final, and nothing more is written for it; the thread's store connection
 * is reopened for its next request (front/handle.c). Other codes return 0.
 */
int scepd_op_store_lost(struct scepd_op *op, int rc);
/* The answer of a request whose store is unreachable: 503, Retry-After, a log line. */
void scepd_op_unavailable(struct scepd_op *op);

/* ---- the operations (RFC 8894 §4) ---- */

/* GetCACaps, GetCACert, GetCACertChain, GetNextCACert (cacert.c). */
/* Answers GetCACaps with `caps` (also the relay node's, from the CA data pushed to it). */
void scepd_op_caps_reply(struct scepd_op *op, scep_caps caps);
void scepd_op_get_ca_caps(struct scepd_op *op);
void scepd_op_get_ca_cert(struct scepd_op *op);
void scepd_op_get_ca_cert_chain(struct scepd_op *op);
void scepd_op_get_next_ca_cert(struct scepd_op *op);
/* GetCRL (crl.c). */
void scepd_get_crl(struct scepd_op *op, scep_pkimessage *msg);

/*
 * PKIOperation's first half (pkiop.c): reads, verifies and decrypts the request into
 * *out (and *out_decoded, the GET form's bytes; both the caller's to free). SCEP_OK,
 * or < 0 when it has already answered (HTTP error or signed FAILURE).
 */
int scepd_pkiop_open(struct scepd_op *op, scep_pkimessage **out, unsigned char **out_decoded);
/* The same, also telling the message's bytes (borrowed from the request or *out_decoded). */
int scepd_pkiop_open_der(struct scepd_op *op, scep_pkimessage **out, unsigned char **out_decoded,
                         const unsigned char **out_der, size_t *out_der_len);

/* What to answer: status, and certificates/CRL or failInfo + text. */
struct scepd_outcome {
    scep_pki_status status;
    STACK_OF(X509) * certs;
    X509_CRL *crl;
    scep_fail_info fail_info;
    const char *fail_info_text;
};

/* Builds, signs and encrypts the CertRep for `request` into the HTTP response (pkiop.c). */
int scepd_reply(struct scepd_op *op, const scep_pkimessage *request,
                const struct scepd_outcome *outcome);
int scepd_reply_failure(struct scepd_op *op, const scep_pkimessage *request,
                        scep_fail_info fail_info, const char *text);

/* ---- which CA and key (caid.c) ---- */

/*
 * Sets op->ca from the `message=` CA identifier of GetCACert, GetCACaps and
 * GetNextCACert. An unknown identifier falls back to the alias's CA, or with
 * `ALIAS.strictcaid` is answered 404 (then returns -1).
 */
int scepd_caid_select(struct scepd_op *op);
/*
 * Opens the envelope with every key of every CA the alias serves; the recipientInfo
 * picks the key when it matches (interop.md §9). Sets op->ca and op->recipient.
 */
int scepd_caid_decrypt(struct scepd_op *op, scep_pkimessage *msg,
                       const scep_message_options *options) SCEP_MUST_CHECK;
/* The certificate and key that sign the reply: the one the client encrypted to, else the
 * active certificate of the addressed CA. */
const scep_ca *scepd_op_signer(const struct scepd_op *op);
/* The reply's signer: the alias's RA signing certificate when the client encrypted to the
 * RA, else scepd_op_signer (borrowed). */
void scepd_op_reply_signer(X509 **cert, EVP_PKEY **key, const struct scepd_op *op);

#endif
