/*
 * GET /metrics (state/metrics.h renders it): on the admin listener, authenticated
 * (admin.c), and on the metrics listener (metrics_listen), which has no authentication
 * and is meant for a scraper on localhost or a management network.
 */
#ifndef SCEPD_FRONT_METRICS_H
#define SCEPD_FRONT_METRICS_H

#include "scepd/http/http.h"
#include "scepd/state/server.h"

#define SCEPD_METRICS_PATH "/metrics"

/* Answers GET /metrics (405 for other methods). */
void scepd_metrics_reply(struct scepd_server *server, const struct scepd_http_request *request,
                         struct scepd_http_response *response);

/* Binds the metrics listener when metrics_listen is set (`*out` NULL otherwise). */
int scepd_metrics_bind(struct scepd_http **out, const scep_config *config);
/* Serves it (binding it unless server->metrics_http is bound already); 0 when unset. */
int scepd_metrics_start(struct scepd_server *server);

/* The metrics listener's handler (payload: the server): /metrics, else 404. */
void scepd_metrics_handle(void *payload, const struct scepd_http_request *request,
                          struct scepd_http_response *response);

#endif
