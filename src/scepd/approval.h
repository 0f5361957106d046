/*
 * Manual approval, the "polling RA" model (alias approval = manual): an
 * authorised PKCSReq is held PENDING until an operator approves or rejects it
 * with scepctl; CertPoll and retransmissions answer from the stored row
 * (RFC 8894 §2.5.1, §3.3.3) and a request left waiting past pendingexpiry
 * fails as "expired".
 */
#ifndef SCEPD_APPROVAL_H
#define SCEPD_APPROVAL_H

#include "scepd/ops.h"

/* Whether the alias holds authorised requests for an operator. */
int scepd_approval_manual(const struct scepd_op *op);

/*
 * After authorisation succeeded on a manual alias: marks the request held and
 * answers PENDING. A second request for an end entity that already has one
 * waiting is refused (FAILURE badRequest); the end entity's code is consumed
 * only when the operator approves.
 */
void scepd_approval_hold(struct scepd_op *op, const scep_pkimessage *msg, scep_store *store,
                         const scep_store_request *row, const char *username);

/*
 * A retransmitted PKCSReq (same transactionID and key) of a request held for
 * approval or rejected: answered as a CertPoll would be. Returns 1 when
 * answered, 0 when enrollment should carry on.
 */
int scepd_approval_retransmission(struct scepd_op *op, const scep_pkimessage *msg,
                                  scep_store *store, const scep_store_request *row);

/*
 * Answers a PENDING request: PENDING, or once pendingexpiry has passed,
 * FAILURE badRequest "expired" (and the row becomes REJECTED "expired").
 */
void scepd_approval_answer_pending(struct scepd_op *op, const scep_pkimessage *msg,
                                   scep_store *store, const scep_store_request *row);

#endif
