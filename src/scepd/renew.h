/*
 * Client certificate renewal (RFC 8894 §2.5, EJBCA's clientCertificateRenewal):
 * a RenewalReq, or a PKCSReq signed by a certificate this alias's CA issued,
 * is authorised by that certificate instead of an enrollment code.
 */
#ifndef SCEPD_RENEW_H
#define SCEPD_RENEW_H

#include "scepd/enroll.h"

/*
 * Decides whether a PKCSReq/RenewalReq is a renewal and, when it is, answers
 * it (SUCCESS or a FAILURE naming the reason). Returns 1 when answered, 0 when
 * the request is an enrollment for the caller (a signer from another CA, or a
 * PKCSReq carrying a challengePassword that cannot be a renewal here).
 */
int scepd_renew(struct scepd_op *op, scep_pkimessage *msg, scep_store *store);

/* Defined in enroll.c, shared with renew.c. */
void scepd_enroll_refuse(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                         int64_t request_id, scep_fail_info fail_info, const char *text,
                         const char *log_reason);
int scepd_enroll_key_hash(unsigned char out[32], X509_REQ *csr);
/* 1 when the CSR carries a readable challengePassword (its value is wiped at once). */
int scepd_enroll_has_challenge(X509_REQ *csr);
/* 1 when answered (same key and ISSUED: the stored certificate; another key: refused). */
int scepd_enroll_answer_retransmission(struct scepd_op *op, const scep_pkimessage *msg,
                                       scep_store *store, const scep_store_request *row,
                                       const unsigned char key_hash[32]);
void scepd_enroll_reply_cert(struct scepd_op *op, const scep_pkimessage *msg, X509 *cert);
/* Fills a certificate row; *subject, *issuer and *der are the caller's (OPENSSL_free). */
int scepd_enroll_cert_row(scep_store_cert *row, char *serial_hex, char **subject, char **issuer,
                          unsigned char **der, size_t *der_len, X509 *cert, const char *ca_name,
                          const char *username, const char *transaction_id);

#endif
