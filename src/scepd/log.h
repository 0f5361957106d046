/*
 * scepd's log: one line per event, key=value (or the same pairs as a JSON object), to
 * stderr, syslog or the journal. Never secrets.
 */
#ifndef SCEPD_LOG_H
#define SCEPD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum scepd_log_level { SCEPD_LOG_ERROR, SCEPD_LOG_WARN, SCEPD_LOG_INFO, SCEPD_LOG_DEBUG };

enum scepd_log_format { SCEPD_LOG_TEXT, SCEPD_LOG_JSON };
enum scepd_log_target { SCEPD_LOG_STDERR, SCEPD_LOG_SYSLOG, SCEPD_LOG_JOURNAL };

void scepd_log_set_level(enum scepd_log_level level);
/* Chooses the lines' format and destination; syslog opens with facility LOG_DAEMON. */
void scepd_log_set_output(enum scepd_log_format format, enum scepd_log_target target);
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

/*
 * The JSON form of one text line's message: an object with "time" and "level", then
 * each key=value pair in order, values as strings; a quoted value comes back as the
 * original text (the escapes of scepd_log_escape undone; jansson escapes it again).
 * Words that are no key=value pair go to "message"; a repeated key gets a suffix
 * (_2, _3...). Returns a malloc'ed line without newline, or NULL when out of memory.
 */
char *scepd_log_json(const char *time, const char *level, const char *message);

/*
 * Sets jansson's process-wide allocator to one that wipes every block on free (the
 * JSON scepd handles carries challenge passwords and enrollment codes). The allocator
 * must not change under live objects: scepd_server_init calls it before any thread
 * starts, and every jansson user (the JSON log, the webhook, the admin API) calls it
 * first too. Text from jansson (json_dumps) is freed with jansson's free, or produced
 * with json_dumpb into the caller's buffer.
 */
void scepd_jansson_init(void);

#endif
