/*
 * scepctl ca: create, import, list and show the CAs scepd serves. A CA's
 * certificate and key live under STATE_DIR/cas/NAME/ (directory 0700, key
 * 0600, unencrypted so that scepd starts unattended); the store holds the
 * certificate, the chain and the key's path, which is what scepd loads.
 */
#include "scepctl/scepctl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "scep/ca.h"
#include "scep/fingerprint.h"

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE  "ca.key"

/* PEM of one certificate or of a stack; *out is the caller's (free()). NULL stack: "". */
static int to_pem(char **out, X509 *cert, STACK_OF(X509) * chain)
{
    int rc = -1;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return -1;
    if (cert != NULL && PEM_write_bio_X509(bio, cert) != 1)
        goto cleanup;
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
        if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1)
            goto cleanup;
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    *out = malloc((size_t)len + 1);
    if (*out == NULL)
        goto cleanup;
    if (len > 0)
        memcpy(*out, data, (size_t)len);
    (*out)[len] = '\0';
    rc = 0;
cleanup:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

static int make_dir(struct scepctl *ctx, const char *path, bool must_be_new)
{
    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno == EEXIST && !must_be_new)
        return 0;
    if (errno == EEXIST)
        return scepctl_error(ctx, "%s already exists; remove it or choose another name", path);
    return scepctl_error(ctx, "cannot create %s: %s", path, strerror(errno));
}

/* Refuses a name that is malformed or already in the store; opens the store. */
static int check_new_name(struct scepctl *ctx, const char *name)
{
    if (!scepctl_ca_name_valid(name))
        return scepctl_usage(ctx,
                             "CA name \"%s\": use 1 to 64 of A-Z a-z 0-9 _ - . (not starting "
                             "with '.')",
                             name);
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    scep_store_ca *existing = NULL;
    int found = scep_store_ca_get(&existing, ctx->store, name);
    scep_store_ca_free(existing);
    if (found == 0)
        return scepctl_error(ctx, "CA %s already exists (see scepctl ca show --name %s)", name,
                             name);
    if (found != SCEP_ENOTFOUND)
        return scepctl_fail(ctx, "cannot look up CA %s", name);
    return 0;
}

static void print_fingerprints(struct scepctl *ctx, X509 *cert)
{
    char *sha256 = NULL, *sha1 = NULL, *subject = NULL;
    if (scep_cert_fingerprint(&sha256, cert, SCEP_FINGERPRINT_SHA256) == 0 &&
        scep_cert_fingerprint(&sha1, cert, SCEP_FINGERPRINT_SHA1) == 0 &&
        scep_dn_format(&subject, X509_get_subject_name(cert)) == 0)
        fprintf(ctx->out, "Subject:      %s\nSHA-256:      %s\nSHA-1:        %s\n", subject, sha256,
                sha1);
    OPENSSL_free(sha256);
    OPENSSL_free(sha1);
    OPENSSL_free(subject);
}

/*
 * Writes the CA's files under STATE_DIR/cas/NAME/ and adds it to the store;
 * on failure removes what it wrote, so the same command can be run again.
 */
static int install_ca(struct scepctl *ctx, const char *name, const scep_ca *ca, const char *key_uri)
{
    int rc = SCEPCTL_EXIT_ERROR;
    char dir[PATH_MAX], cert_path[PATH_MAX], key_path[PATH_MAX];
    char *real_dir = NULL, *cert_pem = NULL, *chain_pem = NULL;
    bool dir_created = false, files_written = false;
    const char *state_dir = scep_config_global_values(ctx->config)->state_dir;

    if ((size_t)snprintf(dir, sizeof(dir), "%s/cas", state_dir) >= sizeof(dir))
        return scepctl_error(ctx, "state_dir is too long");
    if ((rc = make_dir(ctx, state_dir, false)) != 0 || (rc = make_dir(ctx, dir, false)) != 0)
        return rc;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/cas/%s", state_dir, name) >= sizeof(dir))
        return scepctl_error(ctx, "state_dir is too long");
    if ((rc = make_dir(ctx, dir, true)) != 0)
        return rc;
    dir_created = true;
    rc = SCEPCTL_EXIT_ERROR;

    /* scepd loads the key by the path in the store, whatever its working directory. */
    real_dir = realpath(dir, NULL);
    if (real_dir == NULL) {
        rc = scepctl_error(ctx, "%s: %s", dir, strerror(errno));
        goto cleanup;
    }
    if ((size_t)snprintf(cert_path, sizeof(cert_path), "%s/" CA_CERT_FILE, real_dir) >=
            sizeof(cert_path) ||
        (size_t)snprintf(key_path, sizeof(key_path), "%s/" CA_KEY_FILE, real_dir) >=
            sizeof(key_path)) {
        rc = scepctl_error(ctx, "state_dir is too long");
        goto cleanup;
    }
    files_written = true; /* from here on, clean up whatever part was written */
    if (scep_ca_save(ca, cert_path, key_uri != NULL ? NULL : key_path, NULL) < 0) {
        rc = scepctl_fail(ctx, "cannot save CA %s", name);
        goto cleanup;
    }
    STACK_OF(X509) *chain = scep_ca_chain(ca);
    if (to_pem(&cert_pem, scep_ca_cert(ca), NULL) != 0 ||
        (sk_X509_num(chain) > 0 && to_pem(&chain_pem, NULL, chain) != 0)) {
        rc = scepctl_error(ctx, "cannot encode CA %s as PEM", name);
        goto cleanup;
    }
    scep_store_ca row = {.name = name,
                         .cert_pem = cert_pem,
                         .key_ref = key_uri != NULL ? key_uri : key_path,
                         .chain_pem = chain_pem};
    if (scep_store_ca_add(ctx->store, &row) < 0) {
        rc = scepctl_fail(ctx, "cannot add CA %s to the store", name);
        goto cleanup;
    }
    scepctl_audit(ctx, "ca_add", NULL, name);
    fprintf(ctx->out, "CA %s\n", name);
    print_fingerprints(ctx, scep_ca_cert(ca));
    if (key_uri != NULL)
        fprintf(ctx->out, "Certificate:  %s\nKey:          %s (in the token)\n", cert_path,
                key_uri);
    else
        fprintf(ctx->out, "Certificate:  %s\nKey:          %s (mode 0600, not encrypted)\n",
                cert_path, key_path);
    rc = 0;

cleanup:
    if (rc != 0 && files_written) {
        if (key_uri == NULL)
            unlink(key_path);
        unlink(cert_path);
    }
    if (rc != 0 && dir_created)
        rmdir(dir);
    free(real_dir);
    free(cert_pem);
    free(chain_pem);
    return rc;
}

static int parse_key_type(scep_ca_create_options *options, const char *text)
{
    if (strcmp(text, "rsa:2048") == 0 || strcmp(text, "rsa:3072") == 0 ||
        strcmp(text, "rsa:4096") == 0) {
        options->key_type = SCEP_KEY_RSA;
        options->rsa_bits = (unsigned)strtoul(text + 4, NULL, 10);
        return 0;
    }
    if (strcmp(text, "ec:P-256") == 0 || strcmp(text, "ec:P-384") == 0) {
        options->key_type = SCEP_KEY_EC;
        options->ec_curve = text + 3;
        return 0;
    }
    return -1;
}

static int ca_init(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *name = scepctl_arg(args, "name");
    const char *key = scepctl_arg(args, "key");
    const char *days = scepctl_arg(args, "days");
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = scepctl_arg(args, "subject");
    options.key_uri = scepctl_arg(args, "key-uri");
    if (options.key_uri != NULL && !scep_key_ref_is_pkcs11(options.key_uri))
        return scepctl_usage(ctx, "--key-uri: expected a pkcs11: URI (RFC 7512)");
    if (key != NULL && parse_key_type(&options, key) != 0)
        return scepctl_usage(ctx,
                             "--key %s: expected rsa:2048, rsa:3072, rsa:4096, ec:P-256 or "
                             "ec:P-384",
                             key);
    if (days != NULL) {
        char *end = NULL;
        errno = 0;
        long value = strtol(days, &end, 10);
        if (errno != 0 || end == days || *end != '\0' || value < 1 || value > 36500)
            return scepctl_usage(ctx, "--days %s: expected a number of days from 1 to 36500", days);
        options.validity_days = (unsigned)value;
    }
    int rc = check_new_name(ctx, name);
    if (rc != 0)
        return rc;

    scep_ca *ca = NULL;
    if (scep_ca_create(&ca, &options) < 0)
        return scepctl_fail(ctx, "cannot create CA %s", name);
    rc = install_ca(ctx, name, ca, options.key_uri);
    scep_ca_free(ca);
    if (rc == 0 && options.key_type == SCEP_KEY_EC)
        scepctl_warn(ctx, "%s", scep_ca_warning_text(SCEP_CA_WARN_NOT_RSA));
    return rc;
}

static int ca_import(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *name = scepctl_arg(args, "name");
    const char *passin = scepctl_arg(args, "passin");
    const char *passphrase_path = NULL;
    if (passin != NULL) {
        /* Only a file: a passphrase on the command line would show in `ps`. */
        if (strncmp(passin, "file:", 5) != 0 || passin[5] == '\0')
            return scepctl_usage(ctx, "--passin %s: expected file:PATH", passin);
        passphrase_path = passin + 5;
    }
    const char *key = scepctl_arg(args, "key");
    const char *key_uri = scepctl_arg(args, "key-uri");
    if ((key == NULL) == (key_uri == NULL))
        return scepctl_usage(ctx, "give the CA's key as --key FILE or --key-uri pkcs11:...");
    if (key_uri != NULL && (!scep_key_ref_is_pkcs11(key_uri) || passphrase_path != NULL))
        return scepctl_usage(ctx, "--key-uri: expected a pkcs11: URI (RFC 7512), without --passin");
    int rc = check_new_name(ctx, name);
    if (rc != 0)
        return rc;

    scep_ca *ca = NULL;
    unsigned warnings = 0;
    if (scep_ca_import(&ca, &warnings, scepctl_arg(args, "cert"), key != NULL ? key : key_uri,
                       passphrase_path) < 0)
        return scepctl_fail(ctx, "cannot import CA %s", name);
    rc = install_ca(ctx, name, ca, key_uri);
    scep_ca_free(ca);
    if (rc == 0) {
        for (unsigned bit = 1; bit != 0 && bit <= warnings; bit <<= 1)
            if (warnings & bit)
                scepctl_warn(ctx, "%s", scep_ca_warning_text(bit));
        if (passphrase_path != NULL)
            scepctl_warn(ctx, "the key was saved without its passphrase, so that scepd can "
                              "start unattended; the file is readable by its owner only");
    }
    return rc;
}

static int ca_list(struct scepctl *ctx, const struct scepctl_args *args)
{
    scep_store_ca *rows = NULL;
    size_t count = 0;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if (scep_store_ca_list(&rows, &count, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot list the CAs");
    if (count == 0)
        fprintf(ctx->err, "no CA yet: create one with scepctl ca init\n");
    else
        fprintf(ctx->out, "NAME\tSUBJECT\tNOT AFTER\tSHA-256\n");
    for (size_t i = 0; i < count; i++) {
        X509 *cert = NULL;
        char *subject = NULL, *sha256 = NULL;
        char not_after[32] = "?";
        if (scepctl_cert_from_pem(&cert, rows[i].cert_pem) == 0) {
            if (scep_dn_format(&subject, X509_get_subject_name(cert)) < 0)
                subject = NULL;
            if (scep_cert_fingerprint(&sha256, cert, SCEP_FINGERPRINT_SHA256) < 0)
                sha256 = NULL;
            scepctl_format_asn1_time(not_after, X509_get0_notAfter(cert));
        }
        fprintf(ctx->out, "%s\t%s\t%s\t%s\n", rows[i].name, subject ? subject : "?", not_after,
                sha256 ? sha256 : "?");
        OPENSSL_free(subject);
        OPENSSL_free(sha256);
        X509_free(cert);
    }
    scep_store_ca_list_free(rows, count);
    return 0;
}

static int ca_show(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *name = scepctl_arg(args, "name");
    scep_store_ca *row = NULL;
    X509 *cert = NULL;
    char created[32];
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    rc = scep_store_ca_get(&row, ctx->store, name);
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no CA %s (see scepctl ca list)", name);
    if (rc < 0)
        return scepctl_fail(ctx, "CA %s", name);
    if (scepctl_cert_from_pem(&cert, row->cert_pem) < 0) {
        rc = scepctl_fail(ctx, "CA %s: the stored certificate is unreadable", name);
        goto cleanup;
    }
    scepctl_format_time(created, row->created_at);
    fprintf(ctx->out, "Name:         %s\n", row->name);
    rc = scepctl_print_cert_summary(ctx, cert);
    if (rc != 0)
        goto cleanup;
    fprintf(ctx->out,
            "Key file:     %s\n"
            "CRL number:   %lld\n"
            "Added:        %s\n",
            row->key_ref, (long long)row->crl_number, created);
    if (row->next_cert_pem != NULL)
        fprintf(ctx->out, "Next certificate (rollover):\n%s", row->next_cert_pem);
    fprintf(ctx->out, "\n");
    rc = scepctl_print_pem(ctx, cert);
    if (rc == 0 && row->chain_pem != NULL && row->chain_pem[0] != '\0')
        fprintf(ctx->out, "%s", row->chain_pem);

cleanup:
    X509_free(cert);
    scep_store_ca_free(row);
    return rc;
}

static const struct scepctl_option init_options[] = {
    {"name", "NAME", true, "name of the CA in the store and under STATE_DIR/cas/"},
    {"subject", "DN", true,
     "subject: DN in RFC 4514 order, most specific first: \"CN=Demo CA,O=Example,C=DE\" (or "
     "OpenSSL's \"/C=DE/O=Example/CN=Demo CA\")"},
    {"key", "TYPE", false, "rsa:3072 (default), rsa:2048, rsa:4096, ec:P-256, ec:P-384"},
    {"key-uri", "URI", false,
     "generate the key in a PKCS#11 token instead: pkcs11:token=LABEL;object=LABEL "
     "(pkcs11_module and pkcs11_pin_file in the configuration)"},
    {"days", "N", false, "validity in days (default 3650)"},
};
static const struct scepctl_option import_options[] = {
    {"name", "NAME", true, "name of the CA in the store and under STATE_DIR/cas/"},
    {"cert", "FILE", true, "CA certificate (PEM, optionally followed by its chain, or DER)"},
    {"key", "FILE", false, "the CA's private key (PEM or DER, possibly encrypted)"},
    {"key-uri", "URI", false,
     "or: the CA's key in a PKCS#11 token, pkcs11:token=LABEL;object=LABEL"},
    {"passin", "file:PATH", false, "passphrase of an encrypted key: first line of PATH"},
};
static const struct scepctl_option name_option[] = {
    {"name", "NAME", true, "the CA"},
};

static const struct scepctl_command commands[] = {
    {"init", "init --name NAME --subject DN [--key TYPE] [--key-uri URI] [--days N]",
     "Create a self-signed root CA, save it under STATE_DIR/cas/NAME/ and add it to the store.",
     "The key is written 0600 and unencrypted so that scepd can start unattended; run\n"
     "scepctl as the user scepd runs as, since scepd refuses a key file it does not own.\n"
     "Prints the subject and the SHA-256 and SHA-1 fingerprints for clients to pin.",
     init_options, sizeof(init_options) / sizeof(init_options[0]), 0, 0, ca_init},
    {"import", "import --name NAME --cert FILE (--key FILE [--passin file:PATH] | --key-uri URI)",
     "Import an existing CA: its key is re-saved under STATE_DIR/cas/NAME/.",
     "The copy of the key is written 0600 and WITHOUT a passphrase, so that scepd can\n"
     "start unattended. Warnings name what SCEP clients may dislike about the\n"
     "certificate (for instance a keyUsage without digitalSignature or keyEncipherment).",
     import_options, sizeof(import_options) / sizeof(import_options[0]), 0, 0, ca_import},
    {"list", "list", "List the CAs: name, subject, notAfter and SHA-256 fingerprint.", NULL, NULL,
     0, 0, 0, ca_list},
    {"show", "show --name NAME", "Show a CA: summary, fingerprints and the certificate as PEM.",
     NULL, name_option, 1, 0, 0, ca_show},
    {"rollover",
     "rollover --name NAME [--activate-at TIME] [--key TYPE] [--days N] | [--cert FILE --key "
     "FILE] | [--cancel]",
     "Schedule a CA certificate rollover: a next certificate with a new key (RFC 8894 4.7).",
     "A self-signed root gets a new self-signed certificate with the same subject. A\n"
     "subordinate CA cannot be signed by scepctl: give the certificate its parent issued\n"
     "for a new key with --cert and --key. The key is saved 0600 as\n"
     "STATE_DIR/cas/NAME/next.key. scepd loads it at its next reload, announces the\n"
     "certificate with GetNextCACert and issues with it from the activation time on.",
     scepctl_ca_rollover_options, SCEPCTL_CA_ROLLOVER_OPTIONS, 0, 0, scepctl_ca_rollover},
};

const struct scepctl_group scepctl_group_ca = {
    "ca", "Certificate authorities: init, import, list, show, rollover.", commands,
    sizeof(commands) / sizeof(commands[0]), false};
