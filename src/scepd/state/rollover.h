/*
 * CA rollover (RFC 8894 §4.7) and CA selection (interop.md §3, §9): which certificate
 * and key of a CA are active at a request's time, which certificate is announced
 * with GetNextCACert, which keys may open a request's envelope, and which CA the
 * request addresses.
 *
 * A rollover is read from the store with each generation (start, SIGHUP): the next
 * certificate, its key (loaded up front) and an activation time. Which one is active
 * is decided per request against the wall clock, so the switch needs no restart.
 */
#ifndef SCEPD_ROLLOVER_H
#define SCEPD_ROLLOVER_H

#include "scepd/state/server.h"

#include <time.h>

struct scepd_rollover {
    const struct scepd_ca *ca; /* borrowed from the server */
    X509 *next_cert;           /* the announced next certificate; NULL: no rollover */
    scep_ca *next;             /* the next certificate with its key; NULL: announced only */
    time_t activate_at;        /* from when `next` issues; 0: never */
};

/* Loads every CA's rollover from the store into the generation; frees them. */
int scepd_rollover_load(struct scepd_generation *generation, struct scepd_server *server);
void scepd_rollover_free(struct scepd_generation *generation);

/* The certificate and key that issue for `ca` at `now` (borrowed). */
const scep_ca *scepd_ca_active(const struct scepd_generation *generation, const struct scepd_ca *ca,
                               time_t now);
/* The next certificate GetNextCACert announces for `ca` at `now`, or NULL (borrowed). */
X509 *scepd_ca_announced_next(const struct scepd_generation *generation, const struct scepd_ca *ca,
                              time_t now);
/*
 * Every certificate/key pair of `ca` loaded in this generation, the active one first
 * (at most 2). During and after a rollover both the old and the next key open
 * envelopes, since clients keep the certificate they fetched.
 */
size_t scepd_ca_keys(const scep_ca **out, size_t max, const struct scepd_generation *generation,
                     const struct scepd_ca *ca, time_t now);
/*
 * For CRLs and chains: the certificate/key pair of `ca` whose key signed `cert`, or
 * NULL. The old CA keeps signing the CRL for what it issued (ca->ca).
 */
const scep_ca *scepd_ca_issuer_of(const struct scepd_generation *generation,
                                  const struct scepd_ca *ca, time_t now, X509 *cert);

/* The GetCACert body for `ca` (RFC 8894 §4.2.1); *out is the caller's (OPENSSL_free). */
int scepd_ca_cert_body(unsigned char **out, size_t *out_len, const char **out_type,
                       const scep_ca *ca, int includeroot);

#endif
