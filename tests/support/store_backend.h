/*
 * The backend the store tests run against. SQLite by default; when SCEP_TEST_PG_URL holds
 * the URL of a PostgreSQL database on a test cluster (scripts/pg-cluster.sh), every test
 * store is a fresh database on that cluster instead. Raw handles look under the API with
 * SQL on either backend.
 */
#ifndef SCEP_TEST_STORE_BACKEND_H
#define SCEP_TEST_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the tests run against PostgreSQL. */
int test_store_pg(void);

/*
 * The URL of a fresh, empty store: `dir`/store.db for SQLite, a new database on the
 * cluster for PostgreSQL (dropped by test_store_drop).
 */
void test_store_new_url(char *url, size_t size, const char *dir);
void test_store_drop(const char *url);

/* Skips the running test on PostgreSQL, saying why (it looks at SQLite itself). */
#define TEST_SQLITE_ONLY(why)                                                                      \
    do {                                                                                           \
        if (test_store_pg()) {                                                                     \
            print_message("SKIPPED on PostgreSQL: %s\n", why);                                     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* A raw SQL connection to the store at `url` (sqlite:PATH or postgresql://...). */
struct test_raw;
struct test_raw *test_raw_open(const char *url);
void test_raw_close(struct test_raw *db);
/* 0 when `sql` ran, -1 when the database refused it (its message in `error`, may be NULL). */
int test_raw_try(struct test_raw *db, const char *sql, char *error, size_t error_size);
/* Runs `sql`; fails the test when the database refuses it. */
void test_raw_exec(struct test_raw *db, const char *sql);
/* The first column of the first row. */
int64_t test_raw_int(struct test_raw *db, const char *sql);
const char *test_raw_text(struct test_raw *db, const char *sql, char *buf, size_t size);

#endif
