/*
 * scepd client certificate renewal (RFC 8894 §2.5, interop.md §5 and §6), driven by
 * libscep's client with existing_cert/existing_key: RenewalReq and PKCSReq
 * signed by the old certificate, the half-life rule, old key reuse, revoked
 * and foreign signers, renewal switched off, and revoke-old (superseded).
 *
 * Old certificates are issued through the CA API with a backdated `now` and
 * put in the store directly, so no test sleeps.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#define DAY 86400

static struct scepd_fixture fx;
static scep_ca *ca;

/* The end entities that renew through an alias other than the default one (scep). */
static const struct {
    const char *username, *alias, *code;
} bound[] = {
    {"r-rr", "renew", "x"},
    {"r-pk", "renew", "x"},
    {"r-early", "renew", "x"},
    {"r-revoked", "renew", "x"},
    {"r-foreign", "renew", "foreign-code"},
    {"r-key", "renew", "x"},
    {"r-oldkey", "oldkey", "x"},
    {"r-revold", "revoke", "x"},
    {"r-subject", "renew", "x"},
    {"r-san", "renew", "x"},
};

static void prepare(struct scepd_fixture *f, scep_store *store)
{
    (void)f;
    for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
        char dn[160];
        snprintf(dn, sizeof(dn), "CN=%s", bound[i].username);
        scep_store_end_entity ee = {.username = bound[i].username,
                                    .subject_dn = dn,
                                    .ca_name = "demo",
                                    .alias = bound[i].alias};
        assert_int_equal(scep_store_ee_add(store, &ee, bound[i].code), SCEP_OK);
    }
}

static int setup(void **state)
{
    (void)state;
    static const char *const users[] = {"r-off:x", "r-off2:off-code"};
    scepd_fixture_start_prepared(&fx, users, sizeof(users) / sizeof(users[0]),
                                 "renew.clientCertificateRenewal = true\n"
                                 "oldkey.clientCertificateRenewal = true\n"
                                 "oldkey.allowClientCertificateRenewaWithOldKey = true\n"
                                 "revoke.clientCertificateRenewal = true\n"
                                 "revoke.renewal.revokeOld = true\n",
                                 prepare);
    char cert_path[600], key_path[600];
    snprintf(cert_path, sizeof(cert_path), "%s/ca.pem", fx.dir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", fx.dir);
    assert_int_equal(scep_ca_import(&ca, NULL, cert_path, key_path, NULL), SCEP_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scep_ca_free(ca);
    scepd_fixture_stop(&fx);
    return 0;
}

static scep_client *client_for(const char *alias, scep_renewal_mode mode)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {.url = url, .ca_cert = fx.ca_cert, .renewal = mode, .proxy = ""};
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return client;
}

/* A certificate for `username` issued `days_ago` days ago by `issuer`, stored when ours. */
static X509 *old_cert(const scep_ca *issuer, const char *username, EVP_PKEY *key, int days_ago)
{
    scep_profile profile;
    scep_profile_init(&profile);
    profile.validity_days = 30;
    X509_REQ *csr = test_csr(key, username, NULL);
    scep_issue_request request = {.csr = csr, .now = time(NULL) - (time_t)days_ago * DAY};
    X509 *cert = NULL;
    assert_int_equal(scep_ca_issue(&cert, issuer, &profile, &request), SCEP_OK);
    X509_REQ_free(csr);
    /* The CA stops backdating at its own (recent) notBefore: set the dates and re-sign. */
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &request.now));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(cert), 30, 0, &request.now));
    assert_true(X509_sign(cert, scep_ca_key(issuer), EVP_sha256()) > 0);
    if (issuer != ca)
        return cert;

    char serial[SCEP_SERIAL_HEX_MAX];
    char *subject = NULL, *issuer_dn = NULL;
    unsigned char *der = NULL;
    int der_len = i2d_X509(cert, &der);
    assert_true(der_len > 0);
    assert_int_equal(scep_serial_to_hex(serial, X509_get0_serialNumber(cert)), SCEP_OK);
    assert_int_equal(scep_dn_format(&subject, X509_get_subject_name(cert)), SCEP_OK);
    assert_int_equal(scep_dn_format(&issuer_dn, X509_get_issuer_name(cert)), SCEP_OK);
    scep_store_cert row = {
        .ca_name = "demo",
        .serial = serial,
        .subject = subject,
        .issuer = issuer_dn,
        .not_before = (int64_t)request.now,
        .not_after = (int64_t)request.now + 30 * DAY,
        .der = der,
        .der_len = (size_t)der_len,
        .revocation_reason = SCEP_STORE_NO_REASON,
        .username = username,
    };
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(scep_store_cert_add(store, &row), SCEP_OK);
    assert_int_equal(scep_store_ee_set_status(store, username, SCEP_EE_GENERATED), SCEP_OK);
    scep_store_close(store);
    OPENSSL_free(subject);
    OPENSSL_free(issuer_dn);
    OPENSSL_free(der);
    return cert;
}

static scep_result *renew(const char *alias, scep_renewal_mode mode, X509 *existing,
                          EVP_PKEY *existing_key, EVP_PKEY *new_key, const char *cn,
                          const char *challenge)
{
    scep_client *client = client_for(alias, mode);
    X509_REQ *csr = test_csr(new_key, cn, challenge);
    scep_enroll_request request = {
        .csr = csr, .key = new_key, .existing_cert = existing, .existing_key = existing_key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("renew %s on %s: %s", cn, alias, scep_error_message());
    X509_REQ_free(csr);
    scep_client_free(client);
    return result;
}

static void assert_failure(scep_result *result, const char *text)
{
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    const char *got = scep_result_fail_info_text(result);
    assert_non_null(got);
    if (strstr(got, text) == NULL)
        fail_msg("failInfoText \"%s\" lacks \"%s\"", got, text);
}

static scep_store_cert *stored(X509 *cert)
{
    char serial[SCEP_SERIAL_HEX_MAX];
    assert_int_equal(scep_serial_to_hex(serial, X509_get0_serialNumber(cert)), SCEP_OK);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_cert *row = NULL;
    assert_int_equal(scep_store_cert_get(&row, store, "demo", serial), SCEP_OK);
    scep_store_close(store);
    return row;
}

static void caps_advertise_renewal_only_where_on(void **state)
{
    (void)state;
    scep_caps caps = 0;
    scep_client *client = client_for("renew", SCEP_RENEWAL_AUTO);
    assert_int_equal(scep_client_get_caps(client, &caps, NULL), SCEP_OK);
    assert_true(caps & SCEP_CAP_RENEWAL);
    scep_client_free(client);
    client = client_for("scep", SCEP_RENEWAL_AUTO);
    assert_int_equal(scep_client_get_caps(client, &caps, NULL), SCEP_OK);
    assert_false(caps & SCEP_CAP_RENEWAL);
    scep_client_free(client);
}

static void check_renewed(scep_result *result, X509 *old, EVP_PKEY *new_key, const char *username)
{
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = scep_result_cert(result);
    assert_non_null(cert);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(fx.ca_cert)), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), new_key), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_subject_name(old)), 0);
    assert_int_not_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(cert), X509_get0_serialNumber(old)), 0);
    scep_store_cert *row = stored(cert);
    assert_string_equal(row->username, username);
    assert_int_equal(row->status, SCEP_CERT_VALID);
    scep_store_cert_free(row);
    /* The end entity stays GENERATED: renewal needs no fresh enrollment code. */
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, username), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    scep_store_ee_free(ee);
    scep_store_close(store);
}

static void renewal_req_and_signed_pkcsreq_succeed_after_half_life(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-rr", old_key, 20);
    scep_result *result =
        renew("renew", SCEP_RENEWAL_RENEWALREQ, old, old_key, new_key, "r-rr", NULL);
    check_renewed(result, old, new_key, "r-rr");
    X509 *first = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    /* The old certificate stays valid (revokeOld is off on this alias). */
    scep_store_cert *row = stored(old);
    assert_int_equal(row->status, SCEP_CERT_VALID);
    scep_store_cert_free(row);
    /* Same transactionID and key: the stored answer, not a second certificate. */
    result = renew("renew", SCEP_RENEWAL_RENEWALREQ, old, old_key, new_key, "r-rr", NULL);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_result_cert(result), first), 0);
    scep_result_free(result);
    X509_free(first);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);

    /* PKCSReq signed by the old certificate (sscep, certmonger, Cisco, macOS). */
    old_key = test_ec_key("P-256");
    new_key = test_ec_key("P-256");
    old = old_cert(ca, "r-pk", old_key, 16);
    result = renew("renew", SCEP_RENEWAL_PKCSREQ, old, old_key, new_key, "r-pk", NULL);
    check_renewed(result, old, new_key, "r-pk");
    scep_result_free(result);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

static void renewal_before_half_life_names_the_date(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-early", old_key, 1);
    struct tm nb, na;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(old), &nb), 1);
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(old), &na), 1);
    time_t half = timegm(&nb) + (timegm(&na) - timegm(&nb)) / 2;
    struct tm half_tm;
    char expected[64];
    assert_non_null(gmtime_r(&half, &half_tm));
    strftime(expected, sizeof(expected), "renewed from %Y-%m-%dT%H:%M:%SZ", &half_tm);
    for (int mode = SCEP_RENEWAL_RENEWALREQ; mode <= SCEP_RENEWAL_PKCSREQ; mode++) {
        scep_result *result =
            renew("renew", (scep_renewal_mode)mode, old, old_key, new_key, "r-early", NULL);
        assert_failure(result, expected);
        scep_result_free(result);
    }
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

static void revoked_signer_is_refused(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-revoked", old_key, 20);
    scep_store_cert *row = stored(old);
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(scep_store_cert_revoke(store, "demo", row->serial, 0, 1), SCEP_OK);
    scep_store_close(store);
    scep_store_cert_free(row);
    scep_result *result =
        renew("renew", SCEP_RENEWAL_RENEWALREQ, old, old_key, new_key, "r-revoked", NULL);
    assert_failure(result, "revoked");
    scep_result_free(result);
    result = renew("renew", SCEP_RENEWAL_PKCSREQ, old, old_key, new_key, "r-revoked", NULL);
    assert_failure(result, "revoked");
    scep_result_free(result);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

static void foreign_signer_is_an_enrollment(void **state)
{
    (void)state;
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = "CN=scepd test CA,O=scepd"; /* same name as ours, other key */
    options.rsa_bits = 2048;
    options.validity_days = 30;
    scep_ca *other = NULL;
    assert_int_equal(scep_ca_create(&other, &options), SCEP_OK);
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *foreign = old_cert(other, "r-foreign", old_key, 20);

    /* A PKCSReq: the enrollment path, which wants the end entity's code. */
    scep_result *result =
        renew("renew", SCEP_RENEWAL_PKCSREQ, foreign, old_key, new_key, "r-foreign", NULL);
    assert_failure(result, "no challengePassword");
    scep_result_free(result);
    result = renew("renew", SCEP_RENEWAL_PKCSREQ, foreign, old_key, new_key, "r-foreign", "wrong");
    assert_failure(result, "unknown end entity or wrong challenge password");
    scep_result_free(result);
    /* A RenewalReq from another CA's certificate is never a renewal. */
    result = renew("renew", SCEP_RENEWAL_RENEWALREQ, foreign, old_key, new_key, "r-foreign", NULL);
    assert_failure(result, "signed by a certificate this CA issued");
    scep_result_free(result);
    /* With the right code it enrolls, spending the code. */
    result = renew("renew", SCEP_RENEWAL_PKCSREQ, foreign, old_key, new_key, "r-foreign",
                   "foreign-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "r-foreign"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    scep_store_ee_free(ee);
    scep_store_close(store);
    X509_free(foreign);
    scep_ca_free(other);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

static void old_key_reuse_follows_the_setting(void **state)
{
    (void)state;
    /* An end entity renews through its own alias only: one per setting. */
    EVP_PKEY *old_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-key", old_key, 20);
    scep_result *result =
        renew("renew", SCEP_RENEWAL_RENEWALREQ, old, old_key, old_key, "r-key", NULL);
    assert_failure(result, "reuses the old certificate's key");
    scep_result_free(result);
    /* Through another alias that would allow the old key, r-key's renewal is refused. */
    result = renew("oldkey", SCEP_RENEWAL_RENEWALREQ, old, old_key, old_key, "r-key", NULL);
    assert_failure(result, "renewal refused: the end entity does not enroll through this alias");
    scep_result_free(result);
    X509_free(old);
    old = old_cert(ca, "r-oldkey", old_key, 20);
    result = renew("oldkey", SCEP_RENEWAL_RENEWALREQ, old, old_key, old_key, "r-oldkey", NULL);
    check_renewed(result, old, old_key, "r-oldkey");
    scep_result_free(result);
    X509_free(old);
    EVP_PKEY_free(old_key);
}

static void renewal_off_refuses_unless_enrolling_with_a_code(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-off", old_key, 20);
    scep_result *result =
        renew("scep", SCEP_RENEWAL_RENEWALREQ, old, old_key, new_key, "r-off", NULL);
    assert_failure(result, "client certificate renewal is not enabled on this alias");
    scep_result_free(result);
    result = renew("scep", SCEP_RENEWAL_PKCSREQ, old, old_key, new_key, "r-off", NULL);
    assert_failure(result, "client certificate renewal is not enabled on this alias");
    scep_result_free(result);
    X509_free(old);

    /* A PKCSReq signed by our certificate but carrying a valid code is an enrollment. */
    old = old_cert(ca, "r-off2", old_key, 20);
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(scep_store_ee_reset(store, "r-off2", "off-code"), SCEP_OK);
    scep_store_close(store);
    result = renew("scep", SCEP_RENEWAL_PKCSREQ, old, old_key, new_key, "r-off2", "off-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

static void revoke_old_supersedes_the_renewed_certificate(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-revold", old_key, 20);
    scep_result *result =
        renew("revoke", SCEP_RENEWAL_PKCSREQ, old, old_key, new_key, "r-revold", NULL);
    check_renewed(result, old, new_key, "r-revold");
    X509 *first = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    scep_store_cert *row = stored(old);
    assert_int_equal(row->status, SCEP_CERT_REVOKED);
    assert_int_equal(row->revocation_reason, 4); /* superseded, RFC 5280 §5.3.1 */
    scep_store_cert_free(row);
    /* A retransmission still gets its certificate although the signer is revoked now. */
    result = renew("revoke", SCEP_RENEWAL_PKCSREQ, old, old_key, new_key, "r-revold", NULL);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_result_cert(result), first), 0);
    scep_result_free(result);
    /* The superseded certificate cannot renew again. */
    EVP_PKEY *third_key = test_rsa_key(2048);
    result = renew("revoke", SCEP_RENEWAL_PKCSREQ, old, old_key, third_key, "r-revold", NULL);
    assert_failure(result, "revoked");
    scep_result_free(result);
    X509_free(first);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
    EVP_PKEY_free(third_key);
}

static void renewal_keeps_the_subject(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-subject", old_key, 20);
    scep_result *result =
        renew("renew", SCEP_RENEWAL_RENEWALREQ, old, old_key, new_key, "someone-else", NULL);
    assert_failure(result, "subject differs");
    scep_result_free(result);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

/* A renewal cannot add names the CA never vouched for. */
static void renewal_cannot_add_subject_alt_names(void **state)
{
    (void)state;
    EVP_PKEY *old_key = test_rsa_key(2048);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509 *old = old_cert(ca, "r-san", old_key, 20);
    X509_REQ *csr = test_csr(new_key, "r-san", NULL);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san =
        X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:attacker.example.com");
    assert_non_null(san);
    sk_X509_EXTENSION_push(exts, san);
    assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
    assert_true(X509_REQ_sign(csr, new_key, EVP_sha256()) > 0);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

    scep_client *client = client_for("renew", SCEP_RENEWAL_RENEWALREQ);
    scep_enroll_request request = {
        .csr = csr, .key = new_key, .existing_cert = old, .existing_key = old_key};
    scep_result *result = NULL;
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_OK);
    /* The refusal names the name the old certificate lacks. */
    assert_failure(result,
                   "adds dns:attacker.example.com, which the old certificate does not have");
    scep_result_free(result);
    scep_client_free(client);

    /* Without the extra name the same renewal goes through. */
    result = renew("renew", SCEP_RENEWAL_RENEWALREQ, old, old_key, new_key, "r-san", NULL);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    X509_REQ_free(csr);
    X509_free(old);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(new_key);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caps_advertise_renewal_only_where_on),
        cmocka_unit_test(renewal_req_and_signed_pkcsreq_succeed_after_half_life),
        cmocka_unit_test(renewal_before_half_life_names_the_date),
        cmocka_unit_test(revoked_signer_is_refused),
        cmocka_unit_test(foreign_signer_is_an_enrollment),
        cmocka_unit_test(old_key_reuse_follows_the_setting),
        cmocka_unit_test(renewal_off_refuses_unless_enrolling_with_a_code),
        cmocka_unit_test(revoke_old_supersedes_the_renewed_certificate),
        cmocka_unit_test(renewal_keeps_the_subject),
        cmocka_unit_test(renewal_cannot_add_subject_alt_names),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
