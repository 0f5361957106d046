/*
 * The message layer against itself: every request type x digest x cipher x
 * signer key builds, verifies and decrypts back to what went in; replies in
 * every status; and every way a message can be wrong maps to its failInfo.
 * Cross-checks with other implementations live in test_message_openssl.c
 * and test_message_vectors.c.
 */
#include "test_support.h"

#include "message/message_internal.h"
#include "scep/caps.h"
#include "scep/message.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const scep_message_options legacy_options = {.flags = SCEP_MSG_LEGACY};

struct fixture {
    EVP_PKEY *ca_key;
    X509 *ca_cert;
    EVP_PKEY *other_ca_key;
    X509 *other_ca_cert;
    EVP_PKEY *requester_keys[3]; /* RSA 2048, EC P-256, EC P-384 */
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    fx.ca_key = test_rsa_key(2048);
    fx.ca_cert = test_self_signed(fx.ca_key, "Test SCEP CA");
    fx.other_ca_key = test_rsa_key(2048);
    fx.other_ca_cert = test_self_signed(fx.other_ca_key, "Other CA");
    fx.requester_keys[0] = test_rsa_key(2048);
    fx.requester_keys[1] = test_ec_key("P-256");
    fx.requester_keys[2] = test_ec_key("P-384");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(fx.ca_key);
    X509_free(fx.ca_cert);
    EVP_PKEY_free(fx.other_ca_key);
    X509_free(fx.other_ca_cert);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(fx.requester_keys[i]);
    return 0;
}

struct built {
    unsigned char *der;
    size_t len;
    char *transaction_id;
    unsigned char nonce[SCEP_NONCE_LEN];
    X509 *signer;
    X509_REQ *csr;
};

static void built_free(struct built *b)
{
    OPENSSL_free(b->der);
    OPENSSL_free(b->transaction_id);
    X509_free(b->signer);
    X509_REQ_free(b->csr);
    memset(b, 0, sizeof(*b));
}

static ASN1_INTEGER *serial_of(long value)
{
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    assert_non_null(serial);
    assert_int_equal(ASN1_INTEGER_set(serial, value), 1);
    return serial;
}

/* Builds a request of `type` from `key`, encrypted to `recipient`. */
static int build_request(struct built *out, scep_message_type type, EVP_PKEY *key, X509 *recipient,
                         scep_digest digest, scep_cipher cipher,
                         const scep_message_options *options)
{
    memset(out, 0, sizeof(*out));
    out->csr = test_csr(key, "device-42", "s3cret");
    assert_int_equal(scep_self_signed_signer(&out->signer, key, out->csr, SCEP_DIGEST_SHA256, 1),
                     SCEP_OK);
    ASN1_INTEGER *serial = serial_of(0x1234567);
    scep_request request = {
        .type = type,
        .signer_cert = out->signer,
        .signer_key = key,
        .recipient_cert = recipient,
        .digest = digest,
        .cipher = cipher,
        .csr = out->csr,
        .issuer = X509_get_subject_name(fx.ca_cert),
        .subject = X509_REQ_get_subject_name(out->csr),
        .serial = serial,
    };
    int rc = scep_request_build(&out->der, &out->len, &out->transaction_id, out->nonce, &request,
                                options);
    ASN1_INTEGER_free(serial);
    return rc;
}

static void check_request_content(const scep_pkimessage *msg, const struct built *b,
                                  scep_message_type type)
{
    switch (type) {
    case SCEP_MSG_PKCSREQ:
    case SCEP_MSG_RENEWALREQ: {
        X509_REQ *csr = scep_pkimessage_csr(msg);
        assert_non_null(csr);
        unsigned char *a = NULL, *c = NULL;
        int alen = i2d_X509_REQ(csr, &a);
        int clen = i2d_X509_REQ(b->csr, &c);
        assert_int_equal(alen, clen);
        assert_memory_equal(a, c, (size_t)alen);
        OPENSSL_free(a);
        OPENSSL_free(c);
        break;
    }
    case SCEP_MSG_CERTPOLL:
        assert_int_equal(
            X509_NAME_cmp(scep_pkimessage_issuer(msg), X509_get_subject_name(fx.ca_cert)), 0);
        assert_int_equal(
            X509_NAME_cmp(scep_pkimessage_subject(msg), X509_REQ_get_subject_name(b->csr)), 0);
        break;
    case SCEP_MSG_GETCERT:
    case SCEP_MSG_GETCRL:
        assert_int_equal(
            X509_NAME_cmp(scep_pkimessage_issuer(msg), X509_get_subject_name(fx.ca_cert)), 0);
        assert_int_equal(ASN1_INTEGER_get(scep_pkimessage_serial(msg)), 0x1234567);
        break;
    case SCEP_MSG_CERTREP:
        fail_msg("not a request");
    }
}

static void every_request_type_digest_cipher_and_signer_round_trips(void **state)
{
    (void)state;
    static const scep_message_type types[] = {SCEP_MSG_PKCSREQ, SCEP_MSG_RENEWALREQ,
                                              SCEP_MSG_CERTPOLL, SCEP_MSG_GETCERT, SCEP_MSG_GETCRL};
    static const scep_digest digests[] = {SCEP_DIGEST_MD5, SCEP_DIGEST_SHA1, SCEP_DIGEST_SHA256,
                                          SCEP_DIGEST_SHA384, SCEP_DIGEST_SHA512};
    static const scep_cipher ciphers[] = {SCEP_CIPHER_DES, SCEP_CIPHER_DES3, SCEP_CIPHER_AES128,
                                          SCEP_CIPHER_AES192, SCEP_CIPHER_AES256};
    int combinations = 0;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (size_t d = 0; d < sizeof(digests) / sizeof(digests[0]); d++)
            for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++)
                for (size_t k = 0; k < 3; k++) {
                    struct built b;
                    int rc = build_request(&b, types[t], fx.requester_keys[k], fx.ca_cert,
                                           digests[d], ciphers[c], &legacy_options);
                    if (digests[d] == SCEP_DIGEST_MD5 && k > 0) {
                        /* No ECDSA-with-MD5 exists. */
                        assert_int_equal(rc, SCEP_EBADALG);
                        built_free(&b);
                        continue;
                    }
                    if (rc != SCEP_OK)
                        fail_msg("%s %s %s key %zu: %s", scep_message_type_name(types[t]),
                                 scep_digest_name(digests[d]), scep_cipher_name(ciphers[c]), k,
                                 scep_error_message());
                    scep_pkimessage *msg = NULL;
                    assert_int_equal(
                        scep_pkimessage_parse(&msg, b.der, b.len, NULL, NULL, &legacy_options),
                        SCEP_OK);
                    assert_int_equal(scep_pkimessage_type(msg), types[t]);
                    assert_int_equal(scep_pkimessage_digest(msg), digests[d]);
                    assert_int_equal(scep_pkimessage_cipher(msg), ciphers[c]);
                    assert_string_equal(scep_pkimessage_transaction_id(msg), b.transaction_id);
                    assert_memory_equal(scep_pkimessage_sender_nonce(msg), b.nonce, SCEP_NONCE_LEN);
                    assert_null(scep_pkimessage_recipient_nonce(msg));
                    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(msg), b.signer), 0);
                    assert_int_equal(
                        scep_pkimessage_decrypt(msg, &fx.ca_cert, &fx.ca_key, 1, &legacy_options),
                        SCEP_OK);
                    check_request_content(msg, &b, types[t]);
                    scep_pkimessage_free(msg);
                    built_free(&b);
                    combinations++;
                }
    assert_int_equal(combinations, 5 * 5 * 5 * 3 - 5 * 5 * 2);
}

static void default_transaction_id_is_hex_sha256_of_the_public_key(void **state)
{
    (void)state;
    struct built b;
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128, NULL),
                     SCEP_OK);
    char *expected = NULL;
    assert_int_equal(scep_transaction_id_from_key(&expected, fx.requester_keys[0]), SCEP_OK);
    assert_int_equal(strlen(expected), 64);
    assert_string_equal(b.transaction_id, expected);
    OPENSSL_free(expected);

    /* The self-signed signer repeats the CSR subject (RFC 8894 §2.3). */
    assert_int_equal(
        X509_NAME_cmp(X509_get_subject_name(b.signer), X509_REQ_get_subject_name(b.csr)), 0);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(b.signer), X509_get_subject_name(b.signer)),
                     0);
    built_free(&b);

    /* Fresh random nonces. */
    unsigned char n1[SCEP_NONCE_LEN], n2[SCEP_NONCE_LEN];
    assert_int_equal(scep_nonce_generate(n1), SCEP_OK);
    assert_int_equal(scep_nonce_generate(n2), SCEP_OK);
    assert_memory_not_equal(n1, n2, SCEP_NONCE_LEN);
}

static X509 *issue_for(EVP_PKEY *subject_key, const char *cn)
{
    X509 *cert = X509_new();
    assert_non_null(cert);
    X509_set_version(cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(fx.ca_cert));
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, subject_key);
    assert_true(X509_sign(cert, fx.ca_key, EVP_sha256()) > 0);
    return cert;
}

static X509_CRL *make_crl(void)
{
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(fx.ca_cert));
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
    X509_CRL_set1_lastUpdate(crl, now);
    ASN1_TIME_free(now);
    assert_true(X509_CRL_sign(crl, fx.ca_key, EVP_sha256()) > 0);
    return crl;
}

/* The server's side: answers `b` with `status`; the requester parses and checks it. */
static scep_pkimessage *reply_round_trip(struct built *b, EVP_PKEY *requester_key,
                                         scep_pki_status status, STACK_OF(X509) * certs,
                                         X509_CRL *crl, scep_digest digest, scep_cipher cipher)
{
    scep_reply reply = {
        .status = status,
        .transaction_id = b->transaction_id,
        .recipient_nonce = b->nonce,
        .signer_cert = fx.ca_cert,
        .signer_key = fx.ca_key,
        .digest = digest,
        .recipient_cert = b->signer,
        .cipher = cipher,
        .certs = certs,
        .crl = crl,
        .fail_info = SCEP_FAIL_BAD_REQUEST,
        .fail_info_text = "enrollment code already used",
    };
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_reply_build(&der, &len, &reply, &legacy_options), SCEP_OK);

    STACK_OF(X509) *trusted = sk_X509_new_null();
    sk_X509_push(trusted, fx.ca_cert);
    scep_pkimessage *msg = NULL;
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, trusted, &legacy_options),
                     SCEP_OK);
    sk_X509_free(trusted);
    OPENSSL_free(der);
    assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_CERTREP);
    assert_int_equal(scep_pkimessage_status(msg), status);
    assert_int_equal(scep_pkimessage_digest(msg), digest);
    assert_int_equal(scep_pkimessage_check_reply(msg, b->transaction_id, b->nonce), SCEP_OK);
    assert_int_equal(scep_pkimessage_decrypt(msg, &b->signer, &requester_key, 1, &legacy_options),
                     SCEP_OK);
    return msg;
}

static void replies_in_every_status_round_trip(void **state)
{
    (void)state;
    static const scep_cipher ciphers[] = {SCEP_CIPHER_DES3, SCEP_CIPHER_AES128, SCEP_CIPHER_AES256};
    for (size_t k = 0; k < 3; k++) {
        EVP_PKEY *key = fx.requester_keys[k];
        for (size_t c = 0; c < 3; c++) {
            struct built b;
            assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, key, fx.ca_cert,
                                           SCEP_DIGEST_SHA256, ciphers[c], NULL),
                             SCEP_OK);
            X509 *issued = issue_for(key, "device-42");
            STACK_OF(X509) *certs = sk_X509_new_null();
            sk_X509_push(certs, issued);
            sk_X509_push(certs, fx.ca_cert);

            /* SUCCESS: issued certificate first, CA after it (RFC 8894 §3.3.2.1). */
            scep_pkimessage *msg = reply_round_trip(&b, key, SCEP_STATUS_SUCCESS, certs, NULL,
                                                    SCEP_DIGEST_SHA512, ciphers[c]);
            assert_int_equal(scep_pkimessage_cipher(msg), ciphers[c]);
            STACK_OF(X509) *got = scep_pkimessage_certs(msg);
            assert_int_equal(sk_X509_num(got), 2);
            assert_int_equal(X509_cmp(sk_X509_value(got, 0), issued), 0);
            assert_int_equal(X509_cmp(sk_X509_value(got, 1), fx.ca_cert), 0);
            scep_pkimessage_free(msg);

            /* PENDING: no envelope (RFC 8894 §3.3.2.3). */
            msg = reply_round_trip(&b, key, SCEP_STATUS_PENDING, NULL, NULL, SCEP_DIGEST_SHA1,
                                   ciphers[c]);
            assert_false(scep_pkimessage_has_envelope(msg));
            assert_null(scep_pkimessage_certs(msg));
            scep_pkimessage_free(msg);

            /* FAILURE: failInfo and failInfoText (RFC 8894 §3.3.2.2). */
            msg = reply_round_trip(&b, key, SCEP_STATUS_FAILURE, NULL, NULL, SCEP_DIGEST_SHA256,
                                   ciphers[c]);
            assert_false(scep_pkimessage_has_envelope(msg));
            assert_int_equal(scep_pkimessage_fail_info(msg), SCEP_FAIL_BAD_REQUEST);
            assert_string_equal(scep_pkimessage_fail_info_text(msg),
                                "enrollment code already used");
            scep_pkimessage_free(msg);

            X509_free(issued);
            sk_X509_free(certs);
            built_free(&b);
        }
    }
}

static void crl_reply_round_trips(void **state)
{
    (void)state;
    struct built b;
    assert_int_equal(build_request(&b, SCEP_MSG_GETCRL, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256, NULL),
                     SCEP_OK);
    X509_CRL *crl = make_crl();
    scep_pkimessage *msg = reply_round_trip(&b, fx.requester_keys[0], SCEP_STATUS_SUCCESS, NULL,
                                            crl, SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256);
    assert_non_null(scep_pkimessage_crl(msg));
    assert_int_equal(X509_CRL_cmp(scep_pkimessage_crl(msg), crl), 0);
    scep_pkimessage_free(msg);
    X509_CRL_free(crl);
    built_free(&b);
}

static void reply_checks_catch_wrong_nonce_transaction_and_signer(void **state)
{
    (void)state;
    struct built b;
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128, NULL),
                     SCEP_OK);
    scep_pkimessage *msg = reply_round_trip(&b, fx.requester_keys[0], SCEP_STATUS_PENDING, NULL,
                                            NULL, SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128);
    unsigned char other_nonce[SCEP_NONCE_LEN];
    memcpy(other_nonce, b.nonce, SCEP_NONCE_LEN);
    other_nonce[3] ^= 0x40;
    assert_int_equal(scep_pkimessage_check_reply(msg, b.transaction_id, other_nonce), SCEP_ENONCE);
    assert_int_equal(scep_pkimessage_check_reply(msg, "SOMEONE-ELSE", b.nonce), SCEP_ETRANSACTION);
    scep_pkimessage_free(msg);

    /* A reply signed by a CA the client does not trust. */
    scep_reply reply = {
        .status = SCEP_STATUS_PENDING,
        .transaction_id = b.transaction_id,
        .recipient_nonce = b.nonce,
        .signer_cert = fx.other_ca_cert,
        .signer_key = fx.other_ca_key,
        .digest = SCEP_DIGEST_SHA256,
    };
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_reply_build(&der, &len, &reply, NULL), SCEP_OK);
    STACK_OF(X509) *trusted = sk_X509_new_null();
    sk_X509_push(trusted, fx.ca_cert);
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, trusted, NULL), SCEP_EVERIFY);
    assert_int_equal(scep_error_fail_info(SCEP_EVERIFY), SCEP_FAIL_BAD_MESSAGE_CHECK);
    sk_X509_free(trusted);
    OPENSSL_free(der);
    built_free(&b);
}

/* ---- negative tests -------------------------------------------------------------------------- */

static int parse_code(const unsigned char *der, size_t len, const scep_message_options *options)
{
    scep_pkimessage *msg = NULL;
    int rc = scep_pkimessage_parse(&msg, der, len, NULL, NULL, options);
    if (rc == SCEP_OK) {
        rc = scep_pkimessage_decrypt(msg, &fx.ca_cert, &fx.ca_key, 1, options);
        scep_pkimessage_free(msg);
    } else {
        assert_null(msg);
    }
    return rc;
}

static struct built good_request(void)
{
    struct built b;
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128, NULL),
                     SCEP_OK);
    return b;
}

static void tampered_signature_or_content_is_bad_message_check(void **state)
{
    (void)state;
    struct built b = good_request();
    assert_int_equal(parse_code(b.der, b.len, NULL), SCEP_OK);

    /* The RSA signature is the last OCTET STRING in the message. */
    b.der[b.len - 5] ^= 0x01;
    assert_int_equal(parse_code(b.der, b.len, NULL), SCEP_EBADSIG);
    assert_int_equal(scep_error_fail_info(scep_error_code()), SCEP_FAIL_BAD_MESSAGE_CHECK);
    b.der[b.len - 5] ^= 0x01;

    /* A byte of the encrypted content breaks the messageDigest. */
    size_t middle = b.len / 3;
    b.der[middle] ^= 0x80;
    int rc = parse_code(b.der, b.len, NULL);
    assert_true(rc == SCEP_EBADSIG || rc == SCEP_EMALFORMED);
    b.der[middle] ^= 0x80;
    built_free(&b);
}

static void peek_reads_a_tampered_request_for_its_failure_reply(void **state)
{
    (void)state;
    struct built b = good_request();
    b.der[b.len - 5] ^= 0x01;
    assert_int_equal(parse_code(b.der, b.len, NULL), SCEP_EBADSIG);
    scep_pkimessage *msg = NULL;
    assert_int_equal(scep_pkimessage_peek(&msg, b.der, b.len, NULL), SCEP_OK);
    assert_string_equal(scep_pkimessage_transaction_id(msg), b.transaction_id);
    assert_memory_equal(scep_pkimessage_sender_nonce(msg), b.nonce, SCEP_NONCE_LEN);
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(msg), b.signer), 0);
    scep_pkimessage_free(msg);
    assert_int_equal(scep_pkimessage_peek(&msg, b.der, b.len / 2, NULL), SCEP_EMALFORMED);
    assert_null(msg);
    built_free(&b);
}

static void disallowed_algorithms_are_bad_alg(void **state)
{
    (void)state;
    struct built b;
    /* Single DES and MD5 need the legacy switch on both sides. */
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_DES, NULL),
                     SCEP_EBADALG);
    built_free(&b);
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_DES, &legacy_options),
                     SCEP_OK);
    assert_int_equal(parse_code(b.der, b.len, NULL), SCEP_EBADALG);
    assert_int_equal(scep_error_fail_info(scep_error_code()), SCEP_FAIL_BAD_ALG);
    assert_int_equal(parse_code(b.der, b.len, &legacy_options), SCEP_OK);
    built_free(&b);

    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_MD5, SCEP_CIPHER_AES128, &legacy_options),
                     SCEP_OK);
    assert_int_equal(parse_code(b.der, b.len, NULL), SCEP_EBADALG);
    assert_non_null(strstr(scep_error_message(), "MD5"));
    assert_int_equal(parse_code(b.der, b.len, &legacy_options), SCEP_OK);
    built_free(&b);
}

/*
 * Builds a SignedData with hand-picked SCEP attributes through the CMS API,
 * for the defects scep_request_build refuses to produce.
 */
struct raw_attr {
    const char *oid;
    int type;
    const char *value;
    int len;
};

static void build_raw(unsigned char **out, size_t *out_len, const struct raw_attr *attrs,
                      size_t count, const unsigned char *content, size_t content_len)
{
    EVP_PKEY *key = fx.requester_keys[0];
    X509 *signer = test_self_signed(key, "raw");
    CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    assert_non_null(cms);
    CMS_SignerInfo *si =
        CMS_add1_signer(cms, signer, key, EVP_sha256(), CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP);
    assert_non_null(si);
    for (size_t i = 0; i < count; i++) {
        ASN1_OBJECT *obj = OBJ_txt2obj(attrs[i].oid, 1);
        assert_int_equal(
            CMS_signed_add1_attr_by_OBJ(si, obj, attrs[i].type, attrs[i].value, attrs[i].len), 1);
        ASN1_OBJECT_free(obj);
    }
    BIO *in = BIO_new_mem_buf(content, (int)content_len);
    assert_int_equal(CMS_final(cms, in, NULL, CMS_BINARY), 1);
    unsigned char *der = NULL;
    int len = i2d_CMS_ContentInfo(cms, &der);
    assert_true(len > 0);
    *out = der;
    *out_len = (size_t)len;
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    X509_free(signer);
}

#define OID_MESSAGE_TYPE   "2.16.840.1.113733.1.9.2"
#define OID_SENDER_NONCE   "2.16.840.1.113733.1.9.5"
#define OID_TRANSACTION_ID "2.16.840.1.113733.1.9.7"

static void missing_or_mistyped_attributes_are_bad_request(void **state)
{
    (void)state;
    unsigned char *envelope = NULL;
    size_t envelope_len = 0;
    X509_REQ *csr = test_csr(fx.requester_keys[0], "raw", "pw");
    unsigned char *csr_der = NULL;
    int csr_len = i2d_X509_REQ(csr, &csr_der);
    assert_int_equal(scep_envelope_encrypt(&envelope, &envelope_len, csr_der, (size_t)csr_len,
                                           fx.ca_cert, SCEP_CIPHER_AES128, 0),
                     SCEP_OK);
    static const char nonce[16] = "0123456789abcdef";
    const struct raw_attr good[] = {
        {OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, "19", 2},
        {OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, "ABC123", 6},
        {OID_SENDER_NONCE, V_ASN1_OCTET_STRING, nonce, 16},
    };
    struct {
        const char *what;
        struct raw_attr attrs[3];
        size_t count;
        int expected;
    } cases[] = {
        {"all good", {good[0], good[1], good[2]}, 3, SCEP_OK},
        {"no transactionID", {good[0], good[2]}, 2, SCEP_EATTR},
        {"no messageType", {good[1], good[2]}, 2, SCEP_EATTR},
        {"no senderNonce", {good[0], good[1]}, 2, SCEP_EATTR},
        {"transactionID as UTF8String",
         {good[0], {OID_TRANSACTION_ID, V_ASN1_UTF8STRING, "ABC123", 6}, good[2]},
         3,
         SCEP_EATTR},
        {"transactionID with a line break (outside PrintableString)",
         {good[0], {OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, "AB\nC", 4}, good[2]},
         3,
         SCEP_EATTR},
        {"messageType as IA5String",
         {{OID_MESSAGE_TYPE, V_ASN1_IA5STRING, "19", 2}, good[1], good[2]},
         3,
         SCEP_EATTR},
        {"messageType not a number",
         {{OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, "PKCSReq", 7}, good[1], good[2]},
         3,
         SCEP_EATTR},
        {"unknown messageType",
         {{OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, "99", 2}, good[1], good[2]},
         3,
         SCEP_EUNSUPPORTED},
        {"4-octet senderNonce",
         {good[0], good[1], {OID_SENDER_NONCE, V_ASN1_OCTET_STRING, nonce, 4}},
         3,
         SCEP_EATTR},
        /* Old Go clients send 8 octets; accepted and echoed (RFC 8894 says 16). */
        {"8-octet senderNonce",
         {good[0], good[1], {OID_SENDER_NONCE, V_ASN1_OCTET_STRING, nonce, 8}},
         3,
         SCEP_OK},
        {"senderNonce as PrintableString",
         {good[0], good[1], {OID_SENDER_NONCE, V_ASN1_PRINTABLESTRING, nonce, 16}},
         3,
         SCEP_EATTR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *der = NULL;
        size_t len = 0;
        build_raw(&der, &len, cases[i].attrs, cases[i].count, envelope, envelope_len);
        int rc = parse_code(der, len, NULL);
        if (rc != cases[i].expected)
            fail_msg("%s: expected %s, got %s (%s)", cases[i].what,
                     scep_error_name(cases[i].expected), scep_error_name(rc), scep_error_message());
        if (rc != SCEP_OK)
            assert_int_equal(scep_error_fail_info(rc), SCEP_FAIL_BAD_REQUEST);
        OPENSSL_free(der);
    }

    /* A PKCSReq whose content is not an EnvelopedData. */
    unsigned char *der = NULL;
    size_t len = 0;
    build_raw(&der, &len, good, 3, csr_der, (size_t)csr_len);
    assert_int_equal(parse_code(der, len, NULL), SCEP_EMALFORMED);
    OPENSSL_free(der);

    OPENSSL_free(csr_der);
    OPENSSL_free(envelope);
    X509_REQ_free(csr);
}

/*
 * An RA that opened the envelope hands the content on; the CA takes it with
 * scep_pkimessage_set_content and still verifies the client's signature itself.
 */
static void content_from_an_ra_is_taken_after_verification(void **state)
{
    (void)state;
    struct built b;
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128, NULL),
                     SCEP_OK);
    scep_pkimessage *opened = NULL;
    assert_int_equal(scep_pkimessage_parse(&opened, b.der, b.len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_decrypt(opened, &fx.ca_cert, &fx.ca_key, 1, NULL), SCEP_OK);
    size_t content_len = 0;
    const unsigned char *content = scep_pkimessage_content(opened, &content_len);
    assert_non_null(content);

    /* Without any key: the content is taken, the CSR parsed, the signer kept. */
    scep_pkimessage *msg = NULL;
    assert_int_equal(scep_pkimessage_parse(&msg, b.der, b.len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_set_content(msg, content, content_len), SCEP_OK);
    check_request_content(msg, &b, SCEP_MSG_PKCSREQ);
    assert_int_equal(scep_pkimessage_recipient_index(msg), SIZE_MAX);
    assert_int_equal(scep_pkimessage_cipher(msg), SCEP_CIPHER_AES128);
    /* Once known, the content is not replaced. */
    assert_int_equal(scep_pkimessage_set_content(msg, content, content_len), SCEP_EINVAL);
    scep_pkimessage_free(msg);

    /* Content that is not the messageType's: refused. */
    static const unsigned char not_a_csr[] = {0x30, 0x03, 0x02, 0x01, 0x05};
    assert_int_equal(scep_pkimessage_parse(&msg, b.der, b.len, NULL, NULL, NULL), SCEP_OK);
    assert_true(scep_pkimessage_set_content(msg, not_a_csr, sizeof(not_a_csr)) < 0);
    assert_null(scep_pkimessage_csr(msg));
    /* ... and not kept: the message has no content, and the right one may still come. */
    size_t left_len = 1;
    assert_null(scep_pkimessage_content(msg, &left_len));
    assert_int_equal(left_len, 0);
    assert_int_equal(scep_pkimessage_set_content(msg, content, content_len), SCEP_OK);
    check_request_content(msg, &b, SCEP_MSG_PKCSREQ);
    scep_pkimessage_free(msg);

    /* A CertRep's content comes from its requester's key alone, never from a third party. */
    X509 *issued = issue_for(fx.requester_keys[0], "device-42");
    STACK_OF(X509) *issued_certs = sk_X509_new_null();
    sk_X509_push(issued_certs, issued);
    scep_reply reply = {
        .status = SCEP_STATUS_SUCCESS,
        .transaction_id = b.transaction_id,
        .recipient_nonce = b.nonce,
        .signer_cert = fx.ca_cert,
        .signer_key = fx.ca_key,
        .digest = SCEP_DIGEST_SHA256,
        .recipient_cert = b.signer,
        .cipher = SCEP_CIPHER_AES128,
        .certs = issued_certs,
    };
    unsigned char *rep_der = NULL;
    size_t rep_len = 0;
    assert_int_equal(scep_reply_build(&rep_der, &rep_len, &reply, NULL), SCEP_OK);
    scep_pkimessage *rep = NULL;
    assert_int_equal(scep_pkimessage_parse(&rep, rep_der, rep_len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_decrypt(rep, &b.signer, &fx.requester_keys[0], 1, NULL),
                     SCEP_OK);
    size_t rep_content_len = 0;
    const unsigned char *rep_content = scep_pkimessage_content(rep, &rep_content_len);
    assert_non_null(rep_content);
    assert_int_equal(scep_pkimessage_parse(&msg, rep_der, rep_len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_set_content(msg, rep_content, rep_content_len), SCEP_EINVAL);
    assert_null(scep_pkimessage_content(msg, NULL));
    scep_pkimessage_free(msg);
    scep_pkimessage_free(rep);
    OPENSSL_free(rep_der);
    sk_X509_pop_free(issued_certs, X509_free);

    /* The signature is checked before any content is taken: a tampered message is refused. */
    unsigned char *tampered = OPENSSL_memdup(b.der, b.len);
    assert_non_null(tampered);
    tampered[b.len - 10] ^= 0x01;
    assert_true(scep_pkimessage_parse(&msg, tampered, b.len, NULL, NULL, NULL) < 0);
    assert_null(msg);
    OPENSSL_free(tampered);
    scep_pkimessage_free(opened);
    built_free(&b);
}

static void wrong_recipient_is_refused(void **state)
{
    (void)state;
    struct built b;
    assert_int_equal(build_request(&b, SCEP_MSG_PKCSREQ, fx.requester_keys[0], fx.other_ca_cert,
                                   SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128, NULL),
                     SCEP_OK);
    scep_pkimessage *msg = NULL;
    assert_int_equal(scep_pkimessage_parse(&msg, b.der, b.len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_decrypt(msg, &fx.ca_cert, &fx.ca_key, 1, NULL),
                     SCEP_ERECIPIENT);
    assert_null(scep_pkimessage_csr(msg));
    /* The right key among several is found by the recipientInfo. */
    X509 *certs[2] = {fx.ca_cert, fx.other_ca_cert};
    EVP_PKEY *keys[2] = {fx.ca_key, fx.other_ca_key};
    assert_int_equal(scep_pkimessage_decrypt(msg, certs, keys, 2, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_recipient_index(msg), 1);
    scep_pkimessage_free(msg);

    /* A key the recipientInfo does not name is tried too, and must never "succeed":
     * OpenSSL's padding-oracle defence decrypts with a random content key, whose CBC
     * padding checks out about once in 256 tries. 1500 tries: all refused. */
    X509 *unnamed_cert[1] = {NULL};
    EVP_PKEY *wrong_key[1] = {fx.ca_key};
    for (int i = 0; i < 1500; i++) {
        assert_int_equal(scep_pkimessage_parse(&msg, b.der, b.len, NULL, NULL, NULL), SCEP_OK);
        int rc = scep_pkimessage_decrypt(msg, unnamed_cert, wrong_key, 1, NULL);
        if (rc != SCEP_ERECIPIENT)
            fail_msg("try %d: wrong key gave %s", i, scep_error_name(rc));
        scep_pkimessage_free(msg);
    }

    /* A certificate that does not match the key it is paired with still finds
     * the key when the recipient identifier is odd (interop.md §9). */
    assert_int_equal(scep_pkimessage_parse(&msg, b.der, b.len, NULL, NULL, NULL), SCEP_OK);
    X509 *wrong_certs[1] = {fx.ca_cert};
    EVP_PKEY *right_key[1] = {fx.other_ca_key};
    assert_int_equal(scep_pkimessage_decrypt(msg, wrong_certs, right_key, 1, NULL), SCEP_OK);
    assert_non_null(scep_pkimessage_csr(msg));
    scep_pkimessage_free(msg);
    built_free(&b);
}

static void truncated_trailing_empty_and_huge_inputs_are_refused(void **state)
{
    (void)state;
    struct built b = good_request();

    assert_int_equal(parse_code(b.der, 0, NULL), SCEP_EMALFORMED);
    assert_int_equal(parse_code(NULL, 0, NULL), SCEP_EMALFORMED);
    for (size_t cut = 1; cut < b.len; cut += b.len / 17 + 1)
        assert_int_equal(parse_code(b.der, cut, NULL), SCEP_EMALFORMED);
    assert_int_equal(parse_code(b.der, b.len - 1, NULL), SCEP_EMALFORMED);

    unsigned char *longer = malloc(b.len + 3);
    memcpy(longer, b.der, b.len);
    memcpy(longer + b.len, "\x00\x00\x01", 3);
    assert_int_equal(parse_code(longer, b.len + 3, NULL), SCEP_EMALFORMED);
    assert_non_null(strstr(scep_error_message(), "trailing"));
    free(longer);

    /* 10 MiB: refused by the size limit before any decoding. */
    size_t huge_len = 10u * 1024 * 1024;
    unsigned char *huge = calloc(1, huge_len);
    assert_non_null(huge);
    memcpy(huge, b.der, b.len);
    assert_int_equal(parse_code(huge, huge_len, NULL), SCEP_ETOOBIG);
    scep_message_options small = {.max_size = b.len - 1};
    assert_int_equal(parse_code(b.der, b.len, &small), SCEP_ETOOBIG);
    free(huge);

    /* Not CMS at all, and CMS of the wrong type. */
    assert_int_equal(parse_code((const unsigned char *)"hello world", 11, NULL), SCEP_EMALFORMED);
    unsigned char *bundle = NULL;
    size_t bundle_len = 0;
    STACK_OF(X509) *certs = sk_X509_new_null();
    sk_X509_push(certs, fx.ca_cert);
    assert_int_equal(scep_certs_only_build(&bundle, &bundle_len, certs, NULL), SCEP_OK);
    assert_int_equal(parse_code(bundle, bundle_len, NULL), SCEP_EMALFORMED);
    OPENSSL_free(bundle);
    sk_X509_free(certs);
    built_free(&b);
}

/* ---- certs-only, GetNextCACert -----------------------------------------------------------------
 */

static void certs_only_keeps_order_and_carries_crls(void **state)
{
    (void)state;
    X509 *leaf = issue_for(fx.requester_keys[0], "leaf");
    STACK_OF(X509) *certs = sk_X509_new_null();
    /* Deliberately not in DER-sorted order. */
    sk_X509_push(certs, leaf);
    sk_X509_push(certs, fx.other_ca_cert);
    sk_X509_push(certs, fx.ca_cert);
    X509_CRL *crl = make_crl();
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_certs_only_build(&der, &len, certs, crl), SCEP_OK);
    STACK_OF(X509) *got = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    assert_int_equal(scep_certs_only_parse(&got, &crls, der, len, 0), SCEP_OK);
    assert_int_equal(sk_X509_num(got), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(X509_cmp(sk_X509_value(got, i), sk_X509_value(certs, i)), 0);
    assert_int_equal(sk_X509_CRL_num(crls), 1);
    assert_int_equal(scep_certs_only_parse(&got, NULL, der, len - 1, 0), SCEP_EMALFORMED);
    assert_int_equal(scep_certs_only_build(&der, &len, NULL, NULL), SCEP_EINVAL);
    sk_X509_pop_free(got, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    OPENSSL_free(der);
    X509_CRL_free(crl);
    sk_X509_free(certs);
    X509_free(leaf);
}

static void next_ca_is_signed_by_the_current_ca(void **state)
{
    (void)state;
    STACK_OF(X509) *next = sk_X509_new_null();
    sk_X509_push(next, fx.other_ca_cert);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(
        scep_next_ca_build(&der, &len, next, fx.ca_cert, fx.ca_key, SCEP_DIGEST_SHA256), SCEP_OK);
    STACK_OF(X509) *got = NULL;
    assert_int_equal(scep_next_ca_parse(&got, der, len, fx.ca_cert, 0), SCEP_OK);
    assert_int_equal(sk_X509_num(got), 1);
    assert_int_equal(X509_cmp(sk_X509_value(got, 0), fx.other_ca_cert), 0);
    sk_X509_pop_free(got, X509_free);
    /* Anyone else's signature is refused. */
    assert_int_equal(scep_next_ca_parse(&got, der, len, fx.other_ca_cert, 0), SCEP_EBADSIG);
    assert_null(got);
    OPENSSL_free(der);
    sk_X509_free(next);
}

/* ---- GetCACaps ---------------------------------------------------------------------------------
 */

static void caps_parse_format_and_choose(void **state)
{
    (void)state;
    scep_caps caps = 0;
    const char *reply = "aes\r\nPOSTPKIOPERATION\r\nsha-256\r\nFancyNewThing\r\nRenewal\r\n";
    assert_int_equal(scep_caps_parse(&caps, reply, strlen(reply)), SCEP_OK);
    assert_int_equal(caps, SCEP_CAP_AES | SCEP_CAP_POST_PKI_OPERATION | SCEP_CAP_SHA256 |
                               SCEP_CAP_RENEWAL);
    assert_int_equal(scep_caps_parse(&caps, "", 0), SCEP_OK);
    assert_int_equal(caps, 0);

    char *text = NULL;
    size_t len = 0;
    assert_int_equal(scep_caps_format(&text, &len,
                                      SCEP_CAP_AES | SCEP_CAP_SHA512 | SCEP_CAP_SCEP_STANDARD |
                                          SCEP_CAP_POST_PKI_OPERATION),
                     SCEP_OK);
    assert_string_equal(text, "AES\nPOSTPKIOperation\nSHA-512\nSCEPStandard\n");
    assert_int_equal(len, strlen(text));
    scep_caps back = 0;
    assert_int_equal(scep_caps_parse(&back, text, len), SCEP_OK);
    assert_int_equal(back, SCEP_CAP_AES | SCEP_CAP_SHA512 | SCEP_CAP_SCEP_STANDARD |
                               SCEP_CAP_POST_PKI_OPERATION);
    OPENSSL_free(text);

    scep_digest digest;
    scep_cipher cipher;
    assert_int_equal(
        scep_caps_choose_digest(&digest, SCEP_CAP_SHA1 | SCEP_CAP_SHA256 | SCEP_CAP_SHA512, 0),
        SCEP_OK);
    assert_int_equal(digest, SCEP_DIGEST_SHA512);
    assert_int_equal(scep_caps_choose_digest(&digest, SCEP_CAP_SHA1 | SCEP_CAP_SHA384, 0), SCEP_OK);
    assert_int_equal(digest, SCEP_DIGEST_SHA384);
    assert_int_equal(scep_caps_choose_digest(&digest, SCEP_CAP_SCEP_STANDARD, 0), SCEP_OK);
    assert_int_equal(digest, SCEP_DIGEST_SHA256);
    assert_int_equal(scep_caps_choose_digest(&digest, SCEP_CAP_SHA1, 0), SCEP_OK);
    assert_int_equal(digest, SCEP_DIGEST_SHA1);
    assert_int_equal(scep_caps_choose_digest(&digest, 0, 0), SCEP_EBADALG);
    assert_int_equal(scep_caps_choose_digest(&digest, 0, 1), SCEP_OK);
    assert_int_equal(digest, SCEP_DIGEST_MD5);

    assert_int_equal(scep_caps_choose_cipher(&cipher, SCEP_CAP_AES | SCEP_CAP_DES3, 0, 0), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_AES256);
    assert_int_equal(scep_caps_choose_cipher(&cipher, SCEP_CAP_SCEP_STANDARD, 0, 1), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_AES128);
    assert_int_equal(scep_caps_choose_cipher(&cipher, SCEP_CAP_DES3, 0, 0), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_DES3);
    assert_int_equal(scep_caps_choose_cipher(&cipher, 0, 0, 0), SCEP_EBADALG);
    assert_int_equal(scep_caps_choose_cipher(&cipher, 0, 1, 0), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_DES);

    assert_int_equal(scep_caps_effective(SCEP_CAP_UPDATE) & SCEP_CAP_RENEWAL, SCEP_CAP_RENEWAL);
}

static void algorithm_names_parse(void **state)
{
    (void)state;
    scep_digest d;
    scep_cipher c;
    assert_int_equal(scep_digest_from_name(&d, "SHA-384"), SCEP_OK);
    assert_int_equal(d, SCEP_DIGEST_SHA384);
    assert_int_equal(scep_digest_from_name(&d, "sha1"), SCEP_OK);
    assert_int_equal(d, SCEP_DIGEST_SHA1);
    assert_int_equal(scep_digest_from_name(&d, "whirlpool"), SCEP_EBADALG);
    assert_int_equal(scep_cipher_from_name(&c, "3des"), SCEP_OK);
    assert_int_equal(c, SCEP_CIPHER_DES3);
    assert_int_equal(scep_cipher_from_name(&c, "AES-256-CBC"), SCEP_OK);
    assert_int_equal(c, SCEP_CIPHER_AES256);
    assert_int_equal(scep_cipher_from_name(&c, "rc2"), SCEP_EBADALG);
    assert_string_equal(scep_digest_name(SCEP_DIGEST_SHA512), "SHA-512");
    assert_string_equal(scep_cipher_name(SCEP_CIPHER_AES192), "AES-192-CBC");
    assert_string_equal(scep_message_type_name(SCEP_MSG_CERTPOLL), "CertPoll");
    assert_string_equal(scep_pki_status_name(SCEP_STATUS_PENDING), "PENDING");
}

/* ---- GET base64
 * ---------------------------------------------------------------------------------- */

static void lenient_base64_accepts_what_clients_send(void **state)
{
    (void)state;
    static const unsigned char data[] = {0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83, 0xfe};
    char *b64 = NULL;
    assert_int_equal(scep_base64_encode(&b64, data, sizeof(data)), SCEP_OK);
    assert_string_equal(b64, "+/+/ABCD/g==");

    struct {
        const char *text;
        int ok;
    } cases[] = {
        {"+/+/ABCD/g==", 1},               /* raw, as macOS sends it */
        {"%2B%2F%2B%2FABCD%2Fg%3D%3D", 1}, /* properly escaped */
        {" / /ABCD/g==", 1},               /* '+' turned into space by form decoding */
        {"-_-_ABCD_g", 1},                 /* base64url without padding */
        {"+/+/AB%0ACD/g%3D=", 1},          /* Cisco's %0A line break */
        {"+/+/AB\r\nCD/g==", 1},           /* raw line break */
        {"+/+/ABCD/g", 1},                 /* missing padding */
        {"+/+/AB*CD/g==", 0},              /* invalid character */
        {"+/+/ABCD/g==AA", 0},             /* data after padding */
        {"+/+/ABCD/", 0},                  /* impossible length */
        {"", 0},
        {"%zz", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *out = NULL;
        size_t len = 0;
        int rc = scep_base64_decode_lenient(&out, &len, cases[i].text, strlen(cases[i].text), 0);
        if (cases[i].ok) {
            if (rc != SCEP_OK)
                fail_msg("\"%s\" refused: %s", cases[i].text, scep_error_message());
            assert_int_equal(len, sizeof(data));
            assert_memory_equal(out, data, sizeof(data));
        } else if (rc != SCEP_EMALFORMED) {
            fail_msg("\"%s\" gave %s", cases[i].text, scep_error_name(rc));
        }
        OPENSSL_free(out);
    }
    OPENSSL_free(b64);

    /* The size limit applies before decoding. */
    unsigned char *out = NULL;
    size_t len = 0;
    assert_int_equal(scep_base64_decode_lenient(&out, &len, "AAAAAAAAAAAA", 12, 8), SCEP_ETOOBIG);
    /* An empty slice of a longer text is empty, not read up to the text's end. */
    assert_int_equal(scep_base64_decode_lenient(&out, &len, "AAAA", 0, 0), SCEP_EMALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_request_type_digest_cipher_and_signer_round_trips),
        cmocka_unit_test(default_transaction_id_is_hex_sha256_of_the_public_key),
        cmocka_unit_test(replies_in_every_status_round_trip),
        cmocka_unit_test(crl_reply_round_trips),
        cmocka_unit_test(reply_checks_catch_wrong_nonce_transaction_and_signer),
        cmocka_unit_test(tampered_signature_or_content_is_bad_message_check),
        cmocka_unit_test(peek_reads_a_tampered_request_for_its_failure_reply),
        cmocka_unit_test(disallowed_algorithms_are_bad_alg),
        cmocka_unit_test(missing_or_mistyped_attributes_are_bad_request),
        cmocka_unit_test(wrong_recipient_is_refused),
        cmocka_unit_test(truncated_trailing_empty_and_huge_inputs_are_refused),
        cmocka_unit_test(certs_only_keeps_order_and_carries_crls),
        cmocka_unit_test(next_ca_is_signed_by_the_current_ca),
        cmocka_unit_test(caps_parse_format_and_choose),
        cmocka_unit_test(algorithm_names_parse),
        cmocka_unit_test(lenient_base64_accepts_what_clients_send),
        cmocka_unit_test(content_from_an_ra_is_taken_after_verification),
    };
    if (getenv("SCEP_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("SCEP_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
