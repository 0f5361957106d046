#include "scepd/front/api.h"
#include "scepd/enroll/webhook.h"
#include "scepd/log.h"
#include "scepd/ops/ops.h"
#include "crl/revoke.h"
#include "issuance/end_entity.h"
#include "issuance/issuance.h"
#include "scep/ca.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define API_SEGMENTS_MAX  4
#define API_SEGMENT_MAX   (SCEP_EE_USERNAME_MAX + 1) /* a path segment holds any username */
#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX     1000
/* As GET /admin/challenge: a challenge lives 1 s to 30 days; its subject pattern 1024. */
#define API_CHALLENGE_TTL_MAX (30LL * SCEP_CONFIG_DAY)
#define API_PATTERN_MAX       1024
/* Certificates read per page when filtering by subject or serial, and the pages at most. */
#define API_CERT_PAGE      500
#define API_CERT_PAGES_MAX 40

/* One request's routing: the path below SCEPD_API_PREFIX split at '/'. */
struct api_call {
    struct scepd_server *server;
    const struct scepd_generation *generation;
    const struct scepd_http_request *request;
    struct scepd_http_response *response;
    const char *actor;
    char segments[API_SEGMENTS_MAX][API_SEGMENT_MAX];
    size_t segment_count;
};

typedef void (*api_handler)(struct api_call *call);

/* A route: its method and its segments, "*" matching any one (an ID, a name). */
struct api_route {
    const char *method;
    const char *pattern[API_SEGMENTS_MAX];
    api_handler handler;
};

/*
 * The body is written into a malloc'd buffer of our own: the HTTP layer frees it with
 * free(), and json_dumps would allocate through jansson's wiping allocator instead.
 */
static void reply_json(struct scepd_http_response *response, unsigned status, json_t *body)
{
    size_t len = body != NULL ? json_dumpb(body, NULL, 0, JSON_COMPACT) : 0;
    char *text = len > 0 ? malloc(len) : NULL;
    if (text != NULL && json_dumpb(body, text, len, JSON_COMPACT) != len) {
        free(text);
        text = NULL;
    }
    json_decref(body);
    if (text == NULL) {
        response->status = 500;
        return;
    }
    response->status = status;
    response->content_type = "application/json";
    response->body = (unsigned char *)text;
    response->body_len = len;
}

void scepd_api_error(struct scepd_http_response *response, unsigned status, const char *code,
                     const char *message)
{
    scepd_jansson_init();
    reply_json(response, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}

static void format_time(char out[32], int64_t when)
{
    time_t t = (time_t)when;
    struct tm tm;
    if (when <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%s", "");
}

/* Adds `value` under `key` unless it is NULL (absent fields are left out, not null). */
static void set_string(json_t *object, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(object, key, json_string(value));
}

static void set_time(json_t *object, const char *key, int64_t when)
{
    char text[32];
    format_time(text, when);
    if (text[0] != '\0')
        json_object_set_new(object, key, json_string(text));
}

/*
 * The store, or an answer already given: 503 with Retry-After when it cannot be
 * reached (the caller may retry, as a SCEP client would).
 */
static scep_store *open_store(struct api_call *call)
{
    scep_store *store = NULL;
    int rc = scepd_server_store(&store, call->server);
    if (rc == SCEP_OK)
        return store;
    scepd_log(SCEPD_LOG_ERROR, "event=admin_api client=%s outcome=error detail=\"%s\"",
              call->request->client_addr, scep_error_message());
    if (rc == SCEP_EUNAVAILABLE) {
        scepd_server_store_drop(call->server);
        call->response->retry_after = SCEPD_OP_RETRY_AFTER;
        scepd_api_error(call->response, 503, "unavailable",
                        "the store cannot be reached; try again later");
    } else {
        scepd_api_error(call->response, 500, "internal", "the store cannot be opened");
    }
    return NULL;
}

/* Maps a library error to the API's status and code; the message is the library's. */
static void reply_failure(struct api_call *call, int rc, const char *what)
{
    switch (rc) {
    case SCEP_ENOTFOUND:
        scepd_api_error(call->response, 404, "not_found", scep_error_message());
        return;
    case SCEP_EINVAL:
        scepd_api_error(call->response, 400, "bad_request", scep_error_message());
        return;
    case SCEP_ESTATE:
    case SCEP_EEXISTS:
        scepd_api_error(call->response, 409, "conflict", scep_error_message());
        return;
    case SCEP_EUNAVAILABLE:
        scepd_server_store_drop(call->server);
        call->response->retry_after = SCEPD_OP_RETRY_AFTER;
        scepd_api_error(call->response, 503, "unavailable",
                        "the store cannot be reached; try again later");
        return;
    default:
        /* The detail may name files or database errors: the log has it, the reply not. */
        scepd_log(SCEPD_LOG_ERROR, "event=admin_api client=%s what=%s outcome=error detail=\"%s\"",
                  call->request->client_addr, what, scep_error_message());
        scepd_api_error(call->response, 500, "internal", "the operation failed; see scepd's log");
        return;
    }
}

/* A positive decimal ID from a path segment; 0 when it is not one. */
static int64_t parse_id(const char *text)
{
    char *end = NULL;
    long long id = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || id <= 0 || text[0] == '+' || text[0] == ' ')
        return 0;
    return (int64_t)id;
}

/* The decoded query value; NULL when absent; 1 in *bad when malformed or too long. */
static const char *query(struct api_call *call, const char *name, char *buf, size_t size, int *bad)
{
    int found = scepd_http_query_text(buf, size, call->request, name);
    if (found < 0)
        *bad = 1;
    return found > 0 ? buf : NULL;
}

/*
 * The JSON object a POST carries: an empty body is `{}` when `empty_ok`; a body must be
 * application/json. NULL when the answer (400, 415) is given already.
 */
/*
 * Whether the request says application/json. Required of every POST, an empty one too: a
 * web page cannot send that type cross-site without a CORS preflight (which scepd never
 * grants), so a browser holding the operator's Basic credentials cannot be made to
 * approve or reset anything (cross-site request forgery).
 */
static int is_json(const struct scepd_http_request *request)
{
    const char *type = scepd_http_header(request, "Content-Type");
    size_t json_len = strlen("application/json");
    return type != NULL && strncasecmp(type, "application/json", json_len) == 0 &&
           (type[json_len] == '\0' || type[json_len] == ';' || type[json_len] == ' ');
}

static json_t *request_body(struct api_call *call, int empty_ok)
{
    const struct scepd_http_request *request = call->request;
    if (!is_json(request)) {
        scepd_api_error(call->response, 415, "unsupported_media_type",
                        "a POST must be application/json (an empty body too)");
        return NULL;
    }
    if (request->body_len == 0) {
        if (empty_ok)
            return json_object();
        scepd_api_error(call->response, 400, "bad_request", "a JSON object body is required");
        return NULL;
    }
    json_error_t error;
    json_t *body =
        json_loadb((const char *)request->body, request->body_len, JSON_REJECT_DUPLICATES, &error);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        scepd_api_error(call->response, 400, "bad_json", "the body is not a JSON object");
        return NULL;
    }
    return body;
}

/* ---- requests ------------------------------------------------------------------ */

static json_t *request_json(const scep_store_request *row, const scep_config *config)
{
    json_t *object = json_object();
    if (object == NULL)
        return NULL;
    long long expiry = scep_request_pending_expiry(config, row->alias);
    json_object_set_new(object, "id", json_integer(row->id));
    set_string(object, "status", scep_request_status_name(row, expiry, (int64_t)time(NULL)));
    set_string(object, "alias", row->alias);
    set_string(object, "transactionId", row->transaction_id);
    set_string(object, "client", row->client_addr);
    set_time(object, "received", row->created_at);
    set_time(object, "updated", row->updated_at);
    if (row->status == SCEP_REQ_PENDING)
        set_time(object, "expires", row->created_at + expiry);
    const unsigned char *p = row->csr_der;
    X509_REQ *csr = NULL;
    if (p != NULL && row->csr_der_len > 0 && row->csr_der_len <= SCEP_STORE_MAX_BLOB)
        csr = d2i_X509_REQ(NULL, &p, (long)row->csr_der_len);
    char *subject = NULL;
    if (csr != NULL && scep_dn_format(&subject, X509_REQ_get_subject_name(csr)) == SCEP_OK)
        set_string(object, "subject", subject);
    OPENSSL_free(subject);
    X509_REQ_free(csr);
    set_string(object, "reason", row->reason);
    set_string(object, "ca", row->ca_name);
    set_string(object, "serial", row->cert_serial);
    if (row->decided_mode != NULL) {
        /* What approval issues: the names scepd decided, not the CSR's (docs/security.md);
         * in lists too, so an approver sees it beside the CSR's subject. */
        json_t *decided = json_object();
        set_string(decided, "mode", row->decided_mode);
        set_string(decided, "endEntity", row->decided_username);
        set_string(decided, "subject", row->decided_subject);
        json_t *sans = json_array();
        if (row->decided_sans != NULL) {
            const char *start = row->decided_sans;
            while (*start != '\0') {
                const char *end = strchr(start, '\n');
                size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
                if (len > 0)
                    json_array_append_new(sans, json_stringn(start, len));
                start += len + (end != NULL ? 1 : 0);
            }
        }
        json_object_set_new(decided, "subjectAltNames", sans);
        set_string(decided, "profile", row->decided_profile);
        set_string(decided, "replacesSerial", row->replaces_serial);
        json_object_set_new(object, "decided", decided);
    }
    return object;
}

static const struct {
    const char *name;
    scep_store_request_status status;
} request_statuses[] = {{"pending", SCEP_REQ_PENDING},
                        {"issued", SCEP_REQ_ISSUED},
                        {"rejected", SCEP_REQ_REJECTED},
                        {"failed", SCEP_REQ_FAILED},
                        {"expired", SCEP_REQ_PENDING}};

/* A limit= from 1 to API_LIMIT_MAX; -1 (answered) when malformed. */
static long long parse_limit(struct api_call *call)
{
    char buf[16];
    int bad = 0;
    const char *text = query(call, "limit", buf, sizeof(buf), &bad);
    if (text == NULL && !bad)
        return API_LIMIT_DEFAULT;
    long long limit = bad ? 0 : parse_id(text);
    if (limit <= 0 || limit > API_LIMIT_MAX) {
        scepd_api_error(call->response, 400, "bad_request", "limit: expected 1 to 1000");
        return -1;
    }
    return limit;
}

static void requests_list(struct api_call *call)
{
    char status_buf[16];
    int bad = 0;
    const char *status_text = query(call, "status", status_buf, sizeof(status_buf), &bad);
    const char *wanted = NULL;
    scep_store_request_status status = 0;
    if (status_text != NULL) {
        for (size_t i = 0; i < sizeof(request_statuses) / sizeof(request_statuses[0]); i++)
            if (strcmp(status_text, request_statuses[i].name) == 0) {
                wanted = request_statuses[i].name;
                status = request_statuses[i].status;
            }
    }
    if (bad || (status_text != NULL && wanted == NULL)) {
        scepd_api_error(call->response, 400, "bad_request",
                        "status: expected pending, issued, rejected, failed or expired");
        return;
    }
    long long limit = parse_limit(call);
    if (limit < 0)
        return;
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_request *rows = NULL;
    size_t count = 0;
    /* Pending and expired are told apart after the query, so those read every row. */
    size_t store_limit = status == SCEP_REQ_PENDING ? 0 : (size_t)limit;
    int rc = scep_store_request_list(&rows, &count, store, status, store_limit);
    if (rc < 0) {
        reply_failure(call, rc, "requests");
        return;
    }
    const scep_config *config = call->generation->config;
    json_t *items = json_array();
    for (size_t i = 0; i < count && json_array_size(items) < (size_t)limit; i++) {
        json_t *item = request_json(&rows[i], config);
        const char *shown = json_string_value(json_object_get(item, "status"));
        if (wanted != NULL && (shown == NULL || strcmp(shown, wanted) != 0)) {
            json_decref(item);
            continue;
        }
        json_array_append_new(items, item);
    }
    scep_store_request_list_free(rows, count);
    reply_json(call->response, 200, json_pack("{s:o}", "requests", items));
}

static void requests_get(struct api_call *call)
{
    int64_t id = parse_id(call->segments[1]);
    if (id == 0) {
        scepd_api_error(call->response, 404, "not_found", "request IDs are positive numbers");
        return;
    }
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_request *row = NULL;
    int rc = scep_store_request_get(&row, store, id);
    if (rc < 0) {
        reply_failure(call, rc, "request");
        return;
    }
    reply_json(call->response, 200, request_json(row, call->generation->config));
    scep_store_request_free(row);
}

/* Approve (reason NULL) or reject: scep_request_approve/_reject, as scepctl. */
static void request_decide(struct api_call *call, int approve)
{
    int64_t id = parse_id(call->segments[1]);
    if (id == 0) {
        scepd_api_error(call->response, 404, "not_found", "request IDs are positive numbers");
        return;
    }
    json_t *body = request_body(call, approve);
    if (body == NULL)
        return;
    const char *reason = NULL;
    if (!approve) {
        json_t *value = json_object_get(body, "reason");
        reason = json_string_value(value);
        if (reason == NULL) {
            json_decref(body);
            scepd_api_error(call->response, 400, "bad_request",
                            "reason: a string is required (the client reads it)");
            return;
        }
    }
    scep_store *store = open_store(call);
    if (store == NULL) {
        json_decref(body);
        return;
    }
    scep_request_decided decided;
    const scep_config *config = call->generation->config;
    int rc = approve ? scep_request_approve(&decided, store, config, id, call->actor)
                     : scep_request_reject(&decided, store, config, id, reason, call->actor);
    json_decref(body);
    if (decided.audit_failed)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
    if (rc < 0) {
        reply_failure(call, rc, approve ? "approve" : "reject");
        return;
    }
    scepd_log(SCEPD_LOG_INFO, "event=admin_api client=%s actor=%s request=%lld outcome=%s",
              call->request->client_addr, call->actor, (long long)id,
              approve ? "approved" : "rejected");
    scep_store_request *row = NULL;
    if (scep_store_request_get(&row, store, id) < 0) {
        reply_failure(call, SCEP_ESTORE, "request");
        return;
    }
    reply_json(call->response, 200, request_json(row, config));
    scep_store_request_free(row);
}

static void requests_approve(struct api_call *call)
{
    request_decide(call, 1);
}

static void requests_reject(struct api_call *call)
{
    request_decide(call, 0);
}

/* ---- certificates -------------------------------------------------------------- */

static void set_sans(json_t *object, X509 *cert)
{
    json_t *sans = json_array();
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    char *text = NULL;
    if (names != NULL && scep_san_format(&text, names, '\n') == SCEP_OK) {
        const char *start = text;
        while (*start != '\0') {
            const char *end = strchr(start, '\n');
            size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
            if (len > 0)
                json_array_append_new(sans, json_stringn(start, len));
            start += len + (end != NULL ? 1 : 0);
        }
    }
    OPENSSL_free(text);
    GENERAL_NAMES_free(names);
    ERR_clear_error();
    json_object_set_new(object, "subjectAltNames", sans);
}

static void set_pem(json_t *object, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len = 0;
    if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1 &&
        (len = BIO_get_mem_data(bio, &data)) > 0)
        json_object_set_new(object, "pem", json_stringn(data, (size_t)len));
    BIO_free(bio);
    ERR_clear_error();
}

/* The row's fields; `full` adds what decoding the certificate gives (SANs, PEM). */
static json_t *cert_json(const scep_store_cert *row, int full)
{
    json_t *object = json_object();
    if (object == NULL)
        return NULL;
    set_string(object, "ca", row->ca_name);
    set_string(object, "serial", row->serial);
    set_string(object, "subject", row->subject);
    set_string(object, "issuer", row->issuer);
    set_time(object, "notBefore", row->not_before);
    set_time(object, "notAfter", row->not_after);
    set_string(object, "status", row->status == SCEP_CERT_REVOKED ? "revoked" : "valid");
    if (row->status == SCEP_CERT_REVOKED) {
        set_time(object, "revokedAt", row->revoked_at);
        set_string(object, "revocationReason", scep_crl_reason_name(row->revocation_reason));
    }
    set_string(object, "endEntity", row->username);
    set_string(object, "transactionId", row->transaction_id);
    X509 *cert = NULL;
    if (full && scep_cert_decode(&cert, row->der, row->der_len) == SCEP_OK) {
        set_sans(object, cert);
        set_pem(object, cert);
    }
    X509_free(cert);
    return object;
}

/* Whether `needle` occurs in `haystack`, ignoring ASCII case. */
static int contains(const char *haystack, const char *needle)
{
    if (haystack == NULL)
        return 0;
    size_t n = strlen(needle);
    for (const char *p = haystack; *p != '\0'; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return n == 0;
}

static void certificates_list(struct api_call *call)
{
    char status_buf[16], ca_buf[SCEP_CONFIG_ALIAS_NAME_MAX + 1], subject_buf[512],
        serial_buf[SCEP_SERIAL_HEX_MAX + 8];
    int bad = 0;
    scep_store_cert_filter filter = {0};
    const char *status = query(call, "status", status_buf, sizeof(status_buf), &bad);
    filter.ca_name = query(call, "ca", ca_buf, sizeof(ca_buf), &bad);
    const char *subject = query(call, "subject", subject_buf, sizeof(subject_buf), &bad);
    const char *serial = query(call, "serial", serial_buf, sizeof(serial_buf), &bad);
    if (status != NULL && strcmp(status, "valid") == 0)
        filter.status = SCEP_CERT_VALID;
    else if (status != NULL && strcmp(status, "revoked") == 0)
        filter.status = SCEP_CERT_REVOKED;
    else if (status != NULL)
        bad = 1;
    if (bad) {
        scepd_api_error(call->response, 400, "bad_request",
                        "status is valid or revoked; ca, subject and serial are short text");
        return;
    }
    long long limit = parse_limit(call);
    if (limit < 0)
        return;
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    /* Subject and serial match parts of the text: read pages until the limit is met. */
    int matching = subject != NULL || serial != NULL;
    filter.limit = matching ? API_CERT_PAGE : (size_t)limit;
    json_t *items = json_array();
    for (size_t page = 0; page < API_CERT_PAGES_MAX && json_array_size(items) < (size_t)limit;
         page++) {
        scep_store_cert *rows = NULL;
        size_t count = 0;
        filter.offset = page * filter.limit;
        int rc = scep_store_cert_list(&rows, &count, store, &filter);
        if (rc < 0) {
            json_decref(items);
            reply_failure(call, rc, "certificates");
            return;
        }
        for (size_t i = 0; i < count && json_array_size(items) < (size_t)limit; i++) {
            if ((subject != NULL && !contains(rows[i].subject, subject)) ||
                (serial != NULL && !contains(rows[i].serial, serial)))
                continue;
            json_array_append_new(items, cert_json(&rows[i], 0));
        }
        scep_store_cert_list_free(rows, count);
        if (!matching || count < filter.limit)
            break;
    }
    reply_json(call->response, 200, json_pack("{s:o}", "certificates", items));
}

/* certificates/SERIAL or certificates/CA/SERIAL: the CA and serial segments. */
static void cert_address(const struct api_call *call, const char **ca_name, const char **serial)
{
    if (call->segment_count >= 3 && strcmp(call->segments[2], "revoke") != 0) {
        *ca_name = call->segments[1];
        *serial = call->segments[2];
    } else {
        *ca_name = NULL;
        *serial = call->segments[1];
    }
}

static void certificates_get(struct api_call *call)
{
    const char *ca_name = NULL, *serial = NULL;
    if (call->segment_count == 3 && strcmp(call->segments[2], "revoke") == 0) {
        scepd_api_error(call->response, 405, "method_not_allowed", "revoke takes POST");
        return;
    }
    cert_address(call, &ca_name, &serial);
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_cert *row = NULL;
    int rc = scep_cert_find(&row, store, ca_name, serial);
    if (rc < 0) {
        reply_failure(call, rc == SCEP_EINVAL ? SCEP_ENOTFOUND : rc, "certificate");
        return;
    }
    reply_json(call->response, 200, cert_json(row, 1));
    scep_store_cert_free(row);
}

static void certificates_revoke(struct api_call *call)
{
    const char *ca_name = NULL, *serial = NULL;
    if (call->segment_count == 4)
        ca_name = call->segments[1], serial = call->segments[2];
    else
        serial = call->segments[1];
    json_t *body = request_body(call, 0);
    if (body == NULL)
        return;
    const char *reason_name = json_string_value(json_object_get(body, "reason"));
    int reason = reason_name != NULL ? scep_crl_reason_from_name(reason_name) : -1;
    json_decref(body);
    if (reason < 0) {
        char message[512];
        snprintf(message, sizeof(message), "reason: one of %s", scep_crl_reason_names());
        scepd_api_error(call->response, 400, "bad_request", message);
        return;
    }
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    const struct scep_config_global *global = scep_config_global_values(call->generation->config);
    struct scep_crl_timing timing = {.validity = global->crl_validity,
                                     .regenerate_before = global->crl_regenerate_before};
    scep_revocation revocation;
    int rc =
        scep_cert_revoke_audited(&revocation, store, &timing, ca_name, serial, reason, call->actor);
    if (revocation.audit_failed)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed action=revoke");
    if (rc < 0) {
        scep_revocation_clear(&revocation);
        reply_failure(call, rc == SCEP_EINVAL ? SCEP_ENOTFOUND : rc, "revoke");
        return;
    }
    scepd_log(SCEPD_LOG_INFO,
              "event=admin_api client=%s actor=%s ca=%s serial=%s outcome=revoked crl=%s",
              call->request->client_addr, call->actor, revocation.ca_name, revocation.serial,
              revocation.crl != NULL ? "regenerated" : "later");
    scep_store_cert *row = NULL;
    rc = scep_store_cert_get(&row, store, revocation.ca_name, revocation.serial);
    json_t *reply = rc == SCEP_OK ? cert_json(row, 0) : json_object();
    scep_store_cert_free(row);
    if (revocation.crl != NULL)
        json_object_set_new(reply, "crlNumber", json_integer(revocation.crl->crl_number));
    scep_revocation_clear(&revocation);
    reply_json(call->response, 200, reply);
}

/* ---- end entities -------------------------------------------------------------- */

static json_t *ee_json(const scep_store_end_entity *ee)
{
    json_t *object = json_object();
    if (object == NULL)
        return NULL;
    set_string(object, "username", ee->username);
    set_string(object, "status", scep_ee_status_name(ee->status));
    set_string(object, "dn", ee->subject_dn);
    set_string(object, "ca", ee->ca_name);
    set_string(object, "profile", ee->profile);
    set_string(object, "alias", ee->alias);
    set_string(object, "raAlias", ee->ra_alias);
    json_t *sans = json_array();
    for (const char *p = ee->sans; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > 0)
            json_array_append_new(sans, json_stringn(p, len));
        p += len + (end != NULL ? 1 : 0);
    }
    json_object_set_new(object, "subjectAltNames", sans);
    json_object_set_new(object, "failedCodes", json_integer(ee->failed_codes));
    set_time(object, "created", ee->created_at);
    set_time(object, "updated", ee->updated_at);
    return object;
}

static void endentities_list(struct api_call *call)
{
    long long limit = parse_limit(call);
    if (limit < 0)
        return;
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_end_entity *rows = NULL;
    size_t count = 0;
    int rc = scep_store_ee_list(&rows, &count, store);
    if (rc < 0) {
        reply_failure(call, rc, "endentities");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < count && i < (size_t)limit; i++)
        json_array_append_new(items, ee_json(&rows[i]));
    scep_store_ee_list_free(rows, count);
    reply_json(call->response, 200, json_pack("{s:o}", "endentities", items));
}

static void endentities_get(struct api_call *call)
{
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_end_entity *ee = NULL;
    int rc = scep_store_ee_get(&ee, store, call->segments[1]);
    if (rc == SCEP_ENOTFOUND) {
        scepd_api_error(call->response, 404, "not_found", "no such end entity");
        return;
    }
    if (rc < 0) {
        reply_failure(call, rc, "endentity");
        return;
    }
    reply_json(call->response, 200, ee_json(ee));
    scep_store_ee_free(ee);
}

/*
 * The "password" member, or a generated one; `*generated` says which, as only a
 * generated code is returned (once). -1 when the answer (400, 500) is given.
 */
static int body_password(struct api_call *call, char out[SCEP_EE_PASSWORD_MAX + 1], int *generated,
                         json_t *body)
{
    json_t *value = json_object_get(body, "password");
    *generated = value == NULL;
    if (value == NULL) {
        if (scep_ee_generate_password(out) < 0) {
            scepd_api_error(call->response, 500, "internal", "the random generator failed");
            return -1;
        }
        return 0;
    }
    const char *given = json_string_value(value);
    if (given == NULL || strlen(given) > SCEP_EE_PASSWORD_MAX ||
        scep_ee_password_check(given) < 0) {
        scepd_api_error(call->response, 400, "bad_request",
                        "password: 1 to 1024 characters, no control characters (leave it out "
                        "to have one generated)");
        return -1;
    }
    memcpy(out, given, strlen(given) + 1);
    return 0;
}

/* An optional string member; -1 (400 answered) when present and not a string. */
static int body_string(struct api_call *call, const char **out, json_t *body, const char *key)
{
    json_t *value = json_object_get(body, key);
    *out = json_string_value(value);
    if (value != NULL && *out == NULL) {
        char message[96];
        snprintf(message, sizeof(message), "%s: expected a string", key);
        scepd_api_error(call->response, 400, "bad_request", message);
        return -1;
    }
    return 0;
}

/* "san" as scepctl's --san text, or an array of its items joined. */
static int body_sans(struct api_call *call, char *out, size_t out_size, const char **san,
                     json_t *body)
{
    json_t *value = json_object_get(body, "san");
    *san = NULL;
    if (value == NULL)
        return 0;
    size_t len = 0;
    out[0] = '\0';
    if (json_is_string(value)) {
        len = (size_t)snprintf(out, out_size, "%s", json_string_value(value));
    } else if (json_is_array(value)) {
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            if (!json_is_string(item) || len >= out_size)
                break;
            len += (size_t)snprintf(out + len, out_size - len, "%s%s", i > 0 ? "," : "",
                                    json_string_value(item));
        }
        if (i < json_array_size(value))
            len = out_size;
    } else {
        len = out_size;
    }
    if (len >= out_size) {
        scepd_api_error(call->response, 400, "bad_request",
                        "san: a string \"dns:NAME,ip:ADDR\" or an array of such items");
        return -1;
    }
    *san = out;
    return 0;
}

/*
 * After a successful add or reset: logs `action`, answers the end entity as stored and,
 * when the code was generated (`generated_code` not NULL), that code, the one place it is
 * ever returned; such a reply is wiped when freed.
 */
static void reply_end_entity(struct api_call *call, scep_store *store, const char *action,
                             unsigned status, const char *username, const char *generated_code)
{
    scepd_log(SCEPD_LOG_INFO, "event=admin_api client=%s actor=%s action=%s outcome=ok",
              call->request->client_addr, call->actor, action);
    scep_store_end_entity *ee = NULL;
    json_t *reply = scep_store_ee_get(&ee, store, username) == SCEP_OK
                        ? ee_json(ee)
                        : json_pack("{s:s}", "username", username);
    scep_store_ee_free(ee);
    if (generated_code != NULL)
        json_object_set_new(reply, "password", json_string(generated_code));
    reply_json(call->response, status, reply);
    call->response->body_secret = generated_code != NULL;
}

static void endentities_add(struct api_call *call)
{
    char password[SCEP_EE_PASSWORD_MAX + 1] = "";
    char san_buf[2048];
    int generated = 0;
    scep_ee_registration registration = {0};
    json_t *body = request_body(call, 0);
    if (body == NULL)
        return;
    if (body_string(call, &registration.username, body, "username") < 0 ||
        body_string(call, &registration.dn, body, "dn") < 0 ||
        body_string(call, &registration.ca_name, body, "ca") < 0 ||
        body_string(call, &registration.alias, body, "alias") < 0 ||
        body_string(call, &registration.profile, body, "profile") < 0 ||
        body_sans(call, san_buf, sizeof(san_buf), &registration.san, body) < 0 ||
        body_password(call, password, &generated, body) < 0)
        goto cleanup;
    scep_store *store = open_store(call);
    if (store == NULL)
        goto cleanup;
    scep_ee_outcome outcome;
    int rc = scep_ee_register(&outcome, store, call->generation->config, &registration, password,
                              call->actor);
    if (outcome.audit_failed)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed action=ee_add");
    if (rc == SCEP_ENOTFOUND || rc == SCEP_EINVAL) {
        /* Input that names nothing usable (an unknown CA included) is the caller's error. */
        scepd_api_error(call->response, 400, "bad_request", scep_error_message());
        goto cleanup;
    }
    if (rc < 0) {
        reply_failure(call, rc, "ee_add");
        goto cleanup;
    }
    reply_end_entity(call, store, "ee_add", 201, registration.username,
                     generated ? password : NULL);
cleanup:
    OPENSSL_cleanse(password, sizeof(password));
    json_decref(body);
}

static void endentities_reset(struct api_call *call)
{
    char password[SCEP_EE_PASSWORD_MAX + 1] = "";
    int generated = 0;
    json_t *body = request_body(call, 1);
    if (body == NULL)
        return;
    if (body_password(call, password, &generated, body) < 0)
        goto cleanup;
    scep_store *store = open_store(call);
    if (store == NULL)
        goto cleanup;
    scep_ee_outcome outcome;
    int rc = scep_ee_reset_audited(&outcome, store, call->segments[1], password, call->actor);
    if (outcome.audit_failed)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed action=ee_reset");
    if (rc < 0) {
        reply_failure(call, rc, "ee_reset");
        goto cleanup;
    }
    reply_end_entity(call, store, "ee_reset", 200, call->segments[1], generated ? password : NULL);
cleanup:
    OPENSSL_cleanse(password, sizeof(password));
    json_decref(body);
}

static void endentities_remove(struct api_call *call)
{
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_ee_outcome outcome;
    int rc = scep_ee_remove_audited(&outcome, store, call->segments[1], call->actor);
    if (outcome.audit_failed)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed action=ee_remove");
    if (rc < 0) {
        reply_failure(call, rc, "ee_remove");
        return;
    }
    scepd_log(SCEPD_LOG_INFO, "event=admin_api client=%s actor=%s action=ee_remove outcome=ok",
              call->request->client_addr, call->actor);
    reply_json(call->response, 200, json_pack("{s:s}", "removed", call->segments[1]));
}

/* ---- challenges, CAs, aliases ---------------------------------------------------- */

/* One-time challenges as scepctl challenge new and GET /admin/challenge make them. */
static void challenges_new(struct api_call *call)
{
    json_t *body = request_body(call, 0);
    if (body == NULL)
        return;
    const char *alias = json_string_value(json_object_get(body, "alias"));
    json_t *ttl_value = json_object_get(body, "ttl");
    json_t *subject_value = json_object_get(body, "subject");
    const char *pattern = json_string_value(subject_value);
    const struct scep_config_global *global = scep_config_global_values(call->generation->config);
    long long ttl =
        ttl_value != NULL ? (long long)json_integer_value(ttl_value) : global->admin_challenge_ttl;
    const char *bad = NULL;
    if (alias == NULL)
        bad = "alias: the alias name is required";
    else if (ttl_value != NULL &&
             (!json_is_integer(ttl_value) || ttl < 1 || ttl > API_CHALLENGE_TTL_MAX))
        bad = "ttl: seconds from 1 to 2592000 (30 days)";
    else if (subject_value != NULL &&
             (pattern == NULL || pattern[0] == '\0' || strlen(pattern) > API_PATTERN_MAX))
        bad = "subject: a DN pattern of 1 to 1024 characters";
    if (bad != NULL) {
        json_decref(body);
        scepd_api_error(call->response, 400, "bad_request", bad);
        return;
    }
    const struct scepd_alias *found = scepd_generation_alias(call->generation, alias);
    if (found == NULL) {
        json_decref(body);
        scepd_api_error(call->response, 404, "not_found", "no such alias");
        return;
    }
    scep_store *store = open_store(call);
    if (store == NULL) {
        json_decref(body);
        return;
    }
    char challenge[SCEP_CHALLENGE_LEN + 1];
    int64_t expires_at = 0;
    int rc = scep_store_challenge_new(challenge, &expires_at, store, found->name, ttl, pattern);
    if (rc < 0) {
        json_decref(body);
        reply_failure(call, rc, "challenge");
        return;
    }
    /* Never the challenge itself in the audit trail or the log. */
    scep_store_audit_event event = {.actor = call->actor,
                                    .action = "challenge_new",
                                    .alias = found->name,
                                    .outcome = "ok",
                                    .detail = pattern != NULL ? pattern : "any subject"};
    if (scep_store_audit_append(store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
    int ra = found->settings->operationmode == SCEP_ALIAS_MODE_RA;
    scepd_log(SCEPD_LOG_INFO,
              "event=admin_challenge client=%s alias=%s actor=%s ttl=%lld outcome=issued%s",
              call->request->client_addr, found->name, call->actor, ttl,
              ra ? "" : " warning=not_ra_mode");
    json_t *reply = json_pack("{s:s, s:s}", "challenge", challenge, "alias", found->name);
    OPENSSL_cleanse(challenge, sizeof(challenge));
    set_time(reply, "expires", expires_at);
    if (!ra)
        set_string(reply, "warning",
                   "the alias is not in RA mode: scepd does not accept the "
                   "challenge until it is");
    json_decref(body);
    reply_json(call->response, 201, reply);
    call->response->body_secret = 1;
}

/* The certificate fields of a PEM CA certificate (the first of the text). */
static json_t *ca_cert_json(const char *pem)
{
    json_t *object = json_object();
    BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (cert == NULL) {
        ERR_clear_error();
        return object;
    }
    char *subject = NULL;
    if (scep_dn_format(&subject, X509_get_subject_name(cert)) == SCEP_OK)
        set_string(object, "subject", subject);
    OPENSSL_free(subject);
    char serial[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial, X509_get0_serialNumber(cert)) == SCEP_OK)
        set_string(object, "serial", serial);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) == 1)
        set_time(object, "notBefore", (int64_t)timegm(&tm));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
        set_time(object, "notAfter", (int64_t)timegm(&tm));
    X509_free(cert);
    ERR_clear_error();
    return object;
}

static void cas_list(struct api_call *call)
{
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_ca *rows = NULL;
    size_t count = 0;
    int rc = scep_store_ca_list(&rows, &count, store);
    if (rc < 0) {
        reply_failure(call, rc, "cas");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < count; i++) {
        json_t *item = ca_cert_json(rows[i].cert_pem);
        json_object_set_new(item, "name", json_string(rows[i].name));
        json_object_set_new(item, "crlNumber", json_integer(rows[i].crl_number));
        if (rows[i].next_cert_pem != NULL) {
            /* During a rollover (RFC 8894 §4.7): what GetNextCACert announces. */
            json_t *next = ca_cert_json(rows[i].next_cert_pem);
            if (rows[i].next_activate_at > 0)
                set_time(next, "activates", rows[i].next_activate_at);
            json_object_set_new(next, "hasKey", json_boolean(rows[i].next_key_ref != NULL));
            json_object_set_new(item, "next", next);
        }
        scep_store_crl *crl = NULL;
        if (scep_store_crl_get(&crl, store, rows[i].name) == SCEP_OK) {
            json_t *crl_json = json_pack("{s:I, s:I}", "number", (json_int_t)crl->crl_number,
                                         "revoked", (json_int_t)crl->revoked_count);
            set_time(crl_json, "thisUpdate", crl->this_update);
            set_time(crl_json, "nextUpdate", crl->next_update);
            json_object_set_new(item, "crl", crl_json);
        }
        scep_store_crl_free(crl);
        json_array_append_new(items, item);
    }
    scep_store_ca_list_free(rows, count);
    reply_json(call->response, 200, json_pack("{s:o}", "cas", items));
}

static int add_setting(const struct scep_config_setting *setting, const char *value, bool is_set,
                       void *payload)
{
    (void)is_set;
    json_object_set_new(payload, setting->name, value != NULL ? json_string(value) : json_null());
    return 0;
}

/* Every alias with its effective settings; secrets as "********" (scep_config_foreach). */
static void aliases_list(struct api_call *call)
{
    const struct scepd_generation *generation = call->generation;
    json_t *items = json_array();
    for (size_t i = 0; i < generation->alias_count; i++) {
        const struct scepd_alias *alias = &generation->aliases[i];
        json_t *settings = json_object();
        if (scep_config_foreach(generation->config, alias->name, 0, add_setting, settings) < 0) {
            json_decref(settings);
            settings = json_null();
        }
        json_t *item = json_pack("{s:s, s:b, s:o}", "name", alias->name, "default",
                                 alias == generation->default_alias, "settings", settings);
        json_array_append_new(items, item);
    }
    reply_json(call->response, 200, json_pack("{s:o}", "aliases", items));
}

/* ---- audit trail --------------------------------------------------------------- */

/*
 * A JSON string of stored text; a detail can carry a client's bytes, so text that is not
 * UTF-8 is kept with every non-ASCII byte as '?' rather than dropped (as scepctl audit).
 */
static json_t *stored_text(const char *text)
{
    json_t *value = json_string(text);
    if (value != NULL)
        return value;
    char *copy = strdup(text);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    value = json_string(copy);
    free(copy);
    return value;
}

static void set_stored(json_t *object, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(object, key, stored_text(value));
}

static json_t *audit_json(const scep_store_audit_event *event)
{
    json_t *object = json_object();
    if (object == NULL)
        return NULL;
    json_object_set_new(object, "id", json_integer(event->id));
    set_time(object, "time", event->time);
    set_stored(object, "actor", event->actor);
    set_stored(object, "action", event->action);
    set_stored(object, "alias", event->alias);
    set_stored(object, "transactionId", event->transaction_id);
    set_stored(object, "outcome", event->outcome);
    set_stored(object, "detail", event->detail);
    set_string(object, "hash", event->hash);
    return object;
}

/*
 * The newest events first; `cursor` is the nextCursor of the page before (an event id),
 * so a page read while events are appended continues where the last one ended.
 */
static void audit_list(struct api_call *call)
{
    char cursor_buf[24];
    int bad = 0;
    const char *cursor_text = query(call, "cursor", cursor_buf, sizeof(cursor_buf), &bad);
    int64_t cursor = cursor_text != NULL ? parse_id(cursor_text) : 0;
    if (bad || (cursor_text != NULL && cursor == 0)) {
        scepd_api_error(call->response, 400, "bad_request",
                        "cursor: expected the nextCursor of the page before");
        return;
    }
    long long limit = parse_limit(call);
    if (limit < 0)
        return;
    scep_store *store = open_store(call);
    if (store == NULL)
        return;
    scep_store_audit_event *rows = NULL;
    size_t count = 0;
    int rc = scep_store_audit_page(&rows, &count, store, cursor, (size_t)limit);
    if (rc < 0) {
        reply_failure(call, rc, "audit");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(items, audit_json(&rows[i]));
    json_t *body = json_pack("{s:o}", "events", items);
    /* A full page may have more behind it; a short one is the end of the trail. */
    if (count == (size_t)limit && count > 0 && rows[count - 1].id > 1)
        json_object_set_new(body, "nextCursor", json_integer(rows[count - 1].id));
    scep_store_audit_list_free(rows, count);
    reply_json(call->response, 200, body);
}

/* ---- the document -------------------------------------------------------------- */

static void openapi_get(struct api_call *call)
{
    unsigned char *copy = malloc(scepd_admin_openapi_len);
    if (copy == NULL) {
        call->response->status = 500;
        return;
    }
    memcpy(copy, scepd_admin_openapi, scepd_admin_openapi_len);
    call->response->status = 200;
    call->response->content_type = "application/json";
    call->response->body = copy;
    call->response->body_len = scepd_admin_openapi_len;
}

/* Every route; docs/admin-api.openapi.json describes the same list (a test checks). */
static const struct api_route routes[] = {
    {"GET", {"requests"}, requests_list},
    {"GET", {"requests", "*"}, requests_get},
    {"POST", {"requests", "*", "approve"}, requests_approve},
    {"POST", {"requests", "*", "reject"}, requests_reject},
    {"GET", {"certificates"}, certificates_list},
    {"GET", {"certificates", "*"}, certificates_get},
    {"GET", {"certificates", "*", "*"}, certificates_get},
    {"POST", {"certificates", "*", "revoke"}, certificates_revoke},
    {"POST", {"certificates", "*", "*", "revoke"}, certificates_revoke},
    {"GET", {"endentities"}, endentities_list},
    {"POST", {"endentities"}, endentities_add},
    {"GET", {"endentities", "*"}, endentities_get},
    {"DELETE", {"endentities", "*"}, endentities_remove},
    {"POST", {"endentities", "*", "reset"}, endentities_reset},
    {"POST", {"challenges"}, challenges_new},
    {"GET", {"cas"}, cas_list},
    {"GET", {"aliases"}, aliases_list},
    {"GET", {"audit"}, audit_list},
    {"GET", {"openapi.json"}, openapi_get},
};

static int route_matches(const struct api_route *route, const struct api_call *call)
{
    size_t n = 0;
    while (n < API_SEGMENTS_MAX && route->pattern[n] != NULL)
        n++;
    if (n != call->segment_count)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(route->pattern[i], "*") != 0 &&
            strcmp(route->pattern[i], call->segments[i]) != 0)
            return 0;
    return 1;
}

/* Splits the path below the prefix; -1 when it has too many or too long segments. */
static int split_path(struct api_call *call, const char *path)
{
    call->segment_count = 0;
    while (*path != '\0') {
        const char *slash = strchr(path, '/');
        size_t len = slash != NULL ? (size_t)(slash - path) : strlen(path);
        if (len == 0 || len >= API_SEGMENT_MAX || call->segment_count == API_SEGMENTS_MAX)
            return -1;
        memcpy(call->segments[call->segment_count], path, len);
        call->segments[call->segment_count][len] = '\0';
        /* libmicrohttpd hands the path over as sent: a name with a space arrives as %20. */
        if (scepd_http_unescape(call->segments[call->segment_count], 0) < 0)
            return -1;
        call->segment_count++;
        path += len;
        if (*path == '/')
            path++;
    }
    return 0;
}

void scepd_api_handle(struct scepd_server *server, const struct scepd_generation *generation,
                      const struct scepd_http_request *request,
                      struct scepd_http_response *response, const char *actor)
{
    scepd_jansson_init();
    struct api_call call = {.server = server,
                            .generation = generation,
                            .request = request,
                            .response = response,
                            .actor = actor};
    if (split_path(&call, request->path + strlen(SCEPD_API_PREFIX)) < 0) {
        scepd_api_error(response, 404, "not_found", "no such resource");
        return;
    }
    int path_known = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!route_matches(&routes[i], &call))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, request->method) == 0) {
            /* Every POST, whether or not its handler reads a body (request_body). */
            if (strcmp(request->method, "POST") == 0 && !is_json(request)) {
                scepd_api_error(response, 415, "unsupported_media_type",
                                "a POST must be application/json (an empty body too)");
                return;
            }
            routes[i].handler(&call);
            return;
        }
    }
    if (path_known)
        scepd_api_error(response, 405, "method_not_allowed", "this resource takes another method");
    else
        scepd_api_error(response, 404, "not_found", "no such resource");
}
