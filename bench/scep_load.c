/*
 * Enrollment load against a running scepd in RA mode (shared secret), with every
 * pkiMessage built before the clock starts: during a measured window the client only
 * writes requests and reads replies over kept-alive HTTP/1.1 connections, so the cores
 * it shares with the server go to the server. Requester keys are RSA-2048, so each
 * enrollment costs the server 3 RSA private operations (open the envelope, sign the
 * certificate, sign the CertRep) and 3 public ones (verify the request, the CSR, and
 * encrypt the reply), as the limit bench/run.sh computes assumes.
 *
 * After all windows every reply is parsed, checked against its request (transactionID,
 * nonce), decrypted, and its certificate verified with the CA key; failures and
 * duplicate serials are counted. Then GetCACaps at 16 connections for a short window.
 *
 * usage: scep_load HOST PORT PATH CA_PEM SECRET LIMIT_PER_S LEVELS COUNTS MAX_SECONDS
 *   LEVELS and COUNTS are comma-separated and pair up: "1,4,8" "400,2000,2000".
 *   With BENCH_SERVER_PID set, the server's CPU time per enrollment is reported too: on a
 *   machine shared with other work it moves far less than the throughput does.
 * Bounded: at most 8 levels, 64 connections, 20000 requests a level, MAX_SECONDS (<= 120)
 * a window; every socket read and write times out after 30 s.
 */
#define _GNU_SOURCE
#include "scep/message.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_LEVELS       8
#define MAX_CONNECTIONS  64
#define MAX_PER_LEVEL    20000
#define REQUESTER_KEYS   16
#define WARMUP_PER_CONN  4
#define REPLY_MAX        (256 * 1024)
#define CAPS_SECONDS     3
#define CAPS_CONNECTIONS 16

struct job {
    unsigned char *request;
    size_t request_len;
    char *transaction_id;
    unsigned char sender_nonce[SCEP_NONCE_LEN];
    int key_index;
    unsigned char *reply;
    size_t reply_len;
    int http_status;
    double latency_ms;
    int sent;
};

struct level {
    int connections;
    long count;
    long warmup;
    struct job *jobs; /* warmup first, then count */
    atomic_long next;
    double deadline;
    double seconds;
    double server_cpu;
};

static const char *host;
static int port;
static const char *path;
static EVP_PKEY *keys[REQUESTER_KEYS];
static X509 *signers[REQUESTER_KEYS];
static X509 *ca_cert;
static const char *secret;

/* CPU seconds (user + system) the server process has used so far; 0 when unknown. */
static double server_cpu_seconds(void)
{
    const char *pid = getenv("BENCH_SERVER_PID");
    if (pid == NULL)
        return 0;
    char name[64];
    snprintf(name, sizeof(name), "/proc/%s/stat", pid);
    FILE *f = fopen(name, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name may hold spaces: fields are counted after its closing ')'. */
    const char *p = strrchr(line, ')');
    unsigned long utime = 0, stime = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    struct timeval timeout = {.tv_sec = 30};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, struct iovec *iov, int count)
{
    while (count > 0) {
        ssize_t n = writev(fd, iov, count);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        while (count > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* One request and its reply on a kept-alive connection; the body is malloc'd into *out. */
static int exchange(int fd, const char *method, const char *query, const unsigned char *body,
                    size_t body_len, int *status, unsigned char **out, size_t *out_len)
{
    char head[512];
    int head_len =
        snprintf(head, sizeof(head),
                 "%s %s?operation=%s HTTP/1.1\r\nHost: %s\r\n"
                 "Content-Type: application/x-pki-message\r\nContent-Length: %zu\r\n\r\n",
                 method, path, query, host, body_len);
    struct iovec iov[2] = {{head, (size_t)head_len}, {(void *)body, body_len}};
    if (write_all(fd, iov, body_len > 0 ? 2 : 1) < 0)
        return -1;
    static __thread char buf[REPLY_MAX];
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have >= sizeof(buf) - 1)
            return -1;
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t header_len = (size_t)(end + 4 - buf);
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    const char *length = strcasestr(buf, "\r\nContent-Length:");
    if (length == NULL || length > end)
        return -1;
    size_t content_len = strtoul(length + 17, NULL, 10);
    if (content_len > REPLY_MAX - header_len)
        return -1;
    while (have < header_len + content_len) {
        ssize_t n = read(fd, buf + have, header_len + content_len - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    *out = malloc(content_len ? content_len : 1);
    memcpy(*out, buf + header_len, content_len);
    *out_len = content_len;
    return 0;
}

static void *run_connection(void *arg)
{
    struct level *level = arg;
    int fd = connect_server();
    for (;;) {
        long i = atomic_fetch_add(&level->next, 1);
        if (i >= level->warmup + level->count)
            break;
        struct job *job = &level->jobs[i];
        /* Past the window, the rest are left unsent (not counted as failures). */
        if (i >= level->warmup && now_seconds() > level->deadline)
            break;
        double start = now_seconds();
        job->sent = 1;
        int rc = -1;
        /* One reconnect: the server may close a kept-alive connection between requests. */
        for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
            if (fd < 0)
                fd = connect_server();
            if (fd >= 0)
                rc = exchange(fd, "POST", "PKIOperation", job->request, job->request_len,
                              &job->http_status, &job->reply, &job->reply_len);
            if (rc < 0 && fd >= 0) {
                close(fd);
                fd = -1;
            }
        }
        job->latency_ms = (now_seconds() - start) * 1000.0;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int build_job(struct job *job, long run, long index)
{
    char cn[64], tid[64];
    snprintf(cn, sizeof(cn), "bench-%ld-%ld", run, index);
    snprintf(tid, sizeof(tid), "BENCH%ld-%ld", run, index);
    job->key_index = (int)(index % REQUESTER_KEYS);
    EVP_PKEY *key = keys[job->key_index];
    X509_REQ *csr = X509_REQ_new();
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(csr, key);
    X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                              (const unsigned char *)secret, -1);
    int rc = X509_REQ_sign(csr, key, EVP_sha256()) > 0 ? 0 : -1;
    scep_request request = {
        .type = SCEP_MSG_PKCSREQ,
        .transaction_id = tid,
        .signer_cert = signers[job->key_index],
        .signer_key = key,
        .recipient_cert = ca_cert,
        .digest = SCEP_DIGEST_SHA256,
        .cipher = SCEP_CIPHER_AES128,
        .csr = csr,
    };
    if (rc == 0 && scep_request_build(&job->request, &job->request_len, &job->transaction_id,
                                      job->sender_nonce, &request, NULL) != SCEP_OK)
        rc = -1;
    X509_REQ_free(csr);
    return rc;
}

struct build_range {
    struct job *jobs;
    long from, to, run;
    int failed;
};

static void *build_range(void *arg)
{
    struct build_range *range = arg;
    for (long i = range->from; i < range->to; i++)
        if (build_job(&range->jobs[i], range->run, i) < 0)
            range->failed = 1;
    return NULL;
}

/* Builds jobs[0..count) on two threads: the pre-generation is RSA signing, and slow. */
static int build_jobs(struct job *jobs, long count, long run_base)
{
    struct build_range ranges[2] = {{jobs, 0, count / 2, run_base, 0},
                                    {jobs, count / 2, count, run_base, 0}};
    pthread_t tid;
    pthread_create(&tid, NULL, build_range, &ranges[1]);
    build_range(&ranges[0]);
    pthread_join(tid, NULL);
    return ranges[0].failed || ranges[1].failed ? -1 : 0;
}

struct verdict {
    char (*serials)[80];
    long serial_count;
};

/* Whether one reply is a SUCCESS CertRep for its request with a certificate the CA signed. */
static int check_reply(struct job *job, struct verdict *verdict)
{
    if (!job->sent)
        return -1;
    if (job->reply == NULL || job->http_status != 200)
        return 0;
    int good = 0;
    scep_pkimessage *msg = NULL;
    STACK_OF(X509) *trusted = sk_X509_new_null();
    sk_X509_push(trusted, ca_cert);
    if (scep_pkimessage_parse(&msg, job->reply, job->reply_len, NULL, trusted, NULL) == SCEP_OK &&
        scep_pkimessage_check_reply(msg, job->transaction_id, job->sender_nonce) == SCEP_OK &&
        scep_pkimessage_status(msg) == SCEP_STATUS_SUCCESS &&
        scep_pkimessage_decrypt(msg, &signers[job->key_index], &keys[job->key_index], 1, NULL) ==
            SCEP_OK) {
        STACK_OF(X509) *certs = scep_pkimessage_certs(msg);
        X509 *cert = certs != NULL && sk_X509_num(certs) > 0 ? sk_X509_value(certs, 0) : NULL;
        if (cert != NULL && X509_verify(cert, X509_get0_pubkey(ca_cert)) == 1 &&
            EVP_PKEY_eq(X509_get0_pubkey(cert), keys[job->key_index]) == 1) {
            BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
            char *hex = serial != NULL ? BN_bn2hex(serial) : NULL;
            BN_free(serial);
            if (hex != NULL) {
                snprintf(verdict->serials[verdict->serial_count++], 80, "%s", hex);
                OPENSSL_free(hex);
                good = 1;
            }
        }
    }
    sk_X509_free(trusted);
    scep_pkimessage_free(msg);
    return good;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int compare_serial(const void *a, const void *b)
{
    return strcmp(a, b);
}

static double percentile(const double *sorted, long count, double p)
{
    if (count == 0)
        return 0;
    long index = (long)(p * (double)(count - 1) + 0.5);
    return sorted[index];
}

struct caps_state {
    double deadline;
    atomic_long done;
    atomic_long failed;
};

static void *run_caps(void *arg)
{
    struct caps_state *state = arg;
    int fd = connect_server();
    /* Bounded by the window and, as a backstop, by a count. */
    for (long n = 0; n < 1000000 && now_seconds() < state->deadline; n++) {
        int status = 0;
        unsigned char *body = NULL;
        size_t body_len = 0;
        if (fd < 0 || exchange(fd, "GET", "GetCACaps", NULL, 0, &status, &body, &body_len) < 0 ||
            status != 200) {
            atomic_fetch_add(&state->failed, 1);
            if (fd >= 0)
                close(fd);
            fd = connect_server();
        } else {
            atomic_fetch_add(&state->done, 1);
        }
        free(body);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int parse_list(long *out, int max, const char *text)
{
    int n = 0;
    char *end = NULL;
    while (n < max && *text != '\0') {
        out[n++] = strtol(text, &end, 10);
        if (end == text)
            return -1;
        text = *end == ',' ? end + 1 : end;
    }
    return *text == '\0' ? n : -1;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr,
                "usage: %s HOST PORT PATH CA_PEM SECRET LIMIT_PER_S LEVELS COUNTS MAX_SECONDS\n",
                argv[0]);
        return 2;
    }
    host = argv[1];
    port = (int)strtol(argv[2], NULL, 10);
    path = argv[3];
    secret = argv[5];
    double limit = strtod(argv[6], NULL);
    long connections[MAX_LEVELS], counts[MAX_LEVELS];
    int levels = parse_list(connections, MAX_LEVELS, argv[7]);
    double max_seconds = strtod(argv[9], NULL);
    if (levels < 1 || parse_list(counts, MAX_LEVELS, argv[8]) != levels || max_seconds <= 0 ||
        max_seconds > 120) {
        fprintf(stderr, "LEVELS and COUNTS: up to %d, paired; MAX_SECONDS 1..120\n", MAX_LEVELS);
        return 2;
    }
    for (int l = 0; l < levels; l++)
        if (connections[l] < 1 || connections[l] > MAX_CONNECTIONS || counts[l] < 1 ||
            counts[l] > MAX_PER_LEVEL) {
            fprintf(stderr, "connections 1..%d, count 1..%d\n", MAX_CONNECTIONS, MAX_PER_LEVEL);
            return 2;
        }
    FILE *f = fopen(argv[4], "r");
    ca_cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (ca_cert == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[4]);
        return 1;
    }

    double t0 = now_seconds();
    for (int k = 0; k < REQUESTER_KEYS; k++) {
        keys[k] = EVP_RSA_gen(2048);
        X509_REQ *csr = X509_REQ_new();
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)"bench requester", -1, -1, 0);
        if (keys[k] == NULL ||
            scep_self_signed_signer(&signers[k], keys[k], csr, SCEP_DIGEST_SHA256, 1) != SCEP_OK) {
            fprintf(stderr, "requester key: %s\n", scep_error_message());
            return 1;
        }
        X509_REQ_free(csr);
    }
    struct level level_state[MAX_LEVELS];
    long run = (long)time(NULL);
    long total = 0;
    for (int l = 0; l < levels; l++) {
        struct level *level = &level_state[l];
        memset(level, 0, sizeof(*level));
        level->connections = (int)connections[l];
        level->count = counts[l];
        level->warmup = WARMUP_PER_CONN * connections[l];
        level->jobs = calloc((size_t)(level->warmup + level->count), sizeof(struct job));
        if (build_jobs(level->jobs, level->warmup + level->count, run * 100 + l) < 0) {
            fprintf(stderr, "building requests: %s\n", scep_error_message());
            return 1;
        }
        total += level->warmup + level->count;
    }
    fprintf(stderr, "built %ld requests in %.1f s\n", total, now_seconds() - t0);

    for (int l = 0; l < levels; l++) {
        struct level *level = &level_state[l];
        pthread_t tids[MAX_CONNECTIONS];
        /* The warm-up (each connection's first requests) is outside the window. */
        level->deadline = now_seconds() + 3600;
        long measured_from = level->warmup;
        long saved_count = level->count;
        level->count = 0;
        for (int c = 0; c < level->connections; c++)
            pthread_create(&tids[c], NULL, run_connection, level);
        for (int c = 0; c < level->connections; c++)
            pthread_join(tids[c], NULL);
        level->count = saved_count;
        atomic_store(&level->next, measured_from);
        double start = now_seconds();
        double cpu_start = server_cpu_seconds();
        level->deadline = start + max_seconds;
        for (int c = 0; c < level->connections; c++)
            pthread_create(&tids[c], NULL, run_connection, level);
        for (int c = 0; c < level->connections; c++)
            pthread_join(tids[c], NULL);
        level->seconds = now_seconds() - start;
        level->server_cpu = server_cpu_seconds() - cpu_start;
    }

    /* BENCH_CAPS_SECONDS=0 leaves GetCACaps out (a profile of enrollments alone). */
    const char *caps_env = getenv("BENCH_CAPS_SECONDS");
    double caps_window = caps_env != NULL ? strtod(caps_env, NULL) : CAPS_SECONDS;
    if (caps_window < 0 || caps_window > 60)
        caps_window = CAPS_SECONDS;
    struct caps_state caps = {.deadline = now_seconds() + caps_window};
    pthread_t caps_tids[CAPS_CONNECTIONS];
    double caps_start = now_seconds();
    for (int c = 0; c < CAPS_CONNECTIONS; c++)
        pthread_create(&caps_tids[c], NULL, run_caps, &caps);
    for (int c = 0; c < CAPS_CONNECTIONS; c++)
        pthread_join(caps_tids[c], NULL);
    double caps_seconds = now_seconds() - caps_start + 1e-9;

    /* Every reply of every level, warm-up included, shares one serial list. */
    struct verdict all = {0};
    all.serials = calloc((size_t)total, sizeof(*all.serials));
    struct row {
        long ok, failed;
        double rate, p50, p99;
    } rows[MAX_LEVELS];
    double p50_c1 = 0, p99_c4 = 0;
    int bad = 0;
    for (int l = 0; l < levels; l++) {
        struct level *level = &level_state[l];
        struct row *row = &rows[l];
        struct verdict v = {.serials = all.serials};
        double *latencies = calloc((size_t)level->count, sizeof(double));
        long measured = 0;
        row->ok = row->failed = 0;
        for (long i = 0; i < level->warmup + level->count; i++) {
            struct job *job = &level->jobs[i];
            v.serial_count = all.serial_count;
            int good = check_reply(job, &v);
            all.serial_count = v.serial_count;
            if (good < 0)
                continue;
            if (!good)
                row->failed++;
            if (i >= level->warmup) {
                latencies[measured++] = job->latency_ms;
                row->ok += good;
            }
        }
        qsort(latencies, (size_t)measured, sizeof(double), compare_double);
        row->p50 = percentile(latencies, measured, 0.50);
        row->p99 = percentile(latencies, measured, 0.99);
        row->rate = (double)row->ok / level->seconds;
        if (level->connections == 1)
            p50_c1 = row->p50;
        if (level->connections == 4)
            p99_c4 = row->p99;
        bad |= row->failed > 0;
        free(latencies);
    }
    qsort(all.serials, (size_t)all.serial_count, sizeof(*all.serials), compare_serial);
    long duplicates = 0;
    for (long i = 1; i < all.serial_count; i++)
        duplicates += strcmp(all.serials[i], all.serials[i - 1]) == 0;
    printf("| connections | enrollments | enrollments/s | of limit | p50 ms | p99 ms | failed | "
           "duplicate serials | server CPU ms per enrollment |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    for (int l = 0; l < levels; l++)
        printf("| %d | %ld | %.1f | %.2f | %.2f | %.2f | %ld | %ld | %.2f |\n",
               level_state[l].connections, rows[l].ok, rows[l].rate,
               limit > 0 ? rows[l].rate / limit : 0, rows[l].p50, rows[l].p99, rows[l].failed,
               duplicates,
               rows[l].ok > 0 ? 1000.0 * level_state[l].server_cpu / (double)rows[l].ok : 0);
    if (p50_c1 > 0 && p99_c4 > 0)
        printf("\np99 at 4 connections / p50 at 1: %.2f\n", p99_c4 / p50_c1);
    printf("\nGetCACaps, %d connections: %.0f/s (%ld failed)\n", CAPS_CONNECTIONS,
           (double)atomic_load(&caps.done) / caps_seconds, atomic_load(&caps.failed));
    printf("certificates verified: %ld, duplicate serials: %ld; limit %.1f enrollments/s\n",
           all.serial_count, duplicates, limit);
    return bad || duplicates > 0 ? 1 : 0;
}
