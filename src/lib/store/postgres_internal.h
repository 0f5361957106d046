/*
 * The PostgreSQL backend's connection and the helpers its two files share.
 *
 * One pg_store is one libpq connection, used by one thread at a time (the server opens
 * one per worker). Statements are prepared on the connection the first time they run
 * and again after a reconnect (docs/store.md "PostgreSQL backend").
 */
#ifndef SCEP_STORE_POSTGRES_INTERNAL_H
#define SCEP_STORE_POSTGRES_INTERNAL_H

#include <libpq-fe.h>

#include "store/store_internal.h"
#include "util/error_internal.h"

/* Room for every statement of postgres.c (checked there). */
#define SCEP_PG_MAX_STMTS 64

/*
 * The advisory lock every writer takes in begin_write (and the schema migration): one
 * writer at a time per database, what SQLite's BEGIN IMMEDIATE gives. 'scep' in ASCII.
 */
#define SCEP_PG_WRITE_LOCK 0x73636570

/* How long a writer waits for the write lock before the operation fails (SCEP_ESTORE). */
#define SCEP_PG_LOCK_TIMEOUT_MS 30000

/* Used unless the URL sets connect_timeout: bounds a connect and every reconnect. */
#define SCEP_PG_CONNECT_TIMEOUT "5"

struct pg_store {
    struct scep_store base; /* first: a scep_store * is a pg_store * */
    PGconn *conn;
    /* 1 between BEGIN and COMMIT/ROLLBACK: a lost connection then loses the transaction. */
    int in_tx;
    int broken; /* a statement found the connection gone (connection_lost): reset before the next */
    unsigned char prepared[SCEP_PG_MAX_STMTS];
};

/*
 * The one place libpq results become libscep errors: unique violations are SCEP_EEXISTS,
 * foreign key violations SCEP_ENOTFOUND, a lost or refused connection SCEP_EUNAVAILABLE,
 * everything else SCEP_ESTORE with `what` and the server's message. `res` may be NULL.
 */
int scep_pg_fail(struct pg_store *s, const PGresult *res, const char *what);

/* Runs `sql` (no parameters, no rows wanted) as a simple query. */
int scep_pg_exec(struct pg_store *s, const char *sql, const char *what) SCEP_MUST_CHECK;

/* BEGIN and the write lock / COMMIT / ROLLBACK on the connection. */
int scep_pg_begin(struct pg_store *s) SCEP_MUST_CHECK;
int scep_pg_commit(struct pg_store *s) SCEP_MUST_CHECK;
void scep_pg_rollback(struct pg_store *s);

/* postgres_schema.c */
int scep_pg_migrate(struct pg_store *s) SCEP_MUST_CHECK;
int scep_pg_schema_version(int *out, scep_store *store) SCEP_MUST_CHECK;

#endif /* SCEP_STORE_POSTGRES_INTERNAL_H */
