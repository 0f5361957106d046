/*
 * RA mode usernames, generated as EJBCA's UsernameGenerator does from the
 * alias's ra.namegenerationscheme, ra.namegenerationparameters,
 * ra.namegenerationprefix and ra.namegenerationpostfix.
 */
#include "scepd/enroll/ra_username.h"
#include "util/error_internal.h"

#include <openssl/objects.h>
#include <openssl/rand.h>
#include <string.h>

#define RANDOM_NAME_LEN    12 /* RANDOM scheme */
#define RANDOM_AFFIX_LEN   12 /* "${RANDOM}" in a prefix or postfix (EJBCA: 12) */
#define DN_PART_NAME_MAX   64
#define RANDOM_PLACEHOLDER "${RANDOM}"

static const char alphanumerics[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* Appends `len` random alphanumerics; rejection sampling keeps them uniform. */
static int append_random(char *out, size_t out_size, size_t *pos, size_t len)
{
    int rc = SCEP_OK;
    const size_t symbols = sizeof(alphanumerics) - 1;
    const unsigned limit = 256u - (256u % (unsigned)symbols);
    ENSURE(*pos + len < out_size, SCEP_ETOOBIG, "generated username too long");
    for (size_t done = 0, rounds = 0; done < len; rounds++) {
        unsigned char bytes[32];
        ENSURE(rounds < 64, SCEP_ECRYPTO, "random username: no randomness");
        ENSURE_OSSL(RAND_bytes(bytes, sizeof(bytes)) == 1, SCEP_ECRYPTO, "random username");
        for (size_t i = 0; i < sizeof(bytes) && done < len; i++)
            if (bytes[i] < limit)
                out[(*pos)++] = alphanumerics[bytes[i] % symbols], done++;
    }
    out[*pos] = '\0';
cleanup:
    return rc;
}

static int append_text(char *out, size_t out_size, size_t *pos, const char *text, size_t len)
{
    int rc = SCEP_OK;
    ENSURE(*pos + len < out_size, SCEP_ETOOBIG, "generated username too long");
    memcpy(out + *pos, text, len);
    *pos += len;
    out[*pos] = '\0';
cleanup:
    return rc;
}

/* A prefix or postfix, with each "${RANDOM}" replaced (EJBCA). */
static int append_affix(char *out, size_t out_size, size_t *pos, const char *affix)
{
    int rc = SCEP_OK;
    const size_t placeholder_len = strlen(RANDOM_PLACEHOLDER);
    for (size_t guard = 0; affix != NULL && *affix != '\0' && guard < 64; guard++) {
        const char *next = strstr(affix, RANDOM_PLACEHOLDER);
        size_t literal = next != NULL ? (size_t)(next - affix) : strlen(affix);
        GUARD(append_text(out, out_size, pos, affix, literal));
        if (next == NULL)
            break;
        GUARD(append_random(out, out_size, pos, RANDOM_AFFIX_LEN));
        affix = next + placeholder_len;
    }
cleanup:
    return rc;
}

/* The first value of DN part `nid` as UTF-8; -1 when absent or unusable. */
static int dn_part(char *out, size_t out_size, size_t *pos, const X509_NAME *subject, int nid)
{
    int idx = X509_NAME_get_index_by_NID(subject, nid, -1);
    if (idx < 0)
        return -1;
    unsigned char *utf8 = NULL;
    int len =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
    int rc = -1;
    if (len > 0 && memchr(utf8, '\0', (size_t)len) == NULL &&
        append_text(out, out_size, pos, (const char *)utf8, (size_t)len) == SCEP_OK)
        rc = 0;
    OPENSSL_free(utf8);
    return rc;
}

static int nid_of_part(const char *name, size_t len)
{
    char buf[DN_PART_NAME_MAX];
    if (len == 0 || len >= sizeof(buf))
        return NID_undef;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return OBJ_txt2nid(buf);
}

/* DN scheme: the first listed DN part the subject has ("CN;UID": CN, else UID). */
static int from_dn(char *out, size_t out_size, size_t *pos, const X509_NAME *subject,
                   const char *parts)
{
    const char *p = parts != NULL ? parts : "CN";
    for (size_t guard = 0; *p != '\0' && guard < 64; guard++) {
        size_t len = strcspn(p, ";,");
        while (len > 0 && *p == ' ')
            p++, len--;
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ')
            trimmed--;
        int nid = nid_of_part(p, trimmed);
        if (nid != NID_undef && dn_part(out, out_size, pos, subject, nid) == 0)
            return SCEP_OK;
        p += len;
        if (*p != '\0')
            p++;
    }
    return scep_fail(SCEP_EINVAL, "the subject has none of the DN parts %s", parts ? parts : "CN");
}

int scepd_ra_username(char *out, size_t out_size, const X509_NAME *subject,
                      const struct scep_config_alias_settings *settings)
{
    int rc = SCEP_OK;
    size_t pos = 0;
    ENSURE(out_size > 1, SCEP_EINVAL, "username buffer too small");
    out[0] = '\0';
    GUARD(append_affix(out, out_size, &pos, settings->ra_namegenerationprefix));
    size_t stem = pos;
    const char *parameter = settings->ra_namegenerationparameters;
    switch (settings->ra_namegenerationscheme) {
    case SCEP_ALIAS_NAME_DN:
        GUARD(from_dn(out, out_size, &pos, subject, parameter));
        break;
    case SCEP_ALIAS_NAME_RANDOM:
        GUARD(append_random(out, out_size, &pos, RANDOM_NAME_LEN));
        break;
    case SCEP_ALIAS_NAME_FIXED:
        ENSURE(parameter != NULL && parameter[0] != '\0', SCEP_EINVAL,
               "FIXED name generation needs ra.namegenerationparameters");
        GUARD(append_text(out, out_size, &pos, parameter, strlen(parameter)));
        break;
    case SCEP_ALIAS_NAME_USERNAME:
        ENSURE(dn_part(out, out_size, &pos, subject, NID_commonName) == 0, SCEP_EINVAL,
               "the subject has no CN");
        break;
    default:
        ENSURE(0, SCEP_EINVAL, "unknown name generation scheme");
    }
    ENSURE(pos > stem, SCEP_EINVAL, "the generated username is empty");
    GUARD(append_affix(out, out_size, &pos, settings->ra_namegenerationpostfix));
    for (size_t i = 0; i < pos; i++)
        ENSURE((unsigned char)out[i] >= 0x20 && out[i] != 0x7f, SCEP_EINVAL,
               "the generated username has control characters");
cleanup:
    return rc;
}
