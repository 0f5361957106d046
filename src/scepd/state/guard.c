#include "scepd/state/guard.h"

#include <stdio.h>
#include <string.h>

/* FNV-1a: a slot index, not a security boundary (the key is compared in full). */
static uint64_t fnv1a(const char *text)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

int scepd_guard_init(struct scepd_guard *guard)
{
    memset(guard, 0, sizeof(*guard));
    return pthread_mutex_init(&guard->lock, NULL) == 0 ? 0 : -1;
}

void scepd_guard_destroy(struct scepd_guard *guard)
{
    pthread_mutex_destroy(&guard->lock);
}

/*
 * The slot for `key` in `table`: the one holding it, else (when `create`) a free one or
 * the one seen longest ago among a few probes (bounded work per call). NULL otherwise.
 */
#define PROBES 8
static struct scepd_guard_slot *slot_for(struct scepd_guard_slot *table, const char *key,
                                         int create)
{
    uint64_t h = fnv1a(key);
    struct scepd_guard_slot *oldest = NULL;
    for (unsigned i = 0; i < PROBES; i++) {
        struct scepd_guard_slot *slot = &table[(h + i) % SCEPD_GUARD_SLOTS];
        if (slot->key[0] != '\0' && slot->hash == h && strcmp(slot->key, key) == 0)
            return slot;
        if (oldest == NULL || slot->key[0] == '\0' ||
            (oldest->key[0] != '\0' && slot->since < oldest->since))
            oldest = slot;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    oldest->hash = h;
    snprintf(oldest->key, sizeof(oldest->key), "%s", key);
    return oldest;
}

/* Starts a new window when the slot's has passed. */
static void roll(struct scepd_guard_slot *slot, time_t now)
{
    if (slot->since == 0 || now - slot->since >= SCEPD_GUARD_WINDOW) {
        slot->since = now;
        slot->count = 0;
    }
}

int scepd_guard_blocked(struct scepd_guard *guard, const char *client, unsigned limit, time_t now)
{
    if (limit == 0 || client == NULL)
        return 0;
    pthread_mutex_lock(&guard->lock);
    struct scepd_guard_slot *slot = slot_for(guard->failures, client, 0);
    int blocked = slot != NULL && now - slot->since < SCEPD_GUARD_WINDOW && slot->count >= limit;
    pthread_mutex_unlock(&guard->lock);
    return blocked;
}

unsigned scepd_guard_failed(struct scepd_guard *guard, const char *client, time_t now)
{
    if (client == NULL)
        return 0;
    pthread_mutex_lock(&guard->lock);
    struct scepd_guard_slot *slot = slot_for(guard->failures, client, 1);
    roll(slot, now);
    unsigned count = ++slot->count;
    pthread_mutex_unlock(&guard->lock);
    return count;
}

int scepd_guard_nonce(struct scepd_guard *guard, const unsigned char *nonce, size_t nonce_len,
                      const char *transaction_id, time_t now)
{
    char key[SCEPD_GUARD_REFUSAL_MAX];
    char tid[SCEPD_GUARD_KEY_MAX];
    size_t n = 0;
    for (size_t i = 0; i < nonce_len && n + 3 < sizeof(key); i++)
        n += (size_t)snprintf(key + n, sizeof(key) - n, "%02x", nonce[i]);
    key[n] = '\0';
    /* The transactionID is kept as a hash: 64 hex digits would not fit, and only equality
     * matters. */
    snprintf(tid, sizeof(tid), "%016llx", (unsigned long long)fnv1a(transaction_id));
    if (n == 0)
        return 0;
    pthread_mutex_lock(&guard->lock);
    struct scepd_guard_slot *slot = slot_for(guard->nonces, key, 1);
    int replayed = slot->since != 0 && now - slot->since < SCEPD_GUARD_NONCE_TTL &&
                   strcmp(slot->value, tid) != 0;
    if (!replayed) {
        slot->since = now;
        snprintf(slot->value, sizeof(slot->value), "%s", tid);
    }
    pthread_mutex_unlock(&guard->lock);
    return replayed ? -1 : 0;
}

int scepd_guard_refusal(struct scepd_guard *guard, const char *key, time_t now,
                        unsigned *out_suppressed)
{
    pthread_mutex_lock(&guard->lock);
    struct scepd_guard_slot *slot = slot_for(guard->refusals, key, 1);
    int first = slot->since == 0 || now - slot->since >= SCEPD_GUARD_WINDOW;
    if (first) {
        /* The count of the window that ended is what was not written. */
        *out_suppressed = slot->count > 0 ? slot->count - 1 : 0;
        slot->since = now;
        slot->count = 0;
    }
    slot->count++;
    pthread_mutex_unlock(&guard->lock);
    return first;
}
