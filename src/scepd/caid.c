/*
 * CA identifiers (interop.md §3) and the choice of CA key for PKIOperation
 * (interop.md §9). An alias serves its own CA and those `ALIAS.cas` names; the
 * `message=` of GetCACert/GetCACaps/GetNextCACert picks one by name, ignoring
 * case (Cisco PIX lower-cases CA names). Clients send anything there
 * (`CAIdentifier`, profile names), so an unknown identifier means the alias's
 * CA unless the alias is strict.
 */
#include "scepd/racert.h"
#include "scepd/rollover.h"
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

static const struct scepd_ca *server_ca(const struct scepd_server *server, const char *name)
{
    for (size_t i = 0; i < server->ca_count; i++)
        if (strcmp(server->cas[i].name, name) == 0)
            return &server->cas[i];
    for (size_t i = 0; i < server->ca_count; i++)
        if (strcasecmp(server->cas[i].name, name) == 0)
            return &server->cas[i];
    return NULL;
}

int scepd_caid_resolve(struct scepd_alias *alias, const struct scepd_server *server)
{
    alias->cas[0] = alias->ca;
    alias->ca_count = 1;
    const struct scep_config_list *names = &alias->settings->cas;
    for (size_t i = 0; i < names->count; i++) {
        const struct scepd_ca *found = server_ca(server, names->items[i]);
        if (found == NULL)
            return scep_fail(SCEP_ECONFIG,
                             "alias %s: cas names \"%s\", which is not in the store (see scepctl "
                             "ca list)",
                             alias->name, names->items[i]);
        if (by_name(alias->cas, alias->ca_count, found->name) == found)
            continue;
        if (alias->ca_count >= SCEPD_ALIAS_CAS_MAX)
            return scep_fail(SCEP_ECONFIG, "alias %s: too many CAs", alias->name);
        alias->cas[alias->ca_count++] = found;
    }
    return SCEP_OK;
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
        keys[count] = op->alias->ra->enc_key;
        count++;
    }

    /* The alias's own CA first, active key first: tried first when no rid matches. */
    for (size_t i = 0; i < op->alias->ca_count; i++) {
        size_t n = scepd_ca_keys(pairs + count, 2, op, op->alias->cas[i]);
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
    return scepd_ca_active(op, op->ca != NULL ? op->ca : op->alias->ca);
}
