/*
 * PKCSReq in RA mode (EJBCA semantics): the request is authorised by the
 * alias's shared secret ra.authPwd, or by a one-time challenge from
 * `scepctl challenge new` (NDES style), instead of by an end entity's own
 * code. The end entity is created (or reused) under a generated username in
 * the same store transaction that commits the certificate.
 */
#include "scepd/enroll_shared.h"
#include "scepd/log.h"
#include "ca/issuance.h"
#include "scepd/webhook.h"
#include "util/error_internal.h"

#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define CHALLENGE_MAX 1024

#define TEXT_WRONG_SECRET "enrollment refused: wrong challenge password"
#define TEXT_SPENT        "enrollment refused: this one-time challenge was already used"

enum ra_authorisation { RA_REFUSED = 0, RA_BY_SECRET, RA_BY_CHALLENGE, RA_OPEN };

/* Constant time over equal-length digests, so neither content nor length leaks. */
static int secret_matches(const char *given, const char *secret)
{
    unsigned char a[32], b[32];
    unsigned int len_a = 0, len_b = 0;
    int ok = EVP_Digest(given, strlen(given), a, &len_a, EVP_sha256(), NULL) == 1 &&
             EVP_Digest(secret, strlen(secret), b, &len_b, EVP_sha256(), NULL) == 1 &&
             len_a == sizeof(a) && len_b == sizeof(b) && CRYPTO_memcmp(a, b, sizeof(a)) == 0;
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return ok;
}

/*
 * Decides whether the request may be issued. A refusal fills `text` (for the
 * client) and `reason` (for the log, never the secret).
 */
static enum ra_authorisation authorise(const struct scepd_op *op, scep_store *store, X509_REQ *csr,
                                       const char *subject_text, const char **text, char *reason,
                                       size_t reason_size)
{
    const struct scep_config_alias_settings *settings = op->alias->settings;
    const char *secret = settings->ra_authpwd;
    int challenges = settings->ra_onetimechallenges;
    int secret_used = challenges != SCEP_ALIAS_CHALLENGES_REQUIRE;
    char challenge[CHALLENGE_MAX];
    enum ra_authorisation result = RA_REFUSED;
    char *pattern = NULL;

    *text = TEXT_WRONG_SECRET;
    int has_challenge = scepd_enroll_challenge_password(challenge, sizeof(challenge), csr) == 0;
    if (secret_used && (secret == NULL || secret[0] == '\0')) {
        /* EJBCA: an RA alias without ra.authPwd requires no password (warned at start). */
        result = RA_OPEN;
    } else if (!has_challenge) {
        snprintf(reason, reason_size, "no challengePassword in the request");
        *text = "the request has no challengePassword";
    } else if (secret_used && secret_matches(challenge, secret)) {
        result = RA_BY_SECRET;
    } else if (challenges == SCEP_ALIAS_CHALLENGES_OFF) {
        snprintf(reason, reason_size, "wrong RA shared secret");
    } else {
        int rc = scep_store_challenge_consume(&pattern, store, op->alias->name, challenge);
        if (rc == SCEP_OK && pattern != NULL && fnmatch(pattern, subject_text, 0) != 0) {
            snprintf(reason, reason_size, "subject %.200s does not match the challenge's pattern",
                     subject_text);
            *text = "enrollment refused: the subject does not match the one-time challenge";
        } else if (rc == SCEP_OK) {
            result = RA_BY_CHALLENGE;
        } else if (rc == SCEP_ESTATE) {
            snprintf(reason, reason_size, "one-time challenge already used");
            *text = TEXT_SPENT;
        } else {
            /* Unknown, expired or another alias's: the store's message says which. */
            snprintf(reason, reason_size, "%s%s", secret_used ? "wrong RA shared secret; " : "",
                     scep_error_message());
        }
    }
    OPENSSL_cleanse(challenge, sizeof(challenge));
    OPENSSL_free(pattern);
    return result;
}

/* Issues and commits under the generated username (a fresh serial on a collision). */
static int issue_and_store(X509 **out, scep_store *store, const struct scepd_op *op,
                           const scep_profile *profile, X509_REQ *csr, int64_t request_id,
                           const scep_store_ra_entity *ra)
{
    const struct scepd_ca *ca = op->alias->ca;
    /* The end entity's DN is the CSR's subject, so either subject source gives it. */
    scep_stored_issue issue = {
        .ca = ca->ca,
        .ca_name = ca->name,
        .profile = profile,
        .csr = csr,
        .subject = X509_REQ_get_subject_name(csr),
        .request_id = request_id,
        .transaction_id = op->transaction_id,
        .actor = op->http->client_addr,
        .alias = op->alias->name,
        .ra = ra,
    };
    return scep_ca_issue_stored(out, store, &issue);
}

/* Records the transaction; 1 when the request was answered already (or cannot be recorded). */
static int record_request(scep_store_request **out, struct scepd_op *op, scep_pkimessage *msg,
                          scep_store *store, const unsigned char key_hash[32])
{
    int created = 0;
    if (scepd_enroll_record(out, &created, op, msg, store, key_hash) < 0)
        return 1;
    /* RFC 8894 §3.3.1: a retransmission gets the stored certificate, never a second one. */
    if (!created && scepd_enroll_answer_retransmission(op, msg, store, *out, key_hash))
        return 1;
    if (!created && (*out)->status != SCEP_REQ_PENDING &&
        scep_store_request_update(store, (*out)->id, SCEP_REQ_PENDING, SCEP_STORE_NO_FAIL_INFO,
                                  NULL) < 0) {
        scepd_enroll_refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST,
                            "the server cannot record the request", scep_error_message());
        return 1;
    }
    return 0;
}

static const char *authorisation_name(enum ra_authorisation how)
{
    return how == RA_BY_SECRET      ? "RA shared secret"
           : how == RA_BY_CHALLENGE ? "one-time challenge"
                                    : "no password (ra.authPwd unset)";
}

void scepd_enroll_ra(struct scepd_op *op, scep_pkimessage *msg, scep_store *store)
{
    const struct scep_config_alias_settings *settings = op->alias->settings;
    X509_REQ *csr = scep_pkimessage_csr(msg);
    unsigned char key_hash[32];
    char username[SCEPD_RA_USERNAME_MAX + 1];
    char *subject_text = NULL;
    scep_store_request *row = NULL;
    X509 *issued = NULL;
    const char *text = NULL;
    char reason[384];

    if (scepd_enroll_key_hash(key_hash, csr) < 0 ||
        scep_dn_format(&subject_text, X509_REQ_get_subject_name(csr)) < 0) {
        scepd_enroll_refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the request cannot be read",
                            scep_error_message());
        goto done;
    }
    if (record_request(&row, op, msg, store, key_hash))
        goto done;

    /* The name first: a request that cannot be named must not spend a one-time challenge. */
    if (scepd_ra_username(username, sizeof(username), X509_REQ_get_subject_name(csr), settings) <
        0) {
        snprintf(reason, sizeof(reason), "no username: %s", scep_error_message());
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "the request's subject gives no end entity name", reason);
        goto done;
    }
    reason[0] = '\0';
    enum ra_authorisation how =
        authorise(op, store, csr, subject_text, &text, reason, sizeof(reason));
    if (how == RA_REFUSED) {
        char logged[sizeof(reason) + SCEPD_RA_USERNAME_MAX + 16];
        snprintf(logged, sizeof(logged), "user %s: %s", username, reason);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST, text, logged);
        goto done;
    }

    scep_store_ra_entity ra = {
        .username = username,
        .subject_dn = subject_text,
        .profile = settings->ra_certificateprofile,
        .ca_name = op->alias->ca->name,
        .on_existing = settings->ra_onexisting == SCEP_ALIAS_RA_REFUSE ? SCEP_STORE_RA_REFUSE
                                                                       : SCEP_STORE_RA_REISSUE,
    };
    if (scepd_webhook_deny(op, msg, store, row->id))
        goto done; /* webhook.url said no (webhook.c) */
    int rc = issue_and_store(&issued, store, op, &op->alias->profile, csr, row->id, &ra);
    if (rc == SCEP_EDENIED) {
        snprintf(reason, sizeof(reason), "user %s: %s", username, scep_error_message());
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "enrollment refused: the end entity already holds a valid certificate "
                            "or is disabled",
                            reason);
        goto done;
    }
    if (rc == SCEP_ESTATE) {
        /* Another connection answered this transaction first. */
        snprintf(reason, sizeof(reason), "user %s: %s", username, scep_error_message());
        scepd_enroll_refuse(op, msg, store, 0, SCEP_FAIL_BAD_REQUEST,
                            "this transaction is being answered", reason);
        goto done;
    }
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "user %s: %s", username, scep_error_message());
        scepd_enroll_refuse(op, msg, store, row->id, scep_error_fail_info(rc),
                            rc == SCEP_EPOLICY || rc == SCEP_EBADALG
                                ? scep_error_message()
                                : "the certificate could not be issued",
                            reason);
        goto done;
    }
    char serial_hex[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial_hex, X509_get0_serialNumber(issued)) < 0)
        serial_hex[0] = '\0';
    scepd_op_detail(op, "RA user %s (%s) issued serial %s", username, authorisation_name(how),
                    serial_hex);
    scepd_enroll_reply_cert(op, msg, issued);

done:
    X509_free(issued);
    scep_store_request_free(row);
    OPENSSL_free(subject_text);
}
