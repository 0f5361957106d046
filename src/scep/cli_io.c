/*
 * Files for the `scep` client: certificates, keys, CSRs and CRLs in PEM or
 * DER, PKCS#12, private keys written 0600, and key/CSR generation.
 */
#include "scep/cli.h"
#include "scep/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void report(const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    fprintf(stderr, "scep: %s %s%s%s\n", what, path, e ? ": " : "",
            e ? ERR_reason_error_string(e) : "");
    ERR_clear_error();
}

int scep_cli_read_text(char **out, size_t *out_len, const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f) || n > max;
    fclose(f);
    if (buf == NULL || err) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

static BIO *open_read(const char *path)
{
    BIO *bio = BIO_new_file(path, "rb");
    if (bio == NULL)
        report("cannot open", path);
    return bio;
}

int scep_cli_load_certs(STACK_OF(X509) * *out, const char *path)
{
    BIO *bio = open_read(path);
    if (bio == NULL)
        return -1;
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *cert;
    while (certs != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(certs, cert);
    ERR_clear_error();
    if (sk_X509_num(certs) == 0) {
        (void)BIO_reset(bio);
        cert = d2i_X509_bio(bio, NULL);
        if (cert != NULL)
            sk_X509_push(certs, cert);
    }
    BIO_free(bio);
    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        report("no certificate in", path);
        return -1;
    }
    *out = certs;
    return 0;
}

int scep_cli_load_cert(X509 **out, const char *path)
{
    STACK_OF(X509) *certs = NULL;
    if (scep_cli_load_certs(&certs, path) != 0)
        return -1;
    *out = sk_X509_shift(certs);
    sk_X509_pop_free(certs, X509_free);
    return 0;
}

int scep_cli_load_key(EVP_PKEY **out, const char *path)
{
    BIO *bio = open_read(path);
    if (bio == NULL)
        return -1;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (key == NULL) {
        (void)BIO_reset(bio);
        key = d2i_PrivateKey_bio(bio, NULL);
    }
    BIO_free(bio);
    if (key == NULL) {
        report("no private key in", path);
        return -1;
    }
    *out = key;
    return 0;
}

int scep_cli_load_csr(X509_REQ **out, const char *path)
{
    BIO *bio = open_read(path);
    if (bio == NULL)
        return -1;
    X509_REQ *csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    if (csr == NULL) {
        (void)BIO_reset(bio);
        csr = d2i_X509_REQ_bio(bio, NULL);
    }
    BIO_free(bio);
    if (csr == NULL) {
        report("no certificate request in", path);
        return -1;
    }
    *out = csr;
    return 0;
}

/* Opens `path` for writing with `mode` (0600 for secrets), replacing it. */
static BIO *open_write(const char *path, int mode)
{
    if (strcmp(path, "-") == 0)
        return BIO_new_fp(stdout, BIO_NOCLOSE);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        fprintf(stderr, "scep: cannot write %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (mode == 0600)
        (void)fchmod(fd, 0600); /* an existing file keeps its mode otherwise */
    BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
    if (bio == NULL)
        close(fd);
    return bio;
}

static int finish(BIO *bio, int ok, const char *path)
{
    if (bio != NULL && BIO_flush(bio) != 1)
        ok = 0;
    BIO_free(bio);
    if (!ok)
        report("cannot write", path);
    return ok ? 0 : -1;
}

int scep_cli_write_cert(const char *path, X509 *cert, int der)
{
    BIO *bio = open_write(path, 0644);
    if (bio == NULL)
        return -1;
    return finish(bio, der ? i2d_X509_bio(bio, cert) : PEM_write_bio_X509(bio, cert), path);
}

int scep_cli_write_crl(const char *path, X509_CRL *crl, int der)
{
    BIO *bio = open_write(path, 0644);
    if (bio == NULL)
        return -1;
    return finish(bio, der ? i2d_X509_CRL_bio(bio, crl) : PEM_write_bio_X509_CRL(bio, crl), path);
}

int scep_cli_write_key(const char *path, EVP_PKEY *key)
{
    BIO *bio = open_write(path, 0600);
    if (bio == NULL)
        return -1;
    return finish(bio, PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), path);
}

int scep_cli_write_csr(const char *path, X509_REQ *csr)
{
    BIO *bio = open_write(path, 0644);
    if (bio == NULL)
        return -1;
    return finish(bio, PEM_write_bio_X509_REQ(bio, csr), path);
}

int scep_cli_write_pkcs12(const char *path, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                          const char *password)
{
    PKCS12 *p12 = PKCS12_create(password ? password : "", NULL, key, cert, chain, 0, 0, 0, 0, 0);
    if (p12 == NULL) {
        report("cannot build PKCS#12 for", path);
        return -1;
    }
    BIO *bio = open_write(path, 0600);
    int rc = bio ? finish(bio, i2d_PKCS12_bio(bio, p12), path) : -1;
    PKCS12_free(p12);
    return rc;
}

int scep_cli_write_text(const char *path, const char *text, int mode)
{
    BIO *bio = open_write(path, mode);
    if (bio == NULL)
        return -1;
    return finish(bio, BIO_puts(bio, text) >= 0, path);
}

int scep_cli_generate_key(EVP_PKEY **out, const char *key_type)
{
    const char *t = key_type ? key_type : "rsa:2048";
    EVP_PKEY *key = NULL;
    if (strncasecmp(t, "rsa:", 4) == 0) {
        char *end = NULL;
        long bits = strtol(t + 4, &end, 10);
        if (*end != '\0' || (bits != 2048 && bits != 3072 && bits != 4096)) {
            fprintf(stderr, "scep: RSA keys are 2048, 3072 or 4096 bits\n");
            return -1;
        }
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else if (strcasecmp(t, "ec:P-256") == 0 || strcasecmp(t, "ec:P-384") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", t[5] == '2' ? "P-256" : "P-384");
    } else {
        fprintf(stderr,
                "scep: unknown key type \"%s\" (rsa:2048, rsa:3072, rsa:4096, ec:P-256, "
                "ec:P-384)\n",
                t);
        return -1;
    }
    if (key == NULL) {
        report("cannot generate key", t);
        return -1;
    }
    *out = key;
    return 0;
}

static int add_ext(STACK_OF(X509_EXTENSION) * exts, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        report("bad extension value", value);
        return -1;
    }
    sk_X509_EXTENSION_push(exts, ext);
    return 0;
}

int scep_cli_make_csr(X509_REQ **out, EVP_PKEY *key, const char *subject, const char *san,
                      const char *eku, const char *challenge)
{
    int rc = -1;
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *name = NULL;
    GENERAL_NAMES *names = NULL;
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    if (csr == NULL || exts == NULL)
        goto cleanup;
    if (scep_dn_parse(&name, subject) < 0) {
        fprintf(stderr, "scep: --subject: %s\n", scep_error_message());
        goto cleanup;
    }
    if (X509_REQ_set_subject_name(csr, name) != 1)
        goto cleanup;
    if (X509_REQ_set_version(csr, 0) != 1 || X509_REQ_set_pubkey(csr, key) != 1)
        goto cleanup;
    if (san != NULL && scep_san_parse(&names, san) < 0) {
        fprintf(stderr, "scep: --san: %s\n", scep_error_message());
        goto cleanup;
    }
    /* RFC 5280 §4.2.1.6: the extension, when present, holds at least one name. */
    if (names != NULL && sk_GENERAL_NAME_num(names) > 0 &&
        X509V3_add1_i2d(&exts, NID_subject_alt_name, names, 0, X509V3_ADD_APPEND) != 1) {
        report("cannot encode", "--san");
        goto cleanup;
    }
    if (eku != NULL && add_ext(exts, NID_ext_key_usage, eku) != 0)
        goto cleanup;
    if (sk_X509_EXTENSION_num(exts) > 0 && X509_REQ_add_extensions(csr, exts) != 1)
        goto cleanup;
    /* RFC 8894 §2.2: the challenge travels as the CSR's challengePassword. */
    if (challenge != NULL &&
        X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                  (const unsigned char *)challenge, -1) != 1)
        goto cleanup;
    if (X509_REQ_sign(csr, key, EVP_sha256()) <= 0) {
        report("cannot sign the request", "");
        goto cleanup;
    }
    *out = csr;
    csr = NULL;
    rc = 0;

cleanup:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(names);
    X509_NAME_free(name);
    X509_REQ_free(csr);
    return rc;
}
