/*
 * Certificate revocation lists (RFC 5280 §5), v2, signed by the CA key.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <time.h>

#define CRL_DEFAULT_VALIDITY (7 * 86400L)

static int reason_valid(scep_crl_reason reason)
{
    return (reason >= SCEP_CRL_REASON_UNSPECIFIED && reason <= SCEP_CRL_REASON_CERTIFICATE_HOLD) ||
           (reason >= SCEP_CRL_REASON_REMOVE_FROM_CRL && reason <= SCEP_CRL_REASON_AA_COMPROMISE);
}

static int add_entry(X509_CRL *crl, const scep_crl_entry *entry, size_t index)
{
    int rc = SCEP_OK;
    X509_REVOKED *revoked = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *reason = NULL;

    GUARD(scep_serial_check(entry->serial));
    ENSURE(entry->revocation_time > 0, SCEP_EINVAL, "CRL entry %zu: no revocation time", index);
    ENSURE(reason_valid(entry->reason), SCEP_EINVAL, "CRL entry %zu: invalid reason code %d", index,
           (int)entry->reason);
    revoked = X509_REVOKED_new();
    ENSURE_ALLOC(revoked);
    serial = ASN1_INTEGER_dup(entry->serial);
    ENSURE_ALLOC(serial);
    when = ASN1_TIME_set(NULL, entry->revocation_time);
    ENSURE_OSSL(when != NULL, SCEP_EINVAL, "CRL entry %zu: bad revocation time", index);
    ENSURE_OSSL(X509_REVOKED_set_serialNumber(revoked, serial) == 1 &&
                    X509_REVOKED_set_revocationDate(revoked, when) == 1,
                SCEP_ENOMEM, "CRL entry %zu", index);
    /* RFC 5280 §5.3.1: the reasonCode should be absent rather than unspecified. */
    if (entry->reason != SCEP_CRL_REASON_UNSPECIFIED) {
        reason = ASN1_ENUMERATED_new();
        ENSURE_ALLOC(reason);
        ENSURE_OSSL(ASN1_ENUMERATED_set(reason, (long)entry->reason) == 1 &&
                        X509_REVOKED_add1_ext_i2d(revoked, NID_crl_reason, reason, 0, 0) == 1,
                    SCEP_ECRYPTO, "CRL entry %zu: reasonCode", index);
    }
    ENSURE_OSSL(X509_CRL_add0_revoked(crl, revoked) == 1, SCEP_ENOMEM, "CRL entry %zu", index);
    revoked = NULL;

cleanup:
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    X509_REVOKED_free(revoked);
    return rc;
}

int scep_ca_crl(X509_CRL **out, const scep_ca *ca, const scep_crl_entry *entries, size_t n_entries,
                const scep_crl_params *params)
{
    int rc = SCEP_OK;
    X509_CRL *crl = NULL;
    ASN1_TIME *this_update = NULL;
    ASN1_TIME *next_update = NULL;
    ASN1_INTEGER *number = NULL;
    ASN1_OCTET_STRING *key_id = NULL;
    AUTHORITY_KEYID *akid = NULL;

    ENSURE(out != NULL && ca != NULL && params != NULL && (entries != NULL || n_entries == 0),
           SCEP_EINVAL, "scep_ca_crl: NULL argument");
    *out = NULL;
    ENSURE(X509_get_key_usage(ca->cert) & KU_CRL_SIGN, SCEP_ESTATE,
           "the CA certificate's keyUsage lacks cRLSign");
    const time_t this_t = params->this_update != 0 ? params->this_update : time(NULL);
    const time_t next_t =
        params->next_update != 0 ? params->next_update : this_t + CRL_DEFAULT_VALIDITY;
    ENSURE(next_t > this_t, SCEP_EINVAL, "CRL nextUpdate must be after thisUpdate");

    crl = X509_CRL_new();
    ENSURE_ALLOC(crl);
    this_update = ASN1_TIME_set(NULL, this_t);
    next_update = ASN1_TIME_set(NULL, next_t);
    ENSURE_OSSL(this_update != NULL && next_update != NULL, SCEP_EINVAL, "CRL times");
    ENSURE_OSSL(X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
                    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) == 1 &&
                    X509_CRL_set1_lastUpdate(crl, this_update) == 1 &&
                    X509_CRL_set1_nextUpdate(crl, next_update) == 1,
                SCEP_ECRYPTO, "cannot build the CRL");

    for (size_t i = 0; i < n_entries; i++)
        GUARD(add_entry(crl, &entries[i], i));
    ENSURE_OSSL(X509_CRL_sort(crl) == 1, SCEP_ECRYPTO, "cannot sort the CRL");
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
    for (int i = 1; i < sk_X509_REVOKED_num(revoked); i++)
        ENSURE(ASN1_INTEGER_cmp(
                   X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i - 1)),
                   X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))) != 0,
               SCEP_EINVAL, "CRL lists a serial number twice");

    number = ASN1_INTEGER_new();
    ENSURE_ALLOC(number);
    ENSURE_OSSL(ASN1_INTEGER_set_uint64(number, params->crl_number) == 1 &&
                    X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) == 1,
                SCEP_ECRYPTO, "cannot add cRLNumber");
    GUARD(scep_ext_issuer_key_id(&key_id, ca->cert));
    GUARD(scep_ext_aki(&akid, key_id));
    ENSURE_OSSL(X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) == 1,
                SCEP_ECRYPTO, "cannot add authorityKeyIdentifier");
    ENSURE_OSSL(X509_CRL_sign(crl, scep_key_current(ca->key), EVP_sha256()) > 0,
                scep_key_is_token(ca->key) ? SCEP_EUNAVAILABLE : SCEP_ECRYPTO,
                "cannot sign the CRL");
    *out = crl;
    crl = NULL;

cleanup:
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(key_id);
    ASN1_INTEGER_free(number);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(this_update);
    X509_CRL_free(crl);
    return rc;
}
