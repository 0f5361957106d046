#include "scepd/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SCEPD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void scepd_log_set_level(enum scepd_log_level level)
{
    atomic_store(&log_level, (int)level);
}

int scepd_log_level_from_name(enum scepd_log_level *out, const char *name)
{
    for (int i = 0; i <= SCEPD_LOG_DEBUG; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum scepd_log_level)i;
            return 0;
        }
    }
    return -1;
}

int scepd_log_enabled(enum scepd_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

void scepd_log_escape(char *out, size_t out_size, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    if (out_size == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        char piece[4];
        size_t len = 1;
        if (*p < 0x20 || *p == 0x7f) {
            piece[0] = '\\';
            piece[1] = 'x';
            piece[2] = hex[*p >> 4];
            piece[3] = hex[*p & 0xf];
            len = 4;
        } else if (*p == '"' || *p == '\\') {
            piece[0] = '\\';
            piece[1] = (char)*p;
            len = 2;
        } else {
            piece[0] = (char)*p;
        }
        if (used + len >= out_size)
            break;
        memcpy(out + used, piece, len);
        used += len;
    }
    out[used] = '\0';
}

void scepd_log_value(char *out, size_t out_size, const char *text)
{
    if (out_size == 0)
        return;
    if (text == NULL || text[0] == '\0') {
        snprintf(out, out_size, "-");
        return;
    }
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0' && plain; p++)
        plain = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
    if (plain) {
        snprintf(out, out_size, "%s", text);
        return;
    }
    if (out_size < 3) {
        out[0] = '\0';
        return;
    }
    out[0] = '"';
    scepd_log_escape(out + 1, out_size - 2, text);
    size_t len = strlen(out);
    out[len] = '"';
    out[len + 1] = '\0';
}

void scepd_log(enum scepd_log_level level, const char *fmt, ...)
{
    if (!scepd_log_enabled(level))
        return;
    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t used = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(line + used, sizeof(line) - used, ".%03ldZ %s ", now.tv_nsec / 1000000,
                     level_names[level]);
    if (n > 0)
        used += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    va_end(ap);
    if (n > 0)
        used += (size_t)n;
    if (used >= sizeof(line) - 1)
        used = sizeof(line) - 2;
    /* A last guard for values not passed through scepd_log_escape: one event, one line. */
    for (size_t i = 0; i < used; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[used++] = '\n';
    ssize_t written = write(STDERR_FILENO, line, used);
    (void)written;
}
