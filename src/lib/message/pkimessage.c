/*
 * The pkiMessage (RFC 8894 §3.2): the outer SignedData, its verification, and
 * the request and reply builders that put the layers together.
 */
#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

int scep_der_check(const unsigned char *der, size_t der_len, size_t max_size)
{
    if (der == NULL || der_len == 0)
        return scep_fail(SCEP_EMALFORMED, "empty message");
    if (der_len > max_size)
        return scep_fail(SCEP_ETOOBIG, "message of %zu bytes exceeds the limit of %zu bytes",
                         der_len, max_size);
    if (der_len > (size_t)INT32_MAX)
        return scep_fail(SCEP_ETOOBIG, "message too large");
    return SCEP_OK;
}

/* Decodes a whole CMS ContentInfo (BER or DER); data after it is an error. */
static int decode_cms(CMS_ContentInfo **out, const unsigned char *der, size_t der_len,
                      const char *what)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    if (cms == NULL)
        return scep_fail_ossl(SCEP_EMALFORMED, "%s is not a valid CMS ContentInfo", what);
    if (p != der + der_len) {
        CMS_ContentInfo_free(cms);
        return scep_fail(SCEP_EMALFORMED, "%s has %zu bytes of trailing data", what,
                         (size_t)(der + der_len - p));
    }
    *out = cms;
    return SCEP_OK;
}

static int cms_to_der(unsigned char **out, size_t *out_len, CMS_ContentInfo *cms)
{
    unsigned char *der = NULL;
    int len = i2d_CMS_ContentInfo(cms, &der);
    if (len <= 0)
        return scep_fail_ossl(SCEP_ECRYPTO, "cannot encode CMS message");
    *out = der;
    *out_len = (size_t)len;
    return SCEP_OK;
}

int scep_signed_data_build(unsigned char **out, size_t *out_len, const unsigned char *content,
                           size_t content_len, X509 *signer_cert, EVP_PKEY *signer_key,
                           STACK_OF(X509) * extra_certs, scep_digest digest,
                           const scep_signed_attrs *attrs, int legacy)
{
    int rc = SCEP_OK;
    CMS_ContentInfo *cms = NULL;
    BIO *in = NULL;
    const EVP_MD *md = NULL;
    static const unsigned char empty[1] = {0};

    ENSURE(signer_cert != NULL && signer_key != NULL, SCEP_EINVAL,
           "signer certificate and key are required");
    ENSURE(X509_check_private_key(signer_cert, signer_key) == 1, SCEP_EINVAL,
           "signer key does not match the signer certificate");
    GUARD(scep_digest_md(&md, digest, legacy));
    /* There is no ECDSA-with-MD5 signature algorithm. */
    ENSURE(digest != SCEP_DIGEST_MD5 || EVP_PKEY_is_a(signer_key, "RSA"), SCEP_EBADALG,
           "MD5 signatures need an RSA key");

    cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    ENSURE_OSSL(cms != NULL, SCEP_ECRYPTO, "cannot create SignedData");
    /* CMS_PARTIAL leaves the SignerInfo open for the SCEP attributes; no
     * S/MIME capabilities, which SCEP peers do not expect. */
    CMS_SignerInfo *si = CMS_add1_signer(cms, signer_cert, signer_key, md,
                                         CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP);
    ENSURE_OSSL(si != NULL, SCEP_ECRYPTO, "cannot add the signer");
    GUARD(scep_attrs_add(si, attrs));
    for (int i = 0; extra_certs != NULL && i < sk_X509_num(extra_certs); i++) {
        X509 *extra = sk_X509_value(extra_certs, i);
        if (X509_cmp(extra, signer_cert) != 0)
            ENSURE_OSSL(CMS_add1_cert(cms, extra) == 1, SCEP_ECRYPTO, "cannot add certificate");
    }
    /* An empty eContent (as PENDING and FAILURE carry) is still encapsulated, as
     * deployed servers do, so that every client finds content to digest. */
    in = BIO_new_mem_buf(content_len ? content : empty, (int)content_len);
    ENSURE_ALLOC(in);
    ENSURE_OSSL(CMS_final(cms, in, NULL, CMS_BINARY) == 1, SCEP_ECRYPTO,
                "cannot sign the pkiMessage");
    GUARD(cms_to_der(out, out_len, cms));

cleanup:
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    return rc;
}

void scep_pkimessage_free(scep_pkimessage *msg)
{
    if (msg == NULL)
        return;
    OPENSSL_free(msg->transaction_id);
    OPENSSL_free(msg->fail_info_text);
    X509_free(msg->signer_cert);
    OPENSSL_free(msg->envelope);
    OPENSSL_clear_free(msg->content, msg->content_len);
    X509_REQ_free(msg->csr);
    X509_NAME_free(msg->issuer);
    X509_NAME_free(msg->subject);
    ASN1_INTEGER_free(msg->serial);
    sk_X509_pop_free(msg->certs, X509_free);
    X509_CRL_free(msg->crl);
    OPENSSL_free(msg);
}

static X509 *find_signer(CMS_SignerInfo *si, STACK_OF(X509) * certs)
{
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
        X509 *cert = sk_X509_value(certs, i);
        if (CMS_SignerInfo_cert_cmp(si, cert) == 0)
            return cert;
    }
    return NULL;
}

static int is_trusted(X509 *cert, STACK_OF(X509) * trusted)
{
    for (int i = 0; i < sk_X509_num(trusted); i++)
        if (X509_cmp(cert, sk_X509_value(trusted, i)) == 0)
            return 1;
    return 0;
}

static int message_needs_envelope(const scep_pkimessage *msg)
{
    if (msg->type == SCEP_MSG_CERTREP)
        return msg->status == SCEP_STATUS_SUCCESS;
    return 1;
}

int scep_pkimessage_parse(scep_pkimessage **out, const unsigned char *der, size_t der_len,
                          STACK_OF(X509) * signer_candidates, STACK_OF(X509) * trusted_signers,
                          const scep_message_options *options)
{
    int rc = SCEP_OK;
    scep_pkimessage *msg = NULL;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509) *signer_only = NULL;
    BIO *detached = NULL;
    int legacy = scep_options_legacy(options);

    ENSURE(out != NULL, SCEP_EINVAL, "output pointer missing");
    *out = NULL;
    GUARD(scep_der_check(der, der_len, scep_options_max_size(options)));
    GUARD(decode_cms(&cms, der, der_len, "pkiMessage"));

    /* RFC 8894 §3.2: a SignedData over id-data with signed attributes. */
    ENSURE(OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed, SCEP_ECONTENT,
           "pkiMessage is not a SignedData");
    ENSURE(OBJ_obj2nid(CMS_get0_eContentType(cms)) == NID_pkcs7_data, SCEP_ECONTENT,
           "pkiMessage content type is not id-data");
    STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms);
    ENSURE(signers != NULL && sk_CMS_SignerInfo_num(signers) == 1, SCEP_EMALFORMED,
           "pkiMessage must have exactly one signer");
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(signers, 0);
    ENSURE(CMS_signed_get_attr_count(si) > 0, SCEP_EMALFORMED,
           "pkiMessage signer has no signed attributes");

    msg = OPENSSL_zalloc(sizeof(*msg));
    ENSURE_ALLOC(msg);

    X509_ALGOR *digest_alg = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &digest_alg, NULL);
    ENSURE(digest_alg != NULL, SCEP_EMALFORMED, "signer has no digest algorithm");
    GUARD(scep_digest_from_nid(&msg->digest, OBJ_obj2nid(digest_alg->algorithm), legacy));

    certs = CMS_get1_certs(cms);
    X509 *signer = find_signer(si, certs);
    if (signer == NULL)
        signer = find_signer(si, signer_candidates);
    ENSURE(signer != NULL, SCEP_ENOSIGNER,
           "the signer certificate is not in the message nor among the known certificates");
    if (trusted_signers != NULL)
        ENSURE(is_trusted(signer, trusted_signers), SCEP_EVERIFY,
               "message is signed by a certificate we do not trust (%s)",
               X509_NAME_oneline(X509_get_subject_name(signer), (char[256]){0}, 256));
    ENSURE_OSSL(X509_up_ref(signer) == 1, SCEP_ECRYPTO, "certificate reference");
    msg->signer_cert = signer;

    /* Signature over the signed attributes and the messageDigest of the content.
     * The signer is self-signed (or checked above), so no chain is built here. */
    signer_only = sk_X509_new_null();
    ENSURE_ALLOC(signer_only);
    ENSURE_ALLOC(sk_X509_push(signer_only, signer) > 0 ? signer_only : NULL);
    if (CMS_is_detached(cms)) {
        detached = BIO_new_mem_buf("", 0);
        ENSURE_ALLOC(detached);
    }
    ENSURE_OSSL(CMS_verify(cms, signer_only, NULL, detached, NULL,
                           CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_NOINTERN) == 1,
                SCEP_EBADSIG, "pkiMessage signature does not verify");

    GUARD(scep_attrs_read(msg, si));

    ASN1_OCTET_STRING **content = CMS_get0_content(cms);
    int have_content = content != NULL && *content != NULL && ASN1_STRING_length(*content) > 0;
    if (message_needs_envelope(msg)) {
        ENSURE(have_content, SCEP_EMALFORMED, "%s carries no pkcsPKIEnvelope",
               scep_message_type_name(msg->type));
        const unsigned char *env = ASN1_STRING_get0_data(*content);
        size_t env_len = (size_t)ASN1_STRING_length(*content);
        /* RFC 8894 §3.2.2: the content is an EnvelopedData. */
        GUARD(scep_envelope_cipher(&msg->cipher, env, env_len, legacy));
        GUARD(scep_bytes_dup(&msg->envelope, env, env_len));
        msg->envelope_len = env_len;
    }

    *out = msg;
    msg = NULL;

cleanup:
    BIO_free(detached);
    sk_X509_free(signer_only);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    scep_pkimessage_free(msg);
    return rc;
}

int scep_pkimessage_peek(scep_pkimessage **out, const unsigned char *der, size_t der_len,
                         const scep_message_options *options)
{
    int rc = SCEP_OK;
    scep_pkimessage *msg = NULL;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(X509) *certs = NULL;

    ENSURE(out != NULL, SCEP_EINVAL, "output pointer missing");
    *out = NULL;
    GUARD(scep_der_check(der, der_len, scep_options_max_size(options)));
    GUARD(decode_cms(&cms, der, der_len, "pkiMessage"));
    ENSURE(OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed, SCEP_ECONTENT,
           "pkiMessage is not a SignedData");
    STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms);
    ENSURE(signers != NULL && sk_CMS_SignerInfo_num(signers) == 1, SCEP_EMALFORMED,
           "pkiMessage must have exactly one signer");
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(signers, 0);
    msg = OPENSSL_zalloc(sizeof(*msg));
    ENSURE_ALLOC(msg);
    /* The digest the requester used, if we know it at all; else SHA-256. */
    X509_ALGOR *digest_alg = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &digest_alg, NULL);
    if (digest_alg == NULL ||
        scep_digest_from_nid(&msg->digest, OBJ_obj2nid(digest_alg->algorithm), 1) < 0)
        msg->digest = SCEP_DIGEST_SHA256;
    certs = CMS_get1_certs(cms);
    X509 *signer = find_signer(si, certs);
    ENSURE(signer != NULL, SCEP_ENOSIGNER, "the signer certificate is not in the message");
    ENSURE_OSSL(X509_up_ref(signer) == 1, SCEP_ECRYPTO, "certificate reference");
    msg->signer_cert = signer;
    GUARD(scep_attrs_read(msg, si));
    ENSURE(msg->has_sender_nonce, SCEP_EATTR, "senderNonce attribute missing");
    *out = msg;
    msg = NULL;

cleanup:
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    scep_pkimessage_free(msg);
    return rc;
}

/* RFC 8894 §3.2.2: the envelope's content must match the messageType. */
static int decode_content(scep_pkimessage *msg)
{
    switch (msg->type) {
    case SCEP_MSG_PKCSREQ:
    case SCEP_MSG_RENEWALREQ:
        return scep_pkcsreq_decode(msg);
    case SCEP_MSG_CERTPOLL:
        return scep_certpoll_decode(msg);
    case SCEP_MSG_GETCERT:
    case SCEP_MSG_GETCRL:
        return scep_getcert_decode(msg);
    case SCEP_MSG_CERTREP:
        return scep_certrep_decode(msg);
    }
    return scep_fail(SCEP_EMALFORMED, "unknown messageType");
}

/* Content that does not parse is not the message's: kept, it would be what
 * scep_pkimessage_content() tells and what a second attempt leaks (a challenge in it). */
static int take_content(scep_pkimessage *msg)
{
    int rc = decode_content(msg);
    if (rc < 0) {
        OPENSSL_clear_free(msg->content, msg->content_len);
        msg->content = NULL;
        msg->content_len = 0;
        msg->recipient_index = 0;
    }
    return rc;
}

int scep_pkimessage_decrypt(scep_pkimessage *msg, X509 *const *certs, EVP_PKEY *const *keys,
                            size_t count, const scep_message_options *options)
{
    int rc = SCEP_OK;
    if (msg == NULL)
        return scep_fail(SCEP_EINVAL, "message missing");
    if (msg->decrypted)
        return SCEP_OK;
    if (msg->envelope == NULL) {
        msg->decrypted = 1;
        return SCEP_OK;
    }
    GUARD(scep_envelope_decrypt(&msg->content, &msg->content_len, &msg->recipient_index,
                                msg->envelope, msg->envelope_len, certs, keys, count,
                                scep_options_legacy(options)));
    GUARD(take_content(msg));
    msg->decrypted = 1;

cleanup:
    return rc;
}

int scep_pkimessage_set_content(scep_pkimessage *msg, const unsigned char *content,
                                size_t content_len)
{
    int rc = SCEP_OK;
    if (msg == NULL || content == NULL || content_len == 0)
        return scep_fail(SCEP_EINVAL, "message and content are required");
    if (msg->decrypted)
        return scep_fail(SCEP_EINVAL, "the message's content is already known");
    if (msg->envelope == NULL)
        return scep_fail(SCEP_EMALFORMED, "the message has no pkcsPKIEnvelope");
    /* An RA opens requests for the CA; a CertRep is opened by its requester alone. */
    if (msg->type == SCEP_MSG_CERTREP)
        return scep_fail(SCEP_EINVAL, "a CertRep's content is not taken from a third party");
    GUARD(scep_bytes_dup(&msg->content, content, content_len));
    msg->content_len = content_len;
    msg->recipient_index = SIZE_MAX;
    GUARD(take_content(msg));
    msg->decrypted = 1;

cleanup:
    return rc;
}

int scep_pkimessage_check_reply(const scep_pkimessage *reply, const char *transaction_id,
                                const unsigned char sender_nonce[SCEP_NONCE_LEN])
{
    if (reply == NULL || transaction_id == NULL || sender_nonce == NULL)
        return scep_fail(SCEP_EINVAL, "reply, transactionID and nonce are required");
    if (reply->type != SCEP_MSG_CERTREP)
        return scep_fail(SCEP_ECONTENT, "reply is a %s, not a CertRep",
                         scep_message_type_name(reply->type));
    if (strcmp(reply->transaction_id, transaction_id) != 0)
        return scep_fail(SCEP_ETRANSACTION, "reply transactionID \"%s\" is not ours",
                         reply->transaction_id);
    /* RFC 8894 §3.2.1.5: the reply MUST echo our senderNonce. */
    if (!reply->has_recipient_nonce)
        return scep_fail(SCEP_ENONCE, "reply has no recipientNonce");
    if (reply->recipient_nonce_len != SCEP_NONCE_LEN ||
        CRYPTO_memcmp(reply->recipient_nonce, sender_nonce, SCEP_NONCE_LEN) != 0)
        return scep_fail(SCEP_ENONCE, "reply recipientNonce does not match our senderNonce");
    return SCEP_OK;
}

int scep_nonce_generate(unsigned char out[SCEP_NONCE_LEN])
{
    if (RAND_bytes(out, SCEP_NONCE_LEN) != 1)
        return scep_fail_ossl(SCEP_ECRYPTO, "random number generator failed");
    return SCEP_OK;
}

static int encode_request_content(unsigned char **out, size_t *out_len, const scep_request *request)
{
    switch (request->type) {
    case SCEP_MSG_PKCSREQ:
    case SCEP_MSG_RENEWALREQ:
        return scep_pkcsreq_encode(out, out_len, request->csr);
    case SCEP_MSG_CERTPOLL:
        return scep_certpoll_encode(out, out_len, request->issuer, request->subject);
    case SCEP_MSG_GETCERT:
    case SCEP_MSG_GETCRL:
        return scep_getcert_encode(out, out_len, request->issuer, request->serial);
    case SCEP_MSG_CERTREP:
        break;
    }
    return scep_fail(SCEP_EINVAL, "%s is not a request type",
                     scep_message_type_name(request->type));
}

int scep_request_build(unsigned char **out, size_t *out_len, char **out_transaction_id,
                       unsigned char out_sender_nonce[SCEP_NONCE_LEN], const scep_request *request,
                       const scep_message_options *options)
{
    int rc = SCEP_OK;
    unsigned char *content = NULL;
    size_t content_len = 0;
    unsigned char *envelope = NULL;
    size_t envelope_len = 0;
    char *transaction_id = NULL;
    unsigned char nonce[SCEP_NONCE_LEN];
    int legacy = scep_options_legacy(options);

    ENSURE(out != NULL && out_len != NULL && request != NULL, SCEP_EINVAL,
           "output and request are required");
    ENSURE(request->recipient_cert != NULL, SCEP_EINVAL, "the CA/RA certificate is required");

    GUARD(encode_request_content(&content, &content_len, request));
    GUARD(scep_envelope_encrypt(&envelope, &envelope_len, content, content_len,
                                request->recipient_cert, request->cipher, legacy));

    if (request->transaction_id != NULL) {
        transaction_id = OPENSSL_strdup(request->transaction_id);
        ENSURE_ALLOC(transaction_id);
    } else {
        EVP_PKEY *key = request->csr ? X509_REQ_get0_pubkey(request->csr) : request->signer_key;
        ENSURE(key != NULL, SCEP_EINVAL, "no key to derive a transactionID from");
        GUARD(scep_transaction_id_from_key(&transaction_id, key));
    }
    if (request->sender_nonce != NULL)
        memcpy(nonce, request->sender_nonce, SCEP_NONCE_LEN);
    else
        GUARD(scep_nonce_generate(nonce));

    scep_signed_attrs attrs = {
        .type = request->type,
        .transaction_id = transaction_id,
        .sender_nonce = nonce,
    };
    GUARD(scep_signed_data_build(out, out_len, envelope, envelope_len, request->signer_cert,
                                 request->signer_key, NULL, request->digest, &attrs, legacy));
    if (out_sender_nonce != NULL)
        memcpy(out_sender_nonce, nonce, SCEP_NONCE_LEN);
    if (out_transaction_id != NULL) {
        *out_transaction_id = transaction_id;
        transaction_id = NULL;
    }

cleanup:
    OPENSSL_clear_free(content, content_len);
    OPENSSL_free(envelope);
    OPENSSL_free(transaction_id);
    return rc;
}

int scep_reply_build(unsigned char **out, size_t *out_len, const scep_reply *reply,
                     const scep_message_options *options)
{
    int rc = SCEP_OK;
    unsigned char *bundle = NULL;
    size_t bundle_len = 0;
    unsigned char *envelope = NULL;
    size_t envelope_len = 0;
    unsigned char nonce[SCEP_NONCE_LEN];
    int legacy = scep_options_legacy(options);

    ENSURE(out != NULL && out_len != NULL && reply != NULL, SCEP_EINVAL,
           "output and reply are required");
    ENSURE(reply->recipient_nonce != NULL, SCEP_EINVAL,
           "recipientNonce (the request's senderNonce) is required");
    size_t recipient_nonce_len =
        reply->recipient_nonce_len ? reply->recipient_nonce_len : SCEP_NONCE_LEN;
    ENSURE(recipient_nonce_len >= SCEP_NONCE_MIN && recipient_nonce_len <= SCEP_NONCE_MAX,
           SCEP_EINVAL, "recipientNonce must be %d to %d octets", SCEP_NONCE_MIN, SCEP_NONCE_MAX);
    ENSURE(reply->status == SCEP_STATUS_SUCCESS || reply->status == SCEP_STATUS_FAILURE ||
               reply->status == SCEP_STATUS_PENDING,
           SCEP_EINVAL, "unknown pkiStatus %d", (int)reply->status);

    if (reply->status == SCEP_STATUS_SUCCESS) {
        ENSURE(reply->recipient_cert != NULL, SCEP_EINVAL,
               "SUCCESS needs the requester's certificate to encrypt to");
        ENSURE((reply->certs != NULL && sk_X509_num(reply->certs) > 0) || reply->crl != NULL,
               SCEP_EINVAL, "SUCCESS needs certificates or a CRL");
        GUARD(scep_certs_only_build(&bundle, &bundle_len, reply->certs, reply->crl));
        GUARD(scep_envelope_encrypt(&envelope, &envelope_len, bundle, bundle_len,
                                    reply->recipient_cert, reply->cipher, legacy));
    }
    if (reply->sender_nonce != NULL)
        memcpy(nonce, reply->sender_nonce, SCEP_NONCE_LEN);
    else
        GUARD(scep_nonce_generate(nonce));

    scep_signed_attrs attrs = {
        .type = SCEP_MSG_CERTREP,
        .transaction_id = reply->transaction_id,
        .sender_nonce = nonce,
        .recipient_nonce = reply->recipient_nonce,
        .recipient_nonce_len = recipient_nonce_len,
        .has_status = 1,
        .status = reply->status,
        .fail_info = reply->fail_info,
        .fail_info_text = reply->fail_info_text,
    };
    GUARD(scep_signed_data_build(out, out_len, envelope, envelope_len, reply->signer_cert,
                                 reply->signer_key, reply->extra_certs, reply->digest, &attrs,
                                 legacy));

cleanup:
    OPENSSL_free(bundle);
    OPENSSL_free(envelope);
    return rc;
}

/* ---- accessors ---- */

scep_message_type scep_pkimessage_type(const scep_pkimessage *msg)
{
    return msg->type;
}

const char *scep_pkimessage_transaction_id(const scep_pkimessage *msg)
{
    return msg->transaction_id;
}

const unsigned char *scep_pkimessage_sender_nonce(const scep_pkimessage *msg)
{
    return msg->has_sender_nonce ? msg->sender_nonce : NULL;
}

const unsigned char *scep_pkimessage_recipient_nonce(const scep_pkimessage *msg)
{
    return msg->has_recipient_nonce ? msg->recipient_nonce : NULL;
}

size_t scep_pkimessage_sender_nonce_len(const scep_pkimessage *msg)
{
    return msg->has_sender_nonce ? msg->sender_nonce_len : 0;
}

size_t scep_pkimessage_recipient_nonce_len(const scep_pkimessage *msg)
{
    return msg->has_recipient_nonce ? msg->recipient_nonce_len : 0;
}

scep_pki_status scep_pkimessage_status(const scep_pkimessage *msg)
{
    return msg->status;
}

scep_fail_info scep_pkimessage_fail_info(const scep_pkimessage *msg)
{
    return msg->fail_info;
}

const char *scep_pkimessage_fail_info_text(const scep_pkimessage *msg)
{
    return msg->fail_info_text;
}

X509 *scep_pkimessage_signer_cert(const scep_pkimessage *msg)
{
    return msg->signer_cert;
}

scep_digest scep_pkimessage_digest(const scep_pkimessage *msg)
{
    return msg->digest;
}

int scep_pkimessage_has_envelope(const scep_pkimessage *msg)
{
    return msg->envelope != NULL;
}

scep_cipher scep_pkimessage_cipher(const scep_pkimessage *msg)
{
    return msg->cipher;
}

size_t scep_pkimessage_recipient_index(const scep_pkimessage *msg)
{
    return msg->recipient_index;
}

const unsigned char *scep_pkimessage_content(const scep_pkimessage *msg, size_t *out_len)
{
    if (out_len != NULL)
        *out_len = msg->content_len;
    return msg->content;
}

X509_REQ *scep_pkimessage_csr(const scep_pkimessage *msg)
{
    return msg->csr;
}

const X509_NAME *scep_pkimessage_issuer(const scep_pkimessage *msg)
{
    return msg->issuer;
}

const X509_NAME *scep_pkimessage_subject(const scep_pkimessage *msg)
{
    return msg->subject;
}

const ASN1_INTEGER *scep_pkimessage_serial(const scep_pkimessage *msg)
{
    return msg->serial;
}

STACK_OF(X509) * scep_pkimessage_certs(const scep_pkimessage *msg)
{
    return msg->certs;
}

X509_CRL *scep_pkimessage_crl(const scep_pkimessage *msg)
{
    return msg->crl;
}
