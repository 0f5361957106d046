#include "test_support.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *test_path(const char *relpath)
{
    static char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", SCEP_TEST_DATA, relpath);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    return path;
}

unsigned char *test_read_file(const char *relpath, size_t *out_len)
{
    FILE *f = fopen(test_path(relpath), "rb");
    if (f == NULL)
        fail_msg("cannot open test file %s", relpath);
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

EVP_PKEY *test_rsa_key(int bits)
{
    EVP_PKEY *key = EVP_RSA_gen((unsigned)bits);
    assert_non_null(key);
    return key;
}

EVP_PKEY *test_ec_key(const char *curve)
{
    EVP_PKEY *key = EVP_EC_gen(curve);
    assert_non_null(key);
    return key;
}

static void add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

X509 *test_self_signed(EVP_PKEY *key, const char *cn)
{
    X509 *cert = X509_new();
    assert_non_null(cert);
    assert_int_equal(X509_set_version(cert, 2), 1);
    unsigned char serial[8];
    assert_int_equal(RAND_bytes(serial, sizeof(serial)), 1);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(cert);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(cert, name), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    assert_int_equal(X509_set_pubkey(cert, key), 1);
    add_ext(cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert, NID_key_usage, "digitalSignature,keyEncipherment,keyCertSign,cRLSign");
    add_ext(cert, NID_subject_key_identifier, "hash");
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    return cert;
}

X509_REQ *test_csr(EVP_PKEY *key, const char *cn, const char *challenge)
{
    X509_REQ *req = X509_REQ_new();
    assert_non_null(req);
    X509_NAME *name = X509_REQ_get_subject_name(req);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    if (challenge != NULL)
        assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                                   (const unsigned char *)challenge, -1),
                         1);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    return req;
}

X509 *test_load_cert(const char *relpath)
{
    FILE *f = fopen(test_path(relpath), "r");
    if (f == NULL)
        fail_msg("cannot open %s", relpath);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(cert);
    return cert;
}

EVP_PKEY *test_load_key(const char *relpath)
{
    FILE *f = fopen(test_path(relpath), "r");
    if (f == NULL)
        fail_msg("cannot open %s", relpath);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    return key;
}

int test_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    int n = snprintf(tmpl, sizeof(tmpl), "%s/sceptest.XXXXXX", base ? base : "/tmp");
    assert_true(n > 0 && (size_t)n < sizeof(tmpl));
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char *copy = strdup(dir);
    assert_non_null(copy);
    return copy;
}

void test_rmdir(const char *dir)
{
    if (dir != NULL && strncmp(dir, "/tmp/", 5) == 0)
        (void)test_system("rm -rf '%s'", dir);
}
