#include "util/error_internal.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCEP_ERROR_MESSAGE_MAX 512

struct scep_last_error {
    int code;
    char message[SCEP_ERROR_MESSAGE_MAX];
};

static _Thread_local struct scep_last_error last_error;

const char *scep_version(void)
{
    return SCEP_VERSION_STRING;
}

const char *scep_error_name(int code)
{
    switch (code) {
#define SCEP_ERROR_NAME_(name, value, fail, text)                                                  \
    case value:                                                                                    \
        return #name;
        SCEP_ERROR_LIST(SCEP_ERROR_NAME_)
#undef SCEP_ERROR_NAME_
    default:
        return "SCEP_E?";
    }
}

const char *scep_error_text(int code)
{
    switch (code) {
#define SCEP_ERROR_TEXT_(name, value, fail, text)                                                  \
    case value:                                                                                    \
        return text;
        SCEP_ERROR_LIST(SCEP_ERROR_TEXT_)
#undef SCEP_ERROR_TEXT_
    default:
        return "unknown error";
    }
}

scep_fail_info scep_error_fail_info(int code)
{
    switch (code) {
#define SCEP_ERROR_FAIL_(name, value, fail, text)                                                  \
    case value:                                                                                    \
        return fail;
        SCEP_ERROR_LIST(SCEP_ERROR_FAIL_)
#undef SCEP_ERROR_FAIL_
    default:
        return SCEP_FAIL_BAD_REQUEST;
    }
}

const char *scep_fail_info_name(scep_fail_info fail_info)
{
    static const char *const names[] = {
        [SCEP_FAIL_BAD_ALG] = "badAlg",         [SCEP_FAIL_BAD_MESSAGE_CHECK] = "badMessageCheck",
        [SCEP_FAIL_BAD_REQUEST] = "badRequest", [SCEP_FAIL_BAD_TIME] = "badTime",
        [SCEP_FAIL_BAD_CERT_ID] = "badCertId",
    };
    if ((unsigned)fail_info < sizeof(names) / sizeof(names[0]))
        return names[fail_info];
    return "unknown";
}

int scep_error_code(void)
{
    return last_error.code;
}

const char *scep_error_message(void)
{
    return last_error.message;
}

void scep_error_clear(void)
{
    last_error.code = SCEP_OK;
    last_error.message[0] = '\0';
}

/* Formats into a local buffer first: callers may pass scep_error_message() itself
 * as an argument, to wrap the previous error in context. */
SCEP_PRINTF(2, 0) static void record(int code, const char *fmt, va_list ap)
{
    char message[SCEP_ERROR_MESSAGE_MAX];
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    if (n < 0)
        message[0] = '\0';
    last_error.code = code;
    memcpy(last_error.message, message, sizeof(message));
}

int scep_fail_at(const char *file, int line, int code, const char *fmt, ...)
{
    (void)file;
    (void)line;
    va_list ap;
    va_start(ap, fmt);
    record(code, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return code;
}

int scep_fail_ossl_at(const char *file, int line, int code, const char *fmt, ...)
{
    (void)file;
    (void)line;
    va_list ap;
    va_start(ap, fmt);
    record(code, fmt, ap);
    va_end(ap);

    /* The last entry is usually the most specific reason. */
    unsigned long err = ERR_peek_last_error();
    if (err != 0) {
        char reason[256];
        ERR_error_string_n(err, reason, sizeof(reason));
        size_t used = strlen(last_error.message);
        if (used < sizeof(last_error.message) - 1) {
            int n = snprintf(last_error.message + used, sizeof(last_error.message) - used, ": %s",
                             reason);
            (void)n;
        }
    }
    ERR_clear_error();
    return code;
}
