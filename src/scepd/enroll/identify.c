/*
 * Stage 1, identify: which transaction this request is (RFC 8894 §3.3.1: one
 * transaction per alias and transactionID).
 *
 * A request is a retransmission only when it repeats the stored one: same
 * messageType, same public key, same CSR content, signed by the same key under the
 * same issuer — and the stored transaction is still current. A transaction is over when it was
 * refused or interrupted, or when the certificate it issued went to an end entity that has been
 * reset since. A request under the ID of a transaction that is over, or under the ID of an issued
 * transaction but of another kind (a RenewalReq, or a PKCSReq signed by our certificate, from
 * clients that derive the transactionID from the key they keep), starts a new transaction: the old
 * one is retired with its history.
 */
#include "scepd/enroll/enrollment.h"
#include "util/error_internal.h"

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "scepd/state/guard.h"

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

/*
 * What makes two requests the same request: the messageType, what the CSR asks for
 * (its CertificationRequestInfo: an EC signature differs on every run) and who signs
 * it. A client that runs again makes a new self-signed certificate for the same key,
 * so for those the signer's issuer and key count; a certificate someone issued is
 * named by its serial too, so a second renewal with the same key (signed by the
 * first renewal's certificate) is not taken for the first one sent again.
 */
static int request_identity(unsigned char out[32], int message_type, X509_REQ *csr, X509 *signer)
{
    unsigned char *tbs = NULL, *issuer = NULL, *key = NULL;
    int tbs_len = i2d_re_X509_REQ_tbs(csr, &tbs);
    int issuer_len = signer != NULL ? i2d_X509_NAME(X509_get_issuer_name(signer), &issuer) : -1;
    int key_len = signer != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(signer), &key) : -1;
    unsigned char *serial = NULL;
    int serial_len = 0;
    if (signer != NULL && X509_check_issued(signer, signer) != X509_V_OK)
        serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(signer), &serial);
    int ok = tbs_len > 0 && issuer_len > 0 && key_len > 0 && serial_len >= 0;
    EVP_MD_CTX *md = ok ? EVP_MD_CTX_new() : NULL;
    unsigned char type = (unsigned char)message_type;
    ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, &type, 1) == 1 && EVP_DigestUpdate(md, tbs, (size_t)tbs_len) == 1 &&
         EVP_DigestUpdate(md, issuer, (size_t)issuer_len) == 1 &&
         EVP_DigestUpdate(md, key, (size_t)key_len) == 1 &&
         (serial_len == 0 || EVP_DigestUpdate(md, serial, (size_t)serial_len) == 1) &&
         EVP_DigestFinal_ex(md, out, NULL) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(serial);
    OPENSSL_free(tbs);
    OPENSSL_free(issuer);
    OPENSSL_free(key);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static int stored_identity(unsigned char out[32], const scep_store_request *row)
{
    const unsigned char *p = row->csr_der, *q = row->signer_cert_der;
    X509_REQ *csr = p != NULL ? d2i_X509_REQ(NULL, &p, (long)row->csr_der_len) : NULL;
    X509 *signer = q != NULL ? d2i_X509(NULL, &q, (long)row->signer_cert_der_len) : NULL;
    int rc =
        csr != NULL && signer != NULL ? request_identity(out, row->message_type, csr, signer) : -1;
    X509_REQ_free(csr);
    X509_free(signer);
    ERR_clear_error();
    return rc;
}

/* Whether the end entity an issued transaction's certificate went to was reset since. */
static int issued_to_reset_entity(struct scepd_op *op, scep_store *store,
                                  const scep_store_request *row)
{
    scep_store_cert *cert = NULL;
    scep_store_end_entity *ee = NULL;
    int reset = 0;
    int rc = SCEP_ENOTFOUND;
    if (row->ca_name != NULL && row->cert_serial != NULL &&
        (rc = scep_store_cert_get(&cert, store, row->ca_name, row->cert_serial)) == SCEP_OK &&
        cert->username != NULL && (rc = scep_store_ee_get(&ee, store, cert->username)) == SCEP_OK)
        reset = ee->status == SCEP_EE_NEW;
    scepd_op_store_lost(op, rc);
    scep_store_ee_free(ee);
    scep_store_cert_free(cert);
    return reset;
}

/* One TLV at `p` (at most `len` bytes): its header and total size; 0, or -1 on anything
 * but a definite-length encoding that fits. */
static int read_tlv(const unsigned char *p, long len, int *tag, long *header, long *total)
{
    const unsigned char *q = p;
    long content = 0;
    int class = 0;
    int ret = ASN1_get_object(&q, &content, tag, &class, len);
    if ((ret & 0x80) != 0 || ret == 0x21)
        return -1;
    *tag |= class;
    *header = (long)(q - p);
    *total = *header + content;
    return 0;
}

/* Appends a header for `content_len` bytes of `tag` (constructed) at *w. */
static void write_header(unsigned char **w, int tag, int class, long content_len)
{
    ASN1_put_object(w, 1, (int)content_len, tag, class);
}

/*
 * The CSR's DER with its challengePassword attributes left out, every other byte as
 * received; -1 when the encoding is not the plain DER this expects. Unlike a copy of the
 * X509_REQ with the attribute deleted, this never decodes the public key again: with
 * OpenSSL 3.0 every such decode builds a decoder chain, which cost as much as an RSA
 * signature (docs/performance.md).
 */
static int csr_der_without_challenge(unsigned char **out, size_t *out_len, X509_REQ *csr)
{
    static const unsigned char challenge_oid[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                  0xf7, 0x0d, 0x01, 0x09, 0x07};
    unsigned char *der = NULL, *copy = NULL;
    int der_len = i2d_X509_REQ(csr, &der);
    int rc = -1;
    int tag = 0;
    long header = 0, total = 0;
    if (der_len <= 0 || read_tlv(der, der_len, &tag, &header, &total) < 0 || total != der_len)
        goto cleanup;
    const unsigned char *info = der + header;
    long info_header = 0, info_total = 0;
    if (read_tlv(info, der_len - header, &tag, &info_header, &info_total) < 0)
        goto cleanup;
    /* version, subject, subjectPKInfo, then [0] attributes, which must end the info. */
    const unsigned char *field = info + info_header;
    const unsigned char *info_end = info + info_total;
    for (int i = 0; i < 3; i++) {
        if (read_tlv(field, (long)(info_end - field), &tag, &header, &total) < 0)
            goto cleanup;
        field += total;
    }
    long attrs_header = 0, attrs_total = 0;
    if (read_tlv(field, (long)(info_end - field), &tag, &attrs_header, &attrs_total) < 0 ||
        tag != (V_ASN1_CONTEXT_SPECIFIC | 0) || field + attrs_total != info_end)
        goto cleanup;
    const unsigned char *rest = info_end; /* signatureAlgorithm and signature */
    long rest_len = (long)(der + der_len - rest);
    /* The kept attributes, in their order. */
    copy = OPENSSL_malloc((size_t)der_len);
    if (copy == NULL)
        goto cleanup;
    long kept = 0;
    for (const unsigned char *a = field + attrs_header; a < info_end; a += total) {
        if (read_tlv(a, (long)(info_end - a), &tag, &header, &total) < 0)
            goto cleanup;
        int challenge = total - header >= (long)sizeof(challenge_oid) &&
                        memcmp(a + header, challenge_oid, sizeof(challenge_oid)) == 0;
        if (!challenge) {
            memcpy(copy + kept, a, (size_t)total);
            kept += total;
        }
    }
    long head_len = (long)(field - (info + info_header)); /* version, subject, key */
    long attrs_len = ASN1_object_size(1, (int)kept, 0);
    long info_len = ASN1_object_size(1, (int)(head_len + attrs_len), V_ASN1_SEQUENCE);
    long all_len = ASN1_object_size(1, (int)(info_len + rest_len), V_ASN1_SEQUENCE);
    unsigned char *result = OPENSSL_malloc((size_t)all_len);
    if (result == NULL)
        goto cleanup;
    unsigned char *w = result;
    write_header(&w, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, info_len + rest_len);
    write_header(&w, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, head_len + attrs_len);
    memcpy(w, info + info_header, (size_t)head_len);
    w += head_len;
    write_header(&w, 0, V_ASN1_CONTEXT_SPECIFIC, kept);
    memcpy(w, copy, (size_t)kept);
    w += kept;
    memcpy(w, rest, (size_t)rest_len);
    *out = result;
    *out_len = (size_t)all_len;
    rc = 0;
cleanup:
    OPENSSL_free(copy);
    OPENSSL_free(der);
    return rc;
}

/*
 * The CSR as stored: without its challengePassword, so no enrollment code, RA secret or
 * unused one-time challenge is ever kept (its signature was verified on arrival).
 */
static int stored_csr(unsigned char **out, size_t *out_len, X509_REQ *csr)
{
    if (csr_der_without_challenge(out, out_len, csr) == 0)
        return SCEP_OK;
    ERR_clear_error();
    /* An encoding the walk above does not take (BER from the client): re-encoded. */
    X509_REQ *copy = X509_REQ_dup(csr);
    if (copy == NULL)
        return scep_fail_ossl(SCEP_ENOMEM, "out of memory");
    for (int idx; (idx = X509_REQ_get_attr_by_NID(copy, NID_pkcs9_challengePassword, -1)) >= 0;)
        X509_ATTRIBUTE_free(X509_REQ_delete_attr(copy, idx));
    int rc = der_of_csr(out, out_len, copy);
    X509_REQ_free(copy);
    return rc;
}

static enum scepd_stage insert_row(struct scepd_enrollment *e, int *created)
{
    scep_store_request request = {
        .alias = e->op->alias->name,
        .transaction_id = scep_pkimessage_transaction_id(e->msg),
        .message_type = (int)scep_pkimessage_type(e->msg),
        .csr_der = e->csr_der,
        .csr_der_len = e->csr_der_len,
        .signer_cert_der = e->signer_der,
        .signer_cert_der_len = e->signer_der_len,
        .status = SCEP_REQ_PENDING,
        .fail_info = SCEP_STORE_NO_FAIL_INFO,
        .client_addr = e->op->http->client_addr,
    };
    memcpy(request.public_key_sha256, e->key_hash, 32);
    scep_store_request_free(e->row);
    e->row = NULL;
    int rc = scep_store_request_get_or_insert(&e->row, created, e->store, &request);
    if (rc < 0) {
        e->row = NULL;
        scepd_op_store_lost(e->op, rc);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
                                   "%s", scep_error_message());
    }
    return SCEPD_STAGE_NEXT;
}

/* Whether a stored request is still being answered by another connection. */
static int in_flight(const struct scepd_enrollment *e, const scep_store_request *row)
{
    long long timeout = scep_config_global_values(e->op->generation->config)->request_timeout;
    return row->status == SCEP_REQ_PENDING && !scep_request_held(row) &&
           (int64_t)e->op->now - row->updated_at < (int64_t)timeout;
}

enum scepd_stage scepd_enroll_identify(struct scepd_enrollment *e)
{
    const struct scep_config_global *global = scep_config_global_values(e->op->generation->config);
    struct scepd_guard *guard = e->op->server->guard;
    const char *client = e->op->http->client_addr;

    /* Over its failed-authorisation budget, an address gets no password work at all. */
    if (scepd_guard_blocked(guard, client, (unsigned)global->failed_auth_limit, e->op->now))
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "too many failed attempts from this address; try again later",
                                   "client over failed_auth_limit");
    /* A senderNonce seen under another transactionID is a replayed message. */
    if (scepd_guard_nonce(guard, scep_pkimessage_sender_nonce(e->msg),
                          scep_pkimessage_sender_nonce_len(e->msg),
                          scep_pkimessage_transaction_id(e->msg), e->op->now) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_MESSAGE_CHECK,
                                   "senderNonce already used by another transaction",
                                   "senderNonce replayed under another transactionID");
    if (scepd_csr_key_hash(e->key_hash, e->csr) < 0 ||
        stored_csr(&e->csr_der, &e->csr_der_len, e->csr) < 0 ||
        der_of_cert(&e->signer_der, &e->signer_der_len, e->signer) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the request cannot be read", "%s",
                                   scep_error_message());
    /* RFC 8894 §3.3.1, proof of possession, was checked before anything about the request
     * is kept: scep_pkimessage_csr only returns a CSR whose self-signature the library
     * verified when it opened the envelope (scep_pkcsreq_decode), and a CSR that fails
     * there never reaches this stage. Verified once, not twice. */

    int rc = scep_store_request_find(&e->row, e->store, e->op->alias->name,
                                     scep_pkimessage_transaction_id(e->msg));
    if (rc == SCEP_ENOTFOUND) {
        e->row = NULL; /* recorded once authenticated (scepd_enroll_record) */
        return SCEPD_STAGE_NEXT;
    }
    if (rc < 0) {
        e->row = NULL;
        scepd_op_store_lost(e->op, rc);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the server cannot read the request",
                                   "%s", scep_error_message());
    }

    const scep_store_request *row = e->row;
    int same_key = CRYPTO_memcmp(row->public_key_sha256, e->key_hash, 32) == 0;
    unsigned char mine[32], theirs[32];
    const unsigned char *p = e->csr_der;
    X509_REQ *stored_form = d2i_X509_REQ(NULL, &p, (long)e->csr_der_len);
    int same_request =
        same_key && stored_form != NULL &&
        request_identity(mine, (int)scep_pkimessage_type(e->msg), stored_form, e->signer) == 0 &&
        stored_identity(theirs, row) == 0 && memcmp(mine, theirs, 32) == 0;
    X509_REQ_free(stored_form);
    int held = scep_request_held(row);
    int over = row->status == SCEP_REQ_FAILED || (row->status == SCEP_REQ_PENDING && !held);
    int issued = row->status == SCEP_REQ_ISSUED;
    enum scepd_stage stage = SCEPD_STAGE_DONE;

    if (same_request && issued && !issued_to_reset_entity(e->op, e->store, row)) {
        scepd_stored_answer(&e->answer, row); /* a retransmission: the same certificate */
    } else if (same_request && held) {
        scepd_held_answer(&e->answer, e->op, e->store, row);
    } else if (same_request && row->status == SCEP_REQ_REJECTED) {
        /* The operator's (or the expiry's) decision is final for this transaction. */
        scepd_stored_answer(&e->answer, row);
    } else if (!same_key && in_flight(e, row)) {
        /* Another connection is answering it: another key may not retire it under that one.
         * The same key may (a device retrying after a crash or a lost answer). */
        scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                            "this transaction is being answered; send the request again later",
                            "request %lld with this transactionID is in flight",
                            (long long)row->id);
    } else if (!same_key && !over) {
        scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "this transactionID belongs to another key",
                            "transactionID reused with a different public key");
    } else if (held) {
        scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                            "another request with this transactionID awaits approval",
                            "request %lld with this transactionID is held", (long long)row->id);
    } else if (scepd_op_store_lost(e->op, rc = scep_store_request_retire(e->store, row->id)) ||
               rc < 0) {
        scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
                            "retiring request %lld: %s", (long long)row->id, scep_error_message());
    } else {
        /* Over, reset since, or another kind of request: a new transaction under the same
         * ID, recorded once authenticated. */
        scep_store_request_free(e->row);
        e->row = NULL;
        stage = SCEPD_STAGE_NEXT;
    }
    /* The stored transaction is not this request's to fail. */
    if (e->answer.kind == SCEPD_ANSWER_FAILURE)
        e->answer.record = 0;
    return stage;
}

enum scepd_stage scepd_enroll_record(struct scepd_enrollment *e)
{
    int created = 0;
    enum scepd_stage stage = insert_row(e, &created);
    if (stage != SCEPD_STAGE_NEXT)
        return stage;
    if (!created) {
        scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "this transaction is being answered",
                            "a concurrent request took the transactionID");
        e->answer.record = 0;
        return SCEPD_STAGE_DONE;
    }
    return SCEPD_STAGE_NEXT;
}
