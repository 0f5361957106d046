#include "scepd/enroll/webhook.h"
#include "scepd/log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEBHOOK_BODY_MAX (8 * 1024) /* of the answer; a longer one is denied */

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

static void buf_add(struct buf *b, const char *text, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (len > SIZE_MAX / 4 - b->len) {
        b->failed = 1;
        return;
    }
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

/*
 * `prefix` then `len` bytes, as a JSON string, \xHH for each byte that is not
 * printable ASCII, and for the backslash so that the escapes stay unambiguous.
 */
static json_t *json_escaped(const char *prefix, const unsigned char *data, size_t len)
{
    struct buf text = {0};
    buf_str(&text, prefix);
    for (size_t i = 0; i < len; i++) {
        char hex[8];
        if (data[i] < 0x20 || data[i] >= 0x7f || data[i] == '\\') {
            snprintf(hex, sizeof(hex), "\\x%02x", data[i]);
            buf_str(&text, hex);
        } else {
            buf_add(&text, (const char *)data + i, 1);
        }
    }
    json_t *value = text.failed ? NULL : json_stringn(text.data ? text.data : "", text.len);
    buf_free(&text);
    return value;
}

/*
 * `prefix` then `len` bytes, as a JSON string. The receiver decides on what it
 * is shown, so a value that JSON cannot carry as it is (a NUL, invalid UTF-8) is
 * written escaped rather than left out. NULL when out of memory.
 */
static json_t *json_bytes(const char *prefix, const unsigned char *data, size_t len)
{
    if (len > 0 && memchr(data, '\0', len) != NULL)
        return json_escaped(prefix, data, len);
    struct buf text = {0};
    buf_str(&text, prefix);
    buf_add(&text, (const char *)data, len);
    int failed = text.failed;
    json_t *value = failed ? NULL : json_stringn(text.data ? text.data : "", text.len);
    buf_free(&text);
    if (value == NULL && !failed) /* jansson refuses invalid UTF-8 */
        value = json_escaped(prefix, data, len);
    return value;
}

/* A C string or JSON null. */
static json_t *json_text(const char *text)
{
    return text == NULL ? json_null() : json_bytes("", (const unsigned char *)text, strlen(text));
}

static json_t *json_asn1(const char *prefix, const ASN1_STRING *value)
{
    int len = ASN1_STRING_length(value);
    return json_bytes(prefix, ASN1_STRING_get0_data(value), len > 0 ? (size_t)len : 0);
}

/* `prefix` then the OID in dotted form. */
static json_t *json_oid(const char *prefix, const ASN1_OBJECT *oid)
{
    char small[128];
    int len = OBJ_obj2txt(small, sizeof(small), oid, 1);
    if (len < 0)
        return NULL;
    if ((size_t)len < sizeof(small))
        return json_bytes(prefix, (const unsigned char *)small, (size_t)len);
    char *large = malloc((size_t)len + 1);
    if (large == NULL)
        return NULL;
    json_t *value = NULL;
    if (OBJ_obj2txt(large, len + 1, oid, 1) == len)
        value = json_bytes(prefix, (const unsigned char *)large, (size_t)len);
    free(large);
    return value;
}

/* `prefix` then the name's DER in lower-case hex: for the types without a text form. */
static json_t *json_der(const char *prefix, const GENERAL_NAME *name)
{
    unsigned char *der = NULL;
    int len = i2d_GENERAL_NAME(name, &der);
    if (len <= 0)
        return NULL;
    struct buf text = {0};
    buf_str(&text, prefix);
    for (int i = 0; i < len; i++) {
        char hex[4];
        snprintf(hex, sizeof(hex), "%02x", der[i]);
        buf_str(&text, hex);
    }
    OPENSSL_free(der);
    json_t *value = text.failed ? NULL : json_stringn(text.data, text.len);
    buf_free(&text);
    return value;
}

static json_t *json_ip(const ASN1_OCTET_STRING *address)
{
    char text[3 + INET6_ADDRSTRLEN] = "ip:";
    int len = ASN1_STRING_length(address);
    const unsigned char *data = ASN1_STRING_get0_data(address);
    if ((len == 4 || len == 16) &&
        inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text + 3, sizeof(text) - 3) != NULL)
        return json_string(text);
    return json_escaped("ip:", data, len > 0 ? (size_t)len : 0); /* not an address */
}

static json_t *json_othername(const OTHERNAME *other)
{
    /* Microsoft's user principal name, what Intune and AD-joined devices put in. */
    if (OBJ_obj2nid(other->type_id) == NID_ms_upn && other->value != NULL &&
        other->value->type == V_ASN1_UTF8STRING)
        return json_asn1("upn:", other->value->value.utf8string);
    return json_oid("othername:", other->type_id);
}

static json_t *json_dirname(const X509_NAME *name)
{
    char *text = NULL;
    if (scep_dn_format(&text, name) < 0)
        return NULL;
    json_t *value = json_bytes("dirname:", (const unsigned char *)text, strlen(text));
    OPENSSL_free(text);
    return value;
}

/* One subjectAltName as "type:value"; every type has a form, none is left out. */
static json_t *json_san(const GENERAL_NAME *name)
{
    switch (name->type) {
    case GEN_DNS:
        return json_asn1("dns:", name->d.dNSName);
    case GEN_EMAIL:
        return json_asn1("email:", name->d.rfc822Name);
    case GEN_URI:
        return json_asn1("uri:", name->d.uniformResourceIdentifier);
    case GEN_IPADD:
        return json_ip(name->d.iPAddress);
    case GEN_OTHERNAME:
        return json_othername(name->d.otherName);
    case GEN_DIRNAME:
        return json_dirname(name->d.directoryName);
    case GEN_RID:
        return json_oid("rid:", name->d.registeredID);
    case GEN_X400:
        return json_der("x400address:", name);
    case GEN_EDIPARTY:
        return json_der("edipartyname:", name);
    default:
        return json_der("unknown:", name);
    }
}

static json_t *json_sans(const GENERAL_NAMES *sans)
{
    json_t *array = json_array();
    for (int i = 0; array != NULL && sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        if (json_array_append_new(array, json_san(sk_GENERAL_NAME_value(sans, i))) < 0) {
            json_decref(array);
            array = NULL;
        }
    }
    return array;
}

static json_t *json_subject(const X509_NAME *subject)
{
    char *text = NULL;
    if (subject == NULL)
        return json_null();
    if (scep_dn_format(&text, subject) < 0)
        return NULL;
    json_t *value = json_text(text);
    OPENSSL_free(text);
    return value;
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

/* The compact JSON body into `out` (wiped when freed: it holds the challenge). */
static int build_body(struct buf *out, const struct scepd_webhook_query *q)
{
    const EVP_PKEY *key = q->key;
    json_t *root = json_object();
    /* Each _new call takes its value, NULL included, so one failure fails the sum. */
    int failed = root == NULL;
    failed |= json_object_set_new(root, "alias", json_text(q->alias));
    failed |= json_object_set_new(root, "transactionID", json_text(q->transaction_id));
    failed |= json_object_set_new(root, "messageType", json_text(q->message_type));
    failed |= json_object_set_new(root, "mode", json_text(q->mode));
    failed |= json_object_set_new(root, "username", json_text(q->username));
    failed |= json_object_set_new(root, "subject", json_subject(q->subject));
    failed |= json_object_set_new(root, "subjectAltNames", json_sans(q->sans));
    failed |= json_object_set_new(root, "keyType",
                                  key != NULL ? json_string(key_type(key)) : json_null());
    failed |= json_object_set_new(root, "keyBits",
                                  key != NULL ? json_integer(EVP_PKEY_get_bits(key)) : json_null());
    failed |= json_object_set_new(root, "challengePassword", json_text(q->challenge_password));
    failed |= json_object_set_new(root, "clientAddress", json_text(q->client_addr));
    if (!failed) {
        size_t len = json_dumpb(root, NULL, 0, JSON_COMPACT);
        out->data = len > 0 ? malloc(len + 1) : NULL;
        if (out->data != NULL) {
            out->cap = len + 1;
            out->len = json_dumpb(root, out->data, len, JSON_COMPACT);
            out->data[len] = '\0';
        }
        failed = out->data == NULL || out->len != len;
    }
    json_decref(root);
    return failed ? -1 : 0;
}

/* The service's reason as printable ASCII: '?' for each other character, not byte. */
static void copy_reason(char *reason, size_t reason_size, const json_t *value)
{
    const unsigned char *text = (const unsigned char *)json_string_value(value);
    size_t len = json_string_length(value);
    size_t max =
        reason_size - 1 < SCEPD_WEBHOOK_REASON_MAX ? reason_size - 1 : SCEPD_WEBHOOK_REASON_MAX;
    size_t n = 0;
    for (size_t i = 0; i < len && n < max; i++) {
        if (text[i] >= 0x20 && text[i] < 0x7f)
            reason[n++] = (char)text[i];
        else if ((text[i] & 0xc0) != 0x80) /* UTF-8 continuation bytes add no '?' */
            reason[n++] = '?';
    }
    reason[n] = '\0';
}

enum scepd_webhook_verdict scepd_webhook_answer_verdict(long status, const char *body,
                                                        size_t body_len, char *reason,
                                                        size_t reason_size)
{
    if (reason != NULL && reason_size > 0)
        reason[0] = '\0';
    if (body == NULL || body_len == 0 || body_len > WEBHOOK_BODY_MAX)
        return SCEPD_WEBHOOK_DENY;
    scepd_jansson_init();
    /* Strict JSON: one value and nothing after it; a key twice is no answer at all. */
    json_error_t error;
    json_t *answer = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &error);
    enum scepd_webhook_verdict verdict = SCEPD_WEBHOOK_DENY;
    if (json_is_object(answer)) {
        const json_t *why = json_object_get(answer, "reason");
        if (json_is_string(why) && reason != NULL && reason_size > 0)
            copy_reason(reason, reason_size, why);
        if (status == 200 && json_is_true(json_object_get(answer, "allow")))
            verdict = SCEPD_WEBHOOK_ALLOW;
    }
    json_decref(answer);
    return verdict;
}

struct answer {
    struct buf body;
    size_t received; /* all of it, kept or not */
};

static size_t on_answer(char *data, size_t size, size_t n, void *user)
{
    struct answer *answer = user;
    size_t len = size * n;
    if (answer->received <= WEBHOOK_BODY_MAX) {
        size_t room = WEBHOOK_BODY_MAX + 1 - answer->received;
        buf_add(&answer->body, data, len < room ? len : room);
    }
    answer->received += len < SIZE_MAX - answer->received ? len : SIZE_MAX - answer->received;
    return len;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One POST; CURLE_OK with `*status` and `answer` filled, or curl's error. */
static CURLcode post(long *status, struct answer *answer,
                     const struct scep_config_alias_settings *s, const struct buf *body,
                     struct curl_slist *headers)
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

static void set_reason(char *reason, size_t reason_size, const char *text)
{
    if (reason != NULL && reason_size > 0)
        snprintf(reason, reason_size, "%s", text);
}

enum scepd_webhook_verdict scepd_webhook_ask(const struct scep_config_alias_settings *settings,
                                             const struct scepd_webhook_query *query, char *reason,
                                             size_t reason_size)
{
    const struct scep_config_alias_settings *s = settings;
    set_reason(reason, reason_size, "");
    if (s->webhook_url == NULL || s->webhook_url[0] == '\0')
        return SCEPD_WEBHOOK_ALLOW;
    const char *alias = query->alias != NULL ? query->alias : "";
    struct buf body = {0};
    struct answer answer = {0};
    struct curl_slist *headers = NULL;
    enum scepd_webhook_verdict verdict = SCEPD_WEBHOOK_UNAVAILABLE;
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;

    scepd_jansson_init();
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK || build_body(&body, query) < 0 ||
        (headers = signed_headers(s->webhook_secret, &body)) == NULL) {
        set_reason(reason, reason_size, "the request cannot be built (out of memory)");
        goto done;
    }
    for (long long attempt = 0; attempt <= s->webhook_retries; attempt++) {
        buf_free(&answer.body);
        answer.received = 0;
        rc = post(&status, &answer, s, &body, headers);
        if (rc == CURLE_OK)
            break;
        scepd_log(SCEPD_LOG_WARN, "event=webhook_error alias=%s attempt=%lld detail=\"%s\"", alias,
                  attempt + 1, curl_easy_strerror(rc));
    }
    if (rc != CURLE_OK) {
        set_reason(reason, reason_size, curl_easy_strerror(rc));
        if (s->webhook_failopen) {
            scepd_log(SCEPD_LOG_WARN,
                      "event=webhook_failopen alias=%s detail=\"receiver unreachable, issuing "
                      "(webhook.failopen)\"",
                      alias);
            verdict = SCEPD_WEBHOOK_ALLOW;
        }
        goto done;
    }
    if (answer.body.failed) {
        set_reason(reason, reason_size, "the answer cannot be kept (out of memory)");
        goto done;
    }
    verdict = scepd_webhook_answer_verdict(status, answer.body.data, answer.body.len, reason,
                                           reason_size);
    if (verdict != SCEPD_WEBHOOK_ALLOW) {
        char transaction_id[2 * SCEP_TRANSACTION_ID_MAX + 8];
        scepd_log_value(transaction_id, sizeof(transaction_id), query->transaction_id);
        /* The status stays here: the caller's refusal knows only the verdict and reason. */
        scepd_log(SCEPD_LOG_INFO, "event=webhook_denied alias=%s transaction_id=%s status=%ld%s",
                  alias, transaction_id, status,
                  answer.received > WEBHOOK_BODY_MAX ? " detail=\"answer longer than 8 KiB\"" : "");
    }

done:
    curl_slist_free_all(headers);
    buf_free(&body);
    buf_free(&answer.body);
    return verdict;
}
