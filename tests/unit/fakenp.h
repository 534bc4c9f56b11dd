/*
 * fakenp: simulated time and a fake neuPrint for the unit tests of
 * upstream, fetch and job. Nothing here reads the wall clock or sleeps:
 *
 * - sim: a discrete-event scheduler. Its clock (sim_clock) is what the
 *   upstream runs its timers on; sim_step runs the next event.
 * - fake_tr: an up_transport whose answers come back as sim events. A
 *   server function decides each answer (status, body, delay) when the
 *   request is posted; every post is logged with its time.
 * - fnp: a server function that speaks the queries of docs/queries.md for
 *   a table of types, with a capacity model (slots, a FIFO queue, 503
 *   beyond it; execution a + b * neurons per query shape) whose slots can
 *   change at simulated times, and injected failures.
 */
#ifndef QP_FAKENP_H
#define QP_FAKENP_H

#include <stddef.h>

#include "neuprint/clock.h"
#include "neuprint/http.h"
#include "neuprint/upstream.h"

/* ---- scheduler ---- */

struct sim;
struct sim_ev;

struct sim	*sim_new(double t0);
void		 sim_free(struct sim *s);
const struct clk *sim_clock(struct sim *s);
double		 sim_now(const struct sim *s);
struct sim_ev	*sim_at(struct sim *s, double t, void (*fn)(void *), void *arg);
void		 sim_cancel(struct sim *s, struct sim_ev *e);
/* Run the earliest event (the clock jumps to it): 1, or 0 if none is left. */
int		 sim_step(struct sim *s);
/* Time of the earliest event, or -1. */
double		 sim_next(const struct sim *s);

/* ---- fake transport ---- */

struct fake_answer {
	int		 send_rc;	/* < 0: post fails with this */
	enum http_fail	 fail;
	long		 status;
	char		*body;		/* malloc'd; the fake frees it */
	double		 retry_after_s;	/* <= 0: none */
	double		 delay_s;	/* post to answer */
	const char	*error;		/* transport failure text (static) */
	int		 started;	/* a time-out after the answer began */
};

/* Decide the answer to one request (called inside post: no callbacks). */
typedef void (*fake_server)(void *arg, const char *body, size_t len,
    double now, struct fake_answer *a);

struct fake_post {
	double	 t;
	char	*body;
	int	 sent;		/* 0: post failed */
};

struct fake_tr;

struct fake_tr	*fake_tr_new(struct sim *s, fake_server fn, void *arg);
void		 fake_tr_free(struct fake_tr *f);
const struct up_transport *fake_tr_ops(struct fake_tr *f);
size_t		 fake_tr_posts(const struct fake_tr *f, const struct fake_post **out);
unsigned	 fake_tr_cancels(const struct fake_tr *f);
unsigned	 fake_tr_in_flight(const struct fake_tr *f);

/* An upstream on S and F, deterministic jitter, limiter (min, initial, max). */
struct upstream	*fake_upstream(struct sim *s, struct fake_tr *f, unsigned lmin,
		    unsigned linit, unsigned lmax, unsigned max_retries);

/* A body {"cypher": TEXT, "dataset": "sim"} (malloc'd). */
char		*fake_body(const char *cypher);
/* malloc'd copies of fixed answers. */
char		*fake_rows(const char *json);

/* ---- fake neuPrint ---- */

struct fnp_type {
	char	*name;
	unsigned neurons;
};

#define FNP_NPRIMARY	2

/* One query's time on the server (its slot), for identical_overlaps. */
struct fnp_run {
	char	*body;
	double	 start, end;
};

struct fnp {
	struct fnp_type	*types;
	size_t		 ntypes;
	/* capacity; slots 0: no limit, every query answered after net + exec */
	unsigned	 slots, queue;
	double		 net;			/* round trip outside execution */
	double		 a[4], b[4];		/* exec per enum cy_shape */
	const char	*fail_type;		/* 400 for a query naming it */
	const char	*bad_count_type;	/* its CELLS row has a bad count */
	/* neuPrintHTTP 1.9.2 and a front proxy (docs/queries.md, "Errors") */
	int		 v19;			/* 400 texts as 1.9 words them */
	double		 proxy_timeout;		/* > 0: 504 past it; the query goes on */
	size_t		 max_body;		/* > 0: 413 above it, not run */
	size_t		 max_answer;		/* > 0: a bigger answer fails as
						   http.c's cap fails it */
	unsigned	 transient_left;	/* the next N: 400 TransientError */
	unsigned	 busy_left;		/* the next N: 400 "Timeout experienced" */
	unsigned long	 identical_overlaps;	/* started while a copy was running */
	unsigned long	 proxy_timeouts, too_large, too_big, types_queries;
	/* counters */
	unsigned long	 requests, rejected, by_shape[4];
	unsigned long	 req_after, rej_after;	/* since t_after */
	double		 t_after;
	/* internal */
	double		 slot_free[256];
	double		 waiting[4096];
	unsigned	 nwaiting;
	struct fnp_run	*runs;
	size_t		 nruns;
};

/* N types "T0001".., neurons 1 + floor(MAXN * u^P), from SEED. */
void	 fnp_init(struct fnp *n, size_t ntypes, unsigned maxn, double p,
	    unsigned long seed);
void	 fnp_free(struct fnp *n);
unsigned fnp_neurons(const struct fnp *n, const char *type);	/* 0: none */
/* The fake_server of a fnp. */
void	 fnp_serve(void *arg, const char *body, size_t len, double now,
	    struct fake_answer *a);
/* Change the slots at simulated time T. */
void	 fnp_set_slots_at(struct fnp *n, struct sim *s, double t, unsigned slots);
/* The META answer's primary ROIs. */
extern const char *const fnp_primary[FNP_NPRIMARY];

/* Time-weighted mean of the limiter's trace on [t0, t1] (res_harness's). */
double	 trace_mean(const struct limiter *l, double t0, double t1);
void	 trace_print(const struct limiter *l);

#endif
