/*
 * libscep error model.
 *
 * Every fallible public function returns 0 (SCEP_OK) or a negative SCEP_E* code.
 * The calling thread's last error keeps a one-line human message, with the
 * OpenSSL reason appended where OpenSSL reported one; read it with
 * scep_error_message() before the next libscep call on the same thread.
 *
 * Codes are never renumbered: new codes are appended to the list.
 */
#ifndef SCEP_ERROR_H
#define SCEP_ERROR_H

#include "scep/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * SCEP failInfo values, RFC 8894 §3.2.1.4 (Table 5).
 */
typedef enum scep_fail_info {
    SCEP_FAIL_BAD_ALG = 0,
    SCEP_FAIL_BAD_MESSAGE_CHECK = 1,
    SCEP_FAIL_BAD_REQUEST = 2,
    SCEP_FAIL_BAD_TIME = 3,
    SCEP_FAIL_BAD_CERT_ID = 4
} scep_fail_info;

/*
 * X(name, value, failInfo, text): the single table of error codes. The failInfo
 * column is the one place where an internal error is turned into what a
 * CertRep FAILURE tells the requester.
 */
#define SCEP_ERROR_LIST(X)                                                                         \
    X(SCEP_OK, 0, SCEP_FAIL_BAD_REQUEST, "success")                                                \
    X(SCEP_ENOMEM, -1, SCEP_FAIL_BAD_REQUEST, "out of memory")                                     \
    X(SCEP_EINVAL, -2, SCEP_FAIL_BAD_REQUEST, "invalid argument")                                  \
    X(SCEP_ECRYPTO, -3, SCEP_FAIL_BAD_REQUEST, "cryptographic operation failed")                   \
    X(SCEP_ETOOBIG, -4, SCEP_FAIL_BAD_REQUEST, "input exceeds the size limit")                     \
    X(SCEP_EMALFORMED, -5, SCEP_FAIL_BAD_REQUEST, "malformed message")                             \
    X(SCEP_EBADSIG, -6, SCEP_FAIL_BAD_MESSAGE_CHECK,                                               \
      "signature or message digest does not verify")                                               \
    X(SCEP_EBADALG, -7, SCEP_FAIL_BAD_ALG, "unsupported or disallowed algorithm")                  \
    X(SCEP_ENOSIGNER, -8, SCEP_FAIL_BAD_MESSAGE_CHECK, "signer certificate missing")               \
    X(SCEP_EATTR, -9, SCEP_FAIL_BAD_REQUEST, "missing or malformed SCEP attribute")                \
    X(SCEP_ECONTENT, -10, SCEP_FAIL_BAD_REQUEST, "unexpected content type")                        \
    X(SCEP_EDECRYPT, -11, SCEP_FAIL_BAD_MESSAGE_CHECK, "content could not be decrypted")           \
    X(SCEP_ERECIPIENT, -12, SCEP_FAIL_BAD_REQUEST, "message is not encrypted to us")               \
    X(SCEP_ENONCE, -13, SCEP_FAIL_BAD_MESSAGE_CHECK, "recipientNonce does not match")              \
    X(SCEP_ETRANSACTION, -14, SCEP_FAIL_BAD_REQUEST, "transactionID does not match")               \
    X(SCEP_EBADTIME, -15, SCEP_FAIL_BAD_TIME, "signing time out of range")                         \
    X(SCEP_ENOTFOUND, -16, SCEP_FAIL_BAD_CERT_ID, "no matching certificate")                       \
    X(SCEP_EUNSUPPORTED, -17, SCEP_FAIL_BAD_REQUEST, "operation not supported")                    \
    X(SCEP_EDENIED, -18, SCEP_FAIL_BAD_REQUEST, "request not authorised")                          \
    X(SCEP_EEXISTS, -19, SCEP_FAIL_BAD_REQUEST, "already exists")                                  \
    X(SCEP_EIO, -20, SCEP_FAIL_BAD_REQUEST, "input/output error")                                  \
    X(SCEP_ESTORE, -21, SCEP_FAIL_BAD_REQUEST, "storage error")                                    \
    X(SCEP_ECONFIG, -22, SCEP_FAIL_BAD_REQUEST, "configuration error")                             \
    X(SCEP_ENETWORK, -23, SCEP_FAIL_BAD_REQUEST, "network error")                                  \
    X(SCEP_EHTTP, -24, SCEP_FAIL_BAD_REQUEST, "unexpected HTTP response")                          \
    X(SCEP_ETIMEOUT, -25, SCEP_FAIL_BAD_REQUEST, "timed out")                                      \
    X(SCEP_EVERIFY, -26, SCEP_FAIL_BAD_MESSAGE_CHECK, "certificate verification failed")           \
    X(SCEP_EPERM, -27, SCEP_FAIL_BAD_REQUEST, "permission denied")                                 \
    X(SCEP_EFAILURE, -28, SCEP_FAIL_BAD_REQUEST, "the server answered FAILURE")                    \
    X(SCEP_EPENDING, -29, SCEP_FAIL_BAD_REQUEST, "the request is pending")                         \
    X(SCEP_EBADCSR, -30, SCEP_FAIL_BAD_MESSAGE_CHECK, "certificate request signature invalid")     \
    X(SCEP_EPOLICY, -31, SCEP_FAIL_BAD_REQUEST, "request violates the certificate profile")        \
    X(SCEP_ESTATE, -32, SCEP_FAIL_BAD_REQUEST, "object is in the wrong state")                     \
    X(SCEP_EUNAVAILABLE, -33, SCEP_FAIL_BAD_REQUEST, "the store cannot be reached")

typedef enum scep_error {
#define SCEP_ERROR_ENUM_(name, value, fail, text) name = value,
    SCEP_ERROR_LIST(SCEP_ERROR_ENUM_)
#undef SCEP_ERROR_ENUM_
} scep_error;

/* The symbolic name of a code ("SCEP_EBADSIG"), or "SCEP_E?" for an unknown one. */
SCEP_EXPORT const char *scep_error_name(int code);

/* The fixed description of a code, from the table above. */
SCEP_EXPORT const char *scep_error_text(int code);

/*
 * The failInfo a CertRep FAILURE must carry for this error
 * (RFC 8894 §3.2.1.4). Unknown codes map to badRequest.
 */
SCEP_EXPORT scep_fail_info scep_error_fail_info(int code);

/* The name of a failInfo value as RFC 8894 spells it ("badMessageCheck"). */
SCEP_EXPORT const char *scep_fail_info_name(scep_fail_info fail_info);

/*
 * The calling thread's last error: code and one-line message. The message is
 * borrowed thread-local storage, valid until the next failing libscep call on
 * this thread; it is "" when no error was recorded.
 */
SCEP_EXPORT int scep_error_code(void);
SCEP_EXPORT const char *scep_error_message(void);

/* Forgets the calling thread's last error. */
SCEP_EXPORT void scep_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif /* SCEP_ERROR_H */
