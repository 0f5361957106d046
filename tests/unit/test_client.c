/*
 * The client API against an in-process fake SCEP server plugged in through
 * the transport hook: algorithm choice from caps, GET/POST and URL encoding,
 * CA verification (fingerprints, pinned certificate, callback, RA split),
 * reply verification failures, pending state round trip and polling,
 * renewal message types, EC requesters, and one client shared by threads;
 * and the CSR the `scep` command builds from --subject and --san.
 */
#include "test_support.h"

#include "client/client_internal.h"
#include "scep/ca.h"
#include "scep/caps.h"
#include "scep/cli.h"
#include "scep/client.h"
#include "scep/message.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum fake_mode {
    FAKE_OK,
    FAKE_WRONG_NONCE,
    FAKE_WRONG_TRANSACTION,
    FAKE_WRONG_SIGNER,
    FAKE_PENDING,
    FAKE_FAILURE,
    FAKE_DES_REPLY,
    FAKE_CAPS_500
};

struct fake_server {
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    EVP_PKEY *other_key;
    X509 *other_cert;
    STACK_OF(X509) * ra_bundle; /* when set, GetCACert answers the CA+RA bundle */
    EVP_PKEY *ra_key;
    X509 *ra_cert;
    const char *caps;
    enum fake_mode mode;
    pthread_mutex_t lock;
    long next_serial;
    /* Last request, for assertions (single-threaded tests). */
    char last_method[8];
    char last_url[16384];
    scep_message_type last_type;
    scep_digest last_digest;
    scep_cipher last_cipher;
    EVP_PKEY *pending_key; /* the CSR key of the pending request, issued on CertPoll */
};

static struct fake_server srv;

static X509 *issue(EVP_PKEY *issuer_key, X509 *issuer, EVP_PKEY *pubkey, const X509_NAME *subject,
                   const char *cn, const char *key_usage, int is_ca)
{
    X509 *cert = X509_new();
    assert_non_null(cert);
    assert_int_equal(X509_set_version(cert, 2), 1);
    pthread_mutex_lock(&srv.lock);
    long serial = srv.next_serial++;
    pthread_mutex_unlock(&srv.lock);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    if (subject != NULL) {
        assert_int_equal(X509_set_subject_name(cert, subject), 1);
    } else {
        X509_NAME *name = X509_get_subject_name(cert);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                    (const unsigned char *)cn, -1, -1, 0),
                         1);
    }
    assert_int_equal(X509_set_issuer_name(cert, X509_get_subject_name(issuer)), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    assert_int_equal(X509_set_pubkey(cert, pubkey), 1);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                              is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    assert_non_null(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (key_usage != NULL) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, key_usage);
        assert_non_null(ext);
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(cert, issuer_key, EVP_sha256()) > 0);
    return cert;
}

static int set_body(scep_http_response *out, const void *data, size_t len, const char *type)
{
    out->status = 200;
    out->body = OPENSSL_memdup(data, len ? len : 1);
    out->body_len = len;
    out->content_type = OPENSSL_strdup(type);
    return 0;
}

static const char *query_value(const char *url, const char *key, size_t *len)
{
    const char *q = strchr(url, '?');
    size_t klen = strlen(key);
    while (q != NULL) {
        q++;
        if (strncmp(q, key, klen) == 0 && q[klen] == '=') {
            const char *v = q + klen + 1;
            *len = strcspn(v, "&");
            return v;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

static int fake_pki_operation(scep_http_response *out, const unsigned char *der, size_t der_len)
{
    static const scep_message_options legacy = {.flags = SCEP_MSG_LEGACY};
    scep_pkimessage *req = NULL;
    X509 *issued = NULL;
    STACK_OF(X509) *certs = NULL;
    unsigned char *reply_der = NULL;
    size_t reply_len = 0;
    X509_CRL *crl = NULL;

    assert_int_equal(scep_pkimessage_parse(&req, der, der_len, NULL, NULL, &legacy), SCEP_OK);
    X509 *ca_certs[2] = {srv.ca_cert, srv.ra_cert};
    EVP_PKEY *ca_keys[2] = {srv.ca_key, srv.ra_key};
    assert_int_equal(scep_pkimessage_decrypt(req, ca_certs, ca_keys, srv.ra_cert ? 2 : 1, &legacy),
                     SCEP_OK);
    scep_message_type type = scep_pkimessage_type(req);
    pthread_mutex_lock(&srv.lock);
    srv.last_type = type;
    srv.last_digest = scep_pkimessage_digest(req);
    srv.last_cipher = scep_pkimessage_cipher(req);
    pthread_mutex_unlock(&srv.lock);

    unsigned char wrong_nonce[SCEP_NONCE_LEN] = {1, 2, 3};
    scep_reply reply = {
        .status = SCEP_STATUS_SUCCESS,
        .transaction_id = scep_pkimessage_transaction_id(req),
        .recipient_nonce = scep_pkimessage_sender_nonce(req),
        .signer_cert = srv.ra_cert ? srv.ra_cert : srv.ca_cert,
        .signer_key = srv.ra_cert ? srv.ra_key : srv.ca_key,
        .digest = SCEP_DIGEST_SHA256,
        .recipient_cert = scep_pkimessage_signer_cert(req),
        .cipher = scep_pkimessage_cipher(req),
    };
    switch (srv.mode) {
    case FAKE_WRONG_NONCE:
        reply.recipient_nonce = wrong_nonce;
        break;
    case FAKE_WRONG_TRANSACTION:
        reply.transaction_id = "not-your-transaction";
        break;
    case FAKE_WRONG_SIGNER:
        reply.signer_cert = srv.other_cert;
        reply.signer_key = srv.other_key;
        break;
    case FAKE_DES_REPLY:
        reply.cipher = SCEP_CIPHER_DES;
        reply.digest = SCEP_DIGEST_SHA1;
        break;
    default:
        break;
    }

    if (srv.mode == FAKE_FAILURE) {
        reply.status = SCEP_STATUS_FAILURE;
        reply.fail_info = SCEP_FAIL_BAD_REQUEST;
        reply.fail_info_text = "challenge password wrong";
    } else if (srv.mode == FAKE_PENDING &&
               (type == SCEP_MSG_PKCSREQ || type == SCEP_MSG_RENEWALREQ)) {
        reply.status = SCEP_STATUS_PENDING;
        EVP_PKEY *key = X509_REQ_get0_pubkey(scep_pkimessage_csr(req));
        EVP_PKEY_up_ref(key);
        EVP_PKEY_free(srv.pending_key);
        srv.pending_key = key;
    } else if (type == SCEP_MSG_PKCSREQ || type == SCEP_MSG_RENEWALREQ) {
        X509_REQ *csr = scep_pkimessage_csr(req);
        issued = issue(srv.ca_key, srv.ca_cert, X509_REQ_get0_pubkey(csr),
                       X509_REQ_get_subject_name(csr), NULL, "digitalSignature", 0);
    } else if (type == SCEP_MSG_CERTPOLL) {
        assert_non_null(srv.pending_key);
        assert_int_equal(
            X509_NAME_cmp(scep_pkimessage_issuer(req), X509_get_subject_name(srv.ca_cert)), 0);
        issued = issue(srv.ca_key, srv.ca_cert, srv.pending_key, scep_pkimessage_subject(req), NULL,
                       "digitalSignature", 0);
    } else if (type == SCEP_MSG_GETCERT) {
        issued = issue(srv.ca_key, srv.ca_cert, srv.other_key, NULL, "looked up", NULL, 0);
        X509_set_serialNumber(issued, (ASN1_INTEGER *)scep_pkimessage_serial(req));
        assert_true(X509_sign(issued, srv.ca_key, EVP_sha256()) > 0);
    } else if (type == SCEP_MSG_GETCRL) {
        crl = X509_CRL_new();
        X509_CRL_set_version(crl, 1);
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(srv.ca_cert));
        ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, 0);
        X509_CRL_set1_lastUpdate(crl, t);
        X509_CRL_set1_nextUpdate(crl, t);
        ASN1_TIME_free(t);
        assert_true(X509_CRL_sign(crl, srv.ca_key, EVP_sha256()) > 0);
        reply.crl = crl;
    }
    if (issued != NULL) {
        certs = sk_X509_new_null();
        sk_X509_push(certs, issued);
        reply.certs = certs;
    }
    assert_int_equal(scep_reply_build(&reply_der, &reply_len, &reply, &legacy), SCEP_OK);
    set_body(out, reply_der, reply_len, "application/x-pki-message");
    OPENSSL_free(reply_der);
    sk_X509_pop_free(certs, X509_free);
    X509_CRL_free(crl);
    scep_pkimessage_free(req);
    return 0;
}

static int fake_transport(scep_http_response *out, const scep_http_request *request,
                          size_t max_size, void *payload)
{
    (void)max_size;
    (void)payload;
    if (strcmp(request->method, "GET") == 0 && strlen(request->url) < sizeof(srv.last_url)) {
        pthread_mutex_lock(&srv.lock);
        snprintf(srv.last_method, sizeof(srv.last_method), "%s", request->method);
        snprintf(srv.last_url, sizeof(srv.last_url), "%s", request->url);
        pthread_mutex_unlock(&srv.lock);
    } else {
        pthread_mutex_lock(&srv.lock);
        snprintf(srv.last_method, sizeof(srv.last_method), "%s", request->method);
        pthread_mutex_unlock(&srv.lock);
    }
    size_t len = 0;
    const char *op = query_value(request->url, "operation", &len);
    assert_non_null(op);
    if (strncmp(op, "GetCACaps", len) == 0) {
        if (srv.mode == FAKE_CAPS_500) {
            out->status = 500;
            return 0;
        }
        return set_body(out, srv.caps, strlen(srv.caps), "text/plain");
    }
    if (strncmp(op, "GetCACert", len) == 0) {
        unsigned char *der = NULL;
        size_t der_len = 0;
        const char *type = "application/x-x509-ca-cert";
        if (srv.ra_bundle != NULL) {
            assert_int_equal(scep_certs_only_build(&der, &der_len, srv.ra_bundle, NULL), SCEP_OK);
            type = "application/x-x509-ca-ra-cert";
        } else {
            int n = i2d_X509(srv.ca_cert, &der);
            assert_true(n > 0);
            der_len = (size_t)n;
        }
        set_body(out, der, der_len, type);
        OPENSSL_free(der);
        return 0;
    }
    assert_int_equal(strncmp(op, "PKIOperation", len), 0);
    if (strcmp(request->method, "POST") == 0)
        return fake_pki_operation(out, request->body, request->body_len);
    const char *msg = query_value(request->url, "message", &len);
    assert_non_null(msg);
    unsigned char *der = NULL;
    size_t der_len = 0;
    assert_int_equal(scep_base64_decode_lenient(&der, &der_len, msg, len, 1 << 20), SCEP_OK);
    int rc = fake_pki_operation(out, der, der_len);
    OPENSSL_free(der);
    return rc;
}

static EVP_PKEY *rsa_key;

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.lock, NULL);
    srv.next_serial = 1000;
    srv.ca_key = test_rsa_key(2048);
    srv.ca_cert = test_self_signed(srv.ca_key, "Fake SCEP CA");
    srv.other_key = test_rsa_key(2048);
    srv.other_cert = test_self_signed(srv.other_key, "Impostor CA");
    rsa_key = test_rsa_key(2048);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(srv.ca_key);
    X509_free(srv.ca_cert);
    EVP_PKEY_free(srv.other_key);
    X509_free(srv.other_cert);
    EVP_PKEY_free(srv.pending_key);
    EVP_PKEY_free(rsa_key);
    pthread_mutex_destroy(&srv.lock);
    return 0;
}

static void reset(enum fake_mode mode, const char *caps)
{
    srv.mode = mode;
    srv.caps = caps;
    srv.last_url[0] = '\0';
    srv.last_method[0] = '\0';
    srv.last_type = 0;
}

static scep_client *fake_client(const scep_client_options *extra)
{
    scep_client_options o = {0};
    if (extra != NULL)
        o = *extra;
    o.url = "http://scep.invalid/scep/ALIAS/pkiclient.exe";
    if (o.ca_fingerprint == NULL && o.verify_ca == NULL && !o.insecure_accept_any_ca)
        o.ca_cert = o.ca_cert ? o.ca_cert : srv.ca_cert;
    o.transport = fake_transport;
    scep_client *client = NULL;
    assert_int_equal(scep_client_new(&client, &o), SCEP_OK);
    return client;
}

static int enroll_with(scep_client *client, scep_result **out, EVP_PKEY *key, const char *cn)
{
    X509_REQ *csr = test_csr(key, cn, "s3cret");
    scep_enroll_request req = {.csr = csr, .key = key};
    int rc = scep_client_enroll(client, out, &req);
    X509_REQ_free(csr);
    return rc;
}

/* ---- algorithm choice from caps ---- */

static void test_algorithms_from_caps(void **state)
{
    (void)state;
    static const struct {
        const char *caps;
        scep_digest digest;
        scep_cipher cipher;
        const char *method;
    } cases[] = {
        {"AES\nSHA-256\nPOSTPKIOperation\n", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256, "POST"},
        {"SCEPStandard\n", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256, "POST"},
        {"DES3\nSHA-1\n", SCEP_DIGEST_SHA1, SCEP_CIPHER_DES3, "GET"},
        {"DES3\nAES\nSHA-1\nSHA-512\nPOSTPKIOperation", SCEP_DIGEST_SHA512, SCEP_CIPHER_AES256,
         "POST"},
        /* micromdm 2.1.0's exact caps, no trailing newline */
        {"Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation", SCEP_DIGEST_SHA256,
         SCEP_CIPHER_AES256, "POST"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset(FAKE_OK, cases[i].caps);
        scep_client *client = fake_client(NULL);
        scep_result *res = NULL;
        assert_int_equal(enroll_with(client, &res, rsa_key, "algs"), SCEP_OK);
        assert_int_equal(scep_result_status(res), SCEP_STATUS_SUCCESS);
        assert_int_equal(scep_result_digest(res), cases[i].digest);
        assert_int_equal(scep_result_cipher(res), cases[i].cipher);
        assert_int_equal(srv.last_digest, cases[i].digest);
        assert_int_equal(srv.last_cipher, cases[i].cipher);
        assert_string_equal(srv.last_method, cases[i].method);
        assert_true(EVP_PKEY_eq(X509_get0_pubkey(scep_result_cert(res)), rsa_key) == 1);
        scep_result_free(res);
        scep_client_free(client);
    }

    /* Nothing advertised: refused unless legacy, never a silent MD5/DES. */
    reset(FAKE_OK, "");
    scep_client *client = fake_client(NULL);
    scep_result *res = NULL;
    assert_int_equal(enroll_with(client, &res, rsa_key, "none"), SCEP_EBADALG);
    assert_null(res);
    scep_client_free(client);
    scep_client_options legacy = {.legacy = 1};
    client = fake_client(&legacy);
    assert_int_equal(enroll_with(client, &res, rsa_key, "legacy"), SCEP_OK);
    assert_int_equal(scep_result_digest(res), SCEP_DIGEST_MD5);
    assert_int_equal(scep_result_cipher(res), SCEP_CIPHER_DES);
    scep_result_free(res);
    scep_client_free(client);

    /* Overrides win over the caps. */
    reset(FAKE_OK, "AES\nSHA-256\nPOSTPKIOperation\n");
    scep_client_options over = {
        .digest = SCEP_DIGEST_SHA384, .cipher = SCEP_CIPHER_AES128, .force_get = 1};
    client = fake_client(&over);
    assert_int_equal(enroll_with(client, &res, rsa_key, "over"), SCEP_OK);
    assert_int_equal(srv.last_digest, SCEP_DIGEST_SHA384);
    assert_int_equal(srv.last_cipher, SCEP_CIPHER_AES128);
    assert_string_equal(srv.last_method, "GET");
    scep_result_free(res);
    scep_client_free(client);

    /* GetCACaps failing is an error, not an empty capability set. */
    reset(FAKE_CAPS_500, "AES\n");
    client = fake_client(NULL);
    assert_int_equal(enroll_with(client, &res, rsa_key, "nocaps"), SCEP_EHTTP);
    assert_non_null(strstr(scep_error_message(), "GetCACaps"));
    scep_caps caps = 0;
    assert_int_equal(scep_client_get_caps(client, &caps, NULL), SCEP_EHTTP);
    scep_client_free(client);
}

/* ---- URL encoding ---- */

static void test_url_encoding(void **state)
{
    (void)state;
    char *url = NULL;
    assert_int_equal(scep_client_build_url(&url, "http://h/scep", "PKIOperation", "a+b/c=d=="),
                     SCEP_OK);
    assert_string_equal(url, "http://h/scep?operation=PKIOperation&message=a%2Bb%2Fc%3Dd%3D%3D");
    OPENSSL_free(url);
    assert_int_equal(scep_client_build_url(&url, "http://h/cgi?x=1", "GetCACert", "CA id/1"),
                     SCEP_OK);
    assert_string_equal(url, "http://h/cgi?x=1&operation=GetCACert&message=CA%20id%2F1");
    OPENSSL_free(url);
    assert_int_equal(scep_client_build_url(&url, "http://h/scep", "GetCACaps", NULL), SCEP_OK);
    assert_string_equal(url, "http://h/scep?operation=GetCACaps");
    OPENSSL_free(url);

    /* A real GET PKIOperation: the message part holds no raw '+', '/' or '='. */
    reset(FAKE_OK, "AES\nSHA-256\n");
    scep_client *client = fake_client(NULL);
    scep_result *res = NULL;
    assert_int_equal(enroll_with(client, &res, rsa_key, "get"), SCEP_OK);
    assert_string_equal(srv.last_method, "GET");
    const char *msg = strstr(srv.last_url, "&message=");
    assert_non_null(msg);
    msg += strlen("&message=");
    assert_true(strcspn(msg, "+/= \n") == strlen(msg));
    assert_non_null(strstr(msg, "%"));
    scep_result_free(res);
    scep_client_free(client);
}

/* ---- CA verification ---- */

static int accept_cb(X509 *ca, STACK_OF(X509) * all, void *payload)
{
    (void)all;
    *(int *)payload += 1;
    return X509_cmp(ca, srv.ca_cert) == 0 ? 0 : -1;
}

static int refuse_cb(X509 *ca, STACK_OF(X509) * all, void *payload)
{
    (void)ca;
    (void)all;
    (void)payload;
    return 1;
}

static void test_fingerprint_verifier(void **state)
{
    (void)state;
    static const scep_fingerprint_alg algs[] = {SCEP_FINGERPRINT_MD5, SCEP_FINGERPRINT_SHA1,
                                                SCEP_FINGERPRINT_SHA256, SCEP_FINGERPRINT_SHA512};
    static const size_t octets[] = {16, 20, 32, 64};
    reset(FAKE_OK, "AES\nSHA-256\n");
    for (size_t i = 0; i < 4; i++) {
        char *fp = NULL;
        assert_int_equal(scep_cert_fingerprint(&fp, srv.ca_cert, algs[i]), SCEP_OK);
        assert_int_equal(strlen(fp), octets[i] * 3 - 1);
        assert_int_equal(scep_cert_check_fingerprint(srv.ca_cert, fp, algs[i]), SCEP_OK);

        scep_client_options o = {.ca_fingerprint = fp, .fingerprint_alg = algs[i]};
        scep_client *client = fake_client(&o);
        scep_ca_certs *ca = NULL;
        assert_int_equal(scep_client_get_ca(client, &ca, NULL), SCEP_OK);
        assert_int_equal(X509_cmp(scep_ca_certs_ca(ca), srv.ca_cert), 0);
        scep_ca_certs_free(ca);
        scep_client_free(client);

        /* Lower case without colons is the same fingerprint. */
        char plain[200] = {0};
        size_t k = 0;
        for (const char *p = fp; *p; p++)
            if (*p != ':')
                plain[k++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
        assert_int_equal(scep_cert_check_fingerprint(srv.ca_cert, plain, algs[i]), SCEP_OK);

        /* One wrong digit: refused, for getca and for enroll. */
        fp[0] = fp[0] == '0' ? '1' : '0';
        client = fake_client(&o);
        assert_int_equal(scep_client_get_ca(client, &ca, NULL), SCEP_EVERIFY);
        assert_null(ca);
        assert_non_null(strstr(scep_error_message(), "mismatch"));
        scep_result *res = NULL;
        assert_int_equal(enroll_with(client, &res, rsa_key, "fp"), SCEP_EVERIFY);
        scep_client_free(client);
        /* The right digest of the wrong algorithm is refused too. */
        fp[0] = plain[0] >= 'a' ? (char)(plain[0] - 32) : plain[0];
        assert_int_equal(scep_cert_check_fingerprint(srv.ca_cert, fp, algs[(i + 1) % 4]),
                         SCEP_EVERIFY);
        OPENSSL_free(fp);
    }
    scep_fingerprint_alg alg = 0;
    assert_int_equal(scep_fingerprint_alg_from_name(&alg, "SHA-256"), SCEP_OK);
    assert_int_equal(alg, SCEP_FINGERPRINT_SHA256);
    assert_int_equal(scep_fingerprint_alg_from_name(&alg, "md5"), SCEP_OK);
    assert_int_equal(alg, SCEP_FINGERPRINT_MD5);
    assert_int_equal(scep_fingerprint_alg_from_name(&alg, "crc32"), SCEP_EINVAL);

    /* Pinned certificate: right and wrong. */
    scep_client_options pinned = {.ca_cert = srv.other_cert};
    scep_client *client = fake_client(&pinned);
    scep_ca_certs *ca = NULL;
    assert_int_equal(scep_client_get_ca(client, &ca, NULL), SCEP_EVERIFY);
    scep_client_free(client);

    /* Callback: accept and refuse. */
    int calls = 0;
    scep_client_options cb = {.verify_ca = accept_cb, .verify_ca_payload = &calls};
    client = fake_client(&cb);
    assert_int_equal(scep_client_get_ca(client, &ca, NULL), SCEP_OK);
    assert_int_equal(calls, 1);
    scep_ca_certs_free(ca);
    scep_client_free(client);
    scep_client_options no = {.verify_ca = refuse_cb};
    client = fake_client(&no);
    assert_int_equal(scep_client_get_ca(client, &ca, NULL), SCEP_EVERIFY);
    scep_client_free(client);

    /* No verifier at all is a usage error. */
    scep_client_options none = {.url = "http://x/scep"};
    assert_int_equal(scep_client_new(&client, &none), SCEP_EINVAL);
}

static void test_ra_split(void **state)
{
    (void)state;
    EVP_PKEY *enc_key = test_rsa_key(2048);
    EVP_PKEY *sig_key = test_rsa_key(2048);
    X509 *enc = issue(srv.ca_key, srv.ca_cert, enc_key, NULL, "RA enc", "keyEncipherment", 0);
    X509 *sig = issue(srv.ca_key, srv.ca_cert, sig_key, NULL, "RA sig", "digitalSignature", 0);
    STACK_OF(X509) *bundle = sk_X509_new_null();
    sk_X509_push(bundle, sig);
    sk_X509_push(bundle, enc);
    sk_X509_push(bundle, srv.ca_cert);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_certs_only_build(&der, &len, bundle, NULL), SCEP_OK);
    scep_ca_certs *set = NULL;
    assert_int_equal(
        scep_ca_certs_from_reply(&set, "application/x-x509-ca-ra-cert", der, len, 1 << 20),
        SCEP_OK);
    assert_int_equal(X509_cmp(scep_ca_certs_ca(set), srv.ca_cert), 0);
    assert_int_equal(X509_cmp(scep_ca_certs_encryption(set), enc), 0);
    assert_int_equal(X509_cmp(scep_ca_certs_signer(set), sig), 0);
    assert_int_equal(sk_X509_num(scep_ca_certs_all(set)), 3);
    scep_ca_certs_free(set);
    OPENSSL_free(der);

    /* Enrollment through the RA: encrypted to the enc cert, reply signed by the sig cert. */
    srv.ra_bundle = bundle;
    reset(FAKE_OK, "AES\nSHA-256\nPOSTPKIOperation\n");
    scep_result *res = NULL;
    /* The fake signs replies with the pair it decrypts with; with the encryption-only RA
     * (no digitalSignature) that reply must be refused. */
    srv.ra_cert = enc;
    srv.ra_key = enc_key;
    scep_client *client = fake_client(NULL);
    assert_int_equal(enroll_with(client, &res, rsa_key, "via-ra"), SCEP_EVERIFY);
    scep_client_free(client);
    srv.ra_bundle = NULL;
    srv.ra_cert = NULL;
    srv.ra_key = NULL;
    sk_X509_free(bundle);
    X509_free(enc);
    X509_free(sig);
    EVP_PKEY_free(enc_key);
    EVP_PKEY_free(sig_key);
}

/* ---- reply verification ---- */

static void test_reply_verification(void **state)
{
    (void)state;
    static const struct {
        enum fake_mode mode;
        int rc;
    } cases[] = {
        {FAKE_WRONG_NONCE, SCEP_ENONCE},
        {FAKE_WRONG_TRANSACTION, SCEP_ETRANSACTION},
        {FAKE_WRONG_SIGNER, SCEP_EVERIFY},
        {FAKE_DES_REPLY, SCEP_EBADALG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset(cases[i].mode, "AES\nSHA-256\nPOSTPKIOperation\n");
        scep_client *client = fake_client(NULL);
        scep_result *res = NULL;
        assert_int_equal(enroll_with(client, &res, rsa_key, "bad-reply"), cases[i].rc);
        assert_null(res);
        scep_client_free(client);
    }
    assert_non_null(strstr(scep_error_message(), "legacy"));

    /* DES reply with legacy allowed: accepted (micromdm 2.1.0). */
    reset(FAKE_DES_REPLY, "AES\nSHA-256\nPOSTPKIOperation\n");
    scep_client_options legacy = {.legacy = 1};
    scep_client *client = fake_client(&legacy);
    scep_result *res = NULL;
    assert_int_equal(enroll_with(client, &res, rsa_key, "des"), SCEP_OK);
    assert_int_equal(scep_result_status(res), SCEP_STATUS_SUCCESS);
    scep_result_free(res);
    scep_client_free(client);

    /* A verified FAILURE is a result, not an error. */
    reset(FAKE_FAILURE, "AES\nSHA-256\nPOSTPKIOperation\n");
    client = fake_client(NULL);
    assert_int_equal(enroll_with(client, &res, rsa_key, "fail"), SCEP_OK);
    assert_int_equal(scep_result_status(res), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(res), SCEP_FAIL_BAD_REQUEST);
    assert_string_equal(scep_result_fail_info_text(res), "challenge password wrong");
    assert_null(scep_result_cert(res));
    scep_result_free(res);
    scep_client_free(client);
}

/* ---- pending state and polling ---- */

static void test_pending_round_trip(void **state)
{
    (void)state;
    reset(FAKE_PENDING, "AES\nSHA-256\nPOSTPKIOperation\n");
    scep_client_options id = {.cache_ca = 1};
    scep_client *client = fake_client(&id);
    X509_REQ *csr = test_csr(rsa_key, "pending-device", "s3cret");
    scep_enroll_request req = {.csr = csr, .key = rsa_key, .ca_identifier = "CA id/with+chars"};
    scep_result *res = NULL;
    assert_int_equal(scep_client_enroll(client, &res, &req), SCEP_OK);
    assert_int_equal(scep_result_status(res), SCEP_STATUS_PENDING);
    const scep_pending *pending = scep_result_pending(res);
    assert_non_null(pending);
    assert_string_equal(scep_pending_transaction_id(pending), scep_result_transaction_id(res));

    char *text = NULL;
    assert_int_equal(scep_pending_save(&text, pending), SCEP_OK);
    assert_null(strstr(text, "s3cret"));
    scep_pending *loaded = NULL;
    assert_int_equal(scep_pending_load(&loaded, text, strlen(text)), SCEP_OK);
    char *again = NULL;
    assert_int_equal(scep_pending_save(&again, loaded), SCEP_OK);
    assert_string_equal(text, again);
    assert_int_equal(X509_NAME_cmp(loaded->subject, X509_REQ_get_subject_name(csr)), 0);
    assert_string_equal(loaded->ca_identifier, "CA id/with+chars");
    assert_int_equal(loaded->digest, SCEP_DIGEST_SHA256);
    assert_int_equal(loaded->cipher, SCEP_CIPHER_AES256);

    /* Broken states are refused. */
    scep_pending *bad = NULL;
    assert_int_equal(scep_pending_load(&bad, "transaction_id = x\n", 19), SCEP_EMALFORMED);
    char *cut = OPENSSL_strndup(text, strlen(text) / 2);
    assert_int_not_equal(scep_pending_load(&bad, cut, strlen(cut)), SCEP_OK);
    assert_null(bad);
    OPENSSL_free(cut);

    /* Resume in "another process": a fresh client, the loaded state, the same key. */
    scep_client *other = fake_client(NULL);
    scep_result *polled = NULL;
    EVP_PKEY *wrong = test_rsa_key(2048);
    assert_int_equal(scep_client_poll(other, &polled, loaded, wrong), SCEP_EINVAL);
    EVP_PKEY_free(wrong);
    assert_int_equal(scep_client_poll(other, &polled, loaded, rsa_key), SCEP_OK);
    assert_int_equal(srv.last_type, SCEP_MSG_CERTPOLL);
    assert_int_equal(scep_result_status(polled), SCEP_STATUS_SUCCESS);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(scep_result_cert(polled)),
                                   X509_REQ_get_subject_name(csr)),
                     0);
    assert_true(EVP_PKEY_eq(X509_get0_pubkey(scep_result_cert(polled)), rsa_key) == 1);
    assert_string_equal(scep_result_transaction_id(polled), scep_result_transaction_id(res));
    /* The CA identifier travels to GetCACert, percent-encoded. */
    assert_non_null(strstr(srv.last_url, "message=CA%20id%2Fwith%2Bchars"));

    scep_result_free(polled);
    scep_client_free(other);
    OPENSSL_free(text);
    OPENSSL_free(again);
    scep_pending_free(loaded);
    scep_result_free(res);
    X509_REQ_free(csr);
    scep_client_free(client);
}

/* ---- renewal, EC, GetCert, GetCRL ---- */

static void test_renewal_modes(void **state)
{
    (void)state;
    reset(FAKE_OK, "AES\nSHA-256\nPOSTPKIOperation\nRenewal\n");
    scep_client *client = fake_client(NULL);
    scep_result *first = NULL;
    assert_int_equal(enroll_with(client, &first, rsa_key, "renew-me"), SCEP_OK);
    X509 *existing = scep_result_cert(first);
    EVP_PKEY *new_key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(new_key, "renew-me", NULL);
    scep_enroll_request req = {
        .csr = csr, .key = new_key, .existing_cert = existing, .existing_key = rsa_key};
    static const struct {
        const char *caps;
        scep_renewal_mode mode;
        scep_message_type want;
    } cases[] = {
        {"AES\nSHA-256\nRenewal\n", SCEP_RENEWAL_AUTO, SCEP_MSG_RENEWALREQ},
        {"AES\nSHA-256\n", SCEP_RENEWAL_AUTO, SCEP_MSG_PKCSREQ},
        {"AES\nSHA-256\nRenewal\n", SCEP_RENEWAL_PKCSREQ, SCEP_MSG_PKCSREQ},
        {"AES\nSHA-256\n", SCEP_RENEWAL_RENEWALREQ, SCEP_MSG_RENEWALREQ},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset(FAKE_OK, cases[i].caps);
        scep_client_options o = {.renewal = cases[i].mode};
        scep_client *c = fake_client(&o);
        scep_result *res = NULL;
        assert_int_equal(scep_client_enroll(c, &res, &req), SCEP_OK);
        assert_int_equal(srv.last_type, cases[i].want);
        assert_int_equal(scep_result_message_type(res), cases[i].want);
        assert_true(EVP_PKEY_eq(X509_get0_pubkey(scep_result_cert(res)), new_key) == 1);
        scep_result_free(res);
        scep_client_free(c);
    }
    /* Mismatched existing key: refused before anything is sent. */
    scep_enroll_request wrong = req;
    wrong.existing_key = new_key;
    scep_result *res = NULL;
    assert_int_equal(scep_client_enroll(client, &res, &wrong), SCEP_EINVAL);

    /* GetCert and GetCRL signed with the issued certificate. */
    reset(FAKE_OK, "AES\nSHA-256\nPOSTPKIOperation\n");
    assert_int_equal(scep_client_get_cert(client, &res, X509_get0_serialNumber(existing), existing,
                                          rsa_key, NULL),
                     SCEP_OK);
    assert_int_equal(srv.last_type, SCEP_MSG_GETCERT);
    assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(scep_result_cert(res)),
                                      X509_get0_serialNumber(existing)),
                     0);
    scep_result_free(res);
    assert_int_equal(scep_client_get_crl(client, &res, existing, rsa_key, NULL), SCEP_OK);
    assert_int_equal(srv.last_type, SCEP_MSG_GETCRL);
    assert_non_null(scep_result_crl(res));
    scep_result_free(res);

    X509_REQ_free(csr);
    EVP_PKEY_free(new_key);
    scep_result_free(first);
    scep_client_free(client);
}

static void test_ec_requesters(void **state)
{
    (void)state;
    const char *curves[] = {"P-256", "P-384"};
    reset(FAKE_OK, "AES\nSHA-256\nPOSTPKIOperation\n");
    scep_client *client = fake_client(NULL);
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *key = test_ec_key(curves[i]);
        scep_result *res = NULL;
        assert_int_equal(enroll_with(client, &res, key, curves[i]), SCEP_OK);
        assert_int_equal(scep_result_status(res), SCEP_STATUS_SUCCESS);
        assert_true(EVP_PKEY_eq(X509_get0_pubkey(scep_result_cert(res)), key) == 1);
        scep_result_free(res);
        EVP_PKEY_free(key);
    }
    scep_client_free(client);
}

/* ---- one client, many threads ---- */

#define THREADS    8
#define PER_THREAD 3

struct worker {
    scep_client *client;
    EVP_PKEY *key;
    int ok;
    long serials[PER_THREAD];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        X509_REQ *csr = X509_REQ_new();
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)"thread", -1, -1, 0);
        X509_REQ_set_pubkey(csr, w->key);
        X509_REQ_sign(csr, w->key, EVP_sha256());
        scep_enroll_request req = {.csr = csr, .key = w->key};
        scep_result *res = NULL;
        int rc = scep_client_enroll(w->client, &res, &req);
        if (rc == SCEP_OK && scep_result_status(res) == SCEP_STATUS_SUCCESS &&
            EVP_PKEY_eq(X509_get0_pubkey(scep_result_cert(res)), w->key) == 1) {
            w->ok++;
            w->serials[i] = ASN1_INTEGER_get(X509_get0_serialNumber(scep_result_cert(res)));
        }
        scep_result_free(res);
        X509_REQ_free(csr);
    }
    return NULL;
}

static void test_threads_share_client(void **state)
{
    (void)state;
    reset(FAKE_OK, "AES\nSHA-256\nPOSTPKIOperation\n");
    scep_client_options o = {.cache_ca = 1};
    scep_client *client = fake_client(&o);
    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.client = client,
                                     .key = i % 2 ? test_ec_key("P-256") : test_rsa_key(2048)};
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(workers[i].ok, PER_THREAD);
        for (int j = 0; j < THREADS; j++)
            for (int a = 0; a < PER_THREAD; a++)
                for (int b = 0; b < PER_THREAD; b++)
                    if (i != j || a != b)
                        assert_true(workers[i].serials[a] != workers[j].serials[b]);
        EVP_PKEY_free(workers[i].key);
    }
    scep_client_free(client);
}

/* `scep --subject` and `scepctl ee add --dn` read a DN the same way: one name, O then CN. */
static void test_cli_csr_subject_and_san(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(key);
    X509_REQ *csr = NULL;
    assert_int_equal(scep_cli_make_csr(&csr, key, "CN=dev1,O=Example",
                                       "dns:dev1.example,ip:192.0.2.9,upn:dev1@corp", "clientAuth",
                                       "secret"),
                     0);
    assert_int_equal(X509_REQ_verify(csr, key), 1);

    const X509_NAME *subject = X509_REQ_get_subject_name(csr);
    X509_NAME *rfc = NULL, *slash = NULL;
    assert_int_equal(scep_dn_parse(&rfc, "CN=dev1,O=Example"), 0);
    assert_int_equal(scep_dn_parse(&slash, "/O=Example/CN=dev1"), 0);
    assert_int_equal(X509_NAME_cmp(subject, rfc), 0);
    assert_int_equal(X509_NAME_cmp(subject, slash), 0);
    assert_int_equal(X509_NAME_entry_count(subject), 2);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(subject, 0))),
                     NID_organizationName);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(subject, 1))),
                     NID_commonName);
    /* The same DER, not only an equal name. */
    unsigned char *der_csr = NULL, *der_dn = NULL;
    int len_csr = i2d_X509_NAME(subject, &der_csr), len_dn = i2d_X509_NAME(rfc, &der_dn);
    assert_true(len_csr > 0);
    assert_int_equal(len_csr, len_dn);
    assert_memory_equal(der_csr, der_dn, (size_t)len_csr);
    OPENSSL_free(der_csr);
    OPENSSL_free(der_dn);
    char *text = NULL;
    assert_int_equal(scep_dn_format(&text, subject), 0);
    assert_string_equal(text, "CN=dev1,O=Example");
    OPENSSL_free(text);

    /* The SAN extension holds exactly what scep_san_parse makes of the same text. */
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    assert_non_null(exts);
    GENERAL_NAMES *in_csr = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    GENERAL_NAMES *expected = NULL;
    assert_non_null(in_csr);
    assert_int_equal(scep_san_parse(&expected, "dns:dev1.example,ip:192.0.2.9,upn:dev1@corp"), 0);
    assert_int_equal(sk_GENERAL_NAME_num(in_csr), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            GENERAL_NAME_cmp(sk_GENERAL_NAME_value(in_csr, i), sk_GENERAL_NAME_value(expected, i)),
            0);
    assert_int_equal(scep_san_format(&text, in_csr, ','), 0);
    assert_string_equal(text, "dns:dev1.example,ip:192.0.2.9,upn:dev1@corp");
    OPENSSL_free(text);
    GENERAL_NAMES_free(in_csr);
    GENERAL_NAMES_free(expected);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(csr);

    /* No --san: no extension at all rather than an empty one. */
    csr = NULL;
    assert_int_equal(scep_cli_make_csr(&csr, key, "/O=Example/CN=dev1", "", NULL, NULL), 0);
    assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(csr), rfc), 0);
    exts = X509_REQ_get_extensions(csr);
    assert_true(exts == NULL || X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) < 0);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(csr);

    /* A bad subject or SAN makes no CSR. */
    csr = NULL;
    assert_int_equal(scep_cli_make_csr(&csr, key, "CN", NULL, NULL, NULL), -1);
    assert_int_equal(scep_cli_make_csr(&csr, key, "CN=dev1", "dns:-x.example", NULL, NULL), -1);
    assert_int_equal(scep_cli_make_csr(&csr, key, "CN=dev1", "foo:x", NULL, NULL), -1);
    assert_null(csr);

    X509_NAME_free(rfc);
    X509_NAME_free(slash);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_algorithms_from_caps), cmocka_unit_test(test_url_encoding),
        cmocka_unit_test(test_fingerprint_verifier), cmocka_unit_test(test_ra_split),
        cmocka_unit_test(test_reply_verification),   cmocka_unit_test(test_pending_round_trip),
        cmocka_unit_test(test_renewal_modes),        cmocka_unit_test(test_ec_requesters),
        cmocka_unit_test(test_threads_share_client), cmocka_unit_test(test_cli_csr_subject_and_san),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
