/*
 * Certificate profiles known to scepd by name (the alias's
 * certificateprofile / ra.certificateProfile).
 */
#ifndef SCEPD_PROFILES_H
#define SCEPD_PROFILES_H

#include "scep/ca.h"

/* Fills `out` with the profile called `name` (case-insensitive); -1 when unknown. */
int scepd_profile_named(scep_profile *out, const char *name);

/* "ENDUSER, SERVER, ..." for error messages. */
const char *scepd_profile_names(void);

#endif
