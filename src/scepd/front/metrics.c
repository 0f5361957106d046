/*
 * GET /metrics on the admin listener and on the metrics listener (metrics.h).
 */
#include "scepd/front/metrics.h"
#include "scepd/log.h"
#include "scepd/state/metrics.h"
#include "util/error_internal.h"

#include <stdlib.h>
#include <string.h>

static void reply_text(struct scepd_http_response *response, unsigned status, const char *text)
{
    size_t len = strlen(text);
    response->status = status;
    response->content_type = "text/plain";
    response->body = malloc(len);
    if (response->body == NULL) {
        response->status = 500;
        return;
    }
    memcpy(response->body, text, len);
    response->body_len = len;
}

void scepd_metrics_reply(struct scepd_server *server, const struct scepd_http_request *request,
                         struct scepd_http_response *response)
{
    char *text = NULL;
    size_t len = 0;
    if (strcmp(request->method, "GET") != 0) {
        reply_text(response, 405, "only GET\n");
        return;
    }
    if (scepd_metrics_render(&text, &len, server) < 0) {
        scepd_log(SCEPD_LOG_ERROR, "event=metrics_failed client=%s detail=\"%s\"",
                  request->client_addr, scep_error_message());
        reply_text(response, 500, "the metrics could not be produced\n");
        return;
    }
    response->status = 200;
    response->content_type = SCEPD_METRICS_CONTENT_TYPE;
    response->body = (unsigned char *)text;
    response->body_len = len;
}

void scepd_metrics_handle(void *payload, const struct scepd_http_request *request,
                          struct scepd_http_response *response)
{
    if (strcmp(request->path, SCEPD_METRICS_PATH) != 0) {
        reply_text(response, 404, "not found\n");
        return;
    }
    scepd_metrics_reply(payload, request, response);
}

static struct scepd_http_options metrics_options(const struct scep_config_global *global)
{
    struct scepd_http_options options = {
        .listen = (const char *const *)global->metrics_listen.items,
        .listen_count = global->metrics_listen.count,
        .threads = 1,
        .max_body = 4096,
        .connection_timeout = (unsigned)global->connection_timeout,
        .request_timeout = (unsigned)global->request_timeout,
        /* A scraper or two: small fixed limits, as on the admin listener. */
        .max_connections = 32,
        .max_connections_per_client = 8,
        .body_memory = 32 * 4096,
    };
    return options;
}

int scepd_metrics_bind(struct scepd_http **out, const scep_config *config)
{
    const struct scep_config_global *global = scep_config_global_values(config);
    *out = NULL;
    if (global->metrics_listen.count == 0)
        return SCEP_OK;
    struct scepd_http_options options = metrics_options(global);
    return scepd_http_bind(out, &options);
}

int scepd_metrics_start(struct scepd_server *server)
{
    int rc = SCEP_OK;
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    if (global->metrics_listen.count == 0)
        goto cleanup;
    struct scepd_http_options options = metrics_options(global);
    if (server->metrics_http == NULL)
        GUARD(scepd_http_bind(&server->metrics_http, &options));
    GUARD(scepd_http_serve(server->metrics_http, &options, scepd_metrics_handle, server));
    for (size_t i = 0; i < global->metrics_listen.count; i++)
        scepd_log(SCEPD_LOG_INFO, "event=metrics_listening address=%s port=%u authentication=none",
                  global->metrics_listen.items[i], scepd_http_port(server->metrics_http, i));
cleanup:
    scepd_generation_release(generation);
    return rc;
}
