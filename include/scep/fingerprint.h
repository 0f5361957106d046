/*
 * Certificate fingerprints, as operators compare them out of band (Apple
 * profiles and sscep offer MD5, SHA-1, SHA-256 and SHA-512).
 */
#ifndef SCEP_FINGERPRINT_H
#define SCEP_FINGERPRINT_H

#include <openssl/x509.h>

#include "scep/common.h"
#include "scep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum scep_fingerprint_alg {
    SCEP_FINGERPRINT_MD5 = 1,
    SCEP_FINGERPRINT_SHA1,
    SCEP_FINGERPRINT_SHA256,
    SCEP_FINGERPRINT_SHA512
} scep_fingerprint_alg;

/* Upper-case hex fingerprint of the DER certificate with ':' between octets.
 * Caller frees with OPENSSL_free. */
SCEP_EXPORT int scep_cert_fingerprint(char **out, const X509 *cert,
                                      scep_fingerprint_alg alg) SCEP_MUST_CHECK;

/* "md5", "sha1", "sha-256", "SHA512"... case-insensitive. */
SCEP_EXPORT int scep_fingerprint_alg_from_name(scep_fingerprint_alg *out,
                                               const char *name) SCEP_MUST_CHECK;

/*
 * Compares `cert`'s fingerprint with `hex` (colons, spaces and dashes ignored,
 * any case) in constant time: 0 when equal, SCEP_EVERIFY when not.
 */
SCEP_EXPORT int scep_cert_check_fingerprint(const X509 *cert, const char *hex,
                                            scep_fingerprint_alg alg) SCEP_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif /* SCEP_FINGERPRINT_H */
