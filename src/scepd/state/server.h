/*
 * scepd's state: one struct created in main() and passed down. CAs, aliases and
 * rollovers form a generation, read-only once built; a reload (SIGHUP, or a
 * change of the store's configuration revision seen by the watcher) builds a new
 * one and swaps it in. A request holds a reference to the generation it started
 * with, and the last reference frees a retired generation.
 *
 * The state layer knows nothing of requests or HTTP: the operations (ops/),
 * the enrollment pipeline (enroll/) and the HTTP front end (http/) are built
 * on it, in that order (docs/scepd.md "Shape").
 */
#ifndef SCEPD_SERVER_H
#define SCEPD_SERVER_H

#include "config/config.h"
#include "scep/ca.h"
#include "scep/caps.h"
#include "scep/message.h"
#include "scep/store.h"
#include "scepd/state/crl_refresh.h"
#include "scepd/state/guard.h"

#include <pthread.h>
#include <stdatomic.h>

struct scepd_ca {
    char *name;
    scep_ca *ca; /* the store's current certificate and key; during a rollover, the old one */
    unsigned warnings;
};

/* Most CAs one alias serves: its own and `ALIAS.cas` (caid.c). */
#define SCEPD_ALIAS_CAS_MAX 17

struct scepd_alias {
    char name[SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    const struct scep_config_alias_settings *settings; /* borrowed from the generation's config */
    const struct scepd_ca *ca;                         /* issuing CA */
    scep_profile profile;
    int legacy;             /* MD5, single DES, SHA-1 replies allowed */
    scep_caps caps;         /* what GetCACaps answers */
    unsigned char *ca_cert; /* the GetCACert body, built once */
    size_t ca_cert_len;
    const char *ca_cert_type;
    STACK_OF(X509) * reply_chain; /* CA (and chain) sent after the issued certificate */
    /* CAs selectable by CA identifier, alias's own first (caid.c). */
    const struct scepd_ca *cas[SCEPD_ALIAS_CAS_MAX];
    size_t ca_count;
    struct scepd_racert *ra; /* RA certificate(s) for SCEP, or NULL (racert.c) */
};

struct scepd_rollover; /* rollover.c */
struct scepd_http;     /* http/http.h: the listeners, started and stopped by the front end */
struct scepd_racert;   /* racert.h */
struct scepd_metrics;  /* metrics.h */
struct scepd_watch;    /* watch.h */
struct scepd_relay;    /* relay/node.c: this node is a relay */
struct scepd_relay_ca; /* relay/ca.c: this node is the CA behind a relay */

/* Which version of the configuration file a generation read: a file rewritten in place or
 * replaced by rename (scepctl alias set) changes it. All zero when it could not be read. */
struct scepd_file_stamp {
    unsigned long long device, inode, size;
    long long mtime_sec, mtime_nsec;
};

struct scepd_generation {
    scep_config *config;
    struct scepd_file_stamp config_stamp;
    struct scepd_alias *aliases;
    size_t alias_count;
    /* What /scep/pkiclient.exe and the NDES paths serve (scep_config_default_alias); may be
     * NULL: those paths then answer 404. */
    const struct scepd_alias *default_alias;
    /* Each CA's scheduled rollover, read from the store with the generation (rollover.c). */
    struct scepd_rollover *rollovers;
    size_t rollover_count;
    /* Every CA of the store, loaded with the generation: aliases point into it. */
    struct scepd_ca *cas;
    size_t ca_count;
    /* The store's configuration revision read before the CAs were (scep_store_config_revision;
     * 0 when unknown). */
    int64_t revision;
    /* One for being current, one per holder (scepd_generation_acquire). */
    atomic_ulong refs;
};

/* Opens a store connection (scep_store_open_with's signature). */
typedef int (*scepd_store_open_fn)(scep_store **out, const char *url,
                                   const scep_store_open_options *options);

struct scepd_server {
    char *config_path;
    char *database;
    scep_store_open_options store_options; /* its password points into database_password */
    char *database_password;               /* database_password_file's, or NULL */
    /* How worker threads open their connections; NULL: scep_store_open_with. Tests put
     * a store that cannot be reached here. */
    _Atomic(scepd_store_open_fn) store_open;
    /* The current generation. Taken and swapped under generation_lock, which is held only
     * for a pointer copy and a reference count, never while a request runs. */
    struct scepd_generation *generation;
    pthread_mutex_t generation_lock;
    pthread_mutex_t reload_lock; /* serialises reloads only, never requests */
    pthread_key_t store_key;     /* one store connection per worker thread */
    struct scepd_http *http;
    struct scepd_http *admin_http;        /* admin_listen (admin.c); NULL when unset */
    struct scepd_crl_refresh crl_refresh; /* keeps stored CRLs current (crl_refresh.c) */
    struct scepd_guard *guard;            /* failed authorisations, nonces (guard.c) */
    struct scepd_http *metrics_http;      /* metrics_listen (front/metrics.c); NULL when unset */
    struct scepd_metrics *metrics;        /* counters of GET /metrics (metrics.c) */
    struct scepd_watch *watch;            /* follows the store's revision (watch.c) */
    struct scepd_relay *relay;            /* relay_listen (relay/); NULL otherwise */
    struct scepd_relay_ca *relay_ca;      /* relay_connect (relay/); NULL otherwise */
    /* A relay node's CRLs are those its CA node pushed: /crl/NAME.crl asks here for a CA
     * this node does not hold (ops/crl.c). DER into *out (the caller's, free()); < 0 when
     * unknown. NULL on other nodes. */
    int (*crl_source)(unsigned char **out, size_t *out_len, struct scepd_server *server,
                      const char *ca_name);
    /* A relay node's gauges for /metrics (state/metrics.c): CA node connections and
     * requests waiting in its queue (-1 when the queue cannot be read). NULL on other
     * nodes. */
    void (*relay_gauges)(size_t *connections, int64_t *waiting, struct scepd_server *server);
};

/* Reads the config, opens the store, loads every CA and alias. */
int scepd_server_init(struct scepd_server *server, const char *config_path);
/* Re-reads the config file and the store's CAs and rollovers and swaps the new generation
 * in; in-flight requests keep theirs. `reason` is for the log line ("signal", "store"). */
int scepd_server_reload(struct scepd_server *server, const char *reason);

/* The current generation, with a reference the caller gives back with
 * scepd_generation_release; never NULL after scepd_server_init succeeded. */
const struct scepd_generation *scepd_generation_acquire(struct scepd_server *server);
/* Gives a reference back; the last one frees a retired generation. NULL is a no-op. */
void scepd_generation_release(const struct scepd_generation *generation);
/* Frees everything; the listeners must be stopped first (scepd_server_stop, http/). */
void scepd_server_free(struct scepd_server *server);

/* The stamp of the file at `path` now. */
void scepd_file_stamp(struct scepd_file_stamp *out, const char *path);
int scepd_file_stamp_equal(const struct scepd_file_stamp *a, const struct scepd_file_stamp *b);

/* This thread's store connection, opened on first use. */
int scepd_server_store(scep_store **out, struct scepd_server *server);
/* Closes this thread's store connection after it was found lost (SCEP_EUNAVAILABLE), so
 * that the next scepd_server_store opens a fresh one. */
void scepd_server_store_drop(struct scepd_server *server);

const struct scepd_alias *scepd_generation_alias(const struct scepd_generation *generation,
                                                 const char *name);

#endif
