/*
 * Stage 2, authenticate: exactly one proof is taken, and it names the end entity
 * the certificate will be for (the subject of authorisation):
 *
 *   renewal signer   a certificate a CA of this alias issued (any of its keys after a
 *                    rollover), stored VALID and within its validity: its end entity
 *   end entity code  CA mode: the usernamefield RDN names the end entity, the
 *                    challengePassword is its one-time code (status NEW)
 *   RA secret        RA mode: ra.authPwd; the end entity is named by the alias's name
 *                    generation (bind.c)
 *   one-time code    RA mode: a challenge of `scepctl challenge new` for this alias
 *
 * A PKCSReq signed by our certificate is a renewal when the alias allows renewal and
 * the signer can renew (interop.md §5, §6); with a challengePassword and a signer
 * that cannot renew it is an enrollment like any other.
 */
#include "scepd/enroll/enrollment.h"
#include "scepd/enroll/ra_username.h"
#include "scepd/log.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TEXT_WRONG_SECRET "enrollment refused: wrong challenge password"

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The CA of this alias whose key (current, old or next) issued `signer`, or NULL. */
static const struct scepd_ca *issuing_ca(const struct scepd_op *op, X509 *signer)
{
    for (size_t i = 0; signer != NULL && i < op->alias->ca_count; i++) {
        const scep_ca *keys[2];
        size_t n = scepd_ca_keys(keys, 2, op->generation, op->alias->cas[i], op->now);
        for (size_t k = 0; k < n; k++) {
            X509 *ca_cert = scep_ca_cert(keys[k]);
            if (X509_NAME_cmp(X509_get_issuer_name(signer), X509_get_subject_name(ca_cert)) != 0)
                continue;
            /* A self-signed signer that carries the CA's name does not verify. */
            int ok = X509_verify(signer, X509_get0_pubkey(ca_cert)) == 1;
            ERR_clear_error();
            if (ok)
                return op->alias->cas[i];
        }
    }
    return NULL;
}

/* Why the signer cannot renew (the failInfoText), or NULL; `reason` gets the log text. */
static const char *signer_unusable(struct scepd_enrollment *e, char *reason, size_t reason_size)
{
    char serial[SCEP_SERIAL_HEX_MAX];
    unsigned char *der = NULL;
    int der_len = i2d_X509(e->signer, &der);
    const char *text = NULL;
    if (der_len <= 0 || scep_serial_to_hex(serial, X509_get0_serialNumber(e->signer)) < 0) {
        snprintf(reason, reason_size, "renewal: signer unreadable");
        text = "the signer certificate is not known to this CA";
        goto done;
    }
    int rc = scep_store_cert_get(&e->old, e->store, e->signer_ca->name, serial);
    scepd_op_store_lost(e->op, rc);
    if (rc < 0 || e->old->der_len != (size_t)der_len ||
        CRYPTO_memcmp(e->old->der, der, (size_t)der_len) != 0) {
        snprintf(reason, reason_size, "renewal: signer serial %s %s", serial,
                 rc < 0 ? "not in the store" : "differs from the stored certificate");
        text = "the signer certificate is not known to this CA";
    } else if (e->old->status != SCEP_CERT_VALID) {
        snprintf(reason, reason_size, "renewal: signer serial %s is revoked", serial);
        text = "the signer certificate is revoked";
    } else if (asn1_time_to_unix(X509_get0_notAfter(e->signer)) <= (int64_t)e->op->now ||
               asn1_time_to_unix(X509_get0_notBefore(e->signer)) > (int64_t)e->op->now) {
        snprintf(reason, reason_size, "renewal: signer serial %s is outside its validity", serial);
        text = "the signer certificate has expired or is not yet valid";
    } else if (e->old->username == NULL || e->old->username[0] == '\0') {
        snprintf(reason, reason_size, "renewal: signer serial %s belongs to no end entity", serial);
        text = "the signer certificate belongs to no end entity";
    }
done:
    OPENSSL_free(der);
    return text;
}

static enum scepd_stage renewal(struct scepd_enrollment *e)
{
    e->auth = SCEPD_AUTH_RENEWAL;
    snprintf(e->username, sizeof(e->username), "%s", e->old->username);
    int rc = scep_store_ee_get(&e->ee, e->store, e->username);
    if (rc < 0) {
        e->ee = NULL;
        scepd_op_store_lost(e->op, rc);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "renewal refused: the end entity may not hold certificates",
                                   "user %s: end entity not found", e->username);
    }
    if (e->ee->status != SCEP_EE_GENERATED && e->ee->status != SCEP_EE_NEW)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "renewal refused: the end entity may not hold certificates",
                                   "user %s: end entity revoked or disabled", e->username);
    return SCEPD_STAGE_NEXT;
}

/* One more failed authorisation from this client address (guard.c); logged at the limit. */
static void count_failure(const struct scepd_enrollment *e)
{
    long long limit = scep_config_global_values(e->op->generation->config)->failed_auth_limit;
    unsigned count = scepd_guard_failed(e->op->server->guard, e->op->http->client_addr, e->op->now);
    if (limit > 0 && count == (unsigned)limit)
        scepd_log(SCEPD_LOG_WARN,
                  "event=client_blocked client=%s failures=%u detail=\"failed_auth_limit reached; "
                  "refused for the rest of the minute\"",
                  e->op->http->client_addr, count);
}

/*
 * A wrong code for a (perhaps) existing end entity: counted on it, and at
 * max_failed_codes it is locked until `scepctl ee reset` (logged and audited once).
 */
/* Counts a wrong code against the end entity; returns 1 when there is no such end entity. */
static int count_wrong_code(const struct scepd_enrollment *e, long long max_failed)
{
    int64_t count = 0;
    int rc = scep_store_ee_code_failed(e->store, e->username, &count);
    scepd_op_store_lost(e->op, rc);
    if (rc == SCEP_ENOTFOUND)
        return 1;
    if (rc < 0 || max_failed <= 0 || count != max_failed)
        return 0;
    scepd_log(SCEPD_LOG_WARN, "event=ee_locked user=%s failed_codes=%lld", e->username,
              (long long)count);
    char detail[SCEPD_USERNAME_MAX + 64];
    snprintf(detail, sizeof(detail), "user %s locked after %lld wrong codes", e->username,
             (long long)count);
    scepd_enroll_audit(e->store, e->op, "ee_locked", "locked", detail);
    return 0;
}

static enum scepd_stage end_entity_code(struct scepd_enrollment *e)
{
    const struct scep_config_alias_settings *settings = e->op->alias->settings;
    e->auth = SCEPD_AUTH_CODE;
    if (scep_username_from_subject(e->username, sizeof(e->username),
                                   X509_REQ_get_subject_name(e->csr), &settings->usernamefield) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "the request's subject names no end entity",
                                   "subject has none of the usernamefield RDNs");
    if (!e->has_challenge)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the request has no challengePassword",
                                   "user %s: no challengePassword in the request", e->username);
    long long max_failed = scep_config_global_values(e->op->generation->config)->max_failed_codes;
    int rc = scep_store_ee_verify_password(&e->ee, e->store, e->username, e->challenge);
    if (rc < 0) {
        e->ee = NULL;
        scepd_op_store_lost(e->op, rc);
        char why[256];
        snprintf(why, sizeof(why), "%s", scep_error_message());
        if (rc == SCEP_EDENIED)
            snprintf(why, sizeof(why), "%s",
                     count_wrong_code(e, max_failed) ? "unknown user" : "wrong code");
        /* One text for both in the answer, so it does not reveal which usernames exist;
         * the log and the audit trail tell them apart. */
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "enrollment refused: unknown end entity or wrong challenge "
                                   "password",
                                   "user %s: %s", e->username, why);
    }
    if (max_failed > 0 && e->ee->failed_codes >= max_failed)
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST,
            "enrollment refused: the end entity is locked after too many wrong codes; ask for "
            "a reset",
            "user %s: locked after %lld wrong codes", e->username, (long long)e->ee->failed_codes);
    if (e->ee->status != SCEP_EE_NEW)
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST,
            "enrollment refused: this enrollment code was already used; ask for a reset",
            "user %s: status is not NEW (code already used)", e->username);
    return SCEPD_STAGE_NEXT;
}

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

static enum scepd_stage ra_secret_or_challenge(struct scepd_enrollment *e)
{
    const struct scep_config_alias_settings *settings = e->op->alias->settings;
    const char *secret = settings->ra_authpwd;
    int challenges = settings->ra_onetimechallenges;
    int secret_used = challenges != SCEP_ALIAS_CHALLENGES_REQUIRE;

    if (secret_used && (secret == NULL || secret[0] == '\0')) {
        /* EJBCA: an RA alias without ra.authPwd requires no password (warned at start). */
        e->auth = SCEPD_AUTH_OPEN;
        return SCEPD_STAGE_NEXT;
    }
    if (!e->has_challenge)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the request has no challengePassword",
                                   "no challengePassword in the request");
    if (secret_used && secret_matches(e->challenge, secret)) {
        e->auth = SCEPD_AUTH_SECRET;
        return SCEPD_STAGE_NEXT;
    }
    if (challenges == SCEP_ALIAS_CHALLENGES_OFF)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, TEXT_WRONG_SECRET,
                                   "wrong RA shared secret");
    /* A request that cannot be named must not spend a one-time challenge. */
    if (scepd_ra_username(e->username, sizeof(e->username), X509_REQ_get_subject_name(e->csr),
                          settings) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "the request's subject gives no end entity name",
                                   "no username: %s", scep_error_message());
    int rc = scep_store_challenge_consume(&e->challenge_pattern, e->store, e->op->alias->name,
                                          e->challenge);
    if (rc == SCEP_OK) {
        e->auth = SCEPD_AUTH_CHALLENGE;
        return SCEPD_STAGE_NEXT;
    }
    e->challenge_pattern = NULL;
    scepd_op_store_lost(e->op, rc);
    if (rc == SCEP_ESTATE)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "enrollment refused: this one-time challenge was already used",
                                   "one-time challenge already used");
    /* Unknown, expired or another alias's: the store's message says which. */
    return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, TEXT_WRONG_SECRET, "%s%s",
                               secret_used ? "wrong RA shared secret; " : "", scep_error_message());
}

enum scepd_stage scepd_enroll_authenticate(struct scepd_enrollment *e)
{
    const struct scep_config_alias_settings *settings = e->op->alias->settings;
    e->has_challenge = scepd_csr_challenge(e->challenge, sizeof(e->challenge), e->csr) == 0;
    if (!e->has_challenge)
        OPENSSL_cleanse(e->challenge, sizeof(e->challenge));
    e->signer_ca = issuing_ca(e->op, e->signer);

    if (e->renewal_req && e->signer_ca == NULL)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "a RenewalReq must be signed by a certificate this CA issued",
                                   "RenewalReq signed by a certificate of another CA");
    if (e->signer_ca != NULL && (e->renewal_req || !e->has_challenge)) {
        if (!settings->clientcertificaterenewal)
            return scepd_enroll_refuse(
                e, SCEP_FAIL_BAD_REQUEST, "client certificate renewal is not enabled on this alias",
                e->renewal_req ? "RenewalReq on an alias without renewal"
                               : "PKCSReq signed by our certificate, renewal is off");
        char reason[SCEPD_REASON_MAX];
        const char *unusable = signer_unusable(e, reason, sizeof(reason));
        if (unusable != NULL)
            return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, unusable, "%s", reason);
        return renewal(e);
    }
    if (e->signer_ca != NULL && settings->clientcertificaterenewal) {
        /* A PKCSReq signed by our certificate with a code: a renewal when the signer can. */
        char reason[SCEPD_REASON_MAX];
        if (signer_unusable(e, reason, sizeof(reason)) == NULL)
            return renewal(e);
        scep_store_cert_free(e->old);
        e->old = NULL;
    }
    e->signer_ca = NULL;
    enum scepd_stage stage = settings->operationmode == SCEP_ALIAS_MODE_RA
                                 ? ra_secret_or_challenge(e)
                                 : end_entity_code(e);
    /* Every refused code, secret or challenge counts against the client address. */
    if (stage == SCEPD_STAGE_DONE)
        count_failure(e);
    return stage;
}
