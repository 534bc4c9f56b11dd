/*
 * sd: the two systemd protocols the daemon needs, spoken directly so
 * libsystemd is not required: readiness notification (sd_notify(3):
 * datagrams to $NOTIFY_SOCKET, '@' for the abstract namespace) and socket
 * activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, fds from 3).
 */
#ifndef QP_SD_H
#define QP_SD_H

#define SD_LISTEN_FDS_START 3

/*
 * Send STATE ("READY=1\nSTATUS=...") to the service manager. Returns 1
 * when sent, 0 without NOTIFY_SOCKET, or a negative errno.
 */
int	 sd_notify_state(const char *state);
/*
 * Number of sockets passed by the manager (0 when none or not for us).
 * Unsets LISTEN_* so children do not inherit them; marks fds close-on-exec.
 */
int	 sd_listen_count(void);

#endif
