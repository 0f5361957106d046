/*
 * scepctl inside the test process: `scepctl -c CONFIG ARGS...`, its standard
 * output and error captured.
 */
#ifndef SCEP_TEST_SCEPCTL_RUN_H
#define SCEP_TEST_SCEPCTL_RUN_H

#include <stdarg.h>
#include <stddef.h>

/* ARGS is NULL-terminated; `out` and `err` get what scepctl wrote (cut to fit). Returns
 * scepctl's exit code. */
int test_scepctl_v(const char *config, char *out, size_t out_size, char *err, size_t err_size,
                   const char *first, va_list args);

#endif
