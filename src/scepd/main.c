/*
 * scepd: the SCEP server. `scepd --config FILE`.
 */
#include "scepd/log.h"
#include "scepd/front/handle.h"
#include "scepd/front/notify.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: scepd --config FILE [--check]\n"
                 "\n"
                 "Serves SCEP (RFC 8894) for the CAs and aliases of FILE.\n"
                 "  -c, --config FILE   configuration file (see scepd.conf(5))\n"
                 "      --check         load the configuration, CAs and aliases, then exit\n"
                 "  -h, --help          this text\n"
                 "      --version       print scepd's version\n"
                 "\n"
                 "Signals: SIGTERM/SIGINT stop after in-flight requests; SIGHUP reloads aliases.\n"
                 "Started as root, scepd binds its listeners and then runs as `user` (required).\n"
                 "See scepd(8).\n");
}

__attribute__((format(printf, 1, 2))) static int start_error(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    scepd_log(SCEPD_LOG_ERROR, "event=start_failed detail=\"%s\"", text);
    fprintf(stderr, "scepd: %s\n", text);
    return -1;
}

/*
 * A configuration file holding a secret (ra.authPwd, admin_token, admin_password,
 * webhook.secret, ...) must not be readable by others: scepd refuses to start.
 */
static int check_config_file(const char *path, const scep_config *config)
{
    const char *secret = scep_config_secret_setting(config);
    struct stat st;
    if (secret == NULL)
        return 0;
    if (stat(path, &st) != 0)
        return start_error("%s: %s", path, strerror(errno));
    if ((st.st_mode & S_IROTH) != 0)
        return start_error("%s sets %s but is readable by others (mode %04o): chmod o-r %s "
                           "(0640 with the group of `user`, or 0600; docs/operations.md)",
                           path, secret, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

/*
 * Root without `user` is refused; a `user` other than the one already running (and no
 * root to change to it) too.
 */
static int check_user(const char *path, const char *user, struct passwd *out, char *name,
                      size_t name_size)
{
    if (user == NULL || user[0] == '\0') {
        if (geteuid() == 0)
            return start_error("refusing to run as root: set `user = NAME` in %s, the account "
                               "scepd runs as once its listeners are bound (docs/operations.md)",
                               path);
        return 0;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return start_error("user = %s: %s", user, errno != 0 ? strerror(errno) : "no such user");
    if (pw->pw_uid == 0)
        return start_error("user = %s: that is root; scepd runs as an unprivileged account", user);
    if (geteuid() != 0 && geteuid() != pw->pw_uid)
        return start_error("user = %s (uid %lu), but scepd runs as uid %lu and cannot switch", user,
                           (unsigned long)pw->pw_uid, (unsigned long)geteuid());
    *out = *pw;
    /* getpwnam's buffer may be reused before the drop. */
    snprintf(name, name_size, "%s", pw->pw_name);
    out->pw_name = name;
    return 1;
}

/* Becomes `pw` for good: supplementary groups, group, user; then checks there is no way back. */
static int drop_privileges(const struct passwd *pw)
{
    if (initgroups(pw->pw_name, pw->pw_gid) != 0)
        return start_error("user = %s: initgroups: %s", pw->pw_name, strerror(errno));
    if (setgid(pw->pw_gid) != 0)
        return start_error("user = %s: setgid(%lu): %s", pw->pw_name, (unsigned long)pw->pw_gid,
                           strerror(errno));
    if (setuid(pw->pw_uid) != 0)
        return start_error("user = %s: setuid(%lu): %s", pw->pw_name, (unsigned long)pw->pw_uid,
                           strerror(errno));
    if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid ||
        getegid() != pw->pw_gid)
        return start_error("user = %s: the user and group did not change", pw->pw_name);
    if (setuid(0) == 0 || seteuid(0) == 0)
        return start_error("user = %s: root privileges could be regained", pw->pw_name);
    scepd_log(SCEPD_LOG_INFO, "event=privileges_dropped user=%s uid=%lu gid=%lu", pw->pw_name,
              (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid);
    return 0;
}

/*
 * Before anything is read as the service account: the configuration's own checks, the
 * listeners bound (privileged ports need root), then the drop. The CA keys, the database
 * and the configuration are then read as `user`, as every reload will.
 */
static int prepare(const char *path, int check_only, struct scepd_http **http,
                   struct scepd_http **admin_http)
{
    scep_config *config = NULL;
    struct passwd pw;
    char name[256];
    int rc = -1;
    memset(&pw, 0, sizeof(pw));
    if (scep_config_load(&config, path) < 0) {
        start_error("%s", scep_error_message());
        goto done;
    }
    if (check_config_file(path, config) < 0)
        goto done;
    /* Token settings take effect at start only: the module stays loaded for the process. */
    if (scep_pkcs11_configure(scep_config_global_values(config)->pkcs11_module,
                              scep_config_global_values(config)->pkcs11_pin_file) < 0) {
        start_error("%s", scep_error_message());
        goto done;
    }
    int change = check_user(path, scep_config_global_values(config)->user, &pw, name, sizeof(name));
    if (change < 0)
        goto done;
    if (!check_only && scepd_server_bind(http, admin_http, config) < 0) {
        start_error("%s", scep_error_message());
        goto done;
    }
    if (change && geteuid() == 0 && drop_privileges(&pw) < 0)
        goto done;
    rc = 0;
done:
    scep_config_free(config);
    return rc;
}

/* systemd Type=notify: `state` to $NOTIFY_SOCKET when set; a failure is only logged. */
static void notify(const char *state)
{
    if (scepd_notify(state) < 0)
        scepd_log(SCEPD_LOG_WARN, "event=notify_failed state=%s error=\"%s\"", state,
                  strerror(errno));
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
        {"version", no_argument, NULL, 'V'},
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
        case 'V':
            printf("scepd %s\n", scep_version());
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
    /* The database, CRLs and anything else scepd writes are nobody else's business. */
    umask(077);

    /* Signals are taken synchronously by this thread; workers never see them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct scepd_http *http = NULL, *admin_http = NULL;
    if (prepare(config_path, check_only, &http, &admin_http) < 0) {
        scepd_http_stop(admin_http, 0);
        scepd_http_stop(http, 0);
        return 1;
    }
    struct scepd_server server;
    if (scepd_server_init(&server, config_path) < 0) {
        start_error("%s", scep_error_message());
        scepd_server_free(&server);
        scepd_http_stop(admin_http, 0);
        scepd_http_stop(http, 0);
        return 1;
    }
    server.http = http;
    server.admin_http = admin_http;
    if (check_only) {
        printf("scepd: configuration, %zu CA(s) and %zu alias(es) are valid\n",
               server.generation->ca_count, server.generation->alias_count);
        scepd_server_free(&server);
        return 0;
    }
    if (scepd_server_start(&server) < 0) {
        fprintf(stderr, "scepd: %s\n", scep_error_message());
        scepd_server_stop(&server);
        scepd_server_free(&server);
        return 1;
    }
    const struct scepd_generation *generation = scepd_generation_acquire(&server);
    const struct scep_config_global *global = scep_config_global_values(generation->config);
    if (global->pid_file != NULL && write_pid_file(global->pid_file) != 0)
        scepd_log(SCEPD_LOG_WARN, "event=pid_file_failed path=%s error=\"%s\"", global->pid_file,
                  strerror(errno));
    scepd_log(SCEPD_LOG_INFO, "event=started version=%s cas=%zu aliases=%zu revision=%lld",
              scep_version(), generation->ca_count, generation->alias_count,
              (long long)generation->revision);
    scepd_generation_release(generation);
    notify("READY=1");

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            notify("RELOADING=1");
            if (scepd_server_reload(&server, "signal") < 0)
                scepd_log(SCEPD_LOG_ERROR, "event=reload_failed reason=signal detail=\"%s\"",
                          scep_error_message());
            notify("READY=1");
            continue;
        }
        scepd_log(SCEPD_LOG_INFO, "event=stopping signal=%d", sig);
        notify("STOPPING=1");
        break;
    }
    scepd_server_stop(&server);
    scepd_server_free(&server);
    scepd_log(SCEPD_LOG_INFO, "event=stopped");
    return 0;
}
