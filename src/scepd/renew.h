/*
 * Client certificate renewal (RFC 8894 §2.5, EJBCA's clientCertificateRenewal):
 * a RenewalReq, or a PKCSReq signed by a certificate this alias's CA issued,
 * is authorised by that certificate instead of an enrollment code.
 */
#ifndef SCEPD_RENEW_H
#define SCEPD_RENEW_H

#include "scepd/enroll_shared.h"

/*
 * Decides whether a PKCSReq/RenewalReq is a renewal and, when it is, answers
 * it (SUCCESS or a FAILURE naming the reason). Returns 1 when answered, 0 when
 * the request is an enrollment for the caller (a signer from another CA, or a
 * PKCSReq carrying a challengePassword that cannot be a renewal here).
 */
int scepd_renew(struct scepd_op *op, scep_pkimessage *msg, scep_store *store);

#endif
