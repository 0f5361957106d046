/*
 * GetCert (21) and GetCRL (22): messageData is an IssuerAndSerialNumber
 * (RFC 8894 §3.3.4). Both directions live here.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

int scep_getcert_encode(unsigned char **out, size_t *out_len, const X509_NAME *issuer,
                        const ASN1_INTEGER *serial)
{
    int rc = SCEP_OK;
    PKCS7_ISSUER_AND_SERIAL *ias = NULL;
    unsigned char *der = NULL;

    ENSURE(issuer != NULL && serial != NULL, SCEP_EINVAL,
           "GetCert and GetCRL need the issuer name and serial number");
    ias = PKCS7_ISSUER_AND_SERIAL_new();
    ENSURE_ALLOC(ias);
    ENSURE_OSSL(X509_NAME_set(&ias->issuer, issuer) == 1, SCEP_ENOMEM, "issuer name");
    ASN1_INTEGER *copy = ASN1_INTEGER_dup(serial);
    ENSURE_ALLOC(copy);
    ASN1_INTEGER_free(ias->serial);
    ias->serial = copy;
    int len = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &der);
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode IssuerAndSerialNumber");
    *out = der;
    *out_len = (size_t)len;

cleanup:
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    return rc;
}

int scep_getcert_decode(scep_pkimessage *msg)
{
    const unsigned char *p = msg->content;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &p, (long)msg->content_len);
    if (ias == NULL)
        return scep_fail_ossl(SCEP_EMALFORMED, "%s content is not an IssuerAndSerialNumber",
                              scep_message_type_name(msg->type));
    if (p != msg->content + msg->content_len) {
        PKCS7_ISSUER_AND_SERIAL_free(ias);
        return scep_fail(SCEP_EMALFORMED, "IssuerAndSerialNumber has trailing data");
    }
    msg->issuer = ias->issuer;
    msg->serial = ias->serial;
    ias->issuer = NULL;
    ias->serial = NULL;
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    return SCEP_OK;
}
