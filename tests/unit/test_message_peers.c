/*
 * Real messages captured from third-party SCEP programs talking to each
 * other (tests/vectors/peers/micromdm/README.md): every request decrypts with
 * the server's key to a valid CSR, every reply parses, verifies against the
 * CA and decrypts with the client's key.
 */
#include "test_support.h"

#include "scep/message.h"

#include <openssl/pem.h>
#include <string.h>

#define DIR "vectors/peers/micromdm/"

static const scep_message_options legacy = {.flags = SCEP_MSG_LEGACY};

static X509 *load_der_cert(const char *relpath)
{
    size_t len = 0;
    unsigned char *der = test_read_file(relpath, &len);
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    assert_non_null(cert);
    free(der);
    return cert;
}

struct request_case {
    const char *file;
    scep_digest digest;
    scep_cipher cipher;
    const char *common_name;
    const char *challenge;
};

static void client_requests_decrypt_to_their_csr(void **state)
{
    (void)state;
    X509 *ca = load_der_cert(DIR "ca.der");
    EVP_PKEY *ca_key = test_load_key(DIR "ca.key.pem");
    const struct request_case cases[] = {
        {"scepclient-pkcsreq.der", SCEP_DIGEST_SHA1, SCEP_CIPHER_DES, "client-ok", "secret-8770"},
        {"certmonger-pkcsreq.der", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES256, NULL, "secret-8770"},
        {"strongswan-pkcsreq-des3.der", SCEP_DIGEST_SHA256, SCEP_CIPHER_DES3, NULL, "secret-8770"},
        {"strongswan-pkcsreq-aes.der", SCEP_DIGEST_SHA256, SCEP_CIPHER_AES128, NULL, "secret-8770"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), DIR "%s", cases[i].file);
        size_t len = 0;
        unsigned char *der = test_read_file(path, &len);
        scep_pkimessage *msg = NULL;
        if (scep_pkimessage_parse(&msg, der, len, NULL, NULL, &legacy) != SCEP_OK)
            fail_msg("%s: %s", cases[i].file, scep_error_message());
        assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_PKCSREQ);
        assert_int_equal(scep_pkimessage_digest(msg), cases[i].digest);
        assert_int_equal(scep_pkimessage_cipher(msg), cases[i].cipher);
        assert_non_null(scep_pkimessage_sender_nonce(msg));
        if (scep_pkimessage_decrypt(msg, &ca, &ca_key, 1, &legacy) != SCEP_OK)
            fail_msg("%s: %s", cases[i].file, scep_error_message());
        X509_REQ *csr = scep_pkimessage_csr(msg);
        assert_non_null(csr);
        int idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
        assert_true(idx >= 0);
        ASN1_TYPE *value = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(csr, idx), 0);
        assert_non_null(value);
        assert_int_equal(ASN1_STRING_length(value->value.asn1_string),
                         (int)strlen(cases[i].challenge));
        assert_memory_equal(ASN1_STRING_get0_data(value->value.asn1_string), cases[i].challenge,
                            strlen(cases[i].challenge));
        if (cases[i].common_name != NULL) {
            char cn[64];
            X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(csr), NID_commonName, cn,
                                      sizeof(cn));
            assert_string_equal(cn, cases[i].common_name);
        }
        scep_pkimessage_free(msg);

        /* Without the legacy switch, single DES is refused as badAlg. */
        if (cases[i].cipher == SCEP_CIPHER_DES) {
            assert_int_equal(scep_pkimessage_parse(&msg, der, len, NULL, NULL, NULL), SCEP_EBADALG);
        }
        free(der);
    }
    EVP_PKEY_free(ca_key);
    X509_free(ca);
}

static void server_replies_verify_and_decrypt(void **state)
{
    (void)state;
    X509 *ca = load_der_cert(DIR "ca.der");
    STACK_OF(X509) *trusted = sk_X509_new_null();
    sk_X509_push(trusted, ca);
    const struct {
        const char *reply;
        const char *key;
    } cases[] = {
        {"micromdm-certrep-success-scepclient.der", "scepclient-key.pem"},
        {"micromdm-certrep-success-certmonger.der", "certmonger-key.pem"},
        {"micromdm-certrep-success-strongswan-des3.der", "strongswan-key.pem"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), DIR "%s", cases[i].reply);
        size_t len = 0;
        unsigned char *der = test_read_file(path, &len);
        scep_pkimessage *msg = NULL;
        if (scep_pkimessage_parse(&msg, der, len, NULL, trusted, &legacy) != SCEP_OK)
            fail_msg("%s: %s", cases[i].reply, scep_error_message());
        assert_int_equal(scep_pkimessage_type(msg), SCEP_MSG_CERTREP);
        assert_int_equal(scep_pkimessage_status(msg), SCEP_STATUS_SUCCESS);
        assert_non_null(scep_pkimessage_recipient_nonce(msg));
        snprintf(path, sizeof(path), DIR "%s", cases[i].key);
        EVP_PKEY *key = test_load_key(path);
        /* The client's signer certificate is not kept: the key alone decrypts. */
        X509 *no_cert = NULL;
        if (scep_pkimessage_decrypt(msg, &no_cert, &key, 1, &legacy) != SCEP_OK)
            fail_msg("%s: %s", cases[i].reply, scep_error_message());
        STACK_OF(X509) *certs = scep_pkimessage_certs(msg);
        assert_true(sk_X509_num(certs) >= 1);
        X509 *issued = sk_X509_value(certs, 0);
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(issued), X509_get_subject_name(ca)), 0);
        EVP_PKEY *issued_key = X509_get0_pubkey(issued);
        assert_int_equal(EVP_PKEY_eq(issued_key, key), 1);
        EVP_PKEY_free(key);
        scep_pkimessage_free(msg);
        free(der);
    }

    /* FAILURE without eContent (detached, as micromdm sends it). */
    size_t len = 0;
    unsigned char *der = test_read_file(DIR "micromdm-certrep-failure-badrequest.der", &len);
    scep_pkimessage *msg = NULL;
    if (scep_pkimessage_parse(&msg, der, len, NULL, trusted, &legacy) != SCEP_OK)
        fail_msg("failure reply: %s", scep_error_message());
    assert_int_equal(scep_pkimessage_status(msg), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_pkimessage_fail_info(msg), SCEP_FAIL_BAD_REQUEST);
    assert_null(scep_pkimessage_fail_info_text(msg));
    scep_pkimessage_free(msg);
    free(der);

    sk_X509_free(trusted);
    X509_free(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_requests_decrypt_to_their_csr),
        cmocka_unit_test(server_replies_verify_and_decrypt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
