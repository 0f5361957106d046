/*
 * The CA object: creating a self-signed root, importing or loading an
 * existing CA, saving it, and the checks that decide whether a certificate
 * and key can act as a SCEP CA.
 */
#include "ca/ca_internal.h"
#include "util/error_internal.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rsa.h>

#define CA_DEFAULT_RSA_BITS      3072
#define CA_DEFAULT_VALIDITY_DAYS 3650
#define CA_MAX_VALIDITY_DAYS     36500
#define SECONDS_PER_DAY          86400L

const char *scep_ca_warning_text(unsigned warning)
{
    switch (warning) {
    case SCEP_CA_WARN_NO_DIGITAL_SIGNATURE:
        return "CA certificate keyUsage lacks digitalSignature: Cryptlib-style clients and "
               "Cisco PIX reject its CertRep signatures";
    case SCEP_CA_WARN_NO_KEY_ENCIPHERMENT:
        return "CA certificate keyUsage lacks keyEncipherment: some clients refuse to encrypt "
               "requests to it";
    case SCEP_CA_WARN_NOT_RSA:
        return "CA key is not RSA: SCEP clients encrypt requests with RSA key transport, so an "
               "RSA RA certificate is needed";
    case SCEP_CA_WARN_EXPIRED:
        return "CA certificate has expired";
    case SCEP_CA_WARN_NOT_YET_VALID:
        return "CA certificate is not yet valid";
    case SCEP_CA_WARN_NO_SKI:
        return "CA certificate has no subjectKeyIdentifier: issued certificates use a hash of "
               "its key as authorityKeyIdentifier";
    case SCEP_CA_WARN_CHAIN_ORDER:
        return "CA chain is not in issuing order (each certificate followed by its issuer)";
    default:
        return "";
    }
}

void scep_ca_free(scep_ca *ca)
{
    if (ca == NULL)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    sk_X509_pop_free(ca->chain, X509_free);
    OPENSSL_free(ca);
}

X509 *scep_ca_cert(const scep_ca *ca)
{
    return ca != NULL ? ca->cert : NULL;
}

EVP_PKEY *scep_ca_key(const scep_ca *ca)
{
    return ca != NULL ? scep_key_current(ca->key) : NULL;
}

STACK_OF(X509) * scep_ca_chain(const scep_ca *ca)
{
    return ca != NULL ? ca->chain : NULL;
}

static int subject_text(char *buf, size_t size, X509 *cert)
{
    if (X509_NAME_oneline(X509_get_subject_name(cert), buf, (int)size) == NULL)
        buf[0] = '\0';
    return 0;
}

int scep_ca_new(scep_ca **out, unsigned *out_warnings, X509 *cert, EVP_PKEY *key,
                STACK_OF(X509) * chain)
{
    int rc = SCEP_OK;
    scep_ca *ca = NULL;
    unsigned warnings = 0;
    char subject[256];

    ENSURE(out != NULL, SCEP_EINVAL, "scep_ca_new: NULL argument");
    *out = NULL;
    if (out_warnings != NULL)
        *out_warnings = 0;
    ENSURE(cert != NULL && key != NULL, SCEP_EINVAL, "scep_ca_new: certificate and key needed");
    (void)subject_text(subject, sizeof(subject), cert);

    const int is_rsa = EVP_PKEY_is_a(key, "RSA");
    ENSURE(is_rsa || EVP_PKEY_is_a(key, "EC"), SCEP_EBADALG,
           "CA key type %s is not supported (RSA or EC only)", EVP_PKEY_get0_type_name(key));
    ENSURE_OSSL(X509_check_private_key(cert, key) == 1, SCEP_EINVAL,
                "private key does not match the CA certificate %s", subject);

    /* Computing the extension cache now makes later concurrent reads lock-free. */
    const uint32_t flags = X509_get_extension_flags(cert);
    ENSURE(!(flags & EXFLAG_INVALID), SCEP_EINVAL,
           "CA certificate %s has malformed or duplicate extensions", subject);
    ENSURE((flags & EXFLAG_BCONS) && (flags & EXFLAG_CA), SCEP_EINVAL,
           "certificate %s is not a CA: basicConstraints CA:TRUE is missing", subject);
    const uint32_t ku = X509_get_key_usage(cert); /* UINT32_MAX when absent: all allowed */
    ENSURE(ku & KU_KEY_CERT_SIGN, SCEP_EINVAL,
           "CA certificate %s: keyUsage lacks keyCertSign, it cannot issue certificates", subject);
    /* interop.md §17: warn, do not fail. */
    if (!(ku & KU_DIGITAL_SIGNATURE))
        warnings |= SCEP_CA_WARN_NO_DIGITAL_SIGNATURE;
    if (is_rsa && !(ku & KU_KEY_ENCIPHERMENT))
        warnings |= SCEP_CA_WARN_NO_KEY_ENCIPHERMENT;
    if (!is_rsa)
        warnings |= SCEP_CA_WARN_NOT_RSA;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        warnings |= SCEP_CA_WARN_EXPIRED;
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        warnings |= SCEP_CA_WARN_NOT_YET_VALID;
    if (X509_get0_subject_key_id(cert) == NULL)
        warnings |= SCEP_CA_WARN_NO_SKI;

    ca = OPENSSL_zalloc(sizeof(*ca));
    ENSURE_ALLOC(ca);
    ca->chain = sk_X509_new_null();
    ENSURE_ALLOC(ca->chain);
    X509 *below = cert;
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        (void)X509_get_extension_flags(c);
        if (X509_check_issued(c, below) != X509_V_OK)
            warnings |= SCEP_CA_WARN_CHAIN_ORDER;
        ENSURE_OSSL(X509_up_ref(c) == 1, SCEP_ECRYPTO, "X509_up_ref");
        if (sk_X509_push(ca->chain, c) <= 0) {
            X509_free(c);
            ENSURE(0, SCEP_ENOMEM, "out of memory");
        }
        below = c;
    }
    ENSURE_OSSL(X509_up_ref(cert) == 1, SCEP_ECRYPTO, "X509_up_ref");
    ca->cert = cert;
    if (EVP_PKEY_up_ref(key) != 1)
        ENSURE_OSSL(0, SCEP_ECRYPTO, "EVP_PKEY_up_ref");
    ca->key = key;

    *out = ca;
    ca = NULL;
    if (out_warnings != NULL)
        *out_warnings = warnings;

cleanup:
    scep_ca_free(ca);
    return rc;
}

void scep_ca_create_options_init(scep_ca_create_options *options)
{
    if (options == NULL)
        return;
    memset(options, 0, sizeof(*options));
    options->key_type = SCEP_KEY_RSA;
    options->rsa_bits = CA_DEFAULT_RSA_BITS;
    options->ec_curve = "P-256";
    options->validity_days = CA_DEFAULT_VALIDITY_DAYS;
}

static int generate_key(EVP_PKEY **out, const scep_ca_create_options *options, unsigned *out_ku)
{
    int rc = SCEP_OK;
    EVP_PKEY *key = NULL;
    const scep_key_type type = options->key_type == 0 ? SCEP_KEY_RSA : options->key_type;

    *out = NULL;
    if (options->key_uri != NULL) {
        const unsigned bits = options->rsa_bits == 0 ? CA_DEFAULT_RSA_BITS : options->rsa_bits;
        GUARD(scep_pkcs11_generate(&key, options->key_uri, type, bits, options->ec_curve));
        *out_ku = SCEP_KU_BIT(0) | SCEP_KU_BIT(5) | SCEP_KU_BIT(6);
        if (type == SCEP_KEY_RSA)
            *out_ku |= SCEP_KU_BIT(2);
    } else if (type == SCEP_KEY_RSA) {
        const unsigned bits = options->rsa_bits == 0 ? CA_DEFAULT_RSA_BITS : options->rsa_bits;
        ENSURE(bits == 2048 || bits == 3072 || bits == 4096, SCEP_EINVAL,
               "CA RSA key size %u: use 2048, 3072 or 4096", bits);
        key = EVP_RSA_gen(bits);
        ENSURE_OSSL(key != NULL, SCEP_ECRYPTO, "cannot generate an RSA-%u key", bits);
        *out_ku = SCEP_KU_BIT(0) | SCEP_KU_BIT(2) | SCEP_KU_BIT(5) | SCEP_KU_BIT(6);
    } else if (type == SCEP_KEY_EC) {
        const char *curve = options->ec_curve == NULL ? "P-256" : options->ec_curve;
        ENSURE(strcmp(curve, "P-256") == 0 || strcmp(curve, "P-384") == 0, SCEP_EINVAL,
               "CA EC curve \"%s\": use P-256 or P-384", curve);
        key = EVP_EC_gen(curve);
        ENSURE_OSSL(key != NULL, SCEP_ECRYPTO, "cannot generate an EC %s key", curve);
        /* RFC 5480 §3: keyEncipherment must not be set for an EC key. */
        *out_ku = SCEP_KU_BIT(0) | SCEP_KU_BIT(5) | SCEP_KU_BIT(6);
    } else {
        ENSURE(0, SCEP_EINVAL, "unknown CA key type %d", (int)type);
    }
    *out = key;
    key = NULL;

cleanup:
    EVP_PKEY_free(key);
    return rc;
}

int scep_ca_create(scep_ca **out, const scep_ca_create_options *options)
{
    int rc = SCEP_OK;
    X509_NAME *name = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    X509 *clean = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_OCTET_STRING *key_id = NULL;
    unsigned ku = 0;

    ENSURE(out != NULL && options != NULL, SCEP_EINVAL, "scep_ca_create: NULL argument");
    *out = NULL;
    ENSURE(options->subject != NULL, SCEP_EINVAL, "a CA needs a subject DN");
    const unsigned days =
        options->validity_days == 0 ? CA_DEFAULT_VALIDITY_DAYS : options->validity_days;
    ENSURE(days <= CA_MAX_VALIDITY_DAYS, SCEP_EINVAL, "CA validity of %u days exceeds %d", days,
           CA_MAX_VALIDITY_DAYS);
    GUARD(scep_dn_parse(&name, options->subject));
    ENSURE(X509_NAME_entry_count(name) > 0, SCEP_EINVAL, "a CA needs a non-empty subject DN");
    GUARD(generate_key(&key, options, &ku));
    GUARD(scep_serial_new(&serial, NULL));

    cert = X509_new();
    ENSURE_ALLOC(cert);
    const time_t now = time(NULL);
    ENSURE_OSSL(
        X509_set_version(cert, X509_VERSION_3) == 1 && X509_set_serialNumber(cert, serial) == 1 &&
            X509_set_subject_name(cert, name) == 1 && X509_set_issuer_name(cert, name) == 1 &&
            ASN1_TIME_set(X509_getm_notBefore(cert), now) != NULL &&
            ASN1_TIME_set(X509_getm_notAfter(cert), now + (time_t)days * SECONDS_PER_DAY) != NULL &&
            X509_set_pubkey(cert, key) == 1,
        SCEP_ECRYPTO, "cannot build the CA certificate");
    GUARD(scep_ext_add_basic_constraints(cert, 1));
    GUARD(scep_ext_add_key_usage(cert, ku));
    GUARD(scep_ext_key_id(&key_id, cert));
    GUARD(scep_ext_add_ski(cert, key_id));
    GUARD(scep_ext_add_aki(cert, key_id));
    ENSURE_OSSL(X509_sign(cert, key, EVP_sha256()) > 0, SCEP_ECRYPTO,
                "cannot sign the CA certificate");
    /* Re-decoded so that no cache holds state from before the extensions were added. */
    clean = X509_dup(cert);
    ENSURE_OSSL(clean != NULL, SCEP_ECRYPTO, "cannot re-encode the CA certificate");
    GUARD(scep_ca_new(out, NULL, clean, key, NULL));

cleanup:
    ASN1_OCTET_STRING_free(key_id);
    ASN1_INTEGER_free(serial);
    X509_free(clean);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_NAME_free(name);
    return rc;
}

/* Reads a file through an fd that has passed scep_key_file_check(), or plainly. */
static int read_secret(unsigned char **out, size_t *out_len, const char *path, size_t max,
                       int check_perms, const char *what)
{
    int rc = SCEP_OK;
    int fd = -1;

    if (check_perms)
        GUARD(scep_pki_open_checked(&fd, path, what));
    GUARD(scep_pki_read_file(out, out_len, fd, path, max));

cleanup:
    if (fd >= 0)
        close(fd);
    return rc;
}

static int ca_from_files(scep_ca **out, unsigned *out_warnings, const char *cert_path,
                         const char *key_path, const char *passphrase_path, int check_perms)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *certs = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    unsigned char *data = NULL;
    size_t data_len = 0;
    char *passphrase = NULL;
    size_t passphrase_len = 0;

    ENSURE(out != NULL && cert_path != NULL && key_path != NULL, SCEP_EINVAL,
           "CA certificate and key files needed");
    *out = NULL;
    if (out_warnings != NULL)
        *out_warnings = 0;
    GUARD(scep_chain_load(&certs, cert_path));
    cert = sk_X509_shift(certs);

    if (passphrase_path != NULL) {
        GUARD(read_secret(&data, &data_len, passphrase_path, SCEP_PASSPHRASE_MAX + 2, check_perms,
                          "passphrase file"));
        GUARD(scep_pki_decode_passphrase(&passphrase, &passphrase_len, data, data_len,
                                         passphrase_path));
        OPENSSL_clear_free(data, data_len);
        data = NULL;
    }
    if (scep_key_ref_is_pkcs11(key_path)) {
        GUARD(scep_key_open(&key, key_path, 0));
    } else {
        GUARD(read_secret(&data, &data_len, key_path, SCEP_PKI_FILE_MAX, check_perms,
                          "private key file"));
        GUARD(scep_pki_decode_key(&key, data, data_len, key_path, passphrase));
    }
    GUARD(scep_ca_new(out, out_warnings, cert, key, certs));

cleanup:
    OPENSSL_clear_free(data, data_len);
    OPENSSL_clear_free(passphrase, passphrase_len);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

int scep_ca_import(scep_ca **out, unsigned *out_warnings, const char *cert_path,
                   const char *key_path, const char *passphrase_path)
{
    return ca_from_files(out, out_warnings, cert_path, key_path, passphrase_path, 0);
}

int scep_ca_load(scep_ca **out, unsigned *out_warnings, const char *cert_path, const char *key_path,
                 const char *passphrase_path)
{
    return ca_from_files(out, out_warnings, cert_path, key_path, passphrase_path, 1);
}

int scep_ca_save(const scep_ca *ca, const char *cert_path, const char *key_path,
                 const char *passphrase)
{
    int rc = SCEP_OK;
    STACK_OF(X509) *certs = NULL;

    ENSURE(ca != NULL && cert_path != NULL, SCEP_EINVAL, "scep_ca_save: NULL argument");
    /* A token key stays in its token: only the certificates are written. */
    if (key_path != NULL)
        GUARD(scep_key_save(key_path, ca->key, passphrase));
    certs = sk_X509_new_null();
    ENSURE_ALLOC(certs);
    ENSURE(sk_X509_push(certs, ca->cert) > 0, SCEP_ENOMEM, "out of memory");
    for (int i = 0; i < sk_X509_num(ca->chain); i++)
        ENSURE(sk_X509_push(certs, sk_X509_value(ca->chain, i)) > 0, SCEP_ENOMEM, "out of memory");
    GUARD(scep_chain_save(cert_path, certs));

cleanup:
    sk_X509_free(certs); /* borrowed certificates */
    return rc;
}
