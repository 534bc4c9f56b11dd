/*
 * upstream: one neuPrint server as the jobs see it. It owns the transport
 * (by default the HTTP client: its connection pool) and the concurrency
 * limiter, and queues the queries of every job that talks to the server
 * until the limiter gives them a slot. Failed attempts that may succeed
 * later (429, 5xx, resets, bad bodies, neuPrint's transient 400s) are
 * retried with exponential backoff and jitter; all our queries are reads.
 * An attempt given up on unanswered (our time-out, a proxy's 504) is not:
 * the server may still be running it, so it ends as a time-out for the
 * caller to split, and no identical body is sent again until hold_s after
 * it went. up_classify is the one place that decides what an answer's
 * status, message or transport failure means.
 */
#ifndef QP_UPSTREAM_H
#define QP_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "neuprint/clock.h"
#include "neuprint/cypher.h"
#include "neuprint/http.h"
#include "neuprint/limiter.h"

struct upstream;		/* opaque */
struct up_query;		/* opaque; lives until its callback returns */

/*
 * How queries reach the server. POST sends one request and returns 0 or a
 * negative errno; CB then runs exactly once, later, from the loop (never
 * inside POST), unless CANCEL drops the request first. The default is the
 * libcurl client of http.h; tests give a fake server.
 */
struct up_transport {
	int	 (*post)(void *ctx, const char *url, const char *token,
		    const char *body, size_t len, http_cb cb, void *arg,
		    void **req);
	void	 (*cancel)(void *ctx, void *req);
	void	*ctx;
};

/* A cns CELLS batch answers ~0.1 MB; 256 MiB is far beyond any honest one. */
#define UP_MAX_ANSWER_BYTES	((size_t)256 << 20)

struct upstream_opts {
	const char	*server;		/* https://host[:port] */
	const char	*ca_file;
	long		 connect_timeout_ms;
	long		 request_timeout_ms;
	long		 low_speed_time_s;
	/*
	 * The biggest answer read, in bytes; 0: UP_MAX_ANSWER_BYTES. A bigger
	 * one is a query error the batch is split on, as 413 is: memory stays
	 * bounded whatever a server or a proxy sends.
	 */
	size_t		 max_answer_bytes;
	unsigned	 lim_min, lim_initial, lim_max;
	unsigned	 max_retries;		/* attempts after the first */
	double		 backoff_base_s;	/* first retry delay, default 0.25 */
	double		 backoff_max_s;		/* default 8 */
	/*
	 * How long the server may go on running a query whose answer we gave
	 * up on (our time-out, a proxy's 504): neuPrintHTTP sets no time-out
	 * of its own, so Neo4j's transaction limit bounds it. No identical
	 * query is sent again before that. 0: 3600; < 0: no hold.
	 */
	double		 hold_s;
	/* NULL: an http client of its own (the fields above configure it). */
	const struct up_transport *transport;
	/* NULL: the loop's clock (clk_uv). */
	const struct clk *clock;
	uint64_t	 seed;			/* jitter; 0: from uv_hrtime */
};

/* Why an attempt was retried; indexes up_stats.retries. */
enum up_cause {
	UP_C_OVERLOAD,		/* 429, 503 */
	UP_C_5XX,		/* 500, 502, 504 */
	UP_C_RESET,		/* connection reset or closed early */
	UP_C_TIMEOUT,		/* our time-out */
	UP_C_BADBODY,		/* truncated or malformed answer */
	UP_C_CONNECT,		/* could not connect */
	UP_C_TRANSIENT,		/* 400 with a Neo4j TransientError or deadlock */
	UP_C_BUSY,		/* 400 "Timeout experienced", pool wait */
	UP_C_AUTHSVC,		/* 502 "auth service unavailable" (DatasetGateway) */
	UP_NCAUSES
};

const char *up_cause_name(enum up_cause c);	/* "overload", "5xx", ... */

/* One attempt's round trip, as the limiter was told it. */
struct up_rtt {
	double		 t;		/* up_clock() when the answer came */
	double		 rtt_s;
};
#define UP_RTT_SAMPLES	512

/*
 * Every round trip also goes into a histogram (the daemon's metrics): the
 * upper bounds of its buckets in seconds, a last bucket for the rest.
 */
#define UP_RTT_BUCKETS	12
double	 up_rtt_bound(unsigned i);	/* i < UP_RTT_BUCKETS */

/* Counters a job keeps for its own queries (the caller owns the struct). */
struct up_stats {
	unsigned long	 queries;	/* submitted */
	unsigned long	 attempts;	/* HTTP requests sent */
	unsigned long	 retries[UP_NCAUSES];
	unsigned long	 failed;	/* gave up */
	unsigned long	 timeouts;	/* attempts abandoned unanswered (ours, 504) */
	unsigned long	 held;		/* queries that waited for an identical one */
	unsigned long long bytes_in;
	struct up_rtt	 rtt[UP_RTT_SAMPLES];	/* the last ones, a ring */
	unsigned long	 nrtt;		/* recorded; the next goes at % N */
	unsigned long	 rtt_hist[UP_RTT_BUCKETS + 1];	/* per bucket, not cumulative */
	double		 rtt_sum_s;
};

unsigned long up_retries(const struct up_stats *st);	/* all causes */

/* Final outcome of a query. */
enum up_status {
	UP_OK,			/* rows in res */
	UP_QUERY_ERROR,		/* split the batch: bad query, a time-out, 413 */
	UP_AUTH,		/* 401 / 403: the token is refused */
	UP_NOT_FOUND,		/* 404: dataset unknown */
	UP_PROXY,		/* the HTTPS proxy refused the tunnel (4xx to CONNECT) */
	UP_UNAVAILABLE,		/* retries exhausted, server unreachable, TLS,
				   or the request could not be sent */
};

/* For a caller that gives up on a status: what it means, and as an errno. */
const char *up_status_text(enum up_status s);	/* "neuPrint refused the token" */
int	 up_status_errno(enum up_status s);	/* -EACCES, -ENOENT, ... */

struct up_result {
	enum up_status	 status;
	struct cy_result *rows;		/* UP_OK only; borrowed during the callback */
	int		 timeout;	/* UP_QUERY_ERROR was a time-out */
	int		 too_large;	/* UP_QUERY_ERROR was 413 or a too big answer */
	const char	*error;		/* one line, no secrets; NULL on success */
};

/* One attempt as the transport and the answer's parser saw it. */
struct up_attempt {
	int		 send_rc;	/* < 0: not sent (the transport's errno) */
	enum http_fail	 fail;		/* HTTP_OK: a response came */
	long		 status;	/* its HTTP status */
	int		 body_rc;	/* 200: cy_parse's result */
	const char	*message;	/* the server's error text; NULL: none */
	int		 started;	/* the answer had begun to arrive */
	long		 proxy_status;	/* HTTP_ERR_PROXY: the proxy's answer */
};

/* What the attempt means for the query, its retries and the limiter. */
struct up_verdict {
	int		 retry;		/* 1: try again after a backoff */
	enum up_cause	 cause;		/* why, when retried */
	enum lim_outcome lim;		/* what the limiter is told */
	enum up_status	 status;	/* the query's outcome, when not retried */
	int		 timeout;	/* a time-out (split, do not resend as is) */
	int		 too_large;	/* 413, or the answer passed max_answer_bytes */
	int		 hold;		/* the server may still be running it */
};

void	 up_classify(const struct up_attempt *a, struct up_verdict *v);

/*
 * Returns what an UP_OK answer covered, in neurons (0: not known): the
 * limiter compares latencies of answers of one kind by it.
 */
typedef double (*up_cb)(void *arg, const struct up_result *r);

/* LOOP may be NULL when O gives both a transport and a clock. */
int	 upstream_new(uv_loop_t *loop, const struct upstream_opts *o,
	    struct upstream **out);
/*
 * Drops what is queued or in flight; those callbacks never run, so free
 * the jobs that submitted them first. Not from inside a callback.
 */
void	 upstream_free(struct upstream *u);

/*
 * Queue a POST of BODY (a cy_request_body) with TOKEN. CB runs once, later,
 * on the loop: never before up_submit returns, even when the query cannot
 * be sent (that failure comes back through CB with the transport's reason).
 * KIND names the query's shape for the limiter (below LIM_KINDS). ST (may
 * be NULL) is charged with this query's work.
 */
void	 up_submit(struct upstream *u, const char *token, const char *body,
	    size_t len, unsigned kind, struct up_stats *st, up_cb cb, void *arg,
	    struct up_query **out);
/*
 * Drop a query that is queued, in flight or waiting for its callback: the
 * callback never runs. A query whose callback is running is left alone (it
 * goes when the callback returns), so a callback may cancel itself.
 */
void	 up_cancel(struct up_query *q);

unsigned up_limit(const struct upstream *u);
/* Seconds since the upstream was made: the time base of lim_trace(). */
double	 up_clock(const struct upstream *u);
unsigned up_in_flight(const struct upstream *u);
size_t	 up_queued(const struct upstream *u);
const struct limiter *up_limiter(const struct upstream *u);

#endif
