/*
 * sd_notify(3)'s protocol by hand: scepd needs nothing else of libsystemd.
 */
#include "scepd/front/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int scepd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract: the name is not NUL-terminated */
    socklen_t addr_len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t state_len = strlen(state);
    ssize_t sent =
        sendto(fd, state, state_len, MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
    int saved = errno;
    close(fd);
    if (sent < 0 || (size_t)sent != state_len) {
        errno = sent < 0 ? saved : EMSGSIZE;
        return -1;
    }
    return 0;
}
