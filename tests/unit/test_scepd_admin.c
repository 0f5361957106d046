/*
 * scepd's admin listener: GET /admin/challenge over HTTP with a bearer token
 * or HTTP Basic; refused without or with wrong credentials (401 and
 * WWW-Authenticate); unknown alias 404; the challenge it hands out enrolls
 * once in an RA-mode alias and is refused the second time.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"
#include "scepd/front/admin.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

static struct scepd_fixture fx;

static const char admin_config[] = "mdm.operationmode = ra\n"
                                   "mdm.ra.onetimechallenges = require\n"
                                   "admin_listen = 127.0.0.1:0\n"
                                   "admin_token = t0ken-for-mdm\n"
                                   "admin_user = mdm\n"
                                   "admin_password = pa:ss word\n"
                                   "admin_challenge_ttl = 10m\n";

static int setup(void **state)
{
    (void)state;
    scepd_fixture_start(&fx, NULL, 0, admin_config);
    assert_non_null(fx.server.admin_http);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    return 0;
}

struct reply {
    long status;
    char body[512];
    size_t len;
    char www_authenticate[256];
    int frame_denied; /* X-Frame-Options: DENY */
    int no_store;     /* Cache-Control: no-store */
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct reply *reply = user;
    size_t len = size * n;
    if (len > sizeof(reply->body) - 1 - reply->len)
        len = sizeof(reply->body) - 1 - reply->len;
    memcpy(reply->body + reply->len, data, len);
    reply->len += len;
    reply->body[reply->len] = '\0';
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    struct reply *reply = user;
    size_t len = size * n;
    static const char name[] = "WWW-Authenticate:";
    if (len >= 22 && strncasecmp(data, "X-Frame-Options: DENY", 21) == 0)
        reply->frame_denied = 1;
    if (len >= 24 && strncasecmp(data, "Cache-Control: no-store", 23) == 0)
        reply->no_store = 1;
    /* One challenge per line: the lines are joined. */
    if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        size_t used = strlen(reply->www_authenticate);
        size_t copy = len - (sizeof(name) - 1);
        if (copy >= sizeof(reply->www_authenticate) - used)
            copy = sizeof(reply->www_authenticate) - used - 1;
        memcpy(reply->www_authenticate + used, data + sizeof(name) - 1, copy);
        reply->www_authenticate[used + copy] = '\0';
    }
    return len;
}

/*
 * GET `url` with `auth` (an Authorization header value, or NULL) and `extra` (one more
 * header line, or NULL); `ca_file` for HTTPS.
 */
static void get_url(struct reply *reply, const char *url, const char *auth, const char *extra,
                    const char *ca_file)
{
    char header[512];
    memset(reply, 0, sizeof(*reply));
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct curl_slist *headers = NULL;
    if (auth != NULL) {
        snprintf(header, sizeof(header), "Authorization: %s", auth);
        headers = curl_slist_append(headers, header);
    }
    if (extra != NULL)
        headers = curl_slist_append(headers, extra);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    if (ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

/* A self-signed certificate for 127.0.0.1 and its key, as 0600 PEM files in `dir`. */
static void write_tls_files(char *cert_path, char *key_path, size_t size, const char *dir)
{
    EVP_PKEY *key = test_ec_key("P-256");
    X509 *cert = X509_new();
    assert_non_null(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    snprintf(cert_path, size, "%s/admin.crt", dir);
    snprintf(key_path, size, "%s/admin.key", dir);
    FILE *file = fopen(cert_path, "w");
    assert_non_null(file);
    assert_int_equal(PEM_write_X509(file, cert), 1);
    fclose(file);
    int fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    file = fdopen(fd, "w");
    assert_non_null(file);
    assert_int_equal(PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(file);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* GET the admin path `query` with `auth` (an Authorization header value, or NULL). */
static void admin_get(struct reply *reply, const char *query, const char *auth)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", scepd_http_port(fx.server.admin_http, 0),
             query);
    get_url(reply, url, auth, NULL, NULL);
}

static void assert_challenge(const struct reply *reply)
{
    assert_int_equal(reply->status, 200);
    assert_int_equal(reply->len, SCEP_CHALLENGE_LEN + 1);
    assert_int_equal(reply->body[SCEP_CHALLENGE_LEN], '\n');
    for (size_t i = 0; i < SCEP_CHALLENGE_LEN; i++)
        assert_non_null(strchr("0123456789abcdef", reply->body[i]));
}

static scep_pki_status enroll(const char *alias, const char *dn, const char *challenge)
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
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    scep_enroll_request request = {.csr = req, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll: %s", scep_error_message());
    scep_pki_status status = scep_result_status(result);
    scep_result_free(result);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    scep_client_free(client);
    return status;
}

/* How many admin_login events with `outcome` the audit trail holds, and the chain intact. */
static size_t login_events(const char *outcome)
{
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    size_t found = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, store, 0), SCEP_OK);
    for (size_t i = 0; i < count; i++)
        if (strcmp(events[i].action, "admin_login") == 0 &&
            strcmp(events[i].outcome, outcome) == 0) {
            /* The client and scheme, never the credentials. */
            assert_non_null(strstr(events[i].detail, "scheme "));
            assert_null(strstr(events[i].detail, "t0ken"));
            found++;
        }
    scep_store_audit_list_free(events, count);
    scep_store_audit_check check;
    assert_int_equal(scep_store_audit_verify(&check, store), SCEP_OK);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    scep_store_close(store);
    return found;
}

static void refused_without_or_with_wrong_credentials(void **state)
{
    (void)state;
    struct reply reply;
    const char *wrong[] = {
        NULL,
        "Bearer wrong-token",
        "Bearer t0ken-for-md",
        "Bearer t0ken-for-mdm-and-more",
        "Bearer ",
        "Basic bWRtOndyb25n",             /* mdm:wrong */
        "Basic bWRtOnBhOnNzIHdvcg==",     /* mdm:pa:ss wor */
        "Basic YWRtaW46cGE6c3Mgd29yZA==", /* admin:pa:ss word */
        "Basic !!!!",
        "Digest username=\"mdm\"",
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        admin_get(&reply, "/admin/challenge?alias=mdm", wrong[i]);
        assert_int_equal(reply.status, 401);
        assert_non_null(strstr(reply.www_authenticate, "Bearer"));
        assert_non_null(strstr(reply.www_authenticate, "Basic"));
        assert_null(strstr(reply.body, "t0ken"));
    }
    /* Even unknown paths answer 401 to strangers. */
    size_t denied = login_events("denied");
    assert_true(denied >= sizeof(wrong) / sizeof(wrong[0]));
    admin_get(&reply, "/admin/other", NULL);
    assert_int_equal(reply.status, 401);
    assert_int_equal(login_events("denied"), denied + 1);
}

static void bearer_challenge_enrolls_once(void **state)
{
    (void)state;
    struct reply reply;
    size_t logins = login_events("ok");
    admin_get(&reply, "/admin/challenge?alias=mdm", "Bearer t0ken-for-mdm");
    assert_challenge(&reply);
    assert_int_equal(login_events("ok"), logins + 1);
    char challenge[SCEP_CHALLENGE_LEN + 1];
    memcpy(challenge, reply.body, SCEP_CHALLENGE_LEN);
    challenge[SCEP_CHALLENGE_LEN] = '\0';

    /* A second request gets a different challenge. */
    struct reply other;
    admin_get(&other, "/admin/challenge?alias=mdm", "Bearer t0ken-for-mdm");
    assert_challenge(&other);
    assert_memory_not_equal(other.body, challenge, SCEP_CHALLENGE_LEN);

    assert_int_equal(enroll("mdm", "CN=admin-dev-1", "not-a-challenge"), SCEP_STATUS_FAILURE);
    assert_int_equal(enroll("mdm", "CN=admin-dev-1", challenge), SCEP_STATUS_SUCCESS);
    /* Spent: a new request (new key, new transaction) with it is refused. */
    assert_int_equal(enroll("mdm", "CN=admin-dev-2", challenge), SCEP_STATUS_FAILURE);
}

static void basic_auth_ttl_and_subject(void **state)
{
    (void)state;
    struct reply reply;
    /* mdm:pa:ss word */
    admin_get(&reply, "/admin/challenge?alias=mdm&ttl=90s&subject=CN%3Dmdm-%2A",
              "Basic bWRtOnBhOnNzIHdvcmQ=");
    assert_challenge(&reply);
    char challenge[SCEP_CHALLENGE_LEN + 1];
    memcpy(challenge, reply.body, SCEP_CHALLENGE_LEN);
    challenge[SCEP_CHALLENGE_LEN] = '\0';
    /* The subject pattern was stored: another subject is refused, and spends it. */
    assert_int_equal(enroll("mdm", "CN=other", challenge), SCEP_STATUS_FAILURE);
    admin_get(&reply, "/admin/challenge?alias=mdm&subject=CN%3Dmdm-%2A",
              "Basic bWRtOnBhOnNzIHdvcmQ=");
    assert_challenge(&reply);
    memcpy(challenge, reply.body, SCEP_CHALLENGE_LEN);
    assert_int_equal(enroll("mdm", "CN=mdm-7", challenge), SCEP_STATUS_SUCCESS);

    admin_get(&reply, "/admin/challenge?alias=mdm&ttl=forever", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 400);
    admin_get(&reply, "/admin/challenge?alias=mdm&ttl=31d", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 400);
    /* Malformed escapes and an escaped NUL are refused, not passed on or cut short. */
    admin_get(&reply, "/admin/challenge?alias=mdm&subject=CN%3Dx%zz", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 400);
    admin_get(&reply, "/admin/challenge?alias=mdm&subject=CN%3Dx%00y", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 400);
    admin_get(&reply, "/admin/challenge?alias=mdm%", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 400);
    /* '+' is a space in a query value: "mdm+" is not the alias "mdm". */
    admin_get(&reply, "/admin/challenge?alias=md%6D", "Bearer t0ken-for-mdm");
    assert_challenge(&reply);
    admin_get(&reply, "/admin/challenge?alias=mdm+", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 404);
}

static void unknown_alias_and_path(void **state)
{
    (void)state;
    struct reply reply;
    admin_get(&reply, "/admin/challenge?alias=nope", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 404);
    admin_get(&reply, "/admin/challenge", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 400);
    admin_get(&reply, "/admin/other?alias=mdm", "Bearer t0ken-for-mdm");
    assert_int_equal(reply.status, 404);
}

/*
 * The web console's files need no credentials and leave no login event; every answer
 * carries the security headers; a change from another origin is refused before the
 * credentials are looked at (GET /admin/challenge is one: it stores a challenge).
 */
static void console_files_and_cross_origin_changes(void **state)
{
    (void)state;
    struct reply reply;
    char url[512], origin[600];
    size_t logins = login_events("ok") + login_events("denied");
    static const char *const files[] = {"/admin/", "/admin", "/admin/console.js",
                                        "/admin/console.css", "/admin/favicon.svg"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        admin_get(&reply, files[i], NULL);
        assert_int_equal(reply.status, 200);
        assert_true(reply.len > 0);
        assert_true(reply.frame_denied);
        assert_true(reply.no_store);
    }
    admin_get(&reply, "/admin/", NULL);
    assert_non_null(strstr(reply.body, "<!DOCTYPE html>"));
    assert_int_equal(login_events("ok") + login_events("denied"), logins);
    admin_get(&reply, "/admin/console.jsx", NULL);
    assert_int_equal(reply.status, 401);
    assert_true(reply.frame_denied);

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/admin/challenge?alias=mdm",
             scepd_http_port(fx.server.admin_http, 0));
    size_t denied = login_events("denied");
    static const char *const forged[] = {
        "Origin: http://evil.example",
        "Origin: null",
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    };
    for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        get_url(&reply, url, "Bearer t0ken-for-mdm", forged[i], NULL);
        assert_int_equal(reply.status, 403);
        assert_non_null(strstr(reply.body, "origin"));
        assert_true(reply.frame_denied);
    }
    /* The port is part of the origin: the same host on another port is another origin. */
    snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%u",
             scepd_http_port(fx.server.admin_http, 0) + 1);
    get_url(&reply, url, "Bearer t0ken-for-mdm", origin, NULL);
    assert_int_equal(reply.status, 403);
    /* Refused before authentication: no login, failed or not, is recorded. */
    assert_int_equal(login_events("denied"), denied);
    snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%u",
             scepd_http_port(fx.server.admin_http, 0));
    get_url(&reply, url, "Bearer t0ken-for-mdm", origin, NULL);
    assert_challenge(&reply);
    get_url(&reply, url, "Bearer t0ken-for-mdm", "Sec-Fetch-Site: same-origin", NULL);
    assert_challenge(&reply);
}

/* admin_tls_cert/key: the admin listener speaks HTTPS (a second scepd in this process). */
static void https_admin_listener(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char cert_path[512], key_path[512], config[2048];
    write_tls_files(cert_path, key_path, sizeof(cert_path), dir);
    snprintf(config, sizeof(config),
             "tls.operationmode = ra\ntls.ra.onetimechallenges = require\n"
             "admin_listen = 127.0.0.1:0\nadmin_token = tls-token\n"
             "admin_tls_cert = %s\nadmin_tls_key = %s\n",
             cert_path, key_path);
    struct scepd_fixture tls_fx;
    scepd_fixture_start(&tls_fx, NULL, 0, config);
    char url[512];
    unsigned port = scepd_http_port(tls_fx.server.admin_http, 0);
    struct reply reply;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/admin/challenge?alias=tls", port);
    get_url(&reply, url, "Bearer tls-token", NULL, cert_path);
    assert_challenge(&reply);
    get_url(&reply, url, "Bearer wrong", NULL, cert_path);
    assert_int_equal(reply.status, 401);
    /* Plain HTTP on the TLS port gets no answer. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/admin/challenge?alias=tls", port);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    long status = 0;
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    assert_true(rc != CURLE_OK || status != 200);
    scepd_fixture_stop(&tls_fx);
    test_rmdir(dir);
    free(dir);
}

/* scepd_admin_start on a server whose configuration is `text`; returns its result. */
static int admin_start_with(const char *text)
{
    scep_config *config = NULL;
    assert_int_equal(scep_config_parse(&config, "test", text, strlen(text)), SCEP_OK);
    struct scepd_generation generation = {.config = config};
    /* The server's own reference, never given back: the generation is on the stack. */
    atomic_init(&generation.refs, 1);
    struct scepd_server server;
    memset(&server, 0, sizeof(server));
    pthread_mutex_init(&server.generation_lock, NULL);
    server.generation = &generation;
    int rc = scepd_admin_start(&server);
    scepd_http_stop(server.admin_http, 0);
    pthread_mutex_destroy(&server.generation_lock);
    scep_config_free(config);
    return rc;
}

/* Refusals to start: no credentials, half of Basic, half of TLS, a readable TLS key. */
static void start_refusals(void **state)
{
    (void)state;
    assert_int_equal(admin_start_with("threads = 1\n"), SCEP_OK); /* no admin_listen */
    assert_int_equal(admin_start_with("admin_listen = 127.0.0.1:0\n"), SCEP_ECONFIG);
    assert_int_equal(admin_start_with("admin_listen = 127.0.0.1:0\nadmin_user = u\n"),
                     SCEP_ECONFIG);
    assert_int_equal(admin_start_with("admin_listen = 127.0.0.1:0\nadmin_token = t\n"), SCEP_OK);
    char *dir = test_tmpdir();
    char cert_path[512], key_path[512], config[2048];
    write_tls_files(cert_path, key_path, sizeof(cert_path), dir);
    snprintf(config, sizeof(config),
             "admin_listen = 127.0.0.1:0\nadmin_token = t\nadmin_tls_cert = %s\n", cert_path);
    assert_int_equal(admin_start_with(config), SCEP_ECONFIG);
    snprintf(config, sizeof(config),
             "admin_listen = 127.0.0.1:0\nadmin_token = t\nadmin_tls_cert = %s\n"
             "admin_tls_key = %s\n",
             cert_path, key_path);
    assert_int_equal(admin_start_with(config), SCEP_OK);
    assert_int_equal(chmod(key_path, 0644), 0);
    assert_int_equal(admin_start_with(config), SCEP_EPERM);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_without_or_with_wrong_credentials),
        cmocka_unit_test(bearer_challenge_enrolls_once),
        cmocka_unit_test(basic_auth_ttl_and_subject),
        cmocka_unit_test(unknown_alias_and_path),
        cmocka_unit_test(console_files_and_cross_origin_changes),
        cmocka_unit_test(https_admin_listener),
        cmocka_unit_test(start_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
