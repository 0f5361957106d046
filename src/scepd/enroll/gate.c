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
        /* Only a secret that is the device's own (its code, a one-time challenge): never
         * the alias-wide ra.authPwd. */
        .challenge_password =
            e->has_challenge && (e->auth == SCEPD_AUTH_CODE || e->auth == SCEPD_AUTH_CHALLENGE)
                ? e->challenge
                : NULL,
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

static enum scepd_stage hold(struct scepd_enrollment *e)
{
    int64_t other_id = 0;
    /* One waiting request per end entity: checked and held in one store transaction. */
    int64_t since = (int64_t)e->op->now - (int64_t)e->op->alias->settings->pendingexpiry;
    e->decision.ee_updated_at = e->ee != NULL ? e->ee->updated_at : 0;
    int rc =
        scep_decision_hold(e->store, e->row->id, &e->decision, since > 0 ? since : 1, &other_id);
    scepd_op_store_lost(e->op, rc);
    if (rc == SCEP_EEXISTS)
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, "another request of this end entity awaits approval",
            "user %s: request %lld already awaits approval", e->username, (long long)other_id);
    if (rc < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
                                   "user %s: cannot hold the request: %s", e->username,
                                   scep_error_message());
    scepd_enroll_audit(e->store, e->op, "enroll", "pending", e->username);
    e->answer.kind = SCEPD_ANSWER_PENDING;
    scepd_enroll_note(e, "%s %s: request %lld held for approval",
                      e->decision.mode == SCEP_DECISION_CA ||
                              e->decision.mode == SCEP_DECISION_RENEWAL
                          ? "user"
                          : "RA user",
                      e->username, (long long)e->row->id);
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
