/*
 * Webhook authorisation (ALIAS.webhook.url), Intune-style: before issuing,
 * scepd POSTs the verified request as JSON, signed with HMAC-SHA256, and
 * issues only when the receiver answers HTTP 200 with "allow": true.
 */
#ifndef SCEPD_WEBHOOK_H
#define SCEPD_WEBHOOK_H

#include "scepd/ops.h"

/* Longest reason text taken from the receiver's answer. */
#define SCEPD_WEBHOOK_REASON_MAX 128

/*
 * 0 when the alias has no webhook.url or its receiver allows the request (or
 * cannot be reached and webhook.failopen is on); otherwise refuses the request
 * (FAILURE badRequest, recorded on `request_id`) and returns 1.
 */
int scepd_webhook_deny(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                       int64_t request_id);

/*
 * The receiver's verdict from an HTTP status and body: 1 allow, 0 deny.
 * Allow needs status 200 and, once all whitespace is removed, exactly one
 * "allow": key whose value is the token true. `reason` (may be NULL) gets the
 * body's "reason" string, printable ASCII only, at most SCEPD_WEBHOOK_REASON_MAX.
 */
int scepd_webhook_verdict(long status, const char *body, size_t body_len,
                          char reason[SCEPD_WEBHOOK_REASON_MAX + 1]);

#endif
