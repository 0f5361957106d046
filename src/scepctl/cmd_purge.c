/*
 * `scepctl purge`: deletes what the store no longer needs — finished requests older
 * than a duration and expired one-time challenges (docs/scepctl.md, docs/operations.md).
 */
#include "scepctl/scepctl.h"

#include <stdint.h>
#include <time.h>

#include "scep/error.h"

static int purge(struct scepctl *ctx, const struct scepctl_args *args)
{
    long long age = 0;
    const char *before = scepctl_arg(args, "before");
    if (scep_config_parse_duration(&age, before, 0, 36500LL * 86400LL) < 0)
        return scepctl_usage(ctx, "--before: expected a duration (90m, 12h, 30d)");
    unsigned flags = scepctl_arg(args, "issued") != NULL ? SCEP_STORE_PURGE_ISSUED : 0;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    size_t requests = 0, challenges = 0;
    if (scep_store_request_purge(&requests, ctx->store, (int64_t)time(NULL) - (int64_t)age, flags) <
        0)
        return scepctl_fail(ctx, "cannot purge the requests");
    if (scep_store_challenge_purge_expired(&challenges, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot purge the challenges");
    char detail[128];
    snprintf(detail, sizeof(detail), "before=%s%s requests=%zu challenges=%zu", before,
             flags ? " issued" : "", requests, challenges);
    scepctl_audit(ctx, "purge", NULL, detail);
    fprintf(ctx->out, "%zu request%s and %zu expired challenge%s removed\n", requests,
            requests == 1 ? "" : "s", challenges, challenges == 1 ? "" : "s");
    return 0;
}

static const struct scepctl_option purge_options[] = {
    {"before", "DURATION", true, "age of the oldest kept request: 90m, 12h, 30d"},
    {"issued", NULL, false, "also issued requests whose certificate row records the transactionID"},
};

static const struct scepctl_command commands[] = {
    {"", "--before DURATION [--issued]",
     "Delete refused and failed requests older than DURATION and expired challenges.",
     "Age counts from the answer (the request's last change). Pending requests are never\n"
     "deleted, and certificates never. With --issued, issued requests older than DURATION go\n"
     "too when their certificate row records the transactionID (the certificate keeps the\n"
     "serial, subject, end entity and transactionID); a client retransmitting a purged\n"
     "transactionID then starts a new transaction. Audit events are not touched. scepd does\n"
     "the same for refused and failed requests past request_retention by itself.",
     purge_options, sizeof(purge_options) / sizeof(purge_options[0]), 0, 0, purge},
};

const struct scepctl_group scepctl_group_purge = {
    "purge", "Delete old finished requests and expired challenges (a command of its own).",
    commands, sizeof(commands) / sizeof(commands[0]), true};
