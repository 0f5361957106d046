/*
 * The end entity username RA mode generates (EJBCA's ra.namegeneration* settings).
 */
#ifndef SCEPD_ENROLL_RA_USERNAME_H
#define SCEPD_ENROLL_RA_USERNAME_H

#include "config/config.h"

#include <openssl/x509.h>
#include <stddef.h>

/* Longest generated RA username. */
#define SCEPD_RA_USERNAME_MAX 256

/*
 * The end entity username RA mode generates for `subject` under the alias's
 * ra.namegeneration* settings (names.c), EJBCA's way: DN (the first of the
 * ';'-separated DN parts in ra.namegenerationparameters that the subject has),
 * RANDOM (12 random alphanumerics), FIXED (the parameter itself), USERNAME (the
 * CN as it is); then ra.namegenerationprefix and postfix, in which "${RANDOM}"
 * becomes 12 random alphanumerics. SCEP_EINVAL when no name results.
 */
int scepd_ra_username(char *out, size_t out_size, const X509_NAME *subject,
                      const struct scep_config_alias_settings *settings);

#endif
