/*
 * libFuzzer target for the EJBCA SCEP alias import (Java .properties,
 * `ALIAS.key=value`): into an empty configuration, once taking the file's only
 * alias and once asking for the alias "scep". An import that succeeds must
 * leave a configuration scep_config_format can write and scep_config_parse read.
 */
#include "config/config.h"
#include "scep/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void import(const uint8_t *data, size_t size, const char *alias)
{
    scep_config *cfg = NULL;
    if (scep_config_new(&cfg) != SCEP_OK)
        abort();
    if (scep_config_import_alias_text(cfg, "fuzz", (const char *)data, size, alias) == SCEP_OK) {
        if (scep_config_alias_count(cfg) != 1)
            abort();
        if (alias != NULL && scep_config_alias(cfg, alias) == NULL)
            abort();
        char *text = NULL;
        scep_config *again = NULL;
        if (scep_config_format(cfg, 0, &text) != SCEP_OK ||
            scep_config_parse(&again, "fuzz-again", text, strlen(text)) != SCEP_OK)
            abort();
        scep_config_free(again);
        free(text);
    }
    scep_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    import(data, size, NULL);
    import(data, size, "scep");
    return 0;
}
