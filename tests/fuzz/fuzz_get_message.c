/* libFuzzer target for the GET `message=` decoder and the GetCACaps reader. */
#include "scep/caps.h"
#include "scep/message.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    if (scep_base64_decode_lenient(&out, &out_len, (const char *)data, size, 64 * 1024) == SCEP_OK)
        OPENSSL_free(out);
    scep_caps caps = 0;
    if (scep_caps_parse(&caps, (const char *)data, size) != SCEP_OK)
        caps = 0;
    return 0;
}
