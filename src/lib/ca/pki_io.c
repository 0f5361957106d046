/*
 * Reading and writing certificates, chains, keys and passphrases, with size
 * limits, private-key file permission checks and fingerprints.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* Most certificates read from one chain file. */
#define SCEP_CHAIN_MAX 32

int scep_pki_read_file(unsigned char **out, size_t *out_len, int fd, const char *path, size_t max)
{
    int rc = SCEP_OK;
    int own_fd = -1;
    unsigned char *buf = NULL;
    size_t used = 0;
    size_t cap = 0;
    struct stat st;

    *out = NULL;
    *out_len = 0;
    if (fd < 0) {
        own_fd = open(path, O_RDONLY | O_CLOEXEC);
        ENSURE(own_fd >= 0, SCEP_EIO, "cannot open %s: %s", path, strerror(errno));
        fd = own_fd;
    }
    ENSURE(fstat(fd, &st) == 0, SCEP_EIO, "cannot stat %s: %s", path, strerror(errno));
    ENSURE(S_ISREG(st.st_mode), SCEP_EINVAL, "%s is not a regular file", path);
    ENSURE(st.st_size >= 0 && (size_t)st.st_size <= max, SCEP_ETOOBIG,
           "%s is larger than %zu bytes", path, max);

    /* One byte more than fstat's size lets a file that grew meanwhile be noticed. */
    cap = (size_t)st.st_size + 1;
    buf = OPENSSL_malloc(cap);
    ENSURE_ALLOC(buf);
    for (;;) {
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        ENSURE(n >= 0, SCEP_EIO, "cannot read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        used += (size_t)n;
        ENSURE(used < cap, SCEP_EIO, "%s changed while it was read", path);
    }
    *out = buf;
    *out_len = used;
    buf = NULL;

cleanup:
    OPENSSL_clear_free(buf, cap);
    if (own_fd >= 0)
        close(own_fd);
    return rc;
}

static int check_key_stat(const struct stat *st, const char *path, const char *what)
{
    if (!S_ISREG(st->st_mode))
        return scep_fail(SCEP_EINVAL, "%s %s is not a regular file", what, path);
    if ((st->st_mode & 077) != 0)
        return scep_fail(SCEP_EPERM,
                         "%s %s has mode %04o: it must not be accessible by group or others "
                         "(chmod 600)",
                         what, path, (unsigned)(st->st_mode & 07777));
    if (st->st_uid != geteuid())
        return scep_fail(SCEP_EPERM, "%s %s is owned by uid %lu, not by the effective uid %lu",
                         what, path, (unsigned long)st->st_uid, (unsigned long)geteuid());
    return SCEP_OK;
}

int scep_pki_open_checked(int *out_fd, const char *path, const char *what)
{
    int rc = SCEP_OK;
    int fd = -1;
    struct stat st;

    *out_fd = -1;
    ENSURE(path != NULL, SCEP_EINVAL, "no %s given", what);
    /* Checked on the open file, so the file read is the file checked. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    ENSURE(fd >= 0, SCEP_EIO, "cannot open %s %s: %s", what, path, strerror(errno));
    ENSURE(fstat(fd, &st) == 0, SCEP_EIO, "cannot stat %s: %s", path, strerror(errno));
    GUARD(check_key_stat(&st, path, what));
    *out_fd = fd;
    fd = -1;

cleanup:
    if (fd >= 0)
        close(fd);
    return rc;
}

int scep_key_file_check(const char *path)
{
    int fd = -1;
    int rc = scep_pki_open_checked(&fd, path, "private key file");
    if (fd >= 0)
        close(fd);
    return rc;
}

static int looks_like_pem(const unsigned char *data, size_t len)
{
    static const char marker[] = "-----BEGIN ";
    size_t mlen = sizeof(marker) - 1;
    for (size_t i = 0; i + mlen <= len; i++)
        if (memcmp(data + i, marker, mlen) == 0)
            return 1;
    return 0;
}

/* ---- certificates ---- */

int scep_pki_decode_chain(STACK_OF(X509) * *out, const unsigned char *data, size_t len,
                          const char *what)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *certs = NULL;
    BIO *bio = NULL;
    X509 *cert = NULL;

    *out = NULL;
    ENSURE(len > 0 && len <= SCEP_PKI_FILE_MAX, len == 0 ? SCEP_EMALFORMED : SCEP_ETOOBIG,
           "%s: certificate data is empty or too large", what);
    certs = sk_X509_new_null();
    ENSURE_ALLOC(certs);

    if (looks_like_pem(data, len)) {
        bio = BIO_new_mem_buf(data, (int)len);
        ENSURE_ALLOC(bio);
        for (;;) {
            cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            if (cert == NULL) {
                unsigned long err = ERR_peek_last_error();
                /* Running out of PEM blocks is the normal end of the file. */
                ENSURE_OSSL(
                    ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE,
                    SCEP_EMALFORMED, "%s: bad PEM certificate #%d", what, sk_X509_num(certs) + 1);
                ERR_clear_error();
                break;
            }
            ENSURE(sk_X509_num(certs) < SCEP_CHAIN_MAX, SCEP_ETOOBIG,
                   "%s: more than %d certificates", what, SCEP_CHAIN_MAX);
            ENSURE(sk_X509_push(certs, cert) > 0, SCEP_ENOMEM, "out of memory");
            cert = NULL;
        }
    } else {
        const unsigned char *p = data;
        cert = d2i_X509(NULL, &p, (long)len);
        ENSURE_OSSL(cert != NULL, SCEP_EMALFORMED, "%s: not a PEM or DER certificate", what);
        ENSURE(p == data + len, SCEP_EMALFORMED, "%s: trailing bytes after the DER certificate",
               what);
        ENSURE(sk_X509_push(certs, cert) > 0, SCEP_ENOMEM, "out of memory");
        cert = NULL;
    }
    ENSURE(sk_X509_num(certs) > 0, SCEP_EMALFORMED, "%s: no certificate found", what);
    *out = certs;
    certs = NULL;

cleanup:
    X509_free(cert);
    BIO_free(bio);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

int scep_cert_decode(X509 **out, const unsigned char *data, size_t len)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *certs = NULL;

    ENSURE(out != NULL && data != NULL, SCEP_EINVAL, "scep_cert_decode: NULL argument");
    *out = NULL;
    GUARD(scep_pki_decode_chain(&certs, data, len, "certificate"));
    *out = sk_X509_shift(certs);

cleanup:
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

int scep_chain_load(STACK_OF(X509) * *out, const char *path)
{
    int rc = SCEP_OK;
    unsigned char *data = NULL;
    size_t len = 0;

    ENSURE(out != NULL && path != NULL, SCEP_EINVAL, "scep_chain_load: NULL argument");
    *out = NULL;
    GUARD(scep_pki_read_file(&data, &len, -1, path, SCEP_PKI_FILE_MAX));
    GUARD(scep_pki_decode_chain(out, data, len, path));

cleanup:
    OPENSSL_clear_free(data, len);
    return rc;
}

int scep_cert_load(X509 **out, const char *path)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *certs = NULL;

    ENSURE(out != NULL && path != NULL, SCEP_EINVAL, "scep_cert_load: NULL argument");
    *out = NULL;
    GUARD(scep_chain_load(&certs, path));
    *out = sk_X509_shift(certs);

cleanup:
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* ---- writing ---- */

static int write_all(int fd, const unsigned char *data, size_t len, const char *path)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return scep_fail(SCEP_EIO, "cannot write %s: %s", path, strerror(errno));
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        return scep_fail(SCEP_EIO, "cannot sync %s: %s", path, strerror(errno));
    return SCEP_OK;
}

int scep_pki_write_atomic(const char *path, const unsigned char *data, size_t len, mode_t mode)
{
    int rc = SCEP_OK;
    int fd = -1;
    char tmp[4096];
    unsigned char rnd[8];
    int created = 0;

    ENSURE_OSSL(RAND_bytes(rnd, sizeof(rnd)) == 1, SCEP_ECRYPTO, "RAND_bytes");
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0],
                     rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    ENSURE(n > 0 && (size_t)n < sizeof(tmp), SCEP_EINVAL, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    ENSURE(fd >= 0, SCEP_EIO, "cannot create %s: %s", tmp, strerror(errno));
    created = 1;
    GUARD(write_all(fd, data, len, tmp));
    ENSURE(close(fd) == 0, SCEP_EIO, "cannot close %s: %s", tmp, strerror(errno));
    fd = -1;
    ENSURE(rename(tmp, path) == 0, SCEP_EIO, "cannot rename %s to %s: %s", tmp, path,
           strerror(errno));
    created = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    return rc;
}

static int bio_bytes(const unsigned char **out, size_t *out_len, BIO *bio)
{
    char *ptr = NULL;
    long n = BIO_get_mem_data(bio, &ptr);
    if (n < 0 || ptr == NULL)
        return scep_fail_ossl(SCEP_ENOMEM, "memory BIO");
    *out = (const unsigned char *)ptr;
    *out_len = (size_t)n;
    return SCEP_OK;
}

int scep_chain_save(const char *path, const STACK_OF(X509) * certs)
{
    int rc = SCEP_OK;
    BIO *bio = NULL;
    const unsigned char *data = NULL;
    size_t len = 0;

    ENSURE(path != NULL && certs != NULL && sk_X509_num(certs) > 0, SCEP_EINVAL,
           "scep_chain_save: no certificates to write");
    bio = BIO_new(BIO_s_mem());
    ENSURE_ALLOC(bio);
    for (int i = 0; i < sk_X509_num(certs); i++)
        ENSURE_OSSL(PEM_write_bio_X509(bio, sk_X509_value(certs, i)) == 1, SCEP_ECRYPTO,
                    "cannot encode certificate for %s", path);
    GUARD(bio_bytes(&data, &len, bio));
    GUARD(scep_pki_write_atomic(path, data, len, 0644));

cleanup:
    BIO_free(bio);
    return rc;
}

int scep_cert_save(const char *path, const X509 *cert, scep_encoding encoding)
{
    int rc = SCEP_OK;
    BIO *bio = NULL;
    const unsigned char *data = NULL;
    size_t len = 0;

    ENSURE(path != NULL && cert != NULL, SCEP_EINVAL, "scep_cert_save: NULL argument");
    ENSURE(encoding == SCEP_ENCODING_PEM || encoding == SCEP_ENCODING_DER, SCEP_EINVAL,
           "unknown encoding %d", (int)encoding);
    bio = BIO_new(BIO_s_mem());
    ENSURE_ALLOC(bio);
    if (encoding == SCEP_ENCODING_PEM)
        ENSURE_OSSL(PEM_write_bio_X509(bio, cert) == 1, SCEP_ECRYPTO,
                    "cannot encode certificate for %s", path);
    else
        ENSURE_OSSL(i2d_X509_bio(bio, cert) == 1, SCEP_ECRYPTO, "cannot encode certificate for %s",
                    path);
    GUARD(bio_bytes(&data, &len, bio));
    GUARD(scep_pki_write_atomic(path, data, len, 0644));

cleanup:
    BIO_free(bio);
    return rc;
}

/* ---- keys and passphrases ---- */

int scep_pki_decode_passphrase(char **out, size_t *out_len, const unsigned char *data, size_t len,
                               const char *what)
{
    int rc = SCEP_OK;
    size_t line = 0;
    char *pass = NULL;

    *out = NULL;
    *out_len = 0;
    while (line < len && data[line] != '\n' && data[line] != '\r')
        line++;
    ENSURE(line > 0, SCEP_EINVAL, "passphrase file %s: first line is empty", what);
    ENSURE(line <= SCEP_PASSPHRASE_MAX, SCEP_ETOOBIG,
           "passphrase file %s: passphrase longer than %d bytes", what, SCEP_PASSPHRASE_MAX);
    ENSURE(memchr(data, '\0', line) == NULL, SCEP_EINVAL,
           "passphrase file %s: passphrase contains a NUL byte", what);
    pass = OPENSSL_malloc(line + 1);
    ENSURE_ALLOC(pass);
    memcpy(pass, data, line);
    pass[line] = '\0';
    *out = pass;
    *out_len = line + 1;

cleanup:
    return rc;
}

int scep_passphrase_load(char **out, size_t *out_len, const char *path)
{
    int rc = SCEP_OK;
    unsigned char *data = NULL;
    size_t len = 0;

    ENSURE(out != NULL && out_len != NULL && path != NULL, SCEP_EINVAL,
           "scep_passphrase_load: NULL argument");
    *out = NULL;
    *out_len = 0;
    GUARD(scep_pki_read_file(&data, &len, -1, path, SCEP_PASSPHRASE_MAX + 2));
    GUARD(scep_pki_decode_passphrase(out, out_len, data, len, path));

cleanup:
    OPENSSL_clear_free(data, len);
    return rc;
}

struct passphrase_ctx {
    const char *passphrase;
    int asked;
};

/* Never prompts: without a passphrase an encrypted key simply fails to load. */
static int passphrase_cb(char *buf, int size, int rwflag, void *payload)
{
    struct passphrase_ctx *ctx = payload;
    (void)rwflag;
    ctx->asked = 1;
    if (ctx->passphrase == NULL || size <= 0)
        return -1;
    size_t len = strlen(ctx->passphrase);
    if (len > (size_t)size)
        return -1;
    memcpy(buf, ctx->passphrase, len);
    return (int)len;
}

int scep_pki_decode_key(EVP_PKEY **out, const unsigned char *data, size_t len, const char *what,
                        const char *passphrase)
{
    int rc = SCEP_OK;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    struct passphrase_ctx ctx = {passphrase, 0};

    *out = NULL;
    ENSURE(len > 0 && len <= SCEP_PKI_FILE_MAX, SCEP_EMALFORMED, "%s: empty or too large", what);
    bio = BIO_new_mem_buf(data, (int)len);
    ENSURE_ALLOC(bio);
    if (looks_like_pem(data, len))
        key = PEM_read_bio_PrivateKey(bio, NULL, passphrase_cb, &ctx);
    else
        key = d2i_PrivateKey_bio(bio, NULL);
    if (key == NULL && ctx.asked && passphrase == NULL)
        ENSURE(0, SCEP_EINVAL, "private key %s is encrypted and no passphrase file was given",
               what);
    ENSURE_OSSL(!(key == NULL && ctx.asked), SCEP_EDECRYPT,
                "cannot decrypt private key %s: wrong passphrase?", what);
    ENSURE_OSSL(key != NULL, SCEP_EMALFORMED, "%s: not a PEM or DER private key", what);
    *out = key;
    key = NULL;

cleanup:
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

int scep_key_load(EVP_PKEY **out, const char *path, const char *passphrase)
{
    int rc = SCEP_OK;
    unsigned char *data = NULL;
    size_t len = 0;

    ENSURE(out != NULL && path != NULL, SCEP_EINVAL, "scep_key_load: NULL argument");
    *out = NULL;
    GUARD(scep_pki_read_file(&data, &len, -1, path, SCEP_PKI_FILE_MAX));
    GUARD(scep_pki_decode_key(out, data, len, path, passphrase));

cleanup:
    OPENSSL_clear_free(data, len);
    return rc;
}

int scep_key_save(const char *path, const EVP_PKEY *key, const char *passphrase)
{
    int rc = SCEP_OK;
    BIO *bio = NULL;
    const unsigned char *data = NULL;
    size_t len = 0;
    int fd = -1;
    int created = 0;

    ENSURE(path != NULL && key != NULL, SCEP_EINVAL, "scep_key_save: NULL argument");
    /* A secure-memory BIO wipes every buffer it drops while growing, not just the last. */
    bio = BIO_new(BIO_s_secmem());
    ENSURE_ALLOC(bio);
    if (passphrase != NULL)
        ENSURE_OSSL(PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase,
                                                  (int)strlen(passphrase), NULL, NULL) == 1,
                    SCEP_ECRYPTO, "cannot encode private key for %s", path);
    else
        ENSURE_OSSL(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1,
                    SCEP_ECRYPTO, "cannot encode private key for %s", path);
    GUARD(bio_bytes(&data, &len, bio));

    /* Created 0600 in one step: the key is never readable by others, even briefly. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    ENSURE(fd >= 0, errno == EEXIST ? SCEP_EEXISTS : SCEP_EIO, "cannot create %s: %s", path,
           strerror(errno));
    created = 1;
    GUARD(write_all(fd, data, len, path));
    ENSURE(close(fd) == 0, SCEP_EIO, "cannot close %s: %s", path, strerror(errno));
    fd = -1;
    created = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(path);
    if (data != NULL)
        OPENSSL_cleanse((void *)data, len);
    BIO_free(bio);
    return rc;
}
