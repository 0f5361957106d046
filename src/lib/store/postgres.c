/*
 * The PostgreSQL store backend (libpq). It only reads and writes rows; the front end
 * orders multi-step operations inside begin_write, which here is BEGIN (READ COMMITTED)
 * followed by one database-wide advisory lock, so writers queue one at a time as they do
 * on SQLite, and every statement after the lock sees everything committed before it
 * (docs/store.md "PostgreSQL backend"). Readers take no lock.
 *
 * Values travel as text, blobs as binary parameters and hex-escaped results; integers
 * are parsed from their text form.
 */
#include "store/postgres_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- statements ---------------------------------------------------------- */

#define CA_COLS                                                                                    \
    "id, name, cert_pem, key_ref, chain_pem, next_cert_pem, crl_number, created_at, "              \
    "next_key_ref, next_activate_at"
#define EE_COLS                                                                                    \
    "id, username, subject_dn, status, profile, ca_name, created_at, updated_at, alias, sans, "    \
    "ra_alias, failed_codes"
#define REQ_COLS                                                                                   \
    "id, alias, transaction_id, message_type, csr_der, signer_cert_der, public_key_sha256, "       \
    "status, fail_info, reason, client_addr, ca_name, cert_serial, created_at, updated_at, "       \
    "decided_mode, decided_username, decided_profile, decided_subject, decided_sans, "             \
    "replaces_serial, renews_serial, decided_ee_updated_at"
#define CERT_COLS                                                                                  \
    "id, ca_name, serial, subject, issuer, not_before, not_after, der, status, revoked_at, "       \
    "revocation_reason, username, transaction_id, created_at"
#define AUDIT_COLS                                                                                 \
    "id, time, actor, action, alias, transaction_id, outcome, detail, prev_hash, hash"
#define CRL_COLS "id, ca_name, crl_number, this_update, next_update, revoked_count, der, created_at"

/*
 * Lists without a caller's limit stop one row past SCEP_STORE_MAX_LIST, so that libpq never
 * holds more than that in memory and collect() can still report the overflow.
 */
#define LIST_CAP "100001"
_Static_assert(SCEP_STORE_MAX_LIST == 100000u, "LIST_CAP is SCEP_STORE_MAX_LIST + 1");

/* Texts compare byte-wise as in SQLite, whatever the database's collation. */
#define BYTES " COLLATE \"C\""

/* Events one audit_walk round trip reads: the walk's memory bound. */
#define AUDIT_WALK_BATCH     256
#define AUDIT_WALK_BATCH_SQL "256"

enum stmt_id {
    ST_CA_ADD,
    ST_CA_GET,
    ST_CA_LIST,
    ST_CA_SET_NEXT,
    ST_CA_NEXT_CRL,
    ST_CONFIG_REVISION,
    ST_ALIAS_ADD,
    ST_ALIAS_ENSURE,
    ST_ALIAS_REMOVE,
    ST_ALIAS_LIST,
    ST_SETTING_SET,
    ST_SETTING_GET,
    ST_SETTING_LIST,
    ST_SETTING_REMOVE,
    ST_EE_ADD,
    ST_EE_GET,
    ST_EE_LIST,
    ST_EE_SET_STATUS,
    ST_EE_RESET,
    ST_EE_REMOVE,
    ST_EE_CONSUME,
    ST_REQ_INSERT,
    ST_REQ_GET,
    ST_REQ_FIND,
    ST_REQ_STATUS,
    ST_REQ_UPDATE,
    ST_REQ_ISSUE,
    ST_REQ_LIST,
    ST_REQ_COUNT,
    ST_CERT_ADD,
    ST_CERT_GET,
    ST_CERT_LIST,
    ST_CERT_REVOKE,
    ST_CERT_REVOKED,
    ST_CERT_COUNT_REVOKED,
    ST_CRL_GET,
    ST_CRL_ADD,
    ST_CRL_PRUNE,
    ST_CH_ADD,
    ST_CH_FIND,
    ST_CH_USE,
    ST_CH_PURGE,
    ST_AUDIT_ADD,
    ST_AUDIT_LIST,
    ST_AUDIT_PAGE,
    ST_EE_RA_UPSERT,
    ST_CERT_VALID_FOR_USER,
    ST_REQ_HOLD,
    ST_REQ_RETIRE,
    ST_REQ_PURGE,
    ST_REQ_PURGE_ISSUED,
    ST_EE_UPDATE,
    ST_EE_RA_ALIAS,
    ST_EE_CODE_FAILED,
    ST_REQ_HELD_FOR,
    ST_CERT_RENEWABLE,
    ST_EE_ACTIVE,
    ST_AUDIT_LAST,
    ST_AUDIT_BATCH,
    ST_REQ_LIST_ANY,
    ST_REQ_COUNT_ANY,
    ST_CERT_LIST_SUBJECT,
    ST_COUNT
};

_Static_assert(ST_COUNT <= SCEP_PG_MAX_STMTS, "statement table too small");

static const char *const stmt_sql[ST_COUNT] = {
    [ST_CA_ADD] = "INSERT INTO cas (name, cert_pem, key_ref, chain_pem, next_cert_pem, "
                  "crl_number, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)",
    [ST_CA_GET] = "SELECT " CA_COLS " FROM cas WHERE name = $1",
    [ST_CA_LIST] = "SELECT " CA_COLS " FROM cas ORDER BY name" BYTES " LIMIT " LIST_CAP,
    [ST_CA_SET_NEXT] = "UPDATE cas SET next_cert_pem = $2, next_key_ref = $3, "
                       "next_activate_at = $4 WHERE name = $1",
    [ST_CONFIG_REVISION] = "SELECT revision FROM config_revision WHERE id = 1",
    [ST_CA_NEXT_CRL] = "UPDATE cas SET crl_number = crl_number + 1 WHERE name = $1 "
                       "RETURNING crl_number",
    [ST_ALIAS_ADD] = "INSERT INTO aliases (name, created_at) VALUES ($1, $2)",
    [ST_ALIAS_ENSURE] = "INSERT INTO aliases (name, created_at) VALUES ($1, $2) "
                        "ON CONFLICT (name) DO NOTHING",
    [ST_ALIAS_REMOVE] = "DELETE FROM aliases WHERE name = $1",
    [ST_ALIAS_LIST] = "SELECT name FROM aliases ORDER BY name" BYTES " LIMIT " LIST_CAP,
    [ST_SETTING_SET] = "INSERT INTO alias_settings (alias, key, value) VALUES ($1, $2, $3) "
                       "ON CONFLICT (alias, key) DO UPDATE SET value = excluded.value",
    [ST_SETTING_GET] = "SELECT value FROM alias_settings WHERE alias = $1 AND key = $2",
    [ST_SETTING_LIST] = "SELECT key, value FROM alias_settings WHERE alias = $1 "
                        "ORDER BY key" BYTES " LIMIT " LIST_CAP,
    [ST_SETTING_REMOVE] = "DELETE FROM alias_settings WHERE alias = $1 AND key = $2",
    [ST_EE_ADD] = "INSERT INTO end_entities (username, password_hash, subject_dn, status, "
                  "profile, ca_name, created_at, updated_at, alias, sans) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)",
    [ST_EE_GET] = "SELECT " EE_COLS ", password_hash FROM end_entities WHERE username = $1",
    [ST_EE_LIST] =
        "SELECT " EE_COLS " FROM end_entities ORDER BY username" BYTES " LIMIT " LIST_CAP,
    [ST_EE_SET_STATUS] = "UPDATE end_entities SET status = $2, updated_at = $3 "
                         "WHERE username = $1",
    [ST_EE_RESET] = "UPDATE end_entities SET status = 'NEW', password_hash = $2, failed_codes = 0, "
                    "updated_at = $3 WHERE username = $1",
    [ST_EE_REMOVE] = "DELETE FROM end_entities WHERE username = $1",
    [ST_EE_CONSUME] = "UPDATE end_entities SET status = 'GENERATED', updated_at = $2 "
                      "WHERE username = $1 AND status = 'NEW'",
    [ST_REQ_INSERT] = "INSERT INTO requests (alias, transaction_id, message_type, csr_der, "
                      "signer_cert_der, public_key_sha256, status, fail_info, reason, "
                      "client_addr, created_at, updated_at) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) "
                      "ON CONFLICT (alias, transaction_id) DO NOTHING",
    [ST_REQ_GET] = "SELECT " REQ_COLS " FROM requests WHERE id = $1",
    [ST_REQ_FIND] = "SELECT " REQ_COLS " FROM requests WHERE alias = $1 AND transaction_id = $2",
    [ST_REQ_STATUS] = "SELECT status FROM requests WHERE id = $1",
    [ST_REQ_UPDATE] = "UPDATE requests SET status = $2, fail_info = $3, reason = $4, "
                      "updated_at = $5 WHERE id = $1 AND status <> 'ISSUED'",
    [ST_REQ_ISSUE] = "UPDATE requests SET status = 'ISSUED', ca_name = $2, cert_serial = $3, "
                     "fail_info = NULL, updated_at = $4 WHERE id = $1 AND status = 'PENDING' "
                     "RETURNING alias, transaction_id",
    /* With a status and without one, two statements, as SQLite's (sqlite.c): a generic
     * plan of "($1 IS NULL OR status = $1)" scans every request. */
    [ST_REQ_LIST] = "SELECT " REQ_COLS " FROM requests WHERE status = $1::text "
                    "ORDER BY id LIMIT $2",
    [ST_REQ_LIST_ANY] = "SELECT " REQ_COLS " FROM requests WHERE $1::text IS NULL "
                        "ORDER BY id LIMIT $2",
    [ST_REQ_COUNT] = "SELECT count(*) FROM requests WHERE status = $1::text "
                     "AND ($2::text IS NULL OR reason = $2::text)",
    [ST_REQ_COUNT_ANY] = "SELECT count(*) FROM requests WHERE $1::text IS NULL "
                         "AND ($2::text IS NULL OR reason = $2::text)",
    [ST_CERT_ADD] = "INSERT INTO certificates (ca_name, serial, subject, issuer, not_before, "
                    "not_after, der, status, username, transaction_id, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, 'VALID', $8, $9, $10)",
    [ST_CERT_GET] = "SELECT " CERT_COLS " FROM certificates WHERE ca_name = $1 AND serial = $2",
    [ST_CERT_LIST] = "SELECT " CERT_COLS " FROM certificates "
                     "WHERE ($1::text IS NULL OR ca_name = $1::text) "
                     "AND ($2::text IS NULL OR status = $2::text) "
                     "ORDER BY id LIMIT $3 OFFSET $4",
    [ST_CERT_LIST_SUBJECT] = "SELECT " CERT_COLS " FROM certificates WHERE subject = $5 "
                             "AND ($1::text IS NULL OR ca_name = $1::text) "
                             "AND ($2::text IS NULL OR status = $2::text) "
                             "ORDER BY id LIMIT $3 OFFSET $4",
    [ST_CERT_REVOKE] = "UPDATE certificates SET status = 'REVOKED', revoked_at = $3, "
                       "revocation_reason = $4 "
                       "WHERE ca_name = $1 AND serial = $2 AND status = 'VALID'",
    [ST_CERT_REVOKED] = "SELECT serial, revoked_at, revocation_reason FROM certificates "
                        "WHERE ca_name = $1 AND status = 'REVOKED' ORDER BY id LIMIT " LIST_CAP,
    [ST_CERT_COUNT_REVOKED] = "SELECT count(*) FROM certificates "
                              "WHERE ca_name = $1 AND status = 'REVOKED'",
    [ST_CRL_GET] = "SELECT " CRL_COLS " FROM crls WHERE ca_name = $1 "
                   "ORDER BY crl_number DESC LIMIT 1",
    [ST_CRL_ADD] = "INSERT INTO crls (ca_name, crl_number, this_update, next_update, "
                   "revoked_count, der, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                   "RETURNING id",
    [ST_CRL_PRUNE] = "DELETE FROM crls WHERE ca_name = $1 AND crl_number NOT IN "
                     "(SELECT crl_number FROM crls WHERE ca_name = $1 "
                     "ORDER BY crl_number DESC LIMIT $2)",
    [ST_CH_ADD] = "INSERT INTO challenges (alias, hash, subject_pattern, expires_at, created_at) "
                  "VALUES ($1, $2, $3, $4, $5)",
    [ST_CH_FIND] = "SELECT id, alias, hash, subject_pattern, expires_at, used_at "
                   "FROM challenges WHERE hash = $1",
    [ST_CH_USE] = "UPDATE challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
    [ST_CH_PURGE] = "DELETE FROM challenges WHERE expires_at <= $1",
    [ST_AUDIT_ADD] = "INSERT INTO audit_events (id, time, actor, action, alias, transaction_id, "
                     "outcome, detail, prev_hash, hash) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    [ST_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit_events WHERE time >= $2 "
                      "ORDER BY time DESC, id DESC LIMIT $1",
    [ST_AUDIT_PAGE] = "SELECT " AUDIT_COLS " FROM audit_events WHERE id < $2 "
                      "ORDER BY id DESC LIMIT $1",
    [ST_AUDIT_LAST] = "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1",
    [ST_AUDIT_BATCH] = "SELECT " AUDIT_COLS " FROM audit_events WHERE id > $1 ORDER BY id "
                       "LIMIT " AUDIT_WALK_BATCH_SQL,
    /*
     * RA mode: '!' is no PBKDF2 encoding, so no password ever matches until `ee reset`.
     * Only an end entity this alias's RA mode created, NEW or GENERATED, is taken over.
     */
    [ST_EE_RA_UPSERT] = "INSERT INTO end_entities (username, password_hash, subject_dn, status, "
                        "profile, ca_name, created_at, updated_at, alias, sans, ra_alias) "
                        "VALUES ($1, '!', $2, 'NEW', $3, $4, $5, $5, $6, $7, $6) "
                        "ON CONFLICT (username) DO UPDATE SET subject_dn = excluded.subject_dn, "
                        "status = 'NEW', profile = excluded.profile, ca_name = excluded.ca_name, "
                        "sans = excluded.sans, updated_at = excluded.updated_at "
                        "WHERE end_entities.ra_alias IS NOT DISTINCT FROM excluded.ra_alias "
                        "AND end_entities.status IN ('NEW', 'GENERATED')",
    [ST_CERT_VALID_FOR_USER] = "SELECT serial FROM certificates WHERE username = $1 AND "
                               "status = 'VALID' AND not_after > $2 LIMIT 1",
    [ST_REQ_HOLD] = "UPDATE requests SET reason = $2, decided_mode = $3, decided_username = $4, "
                    "decided_profile = $5, ca_name = $6, decided_subject = $7, decided_sans = $8, "
                    "replaces_serial = $9, fail_info = NULL, updated_at = $10, "
                    "renews_serial = $11, decided_ee_updated_at = $12 "
                    "WHERE id = $1 AND status = 'PENDING'",
    [ST_REQ_HELD_FOR] = "SELECT id FROM requests WHERE status = 'PENDING' AND reason = $1 AND "
                        "decided_username = $2 AND id <> $3 AND created_at >= $4 LIMIT 1",
    [ST_CERT_RENEWABLE] = "SELECT 1 FROM certificates WHERE ca_name = $1 AND serial = $2 AND "
                          "status = 'VALID' AND not_after > $3",
    [ST_EE_ACTIVE] = "SELECT 1 FROM end_entities WHERE username = $1 AND "
                     "status IN ('NEW', 'GENERATED')",
    [ST_EE_UPDATE] =
        "UPDATE end_entities SET subject_dn = $2, profile = $3, alias = $4, sans = $5, "
        "updated_at = $6 WHERE username = $1 AND ra_alias IS NULL",
    [ST_EE_RA_ALIAS] = "SELECT ra_alias FROM end_entities WHERE username = $1",
    /* Not updated_at: a guess must not change the version a held request was decided on. */
    [ST_EE_CODE_FAILED] = "UPDATE end_entities SET failed_codes = failed_codes + 1 "
                          "WHERE username = $1 RETURNING failed_codes",
    [ST_REQ_RETIRE] = "UPDATE requests SET transaction_id = transaction_id || '~' || id::text, "
                      "updated_at = $2 WHERE id = $1 AND strpos(transaction_id, '~') = 0",
    /* Refused and failed transactions: nothing else refers to them. */
    [ST_REQ_PURGE] = "DELETE FROM requests WHERE status IN ('REJECTED', 'FAILED') "
                     "AND updated_at < $1",
    /* Issued ones only while their certificate row still records the transactionID. */
    [ST_REQ_PURGE_ISSUED] = "DELETE FROM requests WHERE status = 'ISSUED' AND updated_at < $1 "
                            "AND EXISTS (SELECT 1 FROM certificates c WHERE "
                            "c.ca_name = requests.ca_name AND c.serial = requests.cert_serial "
                            "AND c.transaction_id IS NOT NULL AND c.transaction_id <> '')",
};

/* ---- status names (stored as text so the database reads on its own) ----------- */

static const char *const ee_status_names[] = {
    [SCEP_EE_NEW] = "NEW",
    [SCEP_EE_GENERATED] = "GENERATED",
    [SCEP_EE_REVOKED] = "REVOKED",
    [SCEP_EE_DISABLED] = "DISABLED",
};

static const char *const req_status_names[] = {
    [SCEP_REQ_PENDING] = "PENDING",
    [SCEP_REQ_ISSUED] = "ISSUED",
    [SCEP_REQ_REJECTED] = "REJECTED",
    [SCEP_REQ_FAILED] = "FAILED",
};

static const char *const cert_status_names[] = {
    [SCEP_CERT_VALID] = "VALID",
    [SCEP_CERT_REVOKED] = "REVOKED",
};

#define NAMES_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int status_from_name(const char *const *names, size_t count, const char *text)
{
    if (text == NULL)
        return 0;
    for (size_t i = 1; i < count; i++)
        if (names[i] != NULL && strcmp(names[i], text) == 0)
            return (int)i;
    return 0;
}

/* ---- libpq conventions, wrapped once ------------------------------------------------ */

/* The server's message without libpq's trailing newline. */
static int message_len(const char *msg)
{
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        len--;
    return len > 4096 ? 4096 : (int)len;
}

/*
 * Whether a failed statement lost the connection: libpq says so, or the error is libpq's
 * own (no SQLSTATE: a socket the server closed, which libpq may still report as
 * CONNECTION_OK until the next send), or the server's (class 08, or shutting down or not
 * yet accepting work). Marks the connection for a reset before its next statement.
 */
static int connection_lost(struct pg_store *s, const PGresult *res)
{
    const char *sqlstate = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int lost = PQstatus(s->conn) != CONNECTION_OK || sqlstate == NULL ||
               strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
               strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
    if (lost)
        s->broken = 1;
    return lost;
}

/* Whether "pass" appears in `text` in any case (a password keyword, however spelt). */
static int mentions_pass(const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        if (strncasecmp(p, "pass", 4) == 0)
            return 1;
    return 0;
}

int scep_pg_fail(struct pg_store *s, const PGresult *res, const char *what)
{
    const char *sqlstate = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(s->conn);
    if (msg == NULL || msg[0] == '\0')
        msg = "no message";
    int len = message_len(msg);
    if (connection_lost(s, res))
        return scep_fail(SCEP_EUNAVAILABLE, "%s: the PostgreSQL server cannot be reached (%.*s)",
                         what, len, msg);
    if (sqlstate != NULL && strcmp(sqlstate, "23505") == 0)
        return scep_fail(SCEP_EEXISTS, "%s: already exists (%.*s)", what, len, msg);
    if (sqlstate != NULL && strcmp(sqlstate, "23503") == 0)
        return scep_fail(SCEP_ENOTFOUND, "%s: a referenced row does not exist (%.*s)", what, len,
                         msg);
    return scep_fail(SCEP_ESTORE, "%s: postgresql: %.*s", what, len, msg);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* the library never prints; notices carry nothing the store needs */
}

/* Per-session settings, again after every reconnect. */
static int session_setup(struct pg_store *s)
{
    char sql[160];
    int n = snprintf(sql, sizeof(sql),
                     "SET client_encoding = 'UTF8'; SET client_min_messages = warning; "
                     "SET lock_timeout = %d",
                     SCEP_PG_LOCK_TIMEOUT_MS);
    if (n <= 0 || (size_t)n >= sizeof(sql))
        return scep_fail(SCEP_ESTORE, "session settings");
    return scep_pg_exec(s, sql, "configuring the session");
}

/*
 * Before every statement: a connection found broken outside a transaction is reset once
 * (bounded by connect_timeout) and its statements are prepared again; inside one, the
 * transaction is gone and the operation fails without a retry that could apply half of it.
 */
static int connection_ready(struct pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK && !s->broken)
        return SCEP_OK;
    if (s->in_tx)
        return scep_fail(SCEP_EUNAVAILABLE,
                         "the connection to the PostgreSQL server was lost in a transaction");
    PQreset(s->conn);
    memset(s->prepared, 0, sizeof(s->prepared));
    s->broken = PQstatus(s->conn) != CONNECTION_OK;
    if (s->broken) {
        const char *msg = PQerrorMessage(s->conn);
        return scep_fail(SCEP_EUNAVAILABLE, "the PostgreSQL server cannot be reached (%.*s)",
                         message_len(msg), msg);
    }
    return session_setup(s);
}

/*
 * A server that restarted leaves this connection looking healthy until it is used: the
 * first statement then fails with the connection gone. A statement that changes nothing
 * (a read, BEGIN, a PREPARE) outside a transaction is sent once more on a new connection;
 * a write is not, because its COMMIT may have happened before the connection broke.
 */
static int retry_on_new_connection(struct pg_store *s, const PGresult *res, int changes_nothing)
{
    return connection_lost(s, res) && changes_nothing && !s->in_tx;
}

static int changes_nothing(const char *sql)
{
    return strncmp(sql, "SELECT", 6) == 0 || strncmp(sql, "BEGIN", 5) == 0 ||
           strncmp(sql, "SET ", 4) == 0;
}

int scep_pg_exec(struct pg_store *s, const char *sql, const char *what)
{
    int rc = SCEP_OK;
    for (int attempt = 0;; attempt++) {
        GUARD(connection_ready(s));
        PGresult *res = PQexec(s->conn, sql);
        ExecStatusType status = PQresultStatus(res);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
            !(attempt == 0 && retry_on_new_connection(s, res, changes_nothing(sql))))
            rc = scep_pg_fail(s, res, what);
        PQclear(res);
        if (rc != SCEP_OK || status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            break;
    }
cleanup:
    return rc;
}

int scep_pg_begin(struct pg_store *s)
{
    int rc = SCEP_OK;
    char lock[80];
    GUARD(scep_pg_exec(s, "BEGIN ISOLATION LEVEL READ COMMITTED", "beginning a write transaction"));
    s->in_tx = 1;
    int n = snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d)", SCEP_PG_WRITE_LOCK);
    ENSURE(n > 0 && (size_t)n < sizeof(lock), SCEP_ESTORE, "write lock statement");
    GUARD(scep_pg_exec(s, lock, "taking the write lock"));
cleanup:
    if (rc != SCEP_OK)
        scep_pg_rollback(s);
    return rc;
}

int scep_pg_commit(struct pg_store *s)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    ENSURE(s->in_tx, SCEP_ESTATE, "commit without a transaction");
    ENSURE(PQstatus(s->conn) == CONNECTION_OK && !s->broken, SCEP_EUNAVAILABLE,
           "the connection to the PostgreSQL server was lost in a transaction");
    res = PQexec(s->conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        /*
         * With the connection gone the server may or may not have committed: the caller
         * hears SCEP_EUNAVAILABLE and nothing here runs the transaction again.
         */
        rc = connection_lost(s, res)
                 ? scep_fail(SCEP_EUNAVAILABLE,
                             "committing: the PostgreSQL connection was lost, the outcome is "
                             "unknown")
                 : scep_pg_fail(s, res, "committing");
        goto cleanup;
    }
    /* A COMMIT of a failed transaction answers ROLLBACK, not an error. */
    ENSURE(strcmp(PQcmdStatus(res), "COMMIT") == 0, SCEP_ESTORE,
           "committing: postgresql rolled the transaction back");
cleanup:
    PQclear(res);
    s->in_tx = 0;
    return rc;
}

void scep_pg_rollback(struct pg_store *s)
{
    if (!s->in_tx)
        return;
    s->in_tx = 0;
    /* On a lost connection the server has already dropped the transaction. */
    if (PQstatus(s->conn) == CONNECTION_OK && !s->broken)
        PQclear(PQexec(s->conn, "ROLLBACK")); /* the error that led here is the one to report */
}

static int pg_begin_write(scep_store *store)
{
    return scep_pg_begin((struct pg_store *)store);
}

static int pg_commit(scep_store *store)
{
    return scep_pg_commit((struct pg_store *)store);
}

static void pg_rollback(scep_store *store)
{
    scep_pg_rollback((struct pg_store *)store);
}

/* ---- parameters ------------------------------------------------------------------ */

#define PG_MAX_PARAMS 16

/* One statement's parameters: text, or binary for blobs; a NULL value is SQL NULL. */
struct pg_params {
    int n;
    int overflow;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    char numbers[PG_MAX_PARAMS][24];
};

static void p_text(struct pg_params *p, const char *text)
{
    if (p->n >= PG_MAX_PARAMS) {
        p->overflow = 1;
        return;
    }
    p->values[p->n] = text;
    p->lengths[p->n] = 0;
    p->formats[p->n] = 0;
    p->n++;
}

static void p_int(struct pg_params *p, int64_t value)
{
    if (p->n >= PG_MAX_PARAMS) {
        p->overflow = 1;
        return;
    }
    snprintf(p->numbers[p->n], sizeof(p->numbers[p->n]), "%lld", (long long)value);
    p_text(p, p->numbers[p->n]);
}

/* An optional small integer: `none` is NULL. */
static void p_opt_int(struct pg_params *p, int value, int none)
{
    if (value == none)
        p_text(p, NULL);
    else
        p_int(p, value);
}

static void p_blob(struct pg_params *p, const void *blob, size_t len)
{
    if (p->n >= PG_MAX_PARAMS || len > SCEP_STORE_MAX_BLOB) {
        p->overflow = 1;
        return;
    }
    p->values[p->n] = blob;
    p->lengths[p->n] = (int)len;
    p->formats[p->n] = 1;
    p->n++;
}

/*
 * Runs statement `id` with `p` (NULL: none), preparing it on this connection first when
 * needed. `*out` is the result (rows or a command status) for the caller to PQclear.
 */
static int stmt_run(PGresult **out, struct pg_store *s, enum stmt_id id, const struct pg_params *p,
                    const char *what)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    char name[16];
    *out = NULL;
    ENSURE(p == NULL || !p->overflow, SCEP_EINVAL, "%s: too many or too large parameters", what);
    snprintf(name, sizeof(name), "scep_%d", (int)id);
    for (int attempt = 0;; attempt++) {
        GUARD(connection_ready(s));
        if (!s->prepared[id]) {
            res = PQprepare(s->conn, name, stmt_sql[id], 0, NULL);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                if (attempt == 0 && retry_on_new_connection(s, res, 1)) {
                    PQclear(res);
                    res = NULL;
                    continue;
                }
                rc = scep_pg_fail(s, res, what);
                goto cleanup;
            }
            PQclear(res);
            res = NULL;
            s->prepared[id] = 1;
        }
        res = PQexecPrepared(s->conn, name, p != NULL ? p->n : 0, p != NULL ? p->values : NULL,
                             p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, 0);
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
            break;
        if (attempt == 0 && retry_on_new_connection(s, res, changes_nothing(stmt_sql[id]))) {
            PQclear(res);
            res = NULL;
            continue;
        }
        rc = scep_pg_fail(s, res, what);
        goto cleanup;
    }
    *out = res;
    res = NULL;
cleanup:
    PQclear(res);
    return rc;
}

/* Runs a statement that returns no rows; `*out_changed` (may be NULL) the rows it changed. */
static int stmt_exec(int64_t *out_changed, struct pg_store *s, enum stmt_id id,
                     const struct pg_params *p, const char *what)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    GUARD(stmt_run(&res, s, id, p, what));
    if (out_changed != NULL)
        *out_changed = strtoll(PQcmdTuples(res), NULL, 10);
cleanup:
    PQclear(res);
    return rc;
}

/* A statement that must change exactly one row: SCEP_ENOTFOUND when none. */
static int expect_one_change(struct pg_store *s, enum stmt_id id, const struct pg_params *p,
                             const char *what)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    GUARD(stmt_exec(&changed, s, id, p, what));
    ENSURE(changed == 1, SCEP_ENOTFOUND, "%s: not found", what);
cleanup:
    return rc;
}

/* ---- columns (copies owned by the record, OPENSSL_malloc; NULL stays NULL) ---------- */

static int64_t col_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int col_opt_int(const PGresult *res, int row, int col, int none)
{
    return PQgetisnull(res, row, col) ? none : (int)col_int(res, row, col);
}

static const char *col_raw(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int col_text(const char **out, const PGresult *res, int row, int col)
{
    *out = NULL;
    if (PQgetisnull(res, row, col))
        return SCEP_OK;
    char *copy = OPENSSL_strndup(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
    if (copy == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    *out = copy;
    return SCEP_OK;
}

/* A BYTEA column (hex-escaped text) decoded into an OPENSSL_malloc'd copy; empty is NULL. */
static int col_blob(const unsigned char **out, size_t *out_len, const PGresult *res, int row,
                    int col)
{
    *out = NULL;
    *out_len = 0;
    if (PQgetisnull(res, row, col))
        return SCEP_OK;
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &len);
    if (raw == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    if (len == 0) {
        PQfreemem(raw);
        return SCEP_OK;
    }
    unsigned char *copy = OPENSSL_memdup(raw, len);
    PQfreemem(raw);
    if (copy == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    *out = copy;
    *out_len = len;
    return SCEP_OK;
}

/* ---- row readers (void * so that collect() can drive them) ------------------------ */

typedef int (*row_reader)(void *elem, const PGresult *res, int row);
typedef void (*elem_clear)(void *elem);

static int read_ca(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_ca *ca = elem;
    ca->id = col_int(res, r, 0);
    GUARD(col_text(&ca->name, res, r, 1));
    GUARD(col_text(&ca->cert_pem, res, r, 2));
    GUARD(col_text(&ca->key_ref, res, r, 3));
    GUARD(col_text(&ca->chain_pem, res, r, 4));
    GUARD(col_text(&ca->next_cert_pem, res, r, 5));
    ca->crl_number = col_int(res, r, 6);
    ca->created_at = col_int(res, r, 7);
    GUARD(col_text(&ca->next_key_ref, res, r, 8));
    ca->next_activate_at = col_int(res, r, 9);
cleanup:
    return rc;
}

static int read_ee(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_end_entity *ee = elem;
    ee->id = col_int(res, r, 0);
    GUARD(col_text(&ee->username, res, r, 1));
    GUARD(col_text(&ee->subject_dn, res, r, 2));
    ee->status = (scep_store_ee_status)status_from_name(
        ee_status_names, NAMES_COUNT(ee_status_names), col_raw(res, r, 3));
    GUARD(col_text(&ee->profile, res, r, 4));
    GUARD(col_text(&ee->ca_name, res, r, 5));
    ee->created_at = col_int(res, r, 6);
    ee->updated_at = col_int(res, r, 7);
    GUARD(col_text(&ee->alias, res, r, 8));
    GUARD(col_text(&ee->sans, res, r, 9));
    GUARD(col_text(&ee->ra_alias, res, r, 10));
    ee->failed_codes = col_int(res, r, 11);
cleanup:
    return rc;
}

static int read_request(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_request *req = elem;
    const unsigned char *hash = NULL;
    size_t hash_len = 0;
    req->id = col_int(res, r, 0);
    GUARD(col_text(&req->alias, res, r, 1));
    GUARD(col_text(&req->transaction_id, res, r, 2));
    req->message_type = (int)col_int(res, r, 3);
    GUARD(col_blob(&req->csr_der, &req->csr_der_len, res, r, 4));
    GUARD(col_blob(&req->signer_cert_der, &req->signer_cert_der_len, res, r, 5));
    GUARD(col_blob(&hash, &hash_len, res, r, 6));
    ENSURE(hash != NULL && hash_len == sizeof(req->public_key_sha256), SCEP_ESTORE,
           "stored request has a malformed public key hash");
    memcpy(req->public_key_sha256, hash, sizeof(req->public_key_sha256));
    req->status = (scep_store_request_status)status_from_name(
        req_status_names, NAMES_COUNT(req_status_names), col_raw(res, r, 7));
    req->fail_info = col_opt_int(res, r, 8, SCEP_STORE_NO_FAIL_INFO);
    GUARD(col_text(&req->reason, res, r, 9));
    GUARD(col_text(&req->client_addr, res, r, 10));
    GUARD(col_text(&req->ca_name, res, r, 11));
    GUARD(col_text(&req->cert_serial, res, r, 12));
    req->created_at = col_int(res, r, 13);
    req->updated_at = col_int(res, r, 14);
    GUARD(col_text(&req->decided_mode, res, r, 15));
    GUARD(col_text(&req->decided_username, res, r, 16));
    GUARD(col_text(&req->decided_profile, res, r, 17));
    GUARD(col_text(&req->decided_subject, res, r, 18));
    GUARD(col_text(&req->decided_sans, res, r, 19));
    GUARD(col_text(&req->replaces_serial, res, r, 20));
    GUARD(col_text(&req->renews_serial, res, r, 21));
    req->decided_ee_updated_at = col_int(res, r, 22);
cleanup:
    scep_store_release(hash);
    return rc;
}

static int read_cert(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_cert *cert = elem;
    cert->id = col_int(res, r, 0);
    GUARD(col_text(&cert->ca_name, res, r, 1));
    GUARD(col_text(&cert->serial, res, r, 2));
    GUARD(col_text(&cert->subject, res, r, 3));
    GUARD(col_text(&cert->issuer, res, r, 4));
    cert->not_before = col_int(res, r, 5);
    cert->not_after = col_int(res, r, 6);
    GUARD(col_blob(&cert->der, &cert->der_len, res, r, 7));
    cert->status = (scep_store_cert_status)status_from_name(
        cert_status_names, NAMES_COUNT(cert_status_names), col_raw(res, r, 8));
    cert->revoked_at = col_int(res, r, 9);
    cert->revocation_reason = col_opt_int(res, r, 10, SCEP_STORE_NO_REASON);
    GUARD(col_text(&cert->username, res, r, 11));
    GUARD(col_text(&cert->transaction_id, res, r, 12));
    cert->created_at = col_int(res, r, 13);
cleanup:
    return rc;
}

static int read_revoked(void *elem, const PGresult *res, int r)
{
    scep_store_revoked *revoked = elem;
    revoked->revoked_at = col_int(res, r, 1);
    revoked->reason = col_opt_int(res, r, 2, SCEP_STORE_NO_REASON);
    return col_text(&revoked->serial, res, r, 0);
}

static int read_crl(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_crl *crl = elem;
    crl->id = col_int(res, r, 0);
    GUARD(col_text(&crl->ca_name, res, r, 1));
    crl->crl_number = col_int(res, r, 2);
    crl->this_update = col_int(res, r, 3);
    crl->next_update = col_int(res, r, 4);
    crl->revoked_count = col_int(res, r, 5);
    GUARD(col_blob(&crl->der, &crl->der_len, res, r, 6));
    crl->created_at = col_int(res, r, 7);
cleanup:
    return rc;
}

static int read_setting(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_setting *setting = elem;
    GUARD(col_text(&setting->key, res, r, 0));
    GUARD(col_text(&setting->value, res, r, 1));
cleanup:
    return rc;
}

static int read_string(void *elem, const PGresult *res, int r)
{
    const char *text = NULL;
    int rc = col_text(&text, res, r, 0);
    *(char **)elem = (char *)(uintptr_t)text;
    return rc;
}

static int read_audit(void *elem, const PGresult *res, int r)
{
    int rc = SCEP_OK;
    scep_store_audit_event *ev = elem;
    ev->id = col_int(res, r, 0);
    ev->time = col_int(res, r, 1);
    GUARD(col_text(&ev->actor, res, r, 2));
    GUARD(col_text(&ev->action, res, r, 3));
    GUARD(col_text(&ev->alias, res, r, 4));
    GUARD(col_text(&ev->transaction_id, res, r, 5));
    GUARD(col_text(&ev->outcome, res, r, 6));
    GUARD(col_text(&ev->detail, res, r, 7));
    GUARD(col_text(&ev->prev_hash, res, r, 8));
    GUARD(col_text(&ev->hash, res, r, 9));
cleanup:
    return rc;
}

static void clear_ca(void *p)
{
    scep_store_ca_clear(p);
}
static void clear_ee(void *p)
{
    scep_store_ee_clear(p);
}
static void clear_request(void *p)
{
    scep_store_request_clear(p);
}
static void clear_cert(void *p)
{
    scep_store_cert_clear(p);
}
static void clear_revoked(void *p)
{
    scep_store_revoked_clear(p);
}
static void clear_setting(void *p)
{
    scep_store_setting_clear(p);
}
static void clear_string(void *p)
{
    OPENSSL_free(*(char **)p);
    *(char **)p = NULL;
}
static void clear_audit(void *p)
{
    scep_store_audit_clear(p);
}

/* Runs a list statement and reads every row (at most SCEP_STORE_MAX_LIST) into an array. */
static int collect(void **out, size_t *out_count, struct pg_store *s, enum stmt_id id,
                   const struct pg_params *p, size_t elem_size, row_reader read, elem_clear clear,
                   const char *what)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    unsigned char *items = NULL;
    size_t count = 0;

    GUARD(stmt_run(&res, s, id, p, what));
    int rows = PQntuples(res);
    ENSURE((size_t)rows <= SCEP_STORE_MAX_LIST, SCEP_ETOOBIG, "%s: more than %u rows", what,
           SCEP_STORE_MAX_LIST);
    if (rows > 0) {
        items = OPENSSL_zalloc((size_t)rows * elem_size);
        ENSURE_ALLOC(items);
    }
    for (int r = 0; r < rows; r++) {
        count++;
        GUARD(read(items + (size_t)r * elem_size, res, r));
    }
    *out = items;
    *out_count = count;
    items = NULL;
    count = 0;
cleanup:
    for (size_t i = 0; i < count; i++)
        clear(items + i * elem_size);
    OPENSSL_free(items);
    PQclear(res);
    return rc;
}

/* Reads the single row of a statement; SCEP_ENOTFOUND with `what` when none. */
static int fetch_one(void *out, struct pg_store *s, enum stmt_id id, const struct pg_params *p,
                     row_reader read, const char *what)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    GUARD(stmt_run(&res, s, id, p, what));
    ENSURE(PQntuples(res) >= 1, SCEP_ENOTFOUND, "%s: not found", what);
    GUARD(read(out, res, 0));
cleanup:
    PQclear(res);
    return rc;
}

/* A SELECT that answers with a row or none: `*out` 1 or 0. */
static int exists_row(int *out, struct pg_store *s, enum stmt_id id, const struct pg_params *p,
                      const char *what)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    GUARD(stmt_run(&res, s, id, p, what));
    *out = PQntuples(res) > 0;
cleanup:
    PQclear(res);
    return rc;
}

/* The first column of a statement's single row as an integer; `missing` when no row. */
static int fetch_int(int64_t *out, struct pg_store *s, enum stmt_id id, const struct pg_params *p,
                     int missing, const char *what)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    GUARD(stmt_run(&res, s, id, p, what));
    ENSURE(PQntuples(res) >= 1, missing, "%s: not found", what);
    *out = col_int(res, 0, 0);
cleanup:
    PQclear(res);
    return rc;
}

static int64_t wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* ---- connection ------------------------------------------------------------------------- */

static void pg_close(scep_store *store)
{
    struct pg_store *s = (struct pg_store *)store;
    PQfinish(s->conn);
    OPENSSL_free(s);
}

static int pg_backup(scep_store *store, const char *path)
{
    (void)store;
    (void)path;
    return scep_fail(SCEP_EUNSUPPORTED, "use pg_dump for a PostgreSQL store");
}

/* ---- CAs ------------------------------------------------------------------------------------ */

static int pg_ca_add(scep_store *store, const scep_store_ca *ca)
{
    struct pg_params p = {0};
    p_text(&p, ca->name);
    p_text(&p, ca->cert_pem);
    p_text(&p, ca->key_ref);
    p_text(&p, ca->chain_pem);
    p_text(&p, ca->next_cert_pem);
    p_int(&p, wall_clock());
    return stmt_exec(NULL, (struct pg_store *)store, ST_CA_ADD, &p, "adding a CA");
}

static int pg_ca_get(scep_store_ca *out, scep_store *store, const char *name)
{
    struct pg_params p = {0};
    p_text(&p, name);
    return fetch_one(out, (struct pg_store *)store, ST_CA_GET, &p, read_ca, "CA");
}

static int pg_ca_list(scep_store_ca **out, size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    void *items = NULL;
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_CA_LIST, NULL,
                  sizeof(scep_store_ca), read_ca, clear_ca, "listing CAs"));
    *out = items;
cleanup:
    return rc;
}

static int pg_ca_set_next_cert(scep_store *store, const char *name, const char *pem,
                               const char *key_ref, int64_t activate_at)
{
    struct pg_params p = {0};
    p_text(&p, name);
    p_text(&p, pem);
    p_text(&p, key_ref);
    p_int(&p, activate_at);
    return expect_one_change((struct pg_store *)store, ST_CA_SET_NEXT, &p, "CA");
}

static int pg_ca_next_crl_number(int64_t *out, scep_store *store, const char *name)
{
    int rc = SCEP_OK;
    struct pg_params p = {0};
    p_text(&p, name);
    /* One UPDATE ... RETURNING: the increment and the read are one atomic statement. */
    rc = fetch_int(out, (struct pg_store *)store, ST_CA_NEXT_CRL, &p, SCEP_ENOTFOUND,
                   "incrementing the CRL number");
    if (rc == SCEP_ENOTFOUND)
        rc = scep_fail(SCEP_ENOTFOUND, "CA '%s' not found", name);
    return rc;
}

static int pg_config_revision(int64_t *out, scep_store *store)
{
    return fetch_int(out, (struct pg_store *)store, ST_CONFIG_REVISION, NULL, SCEP_ESTORE,
                     "the configuration revision");
}

/* ---- aliases -------------------------------------------------------------------------------- */

static int pg_alias_add(scep_store *store, const char *alias)
{
    struct pg_params p = {0};
    p_text(&p, alias);
    p_int(&p, wall_clock());
    return stmt_exec(NULL, (struct pg_store *)store, ST_ALIAS_ADD, &p, "adding an alias");
}

static int pg_alias_remove(scep_store *store, const char *alias)
{
    struct pg_params p = {0};
    p_text(&p, alias);
    return expect_one_change((struct pg_store *)store, ST_ALIAS_REMOVE, &p, "alias");
}

static int pg_alias_list(char ***out, size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    void *items = NULL;
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_ALIAS_LIST, NULL, sizeof(char *),
                  read_string, clear_string, "listing aliases"));
    *out = items;
cleanup:
    return rc;
}

static int pg_alias_setting_set(scep_store *store, const char *alias, const char *key,
                                const char *value)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    int in_tx = 0;
    struct pg_params ensure = {0};
    struct pg_params set = {0};
    GUARD(scep_pg_begin(s));
    in_tx = 1;
    p_text(&ensure, alias);
    p_int(&ensure, wall_clock());
    GUARD(stmt_exec(NULL, s, ST_ALIAS_ENSURE, &ensure, "adding an alias"));
    p_text(&set, alias);
    p_text(&set, key);
    p_text(&set, value);
    GUARD(stmt_exec(NULL, s, ST_SETTING_SET, &set, "setting an alias setting"));
    GUARD(scep_pg_commit(s));
    in_tx = 0;
cleanup:
    if (in_tx)
        scep_pg_rollback(s);
    return rc;
}

static int pg_alias_setting_get(char **out, scep_store *store, const char *alias, const char *key)
{
    int rc = SCEP_OK;
    struct pg_params p = {0};
    p_text(&p, alias);
    p_text(&p, key);
    rc = fetch_one(out, (struct pg_store *)store, ST_SETTING_GET, &p, read_string, "alias setting");
    if (rc == SCEP_ENOTFOUND)
        rc = scep_fail(SCEP_ENOTFOUND, "alias '%s' has no setting '%s'", alias, key);
    return rc;
}

static int pg_alias_setting_list(scep_store_setting **out, size_t *out_count, scep_store *store,
                                 const char *alias)
{
    int rc = SCEP_OK;
    void *items = NULL;
    struct pg_params p = {0};
    p_text(&p, alias);
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_SETTING_LIST, &p,
                  sizeof(scep_store_setting), read_setting, clear_setting,
                  "listing alias settings"));
    *out = items;
cleanup:
    return rc;
}

static int pg_alias_setting_remove(scep_store *store, const char *alias, const char *key)
{
    struct pg_params p = {0};
    p_text(&p, alias);
    p_text(&p, key);
    return expect_one_change((struct pg_store *)store, ST_SETTING_REMOVE, &p, "alias setting");
}

/* ---- end entities --------------------------------------------------------------------------- */

static int pg_ee_add(scep_store *store, const scep_store_end_entity *ee, const char *password_hash)
{
    struct pg_params p = {0};
    p_text(&p, ee->username);
    p_text(&p, password_hash);
    p_text(&p, ee->subject_dn);
    p_text(&p, ee_status_names[ee->status]);
    p_text(&p, ee->profile);
    p_text(&p, ee->ca_name);
    p_int(&p, wall_clock());
    p_text(&p, ee->alias);
    p_text(&p, ee->sans);
    return stmt_exec(NULL, (struct pg_store *)store, ST_EE_ADD, &p, "adding an end entity");
}

static int pg_ee_get(scep_store_end_entity *out, char **out_password_hash, scep_store *store,
                     const char *username)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    PGresult *res = NULL;
    struct pg_params p = {0};
    p_text(&p, username);
    GUARD(stmt_run(&res, s, ST_EE_GET, &p, "end entity"));
    ENSURE(PQntuples(res) >= 1, SCEP_ENOTFOUND, "end entity: not found");
    GUARD(read_ee(out, res, 0));
    if (out_password_hash != NULL) {
        const char *hash = NULL;
        GUARD(col_text(&hash, res, 0, 12));
        *out_password_hash = (char *)(uintptr_t)hash;
        ENSURE(hash != NULL, SCEP_ESTORE, "end entity has no password hash");
    }
cleanup:
    PQclear(res);
    return rc;
}

static int pg_ee_list(scep_store_end_entity **out, size_t *out_count, scep_store *store)
{
    int rc = SCEP_OK;
    void *items = NULL;
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_EE_LIST, NULL,
                  sizeof(scep_store_end_entity), read_ee, clear_ee, "listing end entities"));
    *out = items;
cleanup:
    return rc;
}

static int pg_ee_set_status(scep_store *store, const char *username, scep_store_ee_status status)
{
    struct pg_params p = {0};
    p_text(&p, username);
    p_text(&p, ee_status_names[status]);
    p_int(&p, wall_clock());
    return expect_one_change((struct pg_store *)store, ST_EE_SET_STATUS, &p, "end entity");
}

static int pg_ee_reset(scep_store *store, const char *username, const char *password_hash)
{
    struct pg_params p = {0};
    p_text(&p, username);
    p_text(&p, password_hash);
    p_int(&p, wall_clock());
    return expect_one_change((struct pg_store *)store, ST_EE_RESET, &p, "end entity");
}

static int pg_ee_update(scep_store *store, const scep_store_end_entity *ee, int64_t now)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_text(&p, ee->username);
    p_text(&p, ee->subject_dn);
    p_text(&p, ee->profile);
    p_text(&p, ee->alias);
    p_text(&p, ee->sans);
    p_int(&p, now);
    GUARD(stmt_exec(&changed, s, ST_EE_UPDATE, &p, "updating an end entity"));
    if (changed != 1) {
        struct pg_params q = {0};
        int exists = 0;
        p_text(&q, ee->username);
        GUARD(exists_row(&exists, s, ST_EE_RA_ALIAS, &q, "looking up the end entity"));
        ENSURE(exists, SCEP_ENOTFOUND, "no end entity %s", ee->username);
        ENSURE(0, SCEP_EDENIED,
               "end entity %s was created by RA mode: its names come from its requests",
               ee->username);
    }
cleanup:
    return rc;
}

static int pg_ee_code_failed(scep_store *store, const char *username, int64_t *out_count,
                             int64_t now)
{
    int rc = SCEP_OK;
    int64_t count = 0;
    struct pg_params p = {0};
    (void)now;
    p_text(&p, username);
    rc = fetch_int(&count, (struct pg_store *)store, ST_EE_CODE_FAILED, &p, SCEP_ENOTFOUND,
                   "counting a wrong enrollment code");
    if (rc == SCEP_ENOTFOUND)
        rc = scep_fail(SCEP_ENOTFOUND, "no end entity %s", username);
    if (rc == SCEP_OK && out_count != NULL)
        *out_count = count;
    return rc;
}

static int pg_ee_remove(scep_store *store, const char *username)
{
    struct pg_params p = {0};
    p_text(&p, username);
    return expect_one_change((struct pg_store *)store, ST_EE_REMOVE, &p, "end entity");
}

/* ---- requests ------------------------------------------------------------------------------- */

static int pg_request_find(scep_store_request *out, scep_store *store, const char *alias,
                           const char *transaction_id)
{
    struct pg_params p = {0};
    p_text(&p, alias);
    p_text(&p, transaction_id);
    return fetch_one(out, (struct pg_store *)store, ST_REQ_FIND, &p, read_request, "request");
}

static int pg_request_insert_if_absent(int *out_created, scep_store *store,
                                       const scep_store_request *req, int64_t now)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_text(&p, req->alias);
    p_text(&p, req->transaction_id);
    p_int(&p, req->message_type);
    p_blob(&p, req->csr_der, req->csr_der_len);
    p_blob(&p, req->signer_cert_der, req->signer_cert_der_len);
    p_blob(&p, req->public_key_sha256, sizeof(req->public_key_sha256));
    p_text(&p, req_status_names[req->status]);
    p_opt_int(&p, req->fail_info, SCEP_STORE_NO_FAIL_INFO);
    p_text(&p, req->reason);
    p_text(&p, req->client_addr);
    p_int(&p, now);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_REQ_INSERT, &p, "recording a request"));
    *out_created = changed == 1;
cleanup:
    return rc;
}

static int pg_request_get(scep_store_request *out, scep_store *store, int64_t id)
{
    struct pg_params p = {0};
    p_int(&p, id);
    return fetch_one(out, (struct pg_store *)store, ST_REQ_GET, &p, read_request, "request");
}

static int pg_request_held_for(int64_t *out_other, int *out_found, scep_store *store,
                               const char *reason, const char *username, int64_t id, int64_t since)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    struct pg_params p = {0};
    *out_found = 0;
    p_text(&p, reason);
    p_text(&p, username);
    p_int(&p, id);
    p_int(&p, since);
    GUARD(stmt_run(&res, (struct pg_store *)store, ST_REQ_HELD_FOR, &p,
                   "looking for a waiting request"));
    if (PQntuples(res) > 0) {
        *out_other = col_int(res, 0, 0);
        *out_found = 1;
    }
cleanup:
    PQclear(res);
    return rc;
}

static int pg_request_set_hold(int *out_changed, scep_store *store, int64_t id, const char *reason,
                               const scep_store_decision *d, int64_t now)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_int(&p, id);
    p_text(&p, reason);
    p_text(&p, d->mode);
    p_text(&p, d->username);
    p_text(&p, d->profile);
    p_text(&p, d->ca_name);
    p_text(&p, d->subject);
    p_text(&p, d->sans);
    p_text(&p, d->replaces_serial);
    p_int(&p, now);
    p_text(&p, d->renews_serial);
    p_int(&p, d->ee_updated_at);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_REQ_HOLD, &p, "holding the request"));
    *out_changed = changed == 1;
cleanup:
    return rc;
}

static int pg_request_retire(scep_store *store, int64_t id, int64_t now)
{
    struct pg_params p = {0};
    p_int(&p, id);
    p_int(&p, now);
    return expect_one_change((struct pg_store *)store, ST_REQ_RETIRE, &p, "request");
}

static int pg_request_update(scep_store *store, int64_t id, scep_store_request_status status,
                             int fail_info, const char *reason, int64_t now)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    PGresult *res = NULL;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_int(&p, id);
    p_text(&p, req_status_names[status]);
    p_opt_int(&p, fail_info, SCEP_STORE_NO_FAIL_INFO);
    p_text(&p, reason);
    p_int(&p, now);
    GUARD(stmt_exec(&changed, s, ST_REQ_UPDATE, &p, "updating a request"));
    if (changed == 0) {
        /* Say why: SCEP_ENOTFOUND when the row is missing, else the state it is in. */
        struct pg_params q = {0};
        p_int(&q, id);
        GUARD(stmt_run(&res, s, ST_REQ_STATUS, &q, "request"));
        ENSURE(PQntuples(res) >= 1, SCEP_ENOTFOUND, "request: not found");
        const char *current = col_raw(res, 0, 0);
        ENSURE(0, SCEP_ESTATE, "request is %s", current != NULL ? current : "?");
    }
cleanup:
    PQclear(res);
    return rc;
}

static int pg_request_list(scep_store_request **out, size_t *out_count, scep_store *store,
                           scep_store_request_status status, size_t limit)
{
    int rc = SCEP_OK;
    void *items = NULL;
    struct pg_params p = {0};
    p_text(&p, status != 0 ? req_status_names[status] : NULL);
    p_int(&p, (int64_t)limit);
    GUARD(collect(&items, out_count, (struct pg_store *)store,
                  status != 0 ? ST_REQ_LIST : ST_REQ_LIST_ANY, &p, sizeof(scep_store_request),
                  read_request, clear_request, "listing requests"));
    *out = items;
cleanup:
    return rc;
}

static int pg_request_count(int64_t *out, scep_store *store, scep_store_request_status status,
                            const char *reason)
{
    struct pg_params p = {0};
    p_text(&p, status != 0 ? req_status_names[status] : NULL);
    p_text(&p, reason);
    return fetch_int(out, (struct pg_store *)store, status != 0 ? ST_REQ_COUNT : ST_REQ_COUNT_ANY,
                     &p, SCEP_ESTORE, "counting requests");
}

/* ---- certificates --------------------------------------------------------------------------- */

static int pg_cert_add(scep_store *store, const scep_store_cert *cert, int64_t now)
{
    struct pg_params p = {0};
    p_text(&p, cert->ca_name);
    p_text(&p, cert->serial);
    p_text(&p, cert->subject);
    p_text(&p, cert->issuer);
    p_int(&p, cert->not_before);
    p_int(&p, cert->not_after);
    p_blob(&p, cert->der, cert->der_len);
    p_text(&p, cert->username);
    p_text(&p, cert->transaction_id);
    p_int(&p, now);
    /* UNIQUE (ca_name, serial) is the serial-uniqueness guarantee: SCEP_EEXISTS here. */
    return stmt_exec(NULL, (struct pg_store *)store, ST_CERT_ADD, &p, "storing a certificate");
}

static int pg_cert_get(scep_store_cert *out, scep_store *store, const char *ca_name,
                       const char *serial)
{
    struct pg_params p = {0};
    p_text(&p, ca_name);
    p_text(&p, serial);
    return fetch_one(out, (struct pg_store *)store, ST_CERT_GET, &p, read_cert, "certificate");
}

static int pg_cert_list(scep_store_cert **out, size_t *out_count, scep_store *store,
                        const scep_store_cert_filter *filter)
{
    int rc = SCEP_OK;
    void *items = NULL;
    struct pg_params p = {0};
    p_text(&p, filter->ca_name);
    p_text(&p, filter->status != 0 ? cert_status_names[filter->status] : NULL);
    p_int(&p, (int64_t)filter->limit);
    p_int(&p, (int64_t)filter->offset);
    if (filter->subject != NULL)
        p_text(&p, filter->subject);
    GUARD(collect(&items, out_count, (struct pg_store *)store,
                  filter->subject != NULL ? ST_CERT_LIST_SUBJECT : ST_CERT_LIST, &p,
                  sizeof(scep_store_cert), read_cert, clear_cert, "listing certificates"));
    *out = items;
cleanup:
    return rc;
}

static int pg_cert_revoke_if_valid(int *out_changed, scep_store *store, const char *ca_name,
                                   const char *serial, int64_t revoked_at, int reason)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_text(&p, ca_name);
    p_text(&p, serial);
    p_int(&p, revoked_at);
    p_opt_int(&p, reason, SCEP_STORE_NO_REASON);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_CERT_REVOKE, &p,
                    "revoking a certificate"));
    *out_changed = changed == 1;
cleanup:
    return rc;
}

static int pg_cert_is_renewable(int *out, scep_store *store, const char *ca_name,
                                const char *serial, int64_t now)
{
    struct pg_params p = {0};
    p_text(&p, ca_name);
    p_text(&p, serial);
    p_int(&p, now);
    return exists_row(out, (struct pg_store *)store, ST_CERT_RENEWABLE, &p,
                      "checking the renewed certificate");
}

static int pg_cert_valid_for_user(int *out, scep_store *store, const char *username, int64_t now)
{
    struct pg_params p = {0};
    p_text(&p, username);
    p_int(&p, now);
    return exists_row(out, (struct pg_store *)store, ST_CERT_VALID_FOR_USER, &p,
                      "looking up the end entity's certificates");
}

static int pg_cert_list_revoked(scep_store_revoked **out, size_t *out_count, scep_store *store,
                                const char *ca_name)
{
    int rc = SCEP_OK;
    void *items = NULL;
    struct pg_params p = {0};
    p_text(&p, ca_name);
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_CERT_REVOKED, &p,
                  sizeof(scep_store_revoked), read_revoked, clear_revoked,
                  "listing revoked certificates"));
    *out = items;
cleanup:
    return rc;
}

static int pg_cert_count_revoked(int64_t *out, scep_store *store, const char *ca_name)
{
    struct pg_params p = {0};
    p_text(&p, ca_name);
    return fetch_int(out, (struct pg_store *)store, ST_CERT_COUNT_REVOKED, &p, SCEP_ESTORE,
                     "counting revoked certificates");
}

/* ---- stored CRLs ---------------------------------------------------------------------------- */

static int pg_crl_get(scep_store_crl *out, scep_store *store, const char *ca_name)
{
    struct pg_params p = {0};
    p_text(&p, ca_name);
    return fetch_one(out, (struct pg_store *)store, ST_CRL_GET, &p, read_crl, "CRL");
}

static int pg_crl_insert(scep_store *store, scep_store_crl *crl, int64_t now)
{
    int rc = SCEP_OK;
    int64_t id = 0;
    struct pg_params p = {0};
    p_text(&p, crl->ca_name);
    p_int(&p, crl->crl_number);
    p_int(&p, crl->this_update);
    p_int(&p, crl->next_update);
    p_int(&p, crl->revoked_count);
    p_blob(&p, crl->der, crl->der_len);
    p_int(&p, now);
    GUARD(fetch_int(&id, (struct pg_store *)store, ST_CRL_ADD, &p, SCEP_ESTORE, "storing a CRL"));
    crl->id = id;
    crl->created_at = now;
cleanup:
    return rc;
}

static int pg_crl_prune(scep_store *store, const char *ca_name, int keep)
{
    struct pg_params p = {0};
    p_text(&p, ca_name);
    p_int(&p, keep);
    return stmt_exec(NULL, (struct pg_store *)store, ST_CRL_PRUNE, &p, "deleting old CRLs");
}

/* ---- audit ---------------------------------------------------------------------------------- */

static int pg_audit_last(int64_t *out_id, char **out_hash, int *out_found, scep_store *store)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    const char *hash = NULL;
    *out_id = 0;
    *out_hash = NULL;
    *out_found = 0;
    GUARD(stmt_run(&res, (struct pg_store *)store, ST_AUDIT_LAST, NULL,
                   "reading the newest audit event"));
    if (PQntuples(res) > 0) {
        GUARD(col_text(&hash, res, 0, 1));
        *out_id = col_int(res, 0, 0);
        *out_hash = (char *)(uintptr_t)hash;
        *out_found = 1;
    }
cleanup:
    PQclear(res);
    return rc;
}

static int pg_audit_insert(scep_store *store, const scep_store_audit_event *ev)
{
    struct pg_params p = {0};
    p_int(&p, ev->id);
    p_int(&p, ev->time);
    p_text(&p, ev->actor);
    p_text(&p, ev->action);
    p_text(&p, ev->alias);
    p_text(&p, ev->transaction_id);
    p_text(&p, ev->outcome);
    p_text(&p, ev->detail);
    p_text(&p, ev->prev_hash);
    p_text(&p, ev->hash);
    return stmt_exec(NULL, (struct pg_store *)store, ST_AUDIT_ADD, &p, "appending an audit event");
}

static int pg_audit_list(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                         int64_t since, size_t limit)
{
    int rc = SCEP_OK;
    void *items = NULL;
    struct pg_params p = {0};
    p_int(&p, (int64_t)limit);
    p_int(&p, since);
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_AUDIT_LIST, &p,
                  sizeof(scep_store_audit_event), read_audit, clear_audit, "listing audit events"));
    *out = items;
cleanup:
    return rc;
}

static int pg_audit_page(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                         int64_t before_id, size_t limit)
{
    int rc = SCEP_OK;
    void *items = NULL;
    struct pg_params p = {0};
    p_int(&p, (int64_t)limit);
    p_int(&p, before_id);
    GUARD(collect(&items, out_count, (struct pg_store *)store, ST_AUDIT_PAGE, &p,
                  sizeof(scep_store_audit_event), read_audit, clear_audit, "listing audit events"));
    *out = items;
cleanup:
    return rc;
}

/*
 * One REPEATABLE READ transaction is the snapshot: the batches, read by id, see the trail
 * as it was when the first one ran, whatever is appended meanwhile.
 */
static int pg_audit_walk(scep_store *store,
                         int (*visit)(const scep_store_audit_event *event, void *payload),
                         void *payload)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    int in_tx = 0;
    PGresult *res = NULL;
    int64_t last_id = INT64_MIN;
    scep_store_audit_event event;
    memset(&event, 0, sizeof(event));
    ENSURE(!s->in_tx, SCEP_ESTATE, "reading the audit trail inside a write transaction");
    GUARD(scep_pg_exec(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                       "reading the audit trail"));
    s->in_tx = 1;
    in_tx = 1;
    for (;;) {
        struct pg_params p = {0};
        p_int(&p, last_id);
        GUARD(stmt_run(&res, s, ST_AUDIT_BATCH, &p, "reading the audit trail"));
        int rows = PQntuples(res);
        for (int r = 0; r < rows; r++) {
            GUARD(read_audit(&event, res, r));
            last_id = event.id;
            rc = visit(&event, payload);
            scep_store_audit_clear(&event);
            if (rc != 0)
                goto cleanup;
        }
        PQclear(res);
        res = NULL;
        if (rows < AUDIT_WALK_BATCH)
            break;
    }
    in_tx = 0;
    GUARD(scep_pg_commit(s));
cleanup:
    scep_store_audit_clear(&event);
    PQclear(res);
    if (in_tx)
        scep_pg_rollback(s);
    return rc;
}

/* ---- row operations of the issuance step (issuance_tx.c) ------------------------------ */

static int pg_ee_ra_upsert(int *out_changed, scep_store *store, const scep_store_ra_entity *ra,
                           int64_t now)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_text(&p, ra->username);
    p_text(&p, ra->subject_dn);
    p_text(&p, ra->profile);
    p_text(&p, ra->ca_name);
    p_int(&p, now);
    p_text(&p, ra->alias);
    p_text(&p, ra->sans);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_EE_RA_UPSERT, &p,
                    "creating the RA end entity"));
    *out_changed = changed == 1;
cleanup:
    return rc;
}

static int pg_ee_is_active(int *out, scep_store *store, const char *username)
{
    struct pg_params p = {0};
    p_text(&p, username);
    return exists_row(out, (struct pg_store *)store, ST_EE_ACTIVE, &p, "checking the end entity");
}

static int pg_ee_consume(int *out_changed, scep_store *store, const char *username, int64_t now)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_text(&p, username);
    p_int(&p, now);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_EE_CONSUME, &p,
                    "consuming the end entity"));
    *out_changed = changed == 1;
cleanup:
    return rc;
}

static int pg_request_mark_issued(int *out_changed, char **out_alias, char **out_transaction_id,
                                  scep_store *store, int64_t id, const char *ca_name,
                                  const char *serial, int64_t now)
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    const char *alias = NULL;
    const char *transaction_id = NULL;
    struct pg_params p = {0};
    *out_changed = 0;
    p_int(&p, id);
    p_text(&p, ca_name);
    p_text(&p, serial);
    p_int(&p, now);
    GUARD(stmt_run(&res, (struct pg_store *)store, ST_REQ_ISSUE, &p, "marking the request issued"));
    if (PQntuples(res) == 0)
        goto cleanup;
    GUARD(col_text(&alias, res, 0, 0));
    GUARD(col_text(&transaction_id, res, 0, 1));
    *out_alias = (char *)(uintptr_t)alias;
    *out_transaction_id = (char *)(uintptr_t)transaction_id;
    alias = NULL;
    transaction_id = NULL;
    *out_changed = 1;
cleanup:
    PQclear(res);
    scep_store_release(alias);
    scep_store_release(transaction_id);
    return rc;
}

/* ---- challenges ----------------------------------------------------------------------------- */

static int pg_challenge_add(scep_store *store, const char *alias,
                            const unsigned char hash[SCEP_STORE_HASH_LEN], int64_t expires_at,
                            const char *subject_pattern, int64_t now)
{
    struct pg_params p = {0};
    p_text(&p, alias);
    p_blob(&p, hash, SCEP_STORE_HASH_LEN);
    p_text(&p, subject_pattern);
    p_int(&p, expires_at);
    p_int(&p, now);
    return stmt_exec(NULL, (struct pg_store *)store, ST_CH_ADD, &p, "adding a challenge");
}

static int pg_challenge_find(struct scep_store_challenge_row *out, int *out_found,
                             scep_store *store, const unsigned char hash[SCEP_STORE_HASH_LEN])
{
    int rc = SCEP_OK;
    PGresult *res = NULL;
    const char *alias = NULL;
    const char *pattern = NULL;
    const unsigned char *stored = NULL;
    size_t len = 0;
    struct pg_params p = {0};
    *out_found = 0;
    p_blob(&p, hash, SCEP_STORE_HASH_LEN);
    GUARD(stmt_run(&res, (struct pg_store *)store, ST_CH_FIND, &p, "looking up a challenge"));
    if (PQntuples(res) == 0)
        goto cleanup;
    GUARD(col_text(&alias, res, 0, 1));
    GUARD(col_text(&pattern, res, 0, 3));
    GUARD(col_blob(&stored, &len, res, 0, 2));
    out->id = col_int(res, 0, 0);
    out->hash_len = len;
    if (len > 0)
        memcpy(out->hash, stored, len < SCEP_STORE_HASH_LEN ? len : SCEP_STORE_HASH_LEN);
    out->expires_at = col_int(res, 0, 4);
    out->used = !PQgetisnull(res, 0, 5);
    out->alias = (char *)(uintptr_t)alias;
    out->subject_pattern = (char *)(uintptr_t)pattern;
    alias = NULL;
    pattern = NULL;
    *out_found = 1;
cleanup:
    PQclear(res);
    scep_store_release(stored);
    scep_store_release(alias);
    scep_store_release(pattern);
    return rc;
}

static int pg_challenge_mark_used(int *out_changed, scep_store *store, int64_t id, int64_t now)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_int(&p, id);
    p_int(&p, now);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_CH_USE, &p, "consuming a challenge"));
    *out_changed = changed == 1;
cleanup:
    return rc;
}

static int pg_challenge_purge_expired(size_t *out_count, scep_store *store, int64_t now)
{
    int rc = SCEP_OK;
    int64_t changed = 0;
    struct pg_params p = {0};
    p_int(&p, now);
    GUARD(stmt_exec(&changed, (struct pg_store *)store, ST_CH_PURGE, &p, "purging challenges"));
    *out_count = (size_t)changed;
cleanup:
    return rc;
}

static int pg_request_purge(size_t *out_count, scep_store *store, int64_t before, unsigned flags)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    int in_tx = 0;
    int64_t changed = 0;
    size_t count = 0;
    struct pg_params p = {0};
    p_int(&p, before);
    GUARD(scep_pg_begin(s));
    in_tx = 1;
    GUARD(stmt_exec(&changed, s, ST_REQ_PURGE, &p, "purging requests"));
    count += (size_t)changed;
    if (flags & SCEP_STORE_PURGE_ISSUED) {
        GUARD(stmt_exec(&changed, s, ST_REQ_PURGE_ISSUED, &p, "purging issued requests"));
        count += (size_t)changed;
    }
    GUARD(scep_pg_commit(s));
    in_tx = 0;
    *out_count = count;
cleanup:
    if (in_tx)
        scep_pg_rollback(s);
    return rc;
}

/* ---- copying a store (store_copy.c) ----------------------------------------------------- */

/* Rows one copy_read round trip fetches: the copy's memory bound. */
#define COPY_BATCH "500"

static int pg_begin_snapshot(scep_store *store)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    ENSURE(!s->in_tx, SCEP_ESTATE, "a read snapshot inside a transaction");
    GUARD(scep_pg_exec(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                       "beginning a read transaction"));
    s->in_tx = 1;
cleanup:
    return rc;
}

static void pg_end_snapshot(scep_store *store)
{
    scep_pg_rollback((struct pg_store *)store); /* read only: nothing to keep */
}

/* A binary integer column of any width the schema uses (INTEGER, BIGINT). */
static int64_t binary_int(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < len && i < 8; i++)
        v = (v << 8) | p[i];
    if (len == 4)
        return (int32_t)(uint32_t)v;
    if (len == 2)
        return (int16_t)(uint16_t)v;
    return (int64_t)v;
}

/*
 * Through a cursor of the open transaction, COPY_BATCH rows per FETCH, in binary so that
 * blobs arrive as they are. Runs inside begin_snapshot or begin_write.
 */
static int pg_copy_read(scep_store *store, const struct scep_store_table *table,
                        int (*row)(const struct scep_store_value *values, void *payload),
                        void *payload)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    int open = 0;
    char *select = NULL;
    char *declare = NULL;
    PGresult *res = NULL;
    struct scep_store_value *values = NULL;

    ENSURE(s->in_tx, SCEP_ESTATE, "copying outside a transaction");
    GUARD(scep_store_copy_sql(&select, table, 0, '$'));
    size_t n = strlen(select) + 64;
    declare = OPENSSL_malloc(n);
    ENSURE_ALLOC(declare);
    snprintf(declare, n, "DECLARE scep_copy NO SCROLL CURSOR FOR %s", select);
    GUARD(scep_pg_exec(s, declare, "reading a table to copy"));
    open = 1;
    values = OPENSSL_zalloc(table->column_count * sizeof(*values));
    ENSURE_ALLOC(values);
    for (;;) {
        res = PQexecParams(s->conn, "FETCH " COPY_BATCH " FROM scep_copy", 0, NULL, NULL, NULL,
                           NULL, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = scep_pg_fail(s, res, "reading a table to copy");
            goto cleanup;
        }
        int rows = PQntuples(res);
        ENSURE(PQnfields(res) == (int)table->column_count, SCEP_ESTORE,
               "copying %s: unexpected columns", table->name);
        for (int r = 0; r < rows; r++) {
            for (size_t i = 0; i < table->column_count; i++) {
                int col = (int)i;
                struct scep_store_value *v = &values[i];
                memset(v, 0, sizeof(*v));
                v->is_null = PQgetisnull(res, r, col);
                if (v->is_null)
                    continue;
                if (table->columns[i].kind == SCEP_STORE_INT) {
                    v->integer = binary_int(res, r, col);
                } else {
                    /* libpq NUL-terminates every value, binary ones included. */
                    v->data = (const unsigned char *)PQgetvalue(res, r, col);
                    v->len = (size_t)PQgetlength(res, r, col);
                }
            }
            int stop = row(values, payload);
            GUARD(stop);
            if (stop > 0)
                goto cleanup;
        }
        PQclear(res);
        res = NULL;
        if (rows == 0)
            break;
    }
cleanup:
    PQclear(res);
    if (open && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "CLOSE scep_copy"));
    OPENSSL_free(values);
    OPENSSL_free(declare);
    OPENSSL_free(select);
    return rc;
}

static int pg_copy_write(scep_store *store, const struct scep_store_table *table,
                         const struct scep_store_value *values)
{
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    char *sql = NULL;
    PGresult *res = NULL;
    const char **params = NULL;
    int *lengths = NULL;
    int *formats = NULL;
    char(*numbers)[24] = NULL;
    size_t count = table->column_count;

    GUARD(scep_store_copy_sql(&sql, table, 1, '$'));
    params = OPENSSL_zalloc(count * sizeof(*params));
    lengths = OPENSSL_zalloc(count * sizeof(*lengths));
    formats = OPENSSL_zalloc(count * sizeof(*formats));
    numbers = OPENSSL_zalloc(count * sizeof(*numbers));
    ENSURE(params != NULL && lengths != NULL && formats != NULL && numbers != NULL, SCEP_ENOMEM,
           "out of memory");
    for (size_t i = 0; i < count; i++) {
        const struct scep_store_value *v = &values[i];
        if (v->is_null)
            continue;
        switch (table->columns[i].kind) {
        case SCEP_STORE_INT:
            snprintf(numbers[i], sizeof(numbers[i]), "%lld", (long long)v->integer);
            params[i] = numbers[i];
            break;
        case SCEP_STORE_TEXT:
            params[i] = (const char *)v->data;
            break;
        case SCEP_STORE_BLOB:
            ENSURE(v->len <= SCEP_STORE_MAX_BLOB, SCEP_ETOOBIG, "copying %s: a blob is too large",
                   table->name);
            /* An empty blob is still a blob, not NULL. */
            params[i] = v->len > 0 ? (const char *)v->data : "";
            lengths[i] = (int)v->len;
            formats[i] = 1;
            break;
        }
    }
    GUARD(connection_ready(s));
    res = PQexecParams(s->conn, sql, (int)count, NULL, params, lengths, formats, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = scep_pg_fail(s, res, "copying a row");
        goto cleanup;
    }
cleanup:
    PQclear(res);
    OPENSSL_free(numbers);
    OPENSSL_free(formats);
    OPENSSL_free(lengths);
    OPENSSL_free(params);
    OPENSSL_free(sql);
    return rc;
}

/* Rows inserted after a copy take ids after the copied ones: each sequence moves past them. */
static int pg_copy_finish(scep_store *store)
{
    static const char *const tables[] = {"cas",          "aliases",  "alias_settings",
                                         "end_entities", "requests", "certificates",
                                         "challenges",   "crls"};
    struct pg_store *s = (struct pg_store *)store;
    int rc = SCEP_OK;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[256];
        int n = snprintf(sql, sizeof(sql),
                         "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                         "coalesce((SELECT max(id) FROM %s), 1), "
                         "(SELECT max(id) FROM %s) IS NOT NULL)",
                         tables[i], tables[i], tables[i]);
        ENSURE(n > 0 && (size_t)n < sizeof(sql), SCEP_ESTORE, "sequence statement");
        GUARD(scep_pg_exec(s, sql, "moving the id sequences past the copied rows"));
    }
cleanup:
    return rc;
}

/* ---- ops table and open --------------------------------------------------------------------- */

static const struct scep_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .schema_version = scep_pg_schema_version,
    .backup = pg_backup,
    /* No integrity_check: PostgreSQL enforces its constraints itself. */
    .config_revision = pg_config_revision,
    .begin_write = pg_begin_write,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .ca_add = pg_ca_add,
    .ca_get = pg_ca_get,
    .ca_list = pg_ca_list,
    .ca_set_next_cert = pg_ca_set_next_cert,
    .ca_next_crl_number = pg_ca_next_crl_number,
    .alias_add = pg_alias_add,
    .alias_remove = pg_alias_remove,
    .alias_list = pg_alias_list,
    .alias_setting_set = pg_alias_setting_set,
    .alias_setting_get = pg_alias_setting_get,
    .alias_setting_list = pg_alias_setting_list,
    .alias_setting_remove = pg_alias_setting_remove,
    .ee_add = pg_ee_add,
    .ee_get = pg_ee_get,
    .ee_list = pg_ee_list,
    .ee_set_status = pg_ee_set_status,
    .ee_reset = pg_ee_reset,
    .ee_remove = pg_ee_remove,
    .ee_consume = pg_ee_consume,
    .ee_is_active = pg_ee_is_active,
    .ee_ra_upsert = pg_ee_ra_upsert,
    .request_mark_issued = pg_request_mark_issued,
    .request_insert_if_absent = pg_request_insert_if_absent,
    .request_get = pg_request_get,
    .request_find = pg_request_find,
    .request_update = pg_request_update,
    .ee_update = pg_ee_update,
    .ee_code_failed = pg_ee_code_failed,
    .request_held_for = pg_request_held_for,
    .request_set_hold = pg_request_set_hold,
    .request_retire = pg_request_retire,
    .request_list = pg_request_list,
    .request_count = pg_request_count,
    .cert_add = pg_cert_add,
    .cert_get = pg_cert_get,
    .cert_list = pg_cert_list,
    .cert_revoke_if_valid = pg_cert_revoke_if_valid,
    .cert_is_renewable = pg_cert_is_renewable,
    .cert_valid_for_user = pg_cert_valid_for_user,
    .cert_list_revoked = pg_cert_list_revoked,
    .cert_count_revoked = pg_cert_count_revoked,
    .crl_get = pg_crl_get,
    .crl_insert = pg_crl_insert,
    .crl_prune = pg_crl_prune,
    .challenge_add = pg_challenge_add,
    .challenge_find = pg_challenge_find,
    .challenge_mark_used = pg_challenge_mark_used,
    .challenge_purge_expired = pg_challenge_purge_expired,
    .request_purge = pg_request_purge,
    .audit_last = pg_audit_last,
    .audit_insert = pg_audit_insert,
    .audit_list = pg_audit_list,
    .audit_page = pg_audit_page,
    .audit_walk = pg_audit_walk,
    .begin_snapshot = pg_begin_snapshot,
    .end_snapshot = pg_end_snapshot,
    .copy_read = pg_copy_read,
    .copy_write = pg_copy_write,
    .copy_finish = pg_copy_finish,
};

/*
 * Where `options` connect to, for messages: only the database, host, port and user that
 * libpq parsed, so that no password (user info, password=, a mangled escape) is ever shown.
 */
static void describe_target(char *out, size_t size, const PQconninfoOption *options)
{
    static const char *const shown[] = {"dbname", "host", "hostaddr", "port", "user"};
    size_t used = 0;
    out[0] = '\0';
    for (const PQconninfoOption *o = options; o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
            if (strcmp(o->keyword, shown[i]) != 0)
                continue;
            int n = snprintf(out + used, size - used, "%s%s=%.200s", used > 0 ? " " : "",
                             o->keyword, o->val);
            if (n > 0 && (size_t)n < size - used)
                used += (size_t)n;
        }
    }
    if (used == 0)
        snprintf(out, size, "libpq defaults");
}

/*
 * `location` follows "postgresql:" or "postgres:": "//..." is a libpq URI, anything else a
 * libpq keyword string ("host=/run/postgresql dbname=scep"). A database must exist
 * (createdb), so `must_exist` changes nothing; an empty one is given the schema.
 */
int scep_store_postgres_open(scep_store **out, const char *location,
                             const scep_store_open_options *options)
{
    int rc = SCEP_OK;
    struct pg_store *s = NULL;
    char *conninfo = NULL;
    char target[512];
    char *parse_error = NULL;
    PQconninfoOption *parsed = NULL;

    ENSURE(*location != '\0', SCEP_ECONFIG, "PostgreSQL store URL has no connection settings");
    if (strncmp(location, "//", 2) == 0) {
        /* libpq takes postgres:// and postgresql:// alike. */
        size_t n = strlen("postgresql:") + strlen(location) + 1;
        conninfo = OPENSSL_malloc(n);
        ENSURE_ALLOC(conninfo);
        snprintf(conninfo, n, "postgresql:%s", location);
    } else {
        conninfo = OPENSSL_strdup(location);
        ENSURE_ALLOC(conninfo);
    }
    parsed = PQconninfoParse(conninfo, &parse_error);
    if (parsed == NULL) {
        /*
         * A malformed URL is a configuration error. libpq's message may quote the URL or a
         * piece of it: shown only when the URL can carry no credentials at all (no user
         * part, no "pass" in any spelling, no percent-encoding that could spell one).
         */
        const char *why = parse_error != NULL ? parse_error : "out of memory";
        int quiet = strchr(conninfo, '@') != NULL || strchr(conninfo, '%') != NULL ||
                    mentions_pass(conninfo);
        rc = scep_fail(SCEP_ECONFIG,
                       "PostgreSQL store URL: not a libpq connection URI or keyword string%s%.*s",
                       quiet ? "" : ": ", quiet ? 0 : message_len(why), quiet ? "" : why);
        goto cleanup;
    }
    describe_target(target, sizeof(target), parsed);

    s = OPENSSL_zalloc(sizeof(*s));
    ENSURE_ALLOC(s);
    s->base.ops = &pg_ops;
    /*
     * Keywords before "dbname" are defaults the expanded URL overrides: connect_timeout
     * bounds the connect and every reconnect unless the URL chooses its own. A password
     * given apart from the URL comes after it and wins.
     */
    const char *const keywords[] = {"connect_timeout", "fallback_application_name", "dbname",
                                    options->password != NULL ? "password" : NULL, NULL};
    const char *const values[] = {SCEP_PG_CONNECT_TIMEOUT, "scep", conninfo, options->password,
                                  NULL};
    s->conn = PQconnectdbParams(keywords, values, 1);
    ENSURE_ALLOC(s->conn);
    PQsetNoticeProcessor(s->conn, ignore_notice, NULL);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(s->conn);
        rc = scep_fail(SCEP_EUNAVAILABLE, "PostgreSQL store (%s): cannot connect (%.*s)", target,
                       message_len(msg), msg);
        goto cleanup;
    }
    GUARD(session_setup(s));
    GUARD(scep_pg_migrate(s));
    *out = &s->base;
    s = NULL;
cleanup:
    if (s != NULL)
        pg_close(&s->base);
    PQconninfoFree(parsed);
    PQfreemem(parse_error);
    OPENSSL_clear_free(conninfo, conninfo != NULL ? strlen(conninfo) : 0);
    return rc;
}
