/*
 * CertRep (3) messageData: a degenerate certs-only SignedData holding the
 * issued or requested certificate (leaf first) or a CRL (RFC 8894 §3.3.2).
 * Building it is scep_reply_build(); reading it is here.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

int scep_certrep_decode(scep_pkimessage *msg)
{
    int rc = SCEP_OK;
    STACK_OF(X509_CRL) *crls = NULL;
    GUARD(scep_certs_only_parse(&msg->certs, &crls, msg->content, msg->content_len,
                                msg->content_len));
    if (crls != NULL && sk_X509_CRL_num(crls) > 0)
        msg->crl = sk_X509_CRL_shift(crls);
    ENSURE((msg->certs != NULL && sk_X509_num(msg->certs) > 0) || msg->crl != NULL, SCEP_EMALFORMED,
           "CertRep SUCCESS carries neither certificates nor a CRL");

cleanup:
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return rc;
}
