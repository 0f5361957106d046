#include "test_support.h"

#include "scep/store.h"
#include "schema_undo.h"
#include "store/postgres_internal.h"
#include "store/sqlite_internal.h"
#include "store_backend.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Every test gets a fresh database (a file in its own temporary directory, or a new
 * PostgreSQL database when SCEP_TEST_PG_URL is set: store_backend.h) and one open
 * connection to it. Raw SQL looks below the public API on either backend; the tests of
 * SQLite itself (PRAGMAs, files, old SQLite schemas) are skipped on PostgreSQL.
 */
struct fixture {
    char *dir;
    char path[4096];
    char url[4200];
    scep_store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = test_tmpdir();
    int n = snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    assert_true(n > 0 && (size_t)n < sizeof(f->path));
    test_store_new_url(f->url, sizeof(f->url), f->dir);
    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    scep_store_close(f->store);
    test_store_drop(f->url);
    test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A raw connection to the fixture's database, for looking under the API. */
static struct test_raw *raw_open(const struct fixture *f)
{
    return test_raw_open(f->url);
}

static int64_t raw_int(struct test_raw *db, const char *sql)
{
    return test_raw_int(db, sql);
}

/* The first column of the first row as text, copied into `buf`. */
static const char *raw_text(struct test_raw *db, const char *sql, char *buf, size_t size)
{
    return test_raw_text(db, sql, buf, size);
}

/* PRAGMAs on the store's own SQLite connection. */
static int64_t sqlite_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *sqlite_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *text = sqlite3_column_text(st, 0);
    assert_non_null(text);
    int n = snprintf(buf, size, "%s", (const char *)text);
    assert_true(n >= 0 && (size_t)n < size);
    sqlite3_finalize(st);
    return buf;
}

/* The SQLite spelling or the PostgreSQL one of a statement. */
static const char *dialect(const char *sqlite_sql, const char *pg_sql)
{
    return test_store_pg() ? pg_sql : sqlite_sql;
}

static void add_ca(scep_store *store, const char *name)
{
    scep_store_ca ca = {
        .name = name,
        .cert_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        .key_ref = "/etc/scepd/ca.key",
    };
    assert_int_equal(scep_store_ca_add(store, &ca), SCEP_OK);
}

static void add_ee(scep_store *store, const char *username, const char *password)
{
    scep_store_end_entity ee = {
        .username = username,
        .subject_dn = "CN=router1,O=Example",
        .profile = "router",
        .ca_name = "ca1",
    };
    assert_int_equal(scep_store_ee_add(store, &ee, password), SCEP_OK);
}

static const unsigned char fake_der[] = {0x30, 0x03, 0x02, 0x01, 0x05};

static scep_store_cert make_cert(const char *ca_name, const char *serial)
{
    scep_store_cert cert = {
        .ca_name = ca_name,
        .serial = serial,
        .subject = "CN=router1,O=Example",
        .issuer = "CN=Test CA",
        .not_before = 1700000000,
        .not_after = 1800000000,
        .der = fake_der,
        .der_len = sizeof(fake_der),
        .transaction_id = "TID-1",
    };
    return cert;
}

static int64_t add_request(scep_store *store, const char *alias, const char *transaction_id,
                           unsigned char key_byte)
{
    scep_store_request req = {
        .alias = alias,
        .transaction_id = transaction_id,
        .message_type = 19,
        .csr_der = fake_der,
        .csr_der_len = sizeof(fake_der),
        .fail_info = SCEP_STORE_NO_FAIL_INFO,
        .client_addr = "192.0.2.1",
    };
    memset(req.public_key_sha256, key_byte, sizeof(req.public_key_sha256));
    scep_store_request *row = NULL;
    int created = 0;
    assert_int_equal(scep_store_request_get_or_insert(&row, &created, store, &req), SCEP_OK);
    int64_t id = row->id;
    scep_store_request_free(row);
    return id;
}

/* ---- connection, schema, PRAGMAs -------------------------------------------- */

static void migrations_create_the_schema(void **state)
{
    struct fixture *f = *state;
    int version = 0;
    assert_int_equal(scep_store_schema_version(&version, f->store), SCEP_OK);
    assert_int_equal(version, scep_store_schema_version_supported());
    assert_true(version >= 1);
    assert_string_equal(scep_store_backend(f->store), dialect("sqlite", "postgresql"));

    struct test_raw *db = raw_open(f);
    assert_int_equal(
        raw_int(db, dialect("PRAGMA user_version", "SELECT version FROM schema_version")), version);
    /* Migration 8: the lookups by username and by subject do not scan the certificates. */
    assert_int_equal(
        raw_int(db, dialect("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                            "('certificates_by_username', 'certificates_by_subject')",
                            "SELECT count(*) FROM pg_indexes WHERE indexname IN "
                            "('certificates_by_username', 'certificates_by_subject')")),
        2);
    static const char *const tables[] = {"cas",          "aliases",     "alias_settings",
                                         "end_entities", "requests",    "certificates",
                                         "challenges",   "audit_events"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 !test_store_pg()
                     ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'"
                     : "SELECT count(*) FROM information_schema.tables "
                       "WHERE table_schema = 'public' AND table_name = '%s'",
                 tables[i]);
        assert_int_equal(raw_int(db, sql), 1);
    }
    test_raw_close(db);
}

static void reopen_is_a_no_op(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    scep_store_close(f->store);
    f->store = NULL;

    static const char *const count_objects[] = {
        "SELECT count(*) FROM sqlite_master",
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public'"};
    struct test_raw *db = raw_open(f);
    int64_t objects = raw_int(db, dialect(count_objects[0], count_objects[1]));
    test_raw_close(db);

    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    scep_store *second = NULL;
    assert_int_equal(scep_store_open(&second, f->url), SCEP_OK);
    int version = 0;
    assert_int_equal(scep_store_schema_version(&version, second), SCEP_OK);
    assert_int_equal(version, scep_store_schema_version_supported());
    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, second, "ca1"), SCEP_OK);
    scep_store_ca_free(ca);
    scep_store_close(second);

    db = raw_open(f);
    assert_int_equal(raw_int(db, dialect(count_objects[0], count_objects[1])), objects);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM cas"), 1);
    test_raw_close(db);
}

static void newer_schema_is_refused(void **state)
{
    struct fixture *f = *state;
    scep_store_close(f->store);
    f->store = NULL;
    struct test_raw *db = raw_open(f);
    char sql[96];
    snprintf(sql, sizeof(sql),
             !test_store_pg() ? "PRAGMA user_version = %d"
                              : "UPDATE schema_version SET version = %d",
             scep_store_schema_version_supported() + 1);
    test_raw_exec(db, sql);
    test_raw_close(db);

    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, f->url), SCEP_ECONFIG);
    assert_null(store);
    assert_non_null(strstr(scep_error_message(), "newer"));
}

/* A version 1 database (before rollover columns) migrates to the current schema, rows kept. */
static void version_1_database_migrates(void **state)
{
    struct fixture *f = *state;
    TEST_SQLITE_ONLY("no PostgreSQL store predates schema 7");
    add_ca(f->store, "old1");
    scep_store_close(f->store);
    f->store = NULL;
    struct test_raw *db = raw_open(f);
    test_raw_exec(db, SCHEMA_8_UNDONE SCHEMA_7_UNDONE
                  "ALTER TABLE end_entities DROP COLUMN failed_codes;"
                  "ALTER TABLE requests DROP COLUMN renews_serial;"
                  "ALTER TABLE requests DROP COLUMN decided_ee_updated_at;"
                  "ALTER TABLE audit_events DROP COLUMN prev_hash;"
                  "ALTER TABLE audit_events DROP COLUMN hash;"
                  "ALTER TABLE end_entities DROP COLUMN alias;"
                  "ALTER TABLE end_entities DROP COLUMN sans;"
                  "ALTER TABLE end_entities DROP COLUMN ra_alias;"
                  "ALTER TABLE requests DROP COLUMN decided_mode;"
                  "ALTER TABLE requests DROP COLUMN decided_username;"
                  "ALTER TABLE requests DROP COLUMN decided_profile;"
                  "ALTER TABLE requests DROP COLUMN decided_subject;"
                  "ALTER TABLE requests DROP COLUMN decided_sans;"
                  "ALTER TABLE requests DROP COLUMN replaces_serial;"
                  "ALTER TABLE cas DROP COLUMN next_key_ref;"
                  "ALTER TABLE cas DROP COLUMN next_activate_at;"
                  "DROP TABLE crls;"
                  "PRAGMA user_version = 1;");
    test_raw_close(db);

    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    int version = 0;
    assert_int_equal(scep_store_schema_version(&version, f->store), SCEP_OK);
    assert_int_equal(version, scep_store_schema_version_supported());
    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, f->store, "old1"), SCEP_OK);
    assert_null(ca->next_key_ref);
    assert_int_equal(ca->next_activate_at, 0);
    scep_store_ca_free(ca);
}

/* Migration 8 adds indexes only: a store at version 7 with certificates keeps them. */
static void version_7_database_gets_the_indexes(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    scep_store_cert cert = make_cert("ca1", "0a1b2c");
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_OK);
    scep_store_close(f->store);
    f->store = NULL;
    struct test_raw *db = raw_open(f);
    test_raw_exec(db, dialect(SCHEMA_8_UNDONE "PRAGMA user_version = 7;",
                              "DROP INDEX certificates_by_subject;"
                              "UPDATE schema_version SET version = 7"));
    test_raw_close(db);

    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    int version = 0;
    assert_int_equal(scep_store_schema_version(&version, f->store), SCEP_OK);
    assert_int_equal(version, scep_store_schema_version_supported());
    scep_store_cert *list = NULL;
    size_t count = 0;
    scep_store_cert_filter filter = {.subject = "CN=router1,O=Example"};
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 1);
    scep_store_cert_list_free(list, count);
    db = raw_open(f);
    assert_int_equal(
        raw_int(db, dialect("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                            "('certificates_by_username', 'certificates_by_subject')",
                            "SELECT count(*) FROM pg_indexes WHERE indexname IN "
                            "('certificates_by_username', 'certificates_by_subject')")),
        2);
    test_raw_close(db);
}

static void url_scheme_selects_the_backend(void **state)
{
    struct fixture *f = *state;
    scep_store *store = NULL;
    /* PostgreSQL: an unreachable server is SCEP_EUNAVAILABLE, and no message shows the
     * password of the URL. */
    assert_int_equal(
        scep_store_open(&store, "postgres://scep:hunter2@/scep?host=/nonexistent/pg-socket"),
        SCEP_EUNAVAILABLE);
    assert_null(store);
    assert_null(strstr(scep_error_message(), "hunter2"));
    assert_non_null(strstr(scep_error_message(), "user=scep"));
    assert_int_equal(scep_store_open(&store, "postgresql:host=/nonexistent/pg-socket "
                                             "dbname=scep password=hunter2"),
                     SCEP_EUNAVAILABLE);
    assert_null(strstr(scep_error_message(), "hunter2"));
    assert_int_equal(scep_store_open(&store, "postgresql://[::1"), SCEP_ECONFIG);
    /* libpq quotes a malformed URL in its message: not when it carries a password. */
    assert_int_equal(scep_store_open(&store, "postgresql://scep:hunter2@[::1"), SCEP_ECONFIG);
    assert_null(strstr(scep_error_message(), "hunter2"));
    assert_int_equal(scep_store_open(&store, "postgresql://scep:hunter2%zz@/scep"), SCEP_ECONFIG);
    assert_null(strstr(scep_error_message(), "hunter2"));
    /* The keyword percent-encoded, the value malformed: libpq would quote the value. */
    assert_int_equal(scep_store_open(&store, "postgresql://h/db?pass%77ord=hunter2%zz"),
                     SCEP_ECONFIG);
    assert_null(strstr(scep_error_message(), "hunter2"));
    assert_int_equal(scep_store_open(&store, "postgresql:"), SCEP_ECONFIG);
    assert_int_equal(scep_store_open(&store, "mysql://localhost/scep"), SCEP_ECONFIG);
    assert_null(store);
    assert_int_equal(scep_store_open(&store, "/no/scheme.db"), SCEP_ECONFIG);
    assert_int_equal(scep_store_open(&store, "sqlite:"), SCEP_ECONFIG);

    char url[4300];
    snprintf(url, sizeof(url), "sqlite://%s", f->path);
    assert_int_equal(scep_store_open(&store, url), SCEP_OK);
    scep_store_close(store);
}

static void pragmas_are_in_effect(void **state)
{
    struct fixture *f = *state;
    /* Foreign keys are enforced: an end entity needs an existing CA. */
    scep_store_end_entity fk = {.username = "u", .subject_dn = "CN=u", .ca_name = "nope"};
    assert_int_equal(scep_store_ee_add(f->store, &fk, "pw"), SCEP_ENOTFOUND);
    TEST_SQLITE_ONLY("SQLite PRAGMAs");
    struct sqlite_store *s = (struct sqlite_store *)f->store;
    char buf[32];
    assert_string_equal(sqlite_text(s->db, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
    assert_int_equal(sqlite_int(s->db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(sqlite_int(s->db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(sqlite_int(s->db, "PRAGMA busy_timeout"), SCEP_SQLITE_BUSY_TIMEOUT_MS);

    /* WAL is a property of the file: a new connection sees it too. */
    struct test_raw *db = raw_open(f);
    assert_string_equal(raw_text(db, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
    test_raw_close(db);
}

/* ---- CAs and aliases -------------------------------------------------------- */

static void ca_crud(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    scep_store_ca ca2 = {
        .name = "ca2", .cert_pem = "PEM2", .key_ref = "pkcs11:token=ca2", .chain_pem = "CHAIN"};
    assert_int_equal(scep_store_ca_add(f->store, &ca2), SCEP_OK);
    assert_int_equal(scep_store_ca_add(f->store, &ca2), SCEP_EEXISTS);

    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca2"), SCEP_OK);
    assert_string_equal(ca->name, "ca2");
    assert_string_equal(ca->cert_pem, "PEM2");
    assert_string_equal(ca->key_ref, "pkcs11:token=ca2");
    assert_string_equal(ca->chain_pem, "CHAIN");
    assert_null(ca->next_cert_pem);
    assert_int_equal(ca->crl_number, 0);
    assert_true(ca->created_at > 0);
    scep_store_ca_free(ca);
    ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, f->store, "missing"), SCEP_ENOTFOUND);
    assert_null(ca);

    assert_int_equal(scep_store_ca_set_next_cert(f->store, "ca2", "NEXT"), SCEP_OK);
    assert_int_equal(scep_store_ca_set_next_cert(f->store, "missing", "NEXT"), SCEP_ENOTFOUND);
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca2"), SCEP_OK);
    assert_string_equal(ca->next_cert_pem, "NEXT");
    scep_store_ca_free(ca);
    assert_int_equal(scep_store_ca_set_next_cert(f->store, "ca2", NULL), SCEP_OK);
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca2"), SCEP_OK);
    assert_null(ca->next_cert_pem);
    scep_store_ca_free(ca);

    /* A scheduled rollover: certificate, key reference and activation time together. */
    assert_int_equal(scep_store_ca_set_next(f->store, "ca2", "NEXT2", "/keys/next.key", 1900000000),
                     SCEP_OK);
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca2"), SCEP_OK);
    assert_string_equal(ca->next_cert_pem, "NEXT2");
    assert_string_equal(ca->next_key_ref, "/keys/next.key");
    assert_int_equal(ca->next_activate_at, 1900000000);
    scep_store_ca_free(ca);
    assert_int_equal(scep_store_ca_set_next(f->store, "ca2", "NEXT2", NULL, 1900000000),
                     SCEP_EINVAL);
    assert_int_equal(scep_store_ca_set_next(f->store, "ca2", "NEXT2", "/k", 0), SCEP_EINVAL);
    assert_int_equal(scep_store_ca_set_next(f->store, "missing", "N", "/k", 1), SCEP_ENOTFOUND);
    /* The older setter announces a certificate only: no key, no activation. */
    assert_int_equal(scep_store_ca_set_next_cert(f->store, "ca2", "NEXT3"), SCEP_OK);
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca2"), SCEP_OK);
    assert_string_equal(ca->next_cert_pem, "NEXT3");
    assert_null(ca->next_key_ref);
    assert_int_equal(ca->next_activate_at, 0);
    scep_store_ca_free(ca);
    assert_int_equal(scep_store_ca_set_next(f->store, "ca2", NULL, NULL, 0), SCEP_OK);
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca2"), SCEP_OK);
    assert_null(ca->next_cert_pem);
    assert_null(ca->next_key_ref);
    scep_store_ca_free(ca);

    int64_t crl = 0;
    assert_int_equal(scep_store_ca_next_crl_number(&crl, f->store, "ca2"), SCEP_OK);
    assert_int_equal(crl, 1);
    assert_int_equal(scep_store_ca_next_crl_number(&crl, f->store, "ca2"), SCEP_OK);
    assert_int_equal(crl, 2);
    assert_int_equal(scep_store_ca_next_crl_number(&crl, f->store, "ca1"), SCEP_OK);
    assert_int_equal(crl, 1);
    assert_int_equal(scep_store_ca_next_crl_number(&crl, f->store, "missing"), SCEP_ENOTFOUND);

    scep_store_ca *list = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_ca_list(&list, &count, f->store), SCEP_OK);
    assert_int_equal(count, 2);
    assert_string_equal(list[0].name, "ca1");
    assert_string_equal(list[1].name, "ca2");
    assert_int_equal(list[1].crl_number, 2);
    scep_store_ca_list_free(list, count);

    scep_store_ca bad = {.name = "", .cert_pem = "x", .key_ref = "y"};
    assert_int_equal(scep_store_ca_add(f->store, &bad), SCEP_EINVAL);
}

static void alias_settings_crud(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(scep_store_alias_add(f->store, "routers"), SCEP_OK);
    assert_int_equal(scep_store_alias_add(f->store, "routers"), SCEP_EEXISTS);
    /* Setting a key creates a missing alias. */
    assert_int_equal(scep_store_alias_setting_set(f->store, "mdm", "operationmode", "ra"), SCEP_OK);
    assert_int_equal(scep_store_alias_setting_set(f->store, "routers", "operationmode", "ca"),
                     SCEP_OK);
    assert_int_equal(scep_store_alias_setting_set(f->store, "routers", "includeca", "true"),
                     SCEP_OK);
    assert_int_equal(scep_store_alias_setting_set(f->store, "routers", "includeca", "false"),
                     SCEP_OK);

    char *value = NULL;
    assert_int_equal(scep_store_alias_setting_get(&value, f->store, "routers", "includeca"),
                     SCEP_OK);
    assert_string_equal(value, "false");
    scep_store_string_free(value);
    assert_int_equal(scep_store_alias_setting_get(&value, f->store, "routers", "nope"),
                     SCEP_ENOTFOUND);
    assert_null(value);

    scep_store_setting *settings = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_alias_setting_list(&settings, &count, f->store, "routers"),
                     SCEP_OK);
    assert_int_equal(count, 2);
    assert_string_equal(settings[0].key, "includeca");
    assert_string_equal(settings[0].value, "false");
    assert_string_equal(settings[1].key, "operationmode");
    assert_string_equal(settings[1].value, "ca");
    scep_store_setting_list_free(settings, count);

    char **aliases = NULL;
    assert_int_equal(scep_store_alias_list(&aliases, &count, f->store), SCEP_OK);
    assert_int_equal(count, 2);
    assert_string_equal(aliases[0], "mdm");
    assert_string_equal(aliases[1], "routers");
    scep_store_string_list_free(aliases, count);

    assert_int_equal(scep_store_alias_setting_remove(f->store, "routers", "includeca"), SCEP_OK);
    assert_int_equal(scep_store_alias_setting_remove(f->store, "routers", "includeca"),
                     SCEP_ENOTFOUND);

    /* Removing an alias removes its settings (ON DELETE CASCADE). */
    assert_int_equal(scep_store_alias_remove(f->store, "routers"), SCEP_OK);
    assert_int_equal(scep_store_alias_remove(f->store, "routers"), SCEP_ENOTFOUND);
    struct test_raw *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM alias_settings WHERE alias = 'routers'"), 0);
    test_raw_close(db);
}

/* ---- end entities and passwords --------------------------------------------------- */

static void end_entity_crud(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    add_ee(f->store, "router1", "s3cret-enrol");
    add_ee(f->store, "router2", "other");

    scep_store_end_entity dup = {.username = "router1", .subject_dn = "CN=x", .ca_name = "ca1"};
    assert_int_equal(scep_store_ee_add(f->store, &dup, "pw"), SCEP_EEXISTS);

    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, f->store, "router1"), SCEP_OK);
    assert_string_equal(ee->username, "router1");
    assert_string_equal(ee->subject_dn, "CN=router1,O=Example");
    assert_string_equal(ee->profile, "router");
    assert_string_equal(ee->ca_name, "ca1");
    assert_int_equal(ee->status, SCEP_EE_NEW);
    scep_store_ee_free(ee);
    ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, f->store, "nobody"), SCEP_ENOTFOUND);

    assert_int_equal(scep_store_ee_set_status(f->store, "router2", SCEP_EE_DISABLED), SCEP_OK);
    assert_int_equal(scep_store_ee_set_status(f->store, "nobody", SCEP_EE_DISABLED),
                     SCEP_ENOTFOUND);
    assert_int_equal(scep_store_ee_set_status(f->store, "router2", (scep_store_ee_status)99),
                     SCEP_EINVAL);

    scep_store_end_entity *list = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_ee_list(&list, &count, f->store), SCEP_OK);
    assert_int_equal(count, 2);
    assert_string_equal(list[0].username, "router1");
    assert_int_equal(list[1].status, SCEP_EE_DISABLED);
    scep_store_ee_list_free(list, count);

    assert_int_equal(scep_store_ee_remove(f->store, "router2"), SCEP_OK);
    assert_int_equal(scep_store_ee_remove(f->store, "router2"), SCEP_ENOTFOUND);
}

static void passwords_are_hashed_and_verified(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    add_ee(f->store, "router1", "s3cret-enrol");
    add_ee(f->store, "router2", "s3cret-enrol");

    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_verify_password(&ee, f->store, "router1", "s3cret-enrol"),
                     SCEP_OK);
    assert_non_null(ee);
    assert_string_equal(ee->username, "router1");
    scep_store_ee_free(ee);
    ee = NULL;
    assert_int_equal(scep_store_ee_verify_password(&ee, f->store, "router1", "s3cret-enroL"),
                     SCEP_EDENIED);
    assert_null(ee);
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "router1", ""), SCEP_EDENIED);
    /* An unknown user is indistinguishable from a wrong password. */
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "nobody", "s3cret-enrol"),
                     SCEP_EDENIED);

    struct test_raw *db = raw_open(f);
    char h1[256];
    char h2[256];
    raw_text(db, "SELECT password_hash FROM end_entities WHERE username = 'router1'", h1,
             sizeof(h1));
    raw_text(db, "SELECT password_hash FROM end_entities WHERE username = 'router2'", h2,
             sizeof(h2));
    assert_null(strstr(h1, "s3cret"));
    assert_true(strncmp(h1, "pbkdf2-sha256$10000$", 20) == 0);
    /* A per-record salt: the same password hashes differently. */
    assert_string_not_equal(h1, h2);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM end_entities WHERE "
                                 "password_hash LIKE '%s3cret%'"),
                     0);

    /* Reset: back to NEW with a new password; the old one stops working. */
    assert_int_equal(scep_store_ee_set_status(f->store, "router1", SCEP_EE_GENERATED), SCEP_OK);
    assert_int_equal(scep_store_set_password_iterations(f->store, 2000), SCEP_OK);
    assert_int_equal(scep_store_ee_reset(f->store, "router1", "new-code"), SCEP_OK);
    assert_int_equal(scep_store_ee_reset(f->store, "nobody", "new-code"), SCEP_ENOTFOUND);
    assert_int_equal(scep_store_ee_verify_password(&ee, f->store, "router1", "new-code"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_NEW);
    scep_store_ee_free(ee);
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "router1", "s3cret-enrol"),
                     SCEP_EDENIED);
    raw_text(db, "SELECT password_hash FROM end_entities WHERE username = 'router1'", h1,
             sizeof(h1));
    assert_true(strncmp(h1, "pbkdf2-sha256$2000$", 19) == 0);
    /* Hashes made with another iteration count still verify. */
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "router2", "s3cret-enrol"),
                     SCEP_OK);

    /* A tampered hash is a storage error, never a match. */
    test_raw_exec(db, "UPDATE end_entities SET password_hash = 'md5$abc' "
                      "WHERE username = 'router2'");
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "router2", "s3cret-enrol"),
                     SCEP_ESTORE);
    test_raw_close(db);

    assert_int_equal(scep_store_set_password_iterations(f->store, 10), SCEP_EINVAL);
    assert_int_equal(scep_store_set_password_iterations(f->store, 0xffffffffu), SCEP_EINVAL);
}

/* ---- requests --------------------------------------------------------------------- */

static void request_insert_or_get_returns_the_existing_row(void **state)
{
    struct fixture *f = *state;
    scep_store_request req = {
        .alias = "routers",
        .transaction_id = "ABCDEF0123",
        .message_type = 19,
        .csr_der = fake_der,
        .csr_der_len = sizeof(fake_der),
        .signer_cert_der = fake_der,
        .signer_cert_der_len = 3,
        .fail_info = SCEP_STORE_NO_FAIL_INFO,
        .client_addr = "192.0.2.7",
    };
    memset(req.public_key_sha256, 0xAA, sizeof(req.public_key_sha256));

    scep_store_request *first = NULL;
    int created = 0;
    assert_int_equal(scep_store_request_get_or_insert(&first, &created, f->store, &req), SCEP_OK);
    assert_int_equal(created, 1);
    assert_int_equal(first->status, SCEP_REQ_PENDING);
    assert_int_equal(first->message_type, 19);
    assert_int_equal(first->csr_der_len, sizeof(fake_der));
    assert_memory_equal(first->csr_der, fake_der, sizeof(fake_der));
    assert_int_equal(first->signer_cert_der_len, 3);
    assert_int_equal(first->fail_info, SCEP_STORE_NO_FAIL_INFO);
    assert_string_equal(first->client_addr, "192.0.2.7");
    assert_null(first->cert_serial);

    /* A retransmission (here even with another key) gets the stored row back. */
    scep_store_request again = req;
    memset(again.public_key_sha256, 0xBB, sizeof(again.public_key_sha256));
    again.csr_der_len = 2;
    scep_store_request *second = NULL;
    assert_int_equal(scep_store_request_get_or_insert(&second, &created, f->store, &again),
                     SCEP_OK);
    assert_int_equal(created, 0);
    assert_int_equal(second->id, first->id);
    assert_int_equal(second->csr_der_len, sizeof(fake_der));
    assert_int_equal(second->public_key_sha256[0], 0xAA);
    scep_store_request_free(second);

    /* The same transactionID on another alias is another transaction. */
    again.alias = "mdm";
    assert_int_equal(scep_store_request_get_or_insert(&second, &created, f->store, &again),
                     SCEP_OK);
    assert_int_equal(created, 1);
    assert_true(second->id != first->id);
    scep_store_request_free(second);

    assert_int_equal(scep_store_request_update(f->store, first->id, SCEP_REQ_REJECTED,
                                               SCEP_FAIL_BAD_REQUEST, "policy says no"),
                     SCEP_OK);
    assert_int_equal(scep_store_request_update(f->store, first->id, SCEP_REQ_ISSUED,
                                               SCEP_STORE_NO_FAIL_INFO, NULL),
                     SCEP_EINVAL);
    assert_int_equal(
        scep_store_request_update(f->store, 99999, SCEP_REQ_FAILED, SCEP_STORE_NO_FAIL_INFO, NULL),
        SCEP_ENOTFOUND);

    scep_store_request *got = NULL;
    assert_int_equal(scep_store_request_get(&got, f->store, first->id), SCEP_OK);
    assert_int_equal(got->status, SCEP_REQ_REJECTED);
    assert_int_equal(got->fail_info, SCEP_FAIL_BAD_REQUEST);
    assert_string_equal(got->reason, "policy says no");
    scep_store_request_free(got);
    assert_int_equal(scep_store_request_find(&got, f->store, "routers", "ABCDEF0123"), SCEP_OK);
    assert_int_equal(got->id, first->id);
    scep_store_request_free(got);
    assert_int_equal(scep_store_request_find(&got, f->store, "routers", "nope"), SCEP_ENOTFOUND);
    assert_int_equal(scep_store_request_get(&got, f->store, 424242), SCEP_ENOTFOUND);

    scep_store_request *list = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_request_list(&list, &count, f->store, SCEP_REQ_PENDING, 0),
                     SCEP_OK);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].alias, "mdm");
    scep_store_request_list_free(list, count);
    assert_int_equal(scep_store_request_list(&list, &count, f->store, SCEP_REQ_REJECTED, 0),
                     SCEP_OK);
    assert_int_equal(count, 1);
    assert_int_equal(list[0].id, first->id);
    scep_store_request_list_free(list, count);
    assert_int_equal(scep_store_request_list(&list, &count, f->store, 0, 1), SCEP_OK);
    assert_int_equal(count, 1);
    scep_store_request_list_free(list, count);

    int64_t n = -1;
    assert_int_equal(scep_store_request_count(&n, f->store, SCEP_REQ_PENDING, NULL), SCEP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(scep_store_request_count(&n, f->store, 0, NULL), SCEP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(scep_store_request_count(&n, f->store, SCEP_REQ_REJECTED, "policy says no"),
                     SCEP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(scep_store_request_count(&n, f->store, SCEP_REQ_PENDING, "policy says no"),
                     SCEP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(scep_store_request_count(&n, f->store, (scep_store_request_status)9, NULL),
                     SCEP_EINVAL);
    assert_int_equal(scep_store_request_count(NULL, f->store, 0, NULL), SCEP_EINVAL);
    scep_store_request_free(first);
}

/* ---- certificates ----------------------------------------------------------------------- */

static void duplicate_serial_is_refused_by_the_constraint(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    add_ca(f->store, "ca2");
    scep_store_cert cert = make_cert("ca1", "0a1b2c");
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_OK);
    /* The same number spelt differently is the same serial. */
    cert.serial = "A1B2C";
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EEXISTS);
    cert.serial = "000a1b2c";
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EEXISTS);
    /* Serials are unique per CA. */
    cert.ca_name = "ca2";
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_OK);
    cert.ca_name = "missing";
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_ENOTFOUND);

    cert.ca_name = "ca1";
    cert.serial = "xyz";
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EINVAL);
    cert.serial = "000";
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EINVAL);
    cert.serial = "112233445566778899AABBCCDDEEFF0011223344FF"; /* 21 octets */
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EINVAL);

    /* The constraint itself, below the API's normalisation. */
    struct test_raw *db = raw_open(f);
    char error[512];
    assert_int_equal(test_raw_try(db,
                                  dialect("INSERT INTO certificates (ca_name, serial, subject, "
                                          "issuer, not_before, not_after, der, status, "
                                          "created_at) VALUES ('ca1', '0A1B2C', 's', 'i', 0, 0, "
                                          "x'30', 'VALID', 0)",
                                          "INSERT INTO certificates (ca_name, serial, subject, "
                                          "issuer, not_before, not_after, der, status, "
                                          "created_at) VALUES ('ca1', '0A1B2C', 's', 'i', 0, 0, "
                                          "'\\x30'::bytea, 'VALID', 0)"),
                                  error, sizeof(error)),
                     -1);
    if (strstr(error, "UNIQUE constraint") == NULL && strstr(error, "duplicate key") == NULL)
        fail_msg("not the uniqueness constraint: %s", error);
    test_raw_close(db);

    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "a1b2c"), SCEP_OK);
    assert_string_equal(got->serial, "0A1B2C");
    assert_string_equal(got->ca_name, "ca1");
    assert_string_equal(got->subject, "CN=router1,O=Example");
    assert_string_equal(got->issuer, "CN=Test CA");
    assert_int_equal(got->not_before, 1700000000);
    assert_int_equal(got->not_after, 1800000000);
    assert_int_equal(got->der_len, sizeof(fake_der));
    assert_memory_equal(got->der, fake_der, sizeof(fake_der));
    assert_int_equal(got->status, SCEP_CERT_VALID);
    assert_int_equal(got->revocation_reason, SCEP_STORE_NO_REASON);
    assert_string_equal(got->transaction_id, "TID-1");
    scep_store_cert_free(got);
    got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "ff"), SCEP_ENOTFOUND);

    scep_store_cert *list = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, NULL), SCEP_OK);
    assert_int_equal(count, 2);
    scep_store_cert_list_free(list, count);
    scep_store_cert_filter filter = {.ca_name = "ca2"};
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].ca_name, "ca2");
    scep_store_cert_list_free(list, count);

    /* By subject: exact, and combined with the other filters. */
    filter = (scep_store_cert_filter){.subject = "CN=router1,O=Example"};
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 2);
    scep_store_cert_list_free(list, count);
    filter.ca_name = "ca1";
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].serial, "0A1B2C");
    scep_store_cert_list_free(list, count);
    filter.status = SCEP_CERT_REVOKED;
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 0);
    scep_store_cert_list_free(list, count);
    filter = (scep_store_cert_filter){.subject = "CN=router1"};
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 0);
    scep_store_cert_list_free(list, count);
}

static void revocations_are_listed_for_the_crl(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    add_ca(f->store, "ca2");
    const char *serials[] = {"01", "02", "03"};
    for (size_t i = 0; i < 3; i++) {
        scep_store_cert cert = make_cert("ca1", serials[i]);
        assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_OK);
    }
    scep_store_cert other = make_cert("ca2", "02");
    assert_int_equal(scep_store_cert_add(f->store, &other), SCEP_OK);

    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "02", 1750000000, 1), SCEP_OK);
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "3", 0, SCEP_STORE_NO_REASON),
                     SCEP_OK);
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "02", 0, 1), SCEP_ESTATE);
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "77", 0, 1), SCEP_ENOTFOUND);
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "01", 0, 7), SCEP_EINVAL);

    scep_store_revoked *revoked = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_cert_list_revoked(&revoked, &count, f->store, "ca1"), SCEP_OK);
    assert_int_equal(count, 2);
    assert_string_equal(revoked[0].serial, "02");
    assert_int_equal(revoked[0].revoked_at, 1750000000);
    assert_int_equal(revoked[0].reason, 1);
    assert_string_equal(revoked[1].serial, "03");
    assert_true(revoked[1].revoked_at >= (int64_t)time(NULL) - 60);
    assert_int_equal(revoked[1].reason, SCEP_STORE_NO_REASON);
    scep_store_revoked_list_free(revoked, count);

    assert_int_equal(scep_store_cert_list_revoked(&revoked, &count, f->store, "ca2"), SCEP_OK);
    assert_int_equal(count, 0);
    scep_store_revoked_list_free(revoked, count);

    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "2"), SCEP_OK);
    assert_int_equal(got->status, SCEP_CERT_REVOKED);
    assert_int_equal(got->revocation_reason, 1);
    scep_store_cert_free(got);

    scep_store_cert *list = NULL;
    scep_store_cert_filter filter = {.ca_name = "ca1", .status = SCEP_CERT_VALID};
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, &filter), SCEP_OK);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].serial, "01");
    scep_store_cert_list_free(list, count);
}

/* ---- the atomic issuance step ----------------------------------------------------------- */

static void issuance_in_ca_mode_is_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    add_ee(f->store, "router1", "code");
    add_ee(f->store, "router2", "code");
    int64_t req1 = add_request(f->store, "routers", "TID-1", 1);
    int64_t req2 = add_request(f->store, "routers", "TID-2", 2);

    scep_store_cert cert = make_cert("ca1", "1001");
    scep_store_issuance issuance = {.cert = &cert,
                                    .request_id = req1,
                                    .username = "router1",
                                    .actor = "192.0.2.1",
                                    .alias = "routers"};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);

    scep_store_request *req = NULL;
    assert_int_equal(scep_store_request_get(&req, f->store, req1), SCEP_OK);
    assert_int_equal(req->status, SCEP_REQ_ISSUED);
    assert_string_equal(req->cert_serial, "1001");
    assert_string_equal(req->ca_name, "ca1");
    scep_store_request_free(req);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, f->store, "router1"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    scep_store_ee_free(ee);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "1001"), SCEP_OK);
    assert_string_equal(got->username, "router1");
    scep_store_cert_free(got);

    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, f->store, 10), SCEP_OK);
    assert_int_equal(count, 1);
    assert_string_equal(events[0].action, "issue");
    assert_string_equal(events[0].outcome, "success");
    assert_string_equal(events[0].actor, "192.0.2.1");
    assert_string_equal(events[0].alias, "routers");
    assert_string_equal(events[0].transaction_id, "TID-1");
    assert_non_null(strstr(events[0].detail, "serial=1001"));
    scep_store_audit_list_free(events, count);

    /* One-time use: the end entity is GENERATED now. */
    cert.serial = "1002";
    issuance.request_id = req2;
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ESTATE);
    /* ... and nothing of the failed attempt was kept. */
    assert_int_equal(scep_store_request_get(&req, f->store, req2), SCEP_OK);
    assert_int_equal(req->status, SCEP_REQ_PENDING);
    scep_store_request_free(req);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "1002"), SCEP_ENOTFOUND);

    /* A serial collision is SCEP_EEXISTS and rolls back the whole step. */
    cert.serial = "1001";
    issuance.username = "router2";
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_EEXISTS);
    assert_int_equal(scep_store_ee_get(&ee, f->store, "router2"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_NEW);
    scep_store_ee_free(ee);
    assert_int_equal(scep_store_request_get(&req, f->store, req2), SCEP_OK);
    assert_int_equal(req->status, SCEP_REQ_PENDING);
    scep_store_request_free(req);
    /* The retry with a fresh serial succeeds. */
    cert.serial = "1003";
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);

    issuance.username = "nobody";
    issuance.request_id = 0;
    cert.serial = "1004";
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ENOTFOUND);

    assert_int_equal(scep_store_audit_list(&events, &count, f->store, 0), SCEP_OK);
    assert_int_equal(count, 2);
    scep_store_audit_list_free(events, count);
}

static void issuance_in_ra_mode_needs_no_end_entity(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    int64_t req1 = add_request(f->store, "mdm", "TID-RA", 3);
    scep_store_cert cert = make_cert("ca1", "2001");
    cert.transaction_id = NULL;
    scep_store_issuance issuance = {.cert = &cert, .request_id = req1};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
    /* The request supplies the transactionID and alias the caller left out. */
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "2001"), SCEP_OK);
    assert_string_equal(got->transaction_id, "TID-RA");
    scep_store_cert_free(got);
    scep_store_audit_event *events = NULL;
    size_t n_events = 0;
    assert_int_equal(scep_store_audit_list(&events, &n_events, f->store, 1), SCEP_OK);
    assert_int_equal(n_events, 1);
    assert_string_equal(events[0].alias, "mdm");
    assert_string_equal(events[0].transaction_id, "TID-RA");
    assert_string_equal(events[0].actor, "scepd");
    scep_store_audit_list_free(events, n_events);
    /* The request was answered: a second issuance for it is refused. */
    cert.serial = "2002";
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ESTATE);
    /* An ISSUED request cannot be turned into a failure afterwards. */
    assert_int_equal(
        scep_store_request_update(f->store, req1, SCEP_REQ_FAILED, SCEP_FAIL_BAD_REQUEST, NULL),
        SCEP_ESTATE);
    issuance.request_id = 4242;
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ENOTFOUND);

    scep_store_cert *list = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_cert_list(&list, &count, f->store, NULL), SCEP_OK);
    assert_int_equal(count, 1);
    assert_null(list[0].username);
    scep_store_cert_list_free(list, count);
}

/* A server opens only an existing database: a wrong path is an error naming it, no file. */
static void open_existing_refuses_a_missing_database(void **state)
{
    struct fixture *f = *state;
    TEST_SQLITE_ONLY("database files");
    char path[4200], url[4300];
    snprintf(path, sizeof(path), "%s/missing.db", f->dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    scep_store *store = NULL;
    assert_int_equal(scep_store_open_existing(&store, url), SCEP_ENOTFOUND);
    assert_null(store);
    assert_non_null(strstr(scep_error_message(), path));
    assert_int_equal(access(path, F_OK), -1);
    /* The fixture's database exists: opened as usual. */
    assert_int_equal(scep_store_open_existing(&store, f->url), SCEP_OK);
    scep_store_close(store);
}

/* A database scep_store_open creates is 0600 whatever the umask, and so are -wal and -shm. */
static void new_database_is_private(void **state)
{
    struct fixture *f = *state;
    TEST_SQLITE_ONLY("database files");
    char path[4200], url[4300], side[4300];
    snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    mode_t old = umask(022);
    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, url), SCEP_OK);
    add_ca(store, "ca1");
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    static const char *const suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(side, sizeof(side), "%s%s", path, suffixes[i]);
        if (stat(side, &st) == 0)
            assert_int_equal(st.st_mode & 0777, 0600);
    }
    scep_store_close(store);
}

static void set_request_time(const struct fixture *f, int64_t id, int64_t when)
{
    struct test_raw *db = raw_open(f);
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE requests SET updated_at = %lld WHERE id = %lld",
             (long long)when, (long long)id);
    test_raw_exec(db, sql);
    test_raw_close(db);
}

static int request_exists(scep_store *store, int64_t id)
{
    scep_store_request *row = NULL;
    int rc = scep_store_request_get(&row, store, id);
    scep_store_request_free(row);
    return rc == SCEP_OK;
}

/* Purge: old refused and failed requests go; pending ones never; issued ones on request. */
static void request_purge_deletes_old_finished_transactions(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    int64_t now = (int64_t)time(NULL);
    int64_t old_rejected = add_request(f->store, "a", "T-REJ", 1);
    int64_t old_failed = add_request(f->store, "a", "T-FAIL", 2);
    int64_t new_failed = add_request(f->store, "a", "T-FAIL-NEW", 3);
    int64_t old_pending = add_request(f->store, "a", "T-PEND", 4);
    int64_t old_issued = add_request(f->store, "a", "T-ISS", 5);
    assert_int_equal(scep_store_request_update(f->store, old_rejected, SCEP_REQ_REJECTED,
                                               SCEP_FAIL_BAD_REQUEST, "no"),
                     SCEP_OK);
    assert_int_equal(scep_store_request_update(f->store, old_failed, SCEP_REQ_FAILED,
                                               SCEP_FAIL_BAD_REQUEST, NULL),
                     SCEP_OK);
    assert_int_equal(scep_store_request_update(f->store, new_failed, SCEP_REQ_FAILED,
                                               SCEP_FAIL_BAD_REQUEST, NULL),
                     SCEP_OK);
    scep_store_cert cert = make_cert("ca1", "3001");
    cert.transaction_id = NULL;
    scep_store_issuance issuance = {.cert = &cert, .request_id = old_issued};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
    int64_t ids[] = {old_rejected, old_failed, old_pending, old_issued};
    for (size_t i = 0; i < 4; i++)
        set_request_time(f, ids[i], now - 40 * 86400);

    size_t count = 99;
    assert_int_equal(scep_store_request_purge(&count, f->store, now - 30 * 86400, 0), SCEP_OK);
    assert_int_equal(count, 2);
    assert_false(request_exists(f->store, old_rejected));
    assert_false(request_exists(f->store, old_failed));
    assert_true(request_exists(f->store, new_failed));
    assert_true(request_exists(f->store, old_pending));
    assert_true(request_exists(f->store, old_issued));

    assert_int_equal(
        scep_store_request_purge(&count, f->store, now - 30 * 86400, SCEP_STORE_PURGE_ISSUED),
        SCEP_OK);
    assert_int_equal(count, 1);
    assert_false(request_exists(f->store, old_issued));
    assert_true(request_exists(f->store, old_pending));
    /* The certificate row keeps the transaction's record. */
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "3001"), SCEP_OK);
    assert_string_equal(got->transaction_id, "T-ISS");
    scep_store_cert_free(got);
    /* The transactionID is free again: a retransmission starts a new transaction. */
    scep_store_request *row = NULL;
    assert_int_equal(scep_store_request_find(&row, f->store, "a", "T-REJ"), SCEP_ENOTFOUND);
    scep_store_request_free(row);

    assert_int_equal(scep_store_request_purge(NULL, f->store, now + 10, 0), SCEP_OK);
    assert_false(request_exists(f->store, new_failed));
    assert_int_equal(scep_store_request_purge(&count, f->store, now, 0x80), SCEP_EINVAL);
    assert_int_equal(scep_store_request_purge(&count, NULL, now, 0), SCEP_EINVAL);
}

/* Renewal: the replaced certificate is revoked (superseded) in the issuing transaction. */
/* A renewal issues only while the renewed certificate is VALID and its end entity active,
 * checked inside the issuance transaction (a renewal held for approval waits for hours). */
static void renewal_checks_the_renewed_certificate_and_end_entity(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    scep_store_end_entity ee = {
        .username = "router2", .subject_dn = "CN=router2", .ca_name = "ca1"};
    assert_int_equal(scep_store_ee_add(f->store, &ee, "pw"), SCEP_OK);
    scep_store_cert old = make_cert("ca1", "0B01");
    old.username = "router2";
    assert_int_equal(scep_store_cert_add(f->store, &old), SCEP_OK);
    /* Positive control. */
    scep_store_cert fresh = make_cert("ca1", "0B02");
    fresh.username = "router2";
    scep_store_issuance issuance = {.cert = &fresh,
                                    .request_id = add_request(f->store, "r", "TID-B1", 1),
                                    .renews_serial = "0B01",
                                    .renewal_username = "router2"};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
    /* The renewed certificate revoked meanwhile: nothing is issued. */
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "0B01", 0, 1), SCEP_OK);
    fresh.serial = "0B03";
    issuance.request_id = add_request(f->store, "r", "TID-B2", 2);
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ESTATE);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "0B03"), SCEP_ENOTFOUND);
    /* A valid certificate, but its end entity disabled meanwhile: nothing is issued. */
    issuance.renews_serial = "0B02";
    assert_int_equal(scep_store_ee_set_status(f->store, "router2", SCEP_EE_DISABLED), SCEP_OK);
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ESTATE);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "0B03"), SCEP_ENOTFOUND);
    /* Active again: the renewal issues. */
    assert_int_equal(scep_store_ee_set_status(f->store, "router2", SCEP_EE_GENERATED), SCEP_OK);
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
}

static void issuance_can_revoke_the_replaced_certificate(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    scep_store_cert old = make_cert("ca1", "0A01");
    old.username = "router1";
    assert_int_equal(scep_store_cert_add(f->store, &old), SCEP_OK);
    int64_t req1 = add_request(f->store, "routers", "TID-R1", 1);
    int64_t req2 = add_request(f->store, "routers", "TID-R2", 2);

    scep_store_cert fresh = make_cert("ca1", "0A02");
    fresh.username = "router1";
    scep_store_issuance issuance = {.cert = &fresh,
                                    .request_id = req1,
                                    .revoke_serial = "a01",
                                    .revoke_reason = 4,
                                    .alias = "routers"};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "A01"), SCEP_OK);
    assert_int_equal(got->status, SCEP_CERT_REVOKED);
    assert_int_equal(got->revocation_reason, 4);
    assert_true(got->revoked_at > 0);
    scep_store_cert_free(got);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "A02"), SCEP_OK);
    assert_int_equal(got->status, SCEP_CERT_VALID);
    scep_store_cert_free(got);
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, f->store, 10), SCEP_OK);
    assert_int_equal(count, 2);
    int revoke_events = 0;
    for (size_t i = 0; i < count; i++)
        revoke_events += strcmp(events[i].action, "revoke") == 0 &&
                         strstr(events[i].detail, "replaced_by=0A02") != NULL;
    assert_int_equal(revoke_events, 1);
    scep_store_audit_list_free(events, count);

    /* A second renewal of the same (now revoked) certificate: nothing is issued. */
    fresh.serial = "0A03";
    issuance.request_id = req2;
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ESTATE);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "A03"), SCEP_ENOTFOUND);
    scep_store_request *req = NULL;
    assert_int_equal(scep_store_request_get(&req, f->store, req2), SCEP_OK);
    assert_int_equal(req->status, SCEP_REQ_PENDING);
    scep_store_request_free(req);
    /* A missing certificate to revoke is SCEP_ENOTFOUND, also all or nothing. */
    issuance.revoke_serial = "BEEF";
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ENOTFOUND);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "A03"), SCEP_ENOTFOUND);
    /* Bad input. */
    issuance.revoke_serial = "A01";
    issuance.revoke_reason = 7;
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_EINVAL);
    issuance.revoke_serial = "0A03";
    issuance.revoke_reason = 4;
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_EINVAL);
}

/* RA mode: the end entity is created inside the issuance, reused, or refused by policy. */
static void ra_issuance_creates_or_reuses_the_end_entity(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    scep_store_ra_entity ra = {.username = "ra-dev",
                               .subject_dn = "CN=ra-dev,O=Example",
                               .ca_name = "ca1",
                               .alias = "ra",
                               .sans = "dns:ra-dev.example"};
    scep_store_cert cert = make_cert("ca1", "3001");
    cert.transaction_id = NULL;
    scep_store_issuance issuance = {.cert = &cert,
                                    .request_id = add_request(f->store, "ra", "T1", 1)};
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_OK);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, f->store, "ra-dev"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    assert_string_equal(ee->subject_dn, "CN=ra-dev,O=Example");
    assert_string_equal(ee->ra_alias, "ra");
    assert_string_equal(ee->alias, "ra");
    assert_string_equal(ee->sans, "dns:ra-dev.example");
    scep_store_ee_free(ee);
    /* Its names come from its requests: scepctl cannot register others for it. */
    scep_store_end_entity renamed = {.username = "ra-dev", .subject_dn = "CN=admin"};
    assert_int_equal(scep_store_ee_update(f->store, &renamed), SCEP_EDENIED);
    /* No password works for an RA-created end entity. */
    assert_int_not_equal(scep_store_ee_verify_password(NULL, f->store, "ra-dev", "!"), SCEP_OK);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "3001"), SCEP_OK);
    assert_string_equal(got->username, "ra-dev");
    scep_store_cert_free(got);

    /* Reissue (the default): a second certificate for the same username. */
    ra.subject_dn = "CN=ra-dev,O=Other";
    cert.serial = "3002";
    issuance.request_id = add_request(f->store, "ra", "T2", 2);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_OK);
    assert_int_equal(scep_store_ee_get(&ee, f->store, "ra-dev"), SCEP_OK);
    assert_string_equal(ee->subject_dn, "CN=ra-dev,O=Other");
    scep_store_ee_free(ee);

    /* Refuse: nothing is written, the request stays PENDING. */
    ra.on_existing = SCEP_STORE_RA_REFUSE;
    cert.serial = "3003";
    issuance.request_id = add_request(f->store, "ra", "T3", 3);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_EDENIED);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "3003"), SCEP_ENOTFOUND);
    scep_store_request *req = NULL;
    assert_int_equal(scep_store_request_get(&req, f->store, issuance.request_id), SCEP_OK);
    assert_int_equal(req->status, SCEP_REQ_PENDING);
    scep_store_request_free(req);

    /* Once the certificates are revoked, refuse lets the username enroll again. */
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "3001", 0, 1), SCEP_OK);
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "3002", 0, 1), SCEP_OK);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_OK);

    /* Another RA alias may not take the name over: its namespace is its own. */
    ra.on_existing = SCEP_STORE_RA_REISSUE;
    ra.alias = "other-ra";
    cert.serial = "3005";
    issuance.request_id = add_request(f->store, "ra", "T5", 5);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_EDENIED);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "3005"), SCEP_ENOTFOUND);
    ra.alias = "ra";
    /* Nor a CA-mode end entity (positive control first: the RA's own name still issues). */
    scep_store_end_entity victim = {
        .username = "victim", .subject_dn = "CN=victim", .status = SCEP_EE_NEW, .ca_name = "ca1"};
    assert_int_equal(scep_store_ee_add(f->store, &victim, "code"), SCEP_OK);
    scep_store_ra_entity takeover = ra;
    takeover.username = "victim";
    takeover.subject_dn = "O=Attacker,CN=victim";
    cert.serial = "3006";
    issuance.request_id = add_request(f->store, "ra", "T6", 6);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &takeover), SCEP_EDENIED);
    assert_int_equal(scep_store_ee_get(&ee, f->store, "victim"), SCEP_OK);
    assert_string_equal(ee->subject_dn, "CN=victim");
    assert_int_equal(ee->status, SCEP_EE_NEW);
    assert_null(ee->ra_alias);
    scep_store_ee_free(ee);
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "victim", "code"), SCEP_OK);

    /* A REVOKED end entity is not revived, a DISABLED one never reused. */
    assert_int_equal(scep_store_ee_set_status(f->store, "ra-dev", SCEP_EE_REVOKED), SCEP_OK);
    cert.serial = "3007";
    issuance.request_id = add_request(f->store, "ra", "T7", 7);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_EDENIED);
    assert_int_equal(scep_store_ee_set_status(f->store, "ra-dev", SCEP_EE_DISABLED), SCEP_OK);
    cert.serial = "3004";
    issuance.request_id = add_request(f->store, "ra", "T4", 4);
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_EDENIED);
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "3004"), SCEP_ENOTFOUND);

    /* Bad arguments. */
    issuance.username = "someone-else";
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_EINVAL);
    issuance.username = NULL;
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, NULL), SCEP_EINVAL);
    ra.username = "";
    assert_int_equal(scep_store_issue_ra(f->store, &issuance, &ra), SCEP_EINVAL);
}

#define RACERS 8
#define ROUNDS 4

struct racer {
    const char *url;
    const char *username;
    pthread_barrier_t *barrier;
    int index;
    int round;
    int result;
};

static void *race_issue(void *arg)
{
    struct racer *r = arg;
    scep_store *store = NULL;
    r->result = scep_store_open(&store, r->url);
    pthread_barrier_wait(r->barrier);
    if (r->result != SCEP_OK)
        return NULL;
    char serial[32];
    snprintf(serial, sizeof(serial), "%X%02X", r->round + 1, r->index + 1);
    scep_store_cert cert = make_cert("ca1", serial);
    scep_store_issuance issuance = {.cert = &cert, .username = r->username, .actor = "racer"};
    r->result = scep_store_issue(store, &issuance);
    scep_store_close(store);
    return NULL;
}

static void one_time_use_holds_under_concurrency(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    for (int round = 0; round < ROUNDS; round++) {
        char username[32];
        snprintf(username, sizeof(username), "device%d", round);
        add_ee(f->store, username, "code");

        pthread_barrier_t barrier;
        assert_int_equal(pthread_barrier_init(&barrier, NULL, RACERS), 0);
        struct racer racers[RACERS];
        pthread_t threads[RACERS];
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (struct racer){.url = f->url,
                                       .username = username,
                                       .barrier = &barrier,
                                       .index = i,
                                       .round = round,
                                       .result = 1};
            assert_int_equal(pthread_create(&threads[i], NULL, race_issue, &racers[i]), 0);
        }
        int won = 0;
        int lost = 0;
        for (int i = 0; i < RACERS; i++) {
            assert_int_equal(pthread_join(threads[i], NULL), 0);
            if (racers[i].result == SCEP_OK)
                won++;
            else if (racers[i].result == SCEP_ESTATE)
                lost++;
            else
                fail_msg("racer %d: unexpected %s", i, scep_error_name(racers[i].result));
        }
        pthread_barrier_destroy(&barrier);
        assert_int_equal(won, 1);
        assert_int_equal(lost, RACERS - 1);

        struct test_raw *db = raw_open(f);
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM certificates WHERE username = '%s'",
                 username);
        assert_int_equal(raw_int(db, sql), 1);
        test_raw_close(db);
    }
}

struct opener {
    const char *url;
    const char *challenge;
    pthread_barrier_t *barrier;
    int result;
    char message[512]; /* the thread's error message when result is an error */
};

/* Opens a connection at the barrier; consumes `challenge` when given. */
static void *race_open(void *arg)
{
    struct opener *o = arg;
    scep_store *store = NULL;
    pthread_barrier_wait(o->barrier);
    o->result = scep_store_open(&store, o->url);
    if (o->result == SCEP_OK && o->challenge != NULL)
        o->result = scep_store_challenge_consume(NULL, store, "mdm", o->challenge);
    snprintf(o->message, sizeof(o->message), "%s", scep_error_message());
    scep_store_close(store);
    return NULL;
}

static void run_openers(struct opener *openers, int n)
{
    pthread_barrier_t barrier;
    pthread_t threads[RACERS];
    assert_true(n <= RACERS);
    assert_int_equal(pthread_barrier_init(&barrier, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++) {
        openers[i].barrier = &barrier;
        assert_int_equal(pthread_create(&threads[i], NULL, race_open, &openers[i]), 0);
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
}

static void concurrent_first_open_migrates_once(void **state)
{
    struct fixture *f = *state;
    char url[4300];
    char subdir[4200];
    snprintf(subdir, sizeof(subdir), "%s/fresh", f->dir);
    assert_int_equal(mkdir(subdir, 0700), 0);
    test_store_new_url(url, sizeof(url), subdir);
    struct opener openers[RACERS];
    for (int i = 0; i < RACERS; i++)
        openers[i] = (struct opener){.url = url, .result = 1};
    run_openers(openers, RACERS);
    for (int i = 0; i < RACERS; i++)
        if (openers[i].result != SCEP_OK)
            fail_msg("opener %d: %s: %s", i, scep_error_name(openers[i].result),
                     openers[i].message);

    struct test_raw *db = test_raw_open(url);
    assert_int_equal(
        raw_int(db, dialect("PRAGMA user_version", "SELECT version FROM schema_version")),
        scep_store_schema_version_supported());
    assert_int_equal(raw_int(db, dialect("SELECT count(*) FROM sqlite_master WHERE name = 'cas'",
                                         "SELECT count(*) FROM pg_tables WHERE tablename = 'cas'")),
                     1);
    /* One migration: the revision row was inserted once. */
    assert_int_equal(raw_int(db, "SELECT count(*) FROM config_revision"), 1);
    test_raw_close(db);
    test_store_drop(url);
}

static void challenge_race_has_one_winner(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(scep_store_challenge_add(f->store, "mdm", "race-challenge",
                                              (int64_t)time(NULL) + 600, NULL),
                     SCEP_OK);
    struct opener openers[RACERS];
    for (int i = 0; i < RACERS; i++)
        openers[i] = (struct opener){.url = f->url, .challenge = "race-challenge", .result = 1};
    run_openers(openers, RACERS);
    int won = 0;
    for (int i = 0; i < RACERS; i++) {
        if (openers[i].result == SCEP_OK)
            won++;
        else
            assert_int_equal(openers[i].result, SCEP_ESTATE);
    }
    assert_int_equal(won, 1);
}

/* ---- challenges and audit ------------------------------------------------------------- */

static void challenge_is_consumed_once(void **state)
{
    struct fixture *f = *state;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(
        scep_store_challenge_add(f->store, "mdm", "Zq3-random-challenge", now + 600, "CN=dev*"),
        SCEP_OK);
    assert_int_equal(
        scep_store_challenge_add(f->store, "mdm", "Zq3-random-challenge", now + 600, NULL),
        SCEP_EEXISTS);
    assert_int_equal(scep_store_challenge_add(f->store, "mdm", "old-challenge", now - 1, NULL),
                     SCEP_OK);

    /* Only the hash is stored. */
    struct test_raw *db = raw_open(f);
    assert_int_equal(
        raw_int(db, dialect("SELECT count(*) FROM challenges WHERE "
                            "instr(CAST(hash AS TEXT), 'Zq3') > 0 OR length(hash) <> 32",
                            "SELECT count(*) FROM challenges WHERE "
                            "position('Zq3' in encode(hash, 'escape')) > 0 "
                            "OR octet_length(hash) <> 32")),
        0);

    char *pattern = NULL;
    assert_int_equal(
        scep_store_challenge_consume(&pattern, f->store, "routers", "Zq3-random-challenge"),
        SCEP_EDENIED);
    assert_null(pattern);
    assert_int_equal(scep_store_challenge_consume(&pattern, f->store, "mdm", "wrong"),
                     SCEP_EDENIED);
    assert_int_equal(
        scep_store_challenge_consume(&pattern, f->store, "mdm", "Zq3-random-challenge"), SCEP_OK);
    assert_non_null(pattern);
    assert_string_equal(pattern, "CN=dev*");
    scep_store_string_free(pattern);
    pattern = NULL;
    assert_int_equal(scep_store_challenge_consume(NULL, f->store, "mdm", "Zq3-random-challenge"),
                     SCEP_ESTATE);
    assert_int_equal(scep_store_challenge_consume(NULL, f->store, "mdm", "old-challenge"),
                     SCEP_EDENIED);
    assert_non_null(strstr(scep_error_message(), "expired"));

    size_t purged = 0;
    assert_int_equal(scep_store_challenge_purge_expired(&purged, f->store), SCEP_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM challenges"), 1);
    test_raw_close(db);
}

static void audit_lists_most_recent_first(void **state)
{
    struct fixture *f = *state;
    scep_store_audit_event ev = {.time = 1000,
                                 .actor = "scepctl",
                                 .action = "ee.add",
                                 .outcome = "success",
                                 .detail = "username=router1"};
    assert_int_equal(scep_store_audit_append(f->store, &ev), SCEP_OK);
    ev.time = 2000;
    ev.action = "ee.reset";
    ev.alias = "routers";
    ev.transaction_id = "TID-9";
    assert_int_equal(scep_store_audit_append(f->store, &ev), SCEP_OK);
    ev.time = 0; /* now */
    ev.action = "revoke";
    ev.detail = NULL;
    assert_int_equal(scep_store_audit_append(f->store, &ev), SCEP_OK);
    ev.actor = NULL;
    assert_int_equal(scep_store_audit_append(f->store, &ev), SCEP_EINVAL);

    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, f->store, 2), SCEP_OK);
    assert_int_equal(count, 2);
    assert_string_equal(events[0].action, "revoke");
    assert_true(events[0].time > 2000);
    assert_null(events[0].detail);
    assert_string_equal(events[1].action, "ee.reset");
    assert_string_equal(events[1].alias, "routers");
    assert_string_equal(events[1].transaction_id, "TID-9");
    assert_string_equal(events[1].detail, "username=router1");
    scep_store_audit_list_free(events, count);
    assert_int_equal(scep_store_audit_list(&events, &count, f->store, 0), SCEP_OK);
    assert_int_equal(count, 3);
    assert_null(events[2].alias);
    scep_store_audit_list_free(events, count);
}

static void null_arguments_are_refused(void **state)
{
    struct fixture *f = *state;
    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, NULL), SCEP_EINVAL);
    assert_int_equal(scep_store_open(NULL, f->url), SCEP_EINVAL);
    scep_store_close(NULL);
    assert_int_equal(scep_store_ca_add(f->store, NULL), SCEP_EINVAL);
    assert_int_equal(scep_store_issue(f->store, NULL), SCEP_EINVAL);
    scep_store_issuance empty = {0};
    assert_int_equal(scep_store_issue(f->store, &empty), SCEP_EINVAL);
    scep_store_ca_free(NULL);
    scep_store_ee_free(NULL);
    scep_store_request_free(NULL);
    scep_store_cert_free(NULL);
    scep_store_cert_list_free(NULL, 0);
    scep_store_string_list_free(NULL, 0);
}

static void oversized_input_is_refused(void **state)
{
    struct fixture *f = *state;
    char *big = malloc(SCEP_STORE_MAX_TEXT + 2);
    assert_non_null(big);
    memset(big, 'a', SCEP_STORE_MAX_TEXT + 1);
    big[SCEP_STORE_MAX_TEXT + 1] = '\0';
    assert_int_equal(scep_store_alias_setting_set(f->store, "mdm", "k", big), SCEP_ETOOBIG);
    big[SCEP_STORE_MAX_TEXT] = '\0'; /* exactly at the limit */
    assert_int_equal(scep_store_alias_setting_set(f->store, "mdm", "k", big), SCEP_OK);
    free(big);

    add_ca(f->store, "ca1");
    scep_store_cert cert = make_cert("ca1", "01");
    cert.der_len = SCEP_STORE_MAX_BLOB + 1;
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_ETOOBIG);
    cert.der = NULL;
    cert.der_len = 0;
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EINVAL);
    cert = make_cert("ca1", "01");
    cert.not_before = cert.not_after + 1;
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_EINVAL);

    char *long_password = malloc(2000);
    assert_non_null(long_password);
    memset(long_password, 'p', 1999);
    long_password[1999] = '\0';
    scep_store_end_entity ee = {.username = "u", .subject_dn = "CN=u", .ca_name = "ca1"};
    assert_int_equal(scep_store_ee_add(f->store, &ee, long_password), SCEP_ETOOBIG);
    free(long_password);
}

/* ---- the audit hash chain ----------------------------------------------------------- */

static void append_events(scep_store *store, int n, const char *actor)
{
    for (int i = 0; i < n; i++) {
        char detail[64];
        snprintf(detail, sizeof(detail), "event %d", i);
        scep_store_audit_event ev = {.actor = actor,
                                     .action = "test",
                                     .alias = i % 2 ? "routers" : NULL,
                                     .outcome = "ok",
                                     .detail = detail};
        assert_int_equal(scep_store_audit_append(store, &ev), SCEP_OK);
    }
}

static void raw_exec(const struct fixture *f, const char *sql)
{
    struct test_raw *db = raw_open(f);
    test_raw_exec(db, sql);
    test_raw_close(db);
}

static scep_store_audit_check verify(scep_store *store)
{
    scep_store_audit_check check;
    assert_int_equal(scep_store_audit_verify(&check, store), SCEP_OK);
    return check;
}

static void audit_chain_links_every_event(void **state)
{
    struct fixture *f = *state;
    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, 0);
    assert_int_equal(check.head_id, 0);
    assert_string_equal(check.head_hash, SCEP_STORE_AUDIT_GENESIS);

    append_events(f->store, 40, "scepctl:test");
    /* An issuance writes its event inside its own transaction: it chains too. */
    add_ca(f->store, "ca1");
    add_ee(f->store, "router1", "secret");
    scep_store_cert cert = make_cert("ca1", "0A");
    scep_store_issuance issuance = {.cert = &cert, .username = "router1", .alias = "routers"};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
    append_events(f->store, 5, "scepctl:test");

    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, f->store, 0), SCEP_OK);
    assert_int_equal(count, 46);
    /* Newest first: each event's prev_hash is the hash of the one listed after it. */
    for (size_t i = 0; i + 1 < count; i++) {
        assert_int_equal(events[i].id, events[i + 1].id + 1);
        assert_string_equal(events[i].prev_hash, events[i + 1].hash);
    }
    assert_string_equal(events[count - 1].prev_hash, SCEP_STORE_AUDIT_GENESIS);
    assert_int_equal(strlen(events[0].hash), SCEP_STORE_AUDIT_HASH_HEX);

    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.event_id, 0);
    assert_int_equal(check.checked, 46);
    assert_int_equal(check.head_id, events[0].id);
    assert_string_equal(check.head_hash, events[0].hash);
    scep_store_audit_list_free(events, count);
}

struct appender {
    const char *url;
    pthread_barrier_t *barrier;
    int result;
};

#define APPENDS_PER_THREAD 25

static void *race_append(void *arg)
{
    struct appender *a = arg;
    scep_store *store = NULL;
    a->result = scep_store_open(&store, a->url);
    pthread_barrier_wait(a->barrier);
    for (int i = 0; a->result == SCEP_OK && i < APPENDS_PER_THREAD; i++) {
        scep_store_audit_event ev = {
            .actor = "racer", .action = "test", .outcome = "ok", .detail = "concurrent"};
        a->result = scep_store_audit_append(store, &ev);
    }
    scep_store_close(store);
    return NULL;
}

static void audit_chain_survives_concurrent_appends(void **state)
{
    struct fixture *f = *state;
    pthread_barrier_t barrier;
    struct appender appenders[RACERS];
    pthread_t threads[RACERS];
    assert_int_equal(pthread_barrier_init(&barrier, NULL, RACERS), 0);
    for (int i = 0; i < RACERS; i++) {
        appenders[i] = (struct appender){.url = f->url, .barrier = &barrier, .result = 1};
        assert_int_equal(pthread_create(&threads[i], NULL, race_append, &appenders[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(appenders[i].result, SCEP_OK);

    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, RACERS * APPENDS_PER_THREAD);
    assert_int_equal(check.head_id, RACERS * APPENDS_PER_THREAD);
}

static void audit_verify_names_an_edited_event(void **state)
{
    struct fixture *f = *state;
    append_events(f->store, 10, "scepctl:test");
    raw_exec(f, "UPDATE audit_events SET detail = 'nothing happened' WHERE id = 4");
    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_EDITED);
    assert_int_equal(check.event_id, 4);
    assert_int_equal(check.previous_id, 3);
    assert_int_equal(check.checked, 3);
    assert_non_null(strstr(scep_store_audit_fault_text(check.fault), "edited"));

    /* NULL and "" are different values: a NULL alias set to "" is an edit too. */
    raw_exec(f, "UPDATE audit_events SET detail = 'event 3' WHERE id = 4;"
                "UPDATE audit_events SET alias = '' WHERE id = 5");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_EDITED);
    assert_int_equal(check.event_id, 5);

    /* A shifted field boundary (actor "ab"+action "c" vs "a"+"bc") is an edit too. */
    raw_exec(f, "UPDATE audit_events SET alias = NULL WHERE id = 5;"
                "UPDATE audit_events SET actor = 'scepctl:tes', action = 'ttest' WHERE id = 7");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_EDITED);
    assert_int_equal(check.event_id, 7);

    /* Recomputing the edited row's hash moves the break to the next event. */
    raw_exec(f, "UPDATE audit_events SET actor = 'scepctl:test', action = 'test' WHERE id = 7;"
                "UPDATE audit_events SET time = time + 1 WHERE id = 9");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_EDITED);
    assert_int_equal(check.event_id, 9);
}

static void audit_verify_reports_a_deleted_event(void **state)
{
    struct fixture *f = *state;
    append_events(f->store, 10, "scepctl:test");
    raw_exec(f, "DELETE FROM audit_events WHERE id = 5");
    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_GAP);
    assert_int_equal(check.event_id, 6);
    assert_int_equal(check.previous_id, 4);
    assert_int_equal(check.checked, 4);

    /* The first events deleted: the oldest left does not chain to the genesis value. */
    raw_exec(f, "DELETE FROM audit_events WHERE id <= 4");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_BROKEN_LINK);
    assert_int_equal(check.event_id, 6);
    assert_int_equal(check.previous_id, 0);
}

static void audit_verify_reports_an_inserted_event(void **state)
{
    struct fixture *f = *state;
    append_events(f->store, 6, "scepctl:test");
    /* Written around the store: no hash at all. */
    raw_exec(f, "INSERT INTO audit_events (id, time, actor, action, outcome) "
                "SELECT max(id) + 1, 1, 'scepd', 'issue', 'success' FROM audit_events");
    append_events(f->store, 2, "scepctl:test");
    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_UNCHAINED);
    assert_int_equal(check.event_id, 7);
    assert_int_equal(check.previous_id, 6);

    /* A forged row that copies the chain's hashes does not hash to them. */
    raw_exec(f, "UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE id = 6), "
                "hash = (SELECT hash FROM audit_events WHERE id = 6) WHERE id = 7");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_EDITED);
    assert_int_equal(check.event_id, 7);

    /* A forged row slipped in between two real ones does not hash to what it claims. */
    raw_exec(f, "DELETE FROM audit_events WHERE id >= 7");
    append_events(f->store, 1, "scepctl:test");
    raw_exec(f, "UPDATE audit_events SET id = 8 WHERE id = 7;"
                "INSERT INTO audit_events (id, time, actor, action, outcome, prev_hash, hash) "
                "SELECT 7, 1, 'scepd', 'issue', 'success', hash, hash FROM audit_events "
                "WHERE id = 6");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_EDITED);
    assert_int_equal(check.event_id, 7);
}

/* Events written before schema version 6 are chained by the migration, in id order. */
static void audit_events_from_before_the_chain_are_chained(void **state)
{
    struct fixture *f = *state;
    TEST_SQLITE_ONLY("no PostgreSQL store predates schema 7");
    append_events(f->store, 3, "scepctl:old");
    scep_store_close(f->store);
    f->store = NULL;
    raw_exec(f, SCHEMA_8_UNDONE SCHEMA_7_UNDONE
             "ALTER TABLE audit_events DROP COLUMN prev_hash;"
             "ALTER TABLE audit_events DROP COLUMN hash;"
             "INSERT INTO audit_events (time, actor, action, alias, outcome, detail) "
             "VALUES (5, 'scepd', 'issue', 'routers', 'success', 'serial=01');"
             "PRAGMA user_version = 5;");

    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, 4);
    append_events(f->store, 2, "scepctl:new");
    check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, 6);
    assert_int_equal(check.head_id, 6);

    /* A second open does not chain again (the rows would hash the same; nothing changes). */
    char head[SCEP_STORE_AUDIT_HASH_HEX + 1];
    memcpy(head, check.head_hash, sizeof(head));
    scep_store *second = NULL;
    assert_int_equal(scep_store_open(&second, f->url), SCEP_OK);
    check = verify(second);
    assert_string_equal(check.head_hash, head);
    scep_store_close(second);
}

static void audit_list_since_filters_by_time(void **state)
{
    struct fixture *f = *state;
    static const int64_t times[] = {1000, 2000, 3000};
    for (size_t i = 0; i < 3; i++) {
        scep_store_audit_event ev = {
            .time = times[i], .actor = "scepctl", .action = "test", .outcome = "ok"};
        assert_int_equal(scep_store_audit_append(f->store, &ev), SCEP_OK);
    }
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list_since(&events, &count, f->store, 2000, 0), SCEP_OK);
    assert_int_equal(count, 2);
    assert_int_equal(events[0].time, 3000);
    assert_int_equal(events[1].time, 2000);
    scep_store_audit_list_free(events, count);
    assert_int_equal(scep_store_audit_list_since(&events, &count, f->store, 3001, 0), SCEP_OK);
    assert_int_equal(count, 0);
    scep_store_audit_list_free(events, count);
}

/* Pages follow ids, whatever the times say (nodes' clocks differ), and meet without a gap. */
static void audit_page_follows_ids(void **state)
{
    struct fixture *f = *state;
    static const int64_t times[] = {5000, 1000, 3000, 2000, 4000};
    for (size_t i = 0; i < 5; i++) {
        scep_store_audit_event ev = {
            .time = times[i], .actor = "scepctl", .action = "test", .outcome = "ok"};
        assert_int_equal(scep_store_audit_append(f->store, &ev), SCEP_OK);
    }
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    int64_t seen[5];
    size_t seen_count = 0;
    int64_t before = 0;
    for (int page = 0; page < 4; page++) {
        assert_int_equal(scep_store_audit_page(&events, &count, f->store, before, 2), SCEP_OK);
        for (size_t i = 0; i < count; i++) {
            assert_true(seen_count < 5);
            seen[seen_count++] = events[i].id;
            before = events[i].id;
        }
        if (count == 2) {
            assert_true(events[0].id > events[1].id);
            assert_non_null(events[0].hash);
        }
        scep_store_audit_list_free(events, count);
        if (count < 2)
            break;
    }
    assert_int_equal(seen_count, 5);
    for (size_t i = 1; i < seen_count; i++)
        assert_int_equal(seen[i], seen[i - 1] - 1);
    assert_int_equal(scep_store_audit_page(&events, &count, f->store, seen[4], 10), SCEP_OK);
    assert_int_equal(count, 0);
    scep_store_audit_list_free(events, count);
    assert_int_equal(scep_store_audit_page(&events, &count, f->store, -1, 10), SCEP_EINVAL);
}

/* The configuration revision moves with CAs, aliases and settings, and only with them. */
static void config_revision_follows_configuration_changes(void **state)
{
    struct fixture *f = *state;
    int64_t before = 0, after = 0;
    assert_int_equal(scep_store_config_revision(&before, f->store), SCEP_OK);

    add_ca(f->store, "ca1");
    assert_int_equal(scep_store_config_revision(&after, f->store), SCEP_OK);
    assert_true(after > before);

    /* Not configuration: end entities, certificates, CRL numbers. */
    before = after;
    add_ee(f->store, "user1", "code1");
    scep_store_cert cert = make_cert("ca1", "0A");
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_OK);
    struct test_raw *db = raw_open(f);
    test_raw_exec(db, "UPDATE cas SET crl_number = crl_number + 1");
    test_raw_close(db);
    assert_int_equal(scep_store_config_revision(&after, f->store), SCEP_OK);
    assert_int_equal(after, before);

    assert_int_equal(scep_store_alias_add(f->store, "routers"), SCEP_OK);
    assert_int_equal(scep_store_config_revision(&after, f->store), SCEP_OK);
    assert_true(after > before);
    before = after;
    assert_int_equal(scep_store_alias_setting_set(f->store, "routers", "ra.mode", "ca"), SCEP_OK);
    assert_int_equal(scep_store_config_revision(&after, f->store), SCEP_OK);
    assert_true(after > before);
    before = after;
    assert_int_equal(scep_store_ca_set_next_cert(f->store, "ca1",
                                                 "-----BEGIN CERTIFICATE-----\n"
                                                 "MIIC\n-----END CERTIFICATE-----\n"),
                     SCEP_OK);
    assert_int_equal(scep_store_config_revision(&after, f->store), SCEP_OK);
    assert_true(after > before);
    before = after;
    assert_int_equal(scep_store_alias_remove(f->store, "routers"), SCEP_OK);
    assert_int_equal(scep_store_config_revision(&after, f->store), SCEP_OK);
    assert_true(after > before);
}

/* ---- PostgreSQL ------------------------------------------------------------------------ */

#define TEST_PG_ONLY(why)                                                                          \
    do {                                                                                           \
        if (!test_store_pg()) {                                                                    \
            print_message("SKIPPED on SQLite: %s\n", why);                                         \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void postgres_backup_is_pg_dump(void **state)
{
    struct fixture *f = *state;
    TEST_PG_ONLY("a PostgreSQL store is backed up with pg_dump");
    char path[4200];
    snprintf(path, sizeof(path), "%s/backup.db", f->dir);
    assert_int_equal(scep_store_backup(f->store, path), SCEP_EUNSUPPORTED);
    assert_non_null(strstr(scep_error_message(), "pg_dump"));
    assert_int_equal(access(path, F_OK), -1);
}

/* Ends every other session on the fixture's database, as a server restart would. */
static void terminate_store_sessions(const struct fixture *f)
{
    struct test_raw *db = raw_open(f);
    test_raw_exec(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    /* Bounded wait until the server has ended them (pg_terminate_backend only signals). */
    for (int i = 0; i < 200; i++) {
        if (raw_int(db, "SELECT count(*) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid()") == 0)
            break;
        usleep(10000);
    }
    test_raw_close(db);
}

static void postgres_lost_connection_is_unavailable_then_reconnects(void **state)
{
    struct fixture *f = *state;
    TEST_PG_ONLY("a server connection");
    add_ca(f->store, "ca1");
    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca1"), SCEP_OK);
    scep_store_ca_free(ca);
    ca = NULL;

    /* A read after the loss (a server restart) is sent again on a new connection, and
     * its statements are prepared again. */
    terminate_store_sessions(f);
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca1"), SCEP_OK);
    assert_string_equal(ca->name, "ca1");
    scep_store_ca_free(ca);

    /* A single-statement write is not: its COMMIT may have happened before the break
     * (its statement prepared before the loss, so the write itself meets the break). */
    assert_int_equal(scep_store_alias_add(f->store, "before-loss"), SCEP_OK);
    terminate_store_sessions(f);
    assert_int_equal(scep_store_alias_add(f->store, "after-loss"), SCEP_EUNAVAILABLE);
    assert_int_equal(scep_store_alias_add(f->store, "after-loss"), SCEP_OK);

    /* A write transaction found its connection broken at BEGIN, before it did anything:
     * it runs on a new connection, once. */
    add_ee(f->store, "router1", "code");
    terminate_store_sessions(f);
    scep_store_cert cert = make_cert("ca1", "0B");
    scep_store_issuance issuance = {.cert = &cert, .username = "router1", .actor = "test"};
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_OK);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "0B"), SCEP_OK);
    scep_store_cert_free(got);
    assert_int_equal(scep_store_issue(f->store, &issuance), SCEP_ESTATE);
}

/*
 * Below the front end: a transaction whose connection is lost fails, its COMMIT answers
 * SCEP_EUNAVAILABLE, the server has dropped its writes, rollback is harmless, and the next
 * operation reconnects.
 */
static void postgres_transaction_lost_midway_writes_nothing(void **state)
{
    struct fixture *f = *state;
    TEST_PG_ONLY("a server connection");
    scep_store *store = f->store;
    add_ca(store, "ca1");
    assert_int_equal(store->ops->begin_write(store), SCEP_OK);
    assert_int_equal(store->ops->alias_add(store, "lost"), SCEP_OK);
    terminate_store_sessions(f);
    assert_int_equal(store->ops->alias_add(store, "lost2"), SCEP_EUNAVAILABLE);
    /* No reconnect inside the transaction: the commit cannot succeed. */
    assert_int_equal(store->ops->commit(store), SCEP_EUNAVAILABLE);
    store->ops->rollback(store);
    store->ops->rollback(store);

    assert_int_equal(store->ops->begin_write(store), SCEP_OK);
    assert_int_equal(store->ops->alias_add(store, "kept"), SCEP_OK);
    terminate_store_sessions(f);
    assert_int_equal(store->ops->commit(store), SCEP_EUNAVAILABLE);
    store->ops->rollback(store);

    char **aliases = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_alias_list(&aliases, &count, store), SCEP_OK);
    assert_int_equal(count, 0);
    scep_store_string_list_free(aliases, count);
    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, store, "ca1"), SCEP_OK);
    scep_store_ca_free(ca);
}

/* The connect_timeout a connection of `store` uses. */
static const char *connect_timeout_of(scep_store *store, char *buf, size_t size)
{
    PQconninfoOption *options = PQconninfo(((struct pg_store *)store)->conn);
    assert_non_null(options);
    snprintf(buf, size, "(unset)");
    for (PQconninfoOption *o = options; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val != NULL)
            snprintf(buf, size, "%s", o->val);
    PQconninfoFree(options);
    return buf;
}

/* Reconnects are bounded: 5 s unless the URL chooses its own connect_timeout. */
static void postgres_connect_timeout_defaults_to_5s(void **state)
{
    struct fixture *f = *state;
    TEST_PG_ONLY("libpq settings");
    char buf[32];
    assert_string_equal(connect_timeout_of(f->store, buf, sizeof(buf)), "5");
    char url[4400];
    snprintf(url, sizeof(url), "%s&connect_timeout=7", f->url);
    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, url), SCEP_OK);
    assert_string_equal(connect_timeout_of(store, buf, sizeof(buf)), "7");
    scep_store_close(store);
}

/* SQLite to PostgreSQL: the copy keeps ids, hashes and the chain; sequences continue. */
static void postgres_copy_from_sqlite(void **state)
{
    struct fixture *f = *state;
    TEST_PG_ONLY("a PostgreSQL destination");
    char url[4300];
    snprintf(url, sizeof(url), "sqlite:%s/source.db", f->dir);
    scep_store *source = NULL;
    assert_int_equal(scep_store_open(&source, url), SCEP_OK);
    add_ca(source, "ca1");
    assert_int_equal(scep_store_alias_setting_set(source, "routers", "ra.mode", "ra"), SCEP_OK);
    add_ee(source, "user1", "code-1");
    int64_t request_id = add_request(source, "routers", "TID-A", 0x11);
    scep_store_cert cert = make_cert("ca1", "0A");
    assert_int_equal(scep_store_cert_add(source, &cert), SCEP_OK);
    append_events(source, 3, "scepctl:test");

    assert_int_equal(scep_store_copy(f->store, source, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "user1", "code-1"), SCEP_OK);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, f->store, "ca1", "0A"), SCEP_OK);
    assert_int_equal(got->der_len, sizeof(fake_der));
    assert_memory_equal(got->der, fake_der, sizeof(fake_der));
    scep_store_cert_free(got);
    scep_store_request *req = NULL;
    assert_int_equal(scep_store_request_get(&req, f->store, request_id), SCEP_OK);
    assert_int_equal(req->public_key_sha256[0], 0x11);
    scep_store_request_free(req);
    append_events(f->store, 1, "scepctl:after");
    scep_store_audit_check check = verify(f->store);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, 4);
    assert_int_equal(add_request(f->store, "routers", "TID-B", 0x22), request_id + 1);
    char *problem = NULL;
    assert_int_equal(scep_store_integrity_check(&problem, f->store), SCEP_OK);
    assert_null(problem);
    /* Not empty any more: refused, and left as it was. */
    assert_int_equal(scep_store_copy(f->store, source, NULL, NULL), SCEP_EEXISTS);
    assert_int_equal(scep_store_ee_verify_password(NULL, f->store, "user1", "code-1"), SCEP_OK);
    scep_store_close(source);
}

/* Texts order byte-wise as on SQLite, whatever the database's collation. */
static void postgres_lists_order_as_sqlite(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(scep_store_alias_add(f->store, "b"), SCEP_OK);
    assert_int_equal(scep_store_alias_add(f->store, "B"), SCEP_OK);
    assert_int_equal(scep_store_alias_add(f->store, "a"), SCEP_OK);
    char **aliases = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_alias_list(&aliases, &count, f->store), SCEP_OK);
    assert_int_equal(count, 3);
    assert_string_equal(aliases[0], "B");
    assert_string_equal(aliases[1], "a");
    assert_string_equal(aliases[2], "b");
    scep_store_string_list_free(aliases, count);
}

/* Every row reaches the copy as it was: secrets verify, the chain holds, ids continue. */
static void copy_moves_every_row(void **state)
{
    struct fixture *f = *state;
    add_ca(f->store, "ca1");
    assert_int_equal(scep_store_alias_setting_set(f->store, "routers", "ra.mode", "ra"), SCEP_OK);
    add_ee(f->store, "user1", "code-1");
    int64_t request_id = add_request(f->store, "routers", "TID-A", 0x11);
    scep_store_cert cert = make_cert("ca1", "0A");
    assert_int_equal(scep_store_cert_add(f->store, &cert), SCEP_OK);
    assert_int_equal(scep_store_challenge_add(f->store, "routers",
                                              "0123456789abcdef0123456789abcdef", time(NULL) + 3600,
                                              "CN=*"),
                     SCEP_OK);
    append_events(f->store, 3, "scepctl:test");

    char url[4300];
    snprintf(url, sizeof(url), "sqlite:%s/copy.db", f->dir);
    scep_store *copy = NULL;
    assert_int_equal(scep_store_open(&copy, url), SCEP_OK);
    assert_int_equal(scep_store_copy(copy, f->store, NULL, NULL), SCEP_OK);

    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, copy, "ca1"), SCEP_OK);
    assert_string_equal(ca->key_ref, "/etc/scepd/ca.key");
    scep_store_ca_free(ca);
    char *mode = NULL;
    assert_int_equal(scep_store_alias_setting_get(&mode, copy, "routers", "ra.mode"), SCEP_OK);
    assert_string_equal(mode, "ra");
    OPENSSL_free(mode);
    assert_int_equal(scep_store_ee_verify_password(NULL, copy, "user1", "code-1"), SCEP_OK);
    assert_int_equal(scep_store_ee_verify_password(NULL, copy, "user1", "code-2"), SCEP_EDENIED);
    scep_store_request *req = NULL;
    assert_int_equal(scep_store_request_get(&req, copy, request_id), SCEP_OK);
    assert_string_equal(req->transaction_id, "TID-A");
    assert_int_equal(req->public_key_sha256[31], 0x11);
    scep_store_request_free(req);
    scep_store_cert *got = NULL;
    assert_int_equal(scep_store_cert_get(&got, copy, "ca1", "0A"), SCEP_OK);
    assert_int_equal(got->der_len, sizeof(fake_der));
    assert_memory_equal(got->der, fake_der, sizeof(fake_der));
    scep_store_cert_free(got);
    char *pattern = NULL;
    assert_int_equal(
        scep_store_challenge_consume(&pattern, copy, "routers", "0123456789abcdef0123456789abcdef"),
        SCEP_OK);
    assert_string_equal(pattern, "CN=*");
    OPENSSL_free(pattern);
    scep_store_audit_check check = verify(copy);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, 3);
    /* New rows follow the copied ones; the chain goes on. */
    append_events(copy, 1, "scepctl:after");
    check = verify(copy);
    assert_int_equal(check.fault, SCEP_AUDIT_INTACT);
    assert_int_equal(check.checked, 4);
    assert_int_equal(add_request(copy, "routers", "TID-B", 0x22), request_id + 1);
    char *problem = NULL;
    assert_int_equal(scep_store_integrity_check(&problem, copy), SCEP_OK);
    assert_null(problem);

    /* A destination that is not empty is refused and left as it was. */
    assert_int_equal(scep_store_copy(copy, f->store, NULL, NULL), SCEP_EEXISTS);
    assert_int_equal(scep_store_cert_get(&got, copy, "ca1", "0A"), SCEP_OK);
    scep_store_cert_free(got);
    assert_int_equal(scep_store_copy(copy, copy, NULL, NULL), SCEP_EINVAL);
    scep_store_close(copy);
}

/* The engine's check finds a row whose referenced row is gone. */
static void integrity_check_reports_a_broken_reference(void **state)
{
    struct fixture *f = *state;
    TEST_SQLITE_ONLY("PRAGMA foreign_keys; PostgreSQL keeps its constraints itself");
    add_ca(f->store, "ca1");
    add_ee(f->store, "user1", "code-1");
    char *problem = NULL;
    assert_int_equal(scep_store_integrity_check(&problem, f->store), SCEP_OK);
    assert_null(problem);
    raw_exec(f, "PRAGMA foreign_keys = OFF; DELETE FROM cas;");
    assert_int_equal(scep_store_integrity_check(&problem, f->store), SCEP_OK);
    assert_non_null(problem);
    assert_non_null(strstr(problem, "end_entities"));
    OPENSSL_free(problem);
}

#define STORE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_TEST(migrations_create_the_schema),
        STORE_TEST(version_7_database_gets_the_indexes),
        STORE_TEST(reopen_is_a_no_op),
        STORE_TEST(newer_schema_is_refused),
        STORE_TEST(url_scheme_selects_the_backend),
        STORE_TEST(open_existing_refuses_a_missing_database),
        STORE_TEST(new_database_is_private),
        STORE_TEST(request_purge_deletes_old_finished_transactions),
        STORE_TEST(pragmas_are_in_effect),
        STORE_TEST(ca_crud),
        STORE_TEST(alias_settings_crud),
        STORE_TEST(end_entity_crud),
        STORE_TEST(passwords_are_hashed_and_verified),
        STORE_TEST(request_insert_or_get_returns_the_existing_row),
        STORE_TEST(duplicate_serial_is_refused_by_the_constraint),
        STORE_TEST(revocations_are_listed_for_the_crl),
        STORE_TEST(issuance_in_ca_mode_is_all_or_nothing),
        STORE_TEST(issuance_in_ra_mode_needs_no_end_entity),
        STORE_TEST(issuance_can_revoke_the_replaced_certificate),
        STORE_TEST(renewal_checks_the_renewed_certificate_and_end_entity),
        STORE_TEST(ra_issuance_creates_or_reuses_the_end_entity),
        STORE_TEST(one_time_use_holds_under_concurrency),
        STORE_TEST(concurrent_first_open_migrates_once),
        STORE_TEST(version_1_database_migrates),
        STORE_TEST(challenge_race_has_one_winner),
        STORE_TEST(challenge_is_consumed_once),
        STORE_TEST(audit_lists_most_recent_first),
        STORE_TEST(audit_chain_links_every_event),
        STORE_TEST(audit_chain_survives_concurrent_appends),
        STORE_TEST(audit_verify_names_an_edited_event),
        STORE_TEST(audit_verify_reports_a_deleted_event),
        STORE_TEST(audit_verify_reports_an_inserted_event),
        STORE_TEST(audit_events_from_before_the_chain_are_chained),
        STORE_TEST(audit_list_since_filters_by_time),
        STORE_TEST(audit_page_follows_ids),
        STORE_TEST(config_revision_follows_configuration_changes),
        STORE_TEST(copy_moves_every_row),
        STORE_TEST(integrity_check_reports_a_broken_reference),
        STORE_TEST(null_arguments_are_refused),
        STORE_TEST(oversized_input_is_refused),
        STORE_TEST(postgres_backup_is_pg_dump),
        STORE_TEST(postgres_lost_connection_is_unavailable_then_reconnects),
        STORE_TEST(postgres_transaction_lost_midway_writes_nothing),
        STORE_TEST(postgres_connect_timeout_defaults_to_5s),
        STORE_TEST(postgres_copy_from_sqlite),
        STORE_TEST(postgres_lists_order_as_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
