/*
 * PKCSReq in CA mode (EJBCA semantics): the end entity named by the CSR's
 * subject authorises the request with its one-time enrollment code; the
 * certificate is committed to the store, together with the end entity's
 * move to GENERATED, before the CertRep leaves. Also CertPoll and GetCert,
 * which read what enrollment stored (GetCRL is in crl.c).
 */
#include "scepd/enroll.h"
#include "scepd/enroll_shared.h"
#include "scepd/crl.h"
#include "scepd/log.h"
#include "scepd/renew.h"
#include "scepd/rollover.h"
#include "scepd/approval.h"
#include "ca/issuance.h"
#include "scepd/webhook.h"
#include "ca/profiles.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CHALLENGE_MAX 1024
#define USERNAME_MAX  256

int scepd_username_from_subject(char *out, size_t out_size, const X509_NAME *subject,
                                const struct scep_config_list *fields)
{
    return scep_username_from_subject(out, out_size, subject, fields) < 0 ? -1 : 0;
}

static int challenge_password(char *out, size_t out_size, X509_REQ *csr)
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

static int spki_sha256(unsigned char out[32], X509_REQ *csr)
{
    unsigned char *spki = NULL;
    int len = i2d_PUBKEY(X509_REQ_get0_pubkey(csr), &spki);
    if (len <= 0)
        return scep_fail_ossl(SCEP_EMALFORMED, "the request's public key cannot be encoded");
    unsigned int digest_len = 0;
    int ok = EVP_Digest(spki, (size_t)len, out, &digest_len, EVP_sha256(), NULL);
    OPENSSL_free(spki);
    return ok == 1 ? SCEP_OK : scep_fail_ossl(SCEP_ECRYPTO, "SHA-256");
}

static int der_of(unsigned char **out, size_t *out_len, int (*encode)(void *, unsigned char **),
                  void *object)
{
    unsigned char *der = NULL;
    int len = encode(object, &der);
    if (len <= 0)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot encode");
    *out = der;
    *out_len = (size_t)len;
    return SCEP_OK;
}

static int encode_req(void *req, unsigned char **out)
{
    return i2d_X509_REQ(req, out);
}

static int encode_cert(void *cert, unsigned char **out)
{
    return i2d_X509(cert, out);
}

/* The issued certificate first, then the CA chain when includeca (interop.md §15). */
static int success_certs(STACK_OF(X509) * *out, const struct scepd_op *op, X509 *issued)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs == NULL || sk_X509_push(certs, issued) <= 0) {
        sk_X509_free(certs);
        return scep_fail(SCEP_ENOMEM, "out of memory");
    }
    /* During a rollover, the CA certificate that signed `issued` (rollover.c). */
    const scep_ca *issuer = scepd_ca_issuer_of(op, op->ca, issued);
    if (op->alias->settings->includeca && issuer != NULL) {
        sk_X509_push(certs, scep_ca_cert(issuer));
        for (int i = 0; i < sk_X509_num(scep_ca_chain(issuer)); i++)
            sk_X509_push(certs, sk_X509_value(scep_ca_chain(issuer), i));
    } else if (op->alias->settings->includeca) {
        for (int i = 0; i < sk_X509_num(op->alias->reply_chain); i++)
            sk_X509_push(certs, sk_X509_value(op->alias->reply_chain, i));
    }
    *out = certs;
    return SCEP_OK;
}

static void reply_with_cert(struct scepd_op *op, const scep_pkimessage *msg, X509 *cert)
{
    STACK_OF(X509) *certs = NULL;
    if (success_certs(&certs, op, cert) < 0) {
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "internal error");
        return;
    }
    struct scepd_outcome outcome = {.status = SCEP_STATUS_SUCCESS, .certs = certs};
    scepd_reply(op, msg, &outcome);
    sk_X509_free(certs);
}

/* Answers from a stored certificate row (retransmission, CertPoll, GetCert). */
static void reply_with_stored_cert(struct scepd_op *op, const scep_pkimessage *msg,
                                   scep_store *store, const char *ca_name, const char *serial)
{
    scep_store_cert *row = NULL;
    X509 *cert = NULL;
    if (scep_store_cert_get(&row, store, ca_name, serial) < 0 ||
        scep_cert_decode(&cert, row->der, row->der_len) < 0) {
        scepd_op_detail(op, "stored certificate %s unavailable: %s", serial, scep_error_message());
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_CERT_ID, "certificate not found");
    } else {
        reply_with_cert(op, msg, cert);
    }
    X509_free(cert);
    scep_store_cert_free(row);
}

static void audit(scep_store *store, const struct scepd_op *op, const char *action,
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

/* Refuses the request: records why, and answers FAILURE. */
static void refuse(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                   int64_t request_id, scep_fail_info fail_info, const char *text,
                   const char *log_reason)
{
    scepd_op_detail(op, "%s", log_reason);
    if (store != NULL) {
        if (request_id > 0 &&
            scep_store_request_update(store, request_id, SCEP_REQ_FAILED, (int)fail_info, text) < 0)
            scepd_log(SCEPD_LOG_WARN, "event=store_failed detail=\"%s\"", scep_error_message());
        audit(store, op, "enroll", "refused", log_reason);
    }
    scepd_reply_failure(op, msg, fail_info, text);
}

/* The issuance step scepd shares with scepctl's `request approve` (ca/issuance.c). */
static int issue_and_store(X509 **out, scep_store *store, const scep_ca *ca, const char *ca_name,
                           const scep_profile *profile, X509_REQ *csr, const X509_NAME *subject,
                           int64_t request_id, const char *username, const struct scepd_op *op,
                           const char *extra_dns_name)
{
    scep_stored_issue issue = {
        .ca = ca,
        .ca_name = ca_name,
        .profile = profile,
        .csr = csr,
        .subject = subject,
        .request_id = request_id,
        .username = username,
        .transaction_id = op->transaction_id,
        .actor = op->http->client_addr,
        .alias = op->alias->name,
        .extra_dns_name = extra_dns_name,
    };
    return scep_ca_issue_stored(out, store, &issue);
}

/* A retransmission (same alias and transactionID) gets the stored answer (store.md,
 * "Retransmissions"). */
static int answer_retransmission(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                                 const scep_store_request *row, const unsigned char key_hash[32])
{
    if (CRYPTO_memcmp(row->public_key_sha256, key_hash, 32) != 0) {
        scepd_op_detail(op, "transactionID reused with a different public key");
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST,
                            "this transactionID belongs to another key");
        return 1;
    }
    if (row->status == SCEP_REQ_ISSUED && row->cert_serial != NULL) {
        scepd_op_detail(op, "retransmission: stored certificate %s sent again", row->cert_serial);
        reply_with_stored_cert(op, msg, store, row->ca_name, row->cert_serial);
        return 1;
    }
    return 0;
}

/* Records the transaction (alias, transactionID) with its CSR, signer and key hash, or
 * finds the row a first attempt left. Answers FAILURE itself when that fails. */
int scepd_enroll_record(scep_store_request **out, int *out_created, struct scepd_op *op,
                        const scep_pkimessage *msg, scep_store *store,
                        const unsigned char key_hash[32])
{
    int rc = SCEP_OK;
    unsigned char *csr_der = NULL, *signer_der = NULL;
    size_t csr_der_len = 0, signer_der_len = 0;
    if (der_of(&csr_der, &csr_der_len, encode_req, scep_pkimessage_csr(msg)) < 0 ||
        der_of(&signer_der, &signer_der_len, encode_cert, scep_pkimessage_signer_cert(msg)) < 0) {
        refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the request cannot be read",
               scep_error_message());
        rc = SCEP_EMALFORMED;
        goto done;
    }
    scep_store_request request = {
        .alias = op->alias->name,
        .transaction_id = scep_pkimessage_transaction_id(msg),
        .message_type = (int)scep_pkimessage_type(msg),
        .csr_der = csr_der,
        .csr_der_len = csr_der_len,
        .signer_cert_der = signer_der,
        .signer_cert_der_len = signer_der_len,
        .status = SCEP_REQ_PENDING,
        .fail_info = SCEP_STORE_NO_FAIL_INFO,
        .client_addr = op->http->client_addr,
    };
    memcpy(request.public_key_sha256, key_hash, 32);
    rc = scep_store_request_get_or_insert(out, out_created, store, &request);
    if (rc < 0)
        refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
               scep_error_message());
done:
    OPENSSL_free(csr_der);
    OPENSSL_free(signer_der);
    return rc;
}

static void enroll_ca_mode(struct scepd_op *op, scep_pkimessage *msg, scep_store *store)
{
    X509_REQ *csr = scep_pkimessage_csr(msg);
    unsigned char key_hash[32];
    char username[USERNAME_MAX];
    char challenge[CHALLENGE_MAX];
    scep_store_request *row = NULL;
    scep_store_end_entity *ee = NULL;
    X509_NAME *registered_dn = NULL;
    X509 *issued = NULL;
    int created = 0;
    char reason[384];

    if (spki_sha256(key_hash, csr) < 0) {
        refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the request cannot be read",
               scep_error_message());
        goto done;
    }
    if (scepd_enroll_record(&row, &created, op, msg, store, key_hash) < 0)
        goto done;
    if (!created) {
        if (answer_retransmission(op, msg, store, row, key_hash))
            goto done;
        if (scepd_approval_retransmission(op, msg, store, row))
            goto done;
        /* A refused or interrupted attempt may be retried (after an operator reset). */
        if (row->status != SCEP_REQ_PENDING &&
            scep_store_request_update(store, row->id, SCEP_REQ_PENDING, SCEP_STORE_NO_FAIL_INFO,
                                      NULL) < 0) {
            refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the server cannot record the request",
                   scep_error_message());
            goto done;
        }
    }

    if (scepd_username_from_subject(username, sizeof(username), X509_REQ_get_subject_name(csr),
                                    &op->alias->settings->usernamefield) < 0) {
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "the request's subject names no end entity",
               "subject has none of the usernamefield RDNs");
        goto done;
    }
    if (challenge_password(challenge, sizeof(challenge), csr) < 0) {
        snprintf(reason, sizeof(reason), "user %s: no challengePassword in the request", username);
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "the request has no challengePassword", reason);
        goto done;
    }
    int rc = scep_store_ee_verify_password(&ee, store, username, challenge);
    OPENSSL_cleanse(challenge, sizeof(challenge));
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "user %s: %s", username,
                 rc == SCEP_EDENIED ? "unknown user or wrong challenge password"
                                    : scep_error_message());
        /* One text for both, so the answer does not reveal which usernames exist. */
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "enrollment refused: unknown end entity or wrong challenge password", reason);
        goto done;
    }
    if (ee->status != SCEP_EE_NEW) {
        snprintf(reason, sizeof(reason), "user %s: status is not NEW (code already used)",
                 username);
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "enrollment refused: this enrollment code was already used; ask for a reset",
               reason);
        goto done;
    }

    scep_profile profile = op->alias->profile;
    if (ee->profile != NULL && ee->profile[0] != '\0' &&
        scep_profile_named(&profile, ee->profile) < 0) {
        snprintf(reason, sizeof(reason), "user %s: unknown certificate profile %s", username,
                 ee->profile);
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "enrollment refused: the end entity's profile is not configured", reason);
        goto done;
    }
    char crl_dp[SCEPD_CRL_DP_MAX];
    scepd_crl_profile_dp(&profile, crl_dp, sizeof(crl_dp), op);
    const struct scepd_ca *ca = op->ca; /* the CA the client encrypted to (caid.c) */
    if (ee->ca_name != NULL && strcmp(ee->ca_name, ca->name) != 0) {
        snprintf(reason, sizeof(reason), "user %s belongs to CA %s, alias serves %s", username,
                 ee->ca_name, ca->name);
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "enrollment refused: the end entity belongs to another CA", reason);
        goto done;
    }
    if (profile.subject_source == SCEP_SUBJECT_FROM_DN &&
        (ee->subject_dn == NULL || scep_dn_parse(&registered_dn, ee->subject_dn) < 0)) {
        snprintf(reason, sizeof(reason), "user %s: no usable registered DN", username);
        refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
               "enrollment refused: the end entity has no subject DN", reason);
        goto done;
    }

    if (scepd_webhook_deny(op, msg, store, row->id))
        goto done; /* webhook.url said no (webhook.c) */
    if (scepd_approval_manual(op)) {
        scepd_approval_hold(op, msg, store, row, username);
        goto done;
    }
    char pix_name[SCEPD_DNS_NAME_MAX];
    const char *extra_dns_name = NULL;
    if (op->alias->settings->sanfromunstructuredname &&
        scepd_dns_name_from_unstructured_name(pix_name, sizeof(pix_name), csr) == 0)
        extra_dns_name = pix_name;
    rc = issue_and_store(&issued, store, scepd_ca_active(op, ca), ca->name, &profile, csr,
                         registered_dn, row->id, username, op, extra_dns_name);
    if (rc == SCEP_ESTATE) {
        snprintf(reason, sizeof(reason), "user %s: lost the race for the enrollment code",
                 username);
        refuse(op, msg, store, 0, SCEP_FAIL_BAD_REQUEST,
               "enrollment refused: this enrollment code was already used; ask for a reset",
               reason);
        goto done;
    }
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "user %s: %s", username, scep_error_message());
        refuse(op, msg, store, row->id, scep_error_fail_info(rc),
               rc == SCEP_EPOLICY || rc == SCEP_EBADALG ? scep_error_message()
                                                        : "the certificate could not be issued",
               reason);
        goto done;
    }
    char serial_hex[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial_hex, X509_get0_serialNumber(issued)) < 0)
        serial_hex[0] = '\0';
    scepd_op_detail(op, "user %s issued serial %s", username, serial_hex);
    reply_with_cert(op, msg, issued);

done:
    X509_free(issued);
    X509_NAME_free(registered_dn);
    scep_store_ee_free(ee);
    scep_store_request_free(row);
}

void scepd_enroll(struct scepd_op *op, scep_pkimessage *msg)
{
    scep_store *store = NULL;
    if (scepd_server_store(&store, op->server) < 0) {
        refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the server's store is unavailable",
               scep_error_message());
        return;
    }
    /* RenewalReq, or a PKCSReq signed by a certificate of ours (interop.md §5, §6): renew.c. */
    if (scepd_renew(op, msg, store))
        return;
    if (op->alias->settings->operationmode == SCEP_ALIAS_MODE_RA)
        scepd_enroll_ra(op, msg, store);
    else
        enroll_ca_mode(op, msg, store);
}

void scepd_cert_poll(struct scepd_op *op, scep_pkimessage *msg)
{
    scep_store *store = NULL;
    scep_store_request *row = NULL;
    /* RFC 8894 §3.3.3: the transaction is identified by its transactionID. */
    if (scepd_server_store(&store, op->server) < 0 ||
        scep_store_request_find(&row, store, op->alias->name, scep_pkimessage_transaction_id(msg)) <
            0) {
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_CERT_ID, "no such transaction");
        return;
    }
    if (row->status == SCEP_REQ_ISSUED && row->cert_serial != NULL) {
        reply_with_stored_cert(op, msg, store, row->ca_name, row->cert_serial);
    } else if (row->status == SCEP_REQ_PENDING) {
        scepd_approval_answer_pending(op, msg, store, row);
    } else {
        scepd_reply_failure(
            op, msg, row->fail_info >= 0 ? (scep_fail_info)row->fail_info : SCEP_FAIL_BAD_REQUEST,
            row->reason ? row->reason : "the request was refused");
    }
    scep_store_request_free(row);
}

/* Which of our CAs an IssuerAndSerialNumber's issuer names. */
static const struct scepd_ca *ca_by_issuer(const struct scepd_op *op, const X509_NAME *issuer)
{
    const struct scepd_ca *ca = op->ca != NULL ? op->ca : op->alias->ca;
    if (issuer != NULL && X509_NAME_cmp(issuer, X509_get_subject_name(scep_ca_cert(ca->ca))) == 0)
        return ca;
    return NULL;
}

void scepd_get_cert(struct scepd_op *op, scep_pkimessage *msg)
{
    scep_store *store = NULL;
    char serial_hex[SCEP_SERIAL_HEX_MAX];
    const struct scepd_ca *ca = ca_by_issuer(op, scep_pkimessage_issuer(msg));
    if (ca == NULL || scep_serial_to_hex(serial_hex, scep_pkimessage_serial(msg)) < 0 ||
        scepd_server_store(&store, op->server) < 0) {
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_CERT_ID,
                            "no certificate with that issuer and serial number");
        return;
    }
    reply_with_stored_cert(op, msg, store, ca->name, serial_hex);
}

/* ---- shared with renew.c (renew.h) and RA mode (ra.c, enroll_shared.h) ---------------- */

void scepd_enroll_refuse(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                         int64_t request_id, scep_fail_info fail_info, const char *text,
                         const char *log_reason)
{
    refuse(op, msg, store, request_id, fail_info, text, log_reason);
}

int scepd_enroll_challenge_password(char *out, size_t out_size, X509_REQ *csr)
{
    return challenge_password(out, out_size, csr);
}

int scepd_enroll_key_hash(unsigned char out[32], X509_REQ *csr)
{
    return spki_sha256(out, csr);
}

int scepd_enroll_has_challenge(X509_REQ *csr)
{
    char challenge[CHALLENGE_MAX];
    int present = challenge_password(challenge, sizeof(challenge), csr) == 0;
    OPENSSL_cleanse(challenge, sizeof(challenge));
    return present;
}

int scepd_enroll_answer_retransmission(struct scepd_op *op, const scep_pkimessage *msg,
                                       scep_store *store, const scep_store_request *row,
                                       const unsigned char key_hash[32])
{
    return answer_retransmission(op, msg, store, row, key_hash);
}

void scepd_enroll_reply_cert(struct scepd_op *op, const scep_pkimessage *msg, X509 *cert)
{
    reply_with_cert(op, msg, cert);
}
