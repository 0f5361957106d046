/*
 * Registering end entities (CA mode's enrollment codes) the way an operator does,
 * shared by scepctl `ee add|reset|remove` and scepd's admin API so there is one
 * implementation of the checks: the username, the DN, the profile, the SANs in the
 * one canonical spelling scepd reads back, the CA and the alias. Every change is an
 * audit event naming the operator. Internal to scepd and scepctl.
 */
#ifndef SCEP_END_ENTITY_H
#define SCEP_END_ENTITY_H

#include "config/config.h"
#include "scep/store.h"

#define SCEP_EE_USERNAME_MAX  256
#define SCEP_EE_PASSWORD_MAX  1024
#define SCEP_EE_GENERATED_LEN 20

/* What an operator registers; strings are borrowed. */
typedef struct scep_ee_registration {
    const char *username; /* what scepd finds in the CSR's CN (or usernamefield) */
    const char *dn;       /* the registered subject, RFC 4514 or OpenSSL's /C=../CN=.. */
    const char *profile;  /* NULL: the alias's certificateprofile */
    const char *ca_name;  /* NULL: the store's only CA */
    const char *alias;    /* NULL: default_alias */
    const char *san;      /* "dns:NAME,ip:ADDR,..."; NULL: none */
} scep_ee_registration;

/* What a registration or reset did. */
typedef struct scep_ee_outcome {
    char ca_name[128];
    char alias[128];
    const char *field; /* on SCEP_EINVAL or SCEP_ENOTFOUND: the registration field at fault
                          ("username", "dn", "profile", "san", "ca", "alias", "password") */
    int audit_failed;  /* the change is done, its audit event was not recorded */
} scep_ee_outcome;

/* "NEW", "GENERATED", "REVOKED", "DISABLED". */
const char *scep_ee_status_name(scep_store_ee_status status);

/*
 * A random enrollment code of SCEP_EE_GENERATED_LEN characters from the CSPRNG, in an
 * alphabet without look-alikes (it is read aloud and typed into devices).
 */
SCEP_MUST_CHECK int scep_ee_generate_password(char out[SCEP_EE_GENERATED_LEN + 1]);

/* SCEP_EINVAL unless `password` is 1..SCEP_EE_PASSWORD_MAX characters without control ones. */
SCEP_MUST_CHECK int scep_ee_password_check(const char *password);

/*
 * Adds the end entity NEW with `password` (hashed by the store). SCEP_EINVAL: a field
 * is malformed, the CA is ambiguous or the alias unknown; SCEP_ENOTFOUND: no such CA;
 * SCEP_EEXISTS: the username is taken.
 */
SCEP_MUST_CHECK int scep_ee_register(scep_ee_outcome *out, scep_store *store,
                                     const scep_config *config,
                                     const scep_ee_registration *registration, const char *password,
                                     const char *actor);

/* Back to NEW with a new password. SCEP_ENOTFOUND: no such end entity. */
SCEP_MUST_CHECK int scep_ee_reset_audited(scep_ee_outcome *out, scep_store *store,
                                          const char *username, const char *password,
                                          const char *actor);

/* Removes it. SCEP_ENOTFOUND: no such end entity. */
SCEP_MUST_CHECK int scep_ee_remove_audited(scep_ee_outcome *out, scep_store *store,
                                           const char *username, const char *actor);

/*
 * `san` in the one canonical spelling scepd and `ee show` read back ('\n' between
 * names); `*out` NULL for none, else the caller's (OPENSSL_free). SCEP_EINVAL when
 * malformed.
 */
SCEP_MUST_CHECK int scep_ee_canonical_sans(char **out, const char *san);

/*
 * The alias `*alias` names, or the default one (`*alias` set to it). SCEP_EINVAL when
 * there is none or it is not configured (the built-in alias exists while the file
 * configures none).
 */
SCEP_MUST_CHECK int scep_ee_resolve_alias(const char **alias, const scep_config *config);

#endif /* SCEP_END_ENTITY_H */
