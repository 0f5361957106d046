/*
 * SQLite schema migrations. Migration i (0-based) takes the database from
 * PRAGMA user_version i to i + 1. Entries are never edited once released:
 * a change to the data model is a new entry appended to the array.
 */
#include "store/sqlite_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static const char *const sqlite_migrations[] = {
    /* 1: the initial data model (docs/store.md). */
    "CREATE TABLE cas ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  cert_pem TEXT NOT NULL,"
    "  key_ref TEXT NOT NULL,"
    "  chain_pem TEXT,"
    "  next_cert_pem TEXT,"
    "  crl_number INTEGER NOT NULL DEFAULT 0 CHECK (crl_number >= 0),"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE aliases ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE alias_settings ("
    "  id INTEGER PRIMARY KEY,"
    "  alias TEXT NOT NULL REFERENCES aliases(name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  UNIQUE (alias, key)"
    ");"
    "CREATE TABLE end_entities ("
    "  id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  subject_dn TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('NEW', 'GENERATED', 'REVOKED', 'DISABLED')),"
    "  profile TEXT,"
    "  ca_name TEXT NOT NULL REFERENCES cas(name),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE requests ("
    "  id INTEGER PRIMARY KEY,"
    "  alias TEXT NOT NULL,"
    "  transaction_id TEXT NOT NULL,"
    "  message_type INTEGER NOT NULL,"
    "  csr_der BLOB,"
    "  signer_cert_der BLOB,"
    "  public_key_sha256 BLOB NOT NULL CHECK (length(public_key_sha256) = 32),"
    "  status TEXT NOT NULL CHECK (status IN ('PENDING', 'ISSUED', 'REJECTED', 'FAILED')),"
    "  fail_info INTEGER,"
    "  reason TEXT,"
    "  client_addr TEXT,"
    "  ca_name TEXT,"
    "  cert_serial TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (alias, transaction_id)"
    ");"
    "CREATE INDEX requests_by_status ON requests(status, id);"
    "CREATE TABLE certificates ("
    "  id INTEGER PRIMARY KEY,"
    "  ca_name TEXT NOT NULL REFERENCES cas(name),"
    "  serial TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  not_before INTEGER NOT NULL,"
    "  not_after INTEGER NOT NULL,"
    "  der BLOB NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('VALID', 'REVOKED')),"
    "  revoked_at INTEGER,"
    "  revocation_reason INTEGER,"
    "  username TEXT,"
    "  transaction_id TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (ca_name, serial)"
    ");"
    "CREATE INDEX certificates_by_status ON certificates(ca_name, status);"
    "CREATE TABLE challenges ("
    "  id INTEGER PRIMARY KEY,"
    "  alias TEXT NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  subject_pattern TEXT,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX challenges_by_expiry ON challenges(expires_at);"
    "CREATE TABLE audit_events ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  alias TEXT,"
    "  transaction_id TEXT,"
    "  outcome TEXT NOT NULL,"
    "  detail TEXT"
    ");"
    "CREATE INDEX audit_events_by_time ON audit_events(time);",
    /* 2: CA rollover (RFC 8894 §4.7): the next certificate's key and activation time. */
    "ALTER TABLE cas ADD COLUMN next_key_ref TEXT;"
    "ALTER TABLE cas ADD COLUMN next_activate_at INTEGER NOT NULL DEFAULT 0;",
    /* 3: stored CRLs, the newest SCEP_STORE_CRL_HISTORY per CA (docs/store.md). */
    "CREATE TABLE crls ("
    "  id INTEGER PRIMARY KEY,"
    "  ca_name TEXT NOT NULL REFERENCES cas(name),"
    "  crl_number INTEGER NOT NULL CHECK (crl_number > 0),"
    "  this_update INTEGER NOT NULL,"
    "  next_update INTEGER NOT NULL CHECK (next_update > this_update),"
    "  revoked_count INTEGER NOT NULL CHECK (revoked_count >= 0),"
    "  der BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (ca_name, crl_number)"
    ");",
    /* 4: policy bound to the end entity (its alias, registered SANs, RA namespace) and the
     * decision recorded on a request held for approval (docs/security.md). */
    "ALTER TABLE end_entities ADD COLUMN alias TEXT;"
    "ALTER TABLE end_entities ADD COLUMN sans TEXT;"
    "ALTER TABLE end_entities ADD COLUMN ra_alias TEXT;"
    "ALTER TABLE requests ADD COLUMN decided_mode TEXT;"
    "ALTER TABLE requests ADD COLUMN decided_username TEXT;"
    "ALTER TABLE requests ADD COLUMN decided_profile TEXT;"
    "ALTER TABLE requests ADD COLUMN decided_subject TEXT;"
    "ALTER TABLE requests ADD COLUMN decided_sans TEXT;"
    "ALTER TABLE requests ADD COLUMN replaces_serial TEXT;",
    /* 5: wrong enrollment codes per end entity, for the lockout; what a held renewal
     * renews and the end entity's version a held request was decided on (security.md). */
    "ALTER TABLE end_entities ADD COLUMN failed_codes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN renews_serial TEXT;"
    "ALTER TABLE requests ADD COLUMN decided_ee_updated_at INTEGER;",
    /* 6: the audit trail's hash chain (docs/store.md "Audit chain"); the events already
     * stored are chained by scep_sqlite_audit_chain_existing (migration_finish). */
    "ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;"
    "ALTER TABLE audit_events ADD COLUMN hash TEXT;",
    /* 7: a counter every change to the CAs (certificates, keys, rollover schedule), the
     * aliases and their settings moves, so that scepd nodes sharing the store pick up what
     * another process changed (scep_store_config_revision). Triggers keep it: no writer can
     * forget it. A CRL number (cas.crl_number) is not configuration and does not move it. */
    "CREATE TABLE config_revision ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  revision INTEGER NOT NULL"
    ");"
    "INSERT INTO config_revision (id, revision) VALUES (1, 1);"
    "CREATE TRIGGER cas_insert_revision AFTER INSERT ON cas"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER cas_update_revision AFTER UPDATE OF name, cert_pem, key_ref, chain_pem,"
    "  next_cert_pem, next_key_ref, next_activate_at ON cas"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER cas_delete_revision AFTER DELETE ON cas"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER aliases_insert_revision AFTER INSERT ON aliases"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER aliases_delete_revision AFTER DELETE ON aliases"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER alias_settings_insert_revision AFTER INSERT ON alias_settings"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER alias_settings_update_revision AFTER UPDATE ON alias_settings"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER alias_settings_delete_revision AFTER DELETE ON alias_settings"
    "  BEGIN UPDATE config_revision SET revision = revision + 1; END;",
    /* 8: lookups that scanned every certificate: whether an end entity already holds a
     * valid one (RA mode, onexisting = refuse) and `scepctl cert list --subject`. */
    "CREATE INDEX certificates_by_username ON certificates(username);"
    "CREATE INDEX certificates_by_subject ON certificates(subject);",
};

/*
 * What a migration needs beyond SQL, run in the same transaction after it (indexed as
 * sqlite_migrations; NULL: nothing).
 */
static int (*const migration_finish[])(struct sqlite_store *s) = {
    [5] = scep_sqlite_audit_chain_existing,
};

_Static_assert(sizeof(sqlite_migrations) / sizeof(sqlite_migrations[0]) ==
                   SCEP_STORE_SCHEMA_VERSION,
               "one SQLite migration per schema version");

static int read_user_version(int *out, struct sqlite_store *s)
{
    int rc = SCEP_OK;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (src != SQLITE_OK)
        return scep_sqlite_fail(s, src, "reading the schema version");
    src = sqlite3_step(st);
    ENSURE(src == SQLITE_ROW, SCEP_ESTORE, "reading the schema version: %s", sqlite3_errmsg(s->db));
    *out = sqlite3_column_int(st, 0);
cleanup:
    sqlite3_finalize(st);
    return rc;
}

int scep_sqlite_schema_version(int *out, scep_store *store)
{
    return read_user_version(out, (struct sqlite_store *)store);
}

static int check_not_newer(int version)
{
    if (version > SCEP_STORE_SCHEMA_VERSION || version < 0)
        return scep_fail(SCEP_ECONFIG,
                         "the database has schema version %d but this scepd supports at most %d: "
                         "it was written by a newer scepd; upgrade scepd or use a backup",
                         version, SCEP_STORE_SCHEMA_VERSION);
    return SCEP_OK;
}

int scep_sqlite_migrate(struct sqlite_store *s)
{
    int rc = SCEP_OK;
    int version = 0;
    int in_tx = 0;
    char *errmsg = NULL;

    GUARD(read_user_version(&version, s));
    GUARD(check_not_newer(version));
    if (version == SCEP_STORE_SCHEMA_VERSION)
        return SCEP_OK;

    GUARD(scep_sqlite_begin(s));
    in_tx = 1;
    /* Another connection may have migrated while we waited for the lock. */
    GUARD(read_user_version(&version, s));
    GUARD(check_not_newer(version));
    for (int v = version; v < SCEP_STORE_SCHEMA_VERSION; v++) {
        int src = sqlite3_exec(s->db, sqlite_migrations[v], NULL, NULL, &errmsg);
        ENSURE(src == SQLITE_OK, SCEP_ESTORE, "schema migration %d failed: %s", v + 1,
               errmsg != NULL ? errmsg : sqlite3_errstr(src));
        if ((size_t)v < sizeof(migration_finish) / sizeof(migration_finish[0]) &&
            migration_finish[v] != NULL)
            GUARD(migration_finish[v](s));
    }
    char pragma[64];
    int n = snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", SCEP_STORE_SCHEMA_VERSION);
    ENSURE(n > 0 && (size_t)n < sizeof(pragma), SCEP_ESTORE, "schema version pragma");
    int src = sqlite3_exec(s->db, pragma, NULL, NULL, &errmsg);
    ENSURE(src == SQLITE_OK, SCEP_ESTORE, "setting the schema version: %s",
           errmsg != NULL ? errmsg : sqlite3_errstr(src));
    GUARD(scep_sqlite_commit(s));
    in_tx = 0;
cleanup:
    sqlite3_free(errmsg);
    if (in_tx)
        scep_sqlite_rollback(s);
    return rc;
}

/* The first row of `sql` that is not "ok", as text; NULL when none. */
static int first_problem(char **out, struct sqlite_store *s, const char *sql, int ok_row)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return scep_sqlite_fail(s, src, "checking the database");
    int rc = SCEP_OK;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const char *first = (const char *)sqlite3_column_text(st, 0);
        if (!(ok_row && first != NULL && strcmp(first, "ok") == 0)) {
            /* foreign_key_check: table, rowid, parent table. */
            const char *parent =
                sqlite3_column_count(st) > 2 ? (const char *)sqlite3_column_text(st, 2) : NULL;
            char text[512];
            snprintf(text, sizeof(text),
                     ok_row ? "integrity_check: %s" : "table %s row %lld names a missing %s row",
                     first != NULL ? first : "?",
                     ok_row ? 0LL : (long long)sqlite3_column_int64(st, 1),
                     parent != NULL ? parent : "?");
            *out = OPENSSL_strdup(text);
            rc = *out != NULL ? SCEP_OK : scep_fail(SCEP_ENOMEM, "out of memory");
        }
    } else if (src != SQLITE_DONE) {
        rc = scep_sqlite_fail(s, src, "checking the database");
    }
    sqlite3_finalize(st);
    return rc;
}

int scep_sqlite_integrity_check(char **out_problem, scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = first_problem(out_problem, s, "PRAGMA integrity_check", 1);
    if (rc == SCEP_OK && *out_problem == NULL)
        rc = first_problem(out_problem, s, "PRAGMA foreign_key_check", 0);
    return rc;
}
