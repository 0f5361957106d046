/*
 * Enrollment throughput against a running scepd in CA mode: registers COUNT end
 * entities directly in the store, then THREADS client threads enroll them over HTTP
 * (one shared scep_client, EC P-256 requester keys generated beforehand so the
 * measurement is the server's work: RSA decryption, issuance, commit, signing).
 *
 * usage: enroll_bench URL CA_PEM DATABASE_URL COUNT THREADS
 * Bounded: COUNT <= 100000, THREADS <= 64; each request has the client's timeout.
 */
#include "scep/client.h"
#include "scep/store.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
    EVP_PKEY *key;
    X509_REQ *csr;
    int ok;
};

static scep_client *client;
static struct job *jobs;
static long job_count;
static atomic_long next_job;
static atomic_long failures;

static X509_REQ *make_csr(EVP_PKEY *key, const char *cn, const char *challenge)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                              (const unsigned char *)challenge, -1);
    X509_REQ_sign(req, key, EVP_sha256());
    return req;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        long i = atomic_fetch_add(&next_job, 1);
        if (i >= job_count)
            return NULL;
        scep_enroll_request request = {.csr = jobs[i].csr, .key = jobs[i].key};
        scep_result *result = NULL;
        if (scep_client_enroll(client, &result, &request) == SCEP_OK &&
            scep_result_status(result) == SCEP_STATUS_SUCCESS)
            jobs[i].ok = 1;
        else
            atomic_fetch_add(&failures, 1);
        scep_result_free(result);
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL CA_PEM DATABASE_URL COUNT THREADS\n", argv[0]);
        return 2;
    }
    job_count = strtol(argv[4], NULL, 10);
    long threads = strtol(argv[5], NULL, 10);
    if (job_count < 1 || job_count > 100000 || threads < 1 || threads > 64) {
        fprintf(stderr, "COUNT 1..100000, THREADS 1..64\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (ca == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    scep_store *store = NULL;
    if (scep_store_open(&store, argv[3]) != SCEP_OK) {
        fprintf(stderr, "store: %s\n", scep_error_message());
        return 1;
    }
    jobs = calloc((size_t)job_count, sizeof(*jobs));
    long run = (long)time(NULL);
    for (long i = 0; i < job_count; i++) {
        char user[64], dn[80];
        snprintf(user, sizeof(user), "bench-%ld-%ld", run, i);
        snprintf(dn, sizeof(dn), "CN=%s", user);
        scep_store_end_entity ee = {.username = user, .subject_dn = dn};
        const char *ca_name = getenv("BENCH_CA") ? getenv("BENCH_CA") : "demo";
        ee.ca_name = ca_name;
        if (scep_store_ee_add(store, &ee, "bench-code") != SCEP_OK) {
            fprintf(stderr, "ee add: %s\n", scep_error_message());
            return 1;
        }
        jobs[i].key = EVP_EC_gen("P-256");
        jobs[i].csr = make_csr(jobs[i].key, user, "bench-code");
    }
    scep_store_close(store);

    scep_client_options options = {.url = argv[1], .ca_cert = ca, .cache_ca = 1, .proxy = ""};
    if (scep_client_new(&client, &options) != SCEP_OK) {
        fprintf(stderr, "client: %s\n", scep_error_message());
        return 1;
    }
    scep_caps caps;
    if (scep_client_get_caps(client, &caps, NULL) != SCEP_OK) {
        fprintf(stderr, "GetCACaps: %s\n", scep_error_message());
        return 1;
    }
    pthread_t tids[64];
    double start = now_seconds();
    for (long t = 0; t < threads; t++)
        pthread_create(&tids[t], NULL, worker, NULL);
    for (long t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    double elapsed = now_seconds() - start;
    long ok = job_count - atomic_load(&failures);
    printf("enrollments=%ld ok=%ld failed=%ld threads=%ld seconds=%.2f rate=%.1f/s\n", job_count,
           ok, atomic_load(&failures), threads, elapsed, (double)ok / elapsed);
    for (long i = 0; i < job_count; i++) {
        EVP_PKEY_free(jobs[i].key);
        X509_REQ_free(jobs[i].csr);
    }
    free(jobs);
    scep_client_free(client);
    X509_free(ca);
    return atomic_load(&failures) == 0 ? 0 : 1;
}
