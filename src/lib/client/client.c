/*
 * The client object, its cache, and the operations that need no pkiMessage:
 * GetCACaps (RFC 8894 §4.1), GetCACert (§4.2) and GetNextCACert (§4.7).
 */
#include "client/client_internal.h"
#include "util/error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_TIMEOUT         60
#define DEFAULT_CONNECT_TIMEOUT 15

static int dup_opt(char **out, const char *in)
{
    *out = NULL;
    if (in == NULL)
        return SCEP_OK;
    *out = OPENSSL_strdup(in);
    return *out ? SCEP_OK : scep_fail(SCEP_ENOMEM, "out of memory");
}

void scep_client_free(scep_client *client)
{
    if (client == NULL)
        return;
    OPENSSL_free(client->url);
    X509_free(client->pinned_ca);
    OPENSSL_free(client->ca_fingerprint);
    OPENSSL_free(client->caps_text);
    OPENSSL_free(client->tls_ca_file);
    OPENSSL_free(client->tls_client_cert);
    OPENSSL_free(client->tls_client_key);
    OPENSSL_free(client->proxy);
    OPENSSL_free(client->cached_ca_identifier);
    OPENSSL_free(client->cached_caps_identifier);
    scep_ca_certs_free(client->cached_ca);
    pthread_mutex_destroy(&client->lock);
    OPENSSL_free(client);
}

int scep_client_new(scep_client **out, const scep_client_options *options)
{
    int rc = SCEP_OK;
    scep_client *client = NULL;

    ENSURE(out != NULL && options != NULL, SCEP_EINVAL, "output and options are required");
    *out = NULL;
    ENSURE(options->url != NULL && options->url[0] != '\0', SCEP_EINVAL,
           "the SCEP URL is required");
    ENSURE(strncmp(options->url, "http://", 7) == 0 || strncmp(options->url, "https://", 8) == 0,
           SCEP_EINVAL, "the SCEP URL must start with http:// or https://");
    int verifiers = (options->ca_cert != NULL) + (options->ca_fingerprint != NULL) +
                    (options->verify_ca != NULL) + (options->insecure_accept_any_ca != 0);
    ENSURE(verifiers == 1, SCEP_EINVAL,
           "exactly one CA verifier is required (CA certificate, fingerprint, callback, or "
           "explicitly none)");

    client = OPENSSL_zalloc(sizeof(*client));
    ENSURE_ALLOC(client);
    ENSURE(pthread_mutex_init(&client->lock, NULL) == 0, SCEP_ENOMEM, "cannot create a mutex");
    GUARD(dup_opt(&client->url, options->url));
    GUARD(dup_opt(&client->ca_fingerprint, options->ca_fingerprint));
    GUARD(dup_opt(&client->caps_text, options->caps));
    GUARD(dup_opt(&client->tls_ca_file, options->tls_ca_file));
    GUARD(dup_opt(&client->tls_client_cert, options->tls_client_cert));
    GUARD(dup_opt(&client->tls_client_key, options->tls_client_key));
    GUARD(dup_opt(&client->proxy, options->proxy));
    if (options->ca_cert != NULL) {
        ENSURE_OSSL(X509_up_ref(options->ca_cert) == 1, SCEP_ECRYPTO, "certificate reference");
        client->pinned_ca = options->ca_cert;
    }
    client->fingerprint_alg =
        options->fingerprint_alg ? options->fingerprint_alg : SCEP_FINGERPRINT_SHA256;
    client->verify_ca = options->verify_ca;
    client->verify_ca_payload = options->verify_ca_payload;
    client->insecure_accept_any_ca = options->insecure_accept_any_ca;
    client->cache_ca = options->cache_ca;
    client->digest = options->digest;
    client->cipher = options->cipher;
    client->legacy = options->legacy;
    client->renewal = options->renewal;
    client->force_get = options->force_get;
    client->timeout_seconds =
        options->timeout_seconds > 0 ? options->timeout_seconds : DEFAULT_TIMEOUT;
    client->connect_timeout_seconds = options->connect_timeout_seconds > 0
                                          ? options->connect_timeout_seconds
                                          : DEFAULT_CONNECT_TIMEOUT;
    client->max_response_size =
        options->max_response_size ? options->max_response_size : SCEP_MESSAGE_MAX_DEFAULT;
    client->follow_redirects = options->follow_redirects;
    client->tls_insecure = options->tls_insecure;
    if (options->transport != NULL) {
        client->transport = options->transport;
        client->transport_payload = options->transport_payload;
    } else {
        client->transport = scep_curl_transport;
        client->transport_payload = client;
    }
    client->log = options->log;
    client->log_payload = options->log_payload;
    if (client->fingerprint_alg != SCEP_FINGERPRINT_MD5 &&
        client->fingerprint_alg != SCEP_FINGERPRINT_SHA1 &&
        client->fingerprint_alg != SCEP_FINGERPRINT_SHA256 &&
        client->fingerprint_alg != SCEP_FINGERPRINT_SHA512)
        ENSURE(0, SCEP_EINVAL, "unknown fingerprint algorithm %d", (int)client->fingerprint_alg);

    *out = client;
    client = NULL;

cleanup:
    scep_client_free(client);
    return rc;
}

void scep_client_logf(const scep_client *client, scep_log_level level, const char *fmt, ...)
{
    if (client == NULL || client->log == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    client->log(level, line, client->log_payload);
}

static int same_identifier(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int scep_client_get_caps(scep_client *client, scep_caps *out, const char *ca_identifier)
{
    int rc = SCEP_OK;
    char *url = NULL;
    scep_http_response response = {0};

    ENSURE(client != NULL && out != NULL, SCEP_EINVAL, "client and output are required");
    GUARD(scep_client_build_url(&url, client->url, "GetCACaps", ca_identifier));
    scep_http_request request = {.method = "GET", .url = url};
    rc = scep_client_http(client, &response, &request);
    if (rc < 0) {
        char prev[512];
        snprintf(prev, sizeof(prev), "%s", scep_error_message());
        rc = scep_fail(rc, "GetCACaps failed, so the algorithms cannot be chosen safely: %s", prev);
        goto cleanup;
    }
    GUARD(scep_caps_parse(out, (const char *)response.body, response.body_len));

cleanup:
    scep_http_response_clear(&response);
    OPENSSL_free(url);
    return rc;
}

int scep_client_caps(scep_client *client, scep_caps *out, const char *ca_identifier)
{
    int rc = SCEP_OK;
    if (client->caps_text != NULL)
        return scep_caps_parse(out, client->caps_text, strlen(client->caps_text));
    if (client->cache_ca) {
        pthread_mutex_lock(&client->lock);
        int hit = client->have_cached_caps &&
                  same_identifier(client->cached_caps_identifier, ca_identifier);
        if (hit)
            *out = client->cached_caps;
        pthread_mutex_unlock(&client->lock);
        if (hit)
            return SCEP_OK;
    }
    GUARD(scep_client_get_caps(client, out, ca_identifier));
    if (client->cache_ca) {
        char *id = NULL;
        if (ca_identifier != NULL && (id = OPENSSL_strdup(ca_identifier)) == NULL)
            return scep_fail(SCEP_ENOMEM, "out of memory");
        pthread_mutex_lock(&client->lock);
        OPENSSL_free(client->cached_caps_identifier);
        client->cached_caps_identifier = id;
        client->cached_caps = *out;
        client->have_cached_caps = 1;
        pthread_mutex_unlock(&client->lock);
    }

cleanup:
    return rc;
}

int scep_client_get_ca(scep_client *client, scep_ca_certs **out, const char *ca_identifier)
{
    int rc = SCEP_OK;
    char *url = NULL;
    scep_http_response response = {0};
    scep_ca_certs *set = NULL;

    ENSURE(client != NULL && out != NULL, SCEP_EINVAL, "client and output are required");
    *out = NULL;
    GUARD(scep_client_build_url(&url, client->url, "GetCACert", ca_identifier));
    scep_http_request request = {.method = "GET", .url = url};
    GUARD(scep_client_http(client, &response, &request));
    GUARD(scep_ca_certs_from_reply(&set, response.content_type, response.body, response.body_len,
                                   client->max_response_size));
    GUARD(scep_client_verify_ca(client, set));
    scep_client_logf(client, SCEP_LOG_INFO, "GetCACert: %d certificate(s), RA %s",
                     sk_X509_num(set->all), set->ca == set->signer ? "none" : "present");
    if (client->cache_ca) {
        scep_ca_certs *copy = NULL;
        char *id = NULL;
        GUARD(scep_ca_certs_dup(&copy, set));
        if (ca_identifier != NULL && (id = OPENSSL_strdup(ca_identifier)) == NULL) {
            scep_ca_certs_free(copy);
            ENSURE_ALLOC(NULL);
        }
        pthread_mutex_lock(&client->lock);
        scep_ca_certs_free(client->cached_ca);
        OPENSSL_free(client->cached_ca_identifier);
        client->cached_ca = copy;
        client->cached_ca_identifier = id;
        pthread_mutex_unlock(&client->lock);
    }
    *out = set;
    set = NULL;

cleanup:
    scep_ca_certs_free(set);
    scep_http_response_clear(&response);
    OPENSSL_free(url);
    return rc;
}

int scep_client_ca(scep_client *client, scep_ca_certs **out, const char *ca_identifier)
{
    int rc = SCEP_OK;
    if (client->cache_ca) {
        pthread_mutex_lock(&client->lock);
        if (client->cached_ca != NULL &&
            same_identifier(client->cached_ca_identifier, ca_identifier))
            rc = scep_ca_certs_dup(out, client->cached_ca);
        else
            rc = 1; /* miss */
        pthread_mutex_unlock(&client->lock);
        if (rc <= 0)
            return rc;
    }
    return scep_client_get_ca(client, out, ca_identifier);
}

int scep_client_get_next_ca(scep_client *client, STACK_OF(X509) * *out, const char *ca_identifier)
{
    int rc = SCEP_OK;
    char *url = NULL;
    scep_http_response response = {0};
    scep_ca_certs *ca = NULL;

    ENSURE(client != NULL && out != NULL, SCEP_EINVAL, "client and output are required");
    *out = NULL;
    GUARD(scep_client_ca(client, &ca, ca_identifier));
    GUARD(scep_client_build_url(&url, client->url, "GetNextCACert", ca_identifier));
    scep_http_request request = {.method = "GET", .url = url};
    GUARD(scep_client_http(client, &response, &request));
    /* RFC 8894 §4.7.1: signed by the current CA (or its RA). */
    rc = scep_next_ca_parse(out, response.body, response.body_len, ca->ca,
                            client->max_response_size);
    if (rc == SCEP_EBADSIG && ca->signer != ca->ca)
        rc = scep_next_ca_parse(out, response.body, response.body_len, ca->signer,
                                client->max_response_size);

cleanup:
    scep_ca_certs_free(ca);
    scep_http_response_clear(&response);
    OPENSSL_free(url);
    return rc;
}
