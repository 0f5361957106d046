/*
 * GetCACaps keywords (RFC 8894 §3.5.2) and the client's algorithm choice.
 */
#include "scep/caps.h"
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <string.h>
#include <strings.h>

#define CAPS_TEXT_MAX (64 * 1024)

/* Exact RFC spelling; the order is the order they are written in. */
static const struct {
    scep_caps bit;
    const char *keyword;
} keywords[] = {
    {SCEP_CAP_AES, "AES"},
    {SCEP_CAP_DES3, "DES3"},
    {SCEP_CAP_GET_NEXT_CA_CERT, "GetNextCACert"},
    {SCEP_CAP_POST_PKI_OPERATION, "POSTPKIOperation"},
    {SCEP_CAP_RENEWAL, "Renewal"},
    {SCEP_CAP_SHA1, "SHA-1"},
    {SCEP_CAP_SHA256, "SHA-256"},
    {SCEP_CAP_SHA384, "SHA-384"},
    {SCEP_CAP_SHA512, "SHA-512"},
    {SCEP_CAP_SCEP_STANDARD, "SCEPStandard"},
    {SCEP_CAP_UPDATE, "Update"},
};

#define KEYWORD_COUNT (sizeof(keywords) / sizeof(keywords[0]))

static int is_separator(char c)
{
    return c == '\n' || c == '\r' || c == ' ' || c == '\t' || c == ',' || c == '\0';
}

int scep_caps_parse(scep_caps *out, const char *text, size_t len)
{
    if (out == NULL || (text == NULL && len > 0))
        return scep_fail(SCEP_EINVAL, "capabilities text missing");
    if (len > CAPS_TEXT_MAX)
        return scep_fail(SCEP_ETOOBIG, "GetCACaps reply of %zu bytes is too long", len);
    scep_caps caps = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_separator(text[i]))
            i++;
        size_t start = i;
        while (i < len && !is_separator(text[i]))
            i++;
        size_t word_len = i - start;
        if (word_len == 0)
            continue;
        /* RFC 8894 §3.5.2: clients SHOULD ignore case and MUST ignore unknown words. */
        for (size_t k = 0; k < KEYWORD_COUNT; k++) {
            if (strlen(keywords[k].keyword) == word_len &&
                strncasecmp(keywords[k].keyword, text + start, word_len) == 0)
                caps |= keywords[k].bit;
        }
    }
    *out = caps;
    return SCEP_OK;
}

int scep_caps_format(char **out, size_t *out_len, scep_caps caps)
{
    if (out == NULL)
        return scep_fail(SCEP_EINVAL, "output pointer missing");
    size_t total = 0;
    for (size_t k = 0; k < KEYWORD_COUNT; k++)
        if (caps & keywords[k].bit)
            total += strlen(keywords[k].keyword) + 1;
    char *text = OPENSSL_malloc(total + 1);
    if (text == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    size_t used = 0;
    for (size_t k = 0; k < KEYWORD_COUNT; k++) {
        if (!(caps & keywords[k].bit))
            continue;
        size_t n = strlen(keywords[k].keyword);
        memcpy(text + used, keywords[k].keyword, n);
        used += n;
        text[used++] = '\n';
    }
    text[used] = '\0';
    *out = text;
    if (out_len != NULL)
        *out_len = used;
    return SCEP_OK;
}

scep_caps scep_caps_effective(scep_caps caps)
{
    /* RFC 8894 §3.5.2: SCEPStandard implies AES, POSTPKIOperation and SHA-256. */
    if (caps & SCEP_CAP_SCEP_STANDARD)
        caps |= SCEP_CAP_AES | SCEP_CAP_POST_PKI_OPERATION | SCEP_CAP_SHA256;
    if (caps & (SCEP_CAP_UPDATE | SCEP_CAP_RENEWAL))
        caps |= SCEP_CAP_UPDATE | SCEP_CAP_RENEWAL;
    return caps;
}

int scep_caps_choose_digest(scep_digest *out, scep_caps caps, int allow_legacy)
{
    if (out == NULL)
        return scep_fail(SCEP_EINVAL, "output pointer missing");
    caps = scep_caps_effective(caps);
    if (caps & SCEP_CAP_SHA512)
        *out = SCEP_DIGEST_SHA512;
    else if (caps & SCEP_CAP_SHA384)
        *out = SCEP_DIGEST_SHA384;
    else if (caps & SCEP_CAP_SHA256)
        *out = SCEP_DIGEST_SHA256;
    else if (caps & SCEP_CAP_SHA1)
        *out = SCEP_DIGEST_SHA1;
    else if (allow_legacy)
        *out = SCEP_DIGEST_MD5;
    else
        return scep_fail(SCEP_EBADALG,
                         "the server advertises no SHA digest; MD5 needs legacy algorithms");
    return SCEP_OK;
}

int scep_caps_choose_cipher(scep_cipher *out, scep_caps caps, int allow_legacy, int prefer_aes128)
{
    if (out == NULL)
        return scep_fail(SCEP_EINVAL, "output pointer missing");
    caps = scep_caps_effective(caps);
    if (caps & SCEP_CAP_AES)
        *out = prefer_aes128 ? SCEP_CIPHER_AES128 : SCEP_CIPHER_AES256;
    else if (caps & SCEP_CAP_DES3)
        *out = SCEP_CIPHER_DES3;
    else if (allow_legacy)
        *out = SCEP_CIPHER_DES;
    else
        return scep_fail(SCEP_EBADALG,
                         "the server advertises neither AES nor DES3; DES needs legacy algorithms");
    return SCEP_OK;
}
