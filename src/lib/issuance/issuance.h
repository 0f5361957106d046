/*
 * What scepd and scepctl share to issue for a stored SCEP request: loading a
 * CA from its store row with the same key checks everywhere, the username an
 * end entity is found by, and the issue-then-commit step (a certificate only
 * counts once scep_store_issue() has committed it with the request and the
 * end entity's state). scepd issues at once (approval = auto); scepctl
 * `request approve` issues later for a request scepd held PENDING.
 */
#ifndef SCEP_ISSUANCE_H
#define SCEP_ISSUANCE_H

#include "config/config.h"
#include "scep/ca.h"
#include "scep/store.h"

/*
 * Loads the CA of a store row for signing: the key file (key_ref, a path or
 * "file:PATH") must be 0600 and ours, as scep_key_file_check() says.
 * `*out` is the caller's (scep_ca_free); `*out_warnings` as scep_ca_new().
 */
SCEP_MUST_CHECK int scep_ca_load_stored(scep_ca **out, unsigned *out_warnings,
                                        const scep_store_ca *row);

/*
 * As scep_ca_load_stored, for the certificate and key that issue at `now`: the next
 * ones of a rollover (next_key_ref) from next_activate_at on, else the current ones.
 */
SCEP_MUST_CHECK int scep_ca_load_active(scep_ca **out, unsigned *out_warnings,
                                        const scep_store_ca *row, time_t now);

/*
 * The username `subject` names under an alias's usernamefield list (first
 * RDN present wins). SCEP_ENOTFOUND when none is present or usable.
 */
SCEP_MUST_CHECK int scep_username_from_subject(char *out, size_t out_size, const X509_NAME *subject,
                                               const struct scep_config_list *fields);

/* One issuance for a stored request; strings are borrowed. */
typedef struct scep_stored_issue {
    const scep_ca *ca;
    const char *ca_name;
    const scep_profile *profile;
    X509_REQ *csr;
    const X509_NAME *subject;       /* the registered DN, for SCEP_SUBJECT_FROM_DN; else NULL */
    int64_t request_id;             /* the PENDING request to mark ISSUED; 0: none */
    const char *username;           /* CA mode: the NEW end entity to consume; NULL: none */
    const char *cert_username;      /* names the end entity on the certificate row without
                                       consuming it (renewal); NULL: `username` */
    const char *transaction_id;     /* recorded with the certificate; may be NULL */
    const char *actor;              /* audit: client address or "scepctl:USER" */
    const char *alias;              /* audit */
    const char *extra_dns_name;     /* a dNSName SAN added to the CSR's (PIX); may be NULL */
    const GENERAL_NAMES *sans;      /* the decided subjectAltNames (scep_issue_request.sans) */
    const char *revoke_serial;      /* renewal: revoke this serial of ca_name in the same
                                       transaction (scep_store_issuance.revoke_serial); NULL: none */
    int revoke_reason;              /* its CRLReason */
    const scep_store_ra_entity *ra; /* RA mode: create or reuse this end entity in the same
                                       transaction (scep_store_issue_ra); `username` is then
                                       ignored; NULL: CA mode */
    const char *renews_serial;      /* renewal: must still be VALID (scep_store_issuance) */
    const char *renewal_username;   /* renewal: must be NEW or GENERATED */
    int proof_verified;             /* scep_issue_request.proof_verified */
} scep_stored_issue;

/*
 * Issues and commits in one scep_store_issue() transaction, drawing a fresh
 * serial for each attempt on a serial collision (the database's UNIQUE
 * constraint is what guarantees serials are never reused). `*out` is the
 * caller's, to encode or send: it has no EVP_PKEY (scep_ca_issue_encoded). SCEP_ESTATE
 * when the end entity is no longer NEW or the request no longer PENDING (someone else won).
 */
SCEP_MUST_CHECK int scep_ca_issue_stored(X509 **out, scep_store *store,
                                         const scep_stored_issue *issue);

/*
 * Manual approval (alias approval = manual). A request scepd authorised and
 * holds for an operator is PENDING with this reason; a PENDING row without it
 * was interrupted before authorisation and is never approvable. One past
 * pendingexpiry becomes REJECTED with SCEP_APPROVAL_EXPIRED.
 */
#define SCEP_APPROVAL_HELD    "awaiting approval"
#define SCEP_APPROVAL_EXPIRED "expired"

/* Whether `row` is a request held for approval (PENDING with SCEP_APPROVAL_HELD). */
int scep_request_held(const scep_store_request *row);
/* Whether a held request's pendingexpiry (seconds) has passed at `now`. */
int scep_request_pending_expired(const scep_store_request *row, long long pending_expiry,
                                 int64_t now);
/* Whether `row` was rejected because its pendingexpiry passed. */
int scep_request_was_expired(const scep_store_request *row);

/* ---- the decision: what one authorised request gets ---------------------------- */

/* How a request was authorised; names the end entity's part in the issuance. */
typedef enum scep_decision_mode {
    SCEP_DECISION_CA = 1,        /* CA mode: the registered end entity's code (consumed) */
    SCEP_DECISION_RA = 2,        /* RA mode: the shared secret (end entity created) */
    SCEP_DECISION_CHALLENGE = 3, /* RA mode: a one-time challenge (end entity created) */
    SCEP_DECISION_RENEWAL = 4    /* a certificate this CA issued (end entity kept) */
} scep_decision_mode;

/*
 * Everything the certificate carries that is not the CSR's key, decided before any
 * gate (webhook, approval) sees the request, so that what was approved is what is
 * issued. Owned strings and objects; scep_decision_clear frees them.
 */
typedef struct scep_decision {
    scep_decision_mode mode;
    char *username;        /* the end entity */
    char *profile;         /* certificate profile name */
    char *ca_name;         /* the issuing CA */
    X509_NAME *subject;    /* the certificate's subject */
    GENERAL_NAMES *sans;   /* its subjectAltNames (empty: none); never NULL once decided */
    char *replaces_serial; /* renewal with revokeOld: the serial revoked with the issuance */
    char *renews_serial;   /* renewal: the certificate renewed (must still be VALID) */
    int64_t ee_updated_at; /* the end entity's updated_at it was decided on; 0: none */
} scep_decision;

void scep_decision_clear(scep_decision *decision);
/* "ca", "ra", "challenge", "renewal"; NULL for an unknown mode. */
const char *scep_decision_mode_name(scep_decision_mode mode);

/*
 * Records `decision` on the PENDING request `request_id` and holds it for an operator
 * (reason SCEP_APPROVAL_HELD). The subject must survive the RFC 4514 round trip.
 * SCEP_EEXISTS (`*out_other`: its id) when another request of the same end entity,
 * received since `exclusive_since`, is held (scep_store_request_hold).
 */
SCEP_MUST_CHECK int scep_decision_hold(scep_store *store, int64_t request_id,
                                       const scep_decision *decision, int64_t exclusive_since,
                                       int64_t *out_other);
/* The decision a held request carries (scep_decision_hold). SCEP_ESTORE when it has none. */
SCEP_MUST_CHECK int scep_decision_from_request(scep_decision *out, const scep_store_request *row);

/* One issuance of a decided request: scepd at once, scepctl `request approve` later. */
typedef struct scep_decided_issue {
    const scep_ca *ca; /* the CA's active certificate and key */
    const scep_decision *decision;
    X509_REQ *csr;      /* its key and proof of possession only */
    int proof_verified; /* its signature was verified on arrival: `csr` may be the stored copy
                           without its challengePassword (scep_issue_request) */
    int64_t request_id; /* the PENDING request; 0: none */
    const char *transaction_id;
    const char *actor;        /* audit: client address or "scepctl:USER" */
    const char *alias;        /* audit; RA mode: the namespace of created end entities */
    const char *crl_base_url; /* the CRL distribution point is BASE/CA.crl of the issuing CA
                                 (crl_base_url); NULL or "": the profile's own (none) */
    scep_store_ra_existing on_existing; /* RA mode, the name already holds a certificate */
} scep_decided_issue;

/*
 * Issues exactly what the decision says, with the decision's profile (keyUsage, EKU,
 * validity, key checks), and commits it with the request, the end entity's state
 * (consumed in CA mode, created in RA mode, kept on renewal) and the replaced
 * certificate's revocation in one transaction (scep_ca_issue_stored).
 */
SCEP_MUST_CHECK int scep_issue_decided(X509 **out, scep_store *store,
                                       const scep_decided_issue *issue);

/* ---- the operator's decision on a held request ---------------------------------- */

/*
 * What scepctl `request approve|reject` and scepd's admin API both do, so that a
 * request is decided by one implementation whichever way the operator comes.
 * `config` gives the alias's pendingexpiry and ra.onexisting and crl_base_url;
 * `actor` names the operator in the audit events ("scepctl:USER", "admin:NAME").
 */
typedef struct scep_request_decided {
    char serial[SCEP_SERIAL_HEX_MAX]; /* approve: the issued certificate's serial */
    char ca_name[128];                /* approve: the issuing CA */
    char username[256];               /* approve: the end entity it is for */
    char alias[128];                  /* the alias the request arrived on */
    int audit_failed;                 /* the decision is done but its audit event was not recorded
                                         (scep_error_message() says why) */
} scep_request_decided;

/*
 * What an operator sees of a request: "pending", "issued", "rejected", "failed", or
 * "expired" for a held request past its alias's pendingexpiry (seconds) at `now`.
 */
const char *scep_request_status_name(const scep_store_request *row, long long pending_expiry,
                                     int64_t now);
/* The alias's pendingexpiry, or the default when the alias is no longer configured. */
long long scep_request_pending_expiry(const scep_config *config, const char *alias);

/* Longest reason `scep_request_reject` accepts. */
#define SCEP_REJECT_REASON_MAX 256

/*
 * Issues the certificate for the held request `request_id`; the client's next CertPoll
 * gets it. SCEP_ENOTFOUND: no such request. SCEP_ESTATE: not awaiting approval, past its
 * pendingexpiry (then marked expired), or its end entity changed since it was decided.
 * SCEP_ECONFIG: the alias is not configured. `*out` (may be NULL) is filled on success.
 */
SCEP_MUST_CHECK int scep_request_approve(scep_request_decided *out, scep_store *store,
                                         const scep_config *config, int64_t request_id,
                                         const char *actor);

/*
 * Rejects the held request `request_id`; the client's next CertPoll gets FAILURE
 * badRequest with `reason` (1..SCEP_REJECT_REASON_MAX characters, no control characters:
 * SCEP_EINVAL otherwise). Other codes as scep_request_approve.
 */
SCEP_MUST_CHECK int scep_request_reject(scep_request_decided *out, scep_store *store,
                                        const scep_config *config, int64_t request_id,
                                        const char *reason, const char *actor);

#endif /* SCEP_ISSUANCE_H */
