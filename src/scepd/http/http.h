/*
 * scepd's HTTP front end over libmicrohttpd: listeners, body limits,
 * timeouts, graceful stop. It knows nothing of SCEP: every complete request
 * goes to one handler.
 */
#ifndef SCEPD_HTTP_H
#define SCEPD_HTTP_H

#include <stddef.h>

#define SCEPD_CLIENT_ADDR_MAX 64

struct scepd_http_request {
    const char *method;
    const char *path;
    /* Query parameters exactly as sent (not percent-decoded); NULL when absent. */
    const char *operation;
    const char *message;
    const unsigned char *body;
    size_t body_len;
    const char *client_addr;
    void *connection; /* the HTTP layer's, for scepd_http_query and scepd_http_header */
};

/* A response header beyond those the HTTP layer sets itself. */
struct scepd_http_header {
    const char *name;
    const char *value;
};

struct scepd_http_response {
    unsigned status;
    const char *content_type; /* static string */
    unsigned char *body;      /* malloc'd; freed by the HTTP layer */
    size_t body_len;
    const char *retry_after; /* static string; sent as Retry-After when set */
    int body_secret;         /* the body holds a secret (a challenge, a code): wiped when freed */
    /* Static array of `header_count` more headers, each sent as its own line (security
     * headers, a second challenge); NULL when none. */
    const struct scepd_http_header *headers;
    size_t header_count;
};

typedef void (*scepd_http_handler)(void *payload, const struct scepd_http_request *request,
                                   struct scepd_http_response *response);

struct scepd_http_options {
    const char *const *listen; /* "127.0.0.1:8080", "[::1]:8080"; port 0 picks one */
    size_t listen_count;
    unsigned threads; /* libmicrohttpd's threads per listener; 0 = number of cores */
    /* Threads, shared by all listeners, that run the handler; 0: libmicrohttpd's threads
     * run it themselves. */
    unsigned workers;
    /* Requests the connection's own thread answers even with workers: those that neither
     * wait (no store) nor compute much, for which the hand-off to a worker and back would
     * cost more than the answer. NULL: every request goes to the workers. */
    int (*answer_inline)(const struct scepd_http_request *request);
    size_t max_body;  /* larger bodies get 413 */
    int allow_delete; /* DELETE reaches the handler (the admin API); else 405 as other methods */
    unsigned connection_timeout; /* seconds of inactivity before a connection is closed */
    /* Seconds from a request's first byte (the accept, or the end of the previous response
     * on a kept-alive connection) to the end of its response; 0: no limit. */
    unsigned request_timeout;
    /* Connections open at once over all listeners; further ones are closed on accept.
     * 0: libmicrohttpd's default. */
    unsigned max_connections;
    /* Connections open at once from one client address, per listener; 0: no limit. */
    unsigned max_connections_per_client;
    /* Bytes of request bodies buffered at once over all connections; a body that does
     * not fit gets 503 with Retry-After (or, chunked, its connection closed). 0: no limit. */
    size_t body_memory;
    /* PEM text; when both are set the listeners speak HTTPS (libmicrohttpd with GnuTLS). */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

struct scepd_http;

/*
 * Binds every listen address of `options` without serving yet (before a privilege drop);
 * the ports are known from then on. Free with scepd_http_stop. Returns 0 or SCEP_E*.
 */
int scepd_http_bind(struct scepd_http **out, const struct scepd_http_options *options);
/* Serves listeners bound with the same `options`: starts libmicrohttpd's threads. */
int scepd_http_serve(struct scepd_http *http, const struct scepd_http_options *options,
                     scepd_http_handler handler, void *payload);
/* Binds and serves; on failure nothing is left running. Returns 0 or SCEP_E*. */
int scepd_http_start(struct scepd_http **out, const struct scepd_http_options *options,
                     scepd_http_handler handler, void *payload);

/* Connections currently open over all listeners. */
unsigned scepd_http_connections(struct scepd_http *http);

/* The port listener `index` is bound to (useful with port 0). */
unsigned scepd_http_port(const struct scepd_http *http, size_t index);

/*
 * Stops accepting, lets in-flight requests finish for up to `grace_seconds`,
 * then stops and frees everything. NULL is fine.
 */
void scepd_http_stop(struct scepd_http *http, unsigned grace_seconds);

/* A query parameter exactly as sent (not percent-decoded), or NULL. */
const char *scepd_http_query(const struct scepd_http_request *request, const char *name);
/*
 * Percent-decodes `text` in place with libmicrohttpd's decoder, a '+' first read as a
 * space when `plus_is_space` (query values; not in a path). -1, `text` then unspecified,
 * when a '%' is not followed by two hex digits or the result would hold a NUL.
 */
int scepd_http_unescape(char *text, int plus_is_space);
/*
 * Query value `name` (raw: scepd_http_query) decoded into `out` (`size` bytes): 1 when
 * found, 0 (and `out` empty) when absent, -1 when malformed or longer than `size` - 1.
 */
int scepd_http_query_text(char *out, size_t size, const struct scepd_http_request *request,
                          const char *name);
/* A request header, or NULL. */
const char *scepd_http_header(const struct scepd_http_request *request, const char *name);

/* Splits "host:port" or "[v6]:port" into its parts. Returns 0 or -1. */
int scepd_http_split_listen(char *host, size_t host_size, unsigned *port, const char *listen);

/*
 * The part of `body_memory` that bodies larger than 64 KiB may hold together (7/8): the
 * rest stays for small bodies, so stalled large uploads cannot starve enrollments.
 */
size_t scepd_http_large_body_budget(size_t body_memory);

#endif
