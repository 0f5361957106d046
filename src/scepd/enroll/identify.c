/*
 * Stage 1, identify: which transaction this request is (RFC 8894 §3.3.1: one
 * transaction per alias and transactionID).
 *
 * A request is a retransmission only when it repeats the stored one: same
 * messageType, same CSR, same signer certificate (so same public key) — and the
 * stored transaction is still current. A transaction is over when it was refused
 * or interrupted, or when the certificate it issued went to an end entity that has
 * been reset since. A request under the ID of a transaction that is over, or under
 * the ID of an issued transaction but of another kind (a RenewalReq, or a PKCSReq
 * signed by our certificate, from clients that derive the transactionID from the
 * key they keep), starts a new transaction: the old one is retired with its history.
 */
#include "scepd/enroll/enrollment.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <string.h>

static int der_of_csr(unsigned char **out, size_t *out_len, X509_REQ *csr)
{
    int len = i2d_X509_REQ(csr, out);
    if (len <= 0)
        return scep_fail_ossl(SCEP_EMALFORMED, "the request cannot be encoded");
    *out_len = (size_t)len;
    return SCEP_OK;
}

static int der_of_cert(unsigned char **out, size_t *out_len, X509 *cert)
{
    int len = i2d_X509(cert, out);
    if (len <= 0)
        return scep_fail_ossl(SCEP_EMALFORMED, "the signer certificate cannot be encoded");
    *out_len = (size_t)len;
    return SCEP_OK;
}

static int same_bytes(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* Whether the end entity an issued transaction's certificate went to was reset since. */
static int issued_to_reset_entity(scep_store *store, const scep_store_request *row)
{
    scep_store_cert *cert = NULL;
    scep_store_end_entity *ee = NULL;
    int reset = 0;
    if (row->ca_name != NULL && row->cert_serial != NULL &&
        scep_store_cert_get(&cert, store, row->ca_name, row->cert_serial) == SCEP_OK &&
        cert->username != NULL && scep_store_ee_get(&ee, store, cert->username) == SCEP_OK)
        reset = ee->status == SCEP_EE_NEW;
    scep_store_ee_free(ee);
    scep_store_cert_free(cert);
    return reset;
}

static enum scepd_stage record(struct scepd_enrollment *e, int *created,
                               const unsigned char *csr_der, size_t csr_der_len,
                               const unsigned char *signer_der, size_t signer_der_len)
{
    scep_store_request request = {
        .alias = e->op->alias->name,
        .transaction_id = scep_pkimessage_transaction_id(e->msg),
        .message_type = (int)scep_pkimessage_type(e->msg),
        .csr_der = csr_der,
        .csr_der_len = csr_der_len,
        .signer_cert_der = signer_der,
        .signer_cert_der_len = signer_der_len,
        .status = SCEP_REQ_PENDING,
        .fail_info = SCEP_STORE_NO_FAIL_INFO,
        .client_addr = e->op->http->client_addr,
    };
    memcpy(request.public_key_sha256, e->key_hash, 32);
    scep_store_request_free(e->row);
    e->row = NULL;
    if (scep_store_request_get_or_insert(&e->row, created, e->store, &request) < 0) {
        e->row = NULL;
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
                                   "%s", scep_error_message());
    }
    return SCEPD_STAGE_NEXT;
}

enum scepd_stage scepd_enroll_identify(struct scepd_enrollment *e)
{
    enum scepd_stage stage = SCEPD_STAGE_NEXT;
    unsigned char *csr_der = NULL, *signer_der = NULL;
    size_t csr_der_len = 0, signer_der_len = 0;
    int created = 0;

    if (scepd_csr_key_hash(e->key_hash, e->csr) < 0 ||
        der_of_csr(&csr_der, &csr_der_len, e->csr) < 0 ||
        der_of_cert(&signer_der, &signer_der_len, e->signer) < 0) {
        stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the request cannot be read", "%s",
                                    scep_error_message());
        goto done;
    }
    if ((stage = record(e, &created, csr_der, csr_der_len, signer_der, signer_der_len)) != 0 ||
        created)
        goto done;

    const scep_store_request *row = e->row;
    int same_key = CRYPTO_memcmp(row->public_key_sha256, e->key_hash, 32) == 0;
    int same_request =
        same_key && row->message_type == (int)scep_pkimessage_type(e->msg) &&
        same_bytes(row->csr_der, row->csr_der_len, csr_der, csr_der_len) &&
        same_bytes(row->signer_cert_der, row->signer_cert_der_len, signer_der, signer_der_len);
    int held = scep_request_held(row);
    int over = row->status == SCEP_REQ_FAILED || (row->status == SCEP_REQ_PENDING && !held);
    int issued = row->status == SCEP_REQ_ISSUED;

    if (same_request && issued && !issued_to_reset_entity(e->store, row)) {
        scepd_stored_answer(&e->answer, row); /* a retransmission: the same certificate */
        stage = SCEPD_STAGE_DONE;
        goto done;
    }
    if (same_request && held) {
        scepd_held_answer(&e->answer, e->op, e->store, row);
        stage = SCEPD_STAGE_DONE;
        goto done;
    }
    if (same_request && row->status == SCEP_REQ_REJECTED) {
        /* The operator's (or the expiry's) decision is final for this transaction. */
        scepd_stored_answer(&e->answer, row);
        stage = SCEPD_STAGE_DONE;
        goto done;
    }
    if (!same_key && !over) {
        stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                    "this transactionID belongs to another key",
                                    "transactionID reused with a different public key");
        e->answer.record = 0; /* the stored transaction is not this request's to fail */
        goto done;
    }
    if (held) {
        stage = scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, "another request with this transactionID awaits approval",
            "request %lld with this transactionID is held", (long long)row->id);
        e->answer.record = 0;
        goto done;
    }
    /* Over, reset since, or another kind of request: a new transaction under the same ID. */
    if (scep_store_request_retire(e->store, row->id) < 0) {
        stage = scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
            "retiring request %lld: %s", (long long)row->id, scep_error_message());
        e->answer.record = 0;
        goto done;
    }
    if ((stage = record(e, &created, csr_der, csr_der_len, signer_der, signer_der_len)) != 0)
        goto done;
    if (!created)
        stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "this transaction is being answered",
                                    "a concurrent request took the transactionID");
    if (!created)
        e->answer.record = 0;

done:
    OPENSSL_free(csr_der);
    OPENSSL_free(signer_der);
    return stage;
}
