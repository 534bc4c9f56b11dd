/*
 * upstream: the queries of every job for one neuPrint server, through one
 * limiter and one connection pool. See upstream.h.
 */
#include <sys/queue.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "limiter.h"
#include "upstream.h"

#define CUSTOM_PATH	"/api/custom/custom"

struct up_query {
	TAILQ_ENTRY(up_query) entry;
	struct upstream	*u;
	char		*token;
	char		*body;
	size_t		 len;
	unsigned	 kind;		/* for the limiter */
	struct up_stats	*st;
	up_cb		 cb;
	void		*arg;
	struct http_req	*req;		/* non-NULL while in flight */
	unsigned	 attempt;	/* attempts made so far */
	double		 not_before;	/* loop seconds; retry backoff */
	char		 last_error[200];
};

TAILQ_HEAD(up_queue, up_query);

struct upstream {
	uv_loop_t	*loop;
	struct http_client *http;
	struct limiter	*lim;
	char		*url;
	struct upstream_opts o;
	struct up_queue	 waiting;	/* FIFO, oldest first */
	struct up_queue	 flying;
	uv_timer_t	*timer;		/* wakes the queue after a pause or backoff */
	double		 born;		/* now_s() when made: lim_trace's zero */
	uint64_t	 rng;
	int		 dispatching;
};

static void	dispatch(struct upstream *);
static double	deliver(struct up_query *, enum up_status, struct cy_result *,
		    int, const char *);
static void	finish(struct up_query *, enum up_status, struct cy_result *,
		    int, const char *);

static double
now_s(const struct upstream *u)
{
	return (double)uv_now(u->loop) / 1000.0;
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

static void
timer_cb(uv_timer_t *t)
{
	dispatch(t->data);
}

static void
timer_closed(uv_handle_t *h)
{
	free(h);
}

int
upstream_new(uv_loop_t *loop, const struct upstream_opts *o,
    struct upstream **out)
{
	struct http_opts ho = { 0 };
	struct upstream *u;
	int rc;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	u->loop = loop;
	u->o = *o;
	if (u->o.backoff_base_s <= 0)
		u->o.backoff_base_s = 0.25;
	if (u->o.backoff_max_s <= 0)
		u->o.backoff_max_s = 8;
	TAILQ_INIT(&u->waiting);
	TAILQ_INIT(&u->flying);
	u->rng = uv_hrtime() | 1;
	u->timer = malloc(sizeof(*u->timer));
	if (asprintf(&u->url, "%s%s", o->server, CUSTOM_PATH) < 0)
		u->url = NULL;
	if (u->timer == NULL || u->url == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	uv_timer_init(loop, u->timer);
	u->timer->data = u;
	ho.ca_file = o->ca_file;
	ho.connect_timeout_ms = o->connect_timeout_ms;
	ho.total_timeout_ms = o->request_timeout_ms;
	ho.low_speed_time_s = o->low_speed_time_s;
	ho.max_host_connections = o->lim_max;
	if ((rc = http_client_new(loop, &ho, &u->http)) < 0)
		goto fail_timer;
	u->born = now_s(u);
	if ((rc = lim_new(o->lim_min, o->lim_initial, o->lim_max, now_s(u),
	    &u->lim)) < 0)
		goto fail_timer;
	*out = u;
	return 0;
fail_timer:
	uv_close((uv_handle_t *)u->timer, timer_closed);
	u->timer = NULL;
fail:
	if (u->http)
		http_client_close(u->http);
	free(u->timer);
	free(u->url);
	free(u);
	return rc;
}

void
upstream_free(struct upstream *u)
{
	struct up_query *q;

	if (u == NULL)
		return;
	while ((q = TAILQ_FIRST(&u->flying)) != NULL)
		up_cancel(q);
	while ((q = TAILQ_FIRST(&u->waiting)) != NULL)
		up_cancel(q);
	uv_timer_stop(u->timer);
	uv_close((uv_handle_t *)u->timer, timer_closed);
	http_client_close(u->http);
	lim_free(u->lim);
	free(u->url);
	free(u);
}

static void
query_free(struct up_query *q)
{
	if (q->token) {
		/* The token is a credential: do not leave it in freed memory. */
		explicit_bzero(q->token, strlen(q->token));
		free(q->token);
	}
	free(q->body);
	free(q);
}

int
up_submit(struct upstream *u, const char *token, const char *body,
    size_t len, unsigned kind, struct up_stats *st, up_cb cb, void *arg,
    struct up_query **out)
{
	struct up_query *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->u = u;
	q->token = strdup(token ? token : "");
	q->body = malloc(len + 1);
	if (q->token == NULL || q->body == NULL) {
		query_free(q);
		return -ENOMEM;
	}
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
	return 0;
}

void
up_cancel(struct up_query *q)
{
	struct upstream *u = q->u;

	if (q->req) {
		http_cancel(q->req);
		q->req = NULL;
		lim_release(u->lim, LIM_DROPPED, NULL, now_s(u));
		TAILQ_REMOVE(&u->flying, q, entry);
	} else
		TAILQ_REMOVE(&u->waiting, q, entry);
	q->cb(q->arg, &(struct up_result){ .status = UP_CANCELLED,
	    .error = "cancelled" });
	query_free(q);
}

/* Outcome of one attempt, as the limiter and the retry policy see it. */
struct verdict {
	enum lim_outcome lim;
	int		 retry;		/* 1: try again; cause says why */
	enum up_cause	 cause;
	enum up_status	 status;	/* when not retried */
	int		 server_timeout;
};

static int
is_query_timeout(const char *msg)
{
	return msg && (strstr(msg, "timed out") || strstr(msg, "Timeout") ||
	    strstr(msg, "timeout"));
}

static void
judge_transport(const struct http_response *r, struct verdict *v)
{
	v->retry = 1;
	v->lim = LIM_ERROR;
	switch (r->fail) {
	case HTTP_ERR_TIMEOUT:
		v->cause = UP_C_TIMEOUT;
		v->lim = LIM_TIMEOUT;
		break;
	case HTTP_ERR_CONNECT:
		v->cause = UP_C_CONNECT;
		break;
	case HTTP_ERR_TLS:
		/* A certificate that fails now will fail on every retry. */
		v->retry = 0;
		v->status = UP_UNAVAILABLE;
		break;
	default:
		v->cause = UP_C_RESET;
		break;
	}
}

static void
judge_status(long status, struct verdict *v)
{
	v->lim = LIM_OK;
	v->retry = 0;
	switch (status) {
	case 400:
		v->status = UP_QUERY_ERROR;
		break;
	case 401:
	case 403:
		v->status = UP_AUTH;
		break;
	case 404:
		v->status = UP_NOT_FOUND;
		break;
	case 429:
	case 503:
		v->retry = 1;
		v->cause = UP_C_OVERLOAD;
		v->lim = LIM_OVERLOAD;
		break;
	case 502:
	case 504:
		v->retry = 1;
		v->cause = UP_C_5XX;
		v->lim = LIM_OVERLOAD;
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

static void
schedule_retry(struct up_query *q, enum up_cause cause, double retry_after)
{
	struct upstream *u = q->u;
	double d;

	d = u->o.backoff_base_s * pow(2, q->attempt - 1);
	if (d > u->o.backoff_max_s)
		d = u->o.backoff_max_s;
	d = d / 2 + d / 2 * jitter(u);		/* "equal jitter" */
	if (retry_after > d)
		d = retry_after;
	q->not_before = now_s(u) + d;
	if (q->st)
		q->st->retries[cause]++;
	TAILQ_INSERT_TAIL(&u->waiting, q, entry);
}

static void
http_done(void *arg, const struct http_response *r)
{
	struct up_query *q = arg;
	struct upstream *u = q->u;
	struct verdict v = { 0 };
	struct lim_answer ans = { 0 };
	struct cy_result res;
	char msg[160] = "";
	int rc = 0;

	q->req = NULL;
	TAILQ_REMOVE(&u->flying, q, entry);
	if (q->st) {
		q->st->bytes_in += r->len;
		q->st->busy_s += r->elapsed_s;
	}
	if (r->fail != HTTP_OK) {
		judge_transport(r, &v);
		snprintf(q->last_error, sizeof(q->last_error), "%s",
		    r->error ? r->error : "transport failure");
	} else if (r->status == 200) {
		rc = cy_parse(r->body, r->len, &res, msg, sizeof(msg));
		if (rc == -EBADMSG) {
			v.retry = 1;
			v.cause = UP_C_BADBODY;
			v.lim = LIM_ERROR;
			snprintf(q->last_error, sizeof(q->last_error),
			    "malformed answer: %s", msg);
		} else if (rc < 0) {
			v.status = UP_QUERY_ERROR;
			snprintf(q->last_error, sizeof(q->last_error), "%s", msg);
		}
	} else {
		judge_status(r->status, &v);
		/* neuPrint says {"error": ...}; a proxy may answer with HTML. */
		rc = cy_parse(r->body, r->len, &res, msg, sizeof(msg));
		if (rc == 0)
			cy_result_free(&res);
		if (rc != -EPROTO)
			snprintf(msg, sizeof(msg), "%s", r->status == 401 ?
			    "token refused" : "no error text");
		rc = 0;
		snprintf(q->last_error, sizeof(q->last_error), "HTTP %ld: %s",
		    r->status, msg);
		if (r->status == 400 && is_query_timeout(msg)) {
			v.server_timeout = 1;
			v.lim = LIM_TIMEOUT;
		}
	}
	ans.rtt_s = r->elapsed_s;
	ans.kind = q->kind;
	if (q->st) {
		q->st->rtt[q->st->nrtt % UP_RTT_SAMPLES] = (struct up_rtt){
			.t = up_clock(u), .rtt_s = r->elapsed_s };
		q->st->nrtt++;
	}
	if (!v.retry && r->fail == HTTP_OK && r->status == 200 && rc == 0) {
		/* Only the caller can say what the answer covered. */
		ans.work = deliver(q, UP_OK, &res, 0, NULL);
		cy_result_free(&res);
		query_free(q);
		lim_release(u->lim, v.lim, &ans, now_s(u));
		dispatch(u);
		return;
	}
	lim_release(u->lim, v.lim, &ans, now_s(u));
	if (r->retry_after_s > 0 && v.lim == LIM_OVERLOAD)
		lim_pause(u->lim, r->retry_after_s, now_s(u));

	if (v.retry && q->attempt <= u->o.max_retries) {
		schedule_retry(q, v.cause, r->retry_after_s);
	} else if (v.retry) {
		char why[240];

		snprintf(why, sizeof(why), "gave up after %u attempts: %s",
		    q->attempt, q->last_error);
		finish(q, UP_UNAVAILABLE, NULL, 0, why);
	} else
		finish(q, v.status, NULL, v.server_timeout, q->last_error);
	dispatch(u);
}

/* Run the callback; what it returns is the answer's work. */
static double
deliver(struct up_query *q, enum up_status s, struct cy_result *rows,
    int server_timeout, const char *error)
{
	if (s != UP_OK && q->st)
		q->st->failed++;
	return q->cb(q->arg, &(struct up_result){ .status = s, .rows = rows,
	    .server_timeout = server_timeout, .error = error });
}

static void
finish(struct up_query *q, enum up_status s, struct cy_result *rows,
    int server_timeout, const char *error)
{
	deliver(q, s, rows, server_timeout, error);
	query_free(q);
}

static int
send_query(struct up_query *q)
{
	struct upstream *u = q->u;
	int rc;

	q->attempt++;
	if (q->st)
		q->st->attempts++;
	rc = http_post(u->http, u->url, q->token, q->body, q->len, http_done,
	    q, &q->req);
	if (rc < 0)
		return rc;
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
	uv_timer_stop(u->timer);
	if (next > now && next != INFINITY)
		uv_timer_start(u->timer, timer_cb,
		    (uint64_t)ceil((next - now) * 1000.0), 0);
}

/* Send waiting queries, oldest first, while the limiter gives slots. */
static void
dispatch(struct upstream *u)
{
	struct up_query *q, *next;
	double now;

	if (u->dispatching)
		return;		/* re-entered from a callback */
	u->dispatching = 1;
	uv_update_time(u->loop);
	now = now_s(u);
	for (q = TAILQ_FIRST(&u->waiting); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (q->not_before > now)
			continue;
		if (!lim_acquire(u->lim, now))
			break;
		TAILQ_REMOVE(&u->waiting, q, entry);
		if (send_query(q) < 0) {
			lim_release(u->lim, LIM_DROPPED, NULL, now);
			finish(q, UP_UNAVAILABLE, NULL, 0,
			    "out of memory sending a query");
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

void
up_http_stats(const struct upstream *u, struct http_stats *s)
{
	http_get_stats(u->http, s);
}
