#include "crl/revoke.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Pages of certificates read while looking for an end entity's newest one. */
#define CERT_PAGE      500
#define CERT_PAGES_MAX (SCEP_STORE_MAX_LIST / CERT_PAGE * 10)

int scep_cert_find(scep_store_cert **out, scep_store *store, const char *ca_name,
                   const char *serial)
{
    int rc = SCEP_OK;
    char normal[SCEP_SERIAL_HEX_MAX];
    ASN1_INTEGER *number = NULL;
    scep_store_ca *cas = NULL;
    size_t count = 0;
    scep_store_cert *found = NULL;
    *out = NULL;
    /* One spelling whatever was typed: "0x1a:2b", "1A2B". */
    rc = scep_serial_from_hex(&number, serial);
    if (rc == SCEP_OK)
        rc = scep_serial_to_hex(normal, number);
    ENSURE(rc == SCEP_OK, SCEP_EINVAL, "%s is not a serial number (hex)", serial);
    if (ca_name != NULL) {
        rc = scep_store_cert_get(&found, store, ca_name, normal);
        if (rc == SCEP_ENOTFOUND)
            rc = scep_fail(SCEP_ENOTFOUND, "no certificate %s of CA %s", normal, ca_name);
        GUARD(rc);
    } else {
        GUARD(scep_store_ca_list(&cas, &count, store));
        for (size_t i = 0; i < count; i++) {
            scep_store_cert *cert = NULL;
            rc = scep_store_cert_get(&cert, store, cas[i].name, normal);
            if (rc == SCEP_ENOTFOUND)
                continue;
            GUARD(rc);
            if (found != NULL) {
                rc = scep_fail(SCEP_EEXISTS, "serial %s exists under CAs %s and %s: name the CA",
                               normal, found->ca_name, cas[i].name);
                scep_store_cert_free(cert);
                goto cleanup;
            }
            found = cert;
        }
        rc = SCEP_OK;
        ENSURE(found != NULL, SCEP_ENOTFOUND, "no certificate with serial %s", normal);
    }
    *out = found;
    found = NULL;
cleanup:
    scep_store_cert_free(found);
    scep_store_ca_list_free(cas, count);
    ASN1_INTEGER_free(number);
    return rc;
}

/* Whether `cert` is the newest certificate issued to its end entity (by store id). */
static int is_newest_of_user(int *out, scep_store *store, const scep_store_cert *cert)
{
    *out = 1;
    for (size_t page = 0; page < CERT_PAGES_MAX; page++) {
        scep_store_cert *rows = NULL;
        size_t count = 0;
        scep_store_cert_filter filter = {.limit = CERT_PAGE, .offset = page * CERT_PAGE};
        int rc = scep_store_cert_list(&rows, &count, store, &filter);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < count; i++)
            if (rows[i].id > cert->id && rows[i].username != NULL &&
                strcmp(rows[i].username, cert->username) == 0)
                *out = 0;
        scep_store_cert_list_free(rows, count);
        if (count < CERT_PAGE || *out == 0)
            return SCEP_OK;
    }
    return SCEP_OK;
}

/*
 * The end entity becomes REVOKED when this was its newest certificate and it
 * is GENERATED; a NEW one (reset to enroll again) or a DISABLED one is left
 * alone, as is one whose newer certificate is still valid.
 */
static void revoke_end_entity(scep_revocation *out, scep_store *store, const scep_store_cert *cert)
{
    scep_store_end_entity *ee = NULL;
    int newest = 0;
    snprintf(out->end_entity, sizeof(out->end_entity), "-");
    if (cert->username == NULL || scep_store_ee_get(&ee, store, cert->username) < 0 ||
        is_newest_of_user(&newest, store, cert) < 0) {
        scep_store_ee_free(ee);
        return;
    }
    if (newest && ee->status == SCEP_EE_GENERATED) {
        if (scep_store_ee_set_status(store, ee->username, SCEP_EE_REVOKED) < 0) {
            out->end_entity_failed = 1;
        } else {
            out->end_entity_revoked = 1;
            snprintf(out->end_entity, sizeof(out->end_entity), "%s:REVOKED", ee->username);
        }
    } else {
        snprintf(out->end_entity, sizeof(out->end_entity), "%s:unchanged", ee->username);
    }
    scep_store_ee_free(ee);
}

/* A new CRL for `ca_name`, signed with its key; NULL when it cannot be made now. */
static scep_store_crl *regenerate(scep_store *store, const char *ca_name,
                                  const struct scep_crl_timing *timing)
{
    scep_store_ca *row = NULL;
    scep_ca *ca = NULL;
    scep_store_crl *crl = NULL;
    if (scep_store_ca_get(&row, store, ca_name) < 0 || scep_crl_load_ca(&ca, row) < 0 ||
        scep_crl_current(&crl, NULL, store, ca_name, ca, timing, 1) < 0)
        crl = NULL;
    scep_ca_free(ca);
    scep_store_ca_free(row);
    return crl;
}

int scep_cert_revoke_audited(scep_revocation *out, scep_store *store,
                             const struct scep_crl_timing *timing, const char *ca_name,
                             const char *serial, int reason, const char *actor)
{
    int rc = SCEP_OK;
    scep_store_cert *row = NULL;
    memset(out, 0, sizeof(*out));
    const char *reason_name = scep_crl_reason_name(reason);
    ENSURE(reason_name != NULL, SCEP_EINVAL, "not a CRLReason: expected one of %s",
           scep_crl_reason_names());
    GUARD(scep_cert_find(&row, store, ca_name, serial));
    snprintf(out->ca_name, sizeof(out->ca_name), "%s", row->ca_name);
    snprintf(out->serial, sizeof(out->serial), "%s", row->serial);
    if (row->status == SCEP_CERT_REVOKED) {
        char when[32] = "?";
        time_t t = (time_t)row->revoked_at;
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
        const char *had = scep_crl_reason_name(row->revocation_reason);
        ENSURE(0, SCEP_ESTATE, "certificate %s of CA %s is already revoked (since %s, reason %s)",
               row->serial, row->ca_name, when, had != NULL ? had : "?");
    }
    rc = scep_store_cert_revoke(store, row->ca_name, row->serial, 0, reason);
    if (rc == SCEP_ESTATE)
        rc = scep_fail(SCEP_ESTATE, "certificate %s of CA %s is already revoked", row->serial,
                       row->ca_name);
    GUARD(rc);
    revoke_end_entity(out, store, row);
    char detail[512];
    snprintf(detail, sizeof(detail), "ca=%s serial=%s reason=%s end_entity=%s", row->ca_name,
             row->serial, reason_name, out->end_entity);
    scep_store_audit_event event = {
        .actor = actor, .action = "revoke", .outcome = "ok", .detail = detail};
    if (scep_store_audit_append(store, &event) < 0)
        out->audit_failed = 1;
    /* The revocation stands either way; scepd regenerates a CRL that misses it. */
    out->crl = regenerate(store, row->ca_name, timing);
cleanup:
    scep_store_cert_free(row);
    return rc;
}

void scep_revocation_clear(scep_revocation *revocation)
{
    if (revocation == NULL)
        return;
    scep_store_crl_free(revocation->crl);
    revocation->crl = NULL;
}
