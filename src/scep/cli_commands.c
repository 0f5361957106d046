/*
 * Subcommands of the `scep` client, dispatched by table. Each builds a
 * scep_client from the options, runs one library operation and turns the
 * outcome into files, lines on stdout and an sscep-compatible exit code.
 */
#include "scep/ca.h"
#include "scep/cli.h"
#include "scep/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct command {
    const char *name;
    int (*run)(struct scep_cli_config *config);
    const char *usage;
    const char *const *options;
};

static void log_line(scep_log_level level, const char *line, void *payload)
{
    (void)payload;
    fprintf(stderr, "scep: %s%s\n", level == SCEP_LOG_DEBUG ? "debug: " : "", line);
}

/* A log callback that drops DEBUG lines unless -d. */
static void quiet_debug(scep_log_level level, const char *line, void *payload)
{
    if (level == SCEP_LOG_DEBUG)
        return;
    log_line(level, line, payload);
}

static int exit_for_error(int rc)
{
    switch (rc) {
    case SCEP_ENETWORK:
    case SCEP_EHTTP:
        return SCEP_EXIT_NETWORK;
    case SCEP_ETIMEOUT:
        return SCEP_EXIT_TIMEOUT;
    case SCEP_EVERIFY:
    case SCEP_EBADSIG:
    case SCEP_ENOSIGNER:
    case SCEP_ENONCE:
    case SCEP_ETRANSACTION:
        return SCEP_EXIT_VERIFY;
    default:
        return SCEP_EXIT_ERROR;
    }
}

static int fail(int rc)
{
    fprintf(stderr, "scep: error: %s (%s)\n",
            scep_error_message()[0] ? scep_error_message() : scep_error_text(rc),
            scep_error_name(rc));
    return exit_for_error(rc);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "scep: %s (see --help)\n", msg);
    return SCEP_EXIT_USAGE;
}

static int parse_long(long *out, const char *text, long def, long min, long max, const char *what)
{
    if (text == NULL) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "scep: %s must be a number from %ld to %ld\n", what, min, max);
        return SCEP_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* Builds the client; `need_ca` selects the CA verifier from -c or --fingerprint. */
static int make_client(scep_client **out, const struct scep_cli_config *c, int need_ca,
                       int ca_is_output)
{
    scep_client_options o = {0};
    X509 *ca = NULL;
    int rc = 0;
    long timeout = 0;
    char caps[512];

    if (c->url == NULL)
        return usage_error("-u URL is required");
    o.url = c->url;
    if (c->fingerprint_alg != NULL &&
        scep_fingerprint_alg_from_name(&o.fingerprint_alg, c->fingerprint_alg) < 0)
        return usage_error(scep_error_message());
    if (c->digest != NULL && scep_digest_from_name(&o.digest, c->digest) < 0)
        return usage_error(scep_error_message());
    if (c->cipher != NULL && scep_cipher_from_name(&o.cipher, c->cipher) < 0)
        return usage_error(scep_error_message());
    if ((rc = parse_long(&timeout, c->timeout, 60, 1, 3600, "--timeout")) != 0)
        return rc;
    o.timeout_seconds = timeout;
    if (c->caps != NULL) {
        snprintf(caps, sizeof(caps), "%s", c->caps);
        for (char *p = caps; *p; p++)
            if (*p == ',')
                *p = '\n';
        o.caps = caps;
    }
    if (c->renewal_type != NULL) {
        if (strcasecmp(c->renewal_type, "renewalreq") == 0)
            o.renewal = SCEP_RENEWAL_RENEWALREQ;
        else if (strcasecmp(c->renewal_type, "pkcsreq") == 0)
            o.renewal = SCEP_RENEWAL_PKCSREQ;
        else
            return usage_error("--renewal-type is renewalreq or pkcsreq");
    }
    o.legacy = c->legacy;
    o.force_get = c->force_get;
    o.follow_redirects = c->follow_redirects;
    o.proxy = c->proxy;
    o.tls_ca_file = c->tls_ca;
    o.tls_client_cert = c->tls_cert;
    o.tls_client_key = c->tls_key;
    o.cache_ca = 1;
    if (c->debug)
        o.log = log_line;
    else if (c->verbose)
        o.log = quiet_debug;
    if (c->fingerprint != NULL) {
        o.ca_fingerprint = c->fingerprint;
    } else if (!need_ca || ca_is_output) {
        o.insecure_accept_any_ca = 1;
    } else {
        if (c->ca_cert == NULL)
            return usage_error("-c CA certificate or --fingerprint is required");
        if (scep_cli_load_cert(&ca, c->ca_cert) != 0)
            return SCEP_EXIT_ERROR;
        o.ca_cert = ca;
    }
    rc = scep_client_new(out, &o);
    X509_free(ca);
    if (rc < 0)
        return rc == SCEP_EINVAL ? usage_error(scep_error_message()) : fail(rc);
    return 0;
}

static int client_for(scep_client **out, const struct scep_cli_config *c, int need_ca,
                      int ca_is_output)
{
    return make_client(out, c, need_ca, ca_is_output);
}

/* ---- getcaps ---- */

static int cmd_getcaps(struct scep_cli_config *c)
{
    scep_client *client = NULL;
    int rc = client_for(&client, c, 0, 0);
    if (rc != 0)
        return rc;
    scep_caps caps = 0;
    char *text = NULL;
    size_t len = 0;
    rc = scep_client_get_caps(client, &caps, c->ca_identifier);
    if (rc == 0)
        rc = scep_caps_format(&text, &len, caps);
    if (rc < 0) {
        rc = fail(rc);
    } else {
        fputs(text, stdout);
        rc = SCEP_EXIT_OK;
    }
    OPENSSL_free(text);
    scep_client_free(client);
    return rc;
}

/* ---- getca / getnextca ---- */

/* The subject as every tool here writes a DN (RFC 4514, most specific first). */
static char *subject_text(X509 *cert)
{
    char *text = NULL;
    if (scep_dn_format(&text, X509_get_subject_name(cert)) < 0)
        return NULL;
    return text;
}

static int print_cert(const char *path, X509 *cert, const char *role, scep_fingerprint_alg alg)
{
    char *fp = NULL;
    if (scep_cert_fingerprint(&fp, cert, alg) < 0)
        return -1;
    char *subject = subject_text(cert);
    static const char *names[] = {"", "MD5", "SHA1", "SHA256", "SHA512"};
    printf("%s: %s\n  subject: %s\n  %s fingerprint: %s\n", path, role, subject ? subject : "?",
           names[alg <= SCEP_FINGERPRINT_SHA512 ? alg : 0], fp);
    OPENSSL_free(subject);
    OPENSSL_free(fp);
    return 0;
}

static int write_cert_set(const char *base, STACK_OF(X509) * certs, X509 *first,
                          const struct scep_cli_config *c, const scep_ca_certs *roles)
{
    scep_fingerprint_alg alg = SCEP_FINGERPRINT_SHA256;
    if (c->fingerprint_alg != NULL && scep_fingerprint_alg_from_name(&alg, c->fingerprint_alg) < 0)
        return usage_error(scep_error_message());
    int index = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < sk_X509_num(certs); i++) {
            X509 *cert = sk_X509_value(certs, i);
            if ((pass == 0) != (cert == first))
                continue;
            char path[4096];
            if (index == 0)
                snprintf(path, sizeof(path), "%s", base);
            else
                snprintf(path, sizeof(path), "%s-%d", base, index);
            index++;
            if (scep_cli_write_cert(path, cert, c->der) != 0)
                return SCEP_EXIT_ERROR;
            const char *role = "certificate";
            if (roles != NULL) {
                int enc = cert == scep_ca_certs_encryption(roles);
                int sig = cert == scep_ca_certs_signer(roles);
                role = cert == scep_ca_certs_ca(roles)
                           ? (enc ? "CA (encrypts and signs, no RA)" : "CA")
                       : enc && sig ? "RA (encryption and signature)"
                       : enc        ? "RA encryption"
                       : sig        ? "RA signature"
                                    : "other";
            }
            if (print_cert(path, cert, role, alg) != 0)
                return fail(scep_error_code());
        }
    }
    return SCEP_EXIT_OK;
}

static int cmd_getca(struct scep_cli_config *c)
{
    if (c->ca_cert == NULL)
        return usage_error("-c OUT is required");
    scep_client *client = NULL;
    int rc = client_for(&client, c, 1, 1);
    if (rc != 0)
        return rc;
    scep_ca_certs *certs = NULL;
    rc = scep_client_get_ca(client, &certs, c->ca_identifier);
    if (rc < 0)
        rc = fail(rc);
    else
        rc =
            write_cert_set(c->ca_cert, scep_ca_certs_all(certs), scep_ca_certs_ca(certs), c, certs);
    scep_ca_certs_free(certs);
    scep_client_free(client);
    return rc;
}

static int cmd_getnextca(struct scep_cli_config *c)
{
    if (c->ca_cert == NULL || c->fingerprint == NULL)
        return usage_error("-c OUT and --fingerprint of the current CA are required");
    scep_client *client = NULL;
    int rc = client_for(&client, c, 1, 0);
    if (rc != 0)
        return rc;
    STACK_OF(X509) *next = NULL;
    rc = scep_client_get_next_ca(client, &next, c->ca_identifier);
    if (rc < 0)
        rc = fail(rc);
    else
        rc = write_cert_set(c->ca_cert, next, sk_X509_value(next, 0), c, NULL);
    sk_X509_pop_free(next, X509_free);
    scep_client_free(client);
    return rc;
}

/* ---- enroll / renew / poll ---- */

static int exit_for_result(const scep_result *res)
{
    const char *text = scep_result_fail_info_text(res);
    scep_fail_info fi = scep_result_fail_info(res);
    fprintf(stderr, "scep: %s (%s) FAILURE, failInfo: %s (%d)%s%s\n",
            scep_message_type_name(scep_result_message_type(res)), scep_result_transaction_id(res),
            scep_fail_info_name(fi), (int)fi, text ? ": " : "", text ? text : "");
    return SCEP_EXIT_BAD_ALG + (int)fi;
}

static int save_issued(const struct scep_cli_config *c, const scep_result *res, EVP_PKEY *key)
{
    X509 *cert = scep_result_cert(res);
    if (scep_cli_write_cert(c->local_cert, cert, c->der) != 0)
        return SCEP_EXIT_ERROR;
    if (c->pkcs12 != NULL &&
        scep_cli_write_pkcs12(c->pkcs12, key, cert, NULL, c->pkcs12_password) != 0)
        return SCEP_EXIT_ERROR;
    char *subject = subject_text(cert);
    printf("issued: %s\n  subject: %s\n  transactionID: %s\n", c->local_cert,
           subject ? subject : "?", scep_result_transaction_id(res));
    OPENSSL_free(subject);
    return SCEP_EXIT_OK;
}

static const char *state_path(const struct scep_cli_config *c, char *buf, size_t cap)
{
    if (c->state != NULL)
        return c->state;
    snprintf(buf, cap, "%s.pending", c->local_cert);
    return buf;
}

/* Polls while PENDING, bounded by -n polls and -T seconds, every -t seconds. */
static int wait_pending(scep_client *client, scep_result **res, EVP_PKEY *key,
                        const struct scep_cli_config *c)
{
    long interval = 0, max_polls = 0, max_wait = 0;
    int rc;
    char buf[4096];
    if ((rc = parse_long(&interval, c->poll_interval, 300, 0, 86400, "-t")) != 0 ||
        (rc = parse_long(&max_polls, c->max_polls, 256, 0, 100000, "-n")) != 0 ||
        (rc = parse_long(&max_wait, c->max_wait, 28800, 0, 30L * 86400, "-T")) != 0)
        return rc;
    time_t start = time(NULL);
    for (long polls = 0; scep_result_status(*res) == SCEP_STATUS_PENDING; polls++) {
        const scep_pending *pending = scep_result_pending(*res);
        char *text = NULL;
        const char *path = state_path(c, buf, sizeof(buf));
        if (scep_pending_save(&text, pending) < 0)
            return fail(scep_error_code());
        rc = scep_cli_write_text(path, text, 0644);
        OPENSSL_free(text);
        if (rc != 0)
            return SCEP_EXIT_ERROR;
        if (polls >= max_polls || time(NULL) - start + interval > max_wait) {
            fprintf(stderr,
                    "scep: still PENDING (transactionID %s) after %ld poll(s); resume with "
                    "`scep poll --state %s`\n",
                    scep_pending_transaction_id(pending), polls, path);
            return SCEP_EXIT_PENDING;
        }
        if (c->verbose)
            fprintf(stderr, "scep: PENDING, polling again in %ld s (%ld/%ld)\n", interval,
                    polls + 1, max_polls);
        if (interval > 0)
            sleep((unsigned)interval);
        scep_result *next = NULL;
        rc = scep_client_poll(client, &next, pending, key);
        if (rc < 0)
            return fail(rc);
        scep_result_free(*res);
        *res = next;
    }
    if (scep_result_status(*res) == SCEP_STATUS_SUCCESS && c->state == NULL) {
        (void)unlink(state_path(c, buf, sizeof(buf)));
    } else if (scep_result_status(*res) == SCEP_STATUS_SUCCESS) {
        (void)unlink(c->state);
    }
    return 0;
}

static int finish_result(scep_client *client, scep_result **res, EVP_PKEY *key,
                         const struct scep_cli_config *c)
{
    int rc = wait_pending(client, res, key, c);
    if (rc != 0)
        return rc;
    if (scep_result_status(*res) == SCEP_STATUS_FAILURE)
        return exit_for_result(*res);
    return save_issued(c, *res, key);
}

/* Loads -k KEY and -r CSR, or generates them from --subject. */
static int key_and_csr(EVP_PKEY **key, X509_REQ **csr, const struct scep_cli_config *c)
{
    if (c->key == NULL)
        return usage_error("-k KEY is required");
    if (c->subject != NULL) {
        if (access(c->key, F_OK) == 0) {
            if (scep_cli_load_key(key, c->key) != 0)
                return SCEP_EXIT_ERROR;
        } else {
            if (scep_cli_generate_key(key, c->key_type) != 0)
                return SCEP_EXIT_ERROR;
            if (scep_cli_write_key(c->key, *key) != 0)
                return SCEP_EXIT_ERROR;
        }
        if (scep_cli_make_csr(csr, *key, c->subject, c->san, c->eku, c->challenge) != 0)
            return SCEP_EXIT_ERROR;
        if (c->csr != NULL && scep_cli_write_csr(c->csr, *csr) != 0)
            return SCEP_EXIT_ERROR;
        return 0;
    }
    if (c->csr == NULL)
        return usage_error("-r CSR or --subject DN is required");
    if (c->challenge != NULL)
        fprintf(stderr, "scep: warning: --challenge is ignored with an existing CSR (-r); "
                        "the CSR must already carry it\n");
    if (scep_cli_load_key(key, c->key) != 0 || scep_cli_load_csr(csr, c->csr) != 0)
        return SCEP_EXIT_ERROR;
    return 0;
}

static int enroll_common(struct scep_cli_config *c, int renew)
{
    scep_client *client = NULL;
    EVP_PKEY *key = NULL, *old_key = NULL;
    X509_REQ *csr = NULL;
    X509 *old_cert = NULL;
    scep_result *res = NULL;
    int rc;

    if (c->local_cert == NULL)
        return usage_error("-l OUT (the certificate to write) is required");
    if (renew && (c->old_cert == NULL || c->old_key == NULL))
        return usage_error("renew needs -O OLD_CERT and -K OLD_KEY");
    if ((rc = key_and_csr(&key, &csr, c)) != 0)
        goto cleanup;
    if (renew && (scep_cli_load_cert(&old_cert, c->old_cert) != 0 ||
                  scep_cli_load_key(&old_key, c->old_key))) {
        rc = SCEP_EXIT_ERROR;
        goto cleanup;
    }
    if ((rc = client_for(&client, c, 1, 0)) != 0)
        goto cleanup;
    scep_enroll_request req = {.csr = csr,
                               .key = key,
                               .existing_cert = old_cert,
                               .existing_key = old_key,
                               .ca_identifier = c->ca_identifier};
    rc = scep_client_enroll(client, &res, &req);
    if (rc < 0) {
        rc = fail(rc);
        goto cleanup;
    }
    /* The reply to a renewal is encrypted to the old certificate; polls are signed the same way. */
    rc = finish_result(client, &res, renew ? old_key : key, c);

cleanup:
    scep_result_free(res);
    scep_client_free(client);
    X509_free(old_cert);
    EVP_PKEY_free(old_key);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    return rc;
}

static int cmd_enroll(struct scep_cli_config *c)
{
    return enroll_common(c, 0);
}

static int cmd_renew(struct scep_cli_config *c)
{
    return enroll_common(c, 1);
}

static int cmd_poll(struct scep_cli_config *c)
{
    scep_client *client = NULL;
    EVP_PKEY *key = NULL;
    scep_pending *pending = NULL;
    scep_result *res = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (c->local_cert == NULL || c->key == NULL)
        return usage_error("poll needs -k KEY (the key that signed the request) and -l OUT");
    char buf[4096];
    const char *path = state_path(c, buf, sizeof(buf));
    if (scep_cli_read_text(&text, &len, path, 64 * 1024) != 0) {
        fprintf(stderr, "scep: cannot read pending state %s\n", path);
        return SCEP_EXIT_ERROR;
    }
    if (scep_pending_load(&pending, text, len) < 0) {
        rc = fail(scep_error_code());
        goto cleanup;
    }
    if (scep_cli_load_key(&key, c->key) != 0) {
        rc = SCEP_EXIT_ERROR;
        goto cleanup;
    }
    if ((rc = client_for(&client, c, 1, 0)) != 0)
        goto cleanup;
    rc = scep_client_poll(client, &res, pending, key);
    if (rc < 0) {
        rc = fail(rc);
        goto cleanup;
    }
    rc = finish_result(client, &res, key, c);

cleanup:
    free(text);
    scep_pending_free(pending);
    scep_result_free(res);
    scep_client_free(client);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- getcert / getcrl ---- */

static int signed_lookup(struct scep_cli_config *c, int crl)
{
    scep_client *client = NULL;
    EVP_PKEY *key = NULL;
    X509 *local = NULL;
    scep_result *res = NULL;
    ASN1_INTEGER *serial = NULL;
    BIGNUM *bn = NULL;
    int rc;

    if (c->local_cert == NULL || c->key == NULL)
        return usage_error("-l LOCAL_CERT and -k KEY (to sign the request) are required");
    if (!crl) {
        if (c->serial == NULL || BN_hex2bn(&bn, c->serial) == 0 ||
            (size_t)BN_hex2bn(&bn, c->serial) != strlen(c->serial))
            return usage_error("--serial HEX is required");
        serial = BN_to_ASN1_INTEGER(bn, NULL);
        BN_free(bn);
    }
    if (scep_cli_load_cert(&local, c->local_cert) != 0 || scep_cli_load_key(&key, c->key) != 0) {
        rc = SCEP_EXIT_ERROR;
        goto cleanup;
    }
    if ((rc = client_for(&client, c, 1, 0)) != 0)
        goto cleanup;
    rc = crl ? scep_client_get_crl(client, &res, local, key, c->ca_identifier)
             : scep_client_get_cert(client, &res, serial, local, key, c->ca_identifier);
    if (rc < 0) {
        rc = fail(rc);
        goto cleanup;
    }
    if (scep_result_status(res) != SCEP_STATUS_SUCCESS) {
        rc = scep_result_status(res) == SCEP_STATUS_FAILURE ? exit_for_result(res)
                                                            : SCEP_EXIT_PENDING;
        goto cleanup;
    }
    const char *out = c->write ? c->write : "-";
    rc = crl ? scep_cli_write_crl(out, scep_result_crl(res), c->der)
             : scep_cli_write_cert(out, scep_result_cert(res), c->der);
    rc = rc == 0 ? SCEP_EXIT_OK : SCEP_EXIT_ERROR;

cleanup:
    ASN1_INTEGER_free(serial);
    scep_result_free(res);
    scep_client_free(client);
    X509_free(local);
    EVP_PKEY_free(key);
    return rc;
}

static int cmd_getcert(struct scep_cli_config *c)
{
    return signed_lookup(c, 0);
}

static int cmd_getcrl(struct scep_cli_config *c)
{
    return signed_lookup(c, 1);
}

/* ---- table and main ---- */

#define COMMON                                                                                     \
    "url", "ca_identifier", "verbose", "debug", "config", "proxy", "timeout", "tls_ca",            \
        "tls_cert", "tls_key", "follow_redirects", "help"
#define ALGS "digest", "cipher", "legacy", "caps", "force_get"
#define POLL "poll_interval", "max_polls", "max_wait", "state"

static const char *const getcaps_opts[] = {COMMON, NULL};
static const char *const getca_opts[] = {"ca_cert", "fingerprint", "fingerprint_alg",
                                         "der",     COMMON,        NULL};
static const char *const enroll_opts[] = {"ca_cert",
                                          "fingerprint",
                                          "fingerprint_alg",
                                          "key",
                                          "csr",
                                          "local_cert",
                                          "subject",
                                          "san",
                                          "eku",
                                          "key_type",
                                          "challenge",
                                          "der",
                                          "pkcs12",
                                          "pkcs12_password",
                                          ALGS,
                                          POLL,
                                          COMMON,
                                          NULL};
static const char *const renew_opts[] = {"ca_cert",
                                         "fingerprint",
                                         "fingerprint_alg",
                                         "key",
                                         "csr",
                                         "local_cert",
                                         "old_cert",
                                         "old_key",
                                         "renewal_type",
                                         "subject",
                                         "san",
                                         "eku",
                                         "key_type",
                                         "der",
                                         "pkcs12",
                                         "pkcs12_password",
                                         ALGS,
                                         POLL,
                                         COMMON,
                                         NULL};
static const char *const poll_opts[] = {
    "ca_cert", "fingerprint", "fingerprint_alg", "key", "local_cert",
    "der",     "pkcs12",      "pkcs12_password", ALGS,  POLL,
    COMMON,    NULL};
static const char *const getcert_opts[] = {"ca_cert", "fingerprint", "fingerprint_alg",
                                           "key",     "local_cert",  "serial",
                                           "write",   "der",         ALGS,
                                           COMMON,    NULL};
static const char *const getcrl_opts[] = {
    "ca_cert", "fingerprint", "fingerprint_alg", "key", "local_cert", "write", "der", ALGS,
    COMMON,    NULL};

static const struct command commands[] = {
    {"getcaps", cmd_getcaps, "scep getcaps -u URL [-i CA-ID]", getcaps_opts},
    {"getca", cmd_getca, "scep getca -u URL -c OUT [--fingerprint HEX [-F ALG]]", getca_opts},
    {"getnextca", cmd_getnextca, "scep getnextca -u URL -c OUT --fingerprint HEX", getca_opts},
    {"enroll", cmd_enroll,
     "scep enroll -u URL -c CA.pem -k KEY (-r CSR | --subject DN [--challenge P]) -l OUT",
     enroll_opts},
    {"renew", cmd_renew,
     "scep renew -u URL -c CA.pem -O OLD_CERT -K OLD_KEY -k NEW_KEY (-r CSR | --subject DN) -l OUT",
     renew_opts},
    {"poll", cmd_poll, "scep poll -u URL -c CA.pem -k KEY -l OUT [--state FILE]", poll_opts},
    {"getcert", cmd_getcert, "scep getcert -u URL -c CA.pem -k KEY -l LOCAL --serial HEX [-w OUT]",
     getcert_opts},
    {"getcrl", cmd_getcrl, "scep getcrl -u URL -c CA.pem -k KEY -l CERT [-w OUT]", getcrl_opts},
};

static void main_usage(FILE *out)
{
    fprintf(out, "usage: scep COMMAND [options]   (scep COMMAND --help for its options)\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %s\n", commands[i].usage);
    fprintf(out, "exit codes: 0 success, 1 error, 3 still pending, 64 usage, 70-74 server "
                 "failInfo (badAlg, badMessageCheck, badRequest, badTime, badCertId),\n"
                 "  80 verification failed (CA fingerprint, reply signature/nonce), 89 timeout, "
                 "95 network/HTTP\n"
                 "See scep(1).\n");
}

int scep_cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        main_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SCEP_EXIT_USAGE : SCEP_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("scep %s\n", scep_version());
        return SCEP_EXIT_OK;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL) {
        fprintf(stderr, "scep: unknown command \"%s\"\n", argv[1]);
        main_usage(stderr);
        return SCEP_EXIT_USAGE;
    }
    struct scep_cli_config config = {0};
    char *storage = NULL;
    int rc = scep_cli_parse(&config, argc - 1, argv + 1, &storage);
    if (rc == 0 && config.help) {
        printf("usage: %s\noptions:\n", cmd->usage);
        scep_cli_print_options(stdout, cmd->options);
    } else if (rc == 0) {
        rc = cmd->run(&config);
    }
    free(storage);
    return rc;
}
