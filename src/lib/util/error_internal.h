/*
 * Internal error helpers: recording the thread's last error and the macros that
 * keep the happy path straight. Every function below returns the code it was
 * given so that `return scep_fail(...)` reads naturally.
 */
#ifndef SCEP_ERROR_INTERNAL_H
#define SCEP_ERROR_INTERNAL_H

#include "scep/error.h"

#if defined(__GNUC__)
#define SCEP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SCEP_PRINTF(fmt, args)
#endif

/* Records `code` with a formatted message; returns `code`. Clears OpenSSL's queue. */
int scep_fail_at(const char *file, int line, int code, const char *fmt, ...) SCEP_PRINTF(4, 5);

/*
 * Records `code` with a formatted message followed by the reason OpenSSL left
 * in its error queue (if any); returns `code` and empties the queue.
 */
int scep_fail_ossl_at(const char *file, int line, int code, const char *fmt, ...) SCEP_PRINTF(4, 5);

#define scep_fail(code, ...)      scep_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__)
#define scep_fail_ossl(code, ...) scep_fail_ossl_at(__FILE__, __LINE__, (code), __VA_ARGS__)

/* Evaluates a libscep call; on a negative result jumps to `cleanup` with rc set. */
#define GUARD(expr)                                                                                \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc < 0)                                                                                \
            goto cleanup;                                                                          \
    } while (0)

/* Checks a condition; when false records the error and jumps to `cleanup`. */
#define ENSURE(cond, code, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            rc = scep_fail((code), __VA_ARGS__);                                                   \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

/* As ENSURE, for OpenSSL results: appends OpenSSL's reason to the message. */
#define ENSURE_OSSL(cond, code, ...)                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            rc = scep_fail_ossl((code), __VA_ARGS__);                                              \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

/* Allocation failure shorthand. */
#define ENSURE_ALLOC(ptr) ENSURE((ptr) != NULL, SCEP_ENOMEM, "out of memory")

#endif /* SCEP_ERROR_INTERNAL_H */
