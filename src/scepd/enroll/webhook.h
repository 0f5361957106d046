/*
 * Webhook authorisation (ALIAS.webhook.url), Intune-style: before issuing,
 * scepd POSTs the certificate it is about to issue as JSON, signed with
 * HMAC-SHA256, and issues only when the receiver answers HTTP 200 with a JSON
 * object whose "allow" is the boolean true. Asking decides nothing by itself:
 * the caller refuses or issues on the verdict.
 */
#ifndef SCEPD_WEBHOOK_H
#define SCEPD_WEBHOOK_H

#include "scepd/ops/ops.h"

#include <openssl/x509v3.h>

/* Longest reason text taken from the receiver's answer. */
#define SCEPD_WEBHOOK_REASON_MAX 128

/* What the authorisation service is asked about: the certificate as it will be issued. */
struct scepd_webhook_query {
    const char *alias;
    const char *transaction_id;
    const char *message_type;       /* "PKCSReq", "RenewalReq" */
    const char *mode;               /* "ca", "ra", "challenge", "renewal" */
    const char *username;           /* the end entity the request is for; may be NULL */
    const X509_NAME *subject;       /* the subject the certificate will carry */
    const GENERAL_NAMES *sans;      /* every subjectAltName it will carry; may be NULL */
    EVP_PKEY *key;                  /* the request's public key */
    const char *challenge_password; /* as sent, for services that check it; may be NULL */
    const char *client_addr;
};

enum scepd_webhook_verdict {
    SCEPD_WEBHOOK_ALLOW = 0,  /* 200 and {"allow": true}; or unreachable with webhook.failopen */
    SCEPD_WEBHOOK_DENY,       /* an answer that is anything else */
    SCEPD_WEBHOOK_UNAVAILABLE /* unreachable after the retries, fail closed */
};

/*
 * Asks webhook.url (when set; unset: ALLOW at once). `reason` gets the service's "reason"
 * (printable, control characters replaced) or why it could not be asked; never secrets.
 * A request that cannot even be built (out of memory) is UNAVAILABLE whatever
 * webhook.failopen says: the service was not unreachable, scepd was.
 */
enum scepd_webhook_verdict scepd_webhook_ask(const struct scep_config_alias_settings *settings,
                                             const struct scepd_webhook_query *query, char *reason,
                                             size_t reason_size);

/*
 * The receiver's verdict from an HTTP status and body: ALLOW only for status 200
 * and a body that is exactly one JSON object (no duplicate keys, nothing after it)
 * whose "allow" is the JSON boolean true; DENY otherwise. `reason` (may be NULL)
 * gets the object's "reason" when it is a string, whatever the status: printable
 * ASCII, each other character '?', at most SCEPD_WEBHOOK_REASON_MAX characters.
 */
enum scepd_webhook_verdict scepd_webhook_answer_verdict(long status, const char *body,
                                                        size_t body_len, char *reason,
                                                        size_t reason_size);

#endif
