/*
 * The atomic issuance step (docs/store.md "The atomic issuance step"), written once for
 * every backend: the order of the checks and writes, their errors and the audit events,
 * on top of the backend's row operations inside one begin_write transaction.
 */
#include "store/store_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* ---- status names and "why did nothing change" ----------------------------------- */

const char *scep_store_ee_status_text(scep_store_ee_status status)
{
    switch (status) {
    case SCEP_EE_NEW:
        return "NEW";
    case SCEP_EE_GENERATED:
        return "GENERATED";
    case SCEP_EE_REVOKED:
        return "REVOKED";
    case SCEP_EE_DISABLED:
        return "DISABLED";
    }
    return "?";
}

const char *scep_store_request_status_text(scep_store_request_status status)
{
    switch (status) {
    case SCEP_REQ_PENDING:
        return "PENDING";
    case SCEP_REQ_ISSUED:
        return "ISSUED";
    case SCEP_REQ_REJECTED:
        return "REJECTED";
    case SCEP_REQ_FAILED:
        return "FAILED";
    }
    return "?";
}

const char *scep_store_cert_status_text(scep_store_cert_status status)
{
    switch (status) {
    case SCEP_CERT_VALID:
        return "VALID";
    case SCEP_CERT_REVOKED:
        return "REVOKED";
    }
    return "?";
}

int scep_store_explain_ee(scep_store *store, const char *username)
{
    int rc = SCEP_OK;
    scep_store_end_entity ee;
    memset(&ee, 0, sizeof(ee));
    GUARD(store->ops->ee_get(&ee, NULL, store, username));
    rc = scep_fail(SCEP_ESTATE, "end entity is %s", scep_store_ee_status_text(ee.status));
cleanup:
    scep_store_ee_clear(&ee);
    return rc;
}

int scep_store_explain_request(scep_store *store, int64_t id)
{
    int rc = SCEP_OK;
    scep_store_request req;
    memset(&req, 0, sizeof(req));
    GUARD(store->ops->request_get(&req, store, id));
    rc = scep_fail(SCEP_ESTATE, "request is %s", scep_store_request_status_text(req.status));
cleanup:
    scep_store_request_clear(&req);
    return rc;
}

int scep_store_explain_cert(scep_store *store, const char *ca_name, const char *serial)
{
    int rc = SCEP_OK;
    scep_store_cert cert;
    memset(&cert, 0, sizeof(cert));
    GUARD(store->ops->cert_get(&cert, store, ca_name, serial));
    rc = scep_fail(SCEP_ESTATE, "certificate is %s", scep_store_cert_status_text(cert.status));
cleanup:
    scep_store_cert_clear(&cert);
    return rc;
}

/* ---- the issuance step ------------------------------------------------------------- */

/* Inside the issuance transaction: revokes the certificate a renewal replaces. */
static int revoke_replaced(scep_store *store, const scep_store_issuance *issuance,
                           const char *transaction_id, const char *alias, int64_t now)
{
    int rc = SCEP_OK;
    int changed = 0;
    char detail[256];
    const char *ca_name = issuance->cert->ca_name;
    GUARD(store->ops->cert_revoke_if_valid(&changed, store, ca_name, issuance->revoke_serial, now,
                                           issuance->revoke_reason));
    if (!changed)
        GUARD(scep_store_explain_cert(store, ca_name, issuance->revoke_serial));
    int n = snprintf(detail, sizeof(detail), "ca=%s serial=%s reason=%d replaced_by=%s", ca_name,
                     issuance->revoke_serial, issuance->revoke_reason, issuance->cert->serial);
    ENSURE(n > 0, SCEP_EINVAL, "audit detail");
    scep_store_audit_event event = {
        .time = now,
        .actor = issuance->actor != NULL ? issuance->actor : "scepd",
        .action = "revoke",
        .alias = alias,
        .transaction_id = transaction_id,
        .outcome = "success",
        .detail = detail,
    };
    GUARD(scep_store_audit_append_in_tx(store, &event));
cleanup:
    return rc;
}

/*
 * RA mode, inside the issuance transaction: the end entity is created, or
 * updated and set NEW, so that the consume step below moves it to GENERATED
 * exactly as in CA mode.
 */
static int ra_entity_prepare(scep_store *store, const scep_store_ra_entity *ra, int64_t now)
{
    int rc = SCEP_OK;
    int changed = 0;
    scep_store_end_entity held;
    memset(&held, 0, sizeof(held));
    if (ra->on_existing == SCEP_STORE_RA_REFUSE) {
        int holds = 0;
        GUARD(store->ops->cert_valid_for_user(&holds, store, ra->username, now));
        ENSURE(!holds, SCEP_EDENIED, "end entity %s already holds a valid certificate",
               ra->username);
    }
    GUARD(store->ops->ee_ra_upsert(&changed, store, ra, now));
    if (!changed) {
        GUARD(store->ops->ee_get(&held, NULL, store, ra->username));
        ENSURE(held.ra_alias != NULL && strcmp(held.ra_alias, ra->alias) == 0, SCEP_EDENIED,
               "the name %s belongs to an end entity RA mode of this alias did not create",
               ra->username);
        ENSURE(0, SCEP_EDENIED, "end entity %s is %s", ra->username,
               scep_store_ee_status_text(held.status));
    }
cleanup:
    scep_store_ee_clear(&held);
    return rc;
}

int scep_store_issue_tx(scep_store *store, const scep_store_ra_entity *ra,
                        const scep_store_issuance *issuance, int64_t now)
{
    const scep_store_cert *cert = issuance->cert;
    int rc = SCEP_OK;
    int in_tx = 0;
    char *request_alias = NULL;
    char *request_transaction_id = NULL;
    char detail[512];

    /*
     * begin_write serialises writers before the state checks, so of two connections
     * racing for one end entity the second waits, then sees GENERATED and fails with
     * SCEP_ESTATE.
     */
    GUARD(store->ops->begin_write(store));
    in_tx = 1;
    if (ra != NULL)
        GUARD(ra_entity_prepare(store, ra, now));
    if (issuance->renews_serial != NULL) {
        /* A renewal held for approval, or slower than a revocation, must not issue for a
         * certificate that was revoked or expired meanwhile. */
        int renewable = 0;
        GUARD(store->ops->cert_is_renewable(&renewable, store, cert->ca_name,
                                            issuance->renews_serial, now));
        ENSURE(renewable, SCEP_ESTATE, "the renewed certificate %s is no longer valid",
               issuance->renews_serial);
    }
    if (issuance->renewal_username != NULL) {
        int active = 0;
        GUARD(store->ops->ee_is_active(&active, store, issuance->renewal_username));
        ENSURE(active, SCEP_ESTATE, "end entity %s is revoked, disabled or gone",
               issuance->renewal_username);
    }

    if (issuance->username != NULL) {
        int changed = 0;
        GUARD(store->ops->ee_consume(&changed, store, issuance->username, now));
        if (!changed)
            GUARD(scep_store_explain_ee(store, issuance->username));
    }

    if (issuance->request_id != 0) {
        int changed = 0;
        GUARD(store->ops->request_mark_issued(&changed, &request_alias, &request_transaction_id,
                                              store, issuance->request_id, cert->ca_name,
                                              cert->serial, now));
        if (!changed)
            GUARD(scep_store_explain_request(store, issuance->request_id));
    }

    /* Without a transactionID or alias from the caller, the request row supplies them. */
    scep_store_cert row_cert = *cert;
    if (row_cert.transaction_id == NULL)
        row_cert.transaction_id = request_transaction_id;
    /* UNIQUE (ca_name, serial) is the serial-uniqueness guarantee: SCEP_EEXISTS here. */
    GUARD(store->ops->cert_add(store, &row_cert, now));
    if (issuance->revoke_serial != NULL)
        GUARD(revoke_replaced(store, issuance, row_cert.transaction_id,
                              issuance->alias != NULL ? issuance->alias : request_alias, now));

    int n = snprintf(detail, sizeof(detail), "ca=%s serial=%s subject=%.300s", cert->ca_name,
                     cert->serial, cert->subject);
    ENSURE(n > 0, SCEP_EINVAL, "audit detail");
    scep_store_audit_event event = {
        .time = now,
        .actor = issuance->actor != NULL ? issuance->actor : "scepd",
        .action = "issue",
        .alias = issuance->alias != NULL ? issuance->alias : request_alias,
        .transaction_id = row_cert.transaction_id,
        .outcome = "success",
        .detail = detail,
    };
    GUARD(scep_store_audit_append_in_tx(store, &event));
    GUARD(store->ops->commit(store));
    in_tx = 0;
cleanup:
    if (in_tx)
        store->ops->rollback(store);
    OPENSSL_free(request_alias);
    OPENSSL_free(request_transaction_id);
    return rc;
}
