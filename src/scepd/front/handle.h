/*
 * The HTTP front end: the listeners (SCEP, admin) and the handler that routes
 * each request to an operation. The top layer of scepd: it uses the enrollment
 * pipeline (enroll/), the operations (ops/) and the state (state/); nothing
 * below uses it (docs/scepd.md "Shape").
 */
#ifndef SCEPD_FRONT_HANDLE_H
#define SCEPD_FRONT_HANDLE_H

#include "scepd/http/http.h"
#include "scepd/state/server.h"

/*
 * Binds the SCEP and admin listeners of `config` without serving them: what scepd does
 * before it drops its privileges. Hand them to the server (server->http, ->admin_http)
 * after scepd_server_init; scepd_server_stop or scepd_http_stop frees them. The metrics
 * listener (metrics_listen), bound here too, is kept until scepd_server_start serves it.
 */
int scepd_server_bind(struct scepd_http **http, struct scepd_http **admin_http,
                      const scep_config *config);
/*
 * Serves the SCEP and admin listeners (binding those not bound yet) and starts the CRL
 * refresh thread.
 */
int scepd_server_start(struct scepd_server *server);
/* Stops listening, lets in-flight requests finish, stops the CRL refresh thread. */
void scepd_server_stop(struct scepd_server *server);

/* The SCEP handler: CRL paths, routing and the operation table. `payload`: the server. */
void scepd_handle(void *payload, const struct scepd_http_request *request,
                  struct scepd_http_response *response);
/* Whether scepd_handle answers `request` from memory (GetCACaps, GetCACert, ... on a SCEP
 * path): then the HTTP layer calls it on the connection's thread, without a worker. */
int scepd_answer_inline(const struct scepd_http_request *request);

#endif
