/*
 * The relay channel's frame codec and I/O bounds (src/scepd/relay/channel.c) and the
 * relay node's durable queue (queue.c): a header over the limit is refused before any
 * body is read, JSON that is not an object with a type is refused, a truncated frame and
 * a silent peer end in an error within their time, and the queue keeps one row per
 * transaction, survives a reopen and sends again what was in flight.
 */
#include "test_support.h"

#include "scepd/log.h"
#include "scepd/relay/channel.h"
#include "scepd/relay/queue.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void header(unsigned char out[4], size_t len)
{
    out[0] = (unsigned char)(len >> 24);
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
}

static void frame_length_is_bounded(void **state)
{
    (void)state;
    unsigned char h[4];
    size_t len = 0;
    header(h, 100);
    assert_int_equal(scepd_relay_frame_length(&len, h, 100), SCEP_OK);
    assert_int_equal(len, 100);
    header(h, 101);
    assert_int_equal(scepd_relay_frame_length(&len, h, 100), SCEP_ETOOBIG);
    header(h, 0);
    assert_int_equal(scepd_relay_frame_length(&len, h, 100), SCEP_EMALFORMED);
    memset(h, 0xff, sizeof(h));
    assert_int_equal(scepd_relay_frame_length(&len, h, scepd_relay_frame_max(64LL << 20)),
                     SCEP_ETOOBIG);
}

static void frame_parse_wants_an_object_with_a_type(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"type\":",   "[1,2]",    "{\"id\":1}",
        "{\"type\":3}", "\"type\"", "{\"type\":\"a\",\"type\":\"b\"}",
    };
    json_t *frame = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            scepd_relay_frame_parse(&frame, (const unsigned char *)bad[i], strlen(bad[i])),
            SCEP_EMALFORMED);
        assert_null(frame);
    }
    static const char good[] = "{\"type\":\"ping\"}";
    assert_int_equal(scepd_relay_frame_parse(&frame, (const unsigned char *)good, strlen(good)),
                     SCEP_OK);
    assert_string_equal(json_string_value(json_object_get(frame, "type")), "ping");
    json_decref(frame);
}

static void frame_encode_round_trips_and_is_bounded(void **state)
{
    (void)state;
    static const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x05};
    json_t *frame = json_pack("{s:s, s:i}", "type", "request", "id", 7);
    assert_non_null(frame);
    assert_int_equal(scepd_relay_set_b64(frame, "message", der, sizeof(der)), SCEP_OK);
    unsigned char *buf = NULL;
    size_t len = 0, body = 0;
    assert_int_equal(scepd_relay_frame_encode(&buf, &len, frame, 4096), SCEP_OK);
    assert_int_equal(scepd_relay_frame_length(&body, buf, 4096), SCEP_OK);
    assert_int_equal(body + 4, len);
    json_t *back = NULL;
    assert_int_equal(scepd_relay_frame_parse(&back, buf + 4, body), SCEP_OK);
    unsigned char *decoded = NULL;
    size_t decoded_len = 0;
    assert_int_equal(scepd_relay_get_b64(&decoded, &decoded_len, back, "message", 64), SCEP_OK);
    assert_int_equal(decoded_len, sizeof(der));
    assert_memory_equal(decoded, der, sizeof(der));
    OPENSSL_free(decoded);
    /* A value over its own limit is refused too. */
    assert_int_equal(scepd_relay_get_b64(&decoded, &decoded_len, back, "message", 2), SCEP_ETOOBIG);
    json_decref(back);
    free(buf);
    assert_int_equal(scepd_relay_frame_encode(&buf, &len, frame, 10), SCEP_ETOOBIG);
    json_decref(frame);
}

/* ---- over TLS: a socketpair, the test's own certificate, a peer that misbehaves ----- */

struct peer {
    SSL_CTX *ctx;
    int fd;
    const unsigned char *bytes; /* written raw after the handshake, then closed */
    size_t len;
    int linger;     /* seconds to stay silent before closing */
    int trickle_ms; /* > 0: written a byte at a time, this far apart */
};

static void *peer_main(void *arg)
{
    struct peer *peer = arg;
    SSL *ssl = SSL_new(peer->ctx);
    SSL_set_fd(ssl, peer->fd);
    if (SSL_accept(ssl) == 1) {
        for (size_t i = 0; peer->trickle_ms > 0 && i < peer->len; i++) {
            if (SSL_write(ssl, peer->bytes + i, 1) != 1)
                break;
            struct timespec pause = {0, (long)peer->trickle_ms * 1000000L};
            nanosleep(&pause, NULL);
        }
        if (peer->trickle_ms == 0 && peer->len > 0)
            (void)SSL_write(ssl, peer->bytes, (int)peer->len);
        if (peer->linger > 0)
            sleep((unsigned)peer->linger);
        (void)SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(peer->fd);
    return NULL;
}

static EVP_PKEY *tls_key;
static X509 *tls_cert;

static int setup(void **state)
{
    (void)state;
    scepd_jansson_init();
    tls_key = test_rsa_key(2048);
    tls_cert = test_self_signed(tls_key, "relay test");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(tls_key);
    X509_free(tls_cert);
    return 0;
}

/* Runs a peer that sends `bytes` (a byte every `trickle_ms`, or at once) and lingers;
 * returns what scepd_relay_recv_within said with `frame_time`. */
static int recv_slowly(const unsigned char *bytes, size_t len, int trickle_ms, int linger,
                       size_t max, int timeout, int frame_time)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    SSL_CTX *server = SSL_CTX_new(TLS_server_method());
    SSL_CTX *client = SSL_CTX_new(TLS_client_method());
    assert_int_equal(SSL_CTX_use_certificate(server, tls_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server, tls_key), 1);
    SSL_CTX_set_num_tickets(server, 0);
    struct peer peer = {server, fds[1], bytes, len, linger, trickle_ms};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, peer_main, &peer), 0);
    SSL *ssl = SSL_new(client);
    SSL_set_fd(ssl, fds[0]);
    assert_int_equal(SSL_connect(ssl), 1);
    json_t *frame = NULL;
    int rc = frame_time > 0 ? scepd_relay_recv_within(&frame, ssl, max, timeout, frame_time)
                            : scepd_relay_recv(&frame, ssl, max, timeout);
    json_decref(frame);
    pthread_join(thread, NULL);
    SSL_free(ssl);
    close(fds[0]);
    SSL_CTX_free(server);
    SSL_CTX_free(client);
    ERR_clear_error();
    return rc;
}

static int recv_from(const unsigned char *bytes, size_t len, int linger, size_t max, int timeout)
{
    return recv_slowly(bytes, len, 0, linger, max, timeout, 0);
}

static void recv_refuses_what_a_broken_peer_sends(void **state)
{
    (void)state;
    unsigned char buf[64];
    static const char ping[] = "{\"type\":\"ping\"}";
    header(buf, sizeof(ping) - 1);
    memcpy(buf + 4, ping, sizeof(ping) - 1);
    assert_int_equal(recv_from(buf, 4 + sizeof(ping) - 1, 0, 1024, 5), SCEP_OK);
    /* Oversized: refused from the header, the body is never read. */
    header(buf, 1u << 30);
    assert_int_equal(recv_from(buf, 4, 0, 1024, 5), SCEP_ETOOBIG);
    /* Truncated: the header promises more than comes before the peer closes. */
    header(buf, 40);
    memcpy(buf + 4, "{\"type\"", 7);
    assert_int_equal(recv_from(buf, 11, 0, 1024, 5), SCEP_ENETWORK);
    /* Not JSON. */
    header(buf, 5);
    memcpy(buf + 4, "hello", 5);
    assert_int_equal(recv_from(buf, 9, 0, 1024, 5), SCEP_EMALFORMED);
    /* Silent: nothing within the timeout. */
    time_t start = time(NULL);
    assert_int_equal(recv_from(NULL, 0, 3, 1024, 1), SCEP_ETIMEOUT);
    assert_true(time(NULL) - start <= 5);

    /* A frame that starts and stalls, or comes a byte now and then: the connection is
     * given up within the frame's time (never SCEP_ETIMEOUT, which would have the caller
     * read on from the middle of a frame). */
    header(buf, 40);
    memcpy(buf + 4, "{\"type\":\"ping\"", 15);
    start = time(NULL);
    assert_int_equal(recv_slowly(buf, 19, 0, 3, 1024, 5, 2), SCEP_ENETWORK);
    assert_int_equal(recv_slowly(buf, 19, 200, 0, 1024, 5, 2), SCEP_ENETWORK);
    assert_true(time(NULL) - start <= 12);
}

/* ---- the queue ---------------------------------------------------------------------- */

static void queue_keeps_one_row_per_transaction_across_reopen(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/relay.db", dir);
    struct scepd_relay_queue *queue = NULL;
    assert_int_equal(scepd_relay_queue_open(&queue, path), SCEP_OK);

    unsigned char message[] = {0x30, 0x00};
    struct scepd_relay_row row = {
        .message_type = 19,
        .message = message,
        .message_len = sizeof(message),
        .received = 1000,
    };
    snprintf(row.alias, sizeof(row.alias), "dmz");
    snprintf(row.transaction_id, sizeof(row.transaction_id), "T1");
    snprintf(row.client, sizeof(row.client), "192.0.2.1");
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    int64_t first = row.id;
    /* A retransmission: the same row, never a second one. */
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    assert_int_equal(row.id, first);
    assert_int_equal(scepd_relay_queue_waiting(queue), 1);

    /* Sent when the relay stopped: sent again after the reopen. */
    assert_int_equal(scepd_relay_queue_set(queue, first, SCEPD_RELAY_FORWARDED, NULL), SCEP_OK);
    struct scepd_relay_row *next = NULL;
    assert_int_equal(scepd_relay_queue_next(&next, queue, 0), SCEP_ENOTFOUND);
    assert_int_equal(scepd_relay_push_save(queue, "{\"type\":\"push\"}"), SCEP_OK);
    scepd_relay_queue_close(queue);
    queue = NULL;
    assert_int_equal(scepd_relay_queue_open(&queue, path), SCEP_OK);
    assert_int_equal(scepd_relay_queue_next(&next, queue, 0), SCEP_OK);
    assert_int_equal(next->id, first);
    assert_string_equal(next->client, "192.0.2.1");
    assert_int_equal(next->message_len, sizeof(message));
    scepd_relay_row_free(next);
    char *push = NULL;
    assert_int_equal(scepd_relay_push_load(&push, queue), SCEP_OK);
    assert_string_equal(push, "{\"type\":\"push\"}");
    free(push);

    /* The CA's answer is kept on the row until it is delivered and old. */
    assert_int_equal(scepd_relay_queue_set(queue, first, SCEPD_RELAY_ANSWERED,
                                           "{\"type\":\"answer\",\"status\":\"success\"}"),
                     SCEP_OK);
    struct scepd_relay_row *found = NULL;
    assert_int_equal(scepd_relay_queue_find(&found, queue, "dmz", "T1"), SCEP_OK);
    assert_int_equal(found->state, SCEPD_RELAY_ANSWERED);
    assert_non_null(strstr(found->answer, "success"));
    scepd_relay_row_free(found);
    assert_int_equal(scepd_relay_queue_find(&found, queue, "other", "T1"), SCEP_ENOTFOUND);
    assert_int_equal(scepd_relay_queue_set(queue, first, SCEPD_RELAY_DELIVERED, NULL), SCEP_OK);
    assert_int_equal(scepd_relay_queue_purge(queue, time(NULL) + 1, 0), SCEP_OK);
    assert_int_equal(scepd_relay_queue_find(&found, queue, "dmz", "T1"), SCEP_ENOTFOUND);

    scepd_relay_queue_close(queue);
    test_rmdir(dir);
    free(dir);
}

static void queue_keeps_a_transaction_to_its_key(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/relay.db", dir);
    struct scepd_relay_queue *queue = NULL;
    assert_int_equal(scepd_relay_queue_open(&queue, path), SCEP_OK);

    unsigned char message[] = {0x30, 0x00};
    struct scepd_relay_row victim = {
        .message_type = 19,
        .message = message,
        .message_len = sizeof(message),
        .received = 1000,
    };
    snprintf(victim.alias, sizeof(victim.alias), "dmz");
    snprintf(victim.transaction_id, sizeof(victim.transaction_id), "T1");
    snprintf(victim.client, sizeof(victim.client), "192.0.2.1");
    memset(victim.key_hash, 0x11, sizeof(victim.key_hash));
    assert_int_equal(scepd_relay_queue_put(queue, &victim), SCEP_OK);
    struct scepd_relay_row stranger = victim;
    snprintf(stranger.client, sizeof(stranger.client), "198.51.100.7");
    memset(stranger.key_hash, 0x22, sizeof(stranger.key_hash));

    /* Queued, answered with a certificate, delivered: the transaction stays its key's. */
    static const int states[] = {SCEPD_RELAY_QUEUED, SCEPD_RELAY_PENDING_CA, SCEPD_RELAY_ANSWERED,
                                 SCEPD_RELAY_DELIVERED};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        assert_int_equal(scepd_relay_queue_set(queue, victim.id, states[i],
                                               states[i] >= SCEPD_RELAY_ANSWERED
                                                   ? "{\"type\":\"answer\",\"status\":\"success\"}"
                                                   : NULL),
                         SCEP_OK);
        assert_int_equal(scepd_relay_queue_put(queue, &stranger), SCEP_EEXISTS);
        struct scepd_relay_row *found = NULL;
        assert_int_equal(scepd_relay_queue_find(&found, queue, "dmz", "T1"), SCEP_OK);
        assert_int_equal(found->state, states[i]);
        assert_memory_equal(found->key_hash, victim.key_hash, 32);
        assert_string_equal(found->client, "192.0.2.1");
        scepd_relay_row_free(found);
    }
    /* The same key may send again; after a FAILURE, the transactionID is free. */
    assert_int_equal(scepd_relay_queue_put(queue, &victim), SCEP_OK);
    assert_int_equal(
        scepd_relay_queue_set(queue, victim.id, SCEPD_RELAY_ANSWERED,
                              "{\"type\":\"answer\",\"status\":\"failure\",\"fail_info\":2}"),
        SCEP_OK);
    assert_int_equal(scepd_relay_queue_put(queue, &stranger), SCEP_OK);

    scepd_relay_queue_close(queue);
    test_rmdir(dir);
    free(dir);
}

static void queue_is_bounded_in_all_and_per_client(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/relay.db", dir);
    struct scepd_relay_queue *queue = NULL;
    assert_int_equal(scepd_relay_queue_open(&queue, path), SCEP_OK);
    scepd_relay_queue_bound(queue, 5, 3);

    unsigned char message[] = {0x30, 0x00};
    struct scepd_relay_row row = {
        .message_type = 19,
        .message = message,
        .message_len = sizeof(message),
        .received = 1000,
    };
    snprintf(row.alias, sizeof(row.alias), "dmz");
    snprintf(row.client, sizeof(row.client), "198.51.100.7");
    for (int i = 0; i < 3; i++) {
        snprintf(row.transaction_id, sizeof(row.transaction_id), "A%d", i);
        assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    }
    int64_t first_of_a = row.id - 2;
    /* One client's fourth waiting request is refused; its retransmissions are not. */
    snprintf(row.transaction_id, sizeof(row.transaction_id), "A3");
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_ETOOBIG);
    snprintf(row.transaction_id, sizeof(row.transaction_id), "A0");
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    /* Others still fit, up to the bound of all. */
    snprintf(row.client, sizeof(row.client), "192.0.2.1");
    for (int i = 0; i < 2; i++) {
        snprintf(row.transaction_id, sizeof(row.transaction_id), "B%d", i);
        assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    }
    snprintf(row.transaction_id, sizeof(row.transaction_id), "B2");
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_ETOOBIG);
    assert_int_equal(scepd_relay_queue_waiting(queue), 5);
    /* What the CA node answered no longer waits. */
    assert_int_equal(scepd_relay_queue_set(queue, first_of_a, SCEPD_RELAY_ANSWERED,
                                           "{\"type\":\"answer\",\"status\":\"success\"}"),
                     SCEP_OK);
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);

    scepd_relay_queue_close(queue);
    test_rmdir(dir);
    free(dir);
}

static void queue_keeps_no_more_than_it_needs(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[512];
    snprintf(path, sizeof(path), "%s/relay.db", dir);
    struct scepd_relay_queue *queue = NULL;
    assert_int_equal(scepd_relay_queue_open(&queue, path), SCEP_OK);

    unsigned char message[] = {0x30, 0x00};
    struct scepd_relay_row row = {
        .message_type = 19,
        .message = message,
        .message_len = sizeof(message),
        .received = 1000,
        .state = SCEPD_RELAY_FORWARDED,
    };
    snprintf(row.alias, sizeof(row.alias), "dmz");
    snprintf(row.transaction_id, sizeof(row.transaction_id), "T1");
    snprintf(row.client, sizeof(row.client), "192.0.2.1");
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    assert_int_equal(scepd_relay_queue_set(queue, row.id, SCEPD_RELAY_ANSWERED,
                                           "{\"type\":\"answer\",\"status\":\"success\"}"),
                     SCEP_OK);
    /* A connection that failed late re-queues nothing the CA node answered. */
    assert_int_equal(scepd_relay_queue_set(queue, row.id, SCEPD_RELAY_QUEUED, NULL), SCEP_OK);
    struct scepd_relay_row *found = NULL;
    assert_int_equal(scepd_relay_queue_find(&found, queue, "dmz", "T1"), SCEP_OK);
    assert_int_equal(found->state, SCEPD_RELAY_ANSWERED);
    assert_int_equal(found->message_len, 0);
    assert_non_null(strstr(found->answer, "success"));
    scepd_relay_row_free(found);
    assert_int_equal(scepd_relay_queue_next(&found, queue, 0), SCEP_ENOTFOUND);
    /* A certificate delivered stays for a fetch again; a FAILURE delivered goes. */
    assert_int_equal(scepd_relay_queue_set(queue, row.id, SCEPD_RELAY_DELIVERED, NULL), SCEP_OK);
    assert_int_equal(scepd_relay_queue_find(&found, queue, "dmz", "T1"), SCEP_OK);
    scepd_relay_row_free(found);

    snprintf(row.transaction_id, sizeof(row.transaction_id), "T2");
    assert_int_equal(scepd_relay_queue_put(queue, &row), SCEP_OK);
    assert_int_equal(
        scepd_relay_queue_set(queue, row.id, SCEPD_RELAY_DELIVERED,
                              "{\"type\":\"answer\",\"status\":\"failure\",\"fail_info\":2}"),
        SCEP_OK);
    assert_int_equal(scepd_relay_queue_find(&found, queue, "dmz", "T2"), SCEP_ENOTFOUND);

    scepd_relay_queue_close(queue);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_length_is_bounded),
        cmocka_unit_test(frame_parse_wants_an_object_with_a_type),
        cmocka_unit_test(frame_encode_round_trips_and_is_bounded),
        cmocka_unit_test(recv_refuses_what_a_broken_peer_sends),
        cmocka_unit_test(queue_keeps_one_row_per_transaction_across_reopen),
        cmocka_unit_test(queue_keeps_a_transaction_to_its_key),
        cmocka_unit_test(queue_is_bounded_in_all_and_per_client),
        cmocka_unit_test(queue_keeps_no_more_than_it_needs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
