/*
 * scepd's HTTP front end and path routing: what devices send in the field
 * (interop.md §1, §2, §11) reaches the handler intact, and oversized bodies are
 * refused with 413 without being buffered. The resource limits (max_connections,
 * max_connections_per_client, request_timeout, body_memory) are tested against the
 * running listener with real sockets, each refusal next to its positive control.
 */
#include "test_support.h"

#include "scep/error.h"
#include "scepd/http/http.h"
#include "scepd/http/route.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void routes_match_by_prefix_and_ignore_trailing_segments(void **state)
{
    (void)state;
    struct {
        const char *path;
        const char *alias;
    } cases[] = {
        {"/scep/pkiclient.exe", ""},
        {"/scep", ""},
        {"/scep/", ""},
        {"/SCEP/PKICLIENT.EXE", ""},
        {"/scep/routers/pkiclient.exe", "routers"},
        {"/scep/routers", "routers"},
        {"/scep//routers/pkiclient.exe/extra", "routers"},
        {"/cgi-bin/pkiclient.exe", ""},
        {"/cgi-bin/anything/at/all", ""},
        {"/certsrv/mscep/mscep.dll", ""},
        {"/ejbca/publicweb/apply/scep/pkiclient.exe", ""},
        {"/ejbca/publicweb/apply/scep/mdm/pkiclient.exe", "mdm"},
        {"/ejbca/publicweb/apply/scep/mdm", "mdm"},
        {"/scepx/pkiclient.exe", NULL},
        {"/", NULL},
        {"/index.html", NULL},
        {"/scep/bad.alias/pkiclient.exe", NULL},
        {"/scep/a%20b/pkiclient.exe", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char alias[SCEPD_ALIAS_MAX + 1];
        int rc = scepd_route_alias(alias, sizeof(alias), cases[i].path);
        if (cases[i].alias == NULL) {
            if (rc != -1)
                fail_msg("%s routed to %s", cases[i].path, alias);
        } else {
            if (rc != 0)
                fail_msg("%s not routed", cases[i].path);
            assert_string_equal(alias, cases[i].alias);
        }
    }
    char small[4];
    assert_int_equal(scepd_route_alias(small, sizeof(small), "/scep/routers"), -1);
}

static void listen_addresses_split(void **state)
{
    (void)state;
    char host[64];
    unsigned port = 0;
    assert_int_equal(scepd_http_split_listen(host, sizeof(host), &port, "127.0.0.1:8080"), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(scepd_http_split_listen(host, sizeof(host), &port, "[::1]:0"), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(scepd_http_split_listen(host, sizeof(host), &port, "127.0.0.1"), -1);
    assert_int_equal(scepd_http_split_listen(host, sizeof(host), &port, ":80"), -1);
    assert_int_equal(scepd_http_split_listen(host, sizeof(host), &port, "h:70000"), -1);
    assert_int_equal(scepd_http_split_listen(host, sizeof(host), &port, "[::1:80"), -1);
}

/* The handler echoes what it was given, so the test sees what arrived. */
static void echo_handler(void *payload, const struct scepd_http_request *request,
                         struct scepd_http_response *response)
{
    (void)payload;
    char text[4096];
    int n =
        snprintf(text, sizeof(text), "method=%s path=%s operation=%s message=%s body=%zu",
                 request->method, request->path, request->operation ? request->operation : "(none)",
                 request->message ? request->message : "(none)", request->body_len);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    response->status = 200;
    response->content_type = "text/plain";
    response->body = (unsigned char *)strdup(text);
    response->body_len = (size_t)n;
}

struct fetched {
    long status;
    char body[8192];
    size_t len;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct fetched *f = userdata;
    size_t n = size * nmemb;
    if (n > sizeof(f->body) - 1 - f->len)
        n = sizeof(f->body) - 1 - f->len;
    memcpy(f->body + f->len, data, n);
    f->len += n;
    f->body[f->len] = '\0';
    return size * nmemb;
}

static struct fetched fetch(const char *url, const char *post, size_t post_len, int chunked)
{
    struct fetched f = {0};
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct curl_slist *headers = NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (post != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len);
        headers = curl_slist_append(headers, "Content-Type: application/x-pki-message");
        if (chunked)
            headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &f.status);
    else
        f.status = -1;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return f;
}

/* Sends `raw` over a plain socket (for HTTP/1.0 without Host) and reads the reply. */
static void raw_exchange(unsigned port, const char *raw, char *reply, size_t reply_size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    size_t used = 0;
    for (int i = 0; i < 100 && used < reply_size - 1; i++) {
        ssize_t n = read(fd, reply + used, reply_size - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    reply[used] = '\0';
    close(fd);
}

static void http_delivers_what_clients_send(void **state)
{
    (void)state;
    const char *listen[] = {"127.0.0.1:0"};
    struct scepd_http_options options = {.listen = listen,
                                         .listen_count = 1,
                                         .threads = 2,
                                         .max_body = 4096,
                                         .connection_timeout = 10};
    struct scepd_http *http = NULL;
    assert_int_equal(scepd_http_start(&http, &options, echo_handler, NULL), SCEP_OK);
    unsigned port = scepd_http_port(http, 0);
    assert_true(port > 0);
    char url[512];

    /* '/', '=' and escaped line breaks reach the handler unaltered; libmicrohttpd turns a
     * raw '+' into a space, which the lenient base64 decoder reads back as '+'. */
    snprintf(
        url, sizeof(url),
        "http://127.0.0.1:%u/scep/pkiclient.exe?operation=PKIOperation&message=ab+/c%%0Ad%%3D=",
        port);
    struct fetched f = fetch(url, NULL, 0, 0);
    assert_int_equal(f.status, 200);
    if (strstr(f.body, "operation=PKIOperation message=ab /c%0Ad%3D= body=0") == NULL)
        fail_msg("handler saw: %s", f.body);

    /* POST with Content-Length and chunked. */
    char body[3000];
    memset(body, 'x', sizeof(body));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/pkiclient.exe?operation=PKIOperation",
             port);
    f = fetch(url, body, sizeof(body), 0);
    assert_int_equal(f.status, 200);
    assert_non_null(strstr(f.body, "method=POST"));
    assert_non_null(strstr(f.body, "body=3000"));
    f = fetch(url, body, sizeof(body), 1);
    assert_int_equal(f.status, 200);
    assert_non_null(strstr(f.body, "body=3000"));

    /* Over the limit: 413, declared or chunked, and the server keeps serving. */
    char big[9000];
    memset(big, 'y', sizeof(big));
    f = fetch(url, big, sizeof(big), 0);
    assert_int_equal(f.status, 413);
    f = fetch(url, big, sizeof(big), 1);
    assert_int_equal(f.status, 413);

    /* HTTP/1.0 without Host. */
    char reply[4096];
    raw_exchange(port, "GET /cgi-bin/pkiclient.exe?operation=GetCACaps HTTP/1.0\r\n\r\n", reply,
                 sizeof(reply));
    assert_non_null(strstr(reply, " 200 "));
    assert_non_null(strstr(reply, "operation=GetCACaps"));

    /* Methods other than GET/POST. */
    raw_exchange(port, "DELETE /scep HTTP/1.1\r\nHost: x\r\n\r\n", reply, sizeof(reply));
    assert_non_null(strstr(reply, " 405 "));

    /* Garbage instead of HTTP gets an error, and the server still answers afterwards. */
    raw_exchange(port, "\x16\x03\x01garbage\r\n\r\n", reply, sizeof(reply));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep?operation=GetCACaps", port);
    f = fetch(url, NULL, 0, 0);
    assert_int_equal(f.status, 200);

    scepd_http_stop(http, 2);
}

/* ---- resource limits ------------------------------------------------------------- */

static long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* A connection from `source` (a loopback address, so one test can be several clients)
 * that sends `text` and nothing more. */
static int open_client(unsigned port, const char *source, const char *text)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in from = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, source, &from.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    if (text != NULL)
        assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
    return fd;
}

static const char half_header[] = "GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: x\r\nX-Slow: ";

/*
 * Whether the server ended the connection within `within_ms`: end-of-file or a reset.
 * Whatever it sent first (a 503) is copied into `reply` when one is given.
 */
static int closed_within(int fd, long within_ms, char *reply, size_t reply_size)
{
    size_t used = 0;
    long long until = clock_ms() + within_ms;
    for (int round = 0; round < 1000; round++) {
        long long left = until - clock_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            return 0;
        char buf[2048];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
        if (reply != NULL && used < reply_size - 1) {
            size_t take = (size_t)n < reply_size - 1 - used ? (size_t)n : reply_size - 1 - used;
            memcpy(reply + used, buf, take);
            used += take;
            reply[used] = '\0';
        }
    }
    return 0;
}

static void wait_connections(struct scepd_http *http, unsigned want)
{
    for (int i = 0; i < 100 && scepd_http_connections(http) != want; i++)
        pause_ms(20);
    assert_int_equal(scepd_http_connections(http), want);
}

/* An honest GetCACaps from `source`: its status (-1 when refused) and how long it took. */
static long get_caps(unsigned port, const char *source, long long *took_ms)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep?operation=GetCACaps", port);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct fetched f = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_INTERFACE, source);
    long long started = clock_ms();
    CURLcode rc = curl_easy_perform(curl);
    *took_ms = clock_ms() - started;
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return status;
}

static struct scepd_http *start_limited(struct scepd_http_options *options)
{
    static const char *listen[] = {"127.0.0.1:0"};
    options->listen = listen;
    options->listen_count = 1;
    options->threads = 2;
    if (options->max_body == 0)
        options->max_body = 4096;
    if (options->connection_timeout == 0)
        options->connection_timeout = 30;
    struct scepd_http *http = NULL;
    assert_int_equal(scepd_http_start(&http, options, echo_handler, NULL), SCEP_OK);
    return http;
}

static void connection_limit_refuses_at_once_and_cut_idle_free_their_slots(void **state)
{
    (void)state;
    struct scepd_http_options options = {
        .max_connections = 20, .max_connections_per_client = 100, .request_timeout = 3};
    struct scepd_http *http = start_limited(&options);
    unsigned port = scepd_http_port(http, 0);
    long long took = 0;

    /* Positive control: 20 clients that never finish their headers all get a slot. */
    int idle[20];
    for (int i = 0; i < 20; i++)
        idle[i] = open_client(port, "127.0.0.1", half_header);
    wait_connections(http, 20);
    long long full_at = clock_ms();
    for (int i = 0; i < 20; i++)
        assert_false(closed_within(idle[i], 0, NULL, 0));

    /* The 21st is closed at once, and so is an honest request: refused, never queued. */
    int extra = open_client(port, "127.0.0.1", half_header);
    assert_true(closed_within(extra, 1000, NULL, 0));
    close(extra);
    assert_int_equal(get_caps(port, "127.0.0.1", &took), -1);
    assert_true(took < 1000);

    /* A slot given back is served at once. */
    close(idle[19]);
    wait_connections(http, 19);
    assert_int_equal(get_caps(port, "127.0.0.1", &took), 200);
    assert_true(took < 1000);

    /* request_timeout cuts the idle ones (they trickle nothing, but connection_timeout is
     * 30 s); then an honest request answers within a second. */
    for (int i = 0; i < 19; i++) {
        long left = 3000 + 1500 - (long)(clock_ms() - full_at);
        assert_true(closed_within(idle[i], left > 0 ? left : 0, NULL, 0));
        close(idle[i]);
    }
    assert_true(clock_ms() - full_at >= 2500);
    assert_int_equal(get_caps(port, "127.0.0.1", &took), 200);
    assert_true(took < 1000);
    wait_connections(http, 0);
    scepd_http_stop(http, 2);
}

static void per_client_limit_refuses_that_client_only(void **state)
{
    (void)state;
    struct scepd_http_options options = {
        .max_connections = 100, .max_connections_per_client = 4, .request_timeout = 30};
    struct scepd_http *http = start_limited(&options);
    unsigned port = scepd_http_port(http, 0);
    long long took = 0;

    /* Positive control: one client's first 4 connections are kept. */
    int idle[4];
    for (int i = 0; i < 4; i++)
        idle[i] = open_client(port, "127.0.0.1", half_header);
    wait_connections(http, 4);
    for (int i = 0; i < 4; i++)
        assert_false(closed_within(idle[i], 0, NULL, 0));

    /* Its 5th, idle or honest, is closed at once. */
    int extra = open_client(port, "127.0.0.1", half_header);
    assert_true(closed_within(extra, 1000, NULL, 0));
    close(extra);
    assert_int_equal(get_caps(port, "127.0.0.1", &took), -1);
    assert_true(took < 1000);

    /* Another client address is still served, idle or honest. */
    int other = open_client(port, "127.0.0.2", half_header);
    wait_connections(http, 5);
    assert_false(closed_within(other, 200, NULL, 0));
    assert_int_equal(get_caps(port, "127.0.0.2", &took), 200);
    assert_true(took < 1000);
    close(other);

    /* Once the first client closes one, it gets a slot again. */
    close(idle[0]);
    wait_connections(http, 3);
    assert_int_equal(get_caps(port, "127.0.0.1", &took), 200);
    for (int i = 1; i < 4; i++)
        close(idle[i]);
    scepd_http_stop(http, 2);
}

/* Sends `head`, then one byte of `trickle` every 200 ms (repeating it) until the server
 * closes the connection; returns how long that took, or -1 after `give_up_ms`. */
static long long trickle_until_cut(unsigned port, const char *head, char trickle, long give_up_ms)
{
    long long started = clock_ms();
    int fd = open_client(port, "127.0.0.1", head);
    long long cut = -1;
    for (int i = 0; i < 100 && clock_ms() - started < give_up_ms; i++) {
        if (closed_within(fd, 200, NULL, 0)) {
            cut = clock_ms() - started;
            break;
        }
        if (send(fd, &trickle, 1, MSG_NOSIGNAL) != 1) {
            cut = clock_ms() - started;
            break;
        }
    }
    close(fd);
    return cut;
}

static void request_timeout_cuts_trickling_clients(void **state)
{
    (void)state;
    /* connection_timeout (10 s) never fires: a byte arrives every 200 ms. */
    struct scepd_http_options options = {.max_connections = 100,
                                         .max_connections_per_client = 100,
                                         .request_timeout = 2,
                                         .connection_timeout = 10};
    struct scepd_http *http = start_limited(&options);
    unsigned port = scepd_http_port(http, 0);
    char head[256];

    /* Positive control: a slow client that finishes within request_timeout is served. */
    int fd = open_client(port, "127.0.0.1", "GET /scep?operation=GetCACaps HTTP/1.1\r\n");
    const char *rest = "Host: x\r\nConnection: close\r\n\r\n";
    for (size_t i = 0; i < 5; i++) {
        pause_ms(200);
        assert_int_equal(send(fd, rest + i, 1, MSG_NOSIGNAL), 1);
    }
    assert_int_equal(send(fd, rest + 5, strlen(rest) - 5, MSG_NOSIGNAL),
                     (ssize_t)(strlen(rest) - 5));
    char reply[2048] = "";
    assert_true(closed_within(fd, 2000, reply, sizeof(reply)));
    assert_non_null(strstr(reply, " 200 "));
    close(fd);

    /* Headers that never end, one byte at a time. */
    long long cut = trickle_until_cut(port, half_header, 'a', 6000);
    printf("header trickle cut after %lld ms\n", cut);
    assert_true(cut >= 1800 && cut <= 3000);

    /* A body trickled after complete headers. */
    snprintf(head, sizeof(head),
             "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: 1000\r\n\r\n");
    cut = trickle_until_cut(port, head, 'b', 6000);
    printf("body trickle cut after %lld ms\n", cut);
    assert_true(cut >= 1800 && cut <= 3000);

    /* The cut connections are gone, and the listener answers at once. */
    wait_connections(http, 0);
    long long took = 0;
    assert_int_equal(get_caps(port, "127.0.0.1", &took), 200);
    assert_true(took < 1000);
    scepd_http_stop(http, 2);
}

static long rss_kib(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    assert_non_null(status);
    char line[256];
    long kib = -1;
    for (int i = 0; i < 100 && fgets(line, sizeof(line), status) != NULL; i++)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(status);
    assert_true(kib > 0);
    return kib;
}

/* ThreadSanitizer's shadow memory costs several times what the program allocates. */
#if defined(__SANITIZE_THREAD__)
#define RSS_FACTOR 6
#else
#define RSS_FACTOR 1
#endif

static void body_memory_refuses_bodies_over_the_budget(void **state)
{
    (void)state;
    enum { MIB = 1024 * 1024, CLIENTS = 12, BUDGET_MIB = 4 };
    struct scepd_http_options options = {.max_connections = 100,
                                         .max_connections_per_client = 100,
                                         .request_timeout = 30,
                                         .max_body = MIB,
                                         .body_memory = BUDGET_MIB * MIB};
    struct scepd_http *http = start_limited(&options);
    unsigned port = scepd_http_port(http, 0);
    char head[256];
    snprintf(head, sizeof(head),
             "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
             MIB);
    char *body = malloc(MIB);
    assert_non_null(body);
    memset(body, 'z', MIB);
    long before = rss_kib();

    /* Twelve 1 MiB bodies against a 4 MiB budget: large bodies may hold 3.5 MiB of it,
     * so 3 are taken (the positive control), 9 get 503 with Retry-After before they send
     * a byte of body. */
    int fds[CLIENTS];
    int accepted[CLIENTS];
    int accepted_count = 0;
    int busy_count = 0;
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = open_client(port, "127.0.0.1", head);
        char reply[2048] = "";
        accepted[i] = !closed_within(fds[i], 500, reply, sizeof(reply));
        if (accepted[i]) {
            assert_string_equal(reply, "");
            accepted_count++;
            continue;
        }
        assert_non_null(strstr(reply, " 503 "));
        assert_non_null(strstr(reply, "Retry-After: 10"));
        busy_count++;
    }
    assert_int_equal(accepted_count, BUDGET_MIB - 1);
    assert_int_equal(busy_count, CLIENTS - (BUDGET_MIB - 1));

    /* The accepted ones send all but the last byte: the server holds them, and its
     * memory grows by about the budget, not by twelve bodies. */
    struct timeval tv = {.tv_sec = 5};
    for (int i = 0; i < CLIENTS; i++) {
        if (!accepted[i])
            continue;
        setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        assert_int_equal(send(fds[i], body, MIB - 1, MSG_NOSIGNAL), MIB - 1);
    }
    pause_ms(300);
    long grown = rss_kib() - before;
    printf("RSS grew by %ld KiB with %d MiB of bodies held (budget %d MiB)\n", grown,
           accepted_count, BUDGET_MIB);
    assert_true(grown < RSS_FACTOR * (BUDGET_MIB + 4) * 1024);

    /* While the large ones stall, a pkiMessage-sized body still gets through: the last
     * eighth of the budget is kept for small bodies. */
    char small_url[128];
    snprintf(small_url, sizeof(small_url), "http://127.0.0.1:%u/scep?operation=PKIOperation", port);
    struct fetched small = fetch(small_url, body, 8 * 1024, 0);
    assert_int_equal(small.status, 200);
    assert_non_null(strstr(small.body, "body=8192"));

    /* A chunked body has no declared length: it is cut off when it outgrows the budget. */
    int chunked = open_client(port, "127.0.0.1",
                              "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n100000\r\n");
    (void)send(chunked, body, 600 * 1024, MSG_NOSIGNAL);
    assert_true(closed_within(chunked, 1000, NULL, 0));
    close(chunked);

    /* Finished bodies are answered and give their memory back: honest requests work. */
    for (int i = 0; i < CLIENTS; i++) {
        if (accepted[i]) {
            assert_int_equal(send(fds[i], "z", 1, MSG_NOSIGNAL), 1);
            char reply[2048] = "";
            for (int r = 0; r < 50 && strstr(reply, "body=") == NULL; r++) {
                struct pollfd p = {.fd = fds[i], .events = POLLIN};
                if (poll(&p, 1, 100) > 0) {
                    size_t used = strlen(reply);
                    ssize_t n = recv(fds[i], reply + used, sizeof(reply) - 1 - used, 0);
                    if (n <= 0)
                        break;
                    reply[used + (size_t)n] = '\0';
                }
            }
            assert_non_null(strstr(reply, " 200 "));
            assert_non_null(strstr(reply, "body=1048576"));
        }
        close(fds[i]);
    }
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep?operation=PKIOperation", port);
    struct fetched f = fetch(url, body, MIB, 0);
    assert_int_equal(f.status, 200);
    assert_non_null(strstr(f.body, "body=1048576"));
    free(body);
    scepd_http_stop(http, 2);
}

/* The one worker is held by /slow until the test lets it go (bounded: 10 s). */
static atomic_int slow_release;

static void slow_handler(void *payload, const struct scepd_http_request *request,
                         struct scepd_http_response *response)
{
    (void)payload;
    if (strcmp(request->path, "/slow") == 0)
        for (int i = 0; i < 1000 && !atomic_load(&slow_release); i++)
            pause_ms(10);
    response->status = 200;
    response->content_type = "text/plain";
    response->body = (unsigned char *)strdup(request->path);
    response->body_len = strlen(request->path);
}

static int fast_inline(const struct scepd_http_request *request)
{
    return strcmp(request->path, "/fast") == 0;
}

struct slow_fetch {
    unsigned port;
    struct fetched result;
    atomic_int done;
};

static void *fetch_slow(void *arg)
{
    struct slow_fetch *sf = arg;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", sf->port);
    sf->result = fetch(url, NULL, 0, 0);
    atomic_store(&sf->done, 1);
    return NULL;
}

/* A request answer_inline takes is answered on the connection's thread while every worker
 * is busy; the others wait for a worker. */
static void inline_requests_do_not_wait_for_the_workers(void **state)
{
    (void)state;
    const char *listen[] = {"127.0.0.1:0"};
    struct scepd_http_options options = {.listen = listen,
                                         .listen_count = 1,
                                         .threads = 2,
                                         .workers = 1,
                                         .answer_inline = fast_inline,
                                         .max_body = 4096,
                                         .connection_timeout = 10};
    struct scepd_http *http = NULL;
    atomic_store(&slow_release, 0);
    assert_int_equal(scepd_http_start(&http, &options, slow_handler, NULL), SCEP_OK);
    struct slow_fetch sf = {.port = scepd_http_port(http, 0)};
    pthread_t slow;
    assert_int_equal(pthread_create(&slow, NULL, fetch_slow, &sf), 0);
    pause_ms(200);

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/fast", sf.port);
    long long start = clock_ms();
    struct fetched f = fetch(url, NULL, 0, 0);
    assert_int_equal(f.status, 200);
    assert_string_equal(f.body, "/fast");
    assert_true(clock_ms() - start < 2000);
    /* The worker is still held: /slow has not been answered. */
    assert_int_equal(atomic_load(&sf.done), 0);

    atomic_store(&slow_release, 1);
    pthread_join(slow, NULL);
    assert_int_equal(sf.result.status, 200);
    assert_string_equal(sf.result.body, "/slow");
    scepd_http_stop(http, 1);
}

static void bad_listen_address_is_a_config_error(void **state)
{
    (void)state;
    const char *listen[] = {"127.0.0.1"};
    struct scepd_http_options options = {.listen = listen, .listen_count = 1, .max_body = 10};
    struct scepd_http *http = NULL;
    assert_int_equal(scepd_http_start(&http, &options, echo_handler, NULL), SCEP_ECONFIG);
    assert_null(http);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_match_by_prefix_and_ignore_trailing_segments),
        cmocka_unit_test(listen_addresses_split),
        cmocka_unit_test(http_delivers_what_clients_send),
        cmocka_unit_test(bad_listen_address_is_a_config_error),
        cmocka_unit_test(inline_requests_do_not_wait_for_the_workers),
        cmocka_unit_test(connection_limit_refuses_at_once_and_cut_idle_free_their_slots),
        cmocka_unit_test(per_client_limit_refuses_that_client_only),
        cmocka_unit_test(request_timeout_cuts_trickling_clients),
        cmocka_unit_test(body_memory_refuses_bodies_over_the_budget),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
