#include "test_support.h"

#include "config/config.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#define DOC_BEGIN "<!-- BEGIN GENERATED SETTINGS: scep_config_markdown() -->\n"
#define DOC_END   "<!-- END GENERATED SETTINGS -->\n"

static scep_config *parse_ok(const char *text)
{
    scep_config *cfg = NULL;
    int rc = scep_config_parse(&cfg, "scepd.conf", text, strlen(text));
    if (rc != 0)
        fail_msg("parse failed: %s", scep_error_message());
    return cfg;
}

/* Parses `text`, expects `code` and a message equal to `message`. */
static void parse_fails(const char *text, int code, const char *message)
{
    scep_config *cfg = NULL;
    int rc = scep_config_parse(&cfg, "scepd.conf", text, strlen(text));
    assert_int_equal(rc, code);
    assert_null(cfg);
    assert_string_equal(scep_error_message(), message);
}

/* The store password file: private, not empty, and only for a backend that takes one. */
static void database_password_file_is_checked(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4096], text[8300];
    snprintf(path, sizeof(path), "%s/db.pass", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret\n", f);
    fclose(f);
    snprintf(text, sizeof(text), "database = sqlite:%s/store.db\ndatabase_password_file = %s\n",
             dir, path);
    scep_config *cfg = parse_ok(text);
    scep_store *store = NULL;

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(scep_config_store_open(&store, cfg, 0), SCEP_EPERM);
    assert_non_null(strstr(scep_error_message(), "accessible by group or others"));
    assert_null(strstr(scep_error_message(), "s3cret"));

    assert_int_equal(chmod(path, 0600), 0);
    scep_store_open_options options;
    char *password = NULL;
    assert_int_equal(scep_config_store_options(&options, &password, cfg, 1), SCEP_OK);
    assert_string_equal(password, "s3cret");
    assert_ptr_equal(options.password, password);
    assert_int_equal(options.must_exist, 1);
    OPENSSL_clear_free(password, strlen(password) + 1);
    /* SQLite has no password: a configured one is a mistake, not ignored. */
    assert_int_equal(scep_config_store_open(&store, cfg, 0), SCEP_ECONFIG);
    assert_null(store);

    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(scep_config_store_open(&store, cfg, 0), SCEP_EINVAL);
    assert_non_null(strstr(scep_error_message(), "empty"));
    scep_config_free(cfg);
    test_rmdir(dir);
    free(dir);
}

static void defaults_come_from_the_table(void **state)
{
    (void)state;
    scep_config *cfg = NULL;
    assert_int_equal(scep_config_new(&cfg), 0);
    const struct scep_config_global *g = scep_config_global_values(cfg);
    assert_int_equal(g->listen.count, 1);
    assert_string_equal(g->listen.items[0], "127.0.0.1:8080");
    assert_string_equal(g->database, "sqlite:/var/lib/scepd/scepd.db");
    assert_int_equal(g->threads, 0);
    assert_int_equal(g->max_body, 1024 * 1024);
    assert_int_equal(g->connection_timeout, 30);
    assert_int_equal(g->request_timeout, 60);
    assert_int_equal(g->log_level, SCEP_CONFIG_LOG_INFO);
    assert_null(g->pid_file);
    assert_false(g->legacy_algorithms);

    assert_int_equal(scep_config_alias_add(cfg, "a"), 0);
    assert_int_equal(scep_config_alias_add(cfg, "a"), SCEP_EEXISTS);
    assert_int_equal(scep_config_alias_add(cfg, "bad.name"), SCEP_ECONFIG);
    const struct scep_config_alias_settings *a = scep_config_alias(cfg, "a");
    assert_non_null(a);
    assert_int_equal(a->operationmode, SCEP_ALIAS_MODE_CA);
    assert_true(a->includeca);
    assert_true(a->includeroot);
    assert_string_equal(a->certificateprofile, "ENDUSER");
    assert_string_equal(a->ra_certificateprofile, "ENDUSER");
    assert_int_equal(a->ra_namegenerationscheme, SCEP_ALIAS_NAME_DN);
    assert_int_equal(a->approval, SCEP_ALIAS_APPROVAL_AUTO);
    assert_int_equal(a->usernamefield.count, 1);
    assert_string_equal(a->usernamefield.items[0], "CN");
    assert_int_equal(a->pendingexpiry, 7 * 86400);
    assert_null(a->ra_authpwd);
    assert_null(scep_config_alias(cfg, "b"));
    scep_config_free(cfg);
}

/* The C enums in config.h must follow the order of the `allowed` column. */
static void enum_constants_match_allowed_order(void **state)
{
    (void)state;
    scep_config *cfg = NULL;
    assert_int_equal(scep_config_new(&cfg), 0);
    assert_int_equal(scep_config_alias_add(cfg, "a"), 0);
    const struct scep_config_alias_settings *a = scep_config_alias(cfg, "a");
    const struct scep_config_global *g = scep_config_global_values(cfg);
    static const struct {
        const char *key, *value;
        int expect;
    } global_cases[] = {{"log_level", "error", SCEP_CONFIG_LOG_ERROR},
                        {"log_level", "warn", SCEP_CONFIG_LOG_WARN},
                        {"log_level", "info", SCEP_CONFIG_LOG_INFO},
                        {"log_level", "DEBUG", SCEP_CONFIG_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(global_cases) / sizeof(global_cases[0]); i++) {
        assert_int_equal(scep_config_set(cfg, NULL, global_cases[i].key, global_cases[i].value), 0);
        assert_int_equal(g->log_level, global_cases[i].expect);
    }
    assert_int_equal(scep_config_set(cfg, "a", "operationmode", "ra"), 0);
    assert_int_equal(a->operationmode, SCEP_ALIAS_MODE_RA);
    assert_int_equal(scep_config_set(cfg, "a", "operationmode", "CA"), 0);
    assert_int_equal(a->operationmode, SCEP_ALIAS_MODE_CA);
    const char *schemes[] = {"DN", "RANDOM", "FIXED", "USERNAME"};
    const int scheme_values[] = {SCEP_ALIAS_NAME_DN, SCEP_ALIAS_NAME_RANDOM, SCEP_ALIAS_NAME_FIXED,
                                 SCEP_ALIAS_NAME_USERNAME};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(scep_config_set(cfg, "a", "ra.namegenerationscheme", schemes[i]), 0);
        assert_int_equal(a->ra_namegenerationscheme, scheme_values[i]);
    }
    assert_int_equal(scep_config_set(cfg, "a", "approval", "manual"), 0);
    assert_int_equal(a->approval, SCEP_ALIAS_APPROVAL_MANUAL);
    scep_config_free(cfg);
}

static void example_file_loads_with_typed_values(void **state)
{
    (void)state;
    scep_config *cfg = NULL;
    int rc = scep_config_load(&cfg, test_path("data/scepd-example.conf"));
    if (rc != 0)
        fail_msg("%s", scep_error_message());
    const struct scep_config_global *g = scep_config_global_values(cfg);
    assert_int_equal(g->listen.count, 2);
    assert_string_equal(g->listen.items[1], "[::1]:8080");
    assert_int_equal(g->threads, 4);
    assert_int_equal(g->max_body, 256 * 1024);
    assert_int_equal(g->connection_timeout, 15);
    assert_int_equal(g->request_timeout, 60);
    assert_string_equal(g->pid_file, "/run/scepd.pid");

    assert_int_equal(scep_config_alias_count(cfg), 2);
    assert_string_equal(scep_config_alias_name(cfg, 0), "routers");
    assert_string_equal(scep_config_alias_name(cfg, 1), "mdm");
    assert_null(scep_config_alias_name(cfg, 2));
    const struct scep_config_alias_settings *r = scep_config_alias(cfg, "routers");
    assert_int_equal(r->operationmode, SCEP_ALIAS_MODE_RA);
    assert_string_equal(r->ra_authpwd, "s3cret=with=equals");
    assert_false(r->includeca);
    assert_int_equal(r->usernamefield.count, 2);
    assert_string_equal(r->usernamefield.items[0], "serialNumber");
    assert_string_equal(r->usernamefield.items[1], "CN");
    const struct scep_config_alias_settings *m = scep_config_alias(cfg, "mdm");
    assert_int_equal(m->approval, SCEP_ALIAS_APPROVAL_MANUAL);
    assert_int_equal(m->pendingexpiry, 2 * 86400);
    assert_true(m->clientcertificaterenewal);
    assert_int_equal(scep_config_warning_count(cfg), 0);
    scep_config_free(cfg);
}

static void format_round_trips(void **state)
{
    (void)state;
    static const char text[] = "listen = 0.0.0.0:80,[::]:80\n"
                               "max_body = 2048\n"
                               "request_timeout = 1800s\n"
                               "legacy_algorithms = yes\n"
                               "state_dir = \\  leading blank and back\\\\slash\n"
                               "x.ra.authPwd = pw with trailing blank\\ \n"
                               "x.usernamefield = serialnumber , cn\n"
                               "x.legacy = on\n"
                               "x.ra.namegenerationprefix = \\u00e9t\\u00E9-\n";
    scep_config *cfg = parse_ok(text);
    const struct scep_config_global *g = scep_config_global_values(cfg);
    assert_string_equal(g->state_dir, "  leading blank and back\\slash");
    assert_string_equal(scep_config_alias(cfg, "x")->ra_namegenerationprefix, "\xc3\xa9t\xc3\xa9-");
    char *out = NULL;
    assert_int_equal(scep_config_format(cfg, 0, &out), 0);
    assert_string_equal(out, "listen = 0.0.0.0:80, [::]:80\n"
                             "max_body = 2K\n"
                             "request_timeout = 30m\n"
                             "state_dir = \\  leading blank and back\\\\slash\n"
                             "legacy_algorithms = true\n"
                             "\n# alias x\n"
                             "x.ra.authPwd = pw with trailing blank\\ \n"
                             "x.ra.namegenerationprefix = \xc3\xa9t\xc3\xa9-\n"
                             "x.usernamefield = serialNumber, CN\n"
                             "x.legacy = true\n");
    scep_config *again = parse_ok(out);
    char *out2 = NULL;
    assert_int_equal(scep_config_format(again, 0, &out2), 0);
    assert_string_equal(out, out2);
    assert_string_equal(scep_config_global_values(again)->state_dir, g->state_dir);

    /* With defaults, masked: every key appears once, the secret does not. */
    char *full = NULL;
    assert_int_equal(
        scep_config_format(cfg, SCEP_CONFIG_WITH_DEFAULTS | SCEP_CONFIG_MASK_SECRETS, &full), 0);
    assert_non_null(strstr(full, "\nthreads = 0\n"));
    assert_non_null(strstr(full, "\nx.ra.authPwd = ********\n"));
    assert_non_null(strstr(full, "\nx.pendingexpiry = 7d\n"));
    assert_null(strstr(full, "= pw"));
    assert_string_equal(scep_config_alias(again, "x")->ra_authpwd, "pw with trailing blank ");
    scep_config *defaults = parse_ok(full);
    assert_int_equal(scep_config_global_values(defaults)->max_body, 2048);

    free(out);
    free(out2);
    free(full);
    scep_config_free(cfg);
    scep_config_free(again);
    scep_config_free(defaults);
}

static void bool_parser(void **state)
{
    (void)state;
    bool b = false;
    const char *yes[] = {"true", "TRUE", "yes", "on", "1"};
    const char *no[] = {"false", "False", "no", "off", "0"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(scep_config_parse_bool(&b, yes[i]), 0);
        assert_true(b);
        assert_int_equal(scep_config_parse_bool(&b, no[i]), 0);
        assert_false(b);
    }
    assert_int_equal(scep_config_parse_bool(&b, "maybe"), SCEP_ECONFIG);
    assert_string_equal(scep_error_message(), "expected true or false, got \"maybe\"");
    assert_int_equal(scep_config_parse_bool(&b, ""), SCEP_ECONFIG);
    assert_int_equal(scep_config_parse_bool(&b, "true "), SCEP_ECONFIG);
}

static void int_parser_bounds(void **state)
{
    (void)state;
    long long v = 99;
    assert_int_equal(scep_config_parse_int(&v, "0", 0, 1024), 0);
    assert_int_equal(v, 0);
    assert_int_equal(scep_config_parse_int(&v, "1024", 0, 1024), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(scep_config_parse_int(&v, "-5", -10, 10), 0);
    assert_int_equal(v, -5);
    assert_int_equal(scep_config_parse_int(&v, "+7", 0, 10), 0);
    assert_int_equal(v, 7);
    v = 99;
    const char *bad[] = {"1025", "-1", "abc", "", "12x", " 1", "1 ", "0x10", "99999999999999999999",
                         "--1",  "-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(scep_config_parse_int(&v, bad[i], 0, 1024), SCEP_ECONFIG);
        assert_int_equal(v, 99); /* untouched on error */
    }
    assert_int_equal(scep_config_parse_int(&v, "abc", 0, 1024), SCEP_ECONFIG);
    assert_string_equal(scep_error_message(),
                        "expected an integer between 0 and 1024, got \"abc\"");
}

static void size_parser_bounds(void **state)
{
    (void)state;
    long long v = 0;
    const long long max = 64LL * 1024 * 1024;
    assert_int_equal(scep_config_parse_size(&v, "1M", 1024, max), 0);
    assert_int_equal(v, 1024 * 1024);
    assert_int_equal(scep_config_parse_size(&v, "512k", 1024, max), 0);
    assert_int_equal(v, 512 * 1024);
    assert_int_equal(scep_config_parse_size(&v, "1024", 1024, max), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(scep_config_parse_size(&v, "64M", 1024, max), 0);
    assert_int_equal(v, max);
    assert_int_equal(scep_config_parse_size(&v, "3g", 0, 4LL << 30), 0);
    assert_int_equal(v, 3LL << 30);
    const char *bad[] = {
        "1023", "65M", "1G", "1T", "1MB", "-1K", "K", "", "1.5M", "9999999999999999G", " 1M"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(scep_config_parse_size(&v, bad[i], 1024, max), SCEP_ECONFIG);
    assert_string_equal(scep_error_message(),
                        "expected a size between 1K and 64M (bytes, or with K, M, G), got \" 1M\"");
}

static void duration_parser_bounds(void **state)
{
    (void)state;
    long long v = 0;
    const long long max = 365LL * 86400;
    static const struct {
        const char *text;
        long long seconds;
    } good[] = {{"30s", 30}, {"10m", 600}, {"1h", 3600}, {"7d", 604800},
                {"90", 90},  {"1S", 1},    {"2H", 7200}, {"365d", 365LL * 86400}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(scep_config_parse_duration(&v, good[i].text, 1, max), 0);
        assert_int_equal(v, good[i].seconds);
    }
    const char *bad[] = {"0s", "366d", "1w", "s", "", "-1s", "1h30m", "1.5h", "1 h", "1S2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(scep_config_parse_duration(&v, bad[i], 1, max), SCEP_ECONFIG);
    assert_int_equal(scep_config_parse_duration(&v, "0s", 60, max), SCEP_ECONFIG);
    assert_string_equal(
        scep_error_message(),
        "expected a duration between 1m and 365d (like 30s, 10m, 1h, 7d), got \"0s\"");
}

static void listen_parser(void **state)
{
    (void)state;
    struct scep_listen_addr a;
    assert_int_equal(scep_config_parse_listen(&a, "127.0.0.1:8080"), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 8080);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(scep_config_parse_listen(&a, "[::1]:8443"), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 8443);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(scep_config_parse_listen(&a, "[fe80::1%eth0]:80"), SCEP_ECONFIG);
    assert_int_equal(scep_config_parse_listen(&a, "[::]:0"), 0);
    assert_int_equal(a.port, 0);
    assert_int_equal(scep_config_parse_listen(&a, "localhost:65535"), 0);
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 65535);
    assert_int_equal(a.family, AF_UNSPEC);
    assert_int_equal(scep_config_parse_listen(&a, "scep-1.example.org:80"), 0);
    const char *bad[] = {
        "::1:8080", "[::1]",       "[::1]8080",     "127.0.0.1", "127.0.0.1:", ":8080",
        "1.2.3:80", "1.2.3.4:-1",  "1.2.3.4:65536", "[zz]:1",    "a_b:80",     "-host:80",
        "host.:80", "1.2.3.4:80x", "256.1.1.1:80",  "[]:80",     "host :80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (scep_config_parse_listen(&a, bad[i]) != SCEP_ECONFIG)
            fail_msg("accepted listen \"%s\"", bad[i]);
    }
}

static void errors_name_file_line_and_key(void **state)
{
    (void)state;
    parse_fails("# comment\n\nthreads = abc\n", SCEP_ECONFIG,
                "scepd.conf:3: threads: expected an integer between 0 and 1024, got \"abc\"");
    parse_fails("threads = 2000\n", SCEP_ECONFIG,
                "scepd.conf:1: threads: expected an integer between 0 and 1024, got \"2000\"");
    parse_fails("listen = 127.0.0.1:80, :80\n", SCEP_ECONFIG,
                "scepd.conf:1: listen: expected host:port, [IPv6]:port, port 0-65535, got \":80\"");
    parse_fails("listen = a:1,,b:2\n", SCEP_ECONFIG,
                "scepd.conf:1: listen: expected a comma-separated list without empty items, got "
                "\"a:1,,b:2\"");
    /* Both PostgreSQL spellings: a libpq URI and a keyword string. */
    scep_config_free(parse_ok("database = postgresql:///scep?host=/run/postgresql\n"));
    scep_config_free(parse_ok("database = postgresql:host=/run/postgresql dbname=scep\n"));
    parse_fails("database = postgresql:\n", SCEP_ECONFIG,
                "scepd.conf:1: database: expected sqlite:PATH or postgresql://..., got "
                "\"postgresql:\"");
    parse_fails("database = mysql://x\n", SCEP_ECONFIG,
                "scepd.conf:1: database: expected sqlite:PATH or postgresql://..., got "
                "\"mysql://x\"");
    parse_fails("log_level = verbose\n", SCEP_ECONFIG,
                "scepd.conf:1: log_level: expected one of error, warn, info, debug, got "
                "\"verbose\"");
    parse_fails("\n\nA.operationmode = both\n", SCEP_ECONFIG,
                "scepd.conf:3: A.operationmode: expected one of ca, ra, relay, got \"both\"");
    parse_fails("A.usernamefield = CN, nickname\n", SCEP_ECONFIG,
                "scepd.conf:1: A.usernamefield: expected items one of CN, serialNumber, UID, "
                "emailAddress, unstructuredName, unstructuredAddress, OU, O, DC, got \"nickname\"");
    parse_fails("A.pendingexpiry = 10s\n", SCEP_ECONFIG,
                "scepd.conf:1: A.pendingexpiry: expected a duration between 1m and 365d (like "
                "30s, 10m, 1h, 7d), got \"10s\"");
    parse_fails("A.includeca = \\\n  maybe\n", SCEP_ECONFIG,
                "scepd.conf:1: A.includeca: expected true or false, got \"maybe\"");
    /* A continued line reports where it started; the next entry keeps counting. */
    parse_fails("state_dir = /a\\\n  /b\nthreads = x\n", SCEP_ECONFIG,
                "scepd.conf:3: threads: expected an integer between 0 and 1024, got \"x\"");
    parse_fails("threads 4\n", SCEP_ECONFIG, "scepd.conf:1: expected key = value");
    parse_fails(" = 4\n", SCEP_ECONFIG, "scepd.conf:1: expected a key before '='");
    parse_fails("threads = 1\nthreads = 2\n", SCEP_ECONFIG,
                "scepd.conf:2: threads: set twice (first on line 1)");
    parse_fails("state_dir = a\\u12\n", SCEP_ECONFIG,
                "scepd.conf:1: value: malformed \\uXXXX escape");
    parse_fails("state_dir = \\u0001\n", SCEP_ECONFIG,
                "scepd.conf:1: state_dir: expected printable text, got a control character");
}

static void unknown_keys_rejected(void **state)
{
    (void)state;
    parse_fails("thread = 4\n", SCEP_ECONFIG, "scepd.conf:1: thread: unknown setting");
    parse_fails("a.includeCAs = true\n", SCEP_ECONFIG,
                "scepd.conf:1: a.includeCAs: unknown alias setting");
    parse_fails("bad alias.includeca = true\n", SCEP_ECONFIG,
                "scepd.conf:1: bad alias.includeca: alias name must be 1-64 characters of A-Z "
                "a-z 0-9 _ -");
    parse_fails(".includeca = true\n", SCEP_ECONFIG,
                "scepd.conf:1: .includeca: alias name must be 1-64 characters of A-Z a-z 0-9 _ -");
    /* Known EJBCA keys scepd lacks are accepted with a warning naming file, line and key. */
    scep_config *cfg = parse_ok("a.useIntune = true\na.ra.createOrEditUser=false\n");
    assert_int_equal(scep_config_warning_count(cfg), 2);
    assert_string_equal(scep_config_warning(cfg, 0),
                        "scepd.conf:1: a.useIntune: EJBCA setting not supported by scepd, ignored");
    assert_null(scep_config_warning(cfg, 2));
    scep_config_free(cfg);
}

static void alias_keys_are_case_insensitive(void **state)
{
    (void)state;
    scep_config *cfg = parse_ok("Routers.OPERATIONMODE = RA\n"
                                "Routers.ra.authpwd = x\n"
                                "Routers.RA.NameGenerationScheme = username\n"
                                "Routers.INCLUDECA = FALSE\n"
                                "Routers.allowclientcertificaterenewawitholdkey = true\n"
                                "Routers.RA.ENTITYPROFILE = EEP\n"
                                "LOG_LEVEL = DEBUG\n");
    const struct scep_config_alias_settings *a = scep_config_alias(cfg, "Routers");
    assert_non_null(a);
    assert_null(scep_config_alias(cfg, "routers")); /* alias names are exact */
    assert_int_equal(a->operationmode, SCEP_ALIAS_MODE_RA);
    assert_string_equal(a->ra_authpwd, "x");
    assert_int_equal(a->ra_namegenerationscheme, SCEP_ALIAS_NAME_USERNAME);
    assert_false(a->includeca);
    assert_true(a->allowclientcertificaterenewawitholdkey);
    assert_string_equal(a->ra_endentityprofile, "EEP");
    assert_int_equal(scep_config_global_values(cfg)->log_level, SCEP_CONFIG_LOG_DEBUG);
    scep_config_free(cfg);
    /* The same key in two spellings is still the same key. */
    parse_fails("a.includeca = true\na.IncludeCA = false\n", SCEP_ECONFIG,
                "scepd.conf:2: a.IncludeCA: set twice (first on line 1)");
}

static void reader_handles_comments_continuations_crlf(void **state)
{
    (void)state;
    scep_config *cfg = parse_ok("  # indented comment \\\n"
                                "! bang comment\r\n"
                                "\t\r\n"
                                "database=sqlite:/tmp/a\\=b.db   \r\n"
                                "a.ra.namegenerationparameters = CN;\\\r\n"
                                "      O;\\\n"
                                "      OU\n"
                                "a.defaultca = Escaped\\:Colon\\\\\n"
                                "a.certificateprofile = P#not a comment\n"
                                "a.endentityprofile = last line, no newline");
    assert_string_equal(scep_config_global_values(cfg)->database, "sqlite:/tmp/a=b.db");
    const struct scep_config_alias_settings *a = scep_config_alias(cfg, "a");
    assert_string_equal(a->ra_namegenerationparameters, "CN;O;OU");
    assert_string_equal(a->defaultca, "Escaped:Colon\\");
    assert_string_equal(a->certificateprofile, "P#not a comment");
    assert_string_equal(a->endentityprofile, "last line, no newline");
    scep_config_free(cfg);

    /* An empty value restores the default. */
    cfg = parse_ok("a.certificateprofile =\n");
    assert_string_equal(scep_config_alias(cfg, "a")->certificateprofile, "ENDUSER");
    scep_config_free(cfg);

    scep_config *none = NULL;
    assert_int_equal(scep_config_parse(&none, "nul.conf", "a\0b=1", 5), SCEP_ECONFIG);
    assert_int_equal(scep_config_load(&none, "/nonexistent/scepd.conf"), SCEP_EIO);
    assert_null(none);
}

static void ejbca_alias_export_imports(void **state)
{
    (void)state;
    scep_config *cfg = NULL;
    assert_int_equal(scep_config_new(&cfg), 0);
    const char *path = test_path("data/ejbca-scep-alias.properties");
    int rc = scep_config_import_alias_file(cfg, path, NULL);
    if (rc != 0)
        fail_msg("%s", scep_error_message());
    assert_int_equal(scep_config_alias_count(cfg), 1);
    assert_string_equal(scep_config_alias_name(cfg, 0), "scep");
    const struct scep_config_alias_settings *a = scep_config_alias(cfg, "scep");
    assert_int_equal(a->operationmode, SCEP_ALIAS_MODE_RA);
    assert_true(a->includeca);
    assert_string_equal(a->ra_authpwd, "foo123=bar:baz");
    assert_string_equal(a->ra_certificateprofile, "ENDUSER");
    assert_string_equal(a->ra_endentityprofile, "SCEP_ROUTERS"); /* via ra.entityProfile */
    assert_string_equal(a->ra_defaultca, "ManagementCA");
    assert_string_equal(a->ra_namegenerationparameters, "CN;O;OU");
    assert_null(a->ra_namegenerationprefix);
    assert_string_equal(a->ra_namegenerationpostfix, "-router");
    assert_true(a->clientcertificaterenewal);
    assert_false(a->allowclientcertificaterenewawitholdkey);
    /* useIntune, intuneAadAppId, intuneProxyPass: warnings that never echo values. */
    assert_int_equal(scep_config_warning_count(cfg), 3);
    assert_non_null(strstr(scep_config_warning(cfg, 0), "ejbca-scep-alias.properties:"));
    assert_non_null(strstr(scep_config_warning(cfg, 0), ": scep.useIntune: "));

    /* Stored under another name when the file's only alias has a different one. */
    assert_int_equal(scep_config_import_alias_file(cfg, path, "routers"), 0);
    assert_int_equal(scep_config_alias_count(cfg), 2);
    assert_string_equal(scep_config_alias(cfg, "routers")->ra_defaultca, "ManagementCA");

    /* Importing again replaces the alias. */
    static const char other[] = "scep.operationmode=ca\nscep.includeca=false\n";
    assert_int_equal(scep_config_import_alias_text(cfg, "x.properties", other, strlen(other), NULL),
                     0);
    assert_int_equal(scep_config_alias_count(cfg), 2);
    a = scep_config_alias(cfg, "scep");
    assert_int_equal(a->operationmode, SCEP_ALIAS_MODE_CA);
    assert_false(a->includeca);
    assert_null(a->ra_authpwd);

    /* Several aliases: one must be named; others' keys are not even validated. */
    static const char two[] = "one.operationmode=ra\ntwo.operationmode=bogus\n"
                              "one.ra.authPwd=pw\n";
    assert_int_equal(scep_config_import_alias_text(cfg, "two.properties", two, strlen(two), NULL),
                     SCEP_ECONFIG);
    assert_string_equal(scep_error_message(),
                        "two.properties: holds 2 aliases (one, two, ...); name the one to import");
    assert_int_equal(scep_config_import_alias_text(cfg, "two.properties", two, strlen(two), "one"),
                     0);
    assert_string_equal(scep_config_alias(cfg, "one")->ra_authpwd, "pw");
    assert_int_equal(scep_config_import_alias_text(cfg, "two.properties", two, strlen(two), "two"),
                     SCEP_ECONFIG);
    assert_string_equal(scep_error_message(),
                        "two.properties:2: two.operationmode: expected one of ca, ra, relay, got "
                        "\"bogus\"");

    /* Failures leave the config unchanged. */
    static const char unknown[] = "scep.operationmode=ra\nscep.noSuchKey=1\n";
    assert_int_equal(
        scep_config_import_alias_text(cfg, "u.properties", unknown, strlen(unknown), NULL),
        SCEP_ECONFIG);
    assert_string_equal(scep_error_message(),
                        "u.properties:2: scep.noSuchKey: unknown alias setting");
    assert_int_equal(scep_config_alias(cfg, "scep")->operationmode, SCEP_ALIAS_MODE_CA);
    static const char empty[] = "# nothing\naliaslist=\n";
    assert_int_equal(scep_config_import_alias_text(cfg, "e.properties", empty, strlen(empty), NULL),
                     SCEP_ECONFIG);
    assert_int_equal(scep_config_alias_count(cfg), 3);
    scep_config_free(cfg);
}

static void set_validates_and_resets(void **state)
{
    (void)state;
    scep_config *cfg = NULL;
    assert_int_equal(scep_config_new(&cfg), 0);
    assert_int_equal(scep_config_alias_add(cfg, "a"), 0);
    assert_int_equal(scep_config_set(cfg, NULL, "threads", "8"), 0);
    assert_int_equal(scep_config_global_values(cfg)->threads, 8);
    assert_int_equal(scep_config_set(cfg, NULL, "threads", "-1"), SCEP_ECONFIG);
    assert_string_equal(scep_error_message(),
                        "threads: expected an integer between 0 and 1024, got \"-1\"");
    assert_int_equal(scep_config_global_values(cfg)->threads, 8);
    assert_int_equal(scep_config_set(cfg, "a", "RA.AUTHPWD", "pw"), 0);
    assert_string_equal(scep_config_alias(cfg, "a")->ra_authpwd, "pw");
    assert_int_equal(scep_config_set(cfg, "a", "includeca", "nope"), SCEP_ECONFIG);
    assert_string_equal(scep_error_message(), "a.includeca: expected true or false, got \"nope\"");
    assert_int_equal(scep_config_set(cfg, "a", "nosuch", "1"), SCEP_ECONFIG);
    assert_string_equal(scep_error_message(), "a.nosuch: unknown setting");
    assert_int_equal(scep_config_set(cfg, "a", "useIntune", "true"), SCEP_ECONFIG);
    assert_int_equal(scep_config_set(cfg, "b", "includeca", "true"), SCEP_ENOTFOUND);
    assert_int_equal(scep_config_set(cfg, NULL, "nosuch", "1"), SCEP_ECONFIG);

    char *out = NULL;
    assert_int_equal(scep_config_format(cfg, 0, &out), 0);
    assert_string_equal(out, "threads = 8\n\n# alias a\na.ra.authPwd = pw\n");
    free(out);
    /* An empty value goes back to the default and is no longer written. */
    assert_int_equal(scep_config_set(cfg, NULL, "threads", ""), 0);
    assert_int_equal(scep_config_set(cfg, "a", "ra.authPwd", ""), 0);
    assert_null(scep_config_alias(cfg, "a")->ra_authpwd);
    assert_int_equal(scep_config_format(cfg, 0, &out), 0);
    assert_string_equal(out, "# alias a\n");
    free(out);

    assert_int_equal(scep_config_alias_remove(cfg, "a"), 0);
    assert_int_equal(scep_config_alias_remove(cfg, "a"), SCEP_ENOTFOUND);
    assert_int_equal(scep_config_format(cfg, 0, &out), 0);
    assert_string_equal(out, "");
    free(out);
    scep_config_free(cfg);
}

struct show_state {
    char text[4096];
    size_t used;
    int calls;
};

static int show_line(const struct scep_config_setting *setting, const char *value, bool is_set,
                     void *payload)
{
    struct show_state *st = payload;
    int n = snprintf(st->text + st->used, sizeof(st->text) - st->used, "%s=%s%s\n", setting->name,
                     value ? value : "(unset)", is_set ? "" : " (default)");
    assert_true(n > 0 && (size_t)n < sizeof(st->text) - st->used);
    st->used += (size_t)n;
    st->calls++;
    return 0;
}

static int stop_at_third(const struct scep_config_setting *setting, const char *value, bool is_set,
                         void *payload)
{
    int *calls = payload;
    return ++*calls == 3 ? 42 : 0;
}

static void foreach_shows_effective_values(void **state)
{
    (void)state;
    scep_config *cfg = parse_ok("r.operationmode = ra\nr.ra.authPwd = topsecret\n");
    struct show_state st = {{0}, 0, 0};
    assert_int_equal(scep_config_foreach(cfg, "r", 0, show_line, &st), 0);
    size_t count = 0;
    (void)scep_config_settings(SCEP_CONFIG_SCOPE_ALIAS, &count);
    assert_int_equal(st.calls, (int)count);
    assert_non_null(strstr(st.text, "operationmode=ra\n"));
    assert_non_null(strstr(st.text, "includeca=true (default)\n"));
    assert_non_null(strstr(st.text, "ra.authPwd=********\n"));
    assert_non_null(strstr(st.text, "defaultca=(unset) (default)\n"));
    assert_non_null(strstr(st.text, "pendingexpiry=7d (default)\n"));
    assert_null(strstr(st.text, "topsecret"));

    struct show_state shown = {{0}, 0, 0};
    assert_int_equal(scep_config_foreach(cfg, "r", SCEP_CONFIG_SHOW_SECRETS, show_line, &shown), 0);
    assert_non_null(strstr(shown.text, "ra.authPwd=topsecret\n"));

    struct show_state global = {{0}, 0, 0};
    assert_int_equal(scep_config_foreach(cfg, NULL, 0, show_line, &global), 0);
    assert_non_null(strstr(global.text, "max_body=1M (default)\n"));
    assert_non_null(strstr(global.text, "log_level=info (default)\n"));

    int calls = 0;
    assert_int_equal(scep_config_foreach(cfg, NULL, 0, stop_at_third, &calls), 42);
    assert_int_equal(calls, 3);
    assert_int_equal(scep_config_foreach(cfg, "nope", 0, show_line, &st), SCEP_ENOTFOUND);
    scep_config_free(cfg);
}

static void table_is_well_formed(void **state)
{
    (void)state;
    for (int scope = SCEP_CONFIG_SCOPE_GLOBAL; scope <= SCEP_CONFIG_SCOPE_ALIAS; scope++) {
        size_t count = 0;
        const struct scep_config_setting *t = scep_config_settings(scope, &count);
        assert_true(count > 0);
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(t[i].scope, scope);
            assert_non_null(t[i].description);
            assert_null(strchr(t[i].description, '\n'));
            assert_true(t[i].min <= t[i].max);
            assert_ptr_equal(scep_config_setting_find(scope, t[i].name), &t[i]);
            assert_true((t[i].type == SCEP_CONFIG_TYPE_ENUM) <= (t[i].allowed != NULL));
            if (scope == SCEP_CONFIG_SCOPE_GLOBAL)
                assert_null(strchr(t[i].name, '.')); /* a dot means ALIAS.key */
            for (size_t j = 0; j < i; j++)
                assert_true(strcasecmp(t[i].name, t[j].name) != 0);
        }
    }
    size_t n = 0;
    const struct scep_config_ejbca_key *keys = scep_config_ejbca_keys(&n);
    for (size_t i = 0; i < n; i++) {
        assert_null(scep_config_setting_find(SCEP_CONFIG_SCOPE_ALIAS, keys[i].name));
        if (keys[i].synonym_of != NULL)
            assert_non_null(scep_config_setting_find(SCEP_CONFIG_SCOPE_ALIAS, keys[i].synonym_of));
    }
}

/*
 * docs/configuration.md carries the generated reference between two markers.
 * SCEP_UPDATE_DOCS=1 rewrites it; otherwise any difference fails the test.
 */
static void docs_match_the_table(void **state)
{
    (void)state;
    char *md = NULL;
    assert_int_equal(scep_config_markdown(&md), 0);
    assert_non_null(strstr(md, "| `threads` | integer, 0 to 1024 | `0` |"));
    assert_non_null(strstr(md, "| `ALIAS.ra.authPwd` |"));
    assert_non_null(
        strstr(md, "| `ALIAS.ra.entityProfile` | same as `ALIAS.ra.endEntityProfile` |"));

    size_t len = 0;
    char *doc = (char *)test_read_file("../docs/configuration.md", &len);
    doc[len] = '\0';
    char *begin = strstr(doc, DOC_BEGIN);
    char *end = begin ? strstr(begin, DOC_END) : NULL;
    if (begin == NULL || end == NULL)
        fail_msg("docs/configuration.md lacks the generated-settings markers");
    char *body = begin + strlen(DOC_BEGIN);
    const char *update = getenv("SCEP_UPDATE_DOCS");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(test_path("../docs/configuration.md"), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(doc, 1, (size_t)(body - doc), f), (size_t)(body - doc));
        assert_int_equal(fputs(md, f) >= 0, 1);
        assert_int_equal(fputs(end, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
    } else {
        *end = '\0';
        if (strcmp(body, md) != 0)
            fail_msg("docs/configuration.md is out of date with the settings table; run "
                     "SCEP_UPDATE_DOCS=1 build/tests/test_config and commit the result");
    }
    free(doc);
    free(md);
}

/* Which alias /scep/pkiclient.exe serves and end entities without --alias belong to. */
static void default_alias_is_named_only_or_builtin(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *expected; /* NULL: no default alias */
    } cases[] = {
        {"listen = 127.0.0.1:8080\n", "scep"},                      /* no alias: built-in */
        {"mdm.approval = manual\n", "mdm"},                         /* the only alias */
        {"mdm.approval = manual\nra.operationmode = ra\n", NULL},   /* several, none named */
        {"mdm.approval = manual\nscep.includeca = true\n", "scep"}, /* `scep` configured */
        {"default_alias = ra\nmdm.approval = manual\nra.operationmode = ra\n", "ra"},
        {"default_alias = gone\nmdm.approval = manual\n", NULL}, /* names no alias */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scep_config *cfg = parse_ok(cases[i].text);
        const char *got = scep_config_default_alias(cfg);
        if (cases[i].expected == NULL ? got != NULL
                                      : got == NULL || strcmp(got, cases[i].expected) != 0)
            fail_msg("case %zu: default alias %s, expected %s", i, got ? got : "(none)",
                     cases[i].expected ? cases[i].expected : "(none)");
        scep_config_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(database_password_file_is_checked),
        cmocka_unit_test(default_alias_is_named_only_or_builtin),
        cmocka_unit_test(defaults_come_from_the_table),
        cmocka_unit_test(enum_constants_match_allowed_order),
        cmocka_unit_test(example_file_loads_with_typed_values),
        cmocka_unit_test(format_round_trips),
        cmocka_unit_test(bool_parser),
        cmocka_unit_test(int_parser_bounds),
        cmocka_unit_test(size_parser_bounds),
        cmocka_unit_test(duration_parser_bounds),
        cmocka_unit_test(listen_parser),
        cmocka_unit_test(errors_name_file_line_and_key),
        cmocka_unit_test(unknown_keys_rejected),
        cmocka_unit_test(alias_keys_are_case_insensitive),
        cmocka_unit_test(reader_handles_comments_continuations_crlf),
        cmocka_unit_test(ejbca_alias_export_imports),
        cmocka_unit_test(set_validates_and_resets),
        cmocka_unit_test(foreach_shows_effective_values),
        cmocka_unit_test(table_is_well_formed),
        cmocka_unit_test(docs_match_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
