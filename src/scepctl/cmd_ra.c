/*
 * `scepctl ra`: RA certificates for an alias (docs/scepd.md "RA certificates").
 * `ra issue` makes them with the alias's CA, `ra import` takes existing ones. Both
 * write the certificate and a 0600 copy of the key under STATE_DIR/ra/ALIAS/, record
 * the issued certificate in the store (so it can be revoked), and set
 * ALIAS.ra.cert/ra.key (and ra.signcert/ra.signkey for a split RA) in the
 * configuration file, rewritten atomically as `alias set` does.
 */
#include "scepctl.h"

#include "crl/publish.h"
#include "scep/ca.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RA_DEFAULT_DAYS 730

/* RFC 5280 key usages (interop.md §13, §17). Windows wants both on a single RA certificate. */
#define KU_SINGLE     "digitalSignature,keyEncipherment"
#define KU_ENCRYPTION "keyEncipherment"
#define KU_SIGNING    "digitalSignature"

struct ra_pair {
    X509 *cert;
    EVP_PKEY *key;
    char cert_path[4096];
    char key_path[4096];
};

static void pair_free(struct ra_pair *pair)
{
    X509_free(pair->cert);
    EVP_PKEY_free(pair->key);
    pair->cert = NULL;
    pair->key = NULL;
}

/* The CA that issues for `alias`, as scepd chooses it (server.c resolve_alias). */
static int alias_ca(struct scepctl *ctx, scep_store_ca **out, const char *alias)
{
    const struct scep_config_alias_settings *settings = scep_config_alias(ctx->config, alias);
    const char *name = NULL;
    if (settings != NULL)
        name = settings->operationmode == SCEP_ALIAS_MODE_RA ? settings->ra_defaultca
                                                             : settings->defaultca;
    if (name != NULL) {
        if (scep_store_ca_get(out, ctx->store, name) < 0)
            return scepctl_fail(ctx, "alias %s: CA %s", alias, name);
        return 0;
    }
    scep_store_ca *rows = NULL;
    size_t count = 0;
    if (scep_store_ca_list(&rows, &count, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot list the CAs");
    int rc = 0;
    if (count != 1)
        rc = scepctl_error(ctx,
                           count == 0 ? "alias %s: there is no CA yet (scepctl ca init)"
                                      : "alias %s: several CAs exist; set %s.defaultca first",
                           alias, alias);
    else if (scep_store_ca_get(out, ctx->store, rows[0].name) < 0)
        rc = scepctl_fail(ctx, "CA %s", rows[0].name);
    scep_store_ca_list_free(rows, count);
    return rc;
}

static bool alias_name_valid(const char *alias)
{
    /* The alias becomes a directory name. */
    return scepctl_ca_name_valid(alias);
}

static int make_dirs(struct scepctl *ctx, char *dir, size_t size, const char *alias)
{
    const char *state_dir = scep_config_global_values(ctx->config)->state_dir;
    const char *parts[] = {"", "/ra", "/"};
    char path[4096];
    for (size_t i = 0; i < 3; i++) {
        int n = i == 0   ? snprintf(path, sizeof(path), "%s", state_dir)
                : i == 1 ? snprintf(path, sizeof(path), "%s%s", state_dir, parts[1])
                         : snprintf(path, sizeof(path), "%s/ra/%s", state_dir, alias);
        if (n < 0 || (size_t)n >= sizeof(path))
            return scepctl_error(ctx, "state_dir is too long");
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return scepctl_error(ctx, "cannot create %s: %s", path, strerror(errno));
    }
    if ((size_t)snprintf(dir, size, "%s", path) >= size)
        return scepctl_error(ctx, "state_dir is too long");
    return 0;
}

static int64_t unix_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* Writes DIR/ROLE-SERIAL.pem and .key (0600, never overwriting an older RA's). */
static int save_pair(struct scepctl *ctx, struct ra_pair *pair, const char *dir, const char *role,
                     const char *key_uri)
{
    char serial[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial, X509_get0_serialNumber(pair->cert)) < 0)
        return scepctl_fail(ctx, "RA certificate serial");
    if ((size_t)snprintf(pair->cert_path, sizeof(pair->cert_path), "%s/%s-%s.pem", dir, role,
                         serial) >= sizeof(pair->cert_path) ||
        (size_t)snprintf(pair->key_path, sizeof(pair->key_path), "%s/%s-%s.key", dir, role,
                         serial) >= sizeof(pair->key_path))
        return scepctl_error(ctx, "state_dir is too long");
    if (key_uri != NULL)
        snprintf(pair->key_path, sizeof(pair->key_path), "%s", key_uri);
    else if (scep_key_save(pair->key_path, pair->key, NULL) < 0)
        return scepctl_fail(ctx, "cannot write %s", pair->key_path);
    if (scep_cert_save(pair->cert_path, pair->cert, SCEP_ENCODING_PEM) < 0)
        return scepctl_fail(ctx, "cannot write %s", pair->cert_path);
    return 0;
}

/* Records the RA certificate in the store, so `cert list` shows it and it can be revoked. */
static int record_cert(struct scepctl *ctx, const char *ca_name, X509 *cert)
{
    char serial[SCEP_SERIAL_HEX_MAX];
    char *subject = NULL, *issuer = NULL;
    unsigned char *der = NULL;
    int der_len = i2d_X509(cert, &der);
    int rc = 0;
    if (der_len <= 0 || scep_serial_to_hex(serial, X509_get0_serialNumber(cert)) < 0 ||
        scep_dn_format(&subject, X509_get_subject_name(cert)) < 0 ||
        scep_dn_format(&issuer, X509_get_issuer_name(cert)) < 0) {
        rc = scepctl_fail(ctx, "cannot describe the RA certificate");
        goto cleanup;
    }
    scep_store_cert row = {.ca_name = ca_name,
                           .serial = serial,
                           .subject = subject,
                           .issuer = issuer,
                           .not_before = unix_time(X509_get0_notBefore(cert)),
                           .not_after = unix_time(X509_get0_notAfter(cert)),
                           .der = der,
                           .der_len = (size_t)der_len};
    int stored = scep_store_cert_add(ctx->store, &row);
    if (stored == SCEP_EEXISTS)
        rc = 0; /* imported again */
    else if (stored < 0)
        rc = scepctl_fail(ctx, "cannot record the RA certificate in the store");

cleanup:
    OPENSSL_free(subject);
    OPENSSL_free(issuer);
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

static int issue_one(struct scepctl *ctx, struct ra_pair *out, const scep_ca *ca,
                     const char *subject, unsigned bits, unsigned days, const char *key_usage,
                     const char *key_uri)
{
    int rc = SCEPCTL_EXIT_ERROR;
    X509_NAME *name = NULL;
    X509_REQ *csr = NULL;
    EVP_PKEY *key = NULL;
    if (key_uri != NULL) {
        if (scep_pkcs11_generate(&key, key_uri, SCEP_KEY_RSA, bits, NULL) < 0) {
            rc = scepctl_fail(ctx, "cannot generate the RA key in the token");
            goto cleanup;
        }
    } else if ((key = EVP_RSA_gen(bits)) == NULL) {
        rc = scepctl_error(ctx, "cannot generate an RSA key");
        goto cleanup;
    }
    if (scep_dn_parse(&name, subject) < 0) {
        rc = scepctl_fail(ctx, "--subject %s", subject);
        goto cleanup;
    }
    csr = X509_REQ_new();
    if (csr == NULL || X509_REQ_set_version(csr, 0) != 1 ||
        X509_REQ_set_subject_name(csr, name) != 1 || X509_REQ_set_pubkey(csr, key) != 1 ||
        X509_REQ_sign(csr, key, EVP_sha256()) <= 0) {
        rc = scepctl_error(ctx, "cannot build the RA request");
        goto cleanup;
    }
    scep_profile profile;
    scep_profile_init(&profile);
    profile.validity_days = days;
    profile.key_usage = key_usage;
    profile.extended_key_usage = ""; /* none: an RA certificate is for SCEP only */
    profile.copy_san_types = 0;
    scep_issue_request request = {.csr = csr};
    if (scep_ca_issue(&out->cert, ca, &profile, &request) < 0) {
        rc = scepctl_fail(ctx, "cannot issue the RA certificate");
        goto cleanup;
    }
    out->key = key;
    key = NULL;
    rc = 0;

cleanup:
    EVP_PKEY_free(key);
    X509_REQ_free(csr);
    X509_NAME_free(name);
    ERR_clear_error();
    return rc;
}

/* Sets the alias's RA settings and rewrites the configuration file. */
static int record_config(struct scepctl *ctx, const char *alias, const struct ra_pair *enc,
                         const struct ra_pair *sign)
{
    if (scep_config_alias(ctx->config, alias) == NULL &&
        scep_config_alias_add(ctx->config, alias) < 0)
        return scepctl_fail(ctx, "alias %s", alias);
    if (scep_config_set(ctx->config, alias, "ra.cert", enc->cert_path) < 0 ||
        scep_config_set(ctx->config, alias, "ra.key", enc->key_path) < 0 ||
        scep_config_set(ctx->config, alias, "ra.signcert", sign ? sign->cert_path : "") < 0 ||
        scep_config_set(ctx->config, alias, "ra.signkey", sign ? sign->key_path : "") < 0)
        return scepctl_fail(ctx, "alias %s", alias);
    return scepctl_save_config(ctx);
}

static void report(struct scepctl *ctx, const char *alias, const struct ra_pair *enc,
                   const struct ra_pair *sign)
{
    fprintf(ctx->out, "RA %scertificate of alias %s: %s (key %s)\n", sign ? "encryption " : "",
            alias, enc->cert_path, enc->key_path);
    (void)scepctl_print_cert_summary(ctx, enc->cert);
    if (sign != NULL) {
        fprintf(ctx->out, "RA signing certificate of alias %s: %s (key %s)\n", alias,
                sign->cert_path, sign->key_path);
        (void)scepctl_print_cert_summary(ctx, sign->cert);
    }
    fprintf(ctx->out, "Recorded in %s.\n", ctx->resolved_config);
    scepctl_reload_hint(ctx);
}

static int parse_bits(unsigned *out, const char *text)
{
    if (text == NULL) {
        *out = 2048;
        return 0;
    }
    if (strcmp(text, "rsa:2048") == 0)
        *out = 2048;
    else if (strcmp(text, "rsa:3072") == 0)
        *out = 3072;
    else if (strcmp(text, "rsa:4096") == 0)
        *out = 4096;
    else
        return -1;
    return 0;
}

/* Config, store, the alias's CA with its key, and the RA directory. */
static int prepare(struct scepctl *ctx, scep_store_ca **row, scep_ca **ca, char *dir,
                   size_t dir_size, const char *alias)
{
    int rc;
    if (!alias_name_valid(alias))
        return scepctl_usage(ctx, "--alias %s: use 1 to 64 of A-Z a-z 0-9 _ - .", alias);
    if ((rc = scepctl_load_config(ctx)) != 0 || (rc = scepctl_open_store(ctx)) != 0 ||
        (rc = alias_ca(ctx, row, alias)) != 0)
        return rc;
    if (scep_crl_load_ca(ca, *row) < 0)
        return scepctl_fail(ctx, "cannot load CA %s with its key", (*row)->name);
    return make_dirs(ctx, dir, dir_size, alias);
}

static int ra_issue(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = scepctl_arg(args, "alias");
    const char *subject = scepctl_arg(args, "subject");
    const char *days_text = scepctl_arg(args, "days");
    bool split = scepctl_arg(args, "split") != NULL;
    const char *key_uri = scepctl_arg(args, "key-uri");
    const char *sign_key_uri = scepctl_arg(args, "sign-key-uri");
    unsigned bits = 0, days = RA_DEFAULT_DAYS;
    if (key_uri != NULL && !scep_key_ref_is_pkcs11(key_uri))
        return scepctl_usage(ctx, "--key-uri: expected a pkcs11: URI (RFC 7512)");
    if (sign_key_uri != NULL && (!split || !scep_key_ref_is_pkcs11(sign_key_uri)))
        return scepctl_usage(ctx,
                             "--sign-key-uri: expected a pkcs11: URI (RFC 7512), with --split");
    if (key_uri != NULL && sign_key_uri != NULL && strcmp(key_uri, sign_key_uri) == 0)
        return scepctl_usage(ctx, "--key-uri and --sign-key-uri name the same key: a split RA has "
                                  "two keys");
    if (parse_bits(&bits, scepctl_arg(args, "key")) < 0)
        return scepctl_usage(ctx, "--key: expected rsa:2048, rsa:3072 or rsa:4096 (SCEP "
                                  "encrypts to the RA with RSA)");
    if (days_text != NULL) {
        char *end = NULL;
        long value = strtol(days_text, &end, 10);
        if (end == days_text || *end != '\0' || value < 1 || value > 36500)
            return scepctl_usage(ctx, "--days %s: expected 1 to 36500", days_text);
        days = (unsigned)value;
    }

    scep_store_ca *row = NULL;
    scep_ca *ca = NULL;
    struct ra_pair enc = {0}, sign = {0};
    char dir[4096], enc_subject[1024], sign_subject[1024];
    int rc = prepare(ctx, &row, &ca, dir, sizeof(dir), alias);
    if (rc != 0)
        goto cleanup;
    snprintf(enc_subject, sizeof(enc_subject), "%s", subject ? subject : "");
    if (subject == NULL)
        snprintf(enc_subject, sizeof(enc_subject), "CN=%s SCEP RA%s", alias,
                 split ? " encryption" : "");
    snprintf(sign_subject, sizeof(sign_subject), "%s", subject ? subject : "");
    if (subject == NULL)
        snprintf(sign_subject, sizeof(sign_subject), "CN=%s SCEP RA signing", alias);

    if ((rc = issue_one(ctx, &enc, ca, enc_subject, bits, days, split ? KU_ENCRYPTION : KU_SINGLE,
                        key_uri)) != 0 ||
        (split &&
         (rc = issue_one(ctx, &sign, ca, sign_subject, bits, days, KU_SIGNING, sign_key_uri)) != 0))
        goto cleanup;
    if ((rc = save_pair(ctx, &enc, dir, split ? "enc" : "ra", key_uri)) != 0 ||
        (split && (rc = save_pair(ctx, &sign, dir, "sign", sign_key_uri)) != 0) ||
        (rc = record_cert(ctx, row->name, enc.cert)) != 0 ||
        (split && (rc = record_cert(ctx, row->name, sign.cert)) != 0) ||
        (rc = record_config(ctx, alias, &enc, split ? &sign : NULL)) != 0)
        goto cleanup;
    scepctl_audit(ctx, "ra_issue", alias, split ? "split" : "single");
    report(ctx, alias, &enc, split ? &sign : NULL);

cleanup:
    pair_free(&enc);
    pair_free(&sign);
    scep_ca_free(ca);
    scep_store_ca_free(row);
    return rc;
}

/* Loads an existing certificate and key, checked against the alias's CA. */
static int load_import(struct scepctl *ctx, struct ra_pair *out, const scep_ca *ca,
                       const char *cert_path, const char *key_path, const char *what)
{
    X509 *ca_cert = scep_ca_cert(ca);
    int rc = 0;
    if (scep_cert_load(&out->cert, cert_path) < 0)
        return scepctl_fail(ctx, "%s %s", what, cert_path);
    if (scep_key_open(&out->key, key_path, 0) < 0)
        return scepctl_fail(ctx, "%s key %s", what, key_path);
    if (X509_check_private_key(out->cert, out->key) != 1)
        rc = scepctl_error(ctx, "%s: the key %s does not match %s", what, key_path, cert_path);
    else if (X509_check_issued(ca_cert, out->cert) != X509_V_OK ||
             X509_verify(out->cert, X509_get0_pubkey(ca_cert)) != 1)
        rc = scepctl_error(ctx, "%s %s was not issued by the alias's CA", what, cert_path);
    else if (!EVP_PKEY_is_a(out->key, "RSA") && strcmp(what, "--cert") == 0)
        rc = scepctl_error(ctx, "--cert: the RA encryption key must be RSA");
    ERR_clear_error();
    return rc;
}

static int ra_import(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *alias = scepctl_arg(args, "alias");
    const char *sign_cert = scepctl_arg(args, "sign-cert");
    const char *sign_key = scepctl_arg(args, "sign-key");
    if ((sign_cert == NULL) != (sign_key == NULL))
        return scepctl_usage(ctx, "ra import: --sign-cert and --sign-key go together");
    bool split = sign_cert != NULL;

    scep_store_ca *row = NULL;
    scep_ca *ca = NULL;
    struct ra_pair enc = {0}, sign = {0};
    char dir[4096];
    int rc = prepare(ctx, &row, &ca, dir, sizeof(dir), alias);
    if (rc != 0)
        goto cleanup;
    if ((rc = load_import(ctx, &enc, ca, scepctl_arg(args, "cert"), scepctl_arg(args, "key"),
                          "--cert")) != 0 ||
        (split && (rc = load_import(ctx, &sign, ca, sign_cert, sign_key, "--sign-cert")) != 0))
        goto cleanup;
    uint32_t ku = X509_get_key_usage(enc.cert);
    if (!(ku & KU_KEY_ENCIPHERMENT))
        scepctl_warn(ctx,
                     "the RA certificate lacks keyUsage keyEncipherment (docs/interop.md §13)");
    ku = X509_get_key_usage(split ? sign.cert : enc.cert);
    if (!(ku & KU_DIGITAL_SIGNATURE))
        scepctl_warn(ctx, "the RA signing certificate lacks keyUsage digitalSignature");
    /* The key is copied 0600 under STATE_DIR, as scepd demands of a key it serves with. */
    const char *enc_key = scepctl_arg(args, "key");
    if ((rc = save_pair(ctx, &enc, dir, split ? "enc" : "ra",
                        scep_key_ref_is_pkcs11(enc_key) ? enc_key : NULL)) != 0 ||
        (split && (rc = save_pair(ctx, &sign, dir, "sign",
                                  scep_key_ref_is_pkcs11(sign_key) ? sign_key : NULL)) != 0) ||
        (rc = record_cert(ctx, row->name, enc.cert)) != 0 ||
        (split && (rc = record_cert(ctx, row->name, sign.cert)) != 0) ||
        (rc = record_config(ctx, alias, &enc, split ? &sign : NULL)) != 0)
        goto cleanup;
    scepctl_audit(ctx, "ra_import", alias, split ? "split" : "single");
    report(ctx, alias, &enc, split ? &sign : NULL);

cleanup:
    pair_free(&enc);
    pair_free(&sign);
    scep_ca_free(ca);
    scep_store_ca_free(row);
    return rc;
}

static const struct scepctl_option issue_options[] = {
    {"alias", "ALIAS", true, "the alias the RA certificate(s) serve"},
    {"subject", "DN", false,
     "subject: DN in RFC 4514 order, most specific first: \"CN=RA,O=Example,C=DE\" (or "
     "OpenSSL's \"/C=DE/O=Example/CN=RA\"); default \"CN=ALIAS SCEP RA\""},
    {"key", "TYPE", false, "rsa:2048 (default), rsa:3072, rsa:4096"},
    {"key-uri", "URI", false,
     "generate the RA key (with --split: the encryption key) in a PKCS#11 token: "
     "pkcs11:token=LABEL;object=LABEL"},
    {"sign-key-uri", "URI", false,
     "with --split: generate the signing key in a PKCS#11 token as well"},
    {"days", "N", false, "validity in days (default 730; capped at the CA's notAfter)"},
    {"split", NULL, false,
     "two certificates: encryption (keyEncipherment) and signing (digitalSignature)"},
};

static const struct scepctl_option import_options[] = {
    {"alias", "ALIAS", true, "the alias the RA certificate(s) serve"},
    {"cert", "FILE", true, "RA certificate (PEM or DER), issued by the alias's CA"},
    {"key", "FILE|URI", true, "its private key (RSA): a file, or a pkcs11: URI of a token key"},
    {"sign-cert", "FILE", false, "split RA: the signing certificate"},
    {"sign-key", "FILE", false, "split RA: its private key"},
};

static const struct scepctl_command commands[] = {
    {"issue",
     "issue --alias ALIAS [--subject DN] [--key TYPE] [--key-uri URI] [--days N] [--split "
     "[--sign-key-uri URI]]",
     "Issue RA certificate(s) for an alias from its CA and configure the alias to use them.",
     "A single RA certificate has keyUsage digitalSignature + keyEncipherment (Windows\n"
     "needs both); --split makes an encryption certificate (keyEncipherment) and a\n"
     "signing certificate (digitalSignature), as NDES deploys it. No extendedKeyUsage.\n"
     "Certificates and keys (0600) go to STATE_DIR/ra/ALIAS/; the certificates are\n"
     "recorded in the store (revocable) and ALIAS.ra.cert/ra.key (ra.signcert/ra.signkey)\n"
     "are set in the configuration file. scepd uses them after its next reload.",
     issue_options, sizeof(issue_options) / sizeof(issue_options[0]), 0, 0, ra_issue},
    {"import", "import --alias ALIAS --cert FILE --key FILE [--sign-cert FILE --sign-key FILE]",
     "Use existing RA certificate(s), issued by the alias's CA, for an alias.",
     "The certificates and a 0600 copy of the keys go to STATE_DIR/ra/ALIAS/ and the\n"
     "alias's ra.* settings are set as by `ra issue`.",
     import_options, sizeof(import_options) / sizeof(import_options[0]), 0, 0, ra_import},
};

const struct scepctl_group scepctl_group_ra = {"ra", "RA certificates for an alias: issue, import.",
                                               commands, sizeof(commands) / sizeof(commands[0]),
                                               false};
