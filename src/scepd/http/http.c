#include "scepd/http/http.h"
#include "scepd/log.h"
#include "util/error_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCEPD_MAX_LISTENERS 16

/* libmicrohttpd's per-connection pool: request line, headers and read buffer; larger
 * headers get 431. One page over libmicrohttpd's 32 KiB default because it takes pools up
 * to 32 KiB from malloc and larger ones from mmap: a mapped pool goes back to the system
 * when its connection closes, where 1,000 malloc'd ones left the heap 32 MiB larger and
 * fragmented, growing from one burst of connections to the next (bench/rss.sh). */
#define SCEPD_CONNECTION_MEMORY (32 * 1024 + 4096)
/* How often connections are checked against request_timeout, in milliseconds. */
#define SCEPD_SWEEP_MS 200
/* Refused connections and cut requests are logged at most once per this many seconds. */
#define SCEPD_REFUSAL_REPORT_SECONDS 10
/* Bodies up to this size (a pkiMessage is a few KiB) may use the part of body_memory that
 * large bodies cannot. */
#define SCEPD_SMALL_BODY (64 * 1024)

size_t scepd_http_large_body_budget(size_t body_memory)
{
    return body_memory - body_memory / 8;
}

/* What a client refused for lack of body memory is told to wait, in seconds. */
#define SCEPD_RETRY_AFTER "10"

/* One accepted connection, from libmicrohttpd's connect notification to its close. */
struct connection_state {
    struct connection_state *prev;
    struct connection_state *next;
    MHD_socket fd;
    /* Monotonic milliseconds when the current request began: the accept, then the end
     * of the previous response on a kept-alive connection. Written by the worker,
     * read by the sweeper. */
    atomic_llong request_started_ms;
    int cut;
};

enum refusal_kind {
    REFUSED_TOTAL,
    REFUSED_PER_CLIENT,
    REFUSED_BODY_MEMORY,
    CUT_TIMEOUT,
    REFUSAL_KINDS
};

/* Each kind's log event, up to the `=` of its count. */
static const char *const refusal_events[REFUSAL_KINDS] = {
    "event=connection_limit limit=max_connections refused",
    "event=connection_limit limit=max_connections_per_client refused",
    "event=body_memory_limit refused",
    "event=request_timeout cut",
};

static int listen_socket(int fd)
{
    return listen(fd, SOMAXCONN);
}

struct scepd_http {
    /* Bound by scepd_http_bind; daemons[i] serves fds[i] once scepd_http_serve ran. */
    int fds[SCEPD_MAX_LISTENERS];
    unsigned ports[SCEPD_MAX_LISTENERS];
    unsigned ipv6[SCEPD_MAX_LISTENERS];
    size_t fd_count;
    struct MHD_Daemon *daemons[SCEPD_MAX_LISTENERS];
    size_t daemon_count;
    scepd_http_handler handler;
    void *payload;
    size_t max_body;
    int allow_delete;
    int (*answer_inline)(const struct scepd_http_request *request);
    atomic_int in_flight;

    unsigned max_connections;
    unsigned request_timeout;
    size_t body_memory;
    atomic_size_t body_reserved;

    /* Guards the connection list, `live` and the sweeper's stop flag. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct connection_state *connections;
    unsigned live;
    int stopping;
    int sweeper_running;
    pthread_t sweeper;

    atomic_ulong refused[REFUSAL_KINDS];
    atomic_llong last_report_ms;

    /* Complete requests waiting for a worker, oldest first; guarded by queue_lock. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_wake;
    struct request_ctx *queue_head;
    struct request_ctx *queue_tail;
    int queue_closed;
    pthread_t *workers;
    unsigned worker_count;
};

/* Per-request state kept by libmicrohttpd between calls of the access handler. */
struct request_ctx {
    unsigned char *body;
    size_t len;
    size_t cap;
    size_t reserved; /* bytes of http->body_memory held for this body */
    size_t declared; /* Content-Length, 0 when absent */
    size_t discarded;
    int too_big;
    int answered;
    /* Handed to a worker: the connection is suspended until the reply is ready. */
    int queued;
    /* Set by the worker (release) before it resumes the connection; read (acquire) by
     * libmicrohttpd's thread, which then owns `reply`. */
    atomic_int replied;
    struct request_ctx *queue_next;
    struct MHD_Connection *connection;
    char client[SCEPD_CLIENT_ADDR_MAX];
    struct scepd_http_request request;
    struct scepd_http_response reply;
};

int scepd_http_split_listen(char *host, size_t host_size, unsigned *port, const char *listen)
{
    const char *colon;
    const char *host_start = listen;
    size_t host_len;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        host_start = listen + 1;
        host_len = (size_t)(end - host_start);
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return -1;
        host_len = (size_t)(colon - listen);
    }
    if (host_len == 0 || host_len >= host_size)
        return -1;
    char *end = NULL;
    long value = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || value < 0 || value > 65535)
        return -1;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    *port = (unsigned)value;
    return 0;
}

/* Leaves query values exactly as sent: SCEP's base64 needs its own, lenient decoding. */
static size_t keep_raw(void *cls, struct MHD_Connection *connection, char *value)
{
    (void)cls;
    (void)connection;
    return strlen(value);
}

static enum MHD_Result queue_text(struct MHD_Connection *connection, unsigned status,
                                  const char *text)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static void client_address(char *out, size_t size, struct MHD_Connection *connection)
{
    snprintf(out, size, "-");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL)
        return;
    const struct sockaddr *sa = info->client_addr;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, size, "-");
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes what was refused since the last report, at most once per interval, so a flood
 * of refused connections costs a counter increment each rather than a log line each. */
static void report_refusals(struct scepd_http *http)
{
    long long now = now_ms();
    long long last = atomic_load(&http->last_report_ms);
    if (now - last < SCEPD_REFUSAL_REPORT_SECONDS * 1000LL ||
        !atomic_compare_exchange_strong(&http->last_report_ms, &last, now))
        return;
    for (int kind = 0; kind < REFUSAL_KINDS; kind++) {
        unsigned long count = atomic_exchange(&http->refused[kind], 0);
        if (count > 0)
            scepd_log(SCEPD_LOG_WARN, "%s=%lu interval=%ds", refusal_events[kind], count,
                      SCEPD_REFUSAL_REPORT_SECONDS);
    }
}

static void note_refusal(struct scepd_http *http, enum refusal_kind kind)
{
    atomic_fetch_add(&http->refused[kind], 1);
    report_refusals(http);
}

/*
 * Holds `want` bytes of the shared body budget for this request (on top of what it
 * already holds); 0, or -1 when the budget would be exceeded. A large body may take no
 * more than all but SCEPD_SMALL_BODY_SHARE of the budget: stalled uploads of large
 * bodies, however many, leave room for the few kilobytes of an honest pkiMessage.
 */
static int reserve_body(struct scepd_http *http, struct request_ctx *ctx, size_t want)
{
    if (want <= ctx->reserved)
        return 0;
    size_t more = want - ctx->reserved;
    size_t limit = want > SCEPD_SMALL_BODY ? scepd_http_large_body_budget(http->body_memory)
                                           : http->body_memory;
    size_t held = atomic_load(&http->body_reserved);
    for (int attempt = 0; attempt < 1000; attempt++) {
        if (more > limit || held > limit - more)
            return -1;
        if (atomic_compare_exchange_weak(&http->body_reserved, &held, held + more)) {
            ctx->reserved = want;
            return 0;
        }
    }
    return -1;
}

static void release_body(struct scepd_http *http, struct request_ctx *ctx)
{
    atomic_fetch_sub(&http->body_reserved, ctx->reserved);
    ctx->reserved = 0;
}

/*
 * max_connections is counted here, over every listener and worker thread, from the
 * connect and close notifications. libmicrohttpd's own MHD_OPTION_CONNECTION_LIMIT is
 * per listener and split evenly between the worker threads, so it would refuse a
 * connection while another worker still had room; it stays as a backstop set above
 * ours. Refusing here makes libmicrohttpd close the socket at once, before it costs a
 * pool or a slot.
 */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    struct scepd_http *http = cls;
    if (http->max_connections == 0)
        return MHD_YES;
    pthread_mutex_lock(&http->lock);
    int full = http->live >= http->max_connections;
    pthread_mutex_unlock(&http->lock);
    if (!full)
        return MHD_YES;
    note_refusal(http, REFUSED_TOTAL);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct scepd_http *http = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct connection_state *state = calloc(1, sizeof(*state));
        if (state == NULL || info == NULL) {
            /* Untracked connections would escape both limits: end this one now. */
            free(state);
            if (info != NULL)
                shutdown(info->connect_fd, SHUT_RDWR);
            return;
        }
        state->fd = info->connect_fd;
        atomic_store(&state->request_started_ms, now_ms());
        pthread_mutex_lock(&http->lock);
        state->next = http->connections;
        if (http->connections != NULL)
            http->connections->prev = state;
        http->connections = state;
        http->live++;
        pthread_mutex_unlock(&http->lock);
        *socket_context = state;
        return;
    }
    struct connection_state *state = *socket_context;
    if (state == NULL)
        return;
    /* libmicrohttpd closes the socket only after this returns, so the sweeper, which
     * shuts sockets down under the same lock, never touches a closed descriptor. */
    pthread_mutex_lock(&http->lock);
    if (state->prev != NULL)
        state->prev->next = state->next;
    else
        http->connections = state->next;
    if (state->next != NULL)
        state->next->prev = state->prev;
    http->live--;
    pthread_mutex_unlock(&http->lock);
    free(state);
    *socket_context = NULL;
}

/*
 * Enforces request_timeout. The listeners run libmicrohttpd's internal polling with a
 * thread pool (epoll), not a thread per connection, so a slow client costs a socket and
 * a pool rather than a thread; but MHD_OPTION_CONNECTION_TIMEOUT restarts at every byte
 * received, and libmicrohttpd 0.9.75 has no deadline per request nor a call to close a
 * connection from outside. So this thread shuts down the socket of a connection whose
 * request is older than request_timeout: its worker then reads end-of-file and closes
 * and frees it in its own thread, as for any client that went away. Closing the
 * descriptor here instead would race with the worker's epoll set.
 */
static void *sweep_connections(void *arg)
{
    struct scepd_http *http = arg;
    pthread_mutex_lock(&http->lock);
    while (!http->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SCEPD_SWEEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&http->wake, &http->lock, &until);
        if (http->stopping)
            break;
        long long deadline = now_ms() - (long long)http->request_timeout * 1000;
        unsigned cut = 0;
        /* Bounded by the connection count, itself bounded by max_connections. */
        for (struct connection_state *state = http->connections; state != NULL;
             state = state->next) {
            if (state->cut || atomic_load(&state->request_started_ms) > deadline)
                continue;
            shutdown(state->fd, SHUT_RDWR);
            state->cut = 1;
            cut++;
        }
        pthread_mutex_unlock(&http->lock);
        if (cut > 0)
            atomic_fetch_add(&http->refused[CUT_TIMEOUT], cut);
        report_refusals(http);
        pthread_mutex_lock(&http->lock);
    }
    pthread_mutex_unlock(&http->lock);
    return NULL;
}

static int append_body(struct scepd_http *http, struct request_ctx *ctx, const char *data,
                       size_t size)
{
    size_t max_body = http->max_body;
    if (ctx->too_big || size > max_body - ctx->len) {
        ctx->too_big = 1;
        ctx->discarded += size;
        return 0;
    }
    if (ctx->len + size > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : ctx->declared ? ctx->declared : 16 * 1024;
        while (cap < ctx->len + size)
            cap *= 2;
        if (cap > max_body)
            cap = max_body;
        /* A declared length was reserved before the body was read; a chunked body
         * reserves as it grows, and one that outgrows the budget ends its connection. */
        if (http->body_memory > 0 && reserve_body(http, ctx, cap) < 0) {
            note_refusal(http, REFUSED_BODY_MEMORY);
            return -1;
        }
        unsigned char *grown = realloc(ctx->body, cap);
        if (grown == NULL)
            return -1;
        ctx->body = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->body + ctx->len, data, size);
    ctx->len += size;
    return 0;
}

/* 503 with Retry-After, and the connection closed after it: a client whose body does not
 * fit the shared budget now may try again once others have finished. */
static enum MHD_Result queue_busy(struct MHD_Connection *connection)
{
    static const char text[] = "the server is busy, try again later\n";
    struct MHD_Response *response =
        MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, SCEPD_RETRY_AFTER);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result result = MHD_queue_response(connection, MHD_HTTP_SERVICE_UNAVAILABLE, response);
    MHD_destroy_response(response);
    return result;
}

/* A reply body that holds a secret, for libmicrohttpd to wipe when it is done with it. */
struct wiped_body {
    unsigned char *data;
    size_t len;
};

static void free_wiped_body(void *cls)
{
    struct wiped_body *wiped = cls;
    OPENSSL_cleanse(wiped->data, wiped->len);
    free(wiped->data);
    free(wiped);
}

/* Frees a reply body not handed to libmicrohttpd, wiped first when it holds a secret. */
static void free_reply_body(struct scepd_http_response *reply)
{
    if (reply->body != NULL && reply->body_secret)
        OPENSSL_cleanse(reply->body, reply->body_len);
    free(reply->body);
    reply->body = NULL;
}

/* Queues a handler's reply; the body passes to libmicrohttpd. */
static enum MHD_Result queue_reply(struct MHD_Connection *connection,
                                   struct scepd_http_response *reply)
{
    struct MHD_Response *response = NULL;
    if (reply->body != NULL && reply->body_secret) {
        struct wiped_body *wiped = malloc(sizeof(*wiped));
        if (wiped != NULL) {
            *wiped = (struct wiped_body){.data = reply->body, .len = reply->body_len};
            response = MHD_create_response_from_buffer_with_free_callback_cls(
                reply->body_len, reply->body, free_wiped_body, wiped);
            if (response == NULL)
                free(wiped);
        }
    } else if (reply->body != NULL) {
        response =
            MHD_create_response_from_buffer(reply->body_len, reply->body, MHD_RESPMEM_MUST_FREE);
    } else {
        response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (response == NULL) {
        free_reply_body(reply);
        return MHD_NO;
    }
    reply->body = NULL;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    if (reply->retry_after != NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, reply->retry_after);
    for (size_t i = 0; reply->headers != NULL && i < reply->header_count; i++)
        MHD_add_response_header(response, reply->headers[i].name, reply->headers[i].value);
    enum MHD_Result result = MHD_queue_response(connection, reply->status, response);
    MHD_destroy_response(response);
    return result;
}

/*
 * Hands a complete request to the workers; 0 when there are none (or they are stopping)
 * and the caller answers it itself. libmicrohttpd keeps a kept-alive connection on the
 * thread that accepted it, so answering there would tie each client's RSA work and
 * commits to one thread: a few busy connections could share one core while the other
 * idles, and a thread waiting for a commit could not read other requests. The
 * connection is suspended before the request is visible to a worker, so the worker's
 * resume always follows the suspend.
 */
static int enqueue(struct scepd_http *http, struct request_ctx *ctx)
{
    if (http->worker_count == 0)
        return 0;
    pthread_mutex_lock(&http->queue_lock);
    if (http->queue_closed) {
        pthread_mutex_unlock(&http->queue_lock);
        return 0;
    }
    ctx->queued = 1;
    MHD_suspend_connection(ctx->connection);
    ctx->queue_next = NULL;
    if (http->queue_tail != NULL)
        http->queue_tail->queue_next = ctx;
    else
        http->queue_head = ctx;
    http->queue_tail = ctx;
    pthread_cond_signal(&http->queue_wake);
    pthread_mutex_unlock(&http->queue_lock);
    return 1;
}

/* A worker: answers queued requests until the queue is closed and empty. */
static void *run_worker(void *arg)
{
    struct scepd_http *http = arg;
    pthread_mutex_lock(&http->queue_lock);
    for (;;) {
        while (http->queue_head == NULL && !http->queue_closed)
            pthread_cond_wait(&http->queue_wake, &http->queue_lock);
        struct request_ctx *ctx = http->queue_head;
        if (ctx == NULL)
            break;
        http->queue_head = ctx->queue_next;
        if (http->queue_head == NULL)
            http->queue_tail = NULL;
        pthread_mutex_unlock(&http->queue_lock);
        http->handler(http->payload, &ctx->request, &ctx->reply);
        struct MHD_Connection *connection = ctx->connection;
        /* After the resume the context belongs to libmicrohttpd's thread again. */
        atomic_store_explicit(&ctx->replied, 1, memory_order_release);
        MHD_resume_connection(connection);
        pthread_mutex_lock(&http->queue_lock);
    }
    pthread_mutex_unlock(&http->queue_lock);
    return NULL;
}

/* Closes the queue; the workers answer what is in it, resume those connections, and end. */
static void stop_workers(struct scepd_http *http)
{
    pthread_mutex_lock(&http->queue_lock);
    http->queue_closed = 1;
    pthread_cond_broadcast(&http->queue_wake);
    pthread_mutex_unlock(&http->queue_lock);
    for (unsigned i = 0; i < http->worker_count; i++)
        pthread_join(http->workers[i], NULL);
    http->worker_count = 0;
    free(http->workers);
    http->workers = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct scepd_http *http = cls;
    struct request_ctx *ctx = *con_cls;

    if (ctx == NULL) {
        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL)
            return MHD_NO;
        *con_cls = ctx;
        atomic_fetch_add(&http->in_flight, 1);
        if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
            strcmp(method, "HEAD") != 0 && !(http->allow_delete && strcmp(method, "DELETE") == 0)) {
            ctx->answered = 1;
            return queue_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                              "only GET and POST are supported\n");
        }
        /* A declared length over the limit is refused before reading the body. */
        const char *length =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Length");
        if (length != NULL) {
            char *end = NULL;
            unsigned long long declared = strtoull(length, &end, 10);
            if (end != length && declared > http->max_body) {
                ctx->answered = 1;
                return queue_text(connection, MHD_HTTP_CONTENT_TOO_LARGE,
                                  "request body exceeds the size limit\n");
            }
            if (end != length)
                ctx->declared = (size_t)declared;
        }
        /* The whole declared body is reserved before a byte of it is read, so the
         * budget refuses at once rather than after buffering part of it. */
        if (ctx->declared > 0 && http->body_memory > 0 &&
            reserve_body(http, ctx, ctx->declared) < 0) {
            note_refusal(http, REFUSED_BODY_MEMORY);
            ctx->answered = 1;
            return queue_busy(connection);
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        if (!ctx->answered && append_body(http, ctx, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        /* Chunked uploads have no declared length: stop reading a flood. */
        if (ctx->discarded > 4 * http->max_body)
            return MHD_NO;
        return MHD_YES;
    }

    if (ctx->queued) {
        /* Called again after the worker resumed the connection (or spuriously before). */
        if (!atomic_load_explicit(&ctx->replied, memory_order_acquire))
            return MHD_YES;
        ctx->queued = 0;
        return queue_reply(connection, &ctx->reply);
    }
    if (ctx->answered)
        return MHD_YES;
    ctx->answered = 1;
    if (ctx->too_big)
        return queue_text(connection, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request body exceeds the size limit\n");

    client_address(ctx->client, sizeof(ctx->client), connection);
    ctx->connection = connection;
    ctx->request = (struct scepd_http_request){
        .method = method,
        .path = url,
        .operation = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "operation"),
        .message = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "message"),
        .body = ctx->body,
        .body_len = ctx->len,
        .client_addr = ctx->client,
        .connection = connection,
    };
    ctx->reply = (struct scepd_http_response){.status = 500, .content_type = "text/plain"};
    if ((http->answer_inline == NULL || !http->answer_inline(&ctx->request)) && enqueue(http, ctx))
        return MHD_YES;
    http->handler(http->payload, &ctx->request, &ctx->reply);
    return queue_reply(connection, &ctx->reply);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct scepd_http *http = cls;
    struct request_ctx *ctx = *con_cls;
    /* A kept-alive connection's next request gets its own request_timeout. */
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info != NULL && info->socket_context != NULL) {
        struct connection_state *state = info->socket_context;
        atomic_store(&state->request_started_ms, now_ms());
    }
    if (ctx == NULL)
        return;
    release_body(http, ctx);
    /* A request body may carry a password or an enrollment code (the admin API). */
    if (ctx->body != NULL)
        OPENSSL_cleanse(ctx->body, ctx->len);
    free(ctx->body);
    /* A reply whose client went away before it could be queued. */
    free_reply_body(&ctx->reply);
    free(ctx);
    *con_cls = NULL;
    atomic_fetch_sub(&http->in_flight, 1);
}

/* libmicrohttpd's messages are printf formats with their arguments in ap. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct scepd_http *http = cls;
    char text[512];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n <= 0)
        return;
    /* libmicrohttpd says this for each connection over MHD_OPTION_PER_IP_CONNECTION_LIMIT
     * (its total limit is set above ours and does not fire first): counted, not logged
     * one line per connection. */
    if (strncmp(text, "Server reached connection limit", 31) == 0) {
        note_refusal(http, REFUSED_PER_CLIENT);
        return;
    }
    /* One line per connection that a client dropped, or that request_timeout, body_memory
     * or max_body ended: a flood of those would flood the log, and the limits already
     * report their counts. */
    static const char *const per_connection[] = {
        "Connection socket is closed",
        "Connection was closed by remote side",
        "Application reported internal error",
    };
    enum scepd_log_level level = SCEPD_LOG_WARN;
    for (size_t i = 0; i < sizeof(per_connection) / sizeof(per_connection[0]); i++)
        if (strncmp(text, per_connection[i], strlen(per_connection[i])) == 0)
            level = SCEPD_LOG_DEBUG;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    scepd_log(level, "event=http_error detail=\"%s\"", text);
}

int scepd_http_unescape(char *text, int plus_is_space)
{
    for (char *p = text; *p != '\0'; p++) {
        if (*p == '+' && plus_is_space)
            *p = ' ';
        else if (*p == '%' &&
                 (OPENSSL_hexchar2int((unsigned char)p[1]) < 0 ||
                  OPENSSL_hexchar2int((unsigned char)p[2]) < 0 || (p[1] == '0' && p[2] == '0')))
            return -1; /* MHD_http_unescape would keep such a '%' as it is */
    }
    size_t len = MHD_http_unescape(text);
    return strlen(text) == len ? 0 : -1;
}

int scepd_http_query_text(char *out, size_t size, const struct scepd_http_request *request,
                          const char *name)
{
    const char *raw = scepd_http_query(request, name);
    if (size > 0)
        out[0] = '\0';
    if (raw == NULL)
        return 0;
    size_t len = strlen(raw);
    if (len >= size)
        return -1;
    memcpy(out, raw, len + 1);
    return scepd_http_unescape(out, 1) < 0 ? -1 : 1;
}

const char *scepd_http_query(const struct scepd_http_request *request, const char *name)
{
    if (request->connection == NULL)
        return NULL;
    return MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *scepd_http_header(const struct scepd_http_request *request, const char *name)
{
    if (request->connection == NULL)
        return NULL;
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

/* Binds and listens on one address; the socket waits for scepd_http_serve. */
static int bind_listener(struct scepd_http *http, const char *listen)
{
    char host[256];
    unsigned port = 0;
    if (scepd_http_split_listen(host, sizeof(host), &port, listen) < 0)
        return scep_fail(SCEP_ECONFIG, "listen address \"%s\" is not HOST:PORT or [V6]:PORT",
                         listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addrs = NULL;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", port);
    int gai = getaddrinfo(host, port_text, &hints, &addrs);
    if (gai != 0)
        return scep_fail(SCEP_ECONFIG, "cannot resolve listen address \"%s\": %s", listen,
                         gai_strerror(gai));
    int rc = SCEP_OK;
    int one = 1;
    int fd = socket(addrs->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ENSURE(fd >= 0, SCEP_EIO, "cannot listen on %s: socket: %s", listen, strerror(errno));
    ENSURE(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, SCEP_EIO,
           "cannot listen on %s: SO_REUSEADDR: %s", listen, strerror(errno));
    /* As libmicrohttpd does without MHD_USE_DUAL_STACK: [::]:PORT is IPv6 only. */
    if (addrs->ai_family == AF_INET6)
        ENSURE(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0, SCEP_EIO,
               "cannot listen on %s: IPV6_V6ONLY: %s", listen, strerror(errno));
    ENSURE(bind(fd, addrs->ai_addr, addrs->ai_addrlen) == 0, SCEP_EIO,
           "cannot listen on %s: bind: %s", listen, strerror(errno));
    ENSURE(listen_socket(fd) == 0, SCEP_EIO, "cannot listen on %s: listen: %s", listen,
           strerror(errno));
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    ENSURE(getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0, SCEP_EIO,
           "cannot listen on %s: getsockname: %s", listen, strerror(errno));
    http->ports[http->fd_count] = bound.ss_family == AF_INET6
                                      ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    http->ipv6[http->fd_count] = addrs->ai_family == AF_INET6;
    http->fds[http->fd_count++] = fd;
    fd = -1;
cleanup:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(addrs);
    return rc;
}

/* Starts libmicrohttpd's threads on bound socket `index`. */
static int serve_listener(struct scepd_http *http, size_t index, unsigned threads,
                          const struct scepd_http_options *options, const char *tls_cert,
                          const char *tls_key)
{
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (http->ipv6[index])
        flags |= MHD_USE_IPv6;
    if (tls_cert != NULL)
        flags |= MHD_USE_TLS;
    if (http->worker_count > 0)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    /* The backstop is split evenly between the worker threads: each gets room for all of
     * max_connections (and the few accepted while accept_policy's count catches up). */
    unsigned backstop =
        options->max_connections == 0 ? 0 : threads * (options->max_connections + threads);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, 0, accept_policy, http, on_request, http, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, http,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)http->fds[index], MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SCEPD_CONNECTION_MEMORY,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, options->max_connections_per_client,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, http, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, http, MHD_OPTION_UNESCAPE_CALLBACK, keep_raw, NULL,
        /* HTTP/1.0 clients without Host and odd requests from devices are served. */
        MHD_OPTION_STRICT_FOR_CLIENT, -1,
        /* Without a limit of ours this slot repeats the option above (same value), so
         * libmicrohttpd keeps its default connection limit. */
        backstop > 0 ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_STRICT_FOR_CLIENT,
        backstop > 0 ? backstop : (unsigned)-1,
        /* Ends the options early when there is no TLS. */
        tls_cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, tls_key, MHD_OPTION_END);
    if (daemon == NULL) {
        /* libmicrohttpd may have closed it: leaked rather than closed twice. */
        http->fds[index] = -1;
        return scep_fail(SCEP_EIO, "cannot serve on port %u", http->ports[index]);
    }
    http->daemons[http->daemon_count++] = daemon;
    return SCEP_OK;
}

int scepd_http_bind(struct scepd_http **out, const struct scepd_http_options *options)
{
    int rc = SCEP_OK;
    struct scepd_http *http = NULL;
    ENSURE(options->listen_count > 0 && options->listen_count <= SCEPD_MAX_LISTENERS, SCEP_ECONFIG,
           "between 1 and %d listen addresses are needed", SCEPD_MAX_LISTENERS);
    http = calloc(1, sizeof(*http));
    ENSURE_ALLOC(http);
    pthread_mutex_init(&http->lock, NULL);
    pthread_cond_init(&http->wake, NULL);
    pthread_mutex_init(&http->queue_lock, NULL);
    pthread_cond_init(&http->queue_wake, NULL);
    for (size_t i = 0; i < options->listen_count; i++)
        GUARD(bind_listener(http, options->listen[i]));
    *out = http;
    http = NULL;

cleanup:
    scepd_http_stop(http, 0);
    return rc;
}

int scepd_http_serve(struct scepd_http *http, const struct scepd_http_options *options,
                     scepd_http_handler handler, void *payload)
{
    int rc = SCEP_OK;
    ENSURE(http->daemon_count == 0 && http->fd_count == options->listen_count, SCEP_EINVAL,
           "the listeners are already served or were bound for other addresses");
    http->handler = handler;
    http->payload = payload;
    http->max_body = options->max_body;
    http->allow_delete = options->allow_delete;
    http->answer_inline = options->answer_inline;
    http->max_connections = options->max_connections;
    http->request_timeout = options->request_timeout;
    http->body_memory = options->body_memory;
    /* The first refusal is reported at once. */
    atomic_store(&http->last_report_ms, now_ms() - SCEPD_REFUSAL_REPORT_SECONDS * 1000LL);
    int tls = options->tls_cert_pem != NULL && options->tls_key_pem != NULL;
    ENSURE(!tls || MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES, SCEP_ECONFIG,
           "this libmicrohttpd has no TLS support (built without GnuTLS): cannot serve HTTPS");
    unsigned threads = options->threads;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (unsigned)cores : 2;
    }
    if (options->request_timeout > 0 && !http->sweeper_running) {
        ENSURE(pthread_create(&http->sweeper, NULL, sweep_connections, http) == 0, SCEP_EIO,
               "cannot start the request timeout thread");
        http->sweeper_running = 1;
    }
    if (options->workers > 0 && http->worker_count == 0) {
        http->workers = calloc(options->workers, sizeof(*http->workers));
        ENSURE_ALLOC(http->workers);
        for (unsigned i = 0; i < options->workers; i++) {
            ENSURE(pthread_create(&http->workers[i], NULL, run_worker, http) == 0, SCEP_EIO,
                   "cannot start worker thread %u", i + 1);
            http->worker_count++;
        }
    }
    for (size_t i = 0; i < http->fd_count; i++) {
        rc = serve_listener(http, i, threads, options, tls ? options->tls_cert_pem : NULL,
                            tls ? options->tls_key_pem : NULL);
        if (rc < 0) {
            rc = scep_fail(rc, "cannot listen on %s: %s", options->listen[i], scep_error_message());
            goto cleanup;
        }
    }
cleanup:
    return rc;
}

int scepd_http_start(struct scepd_http **out, const struct scepd_http_options *options,
                     scepd_http_handler handler, void *payload)
{
    int rc = SCEP_OK;
    struct scepd_http *http = NULL;
    GUARD(scepd_http_bind(&http, options));
    GUARD(scepd_http_serve(http, options, handler, payload));
    *out = http;
    http = NULL;
cleanup:
    scepd_http_stop(http, 0);
    return rc;
}

unsigned scepd_http_connections(struct scepd_http *http)
{
    if (http == NULL)
        return 0;
    pthread_mutex_lock(&http->lock);
    unsigned live = http->live;
    pthread_mutex_unlock(&http->lock);
    return live;
}

unsigned scepd_http_port(const struct scepd_http *http, size_t index)
{
    if (http == NULL || index >= http->fd_count)
        return 0;
    return http->ports[index];
}

void scepd_http_stop(struct scepd_http *http, unsigned grace_seconds)
{
    if (http == NULL)
        return;
    /* Quiescing hands the listening sockets back; they are closed only after the
     * daemons stopped, because the worker threads may still be taking them out of
     * their epoll sets (closing first makes libmicrohttpd abort). */
    MHD_socket listeners[SCEPD_MAX_LISTENERS];
    for (size_t i = 0; i < http->daemon_count; i++)
        listeners[i] = MHD_quiesce_daemon(http->daemons[i]);
    /* In-flight requests finish; each poll is 50 ms, bounded by the grace period. */
    for (unsigned waited = 0; waited < grace_seconds * 20 && atomic_load(&http->in_flight) > 0;
         waited++) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    /* libmicrohttpd cannot stop with a connection suspended: every queued request is
     * answered first, and those arriving from now on are answered in their own thread. */
    stop_workers(http);
    for (size_t i = 0; i < http->daemon_count; i++) {
        MHD_stop_daemon(http->daemons[i]);
        if (listeners[i] != MHD_INVALID_SOCKET)
            close(listeners[i]);
    }
    if (http->sweeper_running) {
        pthread_mutex_lock(&http->lock);
        http->stopping = 1;
        pthread_cond_signal(&http->wake);
        pthread_mutex_unlock(&http->lock);
        pthread_join(http->sweeper, NULL);
    }
    /* What was refused since the last report is not lost at shutdown. */
    atomic_store(&http->last_report_ms, 0);
    report_refusals(http);
    /* Bound sockets never handed to a daemon. */
    for (size_t i = http->daemon_count; i < http->fd_count; i++)
        if (http->fds[i] >= 0)
            close(http->fds[i]);
    pthread_cond_destroy(&http->queue_wake);
    pthread_mutex_destroy(&http->queue_lock);
    pthread_cond_destroy(&http->wake);
    pthread_mutex_destroy(&http->lock);
    free(http);
}
