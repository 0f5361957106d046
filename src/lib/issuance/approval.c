/*
 * Manual approval's decisions (alias approval = manual, docs/operations.md): the
 * operator approves or rejects a request scepd holds PENDING. The CA is loaded with
 * the same key checks as scepd, and the certificate committed with scep_store_issue
 * (request -> ISSUED, end entity -> GENERATED), so the client's next CertPoll gets
 * SUCCESS; a rejection leaves the reason the next poll reads as failInfoText.
 */
#include "issuance/issuance.h"
#include "util/error_internal.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The default when the alias is no longer configured: a row must still expire. */
#define DEFAULT_PENDING_EXPIRY (7 * SCEP_CONFIG_DAY)

long long scep_request_pending_expiry(const scep_config *config, const char *alias)
{
    const struct scep_config_alias_settings *settings = scep_config_alias(config, alias);
    return settings != NULL ? settings->pendingexpiry : DEFAULT_PENDING_EXPIRY;
}

const char *scep_request_status_name(const scep_store_request *row, long long pending_expiry,
                                     int64_t now)
{
    if (scep_request_was_expired(row) ||
        (row->status == SCEP_REQ_PENDING && scep_request_pending_expired(row, pending_expiry, now)))
        return "expired";
    switch (row->status) {
    case SCEP_REQ_PENDING:
        return "pending";
    case SCEP_REQ_ISSUED:
        return "issued";
    case SCEP_REQ_REJECTED:
        return "rejected";
    case SCEP_REQ_FAILED:
        return "failed";
    }
    return "?";
}

/* The change itself is done: a failed audit row is reported to the caller, not fatal. */
static void audit(scep_request_decided *out, scep_store *store, const char *actor,
                  const char *action, const char *alias, const char *detail)
{
    scep_store_audit_event event = {
        .actor = actor, .action = action, .alias = alias, .outcome = "ok", .detail = detail};
    if (scep_store_audit_append(store, &event) < 0)
        out->audit_failed = 1;
}

/*
 * Loads the request and refuses what may not be decided: only a request scepd
 * authorised and holds (PENDING "awaiting approval"); one past pendingexpiry is
 * marked expired on the way.
 */
static int load_decidable(scep_store_request **out, scep_request_decided *result, scep_store *store,
                          const scep_config *config, int64_t request_id, const char *actor)
{
    int rc = SCEP_OK;
    scep_store_request *row = NULL;
    ENSURE(request_id > 0, SCEP_EINVAL, "request IDs are positive numbers");
    rc = scep_store_request_get(&row, store, request_id);
    if (rc == SCEP_ENOTFOUND) {
        rc = scep_fail(SCEP_ENOTFOUND, "no request %lld", (long long)request_id);
        goto cleanup;
    }
    GUARD(rc);
    snprintf(result->alias, sizeof(result->alias), "%s", row->alias);
    long long expiry = scep_request_pending_expiry(config, row->alias);
    if (row->status == SCEP_REQ_PENDING &&
        scep_request_pending_expired(row, expiry, (int64_t)time(NULL))) {
        if (scep_store_request_update(store, row->id, SCEP_REQ_REJECTED, (int)SCEP_FAIL_BAD_REQUEST,
                                      SCEP_APPROVAL_EXPIRED) == 0) {
            char detail[64];
            snprintf(detail, sizeof(detail), "request %lld expired", (long long)row->id);
            audit(result, store, actor, "request_expire", row->alias, detail);
        }
        ENSURE(0, SCEP_ESTATE,
               "request %lld expired (%s.pendingexpiry); the client must send a new request",
               (long long)row->id, row->alias);
    }
    ENSURE(scep_request_held(row), SCEP_ESTATE, "request %lld is not awaiting approval",
           (long long)row->id);
    *out = row;
    row = NULL;
cleanup:
    scep_store_request_free(row);
    return rc;
}

static X509_REQ *request_csr(const scep_store_request *row)
{
    const unsigned char *p = row->csr_der;
    if (p == NULL || row->csr_der_len == 0 || row->csr_der_len > SCEP_STORE_MAX_BLOB)
        return NULL;
    return d2i_X509_REQ(NULL, &p, (long)row->csr_der_len);
}

int scep_request_approve(scep_request_decided *out, scep_store *store, const scep_config *config,
                         int64_t request_id, const char *actor)
{
    int rc = SCEP_OK;
    scep_request_decided result;
    scep_store_request *row = NULL;
    scep_store_end_entity *ee = NULL;
    scep_store_ca *ca_row = NULL;
    scep_ca *ca = NULL;
    X509_REQ *csr = NULL;
    X509 *cert = NULL;
    scep_decision decision;
    unsigned warnings = 0;
    memset(&decision, 0, sizeof(decision));
    memset(&result, 0, sizeof(result));

    GUARD(load_decidable(&row, &result, store, config, request_id, actor));
    const struct scep_config_alias_settings *settings = scep_config_alias(config, row->alias);
    ENSURE(settings != NULL, SCEP_ECONFIG, "alias %s is not usable in the configuration",
           row->alias);
    /* What scepd decided when it authorised the request is what is issued. */
    GUARD(scep_decision_from_request(&decision, row));
    csr = request_csr(row);
    ENSURE(csr != NULL, SCEP_ESTORE, "request %lld: the stored CSR is unreadable",
           (long long)row->id);
    /* CA mode consumes the end entity's code now: it must still be NEW. */
    if (decision.mode == SCEP_DECISION_CA) {
        rc = scep_store_ee_get(&ee, store, decision.username);
        /* A store that cannot be reached is that, not "no longer NEW". */
        if (rc != SCEP_ENOTFOUND)
            GUARD(rc);
        ENSURE(rc == SCEP_OK && ee->status == SCEP_EE_NEW, SCEP_ESTATE,
               "end entity %s is no longer NEW (enrolled, reset or disabled since)",
               decision.username);
    }
    /* A reset (new code) or a changed registration since the request was decided ends it:
     * the operator would approve names or a code that no longer hold. */
    if (decision.ee_updated_at != 0) {
        scep_store_ee_free(ee);
        ee = NULL;
        rc = scep_store_ee_get(&ee, store, decision.username);
        if (rc != SCEP_ENOTFOUND)
            GUARD(rc);
        ENSURE(rc == SCEP_OK && ee->updated_at == decision.ee_updated_at, SCEP_ESTATE,
               "end entity %s was reset or changed after request %lld was received; reject "
               "it and let the device send a new request",
               decision.username, (long long)row->id);
    }
    GUARD(scep_store_ca_get(&ca_row, store, decision.ca_name));
    GUARD(scep_ca_load_active(&ca, &warnings, ca_row, time(NULL)));
    scep_decided_issue issue = {
        .ca = ca,
        .decision = &decision,
        .csr = csr,
        .proof_verified = 1, /* scepd verified it on arrival; the stored copy has no secret */
        .request_id = row->id,
        .transaction_id = row->transaction_id,
        .actor = actor,
        .alias = row->alias,
        .crl_base_url = scep_config_global_values(config)->crl_base_url,
        .on_existing = settings->ra_onexisting == SCEP_ALIAS_RA_REFUSE ? SCEP_STORE_RA_REFUSE
                                                                       : SCEP_STORE_RA_REISSUE,
    };
    /* SCEP_ESTATE: decided meanwhile, the end entity enrolled, or (renewal) its certificate
     * or the end entity was revoked while the request waited; the store says which. */
    GUARD(scep_issue_decided(&cert, store, &issue));
    if (scep_serial_to_hex(result.serial, X509_get0_serialNumber(cert)) < 0)
        snprintf(result.serial, sizeof(result.serial), "?");
    snprintf(result.ca_name, sizeof(result.ca_name), "%s", decision.ca_name);
    snprintf(result.username, sizeof(result.username), "%s", decision.username);
    char detail[512];
    snprintf(detail, sizeof(detail), "request %lld user %s issued serial %s", (long long)row->id,
             decision.username, result.serial);
    audit(&result, store, actor, "request_approve", row->alias, detail);
    rc = SCEP_OK;
cleanup:
    if (out != NULL)
        *out = result;
    X509_free(cert);
    scep_ca_free(ca);
    scep_store_ca_free(ca_row);
    X509_REQ_free(csr);
    scep_decision_clear(&decision);
    scep_store_ee_free(ee);
    scep_store_request_free(row);
    return rc;
}

int scep_request_reject(scep_request_decided *out, scep_store *store, const scep_config *config,
                        int64_t request_id, const char *reason, const char *actor)
{
    int rc = SCEP_OK;
    scep_request_decided result;
    scep_store_request *row = NULL;
    memset(&result, 0, sizeof(result));
    size_t len = reason != NULL ? strlen(reason) : 0;
    ENSURE(len > 0 && len <= SCEP_REJECT_REASON_MAX, SCEP_EINVAL, "the reason is 1..%d characters",
           SCEP_REJECT_REASON_MAX);
    for (size_t i = 0; i < len; i++)
        ENSURE((unsigned char)reason[i] >= 0x20 && reason[i] != 0x7f, SCEP_EINVAL,
               "the reason may not hold control characters");
    GUARD(load_decidable(&row, &result, store, config, request_id, actor));
    /* RFC 8894 §3.3.2.3: the client's next poll gets FAILURE badRequest with this text. */
    GUARD(scep_store_request_update(store, row->id, SCEP_REQ_REJECTED, (int)SCEP_FAIL_BAD_REQUEST,
                                    reason));
    char detail[SCEP_REJECT_REASON_MAX + 64];
    snprintf(detail, sizeof(detail), "request %lld rejected: %s", (long long)row->id, reason);
    audit(&result, store, actor, "request_reject", row->alias, detail);
cleanup:
    if (out != NULL)
        *out = result;
    scep_store_request_free(row);
    return rc;
}
