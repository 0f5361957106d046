/*
 * scepctl audit: the audit trail. `list` reads it, as text or JSON; `verify` walks its
 * hash chain (docs/store.md "Audit chain") and names the first event that breaks it.
 * Neither writes.
 */
#include "scepctl/scepctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"

#define DEFAULT_LIMIT 50
/* --since DURATION reaches back at most this far (100 years). */
#define SINCE_MAX_SECONDS (36500LL * 86400LL)

/* --since: a DURATION back from now (90s, 10m, 1h, 7d) or a TIME (scepctl_parse_time). */
static int parse_since(int64_t *out, const char *text)
{
    time_t now = time(NULL);
    long long value = 0;
    if (scep_config_parse_duration(&value, text, 0, SINCE_MAX_SECONDS) == 0) {
        *out = (int64_t)now - value;
        return 0;
    }
    if (scepctl_parse_time(&value, text, now) == 0) {
        *out = (int64_t)value;
        return 0;
    }
    return -1;
}

/*
 * A JSON string of `text`; details can carry a client's bytes, so text that is not
 * UTF-8 is kept with every non-ASCII byte as '?' rather than dropped.
 */
static json_t *json_text(const char *text)
{
    if (text == NULL)
        return json_null();
    json_t *value = json_string(text);
    if (value != NULL)
        return value;
    char *copy = strdup(text);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    value = json_string(copy);
    free(copy);
    return value;
}

static json_t *event_json(const scep_store_audit_event *ev)
{
    char time_text[32];
    scepctl_format_time(time_text, ev->time);
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    int failed = json_object_set_new(obj, "id", json_integer(ev->id)) |
                 json_object_set_new(obj, "time", json_integer(ev->time)) |
                 json_object_set_new(obj, "time_utc", json_string(time_text)) |
                 json_object_set_new(obj, "actor", json_text(ev->actor)) |
                 json_object_set_new(obj, "action", json_text(ev->action)) |
                 json_object_set_new(obj, "alias", json_text(ev->alias)) |
                 json_object_set_new(obj, "transaction_id", json_text(ev->transaction_id)) |
                 json_object_set_new(obj, "outcome", json_text(ev->outcome)) |
                 json_object_set_new(obj, "detail", json_text(ev->detail)) |
                 json_object_set_new(obj, "prev_hash", json_text(ev->prev_hash)) |
                 json_object_set_new(obj, "hash", json_text(ev->hash));
    if (failed) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* One JSON array, newest event first; the first element's hash is the chain's head. */
static int print_json(struct scepctl *ctx, const scep_store_audit_event *rows, size_t count)
{
    json_t *array = json_array();
    int rc = SCEPCTL_EXIT_ERROR;
    if (array == NULL)
        goto cleanup;
    for (size_t i = 0; i < count; i++)
        if (json_array_append_new(array, event_json(&rows[i])) != 0)
            goto cleanup;
    if (json_dumpf(array, ctx->out, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0)
        goto cleanup;
    fputc('\n', ctx->out);
    rc = SCEPCTL_EXIT_OK;
cleanup:
    json_decref(array);
    if (rc != SCEPCTL_EXIT_OK)
        return scepctl_error(ctx, "cannot write the audit events as JSON");
    return rc;
}

static void print_text(struct scepctl *ctx, const scep_store_audit_event *rows, size_t count)
{
    if (count == 0) {
        fprintf(ctx->err, "no audit events\n");
        return;
    }
    fprintf(ctx->out, "ID\tTIME\tACTOR\tACTION\tALIAS\tTRANSACTION\tOUTCOME\tDETAIL\n");
    for (size_t i = 0; i < count; i++) {
        char time_text[32];
        scepctl_format_time(time_text, rows[i].time);
        fprintf(ctx->out, "%lld\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", (long long)rows[i].id, time_text,
                rows[i].actor, rows[i].action, rows[i].alias ? rows[i].alias : "-",
                rows[i].transaction_id ? rows[i].transaction_id : "-", rows[i].outcome,
                rows[i].detail ? rows[i].detail : "-");
    }
    /* The newest event's hash: what an operator records elsewhere (docs/store.md). */
    fprintf(ctx->out, "head: event %lld hash %s\n", (long long)rows[0].id,
            rows[0].hash != NULL ? rows[0].hash : "(none)");
}

static int audit_list(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *limit_text = scepctl_arg(args, "limit");
    const char *since_text = scepctl_arg(args, "since");
    size_t limit = DEFAULT_LIMIT;
    int64_t since = INT64_MIN;
    if (limit_text != NULL) {
        char *end = NULL;
        errno = 0;
        long value = strtol(limit_text, &end, 10);
        if (errno != 0 || end == limit_text || *end != '\0' || value < 1 ||
            value > (long)SCEP_STORE_MAX_LIST)
            return scepctl_usage(ctx, "--limit %s: expected a number from 1 to %u", limit_text,
                                 SCEP_STORE_MAX_LIST);
        limit = (size_t)value;
    }
    if (since_text != NULL && parse_since(&since, since_text) != 0)
        return scepctl_usage(ctx,
                             "--since %s: expected a duration (90s, 10m, 1h, 7d) or a time "
                             "(YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, @UNIXTIME)",
                             since_text);
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    scep_store_audit_event *rows = NULL;
    size_t count = 0;
    if (scep_store_audit_list_since(&rows, &count, ctx->store, since, limit) < 0)
        return scepctl_fail(ctx, "cannot read the audit trail");
    if (scepctl_arg(args, "json") != NULL)
        rc = print_json(ctx, rows, count);
    else
        print_text(ctx, rows, count);
    scep_store_audit_list_free(rows, count);
    return rc;
}

static int audit_verify(struct scepctl *ctx, const struct scepctl_args *args)
{
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    scep_store_audit_check check;
    if (scep_store_audit_verify(&check, ctx->store) < 0)
        return scepctl_fail(ctx, "cannot read the audit trail");
    if (check.fault != SCEP_AUDIT_INTACT) {
        fprintf(ctx->out, "%llu events intact", (unsigned long long)check.checked);
        if (check.previous_id != 0)
            fprintf(ctx->out, " up to event %lld", (long long)check.previous_id);
        fprintf(ctx->out, "\n");
        return scepctl_error(ctx, "audit trail broken at event %lld: %s", (long long)check.event_id,
                             scep_store_audit_fault_text(check.fault));
    }
    fprintf(ctx->out, "audit trail intact: %llu events\n", (unsigned long long)check.checked);
    if (scepctl_arg(args, "print-head") != NULL)
        fprintf(ctx->out, "head: event %lld hash %s\n", (long long)check.head_id, check.head_hash);
    return SCEPCTL_EXIT_OK;
}

static const struct scepctl_option list_options[] = {
    {"limit", "N", false, "most recent N events (default 50)"},
    {"since", "DURATION|TIME", false,
     "only events since then: 1h, 7d back from now, or 2026-05-01, 2026-05-01T08:00:00Z"},
    {"json", NULL, false, "one JSON array, newest first, with each event's hashes"},
};
static const struct scepctl_option verify_options[] = {
    {"print-head", NULL, false, "also print the newest event's id and hash, to record elsewhere"},
};

static const char verify_details[] =
    "Walks the whole hash chain oldest first and names the first event that was\n"
    "edited, deleted or inserted; exit 0 when intact, 1 when not. A chain rewritten\n"
    "from the tampered event on is only caught by comparing the head with one\n"
    "recorded elsewhere (--print-head).";

static const struct scepctl_command audit_commands[] = {
    {"list", "list [--since DURATION|TIME] [--limit N] [--json]",
     "The most recent audit events first, and the chain's head hash.", NULL, list_options,
     sizeof(list_options) / sizeof(list_options[0]), 0, 0, audit_list},
    {"verify", "verify [--print-head]", "Check the audit trail's hash chain.", verify_details,
     verify_options, sizeof(verify_options) / sizeof(verify_options[0]), 0, 0, audit_verify},
};

const struct scepctl_group scepctl_group_audit = {
    "audit", "The audit trail: list, verify.", audit_commands,
    sizeof(audit_commands) / sizeof(audit_commands[0]), false};
