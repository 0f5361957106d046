/*
 * Manual approval (alias approval = manual), end to end: libscep's client
 * enrolls and gets PENDING, the operator decides with scepctl's own code
 * (scepctl_main), and CertPoll with the saved scep_pending gets SUCCESS or
 * FAILURE with the operator's reason; expiry, retransmission as a poll,
 * one waiting request per end entity, unknown transactionID.
 */
#include "scepd_fixture.h"
#include "scepctl_run.h"
#include "test_support.h"

#include "issuance/issuance.h"
#include "scep/client.h"
#include "scepctl/scepctl.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct scepd_fixture fx;
static EVP_PKEY *ca_public;
static char ctl_out[8192], ctl_err[8192];

static int setup(void **state)
{
    (void)state;
    static const char *const users[] = {"appr-1:code-1", "appr-2:code-2", "appr-3:code-3",
                                        "appr-4:code-4", "appr-5:code-5"};
    scepd_fixture_start(&fx, users, sizeof(users) / sizeof(users[0]),
                        "default_alias = manual\n"
                        "manual.approval = manual\n"
                        "manual.pendingexpiry = 1h\n");
    ca_public = X509_get_pubkey(fx.ca_cert);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(ca_public);
    scepd_fixture_stop(&fx);
    return 0;
}

/* scepctl -c CONF ARGS... (NULL-terminated), output captured; returns the exit code. */
static int scepctl(const char *first, ...)
{
    va_list args;
    va_start(args, first);
    int rc = test_scepctl_v(fx.config_path, ctl_out, sizeof(ctl_out), ctl_err, sizeof(ctl_err),
                            first, args);
    va_end(args);
    return rc;
}

static scep_client *client(void)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/manual/pkiclient.exe", fx.port);
    scep_client_options options = {.url = url, .ca_cert = fx.ca_cert, .proxy = ""};
    scep_client *c = NULL;
    if (scep_client_new(&c, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return c;
}

static scep_result *enroll(scep_client *c, EVP_PKEY *key, const char *cn, const char *challenge)
{
    X509_REQ *csr = test_csr(key, cn, challenge);
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(c, &result, &request) != SCEP_OK)
        fail_msg("enroll %s: %s", cn, scep_error_message());
    X509_REQ_free(csr);
    return result;
}

static scep_result *poll_once(scep_client *c, const scep_pending *pending, EVP_PKEY *key)
{
    scep_result *result = NULL;
    if (scep_client_poll(c, &result, pending, key) != SCEP_OK)
        fail_msg("poll: %s", scep_error_message());
    return result;
}

/* Enrolls, expects PENDING; returns the pending state (a copy through save/load) and row id. */
static scep_pending *enroll_pending(long long *out_id, scep_client *c, EVP_PKEY *key,
                                    const char *cn, const char *challenge)
{
    scep_result *result = enroll(c, key, cn, challenge);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    char *text = NULL;
    assert_int_equal(scep_pending_save(&text, scep_result_pending(result)), SCEP_OK);
    scep_pending *pending = NULL;
    assert_int_equal(scep_pending_load(&pending, text, strlen(text)), SCEP_OK);
    OPENSSL_free(text);

    scep_store *store = scepd_fixture_store(&fx);
    scep_store_request *row = NULL;
    assert_int_equal(
        scep_store_request_find(&row, store, "manual", scep_pending_transaction_id(pending)),
        SCEP_OK);
    assert_int_equal(row->status, SCEP_REQ_PENDING);
    assert_true(scep_request_held(row));
    *out_id = (long long)row->id;
    scep_store_request_free(row);
    scep_store_close(store);
    scep_result_free(result);
    return pending;
}

static scep_store_ee_status ee_status(const char *username)
{
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, username), SCEP_OK);
    scep_store_ee_status status = ee->status;
    scep_store_ee_free(ee);
    scep_store_close(store);
    return status;
}

static void pending_then_approved_then_success(void **state)
{
    (void)state;
    scep_client *c = client();
    EVP_PKEY *key = test_rsa_key(2048);
    long long id = 0;
    scep_pending *pending = enroll_pending(&id, c, key, "appr-1", "code-1");
    char id_text[32];
    snprintf(id_text, sizeof(id_text), "%lld", id);

    /* Authorised on arrival, consumed at approval: the end entity is still NEW. */
    assert_int_equal(ee_status("appr-1"), SCEP_EE_NEW);
    scep_result *result = poll_once(c, pending, key);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    scep_result_free(result);

    assert_int_equal(scepctl("request", "list", "--status", "pending", NULL), 0);
    assert_non_null(strstr(ctl_out, id_text));
    assert_non_null(strstr(ctl_out, "CN=appr-1"));
    assert_int_equal(scepctl("request", "show", id_text, NULL), 0);
    assert_non_null(strstr(ctl_out, "End entity:   appr-1 (ca)"));
    /* The decision recorded at the hold: the registered subject, what approval issues. */
    assert_non_null(strstr(ctl_out, "Issues:       CN=appr-1\n"));
    assert_non_null(strstr(ctl_out, "RSA 2048 bits"));
    assert_non_null(strstr(ctl_out, scep_pending_transaction_id(pending)));
    assert_non_null(strstr(ctl_out, "127.0.0.1"));

    assert_int_equal(scepctl("request", "approve", id_text, NULL), 0);
    assert_non_null(strstr(ctl_out, "approved"));
    assert_int_equal(ee_status("appr-1"), SCEP_EE_GENERATED);
    /* Decided once. */
    assert_int_equal(scepctl("request", "approve", id_text, NULL), SCEPCTL_EXIT_ERROR);
    assert_int_equal(scepctl("request", "reject", id_text, "--reason", "late", NULL),
                     SCEPCTL_EXIT_ERROR);

    result = poll_once(c, pending, key);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = scep_result_cert(result);
    assert_non_null(cert);
    assert_int_equal(X509_verify(cert, ca_public), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
    scep_result_free(result);

    /* The audit trail names the operator. */
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, store, 20), SCEP_OK);
    int found = 0;
    for (size_t i = 0; i < count; i++)
        if (strcmp(events[i].action, "request_approve") == 0 &&
            strncmp(events[i].actor, "scepctl:", 8) == 0)
            found = 1;
    assert_true(found);
    scep_store_audit_list_free(events, count);
    scep_store_close(store);

    scep_pending_free(pending);
    EVP_PKEY_free(key);
    scep_client_free(c);
}

static void pending_then_rejected_then_failure_with_reason(void **state)
{
    (void)state;
    scep_client *c = client();
    EVP_PKEY *key = test_rsa_key(2048);
    long long id = 0;
    scep_pending *pending = enroll_pending(&id, c, key, "appr-2", "code-2");
    char id_text[32];
    snprintf(id_text, sizeof(id_text), "%lld", id);
    assert_int_equal(scepctl("request", "reject", id_text, NULL), SCEPCTL_EXIT_USAGE);
    assert_int_equal(scepctl("request", "reject", id_text, "--reason",
                             "unknown device, call the helpdesk", NULL),
                     0);
    scep_result *result = poll_once(c, pending, key);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    assert_string_equal(scep_result_fail_info_text(result), "unknown device, call the helpdesk");
    scep_result_free(result);

    /* A retransmitted PKCSReq (same key, same transactionID) gets the same answer. */
    result = enroll(c, key, "appr-2", "code-2");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_string_equal(scep_result_fail_info_text(result), "unknown device, call the helpdesk");
    scep_result_free(result);
    assert_int_equal(scepctl("request", "approve", id_text, NULL), SCEPCTL_EXIT_ERROR);
    assert_int_equal(scepctl("request", "list", "--status", "rejected", NULL), 0);
    assert_non_null(strstr(ctl_out, "rejected"));
    /* Rejection does not consume the code. */
    assert_int_equal(ee_status("appr-2"), SCEP_EE_NEW);

    scep_pending_free(pending);
    EVP_PKEY_free(key);
    scep_client_free(c);
}

static void set_request_time_back(long long id, long long seconds)
{
    const char *path = fx.db_url + strlen("sqlite:");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[200];
    snprintf(sql, sizeof(sql), "UPDATE requests SET created_at = created_at - %lld WHERE id = %lld",
             seconds, id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
}

static void pending_request_expires(void **state)
{
    (void)state;
    scep_client *c = client();
    EVP_PKEY *key = test_rsa_key(2048);
    long long id = 0;
    scep_pending *pending = enroll_pending(&id, c, key, "appr-3", "code-3");
    char id_text[32];
    snprintf(id_text, sizeof(id_text), "%lld", id);
    set_request_time_back(id, 3600);

    /* Listed as expired before anyone polls; approval is refused. */
    assert_int_equal(scepctl("request", "list", "--status", "expired", NULL), 0);
    assert_non_null(strstr(ctl_out, id_text));
    assert_int_equal(scepctl("request", "list", "--status", "pending", NULL), 0);
    assert_null(strstr(ctl_out, "CN=appr-3"));
    assert_int_equal(scepctl("request", "approve", id_text, NULL), SCEPCTL_EXIT_ERROR);
    assert_non_null(strstr(ctl_err, "expired"));
    assert_int_equal(ee_status("appr-3"), SCEP_EE_NEW);

    scep_result *result = poll_once(c, pending, key);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    assert_string_equal(scep_result_fail_info_text(result), "expired");
    scep_result_free(result);
    assert_int_equal(scepctl("request", "show", id_text, NULL), 0);
    assert_non_null(strstr(ctl_out, "Status:       expired"));

    scep_pending_free(pending);
    EVP_PKEY_free(key);
    scep_client_free(c);
}

static void poll_expires_an_unlisted_request(void **state)
{
    (void)state;
    scep_client *c = client();
    EVP_PKEY *key = test_rsa_key(2048);
    long long id = 0;
    scep_pending *pending = enroll_pending(&id, c, key, "appr-5", "code-5");
    set_request_time_back(id, 3600);
    scep_result *result = poll_once(c, pending, key);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_string_equal(scep_result_fail_info_text(result), "expired");
    scep_result_free(result);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_request *row = NULL;
    assert_int_equal(scep_store_request_get(&row, store, id), SCEP_OK);
    assert_int_equal(row->status, SCEP_REQ_REJECTED);
    assert_true(scep_request_was_expired(row));
    scep_store_request_free(row);
    scep_store_close(store);
    scep_pending_free(pending);
    EVP_PKEY_free(key);
    scep_client_free(c);
}

static void retransmission_is_a_poll_and_one_request_waits_per_end_entity(void **state)
{
    (void)state;
    scep_client *c = client();
    EVP_PKEY *key = test_rsa_key(2048);
    long long id = 0;
    scep_pending *pending = enroll_pending(&id, c, key, "appr-4", "code-4");

    /* Same key, same transactionID: PENDING again, and no second row. */
    scep_result *result = enroll(c, key, "appr-4", "code-4");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    assert_string_equal(scep_result_transaction_id(result), scep_pending_transaction_id(pending));
    scep_result_free(result);

    /* Another key for the same end entity while one waits: refused. */
    EVP_PKEY *key2 = test_rsa_key(2048);
    result = enroll(c, key2, "appr-4", "code-4");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    assert_non_null(strstr(scep_result_fail_info_text(result), "awaits approval"));
    scep_result_free(result);

    /* A wrong code is refused at arrival, never queued. */
    EVP_PKEY *key3 = test_rsa_key(2048);
    result = enroll(c, key3, "appr-4", "wrong");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    scep_result_free(result);

    char id_text[32];
    snprintf(id_text, sizeof(id_text), "%lld", id);
    assert_int_equal(scepctl("request", "approve", id_text, NULL), 0);
    /* After approval the retransmission gets the certificate. */
    result = enroll(c, key, "appr-4", "code-4");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_verify(scep_result_cert(result), ca_public), 1);
    scep_result_free(result);

    scep_pending_free(pending);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
    EVP_PKEY_free(key3);
    scep_client_free(c);
}

static void unknown_transaction_poll_is_bad_cert_id(void **state)
{
    (void)state;
    scep_client *c = client();
    EVP_PKEY *key = test_rsa_key(2048);
    /* A real pending state (appr-2's code survived the rejection) with another transactionID. */
    scep_result *result = enroll(c, key, "appr-2", "code-2");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    char *text = NULL;
    assert_int_equal(scep_pending_save(&text, scep_result_pending(result)), SCEP_OK);
    const char *tid = scep_pending_transaction_id(scep_result_pending(result));
    char *at = strstr(text, tid);
    assert_non_null(at);
    for (size_t i = 0; i < strlen(tid); i++)
        at[i] = at[i] == '0' ? '1' : '0';
    scep_pending *pending = NULL;
    assert_int_equal(scep_pending_load(&pending, text, strlen(text)), SCEP_OK);
    OPENSSL_free(text);
    scep_result_free(result);

    result = poll_once(c, pending, key);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_CERT_ID);
    scep_result_free(result);
    scep_pending_free(pending);
    EVP_PKEY_free(key);
    scep_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pending_then_approved_then_success),
        cmocka_unit_test(pending_then_rejected_then_failure_with_reason),
        cmocka_unit_test(pending_request_expires),
        cmocka_unit_test(poll_expires_an_unlisted_request),
        cmocka_unit_test(retransmission_is_a_poll_and_one_request_waits_per_end_entity),
        cmocka_unit_test(unknown_transaction_poll_is_bad_cert_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
