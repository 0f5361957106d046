/*
 * Manual approval (EJBCA-like): the request is authorised when it arrives
 * (end entity + enrollment code, checked by enroll.c), then held PENDING with
 * its CSR, signer certificate, client address and time. The end entity stays
 * NEW until `scepctl request approve` issues (scep_store_issue consumes it),
 * so a rejected or expired request leaves the code usable for a new request.
 * While one request of an end entity waits, another one is refused.
 */
#include "scepd/approval.h"
#include "scepd/enroll.h"
#include "scepd/log.h"
#include "ca/issuance.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define USERNAME_MAX 256

int scepd_approval_manual(const struct scepd_op *op)
{
    return op->alias->settings->approval == SCEP_ALIAS_APPROVAL_MANUAL;
}

static void audit(scep_store *store, const struct scepd_op *op, const char *outcome,
                  const char *detail)
{
    scep_store_audit_event event = {
        .actor = op->http->client_addr,
        .action = "enroll",
        .alias = op->alias->name,
        .transaction_id = op->transaction_id,
        .outcome = outcome,
        .detail = detail,
    };
    if (scep_store_audit_append(store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
}

/* The pendingexpiry of the alias a stored request arrived on (this alias when it is gone). */
static long long pending_expiry_of(const struct scepd_op *op, const char *alias_name)
{
    const struct scepd_alias *alias = scepd_generation_alias(op->generation, alias_name);
    return (alias != NULL ? alias : op->alias)->settings->pendingexpiry;
}

/* Marks a held request expired; 1 when it was (and is now REJECTED). */
static int expire_if_due(const struct scepd_op *op, scep_store *store,
                         const scep_store_request *row)
{
    if (!scep_request_pending_expired(row, pending_expiry_of(op, row->alias), (int64_t)time(NULL)))
        return 0;
    if (scep_store_request_update(store, row->id, SCEP_REQ_REJECTED, (int)SCEP_FAIL_BAD_REQUEST,
                                  SCEP_APPROVAL_EXPIRED) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=store_failed detail=\"%s\"", scep_error_message());
    return 1;
}

void scepd_approval_answer_pending(struct scepd_op *op, const scep_pkimessage *msg,
                                   scep_store *store, const scep_store_request *row)
{
    if (expire_if_due(op, store, row)) {
        scepd_op_detail(op, "request %lld waited past pendingexpiry", (long long)row->id);
        audit(store, op, "expired", "pending request expired before approval");
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, SCEP_APPROVAL_EXPIRED);
        return;
    }
    /* RFC 8894 §3.3.2.3: PENDING until the operator acts. */
    struct scepd_outcome outcome = {.status = SCEP_STATUS_PENDING};
    scepd_op_detail(op, "request %lld awaits approval", (long long)row->id);
    scepd_reply(op, msg, &outcome);
}

int scepd_approval_retransmission(struct scepd_op *op, const scep_pkimessage *msg,
                                  scep_store *store, const scep_store_request *row)
{
    if (row->status == SCEP_REQ_REJECTED) {
        /* The operator's (or the expiry's) decision is final for this transactionID. */
        scepd_op_detail(op, "retransmission of rejected request %lld", (long long)row->id);
        scepd_reply_failure(
            op, msg, row->fail_info >= 0 ? (scep_fail_info)row->fail_info : SCEP_FAIL_BAD_REQUEST,
            row->reason ? row->reason : "the request was rejected");
        return 1;
    }
    if (scep_request_held(row)) {
        scepd_approval_answer_pending(op, msg, store, row);
        return 1;
    }
    return 0;
}

/* Whether another held, unexpired request names `username` (usernames are store-wide). */
static int other_request_waiting(int64_t *out_id, const struct scepd_op *op, scep_store *store,
                                 const scep_store_request *row, const char *username)
{
    scep_store_request *pending = NULL;
    size_t count = 0;
    int found = 0;
    if (scep_store_request_list(&pending, &count, store, SCEP_REQ_PENDING, 0) < 0)
        return -1;
    for (size_t i = 0; i < count && !found; i++) {
        const scep_store_request *other = &pending[i];
        if (other->id == row->id || !scep_request_held(other))
            continue;
        const unsigned char *p = other->csr_der;
        X509_REQ *csr = d2i_X509_REQ(NULL, &p, (long)other->csr_der_len);
        char other_username[USERNAME_MAX];
        const struct scepd_alias *alias = scepd_generation_alias(op->generation, other->alias);
        if (csr != NULL &&
            scep_username_from_subject(
                other_username, sizeof(other_username), X509_REQ_get_subject_name(csr),
                &(alias ? alias : op->alias)->settings->usernamefield) == SCEP_OK &&
            strcmp(other_username, username) == 0 && !expire_if_due(op, store, other)) {
            found = 1;
            *out_id = other->id;
        }
        X509_REQ_free(csr);
    }
    scep_store_request_list_free(pending, count);
    return found;
}

void scepd_approval_hold(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                         const scep_store_request *row, const char *username)
{
    char detail[384];
    int64_t other_id = 0;
    int waiting = other_request_waiting(&other_id, op, store, row, username);
    if (waiting != 0) {
        const char *text = waiting > 0 ? "another request of this end entity awaits approval"
                                       : "the server cannot record the request";
        if (waiting > 0)
            snprintf(detail, sizeof(detail), "user %s: request %lld already awaits approval",
                     username, (long long)other_id);
        else
            snprintf(detail, sizeof(detail), "user %s: %s", username, scep_error_message());
        scepd_op_detail(op, "%s", detail);
        if (scep_store_request_update(store, row->id, SCEP_REQ_FAILED, (int)SCEP_FAIL_BAD_REQUEST,
                                      text) < 0)
            scepd_log(SCEPD_LOG_WARN, "event=store_failed detail=\"%s\"", scep_error_message());
        audit(store, op, "refused", detail);
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, text);
        return;
    }
    if (scep_store_request_update(store, row->id, SCEP_REQ_PENDING, SCEP_STORE_NO_FAIL_INFO,
                                  SCEP_APPROVAL_HELD) < 0) {
        scepd_op_detail(op, "cannot hold the request: %s", scep_error_message());
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request");
        return;
    }
    snprintf(detail, sizeof(detail), "user %s: request %lld held for approval", username,
             (long long)row->id);
    audit(store, op, "pending", detail);
    scepd_op_detail(op, "%s", detail);
    struct scepd_outcome outcome = {.status = SCEP_STATUS_PENDING};
    scepd_reply(op, msg, &outcome);
}
