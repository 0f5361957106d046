/*
 * scepd's GET /metrics: authenticated on the admin listener, open on metrics_listen;
 * the counters move after an issued, a refused and a held enrollment; label values
 * from clients are folded; the body passes a strict text-format 0.0.4 validator and,
 * when python3's prometheus_client is installed, its parser.
 */
#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"
#include "scepd/state/metrics.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct scepd_fixture fx;

static const char *const users[] = {"alice:alice-code", "bob:bob-code"};

static const char metrics_config[] = "held.operationmode = ra\n"
                                     "held.ra.authPwd = held-secret\n"
                                     "held.approval = manual\n"
                                     "admin_listen = 127.0.0.1:0\n"
                                     "admin_token = t0ken-for-metrics\n"
                                     "metrics_listen = 127.0.0.1:0\n";

static int setup(void **state)
{
    (void)state;
    scepd_fixture_start(&fx, users, 2, metrics_config);
    assert_non_null(fx.server.admin_http);
    assert_non_null(fx.server.metrics_http);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    return 0;
}

struct reply {
    long status;
    char *body;
    size_t len;
    char content_type[128];
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct reply *reply = user;
    size_t len = size * n;
    char *body = realloc(reply->body, reply->len + len + 1);
    assert_non_null(body);
    memcpy(body + reply->len, data, len);
    reply->body = body;
    reply->len += len;
    reply->body[reply->len] = '\0';
    return len;
}

static void reply_free(struct reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

/* `method` http://127.0.0.1:PORT`path` with `auth` (Authorization value, or NULL). */
static void request(struct reply *reply, const char *method, unsigned port, const char *path,
                    const char *auth)
{
    char url[512], header[256];
    memset(reply, 0, sizeof(*reply));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct curl_slist *headers = NULL;
    if (auth != NULL) {
        snprintf(header, sizeof(header), "Authorization: %s", auth);
        headers = curl_slist_append(headers, header);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type != NULL)
        snprintf(reply->content_type, sizeof(reply->content_type), "%s", type);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

static unsigned metrics_port(void)
{
    return scepd_http_port(fx.server.metrics_http, 0);
}

/* The body of GET /metrics on metrics_listen (caller frees). */
static char *scrape(void)
{
    struct reply reply;
    request(&reply, "GET", metrics_port(), "/metrics", NULL);
    assert_int_equal(reply.status, 200);
    assert_non_null(reply.body);
    return reply.body;
}

/* The value of the sample whose line starts with `series` + ' '; -1 when absent. */
static double sample(const char *body, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = body; *line != '\0';) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return -1;
}

/* A sample's value, 0 when the series is absent (counters appear on first use). */
static double counter(const char *body, const char *series)
{
    double v = sample(body, series);
    return v < 0 ? 0 : v;
}

static scep_pki_status enroll(const char *alias, const char *dn, const char *challenge)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx.port, alias);
    scep_client_options options = {.url = url, .ca_cert = fx.ca_cert, .proxy = ""};
    scep_client *client = NULL;
    assert_int_equal(scep_client_new(&client, &options), SCEP_OK);
    EVP_PKEY *key = test_ec_key("P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    assert_int_equal(scep_dn_parse(&name, dn), SCEP_OK);
    assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
    X509_NAME_free(name);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                               (const unsigned char *)challenge, -1),
                     1);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    scep_enroll_request enroll_request = {.csr = req, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &enroll_request) != SCEP_OK)
        fail_msg("enroll: %s", scep_error_message());
    scep_pki_status status = scep_result_status(result);
    scep_result_free(result);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    scep_client_free(client);
    return status;
}

/* ---- a strict text-format 0.0.4 validator ------------------------------------------- */

#define MAX_FAMILIES 64

struct family {
    char name[128];
    char type[16];
    int help, samples;
};

static int is_name(const char *s, size_t len, int colon)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Parses `{a="x",b="y"}` at *p into `out` (the labels but `le`, canonical) and `le`. */
static void parse_labels(const char **p, char *out, size_t out_size, char *le, size_t le_size,
                         const char *line)
{
    const char *s = *p;
    size_t used = 0;
    le[0] = '\0';
    out[0] = '\0';
    if (*s != '{')
        return;
    s++;
    while (*s != '}') {
        const char *name = s;
        while (*s != '=' && *s != '\0')
            s++;
        if (*s != '=' || !is_name(name, (size_t)(s - name), 0))
            fail_msg("bad label name: %s", line);
        size_t name_len = (size_t)(s - name);
        s++;
        if (*s != '"')
            fail_msg("label value not quoted: %s", line);
        s++;
        char value[512];
        size_t vlen = 0;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n')
                fail_msg("unterminated label value: %s", line);
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n')
                    fail_msg("bad escape in label value: %s", line);
            }
            assert_true(vlen + 1 < sizeof(value));
            value[vlen++] = *s++;
        }
        value[vlen] = '\0';
        s++;
        if (name_len == 2 && strncmp(name, "le", 2) == 0) {
            snprintf(le, le_size, "%s", value);
        } else {
            int n = snprintf(out + used, out_size - used, "%.*s=%s,", (int)name_len, name, value);
            assert_true(n > 0 && (size_t)n < out_size - used);
            used += (size_t)n;
        }
        if (*s == ',')
            s++;
        else if (*s != '}')
            fail_msg("expected , or } in labels: %s", line);
    }
    *p = s + 1;
}

static double parse_value(const char *text, const char *line)
{
    if (strcmp(text, "+Inf") == 0)
        return INFINITY;
    if (strcmp(text, "-Inf") == 0)
        return -INFINITY;
    if (strcmp(text, "NaN") == 0)
        return NAN;
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0')
        fail_msg("bad sample value: %s", line);
    return v;
}

/* Histogram state of the series being read: one label set at a time, buckets in order. */
struct histogram {
    char labels[512];
    double last_le, last_count, inf_count;
    int buckets, inf, sum, count;
};

static void histogram_close(struct histogram *h)
{
    if (h->labels[0] == '\0' && h->buckets == 0)
        return;
    if (!h->inf || !h->sum || !h->count)
        fail_msg("histogram {%s}: +Inf bucket, _sum or _count missing", h->labels);
    memset(h, 0, sizeof(*h));
}

static void validate(const char *body)
{
    struct family families[MAX_FAMILIES];
    size_t family_count = 0;
    struct family *current = NULL;
    struct histogram h;
    memset(&h, 0, sizeof(h));
    static char seen[512][1200];
    size_t seen_count = 0;
    size_t body_len = strlen(body);
    assert_true(body_len > 0 && body[body_len - 1] == '\n');

    char *copy = strdup(body);
    assert_non_null(copy);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            char kind[8], name[128];
            int consumed = 0;
            if (sscanf(line, "# %7s %127s %n", kind, name, &consumed) < 2)
                fail_msg("bad comment line: %s", line);
            assert_true(is_name(name, strlen(name), 1));
            struct family *f = NULL;
            for (size_t i = 0; i < family_count; i++)
                if (strcmp(families[i].name, name) == 0)
                    f = &families[i];
            if (f == NULL) {
                assert_true(family_count < MAX_FAMILIES);
                f = &families[family_count++];
                memset(f, 0, sizeof(*f));
                snprintf(f->name, sizeof(f->name), "%s", name);
            }
            if (f->samples)
                fail_msg("%s after samples of its family: %s", kind, line);
            if (strcmp(kind, "HELP") == 0) {
                if (f->help++ || line[consumed] == '\0')
                    fail_msg("HELP repeated or empty: %s", line);
            } else if (strcmp(kind, "TYPE") == 0) {
                const char *type = line + consumed;
                if (f->type[0] != '\0' ||
                    (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
                     strcmp(type, "histogram") != 0 && strcmp(type, "summary") != 0 &&
                     strcmp(type, "untyped") != 0))
                    fail_msg("TYPE repeated or unknown: %s", line);
                snprintf(f->type, sizeof(f->type), "%s", type);
            } else {
                fail_msg("unknown comment: %s", line);
            }
            if (current != f)
                histogram_close(&h);
            current = f;
            continue;
        }
        /* name{labels} value */
        const char *p = line;
        while (*p != '{' && *p != ' ' && *p != '\0')
            p++;
        char name[128];
        assert_true((size_t)(p - line) < sizeof(name));
        memcpy(name, line, (size_t)(p - line));
        name[p - line] = '\0';
        if (!is_name(name, strlen(name), 1))
            fail_msg("bad metric name: %s", line);
        char labels[512], le[512];
        parse_labels(&p, labels, sizeof(labels), le, sizeof(le), line);
        if (*p != ' ' || strchr(p + 1, ' ') != NULL)
            fail_msg("expected one space then the value: %s", line);
        double value = parse_value(p + 1, line);
        if (current == NULL || !current->help || current->type[0] == '\0')
            fail_msg("sample before its HELP and TYPE: %s", line);
        size_t base = strlen(current->name);
        const char *suffix = strncmp(name, current->name, base) == 0 ? name + base : NULL;
        if (strcmp(current->type, "histogram") == 0) {
            if (suffix == NULL || (strcmp(suffix, "_bucket") != 0 && strcmp(suffix, "_sum") != 0 &&
                                   strcmp(suffix, "_count") != 0))
                fail_msg("not a sample of histogram %s: %s", current->name, line);
            if (strcmp(h.labels, labels) != 0) {
                histogram_close(&h);
                snprintf(h.labels, sizeof(h.labels), "%s", labels);
            }
            if (strcmp(suffix, "_bucket") == 0) {
                if (le[0] == '\0' || h.inf || h.sum || h.count)
                    fail_msg("bucket without le or out of order: %s", line);
                double bound = parse_value(le, line);
                if ((h.buckets > 0 && !(bound > h.last_le)) || value < h.last_count)
                    fail_msg("buckets not increasing or not cumulative: %s", line);
                h.last_le = bound;
                h.last_count = value;
                h.buckets++;
                if (isinf(bound)) {
                    h.inf = 1;
                    h.inf_count = value;
                }
            } else if (strcmp(suffix, "_sum") == 0) {
                if (!h.inf || le[0] != '\0')
                    fail_msg("_sum before +Inf: %s", line);
                h.sum = 1;
            } else {
                if (!h.inf || le[0] != '\0' || value != h.inf_count)
                    fail_msg("_count missing +Inf or differs from it: %s", line);
                h.count = 1;
            }
        } else {
            if (suffix == NULL || *suffix != '\0' || le[0] != '\0')
                fail_msg("sample not of family %s: %s", current->name, line);
            if (strcmp(current->type, "counter") == 0 && (value < 0 || isnan(value)))
                fail_msg("negative counter: %s", line);
        }
        current->samples++;
        /* No series twice. */
        char key[1200];
        snprintf(key, sizeof(key), "%s{%s|%s}", name, labels, le);
        for (size_t i = 0; i < seen_count; i++)
            if (strcmp(seen[i], key) == 0)
                fail_msg("duplicate series: %s", line);
        assert_true(seen_count < 512);
        snprintf(seen[seen_count++], sizeof(seen[0]), "%s", key);
    }
    histogram_close(&h);
    for (size_t i = 0; i < family_count; i++)
        if (!families[i].help || families[i].type[0] == '\0')
            fail_msg("family %s lacks HELP or TYPE", families[i].name);
    free(copy);
}

/* ---- the tests ------------------------------------------------------------------------ */

static void admin_listener_requires_authentication(void **state)
{
    (void)state;
    struct reply reply;
    unsigned admin = scepd_http_port(fx.server.admin_http, 0);
    request(&reply, "GET", admin, "/metrics", NULL);
    assert_int_equal(reply.status, 401);
    assert_null(reply.body == NULL ? NULL : strstr(reply.body, "scepd_"));
    reply_free(&reply);
    request(&reply, "GET", admin, "/metrics", "Bearer wrong");
    assert_int_equal(reply.status, 401);
    reply_free(&reply);
    request(&reply, "GET", admin, "/metrics", "Bearer t0ken-for-metrics");
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, SCEPD_METRICS_CONTENT_TYPE);
    assert_non_null(strstr(reply.body, "# TYPE scepd_requests_total counter\n"));
    validate(reply.body);
    reply_free(&reply);
    request(&reply, "POST", admin, "/metrics", "Bearer t0ken-for-metrics");
    assert_int_equal(reply.status, 405);
    reply_free(&reply);
}

static void metrics_listener_is_open_and_serves_only_metrics(void **state)
{
    (void)state;
    struct reply reply;
    request(&reply, "GET", metrics_port(), "/metrics", NULL);
    assert_int_equal(reply.status, 200);
    assert_true(strncmp(reply.content_type, "text/plain; version=0.0.4", 25) == 0);
    assert_non_null(strstr(reply.body, "scepd_build_info{version=\""));
    reply_free(&reply);
    request(&reply, "GET", metrics_port(), "/admin/challenge?alias=held", NULL);
    assert_int_equal(reply.status, 404);
    reply_free(&reply);
    request(&reply, "DELETE", metrics_port(), "/metrics", NULL);
    assert_int_equal(reply.status, 405);
    reply_free(&reply);
}

static void counters_move_with_enrollments(void **state)
{
    (void)state;
    static const char issued[] =
        "scepd_enrollments_total{alias=\"scep\",mode=\"ca\",result=\"issued\"}";
    static const char refused[] =
        "scepd_enrollments_total{alias=\"scep\",mode=\"ca\",result=\"refused\"}";
    static const char pending[] =
        "scepd_enrollments_total{alias=\"held\",mode=\"ra\",result=\"pending\"}";
    static const char pki_success[] =
        "scepd_requests_total{alias=\"scep\",operation=\"PKIOperation\",outcome=\"success\"}";
    static const char pki_failure[] =
        "scepd_requests_total{alias=\"scep\",operation=\"PKIOperation\",outcome=\"failure\"}";
    static const char ca_cert[] =
        "scepd_requests_total{alias=\"scep\",operation=\"GetCACert\",outcome=\"ok\"}";
    static const char pki_count[] =
        "scepd_request_duration_seconds_count{operation=\"PKIOperation\"}";

    char *before = scrape();
    assert_int_equal(enroll("scep", "CN=alice", "alice-code"), SCEP_STATUS_SUCCESS);
    assert_int_equal(enroll("scep", "CN=bob", "not-bobs-code"), SCEP_STATUS_FAILURE);
    assert_int_equal(enroll("held", "CN=device-1", "held-secret"), SCEP_STATUS_PENDING);
    char *after = scrape();
    validate(after);

    assert_true(counter(after, issued) == counter(before, issued) + 1);
    assert_true(counter(after, refused) == counter(before, refused) + 1);
    assert_true(counter(after, pending) == counter(before, pending) + 1);
    assert_true(counter(after, pki_success) == counter(before, pki_success) + 1);
    assert_true(counter(after, pki_failure) == counter(before, pki_failure) + 1);
    /* The client fetched the CA certificate before each enrollment. */
    assert_true(counter(after, ca_cert) >= counter(before, ca_cert) + 2);
    assert_true(counter(after, pki_count) >= counter(before, pki_count) + 3);
    /* Held for the operator: the store says one (at least; the group shares the store). */
    assert_true(sample(after, "scepd_pending_requests") >= 1);
    assert_true(sample(after, "scepd_pending_requests") ==
                sample(before, "scepd_pending_requests") + 1);
    /* The CA's notAfter lies ahead; the fixture's CRL, once stored, too. */
    assert_true(sample(after, "scepd_ca_cert_expiry_timestamp_seconds{ca=\"demo\"}") >
                (double)time(NULL));
    double next_update = sample(after, "scepd_crl_next_update_timestamp_seconds{ca=\"demo\"}");
    assert_true(next_update < 0 || next_update > (double)time(NULL));
    /* This scrape's own connection is open on the metrics listener. */
    assert_true(sample(after, "scepd_connections{listener=\"metrics\"}") >= 1);
    assert_true(sample(after, "scepd_connections{listener=\"scep\"}") >= 0);
    free(before);
    free(after);
}

static void client_text_never_becomes_a_label(void **state)
{
    (void)state;
    struct reply reply;
    request(&reply, "GET", fx.port, "/scep/pkiclient.exe?operation=Evil%22Label", NULL);
    assert_int_equal(reply.status, 400);
    reply_free(&reply);
    request(&reply, "GET", fx.port, "/scep/no-such-alias/pkiclient.exe?operation=GetCACaps", NULL);
    assert_int_equal(reply.status, 404);
    reply_free(&reply);
    char *body = scrape();
    validate(body);
    assert_null(strstr(body, "Evil"));
    assert_null(strstr(body, "no-such-alias"));
    assert_true(counter(body, "scepd_requests_total{alias=\"scep\",operation=\"none\","
                              "outcome=\"bad_operation\"}") >= 1);
    assert_true(counter(body, "scepd_requests_total{alias=\"none\",operation=\"none\","
                              "outcome=\"unknown_alias\"}") >= 1);
    free(body);

    /* Unknown values fold into "other"; label values are escaped. */
    struct scepd_metrics *metrics = fx.server.metrics;
    scepd_metrics_request(metrics, "a\"b\\c\nd", "Bogus", "weird", 0.003);
    scepd_metrics_enrollment(metrics, "scep", "sideways", "maybe");
    body = scrape();
    validate(body);
    assert_non_null(strstr(body, "scepd_requests_total{alias=\"a\\\"b\\\\c\\nd\","
                                 "operation=\"other\",outcome=\"other\"} 1\n"));
    assert_non_null(strstr(
        body, "scepd_enrollments_total{alias=\"scep\",mode=\"other\",result=\"other\"} 1\n"));
    assert_non_null(strstr(
        body, "scepd_request_duration_seconds_bucket{operation=\"other\",le=\"0.005\"} 1\n"));
    free(body);
    char out[16];
    assert_string_equal(scepd_metrics_escape(out, sizeof(out), "x\"y"), "x\\\"y");
}

static void alias_labels_are_bounded(void **state)
{
    (void)state;
    struct scepd_metrics *metrics = NULL;
    assert_int_equal(scepd_metrics_new(&metrics), SCEP_OK);
    /* Swap in a fresh set, fill every alias slot and one more. */
    struct scepd_metrics *saved = fx.server.metrics;
    fx.server.metrics = metrics;
    char alias[32];
    for (int i = 0; i < SCEPD_METRICS_ALIASES_MAX + 5; i++) {
        snprintf(alias, sizeof(alias), "alias%d", i);
        scepd_metrics_request(metrics, alias, "GetCACaps", "ok", 0.001);
    }
    char *body = scrape();
    fx.server.metrics = saved;
    validate(body);
    assert_non_null(strstr(body, "scepd_requests_total{alias=\"alias63\","));
    assert_null(strstr(body, "scepd_requests_total{alias=\"alias64\","));
    assert_non_null(strstr(
        body, "scepd_requests_total{alias=\"other\",operation=\"GetCACaps\",outcome=\"ok\"} 5\n"));
    free(body);
    scepd_metrics_free(metrics);
}

/* prometheus_client's own parser over a scrape; skipped when python3 lacks it. */
static void prometheus_client_parses_the_body(void **state)
{
    (void)state;
    static const char check[] =
        "import sys\n"
        "from prometheus_client.parser import text_string_to_metric_families\n"
        "text = open(sys.argv[1]).read()\n"
        "families = {f.name: f for f in text_string_to_metric_families(text)}\n"
        "assert families['scepd_requests'].type == 'counter', families.keys()\n"
        "assert families['scepd_enrollments'].type == 'counter'\n"
        "h = families['scepd_request_duration_seconds']\n"
        "assert h.type == 'histogram'\n"
        "assert any(s.name.endswith('_bucket') and s.labels.get('le') == '+Inf' for s in "
        "h.samples)\n"
        "for name in ('scepd_pending_requests', 'scepd_ca_cert_expiry_timestamp_seconds',\n"
        "             'scepd_connections', 'scepd_build_info'):\n"
        "    assert families[name].type == 'gauge', name\n"
        "print('prometheus_client: %d families' % len(families))\n";
    char script[600], data[600], command[2048];
    snprintf(script, sizeof(script), "%s/check_metrics.py", fx.dir);
    snprintf(data, sizeof(data), "%s/metrics.txt", fx.dir);
    char *body = scrape();
    FILE *file = fopen(data, "w");
    assert_non_null(file);
    fputs(body, file);
    fclose(file);
    free(body);
    file = fopen(script, "w");
    assert_non_null(file);
    fputs(check, file);
    fclose(file);
    /* The first python3 that has prometheus_client (Debian: python3-prometheus-client). */
    snprintf(command, sizeof(command),
             "for py in python3 /usr/bin/python3; do "
             "if \"$py\" -c 'import prometheus_client' 2>/dev/null; then "
             "exec \"$py\" '%s' '%s'; fi; done; exit 77",
             script, data);
    int rc = system(command);
    assert_true(WIFEXITED(rc));
    if (WEXITSTATUS(rc) == 77) {
        print_message("prometheus_client not installed: parser check skipped\n");
        return;
    }
    assert_int_equal(WEXITSTATUS(rc), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_listener_requires_authentication),
        cmocka_unit_test(metrics_listener_is_open_and_serves_only_metrics),
        cmocka_unit_test(counters_move_with_enrollments),
        cmocka_unit_test(client_text_never_becomes_a_label),
        cmocka_unit_test(alias_labels_are_bounded),
        cmocka_unit_test(prometheus_client_parses_the_body),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
