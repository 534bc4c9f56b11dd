/*
 * server: the daemon's Unix socket, the transport below the protocol's
 * operations (ops.h). Each connection is a session reading
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
 *
 * The server parses each request and hands it to one handler (the
 * daemon's is ops_handle); it knows nothing of jobs, caches or sites. The
 * handler answers through the sess_ functions below.
 */
#ifndef QP_SERVER_H
#define QP_SERVER_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "admit.h"
#include "protocol.h"
#include "settings.h"

struct srv;
struct sess;

/*
 * Request ID of session S, operation OP, parsed (REQ is borrowed for the
 * call). Called once per request, one request at a time, in the order a
 * session sent them; it answers now (sess_send) or promises
 * the answer (sess_wait).
 */
typedef void (*srv_handler)(void *arg, struct sess *s, long id,
	    enum proto_op op, const cJSON *req);

/*
 * Listen on the socket systemd passed (LISTEN_FDS), else bind SET->socket
 * (mode 0660, group socket_group). SET is borrowed like in jobs_new.
 * HANDLE(ARG, ...) gets every request.
 */
int	 srv_open(uv_loop_t *loop, const struct settings *set,
	    srv_handler handle, void *arg, struct srv **out, char *err,
	    size_t errlen);
void	 srv_configure(struct srv *v, const struct settings *set);
/* Stop accepting; sessions go on. */
void	 srv_stop_listening(struct srv *v);
/* Tell watchers the daemon stops, close every session; freed once closed. */
void	 srv_free(struct srv *v);

/* ---- a session, for the handler ---- */

uv_loop_t *sess_loop(const struct sess *s);
/* The server's settings in force (srv_configure replaces them). */
const struct settings *sess_settings(const struct sess *s);

/* What `stats` reports of the server's connections. */
struct srv_counts {
	unsigned	 live;		/* open and not refused or closing */
	unsigned long	 accepted, rejected;
};
void	 sess_counts(const struct sess *s, struct srv_counts *c);

/*
 * The peer's uid (never negative: a peer without one is refused) and
 * groups, for the paths of a config it sends.
 */
const struct admit_who *sess_who(const struct sess *s);

/*
 * Send MSG (taken). Nothing goes to a session already closing; a client
 * that lets its queue grow past a bound is dropped (the session closes).
 */
void	 sess_send(struct sess *s, cJSON *msg);
/* The client is behind with its reading: skip what a later send repeats. */
int	 sess_behind(const struct sess *s);

/*
 * From the handler of request ID: its answer comes later (the job store
 * commits, the cache works on the thread pool). S reads nothing more and
 * handles no further request until sess_answer, so replies keep the order
 * of requests; a session closed meanwhile stays allocated until then.
 */
void	 sess_wait(struct sess *s, long id);
/* The request the answer is due for. */
long	 sess_wait_id(const struct sess *s);
/*
 * The answer sess_wait promised, once, on the loop: MSG (taken) goes out
 * unless the client is gone (S may then be freed), and S goes on with its
 * next request.
 */
void	 sess_answer(struct sess *s, cJSON *msg);

/*
 * A watch holds S: its idle timer stops, and once its peer has shut its
 * side S stays open until the watch ends. WATCH is the caller's; UNWATCH
 * runs once if S ends or closes first (at once if S is already closing),
 * DAEMON_STOPS set when srv_free ends it, which the caller may still tell
 * the client; it must let go of what it watches. One watch per session.
 */
typedef void (*sess_unwatch_cb)(struct sess *s, void *watch,
	    int daemon_stops);
void	 sess_watch(struct sess *s, void *watch, sess_unwatch_cb unwatch);
/* The watch holding S, or NULL. */
void	*sess_watching(const struct sess *s);
/*
 * The watch ended (UNWATCH will not run): send LAST (taken), its final
 * event; S idles again, or ends if its peer has shut its side.
 */
void	 sess_watch_end(struct sess *s, cJSON *last);

#endif
