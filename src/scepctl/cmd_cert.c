/*
 * scepctl cert: the certificates scepd issued (or that were imported). Only
 * `cert revoke` (cmd_crl.c) writes.
 */
#include "scepctl/scepctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crl/revoke.h"
#include "scep/ca.h"

static const char *cert_status_name(scep_store_cert_status status)
{
    return status == SCEP_CERT_REVOKED ? "revoked" : "valid";
}

static int cert_list(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *status = scepctl_arg(args, "status");
    scep_store_cert_filter filter = {.ca_name = scepctl_arg(args, "ca"),
                                     .subject = scepctl_arg(args, "subject")};
    if (status != NULL) {
        if (strcmp(status, "valid") == 0)
            filter.status = SCEP_CERT_VALID;
        else if (strcmp(status, "revoked") == 0)
            filter.status = SCEP_CERT_REVOKED;
        else
            return scepctl_usage(ctx, "--status %s: expected valid or revoked", status);
    }
    scep_store_cert *rows = NULL;
    size_t count = 0;
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    if (scep_store_cert_list(&rows, &count, ctx->store, &filter) < 0)
        return scepctl_fail(ctx, "cannot list the certificates");
    if (count == 0)
        fprintf(ctx->err, "no certificates\n");
    else
        fprintf(ctx->out, "SERIAL\tCA\tSTATUS\tNOT AFTER\tUSERNAME\tSUBJECT\n");
    for (size_t i = 0; i < count; i++) {
        char not_after[32];
        scepctl_format_time(not_after, rows[i].not_after);
        fprintf(ctx->out, "%s\t%s\t%s\t%s\t%s\t%s\n", rows[i].serial, rows[i].ca_name,
                cert_status_name(rows[i].status), not_after,
                rows[i].username ? rows[i].username : "-", rows[i].subject ? rows[i].subject : "-");
    }
    scep_store_cert_list_free(rows, count);
    return 0;
}

/*
 * The certificate with `serial` under `ca_name`, or, without a CA name, under
 * whichever CA has it (a usage error when several do).
 */
int scepctl_find_cert(struct scepctl *ctx, scep_store_cert **out, const char *ca_name,
                      const char *serial)
{
    int rc = scep_cert_find(out, ctx->store, ca_name, serial);
    if (rc == SCEP_EEXISTS)
        return scepctl_usage(ctx, "%s (--ca NAME)", scep_error_message());
    if (rc == SCEP_ENOTFOUND)
        return scepctl_error(ctx, "%s", scep_error_message());
    if (rc < 0)
        return scepctl_fail(ctx, "certificate %s", serial);
    return 0;
}

static int cert_show(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *given = scepctl_arg(args, "serial");
    char serial[SCEP_SERIAL_HEX_MAX];
    ASN1_INTEGER *number = NULL;
    scep_store_cert *row = NULL;
    X509 *cert = NULL;
    /* One spelling whatever was typed: "0x1a:2b", "1A2B". */
    if (scep_serial_from_hex(&number, given) < 0)
        return scepctl_fail(ctx, "--serial %s", given);
    int rc = scep_serial_to_hex(serial, number) < 0 ? scepctl_fail(ctx, "--serial %s", given) : 0;
    ASN1_INTEGER_free(number);
    if (rc != 0 || (rc = scepctl_open_store(ctx)) != 0 ||
        (rc = scepctl_find_cert(ctx, &row, scepctl_arg(args, "ca"), serial)) != 0)
        goto cleanup;
    if (scep_cert_decode(&cert, row->der, row->der_len) < 0) {
        rc = scepctl_fail(ctx, "certificate %s: the stored DER is unreadable", serial);
        goto cleanup;
    }
    fprintf(ctx->out, "CA:           %s\nStatus:       %s\n", row->ca_name,
            cert_status_name(row->status));
    if (row->status == SCEP_CERT_REVOKED) {
        char revoked[32];
        scepctl_format_time(revoked, row->revoked_at);
        fprintf(ctx->out, "Revoked:      %s (reason %d)\n", revoked, row->revocation_reason);
    }
    if (row->username != NULL)
        fprintf(ctx->out, "Username:     %s\n", row->username);
    if (row->transaction_id != NULL)
        fprintf(ctx->out, "Transaction:  %s\n", row->transaction_id);
    if ((rc = scepctl_print_cert_summary(ctx, cert)) != 0)
        goto cleanup;
    fprintf(ctx->out, "\n");
    rc = scepctl_print_pem(ctx, cert);

cleanup:
    X509_free(cert);
    scep_store_cert_free(row);
    return rc;
}

static const struct scepctl_option list_options[] = {
    {"ca", "NAME", false, "only this CA's certificates"},
    {"status", "STATUS", false, "valid or revoked"},
    {"subject", "DN", false, "only certificates with exactly this subject, as listed"},
};
static const struct scepctl_option show_options[] = {
    {"serial", "HEX", true, "serial number (any case; colons and 0x allowed)"},
    {"ca", "NAME", false, "the issuing CA (needed only when two CAs share the serial)"},
};
static const struct scepctl_command cert_commands[] = {
    {"list", "list [--ca NAME] [--status valid|revoked] [--subject DN]",
     "List certificates: serial, CA, status, notAfter, username, subject.", NULL, list_options,
     sizeof(list_options) / sizeof(list_options[0]), 0, 0, cert_list},
    {"show", "show --serial HEX [--ca NAME]",
     "Show a certificate: subject, issuer, serial, validity, SANs, fingerprints and PEM.", NULL,
     show_options, sizeof(show_options) / sizeof(show_options[0]), 0, 0, cert_show},
    {"revoke", "revoke --serial HEX --reason REASON [--ca NAME]",
     "Revoke a certificate, mark its end entity REVOKED, and regenerate the CA's CRL.",
     scepctl_cert_revoke_details, scepctl_cert_revoke_options, SCEPCTL_CERT_REVOKE_OPTION_COUNT, 0,
     0, scepctl_cert_revoke},
};

const struct scepctl_group scepctl_group_cert = {
    "cert", "Issued certificates: list, show, revoke.", cert_commands,
    sizeof(cert_commands) / sizeof(cert_commands[0]), false};
