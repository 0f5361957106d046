#include "issuance/issuance.h"
#include "ca/ca_internal.h"
#include "ca/profiles.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SERIAL_ATTEMPTS 5

static int pem_to_cert(X509 **out, const char *pem, const char *what)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (cert == NULL)
        return scep_fail_ossl(SCEP_ESTORE, "%s: stored certificate is not PEM", what);
    *out = cert;
    return SCEP_OK;
}

static int pem_to_chain(STACK_OF(X509) * *out, const char *pem)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (chain == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    if (pem != NULL && pem[0] != '\0') {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *cert;
        while (bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            sk_X509_push(chain, cert);
        BIO_free(bio);
        ERR_clear_error();
    }
    *out = chain;
    return SCEP_OK;
}

int scep_ca_load_stored(scep_ca **out, unsigned *out_warnings, const scep_store_ca *row)
{
    int rc = SCEP_OK;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *chain = NULL;

    /* A key file must be 0600 and ours: refuse to sign with it otherwise. */
    GUARD(scep_key_open(&key, row->key_ref, SCEP_KEY_OPEN_CHECK_FILE));
    GUARD(pem_to_cert(&cert, row->cert_pem, row->name));
    GUARD(pem_to_chain(&chain, row->chain_pem));
    GUARD(scep_ca_new(out, out_warnings, cert, key, chain));

cleanup:
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

int scep_ca_load_active(scep_ca **out, unsigned *out_warnings, const scep_store_ca *row, time_t now)
{
    scep_store_ca active = *row;
    if (row->next_key_ref != NULL && row->next_cert_pem != NULL && row->next_activate_at > 0 &&
        (int64_t)now >= row->next_activate_at) {
        active.cert_pem = row->next_cert_pem;
        active.key_ref = row->next_key_ref;
    }
    return scep_ca_load_stored(out, out_warnings, &active);
}

static const struct {
    const char *field;
    int nid;
} username_fields[] = {
    {"CN", NID_commonName},
    {"serialNumber", NID_serialNumber},
    {"UID", NID_userId},
    {"emailAddress", NID_pkcs9_emailAddress},
    {"unstructuredName", NID_pkcs9_unstructuredName},
    {"unstructuredAddress", NID_pkcs9_unstructuredAddress},
    {"OU", NID_organizationalUnitName},
    {"O", NID_organizationName},
    {"DC", NID_domainComponent},
};

static int entry_text(char *out, size_t out_size, const X509_NAME *name, int nid)
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0)
        return -1;
    ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, value);
    if (len <= 0 || (size_t)len >= out_size || memchr(utf8, '\0', (size_t)len) != NULL) {
        OPENSSL_free(utf8);
        return -1;
    }
    memcpy(out, utf8, (size_t)len);
    out[len] = '\0';
    OPENSSL_free(utf8);
    return 0;
}

int scep_username_from_subject(char *out, size_t out_size, const X509_NAME *subject,
                               const struct scep_config_list *fields)
{
    /* interop.md §4: Cisco puts its identity in serialNumber, so the field list is configurable. */
    for (size_t i = 0; i < fields->count; i++)
        for (size_t k = 0; k < sizeof(username_fields) / sizeof(username_fields[0]); k++)
            if (strcasecmp(fields->items[i], username_fields[k].field) == 0 &&
                entry_text(out, out_size, subject, username_fields[k].nid) == 0)
                return SCEP_OK;
    return scep_fail(SCEP_ENOTFOUND, "the subject has none of the usernamefield RDNs");
}

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The certificate row for `cert`; the strings and DER it points to are the caller's to free. */
static int fill_cert_row(scep_store_cert *row, char *serial_hex, char **subject, char **issuer,
                         unsigned char **der, X509 *cert, const scep_stored_issue *issue)
{
    int rc;
    if ((rc = scep_serial_to_hex(serial_hex, X509_get0_serialNumber(cert))) < 0)
        return rc;
    if ((rc = scep_dn_format(subject, X509_get_subject_name(cert))) < 0)
        return rc;
    if ((rc = scep_dn_format(issuer, X509_get_issuer_name(cert))) < 0)
        return rc;
    int der_len = i2d_X509(cert, der);
    if (der_len <= 0)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot encode the certificate");
    memset(row, 0, sizeof(*row));
    row->ca_name = issue->ca_name;
    row->serial = serial_hex;
    row->subject = *subject;
    row->issuer = *issuer;
    row->not_before = asn1_time_to_unix(X509_get0_notBefore(cert));
    row->not_after = asn1_time_to_unix(X509_get0_notAfter(cert));
    row->der = *der;
    row->der_len = (size_t)der_len;
    row->revocation_reason = SCEP_STORE_NO_REASON;
    /* RA mode names the end entity it creates; CA mode the one it consumes. */
    row->username = issue->ra != NULL              ? issue->ra->username
                    : issue->cert_username != NULL ? issue->cert_username
                                                   : issue->username;
    row->transaction_id = issue->transaction_id;
    return SCEP_OK;
}

int scep_ca_issue_stored(X509 **out, scep_store *store, const scep_stored_issue *issue)
{
    int rc = SCEP_EEXISTS;
    for (int attempt = 0; attempt < SERIAL_ATTEMPTS && rc == SCEP_EEXISTS; attempt++) {
        X509 *cert = NULL;
        char serial_hex[SCEP_SERIAL_HEX_MAX];
        char *subject_text = NULL, *issuer_text = NULL;
        unsigned char *der = NULL;
        scep_store_cert row;
        scep_issue_request request = {.csr = issue->csr,
                                      .subject = issue->subject,
                                      .extra_dns_name = issue->extra_dns_name,
                                      .sans = issue->sans,
                                      .proof_verified = issue->proof_verified};
        rc = scep_ca_issue_encoded(&cert, issue->ca, issue->profile, &request);
        if (rc == SCEP_OK)
            rc = fill_cert_row(&row, serial_hex, &subject_text, &issuer_text, &der, cert, issue);
        if (rc == SCEP_OK) {
            scep_store_issuance issuance = {
                .cert = &row,
                .request_id = issue->request_id,
                .username = issue->ra != NULL ? NULL : issue->username,
                .actor = issue->actor,
                .alias = issue->alias,
                .revoke_serial = issue->revoke_serial,
                .revoke_reason = issue->revoke_reason,
                .renews_serial = issue->renews_serial,
                .renewal_username = issue->renewal_username,
            };
            rc = issue->ra != NULL ? scep_store_issue_ra(store, &issuance, issue->ra)
                                   : scep_store_issue(store, &issuance);
        }
        OPENSSL_free(subject_text);
        OPENSSL_free(issuer_text);
        OPENSSL_free(der);
        if (rc == SCEP_OK) {
            *out = cert;
            return SCEP_OK;
        }
        X509_free(cert);
    }
    return rc;
}

int scep_request_held(const scep_store_request *row)
{
    return row->status == SCEP_REQ_PENDING && row->reason != NULL &&
           strcmp(row->reason, SCEP_APPROVAL_HELD) == 0;
}

int scep_request_pending_expired(const scep_store_request *row, long long pending_expiry,
                                 int64_t now)
{
    return row->status == SCEP_REQ_PENDING && now - row->created_at >= (int64_t)pending_expiry;
}

int scep_request_was_expired(const scep_store_request *row)
{
    return row->status == SCEP_REQ_REJECTED && row->reason != NULL &&
           strcmp(row->reason, SCEP_APPROVAL_EXPIRED) == 0;
}

/* ---- decisions ---------------------------------------------------------------- */

void scep_decision_clear(scep_decision *d)
{
    if (d == NULL)
        return;
    OPENSSL_free(d->username);
    OPENSSL_free(d->profile);
    OPENSSL_free(d->ca_name);
    X509_NAME_free(d->subject);
    GENERAL_NAMES_free(d->sans);
    OPENSSL_free(d->replaces_serial);
    OPENSSL_free(d->renews_serial);
    memset(d, 0, sizeof(*d));
}

static const char *const mode_names[] = {NULL, "ca", "ra", "challenge", "renewal"};

const char *scep_decision_mode_name(scep_decision_mode mode)
{
    return (size_t)mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : NULL;
}

int scep_decision_hold(scep_store *store, int64_t request_id, const scep_decision *d,
                       int64_t exclusive_since, int64_t *out_other)
{
    int rc = SCEP_OK;
    char *subject = NULL, *sans = NULL;
    X509_NAME *reparsed = NULL;
    GUARD(scep_dn_format(&subject, d->subject));
    /* An operator approves the text they see; it must mean the same name again. */
    if (subject[0] != '\0') {
        GUARD(scep_dn_parse(&reparsed, subject));
        ENSURE(X509_NAME_cmp(reparsed, d->subject) == 0, SCEP_EPOLICY,
               "the subject %.200s cannot be recorded for approval", subject);
    }
    GUARD(scep_san_format(&sans, d->sans, '\n'));
    scep_store_decision row = {
        .mode = scep_decision_mode_name(d->mode),
        .username = d->username,
        .profile = d->profile,
        .ca_name = d->ca_name,
        .subject = subject,
        .sans = sans,
        .replaces_serial = d->replaces_serial,
        .renews_serial = d->renews_serial,
        .ee_updated_at = d->ee_updated_at,
    };
    GUARD(scep_store_request_hold(store, request_id, SCEP_APPROVAL_HELD, &row, exclusive_since,
                                  out_other));
cleanup:
    OPENSSL_free(subject);
    OPENSSL_free(sans);
    X509_NAME_free(reparsed);
    return rc;
}

static int dup_text(char **out, const char *text)
{
    *out = NULL;
    if (text == NULL)
        return SCEP_OK;
    *out = OPENSSL_strdup(text);
    return *out != NULL ? SCEP_OK : scep_fail(SCEP_ENOMEM, "out of memory");
}

int scep_decision_from_request(scep_decision *out, const scep_store_request *row)
{
    int rc = SCEP_OK;
    memset(out, 0, sizeof(*out));
    ENSURE(row->decided_mode != NULL && row->decided_username != NULL &&
               row->decided_profile != NULL && row->ca_name != NULL && row->decided_subject != NULL,
           SCEP_ESTORE, "request %lld carries no decision", (long long)row->id);
    for (size_t i = 1; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
        if (strcmp(row->decided_mode, mode_names[i]) == 0)
            out->mode = (scep_decision_mode)i;
    ENSURE(out->mode != 0, SCEP_ESTORE, "request %lld: unknown decision mode %.32s",
           (long long)row->id, row->decided_mode);
    GUARD(dup_text(&out->username, row->decided_username));
    GUARD(dup_text(&out->profile, row->decided_profile));
    GUARD(dup_text(&out->ca_name, row->ca_name));
    GUARD(dup_text(&out->replaces_serial, row->replaces_serial));
    GUARD(dup_text(&out->renews_serial, row->renews_serial));
    out->ee_updated_at = row->decided_ee_updated_at;
    if (row->decided_subject[0] != '\0') {
        GUARD(scep_dn_parse(&out->subject, row->decided_subject));
    } else {
        out->subject = X509_NAME_new();
        ENSURE_ALLOC(out->subject);
    }
    GUARD(scep_san_parse(&out->sans, row->decided_sans));
cleanup:
    if (rc < 0)
        scep_decision_clear(out);
    return rc;
}

/* BASE/CA.crl for the issuing CA (a trailing '/' on BASE dropped); *out is the caller's. */
static int crl_dp_url(char **out, const char *base, const char *ca_name)
{
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/')
        base_len--;
    size_t size = base_len + strlen(ca_name) + sizeof("/.crl");
    *out = OPENSSL_malloc(size);
    if (*out == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    snprintf(*out, size, "%.*s/%s.crl", (int)base_len, base, ca_name);
    return SCEP_OK;
}

int scep_issue_decided(X509 **out, scep_store *store, const scep_decided_issue *issue)
{
    const scep_decision *d = issue->decision;
    scep_profile profile;
    int rc = scep_profile_named(&profile, d->profile);
    if (rc < 0)
        return rc;
    /* The subject and names were decided; the profile adds only its extensions. */
    profile.subject_source = SCEP_SUBJECT_FROM_DN;
    char *subject_text = NULL, *sans_text = NULL, *crl_dp = NULL;
    if (issue->crl_base_url != NULL && issue->crl_base_url[0] != '\0') {
        if ((rc = crl_dp_url(&crl_dp, issue->crl_base_url, d->ca_name)) < 0)
            return rc;
        profile.crl_distribution_point = crl_dp;
    }
    scep_store_ra_entity ra = {0};
    int creates_entity = d->mode == SCEP_DECISION_RA || d->mode == SCEP_DECISION_CHALLENGE;
    if (creates_entity) {
        if ((rc = scep_dn_format(&subject_text, d->subject)) < 0 ||
            (rc = scep_san_format(&sans_text, d->sans, '\n')) < 0)
            goto done;
        ra.username = d->username;
        ra.subject_dn = subject_text;
        ra.profile = d->profile;
        ra.ca_name = d->ca_name;
        ra.on_existing = issue->on_existing;
        ra.alias = issue->alias;
        ra.sans = sans_text[0] != '\0' ? sans_text : NULL;
    }
    scep_stored_issue stored = {
        .ca = issue->ca,
        .ca_name = d->ca_name,
        .profile = &profile,
        .csr = issue->csr,
        .subject = d->subject,
        .sans = d->sans,
        .request_id = issue->request_id,
        .username = d->mode == SCEP_DECISION_CA ? d->username : NULL,
        .cert_username = d->mode == SCEP_DECISION_RENEWAL ? d->username : NULL,
        .transaction_id = issue->transaction_id,
        .actor = issue->actor,
        .alias = issue->alias,
        .revoke_serial = d->mode == SCEP_DECISION_RENEWAL ? d->replaces_serial : NULL,
        .revoke_reason = SCEP_CRL_REASON_SUPERSEDED,
        .renews_serial = d->mode == SCEP_DECISION_RENEWAL ? d->renews_serial : NULL,
        .renewal_username = d->mode == SCEP_DECISION_RENEWAL ? d->username : NULL,
        .ra = creates_entity ? &ra : NULL,
        .proof_verified = issue->proof_verified,
    };
    rc = scep_ca_issue_stored(out, store, &stored);
done:
    OPENSSL_free(crl_dp);
    OPENSSL_free(subject_text);
    OPENSSL_free(sans_text);
    return rc;
}
