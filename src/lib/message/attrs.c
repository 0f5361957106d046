/*
 * The SCEP signed attributes (RFC 8894 §3.2.1): writing them into a
 * SignerInfo and reading them back with their ASN.1 types checked.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/objects.h>
#include <pthread.h>
#include <string.h>

struct attr_def {
    const char *oid;
    const char *name;
    int asn1_type;
};

/* RFC 8894 §3.2.1, Tables 1 and 2. */
static const struct attr_def attr_defs[] = {
    [SCEP_ATTR_MESSAGE_TYPE] = {"2.16.840.1.113733.1.9.2", "messageType", V_ASN1_PRINTABLESTRING},
    [SCEP_ATTR_PKI_STATUS] = {"2.16.840.1.113733.1.9.3", "pkiStatus", V_ASN1_PRINTABLESTRING},
    [SCEP_ATTR_FAIL_INFO] = {"2.16.840.1.113733.1.9.4", "failInfo", V_ASN1_PRINTABLESTRING},
    [SCEP_ATTR_SENDER_NONCE] = {"2.16.840.1.113733.1.9.5", "senderNonce", V_ASN1_OCTET_STRING},
    [SCEP_ATTR_RECIPIENT_NONCE] = {"2.16.840.1.113733.1.9.6", "recipientNonce",
                                   V_ASN1_OCTET_STRING},
    [SCEP_ATTR_TRANSACTION_ID] = {"2.16.840.1.113733.1.9.7", "transactionID",
                                  V_ASN1_PRINTABLESTRING},
    [SCEP_ATTR_FAIL_INFO_TEXT] = {"1.3.6.1.5.5.7.24.1", "failInfoText", V_ASN1_UTF8STRING},
};

#define ATTR_COUNT (sizeof(attr_defs) / sizeof(attr_defs[0]))

static ASN1_OBJECT *attr_objs[ATTR_COUNT];
static pthread_once_t attr_once = PTHREAD_ONCE_INIT;
static int attr_init_ok;

/* The OIDs are created once and then only read, from any thread. */
static void attr_init(void)
{
    for (size_t i = 0; i < ATTR_COUNT; i++) {
        attr_objs[i] = OBJ_txt2obj(attr_defs[i].oid, 1);
        if (attr_objs[i] == NULL)
            return;
    }
    attr_init_ok = 1;
}

static int attr_obj(const ASN1_OBJECT **out, scep_attr_id id)
{
    pthread_once(&attr_once, attr_init);
    if (!attr_init_ok)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot create SCEP attribute OIDs");
    *out = attr_objs[id];
    return SCEP_OK;
}

static int add_attr(CMS_SignerInfo *si, scep_attr_id id, const void *data, int len)
{
    const ASN1_OBJECT *obj = NULL;
    int rc = attr_obj(&obj, id);
    if (rc < 0)
        return rc;
    if (CMS_signed_add1_attr_by_OBJ(si, obj, attr_defs[id].asn1_type, data, len) != 1)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot add the %s attribute", attr_defs[id].name);
    return SCEP_OK;
}

/* X.680 PrintableString alphabet: letters, digits, space and '()+,-./:=? */
static int is_printable_string(const char *s, size_t len)
{
    static const char extra[] = " '()+,-./:=?";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            continue;
        if (c != '\0' && memchr(extra, c, sizeof(extra) - 1) != NULL)
            continue;
        return 0;
    }
    return 1;
}

static int add_number(CMS_SignerInfo *si, scep_attr_id id, int value)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%d", value);
    if (n <= 0 || (size_t)n >= sizeof(text))
        return scep_fail(SCEP_EINVAL, "bad %s value", attr_defs[id].name);
    return add_attr(si, id, text, n);
}

int scep_attrs_add(CMS_SignerInfo *si, const scep_signed_attrs *attrs)
{
    int rc;
    size_t tid_len = attrs->transaction_id ? strlen(attrs->transaction_id) : 0;
    if (tid_len == 0 || tid_len > SCEP_TRANSACTION_ID_MAX)
        return scep_fail(SCEP_EINVAL, "transactionID must be 1 to %d characters",
                         SCEP_TRANSACTION_ID_MAX);
    if (!is_printable_string(attrs->transaction_id, tid_len))
        return scep_fail(SCEP_EINVAL, "transactionID has characters outside PrintableString");

    if ((rc = add_attr(si, SCEP_ATTR_TRANSACTION_ID, attrs->transaction_id, (int)tid_len)) < 0)
        return rc;
    if ((rc = add_number(si, SCEP_ATTR_MESSAGE_TYPE, (int)attrs->type)) < 0)
        return rc;
    if ((rc = add_attr(si, SCEP_ATTR_SENDER_NONCE, attrs->sender_nonce, SCEP_NONCE_LEN)) < 0)
        return rc;
    if (attrs->recipient_nonce != NULL &&
        (rc = add_attr(si, SCEP_ATTR_RECIPIENT_NONCE, attrs->recipient_nonce,
                       (int)attrs->recipient_nonce_len)) < 0)
        return rc;
    if (attrs->has_status) {
        if ((rc = add_number(si, SCEP_ATTR_PKI_STATUS, (int)attrs->status)) < 0)
            return rc;
        if (attrs->status == SCEP_STATUS_FAILURE) {
            if ((rc = add_number(si, SCEP_ATTR_FAIL_INFO, (int)attrs->fail_info)) < 0)
                return rc;
            if (attrs->fail_info_text != NULL && attrs->fail_info_text[0] != '\0') {
                size_t len = strlen(attrs->fail_info_text);
                if (len > 1024)
                    len = 1024;
                if ((rc = add_attr(si, SCEP_ATTR_FAIL_INFO_TEXT, attrs->fail_info_text, (int)len)) <
                    0)
                    return rc;
            }
        }
    }
    return SCEP_OK;
}

/*
 * Finds attribute `id` in `si`: exactly one attribute with exactly one value of
 * the expected ASN.1 type. *out is NULL when absent.
 */
static int get_attr(const ASN1_STRING **out, CMS_SignerInfo *si, scep_attr_id id)
{
    const ASN1_OBJECT *obj = NULL;
    int rc = attr_obj(&obj, id);
    if (rc < 0)
        return rc;
    *out = NULL;
    int idx = CMS_signed_get_attr_by_OBJ(si, obj, -1);
    if (idx < 0)
        return SCEP_OK;
    if (CMS_signed_get_attr_by_OBJ(si, obj, idx) >= 0)
        return scep_fail(SCEP_EATTR, "%s attribute appears twice", attr_defs[id].name);
    X509_ATTRIBUTE *attr = CMS_signed_get_attr(si, idx);
    if (attr == NULL || X509_ATTRIBUTE_count(attr) != 1)
        return scep_fail(SCEP_EATTR, "%s attribute must have exactly one value",
                         attr_defs[id].name);
    ASN1_TYPE *value = X509_ATTRIBUTE_get0_type(attr, 0);
    if (value == NULL || value->type != attr_defs[id].asn1_type)
        return scep_fail(SCEP_EATTR, "%s attribute has the wrong ASN.1 type (expected %s)",
                         attr_defs[id].name, ASN1_tag2str(attr_defs[id].asn1_type));
    *out = value->value.asn1_string;
    return SCEP_OK;
}

/* A short decimal PrintableString ("19") to int. */
static int read_number(int *out, const ASN1_STRING *s, const char *name)
{
    int len = ASN1_STRING_length(s);
    const unsigned char *p = ASN1_STRING_get0_data(s);
    if (len < 1 || len > 4)
        return scep_fail(SCEP_EATTR, "%s is not a small decimal number", name);
    int value = 0;
    for (int i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return scep_fail(SCEP_EATTR, "%s is not a decimal number", name);
        value = value * 10 + (p[i] - '0');
    }
    *out = value;
    return SCEP_OK;
}

/* RFC 8894 §3.2.1.5 says 16 octets; 8 to 64 are accepted from peers and echoed as sent. */
static int read_nonce(unsigned char out[SCEP_NONCE_MAX], size_t *out_len, const ASN1_STRING *s,
                      const char *name)
{
    int len = ASN1_STRING_length(s);
    if (len < SCEP_NONCE_MIN || len > SCEP_NONCE_MAX)
        return scep_fail(SCEP_EATTR, "%s must be %d to %d octets (16 expected), got %d", name,
                         SCEP_NONCE_MIN, SCEP_NONCE_MAX, len);
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
    *out_len = (size_t)len;
    return SCEP_OK;
}

static int dup_text(char **out, const ASN1_STRING *s, size_t max, const char *name)
{
    int len = ASN1_STRING_length(s);
    if (len < 1 || (size_t)len > max)
        return scep_fail(SCEP_EATTR, "%s must be 1 to %zu characters", name, max);
    const unsigned char *data = ASN1_STRING_get0_data(s);
    if (memchr(data, '\0', (size_t)len) != NULL)
        return scep_fail(SCEP_EATTR, "%s contains a NUL character", name);
    char *copy = OPENSSL_malloc((size_t)len + 1);
    if (copy == NULL)
        return scep_fail(SCEP_ENOMEM, "out of memory");
    memcpy(copy, data, (size_t)len);
    copy[len] = '\0';
    *out = copy;
    return SCEP_OK;
}

int scep_attrs_read(scep_pkimessage *msg, CMS_SignerInfo *si)
{
    int rc;
    const ASN1_STRING *s = NULL;
    int number = 0;

    /* RFC 8894 §3.2.1: transactionID, messageType and senderNonce are mandatory. */
    if ((rc = get_attr(&s, si, SCEP_ATTR_TRANSACTION_ID)) < 0)
        return rc;
    if (s == NULL)
        return scep_fail(SCEP_EATTR, "transactionID attribute missing");
    if ((rc = dup_text(&msg->transaction_id, s, SCEP_TRANSACTION_ID_MAX, "transactionID")) < 0)
        return rc;
    /* OpenSSL does not check the PrintableString alphabet; the ID reaches logs and the store. */
    if (!is_printable_string(msg->transaction_id, strlen(msg->transaction_id)))
        return scep_fail(SCEP_EATTR, "transactionID has characters outside PrintableString");

    if ((rc = get_attr(&s, si, SCEP_ATTR_MESSAGE_TYPE)) < 0)
        return rc;
    if (s == NULL)
        return scep_fail(SCEP_EATTR, "messageType attribute missing");
    if ((rc = read_number(&number, s, "messageType")) < 0)
        return rc;
    switch (number) {
    case SCEP_MSG_CERTREP:
    case SCEP_MSG_RENEWALREQ:
    case SCEP_MSG_PKCSREQ:
    case SCEP_MSG_CERTPOLL:
    case SCEP_MSG_GETCERT:
    case SCEP_MSG_GETCRL:
        msg->type = (scep_message_type)number;
        break;
    default:
        /* RFC 8894 §3.2.1.2: undefined message types MUST be treated as errors. */
        return scep_fail(SCEP_EUNSUPPORTED, "unsupported messageType %d", number);
    }

    if ((rc = get_attr(&s, si, SCEP_ATTR_SENDER_NONCE)) < 0)
        return rc;
    if (s != NULL) {
        if ((rc = read_nonce(msg->sender_nonce, &msg->sender_nonce_len, s, "senderNonce")) < 0)
            return rc;
        msg->has_sender_nonce = 1;
    } else if (msg->type != SCEP_MSG_CERTREP) {
        return scep_fail(SCEP_EATTR, "senderNonce attribute missing");
    }

    if ((rc = get_attr(&s, si, SCEP_ATTR_RECIPIENT_NONCE)) < 0)
        return rc;
    if (s != NULL) {
        if ((rc = read_nonce(msg->recipient_nonce, &msg->recipient_nonce_len, s,
                             "recipientNonce")) < 0)
            return rc;
        msg->has_recipient_nonce = 1;
    }

    if (msg->type != SCEP_MSG_CERTREP)
        return SCEP_OK;

    /* RFC 8894 §3.2.1: a CertRep carries pkiStatus, and failInfo when FAILURE. */
    if ((rc = get_attr(&s, si, SCEP_ATTR_PKI_STATUS)) < 0)
        return rc;
    if (s == NULL)
        return scep_fail(SCEP_EATTR, "pkiStatus attribute missing from CertRep");
    if ((rc = read_number(&number, s, "pkiStatus")) < 0)
        return rc;
    if (number != SCEP_STATUS_SUCCESS && number != SCEP_STATUS_FAILURE &&
        number != SCEP_STATUS_PENDING)
        return scep_fail(SCEP_EATTR, "unknown pkiStatus %d", number);
    msg->status = (scep_pki_status)number;

    if (msg->status == SCEP_STATUS_FAILURE) {
        if ((rc = get_attr(&s, si, SCEP_ATTR_FAIL_INFO)) < 0)
            return rc;
        if (s == NULL)
            return scep_fail(SCEP_EATTR, "failInfo attribute missing from CertRep FAILURE");
        if ((rc = read_number(&number, s, "failInfo")) < 0)
            return rc;
        if (number > SCEP_FAIL_BAD_CERT_ID)
            return scep_fail(SCEP_EATTR, "unknown failInfo %d", number);
        msg->fail_info = (scep_fail_info)number;
        if ((rc = get_attr(&s, si, SCEP_ATTR_FAIL_INFO_TEXT)) < 0)
            return rc;
        if (s != NULL && (rc = dup_text(&msg->fail_info_text, s, 4096, "failInfoText")) < 0)
            return rc;
    }
    return SCEP_OK;
}
