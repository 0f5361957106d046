/*
 * libFuzzer target for the configuration reader (scep_config_parse). What it
 * accepts must survive scep_config_format: the text it writes parses again and
 * writes the same text (abort() otherwise).
 */
#include "config/config.h"
#include "scep/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *format_or_abort(const scep_config *cfg)
{
    char *text = NULL;
    if (scep_config_format(cfg, SCEP_CONFIG_WITH_DEFAULTS, &text) != SCEP_OK)
        abort();
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scep_config *cfg = NULL;
    if (scep_config_parse(&cfg, "fuzz", (const char *)data, size) != SCEP_OK)
        return 0;
    (void)scep_config_global_values(cfg);
    (void)scep_config_default_alias(cfg);
    for (size_t i = 0; i < scep_config_warning_count(cfg); i++)
        (void)scep_config_warning(cfg, i);
    for (size_t i = 0; i < scep_config_alias_count(cfg); i++)
        if (scep_config_alias(cfg, scep_config_alias_name(cfg, i)) == NULL)
            abort();

    char *first = format_or_abort(cfg);
    scep_config *again = NULL;
    if (scep_config_parse(&again, "fuzz-again", first, strlen(first)) != SCEP_OK)
        abort();
    char *second = format_or_abort(again);
    if (strcmp(first, second) != 0 ||
        scep_config_alias_count(again) != scep_config_alias_count(cfg))
        abort();
    free(second);
    free(first);
    scep_config_free(again);
    scep_config_free(cfg);
    return 0;
}
