#include "ca/profiles.h"
#include "util/error_internal.h"

#include <strings.h>

struct named_profile {
    const char *name;
    unsigned validity_days;
    const char *key_usage;
    const char *extended_key_usage;
    scep_subject_source subject_source;
};

/*
 * EJBCA names its default end-entity profile ENDUSER; the others cover what
 * SCEP fleets enroll: VPN/IPsec gateways, TLS servers and devices.
 */
static const struct named_profile profiles[] = {
    {"ENDUSER", 365, "digitalSignature,keyEncipherment", "clientAuth,emailProtection",
     SCEP_SUBJECT_FROM_CSR},
    {"DEVICE", 365, "digitalSignature,keyEncipherment", "clientAuth", SCEP_SUBJECT_FROM_CSR},
    {"SERVER", 397, "digitalSignature,keyEncipherment", "serverAuth,clientAuth",
     SCEP_SUBJECT_FROM_CSR},
    {"IPSEC", 365, "digitalSignature,keyEncipherment", "ipsecIKE,serverAuth,clientAuth",
     SCEP_SUBJECT_FROM_CSR},
    {"REGISTERED", 365, "digitalSignature,keyEncipherment", "clientAuth", SCEP_SUBJECT_FROM_DN},
};

int scep_profile_named(scep_profile *out, const char *name)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (strcasecmp(name, profiles[i].name) != 0)
            continue;
        scep_profile_init(out);
        out->validity_days = profiles[i].validity_days;
        out->key_usage = profiles[i].key_usage;
        out->extended_key_usage = profiles[i].extended_key_usage;
        out->subject_source = profiles[i].subject_source;
        out->copy_san_types = SCEP_SAN_ALL;
        return 0;
    }
    return scep_fail(SCEP_ENOTFOUND, "unknown certificate profile \"%s\" (known: %s)", name,
                     scep_profile_names());
}

const char *scep_profile_names(void)
{
    return "ENDUSER, DEVICE, SERVER, IPSEC, REGISTERED";
}
