/*
 * Distinguished-name strings: OpenSSL's "/CN=a/O=b" (encoding order) and
 * RFC 4514's "CN=a,O=b" (most specific first, i.e. reversed encoding order).
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/objects.h>

#define DN_TYPE_MAX 64

struct dn_ava {
    char type[DN_TYPE_MAX];
    size_t value_off; /* into the shared value buffer */
    size_t value_len;
    int new_rdn; /* first attribute of its RDN */
    int hex;     /* the value is the DER of a string (RFC 4514 "#0C..."), not its text */
};

/* Attribute names accepted case-insensitively, mapped to OpenSSL's short names. */
static const struct {
    const char *alias;
    const char *name;
} dn_aliases[] = {
    {"CN", "CN"},
    {"C", "C"},
    {"L", "L"},
    {"ST", "ST"},
    {"S", "ST"},
    {"O", "O"},
    {"OU", "OU"},
    {"DC", "DC"},
    {"UID", "UID"},
    {"E", "emailAddress"},
    {"EMAIL", "emailAddress"},
    {"EMAILADDRESS", "emailAddress"},
    {"SERIALNUMBER", "serialNumber"},
    {"STREET", "street"},
    {"T", "title"},
    {"TITLE", "title"},
    {"GN", "GN"},
    {"GIVENNAME", "GN"},
    {"SN", "SN"},
    {"SURNAME", "SN"},
    {"INITIALS", "initials"},
    {"PSEUDONYM", "pseudonym"},
    {"POSTALCODE", "postalCode"},
    {"NAME", "name"},
    {"DNQUALIFIER", "dnQualifier"},
    {"ORGANIZATIONIDENTIFIER", "organizationIdentifier"},
};

/*
 * RFC 4514 §2.4: "#" and hex is the BER of the value. scep_dn_format() writes that for
 * attribute types it has no name for, so reading it keeps parse(format(name)) == name.
 * Only the string types an X509_NAME holds are taken.
 */
static int add_hex_entry(X509_NAME *name, const ASN1_OBJECT *obj, const unsigned char *der,
                         size_t len, int set, const char *dn, const char *type)
{
    int rc = SCEP_OK;
    const unsigned char *q = der;
    ASN1_STRING *value = d2i_ASN1_PRINTABLE(NULL, &q, (long)len);
    ASN1_STRING *as_text = NULL;
    unsigned char *utf8 = NULL;
    int utf8_len = -1;

    ENSURE_OSSL(value != NULL && q == der + len &&
                    (ASN1_tag2bit(ASN1_STRING_type(value)) &
                     (B_ASN1_PRINTABLE & ~(B_ASN1_SEQUENCE | B_ASN1_UNKNOWN))) != 0,
                SCEP_EINVAL, "DN \"%s\": the hex value of %s is not one encoded string", dn, type);
    /* Its characters must be what its type allows (a UTF8String of valid UTF-8...): OpenSSL
     * cannot compare or encode a name holding anything else (X509_NAME_cmp() gives -2). */
    utf8_len = ASN1_STRING_to_UTF8(&utf8, value);
    ENSURE_OSSL(utf8_len >= 0, SCEP_EINVAL,
                "DN \"%s\": the hex value of %s is not a valid string of its type", dn, type);
    /* The rules of the attribute type apply as to the same value written as text: its
     * characters and size ("C=DEU", a backslash in a PrintableString dnQualifier are
     * refused either way), so that what scep_dn_format() writes of it parses again. */
    if (utf8_len > 0) {
        as_text = ASN1_STRING_set_by_NID(NULL, utf8, utf8_len, MBSTRING_UTF8, OBJ_obj2nid(obj));
        ENSURE_OSSL(as_text != NULL, SCEP_EINVAL,
                    "DN \"%s\": the hex value of %s has characters or a length it does not allow",
                    dn, type);
    }
    ENSURE_OSSL(X509_NAME_add_entry_by_OBJ(name, obj, ASN1_STRING_type(value),
                                           ASN1_STRING_get0_data(value), ASN1_STRING_length(value),
                                           -1, set) == 1,
                SCEP_EINVAL, "DN \"%s\": bad value for %s", dn, type);

cleanup:
    OPENSSL_free(utf8);
    ASN1_STRING_free(as_text);
    ASN1_STRING_free(value);
    return rc;
}

/* "1.2.840.113549.1.9.1": digits, single dots between them, at least two arcs. */
static int is_dotted_oid(const char *type)
{
    int arcs = 0;
    const char *p = type;
    for (;;) {
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        arcs++;
        if (*p == '\0')
            return arcs >= 2;
        if (*p != '.')
            return 0;
        p++;
    }
}

/*
 * A short or long name (letters, digits, '-') or a dotted OID written strictly:
 * OBJ_txt2obj() alone also takes blanks inside an OID ("2 .5"), which scep_dn_format()
 * would then write back as another, longer OID text.
 */
static ASN1_OBJECT *dn_type_object(const char *type)
{
    for (size_t i = 0; i < sizeof(dn_aliases) / sizeof(dn_aliases[0]); i++)
        if (strcasecmp(type, dn_aliases[i].alias) == 0)
            return OBJ_txt2obj(dn_aliases[i].name, 0);
    if (type[0] >= '0' && type[0] <= '9')
        return is_dotted_oid(type) ? OBJ_txt2obj(type, 1) : NULL;
    for (const char *p = type; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return NULL;
    return OBJ_txt2obj(type, 0);
}

int scep_dn_parse(X509_NAME **out, const char *dn)
{
    int rc = SCEP_OK;
    X509_NAME *name = NULL;
    ASN1_OBJECT *obj = NULL;
    unsigned char *values = NULL;
    struct dn_ava avas[SCEP_DN_MAX_VALUES];
    size_t n_avas = 0;
    size_t used = 0;

    ENSURE(out != NULL && dn != NULL, SCEP_EINVAL, "scep_dn_parse: NULL argument");
    *out = NULL;
    size_t dn_len = strlen(dn);
    ENSURE(dn_len <= SCEP_DN_MAX, SCEP_ETOOBIG, "DN longer than %d characters", SCEP_DN_MAX);

    const int slash_form = dn[0] == '/';
    const char sep = slash_form ? '/' : ',';
    const char *p = dn + (slash_form ? 1 : 0);
    while (*p == ' ')
        p++;
    ENSURE(*p != '\0', SCEP_EINVAL, "empty DN \"%s\"", dn);

    values = OPENSSL_malloc(dn_len + 1);
    ENSURE_ALLOC(values);

    int new_rdn = 1;
    for (;;) {
        ENSURE(n_avas < SCEP_DN_MAX_VALUES, SCEP_ETOOBIG, "DN has more than %d attributes",
               SCEP_DN_MAX_VALUES);
        struct dn_ava *ava = &avas[n_avas];

        /* type: up to '=' */
        while (*p == ' ')
            p++;
        const char *type_start = p;
        while (*p != '\0' && *p != '=' && *p != sep && *p != '+')
            p++;
        ENSURE(*p == '=', SCEP_EINVAL, "DN \"%s\": attribute \"%.*s\" has no '='", dn,
               (int)(p - type_start), type_start);
        size_t type_len = (size_t)(p - type_start);
        while (type_len > 0 && type_start[type_len - 1] == ' ')
            type_len--;
        ENSURE(type_len > 0 && type_len < DN_TYPE_MAX, SCEP_EINVAL,
               "DN \"%s\": empty or too long attribute type", dn);
        memcpy(ava->type, type_start, type_len);
        ava->type[type_len] = '\0';
        p++; /* '=' */

        /* value: up to an unescaped separator or '+'; unescaped spaces at the ends dropped */
        while (*p == ' ')
            p++;
        ava->value_off = used;
        /* A lone "#" is text: OpenSSL's printer leaves a one-character "#" unescaped. */
        ava->hex =
            !slash_form && p[0] == '#' && p[1] != '\0' && p[1] != sep && p[1] != '+' && p[1] != ' ';
        size_t keep = used; /* end of the value without trailing unescaped spaces */
        if (ava->hex) {
            for (p++; *p != '\0' && *p != sep && *p != '+' && *p != ' '; p += 2) {
                int hi = OPENSSL_hexchar2int((unsigned char)p[0]);
                int lo = hi >= 0 ? OPENSSL_hexchar2int((unsigned char)p[1]) : -1;
                ENSURE(lo >= 0, SCEP_EINVAL, "DN \"%s\": attribute %s: bad hex after '#'", dn,
                       ava->type);
                values[used++] = (unsigned char)(hi << 4 | lo);
            }
            keep = used;
            while (*p == ' ')
                p++;
            ENSURE(keep > ava->value_off && (*p == '\0' || *p == sep || *p == '+'), SCEP_EINVAL,
                   "DN \"%s\": attribute %s: bad hex after '#'", dn, ava->type);
        }
        while (*p != '\0' && *p != sep && *p != '+') {
            if (*p == '\\') {
                p++;
                ENSURE(*p != '\0', SCEP_EINVAL, "DN \"%s\": '\\' at the end", dn);
                int hi = OPENSSL_hexchar2int((unsigned char)p[0]);
                int lo = hi >= 0 ? OPENSSL_hexchar2int((unsigned char)p[1]) : -1;
                if (hi >= 0 && lo >= 0) { /* RFC 4514 §2.4 \XX */
                    values[used++] = (unsigned char)(hi << 4 | lo);
                    p += 2;
                } else {
                    values[used++] = (unsigned char)*p++;
                }
                keep = used;
            } else {
                values[used++] = (unsigned char)*p++;
                if (values[used - 1] != ' ')
                    keep = used;
            }
        }
        used = keep;
        ava->value_len = used - ava->value_off;
        /* RFC 4514 §3 allows an empty value; OpenSSL's "/CN=" form drops such attributes. */
        ENSURE(ava->value_len > 0 || !slash_form, SCEP_EINVAL,
               "DN \"%s\": attribute %s has an empty value", dn, ava->type);
        ava->new_rdn = new_rdn;
        n_avas++;

        if (*p == '\0')
            break;
        new_rdn = *p != '+';
        p++;
        if (slash_form && *p == '\0')
            break; /* a trailing '/' is harmless */
    }

    name = X509_NAME_new();
    ENSURE_ALLOC(name);

    /* Visit RDNs in encoding order: as written for '/', reversed for RFC 4514. */
    size_t starts[SCEP_DN_MAX_VALUES];
    size_t n_rdns = 0;
    for (size_t i = 0; i < n_avas; i++)
        if (avas[i].new_rdn)
            starts[n_rdns++] = i;
    for (size_t r = 0; r < n_rdns; r++) {
        size_t rdn = slash_form ? r : n_rdns - 1 - r;
        size_t end = rdn + 1 < n_rdns ? starts[rdn + 1] : n_avas;
        for (size_t i = starts[rdn]; i < end; i++) {
            obj = dn_type_object(avas[i].type);
            ENSURE(obj != NULL, SCEP_EINVAL, "DN \"%s\": unknown attribute type \"%s\"", dn,
                   avas[i].type);
            const int set = i == starts[rdn] ? 0 : -1;
            if (avas[i].hex)
                GUARD(add_hex_entry(name, obj, values + avas[i].value_off, avas[i].value_len, set,
                                    dn, avas[i].type));
            else
                /* An empty value skips the size rules of the type's string table (CN is 1..64),
                 * as the name it was formatted from did. */
                ENSURE_OSSL(X509_NAME_add_entry_by_OBJ(
                                name, obj,
                                avas[i].value_len > 0 ? MBSTRING_UTF8 : V_ASN1_UTF8STRING,
                                values + avas[i].value_off, (int)avas[i].value_len, -1, set) == 1,
                            SCEP_EINVAL, "DN \"%s\": bad value for %s", dn, avas[i].type);
            ASN1_OBJECT_free(obj);
            obj = NULL;
        }
    }
    *out = name;
    name = NULL;

cleanup:
    ASN1_OBJECT_free(obj);
    OPENSSL_free(values);
    X509_NAME_free(name);
    return rc;
}

int scep_dn_format(char **out, const X509_NAME *name)
{
    int rc = SCEP_OK;
    BIO *bio = NULL;
    char *str = NULL;

    ENSURE(out != NULL && name != NULL, SCEP_EINVAL, "scep_dn_format: NULL argument");
    *out = NULL;
    bio = BIO_new(BIO_s_mem());
    ENSURE_ALLOC(bio);
    /* RFC 4514 escaping, but UTF-8 kept as is rather than \XX-escaped. */
    ENSURE_OSSL(X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0,
                SCEP_ECRYPTO, "cannot format name");
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    ENSURE(len >= 0, SCEP_ENOMEM, "out of memory");
    str = OPENSSL_malloc((size_t)len + 1);
    ENSURE_ALLOC(str);
    if (len > 0)
        memcpy(str, data, (size_t)len);
    str[len] = '\0';
    *out = str;
    str = NULL;

cleanup:
    OPENSSL_free(str);
    BIO_free(bio);
    return rc;
}
