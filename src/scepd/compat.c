/*
 * Device compatibility helpers (docs/interop.md): what old clients put where
 * modern ones would not.
 */
#include "scepd/enroll.h"

#include <string.h>

int scepd_dns_name_from_unstructured_name(char *out, size_t out_size, X509_REQ *csr)
{
    /* Cisco PIX/IOS: "unstructuredName=router.example.com", often with
     * unstructuredAddress (its IP) and serialNumber, and no SAN request. */
    const X509_NAME *subject = X509_REQ_get_subject_name(csr);
    int idx = X509_NAME_get_index_by_NID(subject, NID_pkcs9_unstructuredName, -1);
    if (idx < 0)
        return -1;
    unsigned char *utf8 = NULL;
    int len =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
    int rc = -1;
    if (len > 0 && (size_t)len < out_size && memchr(utf8, '\0', (size_t)len) == NULL) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
    return rc;
}
