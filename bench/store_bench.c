/*
 * Issuance transactions per second of the store alone, without RSA or HTTP: what one
 * database carries for every scepd node in front of it. Each transaction is what scepd
 * writes for one RA-mode enrollment: the request recorded (scep_store_request_get_or_insert),
 * then the issuance step (scep_store_issue_ra: end entity upsert, request ISSUED,
 * certificate insert, audit event with its hash chain), each committed durably.
 *
 * usage: store_bench DATABASE_URL COUNT THREADS...
 *   e.g. store_bench sqlite:/tmp/bench.db 4000 1 2 4 8 16
 *        store_bench 'postgresql:///scep?host=/tmp/pg' 4000 1 2 4 8 16
 * Names carry a per-run prefix, so a store that already holds rows can be used. Each
 * thread opens its own connection (as scepd's workers do). Bounded: COUNT <= 1000000,
 * THREADS <= 64 each, and every pass stops after 120 s.
 */
#include "scep/store.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS  64
#define PASS_SECONDS 120

static const char *url;
static char run[17];
static long pass_count;
static atomic_long next_item;
static atomic_long failures;
static double deadline;
static int pass_no;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const unsigned char fake_der[] = {0x30, 0x03, 0x02, 0x01, 0x05};

static int one(scep_store *store, long i)
{
    char tid[64], user[64], serial[64], dn[96];
    snprintf(tid, sizeof(tid), "%s-%d-%ld", run, pass_no, i);
    snprintf(user, sizeof(user), "bench-%s-%d-%ld", run, pass_no, i);
    snprintf(serial, sizeof(serial), "%s%02X%08lX", run, pass_no, (unsigned long)i);
    snprintf(dn, sizeof(dn), "CN=%s", user);
    scep_store_request req = {
        .alias = "bench",
        .transaction_id = tid,
        .message_type = 19,
        .csr_der = fake_der,
        .csr_der_len = sizeof(fake_der),
        .fail_info = SCEP_STORE_NO_FAIL_INFO,
        .client_addr = "127.0.0.1",
    };
    memset(req.public_key_sha256, (int)(i & 0xff), sizeof(req.public_key_sha256));
    scep_store_request *row = NULL;
    if (scep_store_request_get_or_insert(&row, NULL, store, &req) < 0)
        return -1;
    int64_t request_id = row->id;
    scep_store_request_free(row);
    time_t t = time(NULL);
    scep_store_cert cert = {
        .ca_name = "bench",
        .serial = serial,
        .subject = dn,
        .issuer = "CN=Bench CA",
        .not_before = t,
        .not_after = t + 86400,
        .der = fake_der,
        .der_len = sizeof(fake_der),
    };
    scep_store_issuance issuance = {
        .cert = &cert, .request_id = request_id, .actor = "127.0.0.1", .alias = "bench"};
    scep_store_ra_entity ra = {
        .username = user, .subject_dn = dn, .ca_name = "bench", .alias = "bench"};
    return scep_store_issue_ra(store, &issuance, &ra) < 0 ? -1 : 0;
}

static void *worker(void *arg)
{
    (void)arg;
    scep_store *store = NULL;
    if (scep_store_open(&store, url) < 0) {
        fprintf(stderr, "store_bench: %s\n", scep_error_message());
        atomic_fetch_add(&failures, pass_count);
        return NULL;
    }
    for (;;) {
        long i = atomic_fetch_add(&next_item, 1);
        if (i >= pass_count || now() > deadline)
            break;
        if (one(store, i) < 0) {
            if (atomic_fetch_add(&failures, 1) == 0)
                fprintf(stderr, "store_bench: %s\n", scep_error_message());
        }
    }
    scep_store_close(store);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: store_bench DATABASE_URL COUNT THREADS...\n");
        return 2;
    }
    url = argv[1];
    long count = strtol(argv[2], NULL, 10);
    if (count < 1 || count > 1000000) {
        fprintf(stderr, "store_bench: COUNT must be 1..1000000\n");
        return 2;
    }
    unsigned char random[8];
    if (RAND_bytes(random, sizeof(random)) != 1)
        return 1;
    for (size_t i = 0; i < sizeof(random); i++)
        snprintf(run + 2 * i, 3, "%02X", random[i]);

    /* The CA row the certificates name (a placeholder: nothing here signs). */
    scep_store *setup = NULL;
    if (scep_store_open(&setup, url) < 0) {
        fprintf(stderr, "store_bench: %s\n", scep_error_message());
        return 1;
    }
    scep_store_ca ca = {.name = "bench",
                        .cert_pem =
                            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                        .key_ref = "/nonexistent/bench.key"};
    int rc = scep_store_ca_add(setup, &ca);
    if (rc < 0 && rc != SCEP_EEXISTS) {
        fprintf(stderr, "store_bench: %s\n", scep_error_message());
        scep_store_close(setup);
        return 1;
    }
    printf("backend %s, %ld issuance transactions a pass\n", scep_store_backend(setup), count);
    scep_store_close(setup);
    printf("%8s %12s %10s %9s\n", "threads", "issued/s", "seconds", "failures");

    int status = 0;
    for (int a = 3; a < argc; a++) {
        int threads = (int)strtol(argv[a], NULL, 10);
        if (threads < 1 || threads > MAX_THREADS) {
            fprintf(stderr, "store_bench: THREADS must be 1..%d\n", MAX_THREADS);
            return 2;
        }
        pass_no = a - 3;
        pass_count = count;
        atomic_store(&next_item, 0);
        atomic_store(&failures, 0);
        pthread_t tids[MAX_THREADS];
        double start = now();
        deadline = start + PASS_SECONDS;
        for (int t = 0; t < threads; t++)
            pthread_create(&tids[t], NULL, worker, NULL);
        for (int t = 0; t < threads; t++)
            pthread_join(tids[t], NULL);
        double elapsed = now() - start;
        long done = atomic_load(&next_item) < count ? atomic_load(&next_item) : count;
        long failed = atomic_load(&failures);
        printf("%8d %12.0f %10.2f %9ld\n", threads, (double)(done - failed) / elapsed, elapsed,
               failed);
        fflush(stdout);
        if (failed > 0)
            status = 1;
    }
    return status;
}
