/*
 * The SQLite side of scep_store_copy() (store_copy.c): a table's rows read in id order
 * from one read transaction, rows inserted as given. The statements are built from the
 * front end's const table of columns, never from input.
 */
#include "store/sqlite_internal.h"

#include <openssl/crypto.h>
#include <string.h>

int scep_sqlite_begin_snapshot(scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    /* A deferred transaction: its first read fixes the snapshot (WAL) for all that follow. */
    int src = sqlite3_exec(s->db, "BEGIN DEFERRED", NULL, NULL, NULL);
    return src == SQLITE_OK ? SCEP_OK : scep_sqlite_fail(s, src, "beginning a read transaction");
}

void scep_sqlite_end_snapshot(scep_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int scep_sqlite_copy_read(scep_store *store, const struct scep_store_table *table,
                          int (*row)(const struct scep_store_value *values, void *payload),
                          void *payload)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    char *sql = NULL;
    sqlite3_stmt *st = NULL;
    struct scep_store_value *values = NULL;

    GUARD(scep_store_copy_sql(&sql, table, 0, '?'));
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK) {
        rc = scep_sqlite_fail(s, src, "reading a table to copy");
        goto cleanup;
    }
    values = OPENSSL_zalloc(table->column_count * sizeof(*values));
    ENSURE_ALLOC(values);
    for (;;) {
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = scep_sqlite_fail(s, src, "reading a table to copy");
            goto cleanup;
        }
        for (size_t i = 0; i < table->column_count; i++) {
            int col = (int)i;
            struct scep_store_value *v = &values[i];
            memset(v, 0, sizeof(*v));
            v->is_null = sqlite3_column_type(st, col) == SQLITE_NULL;
            if (v->is_null)
                continue;
            switch (table->columns[i].kind) {
            case SCEP_STORE_INT:
                v->integer = sqlite3_column_int64(st, col);
                break;
            case SCEP_STORE_TEXT:
                v->data = sqlite3_column_text(st, col);
                v->len = (size_t)sqlite3_column_bytes(st, col);
                ENSURE_ALLOC(v->data);
                break;
            case SCEP_STORE_BLOB:
                v->data = sqlite3_column_blob(st, col);
                v->len = (size_t)sqlite3_column_bytes(st, col);
                break;
            }
        }
        int stop = row(values, payload);
        GUARD(stop);
        if (stop > 0)
            break;
    }

cleanup:
    OPENSSL_free(values);
    sqlite3_finalize(st);
    OPENSSL_free(sql);
    return rc;
}

int scep_sqlite_copy_write(scep_store *store, const struct scep_store_table *table,
                           const struct scep_store_value *values)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int rc = SCEP_OK;
    char *sql = NULL;
    sqlite3_stmt *st = NULL;

    GUARD(scep_store_copy_sql(&sql, table, 1, '?'));
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    for (size_t i = 0; src == SQLITE_OK && i < table->column_count; i++) {
        const struct scep_store_value *v = &values[i];
        int param = (int)i + 1;
        if (v->is_null)
            src = sqlite3_bind_null(st, param);
        else if (table->columns[i].kind == SCEP_STORE_INT)
            src = sqlite3_bind_int64(st, param, v->integer);
        else if (table->columns[i].kind == SCEP_STORE_TEXT)
            src = sqlite3_bind_text64(st, param, (const char *)v->data, v->len, SQLITE_STATIC,
                                      SQLITE_UTF8);
        else /* an empty blob is still a blob, not NULL */
            src = sqlite3_bind_blob64(st, param, v->len > 0 ? v->data : (const void *)"", v->len,
                                      SQLITE_STATIC);
    }
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src != SQLITE_DONE) {
        rc = scep_sqlite_fail(s, src, "copying a row");
        goto cleanup;
    }

cleanup:
    sqlite3_finalize(st);
    OPENSSL_free(sql);
    return rc;
}

int scep_sqlite_copy_finish(scep_store *store)
{
    (void)store; /* INTEGER PRIMARY KEY continues after the largest id by itself */
    return SCEP_OK;
}
