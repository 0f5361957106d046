/*
 * The SQLite backend's connection and the helpers its two files share.
 *
 * One sqlite_store is one sqlite3 connection opened with SQLITE_OPEN_NOMUTEX:
 * it must be used by one thread at a time (the server opens one per worker).
 * Prepared statements are cached on the connection (SQLITE_PREPARE_PERSISTENT)
 * and reset after every use.
 */
#ifndef SCEP_STORE_SQLITE_INTERNAL_H
#define SCEP_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stdio.h>

#include "store/store_internal.h"
#include "util/error_internal.h"

/* How long a connection waits for another connection's write lock. */
#define SCEP_SQLITE_BUSY_TIMEOUT_MS 5000

/* Room for every cached statement of sqlite.c (checked there). */
#define SCEP_SQLITE_MAX_STMTS 80

struct sqlite_store {
    struct scep_store base; /* first: a scep_store * is a sqlite_store * */
    sqlite3 *db;
    sqlite3_stmt *stmts[SCEP_SQLITE_MAX_STMTS];
    int holds_write_gate; /* sqlite.c: this connection's write transaction holds the gate */
};

/*
 * The one place SQLite result codes become libscep errors: UNIQUE/PRIMARY KEY
 * violations are SCEP_EEXISTS, FOREIGN KEY violations SCEP_ENOTFOUND (a
 * referenced row is missing), everything else SCEP_ESTORE; the message holds
 * `what` and SQLite's own message.
 */
int scep_sqlite_fail(struct sqlite_store *s, int sqlite_rc, const char *what);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK on the connection. */
int scep_sqlite_begin(struct sqlite_store *s) SCEP_MUST_CHECK;
int scep_sqlite_commit(struct sqlite_store *s) SCEP_MUST_CHECK;
void scep_sqlite_rollback(struct sqlite_store *s);

/*
 * Schema migration 5's second half, in its transaction: computes prev_hash and hash of
 * every audit event already stored, in id order (SQLite has no SHA-256 of its own).
 */
int scep_sqlite_audit_chain_existing(struct sqlite_store *s) SCEP_MUST_CHECK;

/* sqlite_copy.c: the copy operations of struct scep_store_ops. */
int scep_sqlite_begin_snapshot(scep_store *store) SCEP_MUST_CHECK;
void scep_sqlite_end_snapshot(scep_store *store);
int scep_sqlite_copy_read(scep_store *store, const struct scep_store_table *table,
                          int (*row)(const struct scep_store_value *values, void *payload),
                          void *payload) SCEP_MUST_CHECK;
int scep_sqlite_copy_write(scep_store *store, const struct scep_store_table *table,
                           const struct scep_store_value *values) SCEP_MUST_CHECK;
int scep_sqlite_copy_finish(scep_store *store) SCEP_MUST_CHECK;

/* sqlite_schema.c */
int scep_sqlite_migrate(struct sqlite_store *s) SCEP_MUST_CHECK;
int scep_sqlite_schema_version(int *out, scep_store *store) SCEP_MUST_CHECK;
int scep_sqlite_integrity_check(char **out_problem, scep_store *store) SCEP_MUST_CHECK;

#endif /* SCEP_STORE_SQLITE_INTERNAL_H */
