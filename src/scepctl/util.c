/*
 * What every scepctl command shares: error output, the configuration and the
 * store opened on first use, the atomic rewrite of the configuration file,
 * passwords, and printing certificates.
 */
#include "scepctl/scepctl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "scep/ca.h"
#include "scep/error.h"
#include "scep/fingerprint.h"

/* ---- messages ------------------------------------------------------------------------------- */

static void vmessage(struct scepctl *ctx, const char *prefix, const char *fmt, va_list ap,
                     bool with_library_error) __attribute__((format(printf, 3, 0)));

static void vmessage(struct scepctl *ctx, const char *prefix, const char *fmt, va_list ap,
                     bool with_library_error)
{
    /* Read it first: nothing below may call libscep before it is printed. */
    const char *library = with_library_error ? scep_error_message() : "";
    fprintf(ctx->err, "scepctl: %s", prefix);
    vfprintf(ctx->err, fmt, ap);
    if (library[0] != '\0')
        fprintf(ctx->err, ": %s", library);
    fputc('\n', ctx->err);
}

int scepctl_error(struct scepctl *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(ctx, "", fmt, ap, false);
    va_end(ap);
    return SCEPCTL_EXIT_ERROR;
}

int scepctl_fail(struct scepctl *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(ctx, "", fmt, ap, true);
    va_end(ap);
    return SCEPCTL_EXIT_ERROR;
}

int scepctl_usage(struct scepctl *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(ctx, "", fmt, ap, false);
    va_end(ap);
    fprintf(ctx->err, "Try 'scepctl%s%s%s%s --help'.\n", ctx->group_name ? " " : "",
            ctx->group_name ? ctx->group_name : "", ctx->command_name ? " " : "",
            ctx->command_name ? ctx->command_name : "");
    return SCEPCTL_EXIT_USAGE;
}

void scepctl_warn(struct scepctl *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(ctx, "warning: ", fmt, ap, false);
    va_end(ap);
}

/* ---- configuration and store ------------------------------------------------------------- */

int scepctl_load_config(struct scepctl *ctx)
{
    if (ctx->config != NULL)
        return 0;
    const char *path = ctx->config_path;
    if (path == NULL) {
        if (access(SCEPCTL_DEFAULT_CONFIG, F_OK) != 0)
            return scepctl_usage(ctx,
                                 "no configuration file: pass --config FILE (%s does not exist)",
                                 SCEPCTL_DEFAULT_CONFIG);
        path = SCEPCTL_DEFAULT_CONFIG;
    }
    /* Resolved once, so that a rewrite replaces the file and not a symlink to it. */
    ctx->resolved_config = realpath(path, NULL);
    if (ctx->resolved_config == NULL)
        return scepctl_error(ctx, "%s: %s", path, strerror(errno));
    if (scep_config_load(&ctx->config, ctx->resolved_config) < 0)
        return scepctl_fail(ctx, "cannot load the configuration");
    const struct scep_config_global *global = scep_config_global_values(ctx->config);
    if (scep_pkcs11_configure(global->pkcs11_module, global->pkcs11_pin_file) < 0)
        return scepctl_fail(ctx, "cannot set up PKCS#11");
    for (size_t i = 0; i < scep_config_warning_count(ctx->config); i++)
        scepctl_warn(ctx, "%s", scep_config_warning(ctx->config, i));
    return 0;
}

int scepctl_open_store(struct scepctl *ctx)
{
    if (ctx->store != NULL)
        return 0;
    int rc = scepctl_load_config(ctx);
    if (rc != 0)
        return rc;
    if (scep_config_store_open(&ctx->store, ctx->config, 0) < 0)
        return scepctl_fail(ctx, "cannot open the store");
    return 0;
}

void scepctl_actor(char *out, size_t size)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw != NULL)
        snprintf(out, size, "scepctl:%s", pw->pw_name);
    else
        snprintf(out, size, "scepctl:uid%ld", (long)geteuid());
}

void scepctl_audit(struct scepctl *ctx, const char *action, const char *alias, const char *detail)
{
    /* Alias commands need no store otherwise: one that cannot be opened only costs the event. */
    if (ctx->store == NULL &&
        (ctx->config == NULL || scep_config_store_open(&ctx->store, ctx->config, 0) < 0)) {
        scepctl_warn(ctx, "the audit event was not recorded: %s", scep_error_message());
        return;
    }
    char actor[96];
    scepctl_actor(actor, sizeof(actor));
    scep_store_audit_event event = {
        .actor = actor, .action = action, .alias = alias, .outcome = "ok", .detail = detail};
    /* The change itself is done; a failed audit row is reported, not fatal. */
    if (scep_store_audit_append(ctx->store, &event) < 0)
        scepctl_warn(ctx, "the audit event was not recorded: %s", scep_error_message());
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int scepctl_save_config(struct scepctl *ctx)
{
    int rc = SCEPCTL_EXIT_ERROR;
    char *text = NULL;
    char *dir = NULL;
    char temp[PATH_MAX];
    int fd = -1;
    int dir_fd = -1;
    bool temp_exists = false;
    const char *path = ctx->resolved_config;
    struct stat st;

    if (scep_config_format(ctx->config, 0, &text) < 0) {
        rc = scepctl_fail(ctx, "cannot format the configuration");
        goto cleanup;
    }
    if (stat(path, &st) != 0) {
        rc = scepctl_error(ctx, "%s: %s", path, strerror(errno));
        goto cleanup;
    }
    if ((size_t)snprintf(temp, sizeof(temp), "%s.XXXXXX", path) >= sizeof(temp)) {
        rc = scepctl_error(ctx, "%s: path too long", path);
        goto cleanup;
    }
    fd = mkstemp(temp);
    if (fd < 0) {
        rc = scepctl_error(ctx, "cannot create a file beside %s: %s", path, strerror(errno));
        goto cleanup;
    }
    temp_exists = true;
    /* The daemon must still be able to read it: keep the original's mode and owner. */
    if (fchmod(fd, st.st_mode & 07777) != 0 ||
        ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
         fchown(fd, st.st_uid, st.st_gid) != 0)) {
        rc = scepctl_error(ctx, "cannot give %s the mode and owner of %s: %s", temp, path,
                           strerror(errno));
        goto cleanup;
    }
    if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        rc = scepctl_error(ctx, "cannot write %s: %s", temp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = scepctl_error(ctx, "cannot write %s: %s", temp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (rename(temp, path) != 0) {
        rc = scepctl_error(ctx, "cannot replace %s: %s", path, strerror(errno));
        goto cleanup;
    }
    temp_exists = false;
    /* The rename is durable once the directory entry is. */
    dir = strdup(path);
    if (dir != NULL) {
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *(slash == dir ? slash + 1 : slash) = '\0';
            dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
            if (dir_fd >= 0)
                (void)fsync(dir_fd);
        }
    }
    rc = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    if (dir_fd >= 0)
        close(dir_fd);
    if (temp_exists)
        unlink(temp);
    if (text != NULL)
        OPENSSL_cleanse(text, strlen(text)); /* it holds the secrets in clear */
    free(text);
    free(dir);
    return rc;
}

void scepctl_reload_hint(struct scepctl *ctx)
{
    const struct scep_config_global *global = scep_config_global_values(ctx->config);
    /* scepd's watcher reloads on a changed file or store (state/watch.c) unless turned off. */
    if (global->store_poll_interval > 0) {
        fprintf(ctx->out, "A running scepd reloads within %llds (store_poll_interval)\n",
                (long long)global->store_poll_interval);
        return;
    }
    const char *pid_file = global->pid_file;
    if (pid_file != NULL && pid_file[0] != '\0')
        fprintf(ctx->out, "Reload a running scepd to apply: kill -HUP $(cat %s)\n", pid_file);
    else
        fprintf(ctx->out, "Reload a running scepd to apply: send it SIGHUP\n");
}

/* ---- passwords ---------------------------------------------------------------------------- */

int scepctl_generate_password(char out[SCEPCTL_GENERATED_PASSWORD_LEN + 1])
{
    return scep_ee_generate_password(out) == SCEP_OK ? 0 : -1;
}

static int read_password_line(struct scepctl *ctx, char *out)
{
    struct termios saved;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        struct termios quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fprintf(ctx->err, "Password: ");
        fflush(ctx->err);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(out, SCEPCTL_PASSWORD_MAX + 1, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', ctx->err);
    }
    if (line == NULL)
        return scepctl_error(ctx, "no password on standard input");
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == '\n')
        out[--len] = '\0';
    else if (!feof(stdin))
        return scepctl_error(ctx, "the password is longer than %d characters",
                             SCEPCTL_PASSWORD_MAX);
    if (len > 0 && out[len - 1] == '\r')
        out[--len] = '\0';
    return 0;
}

int scepctl_password(struct scepctl *ctx, char *out, const struct scepctl_args *args)
{
    const char *given = scepctl_arg(args, "password");
    bool generate = scepctl_arg(args, "generate-password") != NULL;
    if ((given == NULL) == !generate)
        return scepctl_usage(ctx, "pass exactly one of --password and --generate-password");
    if (generate) {
        if (scepctl_generate_password(out) != 0)
            return scepctl_error(ctx, "the random generator failed");
        return 0;
    }
    if (strcmp(given, "-") == 0) {
        int rc = read_password_line(ctx, out);
        if (rc != 0)
            return rc;
    } else {
        if (strlen(given) > SCEPCTL_PASSWORD_MAX)
            return scepctl_error(ctx, "the password is longer than %d characters",
                                 SCEPCTL_PASSWORD_MAX);
        memcpy(out, given, strlen(given) + 1);
    }
    if (out[0] == '\0')
        return scepctl_error(ctx, "the password is empty");
    for (const char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return scepctl_error(ctx, "the password contains a control character");
    return 0;
}

/* ---- times and certificates --------------------------------------------------------------- */

void scepctl_format_time(char out[32], long long unix_time)
{
    time_t t = (time_t)unix_time;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", unix_time);
}

void scepctl_format_asn1_time(char out[32], const ASN1_TIME *time)
{
    struct tm tm;
    if (time == NULL || ASN1_TIME_to_tm(time, &tm) != 1 ||
        strftime(out, 32, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

int scepctl_cert_from_pem(X509 **out, const char *pem)
{
    if (pem == NULL)
        return SCEP_EINVAL;
    return scep_cert_decode(out, (const unsigned char *)pem, strlen(pem));
}

static void print_key(struct scepctl *ctx, X509 *cert)
{
    EVP_PKEY *key = X509_get0_pubkey(cert);
    if (key == NULL) {
        fprintf(ctx->out, "Key:          unknown\n");
        return;
    }
    char curve[64] = "";
    size_t curve_len = 0;
    if (EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve), &curve_len) == 1)
        fprintf(ctx->out, "Key:          EC %s\n", curve);
    else
        fprintf(ctx->out, "Key:          %s %d bits\n", EVP_PKEY_get0_type_name(key),
                EVP_PKEY_get_bits(key));
}

void scepctl_print_sans(struct scepctl *ctx, X509_EXTENSION *ext)
{
    GENERAL_NAMES *names = X509V3_EXT_d2i(ext);
    char *text = NULL;
    if (names != NULL && scep_san_format(&text, names, ',') == SCEP_OK)
        fprintf(ctx->out, "SANs:         %s\n", text);
    else
        fprintf(ctx->out, "SANs:         (unreadable)\n");
    OPENSSL_free(text);
    GENERAL_NAMES_free(names);
    ERR_clear_error();
}

static void print_sans(struct scepctl *ctx, X509 *cert)
{
    int index = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
    if (index >= 0)
        scepctl_print_sans(ctx, X509_get_ext(cert, index));
}

int scepctl_print_cert_summary(struct scepctl *ctx, X509 *cert)
{
    char *subject = NULL, *issuer = NULL, *sha256 = NULL, *sha1 = NULL;
    char serial[SCEP_SERIAL_HEX_MAX] = "?";
    char not_before[32], not_after[32];
    int rc = SCEPCTL_EXIT_ERROR;

    if (scep_dn_format(&subject, X509_get_subject_name(cert)) < 0 ||
        scep_dn_format(&issuer, X509_get_issuer_name(cert)) < 0 ||
        scep_cert_fingerprint(&sha256, cert, SCEP_FINGERPRINT_SHA256) < 0 ||
        scep_cert_fingerprint(&sha1, cert, SCEP_FINGERPRINT_SHA1) < 0) {
        rc = scepctl_fail(ctx, "cannot read the certificate");
        goto cleanup;
    }
    if (scep_serial_to_hex(serial, X509_get0_serialNumber(cert)) < 0)
        snprintf(serial, sizeof(serial), "(invalid)");
    scepctl_format_asn1_time(not_before, X509_get0_notBefore(cert));
    scepctl_format_asn1_time(not_after, X509_get0_notAfter(cert));
    fprintf(ctx->out,
            "Subject:      %s\n"
            "Issuer:       %s\n"
            "Serial:       %s\n"
            "Not before:   %s\n"
            "Not after:    %s\n",
            subject, issuer, serial, not_before, not_after);
    print_key(ctx, cert);
    print_sans(ctx, cert);
    fprintf(ctx->out, "SHA-256:      %s\nSHA-1:        %s\n", sha256, sha1);
    rc = 0;

cleanup:
    OPENSSL_free(subject);
    OPENSSL_free(issuer);
    OPENSSL_free(sha256);
    OPENSSL_free(sha1);
    return rc;
}

int scepctl_print_pem(struct scepctl *ctx, X509 *cert)
{
    BIO *bio = BIO_new_fp(ctx->out, BIO_NOCLOSE);
    int ok = bio != NULL && PEM_write_bio_X509(bio, cert) == 1;
    BIO_free(bio);
    if (!ok) {
        ERR_clear_error();
        return scepctl_error(ctx, "cannot write the certificate as PEM");
    }
    return 0;
}

bool scepctl_ca_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 64 || name[0] == '.')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}
