/*
 * The `message=` value of a GET PKIOperation (RFC 8894 §4.1): base64 that
 * clients escape in many wrong ways (interop.md §1). Percent-decoding is libcurl's,
 * base64 is OpenSSL's; the tolerance for what clients send is here.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <curl/curl.h>
#include <string.h>

int scep_base64_decode_lenient(unsigned char **out, size_t *out_len, const char *text,
                               size_t text_len, size_t max_size)
{
    int rc = SCEP_OK;
    char *unescaped = NULL;
    char *clean = NULL;
    unsigned char *bin = NULL;
    int unescaped_len = 0;

    ENSURE(out != NULL && out_len != NULL && text != NULL, SCEP_EINVAL, "missing argument");
    if (max_size == 0)
        max_size = SCEP_MESSAGE_MAX_DEFAULT;
    /* Base64 grows data by 4/3; anything longer than that (plus line breaks
     * and escapes, at most 3 characters per input byte) is refused unread. */
    ENSURE(text_len / 3 <= max_size + 4, SCEP_ETOOBIG, "message parameter is too long");
    ENSURE(text_len <= INT32_MAX, SCEP_ETOOBIG, "message parameter is too long");
    /* curl_easy_unescape takes a length of 0 as "use strlen()": text need not end in '\0'. */
    ENSURE(text_len > 0, SCEP_EMALFORMED, "empty message parameter");

    /* curl_easy_unescape leaves '+' alone (it is not form decoding). */
    unescaped = curl_easy_unescape(NULL, text, (int)text_len, &unescaped_len);
    ENSURE_ALLOC(unescaped);

    clean = OPENSSL_malloc((size_t)unescaped_len + 4);
    ENSURE_ALLOC(clean);
    size_t n = 0;
    size_t padding = 0;
    for (int i = 0; i < unescaped_len; i++) {
        char c = unescaped[i];
        if (c == '\r' || c == '\n' || c == '\t')
            continue;
        if (c == '=') {
            padding++;
            continue;
        }
        ENSURE(padding == 0, SCEP_EMALFORMED, "base64 data continues after '=' padding");
        if (c == ' ' || c == '-')
            c = '+'; /* '+' that went through form decoding, or base64url */
        else if (c == '_')
            c = '/';
        ENSURE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/',
               SCEP_EMALFORMED, "invalid character 0x%02x in base64 message", (unsigned char)c);
        clean[n++] = c;
    }
    ENSURE(padding <= 2, SCEP_EMALFORMED, "too much base64 padding");
    ENSURE(n > 0, SCEP_EMALFORMED, "empty message parameter");
    ENSURE(n % 4 != 1, SCEP_EMALFORMED, "truncated base64 message");
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        clean[n++] = '=';
    clean[n] = '\0';

    size_t decoded_max = n / 4 * 3;
    ENSURE(decoded_max - pad <= max_size, SCEP_ETOOBIG,
           "decoded message of %zu bytes exceeds the limit of %zu bytes", decoded_max - pad,
           max_size);
    bin = OPENSSL_malloc(decoded_max);
    ENSURE_ALLOC(bin);
    int decoded = EVP_DecodeBlock(bin, (const unsigned char *)clean, (int)n);
    ENSURE(decoded >= 0 && (size_t)decoded == decoded_max, SCEP_EMALFORMED,
           "message parameter is not valid base64");
    *out = bin;
    *out_len = decoded_max - pad;
    bin = NULL;

cleanup:
    OPENSSL_free(bin);
    OPENSSL_free(clean);
    curl_free(unescaped);
    return rc;
}

int scep_base64_encode(char **out, const unsigned char *data, size_t data_len)
{
    if (out == NULL || (data == NULL && data_len > 0))
        return scep_fail(SCEP_EINVAL, "missing argument");
    if (data_len > INT32_MAX / 2)
        return scep_fail(SCEP_ETOOBIG, "data too large to encode");
    size_t size = (data_len + 2) / 3 * 4 + 1;
    char *text = OPENSSL_malloc(size);
    if (text == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    EVP_EncodeBlock((unsigned char *)text, data, (int)data_len);
    *out = text;
    return SCEP_OK;
}
