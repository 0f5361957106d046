/*
 * GetNextCACert reply (RFC 8894 §4.7.1): a SignedData by the current CA whose
 * content is a certs-only bundle of the next CA (and RA) certificates.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

int scep_next_ca_build(unsigned char **out, size_t *out_len, STACK_OF(X509) * next_certs,
                       X509 *signer_cert, EVP_PKEY *signer_key, scep_digest digest)
{
    int rc = SCEP_OK;
    unsigned char *bundle = NULL;
    size_t bundle_len = 0;
    CMS_ContentInfo *cms = NULL;
    BIO *in = NULL;
    const EVP_MD *md = NULL;
    unsigned char *der = NULL;

    ENSURE(out != NULL && out_len != NULL && signer_cert != NULL && signer_key != NULL, SCEP_EINVAL,
           "output, signer certificate and key are required");
    GUARD(scep_digest_md(&md, digest, 0));
    GUARD(scep_certs_only_build(&bundle, &bundle_len, next_certs, NULL));
    cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    ENSURE_OSSL(cms != NULL, SCEP_ECRYPTO, "cannot create SignedData");
    ENSURE_OSSL(CMS_add1_signer(cms, signer_cert, signer_key, md,
                                CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP) != NULL,
                SCEP_ECRYPTO, "cannot add the signer");
    in = BIO_new_mem_buf(bundle, (int)bundle_len);
    ENSURE_ALLOC(in);
    ENSURE_OSSL(CMS_final(cms, in, NULL, CMS_BINARY) == 1, SCEP_ECRYPTO,
                "cannot sign the GetNextCACert reply");
    int len = i2d_CMS_ContentInfo(cms, &der);
    ENSURE_OSSL(len > 0, SCEP_ECRYPTO, "cannot encode the GetNextCACert reply");
    *out = der;
    *out_len = (size_t)len;

cleanup:
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    OPENSSL_free(bundle);
    return rc;
}

int scep_next_ca_parse(STACK_OF(X509) * *out_next_certs, const unsigned char *der, size_t der_len,
                       X509 *current_ca, size_t max_size)
{
    int rc = SCEP_OK;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(X509) *signers = NULL;
    BIO *content = NULL;

    if (out_next_certs == NULL)
        return scep_fail(SCEP_EINVAL, "output pointer missing");
    *out_next_certs = NULL;
    ENSURE(current_ca != NULL, SCEP_EINVAL, "the current CA certificate is required");
    GUARD(scep_der_check(der, der_len, max_size ? max_size : SCEP_MESSAGE_MAX_DEFAULT));
    const unsigned char *p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    ENSURE_OSSL(cms != NULL, SCEP_EMALFORMED, "GetNextCACert reply is not CMS");
    ENSURE(p == der + der_len, SCEP_EMALFORMED, "GetNextCACert reply has trailing data");
    ENSURE(OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed, SCEP_ECONTENT,
           "GetNextCACert reply is not a SignedData");
    signers = sk_X509_new_null();
    ENSURE_ALLOC(signers);
    ENSURE_ALLOC(sk_X509_push(signers, current_ca) > 0 ? signers : NULL);
    content = BIO_new(BIO_s_mem());
    ENSURE_ALLOC(content);
    /* Only the current CA may announce its successor. */
    ENSURE_OSSL(CMS_verify(cms, signers, NULL, NULL, content,
                           CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN | CMS_BINARY) == 1,
                SCEP_EBADSIG, "GetNextCACert reply is not signed by the current CA");
    char *data = NULL;
    long len = BIO_get_mem_data(content, &data);
    ENSURE(len > 0, SCEP_EMALFORMED, "GetNextCACert reply is empty");
    GUARD(scep_certs_only_parse(out_next_certs, NULL, (const unsigned char *)data, (size_t)len,
                                (size_t)len));
    ENSURE(sk_X509_num(*out_next_certs) > 0, SCEP_EMALFORMED,
           "GetNextCACert reply holds no certificate");

cleanup:
    if (rc < 0 && *out_next_certs != NULL) {
        sk_X509_pop_free(*out_next_certs, X509_free);
        *out_next_certs = NULL;
    }
    BIO_free(content);
    sk_X509_free(signers);
    CMS_ContentInfo_free(cms);
    return rc;
}
