/*
 * upstream: one neuPrint server as the jobs see it. It owns the HTTP client
 * (connection pool) and the concurrency limiter, and queues the queries of
 * every job that talks to the server until the limiter gives them a slot.
 * Failed attempts that may succeed later (429, 5xx, resets, time-outs, bad
 * bodies) are retried with exponential backoff and jitter; all our queries
 * are reads, so a retry is always safe.
 */
#ifndef QP_UPSTREAM_H
#define QP_UPSTREAM_H

#include <stddef.h>

#include <uv.h>

#include "cypher.h"
#include "http.h"

struct upstream;		/* opaque */
struct up_query;		/* opaque; lives until its callback returns */

struct upstream_opts {
	const char	*server;		/* https://host[:port] */
	const char	*ca_file;
	long		 connect_timeout_ms;
	long		 request_timeout_ms;
	long		 low_speed_time_s;
	unsigned	 lim_min, lim_initial, lim_max;
	unsigned	 max_retries;		/* attempts after the first */
	double		 backoff_base_s;	/* first retry delay, default 0.25 */
	double		 backoff_max_s;		/* default 8 */
};

/* Why an attempt was retried; indexes up_stats.retries. */
enum up_cause {
	UP_C_OVERLOAD,		/* 429, 503 */
	UP_C_5XX,		/* 500, 502, 504 */
	UP_C_RESET,		/* connection reset or closed early */
	UP_C_TIMEOUT,		/* our time-out */
	UP_C_BADBODY,		/* truncated or malformed answer */
	UP_C_CONNECT,		/* could not connect */
	UP_NCAUSES
};

const char *up_cause_name(enum up_cause c);	/* "overload", "5xx", ... */

/* One attempt's round trip, as the limiter was told it. */
struct up_rtt {
	double		 t;		/* up_clock() when the answer came */
	double		 rtt_s;
};
#define UP_RTT_SAMPLES	512

/* Counters a job keeps for its own queries (the caller owns the struct). */
struct up_stats {
	unsigned long	 queries;	/* submitted */
	unsigned long	 attempts;	/* HTTP requests sent */
	unsigned long	 retries[UP_NCAUSES];
	unsigned long	 failed;	/* gave up */
	unsigned long long bytes_in;
	double		 busy_s;	/* sum of attempt durations */
	struct up_rtt	 rtt[UP_RTT_SAMPLES];	/* the last ones, a ring */
	unsigned long	 nrtt;		/* recorded; the next goes at % N */
};

unsigned long up_retries(const struct up_stats *st);	/* all causes */

/* Final outcome of a query. */
enum up_status {
	UP_OK,			/* rows in res */
	UP_QUERY_ERROR,		/* 400: bad query or the server's query time-out */
	UP_AUTH,		/* 401 / 403: the token is refused */
	UP_NOT_FOUND,		/* 404: dataset unknown */
	UP_UNAVAILABLE,		/* retries exhausted, server unreachable, TLS */
	UP_CANCELLED,
};

struct up_result {
	enum up_status	 status;
	struct cy_result *rows;		/* UP_OK only; borrowed during the callback */
	int		 server_timeout; /* UP_QUERY_ERROR was a query time-out */
	const char	*error;		/* one line, no secrets; NULL on success */
};

/*
 * Returns what an UP_OK answer covered, in neurons (0: not known): the
 * limiter compares latencies of answers of one kind by it.
 */
typedef double (*up_cb)(void *arg, const struct up_result *r);

int	 upstream_new(uv_loop_t *loop, const struct upstream_opts *o,
	    struct upstream **out);
/* Cancels what is queued or in flight (callbacks run with UP_CANCELLED). */
void	 upstream_free(struct upstream *u);

/*
 * Queue a POST of BODY (a cy_request_body) with TOKEN. CB runs once, later,
 * on the loop. KIND names the query's shape for the limiter (below
 * LIM_KINDS). ST (may be NULL) is charged with this query's work.
 */
int	 up_submit(struct upstream *u, const char *token, const char *body,
	    size_t len, unsigned kind, struct up_stats *st, up_cb cb, void *arg,
	    struct up_query **out);
/* Drop a query: its callback runs with UP_CANCELLED before this returns. */
void	 up_cancel(struct up_query *q);

unsigned up_limit(const struct upstream *u);
/* Seconds since the upstream was made: the time base of lim_trace(). */
double	 up_clock(const struct upstream *u);
unsigned up_in_flight(const struct upstream *u);
size_t	 up_queued(const struct upstream *u);
const struct limiter *up_limiter(const struct upstream *u);
void	 up_http_stats(const struct upstream *u, struct http_stats *s);

#endif
