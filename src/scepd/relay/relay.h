/*
 * The RA relay (operations.md "A relay in the DMZ"). One binary, two roles:
 *
 *   relay node  (relay_listen, aliases with operationmode = relay): serves SCEP with its
 *               RA certificate and key only; opens and verifies each pkiMessage, then
 *               hands it to a CA node over a connection that CA node opened (node.c);
 *               queues what it cannot hand on at once (queue.c).
 *   CA node     (relay_connect): keeps relay_connections connections to the relay open,
 *               runs each request it receives through the same enrollment pipeline as a
 *               direct one (ca.c) and answers with the outcome, which the relay turns
 *               into its own signed CertRep.
 *
 * The CA node connects out; the relay has no way into it (channel.h).
 */
#ifndef SCEPD_RELAY_RELAY_H
#define SCEPD_RELAY_RELAY_H

#include "scepd/ops/ops.h"

/* Starts the role the configuration names (none: nothing); binds relay_listen. */
int scepd_relay_start(struct scepd_server *server) SCEP_MUST_CHECK;
/* Stops and frees it; the SCEP listeners must be stopped first. NULL-safe. */
void scepd_relay_stop(struct scepd_server *server);

/* Relay node: answers `op` (an operation of an alias with operationmode = relay). */
void scepd_relay_operation(struct scepd_op *op);

/* Relay node: /healthz's status (200 while requests can be queued, 503 when the queue
 * cannot be read) and text; 0 when this node is no relay. */
int scepd_relay_health(char *out, size_t size, struct scepd_server *server);

/* The two roles (node.c, ca.c), started and stopped by scepd_relay_start/_stop. */
int scepd_relay_node_start(struct scepd_server *server,
                           const struct scep_config_global *global) SCEP_MUST_CHECK;
void scepd_relay_node_stop(struct scepd_server *server);
int scepd_relay_ca_start(struct scepd_server *server,
                         const struct scep_config_global *global) SCEP_MUST_CHECK;
void scepd_relay_ca_stop(struct scepd_server *server);

#endif
