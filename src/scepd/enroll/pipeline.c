/*
 * The pipeline's driver (enrollment.h): runs the stages in order, then answers
 * once. Also the answer to a stored transaction (retransmission, CertPoll,
 * GetCert), so that every CertRep of an enrollment is built in one place.
 */
#include "scepd/enroll/enrollment.h"
#include "scepd/log.h"
#include "scepd/state/guard.h"
#include "scepd/state/metrics.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef enum scepd_stage (*stage_fn)(struct scepd_enrollment *e);

static const stage_fn stages[] = {
    scepd_enroll_identify,  scepd_enroll_authenticate, scepd_enroll_record, scepd_enroll_bind,
    scepd_enroll_constrain, scepd_enroll_gate,         scepd_enroll_issue,
};

enum scepd_stage scepd_enroll_refuse(struct scepd_enrollment *e, scep_fail_info fail_info,
                                     const char *text, const char *fmt, ...)
{
    struct scepd_answer *a = &e->answer;
    a->kind = SCEPD_ANSWER_FAILURE;
    a->fail_info = fail_info;
    a->record = 1;
    snprintf(a->text, sizeof(a->text), "%s", text);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->detail, sizeof(a->detail), fmt, ap);
    va_end(ap);
    if (n < 0)
        a->detail[0] = '\0';
    return SCEPD_STAGE_DONE;
}

void scepd_enroll_note(struct scepd_enrollment *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->answer.detail, sizeof(e->answer.detail), fmt, ap);
    va_end(ap);
    if (n < 0)
        e->answer.detail[0] = '\0';
}

/*
 * The SubjectPublicKeyInfo as the message carries it: i2d_PUBKEY of the EVP_PKEY would
 * give the same bytes for any conforming encoding, but through OpenSSL 3.0's encoder
 * lookup, which costs more than the rest of the hash (docs/performance.md).
 */
static int spki_sha256(unsigned char out[32], X509_PUBKEY *key)
{
    unsigned char *spki = NULL;
    int len = key != NULL ? i2d_X509_PUBKEY(key, &spki) : -1;
    if (len <= 0)
        return scep_fail_ossl(SCEP_EMALFORMED, "the request's public key cannot be encoded");
    unsigned int digest_len = 0;
    int ok = EVP_Digest(spki, (size_t)len, out, &digest_len, EVP_sha256(), NULL);
    OPENSSL_free(spki);
    return ok == 1 ? SCEP_OK : scep_fail_ossl(SCEP_ECRYPTO, "SHA-256");
}

int scepd_csr_key_hash(unsigned char out[32], X509_REQ *csr)
{
    return spki_sha256(out, X509_REQ_get_X509_PUBKEY(csr));
}

int scepd_csr_challenge(char *out, size_t out_size, X509_REQ *csr)
{
    int idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
    if (idx < 0)
        return -1;
    ASN1_TYPE *value = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(csr, idx), 0);
    if (value == NULL || value->type == V_ASN1_BOOLEAN || value->type == V_ASN1_NULL ||
        value->type == V_ASN1_OBJECT)
        return -1;
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, value->value.asn1_string);
    if (len <= 0 || (size_t)len >= out_size || memchr(utf8, '\0', (size_t)len) != NULL) {
        OPENSSL_clear_free(utf8, len > 0 ? (size_t)len : 0);
        return -1;
    }
    memcpy(out, utf8, (size_t)len);
    out[len] = '\0';
    OPENSSL_clear_free(utf8, (size_t)len);
    return 0;
}

/* ---- answers from the store ------------------------------------------------------ */

/* The pendingexpiry of the alias a stored request arrived on (this alias when it is gone). */
static long long pending_expiry_of(const struct scepd_op *op, const char *alias_name)
{
    const struct scepd_alias *alias = scepd_generation_alias(op->generation, alias_name);
    return (alias != NULL ? alias : op->alias)->settings->pendingexpiry;
}

void scepd_held_answer(struct scepd_answer *a, struct scepd_op *op, scep_store *store,
                       const scep_store_request *row)
{
    if (scep_request_pending_expired(row, pending_expiry_of(op, row->alias), (int64_t)time(NULL))) {
        int rc = scep_store_request_update(store, row->id, SCEP_REQ_REJECTED,
                                           (int)SCEP_FAIL_BAD_REQUEST, SCEP_APPROVAL_EXPIRED);
        if (rc < 0 && !scepd_op_store_lost(op, rc))
            scepd_log(SCEPD_LOG_WARN, "event=store_failed detail=\"%s\"", scep_error_message());
        a->kind = SCEPD_ANSWER_FAILURE;
        a->fail_info = SCEP_FAIL_BAD_REQUEST;
        snprintf(a->text, sizeof(a->text), "%s", SCEP_APPROVAL_EXPIRED);
        snprintf(a->detail, sizeof(a->detail), "request %lld waited past pendingexpiry",
                 (long long)row->id);
        return;
    }
    /* RFC 8894 §3.3.2.3: PENDING until the operator acts. */
    a->kind = SCEPD_ANSWER_PENDING;
    snprintf(a->detail, sizeof(a->detail), "request %lld awaits approval", (long long)row->id);
}

void scepd_stored_answer(struct scepd_answer *a, const scep_store_request *row)
{
    if (row->status == SCEP_REQ_ISSUED && row->cert_serial != NULL && row->ca_name != NULL) {
        a->kind = SCEPD_ANSWER_STORED_CERT;
        snprintf(a->ca_name, sizeof(a->ca_name), "%s", row->ca_name);
        snprintf(a->serial, sizeof(a->serial), "%s", row->cert_serial);
        snprintf(a->detail, sizeof(a->detail), "stored certificate %s sent again",
                 row->cert_serial);
        return;
    }
    a->kind = SCEPD_ANSWER_FAILURE;
    a->fail_info = row->fail_info >= 0 ? (scep_fail_info)row->fail_info : SCEP_FAIL_BAD_REQUEST;
    snprintf(a->text, sizeof(a->text), "%s",
             row->reason != NULL ? row->reason : "the request was refused");
    snprintf(a->detail, sizeof(a->detail), "request %lld was %s", (long long)row->id,
             row->status == SCEP_REQ_REJECTED ? "rejected" : "refused");
}

/* The issued certificate first, then the CA chain when includeca (interop.md §15). */
static int success_certs(STACK_OF(X509) * *out, const struct scepd_op *op, X509 *issued)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs == NULL || sk_X509_push(certs, issued) <= 0) {
        sk_X509_free(certs);
        return scep_fail(SCEP_ENOMEM, "out of memory");
    }
    if (op->alias->settings->includeca) {
        /* The CA certificate whose key signed `issued`, of whichever CA the alias serves. */
        const scep_ca *issuer = NULL;
        for (size_t i = 0; i < op->alias->ca_count && issuer == NULL; i++)
            issuer = scepd_ca_issuer_of(op->generation, op->alias->cas[i], op->now, issued);
        if (issuer != NULL) {
            sk_X509_push(certs, scep_ca_cert(issuer));
            for (int i = 0; i < sk_X509_num(scep_ca_chain(issuer)); i++)
                sk_X509_push(certs, sk_X509_value(scep_ca_chain(issuer), i));
        } else {
            for (int i = 0; i < sk_X509_num(op->alias->reply_chain); i++)
                sk_X509_push(certs, sk_X509_value(op->alias->reply_chain, i));
        }
    }
    *out = certs;
    return SCEP_OK;
}

void scepd_enroll_audit(scep_store *store, const struct scepd_op *op, const char *action,
                        const char *outcome, const char *detail)
{
    scep_store_audit_event event = {
        .actor = op->http->client_addr,
        .action = action,
        .alias = op->alias->name,
        .transaction_id = op->transaction_id,
        .outcome = outcome,
        .detail = detail,
    };
    if (scep_store_audit_append(store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
}

/*
 * Refusals reach the audit trail aggregated: the first per client address, alias and
 * answer text in a minute is written, with how many like it the minute before were not
 * (guard.c), so refused traffic cannot fill the disk.
 */
static void audit_refusal(scep_store *store, const struct scepd_op *op,
                          const struct scepd_answer *a)
{
    char key[SCEPD_GUARD_REFUSAL_MAX];
    char detail[SCEPD_REASON_MAX + 128];
    unsigned suppressed = 0;
    snprintf(key, sizeof(key), "%.46s|%.64s|%.40s", op->http->client_addr, op->alias->name,
             a->text);
    if (!scepd_guard_refusal(op->server->guard, key, op->now, &suppressed))
        return;
    if (suppressed > 0)
        snprintf(detail, sizeof(detail), "%.*s (and %u like it in the minute before)",
                 SCEPD_REASON_MAX - 1, a->detail, suppressed);
    else
        snprintf(detail, sizeof(detail), "%s", a->detail);
    scepd_enroll_audit(store, op, "enroll", "refused", detail);
}

void scepd_answer_send(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                       int64_t request_id, struct scepd_answer *a)
{
    X509 *stored = NULL;
    scep_store_cert *row = NULL;
    int rc = SCEP_OK;
    if (a->kind == SCEPD_ANSWER_STORED_CERT) {
        if (store == NULL ||
            scepd_op_store_lost(op, rc = scep_store_cert_get(&row, store, a->ca_name, a->serial)) ||
            rc < 0 || scep_cert_decode(&stored, row->der, row->der_len) < 0) {
            snprintf(a->detail, sizeof(a->detail), "stored certificate %s unavailable: %s",
                     a->serial, scep_error_message());
            a->kind = SCEPD_ANSWER_FAILURE;
            a->fail_info = SCEP_FAIL_BAD_CERT_ID;
            snprintf(a->text, sizeof(a->text), "certificate not found");
        }
    }
    scepd_op_detail(op, "%s", a->detail);
    struct scepd_outcome outcome = {.status = SCEP_STATUS_PENDING};
    STACK_OF(X509) *certs = NULL;
    /* Only a certificate issued and committed is sent; nothing is recorded against a
     * request the store could not see through. */
    if (op->store_lost && a->kind != SCEPD_ANSWER_CERT) {
        scepd_op_unavailable(op);
        goto done;
    }
    switch (a->kind) {
    case SCEPD_ANSWER_CERT:
    case SCEPD_ANSWER_STORED_CERT:
        if (success_certs(&certs, op, a->kind == SCEPD_ANSWER_CERT ? a->cert : stored) < 0) {
            scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "internal error");
            goto done;
        }
        outcome.status = SCEP_STATUS_SUCCESS;
        outcome.certs = certs;
        break;
    case SCEPD_ANSWER_PENDING:
        break;
    case SCEPD_ANSWER_NONE:
    case SCEPD_ANSWER_FAILURE:
        if (a->kind == SCEPD_ANSWER_NONE) {
            a->fail_info = SCEP_FAIL_BAD_REQUEST;
            snprintf(a->text, sizeof(a->text), "internal error");
        }
        if (a->record && store != NULL) {
            if (request_id > 0 && scep_store_request_update(store, request_id, SCEP_REQ_FAILED,
                                                            (int)a->fail_info, a->text) < 0)
                scepd_log(SCEPD_LOG_WARN, "event=store_failed detail=\"%s\"", scep_error_message());
            audit_refusal(store, op, a);
        }
        outcome.status = SCEP_STATUS_FAILURE;
        outcome.fail_info = a->fail_info;
        outcome.fail_info_text = a->text;
        break;
    }
    scepd_reply(op, msg, &outcome);
done:
    sk_X509_free(certs);
    X509_free(stored);
    scep_store_cert_free(row);
}

/* ---- the pipeline ------------------------------------------------------------------- */

/* The mode the request was decided in; refused before that, how it came (alias, messageType). */
static const char *enrollment_mode(const struct scepd_enrollment *e)
{
    if (e->decision.mode != 0)
        return scep_decision_mode_name(e->decision.mode);
    switch (e->auth) {
    case SCEPD_AUTH_CODE:
        return "ca";
    case SCEPD_AUTH_SECRET:
    case SCEPD_AUTH_OPEN:
        return "ra";
    case SCEPD_AUTH_CHALLENGE:
        return "challenge";
    case SCEPD_AUTH_RENEWAL:
        return "renewal";
    case SCEPD_AUTH_NONE:
        break;
    }
    if (e->renewal_req)
        return "renewal";
    return e->op->alias->settings->operationmode == SCEP_ALIAS_MODE_RA ? "ra" : "ca";
}

/* scepd_enrollments_total: what scepd_answer_send answered (a retransmission counts again). */
static void count_enrollment(const struct scepd_enrollment *e)
{
    const char *result = "refused";
    /* Answered 503: the client retries, and is counted with what it gets then. */
    if (e->op->store_lost && e->answer.kind != SCEPD_ANSWER_CERT)
        return;
    if (e->answer.kind == SCEPD_ANSWER_CERT || e->answer.kind == SCEPD_ANSWER_STORED_CERT)
        result = "issued";
    else if (e->answer.kind == SCEPD_ANSWER_PENDING)
        result = "pending";
    scepd_metrics_enrollment(e->op->server->metrics, e->op->alias->name, enrollment_mode(e),
                             result);
}

void scepd_enroll(struct scepd_op *op, scep_pkimessage *msg)
{
    struct scepd_enrollment e;
    memset(&e, 0, sizeof(e));
    e.op = op;
    e.msg = msg;
    e.csr = scep_pkimessage_csr(msg);
    e.signer = scep_pkimessage_signer_cert(msg);
    e.renewal_req = scep_pkimessage_type(msg) == SCEP_MSG_RENEWALREQ;

    int rc = scepd_server_store(&e.store, op->server);
    if (rc < 0) {
        e.store = NULL;
        scepd_op_store_lost(op, rc);
        scepd_enroll_refuse(&e, SCEP_FAIL_BAD_REQUEST, "the server's store is unavailable", "%s",
                            scep_error_message());
    } else {
        for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
            if (stages[i](&e) == SCEPD_STAGE_DONE)
                break;
    }
    scepd_answer_send(op, msg, e.store, e.row != NULL ? e.row->id : 0, &e.answer);
    count_enrollment(&e);

    OPENSSL_cleanse(e.challenge, sizeof(e.challenge));
    OPENSSL_free(e.csr_der);
    OPENSSL_free(e.signer_der);
    OPENSSL_free(e.challenge_pattern);
    X509_free(e.answer.cert);
    scep_decision_clear(&e.decision);
    scep_store_cert_free(e.old);
    scep_store_ee_free(e.ee);
    scep_store_request_free(e.row);
}

/* ---- CertPoll and GetCert: what enrollment stored -------------------------------------- */

/* Whether a CertPoll is signed by the request's key or by the request's signer certificate. */
static int poll_from_requester(const scep_pkimessage *msg, const scep_store_request *row)
{
    X509 *signer = scep_pkimessage_signer_cert(msg);
    unsigned char *der = NULL;
    unsigned char digest[32];
    int ok = 0;
    if (signer != NULL && spki_sha256(digest, X509_get_X509_PUBKEY(signer)) == SCEP_OK)
        ok = CRYPTO_memcmp(digest, row->public_key_sha256, 32) == 0;
    int der_len = !ok && signer != NULL ? i2d_X509(signer, &der) : -1;
    if (der_len > 0 && row->signer_cert_der != NULL && (size_t)der_len == row->signer_cert_der_len)
        ok = memcmp(der, row->signer_cert_der, (size_t)der_len) == 0;
    OPENSSL_free(der);
    return ok;
}

void scepd_cert_poll(struct scepd_op *op, scep_pkimessage *msg)
{
    scep_store *store = NULL;
    scep_store_request *row = NULL;
    struct scepd_answer answer;
    memset(&answer, 0, sizeof(answer));
    /* RFC 8894 §3.3.3: the transaction is identified by its transactionID. */
    int rc = scepd_server_store(&store, op->server);
    if (rc == SCEP_OK)
        rc = scep_store_request_find(&row, store, op->alias->name,
                                     scep_pkimessage_transaction_id(msg));
    if (rc < 0) {
        row = NULL;
        scepd_op_store_lost(op, rc);
        answer.kind = SCEPD_ANSWER_FAILURE;
        answer.fail_info = SCEP_FAIL_BAD_CERT_ID;
        snprintf(answer.text, sizeof(answer.text), "no such transaction");
        snprintf(answer.detail, sizeof(answer.detail), "no such transaction");
    } else if (!poll_from_requester(msg, row)) {
        /* Only the requester learns a transaction's state (RFC 8894 §3.3.3). */
        answer.kind = SCEPD_ANSWER_FAILURE;
        answer.fail_info = SCEP_FAIL_BAD_CERT_ID;
        snprintf(answer.text, sizeof(answer.text), "no such transaction");
        snprintf(answer.detail, sizeof(answer.detail),
                 "CertPoll for request %lld signed by another key", (long long)row->id);
    } else if (scep_request_held(row)) {
        scepd_held_answer(&answer, op, store, row);
    } else if (row->status == SCEP_REQ_PENDING) {
        /* Authorised by nobody yet: being answered now, or interrupted. */
        answer.kind = SCEPD_ANSWER_FAILURE;
        answer.fail_info = SCEP_FAIL_BAD_REQUEST;
        snprintf(answer.text, sizeof(answer.text), "the request was not completed; send it again");
        snprintf(answer.detail, sizeof(answer.detail), "request %lld not completed",
                 (long long)row->id);
    } else {
        scepd_stored_answer(&answer, row);
    }
    scepd_answer_send(op, msg, store, 0, &answer);
    scep_store_request_free(row);
}

/* Which CA an IssuerAndSerialNumber's issuer names, of those the alias serves. */
static const struct scepd_ca *ca_by_issuer(const struct scepd_op *op, const X509_NAME *issuer)
{
    for (size_t i = 0; issuer != NULL && i < op->alias->ca_count; i++) {
        const scep_ca *keys[2];
        size_t n = scepd_ca_keys(keys, 2, op->generation, op->alias->cas[i], op->now);
        for (size_t k = 0; k < n; k++)
            if (X509_NAME_cmp(issuer, X509_get_subject_name(scep_ca_cert(keys[k]))) == 0)
                return op->alias->cas[i];
    }
    return NULL;
}

void scepd_get_cert(struct scepd_op *op, scep_pkimessage *msg)
{
    scep_store *store = NULL;
    struct scepd_answer answer;
    memset(&answer, 0, sizeof(answer));
    const struct scepd_ca *ca = ca_by_issuer(op, scep_pkimessage_issuer(msg));
    if (ca == NULL || scep_serial_to_hex(answer.serial, scep_pkimessage_serial(msg)) < 0 ||
        scepd_op_store_lost(op, scepd_server_store(&store, op->server)) || store == NULL) {
        answer.kind = SCEPD_ANSWER_FAILURE;
        answer.fail_info = SCEP_FAIL_BAD_CERT_ID;
        snprintf(answer.text, sizeof(answer.text),
                 "no certificate with that issuer and serial number");
        snprintf(answer.detail, sizeof(answer.detail), "%s", answer.text);
    } else {
        answer.kind = SCEPD_ANSWER_STORED_CERT;
        snprintf(answer.ca_name, sizeof(answer.ca_name), "%s", ca->name);
        snprintf(answer.detail, sizeof(answer.detail), "certificate %s", answer.serial);
    }
    scepd_answer_send(op, msg, store, 0, &answer);
}
