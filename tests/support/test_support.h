/*
 * Shared helpers for the cmocka tests: cmocka's headers in the right order,
 * file loading and small key/certificate factories.
 */
#ifndef SCEP_TEST_SUPPORT_H
#define SCEP_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Reads tests/<relpath> into a malloc'd buffer; fails the test when missing. */
unsigned char *test_read_file(const char *relpath, size_t *out_len);

/* Absolute path of tests/<relpath> in a static buffer (one at a time). */
const char *test_path(const char *relpath);

/* Generates an RSA key of `bits` or an EC key on `curve` ("P-256", "P-384"). */
EVP_PKEY *test_rsa_key(int bits);
EVP_PKEY *test_ec_key(const char *curve);

/* A self-signed certificate for `key` with CN=`cn`, valid for a day, with keyUsage. */
X509 *test_self_signed(EVP_PKEY *key, const char *cn);

/* A PKCS#10 request for `key` with CN=`cn` and, when non-NULL, a challengePassword. */
X509_REQ *test_csr(EVP_PKEY *key, const char *cn, const char *challenge);

/* Loads a PEM certificate / private key from tests/<relpath>. */
X509 *test_load_cert(const char *relpath);
EVP_PKEY *test_load_key(const char *relpath);

/* Runs a shell command; returns its exit status (or -1). */
int test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A fresh temporary directory (removed by the caller with test_rmdir). */
char *test_tmpdir(void);
void test_rmdir(const char *dir);

#endif
