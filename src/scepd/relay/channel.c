/*
 * The relay channel's frames and TLS (channel.h). Every read is bounded in size (the
 * header is checked before the body is read) and in time (poll, then the socket's
 * timeouts), so a broken or hostile peer costs one connection, never a thread.
 */
#include "scepd/relay/channel.h"
#include "scepd/log.h"
#include "scep/ca.h"
#include "scep/message.h"
#include "util/error_internal.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

size_t scepd_relay_frame_max(long long max_body)
{
    /* base64 grows by 4/3; the message and its decrypted content both travel. */
    return (size_t)max_body * 3 + SCEPD_RELAY_FRAME_MARGIN;
}

int scepd_relay_frame_length(size_t *out, const unsigned char header[4], size_t max)
{
    size_t len = ((size_t)header[0] << 24) | ((size_t)header[1] << 16) | ((size_t)header[2] << 8) |
                 (size_t)header[3];
    if (len == 0)
        return scep_fail(SCEP_EMALFORMED, "empty relay frame");
    if (len > max)
        return scep_fail(SCEP_ETOOBIG, "relay frame of %zu bytes exceeds the limit of %zu", len,
                         max);
    *out = len;
    return SCEP_OK;
}

int scepd_relay_frame_parse(json_t **out, const unsigned char *body, size_t len)
{
    json_error_t error;
    *out = NULL;
    json_t *frame = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &error);
    if (frame == NULL)
        return scep_fail(SCEP_EMALFORMED, "relay frame is not JSON: %.80s", error.text);
    if (!json_is_object(frame) || !json_is_string(json_object_get(frame, "type"))) {
        json_decref(frame);
        return scep_fail(SCEP_EMALFORMED, "relay frame is not an object with a type");
    }
    *out = frame;
    return SCEP_OK;
}

int scepd_relay_frame_encode(unsigned char **out, size_t *out_len, const json_t *frame, size_t max)
{
    size_t len = json_dumpb(frame, NULL, 0, JSON_COMPACT);
    if (len == 0)
        return scep_fail(SCEP_EMALFORMED, "relay frame cannot be encoded");
    if (len > max)
        return scep_fail(SCEP_ETOOBIG, "relay frame of %zu bytes exceeds the limit of %zu", len,
                         max);
    unsigned char *buf = malloc(len + 4);
    if (buf == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    if (json_dumpb(frame, (char *)buf + 4, len, JSON_COMPACT) != len) {
        free(buf);
        return scep_fail(SCEP_EMALFORMED, "relay frame changed while encoded");
    }
    buf[0] = (unsigned char)(len >> 24);
    buf[1] = (unsigned char)(len >> 16);
    buf[2] = (unsigned char)(len >> 8);
    buf[3] = (unsigned char)len;
    *out = buf;
    *out_len = len + 4;
    return SCEP_OK;
}

char *scepd_relay_dumps(const json_t *frame, size_t flags)
{
    size_t len = json_dumpb(frame, NULL, 0, flags);
    char *text = len > 0 ? malloc(len + 1) : NULL;
    if (text == NULL || json_dumpb(frame, text, len, flags) != len) {
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

void scepd_relay_socket_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int scepd_relay_send(SSL *ssl, const json_t *frame, size_t max)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = scepd_relay_frame_encode(&buf, &len, frame, max);
    if (rc < 0)
        return rc;
    ERR_clear_error();
    int n = SSL_write(ssl, buf, (int)len);
    OPENSSL_cleanse(buf, len); /* answers and requests may carry challenges */
    free(buf);
    if (n <= 0 || (size_t)n != len) {
        ERR_clear_error();
        return scep_fail(SCEP_ENETWORK, "relay channel: cannot send");
    }
    return SCEP_OK;
}

static long long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * Reads exactly `len` bytes by `deadline_ms`. Each SSL_read is bounded by the socket's
 * timeout, which a peer sending a byte now and then never trips: the deadline bounds the
 * whole. A connection left mid-frame cannot be read on, so running out is SCEP_ENETWORK.
 */
static int read_exact(SSL *ssl, unsigned char *buf, size_t len, long long deadline_ms)
{
    size_t got = 0;
    while (got < len) {
        long long left = deadline_ms - monotonic_ms();
        if (left <= 0)
            return scep_fail(SCEP_ENETWORK, "relay channel: a frame took too long");
        int seconds = left > SCEPD_RELAY_HANDSHAKE_TIMEOUT * 1000LL ? SCEPD_RELAY_HANDSHAKE_TIMEOUT
                                                                    : (int)((left + 999) / 1000);
        scepd_relay_socket_timeout(SSL_get_fd(ssl), seconds);
        size_t want = len - got > INT_MAX ? INT_MAX : len - got;
        ERR_clear_error();
        int n = SSL_read(ssl, buf + got, (int)want);
        if (n <= 0) {
            int timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
            ERR_clear_error();
            return scep_fail(SCEP_ENETWORK, timed_out ? "relay channel: the peer stopped mid-frame"
                                                      : "relay channel: closed");
        }
        got += (size_t)n;
    }
    return SCEP_OK;
}

int scepd_relay_recv(json_t **out, SSL *ssl, size_t max, int timeout)
{
    return scepd_relay_recv_within(out, ssl, max, timeout, SCEPD_RELAY_FRAME_TIME);
}

int scepd_relay_recv_within(json_t **out, SSL *ssl, size_t max, int timeout, int frame_time)
{
    unsigned char header[4];
    size_t len = 0;
    *out = NULL;
    int fd = SSL_get_fd(ssl);
    if (SSL_pending(ssl) == 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, timeout * 1000);
        if (ready == 0)
            return scep_fail(SCEP_ETIMEOUT, "relay channel: nothing within %ds", timeout);
        if (ready < 0)
            return scep_fail(SCEP_ENETWORK, "relay channel: poll failed");
    }
    /* Once a frame starts, the rest must follow promptly. */
    long long deadline_ms = monotonic_ms() + frame_time * 1000LL;
    int rc = read_exact(ssl, header, sizeof(header), deadline_ms);
    if (rc < 0)
        return rc;
    GUARD(scepd_relay_frame_length(&len, header, max));
    unsigned char *body = malloc(len);
    ENSURE_ALLOC(body);
    rc = read_exact(ssl, body, len, deadline_ms);
    if (rc == SCEP_OK)
        rc = scepd_relay_frame_parse(out, body, len);
    OPENSSL_cleanse(body, len);
    free(body);

cleanup:
    return rc;
}

int scepd_relay_tls_context(SSL_CTX **out, const struct scep_config_global *global, int server)
{
    int rc = SCEP_OK;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    ENSURE_OSSL(ctx != NULL, SCEP_ECRYPTO, "relay channel: cannot create a TLS context");
    ENSURE_OSSL(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1, SCEP_ECRYPTO,
                "relay channel: cannot require TLS 1.2");
    /* A TLS 1.2 renegotiation is a second handshake, with its own reads and its own peer
     * certificate, in the middle of a frame: the channel has no use for one. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    ENSURE_OSSL(SSL_CTX_use_certificate_chain_file(ctx, global->relay_tls_cert) == 1, SCEP_ECONFIG,
                "relay_tls_cert %s", global->relay_tls_cert);
    if (scep_key_open(&key, global->relay_tls_key, SCEP_KEY_OPEN_CHECK_FILE) < 0) {
        rc = scep_fail(SCEP_ECONFIG, "relay_tls_key: %s", scep_error_message());
        goto cleanup;
    }
    ENSURE_OSSL(SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1,
                SCEP_ECONFIG, "relay_tls_key %s does not match relay_tls_cert %s",
                global->relay_tls_key, global->relay_tls_cert);
    /* Only the configured CA vouches for the peer: never the system's trust store. */
    ENSURE_OSSL(SSL_CTX_load_verify_locations(ctx, global->relay_tls_ca, NULL) == 1, SCEP_ECONFIG,
                "relay_tls_ca %s", global->relay_tls_ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (server) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(global->relay_tls_ca);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(ctx, names);
        /* The CA node is one named holder of a relay_tls_ca certificate (check_relay_settings):
         * the chain verification then checks its DNS subjectAltNames, or its CN without any. */
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ENSURE_OSSL(global->relay_peer_name != NULL &&
                        X509_VERIFY_PARAM_set1_host(param, global->relay_peer_name, 0) == 1,
                    SCEP_ECONFIG, "relay_peer_name %s",
                    global->relay_peer_name ? global->relay_peer_name : "(unset)");
        /* No session tickets: they would make an idle connection readable with no frame. */
        (void)SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    *out = ctx;
    ctx = NULL;

cleanup:
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

void scepd_relay_tls_reason(char *out, size_t size, SSL *ssl)
{
    long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long err = ERR_peek_last_error();
    if (verify != X509_V_OK)
        snprintf(out, size, "peer certificate refused: %s", X509_verify_cert_error_string(verify));
    else if (err != 0)
        snprintf(out, size, "%s",
                 ERR_reason_error_string(err) ? ERR_reason_error_string(err) : "TLS error");
    else
        snprintf(out, size, "connection closed during the handshake");
    ERR_clear_error();
}

void scepd_relay_peer_name(char *out, size_t size, SSL *ssl)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    snprintf(out, size, "-");
    if (peer == NULL)
        return;
    char cn[128];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
                                  (int)sizeof(cn)) > 0)
        scepd_log_escape(out, size, cn);
}

int scepd_relay_set_b64(json_t *object, const char *key, const unsigned char *der, size_t len)
{
    char *text = NULL;
    int rc = scep_base64_encode(&text, der, len);
    if (rc < 0)
        return rc;
    rc = json_object_set_new(object, key, json_string(text)) == 0
             ? SCEP_OK
             : scep_fail(SCEP_ENOMEM, "out of memory");
    OPENSSL_clear_free(text, strlen(text));
    return rc;
}

int scepd_relay_get_b64(unsigned char **out, size_t *out_len, const json_t *object, const char *key,
                        size_t max)
{
    *out = NULL;
    *out_len = 0;
    json_t *value = json_object_get(object, key);
    if (value == NULL || json_is_null(value))
        return SCEP_OK;
    if (!json_is_string(value))
        return scep_fail(SCEP_EMALFORMED, "relay frame: %s is not a string", key);
    return scep_base64_decode_lenient(out, out_len, json_string_value(value),
                                      json_string_length(value), max);
}
