/*
 * PKIOperation exchanges (RFC 8894 §3.3, §4.3-4.6): PKCSReq, RenewalReq,
 * CertPoll, GetCert and GetCRL, and the verified result of each.
 * Every reply is parsed with the CA/RA signing certificates as the only
 * trusted signers, checked for our transactionID and senderNonce, and
 * decrypted with the key that signed the request.
 */
#include "client/client_internal.h"
#include "util/error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct exchange {
    scep_message_type type;
    X509 *signer_cert;
    EVP_PKEY *signer_key;
    X509_REQ *csr;
    const X509_NAME *issuer;
    const X509_NAME *subject;
    const ASN1_INTEGER *serial;
    const char *transaction_id;
    const char *ca_identifier;
    EVP_PKEY *match_key; /* picks the issued certificate out of the reply */
    scep_digest digest;  /* 0: from caps */
    scep_cipher cipher;
};

void scep_result_free(scep_result *result)
{
    if (result == NULL)
        return;
    OPENSSL_free(result->transaction_id);
    sk_X509_pop_free(result->certs, X509_free);
    X509_CRL_free(result->crl);
    OPENSSL_free(result->fail_info_text);
    scep_pending_free(result->pending);
    OPENSSL_free(result);
}

scep_pki_status scep_result_status(const scep_result *result)
{
    return result ? result->status : SCEP_STATUS_FAILURE;
}

const char *scep_result_transaction_id(const scep_result *result)
{
    return result ? result->transaction_id : NULL;
}

X509 *scep_result_cert(const scep_result *result)
{
    return result ? result->cert : NULL;
}

STACK_OF(X509) * scep_result_certs(const scep_result *result)
{
    return result ? result->certs : NULL;
}

X509_CRL *scep_result_crl(const scep_result *result)
{
    return result ? result->crl : NULL;
}

scep_fail_info scep_result_fail_info(const scep_result *result)
{
    return result ? result->fail_info : SCEP_FAIL_BAD_REQUEST;
}

const char *scep_result_fail_info_text(const scep_result *result)
{
    return result ? result->fail_info_text : NULL;
}

scep_digest scep_result_digest(const scep_result *result)
{
    return result ? result->digest : 0;
}

scep_cipher scep_result_cipher(const scep_result *result)
{
    return result ? result->cipher : 0;
}

scep_message_type scep_result_message_type(const scep_result *result)
{
    return result ? result->message_type : 0;
}

const scep_pending *scep_result_pending(const scep_result *result)
{
    return result ? result->pending : NULL;
}

static void log_dump(const scep_client *client, const char *what, const unsigned char *der,
                     size_t len)
{
    char *b64 = NULL;
    if (client->log == NULL || scep_base64_encode(&b64, der, len) < 0) {
        scep_error_clear();
        return;
    }
    size_t n = strlen(what) + strlen(b64) + 32;
    char *line = OPENSSL_malloc(n);
    if (line != NULL) {
        snprintf(line, n, "%s (%zu bytes, base64): %s", what, len, b64);
        client->log(SCEP_LOG_DEBUG, line, client->log_payload);
    }
    OPENSSL_free(line);
    OPENSSL_free(b64);
}

/* Adds context to the thread's last error and returns `rc`. */
SCEP_PRINTF(2, 3) static int explain(int rc, const char *fmt, ...)
{
    char prev[512];
    char head[512];
    va_list ap;
    snprintf(prev, sizeof(prev), "%s", scep_error_message());
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    return scep_fail(rc, "%s: %s", head, prev);
}

static int choose_algorithms(const scep_client *client, scep_digest *digest, scep_cipher *cipher,
                             scep_caps caps)
{
    int rc = SCEP_OK;
    if (*digest == 0)
        *digest = client->digest;
    if (*cipher == 0)
        *cipher = client->cipher;
    if (*digest == 0)
        GUARD(scep_caps_choose_digest(digest, caps, client->legacy));
    if (*cipher == 0)
        GUARD(scep_caps_choose_cipher(cipher, caps, client->legacy, 0));

cleanup:
    return rc;
}

static int pick_issued(X509 **out, STACK_OF(X509) * certs, EVP_PKEY *match_key,
                       const ASN1_INTEGER *serial)
{
    *out = NULL;
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);
        if (match_key != NULL && EVP_PKEY_eq(X509_get0_pubkey(c), match_key) == 1) {
            *out = c;
            return SCEP_OK;
        }
        if (serial != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(c), serial) == 0) {
            *out = c;
            return SCEP_OK;
        }
    }
    if (match_key != NULL)
        return scep_fail(SCEP_EVERIFY, "no certificate in the reply matches the requested key");
    *out = sk_X509_num(certs) > 0 ? sk_X509_value(certs, 0) : NULL;
    return SCEP_OK;
}

static int pki_operation(scep_client *client, scep_result **out, const struct exchange *ex,
                         const scep_ca_certs *ca, scep_caps caps)
{
    int rc = SCEP_OK;
    scep_result *result = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *transaction_id = NULL;
    unsigned char nonce[SCEP_NONCE_LEN];
    char *b64 = NULL;
    char *url = NULL;
    scep_http_response response = {0};
    scep_pkimessage *reply = NULL;
    scep_message_options msg_options = {.max_size = client->max_response_size,
                                        .flags = client->legacy ? SCEP_MSG_LEGACY : 0};
    const char *op = scep_message_type_name(ex->type);

    result = OPENSSL_zalloc(sizeof(*result));
    ENSURE_ALLOC(result);
    result->message_type = ex->type;
    result->digest = ex->digest;
    result->cipher = ex->cipher;
    GUARD(choose_algorithms(client, &result->digest, &result->cipher, caps));

    scep_request request = {
        .type = ex->type,
        .transaction_id = ex->transaction_id,
        .signer_cert = ex->signer_cert,
        .signer_key = ex->signer_key,
        .recipient_cert = ca->encryption,
        .digest = result->digest,
        .cipher = result->cipher,
        .csr = ex->csr,
        .issuer = ex->issuer,
        .subject = ex->subject,
        .serial = ex->serial,
    };
    GUARD(scep_request_build(&der, &der_len, &transaction_id, nonce, &request, &msg_options));
    int post = (scep_caps_effective(caps) & SCEP_CAP_POST_PKI_OPERATION) && !client->force_get;
    scep_client_logf(client, SCEP_LOG_INFO, "%s transactionID=%s digest=%s cipher=%s method=%s", op,
                     transaction_id, scep_digest_name(result->digest),
                     scep_cipher_name(result->cipher), post ? "POST" : "GET");
    log_dump(client, "request", der, der_len);

    scep_http_request http = {.method = post ? "POST" : "GET",
                              .content_type = "application/x-pki-message"};
    if (post) {
        /* RFC 8894 §4.1: POST carries the binary pkiMessage, no query message. */
        GUARD(scep_client_build_url(&url, client->url, "PKIOperation", NULL));
        http.body = der;
        http.body_len = der_len;
    } else {
        GUARD(scep_base64_encode(&b64, der, der_len));
        GUARD(scep_client_build_url(&url, client->url, "PKIOperation", b64));
    }
    http.url = url;
    GUARD(scep_client_http(client, &response, &http));
    log_dump(client, "reply", response.body, response.body_len);

    rc = scep_pkimessage_parse(&reply, response.body, response.body_len, ca->all,
                               ca->trusted_signers, &msg_options);
    if (rc == SCEP_EBADALG && !client->legacy) {
        rc = explain(rc,
                     "%s reply refused: the server used an algorithm allowed only with legacy "
                     "algorithms (micromdm scepserver 2.1.0 always replies with single DES and "
                     "SHA-1; --legacy accepts it)",
                     op);
        goto cleanup;
    }
    if (rc < 0) {
        rc = explain(rc, "%s reply does not verify", op);
        goto cleanup;
    }
    /* RFC 8894 §3.2.1.5: recipientNonce echoes our senderNonce; same transactionID. */
    GUARD(scep_pkimessage_check_reply(reply, transaction_id, nonce));

    result->status = scep_pkimessage_status(reply);
    result->transaction_id = transaction_id;
    transaction_id = NULL;
    scep_client_logf(client, SCEP_LOG_INFO, "%s status=%s", op,
                     scep_pki_status_name(result->status));
    switch (result->status) {
    case SCEP_STATUS_SUCCESS: {
        X509 *certs[1] = {ex->signer_cert};
        EVP_PKEY *keys[1] = {ex->signer_key};
        rc = scep_pkimessage_decrypt(reply, certs, keys, 1, &msg_options);
        if (rc == SCEP_EBADALG && !client->legacy) {
            rc = explain(rc, "%s reply refused (legacy algorithm; --legacy accepts it)", op);
            goto cleanup;
        }
        GUARD(rc);
        STACK_OF(X509) *got = scep_pkimessage_certs(reply);
        if (got != NULL) {
            result->certs = X509_chain_up_ref(got);
            ENSURE_ALLOC(result->certs);
        }
        X509_CRL *crl = scep_pkimessage_crl(reply);
        if (crl != NULL) {
            ENSURE_OSSL(X509_CRL_up_ref(crl) == 1, SCEP_ECRYPTO, "CRL reference");
            result->crl = crl;
        }
        if (ex->type == SCEP_MSG_GETCRL)
            ENSURE(result->crl != NULL, SCEP_EMALFORMED, "GetCRL reply holds no CRL");
        else {
            ENSURE(sk_X509_num(result->certs) > 0, SCEP_EMALFORMED, "%s reply holds no certificate",
                   op);
            GUARD(pick_issued(&result->cert, result->certs, ex->match_key, ex->serial));
        }
        break;
    }
    case SCEP_STATUS_FAILURE:
        result->fail_info = scep_pkimessage_fail_info(reply);
        if (scep_pkimessage_fail_info_text(reply) != NULL) {
            result->fail_info_text = OPENSSL_strdup(scep_pkimessage_fail_info_text(reply));
            ENSURE_ALLOC(result->fail_info_text);
        }
        scep_client_logf(client, SCEP_LOG_INFO, "%s failInfo=%s%s%s", op,
                         scep_fail_info_name(result->fail_info),
                         result->fail_info_text ? " failInfoText=" : "",
                         result->fail_info_text ? result->fail_info_text : "");
        break;
    case SCEP_STATUS_PENDING:
        ENSURE(ex->type == SCEP_MSG_PKCSREQ || ex->type == SCEP_MSG_RENEWALREQ ||
                   ex->type == SCEP_MSG_CERTPOLL,
               SCEP_EMALFORMED, "PENDING is not a valid answer to %s", op);
        GUARD(scep_pending_new(&result->pending, result->transaction_id, ex->ca_identifier,
                               ex->issuer, ex->subject, ex->signer_cert, result->digest,
                               result->cipher));
        break;
    }
    *out = result;
    result = NULL;

cleanup:
    scep_pkimessage_free(reply);
    scep_http_response_clear(&response);
    OPENSSL_free(url);
    OPENSSL_free(b64);
    OPENSSL_free(transaction_id);
    OPENSSL_free(der);
    scep_result_free(result);
    return rc;
}

int scep_client_enroll(scep_client *client, scep_result **out, const scep_enroll_request *request)
{
    int rc = SCEP_OK;
    scep_ca_certs *ca = NULL;
    X509 *self_signed = NULL;
    scep_caps caps = 0;

    ENSURE(client != NULL && out != NULL && request != NULL, SCEP_EINVAL,
           "client, output and request are required");
    *out = NULL;
    ENSURE(request->csr != NULL && request->key != NULL, SCEP_EINVAL,
           "the CSR and its key are required");
    ENSURE_OSSL(X509_REQ_check_private_key(request->csr, request->key) == 1, SCEP_EINVAL,
                "the key does not belong to the CSR");
    ENSURE((request->existing_cert == NULL) == (request->existing_key == NULL), SCEP_EINVAL,
           "renewal needs both the existing certificate and its key");
    if (request->existing_cert != NULL)
        ENSURE_OSSL(X509_check_private_key(request->existing_cert, request->existing_key) == 1,
                    SCEP_EINVAL, "the existing key does not belong to the existing certificate");

    GUARD(scep_client_caps(client, &caps, request->ca_identifier));
    GUARD(scep_client_ca(client, &ca, request->ca_identifier));

    struct exchange ex = {
        .type = SCEP_MSG_PKCSREQ,
        .csr = request->csr,
        .issuer = X509_get_subject_name(ca->ca),
        .subject = X509_REQ_get_subject_name(request->csr),
        .transaction_id = request->transaction_id,
        .ca_identifier = request->ca_identifier,
        .match_key = X509_REQ_get0_pubkey(request->csr),
    };
    GUARD(choose_algorithms(client, &ex.digest, &ex.cipher, caps));
    if (request->existing_cert != NULL) {
        /* Renewal: signed with the existing certificate (RFC 8894 §2.5, §3.3.1.2). */
        ex.signer_cert = request->existing_cert;
        ex.signer_key = request->existing_key;
        switch (client->renewal) {
        case SCEP_RENEWAL_AUTO:
            ex.type = (scep_caps_effective(caps) & SCEP_CAP_RENEWAL) ? SCEP_MSG_RENEWALREQ
                                                                     : SCEP_MSG_PKCSREQ;
            break;
        case SCEP_RENEWAL_RENEWALREQ:
            ex.type = SCEP_MSG_RENEWALREQ;
            break;
        case SCEP_RENEWAL_PKCSREQ:
            ex.type = SCEP_MSG_PKCSREQ;
            break;
        }
    } else {
        /* RFC 8894 §2.3: a self-signed certificate for the new key. */
        /* Its own signature never uses MD5, even when the message digest does. */
        scep_digest cert_digest = ex.digest == SCEP_DIGEST_MD5 ? SCEP_DIGEST_SHA256 : ex.digest;
        GUARD(scep_self_signed_signer(&self_signed, request->key, request->csr, cert_digest, 7));
        ex.signer_cert = self_signed;
        ex.signer_key = request->key;
    }
    GUARD(pki_operation(client, out, &ex, ca, caps));

cleanup:
    X509_free(self_signed);
    scep_ca_certs_free(ca);
    return rc;
}

int scep_client_poll(scep_client *client, scep_result **out, const scep_pending *pending,
                     EVP_PKEY *key)
{
    int rc = SCEP_OK;
    scep_ca_certs *ca = NULL;
    scep_caps caps = 0;

    ENSURE(client != NULL && out != NULL && pending != NULL && key != NULL, SCEP_EINVAL,
           "client, output, pending state and key are required");
    *out = NULL;
    ENSURE_OSSL(X509_check_private_key(pending->signer_cert, key) == 1, SCEP_EINVAL,
                "the key is not the one that signed the pending request");
    GUARD(scep_client_caps(client, &caps, pending->ca_identifier));
    GUARD(scep_client_ca(client, &ca, pending->ca_identifier));
    /* RFC 8894 §3.3.3: same transactionID, IssuerAndSubject, signed as the request was. */
    struct exchange ex = {
        .type = SCEP_MSG_CERTPOLL,
        .signer_cert = pending->signer_cert,
        .signer_key = key,
        .issuer = pending->issuer,
        .subject = pending->subject,
        .transaction_id = pending->transaction_id,
        .ca_identifier = pending->ca_identifier,
        .digest = pending->digest,
        .cipher = pending->cipher,
    };
    GUARD(pki_operation(client, out, &ex, ca, caps));
    if ((*out)->status == SCEP_STATUS_SUCCESS && (*out)->certs != NULL) {
        /* The issued certificate is the one for the polled subject, when present. */
        for (int i = 0; i < sk_X509_num((*out)->certs); i++) {
            X509 *c = sk_X509_value((*out)->certs, i);
            if (X509_NAME_cmp(X509_get_subject_name(c), pending->subject) == 0) {
                (*out)->cert = c;
                break;
            }
        }
    }

cleanup:
    scep_ca_certs_free(ca);
    return rc;
}

static int signed_lookup(scep_client *client, scep_result **out, scep_message_type type,
                         const ASN1_INTEGER *serial, const X509_NAME *issuer, X509 *signer_cert,
                         EVP_PKEY *signer_key, const char *ca_identifier)
{
    int rc = SCEP_OK;
    scep_ca_certs *ca = NULL;
    scep_caps caps = 0;

    ENSURE(client != NULL && out != NULL && serial != NULL && signer_cert != NULL &&
               signer_key != NULL,
           SCEP_EINVAL, "client, output, serial, certificate and key are required");
    *out = NULL;
    ENSURE_OSSL(X509_check_private_key(signer_cert, signer_key) == 1, SCEP_EINVAL,
                "the key does not belong to the certificate");
    GUARD(scep_client_caps(client, &caps, ca_identifier));
    GUARD(scep_client_ca(client, &ca, ca_identifier));
    struct exchange ex = {
        .type = type,
        .signer_cert = signer_cert,
        .signer_key = signer_key,
        .issuer = issuer ? issuer : X509_get_subject_name(ca->ca),
        .serial = serial,
        .ca_identifier = ca_identifier,
    };
    GUARD(pki_operation(client, out, &ex, ca, caps));

cleanup:
    scep_ca_certs_free(ca);
    return rc;
}

int scep_client_get_cert(scep_client *client, scep_result **out, const ASN1_INTEGER *serial,
                         X509 *signer_cert, EVP_PKEY *signer_key, const char *ca_identifier)
{
    return signed_lookup(client, out, SCEP_MSG_GETCERT, serial, NULL, signer_cert, signer_key,
                         ca_identifier);
}

int scep_client_get_crl(scep_client *client, scep_result **out, X509 *cert, EVP_PKEY *key,
                        const char *ca_identifier)
{
    if (cert == NULL)
        return scep_fail(SCEP_EINVAL, "the certificate is required");
    /* RFC 8894 §3.3.4: IssuerAndSerialNumber of the certificate whose CRL is wanted. */
    return signed_lookup(client, out, SCEP_MSG_GETCRL, X509_get0_serialNumber(cert),
                         X509_get_issuer_name(cert), cert, key, ca_identifier);
}
