/*
 * CA identifiers (interop.md §3) and the choice of CA key for PKIOperation
 * (interop.md §9). An alias serves its own CA and those `ALIAS.cas` names; the
 * `message=` of GetCACert/GetCACaps/GetNextCACert picks one by name, ignoring
 * case (Cisco PIX lower-cases CA names). Clients send anything there
 * (`CAIdentifier`, profile names), so an unknown identifier means the alias's
 * CA unless the alias is strict.
 */
#include "scepd/ops/ops.h"
#include "scepd/state/racert.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <string.h>
#include <strings.h>

/* Exact name first, then ignoring case. */
static const struct scepd_ca *by_name(const struct scepd_ca *const *cas, size_t count,
                                      const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(cas[i]->name, name) == 0)
            return cas[i];
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(cas[i]->name, name) == 0)
            return cas[i];
    return NULL;
}

int scepd_caid_select(struct scepd_op *op)
{
    const char *identifier = op->http->message;
    op->ca = op->alias->ca;
    if (identifier == NULL || identifier[0] == '\0')
        return 0;
    const struct scepd_ca *found = by_name(op->alias->cas, op->alias->ca_count, identifier);
    if (found != NULL) {
        op->ca = found;
        return 0;
    }
    if (op->alias->settings->strictcaid) {
        scepd_op_text(op, 404, "unknown_ca", "unknown CA identifier \"%.64s\"", identifier);
        return -1;
    }
    return 0;
}

int scepd_caid_decrypt(struct scepd_op *op, scep_pkimessage *msg,
                       const scep_message_options *options)
{
    X509 *certs[SCEPD_ALIAS_CAS_MAX * 2 + 1];
    EVP_PKEY *keys[SCEPD_ALIAS_CAS_MAX * 2 + 1];
    const scep_ca *pairs[SCEPD_ALIAS_CAS_MAX * 2 + 1];
    const struct scepd_ca *owners[SCEPD_ALIAS_CAS_MAX * 2 + 1];
    size_t count = 0;

    /* An RA's encryption key first (racert.h); the CA keys stay candidates (interop.md §9).
     * Its pair is NULL: op->recipient stays NULL and the RA signs the reply. */
    if (op->alias->ra != NULL) {
        owners[count] = op->alias->ca;
        pairs[count] = NULL;
        certs[count] = op->alias->ra->enc_cert;
        keys[count] = scep_key_current(op->alias->ra->enc_key);
        count++;
    }

    /* The alias's own CA first, active key first: tried first when no rid matches. */
    for (size_t i = 0; i < op->alias->ca_count; i++) {
        size_t n = scepd_ca_keys(pairs + count, 2, op->generation, op->alias->cas[i], op->now);
        for (size_t k = 0; k < n; k++, count++) {
            owners[count] = op->alias->cas[i];
            certs[count] = scep_ca_cert(pairs[count]);
            keys[count] = scep_ca_key(pairs[count]);
        }
    }
    op->ca = op->alias->ca;
    int rc = scep_pkimessage_decrypt(msg, certs, keys, count, options);
    if (rc < 0 || !scep_pkimessage_has_envelope(msg))
        return rc;
    size_t index = scep_pkimessage_recipient_index(msg);
    if (index < count) {
        op->ca = owners[index];
        op->recipient = pairs[index];
    }
    return SCEP_OK;
}

const scep_ca *scepd_op_signer(const struct scepd_op *op)
{
    /* RFC 8894 §4.7: the client verifies the reply with the CA certificate it has,
     * which is the one it encrypted to. */
    if (op->recipient != NULL)
        return op->recipient;
    return scepd_ca_active(op->generation, op->ca != NULL ? op->ca : op->alias->ca, op->now);
}

void scepd_op_reply_signer(X509 **cert, EVP_PKEY **key, const struct scepd_op *op)
{
    const struct scepd_racert *ra = op->alias->ra;
    if (ra != NULL && op->recipient == NULL) {
        *cert = ra->sign_cert;
        *key = scep_key_current(ra->sign_key);
        return;
    }
    const scep_ca *signer = scepd_op_signer(op);
    *cert = scep_ca_cert(signer);
    *key = scep_ca_key(signer);
}
