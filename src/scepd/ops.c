/*
 * The HTTP handler: alias routing, then the operation table (RFC 8894 §4).
 */
#include "scepd/ops.h"
#include "scepd/crl.h"
#include "scepd/log.h"
#include "scepd/rollover.h"
#include "util/error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void scepd_op_detail(struct scepd_op *op, const char *fmt, ...)
{
    char raw[sizeof(op->detail)];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0)
        raw[0] = '\0';
    scepd_log_escape(op->detail, sizeof(op->detail), raw);
}

int scepd_op_body(struct scepd_op *op, unsigned status, const char *content_type,
                  const unsigned char *data, size_t len)
{
    op->response->body = malloc(len ? len : 1);
    if (op->response->body == NULL) {
        op->response->status = 500;
        return SCEP_ENOMEM;
    }
    if (len)
        memcpy(op->response->body, data, len);
    op->response->body_len = len;
    op->response->status = status;
    op->response->content_type = content_type;
    return SCEP_OK;
}

void scepd_op_text(struct scepd_op *op, unsigned status, const char *outcome, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(text) - 2)
        n = (int)sizeof(text) - 2;
    text[n++] = '\n';
    op->outcome = outcome;
    scepd_op_detail(op, "%.*s", n - 1, text);
    (void)scepd_op_body(op, status, "text/plain", (const unsigned char *)text, (size_t)n);
}

static void op_get_ca_caps(struct scepd_op *op)
{
    char *text = NULL;
    size_t len = 0;
    if (scepd_caid_select(op) < 0)
        return;
    scep_caps caps = op->alias->caps;
    /* interop.md §16: GetNextCACert only while a next certificate is announced. */
    if (scepd_ca_announced_next(op, op->ca) != NULL)
        caps |= SCEP_CAP_GET_NEXT_CA_CERT;
    if (scep_caps_format(&text, &len, caps) < 0) {
        scepd_op_text(op, 500, "error", "cannot format capabilities");
        return;
    }
    /* RFC 8894 §3.5.2: text/plain, one keyword per line. */
    (void)scepd_op_body(op, 200, "text/plain", (const unsigned char *)text, len);
    op->outcome = "ok";
    OPENSSL_free(text);
}

/* The `message=` CA identifier picks one of the alias's CAs (caid.c); after a
 * rollover's activation the next certificate is the CA certificate. */
static void op_get_ca_cert(struct scepd_op *op)
{
    unsigned char *der = NULL;
    size_t len = 0;
    const char *type = NULL;
    if (scepd_caid_select(op) < 0)
        return;
    const scep_ca *active = scepd_ca_active(op, op->ca);
    if (active == op->alias->ca->ca) {
        (void)scepd_op_body(op, 200, op->alias->ca_cert_type, op->alias->ca_cert,
                            op->alias->ca_cert_len);
    } else if (scepd_ca_cert_body(&der, &len, &type, active, op->alias->settings->includeroot) <
               0) {
        scepd_op_text(op, 500, "error", "cannot build the CA certificate reply");
        return;
    } else {
        (void)scepd_op_body(op, 200, type, der, len);
        OPENSSL_free(der);
    }
    op->outcome = "ok";
}

/* EJBCA's GetCACertChain: the whole chain, CA first, as certs-only. */
static void op_get_ca_cert_chain(struct scepd_op *op)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (scepd_caid_select(op) < 0)
        return;
    const scep_ca *active = scepd_ca_active(op, op->ca);
    STACK_OF(X509) *chain = X509_chain_up_ref(scep_ca_chain(active));
    int rc = chain != NULL && sk_X509_insert(chain, scep_ca_cert(active), 0) > 0 ? 0 : -1;
    if (rc == 0)
        X509_up_ref(scep_ca_cert(active));
    if (rc < 0 || scep_certs_only_build(&der, &len, chain, NULL) < 0) {
        sk_X509_pop_free(chain, X509_free);
        scepd_op_text(op, 500, "error", "cannot build the chain");
        return;
    }
    sk_X509_pop_free(chain, X509_free);
    (void)scepd_op_body(op, 200, "application/x-x509-ca-ra-cert-chain", der, len);
    op->outcome = "ok";
    OPENSSL_free(der);
}

static const struct {
    const char *name;
    void (*handler)(struct scepd_op *op);
} operations[] = {
    {"GetCACaps", op_get_ca_caps},
    {"GetCACert", op_get_ca_cert},
    {"GetCACertChain", op_get_ca_cert_chain},
    {"GetNextCACert", scepd_op_get_next_ca_cert},
    {"PKIOperation", scepd_op_pki_operation},
};

static void log_request(const struct scepd_op *op)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (double)(end.tv_sec - op->start.tv_sec) * 1000.0 +
                (double)(end.tv_nsec - op->start.tv_nsec) / 1e6;
    char fail[24] = "-";
    if (op->fail_info >= 0)
        snprintf(fail, sizeof(fail), "%s", scep_fail_info_name((scep_fail_info)op->fail_info));
    scepd_log(SCEPD_LOG_INFO,
              "event=request client=%s method=%s alias=%s operation=%s message_type=%s "
              "transaction_id=%s http_status=%u outcome=%s fail_info=%s latency_ms=%.1f "
              "detail=\"%s\"",
              op->http->client_addr, op->http->method, op->alias ? op->alias->name : "-",
              op->operation ? op->operation : "-", op->message_type ? op->message_type : "-",
              op->transaction_id[0] ? op->transaction_id : "-", op->response->status,
              op->outcome ? op->outcome : "-", fail, ms, op->detail);
}

void scepd_handle(void *payload, const struct scepd_http_request *request,
                  struct scepd_http_response *response)
{
    struct scepd_op op = {
        .server = payload,
        .http = request,
        .response = response,
        .fail_info = -1,
        .now = time(NULL),
    };
    clock_gettime(CLOCK_MONOTONIC, &op.start);
    op.generation = atomic_load(&op.server->generation);

    if (scepd_crl_http(&op))
        goto done;
    char alias_name[SCEPD_ALIAS_MAX + 1];
    if (scepd_route_alias(alias_name, sizeof(alias_name), request->path) < 0) {
        scepd_op_text(&op, 404, "not_found", "no SCEP service at this path");
        goto done;
    }
    op.alias = alias_name[0] != '\0' ? scepd_generation_alias(op.generation, alias_name)
                                     : op.generation->default_alias;
    if (op.alias == NULL) {
        if (alias_name[0] != '\0')
            scepd_op_text(&op, 404, "unknown_alias", "unknown SCEP alias \"%s\"", alias_name);
        else
            scepd_op_text(&op, 404, "unknown_alias",
                          "no default SCEP alias: use /scep/ALIAS/pkiclient.exe");
        goto done;
    }
    const char *operation = request->operation;
    /* RFC 8894 §4.3: with POST only PKIOperation is possible, and some clients omit it. */
    if (operation == NULL && strcmp(request->method, "POST") == 0)
        operation = "PKIOperation";
    if (operation == NULL) {
        scepd_op_text(&op, 400, "bad_operation", "the operation parameter is missing");
        goto done;
    }
    for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++) {
        if (strcasecmp(operation, operations[i].name) == 0) {
            op.operation = operations[i].name;
            operations[i].handler(&op);
            goto done;
        }
    }
    scepd_op_text(&op, 400, "bad_operation", "unknown operation \"%.64s\"", operation);

done:
    log_request(&op);
}
