/*
 * GetCACaps (RFC 8894 §3.5): formatting a server's capability set and reading
 * one, and choosing the algorithms a client should use.
 */
#ifndef SCEP_CAPS_H
#define SCEP_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "scep/common.h"
#include "scep/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One bit per keyword; order here is the order scep_caps_format writes them. */
#define SCEP_CAP_AES                (1u << 0)
#define SCEP_CAP_DES3               (1u << 1)
#define SCEP_CAP_GET_NEXT_CA_CERT   (1u << 2)
#define SCEP_CAP_POST_PKI_OPERATION (1u << 3)
#define SCEP_CAP_RENEWAL            (1u << 4)
#define SCEP_CAP_SHA1               (1u << 5)
#define SCEP_CAP_SHA256             (1u << 6)
#define SCEP_CAP_SHA384             (1u << 7) /* not in RFC 8894; strongSwan requires it */
#define SCEP_CAP_SHA512             (1u << 8)
#define SCEP_CAP_SCEP_STANDARD      (1u << 9)
#define SCEP_CAP_UPDATE             (1u << 10) /* draft name of Renewal, still read by old clients */

typedef uint32_t scep_caps;

/*
 * Reads a GetCACaps reply: keywords separated by LF or CRLF (or other
 * whitespace), matched case-insensitively, unknown words ignored. An empty
 * reply is no capabilities (RFC 8894 §3.5.2).
 */
SCEP_EXPORT int scep_caps_parse(scep_caps *out, const char *text, size_t len) SCEP_MUST_CHECK;

/*
 * Writes the keywords of `caps` in their exact RFC spelling, each followed by
 * "\n". Caller frees with OPENSSL_free.
 */
SCEP_EXPORT int scep_caps_format(char **out, size_t *out_len, scep_caps caps) SCEP_MUST_CHECK;

/*
 * Capabilities including those implied: SCEPStandard implies AES, SHA-256 and
 * POSTPKIOperation; Update is Renewal.
 */
SCEP_EXPORT scep_caps scep_caps_effective(scep_caps caps);

/*
 * The strongest digest the server advertises: SHA-512 > SHA-384 > SHA-256 >
 * SHA-1. When none is advertised, SCEP_EBADALG, unless `allow_legacy`: then
 * MD5, the draft's default. A client never falls to MD5 silently.
 */
SCEP_EXPORT int scep_caps_choose_digest(scep_digest *out, scep_caps caps,
                                        int allow_legacy) SCEP_MUST_CHECK;

/*
 * The strongest cipher: AES-256 when AES is advertised (servers that speak AES
 * decrypt every key size through CMS) unless `prefer_aes128`, else DES3.
 * When neither is advertised, SCEP_EBADALG, unless `allow_legacy`: then
 * single DES, the draft's default.
 */
SCEP_EXPORT int scep_caps_choose_cipher(scep_cipher *out, scep_caps caps, int allow_legacy,
                                        int prefer_aes128) SCEP_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif /* SCEP_CAPS_H */
