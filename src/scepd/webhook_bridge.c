/*
 * Bridge for the current callers of the webhook (enroll.c for CA mode, ra.c
 * for RA mode): they hand over the request rather than the certificate it will
 * become, so the query is filled from the CSR here and a refusal is answered
 * here, with the texts those callers always had. It goes once they build a
 * scepd_webhook_query themselves and refuse on the verdict.
 */
#include "scepd/enroll_shared.h"
#include "scepd/webhook.h"

#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#define WEBHOOK_CHALLENGE_MAX 1024
#define WEBHOOK_USERNAME_MAX  256

/*
 * Every subjectAltName of every subjectAltName extension in the CSR's
 * extensionRequest, in order: the receiver must see all the names a duplicated
 * extension could carry into the certificate. -1 when one cannot be read.
 */
static int csr_sans(GENERAL_NAMES **out, X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *all = sk_GENERAL_NAME_new_null();
    int rc = all != NULL ? 0 : -1;
    for (int i = 0; rc == 0 && exts != NULL && i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name)
            continue;
        GENERAL_NAMES *names = X509V3_EXT_d2i(ext);
        if (names == NULL) {
            rc = -1;
            break;
        }
        while (rc == 0 && sk_GENERAL_NAME_num(names) > 0) {
            GENERAL_NAME *name = sk_GENERAL_NAME_shift(names);
            if (sk_GENERAL_NAME_push(all, name) <= 0) {
                GENERAL_NAME_free(name);
                rc = -1;
            }
        }
        GENERAL_NAMES_free(names);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (rc < 0) {
        GENERAL_NAMES_free(all);
        all = NULL;
    }
    *out = all;
    return rc;
}

int scepd_webhook_deny(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                       int64_t request_id)
{
    const struct scep_config_alias_settings *s = op->alias->settings;
    if (s->webhook_url == NULL || s->webhook_url[0] == '\0')
        return 0;
    X509_REQ *csr = scep_pkimessage_csr(msg);
    const X509_NAME *subject = X509_REQ_get_subject_name(csr);
    GENERAL_NAMES *sans = NULL;
    char challenge[WEBHOOK_CHALLENGE_MAX];
    char username[WEBHOOK_USERNAME_MAX];
    char reason[SCEPD_WEBHOOK_REASON_MAX + 1] = "";
    char text[SCEPD_WEBHOOK_REASON_MAX + 96];
    char logged[SCEPD_WEBHOOK_REASON_MAX + 96];
    int ra_mode = s->operationmode == SCEP_ALIAS_MODE_RA;
    int denied = 1;

    if (csr_sans(&sans, csr) < 0) {
        scepd_enroll_refuse(op, msg, store, request_id, SCEP_FAIL_BAD_REQUEST,
                            "the authorisation service cannot be asked",
                            "webhook: the request's subjectAltNames cannot be read");
        goto done;
    }
    int have_challenge = scepd_enroll_challenge_password(challenge, sizeof(challenge), csr) == 0;
    /* CA mode's end entity follows from the subject alone; RA mode's may be random. */
    int have_username = !ra_mode && scepd_username_from_subject(username, sizeof(username), subject,
                                                                &s->usernamefield) == 0;
    struct scepd_webhook_query query = {
        .alias = op->alias->name,
        .transaction_id = scep_pkimessage_transaction_id(msg),
        .message_type = scep_message_type_name(scep_pkimessage_type(msg)),
        .mode = ra_mode ? "ra" : "ca",
        .username = have_username ? username : NULL,
        .subject = subject,
        .sans = sans,
        .key = X509_REQ_get0_pubkey(csr),
        .challenge_password = have_challenge ? challenge : NULL,
        .client_addr = op->http->client_addr,
    };
    switch (scepd_webhook_ask(s, &query, reason, sizeof(reason))) {
    case SCEPD_WEBHOOK_ALLOW:
        denied = 0;
        break;
    case SCEPD_WEBHOOK_DENY:
        snprintf(text, sizeof(text), "enrollment refused by the authorisation service%s%s",
                 reason[0] ? ": " : "", reason);
        snprintf(logged, sizeof(logged), "webhook denied%s%s", reason[0] ? ": " : "", reason);
        scepd_enroll_refuse(op, msg, store, request_id, SCEP_FAIL_BAD_REQUEST, text, logged);
        break;
    case SCEPD_WEBHOOK_UNAVAILABLE:
        snprintf(logged, sizeof(logged), "webhook unreachable: %s", reason);
        scepd_enroll_refuse(op, msg, store, request_id, SCEP_FAIL_BAD_REQUEST,
                            "enrollment refused: the authorisation service is unavailable", logged);
        break;
    }
    OPENSSL_cleanse(challenge, sizeof(challenge));

done:
    GENERAL_NAMES_free(sans);
    return denied;
}
