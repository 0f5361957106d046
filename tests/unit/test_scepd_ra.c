/*
 * scepd in RA mode, driven over HTTP by libscep's client: the RA shared
 * secret (right, wrong, unset), each username generation scheme with prefix
 * and postfix as the store records it, the policy for a username that already
 * holds a valid certificate, and one-time challenges (once only, expired,
 * another alias's, subject pattern, and a race of six requests for one).
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scepd/enroll/ra_username.h"
#include "scep/client.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static struct scepd_fixture fx;

static const char ra_config[] = "ra.operationmode = ra\n"
                                "ra.ra.authPwd = s3cret\n"
                                "open.operationmode = ra\n"
                                "cn.operationmode = ra\n"
                                "cn.ra.authPwd = pw\n"
                                "cn.ra.namegenerationscheme = DN\n"
                                "cn.ra.namegenerationparameters = CN\n"
                                "ocn.operationmode = ra\n"
                                "ocn.ra.authPwd = pw\n"
                                "ocn.ra.namegenerationparameters = O;CN\n"
                                "cno.operationmode = ra\n"
                                "cno.ra.authPwd = pw\n"
                                "cno.ra.namegenerationparameters = CN;O\n"
                                "rnd.operationmode = ra\n"
                                "rnd.ra.authPwd = pw\n"
                                "rnd.ra.namegenerationscheme = RANDOM\n"
                                "fixed.operationmode = ra\n"
                                "fixed.ra.authPwd = pw\n"
                                "fixed.ra.namegenerationscheme = FIXED\n"
                                "fixed.ra.namegenerationparameters = shared-device\n"
                                "uname.operationmode = ra\n"
                                "uname.ra.authPwd = pw\n"
                                "uname.ra.namegenerationscheme = USERNAME\n"
                                "uname.ra.namegenerationprefix = pre-\n"
                                "uname.ra.namegenerationpostfix = -post\n"
                                "refuse.operationmode = ra\n"
                                "refuse.ra.authPwd = pw\n"
                                "refuse.ra.namegenerationscheme = FIXED\n"
                                "refuse.ra.namegenerationparameters = only-one\n"
                                "refuse.ra.onexisting = refuse\n"
                                "otp.operationmode = ra\n"
                                "otp.ra.authPwd = ignored-when-required\n"
                                "otp.ra.onetimechallenges = require\n"
                                "nootp.operationmode = ra\n"
                                "nootp.ra.authPwd = pw\n"
                                "nootp.ra.onetimechallenges = off\n";

static int setup(void **state)
{
    (void)state;
    scepd_fixture_start(&fx, NULL, 0, ra_config);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    return 0;
}

static scep_client *client_for(const char *alias)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {.url = url, .ca_cert = fx.ca_cert, .proxy = ""};
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return client;
}

/* A CSR with subject `dn` (RFC 4514) and, when non-NULL, a challengePassword. */
static X509_REQ *csr_for(EVP_PKEY *key, const char *dn, const char *challenge)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    assert_non_null(req);
    assert_int_equal(scep_dn_parse(&name, dn), SCEP_OK);
    assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
    X509_NAME_free(name);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    if (challenge != NULL)
        assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                                   (const unsigned char *)challenge, -1),
                         1);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    return req;
}

static scep_result *enroll_key(const char *alias, EVP_PKEY *key, const char *dn,
                               const char *challenge)
{
    scep_client *client = client_for(alias);
    X509_REQ *csr = csr_for(key, dn, challenge);
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll %s on %s: %s", dn, alias, scep_error_message());
    X509_REQ_free(csr);
    scep_client_free(client);
    return result;
}

/* Enrolls with a fresh EC key; returns the status. */
static scep_pki_status enroll(const char *alias, const char *dn, const char *challenge)
{
    EVP_PKEY *key = test_ec_key("P-256");
    scep_result *result = enroll_key(alias, key, dn, challenge);
    scep_pki_status status = scep_result_status(result);
    if (status == SCEP_STATUS_FAILURE)
        assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    scep_result_free(result);
    EVP_PKEY_free(key);
    return status;
}

/* Enrolls, expects SUCCESS, and returns the username the store recorded for the certificate. */
static char *enrolled_username(const char *alias, const char *dn, const char *challenge)
{
    EVP_PKEY *key = test_ec_key("P-256");
    scep_result *result = enroll_key(alias, key, dn, challenge);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = scep_result_cert(result);
    /* The issued subject is the CSR's. */
    char *subject = NULL;
    assert_int_equal(scep_dn_format(&subject, X509_get_subject_name(cert)), SCEP_OK);
    assert_string_equal(subject, dn);
    OPENSSL_free(subject);
    char serial[SCEP_SERIAL_HEX_MAX];
    assert_int_equal(scep_serial_to_hex(serial, X509_get0_serialNumber(cert)), SCEP_OK);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_cert *row = NULL;
    assert_int_equal(scep_store_cert_get(&row, store, "demo", serial), SCEP_OK);
    assert_non_null(row->username);
    char *username = strdup(row->username);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, username), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    assert_string_equal(ee->subject_dn, dn);
    assert_string_equal(ee->ca_name, "demo");
    scep_store_ee_free(ee);
    scep_store_cert_free(row);
    scep_store_close(store);
    scep_result_free(result);
    EVP_PKEY_free(key);
    return username;
}

static void assert_failure_text(const char *alias, const char *dn, const char *challenge,
                                const char *text)
{
    EVP_PKEY *key = test_ec_key("P-256");
    scep_result *result = enroll_key(alias, key, dn, challenge);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    assert_non_null(strstr(scep_result_fail_info_text(result), text));
    scep_result_free(result);
    EVP_PKEY_free(key);
}

static void ra_secret_right_wrong_and_retransmission(void **state)
{
    (void)state;
    assert_failure_text("ra", "CN=dev-a", "not-the-secret", "wrong challenge password");
    assert_failure_text("ra", "CN=dev-a", "s3cre", "wrong challenge password");
    assert_failure_text("ra", "CN=dev-a", NULL, "no challengePassword");
    /* The refusals created no end entity. */
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "dev-a"), SCEP_ENOTFOUND);

    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_key("ra", key, "CN=dev-a,O=Example", "s3cret");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *first = X509_dup(scep_result_cert(result));
    EVP_PKEY *ca_public = X509_get_pubkey(fx.ca_cert);
    assert_int_equal(X509_verify(first, ca_public), 1);
    EVP_PKEY_free(ca_public);
    scep_result_free(result);
    assert_int_equal(scep_store_ee_get(&ee, store, "dev-a"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    assert_string_equal(ee->profile, "ENDUSER");
    scep_store_ee_free(ee);

    /* RFC 8894 §3.3.1: the retransmission gets the stored certificate, not a second one. */
    result = enroll_key("ra", key, "CN=dev-a,O=Example", "s3cret");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_result_cert(result), first), 0);
    scep_result_free(result);
    scep_store_cert *certs = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_cert_list(&certs, &count, store, NULL), SCEP_OK);
    size_t for_dev_a = 0;
    for (size_t i = 0; i < count; i++)
        if (certs[i].username != NULL && strcmp(certs[i].username, "dev-a") == 0)
            for_dev_a++;
    assert_int_equal(for_dev_a, 1);
    scep_store_cert_list_free(certs, count);
    scep_store_close(store);
    X509_free(first);
    EVP_PKEY_free(key);
}

static void ra_without_secret_needs_no_password(void **state)
{
    (void)state;
    assert_int_equal(enroll("open", "CN=open-1", NULL), SCEP_STATUS_SUCCESS);
    assert_int_equal(enroll("open", "CN=open-2", "anything"), SCEP_STATUS_SUCCESS);
}

static void username_generation_schemes(void **state)
{
    (void)state;
    char *name = enrolled_username("cn", "CN=alpha,O=Org", "pw");
    assert_string_equal(name, "alpha");
    free(name);
    /* DN with "O;CN": the first listed part the subject has. */
    name = enrolled_username("ocn", "CN=beta,O=BetaOrg", "pw");
    assert_string_equal(name, "BetaOrg");
    free(name);
    name = enrolled_username("ocn", "CN=gamma", "pw");
    assert_string_equal(name, "gamma");
    free(name);
    /* EJBCA's UsernameGenerator: "CN;O" is the CN, or the O when there is no CN. */
    name = enrolled_username("cno", "CN=eps,O=EpsOrg", "pw");
    assert_string_equal(name, "eps");
    free(name);
    name = enrolled_username("cno", "O=OnlyOrg", "pw");
    assert_string_equal(name, "OnlyOrg");
    free(name);
    assert_failure_text("cn", "O=NoCommonName", "pw", "gives no end entity name");

    char *r1 = enrolled_username("rnd", "CN=same", "pw");
    char *r2 = enrolled_username("rnd", "CN=same", "pw");
    assert_int_equal(strlen(r1), 12);
    for (size_t i = 0; i < strlen(r1); i++)
        assert_true(isalnum((unsigned char)r1[i]));
    assert_string_not_equal(r1, r2);
    free(r1);
    free(r2);

    name = enrolled_username("fixed", "CN=one,O=Org", "pw");
    assert_string_equal(name, "shared-device");
    free(name);
    /* Default policy (reissue, as EJBCA): the same username enrolls again. */
    name = enrolled_username("fixed", "CN=two,O=Org", "pw");
    assert_string_equal(name, "shared-device");
    free(name);

    name = enrolled_username("uname", "CN=delta,OU=Lab", "pw");
    assert_string_equal(name, "pre-delta-post");
    free(name);
}

static void existing_valid_certificate_policy_refuse(void **state)
{
    (void)state;
    char *name = enrolled_username("refuse", "CN=first", "pw");
    assert_string_equal(name, "only-one");
    free(name);
    assert_failure_text("refuse", "CN=second", "pw", "already holds a valid certificate");
    /* Revoked, the username is free again. */
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_cert *certs = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_cert_list(&certs, &count, store, NULL), SCEP_OK);
    for (size_t i = 0; i < count; i++)
        if (certs[i].username != NULL && strcmp(certs[i].username, "only-one") == 0)
            assert_int_equal(scep_store_cert_revoke(store, "demo", certs[i].serial, 0, 4), SCEP_OK);
    scep_store_cert_list_free(certs, count);
    scep_store_close(store);
    assert_int_equal(enroll("refuse", "CN=third", "pw"), SCEP_STATUS_SUCCESS);
}

static void add_challenge(const char *alias, const char *challenge, int64_t ttl,
                          const char *pattern)
{
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(
        scep_store_challenge_add(store, alias, challenge, (int64_t)time(NULL) + ttl, pattern),
        SCEP_OK);
    scep_store_close(store);
}

static void one_time_challenges(void **state)
{
    (void)state;
    add_challenge("otp", "0123456789abcdef0123456789abcdef", 3600, NULL);
    assert_int_equal(enroll("otp", "CN=otp-1", "0123456789abcdef0123456789abcdef"),
                     SCEP_STATUS_SUCCESS);
    assert_failure_text("otp", "CN=otp-2", "0123456789abcdef0123456789abcdef", "already used");

    add_challenge("otp", "expired-challenge-000000000000000", -10, NULL);
    assert_failure_text("otp", "CN=otp-3", "expired-challenge-000000000000000",
                        "wrong challenge password");
    add_challenge("ra", "other-alias-challenge-00000000000", 3600, NULL);
    assert_failure_text("otp", "CN=otp-4", "other-alias-challenge-00000000000",
                        "wrong challenge password");
    assert_failure_text("otp", "CN=otp-5", "never-issued", "wrong challenge password");
    /* require: the alias's ra.authPwd is not accepted. */
    assert_failure_text("otp", "CN=otp-6", "ignored-when-required", "wrong challenge password");
    assert_failure_text("otp", "CN=otp-7", NULL, "no challengePassword");

    add_challenge("otp", "pattern-challenge-111111111111111", 3600, "CN=kiosk-*");
    assert_failure_text("otp", "CN=laptop-1", "pattern-challenge-111111111111111",
                        "does not match");
    add_challenge("otp", "pattern-challenge-222222222222222", 3600, "CN=kiosk-*");
    assert_int_equal(enroll("otp", "CN=kiosk-7", "pattern-challenge-222222222222222"),
                     SCEP_STATUS_SUCCESS);

    /* accept (default): the other alias's challenge works there, besides ra.authPwd. */
    assert_int_equal(enroll("ra", "CN=ra-otp", "other-alias-challenge-00000000000"),
                     SCEP_STATUS_SUCCESS);
    /* off: challenges are not looked at. */
    add_challenge("nootp", "nootp-challenge-33333333333333333", 3600, NULL);
    assert_failure_text("nootp", "CN=n-1", "nootp-challenge-33333333333333333",
                        "wrong challenge password");
    assert_int_equal(enroll("nootp", "CN=n-2", "pw"), SCEP_STATUS_SUCCESS);
}

struct racer {
    EVP_PKEY *key;
    char dn[32];
    scep_pki_status status;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->status = (scep_pki_status)-1;
    scep_client *client = client_for("otp");
    X509_REQ *csr = csr_for(r->key, r->dn, "race-challenge-44444444444444444");
    scep_enroll_request request = {.csr = csr, .key = r->key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) == SCEP_OK)
        r->status = scep_result_status(result);
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
    return NULL;
}

static void one_challenge_under_concurrency_gives_one_certificate(void **state)
{
    (void)state;
    enum { N = 6 };
    add_challenge("otp", "race-challenge-44444444444444444", 3600, NULL);
    struct racer racers[N];
    pthread_t threads[N];
    for (int i = 0; i < N; i++) {
        racers[i].key = test_ec_key("P-256");
        snprintf(racers[i].dn, sizeof(racers[i].dn), "CN=racer-%d", i);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    int successes = 0, failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        successes += racers[i].status == SCEP_STATUS_SUCCESS;
        failures += racers[i].status == SCEP_STATUS_FAILURE;
        EVP_PKEY_free(racers[i].key);
    }
    assert_int_equal(successes, 1);
    assert_int_equal(failures, N - 1);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_cert *certs = NULL;
    size_t count = 0, racer_certs = 0;
    assert_int_equal(scep_store_cert_list(&certs, &count, store, NULL), SCEP_OK);
    for (size_t i = 0; i < count; i++)
        racer_certs += strncmp(certs[i].subject, "CN=racer-", 9) == 0;
    assert_int_equal(racer_certs, 1);
    scep_store_cert_list_free(certs, count);
    scep_store_close(store);
}

/* The generator alone: ${RANDOM} in affixes, limits, control characters. */
static void username_generator_edges(void **state)
{
    (void)state;
    static const char text[] = "a.operationmode = ra\n"
                               "a.ra.namegenerationscheme = USERNAME\n"
                               "a.ra.namegenerationprefix = x${RANDOM}-\n";
    scep_config *config = NULL;
    assert_int_equal(scep_config_parse(&config, "t", text, strlen(text)), SCEP_OK);
    const struct scep_config_alias_settings *settings = scep_config_alias(config, "a");
    X509_NAME *subject = NULL;
    assert_int_equal(scep_dn_parse(&subject, "CN=dev"), SCEP_OK);
    char out[SCEPD_RA_USERNAME_MAX + 1];
    assert_int_equal(scepd_ra_username(out, sizeof(out), subject, settings), SCEP_OK);
    assert_int_equal(strlen(out), 1 + 12 + 1 + 3);
    assert_int_equal(out[0], 'x');
    assert_string_equal(out + 13, "-dev");
    char tiny[8];
    assert_int_equal(scepd_ra_username(tiny, sizeof(tiny), subject, settings), SCEP_ETOOBIG);
    X509_NAME_free(subject);
    subject = X509_NAME_new();
    assert_int_equal(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)"bad\nname", -1, -1, 0),
                     1);
    assert_int_equal(scepd_ra_username(out, sizeof(out), subject, settings), SCEP_EINVAL);
    X509_NAME_free(subject);
    scep_config_free(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ra_secret_right_wrong_and_retransmission),
        cmocka_unit_test(ra_without_secret_needs_no_password),
        cmocka_unit_test(username_generation_schemes),
        cmocka_unit_test(existing_valid_certificate_policy_refuse),
        cmocka_unit_test(one_time_challenges),
        cmocka_unit_test(one_challenge_under_concurrency_gives_one_certificate),
        cmocka_unit_test(username_generator_edges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
