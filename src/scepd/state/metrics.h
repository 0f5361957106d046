/*
 * scepd's metrics (GET /metrics, Prometheus text format 0.0.4): request and enrollment
 * counters, request durations, and at scrape time gauges read from the state and the
 * store. Thread-safe (one mutex; the counters are a few additions per request).
 *
 * Label values never come from a client: operations, outcomes and modes are fixed
 * tables and aliases are the configuration's; anything else is counted as "other", and
 * at most SCEPD_METRICS_ALIASES_MAX alias names are kept (later ones count as "other").
 */
#ifndef SCEPD_STATE_METRICS_H
#define SCEPD_STATE_METRICS_H

#include <stddef.h>

#define SCEPD_METRICS_ALIASES_MAX 64

#define SCEPD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct scepd_metrics;
struct scepd_server;

/* Returns 0, or SCEP_ENOMEM. */
int scepd_metrics_new(struct scepd_metrics **out);
void scepd_metrics_free(struct scepd_metrics *metrics);

/*
 * One answered request, as its log line tells it: `alias` NULL when none was routed,
 * `operation` and `outcome` NULL when none was set. `metrics` NULL: nothing.
 */
void scepd_metrics_request(struct scepd_metrics *metrics, const char *alias, const char *operation,
                           const char *outcome, double seconds);
/*
 * One PKCSReq/RenewalReq answered: `mode` "ca", "ra", "challenge", "renewal" (NULL: not
 * decided yet), `result` "issued", "pending" or "refused".
 */
void scepd_metrics_enrollment(struct scepd_metrics *metrics, const char *alias, const char *mode,
                              const char *result);

/* The exposition text (malloc'd, *out_len bytes) of `server`. Returns 0, or SCEP_ENOMEM. */
int scepd_metrics_render(char **out, size_t *out_len, struct scepd_server *server);

/* A label value escaped per the text format (\\, \" and \n); returns `out`. */
char *scepd_metrics_escape(char *out, size_t out_size, const char *value);

#endif
