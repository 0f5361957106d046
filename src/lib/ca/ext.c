/*
 * Certificate extensions built from structures rather than OpenSSL's
 * configuration strings, so that no profile value can smuggle in syntax.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <string.h>
#include <strings.h>

#include <openssl/objects.h>

#define EXT_TOKEN_MAX 128
#define EXT_URL_MAX   2048

static const struct {
    const char *name;
    int bit;
} key_usage_names[] = {
    {"digitalSignature", 0}, {"nonRepudiation", 1},   {"contentCommitment", 1},
    {"keyEncipherment", 2},  {"dataEncipherment", 3}, {"keyAgreement", 4},
    {"keyCertSign", 5},      {"cRLSign", 6},          {"encipherOnly", 7},
    {"decipherOnly", 8},
};

/*
 * Calls `fn` for each comma-separated, space-trimmed token of `list`.
 * Empty tokens are refused; a NULL or empty list has no tokens.
 */
static int for_each_token(const char *list, const char *what,
                          int (*fn)(const char *token, void *payload), void *payload)
{
    if (list == NULL)
        return SCEP_OK;
    const char *p = list;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return SCEP_OK;
    for (;;) {
        char token[EXT_TOKEN_MAX];
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        size_t len = (size_t)(p - start);
        while (len > 0 && (start[0] == ' ')) {
            start++;
            len--;
        }
        while (len > 0 && start[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof(token))
            return scep_fail(SCEP_ECONFIG, "%s \"%s\": empty or too long entry", what, list);
        memcpy(token, start, len);
        token[len] = '\0';
        int rc = fn(token, payload);
        if (rc < 0)
            return rc;
        if (*p == '\0')
            return SCEP_OK;
        p++;
    }
}

static int key_usage_token(const char *token, void *payload)
{
    unsigned *bits = payload;
    for (size_t i = 0; i < sizeof(key_usage_names) / sizeof(key_usage_names[0]); i++) {
        if (strcasecmp(token, key_usage_names[i].name) == 0) {
            *bits |= SCEP_KU_BIT(key_usage_names[i].bit);
            return SCEP_OK;
        }
    }
    return scep_fail(SCEP_ECONFIG, "unknown keyUsage \"%s\"", token);
}

int scep_ext_parse_key_usage(unsigned *out, const char *list)
{
    unsigned bits = 0;
    int rc = for_each_token(list, "keyUsage", key_usage_token, &bits);
    *out = rc < 0 ? 0 : bits;
    return rc;
}

static int eku_token(const char *token, void *payload)
{
    STACK_OF(ASN1_OBJECT) *eku = payload;
    /* Short names (serverAuth, ipsecIKE), long names, or dotted OIDs. */
    ASN1_OBJECT *obj = OBJ_txt2obj(token, 0);
    if (obj == NULL)
        return scep_fail(SCEP_ECONFIG, "unknown extendedKeyUsage \"%s\"", token);
    if (sk_ASN1_OBJECT_push(eku, obj) <= 0) {
        ASN1_OBJECT_free(obj);
        return scep_fail(SCEP_ENOMEM, "out of memory");
    }
    return SCEP_OK;
}

int scep_ext_parse_eku(STACK_OF(ASN1_OBJECT) * *out, const char *list)
{
    int rc = SCEP_OK;
    STACK_OF(ASN1_OBJECT) *eku = sk_ASN1_OBJECT_new_null();

    *out = NULL;
    ENSURE_ALLOC(eku);
    GUARD(for_each_token(list, "extendedKeyUsage", eku_token, eku));
    *out = eku;
    eku = NULL;

cleanup:
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return rc;
}

static int add_ext(X509 *cert, int nid, void *value, int critical, const char *what)
{
    if (X509_add1_ext_i2d(cert, nid, value, critical, X509V3_ADD_REPLACE) != 1)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot add %s extension", what);
    return SCEP_OK;
}

int scep_ext_add_basic_constraints(X509 *cert, int is_ca)
{
    int rc = SCEP_OK;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

    ENSURE_ALLOC(bc);
    bc->ca = is_ca ? 0xff : 0;
    /* RFC 5280 §4.2.1.9: critical in CA certificates; we mark it critical always. */
    GUARD(add_ext(cert, NID_basic_constraints, bc, 1, "basicConstraints"));

cleanup:
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

int scep_ext_add_key_usage(X509 *cert, unsigned bits)
{
    int rc = SCEP_OK;
    ASN1_BIT_STRING *ku = NULL;

    if (bits == 0)
        return SCEP_OK;
    ku = ASN1_BIT_STRING_new();
    ENSURE_ALLOC(ku);
    for (int bit = 0; bit <= 8; bit++)
        if (bits & SCEP_KU_BIT(bit))
            ENSURE_OSSL(ASN1_BIT_STRING_set_bit(ku, bit, 1) == 1, SCEP_ENOMEM, "keyUsage");
    /* RFC 5280 §4.2.1.3: SHOULD be critical. */
    GUARD(add_ext(cert, NID_key_usage, ku, 1, "keyUsage"));

cleanup:
    ASN1_BIT_STRING_free(ku);
    return rc;
}

int scep_ext_add_eku(X509 *cert, STACK_OF(ASN1_OBJECT) * eku)
{
    if (eku == NULL || sk_ASN1_OBJECT_num(eku) == 0)
        return SCEP_OK;
    return add_ext(cert, NID_ext_key_usage, eku, 0, "extendedKeyUsage");
}

int scep_ext_key_id(ASN1_OCTET_STRING **out, const X509 *cert)
{
    int rc = SCEP_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASN1_OCTET_STRING *id = NULL;

    *out = NULL;
    ENSURE_OSSL(X509_pubkey_digest(cert, EVP_sha1(), md, &md_len) == 1, SCEP_ECRYPTO,
                "cannot hash the public key");
    id = ASN1_OCTET_STRING_new();
    ENSURE_ALLOC(id);
    ENSURE_OSSL(ASN1_OCTET_STRING_set(id, md, (int)md_len) == 1, SCEP_ENOMEM, "key id");
    *out = id;
    id = NULL;

cleanup:
    ASN1_OCTET_STRING_free(id);
    return rc;
}

int scep_ext_issuer_key_id(ASN1_OCTET_STRING **out, X509 *issuer)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    if (ski == NULL)
        return scep_ext_key_id(out, issuer);
    *out = ASN1_OCTET_STRING_dup(ski);
    if (*out == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    return SCEP_OK;
}

int scep_ext_add_ski(X509 *cert, const ASN1_OCTET_STRING *key_id)
{
    return add_ext(cert, NID_subject_key_identifier, (void *)key_id, 0, "subjectKeyIdentifier");
}

int scep_ext_aki(AUTHORITY_KEYID **out, const ASN1_OCTET_STRING *key_id)
{
    int rc = SCEP_OK;
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();

    *out = NULL;
    ENSURE_ALLOC(akid);
    akid->keyid = ASN1_OCTET_STRING_dup(key_id);
    ENSURE_ALLOC(akid->keyid);
    *out = akid;
    akid = NULL;

cleanup:
    AUTHORITY_KEYID_free(akid);
    return rc;
}

int scep_ext_add_aki(X509 *cert, const ASN1_OCTET_STRING *key_id)
{
    int rc = SCEP_OK;
    AUTHORITY_KEYID *akid = NULL;

    GUARD(scep_ext_aki(&akid, key_id));
    GUARD(add_ext(cert, NID_authority_key_identifier, akid, 0, "authorityKeyIdentifier"));

cleanup:
    AUTHORITY_KEYID_free(akid);
    return rc;
}

int scep_ext_check_url(const char *url)
{
    static const char *const schemes[] = {"http://", "https://", "ldap://"};
    if (url == NULL || url[0] == '\0')
        return scep_fail(SCEP_ECONFIG, "empty CRL distribution point URL");
    size_t len = strlen(url);
    if (len > EXT_URL_MAX)
        return scep_fail(SCEP_ECONFIG, "CRL distribution point URL longer than %d", EXT_URL_MAX);
    int scheme_ok = 0;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t slen = strlen(schemes[i]);
        if (len > slen && strncasecmp(url, schemes[i], slen) == 0)
            scheme_ok = 1;
    }
    if (!scheme_ok)
        return scep_fail(SCEP_ECONFIG,
                         "CRL distribution point \"%s\" must be an http, https or ldap URL", url);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return scep_fail(SCEP_ECONFIG,
                             "CRL distribution point URL contains a space or non-ASCII byte");
    }
    return SCEP_OK;
}

int scep_ext_add_crl_dp(X509 *cert, const char *url)
{
    int rc = SCEP_OK;
    CRL_DIST_POINTS *cdp = NULL;
    DIST_POINT *dp = NULL;
    GENERAL_NAME *gn = NULL;
    ASN1_IA5STRING *uri = NULL;

    GUARD(scep_ext_check_url(url));
    cdp = sk_DIST_POINT_new_null();
    ENSURE_ALLOC(cdp);
    dp = DIST_POINT_new();
    ENSURE_ALLOC(dp);
    dp->distpoint = DIST_POINT_NAME_new();
    ENSURE_ALLOC(dp->distpoint);
    dp->distpoint->type = 0; /* fullName */
    dp->distpoint->name.fullname = GENERAL_NAMES_new();
    ENSURE_ALLOC(dp->distpoint->name.fullname);
    uri = ASN1_IA5STRING_new();
    ENSURE_ALLOC(uri);
    ENSURE_OSSL(ASN1_STRING_set(uri, url, (int)strlen(url)) == 1, SCEP_ENOMEM, "CRL DP");
    gn = GENERAL_NAME_new();
    ENSURE_ALLOC(gn);
    GENERAL_NAME_set0_value(gn, GEN_URI, uri);
    uri = NULL;
    ENSURE(sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn) > 0, SCEP_ENOMEM,
           "out of memory");
    gn = NULL;
    ENSURE(sk_DIST_POINT_push(cdp, dp) > 0, SCEP_ENOMEM, "out of memory");
    dp = NULL;
    GUARD(add_ext(cert, NID_crl_distribution_points, cdp, 0, "cRLDistributionPoints"));

cleanup:
    ASN1_IA5STRING_free(uri);
    GENERAL_NAME_free(gn);
    DIST_POINT_free(dp);
    sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
    return rc;
}
