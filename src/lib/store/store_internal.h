/*
 * The store's backend interface. The front end (store.c, issuance_tx.c,
 * audit_chain.c) validates arguments, hashes secrets, normalises serials and
 * orders every multi-step operation inside the backend's begin_write/commit,
 * then dispatches row operations through `ops`; a backend only moves rows
 * (docs/store.md "Front end and backends"). A backend struct embeds
 * `struct scep_store` as its first member.
 *
 * Contract for backends: a record out-parameter (`scep_store_ca *out`, ...)
 * points to a zeroed struct the backend fills with OPENSSL_malloc'd copies;
 * on failure the frontend clears it. List functions return an OPENSSL_malloc'd
 * array. Uniqueness violations are SCEP_EEXISTS, missing rows SCEP_ENOTFOUND,
 * wrong states SCEP_ESTATE, anything else from the database SCEP_ESTORE.
 */
#ifndef SCEP_STORE_INTERNAL_H
#define SCEP_STORE_INTERNAL_H

#include <stdint.h>

#include "scep/store.h"

#define SCEP_STORE_HASH_LEN 32 /* SHA-256 of a challenge */

/*
 * The schema version this library writes. Every backend numbers its migrations
 * the same way so that a version means the same data model everywhere.
 */
#define SCEP_STORE_SCHEMA_VERSION 8

/* A stored challenge as challenge_find reads it; strings OPENSSL_malloc'd. */
struct scep_store_challenge_row {
    int64_t id;
    char *alias;
    unsigned char hash[SCEP_STORE_HASH_LEN];
    size_t
        hash_len; /* the stored hash's length: any other than SCEP_STORE_HASH_LEN never matches */
    char *subject_pattern;
    int64_t expires_at;
    int used;
};

/* A table as scep_store_copy() moves it (store_copy.c): its name and columns. */
enum scep_store_kind { SCEP_STORE_INT, SCEP_STORE_TEXT, SCEP_STORE_BLOB };
struct scep_store_column {
    const char *name;
    enum scep_store_kind kind;
};
struct scep_store_table {
    const char *name;
    const struct scep_store_column *columns;
    size_t column_count;
};
/* One value of a copied row: NULL, or `integer`, or `data`/`len` (text NUL-terminated). */
struct scep_store_value {
    int is_null;
    int64_t integer;
    const unsigned char *data;
    size_t len;
};

/*
 * The SQL a backend runs for a copy: "SELECT a, b FROM t ORDER BY id" (`insert` 0) or
 * "INSERT INTO t (a, b) VALUES (?1, ?2)" with `mark` before each parameter number ('?' for
 * SQLite, '$' for PostgreSQL). OPENSSL_malloc'd.
 */
int scep_store_copy_sql(char **out, const struct scep_store_table *table, int insert,
                        char mark) SCEP_MUST_CHECK;

struct scep_store_ops {
    const char *name;
    void (*close)(scep_store *store);
    int (*schema_version)(int *out, scep_store *store);
    int (*backup)(scep_store *store, const char *path);
    /*
     * The engine's own consistency check (SQLite: integrity_check, foreign_key_check):
     * `*out_problem` NULL when it found nothing, else an OPENSSL_malloc'd description.
     * NULL for an engine that keeps its constraints itself.
     */
    int (*integrity_check)(char **out_problem, scep_store *store);
    /* The configuration revision (schema 7: moved by triggers). */
    int (*config_revision)(int64_t *out, scep_store *store);

    /*
     * The write transaction the front end opens around an operation that reads rows and
     * writes according to what it read (docs/store.md "Front end and backends"). After
     * begin_write no other writer can change what this one reads until commit or
     * rollback. rollback does nothing when no transaction is open and never replaces the
     * error being reported. The row operations below marked "in a transaction" are only
     * called between begin_write and commit.
     */
    int (*begin_write)(scep_store *store);
    int (*commit)(scep_store *store);
    void (*rollback)(scep_store *store);

    int (*ca_add)(scep_store *store, const scep_store_ca *ca);
    int (*ca_get)(scep_store_ca *out, scep_store *store, const char *name);
    int (*ca_list)(scep_store_ca **out, size_t *out_count, scep_store *store);
    /* `key_ref` NULL and `activate_at` 0 when only a certificate is announced. */
    int (*ca_set_next_cert)(scep_store *store, const char *name, const char *pem,
                            const char *key_ref, int64_t activate_at);
    int (*ca_next_crl_number)(int64_t *out, scep_store *store, const char *name);

    int (*alias_add)(scep_store *store, const char *alias);
    int (*alias_remove)(scep_store *store, const char *alias);
    int (*alias_list)(char ***out, size_t *out_count, scep_store *store);
    int (*alias_setting_set)(scep_store *store, const char *alias, const char *key,
                             const char *value);
    int (*alias_setting_get)(char **out, scep_store *store, const char *alias, const char *key);
    int (*alias_setting_list)(scep_store_setting **out, size_t *out_count, scep_store *store,
                              const char *alias);
    int (*alias_setting_remove)(scep_store *store, const char *alias, const char *key);

    int (*ee_add)(scep_store *store, const scep_store_end_entity *ee, const char *password_hash);
    /* `out_password_hash` may be NULL. */
    int (*ee_get)(scep_store_end_entity *out, char **out_password_hash, scep_store *store,
                  const char *username);
    int (*ee_list)(scep_store_end_entity **out, size_t *out_count, scep_store *store);
    int (*ee_set_status)(scep_store *store, const char *username, scep_store_ee_status status);
    int (*ee_reset)(scep_store *store, const char *username, const char *password_hash);
    int (*ee_update)(scep_store *store, const scep_store_end_entity *ee, int64_t now);
    int (*ee_code_failed)(scep_store *store, const char *username, int64_t *out_count, int64_t now);
    int (*ee_remove)(scep_store *store, const char *username);

    /* In a transaction: NEW → GENERATED; `*out_changed` 0 when missing or not NEW. */
    int (*ee_consume)(int *out_changed, scep_store *store, const char *username, int64_t now);
    /* In a transaction: `*out` 1 when the end entity exists and is NEW or GENERATED. */
    int (*ee_is_active)(int *out, scep_store *store, const char *username);
    /*
     * In a transaction: creates `ra->username` (status NEW, password hash "!", ra_alias
     * `ra->alias`) or, when it has that ra_alias and is NEW or GENERATED, records `ra`'s
     * DN, profile, CA and SANs on it and sets it NEW; `*out_changed` 0 otherwise.
     */
    int (*ee_ra_upsert)(int *out_changed, scep_store *store, const scep_store_ra_entity *ra,
                        int64_t now);
    /*
     * In a transaction: PENDING → ISSUED with the CA and serial; `*out_changed` 0 when
     * missing or not PENDING, else `*out_alias` and `*out_transaction_id` are the row's.
     */
    int (*request_mark_issued)(int *out_changed, char **out_alias, char **out_transaction_id,
                               scep_store *store, int64_t id, const char *ca_name,
                               const char *serial, int64_t now);
    /*
     * In a transaction: inserts `req` (its status already set) unless a request with the
     * same (alias, transaction_id) exists; `*out_created` says which.
     */
    int (*request_insert_if_absent)(int *out_created, scep_store *store,
                                    const scep_store_request *req, int64_t now);
    int (*request_get)(scep_store_request *out, scep_store *store, int64_t id);
    int (*request_find)(scep_store_request *out, scep_store *store, const char *alias,
                        const char *transaction_id);
    int (*request_update)(scep_store *store, int64_t id, scep_store_request_status status,
                          int fail_info, const char *reason, int64_t now);
    /*
     * In a transaction: another PENDING request than `id`, created at or after `since`,
     * held with `reason` for `username`; `*out_found` 0 when none, else `*out_other` is it.
     */
    int (*request_held_for)(int64_t *out_other, int *out_found, scep_store *store,
                            const char *reason, const char *username, int64_t id, int64_t since);
    /* In a transaction: records the hold on a PENDING request; `*out_changed` 0 otherwise. */
    int (*request_set_hold)(int *out_changed, scep_store *store, int64_t id, const char *reason,
                            const scep_store_decision *decision, int64_t now);
    int (*request_retire)(scep_store *store, int64_t id, int64_t now);
    int (*request_list)(scep_store_request **out, size_t *out_count, scep_store *store,
                        scep_store_request_status status, size_t limit);
    int (*request_count)(int64_t *out, scep_store *store, scep_store_request_status status,
                         const char *reason);

    int (*cert_add)(scep_store *store, const scep_store_cert *cert, int64_t now);
    int (*cert_get)(scep_store_cert *out, scep_store *store, const char *ca_name,
                    const char *serial);
    int (*cert_list)(scep_store_cert **out, size_t *out_count, scep_store *store,
                     const scep_store_cert_filter *filter);
    /* VALID → REVOKED; `*out_changed` 0 when missing or not VALID. */
    int (*cert_revoke_if_valid)(int *out_changed, scep_store *store, const char *ca_name,
                                const char *serial, int64_t revoked_at, int reason);
    /* In a transaction: `*out` 1 when the certificate is VALID and not_after > `now`. */
    int (*cert_is_renewable)(int *out, scep_store *store, const char *ca_name, const char *serial,
                             int64_t now);
    /* `*out` 1 when `username` holds a VALID certificate with not_after > `now`. */
    int (*cert_valid_for_user)(int *out, scep_store *store, const char *username, int64_t now);
    int (*cert_list_revoked)(scep_store_revoked **out, size_t *out_count, scep_store *store,
                             const char *ca_name);

    int (*cert_count_revoked)(int64_t *out, scep_store *store, const char *ca_name);
    int (*crl_get)(scep_store_crl *out, scep_store *store, const char *ca_name);
    /* In a transaction: stores `crl`, setting its id and created_at (`now`). */
    int (*crl_insert)(scep_store *store, scep_store_crl *crl, int64_t now);
    /* In a transaction: deletes all but the `keep` newest CRLs of `ca_name`. */
    int (*crl_prune)(scep_store *store, const char *ca_name, int keep);

    int (*challenge_add)(scep_store *store, const char *alias,
                         const unsigned char hash[SCEP_STORE_HASH_LEN], int64_t expires_at,
                         const char *subject_pattern, int64_t now);
    /*
     * In a transaction: the challenge stored under `hash` (`*out_found` 0 when none), for
     * the front end to compare, check and consume.
     */
    int (*challenge_find)(struct scep_store_challenge_row *out, int *out_found, scep_store *store,
                          const unsigned char hash[SCEP_STORE_HASH_LEN]);
    /* In a transaction: records the use; `*out_changed` 0 when it was already used. */
    int (*challenge_mark_used)(int *out_changed, scep_store *store, int64_t id, int64_t now);
    int (*challenge_purge_expired)(size_t *out_count, scep_store *store, int64_t now);
    int (*request_purge)(size_t *out_count, scep_store *store, int64_t before, unsigned flags);

    /*
     * In a transaction: the newest event's id and hash (`*out_hash` NULL when that row
     * carries none); `*out_found` 0 when the trail is empty.
     */
    int (*audit_last)(int64_t *out_id, char **out_hash, int *out_found, scep_store *store);
    /* In a transaction: inserts `event` as given, id, prev_hash and hash included. */
    int (*audit_insert)(scep_store *store, const scep_store_audit_event *event);
    int (*audit_list)(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                      int64_t since, size_t limit);
    /* Events with an id below `before_id`, newest id first, at most `limit`. */
    int (*audit_page)(scep_store_audit_event **out, size_t *out_count, scep_store *store,
                      int64_t before_id, size_t limit);
    /*
     * Calls `visit` for every event in id order, from one read snapshot, until it returns
     * non-zero (a negative value is returned as the error, a positive one ends the walk).
     */
    int (*audit_walk)(scep_store *store,
                      int (*visit)(const scep_store_audit_event *event, void *payload),
                      void *payload);

    /*
     * Copying a store (store_copy.c). Between begin_snapshot and end_snapshot every read
     * sees one committed state. copy_read calls `row` for each row of `table` in id order
     * (values in the table's column order; they live until `row` returns) until it
     * returns non-zero (negative: the error; positive: stop). copy_write inserts one row
     * as given, in a transaction; copy_finish, last in that transaction, makes the ids of
     * rows inserted later follow the copied ones.
     */
    int (*begin_snapshot)(scep_store *store);
    void (*end_snapshot)(scep_store *store);
    int (*copy_read)(scep_store *store, const struct scep_store_table *table,
                     int (*row)(const struct scep_store_value *values, void *payload),
                     void *payload);
    int (*copy_write)(scep_store *store, const struct scep_store_table *table,
                      const struct scep_store_value *values);
    int (*copy_finish)(scep_store *store);
};

struct scep_store {
    const struct scep_store_ops *ops;
    uint32_t password_iterations;
};

/* Backend constructors, looked up by URL scheme in store.c. `location` follows "scheme:". */
int scep_store_sqlite_open(scep_store **out, const char *location,
                           const scep_store_open_options *options);
/*
 * `location` follows "postgresql:" or "postgres:": "//..." is a libpq connection URI, anything
 * else a libpq keyword string. The database must exist (`must_exist` changes nothing).
 */
int scep_store_postgres_open(scep_store **out, const char *location,
                             const scep_store_open_options *options);

/* Record helpers shared by the frontend and backends (store.c). */
void scep_store_ca_clear(scep_store_ca *ca);
void scep_store_ee_clear(scep_store_end_entity *ee);
void scep_store_request_clear(scep_store_request *req);
void scep_store_cert_clear(scep_store_cert *cert);
void scep_store_audit_clear(scep_store_audit_event *event);
void scep_store_setting_clear(scep_store_setting *setting);
void scep_store_revoked_clear(scep_store_revoked *revoked);
void scep_store_crl_clear(scep_store_crl *crl);
/* Frees a const-qualified string or blob owned by a record. */
void scep_store_release(const void *p);

/* The audit hash chain (audit_chain.c, docs/store.md "Audit chain"). */
/*
 * `out` = hex SHA-256 over the canonical encoding of `prev_hash` and the event's id, time,
 * actor, action, alias, transaction_id, outcome and detail (event->prev_hash and
 * event->hash are not read).
 */
int scep_store_audit_hash(char out[SCEP_STORE_AUDIT_HASH_HEX + 1], const char *prev_hash,
                          const scep_store_audit_event *event) SCEP_MUST_CHECK;

/*
 * Appends `event` chained to the newest one: reads the newest hash and inserts with the
 * next id. Only inside begin_write, or two writers could chain to the same event.
 */
int scep_store_audit_append_in_tx(scep_store *store,
                                  const scep_store_audit_event *event) SCEP_MUST_CHECK;

/* The issuance step (issuance_tx.c); `ra` NULL in CA mode. Arguments are checked. */
int scep_store_issue_tx(scep_store *store, const scep_store_ra_entity *ra,
                        const scep_store_issuance *issuance, int64_t now) SCEP_MUST_CHECK;
/* Status names as stored and as error messages show them ("?" when unknown). */
const char *scep_store_ee_status_text(scep_store_ee_status status);
const char *scep_store_request_status_text(scep_store_request_status status);
const char *scep_store_cert_status_text(scep_store_cert_status status);
/*
 * After a state-guarded write changed nothing: SCEP_ENOTFOUND ("<what>: not found") when
 * the row is missing, else SCEP_ESTATE "<what> is <STATUS>".
 */
int scep_store_explain_ee(scep_store *store, const char *username) SCEP_MUST_CHECK;
int scep_store_explain_request(scep_store *store, int64_t id) SCEP_MUST_CHECK;
int scep_store_explain_cert(scep_store *store, const char *ca_name,
                            const char *serial) SCEP_MUST_CHECK;

/* Password hashing (password.c). */
int scep_store_password_hash(char **out, const char *password, uint32_t iterations);
/* 0 when `password` matches `encoded`; SCEP_EDENIED otherwise. */
int scep_store_password_verify(const char *encoded, const char *password);
/* Spends the time of one verification with `iterations`, for unknown users. */
void scep_store_password_dummy(const char *password, uint32_t iterations);

#endif /* SCEP_STORE_INTERNAL_H */
