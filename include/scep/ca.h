/*
 * libscep certificate authority core: creating and importing a CA, issuing
 * certificates from PKCS#10 requests under a profile, serial numbers, CRLs,
 * and the PEM/DER helpers around them. No database and no network here; the
 * only I/O is reading and writing certificate and key files.
 *
 * Ownership: every `**out` becomes the caller's and is released with the
 * matching _free (X509_free, X509_CRL_free, EVP_PKEY_free, X509_NAME_free,
 * ASN1_INTEGER_free, sk_X509_pop_free(stack, X509_free), scep_ca_free).
 * Pointers returned by accessors are borrowed from their parent object and live
 * as long as it. Input objects are never modified and never taken over: a
 * function that keeps one takes its own reference.
 */
#ifndef SCEP_CA_H
#define SCEP_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scep/common.h"
#include "scep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Distinguished names ------------------------------------------------------------------- */

/* Longest DN string accepted by scep_dn_parse(), and most attributes in one name. */
#define SCEP_DN_MAX        4096
#define SCEP_DN_MAX_VALUES 64

/*
 * Parses a distinguished name in one of two forms:
 *  - RFC 4514's "CN=Demo CA,O=Example": most specific RDN first, so the encoded
 *    sequence is reversed (O=Example, then CN=Demo CA), as LDAP, EJBCA and
 *    `openssl x509 -subject -nameopt RFC2253` write it;
 *  - OpenSSL's "/O=Example/CN=Demo CA" (-subj): RDNs encoded exactly in the order
 *    written, most significant first. Both examples give the same name.
 * The form is chosen by the first character ('/' or not). '+' joins attributes into
 * one multi-valued RDN; '\' escapes the next character, "\XX" is the byte XX. Attribute
 * types are short names (CN, O, OU, C, L, ST, DC, UID, emailAddress, serialNumber...)
 * or dotted OIDs. Values are UTF-8. In the RFC 4514 form only, a value may be empty and
 * "#" followed by hex is the DER of the value's string (RFC 4514 §2.4). Fails with
 * SCEP_EINVAL naming the offending part.
 */
SCEP_EXPORT int scep_dn_parse(X509_NAME **out, const char *dn) SCEP_MUST_CHECK;

/*
 * Formats a name as an RFC 4514 string, most specific RDN first, UTF-8 kept as is and
 * control characters as "\XX" (caller frees with OPENSSL_free). scep_dn_parse() reads
 * it back to a name X509_NAME_cmp() finds equal, as long as each value keeps to its
 * attribute's size rules (scep_dn_parse() refuses "C=DEU" whoever wrote it).
 */
SCEP_EXPORT int scep_dn_format(char **out, const X509_NAME *name) SCEP_MUST_CHECK;

/* ---- subjectAltName text ------------------------------------------------------------------- */

/* Longest text of one subjectAltName value accepted by scep_san_parse. */
#define SCEP_SAN_VALUE_MAX 1024
/* Most entries scep_san_parse accepts. */
#define SCEP_SAN_MAX_ENTRIES 64

/*
 * Parses "dns:host.example,ip:192.0.2.1,email:a@b.example,uri:https://x/,upn:user@corp"
 * into GENERAL_NAMES, in the order written. Items are separated by ',' or '\n'; blanks
 * (space, tab, CR) around items are ignored, and so are empty items; the prefix (dns, ip,
 * email, uri, upn) is case-insensitive. "\xHH" in a value stands for the byte HH (how
 * scep_san_format writes ',', '\' and bytes outside printable ASCII), so whatever that
 * function wrote for these five types parses back to the same names; any other '\' is
 * refused. Each value is at most SCEP_SAN_VALUE_MAX characters as written and is checked:
 *  - dns: LDH labels of 1..63 characters (letters, digits, '-' not first or last), an
 *    optional leading "*." wildcard, at most 253 characters;
 *  - ip: IPv4 dotted quad or IPv6 (inet_pton), stored as 4 or 16 octets;
 *  - email: printable ASCII without blanks, exactly one '@' with text on both sides;
 *  - uri: printable ASCII without blanks, starting with a scheme (RFC 3986 §3.1) and ':';
 *  - upn: valid UTF-8 without control characters (C0, DEL, C1), non-empty; it becomes an
 *    otherName msUPN (1.3.6.1.4.1.311.20.2.3) holding a UTF8String.
 * A NULL, empty or blank text gives an empty (non-NULL) stack. More than
 * SCEP_SAN_MAX_ENTRIES entries, an unknown prefix or a value that fails its check gives
 * SCEP_EINVAL with a message naming the offending item. *out is the caller's
 * (GENERAL_NAMES_free).
 */
SCEP_EXPORT int scep_san_parse(GENERAL_NAMES **out, const char *text) SCEP_MUST_CHECK;

/*
 * The inverse: "dns:a,ip:192.0.2.1,..." with `separator` between items (',' for people,
 * '\n' for storage). Every type is written, not only the five above: an otherName of
 * another OID as "othername:OID", a directoryName as "dirname:" + its scep_dn_format()
 * text, a registeredID as "rid:OID", an x400Address / ediPartyName as "x400:" / "edi:"
 * followed by the hex of its DER, an iPAddress that is neither 4 nor 16 octets as "ip:"
 * followed by hex. In values, control characters, DEL and bytes above 0x7E (except valid
 * UTF-8 in a UPN or a directoryName, which is kept) are written as \xHH, so the text is
 * safe for a log line; so are '\' and ',' (except in a directoryName, whose RFC 4514 text
 * is kept readable), so the five parseable types split unambiguously. No entries: "".
 * *out is the caller's (OPENSSL_free).
 */
SCEP_EXPORT int scep_san_format(char **out, const GENERAL_NAMES *names,
                                char separator) SCEP_MUST_CHECK;

/*
 * Whether two names are the same name: 1 equal, 0 not (also when either is NULL).
 *  - dNSName: ASCII case-insensitively;
 *  - rfc822Name: the local part (before the last '@') exactly, the domain ASCII
 *    case-insensitively (RFC 5280 §7.5); without '@' all case-insensitively;
 *  - iPAddress: by octets;
 *  - UPN (otherName msUPN with a UTF8String): by exact UTF-8 bytes;
 *  - everything else: GENERAL_NAME_cmp().
 */
SCEP_EXPORT int scep_san_equal(const GENERAL_NAME *a, const GENERAL_NAME *b);

/* ---- Serial numbers ------------------------------------------------------------------------ */

/* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
#define SCEP_SERIAL_MAX_OCTETS 20
/* Upper-case hex of up to 20 octets plus the terminating NUL. */
#define SCEP_SERIAL_HEX_MAX (2 * SCEP_SERIAL_MAX_OCTETS + 1)
/* Octets drawn from the CSPRNG for a fresh serial (top bit cleared: 127 bits of entropy). */
#define SCEP_SERIAL_RANDOM_OCTETS 16

/*
 * A fresh serial: SCEP_SERIAL_RANDOM_OCTETS from RAND_bytes, top bit cleared so it is
 * positive, never zero. `out_hex` (may be NULL) receives the upper-case hex form.
 * Uniqueness is the database's job: on a collision the caller draws again.
 */
SCEP_EXPORT int scep_serial_new(ASN1_INTEGER **out,
                                char out_hex[SCEP_SERIAL_HEX_MAX]) SCEP_MUST_CHECK;

/* Upper-case hex, two digits per octet ("0A1B..."); SCEP_EINVAL if not positive or > 20 octets. */
SCEP_EXPORT int scep_serial_to_hex(char out[SCEP_SERIAL_HEX_MAX],
                                   const ASN1_INTEGER *serial) SCEP_MUST_CHECK;

/* Parses hex (either case, optional "0x", optional ':' separators) into a valid serial. */
SCEP_EXPORT int scep_serial_from_hex(ASN1_INTEGER **out, const char *hex) SCEP_MUST_CHECK;

/* 0 when `serial` is positive and at most 20 octets, else SCEP_EINVAL with a message. */
SCEP_EXPORT int scep_serial_check(const ASN1_INTEGER *serial) SCEP_MUST_CHECK;

/* ---- Files: certificates, chains, keys ----------------------------------------------------- */

/* Largest certificate, chain or key file read. */
#define SCEP_PKI_FILE_MAX (1024 * 1024)
/* Longest passphrase read from a passphrase file. */
#define SCEP_PASSPHRASE_MAX 1024

typedef enum scep_encoding { SCEP_ENCODING_PEM = 0, SCEP_ENCODING_DER = 1 } scep_encoding;

/* Loads the first certificate of a PEM or DER file (detected from the content). */
SCEP_EXPORT int scep_cert_load(X509 **out, const char *path) SCEP_MUST_CHECK;

/* Decodes one certificate from PEM or DER bytes. */
SCEP_EXPORT int scep_cert_decode(X509 **out, const unsigned char *data, size_t len) SCEP_MUST_CHECK;

/* Loads every certificate of a PEM file (or the single one of a DER file), in file order. */
SCEP_EXPORT int scep_chain_load(STACK_OF(X509) * *out, const char *path) SCEP_MUST_CHECK;

/*
 * Writes a certificate / certificates (PEM: all, in order; DER: only one allowed).
 * The file is replaced atomically (written beside it, then renamed), mode 0644.
 */
SCEP_EXPORT int scep_cert_save(const char *path, const X509 *cert,
                               scep_encoding encoding) SCEP_MUST_CHECK;
SCEP_EXPORT int scep_chain_save(const char *path, const STACK_OF(X509) * certs) SCEP_MUST_CHECK;

/*
 * Reads the first line of a passphrase file (without its line ending) into a
 * buffer the caller wipes and frees with OPENSSL_clear_free(*out, *out_len).
 */
SCEP_EXPORT int scep_passphrase_load(char **out, size_t *out_len, const char *path) SCEP_MUST_CHECK;

/*
 * Loads a PEM (PKCS#8, traditional, or encrypted) or DER private key. `passphrase`
 * may be NULL for an unencrypted key; an encrypted key without one fails with
 * SCEP_EINVAL and never prompts. A wrong passphrase fails with SCEP_EDECRYPT.
 * No permission check: see scep_key_file_check() and scep_ca_load().
 */
SCEP_EXPORT int scep_key_load(EVP_PKEY **out, const char *path,
                              const char *passphrase) SCEP_MUST_CHECK;

/*
 * Writes a private key as PKCS#8 PEM, encrypted with AES-256-CBC when `passphrase`
 * is non-NULL. The file is created with open(O_CREAT|O_EXCL, 0600), so it is never
 * readable by others, not even briefly; an existing file is not overwritten
 * (SCEP_EEXISTS).
 */
SCEP_EXPORT int scep_key_save(const char *path, const EVP_PKEY *key,
                              const char *passphrase) SCEP_MUST_CHECK;

/*
 * Refuses a private key file that is group- or world-accessible (mode & 077) or not
 * owned by the effective uid: SCEP_EPERM, with the path, the mode and the owner in the
 * message. Also SCEP_EIO when the file cannot be opened, SCEP_EINVAL when it is not a
 * regular file.
 */
SCEP_EXPORT int scep_key_file_check(const char *path) SCEP_MUST_CHECK;

/* ---- Key references: a file or a key in a PKCS#11 token ----------------------------------- */

typedef enum scep_key_type { SCEP_KEY_RSA = 1, SCEP_KEY_EC = 2 } scep_key_type;

/*
 * The PKCS#11 module (shared object path) and PIN file used for `pkcs11:` references
 * that do not name their own (RFC 7512 module-path, pin-source). Either may be NULL.
 * Call before loading a token key; copies both strings. The PIN file is read at each
 * login and must pass scep_key_file_check(). Process-wide, as a PKCS#11 module is.
 */
SCEP_EXPORT int scep_pkcs11_configure(const char *module_path,
                                      const char *pin_file) SCEP_MUST_CHECK;

/* 1 when `ref` is a `pkcs11:` URI (RFC 7512), 0 otherwise (a file path). */
SCEP_EXPORT int scep_key_ref_is_pkcs11(const char *ref);

#define SCEP_KEY_OPEN_CHECK_FILE 0x1u /* a file must pass scep_key_file_check() */

/*
 * Opens the private key a reference names: a `pkcs11:` URI goes to the token (login
 * once, key non-extractable: the EVP_PKEY signs and decrypts through the token), a
 * path (optionally prefixed `file:`) is read as scep_key_load() does, unencrypted.
 * A wrong PIN fails with SCEP_EPERM, an absent token or key with SCEP_EUNAVAILABLE or
 * SCEP_ENOTFOUND. Messages never contain the PIN.
 */
SCEP_EXPORT int scep_key_open(EVP_PKEY **out, const char *ref, unsigned flags) SCEP_MUST_CHECK;

/*
 * The key to use now for a key from scep_key_open(): `key` itself for a file key;
 * for a token key, the object of the token's current login. Every few seconds one
 * caller checks the token with a test signature and, when that fails, logs in again
 * and finds the key anew, so that after a token was unplugged or restarted signing
 * resumes without a restart. Borrowed; stays valid as long as `key` does.
 */
SCEP_EXPORT EVP_PKEY *scep_key_current(EVP_PKEY *key);

/* 1 when `key` came from a token (scep_key_open of a `pkcs11:` URI). */
SCEP_EXPORT int scep_key_is_token(const EVP_PKEY *key);

/*
 * Generates a key pair inside the token a `pkcs11:` URI names (token= and object=,
 * optionally id=): RSA with `rsa_bits` or EC on `curve` ("P-256", "P-384"). The private
 * key is sensitive and non-extractable. Refuses (SCEP_EEXISTS) when the token already
 * holds a private key with that label or id. On success `*out` is the new key, as
 * scep_key_open() would return it.
 */
SCEP_EXPORT int scep_pkcs11_generate(EVP_PKEY **out, const char *uri, scep_key_type type,
                                     unsigned rsa_bits, const char *curve) SCEP_MUST_CHECK;

/* ---- The CA object ------------------------------------------------------------------------- */

/*
 * A loaded CA: certificate, private key and the chain above it (intermediate CAs up to,
 * possibly, the root). Built once, then read-only.
 *
 * Thread safety: every function taking a `const scep_ca *` may be called concurrently
 * from any number of threads on one scep_ca (issuing and CRL signing use a fresh
 * signing context per call over the shared EVP_PKEY; certificate extension caches are
 * filled at load time). Freeing must wait until no thread uses it.
 */
typedef struct scep_ca scep_ca;

/*
 * Warnings about a CA that still works (flags in `*out_warnings`). Turn each flag into
 * a sentence with scep_ca_warning_text(). interop.md §17: Cryptlib-style clients and Cisco
 * PIX need digitalSignature and keyEncipherment on the CA certificate.
 */
#define SCEP_CA_WARN_NO_DIGITAL_SIGNATURE 0x01u /* keyUsage lacks digitalSignature */
#define SCEP_CA_WARN_NO_KEY_ENCIPHERMENT  0x02u /* keyUsage lacks keyEncipherment */
#define SCEP_CA_WARN_NOT_RSA              0x04u /* SCEP clients cannot encrypt to this key */
#define SCEP_CA_WARN_EXPIRED              0x08u /* notAfter is in the past */
#define SCEP_CA_WARN_NOT_YET_VALID        0x10u /* notBefore is in the future */
#define SCEP_CA_WARN_NO_SKI               0x20u /* no subjectKeyIdentifier; AKI uses a key hash */
#define SCEP_CA_WARN_CHAIN_ORDER          0x40u /* chain certificate i+1 did not issue i */

/* One sentence for one SCEP_CA_WARN_* flag; "" for an unknown flag. Static string. */
SCEP_EXPORT const char *scep_ca_warning_text(unsigned warning);

typedef struct scep_ca_create_options {
    const char *subject;    /* DN, either form of scep_dn_parse(); required */
    scep_key_type key_type; /* default SCEP_KEY_RSA */
    unsigned rsa_bits;      /* 2048, 3072 or 4096; 0 means 3072 */
    /*
     * "P-256" or "P-384" for SCEP_KEY_EC; NULL means P-256. An EC CA can sign but not
     * decrypt: SCEP (RFC 8894 §3.1) encrypts requests to the CA with RSA key transport,
     * so an EC CA needs an RSA RA certificate in front of it.
     */
    const char *ec_curve;
    unsigned validity_days; /* 0 means 3650 (ten years); at most 36500 */
    /*
     * NULL: the key is generated in memory. A `pkcs11:` URI: the key is generated in
     * that token (scep_pkcs11_generate) and never leaves it; save the CA with a NULL
     * key path and store the URI as its key reference.
     */
    const char *key_uri;
} scep_ca_create_options;

/* Fills `options` with the defaults above (subject NULL). */
SCEP_EXPORT void scep_ca_create_options_init(scep_ca_create_options *options);

/*
 * Creates a self-signed root CA in memory: fresh key, SHA-256 signature, random
 * serial, basicConstraints critical CA:TRUE, keyUsage critical keyCertSign, cRLSign,
 * digitalSignature and (RSA only; RFC 5480 §3 forbids it for EC) keyEncipherment,
 * subjectKeyIdentifier and authorityKeyIdentifier. Save it with scep_ca_save().
 */
SCEP_EXPORT int scep_ca_create(scep_ca **out,
                               const scep_ca_create_options *options) SCEP_MUST_CHECK;

/*
 * Builds a CA from objects in memory; takes its own references to `cert`, `key` and
 * each chain certificate (`chain` may be NULL). Checks that the key matches the
 * certificate (SCEP_EINVAL), that the certificate is a CA (basicConstraints CA:TRUE
 * and, when keyUsage is present, keyCertSign; SCEP_EINVAL) and that the key is RSA or
 * EC (SCEP_EBADALG). Everything else is reported in `*out_warnings` (may be NULL).
 */
SCEP_EXPORT int scep_ca_new(scep_ca **out, unsigned *out_warnings, X509 *cert, EVP_PKEY *key,
                            STACK_OF(X509) * chain) SCEP_MUST_CHECK;

/*
 * Imports a CA from files: `cert_path` holds the CA certificate in PEM, optionally
 * followed by the chain above it (or a single DER certificate); `key_path` the private
 * key (PEM, possibly encrypted); `passphrase_path` (may be NULL) a file whose first line
 * is the passphrase. No permission check on the key file: it is the operator's own
 * source file. Checks as scep_ca_new().
 */
SCEP_EXPORT int scep_ca_import(scep_ca **out, unsigned *out_warnings, const char *cert_path,
                               const char *key_path, const char *passphrase_path) SCEP_MUST_CHECK;

/*
 * Loads a CA for serving: as scep_ca_import(), but the key file (and the passphrase
 * file, when given) must first pass scep_key_file_check(); the check is made on the
 * same open file the key is then read from.
 */
SCEP_EXPORT int scep_ca_load(scep_ca **out, unsigned *out_warnings, const char *cert_path,
                             const char *key_path, const char *passphrase_path) SCEP_MUST_CHECK;

/*
 * Writes the CA certificate (followed by its chain) as PEM to `cert_path` and the key
 * with scep_key_save() (mode 0600, never overwrites; encrypted when `passphrase` is
 * non-NULL). The key is written first, so an existing key file stops the whole save.
 * `key_path` NULL writes only the certificates (a token key stays in its token).
 */
SCEP_EXPORT int scep_ca_save(const scep_ca *ca, const char *cert_path, const char *key_path,
                             const char *passphrase) SCEP_MUST_CHECK;

/* Borrowed: the CA certificate, its private key, and the chain above it (never NULL,
 * possibly empty). The key is not const because OpenSSL's signing calls take it so;
 * callers must not modify it. */
SCEP_EXPORT X509 *scep_ca_cert(const scep_ca *ca);
SCEP_EXPORT EVP_PKEY *scep_ca_key(const scep_ca *ca);
SCEP_EXPORT STACK_OF(X509) * scep_ca_chain(const scep_ca *ca);

/* Accepts NULL. */
SCEP_EXPORT void scep_ca_free(scep_ca *ca);

/* ---- Certificate profiles ------------------------------------------------------------------ */

/* Where the issued certificate's subject comes from. */
typedef enum scep_subject_source {
    SCEP_SUBJECT_FROM_CSR = 0, /* the CSR's subject, as requested */
    SCEP_SUBJECT_FROM_DN = 1   /* scep_issue_request.subject (the registered end entity) */
} scep_subject_source;

/* subjectAltName types that may be copied from the CSR's extensionRequest. */
#define SCEP_SAN_DNS   0x01u
#define SCEP_SAN_IP    0x02u
#define SCEP_SAN_EMAIL 0x04u /* rfc822Name */
#define SCEP_SAN_URI   0x08u
#define SCEP_SAN_UPN   0x10u /* otherName 1.3.6.1.4.1.311.20.2.3, Microsoft UPN */
#define SCEP_SAN_ALL   0x1fu

/* Elliptic curves accepted in requests. */
#define SCEP_CURVE_P256 0x01u
#define SCEP_CURVE_P384 0x02u

/*
 * What an issued certificate looks like and which requests qualify. The strings are
 * borrowed; the profile must outlive the calls that use it.
 */
typedef struct scep_profile {
    unsigned validity_days;    /* 1..36500; notAfter is capped at the CA's notAfter */
    unsigned backdate_seconds; /* notBefore = now - backdate, for clients with slow clocks */
    /*
     * keyUsage (critical), comma-separated RFC 5280 names: digitalSignature,
     * nonRepudiation (contentCommitment), keyEncipherment, dataEncipherment,
     * keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly. NULL or "": none.
     */
    const char *key_usage;
    /*
     * extendedKeyUsage (not critical), comma-separated: serverAuth, clientAuth,
     * emailProtection, codeSigning, timeStamping, OCSPSigning, ipsecIKE, ipsecEndSystem,
     * ipsecTunnel, ipsecUser, msSmartcardLogin, ... or dotted OIDs. NULL or "": none.
     */
    const char *extended_key_usage;
    scep_subject_source subject_source;
    unsigned copy_san_types;            /* SCEP_SAN_* mask; 0: no SAN is copied */
    const char *crl_distribution_point; /* URL, or NULL for no CRL DP extension */
    unsigned min_rsa_bits;              /* refuse smaller RSA keys; >= 1024 */
    unsigned max_rsa_bits;              /* refuse larger RSA keys (cost of use); <= 16384 */
    unsigned allowed_curves;            /* SCEP_CURVE_* mask; 0: EC keys refused */
} scep_profile;

/*
 * The default profile: 365 days, 5 minutes backdate, keyUsage digitalSignature +
 * keyEncipherment, EKU clientAuth, subject from the CSR, DNS/IP/email/URI/UPN SANs
 * copied, no CRL DP, RSA 2048..8192, curves P-256 and P-384.
 */
SCEP_EXPORT void scep_profile_init(scep_profile *profile);

/* Validates every field (names, bounds, URL syntax): 0 or SCEP_ECONFIG with a message. */
SCEP_EXPORT int scep_profile_check(const scep_profile *profile) SCEP_MUST_CHECK;

/* ---- Issuing ------------------------------------------------------------------------------- */

/*
 * Supplies the serial for a certificate about to be issued (e.g. reserved in the
 * database). Returns 0 and a new ASN1_INTEGER in `*out`, or a negative SCEP_E* code.
 */
typedef int (*scep_serial_cb)(ASN1_INTEGER **out, void *payload);

typedef struct scep_issue_request {
    X509_REQ *csr; /* required; its signature is verified; not modified */
    /* Required with SCEP_SUBJECT_FROM_DN, ignored with SCEP_SUBJECT_FROM_CSR. */
    const X509_NAME *subject;
    /*
     * The serial, in order of precedence: `serial` when non-NULL, else `serial_cb`,
     * else a fresh scep_serial_new(). To retry after a uniqueness conflict, call
     * scep_ca_issue() again with a new serial.
     */
    const ASN1_INTEGER *serial;
    scep_serial_cb serial_cb;
    void *serial_payload;
    time_t now; /* issuance time; 0 means time(NULL) */
    /*
     * A dNSName added to the subjectAltName whatever the profile copies (Cisco PIX/IOS
     * put their host name in the subject's unstructuredName only); NULL: none. Letters,
     * digits, '-', '.', '_' and '*' only (SCEP_EPOLICY otherwise); skipped when the CSR
     * already asks for it.
     */
    const char *extra_dns_name;
    /*
     * The subjectAltNames the certificate carries, as the caller's name policy decided
     * them (scepd's enrollment pipeline). Non-NULL: exactly these (an empty stack: no
     * subjectAltName extension); the CSR's are not looked at and `extra_dns_name` is
     * ignored. NULL: the CSR's, as far as the profile's copy_san_types allows.
     */
    const STACK_OF(GENERAL_NAME) * sans;
    /*
     * Non-zero: the caller verified the CSR's signature (proof of possession, RFC 8894
     * §3.3.1) when the request arrived, and `csr` may be a stored copy whose signature no
     * longer verifies (its challengePassword removed so no secret is kept). 0: verified here.
     */
    int proof_verified;
} scep_issue_request;

/*
 * Issues a certificate for `request->csr` under `profile`, signed with SHA-256:
 *  - CSR signature must verify (SCEP_EBADCSR);
 *  - key type and size must fit the profile (SCEP_EPOLICY, message says why);
 *  - subject from the CSR or the supplied DN; an empty subject needs a SAN, which
 *    is then marked critical (RFC 5280 §4.2.1.6), else SCEP_EPOLICY;
 *  - subjectAltName entries of the allowed types are copied from the CSR's
 *    extensionRequest; other types are dropped; IA5 names containing NUL are refused;
 *  - basicConstraints critical CA:FALSE, keyUsage, extendedKeyUsage, SKI, AKI (keyid
 *    of the CA's SKI) and the CRL DP come from the profile; no other CSR extension is
 *    ever copied (a CSR asking for CA:TRUE gets CA:FALSE).
 */
SCEP_EXPORT int scep_ca_issue(X509 **out, const scep_ca *ca, const scep_profile *profile,
                              const scep_issue_request *request) SCEP_MUST_CHECK;

/* ---- CRLs ---------------------------------------------------------------------------------- */

/* CRLReason, RFC 5280 §5.3.1. Unspecified (0) is written without a reasonCode. */
typedef enum scep_crl_reason {
    SCEP_CRL_REASON_UNSPECIFIED = 0,
    SCEP_CRL_REASON_KEY_COMPROMISE = 1,
    SCEP_CRL_REASON_CA_COMPROMISE = 2,
    SCEP_CRL_REASON_AFFILIATION_CHANGED = 3,
    SCEP_CRL_REASON_SUPERSEDED = 4,
    SCEP_CRL_REASON_CESSATION_OF_OPERATION = 5,
    SCEP_CRL_REASON_CERTIFICATE_HOLD = 6,
    SCEP_CRL_REASON_REMOVE_FROM_CRL = 8,
    SCEP_CRL_REASON_PRIVILEGE_WITHDRAWN = 9,
    SCEP_CRL_REASON_AA_COMPROMISE = 10
} scep_crl_reason;

typedef struct scep_crl_entry {
    const ASN1_INTEGER *serial; /* borrowed */
    time_t revocation_time;
    scep_crl_reason reason;
} scep_crl_entry;

typedef struct scep_crl_params {
    uint64_t crl_number; /* cRLNumber, RFC 5280 §5.2.3: increases with each CRL */
    time_t this_update;  /* 0 means now */
    time_t next_update;  /* 0 means this_update + 7 days */
} scep_crl_params;

/*
 * Builds and signs (SHA-256) a v2 CRL for `ca` listing `entries` (sorted by serial),
 * with cRLNumber and authorityKeyIdentifier. `entries` may be NULL when `n_entries`
 * is 0.
 */
SCEP_EXPORT int scep_ca_crl(X509_CRL **out, const scep_ca *ca, const scep_crl_entry *entries,
                            size_t n_entries, const scep_crl_params *params) SCEP_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif /* SCEP_CA_H */
