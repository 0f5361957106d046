/*
 * HTTP for the client: URL building (RFC 8894 §4.1) and the default libcurl
 * transport. Everything here is bounded: response size, total and connect
 * time, redirects (off unless asked, then at most 5), protocols (HTTP/HTTPS).
 */
#include "client/client_internal.h"
#include "util/error_internal.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#define SCEP_URL_MAX (256 * 1024)

int scep_client_build_url(char **out, const char *base, const char *operation, const char *message)
{
    int rc = SCEP_OK;
    char *escaped = NULL;
    char *url = NULL;

    ENSURE(out != NULL && base != NULL && operation != NULL, SCEP_EINVAL,
           "URL, operation and output are required");
    *out = NULL;
    if (message != NULL) {
        /* curl_easy_escape keeps only ALPHA / DIGIT / "-._~": '+', '/' and '=' of
         * base64 become %2B, %2F, %3D, the most common field failure when left raw. */
        ENSURE(strlen(message) < SCEP_URL_MAX, SCEP_ETOOBIG, "message too long for a URL");
        escaped = curl_easy_escape(NULL, message, (int)strlen(message));
        ENSURE_ALLOC(escaped);
    }
    const char *sep = strchr(base, '?') != NULL ? "&" : "?";
    size_t len = strlen(base) + strlen(sep) + strlen("operation=") + strlen(operation) +
                 (escaped ? strlen("&message=") + strlen(escaped) : 0) + 1;
    url = OPENSSL_malloc(len);
    ENSURE_ALLOC(url);
    int n = snprintf(url, len, "%s%soperation=%s%s%s", base, sep, operation,
                     escaped ? "&message=" : "", escaped ? escaped : "");
    ENSURE(n > 0 && (size_t)n < len, SCEP_EINVAL, "cannot build the URL");
    *out = url;
    url = NULL;

cleanup:
    curl_free(escaped);
    OPENSSL_free(url);
    return rc;
}

void scep_http_response_clear(scep_http_response *response)
{
    if (response == NULL)
        return;
    OPENSSL_free(response->content_type);
    OPENSSL_free(response->body);
    memset(response, 0, sizeof(*response));
}

int scep_client_record_error(int code, const char *message)
{
    return scep_fail(code, "%s", message ? message : scep_error_text(code));
}

int scep_client_http(scep_client *client, scep_http_response *out, const scep_http_request *request)
{
    int rc = SCEP_OK;
    memset(out, 0, sizeof(*out));
    scep_client_logf(client, SCEP_LOG_DEBUG, "HTTP %s %s (%zu bytes)", request->method,
                     request->url, request->body_len);
    rc = client->transport(out, request, client->max_response_size, client->transport_payload);
    if (rc < 0) {
        scep_http_response_clear(out);
        if (scep_error_code() == SCEP_OK)
            rc = scep_fail(rc, "transport failed for %s", request->url);
        return rc;
    }
    ENSURE(out->body_len <= client->max_response_size, SCEP_ETOOBIG,
           "response of %zu bytes exceeds the limit of %zu", out->body_len,
           client->max_response_size);
    scep_client_logf(client, SCEP_LOG_DEBUG, "HTTP %ld, %s, %zu bytes", out->status,
                     out->content_type ? out->content_type : "no content type", out->body_len);
    ENSURE(out->status == 200, SCEP_EHTTP, "server answered HTTP %ld to %s", out->status,
           request->url);

cleanup:
    if (rc < 0)
        scep_http_response_clear(out);
    return rc;
}

/* ---- libcurl ---- */

struct sink {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t max;
    int too_big;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        if (cap > s->max)
            cap = s->max;
        unsigned char *p = OPENSSL_realloc(s->data, cap);
        if (p == NULL)
            return 0;
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

#define CURL_SET(opt, val)                                                                         \
    ENSURE(curl_easy_setopt(curl, (opt), (val)) == CURLE_OK, SCEP_ENETWORK,                        \
           "cannot set curl option %s", #opt)

int scep_curl_transport(scep_http_response *out, const scep_http_request *request, size_t max_size,
                        void *payload)
{
    int rc = SCEP_OK;
    const scep_client *client = payload;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    struct sink sink = {.max = max_size};
    char errbuf[CURL_ERROR_SIZE] = {0};

    pthread_once(&curl_once, curl_init);
    ENSURE(curl_init_rc == CURLE_OK, SCEP_ENETWORK, "libcurl initialisation failed");
    curl = curl_easy_init();
    ENSURE_ALLOC(curl);
    CURL_SET(CURLOPT_URL, request->url);
    CURL_SET(CURLOPT_ERRORBUFFER, errbuf);
    CURL_SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM-based DNS timeouts */
    CURL_SET(CURLOPT_PROTOCOLS_STR, "http,https");
    CURL_SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    CURL_SET(CURLOPT_TIMEOUT, client->timeout_seconds);
    CURL_SET(CURLOPT_CONNECTTIMEOUT, client->connect_timeout_seconds);
    CURL_SET(CURLOPT_FOLLOWLOCATION, client->follow_redirects ? 1L : 0L);
    CURL_SET(CURLOPT_MAXREDIRS, 5L);
    CURL_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_size);
    CURL_SET(CURLOPT_WRITEFUNCTION, write_cb);
    CURL_SET(CURLOPT_WRITEDATA, &sink);
    CURL_SET(CURLOPT_USERAGENT, "libscep/" SCEP_VERSION_STRING);
    if (client->proxy != NULL)
        CURL_SET(CURLOPT_PROXY, client->proxy); /* "" disables the environment's proxy */
    if (client->tls_ca_file != NULL)
        CURL_SET(CURLOPT_CAINFO, client->tls_ca_file);
    if (client->tls_client_cert != NULL)
        CURL_SET(CURLOPT_SSLCERT, client->tls_client_cert);
    if (client->tls_client_key != NULL)
        CURL_SET(CURLOPT_SSLKEY, client->tls_client_key);
    if (client->tls_insecure) {
        CURL_SET(CURLOPT_SSL_VERIFYPEER, 0L);
        CURL_SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(request->method, "POST") == 0) {
        char header[128];
        snprintf(header, sizeof(header), "Content-Type: %s",
                 request->content_type ? request->content_type : "application/x-pki-message");
        headers = curl_slist_append(NULL, header);
        ENSURE_ALLOC(headers);
        CURL_SET(CURLOPT_HTTPHEADER, headers);
        CURL_SET(CURLOPT_POST, 1L);
        CURL_SET(CURLOPT_POSTFIELDS, (const char *)request->body);
        CURL_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_len);
    }

    CURLcode res = curl_easy_perform(curl);
    ENSURE(!sink.too_big && res != CURLE_FILESIZE_EXCEEDED, SCEP_ETOOBIG,
           "response exceeds the limit of %zu bytes", max_size);
    ENSURE(res != CURLE_OPERATION_TIMEDOUT, SCEP_ETIMEOUT, "timed out: %s",
           errbuf[0] ? errbuf : curl_easy_strerror(res));
    ENSURE(res == CURLE_OK, SCEP_ENETWORK, "%s: %s", request->url,
           errbuf[0] ? errbuf : curl_easy_strerror(res));
    ENSURE(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status) == CURLE_OK, SCEP_ENETWORK,
           "no HTTP status");
    char *ct = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL) {
        out->content_type = OPENSSL_strdup(ct);
        ENSURE_ALLOC(out->content_type);
    }
    out->body = sink.data;
    out->body_len = sink.len;
    sink.data = NULL;

cleanup:
    OPENSSL_free(sink.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}
