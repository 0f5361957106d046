/*
 * Key references in PKCS#11 tokens: the RFC 7512 URI parser (every refusal), the
 * PIN file rules, and, when SoftHSM2 is installed, a key generated in a temporary
 * token that signs a certificate, a CRL and a CMS message and decrypts one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ca/p11_internal.h"
#include "scep/ca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

static void uri_parses_path_and_query(void **state)
{
    (void)state;
    struct scep_p11_uri uri;
    assert_int_equal(
        scep_p11_uri_parse(&uri, "pkcs11:token=My%20Token;object=ca%2dkey;id=%01%ff;type=private"
                                 "?pin-source=file:/etc/scepd/pin&module-path=/usr/lib/x.so"),
        0);
    assert_string_equal(uri.token, "My Token");
    assert_string_equal(uri.object, "ca-key");
    assert_int_equal(uri.id_len, 2);
    assert_int_equal(uri.id[0], 0x01);
    assert_int_equal(uri.id[1], 0xff);
    assert_string_equal(uri.pin_file, "/etc/scepd/pin");
    assert_string_equal(uri.module_path, "/usr/lib/x.so");
    scep_p11_uri_clear(&uri);
}

static void uri_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "pkcs11:token=t",                         /* no key named */
        "pkcs11:token=t;object=k?pin-value=1234", /* a PIN in the reference */
        "pkcs11:token=t;object=k;object=j",       /* twice */
        "pkcs11:token=t;object=k;type=public",    /* not a private key */
        "pkcs11:token=t;object=%4",               /* truncated escape */
        "pkcs11:token=t;object=%zz",              /* not hex */
        "pkcs11:token=t;object=a%00b",            /* NUL */
        "pkcs11:token=t;object=k;bogus=1",        /* unknown attribute */
        "pkcs11:token=t;object=k?pin-source=rel", /* not an absolute path */
        "pkcs11:token=t;object",                  /* no value */
        "file:/etc/ca.key",                       /* not a pkcs11: URI */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct scep_p11_uri uri;
        assert_int_not_equal(scep_p11_uri_parse(&uri, bad[i]), 0);
    }
    struct scep_p11_uri uri;
    assert_int_equal(scep_p11_uri_parse(&uri, "pkcs11:token=t;object=k?pin-value=secret-1234"),
                     SCEP_EINVAL);
    assert_null(strstr(scep_error_message(), "secret-1234"));
}

static void pin_file_rules(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_p11.XXXXXX";
    char path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/pin", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("1234\nignored\n", f);
    fclose(f);
    char *pin = NULL;
    size_t pin_len = 0;
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(scep_p11_read_pin(&pin, &pin_len, path), SCEP_EPERM);
    assert_non_null(strstr(scep_error_message(), "0640"));
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(scep_p11_read_pin(&pin, &pin_len, path), 0);
    assert_string_equal(pin, "1234");
    OPENSSL_clear_free(pin, pin_len);
    unlink(path);
    rmdir(dir);
}

static void ref_kinds(void **state)
{
    (void)state;
    assert_int_equal(scep_key_ref_is_pkcs11("pkcs11:token=a;object=b"), 1);
    assert_int_equal(scep_key_ref_is_pkcs11("/var/lib/scepd/cas/a/ca.key"), 0);
    assert_int_equal(scep_key_ref_is_pkcs11(NULL), 0);
    EVP_PKEY *key = NULL;
    assert_int_equal(scep_key_open(&key, "file:/nonexistent/ca.key", 0), SCEP_EIO);
}

/* A SoftHSM2 token in a temporary directory; the key does what scepd does with a CA key. */
static void token_key_signs_and_decrypts(void **state)
{
    (void)state;
    if (access(SOFTHSM_MODULE, R_OK) != 0 || system("command -v softhsm2-util >/dev/null") != 0) {
        skip();
    }
    char dir[] = "/tmp/test_p11.XXXXXX";
    char path[256], cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", path, 1);
    /* A throwaway token: softhsm2-util takes its PINs as arguments only. */
    snprintf(cmd, sizeof(cmd),
             "softhsm2-util --init-token --free --label unit --so-pin 87654321 --pin 12345678 "
             ">/dev/null");
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/pin", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("12345678\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(scep_pkcs11_configure(SOFTHSM_MODULE, path), 0);

    scep_ca *ca = NULL;
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = "CN=Token CA";
    options.rsa_bits = 2048;
    options.key_uri = "pkcs11:token=unit;object=ca";
    assert_int_equal(scep_ca_create(&ca, &options), 0);
    EVP_PKEY *key = scep_ca_key(ca);
    assert_int_equal(scep_key_is_token(key), 1);
    X509 *cert = scep_ca_cert(ca);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(cert)), 1);

    /* CRL */
    X509_CRL *crl = NULL;
    scep_crl_params params = {0};
    params.crl_number = 1;
    assert_int_equal(scep_ca_crl(&crl, ca, NULL, 0, &params), 0);
    assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(cert)), 1);
    X509_CRL_free(crl);

    /* CMS: signed by, and enveloped to, the token key */
    BIO *in = BIO_new_mem_buf("hello", 5);
    CMS_ContentInfo *signed_data = CMS_sign(cert, key, NULL, in, CMS_BINARY);
    assert_non_null(signed_data);
    CMS_ContentInfo_free(signed_data);
    BIO_free(in);
    STACK_OF(X509) *to = sk_X509_new_null();
    sk_X509_push(to, cert);
    in = BIO_new_mem_buf("secret", 6);
    CMS_ContentInfo *env = CMS_encrypt(to, in, EVP_aes_128_cbc(), CMS_BINARY);
    assert_non_null(env);
    BIO *out = BIO_new(BIO_s_mem());
    assert_int_equal(CMS_decrypt(env, key, cert, NULL, out, CMS_BINARY), 1);
    char buf[16] = {0};
    assert_int_equal(BIO_read(out, buf, sizeof(buf) - 1), 6);
    assert_string_equal(buf, "secret");
    BIO_free(out);
    BIO_free(in);
    CMS_ContentInfo_free(env);
    sk_X509_free(to);

    /* The same reference again: the same key, no second login. */
    EVP_PKEY *again = NULL;
    assert_int_equal(scep_key_open(&again, "pkcs11:token=unit;object=ca", 0), 0);
    assert_int_equal(EVP_PKEY_eq(again, X509_get0_pubkey(cert)), 1);
    EVP_PKEY_free(again);
    EVP_PKEY *gen2 = NULL;
    assert_int_equal(
        scep_pkcs11_generate(&gen2, "pkcs11:token=unit;object=ca", SCEP_KEY_EC, 0, "P-256"),
        SCEP_EEXISTS);
    assert_int_equal(
        scep_pkcs11_generate(&gen2, "pkcs11:token=unit;object=ec", SCEP_KEY_EC, 0, "P-256"), 0);
    assert_true(EVP_PKEY_is_a(gen2, "EC"));
    EVP_PKEY_free(gen2);
    /* The CA key still signs after the new slot list that generation made. */
    assert_int_equal(scep_ca_crl(&crl, ca, NULL, 0, &params), 0);
    X509_CRL_free(crl);
    assert_int_equal(scep_key_open(&again, "pkcs11:token=unit;object=none", 0), SCEP_ENOTFOUND);
    assert_int_equal(scep_key_open(&again, "pkcs11:token=nope;object=ca", 0), SCEP_EUNAVAILABLE);
    scep_ca_free(ca);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_parses_path_and_query),
        cmocka_unit_test(uri_refusals),
        cmocka_unit_test(pin_file_rules),
        cmocka_unit_test(ref_kinds),
        cmocka_unit_test(token_key_signs_and_decrypts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
