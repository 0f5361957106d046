/* Helpers shared by the configuration module's files. */
#ifndef SCEP_CONFIG_INTERNAL_H
#define SCEP_CONFIG_INTERNAL_H

#include "config/config.h"

/*
 * Writes a SIZE (bytes) or DURATION (seconds) value with its largest exact
 * unit: 1048576 -> "1M", 3600 -> "1h", 90 -> "90s", 1000 -> "1000".
 */
void scep_config_scaled_text(char *buf, size_t len, long long value, enum scep_config_type type);

#endif
