/*
 * Certificate profiles and issuing an end-entity certificate from a PKCS#10
 * request. Only what the profile allows reaches the certificate: of the CSR we
 * take the public key, the subject (when the profile says so) and the allowed
 * subjectAltName entries, nothing else.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#define PROFILE_MAX_VALIDITY_DAYS 36500
#define PROFILE_MAX_BACKDATE      (7 * 86400u)
#define PROFILE_MIN_RSA_BITS      1024
#define PROFILE_MAX_RSA_BITS      16384
#define ISSUE_MAX_SANS            256
#define ISSUE_MAX_SAN_LEN         1024
#define SECONDS_PER_DAY           86400L

void scep_profile_init(scep_profile *profile)
{
    if (profile == NULL)
        return;
    memset(profile, 0, sizeof(*profile));
    profile->validity_days = 365;
    profile->backdate_seconds = 300;
    profile->key_usage = "digitalSignature,keyEncipherment";
    profile->extended_key_usage = "clientAuth";
    profile->subject_source = SCEP_SUBJECT_FROM_CSR;
    profile->copy_san_types = SCEP_SAN_ALL;
    profile->crl_distribution_point = NULL;
    profile->min_rsa_bits = 2048;
    profile->max_rsa_bits = 8192;
    profile->allowed_curves = SCEP_CURVE_P256 | SCEP_CURVE_P384;
}

/* The profile's parsed parts used while issuing. */
struct parsed_profile {
    unsigned key_usage;
    STACK_OF(ASN1_OBJECT) * eku;
};

static int profile_parse(struct parsed_profile *out, const scep_profile *profile)
{
    int rc = SCEP_OK;

    out->key_usage = 0;
    out->eku = NULL;
    ENSURE(profile != NULL, SCEP_EINVAL, "no certificate profile");
    ENSURE(profile->validity_days >= 1 && profile->validity_days <= PROFILE_MAX_VALIDITY_DAYS,
           SCEP_ECONFIG, "profile validity of %u days: must be 1..%d", profile->validity_days,
           PROFILE_MAX_VALIDITY_DAYS);
    ENSURE(profile->backdate_seconds <= PROFILE_MAX_BACKDATE, SCEP_ECONFIG,
           "profile backdate of %u seconds exceeds %u", profile->backdate_seconds,
           PROFILE_MAX_BACKDATE);
    ENSURE(profile->subject_source == SCEP_SUBJECT_FROM_CSR ||
               profile->subject_source == SCEP_SUBJECT_FROM_DN,
           SCEP_ECONFIG, "unknown profile subject source %d", (int)profile->subject_source);
    ENSURE((profile->copy_san_types & ~SCEP_SAN_ALL) == 0, SCEP_ECONFIG,
           "unknown SAN type flags 0x%x", profile->copy_san_types & ~SCEP_SAN_ALL);
    ENSURE((profile->allowed_curves & ~(SCEP_CURVE_P256 | SCEP_CURVE_P384)) == 0, SCEP_ECONFIG,
           "unknown curve flags 0x%x", profile->allowed_curves);
    ENSURE(profile->min_rsa_bits >= PROFILE_MIN_RSA_BITS &&
               profile->max_rsa_bits <= PROFILE_MAX_RSA_BITS &&
               profile->min_rsa_bits <= profile->max_rsa_bits,
           SCEP_ECONFIG, "profile RSA key sizes %u..%u: must lie within %d..%d",
           profile->min_rsa_bits, profile->max_rsa_bits, PROFILE_MIN_RSA_BITS,
           PROFILE_MAX_RSA_BITS);
    if (profile->crl_distribution_point != NULL)
        GUARD(scep_ext_check_url(profile->crl_distribution_point));
    GUARD(scep_ext_parse_key_usage(&out->key_usage, profile->key_usage));
    ENSURE(!(out->key_usage & (SCEP_KU_BIT(5) | SCEP_KU_BIT(6))), SCEP_ECONFIG,
           "profile keyUsage must not contain keyCertSign or cRLSign: it issues end entities");
    GUARD(scep_ext_parse_eku(&out->eku, profile->extended_key_usage));

cleanup:
    return rc;
}

int scep_profile_check(const scep_profile *profile)
{
    struct parsed_profile parsed;
    int rc = profile_parse(&parsed, profile);
    sk_ASN1_OBJECT_pop_free(parsed.eku, ASN1_OBJECT_free);
    return rc;
}

static int check_request_key(EVP_PKEY *key, const scep_profile *profile)
{
    if (EVP_PKEY_is_a(key, "RSA")) {
        const int bits = EVP_PKEY_get_bits(key);
        if (bits < (int)profile->min_rsa_bits)
            return scep_fail(SCEP_EPOLICY,
                             "RSA key of %d bits is smaller than the profile minimum of %u bits",
                             bits, profile->min_rsa_bits);
        if (bits > (int)profile->max_rsa_bits)
            return scep_fail(SCEP_EPOLICY,
                             "RSA key of %d bits is larger than the profile maximum of %u bits",
                             bits, profile->max_rsa_bits);
        return SCEP_OK;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[80];
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &len) != 1)
            return scep_fail_ossl(SCEP_EPOLICY, "EC key without a named curve is not allowed");
        unsigned curve = 0;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ||
            strcmp(group, "secp256r1") == 0)
            curve = SCEP_CURVE_P256;
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            curve = SCEP_CURVE_P384;
        if ((curve & profile->allowed_curves) == 0)
            return scep_fail(SCEP_EPOLICY, "EC curve %s is not allowed by the profile", group);
        return SCEP_OK;
    }
    const char *type = EVP_PKEY_get0_type_name(key);
    return scep_fail(SCEP_EPOLICY, "key type %s is not allowed by the profile (RSA or EC only)",
                     type != NULL ? type : "unknown");
}

static int ia5_ok(const ASN1_STRING *s)
{
    const int len = ASN1_STRING_length(s);
    return len > 0 && len <= ISSUE_MAX_SAN_LEN &&
           memchr(ASN1_STRING_get0_data(s), '\0', (size_t)len) == NULL;
}

/*
 * Whether a CSR subjectAltName entry may be copied: its type is allowed by
 * `types`; returns 1 to copy, 0 to drop, or a negative code for an entry that
 * is malformed (a NUL inside a name is an attack on name comparison, not a typo).
 */
static int san_allowed(const GENERAL_NAME *gn, unsigned types)
{
    int type = 0;
    const void *value = GENERAL_NAME_get0_value(gn, &type);
    switch (type) {
    case GEN_DNS:
    case GEN_EMAIL:
    case GEN_URI: {
        const unsigned flag =
            type == GEN_DNS ? SCEP_SAN_DNS : (type == GEN_EMAIL ? SCEP_SAN_EMAIL : SCEP_SAN_URI);
        if (!(types & flag))
            return 0;
        if (!ia5_ok(value))
            return scep_fail(SCEP_EPOLICY, "subjectAltName %s is empty, too long or contains NUL",
                             type == GEN_DNS ? "dNSName"
                                             : (type == GEN_EMAIL ? "rfc822Name" : "URI"));
        return 1;
    }
    case GEN_IPADD: {
        if (!(types & SCEP_SAN_IP))
            return 0;
        const int len = ASN1_STRING_length(value);
        if (len != 4 && len != 16)
            return scep_fail(SCEP_EPOLICY, "subjectAltName iPAddress of %d octets", len);
        return 1;
    }
    case GEN_OTHERNAME: {
        const OTHERNAME *other = value;
        if (!(types & SCEP_SAN_UPN) || OBJ_obj2nid(other->type_id) != NID_ms_upn)
            return 0;
        if (other->value == NULL || other->value->type != V_ASN1_UTF8STRING ||
            !ia5_ok(other->value->value.utf8string))
            return scep_fail(SCEP_EPOLICY, "subjectAltName UPN is not a valid UTF8String");
        return 1;
    }
    default:
        return 0;
    }
}

/* The subjectAltName entries of the CSR's extensionRequest that the profile allows. */
static int collect_sans(GENERAL_NAMES **out, X509_REQ *csr, unsigned types)
{
    int rc = SCEP_OK;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *names = NULL;
    GENERAL_NAMES *kept = NULL;
    GENERAL_NAME *dup = NULL;

    *out = NULL;
    if (types == 0)
        return SCEP_OK;
    exts = X509_REQ_get_extensions(csr);
    ERR_clear_error(); /* a CSR without extensions leaves a harmless error behind */
    if (exts == NULL)
        return SCEP_OK;
    kept = GENERAL_NAMES_new();
    ENSURE_ALLOC(kept);
    for (int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1); idx >= 0;
         idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx)) {
        names = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
        ENSURE_OSSL(names != NULL, SCEP_EBADCSR, "malformed subjectAltName in the request");
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
            int allowed = san_allowed(gn, types);
            if (allowed < 0) {
                rc = allowed;
                goto cleanup;
            }
            if (!allowed)
                continue;
            ENSURE(sk_GENERAL_NAME_num(kept) < ISSUE_MAX_SANS, SCEP_EPOLICY,
                   "request has more than %d subjectAltName entries", ISSUE_MAX_SANS);
            dup = GENERAL_NAME_dup(gn);
            ENSURE_ALLOC(dup);
            ENSURE(sk_GENERAL_NAME_push(kept, dup) > 0, SCEP_ENOMEM, "out of memory");
            dup = NULL;
        }
        GENERAL_NAMES_free(names);
        names = NULL;
    }
    if (sk_GENERAL_NAME_num(kept) > 0) {
        *out = kept;
        kept = NULL;
    }

cleanup:
    GENERAL_NAME_free(dup);
    GENERAL_NAMES_free(names);
    GENERAL_NAMES_free(kept);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* Appends `dns` as a dNSName unless `*sans` already holds it. */
static int add_dns_name(GENERAL_NAMES **sans, const char *dns)
{
    int rc = SCEP_OK;
    GENERAL_NAME *gn = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    size_t len = strnlen(dns, 254);
    ENSURE(len > 0 && len < 254 &&
               strspn(dns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789-._*") == len,
           SCEP_EPOLICY, "the host name \"%.64s\" is not a usable dNSName", dns);
    for (int i = 0; *sans != NULL && i < sk_GENERAL_NAME_num(*sans); i++) {
        const GENERAL_NAME *have = sk_GENERAL_NAME_value(*sans, i);
        if (have->type == GEN_DNS && (size_t)ASN1_STRING_length(have->d.dNSName) == len &&
            strncasecmp((const char *)ASN1_STRING_get0_data(have->d.dNSName), dns, len) == 0)
            return SCEP_OK;
    }
    if (*sans == NULL) {
        *sans = GENERAL_NAMES_new();
        ENSURE_ALLOC(*sans);
    }
    ENSURE(sk_GENERAL_NAME_num(*sans) < ISSUE_MAX_SANS, SCEP_EPOLICY,
           "request has more than %d subjectAltName entries", ISSUE_MAX_SANS);
    ia5 = ASN1_IA5STRING_new();
    gn = GENERAL_NAME_new();
    ENSURE_ALLOC(ia5);
    ENSURE_ALLOC(gn);
    ENSURE_OSSL(ASN1_STRING_set(ia5, dns, (int)len) == 1, SCEP_ENOMEM, "out of memory");
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    ia5 = NULL;
    ENSURE(sk_GENERAL_NAME_push(*sans, gn) > 0, SCEP_ENOMEM, "out of memory");
    gn = NULL;
cleanup:
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    return rc;
}

static int pick_serial(ASN1_INTEGER **out, const scep_issue_request *request)
{
    *out = NULL;
    if (request->serial != NULL) {
        *out = ASN1_INTEGER_dup(request->serial);
        if (*out == NULL)
            return scep_fail(SCEP_ENOMEM, "out of memory");
        return SCEP_OK;
    }
    if (request->serial_cb != NULL) {
        int rc = request->serial_cb(out, request->serial_payload);
        if (rc < 0) {
            ASN1_INTEGER_free(*out);
            *out = NULL;
            return rc;
        }
        if (*out == NULL)
            return scep_fail(SCEP_EINVAL, "serial callback returned no serial");
        return SCEP_OK;
    }
    return scep_serial_new(out, NULL);
}

static int set_validity(X509 *cert, X509 *ca_cert, const scep_profile *profile, time_t now)
{
    const ASN1_TIME *ca_not_after = X509_get0_notAfter(ca_cert);
    time_t now_copy = now;
    if (X509_cmp_time(ca_not_after, &now_copy) <= 0)
        return scep_fail(SCEP_ESTATE, "the CA certificate has expired");
    time_t not_before = now - (time_t)profile->backdate_seconds;
    time_t not_after = now + (time_t)profile->validity_days * SECONDS_PER_DAY;
    /* Backdating stops at the CA's own notBefore: strict clients check nesting. */
    const ASN1_TIME *ca_not_before = X509_get0_notBefore(ca_cert);
    if (X509_cmp_time(ca_not_before, &not_before) > 0) {
        if (X509_set1_notBefore(cert, ca_not_before) != 1)
            return scep_fail_ossl(SCEP_ECRYPTO, "notBefore");
    } else if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == NULL) {
        return scep_fail_ossl(SCEP_ECRYPTO, "notBefore");
    }
    /* Never outlive the issuer: a chain is only valid while every certificate is. */
    if (X509_cmp_time(ca_not_after, &not_after) < 0) {
        if (X509_set1_notAfter(cert, ca_not_after) != 1)
            return scep_fail_ossl(SCEP_ECRYPTO, "notAfter");
    } else if (ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == NULL) {
        return scep_fail_ossl(SCEP_ECRYPTO, "notAfter");
    }
    return SCEP_OK;
}

/*
 * Puts the CSR's SubjectPublicKeyInfo into the certificate as received. X509_set_pubkey
 * encodes the EVP_PKEY and decodes the result again, and with OpenSSL 3.0 each of those
 * builds its encoder or decoder chain: about 8% of the server's work per enrollment
 * (docs/performance.md). The certificate then has no EVP_PKEY of its own.
 */
static int copy_public_key(X509 *cert, X509_REQ *csr)
{
    int rc = SCEP_OK;
    ASN1_OBJECT *algorithm = NULL;
    void *parameter_copy = NULL;
    unsigned char *key_copy = NULL;
    const ASN1_OBJECT *object = NULL;
    const void *parameter = NULL;
    int parameter_type = V_ASN1_UNDEF;
    const unsigned char *key = NULL;
    int key_len = 0;
    X509_ALGOR *algor = NULL;
    ENSURE_OSSL(
        X509_PUBKEY_get0_param(NULL, &key, &key_len, &algor, X509_REQ_get_X509_PUBKEY(csr)) == 1 &&
            algor != NULL && key_len > 0,
        SCEP_EBADCSR, "request has no usable public key");
    X509_ALGOR_get0(&object, &parameter_type, &parameter, algor);
    algorithm = OBJ_dup(object);
    ENSURE_ALLOC(algorithm);
    if (parameter_type == V_ASN1_OBJECT) {
        parameter_copy = OBJ_dup(parameter);
        ENSURE_ALLOC(parameter_copy);
    } else if (parameter_type != V_ASN1_UNDEF && parameter_type != V_ASN1_NULL) {
        parameter_copy = ASN1_STRING_dup(parameter);
        ENSURE_ALLOC(parameter_copy);
    }
    key_copy = OPENSSL_memdup(key, (size_t)key_len);
    ENSURE_ALLOC(key_copy);
    ENSURE_OSSL(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), algorithm, parameter_type,
                                       parameter_copy, key_copy, key_len) == 1,
                SCEP_ECRYPTO, "cannot set the certificate's public key");
    algorithm = NULL;
    parameter_copy = NULL;
    key_copy = NULL;
cleanup:
    if (parameter_type == V_ASN1_OBJECT)
        ASN1_OBJECT_free(parameter_copy);
    else
        ASN1_STRING_free(parameter_copy);
    ASN1_OBJECT_free(algorithm);
    OPENSSL_free(key_copy);
    return rc;
}

static int issue(X509 **out, const scep_ca *ca, const scep_profile *profile,
                 const scep_issue_request *request, int key_as_received)
{
    int rc = SCEP_OK;
    struct parsed_profile parsed = {0, NULL};
    X509 *cert = NULL;
    ASN1_INTEGER *serial = NULL;
    GENERAL_NAMES *sans = NULL;
    ASN1_OCTET_STRING *ski = NULL;
    ASN1_OCTET_STRING *aki = NULL;

    ENSURE(out != NULL && ca != NULL && request != NULL && request->csr != NULL, SCEP_EINVAL,
           "scep_ca_issue: NULL argument");
    *out = NULL;
    GUARD(profile_parse(&parsed, profile));

    EVP_PKEY *req_key = X509_REQ_get0_pubkey(request->csr);
    ENSURE_OSSL(req_key != NULL, SCEP_EBADCSR, "request has no usable public key");
    /* RFC 8894 §3.3.1: the request must prove possession of the key. */
    ENSURE_OSSL(request->proof_verified || X509_REQ_verify(request->csr, req_key) == 1,
                SCEP_EBADCSR, "request signature does not verify");
    GUARD(check_request_key(req_key, profile));

    const X509_NAME *subject = NULL;
    if (profile->subject_source == SCEP_SUBJECT_FROM_DN) {
        ENSURE(request->subject != NULL, SCEP_EINVAL,
               "profile takes the subject from the registered DN, but none was given");
        subject = request->subject;
    } else {
        subject = X509_REQ_get_subject_name(request->csr);
    }
    if (request->sans != NULL) {
        ENSURE(sk_GENERAL_NAME_num(request->sans) <= ISSUE_MAX_SANS, SCEP_EPOLICY,
               "more than %d subjectAltName entries", ISSUE_MAX_SANS);
        if (sk_GENERAL_NAME_num(request->sans) > 0) {
            sans = sk_GENERAL_NAME_deep_copy(request->sans, GENERAL_NAME_dup, GENERAL_NAME_free);
            ENSURE_ALLOC(sans);
        }
    } else {
        GUARD(collect_sans(&sans, request->csr, profile->copy_san_types));
        if (request->extra_dns_name != NULL)
            GUARD(add_dns_name(&sans, request->extra_dns_name));
    }
    const int empty_subject = subject == NULL || X509_NAME_entry_count(subject) == 0;
    ENSURE(!empty_subject || sans != NULL, SCEP_EPOLICY,
           "request has an empty subject and no allowed subjectAltName");

    GUARD(pick_serial(&serial, request));
    GUARD(scep_serial_check(serial));

    cert = X509_new();
    ENSURE_ALLOC(cert);
    ENSURE_OSSL(X509_set_version(cert, X509_VERSION_3) == 1 &&
                    X509_set_serialNumber(cert, serial) == 1 &&
                    X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) == 1 &&
                    X509_set_subject_name(cert, subject) == 1,
                SCEP_ECRYPTO, "cannot build the certificate");
    if (key_as_received)
        GUARD(copy_public_key(cert, request->csr));
    else
        ENSURE_OSSL(X509_set_pubkey(cert, req_key) == 1, SCEP_ECRYPTO,
                    "cannot build the certificate");
    GUARD(set_validity(cert, ca->cert, profile, request->now != 0 ? request->now : time(NULL)));

    /* Extensions come from the profile only; CSR extensions are never copied blindly. */
    GUARD(scep_ext_add_basic_constraints(cert, 0));
    GUARD(scep_ext_add_key_usage(cert, parsed.key_usage));
    GUARD(scep_ext_add_eku(cert, parsed.eku));
    GUARD(scep_ext_key_id(&ski, cert));
    GUARD(scep_ext_add_ski(cert, ski));
    GUARD(scep_ext_issuer_key_id(&aki, ca->cert));
    GUARD(scep_ext_add_aki(cert, aki));
    if (sans != NULL) {
        /* RFC 5280 §4.2.1.6: critical when the subject is empty. */
        ENSURE_OSSL(X509_add1_ext_i2d(cert, NID_subject_alt_name, sans, empty_subject,
                                      X509V3_ADD_REPLACE) == 1,
                    SCEP_ECRYPTO, "cannot add subjectAltName");
    }
    if (profile->crl_distribution_point != NULL)
        GUARD(scep_ext_add_crl_dp(cert, profile->crl_distribution_point));

    ENSURE_OSSL(X509_sign(cert, scep_key_current(ca->key), EVP_sha256()) > 0,
                scep_key_is_token(ca->key) ? SCEP_EUNAVAILABLE : SCEP_ECRYPTO,
                "cannot sign the certificate");
    *out = cert;
    cert = NULL;

cleanup:
    ASN1_OCTET_STRING_free(aki);
    ASN1_OCTET_STRING_free(ski);
    GENERAL_NAMES_free(sans);
    ASN1_INTEGER_free(serial);
    X509_free(cert);
    sk_ASN1_OBJECT_pop_free(parsed.eku, ASN1_OBJECT_free);
    return rc;
}

int scep_ca_issue(X509 **out, const scep_ca *ca, const scep_profile *profile,
                  const scep_issue_request *request)
{
    return issue(out, ca, profile, request, 0);
}

int scep_ca_issue_encoded(X509 **out, const scep_ca *ca, const scep_profile *profile,
                          const scep_issue_request *request)
{
    return issue(out, ca, profile, request, 1);
}
