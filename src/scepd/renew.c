/*
 * Client certificate renewal in CA mode (RFC 8894 §2.5, EJBCA's
 * clientCertificateRenewal). The certificate that signed the request is the
 * authorisation: it must chain to this alias's CA (its signature verifies
 * with the CA key and its issuer is the CA's subject; interop.md §5: never decide
 * by subject equality), be in the store as VALID and be within its validity.
 * Then no enrollment code is needed, the end entity stays as it is, and the
 * new certificate belongs to the old certificate's end entity.
 *
 * Both message types count (interop.md §6): RenewalReq (17) and a PKCSReq (19)
 * signed by the old certificate, which is what sscep, certmonger, Cisco,
 * jscep and macOS send.
 */
#include "scepd/renew.h"
#include "scepd/approval.h"
#include "scepd/log.h"
#include "ca/profiles.h"
#include "ca/issuance.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REASON_MAX 384
#define TEXT_MAX   256

static const char renewal_off_text[] = "client certificate renewal is not enabled on this alias";

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static void utc_text(char *out, size_t out_size, int64_t when)
{
    time_t t = (time_t)when;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, out_size, "@%lld", (long long)when);
}

/* Issued by this alias's CA: the CA's name as issuer and a signature the CA key verifies. */
static int signer_is_ours(const struct scepd_op *op, X509 *signer)
{
    X509 *ca_cert = scep_ca_cert(op->alias->ca->ca);
    if (signer == NULL ||
        X509_NAME_cmp(X509_get_issuer_name(signer), X509_get_subject_name(ca_cert)) != 0)
        return 0;
    /* A self-signed signer that happens to carry the CA's name does not verify. */
    int ok = X509_verify(signer, X509_get0_pubkey(ca_cert)) == 1;
    ERR_clear_error();
    return ok;
}

static int der_of_cert(unsigned char **out, size_t *out_len, X509 *cert)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    if (len <= 0)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot encode the signer certificate");
    *out = der;
    *out_len = (size_t)len;
    return SCEP_OK;
}

/*
 * Why the signer cannot authorise a renewal, or NULL when it can. `reason`
 * gets the log text; the returned string is the failInfoText.
 */
static const char *signer_unusable(char *reason, size_t reason_size, scep_store *store,
                                   const struct scepd_op *op, X509 *signer,
                                   const unsigned char *signer_der, size_t signer_der_len,
                                   scep_store_cert **out_row, int64_t now)
{
    char serial_hex[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial_hex, X509_get0_serialNumber(signer)) < 0) {
        snprintf(reason, reason_size, "renewal: signer serial unreadable");
        return "the signer certificate is not known to this CA";
    }
    int rc = scep_store_cert_get(out_row, store, op->alias->ca->name, serial_hex);
    if (rc < 0 || (*out_row)->der_len != signer_der_len ||
        CRYPTO_memcmp((*out_row)->der, signer_der, signer_der_len) != 0) {
        snprintf(reason, reason_size, "renewal: signer serial %s %s", serial_hex,
                 rc < 0 ? "not in the store" : "differs from the stored certificate");
        return "the signer certificate is not known to this CA";
    }
    if ((*out_row)->status != SCEP_CERT_VALID) {
        snprintf(reason, reason_size, "renewal: signer serial %s is revoked", serial_hex);
        return "the signer certificate is revoked";
    }
    if (asn1_time_to_unix(X509_get0_notAfter(signer)) <= now ||
        asn1_time_to_unix(X509_get0_notBefore(signer)) > now) {
        snprintf(reason, reason_size, "renewal: signer serial %s is outside its validity",
                 serial_hex);
        return "the signer certificate has expired or is not yet valid";
    }
    if ((*out_row)->username == NULL || (*out_row)->username[0] == '\0') {
        snprintf(reason, reason_size, "renewal: signer serial %s belongs to no end entity",
                 serial_hex);
        return "the signer certificate belongs to no end entity";
    }
    return NULL;
}

/* One attempt per fresh serial; the UNIQUE constraint is what keeps serials unique. */
static int issue_renewal(X509 **out, scep_store *store, const struct scepd_op *op,
                         const scep_profile *profile, X509_REQ *csr, const X509_NAME *subject,
                         int64_t request_id, const char *username, const char *revoke_serial)
{
    const struct scepd_ca *ca = op->alias->ca;
    /* The end entity is not consumed (username NULL): a renewal needs no NEW status,
     * but the certificate row still names it. */
    scep_stored_issue issue = {
        .ca = ca->ca,
        .ca_name = ca->name,
        .profile = profile,
        .csr = csr,
        .subject = subject,
        .request_id = request_id,
        .transaction_id = op->transaction_id,
        .actor = op->http->client_addr,
        .alias = op->alias->name,
        .revoke_serial = revoke_serial,
        .revoke_reason = SCEP_CRL_REASON_SUPERSEDED,
        .cert_username = username,
    };
    return scep_ca_issue_stored(out, store, &issue);
}

static unsigned san_flag(const GENERAL_NAME *name)
{
    switch (name->type) {
    case GEN_DNS:
        return SCEP_SAN_DNS;
    case GEN_IPADD:
        return SCEP_SAN_IP;
    case GEN_EMAIL:
        return SCEP_SAN_EMAIL;
    case GEN_URI:
        return SCEP_SAN_URI;
    case GEN_OTHERNAME:
        return SCEP_SAN_UPN;
    default:
        return 0;
    }
}

/*
 * A renewal keeps the names the CA already vouched for: a subjectAltName the profile
 * would copy from the CSR must already be in the old certificate. Returns 1 and the
 * first new name's type when the CSR adds one.
 */
static int csr_adds_names(const char **out_type, X509_REQ *csr, X509 *old_cert,
                          unsigned copied_types)
{
    int adds = 0;
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *requested = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    GENERAL_NAMES *existing = X509_get_ext_d2i(old_cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; requested != NULL && i < sk_GENERAL_NAME_num(requested) && !adds; i++) {
        GENERAL_NAME *name = sk_GENERAL_NAME_value(requested, i);
        if ((san_flag(name) & copied_types) == 0)
            continue;
        int found = 0;
        for (int j = 0; existing != NULL && j < sk_GENERAL_NAME_num(existing) && !found; j++)
            found = GENERAL_NAME_cmp(name, sk_GENERAL_NAME_value(existing, j)) == 0;
        if (!found) {
            adds = 1;
            *out_type = name->type == GEN_DNS     ? "DNS name"
                        : name->type == GEN_IPADD ? "IP address"
                        : name->type == GEN_EMAIL ? "email address"
                        : name->type == GEN_URI   ? "URI"
                                                  : "otherName";
        }
    }
    GENERAL_NAMES_free(requested);
    GENERAL_NAMES_free(existing);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return adds;
}

int scepd_renew(struct scepd_op *op, scep_pkimessage *msg, scep_store *store)
{
    const struct scep_config_alias_settings *settings = op->alias->settings;
    int renewal_req = scep_pkimessage_type(msg) == SCEP_MSG_RENEWALREQ;
    X509 *signer = scep_pkimessage_signer_cert(msg);
    X509_REQ *csr = scep_pkimessage_csr(msg);
    int ours = signer_is_ours(op, signer);
    int has_challenge = scepd_enroll_has_challenge(csr);
    int handled = 1;
    unsigned char key_hash[32];
    unsigned char *signer_der = NULL;
    size_t signer_der_len = 0;
    scep_store_request *row = NULL;
    scep_store_cert *old = NULL;
    scep_store_end_entity *ee = NULL;
    X509_NAME *registered_dn = NULL;
    X509 *issued = NULL;
    int created = 0;
    char reason[REASON_MAX];
    char text[TEXT_MAX];

    if (!settings->clientcertificaterenewal) {
        /* A PKCSReq with a code is an enrollment whoever signed it. */
        if (!renewal_req && (!ours || has_challenge))
            return 0;
        scepd_enroll_refuse(op, msg, store, 0, SCEP_FAIL_BAD_REQUEST, renewal_off_text,
                            renewal_req ? "RenewalReq on an alias without renewal"
                                        : "PKCSReq signed by our certificate, renewal is off");
        return 1;
    }
    /* Renewals issue without an operator; on an alias that holds every request for
     * approval they are refused rather than let through (a code enrolls instead). */
    if (ours && scepd_approval_manual(op)) {
        if (!renewal_req && has_challenge)
            return 0;
        scepd_enroll_refuse(op, msg, store, 0, SCEP_FAIL_BAD_REQUEST,
                            "renewal is not available on an alias with manual approval; "
                            "enroll with a new code",
                            "renewal on a manual-approval alias");
        return 1;
    }
    if (!ours) {
        /* interop.md §5: another CA's (or a self-signed) signer is an enrollment, never a
         * renewal. */
        if (!renewal_req)
            return 0;
        scepd_enroll_refuse(op, msg, store, 0, SCEP_FAIL_BAD_REQUEST,
                            "a RenewalReq must be signed by a certificate this CA issued",
                            "RenewalReq signed by a certificate of another CA");
        return 1;
    }

    if (scepd_enroll_key_hash(key_hash, csr) < 0 ||
        der_of_cert(&signer_der, &signer_der_len, signer) < 0) {
        scepd_enroll_refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST, "the request cannot be read",
                            scep_error_message());
        goto done;
    }
    int64_t now = (int64_t)time(NULL);
    /* Read-only first: a PKCSReq whose signer cannot renew may still enroll with its code. */
    const char *unusable = signer_unusable(reason, sizeof(reason), store, op, signer, signer_der,
                                           signer_der_len, &old, now);

    /* One transaction per (alias, transactionID): RFC 8894 §3.3.1, store.md "Retransmissions". */
    if (scepd_enroll_record(&row, &created, op, msg, store, key_hash) < 0)
        goto done;
    if (!created) {
        /* Before the signer checks: after revoke-old the signer is revoked, yet a
         * retransmission must still get the certificate it was issued. */
        if (scepd_enroll_answer_retransmission(op, msg, store, row, key_hash))
            goto done;
        if (row->status != SCEP_REQ_PENDING &&
            scep_store_request_update(store, row->id, SCEP_REQ_PENDING, SCEP_STORE_NO_FAIL_INFO,
                                      NULL) < 0) {
            scepd_enroll_refuse(op, msg, NULL, 0, SCEP_FAIL_BAD_REQUEST,
                                "the server cannot record the request", scep_error_message());
            goto done;
        }
    }
    if (unusable != NULL) {
        if (!renewal_req && has_challenge) {
            /* The enrollment path finds this PENDING row and goes on with it. */
            scepd_op_detail(op, "%s; enrolling with the challengePassword", reason);
            handled = 0;
            goto done;
        }
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST, unusable, reason);
        goto done;
    }

    const char *username = old->username;
    int64_t not_before = asn1_time_to_unix(X509_get0_notBefore(signer));
    int64_t not_after = asn1_time_to_unix(X509_get0_notAfter(signer));
    int64_t half_life = not_before + (not_after - not_before) / 2;
    if (settings->renewal_afterhalflife && now < half_life) {
        char when[32];
        utc_text(when, sizeof(when), half_life);
        snprintf(text, sizeof(text),
                 "renewal refused: this certificate can be renewed from %s (half of its validity)",
                 when);
        snprintf(reason, sizeof(reason), "user %s: renewal before half-life (%s)", username, when);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST, text, reason);
        goto done;
    }
    if (!settings->allowclientcertificaterenewawitholdkey &&
        EVP_PKEY_eq(X509_REQ_get0_pubkey(csr), X509_get0_pubkey(signer)) == 1) {
        snprintf(reason, sizeof(reason), "user %s: renewal with the old key pair", username);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the request reuses the old certificate's key; "
                            "this alias requires a new key pair",
                            reason);
        goto done;
    }
    ERR_clear_error();
    /* EJBCA requires the same username/DN: a renewal does not change who the certificate names. */
    if (settings->renewal_samesubject &&
        X509_NAME_cmp(X509_REQ_get_subject_name(csr), X509_get_subject_name(signer)) != 0) {
        snprintf(reason, sizeof(reason), "user %s: CSR subject differs from the old certificate",
                 username);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the request's subject differs from the old "
                            "certificate's subject",
                            reason);
        goto done;
    }

    if (scep_store_ee_get(&ee, store, username) < 0 ||
        (ee->status != SCEP_EE_GENERATED && ee->status != SCEP_EE_NEW)) {
        snprintf(reason, sizeof(reason), "user %s: end entity %s", username,
                 ee == NULL ? "not found" : "revoked or disabled");
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the end entity may not hold certificates", reason);
        goto done;
    }
    if (ee->ca_name != NULL && strcmp(ee->ca_name, op->alias->ca->name) != 0) {
        snprintf(reason, sizeof(reason), "user %s belongs to CA %s, alias serves %s", username,
                 ee->ca_name, op->alias->ca->name);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the end entity belongs to another CA", reason);
        goto done;
    }
    scep_profile profile = op->alias->profile;
    if (ee->profile != NULL && ee->profile[0] != '\0' &&
        scep_profile_named(&profile, ee->profile) < 0) {
        snprintf(reason, sizeof(reason), "user %s: unknown certificate profile %s", username,
                 ee->profile);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the end entity's profile is not configured", reason);
        goto done;
    }
    /*
     * The subject: the end entity's registered DN when the profile takes it from
     * there, else the old certificate's subject (never the CSR's, so a renewal
     * cannot rename the holder).
     */
    const X509_NAME *subject = X509_get_subject_name(signer);
    if (profile.subject_source == SCEP_SUBJECT_FROM_DN) {
        if (ee->subject_dn == NULL || scep_dn_parse(&registered_dn, ee->subject_dn) < 0) {
            snprintf(reason, sizeof(reason), "user %s: no usable registered DN", username);
            scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                                "renewal refused: the end entity has no subject DN", reason);
            goto done;
        }
        subject = registered_dn;
    }
    profile.subject_source = SCEP_SUBJECT_FROM_DN;
    const char *new_name = NULL;
    if (csr_adds_names(&new_name, csr, signer, profile.copy_san_types)) {
        snprintf(reason, sizeof(reason), "user %s: CSR adds a subjectAltName (%s)", username,
                 new_name);
        scepd_enroll_refuse(op, msg, store, row->id, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the request adds a subjectAltName the old "
                            "certificate does not have",
                            reason);
        goto done;
    }

    int rc = issue_renewal(&issued, store, op, &profile, csr, subject, row->id, username,
                           settings->renewal_revokeold ? old->serial : NULL);
    if (rc == SCEP_ESTATE) {
        snprintf(reason, sizeof(reason), "user %s: %s (concurrent renewal or revocation)", username,
                 scep_error_message());
        scepd_enroll_refuse(op, msg, store, 0, SCEP_FAIL_BAD_REQUEST,
                            "renewal refused: the old certificate was revoked meanwhile", reason);
        goto done;
    }
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "user %s: %s", username, scep_error_message());
        scepd_enroll_refuse(op, msg, store, row->id, scep_error_fail_info(rc),
                            rc == SCEP_EPOLICY || rc == SCEP_EBADALG
                                ? scep_error_message()
                                : "the certificate could not be issued",
                            reason);
        goto done;
    }
    char serial_hex[SCEP_SERIAL_HEX_MAX];
    if (scep_serial_to_hex(serial_hex, X509_get0_serialNumber(issued)) < 0)
        serial_hex[0] = '\0';
    scepd_op_detail(op, "user %s renewed serial %s as %s%s", username, old->serial, serial_hex,
                    settings->renewal_revokeold ? " (old revoked: superseded)" : "");
    scepd_enroll_reply_cert(op, msg, issued);

done:
    X509_free(issued);
    X509_NAME_free(registered_dn);
    scep_store_ee_free(ee);
    scep_store_cert_free(old);
    scep_store_request_free(row);
    OPENSSL_free(signer_der);
    return handled;
}
