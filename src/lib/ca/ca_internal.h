/*
 * Internal parts of the CA module shared between its files: the scep_ca
 * structure, file I/O with size limits, and certificate extension builders.
 */
#ifndef SCEP_CA_INTERNAL_H
#define SCEP_CA_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scep/ca.h"

struct scep_ca {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) * chain; /* never NULL, possibly empty */
};

/* ---- issue.c ---- */

/*
 * scep_ca_issue for a certificate that is only encoded (stored, sent), never used as a
 * key: its SubjectPublicKeyInfo is the CSR's as received and X509_get0_pubkey() of it is
 * NULL. Cheaper with OpenSSL 3.0 (no encoder and decoder for the key).
 */
int scep_ca_issue_encoded(X509 **out, const scep_ca *ca, const scep_profile *profile,
                          const scep_issue_request *request) SCEP_MUST_CHECK;

/* ---- pki_io.c ---- */

/*
 * Reads a whole file of at most `max` bytes into a buffer the caller frees with
 * OPENSSL_clear_free(*out, *out_len) (it may hold a key). `fd` >= 0 reads from that
 * open file instead of opening `path` (which then only names it in messages).
 */
int scep_pki_read_file(unsigned char **out, size_t *out_len, int fd, const char *path,
                       size_t max) SCEP_MUST_CHECK;

/*
 * Opens a key or passphrase file and applies scep_key_file_check()'s rules to the
 * open file; `what` ("private key file") names it in messages.
 */
int scep_pki_open_checked(int *out_fd, const char *path, const char *what) SCEP_MUST_CHECK;

/* Decoders over bytes; `what` names the source in messages. */
int scep_pki_decode_key(EVP_PKEY **out, const unsigned char *data, size_t len, const char *what,
                        const char *passphrase) SCEP_MUST_CHECK;
int scep_pki_decode_chain(STACK_OF(X509) * *out, const unsigned char *data, size_t len,
                          const char *what) SCEP_MUST_CHECK;
/* First line of a passphrase file's bytes, NUL-terminated; free with OPENSSL_clear_free. */
int scep_pki_decode_passphrase(char **out, size_t *out_len, const unsigned char *data, size_t len,
                               const char *what) SCEP_MUST_CHECK;

/* Writes `path` through a temporary file and rename(), created with `mode`. */
int scep_pki_write_atomic(const char *path, const unsigned char *data, size_t len,
                          mode_t mode) SCEP_MUST_CHECK;

/* ---- ext.c ---- */

#define SCEP_KU_BIT(n) (1u << (n)) /* RFC 5280 §4.2.1.3 bit numbers */

/* Parses a keyUsage name list into SCEP_KU_BIT() flags / an EKU list into OIDs. */
int scep_ext_parse_key_usage(unsigned *out, const char *list) SCEP_MUST_CHECK;
int scep_ext_parse_eku(STACK_OF(ASN1_OBJECT) * *out, const char *list) SCEP_MUST_CHECK;

int scep_ext_add_basic_constraints(X509 *cert, int is_ca) SCEP_MUST_CHECK;
int scep_ext_add_key_usage(X509 *cert, unsigned bits) SCEP_MUST_CHECK;
int scep_ext_add_eku(X509 *cert, STACK_OF(ASN1_OBJECT) * eku) SCEP_MUST_CHECK;
/* SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2 method 1). */
int scep_ext_key_id(ASN1_OCTET_STRING **out, const X509 *cert) SCEP_MUST_CHECK;
/* The issuer's key id: its subjectKeyIdentifier, else scep_ext_key_id(). */
int scep_ext_issuer_key_id(ASN1_OCTET_STRING **out, X509 *issuer) SCEP_MUST_CHECK;
int scep_ext_add_ski(X509 *cert, const ASN1_OCTET_STRING *key_id) SCEP_MUST_CHECK;
/* Builds an AKI holding only keyIdentifier; free with AUTHORITY_KEYID_free. */
int scep_ext_aki(AUTHORITY_KEYID **out, const ASN1_OCTET_STRING *key_id) SCEP_MUST_CHECK;
int scep_ext_add_aki(X509 *cert, const ASN1_OCTET_STRING *key_id) SCEP_MUST_CHECK;
int scep_ext_add_crl_dp(X509 *cert, const char *url) SCEP_MUST_CHECK;

/* A URL acceptable in a CRL distribution point (http, https, ldap; no spaces). */
int scep_ext_check_url(const char *url) SCEP_MUST_CHECK;

#endif /* SCEP_CA_INTERNAL_H */
