/*
 * GET /healthz on the SCEP listeners, for load balancers (docs/operations.md "Several
 * nodes"): 200 "ok" when this node reaches its store and serves at least one alias whose
 * CA has a certificate valid now; otherwise 503 with a one-line reason.
 */
#ifndef SCEPD_FRONT_HEALTH_H
#define SCEPD_FRONT_HEALTH_H

#include "scepd/http/http.h"
#include "scepd/state/server.h"

void scepd_health(struct scepd_server *server, const struct scepd_http_request *request,
                  struct scepd_http_response *response);

#endif
