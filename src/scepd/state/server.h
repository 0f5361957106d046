/*
 * scepd's state: one struct created in main() and passed down. CAs and
 * aliases are loaded once and then read-only; a reload (SIGHUP) builds a new
 * generation and swaps a pointer, so request handling takes no lock.
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

struct scepd_generation {
    scep_config *config;
    struct scepd_alias *aliases;
    size_t alias_count;
    /* What /scep/pkiclient.exe and the NDES paths serve (scep_config_default_alias); may be
     * NULL: those paths then answer 404. */
    const struct scepd_alias *default_alias;
    /* Each CA's scheduled rollover, read from the store with the generation (rollover.c). */
    struct scepd_rollover *rollovers;
    size_t rollover_count;
    struct scepd_generation *previous; /* retired generations, freed at exit */
};

struct scepd_server {
    char *config_path;
    char *database;
    scep_store_open_options store_options; /* its password points into database_password */
    char *database_password;               /* database_password_file's, or NULL */
    struct scepd_ca *cas;
    size_t ca_count;
    _Atomic(struct scepd_generation *) generation;
    pthread_mutex_t reload_lock; /* serialises reloads only, never requests */
    pthread_key_t store_key;     /* one store connection per worker thread */
    struct scepd_http *http;
    struct scepd_http *admin_http;        /* admin_listen (admin.c); NULL when unset */
    struct scepd_crl_refresh crl_refresh; /* keeps stored CRLs current (crl_refresh.c) */
    struct scepd_guard *guard;            /* failed authorisations, nonces (guard.c) */
    struct scepd_http *metrics_http;      /* metrics_listen (front/metrics.c); NULL when unset */
    struct scepd_metrics *metrics;        /* counters of GET /metrics (metrics.c) */
};

/* Reads the config, opens the store, loads every CA and alias. */
int scepd_server_init(struct scepd_server *server, const char *config_path);
/* Re-reads the config file and swaps the aliases in; in-flight requests keep theirs. */
int scepd_server_reload(struct scepd_server *server);
/* Frees everything; the listeners must be stopped first (scepd_server_stop, http/). */
void scepd_server_free(struct scepd_server *server);

/* This thread's store connection, opened on first use. */
int scepd_server_store(scep_store **out, struct scepd_server *server);

const struct scepd_alias *scepd_generation_alias(const struct scepd_generation *generation,
                                                 const char *name);

#endif
