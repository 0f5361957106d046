/*
 * The relay channel (operations.md "A relay in the DMZ"): TLS over TCP between a relay
 * node (TLS server, relay_listen) and its CA node (TLS client, relay_connect), mutual
 * authentication against relay_tls_ca only. On it, frames: a 4-byte big-endian length,
 * then that many bytes of one JSON object with a string "type"; binary values are base64.
 * One request is in flight per connection; the relay asks, the CA node answers.
 */
#ifndef SCEPD_RELAY_CHANNEL_H
#define SCEPD_RELAY_CHANNEL_H

#include "config/config.h"
#include "scep/common.h"

#include <jansson.h>
#include <openssl/ssl.h>
#include <stddef.h>

/* What a frame may hold beyond max_body: the base64 of a message and its content, the
 * certificates of an answer, a CRL. */
#define SCEPD_RELAY_FRAME_MARGIN (256u * 1024u)
/* Seconds between pings on an idle connection, and of silence after which a peer is gone. */
#define SCEPD_RELAY_PING_INTERVAL 15
#define SCEPD_RELAY_SILENCE       45
/* Seconds a TLS handshake may take. */
#define SCEPD_RELAY_HANDSHAKE_TIMEOUT 10
/* Seconds from a TCP connection to the end of its TLS handshake (and, on the relay, the
 * CA node's first push). */
#define SCEPD_RELAY_HANDSHAKE_DEADLINE (2 * SCEPD_RELAY_HANDSHAKE_TIMEOUT)
/* Seconds from a frame's first byte to its last. */
#define SCEPD_RELAY_FRAME_TIME 45

/* The largest frame body for a node whose max_body is `max_body`. */
size_t scepd_relay_frame_max(long long max_body);

/*
 * The frame codec, apart from the socket so it can be tested: the body length a header
 * announces (SCEP_ETOOBIG above `max`, SCEP_EMALFORMED for 0), a body's JSON object
 * (SCEP_EMALFORMED unless an object with a string "type"; *out is the caller's), and
 * a frame's bytes (*out is the caller's, free()).
 */
int scepd_relay_frame_length(size_t *out, const unsigned char header[4],
                             size_t max) SCEP_MUST_CHECK;
int scepd_relay_frame_parse(json_t **out, const unsigned char *body, size_t len) SCEP_MUST_CHECK;
int scepd_relay_frame_encode(unsigned char **out, size_t *out_len, const json_t *frame,
                             size_t max) SCEP_MUST_CHECK;

/* A frame as malloc'ed text (free()), NUL-terminated; NULL when out of memory. jansson's own
 * json_dumps text belongs to its allocator (scepd_jansson_init), so this one is used. */
char *scepd_relay_dumps(const json_t *frame, size_t flags);

/* Sends one frame; the socket's send timeout bounds it. */
int scepd_relay_send(SSL *ssl, const json_t *frame, size_t max) SCEP_MUST_CHECK;
/* Receives one frame that starts within `timeout` seconds and is complete within
 * SCEPD_RELAY_FRAME_TIME of its start (SCEP_ETIMEOUT: nothing came, the connection is
 * still good; SCEP_ENETWORK: the peer closed, TLS failed, or the frame stalled;
 * SCEP_ETOOBIG, SCEP_EMALFORMED: a broken peer). */
int scepd_relay_recv(json_t **out, SSL *ssl, size_t max, int timeout) SCEP_MUST_CHECK;
/* The same with `frame_time` seconds for the frame. */
int scepd_relay_recv_within(json_t **out, SSL *ssl, size_t max, int timeout,
                            int frame_time) SCEP_MUST_CHECK;
/* Sets the socket's receive and send timeouts. */
void scepd_relay_socket_timeout(int fd, int seconds);

/*
 * The TLS context of either end: TLS 1.2 or later without renegotiation, this node's
 * relay_tls_cert and relay_tls_key (the key file checked as CA keys are: 0600 and ours),
 * and peers verified against relay_tls_ca alone (no system trust), a certificate required
 * of both ends.
 */
int scepd_relay_tls_context(SSL_CTX **out, const struct scep_config_global *global,
                            int server) SCEP_MUST_CHECK;
/* Why the last handshake of `ssl` failed, for the log (the verification result when the
 * peer's certificate was refused). */
void scepd_relay_tls_reason(char *out, size_t size, SSL *ssl);
/* The peer certificate's CN (or "-"). */
void scepd_relay_peer_name(char *out, size_t size, SSL *ssl);

/* Base64 of `der` into `object[key]`; and back (a missing key gives *out = NULL). */
int scepd_relay_set_b64(json_t *object, const char *key, const unsigned char *der,
                        size_t len) SCEP_MUST_CHECK;
int scepd_relay_get_b64(unsigned char **out, size_t *out_len, const json_t *object, const char *key,
                        size_t max) SCEP_MUST_CHECK;

#endif
