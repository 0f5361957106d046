/*
 * Abuse resistance of scepd (docs/security.md), tried as an attacker would, each
 * refusal next to a positive control: code guessing locks the end entity; nothing
 * of an unauthenticated request is stored and stored CSRs keep no secret; a
 * senderNonce replayed under another transactionID is refused; a CertPoll by
 * another key learns nothing; refusals reach the audit trail aggregated; an
 * approval no longer holds after the end entity was reset, nor a held renewal
 * after its certificate was revoked; and, last (it blocks the test address for a
 * minute), a client over its failed-authorisation budget is refused unchecked.
 */
#include "scepctl_run.h"
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <string.h>

static struct scepd_fixture fx;
static char ctl_out[8192], ctl_err[8192];

static const char config[] = "max_failed_codes = 3\n"
                             "failed_auth_limit = 30\n"
                             "scep.clientCertificateRenewal = true\n"
                             "scep.renewal.afterHalfLife = false\n"
                             "hold.approval = manual\n"
                             "hold.clientCertificateRenewal = true\n"
                             "hold.renewal.afterHalfLife = false\n"
                             "ra.operationmode = ra\n"
                             "ra.ra.authPwd = s3cret\n";

static void add_entity(scep_store *store, const char *username, const char *alias, const char *code)
{
    char dn[128];
    snprintf(dn, sizeof(dn), "CN=%s", username);
    scep_store_end_entity ee = {
        .username = username, .subject_dn = dn, .ca_name = "demo", .alias = alias};
    assert_int_equal(scep_store_ee_add(store, &ee, code), SCEP_OK);
}

static void prepare(struct scepd_fixture *f, scep_store *store)
{
    (void)f;
    add_entity(store, "guess", NULL, "right-code");
    add_entity(store, "quiet", NULL, "quiet-code");
    add_entity(store, "held1", "hold", "held-code");
    add_entity(store, "renewer", "hold", "renew-code");
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    scepd_fixture_start_prepared(&fx, NULL, 0, config, prepare);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    curl_global_cleanup();
    return 0;
}

static int scepctl(const char *first, ...)
{
    va_list args;
    va_start(args, first);
    int rc = test_scepctl_v(fx.config_path, ctl_out, sizeof(ctl_out), ctl_err, sizeof(ctl_err),
                            first, args);
    va_end(args);
    return rc;
}

static scep_client *client_for(const char *alias)
{
    return scepd_fixture_client(&fx, alias);
}

static scep_result *enroll(const char *alias, EVP_PKEY *key, const char *cn, const char *code)
{
    scep_client *client = client_for(alias);
    X509_REQ *csr = test_csr(key, cn, code);
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll %s: %s", cn, scep_error_message());
    X509_REQ_free(csr);
    scep_client_free(client);
    return result;
}

static void expect_refusal(scep_result *result, const char *text)
{
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    if (text != NULL && strstr(scep_result_fail_info_text(result), text) == NULL)
        fail_msg("failInfoText \"%s\" lacks \"%s\"", scep_result_fail_info_text(result), text);
    scep_result_free(result);
}

static int64_t count_rows(const char *sql_table)
{
    scep_store *store = scepd_fixture_store(&fx);
    int64_t n = 0;
    if (strcmp(sql_table, "requests") == 0) {
        scep_store_request *rows = NULL;
        size_t count = 0;
        assert_int_equal(scep_store_request_list(&rows, &count, store, 0, 0), SCEP_OK);
        n = (int64_t)count;
        scep_store_request_list_free(rows, count);
    } else {
        scep_store_audit_event *events = NULL;
        size_t count = 0;
        assert_int_equal(scep_store_audit_list(&events, &count, store, 0), SCEP_OK);
        n = (int64_t)count;
        scep_store_audit_list_free(events, count);
    }
    scep_store_close(store);
    return n;
}

/* Whether an audit event's detail holds `text`. */
static int audit_has(const char *text)
{
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    int found = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, store, 0), SCEP_OK);
    for (size_t i = 0; i < count && !found; i++)
        found = events[i].detail != NULL && strstr(events[i].detail, text) != NULL;
    scep_store_audit_list_free(events, count);
    scep_store_close(store);
    return found;
}

/*
 * The client gets one text for an unknown user and a wrong code; the server's log and
 * audit trail tell them apart. Runs first: refusals are aggregated per client, alias
 * and answer per minute, so each case uses an alias no refusal has used yet.
 */
static void unknown_user_and_wrong_code_are_told_apart_in_the_audit(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    expect_refusal(enroll("hold", key, "no-such-user", "x"), "unknown end entity or wrong");
    assert_true(audit_has("user no-such-user: unknown user"));
    assert_false(audit_has("user no-such-user: wrong code"));
    expect_refusal(enroll("scep", key, "quiet", "not-the-code"), "unknown end entity or wrong");
    assert_true(audit_has("user quiet: wrong code"));
    assert_false(audit_has("user quiet: unknown user"));
    /* quiet's failed-code count is back to 0 with its reset. */
    assert_int_equal(
        scepctl("ee", "reset", "--username", "quiet", "--password", "quiet-code", NULL), 0);
    EVP_PKEY_free(key);
}

/* Three wrong codes lock the end entity; the right one then fails too, until a reset. */
static void wrong_codes_lock_the_end_entity(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    for (int i = 0; i < 3; i++)
        expect_refusal(enroll("scep", key, "guess", "wrong"), "unknown end entity or wrong");
    expect_refusal(enroll("scep", key, "guess", "right-code"), "locked");
    assert_int_equal(scepctl("ee", "show", "--username", "guess", NULL), 0);
    assert_non_null(strstr(ctl_out, "locked"));
    assert_int_equal(scepctl("ee", "reset", "--username", "guess", "--password", "new-code", NULL),
                     0);
    scep_result *result = enroll("scep", key, "guess", "new-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    EVP_PKEY_free(key);
}

/* A refused request leaves no request row; an issued one keeps no challengePassword. */
static void unauthenticated_requests_are_not_stored(void **state)
{
    (void)state;
    int64_t before = count_rows("requests");
    EVP_PKEY *key = test_rsa_key(2048);
    expect_refusal(enroll("scep", key, "nobody-at-all", "x"), NULL);
    expect_refusal(enroll("ra", key, "ra-dev", "wrong-secret"), NULL);
    assert_int_equal(count_rows("requests"), before);
    /* Positive control: an authorised request is recorded, without its secret. */
    scep_result *result = enroll("scep", key, "quiet", "quiet-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    assert_int_equal(count_rows("requests"), before + 1);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_request *rows = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_request_list(&rows, &count, store, SCEP_REQ_ISSUED, 0), SCEP_OK);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = rows[i].csr_der;
        X509_REQ *stored = d2i_X509_REQ(NULL, &p, (long)rows[i].csr_der_len);
        assert_non_null(stored);
        assert_int_equal(X509_REQ_get_attr_by_NID(stored, NID_pkcs9_challengePassword, -1), -1);
        for (size_t k = 0; k + 10 <= rows[i].csr_der_len; k++)
            assert_int_not_equal(memcmp(rows[i].csr_der + k, "quiet-code", 10), 0);
        X509_REQ_free(stored);
    }
    scep_store_request_list_free(rows, count);
    scep_store_close(store);
    EVP_PKEY_free(key);
}

/* Refusals like each other from one client reach the audit trail once a minute. */
static void refusals_are_aggregated_in_the_audit_trail(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    expect_refusal(enroll("scep", key, "flood", "x"), NULL); /* the first one is written */
    int64_t before = count_rows("audit");
    for (int i = 0; i < 5; i++)
        expect_refusal(enroll("scep", key, "flood", "x"), NULL);
    assert_int_equal(count_rows("audit"), before);
    EVP_PKEY_free(key);
}

struct body {
    unsigned char *data;
    size_t len;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > 1024 * 1024)
        return 0;
    b->data = realloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return n;
}

/* POSTs a pkiMessage and returns the CertRep's status (parsed, decrypted with `key`). */
static scep_pki_status post(const char *alias, const unsigned char *der, size_t len,
                            const char *transaction_id, const unsigned char nonce[SCEP_NONCE_LEN],
                            X509 *signer, EVP_PKEY *key, scep_fail_info *out_fail)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe?operation=PKIOperation",
             fx.port, alias);
    struct body body = {0};
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, der);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_cleanup(curl);
    scep_message_options options = {0};
    scep_pkimessage *reply = NULL;
    if (scep_pkimessage_parse(&reply, body.data, body.len, NULL, NULL, &options) != SCEP_OK)
        fail_msg("reply: %s", scep_error_message());
    assert_int_equal(scep_pkimessage_check_reply(reply, transaction_id, nonce), SCEP_OK);
    scep_pki_status status = scep_pkimessage_status(reply);
    if (status == SCEP_STATUS_FAILURE)
        *out_fail = scep_pkimessage_fail_info(reply);
    else if (status == SCEP_STATUS_SUCCESS)
        assert_int_equal(scep_pkimessage_decrypt(reply, &signer, &key, 1, &options), SCEP_OK);
    scep_pkimessage_free(reply);
    free(body.data);
    return status;
}

/* A captured message's senderNonce, reused under another transactionID, is refused. */
static void replayed_nonce_is_refused(void **state)
{
    (void)state;
    unsigned char nonce[SCEP_NONCE_LEN];
    memset(nonce, 0x5a, sizeof(nonce));
    scep_fail_info fail = SCEP_FAIL_BAD_ALG;
    const char *ids[2] = {"replay-first", "replay-second"};
    scep_pki_status expected[2] = {SCEP_STATUS_SUCCESS, SCEP_STATUS_FAILURE};
    for (int i = 0; i < 2; i++) {
        EVP_PKEY *key = test_rsa_key(2048);
        X509_REQ *csr = test_csr(key, ids[i], "s3cret");
        X509 *signer = NULL;
        assert_int_equal(scep_self_signed_signer(&signer, key, csr, SCEP_DIGEST_SHA256, 1),
                         SCEP_OK);
        scep_request request = {.type = SCEP_MSG_PKCSREQ,
                                .transaction_id = ids[i],
                                .sender_nonce = nonce,
                                .signer_cert = signer,
                                .signer_key = key,
                                .recipient_cert = fx.ca_cert,
                                .digest = SCEP_DIGEST_SHA256,
                                .cipher = SCEP_CIPHER_AES128,
                                .csr = csr};
        unsigned char *der = NULL;
        size_t len = 0;
        scep_message_options options = {0};
        assert_int_equal(scep_request_build(&der, &len, NULL, NULL, &request, &options), SCEP_OK);
        assert_int_equal(post("ra", der, len, ids[i], nonce, signer, key, &fail), expected[i]);
        OPENSSL_free(der);
        X509_free(signer);
        X509_REQ_free(csr);
        EVP_PKEY_free(key);
    }
    assert_int_equal(fail, SCEP_FAIL_BAD_MESSAGE_CHECK);
}

/* The id of the newest PENDING request held on `alias`. */
static int64_t held_request(const char *alias)
{
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_request *rows = NULL;
    size_t count = 0;
    int64_t id = 0;
    assert_int_equal(scep_store_request_list(&rows, &count, store, SCEP_REQ_PENDING, 0), SCEP_OK);
    for (size_t i = 0; i < count; i++)
        if (strcmp(rows[i].alias, alias) == 0)
            id = rows[i].id;
    scep_store_request_list_free(rows, count);
    scep_store_close(store);
    assert_true(id > 0);
    return id;
}

/* A reset after the request was held ends it: the operator would approve a dead code. */
static void approval_refused_after_reset(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll("hold", key, "held1", "held-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    scep_result_free(result);
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)held_request("hold"));
    assert_int_equal(scepctl("ee", "reset", "--username", "held1", "--password", "fresh", NULL), 0);
    assert_int_equal(scepctl("request", "approve", id, NULL), 1);
    assert_non_null(strstr(ctl_err, "reset or changed"));
    assert_int_equal(scepctl("request", "reject", id, "--reason", "stale", NULL), 0);
    EVP_PKEY_free(key);
}

/* A held renewal whose certificate is revoked meanwhile is not issued; CertPoll by another
 * key learns nothing about it. */
static void held_renewal_of_a_revoked_certificate_is_not_issued(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    /* Approve the first enrollment so that renewer holds a certificate. */
    scep_result *result = enroll("hold", key, "renewer", "renew-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    scep_result_free(result);
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)held_request("hold"));
    assert_int_equal(scepctl("request", "approve", id, NULL), 0);
    scep_client *client = client_for("hold");
    X509_REQ *csr = test_csr(key, "renewer", "renew-code");
    scep_enroll_request request = {.csr = csr, .key = key};
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    X509_REQ_free(csr);

    /* The renewal is held... */
    EVP_PKEY *new_key = test_rsa_key(2048);
    csr = test_csr(new_key, "renewer", NULL);
    scep_enroll_request renewal = {
        .csr = csr, .key = new_key, .existing_cert = cert, .existing_key = key};
    assert_int_equal(scep_client_enroll(client, &result, &renewal), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    scep_result_free(result);
    /* ...a CertPoll under its transactionID signed by a stranger's key gets nothing... */
    EVP_PKEY *stranger = test_rsa_key(2048);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_request *held = NULL;
    assert_int_equal(scep_store_request_get(&held, store, held_request("hold")), SCEP_OK);
    X509_REQ *stranger_csr = test_csr(stranger, "renewer", NULL);
    X509 *stranger_cert = NULL;
    assert_int_equal(
        scep_self_signed_signer(&stranger_cert, stranger, stranger_csr, SCEP_DIGEST_SHA256, 1),
        SCEP_OK);
    unsigned char nonce[SCEP_NONCE_LEN];
    memset(nonce, 0x17, sizeof(nonce));
    scep_request poll = {.type = SCEP_MSG_CERTPOLL,
                         .transaction_id = held->transaction_id,
                         .sender_nonce = nonce,
                         .signer_cert = stranger_cert,
                         .signer_key = stranger,
                         .recipient_cert = fx.ca_cert,
                         .digest = SCEP_DIGEST_SHA256,
                         .cipher = SCEP_CIPHER_AES128,
                         .issuer = X509_get_subject_name(fx.ca_cert),
                         .subject = X509_REQ_get_subject_name(stranger_csr)};
    unsigned char *der = NULL;
    size_t len = 0;
    scep_message_options options = {0};
    assert_int_equal(scep_request_build(&der, &len, NULL, NULL, &poll, &options), SCEP_OK);
    scep_fail_info fail = SCEP_FAIL_BAD_ALG;
    assert_int_equal(
        post("hold", der, len, held->transaction_id, nonce, stranger_cert, stranger, &fail),
        SCEP_STATUS_FAILURE);
    assert_int_equal(fail, SCEP_FAIL_BAD_CERT_ID);
    OPENSSL_free(der);
    X509_free(stranger_cert);
    X509_REQ_free(stranger_csr);
    scep_store_request_free(held);
    scep_store_close(store);
    /* ...and after the old certificate is revoked, approving it issues nothing. */
    char serial[SCEP_SERIAL_HEX_MAX];
    assert_int_equal(scep_serial_to_hex(serial, X509_get0_serialNumber(cert)), SCEP_OK);
    assert_int_equal(scepctl("cert", "revoke", "--serial", serial, "--reason", "keyCompromise",
                             "--ca", "demo", NULL),
                     0);
    snprintf(id, sizeof(id), "%lld", (long long)held_request("hold"));
    assert_int_not_equal(scepctl("request", "approve", id, NULL), 0);
    /* The revocation also marked the end entity REVOKED (a change since the hold); the
     * store's own check inside the issuance is test_store's renewal_checks_... */
    assert_true(strstr(ctl_err, "is no longer valid") != NULL ||
                strstr(ctl_err, "reset or changed") != NULL);
    X509_REQ_free(csr);
    X509_free(cert);
    EVP_PKEY_free(stranger);
    EVP_PKEY_free(new_key);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

/* Last: over failed_auth_limit, the address is refused even with the right secret. */
static void failed_authorisations_block_the_address(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll("ra", key, "ra-before", "s3cret");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS); /* positive control */
    scep_result_free(result);
    /* Earlier tests spent part of this minute's budget: guess until it is used up. */
    int blocked = 0;
    for (int i = 0; i < 31 && !blocked; i++) {
        result = enroll("ra", key, "ra-guess", "guess");
        assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
        blocked = strstr(scep_result_fail_info_text(result), "too many failed attempts") != NULL;
        scep_result_free(result);
    }
    assert_true(blocked);
    expect_refusal(enroll("ra", key, "ra-after", "s3cret"), "too many failed attempts");
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_user_and_wrong_code_are_told_apart_in_the_audit),
        cmocka_unit_test(wrong_codes_lock_the_end_entity),
        cmocka_unit_test(unauthenticated_requests_are_not_stored),
        cmocka_unit_test(refusals_are_aggregated_in_the_audit_trail),
        cmocka_unit_test(replayed_nonce_is_refused),
        cmocka_unit_test(approval_refused_after_reset),
        cmocka_unit_test(held_renewal_of_a_revoked_certificate_is_not_issued),
        cmocka_unit_test(failed_authorisations_block_the_address),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
