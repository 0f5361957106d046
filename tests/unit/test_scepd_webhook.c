/*
 * Webhook authorisation: scepd POSTs each enrollment to an in-process
 * receiver (libmicrohttpd on 127.0.0.1) that recomputes the HMAC-SHA256
 * signature and answers allow, deny with a reason, or sleeps past the
 * timeout. allow → SUCCESS; deny → FAILURE with the reason; timeout →
 * FAILURE after the retries (fail closed), SUCCESS with webhook.failopen;
 * a signature under another secret is rejected by the receiver → FAILURE.
 * Both CA mode and RA mode consult it (src/scepd/enroll/gate.c). The body the
 * receiver gets is read back with jansson; the answer is read as strict JSON.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"
#include "scepd/enroll/webhook.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SECRET "hook-secret"

static struct scepd_fixture fx;
static struct MHD_Daemon *receiver;
static unsigned receiver_port;

/* What the receiver saw, under the lock. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen_requests, seen_good_signatures, seen_bad_signatures;
static char seen_body[16384];

struct upload {
    char body[16384];
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
                      "{\"allow\": false, \"reason\": \"device not compliant\\u0001<b>\"}");
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

/* The CA-mode end entity, registered for the cadeny alias with one subjectAltName. */
static void add_hook_ca(struct scepd_fixture *f, scep_store *store)
{
    (void)f;
    scep_store_end_entity ee = {.username = "hook-ca",
                                .subject_dn = "CN=hook-ca",
                                .ca_name = "demo",
                                .alias = "cadeny",
                                .sans = "dns:hook.example"};
    assert_int_equal(scep_store_ee_add(store, &ee, "ca-pass"), SCEP_OK);
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
    receiver_port = port;
    /* The webhook sets jansson's allocator on first use; the test's own jansson calls
     * must come after it. */
    assert_int_equal(scepd_webhook_answer_verdict(200, "{}", 2, NULL, 0), SCEPD_WEBHOOK_DENY);
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
    scepd_fixture_start_prepared(&fx, NULL, 0, config, add_hook_ca);
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

/*
 * Enrolls a fresh P-256 key for `dn`; each of `san_exts` (NULL: one with a DNS name and an
 * IP address) becomes a subjectAltName extension of its own. `*text` gets the
 * failInfoText (or "").
 */
static scep_pki_status enroll_with(const char *alias, const char *dn, const char *challenge,
                                   const char *const *san_exts, char *text, size_t text_size)
{
    static const char *const one_ext[] = {"DNS:hook.example,IP:192.0.2.7", NULL};
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
    for (size_t i = 0; (san_exts ? san_exts : one_ext)[i] != NULL; i++) {
        X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
                                                  (san_exts ? san_exts : one_ext)[i]);
        assert_non_null(san);
        sk_X509_EXTENSION_push(exts, san);
    }
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

static scep_pki_status enroll(const char *alias, const char *dn, const char *challenge, char *text,
                              size_t text_size)
{
    return enroll_with(alias, dn, challenge, NULL, text, text_size);
}

/* The last body the receiver saw, as the receiver's JSON parser reads it (caller decrefs). */
static json_t *seen_json(void)
{
    char body[sizeof(seen_body)];
    pthread_mutex_lock(&seen_lock);
    memcpy(body, seen_body, sizeof(body));
    pthread_mutex_unlock(&seen_lock);
    json_error_t error;
    json_t *json = json_loads(body, JSON_REJECT_DUPLICATES, &error);
    if (json == NULL)
        fail_msg("the body is not JSON (%s): %s", error.text, body);
    assert_true(json_is_object(json));
    return json;
}

static void assert_member_text(const json_t *body, const char *key, const char *expected)
{
    const json_t *value = json_object_get(body, key);
    if (expected == NULL) {
        assert_true(json_is_null(value));
        return;
    }
    assert_true(json_is_string(value));
    assert_string_equal(json_string_value(value), expected);
}

/* The body's subjectAltNames are exactly `expected`, in order. */
static void assert_sans(const json_t *body, const char *const *expected, size_t count)
{
    const json_t *sans = json_object_get(body, "subjectAltNames");
    assert_true(json_is_array(sans));
    assert_int_equal(json_array_size(sans), count);
    for (size_t i = 0; i < count; i++) {
        const json_t *entry = json_array_get(sans, i);
        assert_true(json_is_string(entry));
        assert_string_equal(json_string_value(entry), expected[i]);
    }
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
    pthread_mutex_lock(&seen_lock);
    /* Compact, in the documented order. */
    assert_non_null(strstr(seen_body, "{\"alias\":\"allow\",\"transactionID\":\""));
    assert_null(strpbrk(seen_body, " \n"));
    pthread_mutex_unlock(&seen_lock);
    json_t *body = seen_json();
    assert_int_equal(json_object_size(body), 11);
    assert_member_text(body, "alias", "allow");
    assert_member_text(body, "messageType", "PKCSReq");
    assert_member_text(body, "mode", "ra");
    assert_member_text(body, "username", "hook-dev-1"); /* RA mode's, from the CN */
    assert_member_text(body, "subject", "CN=hook-dev-1,O=Example");
    static const char *const sans[] = {"dns:hook.example", "ip:192.0.2.7"};
    assert_sans(body, sans, 2);
    assert_member_text(body, "keyType", "EC");
    assert_true(json_is_integer(json_object_get(body, "keyBits")));
    assert_int_equal(json_integer_value(json_object_get(body, "keyBits")), 256);
    /* The alias-wide RA secret is never handed out; a device's own code is (below). */
    assert_member_text(body, "challengePassword", NULL);
    assert_member_text(body, "clientAddress", "127.0.0.1");
    assert_true(json_string_length(json_object_get(body, "transactionID")) > 0);
    json_decref(body);
}

static void deny_refuses_with_the_reason(void **state)
{
    (void)state;
    char text[256];
    reset_seen();
    assert_int_equal(enroll("deny", "CN=hook-dev-2", "pw", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    /* The reason, its control character replaced. */
    assert_string_equal(text, "enrollment refused by the authorisation service: "
                              "device not compliant?<b>");
    assert_int_equal(seen(&seen_good_signatures), 1);
    assert_int_equal(enroll("sly", "CN=hook-dev-3", "pw", text, sizeof(text)), SCEP_STATUS_FAILURE);
    assert_string_equal(text, "enrollment refused by the authorisation service");
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
    assert_string_equal(text, "enrollment refused: the authorisation service is unavailable");
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

/* Points the cadeny alias's webhook at the receiver's `path` and reloads the config. */
static void set_cadeny_webhook(const char *path)
{
    static char config[16384];
    FILE *f = fopen(fx.config_path, "r");
    assert_non_null(f);
    size_t len = fread(config, 1, sizeof(config) - 1, f);
    config[len] = '\0';
    fclose(f);
    char *line = strstr(config, "cadeny.webhook.url = ");
    assert_non_null(line);
    char *end = strchr(line, '\n');
    assert_non_null(end);
    f = fopen(fx.config_path, "w");
    assert_non_null(f);
    fprintf(f, "%.*scadeny.webhook.url = http://127.0.0.1:%u%s%s", (int)(line - config), config,
            receiver_port, path, end);
    fclose(f);
    assert_int_equal(scepd_server_reload(&fx.server, "signal"), SCEP_OK);
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
    json_t *body = seen_json();
    assert_member_text(body, "mode", "ca");
    assert_member_text(body, "username", "hook-ca");
    assert_member_text(body, "challengePassword", "ca-pass");
    /* The names as they will be issued: the registered ones, not the CSR's. */
    assert_member_text(body, "subject", "CN=hook-ca");
    static const char *const sans[] = {"dns:hook.example"};
    assert_sans(body, sans, 1);
    json_decref(body);
    /* Another alias, whose webhook would allow, is no way around it: refused before the
     * webhook is asked. */
    assert_int_equal(enroll("caallow", "CN=hook-ca", "ca-pass", text, sizeof(text)),
                     SCEP_STATUS_FAILURE);
    assert_non_null(strstr(text, "does not enroll through this alias"));
    assert_int_equal(seen(&seen_requests), 1);
    /* The refusals did not spend the enrollment code: once the alias's webhook allows,
     * the end entity enrolls. */
    set_cadeny_webhook("/allow");
    assert_int_equal(enroll("cadeny", "CN=hook-ca", "ca-pass", text, sizeof(text)),
                     SCEP_STATUS_SUCCESS);
    assert_int_equal(seen(&seen_good_signatures), 2);
    set_cadeny_webhook("/deny");
}

/* Settings for asking the receiver's `path` directly; `url` and `secret` back the strings. */
static void direct_settings(struct scep_config_alias_settings *settings, char *url, size_t url_size,
                            const char *path, char *secret)
{
    memset(settings, 0, sizeof(*settings));
    snprintf(url, url_size, "http://127.0.0.1:%u%s", receiver_port, path);
    settings->webhook_url = url;
    settings->webhook_secret = secret;
    settings->webhook_timeout = 5;
    settings->webhook_retries = 0;
}

static void push_name(GENERAL_NAMES *names, GENERAL_NAME *name)
{
    assert_non_null(name);
    assert_true(sk_GENERAL_NAME_push(names, name) > 0);
}

/* A name whose value is a string of `len` bytes: IA5String or an IP address's octets. */
static GENERAL_NAME *string_name(int type, const char *data, size_t len)
{
    GENERAL_NAME *name = GENERAL_NAME_new();
    ASN1_STRING *value =
        ASN1_STRING_type_new(type == GEN_IPADD ? V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);
    assert_int_equal(ASN1_STRING_set(value, data, (int)len), 1);
    GENERAL_NAME_set0_value(name, type, value);
    return name;
}

static GENERAL_NAME *other_name(const char *oid, const char *utf8)
{
    GENERAL_NAME *name = GENERAL_NAME_new();
    ASN1_TYPE *value = ASN1_TYPE_new();
    ASN1_UTF8STRING *text = ASN1_UTF8STRING_new();
    assert_int_equal(ASN1_STRING_set(text, utf8, -1), 1);
    ASN1_TYPE_set(value, V_ASN1_UTF8STRING, text);
    assert_int_equal(GENERAL_NAME_set0_othername(name, OBJ_txt2obj(oid, 1), value), 1);
    return name;
}

static GENERAL_NAME *dir_name(const char *dn)
{
    GENERAL_NAME *name = GENERAL_NAME_new();
    X509_NAME *value = NULL;
    assert_int_equal(scep_dn_parse(&value, dn), SCEP_OK);
    GENERAL_NAME_set0_value(name, GEN_DIRNAME, value);
    return name;
}

static GENERAL_NAME *registered_id(const char *oid)
{
    GENERAL_NAME *name = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(name, GEN_RID, OBJ_txt2obj(oid, 1));
    return name;
}

static void ask_writes_every_name_type(void **state)
{
    (void)state;
    struct scep_config_alias_settings settings;
    char url[128], secret[] = SECRET, reason[SCEPD_WEBHOOK_REASON_MAX + 1];
    direct_settings(&settings, url, sizeof(url), "/allow", secret);
    static const unsigned char ipv6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const unsigned char not_an_address[5] = {192, 0, 2, 1, 255};
    /* ediPartyName [5] { partyName [1] UTF8String "abc" }: no text form. */
    static const unsigned char edi_party[] = {0xa5, 0x07, 0xa1, 0x05, 0x0c, 0x03, 'a', 'b', 'c'};
    const unsigned char *edi_der = edi_party;
    GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
    push_name(sans, string_name(GEN_DNS, "dev.example", 11));
    push_name(sans, string_name(GEN_DNS, "nul\0.example", 12));
    push_name(sans, string_name(GEN_DNS, "bad\xff\\.example", 13));
    push_name(sans, string_name(GEN_DNS, "caf\xc3\xa9.example", 13));
    push_name(sans, string_name(GEN_EMAIL, "dev@example.com", 15));
    push_name(sans, string_name(GEN_URI, "https://example.com/?q=\"x\"", 26));
    push_name(sans, string_name(GEN_IPADD, "\xc0\x00\x02\x01", 4));
    push_name(sans, string_name(GEN_IPADD, (const char *)ipv6, sizeof(ipv6)));
    push_name(sans, string_name(GEN_IPADD, (const char *)not_an_address, sizeof(not_an_address)));
    push_name(sans, other_name("1.3.6.1.4.1.311.20.2.3", "upn-user@example.com"));
    push_name(sans, other_name("1.2.3.4", "opaque"));
    push_name(sans, dir_name("CN=dir,O=Example"));
    push_name(sans, registered_id("1.2.3.4.5"));
    push_name(sans, d2i_GENERAL_NAME(NULL, &edi_der, sizeof(edi_party)));
    X509_NAME *subject = NULL;
    assert_int_equal(scep_dn_parse(&subject, "CN=dev-9,O=Example"), SCEP_OK);
    EVP_PKEY *key = test_ec_key("P-384");
    struct scepd_webhook_query query = {
        .alias = "direct",
        .transaction_id = "tid-1",
        .message_type = "RenewalReq",
        .mode = "renewal",
        .username = "dev-9",
        .subject = subject,
        .sans = sans,
        .key = key,
        .challenge_password = NULL,
        .client_addr = "192.0.2.10",
    };
    reset_seen();
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_ALLOW);
    assert_string_equal(reason, "ok");
    assert_int_equal(seen(&seen_good_signatures), 1);
    json_t *body = seen_json();
    assert_member_text(body, "alias", "direct");
    assert_member_text(body, "transactionID", "tid-1");
    assert_member_text(body, "messageType", "RenewalReq");
    assert_member_text(body, "mode", "renewal");
    assert_member_text(body, "username", "dev-9");
    assert_member_text(body, "subject", "CN=dev-9,O=Example");
    assert_member_text(body, "keyType", "EC");
    assert_int_equal(json_integer_value(json_object_get(body, "keyBits")), 384);
    assert_member_text(body, "challengePassword", NULL);
    assert_member_text(body, "clientAddress", "192.0.2.10");
    static const char *const expected[] = {
        "dns:dev.example",
        "dns:nul\\x00.example",
        "dns:bad\\xff\\x5c.example",
        "dns:caf\xc3\xa9.example",
        "email:dev@example.com",
        "uri:https://example.com/?q=\"x\"",
        "ip:192.0.2.1",
        "ip:2001:db8::1",
        "ip:\\xc0\\x00\\x02\\x01\\xff",
        "upn:upn-user@example.com",
        "othername:1.2.3.4",
        "dirname:CN=dir,O=Example",
        "rid:1.2.3.4.5",
        "edipartyname:a507a1050c03616263",
    };
    assert_sans(body, expected, sizeof(expected) / sizeof(expected[0]));
    json_decref(body);
    GENERAL_NAMES_free(sans);
    X509_NAME_free(subject);
    EVP_PKEY_free(key);
}

static void ask_verdicts(void **state)
{
    (void)state;
    struct scep_config_alias_settings settings;
    char url[128], secret[] = SECRET, wrong[] = "wrong", reason[SCEPD_WEBHOOK_REASON_MAX + 1];
    X509_NAME *subject = NULL;
    assert_int_equal(scep_dn_parse(&subject, "CN=dev-10"), SCEP_OK);
    struct scepd_webhook_query query = {.alias = "direct", .mode = "challenge", .subject = subject};

    /* No webhook.url: allowed without asking. */
    direct_settings(&settings, url, sizeof(url), "/allow", secret);
    settings.webhook_url = NULL;
    reset_seen();
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_ALLOW);
    assert_int_equal(seen(&seen_requests), 0);

    direct_settings(&settings, url, sizeof(url), "/deny", secret);
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_DENY);
    assert_string_equal(reason, "device not compliant?<b>");
    direct_settings(&settings, url, sizeof(url), "/sly", secret);
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_DENY);
    assert_string_equal(reason, "");
    direct_settings(&settings, url, sizeof(url), "/allow", wrong);
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_DENY);
    assert_string_equal(reason, "bad signature");
    json_t *body = seen_json();
    assert_member_text(body, "mode", "challenge");
    assert_sans(body, NULL, 0); /* no names: an empty list, not null */
    assert_member_text(body, "keyType", NULL);
    json_decref(body);

    /* A port bound but not listening: refused at once, fail closed or open. */
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof(addr);
    assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(sock, (struct sockaddr *)&addr, &addr_len), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/allow", (unsigned)ntohs(addr.sin_port));
    settings.webhook_secret = secret;
    settings.webhook_retries = 1;
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_UNAVAILABLE);
    assert_true(reason[0] != '\0');
    settings.webhook_failopen = true;
    assert_int_equal(scepd_webhook_ask(&settings, &query, reason, sizeof(reason)),
                     SCEPD_WEBHOOK_ALLOW);
    close(sock);
    X509_NAME_free(subject);
}

static void verdict_parsing(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body;
        enum scepd_webhook_verdict verdict;
        const char *reason;
    } cases[] = {
        {200, "{\"allow\":true}", SCEPD_WEBHOOK_ALLOW, ""},
        {200, " {\n\t\"allow\" :\r\n true , \"reason\": \"ok\"\n}\n", SCEPD_WEBHOOK_ALLOW, "ok"},
        {200, "{\"x\":{\"allow\":false},\"allow\":true,\"n\":[1,2]}", SCEPD_WEBHOOK_ALLOW, ""},
        /* Only 200 allows. */
        {201, "{\"allow\":true}", SCEPD_WEBHOOK_DENY, ""},
        {500, "{\"allow\":true,\"reason\":\"busy\"}", SCEPD_WEBHOOK_DENY, "busy"},
        {403, "{\"allow\":false,\"reason\":\"not here\"}", SCEPD_WEBHOOK_DENY, "not here"},
        /* Only the boolean true. */
        {200, "{\"allow\":\"true\"}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":1}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":[true]}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":null}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":false}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"Allow\":true}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":trueish}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{allow:true}", SCEPD_WEBHOOK_DENY, ""},
        /* One object and nothing else. */
        {200, "{\"allow\":true} x", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":true}{}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":true},", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":true", SCEPD_WEBHOOK_DENY, ""},
        {200, "[{\"allow\":true}]", SCEPD_WEBHOOK_DENY, ""},
        {200, "true", SCEPD_WEBHOOK_DENY, ""},
        {200, "\"allow\":true", SCEPD_WEBHOOK_DENY, ""},
        {200, "", SCEPD_WEBHOOK_DENY, ""},
        /* A key twice is no answer, even twice the same. */
        {200, "{\"allow\":false,\"allow\":true}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":true,\"allow\":true}", SCEPD_WEBHOOK_DENY, ""},
        /* The reason: a string only, printable ASCII, one '?' per other character. */
        {200, "{\"allow\":false,\"reason\":5}", SCEPD_WEBHOOK_DENY, ""},
        {200, "{\"allow\":false,\"reason\":\"caf\\u00e9 \\u0001\\t \\\"x\\\" \xe6\x97\xa5\"}",
         SCEPD_WEBHOOK_DENY, "caf? ?? \"x\" ?"},
    };
    char reason[SCEPD_WEBHOOK_REASON_MAX + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum scepd_webhook_verdict verdict = scepd_webhook_answer_verdict(
            cases[i].status, cases[i].body, strlen(cases[i].body), reason, sizeof(reason));
        if (verdict != cases[i].verdict || strcmp(reason, cases[i].reason) != 0)
            fail_msg("HTTP %ld %s: verdict %d reason \"%s\"", cases[i].status, cases[i].body,
                     (int)verdict, reason);
    }
    /* No body, no reason buffer. */
    assert_int_equal(scepd_webhook_answer_verdict(200, NULL, 0, NULL, 0), SCEPD_WEBHOOK_DENY);
    static const char allow[] = "{\"allow\":true}";
    assert_int_equal(scepd_webhook_answer_verdict(200, allow, strlen(allow), NULL, 0),
                     SCEPD_WEBHOOK_ALLOW);
    /* A NUL inside the body is not the end of it. */
    static const char nul[] = "{\"allow\":true}\0garbage";
    assert_int_equal(scepd_webhook_answer_verdict(200, nul, sizeof(nul) - 1, NULL, 0),
                     SCEPD_WEBHOOK_DENY);
    /* The reason is cut at SCEPD_WEBHOOK_REASON_MAX, or the buffer. */
    char longer[600];
    snprintf(longer, sizeof(longer), "{\"allow\":false,\"reason\":\"%0300d\"}", 7);
    assert_int_equal(
        scepd_webhook_answer_verdict(200, longer, strlen(longer), reason, sizeof(reason)),
        SCEPD_WEBHOOK_DENY);
    assert_int_equal(strlen(reason), SCEPD_WEBHOOK_REASON_MAX);
    char small[4];
    scepd_webhook_answer_verdict(200, longer, strlen(longer), small, sizeof(small));
    assert_string_equal(small, "000");
    /* An answer longer than the webhook reads is not read. */
    size_t padded_len = 9000;
    char *padded = malloc(padded_len + 1);
    assert_non_null(padded);
    memset(padded, ' ', padded_len);
    memcpy(padded, allow, strlen(allow));
    padded[padded_len] = '\0';
    assert_int_equal(scepd_webhook_answer_verdict(200, padded, 8000, NULL, 0), SCEPD_WEBHOOK_ALLOW);
    assert_int_equal(scepd_webhook_answer_verdict(200, padded, padded_len, NULL, 0),
                     SCEPD_WEBHOOK_DENY);
    free(padded);
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
        cmocka_unit_test(ask_writes_every_name_type),
        cmocka_unit_test(ask_verdicts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
