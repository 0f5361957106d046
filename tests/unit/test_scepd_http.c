/*
 * scepd's HTTP front end and path routing: what devices send in the field
 * (interop.md §1, §2, §11) reaches the handler intact, and oversized bodies are
 * refused with 413 without being buffered.
 */
#include "test_support.h"

#include "scep/error.h"
#include "scepd/http/http.h"
#include "scepd/http/route.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
