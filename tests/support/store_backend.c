#include "store_backend.h"

#include "test_support.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *pg_base_url(void)
{
    const char *url = getenv("SCEP_TEST_PG_URL");
    return url != NULL && url[0] != '\0' ? url : NULL;
}

int test_store_pg(void)
{
    return pg_base_url() != NULL;
}

/* `base` with its database name replaced by `dbname`. */
static void pg_url_for(char *url, size_t size, const char *base, const char *dbname)
{
    const char *authority = strstr(base, "://");
    assert_non_null(authority);
    const char *path = strchr(authority + 3, '/');
    assert_non_null(path);
    const char *query = strchr(path, '?');
    int n = snprintf(url, size, "%.*s/%s%s", (int)(path - base), base, dbname,
                     query != NULL ? query : "");
    assert_true(n > 0 && (size_t)n < size);
}

static PGconn *pg_connect(const char *url)
{
    PGconn *conn = PQconnectdb(url);
    assert_non_null(conn);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("cannot reach the PostgreSQL test cluster: %s", PQerrorMessage(conn));
    return conn;
}

static void pg_maintenance(const char *sql)
{
    PGconn *conn = pg_connect(pg_base_url());
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
}

void test_store_new_url(char *url, size_t size, const char *dir)
{
    int n;
    if (!test_store_pg()) {
        n = snprintf(url, size, "sqlite:%s/store.db", dir);
        assert_true(n > 0 && (size_t)n < size);
        return;
    }
    static unsigned counter;
    char dbname[64];
    char sql[128];
    snprintf(dbname, sizeof(dbname), "t_%ld_%u", (long)getpid(), counter++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
    pg_maintenance(sql);
    pg_url_for(url, size, pg_base_url(), dbname);
}

void test_store_drop(const char *url)
{
    if (!test_store_pg() || strncmp(url, "postgresql:", 11) != 0)
        return;
    const char *authority = strstr(url, "://");
    const char *path = authority != NULL ? strchr(authority + 3, '/') : NULL;
    if (path == NULL)
        return;
    size_t len = strcspn(path + 1, "?");
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %.*s WITH (FORCE)", (int)len, path + 1);
    pg_maintenance(sql);
}

struct test_raw {
    sqlite3 *sqlite;
    PGconn *pg;
};

struct test_raw *test_raw_open(const char *url)
{
    struct test_raw *db = calloc(1, sizeof(*db));
    assert_non_null(db);
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (strncmp(path, "//", 2) == 0)
            path += 2;
        assert_int_equal(sqlite3_open_v2(path, &db->sqlite, SQLITE_OPEN_READWRITE, NULL),
                         SQLITE_OK);
        sqlite3_busy_timeout(db->sqlite, 5000);
    } else {
        db->pg = pg_connect(url);
        PQclear(PQexec(db->pg, "SET client_min_messages = warning"));
    }
    return db;
}

void test_raw_close(struct test_raw *db)
{
    if (db == NULL)
        return;
    sqlite3_close(db->sqlite);
    PQfinish(db->pg);
    free(db);
}

int test_raw_try(struct test_raw *db, const char *sql, char *error, size_t error_size)
{
    if (db->sqlite != NULL) {
        char *errmsg = NULL;
        int rc = sqlite3_exec(db->sqlite, sql, NULL, NULL, &errmsg);
        if (error != NULL && error_size > 0)
            snprintf(error, error_size, "%s", errmsg != NULL ? errmsg : "");
        sqlite3_free(errmsg);
        return rc == SQLITE_OK ? 0 : -1;
    }
    PGresult *res = PQexec(db->pg, sql);
    ExecStatusType status = PQresultStatus(res);
    int ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (error != NULL && error_size > 0)
        snprintf(error, error_size, "%s", ok ? "" : PQerrorMessage(db->pg));
    PQclear(res);
    return ok ? 0 : -1;
}

void test_raw_exec(struct test_raw *db, const char *sql)
{
    char error[512];
    if (test_raw_try(db, sql, error, sizeof(error)) != 0)
        fail_msg("%s: %s", sql, error);
}

/* The first column of the first row into `buf`; NULL is "" when `null_ok`. */
static const char *raw_first(struct test_raw *db, const char *sql, char *buf, size_t size,
                             int null_ok)
{
    int n;
    if (db->sqlite != NULL) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db->sqlite, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        const unsigned char *text = sqlite3_column_text(st, 0);
        if (text == NULL && null_ok)
            text = (const unsigned char *)"";
        assert_non_null(text);
        n = snprintf(buf, size, "%s", (const char *)text);
        sqlite3_finalize(st);
    } else {
        PGresult *res = PQexec(db->pg, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(db->pg));
        assert_true(PQntuples(res) >= 1);
        if (!null_ok)
            assert_false(PQgetisnull(res, 0, 0));
        n = snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    assert_true(n >= 0 && (size_t)n < size);
    return buf;
}

const char *test_raw_text(struct test_raw *db, const char *sql, char *buf, size_t size)
{
    return raw_first(db, sql, buf, size, 0);
}

int64_t test_raw_int(struct test_raw *db, const char *sql)
{
    char buf[64];
    return strtoll(raw_first(db, sql, buf, sizeof(buf), 1), NULL, 10);
}
