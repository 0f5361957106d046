/*
 * scep_store_copy(): every row of one store into another, empty one, whatever their
 * backends (moving an installation from SQLite to PostgreSQL, or back). The tables and
 * their columns are listed here once, in the order their foreign keys need; a backend
 * only reads a table's rows in id order (copy_read) and inserts one row as given
 * (copy_write). Ids, password hashes, challenge hashes and the audit chain are copied as
 * they are, so the copy verifies (`scepctl audit verify`) and answers retransmissions as
 * the original would.
 */
#include "store/store_internal.h"
#include "util/error_internal.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <string.h>

static const struct scep_store_column cas_columns[] = {
    {"id", SCEP_STORE_INT},
    {"name", SCEP_STORE_TEXT},
    {"cert_pem", SCEP_STORE_TEXT},
    {"key_ref", SCEP_STORE_TEXT},
    {"chain_pem", SCEP_STORE_TEXT},
    {"next_cert_pem", SCEP_STORE_TEXT},
    {"crl_number", SCEP_STORE_INT},
    {"created_at", SCEP_STORE_INT},
    {"next_key_ref", SCEP_STORE_TEXT},
    {"next_activate_at", SCEP_STORE_INT},
};
static const struct scep_store_column aliases_columns[] = {
    {"id", SCEP_STORE_INT},
    {"name", SCEP_STORE_TEXT},
    {"created_at", SCEP_STORE_INT},
};
static const struct scep_store_column alias_settings_columns[] = {
    {"id", SCEP_STORE_INT},
    {"alias", SCEP_STORE_TEXT},
    {"key", SCEP_STORE_TEXT},
    {"value", SCEP_STORE_TEXT},
};
static const struct scep_store_column end_entities_columns[] = {
    {"id", SCEP_STORE_INT},
    {"username", SCEP_STORE_TEXT},
    {"password_hash", SCEP_STORE_TEXT},
    {"subject_dn", SCEP_STORE_TEXT},
    {"status", SCEP_STORE_TEXT},
    {"profile", SCEP_STORE_TEXT},
    {"ca_name", SCEP_STORE_TEXT},
    {"created_at", SCEP_STORE_INT},
    {"updated_at", SCEP_STORE_INT},
    {"alias", SCEP_STORE_TEXT},
    {"sans", SCEP_STORE_TEXT},
    {"ra_alias", SCEP_STORE_TEXT},
    {"failed_codes", SCEP_STORE_INT},
};
static const struct scep_store_column requests_columns[] = {
    {"id", SCEP_STORE_INT},
    {"alias", SCEP_STORE_TEXT},
    {"transaction_id", SCEP_STORE_TEXT},
    {"message_type", SCEP_STORE_INT},
    {"csr_der", SCEP_STORE_BLOB},
    {"signer_cert_der", SCEP_STORE_BLOB},
    {"public_key_sha256", SCEP_STORE_BLOB},
    {"status", SCEP_STORE_TEXT},
    {"fail_info", SCEP_STORE_INT},
    {"reason", SCEP_STORE_TEXT},
    {"client_addr", SCEP_STORE_TEXT},
    {"ca_name", SCEP_STORE_TEXT},
    {"cert_serial", SCEP_STORE_TEXT},
    {"created_at", SCEP_STORE_INT},
    {"updated_at", SCEP_STORE_INT},
    {"decided_mode", SCEP_STORE_TEXT},
    {"decided_username", SCEP_STORE_TEXT},
    {"decided_profile", SCEP_STORE_TEXT},
    {"decided_subject", SCEP_STORE_TEXT},
    {"decided_sans", SCEP_STORE_TEXT},
    {"replaces_serial", SCEP_STORE_TEXT},
    {"renews_serial", SCEP_STORE_TEXT},
    {"decided_ee_updated_at", SCEP_STORE_INT},
};
static const struct scep_store_column certificates_columns[] = {
    {"id", SCEP_STORE_INT},
    {"ca_name", SCEP_STORE_TEXT},
    {"serial", SCEP_STORE_TEXT},
    {"subject", SCEP_STORE_TEXT},
    {"issuer", SCEP_STORE_TEXT},
    {"not_before", SCEP_STORE_INT},
    {"not_after", SCEP_STORE_INT},
    {"der", SCEP_STORE_BLOB},
    {"status", SCEP_STORE_TEXT},
    {"revoked_at", SCEP_STORE_INT},
    {"revocation_reason", SCEP_STORE_INT},
    {"username", SCEP_STORE_TEXT},
    {"transaction_id", SCEP_STORE_TEXT},
    {"created_at", SCEP_STORE_INT},
};
static const struct scep_store_column challenges_columns[] = {
    {"id", SCEP_STORE_INT},         {"alias", SCEP_STORE_TEXT},
    {"hash", SCEP_STORE_BLOB},      {"subject_pattern", SCEP_STORE_TEXT},
    {"expires_at", SCEP_STORE_INT}, {"used_at", SCEP_STORE_INT},
    {"created_at", SCEP_STORE_INT},
};
static const struct scep_store_column audit_events_columns[] = {
    {"id", SCEP_STORE_INT},       {"time", SCEP_STORE_INT},    {"actor", SCEP_STORE_TEXT},
    {"action", SCEP_STORE_TEXT},  {"alias", SCEP_STORE_TEXT},  {"transaction_id", SCEP_STORE_TEXT},
    {"outcome", SCEP_STORE_TEXT}, {"detail", SCEP_STORE_TEXT}, {"prev_hash", SCEP_STORE_TEXT},
    {"hash", SCEP_STORE_TEXT},
};
static const struct scep_store_column crls_columns[] = {
    {"id", SCEP_STORE_INT},          {"ca_name", SCEP_STORE_TEXT},
    {"crl_number", SCEP_STORE_INT},  {"this_update", SCEP_STORE_INT},
    {"next_update", SCEP_STORE_INT}, {"revoked_count", SCEP_STORE_INT},
    {"der", SCEP_STORE_BLOB},        {"created_at", SCEP_STORE_INT},
};

#define TABLE(name)                                                                                \
    {                                                                                              \
#name, name##_columns, sizeof(name##_columns) / sizeof(name##_columns[0])                  \
    }

/* In the order their foreign keys need (CAs before what names them). */
static const struct scep_store_table copy_tables[] = {
    TABLE(cas),          TABLE(aliases),      TABLE(alias_settings),
    TABLE(end_entities), TABLE(requests),     TABLE(certificates),
    TABLE(challenges),   TABLE(audit_events), TABLE(crls),
};

/* "SELECT a, b FROM t ORDER BY id" or "INSERT INTO t (a, b) VALUES (?1, ?2)", for a backend. */
int scep_store_copy_sql(char **out, const struct scep_store_table *table, int insert, char mark)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    int ok = BIO_printf(bio, insert ? "INSERT INTO %s (" : "SELECT ", table->name) > 0;
    for (size_t i = 0; ok && i < table->column_count; i++)
        ok = BIO_printf(bio, "%s%s", i > 0 ? ", " : "", table->columns[i].name) > 0;
    if (insert) {
        ok = ok && BIO_puts(bio, ") VALUES (") > 0;
        for (size_t i = 0; ok && i < table->column_count; i++)
            ok = BIO_printf(bio, "%s%c%zu", i > 0 ? ", " : "", mark, i + 1) > 0;
        ok = ok && BIO_puts(bio, ")") > 0;
    } else {
        ok = ok && BIO_printf(bio, " FROM %s ORDER BY id", table->name) > 0;
    }
    ok = ok && BIO_write(bio, "", 1) == 1;
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    *out = ok && len > 0 ? OPENSSL_strdup(data) : NULL;
    BIO_free(bio);
    return *out != NULL ? SCEP_OK : scep_fail(SCEP_ENOMEM, "out of memory");
}

#define TABLE_COUNT (sizeof(copy_tables) / sizeof(copy_tables[0]))

static int first_row(const struct scep_store_value *values, void *payload)
{
    (void)values;
    *(int *)payload = 1;
    return 1;
}

struct copy_sink {
    scep_store *to;
    const struct scep_store_table *table;
    size_t rows;
};

static int copy_row(const struct scep_store_value *values, void *payload)
{
    struct copy_sink *sink = payload;
    int rc = sink->to->ops->copy_write(sink->to, sink->table, values);
    if (rc < 0)
        return rc;
    sink->rows++;
    return 0;
}

static int check_version(scep_store *store, const char *which)
{
    int version = 0;
    int rc = store->ops->schema_version(&version, store);
    if (rc < 0)
        return rc;
    if (version != SCEP_STORE_SCHEMA_VERSION)
        return scep_fail(SCEP_ESTATE, "the %s store has schema version %d, this library %d", which,
                         version, SCEP_STORE_SCHEMA_VERSION);
    return SCEP_OK;
}

int scep_store_copy(scep_store *to, scep_store *from,
                    void (*progress)(const char *table, size_t rows, void *arg), void *arg)
{
    int rc = SCEP_OK;
    int reading = 0, writing = 0;
    size_t rows[TABLE_COUNT] = {0};
    ENSURE(to != NULL && from != NULL, SCEP_EINVAL, "store: NULL argument");
    ENSURE(to != from, SCEP_EINVAL, "store copy: the source and the destination are the same");
    GUARD(check_version(from, "source"));
    GUARD(check_version(to, "destination"));

    GUARD(from->ops->begin_snapshot(from));
    reading = 1;
    GUARD(to->ops->begin_write(to));
    writing = 1;
    /* Checked inside the write transaction: nobody fills it between the check and the copy. */
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        int found = 0;
        GUARD(to->ops->copy_read(to, &copy_tables[t], first_row, &found));
        ENSURE(!found, SCEP_EEXISTS,
               "the destination store is not empty (table %s has rows): copy into a new one",
               copy_tables[t].name);
    }
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        struct copy_sink sink = {to, &copy_tables[t], 0};
        GUARD(from->ops->copy_read(from, &copy_tables[t], copy_row, &sink));
        rows[t] = sink.rows;
    }
    GUARD(to->ops->copy_finish(to));
    GUARD(to->ops->commit(to));
    writing = 0;
    for (size_t t = 0; progress != NULL && t < TABLE_COUNT; t++)
        progress(copy_tables[t].name, rows[t], arg);

cleanup:
    if (writing)
        to->ops->rollback(to);
    if (reading)
        from->ops->end_snapshot(from);
    return rc;
}
