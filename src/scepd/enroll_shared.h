/*
 * What CA mode's enrollment (enroll.c) lends to RA mode (ra.c) and renewal
 * (renew.c): reading the CSR's challengePassword, refusing with a signed
 * FAILURE, and answering a retransmission from the store. Issuing itself is
 * libscep's scep_ca_issue_stored (ca/issuance.h).
 * RA mode's own entry point and its username generation (names.c).
 */
#ifndef SCEPD_ENROLL_SHARED_H
#define SCEPD_ENROLL_SHARED_H

#include "scepd/enroll.h"

/* The CSR's challengePassword as UTF-8; -1 when absent or unreadable. Caller wipes `out`. */
int scepd_enroll_challenge_password(char *out, size_t out_size, X509_REQ *csr);
/* 1 when the CSR carries a readable challengePassword (its value is wiped at once). */
int scepd_enroll_has_challenge(X509_REQ *csr);
/* SHA-256 of the CSR's SubjectPublicKeyInfo (the retransmission key). */
int scepd_enroll_key_hash(unsigned char out[32], X509_REQ *csr);
/* Records the refusal (request row, audit) and answers FAILURE with `text`. */
void scepd_enroll_refuse(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                         int64_t request_id, scep_fail_info fail_info, const char *text,
                         const char *log_reason);
/*
 * Records the transaction (alias, transactionID) with its CSR, signer and key hash,
 * or returns the row an earlier attempt left (*out_created 0). On failure it has
 * already answered FAILURE and returns < 0.
 */
int scepd_enroll_record(scep_store_request **out, int *out_created, struct scepd_op *op,
                        const scep_pkimessage *msg, scep_store *store,
                        const unsigned char key_hash[32]);
/* 1 when `row` answered the request (stored certificate, or a reused transactionID). */
int scepd_enroll_answer_retransmission(struct scepd_op *op, const scep_pkimessage *msg,
                                       scep_store *store, const scep_store_request *row,
                                       const unsigned char key_hash[32]);
/* SUCCESS with `cert` (and the CA chain when includeca). */
void scepd_enroll_reply_cert(struct scepd_op *op, const scep_pkimessage *msg, X509 *cert);

/* PKCSReq on an alias with operationmode = ra (ra.c). */
void scepd_enroll_ra(struct scepd_op *op, scep_pkimessage *msg, scep_store *store);

/* Longest generated RA username. */
#define SCEPD_RA_USERNAME_MAX 256

/*
 * The end entity username RA mode generates for `subject` under the alias's
 * ra.namegeneration* settings (names.c), EJBCA's way: DN (the first of the
 * ';'-separated DN parts in ra.namegenerationparameters that the subject has),
 * RANDOM (12 random alphanumerics), FIXED (the parameter itself), USERNAME (the
 * CN as it is); then ra.namegenerationprefix and postfix, in which "${RANDOM}"
 * becomes 12 random alphanumerics. SCEP_EINVAL when no name results.
 */
int scepd_ra_username(char *out, size_t out_size, const X509_NAME *subject,
                      const struct scep_config_alias_settings *settings);

#endif
