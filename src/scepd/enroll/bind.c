/*
 * Stage 3, bind: policy comes from the end entity, not from the URL. An end entity
 * belongs to one alias (`scepctl ee add --alias`, else the default alias; RA mode's
 * to the alias that created it), so a request for it through any other alias —
 * one without approval or webhook, say — is refused. The issuing CA is the end
 * entity's, which the alias must serve; the profile is the end entity's, else the
 * alias's.
 *
 * RA mode names the end entity by the alias's name generation, in the alias's own
 * namespace: a name held by an end entity RA mode of this alias did not create (CA
 * mode's, another alias's) is refused, and so is a revoked or disabled one.
 */
#include "scepd/enroll/enrollment.h"
#include "scepd/enroll/ra_username.h"
#include "ca/profiles.h"
#include "util/error_internal.h"

#include <stdio.h>
#include <string.h>

static const struct scepd_ca *served_ca(const struct scepd_op *op, const char *name)
{
    for (size_t i = 0; name != NULL && i < op->alias->ca_count; i++)
        if (strcmp(op->alias->cas[i]->name, name) == 0)
            return op->alias->cas[i];
    return NULL;
}

static int set_text(char **out, const char *text)
{
    *out = OPENSSL_strdup(text);
    return *out != NULL ? 0 : -1;
}

static enum scepd_stage bind_registered(struct scepd_enrollment *e)
{
    const struct scepd_op *op = e->op;
    const scep_store_end_entity *ee = e->ee;
    const char *what = e->auth == SCEPD_AUTH_RENEWAL ? "renewal" : "enrollment";
    char text[SCEPD_TEXT_MAX];

    const char *home =
        ee->alias != NULL ? ee->alias : scep_config_default_alias(op->generation->config);
    if (home == NULL || strcmp(home, op->alias->name) != 0) {
        snprintf(text, sizeof(text),
                 "%s refused: the end entity does not enroll through this alias", what);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, text,
                                   "user %s belongs to alias %s, not %s", e->username,
                                   home != NULL ? home : "(no default alias)", op->alias->name);
    }
    e->ca = served_ca(op, ee->ca_name);
    if (e->ca == NULL) {
        snprintf(text, sizeof(text), "%s refused: the end entity belongs to another CA", what);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, text,
                                   "user %s belongs to CA %s, which alias %s does not serve",
                                   e->username, ee->ca_name, op->alias->name);
    }
    if (e->auth == SCEPD_AUTH_RENEWAL && e->signer_ca != e->ca) {
        snprintf(text, sizeof(text), "%s refused: the end entity belongs to another CA", what);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, text,
                                   "user %s belongs to CA %s, the signer was issued by %s",
                                   e->username, ee->ca_name, e->signer_ca->name);
    }
    const char *profile = ee->profile != NULL && ee->profile[0] != '\0'
                              ? ee->profile
                              : op->alias->settings->certificateprofile;
    if (op->alias->settings->operationmode == SCEP_ALIAS_MODE_RA &&
        (ee->profile == NULL || ee->profile[0] == '\0'))
        profile = op->alias->settings->ra_certificateprofile;
    scep_profile check;
    if (scep_profile_named(&check, profile) < 0) {
        snprintf(text, sizeof(text), "%s refused: the end entity's profile is not configured",
                 what);
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, text,
                                   "user %s: unknown certificate profile %s", e->username, profile);
    }
    if (set_text(&e->decision.username, e->username) < 0 ||
        set_text(&e->decision.profile, profile) < 0 ||
        set_text(&e->decision.ca_name, e->ca->name) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
    e->decision.mode = e->auth == SCEPD_AUTH_RENEWAL ? SCEP_DECISION_RENEWAL : SCEP_DECISION_CA;
    return SCEPD_STAGE_NEXT;
}

static enum scepd_stage bind_ra(struct scepd_enrollment *e)
{
    const struct scepd_op *op = e->op;
    const struct scep_config_alias_settings *settings = op->alias->settings;
    if (scepd_ra_username(e->username, sizeof(e->username), X509_REQ_get_subject_name(e->csr),
                          settings) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                   "the request's subject gives no end entity name",
                                   "no username: %s", scep_error_message());
    scep_store_end_entity *held = NULL;
    int rc = scep_store_ee_get(&held, e->store, e->username);
    if (scepd_op_store_lost(e->op, rc))
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "the store cannot be reached",
                                   "RA user %s: %s", e->username, scep_error_message());
    if (rc == SCEP_OK) {
        int foreign = held->ra_alias == NULL || strcmp(held->ra_alias, op->alias->name) != 0;
        int dead = held->status == SCEP_EE_REVOKED || held->status == SCEP_EE_DISABLED;
        scep_store_ee_free(held);
        if (foreign)
            return scepd_enroll_refuse(
                e, SCEP_FAIL_BAD_REQUEST,
                "enrollment refused: the name is held by another end entity",
                "RA user %s: the name belongs to an end entity this alias did not create",
                e->username);
        if (dead)
            return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST,
                                       "enrollment refused: the end entity is revoked or disabled",
                                       "RA user %s: end entity revoked or disabled", e->username);
    }
    e->ca = op->alias->ca;
    if (set_text(&e->decision.username, e->username) < 0 ||
        set_text(&e->decision.profile, settings->ra_certificateprofile) < 0 ||
        set_text(&e->decision.ca_name, e->ca->name) < 0)
        return scepd_enroll_refuse(e, SCEP_FAIL_BAD_REQUEST, "internal error", "out of memory");
    e->decision.mode = e->auth == SCEPD_AUTH_CHALLENGE ? SCEP_DECISION_CHALLENGE : SCEP_DECISION_RA;
    return SCEPD_STAGE_NEXT;
}

enum scepd_stage scepd_enroll_bind(struct scepd_enrollment *e)
{
    if (e->auth == SCEPD_AUTH_CODE || e->auth == SCEPD_AUTH_RENEWAL)
        return bind_registered(e);
    return bind_ra(e);
}
