/*
 * libFuzzer target for what scepd does with a CSR's names: a DER CSR goes
 * through the constrain stage of the enrollment pipeline (src/scepd/enroll/
 * constrain.c) in every mode (CA mode with each names.csr policy, RA mode with
 * and without a subject pattern, a one-time challenge's pattern, renewal), and
 * through the challengePassword and key-hash readers. When the stage lets the
 * request go on, the decided subjectAltNames must survive scep_san_format then
 * scep_san_parse (that is how a held decision is stored); abort() otherwise.
 */
#include "config/config.h"
#include "scepd/enroll/enrollment.h"
#include "scepd/state/server.h"

#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "registered.operationmode=ca\n"
                                  "refuse.operationmode=ca\n"
                                  "refuse.names.csr=refuse\n"
                                  "constrained.operationmode=ca\n"
                                  "constrained.names.csr=constrained\n"
                                  "constrained.names.santypes=dns,ip,upn\n"
                                  "constrained.names.dnssuffixes=example.com,.corp.example\n"
                                  "constrained.sanfromunstructuredname=true\n"
                                  "ra.operationmode=ra\n"
                                  "ra.names.dnssuffixes=*.example.com,corp.example\n"
                                  "ra.sanfromunstructuredname=true\n"
                                  "pattern.operationmode=ra\n"
                                  "pattern.names.subject=CN=*,OU=Routers+L=*,O=Example\n"
                                  "pattern.names.santypes=dns,email\n"
                                  "renewal.operationmode=ca\n"
                                  "renewal.renewal.afterHalfLife=false\n"
                                  "renewal.renewal.sameSubject=false\n"
                                  "renewal.renewal.revokeOld=true\n";

static scep_config *config;
static X509 *signer;

static void setup(void)
{
    if (scep_config_parse(&config, "fuzz_csr_names", config_text, strlen(config_text)) != SCEP_OK) {
        fprintf(stderr, "fuzz_csr_names: %s\n", scep_error_message());
        abort();
    }
    FILE *f = fopen(SCEP_TEST_DATA "/vectors/third-party/go-scep/testclient/client.pem", "r");
    if (f != NULL) {
        signer = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
}

static void cleanup(void)
{
    scep_config_free(config);
    X509_free(signer);
}

static void check_decision(const scep_decision *decision)
{
    char *text = NULL;
    GENERAL_NAMES *again = NULL;
    if (decision->subject == NULL || decision->sans == NULL)
        abort();
    if (scep_san_format(&text, decision->sans, '\n') != SCEP_OK ||
        scep_san_parse(&again, text) != SCEP_OK ||
        sk_GENERAL_NAME_num(again) != sk_GENERAL_NAME_num(decision->sans))
        abort();
    for (int i = 0; i < sk_GENERAL_NAME_num(again); i++)
        if (!scep_san_equal(sk_GENERAL_NAME_value(again, i),
                            sk_GENERAL_NAME_value(decision->sans, i)))
            abort();
    GENERAL_NAMES_free(again);
    OPENSSL_free(text);
}

static void constrain(X509_REQ *csr, const char *alias_name, scep_decision_mode mode)
{
    struct scepd_alias alias = {.settings = scep_config_alias(config, alias_name)};
    if (alias.settings == NULL)
        abort();
    snprintf(alias.name, sizeof(alias.name), "%s", alias_name);
    struct scepd_op op = {.alias = &alias, .now = 1800000000};
    scep_store_end_entity ee = {
        .username = "device-1",
        .subject_dn = "CN=device-1,OU=Routers,O=Example",
        .sans = "dns:device-1.example.com\nip:192.0.2.1\nupn:device-1@corp.example",
    };
    scep_store_cert old = {.serial = "01"};
    struct scepd_enrollment e;
    memset(&e, 0, sizeof(e));
    e.op = &op;
    e.csr = csr;
    e.decision.mode = mode;
    snprintf(e.username, sizeof(e.username), "device-1");
    /* CA mode and renewal have their end entity (a registered one: renewal narrows to it). */
    if (mode == SCEP_DECISION_CA || mode == SCEP_DECISION_RENEWAL)
        e.ee = &ee;
    if (mode == SCEP_DECISION_CHALLENGE)
        e.challenge_pattern = OPENSSL_strdup("/O=Example/OU=*/CN=device-*");
    if (mode == SCEP_DECISION_RENEWAL) {
        if (signer == NULL)
            return;
        e.signer = signer;
        e.old = &old;
    }
    if (scepd_enroll_constrain(&e) == SCEPD_STAGE_NEXT)
        check_decision(&e.decision);
    else if (e.answer.kind != SCEPD_ANSWER_FAILURE)
        abort();
    OPENSSL_free(e.challenge_pattern);
    scep_decision_clear(&e.decision);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (config == NULL) {
        setup();
        atexit(cleanup);
    }
    const unsigned char *p = data;
    X509_REQ *csr = d2i_X509_REQ(NULL, &p, (long)size);
    if (csr == NULL)
        return 0;

    char challenge[SCEPD_CHALLENGE_MAX];
    (void)scepd_csr_challenge(challenge, sizeof(challenge), csr);
    unsigned char key_hash[32];
    (void)scepd_csr_key_hash(key_hash, csr);

    constrain(csr, "registered", SCEP_DECISION_CA);
    constrain(csr, "refuse", SCEP_DECISION_CA);
    constrain(csr, "constrained", SCEP_DECISION_CA);
    constrain(csr, "ra", SCEP_DECISION_RA);
    constrain(csr, "pattern", SCEP_DECISION_RA);
    constrain(csr, "ra", SCEP_DECISION_CHALLENGE);
    constrain(csr, "renewal", SCEP_DECISION_RENEWAL);
    X509_REQ_free(csr);
    return 0;
}
