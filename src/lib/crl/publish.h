/*
 * A CA's current CRL (RFC 5280 §5), shared by scepd (GetCRL, /crl/NAME.crl)
 * and scepctl (cert revoke, crl generate): the stored CRL while it is current,
 * otherwise a new one signed by the CA and stored in the same write
 * transaction that hands out its cRLNumber. Internal to scepd and scepctl.
 */
#ifndef SCEP_CRL_PUBLISH_H
#define SCEP_CRL_PUBLISH_H

#include "scep/ca.h"
#include "scep/store.h"

#include <stdint.h>

/* The global settings crl_validity and crl_regenerate_before, in seconds. */
struct scep_crl_timing {
    int64_t validity;          /* nextUpdate - thisUpdate */
    int64_t regenerate_before; /* a CRL this close to nextUpdate is replaced */
};

/*
 * 1 when `crl` may still be served at `now`: it exists, lists as many revoked
 * certificates as the CA has (revocations are never undone), and `now` is before
 * nextUpdate - regenerate_before (regenerate_before is capped at half the
 * validity, so a CRL is served for at least half its life).
 */
int scep_crl_is_current(const scep_store_crl *crl, int64_t revoked_count,
                        const struct scep_crl_timing *timing, int64_t now);

/*
 * `*out` (caller frees with scep_store_crl_free) is the CA's current CRL: the
 * stored one when current (a read without locks first, then again under the
 * write lock), else a new one signed by `ca` with the next cRLNumber. With
 * `force` a new CRL is always made. `out_generated` (may be NULL) says which.
 */
SCEP_MUST_CHECK int scep_crl_current(scep_store_crl **out, int *out_generated, scep_store *store,
                                     const char *ca_name, const scep_ca *ca,
                                     const struct scep_crl_timing *timing, int force);

/*
 * Loads a stored CA with its private key (key_ref is a path, optionally
 * "file:PATH"), refusing a key file others can read (scep_key_file_check).
 */
SCEP_MUST_CHECK int scep_crl_load_ca(scep_ca **out, const scep_store_ca *row);

/* RFC 5280 §5.3.1 CRLReason names ("keyCompromise"...): value, or -1 when unknown. */
int scep_crl_reason_from_name(const char *name);
/* The name of a CRLReason value; "unspecified" for SCEP_STORE_NO_REASON; NULL if invalid. */
const char *scep_crl_reason_name(int reason);
/* "unspecified, keyCompromise, ..." for help texts. Static string. */
const char *scep_crl_reason_names(void);

#endif /* SCEP_CRL_PUBLISH_H */
