/*
 * The message layer against messages we did not write: the jscep samples that
 * RFC 8894 §3 points to (every layer: PKCS#10 / certs-only, EnvelopedData,
 * SignedData) and the Go SCEP library's test data (smallstep/scep, the same
 * files as micromdm/scep). Provenance and licenses: vectors/third-party/README.md.
 *
 * The jscep samples carry no private keys, so they are checked for structure
 * only. The go-scep test CA expired on 2026-05-29 and its RA (testca2) in
 * 2022: the parser must not look at validity times, and these tests prove it.
 */
#include "test_support.h"

#include "message/message_internal.h"
#include "util/error_internal.h"

#include <openssl/cms.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSCEP  "vectors/third-party/jscep/"
#define GOSCEP "vectors/third-party/go-scep/"

/* From scep_req2.txt / scep_resp2.txt (dumpasn1 listings). */
static const char jscep_transaction_id[] = "7XXEY-ERLPU-2JDR9";
static const unsigned char jscep_nonce[SCEP_NONCE_LEN] = {
    0xE8, 0xC5, 0x7D, 0x51, 0x69, 0x09, 0x02, 0x6F, 0x34, 0x63, 0xF8, 0xE9, 0x07, 0xFC, 0x98, 0x56};

/* From `openssl cms -cmsout -print` of go-scep's CertRep_NoCertificatesForSigners.der. */
static const unsigned char goscep_ca2_sender_nonce[SCEP_NONCE_LEN] = {
    0xE3, 0x45, 0x5D, 0xC5, 0x8F, 0x7E, 0x5B, 0x44, 0x88, 0xF5, 0xA7, 0x9F, 0x2A, 0x94, 0x50, 0xFE};
static const unsigned char goscep_ca2_recipient_nonce[SCEP_NONCE_LEN] = {
    0xD9, 0x9D, 0x31, 0x54, 0xDE, 0x07, 0x11, 0x40, 0x59, 0xAF, 0x07, 0x5C, 0x5C, 0x17, 0xD5, 0x73};

static char *name_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_true(X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)len + 1);
    assert_non_null(copy);
    memcpy(copy, data, (size_t)len);
    copy[len] = '\0';
    BIO_free(bio);
    return copy;
}

static void assert_name(const X509_NAME *name, const char *expected)
{
    char *text = name_text(name);
    assert_string_equal(text, expected);
    free(text);
}

/* go-scep's testca/ca.key is PEM-encrypted with the empty password (its scep_test.go). */
static int empty_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static EVP_PKEY *load_key_empty_password(const char *relpath)
{
    FILE *f = fopen(test_path(relpath), "r");
    if (f == NULL)
        fail_msg("cannot open %s", relpath);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, empty_password, NULL);
    fclose(f);
    assert_non_null(key);
    return key;
}

static STACK_OF(X509) * one_cert(X509 *cert)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    assert_non_null(sk);
    assert_true(sk_X509_push(sk, cert) > 0);
    return sk;
}

/*
 * The eContent of a SignedData, read with OpenSSL's CMS directly (no
 * verification): lets a test reach the envelope of a sample that our parser
 * rejects for an unrelated reason.
 */
static unsigned char *signed_content(const unsigned char *der, size_t der_len, size_t *out_len)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    assert_non_null(cms);
    ASN1_OCTET_STRING **content = CMS_get0_content(cms);
    assert_non_null(content);
    assert_non_null(*content);
    size_t len = (size_t)ASN1_STRING_length(*content);
    unsigned char *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, ASN1_STRING_get0_data(*content), len);
    CMS_ContentInfo_free(cms);
    *out_len = len;
    return copy;
}

/* The signer certificate embedded in a SignedData (first certificate matching the sid). */
static X509 *embedded_signer(const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    assert_non_null(cms);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
    assert_non_null(si);
    STACK_OF(X509) *certs = CMS_get1_certs(cms);
    X509 *found = NULL;
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++)
        if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
            found = sk_X509_value(certs, i);
            assert_int_equal(X509_up_ref(found), 1);
            break;
        }
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    assert_non_null(found);
    return found;
}

/* Whether `cert` is the one the EnvelopedData's (first) KeyTransRecipientInfo names. */
static int envelope_names(const unsigned char *der, size_t der_len, X509 *cert)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
    assert_non_null(cms);
    CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms), 0);
    assert_non_null(ri);
    int named = CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0;
    CMS_ContentInfo_free(cms);
    return named;
}

/* Runs one of our per-messageType decoders on raw messageData. */
static scep_pkimessage *decode_content(scep_message_type type, const unsigned char *data,
                                       size_t len, int expected_rc)
{
    scep_pkimessage *msg = OPENSSL_zalloc(sizeof(*msg));
    assert_non_null(msg);
    msg->type = type;
    assert_int_equal(scep_bytes_dup(&msg->content, data, len), SCEP_OK);
    msg->content_len = len;
    int rc = type == SCEP_MSG_CERTREP ? scep_certrep_decode(msg) : scep_pkcsreq_decode(msg);
    assert_int_equal(rc, expected_rc);
    return msg;
}

/* ---- jscep ---------------------------------------------------------------------------------- */

static void jscep_req0_is_a_pkcs10_with_the_listed_subject(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(JSCEP "scep_req0.der", &len);
    scep_pkimessage *msg = decode_content(SCEP_MSG_PKCSREQ, der, len, SCEP_OK);
    X509_REQ *csr = scep_pkimessage_csr(msg);
    assert_non_null(csr);
    /* scep_req0.txt: C=NZ, O=Dave's Wetaburgers, OU=Procurement, CN=Test SCEP PKI user. */
    assert_name(X509_REQ_get_subject_name(csr),
                "CN=Test SCEP PKI user,OU=Procurement,O=Dave's Wetaburgers,C=NZ");
    assert_int_equal(X509_REQ_verify(csr, X509_REQ_get0_pubkey(csr)), 1);
    scep_pkimessage_free(msg);
    free(der);
}

static void jscep_req1_envelope_is_aes128(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(JSCEP "scep_req1.der", &len);
    scep_cipher cipher = 0;
    assert_int_equal(scep_envelope_cipher(&cipher, der, len, 0), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_AES128);
    free(der);
}

static void jscep_req2_parses_as_pkcsreq(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(JSCEP "scep_req2.der", &len);
    scep_pkimessage *msg = NULL;
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_PKCSREQ);
    assert_string_equal(scep_pkimessage_transaction_id(msg), jscep_transaction_id);
    assert_non_null(scep_pkimessage_sender_nonce(msg));
    assert_memory_equal(scep_pkimessage_sender_nonce(msg), jscep_nonce, SCEP_NONCE_LEN);
    assert_null(scep_pkimessage_recipient_nonce(msg));
    assert_int_equal(scep_pkimessage_digest(msg), SCEP_DIGEST_SHA256);
    X509 *signer = scep_pkimessage_signer_cert(msg);
    assert_non_null(signer);
    /* The requester's self-signed certificate (RFC 8894 §2.3). */
    assert_name(X509_get_subject_name(signer),
                "CN=Test SCEP PKI user,OU=Procurement,O=Dave's Wetaburgers,C=NZ");
    assert_true(scep_pkimessage_has_envelope(msg));
    assert_int_equal(scep_pkimessage_cipher(msg), SCEP_CIPHER_AES128);
    /* The envelope is the sample's own layer 1, byte for byte. */
    size_t env_len = 0;
    unsigned char *env = test_read_file(JSCEP "scep_req1.der", &env_len);
    assert_int_equal(msg->envelope_len, env_len);
    assert_memory_equal(msg->envelope, env, env_len);
    free(env);
    scep_pkimessage_free(msg);
    free(der);
}

static void jscep_resp0_is_certs_only_with_the_issued_cert(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(JSCEP "scep_resp0.der", &len);
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    assert_int_equal(scep_certs_only_parse(&certs, &crls, der, len, 0), SCEP_OK);
    /* scep_resp0.txt lists one certificate and no CRL. */
    assert_int_equal(sk_X509_num(certs), 1);
    assert_int_equal(sk_X509_CRL_num(crls), 0);
    X509 *cert = sk_X509_value(certs, 0);
    assert_name(X509_get_subject_name(cert),
                "CN=Test SCEP PKI user,OU=Procurement,O=Dave's Wetaburgers,C=NZ");
    assert_name(X509_get_issuer_name(cert),
                "CN=Dave's SCEP CA,OU=SCEP CA cert,O=Dave's Wetaburgers,C=NZ");
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);

    /* The CertRep content decoder reads the same layer. */
    scep_pkimessage *msg = decode_content(SCEP_MSG_CERTREP, der, len, SCEP_OK);
    assert_int_equal(sk_X509_num(scep_pkimessage_certs(msg)), 1);
    assert_null(scep_pkimessage_crl(msg));
    scep_pkimessage_free(msg);
    free(der);
}

static void jscep_resp1_envelope_is_aes128(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(JSCEP "scep_resp1.der", &len);
    scep_cipher cipher = 0;
    assert_int_equal(scep_envelope_cipher(&cipher, der, len, 0), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_AES128);
    free(der);
}

static void jscep_resp2_parses_as_certrep_success(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(JSCEP "scep_resp2.der", &len);
    scep_pkimessage *msg = NULL;
    /* The response carries its signer (the SCEP CA, issued by "Dave Himself") and
     * that root; no candidates are needed. */
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_CERTREP);
    assert_int_equal(scep_pkimessage_status(msg), SCEP_STATUS_SUCCESS);
    assert_string_equal(scep_pkimessage_transaction_id(msg), jscep_transaction_id);
    assert_non_null(scep_pkimessage_recipient_nonce(msg));
    assert_memory_equal(scep_pkimessage_recipient_nonce(msg), jscep_nonce, SCEP_NONCE_LEN);
    /* jscep's sample CertRep has no senderNonce (RFC 8894 §3.2.1 asks for one; it
     * carries a PKCS#9 randomNonce instead). We tolerate that on a CertRep. */
    assert_null(scep_pkimessage_sender_nonce(msg));
    assert_int_equal(scep_pkimessage_digest(msg), SCEP_DIGEST_SHA256);
    assert_int_equal(scep_pkimessage_cipher(msg), SCEP_CIPHER_AES128);
    X509 *signer = scep_pkimessage_signer_cert(msg);
    assert_non_null(signer);
    assert_name(X509_get_subject_name(signer),
                "CN=Dave's SCEP CA,OU=SCEP CA cert,O=Dave's Wetaburgers,C=NZ");
    assert_name(X509_get_issuer_name(signer),
                "CN=Dave Himself,OU=Certification Division,O=Dave's Wetaburgers and CA,C=NZ");
    /* The reply matches the request of scep_req2.der. */
    assert_int_equal(scep_pkimessage_check_reply(msg, jscep_transaction_id, jscep_nonce), SCEP_OK);

    size_t env_len = 0;
    unsigned char *env = test_read_file(JSCEP "scep_resp1.der", &env_len);
    assert_int_equal(msg->envelope_len, env_len);
    assert_memory_equal(msg->envelope, env, env_len);
    free(env);

    /* A client that trusts exactly that signer accepts it, and one that trusts
     * another certificate does not. */
    X509 *signer_copy = X509_dup(signer);
    assert_non_null(signer_copy);
    scep_pkimessage_free(msg);
    msg = NULL;
    STACK_OF(X509) *trusted = one_cert(signer_copy);
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, trusted, NULL), SCEP_OK);
    scep_pkimessage_free(msg);
    msg = NULL;
    X509 *other = test_load_cert(GOSCEP "testca/ca.crt");
    STACK_OF(X509) *untrusted = one_cert(other);
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, untrusted, NULL), SCEP_EVERIFY);
    assert_null(msg);
    sk_X509_pop_free(trusted, X509_free);
    sk_X509_pop_free(untrusted, X509_free);
    free(der);
}

/* ---- go-scep -------------------------------------------------------------------------------- */

/*
 * go-scep's PKCSReq.der (2016) carries an 8-octet senderNonce, where RFC 8894
 * §3.2.1.5 says 16. Old Go clients send that, so the parser accepts 8 to 64
 * octets and the server echoes them; the whole message parses and decrypts
 * with the test CA to the CSR.
 */
static void goscep_pkcsreq_parses_and_decrypts(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(GOSCEP "PKCSReq.der", &len);
    scep_pkimessage *msg = NULL;
    if (scep_pkimessage_parse(&msg, der, len, NULL, NULL, NULL) != SCEP_OK)
        fail_msg("%s", scep_error_message());
    assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_PKCSREQ);
    assert_int_equal(scep_pkimessage_sender_nonce_len(msg), 8);
    assert_int_equal(scep_pkimessage_cipher(msg), SCEP_CIPHER_DES3);
    X509 *ca = test_load_cert(GOSCEP "testca/ca.crt");
    EVP_PKEY *ca_key = load_key_empty_password(GOSCEP "testca/ca.key");
    if (scep_pkimessage_decrypt(msg, &ca, &ca_key, 1, NULL) != SCEP_OK)
        fail_msg("%s", scep_error_message());
    assert_name(X509_REQ_get_subject_name(scep_pkimessage_csr(msg)),
                "CN=com.apple.security.scep.063D7953-1338-4BF0-8F99-913382996224");
    scep_pkimessage_free(msg);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    free(der);
}

static void goscep_pkcsreq_envelope_decrypts_to_a_valid_csr(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(GOSCEP "PKCSReq.der", &len);
    size_t env_len = 0;
    unsigned char *env = signed_content(der, len, &env_len);
    scep_cipher cipher = 0;
    assert_int_equal(scep_envelope_cipher(&cipher, env, env_len, 0), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_DES3);

    X509 *ca = test_load_cert(GOSCEP "testca/ca.crt");
    EVP_PKEY *ca_key = load_key_empty_password(GOSCEP "testca/ca.key");
    assert_true(envelope_names(env, env_len, ca));
    /* A wrong key alongside: the one the recipientInfo names is tried first. */
    EVP_PKEY *other_key = load_key_empty_password(GOSCEP "testclient/client.key");
    X509 *other = test_load_cert(GOSCEP "testclient/client.pem");
    X509 *certs[2] = {other, ca};
    EVP_PKEY *keys[2] = {other_key, ca_key};
    unsigned char *plain = NULL;
    size_t plain_len = 0;
    size_t index = 99;
    assert_int_equal(
        scep_envelope_decrypt(&plain, &plain_len, &index, env, env_len, certs, keys, 2, 0),
        SCEP_OK);
    assert_int_equal(index, 1);

    scep_pkimessage *msg = decode_content(SCEP_MSG_PKCSREQ, plain, plain_len, SCEP_OK);
    X509_REQ *csr = scep_pkimessage_csr(msg);
    assert_int_equal(X509_REQ_verify(csr, X509_REQ_get0_pubkey(csr)), 1);
    /* Values read with `openssl req -inform DER -text` from the decrypted CSR: an
     * Apple-style keychain name, no challengePassword, keyUsage digitalSignature. */
    assert_name(X509_REQ_get_subject_name(csr),
                "CN=com.apple.security.scep.063D7953-1338-4BF0-8F99-913382996224");
    assert_int_equal(X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1), -1);
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    assert_non_null(exts);
    assert_true(X509v3_get_ext_by_NID(exts, NID_key_usage, -1) >= 0);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    /* The pkiMessage signer is a self-signed "MDM SCEP SIGNER" whose key is not the
     * CSR's (the client signs with a separate key), which RFC 8894 §2.3 does not forbid. */
    X509 *signer = embedded_signer(der, len);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(signer), X509_get_issuer_name(signer)), 0);
    assert_int_equal(X509_verify(signer, X509_get0_pubkey(signer)), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(signer), X509_REQ_get0_pubkey(csr)), 0);

    X509_free(signer);
    scep_pkimessage_free(msg);
    OPENSSL_free(plain);
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    free(env);
    free(der);
}

/*
 * go-scep's CertRep.der: SUCCESS signed by testca, 8-octet recipientNonce (so
 * rejected like the PKCSReq), no senderNonce, and its envelope is single
 * DES-CBC encrypted to "CN=MDM SCEP SIGNER, C=US" (the PKCSReq's self-signed
 * signer), not to testclient/client.pem: nobody published that key, and the
 * upstream test leaves its decryption commented out. We check what can be.
 */
static void goscep_certrep_layers(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(GOSCEP "CertRep.der", &len);
    scep_pkimessage *msg = NULL;
    /* Its envelope is single DES: readable only with the legacy switch. */
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, NULL, NULL), SCEP_EBADALG);
    assert_null(msg);
    static const scep_message_options legacy = {.flags = SCEP_MSG_LEGACY};
    if (scep_pkimessage_parse(&msg, der, len, NULL, NULL, &legacy) != SCEP_OK)
        fail_msg("%s", scep_error_message());
    assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_CERTREP);
    assert_int_equal(scep_pkimessage_status(msg), SCEP_STATUS_SUCCESS);
    assert_int_equal(scep_pkimessage_recipient_nonce_len(msg), 8);
    assert_null(scep_pkimessage_sender_nonce(msg));
    scep_pkimessage_free(msg);

    X509 *ca = test_load_cert(GOSCEP "testca/ca.crt");
    X509 *signer = embedded_signer(der, len);
    assert_int_equal(X509_cmp(signer, ca), 0);

    size_t env_len = 0;
    unsigned char *env = signed_content(der, len, &env_len);
    scep_cipher cipher = 0;
    /* Single DES only behind the legacy switch (interop.md §10; micromdm 2.1.0 uses it). */
    assert_int_equal(scep_envelope_cipher(&cipher, env, env_len, 0), SCEP_EBADALG);
    assert_int_equal(scep_error_fail_info(SCEP_EBADALG), SCEP_FAIL_BAD_ALG);

    size_t req_len = 0;
    unsigned char *req = test_read_file(GOSCEP "PKCSReq.der", &req_len);
    X509 *requester = embedded_signer(req, req_len);
    assert_true(envelope_names(env, env_len, requester));
    X509 *client = test_load_cert(GOSCEP "testclient/client.pem");
    EVP_PKEY *client_key = load_key_empty_password(GOSCEP "testclient/client.key");
    assert_false(envelope_names(env, env_len, client));

    X509_free(requester);
    X509_free(client);
    EVP_PKEY_free(client_key);
    X509_free(signer);
    X509_free(ca);
    free(req);
    free(env);
    free(der);
}

/*
 * With the legacy switch the DES envelope of go-scep's CertRep is read, and
 * testclient's key is refused as not named by the recipientInfo.
 */
static void goscep_certrep_des_envelope_needs_legacy(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der = test_read_file(GOSCEP "CertRep.der", &len);
    size_t env_len = 0;
    unsigned char *env = signed_content(der, len, &env_len);
    scep_cipher cipher = 0;
    assert_int_equal(scep_envelope_cipher(&cipher, env, env_len, 1), SCEP_OK);
    assert_int_equal(cipher, SCEP_CIPHER_DES);

    X509 *client = test_load_cert(GOSCEP "testclient/client.pem");
    EVP_PKEY *client_key = load_key_empty_password(GOSCEP "testclient/client.key");
    unsigned char *plain = NULL;
    size_t plain_len = 0;
    assert_int_equal(
        scep_envelope_decrypt(&plain, &plain_len, NULL, env, env_len, &client, &client_key, 1, 1),
        SCEP_ERECIPIENT);
    assert_null(plain);
    X509_free(client);
    EVP_PKEY_free(client_key);
    free(env);
    free(der);
}

static void goscep_certrep_without_signer_needs_candidates(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *der =
        test_read_file(GOSCEP "testca2/CertRep_NoCertificatesForSigners.der", &len);
    scep_pkimessage *msg = NULL;
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, NULL, NULL), SCEP_ENOSIGNER);
    assert_null(msg);
    assert_int_equal(scep_error_fail_info(SCEP_ENOSIGNER), SCEP_FAIL_BAD_MESSAGE_CHECK);

    /* A wrong candidate does not help. */
    X509 *wrong = test_load_cert(GOSCEP "testca/ca.crt");
    STACK_OF(X509) *wrong_sk = one_cert(wrong);
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, wrong_sk, NULL, NULL), SCEP_ENOSIGNER);

    /* ca2.pem expired in 2022: validity time is not the parser's business. */
    X509 *ca2 = test_load_cert(GOSCEP "testca2/ca2.pem");
    assert_true(X509_cmp_current_time(X509_get0_notAfter(ca2)) < 0);
    STACK_OF(X509) *candidates = one_cert(ca2);
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, candidates, NULL, NULL), SCEP_OK);
    assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_CERTREP);
    assert_int_equal(scep_pkimessage_status(msg), SCEP_STATUS_SUCCESS);
    assert_string_equal(scep_pkimessage_transaction_id(msg), "HVvzN0228V+AW+dUuDe8OPyDXD0=");
    assert_memory_equal(scep_pkimessage_sender_nonce(msg), goscep_ca2_sender_nonce, SCEP_NONCE_LEN);
    assert_memory_equal(scep_pkimessage_recipient_nonce(msg), goscep_ca2_recipient_nonce,
                        SCEP_NONCE_LEN);
    assert_int_equal(scep_pkimessage_digest(msg), SCEP_DIGEST_SHA1);
    assert_true(scep_pkimessage_has_envelope(msg));
    assert_int_equal(X509_cmp(scep_pkimessage_signer_cert(msg), ca2), 0);
    assert_int_equal(scep_pkimessage_check_reply(
                         msg, "HVvzN0228V+AW+dUuDe8OPyDXD0=", goscep_ca2_recipient_nonce),
                     SCEP_OK);
    scep_pkimessage_free(msg);
    msg = NULL;

    /* Candidates and trust together: the candidate is the trusted RA. */
    assert_int_equal(scep_pkimessage_parse(&msg, der, len, candidates, candidates, NULL), SCEP_OK);
    scep_pkimessage_free(msg);

    sk_X509_pop_free(candidates, X509_free);
    sk_X509_pop_free(wrong_sk, X509_free);
    free(der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jscep_req0_is_a_pkcs10_with_the_listed_subject),
        cmocka_unit_test(jscep_req1_envelope_is_aes128),
        cmocka_unit_test(jscep_req2_parses_as_pkcsreq),
        cmocka_unit_test(jscep_resp0_is_certs_only_with_the_issued_cert),
        cmocka_unit_test(jscep_resp1_envelope_is_aes128),
        cmocka_unit_test(jscep_resp2_parses_as_certrep_success),
        cmocka_unit_test(goscep_pkcsreq_parses_and_decrypts),
        cmocka_unit_test(goscep_pkcsreq_envelope_decrypts_to_a_valid_csr),
        cmocka_unit_test(goscep_certrep_layers),
        cmocka_unit_test(goscep_certrep_des_envelope_needs_legacy),
        cmocka_unit_test(goscep_certrep_without_signer_needs_candidates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
