/*
 * upstream: the queries of every job for one neuPrint server, through one
 * limiter and one transport. See upstream.h.
 *
 * A query is in one of four states. QUEUED: on the waiting list (new, or
 * backing off before a retry). FLYING: sent, the transport holds it.
 * DONE: its outcome is known but its callback must wait for the loop (a
 * failure found inside up_submit, e.g. a send that failed); it is on the
 * done list and the defer timer is armed. IN_CB: its callback is running;
 * it is freed when the callback returns, and up_cancel leaves it alone.
 */
#include <sys/queue.h>

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neuprint/upstream.h"
#include "base/xmalloc.h"

#define CUSTOM_PATH	"/api/custom/custom"

enum q_state { Q_QUEUED, Q_FLYING, Q_DONE, Q_IN_CB };

struct up_query {
	TAILQ_ENTRY(up_query) entry;
	struct upstream	*u;
	enum q_state	 state;
	char		*token;
	char		*body;
	size_t		 len;
	unsigned	 kind;		/* for the limiter */
	struct up_stats	*st;
	up_cb		 cb;
	void		*arg;
	void		*req;		/* the transport's, while FLYING */
	unsigned	 attempt;	/* attempts made so far */
	double		 not_before;	/* clock seconds; retry backoff */
	double		 sent_at;	/* clock seconds; the last attempt */
	int		 held;		/* waited for an identical query once */
	enum up_status	 status;	/* DONE: the outcome to deliver */
	char		 error[512];	/* the last attempt's failure */
};

TAILQ_HEAD(up_queue, up_query);

/* A body the server may still be running after we gave up on it. */
struct hold {
	TAILQ_ENTRY(hold) entry;
	char		*body;
	size_t		 len;
	double		 until;		/* clock seconds */
};

TAILQ_HEAD(hold_list, hold);

struct upstream {
	struct clk	 clk;
	struct up_transport tr;
	struct http_client *http;	/* ours, when no transport was given */
	struct limiter	*lim;
	char		*url;
	struct upstream_opts o;
	struct up_queue	 waiting;	/* FIFO, oldest first */
	struct up_queue	 flying;
	struct up_queue	 done;		/* outcomes waiting for the loop */
	struct hold_list holds;		/* abandoned bodies, oldest first */
	void		*timer;		/* wakes the queue after a pause or backoff */
	void		*defer;		/* runs the done list's callbacks */
	double		 born;		/* clock when made: lim_trace's zero */
	uint64_t	 rng;
	int		 dispatching;
	int		 closing;
};

static void	dispatch(struct upstream *);

static double
now_s(const struct upstream *u)
{
	return clk_now(&u->clk);
}

/* xorshift64*: jitter only, no need for a better generator. */
static double
jitter(struct upstream *u)
{
	u->rng ^= u->rng >> 12;
	u->rng ^= u->rng << 25;
	u->rng ^= u->rng >> 27;
	return (double)((u->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ---- the default transport: http.h ---- */

static int
http_tr_post(void *ctx, const char *url, const char *token, const char *body,
    size_t len, http_cb cb, void *arg, void **req)
{
	struct http_req *r = NULL;
	int rc;

	rc = http_post(ctx, url, token, body, len, cb, arg, &r);
	*req = r;
	return rc;
}

static void
http_tr_cancel(void *ctx, void *req)
{
	(void)ctx;
	http_cancel(req);
}

static void
timer_cb(void *arg)
{
	dispatch(arg);
}

static void	run_done(void *);

int
upstream_new(uv_loop_t *loop, const struct upstream_opts *o,
    struct upstream **out)
{
	struct http_opts ho = { 0 };
	struct upstream *u;
	int rc;

	if ((o->transport == NULL || o->clock == NULL) && loop == NULL)
		return -EINVAL;
	u = xcalloc(1, sizeof(*u));
	u->o = *o;
	if (u->o.backoff_base_s <= 0)
		u->o.backoff_base_s = 0.25;
	if (u->o.backoff_max_s <= 0)
		u->o.backoff_max_s = 8;
	if (u->o.hold_s == 0)
		u->o.hold_s = 3600;
	if (o->clock)
		u->clk = *o->clock;
	else
		clk_uv(loop, &u->clk);
	TAILQ_INIT(&u->waiting);
	TAILQ_INIT(&u->flying);
	TAILQ_INIT(&u->done);
	TAILQ_INIT(&u->holds);
	u->rng = (o->seed ? o->seed : uv_hrtime()) | 1;
	u->url = xasprintf("%s%s", o->server ? o->server : "", CUSTOM_PATH);
	if (o->transport)
		u->tr = *o->transport;
	else {
		ho.ca_file = o->ca_file;
		ho.connect_timeout_ms = o->connect_timeout_ms;
		ho.total_timeout_ms = o->request_timeout_ms;
		ho.low_speed_time_s = o->low_speed_time_s;
		ho.max_host_connections = o->lim_max;
		ho.max_body_bytes = o->max_answer_bytes ? o->max_answer_bytes :
		    UP_MAX_ANSWER_BYTES;
		if ((rc = http_client_new(loop, &ho, &u->http)) < 0)
			goto fail;
		u->tr = (struct up_transport){ http_tr_post, http_tr_cancel,
		    u->http };
	}
	u->born = now_s(u);
	if ((rc = lim_new(o->lim_min, o->lim_initial, o->lim_max, u->born,
	    &u->lim)) < 0)
		goto fail;
	u->timer = clk_timer_new(&u->clk, timer_cb, u);
	u->defer = clk_timer_new(&u->clk, run_done, u);
	*out = u;
	return 0;
fail:
	if (u->http)
		http_client_close(u->http);
	free(u->url);
	free(u);
	return rc;
}

static void
query_free(struct up_query *q)
{
	assert(q->req == NULL);		/* the transport holds it no more */
	/* The token is a credential: do not leave it in freed memory. */
	explicit_bzero(q->token, strlen(q->token));
	free(q->token);
	free(q->body);
	free(q);
}

static void
hold_free(struct upstream *u, struct hold *h)
{
	TAILQ_REMOVE(&u->holds, h, entry);
	free(h->body);
	free(h);
}

/* Keep Q's body back until the copy we gave up on may have ended. */
static void
hold_add(struct up_query *q)
{
	struct upstream *u = q->u;
	struct hold *h;

	if (u->o.hold_s < 0)
		return;
	h = xcalloc(1, sizeof(*h));
	h->body = xmalloc(q->len + 1);
	memcpy(h->body, q->body, q->len + 1);
	h->len = q->len;
	h->until = q->sent_at + u->o.hold_s;
	TAILQ_INSERT_TAIL(&u->holds, h, entry);
}

/* When Q's body may go (NOW when no copy of it may be running). */
static double
hold_until(struct upstream *u, const struct up_query *q, double now)
{
	struct hold *h, *next;
	double until = now;

	for (h = TAILQ_FIRST(&u->holds); h != NULL; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->until <= now)
			hold_free(u, h);
		else if (h->len == q->len && memcmp(h->body, q->body,
		    q->len) == 0 && h->until > until)
			until = h->until;
	}
	return until;
}

void
upstream_free(struct upstream *u)
{
	struct up_query *q;

	if (u == NULL)
		return;
	u->closing = 1;		/* up_cancel must not send the next one */
	while ((q = TAILQ_FIRST(&u->flying)) != NULL)
		up_cancel(q);
	while ((q = TAILQ_FIRST(&u->waiting)) != NULL)
		up_cancel(q);
	while ((q = TAILQ_FIRST(&u->done)) != NULL)
		up_cancel(q);
	assert(lim_in_flight(u->lim) == 0);	/* each slot was a FLYING query */
	while (!TAILQ_EMPTY(&u->holds))
		hold_free(u, TAILQ_FIRST(&u->holds));
	clk_timer_free(&u->clk, u->timer);
	clk_timer_free(&u->clk, u->defer);
	if (u->http)
		http_client_close(u->http);
	lim_free(u->lim);
	free(u->url);
	free(u);
}

void
up_submit(struct upstream *u, const char *token, const char *body,
    size_t len, unsigned kind, struct up_stats *st, up_cb cb, void *arg,
    struct up_query **out)
{
	struct up_query *q;

	assert(!u->closing && cb != NULL && kind < LIM_KINDS);	/* upstream.h */
	q = xcalloc(1, sizeof(*q));
	q->u = u;
	q->state = Q_QUEUED;
	q->token = xstrdup(token ? token : "");
	q->body = xmalloc(len + 1);
	memcpy(q->body, body, len);
	q->body[len] = '\0';
	q->len = len;
	q->kind = kind;
	q->st = st;
	q->cb = cb;
	q->arg = arg;
	if (st)
		st->queries++;
	TAILQ_INSERT_TAIL(&u->waiting, q, entry);
	if (out)
		*out = q;
	dispatch(u);
}

void
up_cancel(struct up_query *q)
{
	struct upstream *u = q->u;

	switch (q->state) {
	case Q_IN_CB:
		return;		/* freed when its callback returns */
	case Q_FLYING:
		assert(q->req != NULL);		/* the transport's, while FLYING */
		u->tr.cancel(u->tr.ctx, q->req);
		q->req = NULL;
		TAILQ_REMOVE(&u->flying, q, entry);
		lim_release(u->lim, LIM_DROPPED, NULL, now_s(u));
		break;
	case Q_QUEUED:
		TAILQ_REMOVE(&u->waiting, q, entry);
		break;
	case Q_DONE:
		TAILQ_REMOVE(&u->done, q, entry);
		break;
	}
	query_free(q);
	/* A slot may have come free; sending never calls anyone back. */
	dispatch(u);
}

/* ---- what an answer means ---- */

/*
 * A database error's text (docs/queries.md, "Errors"). neuPrintHTTP 1.9
 * answers every one with 400 "failed to execute query: Neo4jError: <code>
 * (<message>)", except that any text holding "Timeout" is replaced by a
 * fixed "Timeout experienced. ..." (storage/neuprintbolt/neuprintbolt.go).
 */
enum db_error { DB_QUERY, DB_TRANSIENT, DB_BUSY, DB_TIMEOUT };

static enum db_error
db_error(const char *msg)
{
	if (msg == NULL)
		return DB_QUERY;
	/*
	 * Busy before transient: the driver's connection-pool wait, a lock
	 * wait, a read deadline. None is Neo4j's transaction time-out (its
	 * text has "TimedOut" and "timeout", never "Timeout"), so the query
	 * is not running: resend it.
	 */
	if (strstr(msg, "Timeout experienced") ||
	    strstr(msg, "waiting for connection") ||
	    strstr(msg, "connection pool") || strstr(msg, "timed out waiting"))
		return DB_BUSY;
	/* Neo4j's own class for "try again"; the driver already did for 30 s. */
	if (strstr(msg, "TransientError") || strstr(msg, "DeadlockDetected") ||
	    strstr(msg, "deadlock"))
		return DB_TRANSIENT;
	if (strstr(msg, "TimedOut") || strstr(msg, "timed out") ||
	    strstr(msg, "timeout") || strstr(msg, "Timeout"))
		return DB_TIMEOUT;
	return DB_QUERY;
}

/* 400, or 200 with {"error": ...}: what the database said. */
static void
classify_db(const char *msg, struct up_verdict *v)
{
	switch (db_error(msg)) {
	case DB_BUSY:
	case DB_TRANSIENT:
		v->retry = 1;
		v->cause = db_error(msg) == DB_BUSY ? UP_C_BUSY : UP_C_TRANSIENT;
		v->lim = LIM_OVERLOAD;
		break;
	case DB_TIMEOUT:
		/* Neo4j ended the transaction itself: split, nothing to hold. */
		v->status = UP_QUERY_ERROR;
		v->timeout = 1;
		v->lim = LIM_TIMEOUT;
		break;
	default:
		v->status = UP_QUERY_ERROR;
		break;
	}
}

/* An attempt given up on unanswered: the server may still be running it. */
static void
abandoned(struct up_verdict *v)
{
	v->retry = 0;
	v->status = UP_QUERY_ERROR;
	v->timeout = 1;
	v->hold = 1;
	v->lim = LIM_TIMEOUT;
}

static void
classify_transport(const struct up_attempt *a, struct up_verdict *v)
{
	v->retry = 1;
	v->lim = LIM_ERROR;
	switch (a->fail) {
	case HTTP_ERR_TIMEOUT:
		/*
		 * neuPrintHTTP collects every row before it writes a byte, so
		 * an answer that had begun is a slow or stalled transfer of a
		 * finished query: resend. One that had not may still run.
		 */
		if (!a->started) {
			abandoned(v);
			break;
		}
		v->cause = UP_C_TIMEOUT;
		v->lim = LIM_TIMEOUT;
		break;
	case HTTP_ERR_CONNECT:
		v->cause = UP_C_CONNECT;
		break;
	case HTTP_ERR_TOO_BIG:
		/* The same query brings the same answer; half a batch, half. */
		v->retry = 0;
		v->status = UP_QUERY_ERROR;
		v->too_large = 1;
		v->lim = LIM_OK;
		break;
	case HTTP_ERR_TLS:
		/* A certificate that fails now will fail on every retry. */
		v->retry = 0;
		v->status = UP_UNAVAILABLE;
		break;
	case HTTP_ERR_PROXY:
		/*
		 * No tunnel, so nothing reached neuPrint. A proxy's 5xx (it
		 * could not reach the server, or is overloaded) is a failure
		 * to connect like any other; its 4xx (407 credentials, 403
		 * its rules) says the same to every retry.
		 */
		if (a->proxy_status >= 500) {
			v->cause = UP_C_CONNECT;
			break;
		}
		v->retry = 0;
		v->status = UP_PROXY;
		break;
	default:
		v->cause = UP_C_RESET;
		break;
	}
}

/*
 * A non-200 status and the server's message. neuPrint's own answers are
 * 400 (any database error), 401/403 (the token, the dataset's access or
 * terms of service; DatasetGateway checks access before the dataset
 * exists, so an unknown dataset is 403 too), 404 (the dataset, 1.7), 502
 * (the auth service is down); 413, 429 and other 5xx come from a front
 * proxy or an overloaded server.
 */
static void
classify_status(long status, const char *msg, struct up_verdict *v)
{
	v->lim = LIM_OK;
	v->retry = 0;
	switch (status) {
	case 400:
		classify_db(msg, v);
		break;
	case 401:
	case 403:
		v->status = UP_AUTH;
		break;
	case 404:
		v->status = UP_NOT_FOUND;
		break;
	case 413:
		/* A proxy refused the body unread: a half may pass. */
		v->status = UP_QUERY_ERROR;
		v->too_large = 1;
		break;
	case 429:
	case 503:
		v->retry = 1;
		v->cause = UP_C_OVERLOAD;
		v->lim = LIM_OVERLOAD;
		break;
	case 502:
		v->retry = 1;
		if (msg && strstr(msg, "auth service")) {
			/* DatasetGateway is down, not neuPrint: no load signal. */
			v->cause = UP_C_AUTHSVC;
			v->lim = LIM_ERROR;
		} else {
			v->cause = UP_C_5XX;
			v->lim = LIM_OVERLOAD;
		}
		break;
	case 504:
		/* The proxy stopped waiting; neuPrint did not stop the query. */
		abandoned(v);
		break;
	default:
		if (status >= 500) {
			v->retry = 1;
			v->cause = UP_C_5XX;
			v->lim = LIM_ERROR;
		} else
			v->status = UP_UNAVAILABLE;
		break;
	}
}

void
up_classify(const struct up_attempt *a, struct up_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (a->send_rc < 0) {
		/* Nothing reached the server; what failed here fails again. */
		v->lim = LIM_DROPPED;
		v->status = UP_UNAVAILABLE;
	} else if (a->fail != HTTP_OK)
		classify_transport(a, v);
	else if (a->status != 200)
		classify_status(a->status, a->message, v);
	else if (a->body_rc == -EBADMSG) {
		/* Truncated or garbled on the way: the next copy may be whole. */
		v->retry = 1;
		v->cause = UP_C_BADBODY;
		v->lim = LIM_ERROR;
	} else if (a->body_rc < 0) {
		/* 200 with {"error": ...}: the server refused the query. */
		v->lim = LIM_OK;
		classify_db(a->message, v);
	} else
		v->status = UP_OK;
	assert(!(v->retry && v->hold));	/* what may still run is not resent */
}

const char *
up_status_text(enum up_status s)
{
	switch (s) {
	case UP_OK:
		return "ok";
	case UP_QUERY_ERROR:
		return "neuPrint rejected the query";
	case UP_AUTH:
		return "neuPrint refused access";
	case UP_NOT_FOUND:
		return "neuPrint does not know the dataset";
	case UP_PROXY:
		return "the proxy refused the tunnel to neuPrint";
	default:
		return "neuPrint is unavailable";
	}
}

int
up_status_errno(enum up_status s)
{
	switch (s) {
	case UP_OK:
		return 0;
	case UP_QUERY_ERROR:
		return -EBADMSG;
	case UP_AUTH:
		return -EACCES;
	case UP_NOT_FOUND:
		return -ENOENT;
	case UP_PROXY:
		return -ECONNREFUSED;
	default:
		return -EHOSTUNREACH;
	}
}

/* ---- completion ---- */

/* Run Q's callback and free Q; what the callback returns is the answer's work. */
static double
complete(struct up_query *q, enum up_status s, struct cy_result *rows,
    const struct up_verdict *v, const char *error)
{
	double work;

	/* A query is answered once: never from IN_CB, never after a cancel. */
	assert(q->state == Q_FLYING || q->state == Q_DONE);
	if (s != UP_OK && q->st)
		q->st->failed++;
	q->state = Q_IN_CB;
	work = q->cb(q->arg, &(struct up_result){ .status = s, .rows = rows,
	    .timeout = v ? v->timeout : 0, .too_large = v ? v->too_large : 0,
	    .error = error });
	query_free(q);
	return work;
}

/* Deliver Q's failure from the loop, not from the caller's stack. */
static void
defer_failure(struct up_query *q, enum up_status s)
{
	struct upstream *u = q->u;

	assert(q->state == Q_QUEUED);	/* its send failed: it never flew */
	q->state = Q_DONE;
	q->status = s;
	TAILQ_INSERT_TAIL(&u->done, q, entry);
	clk_timer_start(&u->clk, u->defer, 0);
}

static void
run_done(void *arg)
{
	struct upstream *u = arg;
	struct up_query *q;

	assert(!u->dispatching);	/* from the loop, not from inside a call */
	/* A callback may cancel others on the list: take one at a time. */
	while ((q = TAILQ_FIRST(&u->done)) != NULL) {
		assert(q->state == Q_DONE);	/* the done list holds DONE only */
		TAILQ_REMOVE(&u->done, q, entry);
		complete(q, q->status, NULL, NULL, q->error);
	}
}

static void
schedule_retry(struct up_query *q, enum up_cause cause, double retry_after)
{
	struct upstream *u = q->u;
	double d;

	assert(q->state == Q_FLYING && q->attempt >= 1);	/* after an answer */
	d = u->o.backoff_base_s * pow(2, q->attempt - 1);
	if (d > u->o.backoff_max_s)
		d = u->o.backoff_max_s;
	d = d / 2 + d / 2 * jitter(u);		/* "equal jitter" */
	if (retry_after > d)
		d = retry_after;
	q->not_before = now_s(u) + d;
	if (q->st)
		q->st->retries[cause]++;
	q->state = Q_QUEUED;
	TAILQ_INSERT_TAIL(&u->waiting, q, entry);
}

/* The server's own text for a non-200 answer, into MSG. */
static void
server_text(const struct http_response *r, char *msg, size_t len)
{
	struct cy_result res;
	int rc;

	/* neuPrint says {"error": ...}; a proxy may answer with HTML. */
	rc = cy_parse(r->body, r->len, &res, msg, len);
	if (rc == 0)
		cy_result_free(&res);
	if (rc != -EPROTO)
		snprintf(msg, len, "%s", r->status == 401 ? "token refused" :
		    "no error text");
}

static const double rtt_bounds[UP_RTT_BUCKETS] = {
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
};

double
up_rtt_bound(unsigned i)
{
	return i < UP_RTT_BUCKETS ? rtt_bounds[i] : INFINITY;
}

static void
rtt_count(struct up_stats *st, double rtt_s)
{
	unsigned i = 0;

	while (i < UP_RTT_BUCKETS && rtt_s > rtt_bounds[i])
		i++;
	st->rtt_hist[i]++;
	st->rtt_sum_s += rtt_s;
}

static void
http_done(void *arg, const struct http_response *r)
{
	struct up_query *q = arg;
	struct upstream *u = q->u;
	struct up_attempt at = { .fail = r->fail, .status = r->status,
	    .proxy_status = r->proxy_status };
	struct up_verdict v;
	struct lim_answer ans = { .rtt_s = r->elapsed_s, .kind = q->kind };
	struct cy_result res;
	char msg[256] = "";

	/* The transport answers once, from the loop, never after a cancel. */
	assert(q->state == Q_FLYING && q->req != NULL && !u->dispatching);
	q->req = NULL;
	TAILQ_REMOVE(&u->flying, q, entry);
	if (q->st)
		q->st->bytes_in += r->len;
	at.started = r->ttfb_s > 0;
	if (r->fail != HTTP_OK)
		snprintf(q->error, sizeof(q->error), "%s",
		    r->error ? r->error : "transport failure");
	else if (r->status == 200) {
		at.body_rc = cy_parse(r->body, r->len, &res, msg, sizeof(msg));
		at.message = msg;
		if (at.body_rc == -EBADMSG)
			snprintf(q->error, sizeof(q->error),
			    "malformed answer: %s", msg);
		else if (at.body_rc < 0)
			snprintf(q->error, sizeof(q->error), "%s", msg);
	} else {
		server_text(r, msg, sizeof(msg));
		at.message = msg;
		snprintf(q->error, sizeof(q->error), "HTTP %ld: %s",
		    r->status, msg);
	}
	up_classify(&at, &v);
	if (q->st) {
		q->st->rtt[q->st->nrtt % UP_RTT_SAMPLES] = (struct up_rtt){
			.t = up_clock(u), .rtt_s = r->elapsed_s };
		q->st->nrtt++;
		rtt_count(q->st, r->elapsed_s);
	}
	if (v.status == UP_OK && !v.retry) {
		/* Only the caller can say what the answer covered. */
		ans.work = complete(q, UP_OK, &res, NULL, NULL);
		cy_result_free(&res);
		lim_release(u->lim, v.lim, &ans, now_s(u));
		dispatch(u);
		return;
	}
	lim_release(u->lim, v.lim, &ans, now_s(u));
	if (r->retry_after_s > 0 && v.lim == LIM_OVERLOAD)
		lim_pause(u->lim, r->retry_after_s, now_s(u));
	if (v.hold) {
		size_t n = strlen(q->error);

		if (q->st)
			q->st->timeouts++;
		hold_add(q);
		snprintf(q->error + n, sizeof(q->error) - n, " (abandoned "
		    "unanswered: the server may still be running it)");
	}
	if (v.retry && q->attempt <= u->o.max_retries)
		schedule_retry(q, v.cause, r->retry_after_s);
	else if (v.retry) {
		char why[sizeof(q->error) + 120];

		snprintf(why, sizeof(why), "%sgave up after %u attempts: %s",
		    v.cause == UP_C_AUTHSVC ? "the authentication service "
		    "(DatasetGateway) is unavailable: " : "", q->attempt,
		    q->error);
		complete(q, UP_UNAVAILABLE, NULL, NULL, why);
	} else
		complete(q, v.status, NULL, &v, q->error);
	dispatch(u);
}

/* 0, or the transport's negative errno with Q's error saying so. */
static int
send_query(struct up_query *q)
{
	struct upstream *u = q->u;
	int rc;

	assert(q->state == Q_QUEUED && q->req == NULL);	/* off the waiting list */
	q->attempt++;
	q->sent_at = now_s(u);
	rc = u->tr.post(u->tr.ctx, u->url, q->token, q->body, q->len,
	    http_done, q, &q->req);
	if (rc < 0) {
		snprintf(q->error, sizeof(q->error), "cannot send the query: "
		    "%s%s", strerror(-rc), rc == -EINVAL ? " (the server "
		    "address is not https:// or the token holds characters an "
		    "HTTP header cannot carry)" : "");
		return rc;
	}
	if (q->st)
		q->st->attempts++;
	assert(q->req != NULL);		/* a sent request has the transport's handle */
	q->state = Q_FLYING;
	TAILQ_INSERT_TAIL(&u->flying, q, entry);
	return 0;
}

/* Arm the timer for the earliest moment a waiting query could go. */
static void
arm_timer(struct upstream *u, double now)
{
	struct up_query *q;
	double next = INFINITY, pause;

	pause = lim_pause_left(u->lim, now);
	TAILQ_FOREACH(q, &u->waiting, entry) {
		double t = q->not_before > now + pause ? q->not_before :
		    now + pause;
		if (t < next)
			next = t;
	}
	clk_timer_stop(&u->clk, u->timer);
	if (next > now && next != INFINITY)
		clk_timer_start(&u->clk, u->timer, next - now);
}

/*
 * Send waiting queries, oldest first, while the limiter gives slots. It
 * runs inside up_submit and up_cancel, so it never calls a callback: a
 * query that cannot be sent is delivered from the loop.
 */
static void
dispatch(struct upstream *u)
{
	struct up_query *q, *next;
	struct up_verdict v;
	double now, until;
	int rc;

	if (u->dispatching || u->closing)
		return;		/* re-entered, or going away */
	u->dispatching = 1;
	now = now_s(u);
	for (q = TAILQ_FIRST(&u->waiting); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		assert(q->state == Q_QUEUED);	/* a query is in exactly one list */
		if (q->not_before > now)
			continue;
		if (!TAILQ_EMPTY(&u->holds) &&
		    (until = hold_until(u, q, now)) > now) {
			/* Never two copies of one query on the server. */
			if (!q->held && q->st)
				q->st->held++;
			q->held = 1;
			q->not_before = until;
			continue;
		}
		if (!lim_acquire(u->lim, now))
			break;
		TAILQ_REMOVE(&u->waiting, q, entry);
		if ((rc = send_query(q)) < 0) {
			up_classify(&(struct up_attempt){ .send_rc = rc }, &v);
			lim_release(u->lim, v.lim, NULL, now);
			defer_failure(q, v.status);
		}
	}
	if (!TAILQ_EMPTY(&u->waiting))
		arm_timer(u, now);
	u->dispatching = 0;
}

const char *
up_cause_name(enum up_cause c)
{
	static const char *const names[UP_NCAUSES] = {
		"overload", "5xx", "reset", "timeout", "badbody", "connect",
		"transient", "busy", "auth",
	};
	return c < UP_NCAUSES ? names[c] : "?";
}

unsigned long
up_retries(const struct up_stats *st)
{
	unsigned long n = 0;
	int i;

	for (i = 0; i < UP_NCAUSES; i++)
		n += st->retries[i];
	return n;
}

double
up_clock(const struct upstream *u)
{
	return now_s(u) - u->born;
}

unsigned
up_limit(const struct upstream *u)
{
	return lim_limit(u->lim);
}

unsigned
up_in_flight(const struct upstream *u)
{
	return lim_in_flight(u->lim);
}

size_t
up_queued(const struct upstream *u)
{
	struct up_query *q;
	size_t n = 0;

	TAILQ_FOREACH(q, &u->waiting, entry)
		n++;
	return n;
}

const struct limiter *
up_limiter(const struct upstream *u)
{
	return u->lim;
}
