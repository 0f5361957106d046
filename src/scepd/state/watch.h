/*
 * Follows the store's configuration revision (scep_store_config_revision) and the
 * configuration file, so that a CA or rollover changed by scepctl or by another node
 * sharing the store, or an alias changed in the file (scepctl alias set), takes effect here
 * without a restart or a signal: every store_poll_interval a thread reads the revision and
 * the file's stamp and, when either differs from the current generation's, reloads as
 * SIGHUP does.
 *
 * A reload that fails keeps the old generation and is logged once per revision and file
 * version; it is tried again at the next poll, since what failed (a key file, the store)
 * may come back.
 */
#ifndef SCEPD_WATCH_H
#define SCEPD_WATCH_H

#include <stdint.h>

struct scepd_server;
struct scepd_watch;

/* Starts the thread into server->watch; 0 or SCEP_E*. */
int scepd_watch_start(struct scepd_server *server);
/* Wakes and joins the thread at once, whatever the interval; safe when it never started. */
void scepd_watch_stop(struct scepd_server *server);
/* Polls done so far (thread-safe), for tests. */
unsigned scepd_watch_polls(struct scepd_server *server);

#endif
