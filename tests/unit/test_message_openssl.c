/*
 * Cross-checks of the message layer with the `openssl` command line, both ways:
 * what we build, openssl verifies, decrypts and prints with the ASN.1 types
 * RFC 8894 §3.2.1 asks for; what the openssl command line builds (see
 * tests/scripts/openssl-build-pkimessage.sh, no libscep code involved), we
 * parse, or reject with the error and failInfo a CertRep FAILURE would carry.
 */
#include "test_support.h"

#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tid[] = "XCHECK-0123456789ABCDEF";
static const unsigned char nonce[SCEP_NONCE_LEN] = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
                                                    0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF};
static const char nonce_hex[] = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF";
/* What the generator script signs unless told otherwise. */
static const char cli_tid[] = "OPENSSL-CLI-TRANSACTION-0001";
static const unsigned char cli_nonce[SCEP_NONCE_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};

struct fixture {
    char *dir;
    EVP_PKEY *ca_key;
    X509 *ca;
    EVP_PKEY *rsa_key; /* requester, also the CSR key */
    EVP_PKEY *ec_key;  /* requester signing with P-256 */
    X509_REQ *csr;
    X509 *rsa_signer;
    X509 *ec_signer;
    EVP_PKEY *leaf_key;
    X509 *leaf; /* stands for the issued certificate */
};

static char *path_in(const struct fixture *fx, const char *name)
{
    static char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    return path;
}

static void write_bytes(const struct fixture *fx, const char *name, const unsigned char *data,
                        size_t len)
{
    FILE *f = fopen(path_in(fx, name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const struct fixture *fx, const char *name, size_t *out_len)
{
    FILE *f = fopen(path_in(fx, name), "rb");
    if (f == NULL)
        fail_msg("cannot open %s", name);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *out_len = (size_t)size;
    return buf;
}

static void write_cert(const struct fixture *fx, const char *name, X509 *cert)
{
    FILE *f = fopen(path_in(fx, name), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, cert), 1);
    assert_int_equal(fclose(f), 0);
}

static void write_key(const struct fixture *fx, const char *name, EVP_PKEY *key)
{
    FILE *f = fopen(path_in(fx, name), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
}

static void write_csr(const struct fixture *fx, const char *name, X509_REQ *csr)
{
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(csr, &der);
    assert_true(len > 0);
    write_bytes(fx, name, der, (size_t)len);
    OPENSSL_free(der);
}

/* Runs a command in the fixture directory; 0 on success. */
#define SH(fx, ...) test_system("cd '%s' && " __VA_ARGS__)

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->dir = test_tmpdir();
    fx->ca_key = test_rsa_key(2048);
    fx->ca = test_self_signed(fx->ca_key, "XCheck CA");
    fx->rsa_key = test_rsa_key(2048);
    fx->ec_key = test_ec_key("P-256");
    fx->csr = test_csr(fx->rsa_key, "device-1.example", "challenge-secret");
    assert_int_equal(
        scep_self_signed_signer(&fx->rsa_signer, fx->rsa_key, fx->csr, SCEP_DIGEST_SHA256, 1),
        SCEP_OK);
    assert_int_equal(
        scep_self_signed_signer(&fx->ec_signer, fx->ec_key, fx->csr, SCEP_DIGEST_SHA256, 1),
        SCEP_OK);
    fx->leaf_key = test_rsa_key(2048);
    fx->leaf = test_self_signed(fx->leaf_key, "issued leaf");
    write_cert(fx, "ca.pem", fx->ca);
    write_key(fx, "ca.key", fx->ca_key);
    write_cert(fx, "rsa_signer.pem", fx->rsa_signer);
    write_key(fx, "rsa_signer.key", fx->rsa_key);
    write_cert(fx, "ec_signer.pem", fx->ec_signer);
    write_key(fx, "ec_signer.key", fx->ec_key);
    write_csr(fx, "in_csr.der", fx->csr);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    test_rmdir(fx->dir);
    free(fx->dir);
    EVP_PKEY_free(fx->ca_key);
    X509_free(fx->ca);
    EVP_PKEY_free(fx->rsa_key);
    EVP_PKEY_free(fx->ec_key);
    X509_REQ_free(fx->csr);
    X509_free(fx->rsa_signer);
    X509_free(fx->ec_signer);
    EVP_PKEY_free(fx->leaf_key);
    X509_free(fx->leaf);
    free(fx);
    return 0;
}

/* `openssl asn1parse` shows the value right after the attribute's OID; grep for it. */
static int attr_has(const struct fixture *fx, const char *file, const char *oid,
                    const char *pattern)
{
    return SH(fx, "openssl asn1parse -inform DER -in %s | grep -A2 ':%s$' | grep -q -E '%s'",
              fx->dir, file, oid, pattern);
}

/* ---- ours → openssl ------------------------------------------------------------------------- */

struct alg_case {
    scep_digest digest;
    const char *digest_cli; /* how `openssl cms -print` names it */
};

static const struct alg_case digests[] = {
    {SCEP_DIGEST_SHA1, "sha1"},
    {SCEP_DIGEST_SHA256, "sha256"},
    {SCEP_DIGEST_SHA384, "sha384"},
    {SCEP_DIGEST_SHA512, "sha512"},
};

static const struct {
    scep_cipher cipher;
    const char *cli;
} ciphers[] = {
    {SCEP_CIPHER_DES3, "des-ede3-cbc"},
    {SCEP_CIPHER_AES128, "aes-128-cbc"},
    {SCEP_CIPHER_AES192, "aes-192-cbc"},
    {SCEP_CIPHER_AES256, "aes-256-cbc"},
};

static void check_pkcsreq_with_openssl(struct fixture *fx, X509 *signer, EVP_PKEY *key,
                                       const char *key_name, scep_digest digest,
                                       const char *digest_cli, scep_cipher cipher,
                                       const char *cipher_cli)
{
    scep_request req = {
        .type = SCEP_MSG_PKCSREQ,
        .transaction_id = tid,
        .sender_nonce = nonce,
        .signer_cert = signer,
        .signer_key = key,
        .recipient_cert = fx->ca,
        .digest = digest,
        .cipher = cipher,
        .csr = fx->csr,
    };
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_request_build(&der, &len, NULL, NULL, &req, NULL), SCEP_OK);
    write_bytes(fx, "req.der", der, len);
    OPENSSL_free(der);

    int rc = SH(fx,
                "openssl cms -verify -noverify -inform DER -binary -in req.der -out env.der "
                ">/dev/null 2>&1",
                fx->dir);
    if (rc != 0)
        fail_msg("openssl cms -verify failed for %s/%s/%s", key_name, digest_cli, cipher_cli);
    assert_int_equal(SH(fx,
                        "openssl cms -decrypt -inform DER -binary -in env.der -recip ca.pem "
                        "-inkey ca.key -out csr.der && cmp -s csr.der in_csr.der",
                        fx->dir),
                     0);
    /* The SignerInfo's digest and the envelope's cipher are the requested ones. */
    assert_int_equal(SH(fx,
                        "openssl cms -cmsout -print -inform DER -in req.der | grep -A1 "
                        "'digestAlgorithm:' | grep -q 'algorithm: %s '",
                        fx->dir, digest_cli),
                     0);
    assert_int_equal(SH(fx,
                        "openssl cms -cmsout -print -inform DER -in env.der | grep -A1 "
                        "'contentEncryptionAlgorithm:' | grep -q 'algorithm: %s '",
                        fx->dir, cipher_cli),
                     0);
    /* RFC 8894 §3.2.1: messageType and transactionID PrintableString, senderNonce
     * a 16-octet OCTET STRING. */
    assert_int_equal(attr_has(fx, "req.der", "2.16.840.1.113733.1.9.2", "PRINTABLESTRING +:19$"),
                     0);
    char pattern[256];
    int n = snprintf(pattern, sizeof(pattern), "PRINTABLESTRING +:%s$", tid);
    assert_true(n > 0 && (size_t)n < sizeof(pattern));
    assert_int_equal(attr_has(fx, "req.der", "2.16.840.1.113733.1.9.7", pattern), 0);
    n = snprintf(pattern, sizeof(pattern), "l= *16 prim: OCTET STRING +\\[HEX DUMP\\]:%s$",
                 nonce_hex);
    assert_true(n > 0 && (size_t)n < sizeof(pattern));
    assert_int_equal(attr_has(fx, "req.der", "2.16.840.1.113733.1.9.5", pattern), 0);
}

static void ours_pkcsreq_verifies_and_decrypts_with_openssl(void **state)
{
    struct fixture *fx = *state;
    for (size_t d = 0; d < sizeof(digests) / sizeof(digests[0]); d++)
        for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
            check_pkcsreq_with_openssl(fx, fx->rsa_signer, fx->rsa_key, "RSA", digests[d].digest,
                                       digests[d].digest_cli, ciphers[c].cipher, ciphers[c].cli);
            check_pkcsreq_with_openssl(fx, fx->ec_signer, fx->ec_key, "EC P-256", digests[d].digest,
                                       digests[d].digest_cli, ciphers[c].cipher, ciphers[c].cli);
        }
}

static void build_reply(struct fixture *fx, scep_pki_status status, const char *file)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    assert_non_null(certs);
    assert_true(sk_X509_push(certs, fx->leaf) > 0);
    assert_true(sk_X509_push(certs, fx->ca) > 0);
    scep_reply reply = {
        .status = status,
        .transaction_id = tid,
        .recipient_nonce = nonce,
        .signer_cert = fx->ca,
        .signer_key = fx->ca_key,
        .digest = SCEP_DIGEST_SHA256,
        .recipient_cert = fx->rsa_signer,
        .cipher = SCEP_CIPHER_AES256,
        .certs = status == SCEP_STATUS_SUCCESS ? certs : NULL,
        .fail_info = SCEP_FAIL_BAD_CERT_ID,
        .fail_info_text = "no such certificate (xcheck)",
    };
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_reply_build(&der, &len, &reply, NULL), SCEP_OK);
    write_bytes(fx, file, der, len);
    OPENSSL_free(der);
    sk_X509_free(certs);
}

static void check_reply_common(struct fixture *fx, const char *file, const char *status)
{
    /* Signed by the CA: openssl verifies it against the CA as trust anchor. */
    assert_int_equal(SH(fx,
                        "openssl cms -verify -inform DER -binary -in %s -CAfile ca.pem "
                        "-out /dev/null >/dev/null 2>&1",
                        fx->dir, file),
                     0);
    assert_int_equal(attr_has(fx, file, "2.16.840.1.113733.1.9.2", "PRINTABLESTRING +:3$"), 0);
    char pattern[256];
    int n = snprintf(pattern, sizeof(pattern), "PRINTABLESTRING +:%s$", status);
    assert_true(n > 0 && (size_t)n < sizeof(pattern));
    assert_int_equal(attr_has(fx, file, "2.16.840.1.113733.1.9.3", pattern), 0);
    n = snprintf(pattern, sizeof(pattern), "PRINTABLESTRING +:%s$", tid);
    assert_true(n > 0 && (size_t)n < sizeof(pattern));
    assert_int_equal(attr_has(fx, file, "2.16.840.1.113733.1.9.7", pattern), 0);
    /* RFC 8894 §3.2.1.5: recipientNonce echoes the request's senderNonce. */
    n = snprintf(pattern, sizeof(pattern), "l= *16 prim: OCTET STRING +\\[HEX DUMP\\]:%s$",
                 nonce_hex);
    assert_true(n > 0 && (size_t)n < sizeof(pattern));
    assert_int_equal(attr_has(fx, file, "2.16.840.1.113733.1.9.6", pattern), 0);
    assert_int_equal(attr_has(fx, file, "2.16.840.1.113733.1.9.5", "l= *16 prim: OCTET STRING"), 0);
}

static void ours_certrep_success_opens_with_openssl(void **state)
{
    struct fixture *fx = *state;
    build_reply(fx, SCEP_STATUS_SUCCESS, "success.der");
    check_reply_common(fx, "success.der", "0");
    assert_int_equal(SH(fx,
                        "openssl cms -verify -noverify -inform DER -binary -in success.der "
                        "-out success_env.der >/dev/null 2>&1 && "
                        "openssl cms -decrypt -inform DER -binary -in success_env.der "
                        "-recip rsa_signer.pem -inkey rsa_signer.key -out bundle.der",
                        fx->dir),
                     0);
    /* RFC 8894 §3.3.2 and interop.md §15: the issued certificate comes first. */
    assert_int_equal(SH(fx,
                        "openssl pkcs7 -inform DER -in bundle.der -print_certs -noout "
                        "| grep '^subject=' > subjects.txt && "
                        "test \"$(sed -n 1p subjects.txt)\" = 'subject=CN = issued leaf' && "
                        "test \"$(sed -n 2p subjects.txt)\" = 'subject=CN = XCheck CA' && "
                        "test \"$(wc -l < subjects.txt)\" -eq 2",
                        fx->dir),
                     0);
}

static void ours_certrep_pending_and_failure_read_by_openssl(void **state)
{
    struct fixture *fx = *state;
    build_reply(fx, SCEP_STATUS_PENDING, "pending.der");
    check_reply_common(fx, "pending.der", "3");
    assert_int_equal(attr_has(fx, "pending.der", "2.16.840.1.113733.1.9.4", "."), 1);

    build_reply(fx, SCEP_STATUS_FAILURE, "failure.der");
    check_reply_common(fx, "failure.der", "2");
    /* RFC 8894 §3.2.1.4: failInfo PrintableString, failInfoText UTF8String. */
    assert_int_equal(attr_has(fx, "failure.der", "2.16.840.1.113733.1.9.4", "PRINTABLESTRING +:4$"),
                     0);
    assert_int_equal(attr_has(fx, "failure.der", "1.3.6.1.5.5.7.24.1",
                              "UTF8STRING +:no such certificate \\(xcheck\\)$"),
                     0);
}

static void ours_certs_only_read_by_openssl_pkcs7(void **state)
{
    struct fixture *fx = *state;
    STACK_OF(X509) *certs = sk_X509_new_null();
    assert_non_null(certs);
    assert_true(sk_X509_push(certs, fx->leaf) > 0);
    assert_true(sk_X509_push(certs, fx->ca) > 0);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(scep_certs_only_build(&der, &len, certs, NULL), SCEP_OK);
    write_bytes(fx, "certs_only.der", der, len);
    OPENSSL_free(der);
    sk_X509_free(certs);
    assert_int_equal(SH(fx,
                        "openssl pkcs7 -inform DER -in certs_only.der -print_certs -noout "
                        "| grep '^subject=' > co.txt && "
                        "test \"$(sed -n 1p co.txt)\" = 'subject=CN = issued leaf' && "
                        "test \"$(sed -n 2p co.txt)\" = 'subject=CN = XCheck CA'",
                        fx->dir),
                     0);
    /* RFC 8894 §3.4: no signers, id-data content omitted. */
    assert_int_equal(SH(fx,
                        "openssl pkcs7 -inform DER -in certs_only.der -print -noout > co.txt && "
                        "grep -A1 'signer_info:$' co.txt | grep -q '<EMPTY>' && "
                        "grep -A2 'contents:' co.txt | grep -q 'd.data: <ABSENT>'",
                        fx->dir),
                     0);
}

static void ours_next_ca_verified_by_openssl(void **state)
{
    struct fixture *fx = *state;
    EVP_PKEY *next_key = test_rsa_key(2048);
    X509 *next = test_self_signed(next_key, "XCheck CA next");
    STACK_OF(X509) *next_certs = sk_X509_new_null();
    assert_non_null(next_certs);
    assert_true(sk_X509_push(next_certs, next) > 0);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(
        scep_next_ca_build(&der, &len, next_certs, fx->ca, fx->ca_key, SCEP_DIGEST_SHA256),
        SCEP_OK);
    write_bytes(fx, "nextca.der", der, len);
    OPENSSL_free(der);
    write_cert(fx, "next.pem", next);
    assert_int_equal(SH(fx,
                        "openssl cms -verify -inform DER -binary -in nextca.der -CAfile ca.pem "
                        "-out nextca_inner.der >/dev/null 2>&1 && "
                        "openssl pkcs7 -inform DER -in nextca_inner.der -print_certs -noout "
                        "| grep -q '^subject=CN = XCheck CA next$'",
                        fx->dir),
                     0);
    /* Another anchor must not do. */
    assert_int_not_equal(SH(fx,
                            "openssl cms -verify -inform DER -binary -in nextca.der "
                            "-CAfile next.pem -out /dev/null >/dev/null 2>&1",
                            fx->dir),
                         0);
    sk_X509_free(next_certs);
    X509_free(next);
    EVP_PKEY_free(next_key);
}

/* ---- openssl → ours ------------------------------------------------------------------------- */

/* Runs the generator in a per-signer directory holding csr.der, ca.pem and signer.*. */
static void generate(struct fixture *fx, const char *signer, const char *out, const char *digest,
                     const char *cipher, const char *padding, const char *defect)
{
    int rc = SH(fx,
                "mkdir -p %s && cp in_csr.der %s/csr.der && cp ca.pem %s/ && "
                "cp %s_signer.pem %s/signer.pem && cp %s_signer.key %s/signer.key && "
                "sh '%s' %s/%s 19 %s %s %s %s",
                fx->dir, signer, signer, signer, signer, signer, signer, signer,
                test_path("scripts/openssl-build-pkimessage.sh"), signer, out, digest, cipher,
                padding, defect);
    if (rc != 0)
        fail_msg("openssl-build-pkimessage.sh %s %s %s %s %s failed (%d)", signer, digest, cipher,
                 padding, defect, rc);
}

static int parse_generated(struct fixture *fx, scep_pkimessage **msg, const char *signer,
                           const char *out)
{
    char name[256];
    int n = snprintf(name, sizeof(name), "%s/%s", signer, out);
    assert_true(n > 0 && (size_t)n < sizeof(name));
    size_t len = 0;
    unsigned char *der = read_bytes(fx, name, &len);
    *msg = NULL;
    int rc = scep_pkimessage_parse(msg, der, len, NULL, NULL, NULL);
    free(der);
    return rc;
}

static const struct {
    const char *signer, *digest, *cipher, *padding;
    scep_digest want_digest;
    scep_cipher want_cipher;
} good[] = {
    {"rsa", "sha256", "aes256", "pkcs1", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256},
    {"rsa", "sha256", "des3", "pkcs1", SCEP_DIGEST_SHA256, SCEP_CIPHER_DES3},
    {"rsa", "sha256", "aes128", "oaep", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128},
    {"rsa", "sha1", "aes192", "pkcs1", SCEP_DIGEST_SHA1, SCEP_CIPHER_AES192},
    {"rsa", "sha512", "aes256", "oaep", SCEP_DIGEST_SHA512, SCEP_CIPHER_AES256},
    {"ec", "sha256", "aes256", "pkcs1", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256},
    {"ec", "sha384", "des3", "oaep", SCEP_DIGEST_SHA384, SCEP_CIPHER_DES3},
};

static void openssl_built_pkcsreq_parses_and_decrypts(void **state)
{
    struct fixture *fx = *state;
    size_t csr_len = 0;
    unsigned char *csr_der = read_bytes(fx, "in_csr.der", &csr_len);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        generate(fx, good[i].signer, "good.der", good[i].digest, good[i].cipher, good[i].padding,
                 "none");
        scep_pkimessage *msg = NULL;
        int rc = parse_generated(fx, &msg, good[i].signer, "good.der");
        if (rc != SCEP_OK)
            fail_msg("%s/%s/%s/%s: parse %s: %s", good[i].signer, good[i].digest, good[i].cipher,
                     good[i].padding, scep_error_name(rc), scep_error_message());
        assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_PKCSREQ);
        assert_string_equal(scep_pkimessage_transaction_id(msg), cli_tid);
        assert_memory_equal(scep_pkimessage_sender_nonce(msg), cli_nonce, SCEP_NONCE_LEN);
        assert_null(scep_pkimessage_recipient_nonce(msg));
        assert_int_equal(scep_pkimessage_digest(msg), good[i].want_digest);
        assert_int_equal(scep_pkimessage_cipher(msg), good[i].want_cipher);
        X509 *want_signer = strcmp(good[i].signer, "rsa") == 0 ? fx->rsa_signer : fx->ec_signer;
        assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(msg), want_signer), 0);

        /* interop.md §8: PKCS#1 v1.5 and OAEP key transport both open. */
        rc = scep_pkimessage_decrypt(msg, &fx->ca, &fx->ca_key, 1, NULL);
        if (rc != SCEP_OK)
            fail_msg("%s/%s/%s/%s: decrypt %s: %s", good[i].signer, good[i].digest, good[i].cipher,
                     good[i].padding, scep_error_name(rc), scep_error_message());
        size_t content_len = 0;
        const unsigned char *content = scep_pkimessage_content(msg, &content_len);
        assert_int_equal(content_len, csr_len);
        assert_memory_equal(content, csr_der, csr_len);
        assert_non_null(scep_pkimessage_csr(msg));
        scep_pkimessage_free(msg);
    }
    free(csr_der);
}

static void expect_rejected(struct fixture *fx, const char *what, const char *cipher,
                            const char *defect, int want_rc, scep_fail_info want_fail)
{
    generate(fx, "rsa", "bad.der", "sha256", cipher, "pkcs1", defect);
    scep_pkimessage *msg = NULL;
    int rc = parse_generated(fx, &msg, "rsa", "bad.der");
    if (rc == SCEP_OK) {
        /* Whatever the parse let through, decrypting is the last chance to refuse. */
        rc = scep_pkimessage_decrypt(msg, &fx->ca, &fx->ca_key, 1, NULL);
        scep_pkimessage_free(msg);
        msg = NULL;
    }
    if (rc != want_rc)
        fail_msg("%s: got %s (%s), want %s", what, scep_error_name(rc), scep_error_message(),
                 scep_error_name(want_rc));
    assert_null(msg);
    assert_int_equal(scep_error_fail_info(rc), want_fail);
}

static void openssl_built_defects_are_rejected(void **state)
{
    struct fixture *fx = *state;
    /* RFC 8894 §3.2.1: every attribute with its ASN.1 type and size. */
    expect_rejected(fx, "messageType as UTF8String", "aes256", "mtype-utf8", SCEP_EATTR,
                    SCEP_FAIL_BAD_REQUEST);
    expect_rejected(fx, "transactionID missing", "aes256", "no-tid", SCEP_EATTR,
                    SCEP_FAIL_BAD_REQUEST);
    expect_rejected(fx, "4-octet senderNonce", "aes256", "nonce4", SCEP_EATTR,
                    SCEP_FAIL_BAD_REQUEST);
    /* RFC 5652 §5.4: messageDigest must match the content. */
    expect_rejected(fx, "wrong messageDigest", "aes256", "bad-digest", SCEP_EBADSIG,
                    SCEP_FAIL_BAD_MESSAGE_CHECK);
    /* RFC 8894 §3.5.2: only DES3 and AES content encryption (read at parse). */
    expect_rejected(fx, "Camellia-256 envelope", "camellia256", "none", SCEP_EBADALG,
                    SCEP_FAIL_BAD_ALG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ours_pkcsreq_verifies_and_decrypts_with_openssl),
        cmocka_unit_test(ours_certrep_success_opens_with_openssl),
        cmocka_unit_test(ours_certrep_pending_and_failure_read_by_openssl),
        cmocka_unit_test(ours_certs_only_read_by_openssl_pkcs7),
        cmocka_unit_test(ours_next_ca_verified_by_openssl),
        cmocka_unit_test(openssl_built_pkcsreq_parses_and_decrypts),
        cmocka_unit_test(openssl_built_defects_are_rejected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
