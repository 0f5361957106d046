/*
 * scepctl request: the queue of SCEP transactions, and the operator's side of
 * manual approval (alias approval = manual, docs/operations.md). `approve` and
 * `reject` are scep_request_approve and scep_request_reject, the same calls
 * scepd's admin API makes.
 */
#include "scepctl/scepctl.h"
#include "issuance/issuance.h"
#include "ca/profiles.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define USERNAME_MAX 256

static const char *status_name(const scep_store_request *row, long long pending_expiry)
{
    return scep_request_status_name(row, pending_expiry, (int64_t)time(NULL));
}

/* The alias's settings; the built-in alias exists while the file configures none. */
static const struct scep_config_alias_settings *alias_settings(struct scepctl *ctx,
                                                               const char *alias)
{
    const struct scep_config_alias_settings *settings = scep_config_alias(ctx->config, alias);
    if (settings == NULL && scep_config_alias_count(ctx->config) == 0 &&
        strcmp(alias, SCEP_CONFIG_BUILTIN_ALIAS) == 0 &&
        scep_config_alias_add(ctx->config, alias) == SCEP_OK)
        settings = scep_config_alias(ctx->config, alias);
    return settings;
}

static long long pending_expiry(struct scepctl *ctx, const char *alias)
{
    const struct scep_config_alias_settings *settings = alias_settings(ctx, alias);
    return settings != NULL ? settings->pendingexpiry : 7 * SCEP_CONFIG_DAY;
}

static X509_REQ *request_csr(const scep_store_request *row)
{
    const unsigned char *p = row->csr_der;
    if (p == NULL || row->csr_der_len == 0 || row->csr_der_len > SCEP_STORE_MAX_BLOB)
        return NULL;
    return d2i_X509_REQ(NULL, &p, (long)row->csr_der_len);
}

static int parse_status(scep_store_request_status *out, bool *expired, const char *text)
{
    static const struct {
        const char *name;
        scep_store_request_status status;
    } names[] = {{"pending", SCEP_REQ_PENDING},
                 {"issued", SCEP_REQ_ISSUED},
                 {"rejected", SCEP_REQ_REJECTED},
                 {"failed", SCEP_REQ_FAILED},
                 {"expired", 0}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].status;
            *expired = names[i].status == 0;
            return 0;
        }
    return -1;
}

static int request_list(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *status_text = scepctl_arg(args, "status");
    const char *alias = scepctl_arg(args, "alias");
    scep_store_request_status status = 0;
    bool expired_only = false;
    scep_store_request *rows = NULL;
    size_t count = 0, shown = 0;
    if (status_text != NULL && parse_status(&status, &expired_only, status_text) < 0)
        return scepctl_usage(ctx, "request list: --status is pending, issued, rejected, failed "
                                  "or expired");
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if (scep_store_request_list(&rows, &count, ctx->store, status, 0) < 0)
        return scepctl_fail(ctx, "cannot list the requests");
    for (size_t i = 0; i < count; i++) {
        const scep_store_request *row = &rows[i];
        if (alias != NULL && strcmp(row->alias, alias) != 0)
            continue;
        const char *shown_status = status_name(row, pending_expiry(ctx, row->alias));
        bool is_expired = strcmp(shown_status, "expired") == 0;
        if ((expired_only && !is_expired) ||
            (status == SCEP_REQ_PENDING && is_expired && !expired_only))
            continue;
        char created[32];
        char *subject = NULL;
        X509_REQ *csr = request_csr(row);
        if (csr == NULL || scep_dn_format(&subject, X509_REQ_get_subject_name(csr)) < 0)
            subject = NULL;
        scepctl_format_time(created, row->created_at);
        if (shown++ == 0)
            fprintf(ctx->out, "ID\tSTATUS\tALIAS\tCREATED\tCLIENT\tSUBJECT\tTRANSACTION\n");
        fprintf(ctx->out, "%lld\t%s\t%s\t%s\t%s\t%s\t%s\n", (long long)row->id, shown_status,
                row->alias, created, row->client_addr ? row->client_addr : "-",
                subject ? subject : "?", row->transaction_id);
        OPENSSL_free(subject);
        X509_REQ_free(csr);
    }
    if (shown == 0)
        fprintf(ctx->err, "no requests\n");
    scep_store_request_list_free(rows, count);
    return 0;
}

static int get_request(struct scepctl *ctx, scep_store_request **out, const char *id_text)
{
    char *end = NULL;
    long long id = strtoll(id_text, &end, 10);
    if (end == id_text || *end != '\0' || id <= 0)
        return scepctl_usage(ctx, "request: ID is a positive number (see scepctl request list)");
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    rc = scep_store_request_get(out, ctx->store, (int64_t)id);
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no request %lld (see scepctl request list)", id);
    if (rc < 0)
        return scepctl_fail(ctx, "request %lld", id);
    return 0;
}

static void print_csr_details(struct scepctl *ctx, X509_REQ *csr)
{
    char *subject = NULL;
    if (scep_dn_format(&subject, X509_REQ_get_subject_name(csr)) == SCEP_OK)
        fprintf(ctx->out, "Subject:      %s\n", subject);
    OPENSSL_free(subject);
    EVP_PKEY *key = X509_REQ_get0_pubkey(csr);
    char curve[64] = "";
    size_t curve_len = 0;
    if (key == NULL)
        fprintf(ctx->out, "Key:          unknown\n");
    else if (EVP_PKEY_is_a(key, "EC") &&
             EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve), &curve_len) == 1)
        fprintf(ctx->out, "Key:          EC %s\n", curve);
    else
        fprintf(ctx->out, "Key:          %s %d bits\n", EVP_PKEY_get0_type_name(key),
                EVP_PKEY_get_bits(key));
    STACK_OF(X509_EXTENSION) *extensions = X509_REQ_get_extensions(csr);
    for (int i = 0; i < sk_X509_EXTENSION_num(extensions); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(extensions, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name)
            scepctl_print_sans(ctx, ext);
    }
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
    ERR_clear_error();
}

static int request_show(struct scepctl *ctx, const struct scepctl_args *args)
{
    scep_store_request *row = NULL;
    int rc = get_request(ctx, &row, args->positional[0]);
    if (rc != 0)
        return rc;
    long long expiry = pending_expiry(ctx, row->alias);
    char created[32], updated[32], expires[32];
    scepctl_format_time(created, row->created_at);
    scepctl_format_time(updated, row->updated_at);
    scepctl_format_time(expires, row->created_at + expiry);
    fprintf(ctx->out,
            "ID:           %lld\n"
            "Status:       %s\n"
            "Alias:        %s\n"
            "Transaction:  %s\n"
            "Client:       %s\n"
            "Received:     %s\n"
            "Updated:      %s\n",
            (long long)row->id, status_name(row, expiry), row->alias, row->transaction_id,
            row->client_addr ? row->client_addr : "-", created, updated);
    if (row->status == SCEP_REQ_PENDING)
        fprintf(ctx->out, "Expires:      %s\n", expires);
    X509_REQ *csr = request_csr(row);
    if (csr != NULL)
        print_csr_details(ctx, csr);
    else
        fprintf(ctx->out, "Subject:      (the stored CSR is unreadable)\n");
    if (row->decided_mode != NULL) {
        /* What approval issues: the names scepd decided, not the CSR's (docs/security.md). */
        fprintf(ctx->out,
                "End entity:   %s (%s)\n"
                "Issues:       %s\n"
                "With names:   %s\n"
                "CA, profile:  %s, %s\n",
                row->decided_username ? row->decided_username : "-", row->decided_mode,
                row->decided_subject ? row->decided_subject : "-",
                row->decided_sans && row->decided_sans[0] ? row->decided_sans : "-",
                row->ca_name ? row->ca_name : "-",
                row->decided_profile ? row->decided_profile : "-");
        if (row->replaces_serial != NULL)
            fprintf(ctx->out, "Replaces:     serial %s (revoked when issued)\n",
                    row->replaces_serial);
    }
    if (row->reason != NULL)
        fprintf(ctx->out, "Reason:       %s\n", row->reason);
    if (row->cert_serial != NULL)
        fprintf(ctx->out, "Certificate:  %s serial %s\n", row->ca_name ? row->ca_name : "?",
                row->cert_serial);
    X509_REQ_free(csr);
    scep_store_request_free(row);
    return 0;
}

/* Parses a request ID; 0 or a usage exit code. */
static int parse_id(struct scepctl *ctx, int64_t *out, const char *id_text)
{
    char *end = NULL;
    long long id = strtoll(id_text, &end, 10);
    if (end == id_text || *end != '\0' || id <= 0)
        return scepctl_usage(ctx, "request: ID is a positive number (see scepctl request list)");
    *out = (int64_t)id;
    return 0;
}

/* The decision is scep_request_approve's or _reject's, as it is for scepd's admin API. */
static int decide(struct scepctl *ctx, const struct scepctl_args *args, const char *reason)
{
    int64_t id = 0;
    char actor[96];
    scep_request_decided decided;
    int rc = parse_id(ctx, &id, args->positional[0]);
    if (rc != 0)
        return rc;
    if ((rc = scepctl_open_store(ctx)) != 0)
        return rc;
    /* The built-in alias exists while the file configures none, as for scepd. */
    if (scep_config_alias_count(ctx->config) == 0 &&
        scep_config_alias_add(ctx->config, SCEP_CONFIG_BUILTIN_ALIAS) < 0)
        return scepctl_fail(ctx, "configuration");
    scepctl_actor(actor, sizeof(actor));
    rc = reason == NULL ? scep_request_approve(&decided, ctx->store, ctx->config, id, actor)
                        : scep_request_reject(&decided, ctx->store, ctx->config, id, reason, actor);
    if (decided.audit_failed)
        scepctl_warn(ctx, "the audit event was not recorded: %s", scep_error_message());
    if (rc == SCEP_EINVAL)
        return scepctl_usage(ctx, "request reject: --reason: %s", scep_error_message());
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "no request %lld (see scepctl request list)", (long long)id);
    if (rc == SCEP_ESTATE || rc == SCEP_ECONFIG)
        return scepctl_error(ctx, "%s", scep_error_message());
    if (rc < 0)
        return scepctl_fail(ctx, "request %lld", (long long)id);
    if (reason == NULL)
        fprintf(ctx->out, "Request %lld approved: %s serial %s for %s\n", (long long)id,
                decided.ca_name, decided.serial, decided.username);
    else
        fprintf(ctx->out, "Request %lld rejected\n", (long long)id);
    return 0;
}

static int request_approve(struct scepctl *ctx, const struct scepctl_args *args)
{
    return decide(ctx, args, NULL);
}

static int request_reject(struct scepctl *ctx, const struct scepctl_args *args)
{
    return decide(ctx, args, scepctl_arg(args, "reason"));
}

static const struct scepctl_option list_options[] = {
    {"status", "STATUS", false, "pending, issued, rejected, failed or expired"},
    {"alias", "A", false, "only requests that arrived on alias A"},
};
static const struct scepctl_option reject_options[] = {
    {"reason", "TEXT", true, "why; the client reads it as failInfoText"},
};

static const struct scepctl_command commands[] = {
    {"list", "list [--status STATUS] [--alias A]",
     "List SCEP requests: id, status, alias, time, client address, subject, transactionID.",
     "A pending request past its alias's pendingexpiry is listed as expired.", list_options,
     sizeof(list_options) / sizeof(list_options[0]), 0, 0, request_list},
    {"show", "show ID",
     "Show one request: subject, SANs, key, client, time, alias, transactionID, end entity.", NULL,
     NULL, 0, 1, 1, request_show},
    {"approve", "approve ID",
     "Issue the certificate for a request awaiting approval (its next poll gets it).",
     "Loads the alias's CA (the key file must be 0600 and yours, as for scepd), issues with\n"
     "the end entity's or the alias's profile and consumes the end entity's code.",
     NULL, 0, 1, 1, request_approve},
    {"reject", "reject ID --reason TEXT",
     "Reject a request awaiting approval; its next poll gets FAILURE with TEXT.",
     "The end entity's code is not consumed: the device may send a new request.", reject_options,
     sizeof(reject_options) / sizeof(reject_options[0]), 1, 1, request_reject},
};

const struct scepctl_group scepctl_group_request = {
    "request", "SCEP requests and manual approval: list, show, approve, reject.", commands,
    sizeof(commands) / sizeof(commands[0]), false};
