/*
 * sock: the daemon's Unix socket below the server. The listening socket
 * is the one systemd passed (LISTEN_FDS), else a socket file bound here:
 * a stale file left by a crash is removed, one another daemon answers on
 * or that is no socket is refused, and the socket is born mode 0660 (no
 * window in which others may connect) in socket_group. A connected
 * peer's credentials come from SO_PEERCRED and SO_PEERGROUPS.
 */
#ifndef QP_SOCK_H
#define QP_SOCK_H

#include <stddef.h>

#include <uv.h>

#include "admit.h"

/*
 * Open the pipe P on systemd's socket, else bind it to PATH, its group
 * GROUP (NULL: the daemon's); *MADE is set once the file exists (the
 * caller removes it at the end). 0, or a negative errno with ERR saying
 * why.
 */
int	 sock_listen(uv_pipe_t *p, const char *path, const char *group,
	    int *made, char *err, size_t errlen);

struct sock_peer {
	long		 uid, gid, pid;	/* uid -1: unknown, refuse it */
	struct admit_who	 who;		/* uid and groups, for a client's paths */
};

/* The peer of the connected pipe P; half known is unknown (uid -1). */
void	 sock_peer(uv_pipe_t *p, struct sock_peer *out);

#endif
