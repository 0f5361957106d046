#include "ca/issuance.h"
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

/* A key reference is a file path, optionally written "file:PATH". */
static const char *key_path(const char *key_ref)
{
    return strncmp(key_ref, "file:", 5) == 0 ? key_ref + 5 : key_ref;
}

int scep_ca_load_stored(scep_ca **out, unsigned *out_warnings, const scep_store_ca *row)
{
    int rc = SCEP_OK;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *chain = NULL;
    const char *path = key_path(row->key_ref);

    /* The CA key must be 0600 and ours: refuse to sign with it otherwise. */
    GUARD(scep_key_file_check(path));
    GUARD(scep_key_load(&key, path, NULL));
    GUARD(pem_to_cert(&cert, row->cert_pem, row->name));
    GUARD(pem_to_chain(&chain, row->chain_pem));
    GUARD(scep_ca_new(out, out_warnings, cert, key, chain));

cleanup:
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return rc;
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
        scep_issue_request request = {
            .csr = issue->csr, .subject = issue->subject, .extra_dns_name = issue->extra_dns_name};
        rc = scep_ca_issue(&cert, issue->ca, issue->profile, &request);
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
