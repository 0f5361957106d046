/*
 * Which alias a request path addresses. Clients append pkiclient.exe, NDES
 * paths, or nothing (interop.md §2), so paths are matched by prefix and trailing
 * segments are ignored.
 */
#ifndef SCEPD_ROUTE_H
#define SCEPD_ROUTE_H

#include <stddef.h>

#define SCEPD_ALIAS_MAX 64

/*
 * Writes the alias `path` addresses into `alias` (NUL-terminated); "" for a path
 * that names none (/scep/pkiclient.exe, NDES paths): the generation's default alias.
 * Returns 0, or -1 when the path is no SCEP path at all or names an invalid alias.
 */
int scepd_route_alias(char *alias, size_t alias_size, const char *path);

/* Whether `path` is the health check a load balancer asks (GET /healthz). */
int scepd_route_health(const char *path);

/* Whether `name` is a valid alias name: 1 to 64 of [A-Za-z0-9_-]. */
int scepd_alias_name_valid(const char *name, size_t len);

#endif
