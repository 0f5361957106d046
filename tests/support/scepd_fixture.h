/*
 * A running scepd inside the test process: a fresh CA, store and config in a
 * temporary directory, listening on an ephemeral loopback port.
 */
#ifndef SCEPD_FIXTURE_H
#define SCEPD_FIXTURE_H

#include "scepd/front/handle.h"

struct scepd_fixture {
    char *dir;
    char config_path[512];
    char db_url[512];
    X509 *ca_cert;
    struct scepd_server server;
    unsigned port;
    char url[256];
};

/* Creates the CA "demo" (RSA 2048) and the end entities given as "user:password" pairs;
 * `extra_config` is appended to the config file (may be NULL). */
void scepd_fixture_start(struct scepd_fixture *fx, const char *const *users, size_t user_count,
                         const char *extra_config);
/* As scepd_fixture_start; `prepare` (may be NULL) runs on the store before scepd starts,
 * e.g. to add CAs or schedule a rollover. */
void scepd_fixture_start_prepared(struct scepd_fixture *fx, const char *const *users,
                                  size_t user_count, const char *extra_config,
                                  void (*prepare)(struct scepd_fixture *fx, scep_store *store));
void scepd_fixture_stop(struct scepd_fixture *fx);

/* A client of alias `alias` (NULL: the default path /scep/pkiclient.exe) that trusts the
 * fixture's CA (caller frees). */
struct scep_client *scepd_fixture_client(const struct scepd_fixture *fx, const char *alias);

/* A store connection to the fixture's database (caller closes). */
scep_store *scepd_fixture_store(const struct scepd_fixture *fx);

#endif
