/*
 * scepd's admin listener (admin_listen): GET /admin/challenge hands one-time
 * challenges to MDM servers, as NDES's mscep_admin page does. Authenticated by
 * a bearer token or HTTP Basic; optionally HTTPS.
 */
#ifndef SCEPD_ADMIN_H
#define SCEPD_ADMIN_H

#include "scepd/http/http.h"
#include "scepd/state/server.h"

/* Binds the admin listener when admin_listen is set (`*out` NULL otherwise). */
int scepd_admin_bind(struct scepd_http **out, const scep_config *config);
/*
 * Serves the admin listener when admin_listen is set (binding it unless server->admin_http
 * is bound already); 0 (nothing to do) otherwise. The TLS key is read here.
 */
int scepd_admin_start(struct scepd_server *server);

/* The admin listener's handler (payload: the server). */
void scepd_admin_handle(void *payload, const struct scepd_http_request *request,
                        struct scepd_http_response *response);

#endif
