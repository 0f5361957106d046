/*
 * PostgreSQL schema migrations. Versions mean the same data model as SQLite's
 * (SCEP_STORE_SCHEMA_VERSION); the version lives in the one-row table schema_version.
 * No PostgreSQL store predates schema 7, so the first entry creates version 7 at once;
 * a change to the data model is a new entry appended to the array, never an edit.
 */
#include "store/postgres_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_migration {
    int from;
    int to;
    const char *sql;
};

static const struct pg_migration pg_migrations[] = {
    /* 0 → 7: the data model of docs/store.md "Schema", as SQLite has it after migration 7. */
    {0, 7,
     "CREATE TABLE cas ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  cert_pem TEXT NOT NULL,"
     "  key_ref TEXT NOT NULL,"
     "  chain_pem TEXT,"
     "  next_cert_pem TEXT,"
     "  crl_number BIGINT NOT NULL DEFAULT 0 CHECK (crl_number >= 0),"
     "  created_at BIGINT NOT NULL,"
     "  next_key_ref TEXT,"
     "  next_activate_at BIGINT NOT NULL DEFAULT 0"
     ");"
     "CREATE TABLE aliases ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  created_at BIGINT NOT NULL"
     ");"
     "CREATE TABLE alias_settings ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  alias TEXT NOT NULL REFERENCES aliases(name) ON DELETE CASCADE ON UPDATE CASCADE,"
     "  key TEXT NOT NULL,"
     "  value TEXT NOT NULL,"
     "  UNIQUE (alias, key)"
     ");"
     "CREATE TABLE end_entities ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  username TEXT NOT NULL UNIQUE,"
     "  password_hash TEXT NOT NULL,"
     "  subject_dn TEXT NOT NULL,"
     "  status TEXT NOT NULL CHECK (status IN ('NEW', 'GENERATED', 'REVOKED', 'DISABLED')),"
     "  profile TEXT,"
     "  ca_name TEXT NOT NULL REFERENCES cas(name),"
     "  created_at BIGINT NOT NULL,"
     "  updated_at BIGINT NOT NULL,"
     "  alias TEXT,"
     "  sans TEXT,"
     "  ra_alias TEXT,"
     "  failed_codes BIGINT NOT NULL DEFAULT 0"
     ");"
     "CREATE TABLE requests ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  alias TEXT NOT NULL,"
     "  transaction_id TEXT NOT NULL,"
     "  message_type INTEGER NOT NULL,"
     "  csr_der BYTEA,"
     "  signer_cert_der BYTEA,"
     "  public_key_sha256 BYTEA NOT NULL CHECK (octet_length(public_key_sha256) = 32),"
     "  status TEXT NOT NULL CHECK (status IN ('PENDING', 'ISSUED', 'REJECTED', 'FAILED')),"
     "  fail_info INTEGER,"
     "  reason TEXT,"
     "  client_addr TEXT,"
     "  ca_name TEXT,"
     "  cert_serial TEXT,"
     "  created_at BIGINT NOT NULL,"
     "  updated_at BIGINT NOT NULL,"
     "  decided_mode TEXT,"
     "  decided_username TEXT,"
     "  decided_profile TEXT,"
     "  decided_subject TEXT,"
     "  decided_sans TEXT,"
     "  replaces_serial TEXT,"
     "  renews_serial TEXT,"
     "  decided_ee_updated_at BIGINT,"
     "  UNIQUE (alias, transaction_id)"
     ");"
     "CREATE INDEX requests_by_status ON requests(status, id);"
     "CREATE TABLE certificates ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  ca_name TEXT NOT NULL REFERENCES cas(name),"
     "  serial TEXT NOT NULL,"
     "  subject TEXT NOT NULL,"
     "  issuer TEXT NOT NULL,"
     "  not_before BIGINT NOT NULL,"
     "  not_after BIGINT NOT NULL,"
     "  der BYTEA NOT NULL,"
     "  status TEXT NOT NULL CHECK (status IN ('VALID', 'REVOKED')),"
     "  revoked_at BIGINT,"
     "  revocation_reason INTEGER,"
     "  username TEXT,"
     "  transaction_id TEXT,"
     "  created_at BIGINT NOT NULL,"
     "  UNIQUE (ca_name, serial)"
     ");"
     "CREATE INDEX certificates_by_status ON certificates(ca_name, status);"
     "CREATE INDEX certificates_by_username ON certificates(username);"
     "CREATE TABLE challenges ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  alias TEXT NOT NULL,"
     "  hash BYTEA NOT NULL UNIQUE,"
     "  subject_pattern TEXT,"
     "  expires_at BIGINT NOT NULL,"
     "  used_at BIGINT,"
     "  created_at BIGINT NOT NULL"
     ");"
     "CREATE INDEX challenges_by_expiry ON challenges(expires_at);"
     /* No sequence: the front end numbers events, the chain's order (audit_chain.c). */
     "CREATE TABLE audit_events ("
     "  id BIGINT PRIMARY KEY,"
     "  time BIGINT NOT NULL,"
     "  actor TEXT NOT NULL,"
     "  action TEXT NOT NULL,"
     "  alias TEXT,"
     "  transaction_id TEXT,"
     "  outcome TEXT NOT NULL,"
     "  detail TEXT,"
     "  prev_hash TEXT,"
     "  hash TEXT"
     ");"
     "CREATE INDEX audit_events_by_time ON audit_events(time);"
     "CREATE TABLE crls ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  ca_name TEXT NOT NULL REFERENCES cas(name),"
     "  crl_number BIGINT NOT NULL CHECK (crl_number > 0),"
     "  this_update BIGINT NOT NULL,"
     "  next_update BIGINT NOT NULL CHECK (next_update > this_update),"
     "  revoked_count BIGINT NOT NULL CHECK (revoked_count >= 0),"
     "  der BYTEA NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  UNIQUE (ca_name, crl_number)"
     ");"
     /* As SQLite's migration 7: every configuration change moves the revision, a CRL
      * number (cas.crl_number) does not. Row triggers: one step per changed row. */
     "CREATE TABLE config_revision ("
     "  id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  revision BIGINT NOT NULL"
     ");"
     "INSERT INTO config_revision (id, revision) VALUES (1, 1);"
     "CREATE FUNCTION scep_config_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$"
     "  BEGIN UPDATE config_revision SET revision = revision + 1; RETURN NULL; END $$;"
     "CREATE TRIGGER cas_insert_revision AFTER INSERT ON cas"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER cas_update_revision AFTER UPDATE OF name, cert_pem, key_ref, chain_pem,"
     "  next_cert_pem, next_key_ref, next_activate_at ON cas"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER cas_delete_revision AFTER DELETE ON cas"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER aliases_insert_revision AFTER INSERT ON aliases"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER aliases_delete_revision AFTER DELETE ON aliases"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER alias_settings_insert_revision AFTER INSERT ON alias_settings"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER alias_settings_update_revision AFTER UPDATE ON alias_settings"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"
     "CREATE TRIGGER alias_settings_delete_revision AFTER DELETE ON alias_settings"
     "  FOR EACH ROW EXECUTE FUNCTION scep_config_revision_bump();"},
    /* 7 → 8: as SQLite's migration 8; PostgreSQL had the index by username from the start. */
    {7, 8, "CREATE INDEX certificates_by_subject ON certificates(subject);"},
};

#define MIGRATION_COUNT (sizeof(pg_migrations) / sizeof(pg_migrations[0]))

/* 0 when the database has no schema_version table yet (an empty database). */
static int read_version(int *out, struct pg_store *s)
{
    int rc = SCEP_OK;
    /*
     * A scan of pg_class, not to_regclass(): the scan sees what committed before this
     * statement, while a name lookup may answer from this session's catalog cache, still
     * empty after another process migrated while this one waited for the lock.
     */
    PGresult *res = PQexec(s->conn, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                                    "WHERE c.relname = 'schema_version' "
                                    "AND n.nspname = current_schema())");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = scep_pg_fail(s, res, "reading the schema version");
        goto cleanup;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        *out = 0;
        goto cleanup;
    }
    PQclear(res);
    res = PQexec(s->conn, "SELECT version FROM schema_version WHERE id = 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = scep_pg_fail(s, res, "reading the schema version");
        goto cleanup;
    }
    ENSURE(PQntuples(res) == 1, SCEP_ESTORE, "the schema version is missing");
    char *end = NULL;
    long version = strtol(PQgetvalue(res, 0, 0), &end, 10);
    ENSURE(end != NULL && *end == '\0' && version >= -1000000 && version <= 1000000, SCEP_ESTORE,
           "the stored schema version is not a number");
    *out = (int)version;
cleanup:
    PQclear(res);
    return rc;
}

int scep_pg_schema_version(int *out, scep_store *store)
{
    return read_version(out, (struct pg_store *)store);
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

static const struct pg_migration *migration_from(int version)
{
    for (size_t i = 0; i < MIGRATION_COUNT; i++)
        if (pg_migrations[i].from == version)
            return &pg_migrations[i];
    return NULL;
}

int scep_pg_migrate(struct pg_store *s)
{
    int rc = SCEP_OK;
    int version = 0;
    int in_tx = 0;

    GUARD(read_version(&version, s));
    GUARD(check_not_newer(version));
    if (version == SCEP_STORE_SCHEMA_VERSION)
        return SCEP_OK;

    /* The write lock: of several processes opening a fresh database, one migrates. */
    GUARD(scep_pg_begin(s));
    in_tx = 1;
    /* Read again: the lock's holder before us may have migrated (READ COMMITTED sees it). */
    GUARD(read_version(&version, s));
    GUARD(check_not_newer(version));
    if (version == 0)
        GUARD(scep_pg_exec(s,
                           "CREATE TABLE schema_version ("
                           "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                           "  version INTEGER NOT NULL);"
                           "INSERT INTO schema_version (id, version) VALUES (1, 0)",
                           "creating the schema version table"));
    /* Bounded: every step raises the version, which stops at SCEP_STORE_SCHEMA_VERSION. */
    while (version < SCEP_STORE_SCHEMA_VERSION) {
        const struct pg_migration *m = migration_from(version);
        ENSURE(m != NULL && m->to > version && m->to <= SCEP_STORE_SCHEMA_VERSION, SCEP_ESTORE,
               "no PostgreSQL schema migration from version %d", version);
        char what[64];
        snprintf(what, sizeof(what), "schema migration %d to %d", m->from, m->to);
        GUARD(scep_pg_exec(s, m->sql, what));
        version = m->to;
    }
    char sql[96];
    int n = snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d WHERE id = 1",
                     SCEP_STORE_SCHEMA_VERSION);
    ENSURE(n > 0 && (size_t)n < sizeof(sql), SCEP_ESTORE, "schema version statement");
    GUARD(scep_pg_exec(s, sql, "setting the schema version"));
    GUARD(scep_pg_commit(s));
    in_tx = 0;
cleanup:
    if (in_tx)
        scep_pg_rollback(s);
    return rc;
}
