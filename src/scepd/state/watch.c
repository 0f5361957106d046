#include "scepd/state/watch.h"
#include "scepd/log.h"
#include "scepd/state/server.h"
#include "util/error_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* How often a thread whose polling is off (store_poll_interval = 0) looks at the setting
 * again, so that a SIGHUP turning it on is followed. */
#define WATCH_IDLE_SECONDS 5
/* A reload that failed is tried again this often while neither the revision nor the file
 * changes: what failed may come back (a key file, the store), but every attempt loads
 * every CA key again. */
#define WATCH_RETRY_SECONDS 30

struct scepd_watch {
    struct scepd_server *server;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    unsigned polls;
    /* What the last failed reload was for, logged once: the revision and the file's stamp. */
    int64_t failed_revision; /* -1: none */
    struct scepd_file_stamp failed_stamp;
    long long failed_at; /* CLOCK_MONOTONIC seconds of that failure */
    int store_failed;    /* the last poll could not read the revision (logged once) */
};

static long long poll_interval(struct scepd_server *server)
{
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    long long interval = scep_config_global_values(generation->config)->store_poll_interval;
    scepd_generation_release(generation);
    return interval;
}

static void poll_once(struct scepd_watch *watch)
{
    struct scepd_server *server = watch->server;
    scep_store *store = NULL;
    int64_t revision = 0;
    int rc = scepd_server_store(&store, server);
    if (rc == SCEP_OK)
        rc = scep_store_config_revision(&revision, store);
    if (rc < 0) {
        if (!watch->store_failed)
            scepd_log(SCEPD_LOG_WARN, "event=store_poll_failed detail=\"%s\"",
                      scep_error_message());
        watch->store_failed = 1;
        if (rc == SCEP_EUNAVAILABLE)
            scepd_server_store_drop(server);
        return;
    }
    if (watch->store_failed)
        scepd_log(SCEPD_LOG_INFO, "event=store_poll_recovered revision=%lld", (long long)revision);
    watch->store_failed = 0;

    struct scepd_file_stamp stamp;
    scepd_file_stamp(&stamp, server->config_path);
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    /* Not "greater": a store restored from a backup may count from lower. */
    int store_moved = revision != generation->revision;
    int file_changed = !scepd_file_stamp_equal(&stamp, &generation->config_stamp);
    scepd_generation_release(generation);
    if (!store_moved && !file_changed)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (revision == watch->failed_revision &&
        scepd_file_stamp_equal(&stamp, &watch->failed_stamp) &&
        (long long)now.tv_sec - watch->failed_at < WATCH_RETRY_SECONDS)
        return;
    const char *reason = store_moved ? "store" : "config";
    rc = scepd_server_reload(server, reason);
    if (rc < 0) {
        if (revision != watch->failed_revision ||
            !scepd_file_stamp_equal(&stamp, &watch->failed_stamp))
            scepd_log(SCEPD_LOG_ERROR, "event=reload_failed reason=%s revision=%lld detail=\"%s\"",
                      reason, (long long)revision, scep_error_message());
        watch->failed_revision = revision;
        watch->failed_stamp = stamp;
        watch->failed_at = (long long)now.tv_sec;
        if (rc == SCEP_EUNAVAILABLE)
            scepd_server_store_drop(server);
        return;
    }
    watch->failed_revision = -1;
}

static void *watch_main(void *arg)
{
    struct scepd_watch *watch = arg;
    pthread_mutex_lock(&watch->lock);
    while (!watch->stopping) {
        pthread_mutex_unlock(&watch->lock);
        long long interval = poll_interval(watch->server);
        if (interval > 0)
            poll_once(watch);
        pthread_mutex_lock(&watch->lock);
        if (interval > 0)
            watch->polls++;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval > 0 ? interval : WATCH_IDLE_SECONDS;
        /* Bounded wait; scepd_watch_stop signals, spurious wake-ups only shorten it. */
        while (!watch->stopping &&
               pthread_cond_timedwait(&watch->wake, &watch->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&watch->lock);
    /* This thread's store connection is closed by the server's thread-key destructor. */
    return NULL;
}

int scepd_watch_start(struct scepd_server *server)
{
    if (server->watch != NULL)
        return SCEP_OK;
    struct scepd_watch *watch = calloc(1, sizeof(*watch));
    if (watch == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    watch->server = server;
    watch->failed_revision = -1;
    pthread_mutex_init(&watch->lock, NULL);
    pthread_cond_init(&watch->wake, NULL);
    if (pthread_create(&watch->thread, NULL, watch_main, watch) != 0) {
        pthread_cond_destroy(&watch->wake);
        pthread_mutex_destroy(&watch->lock);
        free(watch);
        return scep_fail(SCEP_ENOMEM, "cannot start the store watch thread");
    }
    server->watch = watch;
    return SCEP_OK;
}

void scepd_watch_stop(struct scepd_server *server)
{
    struct scepd_watch *watch = server->watch;
    if (watch == NULL)
        return;
    pthread_mutex_lock(&watch->lock);
    watch->stopping = 1;
    pthread_cond_signal(&watch->wake);
    pthread_mutex_unlock(&watch->lock);
    pthread_join(watch->thread, NULL);
    pthread_cond_destroy(&watch->wake);
    pthread_mutex_destroy(&watch->lock);
    free(watch);
    server->watch = NULL;
}

unsigned scepd_watch_polls(struct scepd_server *server)
{
    struct scepd_watch *watch = server->watch;
    if (watch == NULL)
        return 0;
    pthread_mutex_lock(&watch->lock);
    unsigned polls = watch->polls;
    pthread_mutex_unlock(&watch->lock);
    return polls;
}
