/*
 * The authorisation model (docs/security.md), tried as an attacker would, each
 * refusal next to a positive control that must still succeed: alias hopping,
 * names a CSR asks for beyond what was registered, a duplicated extension, RA
 * mode taking over another end entity, subject patterns of one-time challenges,
 * manual approval in RA mode, retransmission after a reset, renewal with the old
 * key under the same transactionID, and control characters kept out of the log.
 */
#include "scepd_fixture.h"
#include "scepctl_run.h"
#include "test_support.h"

#include "scep/client.h"
#include "scepctl/scepctl.h"
#include "scepd/log.h"

#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>

static struct scepd_fixture fx;
static char ctl_out[8192], ctl_err[8192];

static const char config[] = "scep.clientCertificateRenewal = true\n"
                             "scep.renewal.afterHalfLife = false\n"
                             "scep.allowClientCertificateRenewaWithOldKey = true\n"
                             "mdm.approval = manual\n"
                             "server.certificateprofile = SERVER\n"
                             "server.clientCertificateRenewal = true\n"
                             "server.renewal.afterHalfLife = false\n"
                             "strict.names.csr = refuse\n"
                             "lab.names.csr = constrained\n"
                             "lab.names.santypes = dns\n"
                             "lab.names.dnssuffixes = lab.example\n"
                             "ra.operationmode = ra\n"
                             "ra.ra.authPwd = s3cret\n"
                             "ra.names.dnssuffixes = kiosk.example\n"
                             "ra.names.santypes = dns\n"
                             "kiosk.operationmode = ra\n"
                             "kiosk.ra.onetimechallenges = require\n"
                             "rahold.operationmode = ra\n"
                             "rahold.ra.authPwd = s3cret\n"
                             "rahold.approval = manual\n";

static void add_entity(scep_store *store, const char *username, const char *dn, const char *sans,
                       const char *alias, const char *code)
{
    scep_store_end_entity ee = {
        .username = username, .subject_dn = dn, .ca_name = "demo", .alias = alias, .sans = sans};
    assert_int_equal(scep_store_ee_add(store, &ee, code), SCEP_OK);
}

static void prepare(struct scepd_fixture *f, scep_store *store)
{
    (void)f;
    add_entity(store, "hop", "CN=hop", NULL, "mdm", "code-hop");
    add_entity(store, "home", "CN=home", NULL, NULL, "code-home");
    add_entity(store, "reg1", "CN=reg1,O=Lab", "dns:reg1.lab.example", NULL, "code-reg1");
    add_entity(store, "h4", "CN=h4", NULL, NULL, "code-h4");
    add_entity(store, "strict1", "CN=strict1", "dns:strict1.example", "strict", "code-s1");
    add_entity(store, "cons1", "CN=cons1", "dns:cons1.lab.example", "lab", "code-c1");
    add_entity(store, "victim", "CN=victim", NULL, NULL, "code-victim");
    add_entity(store, "again", "CN=again", NULL, NULL, "code-again");
    add_entity(store, "renew1", "CN=renew1", "dns:renew1.example", NULL, "code-renew1");
}

static int setup(void **state)
{
    (void)state;
    scepd_fixture_start_prepared(&fx, NULL, 0, config, prepare);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scepd_fixture_stop(&fx);
    return 0;
}

static int scepctl(const char *first, ...)
{
    va_list args;
    va_start(args, first);
    int rc = test_scepctl_v(fx.config_path, ctl_out, sizeof(ctl_out), ctl_err, sizeof(ctl_err),
                            first, args);
    va_end(args);
    return rc;
}

static scep_client *client_for(const char *alias)
{
    return scepd_fixture_client(&fx, alias);
}

/*
 * A CSR with `subject` (scep_dn_parse syntax), each of `san_exts` as one
 * subjectAltName extension in OpenSSL's config syntax ("DNS:a,IP:1.2.3.4"), and a
 * challengePassword when given. Built with OpenSSL's own parsers on purpose.
 */
static X509_REQ *make_csr(EVP_PKEY *key, const char *subject, const char *const *san_exts,
                          size_t san_count, const char *challenge)
{
    X509_REQ *csr = X509_REQ_new();
    X509_NAME *name = NULL;
    assert_int_equal(scep_dn_parse(&name, subject), SCEP_OK);
    assert_int_equal(X509_REQ_set_subject_name(csr, name), 1);
    X509_NAME_free(name);
    assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    for (size_t i = 0; i < san_count; i++) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san_exts[i]);
        assert_non_null(ext);
        sk_X509_EXTENSION_push(exts, ext);
    }
    if (san_count > 0)
        assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (challenge != NULL)
        assert_int_equal(X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                                   (const unsigned char *)challenge, -1),
                         1);
    assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
    return csr;
}

static scep_result *enroll(scep_client *client, EVP_PKEY *key, X509_REQ *csr)
{
    scep_enroll_request request = {.csr = csr, .key = key};
    scep_result *result = NULL;
    if (scep_client_enroll(client, &result, &request) != SCEP_OK)
        fail_msg("enroll: %s", scep_error_message());
    return result;
}

static scep_result *enroll_simple(const char *alias, EVP_PKEY *key, const char *subject,
                                  const char *challenge)
{
    scep_client *client = client_for(alias);
    X509_REQ *csr = make_csr(key, subject, NULL, 0, challenge);
    scep_result *result = enroll(client, key, csr);
    X509_REQ_free(csr);
    scep_client_free(client);
    return result;
}

static void assert_refused(scep_result *result, const char *text)
{
    assert_int_equal(scep_result_status(result), SCEP_STATUS_FAILURE);
    assert_int_equal(scep_result_fail_info(result), SCEP_FAIL_BAD_REQUEST);
    if (text != NULL && strstr(scep_result_fail_info_text(result), text) == NULL)
        fail_msg("failInfoText \"%s\" lacks \"%s\"", scep_result_fail_info_text(result), text);
}

static char *subject_text(X509 *cert)
{
    char *text = NULL;
    assert_int_equal(scep_dn_format(&text, X509_get_subject_name(cert)), SCEP_OK);
    return text;
}

static char *sans_text(X509 *cert)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    char *text = NULL;
    if (names == NULL)
        return OPENSSL_strdup("");
    assert_int_equal(scep_san_format(&text, names, ','), SCEP_OK);
    GENERAL_NAMES_free(names);
    return text;
}

/* 1. A code held on a manual alias is not issued through another alias. */
static void alias_hopping_is_refused(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_simple(NULL, key, "CN=hop", "code-hop");
    assert_refused(result, "does not enroll through this alias");
    scep_result_free(result);
    /* Positive control: through its own alias it is held for the operator. */
    result = enroll_simple("mdm", key, "CN=hop", "code-hop");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    scep_result_free(result);
    /* And an end entity of the default alias does not enroll through mdm either. */
    EVP_PKEY *key2 = test_rsa_key(2048);
    result = enroll_simple("mdm", key2, "CN=home", "code-home");
    assert_refused(result, "does not enroll through this alias");
    scep_result_free(result);
    result = enroll_simple(NULL, key2, "CN=home", "code-home");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
}

/* 2. CA mode issues the registered names only, whatever the CSR asks. */
static void ca_mode_issues_registered_names_only(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    static const char *const asked[] = {
        "otherName:msUPN;UTF8:administrator@corp.example,DNS:*.corp.example,IP:10.0.0.1"};
    scep_client *client = client_for(NULL);
    X509_REQ *csr = make_csr(key, "O=Lab,CN=reg1", asked, 1, "code-reg1");
    scep_result *result = enroll(client, key, csr);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    char *subject = subject_text(scep_result_cert(result));
    char *sans = sans_text(scep_result_cert(result));
    assert_string_equal(subject, "CN=reg1,O=Lab");
    assert_string_equal(sans, "dns:reg1.lab.example");
    OPENSSL_free(subject);
    OPENSSL_free(sans);
    scep_result_free(result);
    X509_REQ_free(csr);

    /* Extra RDNs in the CSR do not reach the certificate either. */
    EVP_PKEY *key2 = test_rsa_key(2048);
    csr = make_csr(key2, "O=Other Corp,CN=Domain Admin,CN=h4", NULL, 0, "code-h4");
    result = enroll(client, key2, csr);
    if (scep_result_status(result) == SCEP_STATUS_SUCCESS) {
        subject = subject_text(scep_result_cert(result));
        assert_string_equal(subject, "CN=h4");
        OPENSSL_free(subject);
    } else {
        /* The username comes from the first CN of the subject: refused is also safe. */
        assert_refused(result, NULL);
    }
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
}

/* names.csr = refuse names the name the end entity was not registered for. */
static void strict_alias_refuses_unregistered_names(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_client *client = client_for("strict");
    static const char *const extra[] = {"DNS:strict1.example,DNS:admin.example"};
    X509_REQ *csr = make_csr(key, "CN=strict1", extra, 1, "code-s1");
    scep_result *result = enroll(client, key, csr);
    assert_refused(result, "dns:admin.example");
    scep_result_free(result);
    X509_REQ_free(csr);
    /* Positive control: the registered names only. */
    static const char *const own[] = {"DNS:strict1.example"};
    csr = make_csr(key, "CN=strict1", own, 1, "code-s1");
    result = enroll(client, key, csr);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    char *sans = sans_text(scep_result_cert(result));
    assert_string_equal(sans, "dns:strict1.example");
    OPENSSL_free(sans);
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
    EVP_PKEY_free(key);
}

/* names.csr = constrained adds CSR names within the alias's constraints, refuses others. */
static void constrained_alias_adds_names_within_patterns(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_client *client = client_for("lab");
    static const char *const outside[] = {"DNS:extra.lab.example,DNS:evil.example"};
    X509_REQ *csr = make_csr(key, "CN=cons1", outside, 1, "code-c1");
    scep_result *result = enroll(client, key, csr);
    assert_refused(result, "dns:evil.example");
    scep_result_free(result);
    X509_REQ_free(csr);
    static const char *const within[] = {"DNS:extra.lab.example"};
    csr = make_csr(key, "CN=cons1", within, 1, "code-c1");
    result = enroll(client, key, csr);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    char *sans = sans_text(scep_result_cert(result));
    assert_string_equal(sans, "dns:cons1.lab.example,dns:extra.lab.example");
    OPENSSL_free(sans);
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
    EVP_PKEY_free(key);
}

/* 3. Two subjectAltName extensions are refused; RA constraints apply to every name. */
static void duplicated_extension_and_ra_name_constraints(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_client *client = client_for("ra");
    static const char *const twice[] = {"DNS:a.kiosk.example", "DNS:evil.example"};
    X509_REQ *csr = make_csr(key, "CN=dup-1", twice, 2, "s3cret");
    scep_result *result = enroll(client, key, csr);
    assert_refused(result, "extension twice");
    scep_result_free(result);
    X509_REQ_free(csr);

    static const char *const outside[] = {"DNS:a.kiosk.example,DNS:evil.example"};
    csr = make_csr(key, "CN=dup-2", outside, 1, "s3cret");
    result = enroll(client, key, csr);
    assert_refused(result, "dns:evil.example");
    scep_result_free(result);
    X509_REQ_free(csr);

    static const char *const wrong_type[] = {"DNS:a.kiosk.example,IP:10.0.0.1"};
    csr = make_csr(key, "CN=dup-3", wrong_type, 1, "s3cret");
    result = enroll(client, key, csr);
    assert_refused(result, "ip:10.0.0.1");
    scep_result_free(result);
    X509_REQ_free(csr);

    /* Positive control: one extension, names within the constraints. */
    static const char *const fine[] = {"DNS:a.kiosk.example,DNS:kiosk.example"};
    csr = make_csr(key, "CN=dup-4", fine, 1, "s3cret");
    result = enroll(client, key, csr);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    char *sans = sans_text(scep_result_cert(result));
    assert_string_equal(sans, "dns:a.kiosk.example,dns:kiosk.example");
    OPENSSL_free(sans);
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
    EVP_PKEY_free(key);
}

/* 4. RA mode never takes over a CA-mode end entity. */
static void ra_mode_does_not_take_over_end_entities(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_simple("ra", key, "O=Attacker,CN=victim", "s3cret");
    assert_refused(result, "held by another end entity");
    scep_result_free(result);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "victim"), SCEP_OK);
    assert_string_equal(ee->subject_dn, "CN=victim");
    assert_int_equal(ee->status, SCEP_EE_NEW);
    scep_store_ee_free(ee);
    scep_store_close(store);
    /* Positive control: the owner's code still enrolls. */
    result = enroll_simple(NULL, key, "CN=victim", "code-victim");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    scep_result_free(result);
    EVP_PKEY_free(key);
}

/* 5. approval = manual holds RA requests too; approve issues the recorded names. */
static void ra_manual_approval_holds_then_issues(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_client *client = client_for("rahold");
    static const char *const names[] = {"DNS:held.example"};
    X509_REQ *csr = make_csr(key, "CN=held-1", names, 1, "s3cret");
    scep_result *result = enroll(client, key, csr);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_PENDING);
    scep_result_free(result);

    scep_store *store = scepd_fixture_store(&fx);
    scep_store_request *rows = NULL;
    size_t count = 0;
    int64_t id = 0;
    assert_int_equal(scep_store_request_list(&rows, &count, store, SCEP_REQ_PENDING, 0), SCEP_OK);
    for (size_t i = 0; i < count; i++)
        if (strcmp(rows[i].alias, "rahold") == 0) {
            id = rows[i].id;
            assert_string_equal(rows[i].decided_mode, "ra");
            assert_string_equal(rows[i].decided_subject, "CN=held-1");
            assert_string_equal(rows[i].decided_sans, "dns:held.example");
        }
    scep_store_request_list_free(rows, count);
    assert_true(id > 0);
    /* Nothing exists before the operator acts. */
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "held-1"), SCEP_ENOTFOUND);
    char id_text[32];
    snprintf(id_text, sizeof(id_text), "%lld", (long long)id);
    assert_int_equal(scepctl("request", "show", id_text, NULL), 0);
    assert_non_null(strstr(ctl_out, "dns:held.example"));
    assert_int_equal(scepctl("request", "approve", id_text, NULL), 0);
    assert_int_equal(scep_store_ee_get(&ee, store, "held-1"), SCEP_OK);
    assert_string_equal(ee->ra_alias, "rahold");
    scep_store_ee_free(ee);
    scep_store_close(store);

    scep_pending *pending = NULL;
    (void)pending;
    /* The client's retransmission now gets the certificate (same transaction). */
    result = enroll(client, key, csr);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    char *sans = sans_text(scep_result_cert(result));
    assert_string_equal(sans, "dns:held.example");
    OPENSSL_free(sans);
    scep_result_free(result);
    X509_REQ_free(csr);
    scep_client_free(client);
    EVP_PKEY_free(key);
}

/* 7. A one-time challenge's pattern matches RDN by RDN: '*' never spans RDNs. */
static void challenge_pattern_is_rdn_aware(void **state)
{
    (void)state;
    scep_store *store = scepd_fixture_store(&fx);
    char first[SCEP_CHALLENGE_LEN + 1], second[SCEP_CHALLENGE_LEN + 1];
    assert_int_equal(scep_store_challenge_new(first, NULL, store, "kiosk", 600, "CN=kiosk-*"),
                     SCEP_OK);
    assert_int_equal(scep_store_challenge_new(second, NULL, store, "kiosk", 600, "CN=kiosk-*"),
                     SCEP_OK);
    scep_store_close(store);
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result =
        enroll_simple("kiosk", key, "CN=kiosk-1,CN=administrator,O=Domain Admins", first);
    assert_refused(result, "does not match the one-time challenge");
    scep_result_free(result);
    result = enroll_simple("kiosk", key, "CN=kiosk-1", second);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    char *subject = subject_text(scep_result_cert(result));
    assert_string_equal(subject, "CN=kiosk-1");
    OPENSSL_free(subject);
    scep_result_free(result);
    EVP_PKEY_free(key);
}

/* 12. After `ee reset`, the same key and transactionID is a new transaction. */
static void reset_then_same_key_is_a_new_transaction(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_simple(NULL, key, "CN=again", "code-again");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *first = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    assert_int_equal(scepctl("ee", "reset", "--username", "again", "--password", "code-2", NULL),
                     0);
    result = enroll_simple(NULL, key, "CN=again", "code-2");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(first),
                                          X509_get0_serialNumber(scep_result_cert(result))),
                         0);
    scep_result_free(result);
    scep_store *store = scepd_fixture_store(&fx);
    scep_store_end_entity *ee = NULL;
    assert_int_equal(scep_store_ee_get(&ee, store, "again"), SCEP_OK);
    assert_int_equal(ee->status, SCEP_EE_GENERATED);
    scep_store_ee_free(ee);
    scep_store_close(store);
    X509_free(first);
    EVP_PKEY_free(key);
}

/* 6, 10. Renewal: only through the end entity's alias; with the old key and the same
 * transactionID it is a new certificate, not the old one sent again. */
static void renewal_with_old_key_and_alias_binding(void **state)
{
    (void)state;
    EVP_PKEY *key = test_rsa_key(2048);
    scep_result *result = enroll_simple(NULL, key, "CN=renew1", "code-renew1");
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *old = X509_dup(scep_result_cert(result));
    scep_result_free(result);

    /* Through the SERVER alias: refused, so no serverAuth for an ENDUSER holder. */
    scep_client *server = client_for("server");
    X509_REQ *csr = make_csr(key, "CN=renew1", NULL, 0, NULL);
    scep_enroll_request request = {
        .csr = csr, .key = key, .existing_cert = old, .existing_key = key};
    assert_int_equal(scep_client_enroll(server, &result, &request), SCEP_OK);
    assert_refused(result, "does not enroll through this alias");
    scep_result_free(result);
    scep_client_free(server);

    /* Through its own alias with the old key: the client derives the same transactionID. */
    scep_client *client = client_for(NULL);
    assert_int_equal(scep_client_enroll(client, &result, &request), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *renewed = scep_result_cert(result);
    assert_int_not_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(old), X509_get0_serialNumber(renewed)), 0);
    char *sans = sans_text(renewed);
    assert_string_equal(sans, "dns:renew1.example");
    OPENSSL_free(sans);
    X509 *second = X509_dup(renewed);
    scep_result_free(result);

    /* A second renewal, signed by the first renewal's certificate, same key and
     * transactionID: a new certificate again, not the first renewal sent back. */
    scep_enroll_request again = {
        .csr = csr, .key = key, .existing_cert = second, .existing_key = key};
    assert_int_equal(scep_client_enroll(client, &result, &again), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(second),
                                          X509_get0_serialNumber(scep_result_cert(result))),
                         0);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(old),
                                          X509_get0_serialNumber(scep_result_cert(result))),
                         0);
    scep_result_free(result);
    /* Positive control of retransmission: the very same request gets the same answer. */
    assert_int_equal(scep_client_enroll(client, &result, &again), SCEP_OK);
    assert_int_equal(scep_result_status(result), SCEP_STATUS_SUCCESS);
    X509 *third = X509_dup(scep_result_cert(result));
    scep_result_free(result);
    assert_int_equal(scep_client_enroll(client, &result, &again), SCEP_OK);
    assert_int_equal(X509_cmp(third, scep_result_cert(result)), 0);
    scep_result_free(result);
    X509_free(third);
    X509_free(second);
    X509_REQ_free(csr);
    scep_client_free(client);
    X509_free(old);
    EVP_PKEY_free(key);
}

/* 9. Text from a request cannot forge log lines or drive a terminal. */
static void log_escapes_control_characters(void **state)
{
    (void)state;
    char out[64];
    scepd_log_escape(out, sizeof(out), "CN=\x1b[31mred\nfake=\"1\"\\");
    assert_string_equal(out, "CN=\\x1b[31mred\\x0afake=\\\"1\\\"\\\\");
    scepd_log_escape(out, 8, "abcdefghijkl");
    assert_string_equal(out, "abcdefg");
    scepd_log_escape(out, 6, "ab\x01");
    assert_string_equal(out, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alias_hopping_is_refused),
        cmocka_unit_test(ca_mode_issues_registered_names_only),
        cmocka_unit_test(strict_alias_refuses_unregistered_names),
        cmocka_unit_test(constrained_alias_adds_names_within_patterns),
        cmocka_unit_test(duplicated_extension_and_ra_name_constraints),
        cmocka_unit_test(ra_mode_does_not_take_over_end_entities),
        cmocka_unit_test(ra_manual_approval_holds_then_issues),
        cmocka_unit_test(challenge_pattern_is_rdn_aware),
        cmocka_unit_test(reset_then_same_key_is_a_new_transaction),
        cmocka_unit_test(renewal_with_old_key_and_alias_binding),
        cmocka_unit_test(log_escapes_control_characters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
