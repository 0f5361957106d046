/*
 * scepd's metrics (metrics.h): counters kept under one mutex, and the exposition text,
 * whose gauges are read at scrape time (CAs, stored CRLs, held requests, connections).
 */
#include "scepd/state/metrics.h"
#include "issuance/issuance.h"
#include "scepd/http/http.h"
#include "scepd/log.h"
#include "scepd/state/rollover.h"
#include "scepd/state/server.h"
#include "util/error_internal.h"

#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const operations[] = {
    "GetCACaps",    "GetCACert", "GetCACertChain", "GetNextCACert",
    "PKIOperation", "CRL",       "none",           "other",
};
#define N_OPERATIONS (sizeof(operations) / sizeof(operations[0]))

/* The request log line's outcomes (ops/, enroll/, front/handle.c, relay/node.c). */
static const char *const outcomes[] = {
    "ok",         "success",       "pending",     "failure",    "error",
    "not_found",  "unknown_alias", "unknown_ca",  "no_next_ca", "bad_operation",
    "bad_method", "bad_message",   "unavailable", "relayed",    "queued",
    "delayed",    "stored",        "ca_error",    "none",       "other",
};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

static const char *const modes[] = {"ca", "ra", "challenge", "renewal", "none", "other"};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

static const char *const results[] = {"issued", "pending", "refused", "other"};
#define N_RESULTS (sizeof(results) / sizeof(results[0]))

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Alias slots: the configured names first come, first kept, then "none" and "other". */
#define ALIAS_NONE  SCEPD_METRICS_ALIASES_MAX
#define ALIAS_OTHER (SCEPD_METRICS_ALIASES_MAX + 1)
#define N_ALIASES   (SCEPD_METRICS_ALIASES_MAX + 2)

struct scepd_metrics {
    pthread_mutex_t lock;
    char aliases[SCEPD_METRICS_ALIASES_MAX][SCEP_CONFIG_ALIAS_NAME_MAX + 1];
    size_t alias_count;
    uint64_t requests[N_ALIASES][N_OPERATIONS][N_OUTCOMES];
    uint64_t enrollments[N_ALIASES][N_MODES][N_RESULTS];
    uint64_t duration_buckets[N_OPERATIONS][N_BUCKETS]; /* not cumulative; summed when shown */
    uint64_t duration_count[N_OPERATIONS];
    double duration_sum[N_OPERATIONS];
};

int scepd_metrics_new(struct scepd_metrics **out)
{
    struct scepd_metrics *metrics = calloc(1, sizeof(*metrics));
    *out = NULL;
    if (metrics == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    if (pthread_mutex_init(&metrics->lock, NULL) != 0) {
        free(metrics);
        return scep_fail(SCEP_ENOMEM, "cannot create the metrics lock");
    }
    *out = metrics;
    return SCEP_OK;
}

void scepd_metrics_free(struct scepd_metrics *metrics)
{
    if (metrics == NULL)
        return;
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

/* Index of `value` in `table` (its last entry is "other"); `none` when value is NULL. */
static size_t label_index(const char *const *table, size_t count, const char *value, size_t none)
{
    if (value == NULL)
        return none;
    for (size_t i = 0; i + 1 < count; i++)
        if (strcmp(table[i], value) == 0)
            return i;
    return count - 1;
}

/* The alias's slot, taking a free one for a new name; under the lock. */
static size_t alias_slot(struct scepd_metrics *metrics, const char *alias)
{
    if (alias == NULL)
        return ALIAS_NONE;
    for (size_t i = 0; i < metrics->alias_count; i++)
        if (strcmp(metrics->aliases[i], alias) == 0)
            return i;
    if (metrics->alias_count == SCEPD_METRICS_ALIASES_MAX ||
        strlen(alias) > SCEP_CONFIG_ALIAS_NAME_MAX)
        return ALIAS_OTHER;
    memcpy(metrics->aliases[metrics->alias_count], alias, strlen(alias) + 1);
    return metrics->alias_count++;
}

void scepd_metrics_request(struct scepd_metrics *metrics, const char *alias, const char *operation,
                           const char *outcome, double seconds)
{
    if (metrics == NULL)
        return;
    size_t op = label_index(operations, N_OPERATIONS, operation, N_OPERATIONS - 2);
    size_t out = label_index(outcomes, N_OUTCOMES, outcome, N_OUTCOMES - 2);
    if (!(seconds >= 0))
        seconds = 0;
    pthread_mutex_lock(&metrics->lock);
    metrics->requests[alias_slot(metrics, alias)][op][out]++;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    if (b < N_BUCKETS)
        metrics->duration_buckets[op][b]++;
    metrics->duration_count[op]++;
    metrics->duration_sum[op] += seconds;
    pthread_mutex_unlock(&metrics->lock);
}

void scepd_metrics_enrollment(struct scepd_metrics *metrics, const char *alias, const char *mode,
                              const char *result)
{
    if (metrics == NULL)
        return;
    size_t m = label_index(modes, N_MODES, mode, N_MODES - 2);
    size_t r = label_index(results, N_RESULTS, result, N_RESULTS - 1);
    pthread_mutex_lock(&metrics->lock);
    metrics->enrollments[alias_slot(metrics, alias)][m][r]++;
    pthread_mutex_unlock(&metrics->lock);
}

char *scepd_metrics_escape(char *out, size_t out_size, const char *value)
{
    size_t len = 0;
    for (const char *p = value; *p != '\0' && len + 3 < out_size; p++) {
        if (*p == '\\' || *p == '"') {
            out[len++] = '\\';
            out[len++] = *p;
        } else if (*p == '\n') {
            out[len++] = '\\';
            out[len++] = 'n';
        } else {
            out[len++] = *p;
        }
    }
    if (out_size > 0)
        out[len] = '\0';
    return out;
}

/* ---- the exposition text --------------------------------------------------------------- */

struct text {
    char *data;
    size_t len, cap;
    int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *data = realloc(t->data, cap);
        if (data == NULL) {
            t->failed = 1;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *alias_label(const struct scepd_metrics *metrics, size_t slot)
{
    if (slot == ALIAS_NONE)
        return "none";
    if (slot == ALIAS_OTHER)
        return "other";
    return metrics->aliases[slot];
}

/* The counters, copied under the lock and written out after. */
static void put_counters(struct text *t, struct scepd_metrics *metrics)
{
    struct scepd_metrics *copy = malloc(sizeof(*copy));
    char alias[2 * SCEP_CONFIG_ALIAS_NAME_MAX + 2];
    if (copy == NULL) {
        t->failed = 1;
        return;
    }
    pthread_mutex_lock(&metrics->lock);
    memcpy(copy, metrics, sizeof(*copy));
    pthread_mutex_unlock(&metrics->lock);

    family(t, "scepd_requests_total", "counter",
           "SCEP requests answered, by alias, operation and outcome (the request log line)");
    for (size_t a = 0; a < N_ALIASES; a++)
        for (size_t o = 0; o < N_OPERATIONS; o++)
            for (size_t r = 0; r < N_OUTCOMES; r++)
                if (copy->requests[a][o][r] > 0)
                    put(t,
                        "scepd_requests_total{alias=\"%s\",operation=\"%s\",outcome=\"%s\"} "
                        "%llu\n",
                        scepd_metrics_escape(alias, sizeof(alias), alias_label(copy, a)),
                        operations[o], outcomes[r], (unsigned long long)copy->requests[a][o][r]);

    family(t, "scepd_enrollments_total", "counter",
           "PKCSReq and RenewalReq answered, by alias, mode and result");
    for (size_t a = 0; a < N_ALIASES; a++)
        for (size_t m = 0; m < N_MODES; m++)
            for (size_t r = 0; r < N_RESULTS; r++)
                if (copy->enrollments[a][m][r] > 0)
                    put(t, "scepd_enrollments_total{alias=\"%s\",mode=\"%s\",result=\"%s\"} %llu\n",
                        scepd_metrics_escape(alias, sizeof(alias), alias_label(copy, a)), modes[m],
                        results[r], (unsigned long long)copy->enrollments[a][m][r]);

    family(t, "scepd_request_duration_seconds", "histogram",
           "Time from a SCEP request's arrival to its answer, by operation");
    for (size_t o = 0; o < N_OPERATIONS; o++) {
        uint64_t cumulative = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cumulative += copy->duration_buckets[o][b];
            put(t, "scepd_request_duration_seconds_bucket{operation=\"%s\",le=\"%g\"} %llu\n",
                operations[o], buckets[b], (unsigned long long)cumulative);
        }
        put(t, "scepd_request_duration_seconds_bucket{operation=\"%s\",le=\"+Inf\"} %llu\n",
            operations[o], (unsigned long long)copy->duration_count[o]);
        put(t, "scepd_request_duration_seconds_sum{operation=\"%s\"} %.6f\n", operations[o],
            copy->duration_sum[o]);
        put(t, "scepd_request_duration_seconds_count{operation=\"%s\"} %llu\n", operations[o],
            (unsigned long long)copy->duration_count[o]);
    }
    free(copy);
}

/* notAfter as unix seconds; -1 when unreadable. */
static long long not_after(X509 *cert)
{
    struct tm tm;
    if (cert == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
        return -1;
    return (long long)timegm(&tm);
}

static void put_state(struct text *t, struct scepd_server *server)
{
    const struct scepd_generation *generation = scepd_generation_acquire(server);
    time_t now = time(NULL);
    char name[2 * 256 + 2];
    scep_store *store = NULL;
    int have_store = scepd_server_store(&store, server) == SCEP_OK;
    if (!have_store)
        scepd_log(SCEPD_LOG_WARN, "event=metrics_store_failed detail=\"%s\"", scep_error_message());

    family(t, "scepd_pending_requests", "gauge", "Requests held for an operator's approval");
    int64_t pending = 0;
    int rc = have_store
                 ? scep_store_request_count(&pending, store, SCEP_REQ_PENDING, SCEP_APPROVAL_HELD)
                 : SCEP_ESTORE;
    if (rc == SCEP_OK)
        put(t, "scepd_pending_requests %lld\n", (long long)pending);
    if (rc == SCEP_EUNAVAILABLE) {
        /* This thread reconnects at its next scrape; the gauges below need the store. */
        scepd_server_store_drop(server);
        have_store = 0;
    }

    family(t, "scepd_ca_cert_expiry_timestamp_seconds", "gauge",
           "notAfter of each CA's active certificate, unix seconds");
    for (size_t i = 0; i < generation->ca_count; i++) {
        const scep_ca *active = scepd_ca_active(generation, &generation->cas[i], now);
        long long expiry = active != NULL ? not_after(scep_ca_cert(active)) : -1;
        if (expiry >= 0)
            put(t, "scepd_ca_cert_expiry_timestamp_seconds{ca=\"%s\"} %lld\n",
                scepd_metrics_escape(name, sizeof(name), generation->cas[i].name), expiry);
    }

    family(t, "scepd_crl_next_update_timestamp_seconds", "gauge",
           "nextUpdate of each CA's newest stored CRL, unix seconds");
    for (size_t i = 0; have_store && i < generation->ca_count; i++) {
        scep_store_crl *crl = NULL;
        if (scep_store_crl_get(&crl, store, generation->cas[i].name) == SCEP_OK)
            put(t, "scepd_crl_next_update_timestamp_seconds{ca=\"%s\"} %lld\n",
                scepd_metrics_escape(name, sizeof(name), generation->cas[i].name),
                (long long)crl->next_update);
        scep_store_crl_free(crl);
    }
    scepd_generation_release(generation);

    family(t, "scepd_connections", "gauge", "HTTP connections open, by listener");
    put(t, "scepd_connections{listener=\"scep\"} %u\n", scepd_http_connections(server->http));
    put(t, "scepd_connections{listener=\"admin\"} %u\n",
        scepd_http_connections(server->admin_http));
    put(t, "scepd_connections{listener=\"metrics\"} %u\n",
        scepd_http_connections(server->metrics_http));

    if (server->relay_gauges != NULL) {
        size_t connections = 0;
        int64_t waiting = -1;
        server->relay_gauges(&connections, &waiting, server);
        family(t, "scepd_relay_connections", "gauge",
               "Relay node: connections the CA node holds open to it");
        put(t, "scepd_relay_connections %zu\n", connections);
        family(t, "scepd_relay_queued_requests", "gauge",
               "Relay node: requests waiting in its queue for the CA node");
        if (waiting >= 0)
            put(t, "scepd_relay_queued_requests %lld\n", (long long)waiting);
    }

    family(t, "scepd_build_info", "gauge", "scepd's version");
    put(t, "scepd_build_info{version=\"%s\"} 1\n",
        scepd_metrics_escape(name, sizeof(name), scep_version()));
}

int scepd_metrics_render(char **out, size_t *out_len, struct scepd_server *server)
{
    struct text t = {.data = malloc(16384), .cap = 16384};
    *out = NULL;
    *out_len = 0;
    if (t.data == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    t.data[0] = '\0';
    if (server->metrics != NULL)
        put_counters(&t, server->metrics);
    put_state(&t, server);
    if (t.failed) {
        free(t.data);
        return scep_fail(SCEP_ENOMEM, "out of memory");
    }
    *out = t.data;
    *out_len = t.len;
    return SCEP_OK;
}
