/*
 * The audit trail's hash chain (docs/store.md "Audit chain"): the one definition of an
 * event's hash, the append that chains each event to the newest one (on top of the
 * backend's row operations, inside the front end's write transaction), and the verifier,
 * which walks the chain through the backend without knowing how it stores rows.
 */
#include "store/store_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "util/error_internal.h"

/* Field kinds of the canonical encoding: a NULL text is not the empty text. */
enum { FIELD_NULL = 0, FIELD_TEXT = 1, FIELD_INT = 2 };

/* The encoding's first field names it, so a future encoding can never collide with it. */
static const char chain_label[] = "scepd audit chain v1";

/* One field: kind (1 octet), length (4 octets, big-endian), the octets. */
static int put_field(EVP_MD_CTX *md, int kind, const void *data, size_t len)
{
    unsigned char head[5];
    if (len > SCEP_STORE_MAX_TEXT)
        return scep_fail(SCEP_ETOOBIG, "store: audit field longer than %u bytes",
                         SCEP_STORE_MAX_TEXT);
    head[0] = (unsigned char)kind;
    head[1] = (unsigned char)(len >> 24);
    head[2] = (unsigned char)(len >> 16);
    head[3] = (unsigned char)(len >> 8);
    head[4] = (unsigned char)len;
    if (EVP_DigestUpdate(md, head, sizeof(head)) != 1 ||
        (len > 0 && EVP_DigestUpdate(md, data, len) != 1))
        return scep_fail(SCEP_ECRYPTO, "store: hashing an audit event");
    return SCEP_OK;
}

static int put_text(EVP_MD_CTX *md, const char *text)
{
    if (text == NULL)
        return put_field(md, FIELD_NULL, NULL, 0);
    return put_field(md, FIELD_TEXT, text, strnlen(text, SCEP_STORE_MAX_TEXT + 1));
}

/* Two's complement, 8 octets, big-endian. */
static int put_int(EVP_MD_CTX *md, int64_t value)
{
    unsigned char octets[8];
    uint64_t v = (uint64_t)value;
    for (int i = 7; i >= 0; i--) {
        octets[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return put_field(md, FIELD_INT, octets, sizeof(octets));
}

int scep_store_audit_hash(char out[SCEP_STORE_AUDIT_HASH_HEX + 1], const char *prev_hash,
                          const scep_store_audit_event *event)
{
    static const char hex[] = "0123456789abcdef";
    int rc = SCEP_OK;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ENSURE_ALLOC(md);
    ENSURE(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, SCEP_ECRYPTO,
           "store: hashing an audit event");
    GUARD(put_text(md, chain_label));
    GUARD(put_text(md, prev_hash));
    GUARD(put_int(md, event->id));
    GUARD(put_int(md, event->time));
    GUARD(put_text(md, event->actor));
    GUARD(put_text(md, event->action));
    GUARD(put_text(md, event->alias));
    GUARD(put_text(md, event->transaction_id));
    GUARD(put_text(md, event->outcome));
    GUARD(put_text(md, event->detail));
    ENSURE(EVP_DigestFinal_ex(md, digest, &digest_len) == 1 &&
               digest_len * 2 == SCEP_STORE_AUDIT_HASH_HEX,
           SCEP_ECRYPTO, "store: hashing an audit event");
    for (unsigned int i = 0; i < digest_len; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[SCEP_STORE_AUDIT_HASH_HEX] = '\0';
cleanup:
    EVP_MD_CTX_free(md);
    return rc;
}

static int well_formed_hash(const char *hash)
{
    if (hash == NULL || strlen(hash) != SCEP_STORE_AUDIT_HASH_HEX)
        return 0;
    for (const char *p = hash; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* One step of the walk: the event must be well formed, hash to itself and follow the last. */
static int verify_visit(const scep_store_audit_event *event, void *payload)
{
    scep_store_audit_check *check = payload;
    char computed[SCEP_STORE_AUDIT_HASH_HEX + 1];

    scep_store_audit_fault fault = SCEP_AUDIT_INTACT;
    if (!well_formed_hash(event->hash) || !well_formed_hash(event->prev_hash)) {
        fault = SCEP_AUDIT_UNCHAINED;
    } else {
        int rc = scep_store_audit_hash(computed, event->prev_hash, event);
        if (rc < 0)
            return rc;
        /* Both are public values: no constant-time comparison needed. */
        if (strcmp(computed, event->hash) != 0)
            fault = SCEP_AUDIT_EDITED;
        else if (check->head_id != 0 && event->id != check->head_id + 1)
            fault = SCEP_AUDIT_GAP;
        else if (strcmp(event->prev_hash, check->head_hash) != 0)
            fault = SCEP_AUDIT_BROKEN_LINK;
    }
    if (fault != SCEP_AUDIT_INTACT) {
        check->fault = fault;
        check->event_id = event->id;
        check->previous_id = check->head_id;
        return 1;
    }
    check->checked++;
    check->head_id = event->id;
    memcpy(check->head_hash, event->hash, sizeof(check->head_hash));
    return 0;
}

int scep_store_audit_append_in_tx(scep_store *store, const scep_store_audit_event *event)
{
    int rc = SCEP_OK;
    char *last_hash = NULL;
    int found = 0;
    int64_t last_id = 0;
    char hash[SCEP_STORE_AUDIT_HASH_HEX + 1];
    scep_store_audit_event row = *event;

    GUARD(store->ops->audit_last(&last_id, &last_hash, &found, store));
    if (!found)
        last_id = 0;
    ENSURE(last_id >= 0 && last_id < INT64_MAX, SCEP_ESTORE, "audit event ids exhausted");
    /* After an unchained row (written around the store) the chain stays broken: "" */
    const char *prev_hash = !found ? SCEP_STORE_AUDIT_GENESIS : last_hash != NULL ? last_hash : "";
    /* The id is given explicitly because it is hashed. */
    row.id = last_id + 1;
    row.prev_hash = NULL;
    row.hash = NULL;
    GUARD(scep_store_audit_hash(hash, prev_hash, &row));
    row.prev_hash = prev_hash;
    row.hash = hash;
    GUARD(store->ops->audit_insert(store, &row));
cleanup:
    OPENSSL_free(last_hash);
    return rc;
}

int scep_store_audit_verify(scep_store_audit_check *out, scep_store *store)
{
    int rc = SCEP_OK;
    ENSURE(out != NULL && store != NULL, SCEP_EINVAL, "store: NULL argument");
    memset(out, 0, sizeof(*out));
    memcpy(out->head_hash, SCEP_STORE_AUDIT_GENESIS, sizeof(out->head_hash));
    rc = store->ops->audit_walk(store, verify_visit, out);
    if (rc > 0)
        rc = SCEP_OK;
    GUARD(rc);
cleanup:
    return rc;
}

const char *scep_store_audit_fault_text(scep_store_audit_fault fault)
{
    switch (fault) {
    case SCEP_AUDIT_INTACT:
        return "intact";
    case SCEP_AUDIT_EDITED:
        return "its contents do not match its hash: the event was edited (or forged)";
    case SCEP_AUDIT_UNCHAINED:
        return "it carries no well-formed hash: the event was inserted around the store, "
               "or its hash removed";
    case SCEP_AUDIT_GAP:
        return "its id does not follow the previous event's: the events between were deleted";
    case SCEP_AUDIT_BROKEN_LINK:
        return "its prev_hash is not the previous event's hash: an event before it was "
               "deleted, or this one inserted";
    }
    return "unknown fault";
}
