/*
 * subjectAltName as text, both ways: "dns:a,ip:192.0.2.1,email:..,uri:..,upn:..".
 * One syntax for every tool, so a SAN typed on a command line, kept in the store
 * and written to a log reads the same. Values are checked here, before OpenSSL
 * encodes them, because OpenSSL's own v2i accepts nearly any IA5 text.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/objects.h>

#define SAN_DNS_MAX   253 /* RFC 1035 §2.3.4, as text without the root dot */
#define SAN_LABEL_MAX 63
/* Bytes of an offending item quoted in an error message. */
#define SAN_SHOWN_MAX 80
/* Longest dotted OID written for an otherName or registeredID. */
#define SAN_OID_MAX 128

enum san_kind { SAN_KIND_DNS, SAN_KIND_IP, SAN_KIND_EMAIL, SAN_KIND_URI, SAN_KIND_UPN };

static const struct {
    const char *prefix;
    enum san_kind kind;
} san_prefixes[] = {
    {"dns", SAN_KIND_DNS}, {"ip", SAN_KIND_IP},   {"email", SAN_KIND_EMAIL},
    {"uri", SAN_KIND_URI}, {"upn", SAN_KIND_UPN},
};

/* ---- characters ---- */

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Printable ASCII without the blank: what rfc822Name and URI values may hold here. */
static int is_graphic(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static int ascii_case_equal(const unsigned char *a, size_t a_len, const unsigned char *b,
                            size_t b_len)
{
    if (a_len != b_len)
        return 0;
    for (size_t i = 0; i < a_len; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return 0;
    return 1;
}

/*
 * Length (1..4) of the well-formed UTF-8 sequence at `s` and its code point in `*cp`,
 * or 0 for an ill-formed one: overlong forms, surrogates and values above U+10FFFF
 * are refused, as RFC 3629 §3 requires.
 */
static size_t utf8_sequence(uint32_t *cp, const unsigned char *s, size_t n)
{
    static const struct {
        unsigned char mask, lead;
        size_t len;
        uint32_t min;
    } forms[] = {{0xe0, 0xc0, 2, 0x80}, {0xf0, 0xe0, 3, 0x800}, {0xf8, 0xf0, 4, 0x10000}};

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t f = 0;
    while (f < sizeof(forms) / sizeof(forms[0]) && (s[0] & forms[f].mask) != forms[f].lead)
        f++;
    if (f == sizeof(forms) / sizeof(forms[0]))
        return 0;
    const size_t len = forms[f].len;
    uint32_t v = s[0] & (unsigned char)~forms[f].mask;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3fu);
    }
    if (v < forms[f].min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* C0, DEL and C1: nothing a person means to put in a name, and they can forge log lines. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* The first SAN_SHOWN_MAX bytes of `s` with everything but printable ASCII as \xHH. */
static const char *shown(char out[SAN_SHOWN_MAX * 4 + 4], const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n && i < SAN_SHOWN_MAX; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (n > SAN_SHOWN_MAX)
        for (int i = 0; i < 3; i++)
            out[o++] = '.';
    out[o] = '\0';
    return out;
}

/* ---- checks: each returns NULL when the value is acceptable, else why not ---- */

static const char *check_dns(const unsigned char *s, size_t n)
{
    if (n == 0)
        return "empty host name";
    if (n > SAN_DNS_MAX)
        return "host name longer than 253 characters";
    size_t i = 0;
    if (n >= 2 && s[0] == '*' && s[1] == '.')
        i = 2; /* RFC 6125 §6.4.3: a wildcard is only ever the whole leftmost label */
    for (;;) {
        const size_t label = i;
        while (i < n && s[i] != '.') {
            if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
                return "not a host name (letters, digits, '-' and '.'; \"*.\" only in front)";
            i++;
        }
        if (i == label)
            return "empty label in host name";
        if (i - label > SAN_LABEL_MAX)
            return "host name label longer than 63 characters";
        if (s[label] == '-' || s[i - 1] == '-')
            return "host name label starts or ends with '-'";
        if (i == n)
            return NULL;
        i++;
        if (i == n)
            return "empty label in host name";
    }
}

static const char *check_email(const unsigned char *s, size_t n)
{
    size_t at = 0, ats = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_graphic(s[i]))
            return "e-mail address with a blank or a character outside printable ASCII";
        if (s[i] == '@') {
            at = i;
            ats++;
        }
    }
    if (ats != 1 || at == 0 || at == n - 1)
        return "e-mail address needs exactly one '@' with text on both sides";
    return NULL;
}

static const char *check_uri(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_graphic(s[i]))
            return "URI with a blank or a character outside printable ASCII";
    /* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    size_t i = 0;
    if (n > 0 && is_alpha(s[0]))
        for (i = 1; i < n &&
                    (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.');
             i++)
            ;
    if (i == 0 || i >= n || s[i] != ':' || i + 1 == n)
        return "URI without a scheme (\"https://...\", \"urn:...\")";
    return NULL;
}

static const char *check_upn(const unsigned char *s, size_t n)
{
    if (n == 0)
        return "empty UPN";
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        const size_t len = utf8_sequence(&cp, s + i, n - i);
        if (len == 0)
            return "UPN is not valid UTF-8";
        if (is_control(cp))
            return "UPN with a control character";
        i += len;
    }
    return NULL;
}

/* ---- parsing ---- */

static int ia5_name(GENERAL_NAME *gn, int type, const unsigned char *s, size_t n)
{
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    if (ia5 == NULL || ASN1_STRING_set(ia5, s, (int)n) != 1) {
        ASN1_IA5STRING_free(ia5);
        return scep_fail(SCEP_ENOMEM, "out of memory");
    }
    GENERAL_NAME_set0_value(gn, type, ia5);
    return SCEP_OK;
}

static int ip_name(GENERAL_NAME *gn, const unsigned char *octets, size_t n)
{
    ASN1_OCTET_STRING *ip = ASN1_OCTET_STRING_new();
    if (ip == NULL || ASN1_OCTET_STRING_set(ip, octets, (int)n) != 1) {
        ASN1_OCTET_STRING_free(ip);
        return scep_fail(SCEP_ENOMEM, "out of memory");
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    return SCEP_OK;
}

/* otherName msUPN: [MS-WCCE] puts the UPN in a UTF8String. */
static int upn_name(GENERAL_NAME *gn, const unsigned char *s, size_t n)
{
    int rc = SCEP_OK;
    ASN1_UTF8STRING *utf8 = ASN1_UTF8STRING_new();
    ASN1_TYPE *value = ASN1_TYPE_new();

    ENSURE(utf8 != NULL && value != NULL && ASN1_STRING_set(utf8, s, (int)n) == 1, SCEP_ENOMEM,
           "out of memory");
    ASN1_TYPE_set(value, V_ASN1_UTF8STRING, utf8);
    utf8 = NULL;
    ENSURE_OSSL(GENERAL_NAME_set0_othername(gn, OBJ_nid2obj(NID_ms_upn), value) == 1, SCEP_ENOMEM,
                "UPN otherName");
    value = NULL;

cleanup:
    ASN1_UTF8STRING_free(utf8);
    ASN1_TYPE_free(value);
    return rc;
}

/*
 * One item "prefix:value" (already trimmed). `buf` holds SCEP_SAN_VALUE_MAX + 1 bytes
 * for the value with its \xHH escapes decoded.
 */
static int parse_item(GENERAL_NAME **out, const char *item, size_t item_len, unsigned char *buf)
{
    int rc = SCEP_OK;
    GENERAL_NAME *gn = NULL;
    char quoted[SAN_SHOWN_MAX * 4 + 4];
    const char *why = NULL;

    *out = NULL;
    const char *colon = memchr(item, ':', item_len);
    size_t kind = sizeof(san_prefixes) / sizeof(san_prefixes[0]);
    for (size_t i = 0; colon != NULL && i < kind; i++)
        if (strlen(san_prefixes[i].prefix) == (size_t)(colon - item) &&
            strncasecmp(item, san_prefixes[i].prefix, (size_t)(colon - item)) == 0)
            kind = i;
    ENSURE(kind < sizeof(san_prefixes) / sizeof(san_prefixes[0]), SCEP_EINVAL,
           "subjectAltName \"%s\": unknown type (dns:, ip:, email:, uri:, upn:)",
           shown(quoted, item, item_len));

    const char *text = colon + 1;
    const size_t text_len = item_len - (size_t)(text - item);
    ENSURE(text_len <= SCEP_SAN_VALUE_MAX, SCEP_EINVAL,
           "subjectAltName \"%s\": value longer than %d characters", shown(quoted, item, item_len),
           SCEP_SAN_VALUE_MAX);
    size_t n = 0;
    for (size_t i = 0; i < text_len; i++) {
        if (text[i] != '\\') {
            buf[n++] = (unsigned char)text[i];
            continue;
        }
        const int hi = i + 3 < text_len && text[i + 1] == 'x'
                           ? OPENSSL_hexchar2int((unsigned char)text[i + 2])
                           : -1;
        const int lo = hi >= 0 ? OPENSSL_hexchar2int((unsigned char)text[i + 3]) : -1;
        ENSURE(lo >= 0, SCEP_EINVAL, "subjectAltName \"%s\": '\\' not followed by xHH",
               shown(quoted, item, item_len));
        buf[n++] = (unsigned char)(hi << 4 | lo);
        i += 3;
    }
    buf[n] = '\0';

    gn = GENERAL_NAME_new();
    ENSURE_ALLOC(gn);
    switch (san_prefixes[kind].kind) {
    case SAN_KIND_DNS:
        if ((why = check_dns(buf, n)) == NULL)
            GUARD(ia5_name(gn, GEN_DNS, buf, n));
        break;
    case SAN_KIND_EMAIL:
        if ((why = check_email(buf, n)) == NULL)
            GUARD(ia5_name(gn, GEN_EMAIL, buf, n));
        break;
    case SAN_KIND_URI:
        if ((why = check_uri(buf, n)) == NULL)
            GUARD(ia5_name(gn, GEN_URI, buf, n));
        break;
    case SAN_KIND_IP: {
        unsigned char octets[16];
        /* strlen: a decoded \x00 must not cut the address short unseen. */
        if (strlen((const char *)buf) == n && inet_pton(AF_INET, (const char *)buf, octets) == 1)
            GUARD(ip_name(gn, octets, 4));
        else if (strlen((const char *)buf) == n &&
                 inet_pton(AF_INET6, (const char *)buf, octets) == 1)
            GUARD(ip_name(gn, octets, 16));
        else
            why = "not an IPv4 or IPv6 address";
        break;
    }
    case SAN_KIND_UPN:
        if ((why = check_upn(buf, n)) == NULL)
            GUARD(upn_name(gn, buf, n));
        break;
    }
    ENSURE(why == NULL, SCEP_EINVAL, "subjectAltName \"%s\": %s", shown(quoted, item, item_len),
           why);
    *out = gn;
    gn = NULL;

cleanup:
    GENERAL_NAME_free(gn);
    return rc;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int scep_san_parse(GENERAL_NAMES **out, const char *text)
{
    int rc = SCEP_OK;
    GENERAL_NAMES *names = NULL;
    GENERAL_NAME *gn = NULL;
    unsigned char *buf = NULL;
    char quoted[SAN_SHOWN_MAX * 4 + 4];

    ENSURE(out != NULL, SCEP_EINVAL, "scep_san_parse: NULL argument");
    *out = NULL;
    names = GENERAL_NAMES_new();
    ENSURE_ALLOC(names);
    buf = OPENSSL_malloc(SCEP_SAN_VALUE_MAX + 1);
    ENSURE_ALLOC(buf);

    for (const char *p = text != NULL ? text : ""; *p != '\0';) {
        const char *start = p;
        while (*p != '\0' && *p != ',' && *p != '\n')
            p++;
        const char *end = p;
        if (*p != '\0')
            p++;
        while (start < end && is_blank(*start))
            start++;
        while (end > start && is_blank(end[-1]))
            end--;
        if (start == end)
            continue;
        ENSURE(sk_GENERAL_NAME_num(names) < SCEP_SAN_MAX_ENTRIES, SCEP_EINVAL,
               "subjectAltName \"%s\": more than %d entries",
               shown(quoted, start, (size_t)(end - start)), SCEP_SAN_MAX_ENTRIES);
        GUARD(parse_item(&gn, start, (size_t)(end - start), buf));
        ENSURE(sk_GENERAL_NAME_push(names, gn) > 0, SCEP_ENOMEM, "out of memory");
        gn = NULL;
    }
    *out = names;
    names = NULL;

cleanup:
    OPENSSL_free(buf);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(names);
    return rc;
}

/* ---- formatting ---- */

/* A growing string; the first failed allocation sticks and is reported once at the end. */
struct text {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

static void put(struct text *t, const void *data, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 128;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = OPENSSL_realloc(t->data, cap);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, data, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void put_escaped_byte(struct text *t, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    const char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
    put(t, esc, sizeof(esc));
}

static void put_hex(struct text *t, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        const char pair[2] = {hex[s[i] >> 4], hex[s[i] & 15]};
        put(t, pair, sizeof(pair));
    }
}

#define VALUE_KEEP_UTF8       0x1u /* valid UTF-8 outside the controls is written as is */
#define VALUE_KEEP_SEPARATORS 0x2u /* ',' and '\' are written as is */

static void put_value(struct text *t, const unsigned char *s, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        if (c >= 0x80 && (flags & VALUE_KEEP_UTF8)) {
            uint32_t cp = 0;
            const size_t len = utf8_sequence(&cp, s + i, n - i);
            if (len > 0 && !is_control(cp)) {
                put(t, s + i, len);
                i += len;
                continue;
            }
        }
        if (c < 0x20 || c >= 0x7f || ((c == ',' || c == '\\') && !(flags & VALUE_KEEP_SEPARATORS)))
            put_escaped_byte(t, c);
        else
            put(t, &c, 1);
        i++;
    }
}

static void put_string_value(struct text *t, const ASN1_STRING *s, unsigned flags)
{
    put_value(t, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), flags);
}

static void put_oid(struct text *t, const ASN1_OBJECT *obj)
{
    char oid[SAN_OID_MAX];
    const int n = OBJ_obj2txt(oid, sizeof(oid), obj, 1);
    if (n > 0 && (size_t)n < sizeof(oid))
        put_str(t, oid);
    else
        put_str(t, "?");
}

static const ASN1_UTF8STRING *upn_value(const OTHERNAME *other)
{
    if (other == NULL || OBJ_obj2nid(other->type_id) != NID_ms_upn || other->value == NULL ||
        other->value->type != V_ASN1_UTF8STRING)
        return NULL;
    return other->value->value.utf8string;
}

static void put_ip(struct text *t, const ASN1_OCTET_STRING *ip)
{
    char addr[INET6_ADDRSTRLEN];
    const int len = ASN1_STRING_length(ip);
    const unsigned char *octets = ASN1_STRING_get0_data(ip);
    put_str(t, "ip:");
    if ((len == 4 || len == 16) &&
        inet_ntop(len == 4 ? AF_INET : AF_INET6, octets, addr, sizeof(addr)) != NULL)
        put_str(t, addr);
    else
        put_hex(t, octets, (size_t)len); /* a name-constraint range or a malformed address */
}

static void put_dirname(struct text *t, const X509_NAME *name)
{
    char *dn = NULL;
    put_str(t, "dirname:");
    if (scep_dn_format(&dn, name) == SCEP_OK) {
        put_value(t, (const unsigned char *)dn, strlen(dn),
                  VALUE_KEEP_UTF8 | VALUE_KEEP_SEPARATORS);
        OPENSSL_free(dn);
        return;
    }
    /* RFC 4514 §2.4's hex form of the whole name, rather than nothing. */
    unsigned char *der = NULL;
    const int der_len = i2d_X509_NAME(name, &der);
    put_str(t, "#");
    if (der_len > 0)
        put_hex(t, der, (size_t)der_len);
    OPENSSL_free(der);
}

static int put_name(struct text *t, const GENERAL_NAME *gn)
{
    int type = -1;
    const void *value = GENERAL_NAME_get0_value(gn, &type);
    switch (type) {
    case GEN_DNS:
        put_str(t, "dns:");
        put_string_value(t, value, 0);
        return SCEP_OK;
    case GEN_EMAIL:
        put_str(t, "email:");
        put_string_value(t, value, 0);
        return SCEP_OK;
    case GEN_URI:
        put_str(t, "uri:");
        put_string_value(t, value, 0);
        return SCEP_OK;
    case GEN_IPADD:
        put_ip(t, value);
        return SCEP_OK;
    case GEN_OTHERNAME: {
        const ASN1_UTF8STRING *upn = upn_value(value);
        if (upn != NULL) {
            put_str(t, "upn:");
            put_string_value(t, upn, VALUE_KEEP_UTF8);
        } else {
            put_str(t, "othername:");
            put_oid(t, ((const OTHERNAME *)value)->type_id);
        }
        return SCEP_OK;
    }
    case GEN_DIRNAME:
        put_dirname(t, value);
        return SCEP_OK;
    case GEN_RID:
        put_str(t, "rid:");
        put_oid(t, value);
        return SCEP_OK;
    case GEN_X400:
        put_str(t, "x400:");
        put_hex(t, ASN1_STRING_get0_data(value), (size_t)ASN1_STRING_length(value));
        return SCEP_OK;
    case GEN_EDIPARTY: {
        unsigned char *der = NULL;
        const int der_len = i2d_EDIPARTYNAME(value, &der);
        put_str(t, "edi:");
        if (der_len > 0)
            put_hex(t, der, (size_t)der_len);
        OPENSSL_free(der);
        return SCEP_OK;
    }
    default:
        return scep_fail(SCEP_EINVAL, "subjectAltName of unknown type %d", type);
    }
}

int scep_san_format(char **out, const GENERAL_NAMES *names, char separator)
{
    int rc = SCEP_OK;
    struct text t = {NULL, 0, 0, 0};

    ENSURE(out != NULL && names != NULL, SCEP_EINVAL, "scep_san_format: NULL argument");
    *out = NULL;
    put(&t, "", 0);
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        if (i > 0)
            put(&t, &separator, 1);
        GUARD(put_name(&t, sk_GENERAL_NAME_value(names, i)));
    }
    ENSURE(!t.failed, SCEP_ENOMEM, "out of memory");
    *out = t.data;
    t.data = NULL;

cleanup:
    OPENSSL_free(t.data);
    return rc;
}

/* ---- equality ---- */

static int email_equal(const ASN1_IA5STRING *a, const ASN1_IA5STRING *b)
{
    const unsigned char *sa = ASN1_STRING_get0_data(a), *sb = ASN1_STRING_get0_data(b);
    const size_t na = (size_t)ASN1_STRING_length(a), nb = (size_t)ASN1_STRING_length(b);
    size_t at_a = na, at_b = nb;
    for (size_t i = 0; i < na; i++)
        if (sa[i] == '@')
            at_a = i;
    for (size_t i = 0; i < nb; i++)
        if (sb[i] == '@')
            at_b = i;
    if (at_a == na || at_b == nb)
        return at_a == na && at_b == nb && ascii_case_equal(sa, na, sb, nb);
    /* RFC 5280 §7.5: the local part is case-sensitive, the host part is not. */
    return at_a == at_b && memcmp(sa, sb, at_a) == 0 &&
           ascii_case_equal(sa + at_a, na - at_a, sb + at_b, nb - at_b);
}

int scep_san_equal(const GENERAL_NAME *a, const GENERAL_NAME *b)
{
    if (a == NULL || b == NULL)
        return 0;
    int type_a = -1, type_b = -1;
    const void *va = GENERAL_NAME_get0_value(a, &type_a);
    const void *vb = GENERAL_NAME_get0_value(b, &type_b);
    if (type_a != type_b)
        return 0;
    switch (type_a) {
    case GEN_DNS:
        return ascii_case_equal(ASN1_STRING_get0_data(va), (size_t)ASN1_STRING_length(va),
                                ASN1_STRING_get0_data(vb), (size_t)ASN1_STRING_length(vb));
    case GEN_EMAIL:
        return email_equal(va, vb);
    case GEN_IPADD:
        return ASN1_OCTET_STRING_cmp(va, vb) == 0;
    case GEN_OTHERNAME: {
        const ASN1_UTF8STRING *upn_a = upn_value(va), *upn_b = upn_value(vb);
        if (upn_a != NULL && upn_b != NULL)
            return ASN1_STRING_cmp(upn_a, upn_b) == 0;
        break;
    }
    default:
        break;
    }
    /* OpenSSL 3 declares the arguments non-const but only reads them. */
    return GENERAL_NAME_cmp((GENERAL_NAME *)(uintptr_t)a, (GENERAL_NAME *)(uintptr_t)b) == 0;
}
