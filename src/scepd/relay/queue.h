/*
 * The relay node's durable state (relay_state, one SQLite file): the requests it could
 * not answer at once, with what the CA answered them, and the last CA data the CA node
 * pushed. A request is committed before its client is told PENDING, so a restart of
 * either node loses nothing. Only the client's pkiMessage is kept (encrypted to the RA
 * key as it came), never its opened content, so no challenge lies on disk in clear.
 */
#ifndef SCEPD_RELAY_QUEUE_H
#define SCEPD_RELAY_QUEUE_H

#include "scep/common.h"
#include "scep/message.h"

#include <stddef.h>
#include <stdint.h>

enum scepd_relay_state {
    SCEPD_RELAY_QUEUED = 0,     /* waiting for a CA node */
    SCEPD_RELAY_FORWARDED = 1,  /* sent; the CA's answer has not come yet */
    SCEPD_RELAY_PENDING_CA = 2, /* the CA answered PENDING (manual approval): polls go there */
    SCEPD_RELAY_ANSWERED = 3,   /* the CA's final answer is stored, not yet fetched */
    SCEPD_RELAY_DELIVERED = 4   /* the client fetched the final answer */
};

struct scepd_relay_row {
    int64_t id;
    char alias[65];
    char transaction_id[SCEP_TRANSACTION_ID_MAX + 1];
    int message_type;
    unsigned char *message; /* the client's pkiMessage DER */
    size_t message_len;
    char client[64];
    int64_t received;
    int state;
    char *answer;                  /* the CA's answer frame (JSON), or NULL */
    unsigned char key_hash[32];    /* SHA-256 of the CSR's SubjectPublicKeyInfo */
    unsigned char signer_hash[32]; /* ... and of the signer certificate's */
};

struct scepd_relay_queue;

int scepd_relay_queue_open(struct scepd_relay_queue **out, const char *path) SCEP_MUST_CHECK;
void scepd_relay_queue_close(struct scepd_relay_queue *queue);
void scepd_relay_row_free(struct scepd_relay_row *row);

/* The row of (alias, transactionID); SCEP_ENOTFOUND when there is none. */
int scepd_relay_queue_find(struct scepd_relay_row **out, struct scepd_relay_queue *queue,
                           const char *alias, const char *transaction_id) SCEP_MUST_CHECK;
/* At most `total` rows QUEUED or FORWARDED, and `per_client` of one client address: a
 * new transaction beyond is refused (0: no bound). */
void scepd_relay_queue_bound(struct scepd_relay_queue *queue, int64_t total, int64_t per_client);
/* Stores `row` as QUEUED (or FORWARDED, when row->state says so: about to be sent),
 * without an answer, replacing an earlier row of its (alias, transactionID); durable when
 * it returns. Sets row->id. SCEP_EEXISTS when that row is another key's and its
 * transaction has not ended in a FAILURE (the row is left alone); SCEP_ETOOBIG when a
 * new transaction would exceed the bound. */
int scepd_relay_queue_put(struct scepd_relay_queue *queue,
                          struct scepd_relay_row *row) SCEP_MUST_CHECK;
/* Moves a row to `state` with `answer` (NULL keeps the stored one). A row the CA node
 * answered (PENDING_CA and later) does not go back to QUEUED or FORWARDED, and its message
 * is dropped; a FAILURE moved to DELIVERED is deleted. */
int scepd_relay_queue_set(struct scepd_relay_queue *queue, int64_t id, int state,
                          const char *answer) SCEP_MUST_CHECK;
/* The oldest QUEUED row with an id above `after`; SCEP_ENOTFOUND when none. */
int scepd_relay_queue_next(struct scepd_relay_row **out, struct scepd_relay_queue *queue,
                           int64_t after) SCEP_MUST_CHECK;
/* How many rows are QUEUED or FORWARDED (for /healthz and the log). */
int64_t scepd_relay_queue_waiting(struct scepd_relay_queue *queue);
/* Deletes delivered rows older than `delivered_before` and every row older than
 * `any_before`: only certificates in flight stay on the relay. */
int scepd_relay_queue_purge(struct scepd_relay_queue *queue, int64_t delivered_before,
                            int64_t any_before) SCEP_MUST_CHECK;

/* The CA node's last push (JSON text), kept across restarts; *out NULL when none. */
int scepd_relay_push_save(struct scepd_relay_queue *queue, const char *push) SCEP_MUST_CHECK;
int scepd_relay_push_load(char **out, struct scepd_relay_queue *queue) SCEP_MUST_CHECK;

#endif
