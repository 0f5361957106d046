/*
 * libFuzzer target for scep_dn_parse. A name it accepts must come back equal
 * (X509_NAME_cmp) from scep_dn_format then scep_dn_parse, as long as the text stays
 * within SCEP_DN_MAX; abort() otherwise.
 */
#include "scep/ca.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SCEP_DN_MAX + 16)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    X509_NAME *name = NULL;
    if (scep_dn_parse(&name, text) == SCEP_OK) {
        char *formatted = NULL;
        X509_NAME *again = NULL;
        if (scep_dn_format(&formatted, name) != SCEP_OK)
            abort();
        /* Escaping may take the text past the longest DN the parser reads (SCEP_DN_MAX). */
        if (strlen(formatted) <= SCEP_DN_MAX &&
            (scep_dn_parse(&again, formatted) != SCEP_OK || X509_NAME_cmp(name, again) != 0))
            abort();
        X509_NAME_free(again);
        OPENSSL_free(formatted);
        X509_NAME_free(name);
    }
    free(text);
    return 0;
}
