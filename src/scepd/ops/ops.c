/*
 * The helpers every operation answers with: a plain-text HTTP answer (before a
 * request could be verified), a body, and the log line's detail.
 */
#include "scepd/ops/ops.h"
#include "scepd/log.h"
#include "util/error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int scepd_op_store_lost(struct scepd_op *op, int rc)
{
    if (rc != SCEP_EUNAVAILABLE)
        return 0;
    if (!op->store_lost)
        scepd_log(SCEPD_LOG_WARN,
                  "event=store_unavailable client=%s alias=%s operation=%s detail=\"%s\"",
                  op->http->client_addr, op->alias != NULL ? op->alias->name : "-",
                  op->operation != NULL ? op->operation : "-", scep_error_message());
    op->store_lost = 1;
    return 1;
}

void scepd_op_unavailable(struct scepd_op *op)
{
    free(op->response->body);
    op->response->body = NULL;
    op->fail_info = -1;
    scepd_op_text(op, 503, "unavailable", "the store cannot be reached; try again later");
    op->response->retry_after = SCEPD_OP_RETRY_AFTER;
}
