/*
 * libFuzzer target for the client's reading of a CertRep, as scep_client_enroll
 * does it (src/lib/client/enroll.c): parsed and verified against the CA set
 * (micromdm's and go-scep's test CAs as signer candidates and trusted signers,
 * legacy algorithms allowed), checked as a reply to its own transactionID and
 * nonce, then by status: SUCCESS is decrypted with the requesters' keys the seed
 * corpus was encrypted to and its certificates and CRL read, FAILURE's failInfo
 * and failInfoText read.
 */
#include "scep/message.h"

#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYS 4

static STACK_OF(X509) * cas;
static EVP_PKEY *keys[KEYS];
static X509 *no_certs[KEYS];

static EVP_PKEY *load_key(const char *path)
{
    EVP_PKEY *key = NULL;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (key == NULL)
        abort();
    return key;
}

static void cleanup(void)
{
    sk_X509_pop_free(cas, X509_free);
    for (size_t i = 0; i < KEYS; i++)
        EVP_PKEY_free(keys[i]);
}

static void setup(void)
{
    cas = sk_X509_new_null();
    X509 *micromdm = NULL, *go_scep = NULL;
    FILE *f = fopen(SCEP_TEST_DATA "/vectors/peers/micromdm/ca.der", "rb");
    if (f != NULL) {
        micromdm = d2i_X509_fp(f, NULL);
        fclose(f);
    }
    f = fopen(SCEP_TEST_DATA "/vectors/third-party/go-scep/testca/ca.crt", "r");
    if (f != NULL) {
        go_scep = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (cas == NULL || micromdm == NULL || go_scep == NULL || sk_X509_push(cas, micromdm) <= 0 ||
        sk_X509_push(cas, go_scep) <= 0)
        abort();
    keys[0] = load_key(SCEP_TEST_DATA "/vectors/peers/micromdm/scepclient-key.pem");
    keys[1] = load_key(SCEP_TEST_DATA "/vectors/peers/micromdm/certmonger-key.pem");
    keys[2] = load_key(SCEP_TEST_DATA "/vectors/peers/micromdm/strongswan-key.pem");
    keys[3] = load_key(SCEP_TEST_DATA "/vectors/third-party/go-scep/testclient/client.key");
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cas == NULL)
        setup();
    static const scep_message_options options = {.max_size = 256 * 1024, .flags = SCEP_MSG_LEGACY};
    scep_pkimessage *reply = NULL;
    if (scep_pkimessage_parse(&reply, data, size, cas, cas, &options) != SCEP_OK)
        return 0;
    const char *transaction_id = scep_pkimessage_transaction_id(reply);
    const unsigned char *nonce = scep_pkimessage_recipient_nonce(reply);
    if (transaction_id != NULL && nonce != NULL &&
        scep_pkimessage_recipient_nonce_len(reply) == SCEP_NONCE_LEN &&
        scep_pkimessage_check_reply(reply, transaction_id, nonce) != SCEP_OK &&
        scep_pkimessage_type(reply) == SCEP_MSG_CERTREP)
        abort();
    (void)scep_pkimessage_signer_cert(reply);
    (void)scep_pkimessage_digest(reply);
    switch (scep_pkimessage_status(reply)) {
    case SCEP_STATUS_SUCCESS:
        if (scep_pkimessage_decrypt(reply, no_certs, keys, KEYS, &options) == SCEP_OK) {
            STACK_OF(X509) *certs = scep_pkimessage_certs(reply);
            for (int i = 0; i < sk_X509_num(certs); i++)
                for (size_t k = 0; k < KEYS; k++)
                    (void)EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, i)), keys[k]);
            (void)scep_pkimessage_crl(reply);
            (void)scep_pkimessage_cipher(reply);
            (void)scep_pkimessage_recipient_index(reply);
        }
        break;
    case SCEP_STATUS_FAILURE:
        (void)scep_fail_info_name(scep_pkimessage_fail_info(reply));
        (void)scep_pkimessage_fail_info_text(reply);
        break;
    default:
        break;
    }
    scep_pkimessage_free(reply);
    return 0;
}
