/*
 * One HTTP/1.1 client for comparing servers: the same code, connections and window
 * against scepd and against nginx serving a file of the same bytes (bench/static.sh),
 * and, for the memory bench (bench/rss.sh), many connections held open and idle.
 *
 * usage: http_load get HOST PORT TARGET CONNECTIONS SECONDS
 *          kept-alive GET TARGET on CONNECTIONS connections for SECONDS; prints
 *          "requests/s failed bytes-per-reply"
 *        http_load hold HOST PORT TARGET CONNECTIONS SECONDS
 *          opens CONNECTIONS connections, one GET TARGET on each, keeps them open; prints
 *          "held N" once all are open (N answered), then holds them SECONDS and closes
 * Bounded: at most 256 connections in get mode, 20000 in hold mode, 120 s a window; every
 * socket read and write times out after 30 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GET_MAX_CONNECTIONS  256
#define HOLD_MAX_CONNECTIONS 20000
#define MAX_SECONDS          120
#define REPLY_MAX            (256 * 1024)

static const char *host;
static int port;
static const char *target;
static double deadline;
static atomic_long done;
static atomic_long failed;
static atomic_long last_body_len;

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

/* One GET and its reply on a kept-alive connection: 0 for a 200 with its whole body. */
static int get_once(int fd, char *buf, size_t buf_size)
{
    char head[512];
    int head_len =
        snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host);
    if (head_len <= 0 || (size_t)head_len >= sizeof(head))
        return -1;
    for (int off = 0; off < head_len;) {
        ssize_t n = write(fd, head + off, (size_t)(head_len - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (int)n;
    }
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have >= buf_size - 1)
            return -1;
        ssize_t n = read(fd, buf + have, buf_size - 1 - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t header_len = (size_t)(end + 4 - buf);
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *length = strcasestr(buf, "\r\nContent-Length:");
    if (length == NULL || length > end)
        return -1;
    size_t content_len = strtoul(length + 17, NULL, 10);
    if (content_len > buf_size - header_len)
        return -1;
    while (have < header_len + content_len) {
        ssize_t n = read(fd, buf + have, header_len + content_len - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    atomic_store(&last_body_len, (long)content_len);
    return status == 200 ? 0 : -1;
}

static void *run_get(void *arg)
{
    (void)arg;
    static __thread char buf[REPLY_MAX];
    int fd = connect_server();
    /* Bounded by the window and, as a backstop, by a count. */
    for (long n = 0; n < 10000000 && now_seconds() < deadline; n++) {
        if (fd >= 0 && get_once(fd, buf, sizeof(buf)) == 0) {
            atomic_fetch_add(&done, 1);
            continue;
        }
        atomic_fetch_add(&failed, 1);
        if (fd >= 0)
            close(fd);
        fd = connect_server();
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int hold(long connections, double seconds)
{
    static char buf[REPLY_MAX];
    int *fds = calloc((size_t)connections, sizeof(int));
    if (fds == NULL)
        return 1;
    long answered = 0;
    for (long i = 0; i < connections; i++) {
        fds[i] = connect_server();
        if (fds[i] >= 0 && get_once(fds[i], buf, sizeof(buf)) == 0)
            answered++;
    }
    printf("held %ld\n", answered);
    fflush(stdout);
    struct timespec pause = {.tv_sec = (time_t)seconds,
                             .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&pause, NULL);
    for (long i = 0; i < connections; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return answered == connections ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "hold") != 0)) {
        fprintf(stderr, "usage: %s get|hold HOST PORT TARGET CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    int holding = strcmp(argv[1], "hold") == 0;
    host = argv[2];
    port = (int)strtol(argv[3], NULL, 10);
    target = argv[4];
    long connections = strtol(argv[5], NULL, 10);
    double seconds = strtod(argv[6], NULL);
    long max = holding ? HOLD_MAX_CONNECTIONS : GET_MAX_CONNECTIONS;
    if (connections < 1 || connections > max || !(seconds > 0 && seconds <= MAX_SECONDS)) {
        fprintf(stderr, "connections 1..%ld, seconds up to %d\n", max, MAX_SECONDS);
        return 2;
    }
    if (holding)
        return hold(connections, seconds);

    pthread_t tids[GET_MAX_CONNECTIONS];
    double start = now_seconds();
    deadline = start + seconds;
    for (long c = 0; c < connections; c++)
        pthread_create(&tids[c], NULL, run_get, NULL);
    for (long c = 0; c < connections; c++)
        pthread_join(tids[c], NULL);
    double elapsed = now_seconds() - start;
    printf("%.0f %ld %ld\n", (double)atomic_load(&done) / elapsed, atomic_load(&failed),
           atomic_load(&last_body_len));
    return 0;
}
