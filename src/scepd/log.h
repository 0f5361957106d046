/*
 * scepd's log: one line per event, key=value, to stderr. Never secrets.
 */
#ifndef SCEPD_LOG_H
#define SCEPD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum scepd_log_level { SCEPD_LOG_ERROR, SCEPD_LOG_WARN, SCEPD_LOG_INFO, SCEPD_LOG_DEBUG };

void scepd_log_set_level(enum scepd_log_level level);
int scepd_log_level_from_name(enum scepd_log_level *out, const char *name);
int scepd_log_enabled(enum scepd_log_level level);

/* Writes "time level message\n" as one write so lines from threads never mix. */
void scepd_log(enum scepd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Copies `text` for a quoted log value: control characters and DEL as \xHH, '"' and
 * '\\' escaped with a backslash, so text from a request (a CN with ESC sequences, a
 * line break) can neither forge a log line nor drive a terminal. Truncates to fit.
 */
void scepd_log_escape(char *out, size_t out_size, const char *text);

/*
 * A key=value value: `text` as it is when it holds nothing but printable characters
 * other than blanks, quotes and backslashes, else in quotes and escaped
 * (scepd_log_escape), so a client-chosen value (a transactionID with blanks) cannot
 * add fields to the line. NULL or "": "-".
 */
void scepd_log_value(char *out, size_t out_size, const char *text);

#endif
