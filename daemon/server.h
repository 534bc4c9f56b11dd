/*
 * server: the daemon's Unix socket. Each connection is a session reading
 * newline-delimited requests (docs/protocol.md) into a buffer capped at
 * PROTO_MAX_LINE, with an idle timer; the peer's uid comes from
 * SO_PEERCRED (and its groups, SO_PEERGROUPS, for the paths of a config
 * it sends). Replies go out through libuv's write queue; a client that
 * does not read is dropped once its queue passes a bound, and watch
 * progress is skipped while the queue is not nearly empty. Requests are
 * handled in turns on an idle handle, a few per user per loop turn, and
 * accepts are capped per turn, so no client can make the daemon's memory
 * grow or keep the loop from the others (docs/daemon.md, Hostile
 * clients).
 */
#ifndef QP_SERVER_H
#define QP_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "jobs.h"
#include "settings.h"

struct srv;

/*
 * Listen on the socket systemd passed (LISTEN_FDS), else bind SET->socket
 * (mode 0660, group socket_group). SET is borrowed like in jobs_new.
 */
int	 srv_new(uv_loop_t *loop, struct jobs *jobs, const struct settings *set,
	    struct srv **out, char *err, size_t errlen);
void	 srv_configure(struct srv *s, const struct settings *set);
/* Stop accepting; sessions go on. */
void	 srv_stop_listening(struct srv *s);
/* Tell watchers the daemon stops, close every session; freed once closed. */
void	 srv_free(struct srv *s);

#endif
