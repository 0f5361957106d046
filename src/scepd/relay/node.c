/*
 * The relay node (relay.h): the TLS listener the CA node connects to, the pool of its
 * connections, the exchange of one request for one answer, the thread that pings idle
 * connections and sends queued requests, and the SCEP operations of relay aliases.
 *
 * A PKCSReq or RenewalReq is committed to the queue before anything else, then handed
 * to the CA node when one is connected; its answer is stored on the row before the
 * client gets it. With no CA node, or no answer within relay_timeout, the client gets
 * PENDING and polls; the stored answer (or, while the CA holds the request for
 * approval, the CA node itself) answers the poll.
 */
#include "scepd/relay/relay.h"
#include "scepd/log.h"
#include "scepd/relay/channel.h"
#include "scepd/relay/queue.h"
#include "scepd/state/racert.h"
#include "util/error_internal.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_CONNS_MAX   64
#define RELAY_LISTEN_MAX  4
#define RELAY_DRAIN_BATCH 16
/* TLS handshakes under way at once; more connections are closed at accept. */
#define RELAY_HANDSHAKES_MAX 8
/* Seconds from accept to the first push. The socket's timeouts bound each read, not
 * the handshake: a peer sending a byte every few seconds would hold its slot for ever. */
#define RELAY_HANDSHAKE_DEADLINE SCEPD_RELAY_HANDSHAKE_DEADLINE
/* Delivered answers are kept a day (a client may fetch again); anything a month. */
#define RELAY_KEEP_DELIVERED (24 * 3600)
#define RELAY_KEEP_ANY       (30 * 24 * 3600)

struct relay_conn {
    SSL *ssl;
    int fd;
    int busy;
    time_t last;    /* last frame either way */
    time_t started; /* accepted (the handshake's deadline counts from it) */
    char peer[128];
    char addr[64];
};

struct scepd_relay {
    struct scepd_server *server;
    SSL_CTX *ctx;
    int listen_fds[RELAY_LISTEN_MAX];
    size_t listen_count;
    struct scepd_relay_queue *queue;
    size_t max_frame;
    int timeout;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a connection came, went or became idle; stop */
    struct relay_conn *conns[RELAY_CONNS_MAX];
    size_t conn_count;
    unsigned late;                                       /* late-answer readers running */
    struct relay_conn *handshakes[RELAY_HANDSHAKES_MAX]; /* connections in handshake() */
    size_t handshake_count;
    /* The CA node's last push, {"type":"push","aliases":{NAME:{...}}}, as text: each
     * reader parses its own copy, so no JSON object is shared between threads. */
    char *push;
    atomic_int stop;
    atomic_ullong next_id;
    pthread_t accept_thread, keeper_thread;
    int threads_started;
};

/* ---- connections --------------------------------------------------------------------- */

static void conn_close(struct relay_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->ssl != NULL) {
        (void)SSL_shutdown(conn->ssl);
        SSL_free(conn->ssl);
    }
    if (conn->fd >= 0)
        close(conn->fd);
    free(conn);
}

static void conn_remove_locked(struct scepd_relay *relay, struct relay_conn *conn)
{
    for (size_t i = 0; i < relay->conn_count; i++) {
        if (relay->conns[i] == conn) {
            relay->conns[i] = relay->conns[--relay->conn_count];
            break;
        }
    }
}

/* An idle connection, waiting up to `wait` seconds while all are busy; NULL when no CA
 * node is connected (at once) or none became free. */
static struct relay_conn *conn_take(struct scepd_relay *relay, int wait)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait;
    struct relay_conn *found = NULL;
    pthread_mutex_lock(&relay->lock);
    while (!atomic_load(&relay->stop) && relay->conn_count > 0) {
        for (size_t i = 0; i < relay->conn_count && found == NULL; i++)
            if (!relay->conns[i]->busy)
                found = relay->conns[i];
        if (found != NULL) {
            found->busy = 1;
            break;
        }
        if (pthread_cond_timedwait(&relay->changed, &relay->lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&relay->lock);
    return found;
}

/* Gives a connection back (ok) or drops it. */
static void conn_give(struct scepd_relay *relay, struct relay_conn *conn, int ok)
{
    pthread_mutex_lock(&relay->lock);
    int drop = !ok || atomic_load(&relay->stop);
    if (!drop) {
        conn->busy = 0;
        conn->last = time(NULL);
    } else {
        conn_remove_locked(relay, conn);
        scepd_log(SCEPD_LOG_WARN,
                  "event=relay_disconnected peer=%s addr=%s connections=%zu detail=\"%s\"",
                  conn->peer, conn->addr, relay->conn_count, scep_error_message());
    }
    pthread_cond_broadcast(&relay->changed);
    pthread_mutex_unlock(&relay->lock);
    /* Outside the lock: a TLS close_notify may wait on the socket. */
    if (drop)
        conn_close(conn);
}

static size_t connected(struct scepd_relay *relay)
{
    pthread_mutex_lock(&relay->lock);
    size_t count = relay->conn_count;
    pthread_mutex_unlock(&relay->lock);
    return count;
}

/* ---- what the CA node pushed ------------------------------------------------------------ */

static void apply_push(struct scepd_relay *relay, const json_t *frame)
{
    json_t *aliases = json_object_get(frame, "aliases");
    if (!json_is_object(aliases))
        return;
    char *text = scepd_relay_dumps(frame, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return;
    pthread_mutex_lock(&relay->lock);
    int same = relay->push != NULL && strcmp(relay->push, text) == 0;
    if (!same) {
        free(relay->push);
        relay->push = strdup(text);
    }
    pthread_mutex_unlock(&relay->lock);
    if (!same) {
        if (scepd_relay_push_save(relay->queue, text) < 0)
            scepd_log(SCEPD_LOG_WARN, "event=relay_push_failed detail=\"%s\"",
                      scep_error_message());
        else
            scepd_log(SCEPD_LOG_INFO, "event=relay_push aliases=%zu", json_object_size(aliases));
    }
    free(text);
}

/* This thread's own copy of the push (the caller's), or NULL. */
static json_t *push_copy(struct scepd_relay *relay)
{
    pthread_mutex_lock(&relay->lock);
    char *text = relay->push != NULL ? strdup(relay->push) : NULL;
    pthread_mutex_unlock(&relay->lock);
    json_t *push = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return push;
}

/* This alias's part of the push (the caller's reference), or NULL. */
static json_t *pushed_alias(struct scepd_relay *relay, const char *alias)
{
    json_t *push = push_copy(relay);
    json_t *found = json_object_get(json_object_get(push, "aliases"), alias);
    json_incref(found);
    json_decref(push);
    return found;
}

/* ---- one exchange -------------------------------------------------------------------- */

/* Reads until the answer to `id` arrives (pushes on the way are taken), or the deadline. */
static int await_answer(json_t **out, struct scepd_relay *relay, struct relay_conn *conn,
                        json_int_t id, time_t deadline)
{
    *out = NULL;
    for (int frames = 0; frames < 64; frames++) {
        time_t now = time(NULL);
        if (now >= deadline)
            return scep_fail(SCEP_ETIMEOUT, "no answer from the CA node in time");
        json_t *frame = NULL;
        int rc = scepd_relay_recv(&frame, conn->ssl, relay->max_frame, (int)(deadline - now));
        if (rc < 0)
            return rc;
        const char *type = json_string_value(json_object_get(frame, "type"));
        if (strcmp(type, "push") == 0) {
            apply_push(relay, frame);
        } else if (strcmp(type, "answer") == 0 &&
                   json_integer_value(json_object_get(frame, "id")) == id) {
            *out = frame;
            return SCEP_OK;
        }
        json_decref(frame);
    }
    return scep_fail(SCEP_ENETWORK, "the CA node sends frames but no answer");
}

/* The state a row moves to with `answer`. */
static int answer_state(const json_t *answer)
{
    const char *status = json_string_value(json_object_get(answer, "status"));
    if (status == NULL)
        return SCEPD_RELAY_QUEUED; /* an HTTP-level answer (503): try again later */
    if (strcmp(status, "pending") == 0)
        return SCEPD_RELAY_PENDING_CA;
    return SCEPD_RELAY_ANSWERED;
}

static void store_answer(struct scepd_relay *relay, int64_t row_id, const json_t *answer)
{
    if (row_id <= 0)
        return;
    char *text = scepd_relay_dumps(answer, JSON_COMPACT);
    if (text == NULL || scepd_relay_queue_set(relay->queue, row_id, answer_state(answer), text) < 0)
        scepd_log(SCEPD_LOG_ERROR, "event=relay_store_failed row=%lld detail=\"%s\"",
                  (long long)row_id, scep_error_message());
    free(text);
}

struct late_reader {
    struct scepd_relay *relay;
    struct relay_conn *conn;
    int64_t row_id;
    json_int_t id;
};

/* An answer that comes after relay_timeout is stored, never lost (the client polls for it). */
static void *late_answer(void *arg)
{
    struct late_reader *late = arg;
    struct scepd_relay *relay = late->relay;
    json_t *answer = NULL;
    int rc = await_answer(&answer, relay, late->conn, late->id,
                          time(NULL) + 10 * (time_t)relay->timeout);
    if (rc == SCEP_OK) {
        store_answer(relay, late->row_id, answer);
        scepd_log(SCEPD_LOG_INFO, "event=relay_late_answer row=%lld", (long long)late->row_id);
    } else if (late->row_id > 0 &&
               scepd_relay_queue_set(relay->queue, late->row_id, SCEPD_RELAY_QUEUED, NULL) < 0) {
        scepd_log(SCEPD_LOG_ERROR, "event=relay_store_failed detail=\"%s\"", scep_error_message());
    }
    json_decref(answer);
    conn_give(relay, late->conn, rc == SCEP_OK);
    pthread_mutex_lock(&relay->lock);
    relay->late--;
    pthread_cond_broadcast(&relay->changed);
    pthread_mutex_unlock(&relay->lock);
    free(late);
    return NULL;
}

/* Hands a connection whose answer is overdue to a reader that stores it when it comes. */
static int late(struct scepd_relay *relay, struct relay_conn *conn, int64_t row_id, json_int_t id,
                int timeout)
{
    struct late_reader *reader = calloc(1, sizeof(*reader));
    pthread_t thread;
    pthread_attr_t attr;
    int started = 0;
    if (reader != NULL) {
        *reader = (struct late_reader){relay, conn, row_id, id};
        pthread_mutex_lock(&relay->lock);
        relay->late++;
        pthread_mutex_unlock(&relay->lock);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&thread, &attr, late_answer, reader) == 0;
        pthread_attr_destroy(&attr);
        if (!started) {
            pthread_mutex_lock(&relay->lock);
            relay->late--;
            pthread_mutex_unlock(&relay->lock);
            free(reader);
        }
    }
    if (!started)
        conn_give(relay, conn, 0);
    return scep_fail(SCEP_ETIMEOUT, "the CA node did not answer within %ds", timeout);
}

/*
 * Sends `request` to a CA node and waits `timeout` seconds for the answer. SCEP_OK with
 * *out; SCEP_EUNAVAILABLE when no CA node is connected or free; SCEP_ETIMEOUT when sent
 * but not answered in time: the answer is then stored on row `row_id` when it comes.
 */
static int exchange(json_t **out, struct scepd_relay *relay, json_t *request, int timeout,
                    int64_t row_id)
{
    *out = NULL;
    time_t deadline = time(NULL) + timeout;
    /* A connection found dead (the CA node restarted) costs one attempt; the CA node
     * answers a request it already decided with that decision, so sending again is safe. */
    for (int attempt = 0; attempt < 4; attempt++) {
        time_t now = time(NULL);
        struct relay_conn *conn = conn_take(relay, deadline > now ? (int)(deadline - now) : 0);
        if (conn == NULL)
            return scep_fail(SCEP_EUNAVAILABLE, "no CA node connected");
        json_int_t id = (json_int_t)atomic_fetch_add(&relay->next_id, 1);
        if (json_object_set_new(request, "id", json_integer(id)) != 0) {
            conn_give(relay, conn, 1);
            return scep_fail(SCEP_ENOMEM, "out of memory");
        }
        scepd_relay_socket_timeout(conn->fd, SCEPD_RELAY_HANDSHAKE_TIMEOUT);
        int rc = scepd_relay_send(conn->ssl, request, relay->max_frame);
        if (rc == SCEP_OK)
            rc = await_answer(out, relay, conn, id, deadline);
        if (rc == SCEP_OK) {
            conn_give(relay, conn, 1);
            return SCEP_OK;
        }
        if (rc == SCEP_ETIMEOUT)
            return late(relay, conn, row_id, id, timeout);
        conn_give(relay, conn, 0);
    }
    return scep_fail(SCEP_EUNAVAILABLE, "the CA node's connections failed");
}

static json_t *request_frame(const char *alias, const char *client, int64_t received,
                             const unsigned char *der, size_t der_len, const scep_pkimessage *msg)
{
    json_t *frame = json_pack("{s:s, s:s, s:s, s:I}", "type", "request", "alias", alias, "client",
                              client, "received", (json_int_t)received);
    size_t content_len = 0;
    const unsigned char *content = scep_pkimessage_content(msg, &content_len);
    if (frame == NULL || scepd_relay_set_b64(frame, "message", der, der_len) < 0 ||
        (content != NULL && scepd_relay_set_b64(frame, "content", content, content_len) < 0)) {
        json_decref(frame);
        return NULL;
    }
    return frame;
}

/* ---- answering the client -------------------------------------------------------------- */

static int decode_certs(STACK_OF(X509) * *out, const json_t *list)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        unsigned char *der = NULL;
        size_t len = 0;
        X509 *cert = NULL;
        json_t *holder = json_pack("{s:O}", "v", item);
        int rc =
            holder != NULL ? scepd_relay_get_b64(&der, &len, holder, "v", 1u << 20) : SCEP_ENOMEM;
        json_decref(holder);
        if (rc == SCEP_OK && der != NULL)
            rc = scep_cert_decode(&cert, der, len);
        OPENSSL_free(der);
        if (rc < 0 || cert == NULL || sk_X509_push(certs, cert) <= 0) {
            X509_free(cert);
            sk_X509_pop_free(certs, X509_free);
            return rc < 0 ? rc : scep_fail(SCEP_EMALFORMED, "bad certificate from the CA node");
        }
    }
    *out = certs;
    return SCEP_OK;
}

/* The client's CertRep (signed by the RA) for the CA's answer frame. */
static void reply_answer(struct scepd_op *op, const scep_pkimessage *msg, const json_t *answer)
{
    json_t *http_status = json_object_get(answer, "http_status");
    if (json_is_integer(http_status)) {
        unsigned status = (unsigned)json_integer_value(http_status);
        scepd_op_text(op, status >= 400 && status < 600 ? status : 502, "ca_error", "%s",
                      json_string_value(json_object_get(answer, "text"))
                          ? json_string_value(json_object_get(answer, "text"))
                          : "the CA node could not answer");
        if (op->response->status == 503)
            op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        return;
    }
    const char *status = json_string_value(json_object_get(answer, "status"));
    struct scepd_outcome outcome = {.status = SCEP_STATUS_PENDING};
    STACK_OF(X509) *certs = NULL;
    X509_CRL *crl = NULL;
    unsigned char *crl_der = NULL;
    size_t crl_len = 0;
    if (status != NULL && strcmp(status, "success") == 0) {
        outcome.status = SCEP_STATUS_SUCCESS;
        if (decode_certs(&certs, json_object_get(answer, "certs")) < 0 ||
            scepd_relay_get_b64(&crl_der, &crl_len, answer, "crl", 16u << 20) < 0) {
            scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "internal error");
            goto done;
        }
        if (crl_der != NULL) {
            const unsigned char *p = crl_der;
            crl = d2i_X509_CRL(NULL, &p, (long)crl_len);
        }
        outcome.certs = sk_X509_num(certs) > 0 ? certs : NULL;
        outcome.crl = crl;
    } else if (status != NULL && strcmp(status, "failure") == 0) {
        outcome.status = SCEP_STATUS_FAILURE;
        outcome.fail_info =
            (scep_fail_info)json_integer_value(json_object_get(answer, "fail_info"));
        outcome.fail_info_text = json_string_value(json_object_get(answer, "fail_info_text"));
    }
    scepd_reply(op, msg, &outcome);
done:
    sk_X509_pop_free(certs, X509_free);
    X509_CRL_free(crl);
    OPENSSL_free(crl_der);
}

static void reply_pending(struct scepd_op *op, const scep_pkimessage *msg)
{
    struct scepd_outcome outcome = {.status = SCEP_STATUS_PENDING};
    scepd_reply(op, msg, &outcome);
}

static int spki_hash(unsigned char out[32], X509_PUBKEY *key)
{
    unsigned char *der = NULL;
    int len = key != NULL ? i2d_X509_PUBKEY(key, &der) : -1;
    unsigned int n = 0;
    int ok = len > 0 && EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    if (!ok)
        memset(out, 0, 32);
    return ok ? SCEP_OK : SCEP_ECRYPTO;
}

static struct scepd_relay *relay_of(const struct scepd_op *op)
{
    return op->server->relay;
}

/* PKCSReq, RenewalReq: queued first, then handed on while the client waits. */
static void relay_enroll(struct scepd_op *op, const scep_pkimessage *msg, const unsigned char *der,
                         size_t der_len)
{
    struct scepd_relay *relay = relay_of(op);
    struct scepd_relay_row *row = NULL;
    json_t *frame = NULL, *answer = NULL;
    unsigned char key_hash[32], signer_hash[32];
    (void)spki_hash(key_hash, X509_REQ_get_X509_PUBKEY(scep_pkimessage_csr(msg)));
    (void)spki_hash(signer_hash, X509_get_X509_PUBKEY(scep_pkimessage_signer_cert(msg)));

    int rc = scepd_relay_queue_find(&row, relay->queue, op->alias->name, op->transaction_id);
    int same = rc == SCEP_OK && row->message_type == (int)scep_pkimessage_type(msg) &&
               memcmp(row->key_hash, key_hash, 32) == 0;
    /* A retransmission: what the CA answered, once more. Once the client has fetched it,
     * the CA node decides when it is connected: the same transactionID and key may be a
     * new transaction there (a re-enrollment after ee reset). */
    if (same && (row->state == SCEPD_RELAY_ANSWERED ||
                 (row->state == SCEPD_RELAY_DELIVERED && connected(relay) == 0))) {
        answer = json_loads(row->answer, 0, NULL);
        if (answer != NULL) {
            reply_answer(op, msg, answer);
            if (scepd_relay_queue_set(relay->queue, row->id, SCEPD_RELAY_DELIVERED, NULL) < 0)
                scepd_log(SCEPD_LOG_WARN, "event=relay_store_failed detail=\"%s\"",
                          scep_error_message());
            op->outcome = "stored";
            goto done;
        }
    }
    if (same && row->state == SCEPD_RELAY_FORWARDED) {
        reply_pending(op, msg);
        op->outcome = "delayed";
        scepd_op_detail(op, "the CA node has not answered yet");
        goto done;
    }
    if (rc < 0 && rc != SCEP_ENOTFOUND) {
        scepd_op_text(op, 503, "unavailable", "the relay's queue cannot be written: %s",
                      scep_error_message());
        op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        goto done;
    }
    /* New (or a new request under an old transactionID): on disk before anything is said. */
    struct scepd_relay_row fresh = {
        .message_type = (int)scep_pkimessage_type(msg),
        .message = (unsigned char *)(uintptr_t)der,
        .message_len = der_len,
        .received = (int64_t)op->now,
        .state = SCEPD_RELAY_FORWARDED,
    };
    snprintf(fresh.alias, sizeof(fresh.alias), "%s", op->alias->name);
    snprintf(fresh.transaction_id, sizeof(fresh.transaction_id), "%s", op->transaction_id);
    snprintf(fresh.client, sizeof(fresh.client), "%s", op->http->client_addr);
    memcpy(fresh.key_hash, key_hash, 32);
    memcpy(fresh.signer_hash, signer_hash, 32);
    rc = scepd_relay_queue_put(relay->queue, &fresh);
    if (rc == SCEP_EEXISTS) {
        scepd_op_detail(op, "transactionID reused with a different public key");
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST,
                            "this transactionID belongs to another key");
        goto done;
    }
    if (rc == SCEP_ETOOBIG) {
        scepd_op_text(op, 503, "unavailable", "%s; try again later", scep_error_message());
        op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        goto done;
    }
    if (rc < 0) {
        scepd_op_text(op, 503, "unavailable", "the relay's queue cannot be written: %s",
                      scep_error_message());
        op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        goto done;
    }
    frame =
        request_frame(op->alias->name, op->http->client_addr, fresh.received, der, der_len, msg);
    rc = frame != NULL ? exchange(&answer, relay, frame, relay->timeout, fresh.id) : SCEP_ENOMEM;
    if (rc == SCEP_OK && answer_state(answer) == SCEPD_RELAY_QUEUED) {
        /* The CA node could not decide now (its store is unreachable): the request is
         * queued, and sent again from the queue. */
        store_answer(relay, fresh.id, answer);
        reply_pending(op, msg);
        op->outcome = "queued";
        scepd_op_detail(op, "the CA node answered HTTP %lld",
                        (long long)json_integer_value(json_object_get(answer, "http_status")));
        goto done;
    }
    if (rc == SCEP_OK) {
        store_answer(relay, fresh.id, answer);
        reply_answer(op, msg, answer);
        if (answer_state(answer) == SCEPD_RELAY_ANSWERED &&
            scepd_relay_queue_set(relay->queue, fresh.id, SCEPD_RELAY_DELIVERED, NULL) < 0)
            scepd_log(SCEPD_LOG_WARN, "event=relay_store_failed detail=\"%s\"",
                      scep_error_message());
        scepd_op_detail(op, "ca: %s",
                        json_string_value(json_object_get(answer, "status"))
                            ? json_string_value(json_object_get(answer, "status"))
                            : "error");
        op->outcome = "relayed";
        goto done;
    }
    if (rc != SCEP_ETIMEOUT &&
        scepd_relay_queue_set(relay->queue, fresh.id, SCEPD_RELAY_QUEUED, NULL) < 0)
        scepd_log(SCEPD_LOG_ERROR, "event=relay_store_failed detail=\"%s\"", scep_error_message());
    /* RFC 8894 §3.3.2: PENDING, and the client polls with CertPoll. */
    reply_pending(op, msg);
    op->outcome = rc == SCEP_ETIMEOUT ? "delayed" : "queued";
    scepd_op_detail(op, "%s", scep_error_message());

done:
    json_decref(frame);
    json_decref(answer);
    scepd_relay_row_free(row);
}

/* Whether a CertPoll comes from the requester: signed by the request's key or signer. */
static int poll_from_requester(const scep_pkimessage *msg, const struct scepd_relay_row *row)
{
    unsigned char hash[32];
    if (spki_hash(hash, X509_get_X509_PUBKEY(scep_pkimessage_signer_cert(msg))) < 0)
        return 0;
    return CRYPTO_memcmp(hash, row->key_hash, 32) == 0 ||
           CRYPTO_memcmp(hash, row->signer_hash, 32) == 0;
}

/* Forwards `msg` as it is (CertPoll for the CA, GetCert, GetCRL); row_id > 0 stores the
 * answer there. Returns 1 when answered. */
static int forward_now(struct scepd_op *op, const scep_pkimessage *msg, const unsigned char *der,
                       size_t der_len, int64_t row_id)
{
    struct scepd_relay *relay = relay_of(op);
    json_t *answer = NULL;
    json_t *frame =
        request_frame(op->alias->name, op->http->client_addr, (int64_t)op->now, der, der_len, msg);
    int rc = frame != NULL ? exchange(&answer, relay, frame, relay->timeout, row_id) : SCEP_ENOMEM;
    json_decref(frame);
    if (rc != SCEP_OK)
        return 0;
    if (row_id > 0 && answer_state(answer) == SCEPD_RELAY_ANSWERED) {
        char *text = scepd_relay_dumps(answer, JSON_COMPACT);
        if (text == NULL ||
            scepd_relay_queue_set(relay->queue, row_id, SCEPD_RELAY_DELIVERED, text) < 0)
            scepd_log(SCEPD_LOG_WARN, "event=relay_store_failed detail=\"%s\"",
                      scep_error_message());
        free(text);
    }
    reply_answer(op, msg, answer);
    op->outcome = "relayed";
    json_decref(answer);
    return 1;
}

static void relay_poll(struct scepd_op *op, const scep_pkimessage *msg, const unsigned char *der,
                       size_t der_len)
{
    struct scepd_relay *relay = relay_of(op);
    struct scepd_relay_row *row = NULL;
    int rc = scepd_relay_queue_find(&row, relay->queue, op->alias->name, op->transaction_id);
    if (rc == SCEP_ENOTFOUND) {
        /* Not queued here: the CA node is the authority on it. */
        if (!forward_now(op, msg, der, der_len, 0)) {
            scepd_op_text(op, 503, "unavailable", "no CA node connected; try again later");
            op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        }
        return;
    }
    if (rc < 0) {
        scepd_op_text(op, 503, "unavailable", "the relay's queue cannot be read: %s",
                      scep_error_message());
        op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        return;
    }
    if (!poll_from_requester(msg, row)) {
        /* RFC 8894 §3.3.3: only the requester learns a transaction's state. */
        scepd_op_detail(op, "CertPoll signed by another key");
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_CERT_ID, "no such transaction");
    } else if (row->state == SCEPD_RELAY_ANSWERED || row->state == SCEPD_RELAY_DELIVERED) {
        json_t *answer = json_loads(row->answer, 0, NULL);
        if (answer != NULL) {
            reply_answer(op, msg, answer);
            op->outcome = "stored";
            if (scepd_relay_queue_set(relay->queue, row->id, SCEPD_RELAY_DELIVERED, NULL) < 0)
                scepd_log(SCEPD_LOG_WARN, "event=relay_store_failed detail=\"%s\"",
                          scep_error_message());
        } else {
            scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "internal error");
        }
        json_decref(answer);
    } else if (row->state == SCEPD_RELAY_PENDING_CA &&
               forward_now(op, msg, der, der_len, row->id)) {
        /* answered by the CA node */
    } else {
        reply_pending(op, msg);
        op->outcome = row->state == SCEPD_RELAY_PENDING_CA ? "pending" : "queued";
    }
    scepd_relay_row_free(row);
}

/* The pushed CRL of CA `ca_name` (ops/crl.c asks for /crl/NAME.crl). */
static int pushed_crl(unsigned char **out, size_t *out_len, struct scepd_server *server,
                      const char *ca_name)
{
    struct scepd_relay *relay = server->relay;
    int rc = SCEP_ENOTFOUND;
    *out = NULL;
    if (relay == NULL)
        return rc;
    json_t *push = push_copy(relay);
    const char *name;
    json_t *entry;
    json_object_foreach(json_object_get(push, "aliases"), name, entry)
    {
        const char *ca = json_string_value(json_object_get(entry, "ca_name"));
        if (ca == NULL || strcmp(ca, ca_name) != 0)
            continue;
        unsigned char *der = NULL;
        size_t len = 0;
        if (scepd_relay_get_b64(&der, &len, entry, "crl", 16u << 20) == SCEP_OK && der != NULL) {
            *out = malloc(len);
            if (*out != NULL) {
                memcpy(*out, der, len);
                *out_len = len;
                rc = SCEP_OK;
            }
        }
        OPENSSL_free(der);
        break;
    }
    json_decref(push);
    return rc;
}

/* GetCRL while no CA node answers: the CRL it pushed, when the request names its issuer. */
static int reply_pushed_crl(struct scepd_op *op, const scep_pkimessage *msg)
{
    json_t *entry = pushed_alias(relay_of(op), op->alias->name);
    const char *ca_name = json_string_value(json_object_get(entry, "ca_name"));
    unsigned char *der = NULL;
    size_t len = 0;
    X509_CRL *crl = NULL;
    int answered = 0;
    if (ca_name != NULL && pushed_crl(&der, &len, op->server, ca_name) == SCEP_OK) {
        const unsigned char *p = der;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
    }
    const X509_NAME *issuer = scep_pkimessage_issuer(msg);
    if (crl != NULL && issuer != NULL && X509_NAME_cmp(issuer, X509_CRL_get_issuer(crl)) == 0) {
        struct scepd_outcome outcome = {.status = SCEP_STATUS_SUCCESS, .crl = crl};
        scepd_reply(op, msg, &outcome);
        op->outcome = "stored";
        scepd_op_detail(op, "the CRL the CA node pushed");
        answered = 1;
    }
    X509_CRL_free(crl);
    free(der);
    json_decref(entry);
    return answered;
}

static void relay_pkiop(struct scepd_op *op)
{
    scep_pkimessage *msg = NULL;
    unsigned char *decoded = NULL;
    const unsigned char *der = NULL;
    size_t der_len = 0;
    if (scepd_pkiop_open_der(op, &msg, &decoded, &der, &der_len) != SCEP_OK)
        return;
    switch (scep_pkimessage_type(msg)) {
    case SCEP_MSG_PKCSREQ:
    case SCEP_MSG_RENEWALREQ:
        relay_enroll(op, msg, der, der_len);
        break;
    case SCEP_MSG_CERTPOLL:
        relay_poll(op, msg, der, der_len);
        break;
    case SCEP_MSG_GETCRL:
        if (!forward_now(op, msg, der, der_len, 0) && !reply_pushed_crl(op, msg)) {
            scepd_op_text(op, 503, "unavailable", "no CA node connected; try again later");
            op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        }
        break;
    case SCEP_MSG_GETCERT:
        if (!forward_now(op, msg, der, der_len, 0)) {
            scepd_op_text(op, 503, "unavailable", "no CA node connected; try again later");
            op->response->retry_after = SCEPD_OP_RETRY_AFTER;
        }
        break;
    default:
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "unsupported messageType");
        break;
    }
    scep_pkimessage_free(msg);
    OPENSSL_free(decoded);
}

/* The CA certificates the CA node pushed for this alias (the caller frees), or NULL. */
static STACK_OF(X509) * pushed_certs(struct scepd_relay *relay, const char *alias, const char *key)
{
    json_t *entry = pushed_alias(relay, alias);
    STACK_OF(X509) *certs = NULL;
    if (entry != NULL && decode_certs(&certs, json_object_get(entry, key)) < 0)
        certs = NULL;
    json_decref(entry);
    if (certs != NULL && sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        certs = NULL;
    }
    return certs;
}

static void not_yet(struct scepd_op *op)
{
    scepd_op_text(op, 503, "unavailable",
                  "the CA node has not connected to this relay yet; try again later");
    op->response->retry_after = SCEPD_OP_RETRY_AFTER;
}

/* GetCACert: the RA certificate(s) first, then the CA and its chain as the CA node pushed. */
static void relay_ca_cert(struct scepd_op *op)
{
    unsigned char *der = NULL;
    size_t len = 0;
    STACK_OF(X509) *cas = pushed_certs(relay_of(op), op->alias->name, "ca_certs");
    STACK_OF(X509) *bundle = sk_X509_new_null();
    if (cas == NULL) {
        not_yet(op);
        goto done;
    }
    const struct scepd_racert *ra = op->alias->ra;
    int ok = bundle != NULL && sk_X509_push(bundle, ra->enc_cert) > 0 &&
             (ra->sign_cert == ra->enc_cert || sk_X509_push(bundle, ra->sign_cert) > 0);
    for (int i = 0; ok && i < sk_X509_num(cas); i++)
        ok = sk_X509_push(bundle, sk_X509_value(cas, i)) > 0;
    if (!ok || scep_certs_only_build(&der, &len, bundle, NULL) < 0) {
        scepd_op_text(op, 500, "error", "cannot build the CA certificate reply");
        goto done;
    }
    (void)scepd_op_body(op, 200, "application/x-x509-ca-ra-cert", der, len);
    op->outcome = "ok";
done:
    OPENSSL_free(der);
    sk_X509_free(bundle);
    sk_X509_pop_free(cas, X509_free);
}

static void relay_ca_caps(struct scepd_op *op)
{
    json_t *entry = pushed_alias(relay_of(op), op->alias->name);
    scep_caps caps = op->alias->caps;
    if (json_is_true(json_object_get(entry, "renewal")))
        caps |= SCEP_CAP_RENEWAL;
    if (json_is_string(json_object_get(entry, "next_ca_reply")))
        caps |= SCEP_CAP_GET_NEXT_CA_CERT;
    json_decref(entry);
    scepd_op_caps_reply(op, caps);
}

/* GetNextCACert: the reply the CA node signed and pushed (RFC 8894 §4.7.1). */
static void relay_next_ca_cert(struct scepd_op *op)
{
    json_t *entry = pushed_alias(relay_of(op), op->alias->name);
    unsigned char *der = NULL;
    size_t len = 0;
    if (entry != NULL && scepd_relay_get_b64(&der, &len, entry, "next_ca_reply", 1u << 20) == 0 &&
        der != NULL) {
        (void)scepd_op_body(op, 200, "application/x-x509-next-ca-cert", der, len);
        op->outcome = "ok";
    } else {
        scepd_op_text(op, 404, "no_next_ca", "no next CA certificate");
    }
    OPENSSL_free(der);
    json_decref(entry);
}

void scepd_relay_operation(struct scepd_op *op)
{
    static const struct {
        const char *name;
        void (*handler)(struct scepd_op *op);
    } operations[] = {
        {"GetCACaps", relay_ca_caps},      {"GetCACert", relay_ca_cert},
        {"GetCACertChain", relay_ca_cert}, {"GetNextCACert", relay_next_ca_cert},
        {"PKIOperation", relay_pkiop},
    };
    if (relay_of(op) == NULL) {
        scepd_op_text(op, 503, "unavailable", "the relay is not running");
        return;
    }
    for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++) {
        if (strcmp(op->operation, operations[i].name) == 0) {
            operations[i].handler(op);
            return;
        }
    }
    scepd_op_text(op, 400, "bad_operation", "unknown operation");
}

static void relay_gauges(size_t *connections, int64_t *waiting, struct scepd_server *server)
{
    *connections = connected(server->relay);
    *waiting = scepd_relay_queue_waiting(server->relay->queue);
}

int scepd_relay_health(char *out, size_t size, struct scepd_server *server)
{
    struct scepd_relay *relay = server->relay;
    if (relay == NULL)
        return 0;
    size_t count = connected(relay);
    int64_t waiting = scepd_relay_queue_waiting(relay->queue);
    if (waiting < 0) {
        snprintf(out, size, "relay: the queue (relay_state) cannot be read\n");
        return 503;
    }
    if (count > 0)
        snprintf(out, size, "ok relay: CA node connected (%zu connections), %lld queued\n", count,
                 (long long)waiting);
    else
        snprintf(out, size, "ok relay: no CA node connected, requests are queued (%lld)\n",
                 (long long)waiting);
    return 200;
}

/* ---- the queue's drain, pings, purge ------------------------------------------------ */

/* Opens a queued request again with the RA key and sends it (the row keeps no content). */
static void drain_one(struct scepd_relay *relay, struct scepd_relay_row *row)
{
    const struct scepd_generation *generation = scepd_generation_acquire(relay->server);
    const struct scepd_alias *alias = scepd_generation_alias(generation, row->alias);
    scep_pkimessage *msg = NULL;
    json_t *frame = NULL, *answer = NULL;
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    scep_message_options options = {
        .max_size = (size_t)global->max_body,
        .flags = alias != NULL && alias->legacy ? SCEP_MSG_LEGACY : 0,
    };
    EVP_PKEY *key =
        alias != NULL && alias->ra != NULL ? scep_key_current(alias->ra->enc_key) : NULL;
    if (key == NULL ||
        scep_pkimessage_parse(&msg, row->message, row->message_len, NULL, NULL, &options) < 0 ||
        scep_pkimessage_decrypt(msg, &alias->ra->enc_cert, &key, 1, &options) < 0) {
        /* The alias is gone or its RA key changed: this will not get better. The client
         * hears FAILURE at its next poll instead of PENDING for ever. */
        scepd_log(SCEPD_LOG_WARN,
                  "event=relay_drain alias=%s detail=\"cannot open the request: %s\"", row->alias,
                  key == NULL ? "no such relay alias" : scep_error_message());
        answer = json_pack("{s:s, s:s, s:i, s:s}", "type", "answer", "status", "failure",
                           "fail_info", (int)SCEP_FAIL_BAD_REQUEST, "fail_info_text",
                           "the relay can no longer open this request; send it again");
        if (answer != NULL)
            store_answer(relay, row->id, answer);
        goto done;
    }
    if (scepd_relay_queue_set(relay->queue, row->id, SCEPD_RELAY_FORWARDED, NULL) < 0)
        goto done;
    frame =
        request_frame(row->alias, row->client, row->received, row->message, row->message_len, msg);
    int rc = frame != NULL ? exchange(&answer, relay, frame, relay->timeout, row->id) : SCEP_ENOMEM;
    if (rc == SCEP_OK)
        store_answer(relay, row->id, answer);
    else if (rc != SCEP_ETIMEOUT &&
             scepd_relay_queue_set(relay->queue, row->id, SCEPD_RELAY_QUEUED, NULL) < 0)
        scepd_log(SCEPD_LOG_ERROR, "event=relay_store_failed detail=\"%s\"", scep_error_message());
    char transaction_id[2 * SCEP_TRANSACTION_ID_MAX + 8];
    scepd_log_value(transaction_id, sizeof(transaction_id), row->transaction_id);
    scepd_log(SCEPD_LOG_INFO, "event=relay_drained alias=%s transaction_id=%s client=%s outcome=%s",
              row->alias, transaction_id, row->client,
              rc == SCEP_OK         ? (json_string_value(json_object_get(answer, "status"))
                                           ? json_string_value(json_object_get(answer, "status"))
                                           : "error")
              : rc == SCEP_ETIMEOUT ? "delayed"
                                    : "queued");
done:
    json_decref(frame);
    json_decref(answer);
    scep_pkimessage_free(msg);
    scepd_generation_release(generation);
}

static void ping_idle(struct scepd_relay *relay)
{
    time_t now = time(NULL);
    for (size_t n = 0; n < RELAY_CONNS_MAX; n++) {
        struct relay_conn *conn = NULL;
        pthread_mutex_lock(&relay->lock);
        for (size_t i = 0; i < relay->conn_count && conn == NULL; i++)
            if (!relay->conns[i]->busy && relay->conns[i]->last + SCEPD_RELAY_PING_INTERVAL <= now)
                conn = relay->conns[i];
        if (conn != NULL)
            conn->busy = 1;
        pthread_mutex_unlock(&relay->lock);
        if (conn == NULL)
            return;
        json_t *ping = json_pack("{s:s}", "type", "ping");
        json_t *pong = NULL;
        scepd_relay_socket_timeout(conn->fd, SCEPD_RELAY_HANDSHAKE_TIMEOUT);
        int rc = ping != NULL ? scepd_relay_send(conn->ssl, ping, relay->max_frame) : SCEP_ENOMEM;
        for (int frames = 0; rc == SCEP_OK && frames < 8; frames++) {
            rc =
                scepd_relay_recv(&pong, conn->ssl, relay->max_frame, SCEPD_RELAY_HANDSHAKE_TIMEOUT);
            if (rc < 0)
                break;
            const char *type = json_string_value(json_object_get(pong, "type"));
            int done = strcmp(type, "pong") == 0;
            if (strcmp(type, "push") == 0)
                apply_push(relay, pong);
            json_decref(pong);
            pong = NULL;
            if (done)
                break;
        }
        json_decref(ping);
        conn_give(relay, conn, rc == SCEP_OK);
    }
}

static void *keeper(void *arg)
{
    struct scepd_relay *relay = arg;
    time_t last_purge = 0;
    while (!atomic_load(&relay->stop)) {
        ping_idle(relay);
        int64_t after = 0;
        for (int n = 0; n < RELAY_DRAIN_BATCH && !atomic_load(&relay->stop) && connected(relay) > 0;
             n++) {
            struct scepd_relay_row *row = NULL;
            if (scepd_relay_queue_next(&row, relay->queue, after) != SCEP_OK)
                break;
            after = row->id;
            drain_one(relay, row);
            scepd_relay_row_free(row);
        }
        time_t now = time(NULL);
        if (now - last_purge >= 3600) {
            last_purge = now;
            if (scepd_relay_queue_purge(relay->queue, now - RELAY_KEEP_DELIVERED,
                                        now - RELAY_KEEP_ANY) < 0)
                scepd_log(SCEPD_LOG_WARN, "event=relay_purge_failed detail=\"%s\"",
                          scep_error_message());
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        pthread_mutex_lock(&relay->lock);
        if (!atomic_load(&relay->stop))
            (void)pthread_cond_timedwait(&relay->changed, &relay->lock, &deadline);
        pthread_mutex_unlock(&relay->lock);
    }
    return NULL;
}

/* ---- the listener ---------------------------------------------------------------------- */

static void address_text(char *out, size_t size, const struct sockaddr_storage *sa, socklen_t len)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)sa, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(out, size, "%.46s:%.8s", host, port);
    else
        snprintf(out, size, "-");
}

struct handshake {
    struct scepd_relay *relay;
    struct relay_conn *conn;
};

static void handshake_done(struct scepd_relay *relay, struct relay_conn *conn)
{
    pthread_mutex_lock(&relay->lock);
    for (size_t i = 0; i < relay->handshake_count; i++) {
        if (relay->handshakes[i] == conn) {
            relay->handshakes[i] = relay->handshakes[--relay->handshake_count];
            break;
        }
    }
    pthread_cond_broadcast(&relay->changed);
    pthread_mutex_unlock(&relay->lock);
}

/*
 * TLS and the CA node's first push, in a thread of its own: a peer that stalls its
 * handshake holds that thread for SCEPD_RELAY_HANDSHAKE_TIMEOUT, not the listener.
 */
static void *handshake(void *arg)
{
    struct handshake *h = arg;
    struct scepd_relay *relay = h->relay;
    struct relay_conn *conn = h->conn;
    free(h);
    json_t *hello = NULL;
    conn->ssl = SSL_new(relay->ctx);
    ERR_clear_error();
    if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1 || SSL_accept(conn->ssl) != 1) {
        char reason[256];
        scepd_relay_tls_reason(reason, sizeof(reason), conn->ssl);
        scepd_log(SCEPD_LOG_WARN, "event=relay_peer_refused addr=%s reason=\"%s\"", conn->addr,
                  reason);
        SSL_free(conn->ssl);
        conn->ssl = NULL;
        goto refused;
    }
    scepd_relay_peer_name(conn->peer, sizeof(conn->peer), conn->ssl);
    /* The CA node speaks first: what this relay is to serve (ca.c build_push). */
    if (scepd_relay_recv(&hello, conn->ssl, relay->max_frame, SCEPD_RELAY_HANDSHAKE_TIMEOUT) < 0 ||
        strcmp(json_string_value(json_object_get(hello, "type")), "push") != 0) {
        scepd_log(SCEPD_LOG_WARN, "event=relay_peer_refused addr=%s peer=%s reason=\"%s\"",
                  conn->addr, conn->peer,
                  hello == NULL ? scep_error_message() : "the first frame is not a push");
        goto refused;
    }
    apply_push(relay, hello);
    json_decref(hello);
    conn->last = time(NULL);
    /* Once in the pool, the connection is anyone's: what the log needs is copied first. */
    char peer[sizeof(conn->peer)], addr[sizeof(conn->addr)];
    memcpy(peer, conn->peer, sizeof(peer));
    memcpy(addr, conn->addr, sizeof(addr));
    pthread_mutex_lock(&relay->lock);
    int room = relay->conn_count < RELAY_CONNS_MAX && !atomic_load(&relay->stop);
    if (room)
        relay->conns[relay->conn_count++] = conn;
    size_t count = relay->conn_count;
    pthread_mutex_unlock(&relay->lock);
    handshake_done(relay, conn);
    if (!room) {
        scepd_log(SCEPD_LOG_WARN,
                  "event=relay_peer_refused addr=%s reason=\"too many connections\"", conn->addr);
        conn_close(conn);
        return NULL;
    }
    scepd_log(SCEPD_LOG_INFO, "event=relay_connected peer=%s addr=%s connections=%zu", peer, addr,
              count);
    return NULL;

refused:
    json_decref(hello);
    handshake_done(relay, conn);
    conn_close(conn);
    return NULL;
}

static void accept_one(struct scepd_relay *relay, int listen_fd)
{
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof(sa);
    int fd = accept(listen_fd, (struct sockaddr *)&sa, &sa_len);
    if (fd < 0)
        return;
    struct relay_conn *conn = calloc(1, sizeof(*conn));
    struct handshake *h = calloc(1, sizeof(*h));
    if (conn == NULL || h == NULL) {
        free(conn);
        free(h);
        close(fd);
        return;
    }
    conn->fd = fd;
    conn->started = time(NULL);
    address_text(conn->addr, sizeof(conn->addr), &sa, sa_len);
    scepd_relay_socket_timeout(fd, SCEPD_RELAY_HANDSHAKE_TIMEOUT);
    *h = (struct handshake){relay, conn};
    pthread_mutex_lock(&relay->lock);
    int room = relay->handshake_count < RELAY_HANDSHAKES_MAX;
    if (room)
        relay->handshakes[relay->handshake_count++] = conn;
    pthread_mutex_unlock(&relay->lock);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!room || pthread_create(&thread, &attr, handshake, h) != 0) {
        if (room)
            handshake_done(relay, conn);
        scepd_log(SCEPD_LOG_WARN, "event=relay_peer_refused addr=%s reason=\"too many handshakes\"",
                  conn->addr);
        free(h);
        conn_close(conn);
    }
    pthread_attr_destroy(&attr);
}

/* Ends the handshakes past their deadline: their threads see the socket shut and let go
 * of their slots (a handshake leaves the list under the lock before its socket closes). */
static void reap_handshakes(struct scepd_relay *relay)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&relay->lock);
    for (size_t i = 0; i < relay->handshake_count; i++)
        if (now - relay->handshakes[i]->started >= RELAY_HANDSHAKE_DEADLINE)
            shutdown(relay->handshakes[i]->fd, SHUT_RDWR);
    pthread_mutex_unlock(&relay->lock);
}

static void *acceptor(void *arg)
{
    struct scepd_relay *relay = arg;
    struct pollfd fds[RELAY_LISTEN_MAX];
    for (size_t i = 0; i < relay->listen_count; i++)
        fds[i] = (struct pollfd){.fd = relay->listen_fds[i], .events = POLLIN};
    while (!atomic_load(&relay->stop)) {
        reap_handshakes(relay);
        int ready = poll(fds, (nfds_t)relay->listen_count, 1000);
        for (size_t i = 0; ready > 0 && i < relay->listen_count; i++)
            if (fds[i].revents & POLLIN)
                accept_one(relay, fds[i].fd);
    }
    return NULL;
}

static int bind_one(int *out, const char *address)
{
    char host[256];
    unsigned port = 0;
    char service[16];
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    if (scepd_http_split_listen(host, sizeof(host), &port, address) < 0)
        return scep_fail(SCEP_ECONFIG, "relay_listen %s: not HOST:PORT", address);
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(host, service, &hints, &found) != 0 || found == NULL)
        return scep_fail(SCEP_ECONFIG, "relay_listen %s: unknown address", address);
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
    int one = 1;
    int rc = SCEP_OK;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        rc = scep_fail(SCEP_ENETWORK, "relay_listen %s: %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
    } else {
        *out = fd;
    }
    freeaddrinfo(found);
    return rc;
}

static void relay_free(struct scepd_relay *relay)
{
    if (relay == NULL)
        return;
    for (size_t i = 0; i < relay->listen_count; i++)
        close(relay->listen_fds[i]);
    for (size_t i = 0; i < relay->conn_count; i++)
        conn_close(relay->conns[i]);
    free(relay->push);
    scepd_relay_queue_close(relay->queue);
    SSL_CTX_free(relay->ctx);
    pthread_cond_destroy(&relay->changed);
    pthread_mutex_destroy(&relay->lock);
    free(relay);
}

int scepd_relay_node_start(struct scepd_server *server, const struct scep_config_global *global)
{
    int rc = SCEP_OK;
    char path[4200];
    char *push = NULL;
    struct scepd_relay *relay = calloc(1, sizeof(*relay));
    ENSURE_ALLOC(relay);
    pthread_mutex_init(&relay->lock, NULL);
    pthread_cond_init(&relay->changed, NULL);
    relay->server = server;
    relay->max_frame = scepd_relay_frame_max(global->max_body);
    relay->timeout = (int)global->relay_timeout;
    atomic_init(&relay->next_id, 1);
    if (global->relay_state != NULL && global->relay_state[0] != '\0')
        snprintf(path, sizeof(path), "%s", global->relay_state);
    else
        snprintf(path, sizeof(path), "%s/relay.db", global->state_dir);
    GUARD(scepd_relay_queue_open(&relay->queue, path));
    scepd_relay_queue_bound(relay->queue, (int64_t)global->relay_queue_max,
                            (int64_t)global->relay_queue_per_client);
    GUARD(scepd_relay_push_load(&push, relay->queue));
    if (push != NULL) {
        relay->push = push;
        push = NULL;
        scepd_log(SCEPD_LOG_INFO, "event=relay_push_loaded detail=\"the CA data last pushed\"");
    }
    GUARD(scepd_relay_tls_context(&relay->ctx, global, 1));
    for (size_t i = 0; i < global->relay_listen.count && i < RELAY_LISTEN_MAX; i++) {
        GUARD(bind_one(&relay->listen_fds[i], global->relay_listen.items[i]));
        relay->listen_count++;
    }
    ENSURE(pthread_create(&relay->accept_thread, NULL, acceptor, relay) == 0, SCEP_ENOMEM,
           "cannot start the relay listener");
    if (pthread_create(&relay->keeper_thread, NULL, keeper, relay) != 0) {
        atomic_store(&relay->stop, 1);
        pthread_join(relay->accept_thread, NULL);
        ENSURE(0, SCEP_ENOMEM, "cannot start the relay's queue thread");
    }
    relay->threads_started = 1;
    scepd_log(SCEPD_LOG_INFO, "event=relay_listening listen=%s state=%s waiting=%lld",
              global->relay_listen.items[0], path,
              (long long)scepd_relay_queue_waiting(relay->queue));
    server->relay = relay;
    server->crl_source = pushed_crl;
    server->relay_gauges = relay_gauges;
    relay = NULL;

cleanup:
    free(push);
    relay_free(relay);
    return rc;
}

void scepd_relay_node_stop(struct scepd_server *server)
{
    struct scepd_relay *relay = server->relay;
    if (relay == NULL)
        return;
    atomic_store(&relay->stop, 1);
    pthread_mutex_lock(&relay->lock);
    pthread_cond_broadcast(&relay->changed);
    /* Late readers wake when their sockets are shut. */
    for (size_t i = 0; i < relay->conn_count; i++)
        shutdown(relay->conns[i]->fd, SHUT_RDWR);
    for (size_t i = 0; i < relay->handshake_count; i++)
        shutdown(relay->handshakes[i]->fd, SHUT_RDWR);
    pthread_mutex_unlock(&relay->lock);
    if (relay->threads_started) {
        pthread_join(relay->accept_thread, NULL);
        pthread_join(relay->keeper_thread, NULL);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&relay->lock);
    while (relay->late > 0 || relay->handshake_count > 0)
        if (pthread_cond_timedwait(&relay->changed, &relay->lock, &deadline) == ETIMEDOUT)
            break;
    unsigned late = relay->late + (unsigned)relay->handshake_count;
    pthread_mutex_unlock(&relay->lock);
    server->relay_gauges = NULL;
    server->relay = NULL;
    server->crl_source = NULL;
    if (late == 0)
        relay_free(relay); /* else a stuck reader still holds it: the process is ending */
}
