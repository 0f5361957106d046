/*
 * Digest and cipher tables: names, OpenSSL objects and the legacy gate.
 * RFC 8894 §3.5.2 names the algorithms; MD5 and single DES come from the
 * draft and are only accepted when the caller turned the legacy switch on.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/objects.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

struct digest_entry {
    scep_digest digest;
    int nid;
    const char *name;
    const char *aliases[3];
    int legacy;
};

static const struct digest_entry digests[] = {
    {SCEP_DIGEST_MD5, NID_md5, "MD5", {"md5", NULL, NULL}, 1},
    {SCEP_DIGEST_SHA1, NID_sha1, "SHA-1", {"sha1", "sha", NULL}, 0},
    {SCEP_DIGEST_SHA256, NID_sha256, "SHA-256", {"sha256", NULL, NULL}, 0},
    {SCEP_DIGEST_SHA384, NID_sha384, "SHA-384", {"sha384", NULL, NULL}, 0},
    {SCEP_DIGEST_SHA512, NID_sha512, "SHA-512", {"sha512", NULL, NULL}, 0},
};

struct cipher_entry {
    scep_cipher cipher;
    int nid;
    const char *name;
    const char *aliases[4];
    int legacy;
};

static const struct cipher_entry ciphers[] = {
    {SCEP_CIPHER_DES, NID_des_cbc, "DES-CBC", {"des", NULL, NULL, NULL}, 1},
    {SCEP_CIPHER_DES3, NID_des_ede3_cbc, "DES-EDE3-CBC", {"des3", "3des", "tripledes", NULL}, 0},
    {SCEP_CIPHER_AES128, NID_aes_128_cbc, "AES-128-CBC", {"aes128", "aes", "aes-128", NULL}, 0},
    {SCEP_CIPHER_AES192, NID_aes_192_cbc, "AES-192-CBC", {"aes192", "aes-192", NULL, NULL}, 0},
    {SCEP_CIPHER_AES256, NID_aes_256_cbc, "AES-256-CBC", {"aes256", "aes-256", NULL, NULL}, 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static OSSL_PROVIDER *legacy_provider;

/* Runs inside OPENSSL_cleanup(), so the provider is gone before OpenSSL's own state. */
static void unload_legacy_provider(void)
{
    OSSL_PROVIDER_unload(legacy_provider);
    legacy_provider = NULL;
}

/* Single DES lives in OpenSSL 3's legacy provider; retain_fallbacks keeps the
 * implicitly loaded default provider. */
static void load_legacy_provider(void)
{
    legacy_provider = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
    if (legacy_provider != NULL)
        OPENSSL_atexit(unload_legacy_provider);
}

static int ensure_legacy_provider(void)
{
    pthread_once(&legacy_once, load_legacy_provider);
    if (legacy_provider == NULL)
        return scep_fail_ossl(SCEP_EBADALG, "single DES needs OpenSSL's legacy provider");
    return SCEP_OK;
}

size_t scep_options_max_size(const scep_message_options *options)
{
    if (options == NULL || options->max_size == 0)
        return SCEP_MESSAGE_MAX_DEFAULT;
    return options->max_size;
}

int scep_options_legacy(const scep_message_options *options)
{
    return options != NULL && (options->flags & SCEP_MSG_LEGACY) != 0;
}

static const struct digest_entry *digest_entry(scep_digest digest)
{
    for (size_t i = 0; i < COUNT(digests); i++)
        if (digests[i].digest == digest)
            return &digests[i];
    return NULL;
}

static const struct cipher_entry *cipher_entry(scep_cipher cipher)
{
    for (size_t i = 0; i < COUNT(ciphers); i++)
        if (ciphers[i].cipher == cipher)
            return &ciphers[i];
    return NULL;
}

const char *scep_digest_name(scep_digest digest)
{
    const struct digest_entry *e = digest_entry(digest);
    return e ? e->name : "unknown";
}

const char *scep_cipher_name(scep_cipher cipher)
{
    const struct cipher_entry *e = cipher_entry(cipher);
    return e ? e->name : "unknown";
}

const char *scep_message_type_name(scep_message_type type)
{
    switch (type) {
    case SCEP_MSG_CERTREP:
        return "CertRep";
    case SCEP_MSG_RENEWALREQ:
        return "RenewalReq";
    case SCEP_MSG_PKCSREQ:
        return "PKCSReq";
    case SCEP_MSG_CERTPOLL:
        return "CertPoll";
    case SCEP_MSG_GETCERT:
        return "GetCert";
    case SCEP_MSG_GETCRL:
        return "GetCRL";
    }
    return "unknown";
}

const char *scep_pki_status_name(scep_pki_status status)
{
    switch (status) {
    case SCEP_STATUS_SUCCESS:
        return "SUCCESS";
    case SCEP_STATUS_FAILURE:
        return "FAILURE";
    case SCEP_STATUS_PENDING:
        return "PENDING";
    }
    return "unknown";
}

int scep_digest_from_name(scep_digest *out, const char *name)
{
    if (out == NULL || name == NULL)
        return scep_fail(SCEP_EINVAL, "digest name missing");
    for (size_t i = 0; i < COUNT(digests); i++) {
        if (strcasecmp(name, digests[i].name) == 0) {
            *out = digests[i].digest;
            return SCEP_OK;
        }
        for (size_t j = 0; j < COUNT(digests[i].aliases) && digests[i].aliases[j]; j++) {
            if (strcasecmp(name, digests[i].aliases[j]) == 0) {
                *out = digests[i].digest;
                return SCEP_OK;
            }
        }
    }
    return scep_fail(SCEP_EBADALG, "unknown digest \"%s\" (md5, sha1, sha256, sha384, sha512)",
                     name);
}

int scep_cipher_from_name(scep_cipher *out, const char *name)
{
    if (out == NULL || name == NULL)
        return scep_fail(SCEP_EINVAL, "cipher name missing");
    for (size_t i = 0; i < COUNT(ciphers); i++) {
        if (strcasecmp(name, ciphers[i].name) == 0) {
            *out = ciphers[i].cipher;
            return SCEP_OK;
        }
        for (size_t j = 0; j < COUNT(ciphers[i].aliases) && ciphers[i].aliases[j]; j++) {
            if (strcasecmp(name, ciphers[i].aliases[j]) == 0) {
                *out = ciphers[i].cipher;
                return SCEP_OK;
            }
        }
    }
    return scep_fail(SCEP_EBADALG, "unknown cipher \"%s\" (des, des3, aes128, aes192, aes256)",
                     name);
}

int scep_digest_md(const EVP_MD **out, scep_digest digest, int legacy)
{
    const struct digest_entry *e = digest_entry(digest);
    if (e == NULL)
        return scep_fail(SCEP_EBADALG, "unknown digest %d", (int)digest);
    if (e->legacy && !legacy)
        return scep_fail(SCEP_EBADALG, "%s is only allowed with legacy algorithms enabled",
                         e->name);
    const EVP_MD *md = EVP_get_digestbynid(e->nid);
    if (md == NULL)
        return scep_fail_ossl(SCEP_EBADALG, "%s is not available", e->name);
    *out = md;
    return SCEP_OK;
}

int scep_digest_from_nid(scep_digest *out, int nid, int legacy)
{
    for (size_t i = 0; i < COUNT(digests); i++) {
        if (digests[i].nid != nid)
            continue;
        if (digests[i].legacy && !legacy)
            return scep_fail(SCEP_EBADALG, "%s digest refused (legacy algorithms are off)",
                             digests[i].name);
        *out = digests[i].digest;
        return SCEP_OK;
    }
    return scep_fail(SCEP_EBADALG, "unsupported digest algorithm %s",
                     nid == NID_undef ? "(unknown OID)" : OBJ_nid2sn(nid));
}

int scep_cipher_evp(const EVP_CIPHER **out, scep_cipher cipher, int legacy)
{
    int rc;
    const struct cipher_entry *e = cipher_entry(cipher);
    if (e == NULL)
        return scep_fail(SCEP_EBADALG, "unknown cipher %d", (int)cipher);
    if (e->legacy) {
        if (!legacy)
            return scep_fail(SCEP_EBADALG, "%s is only allowed with legacy algorithms enabled",
                             e->name);
        if ((rc = ensure_legacy_provider()) < 0)
            return rc;
    }
    const EVP_CIPHER *c = EVP_get_cipherbynid(e->nid);
    if (c == NULL)
        return scep_fail_ossl(SCEP_EBADALG, "%s is not available", e->name);
    *out = c;
    return SCEP_OK;
}

int scep_cipher_from_nid(scep_cipher *out, int nid, int legacy)
{
    int rc;
    for (size_t i = 0; i < COUNT(ciphers); i++) {
        if (ciphers[i].nid != nid)
            continue;
        if (ciphers[i].legacy) {
            if (!legacy)
                return scep_fail(SCEP_EBADALG,
                                 "%s content cipher refused (legacy algorithms are off)",
                                 ciphers[i].name);
            if ((rc = ensure_legacy_provider()) < 0)
                return rc;
        }
        *out = ciphers[i].cipher;
        return SCEP_OK;
    }
    return scep_fail(SCEP_EBADALG, "unsupported content cipher %s",
                     nid == NID_undef ? "(unknown OID)" : OBJ_nid2sn(nid));
}

int scep_bytes_dup(unsigned char **out, const unsigned char *data, size_t len)
{
    unsigned char *copy = OPENSSL_malloc(len ? len : 1);
    if (copy == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    *out = copy;
    return SCEP_OK;
}
