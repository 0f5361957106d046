/*
 * Certificate fingerprints (include/scep/fingerprint.h).
 */
#include "scep/fingerprint.h"
#include "util/error_internal.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- fingerprints ---- */

static const struct {
    scep_fingerprint_alg alg;
    const char *names[3];
    const char *md;
} fp_algs[] = {
    {SCEP_FINGERPRINT_MD5, {"md5", "md-5", NULL}, "MD5"},
    {SCEP_FINGERPRINT_SHA1, {"sha1", "sha-1", NULL}, "SHA1"},
    {SCEP_FINGERPRINT_SHA256, {"sha256", "sha-256", NULL}, "SHA256"},
    {SCEP_FINGERPRINT_SHA512, {"sha512", "sha-512", NULL}, "SHA512"},
};

int scep_fingerprint_alg_from_name(scep_fingerprint_alg *out, const char *name)
{
    if (out == NULL || name == NULL)
        return scep_fail(SCEP_EINVAL, "fingerprint algorithm name missing");
    for (size_t i = 0; i < sizeof(fp_algs) / sizeof(fp_algs[0]); i++)
        for (size_t j = 0; j < 3 && fp_algs[i].names[j] != NULL; j++)
            if (strcasecmp(name, fp_algs[i].names[j]) == 0) {
                *out = fp_algs[i].alg;
                return SCEP_OK;
            }
    return scep_fail(SCEP_EINVAL,
                     "unknown fingerprint algorithm \"%s\" (md5, sha1, sha256, sha512)", name);
}

static int fingerprint_raw(unsigned char *md, unsigned int *md_len, const X509 *cert,
                           scep_fingerprint_alg alg)
{
    int rc = SCEP_OK;
    EVP_MD *evp = NULL;
    const char *name = NULL;
    for (size_t i = 0; i < sizeof(fp_algs) / sizeof(fp_algs[0]); i++)
        if (fp_algs[i].alg == alg)
            name = fp_algs[i].md;
    ENSURE(name != NULL, SCEP_EINVAL, "unknown fingerprint algorithm %d", (int)alg);
    ENSURE(cert != NULL, SCEP_EINVAL, "certificate missing");
    evp = EVP_MD_fetch(NULL, name, NULL);
    ENSURE_OSSL(evp != NULL, SCEP_EBADALG, "%s is not available", name);
    ENSURE_OSSL(X509_digest(cert, evp, md, md_len) == 1, SCEP_ECRYPTO,
                "cannot compute the fingerprint");

cleanup:
    EVP_MD_free(evp);
    return rc;
}

int scep_cert_fingerprint(char **out, const X509 *cert, scep_fingerprint_alg alg)
{
    int rc = SCEP_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ENSURE(out != NULL, SCEP_EINVAL, "output pointer missing");
    GUARD(fingerprint_raw(md, &md_len, cert, alg));
    char *hex = OPENSSL_malloc(md_len * 3 + 1);
    ENSURE_ALLOC(hex);
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(hex + i * 3, 4, "%02X%s", md[i], i + 1 < md_len ? ":" : "");
    hex[md_len ? md_len * 3 - 1 : 0] = '\0';
    *out = hex;

cleanup:
    return rc;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int scep_cert_check_fingerprint(const X509 *cert, const char *hex, scep_fingerprint_alg alg)
{
    int rc = SCEP_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t want_len = 0;
    int hi = -1;

    ENSURE(hex != NULL, SCEP_EINVAL, "fingerprint missing");
    GUARD(fingerprint_raw(md, &md_len, cert, alg));
    for (const char *p = hex; *p != '\0'; p++) {
        if (*p == ':' || *p == ' ' || *p == '-')
            continue;
        int v = hexval((unsigned char)*p);
        ENSURE(v >= 0, SCEP_EINVAL, "fingerprint \"%s\" is not hexadecimal", hex);
        if (hi < 0) {
            hi = v;
            continue;
        }
        ENSURE(want_len < sizeof(want), SCEP_EINVAL, "fingerprint too long");
        want[want_len++] = (unsigned char)(hi << 4 | v);
        hi = -1;
    }
    ENSURE(hi < 0, SCEP_EINVAL, "fingerprint has an odd number of hex digits");
    ENSURE(want_len == md_len, SCEP_EVERIFY,
           "fingerprint has %zu octets but the algorithm gives %u (wrong -F algorithm?)", want_len,
           md_len);
    ENSURE(CRYPTO_memcmp(want, md, md_len) == 0, SCEP_EVERIFY,
           "CA certificate fingerprint does not match");

cleanup:
    return rc;
}
