/*
 * libFuzzer target for the relay channel's frame codec (src/scepd/relay/channel.c): the
 * 4-byte length, the JSON body, and the base64 values a relay or CA node reads from it.
 */
#include "scepd/log.h"
#include "scepd/relay/channel.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        scepd_jansson_init();
        ready = 1;
    }
    size_t len = 0;
    if (size < 4 || scepd_relay_frame_length(&len, data, 1u << 20) != SCEP_OK || len > size - 4)
        return 0;
    json_t *frame = NULL;
    if (scepd_relay_frame_parse(&frame, data + 4, len) != SCEP_OK)
        return 0;
    static const char *const keys[] = {"message", "content", "crl"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        unsigned char *der = NULL;
        size_t der_len = 0;
        if (scepd_relay_get_b64(&der, &der_len, frame, keys[i], 64 * 1024) == SCEP_OK)
            OPENSSL_free(der);
    }
    unsigned char *out = NULL;
    size_t out_len = 0;
    if (scepd_relay_frame_encode(&out, &out_len, frame, 1u << 20) == SCEP_OK)
        free(out);
    json_decref(frame);
    return 0;
}
