/* libFuzzer target for the certs-only (degenerate SignedData) parser. */
#include "scep/message.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    if (scep_certs_only_parse(&certs, &crls, data, size, 256 * 1024) == SCEP_OK) {
        sk_X509_pop_free(certs, X509_free);
        sk_X509_CRL_pop_free(crls, X509_CRL_free);
    }
    return 0;
}
