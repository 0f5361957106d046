#include "scepd/state/crl_refresh.h"
#include "scepd/log.h"
#include "scepd/state/server.h"
#include "crl/publish.h"
#include "util/error_internal.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

void scepd_crl_audit(scep_store *store, const scep_store_crl *crl, const char *by)
{
    char detail[160];
    snprintf(detail, sizeof(detail), "ca=%s crl_number=%lld revoked=%lld by=%s", crl->ca_name,
             (long long)crl->crl_number, (long long)crl->revoked_count, by);
    scep_store_audit_event event = {
        .actor = "scepd", .action = "crl_generate", .outcome = "ok", .detail = detail};
    if (scep_store_audit_append(store, &event) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=audit_failed detail=\"%s\"", scep_error_message());
}

static void refresh_pass(struct scepd_server *server)
{
    scep_store *store = NULL;
    if (scepd_server_store(&store, server) < 0) {
        scepd_log(SCEPD_LOG_WARN, "event=crl_refresh_failed detail=\"%s\"", scep_error_message());
        return;
    }
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    struct scep_crl_timing timing = {.validity = global->crl_validity,
                                     .regenerate_before = global->crl_regenerate_before};
    for (size_t i = 0; i < generation->ca_count; i++) {
        const struct scepd_ca *ca = &generation->cas[i];
        scep_store_crl *crl = NULL;
        int generated = 0;
        int rc = scep_crl_current(&crl, &generated, store, ca->name, ca->ca, &timing, 0);
        if (rc < 0) {
            scepd_log(SCEPD_LOG_WARN, "event=crl_refresh_failed ca=%s detail=\"%s\"", ca->name,
                      scep_error_message());
            if (rc == SCEP_EUNAVAILABLE) {
                /* Reconnect at the next pass rather than fail every CA on a dead connection. */
                scepd_server_store_drop(server);
                break;
            }
            continue;
        }
        if (generated) {
            scepd_log(SCEPD_LOG_INFO,
                      "event=crl_generated ca=%s crl_number=%lld revoked=%lld by=refresh", ca->name,
                      (long long)crl->crl_number, (long long)crl->revoked_count);
            scepd_crl_audit(store, crl, "refresh");
        }
        scep_store_crl_free(crl);
    }
    scepd_generation_release(generation);
}

/* Deletes refused and failed requests past request_retention and expired challenges. */
static void retention_pass(struct scepd_server *server)
{
    scep_store *store = NULL;
    if (scepd_server_store(&store, server) < 0) {
        scepd_log(SCEPD_LOG_WARN, "event=retention_failed detail=\"%s\"", scep_error_message());
        return;
    }
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    long long retention = global->request_retention;
    scepd_generation_release(generation);
    size_t requests = 0, challenges = 0;
    if (retention > 0 &&
        scep_store_request_purge(&requests, store, (int64_t)time(NULL) - (int64_t)retention, 0) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=retention_failed what=requests detail=\"%s\"",
                  scep_error_message());
    if (scep_store_challenge_purge_expired(&challenges, store) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=retention_failed what=challenges detail=\"%s\"",
                  scep_error_message());
    scepd_log(requests + challenges > 0 ? SCEPD_LOG_INFO : SCEPD_LOG_DEBUG,
              "event=retention requests_deleted=%zu challenges_deleted=%zu "
              "request_retention=%llds",
              requests, challenges, retention);
}

static long long monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec;
}

static void *refresh_main(void *arg)
{
    struct scepd_crl_refresh *refresh = arg;
    struct scepd_server *server = refresh->server;
    pthread_mutex_lock(&refresh->lock);
    while (!refresh->stopping) {
        pthread_mutex_unlock(&refresh->lock);
        refresh_pass(server);
        long long now = monotonic_seconds();
        if (refresh->retention_at == 0 || now - refresh->retention_at >= SCEPD_RETENTION_SECONDS) {
            retention_pass(server);
            refresh->retention_at = now > 0 ? now : 1;
        }
        pthread_mutex_lock(&refresh->lock);
        refresh->passes++;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += SCEPD_CRL_REFRESH_SECONDS;
        /* Bounded wait; spurious wake-ups only shorten it. */
        while (!refresh->stopping &&
               pthread_cond_timedwait(&refresh->wake, &refresh->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&refresh->lock);
    /* This thread's store connection is closed by the server's thread-key destructor. */
    return NULL;
}

int scepd_crl_refresh_start(struct scepd_crl_refresh *refresh, struct scepd_server *server)
{
    pthread_mutex_init(&refresh->lock, NULL);
    pthread_cond_init(&refresh->wake, NULL);
    refresh->stopping = 0;
    refresh->passes = 0;
    refresh->retention_at = 0;
    refresh->server = server;
    if (pthread_create(&refresh->thread, NULL, refresh_main, refresh) != 0) {
        pthread_cond_destroy(&refresh->wake);
        pthread_mutex_destroy(&refresh->lock);
        return scep_fail(SCEP_ENOMEM, "cannot start the CRL refresh thread");
    }
    refresh->running = 1;
    return SCEP_OK;
}

void scepd_crl_refresh_stop(struct scepd_crl_refresh *refresh)
{
    if (!refresh->running)
        return;
    pthread_mutex_lock(&refresh->lock);
    refresh->stopping = 1;
    pthread_cond_signal(&refresh->wake);
    pthread_mutex_unlock(&refresh->lock);
    pthread_join(refresh->thread, NULL);
    pthread_cond_destroy(&refresh->wake);
    pthread_mutex_destroy(&refresh->lock);
    refresh->running = 0;
}

unsigned scepd_crl_refresh_passes(struct scepd_crl_refresh *refresh)
{
    if (!refresh->running)
        return 0;
    pthread_mutex_lock(&refresh->lock);
    unsigned passes = refresh->passes;
    pthread_mutex_unlock(&refresh->lock);
    return passes;
}
