/*
 * CertPoll (20), GetCertInitial in the drafts: messageData is an
 * IssuerAndSubject (RFC 8894 §3.3.3). Both directions live here.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/asn1t.h>

typedef struct {
    X509_NAME *issuer;
    X509_NAME *subject;
} SCEP_ISSUER_AND_SUBJECT;

/* clang-format off */
ASN1_SEQUENCE(SCEP_ISSUER_AND_SUBJECT) = {
    ASN1_SIMPLE(SCEP_ISSUER_AND_SUBJECT, issuer, X509_NAME),
    ASN1_SIMPLE(SCEP_ISSUER_AND_SUBJECT, subject, X509_NAME),
} static_ASN1_SEQUENCE_END(SCEP_ISSUER_AND_SUBJECT)
    /* clang-format on */

    int scep_certpoll_encode(unsigned char **out, size_t *out_len, const X509_NAME *issuer,
                             const X509_NAME *subject)
{
    int rc = SCEP_OK;
    SCEP_ISSUER_AND_SUBJECT *ias = NULL;
    unsigned char *der = NULL;

    ENSURE(issuer != NULL && subject != NULL, SCEP_EINVAL,
           "CertPoll needs the issuer and subject names");
    ias = (SCEP_ISSUER_AND_SUBJECT *)ASN1_item_new(ASN1_ITEM_rptr(SCEP_ISSUER_AND_SUBJECT));
    ENSURE_ALLOC(ias);
    ENSURE_OSSL(X509_NAME_set(&ias->issuer, issuer) == 1, SCEP_ENOMEM, "issuer name");
    ENSURE_OSSL(X509_NAME_set(&ias->subject, subject) == 1, SCEP_ENOMEM, "subject name");
    int len = ASN1_item_i2d((ASN1_VALUE *)ias, &der, ASN1_ITEM_rptr(SCEP_ISSUER_AND_SUBJECT));
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode IssuerAndSubject");
    *out = der;
    *out_len = (size_t)len;

cleanup:
    ASN1_item_free((ASN1_VALUE *)ias, ASN1_ITEM_rptr(SCEP_ISSUER_AND_SUBJECT));
    return rc;
}

int scep_certpoll_decode(scep_pkimessage *msg)
{
    const unsigned char *p = msg->content;
    SCEP_ISSUER_AND_SUBJECT *ias = (SCEP_ISSUER_AND_SUBJECT *)ASN1_item_d2i(
        NULL, &p, (long)msg->content_len, ASN1_ITEM_rptr(SCEP_ISSUER_AND_SUBJECT));
    if (ias == NULL)
        return scep_fail_ossl(SCEP_EMALFORMED, "CertPoll content is not an IssuerAndSubject");
    if (p != msg->content + msg->content_len) {
        ASN1_item_free((ASN1_VALUE *)ias, ASN1_ITEM_rptr(SCEP_ISSUER_AND_SUBJECT));
        return scep_fail(SCEP_EMALFORMED, "IssuerAndSubject has trailing data");
    }
    msg->issuer = ias->issuer;
    msg->subject = ias->subject;
    ias->issuer = NULL;
    ias->subject = NULL;
    ASN1_item_free((ASN1_VALUE *)ias, ASN1_ITEM_rptr(SCEP_ISSUER_AND_SUBJECT));
    return SCEP_OK;
}
