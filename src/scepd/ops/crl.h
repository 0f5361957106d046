/*
 * Revocation as scepd serves it: GetCRL (RFC 8894 §3.3.4, §4.6), the CRL over
 * plain HTTP at /crl/NAME.crl (RFC 8894 §3.3.4 prefers HTTP access), and the
 * CRL distribution point put into issued certificates. The CRL itself is the
 * stored one while current, else regenerated on demand (crl/publish.h).
 */
#ifndef SCEPD_CRL_H
#define SCEPD_CRL_H

#include "scepd/ops/ops.h"

#include <stddef.h>

/* Where CRLs are served over HTTP: /crl/NAME.crl (DER) and /crl/NAME.pem. */
#define SCEPD_CRL_PATH_PREFIX "/crl/"

/*
 * Answers a request under SCEPD_CRL_PATH_PREFIX and returns 1; returns 0
 * (nothing done) for any other path, which then goes to alias routing.
 */
int scepd_crl_http(struct scepd_op *op);

#endif
