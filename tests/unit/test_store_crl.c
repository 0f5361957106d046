/*
 * Stored CRLs: the newest per CA, publishing in one write transaction (the
 * CRL number is taken only when a CRL is made), freshness decided by the
 * caller, bounded history, rollback on a failed signature, one winner under
 * concurrency, and the migration that adds the table.
 */
#include "test_support.h"

#include "schema_undo.h"
#include "scep/store.h"
#include "store_backend.h"
#include "util/error_internal.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char *dir;
    char path[4096];
    char url[4200];
    scep_store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = test_tmpdir();
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    test_store_new_url(f->url, sizeof(f->url), f->dir);
    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    scep_store_ca ca = {
        .name = "ca1",
        .cert_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        .key_ref = "/etc/scepd/ca.key",
    };
    assert_int_equal(scep_store_ca_add(f->store, &ca), SCEP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    scep_store_close(f->store);
    test_store_drop(f->url);
    test_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static const unsigned char fake_der[] = {0x30, 0x03, 0x02, 0x01, 0x05};

static void add_cert(scep_store *store, const char *serial)
{
    scep_store_cert cert = {
        .ca_name = "ca1",
        .serial = serial,
        .subject = "CN=router1",
        .issuer = "CN=Test CA",
        .not_before = 1700000000,
        .not_after = 1800000000,
        .der = fake_der,
        .der_len = sizeof(fake_der),
    };
    assert_int_equal(scep_store_cert_add(store, &cert), SCEP_OK);
}

/* What the sign callback saw, and whether it should fail. */
struct signer {
    atomic_int calls;
    size_t last_revoked;
    int fail;
};

static int fake_sign(scep_store_crl *crl, const scep_store_revoked *revoked, size_t count,
                     void *payload)
{
    struct signer *signer = payload;
    atomic_fetch_add(&signer->calls, 1);
    signer->last_revoked = count;
    for (size_t i = 0; i < count; i++)
        assert_non_null(revoked[i].serial);
    /* The encoding carries the number, so a test can tell CRLs apart. */
    unsigned char *der = OPENSSL_malloc(4);
    assert_non_null(der);
    der[0] = 0x02;
    der[1] = 0x02;
    der[2] = (unsigned char)(crl->crl_number >> 8);
    der[3] = (unsigned char)crl->crl_number;
    crl->der = der;
    crl->der_len = 4;
    crl->this_update = 1700000000;
    crl->next_update = 1700000000 + 7 * 86400;
    return signer->fail ? scep_fail(SCEP_ECRYPTO, "signing refused by the test") : SCEP_OK;
}

static int never_fresh(const scep_store_crl *latest, int64_t revoked_count, void *payload)
{
    (void)latest, (void)revoked_count, (void)payload;
    return 0;
}

/* Fresh while it lists every revocation: what scepd does, minus the clock. */
static int fresh_when_complete(const scep_store_crl *latest, int64_t revoked_count, void *payload)
{
    (void)payload;
    return latest != NULL && latest->revoked_count == revoked_count;
}

static void no_crl_before_the_first(void **state)
{
    struct fixture *f = *state;
    scep_store_crl *crl = NULL;
    int64_t count = -1;
    assert_int_equal(scep_store_crl_get(&crl, f->store, "ca1"), SCEP_ENOTFOUND);
    assert_null(crl);
    assert_int_equal(scep_store_cert_count_revoked(&count, f->store, "ca1"), SCEP_OK);
    assert_int_equal(count, 0);
    struct signer signer = {0};
    assert_int_equal(
        scep_store_crl_publish(&crl, NULL, f->store, "nope", never_fresh, fake_sign, &signer),
        SCEP_ENOTFOUND);
    assert_null(crl);
    assert_int_equal(scep_store_crl_publish(&crl, NULL, f->store, "ca1", never_fresh, NULL, NULL),
                     SCEP_EINVAL);
}

static void number_only_advances_when_a_crl_is_made(void **state)
{
    struct fixture *f = *state;
    struct signer signer = {0};
    scep_store_crl *crl = NULL;
    int generated = -1;

    assert_int_equal(scep_store_crl_publish(&crl, &generated, f->store, "ca1", fresh_when_complete,
                                            fake_sign, &signer),
                     SCEP_OK);
    assert_int_equal(generated, 1);
    assert_int_equal(crl->crl_number, 1);
    assert_int_equal(crl->revoked_count, 0);
    assert_string_equal(crl->ca_name, "ca1");
    assert_int_equal(crl->der_len, 4);
    assert_int_equal(crl->next_update, 1700000000 + 7 * 86400);
    scep_store_crl_free(crl);

    /* Still complete: the stored CRL comes back, unsigned again, same number. */
    assert_int_equal(scep_store_crl_publish(&crl, &generated, f->store, "ca1", fresh_when_complete,
                                            fake_sign, &signer),
                     SCEP_OK);
    assert_int_equal(generated, 0);
    assert_int_equal(crl->crl_number, 1);
    assert_int_equal(atomic_load(&signer.calls), 1);
    scep_store_crl_free(crl);

    /* A revocation makes it incomplete: number 2, listing the one revocation. */
    add_cert(f->store, "0A");
    add_cert(f->store, "0B");
    assert_int_equal(scep_store_cert_revoke(f->store, "ca1", "0A", 0, 1), SCEP_OK);
    int64_t count = 0;
    assert_int_equal(scep_store_cert_count_revoked(&count, f->store, "ca1"), SCEP_OK);
    assert_int_equal(count, 1);
    assert_int_equal(scep_store_crl_publish(&crl, &generated, f->store, "ca1", fresh_when_complete,
                                            fake_sign, &signer),
                     SCEP_OK);
    assert_int_equal(generated, 1);
    assert_int_equal(crl->crl_number, 2);
    assert_int_equal(crl->revoked_count, 1);
    assert_int_equal(signer.last_revoked, 1);
    scep_store_crl_free(crl);

    /* The newest is what crl_get reads, DER included. */
    assert_int_equal(scep_store_crl_get(&crl, f->store, "ca1"), SCEP_OK);
    assert_int_equal(crl->crl_number, 2);
    assert_int_equal(crl->der_len, 4);
    assert_int_equal(crl->der[3], 2);
    scep_store_crl_free(crl);

    /* The CA's counter agrees. */
    scep_store_ca *ca = NULL;
    assert_int_equal(scep_store_ca_get(&ca, f->store, "ca1"), SCEP_OK);
    assert_int_equal(ca->crl_number, 2);
    scep_store_ca_free(ca);
}

static void failed_signature_rolls_back(void **state)
{
    struct fixture *f = *state;
    struct signer signer = {.fail = 1};
    scep_store_crl *crl = NULL;
    assert_int_equal(
        scep_store_crl_publish(&crl, NULL, f->store, "ca1", never_fresh, fake_sign, &signer),
        SCEP_ECRYPTO);
    assert_null(crl);
    assert_int_equal(scep_store_crl_get(&crl, f->store, "ca1"), SCEP_ENOTFOUND);
    /* The number taken inside the transaction was given back. */
    signer.fail = 0;
    assert_int_equal(
        scep_store_crl_publish(&crl, NULL, f->store, "ca1", never_fresh, fake_sign, &signer),
        SCEP_OK);
    assert_int_equal(crl->crl_number, 1);
    scep_store_crl_free(crl);
}

static int64_t raw_count(const struct fixture *f, const char *sql)
{
    struct test_raw *db = test_raw_open(f->url);
    int64_t v = test_raw_int(db, sql);
    test_raw_close(db);
    return v;
}

static void history_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct signer signer = {0};
    for (int i = 0; i < SCEP_STORE_CRL_HISTORY + 5; i++) {
        scep_store_crl *crl = NULL;
        assert_int_equal(
            scep_store_crl_publish(&crl, NULL, f->store, "ca1", NULL, fake_sign, &signer), SCEP_OK);
        assert_int_equal(crl->crl_number, i + 1);
        scep_store_crl_free(crl);
    }
    assert_int_equal(raw_count(f, "SELECT count(*) FROM crls"), SCEP_STORE_CRL_HISTORY);
    assert_int_equal(raw_count(f, "SELECT min(crl_number) FROM crls"), 6);
}

struct racer {
    const char *url;
    struct signer *signer;
    int64_t number;
    int generated;
    int rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    scep_store *store = NULL;
    r->rc = scep_store_open(&store, r->url);
    if (r->rc == SCEP_OK) {
        scep_store_crl *crl = NULL;
        r->rc = scep_store_crl_publish(&crl, &r->generated, store, "ca1", fresh_when_complete,
                                       fake_sign, r->signer);
        if (crl != NULL)
            r->number = crl->crl_number;
        scep_store_crl_free(crl);
    }
    scep_store_close(store);
    return NULL;
}

static void concurrent_regeneration_has_one_winner(void **state)
{
    struct fixture *f = *state;
    enum { RACERS = 8 };
    struct signer signer = {0};
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){.url = f->url, .signer = &signer};
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    int winners = 0;
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(racers[i].rc, SCEP_OK);
        assert_int_equal(racers[i].number, 1);
        winners += racers[i].generated;
    }
    assert_int_equal(winners, 1);
    assert_int_equal(atomic_load(&signer.calls), 1);
}

static void migration_from_version_2_adds_the_table(void **state)
{
    struct fixture *f = *state;
    TEST_SQLITE_ONLY("no PostgreSQL store predates schema 7");
    scep_store_close(f->store);
    f->store = NULL;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  SCHEMA_8_UNDONE SCHEMA_7_UNDONE
                                  "ALTER TABLE end_entities DROP COLUMN failed_codes;"
                                  "ALTER TABLE requests DROP COLUMN renews_serial;"
                                  "ALTER TABLE requests DROP COLUMN decided_ee_updated_at;"
                                  "ALTER TABLE audit_events DROP COLUMN prev_hash;"
                                  "ALTER TABLE audit_events DROP COLUMN hash;"
                                  "ALTER TABLE end_entities DROP COLUMN alias;"
                                  "ALTER TABLE end_entities DROP COLUMN sans;"
                                  "ALTER TABLE end_entities DROP COLUMN ra_alias;"
                                  "ALTER TABLE requests DROP COLUMN decided_mode;"
                                  "ALTER TABLE requests DROP COLUMN decided_username;"
                                  "ALTER TABLE requests DROP COLUMN decided_profile;"
                                  "ALTER TABLE requests DROP COLUMN decided_subject;"
                                  "ALTER TABLE requests DROP COLUMN decided_sans;"
                                  "ALTER TABLE requests DROP COLUMN replaces_serial;"
                                  "DROP TABLE crls; PRAGMA user_version = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(scep_store_open(&f->store, f->url), SCEP_OK);
    int version = 0;
    assert_int_equal(scep_store_schema_version(&version, f->store), SCEP_OK);
    assert_int_equal(version, scep_store_schema_version_supported());
    assert_true(version >= 3);
    struct signer signer = {0};
    scep_store_crl *crl = NULL;
    assert_int_equal(scep_store_crl_publish(&crl, NULL, f->store, "ca1", NULL, fake_sign, &signer),
                     SCEP_OK);
    scep_store_crl_free(crl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_crl_before_the_first, setup, teardown),
        cmocka_unit_test_setup_teardown(number_only_advances_when_a_crl_is_made, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_signature_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(history_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_regeneration_has_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_from_version_2_adds_the_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
