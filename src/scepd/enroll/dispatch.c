/*
 * PKIOperation's messageType table (RFC 8894 §3.3): a verified, opened request goes
 * to the enrollment pipeline, CertPoll, GetCert or GetCRL. The front end calls it for
 * requests it opened itself, and the CA node for those a relay opened (relay/ca.c).
 */
#include "scepd/enroll/enroll.h"

typedef void (*message_handler)(struct scepd_op *op, scep_pkimessage *msg);

static const struct {
    scep_message_type type;
    message_handler handler;
} message_handlers[] = {
    {SCEP_MSG_PKCSREQ, scepd_enroll},     {SCEP_MSG_RENEWALREQ, scepd_enroll},
    {SCEP_MSG_CERTPOLL, scepd_cert_poll}, {SCEP_MSG_GETCERT, scepd_get_cert},
    {SCEP_MSG_GETCRL, scepd_get_crl},
};

void scepd_dispatch(struct scepd_op *op, scep_pkimessage *msg)
{
    for (size_t i = 0; i < sizeof(message_handlers) / sizeof(message_handlers[0]); i++) {
        if (message_handlers[i].type == scep_pkimessage_type(msg)) {
            message_handlers[i].handler(op, msg);
            return;
        }
    }
    scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "unsupported messageType");
}
