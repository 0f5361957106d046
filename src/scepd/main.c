/*
 * scepd: the SCEP server. `scepd --config FILE`.
 */
#include "scepd/log.h"
#include "scepd/front/handle.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: scepd --config FILE [--check]\n"
            "\n"
            "Serves SCEP (RFC 8894) for the CAs and aliases of FILE.\n"
            "  -c, --config FILE   configuration file (see docs/configuration.md)\n"
            "      --check         load the configuration, CAs and aliases, then exit\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop after in-flight requests; SIGHUP reloads aliases.\n");
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int check_only = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check_only = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Signals are taken synchronously by this thread; workers never see them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct scepd_server server;
    if (scepd_server_init(&server, config_path) < 0) {
        scepd_log(SCEPD_LOG_ERROR, "event=start_failed detail=\"%s\"", scep_error_message());
        fprintf(stderr, "scepd: %s\n", scep_error_message());
        scepd_server_free(&server);
        return 1;
    }
    if (check_only) {
        printf("scepd: configuration, %zu CA(s) and %zu alias(es) are valid\n", server.ca_count,
               atomic_load(&server.generation)->alias_count);
        scepd_server_free(&server);
        return 0;
    }
    if (scepd_server_start(&server) < 0) {
        fprintf(stderr, "scepd: %s\n", scep_error_message());
        scepd_server_stop(&server);
        scepd_server_free(&server);
        return 1;
    }
    const struct scep_config_global *global =
        scep_config_global_values(atomic_load(&server.generation)->config);
    if (global->pid_file != NULL && write_pid_file(global->pid_file) != 0)
        scepd_log(SCEPD_LOG_WARN, "event=pid_file_failed path=%s error=\"%s\"", global->pid_file,
                  strerror(errno));
    scepd_log(SCEPD_LOG_INFO, "event=started version=%s cas=%zu aliases=%zu", scep_version(),
              server.ca_count, atomic_load(&server.generation)->alias_count);

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (scepd_server_reload(&server) < 0)
                scepd_log(SCEPD_LOG_ERROR, "event=reload_failed detail=\"%s\"",
                          scep_error_message());
            continue;
        }
        scepd_log(SCEPD_LOG_INFO, "event=stopping signal=%d", sig);
        break;
    }
    scepd_server_stop(&server);
    scepd_server_free(&server);
    scepd_log(SCEPD_LOG_INFO, "event=stopped");
    return 0;
}
