/*
 * RA certificates (RFC 8894 §2.1.1, interop.md §13, §14, §17): an alias may speak SCEP
 * with a separate RA certificate and key instead of its CA's own key. GetCACert
 * then sends the RA certificate(s) first, requests are decrypted with the RA
 * encryption key (the CA keys stay candidates, interop.md §9) and CertRep replies are
 * signed by the RA signing certificate. The CA still issues.
 *
 * `ALIAS.ra.cert`/`ALIAS.ra.key`: one RA certificate for both (digitalSignature +
 * keyEncipherment). With `ALIAS.ra.signcert`/`ALIAS.ra.signkey` too, ra.cert is the
 * encryption certificate and ra.signcert the signing one (NDES's split RA).
 */
#ifndef SCEPD_RACERT_H
#define SCEPD_RACERT_H

#include "scepd/state/server.h"

struct scepd_racert {
    X509 *enc_cert; /* the certificate clients encrypt to */
    EVP_PKEY *enc_key;
    X509 *sign_cert; /* signs CertRep; the same objects as enc_* for a single RA */
    EVP_PKEY *sign_key;
};

/*
 * Loads the alias's RA certificate(s) when configured (alias->ra stays NULL
 * otherwise). Refuses (SCEP_ECONFIG) a key failing scep_key_file_check(), a key not
 * matching its certificate, or a certificate the alias's CA did not issue; warns
 * when the key usage is missing.
 */
int scepd_racert_load(struct scepd_alias *alias) SCEP_MUST_CHECK;
void scepd_racert_free(struct scepd_racert *ra);

/*
 * GetCACert with an RA: certs-only, application/x-x509-ca-ra-cert, the RA
 * certificate(s) first (encryption, then signing), then `ca` and its chain (the root
 * only with includeroot). *out is the caller's (OPENSSL_free).
 */
int scepd_racert_ca_cert_body(unsigned char **out, size_t *out_len, const char **out_type,
                              const struct scepd_racert *ra, const scep_ca *ca,
                              int includeroot) SCEP_MUST_CHECK;

#endif
