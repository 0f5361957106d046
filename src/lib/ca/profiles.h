/*
 * Certificate profiles known by name: the alias's certificateprofile /
 * ra.certificateProfile and an end entity's profile. One table, shared by
 * scepd (which issues under them) and scepctl (which validates names).
 */
#ifndef SCEP_CA_PROFILES_H
#define SCEP_CA_PROFILES_H

#include "scep/ca.h"

/*
 * Fills `out` with the profile called `name` (case-insensitive). SCEP_ENOTFOUND
 * (with a message listing the known names) when unknown.
 */
SCEP_MUST_CHECK int scep_profile_named(scep_profile *out, const char *name);

/* "ENDUSER, SERVER, ..." for error messages and help texts. Static string. */
const char *scep_profile_names(void);

#endif /* SCEP_CA_PROFILES_H */
