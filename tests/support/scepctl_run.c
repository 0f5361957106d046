#include "scepctl_run.h"

#include "scepctl/scepctl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#define ARGS_MAX 32

static void slurp(char *out, size_t size, FILE *file)
{
    rewind(file);
    size_t n = fread(out, 1, size - 1, file);
    out[n] = '\0';
    fclose(file);
}

int test_scepctl_v(const char *config, char *out, size_t out_size, char *err, size_t err_size,
                   const char *first, va_list args)
{
    static char program[] = "scepctl", config_option[] = "-c";
    char *argv[ARGS_MAX] = {program, config_option, (char *)config, (char *)first};
    int argc = first != NULL ? 4 : 3;
    for (char *arg; first != NULL && (arg = va_arg(args, char *)) != NULL && argc < ARGS_MAX - 1;)
        argv[argc++] = arg;
    FILE *out_file = tmpfile(), *err_file = tmpfile();
    assert_non_null(out_file);
    assert_non_null(err_file);
    int rc = scepctl_main(argc, argv, out_file, err_file);
    slurp(out, out_size, out_file);
    slurp(err, err_size, err_file);
    return rc;
}
