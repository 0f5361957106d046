/*
 * The CA node's side of the relay channel (relay.h): relay_connections threads, each
 * holding one connection to the relay open (reconnecting with exponential back-off and
 * jitter), pushing the CA data the relay serves, and answering the requests the relay
 * sends through the same messageType table and enrollment pipeline as direct requests.
 *
 * A relayed request is verified here again (the client's signature over the message),
 * then takes the content the relay decrypted (scep_pkimessage_set_content). The alias
 * must opt in (ALIAS.relayed); its own mode, challenge, approval, profile and
 * constraints decide as for a direct request. The actor of the audit trail, the
 * failed-authorisation counter and the webhook is relay:RELAY_CN/CLIENT_ADDRESS.
 */
#include "scepd/enroll/enroll.h"
#include "scepd/log.h"
#include "scepd/relay/channel.h"
#include "scepd/relay/relay.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_CA_THREADS_MAX 64
#define RELAY_BACKOFF_MAX    30
/* Seconds between looks at whether the pushed CA data changed. */
#define SCEPD_RELAY_PUSH_INTERVAL 10

struct scepd_relay_ca {
    struct scepd_server *server;
    /* One TLS context per connection: OpenSSL's lazily filled caches in a shared store
     * are safe but invisible to the thread sanitizer; separate ones keep its runs clean. */
    SSL_CTX *ctx[RELAY_CA_THREADS_MAX];
    struct connector_arg {
        struct scepd_relay_ca *ca;
        size_t index;
    } args[RELAY_CA_THREADS_MAX];
    char host[256];
    unsigned port;
    size_t max_frame;
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t threads[RELAY_CA_THREADS_MAX];
    size_t thread_count;
};

/* Waits `seconds` unless stopped; returns 1 when stopping. */
static int pause_for(struct scepd_relay_ca *ca, int seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&ca->lock);
    while (!atomic_load(&ca->stop))
        if (pthread_cond_timedwait(&ca->wake, &ca->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&ca->lock);
    return atomic_load(&ca->stop);
}

/* A TCP connection to the relay within SCEPD_RELAY_HANDSHAKE_TIMEOUT, or -1. */
static int dial(struct scepd_relay_ca *ca)
{
    char service[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    snprintf(service, sizeof(service), "%u", ca->port);
    if (getaddrinfo(ca->host, service, &hints, &found) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = found; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t len = sizeof(err);
            rc = poll(&pfd, 1, SCEPD_RELAY_HANDSHAKE_TIMEOUT * 1000) == 1 &&
                         getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0
                     ? 0
                     : -1;
        }
        if (rc != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    /* Blocking again: the socket's timeouts bound each read and write. */
    if (fd >= 0)
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/*
 * The TLS handshake with the relay, within SCEPD_RELAY_HANDSHAKE_DEADLINE and given up
 * when scepd stops. The socket's timeouts bound each read only: whoever answers at
 * relay_connect's address (before its certificate is checked) could send a byte now and
 * then and hold this thread, and scepd's shutdown with it, for ever.
 */
static int tls_connect(struct scepd_relay_ca *ca, SSL *ssl, int fd, char *reason, size_t size)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long deadline_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
                            SCEPD_RELAY_HANDSHAKE_DEADLINE * 1000LL;
    int flags = fcntl(fd, F_GETFL);
    (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int ok = 0;
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1) {
            ok = 1;
            break;
        }
        int err = SSL_get_error(ssl, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            scepd_relay_tls_reason(reason, size, ssl);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left = deadline_ms - ((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        if (left <= 0 || atomic_load(&ca->stop)) {
            snprintf(reason, size, "the TLS handshake took longer than %ds",
                     SCEPD_RELAY_HANDSHAKE_DEADLINE);
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        (void)poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
    }
    (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    ERR_clear_error();
    return ok;
}

/* ---- what the relay serves: the push -------------------------------------------------- */

static int push_certs(json_t *entry, const char *key, X509 *first, STACK_OF(X509) * chain,
                      int includeroot)
{
    json_t *list = json_array();
    if (list == NULL || json_object_set_new(entry, key, list) != 0)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    for (int i = -1; i < sk_X509_num(chain); i++) {
        X509 *cert = i < 0 ? first : sk_X509_value(chain, i);
        if (i >= 0 && !includeroot && X509_check_issued(cert, cert) == X509_V_OK)
            continue;
        unsigned char *der = NULL;
        int len = i2d_X509(cert, &der);
        json_t *holder = json_object();
        int rc = len > 0 && holder != NULL ? scepd_relay_set_b64(holder, "v", der, (size_t)len)
                                           : SCEP_ENOMEM;
        OPENSSL_free(der);
        if (rc == SCEP_OK)
            rc = json_array_append(list, json_object_get(holder, "v")) == 0 ? SCEP_OK : SCEP_ENOMEM;
        json_decref(holder);
        if (rc < 0)
            return rc;
    }
    return SCEP_OK;
}

/*
 * What the relay answers GetCACert, GetCACaps and GetNextCACert with, per relayed alias:
 * the active CA certificate and chain, whether renewal is on, and the GetNextCACert reply
 * signed here while a rollover is announced (the relay cannot sign it).
 */
static json_t *build_push(struct scepd_server *server)
{
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    json_t *push = json_pack("{s:s, s:{}}", "type", "push", "aliases");
    json_t *aliases = json_object_get(push, "aliases");
    time_t now = time(NULL);
    for (size_t i = 0; push != NULL && i < generation->alias_count; i++) {
        const struct scepd_alias *alias = &generation->aliases[i];
        if (!alias->settings->relayed || alias->ca == NULL)
            continue;
        const scep_ca *active = scepd_ca_active(generation, alias->ca, now);
        json_t *entry =
            json_pack("{s:b, s:s}", "renewal", alias->settings->clientcertificaterenewal, "ca_name",
                      alias->ca->name);
        int rc = entry != NULL ? push_certs(entry, "ca_certs", scep_ca_cert(active),
                                            scep_ca_chain(active), alias->settings->includeroot)
                               : SCEP_ENOMEM;
        X509 *next = scepd_ca_announced_next(generation, alias->ca, now);
        STACK_OF(X509) *next_certs = next != NULL ? sk_X509_new_null() : NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        if (rc == SCEP_OK && next_certs != NULL && sk_X509_push(next_certs, next) > 0 &&
            scep_next_ca_build(&der, &len, next_certs, scep_ca_cert(alias->ca->ca),
                               scep_ca_key(alias->ca->ca), SCEP_DIGEST_SHA256) == SCEP_OK)
            rc = scepd_relay_set_b64(entry, "next_ca_reply", der, len);
        OPENSSL_free(der);
        sk_X509_free(next_certs);
        /* The stored CRL as the CRL refresh keeps it: the relay serves it while the CA
         * node is away (GetCRL, /crl/NAME.crl). */
        scep_store *store = NULL;
        scep_store_crl *crl = NULL;
        if (rc == SCEP_OK && scepd_server_store(&store, server) == SCEP_OK &&
            scep_store_crl_get(&crl, store, alias->ca->name) == SCEP_OK && crl != NULL &&
            crl->der_len <= (size_t)scep_config_global_values(generation->config)->max_body)
            rc = scepd_relay_set_b64(entry, "crl", crl->der, crl->der_len);
        scep_store_crl_free(crl);
        ERR_clear_error();
        if (rc < 0 || json_object_set_new(aliases, alias->name, entry) != 0) {
            json_decref(entry);
            json_decref(push);
            push = NULL;
        }
    }
    scepd_generation_release(generation);
    return push;
}

/* The push without its signed, time-stamped parts, for telling whether it changed. */
static char *push_fingerprint(const json_t *push)
{
    json_t *copy = json_deep_copy(push);
    const char *name;
    json_t *entry;
    json_object_foreach(json_object_get(copy, "aliases"), name, entry)
    {
        json_t *next = json_object_get(entry, "next_ca_reply");
        if (next != NULL)
            json_object_set_new(entry, "next_ca_reply", json_true());
    }
    char *text = copy != NULL ? scepd_relay_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(copy);
    return text;
}

/* ---- a relayed request ------------------------------------------------------------------ */

struct relayed {
    json_t *answer;
};

static int answer_outcome(struct scepd_op *op, const struct scepd_outcome *outcome)
{
    struct relayed *relayed = op->relay_payload;
    const char *status = outcome->status == SCEP_STATUS_SUCCESS   ? "success"
                         : outcome->status == SCEP_STATUS_PENDING ? "pending"
                                                                  : "failure";
    json_t *answer = json_pack("{s:s, s:s}", "type", "answer", "status", status);
    if (answer == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    int rc = SCEP_OK;
    if (outcome->status == SCEP_STATUS_FAILURE) {
        json_object_set_new(answer, "fail_info", json_integer((json_int_t)outcome->fail_info));
        json_object_set_new(answer, "fail_info_text",
                            json_string(outcome->fail_info_text ? outcome->fail_info_text : ""));
    }
    if (outcome->certs != NULL) {
        json_t *list = json_array();
        json_object_set_new(answer, "certs", list);
        for (int i = 0; rc == SCEP_OK && i < sk_X509_num(outcome->certs); i++) {
            unsigned char *der = NULL;
            int len = i2d_X509(sk_X509_value(outcome->certs, i), &der);
            json_t *holder = json_object();
            rc = len > 0 && holder != NULL ? scepd_relay_set_b64(holder, "v", der, (size_t)len)
                                           : SCEP_ENOMEM;
            if (rc == SCEP_OK)
                json_array_append(list, json_object_get(holder, "v"));
            json_decref(holder);
            OPENSSL_free(der);
        }
    }
    if (rc == SCEP_OK && outcome->crl != NULL) {
        unsigned char *der = NULL;
        int len = i2d_X509_CRL(outcome->crl, &der);
        rc = len > 0 ? scepd_relay_set_b64(answer, "crl", der, (size_t)len) : SCEP_ECRYPTO;
        OPENSSL_free(der);
    }
    if (rc < 0) {
        json_decref(answer);
        return rc;
    }
    json_decref(relayed->answer);
    relayed->answer = answer;
    return SCEP_OK;
}

static json_t *failure_answer(scep_fail_info fail_info, const char *text)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "type", "answer", "status", "failure", "fail_info",
                     (int)fail_info, "fail_info_text", text);
}

/* Runs one relayed PKIOperation; the answer frame (never NULL unless out of memory). */
static json_t *handle_request(struct scepd_relay_ca *ca, const json_t *request,
                              const char *relay_name)
{
    struct scepd_server *server = ca->server;
    const char *alias_name = json_string_value(json_object_get(request, "alias"));
    const char *client = json_string_value(json_object_get(request, "client"));
    unsigned char *der = NULL, *content = NULL;
    size_t der_len = 0, content_len = 0;
    scep_pkimessage *msg = NULL;
    struct relayed relayed = {NULL};
    char actor[256];
    struct scepd_http_response response = {0};
    /* The relay names the client's address: it goes into the audit trail and the log, so
     * only the characters of an address pass. */
    char address[64];
    size_t n = 0;
    for (const char *c = client != NULL ? client : "-"; *c != '\0' && n < sizeof(address) - 1; c++)
        address[n++] = (strchr("0123456789abcdefABCDEF.:[]%-_", *c) != NULL) ? *c : '?';
    address[n] = '\0';
    snprintf(actor, sizeof(actor), "relay:%.100s/%s", relay_name, address);
    json_int_t received = json_integer_value(json_object_get(request, "received"));
    struct scepd_http_request http = {
        .method = "POST",
        .path = "/relay",
        .client_addr = actor,
    };
    struct scepd_op op = {
        .server = server,
        .http = &http,
        .response = &response,
        .fail_info = -1,
        .now = time(NULL),
        .operation = "PKIOperation",
        .relay_sink = answer_outcome,
        .relay_payload = &relayed,
    };
    clock_gettime(CLOCK_MONOTONIC, &op.start);
    op.generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(op.generation->config);
    op.alias = alias_name != NULL ? scepd_generation_alias(op.generation, alias_name) : NULL;

    /* Only what this node opted in to: a relay cannot reach other aliases. */
    if (op.alias == NULL || !op.alias->settings->relayed || op.alias->ca == NULL) {
        relayed.answer = failure_answer(SCEP_FAIL_BAD_REQUEST,
                                        "this SCEP alias does not accept relayed requests");
        op.outcome = "refused";
        scepd_op_detail(&op, "alias %s is not relayed on the CA node",
                        alias_name ? alias_name : "-");
        goto done;
    }
    scep_message_options options = {
        .max_size = (size_t)global->max_body,
        .flags = op.alias->legacy ? SCEP_MSG_LEGACY : 0,
    };
    int rc = scepd_relay_get_b64(&der, &der_len, request, "message", (size_t)global->max_body);
    if (rc == SCEP_OK && der != NULL)
        rc = scepd_relay_get_b64(&content, &content_len, request, "content",
                                 (size_t)global->max_body);
    /* The client's signature is checked here, not taken on the relay's word. */
    if (rc == SCEP_OK && der != NULL)
        rc = scep_pkimessage_parse(&msg, der, der_len, NULL, NULL, &options);
    if (rc == SCEP_OK && msg != NULL && scep_pkimessage_has_envelope(msg))
        rc = content != NULL ? scep_pkimessage_set_content(msg, content, content_len)
                             : scep_fail(SCEP_EMALFORMED, "the relay sent no content");
    if (rc < 0 || msg == NULL) {
        relayed.answer = failure_answer(
            der == NULL ? SCEP_FAIL_BAD_REQUEST : scep_error_fail_info(rc), scep_error_message());
        op.outcome = "failure";
        scepd_op_detail(&op, "%s", scep_error_message());
        goto done;
    }
    snprintf(op.transaction_id, sizeof(op.transaction_id), "%s",
             scep_pkimessage_transaction_id(msg));
    op.message_type = scep_message_type_name(scep_pkimessage_type(msg));
    op.ca = op.alias->ca;
    if (scep_pkimessage_type(msg) == SCEP_MSG_CERTREP)
        scepd_reply_failure(&op, msg, SCEP_FAIL_BAD_REQUEST, "a CertRep is not a request");
    else
        scepd_dispatch(&op, msg);
    if (relayed.answer == NULL) /* answered at the HTTP level: the store is unreachable */
        relayed.answer =
            json_pack("{s:s, s:i, s:s}", "type", "answer", "http_status",
                      (int)(response.status ? response.status : 500), "text", op.detail);

done:;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (double)(end.tv_sec - op.start.tv_sec) * 1000.0 +
                (double)(end.tv_nsec - op.start.tv_nsec) / 1e6;
    char transaction_id[2 * SCEP_TRANSACTION_ID_MAX + 8];
    scepd_log_value(transaction_id, sizeof(transaction_id), op.transaction_id);
    char alias_name_log[2 * SCEP_CONFIG_ALIAS_NAME_MAX + 8];
    scepd_log_value(alias_name_log, sizeof(alias_name_log), alias_name ? alias_name : "-");
    char fail[24] = "-";
    if (op.fail_info >= 0)
        snprintf(fail, sizeof(fail), "%s", scep_fail_info_name((scep_fail_info)op.fail_info));
    scepd_log(SCEPD_LOG_INFO,
              "event=request client=%s method=RELAY alias=%s operation=PKIOperation "
              "message_type=%s transaction_id=%s outcome=%s fail_info=%s latency_ms=%.1f "
              "queued_s=%lld detail=\"%s\"",
              actor, alias_name_log, op.message_type ? op.message_type : "-", transaction_id,
              op.outcome ? op.outcome : "-", fail, ms,
              received > 0 && (time_t)received < op.now ? (long long)(op.now - (time_t)received)
                                                        : 0LL,
              op.detail);
    if (op.store_lost)
        scepd_server_store_drop(server);
    scepd_generation_release(op.generation);
    free(response.body);
    scep_pkimessage_free(msg);
    OPENSSL_free(der);
    if (content != NULL)
        OPENSSL_clear_free(content, content_len);
    return relayed.answer;
}

/* ---- one connection ------------------------------------------------------------------- */

static int is_ip(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Serves one TLS connection until it fails, goes silent, or scepd stops. */
static void serve(struct scepd_relay_ca *ca, SSL *ssl, const char *relay_name)
{
    char *last_push = NULL;
    time_t built = 0;
    time_t heard = time(NULL); /* the relay's last frame: silence is counted from it */
    while (!atomic_load(&ca->stop)) {
        /* The relay's CA data: at connect, and when it changed (looked at every few
         * seconds, not for every request). The GetNextCACert reply is signed anew each
         * time, so it takes no part in the comparison. */
        time_t now = time(NULL);
        json_t *push = last_push == NULL || now - built >= SCEPD_RELAY_PUSH_INTERVAL
                           ? build_push(ca->server)
                           : NULL;
        char *text = push != NULL ? push_fingerprint(push) : NULL;
        if (push != NULL)
            built = now;
        if (text != NULL && (last_push == NULL || strcmp(text, last_push) != 0)) {
            if (scepd_relay_send(ssl, push, ca->max_frame) < 0) {
                free(text);
                json_decref(push);
                break;
            }
            free(last_push);
            last_push = text;
            text = NULL;
        }
        free(text);
        json_decref(push);

        json_t *frame = NULL;
        /* Short waits, so that a stop is seen and a changed push goes out within seconds on
         * an idle connection too (the loop's top looks at it again). */
        int rc = scepd_relay_recv(&frame, ssl, ca->max_frame, 5);
        if (rc == SCEP_ETIMEOUT) {
            if (time(NULL) - heard < SCEPD_RELAY_SILENCE)
                continue;
            if (!atomic_load(&ca->stop))
                scepd_log(SCEPD_LOG_WARN, "event=relay_silent relay=%s detail=\"nothing for %ds\"",
                          relay_name, SCEPD_RELAY_SILENCE);
            break;
        }
        if (rc < 0)
            break;
        heard = time(NULL);
        const char *type = json_string_value(json_object_get(frame, "type"));
        json_t *reply = NULL;
        if (strcmp(type, "ping") == 0) {
            reply = json_pack("{s:s}", "type", "pong");
        } else if (strcmp(type, "request") == 0) {
            reply = handle_request(ca, frame, relay_name);
            if (reply != NULL)
                json_object_set(reply, "id", json_object_get(frame, "id"));
        }
        json_decref(frame);
        if (reply != NULL) {
            scepd_relay_socket_timeout(SSL_get_fd(ssl), SCEPD_RELAY_HANDSHAKE_TIMEOUT);
            rc = scepd_relay_send(ssl, reply, ca->max_frame);
            json_decref(reply);
            if (rc < 0)
                break;
        }
    }
    free(last_push);
}

static void *connector(void *arg)
{
    const struct connector_arg *self = arg;
    struct scepd_relay_ca *ca = self->ca;
    SSL_CTX *ctx = ca->ctx[self->index];
    int backoff = 1;
    int failing = 0;
    while (!atomic_load(&ca->stop)) {
        int fd = dial(ca);
        SSL *ssl = NULL;
        char reason[256] = "cannot connect";
        int ok = 0;
        if (fd >= 0) {
            scepd_relay_socket_timeout(fd, SCEPD_RELAY_HANDSHAKE_TIMEOUT);
            ssl = SSL_new(ctx);
            ERR_clear_error();
            /* The relay must be the host relay_connect names, certified by relay_tls_ca. */
            ok =
                ssl != NULL && SSL_set_fd(ssl, fd) == 1 &&
                (is_ip(ca->host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ca->host) == 1
                                 : (SSL_set1_host(ssl, ca->host) == 1 &&
                                    SSL_set_tlsext_host_name(ssl, ca->host) == 1));
            if (!ok)
                scepd_relay_tls_reason(reason, sizeof(reason), ssl);
            else
                ok = tls_connect(ca, ssl, fd, reason, sizeof(reason));
        }
        if (ok) {
            char relay_name[128];
            scepd_relay_peer_name(relay_name, sizeof(relay_name), ssl);
            scepd_log(SCEPD_LOG_INFO, "event=relay_connected relay=%s addr=%s:%u", relay_name,
                      ca->host, ca->port);
            backoff = 1;
            failing = 0;
            serve(ca, ssl, relay_name);
            char after[256];
            scepd_relay_tls_reason(after, sizeof(after), ssl);
            scepd_log(SCEPD_LOG_WARN, "event=relay_disconnected relay=%s addr=%s:%u detail=\"%s\"",
                      relay_name, ca->host, ca->port, after);
        } else if (!failing || backoff >= RELAY_BACKOFF_MAX) {
            /* Logged when it starts failing and at the longest back-off, not every second. */
            scepd_log(SCEPD_LOG_WARN, "event=relay_connect_failed addr=%s:%u reason=\"%s\"",
                      ca->host, ca->port, reason);
            failing = 1;
        }
        if (ssl != NULL) {
            if (ok)
                (void)SSL_shutdown(ssl);
            SSL_free(ssl);
        }
        if (fd >= 0)
            close(fd);
        ERR_clear_error();
        if (atomic_load(&ca->stop))
            break;
        /* Exponential back-off with jitter, so that several CA connections spread out. */
        unsigned char jitter = 0;
        (void)RAND_bytes(&jitter, 1);
        int wait = ok ? 1 : backoff + (int)(jitter % (unsigned)(backoff + 1)) / 2;
        if (!ok && backoff < RELAY_BACKOFF_MAX)
            backoff = backoff * 2 > RELAY_BACKOFF_MAX ? RELAY_BACKOFF_MAX : backoff * 2;
        if (pause_for(ca, wait))
            break;
    }
    return NULL;
}

static void ca_free(struct scepd_relay_ca *ca)
{
    if (ca == NULL)
        return;
    for (size_t i = 0; i < RELAY_CA_THREADS_MAX; i++)
        SSL_CTX_free(ca->ctx[i]);
    pthread_cond_destroy(&ca->wake);
    pthread_mutex_destroy(&ca->lock);
    free(ca);
}

int scepd_relay_ca_start(struct scepd_server *server, const struct scep_config_global *global)
{
    int rc = SCEP_OK;
    struct scepd_relay_ca *ca = calloc(1, sizeof(*ca));
    ENSURE_ALLOC(ca);
    pthread_mutex_init(&ca->lock, NULL);
    pthread_cond_init(&ca->wake, NULL);
    ca->server = server;
    ca->max_frame = scepd_relay_frame_max(global->max_body);
    ENSURE(scepd_http_split_listen(ca->host, sizeof(ca->host), &ca->port,
                                   global->relay_connect.items[0]) == 0 &&
               ca->port != 0,
           SCEP_ECONFIG, "relay_connect %s: not HOST:PORT", global->relay_connect.items[0]);
    size_t wanted = (size_t)global->relay_connections;
    if (wanted > RELAY_CA_THREADS_MAX)
        wanted = RELAY_CA_THREADS_MAX;
    for (size_t i = 0; i < wanted; i++)
        GUARD(scepd_relay_tls_context(&ca->ctx[i], global, 0));
    for (size_t i = 0; i < wanted; i++) {
        ca->args[i] = (struct connector_arg){ca, i};
        if (pthread_create(&ca->threads[i], NULL, connector, &ca->args[i]) != 0)
            break;
        ca->thread_count++;
    }
    ENSURE(ca->thread_count > 0, SCEP_ENOMEM, "cannot start the relay connections");
    scepd_log(SCEPD_LOG_INFO, "event=relay_ca_started relay=%s connections=%zu",
              global->relay_connect.items[0], ca->thread_count);
    server->relay_ca = ca;
    ca = NULL;

cleanup:
    ca_free(ca);
    return rc;
}

void scepd_relay_ca_stop(struct scepd_server *server)
{
    struct scepd_relay_ca *ca = server->relay_ca;
    if (ca == NULL)
        return;
    atomic_store(&ca->stop, 1);
    pthread_mutex_lock(&ca->lock);
    pthread_cond_broadcast(&ca->wake);
    pthread_mutex_unlock(&ca->lock);
    for (size_t i = 0; i < ca->thread_count; i++)
        pthread_join(ca->threads[i], NULL);
    server->relay_ca = NULL;
    ca_free(ca);
}
