/*
 * PKIOperation (RFC 8894 §4.3-4.6): decode, verify and decrypt a request, and
 * build the CertRep that answers it. The messageType table is enroll/dispatch.c.
 * Once a request verifies, every refusal is a signed CertRep FAILURE, never an HTTP
 * error (interop.md §12). On a CA node behind a relay, the outcome goes back to the
 * relay instead (op->relay_sink), which builds and signs the CertRep.
 */
#include "scepd/log.h"
#include "scepd/ops/ops.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <stdlib.h>
#include <string.h>

/* The request's digest and cipher, unless they are legacy and the alias does not allow it. */
static scep_digest reply_digest(const struct scepd_op *op, scep_digest requested)
{
    if ((requested == SCEP_DIGEST_MD5 || requested == SCEP_DIGEST_SHA1) && !op->alias->legacy)
        return SCEP_DIGEST_SHA256;
    return requested;
}

static scep_cipher reply_cipher(const struct scepd_op *op, scep_cipher requested)
{
    if (requested == SCEP_CIPHER_DES && !op->alias->legacy)
        return SCEP_CIPHER_AES128;
    return requested;
}

int scepd_reply(struct scepd_op *op, const scep_pkimessage *request,
                const struct scepd_outcome *outcome)
{
    int rc = SCEP_OK;
    unsigned char *der = NULL;
    size_t len = 0;
    X509 *signer_cert = NULL;
    EVP_PKEY *signer_key = NULL;
    /* A certificate is sent whatever happened before; anything else waits for the store. */
    if (op->store_lost && outcome->status != SCEP_STATUS_SUCCESS) {
        scepd_op_unavailable(op);
        return SCEP_EUNAVAILABLE;
    }
    if (op->relay_sink != NULL) {
        rc = op->relay_sink(op, outcome);
        goto answered;
    }
    scepd_op_reply_signer(&signer_cert, &signer_key, op);
    scep_message_options options = {.flags = op->alias->legacy ? SCEP_MSG_LEGACY : 0};

    scep_reply reply = {
        .status = outcome->status,
        .transaction_id = scep_pkimessage_transaction_id(request),
        .recipient_nonce = scep_pkimessage_sender_nonce(request),
        .recipient_nonce_len = scep_pkimessage_sender_nonce_len(request),
        .signer_cert = signer_cert,
        .signer_key = signer_key,
        .digest = reply_digest(op, scep_pkimessage_digest(request)),
        .recipient_cert = scep_pkimessage_signer_cert(request),
        .cipher =
            reply_cipher(op, scep_pkimessage_has_envelope(request) ? scep_pkimessage_cipher(request)
                                                                   : SCEP_CIPHER_AES128),
        .certs = outcome->certs,
        .crl = outcome->crl,
        .fail_info = outcome->fail_info,
        .fail_info_text = outcome->fail_info_text,
    };
    rc = scep_reply_build(&der, &len, &reply, &options);
    if (rc < 0 && scep_key_is_token(signer_key)) {
        /* The token is unplugged or restarting: the client may retry (RFC 9110 §15.6.4). */
        scepd_log(SCEPD_LOG_WARN, "event=token_unavailable alias=%s detail=\"%s\"", op->alias->name,
                  scep_error_message());
        scepd_op_text(op, 503, "token_unavailable",
                      "cannot sign the CertRep with the token key: %s", scep_error_message());
        return rc;
    }
    if (rc < 0) {
        scepd_op_text(op, 500, "error", "cannot build the CertRep: %s", scep_error_message());
        return rc;
    }
    rc = scepd_op_body(op, 200, "application/x-pki-message", der, len);
    OPENSSL_free(der);
answered:
    op->outcome = outcome->status == SCEP_STATUS_SUCCESS   ? "success"
                  : outcome->status == SCEP_STATUS_PENDING ? "pending"
                                                           : "failure";
    if (outcome->status == SCEP_STATUS_FAILURE) {
        op->fail_info = (int)outcome->fail_info;
        if (op->detail[0] == '\0')
            scepd_op_detail(op, "%s", outcome->fail_info_text ? outcome->fail_info_text : "");
    }
    return rc;
}

int scepd_reply_failure(struct scepd_op *op, const scep_pkimessage *request,
                        scep_fail_info fail_info, const char *text)
{
    struct scepd_outcome outcome = {
        .status = SCEP_STATUS_FAILURE,
        .fail_info = fail_info,
        .fail_info_text = text,
    };
    return scepd_reply(op, request, &outcome);
}

/* The raw pkiMessage: the POST body (borrowed), or the GET message= base64 (decoded into *decoded).
 */
static int request_bytes(const unsigned char **out, size_t *out_len, unsigned char **decoded,
                         struct scepd_op *op, size_t max_size)
{
    const struct scepd_http_request *http = op->http;
    if (strcmp(http->method, "POST") == 0) {
        if (http->body_len == 0)
            return scep_fail(SCEP_EMALFORMED, "empty POST body");
        *out = http->body;
        *out_len = http->body_len;
        return SCEP_OK;
    }
    if (http->message == NULL)
        return scep_fail(SCEP_EMALFORMED, "the message parameter is missing");
    int rc = scep_base64_decode_lenient(decoded, out_len, http->message, strlen(http->message),
                                        max_size);
    *out = *decoded;
    return rc;
}

int scepd_pkiop_open(struct scepd_op *op, scep_pkimessage **out, unsigned char **out_decoded)
{
    const unsigned char *der = NULL;
    size_t der_len = 0;
    return scepd_pkiop_open_der(op, out, out_decoded, &der, &der_len);
}

int scepd_pkiop_open_der(struct scepd_op *op, scep_pkimessage **out, unsigned char **out_decoded,
                         const unsigned char **out_der, size_t *out_der_len)
{
    const unsigned char *der = NULL;
    unsigned char *decoded = NULL;
    size_t der_len = 0;
    scep_pkimessage *msg = NULL;
    const struct scep_config_global *global = scep_config_global_values(op->generation->config);
    size_t max_size = (size_t)global->max_body;
    scep_message_options options = {
        .max_size = max_size,
        .flags = op->alias->legacy ? SCEP_MSG_LEGACY : 0,
    };

    *out = NULL;
    *out_decoded = NULL;
    int rc = request_bytes(&der, &der_len, &decoded, op, max_size);
    if (rc < 0) {
        scepd_op_text(op, rc == SCEP_ETOOBIG ? 413 : 400, "bad_message", "%s",
                      scep_error_message());
        goto done;
    }

    rc = scep_pkimessage_parse(&msg, der, der_len, NULL, NULL, &options);
    if (rc < 0) {
        char reason[256];
        snprintf(reason, sizeof(reason), "%s", scep_error_message());
        /* A request we cannot verify still gets a SCEP answer when it can be
         * addressed (RFC 8894 §3.3.2.2); otherwise it is not SCEP at all. */
        if (scep_pkimessage_peek(&msg, der, der_len, &options) == SCEP_OK) {
            snprintf(op->transaction_id, sizeof(op->transaction_id), "%s",
                     scep_pkimessage_transaction_id(msg));
            op->message_type = scep_message_type_name(scep_pkimessage_type(msg));
            scepd_op_detail(op, "%s", reason);
            scepd_reply_failure(op, msg, scep_error_fail_info(rc), reason);
        } else {
            scepd_op_text(op, 400, "bad_message", "not a valid SCEP pkiMessage: %s", reason);
        }
        goto done;
    }
    snprintf(op->transaction_id, sizeof(op->transaction_id), "%s",
             scep_pkimessage_transaction_id(msg));
    op->message_type = scep_message_type_name(scep_pkimessage_type(msg));

    if (scep_pkimessage_type(msg) == SCEP_MSG_CERTREP) {
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "a CertRep is not a request");
        goto done;
    }
    rc = scepd_caid_decrypt(op, msg, &options);
    if (rc < 0) {
        scepd_op_detail(op, "%s", scep_error_message());
        scepd_reply_failure(op, msg, scep_error_fail_info(rc), scep_error_message());
        goto done;
    }
    *out = msg;
    *out_decoded = decoded;
    *out_der = der;
    *out_der_len = der_len;
    return SCEP_OK;

done:
    scep_pkimessage_free(msg);
    OPENSSL_free(decoded);
    return -1;
}
