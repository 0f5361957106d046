#include "scepd/front/admin.h"
#include "scepd/front/api.h"
#include "scepd/front/console.h"
#include "scepd/front/metrics.h"
#include "scepd/log.h"
#include "scepd/ops/ops.h"
#include "scep/ca.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ADMIN_PATH        "/admin/challenge"
#define ADMIN_ARG_MAX     1024
#define ADMIN_AUTH_MAX    4096
#define ADMIN_TTL_MAX     (30LL * SCEP_CONFIG_DAY)
#define ADMIN_TLS_PEM_MAX (256 * 1024)

/*
 * On every answer of the admin listener, the console's files and the API's data alike: no
 * script or style but the console's own files, no framing, no caching of data, no Referer.
 */
/* clang-format off */
#define ADMIN_SECURITY_HEADERS                                                                     \
    {"Content-Security-Policy",                                                                    \
     "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "               \
     "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},               \
    {"X-Frame-Options", "DENY"},                                                                   \
    {"X-Content-Type-Options", "nosniff"},                                                         \
    {"Referrer-Policy", "no-referrer"},                                                            \
    {"Cache-Control", "no-store"}
/* clang-format on */

static const struct scepd_http_header security_headers[] = {ADMIN_SECURITY_HEADERS};
/*
 * The two challenges on lines of their own: a browser reads one challenge per line and
 * offers its Basic prompt only when it finds one it knows; the console logs in that way.
 */
static const struct scepd_http_header challenge_headers[] = {
    ADMIN_SECURITY_HEADERS,
    {"WWW-Authenticate", "Bearer realm=\"scepd admin\""},
    {"WWW-Authenticate", "Basic realm=\"scepd admin\", charset=\"UTF-8\""},
};

static void reply_text(struct scepd_http_response *response, unsigned status, const char *text)
{
    response->status = status;
    response->content_type = "text/plain";
    size_t len = strlen(text);
    response->body = malloc(len ? len : 1);
    if (response->body == NULL) {
        response->status = 500;
        return;
    }
    memcpy(response->body, text, len);
    response->body_len = len;
}

/*
 * Equal in constant time whatever the lengths: both sides are hashed first,
 * so neither the position of the first difference nor the length leaks.
 */
static int secret_equal(const char *given, size_t given_len, const char *expected)
{
    unsigned char a[32], b[32];
    unsigned int a_len = 0, b_len = 0;
    if (expected == NULL || expected[0] == '\0')
        return 0;
    if (EVP_Digest(given, given_len, a, &a_len, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(expected, strlen(expected), b, &b_len, EVP_sha256(), NULL) != 1)
        return 0;
    int equal = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return equal;
}

/*
 * 1 when the Authorization header holds the right credentials; `*scheme` says what came
 * and, once authenticated, `actor` names the admin for audit events by the credential
 * used, never by anything of it.
 */
static int authenticated(const struct scep_config_global *global, const char *header,
                         const char **scheme, char *actor, size_t actor_size)
{
    *scheme = "none";
    snprintf(actor, actor_size, "scepd:admin");
    if (header == NULL || strlen(header) > ADMIN_AUTH_MAX)
        return 0;
    if (strncasecmp(header, "Bearer ", 7) == 0) {
        *scheme = "bearer";
        const char *token = header + 7;
        while (*token == ' ')
            token++;
        int ok = secret_equal(token, strlen(token), global->admin_token);
        if (ok)
            snprintf(actor, actor_size, "scepd:admin:token");
        return ok;
    }
    if (strncasecmp(header, "Basic ", 6) == 0) {
        *scheme = "basic";
        const char *b64 = header + 6;
        while (*b64 == ' ')
            b64++;
        size_t b64_len = strlen(b64);
        if (b64_len == 0 || b64_len % 4 != 0 || global->admin_user == NULL ||
            global->admin_password == NULL)
            return 0;
        unsigned char decoded[ADMIN_AUTH_MAX];
        int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)b64_len);
        if (n < 0)
            return 0;
        /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
        for (size_t i = b64_len; i > 0 && b64[i - 1] == '=' && n > 0; i--)
            n--;
        const unsigned char *colon = memchr(decoded, ':', (size_t)n);
        int ok = 0;
        if (colon != NULL) {
            size_t user_len = (size_t)(colon - decoded);
            /* Both compared, always, so timing does not tell which was wrong. */
            int user_ok = secret_equal((const char *)decoded, user_len, global->admin_user);
            int password_ok = secret_equal((const char *)colon + 1, (size_t)n - user_len - 1,
                                           global->admin_password);
            ok = user_ok & password_ok;
            /* admin_user is half of the credential (a secret, masked like the password):
             * there is one Basic identity, and "basic" names it without the name. */
            if (ok)
                snprintf(actor, actor_size, "scepd:admin:basic");
        }
        OPENSSL_cleanse(decoded, sizeof(decoded));
        return ok;
    }
    return 0;
}

/*
 * Every request's authentication, both ways, is an audit event (action admin_login):
 * the client and the scheme it tried, never what it sent.
 */
static void audit_login(struct scepd_server *server, const char *client, const char *scheme, int ok)
{
    scep_store *store = NULL;
    char detail[160];
    snprintf(detail, sizeof(detail), "client %s, scheme %s", client, scheme);
    scep_store_audit_event event = {.actor = "scepd:admin",
                                    .action = "admin_login",
                                    .outcome = ok ? "ok" : "denied",
                                    .detail = detail};
    if (scepd_server_store(&store, server) < 0 || scep_store_audit_append(store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
}

static void audit(struct scepd_server *server, scep_store *store, const char *alias,
                  const char *client, const char *pattern)
{
    char detail[ADMIN_ARG_MAX + 128];
    snprintf(detail, sizeof(detail), "client %s, %s", client,
             pattern != NULL ? pattern : "any subject");
    scep_store_audit_event event = {.actor = "scepd:admin",
                                    .action = "challenge_new",
                                    .alias = alias,
                                    .outcome = "ok",
                                    .detail = detail};
    (void)server;
    if (scep_store_audit_append(store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
}

/*
 * The authority (host and port) of an Origin header equals the Host header: what a
 * browser sends for the console's own calls. "null" and any other site differ.
 */
static int same_origin(const char *origin, const char *host)
{
    const char *authority = strstr(origin, "://");
    if (authority == NULL || host == NULL)
        return 0;
    authority += 3;
    return authority[0] != '\0' && strchr(authority, '/') == NULL &&
           strcasecmp(authority, host) == 0;
}

/*
 * Whether a request that changes state comes from another site (cross-site request
 * forgery, beside the API's application/json rule): a browser names the page that made
 * it in Origin and Sec-Fetch-Site; scripts and curl send neither and pass.
 * GET /admin/challenge counts as a change: it stores a challenge.
 */
static int forged(const struct scepd_http_request *request)
{
    if ((strcmp(request->method, "GET") == 0 || strcmp(request->method, "HEAD") == 0) &&
        strcmp(request->path, ADMIN_PATH) != 0)
        return 0;
    const char *site = scepd_http_header(request, "Sec-Fetch-Site");
    if (site != NULL && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0))
        return 1;
    const char *origin = scepd_http_header(request, "Origin");
    return origin != NULL && !same_origin(origin, scepd_http_header(request, "Host"));
}

static void admin_handle(struct scepd_server *server, const struct scepd_generation *generation,
                         const struct scepd_http_request *request,
                         struct scepd_http_response *response)
{
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    const char *scheme = NULL;
    char actor[64];
    /* The API answers in JSON, errors included, so its clients parse one format. */
    int api = strncmp(request->path, SCEPD_API_PREFIX, strlen(SCEPD_API_PREFIX)) == 0;

    /* The console's files hold nothing secret: no credentials, no login event. */
    if (scepd_console_reply(request, response))
        return;
    /* Before credentials: a forged request is no failed login of the admin it targets. */
    if (forged(request)) {
        scepd_log(SCEPD_LOG_WARN, "event=admin_forbidden client=%s reason=cross_origin",
                  request->client_addr);
        if (api)
            scepd_api_error(response, 403, "forbidden",
                            "a change must come from the console's own origin");
        else
            reply_text(response, 403, "a change must come from the console's own origin\n");
        return;
    }

    /* An address over its failed-authorisation budget is not even checked (guard.c). */
    time_t now = time(NULL);
    if (scepd_guard_blocked(server->guard, request->client_addr,
                            (unsigned)global->failed_auth_limit, now)) {
        if (api)
            scepd_api_error(response, 429, "too_many_failures",
                            "too many failed attempts; try again later");
        else
            reply_text(response, 429, "too many failed attempts; try again later\n");
        return;
    }
    /* Credentials first: nothing about the listener is told to strangers. */
    if (!authenticated(global, scepd_http_header(request, "Authorization"), &scheme, actor,
                       sizeof(actor))) {
        unsigned failures = scepd_guard_failed(server->guard, request->client_addr, now);
        scepd_log(SCEPD_LOG_WARN, "event=admin_denied client=%s scheme=%s failures=%u",
                  request->client_addr, scheme, failures);
        audit_login(server, request->client_addr, scheme, 0);
        response->headers = challenge_headers;
        response->header_count = sizeof(challenge_headers) / sizeof(challenge_headers[0]);
        if (api)
            scepd_api_error(response, 401, "unauthenticated", "authentication required");
        else
            reply_text(response, 401, "authentication required\n");
        return;
    }
    audit_login(server, request->client_addr, scheme, 1);
    if (api) {
        scepd_api_handle(server, generation, request, response, actor);
        return;
    }
    /* DELETE is let through for the API only. */
    if (strcmp(request->method, "DELETE") == 0) {
        reply_text(response, 405, "only GET\n");
        return;
    }
    if (strcmp(request->path, SCEPD_METRICS_PATH) == 0) {
        scepd_metrics_reply(server, request, response);
        return;
    }
    if (strcmp(request->path, ADMIN_PATH) != 0) {
        reply_text(response, 404, "not found\n");
        return;
    }
    if (strcmp(request->method, "GET") != 0) {
        reply_text(response, 405, "only GET\n");
        return;
    }

    char alias[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    char pattern_buf[ADMIN_ARG_MAX + 1];
    char ttl_text[32];
    const char *pattern = NULL;
    if (scepd_http_query_text(alias, sizeof(alias), request, "alias") <= 0 || alias[0] == '\0') {
        reply_text(response, 400, "alias= is missing or malformed\n");
        return;
    }
    const struct scepd_alias *found = scepd_generation_alias(generation, alias);
    if (found == NULL) {
        /* The name is the client's: not logged (no control characters in the log). */
        scepd_log(SCEPD_LOG_INFO, "event=admin_challenge client=%s outcome=unknown_alias",
                  request->client_addr);
        reply_text(response, 404, "unknown alias\n");
        return;
    }
    long long ttl = global->admin_challenge_ttl;
    int found_ttl = scepd_http_query_text(ttl_text, sizeof(ttl_text), request, "ttl");
    if (found_ttl < 0 ||
        (found_ttl > 0 && scep_config_parse_duration(&ttl, ttl_text, 1, ADMIN_TTL_MAX) < 0)) {
        reply_text(response, 400, "ttl=: expected a duration from 1s to 30d (90s, 10m, 1h, 7d)\n");
        return;
    }
    int found_subject = scepd_http_query_text(pattern_buf, sizeof(pattern_buf), request, "subject");
    if (found_subject < 0 || (found_subject > 0 && pattern_buf[0] == '\0')) {
        reply_text(response, 400, "subject=: expected 1 to 1024 characters\n");
        return;
    }
    if (found_subject > 0)
        pattern = pattern_buf;

    scep_store *store = NULL;
    char challenge[SCEP_CHALLENGE_LEN + 2];
    int64_t expires_at = 0;
    int rc = scepd_server_store(&store, server);
    if (rc == SCEP_OK)
        rc = scep_store_challenge_new(challenge, &expires_at, store, found->name, ttl, pattern);
    if (rc < 0) {
        scepd_log(SCEPD_LOG_ERROR,
                  "event=admin_challenge client=%s alias=%s outcome=error detail=\"%s\"",
                  request->client_addr, found->name, scep_error_message());
        if (rc == SCEP_EUNAVAILABLE) {
            /* As a SCEP request would be: the caller may retry once the store is back. */
            scepd_server_store_drop(server);
            response->retry_after = SCEPD_OP_RETRY_AFTER;
            reply_text(response, 503, "the store cannot be reached; try again later\n");
            return;
        }
        reply_text(response, 500, "the challenge could not be stored\n");
        return;
    }
    audit(server, store, found->name, request->client_addr, pattern);
    /* Never the challenge itself in the log. */
    scepd_log(SCEPD_LOG_INFO,
              "event=admin_challenge client=%s alias=%s scheme=%s ttl=%lld outcome=issued%s",
              request->client_addr, found->name, scheme, ttl,
              found->settings->operationmode != SCEP_ALIAS_MODE_RA ? " warning=not_ra_mode" : "");
    challenge[SCEP_CHALLENGE_LEN] = '\n';
    challenge[SCEP_CHALLENGE_LEN + 1] = '\0';
    reply_text(response, 200, challenge);
    response->body_secret = 1;
    OPENSSL_cleanse(challenge, sizeof(challenge));
}

void scepd_admin_handle(void *payload, const struct scepd_http_request *request,
                        struct scepd_http_response *response)
{
    struct scepd_server *server = payload;
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    admin_handle(server, generation, request, response);
    scepd_generation_release(generation);
    if (response->headers == NULL) {
        response->headers = security_headers;
        response->header_count = sizeof(security_headers) / sizeof(security_headers[0]);
    }
}

/* Reads a small PEM file whole; NUL-terminated. */
static int read_pem(char **out, const char *path, const char *setting)
{
    int rc = SCEP_OK;
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    ENSURE(file != NULL, SCEP_ECONFIG, "%s: cannot open %s", setting, path);
    text = malloc(ADMIN_TLS_PEM_MAX + 1);
    ENSURE_ALLOC(text);
    size_t len = fread(text, 1, ADMIN_TLS_PEM_MAX + 1, file);
    ENSURE(len > 0 && len <= ADMIN_TLS_PEM_MAX, SCEP_ECONFIG, "%s: %s is empty or too large",
           setting, path);
    text[len] = '\0';
    *out = text;
    text = NULL;
cleanup:
    if (text != NULL) {
        OPENSSL_cleanse(text, ADMIN_TLS_PEM_MAX + 1);
        free(text);
    }
    if (file != NULL)
        fclose(file);
    return rc;
}

static struct scepd_http_options admin_options(const struct scep_config_global *global)
{
    struct scepd_http_options options = {
        .listen = (const char *const *)global->admin_listen.items,
        .listen_count = global->admin_listen.count,
        .threads = 2,
        .max_body = 4096,
        .allow_delete = 1,
        .connection_timeout = (unsigned)global->connection_timeout,
        .request_timeout = (unsigned)global->request_timeout,
        /* A few operators' scripts, never a crowd: small fixed limits keep a flood on the
         * admin port from costing the SCEP listener its memory. */
        .max_connections = 64,
        .max_connections_per_client = 16,
        .body_memory = 64 * 4096,
    };
    return options;
}

int scepd_admin_bind(struct scepd_http **out, const scep_config *config)
{
    const struct scep_config_global *global = scep_config_global_values(config);
    *out = NULL;
    if (global->admin_listen.count == 0)
        return SCEP_OK;
    struct scepd_http_options options = admin_options(global);
    return scepd_http_bind(out, &options);
}

int scepd_admin_start(struct scepd_server *server)
{
    int rc = SCEP_OK;
    char *cert = NULL, *key = NULL;
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    if (global->admin_listen.count == 0)
        goto cleanup;
    int token = global->admin_token != NULL && global->admin_token[0] != '\0';
    int basic = global->admin_user != NULL && global->admin_user[0] != '\0' &&
                global->admin_password != NULL && global->admin_password[0] != '\0';
    ENSURE(token || basic, SCEP_ECONFIG,
           "admin_listen needs admin_token, or admin_user and admin_password");
    ENSURE((global->admin_tls_cert == NULL) == (global->admin_tls_key == NULL), SCEP_ECONFIG,
           "admin_tls_cert and admin_tls_key go together");
    if (global->admin_tls_cert != NULL) {
        GUARD(read_pem(&cert, global->admin_tls_cert, "admin_tls_cert"));
        /* The TLS key is held to the same rule as a CA key: 0600 and ours. */
        GUARD(scep_key_file_check(global->admin_tls_key));
        GUARD(read_pem(&key, global->admin_tls_key, "admin_tls_key"));
    }
    struct scepd_http_options options = admin_options(global);
    options.tls_cert_pem = cert;
    options.tls_key_pem = key;
    if (server->admin_http == NULL)
        GUARD(scepd_http_bind(&server->admin_http, &options));
    GUARD(scepd_http_serve(server->admin_http, &options, scepd_admin_handle, server));
    for (size_t i = 0; i < global->admin_listen.count; i++)
        scepd_log(SCEPD_LOG_INFO, "event=admin_listening address=%s port=%u tls=%s",
                  global->admin_listen.items[i], scepd_http_port(server->admin_http, i),
                  cert != NULL ? "yes" : "no");
cleanup:
    scepd_generation_release(generation);
    free(cert);
    if (key != NULL) {
        OPENSSL_cleanse(key, strlen(key));
        free(key);
    }
    return rc;
}
