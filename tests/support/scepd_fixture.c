#include "scepd_fixture.h"
#include "test_support.h"

#include "scep/client.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)len + 1);
    assert_non_null(copy);
    memcpy(copy, data, (size_t)len);
    copy[len] = '\0';
    BIO_free(bio);
    return copy;
}

scep_store *scepd_fixture_store(const struct scepd_fixture *fx)
{
    scep_store *store = NULL;
    assert_int_equal(scep_store_open(&store, fx->db_url), SCEP_OK);
    return store;
}

void scepd_fixture_start(struct scepd_fixture *fx, const char *const *users, size_t user_count,
                         const char *extra_config)
{
    scepd_fixture_start_prepared(fx, users, user_count, extra_config, NULL);
}

void scepd_fixture_start_prepared(struct scepd_fixture *fx, const char *const *users,
                                  size_t user_count, const char *extra_config,
                                  void (*prepare)(struct scepd_fixture *fx, scep_store *store))
{
    memset(fx, 0, sizeof(*fx));
    fx->dir = test_tmpdir();
    char cert_path[512], key_path[512];
    snprintf(cert_path, sizeof(cert_path), "%s/ca.pem", fx->dir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", fx->dir);
    snprintf(fx->config_path, sizeof(fx->config_path), "%s/scepd.conf", fx->dir);
    snprintf(fx->db_url, sizeof(fx->db_url), "sqlite:%s/scepd.db", fx->dir);

    scep_ca_create_options options;
    scep_ca_create_options_init(&options);
    options.subject = "CN=scepd test CA,O=scepd";
    options.rsa_bits = 2048;
    options.validity_days = 30;
    scep_ca *ca = NULL;
    assert_int_equal(scep_ca_create(&ca, &options), SCEP_OK);
    assert_int_equal(scep_ca_save(ca, cert_path, key_path, NULL), SCEP_OK);
    fx->ca_cert = X509_dup(scep_ca_cert(ca));
    char *pem = cert_pem(scep_ca_cert(ca));
    scep_ca_free(ca);

    scep_store *store = scepd_fixture_store(fx);
    scep_store_ca row = {.name = "demo", .cert_pem = pem, .key_ref = key_path};
    assert_int_equal(scep_store_ca_add(store, &row), SCEP_OK);
    for (size_t i = 0; i < user_count; i++) {
        char username[128];
        const char *colon = strchr(users[i], ':');
        assert_non_null(colon);
        snprintf(username, sizeof(username), "%.*s", (int)(colon - users[i]), users[i]);
        char dn[160];
        snprintf(dn, sizeof(dn), "CN=%s", username);
        scep_store_end_entity ee = {.username = username, .subject_dn = dn, .ca_name = "demo"};
        assert_int_equal(scep_store_ee_add(store, &ee, colon + 1), SCEP_OK);
    }
    if (prepare != NULL)
        prepare(fx, store);
    scep_store_close(store);
    free(pem);

    /* The default alias the fixture's end entities belong to exists in every configuration. */
    const char *extra = extra_config ? extra_config : "";
    int names_scep = strncmp(extra, "scep.", 5) == 0 || strstr(extra, "\nscep.") != NULL;
    int names_default = strstr(extra, "default_alias") != NULL;
    FILE *f = fopen(fx->config_path, "w");
    assert_non_null(f);
    fprintf(f,
            "listen = 127.0.0.1:0\n"
            "database = %s\n"
            "state_dir = %s\n"
            "threads = 4\n"
            "log_level = %s\n"
            "%s%s%s\n",
            fx->db_url, fx->dir, getenv("SCEPD_TEST_LOG") ? "debug" : "error",
            names_default ? "" : "default_alias = scep\n",
            names_scep ? "" : "scep.operationmode = ca\n", extra);
    fclose(f);

    if (scepd_server_init(&fx->server, fx->config_path) != SCEP_OK)
        fail_msg("scepd_server_init: %s", scep_error_message());
    if (scepd_server_start(&fx->server) != SCEP_OK)
        fail_msg("scepd_server_start: %s", scep_error_message());
    fx->port = scepd_http_port(fx->server.http, 0);
    assert_true(fx->port > 0);
    snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%u/scep/pkiclient.exe", fx->port);
}

void scepd_fixture_stop(struct scepd_fixture *fx)
{
    scepd_server_stop(&fx->server);
    scepd_server_free(&fx->server);
    X509_free(fx->ca_cert);
    test_rmdir(fx->dir);
    free(fx->dir);
    memset(fx, 0, sizeof(*fx));
}

struct scep_client *scepd_fixture_client(const struct scepd_fixture *fx, const char *alias)
{
    char url[512];
    if (alias == NULL)
        snprintf(url, sizeof(url), "%s", fx->url);
    else
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/scep/%s/pkiclient.exe", fx->port, alias);
    scep_client_options options = {.url = url, .ca_cert = fx->ca_cert, .proxy = ""};
    scep_client *client = NULL;
    if (scep_client_new(&client, &options) != SCEP_OK)
        fail_msg("client: %s", scep_error_message());
    return client;
}
