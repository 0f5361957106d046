/*
 * scepctl ca rollover: schedules a CA certificate rollover (RFC 8894 §4.7).
 * The next certificate (same subject, new key) is made now, announced by
 * scepd's GetNextCACert until its activation time and used from then on. Its
 * files are STATE_DIR/cas/NAME/next.pem and next.key (0600); the store holds
 * the certificate, the key's path and the activation time.
 *
 * A self-signed root gets a new self-signed certificate. A subordinate CA
 * cannot be re-certified by us: the parent must issue the next certificate,
 * which is then given with --cert FILE --key FILE.
 */
/* strptime() */
#define _XOPEN_SOURCE 700

#include "scepctl/scepctl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "config/config.h"
#include "scep/ca.h"
#include "scep/fingerprint.h"

#define NEXT_CERT_FILE "next.pem"
#define NEXT_KEY_FILE  "next.key"
/* Default time between scheduling and activation, capped at the current notAfter. */
#define DEFAULT_LEAD_SECONDS (30LL * 86400LL)

int scepctl_parse_time(long long *out, const char *text, time_t now)
{
    if (strcmp(text, "now") == 0) {
        *out = (long long)now;
        return 0;
    }
    if (text[0] == '@' || text[0] == '+') {
        long long value = 0;
        int rc = text[0] == '@'
                     ? scep_config_parse_int(&value, text + 1, 1, 253402300799LL)
                     : scep_config_parse_duration(&value, text + 1, 0, 36500LL * 86400LL);
        if (rc < 0)
            return -1;
        *out = text[0] == '@' ? value : (long long)now + value;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(text, "%Y-%m-%d", &tm);
    if (end != NULL && *end != '\0') {
        if (*end != 'T' && *end != ' ')
            return -1;
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (end == NULL || (strcmp(end, "Z") != 0 && *end != '\0'))
            return -1;
    } else if (end == NULL) {
        return -1;
    }
    *out = (long long)timegm(&tm);
    return 0;
}

static int cert_pem(char **out, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    int rc = -1;
    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1)
        goto cleanup;
    long len = BIO_get_mem_data(bio, &data);
    *out = malloc((size_t)len + 1);
    if (*out == NULL)
        goto cleanup;
    memcpy(*out, data, (size_t)len);
    (*out)[len] = '\0';
    rc = 0;
cleanup:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

static int key_type(scep_ca_create_options *options, const char *text)
{
    if (strcmp(text, "rsa:2048") == 0 || strcmp(text, "rsa:3072") == 0 ||
        strcmp(text, "rsa:4096") == 0) {
        options->key_type = SCEP_KEY_RSA;
        options->rsa_bits = (unsigned)strtoul(text + 4, NULL, 10);
        return 0;
    }
    return -1;
}

/* A new self-signed certificate and key with the root's own subject. */
static int next_root(struct scepctl *ctx, scep_ca **out, X509 *current,
                     const struct scepctl_args *args)
{
    const char *key = scepctl_arg(args, "key");
    const char *days = scepctl_arg(args, "days");
    char *subject = NULL;
    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    /* SCEP encrypts to the CA key: an EC key would cut clients off (RFC 8894 §3.1). */
    if (key != NULL && key_type(&options, key) != 0)
        return scepctl_usage(ctx, "--key %s: expected rsa:2048, rsa:3072 or rsa:4096", key);
    if (days != NULL) {
        long long value = 0;
        if (scep_config_parse_int(&value, days, 1, 36500) < 0)
            return scepctl_usage(ctx, "--days %s: expected a number of days from 1 to 36500", days);
        options.validity_days = (unsigned)value;
    }
    if (scep_dn_format(&subject, X509_get_subject_name(current)) < 0)
        return scepctl_fail(ctx, "cannot read the CA's subject");
    options.subject = subject;
    options.key_uri = scepctl_arg(args, "key-uri");
    int rc =
        scep_ca_create(out, &options) < 0 ? scepctl_fail(ctx, "cannot create the next key") : 0;
    OPENSSL_free(subject);
    return rc;
}

static int cancel(struct scepctl *ctx, const char *name, const char *dir)
{
    char path[PATH_MAX];
    if (scep_store_ca_set_next(ctx->store, name, NULL, NULL, 0) < 0)
        return scepctl_fail(ctx, "cannot clear the rollover of CA %s", name);
    int n = snprintf(path, sizeof(path), "%s/" NEXT_KEY_FILE, dir);
    if (n > 0 && (size_t)n < sizeof(path))
        unlink(path);
    n = snprintf(path, sizeof(path), "%s/" NEXT_CERT_FILE, dir);
    if (n > 0 && (size_t)n < sizeof(path))
        unlink(path);
    scepctl_audit(ctx, "ca_rollover_cancel", NULL, name);
    fprintf(ctx->out, "CA %s: rollover cancelled\n", name);
    scepctl_reload_hint(ctx);
    return 0;
}

int scepctl_ca_rollover(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *name = scepctl_arg(args, "name");
    const char *activate = scepctl_arg(args, "activate-at");
    const char *external_cert = scepctl_arg(args, "cert");
    const char *key_uri = scepctl_arg(args, "key-uri");
    scep_store_ca *row = NULL;
    X509 *current = NULL;
    scep_ca *next = NULL;
    char *pem = NULL, *sha256 = NULL;
    char dir[PATH_MAX], cert_path[PATH_MAX], key_path[PATH_MAX];
    time_t now = time(NULL);
    long long activate_at = 0;
    int rc = 0;

    if (!scepctl_ca_name_valid(name))
        return scepctl_usage(ctx, "CA name \"%s\" is not valid", name);
    if (activate != NULL && scepctl_parse_time(&activate_at, activate, now) != 0)
        return scepctl_usage(ctx,
                             "--activate-at %s: expected now, @UNIXTIME, +DURATION (30d) or "
                             "YYYY-MM-DD[THH:MM:SSZ]",
                             activate);
    if (key_uri != NULL && !scep_key_ref_is_pkcs11(key_uri))
        return scepctl_usage(ctx, "--key-uri: expected a pkcs11: URI (RFC 7512)");
    if ((rc = scepctl_open_store(ctx)) != 0)
        return rc;
    const char *state_dir = scep_config_global_values(ctx->config)->state_dir;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/cas/%s", state_dir, name) >= sizeof(dir))
        return scepctl_error(ctx, "state_dir is too long");

    rc = scep_store_ca_get(&row, ctx->store, name);
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no CA %s (see scepctl ca list)", name);
    if (rc < 0)
        return scepctl_fail(ctx, "CA %s", name);
    rc = 0;
    if (scepctl_arg(args, "cancel") != NULL) {
        rc = cancel(ctx, name, dir);
        goto cleanup;
    }
    if (row->next_key_ref != NULL) {
        rc = scepctl_error(ctx,
                           "CA %s already has a scheduled rollover; cancel it first with "
                           "scepctl ca rollover --name %s --cancel",
                           name, name);
        goto cleanup;
    }
    if (scepctl_cert_from_pem(&current, row->cert_pem) < 0) {
        rc = scepctl_fail(ctx, "CA %s: the stored certificate is unreadable", name);
        goto cleanup;
    }
    if (external_cert != NULL) {
        const char *external_key = key_uri != NULL ? key_uri : scepctl_arg(args, "key");
        if (external_key == NULL) {
            rc =
                scepctl_usage(ctx, "--cert needs --key FILE (or --key-uri), the next certificate's "
                                   "key");
            goto cleanup;
        }
        unsigned warnings = 0;
        if (scep_ca_import(&next, &warnings, external_cert, external_key, NULL) < 0) {
            rc = scepctl_fail(ctx, "cannot read the next certificate");
            goto cleanup;
        }
        for (unsigned bit = 1; bit != 0 && bit <= warnings; bit <<= 1)
            if (warnings & bit)
                scepctl_warn(ctx, "%s", scep_ca_warning_text(bit));
    } else if (X509_check_issued(current, current) != X509_V_OK) {
        rc = scepctl_error(ctx,
                           "CA %s is a subordinate CA: scepctl cannot sign its next certificate. "
                           "Have its parent CA issue a certificate with the same subject for a "
                           "new RSA key and give it with --cert FILE --key FILE",
                           name);
        goto cleanup;
    } else if ((rc = next_root(ctx, &next, current, args)) != 0) {
        goto cleanup;
    }
    X509 *next_cert = scep_ca_cert(next);
    /* RFC 8894 §4.7: the next CA certificate replaces the current one for the same name. */
    if (X509_NAME_cmp(X509_get_subject_name(next_cert), X509_get_subject_name(current)) != 0) {
        rc = scepctl_error(ctx, "the next certificate's subject differs from CA %s's", name);
        goto cleanup;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(next_cert), X509_get0_pubkey(current)) == 1) {
        rc = scepctl_error(ctx, "the next certificate has the current key; a rollover needs a new "
                                "key");
        goto cleanup;
    }
    if (activate == NULL) {
        struct tm tm;
        activate_at = (long long)now + DEFAULT_LEAD_SECONDS;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(current), &tm) == 1 &&
            (long long)timegm(&tm) < activate_at)
            activate_at = (long long)timegm(&tm);
    }

    if ((mkdir(state_dir, 0700) != 0 && errno != EEXIST) ||
        (snprintf(cert_path, sizeof(cert_path), "%s/cas", state_dir) > 0 &&
         mkdir(cert_path, 0700) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
        rc = scepctl_error(ctx, "cannot create %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    char *real_dir = realpath(dir, NULL);
    if (real_dir == NULL) {
        rc = scepctl_error(ctx, "%s: %s", dir, strerror(errno));
        goto cleanup;
    }
    int too_long = (size_t)snprintf(cert_path, sizeof(cert_path), "%s/" NEXT_CERT_FILE, real_dir) >=
                       sizeof(cert_path) ||
                   (size_t)snprintf(key_path, sizeof(key_path), "%s/" NEXT_KEY_FILE, real_dir) >=
                       sizeof(key_path);
    free(real_dir);
    if (too_long) {
        rc = scepctl_error(ctx, "state_dir is too long");
        goto cleanup;
    }
    /* scep_ca_save never overwrites a key: a leftover next.key stops here. A token key stays
     * in its token and the store records its URI. */
    if (key_uri != NULL)
        snprintf(key_path, sizeof(key_path), "%s", key_uri);
    if (scep_ca_save(next, cert_path, key_uri != NULL ? NULL : key_path, NULL) < 0) {
        rc = scepctl_fail(ctx, "cannot save the next certificate of CA %s", name);
        goto cleanup;
    }
    if (cert_pem(&pem, next_cert) != 0 ||
        scep_store_ca_set_next(ctx->store, name, pem, key_path, activate_at) < 0) {
        rc = scepctl_fail(ctx, "cannot record the rollover of CA %s", name);
        if (key_uri == NULL)
            unlink(key_path);
        unlink(cert_path);
        goto cleanup;
    }
    char when[32];
    scepctl_format_time(when, activate_at);
    scepctl_audit(ctx, "ca_rollover", NULL, name);
    fprintf(ctx->out, "CA %s: next certificate scheduled\n", name);
    if (scep_cert_fingerprint(&sha256, next_cert, SCEP_FINGERPRINT_SHA256) == 0)
        fprintf(ctx->out, "Next SHA-256: %s\n", sha256);
    fprintf(ctx->out,
            "Certificate:  %s\nKey:          %s (%s)\nActivates:    %s\n"
            "GetNextCACert announces it until then.\n",
            cert_path, key_path, key_uri != NULL ? "in the token" : "mode 0600, not encrypted",
            when);
    scepctl_reload_hint(ctx);

cleanup:
    OPENSSL_free(sha256);
    free(pem);
    scep_ca_free(next);
    X509_free(current);
    scep_store_ca_free(row);
    return rc;
}

const struct scepctl_option scepctl_ca_rollover_options[SCEPCTL_CA_ROLLOVER_OPTIONS] = {
    {"name", "NAME", true, "the CA"},
    {"activate-at", "TIME", false,
     "when the next certificate takes over: now, @UNIXTIME, +30d, YYYY-MM-DD[THH:MM:SSZ] "
     "(default: in 30 days, or the current notAfter if sooner)"},
    {"key", "TYPE|FILE", false,
     "new root key: rsa:3072 (default), rsa:2048, rsa:4096; with --cert: the next key file"},
    {"key-uri", "URI", false,
     "the next key in a PKCS#11 token: generated there for a root (pkcs11:token=T;object=O), "
     "or the key of --cert"},
    {"days", "N", false, "validity of a new root certificate in days (default 3650)"},
    {"cert", "FILE", false, "subordinate CA: the next certificate its parent issued (PEM)"},
    {"cancel", NULL, false, "forget the scheduled rollover and delete next.pem/next.key"},
};
