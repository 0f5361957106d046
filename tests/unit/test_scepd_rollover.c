/*
 * scepd's CA rollover (RFC 8894 §4.7), CA identifiers (interop.md §3, §9) and the
 * per-alias device switches (interop.md §10, §15), driven over HTTP
 * by libscep's client and by hand-built requests where the test must choose the
 * recipient certificate or the digest.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct scepd_fixture fx;
static X509 *next_cert;   /* the demo CA's next certificate */
static X509 *second_cert; /* the CA "Second" */
static char next_pem[8192];
static char next_key_path[600];

static char *pem_of(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *copy = calloc(1, (size_t)len + 1);
    memcpy(copy, data, (size_t)len);
    BIO_free(bio);
    return copy;
}

static scep_ca *new_ca(const char *subject)
{
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = subject;
    options.rsa_bits = 2048;
    options.validity_days = 30;
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_create(&ca, &options), SCEP_OK);
    return ca;
}

/* The subject pix_csr() sends, in the order it encodes it. */
#define PIX_SUBJECT                                                                                \
    "/unstructuredName=pix1.example.com/unstructuredAddress=192.0.2.7/serialNumber=FTX123"

static void prepare(struct scepd_fixture *f, scep_store *store)
{
    char cert_path[600];
    /* The demo CA's next certificate: same subject, new key, active in an hour. */
    scep_ca *next = new_ca("CN=scepd test CA,O=scepd");
    snprintf(cert_path, sizeof(cert_path), "%s/next.pem", f->dir);
    snprintf(next_key_path, sizeof(next_key_path), "%s/next.key", f->dir);
    assert_int_equal(scep_ca_save(next, cert_path, next_key_path, NULL), SCEP_OK);
    next_cert = X509_dup(scep_ca_cert(next));
    char *pem = pem_of(next_cert);
    snprintf(next_pem, sizeof(next_pem), "%s", pem);
    free(pem);
    assert_int_equal(
        scep_store_ca_set_next(store, "demo", next_pem, next_key_path, (int64_t)time(NULL) + 3600),
        SCEP_OK);
    scep_ca_free(next);

    /* A second CA, served by the aliases that list it in `cas`. */
    scep_ca *second = new_ca("CN=Second CA,O=scepd");
    char key_path[600];
    snprintf(cert_path, sizeof(cert_path), "%s/second.pem", f->dir);
    snprintf(key_path, sizeof(key_path), "%s/second.key", f->dir);
    assert_int_equal(scep_ca_save(second, cert_path, key_path, NULL), SCEP_OK);
    second_cert = X509_dup(scep_ca_cert(second));
    pem = pem_of(second_cert);
    scep_store_ca row = {.name = "Second", .cert_pem = pem, .key_ref = key_path};
    assert_int_equal(scep_store_ca_add(store, &row), SCEP_OK);
    free(pem);
    scep_ca_free(second);
    /* Each end entity enrolls through its own alias (the others through the default, scep). */
    scep_store_end_entity ee = {
        .username = "sec-dev", .subject_dn = "CN=sec-dev", .ca_name = "Second", .alias = "multi"};
    assert_int_equal(scep_store_ee_add(store, &ee, "c-sec"), SCEP_OK);
    scep_store_end_entity inc2 = {
        .username = "inc2", .subject_dn = "CN=inc2", .ca_name = "demo", .alias = "noca"};
    assert_int_equal(scep_store_ee_add(store, &inc2, "c9"), SCEP_OK);
    scep_store_end_entity md5 = {
        .username = "md5-dev", .subject_dn = "CN=md5-dev", .ca_name = "demo", .alias = "pix"};
    assert_int_equal(scep_store_ee_add(store, &md5, "c6"), SCEP_OK);
    /* A PIX registered with the subject it sends: CA mode issues the registered subject. */
    scep_store_end_entity pix = {
        .username = "FTX123", .subject_dn = PIX_SUBJECT, .ca_name = "demo", .alias = "pix"};
    assert_int_equal(scep_store_ee_add(store, &pix, "c7"), SCEP_OK);
}

static int setup(void **state)
{
    (void)state;
    static const char *const users[] = {"old-dev:c1",   "next-dev:c2", "after-dev:c3",
                                        "after-old:c4", "inc1:c8",     "renew-old:c10"};
    scepd_fixture_start_prepared(&fx, users, sizeof(users) / sizeof(users[0]),
                                 "legacy_algorithms = true\n"
                                 "crl_base_url = http://crl.example/crl/\n"
                                 "scep.defaultca = demo\n"
                                 "scep.clientCertificateRenewal = true\n"
                                 "scep.renewal.afterHalfLife = false\n"
                                 "ra.operationmode = ra\n"
                                 "ra.ra.authPwd = pw\n"
                                 "ra.ra.defaultCA = demo\n"
                                 "pix.defaultca = demo\n"
                                 "multi.defaultca = demo\n"
                                 "strict.defaultca = demo\n"
                                 "noca.defaultca = demo\n"
                                 "pix.legacy = true\n"
                                 "pix.sanfromunstructuredname = true\n"
                                 "pix.usernamefield = serialNumber,CN\n"
                                 "multi.cas = Second\n"
                                 "strict.strictcaid = true\n"
                                 "strict.cas = second\n"
                                 "noca.includeca = false\n",
                                 prepare);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(next_cert);
    X509_free(second_cert);
    scepd_fixture_stop(&fx);
    return 0;
}

static scep_client *client_for(const char *alias, X509 *ca_cert)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {.url = url, .ca_cert = ca_cert, .proxy = ""};
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return client;
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
    curl_easy_cleanup(curl);
    return status;
}

/*
 * A PKCSReq encrypted to `recipient` with `digest`, POSTed to `alias`; the CertRep,
 * verified and decrypted. The caller frees it.
 */
static scep_pkimessage *raw_enroll(const char *alias, X509 *recipient, scep_digest digest,
                                   EVP_PKEY *key, X509_REQ *csr)
{
    X509 *signer = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    char *transaction_id = NULL;
    unsigned char nonce[SCEP_NONCE_LEN];
    scep_message_options options = {.flags = SCEP_MSG_LEGACY};
    assert_int_equal(scep_self_signed_signer(&signer, key, csr, SCEP_DIGEST_SHA256, 1), SCEP_OK);
    scep_request request = {.type = SCEP_MSG_PKCSREQ,
                            .signer_cert = signer,
                            .signer_key = key,
                            .recipient_cert = recipient,
                            .digest = digest,
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
    assert_int_equal(scep_pkimessage_decrypt(reply, &signer, &key, 1, &options), SCEP_OK);
    free(body.data);
    OPENSSL_free(der);
    OPENSSL_free(transaction_id);
    X509_free(signer);
    return reply;
}

static int signed_by(X509 *cert, X509 *ca)
{
    return X509_verify(cert, X509_get0_pubkey(ca)) == 1;
}

/* The first URI of a certificate's CRL distribution points; -1 without one. */
static int crl_dp_of(char *out, size_t out_size, X509 *cert)
{
    CRL_DIST_POINTS *points = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    int rc = -1;
    for (int i = 0; points != NULL && i < sk_DIST_POINT_num(points) && rc < 0; i++) {
        DIST_POINT_NAME *name = sk_DIST_POINT_value(points, i)->distpoint;
        for (int j = 0;
             name != NULL && name->type == 0 && j < sk_GENERAL_NAME_num(name->name.fullname); j++) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(name->name.fullname, j);
            if (gn->type != GEN_URI)
                continue;
            snprintf(out, out_size, "%.*s", ASN1_STRING_length(gn->d.uniformResourceIdentifier),
                     (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
            rc = 0;
            break;
        }
    }
    CRL_DIST_POINTS_free(points);
    return rc;
}

/* Issued before the activation by the old key; renewed after it (next_ca_takes_over...). */
static X509 *renew_old_cert;
static EVP_PKEY *renew_old_key;

/* ---- before activation ------------------------------------------------------------------ */

static void next_ca_is_announced_before_activation(void **state)
{
    (void)state;
    scep_client *client = client_for("scep", fx.ca_cert);
    scep_caps caps = 0;
    assert_int_equal(scep_client_get_caps(client, &caps, NULL), SCEP_OK);
    assert_true(caps & SCEP_CAP_GET_NEXT_CA_CERT);
    /* scep_client_get_next_ca verifies the signature against the current CA. */
    STACK_OF(X509) *next = NULL;
    assert_int_equal(scep_client_get_next_ca(client, &next, NULL), SCEP_OK);
    assert_int_equal(sk_X509_num(next), 1);
    assert_int_equal(X509_cmp(sk_X509_value(next, 0), next_cert), 0);
    sk_X509_pop_free(next, X509_free);
    /* The current CA still is the CA. */
    scep_ca_certs *certs = NULL;
    assert_int_equal(scep_client_get_ca(client, &certs, NULL), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);

    /* The announcement does not verify against another CA (the Second CA). */
    struct body body;
    assert_int_equal(http(&body, "scep", "operation=GetNextCACert", NULL, 0), 200);
    STACK_OF(X509) *parsed = NULL;
    assert_int_not_equal(scep_next_ca_parse(&parsed, body.data, body.len, second_cert, 0), SCEP_OK);
    assert_int_equal(scep_next_ca_parse(&parsed, body.data, body.len, fx.ca_cert, 0), SCEP_OK);
    sk_X509_pop_free(parsed, X509_free);
    free(body.data);

    /* A CA without a rollover: no GetNextCACert in the caps, and 404. */
    client = client_for("multi", second_cert);
    assert_int_equal(scep_client_get_caps(client, &caps, "Second"), SCEP_OK);
    assert_false(caps & SCEP_CAP_GET_NEXT_CA_CERT);
    scep_client_free(client);
    assert_int_equal(http(&body, "multi", "operation=GetNextCACert&message=second", NULL, 0), 404);
    free(body.data);
}

static void overlap_requests_to_either_certificate_decrypt(void **state)
{
    (void)state;
    /* Encrypted to the old (current) CA: issued by it, reply signed by it. */
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "old-dev", "c1");
    scep_pkimessage *reply = raw_enroll("scep", fx.ca_cert, SCEP_DIGEST_SHA256, key, csr);
    assert_int_equal(scep_pkimessage_status(reply), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), fx.ca_cert), 0);
    assert_true(signed_by(sk_X509_value(scep_pkimessage_certs(reply), 0), fx.ca_cert));
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);

    /* Encrypted to the next certificate before activation: the next key opens it (the
     * recipientInfo picks it), the reply is signed with the certificate the client used,
     * and the CA active now (the current one) issues. */
    key = test_rsa_key(2048);
    csr = test_csr(key, "next-dev", "c2");
    reply = raw_enroll("scep", next_cert, SCEP_DIGEST_SHA256, key, csr);
    assert_int_equal(scep_pkimessage_status(reply), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), next_cert), 0);
    X509 *issued = sk_X509_value(scep_pkimessage_certs(reply), 0);
    assert_true(signed_by(issued, fx.ca_cert));
    assert_false(signed_by(issued, next_cert));
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

/* ---- CA identifiers --------------------------------------------------------------------- */

static void ca_identifier_selects_by_name_ignoring_case(void **state)
{
    (void)state;
    scep_client *client = client_for("multi", second_cert);
    scep_ca_certs *certs = NULL;
    /* Cisco PIX lower-cases the CA name. */
    assert_int_equal(scep_client_get_ca(client, &certs, "second"), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), second_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);

    client = client_for("multi", fx.ca_cert);
    assert_int_equal(scep_client_get_ca(client, &certs, "DEMO"), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    /* interop.md §3: an unknown identifier (sscep's default) means the alias's CA. */
    assert_int_equal(scep_client_get_ca(client, &certs, "CAIdentifier"), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);

    /* A CA the alias does not list is not selectable: the default alias falls back. */
    client = client_for("scep", fx.ca_cert);
    assert_int_equal(scep_client_get_ca(client, &certs, "Second"), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), fx.ca_cert), 0);
    scep_ca_certs_free(certs);
    scep_client_free(client);

    /* Enrollment encrypted to the Second CA on the multi alias: that CA issues and signs. */
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "sec-dev", "c-sec");
    scep_pkimessage *reply = raw_enroll("multi", second_cert, SCEP_DIGEST_SHA256, key, csr);
    assert_int_equal(scep_pkimessage_status(reply), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), second_cert), 0);
    assert_true(signed_by(sk_X509_value(scep_pkimessage_certs(reply), 0), second_cert));
    /* Its CRL distribution point is the issuing CA's, not the alias's own CA's. */
    char dp[256];
    assert_int_equal(crl_dp_of(dp, sizeof(dp), sk_X509_value(scep_pkimessage_certs(reply), 0)), 0);
    assert_string_equal(dp, "http://crl.example/crl/Second.crl");
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void strict_alias_refuses_unknown_identifiers(void **state)
{
    (void)state;
    struct body body;
    assert_int_equal(http(&body, "strict", "operation=GetCACert&message=CAIdentifier", NULL, 0),
                     404);
    assert_non_null(strstr((char *)body.data, "unknown CA identifier"));
    assert_non_null(strchr((char *)body.data, '\n'));
    assert_ptr_equal(strchr((char *)body.data, '\n'), (char *)body.data + body.len - 1);
    free(body.data);
    assert_int_equal(http(&body, "strict", "operation=GetCACaps&message=nope", NULL, 0), 404);
    free(body.data);
    /* Known names and no identifier at all still work. */
    assert_int_equal(http(&body, "strict", "operation=GetCACert&message=SECOND", NULL, 0), 200);
    free(body.data);
    assert_int_equal(http(&body, "strict", "operation=GetCACert", NULL, 0), 200);
    free(body.data);
    /* Not strict: the same unknown identifier is the alias's CA. */
    assert_int_equal(http(&body, "multi", "operation=GetCACert&message=CAIdentifier", NULL, 0),
                     200);
    free(body.data);
}

/* ---- device switches --------------------------------------------------------------------- */

static void includeca_one_or_two_certificates(void **state)
{
    (void)state;
    /* interop.md §15: Cisco VPN needs the CA after the issued certificate, Juniper refuses it. */
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "inc1", "c8");
    scep_pkimessage *reply = raw_enroll("scep", fx.ca_cert, SCEP_DIGEST_SHA256, key, csr);
    STACK_OF(X509) *certs = scep_pkimessage_certs(reply);
    assert_int_equal(sk_X509_num(certs), 2);
    assert_true(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, 0)), key) == 1);
    assert_int_equal(X509_cmp(sk_X509_value(certs, 1), fx.ca_cert), 0);
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);

    key = test_rsa_key(2048);
    csr = test_csr(key, "inc2", "c9");
    reply = raw_enroll("noca", fx.ca_cert, SCEP_DIGEST_SHA256, key, csr);
    assert_int_equal(sk_X509_num(scep_pkimessage_certs(reply)), 1);
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void md5_request_gets_md5_reply_on_legacy_alias(void **state)
{
    (void)state;
    /* interop.md §10: old Cisco PIX signs with MD5 and wants MD5 back. */
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "md5-dev", "c6");
    scep_pkimessage *reply = raw_enroll("pix", fx.ca_cert, SCEP_DIGEST_MD5, key, csr);
    if (scep_pkimessage_status(reply) != SCEP_STATUS_SUCCESS)
        fail_msg("status %d: %s", (int)scep_pkimessage_status(reply),
                 scep_pkimessage_fail_info_text(reply));
    assert_int_equal(scep_pkimessage_digest(reply), SCEP_DIGEST_MD5);
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static X509_REQ *pix_csr(EVP_PKEY *key)
{
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_pkcs9_unstructuredName, MBSTRING_ASC,
                                                (const unsigned char *)"pix1.example.com", -1, -1,
                                                0),
                     1);
    assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_pkcs9_unstructuredAddress, MBSTRING_ASC,
                                                (const unsigned char *)"192.0.2.7", -1, -1, 0),
                     1);
    assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC,
                                                (const unsigned char *)"FTX123", -1, -1, 0),
                     1);
    assert_int_equal(X509_REQ_set_subject_name(csr, name), 1);
    X509_NAME_free(name);
    assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
    assert_int_equal(X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword, MBSTRING_ASC,
                                               (const unsigned char *)"c7", -1),
                     1);
    assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
    return csr;
}

static void pix_unstructured_name_becomes_dns_san(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = pix_csr(key);
    scep_pkimessage *reply = raw_enroll("pix", fx.ca_cert, SCEP_DIGEST_SHA1, key, csr);
    assert_int_equal(scep_pkimessage_status(reply), SCEP_STATUS_SUCCESS);
    X509 *cert = sk_X509_value(scep_pkimessage_certs(reply), 0);
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    assert_non_null(sans);
    assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, 0);
    assert_int_equal(gn->type, GEN_DNS);
    assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName), "pix1.example.com");
    GENERAL_NAMES_free(sans);
    /* The subject is the registered one (here the CSR's), unstructuredName and
     * unstructuredAddress kept. */
    const X509_NAME *subject = X509_get_subject_name(cert);
    assert_true(X509_NAME_get_index_by_NID(subject, NID_pkcs9_unstructuredName, -1) >= 0);
    assert_true(X509_NAME_get_index_by_NID(subject, NID_pkcs9_unstructuredAddress, -1) >= 0);
    X509_NAME *registered = NULL;
    assert_int_equal(scep_dn_parse(&registered, PIX_SUBJECT), SCEP_OK);
    assert_int_equal(X509_NAME_cmp(subject, registered), 0);
    assert_int_equal(X509_NAME_cmp(subject, X509_REQ_get_subject_name(csr)), 0);
    X509_NAME_free(registered);
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void enrollment_before_activation_uses_the_old_key(void **state)
{
    (void)state;
    scep_client *client = client_for("scep", fx.ca_cert);
    renew_old_key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(renew_old_key, "renew-old", "c10");
    scep_enroll_request request = {.csr = csr, .key = renew_old_key};
    scep_result *result = NULL;
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_true(signed_by(scep_result_cert(result), fx.ca_cert));
    renew_old_cert = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
}

/* ---- after activation (last: it changes the server's state) ------------------------------- */

static void next_ca_takes_over_after_activation(void **state)
{
    (void)state;
    /* Activation moved into the past; SIGHUP's reload re-reads the rollover. */
    scep_store *store = scepd_fixture_store(&fx);
    assert_int_equal(
        scep_store_ca_set_next(store, "demo", next_pem, next_key_path, (int64_t)time(NULL) - 5),
        SCEP_OK);
    scep_store_close(store);
    assert_int_equal(scepd_server_reload(&fx.server, "signal"), SCEP_OK);

    scep_client *client = client_for("scep", next_cert);
    scep_ca_certs *certs = NULL;
    assert_int_equal(scep_client_get_ca(client, &certs, NULL), SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(certs), next_cert), 0);
    scep_ca_certs_free(certs);
    scep_caps caps = 0;
    assert_int_equal(scep_client_get_caps(client, &caps, NULL), SCEP_OK);
    assert_false(caps & SCEP_CAP_GET_NEXT_CA_CERT);
    STACK_OF(X509) *next = NULL;
    assert_int_not_equal(scep_client_get_next_ca(client, &next, NULL), SCEP_OK);

    /* Enrollment through the client that knows the new CA: issued by the new key. */
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "after-dev", "c3");
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_true(signed_by(scep_result_cert(result), next_cert));
    /* includeca sends the certificate of the CA that issued. */
    assert_int_equal(X509_cmp(sk_X509_value(scep_result_certs(result), 1), next_cert), 0);
    scep_result_free(result);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    scep_client_free(client);

    /* A client still holding the old CA certificate: its request decrypts with the old
     * key and the reply is signed by the old certificate it can verify. */
    key = test_rsa_key(2048);
    csr = test_csr(key, "after-old", "c4");
    scep_pkimessage *reply = raw_enroll("scep", fx.ca_cert, SCEP_DIGEST_SHA256, key, csr);
    assert_int_equal(scep_pkimessage_status(reply), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(reply), fx.ca_cert), 0);
    assert_true(signed_by(sk_X509_value(scep_pkimessage_certs(reply), 0), next_cert));
    scep_pkimessage_free(reply);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);

    /* RA mode issues with the active key too, with the CA's distribution point. */
    client = client_for("ra", next_cert);
    key = test_rsa_key(2048);
    csr = test_csr(key, "ra-after", "pw");
    scep_enroll_request ra_request = {.csr = csr, .key = key};
    assert_int_equal(scep_client_enroll(client, &result, &ra_request), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_true(signed_by(scep_result_cert(result), next_cert));
    char dp[256];
    assert_int_equal(crl_dp_of(dp, sizeof(dp), scep_result_cert(result)), 0);
    assert_string_equal(dp, "http://crl.example/crl/demo.crl");
    scep_result_free(result);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    scep_client_free(client);

    /* A certificate of the old key still renews, and the renewal is the new key's. */
    client = client_for("scep", next_cert);
    key = test_rsa_key(2048);
    csr = test_csr(key, "renew-old", NULL);
    scep_enroll_request renewal = {
        .csr = csr, .key = key, .existing_cert = renew_old_cert, .existing_key = renew_old_key};
    assert_int_equal(scep_client_enroll(client, &result, &renewal), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_true(signed_by(scep_result_cert(result), next_cert));
    assert_int_equal(crl_dp_of(dp, sizeof(dp), scep_result_cert(result)), 0);
    assert_string_equal(dp, "http://crl.example/crl/demo.crl");
    scep_result_free(result);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    scep_client_free(client);
    X509_free(renew_old_cert);
    EVP_PKEY_free(renew_old_key);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_ca_is_announced_before_activation),
        cmocka_unit_test(overlap_requests_to_either_certificate_decrypt),
        cmocka_unit_test(ca_identifier_selects_by_name_ignoring_case),
        cmocka_unit_test(strict_alias_refuses_unknown_identifiers),
        cmocka_unit_test(includeca_one_or_two_certificates),
        cmocka_unit_test(md5_request_gets_md5_reply_on_legacy_alias),
        cmocka_unit_test(pix_unstructured_name_becomes_dns_san),
        cmocka_unit_test(enrollment_before_activation_uses_the_old_key),
        cmocka_unit_test(next_ca_takes_over_after_activation),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
