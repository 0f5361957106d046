/*
 * libFuzzer target for the client's GetCACert: the input is the server's reply
 * (first byte: which Content-Type came with it, the rest: the body), fed through
 * a transport to scep_client_get_ca, once accepting any CA and once pinned to
 * the micromdm test CA (the chain rules of a pinned root), then read through
 * every accessor.
 */
#include "scep/client.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reply {
    const char *content_type;
    const uint8_t *body;
    size_t body_len;
};

static X509 *pinned;

static void cleanup(void)
{
    X509_free(pinned);
}

static int transport(scep_http_response *out, const scep_http_request *request, size_t max_size,
                     void *payload)
{
    const struct reply *reply = payload;
    (void)request;
    if (reply->body_len > max_size)
        return scep_client_record_error(SCEP_ETOOBIG, "reply too large");
    out->status = 200;
    if (reply->content_type != NULL) {
        out->content_type = OPENSSL_strdup(reply->content_type);
        if (out->content_type == NULL)
            return scep_client_record_error(SCEP_ENOMEM, "out of memory");
    }
    out->body =
        reply->body_len > 0 ? OPENSSL_memdup(reply->body, reply->body_len) : OPENSSL_zalloc(1);
    if (out->body == NULL)
        return scep_client_record_error(SCEP_ENOMEM, "out of memory");
    out->body_len = reply->body_len;
    return 0;
}

static void get_ca(struct reply *reply, X509 *ca_cert)
{
    scep_client_options options = {
        .url = "http://scep.example/scep/pkiclient.exe",
        .ca_cert = ca_cert,
        .insecure_accept_any_ca = ca_cert == NULL,
        .caps = "SHA-256\nAES\nPOSTPKIOperation",
        .max_response_size = 256 * 1024,
        .transport = transport,
        .transport_payload = reply,
    };
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        abort();
    scep_ca_certs *certs = NULL;
    if (scep_client_get_ca(client, &certs, NULL) == SCEP_OK) {
        if (scep_ca_certs_ca(certs) == NULL || scep_ca_certs_encryption(certs) == NULL ||
            scep_ca_certs_signer(certs) == NULL || sk_X509_num(scep_ca_certs_all(certs)) < 1)
            abort();
        scep_ca_certs_free(certs);
    }
    scep_client_free(client);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "application/x-x509-ca-cert",
        "application/x-x509-ca-ra-cert",
        NULL,
        "APPLICATION/X-X509-CA-RA-CERT; charset=binary",
    };
    if (pinned == NULL) {
        FILE *f = fopen(SCEP_TEST_DATA "/vectors/peers/micromdm/ca.der", "rb");
        if (f != NULL) {
            pinned = d2i_X509_fp(f, NULL);
            fclose(f);
        }
        if (pinned == NULL)
            abort();
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    struct reply reply = {
        .content_type = types[data[0] % (sizeof(types) / sizeof(types[0]))],
        .body = data + 1,
        .body_len = size - 1,
    };
    get_ca(&reply, NULL);
    get_ca(&reply, pinned);
    return 0;
}
