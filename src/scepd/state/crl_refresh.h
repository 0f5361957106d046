/*
 * Keeps every CA's stored CRL current without waiting for a client to ask:
 * a background thread checks each CA at start and then every
 * SCEPD_CRL_REFRESH_SECONDS, and regenerates a CRL that is missing, older than
 * the latest revocation, or within crl_regenerate_before of its nextUpdate.
 *
 * The same thread applies the retention (docs/operations.md): at start and then every
 * SCEPD_RETENTION_SECONDS it deletes refused and failed requests older than
 * request_retention (0: none) and expired one-time challenges, logging the counts.
 */
#ifndef SCEPD_CRL_REFRESH_H
#define SCEPD_CRL_REFRESH_H

#include <pthread.h>

#define SCEPD_CRL_REFRESH_SECONDS 60
#define SCEPD_RETENTION_SECONDS   3600

struct scepd_server;

struct scepd_crl_refresh {
    struct scepd_server *server;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int running;
    int stopping;
    unsigned passes;        /* completed passes, for tests */
    long long retention_at; /* CLOCK_MONOTONIC seconds of the last retention pass; 0: none */
};

struct scep_store;
struct scep_store_crl;

/*
 * Records a CRL scepd generated in the audit trail (action crl_generate, actor "scepd";
 * `by` says what asked: "refresh", "request"). A failure is logged, not returned.
 */
void scepd_crl_audit(struct scep_store *store, const struct scep_store_crl *crl, const char *by);

/* Starts the thread; 0 or SCEP_E*. */
int scepd_crl_refresh_start(struct scepd_crl_refresh *refresh, struct scepd_server *server);
/* Wakes and joins the thread; safe when it never started. */
void scepd_crl_refresh_stop(struct scepd_crl_refresh *refresh);
/* Completed passes so far (thread-safe). */
unsigned scepd_crl_refresh_passes(struct scepd_crl_refresh *refresh);

#endif
