/*
 * server: see server.h. A session's life is one state (enum sess_state),
 * changed only in sess_enter, which checks the move and keeps what goes
 * with the state: reading while READING, in the backlog while QUEUED,
 * counted against the limits while live.
 */
#include <sys/queue.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "server.h"
#include "sock.h"
#include "base/xmalloc.h"

#define READ_CHUNK	(64 * 1024)
#define BUF_MAX		(PROTO_MAX_LINE + READ_CHUNK + 1)	/* a request and a read */
#define WQ_MAX		(1024 * 1024)	/* a reader this far behind is dropped */
#define WQ_PROGRESS	(64 * 1024)	/* skip progress past this */
#define LINGER_MS	2000		/* time to flush a last reply */
#define TURN_MAX	4		/* requests per user per loop turn */
#define LISTEN_BACKLOG	1024		/* a burst of connects waits here */
#define ACCEPT_TURN	32		/* connections accepted per loop turn */

/*
 * What a session does now. Live states (READING to HELD) count against
 * the connection limits; ENDING and CLOSING are its way out.
 */
enum sess_state {
	SESS_NEW,	/* accepted, its peer not yet admitted */
	SESS_READING,	/* reading requests, the idle timer running */
	SESS_QUEUED,	/* whole requests wait in srv->backlog for a turn */
	SESS_HANDLING,	/* its turn: the handler runs on its requests */
	SESS_WAITING,	/* an answer is due (sess_wait): nothing is read */
	SESS_HELD,	/* peer gone, all answered; a watch holds it */
	SESS_ENDING,	/* no more reading; flushing its replies (LINGER_MS) */
	SESS_CLOSING,	/* its handles close; freed once closed, none due */
	SESS_NSTATES
};

static const char *const state_names[SESS_NSTATES] = { "new", "reading",
	"queued", "handling", "waiting", "held", "ending", "closing" };

#define B(st)	(1u << (st))
#define LIVE	(B(SESS_READING) | B(SESS_QUEUED) | B(SESS_HANDLING) | \
		    B(SESS_WAITING) | B(SESS_HELD))
#define OUT	(B(SESS_ENDING) | B(SESS_CLOSING))
#define ENDED(s)	((s)->state >= SESS_ENDING)	/* on its way out */

/* The moves sess_enter allows, by the state left. */
static const unsigned legal[SESS_NSTATES] = {
	[SESS_NEW] = B(SESS_READING) | OUT,
	[SESS_READING] = B(SESS_QUEUED) | B(SESS_HELD) | OUT,
	[SESS_QUEUED] = B(SESS_HANDLING) | OUT,
	[SESS_HANDLING] = B(SESS_READING) | B(SESS_QUEUED) | B(SESS_WAITING) |
	    B(SESS_HELD) | OUT,
	[SESS_WAITING] = B(SESS_READING) | B(SESS_QUEUED) | B(SESS_HELD) | OUT,
	[SESS_HELD] = OUT,
	[SESS_ENDING] = B(SESS_CLOSING),
	[SESS_CLOSING] = 0,
};

/*
 * Beside the state, facts that hold across several states: EOF (the peer
 * shut its side) is learnt while reading and kept while the requests
 * already read are answered; DUE (an answer promised) outlives the
 * session's end, for the callback that brings it holds the session; a
 * watch is kept while the session reads, waits or is held.
 */
struct sess {
	LIST_ENTRY(sess) entry;
	TAILQ_ENTRY(sess) turn;		/* in srv->backlog while QUEUED */
	struct srv	*srv;
	enum sess_state	 state;		/* changed in sess_enter only */
	uv_pipe_t	 pipe;
	uv_timer_t	 timer;
	uv_shutdown_t	 shut;
	char		*buf;
	size_t		 len, cap;
	size_t		 scanned;	/* buf[0, scanned) holds no newline */
	struct sock_peer peer;		/* its uid, pid and groups */
	void		*watch;		/* the watch holding it, or NULL */
	sess_unwatch_cb	 unwatch;
	int		 eof;		/* the peer shut its side */
	int		 due;		/* an answer is promised (sess_wait) */
	long		 due_id;	/* its request id */
	int		 open;		/* handles not yet closed */
	int		 shutting;	/* uv_shutdown not called back yet */
	unsigned	 writes;	/* uv_writes not yet called back */
};

struct srv {
	uv_loop_t	*loop;
	const struct settings *set;
	srv_handler	 handle;
	void		*handle_arg;
	struct sess	*handling;	/* whose request the handler has now */
	uv_pipe_t	 listener;
	int		 listening;
	int		 listener_closed;
	int		 bound;		/* we created the socket file */
	char		*path;
	LIST_HEAD(, sess) sessions;
	unsigned	 nsessions;	/* allocated, closing ones too */
	unsigned	 nlive;		/* sessions in a live state: the limits' count */
	TAILQ_HEAD(sessq, sess) backlog;	/* round robin, TURN_MAX each */
	uv_idle_t	 turn;
	unsigned	 accepts_turn;	/* since the last turn */
	int		 accept_deferred;	/* one waits in libuv for a turn */
	int		 freeing;
	unsigned long	 accepted, rejected;
};

struct wreq {
	uv_write_t	 req;
	struct sess	*s;
	char		*data;
};

/* Reading and turns restart from a state change, which they make. */
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void on_turn(uv_idle_t *h);

/* ---- the session's state ---- */

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct sess *s = h->data;
	size_t want = s->len + READ_CHUNK;

	(void)hint;
	assert(s->state == SESS_READING);	/* reads only while reading */
	if (want > s->cap) {
		/* Doubling: a 1 MiB line costs a few copies, not sixteen;
		 * never past what the longest request needs. */
		if (want < 2 * s->cap)
			want = 2 * s->cap;
		if (want > BUF_MAX)
			want = s->len + READ_CHUNK > BUF_MAX ? s->len +
			    READ_CHUNK : BUF_MAX;
		s->buf = xrealloc(s->buf, want);
		s->cap = want;
	}
	*b = uv_buf_init(s->buf + s->len, READ_CHUNK);
}

/*
 * The one place a session's state changes: the move must be legal, and
 * what goes with a state follows it (reading, the backlog, the count of
 * live sessions).
 */
static void
sess_enter(struct sess *s, enum sess_state to)
{
	struct srv *v = s->srv;
	enum sess_state from = s->state;

	assert(legal[from] & B(to));	/* a move the table allows */
	log_debug("client.state", "pid=%ld from=%s to=%s", s->peer.pid,
	    state_names[from], state_names[to]);
	if (from == SESS_READING)
		uv_read_stop((uv_stream_t *)&s->pipe);
	if (from == SESS_QUEUED)
		TAILQ_REMOVE(&v->backlog, s, turn);
	if ((LIVE & B(from)) && !(LIVE & B(to))) {
		assert(v->nlive > 0);	/* counted when it became live */
		v->nlive--;
	} else if (!(LIVE & B(from)) && (LIVE & B(to)))
		v->nlive++;
	s->state = to;
	if (to == SESS_READING)
		uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
	if (to == SESS_QUEUED) {
		TAILQ_INSERT_TAIL(&v->backlog, s, turn);
		uv_idle_start(&v->turn, on_turn);
	}
}

/* ---- the server's end ---- */

static void
on_turn_closed(uv_handle_t *h)
{
	struct srv *v = h->data;

	free(v->path);
	free(v);
}

/* Once it is freed, no longer listens and has no session: the turn goes. */
static void
maybe_free_srv(struct srv *v)
{
	if (!v->freeing || !v->listener_closed || v->nsessions > 0)
		return;
	assert(TAILQ_EMPTY(&v->backlog));	/* no session, none queued */
	assert(v->nlive == 0);	/* every session left the live states */
	if (!uv_is_closing((uv_handle_t *)&v->turn))
		uv_close((uv_handle_t *)&v->turn, on_turn_closed);
}

/* ---- closing ---- */

/* The watch lets go of S (if one holds it): its unwatch runs once. */
static void
sess_unhold(struct sess *s, int daemon_stops)
{
	sess_unwatch_cb cb = s->unwatch;
	void *w = s->watch;

	if (w == NULL)
		return;
	s->watch = NULL;
	s->unwatch = NULL;
	cb(s, w, daemon_stops);
}

/* Once its handles are closed and no answer is due. */
static void
sess_free(struct sess *s)
{
	struct srv *v = s->srv;

	if (s->open > 0 || s->due)
		return;
	assert(s->state == SESS_CLOSING);	/* only a closed session goes */
	assert(s->writes == 0);	/* libuv cancels writes before the close */
	assert(!s->shutting);	/* and calls the shutdown back */
	assert(s->watch == NULL);	/* closing let go of the watch */
	assert(v->handling != s);	/* not under its own handler */
	LIST_REMOVE(s, entry);
	assert(v->nsessions > 0);
	v->nsessions--;
	free(s->buf);
	free(s);
	maybe_free_srv(v);
}

static void
on_sess_closed(uv_handle_t *h)
{
	struct sess *s = h->data;

	assert(s->open > 0);	/* two handles, each closes once */
	s->open--;
	sess_free(s);
}

static void
sess_close(struct sess *s)
{
	if (s->state == SESS_CLOSING)
		return;
	sess_enter(s, SESS_CLOSING);
	sess_unhold(s, 0);
	/* CLOSING is the handles' closing: no other path closes them. */
	assert(!uv_is_closing((uv_handle_t *)&s->pipe));
	assert(!uv_is_closing((uv_handle_t *)&s->timer));
	uv_close((uv_handle_t *)&s->pipe, on_sess_closed);
	uv_close((uv_handle_t *)&s->timer, on_sess_closed);
}

/* ---- writing ---- */

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	(void)status;
	assert(w->s->writes > 0);	/* each write calls back once */
	w->s->writes--;
	free(w->data);
	free(w);
}

static size_t
queued(const struct sess *s)
{
	return uv_stream_get_write_queue_size((const uv_stream_t *)&s->pipe);
}

void
sess_send(struct sess *s, cJSON *msg)
{
	struct wreq *w;
	uv_buf_t b;
	size_t len;
	char *line;

	line = proto_encode(msg, &len);
	cJSON_Delete(msg);
	if (s->state == SESS_CLOSING) {
		free(line);	/* no reply is queued on a closed session */
		return;
	}
	if (queued(s) + len > WQ_MAX) {
		log_warn("client.dropped", "pid=%ld uid=%ld msg=%s",
		    s->peer.pid, s->peer.uid, "the client does not read its "
		    "replies");
		free(line);
		sess_close(s);
		return;
	}
	w = xmalloc(sizeof(*w));
	w->s = s;
	w->data = line;
	b = uv_buf_init(line, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, on_write) < 0) {
		free(line);
		free(w);
		return;
	}
	s->writes++;
}

int
sess_behind(const struct sess *s)
{
	return queued(s) > WQ_PROGRESS;
}

/* ---- ending ---- */

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	struct sess *s = req->data;

	(void)status;
	assert(s->shutting);	/* one shutdown, one call back */
	s->shutting = 0;
	sess_close(s);
}

static void
on_linger(uv_timer_t *t)
{
	sess_close(t->data);
}

/* Stop reading, flush what is queued, close (or give up after LINGER_MS). */
static void
sess_end(struct sess *s)
{
	if (ENDED(s))
		return;
	sess_enter(s, SESS_ENDING);
	sess_unhold(s, 0);
	uv_timer_start(&s->timer, on_linger, LINGER_MS, 0);
	s->shut.data = s;
	if (uv_shutdown(&s->shut, (uv_stream_t *)&s->pipe, on_shutdown) < 0)
		sess_close(s);
	else
		s->shutting = 1;
}

/* A protocol violation: say what, then hang up. */
static void
sess_reject(struct sess *s, long id, enum proto_err code, const char *msg)
{
	log_debug("client.rejected", "pid=%ld code=%s error=%s", s->peer.pid,
	    proto_err_name(code), msg);
	sess_send(s, proto_error(id, code, msg));
	sess_end(s);
}

/* ---- idle time-out ---- */

static void
on_idle(uv_timer_t *t)
{
	struct sess *s = t->data;

	assert(s->state != SESS_CLOSING);	/* a closed timer is still */
	sess_reject(s, 0, PROTO_E_TIMEOUT, s->len ? "the request was not "
	    "finished in time (no newline)" : "idle for too long");
}

static void
arm_idle(struct sess *s)
{
	if (ENDED(s))
		return;
	if (s->watch || s->state == SESS_WAITING)
		uv_timer_stop(&s->timer);	/* silent for a reason */
	else
		uv_timer_start(&s->timer, on_idle,
		    s->srv->set->idle_timeout_ms, 0);
}

/* ---- reading ---- */

/* A whole request waits in the buffer. */
static int
has_line(struct sess *s)
{
	char *nl;

	if (s->scanned >= s->len)
		return 0;
	nl = memchr(s->buf + s->scanned, '\n', s->len - s->scanned);
	if (nl == NULL)
		s->scanned = s->len;
	return nl != NULL;
}

/* A partial request only: bounded, and an idle session's buffer goes back. */
static void
check_tail(struct sess *s)
{
	if (s->len > PROTO_MAX_LINE) {
		sess_reject(s, 0, PROTO_E_TOO_LARGE, "a request is at most "
		    "1 MiB on one line");
		return;
	}
	if (s->len == 0 && s->cap > READ_CHUNK) {
		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
}

/*
 * After a request is answered and the buffer drained: read the next
 * (whole requests left wait for the next turn), or, once the peer has
 * shut its side, end when nothing more is due.
 */
static void
read_on(struct sess *s)
{
	if (ENDED(s) || s->due)
		return;
	if (has_line(s)) {
		sess_enter(s, SESS_QUEUED);
		return;
	}
	check_tail(s);
	if (ENDED(s))
		return;
	if (s->eof) {
		if (s->watch == NULL)
			sess_end(s);
		else
			sess_enter(s, SESS_HELD);
		return;
	}
	sess_enter(s, SESS_READING);
	arm_idle(s);
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct sess *s = st->data;

	(void)b;
	assert(s->state == SESS_READING);	/* stopped with the state */
	if (n == UV_EOF) {
		/*
		 * The peer shut its side (or closed): what it asked is still
		 * answered, then the session ends; a half-sent request is
		 * dropped.
		 */
		s->eof = 1;
		read_on(s);
		assert(s->state != SESS_READING);	/* nothing more to read */
		return;
	}
	if (n < 0) {
		sess_close(s);
		return;
	}
	if (n == 0)
		return;
	s->len += (size_t)n;
	assert(s->len <= s->cap);	/* on_alloc's buffer held it */
	/*
	 * Only a whole request restarts the idle timer (on its turn): a
	 * client sending a byte now and then (slowloris) is cut off like an
	 * idle one.
	 */
	if (has_line(s))
		sess_enter(s, SESS_QUEUED);
	else
		check_tail(s);
}

/* ---- handling ---- */

static void
handle_line(struct sess *s, const char *line, size_t len)
{
	struct srv *v = s->srv;
	enum proto_err code;
	enum proto_op op;
	char err[256];
	cJSON *req;
	long id;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (proto_parse_request(line, len, &req, &op, &id, &code, err,
	    sizeof(err)) < 0) {
		sess_reject(s, id, code, err);
		return;
	}
	assert(v->handling == NULL);	/* one at a time, never nested */
	v->handling = s;
	v->handle(v->handle_arg, s, id, op, req);
	v->handling = NULL;
	cJSON_Delete(req);
}

/*
 * Handle up to MAX whole lines in the buffer; keep the rest. Returns how
 * many requests were handled.
 */
static unsigned
drain(struct sess *s, unsigned max)
{
	size_t off = 0, from = s->scanned;
	unsigned n = 0;
	char *nl;

	assert(max > 0 && max <= TURN_MAX);	/* a share, never spent */
	while (s->state == SESS_HANDLING && n < max && s->len > from &&
	    (nl = memchr(s->buf + from, '\n', s->len - from)) != NULL) {
		handle_line(s, s->buf + off, (size_t)(nl - (s->buf + off)));
		off = from = (size_t)(nl - s->buf) + 1;
		n++;
	}
	if (ENDED(s))
		return n;
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
	/* Stopped for want of a newline: the tail holds none (a request
	 * arriving in pieces is searched once, not on every read). */
	s->scanned = s->state != SESS_WAITING && n < max ? s->len : 0;
	return n;
}

/* Requests handled for one user in this turn. */
struct turn_use {
	long		 uid;
	unsigned	 n;
};

#define TURN_USERS	64

static unsigned *
turn_count(struct turn_use *u, size_t *nu, long uid, unsigned *spare)
{
	size_t i;

	for (i = 0; i < *nu; i++)
		if (u[i].uid == uid)
			return &u[i].n;
	if (*nu == TURN_USERS) {
		*spare = 0;	/* more users than tracked: a fresh budget */
		return spare;
	}
	u[*nu].uid = uid;
	u[*nu].n = 0;
	return &u[(*nu)++].n;
}

/* ---- accepting ---- */

/*
 * S's user already has max_clients_per_user sessions open: one user's
 * flood cannot take every slot. Root and the daemon's own user are not
 * counted (they could stop the daemon anyway; the nightly job runs as
 * the latter).
 */
static int
over_user_limit(const struct srv *v, const struct sess *s)
{
	const struct sess *o;
	unsigned n = 0;

	if (admit_privileged(s->peer.uid))	/* exempt from the limit */
		return 0;
	LIST_FOREACH(o, &v->sessions, entry)
		if ((LIVE & B(o->state)) && o->peer.uid == s->peer.uid)
			n++;
	return n >= v->set->max_clients_per_user;
}

static void
accept_one(struct srv *v)
{
	uv_stream_t *l = (uv_stream_t *)&v->listener;
	struct sess *s;
	char msg[160];

	assert(v->listening);	/* a closed listener accepts nothing */
	v->accepts_turn++;
	s = xcalloc(1, sizeof(*s));
	s->srv = v;
	s->state = SESS_NEW;
	uv_pipe_init(v->loop, &s->pipe, 0);
	uv_timer_init(v->loop, &s->timer);
	s->pipe.data = s->timer.data = s;
	s->open = 2;
	LIST_INSERT_HEAD(&v->sessions, s, entry);
	v->nsessions++;
	if (uv_accept(l, (uv_stream_t *)&s->pipe) < 0) {
		sess_close(s);
		return;
	}
	sock_peer(&s->pipe, &s->peer);
	v->accepted++;
	/* Refused ones close at once and count for neither limit. */
	if (v->nlive >= v->set->max_clients) {
		v->rejected++;
		sess_reject(s, 0, PROTO_E_BUSY, "too many connections; try "
		    "again shortly");
		return;
	}
	if (over_user_limit(v, s)) {
		v->rejected++;
		snprintf(msg, sizeof(msg), "too many connections from uid %ld "
		    "(max_clients_per_user is %u); close some and try again",
		    s->peer.uid, v->set->max_clients_per_user);
		sess_reject(s, 0, PROTO_E_BUSY, msg);
		return;
	}
	/* A peer with no credentials cannot be told apart: refuse it. */
	if (s->peer.uid < 0) {
		sess_reject(s, 0, PROTO_E_FORBIDDEN, "no peer credentials");
		return;
	}
	sess_enter(s, SESS_READING);
	arm_idle(s);
}

/*
 * One turn of the loop: each user gets up to TURN_MAX requests, shared
 * by its sessions in turn, so a client (or a user with many connections)
 * that pipelines thousands of requests cannot keep the loop from the
 * others; their accepts and reads run between turns.
 */
static void
on_turn(uv_idle_t *h)
{
	struct srv *v = h->data;
	struct turn_use use[TURN_USERS];
	unsigned *used, spare, k;
	size_t n = 0, nu = 0;
	struct sess *s;

	v->accepts_turn = 0;
	if (v->accept_deferred) {
		v->accept_deferred = 0;
		if (v->listening)
			accept_one(v);
	}
	TAILQ_FOREACH(s, &v->backlog, turn)
		n++;
	/* Those queued now, once each; one served may queue again. */
	while (n-- > 0 && (s = TAILQ_FIRST(&v->backlog)) != NULL) {
		assert(s->state == SESS_QUEUED);	/* the backlog: the queued */
		used = turn_count(use, &nu, s->peer.uid, &spare);
		assert(*used <= TURN_MAX);	/* a share is never overspent */
		if (*used == TURN_MAX) {
			TAILQ_REMOVE(&v->backlog, s, turn);
			TAILQ_INSERT_TAIL(&v->backlog, s, turn);
			continue;	/* this user's share is spent */
		}
		sess_enter(s, SESS_HANDLING);
		k = drain(s, TURN_MAX - *used);
		assert(k <= TURN_MAX - *used);	/* drain keeps to the share */
		*used += k;
		if (k > 0)
			arm_idle(s);
		read_on(s);	/* reads on, or back in the queue */
	}
	if (TAILQ_EMPTY(&v->backlog) && !v->accept_deferred)
		uv_idle_stop(h);
}

/*
 * At most ACCEPT_TURN connections per loop turn: libuv accepts until the
 * backlog is empty, and a client reconnecting as fast as it is refused
 * would keep it from ever reading the others. Not accepting in this
 * callback pauses the listener; the next turn (on_turn) accepts the
 * waiting one, which resumes it.
 */
static void
on_connection(uv_stream_t *l, int status)
{
	struct srv *v = l->data;

	if (status < 0)
		return;
	if (v->accepts_turn >= ACCEPT_TURN) {
		v->accept_deferred = 1;
		uv_idle_start(&v->turn, on_turn);
		return;
	}
	accept_one(v);
}

/* ---- what the handler calls ---- */

const struct admit_who *
sess_who(const struct sess *s)
{
	return &s->peer.who;
}

void
sess_wait(struct sess *s, long id)
{
	assert(s->srv->handling == s);	/* only a request's handler promises */
	assert(!s->due);	/* a waiting session handles no request */
	s->due = 1;
	s->due_id = id;
	/* A session the handler's own replies dropped waits closed. */
	if (s->state == SESS_HANDLING) {
		sess_enter(s, SESS_WAITING);
		arm_idle(s);
	}
}

long
sess_wait_id(const struct sess *s)
{
	assert(s->due);	/* asked only for a promised answer */
	return s->due_id;
}

void
sess_answer(struct sess *s, cJSON *msg)
{
	assert(s->due);	/* promised, and answered once */
	assert(s->srv->handling != s);	/* never before its handler returns */
	s->due = 0;
	if (s->state == SESS_CLOSING) {
		cJSON_Delete(msg);
		sess_free(s);	/* the client is gone: nobody to tell */
		return;
	}
	sess_send(s, msg);
	read_on(s);
}

void
sess_watch(struct sess *s, void *watch, sess_unwatch_cb unwatch)
{
	assert(watch != NULL && unwatch != NULL);
	assert(s->watch == NULL);	/* one watch per session */
	if (ENDED(s)) {
		unwatch(s, watch, 0);	/* nobody left to tell */
		return;
	}
	s->watch = watch;
	s->unwatch = unwatch;
	arm_idle(s);
}

void *
sess_watching(const struct sess *s)
{
	return s->watch;
}

void
sess_watch_end(struct sess *s, cJSON *last)
{
	assert(s->watch != NULL);	/* a watch ends once, if it held S */
	assert(s->state != SESS_CLOSING);	/* closing let go of it */
	s->watch = NULL;
	s->unwatch = NULL;
	arm_idle(s);
	sess_send(s, last);
	if (s->eof && !ENDED(s))
		sess_end(s);	/* half-closed: that was the last thing due */
}

/* ---- listening ---- */

int
srv_open(uv_loop_t *loop, const struct settings *set, srv_handler handle,
    void *arg, struct srv **out, char *err, size_t errlen)
{
	struct srv *v;
	int rc;

	assert(handle != NULL);	/* every request goes to it */
	*out = NULL;
	err[0] = '\0';
	v = xcalloc(1, sizeof(*v));
	v->loop = loop;
	v->set = set;
	v->handle = handle;
	v->handle_arg = arg;
	LIST_INIT(&v->sessions);
	TAILQ_INIT(&v->backlog);
	uv_idle_init(loop, &v->turn);
	v->turn.data = v;
	v->path = xstrdup(set->socket);
	uv_pipe_init(loop, &v->listener, 0);
	v->listener.data = v;
	v->listening = 1;
	rc = sock_listen(&v->listener, set->socket, set->socket_group,
	    &v->bound, err, errlen);
	if (rc == 0 && (rc = uv_listen((uv_stream_t *)&v->listener, LISTEN_BACKLOG,
	    on_connection)) < 0)
		snprintf(err, errlen, "cannot listen: %s", uv_strerror(rc));
	if (rc < 0) {
		srv_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void
srv_configure(struct srv *v, const struct settings *set)
{
	if (strcmp(set->socket, v->path) != 0)
		log_warn("settings.not_applied", "key=socket socket=%s msg=%s",
		    set->socket, "the socket moves only at the next start");
	v->set = set;
}

uv_loop_t *
sess_loop(const struct sess *s)
{
	return s->srv->loop;
}

const struct settings *
sess_settings(const struct sess *s)
{
	return s->srv->set;
}

void
sess_counts(const struct sess *s, struct srv_counts *c)
{
	c->live = s->srv->nlive;
	c->accepted = s->srv->accepted;
	c->rejected = s->srv->rejected;
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct srv *v = h->data;

	v->listener_closed = 1;
	maybe_free_srv(v);
}

void
srv_stop_listening(struct srv *v)
{
	if (!v->listening)
		return;
	v->listening = 0;
	if (v->bound)
		unlink(v->path);
	uv_close((uv_handle_t *)&v->listener, on_listener_closed);
}

void
srv_free(struct srv *v)
{
	struct sess *s, *tmp;

	if (v == NULL)
		return;
	assert(!v->freeing);	/* freed once */
	assert(v->handling == NULL);	/* not from inside a handler */
	v->freeing = 1;
	for (s = LIST_FIRST(&v->sessions); s != NULL; s = tmp) {
		tmp = LIST_NEXT(s, entry);
		sess_unhold(s, 1);	/* watchers hear of the stop */
		sess_end(s);
	}
	if (v->listening)
		srv_stop_listening(v);
	else
		maybe_free_srv(v);
}
