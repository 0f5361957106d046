/*
 * One request's context, shared by the operation handlers, and the helpers
 * that answer it. Every request ends in exactly one log line.
 */
#ifndef SCEPD_OPS_H
#define SCEPD_OPS_H

#include "scepd/server.h"

#include <time.h>

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
};

/* Plain-text answer with an HTTP status (before a request could be verified). */
void scepd_op_text(struct scepd_op *op, unsigned status, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets the response body to a copy of `data`. */
int scepd_op_body(struct scepd_op *op, unsigned status, const char *content_type,
                  const unsigned char *data, size_t len);
void scepd_op_detail(struct scepd_op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* PKIOperation (pkiop.c). */
void scepd_op_pki_operation(struct scepd_op *op);

#endif
