/*
 * Timing of RSA PKCS#1 v1.5 decryption with valid and invalid padding (the Marvin
 * attack, CVE-2022-4304 family): how much longer or shorter the failure path of the
 * key-transport decryption scepd does with the CA (or RA) key takes. OpenSSL 3.0 has
 * no implicit rejection (3.2 added it), so a measurable difference is an exposure
 * (docs/security.md "Key transport timing").
 *
 * usage: marvin_timing [ITERATIONS] [BITS]     (default 4000 of each, RSA-2048)
 * Prints the median, 10th and 90th percentile in nanoseconds of each path and their
 * difference. Valid and invalid ciphertexts alternate so drift affects both alike.
 */
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ITERATIONS 200000
#define MAX_BYTES      1024

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t percentile(int64_t *v, size_t n, unsigned p)
{
    return v[(n - 1) * p / 100];
}

static int encrypt(EVP_PKEY *key, int padding, unsigned char *out, size_t *out_len,
                   const unsigned char *in, size_t in_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    int ok = ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, padding) == 1 &&
             EVP_PKEY_encrypt(ctx, out, out_len, in, in_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* One decryption as CMS key transport does it; returns its time in nanoseconds. */
static int64_t time_decrypt(EVP_PKEY_CTX *ctx, const unsigned char *in, size_t in_len)
{
    unsigned char out[MAX_BYTES];
    size_t out_len = sizeof(out);
    int64_t start = now_ns();
    (void)EVP_PKEY_decrypt(ctx, out, &out_len, in, in_len);
    return now_ns() - start;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 4000;
    long bits = argc > 2 ? strtol(argv[2], NULL, 10) : 2048;
    if (iterations < 10 || iterations > MAX_ITERATIONS || bits < 1024 || bits > 8192) {
        fprintf(stderr, "usage: marvin_timing [ITERATIONS 10..%d] [BITS 1024..8192]\n",
                MAX_ITERATIONS);
        return 2;
    }
    EVP_PKEY *key = EVP_RSA_gen((unsigned)bits);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    int64_t *valid = calloc((size_t)iterations, sizeof(*valid));
    int64_t *invalid = calloc((size_t)iterations, sizeof(*invalid));
    if (key == NULL || ctx == NULL || valid == NULL || invalid == NULL ||
        EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) {
        fprintf(stderr, "marvin_timing: OpenSSL setup failed\n");
        return 1;
    }
    size_t n = (size_t)EVP_PKEY_get_size(key);
    unsigned char good[MAX_BYTES], bad[MAX_BYTES], secret[32], raw[MAX_BYTES];
    size_t good_len = sizeof(good), bad_len = sizeof(bad);
    /* A content-encryption key wrapped properly, and a block whose padding is wrong: a
     * random value below the modulus (first byte zero) encrypted without padding. */
    RAND_bytes(secret, sizeof(secret));
    RAND_bytes(raw, (int)n);
    raw[0] = 0x00;
    raw[1] = 0x17; /* not 0x02: never valid PKCS#1 v1.5 type 2 padding */
    if (encrypt(key, RSA_PKCS1_PADDING, good, &good_len, secret, sizeof(secret)) < 0 ||
        encrypt(key, RSA_NO_PADDING, bad, &bad_len, raw, n) < 0) {
        fprintf(stderr, "marvin_timing: cannot build the ciphertexts\n");
        return 1;
    }
    for (long i = 0; i < 200; i++) /* warm-up */
        (void)time_decrypt(ctx, i % 2 ? good : bad, i % 2 ? good_len : bad_len);
    for (long i = 0; i < iterations; i++) {
        valid[i] = time_decrypt(ctx, good, good_len);
        invalid[i] = time_decrypt(ctx, bad, bad_len);
    }
    qsort(valid, (size_t)iterations, sizeof(*valid), cmp);
    qsort(invalid, (size_t)iterations, sizeof(*invalid), cmp);
    int64_t mv = percentile(valid, (size_t)iterations, 50);
    int64_t mi = percentile(invalid, (size_t)iterations, 50);
    printf("%s, RSA-%ld PKCS#1 v1.5 decryption, %ld of each\n", OpenSSL_version(OPENSSL_VERSION),
           bits, iterations);
    printf("valid padding:   median %lld ns (p10 %lld, p90 %lld)\n", (long long)mv,
           (long long)percentile(valid, (size_t)iterations, 10),
           (long long)percentile(valid, (size_t)iterations, 90));
    printf("invalid padding: median %lld ns (p10 %lld, p90 %lld)\n", (long long)mi,
           (long long)percentile(invalid, (size_t)iterations, 10),
           (long long)percentile(invalid, (size_t)iterations, 90));
    printf("difference of medians: %lld ns (%.2f %%)\n", (long long)(mi - mv),
           mv > 0 ? 100.0 * (double)(mi - mv) / (double)mv : 0.0);
    free(valid);
    free(invalid);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    return 0;
}
