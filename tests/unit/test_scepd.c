/*
 * scepd end to end in CA mode, driven over HTTP by libscep's client: the
 * capabilities and CA certificate it serves, enrollment with an end entity's
 * one-time code, retransmission, refusals as signed CertRep FAILURE, polling,
 * GetCert, GetCRL, and the HTTP errors for what is not SCEP at all; a CA added to the
 * store while scepd serves, picked up without a signal, with requests and reloads racing.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <string.h>

static struct scepd_fixture fx;
static EVP_PKEY *ca_public;

/* Each end entity enrolls through its own alias: device-3 through mdm, legacy-dev through old. */
static void add_alias_users(struct scepd_fixture *f, scep_store *store)
{
    (void)f;
    scep_store_end_entity mdm = {
        .username = "device-3", .subject_dn = "CN=device-3", .ca_name = "demo", .alias = "mdm"};
    assert_int_equal(scep_store_ee_add(store, &mdm, "code-3"), SCEP_OK);
    scep_store_end_entity old = {
        .username = "legacy-dev", .subject_dn = "CN=legacy-dev", .ca_name = "demo", .alias = "old"};
    assert_int_equal(scep_store_ee_add(store, &old, "leg-code"), SCEP_OK);
}

static int setup(void **state)
{
    (void)state;
    static const char *const users[] = {"device-1:code-1", "device-2:code-2", "race:race-code",
                                        "getter:get-code"};
    scepd_fixture_start_prepared(&fx, users, sizeof(users) / sizeof(users[0]),
                                 "mdm.includeca = false\n"
                                 "old.legacy = true\n"
                                 "legacy_algorithms = true\n"
                                 "store_poll_interval = 1s\n",
                                 add_alias_users);
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

static scep_client *client_for(const char *alias, int force_get, int legacy)
{
    char url[512];
    if (alias == NULL)
        snprintf(url, sizeof(url), "%s", fx.url);
    else
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {
        .url = url, .ca_cert = fx.ca_cert, .force_get = force_get, .legacy = legacy, .proxy = ""};
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return client;
}

static scep_result *enroll_as(scep_client *client, EVP_PKEY *key, const char *cn,
                              const char *challenge)
{
    X509_REQ *csr = test_csr(key, cn, challenge);
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll %s: %s", cn, scep_error_message());
    X509_REQ_free(csr);
    return result;
}

static void caps_and_ca_certificate(void **state)
{
    (void)state;
    scep_client *client = client_for(NULL, 0, 0);
    scep_caps caps = 0;
    assert_int_equal(scep_client_get_caps(client, &caps, NULL), SCEP_OK);
    /* interop.md §16 and strongSwan's check: SHA-384 is listed; no Renewal when it is off. */
    scep_caps expected = SCEP_CAP_AES | SCEP_CAP_DES3 | SCEP_CAP_POST_PKI_OPERATION |
                         SCEP_CAP_SHA1 | SCEP_CAP_SHA256 | SCEP_CAP_SHA384 | SCEP_CAP_SHA512 |
                         SCEP_CAP_SCEP_STANDARD;
    assert_int_equal(caps, expected);
    scep_ca_certs *certs = NULL;
    assert_int_equal(scep_client_get_ca(client, &certs, "SomeUnknownCAIdentifier"), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);
}

static void enrollment_with_the_code_then_code_is_spent(void **state)
{
    (void)state;
    scep_client *client = client_for(NULL, 0, 0);
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_as(client, key, "device-1", "code-1");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = scep_result_cert(result);
    assert_non_null(cert);
    assert_int_equal(X509_verify(cert, ca_public), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(fx.ca_cert)),
                     0);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
    /* includeca defaults to true: the CA follows the issued certificate. */
    assert_int_equal(sk_X509_num(scep_result_certs(result)), 2);
    long serial = 0;
    (void)serial;
    X509 *first = X509_dup(cert);
    scep_result_free(result);

    /* A retransmission (same key, same transactionID) gets the same certificate. */
    result = enroll_as(client, key, "device-1", "code-1");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_result_cert(result), first), 0);
    scep_result_free(result);

    /* A new key for the same end entity: the code is spent. */
    EVP_PKEY *key2 = test_rsa_key(2048);
    result = enroll_as(client, key2, "device-1", "code-1");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    assert_non_null(strstr(scep_result_fail_info_text(result), "already used"));
    scep_result_free(result);

    /* After an operator reset the device enrolls again. */
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(scep_store_ee_reset(store, "device-1", "code-1b"), SCEP_OK);
    scep_store_close(store);
    result = enroll_as(client, key2, "device-1", "code-1b");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_not_equal(X509_cmp(scep_result_cert(result), first), 0);
    scep_result_free(result);

    X509_free(first);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
    scep_client_free(client);
}

static void wrong_code_and_unknown_user_are_failures(void **state)
{
    (void)state;
    scep_client *client = client_for(NULL, 0, 0);
    EVP_PKEY *key = test_ec_key("P-256");
    scep_result *result = enroll_as(client, key, "device-2", "not-the-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    const char *wrong_text = scep_result_fail_info_text(result);
    assert_non_null(wrong_text);
    char saved[256];
    snprintf(saved, sizeof(saved), "%s", wrong_text);
    scep_result_free(result);

    result = enroll_as(client, key, "nobody", "code-2");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    /* Same text for both: the answer does not reveal which usernames exist. */
    assert_string_equal(scep_result_fail_info_text(result), saved);
    scep_result_free(result);

    /* No challengePassword at all. */
    result = enroll_as(client, key, "device-2", NULL);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    scep_result_free(result);

    /* The refusals did not spend the code: an EC P-256 key enrolls. */
    result = enroll_as(client, key, "device-2", "code-2");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

struct race {
    scep_client *client;
    EVP_PKEY *key;
    scep_pki_status status;
};

static void *race_enroll(void *arg)
{
    struct race *r = arg;
    X509_REQ *csr = test_csr(r->key, "race", "race-code");
    scep_enroll_request request = {.csr = csr, .key = r->key};
    scep_result *result = NULL;
    r->status = (scep_pki_status)-1;
    if (scep_client_enroll(r->client, &result, &request) == SCEP_OK)
        r->status = scep_result_status(result);
    scep_result_free(result);
    X509_REQ_free(csr);
    return NULL;
}

static void one_code_under_concurrency_gives_one_certificate(void **state)
{
    (void)state;
    enum { N = 6 };
    scep_client *client = client_for(NULL, 0, 0);
    struct race races[N];
    pthread_t threads[N];
    for (int i = 0; i < N; i++) {
        races[i].client = client;
        races[i].key = test_rsa_key(2048);
        assert_int_equal(pthread_create(&threads[i], NULL, race_enroll, &races[i]), 0);
    }
    int successes = 0, failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        successes += races[i].status == SCEP_STATUS_SUCCESS;
        failures += races[i].status == SCEP_STATUS_FAILURE;
        EVP_PKEY_free(races[i].key);
    }
    assert_int_equal(successes, 1);
    assert_int_equal(failures, N - 1);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_cert *certs = NULL;
    size_t count = 0;
    scep_store_cert_filter filter = {.ca_name = "demo"};
    assert_int_equal(scep_store_cert_list(&certs, &count, store, &filter), SCEP_OK);
    int for_race = 0;
    for (size_t i = 0; i < count; i++)
        for_race += certs[i].username != NULL && strcmp(certs[i].username, "race") == 0;
    assert_int_equal(for_race, 1);
    scep_store_cert_list_free(certs, count);
    scep_store_close(store);
    scep_client_free(client);
}

static void get_form_alias_without_ca_and_legacy(void **state)
{
    (void)state;
    /* GET PKIOperation with base64 in the query, on an alias with includeca off. */
    scep_client *client = client_for("mdm", 1, 0);
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_as(client, key, "device-3", "code-3");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(sk_X509_num(scep_result_certs(result)), 1);
    scep_result_free(result);
    EVP_PKEY_free(key);
    scep_client_free(client);

    /* Legacy alias: a DES + SHA-1 request is answered in kind. */
    scep_client_options options = {.url = NULL};
    (void)options;
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/old/pkiclient.exe", fx.port);
    scep_client_options legacy = {.url = url,
                                  .ca_cert = fx.ca_cert,
                                  .legacy = 1,
                                  .digest = SCEP_DIGEST_SHA1,
                                  .cipher = SCEP_CIPHER_DES,
                                  .proxy = ""};
    assert_int_equal(scep_client_new(&client, &legacy), SCEP_OK);
    key = test_rsa_key(2048);
    result = enroll_as(client, key, "legacy-dev", "leg-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(scep_result_cipher(result), SCEP_CIPHER_DES);
    assert_int_equal(scep_result_digest(result), SCEP_DIGEST_SHA1);
    scep_result_free(result);
    scep_client_free(client);

    /* The default alias refuses single DES with badAlg, as a signed CertRep. */
    legacy.url = fx.url;
    assert_int_equal(scep_client_new(&client, &legacy), SCEP_OK);
    result = enroll_as(client, key, "legacy-dev", "leg-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_ALG);
    scep_result_free(result);
    scep_client_free(client);
    EVP_PKEY_free(key);
}

static void get_cert_and_crl(void **state)
{
    (void)state;
    scep_client *client = client_for(NULL, 0, 0);
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_as(client, key, "getter", "get-code");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = X509_dup(scep_result_cert(result));
    scep_result_free(result);

    assert_int_equal(
        scep_client_get_cert(client, &result, X509_get0_serialNumber(cert), cert, key, NULL),
        SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_result_cert(result), cert), 0);
    scep_result_free(result);

    ASN1_INTEGER *missing = ASN1_INTEGER_new();
    ASN1_INTEGER_set(missing, 12345);
    assert_int_equal(scep_client_get_cert(client, &result, missing, cert, key, NULL), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_CERT_ID);
    scep_result_free(result);
    ASN1_INTEGER_free(missing);

    assert_int_equal(scep_client_get_crl(client, &result, cert, key, NULL), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_non_null(scep_result_crl(result));
    assert_int_equal(X509_CRL_verify(scep_result_crl(result), ca_public), 1);
    scep_result_free(result);

    X509_free(cert);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

struct http_reply {
    long status;
    char body[512];
    size_t len;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_reply *r = userdata;
    size_t n = size * nmemb;
    if (n > sizeof(r->body) - 1 - r->len)
        n = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return size * nmemb;
}

static struct http_reply http(const char *path_and_query, const char *post, size_t post_len)
{
    struct http_reply r = {0};
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", fx.port, path_and_query);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    if (post != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)post_len);
    }
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(curl);
    return r;
}

static void what_is_not_scep_gets_http_errors(void **state)
{
    (void)state;
    struct http_reply r = http("/scep/nosuchalias/pkiclient.exe?operation=GetCACaps", NULL, 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "unknown SCEP alias"));
    r = http("/index.html", NULL, 0);
    assert_int_equal(r.status, 404);
    r = http("/scep/pkiclient.exe?operation=Nonsense", NULL, 0);
    assert_int_equal(r.status, 400);
    r = http("/scep/pkiclient.exe?operation=PKIOperation&message=%%%%garbage!!", NULL, 0);
    assert_int_equal(r.status, 400);
    r = http("/scep/pkiclient.exe?operation=PKIOperation", "not a pkiMessage", 16);
    assert_int_equal(r.status, 400);
    /* A truncated real request is refused and the server keeps serving. */
    size_t len = 0;
    unsigned char *der = test_read_file("vectors/peers/micromdm/certmonger-pkcsreq.der", &len);
    r = http("/scep/pkiclient.exe?operation=PKIOperation", (const char *)der, len / 2);
    assert_int_equal(r.status, 400);
    free(der);
    /* EJBCA and the RFC's own paths reach the same service. */
    r = http("/ejbca/publicweb/apply/scep/pkiclient.exe?operation=GetCACaps", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "SCEPStandard"));
    r = http("/cgi-bin/pkiclient.exe?operation=GetCACaps", NULL, 0);
    assert_int_equal(r.status, 200);
}

/* ---- the store watched while serving (last: it changes the server's state) ------------ */

struct hammer {
    atomic_int stop;
    atomic_uint ok, other;
};

/* Requests in a loop while generations come and go: none may fail or touch a freed one. */
static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 2000 && !atomic_load(&h->stop); i++) {
        struct http_reply r = http(i % 2 ? "/scep/pkiclient.exe?operation=GetCACert"
                                         : "/scep/mdm/pkiclient.exe?operation=GetCACaps",
                                   NULL, 0);
        atomic_fetch_add(r.status == 200 ? &h->ok : &h->other, 1);
    }
    return NULL;
}

static X509 *get_ca_of(const char *alias, X509 *trust)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {.url = url, .ca_cert = trust, .proxy = ""};
    scep_client *client = NULL;
    scep_ca_certs *certs = NULL;
    X509 *ca = NULL;
    if (scep_client_new(&client, &options) == SCEP_OK &&
        scep_client_get_ca(client, &certs, NULL) == SCEP_OK)
        ca = X509_dup(scep_ca_certs_ca(certs));
    scep_ca_certs_free(certs);
    scep_client_free(client);
    return ca;
}

static void ca_added_to_the_store_is_served_without_a_signal(void **state)
{
    (void)state;
    struct hammer h = {0};
    enum { THREADS = 3 };
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer_main, &h), 0);

    /* The file names the CA before the store has it: the reload fails and is retried. */
    FILE *f = fopen(fx.config_path, "a");
    assert_non_null(f);
    /* With two CAs, an alias without defaultca would no longer know its CA. */
    fprintf(f, "scep.defaultca = demo\nmdm.defaultca = demo\nold.defaultca = demo\n"
               "late.defaultca = late\n");
    fclose(f);
    sleep(2);
    struct http_reply r = http("/scep/late/pkiclient.exe?operation=GetCACaps", NULL, 0);
    assert_int_equal(r.status, 404);
    r = http("/healthz", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");

    char cert_path[600], key_path[600];
    snprintf(cert_path, sizeof(cert_path), "%s/late.pem", fx.dir);
    snprintf(key_path, sizeof(key_path), "%s/late.key", fx.dir);
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = "CN=late CA,O=scepd";
    options.rsa_bits = 2048;
    options.validity_days = 30;
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_create(&ca, &options), SCEP_OK);
    assert_int_equal(scep_ca_save(ca, cert_path, key_path, NULL), SCEP_OK);
    X509 *late = X509_dup(scep_ca_cert(ca));
    scep_ca_free(ca);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, late), 1);
    char *data = NULL;
    long pem_len = BIO_get_mem_data(bio, &data);
    char *pem = strndup(data, (size_t)pem_len);
    BIO_free(bio);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_ca row = {.name = "late", .cert_pem = pem, .key_ref = key_path};
    assert_int_equal(scep_store_ca_add(store, &row), SCEP_OK);
    scep_store_close(store);
    free(pem);

    /* Reloads by signal race the watcher's and the requests. */
    for (int i = 0; i < 5; i++)
        if (scepd_server_reload(&fx.server, "signal") != SCEP_OK)
            fail_msg("reload: %s", scep_error_message());
    X509 *served = NULL;
    for (int i = 0; i < 100 && served == NULL; i++) {
        served = get_ca_of("late", late);
        if (served == NULL)
            usleep(100 * 1000);
    }
    assert_non_null(served);
    assert_int_equal(X509_cmp(served, late), 0);
    X509_free(served);
    X509_free(late);

    atomic_store(&h.stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_true(atomic_load(&h.ok) > 0);
    assert_int_equal(atomic_load(&h.other), 0);
}

/* ---- a store that cannot be reached ------------------------------------------------- */

static int unreachable(scep_store **out, const char *url, const scep_store_open_options *options)
{
    (void)url;
    (void)options;
    *out = NULL;
    return SCEP_EUNAVAILABLE;
}

struct raw_reply {
    long status;
    char body[256];
    char headers[2048];
};

static size_t collect_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char *buf = userdata;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n >= 255)
        n = have < 255 ? 255 - have : 0;
    memcpy(buf + have, ptr, n);
    buf[have + n] = '\0';
    return size * nmemb;
}

static size_t collect_headers(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char *buf = userdata;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n >= 2047)
        n = have < 2047 ? 2047 - have : 0;
    memcpy(buf + have, ptr, n);
    buf[have + n] = '\0';
    return size * nmemb;
}

static struct raw_reply get_on(unsigned port, const char *path)
{
    struct raw_reply r;
    memset(&r, 0, sizeof(r));
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_headers);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r.headers);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(curl);
    return r;
}

/* A lost store is 503 with Retry-After, never a CertRep FAILURE, and writes nothing. */
static void unreachable_store_is_503_and_nothing_is_written(void **state)
{
    (void)state;
    struct scepd_fixture down;
    static const char *const users[] = {"dev:dev-code"};
    scepd_fixture_start(&down, users, 1, NULL);
    /* Before any request: no worker thread holds a connection yet. */
    atomic_store(&down.server.store_open, unreachable);

    struct raw_reply r = get_on(down.port, "/healthz");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "store unreachable"));
    assert_non_null(strstr(r.headers, "Retry-After: 10"));
    r = get_on(down.port, "/crl/demo.crl");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.headers, "Retry-After: 10"));
    /* What needs no store is still served. */
    r = get_on(down.port, "/scep/pkiclient.exe?operation=GetCACaps");
    assert_int_equal(r.status, 200);

    scep_client_options options = {.url = down.url, .ca_cert = down.ca_cert, .proxy = ""};
    scep_client *client = NULL;
    assert_int_equal(scep_client_new(&client, &options), SCEP_OK);
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "dev", "dev-code");
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_EHTTP);
    assert_non_null(strstr(scep_error_message(), "503"));
    assert_null(result);

    scep_store *store = scepd_fixture_store(&down);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "dev"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_NEW); /* the code is not spent */
    scep_store_ee_free(ee);
    int64_t requests = 0;
    assert_int_equal(scep_store_request_count(&requests, store, SCEP_REQ_PENDING, NULL), SCEP_OK);
    assert_int_equal(requests, 0);

    /* The store is back: the same request is issued. */
    atomic_store(&down.server.store_open, NULL);
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    r = get_on(down.port, "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");

    scep_store_close(store);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    scep_client_free(client);
    scepd_fixture_stop(&down);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caps_and_ca_certificate),
        cmocka_unit_test(enrollment_with_the_code_then_code_is_spent),
        cmocka_unit_test(wrong_code_and_unknown_user_are_failures),
        cmocka_unit_test(one_code_under_concurrency_gives_one_certificate),
        cmocka_unit_test(get_form_alias_without_ca_and_legacy),
        cmocka_unit_test(get_cert_and_crl),
        cmocka_unit_test(what_is_not_scep_gets_http_errors),
        cmocka_unit_test(ca_added_to_the_store_is_served_without_a_signal),
        cmocka_unit_test(unreachable_store_is_503_and_nothing_is_written),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
