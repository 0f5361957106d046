/*
 * Webhook authorisation: scepd POSTs each enrollment to an in-process
 * receiver (libmicrohttpd on 127.0.0.1) that recomputes the HMAC-SHA256
 * signature and answers allow, deny with a reason, or sleeps past the
 * timeout. allow → SUCCESS; deny → FAILURE with the reason; timeout →
 * FAILURE after the retries (fail closed), SUCCESS with webhook.failopen;
 * a signature under another secret is rejected by the receiver → FAILURE.
 * Both CA mode (enroll.c) and RA mode (ra.c) consult it.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"
#include "scepd/webhook.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "hook-secret"

static struct scepd_fixture fx;
static struct MHD_Daemon *receiver;

/* What the receiver saw, under the lock. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen_requests, seen_good_signatures, seen_bad_signatures;
static char seen_body[4096];

struct upload {
    char body[8192];
    size_t len;
};

static int signature_ok(struct MHD_Connection *connection, const char *body, size_t len)
{
    const char *stamp =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-SCEP-Timestamp");
    const char *sig = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-SCEP-Signature");
    if (stamp == NULL || sig == NULL || strncmp(sig, "sha256=", 7) != 0)
        return 0;
    long long when = strtoll(stamp, NULL, 10);
    long long now = (long long)time(NULL);
    if (when < now - 300 || when > now + 300)
        return 0;
    char *text = malloc(strlen(stamp) + 1 + len);
    if (text == NULL)
        return 0;
    size_t stamp_len = strlen(stamp);
    memcpy(text, stamp, stamp_len);
    text[stamp_len] = '.';
    memcpy(text + stamp_len + 1, body, len);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)text, stamp_len + 1 + len, mac,
         &mac_len);
    free(text);
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return strlen(sig + 7) == 64 && CRYPTO_memcmp(hex, sig + 7, 64) == 0;
}

static enum MHD_Result answer(struct MHD_Connection *connection, unsigned status, const char *text)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct upload *up = *con_cls;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return up != NULL ? MHD_YES : MHD_NO;
    }
    if (*data_size > 0) {
        size_t take = *data_size < sizeof(up->body) - 1 - up->len ? *data_size
                                                                  : sizeof(up->body) - 1 - up->len;
        memcpy(up->body + up->len, data, take);
        up->len += take;
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0)
        return answer(connection, 405, "{}");
    int good = signature_ok(connection, up->body, up->len);
    pthread_mutex_lock(&seen_lock);
    seen_requests++;
    if (good)
        seen_good_signatures++;
    else
        seen_bad_signatures++;
    snprintf(seen_body, sizeof(seen_body), "%.*s", (int)up->len, up->body);
    pthread_mutex_unlock(&seen_lock);
    if (!good)
        return answer(connection, 401, "{\"allow\": false, \"reason\": \"bad signature\"}");
    if (strcmp(url, "/allow") == 0)
        return answer(connection, 200, "{ \"allow\" : true ,\n \"reason\": \"ok\" }");
    if (strcmp(url, "/deny") == 0)
        return answer(connection, 200,
                      "{\"allow\": false, \"reason\": \"device not compliant\x01<b>\"}");
    if (strcmp(url, "/sly") == 0) /* "true" only inside a string: not an allow */
        return answer(connection, 200, "{\"allow\": \"true\"}");
    if (strcmp(url, "/slow") == 0) {
        struct timespec pause = {.tv_sec = 2, .tv_nsec = 500 * 1000 * 1000};
        nanosleep(&pause, NULL);
        return answer(connection, 200, "{\"allow\": true}");
    }
    return answer(connection, 404, "{}");
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static int setup(void **state)
{
    (void)state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    receiver = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                                NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    assert_non_null(receiver);
    unsigned port = MHD_get_daemon_info(receiver, MHD_DAEMON_INFO_BIND_PORT)->port;
    char config[4096];
    snprintf(config, sizeof(config),
             "allow.operationmode = ra\nallow.ra.authPwd = pw\n"
             "allow.webhook.url = http://127.0.0.1:%u/allow\nallow.webhook.secret = " SECRET "\n"
             "deny.operationmode = ra\ndeny.ra.authPwd = pw\n"
             "deny.webhook.url = http://127.0.0.1:%u/deny\ndeny.webhook.secret = " SECRET "\n"
             "sly.operationmode = ra\nsly.ra.authPwd = pw\n"
             "sly.webhook.url = http://127.0.0.1:%u/sly\nsly.webhook.secret = " SECRET "\n"
             "slow.operationmode = ra\nslow.ra.authPwd = pw\n"
             "slow.webhook.url = http://127.0.0.1:%u/slow\nslow.webhook.secret = " SECRET "\n"
             "slow.webhook.timeout = 1s\nslow.webhook.retries = 1\n"
             "slowopen.operationmode = ra\nslowopen.ra.authPwd = pw\n"
             "slowopen.webhook.url = http://127.0.0.1:%u/slow\n"
             "slowopen.webhook.secret = " SECRET "\n"
             "slowopen.webhook.timeout = 1s\nslowopen.webhook.retries = 0\n"
             "slowopen.webhook.failopen = true\n"
             "badsig.operationmode = ra\nbadsig.ra.authPwd = pw\n"
             "badsig.webhook.url = http://127.0.0.1:%u/allow\nbadsig.webhook.secret = wrong\n"
             "cadeny.webhook.url = http://127.0.0.1:%u/deny\ncadeny.webhook.secret = " SECRET "\n"
             "caallow.webhook.url = http://127.0.0.1:%u/allow\n"
             "caallow.webhook.secret = " SECRET "\n",
             port, port, port, port, port, port, port, port);
    const char *users[] = {"hook-ca:ca-pass"};
    scepd_fixture_start(&fx, users, 1, config);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    MHD_stop_daemon(receiver);
    return 0;
}

/* A counter read under the lock (the receiver's threads write them). */
static int seen(const int *counter)
{
    pthread_mutex_lock(&seen_lock);
    int value = *counter;
    pthread_mutex_unlock(&seen_lock);
    return value;
}

static void reset_seen(void)
{
    pthread_mutex_lock(&seen_lock);
    seen_requests = seen_good_signatures = seen_bad_signatures = 0;
    seen_body[0] = '\0';
    pthread_mutex_unlock(&seen_lock);
}

/* Enrolls a fresh P-256 key for `dn` with a DNS SAN; `*text` gets the failInfoText (or ""). */
static scep_pki_status enroll(const char *alias, const char *dn, const char *challenge, char *text,
                              size_t text_size)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {.url = url, .ca_cert = fx.ca_cert, .proxy = ""};
    scep_client *client = NULL;
    assert_int_equal(scep_client_new(&client, &options), SCEP_OK);
    EVP_PKEY *key = test_ec_key("P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    assert_int_equal(scep_dn_parse(&name, dn), SCEP_OK);
    assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
    X509_NAME_free(name);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                               (const unsigned char *)challenge, -1),
                     1);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san =
        X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:hook.example,IP:192.0.2.7");
    assert_non_null(san);
    sk_X509_EXTENSION_push(exts, san);
    assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    scep_enroll_request request = {.csr = req, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll: %s", scep_error_message());
    scep_pki_status status = scep_result_status(result);
    text[0] = '\0';
    if (status == SCEP_STATUS_FAILURE) {
        assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
        const char *fail_text = scep_result_fail_info_text(result);
        snprintf(text, text_size, "%s", fail_text ? fail_text : "");
    }
    scep_result_free(result);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    scep_client_free(client);
    return status;
}

static void allow_issues_and_body_is_signed(void **state)
{
    (void)state;
    char text[256];
    reset_seen();
    assert_int_equal(enroll("allow", "CN=hook-dev-1,O=Example", "pw", text, sizeof(text)),
                     SCEP_STATUS_SUCCESS);
    assert_int_equal(seen(&seen_requests), 1);
    assert_int_equal(seen(&seen_good_signatures), 1);
    char body[sizeof(seen_body)];
    pthread_mutex_lock(&seen_lock);
    memcpy(body, seen_body, sizeof(body));
    pthread_mutex_unlock(&seen_lock);
    assert_non_null(strstr(body, "\"alias\":\"allow\""));
    assert_non_null(strstr(body, "\"subject\":\"CN=hook-dev-1,O=Example\""));
    assert_non_null(strstr(body, "\"DNS:hook.example\""));
    assert_non_null(strstr(body, "\"IP:192.0.2.7\""));
    assert_non_null(strstr(body, "\"keyType\":\"EC\""));
    assert_non_null(strstr(body, "\"keyBits\":256"));
    assert_non_null(strstr(body, "\"challengePassword\":\"pw\""));
    assert_non_null(strstr(body, "\"messageType\":\"PKCSReq\""));
    assert_non_null(strstr(body, "\"clientAddress\":\"127.0.0.1\""));
    assert_non_null(strstr(body, "\"transactionID\":\""));
}

static void deny_refuses_with_the_reason(void **state)
{
    (void)state;
    char text[256];
    reset_seen();
    assert_int_equal(enroll("deny", "CN=hook-dev-2", "pw", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    /* The reason, its control character replaced. */
    assert_non_null(strstr(text, "device not compliant?<b>"));
    assert_int_equal(seen(&seen_good_signatures), 1);
    assert_int_equal(enroll("sly", "CN=hook-dev-3", "pw", text, sizeof(text)), SCEP_STATUS_FAILURE);
    /* The RA secret is still checked before the webhook: it is not asked. */
    reset_seen();
    assert_int_equal(enroll("allow", "CN=hook-dev-4", "wrong", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    assert_int_equal(seen(&seen_requests), 0);
}

static void timeout_fails_closed_or_open(void **state)
{
    (void)state;
    char text[256];
    reset_seen();
    assert_int_equal(enroll("slow", "CN=hook-dev-5", "pw", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    assert_non_null(strstr(text, "unavailable"));
    /* One retry after the first timeout. */
    assert_int_equal(seen(&seen_requests), 2);
    assert_int_equal(enroll("slowopen", "CN=hook-dev-6", "pw", text, sizeof(text)),
                     SCEP_STATUS_SUCCESS);
}

static void receiver_rejects_another_secret(void **state)
{
    (void)state;
    char text[256];
    reset_seen();
    assert_int_equal(enroll("badsig", "CN=hook-dev-7", "pw", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    assert_non_null(strstr(text, "bad signature"));
    assert_int_equal(seen(&seen_bad_signatures), 1);
    assert_int_equal(seen(&seen_good_signatures), 0);
}

static void ca_mode_consults_the_webhook(void **state)
{
    (void)state;
    char text[256];
    reset_seen();
    assert_int_equal(enroll("cadeny", "CN=hook-ca", "ca-pass", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    assert_non_null(strstr(text, "device not compliant"));
    assert_int_equal(seen(&seen_good_signatures), 1);
    /* The refusal did not spend the enrollment code. */
    assert_int_equal(enroll("caallow", "CN=hook-ca", "ca-pass", text, sizeof(text)),
                     SCEP_STATUS_SUCCESS);
    assert_int_equal(seen(&seen_good_signatures), 2);
}

static void verdict_parsing(void **state)
{
    (void)state;
    char reason[SCEPD_WEBHOOK_REASON_MAX + 1];
    static const char allow[] = "{\"allow\":true}";
    assert_int_equal(scepd_webhook_verdict(200, allow, strlen(allow), reason), 1);
    assert_int_equal(scepd_webhook_verdict(201, allow, strlen(allow), reason), 0);
    static const char spaced[] = " {\n\t\"allow\" :\r\n true , \"x\":1}";
    assert_int_equal(scepd_webhook_verdict(200, spaced, strlen(spaced), reason), 1);
    static const char twice[] = "{\"allow\":false,\"allow\":true}";
    assert_int_equal(scepd_webhook_verdict(200, twice, strlen(twice), reason), 0);
    static const char truthy[] = "{\"allow\":trueish}";
    assert_int_equal(scepd_webhook_verdict(200, truthy, strlen(truthy), reason), 0);
    assert_int_equal(scepd_webhook_verdict(200, "", 0, reason), 0);
    char longer[600];
    snprintf(longer, sizeof(longer), "{\"allow\":false,\"reason\":\"%0300d\"}", 7);
    assert_int_equal(scepd_webhook_verdict(200, longer, strlen(longer), reason), 0);
    assert_int_equal(strlen(reason), SCEPD_WEBHOOK_REASON_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdict_parsing),
        cmocka_unit_test(allow_issues_and_body_is_signed),
        cmocka_unit_test(deny_refuses_with_the_reason),
        cmocka_unit_test(timeout_fails_closed_or_open),
        cmocka_unit_test(receiver_rejects_another_secret),
        cmocka_unit_test(ca_mode_consults_the_webhook),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
