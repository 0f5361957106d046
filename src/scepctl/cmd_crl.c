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
#include "scep/ca.h"

/* Pages of certificates read while looking for an end entity's newest one. */
#define CERT_PAGE      500
#define CERT_PAGES_MAX (SCEP_STORE_MAX_LIST / CERT_PAGE * 10)

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

/* Whether `cert` is the newest certificate issued to its end entity (by store id). */
static int is_newest_of_user(struct scepctl *ctx, int *out, const scep_store_cert *cert)
{
    *out = 1;
    for (size_t page = 0; page < CERT_PAGES_MAX; page++) {
        scep_store_cert *rows = NULL;
        size_t count = 0;
        scep_store_cert_filter filter = {.limit = CERT_PAGE, .offset = page * CERT_PAGE};
        if (scep_store_cert_list(&rows, &count, ctx->store, &filter) < 0)
            return scepctl_fail(ctx, "cannot list the certificates");
        for (size_t i = 0; i < count; i++)
            if (rows[i].id > cert->id && rows[i].username != NULL &&
                strcmp(rows[i].username, cert->username) == 0)
                *out = 0;
        scep_store_cert_list_free(rows, count);
        if (count < CERT_PAGE || *out == 0)
            return 0;
    }
    return 0;
}

/*
 * The end entity becomes REVOKED when this was its newest certificate and it
 * is GENERATED; a NEW one (reset to enroll again) or a DISABLED one is left
 * alone, as is one whose newer certificate is still valid.
 */
static void revoke_end_entity(struct scepctl *ctx, const scep_store_cert *cert, char *note,
                              size_t note_size)
{
    scep_store_end_entity *ee = NULL;
    int newest = 0;
    snprintf(note, note_size, "-");
    if (cert->username == NULL || scep_store_ee_get(&ee, ctx->store, cert->username) < 0 ||
        is_newest_of_user(ctx, &newest, cert) != 0) {
        scep_store_ee_free(ee);
        return;
    }
    if (newest && ee->status == SCEP_EE_GENERATED) {
        if (scep_store_ee_set_status(ctx->store, ee->username, SCEP_EE_REVOKED) < 0)
            scepctl_warn(ctx, "end entity %s was not marked revoked: %s", ee->username,
                         scep_error_message());
        else {
            fprintf(ctx->out, "end entity %s is now REVOKED (ee reset lets it enroll again)\n",
                    ee->username);
            snprintf(note, note_size, "%s:REVOKED", ee->username);
        }
    } else {
        snprintf(note, note_size, "%s:unchanged", ee->username);
    }
    scep_store_ee_free(ee);
}

int scepctl_cert_revoke(struct scepctl *ctx, const struct scepctl_args *args)
{
    const char *given = scepctl_arg(args, "serial");
    const char *reason_name = scepctl_arg(args, "reason");
    char serial[SCEP_SERIAL_HEX_MAX];
    ASN1_INTEGER *number = NULL;
    scep_store_cert *row = NULL;
    scep_store_crl *crl = NULL;
    char ee_note[320], detail[512];

    int reason = scep_crl_reason_from_name(reason_name);
    if (reason < 0)
        return scepctl_usage(ctx, "--reason %s: expected one of %s", reason_name,
                             scep_crl_reason_names());
    if (scep_serial_from_hex(&number, given) < 0)
        return scepctl_fail(ctx, "--serial %s", given);
    int rc = scep_serial_to_hex(serial, number) < 0 ? scepctl_fail(ctx, "--serial %s", given) : 0;
    ASN1_INTEGER_free(number);
    if (rc != 0 || (rc = scepctl_open_store(ctx)) != 0 ||
        (rc = scepctl_find_cert(ctx, &row, scepctl_arg(args, "ca"), serial)) != 0)
        goto cleanup;
    if (row->status == SCEP_CERT_REVOKED) {
        char when[32];
        scepctl_format_time(when, row->revoked_at);
        const char *had = scep_crl_reason_name(row->revocation_reason);
        rc = scepctl_error(ctx, "certificate %s of CA %s is already revoked (since %s, reason %s)",
                           serial, row->ca_name, when, had != NULL ? had : "?");
        goto cleanup;
    }
    int revoked = scep_store_cert_revoke(ctx->store, row->ca_name, serial, 0, reason);
    if (revoked == SCEP_ESTATE) {
        rc = scepctl_error(ctx, "certificate %s of CA %s is already revoked", serial, row->ca_name);
        goto cleanup;
    }
    if (revoked < 0) {
        rc = scepctl_fail(ctx, "cannot revoke certificate %s of CA %s", serial, row->ca_name);
        goto cleanup;
    }
    fprintf(ctx->out, "revoked certificate %s of CA %s (%s)\n", serial, row->ca_name,
            scep_crl_reason_name(reason));
    revoke_end_entity(ctx, row, ee_note, sizeof(ee_note));
    snprintf(detail, sizeof(detail), "ca=%s serial=%s reason=%s end_entity=%s", row->ca_name,
             serial, scep_crl_reason_name(reason), ee_note);
    scepctl_audit(ctx, "revoke", NULL, detail);

    /* The revocation stands either way; scepd regenerates a CRL that misses it. */
    if (generate(ctx, &crl, row->ca_name) != 0)
        scepctl_warn(ctx, "the CRL was not regenerated now; scepd will on its next CRL request");
    else
        print_crl_line(ctx, crl);

cleanup:
    scep_store_crl_free(crl);
    scep_store_cert_free(row);
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
