/*
 * GetCRL, /crl/NAME.crl and the CRL distribution point (scepd/crl.h). GetCert
 * stays in enroll.c beside the other readers of issued certificates.
 */
#include "scepd/ops/crl.h"
#include "scepd/log.h"
#include "scepd/state/crl_refresh.h"
#include "crl/publish.h"
#include "util/error_internal.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CA_NAME_MAX 64

static struct scep_crl_timing crl_timing(const struct scepd_op *op)
{
    const struct scep_config_global *global = scep_config_global_values(op->generation->config);
    struct scep_crl_timing timing = {.validity = global->crl_validity,
                                     .regenerate_before = global->crl_regenerate_before};
    return timing;
}

/* The CA's current CRL, regenerated and stored first when missing or stale. */
static int current_crl(scep_store_crl **out, struct scepd_op *op, const struct scepd_ca *ca)
{
    scep_store *store = NULL;
    int generated = 0;
    struct scep_crl_timing timing = crl_timing(op);
    int rc = scepd_server_store(&store, op->server);
    if (rc == SCEP_OK)
        rc = scep_crl_current(out, &generated, store, ca->name, ca->ca, &timing, 0);
    scepd_op_store_lost(op, rc);
    if (rc == SCEP_OK && generated) {
        scepd_log(SCEPD_LOG_INFO, "event=crl_generated ca=%s crl_number=%lld revoked=%lld",
                  ca->name, (long long)(*out)->crl_number, (long long)(*out)->revoked_count);
        scepd_crl_audit(store, *out, "request");
    }
    return rc;
}

/*
 * The CA an IssuerAndSerialNumber names: the alias's own first, then any CA
 * this server has loaded (the issuer may be another of our CAs).
 */
static const struct scepd_ca *ca_by_issuer(const struct scepd_op *op, const X509_NAME *issuer)
{
    if (issuer == NULL)
        return NULL;
    if (X509_NAME_cmp(issuer, X509_get_subject_name(scep_ca_cert(op->alias->ca->ca))) == 0)
        return op->alias->ca;
    for (size_t i = 0; i < op->generation->ca_count; i++)
        if (X509_NAME_cmp(issuer, X509_get_subject_name(scep_ca_cert(op->generation->cas[i].ca))) ==
            0)
            return &op->generation->cas[i];
    return NULL;
}

void scepd_get_crl(struct scepd_op *op, scep_pkimessage *msg)
{
    scep_store_crl *stored = NULL;
    X509_CRL *crl = NULL;
    const struct scepd_ca *ca = ca_by_issuer(op, scep_pkimessage_issuer(msg));
    if (ca == NULL) {
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_CERT_ID,
                            "the issuer is not a CA of this server");
        return;
    }
    const unsigned char *p = NULL;
    if (current_crl(&stored, op, ca) < 0 || (p = stored->der) == NULL ||
        (crl = d2i_X509_CRL(NULL, &p, (long)stored->der_len)) == NULL) {
        scepd_op_detail(op, "CRL of CA %s: %s", ca->name, scep_error_message());
        scepd_reply_failure(op, msg, SCEP_FAIL_BAD_REQUEST, "the CRL could not be produced");
    } else {
        /* RFC 8894 §4.6.1: the most recent CRL, in a certs-only SignedData. */
        scepd_op_detail(op, "CA %s CRL number %lld", ca->name, (long long)stored->crl_number);
        struct scepd_outcome outcome = {.status = SCEP_STATUS_SUCCESS, .crl = crl};
        scepd_reply(op, msg, &outcome);
    }
    X509_CRL_free(crl);
    scep_store_crl_free(stored);
}

static const struct scepd_ca *ca_by_name(const struct scepd_generation *generation,
                                         const char *name)
{
    for (size_t i = 0; i < generation->ca_count; i++)
        if (strcmp(generation->cas[i].name, name) == 0)
            return &generation->cas[i];
    return NULL;
}

/* "NAME.crl" or "NAME.pem" with NAME a CA name ([A-Za-z0-9_.-], as scepctl allows). */
static int parse_crl_file(char name[CA_NAME_MAX + 1], int *out_pem, const char *file)
{
    size_t len = strlen(file);
    if (len <= 4 || len - 4 > CA_NAME_MAX)
        return -1;
    const char *ext = file + len - 4;
    if (strcmp(ext, ".crl") == 0)
        *out_pem = 0;
    else if (strcmp(ext, ".pem") == 0)
        *out_pem = 1;
    else
        return -1;
    for (size_t i = 0; i < len - 4; i++) {
        char c = file[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || (c == '.' && i > 0)))
            return -1;
    }
    memcpy(name, file, len - 4);
    name[len - 4] = '\0';
    return 0;
}

static void serve_pem(struct scepd_op *op, const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)der_len);
    BIO *bio = BIO_new(BIO_s_mem());
    char *text = NULL;
    long len = 0;
    if (crl == NULL || bio == NULL || PEM_write_bio_X509_CRL(bio, crl) != 1 ||
        (len = BIO_get_mem_data(bio, &text)) <= 0)
        scepd_op_text(op, 500, "error", "cannot encode the CRL");
    else if (scepd_op_body(op, 200, "application/x-pem-file", (const unsigned char *)text,
                           (size_t)len) == SCEP_OK)
        op->outcome = "ok";
    BIO_free(bio);
    X509_CRL_free(crl);
}

static void serve_crl(struct scepd_op *op, const unsigned char *der, size_t der_len, int pem)
{
    if (pem)
        serve_pem(op, der, der_len);
    /* RFC 5280 §4.2.1.13: a DER CRL; media type from RFC 2585 §4.2. */
    else if (scepd_op_body(op, 200, "application/pkix-crl", der, der_len) == SCEP_OK)
        op->outcome = "ok";
}

int scepd_crl_http(struct scepd_op *op)
{
    const char *path = op->http->path;
    size_t prefix_len = strlen(SCEPD_CRL_PATH_PREFIX);
    if (path == NULL || strncmp(path, SCEPD_CRL_PATH_PREFIX, prefix_len) != 0)
        return 0;
    op->operation = "CRL";
    char name[CA_NAME_MAX + 1];
    int pem = 0;
    if (strcmp(op->http->method, "GET") != 0 && strcmp(op->http->method, "HEAD") != 0) {
        scepd_op_text(op, 405, "bad_method", "CRLs are fetched with GET");
        return 1;
    }
    if (parse_crl_file(name, &pem, path + prefix_len) < 0) {
        scepd_op_text(op, 404, "not_found", "no CRL at this path (expected /crl/CA.crl)");
        return 1;
    }
    const struct scepd_ca *ca = ca_by_name(op->generation, name);
    unsigned char *der = NULL;
    size_t der_len = 0;
    if (ca == NULL && op->server->crl_source != NULL &&
        op->server->crl_source(&der, &der_len, op->server, name) == SCEP_OK) {
        serve_crl(op, der, der_len, pem);
        scepd_op_detail(op, "CA %s CRL as its CA node pushed it", name);
        free(der);
        return 1;
    }
    if (ca == NULL) {
        scepd_op_text(op, 404, "unknown_ca", "no CA \"%s\"", name);
        return 1;
    }
    scep_store_crl *stored = NULL;
    if (current_crl(&stored, op, ca) < 0 && op->store_lost) {
        scepd_op_unavailable(op);
    } else if (stored == NULL) {
        scepd_op_text(op, 500, "error", "the CRL of CA %s could not be produced", name);
        scepd_op_detail(op, "CRL of CA %s: %s", name, scep_error_message());
    } else {
        serve_crl(op, stored->der, stored->der_len, pem);
    }
    if (stored != NULL)
        scepd_op_detail(op, "CA %s CRL number %lld", name, (long long)stored->crl_number);
    scep_store_crl_free(stored);
    return 1;
}
