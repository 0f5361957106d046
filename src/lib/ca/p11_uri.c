/*
 * RFC 7512 `pkcs11:` URIs for key references: the attributes that pick a token
 * and a key, and where the PIN comes from. A PIN itself (pin-value) is refused:
 * the reference ends up in the store, in `scepctl ca show` and in logs.
 */
#include "ca/p11_internal.h"
#include "util/error_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void scep_p11_uri_clear(struct scep_p11_uri *uri)
{
    if (uri == NULL)
        return;
    OPENSSL_free(uri->token);
    OPENSSL_free(uri->serial);
    OPENSSL_free(uri->object);
    OPENSSL_free(uri->id);
    OPENSSL_free(uri->pin_file);
    OPENSSL_free(uri->module_path);
    memset(uri, 0, sizeof(*uri));
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 7512 §2.3: values are percent-encoded octets; `id` may hold any byte. */
static int pct_decode(unsigned char **out, size_t *out_len, const char *text, size_t len,
                      const char *name)
{
    int rc = SCEP_OK;
    unsigned char *buf = OPENSSL_malloc(len + 1);
    size_t used = 0;

    ENSURE_ALLOC(buf);
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '%') {
            buf[used++] = (unsigned char)text[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(text[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
        ENSURE(hi >= 0 && lo >= 0, SCEP_EINVAL, "pkcs11 URI: bad percent-encoding in %s", name);
        buf[used++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    buf = NULL;

cleanup:
    OPENSSL_free(buf);
    return rc;
}

static int text_value(char **out, const char *value, size_t len, const char *name)
{
    int rc = SCEP_OK;
    unsigned char *data = NULL;
    size_t data_len = 0;

    ENSURE(*out == NULL, SCEP_EINVAL, "pkcs11 URI: %s given twice", name);
    GUARD(pct_decode(&data, &data_len, value, len, name));
    ENSURE(memchr(data, '\0', data_len) == NULL && data_len > 0, SCEP_EINVAL,
           "pkcs11 URI: %s is empty or holds a NUL byte", name);
    *out = (char *)data;
    data = NULL;

cleanup:
    OPENSSL_free(data);
    return rc;
}

static int attribute(struct scep_p11_uri *uri, const char *attr, size_t len, int query)
{
    int rc = SCEP_OK;
    const char *eq = memchr(attr, '=', len);
    ENSURE(eq != NULL, SCEP_EINVAL, "pkcs11 URI: attribute \"%.*s\" has no value", (int)len, attr);
    const size_t name_len = (size_t)(eq - attr);
    const char *value = eq + 1;
    size_t value_len = len - name_len - 1;
#define IS(n) (name_len == sizeof(n) - 1 && memcmp(attr, n, name_len) == 0)
    if (!query && IS("token")) {
        GUARD(text_value(&uri->token, value, value_len, "token"));
    } else if (!query && IS("serial")) {
        GUARD(text_value(&uri->serial, value, value_len, "serial"));
    } else if (!query && IS("object")) {
        GUARD(text_value(&uri->object, value, value_len, "object"));
    } else if (!query && IS("id")) {
        ENSURE(uri->id == NULL, SCEP_EINVAL, "pkcs11 URI: id given twice");
        GUARD(pct_decode(&uri->id, &uri->id_len, value, value_len, "id"));
        ENSURE(uri->id_len > 0, SCEP_EINVAL, "pkcs11 URI: id is empty");
    } else if (!query && IS("type")) {
        ENSURE(value_len == 7 && memcmp(value, "private", 7) == 0, SCEP_EINVAL,
               "pkcs11 URI: type=%.*s: a key reference names a private key", (int)value_len, value);
    } else if (!query && (IS("manufacturer") || IS("model") || IS("library-description") ||
                          IS("library-manufacturer") || IS("library-version"))) {
        /* Informational; the token label or serial chooses the token. */
    } else if (query && IS("pin-source")) {
        ENSURE(uri->pin_file == NULL, SCEP_EINVAL, "pkcs11 URI: pin-source given twice");
        /* RFC 7512 §2.4: a URI reference; only a local file makes sense here. */
        if (value_len > 5 && memcmp(value, "file:", 5) == 0) {
            value += 5;
            value_len -= 5;
        }
        GUARD(text_value(&uri->pin_file, value, value_len, "pin-source"));
        ENSURE(uri->pin_file[0] == '/', SCEP_EINVAL,
               "pkcs11 URI: pin-source must name an absolute file path (file:/path)");
    } else if (query && IS("module-path")) {
        GUARD(text_value(&uri->module_path, value, value_len, "module-path"));
    } else if (query && IS("pin-value")) {
        ENSURE(0, SCEP_EINVAL,
               "pkcs11 URI: pin-value is refused: a PIN must not appear in a key reference; "
               "use pin-source=file:/path or pkcs11_pin_file");
    } else {
        ENSURE(0, SCEP_EINVAL, "pkcs11 URI: unsupported attribute \"%.*s\"", (int)name_len, attr);
    }
#undef IS

cleanup:
    return rc;
}

static int attributes(struct scep_p11_uri *uri, const char *text, size_t len, char sep, int query)
{
    int rc = SCEP_OK;
    size_t start = 0;
    while (start < len) {
        const char *end = memchr(text + start, sep, len - start);
        size_t piece = end != NULL ? (size_t)(end - (text + start)) : len - start;
        if (piece > 0)
            GUARD(attribute(uri, text + start, piece, query));
        start += piece + 1;
    }

cleanup:
    return rc;
}

int scep_p11_uri_parse(struct scep_p11_uri *out, const char *text)
{
    int rc = SCEP_OK;
    struct scep_p11_uri uri = {0};

    ENSURE(text != NULL && strncmp(text, SCEP_P11_URI_PREFIX, strlen(SCEP_P11_URI_PREFIX)) == 0,
           SCEP_EINVAL, "not a pkcs11: URI");
    ENSURE(strlen(text) <= SCEP_P11_URI_MAX, SCEP_ETOOBIG, "pkcs11 URI longer than %d bytes",
           SCEP_P11_URI_MAX);
    const char *path = text + strlen(SCEP_P11_URI_PREFIX);
    const char *query = strchr(path, '?');
    const size_t path_len = query != NULL ? (size_t)(query - path) : strlen(path);
    GUARD(attributes(&uri, path, path_len, ';', 0));
    if (query != NULL)
        GUARD(attributes(&uri, query + 1, strlen(query + 1), '&', 1));
    ENSURE(uri.object != NULL || uri.id != NULL, SCEP_EINVAL,
           "pkcs11 URI: name the key with object= (its label) or id=");
    *out = uri;
    memset(&uri, 0, sizeof(uri));

cleanup:
    scep_p11_uri_clear(&uri);
    return rc;
}
