/*
 * Certificate serial numbers: RFC 5280 §4.1.2.2 requires them positive and at
 * most 20 octets; CA/Browser Forum practice wants at least 64 random bits.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>

/* The largest encodable value has 20 content octets, the first with its top bit clear. */
#define SCEP_SERIAL_MAX_BITS      (8 * SCEP_SERIAL_MAX_OCTETS - 1)
#define SCEP_SERIAL_HEX_INPUT_MAX 128

static int serial_check_bn(const BIGNUM *bn)
{
    if (BN_is_negative(bn) || BN_is_zero(bn))
        return scep_fail(SCEP_EINVAL, "serial number must be positive");
    if (BN_num_bits(bn) > SCEP_SERIAL_MAX_BITS)
        return scep_fail(SCEP_EINVAL, "serial number longer than %d octets",
                         SCEP_SERIAL_MAX_OCTETS);
    return SCEP_OK;
}

int scep_serial_check(const ASN1_INTEGER *serial)
{
    int rc = SCEP_OK;
    BIGNUM *bn = NULL;

    ENSURE(serial != NULL, SCEP_EINVAL, "no serial number");
    ENSURE(ASN1_STRING_type(serial) == V_ASN1_INTEGER, SCEP_EINVAL,
           "serial number must be positive");
    /* Bound before converting: a hostile integer could be huge. */
    ENSURE(ASN1_STRING_length(serial) <= SCEP_SERIAL_MAX_OCTETS + 1, SCEP_EINVAL,
           "serial number longer than %d octets", SCEP_SERIAL_MAX_OCTETS);
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    ENSURE_OSSL(bn != NULL, SCEP_EINVAL, "malformed serial number");
    GUARD(serial_check_bn(bn));

cleanup:
    BN_free(bn);
    return rc;
}

static int bn_to_hex(char out[SCEP_SERIAL_HEX_MAX], const BIGNUM *bn)
{
    char *hex = BN_bn2hex(bn);
    if (hex == NULL)
        return scep_fail_ossl(SCEP_ENOMEM, "BN_bn2hex");
    size_t len = strlen(hex);
    if (len >= SCEP_SERIAL_HEX_MAX) {
        OPENSSL_free(hex);
        return scep_fail(SCEP_EINVAL, "serial number too long");
    }
    memcpy(out, hex, len + 1);
    OPENSSL_free(hex);
    return SCEP_OK;
}

int scep_serial_to_hex(char out[SCEP_SERIAL_HEX_MAX], const ASN1_INTEGER *serial)
{
    int rc = SCEP_OK;
    BIGNUM *bn = NULL;

    ENSURE(out != NULL, SCEP_EINVAL, "scep_serial_to_hex: NULL argument");
    out[0] = '\0';
    GUARD(scep_serial_check(serial));
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    ENSURE_OSSL(bn != NULL, SCEP_ENOMEM, "ASN1_INTEGER_to_BN");
    GUARD(bn_to_hex(out, bn));

cleanup:
    BN_free(bn);
    return rc;
}

int scep_serial_new(ASN1_INTEGER **out, char out_hex[SCEP_SERIAL_HEX_MAX])
{
    int rc = SCEP_OK;
    unsigned char octets[SCEP_SERIAL_RANDOM_OCTETS];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;

    ENSURE(out != NULL, SCEP_EINVAL, "scep_serial_new: NULL argument");
    *out = NULL;
    for (;;) {
        ENSURE_OSSL(RAND_bytes(octets, sizeof(octets)) == 1, SCEP_ECRYPTO, "RAND_bytes");
        octets[0] &= 0x7f; /* positive without a leading zero octet */
        bn = BN_bin2bn(octets, sizeof(octets), bn);
        ENSURE_OSSL(bn != NULL, SCEP_ENOMEM, "BN_bin2bn");
        if (!BN_is_zero(bn))
            break;
    }
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    ENSURE_OSSL(serial != NULL, SCEP_ENOMEM, "BN_to_ASN1_INTEGER");
    if (out_hex != NULL)
        GUARD(bn_to_hex(out_hex, bn));
    *out = serial;
    serial = NULL;

cleanup:
    OPENSSL_cleanse(octets, sizeof(octets));
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}

int scep_serial_from_hex(ASN1_INTEGER **out, const char *hex)
{
    int rc = SCEP_OK;
    char digits[SCEP_SERIAL_HEX_INPUT_MAX + 1];
    size_t n = 0;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;

    ENSURE(out != NULL && hex != NULL, SCEP_EINVAL, "scep_serial_from_hex: NULL argument");
    *out = NULL;
    const char *p = hex;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    for (; *p != '\0'; p++) {
        if (*p == ':')
            continue;
        const int c = (unsigned char)*p;
        const int is_hex =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        ENSURE(is_hex, SCEP_EINVAL, "serial number \"%s\" is not hexadecimal", hex);
        ENSURE(n < SCEP_SERIAL_HEX_INPUT_MAX, SCEP_EINVAL, "serial number \"%.40s...\" too long",
               hex);
        digits[n++] = (char)c;
    }
    digits[n] = '\0';
    ENSURE(n > 0, SCEP_EINVAL, "empty serial number");
    ENSURE_OSSL(BN_hex2bn(&bn, digits) == (int)n, SCEP_EINVAL, "bad serial number \"%s\"", hex);
    GUARD(serial_check_bn(bn));
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    ENSURE_OSSL(serial != NULL, SCEP_ENOMEM, "BN_to_ASN1_INTEGER");
    *out = serial;
    serial = NULL;

cleanup:
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}
