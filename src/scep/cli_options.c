/*
 * Options of the `scep` client: one table gives each option's long name,
 * sscep-style letter, kind and help; argv and the config file (`key = value`,
 * same names as the long options; the command line wins) both go through it.
 */
#include "scep/cli.h"

#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum kind { OPT_STRING, OPT_FLAG };

struct option_def {
    const char *name;
    int letter; /* 0: long only */
    enum kind kind;
    size_t offset;
    const char *arg;
    const char *help;
};

#define STR(field, letter, arg, help)                                                              \
    {                                                                                              \
#field, letter, OPT_STRING, offsetof(struct scep_cli_config, field), arg, help             \
    }
#define FLAG(field, letter, help)                                                                  \
    {                                                                                              \
#field, letter, OPT_FLAG, offsetof(struct scep_cli_config, field), NULL, help              \
    }

static const struct option_def defs[] = {
    STR(url, 'u', "URL", "SCEP server URL"),
    STR(ca_cert, 'c', "FILE", "CA certificate (getca/getnextca: output file)"),
    STR(key, 'k', "FILE", "private key (generated, mode 0600, when missing and --subject is set)"),
    STR(csr, 'r', "FILE", "certificate request (written when generated)"),
    STR(local_cert, 'l', "FILE",
        "enroll/poll/renew: output certificate; getcrl/getcert: "
        "the local certificate to sign with"),
    STR(ca_identifier, 'i', "NAME", "CA identifier (message= of GetCACert/GetCACaps)"),
    STR(fingerprint_alg, 'F', "ALG", "fingerprint algorithm: md5, sha1, sha256 (default), sha512"),
    STR(fingerprint, 0, "HEX", "expected CA certificate fingerprint"),
    STR(cipher, 'E', "ALG", "content cipher: aes256, aes192, aes128, des3 (des with --legacy)"),
    STR(digest, 'S', "ALG", "digest: sha512, sha384, sha256, sha1 (md5 with --legacy)"),
    STR(poll_interval, 't', "SECONDS", "polling interval while PENDING (default 300)"),
    STR(max_polls, 'n', "COUNT", "maximum number of polls (default 256)"),
    STR(max_wait, 'T', "SECONDS", "maximum time to wait while PENDING (default 28800)"),
    STR(challenge, 0, "PASSWORD", "challenge password put in a generated CSR (never printed)"),
    STR(subject, 0, "DN",
        "generate key and CSR with this subject: DN in RFC 4514 order, most specific first: "
        "\"CN=dev1,O=Example,C=DE\" (or OpenSSL's \"/C=DE/O=Example/CN=dev1\")"),
    STR(san, 0, "LIST", "subjectAltName: dns:NAME,ip:ADDR,email:ADDR,uri:URI,upn:NAME"),
    STR(eku, 0, "LIST", "extendedKeyUsage, e.g. clientAuth,serverAuth"),
    STR(key_type, 0, "TYPE", "rsa:2048 (default), rsa:3072, rsa:4096, ec:P-256, ec:P-384"),
    STR(state, 0, "FILE", "pending-enrollment state file (default OUT.pending)"),
    STR(old_cert, 'O', "FILE", "renew: the existing certificate"),
    STR(old_key, 'K', "FILE", "renew: the existing certificate's key"),
    STR(renewal_type, 0, "TYPE", "renew: renewalreq or pkcsreq (default: from caps)"),
    STR(serial, 's', "HEX", "getcert: serial number"),
    STR(write, 'w', "FILE", "getcert/getcrl: output file (default stdout)"),
    STR(pkcs12, 0, "FILE", "also write key and certificate as PKCS#12"),
    STR(pkcs12_password, 0, "PASSWORD", "PKCS#12 password (default empty)"),
    STR(caps, 0, "LIST", "use these capabilities instead of GetCACaps (comma separated)"),
    STR(proxy, 0, "URL", "HTTP proxy (default: the environment; \"\" for none)"),
    STR(timeout, 0, "SECONDS", "timeout of each HTTP exchange (default 60)"),
    STR(tls_ca, 0, "FILE", "HTTPS: CA bundle to verify the server"),
    STR(tls_cert, 0, "FILE", "HTTPS: client certificate"),
    STR(tls_key, 0, "FILE", "HTTPS: client certificate key"),
    STR(config, 'f', "FILE", "configuration file of key = value lines"),
    FLAG(verbose, 'v', "print operation, transactionID, algorithms and status"),
    FLAG(debug, 'd', "also dump the messages"),
    FLAG(der, 0, "write certificates and CRLs in DER instead of PEM"),
    FLAG(legacy, 0, "allow MD5 and single DES (needed for micromdm scepserver replies)"),
    FLAG(force_get, 0, "send PKIOperation by GET even when POST is advertised"),
    FLAG(follow_redirects, 0, "follow HTTP redirects (at most 5)"),
    FLAG(help, 'h', "this help"),
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static void set_value(struct scep_cli_config *config, const struct option_def *d, const char *v)
{
    char *base = (char *)config;
    if (d->kind == OPT_STRING)
        *(const char **)(base + d->offset) = v;
    else
        *(int *)(base + d->offset) =
            v == NULL || strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0;
}

static int is_set(const struct scep_cli_config *config, const struct option_def *d)
{
    const char *base = (const char *)config;
    if (d->kind == OPT_STRING)
        return *(const char *const *)(base + d->offset) != NULL;
    return *(const int *)(base + d->offset) != 0;
}

/* Long names accept '-' for '_' (--ca-cert, --ca_cert). */
static const struct option_def *find(const char *name)
{
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof(norm))
        return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < NDEFS; i++)
        if (strcmp(defs[i].name, norm) == 0)
            return &defs[i];
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int read_config(struct scep_cli_config *config, const char *path, char **storage)
{
    size_t len = 0;
    if (scep_cli_read_text(storage, &len, path, 1024 * 1024) != 0) {
        fprintf(stderr, "scep: cannot read config file %s\n", path);
        return SCEP_EXIT_USAGE;
    }
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(*storage, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line = trim(line);
        if (*line == '\0' || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            fprintf(stderr, "scep: %s:%d: expected key = value\n", path, lineno);
            return SCEP_EXIT_USAGE;
        }
        *eq = '\0';
        char *key = trim(line);
        char *value = trim(eq + 1);
        const struct option_def *d = find(key);
        if (d == NULL || strcmp(d->name, "config") == 0) {
            fprintf(stderr, "scep: %s:%d: unknown setting \"%s\"\n", path, lineno, key);
            return SCEP_EXIT_USAGE;
        }
        if (!is_set(config, d)) /* flags on the command line win */
            set_value(config, d, value);
    }
    return 0;
}

int scep_cli_parse(struct scep_cli_config *config, int argc, char **argv, char **storage)
{
    struct option longopts[NDEFS * 2 + 1];
    char shortopts[NDEFS * 2 + 2];
    size_t s = 0, l = 0;
    shortopts[s++] = ':';
    for (size_t i = 0; i < NDEFS; i++) {
        int has_arg = defs[i].kind == OPT_STRING ? required_argument : no_argument;
        longopts[l++] = (struct option){defs[i].name, has_arg, NULL, 1000 + (int)i};
        if (strchr(defs[i].name, '_') != NULL) {
            /* The dashed spelling too; getopt_long needs a stable string. */
            static char dashed[NDEFS][40];
            snprintf(dashed[i], sizeof(dashed[i]), "%s", defs[i].name);
            for (char *p = dashed[i]; *p; p++)
                if (*p == '_')
                    *p = '-';
            longopts[l++] = (struct option){dashed[i], has_arg, NULL, 1000 + (int)i};
        }
        if (defs[i].letter) {
            shortopts[s++] = (char)defs[i].letter;
            if (has_arg == required_argument)
                shortopts[s++] = ':';
        }
    }
    shortopts[s] = '\0';
    longopts[l] = (struct option){0};

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const struct option_def *d = NULL;
        if (c >= 1000 && c < 1000 + (int)NDEFS) {
            d = &defs[c - 1000];
        } else if (c == '?' || c == ':') {
            fprintf(stderr, "scep: %s option %s\n", c == ':' ? "missing argument for" : "unknown",
                    argv[optind - 1]);
            return SCEP_EXIT_USAGE;
        } else {
            for (size_t i = 0; i < NDEFS; i++)
                if (defs[i].letter == c)
                    d = &defs[i];
        }
        if (d == NULL)
            return SCEP_EXIT_USAGE;
        set_value(config, d, d->kind == OPT_STRING ? optarg : NULL);
    }
    if (optind < argc) {
        fprintf(stderr, "scep: unexpected argument \"%s\"\n", argv[optind]);
        return SCEP_EXIT_USAGE;
    }
    if (config->config != NULL)
        return read_config(config, config->config, storage);
    return 0;
}

void scep_cli_print_options(FILE *out, const char *const *names)
{
    for (const char *const *n = names; *n != NULL; n++) {
        const struct option_def *d = find(*n);
        if (d == NULL)
            continue;
        char head[64];
        char dashed[40];
        snprintf(dashed, sizeof(dashed), "%s", d->name);
        for (char *p = dashed; *p; p++)
            if (*p == '_')
                *p = '-';
        if (d->letter)
            snprintf(head, sizeof(head), "-%c, --%s%s%s", d->letter, dashed, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        else
            snprintf(head, sizeof(head), "    --%s%s%s", dashed, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        fprintf(out, "  %-32s %s\n", head, d->help);
    }
}
