/*
 * The relay node's SQLite file (queue.h). One connection behind one mutex: the relay
 * writes a row per request it cannot answer at once, which is little; synchronous=FULL
 * so that a row is on disk before its client hears PENDING.
 */
#include "scepd/relay/queue.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct scepd_relay_queue {
    sqlite3 *db;
    pthread_mutex_t lock;
    int64_t waiting_max, client_max;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS relay_requests ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " alias TEXT NOT NULL, transaction_id TEXT NOT NULL, message_type INTEGER NOT NULL,"
    " message BLOB NOT NULL, client TEXT NOT NULL, received INTEGER NOT NULL,"
    " state INTEGER NOT NULL, answer TEXT, key_hash BLOB NOT NULL, signer_hash BLOB NOT NULL,"
    " updated INTEGER NOT NULL, UNIQUE (alias, transaction_id));"
    "CREATE TABLE IF NOT EXISTS relay_push (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " data TEXT NOT NULL, updated INTEGER NOT NULL);"
    /* A request sent when the relay stopped never got its answer here: send it again (the
     * CA node answers a retransmission with what it decided the first time). */
    "UPDATE relay_requests SET state = 0 WHERE state = 1;";

static int db_fail(struct scepd_relay_queue *queue, const char *what)
{
    return scep_fail(SCEP_ESTORE, "relay_state: %s: %s", what, sqlite3_errmsg(queue->db));
}

int scepd_relay_queue_open(struct scepd_relay_queue **out, const char *path)
{
    int rc = SCEP_OK;
    struct scepd_relay_queue *queue = calloc(1, sizeof(*queue));
    ENSURE_ALLOC(queue);
    pthread_mutex_init(&queue->lock, NULL);
    if (sqlite3_open_v2(path, &queue->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = scep_fail(SCEP_ESTORE, "relay_state %s: %s", path,
                       queue->db ? sqlite3_errmsg(queue->db) : "cannot open");
        goto cleanup;
    }
    sqlite3_busy_timeout(queue->db, 5000);
    char *error = NULL;
    if (sqlite3_exec(queue->db, schema, NULL, NULL, &error) != SQLITE_OK) {
        rc = scep_fail(SCEP_ESTORE, "relay_state %s: %s", path, error ? error : "schema");
        sqlite3_free(error);
        goto cleanup;
    }
    *out = queue;
    queue = NULL;

cleanup:
    scepd_relay_queue_close(queue);
    return rc;
}

void scepd_relay_queue_close(struct scepd_relay_queue *queue)
{
    if (queue == NULL)
        return;
    sqlite3_close(queue->db);
    pthread_mutex_destroy(&queue->lock);
    free(queue);
}

void scepd_relay_row_free(struct scepd_relay_row *row)
{
    if (row == NULL)
        return;
    free(row->message);
    free(row->answer);
    free(row);
}

#define ROW_COLUMNS                                                                                \
    "id, alias, transaction_id, message_type, message, client, received, state, answer, "          \
    "key_hash, signer_hash"

static void copy_text(char *out, size_t size, const unsigned char *text)
{
    snprintf(out, size, "%s", text != NULL ? (const char *)text : "");
}

static int read_row(struct scepd_relay_row **out, sqlite3_stmt *stmt)
{
    int rc = SCEP_OK;
    struct scepd_relay_row *row = calloc(1, sizeof(*row));
    ENSURE_ALLOC(row);
    row->id = sqlite3_column_int64(stmt, 0);
    copy_text(row->alias, sizeof(row->alias), sqlite3_column_text(stmt, 1));
    copy_text(row->transaction_id, sizeof(row->transaction_id), sqlite3_column_text(stmt, 2));
    row->message_type = sqlite3_column_int(stmt, 3);
    int len = sqlite3_column_bytes(stmt, 4);
    row->message = malloc(len > 0 ? (size_t)len : 1);
    ENSURE_ALLOC(row->message);
    if (len > 0)
        memcpy(row->message, sqlite3_column_blob(stmt, 4), (size_t)len);
    row->message_len = (size_t)(len > 0 ? len : 0);
    copy_text(row->client, sizeof(row->client), sqlite3_column_text(stmt, 5));
    row->received = sqlite3_column_int64(stmt, 6);
    row->state = sqlite3_column_int(stmt, 7);
    if (sqlite3_column_type(stmt, 8) != SQLITE_NULL) {
        row->answer = strdup((const char *)sqlite3_column_text(stmt, 8));
        ENSURE_ALLOC(row->answer);
    }
    if (sqlite3_column_bytes(stmt, 9) == 32)
        memcpy(row->key_hash, sqlite3_column_blob(stmt, 9), 32);
    if (sqlite3_column_bytes(stmt, 10) == 32)
        memcpy(row->signer_hash, sqlite3_column_blob(stmt, 10), 32);
    *out = row;
    row = NULL;

cleanup:
    scepd_relay_row_free(row);
    return rc;
}

int scepd_relay_queue_find(struct scepd_relay_row **out, struct scepd_relay_queue *queue,
                           const char *alias, const char *transaction_id)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    *out = NULL;
    pthread_mutex_lock(&queue->lock);
    if (sqlite3_prepare_v2(queue->db,
                           "SELECT " ROW_COLUMNS
                           " FROM relay_requests WHERE alias = ?1 AND transaction_id = ?2",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(queue, "find");
        goto cleanup;
    }
    sqlite3_bind_text(stmt, 1, alias, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, transaction_id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        rc = read_row(out, stmt);
    else if (step == SQLITE_DONE)
        rc = scep_fail(SCEP_ENOTFOUND, "no relayed request %s", transaction_id);
    else
        rc = db_fail(queue, "find");

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

/*
 * Whether the row of (alias, transactionID) may take `row`: none yet, the same key (a
 * retransmission, or a new request of that key), or a transaction that ended in a FAILURE
 * its client was told of. Anything else belongs to another key, as on the CA node
 * (enroll/identify.c): a stranger who learnt a transactionID must not wipe the request,
 * nor receive the answer that comes for it.
 */
static int may_take(struct scepd_relay_queue *queue, const struct scepd_relay_row *row, int *exists)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(queue->db,
                           "SELECT key_hash, state IN (3, 4) AND "
                           "json_extract(answer, '$.status') IS 'failure' FROM relay_requests "
                           "WHERE alias = ?1 AND transaction_id = ?2",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(queue, "put");
    sqlite3_bind_text(stmt, 1, row->alias, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, row->transaction_id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(stmt);
    *exists = step == SQLITE_ROW;
    if (step == SQLITE_ROW) {
        int same_key = sqlite3_column_bytes(stmt, 0) == 32 &&
                       CRYPTO_memcmp(sqlite3_column_blob(stmt, 0), row->key_hash, 32) == 0;
        if (!same_key && sqlite3_column_int(stmt, 1) == 0)
            rc = scep_fail(SCEP_EEXISTS, "transactionID %s belongs to another key",
                           row->transaction_id);
    } else if (step != SQLITE_DONE) {
        rc = db_fail(queue, "put");
    }
    sqlite3_finalize(stmt);
    return rc;
}

void scepd_relay_queue_bound(struct scepd_relay_queue *queue, int64_t total, int64_t per_client)
{
    pthread_mutex_lock(&queue->lock);
    queue->waiting_max = total;
    queue->client_max = per_client;
    pthread_mutex_unlock(&queue->lock);
}

/*
 * Whether a new transaction fits: every request an internet client sends while no CA node
 * answers is a row of up to max_body, so the rows waiting are bounded, in all and per
 * client address, or one client could fill the disk and crowd out everyone else.
 */
static int has_room(struct scepd_relay_queue *queue, const struct scepd_relay_row *row)
{
    if (queue->waiting_max <= 0 && queue->client_max <= 0)
        return SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(queue->db,
                           "SELECT count(*), coalesce(sum(client = ?1), 0) FROM relay_requests "
                           "WHERE state <= 1",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(queue, "put");
    sqlite3_bind_text(stmt, 1, row->client, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        sqlite3_finalize(stmt);
        return db_fail(queue, "put");
    }
    int64_t all = sqlite3_column_int64(stmt, 0);
    int64_t mine = sqlite3_column_int64(stmt, 1);
    sqlite3_finalize(stmt);
    if (queue->waiting_max > 0 && all >= queue->waiting_max)
        return scep_fail(SCEP_ETOOBIG, "the relay's queue is full (%lld requests wait)",
                         (long long)all);
    if (queue->client_max > 0 && mine >= queue->client_max)
        return scep_fail(SCEP_ETOOBIG, "%lld requests of this client already wait",
                         (long long)mine);
    return SCEP_OK;
}

int scepd_relay_queue_put(struct scepd_relay_queue *queue, struct scepd_relay_row *row)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    int exists = 0;
    pthread_mutex_lock(&queue->lock);
    GUARD(may_take(queue, row, &exists));
    /* A row already there is replaced, never added to. */
    if (!exists)
        GUARD(has_room(queue, row));
    /* A new request under a known transactionID replaces the old row (one row each). */
    if (sqlite3_prepare_v2(
            queue->db,
            "INSERT INTO relay_requests (alias, transaction_id, message_type, message, client, "
            "received, state, answer, key_hash, signer_hash, updated) VALUES "
            "(?1, ?2, ?3, ?4, ?5, ?6, ?10, NULL, ?7, ?8, ?9) ON CONFLICT (alias, transaction_id) "
            "DO UPDATE SET message_type = excluded.message_type, message = excluded.message, "
            "client = excluded.client, received = excluded.received, state = excluded.state, "
            "answer = NULL, "
            "key_hash = excluded.key_hash, signer_hash = excluded.signer_hash, "
            "updated = excluded.updated RETURNING id",
            -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(queue, "put");
        goto cleanup;
    }
    sqlite3_bind_text(stmt, 1, row->alias, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, row->transaction_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 3, row->message_type);
    sqlite3_bind_blob(stmt, 4, row->message, (int)row->message_len, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 5, row->client, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 6, row->received);
    sqlite3_bind_blob(stmt, 7, row->key_hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(stmt, 8, row->signer_hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 9, (sqlite3_int64)time(NULL));
    sqlite3_bind_int(
        stmt, 10, row->state == SCEPD_RELAY_FORWARDED ? SCEPD_RELAY_FORWARDED : SCEPD_RELAY_QUEUED);
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_fail(queue, "put");
        goto cleanup;
    }
    row->id = sqlite3_column_int64(stmt, 0);
    (void)sqlite3_step(stmt);

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

int scepd_relay_queue_set(struct scepd_relay_queue *queue, int64_t id, int state,
                          const char *answer)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&queue->lock);
    /* A row the CA node answered is never sent again from the queue (a connection that
     * failed after another one got the answer would otherwise re-queue it), and keeps no
     * message once answered: retransmissions bring their own, and what waits no longer is
     * no reason to keep up to max_body per row. */
    if (sqlite3_prepare_v2(queue->db,
                           "UPDATE relay_requests SET state = ?2, answer = COALESCE(?3, answer), "
                           "message = CASE WHEN ?2 >= 2 THEN x'' ELSE message END, "
                           "updated = ?4 WHERE id = ?1 AND NOT (?2 <= 1 AND state >= 2)",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(queue, "update");
        goto cleanup;
    }
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int(stmt, 2, state);
    if (answer != NULL)
        sqlite3_bind_text(stmt, 3, answer, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, 3);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time(NULL));
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_fail(queue, "update");
        goto cleanup;
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    /* A FAILURE its client has heard is not kept: the CA node answers a retransmission
     * again, and requests it refuses (anyone's, from anywhere) leave no row behind. */
    if (state == SCEPD_RELAY_DELIVERED &&
        (sqlite3_prepare_v2(queue->db,
                            "DELETE FROM relay_requests WHERE id = ?1 AND state = 4 AND "
                            "json_extract(answer, '$.status') IS 'failure'",
                            -1, &stmt, NULL) != SQLITE_OK ||
         sqlite3_bind_int64(stmt, 1, id) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE))
        rc = db_fail(queue, "update");

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

int scepd_relay_queue_next(struct scepd_relay_row **out, struct scepd_relay_queue *queue,
                           int64_t after)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    *out = NULL;
    pthread_mutex_lock(&queue->lock);
    if (sqlite3_prepare_v2(queue->db,
                           "SELECT " ROW_COLUMNS " FROM relay_requests WHERE state = 0 AND id > ?1 "
                           "ORDER BY id LIMIT 1",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(queue, "next");
        goto cleanup;
    }
    sqlite3_bind_int64(stmt, 1, after);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        rc = read_row(out, stmt);
    else if (step == SQLITE_DONE)
        rc = SCEP_ENOTFOUND;
    else
        rc = db_fail(queue, "next");

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

int64_t scepd_relay_queue_waiting(struct scepd_relay_queue *queue)
{
    sqlite3_stmt *stmt = NULL;
    int64_t count = -1;
    pthread_mutex_lock(&queue->lock);
    if (sqlite3_prepare_v2(queue->db, "SELECT count(*) FROM relay_requests WHERE state <= 1", -1,
                           &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return count;
}

int scepd_relay_queue_purge(struct scepd_relay_queue *queue, int64_t delivered_before,
                            int64_t any_before)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&queue->lock);
    if (sqlite3_prepare_v2(queue->db,
                           "DELETE FROM relay_requests WHERE (state = 4 AND updated < ?1) OR "
                           "updated < ?2",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(queue, "purge");
        goto cleanup;
    }
    sqlite3_bind_int64(stmt, 1, delivered_before);
    sqlite3_bind_int64(stmt, 2, any_before);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = db_fail(queue, "purge");

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

int scepd_relay_push_save(struct scepd_relay_queue *queue, const char *push)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    pthread_mutex_lock(&queue->lock);
    if (sqlite3_prepare_v2(queue->db,
                           "INSERT INTO relay_push (id, data, updated) VALUES (1, ?1, ?2) "
                           "ON CONFLICT (id) DO UPDATE SET data = excluded.data, "
                           "updated = excluded.updated",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(queue, "push");
        goto cleanup;
    }
    sqlite3_bind_text(stmt, 1, push, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)time(NULL));
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = db_fail(queue, "push");

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}

int scepd_relay_push_load(char **out, struct scepd_relay_queue *queue)
{
    int rc = SCEP_OK;
    sqlite3_stmt *stmt = NULL;
    *out = NULL;
    pthread_mutex_lock(&queue->lock);
    if (sqlite3_prepare_v2(queue->db, "SELECT data FROM relay_push WHERE id = 1", -1, &stmt,
                           NULL) != SQLITE_OK) {
        rc = db_fail(queue, "push");
        goto cleanup;
    }
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        *out = strdup((const char *)sqlite3_column_text(stmt, 0));
        ENSURE_ALLOC(*out);
    }

cleanup:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&queue->lock);
    return rc;
}
