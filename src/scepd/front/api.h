/*
 * scepd's admin REST API (/admin/api/, docs/operations.md "Admin REST API"): JSON
 * over the admin listener, after its authentication. Every change goes through the
 * library calls scepctl makes and is an audit event naming the admin.
 */
#ifndef SCEPD_API_H
#define SCEPD_API_H

#include "scepd/http/http.h"
#include "scepd/state/server.h"

#include <stddef.h>

#define SCEPD_API_PREFIX "/admin/api/"

/* docs/admin-api.openapi.json, compiled in at build time (not NUL-terminated). */
extern const unsigned char scepd_admin_openapi[];
extern const size_t scepd_admin_openapi_len;

/*
 * Answers one authenticated request whose path starts with SCEPD_API_PREFIX.
 * `actor` names the admin in audit events ("scepd:admin:token", "scepd:admin:basic").
 */
void scepd_api_handle(struct scepd_server *server, const struct scepd_generation *generation,
                      const struct scepd_http_request *request,
                      struct scepd_http_response *response, const char *actor);

/* A JSON error body {"error": CODE, "message": MESSAGE} with `status`. */
void scepd_api_error(struct scepd_http_response *response, unsigned status, const char *code,
                     const char *message);

#endif
