/*
 * Keys in a PKCS#11 token: the parts of the CA module that talk to the token
 * (p11.c through libp11, p11_keygen.c through the module's own function list)
 * and the RFC 7512 URI parser they share.
 */
#ifndef SCEP_CA_P11_INTERNAL_H
#define SCEP_CA_P11_INTERNAL_H

#include <stddef.h>

#include <openssl/evp.h>

#include "scep/ca.h"

#define SCEP_P11_URI_PREFIX "pkcs11:"
#define SCEP_P11_URI_MAX    2048
#define SCEP_P11_PIN_MAX    256

struct scep_p11_uri {
    char *token;  /* token label */
    char *serial; /* token serial number */
    char *object; /* key label */
    unsigned char *id;
    size_t id_len;
    char *pin_file;    /* pin-source=file:... */
    char *module_path; /* module-path=... */
};

int scep_p11_uri_parse(struct scep_p11_uri *out, const char *text) SCEP_MUST_CHECK;
void scep_p11_uri_clear(struct scep_p11_uri *uri);

/*
 * The module and PIN file a URI resolves to: its own module-path and
 * pin-source, else the configured ones. Borrowed.
 */
int scep_p11_resolve(const char **out_module, const char **out_pin_file,
                     const struct scep_p11_uri *uri) SCEP_MUST_CHECK;

/* Reads the PIN (first line of a 0600 file of ours); free with OPENSSL_clear_free. */
int scep_p11_read_pin(char **out, size_t *out_len, const char *pin_file) SCEP_MUST_CHECK;

/* Generates a non-extractable key pair in the token the URI names (p11_keygen.c). */
int scep_p11_keygen(const struct scep_p11_uri *uri, const char *module, const char *pin,
                    scep_key_type type, unsigned rsa_bits, const char *curve) SCEP_MUST_CHECK;

#endif
