/*
 * The messageType handlers of PKIOperation and the CertRep they answer with.
 */
#ifndef SCEPD_ENROLL_H
#define SCEPD_ENROLL_H

#include "scepd/ops.h"

/* What to answer: status, and certificates/CRL or failInfo + text. */
struct scepd_outcome {
    scep_pki_status status;
    STACK_OF(X509) * certs;
    X509_CRL *crl;
    scep_fail_info fail_info;
    const char *fail_info_text;
};

/* Builds, signs and encrypts the CertRep for `request` into the HTTP response. */
int scepd_reply(struct scepd_op *op, const scep_pkimessage *request,
                const struct scepd_outcome *outcome);
int scepd_reply_failure(struct scepd_op *op, const scep_pkimessage *request,
                        scep_fail_info fail_info, const char *text);

/* PKCSReq and RenewalReq: the enrollment pipeline (enroll/enrollment.h). */
void scepd_enroll(struct scepd_op *op, scep_pkimessage *msg);
/* CertPoll (GetCertInitial). */
void scepd_cert_poll(struct scepd_op *op, scep_pkimessage *msg);
/* GetCert (enroll/pipeline.c) and GetCRL (crl.c). */
void scepd_get_cert(struct scepd_op *op, scep_pkimessage *msg);
void scepd_get_crl(struct scepd_op *op, scep_pkimessage *msg);

/* Longest dNSName taken from a subject. */
#define SCEPD_DNS_NAME_MAX 254

#endif
