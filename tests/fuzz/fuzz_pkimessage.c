/*
 * libFuzzer target for the pkiMessage parser: parse, verify and, when that
 * succeeds, decrypt with the go-scep test CA (the seed corpus has messages
 * encrypted to it) and read every accessor.
 */
#include "scep/message.h"

#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *ca_cert;
static EVP_PKEY *ca_key;

static void load_ca(void)
{
    FILE *f = fopen(SCEP_TEST_DATA "/vectors/third-party/go-scep/testca/ca.crt", "r");
    if (f != NULL) {
        ca_cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    f = fopen(SCEP_TEST_DATA "/vectors/third-party/go-scep/testca/ca.key", "r");
    if (f != NULL) {
        ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
}

static void cleanup(void)
{
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ca_cert == NULL) {
        load_ca();
        atexit(cleanup);
    }
    static const scep_message_options options = {.max_size = 256 * 1024};
    scep_pkimessage *msg = NULL;
    if (scep_pkimessage_parse(&msg, data, size, NULL, NULL, &options) != SCEP_OK)
        return 0;
    (void)scep_pkimessage_transaction_id(msg);
    (void)scep_pkimessage_sender_nonce(msg);
    if (ca_cert != NULL && ca_key != NULL &&
        scep_pkimessage_decrypt(msg, &ca_cert, &ca_key, 1, &options) == SCEP_OK) {
        (void)scep_pkimessage_csr(msg);
        (void)scep_pkimessage_issuer(msg);
        (void)scep_pkimessage_serial(msg);
    }
    scep_pkimessage_free(msg);
    return 0;
}
