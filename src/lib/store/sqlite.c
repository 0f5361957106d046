/*
 * The SQLite store backend: one file in WAL mode, shared by many connections
 * (one per thread or process). It only reads and writes rows; the front end
 * orders multi-step operations inside begin_write, which is BEGIN IMMEDIATE
 * here, so a connection takes the write lock before it reads what it is about
 * to change and two writers can never both see the same "before" state;
 * waiting writers queue on busy_timeout.
 */
#include "store/sqlite_internal.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

/* ---- statements ---------------------------------------------------------- */

#define CA_COLS                                                                                    \
    "id, name, cert_pem, key_ref, chain_pem, next_cert_pem, crl_number, created_at, "              \
    "next_key_ref, "                                                                               \
    "next_activate_at"
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

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
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
    ST_AUDIT_WALK,
    ST_AUDIT_NEXT,
    ST_AUDIT_SET_HASH,
    ST_REQ_LIST_ANY,
    ST_REQ_COUNT_ANY,
    ST_CERT_LIST_SUBJECT,
    ST_COUNT
};

_Static_assert(ST_COUNT <= SCEP_SQLITE_MAX_STMTS, "statement cache too small");

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_CA_ADD] = "INSERT INTO cas (name, cert_pem, key_ref, chain_pem, next_cert_pem, "
                  "crl_number, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
    [ST_CA_GET] = "SELECT " CA_COLS " FROM cas WHERE name = ?1",
    [ST_CA_LIST] = "SELECT " CA_COLS " FROM cas ORDER BY name",
    [ST_CA_SET_NEXT] = "UPDATE cas SET next_cert_pem = ?2, next_key_ref = ?3, "
                       "next_activate_at = ?4 WHERE name = ?1",
    [ST_CONFIG_REVISION] = "SELECT revision FROM config_revision WHERE id = 1",
    [ST_CA_NEXT_CRL] = "UPDATE cas SET crl_number = crl_number + 1 WHERE name = ?1 "
                       "RETURNING crl_number",
    [ST_ALIAS_ADD] = "INSERT INTO aliases (name, created_at) VALUES (?1, ?2)",
    [ST_ALIAS_ENSURE] = "INSERT INTO aliases (name, created_at) VALUES (?1, ?2) "
                        "ON CONFLICT (name) DO NOTHING",
    [ST_ALIAS_REMOVE] = "DELETE FROM aliases WHERE name = ?1",
    [ST_ALIAS_LIST] = "SELECT name FROM aliases ORDER BY name",
    [ST_SETTING_SET] = "INSERT INTO alias_settings (alias, key, value) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (alias, key) DO UPDATE SET value = excluded.value",
    [ST_SETTING_GET] = "SELECT value FROM alias_settings WHERE alias = ?1 AND key = ?2",
    [ST_SETTING_LIST] = "SELECT key, value FROM alias_settings WHERE alias = ?1 ORDER BY key",
    [ST_SETTING_REMOVE] = "DELETE FROM alias_settings WHERE alias = ?1 AND key = ?2",
    [ST_EE_ADD] = "INSERT INTO end_entities (username, password_hash, subject_dn, status, "
                  "profile, ca_name, created_at, updated_at, alias, sans) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
    [ST_EE_GET] = "SELECT " EE_COLS ", password_hash FROM end_entities WHERE username = ?1",
    [ST_EE_LIST] = "SELECT " EE_COLS " FROM end_entities ORDER BY username",
    [ST_EE_SET_STATUS] = "UPDATE end_entities SET status = ?2, updated_at = ?3 "
                         "WHERE username = ?1",
    [ST_EE_RESET] = "UPDATE end_entities SET status = 'NEW', password_hash = ?2, failed_codes = 0, "
                    "updated_at = ?3 WHERE username = ?1",
    [ST_EE_REMOVE] = "DELETE FROM end_entities WHERE username = ?1",
    [ST_EE_CONSUME] = "UPDATE end_entities SET status = 'GENERATED', updated_at = ?2 "
                      "WHERE username = ?1 AND status = 'NEW'",
    [ST_REQ_INSERT] = "INSERT INTO requests (alias, transaction_id, message_type, csr_der, "
                      "signer_cert_der, public_key_sha256, status, fail_info, reason, "
                      "client_addr, created_at, updated_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
                      "ON CONFLICT (alias, transaction_id) DO NOTHING",
    [ST_REQ_GET] = "SELECT " REQ_COLS " FROM requests WHERE id = ?1",
    [ST_REQ_FIND] = "SELECT " REQ_COLS " FROM requests WHERE alias = ?1 AND transaction_id = ?2",
    [ST_REQ_STATUS] = "SELECT status FROM requests WHERE id = ?1",
    [ST_REQ_UPDATE] = "UPDATE requests SET status = ?2, fail_info = ?3, reason = ?4, "
                      "updated_at = ?5 WHERE id = ?1 AND status <> 'ISSUED'",
    [ST_REQ_ISSUE] = "UPDATE requests SET status = 'ISSUED', ca_name = ?2, cert_serial = ?3, "
                     "fail_info = NULL, updated_at = ?4 WHERE id = ?1 AND status = 'PENDING' "
                     "RETURNING alias, transaction_id",
    /*
     * With a status and without one, two statements: "(?1 IS NULL OR status = ?1)" keeps
     * the planner off requests_by_status, and the metrics count pending requests at every
     * scrape.
     */
    [ST_REQ_LIST] = "SELECT " REQ_COLS " FROM requests WHERE status = ?1 ORDER BY id LIMIT ?2",
    [ST_REQ_LIST_ANY] = "SELECT " REQ_COLS " FROM requests WHERE ?1 IS NULL ORDER BY id LIMIT ?2",
    [ST_REQ_COUNT] = "SELECT count(*) FROM requests WHERE status = ?1 "
                     "AND (?2 IS NULL OR reason = ?2)",
    [ST_REQ_COUNT_ANY] = "SELECT count(*) FROM requests WHERE ?1 IS NULL "
                         "AND (?2 IS NULL OR reason = ?2)",
    [ST_CERT_ADD] = "INSERT INTO certificates (ca_name, serial, subject, issuer, not_before, "
                    "not_after, der, status, username, transaction_id, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'VALID', ?8, ?9, ?10)",
    [ST_CERT_GET] = "SELECT " CERT_COLS " FROM certificates WHERE ca_name = ?1 AND serial = ?2",
    [ST_CERT_LIST] = "SELECT " CERT_COLS " FROM certificates "
                     "WHERE (?1 IS NULL OR ca_name = ?1) AND (?2 IS NULL OR status = ?2) "
                     "ORDER BY id LIMIT ?3 OFFSET ?4",
    /* Its own statement, so that certificates_by_subject is used (as ST_REQ_LIST). */
    [ST_CERT_LIST_SUBJECT] = "SELECT " CERT_COLS " FROM certificates WHERE subject = ?5 "
                             "AND (?1 IS NULL OR ca_name = ?1) AND (?2 IS NULL OR status = ?2) "
                             "ORDER BY id LIMIT ?3 OFFSET ?4",
    [ST_CERT_REVOKE] = "UPDATE certificates SET status = 'REVOKED', revoked_at = ?3, "
                       "revocation_reason = ?4 "
                       "WHERE ca_name = ?1 AND serial = ?2 AND status = 'VALID'",
    [ST_CERT_REVOKED] = "SELECT serial, revoked_at, revocation_reason FROM certificates "
                        "WHERE ca_name = ?1 AND status = 'REVOKED' ORDER BY id",
    [ST_CERT_COUNT_REVOKED] = "SELECT count(*) FROM certificates "
                              "WHERE ca_name = ?1 AND status = 'REVOKED'",
    [ST_CRL_GET] = "SELECT " CRL_COLS " FROM crls WHERE ca_name = ?1 "
                   "ORDER BY crl_number DESC LIMIT 1",
    [ST_CRL_ADD] = "INSERT INTO crls (ca_name, crl_number, this_update, next_update, "
                   "revoked_count, der, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_CRL_PRUNE] = "DELETE FROM crls WHERE ca_name = ?1 AND crl_number NOT IN "
                     "(SELECT crl_number FROM crls WHERE ca_name = ?1 "
                     "ORDER BY crl_number DESC LIMIT ?2)",
    [ST_CH_ADD] = "INSERT INTO challenges (alias, hash, subject_pattern, expires_at, created_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_CH_FIND] = "SELECT id, alias, hash, subject_pattern, expires_at, used_at "
                   "FROM challenges WHERE hash = ?1",
    [ST_CH_USE] = "UPDATE challenges SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
    [ST_CH_PURGE] = "DELETE FROM challenges WHERE expires_at <= ?1",
    [ST_AUDIT_ADD] = "INSERT INTO audit_events (id, time, actor, action, alias, transaction_id, "
                     "outcome, detail, prev_hash, hash) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit_events WHERE time >= ?2 "
                      "ORDER BY time DESC, id DESC LIMIT ?1",
    [ST_AUDIT_PAGE] = "SELECT " AUDIT_COLS " FROM audit_events WHERE id < ?2 "
                      "ORDER BY id DESC LIMIT ?1",
    [ST_AUDIT_LAST] = "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1",
    [ST_AUDIT_WALK] = "SELECT " AUDIT_COLS " FROM audit_events ORDER BY id",
    [ST_AUDIT_NEXT] = "SELECT " AUDIT_COLS " FROM audit_events WHERE id > ?1 ORDER BY id LIMIT 1",
    [ST_AUDIT_SET_HASH] = "UPDATE audit_events SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
    /*
     * RA mode: '!' is no PBKDF2 encoding, so no password ever matches until `ee reset`.
     * Only an end entity this alias's RA mode created, NEW or GENERATED, is taken over.
     */
    [ST_EE_RA_UPSERT] = "INSERT INTO end_entities (username, password_hash, subject_dn, status, "
                        "profile, ca_name, created_at, updated_at, alias, sans, ra_alias) "
                        "VALUES (?1, '!', ?2, 'NEW', ?3, ?4, ?5, ?5, ?6, ?7, ?6) "
                        "ON CONFLICT (username) DO UPDATE SET subject_dn = excluded.subject_dn, "
                        "status = 'NEW', profile = excluded.profile, ca_name = excluded.ca_name, "
                        "sans = excluded.sans, updated_at = excluded.updated_at "
                        "WHERE end_entities.ra_alias IS excluded.ra_alias "
                        "AND end_entities.status IN ('NEW', 'GENERATED')",
    [ST_CERT_VALID_FOR_USER] = "SELECT serial FROM certificates WHERE username = ?1 AND "
                               "status = 'VALID' AND not_after > ?2 LIMIT 1",
    [ST_REQ_HOLD] = "UPDATE requests SET reason = ?2, decided_mode = ?3, decided_username = ?4, "
                    "decided_profile = ?5, ca_name = ?6, decided_subject = ?7, decided_sans = ?8, "
                    "replaces_serial = ?9, fail_info = NULL, updated_at = ?10, "
                    "renews_serial = ?11, decided_ee_updated_at = ?12 "
                    "WHERE id = ?1 AND status = 'PENDING'",
    [ST_REQ_HELD_FOR] = "SELECT id FROM requests WHERE status = 'PENDING' AND reason = ?1 AND "
                        "decided_username = ?2 AND id <> ?3 AND created_at >= ?4 LIMIT 1",
    [ST_CERT_RENEWABLE] = "SELECT 1 FROM certificates WHERE ca_name = ?1 AND serial = ?2 AND "
                          "status = 'VALID' AND not_after > ?3",
    [ST_EE_ACTIVE] = "SELECT 1 FROM end_entities WHERE username = ?1 AND "
                     "status IN ('NEW', 'GENERATED')",
    [ST_EE_UPDATE] =
        "UPDATE end_entities SET subject_dn = ?2, profile = ?3, alias = ?4, sans = ?5, "
        "updated_at = ?6 WHERE username = ?1 AND ra_alias IS NULL",
    [ST_EE_RA_ALIAS] = "SELECT ra_alias FROM end_entities WHERE username = ?1",
    /* Not updated_at: a guess must not change the version a held request was decided on. */
    [ST_EE_CODE_FAILED] = "UPDATE end_entities SET failed_codes = failed_codes + 1 "
                          "WHERE username = ?1 RETURNING failed_codes",
    [ST_REQ_RETIRE] = "UPDATE requests SET transaction_id = transaction_id || '~' || id, "
                      "updated_at = ?2 WHERE id = ?1 AND instr(transaction_id, '~') = 0",
    /* Refused and failed transactions: nothing else refers to them. */
    [ST_REQ_PURGE] = "DELETE FROM requests WHERE status IN ('REJECTED', 'FAILED') "
                     "AND updated_at < ?1",
    /* Issued ones only while their certificate row still records the transactionID. */
    [ST_REQ_PURGE_ISSUED] = "DELETE FROM requests WHERE status = 'ISSUED' AND updated_at < ?1 "
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

static int status_from_name(const char *const *names, size_t count, const unsigned char *text)
{
    if (text == NULL)
        return 0;
    for (size_t i = 1; i < count; i++)
        if (names[i] != NULL && strcmp(names[i], (const char *)text) == 0)
            return (int)i;
    return 0;
}

/* ---- SQLite conventions, wrapped once ---------------------------------------------- */

int scep_sqlite_fail(struct sqlite_store *s, int sqlite_rc, const char *what)
{
    const char *msg = s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(sqlite_rc);
    switch (sqlite_rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return scep_fail(SCEP_EEXISTS, "%s: already exists (%s)", what, msg);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return scep_fail(SCEP_ENOTFOUND, "%s: a referenced row does not exist (%s)", what, msg);
    default:
        return scep_fail(SCEP_ESTORE, "%s: sqlite: %s", what, msg);
    }
}

/* The cached statement `id`, prepared on first use. */
static int stmt_get(sqlite3_stmt **out, struct sqlite_store *s, enum stmt_id id)
{
    if (s->stmts[id] == NULL) {
        int src = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                     &s->stmts[id], NULL);
        if (src != SQLITE_OK) {
            int rc = scep_sqlite_fail(s, src, "preparing a statement");
            s->stmts[id] = NULL;
            return rc;
        }
    }
    *out = s->stmts[id];
    return SCEP_OK;
}

/* Returns a cached statement to its unused state; accepts NULL. */
static void stmt_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Steps a statement that returns no rows. */
static int step_done(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        return scep_sqlite_fail(s, src, what);
    return SCEP_OK;
}

/* Steps once: 1 for a row, 0 at the end, or a negative error. */
static int step_row(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return scep_sqlite_fail(s, src, what);
}

static int exec_cached(struct sqlite_store *s, enum stmt_id id, const char *what)
{
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, id));
    GUARD(step_done(s, st, what));
cleanup:
    stmt_done(st);
    return rc;
}

/*
 * Write transactions of this process take turns here before BEGIN IMMEDIATE. SQLite's busy
 * handler, which they would otherwise wait in while another connection commits, sleeps 1,
 * 2, 5, 10... ms between tries: with several threads committing (each commit waits for
 * its fsync) most of them slept past the moment the lock came free, and p99 latency grew
 * to tens of milliseconds (docs/performance.md). A mutex hands the turn over at once, in
 * order. Other processes (scepctl) still meet busy_timeout; a thread that waits longer
 * than that goes on without its turn, so a transaction left open can slow writers down
 * but never stop them.
 */
static pthread_mutex_t write_gate = PTHREAD_MUTEX_INITIALIZER;

static void take_write_gate(struct sqlite_store *s)
{
    if (s->holds_write_gate)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SCEP_SQLITE_BUSY_TIMEOUT_MS / 1000;
    s->holds_write_gate = pthread_mutex_timedlock(&write_gate, &until) == 0;
}

/* Once the connection is out of its transaction (committed, rolled back or never begun). */
static void release_write_gate(struct sqlite_store *s)
{
    if (s->holds_write_gate && sqlite3_get_autocommit(s->db)) {
        s->holds_write_gate = 0;
        pthread_mutex_unlock(&write_gate);
    }
}

int scep_sqlite_begin(struct sqlite_store *s)
{
    take_write_gate(s);
    int rc = exec_cached(s, ST_BEGIN, "beginning a write transaction");
    release_write_gate(s);
    return rc;
}

int scep_sqlite_commit(struct sqlite_store *s)
{
    int rc = exec_cached(s, ST_COMMIT, "committing");
    release_write_gate(s);
    return rc;
}

void scep_sqlite_rollback(struct sqlite_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        int rc = exec_cached(s, ST_ROLLBACK, "rolling back");
        (void)rc; /* the error that led here is the one to report */
    }
    release_write_gate(s);
}

static int sqlite_begin_write(scep_store *store)
{
    return scep_sqlite_begin((struct sqlite_store *)store);
}

static int sqlite_commit(scep_store *store)
{
    return scep_sqlite_commit((struct sqlite_store *)store);
}

static void sqlite_rollback(scep_store *store)
{
    scep_sqlite_rollback((struct sqlite_store *)store);
}

/* Binding: text and blobs are SQLITE_STATIC, valid until stmt_done. NULL binds NULL. */
static int bind_text(struct sqlite_store *s, sqlite3_stmt *st, int i, const char *text)
{
    int src =
        text != NULL ? sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
    return src == SQLITE_OK ? SCEP_OK : scep_sqlite_fail(s, src, "binding a value");
}

static int bind_blob(struct sqlite_store *s, sqlite3_stmt *st, int i, const void *p, size_t len)
{
    int src =
        p != NULL ? sqlite3_bind_blob64(st, i, p, len, SQLITE_STATIC) : sqlite3_bind_null(st, i);
    return src == SQLITE_OK ? SCEP_OK : scep_sqlite_fail(s, src, "binding a value");
}

static int bind_int(struct sqlite_store *s, sqlite3_stmt *st, int i, int64_t value)
{
    int src = sqlite3_bind_int64(st, i, value);
    return src == SQLITE_OK ? SCEP_OK : scep_sqlite_fail(s, src, "binding a value");
}

/* Binds an optional small integer: `none` binds NULL. */
static int bind_opt_int(struct sqlite_store *s, sqlite3_stmt *st, int i, int value, int none)
{
    int src = value != none ? sqlite3_bind_int(st, i, value) : sqlite3_bind_null(st, i);
    return src == SQLITE_OK ? SCEP_OK : scep_sqlite_fail(s, src, "binding a value");
}

/* Column copies owned by the record (OPENSSL_malloc). NULL stays NULL. */
static int col_text(const char **out, sqlite3_stmt *st, int i)
{
    *out = NULL;
    const unsigned char *text = sqlite3_column_text(st, i);
    if (text == NULL)
        return SCEP_OK;
    char *copy = OPENSSL_strndup((const char *)text, (size_t)sqlite3_column_bytes(st, i));
    if (copy == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    *out = copy;
    return SCEP_OK;
}

static int col_blob(const unsigned char **out, size_t *out_len, sqlite3_stmt *st, int i)
{
    *out = NULL;
    *out_len = 0;
    const void *blob = sqlite3_column_blob(st, i);
    int len = sqlite3_column_bytes(st, i);
    if (blob == NULL || len <= 0)
        return SCEP_OK;
    unsigned char *copy = OPENSSL_memdup(blob, (size_t)len);
    if (copy == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    *out = copy;
    *out_len = (size_t)len;
    return SCEP_OK;
}

static int col_opt_int(sqlite3_stmt *st, int i, int none)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int(st, i);
}

/* ---- row readers (void * so that collect() can drive them) ------------------------ */

typedef int (*row_reader)(void *elem, sqlite3_stmt *st);
typedef void (*elem_clear)(void *elem);

static int read_ca(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_ca *ca = elem;
    ca->id = sqlite3_column_int64(st, 0);
    GUARD(col_text(&ca->name, st, 1));
    GUARD(col_text(&ca->cert_pem, st, 2));
    GUARD(col_text(&ca->key_ref, st, 3));
    GUARD(col_text(&ca->chain_pem, st, 4));
    GUARD(col_text(&ca->next_cert_pem, st, 5));
    ca->crl_number = sqlite3_column_int64(st, 6);
    ca->created_at = sqlite3_column_int64(st, 7);
    GUARD(col_text(&ca->next_key_ref, st, 8));
    ca->next_activate_at = sqlite3_column_int64(st, 9);
cleanup:
    return rc;
}

static int read_ee(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_end_entity *ee = elem;
    ee->id = sqlite3_column_int64(st, 0);
    GUARD(col_text(&ee->username, st, 1));
    GUARD(col_text(&ee->subject_dn, st, 2));
    ee->status = (scep_store_ee_status)status_from_name(
        ee_status_names, NAMES_COUNT(ee_status_names), sqlite3_column_text(st, 3));
    GUARD(col_text(&ee->profile, st, 4));
    GUARD(col_text(&ee->ca_name, st, 5));
    ee->created_at = sqlite3_column_int64(st, 6);
    ee->updated_at = sqlite3_column_int64(st, 7);
    GUARD(col_text(&ee->alias, st, 8));
    GUARD(col_text(&ee->sans, st, 9));
    GUARD(col_text(&ee->ra_alias, st, 10));
    ee->failed_codes = sqlite3_column_int64(st, 11);
cleanup:
    return rc;
}

static int read_request(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_request *req = elem;
    req->id = sqlite3_column_int64(st, 0);
    GUARD(col_text(&req->alias, st, 1));
    GUARD(col_text(&req->transaction_id, st, 2));
    req->message_type = sqlite3_column_int(st, 3);
    GUARD(col_blob(&req->csr_der, &req->csr_der_len, st, 4));
    GUARD(col_blob(&req->signer_cert_der, &req->signer_cert_der_len, st, 5));
    const void *hash = sqlite3_column_blob(st, 6);
    ENSURE(hash != NULL && sqlite3_column_bytes(st, 6) == (int)sizeof(req->public_key_sha256),
           SCEP_ESTORE, "stored request has a malformed public key hash");
    memcpy(req->public_key_sha256, hash, sizeof(req->public_key_sha256));
    req->status = (scep_store_request_status)status_from_name(
        req_status_names, NAMES_COUNT(req_status_names), sqlite3_column_text(st, 7));
    req->fail_info = col_opt_int(st, 8, SCEP_STORE_NO_FAIL_INFO);
    GUARD(col_text(&req->reason, st, 9));
    GUARD(col_text(&req->client_addr, st, 10));
    GUARD(col_text(&req->ca_name, st, 11));
    GUARD(col_text(&req->cert_serial, st, 12));
    req->created_at = sqlite3_column_int64(st, 13);
    req->updated_at = sqlite3_column_int64(st, 14);
    GUARD(col_text(&req->decided_mode, st, 15));
    GUARD(col_text(&req->decided_username, st, 16));
    GUARD(col_text(&req->decided_profile, st, 17));
    GUARD(col_text(&req->decided_subject, st, 18));
    GUARD(col_text(&req->decided_sans, st, 19));
    GUARD(col_text(&req->replaces_serial, st, 20));
    GUARD(col_text(&req->renews_serial, st, 21));
    req->decided_ee_updated_at = sqlite3_column_int64(st, 22);
cleanup:
    return rc;
}

static int read_cert(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_cert *cert = elem;
    cert->id = sqlite3_column_int64(st, 0);
    GUARD(col_text(&cert->ca_name, st, 1));
    GUARD(col_text(&cert->serial, st, 2));
    GUARD(col_text(&cert->subject, st, 3));
    GUARD(col_text(&cert->issuer, st, 4));
    cert->not_before = sqlite3_column_int64(st, 5);
    cert->not_after = sqlite3_column_int64(st, 6);
    GUARD(col_blob(&cert->der, &cert->der_len, st, 7));
    cert->status = (scep_store_cert_status)status_from_name(
        cert_status_names, NAMES_COUNT(cert_status_names), sqlite3_column_text(st, 8));
    cert->revoked_at = sqlite3_column_int64(st, 9);
    cert->revocation_reason = col_opt_int(st, 10, SCEP_STORE_NO_REASON);
    GUARD(col_text(&cert->username, st, 11));
    GUARD(col_text(&cert->transaction_id, st, 12));
    cert->created_at = sqlite3_column_int64(st, 13);
cleanup:
    return rc;
}

static int read_revoked(void *elem, sqlite3_stmt *st)
{
    scep_store_revoked *revoked = elem;
    revoked->revoked_at = sqlite3_column_int64(st, 1);
    revoked->reason = col_opt_int(st, 2, SCEP_STORE_NO_REASON);
    return col_text(&revoked->serial, st, 0);
}

static int read_crl(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_crl *crl = elem;
    crl->id = sqlite3_column_int64(st, 0);
    GUARD(col_text(&crl->ca_name, st, 1));
    crl->crl_number = sqlite3_column_int64(st, 2);
    crl->this_update = sqlite3_column_int64(st, 3);
    crl->next_update = sqlite3_column_int64(st, 4);
    crl->revoked_count = sqlite3_column_int64(st, 5);
    GUARD(col_blob(&crl->der, &crl->der_len, st, 6));
    crl->created_at = sqlite3_column_int64(st, 7);
cleanup:
    return rc;
}

static int read_setting(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_setting *setting = elem;
    GUARD(col_text(&setting->key, st, 0));
    GUARD(col_text(&setting->value, st, 1));
cleanup:
    return rc;
}

static int read_string(void *elem, sqlite3_stmt *st)
{
    const char *text = NULL;
    int rc = col_text(&text, st, 0);
    *(char **)elem = (char *)(uintptr_t)text;
    return rc;
}

static int read_audit(void *elem, sqlite3_stmt *st)
{
    int rc = SCEP_OK;
    scep_store_audit_event *ev = elem;
    ev->id = sqlite3_column_int64(st, 0);
    ev->time = sqlite3_column_int64(st, 1);
    GUARD(col_text(&ev->actor, st, 2));
    GUARD(col_text(&ev->action, st, 3));
    GUARD(col_text(&ev->alias, st, 4));
    GUARD(col_text(&ev->transaction_id, st, 5));
    GUARD(col_text(&ev->outcome, st, 6));
    GUARD(col_text(&ev->detail, st, 7));
    GUARD(col_text(&ev->prev_hash, st, 8));
    GUARD(col_text(&ev->hash, st, 9));
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

/*
 * Steps a bound statement to the end (at most SCEP_STORE_MAX_LIST rows),
 * reading each row into a grown array of `elem_size` elements.
 */
static int collect(void **out, size_t *out_count, struct sqlite_store *s, sqlite3_stmt *st,
                   size_t elem_size, row_reader read, elem_clear clear, const char *what)
{
    int rc = SCEP_OK;
    unsigned char *items = NULL;
    size_t count = 0;
    size_t capacity = 0;

    for (;;) {
        int row = step_row(s, st, what);
        GUARD(row);
        if (row == 0)
            break;
        ENSURE(count < SCEP_STORE_MAX_LIST, SCEP_ETOOBIG, "%s: more than %u rows", what,
               SCEP_STORE_MAX_LIST);
        if (count == capacity) {
            size_t grown = capacity == 0 ? 8 : capacity * 2;
            unsigned char *bigger = OPENSSL_realloc(items, grown * elem_size);
            ENSURE_ALLOC(bigger);
            items = bigger;
            capacity = grown;
        }
        unsigned char *elem = items + count * elem_size;
        memset(elem, 0, elem_size);
        count++;
        GUARD(read(elem, st));
    }
    *out = items;
    *out_count = count;
    items = NULL;
    count = 0;
cleanup:
    for (size_t i = 0; i < count; i++)
        clear(items + i * elem_size);
    OPENSSL_free(items);
    return rc;
}

/* Reads the single row of a bound statement; SCEP_ENOTFOUND with `what` when none. */
static int fetch_one(void *out, struct sqlite_store *s, sqlite3_stmt *st, row_reader read,
                     const char *what)
{
    int rc = SCEP_OK;
    int row = step_row(s, st, what);
    GUARD(row);
    ENSURE(row == 1, SCEP_ENOTFOUND, "%s: not found", what);
    GUARD(read(out, st));
cleanup:
    return rc;
}

/* A statement that must change exactly one row: SCEP_ENOTFOUND when none. */
static int expect_one_change(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = SCEP_OK;
    GUARD(step_done(s, st, what));
    ENSURE(sqlite3_changes(s->db) == 1, SCEP_ENOTFOUND, "%s: not found", what);
cleanup:
    return rc;
}

static int64_t wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* ---- connection ------------------------------------------------------------------------- */

static void sqlite_close(scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    for (size_t i = 0; i < SCEP_SQLITE_MAX_STMTS; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close_v2(s->db);
    /* Closing rolled back whatever transaction was open. */
    if (s->holds_write_gate)
        pthread_mutex_unlock(&write_gate);
    OPENSSL_free(s);
}

/*
 * The online backup: step(-1) copies every page under one read transaction of the
 * source, which in WAL mode never blocks scepd's writers. BUSY and LOCKED (a writer
 * checkpointing) are retried.
 */
static int sqlite_backup(scep_store *store, const char *path)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3 *dst = NULL;
    int created = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? scep_fail(SCEP_EEXISTS, "%s already exists: not overwritten", path)
                             : scep_fail(SCEP_EIO, "creating %s: %s", path, strerror(errno));
        goto cleanup;
    }
    close(fd);
    created = 1;
    int src = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = scep_fail(SCEP_ESTORE, "opening %s: sqlite: %s", path,
                       dst != NULL ? sqlite3_errmsg(dst) : "out of memory");
        goto cleanup;
    }
    sqlite3_backup *backup = sqlite3_backup_init(dst, "main", s->db, "main");
    if (backup == NULL) {
        rc = scep_fail(SCEP_ESTORE, "backup to %s: sqlite: %s", path, sqlite3_errmsg(dst));
        goto cleanup;
    }
    for (int attempt = 0; attempt < 200; attempt++) {
        src = sqlite3_backup_step(backup, -1);
        if (src != SQLITE_BUSY && src != SQLITE_LOCKED)
            break;
        sqlite3_sleep(25);
    }
    int finish = sqlite3_backup_finish(backup);
    if (src != SQLITE_DONE || finish != SQLITE_OK) {
        rc = scep_fail(SCEP_ESTORE, "backup to %s: sqlite: %s", path,
                       sqlite3_errstr(src != SQLITE_DONE ? src : finish));
        goto cleanup;
    }
    /* The copy is a WAL database like its source: fold its log in before closing. */
    sqlite3_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
cleanup:
    if (dst != NULL && sqlite3_close(dst) != SQLITE_OK && rc == SCEP_OK)
        rc = scep_fail(SCEP_ESTORE, "closing the backup %s", path);
    if (rc != SCEP_OK && created) {
        unlink(path);
        char side[4096];
        snprintf(side, sizeof(side), "%s-wal", path);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", path);
        unlink(side);
    }
    return rc;
}

static int pragma_text(struct sqlite_store *s, const char *sql, const char *expect)
{
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return scep_sqlite_fail(s, src, sql);
    int row = step_row(s, st, sql);
    GUARD(row);
    if (expect != NULL) {
        const unsigned char *value = row == 1 ? sqlite3_column_text(st, 0) : NULL;
        ENSURE(value != NULL && strcmp((const char *)value, expect) == 0, SCEP_ESTORE,
               "%s: the database answered '%s', expected '%s'", sql,
               value != NULL ? (const char *)value : "", expect);
    }
cleanup:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Switching a fresh database to WAL needs an exclusive lock, and SQLite answers
 * SQLITE_BUSY at once (without the busy handler) while another connection is doing
 * the same, as all of scepd's workers do at start. Retried every 10 ms, bounded by
 * the busy timeout.
 */
static int enable_wal(struct sqlite_store *s)
{
    for (int waited_ms = 0;; waited_ms += 10) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(st, 0);
            int wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
            sqlite3_finalize(st);
            if (!wal)
                return scep_fail(SCEP_ESTORE, "the database refused WAL journal mode");
            return SCEP_OK;
        }
        sqlite3_finalize(st);
        if ((src & 0xff) != SQLITE_BUSY && (src & 0xff) != SQLITE_LOCKED)
            return scep_sqlite_fail(s, src, "PRAGMA journal_mode = WAL");
        if (waited_ms >= SCEP_SQLITE_BUSY_TIMEOUT_MS)
            return scep_sqlite_fail(s, src, "PRAGMA journal_mode = WAL");
        sqlite3_sleep(10);
    }
}

/* ---- CAs ------------------------------------------------------------------------------------ */

static int sqlite_ca_add(scep_store *store, const scep_store_ca *ca)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CA_ADD));
    GUARD(bind_text(s, st, 1, ca->name));
    GUARD(bind_text(s, st, 2, ca->cert_pem));
    GUARD(bind_text(s, st, 3, ca->key_ref));
    GUARD(bind_text(s, st, 4, ca->chain_pem));
    GUARD(bind_text(s, st, 5, ca->next_cert_pem));
    GUARD(bind_int(s, st, 6, wall_clock()));
    GUARD(step_done(s, st, "adding a CA"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ca_get(scep_store_ca *out, scep_store *store, const char *name)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CA_GET));
    GUARD(bind_text(s, st, 1, name));
    GUARD(fetch_one(out, s, st, read_ca, "CA"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ca_list(scep_store_ca **out, size_t *out_count, scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_CA_LIST));
    GUARD(
        collect(&items, out_count, s, st, sizeof(scep_store_ca), read_ca, clear_ca, "listing CAs"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ca_set_next_cert(scep_store *store, const char *name, const char *pem,
                                   const char *key_ref, int64_t activate_at)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CA_SET_NEXT));
    GUARD(bind_text(s, st, 1, name));
    GUARD(bind_text(s, st, 2, pem));
    GUARD(bind_text(s, st, 3, key_ref));
    GUARD(bind_int(s, st, 4, activate_at));
    GUARD(expect_one_change(s, st, "CA"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ca_next_crl_number(int64_t *out, scep_store *store, const char *name)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    /* One UPDATE ... RETURNING: the increment and the read are one atomic statement. */
    GUARD(stmt_get(&st, s, ST_CA_NEXT_CRL));
    GUARD(bind_text(s, st, 1, name));
    int row = step_row(s, st, "incrementing the CRL number");
    GUARD(row);
    ENSURE(row == 1, SCEP_ENOTFOUND, "CA '%s' not found", name);
    *out = sqlite3_column_int64(st, 0);
    GUARD(step_done(s, st, "incrementing the CRL number"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_config_revision(int64_t *out, scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CONFIG_REVISION));
    int row = step_row(s, st, "reading the configuration revision");
    GUARD(row);
    ENSURE(row == 1, SCEP_ESTORE, "the configuration revision is missing");
    *out = sqlite3_column_int64(st, 0);
    rc = SCEP_OK;
cleanup:
    stmt_done(st);
    return rc;
}

/* ---- aliases -------------------------------------------------------------------------------- */

static int sqlite_alias_add(scep_store *store, const char *alias)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_ALIAS_ADD));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(bind_int(s, st, 2, wall_clock()));
    GUARD(step_done(s, st, "adding an alias"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_alias_remove(scep_store *store, const char *alias)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_ALIAS_REMOVE));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(expect_one_change(s, st, "alias"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_alias_list(char ***out, size_t *out_count, scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_ALIAS_LIST));
    GUARD(collect(&items, out_count, s, st, sizeof(char *), read_string, clear_string,
                  "listing aliases"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_alias_setting_set(scep_store *store, const char *alias, const char *key,
                                    const char *value)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    int in_tx = 0;
    sqlite3_stmt *ensure = NULL;
    sqlite3_stmt *set = NULL;
    GUARD(scep_sqlite_begin(s));
    in_tx = 1;
    GUARD(stmt_get(&ensure, s, ST_ALIAS_ENSURE));
    GUARD(bind_text(s, ensure, 1, alias));
    GUARD(bind_int(s, ensure, 2, wall_clock()));
    GUARD(step_done(s, ensure, "adding an alias"));
    GUARD(stmt_get(&set, s, ST_SETTING_SET));
    GUARD(bind_text(s, set, 1, alias));
    GUARD(bind_text(s, set, 2, key));
    GUARD(bind_text(s, set, 3, value));
    GUARD(step_done(s, set, "setting an alias setting"));
    GUARD(scep_sqlite_commit(s));
    in_tx = 0;
cleanup:
    stmt_done(ensure);
    stmt_done(set);
    if (in_tx)
        scep_sqlite_rollback(s);
    return rc;
}

static int sqlite_alias_setting_get(char **out, scep_store *store, const char *alias,
                                    const char *key)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_SETTING_GET));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(bind_text(s, st, 2, key));
    int row = step_row(s, st, "reading an alias setting");
    GUARD(row);
    ENSURE(row == 1, SCEP_ENOTFOUND, "alias '%s' has no setting '%s'", alias, key);
    GUARD(read_string(out, st));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_alias_setting_list(scep_store_setting **out, size_t *out_count, scep_store *store,
                                     const char *alias)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_SETTING_LIST));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_setting), read_setting, clear_setting,
                  "listing alias settings"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_alias_setting_remove(scep_store *store, const char *alias, const char *key)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_SETTING_REMOVE));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(bind_text(s, st, 2, key));
    GUARD(expect_one_change(s, st, "alias setting"));
cleanup:
    stmt_done(st);
    return rc;
}

/* ---- end entities ------------------------------------------------------------------------------
 */

static int sqlite_ee_add(scep_store *store, const scep_store_end_entity *ee,
                         const char *password_hash)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_ADD));
    GUARD(bind_text(s, st, 1, ee->username));
    GUARD(bind_text(s, st, 2, password_hash));
    GUARD(bind_text(s, st, 3, ee->subject_dn));
    GUARD(bind_text(s, st, 4, ee_status_names[ee->status]));
    GUARD(bind_text(s, st, 5, ee->profile));
    GUARD(bind_text(s, st, 6, ee->ca_name));
    GUARD(bind_int(s, st, 7, wall_clock()));
    GUARD(bind_text(s, st, 8, ee->alias));
    GUARD(bind_text(s, st, 9, ee->sans));
    GUARD(step_done(s, st, "adding an end entity"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_get(scep_store_end_entity *out, char **out_password_hash, scep_store *store,
                         const char *username)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_GET));
    GUARD(bind_text(s, st, 1, username));
    GUARD(fetch_one(out, s, st, read_ee, "end entity"));
    if (out_password_hash != NULL) {
        const char *hash = NULL;
        GUARD(col_text(&hash, st, 12));
        *out_password_hash = (char *)(uintptr_t)hash;
        ENSURE(hash != NULL, SCEP_ESTORE, "end entity has no password hash");
    }
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_list(scep_store_end_entity **out, size_t *out_count, scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_EE_LIST));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_end_entity), read_ee, clear_ee,
                  "listing end entities"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_set_status(scep_store *store, const char *username,
                                scep_store_ee_status status)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_SET_STATUS));
    GUARD(bind_text(s, st, 1, username));
    GUARD(bind_text(s, st, 2, ee_status_names[status]));
    GUARD(bind_int(s, st, 3, wall_clock()));
    GUARD(expect_one_change(s, st, "end entity"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_reset(scep_store *store, const char *username, const char *password_hash)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_RESET));
    GUARD(bind_text(s, st, 1, username));
    GUARD(bind_text(s, st, 2, password_hash));
    GUARD(bind_int(s, st, 3, wall_clock()));
    GUARD(expect_one_change(s, st, "end entity"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_update(scep_store *store, const scep_store_end_entity *ee, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_UPDATE));
    GUARD(bind_text(s, st, 1, ee->username));
    GUARD(bind_text(s, st, 2, ee->subject_dn));
    GUARD(bind_text(s, st, 3, ee->profile));
    GUARD(bind_text(s, st, 4, ee->alias));
    GUARD(bind_text(s, st, 5, ee->sans));
    GUARD(bind_int(s, st, 6, now));
    GUARD(step_done(s, st, "updating an end entity"));
    if (sqlite3_changes(s->db) != 1) {
        stmt_done(st);
        st = NULL;
        GUARD(stmt_get(&st, s, ST_EE_RA_ALIAS));
        GUARD(bind_text(s, st, 1, ee->username));
        int row = step_row(s, st, "looking up the end entity");
        GUARD(row);
        ENSURE(row != 0, SCEP_ENOTFOUND, "no end entity %s", ee->username);
        ENSURE(0, SCEP_EDENIED,
               "end entity %s was created by RA mode: its names come from its "
               "requests",
               ee->username);
    }
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_code_failed(scep_store *store, const char *username, int64_t *out_count,
                                 int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    (void)now;
    GUARD(stmt_get(&st, s, ST_EE_CODE_FAILED));
    GUARD(bind_text(s, st, 1, username));
    int row = step_row(s, st, "counting a wrong enrollment code");
    GUARD(row);
    ENSURE(row != 0, SCEP_ENOTFOUND, "no end entity %s", username);
    if (out_count != NULL)
        *out_count = sqlite3_column_int64(st, 0);
    GUARD(step_done(s, st, "counting a wrong enrollment code"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_remove(scep_store *store, const char *username)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_REMOVE));
    GUARD(bind_text(s, st, 1, username));
    GUARD(expect_one_change(s, st, "end entity"));
cleanup:
    stmt_done(st);
    return rc;
}

/* ---- requests
 * ------------------------------------------------------------------------------------ */

static int sqlite_request_find(scep_store_request *out, scep_store *store, const char *alias,
                               const char *transaction_id)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_REQ_FIND));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(bind_text(s, st, 2, transaction_id));
    GUARD(fetch_one(out, s, st, read_request, "request"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_insert_if_absent(int *out_created, scep_store *store,
                                           const scep_store_request *req, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_REQ_INSERT));
    GUARD(bind_text(s, st, 1, req->alias));
    GUARD(bind_text(s, st, 2, req->transaction_id));
    GUARD(bind_int(s, st, 3, req->message_type));
    GUARD(bind_blob(s, st, 4, req->csr_der, req->csr_der_len));
    GUARD(bind_blob(s, st, 5, req->signer_cert_der, req->signer_cert_der_len));
    GUARD(bind_blob(s, st, 6, req->public_key_sha256, sizeof(req->public_key_sha256)));
    GUARD(bind_text(s, st, 7, req_status_names[req->status]));
    GUARD(bind_opt_int(s, st, 8, req->fail_info, SCEP_STORE_NO_FAIL_INFO));
    GUARD(bind_text(s, st, 9, req->reason));
    GUARD(bind_text(s, st, 10, req->client_addr));
    GUARD(bind_int(s, st, 11, now));
    GUARD(step_done(s, st, "recording a request"));
    *out_created = sqlite3_changes(s->db) == 1;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_get(scep_store_request *out, scep_store *store, int64_t id)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_REQ_GET));
    GUARD(bind_int(s, st, 1, id));
    GUARD(fetch_one(out, s, st, read_request, "request"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_held_for(int64_t *out_other, int *out_found, scep_store *store,
                                   const char *reason, const char *username, int64_t id,
                                   int64_t since)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    *out_found = 0;
    GUARD(stmt_get(&st, s, ST_REQ_HELD_FOR));
    GUARD(bind_text(s, st, 1, reason));
    GUARD(bind_text(s, st, 2, username));
    GUARD(bind_int(s, st, 3, id));
    GUARD(bind_int(s, st, 4, since));
    int row = step_row(s, st, "looking for a waiting request");
    GUARD(row);
    if (row) {
        *out_other = sqlite3_column_int64(st, 0);
        *out_found = 1;
    }
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_set_hold(int *out_changed, scep_store *store, int64_t id,
                                   const char *reason, const scep_store_decision *d, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_REQ_HOLD));
    GUARD(bind_int(s, st, 1, id));
    GUARD(bind_text(s, st, 2, reason));
    GUARD(bind_text(s, st, 3, d->mode));
    GUARD(bind_text(s, st, 4, d->username));
    GUARD(bind_text(s, st, 5, d->profile));
    GUARD(bind_text(s, st, 6, d->ca_name));
    GUARD(bind_text(s, st, 7, d->subject));
    GUARD(bind_text(s, st, 8, d->sans));
    GUARD(bind_text(s, st, 9, d->replaces_serial));
    GUARD(bind_int(s, st, 10, now));
    GUARD(bind_text(s, st, 11, d->renews_serial));
    GUARD(bind_int(s, st, 12, d->ee_updated_at));
    GUARD(step_done(s, st, "holding the request"));
    *out_changed = sqlite3_changes(s->db) == 1;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_retire(scep_store *store, int64_t id, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_REQ_RETIRE));
    GUARD(bind_int(s, st, 1, id));
    GUARD(bind_int(s, st, 2, now));
    GUARD(expect_one_change(s, st, "request"));
cleanup:
    stmt_done(st);
    return rc;
}

/*
 * After an UPDATE guarded by a state condition changed nothing: SCEP_ENOTFOUND
 * when the row is missing, else SCEP_ESTATE naming the state it is in.
 */
static int explain_no_change(struct sqlite_store *s, sqlite3_stmt *status_stmt, const char *what)
{
    int row = step_row(s, status_stmt, what);
    if (row < 0)
        return row;
    if (row == 0)
        return scep_fail(SCEP_ENOTFOUND, "%s: not found", what);
    const unsigned char *status = sqlite3_column_text(status_stmt, 0);
    return scep_fail(SCEP_ESTATE, "%s is %s", what, status != NULL ? (const char *)status : "?");
}

static int sqlite_request_update(scep_store *store, int64_t id, scep_store_request_status status,
                                 int fail_info, const char *reason, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    sqlite3_stmt *check = NULL;
    GUARD(stmt_get(&st, s, ST_REQ_UPDATE));
    GUARD(bind_int(s, st, 1, id));
    GUARD(bind_text(s, st, 2, req_status_names[status]));
    GUARD(bind_opt_int(s, st, 3, fail_info, SCEP_STORE_NO_FAIL_INFO));
    GUARD(bind_text(s, st, 4, reason));
    GUARD(bind_int(s, st, 5, now));
    GUARD(step_done(s, st, "updating a request"));
    if (sqlite3_changes(s->db) == 0) {
        GUARD(stmt_get(&check, s, ST_REQ_STATUS));
        GUARD(bind_int(s, check, 1, id));
        GUARD(explain_no_change(s, check, "request"));
    }
cleanup:
    stmt_done(st);
    stmt_done(check);
    return rc;
}

static int sqlite_request_list(scep_store_request **out, size_t *out_count, scep_store *store,
                               scep_store_request_status status, size_t limit)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, status != 0 ? ST_REQ_LIST : ST_REQ_LIST_ANY));
    GUARD(bind_text(s, st, 1, status != 0 ? req_status_names[status] : NULL));
    GUARD(bind_int(s, st, 2, (int64_t)limit));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_request), read_request, clear_request,
                  "listing requests"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_count(int64_t *out, scep_store *store, scep_store_request_status status,
                                const char *reason)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, status != 0 ? ST_REQ_COUNT : ST_REQ_COUNT_ANY));
    GUARD(bind_text(s, st, 1, status != 0 ? req_status_names[status] : NULL));
    GUARD(bind_text(s, st, 2, reason));
    int row = step_row(s, st, "counting requests");
    GUARD(row);
    ENSURE(row == 1, SCEP_ESTORE, "counting requests: no result");
    *out = sqlite3_column_int64(st, 0);
    rc = SCEP_OK;
cleanup:
    stmt_done(st);
    return rc;
}

/* ---- certificates -------------------------------------------------------------------------------
 */

static int insert_cert(struct sqlite_store *s, const scep_store_cert *cert, int64_t now)
{
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_ADD));
    GUARD(bind_text(s, st, 1, cert->ca_name));
    GUARD(bind_text(s, st, 2, cert->serial));
    GUARD(bind_text(s, st, 3, cert->subject));
    GUARD(bind_text(s, st, 4, cert->issuer));
    GUARD(bind_int(s, st, 5, cert->not_before));
    GUARD(bind_int(s, st, 6, cert->not_after));
    GUARD(bind_blob(s, st, 7, cert->der, cert->der_len));
    GUARD(bind_text(s, st, 8, cert->username));
    GUARD(bind_text(s, st, 9, cert->transaction_id));
    GUARD(bind_int(s, st, 10, now));
    /* UNIQUE (ca_name, serial) is the serial-uniqueness guarantee: SCEP_EEXISTS here. */
    GUARD(step_done(s, st, "storing a certificate"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_cert_add(scep_store *store, const scep_store_cert *cert, int64_t now)
{
    return insert_cert((struct sqlite_store *)store, cert, now);
}

static int sqlite_cert_get(scep_store_cert *out, scep_store *store, const char *ca_name,
                           const char *serial)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_GET));
    GUARD(bind_text(s, st, 1, ca_name));
    GUARD(bind_text(s, st, 2, serial));
    GUARD(fetch_one(out, s, st, read_cert, "certificate"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_cert_list(scep_store_cert **out, size_t *out_count, scep_store *store,
                            const scep_store_cert_filter *filter)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, filter->subject != NULL ? ST_CERT_LIST_SUBJECT : ST_CERT_LIST));
    GUARD(bind_text(s, st, 1, filter->ca_name));
    GUARD(bind_text(s, st, 2, filter->status != 0 ? cert_status_names[filter->status] : NULL));
    GUARD(bind_int(s, st, 3, (int64_t)filter->limit));
    GUARD(bind_int(s, st, 4, (int64_t)filter->offset));
    if (filter->subject != NULL)
        GUARD(bind_text(s, st, 5, filter->subject));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_cert), read_cert, clear_cert,
                  "listing certificates"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_cert_revoke_if_valid(int *out_changed, scep_store *store, const char *ca_name,
                                       const char *serial, int64_t revoked_at, int reason)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_REVOKE));
    GUARD(bind_text(s, st, 1, ca_name));
    GUARD(bind_text(s, st, 2, serial));
    GUARD(bind_int(s, st, 3, revoked_at));
    GUARD(bind_opt_int(s, st, 4, reason, SCEP_STORE_NO_REASON));
    GUARD(step_done(s, st, "revoking a certificate"));
    *out_changed = sqlite3_changes(s->db) == 1;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_cert_list_revoked(scep_store_revoked **out, size_t *out_count, scep_store *store,
                                    const char *ca_name)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_REVOKED));
    GUARD(bind_text(s, st, 1, ca_name));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_revoked), read_revoked, clear_revoked,
                  "listing revoked certificates"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_cert_count_revoked(int64_t *out, scep_store *store, const char *ca_name)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_COUNT_REVOKED));
    GUARD(bind_text(s, st, 1, ca_name));
    int row = step_row(s, st, "counting revoked certificates");
    GUARD(row);
    ENSURE(row == 1, SCEP_ESTORE, "counting revoked certificates: no result");
    *out = sqlite3_column_int64(st, 0);
    rc = SCEP_OK;
cleanup:
    stmt_done(st);
    return rc;
}

/* ---- stored CRLs ---------------------------------------------------------------------------- */

static int sqlite_crl_get(scep_store_crl *out, scep_store *store, const char *ca_name)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CRL_GET));
    GUARD(bind_text(s, st, 1, ca_name));
    GUARD(fetch_one(out, s, st, read_crl, "CRL"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_crl_insert(scep_store *store, scep_store_crl *crl, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CRL_ADD));
    GUARD(bind_text(s, st, 1, crl->ca_name));
    GUARD(bind_int(s, st, 2, crl->crl_number));
    GUARD(bind_int(s, st, 3, crl->this_update));
    GUARD(bind_int(s, st, 4, crl->next_update));
    GUARD(bind_int(s, st, 5, crl->revoked_count));
    GUARD(bind_blob(s, st, 6, crl->der, crl->der_len));
    GUARD(bind_int(s, st, 7, now));
    GUARD(step_done(s, st, "storing a CRL"));
    crl->id = sqlite3_last_insert_rowid(s->db);
    crl->created_at = now;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_crl_prune(scep_store *store, const char *ca_name, int keep)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CRL_PRUNE));
    GUARD(bind_text(s, st, 1, ca_name));
    GUARD(bind_int(s, st, 2, keep));
    GUARD(step_done(s, st, "deleting old CRLs"));
cleanup:
    stmt_done(st);
    return rc;
}

/* ---- audit
 * --------------------------------------------------------------------------------------- */

static int sqlite_audit_last(int64_t *out_id, char **out_hash, int *out_found, scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    const char *hash = NULL;
    *out_id = 0;
    *out_hash = NULL;
    *out_found = 0;
    GUARD(stmt_get(&st, s, ST_AUDIT_LAST));
    int found = step_row(s, st, "reading the newest audit event");
    GUARD(found);
    if (found) {
        GUARD(col_text(&hash, st, 1));
        *out_id = sqlite3_column_int64(st, 0);
        *out_hash = (char *)(uintptr_t)hash;
        *out_found = 1;
    }
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_audit_insert(scep_store *store, const scep_store_audit_event *ev)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_AUDIT_ADD));
    GUARD(bind_int(s, st, 1, ev->id));
    GUARD(bind_int(s, st, 2, ev->time));
    GUARD(bind_text(s, st, 3, ev->actor));
    GUARD(bind_text(s, st, 4, ev->action));
    GUARD(bind_text(s, st, 5, ev->alias));
    GUARD(bind_text(s, st, 6, ev->transaction_id));
    GUARD(bind_text(s, st, 7, ev->outcome));
    GUARD(bind_text(s, st, 8, ev->detail));
    GUARD(bind_text(s, st, 9, ev->prev_hash));
    GUARD(bind_text(s, st, 10, ev->hash));
    GUARD(step_done(s, st, "appending an audit event"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_audit_list(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                             int64_t since, size_t limit)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_AUDIT_LIST));
    GUARD(bind_int(s, st, 1, (int64_t)limit));
    GUARD(bind_int(s, st, 2, since));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_audit_event), read_audit, clear_audit,
                  "listing audit events"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_audit_page(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                             int64_t before_id, size_t limit)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    void *items = NULL;
    GUARD(stmt_get(&st, s, ST_AUDIT_PAGE));
    GUARD(bind_int(s, st, 1, (int64_t)limit));
    GUARD(bind_int(s, st, 2, before_id));
    GUARD(collect(&items, out_count, s, st, sizeof(scep_store_audit_event), read_audit, clear_audit,
                  "listing audit events"));
    *out = items;
cleanup:
    stmt_done(st);
    return rc;
}

/* One SELECT statement: SQLite reads it from one snapshot, whatever is appended meanwhile. */
static int sqlite_audit_walk(scep_store *store,
                             int (*visit)(const scep_store_audit_event *event, void *payload),
                             void *payload)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    scep_store_audit_event event;
    memset(&event, 0, sizeof(event));
    GUARD(stmt_get(&st, s, ST_AUDIT_WALK));
    for (;;) {
        int row = step_row(s, st, "reading the audit trail");
        GUARD(row);
        if (row == 0)
            break;
        GUARD(read_audit(&event, st));
        rc = visit(&event, payload);
        scep_store_audit_clear(&event);
        if (rc != 0)
            goto cleanup;
    }
cleanup:
    scep_store_audit_clear(&event);
    stmt_done(st);
    return rc;
}

int scep_sqlite_audit_chain_existing(struct sqlite_store *s)
{
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    char prev_hash[SCEP_STORE_AUDIT_HASH_HEX + 1] = SCEP_STORE_AUDIT_GENESIS;
    char hash[SCEP_STORE_AUDIT_HASH_HEX + 1];
    int64_t last_id = INT64_MIN;
    scep_store_audit_event event;
    memset(&event, 0, sizeof(event));
    /* Row by row (not one SELECT updated while it runs): the order is the chain's. */
    for (;;) {
        GUARD(stmt_get(&st, s, ST_AUDIT_NEXT));
        GUARD(bind_int(s, st, 1, last_id));
        int row = step_row(s, st, "chaining the audit trail");
        GUARD(row);
        if (row == 0)
            break;
        GUARD(read_audit(&event, st));
        stmt_done(st);
        st = NULL;
        GUARD(scep_store_audit_hash(hash, prev_hash, &event));
        GUARD(stmt_get(&st, s, ST_AUDIT_SET_HASH));
        GUARD(bind_int(s, st, 1, event.id));
        GUARD(bind_text(s, st, 2, prev_hash));
        GUARD(bind_text(s, st, 3, hash));
        GUARD(step_done(s, st, "chaining the audit trail"));
        stmt_done(st);
        st = NULL;
        memcpy(prev_hash, hash, sizeof(prev_hash));
        last_id = event.id;
        scep_store_audit_clear(&event);
    }
cleanup:
    scep_store_audit_clear(&event);
    stmt_done(st);
    return rc;
}

/* ---- row operations of the issuance step (issuance_tx.c) ------------------------------ */

/* Steps a SELECT that answers with a row or none: `*out` 1 or 0. */
static int exists_row(int *out, struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = SCEP_OK;
    int row = step_row(s, st, what);
    GUARD(row);
    *out = row;
cleanup:
    return rc;
}

static int sqlite_cert_valid_for_user(int *out, scep_store *store, const char *username,
                                      int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_VALID_FOR_USER));
    GUARD(bind_text(s, st, 1, username));
    GUARD(bind_int(s, st, 2, now));
    GUARD(exists_row(out, s, st, "looking up the end entity's certificates"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_ra_upsert(int *out_changed, scep_store *store, const scep_store_ra_entity *ra,
                               int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_RA_UPSERT));
    GUARD(bind_text(s, st, 1, ra->username));
    GUARD(bind_text(s, st, 2, ra->subject_dn));
    GUARD(bind_text(s, st, 3, ra->profile));
    GUARD(bind_text(s, st, 4, ra->ca_name));
    GUARD(bind_int(s, st, 5, now));
    GUARD(bind_text(s, st, 6, ra->alias));
    GUARD(bind_text(s, st, 7, ra->sans));
    GUARD(step_done(s, st, "creating the RA end entity"));
    *out_changed = sqlite3_changes(s->db) == 1;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_cert_is_renewable(int *out, scep_store *store, const char *ca_name,
                                    const char *serial, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CERT_RENEWABLE));
    GUARD(bind_text(s, st, 1, ca_name));
    GUARD(bind_text(s, st, 2, serial));
    GUARD(bind_int(s, st, 3, now));
    GUARD(exists_row(out, s, st, "checking the renewed certificate"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_is_active(int *out, scep_store *store, const char *username)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_ACTIVE));
    GUARD(bind_text(s, st, 1, username));
    GUARD(exists_row(out, s, st, "checking the end entity"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_ee_consume(int *out_changed, scep_store *store, const char *username, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_EE_CONSUME));
    GUARD(bind_text(s, st, 1, username));
    GUARD(bind_int(s, st, 2, now));
    GUARD(step_done(s, st, "consuming the end entity"));
    *out_changed = sqlite3_changes(s->db) == 1;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_mark_issued(int *out_changed, char **out_alias, char **out_transaction_id,
                                      scep_store *store, int64_t id, const char *ca_name,
                                      const char *serial, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    const char *alias = NULL;
    const char *transaction_id = NULL;
    *out_changed = 0;
    GUARD(stmt_get(&st, s, ST_REQ_ISSUE));
    GUARD(bind_int(s, st, 1, id));
    GUARD(bind_text(s, st, 2, ca_name));
    GUARD(bind_text(s, st, 3, serial));
    GUARD(bind_int(s, st, 4, now));
    int row = step_row(s, st, "marking the request issued");
    GUARD(row);
    if (row == 0)
        goto cleanup;
    GUARD(col_text(&alias, st, 0));
    GUARD(col_text(&transaction_id, st, 1));
    GUARD(step_done(s, st, "marking the request issued"));
    *out_alias = (char *)(uintptr_t)alias;
    *out_transaction_id = (char *)(uintptr_t)transaction_id;
    alias = NULL;
    transaction_id = NULL;
    *out_changed = 1;
cleanup:
    stmt_done(st);
    scep_store_release(alias);
    scep_store_release(transaction_id);
    return rc;
}

/* ---- challenges
 * ------------------------------------------------------------------------------------ */

static int sqlite_challenge_add(scep_store *store, const char *alias,
                                const unsigned char hash[SCEP_STORE_HASH_LEN], int64_t expires_at,
                                const char *subject_pattern, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CH_ADD));
    GUARD(bind_text(s, st, 1, alias));
    GUARD(bind_blob(s, st, 2, hash, SCEP_STORE_HASH_LEN));
    GUARD(bind_text(s, st, 3, subject_pattern));
    GUARD(bind_int(s, st, 4, expires_at));
    GUARD(bind_int(s, st, 5, now));
    GUARD(step_done(s, st, "adding a challenge"));
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_challenge_find(struct scep_store_challenge_row *out, int *out_found,
                                 scep_store *store, const unsigned char hash[SCEP_STORE_HASH_LEN])
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    const char *alias = NULL;
    const char *pattern = NULL;
    *out_found = 0;
    GUARD(stmt_get(&st, s, ST_CH_FIND));
    GUARD(bind_blob(s, st, 1, hash, SCEP_STORE_HASH_LEN));
    int row = step_row(s, st, "looking up a challenge");
    GUARD(row);
    if (row == 0)
        goto cleanup;
    GUARD(col_text(&alias, st, 1));
    GUARD(col_text(&pattern, st, 3));
    out->id = sqlite3_column_int64(st, 0);
    const void *stored = sqlite3_column_blob(st, 2);
    int len = sqlite3_column_bytes(st, 2);
    out->hash_len = stored != NULL && len > 0 ? (size_t)len : 0;
    if (out->hash_len > 0)
        memcpy(out->hash, stored,
               out->hash_len < SCEP_STORE_HASH_LEN ? out->hash_len : SCEP_STORE_HASH_LEN);
    out->expires_at = sqlite3_column_int64(st, 4);
    out->used = sqlite3_column_type(st, 5) != SQLITE_NULL;
    out->alias = (char *)(uintptr_t)alias;
    out->subject_pattern = (char *)(uintptr_t)pattern;
    alias = NULL;
    pattern = NULL;
    *out_found = 1;
cleanup:
    stmt_done(st);
    scep_store_release(alias);
    scep_store_release(pattern);
    return rc;
}

static int sqlite_challenge_mark_used(int *out_changed, scep_store *store, int64_t id, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CH_USE));
    GUARD(bind_int(s, st, 1, id));
    GUARD(bind_int(s, st, 2, now));
    GUARD(step_done(s, st, "consuming a challenge"));
    *out_changed = sqlite3_changes(s->db) == 1;
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_challenge_purge_expired(size_t *out_count, scep_store *store, int64_t now)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    GUARD(stmt_get(&st, s, ST_CH_PURGE));
    GUARD(bind_int(s, st, 1, now));
    GUARD(step_done(s, st, "purging challenges"));
    *out_count = (size_t)sqlite3_changes(s->db);
cleanup:
    stmt_done(st);
    return rc;
}

static int sqlite_request_purge(size_t *out_count, scep_store *store, int64_t before,
                                unsigned flags)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    int in_tx = 0;
    sqlite3_stmt *st = NULL;
    size_t count = 0;

    GUARD(scep_sqlite_begin(s));
    in_tx = 1;
    GUARD(stmt_get(&st, s, ST_REQ_PURGE));
    GUARD(bind_int(s, st, 1, before));
    GUARD(step_done(s, st, "purging requests"));
    count += (size_t)sqlite3_changes(s->db);
    stmt_done(st);
    st = NULL;
    if (flags & SCEP_STORE_PURGE_ISSUED) {
        GUARD(stmt_get(&st, s, ST_REQ_PURGE_ISSUED));
        GUARD(bind_int(s, st, 1, before));
        GUARD(step_done(s, st, "purging issued requests"));
        count += (size_t)sqlite3_changes(s->db);
    }
    GUARD(scep_sqlite_commit(s));
    in_tx = 0;
    *out_count = count;
cleanup:
    stmt_done(st);
    if (in_tx)
        scep_sqlite_rollback(s);
    return rc;
}

/* ---- ops table and open
 * ------------------------------------------------------------------------------- */

static const struct scep_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .schema_version = scep_sqlite_schema_version,
    .backup = sqlite_backup,
    .config_revision = sqlite_config_revision,
    .integrity_check = scep_sqlite_integrity_check,
    .begin_write = sqlite_begin_write,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .ca_add = sqlite_ca_add,
    .ca_get = sqlite_ca_get,
    .ca_list = sqlite_ca_list,
    .ca_set_next_cert = sqlite_ca_set_next_cert,
    .ca_next_crl_number = sqlite_ca_next_crl_number,
    .alias_add = sqlite_alias_add,
    .alias_remove = sqlite_alias_remove,
    .alias_list = sqlite_alias_list,
    .alias_setting_set = sqlite_alias_setting_set,
    .alias_setting_get = sqlite_alias_setting_get,
    .alias_setting_list = sqlite_alias_setting_list,
    .alias_setting_remove = sqlite_alias_setting_remove,
    .ee_add = sqlite_ee_add,
    .ee_get = sqlite_ee_get,
    .ee_list = sqlite_ee_list,
    .ee_set_status = sqlite_ee_set_status,
    .ee_reset = sqlite_ee_reset,
    .ee_remove = sqlite_ee_remove,
    .ee_consume = sqlite_ee_consume,
    .ee_is_active = sqlite_ee_is_active,
    .ee_ra_upsert = sqlite_ee_ra_upsert,
    .request_mark_issued = sqlite_request_mark_issued,
    .request_insert_if_absent = sqlite_request_insert_if_absent,
    .request_get = sqlite_request_get,
    .request_find = sqlite_request_find,
    .request_update = sqlite_request_update,
    .ee_update = sqlite_ee_update,
    .ee_code_failed = sqlite_ee_code_failed,
    .request_held_for = sqlite_request_held_for,
    .request_set_hold = sqlite_request_set_hold,
    .request_retire = sqlite_request_retire,
    .request_list = sqlite_request_list,
    .request_count = sqlite_request_count,
    .cert_add = sqlite_cert_add,
    .cert_get = sqlite_cert_get,
    .cert_list = sqlite_cert_list,
    .cert_revoke_if_valid = sqlite_cert_revoke_if_valid,
    .cert_is_renewable = sqlite_cert_is_renewable,
    .cert_valid_for_user = sqlite_cert_valid_for_user,
    .cert_list_revoked = sqlite_cert_list_revoked,
    .cert_count_revoked = sqlite_cert_count_revoked,
    .crl_get = sqlite_crl_get,
    .crl_insert = sqlite_crl_insert,
    .crl_prune = sqlite_crl_prune,
    .challenge_add = sqlite_challenge_add,
    .challenge_find = sqlite_challenge_find,
    .challenge_mark_used = sqlite_challenge_mark_used,
    .challenge_purge_expired = sqlite_challenge_purge_expired,
    .request_purge = sqlite_request_purge,
    .audit_last = sqlite_audit_last,
    .audit_insert = sqlite_audit_insert,
    .audit_list = sqlite_audit_list,
    .audit_page = sqlite_audit_page,
    .audit_walk = sqlite_audit_walk,
    .begin_snapshot = scep_sqlite_begin_snapshot,
    .end_snapshot = scep_sqlite_end_snapshot,
    .copy_read = scep_sqlite_copy_read,
    .copy_write = scep_sqlite_copy_write,
    .copy_finish = scep_sqlite_copy_finish,
};

/*
 * A new database file is made here, 0600 whatever the umask, so that SQLite never creates
 * it with its default 0644: SQLite gives the -wal and -shm files the database's mode.
 */
static int create_private_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST
                   ? SCEP_OK
                   : scep_fail(SCEP_ESTORE, "creating the database %s: %s", path, strerror(errno));
    close(fd);
    return SCEP_OK;
}

int scep_store_sqlite_open(scep_store **out, const char *location,
                           const scep_store_open_options *options)
{
    int rc = SCEP_OK;
    struct sqlite_store *s = NULL;
    const char *path = location;

    /* sqlite:///abs/path is the URL spelling of sqlite:/abs/path. */
    if (strncmp(path, "//", 2) == 0)
        path += 2;
    ENSURE(*path != '\0', SCEP_ECONFIG, "sqlite store URL has no file path");
    ENSURE(options->password == NULL, SCEP_ECONFIG,
           "a SQLite store takes no password (database_password_file is for PostgreSQL)");
    ENSURE(sqlite3_threadsafe() != 0, SCEP_ECONFIG,
           "the SQLite library was built without thread support");

    struct stat st;
    if (stat(path, &st) != 0) {
        ENSURE(errno == ENOENT, SCEP_ESTORE, "database %s: %s", path, strerror(errno));
        ENSURE(!options->must_exist, SCEP_ENOTFOUND,
               "database %s does not exist (scepctl creates it, e.g. `scepctl ca init`)", path);
        GUARD(create_private_file(path));
    }

    s = OPENSSL_zalloc(sizeof(*s));
    ENSURE_ALLOC(s);
    s->base.ops = &sqlite_ops;
    int src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = s->db != NULL
                 ? scep_fail(SCEP_ESTORE, "opening %s: sqlite: %s", path, sqlite3_errmsg(s->db))
                 : scep_fail(SCEP_ENOMEM, "opening %s: out of memory", path);
        goto cleanup;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SCEP_SQLITE_BUSY_TIMEOUT_MS);
    GUARD(pragma_text(s, "PRAGMA foreign_keys = ON", NULL));
    GUARD(pragma_text(s, "PRAGMA foreign_keys", "1"));
    /* WAL: readers never block the writer; one file plus -wal/-shm beside it. */
    GUARD(enable_wal(s));
    /* FULL: a certificate is on disk before the server returns it. */
    GUARD(pragma_text(s, "PRAGMA synchronous = FULL", NULL));
    GUARD(scep_sqlite_migrate(s));
    *out = &s->base;
    s = NULL;
cleanup:
    if (s != NULL)
        sqlite_close(&s->base);
    return rc;
}
