/*
 * Stage 5, gate: the same gates for every mode and for renewal, in this order —
 * the webhook (webhook.url) sees the certificate as it will be issued (final
 * subject, every subjectAltName of every type), then manual approval holds the
 * request with its decision recorded, so that what the operator approves is what
 * is issued (scepctl request approve issues the recorded decision).
 */
#include "scepd/enroll/enrollment.h"
#include "scepd/log.h"
#include "scepd/enroll/webhook.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static enum scepd_stage ask_webhook(struct scepd_enrollment *e)
{
    const struct scep_config_alias_settings *s = e->op->alias->settings;
    char reason[SCEPD_WEBHOOK_REASON_MAX + 1] = "";
    char text[SCEPD_TEXT_MAX];
    struct scepd_webhook_query query = {
        .alias = e->op->alias->name,
        .transaction_id = scep_pkimessage_transaction_id(e->msg),
        .message_type = scep_message_type_name(scep_pkimessage_type(e->msg)),
        .mode = scep_decision_mode_name(e->decision.mode),
        .username = e->decision.username,
        .subject = e->decision.subject,
        .sans = e->decision.sans,
        .key = X509_REQ_get0_pubkey(e->csr),
        .challenge_password = e->has_challenge ? e->challenge : NULL,
        .client_addr = e->op->http->client_addr,
    };
    switch (scepd_webhook_ask(s, &query, reason, sizeof(reason))) {
    case SCEPD_WEBHOOK_ALLOW:
        return SCEPD_STAGE_NEXT;
    case SCEPD_WEBHOOK_UNAVAILABLE:
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "enrollment refused: the authorisation service is unavailable",
                                   "webhook unreachable: %s", reason);
    case SCEPD_WEBHOOK_DENY:
        break;
    }
    snprintf(text, sizeof(text), "enrollment refused by the authorisation service%s%s",
             reason[0] ? ": " : "", reason);
    return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, text, "webhook denied%s%s",
                               reason[0] ? ": " : "", reason);
}

/* Whether another held, unexpired request is for the same end entity. */
static int other_request_waiting(int64_t *out_id, const struct scepd_enrollment *e)
{
    scep_store_request *pending = NULL;
    size_t count = 0;
    int found = 0;
    if (scep_store_request_list(&pending, &count, e->store, SCEP_REQ_PENDING, 0) < 0)
        return -1;
    for (size_t i = 0; i < count && !found; i++) {
        const scep_store_request *other = &pending[i];
        if (other->id == e->row->id || !scep_request_held(other) ||
            other->decided_username == NULL ||
            strcmp(other->decided_username, e->decision.username) != 0)
            continue;
        const struct scepd_alias *alias = scepd_generation_alias(e->op->generation, other->alias);
        long long expiry = (alias != NULL ? alias : e->op->alias)->settings->pendingexpiry;
        if (!scep_request_pending_expired(other, expiry, (int64_t)time(NULL))) {
            found = 1;
            *out_id = other->id;
        }
    }
    scep_store_request_list_free(pending, count);
    return found;
}

static enum scepd_stage hold(struct scepd_enrollment *e)
{
    int64_t other_id = 0;
    int waiting = other_request_waiting(&other_id, e);
    if (waiting > 0)
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, "another request of this end entity awaits approval",
            "user %s: request %lld already awaits approval", e->username, (long long)other_id);
    if (waiting < 0 || scep_decision_hold(e->store, e->row->id, &e->decision) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
                                   "user %s: cannot hold the request: %s", e->username,
                                   scep_error_message());
    scep_store_audit_event event = {
        .actor = e->op->http->client_addr,
        .action = "enroll",
        .alias = e->op->alias->name,
        .transaction_id = e->op->transaction_id,
        .outcome = "pending",
        .detail = e->username,
    };
    if (scep_store_audit_append(e->store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
    e->answer.kind = SCEPD_ANSWER_PENDING;
    scepd_enroll_note(e, "%s %s: request %lld held for approval",
                      e->decision.mode == SCEP_DECISION_CA ? "user" : "RA user", e->username,
                      (long long)e->row->id);
    return SCEPD_STAGE_DONE;
}

enum scepd_stage scepd_enroll_gate(struct scepd_enrollment *e)
{
    enum scepd_stage stage = ask_webhook(e);
    if (stage != SCEPD_STAGE_NEXT)
        return stage;
    if (e->op->alias->settings->approval == SCEP_ALIAS_APPROVAL_MANUAL)
        return hold(e);
    return SCEPD_STAGE_NEXT;
}
