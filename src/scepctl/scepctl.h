/*
 * scepctl, the administrator's command line: CAs, end entities, certificates,
 * aliases and the audit trail, over the same configuration file and store as
 * scepd. main.c only calls scepctl_main(); everything else lives in
 * scepctl_core so tests can reach it. Commands are dispatched through const
 * tables of groups and commands (scepctl.c); each group's commands live in
 * cmd_GROUP.c.
 */
#ifndef SCEPCTL_H
#define SCEPCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <openssl/x509.h>

#include "config/config.h"
#include "issuance/end_entity.h"
#include "scep/store.h"

/* Exit codes (docs/scepctl.md). */
enum scepctl_exit { SCEPCTL_EXIT_OK = 0, SCEPCTL_EXIT_ERROR = 1, SCEPCTL_EXIT_USAGE = 2 };

/* Used when --config is not given, but only when the file exists. */
#define SCEPCTL_DEFAULT_CONFIG "/etc/scepd/scepd.conf"

/* Most options one command takes, and most positional arguments. */
#define SCEPCTL_MAX_OPTIONS    12
#define SCEPCTL_MAX_POSITIONAL 64

/* Longest password read from stdin or accepted on the command line. */
#define SCEPCTL_PASSWORD_MAX SCEP_EE_PASSWORD_MAX
/* Characters in a generated password (about 113 bits from a 51-symbol alphabet). */
#define SCEPCTL_GENERATED_PASSWORD_LEN SCEP_EE_GENERATED_LEN

/* One run of scepctl: where output goes, and the config and store, opened on first use. */
struct scepctl {
    FILE *out;
    FILE *err;
    const char *config_path; /* from --config; NULL: the default */
    char *resolved_config;   /* the path actually used (symlinks resolved) */
    scep_config *config;
    scep_store *store;
    const char *group_name; /* for the --help hint of usage errors, once known */
    const char *command_name;
};

/* An option of one command; `arg` NULL means a flag without value. */
struct scepctl_option {
    const char *name; /* long name without "--" */
    const char *arg;  /* placeholder in the help text: "NAME", "FILE" */
    bool required;
    const char *help;
};

struct scepctl_args {
    const char *values[SCEPCTL_MAX_OPTIONS]; /* by option index; flags: "" when present */
    const char *positional[SCEPCTL_MAX_POSITIONAL];
    size_t positional_count;
    const struct scepctl_option *options; /* the command's table, for scepctl_arg() */
};

struct scepctl_command {
    const char *name;
    const char *synopsis; /* after "scepctl [--config FILE] GROUP " */
    const char *summary;  /* one line */
    const char *details;  /* further help paragraphs, or NULL */
    const struct scepctl_option *options;
    size_t option_count;
    size_t positional_min, positional_max;
    int (*run)(struct scepctl *ctx, const struct scepctl_args *args);
};

struct scepctl_group {
    const char *name;
    const char *summary;
    const struct scepctl_command *commands;
    size_t command_count;
    /* The group is a command itself: `scepctl GROUP [OPTIONS]` runs commands[0]. */
    bool direct;
};

extern const struct scepctl_group scepctl_group_ca;
extern const struct scepctl_group scepctl_group_ee;
extern const struct scepctl_group scepctl_group_cert;
extern const struct scepctl_group scepctl_group_alias;
extern const struct scepctl_group scepctl_group_audit;
extern const struct scepctl_group scepctl_group_challenge;
/* `ra` (cmd_ra.c): RA certificates for an alias. */
extern const struct scepctl_group scepctl_group_ra;
/* `ca rollover` (cmd_ca_rollover.c), listed in the ca group's table. */
#define SCEPCTL_CA_ROLLOVER_OPTIONS 7
extern const struct scepctl_option scepctl_ca_rollover_options[SCEPCTL_CA_ROLLOVER_OPTIONS];
int scepctl_ca_rollover(struct scepctl *ctx, const struct scepctl_args *args);
extern const struct scepctl_group scepctl_group_crl;
/*
 * The certificate with `serial` under `ca_name`, or, without a CA name, under
 * whichever CA has it (a usage error when several do). Shared by cert show and
 * cert revoke (cmd_cert.c).
 */
int scepctl_find_cert(struct scepctl *ctx, scep_store_cert **out, const char *ca_name,
                      const char *serial);
/* `cert revoke` (cmd_crl.c, beside the CRL it regenerates), listed in cmd_cert.c's table. */
#define SCEPCTL_CERT_REVOKE_OPTION_COUNT 3
extern const struct scepctl_option scepctl_cert_revoke_options[SCEPCTL_CERT_REVOKE_OPTION_COUNT];
extern const char scepctl_cert_revoke_details[];
int scepctl_cert_revoke(struct scepctl *ctx, const struct scepctl_args *args);
extern const struct scepctl_group scepctl_group_request;
/* `db` (cmd_db.c): backups of the store. */
extern const struct scepctl_group scepctl_group_db;
/* `purge` (cmd_purge.c): old requests and expired challenges. */
extern const struct scepctl_group scepctl_group_purge;

/* ---- scepctl.c ---- */
/* The whole program; returns the exit code. Output goes to `out` and `err`. */
int scepctl_main(int argc, char **argv, FILE *out, FILE *err);

/* The value of option `name` (NULL when not given; "" for a present flag). */
const char *scepctl_arg(const struct scepctl_args *args, const char *name);

/* ---- util.c ---- */
/* Prints "scepctl: MESSAGE" to ctx->err; returns SCEPCTL_EXIT_ERROR. */
int scepctl_error(struct scepctl *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As scepctl_error, followed by ": " and scep_error_message() when there is one. */
int scepctl_fail(struct scepctl *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "scepctl: MESSAGE" and a hint to use --help; returns SCEPCTL_EXIT_USAGE. */
int scepctl_usage(struct scepctl *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void scepctl_warn(struct scepctl *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads the configuration file (once); 0 or an exit code, the error printed. */
int scepctl_load_config(struct scepctl *ctx);
/* Opens the store named by the configuration's `database` (once). */
int scepctl_open_store(struct scepctl *ctx);
/* The audit trail's name for whoever runs scepctl: "scepctl:USER". */
void scepctl_actor(char *out, size_t size);
/* Records an administrative action in the store's audit trail (never secrets). */
void scepctl_audit(struct scepctl *ctx, const char *action, const char *alias, const char *detail);

/*
 * Rewrites the configuration file from ctx->config atomically: a temporary file
 * in the same directory with the original's mode and owner, fsync, rename, fsync
 * of the directory. Secrets are written in clear (the file is 0600/0640).
 */
int scepctl_save_config(struct scepctl *ctx);
/* Tells the user how to make a running scepd re-read the file. */
void scepctl_reload_hint(struct scepctl *ctx);

/*
 * The password of `ee add`/`ee reset`: --password P, --password - (one line from
 * stdin, without echo on a terminal), or --generate-password (printed once).
 * `out` holds SCEPCTL_PASSWORD_MAX + 1 bytes; the caller wipes it.
 */
int scepctl_password(struct scepctl *ctx, char *out, const struct scepctl_args *args);
/* A random password of SCEPCTL_GENERATED_PASSWORD_LEN characters from the CSPRNG. */
int scepctl_generate_password(char out[SCEPCTL_GENERATED_PASSWORD_LEN + 1]);

/*
 * TIME: "now", "@UNIX", "+DURATION" (as in the config file: 90s, 10m, 2h, 30d) or
 * "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ", "YYYY-MM-DD HH:MM:SSZ" (UTC); 0 or -1.
 * (cmd_ca_rollover.c)
 */
int scepctl_parse_time(long long *out, const char *text, time_t now);

/* "2026-11-17 09:12:44Z" from unix time or an ASN1_TIME. */
void scepctl_format_time(char out[32], long long unix_time);
void scepctl_format_asn1_time(char out[32], const ASN1_TIME *time);

/*
 * Prints a subjectAltName extension as a "SANs:" line in scep_san_format's syntax, so
 * names from a client's CSR reach the terminal with control characters escaped.
 */
void scepctl_print_sans(struct scepctl *ctx, X509_EXTENSION *ext);
/* Prints subject, issuer, serial, validity, key, SANs and SHA-256/SHA-1 fingerprints. */
int scepctl_print_cert_summary(struct scepctl *ctx, X509 *cert);
/* Prints the certificate as PEM to ctx->out. */
int scepctl_print_pem(struct scepctl *ctx, X509 *cert);
/* Decodes a PEM certificate held in the store. */
int scepctl_cert_from_pem(X509 **out, const char *pem);

/* CA names are file names under STATE_DIR/cas: [A-Za-z0-9_.-], 1..64, not starting with '.'. */
bool scepctl_ca_name_valid(const char *name);

#endif /* SCEPCTL_H */
