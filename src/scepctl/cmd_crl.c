/*
 * scepctl cert revoke, and scepctl crl: generate and show a CA's CRL. The CRL
 * is the one scepd serves (GetCRL, /crl/NAME.crl): stored in the store, made
 * by crl/publish.c with the next cRLNumber. Revoking regenerates it at once.
 */
#include "scepctl/scepctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl/publish.h"
#include "crl/revoke.h"
#include "scep/ca.h"

static struct scep_crl_timing config_timing(const struct scepctl *ctx)
{
    const struct scep_config_global *global = scep_config_global_values(ctx->config);
    struct scep_crl_timing timing = {.validity = global->crl_validity,
                                     .regenerate_before = global->crl_regenerate_before};
    return timing;
}

/* Makes a new CRL for `ca_name`, signed with its key; `*out` is the caller's. */
static int generate(struct scepctl *ctx, scep_store_crl **out, const char *ca_name)
{
    scep_store_ca *row = NULL;
    scep_ca *ca = NULL;
    struct scep_crl_timing timing = config_timing(ctx);
    int rc = 0;
    if (scep_store_ca_get(&row, ctx->store, ca_name) < 0)
        rc = scepctl_fail(ctx, "CA %s", ca_name);
    else if (scep_crl_load_ca(&ca, row) < 0)
        rc = scepctl_fail(ctx, "cannot load CA %s with its key", ca_name);
    else if (scep_crl_current(out, NULL, ctx->store, ca_name, ca, &timing, 1) < 0)
        rc = scepctl_fail(ctx, "cannot generate the CRL of CA %s", ca_name);
    scep_ca_free(ca);
    scep_store_ca_free(row);
    return rc;
}

static void print_crl_line(struct scepctl *ctx, const scep_store_crl *crl)
{
    char this_update[32], next_update[32];
    scepctl_format_time(this_update, crl->this_update);
    scepctl_format_time(next_update, crl->next_update);
    fprintf(ctx->out, "CRL number %lld of CA %s: %lld revoked, thisUpdate %s, nextUpdate %s\n",
            (long long)crl->crl_number, crl->ca_name, (long long)crl->revoked_count, this_update,
            next_update);
}

/* scep_cert_revoke_audited, the call scepd's admin API makes too. */
int scepctl_cert_revoke(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *given = scepctl_arg(args, "serial");
    const char *reason_name = scepctl_arg(args, "reason");
    char actor[96];
    scep_revocation revocation;
    int reason = scep_crl_reason_from_name(reason_name);
    if (reason < 0)
        return scepctl_usage(ctx, "--reason %s: expected one of %s", reason_name,
                             scep_crl_reason_names());
    int rc = scepctl_open_store(ctx);
    if (rc != 0)
        return rc;
    struct scep_crl_timing timing = config_timing(ctx);
    scepctl_actor(actor, sizeof(actor));
    int revoked = scep_cert_revoke_audited(&revocation, ctx->store, &timing,
                                           scepctl_arg(args, "ca"), given, reason, actor);
    if (revoked == SCEP_EEXISTS)
        rc = scepctl_usage(ctx, "%s (--ca NAME)", scep_error_message());
    else if (revoked == SCEP_ENOTFOUND || revoked == SCEP_ESTATE)
        rc = scepctl_error(ctx, "%s", scep_error_message());
    else if (revoked < 0)
        rc = scepctl_fail(ctx, "cannot revoke certificate %s", given);
    if (rc != 0)
        goto cleanup;
    fprintf(ctx->out, "revoked certificate %s of CA %s (%s)\n", revocation.serial,
            revocation.ca_name, scep_crl_reason_name(reason));
    if (revocation.end_entity_revoked)
        fprintf(ctx->out, "end entity %.*s is now REVOKED (ee reset lets it enroll again)\n",
                (int)(strlen(revocation.end_entity) - strlen(":REVOKED")), revocation.end_entity);
    if (revocation.end_entity_failed)
        scepctl_warn(ctx, "the end entity was not marked revoked");
    if (revocation.audit_failed)
        scepctl_warn(ctx, "the audit event was not recorded");
    if (revocation.crl == NULL)
        scepctl_warn(ctx, "the CRL was not regenerated now; scepd will on its next CRL request");
    else
        print_crl_line(ctx, revocation.crl);
cleanup:
    scep_revocation_clear(&revocation);
    return rc;
}

/* Writes `der` to `path` through a temporary file and rename, so readers never see half. */
static int write_file(struct scepctl *ctx, const char *path, const unsigned char *der, size_t len)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return scepctl_error(ctx, "--out %s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return scepctl_error(ctx, "cannot write %s", tmp);
    int ok = fwrite(der, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return scepctl_error(ctx, "cannot write %s", path);
    }
    return 0;
}

static int check_ca_name(struct scepctl *ctx, const char *name)
{
    return scepctl_ca_name_valid(name) ? 0 : scepctl_usage(ctx, "--ca %s: not a CA name", name);
}

static int crl_generate(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *ca_name = scepctl_arg(args, "ca");
    const char *out_path = scepctl_arg(args, "out");
    scep_store_crl *crl = NULL;
    int rc = check_ca_name(ctx, ca_name);
    if (rc != 0 || (rc = scepctl_open_store(ctx)) != 0 || (rc = generate(ctx, &crl, ca_name)) != 0)
        goto cleanup;
    print_crl_line(ctx, crl);
    char detail[160];
    snprintf(detail, sizeof(detail), "ca=%s crl_number=%lld", ca_name, (long long)crl->crl_number);
    scepctl_audit(ctx, "crl_generate", NULL, detail);
    if (out_path != NULL && (rc = write_file(ctx, out_path, crl->der, crl->der_len)) == 0)
        fprintf(ctx->out, "wrote %s (DER)\n", out_path);
cleanup:
    scep_store_crl_free(crl);
    return rc;
}

static int crl_show(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *ca_name = scepctl_arg(args, "ca");
    scep_store_crl *stored = NULL;
    X509_CRL *crl = NULL;
    int64_t revoked_count = 0;
    int rc = check_ca_name(ctx, ca_name);
    if (rc != 0 || (rc = scepctl_open_store(ctx)) != 0)
        goto cleanup;
    int found = scep_store_crl_get(&stored, ctx->store, ca_name);
    if (found == SCEP_ENOTFOUND) {
        rc = scepctl_error(ctx, "CA %s has no CRL yet (scepctl crl generate --ca %s)", ca_name,
                           ca_name);
        goto cleanup;
    }
    if (found < 0 || scep_store_cert_count_revoked(&revoked_count, ctx->store, ca_name) < 0) {
        rc = scepctl_fail(ctx, "CRL of CA %s", ca_name);
        goto cleanup;
    }
    const unsigned char *p = stored->der;
    crl = d2i_X509_CRL(NULL, &p, (long)stored->der_len);
    if (crl == NULL) {
        rc = scepctl_error(ctx, "CRL of CA %s: the stored DER is unreadable", ca_name);
        goto cleanup;
    }
    struct scep_crl_timing timing = config_timing(ctx);
    print_crl_line(ctx, stored);
    fprintf(ctx->out, "Status: %s\n",
            scep_crl_is_current(stored, revoked_count, &timing, (int64_t)time(NULL))
                ? "current"
                : "stale (scepd makes a new one on the next request)");
    STACK_OF(X509_REVOKED) *entries = X509_CRL_get_REVOKED(crl);
    if (sk_X509_REVOKED_num(entries) > 0)
        fprintf(ctx->out, "SERIAL\tREVOKED\tREASON\n");
    for (int i = 0; i < sk_X509_REVOKED_num(entries); i++) {
        const X509_REVOKED *entry = sk_X509_REVOKED_value(entries, i);
        char serial[SCEP_SERIAL_HEX_MAX], when[32];
        if (scep_serial_to_hex(serial, X509_REVOKED_get0_serialNumber(entry)) < 0)
            snprintf(serial, sizeof(serial), "?");
        scepctl_format_asn1_time(when, X509_REVOKED_get0_revocationDate(entry));
        ASN1_ENUMERATED *code = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
        const char *reason = scep_crl_reason_name(code ? (int)ASN1_ENUMERATED_get(code) : 0);
        fprintf(ctx->out, "%s\t%s\t%s\n", serial, when, reason != NULL ? reason : "?");
        ASN1_ENUMERATED_free(code);
    }
cleanup:
    X509_CRL_free(crl);
    scep_store_crl_free(stored);
    return rc;
}

const struct scepctl_option scepctl_cert_revoke_options[SCEPCTL_CERT_REVOKE_OPTION_COUNT] = {
    {"serial", "HEX", true, "serial number (any case; colons and 0x allowed)"},
    {"reason", "REASON", true, "RFC 5280 CRLReason, e.g. keyCompromise, superseded"},
    {"ca", "NAME", false, "the issuing CA (needed only when two CAs share the serial)"},
};

const char scepctl_cert_revoke_details[] =
    "Reasons (RFC 5280 5.3.1): unspecified, keyCompromise, cACompromise, affiliationChanged,\n"
    "superseded, cessationOfOperation, certificateHold, removeFromCRL, privilegeWithdrawn,\n"
    "aACompromise. Revoking a revoked certificate is an error. The end entity becomes\n"
    "REVOKED only when this was its newest certificate and its status is GENERATED.";

static const struct scepctl_option generate_options[] = {
    {"ca", "NAME", true, "the CA"},
    {"out", "FILE", false, "also write the CRL to FILE (DER)"},
};
static const struct scepctl_option show_options[] = {
    {"ca", "NAME", true, "the CA"},
};

static const struct scepctl_command crl_commands[] = {
    {"generate", "generate --ca NAME [--out FILE]",
     "Make and store a new CRL now (next CRL number); scepd serves it from then on.", NULL,
     generate_options, sizeof(generate_options) / sizeof(generate_options[0]), 0, 0, crl_generate},
    {"show", "show --ca NAME",
     "Show the stored CRL: number, thisUpdate, nextUpdate, status and revoked serials.", NULL,
     show_options, sizeof(show_options) / sizeof(show_options[0]), 0, 0, crl_show},
};

const struct scepctl_group scepctl_group_crl = {
    "crl", "Certificate revocation lists: generate, show.", crl_commands,
    sizeof(crl_commands) / sizeof(crl_commands[0]), false};
