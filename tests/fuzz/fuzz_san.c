/*
 * libFuzzer target for scep_san_parse. Names it accepts must come back from
 * scep_san_format (both separators) then scep_san_parse as the same names in the
 * same order (scep_san_equal); abort() otherwise.
 */
#include "scep/ca.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const GENERAL_NAMES *names, char separator)
{
    char *text = NULL;
    GENERAL_NAMES *again = NULL;
    if (scep_san_format(&text, names, separator) != SCEP_OK)
        abort();
    if (scep_san_parse(&again, text) != SCEP_OK ||
        sk_GENERAL_NAME_num(again) != sk_GENERAL_NAME_num(names))
        abort();
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++)
        if (!scep_san_equal(sk_GENERAL_NAME_value(names, i), sk_GENERAL_NAME_value(again, i)))
            abort();
    GENERAL_NAMES_free(again);
    OPENSSL_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    GENERAL_NAMES *names = NULL;
    if (scep_san_parse(&names, text) == SCEP_OK) {
        if (names == NULL)
            abort();
        round_trip(names, ',');
        round_trip(names, '\n');
        GENERAL_NAMES_free(names);
    }
    free(text);
    return 0;
}
