/*
 * The `scep` command-line client: options, file helpers and subcommands.
 * main.c only calls scep_cli_main(); everything else lives in scep_core so
 * unit tests can reach it.
 */
#ifndef SCEP_CLI_H
#define SCEP_CLI_H

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Exit codes (docs/client.md). 0-3 and 70-95 follow sscep. */
enum scep_cli_exit {
    SCEP_EXIT_OK = 0,
    SCEP_EXIT_ERROR = 1,
    SCEP_EXIT_PENDING = 3,
    SCEP_EXIT_USAGE = 64,
    SCEP_EXIT_BAD_ALG = 70,
    SCEP_EXIT_BAD_MESSAGE_CHECK = 71,
    SCEP_EXIT_BAD_REQUEST = 72,
    SCEP_EXIT_BAD_TIME = 73,
    SCEP_EXIT_BAD_CERT_ID = 74,
    SCEP_EXIT_VERIFY = 80,
    SCEP_EXIT_TIMEOUT = 89,
    SCEP_EXIT_NETWORK = 95
};

/* Every option; strings point into argv or the config file's storage. */
struct scep_cli_config {
    const char *url;
    const char *ca_cert;
    const char *key;
    const char *csr;
    const char *local_cert;
    const char *ca_identifier;
    const char *fingerprint_alg;
    const char *fingerprint;
    const char *cipher;
    const char *digest;
    const char *poll_interval;
    const char *max_polls;
    const char *max_wait;
    const char *challenge;
    const char *subject;
    const char *san;
    const char *eku;
    const char *key_type;
    const char *state;
    const char *old_cert;
    const char *old_key;
    const char *renewal_type;
    const char *serial;
    const char *write;
    const char *pkcs12;
    const char *pkcs12_password;
    const char *caps;
    const char *proxy;
    const char *timeout;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
    const char *config;
    int verbose;
    int debug;
    int der;
    int legacy;
    int force_get;
    int follow_redirects;
    int help;
};

int scep_cli_main(int argc, char **argv);

/* ---- cli_options.c ---- */
/* Parses argv (after the subcommand) and the optional config file; 0 or SCEP_EXIT_USAGE. */
int scep_cli_parse(struct scep_cli_config *config, int argc, char **argv, char **storage);
void scep_cli_print_options(FILE *out, const char *const *names);

/* ---- cli_io.c ---- */
int scep_cli_load_cert(X509 **out, const char *path);
int scep_cli_load_certs(STACK_OF(X509) * *out, const char *path);
int scep_cli_load_key(EVP_PKEY **out, const char *path);
int scep_cli_load_csr(X509_REQ **out, const char *path);
int scep_cli_write_cert(const char *path, X509 *cert, int der);
int scep_cli_write_key(const char *path, EVP_PKEY *key);
int scep_cli_write_csr(const char *path, X509_REQ *csr);
int scep_cli_write_crl(const char *path, X509_CRL *crl, int der);
int scep_cli_write_pkcs12(const char *path, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                          const char *password);
int scep_cli_write_text(const char *path, const char *text, int mode);
int scep_cli_read_text(char **out, size_t *out_len, const char *path, size_t max);
/* "rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384". */
int scep_cli_generate_key(EVP_PKEY **out, const char *key_type);
/*
 * CSR for `subject` (either form of scep_dn_parse: "CN=a,O=b" or "/O=b/CN=a", the same
 * name), `san` in scep_san_parse's syntax ("dns:..,ip:..,email:..,uri:..,upn:.."; may be
 * NULL) and an EKU list (OpenSSL names; may be NULL). Prints why on stderr and returns -1.
 */
int scep_cli_make_csr(X509_REQ **out, EVP_PKEY *key, const char *subject, const char *san,
                      const char *eku, const char *challenge);

#endif /* SCEP_CLI_H */
