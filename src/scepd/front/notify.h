/*
 * The service manager's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace). scepd sends READY=1 once it serves, RELOADING=1 and READY=1
 * around a SIGHUP reload, STOPPING=1 when it stops (systemd's Type=notify).
 */
#ifndef SCEPD_NOTIFY_H
#define SCEPD_NOTIFY_H

/*
 * Sends `state` ("READY=1", ...). 0 when sent or when $NOTIFY_SOCKET is unset (not under
 * a service manager); -1 with errno on failure (scepd logs it and carries on).
 */
int scepd_notify(const char *state);

#endif
