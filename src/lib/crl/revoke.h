/*
 * Revoking a certificate the way an operator does, shared by scepctl `cert revoke`
 * and scepd's admin API so there is one implementation: the certificate REVOKED,
 * its end entity REVOKED when this was its newest certificate, an audit event
 * naming the operator, and the CA's CRL regenerated at once. Internal to scepd
 * and scepctl.
 */
#ifndef SCEP_CRL_REVOKE_H
#define SCEP_CRL_REVOKE_H

#include "crl/publish.h"

/*
 * The certificate with `serial` (any case, colons and 0x allowed) under `ca_name`, or
 * under whichever CA has it when `ca_name` is NULL. `*out` is the caller's
 * (scep_store_cert_free). SCEP_EINVAL: not a serial; SCEP_ENOTFOUND: none;
 * SCEP_EEXISTS: several CAs hold it and none was named.
 */
SCEP_MUST_CHECK int scep_cert_find(scep_store_cert **out, scep_store *store, const char *ca_name,
                                   const char *serial);

/* What one revocation did. */
typedef struct scep_revocation {
    char ca_name[128];
    char serial[SCEP_SERIAL_HEX_MAX];
    char end_entity[320];   /* "USER:REVOKED", "USER:unchanged" or "-" */
    int end_entity_revoked; /* its end entity became REVOKED */
    int end_entity_failed;  /* it should have and could not (the revocation stands) */
    int audit_failed;       /* the audit event was not recorded (the revocation stands) */
    scep_store_crl *crl;    /* the regenerated CRL; NULL when it could not be made now (scepd
                               makes it on its next CRL request); scep_revocation_clear */
} scep_revocation;

/*
 * Revokes the certificate `serial` of `ca_name` (NULL: as scep_cert_find) with the
 * RFC 5280 §5.3.1 CRLReason `reason`. SCEP_ESTATE: already revoked; other codes as
 * scep_cert_find. `out` is filled whatever the result; scep_revocation_clear frees it.
 */
SCEP_MUST_CHECK int scep_cert_revoke_audited(scep_revocation *out, scep_store *store,
                                             const struct scep_crl_timing *timing,
                                             const char *ca_name, const char *serial, int reason,
                                             const char *actor);
void scep_revocation_clear(scep_revocation *revocation);

#endif /* SCEP_CRL_REVOKE_H */
