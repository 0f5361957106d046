/*
 * The CA certificate operations (RFC 8894 §4.2, §4.5, §4.7): GetCACaps,
 * GetCACert, EJBCA's GetCACertChain and GetNextCACert, for the CA the
 * `message=` identifier selects (caid.c) and the key active at the request's time.
 */
#include "scepd/ops/ops.h"
#include "scepd/state/rollover.h"
#include "util/error_internal.h"

#include <stdlib.h>
#include <string.h>

void scepd_op_caps_reply(struct scepd_op *op, scep_caps caps)
{
    char *text = NULL;
    size_t len = 0;
    if (scep_caps_format(&text, &len, caps) < 0) {
        scepd_op_text(op, 500, "error", "cannot format capabilities");
        return;
    }
    /* RFC 8894 §3.5.2: text/plain, one keyword per line. */
    (void)scepd_op_body(op, 200, "text/plain", (const unsigned char *)text, len);
    op->outcome = "ok";
    OPENSSL_free(text);
}

void scepd_op_get_ca_caps(struct scepd_op *op)
{
    if (scepd_caid_select(op) < 0)
        return;
    scep_caps caps = op->alias->caps;
    /* interop.md §16: GetNextCACert only while a next certificate is announced. */
    if (scepd_ca_announced_next(op->generation, op->ca, op->now) != NULL)
        caps |= SCEP_CAP_GET_NEXT_CA_CERT;
    scepd_op_caps_reply(op, caps);
}

/* The `message=` CA identifier picks one of the alias's CAs (caid.c); after a
 * rollover's activation the next certificate is the CA certificate. */
void scepd_op_get_ca_cert(struct scepd_op *op)
{
    unsigned char *der = NULL;
    size_t len = 0;
    const char *type = NULL;
    if (scepd_caid_select(op) < 0)
        return;
    const scep_ca *active = scepd_ca_active(op->generation, op->ca, op->now);
    if (active == op->alias->ca->ca) {
        (void)scepd_op_body(op, 200, op->alias->ca_cert_type, op->alias->ca_cert,
                            op->alias->ca_cert_len);
    } else if (scepd_ca_cert_body(&der, &len, &type, active, op->alias->settings->includeroot) <
               0) {
        scepd_op_text(op, 500, "error", "cannot build the CA certificate reply");
        return;
    } else {
        (void)scepd_op_body(op, 200, type, der, len);
        OPENSSL_free(der);
    }
    op->outcome = "ok";
}

/* EJBCA's GetCACertChain: the whole chain, CA first, as certs-only. */
void scepd_op_get_ca_cert_chain(struct scepd_op *op)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (scepd_caid_select(op) < 0)
        return;
    const scep_ca *active = scepd_ca_active(op->generation, op->ca, op->now);
    STACK_OF(X509) *chain = X509_chain_up_ref(scep_ca_chain(active));
    int rc = chain != NULL && sk_X509_insert(chain, scep_ca_cert(active), 0) > 0 ? 0 : -1;
    if (rc == 0)
        X509_up_ref(scep_ca_cert(active));
    if (rc < 0 || scep_certs_only_build(&der, &len, chain, NULL) < 0) {
        sk_X509_pop_free(chain, X509_free);
        scepd_op_text(op, 500, "error", "cannot build the chain");
        return;
    }
    sk_X509_pop_free(chain, X509_free);
    (void)scepd_op_body(op, 200, "application/x-x509-ca-ra-cert-chain", der, len);
    op->outcome = "ok";
    OPENSSL_free(der);
}

void scepd_op_get_next_ca_cert(struct scepd_op *op)
{
    unsigned char *der = NULL;
    size_t len = 0;
    if (scepd_caid_select(op) < 0)
        return;
    X509 *next = scepd_ca_announced_next(op->generation, op->ca, op->now);
    if (next == NULL) {
        /* interop.md §16: no GetNextCACert in the caps either. */
        scepd_op_text(op, 404, "no_next_ca", "CA %s has no next CA certificate", op->ca->name);
        return;
    }
    STACK_OF(X509) *next_certs = sk_X509_new_null();
    /* RFC 8894 §4.7.1: signed by the current CA, which the client already trusts. */
    if (next_certs == NULL || sk_X509_push(next_certs, next) <= 0 ||
        scep_next_ca_build(&der, &len, next_certs, scep_ca_cert(op->ca->ca),
                           scep_ca_key(op->ca->ca), SCEP_DIGEST_SHA256) < 0) {
        scepd_op_text(op, 500, "error", "cannot build the next CA certificate reply");
    } else {
        (void)scepd_op_body(op, 200, "application/x-x509-next-ca-cert", der, len);
        op->outcome = "ok";
        scepd_op_detail(op, "ca %s", op->ca->name);
    }
    sk_X509_free(next_certs);
    OPENSSL_free(der);
}
