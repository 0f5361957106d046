/*
 * Starting and stopping what serves requests: the SCEP listener, the admin
 * listener (admin.c) and the thread that keeps stored CRLs current.
 */
#include "scepd/relay/relay.h"
#include "scepd/front/admin.h"
#include "scepd/front/handle.h"
#include "scepd/front/metrics.h"
#include "scepd/log.h"
#include "scepd/state/watch.h"
#include "util/error_internal.h"

#include <unistd.h>

/*
 * More workers than cores: while one waits for its commit's fsync (synchronous=FULL),
 * the others keep the cores busy with RSA (docs/performance.md).
 */
#define SCEPD_WORKERS_PER_CORE 4

static unsigned scep_workers(const struct scep_config_global *global)
{
    if (global->workers > 0)
        return (unsigned)global->workers;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return SCEPD_WORKERS_PER_CORE * (cores > 0 ? (unsigned)cores : 2);
}

static struct scepd_http_options scep_options(const struct scep_config_global *global)
{
    struct scepd_http_options options = {
        .listen = (const char *const *)global->listen.items,
        .listen_count = global->listen.count,
        .threads = (unsigned)global->threads,
        .workers = scep_workers(global),
        .answer_inline = scepd_answer_inline,
        .max_body = (size_t)global->max_body,
        .connection_timeout = (unsigned)global->connection_timeout,
        .request_timeout = (unsigned)global->request_timeout,
        .max_connections = (unsigned)global->max_connections,
        .max_connections_per_client = (unsigned)global->max_connections_per_client,
        .body_memory = (size_t)global->body_memory,
    };
    return options;
}

/*
 * The metrics listener bound by scepd_server_bind (before the privilege drop), until
 * scepd_server_start hands it to the server: one daemon, one listener.
 */
static struct scepd_http *metrics_prebound;

int scepd_server_bind(struct scepd_http **http, struct scepd_http **admin_http,
                      const scep_config *config)
{
    const struct scep_config_global *global = scep_config_global_values(config);
    /* The first lines of a run (privileges_dropped) already in the configured form. */
    scepd_log_set_level((enum scepd_log_level)global->log_level);
    scepd_log_set_output((enum scepd_log_format)global->log_format,
                         (enum scepd_log_target)global->log_target);
    struct scepd_http_options options = scep_options(global);
    *http = NULL;
    *admin_http = NULL;
    int rc = scepd_http_bind(http, &options);
    if (rc < 0)
        return rc;
    rc = scepd_admin_bind(admin_http, config);
    if (rc == SCEP_OK && metrics_prebound == NULL)
        rc = scepd_metrics_bind(&metrics_prebound, config);
    if (rc < 0) {
        scepd_http_stop(*admin_http, 0);
        *admin_http = NULL;
        scepd_http_stop(*http, 0);
        *http = NULL;
    }
    return rc;
}

int scepd_server_start(struct scepd_server *server)
{
    int rc = SCEP_OK;
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    struct scepd_http_options options = scep_options(global);
    /* Otherwise a body max_body allows could never be accepted. */
    ENSURE(scepd_http_large_body_budget((size_t)global->body_memory) >= (size_t)global->max_body,
           SCEP_ECONFIG,
           "body_memory (%lld) must be at least 8/7 of max_body (%lld): an eighth of it is kept "
           "for small bodies",
           (long long)global->body_memory, (long long)global->max_body);
    if (server->http == NULL)
        GUARD(scepd_http_bind(&server->http, &options));
    /* Before the first request: a relay alias needs its queue, a CA node its connections. */
    GUARD(scepd_relay_start(server));
    GUARD(scepd_http_serve(server->http, &options, scepd_handle, server));
    for (size_t i = 0; i < global->listen.count; i++)
        scepd_log(SCEPD_LOG_INFO, "event=listening address=%s port=%u", global->listen.items[i],
                  scepd_http_port(server->http, i));
    GUARD(scepd_admin_start(server));
    if (server->metrics_http == NULL) {
        server->metrics_http = metrics_prebound;
        metrics_prebound = NULL;
    }
    GUARD(scepd_metrics_start(server));
    GUARD(scepd_crl_refresh_start(&server->crl_refresh, server));
    GUARD(scepd_watch_start(server));

cleanup:
    scepd_generation_release(generation);
    return rc;
}

void scepd_server_stop(struct scepd_server *server)
{
    scepd_http_stop(server->metrics_http, 10);
    server->metrics_http = NULL;
    scepd_http_stop(server->admin_http, 10);
    server->admin_http = NULL;
    scepd_http_stop(server->http, 10);
    server->http = NULL;
    scepd_relay_stop(server);
    scepd_crl_refresh_stop(&server->crl_refresh);
    scepd_watch_stop(server);
}
