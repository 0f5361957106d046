/*
 * scepd_notify: the sd_notify datagram to $NOTIFY_SOCKET, path and abstract sockets,
 * and nothing at all without $NOTIFY_SOCKET.
 */
#include "test_support.h"

#include "scepd/front/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound to `name` (a path, or "@name": abstract). */
static int listen_on(const char *name)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(name);
    assert_true(len < sizeof(addr.sun_path));
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    socklen_t addr_len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '@' ? 0 : 1));
    assert_int_equal(bind(fd, (const struct sockaddr *)&addr, addr_len), 0);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void path_socket_gets_each_state(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/scepd-notify-%ld.sock", (long)getpid());
    unlink(path);
    int fd = listen_on(path);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(scepd_notify("READY=1"), 0);
    assert_int_equal(scepd_notify("STOPPING=1"), 0);
    expect_datagram(fd, "READY=1");
    expect_datagram(fd, "STOPPING=1");
    close(fd);
    unlink(path);
    /* Nobody listening any more: an error, with errno. */
    assert_int_equal(scepd_notify("READY=1"), -1);
    assert_int_not_equal(errno, 0);
    unsetenv("NOTIFY_SOCKET");
}

static void abstract_socket_gets_the_state(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@scepd-notify-test-%ld", (long)getpid());
    int fd = listen_on(name);
    assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
    assert_int_equal(scepd_notify("RELOADING=1"), 0);
    expect_datagram(fd, "RELOADING=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void without_notify_socket_nothing_happens(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(scepd_notify("READY=1"), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
    assert_int_equal(scepd_notify("READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_socket_gets_each_state),
        cmocka_unit_test(abstract_socket_gets_the_state),
        cmocka_unit_test(without_notify_socket_nothing_happens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
