/*
 * Revocation and CRLs in scepd, in process over HTTP with libscep's client:
 * GetCRL lists a revoked serial with its reason; the stored CRL is served
 * again (same cRLNumber) until a revocation or staleness makes a new one;
 * openssl verifies it; GetCert still returns a revoked certificate; an issuer
 * that is none of our CAs is badCertId; /crl/NAME.crl serves the same CRL;
 * issued certificates carry the configured CRL distribution point; scepctl
 * cert revoke refuses a second revocation.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"
#include "scepctl/scepctl.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct scepd_fixture fx;

static int setup(void **state)
{
    (void)state;
    static const char *const users[] = {"crl-1:code-1", "crl-2:code-2", "crl-3:code-3",
                                        "crl-4:code-4"};
    scepd_fixture_start(&fx, users, sizeof(users) / sizeof(users[0]),
                        "crl_validity = 2d\n"
                        "crl_regenerate_before = 6h\n"
                        "crl_base_url = http://127.0.0.1:8080/crl/\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    return 0;
}

static scep_client *new_client(void)
{
    scep_client_options options = {.url = fx.url, .ca_cert = fx.ca_cert, .proxy = ""};
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return client;
}

static X509 *enroll(scep_client *client, EVP_PKEY *key, const char *cn, const char *code)
{
    X509_REQ *csr = test_csr(key, cn, code);
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll %s: %s", cn, scep_error_message());
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    X509_REQ_free(csr);
    return cert;
}

/* GetCRL signed by `cert`; returns the CRL (caller frees) after checking SUCCESS. */
static X509_CRL *get_crl(scep_client *client, X509 *cert, EVP_PKEY *key)
{
    scep_result *result = NULL;
    assert_int_equal(scep_client_get_crl(client, &result, cert, key, NULL), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_non_null(scep_result_crl(result));
    X509_CRL *crl = X509_CRL_dup(scep_result_crl(result));
    scep_result_free(result);
    return crl;
}

static long crl_number(const X509_CRL *crl)
{
    ASN1_INTEGER *number = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    assert_non_null(number);
    long value = ASN1_INTEGER_get(number);
    ASN1_INTEGER_free(number);
    return value;
}

/* The reasonCode of `cert`'s entry (0 when absent), or -1 when it is not listed. */
static int listed_reason(X509_CRL *crl, X509 *cert)
{
    X509_REVOKED *entry = NULL;
    if (X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(cert)) != 1)
        return -1;
    ASN1_ENUMERATED *code = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
    int reason = code != NULL ? (int)ASN1_ENUMERATED_get(code) : 0;
    ASN1_ENUMERATED_free(code);
    return reason;
}

static void write_pem_files(const X509_CRL *crl)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/got.crl.pem", fx.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ca-only.pem", fx.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, fx.ca_cert), 1);
    fclose(f);
}

/* Runs scepctl against the fixture's config; returns its exit code, output in `out`. */
static int scepctl(char *out, size_t out_size, const char *const *words, size_t count)
{
    char *argv[16];
    size_t argc = 0;
    argv[argc++] = (char *)"scepctl";
    argv[argc++] = (char *)"--config";
    argv[argc++] = fx.config_path;
    for (size_t i = 0; i < count && argc < 15; i++)
        argv[argc++] = (char *)words[i];
    argv[argc] = NULL;
    char *text = NULL;
    size_t text_len = 0;
    FILE *stream = open_memstream(&text, &text_len);
    assert_non_null(stream);
    int rc = scepctl_main((int)argc, argv, stream, stream);
    fclose(stream);
    snprintf(out, out_size, "%s", text ? text : "");
    free(text);
    return rc;
}

static void serial_hex(char out[SCEP_SERIAL_HEX_MAX], X509 *cert)
{
    assert_int_equal(scep_serial_to_hex(out, X509_get0_serialNumber(cert)), SCEP_OK);
}

/* The refresh thread publishes a CRL at start, before any client asks. */
static void crl_exists_after_start_without_requests(void **state)
{
    (void)state;
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_crl *crl = NULL;
    int found = 0;
    for (int i = 0; i < 100 && !found; i++) {
        if (scep_store_crl_get(&crl, store, "demo") == SCEP_OK && crl != NULL)
            found = 1;
        else
            usleep(50 * 1000);
    }
    assert_true(found);
    assert_true(crl->next_update > crl->this_update);
    for (int i = 0; i < 100 && scepd_crl_refresh_passes(&fx.server.crl_refresh) < 1; i++)
        usleep(50 * 1000);
    assert_true(scepd_crl_refresh_passes(&fx.server.crl_refresh) >= 1);
    /* The generation is in the audit trail. */
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    int audited = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, store, 0), SCEP_OK);
    for (size_t i = 0; i < count; i++)
        if (strcmp(events[i].action, "crl_generate") == 0 &&
            strstr(events[i].detail, "ca=demo") != NULL &&
            strstr(events[i].detail, "by=refresh") != NULL)
            audited = 1;
    scep_store_audit_list_free(events, count);
    assert_true(audited);
    scep_store_crl_free(crl);
    scep_store_close(store);
}

static void getcrl_lists_revocations_and_numbers_only_move_on_change(void **state)
{
    (void)state;
    scep_client *client = new_client();
    EVP_PKEY *key = test_rsa_key(2048);
    X509 *cert = enroll(client, key, "crl-1", "code-1");

    X509_CRL *first = get_crl(client, cert, key);
    X509_CRL *again = get_crl(client, cert, key);
    /* No revocation in between: the stored CRL again, not a new number. */
    assert_int_equal(crl_number(again), crl_number(first));
    assert_int_equal(X509_CRL_cmp(again, first), 0);
    assert_int_equal(X509_CRL_match(again, first), 0);
    assert_int_equal(listed_reason(first, cert), -1);
    /* nextUpdate - thisUpdate is crl_validity (2d). */
    int days = 0, seconds = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &seconds, X509_CRL_get0_lastUpdate(first),
                                    X509_CRL_get0_nextUpdate(first)),
                     1);
    assert_int_equal(days, 2);
    assert_int_equal(seconds, 0);

    char serial[SCEP_SERIAL_HEX_MAX];
    serial_hex(serial, cert);
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(
        scep_store_cert_revoke(store, "demo", serial, 0, SCEP_CRL_REASON_KEY_COMPROMISE), SCEP_OK);
    scep_store_close(store);

    X509_CRL *after = get_crl(client, cert, key);
    assert_true(crl_number(after) > crl_number(first));
    assert_int_equal(listed_reason(after, cert), SCEP_CRL_REASON_KEY_COMPROMISE);
    EVP_PKEY *ca_public = X509_get_pubkey(fx.ca_cert);
    assert_int_equal(X509_CRL_verify(after, ca_public), 1);
    EVP_PKEY_free(ca_public);
    write_pem_files(after);
    assert_int_equal(test_system("openssl crl -in %s/got.crl.pem -CAfile %s/ca-only.pem -noout "
                                 "2>&1 | grep -q 'verify OK'",
                                 fx.dir, fx.dir),
                     0);
    X509_CRL *stable = get_crl(client, cert, key);
    assert_int_equal(crl_number(stable), crl_number(after));

    /* GetCert is a lookup: a revoked certificate is still returned. */
    scep_result *result = NULL;
    assert_int_equal(
        scep_client_get_cert(client, &result, X509_get0_serialNumber(cert), cert, key, NULL),
        SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_result_cert(result), cert), 0);
    scep_result_free(result);

    X509_CRL_free(stable);
    X509_CRL_free(after);
    X509_CRL_free(again);
    X509_CRL_free(first);
    X509_free(cert);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

static void unknown_issuer_is_bad_cert_id(void **state)
{
    (void)state;
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = "CN=Somebody else's CA";
    options.rsa_bits = 2048;
    scep_ca *other = NULL;
    assert_int_equal(scep_ca_create(&other, &options), SCEP_OK);
    scep_client *client = new_client();
    scep_result *result = NULL;
    assert_int_equal(
        scep_client_get_crl(client, &result, scep_ca_cert(other), scep_ca_key(other), NULL),
        SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_CERT_ID);
    scep_result_free(result);
    assert_int_equal(scep_client_get_cert(client, &result,
                                          X509_get0_serialNumber(scep_ca_cert(other)),
                                          scep_ca_cert(other), scep_ca_key(other), NULL),
                     SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_CERT_ID);
    scep_result_free(result);
    scep_client_free(client);
    scep_ca_free(other);
}

struct body {
    unsigned char data[65536];
    size_t len;
    long status;
    char content_type[64];
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (n > sizeof(b->data) - 1 - b->len)
        return 0;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return n;
}

static void http_get(struct body *b, const char *path)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", fx.port, path);
    memset(b, 0, sizeof(*b));
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &b->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(b->content_type, sizeof(b->content_type), "%s", type ? type : "");
    curl_easy_cleanup(curl);
}

static void http_crl_is_the_getcrl_crl(void **state)
{
    (void)state;
    static struct body b;
    scep_client *client = new_client();
    EVP_PKEY *key = test_rsa_key(2048);
    X509 *cert = enroll(client, key, "crl-2", "code-2");
    X509_CRL *via_scep = get_crl(client, cert, key);

    http_get(&b, "/crl/demo.crl");
    assert_int_equal(b.status, 200);
    assert_string_equal(b.content_type, "application/pkix-crl");
    const unsigned char *p = b.data;
    X509_CRL *via_http = d2i_X509_CRL(NULL, &p, (long)b.len);
    assert_non_null(via_http);
    assert_int_equal(crl_number(via_http), crl_number(via_scep));
    unsigned char *der = NULL;
    int len = i2d_X509_CRL(via_scep, &der);
    assert_int_equal(len, (int)b.len);
    assert_memory_equal(der, b.data, b.len);
    OPENSSL_free(der);

    http_get(&b, "/crl/demo.pem");
    assert_int_equal(b.status, 200);
    b.data[b.len] = '\0';
    assert_non_null(strstr((const char *)b.data, "BEGIN X509 CRL"));
    http_get(&b, "/crl/nosuchca.crl");
    assert_int_equal(b.status, 404);
    http_get(&b, "/crl/../etc.crl");
    assert_int_equal(b.status, 404);
    http_get(&b, "/crl/demo.txt");
    assert_int_equal(b.status, 404);

    X509_CRL_free(via_http);
    X509_CRL_free(via_scep);
    X509_free(cert);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

static void stale_stored_crl_is_replaced(void **state)
{
    (void)state;
    static struct body b;
    http_get(&b, "/crl/demo.crl");
    assert_int_equal(b.status, 200);
    const unsigned char *p = b.data;
    X509_CRL *before = d2i_X509_CRL(NULL, &p, (long)b.len);
    assert_non_null(before);

    /* Within crl_regenerate_before (6h) of nextUpdate: stale. */
    char path[600];
    snprintf(path, sizeof(path), "%s/scepd.db", fx.dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char sql[200];
    snprintf(sql, sizeof(sql), "UPDATE crls SET next_update = %lld", (long long)time(NULL) + 3600);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    http_get(&b, "/crl/demo.crl");
    assert_int_equal(b.status, 200);
    p = b.data;
    X509_CRL *after = d2i_X509_CRL(NULL, &p, (long)b.len);
    assert_non_null(after);
    assert_int_equal(crl_number(after), crl_number(before) + 1);
    X509_CRL_free(after);
    X509_CRL_free(before);
}

static void issued_certificate_carries_the_crl_dp(void **state)
{
    (void)state;
    scep_client *client = new_client();
    EVP_PKEY *key = test_rsa_key(2048);
    X509 *cert = enroll(client, key, "crl-3", "code-3");
    CRL_DIST_POINTS *points = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    assert_non_null(points);
    assert_int_equal(sk_DIST_POINT_num(points), 1);
    DIST_POINT *point = sk_DIST_POINT_value(points, 0);
    assert_non_null(point->distpoint);
    assert_int_equal(point->distpoint->type, 0);
    GENERAL_NAME *name = sk_GENERAL_NAME_value(point->distpoint->name.fullname, 0);
    assert_int_equal(name->type, GEN_URI);
    const ASN1_IA5STRING *uri = name->d.uniformResourceIdentifier;
    assert_int_equal(ASN1_STRING_length(uri), strlen("http://127.0.0.1:8080/crl/demo.crl"));
    assert_memory_equal(ASN1_STRING_get0_data(uri), "http://127.0.0.1:8080/crl/demo.crl",
                        ASN1_STRING_length(uri));
    CRL_DIST_POINTS_free(points);
    X509_free(cert);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

static void scepctl_revoke_regenerates_and_refuses_twice(void **state)
{
    (void)state;
    char out[4096];
    scep_client *client = new_client();
    EVP_PKEY *key = test_rsa_key(2048);
    X509 *cert = enroll(client, key, "crl-4", "code-4");
    char serial[SCEP_SERIAL_HEX_MAX];
    serial_hex(serial, cert);
    X509_CRL *before = get_crl(client, cert, key);

    const char *bad_reason[] = {"cert", "revoke", "--serial", serial, "--reason", "bored"};
    assert_int_equal(scepctl(out, sizeof(out), bad_reason, 6), SCEPCTL_EXIT_USAGE);
    assert_non_null(strstr(out, "keyCompromise"));

    const char *revoke[] = {"cert", "revoke", "--serial", serial, "--reason", "superseded"};
    assert_int_equal(scepctl(out, sizeof(out), revoke, 6), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(out, "end entity crl-4 is now REVOKED"));
    assert_non_null(strstr(out, "CRL number"));

    /* scepctl stored the new CRL: scepd serves it without making another. */
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_crl *stored = NULL;
    assert_int_equal(scep_store_crl_get(&stored, store, "demo"), SCEP_OK);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "crl-4"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_REVOKED);
    scep_store_ee_free(ee);
    scep_store_close(store);
    X509_CRL *after = get_crl(client, cert, key);
    assert_int_equal(crl_number(after), stored->crl_number);
    assert_true(crl_number(after) > crl_number(before));
    assert_int_equal(listed_reason(after, cert), SCEP_CRL_REASON_SUPERSEDED);
    scep_store_crl_free(stored);

    assert_int_equal(scepctl(out, sizeof(out), revoke, 6), SCEPCTL_EXIT_ERROR);
    assert_non_null(strstr(out, "already revoked"));

    const char *show[] = {"crl", "show", "--ca", "demo"};
    assert_int_equal(scepctl(out, sizeof(out), show, 4), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(out, serial));
    assert_non_null(strstr(out, "superseded"));
    assert_non_null(strstr(out, "current"));

    X509_CRL_free(after);
    X509_CRL_free(before);
    X509_free(cert);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crl_exists_after_start_without_requests),
        cmocka_unit_test(getcrl_lists_revocations_and_numbers_only_move_on_change),
        cmocka_unit_test(unknown_issuer_is_bad_cert_id),
        cmocka_unit_test(http_crl_is_the_getcrl_crl),
        cmocka_unit_test(stale_stored_crl_is_replaced),
        cmocka_unit_test(issued_certificate_carries_the_crl_dp),
        cmocka_unit_test(scepctl_revoke_regenerates_and_refuses_twice),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
