/*
 * RA certificates for an alias (src/scepd/racert.c, interop.md §9, §13, §14, §17): GetCACert
 * lists the RA certificate(s) first as application/x-x509-ca-ra-cert, requests
 * encrypted to the RA are opened with the RA key (the CA key stays a candidate),
 * replies are signed by the RA signing certificate, the CA still issues; bad RA
 * certificates and keys are refused when the alias is loaded.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct scepd_fixture fx;
static char aliases_config[8192];
static X509 *ra_single, *ra_enc, *ra_sign;

static X509 *issue_ra(const scep_ca *ca, const char *dir, const char *name, const char *cn,
                      const char *key_usage)
{
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, cn, NULL);
    scep_profile profile;
    scep_profile_init(&profile);
    profile.validity_days = 30;
    profile.key_usage = key_usage;
    profile.extended_key_usage = "";
    scep_issue_request request = {.csr = csr};
    X509 *cert = NULL;
    if (scep_ca_issue(&cert, ca, &profile, &request) != SCEP_OK)
        fail_msg("issue %s: %s", cn, scep_error_message());
    char path[600];
    snprintf(path, sizeof(path), "%s/ra-%s.pem", dir, name);
    assert_int_equal(scep_cert_save(path, cert, SCEP_ENCODING_PEM), SCEP_OK);
    snprintf(path, sizeof(path), "%s/ra-%s.key", dir, name);
    assert_int_equal(scep_key_save(path, key, NULL), SCEP_OK);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    return cert;
}

/* The end entities, each registered for the RA alias it enrolls through. */
static void add_users(scep_store *store)
{
    static const char *const users[][3] = {
        {"single-dev", "c1", "single"}, {"raw-single", "c5", "single"},
        {"split-dev", "c2", "split"},   {"raw-ra", "c3", "split"},
        {"raw-ca", "c4", "split"},
    };
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        char dn[64];
        snprintf(dn, sizeof(dn), "CN=%s", users[i][0]);
        scep_store_end_entity ee = {
            .username = users[i][0], .subject_dn = dn, .ca_name = "demo", .alias = users[i][2]};
        assert_int_equal(scep_store_ee_add(store, &ee, users[i][1]), SCEP_OK);
    }
}

static void prepare(struct scepd_fixture *f, scep_store *store)
{
    add_users(store);
    char cert_path[600], key_path[600];
    snprintf(cert_path, sizeof(cert_path), "%s/ca.pem", f->dir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", f->dir);
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_import(&ca, NULL, cert_path, key_path, NULL), SCEP_OK);
    ra_single = issue_ra(ca, f->dir, "single", "RA single", "digitalSignature,keyEncipherment");
    ra_enc = issue_ra(ca, f->dir, "enc", "RA encryption", "keyEncipherment");
    ra_sign = issue_ra(ca, f->dir, "sign", "RA signing", "digitalSignature");
    X509_free(issue_ra(ca, f->dir, "open", "RA open key", "digitalSignature,keyEncipherment"));
    snprintf(key_path, sizeof(key_path), "%s/ra-open.key", f->dir);
    assert_int_equal(chmod(key_path, 0644), 0);
    scep_ca_free(ca);

    /* An RA certificate from another CA. */
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = "CN=Other CA,O=scepd";
    options.rsa_bits = 2048;
    options.validity_days = 30;
    scep_ca *other = NULL;
    assert_int_equal(scep_ca_create(&other, &options), SCEP_OK);
    X509_free(issue_ra(other, f->dir, "foreign", "RA foreign", "digitalSignature,keyEncipherment"));
    scep_ca_free(other);

    snprintf(aliases_config, sizeof(aliases_config),
             "single.defaultca = demo\n"
             "single.ra.cert = %1$s/ra-single.pem\n"
             "single.ra.key = %1$s/ra-single.key\n"
             "split.defaultca = demo\n"
             "split.ra.cert = %1$s/ra-enc.pem\n"
             "split.ra.key = %1$s/ra-enc.key\n"
             "split.ra.signcert = %1$s/ra-sign.pem\n"
             "split.ra.signkey = %1$s/ra-sign.key\n",
             f->dir);
}

static int setup(void **state)
{
    (void)state;
    scepd_fixture_start_prepared(&fx, NULL, 0, aliases_config, prepare);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(ra_single);
    X509_free(ra_enc);
    X509_free(ra_sign);
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

struct body {
    unsigned char *data;
    size_t len;
    char type[128];
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
    b->data[b->len] = '\0';
    return n;
}

static long http(struct body *out, const char *alias, const char *query, const unsigned char *post,
                 size_t post_len)
{
    char url[1024];
    long status = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe?%s", fx.port, alias,
             query);
    memset(out, 0, sizeof(*out));
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    if (post != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)post_len);
    }
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(out->type, sizeof(out->type), "%s", type ? type : "");
    curl_easy_cleanup(curl);
    return status;
}

/* The certificates of a certs-only GetCACert body, in order. */
static STACK_OF(X509) * certs_of(const struct body *body)
{
    const unsigned char *p = body->data;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)body->len);
    assert_non_null(p7);
    assert_true(PKCS7_type_is_signed(p7));
    STACK_OF(X509) *certs = X509_chain_up_ref(p7->d.sign->cert);
    PKCS7_free(p7);
    assert_non_null(certs);
    return certs;
}

static void get_ca_cert_lists_ra_first(void **state)
{
    (void)state;
    struct body body;
    assert_int_equal(http(&body, "single", "operation=GetCACert", NULL, 0), 200);
    assert_string_equal(body.type, "application/x-x509-ca-ra-cert");
    STACK_OF(X509) *certs = certs_of(&body);
    assert_int_equal(sk_X509_num(certs), 2);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), ra_single), 0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), fx.ca_cert), 0);
    sk_X509_pop_free(certs, X509_free);
    free(body.data);

    assert_int_equal(http(&body, "split", "operation=GetCACert", NULL, 0), 200);
    assert_string_equal(body.type, "application/x-x509-ca-ra-cert");
    certs = certs_of(&body);
    assert_int_equal(sk_X509_num(certs), 3);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 0), ra_enc), 0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), ra_sign), 0);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 2), fx.ca_cert), 0);
    sk_X509_pop_free(certs, X509_free);
    free(body.data);

    /* Without an RA: the CA alone, unchanged (interop.md §13). */
    assert_int_equal(http(&body, "scep", "operation=GetCACert", NULL, 0), 200);
    assert_string_equal(body.type, "application/x-x509-ca-cert");
    free(body.data);

    /* GetCACaps is unchanged by an RA. */
    scep_client *client = client_for("single");
    scep_caps with_ra = 0, without = 0;
    assert_int_equal(scep_client_get_caps(client, &with_ra, NULL), SCEP_OK);
    scep_client_free(client);
    client = client_for("scep");
    assert_int_equal(scep_client_get_caps(client, &without, NULL), SCEP_OK);
    scep_client_free(client);
    assert_int_equal(with_ra, without);
}

static void client_picks_ra_certificates(void **state)
{
    (void)state;
    scep_client *client = client_for("single");
    scep_ca_certs *certs = NULL;
    assert_int_equal(scep_client_get_ca(client, &certs, NULL), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_encryption(certs), ra_single), 0);
    assert_int_equal(X509_cmp(scep_ca_certs_signer(certs), ra_single), 0);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);

    client = client_for("split");
    assert_int_equal(scep_client_get_ca(client, &certs, NULL), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_encryption(certs), ra_enc), 0);
    assert_int_equal(X509_cmp(scep_ca_certs_signer(certs), ra_sign), 0);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);
}

static void client_enrolls(const char *alias, const char *cn, const char *challenge)
{
    scep_client *client = client_for(alias);
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, cn, challenge);
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    /* The client encrypts to scep_ca_certs_encryption and verifies the reply with
     * scep_ca_certs_signer: with an RA these are the RA certificates. */
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll %s: %s", cn, scep_error_message());
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *cert = scep_result_cert(result);
    assert_non_null(cert);
    /* Issued by the CA, not by the RA. */
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(fx.ca_cert)), 1);
    scep_result_free(result);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    scep_client_free(client);
}

static void enrollment_with_single_ra(void **state)
{
    (void)state;
    client_enrolls("single", "single-dev", "c1");
}

static void enrollment_with_split_ra(void **state)
{
    (void)state;
    client_enrolls("split", "split-dev", "c2");
}

/* A PKCSReq encrypted to `recipient`, POSTed to `alias`; the CertRep (verified with the
 * certificate it carries, then checked by the caller), decrypted. */
static scep_pkimessage *raw_enroll(const char *alias, X509 *recipient, const char *cn,
                                   const char *challenge)
{
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, cn, challenge);
    X509 *signer = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    char *transaction_id = NULL;
    unsigned char nonce[SCEP_NONCE_LEN];
    scep_message_options options = {0};
    assert_int_equal(scep_self_signed_signer(&signer, key, csr, SCEP_DIGEST_SHA256, 1), SCEP_OK);
    scep_request request = {.type = SCEP_MSG_PKCSREQ,
                            .signer_cert = signer,
                            .signer_key = key,
                            .recipient_cert = recipient,
                            .digest = SCEP_DIGEST_SHA256,
                            .cipher = SCEP_CIPHER_AES128,
                            .csr = csr};
    assert_int_equal(scep_request_build(&der, &len, &transaction_id, nonce, &request, &options),
                     SCEP_OK);
    struct body body;
    assert_int_equal(http(&body, alias, "operation=PKIOperation", der, len), 200);
    scep_pkimessage *reply = NULL;
    if (scep_pkimessage_parse(&reply, body.data, body.len, NULL, NULL, &options) != SCEP_OK)
        fail_msg("reply: %s", scep_error_message());
    assert_int_equal(scep_pkimessage_check_reply(reply, transaction_id, nonce), SCEP_OK);
    assert_int_equal(scep_pkimessage_status(reply), SCEP_STATUS_SUCCESS);
    assert_int_equal(scep_pkimessage_decrypt(reply, &signer, &key, 1, &options), SCEP_OK);
    free(body.data);
    OPENSSL_free(der);
    OPENSSL_free(transaction_id);
    X509_free(signer);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    return reply;
}

static void ra_decrypts_and_signs(void **state)
{
    (void)state;
    /* Encrypted to the RA encryption certificate: the RA signing certificate answers. */
    scep_pkimessage *reply = raw_enroll("split", ra_enc, "raw-ra", "c3");
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), ra_sign), 0);
    X509 *issued = sk_X509_value(scep_pkimessage_certs(reply), 0);
    assert_int_equal(X509_verify(issued, X509_get0_pubkey(fx.ca_cert)), 1);
    scep_pkimessage_free(reply);

    /* A single RA decrypts and signs with one certificate. */
    reply = raw_enroll("single", ra_single, "raw-single", "c5");
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), ra_single), 0);
    scep_pkimessage_free(reply);

    /* Encrypted to the CA (a client that cached it): the CA key still opens it, and
     * the CA, which that client knows, signs the reply. */
    reply = raw_enroll("split", fx.ca_cert, "raw-ca", "c4");
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), fx.ca_cert), 0);
    scep_pkimessage_free(reply);
}

/* Appends `extra` to the fixture's config and reloads; returns the reload's result and
 * restores the config (the running generation is untouched by a failed reload). */
static int reload_with(const char *extra, char *message, size_t message_size)
{
    size_t len = 0;
    FILE *f = fopen(fx.config_path, "r");
    assert_non_null(f);
    static char original[16384];
    len = fread(original, 1, sizeof(original) - 1, f);
    original[len] = '\0';
    fclose(f);
    f = fopen(fx.config_path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n%s", original, extra);
    fclose(f);
    int rc = scepd_server_reload(&fx.server, "signal");
    snprintf(message, message_size, "%s", rc < 0 ? scep_error_message() : "");
    f = fopen(fx.config_path, "w");
    assert_non_null(f);
    fputs(original, f);
    fclose(f);
    return rc;
}

static void foreign_ra_certificate_is_refused(void **state)
{
    (void)state;
    char extra[2048], message[1024];
    snprintf(extra, sizeof(extra),
             "bad.defaultca = demo\n"
             "bad.ra.cert = %1$s/ra-foreign.pem\n"
             "bad.ra.key = %1$s/ra-foreign.key\n",
             fx.dir);
    assert_true(reload_with(extra, message, sizeof(message)) < 0);
    assert_non_null(strstr(message, "was not issued by the alias's CA demo"));
}

static void group_readable_ra_key_is_refused(void **state)
{
    (void)state;
    char extra[2048], message[1024];
    snprintf(extra, sizeof(extra),
             "bad.defaultca = demo\n"
             "bad.ra.cert = %1$s/ra-open.pem\n"
             "bad.ra.key = %1$s/ra-open.key\n",
             fx.dir);
    assert_true(reload_with(extra, message, sizeof(message)) < 0);
    assert_non_null(strstr(message, "ra-open.key"));
    assert_non_null(strstr(message, "bad"));

    /* A signing certificate without ra.cert is a configuration error too. */
    snprintf(extra, sizeof(extra),
             "bad.defaultca = demo\n"
             "bad.ra.signcert = %1$s/ra-sign.pem\n"
             "bad.ra.signkey = %1$s/ra-sign.key\n",
             fx.dir);
    assert_true(reload_with(extra, message, sizeof(message)) < 0);
    assert_non_null(strstr(message, "ra.signcert needs ra.cert"));

    /* The same RA with its key at 0600 loads. */
    char path[600];
    snprintf(path, sizeof(path), "%s/ra-open.key", fx.dir);
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(extra, sizeof(extra),
             "good.defaultca = demo\n"
             "good.ra.cert = %1$s/ra-open.pem\n"
             "good.ra.key = %1$s/ra-open.key\n",
             fx.dir);
    if (reload_with(extra, message, sizeof(message)) < 0)
        fail_msg("reload: %s", message);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_ca_cert_lists_ra_first),
        cmocka_unit_test(client_picks_ra_certificates),
        cmocka_unit_test(enrollment_with_single_ra),
        cmocka_unit_test(enrollment_with_split_ra),
        cmocka_unit_test(ra_decrypts_and_signs),
        cmocka_unit_test(foreign_ra_certificate_is_refused),
        cmocka_unit_test(group_readable_ra_key_is_refused),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
