/*
 * The state of a pending enrollment (RFC 8894 §3.3.3), kept as text so a
 * later process can poll: transactionID, CA identifier, IssuerAndSubject, the
 * signer certificate and the algorithms. It holds no key and no secret.
 */
#include "client/client_internal.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <string.h>

#define PENDING_MAGIC    "scep-pending-state 1"
#define PENDING_TEXT_MAX (64 * 1024)

void scep_pending_free(scep_pending *pending)
{
    if (pending == NULL)
        return;
    OPENSSL_free(pending->transaction_id);
    OPENSSL_free(pending->ca_identifier);
    X509_NAME_free(pending->issuer);
    X509_NAME_free(pending->subject);
    X509_free(pending->signer_cert);
    OPENSSL_free(pending);
}

const char *scep_pending_transaction_id(const scep_pending *pending)
{
    return pending ? pending->transaction_id : NULL;
}

int scep_pending_new(scep_pending **out, const char *transaction_id, const char *ca_identifier,
                     const X509_NAME *issuer, const X509_NAME *subject, X509 *signer_cert,
                     scep_digest digest, scep_cipher cipher)
{
    int rc = SCEP_OK;
    scep_pending *p = OPENSSL_zalloc(sizeof(*p));
    ENSURE_ALLOC(p);
    ENSURE(transaction_id != NULL && issuer != NULL && subject != NULL && signer_cert != NULL,
           SCEP_EINVAL, "incomplete pending state");
    p->transaction_id = OPENSSL_strdup(transaction_id);
    ENSURE_ALLOC(p->transaction_id);
    if (ca_identifier != NULL) {
        p->ca_identifier = OPENSSL_strdup(ca_identifier);
        ENSURE_ALLOC(p->ca_identifier);
    }
    p->issuer = X509_NAME_dup(issuer);
    ENSURE_ALLOC(p->issuer);
    p->subject = X509_NAME_dup(subject);
    ENSURE_ALLOC(p->subject);
    ENSURE_OSSL(X509_up_ref(signer_cert) == 1, SCEP_ECRYPTO, "certificate reference");
    p->signer_cert = signer_cert;
    p->digest = digest;
    p->cipher = cipher;
    *out = p;
    p = NULL;

cleanup:
    scep_pending_free(p);
    return rc;
}

/* Appends "key = value\n" to a growing buffer. */
struct text {
    char *buf;
    size_t len;
    size_t cap;
};

static int append(struct text *t, const char *key, const char *value)
{
    size_t need = strlen(key) + strlen(value) + 5;
    if (t->len + need > t->cap) {
        size_t cap = (t->len + need) * 2;
        char *p = OPENSSL_realloc(t->buf, cap);
        if (p == NULL)
            return scep_fail(SCEP_ENOMEM, "out of memory");
        t->buf = p;
        t->cap = cap;
    }
    int n = snprintf(t->buf + t->len, t->cap - t->len, "%s = %s\n", key, value);
    t->len += (size_t)n;
    return SCEP_OK;
}

static int append_b64(struct text *t, const char *key, const unsigned char *der, int der_len)
{
    int rc = SCEP_OK;
    char *b64 = NULL;
    ENSURE_OSSL(der_len > 0, SCEP_ECRYPTO, "cannot encode %s", key);
    GUARD(scep_base64_encode(&b64, der, (size_t)der_len));
    GUARD(append(t, key, b64));

cleanup:
    OPENSSL_free(b64);
    return rc;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

int scep_pending_save(char **out, const scep_pending *pending)
{
    int rc = SCEP_OK;
    struct text t = {0};
    unsigned char *der = NULL;
    int len;

    ENSURE(out != NULL && pending != NULL, SCEP_EINVAL, "output and pending state are required");
    ENSURE(printable(pending->transaction_id) &&
               (pending->ca_identifier == NULL || printable(pending->ca_identifier)),
           SCEP_EINVAL, "transactionID or CA identifier holds control characters");
    t.cap = 4096;
    t.buf = OPENSSL_malloc(t.cap);
    ENSURE_ALLOC(t.buf);
    t.buf[0] = '\0';
    GUARD(append(&t, "format", PENDING_MAGIC));
    GUARD(append(&t, "transaction_id", pending->transaction_id));
    if (pending->ca_identifier != NULL)
        GUARD(append(&t, "ca_identifier", pending->ca_identifier));
    GUARD(append(&t, "digest", scep_digest_name(pending->digest)));
    GUARD(append(&t, "cipher", scep_cipher_name(pending->cipher)));
    len = i2d_X509_NAME(pending->issuer, &der);
    GUARD(append_b64(&t, "issuer", der, len));
    OPENSSL_free(der);
    der = NULL;
    len = i2d_X509_NAME(pending->subject, &der);
    GUARD(append_b64(&t, "subject", der, len));
    OPENSSL_free(der);
    der = NULL;
    len = i2d_X509(pending->signer_cert, &der);
    GUARD(append_b64(&t, "signer_cert", der, len));
    *out = t.buf;
    t.buf = NULL;

cleanup:
    OPENSSL_free(der);
    OPENSSL_free(t.buf);
    return rc;
}

static int decode_b64(unsigned char **out, size_t *out_len, const char *value)
{
    return scep_base64_decode_lenient(out, out_len, value, strlen(value), PENDING_TEXT_MAX);
}

int scep_pending_load(scep_pending **out, const char *text, size_t len)
{
    int rc = SCEP_OK;
    scep_pending *p = NULL;
    char *copy = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    int have_format = 0;

    ENSURE(out != NULL && text != NULL, SCEP_EINVAL, "output and text are required");
    *out = NULL;
    ENSURE(len <= PENDING_TEXT_MAX, SCEP_ETOOBIG, "pending state larger than %d bytes",
           PENDING_TEXT_MAX);
    copy = OPENSSL_strndup(text, len);
    ENSURE_ALLOC(copy);
    p = OPENSSL_zalloc(sizeof(*p));
    ENSURE_ALLOC(p);

    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        if (l == 0 || line[0] == '#')
            continue;
        char *eq = strstr(line, " = ");
        ENSURE(eq != NULL, SCEP_EMALFORMED, "pending state line without \" = \"");
        *eq = '\0';
        const char *key = line;
        const char *value = eq + 3;
        if (strcmp(key, "format") == 0) {
            ENSURE(strcmp(value, PENDING_MAGIC) == 0, SCEP_EMALFORMED,
                   "unknown pending state format \"%s\"", value);
            have_format = 1;
        } else if (strcmp(key, "transaction_id") == 0) {
            ENSURE(p->transaction_id == NULL && strlen(value) <= SCEP_TRANSACTION_ID_MAX,
                   SCEP_EMALFORMED, "bad transaction_id");
            p->transaction_id = OPENSSL_strdup(value);
            ENSURE_ALLOC(p->transaction_id);
        } else if (strcmp(key, "ca_identifier") == 0) {
            ENSURE(p->ca_identifier == NULL, SCEP_EMALFORMED, "duplicate ca_identifier");
            p->ca_identifier = OPENSSL_strdup(value);
            ENSURE_ALLOC(p->ca_identifier);
        } else if (strcmp(key, "digest") == 0) {
            GUARD(scep_digest_from_name(&p->digest, value));
        } else if (strcmp(key, "cipher") == 0) {
            GUARD(scep_cipher_from_name(&p->cipher, value));
        } else if (strcmp(key, "issuer") == 0 || strcmp(key, "subject") == 0 ||
                   strcmp(key, "signer_cert") == 0) {
            GUARD(decode_b64(&der, &der_len, value));
            const unsigned char *q = der;
            if (key[1] == 'i') { /* signer_cert */
                ENSURE(p->signer_cert == NULL, SCEP_EMALFORMED, "duplicate signer_cert");
                p->signer_cert = d2i_X509(NULL, &q, (long)der_len);
                ENSURE_OSSL(p->signer_cert != NULL && q == der + der_len, SCEP_EMALFORMED,
                            "bad signer_cert");
            } else {
                X509_NAME **name = key[0] == 'i' ? &p->issuer : &p->subject;
                ENSURE(*name == NULL, SCEP_EMALFORMED, "duplicate %s", key);
                *name = d2i_X509_NAME(NULL, &q, (long)der_len);
                ENSURE_OSSL(*name != NULL && q == der + der_len, SCEP_EMALFORMED, "bad %s", key);
            }
            OPENSSL_free(der);
            der = NULL;
        }
        /* Unknown keys are ignored so later versions can add some. */
    }
    ENSURE(have_format, SCEP_EMALFORMED, "not a pending state (no format line)");
    ENSURE(p->transaction_id != NULL && p->issuer != NULL && p->subject != NULL &&
               p->signer_cert != NULL && p->digest != 0 && p->cipher != 0,
           SCEP_EMALFORMED, "pending state is incomplete");
    *out = p;
    p = NULL;

cleanup:
    OPENSSL_free(der);
    OPENSSL_free(copy);
    scep_pending_free(p);
    return rc;
}
