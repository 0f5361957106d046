#include "scepd/http/route.h"

#include <string.h>
#include <strings.h>

/* Prefixes after which an optional ALIAS segment may follow. */
static const char *const alias_prefixes[] = {
    "/ejbca/publicweb/apply/scep", /* EJBCA, so clients configured for it work unchanged */
    "/scep",
};

/* Prefixes that always mean the default alias. */
static const char *const default_prefixes[] = {
    "/cgi-bin",       /* the RFC's /cgi-bin/pkiclient.exe */
    "/certsrv/mscep", /* NDES: /certsrv/mscep/mscep.dll */
};

int scepd_alias_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > SCEPD_ALIAS_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Matches `prefix` case-insensitively at a segment boundary; returns the rest or NULL. */
static const char *match_prefix(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncasecmp(path, prefix, n) != 0)
        return NULL;
    if (path[n] != '\0' && path[n] != '/')
        return NULL;
    return path + n;
}

static int set_alias(char *alias, size_t alias_size, const char *name, size_t len)
{
    if ((len > 0 && !scepd_alias_name_valid(name, len)) || len >= alias_size)
        return -1;
    memcpy(alias, name, len);
    alias[len] = '\0';
    return 0;
}

int scepd_route_alias(char *alias, size_t alias_size, const char *path)
{
    if (path == NULL || alias == NULL || alias_size == 0)
        return -1;
    for (size_t i = 0; i < sizeof(default_prefixes) / sizeof(default_prefixes[0]); i++)
        if (match_prefix(path, default_prefixes[i]) != NULL)
            return set_alias(alias, alias_size, "", 0);

    for (size_t i = 0; i < sizeof(alias_prefixes) / sizeof(alias_prefixes[0]); i++) {
        const char *rest = match_prefix(path, alias_prefixes[i]);
        if (rest == NULL)
            continue;
        while (*rest == '/')
            rest++;
        size_t len = strcspn(rest, "/");
        /* "/scep", "/scep/" and "/scep/pkiclient.exe" name the default alias. */
        if (len == 0 || (len == 13 && strncasecmp(rest, "pkiclient.exe", 13) == 0))
            return set_alias(alias, alias_size, "", 0);
        return set_alias(alias, alias_size, rest, len);
    }
    return -1;
}

int scepd_route_health(const char *path)
{
    return path != NULL && strcmp(path, "/healthz") == 0;
}
