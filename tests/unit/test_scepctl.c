#include "scepctl_run.h"
#include "test_support.h"

#include "scep/ca.h"
#include "scep/store.h"
#include "scepctl/scepctl.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * scepctl through scepctl_main() with its output captured: option parsing and
 * the commands whose data the integration script cannot create (certificates
 * in the store, revoked ones). tests/integration/scepctl.sh covers the rest.
 */
struct fixture {
    char *dir;
    char conf[4096];
    char url[4200];
    char out[65536];
    char err[8192];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = test_tmpdir();
    snprintf(f->conf, sizeof(f->conf), "%s/scepd.conf", f->dir);
    snprintf(f->url, sizeof(f->url), "sqlite:%s/scepd.db", f->dir);
    FILE *file = fopen(f->conf, "w");
    assert_non_null(file);
    fprintf(file, "database = %s\nstate_dir = %s/state\n", f->url, f->dir);
    assert_int_equal(fclose(file), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void slurp(char *buf, size_t size, FILE *file)
{
    rewind(file);
    size_t n = fread(buf, 1, size - 1, file);
    buf[n] = '\0';
    fclose(file);
}

/* Runs `scepctl -c CONF ARGS...` (NULL-terminated); returns the exit code. */
static int run(struct fixture *f, ...)
{
    va_list args;
    va_start(args, f);
    const char *first = va_arg(args, const char *);
    int rc = test_scepctl_v(f->conf, f->out, sizeof(f->out), f->err, sizeof(f->err), first, args);
    va_end(args);
    return rc;
}

static void test_usage_errors(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run(f, "ca", "nosuch", NULL), SCEPCTL_EXIT_USAGE);
    assert_non_null(strstr(f->err, "unknown command"));
    assert_int_equal(run(f, "ca", "init", "--name", "X", NULL), SCEPCTL_EXIT_USAGE);
    assert_non_null(strstr(f->err, "--subject DN is required"));
    assert_int_equal(run(f, "ca", "init", "--name", "X", "--name", "Y", "--subject", "CN=x", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "ee", "list", "--generate-password", NULL), SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "ca", "list", "extra", NULL), SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "ca", "init", "--name", "../x", "--subject", "CN=x", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(
        run(f, "ca", "init", "--name", "X", "--subject", "CN=x", "--key", "dsa:1024", NULL),
        SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "ca", "init", "--name", "X", "--subject", "CN=x", "--days", "0", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "ca", "--help", NULL), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->out, "import"));
    /* Nothing was created by any of the refused commands. */
    assert_int_equal(run(f, "ca", "list", NULL), SCEPCTL_EXIT_OK);
    assert_string_equal(f->out, "");
}

static void test_password_options(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        run(f, "ca", "init", "--name=Demo", "--subject=CN=Demo", "--key=ec:P-256", NULL),
        SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->err, "RSA")); /* an EC CA cannot decrypt SCEP requests */
    assert_int_equal(run(f, "ee", "add", "--username", "u", "--dn", "CN=u", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "ee", "add", "--username", "u", "--dn", "CN=u", "--password", "p",
                         "--generate-password", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(
        run(f, "ee", "add", "--username", "u", "--dn", "not a dn", "--password", "p", NULL),
        SCEPCTL_EXIT_ERROR);
    assert_int_equal(run(f, "ee", "add", "--username", "u", "--dn", "CN=u", "--password",
                         "Secret-1", "--profile", "server", NULL),
                     SCEPCTL_EXIT_OK);
    assert_null(strstr(f->out, "Secret-1"));

    /* The stored hash accepts the password given, and a generated one is printed once. */
    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, f->url), SCEP_OK);
    assert_int_equal(scep_store_ee_verify_password(NULL, store, "u", "Secret-1"), SCEP_OK);
    assert_int_equal(run(f, "ee", "reset", "--username", "u", "--generate-password", NULL),
                     SCEPCTL_EXIT_OK);
    const char *line = strstr(f->out, "Password: ");
    assert_non_null(line);
    char generated[SCEPCTL_GENERATED_PASSWORD_LEN + 1];
    memcpy(generated, line + 10, SCEPCTL_GENERATED_PASSWORD_LEN);
    generated[SCEPCTL_GENERATED_PASSWORD_LEN] = '\0';
    assert_int_equal(scep_store_ee_verify_password(NULL, store, "u", generated), SCEP_OK);
    assert_int_equal(scep_store_ee_verify_password(NULL, store, "u", "Secret-1"), SCEP_EDENIED);
    scep_store_close(store);
}

static void test_generated_passwords_differ(void **state)
{
    (void)state;
    char a[SCEPCTL_GENERATED_PASSWORD_LEN + 1], b[SCEPCTL_GENERATED_PASSWORD_LEN + 1];
    assert_int_equal(scepctl_generate_password(a), 0);
    assert_int_equal(scepctl_generate_password(b), 0);
    assert_int_equal(strlen(a), SCEPCTL_GENERATED_PASSWORD_LEN);
    assert_string_not_equal(a, b);
}

static void test_cert_list_and_show(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(run(f, "ca", "init", "--name", "Demo", "--subject", "CN=Demo CA,O=Example",
                         "--key", "rsa:2048", NULL),
                     SCEPCTL_EXIT_OK);

    /* Store the CA certificate itself as an issued certificate: real DER, known serial. */
    scep_store *store = NULL;
    scep_store_ca *ca = NULL;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    char serial[SCEP_SERIAL_HEX_MAX];
    assert_int_equal(scep_store_open(&store, f->url), SCEP_OK);
    assert_int_equal(scep_store_ca_get(&ca, store, "Demo"), SCEP_OK);
    assert_int_equal(scepctl_cert_from_pem(&cert, ca->cert_pem), SCEP_OK);
    assert_int_equal(scep_serial_to_hex(serial, X509_get0_serialNumber(cert)), SCEP_OK);
    int der_len = i2d_X509(cert, &der);
    assert_true(der_len > 0);
    scep_store_cert row = {.ca_name = "Demo",
                           .serial = serial,
                           .subject = "CN=Demo CA,O=Example",
                           .issuer = "CN=Demo CA,O=Example",
                           .not_before = 1,
                           .not_after = 2000000000,
                           .der = der,
                           .der_len = (size_t)der_len,
                           .username = "dev1"};
    assert_int_equal(scep_store_cert_add(store, &row), SCEP_OK);
    /* The store spells serials without leading zeros; scep_serial_to_hex keeps whole octets. */
    const char *listed = serial;
    while (*listed == '0')
        listed++;

    assert_int_equal(run(f, "cert", "list", NULL), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->out, listed));
    assert_non_null(strstr(f->out, "\tvalid\t"));
    assert_int_equal(run(f, "cert", "list", "--status", "revoked", NULL), SCEPCTL_EXIT_OK);
    assert_null(strstr(f->out, listed));

    /* Lower case with colons finds the same serial, without --ca. */
    char typed[3 * SCEP_SERIAL_HEX_MAX] = "";
    for (size_t i = 0; serial[i] != '\0'; i += 2) {
        size_t n = strlen(typed);
        snprintf(typed + n, sizeof(typed) - n, "%s%c%c", i ? ":" : "", serial[i] | 0x20,
                 serial[i + 1] | 0x20);
    }
    assert_int_equal(run(f, "cert", "show", "--serial", typed, NULL), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->out, "Subject:      CN=Demo CA,O=Example"));
    assert_non_null(strstr(f->out, "Username:     dev1"));
    assert_non_null(strstr(f->out, "SHA-256:"));
    assert_non_null(strstr(f->out, "-----BEGIN CERTIFICATE-----"));

    assert_int_equal(scep_store_cert_revoke(store, "Demo", serial, 0, 1), SCEP_OK);
    assert_int_equal(run(f, "cert", "show", "--serial", serial, "--ca", "Demo", NULL),
                     SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->out, "Status:       revoked"));
    assert_int_equal(run(f, "cert", "list", "--status", "revoked", NULL), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->out, listed));
    assert_int_equal(run(f, "cert", "show", "--serial", "zz", NULL), SCEPCTL_EXIT_ERROR);

    OPENSSL_free(der);
    X509_free(cert);
    scep_store_ca_free(ca);
    scep_store_close(store);
}

/* challenge new/purge: 128 random bits printed once, only the hash stored, for one alias. */
static void test_challenge_commands(void **state)
{
    struct fixture *f = *state;
    FILE *file = fopen(f->conf, "a");
    assert_non_null(file);
    fprintf(file, "ndes.operationmode = ra\nndes.ra.onetimechallenges = require\n"
                  "camode.operationmode = ca\n");
    assert_int_equal(fclose(file), 0);

    assert_int_equal(run(f, "challenge", "new", NULL), SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "challenge", "new", "--alias", "ndes", "--ttl", "0", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "challenge", "new", "--alias", "ndes", "--ttl", "31d", NULL),
                     SCEPCTL_EXIT_USAGE);
    assert_int_equal(run(f, "challenge", "new", "--alias", "nosuch", NULL), SCEPCTL_EXIT_ERROR);
    assert_non_null(strstr(f->err, "no alias nosuch"));
    assert_int_equal(run(f, "challenge", "new", "--alias", "camode", NULL), SCEPCTL_EXIT_OK);
    assert_non_null(strstr(f->err, "operationmode is not ra"));

    assert_int_equal(run(f, "challenge", "new", "--alias", "ndes", "--ttl", "10m",
                         "--subject-pattern", "CN=kiosk-*", NULL),
                     SCEPCTL_EXIT_OK);
    char challenge[64];
    assert_int_equal(strlen(f->out), 33);
    assert_int_equal(f->out[32], '\n');
    memcpy(challenge, f->out, 32);
    challenge[32] = '\0';
    for (size_t i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", challenge[i]));
    assert_non_null(strstr(f->err, "CN=kiosk-*"));
    assert_int_equal(run(f, "challenge", "new", "--alias", "ndes", NULL), SCEPCTL_EXIT_OK);
    assert_int_not_equal(strncmp(f->out, challenge, 32), 0);

    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, f->url), SCEP_OK);
    /* Valid for its alias only, once, with the pattern it was made with. */
    assert_int_equal(scep_store_challenge_consume(NULL, store, "camode", challenge), SCEP_EDENIED);
    char *pattern = NULL;
    assert_int_equal(scep_store_challenge_consume(&pattern, store, "ndes", challenge), SCEP_OK);
    assert_string_equal(pattern, "CN=kiosk-*");
    OPENSSL_free(pattern);
    assert_int_equal(scep_store_challenge_consume(NULL, store, "ndes", challenge), SCEP_ESTATE);
    /* The audit trail names the alias, never the challenge. */
    scep_store_audit_event *events = NULL;
    size_t count = 0;
    assert_int_equal(scep_store_audit_list(&events, &count, store, 0), SCEP_OK);
    size_t news = 0;
    for (size_t i = 0; i < count; i++) {
        news += strcmp(events[i].action, "challenge_new") == 0;
        assert_null(events[i].detail != NULL ? strstr(events[i].detail, challenge) : NULL);
    }
    assert_int_equal(news, 3);
    scep_store_audit_list_free(events, count);
    assert_int_equal(scep_store_challenge_add(store, "ndes", "old-one", 1, NULL), SCEP_OK);
    scep_store_close(store);
    assert_int_equal(run(f, "challenge", "purge", NULL), SCEPCTL_EXIT_OK);
    assert_string_equal(f->out, "1 expired challenge removed\n");
}

/* SANs a client put in its CSR reach the operator's terminal with controls escaped. */
static void test_sans_printed_escaped(void **state)
{
    (void)state;
    GENERAL_NAMES *names = NULL;
    assert_int_equal(scep_san_parse(&names, "dns:a.example,ip:192.0.2.1"), SCEP_OK);
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    assert_non_null(gn);
    assert_non_null(ia5);
    assert_int_equal(ASN1_STRING_set(ia5, "evil\x1b]0;title\x07.example", -1), 1);
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    assert_true(sk_GENERAL_NAME_push(names, gn) > 0);
    X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
    assert_non_null(ext);

    char buf[512];
    struct scepctl ctx = {0};
    ctx.out = tmpfile();
    assert_non_null(ctx.out);
    scepctl_print_sans(&ctx, ext);
    slurp(buf, sizeof(buf), ctx.out);
    assert_string_equal(buf, "SANs:         dns:a.example,ip:192.0.2.1,"
                             "dns:evil\\x1B]0;title\\x07.example\n");
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(names);
}

#define SCEPCTL_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SCEPCTL_TEST(test_usage_errors),
        SCEPCTL_TEST(test_password_options),
        cmocka_unit_test(test_generated_passwords_differ),
        SCEPCTL_TEST(test_cert_list_and_show),
        SCEPCTL_TEST(test_challenge_commands),
        cmocka_unit_test(test_sans_printed_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
