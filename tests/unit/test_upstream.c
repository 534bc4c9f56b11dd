/*
 * upstream tests on simulated time (fakenp.h): a fake transport answers as
 * a script says, the upstream's timers run on the scheduler's clock, so
 * backoff, Retry-After and cancellation are checked at exact times.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakenp.h"
#include "neuprint/limiter.h"
#include "neuprint/upstream.h"
#include "base/xmalloc.h"

#define ROWS	"{\"columns\": [\"n\"], \"data\": [[1], [2]]}"

/*
 * A scripted server: answer i of the script to request i, the last after.
 * A step with a transport failure and status 200 failed after the answer
 * had begun (a stalled body), as curl's STARTTRANSFER_TIME tells.
 */
struct step {
	long		 status;
	const char	*body;
	double		 delay;
	double		 retry_after;
	int		 send_rc;
	enum http_fail	 fail;
};

struct script {
	const struct step *v;
	size_t		 n, next;
};

static void
scripted(void *arg, const char *body, size_t len, double now,
    struct fake_answer *a)
{
	struct script *s = arg;
	const struct step *st = &s->v[s->next < s->n ? s->next : s->n - 1];

	(void)body;
	(void)len;
	(void)now;
	s->next++;
	a->status = st->status;
	a->body = st->body ? xstrdup(st->body) : NULL;
	a->delay_s = st->delay > 0 ? st->delay : 0.01;
	a->retry_after_s = st->retry_after;
	a->send_rc = st->send_rc;
	a->fail = st->fail;
	a->started = st->fail != HTTP_OK && st->status == 200;
}

/* What a callback saw. */
struct seen {
	int		 calls;
	enum up_status	 status;
	int		 timeout;
	size_t		 nrows;
	double		 t;
	char		 error[400];
	struct up_query	*cancel;	/* cancel this from the callback */
	struct sim	*sim;
};

static int in_call;		/* set while up_submit / up_cancel run */

static double
record(void *arg, const struct up_result *r)
{
	struct seen *s = arg;

	assert_int_equal(in_call, 0);	/* never inside up_submit/up_cancel */
	s->calls++;
	s->status = r->status;
	s->timeout = r->timeout;
	s->nrows = r->status == UP_OK ? r->rows->nrows : 0;
	s->t = s->sim ? sim_now(s->sim) : 0;
	snprintf(s->error, sizeof(s->error), "%s", r->error ? r->error : "");
	if (s->cancel) {
		in_call = 1;
		up_cancel(s->cancel);
		in_call = 0;
	}
	return 2;
}

static struct up_query *
submit(struct upstream *u, struct up_stats *st, struct seen *s)
{
	struct up_query *q = NULL;
	char *body = fake_body("MATCH (n) RETURN n");

	in_call = 1;
	up_submit(u, "tok", body, strlen(body), CY_OTHER, st, record, s, &q);
	in_call = 0;
	free(body);
	assert_non_null(q);
	return q;
}

static void
cancel(struct up_query *q)
{
	in_call = 1;
	up_cancel(q);
	in_call = 0;
}

static void
run(struct sim *s)
{
	while (sim_step(s))
		;
}

struct rig {
	struct sim	*sim;
	struct script	 sc;
	struct fake_tr	*tr;
	struct upstream	*up;
};

static void
rig_init(struct rig *r, const struct step *v, size_t n, unsigned linit,
    unsigned retries)
{
	memset(r, 0, sizeof(*r));
	r->sim = sim_new(0);
	r->sc.v = v;
	r->sc.n = n;
	r->tr = fake_tr_new(r->sim, scripted, &r->sc);
	r->up = fake_upstream(r->sim, r->tr, 1, linit, 64, retries);
}

static void
rig_free(struct rig *r)
{
	upstream_free(r->up);
	fake_tr_free(r->tr);
	sim_free(r->sim);
}

#define N(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_answer_later(void **state)
{
	static const struct step v[] = { { 200, ROWS, 0.3, 0, 0, 0 } };
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	s.sim = r.sim;
	submit(r.up, &st, &s);
	assert_int_equal(s.calls, 0);
	assert_int_equal(up_in_flight(r.up), 1);
	run(r.sim);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, UP_OK);
	assert_int_equal(s.nrows, 2);
	assert_true(s.t == 0.3);
	assert_int_equal(st.queries, 1);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(up_retries(&st), 0);
	assert_int_equal(up_in_flight(r.up), 0);
	rig_free(&r);
}

/* A send that fails comes back from the loop, with the transport's reason. */
static void
test_send_failure_deferred(void **state)
{
	static const struct step v[] = { { 0, NULL, 0, 0, -EINVAL, 0 } };
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	submit(r.up, &st, &s);
	assert_int_equal(s.calls, 0);		/* not inside up_submit */
	assert_int_equal(up_in_flight(r.up), 0);	/* the slot is back */
	run(r.sim);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, UP_UNAVAILABLE);
	assert_non_null(strstr(s.error, strerror(EINVAL)));
	assert_non_null(strstr(s.error, "token"));
	assert_null(strstr(s.error, "memory"));
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.attempts, 0);	/* nothing went out */
	rig_free(&r);
}

/* Equal jitter: retry k waits in [d/2, d], d = 0.25 * 2^(k-1). */
static void
test_backoff_times(void **state)
{
	static const struct step v[] = {
		{ 503, "{\"error\": \"busy\"}", 0.01, 0, 0, 0 },
		{ 500, "<html>oops</html>", 0.01, 0, 0, 0 },
		{ 0, NULL, 0.01, 0, 0, HTTP_ERR_RESET },
		{ 200, ROWS, 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };
	const struct fake_post *p;
	double d = 0.25, wait;
	size_t i, n;

	(void)state;
	rig_init(&r, v, N(v), 4, 6);
	s.sim = r.sim;
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, UP_OK);
	n = fake_tr_posts(r.tr, &p);
	assert_int_equal(n, 4);
	for (i = 1; i < n; i++, d *= 2) {
		wait = p[i].t - (p[i - 1].t + 0.01);
		print_message("retry %zu after %.3f s (bounds %.3f..%.3f)\n", i,
		    wait, d / 2, d);
		assert_true(wait >= d / 2 - 1e-9 && wait <= d + 1e-9);
	}
	assert_int_equal(st.attempts, 4);
	assert_int_equal(st.retries[UP_C_OVERLOAD], 1);
	assert_int_equal(st.retries[UP_C_5XX], 1);
	assert_int_equal(st.retries[UP_C_RESET], 1);
	assert_int_equal(st.failed, 0);
	rig_free(&r);
}

struct later {
	struct upstream	*up;
	struct up_stats	*st;
	struct seen	*s;
};

static void
submit_later(void *arg)
{
	struct later *l = arg;

	submit(l->up, l->st, l->s);
}

/* Retry-After holds the query and every other one until it has passed. */
static void
test_retry_after(void **state)
{
	static const struct step v[] = {
		{ 503, "{\"error\": \"busy\"}", 0.01, 2.0, 0, 0 },
		{ 200, ROWS, 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s1 = { 0 }, s2 = { 0 };
	struct later l;
	const struct fake_post *p;

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	s1.sim = s2.sim = r.sim;
	submit(r.up, &st, &s1);
	l = (struct later){ r.up, &st, &s2 };
	sim_at(r.sim, 0.5, submit_later, &l);
	run(r.sim);
	assert_int_equal(s1.status, UP_OK);
	assert_int_equal(s2.status, UP_OK);
	assert_int_equal(fake_tr_posts(r.tr, &p), 3);
	assert_true(p[1].t >= 2.01 - 1e-9);	/* the retry */
	assert_true(p[2].t >= 2.01 - 1e-9);	/* the newcomer waited too */
	rig_free(&r);
}

static void
test_gives_up(void **state)
{
	static const struct step v[] = {
		{ 502, "{\"error\": \"bad gateway\"}", 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 2);
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, UP_UNAVAILABLE);
	assert_string_equal(s.error,
	    "gave up after 3 attempts: HTTP 502: bad gateway");
	assert_int_equal(st.attempts, 3);
	assert_int_equal(st.retries[UP_C_5XX], 2);
	assert_int_equal(st.failed, 1);
	rig_free(&r);
}

/* neuPrintHTTP 1.9.2's texts (api/custom/custom.go, storage/neuprintbolt). */
#define EXEC19	"failed to execute query: "
#define TIMEOUT_EXPERIENCED "Timeout experienced. This could be due to " \
	"database traffic or to non-optimal database queries. If the latter, " \
	"please consult neuPrint documentation or post a question at " \
	"https://groups.google.com/forum/#!forum/neuprint to understand " \
	"other options."
#define TRANSIENT19 EXEC19 "TransactionExecutionLimit: timeout (exceeded " \
	"max retry time: 30s) after 4 attempts, last error: Neo4jError: " \
	"Neo.TransientError.General.MemoryPoolOutOfMemoryError (The " \
	"allocation of an extra 2.0 MiB would use more than the limit)"
#define DEADLOCK19 EXEC19 "Neo4jError: " \
	"Neo.TransientError.Transaction.DeadlockDetected (ForsetiClient...)"
#define TXTIMEOUT19 EXEC19 "Neo4jError: " \
	"Neo.ClientError.Transaction.TransactionTimedOut (The transaction has " \
	"not completed within the specified timeout (db.transaction.timeout).)"
#define SYNTAX19 EXEC19 "Neo4jError: Neo.ClientError.Statement.SyntaxError " \
	"(Invalid input 'X')"
#define POOL17	"Timeout while waiting for connection to any of " \
	"[[localhost:7687]]: context deadline exceeded"

/* Final statuses: not retried, the server's text reaches the caller. */
static void
one_final(long status, const char *body, enum up_status want,
    const char *error, int timeout)
{
	const struct step v[] = { { status, body, 0.01, 0, 0, 0 } };
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	rig_init(&r, v, N(v), 4, 5);
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, want);
	assert_string_equal(s.error, error);
	assert_int_equal(s.timeout, timeout);
	assert_int_equal(st.attempts, 1);
	rig_free(&r);
}

static void
test_final_statuses(void **state)
{
	(void)state;
	one_final(400, "{\"error\": \"Invalid input 'X'\"}", UP_QUERY_ERROR,
	    "HTTP 400: Invalid input 'X'", 0);
	one_final(400, "{\"error\": \"The transaction has timed out\"}",
	    UP_QUERY_ERROR, "HTTP 400: The transaction has timed out", 1);
	one_final(401, "", UP_AUTH, "HTTP 401: token refused", 0);
	one_final(403, "{\"error\": \"no access\"}", UP_AUTH,
	    "HTTP 403: no access", 0);
	one_final(404, "<html/>", UP_NOT_FOUND, "HTTP 404: no error text", 0);
	one_final(200, "{\"error\": \"bad\"}", UP_QUERY_ERROR, "bad", 0);
	/* DatasetGateway (neuPrintHTTP 1.8+, secure/dsg.go) */
	one_final(401, "{\"message\":\"invalid or expired token\"}", UP_AUTH,
	    "HTTP 401: invalid or expired token", 0);
	one_final(403, "{\"dataset\":\"cns\",\"message\":\"Terms of Service "
	    "acceptance required for this dataset\",\"tos_required\":true,"
	    "\"tos_url\":\"https://dsg.example/tos/cns\"}", UP_AUTH,
	    "HTTP 403: Terms of Service acceptance required for this dataset: "
	    "accept the terms of service at https://dsg.example/tos/cns", 0);
	one_final(403, "{\"message\":\"You do not have access to x dataset\"}",
	    UP_AUTH, "HTTP 403: You do not have access to x dataset", 0);
	/* 1.9: every database error is a 400 with the driver's text */
	one_final(400, "{\"error\":\"" TXTIMEOUT19 "\"}", UP_QUERY_ERROR,
	    "HTTP 400: " TXTIMEOUT19, 1);
	one_final(413, "<html><title>413 Request Entity Too Large</title></html>",
	    UP_QUERY_ERROR, "HTTP 413: no error text", 0);
}

/* The auth service down: retried, then reported as itself. */
static void
test_auth_service_down(void **state)
{
	static const struct step v[] = {
		{ 502, "{\"message\":\"auth service unavailable\"}", 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 2);
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.status, UP_UNAVAILABLE);
	assert_string_equal(s.error, "the authentication service "
	    "(DatasetGateway) is unavailable: gave up after 3 attempts: "
	    "HTTP 502: auth service unavailable");
	assert_int_equal(st.retries[UP_C_AUTHSVC], 2);
	assert_int_equal(up_retries(&st), 2);
	rig_free(&r);
}

/* Transient and busy 400s are retried with backoff, then the rows come. */
static void
test_transient_retried(void **state)
{
	static const struct step v[] = {
		{ 400, "{\"error\":\"" TRANSIENT19 "\"}", 0.01, 0, 0, 0 },
		{ 400, "{\"error\":\"" TIMEOUT_EXPERIENCED "\"}", 0.01, 0, 0, 0 },
		{ 200, ROWS, 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.status, UP_OK);
	assert_int_equal(st.retries[UP_C_TRANSIENT], 1);
	assert_int_equal(st.retries[UP_C_BUSY], 1);
	assert_int_equal(st.attempts, 3);
	rig_free(&r);
}

struct again {
	struct upstream	*u;
	struct up_stats	*st;
	struct seen	*first, *same, *other;
};

/* On the time-out: submit the same body again, and another one. */
static double
resubmit_both(void *arg, const struct up_result *r)
{
	struct again *g = arg;
	char *same = fake_body("MATCH (n) RETURN n");
	char *other = fake_body("MATCH (n) RETURN n LIMIT 1");

	record(g->first, r);
	up_submit(g->u, "tok", same, strlen(same), CY_OTHER,
	    g->st, record, g->same, NULL);
	up_submit(g->u, "tok", other, strlen(other), CY_OTHER,
	    g->st, record, g->other, NULL);
	free(same);
	free(other);
	return 0;
}

/*
 * Our time-out before any answer byte: the server may still run the
 * query. It ends as a time-out (the caller splits), and the same body is
 * not sent again before hold_s (default 3600 s) after it went; others go.
 */
static void
test_timeout_holds_identical(void **state)
{
	static const struct step v[] = {
		{ 0, NULL, 120, 0, 0, HTTP_ERR_TIMEOUT },
		{ 200, ROWS, 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen first = { 0 }, same = { 0 }, other = { 0 };
	struct again g = { 0 };
	const struct fake_post *p;
	char *body = fake_body("MATCH (n) RETURN n");

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	first.sim = same.sim = other.sim = r.sim;
	g = (struct again){ r.up, &st, &first, &same, &other };
	up_submit(r.up, "tok", body, strlen(body), CY_OTHER,
	    &st, resubmit_both, &g, NULL);
	free(body);
	run(r.sim);
	assert_int_equal(first.status, UP_QUERY_ERROR);
	assert_int_equal(first.timeout, 1);
	assert_non_null(strstr(first.error, "abandoned unanswered"));
	assert_true(first.t == 120);
	assert_int_equal(fake_tr_posts(r.tr, &p), 3);
	assert_true(p[1].t == 120);		/* the other body at once */
	assert_true(p[2].t >= 3600 - 1e-9);	/* the same one after the hold */
	assert_true(p[2].t < 3600 + 1);
	assert_int_equal(other.status, UP_OK);
	assert_int_equal(same.status, UP_OK);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.held, 1);
	assert_int_equal(up_retries(&st), 0);
	rig_free(&r);
}

/* A time-out after the answer began: the query is over, resend it. */
static void
test_stall_retried(void **state)
{
	static const struct step v[] = {
		{ 200, NULL, 30, 0, 0, HTTP_ERR_TIMEOUT },
		{ 200, ROWS, 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	s.sim = r.sim;
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.status, UP_OK);
	assert_int_equal(st.retries[UP_C_TIMEOUT], 1);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.held, 0);
	assert_true(s.t < 40);
	rig_free(&r);
}

static void
test_bad_body_retried(void **state)
{
	static const struct step v[] = {
		{ 200, "{\"columns\": [\"n\"], \"da", 0.01, 0, 0, 0 },
		{ 200, ROWS, 0.01, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	submit(r.up, &st, &s);
	run(r.sim);
	assert_int_equal(s.status, UP_OK);
	assert_int_equal(st.retries[UP_C_BADBODY], 1);
	rig_free(&r);
}

/* The classifier as a table: every row one decision. */
static void
test_classify(void **state)
{
	static const struct {
		struct up_attempt a;
		int		 retry;
		enum up_cause	 cause;
		enum lim_outcome lim;
		enum up_status	 status;
		int		 timeout, hold, too_large;
	} t[] = {
		{ { 0, HTTP_OK, 200, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_OK, 0, 0, 0 },
		{ { 0, HTTP_OK, 200, -EBADMSG, "x", 1, 0 }, 1, UP_C_BADBODY, LIM_ERROR, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 200, -EPROTO, "x", 1, 0 }, 0, 0, LIM_OK, UP_QUERY_ERROR, 0, 0, 0 },
		{ { 0, HTTP_OK, 200, -EPROTO, "timed out", 1, 0 }, 0, 0, LIM_TIMEOUT, UP_QUERY_ERROR, 1, 0, 0 },
		{ { 0, HTTP_OK, 200, -EPROTO, TRANSIENT19, 1, 0 }, 1, UP_C_TRANSIENT, LIM_OVERLOAD, 0, 0, 0, 0 },
		/* 400: by the database's words */
		{ { 0, HTTP_OK, 400, 0, "bad", 1, 0 }, 0, 0, LIM_OK, UP_QUERY_ERROR, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, SYNTAX19, 1, 0 }, 0, 0, LIM_OK, UP_QUERY_ERROR, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_QUERY_ERROR, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, TXTIMEOUT19, 1, 0 }, 0, 0, LIM_TIMEOUT, UP_QUERY_ERROR, 1, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, "transaction timed out", 1, 0 }, 0, 0, LIM_TIMEOUT, UP_QUERY_ERROR, 1, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, TRANSIENT19, 1, 0 }, 1, UP_C_TRANSIENT, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, DEADLOCK19, 1, 0 }, 1, UP_C_TRANSIENT, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, "Neo.TransientError.General.X: y", 1, 0 }, 1, UP_C_TRANSIENT, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, TIMEOUT_EXPERIENCED, 1, 0 }, 1, UP_C_BUSY, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, POOL17, 1, 0 }, 1, UP_C_BUSY, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 400, 0, "timed out waiting for a lock", 1, 0 }, 1, UP_C_BUSY, LIM_OVERLOAD, 0, 0, 0, 0 },
		/* DatasetGateway and the dataset */
		{ { 0, HTTP_OK, 401, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_AUTH, 0, 0, 0 },
		{ { 0, HTTP_OK, 403, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_AUTH, 0, 0, 0 },
		{ { 0, HTTP_OK, 404, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_NOT_FOUND, 0, 0, 0 },
		{ { 0, HTTP_OK, 502, 0, "auth service unavailable", 1, 0 }, 1, UP_C_AUTHSVC, LIM_ERROR, 0, 0, 0, 0 },
		/* a front proxy */
		{ { 0, HTTP_OK, 413, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_QUERY_ERROR, 0, 0, 1 },
		{ { 0, HTTP_OK, 418, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_UNAVAILABLE, 0, 0, 0 },
		{ { 0, HTTP_OK, 429, 0, NULL, 1, 0 }, 1, UP_C_OVERLOAD, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 503, 0, NULL, 1, 0 }, 1, UP_C_OVERLOAD, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 502, 0, NULL, 1, 0 }, 1, UP_C_5XX, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 502, 0, "bad gateway", 1, 0 }, 1, UP_C_5XX, LIM_OVERLOAD, 0, 0, 0, 0 },
		{ { 0, HTTP_OK, 504, 0, NULL, 1, 0 }, 0, 0, LIM_TIMEOUT, UP_QUERY_ERROR, 1, 1, 0 },
		{ { 0, HTTP_OK, 500, 0, NULL, 1, 0 }, 1, UP_C_5XX, LIM_ERROR, 0, 0, 0, 0 },
		/* transport */
		{ { 0, HTTP_ERR_TIMEOUT, 0, 0, NULL, 0, 0 }, 0, 0, LIM_TIMEOUT, UP_QUERY_ERROR, 1, 1, 0 },
		{ { 0, HTTP_ERR_TIMEOUT, 0, 0, NULL, 1, 0 }, 1, UP_C_TIMEOUT, LIM_TIMEOUT, 0, 0, 0, 0 },
		{ { 0, HTTP_ERR_CONNECT, 0, 0, NULL, 0, 0 }, 1, UP_C_CONNECT, LIM_ERROR, 0, 0, 0, 0 },
		{ { 0, HTTP_ERR_RESET, 0, 0, NULL, 0, 0 }, 1, UP_C_RESET, LIM_ERROR, 0, 0, 0, 0 },
		{ { 0, HTTP_ERR_OTHER, 0, 0, NULL, 0, 0 }, 1, UP_C_RESET, LIM_ERROR, 0, 0, 0, 0 },
		{ { 0, HTTP_ERR_TLS, 0, 0, NULL, 0, 0 }, 0, 0, LIM_ERROR, UP_UNAVAILABLE, 0, 0, 0 },
		/* an answer past max_answer_bytes: split, do not resend */
		{ { 0, HTTP_ERR_TOO_BIG, 0, 0, NULL, 1, 0 }, 0, 0, LIM_OK, UP_QUERY_ERROR, 0, 0, 1 },
		{ { -EINVAL, 0, 0, 0, NULL, 0, 0 }, 0, 0, LIM_DROPPED, UP_UNAVAILABLE, 0, 0, 0 },
		/*
		 * The HTTPS proxy answered CONNECT: nothing reached neuPrint.
		 * Its refusals are final, its 5xx a failure to connect.
		 */
		{ { 0, HTTP_ERR_PROXY, 0, 0, NULL, 0, 407 }, 0, 0, LIM_ERROR, UP_PROXY, 0, 0, 0 },
		{ { 0, HTTP_ERR_PROXY, 0, 0, NULL, 0, 401 }, 0, 0, LIM_ERROR, UP_PROXY, 0, 0, 0 },
		{ { 0, HTTP_ERR_PROXY, 0, 0, NULL, 0, 403 }, 0, 0, LIM_ERROR, UP_PROXY, 0, 0, 0 },
		{ { 0, HTTP_ERR_PROXY, 0, 0, NULL, 0, 502 }, 1, UP_C_CONNECT, LIM_ERROR, 0, 0, 0, 0 },
		{ { 0, HTTP_ERR_PROXY, 0, 0, NULL, 0, 500 }, 1, UP_C_CONNECT, LIM_ERROR, 0, 0, 0, 0 },
		/* a proxy's 504 to CONNECT: no tunnel, so no query to hold */
		{ { 0, HTTP_ERR_PROXY, 0, 0, NULL, 0, 504 }, 1, UP_C_CONNECT, LIM_ERROR, 0, 0, 0, 0 },
	};
	struct up_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		up_classify(&t[i].a, &v);
		print_message("row %zu: status %ld fail %d\n", i, t[i].a.status,
		    t[i].a.fail);
		assert_int_equal(v.retry, t[i].retry);
		assert_int_equal(v.lim, t[i].lim);
		if (v.retry)
			assert_int_equal(v.cause, t[i].cause);
		else
			assert_int_equal(v.status, t[i].status);
		assert_int_equal(v.timeout, t[i].timeout);
		assert_int_equal(v.hold, t[i].hold);
		assert_int_equal(v.too_large, t[i].too_large);
	}
	assert_int_equal(up_status_errno(UP_AUTH), -EACCES);
	assert_int_equal(up_status_errno(UP_NOT_FOUND), -ENOENT);
	assert_int_equal(up_status_errno(UP_UNAVAILABLE), -EHOSTUNREACH);
	assert_int_equal(up_status_errno(UP_PROXY), -ECONNREFUSED);
	assert_string_equal(up_status_text(UP_PROXY),
	    "the proxy refused the tunnel to neuPrint");
	assert_string_equal(up_status_text(UP_AUTH), "neuPrint refused access");
	assert_string_equal(up_cause_name(UP_C_TRANSIENT), "transient");
	assert_string_equal(up_cause_name(UP_C_BUSY), "busy");
	assert_string_equal(up_cause_name(UP_C_AUTHSVC), "auth");
}

/* Cancelled queued and in-flight queries never call back. */
static void
test_cancel(void **state)
{
	static const struct step v[] = { { 200, ROWS, 1.0, 0, 0, 0 } };
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
	struct up_query *q1, *q2;

	(void)state;
	rig_init(&r, v, N(v), 1, 3);	/* limit 1: the second one waits */
	q1 = submit(r.up, &st, &s1);
	q2 = submit(r.up, &st, &s2);
	assert_int_equal(up_in_flight(r.up), 1);
	assert_int_equal(up_queued(r.up), 1);
	cancel(q2);
	assert_int_equal(up_queued(r.up), 0);
	cancel(q1);
	assert_int_equal(fake_tr_cancels(r.tr), 1);
	assert_int_equal(up_in_flight(r.up), 0);
	/* The slot is free at once. */
	submit(r.up, &st, &s3);
	assert_int_equal(up_in_flight(r.up), 1);
	run(r.sim);
	assert_int_equal(s1.calls, 0);
	assert_int_equal(s2.calls, 0);
	assert_int_equal(s3.calls, 1);
	rig_free(&r);
}

/* A query whose failure waits for the loop can be cancelled too. */
static void
test_cancel_deferred_failure(void **state)
{
	static const struct step v[] = { { 0, NULL, 0, 0, -ESHUTDOWN, 0 } };
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s1 = { 0 }, s2 = { 0 };
	struct up_query *q2;

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	submit(r.up, &st, &s1);
	q2 = submit(r.up, &st, &s2);
	s1.cancel = q2;		/* the first failure's callback cancels the second */
	run(r.sim);
	assert_int_equal(s1.calls, 1);
	assert_non_null(strstr(s1.error, strerror(ESHUTDOWN)));
	assert_int_equal(s2.calls, 0);
	rig_free(&r);
}

/* A callback that cancels another query in flight, and one that cancels itself. */
static void
test_callback_cancels(void **state)
{
	static const struct step v[] = {
		{ 200, ROWS, 0.1, 0, 0, 0 },
		{ 200, ROWS, 0.5, 0, 0, 0 },
		{ 200, ROWS, 0.2, 0, 0, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
	struct up_query *q2, *q3;

	(void)state;
	rig_init(&r, v, N(v), 4, 3);
	submit(r.up, &st, &s1);
	q2 = submit(r.up, &st, &s2);
	q3 = submit(r.up, &st, &s3);
	s1.cancel = q2;
	s3.cancel = q3;		/* itself: its callback is running, so nothing */
	run(r.sim);
	assert_int_equal(s1.calls, 1);
	assert_int_equal(s2.calls, 0);
	assert_int_equal(s3.calls, 1);
	assert_int_equal(fake_tr_cancels(r.tr), 1);
	assert_int_equal(up_in_flight(r.up), 0);
	rig_free(&r);
}

/* Freeing the upstream drops what is outstanding without calling back. */
static void
test_free_outstanding(void **state)
{
	static const struct step v[] = {
		{ 200, ROWS, 1.0, 0, 0, 0 },
		{ 0, NULL, 0, 0, -EIO, 0 },
	};
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s1 = { 0 }, s2 = { 0 }, s3 = { 0 };

	(void)state;
	rig_init(&r, v, N(v), 2, 3);
	submit(r.up, &st, &s1);		/* in flight */
	submit(r.up, &st, &s2);		/* failed, waiting for the loop */
	submit(r.up, &st, &s3);		/* failed too: both slots were free */
	upstream_free(r.up);
	r.up = NULL;
	run(r.sim);
	assert_int_equal(s1.calls + s2.calls + s3.calls, 0);
	rig_free(&r);
}

static double
resubmit(void *arg, const struct up_result *r)
{
	struct later *l = arg;

	assert_int_equal(r->status, UP_OK);
	submit(l->up, l->st, l->s);
	return 0;
}

/* A callback may submit: the new query goes out from the callback. */
static void
test_submit_from_callback(void **state)
{
	static const struct step v[] = { { 200, ROWS, 0.1, 0, 0, 0 } };
	struct rig r;
	struct up_stats st = { 0 };
	struct seen s = { 0 };
	struct later l;
	char *body = fake_body("RETURN 1");

	(void)state;
	rig_init(&r, v, N(v), 1, 3);
	s.sim = r.sim;
	l = (struct later){ r.up, &st, &s };
	up_submit(r.up, "tok", body, strlen(body), CY_OTHER, &st, resubmit,
	    &l, NULL);
	free(body);
	run(r.sim);
	assert_int_equal(s.calls, 1);
	assert_true(s.t > 0.2 - 1e-9 && s.t < 0.2 + 1e-9);
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_later),
		cmocka_unit_test(test_send_failure_deferred),
		cmocka_unit_test(test_backoff_times),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_gives_up),
		cmocka_unit_test(test_final_statuses),
		cmocka_unit_test(test_auth_service_down),
		cmocka_unit_test(test_transient_retried),
		cmocka_unit_test(test_timeout_holds_identical),
		cmocka_unit_test(test_stall_retried),
		cmocka_unit_test(test_bad_body_retried),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_deferred_failure),
		cmocka_unit_test(test_callback_cancels),
		cmocka_unit_test(test_free_outstanding),
		cmocka_unit_test(test_submit_from_callback),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
