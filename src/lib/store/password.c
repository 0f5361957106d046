/*
 * End entity password hashes: PBKDF2-HMAC-SHA256 with a per-record random salt,
 * stored as the self-describing string
 *     pbkdf2-sha256$ITERATIONS$SALT_BASE64$HASH_BASE64
 * so the iteration count can be raised later without invalidating old hashes.
 */
#include "store/store_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PW_PREFIX      "pbkdf2-sha256$"
#define PW_SALT_LEN    16
#define PW_HASH_LEN    32
#define PW_B64_MAX     64 /* base64 of up to 48 bytes, plus NUL */
#define PW_ENCODED_MAX 160
#define PW_MAX_INPUT   1024 /* longest password accepted */

static int derive(unsigned char hash[PW_HASH_LEN], const char *password, const unsigned char *salt,
                  size_t salt_len, uint32_t iterations)
{
    int rc = SCEP_OK;
    size_t len = strlen(password);
    ENSURE(len <= PW_MAX_INPUT, SCEP_ETOOBIG, "password longer than %d bytes", PW_MAX_INPUT);
    ENSURE_OSSL(PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)salt_len, (int)iterations,
                                  EVP_sha256(), PW_HASH_LEN, hash) == 1,
                SCEP_ECRYPTO, "PBKDF2");
cleanup:
    return rc;
}

/* Decodes unpadded or padded base64 of exactly `want` bytes. */
static int b64_decode(unsigned char *out, size_t want, const char *in, size_t in_len)
{
    unsigned char buf[PW_B64_MAX];
    if (in_len == 0 || in_len >= PW_B64_MAX || in_len % 4 != 0)
        return -1;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)in_len);
    if (n < 0)
        return -1;
    size_t pad = 0;
    if (in[in_len - 1] == '=')
        pad++;
    if (in_len >= 2 && in[in_len - 2] == '=')
        pad++;
    if ((size_t)n < pad || (size_t)n - pad != want)
        return -1;
    memcpy(out, buf, want);
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

int scep_store_password_hash(char **out, const char *password, uint32_t iterations)
{
    int rc = SCEP_OK;
    unsigned char salt[PW_SALT_LEN];
    unsigned char hash[PW_HASH_LEN];
    unsigned char salt_b64[PW_B64_MAX];
    unsigned char hash_b64[PW_B64_MAX];
    char *encoded = NULL;

    *out = NULL;
    ENSURE(iterations >= SCEP_STORE_PBKDF2_MIN_ITERATIONS &&
               iterations <= SCEP_STORE_PBKDF2_MAX_ITERATIONS,
           SCEP_EINVAL, "PBKDF2 iteration count %u out of range", (unsigned)iterations);
    ENSURE_OSSL(RAND_bytes(salt, sizeof(salt)) == 1, SCEP_ECRYPTO, "salt");
    GUARD(derive(hash, password, salt, sizeof(salt), iterations));
    EVP_EncodeBlock(salt_b64, salt, (int)sizeof(salt));
    EVP_EncodeBlock(hash_b64, hash, (int)sizeof(hash));

    encoded = OPENSSL_malloc(PW_ENCODED_MAX);
    ENSURE_ALLOC(encoded);
    int n = snprintf(encoded, PW_ENCODED_MAX, PW_PREFIX "%u$%s$%s", (unsigned)iterations,
                     (const char *)salt_b64, (const char *)hash_b64);
    ENSURE(n > 0 && n < PW_ENCODED_MAX, SCEP_EINVAL, "password hash encoding");
    *out = encoded;
    encoded = NULL;
cleanup:
    OPENSSL_cleanse(hash, sizeof(hash));
    OPENSSL_free(encoded);
    return rc;
}

int scep_store_password_verify(const char *encoded, const char *password)
{
    int rc = SCEP_OK;
    unsigned char salt[PW_SALT_LEN];
    unsigned char stored[PW_HASH_LEN];
    unsigned char computed[PW_HASH_LEN];
    const size_t prefix_len = strlen(PW_PREFIX);

    ENSURE(strncmp(encoded, PW_PREFIX, prefix_len) == 0, SCEP_ESTORE,
           "stored password hash has an unknown scheme");
    const char *p = encoded + prefix_len;
    char *end = NULL;
    errno = 0;
    unsigned long iterations = strtoul(p, &end, 10);
    ENSURE(errno == 0 && end != p && *end == '$' &&
               iterations >= SCEP_STORE_PBKDF2_MIN_ITERATIONS &&
               iterations <= SCEP_STORE_PBKDF2_MAX_ITERATIONS,
           SCEP_ESTORE, "stored password hash has a bad iteration count");
    const char *salt_b64 = end + 1;
    const char *dollar = strchr(salt_b64, '$');
    ENSURE(dollar != NULL, SCEP_ESTORE, "stored password hash is malformed");
    const char *hash_b64 = dollar + 1;
    ENSURE(b64_decode(salt, sizeof(salt), salt_b64, (size_t)(dollar - salt_b64)) == 0 &&
               b64_decode(stored, sizeof(stored), hash_b64, strlen(hash_b64)) == 0,
           SCEP_ESTORE, "stored password hash is malformed");
    GUARD(derive(computed, password, salt, sizeof(salt), (uint32_t)iterations));
    ENSURE(CRYPTO_memcmp(computed, stored, sizeof(stored)) == 0, SCEP_EDENIED,
           "invalid username or password");
cleanup:
    OPENSSL_cleanse(computed, sizeof(computed));
    return rc;
}

void scep_store_password_dummy(const char *password, uint32_t iterations)
{
    unsigned char salt[PW_SALT_LEN] = {0};
    unsigned char hash[PW_HASH_LEN];
    if (derive(hash, password, salt, sizeof(salt), iterations) == SCEP_OK)
        OPENSSL_cleanse(hash, sizeof(hash));
}
