/*
 * Stage 4, constrain: the certificate's subject and subjectAltNames are computed
 * from what was authorised, never copied blindly from the CSR (docs/security.md):
 *
 *   CA mode   the end entity's registered subject and SANs, whatever the CSR says
 *             (RDN order included, so clients that reverse it still enroll); CSR
 *             names beyond them are not copied and are logged, or with
 *             `names.csr = refuse` the request is refused naming the first one, or
 *             with `names.csr = constrained` those within the alias's SAN constraints
 *             are added and any other is refused.
 *   RA mode,  the CSR's subject and SANs within the alias's constraints
 *   challenge (names.subject: one glob per RDN value, so '*' never spans RDNs;
 *             names.santypes; names.dnssuffixes) and the challenge's own subject
 *             pattern; anything outside them is refused, naming it.
 *   renewal   the old certificate's subject (renewal.sameSubject refuses another)
 *             and a subset of its SANs (the old ones when the CSR names none).
 *
 * A CSR that carries an extension twice is refused: two subjectAltName extensions
 * are a classic way to show one reader other names than the next.
 */
#include "scepd/enroll/enrollment.h"
#include "util/error_internal.h"

#include <fnmatch.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NAME_TEXT_MAX 300

static void name_text(char *out, size_t out_size, const GENERAL_NAME *gn)
{
    GENERAL_NAMES *one = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *copy = GENERAL_NAME_dup(gn);
    char *text = NULL;
    snprintf(out, out_size, "(unreadable name)");
    if (one != NULL && copy != NULL && sk_GENERAL_NAME_push(one, copy) > 0) {
        copy = NULL;
        if (scep_san_format(&text, one, ',') == SCEP_OK)
            snprintf(out, out_size, "%s", text);
    }
    OPENSSL_free(text);
    GENERAL_NAME_free(copy);
    GENERAL_NAMES_free(one);
    ERR_clear_error();
}

static int name_in(const GENERAL_NAME *gn, const GENERAL_NAMES *set)
{
    for (int i = 0; set != NULL && i < sk_GENERAL_NAME_num(set); i++)
        if (scep_san_equal(gn, sk_GENERAL_NAME_value(set, i)))
            return 1;
    return 0;
}

static int is_supported(const GENERAL_NAME *gn)
{
    switch (gn->type) {
    case GEN_DNS:
    case GEN_IPADD:
    case GEN_EMAIL:
    case GEN_URI:
        return 1;
    case GEN_OTHERNAME:
        return OBJ_obj2nid(gn->d.otherName->type_id) == NID_ms_upn;
    default:
        return 0;
    }
}

static const char *type_setting(const GENERAL_NAME *gn)
{
    switch (gn->type) {
    case GEN_DNS:
        return "dns";
    case GEN_IPADD:
        return "ip";
    case GEN_EMAIL:
        return "email";
    case GEN_URI:
        return "uri";
    default:
        return "upn";
    }
}

/*
 * The CSR's subjectAltNames, every entry checked by the same rules as a registered
 * name (scep_san_format then scep_san_parse must give it back). Types scepd never
 * issues (dirName, registeredID, otherNames but UPN) are left out and noted.
 */
static enum scepd_stage csr_names(struct scepd_enrollment *e, GENERAL_NAMES **out)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(e->csr);
    GENERAL_NAMES *names = NULL, *kept = GENERAL_NAMES_new();
    enum scepd_stage stage = SCEPD_STAGE_NEXT;
    char text[NAME_TEXT_MAX];
    ERR_clear_error();
    if (kept == NULL) {
        stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
        goto done;
    }
    for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++) {
        const ASN1_OBJECT *type = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
        for (int j = i + 1; j < sk_X509_EXTENSION_num(exts); j++) {
            if (OBJ_cmp(type, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, j))) != 0)
                continue;
            char oid[80];
            OBJ_obj2txt(oid, sizeof(oid), type, 0);
            stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                        "the request carries an extension twice",
                                        "CSR carries the %s extension twice", oid);
            goto done;
        }
    }
    int idx = exts != NULL ? X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) : -1;
    if (idx >= 0) {
        names = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
        ERR_clear_error();
        if (names == NULL) {
            stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                        "the request's subjectAltName is malformed",
                                        "malformed subjectAltName in the CSR");
            goto done;
        }
    }
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        name_text(text, sizeof(text), gn);
        if (!is_supported(gn)) {
            size_t used = strlen(e->name_notes);
            snprintf(e->name_notes + used, sizeof(e->name_notes) - used, "%s%s not issued",
                     used ? "; " : "", text);
            continue;
        }
        GENERAL_NAMES *reparsed = NULL;
        int ok = scep_san_parse(&reparsed, text) == SCEP_OK && sk_GENERAL_NAME_num(reparsed) == 1 &&
                 scep_san_equal(gn, sk_GENERAL_NAME_value(reparsed, 0));
        GENERAL_NAMES_free(reparsed);
        ERR_clear_error();
        if (!ok) {
            char reply[SCEPD_TEXT_MAX];
            snprintf(reply, sizeof(reply), "the subjectAltName %.160s is not a valid name", text);
            stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                        "invalid subjectAltName %s in the CSR", text);
            goto done;
        }
        if (!name_in(gn, kept)) {
            GENERAL_NAME *copy = GENERAL_NAME_dup(gn);
            if (copy == NULL || sk_GENERAL_NAME_push(kept, copy) <= 0) {
                GENERAL_NAME_free(copy);
                stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error",
                                            "out of memory");
                goto done;
            }
        }
    }
    *out = kept;
    kept = NULL;
done:
    GENERAL_NAMES_free(kept);
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return stage;
}

/* Whether two subjects hold the same RDNs, in the same or in reversed order. */
static int same_subject(const X509_NAME *a, const X509_NAME *b)
{
    if (X509_NAME_cmp(a, b) == 0)
        return 1;
    int n = X509_NAME_entry_count(a);
    if (n != X509_NAME_entry_count(b))
        return 0;
    X509_NAME *reversed = X509_NAME_new();
    int ok = reversed != NULL;
    for (int i = n - 1; ok && i >= 0; i--)
        ok = X509_NAME_add_entry(reversed, X509_NAME_get_entry(a, i), -1, 0) == 1;
    ok = ok && X509_NAME_cmp(reversed, b) == 0;
    X509_NAME_free(reversed);
    return ok;
}

/*
 * RDN-aware match of a subject against a pattern in scep_dn_parse syntax whose values
 * may hold globs: the same number of attributes, the same RDN grouping and types in
 * the same order, each value matching its glob. 1 match, 0 not, -1 bad pattern.
 */
static int subject_matches(const X509_NAME *subject, const char *pattern_text)
{
    X509_NAME *pattern = NULL;
    if (scep_dn_parse(&pattern, pattern_text) < 0) {
        ERR_clear_error();
        return -1;
    }
    int n = X509_NAME_entry_count(pattern);
    int match = n == X509_NAME_entry_count(subject);
    for (int i = 0; match && i < n; i++) {
        const X509_NAME_ENTRY *p = X509_NAME_get_entry(pattern, i);
        const X509_NAME_ENTRY *s = X509_NAME_get_entry(subject, i);
        unsigned char *pv = NULL, *sv = NULL;
        int same_rdn = X509_NAME_ENTRY_set(p) == X509_NAME_ENTRY_set(s);
        int pl = ASN1_STRING_to_UTF8(&pv, X509_NAME_ENTRY_get_data(p));
        int sl = ASN1_STRING_to_UTF8(&sv, X509_NAME_ENTRY_get_data(s));
        /* A glob never matches DN syntax inside a value ("kiosk-1,CN=admin" as one CN): tools
         * that compare DNs as text would read another RDN there. */
        int globbed = pl >= 0 && strpbrk((const char *)pv, "*?[") != NULL;
        match = same_rdn && pl >= 0 && sl >= 0 &&
                OBJ_cmp(X509_NAME_ENTRY_get_object(p), X509_NAME_ENTRY_get_object(s)) == 0 &&
                memchr(sv, '\0', (size_t)sl) == NULL &&
                !(globbed && strpbrk((const char *)sv, ",+=/\\\"<>;#") != NULL) &&
                fnmatch((const char *)pv, (const char *)sv, 0) == 0;
        OPENSSL_free(pv);
        OPENSSL_free(sv);
    }
    X509_NAME_free(pattern);
    ERR_clear_error();
    return match;
}

/*
 * The part of a name a domain constraint looks at: a dNSName, what follows '@' (email,
 * UPN), or a URI's host. 0 when the name has none (an IP address; a URI without an
 * authority, such as urn:...), -1 when it should have one but it cannot be read.
 */
static int name_domain(const char **out, size_t *out_len, const GENERAL_NAME *gn)
{
    const ASN1_STRING *value = NULL;
    if (gn->type == GEN_DNS)
        value = gn->d.dNSName;
    else if (gn->type == GEN_EMAIL)
        value = gn->d.rfc822Name;
    else if (gn->type == GEN_URI)
        value = gn->d.uniformResourceIdentifier;
    else if (gn->type == GEN_OTHERNAME && gn->d.otherName->value->type == V_ASN1_UTF8STRING)
        value = gn->d.otherName->value->value.utf8string;
    if (value == NULL)
        return 0;
    const char *text = (const char *)ASN1_STRING_get0_data(value);
    size_t len = (size_t)ASN1_STRING_length(value);
    if (gn->type == GEN_URI) {
        /* scheme://[userinfo@]host[:port][/...]: RFC 3986 §3.2. */
        const char *slashes = memchr(text, '/', len);
        if (slashes == NULL || slashes == text || slashes[-1] != ':' ||
            (size_t)(slashes - text) + 2 > len || slashes[1] != '/')
            return 0;
        const char *host = slashes + 2;
        size_t rest = len - (size_t)(host - text);
        size_t end = 0;
        while (end < rest && host[end] != '/' && host[end] != '?' && host[end] != '#')
            end++;
        const char *at = memchr(host, '@', end);
        if (at != NULL) {
            end -= (size_t)(at + 1 - host);
            host = at + 1;
        }
        if (end > 0 && host[0] == '[')
            return 0; /* an IP literal: no domain */
        const char *colon = memchr(host, ':', end);
        if (colon != NULL)
            end = (size_t)(colon - host);
        if (end == 0)
            return -1;
        *out = host;
        *out_len = end;
        return 1;
    }
    if (gn->type != GEN_DNS) {
        const char *at = memchr(text, '@', len);
        if (at == NULL)
            return 0;
        len -= (size_t)(at + 1 - text);
        text = at + 1;
    }
    *out = text;
    *out_len = len;
    return 1;
}

/*
 * Whether a name lies within the alias's domains. A wildcard dNSName (*.x.example) is
 * permitted only under a suffix written as a wildcard itself (*.example.com), never by
 * default: a wildcard certificate is a decision of its own.
 */
static int within_suffixes(const GENERAL_NAME *gn, const struct scep_config_list *suffixes)
{
    const char *domain = NULL;
    size_t len = 0;
    int wildcard = gn->type == GEN_DNS && ASN1_STRING_length(gn->d.dNSName) > 0 &&
                   ASN1_STRING_get0_data(gn->d.dNSName)[0] == '*';
    int has = name_domain(&domain, &len, gn);
    if (has < 0)
        return 0;
    if (!has || (suffixes->count == 0 && !wildcard))
        return 1;
    for (size_t i = 0; i < suffixes->count; i++) {
        const char *suffix = suffixes->items[i];
        int wild_suffix = strncmp(suffix, "*.", 2) == 0;
        if (wildcard && !wild_suffix)
            continue;
        if (wild_suffix || suffix[0] == '.')
            suffix += suffix[0] == '.' ? 1 : 2;
        size_t slen = strlen(suffix);
        if (len == slen && strncasecmp(domain, suffix, len) == 0)
            return 1;
        if (len > slen && domain[len - slen - 1] == '.' &&
            strncasecmp(domain + len - slen, suffix, slen) == 0)
            return 1;
    }
    return 0;
}

static int type_permitted(const GENERAL_NAME *gn, const struct scep_config_list *types)
{
    for (size_t i = 0; i < types->count; i++)
        if (strcasecmp(types->items[i], type_setting(gn)) == 0)
            return 1;
    return 0;
}

/* Cisco PIX/IOS: the subject's unstructuredName as a dNSName (sanfromunstructuredname). */
static enum scepd_stage add_pix_name(struct scepd_enrollment *e, const X509_NAME *subject)
{
    if (!e->op->alias->settings->sanfromunstructuredname)
        return SCEPD_STAGE_NEXT;
    int idx = X509_NAME_get_index_by_NID(subject, NID_pkcs9_unstructuredName, -1);
    if (idx < 0)
        return SCEPD_STAGE_NEXT;
    unsigned char *host = NULL;
    int len =
        ASN1_STRING_to_UTF8(&host, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
    char spec[SCEPD_DNS_NAME_MAX + 8];
    GENERAL_NAMES *parsed = NULL;
    int ok =
        len > 0 && len < SCEPD_DNS_NAME_MAX &&
        (size_t)snprintf(spec, sizeof(spec), "dns:%.*s", len, (const char *)host) < sizeof(spec) &&
        memchr(host, ',', (size_t)len) == NULL && scep_san_parse(&parsed, spec) == SCEP_OK &&
        sk_GENERAL_NAME_num(parsed) == 1;
    OPENSSL_free(host);
    ERR_clear_error();
    enum scepd_stage stage = SCEPD_STAGE_NEXT;
    if (!ok) {
        stage = scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                    "the unstructuredName is not a usable host name",
                                    "unstructuredName is not a usable dNSName");
    } else if (!name_in(sk_GENERAL_NAME_value(parsed, 0), e->decision.sans)) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_shift(parsed);
        if (sk_GENERAL_NAME_push(e->decision.sans, gn) <= 0) {
            GENERAL_NAME_free(gn);
            stage =
                scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
        }
    }
    GENERAL_NAMES_free(parsed);
    return stage;
}

/* Adds "WHAT TAIL" to the names the log reports as not copied. */
static void note_extra(struct scepd_enrollment *e, const char *what, const char *tail)
{
    size_t used = strlen(e->name_notes);
    if (used < sizeof(e->name_notes) - 1)
        snprintf(e->name_notes + used, sizeof(e->name_notes) - used, "%s%s%s", used ? "; " : "",
                 what, tail);
}

static enum scepd_stage constrain_registered(struct scepd_enrollment *e, const GENERAL_NAMES *asked)
{
    const scep_store_end_entity *ee = e->ee;
    const struct scep_config_alias_settings *s = e->op->alias->settings;
    int refuse = s->names_csr == SCEP_ALIAS_NAMES_REFUSE;
    int constrained = s->names_csr == SCEP_ALIAS_NAMES_CONSTRAINED;
    char text[NAME_TEXT_MAX], reply[SCEPD_TEXT_MAX];
    if (ee->subject_dn == NULL || scep_dn_parse(&e->decision.subject, ee->subject_dn) < 0) {
        e->decision.subject = NULL;
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "enrollment refused: the end entity has no subject DN",
                                   "user %s: no usable registered DN", e->username);
    }
    if (scep_san_parse(&e->decision.sans, ee->sans) < 0) {
        e->decision.sans = NULL;
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, "enrollment refused: the end entity's names are unusable",
            "user %s: registered SANs unusable: %s", e->username, scep_error_message());
    }
    if (!same_subject(X509_REQ_get_subject_name(e->csr), e->decision.subject)) {
        char *csr_subject = NULL;
        if (scep_dn_format(&csr_subject, X509_REQ_get_subject_name(e->csr)) < 0)
            csr_subject = NULL;
        snprintf(text, sizeof(text), "%.200s", csr_subject ? csr_subject : "(unreadable)");
        OPENSSL_free(csr_subject);
        if (refuse) {
            snprintf(reply, sizeof(reply),
                     "enrollment refused: the subject %.160s is not the registered one", text);
            return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                       "user %s: CSR subject %s differs from the registered one",
                                       e->username, text);
        }
        note_extra(e, text, " (CSR subject) replaced by the registered one");
    }
    for (int i = 0; asked != NULL && i < sk_GENERAL_NAME_num(asked); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(asked, i);
        if (name_in(gn, e->decision.sans))
            continue;
        name_text(text, sizeof(text), gn);
        if (constrained && type_permitted(gn, &s->names_santypes) &&
            within_suffixes(gn, &s->names_dnssuffixes)) {
            GENERAL_NAME *copy = GENERAL_NAME_dup(gn);
            if (copy == NULL || sk_GENERAL_NAME_push(e->decision.sans, copy) <= 0) {
                GENERAL_NAME_free(copy);
                return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error",
                                           "out of memory");
            }
            continue;
        }
        if (refuse || constrained) {
            snprintf(reply, sizeof(reply),
                     "enrollment refused: %.160s is not registered for the end entity", text);
            return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                       "user %s: CSR asks for the unregistered name %s",
                                       e->username, text);
        }
        note_extra(e, text, " not copied");
    }
    return add_pix_name(e, e->decision.subject);
}

static enum scepd_stage constrain_requested(struct scepd_enrollment *e, GENERAL_NAMES **asked)
{
    const struct scep_config_alias_settings *s = e->op->alias->settings;
    const X509_NAME *subject = X509_REQ_get_subject_name(e->csr);
    char text[NAME_TEXT_MAX], reply[SCEPD_TEXT_MAX];
    const char *patterns[2] = {s->names_subject, e->challenge_pattern};
    const char *whose[2] = {"the alias's names.subject", "the one-time challenge's pattern"};
    for (int i = 0; i < 2; i++) {
        if (patterns[i] == NULL || patterns[i][0] == '\0')
            continue;
        int match = subject_matches(subject, patterns[i]);
        if (match == 1)
            continue;
        char *subject_text = NULL;
        if (scep_dn_format(&subject_text, subject) < 0)
            subject_text = NULL;
        snprintf(text, sizeof(text), "%.200s", subject_text ? subject_text : "(unreadable)");
        OPENSSL_free(subject_text);
        snprintf(reply, sizeof(reply), "enrollment refused: the subject does not match %s",
                 i == 1 ? "the one-time challenge" : "this alias's subject pattern");
        if (match < 0)
            return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                       "%s is not a valid DN pattern (subject %s)", whose[i], text);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply, "subject %s does not match %s",
                                   text, whose[i]);
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(*asked); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(*asked, i);
        int permitted = type_permitted(gn, &s->names_santypes);
        if (permitted && within_suffixes(gn, &s->names_dnssuffixes))
            continue;
        name_text(text, sizeof(text), gn);
        snprintf(reply, sizeof(reply), "enrollment refused: the name %.160s is not permitted here",
                 text);
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, reply, "%s %s not permitted",
            permitted ? "name (names.dnssuffixes)" : "name type (names.santypes)", text);
    }
    e->decision.subject = X509_NAME_dup(subject);
    e->decision.sans = *asked;
    *asked = NULL;
    if (e->decision.subject == NULL)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
    enum scepd_stage stage = add_pix_name(e, e->decision.subject);
    if (stage != SCEPD_STAGE_NEXT)
        return stage;
    /* The PIX host name obeys the same types and suffixes. */
    for (int i = 0; i < sk_GENERAL_NAME_num(e->decision.sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(e->decision.sans, i);
        if (type_permitted(gn, &s->names_santypes) && within_suffixes(gn, &s->names_dnssuffixes))
            continue;
        name_text(text, sizeof(text), gn);
        snprintf(reply, sizeof(reply), "enrollment refused: the name %.160s is not permitted here",
                 text);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                   "name (names.dnssuffixes) %s not permitted", text);
    }
    return SCEPD_STAGE_NEXT;
}

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/*
 * A registered end entity's renewal carries no more than its registration says now:
 * the registered subject, and of the old names those still registered (after `ee set`
 * removed one, renewing does not bring it back).
 */
static enum scepd_stage narrow_to_registration(struct scepd_enrollment *e)
{
    X509_NAME *registered = NULL;
    GENERAL_NAMES *allowed = NULL;
    if (e->ee->subject_dn == NULL || scep_dn_parse(&registered, e->ee->subject_dn) < 0 ||
        scep_san_parse(&allowed, e->ee->sans) < 0) {
        X509_NAME_free(registered);
        return scepd_enroll_refuse(
            e, SCEP_FAIL_BAD_REQUEST, "renewal refused: the end entity's registration is unusable",
            "user %s: registered DN or SANs unusable: %s", e->username, scep_error_message());
    }
    X509_NAME_free(e->decision.subject);
    e->decision.subject = registered;
    for (int i = sk_GENERAL_NAME_num(e->decision.sans) - 1; i >= 0; i--) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(e->decision.sans, i);
        if (name_in(gn, allowed))
            continue;
        char text[NAME_TEXT_MAX];
        name_text(text, sizeof(text), gn);
        note_extra(e, text, " no longer registered, not renewed");
        GENERAL_NAME_free(sk_GENERAL_NAME_delete(e->decision.sans, i));
    }
    GENERAL_NAMES_free(allowed);
    return SCEPD_STAGE_NEXT;
}

static enum scepd_stage constrain_renewal(struct scepd_enrollment *e, GENERAL_NAMES **asked)
{
    const struct scep_config_alias_settings *s = e->op->alias->settings;
    char text[NAME_TEXT_MAX], reply[SCEPD_TEXT_MAX];
    int64_t not_before = asn1_time_to_unix(X509_get0_notBefore(e->signer));
    int64_t not_after = asn1_time_to_unix(X509_get0_notAfter(e->signer));
    int64_t half_life = not_before + (not_after - not_before) / 2;
    if (s->renewal_afterhalflife && (int64_t)e->op->now < half_life) {
        time_t t = (time_t)half_life;
        struct tm tm;
        char when[32] = "?";
        if (gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(reply, sizeof(reply),
                 "renewal refused: this certificate can be renewed from %s (half of its validity)",
                 when);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                   "user %s: renewal before half-life (%s)", e->username, when);
    }
    if (!s->allowclientcertificaterenewawitholdkey &&
        EVP_PKEY_eq(X509_REQ_get0_pubkey(e->csr), X509_get0_pubkey(e->signer)) == 1)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "renewal refused: the request reuses the old certificate's key; "
                                   "this alias requires a new key pair",
                                   "user %s: renewal with the old key pair", e->username);
    ERR_clear_error();
    const X509_NAME *old_subject = X509_get_subject_name(e->signer);
    if (s->renewal_samesubject && !same_subject(X509_REQ_get_subject_name(e->csr), old_subject))
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "renewal refused: the request's subject differs from the old "
                                   "certificate's subject",
                                   "user %s: CSR subject differs from the old certificate",
                                   e->username);
    GENERAL_NAMES *old_names = X509_get_ext_d2i(e->signer, NID_subject_alt_name, NULL, NULL);
    ERR_clear_error();
    for (int i = 0; i < sk_GENERAL_NAME_num(*asked); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(*asked, i);
        if (name_in(gn, old_names))
            continue;
        GENERAL_NAMES_free(old_names);
        name_text(text, sizeof(text), gn);
        snprintf(
            reply, sizeof(reply),
            "renewal refused: the request adds %.160s, which the old certificate does not have",
            text);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, reply,
                                   "user %s: CSR adds a subjectAltName (%s)", e->username, text);
    }
    e->decision.subject = X509_NAME_dup(old_subject);
    if (sk_GENERAL_NAME_num(*asked) > 0 || old_names == NULL) {
        e->decision.sans = *asked;
        *asked = NULL;
        GENERAL_NAMES_free(old_names);
    } else {
        e->decision.sans = old_names;
    }
    e->decision.renews_serial = OPENSSL_strdup(e->old->serial);
    if (s->renewal_revokeold)
        e->decision.replaces_serial = OPENSSL_strdup(e->old->serial);
    if (e->decision.subject == NULL || e->decision.renews_serial == NULL ||
        (s->renewal_revokeold && e->decision.replaces_serial == NULL))
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
    return e->ee->ra_alias == NULL ? narrow_to_registration(e) : SCEPD_STAGE_NEXT;
}

enum scepd_stage scepd_enroll_constrain(struct scepd_enrollment *e)
{
    GENERAL_NAMES *asked = NULL;
    enum scepd_stage stage = csr_names(e, &asked);
    if (stage != SCEPD_STAGE_NEXT)
        return stage;
    switch (e->decision.mode) {
    case SCEP_DECISION_CA:
        stage = constrain_registered(e, asked);
        break;
    case SCEP_DECISION_RENEWAL:
        stage = constrain_renewal(e, &asked);
        break;
    default:
        stage = constrain_requested(e, &asked);
        break;
    }
    GENERAL_NAMES_free(asked);
    if (stage == SCEPD_STAGE_NEXT && e->decision.sans == NULL &&
        (e->decision.sans = GENERAL_NAMES_new()) == NULL)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
    return stage;
}
