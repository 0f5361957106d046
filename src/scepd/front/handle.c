/*
 * The HTTP front end's handler: the CRL paths, alias routing, then the
 * operation table (RFC 8894 §4); PKIOperation goes to the messageType table
 * (enroll/dispatch.c), and every operation of a relay alias to the relay (relay/).
 * Every request ends in exactly one log line.
 */
#include "scepd/front/handle.h"
#include "scepd/front/health.h"
#include "scepd/enroll/enroll.h"
#include "scepd/http/route.h"
#include "scepd/log.h"
#include "scepd/ops/crl.h"
#include "scepd/relay/relay.h"
#include "scepd/state/metrics.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void pki_operation(struct scepd_op *op)
{
    scep_pkimessage *msg = NULL;
    unsigned char *decoded = NULL;
    if (scepd_pkiop_open(op, &msg, &decoded) == SCEP_OK)
        scepd_dispatch(op, msg);
    scep_pkimessage_free(msg);
    OPENSSL_free(decoded);
}

static const struct {
    const char *name;
    void (*handler)(struct scepd_op *op);
} operations[] = {
    {"GetCACaps", scepd_op_get_ca_caps},
    {"GetCACert", scepd_op_get_ca_cert},
    {"GetCACertChain", scepd_op_get_ca_cert_chain},
    {"GetNextCACert", scepd_op_get_next_ca_cert},
    {"PKIOperation", pki_operation},
};

int scepd_answer_inline(const struct scepd_http_request *request)
{
    char alias_name[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    if (request->operation == NULL || strcmp(request->method, "GET") != 0 ||
        scepd_route_alias(alias_name, sizeof(alias_name), request->path) < 0)
        return 0;
    /* PKIOperation signs and commits; the others here build their reply from the CAs
     * already in memory. A CRL path never routes to an alias (scepd_crl_http comes first in
     * scepd_handle and may read the store). */
    return strcmp(request->operation, "GetCACaps") == 0 ||
           strcmp(request->operation, "GetCACert") == 0 ||
           strcmp(request->operation, "GetCACertChain") == 0 ||
           strcmp(request->operation, "GetNextCACert") == 0;
}

static void log_request(const struct scepd_op *op)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (double)(end.tv_sec - op->start.tv_sec) * 1000.0 +
                (double)(end.tv_nsec - op->start.tv_nsec) / 1e6;
    char fail[24] = "-";
    char transaction_id[2 * SCEP_TRANSACTION_ID_MAX + 8];
    scepd_log_value(transaction_id, sizeof(transaction_id), op->transaction_id);
    if (op->fail_info >= 0)
        snprintf(fail, sizeof(fail), "%s", scep_fail_info_name((scep_fail_info)op->fail_info));
    scepd_log(SCEPD_LOG_INFO,
              "event=request client=%s method=%s alias=%s operation=%s message_type=%s "
              "transaction_id=%s http_status=%u outcome=%s fail_info=%s latency_ms=%.1f "
              "detail=\"%s\"",
              op->http->client_addr, op->http->method, op->alias ? op->alias->name : "-",
              op->operation ? op->operation : "-", op->message_type ? op->message_type : "-",
              transaction_id, op->response->status, op->outcome ? op->outcome : "-", fail, ms,
              op->detail);
    scepd_metrics_request(op->server->metrics, op->alias ? op->alias->name : NULL, op->operation,
                          op->outcome, ms / 1000.0);
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
    /* Asked every few seconds by each load balancer: no log line, no request metrics. */
    if (scepd_route_health(request->path)) {
        scepd_health(op.server, request, response);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &op.start);
    op.generation = scepd_generation_acquire(op.server);

    if (scepd_crl_http(&op))
        goto done;
    char alias_name[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
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
            if (op.alias->settings->operationmode == SCEP_ALIAS_MODE_RELAY)
                scepd_relay_operation(&op);
            else
                operations[i].handler(&op);
            goto done;
        }
    }
    scepd_op_text(&op, 400, "bad_operation", "unknown operation \"%.64s\"", operation);

done:
    log_request(&op);
    if (op.store_lost)
        scepd_server_store_drop(op.server);
    scepd_generation_release(op.generation);
}
