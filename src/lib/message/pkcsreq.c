/*
 * PKCSReq (19) and RenewalReq (17) messageData: a PKCS#10 request
 * (RFC 8894 §3.3.1). Both directions live here.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

int scep_pkcsreq_encode(unsigned char **out, size_t *out_len, X509_REQ *csr)
{
    if (csr == NULL)
        return scep_fail(SCEP_EINVAL, "PKCSReq needs a certificate request");
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(csr, &der);
    if (len <= 0)
        return scep_fail_ossl(SCEP_EINVAL, "cannot encode the certificate request");
    *out = der;
    *out_len = (size_t)len;
    return SCEP_OK;
}

int scep_pkcsreq_decode(scep_pkimessage *msg)
{
    const unsigned char *p = msg->content;
    X509_REQ *csr = d2i_X509_REQ(NULL, &p, (long)msg->content_len);
    if (csr == NULL)
        return scep_fail_ossl(SCEP_EMALFORMED, "%s content is not a PKCS#10 request",
                              scep_message_type_name(msg->type));
    if (p != msg->content + msg->content_len) {
        X509_REQ_free(csr);
        return scep_fail(SCEP_EMALFORMED, "PKCS#10 request has trailing data");
    }
    EVP_PKEY *key = X509_REQ_get0_pubkey(csr);
    /* Proof of possession: the request is signed by the key it carries. */
    if (key == NULL || X509_REQ_verify(csr, key) != 1) {
        X509_REQ_free(csr);
        return scep_fail_ossl(SCEP_EBADCSR, "the PKCS#10 request's signature does not verify");
    }
    msg->csr = csr;
    return SCEP_OK;
}
