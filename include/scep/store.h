/*
 * libscep storage: CAs, aliases, end entities, SCEP transactions, issued
 * certificates, one-time challenges and the audit trail, behind one interface
 * with pluggable backends (SQLite today; the URL scheme selects the backend).
 *
 * Concurrency: a scep_store is ONE database connection. It may be used by one
 * thread at a time (no internal locking); a multi-threaded server opens one
 * scep_store per worker thread. Connections to the same database coordinate
 * through the database itself: every multi-step write runs in one write
 * transaction (SQLite: BEGIN IMMEDIATE with a busy timeout), so concurrent
 * callers are serialised and the invariants below hold across processes.
 *
 * Ownership: every `**out` becomes the caller's and is released with the
 * matching _free / _list_free. Input structs are only read; the store copies
 * what it keeps.
 *
 * Times are unix seconds (UTC). Errors: 0 or a negative SCEP_E* code, with a
 * message in scep_error_message(). Database failures are SCEP_ESTORE carrying
 * the backend's message; a uniqueness violation is SCEP_EEXISTS; a missing row
 * is SCEP_ENOTFOUND; a row in the wrong state is SCEP_ESTATE.
 */
#ifndef SCEP_STORE_H
#define SCEP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "scep/common.h"
#include "scep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct scep_store scep_store;

/* Size limits enforced on input (SCEP_ETOOBIG beyond them). */
#define SCEP_STORE_MAX_TEXT       65536u   /* any text column, PEM included (64 KiB) */
#define SCEP_STORE_MAX_BLOB       1048576u /* any DER column (1 MiB) */
#define SCEP_STORE_MAX_SERIAL_HEX 40       /* 20 octets, RFC 5280 §4.1.2.2 */
#define SCEP_STORE_MAX_LIST       100000u  /* rows returned by one list call */

/* Password hashing defaults: see docs/store.md for the trade-off. */
#define SCEP_STORE_PBKDF2_DEFAULT_ITERATIONS 10000u
#define SCEP_STORE_PBKDF2_MIN_ITERATIONS     1000u
#define SCEP_STORE_PBKDF2_MAX_ITERATIONS     10000000u

/* ---- connection ---------------------------------------------------------- */

/*
 * Opens a connection. `url` selects the backend by scheme:
 *   sqlite:/path/to/file.db   (also sqlite:///path/to/file.db)
 * An unknown scheme is SCEP_ECONFIG. The schema is created or migrated to the
 * current version; a database written by a newer scepd is refused
 * (SCEP_ECONFIG). Close with scep_store_close.
 */
SCEP_EXPORT int scep_store_open(scep_store **out, const char *url) SCEP_MUST_CHECK;
/*
 * As scep_store_open, but a database that does not exist yet is SCEP_ENOTFOUND (the
 * message names the path) instead of being created: what a server uses, so that a
 * wrong path is not silently a new, empty store. An existing database is still migrated.
 * scep_store_open creates a new SQLite file with mode 0600 whatever the umask (its
 * -wal and -shm files get the same mode).
 */
SCEP_EXPORT int scep_store_open_existing(scep_store **out, const char *url) SCEP_MUST_CHECK;

/* How scep_store_open_with() opens a store. Zeroed: as scep_store_open(). */
typedef struct scep_store_open_options {
    /*
     * PostgreSQL: the role's password, kept out of the URL (and so out of every log and
     * error message). NULL: libpq's own sources (PGPASSFILE, ~/.pgpass). A SQLite store
     * has none: SCEP_ECONFIG.
     */
    const char *password;
    /* As scep_store_open_existing(): a database that does not exist is SCEP_ENOTFOUND. */
    int must_exist;
} scep_store_open_options;
SCEP_EXPORT int scep_store_open_with(scep_store **out, const char *url,
                                     const scep_store_open_options *options) SCEP_MUST_CHECK;

/* Closes the connection and frees the handle. Accepts NULL. */
SCEP_EXPORT void scep_store_close(scep_store *store);

/*
 * Copies the whole store, consistently, into a new file at `path` while others keep
 * using it (SQLite's online backup API: one read transaction, so the copy holds exactly
 * what was committed when it began). The file is created 0600; an existing file is
 * SCEP_EEXISTS and left alone; on failure the partial copy is removed.
 */
SCEP_EXPORT int scep_store_backup(scep_store *store, const char *path) SCEP_MUST_CHECK;

/*
 * The database engine's own consistency check (SQLite: PRAGMA integrity_check and
 * foreign_key_check; PostgreSQL keeps its constraints itself). `*out_problem` is NULL when
 * nothing was found, else a description to free with OPENSSL_free(). The audit chain is
 * checked separately (scep_store_audit_verify).
 */
SCEP_EXPORT int scep_store_integrity_check(char **out_problem, scep_store *store) SCEP_MUST_CHECK;

/*
 * Copies every row of `from` into `to`, whatever their backends (SQLite to PostgreSQL and
 * back): CAs, aliases and settings, end entities, requests, certificates, challenges, the
 * audit trail (ids and hash chain as they are) and CRLs. `from` is read from one snapshot,
 * so it may stay in use; `to` must be empty (SCEP_EEXISTS otherwise) and is written in one
 * transaction: a failure leaves it empty. Both must be at this library's schema version.
 * `progress`, when not NULL, is called after each table with its name and row count.
 */
SCEP_EXPORT int scep_store_copy(scep_store *to, scep_store *from,
                                void (*progress)(const char *table, size_t rows, void *arg),
                                void *arg) SCEP_MUST_CHECK;

/* The backend's name ("sqlite"); borrowed static string. */
SCEP_EXPORT const char *scep_store_backend(const scep_store *store);

/* The schema version the database is at, and the one this library writes. */
SCEP_EXPORT int scep_store_schema_version(int *out, scep_store *store) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_schema_version_supported(void);

/*
 * A number that changes whenever a CA (certificate, key reference, rollover schedule), an
 * alias or an alias setting changes, whoever changed it: a server sharing the store with
 * other processes polls it and reloads when it moved. Not moved by CRLs, end entities,
 * requests or certificates, which are read from the store on every use.
 */
SCEP_EXPORT int scep_store_config_revision(int64_t *out, scep_store *store) SCEP_MUST_CHECK;

/*
 * PBKDF2 iteration count used for passwords hashed through this connection
 * from now on (existing hashes keep their own count). Bounds:
 * SCEP_STORE_PBKDF2_MIN_ITERATIONS..SCEP_STORE_PBKDF2_MAX_ITERATIONS.
 */
SCEP_EXPORT int scep_store_set_password_iterations(scep_store *store,
                                                   uint32_t iterations) SCEP_MUST_CHECK;

/* ---- CAs ------------------------------------------------------------------ */

typedef struct scep_store_ca {
    int64_t id;
    const char *name;
    const char *cert_pem;
    const char *key_ref;       /* where the key lives (file path, PKCS#11 URI): never the key */
    const char *chain_pem;     /* may be NULL */
    const char *next_cert_pem; /* may be NULL; set during a rollover (GetNextCACert) */
    int64_t crl_number;        /* the last CRL number handed out; 0 before the first CRL */
    int64_t created_at;
    /*
     * Rollover (RFC 8894 §4.7), schema version 2: where the next certificate's key lives
     * (NULL: the next certificate is only announced, never used), and from when the next
     * certificate replaces `cert_pem` (unix seconds; 0: not scheduled).
     */
    const char *next_key_ref;
    int64_t next_activate_at;
} scep_store_ca;

/* Adds a CA (id, crl_number and created_at are ignored). SCEP_EEXISTS on a duplicate name. */
SCEP_EXPORT int scep_store_ca_add(scep_store *store, const scep_store_ca *ca) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_ca_get(scep_store_ca **out, scep_store *store,
                                  const char *name) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_ca_list(scep_store_ca **out, size_t *out_count,
                                   scep_store *store) SCEP_MUST_CHECK;
/*
 * Sets (or with NULL clears) the CA's next certificate. Clears the next key reference
 * and activation time: a certificate set this way is only announced (GetNextCACert).
 */
SCEP_EXPORT int scep_store_ca_set_next_cert(scep_store *store, const char *name,
                                            const char *next_cert_pem) SCEP_MUST_CHECK;
/*
 * Records a scheduled rollover: the next certificate, its key reference and the time
 * (unix seconds, > 0) from which it replaces the current certificate. All three or
 * (next_cert_pem NULL) none: NULL clears the rollover. SCEP_ENOTFOUND for an unknown CA.
 */
SCEP_EXPORT int scep_store_ca_set_next(scep_store *store, const char *name,
                                       const char *next_cert_pem, const char *next_key_ref,
                                       int64_t next_activate_at) SCEP_MUST_CHECK;
/* Atomically increments the CA's CRL number and returns the new value. */
SCEP_EXPORT int scep_store_ca_next_crl_number(int64_t *out, scep_store *store,
                                              const char *name) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_ca_free(scep_store_ca *ca);
SCEP_EXPORT void scep_store_ca_list_free(scep_store_ca *list, size_t count);

/* ---- aliases and their settings -------------------------------------------- */

typedef struct scep_store_setting {
    const char *key;
    const char *value;
} scep_store_setting;

/* Adds an alias; SCEP_EEXISTS when present. */
SCEP_EXPORT int scep_store_alias_add(scep_store *store, const char *alias) SCEP_MUST_CHECK;
/* Removes an alias and all of its settings. */
SCEP_EXPORT int scep_store_alias_remove(scep_store *store, const char *alias) SCEP_MUST_CHECK;
/* Alias names in name order; free with scep_store_string_list_free. */
SCEP_EXPORT int scep_store_alias_list(char ***out, size_t *out_count,
                                      scep_store *store) SCEP_MUST_CHECK;
/* Sets a setting, creating the alias when it does not exist yet. */
SCEP_EXPORT int scep_store_alias_setting_set(scep_store *store, const char *alias, const char *key,
                                             const char *value) SCEP_MUST_CHECK;
/* `*out` is the value (free with scep_store_string_free); SCEP_ENOTFOUND when unset. */
SCEP_EXPORT int scep_store_alias_setting_get(char **out, scep_store *store, const char *alias,
                                             const char *key) SCEP_MUST_CHECK;
/* All settings of an alias in key order. */
SCEP_EXPORT int scep_store_alias_setting_list(scep_store_setting **out, size_t *out_count,
                                              scep_store *store, const char *alias) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_alias_setting_remove(scep_store *store, const char *alias,
                                                const char *key) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_setting_list_free(scep_store_setting *list, size_t count);
SCEP_EXPORT void scep_store_string_free(char *s);
SCEP_EXPORT void scep_store_string_list_free(char **list, size_t count);

/* ---- end entities (CA mode enrollment codes) ------------------------------ */

typedef enum scep_store_ee_status {
    SCEP_EE_NEW = 1,       /* may enroll once */
    SCEP_EE_GENERATED = 2, /* a certificate was issued; reset to enroll again */
    SCEP_EE_REVOKED = 3,
    SCEP_EE_DISABLED = 4
} scep_store_ee_status;

/*
 * Usernames are unique across the whole store (not per CA), as in EJBCA, so
 * an enrollment code names one end entity whatever alias it arrives on.
 */
typedef struct scep_store_end_entity {
    int64_t id;
    const char *username;
    const char *subject_dn;
    scep_store_ee_status status;
    const char *profile; /* may be NULL */
    const char *ca_name; /* must name a CA in the store */
    int64_t created_at;
    int64_t updated_at;
    /*
     * Schema version 4. The alias the end entity enrolls through (NULL: the server's
     * default alias); a request for it through any other alias is refused.
     */
    const char *alias;
    /*
     * The subjectAltNames registered for it, scep_san_format() text with '\n' between
     * entries (NULL or "": none). CA mode issues exactly these, whatever the CSR asks.
     */
    const char *sans;
    /*
     * Set (ignored on input to scep_store_ee_add) when RA mode of that alias created the
     * end entity; RA mode never changes an end entity whose ra_alias is not its own.
     */
    const char *ra_alias;
    /*
     * Schema version 5 (ignored on input): wrong enrollment codes sent for it since it
     * was added or last reset. scepd locks it at `max_failed_codes` until `ee reset`.
     */
    int64_t failed_codes;
} scep_store_end_entity;

/*
 * Adds an end entity with `password` hashed (PBKDF2-HMAC-SHA256, random salt);
 * the password itself is never stored. `status` 0 means SCEP_EE_NEW.
 */
SCEP_EXPORT int scep_store_ee_add(scep_store *store, const scep_store_end_entity *ee,
                                  const char *password) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_ee_get(scep_store_end_entity **out, scep_store *store,
                                  const char *username) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_ee_list(scep_store_end_entity **out, size_t *out_count,
                                   scep_store *store) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_ee_set_status(scep_store *store, const char *username,
                                         scep_store_ee_status status) SCEP_MUST_CHECK;
/*
 * Changes an end entity's registration: `ee->subject_dn` (required), `profile`, `alias`
 * and `sans` (NULL clears them), found by `ee->username`. Status, CA and password stay.
 * RA mode's own end entities (ra_alias set) are refused with SCEP_EDENIED: their names
 * come from their requests.
 */
SCEP_EXPORT int scep_store_ee_update(scep_store *store,
                                     const scep_store_end_entity *ee) SCEP_MUST_CHECK;
/*
 * Counts one wrong enrollment code for `username` and returns the new count in
 * `*out_count` (may be NULL). SCEP_ENOTFOUND for an unknown username.
 */
SCEP_EXPORT int scep_store_ee_code_failed(scep_store *store, const char *username,
                                          int64_t *out_count) SCEP_MUST_CHECK;
/* Status back to SCEP_EE_NEW with a new password (and no wrong codes counted). */
SCEP_EXPORT int scep_store_ee_reset(scep_store *store, const char *username,
                                    const char *new_password) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_ee_remove(scep_store *store, const char *username) SCEP_MUST_CHECK;
/*
 * Checks `password` against the stored hash in constant time. 0 when it
 * matches (and `*out`, when `out` is not NULL, is the end entity); SCEP_EDENIED
 * for a wrong password and for an unknown username alike (the unknown case
 * still spends one hash so timing does not tell them apart). Does not look at
 * the status: the caller decides what a GENERATED entity may do.
 */
SCEP_EXPORT int scep_store_ee_verify_password(scep_store_end_entity **out, scep_store *store,
                                              const char *username,
                                              const char *password) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_ee_free(scep_store_end_entity *ee);
SCEP_EXPORT void scep_store_ee_list_free(scep_store_end_entity *list, size_t count);

/* ---- SCEP transactions ----------------------------------------------------- */

typedef enum scep_store_request_status {
    SCEP_REQ_PENDING = 1,
    SCEP_REQ_ISSUED = 2,
    SCEP_REQ_REJECTED = 3,
    SCEP_REQ_FAILED = 4
} scep_store_request_status;

#define SCEP_STORE_NO_FAIL_INFO (-1)

/*
 * One PKCSReq/RenewalReq transaction, keyed on (alias, transaction_id)
 * (RFC 8894 §3.3.1: a retransmission must not issue twice).
 */
typedef struct scep_store_request {
    int64_t id;
    const char *alias;
    const char *transaction_id;
    int message_type; /* scep_message_type */
    const unsigned char *csr_der;
    size_t csr_der_len;
    const unsigned char *signer_cert_der; /* may be NULL */
    size_t signer_cert_der_len;
    unsigned char public_key_sha256[32]; /* SHA-256 of the CSR's SubjectPublicKeyInfo DER */
    scep_store_request_status status;
    int fail_info;           /* scep_fail_info, or SCEP_STORE_NO_FAIL_INFO */
    const char *reason;      /* may be NULL */
    const char *client_addr; /* may be NULL */
    const char *ca_name;     /* set when ISSUED, or when held (the issuing CA) */
    const char *cert_serial; /* set when ISSUED */
    int64_t created_at;      /* ignored on input */
    int64_t updated_at;      /* ignored on input */
    /* Schema version 4: what was decided for a request held for approval (all NULL else). */
    const char *decided_mode;     /* "ca", "ra", "challenge" or "renewal" */
    const char *decided_username; /* the end entity the certificate is for */
    const char *decided_profile;  /* certificate profile name */
    const char *decided_subject;  /* the certificate's subject, RFC 4514 text */
    const char *decided_sans;     /* its subjectAltNames, scep_san_format() with '\n' */
    const char *replaces_serial;  /* renewal: the certificate it revokes; may be NULL */
    /* Schema version 5. */
    const char *renews_serial;     /* renewal: the certificate it renews */
    int64_t decided_ee_updated_at; /* the end entity's updated_at when decided; 0: none */
} scep_store_request;

/* What scepd decided for a request it holds for an operator (scep_store_request_hold). */
typedef struct scep_store_decision {
    const char *mode;            /* "ca", "ra", "challenge" or "renewal" (required) */
    const char *username;        /* required */
    const char *profile;         /* required */
    const char *ca_name;         /* the issuing CA (required) */
    const char *subject;         /* RFC 4514 text (required; "" for an empty subject) */
    const char *sans;            /* may be NULL */
    const char *replaces_serial; /* may be NULL */
    const char *renews_serial;   /* renewal: the certificate it renews; may be NULL */
    int64_t ee_updated_at;       /* the end entity's updated_at it was decided on; 0: none */
} scep_store_decision;

/*
 * Inserts `req` (status 0 means PENDING) unless a request with the same
 * (alias, transaction_id) exists; either way `*out` is the stored row and
 * `*out_created` (when not NULL) says which. The caller compares
 * public_key_sha256 to tell a retransmission from a transactionID reused with
 * another key, and answers a retransmission from the stored row.
 */
SCEP_EXPORT int scep_store_request_get_or_insert(scep_store_request **out, int *out_created,
                                                 scep_store *store,
                                                 const scep_store_request *req) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_request_get(scep_store_request **out, scep_store *store,
                                       int64_t id) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_request_find(scep_store_request **out, scep_store *store,
                                        const char *alias,
                                        const char *transaction_id) SCEP_MUST_CHECK;
/*
 * Sets status, failInfo and reason (NULL clears) of a request. ISSUED is only
 * reached through scep_store_issue (SCEP_EINVAL here).
 */
SCEP_EXPORT int scep_store_request_update(scep_store *store, int64_t id,
                                          scep_store_request_status status, int fail_info,
                                          const char *reason) SCEP_MUST_CHECK;
/* Requests with `status` (0: any), oldest first, at most `limit` (0: SCEP_STORE_MAX_LIST). */
/*
 * Holds a PENDING request for an operator: records `decision` and `reason` (the
 * marker scepd reads back). SCEP_ESTATE when the request is no longer PENDING. With
 * `exclusive_since` > 0, in the same write transaction: SCEP_EEXISTS (and nothing
 * written; `*out_other` the other request's id, may be NULL) when another request with
 * this `reason` for the same decision username, received at or after `exclusive_since`,
 * is still PENDING — one waiting request per end entity, even under races.
 */
SCEP_EXPORT int scep_store_request_hold(scep_store *store, int64_t id, const char *reason,
                                        const scep_store_decision *decision,
                                        int64_t exclusive_since,
                                        int64_t *out_other) SCEP_MUST_CHECK;
/*
 * Retires a transaction that is over (issued before an `ee reset`, refused, or
 * replaced by a request of another kind under the same transactionID): its
 * transactionID is renamed to "TID~ID" — '~' is no PrintableString character, so no
 * client can send it — so that a new transaction can use the ID; its history stays.
 */
SCEP_EXPORT int scep_store_request_retire(scep_store *store, int64_t id) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_request_list(scep_store_request **out, size_t *out_count,
                                        scep_store *store, scep_store_request_status status,
                                        size_t limit) SCEP_MUST_CHECK;
/*
 * How many requests have `status` (0: any) and, unless `reason` is NULL, exactly that
 * reason (SCEP_APPROVAL_HELD: held for an operator). One COUNT query.
 */
SCEP_EXPORT int scep_store_request_count(int64_t *out, scep_store *store,
                                         scep_store_request_status status,
                                         const char *reason) SCEP_MUST_CHECK;
/* scep_store_request_purge: also ISSUED requests (see there). */
#define SCEP_STORE_PURGE_ISSUED 1u
/*
 * Deletes transactions that are over and were last changed before `before` (unix
 * seconds): REJECTED and FAILED requests; with SCEP_STORE_PURGE_ISSUED also ISSUED
 * requests whose certificate row still records a transactionID (the certificate row
 * keeps serial, subject, end entity and transactionID). PENDING requests are never
 * deleted. A client retransmitting a purged transactionID starts a new transaction.
 * `*out_count` (may be NULL) is how many rows went. One write transaction.
 */
SCEP_EXPORT int scep_store_request_purge(size_t *out_count, scep_store *store, int64_t before,
                                         unsigned flags) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_request_free(scep_store_request *req);
SCEP_EXPORT void scep_store_request_list_free(scep_store_request *list, size_t count);

/* ---- certificates ------------------------------------------------------------ */

typedef enum scep_store_cert_status {
    SCEP_CERT_VALID = 1,
    SCEP_CERT_REVOKED = 2
} scep_store_cert_status;

#define SCEP_STORE_NO_REASON (-1)

typedef struct scep_store_cert {
    int64_t id;
    const char *ca_name;
    /*
     * Upper-case hex in whole octets, as `openssl x509 -serial` prints it (one
     * leading zero when needed, no more); input in any case and with any
     * leading zeros is normalised so the UNIQUE(ca, serial) constraint sees
     * one spelling per number.
     */
    const char *serial;
    const char *subject;
    const char *issuer;
    int64_t not_before;
    int64_t not_after;
    const unsigned char *der;
    size_t der_len;
    scep_store_cert_status status; /* ignored on input: always VALID */
    int64_t revoked_at;            /* 0 unless REVOKED */
    int revocation_reason;         /* CRLReason (RFC 5280 §5.3.1) or SCEP_STORE_NO_REASON */
    const char *username;          /* end entity, may be NULL */
    const char *transaction_id;    /* may be NULL */
    int64_t created_at;
} scep_store_cert;

typedef struct scep_store_cert_filter {
    const char *ca_name;           /* NULL: any CA */
    scep_store_cert_status status; /* 0: any */
    size_t limit;                  /* 0: SCEP_STORE_MAX_LIST */
    size_t offset;
    const char *subject; /* NULL: any; else exactly this subject DN, as stored (indexed) */
} scep_store_cert_filter;

typedef struct scep_store_revoked {
    const char *serial;
    int64_t revoked_at;
    int reason; /* CRLReason or SCEP_STORE_NO_REASON */
} scep_store_revoked;

/* Stores a certificate outside an issuance (import). SCEP_EEXISTS on a duplicate serial. */
SCEP_EXPORT int scep_store_cert_add(scep_store *store, const scep_store_cert *cert) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_store_cert_get(scep_store_cert **out, scep_store *store, const char *ca_name,
                                    const char *serial) SCEP_MUST_CHECK;
/* Certificates by id order. `filter` may be NULL. */
SCEP_EXPORT int scep_store_cert_list(scep_store_cert **out, size_t *out_count, scep_store *store,
                                     const scep_store_cert_filter *filter) SCEP_MUST_CHECK;
/* Marks a certificate revoked; SCEP_ESTATE when it already is. `revoked_at` 0 means now. */
SCEP_EXPORT int scep_store_cert_revoke(scep_store *store, const char *ca_name, const char *serial,
                                       int64_t revoked_at, int reason) SCEP_MUST_CHECK;
/* Every revoked certificate of a CA, for its CRL. */
SCEP_EXPORT int scep_store_cert_list_revoked(scep_store_revoked **out, size_t *out_count,
                                             scep_store *store,
                                             const char *ca_name) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_cert_free(scep_store_cert *cert);
SCEP_EXPORT void scep_store_cert_list_free(scep_store_cert *list, size_t count);
SCEP_EXPORT void scep_store_revoked_list_free(scep_store_revoked *list, size_t count);

/* ---- stored CRLs ---------------------------------------------------------------- */

/*
 * Newest CRLs kept per CA; older ones are deleted when a new one is stored, so
 * a busy CA's table stays bounded (each CRL lists every revocation).
 */
#define SCEP_STORE_CRL_HISTORY 16

/* One signed CRL of a CA (RFC 5280 §5), as served by GetCRL and /crl/NAME.crl. */
typedef struct scep_store_crl {
    int64_t id;
    const char *ca_name;
    int64_t crl_number;    /* cRLNumber (RFC 5280 §5.2.3) */
    int64_t this_update;   /* thisUpdate, unix seconds */
    int64_t next_update;   /* nextUpdate, unix seconds */
    int64_t revoked_count; /* revoked certificates of the CA when it was built */
    const unsigned char *der;
    size_t der_len;
    int64_t created_at;
} scep_store_crl;

/* The CA's newest stored CRL (highest number); SCEP_ENOTFOUND when none yet. */
SCEP_EXPORT int scep_store_crl_get(scep_store_crl **out, scep_store *store,
                                   const char *ca_name) SCEP_MUST_CHECK;
/* How many of the CA's certificates are revoked (to tell whether a CRL is out of date). */
SCEP_EXPORT int scep_store_cert_count_revoked(int64_t *out, scep_store *store,
                                              const char *ca_name) SCEP_MUST_CHECK;

/*
 * Decides whether `latest` (NULL when the CA has no CRL yet) may still be served,
 * given the CA's current number of revoked certificates: 1 yes, 0 no.
 */
typedef int (*scep_store_crl_fresh_cb)(const scep_store_crl *latest, int64_t revoked_count,
                                       void *payload);
/*
 * Signs a CRL. On input `crl->ca_name` and `crl->crl_number` are set; the callback
 * sets this_update, next_update, and `der` to an OPENSSL_malloc'd encoding that the
 * store owns from then on (also on failure). Returns 0 or a negative SCEP_E* code.
 */
typedef int (*scep_store_crl_sign_cb)(scep_store_crl *crl, const scep_store_revoked *revoked,
                                      size_t revoked_count, void *payload);

/*
 * In one write transaction: reads the CA's newest CRL and revocations; when `fresh`
 * (NULL: never) says the newest may still be served, returns it with
 * `*out_generated` 0. Otherwise takes the next CRL number
 * (scep_store_ca_next_crl_number), lets `sign` build the CRL over the revocations,
 * stores it, deletes CRLs beyond SCEP_STORE_CRL_HISTORY, commits, and returns the
 * new one with `*out_generated` 1. Of concurrent callers that find the newest CRL
 * stale, the first generates; the others wait for its commit, find the new CRL
 * fresh and return it. `out_generated` may be NULL. SCEP_ENOTFOUND for an unknown CA.
 */
SCEP_EXPORT int scep_store_crl_publish(scep_store_crl **out, int *out_generated, scep_store *store,
                                       const char *ca_name, scep_store_crl_fresh_cb fresh,
                                       scep_store_crl_sign_cb sign, void *payload) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_crl_free(scep_store_crl *crl);

/* ---- the atomic issuance step ------------------------------------------------- */

typedef struct scep_store_issuance {
    /*
     * The certificate row to insert (required). Its status is ignored (VALID);
     * a NULL username or transaction_id is taken from `username` and from the
     * request row.
     */
    const scep_store_cert *cert;
    int64_t request_id;   /* request to mark ISSUED (must be PENDING); 0: none */
    const char *username; /* end entity to consume (must be NEW); NULL in RA mode */
    const char *actor;    /* for the audit event, e.g. the client address; NULL: "scepd" */
    const char *alias;    /* for the audit event; NULL: the request's alias */
    /*
     * Renewal: a certificate of the same CA to revoke in the same transaction
     * (the one being replaced, reason superseded). NULL: none. It must be VALID:
     * SCEP_ESTATE when it is already revoked (then nothing is issued), so of
     * two concurrent renewals of one certificate only one succeeds.
     */
    const char *revoke_serial;
    int revoke_reason; /* CRLReason (RFC 5280 §5.3.1) or SCEP_STORE_NO_REASON */
    /*
     * Renewal, checked inside the transaction (SCEP_ESTATE, nothing written): the
     * certificate of the same CA being renewed must still be VALID and unexpired, and
     * the end entity `renewal_username` NEW or GENERATED. NULL: no check.
     */
    const char *renews_serial;
    const char *renewal_username;
} scep_store_issuance;

/*
 * In one write transaction: checks the end entity is NEW and the request is
 * PENDING, inserts the certificate, marks the request ISSUED with the serial,
 * sets the end entity GENERATED, revokes `revoke_serial` when set (with a
 * second audit event), appends an audit event, commits. All or
 * nothing. Of concurrent issuances for one end entity (or one request),
 * exactly one succeeds; the others get SCEP_ESTATE. A serial already used by
 * the CA is SCEP_EEXISTS: draw a new serial and call again.
 */
SCEP_EXPORT int scep_store_issue(scep_store *store,
                                 const scep_store_issuance *issuance) SCEP_MUST_CHECK;

/* ---- RA mode issuance ------------------------------------------------------------- */

/* What RA mode does when the generated username already holds a valid certificate. */
typedef enum scep_store_ra_existing {
    SCEP_STORE_RA_REISSUE = 0, /* issue another certificate (EJBCA's behaviour) */
    SCEP_STORE_RA_REFUSE = 1   /* SCEP_EDENIED */
} scep_store_ra_existing;

/* The end entity RA mode creates (or reuses) for one request. */
typedef struct scep_store_ra_entity {
    const char *username;   /* the generated username (required) */
    const char *subject_dn; /* recorded on the end entity, e.g. the CSR subject (required) */
    const char *profile;    /* certificate profile name; may be NULL */
    const char *ca_name;    /* the issuing CA (required) */
    scep_store_ra_existing on_existing;
    const char *alias; /* the RA alias: its namespace (required) */
    const char *sans;  /* recorded on the end entity; may be NULL */
} scep_store_ra_entity;

/*
 * RA mode's issuance, in one write transaction: creates the end entity
 * `ra->username` (status NEW, no usable password: CA mode cannot enroll it
 * until `ee reset`; ra_alias = ra->alias) or, when RA mode of the same alias
 * created it and it is NEW or GENERATED, records `ra`'s DN, SANs, profile and
 * CA on it and sets it NEW; then does everything scep_store_issue does with
 * `issuance->username` = `ra->username` (which must be NULL or equal). All or
 * nothing. SCEP_EDENIED, with nothing written, when the name belongs to an end
 * entity RA mode of this alias did not create (CA mode's, another alias's),
 * when the existing end entity is REVOKED or DISABLED, or when `on_existing` is
 * SCEP_STORE_RA_REFUSE and it holds a VALID, unexpired certificate. Other
 * errors as scep_store_issue.
 */
SCEP_EXPORT int scep_store_issue_ra(scep_store *store, const scep_store_issuance *issuance,
                                    const scep_store_ra_entity *ra) SCEP_MUST_CHECK;

/* ---- one-time challenges ------------------------------------------------------- */

/*
 * Stores SHA-256(challenge) for `alias`, valid until `expires_at`.
 * `subject_pattern` (may be NULL) is kept for the caller to check the CSR
 * subject. Challenges must be high-entropy random strings (the hash is not
 * salted so that it can be looked up). SCEP_EEXISTS when already stored.
 */
SCEP_EXPORT int scep_store_challenge_add(scep_store *store, const char *alias,
                                         const char *challenge, int64_t expires_at,
                                         const char *subject_pattern) SCEP_MUST_CHECK;
/* Length of a generated challenge: 128 random bits as 32 lowercase hex digits. */
#define SCEP_CHALLENGE_LEN 32
/*
 * Generates a random one-time challenge into `out` (SCEP_CHALLENGE_LEN + 1
 * bytes) and stores its hash for `alias`, valid for `ttl_seconds` from now
 * (`*out_expires_at`, may be NULL). What `scepctl challenge new` and scepd's
 * admin listener hand out. The caller wipes `out` after use.
 */
SCEP_EXPORT int scep_store_challenge_new(char out[SCEP_CHALLENGE_LEN + 1], int64_t *out_expires_at,
                                         scep_store *store, const char *alias, int64_t ttl_seconds,
                                         const char *subject_pattern) SCEP_MUST_CHECK;
/*
 * Atomically: the challenge exists for `alias`, is not expired and unused;
 * then marks it used. SCEP_EDENIED when unknown, for another alias or
 * expired; SCEP_ESTATE when already used. On success `*out_subject_pattern`
 * (when `out_subject_pattern` is not NULL) is the stored pattern or NULL.
 */
SCEP_EXPORT int scep_store_challenge_consume(char **out_subject_pattern, scep_store *store,
                                             const char *alias,
                                             const char *challenge) SCEP_MUST_CHECK;
/* Deletes challenges whose expiry has passed; `*out_count` (may be NULL) is how many. */
SCEP_EXPORT int scep_store_challenge_purge_expired(size_t *out_count,
                                                   scep_store *store) SCEP_MUST_CHECK;

/* ---- audit trail ------------------------------------------------------------------ */

/*
 * An audit event. `detail` must never hold secrets (passwords, challenges, keys).
 *
 * Schema version 5: the events form a hash chain (docs/store.md "Audit chain"). Each
 * event's `hash` is SHA-256 over a length-prefixed encoding of its `prev_hash`, id, time,
 * actor, action, alias, transaction_id, outcome and detail; `prev_hash` is the hash of the
 * event before it (by id), or SCEP_STORE_AUDIT_GENESIS for the first. The store computes
 * both when it appends; an edited, deleted or inserted row breaks the chain from there on
 * (scep_store_audit_verify).
 */
#define SCEP_STORE_AUDIT_HASH_HEX 64 /* lowercase hex digits of a SHA-256 */
#define SCEP_STORE_AUDIT_GENESIS  "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct scep_store_audit_event {
    int64_t id;
    int64_t time; /* 0 on input: now */
    const char *actor;
    const char *action;
    const char *alias;          /* may be NULL */
    const char *transaction_id; /* may be NULL */
    const char *outcome;
    const char *detail;    /* may be NULL */
    const char *prev_hash; /* output only (ignored on input): hex; NULL for an unchained row */
    const char *hash;      /* output only (ignored on input): hex; NULL for an unchained row */
} scep_store_audit_event;

/*
 * Appends an event, chained to the newest one, in one write transaction (or in the
 * caller's, for the events the store writes itself during an issuance), so concurrent
 * appenders from any number of connections and processes form one unbroken chain.
 */
SCEP_EXPORT int scep_store_audit_append(scep_store *store,
                                        const scep_store_audit_event *event) SCEP_MUST_CHECK;
/* The most recent events first, at most `limit` (0: SCEP_STORE_MAX_LIST). */
SCEP_EXPORT int scep_store_audit_list(scep_store_audit_event **out, size_t *out_count,
                                      scep_store *store, size_t limit) SCEP_MUST_CHECK;
/* As scep_store_audit_list, only events whose time is at or after `since` (unix seconds). */
SCEP_EXPORT int scep_store_audit_list_since(scep_store_audit_event **out, size_t *out_count,
                                            scep_store *store, int64_t since,
                                            size_t limit) SCEP_MUST_CHECK;
/*
 * The events whose id is below `before_id` (0: from the newest), newest id first, at most
 * `limit` (0: SCEP_STORE_MAX_LIST). Ids are the chain's order, so paging with the last id
 * of one page as the next `before_id` neither skips nor repeats an event while others are
 * appended (times need not follow ids across nodes). Free with scep_store_audit_list_free.
 */
SCEP_EXPORT int scep_store_audit_page(scep_store_audit_event **out, size_t *out_count,
                                      scep_store *store, int64_t before_id,
                                      size_t limit) SCEP_MUST_CHECK;
SCEP_EXPORT void scep_store_audit_list_free(scep_store_audit_event *list, size_t count);

/* What scep_store_audit_verify found at the first event that breaks the chain. */
typedef enum scep_store_audit_fault {
    SCEP_AUDIT_INTACT = 0,
    /* The event's contents do not hash to its stored hash: edited (or forged). */
    SCEP_AUDIT_EDITED = 1,
    /* The event has no well-formed hash: written around the store, or its hash removed. */
    SCEP_AUDIT_UNCHAINED = 2,
    /* Its id does not follow the previous event's: the events between were deleted. */
    SCEP_AUDIT_GAP = 3,
    /*
     * Its prev_hash is not the previous event's hash (or, for the first event, not the
     * genesis value): an event before it was deleted, or one was inserted.
     */
    SCEP_AUDIT_BROKEN_LINK = 4
} scep_store_audit_fault;

typedef struct scep_store_audit_check {
    scep_store_audit_fault fault;
    int64_t event_id;    /* the first event at fault; 0 when intact */
    int64_t previous_id; /* the intact event before it; 0 when none */
    uint64_t checked;    /* events found intact before the fault (all of them when intact) */
    int64_t head_id;     /* the newest intact event; 0 when the trail is empty */
    /* Its hash (the genesis value when empty): record it elsewhere to detect a rewrite. */
    char head_hash[SCEP_STORE_AUDIT_HASH_HEX + 1];
} scep_store_audit_check;

/*
 * Walks the whole chain in id order, in one read snapshot, and fills `*out`. Returns 0
 * whether or not the chain is intact (see out->fault); an error only when the trail
 * cannot be read. What this does and does not prove: docs/store.md "Audit chain".
 */
SCEP_EXPORT int scep_store_audit_verify(scep_store_audit_check *out,
                                        scep_store *store) SCEP_MUST_CHECK;
/* A one-line English description of `fault` (borrowed static string). */
SCEP_EXPORT const char *scep_store_audit_fault_text(scep_store_audit_fault fault);

#ifdef __cplusplus
}
#endif

#endif /* SCEP_STORE_H */
