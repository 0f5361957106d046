/*
 * Parsers for single configuration values. Each reports a sentence that
 * starts with "expected" so the caller can prefix "file:line: key: ".
 */
#include "config/config.h"
#include "config/config_internal.h"
#include "util/error_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Longest input echoed back in a message, so messages stay one short line. */
#define ECHO_MAX 64

static int fail_expected(const char *what, const char *text)
{
    return scep_fail(SCEP_ECONFIG, "expected %s, got \"%.*s%s\"", what, ECHO_MAX, text,
                     strlen(text) > ECHO_MAX ? "..." : "");
}

int scep_config_parse_bool(bool *out, const char *text)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return fail_expected("true or false", text);
}

/* Reads a non-negative decimal number at the start of text; *end after it. */
static bool read_unsigned(long long *out, const char *text, const char **end)
{
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    char *stop = NULL;
    long long v = strtoll(text, &stop, 10);
    if (errno != 0 || stop == text || v < 0)
        return false;
    *out = v;
    *end = stop;
    return true;
}

int scep_config_parse_int(long long *out, const char *text, long long min, long long max)
{
    const char *p = text;
    bool negative = false;
    if (*p == '-' || *p == '+') {
        negative = *p == '-';
        p++;
    }
    long long v = 0;
    const char *end = NULL;
    bool ok = read_unsigned(&v, p, &end) && *end == '\0';
    if (ok && negative)
        v = -v;
    if (!ok || v < min || v > max) {
        char what[96];
        int n = snprintf(what, sizeof(what), "an integer between %lld and %lld", min, max);
        (void)n;
        return fail_expected(what, text);
    }
    *out = v;
    return 0;
}

static const long long size_factors[] = {1, 1024LL, 1024LL * 1024, 1024LL * 1024 * 1024};
static const char size_suffixes[] = " KMG";
static const long long duration_factors[] = {1, 60, 3600, 86400};
static const char duration_suffixes[] = "smhd";

void scep_config_scaled_text(char *buf, size_t len, long long value, enum scep_config_type type)
{
    bool is_size = type == SCEP_CONFIG_TYPE_SIZE;
    const long long *factors = is_size ? size_factors : duration_factors;
    const char *suffixes = is_size ? size_suffixes : duration_suffixes;
    size_t best = 0;
    for (size_t i = 1; suffixes[i] != '\0'; i++)
        if (value != 0 && value % factors[i] == 0)
            best = i;
    int n = best == 0 ? snprintf(buf, len, "%lld%s", value, is_size ? "" : "s")
                      : snprintf(buf, len, "%lld%c", value / factors[best], suffixes[best]);
    (void)n;
}

/* Parses NUMBER[SUFFIX]; an absent suffix means factor 1. */
static bool parse_scaled(long long *out, const char *text, const long long *factors,
                         const char *suffixes)
{
    long long v = 0;
    const char *end = NULL;
    if (!read_unsigned(&v, text, &end))
        return false;
    long long factor = 1;
    if (*end != '\0') {
        const char *hit = NULL;
        for (const char *s = suffixes; *s != '\0'; s++)
            if (*s != ' ' && tolower((unsigned char)*end) == tolower((unsigned char)*s))
                hit = s;
        if (hit == NULL || end[1] != '\0')
            return false;
        factor = factors[hit - suffixes];
    }
    if (v > LLONG_MAX / factor)
        return false;
    *out = v * factor;
    return true;
}

int scep_config_parse_size(long long *out, const char *text, long long min, long long max)
{
    long long v = 0;
    if (!parse_scaled(&v, text, size_factors, size_suffixes) || v < min || v > max) {
        char lo[32], hi[32], what[128];
        scep_config_scaled_text(lo, sizeof(lo), min, SCEP_CONFIG_TYPE_SIZE);
        scep_config_scaled_text(hi, sizeof(hi), max, SCEP_CONFIG_TYPE_SIZE);
        int n = snprintf(what, sizeof(what), "a size between %s and %s (bytes, or with K, M, G)",
                         lo, hi);
        (void)n;
        return fail_expected(what, text);
    }
    *out = v;
    return 0;
}

int scep_config_parse_duration(long long *out, const char *text, long long min, long long max)
{
    long long v = 0;
    if (!parse_scaled(&v, text, duration_factors, duration_suffixes) || v < min || v > max) {
        char lo[32], hi[32], what[128];
        scep_config_scaled_text(lo, sizeof(lo), min, SCEP_CONFIG_TYPE_DURATION);
        scep_config_scaled_text(hi, sizeof(hi), max, SCEP_CONFIG_TYPE_DURATION);
        int n = snprintf(what, sizeof(what), "a duration between %s and %s (like 30s, 10m, 1h, 7d)",
                         lo, hi);
        (void)n;
        return fail_expected(what, text);
    }
    *out = v;
    return 0;
}

/* A DNS host name: labels of [A-Za-z0-9-], not starting or ending with '-'. */
static bool is_host_name(const char *host, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (c == '.') {
            if (label == 0 || host[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && label > 0);
        if (!ok || ++label > 63)
            return false;
    }
    return host[len - 1] != '-' && host[len - 1] != '.';
}

int scep_config_parse_listen(struct scep_listen_addr *out, const char *text)
{
    static const char what[] = "host:port, [IPv6]:port, port 0-65535";
    struct scep_listen_addr addr;
    memset(&addr, 0, sizeof(addr));
    const char *host = text;
    size_t host_len = 0;
    const char *port = NULL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return fail_expected(what, text);
        host = text + 1;
        host_len = (size_t)(close - host);
        port = close + 2;
        addr.family = AF_INET6;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL)
            return fail_expected(what, text); /* bare IPv6 needs brackets */
        host_len = (size_t)(colon - text);
        port = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof(addr.host))
        return fail_expected(what, text);
    memcpy(addr.host, host, host_len);
    addr.host[host_len] = '\0';

    unsigned char bin[16];
    if (addr.family == AF_INET6) {
        if (inet_pton(AF_INET6, addr.host, bin) != 1)
            return fail_expected("a valid IPv6 address in [IPv6]:port", text);
    } else if (inet_pton(AF_INET, addr.host, bin) == 1) {
        addr.family = AF_INET;
    } else {
        /* All digits and dots but not an IPv4 address: a typo, not a name. */
        if (strspn(addr.host, "0123456789.") == host_len || !is_host_name(addr.host, host_len))
            return fail_expected("a valid IPv4 address or host name in host:port", text);
        addr.family = AF_UNSPEC;
    }

    long long port_value = 0;
    const char *end = NULL;
    if (!read_unsigned(&port_value, port, &end) || *end != '\0' || port_value > 65535)
        return fail_expected("a port between 0 and 65535 in host:port", text);
    addr.port = (uint16_t)port_value;
    *out = addr;
    return 0;
}
