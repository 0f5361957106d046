/*
 * The enrollment pipeline's entry points: the messageType handlers of
 * PKIOperation that read or write enrollments (http/handle.c dispatches).
 */
#ifndef SCEPD_ENROLL_H
#define SCEPD_ENROLL_H

#include "scepd/ops/ops.h"

/* PKIOperation's messageType table: answers a verified, opened request (dispatch.c). */
void scepd_dispatch(struct scepd_op *op, scep_pkimessage *msg);
/* PKCSReq and RenewalReq: the enrollment pipeline (enroll/enrollment.h). */
void scepd_enroll(struct scepd_op *op, scep_pkimessage *msg);
/* CertPoll (GetCertInitial). */
void scepd_cert_poll(struct scepd_op *op, scep_pkimessage *msg);
/* GetCert (pipeline.c). */
void scepd_get_cert(struct scepd_op *op, scep_pkimessage *msg);

/* Longest dNSName taken from a subject. */
#define SCEPD_DNS_NAME_MAX 254

#endif
