/*
 * Degenerate certificates-only SignedData (RFC 8894 §3.4). Built with the
 * PKCS7 API because it writes certificates as a SEQUENCE OF in the order
 * given (CMS would sort the SET OF), and the issued certificate must come
 * first for the clients that take the first one.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

int scep_certs_only_build(unsigned char **out, size_t *out_len, STACK_OF(X509) * certs,
                          X509_CRL *crl)
{
    int rc = SCEP_OK;
    PKCS7 *p7 = NULL;
    PKCS7_SIGNED *signed_data = NULL;
    unsigned char *der = NULL;

    ENSURE(out != NULL && out_len != NULL, SCEP_EINVAL, "output pointer missing");
    ENSURE((certs != NULL && sk_X509_num(certs) > 0) || crl != NULL, SCEP_EINVAL,
           "a certs-only message needs certificates or a CRL");
    p7 = PKCS7_new();
    ENSURE_ALLOC(p7);
    signed_data = PKCS7_SIGNED_new();
    ENSURE_ALLOC(signed_data);
    p7->type = OBJ_nid2obj(NID_pkcs7_signed);
    p7->d.sign = signed_data;
    signed_data = NULL;
    /* "the content field of the ContentInfo ... MUST be omitted": id-data, no eContent. */
    p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
    ENSURE_OSSL(ASN1_INTEGER_set(p7->d.sign->version, 1) == 1, SCEP_ENOMEM, "version");
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++)
        ENSURE_OSSL(PKCS7_add_certificate(p7, sk_X509_value(certs, i)) == 1, SCEP_ECRYPTO,
                    "cannot add a certificate");
    if (crl != NULL)
        ENSURE_OSSL(PKCS7_add_crl(p7, crl) == 1, SCEP_ECRYPTO, "cannot add the CRL");
    int len = i2d_PKCS7(p7, &der);
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the certs-only message");
    *out = der;
    *out_len = (size_t)len;

cleanup:
    PKCS7_SIGNED_free(signed_data);
    PKCS7_free(p7);
    return rc;
}

int scep_certs_only_parse(STACK_OF(X509) * *out_certs, STACK_OF(X509_CRL) * *out_crls,
                          const unsigned char *der, size_t der_len, size_t max_size)
{
    int rc = SCEP_OK;
    PKCS7 *p7 = NULL;
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;

    GUARD(scep_der_check(der, der_len, max_size ? max_size : SCEP_MESSAGE_MAX_DEFAULT));
    const unsigned char *p = der;
    p7 = d2i_PKCS7(NULL, &p, (long)der_len);
    ENSURE_OSSL(p7 != NULL, SCEP_EMALFORMED, "certs-only message is not a valid PKCS#7");
    ENSURE(p == der + der_len, SCEP_EMALFORMED, "certs-only message has trailing data");
    ENSURE(PKCS7_type_is_signed(p7) && p7->d.sign != NULL, SCEP_ECONTENT,
           "certs-only message is not a SignedData");

    certs = sk_X509_new_null();
    crls = sk_X509_CRL_new_null();
    ENSURE_ALLOC(certs);
    ENSURE_ALLOC(crls);
    STACK_OF(X509) *in_certs = p7->d.sign->cert;
    for (int i = 0; in_certs != NULL && i < sk_X509_num(in_certs); i++) {
        X509 *cert = sk_X509_value(in_certs, i);
        ENSURE_OSSL(X509_up_ref(cert) == 1, SCEP_ECRYPTO, "certificate reference");
        if (sk_X509_push(certs, cert) <= 0) {
            X509_free(cert);
            ENSURE_ALLOC(NULL);
        }
    }
    STACK_OF(X509_CRL) *in_crls = p7->d.sign->crl;
    for (int i = 0; in_crls != NULL && i < sk_X509_CRL_num(in_crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(in_crls, i);
        ENSURE_OSSL(X509_CRL_up_ref(crl) == 1, SCEP_ECRYPTO, "CRL reference");
        if (sk_X509_CRL_push(crls, crl) <= 0) {
            X509_CRL_free(crl);
            ENSURE_ALLOC(NULL);
        }
    }
    if (out_certs != NULL) {
        *out_certs = certs;
        certs = NULL;
    }
    if (out_crls != NULL) {
        *out_crls = crls;
        crls = NULL;
    }

cleanup:
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    PKCS7_free(p7);
    return rc;
}
