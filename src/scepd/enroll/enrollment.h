/*
 * The enrollment pipeline: PKCSReq and RenewalReq, in every mode, go through the
 * same stages in the same order, each reading what the stages before it decided
 * and adding its own part to one struct (docs/security.md):
 *
 *   identify      the transaction: new, retransmission, or over (identify.c)
 *   authenticate  exactly one of: end entity code, RA secret, one-time challenge,
 *                 renewal signer; names the end entity (authenticate.c)
 *   record        only now is a new transaction stored (identify.c)
 *   bind          the end entity's alias, CA and profile (bind.c)
 *   constrain     the certificate's subject and subjectAltNames (constrain.c)
 *   gate          webhook, then manual approval (gate.c)
 *   issue         with the CA's active key; recorded before the reply (issue.c)
 *
 * A stage either lets the request go on or decides the answer; the reply is built
 * once, at the end (pipeline.c).
 */
#ifndef SCEPD_ENROLL_ENROLLMENT_H
#define SCEPD_ENROLL_ENROLLMENT_H

#include "issuance/issuance.h"
#include "scepd/enroll/enroll.h"

#define SCEPD_USERNAME_MAX  256
#define SCEPD_CHALLENGE_MAX 1024
#define SCEPD_TEXT_MAX      256
#define SCEPD_REASON_MAX    512

enum scepd_stage {
    SCEPD_STAGE_NEXT = 0, /* the request goes on to the next stage */
    SCEPD_STAGE_DONE      /* the answer is decided (enrollment.answer) */
};

enum scepd_answer_kind {
    SCEPD_ANSWER_NONE = 0,
    SCEPD_ANSWER_CERT,        /* answer.cert, issued now */
    SCEPD_ANSWER_STORED_CERT, /* answer.ca_name / answer.serial, issued before */
    SCEPD_ANSWER_PENDING,
    SCEPD_ANSWER_FAILURE
};

/* How the request was authenticated (at most one). */
enum scepd_auth {
    SCEPD_AUTH_NONE = 0,
    SCEPD_AUTH_CODE,      /* CA mode: the end entity's enrollment code */
    SCEPD_AUTH_SECRET,    /* RA mode: ra.authPwd */
    SCEPD_AUTH_OPEN,      /* RA mode without ra.authPwd (warned at start) */
    SCEPD_AUTH_CHALLENGE, /* RA mode: a one-time challenge */
    SCEPD_AUTH_RENEWAL    /* signed by a certificate this CA issued */
};

struct scepd_answer {
    enum scepd_answer_kind kind;
    X509 *cert;
    char ca_name[256];
    char serial[SCEP_SERIAL_HEX_MAX];
    scep_fail_info fail_info;
    char text[SCEPD_TEXT_MAX];     /* failInfoText, for the client */
    int record;                    /* FAILURE: mark the request FAILED and write an audit event */
    char detail[SCEPD_REASON_MAX]; /* for the log line and the audit trail; never secrets */
};

struct scepd_enrollment {
    struct scepd_op *op;
    const scep_pkimessage *msg;
    scep_store *store;
    X509_REQ *csr;
    X509 *signer;
    unsigned char key_hash[32]; /* SHA-256 of the CSR's SubjectPublicKeyInfo */
    int renewal_req;            /* messageType RenewalReq */

    /* identify */
    scep_store_request *row; /* the stored transaction; NULL until recorded */
    unsigned char *csr_der;  /* the CSR as stored: without its challengePassword */
    size_t csr_der_len;
    unsigned char *signer_der;
    size_t signer_der_len;

    /* authenticate */
    enum scepd_auth auth;
    char username[SCEPD_USERNAME_MAX + 1];
    char challenge[SCEPD_CHALLENGE_MAX]; /* as sent; wiped at the end */
    int has_challenge;
    scep_store_end_entity *ee;        /* the end entity, once it exists */
    scep_store_cert *old;             /* renewal: the signer's stored row */
    const struct scepd_ca *signer_ca; /* renewal: the CA whose key issued the signer */
    char *challenge_pattern;          /* one-time challenge: its subject pattern, or NULL */

    /* bind, constrain */
    const struct scepd_ca *ca; /* the issuing CA */
    scep_decision decision;
    char name_notes[SCEPD_REASON_MAX]; /* CSR names not copied, for the log */

    struct scepd_answer answer;
};

/* The stages, in order. */
enum scepd_stage scepd_enroll_identify(struct scepd_enrollment *e);
enum scepd_stage scepd_enroll_authenticate(struct scepd_enrollment *e);
/* After authenticate: the new transaction's row (identify.c). */
enum scepd_stage scepd_enroll_record(struct scepd_enrollment *e);
enum scepd_stage scepd_enroll_bind(struct scepd_enrollment *e);
enum scepd_stage scepd_enroll_constrain(struct scepd_enrollment *e);
enum scepd_stage scepd_enroll_gate(struct scepd_enrollment *e);
enum scepd_stage scepd_enroll_issue(struct scepd_enrollment *e);

/* Decides a FAILURE (recorded on the request) with `text` for the client and a log detail. */
enum scepd_stage scepd_enroll_refuse(struct scepd_enrollment *e, scep_fail_info fail_info,
                                     const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An audit event about this request (client address, alias, transactionID); a failed
 * write is logged, never fatal. */
void scepd_enroll_audit(scep_store *store, const struct scepd_op *op, const char *action,
                        const char *outcome, const char *detail);
/* Sets the log detail of an answer that is not a refusal. */
void scepd_enroll_note(struct scepd_enrollment *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The answer a request held for approval gets now: PENDING, or FAILURE once expired. */
void scepd_held_answer(struct scepd_answer *answer, struct scepd_op *op, scep_store *store,
                       const scep_store_request *row);
/* The answer to a stored request that is over (ISSUED, REJECTED, FAILED). */
void scepd_stored_answer(struct scepd_answer *answer, const scep_store_request *row);
/* Builds and sends the reply for `answer` (the one place a CertRep for an enrollment is built). */
void scepd_answer_send(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                       int64_t request_id, struct scepd_answer *answer);

/* SHA-256 of a CSR's SubjectPublicKeyInfo. */
int scepd_csr_key_hash(unsigned char out[32], X509_REQ *csr);
/* The CSR's challengePassword as UTF-8; -1 when absent or unreadable. Caller wipes `out`. */
int scepd_csr_challenge(char *out, size_t out_size, X509_REQ *csr);

#endif
