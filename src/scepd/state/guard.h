/*
 * Abuse resistance that needs memory across requests but not the store: the
 * failed authorisations per client address (a fixed window; over the limit the
 * address is refused before any password work), the senderNonces seen recently
 * (a nonce under a second transactionID is a replay), and the refusals already
 * written to the audit trail (one event per client, alias and reason per window,
 * with a count, so refused traffic cannot fill the disk).
 *
 * Bounded: at most SCEPD_GUARD_SLOTS entries per table; the oldest is replaced. A
 * restart forgets everything, which errs on the side of availability.
 */
#ifndef SCEPD_STATE_GUARD_H
#define SCEPD_STATE_GUARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SCEPD_GUARD_SLOTS       4096
#define SCEPD_GUARD_WINDOW      60  /* seconds: failed authorisations, refusal events */
#define SCEPD_GUARD_NONCE_TTL   600 /* seconds a senderNonce is remembered */
#define SCEPD_GUARD_KEY_MAX     64
#define SCEPD_GUARD_REFUSAL_MAX 160

struct scepd_guard_slot {
    uint64_t hash;
    char key[SCEPD_GUARD_REFUSAL_MAX]; /* client address, nonce hex or refusal key */
    char value[SCEPD_GUARD_KEY_MAX];   /* nonce: its transactionID's hash */
    time_t since;                      /* window start, or when the nonce was seen */
    unsigned count;
};

struct scepd_guard {
    pthread_mutex_t lock;
    struct scepd_guard_slot failures[SCEPD_GUARD_SLOTS];
    struct scepd_guard_slot nonces[SCEPD_GUARD_SLOTS];
    struct scepd_guard_slot refusals[SCEPD_GUARD_SLOTS];
};

int scepd_guard_init(struct scepd_guard *guard);
void scepd_guard_destroy(struct scepd_guard *guard);

/*
 * Whether `client` has had `limit` or more failed authorisations in the current window
 * (limit 0: never). Checked before any password work.
 */
int scepd_guard_blocked(struct scepd_guard *guard, const char *client, unsigned limit, time_t now);
/* Counts one failed authorisation of `client`; returns the count in this window. */
unsigned scepd_guard_failed(struct scepd_guard *guard, const char *client, time_t now);

/*
 * Remembers `nonce` (hex) for `transaction_id`; -1 when the same nonce was seen within
 * SCEPD_GUARD_NONCE_TTL under another transactionID (a replayed message), else 0.
 */
int scepd_guard_nonce(struct scepd_guard *guard, const unsigned char *nonce, size_t nonce_len,
                      const char *transaction_id, time_t now);

/*
 * Whether a refusal with `key` (client, alias, reason) should be written to the audit
 * trail now: 1 for the first of a window (then `*out_suppressed` is how many were not
 * written in the window before), 0 for the others.
 */
int scepd_guard_refusal(struct scepd_guard *guard, const char *key, time_t now,
                        unsigned *out_suppressed);

#endif
