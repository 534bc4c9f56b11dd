/*
 * server: see server.h.
 *
 * A submit, or the cancel of a queued job, is answered only once the job
 * store has committed it (jobs.h): the session is then "waiting". It reads
 * nothing more and handles no further request until the answer is sent,
 * so replies keep the order of requests; a session closed meanwhile stays
 * allocated until the answer comes (and is dropped).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qp_build.h"
#include "store/cache.h"
#include "access.h"
#include "store/cachework.h"
#include "config.h"
#include "job.h"
#include "log.h"
#include "protocol.h"
#include "sd.h"
#include "server.h"
#include "base/xmalloc.h"

#define READ_CHUNK	(64 * 1024)
#define BUF_MAX		(PROTO_MAX_LINE + READ_CHUNK + 1)	/* a request and a read */
#define WQ_MAX		(1024 * 1024)	/* a reader this far behind is dropped */
#define WQ_PROGRESS	(64 * 1024)	/* skip progress past this */
#define LINGER_MS	2000		/* time to flush a last reply */
#define LIST_MAX	1000
#define TURN_MAX	4		/* requests per user per loop turn */
#define LISTEN_BACKLOG	1024		/* a burst of connects waits here */
#define ACCEPT_TURN	32		/* connections accepted per loop turn */

struct sess {
	LIST_ENTRY(sess) entry;
	TAILQ_ENTRY(sess) turn;		/* in srv->backlog while backlogged */
	struct srv	*srv;
	uv_pipe_t	 pipe;
	uv_timer_t	 timer;
	uv_shutdown_t	 shut;
	char		*buf;
	size_t		 len, cap;
	size_t		 scanned;	/* buf[0, scanned) holds no newline */
	long		 uid, gid, pid;
	struct acc_who	 who;		/* uid and groups, for a client's paths */
	struct jobs_watch *watch;
	long		 watch_req;	/* request id of the watch */
	int		 ending;	/* no more reading; closing soon */
	int		 live;		/* counted in srv->nlive (limits) */
	int		 backlogged;	/* whole requests wait for a turn */
	int		 eof;		/* the peer shut its side: answer, then end */
	int		 open;		/* handles not yet closed */
	int		 waiting;	/* for a jobs_reply_cb */
	long		 wait_req;	/* its request id */
	int		 wait_merged;	/* "merged" for the reply: 0, or -1 none */
};

struct srv {
	uv_loop_t	*loop;
	struct jobs	*jobs;
	const struct settings *set;
	uv_pipe_t	 listener;
	int		 listening;
	int		 listener_closed;
	int		 bound;		/* we created the socket file */
	char		*path;
	LIST_HEAD(, sess) sessions;
	unsigned	 nsessions;	/* allocated, closing ones too */
	unsigned	 nlive;		/* accepted and not ending: the limits' count */
	TAILQ_HEAD(sessq, sess) backlog;	/* round robin, TURN_MAX each */
	uv_idle_t	 turn;
	int		 turn_closed;
	unsigned	 accepts_turn;	/* since the last turn */
	int		 accept_deferred;	/* one waits in libuv for a turn */
	int		 freeing;
	unsigned long	 accepted, rejected;
};

struct wreq {
	uv_write_t	 req;
	char		*data;
};

static void sess_end(struct sess *s);
static void sess_close(struct sess *s);
static void maybe_free_srv(struct srv *v);
static unsigned drain(struct sess *s, unsigned max);
static int has_line(struct sess *s);
static void queue_turn(struct sess *s);
static void check_tail(struct sess *s);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void read_on(struct sess *s);
static void on_turn(uv_idle_t *h);
static void accept_one(struct srv *v);

/* ---- writing ---- */

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	(void)status;
	free(w->data);
	free(w);
}

static size_t
queued(const struct sess *s)
{
	return uv_stream_get_write_queue_size((const uv_stream_t *)&s->pipe);
}

/* Send MSG (consumed). A client that does not read is dropped. */
static void
sess_send(struct sess *s, cJSON *msg)
{
	struct wreq *w;
	uv_buf_t b;
	size_t len;
	char *line;

	line = proto_encode(msg, &len);
	cJSON_Delete(msg);
	if (uv_is_closing((uv_handle_t *)&s->pipe)) {
		free(line);
		return;
	}
	if (queued(s) + len > WQ_MAX) {
		log_warn("client.dropped", "pid=%ld uid=%ld msg=%s", s->pid,
		    s->uid, "the client does not read its replies");
		free(line);
		s->ending = 1;
		sess_close(s);
		return;
	}
	w = xmalloc(sizeof(*w));
	w->data = line;
	b = uv_buf_init(line, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, on_write) < 0) {
		free(line);
		free(w);
	}
}

static void
send_error(struct sess *s, long id, enum proto_err code, const char *msg)
{
	sess_send(s, proto_error(id, code, msg));
}

/* ---- closing ---- */

/* Once its handles are closed and no answer is due. */
static void
sess_free(struct sess *s)
{
	struct srv *v = s->srv;

	if (s->open > 0 || s->waiting)
		return;
	LIST_REMOVE(s, entry);
	v->nsessions--;
	free(s->buf);
	free(s);
	maybe_free_srv(v);
}

static void
on_sess_closed(uv_handle_t *h)
{
	struct sess *s = h->data;

	s->open--;
	sess_free(s);
}

/* S no longer counts against the limits nor waits for a turn. */
static void
sess_retire(struct sess *s)
{
	if (s->live) {
		s->live = 0;
		s->srv->nlive--;
	}
	if (s->backlogged) {
		s->backlogged = 0;
		TAILQ_REMOVE(&s->srv->backlog, s, turn);
	}
}

static void
sess_close(struct sess *s)
{
	sess_retire(s);
	if (s->watch) {
		jobs_unwatch(s->watch);
		s->watch = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&s->pipe))
		uv_close((uv_handle_t *)&s->pipe, on_sess_closed);
	if (!uv_is_closing((uv_handle_t *)&s->timer))
		uv_close((uv_handle_t *)&s->timer, on_sess_closed);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	sess_close(req->data);
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
	if (s->ending)
		return;
	s->ending = 1;
	sess_retire(s);
	if (s->watch) {
		jobs_unwatch(s->watch);
		s->watch = NULL;
	}
	uv_read_stop((uv_stream_t *)&s->pipe);
	uv_timer_start(&s->timer, on_linger, LINGER_MS, 0);
	s->shut.data = s;
	if (uv_is_closing((uv_handle_t *)&s->pipe) ||
	    uv_shutdown(&s->shut, (uv_stream_t *)&s->pipe, on_shutdown) < 0)
		sess_close(s);
}

/* A protocol violation: say what, then hang up. */
static void
sess_reject(struct sess *s, long id, enum proto_err code, const char *msg)
{
	log_debug("client.rejected", "pid=%ld code=%s error=%s", s->pid,
	    proto_err_name(code), msg);
	send_error(s, id, code, msg);
	sess_end(s);
}

/* ---- idle time-out ---- */

static void
on_idle(uv_timer_t *t)
{
	struct sess *s = t->data;

	sess_reject(s, 0, PROTO_E_TIMEOUT, s->len ? "the request was not "
	    "finished in time (no newline)" : "idle for too long");
}

static void
arm_idle(struct sess *s)
{
	if (s->ending)
		return;
	if (s->watch || s->waiting)
		uv_timer_stop(&s->timer);	/* silent for a reason */
	else
		uv_timer_start(&s->timer, on_idle,
		    s->srv->set->idle_timeout_ms, 0);
}

/*
 * After a request is answered and the buffer drained: read the next, or,
 * once the peer has shut its side, end when nothing more is due.
 */
static void
read_on(struct sess *s)
{
	if (s->ending || s->waiting)
		return;
	if (has_line(s)) {
		queue_turn(s);	/* whole requests left: the next turn */
		return;
	}
	check_tail(s);
	if (s->ending)
		return;
	if (s->eof) {
		if (s->watch == NULL)
			sess_end(s);
		return;
	}
	uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
	arm_idle(s);
}

/* ---- operations ---- */

static void
reply_job(struct sess *s, long id, const struct proto_job *j, int merged)
{
	cJSON *r = proto_reply(id);

	cJSON_AddItemToObject(r, "job", proto_job_json(j));
	if (merged >= 0)
		cJSON_AddBoolToObject(r, "merged", merged);
	sess_send(s, r);
}

static void
op_ping(struct sess *s, long id, const cJSON *req)
{
	cJSON *r = proto_reply(id);

	(void)req;
	cJSON_AddStringToObject(r, "version", QP_VERSION);
	cJSON_AddNumberToObject(r, "protocol", PROTO_VERSION);
	cJSON_AddNumberToObject(r, "pid", getpid());
	cJSON_AddNumberToObject(r, "uid", (double)s->uid);
	sess_send(s, r);
}

/* The store has answered: reply, then go on with the next request. */
static void
on_reply(void *arg, const struct proto_job *j, enum proto_err code,
    const char *err)
{
	struct sess *s = arg;

	s->waiting = 0;
	if (s->open < 2 || uv_is_closing((uv_handle_t *)&s->pipe)) {
		sess_free(s);	/* the client is gone: nobody to tell */
		return;
	}
	if (err != NULL)
		send_error(s, s->wait_req, code, err);
	else
		reply_job(s, s->wait_req, j, s->wait_merged);
	if (s->ending || uv_is_closing((uv_handle_t *)&s->pipe))
		return;
	read_on(s);
}

static void
wait_reply(struct sess *s, long id, int merged)
{
	s->waiting = 1;
	s->wait_req = id;
	s->wait_merged = merged;
	uv_read_stop((uv_stream_t *)&s->pipe);
	arm_idle(s);
}

static void
op_submit(struct sess *s, long id, const cJSON *req)
{
	struct jobs_submit sub = { 0 };
	const char *kind = proto_str(req, "kind"), *cache;
	const cJSON *env;
	struct proto_job j;
	enum proto_err code;
	char err[1024];
	int rc;

	/* create-list is neuView's name for the same job. */
	if (kind != NULL && strcmp(kind, "create-index") != 0 &&
	    strcmp(kind, "create-list") != 0) {
		send_error(s, id, PROTO_E_INVALID, "the only job kind is "
		    "create-index (or neuView's name for it, create-list)");
		return;
	}
	sub.site = proto_str(req, "site");
	sub.config = proto_str(req, "config");
	sub.config_len = sub.config ? strlen(sub.config) : 0;
	sub.from.cwd = proto_str(req, "cwd");
	sub.from.output_dir = proto_str(req, "output_dir");
	env = cJSON_GetObjectItemCaseSensitive(req, "env");
	sub.from.token = proto_str(env, "NEUPRINT_TOKEN");
	sub.from.credentials = proto_str(env,
	    "NEUPRINT_APPLICATION_CREDENTIALS");
	sub.quick = proto_bool(req, "quick", 0);
	cache = proto_str(req, "cache");
	if (cache == NULL || strcmp(cache, "use") == 0)
		sub.cache = JOB_CACHE_USE;
	else if (strcmp(cache, "refresh") == 0)
		sub.cache = JOB_CACHE_REFRESH;
	else if (strcmp(cache, "off") == 0)
		sub.cache = JOB_CACHE_OFF;
	else {
		send_error(s, id, PROTO_E_INVALID, "\"cache\" is \"use\", "
		    "\"refresh\" or \"off\"");
		return;
	}
	sub.uid = s->uid;
	sub.who = &s->who;
	rc = jobs_submit(s->srv->jobs, &sub, on_reply, s, &j, &code, err,
	    sizeof(err));
	if (rc < 0)
		send_error(s, id, code, err);
	else if (rc == 0)
		reply_job(s, id, &j, 1);	/* merged with a queued job */
	else
		wait_reply(s, id, 0);
}

static int64_t
job_id(struct sess *s, long id, const cJSON *req)
{
	int64_t j = proto_int(req, "job_id", -1);

	if (j <= 0)
		send_error(s, id, PROTO_E_INVALID, "\"job_id\" must be a "
		    "positive integer");
	return j;
}

static void
send_jobs(struct sess *s, long id, size_t limit, int active)
{
	cJSON *r = proto_reply(id), *a;

	a = cJSON_AddArrayToObject(r, "jobs");
	if (jobs_list(s->srv->jobs, limit, active, a) < 0) {
		cJSON_Delete(r);
		send_error(s, id, PROTO_E_INTERNAL, "cannot read the job store");
		return;
	}
	sess_send(s, r);
}

static void
op_status(struct sess *s, long id, const cJSON *req)
{
	struct proto_job j;
	int64_t n;
	char msg[128];

	if (cJSON_GetObjectItemCaseSensitive(req, "job_id") == NULL) {
		send_jobs(s, id, LIST_MAX, 1);
		return;
	}
	if ((n = job_id(s, id, req)) <= 0)
		return;
	if (jobs_get(s->srv->jobs, n, &j) < 0) {
		snprintf(msg, sizeof(msg), "no job %lld; `qpctl list` shows the "
		    "jobs", (long long)n);
		send_error(s, id, PROTO_E_NOT_FOUND, msg);
		return;
	}
	reply_job(s, id, &j, -1);
	proto_job_clear(&j);
}

static void
op_list(struct sess *s, long id, const cJSON *req)
{
	int64_t limit = proto_int(req, "limit", 50);

	if (limit <= 0 || limit > LIST_MAX)
		limit = LIST_MAX;
	send_jobs(s, id, (size_t)limit, 0);
}

static void
op_cancel(struct sess *s, long id, const cJSON *req)
{
	struct proto_job j;
	enum proto_err code;
	char err[512];
	int64_t n;
	int rc;

	if ((n = job_id(s, id, req)) <= 0)
		return;
	rc = jobs_cancel(s->srv->jobs, n, s->uid, on_reply, s, &j, &code, err,
	    sizeof(err));
	if (rc < 0) {
		send_error(s, id, code, err);
		return;
	}
	log_info("job.cancel", "job=%lld uid=%ld", (long long)n, s->uid);
	if (rc == 0)
		reply_job(s, id, &j, -1);
	else
		wait_reply(s, id, -1);
}

static void
on_watch(void *arg, const struct proto_job *j, int final)
{
	struct sess *s = arg;
	cJSON *e;

	if (final) {
		s->watch = NULL;
		arm_idle(s);
	} else if (queued(s) > WQ_PROGRESS)
		return;		/* a later snapshot will do */
	e = proto_event(s->watch_req, final ? "end" : "progress");
	cJSON_AddItemToObject(e, "job", proto_job_json(j));
	sess_send(s, e);
	if (final && s->eof && !s->ending)
		sess_end(s);	/* half-closed: that was the last thing due */
}

static void
op_watch(struct sess *s, long id, const cJSON *req)
{
	struct proto_job j;
	int64_t n;
	cJSON *e;
	int rc;

	if ((n = job_id(s, id, req)) <= 0)
		return;
	if (s->watch) {
		send_error(s, id, PROTO_E_INVALID, "this connection already "
		    "watches a job; open another");
		return;
	}
	if (jobs_get(s->srv->jobs, n, &j) < 0) {
		send_error(s, id, PROTO_E_NOT_FOUND, "no such job");
		return;
	}
	reply_job(s, id, &j, -1);
	s->watch_req = id;
	rc = jobs_watch(s->srv->jobs, n, on_watch, s, &s->watch);
	if (rc == 1) {
		e = proto_event(id, "end");
		cJSON_AddItemToObject(e, "job", proto_job_json(&j));
		sess_send(s, e);
	}
	proto_job_clear(&j);
	arm_idle(s);
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
op_stats(struct sess *s, long id, const cJSON *req)
{
	const char *format = proto_str(req, "format");
	struct buf b = BUF_INIT;
	cJSON *r, *o;

	if (format != NULL && strcmp(format, "prometheus") == 0) {
		/* The same text as the metrics_file (jobs_metrics). */
		r = proto_reply(id);
		jobs_metrics(s->srv->jobs, &b);
		cJSON_AddStringToObject(r, "prometheus", b.data ? b.data : "");
		buf_free(&b);
		sess_send(s, r);
		return;
	}
	if (format != NULL && strcmp(format, "json") != 0) {
		send_error(s, id, PROTO_E_INVALID, "\"format\" is \"json\" "
		    "(the default) or \"prometheus\"");
		return;
	}
	r = proto_reply(id);
	o = cJSON_AddObjectToObject(r, "stats");
	cJSON_AddStringToObject(o, "version", QP_VERSION);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddNumberToObject(o, "rss_kb", (double)rss_kb());
	cJSON_AddNumberToObject(o, "connections", s->srv->nlive);
	cJSON_AddNumberToObject(o, "connections_accepted",
	    (double)s->srv->accepted);
	cJSON_AddNumberToObject(o, "connections_rejected",
	    (double)s->srv->rejected);
	jobs_stats(s->srv->jobs, o);
	sess_send(s, r);
}

/* The cache's answer (on the loop): reply, then read on, as on_reply. */
static void
on_cache_done(void *arg, int rc, cJSON *result, const char *err)
{
	struct sess *s = arg;
	cJSON *r;

	s->waiting = 0;
	if (s->open < 2 || uv_is_closing((uv_handle_t *)&s->pipe)) {
		cJSON_Delete(result);
		sess_free(s);
		return;
	}
	if (rc < 0)
		send_error(s, s->wait_req, PROTO_E_INTERNAL, err);
	else {
		r = proto_reply(s->wait_req);
		cJSON_AddItemToObject(r, "cache", result);
		sess_send(s, r);
	}
	if (s->ending || uv_is_closing((uv_handle_t *)&s->pipe))
		return;
	read_on(s);
}

/*
 * {"action": "stats"|"clear", "site": NAME?}: the daemon's cache, all of
 * it or a site's dataset. Anyone may read the stats; only root and the
 * daemon's own user may clear. Opening (with its integrity check) and
 * clearing run on the thread pool.
 */
static void
op_cache(struct sess *s, long id, const cJSON *req)
{
	const char *action = proto_str(req, "action");
	const char *name = proto_str(req, "site");
	struct cfg_site *site = NULL;
	struct cw_req *cr;
	char err[600], *srvkey;
	int clear, rc;

	if (action == NULL || (strcmp(action, "stats") != 0 &&
	    strcmp(action, "clear") != 0)) {
		send_error(s, id, PROTO_E_INVALID, "\"action\" is \"stats\" "
		    "or \"clear\"");
		return;
	}
	clear = strcmp(action, "clear") == 0;
	if (clear && s->uid != 0 && s->uid != (long)getuid()) {
		send_error(s, id, PROTO_E_FORBIDDEN, "only root or the daemon's "
		    "user may clear the cache");
		return;
	}
	if (name != NULL && settings_site_load(s->srv->set, name, &site, err,
	    sizeof(err)) < 0) {
		send_error(s, id, settings_site(s->srv->set, name) ?
		    PROTO_E_BAD_CONFIG : PROTO_E_NOT_FOUND, err);
		return;
	}
	srvkey = site ? cache_server(site->server, site->ca_file) : NULL;
	rc = cw_admin(s->srv->loop, s->srv->set->cache_dir, clear, srvkey,
	    site ? site->dataset : NULL, on_cache_done, s, &cr);
	free(srvkey);
	cfg_site_free(site);
	if (rc < 0) {
		send_error(s, id, PROTO_E_INTERNAL, uv_strerror(rc));
		return;
	}
	if (clear)
		log_info("cache.cleared", "site=%s uid=%ld", name ? name :
		    "*", s->uid);
	wait_reply(s, id, -1);
}

static void (*const ops[PROTO_NOPS])(struct sess *, long, const cJSON *) = {
	[PROTO_PING] = op_ping,
	[PROTO_SUBMIT] = op_submit,
	[PROTO_STATUS] = op_status,
	[PROTO_LIST] = op_list,
	[PROTO_CANCEL] = op_cancel,
	[PROTO_WATCH] = op_watch,
	[PROTO_STATS] = op_stats,
	[PROTO_CACHE] = op_cache,
};

static void
handle_line(struct sess *s, const char *line, size_t len)
{
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
	ops[op](s, id, req);
	cJSON_Delete(req);
}

/* ---- reading ---- */

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct sess *s = h->data;
	size_t want = s->len + READ_CHUNK;

	(void)hint;
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
 * Handle up to MAX whole lines in the buffer; keep the rest. Returns how
 * many requests were handled.
 */
static unsigned
drain(struct sess *s, unsigned max)
{
	size_t off = 0, from = s->scanned;
	unsigned n = 0;
	char *nl;

	while (!s->ending && !s->waiting && n < max && s->len > from &&
	    (nl = memchr(s->buf + from, '\n', s->len - from)) != NULL) {
		handle_line(s, s->buf + off, (size_t)(nl - (s->buf + off)));
		off = from = (size_t)(nl - s->buf) + 1;
		n++;
	}
	if (s->ending)
		return n;
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
	/* Stopped for want of a newline: the tail holds none (a request
	 * arriving in pieces is searched once, not on every read). */
	s->scanned = !s->waiting && n < max ? s->len : 0;
	return n;
}

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

/* Requests are handled on a turn (on_turn), never straight from a read. */
static void
queue_turn(struct sess *s)
{
	uv_read_stop((uv_stream_t *)&s->pipe);
	if (s->backlogged)
		return;
	s->backlogged = 1;
	TAILQ_INSERT_TAIL(&s->srv->backlog, s, turn);
	uv_idle_start(&s->srv->turn, on_turn);
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

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct sess *s = st->data;

	(void)b;
	if (n == UV_EOF) {
		/*
		 * The peer shut its side (or closed): what it asked is still
		 * answered, then the session ends; a half-sent request is
		 * dropped.
		 */
		s->eof = 1;
		uv_read_stop(st);
		read_on(s);
		return;
	}
	if (n < 0) {
		sess_close(s);
		return;
	}
	if (n == 0)
		return;
	s->len += (size_t)n;
	/*
	 * Only a whole request restarts the idle timer (on its turn): a
	 * client sending a byte now and then (slowloris) is cut off like an
	 * idle one.
	 */
	if (has_line(s))
		queue_turn(s);
	else
		check_tail(s);
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
		TAILQ_REMOVE(&v->backlog, s, turn);
		used = turn_count(use, &nu, s->uid, &spare);
		if (*used >= TURN_MAX) {
			TAILQ_INSERT_TAIL(&v->backlog, s, turn);
			continue;	/* this user's share is spent */
		}
		s->backlogged = 0;
		k = drain(s, TURN_MAX - *used);
		*used += k;
		if (k > 0)
			arm_idle(s);
		read_on(s);	/* reads on, or back in the queue */
	}
	if (TAILQ_EMPTY(&v->backlog) && !v->accept_deferred)
		uv_idle_stop(h);
}

static void
peer_creds(struct sess *s)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	s->uid = s->gid = s->pid = -1;
	if (uv_fileno((uv_handle_t *)&s->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
		s->uid = (long)cr.uid;
		s->gid = (long)cr.gid;
		s->pid = (long)cr.pid;
		if (acc_who_peer(fd, &s->who) < 0)
			s->uid = -1;	/* half known is unknown */
	}
}

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

	if (s->uid == 0 || s->uid == (long)getuid())
		return 0;
	LIST_FOREACH(o, &v->sessions, entry)
		if (o->live && o->uid == s->uid)
			n++;
	return n >= v->set->max_clients_per_user;
}

static void
accept_one(struct srv *v)
{
	uv_stream_t *l = (uv_stream_t *)&v->listener;
	struct sess *s;
	char msg[160];

	v->accepts_turn++;
	s = xcalloc(1, sizeof(*s));
	s->srv = v;
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
	peer_creds(s);
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
		    s->uid, v->set->max_clients_per_user);
		sess_reject(s, 0, PROTO_E_BUSY, msg);
		return;
	}
	/* A peer with no credentials cannot be told apart: refuse it. */
	if (s->uid < 0) {
		sess_reject(s, 0, PROTO_E_FORBIDDEN, "no peer credentials");
		return;
	}
	s->live = 1;
	v->nlive++;
	uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
	arm_idle(s);
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

/* ---- listening ---- */

/* A socket file nobody answers on is left from a crash: remove it. */
static int
clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it "
		    "or choose another 'socket'", path);
		return -EEXIST;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another daemon answers on %s; stop it "
		    "first", path);
		return -EADDRINUSE;
	}
	return unlink(path) < 0 ? -errno : 0;
}

static int
set_group(const char *path, const char *group, char *err, size_t errlen)
{
	struct group *g;

	if (group == NULL)
		return 0;
	if ((g = getgrnam(group)) == NULL) {
		snprintf(err, errlen, "socket_group '%s' is not a group on this "
		    "system", group);
		return -ENOENT;
	}
	if (chown(path, (uid_t)-1, g->gr_gid) < 0) {
		snprintf(err, errlen, "cannot give %s to group '%s': %s", path,
		    group, strerror(errno));
		return -errno;
	}
	return 0;
}

static int
bind_path(struct srv *v, char *err, size_t errlen)
{
	const char *path = v->set->socket;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	if ((rc = clear_stale(path, err, errlen)) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* Born 0660: no window in which others may connect. */
	old = umask(0117);
	rc = uv_pipe_bind(&v->listener, path);
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", path, uv_strerror(rc));
		return rc;
	}
	v->bound = 1;
	if (chmod(path, 0660) < 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		return -errno;
	}
	return set_group(path, v->set->socket_group, err, errlen);
}

int
srv_new(uv_loop_t *loop, struct jobs *jobs, const struct settings *set,
    struct srv **out, char *err, size_t errlen)
{
	struct srv *v;
	int rc, n;

	*out = NULL;
	err[0] = '\0';
	v = xcalloc(1, sizeof(*v));
	v->loop = loop;
	v->jobs = jobs;
	v->set = set;
	LIST_INIT(&v->sessions);
	TAILQ_INIT(&v->backlog);
	uv_idle_init(loop, &v->turn);
	v->turn.data = v;
	v->path = xstrdup(set->socket);
	uv_pipe_init(loop, &v->listener, 0);
	v->listener.data = v;
	v->listening = 1;
	n = sd_listen_count();
	if (n > 0) {
		if (n > 1)
			log_warn("socket.activation", "fds=%d msg=%s", n,
			    "systemd passed more than one socket; using the "
			    "first");
		rc = uv_pipe_open(&v->listener, SD_LISTEN_FDS_START);
		if (rc < 0)
			snprintf(err, errlen, "cannot use the socket systemd "
			    "passed: %s", uv_strerror(rc));
	} else
		rc = bind_path(v, err, errlen);
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

static void
on_turn_closed(uv_handle_t *h)
{
	struct srv *v = h->data;

	v->turn_closed = 1;
	maybe_free_srv(v);
}

static void
maybe_free_srv(struct srv *v)
{
	if (!v->freeing || !v->listener_closed || v->nsessions > 0)
		return;
	if (!v->turn_closed) {
		if (!uv_is_closing((uv_handle_t *)&v->turn))
			uv_close((uv_handle_t *)&v->turn, on_turn_closed);
		return;
	}
	free(v->path);
	free(v);
}

void
srv_free(struct srv *v)
{
	struct sess *s, *tmp;
	cJSON *e;

	if (v == NULL)
		return;
	v->freeing = 1;
	for (s = LIST_FIRST(&v->sessions); s != NULL; s = tmp) {
		tmp = LIST_NEXT(s, entry);
		if (s->watch) {
			e = proto_event(s->watch_req, "stopping");
			cJSON_AddStringToObject(e, "message", "the daemon is "
			    "stopping; the job stays queued and runs again "
			    "when it starts");
			sess_send(s, e);
		}
		sess_end(s);
	}
	if (v->listening)
		srv_stop_listening(v);
	else
		maybe_free_srv(v);
}
