/*
 * Stage 6, issue: exactly the decision, signed with the issuing CA's active key
 * (after a rollover's activation, the new one), with the CRL distribution point of
 * the CA that signs, committed with the request and the end entity's state before
 * the reply leaves (scep_issue_decided).
 */
#include "scepd/enroll/enrollment.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <string.h>

static const char *mode_word(scep_decision_mode mode)
{
    switch (mode) {
    case SCEP_DECISION_CA:
        return "user";
    case SCEP_DECISION_RENEWAL:
        return "renewal of user";
    default:
        return "RA user";
    }
}

enum scepd_stage scepd_enroll_issue(struct scepd_enrollment *e)
{
    const struct scep_config_alias_settings *s = e->op->alias->settings;
    scep_decided_issue issue = {
        .ca = scepd_ca_active(e->op->generation, e->ca, e->op->now),
        .decision = &e->decision,
        .csr = e->csr,
        .proof_verified = 1, /* identify.c verified the CSR's signature */
        .request_id = e->row->id,
        .transaction_id = e->op->transaction_id,
        .actor = e->op->http->client_addr,
        .alias = e->op->alias->name,
        .crl_base_url = scep_config_global_values(e->op->generation->config)->crl_base_url,
        .on_existing =
            s->ra_onexisting == SCEP_ALIAS_RA_REFUSE ? SCEP_STORE_RA_REFUSE : SCEP_STORE_RA_REISSUE,
    };
    int rc = scep_issue_decided(&e->answer.cert, e->store, &issue);
    /* Issuance is one transaction: a lost store leaves no certificate behind. */
    scepd_op_store_lost(e->op, rc);
    if (rc == SCEP_ESTATE) {
        e->answer.cert = NULL;
        scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                            e->decision.mode == SCEP_DECISION_RENEWAL
                                ? "renewal refused: the old certificate or its end entity was "
                                  "revoked meanwhile"
                                : "enrollment refused: this enrollment code was already used; "
                                  "ask for a reset",
                            "%s %s: %s (lost a race)", mode_word(e->decision.mode), e->username,
                            scep_error_message());
        /* Our own row is marked FAILED; an ISSUED one is never overwritten by the store. */
        return SCEPD_STAGE_DONE;
    }
    if (rc == SCEP_EDENIED) {
        e->answer.cert = NULL;
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "enrollment refused: the end entity already holds a valid "
                                   "certificate or is disabled",
                                   "%s %s: %s", mode_word(e->decision.mode), e->username,
                                   scep_error_message());
    }
    if (rc < 0) {
        e->answer.cert = NULL;
        return scepd_enroll_refuse(
            e, scep_error_fail_info(rc),
            rc == SCEP_EPOLICY || rc == SCEP_EBADALG ? scep_error_message()
                                                     : "the certificate could not be issued",
            "%s %s: %s", mode_word(e->decision.mode), e->username, scep_error_message());
    }
    char serial[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial, X509_get0_serialNumber(e->answer.cert)) < 0)
        serial[0] = '\0';
    e->answer.kind = SCEPD_ANSWER_CERT;
    if (e->decision.mode == SCEP_DECISION_RENEWAL)
        scepd_enroll_note(e, "user %s renewed serial %s as %s%s%s%s", e->username, e->old->serial,
                          serial, e->decision.replaces_serial ? " (old revoked: superseded)" : "",
                          e->name_notes[0] ? "; " : "", e->name_notes);
    else
        scepd_enroll_note(e, "%s %s issued serial %s%s%s", mode_word(e->decision.mode), e->username,
                          serial, e->name_notes[0] ? "; " : "", e->name_notes);
    return SCEPD_STAGE_DONE;
}
