#include "scepd/webhook.h"
#include "scepd/enroll_shared.h"
#include "scepd/log.h"
#include "util/error_internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEBHOOK_BODY_MAX      (8 * 1024) /* of the answer; the rest is ignored */
#define WEBHOOK_CHALLENGE_MAX 1024

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

static void buf_add(struct buf *b, const char *text, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *grown = malloc(cap);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        if (b->data != NULL) {
            memcpy(grown, b->data, b->len);
            OPENSSL_cleanse(b->data, b->cap); /* may hold the challenge */
            free(b->data);
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *text)
{
    buf_add(b, text, strlen(text));
}

static void buf_free(struct buf *b)
{
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    memset(b, 0, sizeof(*b));
}

/* A JSON string (or null): quotes, backslashes and control characters escaped. */
static void buf_json(struct buf *b, const char *text)
{
    if (text == NULL) {
        buf_str(b, "null");
        return;
    }
    buf_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        char escaped[8];
        if (*p == '"' || *p == '\\') {
            snprintf(escaped, sizeof(escaped), "\\%c", *p);
            buf_str(b, escaped);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(escaped, sizeof(escaped), "\\u%04x", *p);
            buf_str(b, escaped);
        } else {
            buf_add(b, (const char *)p, 1);
        }
    }
    buf_str(b, "\"");
}

static void buf_key(struct buf *b, const char *key, int first)
{
    if (!first)
        buf_str(b, ",");
    buf_json(b, key);
    buf_str(b, ":");
}

/* The CSR's subjectAltNames as "DNS:x", "email:x", "URI:x", "IP:x" strings. */
static void add_sans(struct buf *b, X509_REQ *csr)
{
    buf_str(b, "[");
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *names = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    int first = 1;
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        char text[300];
        const ASN1_STRING *value = NULL;
        const char *prefix = NULL;
        text[0] = '\0';
        if (name->type == GEN_DNS) {
            prefix = "DNS:";
            value = name->d.dNSName;
        } else if (name->type == GEN_EMAIL) {
            prefix = "email:";
            value = name->d.rfc822Name;
        } else if (name->type == GEN_URI) {
            prefix = "URI:";
            value = name->d.uniformResourceIdentifier;
        } else if (name->type == GEN_IPADD) {
            char ip[INET6_ADDRSTRLEN];
            int len = ASN1_STRING_length(name->d.iPAddress);
            const unsigned char *data = ASN1_STRING_get0_data(name->d.iPAddress);
            if ((len == 4 || len == 16) &&
                inet_ntop(len == 4 ? AF_INET : AF_INET6, data, ip, sizeof(ip)) != NULL)
                snprintf(text, sizeof(text), "IP:%s", ip);
        }
        if (value != NULL) {
            int len = ASN1_STRING_length(value);
            if (len < 0 || (size_t)len > sizeof(text) - 8 ||
                memchr(ASN1_STRING_get0_data(value), '\0', (size_t)len) != NULL)
                continue;
            snprintf(text, sizeof(text), "%s%.*s", prefix, len,
                     (const char *)ASN1_STRING_get0_data(value));
        }
        if (text[0] == '\0')
            continue;
        if (!first)
            buf_str(b, ",");
        buf_json(b, text);
        first = 0;
    }
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    buf_str(b, "]");
}

static const char *key_type(const EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_EC:
        return "EC";
    case EVP_PKEY_ED25519:
        return "Ed25519";
    case EVP_PKEY_ED448:
        return "Ed448";
    default:
        return "other";
    }
}

static int build_body(struct buf *b, const struct scepd_op *op, const scep_pkimessage *msg,
                      X509_REQ *csr)
{
    char *subject = NULL;
    char challenge[WEBHOOK_CHALLENGE_MAX];
    char number[32];
    int have_challenge = scepd_enroll_challenge_password(challenge, sizeof(challenge), csr) == 0;
    if (scep_dn_format(&subject, X509_REQ_get_subject_name(csr)) < 0)
        subject = NULL;
    EVP_PKEY *key = X509_REQ_get0_pubkey(csr);

    buf_str(b, "{");
    buf_key(b, "alias", 1);
    buf_json(b, op->alias->name);
    buf_key(b, "transactionID", 0);
    buf_json(b, scep_pkimessage_transaction_id(msg));
    buf_key(b, "messageType", 0);
    buf_json(b, scep_message_type_name(scep_pkimessage_type(msg)));
    buf_key(b, "subject", 0);
    buf_json(b, subject);
    buf_key(b, "subjectAltNames", 0);
    add_sans(b, csr);
    buf_key(b, "keyType", 0);
    buf_json(b, key != NULL ? key_type(key) : NULL);
    buf_key(b, "keyBits", 0);
    snprintf(number, sizeof(number), "%d", key != NULL ? EVP_PKEY_get_bits(key) : 0);
    buf_str(b, number);
    buf_key(b, "challengePassword", 0);
    buf_json(b, have_challenge ? challenge : NULL);
    buf_key(b, "clientAddress", 0);
    buf_json(b, op->http->client_addr);
    buf_str(b, "}");

    OPENSSL_cleanse(challenge, sizeof(challenge));
    OPENSSL_free(subject);
    return b->failed ? -1 : 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The "reason" string, printable ASCII, no escapes followed (stops at a backslash). */
static void find_reason(char reason[SCEPD_WEBHOOK_REASON_MAX + 1], const char *body, size_t len)
{
    static const char key[] = "\"reason\"";
    reason[0] = '\0';
    for (size_t i = 0; i + sizeof(key) - 1 <= len; i++) {
        if (memcmp(body + i, key, sizeof(key) - 1) != 0)
            continue;
        size_t p = i + sizeof(key) - 1;
        while (p < len && is_space(body[p]))
            p++;
        if (p >= len || body[p] != ':')
            continue;
        p++;
        while (p < len && is_space(body[p]))
            p++;
        if (p >= len || body[p] != '"')
            continue;
        p++;
        size_t n = 0;
        for (; p < len && body[p] != '"' && body[p] != '\\' && n < SCEPD_WEBHOOK_REASON_MAX; p++) {
            unsigned char c = (unsigned char)body[p];
            reason[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        reason[n] = '\0';
        return;
    }
}

int scepd_webhook_verdict(long status, const char *body, size_t body_len,
                          char reason[SCEPD_WEBHOOK_REASON_MAX + 1])
{
    if (reason != NULL)
        find_reason(reason, body, body_len);
    if (status != 200)
        return 0;
    static const char key[] = "\"allow\":";
    char *compact = malloc(body_len + 1);
    if (compact == NULL)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < body_len; i++)
        if (!is_space(body[i]))
            compact[n++] = body[i];
    compact[n] = '\0';
    int allow = 0, keys = 0;
    for (const char *p = strstr(compact, key); p != NULL; p = strstr(p + 1, key)) {
        keys++;
        const char *value = p + sizeof(key) - 1;
        allow = strncmp(value, "true", 4) == 0 && (value[4] == ',' || value[4] == '}');
    }
    free(compact);
    return keys == 1 && allow;
}

static size_t on_answer(char *data, size_t size, size_t n, void *user)
{
    struct buf *answer = user;
    size_t len = size * n;
    if (answer->len < WEBHOOK_BODY_MAX) {
        size_t take = len < WEBHOOK_BODY_MAX - answer->len ? len : WEBHOOK_BODY_MAX - answer->len;
        buf_add(answer, data, take);
    }
    return len;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One POST; CURLE_OK with `*status` and `answer` filled, or curl's error. */
static CURLcode post(long *status, struct buf *answer, const struct scep_config_alias_settings *s,
                     const struct buf *body, struct curl_slist *headers)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return CURLE_OUT_OF_MEMORY;
    curl_easy_setopt(curl, CURLOPT_URL, s->webhook_url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(s->webhook_timeout * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* the receiver is reached directly */
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(curl);
    return rc;
}

/* The headers: JSON, the timestamp and HMAC-SHA256(secret, TIMESTAMP "." BODY) in hex. */
static struct curl_slist *signed_headers(const char *secret, const struct buf *body)
{
    char line[128];
    char stamp[32];
    snprintf(stamp, sizeof(stamp), "%lld", (long long)time(NULL));
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(line, sizeof(line), "X-SCEP-Timestamp: %s", stamp);
    headers = headers ? curl_slist_append(headers, line) : NULL;
    headers = headers ? curl_slist_append(headers, "Expect:") : NULL;
    if (headers == NULL || secret == NULL)
        return headers;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    struct buf signed_text = {0};
    buf_str(&signed_text, stamp);
    buf_str(&signed_text, ".");
    buf_add(&signed_text, body->data, body->len);
    if (signed_text.failed ||
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_text.data,
             signed_text.len, mac, &mac_len) == NULL) {
        buf_free(&signed_text);
        curl_slist_free_all(headers);
        return NULL;
    }
    buf_free(&signed_text);
    int n = snprintf(line, sizeof(line), "X-SCEP-Signature: sha256=");
    for (unsigned i = 0; i < mac_len && (size_t)n + 3 < sizeof(line); i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", mac[i]);
    return curl_slist_append(headers, line);
}

int scepd_webhook_deny(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                       int64_t request_id)
{
    const struct scep_config_alias_settings *s = op->alias->settings;
    if (s->webhook_url == NULL || s->webhook_url[0] == '\0')
        return 0;
    struct buf body = {0}, answer = {0};
    struct curl_slist *headers = NULL;
    char reason[SCEPD_WEBHOOK_REASON_MAX + 1] = "";
    char text[SCEPD_WEBHOOK_REASON_MAX + 96];
    char logged[SCEPD_WEBHOOK_REASON_MAX + 96];
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    int denied = 1;

    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK || build_body(&body, op, msg, scep_pkimessage_csr(msg)) < 0 ||
        (headers = signed_headers(s->webhook_secret, &body)) == NULL) {
        scepd_enroll_refuse(op, msg, store, request_id, SCEP_FAIL_BAD_REQUEST,
                            "the authorisation service cannot be asked", "webhook: out of memory");
        goto done;
    }
    for (long long attempt = 0; attempt <= s->webhook_retries; attempt++) {
        buf_free(&answer);
        rc = post(&status, &answer, s, &body, headers);
        if (rc == CURLE_OK)
            break;
        scepd_log(SCEPD_LOG_WARN, "event=webhook_error alias=%s attempt=%lld detail=\"%s\"",
                  op->alias->name, attempt + 1, curl_easy_strerror(rc));
    }
    if (rc != CURLE_OK) {
        if (s->webhook_failopen) {
            scepd_log(SCEPD_LOG_WARN,
                      "event=webhook_failopen alias=%s detail=\"receiver unreachable, issuing "
                      "(webhook.failopen)\"",
                      op->alias->name);
            denied = 0;
            goto done;
        }
        snprintf(logged, sizeof(logged), "webhook unreachable: %s", curl_easy_strerror(rc));
        scepd_enroll_refuse(op, msg, store, request_id, SCEP_FAIL_BAD_REQUEST,
                            "enrollment refused: the authorisation service is unavailable", logged);
        goto done;
    }
    if (scepd_webhook_verdict(status, answer.data ? answer.data : "", answer.len, reason)) {
        denied = 0;
        goto done;
    }
    snprintf(text, sizeof(text), "enrollment refused by the authorisation service%s%s",
             reason[0] ? ": " : "", reason);
    snprintf(logged, sizeof(logged), "webhook denied (HTTP %ld)%s%s", status, reason[0] ? ": " : "",
             reason);
    scepd_enroll_refuse(op, msg, store, request_id, SCEP_FAIL_BAD_REQUEST, text, logged);

done:
    curl_slist_free_all(headers);
    buf_free(&body);
    buf_free(&answer);
    return denied;
}
