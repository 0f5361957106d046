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

#include "scepd/ops.h"

struct scepd_rollover {
    const struct scepd_ca *ca; /* borrowed from the server */
    X509 *next_cert;           /* the announced next certificate; NULL: no rollover */
    scep_ca *next;             /* the next certificate with its key; NULL: announced only */
    time_t activate_at;        /* from when `next` issues; 0: never */
};

/* Loads every CA's rollover from the store into the generation; frees them. */
int scepd_rollover_load(struct scepd_generation *generation, struct scepd_server *server);
void scepd_rollover_free(struct scepd_generation *generation);

/* The certificate and key that issue for `ca` at op->now (borrowed). */
const scep_ca *scepd_ca_active(const struct scepd_op *op, const struct scepd_ca *ca);
/* The next certificate GetNextCACert announces for `ca` at op->now, or NULL (borrowed). */
X509 *scepd_ca_announced_next(const struct scepd_op *op, const struct scepd_ca *ca);
/*
 * Every certificate/key pair of `ca` loaded in this generation, the active one first
 * (at most 2). During and after a rollover both the old and the next key open
 * envelopes, since clients keep the certificate they fetched.
 */
size_t scepd_ca_keys(const scep_ca **out, size_t max, const struct scepd_op *op,
                     const struct scepd_ca *ca);
/*
 * For CRLs and chains: the certificate/key pair of `ca` whose key signed `cert`, or
 * NULL. The old CA keeps signing the CRL for what it issued (ca->ca).
 */
const scep_ca *scepd_ca_issuer_of(const struct scepd_op *op, const struct scepd_ca *ca, X509 *cert);

/* The GetCACert body for `ca` (RFC 8894 §4.2.1); *out is the caller's (OPENSSL_free). */
int scepd_ca_cert_body(unsigned char **out, size_t *out_len, const char **out_type,
                       const scep_ca *ca, int includeroot);

/* GetNextCACert: application/x-x509-next-ca-cert signed by the current CA, or 404. */
void scepd_op_get_next_ca_cert(struct scepd_op *op);

/* ---- caid.c ---- */

/* Fills alias->cas from the alias's CA and `ALIAS.cas` (SCEP_ECONFIG for an unknown CA). */
int scepd_caid_resolve(struct scepd_alias *alias, const struct scepd_server *server);
/*
 * Sets op->ca from the `message=` CA identifier of GetCACert, GetCACaps and
 * GetNextCACert. An unknown identifier falls back to the alias's CA, or with
 * `ALIAS.strictcaid` is answered 404 (then returns -1).
 */
int scepd_caid_select(struct scepd_op *op);
/*
 * Opens the envelope with every key of every CA the alias serves; the recipientInfo
 * picks the key when it matches (interop.md §9). Sets op->ca and op->recipient.
 */
int scepd_caid_decrypt(struct scepd_op *op, scep_pkimessage *msg,
                       const scep_message_options *options) SCEP_MUST_CHECK;
/* The certificate and key that sign the reply: the one the client encrypted to, else the
 * active certificate of the addressed CA. */
const scep_ca *scepd_op_signer(const struct scepd_op *op);

#endif
