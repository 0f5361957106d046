#include "test_support.h"

#include "scep/ca.h"
#include "scep/fingerprint.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* One RSA-2048 CA shared by the issuing tests (key generation is the slow part). */
struct fixture {
    char *dir;
    scep_ca *ca;
    char ca_pem[4096];
};

static struct fixture fx;

static const char *in_dir(const char *dir, const char *name)
{
    static char paths[4][4096];
    static int next;
    char *p = paths[next++ % 4];
    int n = snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof(paths[0]));
    return p;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void save_cert(const char *path, const X509 *cert)
{
    assert_int_equal(scep_cert_save(path, cert, SCEP_ENCODING_PEM), 0);
}

static int group_setup(void **state)
{
    (void)state;
    fx.dir = test_tmpdir();
    scep_ca_create_options opts;
    scep_ca_create_options_init(&opts);
    opts.subject = "CN=Fixture CA,O=Example";
    opts.rsa_bits = 2048;
    if (scep_ca_create(&fx.ca, &opts) != 0)
        return -1;
    int n = snprintf(fx.ca_pem, sizeof(fx.ca_pem), "%s/fixture-ca.pem", fx.dir);
    if (n <= 0 || (size_t)n >= sizeof(fx.ca_pem))
        return -1;
    return scep_cert_save(fx.ca_pem, scep_ca_cert(fx.ca), SCEP_ENCODING_PEM) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    scep_ca_free(fx.ca);
    test_rmdir(fx.dir);
    free(fx.dir);
    return 0;
}

/* A CSR with the given extensions (OpenSSL config syntax, NULL for none). */
static X509_REQ *csr_with_exts(EVP_PKEY *key, const char *cn, const char *san, const char *bc)
{
    X509_REQ *req = X509_REQ_new();
    assert_non_null(req);
    if (cn != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
                                                    MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                                    -1, 0),
                         1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    assert_non_null(exts);
    if (san != NULL) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        assert_non_null(ext);
        sk_X509_EXTENSION_push(exts, ext);
    }
    if (bc != NULL) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, bc);
        assert_non_null(ext);
        sk_X509_EXTENSION_push(exts, ext);
    }
    if (sk_X509_EXTENSION_num(exts) > 0)
        assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    return req;
}

static X509 *issue_ok(const scep_profile *profile, X509_REQ *csr)
{
    scep_issue_request request = {0};
    request.csr = csr;
    X509 *cert = NULL;
    int rc = scep_ca_issue(&cert, fx.ca, profile, &request);
    if (rc != 0)
        fail_msg("issue failed: %s", scep_error_message());
    assert_non_null(cert);
    return cert;
}

static void assert_verifies(X509 *cert, const char *name)
{
    const char *path = in_dir(fx.dir, name);
    save_cert(path, cert);
    assert_int_equal(test_system("openssl verify -CAfile '%s' '%s' >/dev/null", fx.ca_pem, path),
                     0);
}

static void assert_same_octets(const ASN1_OCTET_STRING *a, const ASN1_OCTET_STRING *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(ASN1_STRING_cmp(a, b), 0);
}

/* ---- DN ---- */

static void dn_parses_both_forms(void **state)
{
    (void)state;
    X509_NAME *slash = NULL, *rfc = NULL, *multi = NULL, *esc = NULL;
    assert_int_equal(scep_dn_parse(&slash, "/O=Example/CN=Demo CA"), 0);
    assert_int_equal(scep_dn_parse(&rfc, "CN=Demo CA, O=Example"), 0);
    assert_int_equal(X509_NAME_cmp(slash, rfc), 0);
    /* Encoding order of the RFC 4514 form: O first. */
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(rfc, 0))),
                     NID_organizationName);

    char *text = NULL;
    assert_int_equal(scep_dn_format(&text, rfc), 0);
    assert_string_equal(text, "CN=Demo CA,O=Example");
    OPENSSL_free(text);

    assert_int_equal(scep_dn_parse(&esc, "cn=a\\,b\\2Bc, o=x/y,c=DE"), 0);
    char buf[64];
    assert_int_equal(X509_NAME_get_text_by_NID(esc, NID_commonName, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "a,b+c");
    assert_int_equal(X509_NAME_get_text_by_NID(esc, NID_organizationName, buf, sizeof(buf)), 3);
    assert_string_equal(buf, "x/y");
    /* round trip through the formatter */
    assert_int_equal(scep_dn_format(&text, esc), 0);
    X509_NAME *again = NULL;
    assert_int_equal(scep_dn_parse(&again, text), 0);
    assert_int_equal(X509_NAME_cmp(again, esc), 0);
    X509_NAME_free(again);
    OPENSSL_free(text);

    assert_int_equal(scep_dn_parse(&multi, "/O=Example/CN=host+UID=42"), 0);
    assert_int_equal(X509_NAME_entry_count(multi), 3);
    assert_int_equal(X509_NAME_ENTRY_set(X509_NAME_get_entry(multi, 1)),
                     X509_NAME_ENTRY_set(X509_NAME_get_entry(multi, 2)));

    X509_NAME *bad = NULL;
    assert_int_equal(scep_dn_parse(&bad, ""), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "/"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "CN"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "/CN="), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "CN=#0C"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "CN=#0C0161 x"), SCEP_EINVAL);
    /* Hex of something that is not one string (an INTEGER). */
    assert_int_equal(scep_dn_parse(&bad, "CN=#020101"), SCEP_EINVAL);
    /* A UTF8String of invalid UTF-8: OpenSSL could neither compare nor encode the name. */
    assert_int_equal(scep_dn_parse(&bad, "CN=x,1.2.3.4=#0C0566856C6C6F"), SCEP_EINVAL);
    /* OIDs are written strictly: no blanks inside, no empty arcs. */
    assert_int_equal(scep_dn_parse(&bad, "CN=x,2    .5.4.3=y"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "CN=x,2..5=y"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "CN=x,2.5.=y"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "CN=x,common Name=y"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "NOPE=x"), SCEP_EINVAL);
    assert_non_null(strstr(scep_error_message(), "NOPE"));
    assert_int_equal(scep_dn_parse(&bad, "C=DEU"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "C=#0C03444555"), SCEP_EINVAL);
    /* A UTF8String "l\\o" is no dnQualifier (PrintableString): as text it is refused too. */
    assert_int_equal(scep_dn_parse(&bad, "DNQUALIFIER=#0C036C5C6F"), SCEP_EINVAL);
    assert_int_equal(scep_dn_parse(&bad, "DNQUALIFIER=#0C036C2D6F"), SCEP_OK);
    X509_NAME_free(bad);
    bad = NULL;
    assert_null(bad);
    X509_NAME *oid = NULL;
    assert_int_equal(scep_dn_parse(&oid, "2.5.4.3=by oid"), 0);
    assert_int_equal(X509_NAME_get_text_by_NID(oid, NID_commonName, buf, sizeof(buf)), 6);

    X509_NAME_free(oid);
    X509_NAME_free(slash);
    X509_NAME_free(rfc);
    X509_NAME_free(multi);
    X509_NAME_free(esc);
}

/* The parsed name compares equal and re-encodes to the same DER. */
static void assert_dn_round_trip(const X509_NAME *name, const char *expected_text)
{
    char *text = NULL;
    X509_NAME *again = NULL;
    assert_int_equal(scep_dn_format(&text, name), 0);
    if (expected_text != NULL)
        assert_string_equal(text, expected_text);
    if (scep_dn_parse(&again, text) != 0)
        fail_msg("\"%s\" does not parse back: %s", text, scep_error_message());
    assert_int_equal(X509_NAME_cmp(again, name), 0);
    OPENSSL_free(text);
    X509_NAME_free(again);
}

static void add_entry(X509_NAME *name, const char *type, int string_type, const char *value,
                      int len, int set)
{
    assert_int_equal(X509_NAME_add_entry_by_txt(name, type, string_type,
                                                (const unsigned char *)value, len, -1, set),
                     1);
}

static void dn_format_parses_back(void **state)
{
    (void)state;
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    add_entry(name, "C", MBSTRING_ASC, "DE", -1, 0);
    add_entry(name, "O", MBSTRING_ASC, "Ex, \"q\" +;<>\\ ", -1, 0);
    add_entry(name, "CN", MBSTRING_UTF8, "# caf\xc3\xa9\x1b\x7f", -1, 0);
    add_entry(name, "UID", MBSTRING_ASC, "42", -1, -1);
    assert_dn_round_trip(name, NULL);
    X509_NAME_free(name);

    /* OpenSSL writes a type it has no name for as its OID and "#" + DER (RFC 4514 §2.4). */
    name = X509_NAME_new();
    assert_non_null(name);
    add_entry(name, "1.2.3.4", V_ASN1_UTF8STRING, "hello", -1, 0);
    add_entry(name, "CN", MBSTRING_ASC, "x", -1, 0);
    assert_dn_round_trip(name, "CN=x,1.2.3.4=#0C0568656C6C6F");
    X509_NAME *parsed = NULL;
    assert_int_equal(scep_dn_parse(&parsed, "CN=x,1.2.3.4=#0C0568656C6C6F"), 0);
    unsigned char *der_a = NULL, *der_b = NULL;
    int len_a = i2d_X509_NAME(name, &der_a), len_b = i2d_X509_NAME(parsed, &der_b);
    assert_true(len_a > 0);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(der_a, der_b, (size_t)len_a);
    OPENSSL_free(der_a);
    OPENSSL_free(der_b);
    X509_NAME_free(parsed);
    X509_NAME_free(name);

    /* RFC 4514 allows an empty value; a name holding one must survive the text form. */
    name = X509_NAME_new();
    assert_non_null(name);
    add_entry(name, "O", MBSTRING_ASC, "Example", -1, 0);
    add_entry(name, "CN", V_ASN1_UTF8STRING, "", 0, 0);
    assert_dn_round_trip(name, "CN=,O=Example");
    X509_NAME_free(name);

    /* OpenSSL escapes a leading '#' ("\\#a") but not a value that is only "#". */
    name = X509_NAME_new();
    assert_non_null(name);
    add_entry(name, "O", MBSTRING_ASC, "#a", -1, 0);
    add_entry(name, "CN", MBSTRING_ASC, "#", -1, 0);
    assert_dn_round_trip(name, "CN=#,O=\\#a");
    X509_NAME_free(name);

    /* BMPString, a NUL, and types OpenSSL names without an alias of ours. */
    name = X509_NAME_new();
    assert_non_null(name);
    add_entry(name, "CN", MBSTRING_BMP, "\0a\0b", 4, 0);
    add_entry(name, "OU", MBSTRING_ASC, "a\0b", 3, 0);
    add_entry(name, "serialNumber", MBSTRING_ASC, "123", -1, 0);
    add_entry(name, "emailAddress", MBSTRING_ASC, "a@b.example", -1, 0);
    add_entry(name, "DC", MBSTRING_ASC, "example", -1, 0);
    add_entry(name, "businessCategory", MBSTRING_ASC, "biz", -1, 0);
    add_entry(name, "jurisdictionC", MBSTRING_ASC, "DE", -1, 0);
    add_entry(name, "unstructuredName", MBSTRING_ASC, "router.example", -1, 0);
    assert_dn_round_trip(name, NULL);
    X509_NAME_free(name);
}

/* ---- subjectAltName text ---- */

static const char *san_text(const GENERAL_NAMES *names, char separator)
{
    static char copy[4096];
    char *text = NULL;
    assert_int_equal(scep_san_format(&text, names, separator), 0);
    assert_non_null(text);
    assert_true(strlen(text) < sizeof(copy));
    snprintf(copy, sizeof(copy), "%s", text);
    OPENSSL_free(text);
    return copy;
}

static const unsigned char *ia5_data(const GENERAL_NAME *gn, int type)
{
    int got = -1;
    const ASN1_STRING *s = GENERAL_NAME_get0_value(gn, &got);
    assert_int_equal(got, type);
    return ASN1_STRING_get0_data(s);
}

static void san_parses_each_type_and_round_trips(void **state)
{
    (void)state;
    static const char text[] =
        "dns:host.example,ip:192.0.2.1,email:a@b.example,uri:https://x/,upn:user@corp";
    GENERAL_NAMES *names = NULL;
    assert_int_equal(scep_san_parse(&names, text), 0);
    assert_int_equal(sk_GENERAL_NAME_num(names), 5);
    assert_string_equal(ia5_data(sk_GENERAL_NAME_value(names, 0), GEN_DNS), "host.example");
    int type = -1;
    const ASN1_OCTET_STRING *ip = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, 1), &type);
    assert_int_equal(type, GEN_IPADD);
    assert_int_equal(ASN1_STRING_length(ip), 4);
    assert_memory_equal(ASN1_STRING_get0_data(ip), "\xc0\x00\x02\x01", 4);
    assert_string_equal(ia5_data(sk_GENERAL_NAME_value(names, 2), GEN_EMAIL), "a@b.example");
    assert_string_equal(ia5_data(sk_GENERAL_NAME_value(names, 3), GEN_URI), "https://x/");
    ASN1_OBJECT *oid = NULL;
    ASN1_TYPE *value = NULL;
    assert_int_equal(GENERAL_NAME_get0_otherName(sk_GENERAL_NAME_value(names, 4), &oid, &value), 1);
    assert_int_equal(OBJ_obj2nid(oid), NID_ms_upn);
    assert_int_equal(ASN1_TYPE_get(value), V_ASN1_UTF8STRING);
    assert_string_equal(ASN1_STRING_get0_data(value->value.utf8string), "user@corp");
    assert_string_equal(san_text(names, ','), text);

    /* The storage form parses back to the same names. */
    GENERAL_NAMES *again = NULL;
    assert_int_equal(scep_san_parse(&again, san_text(names, '\n')), 0);
    assert_int_equal(sk_GENERAL_NAME_num(again), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            GENERAL_NAME_cmp(sk_GENERAL_NAME_value(names, i), sk_GENERAL_NAME_value(again, i)), 0);
    GENERAL_NAMES_free(again);
    GENERAL_NAMES_free(names);

    /* Blanks, '\n', empty items, upper-case prefixes, IPv6, a wildcard, UTF-8 in a UPN. */
    assert_int_equal(scep_san_parse(&names, " DNS:*.Example.com ,\tIP:2001:DB8::1\r\n"
                                            "Upn:j\xc3\xb6rg@corp,,\n"),
                     0);
    assert_string_equal(san_text(names, ','),
                        "dns:*.Example.com,ip:2001:db8::1,upn:j\xc3\xb6rg@corp");
    GENERAL_NAMES_free(names);

    /* ',' and '\' inside a value travel as \xHH and come back as themselves. */
    assert_int_equal(scep_san_parse(&names, "uri:https://x/a\\x2Cb\\x5c"), 0);
    assert_string_equal(ia5_data(sk_GENERAL_NAME_value(names, 0), GEN_URI), "https://x/a,b\\");
    assert_string_equal(san_text(names, ','), "uri:https://x/a\\x2Cb\\x5C");
    GENERAL_NAMES_free(names);

    /* Nothing: an empty stack, never NULL. */
    const char *empty[] = {NULL, "", "  ", " ,\n "};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        names = NULL;
        assert_int_equal(scep_san_parse(&names, empty[i]), 0);
        assert_non_null(names);
        assert_int_equal(sk_GENERAL_NAME_num(names), 0);
        assert_string_equal(san_text(names, ','), "");
        GENERAL_NAMES_free(names);
    }

    /* SCEP_SAN_MAX_ENTRIES entries are fine, one more is not. */
    char many[SCEP_SAN_MAX_ENTRIES * 24];
    size_t used = 0;
    for (int i = 0; i <= SCEP_SAN_MAX_ENTRIES; i++)
        used += (size_t)snprintf(many + used, sizeof(many) - used, "%sdns:h%d.example",
                                 i ? "," : "", i);
    many[strrchr(many, ',') - many] = '\0';
    assert_int_equal(scep_san_parse(&names, many), 0);
    assert_int_equal(sk_GENERAL_NAME_num(names), SCEP_SAN_MAX_ENTRIES);
    GENERAL_NAMES_free(names);
    many[strlen(many)] = ',';
    names = NULL;
    assert_int_equal(scep_san_parse(&names, many), SCEP_EINVAL);
    assert_null(names);
    assert_non_null(strstr(scep_error_message(), "h64.example"));
}

static void san_parse_refuses_bad_values(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *named; /* what the message must quote */
    } bad[] = {
        {"dns:-bad.example", "dns:-bad.example"},
        {"dns:bad-.example", "dns:bad-.example"},
        {"dns:a..example", "dns:a..example"},
        {"dns:a.example.", "dns:a.example."},
        {"dns:under_score.example", "under_score"},
        {"dns:a.*.example", "a.*.example"},
        {"dns:*", "dns:*"},
        {"dns:", "dns:"},
        {"dns:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", "dns:a"},
        {"dns:a\\x1Bb", "dns:a\\x1Bb"},
        {"ip:999.1.1.1", "ip:999.1.1.1"},
        {"ip:192.0.2.1/24", "ip:192.0.2.1/24"},
        {"ip:1.2.3.4\\x00", "ip:1.2.3.4\\x00"},
        {"ip:fe80::1%eth0", "ip:fe80::1%eth0"},
        {"email:nobody.example", "email:nobody.example"},
        {"email:a@b@c.example", "email:a@b@c.example"},
        {"email:a b@c.example", "email:a b@c.example"},
        {"email:@c.example", "email:@c.example"},
        {"uri:no-scheme.example/x", "uri:no-scheme.example/x"},
        {"uri:1http://x/", "uri:1http://x/"},
        {"uri:https:", "uri:https:"},
        {"uri:https://x/a b", "uri:https://x/a b"},
        {"upn:user\x1b@corp", "upn:user\\x1B@corp"},
        {"upn:user\\x07@corp", "upn:user\\x07@corp"},
        {"upn:\xc2\x85x", "upn:\\xC2\\x85x"}, /* U+0085, a C1 control */
        {"upn:\xc0\xaf", "upn:\\xC0\\xAF"},   /* overlong '/' */
        {"upn:", "upn:"},
        {"foo:x", "foo:x"},
        {"host.example", "host.example"},
        {"dns:ok.example,uri:https://x/\\q", "uri:https://x/\\q"},
        {"dns:ok.example,rid:1.2.3", "rid:1.2.3"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        GENERAL_NAMES *names = NULL;
        if (scep_san_parse(&names, bad[i].text) != SCEP_EINVAL)
            fail_msg("\"%s\" was accepted", bad[i].text);
        assert_null(names);
        if (strstr(scep_error_message(), bad[i].named) == NULL)
            fail_msg("\"%s\": message \"%s\" does not name it", bad[i].text, scep_error_message());
    }

    /* SCEP_SAN_VALUE_MAX characters of value are the most. */
    char long_uri[SCEP_SAN_VALUE_MAX + 16];
    int n = snprintf(long_uri, sizeof(long_uri), "uri:https://x/");
    memset(long_uri + n, 'a', sizeof(long_uri) - (size_t)n - 1);
    long_uri[4 + SCEP_SAN_VALUE_MAX] = '\0';
    GENERAL_NAMES *names = NULL;
    assert_int_equal(scep_san_parse(&names, long_uri), 0);
    GENERAL_NAMES_free(names);
    long_uri[4 + SCEP_SAN_VALUE_MAX] = 'a';
    long_uri[5 + SCEP_SAN_VALUE_MAX] = '\0';
    names = NULL;
    assert_int_equal(scep_san_parse(&names, long_uri), SCEP_EINVAL);
    assert_null(names);
}

static GENERAL_NAME *ia5_general_name(int type, const char *value, int len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    assert_non_null(gn);
    assert_non_null(ia5);
    assert_int_equal(ASN1_STRING_set(ia5, value, len), 1);
    GENERAL_NAME_set0_value(gn, type, ia5);
    return gn;
}

static GENERAL_NAME *other_general_name(const char *oid, const char *utf8)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_TYPE *value = ASN1_TYPE_new();
    ASN1_UTF8STRING *str = ASN1_UTF8STRING_new();
    assert_non_null(gn);
    assert_non_null(value);
    assert_non_null(str);
    assert_int_equal(ASN1_STRING_set(str, utf8, -1), 1);
    ASN1_TYPE_set(value, V_ASN1_UTF8STRING, str);
    assert_int_equal(GENERAL_NAME_set0_othername(gn, OBJ_txt2obj(oid, 0), value), 1);
    return gn;
}

static void push_name(GENERAL_NAMES *names, GENERAL_NAME *gn)
{
    assert_true(sk_GENERAL_NAME_push(names, gn) > 0);
}

static void san_format_writes_every_type(void **state)
{
    (void)state;
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    assert_non_null(names);
    /* What a CSR may carry but scep_san_parse never makes: an ESC in a dNSName. */
    push_name(names, ia5_general_name(GEN_DNS, "evil\x1b[2J.example", -1));
    push_name(names, ia5_general_name(GEN_EMAIL, "a\x7f@b,c\\d", -1));
    push_name(names, ia5_general_name(GEN_URI, "https://x/\xc3\xa9", -1));
    push_name(names, other_general_name("1.3.6.1.4.1.311.20.2.3", "j\xc3\xb6rg\xc2\x85@corp"));
    push_name(names, other_general_name("1.3.6.1.5.5.7.8.9", "ignored"));

    GENERAL_NAME *gn = GENERAL_NAME_new();
    X509_NAME *dir = NULL;
    assert_non_null(gn);
    assert_int_equal(scep_dn_parse(&dir, "CN=a\\,b,O=Example"), 0);
    GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dir);
    push_name(names, gn);

    gn = GENERAL_NAME_new();
    assert_non_null(gn);
    GENERAL_NAME_set0_value(gn, GEN_RID, OBJ_txt2obj("1.2.3.4.5", 1));
    push_name(names, gn);

    gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING *range = ASN1_OCTET_STRING_new();
    assert_non_null(gn);
    assert_non_null(range);
    assert_int_equal(
        ASN1_OCTET_STRING_set(range, (const unsigned char *)"\xc0\x00\x02\x00\xff\xff\xff\x00", 8),
        1);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, range);
    push_name(names, gn);

    gn = GENERAL_NAME_new();
    ASN1_STRING *x400 = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    assert_non_null(gn);
    assert_non_null(x400);
    assert_int_equal(ASN1_STRING_set(x400, "\x30\x00", 2), 1);
    GENERAL_NAME_set0_value(gn, GEN_X400, x400);
    push_name(names, gn);

    gn = GENERAL_NAME_new();
    EDIPARTYNAME *edi = EDIPARTYNAME_new();
    assert_non_null(gn);
    assert_non_null(edi);
    ASN1_STRING_free(edi->partyName); /* EDIPARTYNAME_new fills the required field */
    edi->partyName = ASN1_STRING_type_new(V_ASN1_UTF8STRING);
    assert_non_null(edi->partyName);
    assert_int_equal(ASN1_STRING_set(edi->partyName, "p", 1), 1);
    GENERAL_NAME_set0_value(gn, GEN_EDIPARTY, edi);
    push_name(names, gn);

    assert_string_equal(san_text(names, '\n'), "dns:evil\\x1B[2J.example\n"
                                               "email:a\\x7F@b\\x2Cc\\x5Cd\n"
                                               "uri:https://x/\\xC3\\xA9\n"
                                               "upn:j\xc3\xb6rg\\xC2\\x85@corp\n"
                                               "othername:1.3.6.1.5.5.7.8.9\n"
                                               "dirname:CN=a\\,b,O=Example\n"
                                               "rid:1.2.3.4.5\n"
                                               "ip:C0000200FFFFFF00\n"
                                               "x400:3000\n"
                                               "edi:3005A1030C0170");
    /* Nothing in the text a terminal or a log reader would act on. */
    const char *text = san_text(names, ',');
    for (const char *p = text; *p != '\0'; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
    GENERAL_NAMES_free(names);
}

static GENERAL_NAME *first_name(GENERAL_NAMES **keep, const char *text)
{
    assert_int_equal(scep_san_parse(keep, text), 0);
    assert_int_equal(sk_GENERAL_NAME_num(*keep), 1);
    return sk_GENERAL_NAME_value(*keep, 0);
}

static int san_text_equal(const char *a, const char *b)
{
    GENERAL_NAMES *na = NULL, *nb = NULL;
    int equal = scep_san_equal(first_name(&na, a), first_name(&nb, b));
    GENERAL_NAMES_free(na);
    GENERAL_NAMES_free(nb);
    return equal;
}

static void san_equal_follows_rfc5280(void **state)
{
    (void)state;
    assert_true(san_text_equal("dns:Host.EXAMPLE", "dns:host.example"));
    assert_false(san_text_equal("dns:host.example", "dns:host.example.org"));
    assert_true(san_text_equal("email:Dev1@Example.COM", "email:Dev1@example.com"));
    assert_false(san_text_equal("email:Dev1@example.com", "email:dev1@example.com"));
    assert_true(san_text_equal("ip:2001:db8::1", "ip:2001:0DB8:0:0:0:0:0:1"));
    assert_false(san_text_equal("ip:192.0.2.1", "ip:192.0.2.2"));
    assert_false(san_text_equal("ip:::ffff:192.0.2.1", "ip:192.0.2.1"));
    assert_true(san_text_equal("upn:user@corp", "upn:user@corp"));
    assert_false(san_text_equal("upn:User@corp", "upn:user@corp"));
    assert_true(san_text_equal("uri:https://x/", "uri:https://x/"));
    assert_false(san_text_equal("uri:https://x/A", "uri:https://x/a"));
    assert_false(san_text_equal("dns:a.example", "uri:a.example:x"));
    assert_false(san_text_equal("dns:a.example", "email:x@a.example"));

    /* An rfc822Name without '@' (a domain, as in name constraints) is all case-insensitive. */
    GENERAL_NAME *a = ia5_general_name(GEN_EMAIL, "Example.COM", -1);
    GENERAL_NAME *b = ia5_general_name(GEN_EMAIL, "example.com", -1);
    assert_true(scep_san_equal(a, b));
    GENERAL_NAME_free(b);
    /* A dNSName differing only after an embedded NUL is another name. */
    b = ia5_general_name(GEN_DNS, "a.example\0x", 11);
    GENERAL_NAME *c = ia5_general_name(GEN_DNS, "a.example\0y", 11);
    assert_false(scep_san_equal(b, c));
    assert_false(scep_san_equal(a, NULL));
    assert_false(scep_san_equal(NULL, a));
    GENERAL_NAME_free(a);
    GENERAL_NAME_free(b);
    GENERAL_NAME_free(c);

    /* Other types fall back to GENERAL_NAME_cmp. */
    a = other_general_name("1.3.6.1.5.5.7.8.9", "x");
    b = other_general_name("1.3.6.1.5.5.7.8.9", "x");
    c = other_general_name("1.3.6.1.5.5.7.8.9", "y");
    assert_true(scep_san_equal(a, b));
    assert_false(scep_san_equal(a, c));
    GENERAL_NAME_free(a);
    GENERAL_NAME_free(b);
    GENERAL_NAME_free(c);
}

/* OpenSSL's own subjectAltName parser is a second implementation to agree with. */
static void san_agrees_with_openssl(void **state)
{
    (void)state;
    static const char ours[] = "dns:a.example,ip:192.0.2.1,ip:2001:db8::7,email:a@b.example,"
                               "uri:https://x.example/p?q=1,upn:user@corp.example";
    static const char theirs[] =
        "DNS:a.example,IP:192.0.2.1,IP:2001:db8::7,email:a@b.example,"
        "URI:https://x.example/p?q=1,otherName:msUPN;UTF8:user@corp.example";
    GENERAL_NAMES *names = NULL;
    assert_int_equal(scep_san_parse(&names, ours), 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, theirs);
    assert_non_null(ext);
    GENERAL_NAMES *openssl = X509V3_EXT_d2i(ext);
    assert_non_null(openssl);
    assert_int_equal(sk_GENERAL_NAME_num(names), sk_GENERAL_NAME_num(openssl));
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        assert_int_equal(
            GENERAL_NAME_cmp(sk_GENERAL_NAME_value(names, i), sk_GENERAL_NAME_value(openssl, i)),
            0);
        assert_true(
            scep_san_equal(sk_GENERAL_NAME_value(names, i), sk_GENERAL_NAME_value(openssl, i)));
    }
    /* The same extension bytes, and our text for OpenSSL's names is ours. */
    X509_EXTENSION *mine = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
    assert_non_null(mine);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(mine), X509_EXTENSION_get_data(ext)), 0);
    assert_string_equal(san_text(openssl, ','), ours);

    /* In a certificate, X509V3_EXT_print shows the same names for both. */
    BIO *bio_mine = BIO_new(BIO_s_mem()), *bio_theirs = BIO_new(BIO_s_mem());
    assert_non_null(bio_mine);
    assert_non_null(bio_theirs);
    X509 *cert = X509_new();
    assert_non_null(cert);
    assert_int_equal(X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, 0), 1);
    X509_EXTENSION *in_cert =
        X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_subject_alt_name, -1));
    assert_int_equal(X509V3_EXT_print(bio_mine, in_cert, 0, 0), 1);
    assert_int_equal(X509V3_EXT_print(bio_theirs, ext, 0, 0), 1);
    char *printed_mine = NULL, *printed_theirs = NULL;
    long len_mine = BIO_get_mem_data(bio_mine, &printed_mine);
    long len_theirs = BIO_get_mem_data(bio_theirs, &printed_theirs);
    assert_true(len_mine > 0);
    assert_int_equal(len_mine, len_theirs);
    assert_memory_equal(printed_mine, printed_theirs, (size_t)len_mine);
    assert_non_null(memchr(printed_mine, 'I', (size_t)len_mine)); /* "IP Address:..." */

    X509_free(cert);
    BIO_free(bio_mine);
    BIO_free(bio_theirs);
    X509_EXTENSION_free(mine);
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(openssl);
    GENERAL_NAMES_free(names);
}

/* ---- serials ---- */

static void serials_are_positive_and_bounded(void **state)
{
    (void)state;
    char hex[SCEP_SERIAL_HEX_MAX], hex2[SCEP_SERIAL_HEX_MAX], prev[SCEP_SERIAL_HEX_MAX] = "";
    for (int i = 0; i < 200; i++) {
        ASN1_INTEGER *serial = NULL;
        assert_int_equal(scep_serial_new(&serial, hex), 0);
        assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER);
        assert_true(ASN1_STRING_length(serial) <= SCEP_SERIAL_MAX_OCTETS);
        /* DER: tag, length, at most 16 content octets (top bit clear: no sign octet). */
        int der_len = i2d_ASN1_INTEGER(serial, NULL);
        assert_true(der_len > 2 && der_len <= 2 + SCEP_SERIAL_RANDOM_OCTETS);
        assert_int_equal(scep_serial_check(serial), 0);
        assert_int_equal(scep_serial_to_hex(hex2, serial), 0);
        assert_string_equal(hex, hex2);
        assert_true(strlen(hex) <= 2 * SCEP_SERIAL_RANDOM_OCTETS);
        for (const char *p = hex; *p; p++)
            assert_non_null(strchr("0123456789ABCDEF", *p));
        assert_string_not_equal(hex, prev);
        memcpy(prev, hex, sizeof(prev));
        ASN1_INTEGER *back = NULL;
        assert_int_equal(scep_serial_from_hex(&back, hex), 0);
        assert_int_equal(ASN1_INTEGER_cmp(back, serial), 0);
        ASN1_INTEGER_free(back);
        ASN1_INTEGER_free(serial);
    }

    ASN1_INTEGER *s = NULL;
    assert_int_equal(scep_serial_from_hex(&s, "0x0a:1b"), 0);
    assert_int_equal(scep_serial_to_hex(hex, s), 0);
    assert_string_equal(hex, "0A1B");
    ASN1_INTEGER_free(s);
    s = NULL;
    /* 20 octets fit only with the top bit clear (the DER sign octet counts). */
    assert_int_equal(scep_serial_from_hex(&s, "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"), 0);
    ASN1_INTEGER_free(s);
    s = NULL;
    assert_int_equal(scep_serial_from_hex(&s, "8000000000000000000000000000000000000000"),
                     SCEP_EINVAL);
    assert_int_equal(scep_serial_from_hex(&s, "00"), SCEP_EINVAL);
    assert_int_equal(scep_serial_from_hex(&s, "-01"), SCEP_EINVAL);
    assert_int_equal(scep_serial_from_hex(&s, "xyz"), SCEP_EINVAL);
    assert_null(s);
    ASN1_INTEGER *neg = ASN1_INTEGER_new();
    assert_int_equal(ASN1_INTEGER_set(neg, -5), 1);
    assert_int_equal(scep_serial_check(neg), SCEP_EINVAL);
    ASN1_INTEGER_free(neg);
}

/* ---- creating and loading a CA ---- */

static void check_ca_cert(X509 *cert, int rsa)
{
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_true(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(cert, NID_key_usage, &crit, NULL);
    assert_non_null(ku);
    assert_int_equal(crit, 1);
    ASN1_BIT_STRING_free(ku);
    uint32_t usage = X509_get_key_usage(cert);
    assert_true(usage & KU_KEY_CERT_SIGN);
    assert_true(usage & KU_CRL_SIGN);
    assert_true(usage & KU_DIGITAL_SIGNATURE);
    assert_int_equal(!!(usage & KU_KEY_ENCIPHERMENT), rsa);
    assert_same_octets(X509_get0_subject_key_id(cert), X509_get0_authority_key_id(cert));
    assert_int_equal(X509_get_version(cert), X509_VERSION_3);
    assert_int_equal(X509_get_signature_nid(cert),
                     rsa ? NID_sha256WithRSAEncryption : NID_ecdsa_with_SHA256);
    assert_int_equal(scep_serial_check(X509_get0_serialNumber(cert)), 0);
}

static void create_ca_writes_key_0600_and_a_valid_root(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *cert_path = in_dir(dir, "ca.pem");
    const char *key_path = in_dir(dir, "ca.key");

    scep_ca_create_options opts;
    scep_ca_create_options_init(&opts);
    assert_int_equal(opts.rsa_bits, 3072);
    opts.subject = "/CN=Demo CA/O=Example";
    opts.validity_days = 2 * 365;
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_create(&ca, &opts), 0);
    assert_int_equal(EVP_PKEY_get_bits(scep_ca_key(ca)), 3072);
    check_ca_cert(scep_ca_cert(ca), 1);
    assert_int_equal(sk_X509_num(scep_ca_chain(ca)), 0);
    assert_int_equal(scep_ca_save(ca, cert_path, key_path, NULL), 0);

    struct stat st;
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(test_system("openssl x509 -in '%s' -noout -text >/dev/null", cert_path), 0);
    assert_int_equal(
        test_system("openssl verify -CAfile '%s' '%s' >/dev/null", cert_path, cert_path), 0);
    assert_int_equal(
        test_system("openssl x509 -in '%s' -noout -text | grep -q 'CA:TRUE'", cert_path), 0);
    assert_int_equal(test_system("openssl pkey -in '%s' -noout", key_path), 0);

    /* Never overwrites an existing key. */
    assert_int_equal(scep_ca_save(ca, cert_path, key_path, NULL), SCEP_EEXISTS);
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Loading for serving goes through the key file check and finds the same CA. */
    scep_ca *loaded = NULL;
    unsigned warnings = 99;
    assert_int_equal(scep_ca_load(&loaded, &warnings, cert_path, key_path, NULL), 0);
    assert_int_equal(warnings, 0);
    assert_int_equal(X509_cmp(scep_ca_cert(loaded), scep_ca_cert(ca)), 0);
    assert_int_equal(EVP_PKEY_eq(scep_ca_key(loaded), scep_ca_key(ca)), 1);

    /* Fingerprints match the openssl CLI. */
    char *fp = NULL;
    assert_int_equal(scep_cert_fingerprint(&fp, scep_ca_cert(ca), SCEP_FINGERPRINT_SHA256), 0);
    assert_int_equal(strlen(fp), 32 * 3 - 1);
    assert_int_equal(
        test_system("openssl x509 -in '%s' -noout -fingerprint -sha256 | grep -q '=%s$'", cert_path,
                    fp),
        0);
    assert_int_equal(scep_cert_check_fingerprint(scep_ca_cert(ca), fp, SCEP_FINGERPRINT_SHA256), 0);
    OPENSSL_free(fp);
    assert_int_equal(scep_cert_fingerprint(&fp, scep_ca_cert(ca), SCEP_FINGERPRINT_SHA1), 0);
    assert_int_equal(strlen(fp), 20 * 3 - 1);
    assert_int_equal(test_system("openssl x509 -in '%s' -noout -fingerprint -sha1 | grep -q '=%s$'",
                                 cert_path, fp),
                     0);
    OPENSSL_free(fp);

    scep_ca_free(loaded);
    scep_ca_free(ca);
    test_rmdir(dir);
    free(dir);
}

static void create_ec_ca_and_reject_bad_options(void **state)
{
    (void)state;
    scep_ca_create_options opts;
    scep_ca_create_options_init(&opts);
    opts.subject = "CN=EC CA";
    opts.key_type = SCEP_KEY_EC;
    opts.ec_curve = "P-384";
    scep_ca *ca = NULL;
    unsigned warnings = 0;
    assert_int_equal(scep_ca_create(&ca, &opts), 0);
    check_ca_cert(scep_ca_cert(ca), 0);
    /* An EC CA works but cannot decrypt SCEP requests: scep_ca_new says so. */
    scep_ca *again = NULL;
    assert_int_equal(scep_ca_new(&again, &warnings, scep_ca_cert(ca), scep_ca_key(ca), NULL), 0);
    assert_true(warnings & SCEP_CA_WARN_NOT_RSA);
    assert_string_not_equal(scep_ca_warning_text(SCEP_CA_WARN_NOT_RSA), "");
    scep_ca_free(again);
    scep_ca_free(ca);
    ca = NULL;

    opts.ec_curve = "P-521";
    assert_int_equal(scep_ca_create(&ca, &opts), SCEP_EINVAL);
    opts.key_type = SCEP_KEY_RSA;
    opts.rsa_bits = 1024;
    assert_int_equal(scep_ca_create(&ca, &opts), SCEP_EINVAL);
    opts.rsa_bits = 2048;
    opts.subject = "garbage";
    assert_int_equal(scep_ca_create(&ca, &opts), SCEP_EINVAL);
    assert_null(ca);
}

static void key_file_readable_by_others_is_refused(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *cert_path = in_dir(dir, "ca.pem");
    const char *key_path = in_dir(dir, "ca.key");
    assert_int_equal(scep_ca_save(fx.ca, cert_path, key_path, NULL), 0);
    assert_int_equal(scep_key_file_check(key_path), 0);

    assert_int_equal(chmod(key_path, 0644), 0);
    assert_int_equal(scep_key_file_check(key_path), SCEP_EPERM);
    assert_non_null(strstr(scep_error_message(), key_path));
    assert_non_null(strstr(scep_error_message(), "0644"));
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_load(&ca, NULL, cert_path, key_path, NULL), SCEP_EPERM);
    assert_null(ca);
    assert_int_equal(chmod(key_path, 0640), 0);
    assert_int_equal(scep_key_file_check(key_path), SCEP_EPERM);
    /* Import (operator's source files) does not apply the check. */
    assert_int_equal(scep_ca_import(&ca, NULL, cert_path, key_path, NULL), 0);
    scep_ca_free(ca);
    ca = NULL;

    /* A world-readable passphrase file is refused when loading for serving, too. */
    assert_int_equal(chmod(key_path, 0600), 0);
    const char *pass_path = in_dir(dir, "pass.txt");
    write_text(pass_path, "unused\n", 0644);
    assert_int_equal(scep_ca_load(&ca, NULL, cert_path, key_path, pass_path), SCEP_EPERM);
    assert_non_null(strstr(scep_error_message(), "passphrase file"));
    assert_non_null(strstr(scep_error_message(), "pass.txt"));
    assert_int_equal(chmod(pass_path, 0600), 0);
    assert_int_equal(scep_ca_load(&ca, NULL, cert_path, key_path, pass_path), 0);
    scep_ca_free(ca);

    assert_int_equal(scep_key_file_check(in_dir(dir, "missing.key")), SCEP_EIO);
    assert_int_equal(scep_key_file_check(dir), SCEP_EINVAL);
    test_rmdir(dir);
    free(dir);
}

static void key_save_encrypted_round_trip(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *key_path = in_dir(dir, "enc.key");
    assert_int_equal(scep_key_save(key_path, scep_ca_key(fx.ca), "pass phrase"), 0);
    struct stat st;
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(test_system("grep -q 'ENCRYPTED PRIVATE KEY' '%s'", key_path), 0);
    EVP_PKEY *key = NULL;
    assert_int_equal(scep_key_load(&key, key_path, "pass phrase"), 0);
    assert_int_equal(EVP_PKEY_eq(key, scep_ca_key(fx.ca)), 1);
    EVP_PKEY_free(key);
    key = NULL;
    assert_int_equal(scep_key_load(&key, key_path, "wrong"), SCEP_EDECRYPT);
    assert_int_equal(scep_key_load(&key, key_path, NULL), SCEP_EINVAL);
    assert_null(key);
    assert_int_equal(scep_key_save(key_path, scep_ca_key(fx.ca), NULL), SCEP_EEXISTS);

    /* Passphrase files: first line only, CR LF stripped; empty refused. */
    const char *pass_path = in_dir(dir, "pass.txt");
    write_text(pass_path, "pass phrase\r\nignored\n", 0600);
    char *pass = NULL;
    size_t pass_len = 0;
    assert_int_equal(scep_passphrase_load(&pass, &pass_len, pass_path), 0);
    assert_string_equal(pass, "pass phrase");
    OPENSSL_clear_free(pass, pass_len);
    write_text(pass_path, "\nsecond\n", 0600);
    assert_int_equal(scep_passphrase_load(&pass, &pass_len, pass_path), SCEP_EINVAL);
    test_rmdir(dir);
    free(dir);
}

/* ---- importing an intermediate CA with an encrypted key ---- */

static const char openssl_cnf[] = "[req]\n"
                                  "distinguished_name = dn\n"
                                  "prompt = no\n"
                                  "[dn]\n"
                                  "CN = unused\n"
                                  "[v3_root]\n"
                                  "basicConstraints = critical,CA:TRUE\n"
                                  "keyUsage = critical,keyCertSign,cRLSign,digitalSignature\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "[v3_int]\n"
                                  "basicConstraints = critical,CA:TRUE\n"
                                  "keyUsage = critical,keyCertSign,cRLSign\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "authorityKeyIdentifier = keyid\n"
                                  "[v3_leaf]\n"
                                  "basicConstraints = critical,CA:FALSE\n";

static void import_intermediate_with_encrypted_key(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    write_text(in_dir(dir, "openssl.cnf"), openssl_cnf, 0644);
    write_text(in_dir(dir, "pass.txt"), "correct horse battery\nsecond line ignored\n", 0600);
    write_text(in_dir(dir, "wrong.txt"), "wrong horse\n", 0600);
    assert_int_equal(
        test_system("cd '%s' && "
                    "openssl req -x509 -config openssl.cnf -extensions v3_root -newkey rsa:2048 "
                    "-nodes -keyout root.key -out root.pem -days 30 -subj '/CN=Test Root' "
                    "2>/dev/null && "
                    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 "
                    "-pass file:pass.txt -out int.key 2>/dev/null && "
                    "openssl req -new -config openssl.cnf -key int.key -passin file:pass.txt "
                    "-subj '/CN=Test Intermediate' -out int.csr && "
                    "openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 4660 "
                    "-days 30 -extfile openssl.cnf -extensions v3_int -out int.pem 2>/dev/null && "
                    "openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 4661 "
                    "-days 30 -extfile openssl.cnf -extensions v3_leaf -out notca.pem "
                    "2>/dev/null && "
                    "cat int.pem root.pem > chain.pem && grep -q ENCRYPTED int.key",
                    dir),
        0);

    scep_ca *ca = NULL;
    unsigned warnings = 0;
    int rc = scep_ca_import(&ca, &warnings, in_dir(dir, "chain.pem"), in_dir(dir, "int.key"),
                            in_dir(dir, "pass.txt"));
    if (rc != 0)
        fail_msg("import: %s", scep_error_message());
    /* INTEROP 17: reported, not fatal. */
    assert_int_equal(warnings,
                     SCEP_CA_WARN_NO_DIGITAL_SIGNATURE | SCEP_CA_WARN_NO_KEY_ENCIPHERMENT);
    assert_int_equal(sk_X509_num(scep_ca_chain(ca)), 1);

    /* A certificate issued by the intermediate verifies up to the root. */
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = test_csr(key, "leaf.example.com", NULL);
    scep_profile profile;
    scep_profile_init(&profile);
    scep_issue_request request = {0};
    request.csr = csr;
    X509 *leaf = NULL;
    assert_int_equal(scep_ca_issue(&leaf, ca, &profile, &request), 0);
    save_cert(in_dir(dir, "leaf.pem"), leaf);
    assert_int_equal(test_system("cd '%s' && openssl verify -CAfile root.pem -untrusted int.pem "
                                 "leaf.pem >/dev/null",
                                 dir),
                     0);
    /* Without the intermediate it must not verify (the test can fail). */
    assert_int_not_equal(
        test_system("cd '%s' && openssl verify -CAfile root.pem leaf.pem >/dev/null 2>&1", dir), 0);
    assert_same_octets(X509_get0_authority_key_id(leaf),
                       X509_get0_subject_key_id(scep_ca_cert(ca)));
    X509_free(leaf);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
    scep_ca_free(ca);
    ca = NULL;

    /* Wrong passphrase, no passphrase, mismatched key, not a CA. */
    assert_int_equal(scep_ca_import(&ca, NULL, in_dir(dir, "chain.pem"), in_dir(dir, "int.key"),
                                    in_dir(dir, "wrong.txt")),
                     SCEP_EDECRYPT);
    assert_non_null(strstr(scep_error_message(), "passphrase"));
    assert_int_equal(
        scep_ca_import(&ca, NULL, in_dir(dir, "chain.pem"), in_dir(dir, "int.key"), NULL),
        SCEP_EINVAL);
    assert_non_null(strstr(scep_error_message(), "encrypted"));
    assert_int_equal(
        scep_ca_import(&ca, NULL, in_dir(dir, "chain.pem"), in_dir(dir, "root.key"), NULL),
        SCEP_EINVAL);
    assert_non_null(strstr(scep_error_message(), "does not match"));
    assert_int_equal(scep_ca_import(&ca, NULL, in_dir(dir, "notca.pem"), in_dir(dir, "int.key"),
                                    in_dir(dir, "pass.txt")),
                     SCEP_EINVAL);
    assert_non_null(strstr(scep_error_message(), "not a CA"));
    assert_int_equal(
        scep_ca_import(&ca, NULL, in_dir(dir, "missing.pem"), in_dir(dir, "int.key"), NULL),
        SCEP_EIO);
    assert_null(ca);

    /* Chain helpers: load all, and a DER round trip. */
    STACK_OF(X509) *chain = NULL;
    assert_int_equal(scep_chain_load(&chain, in_dir(dir, "chain.pem")), 0);
    assert_int_equal(sk_X509_num(chain), 2);
    assert_int_equal(
        scep_cert_save(in_dir(dir, "int.der"), sk_X509_value(chain, 0), SCEP_ENCODING_DER), 0);
    X509 *der = NULL;
    assert_int_equal(scep_cert_load(&der, in_dir(dir, "int.der")), 0);
    assert_int_equal(X509_cmp(der, sk_X509_value(chain, 0)), 0);
    X509_free(der);
    sk_X509_pop_free(chain, X509_free);
    X509 *junk = NULL;
    assert_int_equal(scep_cert_decode(&junk, (const unsigned char *)"not a cert", 10),
                     SCEP_EMALFORMED);
    assert_null(junk);

    test_rmdir(dir);
    free(dir);
}

/* ---- issuing ---- */

static void check_end_entity(X509 *cert)
{
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_false(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    assert_false(X509_get_extension_flags(cert) & EXFLAG_CA);
    assert_int_equal(X509_check_ca(cert), 0);
    assert_same_octets(X509_get0_authority_key_id(cert),
                       X509_get0_subject_key_id(scep_ca_cert(fx.ca)));
    assert_non_null(X509_get0_subject_key_id(cert));
    assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);
    assert_true(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
    assert_int_equal(scep_serial_check(X509_get0_serialNumber(cert)), 0);
    assert_true(ASN1_STRING_length(X509_get0_serialNumber(cert)) <= 20);
    assert_int_equal(
        X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(scep_ca_cert(fx.ca))), 0);
    assert_int_equal(X509_verify(cert, scep_ca_key(fx.ca)), 1);
}

static void issue_rsa_and_ec_requests(void **state)
{
    (void)state;
    scep_profile profile;
    scep_profile_init(&profile);
    assert_int_equal(scep_profile_check(&profile), 0);

    EVP_PKEY *keys[3] = {test_rsa_key(2048), test_ec_key("P-256"), test_ec_key("P-384")};
    for (int i = 0; i < 3; i++) {
        X509_REQ *csr = test_csr(keys[i], "device.example.com", "challenge");
        X509 *cert = issue_ok(&profile, csr);
        check_end_entity(cert);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), keys[i]), 1);
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert), X509_REQ_get_subject_name(csr)),
                         0);
        /* The fixture CA is brand new: backdating stops at its notBefore. */
        assert_int_equal(
            ASN1_TIME_compare(X509_get0_notBefore(cert), X509_get0_notBefore(scep_ca_cert(fx.ca))),
            0);
        assert_verifies(cert, "leaf.pem");
        X509_free(cert);
        X509_REQ_free(csr);
        EVP_PKEY_free(keys[i]);
    }
}

static void issue_refuses_keys_outside_the_profile(void **state)
{
    (void)state;
    scep_profile profile;
    scep_profile_init(&profile);
    scep_issue_request request = {0};
    X509 *cert = NULL;

    EVP_PKEY *weak = test_rsa_key(1024);
    request.csr = test_csr(weak, "weak", NULL);
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EPOLICY);
    assert_non_null(strstr(scep_error_message(), "1024"));
    assert_non_null(strstr(scep_error_message(), "2048"));
    X509_REQ_free(request.csr);

    EVP_PKEY *p521 = test_ec_key("P-521");
    request.csr = test_csr(p521, "p521", NULL);
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EPOLICY);
    assert_non_null(strstr(scep_error_message(), "secp521r1"));
    X509_REQ_free(request.csr);

    /* Curves can be switched off one by one. */
    EVP_PKEY *p384 = test_ec_key("P-384");
    request.csr = test_csr(p384, "p384", NULL);
    profile.allowed_curves = SCEP_CURVE_P256;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EPOLICY);
    X509_REQ_free(request.csr);

    /* A CSR whose signature does not match its key. */
    EVP_PKEY *other = test_ec_key("P-256");
    request.csr = test_csr(p384, "tampered", NULL);
    assert_int_equal(X509_REQ_set_pubkey(request.csr, other), 1);
    profile.allowed_curves = SCEP_CURVE_P256 | SCEP_CURVE_P384;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EBADCSR);
    X509_REQ_free(request.csr);
    assert_null(cert);

    EVP_PKEY_free(other);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(weak);
}

static const char all_sans[] = "DNS:host.example.com,IP:192.0.2.1,IP:2001:db8::1,"
                               "email:user@example.com,URI:https://example.com/device,"
                               "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example.com,"
                               "RID:1.2.3.4";

/* Counts SAN entries by type; returns the extension's criticality or -1 when absent. */
static int count_sans(X509 *cert, int counts[GEN_RID + 1])
{
    memset(counts, 0, sizeof(int) * (GEN_RID + 1));
    int crit = -1;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (names == NULL)
        return -1;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++)
        counts[sk_GENERAL_NAME_value(names, i)->type]++;
    GENERAL_NAMES_free(names);
    return crit;
}

static void issue_copies_only_allowed_sans(void **state)
{
    (void)state;
    scep_profile profile;
    scep_profile_init(&profile);
    EVP_PKEY *key = test_ec_key("P-256");
    X509_REQ *csr = csr_with_exts(key, "host.example.com", all_sans, NULL);
    int n[GEN_RID + 1];

    X509 *cert = issue_ok(&profile, csr);
    assert_int_equal(count_sans(cert, n), 0);
    assert_int_equal(n[GEN_DNS], 1);
    assert_int_equal(n[GEN_IPADD], 2);
    assert_int_equal(n[GEN_EMAIL], 1);
    assert_int_equal(n[GEN_URI], 1);
    assert_int_equal(n[GEN_OTHERNAME], 1);
    assert_int_equal(n[GEN_RID], 0); /* never copied */
    assert_verifies(cert, "san.pem");
    assert_int_equal(test_system("openssl x509 -in '%s/san.pem' -noout -ext subjectAltName | "
                                 "grep -q 'UPN::*user@example.com'",
                                 fx.dir),
                     0);
    X509_free(cert);

    profile.copy_san_types = SCEP_SAN_DNS | SCEP_SAN_UPN;
    cert = issue_ok(&profile, csr);
    assert_int_equal(count_sans(cert, n), 0);
    assert_int_equal(n[GEN_DNS], 1);
    assert_int_equal(n[GEN_OTHERNAME], 1);
    assert_int_equal(n[GEN_IPADD] + n[GEN_EMAIL] + n[GEN_URI], 0);
    X509_free(cert);

    profile.copy_san_types = 0;
    cert = issue_ok(&profile, csr);
    assert_int_equal(count_sans(cert, n), -1);
    X509_free(cert);
    X509_REQ_free(csr);

    /* Empty subject: allowed only with a SAN, which then becomes critical. */
    profile.copy_san_types = SCEP_SAN_ALL;
    csr = csr_with_exts(key, NULL, "DNS:only-san.example.com", NULL);
    cert = issue_ok(&profile, csr);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(cert)), 0);
    assert_int_equal(count_sans(cert, n), 1);
    X509_free(cert);
    profile.copy_san_types = SCEP_SAN_IP;
    scep_issue_request request = {0};
    request.csr = csr;
    cert = NULL;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EPOLICY);
    assert_null(cert);
    X509_REQ_free(csr);

    /* A DNS name with an embedded NUL is refused, not truncated. */
    profile.copy_san_types = SCEP_SAN_ALL;
    csr = X509_REQ_new();
    assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    assert_int_equal(ASN1_STRING_set(ia5, "good.com\0.evil.com", 18), 1);
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    sk_GENERAL_NAME_push(names, gn);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, names));
    assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
    assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
    request.csr = csr;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EPOLICY);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(names);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void issue_never_grants_ca_true(void **state)
{
    (void)state;
    scep_profile profile;
    scep_profile_init(&profile);
    EVP_PKEY *key = test_rsa_key(2048);
    X509_REQ *csr = csr_with_exts(key, "sneaky", NULL, "critical,CA:TRUE");
    X509 *cert = issue_ok(&profile, csr);
    check_end_entity(cert);
    assert_int_equal(X509_get_ext_count(cert), 5); /* BC, KU, EKU, SKI, AKI */
    save_cert(in_dir(fx.dir, "sneaky.pem"), cert);
    assert_int_equal(test_system("openssl x509 -in '%s/sneaky.pem' -noout -text | grep -q "
                                 "'CA:FALSE'",
                                 fx.dir),
                     0);
    X509_free(cert);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static int fixed_serial_cb(ASN1_INTEGER **out, void *payload)
{
    int *calls = payload;
    (*calls)++;
    return scep_serial_from_hex(out, "1234ABCD");
}

static void issue_subject_override_serials_and_profile_fields(void **state)
{
    (void)state;
    scep_profile profile;
    scep_profile_init(&profile);
    profile.subject_source = SCEP_SUBJECT_FROM_DN;
    profile.extended_key_usage = "serverAuth, clientAuth,ipsecIKE,1.3.6.1.4.1.99999.1";
    profile.key_usage = "digitalSignature";
    profile.crl_distribution_point = "http://pki.example.com/crl/ca.crl";
    profile.validity_days = 30;
    assert_int_equal(scep_profile_check(&profile), 0);

    EVP_PKEY *key = test_ec_key("P-256");
    X509_REQ *csr = test_csr(key, "whatever the device says", NULL);
    X509_NAME *dn = NULL;
    assert_int_equal(scep_dn_parse(&dn, "CN=registered-device,OU=Routers,O=Example"), 0);

    scep_issue_request request = {0};
    request.csr = csr;
    X509 *cert = NULL;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EINVAL);

    int calls = 0;
    request.subject = dn;
    request.serial_cb = fixed_serial_cb;
    request.serial_payload = &calls;
    request.now = time(NULL);
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert), dn), 0);
    char hex[SCEP_SERIAL_HEX_MAX];
    assert_int_equal(scep_serial_to_hex(hex, X509_get0_serialNumber(cert)), 0);
    assert_string_equal(hex, "1234ABCD");
    const uint32_t xku = X509_get_extended_key_usage(cert);
    assert_true(xku & XKU_SSL_SERVER);
    assert_true(xku & XKU_SSL_CLIENT);
    assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE);
    CRL_DIST_POINTS *cdp = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    assert_non_null(cdp);
    assert_int_equal(sk_DIST_POINT_num(cdp), 1);
    sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
    time_t in_29_days = request.now + 29 * 86400L, in_31_days = request.now + 31 * 86400L;
    assert_true(X509_cmp_time(X509_get0_notAfter(cert), &in_29_days) > 0);
    assert_true(X509_cmp_time(X509_get0_notAfter(cert), &in_31_days) < 0);
    assert_verifies(cert, "override.pem");
    assert_int_equal(test_system("openssl x509 -in '%s/override.pem' -noout -text | grep -q "
                                 "'pki.example.com/crl/ca.crl'",
                                 fx.dir),
                     0);
    X509_free(cert);
    cert = NULL;

    /* A serial given directly wins; a bad one is refused so the caller can retry. */
    ASN1_INTEGER *serial = NULL;
    assert_int_equal(scep_serial_from_hex(&serial, "0BADC0DE"), 0);
    request.serial = serial;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), 0);
    assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert), serial), 0);
    assert_int_equal(calls, 1);
    X509_free(cert);
    cert = NULL;
    assert_int_equal(ASN1_INTEGER_set(serial, -7), 1);
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &profile, &request), SCEP_EINVAL);
    assert_null(cert);
    ASN1_INTEGER_free(serial);

    /* Profile validation. */
    scep_profile bad = profile;
    bad.key_usage = "digitalSignature,flying";
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    assert_non_null(strstr(scep_error_message(), "flying"));
    bad = profile;
    bad.key_usage = "keyCertSign";
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    bad = profile;
    bad.extended_key_usage = "serverAuth,notAnEku";
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    bad = profile;
    bad.crl_distribution_point = "http://x/ y";
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    bad = profile;
    bad.crl_distribution_point = "file:///etc/passwd";
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    bad = profile;
    bad.validity_days = 0;
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    bad = profile;
    bad.min_rsa_bits = 512;
    assert_int_equal(scep_profile_check(&bad), SCEP_ECONFIG);
    request.serial = NULL;
    assert_int_equal(scep_ca_issue(&cert, fx.ca, &bad, &request), SCEP_ECONFIG);

    X509_NAME_free(dn);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}

static void issue_never_outlives_the_ca(void **state)
{
    (void)state;
    scep_ca_create_options opts;
    scep_ca_create_options_init(&opts);
    opts.subject = "CN=Short CA";
    opts.key_type = SCEP_KEY_EC;
    opts.validity_days = 10;
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_create(&ca, &opts), 0);
    scep_profile profile;
    scep_profile_init(&profile);
    EVP_PKEY *key = test_ec_key("P-256");
    scep_issue_request request = {0};
    request.csr = test_csr(key, "short", NULL);
    X509 *cert = NULL;
    assert_int_equal(scep_ca_issue(&cert, ca, &profile, &request), 0);
    assert_int_equal(
        ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(scep_ca_cert(ca))), 0);
    /* Without a CA limit in the way, notBefore is backdated by the profile's 5 minutes. */
    assert_int_equal(
        ASN1_TIME_compare(X509_get0_notBefore(cert), X509_get0_notBefore(scep_ca_cert(ca))), 0);
    X509_free(cert);
    cert = NULL;
    request.now = time(NULL) + 86400L;
    assert_int_equal(scep_ca_issue(&cert, ca, &profile, &request), 0);
    time_t expected = request.now - 300;
    ASN1_TIME *want = ASN1_TIME_set(NULL, expected);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notBefore(cert), want), 0);
    ASN1_TIME_free(want);
    X509_free(cert);
    cert = NULL;
    request.now = time(NULL) + 11 * 86400L; /* after the CA expired */
    assert_int_equal(scep_ca_issue(&cert, ca, &profile, &request), SCEP_ESTATE);
    X509_REQ_free(request.csr);
    EVP_PKEY_free(key);
    scep_ca_free(ca);
}

/* ---- concurrency: one scep_ca shared by several threads ---- */

#define THREADS           4
#define ISSUES_PER_THREAD 8

struct thread_job {
    X509_REQ *csr;
    int failures;
};

static void *issue_thread(void *arg)
{
    struct thread_job *job = arg;
    scep_profile profile;
    scep_profile_init(&profile);
    for (int i = 0; i < ISSUES_PER_THREAD; i++) {
        scep_issue_request request = {0};
        request.csr = job->csr;
        X509 *cert = NULL;
        if (scep_ca_issue(&cert, fx.ca, &profile, &request) != 0 ||
            X509_verify(cert, scep_ca_key(fx.ca)) != 1)
            job->failures++;
        X509_free(cert);
    }
    return NULL;
}

static void issue_concurrently_from_one_ca(void **state)
{
    (void)state;
    pthread_t threads[THREADS];
    struct thread_job jobs[THREADS];
    EVP_PKEY *keys[THREADS];
    for (int i = 0; i < THREADS; i++) {
        keys[i] = test_ec_key("P-256");
        jobs[i].csr = test_csr(keys[i], "thread", NULL);
        jobs[i].failures = 0;
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, issue_thread, &jobs[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
        X509_REQ_free(jobs[i].csr);
        EVP_PKEY_free(keys[i]);
    }
}

/* ---- CRL ---- */

static void crl_lists_revoked_serials_and_verifies(void **state)
{
    (void)state;
    ASN1_INTEGER *s1 = NULL, *s2 = NULL, *s3 = NULL;
    assert_int_equal(scep_serial_from_hex(&s1, "0A0B0C0D"), 0);
    assert_int_equal(scep_serial_from_hex(&s2, "01"), 0);
    assert_int_equal(scep_serial_from_hex(&s3, "7FEEDDCCBBAA99887766554433221100"), 0);
    const time_t now = time(NULL);
    scep_crl_entry entries[] = {
        {s1, now - 3600, SCEP_CRL_REASON_KEY_COMPROMISE},
        {s2, now - 60, SCEP_CRL_REASON_UNSPECIFIED},
        {s3, now - 7200, SCEP_CRL_REASON_SUPERSEDED},
    };
    scep_crl_params params = {42, 0, 0};
    X509_CRL *crl = NULL;
    assert_int_equal(scep_ca_crl(&crl, fx.ca, entries, 3, &params), 0);
    assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    assert_int_equal(X509_CRL_verify(crl, scep_ca_key(fx.ca)), 1);
    X509_REVOKED *rev = NULL;
    assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, s1), 1);
    int crit = -1;
    ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
    assert_non_null(reason);
    assert_int_equal(ASN1_ENUMERATED_get(reason), SCEP_CRL_REASON_KEY_COMPROMISE);
    ASN1_ENUMERATED_free(reason);
    assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, s2), 1);
    assert_null(X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL));
    ASN1_INTEGER *number = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    assert_non_null(number);
    assert_int_equal(ASN1_INTEGER_get(number), 42);
    ASN1_INTEGER_free(number);
    AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
    assert_non_null(akid);
    assert_same_octets(akid->keyid, X509_get0_subject_key_id(scep_ca_cert(fx.ca)));
    AUTHORITY_KEYID_free(akid);

    const char *path = in_dir(fx.dir, "ca.crl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
    fclose(f);
    assert_int_equal(
        test_system("openssl crl -in '%s' -CAfile '%s' -noout 2>&1 | grep -q 'verify OK'", path,
                    fx.ca_pem),
        0);
    assert_int_equal(test_system("openssl crl -in '%s' -noout -text > '%s.txt'", path, path), 0);
    assert_int_equal(test_system("grep -q 'Serial Number: 0A0B0C0D' '%s.txt' && "
                                 "grep -q 'Serial Number: 01' '%s.txt' && "
                                 "grep -q 'Serial Number: 7FEEDDCCBBAA99887766554433221100' "
                                 "'%s.txt' && grep -q 'Key Compromise' '%s.txt' && "
                                 "grep -q 'X509v3 CRL Number' '%s.txt'",
                                 path, path, path, path, path),
                     0);
    X509_CRL_free(crl);
    crl = NULL;

    /* Empty CRL; duplicate serials and bad reasons are refused. */
    assert_int_equal(scep_ca_crl(&crl, fx.ca, NULL, 0, &params), 0);
    assert_null(X509_CRL_get_REVOKED(crl) != NULL &&
                        sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0
                    ? (void *)1
                    : NULL);
    X509_CRL_free(crl);
    crl = NULL;
    entries[1].serial = s1;
    assert_int_equal(scep_ca_crl(&crl, fx.ca, entries, 3, &params), SCEP_EINVAL);
    entries[1].serial = s2;
    entries[1].reason = (scep_crl_reason)7;
    assert_int_equal(scep_ca_crl(&crl, fx.ca, entries, 3, &params), SCEP_EINVAL);
    params.this_update = now;
    params.next_update = now - 1;
    entries[1].reason = SCEP_CRL_REASON_UNSPECIFIED;
    assert_int_equal(scep_ca_crl(&crl, fx.ca, entries, 3, &params), SCEP_EINVAL);
    assert_null(crl);

    ASN1_INTEGER_free(s1);
    ASN1_INTEGER_free(s2);
    ASN1_INTEGER_free(s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dn_parses_both_forms),
        cmocka_unit_test(dn_format_parses_back),
        cmocka_unit_test(san_parses_each_type_and_round_trips),
        cmocka_unit_test(san_parse_refuses_bad_values),
        cmocka_unit_test(san_format_writes_every_type),
        cmocka_unit_test(san_equal_follows_rfc5280),
        cmocka_unit_test(san_agrees_with_openssl),
        cmocka_unit_test(serials_are_positive_and_bounded),
        cmocka_unit_test(create_ca_writes_key_0600_and_a_valid_root),
        cmocka_unit_test(create_ec_ca_and_reject_bad_options),
        cmocka_unit_test(key_file_readable_by_others_is_refused),
        cmocka_unit_test(key_save_encrypted_round_trip),
        cmocka_unit_test(import_intermediate_with_encrypted_key),
        cmocka_unit_test(issue_rsa_and_ec_requests),
        cmocka_unit_test(issue_refuses_keys_outside_the_profile),
        cmocka_unit_test(issue_copies_only_allowed_sans),
        cmocka_unit_test(issue_never_grants_ca_true),
        cmocka_unit_test(issue_subject_override_serials_and_profile_fields),
        cmocka_unit_test(issue_never_outlives_the_ca),
        cmocka_unit_test(issue_concurrently_from_one_ca),
        cmocka_unit_test(crl_lists_revoked_serials_and_verifies),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
