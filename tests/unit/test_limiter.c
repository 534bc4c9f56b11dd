/*
 * limiter tests: direct checks of each rule, then a simulated server
 * (capacity, queue, overload) driving the limiter on a virtual clock.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "neuprint/limiter.h"
#include "base/xmalloc.h"

/* Deterministic noise: xorshift64. */
static uint64_t rng = 88172645463325252ULL;

static double
urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* An answer of latency RTT whose size is not known. */
static void
release(struct limiter *l, enum lim_outcome o, double rtt, double now)
{
	lim_release(l, o, &(struct lim_answer){ .rtt_s = rtt }, now);
}

/* Fill a window: N requests of latency RTT, one after another. */
static double
feed(struct limiter *l, unsigned n, double rtt, double now)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		now += 0.001;
		if (!lim_acquire(l, now))
			break;
		now += rtt;
		release(l, LIM_OK, rtt, now);
	}
	return now;
}

static void
test_new(void **state)
{
	struct limiter *l;
	const struct lim_sample *tr;

	(void)state;
	assert_int_equal(lim_new(0, 1, 4, 0, &l), -EINVAL);
	assert_int_equal(lim_new(5, 5, 4, 0, &l), -EINVAL);
	assert_int_equal(lim_new(2, 32, 16, 0, &l), 0);
	assert_int_equal(lim_limit(l), 16);	/* initial clamped */
	lim_free(l);
	assert_int_equal(lim_new(1, 32, 256, 100.0, &l), 0);
	assert_int_equal(lim_limit(l), 32);
	assert_int_equal(lim_in_flight(l), 0);
	assert_int_equal(lim_trace(l, &tr), 1);
	assert_int_equal(tr[0].limit, 32);
	assert_true(tr[0].t == 0.0);
	lim_free(l);
}

static void
test_acquire_at_limit(void **state)
{
	struct limiter *l;
	unsigned i;

	(void)state;
	assert_int_equal(lim_new(1, 4, 64, 0, &l), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(lim_acquire(l, 0), 1);
	assert_int_equal(lim_acquire(l, 0), 0);
	assert_int_equal(lim_in_flight(l), 4);
	release(l, LIM_DROPPED, 0.1, 0.1);
	assert_int_equal(lim_acquire(l, 0.1), 1);
	lim_free(l);
}

static void
test_grows_when_flat(void **state)
{
	struct limiter *l;
	double now = 0;
	unsigned i, j, lim;

	(void)state;
	/* A server with room for everything: latency never moves. */
	assert_int_equal(lim_new(1, 1, 64, 0, &l), 0);
	for (i = 0; i < 200 && lim_limit(l) < 64; i++) {
		lim = lim_limit(l);
		for (j = 0; j < lim; j++)
			assert_int_equal(lim_acquire(l, now), 1);
		now += 0.2;
		for (j = 0; j < lim; j++)
			release(l, LIM_OK, 0.2, now);
	}
	assert_int_equal(lim_limit(l), 64);
	/* Slow start: doubling, so well under 64 round trips. */
	assert_true(i < 40);
	lim_free(l);
}

static void
test_no_growth_unused(void **state)
{
	struct limiter *l;
	double now = 0;

	(void)state;
	/* One request at a time says nothing about 32 at a time. */
	assert_int_equal(lim_new(1, 32, 256, 0, &l), 0);
	now = feed(l, 300, 0.2, now);
	assert_int_equal(lim_limit(l), 32);
	lim_free(l);
}

static void
test_shrinks_on_overload(void **state)
{
	struct limiter *l;
	unsigned i;

	(void)state;
	assert_int_equal(lim_new(1, 40, 256, 0, &l), 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(lim_acquire(l, 0), 1);
	/* A burst of 503s from one round trip: one decrease. */
	for (i = 0; i < 10; i++)
		release(l, LIM_OVERLOAD, 0.2, 0.2);
	assert_int_equal(lim_limit(l), 28);
	/* Errors and drops do not move it. */
	release(l, LIM_ERROR, 0.2, 0.3);
	release(l, LIM_DROPPED, 0.2, 0.3);
	assert_int_equal(lim_limit(l), 28);
	/* Sent before the decrease: still the old round trip. */
	release(l, LIM_TIMEOUT, 0.2, 0.35);
	assert_int_equal(lim_limit(l), 28);
	/* Sent after it and a round trip later: decrease again. */
	release(l, LIM_TIMEOUT, 0.2, 0.41);
	assert_int_equal(lim_limit(l), 19);
	lim_free(l);
}

static void
test_shrink_floor_min(void **state)
{
	struct limiter *l;
	double now = 0;
	unsigned i;

	(void)state;
	assert_int_equal(lim_new(3, 8, 16, 0, &l), 0);
	for (i = 0; i < 50; i++) {
		now += 1;
		if (lim_acquire(l, now))
			release(l, LIM_OVERLOAD, 0.5, now + 0.5);
		assert_true(lim_limit(l) >= 3);
	}
	assert_int_equal(lim_limit(l), 3);
	lim_free(l);
}

static void
test_pause(void **state)
{
	struct limiter *l;

	(void)state;
	assert_int_equal(lim_new(1, 8, 64, 10, &l), 0);
	assert_true(lim_pause_left(l, 10) == 0);
	lim_pause(l, 2, 10);
	assert_int_equal(lim_acquire(l, 10), 0);
	assert_int_equal(lim_acquire(l, 11.9), 0);
	assert_true(fabs(lim_pause_left(l, 11) - 1) < 1e-9);
	/* A shorter pause does not cut a longer one short. */
	lim_pause(l, 0.5, 11);
	assert_int_equal(lim_acquire(l, 11.6), 0);
	assert_int_equal(lim_acquire(l, 12), 1);
	assert_true(lim_pause_left(l, 12) == 0);
	/* Nonsense is ignored; absurd waits are capped. */
	lim_pause(l, -1, 12);
	lim_pause(l, NAN, 12);
	assert_int_equal(lim_acquire(l, 12), 1);
	lim_pause(l, 1e9, 12);
	assert_true(lim_pause_left(l, 12) <= 600);
	lim_free(l);
}

static void
test_trace_ring(void **state)
{
	struct limiter *l;
	const struct lim_sample *tr;
	double now = 0;
	size_t n, i;

	(void)state;
	/* Alternate growth and decrease to make thousands of changes. */
	assert_int_equal(lim_new(1, 2, 4, 0, &l), 0);
	for (i = 0; i < 3000; i++) {
		if (lim_acquire(l, now))
			release(l, LIM_OVERLOAD, 0.1, now + 0.1);
		now += 0.2;
		now = feed(l, 8, 0.1, now);
	}
	n = lim_trace(l, &tr);
	assert_int_equal(n, 1024);
	for (i = 1; i < n; i++) {
		assert_true(tr[i].t >= tr[i - 1].t);
		assert_true(tr[i].limit != tr[i - 1].limit);
	}
	assert_int_equal(tr[n - 1].limit, lim_limit(l));
	assert_true(tr[n - 1].t > now - 1);
	lim_free(l);
}

/*
 * The simulated server. It has SLOTS executions at a time and room for
 * QUEUE more waiting; past that it answers 503 after one network round
 * trip (1 ms at least). A request's latency is NET (the network) plus its execution,
 * EXEC * (0.5 .. 1.5), plus any wait for a slot. So the concurrency a
 * client needs to keep it busy (the knee) is SLOTS * (NET + EXEC) / EXEC;
 * with NET = 0 this is the plain "flat below C, queueing above" server.
 */
#define SIZE_MEAN	8.0	/* mean of 1 + floor(30 * u * v) */

struct sim {
	unsigned	 slots, queue;
	double		 net, exec;
	int		 sized;		/* costs vary 1..30x and answers say so */
	double		 slot_free[512];
	double		 waiting[4096];	/* start times of queued requests */
	unsigned	 nwaiting;
	struct simev {
		double	 t, sent, work;
		int	 ok;
	}		 ev[4096];
	unsigned	 nev;
	unsigned long	 ok, overload;
};

static void
sim_send(struct sim *s, double now)
{
	double arrive = now + s->net / 2, start, e, w;
	unsigned i, k = 0, n = 0;

	for (i = 1; i < s->slots; i++)
		if (s->slot_free[i] < s->slot_free[k])
			k = i;
	for (i = 0; i < s->nwaiting; i++)
		if (s->waiting[i] > arrive)
			s->waiting[n++] = s->waiting[i];
	s->nwaiting = n;
	assert_true(s->nev < 4096);
	if (s->slot_free[k] > arrive && s->nwaiting >= s->queue) {
		/* Even a refusal takes a moment; 0 would stop the clock. */
		s->ev[s->nev++] = (struct simev){ now + fmax(s->net, 0.001),
		    now, 0, 0 };
		return;
	}
	/*
	 * Sized: batches of 1 to 30 neurons, most of them small (a mean of
	 * about SIZE_MEAN), costing EXEC per neuron: latency alone varies
	 * 30-fold.
	 */
	w = s->sized ? 1 + floor(30 * urand() * urand()) : 0;
	e = s->sized ? s->exec * w : s->exec * (0.5 + urand());
	start = fmax(arrive, s->slot_free[k]);
	s->slot_free[k] = start + e;
	if (start > arrive)
		s->waiting[s->nwaiting++] = start;
	s->ev[s->nev++] = (struct simev){ start + e + s->net / 2, now, w, 1 };
}

struct simres {
	double	 mean;		/* time-weighted limit over the last half */
	unsigned lo, hi;	/* extremes ever seen */
	double	 min_dec_gap;	/* shortest time between two decreases */
};

/*
 * Run the server and the limiter from *NOW to UNTIL; r->mean gets the
 * time-weighted mean limit from FROM on, r->lo and r->hi the extremes.
 */
static void
run_until(struct sim *s, struct limiter *l, double *now, double from,
    double until, struct simres *r)
{
	double next, acc = 0;
	unsigned i, b, lim;

	while (*now < until) {
		while (lim_acquire(l, *now))
			sim_send(s, *now);
		assert_true(s->nev > 0);
		for (b = 0, i = 1; i < s->nev; i++)
			if (s->ev[i].t < s->ev[b].t)
				b = i;
		next = s->ev[b].t;
		lim = lim_limit(l);
		if (next > from)
			acc += lim * (fmin(next, until) - fmax(*now, from));
		*now = next;
		if (s->ev[b].ok) {
			s->ok++;
			lim_release(l, LIM_OK, &(struct lim_answer){
			    .rtt_s = *now - s->ev[b].sent,
			    .work = s->ev[b].work }, *now);
		} else {
			s->overload++;
			release(l, LIM_OVERLOAD, *now - s->ev[b].sent, *now);
		}
		s->ev[b] = s->ev[--s->nev];
		lim = lim_limit(l);
		if (lim < r->lo)
			r->lo = lim;
		if (lim > r->hi)
			r->hi = lim;
	}
	r->mean = acc / (until - from);
}

static void
simulate(struct sim *s, struct limiter *l, double secs, struct simres *r)
{
	const struct lim_sample *tr;
	double now = 0, last_dec = -1;
	unsigned i;
	size_t n;

	r->lo = r->hi = lim_limit(l);
	r->min_dec_gap = INFINITY;
	run_until(s, l, &now, secs / 2, secs, r);
	/* The trace covers the last 1024 changes; check their spacing. */
	n = lim_trace(l, &tr);
	for (i = 1; i < n; i++) {
		if (tr[i].limit >= tr[i - 1].limit)
			continue;
		if (last_dec >= 0 && tr[i].t - last_dec < r->min_dec_gap)
			r->min_dec_gap = tr[i].t - last_dec;
		last_dec = tr[i].t;
	}
}

/*
 * SIZED: EXEC is per neuron and answers say their size (sim_send), so the
 * mean execution is EXEC * SIZE_MEAN.
 */
static void
converge(unsigned slots, unsigned queue, double net, double exec,
    unsigned initial, int sized)
{
	struct sim *s;
	struct limiter *l;
	struct simres r;
	double mean = sized ? exec * SIZE_MEAN : exec;
	double knee = slots * (net + mean) / mean;

	s = xcalloc(1, sizeof(*s));
	s->slots = slots;
	s->queue = queue;
	s->net = net;
	s->exec = exec;
	s->sized = sized;
	assert_int_equal(lim_new(1, initial, 1024, 0, &l), 0);
	simulate(s, l, 300, &r);
	print_message("knee %.0f (slots %u queue %u net %.2f exec %.2f%s) "
	    "from %u: mean %.1f, range %u..%u, %lu ok, %lu 503, "
	    "decreases >= %.3f s apart\n", knee, slots, queue, net, mean,
	    sized ? " sized" : "", initial, r.mean, r.lo, r.hi, s->ok,
	    s->overload, r.min_dec_gap);
	lim_free(l);
	free(s);
	assert_true(r.mean >= 0.5 * knee);
	assert_true(r.mean <= 1.5 * knee);
	assert_true(r.lo >= 1 && r.hi <= 1024);
	/*
	 * At most one decrease per round trip. The fastest round trip is a
	 * 503: NET, or with no network 1 ms, where the limiter's own
	 * 100 ms spacing (before it knows a latency) is the bound; sized,
	 * the no-queue round trip it learns can be as short as one neuron's
	 * EXEC.
	 */
	assert_true(r.min_dec_gap >= (net > 0 ? net : sized ? exec : 0.1) - 1e-9);
}

/* The plain server: latency flat up to C slots, queueing past them. */
static void
test_converge_plain(void **state)
{
	static const unsigned caps[] = { 4, 8, 32, 100 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		converge(caps[i], caps[i], 0, 0.2, 32, 0);
		converge(caps[i], caps[i], 0, 0.2, 1, 0);
		converge(caps[i], 4 * caps[i], 0, 0.5, 32, 0);
		converge(caps[i], 100000, 0, 0.2, 1, 0);
		converge(caps[i], 100000, 0, 0.5, 32, 0);
	}
}

/* neuPrint-like: 200 ms of network before execution even starts. */
static void
test_converge_network(void **state)
{
	static const unsigned caps[] = { 4, 16, 64 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		converge(caps[i], caps[i], 0.2, 0.2, 32, 0);
		converge(caps[i], caps[i], 0.2, 0.5, 1, 0);
		converge(caps[i], 4 * caps[i], 0.2, 0.1, 1, 0);
		converge(caps[i], 100000, 0.2, 0.1, 32, 0);
	}
}

/*
 * Answers that say their size: latency varies 30-fold with it, which is
 * not queueing. The limit still settles at the knee.
 */
static void
test_converge_sized(void **state)
{
	(void)state;
	static const struct { unsigned slots; double net; } c[] = {
		{ 4, 0 }, { 8, 0 }, { 32, 0 }, { 4, 0.2 }, { 16, 0.2 },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		converge(c[i].slots, 4 * c[i].slots, c[i].net, 0.01, 32, 1);
}

/* Capacity 8, then 2, then 8 again: with sizes, the limit follows. */
static void
test_follows_capacity_sized(void **state)
{
	static const unsigned slots[] = { 8, 2, 8 };
	struct sim *s = xcalloc(1, sizeof(*s));
	struct limiter *l;
	struct simres r[3];
	double now = 0;
	size_t i;

	(void)state;
	s->queue = 64;			/* no 503s: latency is the only sign */
	s->exec = 0.01;
	s->sized = 1;
	assert_int_equal(lim_new(1, 8, 64, 0, &l), 0);
	for (i = 0; i < 3; i++) {
		s->slots = slots[i];
		r[i].lo = r[i].hi = lim_limit(l);
		/* 60 s a phase, judged after the first 5 s of it */
		run_until(s, l, &now, 60.0 * (double)i + 5, 60.0 * (double)(i + 1),
		    &r[i]);
		print_message("slots %u: mean limit %.1f, range %u..%u\n",
		    slots[i], r[i].mean, r[i].lo, r[i].hi);
	}
	lim_free(l);
	free(s);
	assert_true(r[1].mean < 0.6 * r[0].mean);
	assert_true(r[1].mean < 0.6 * r[2].mean);
	assert_true(r[1].mean <= 4);
	assert_true(r[0].mean >= 6 && r[2].mean >= 6);
}

/* Whatever happens, the limit stays inside [min, max]. */
static void
test_bounds_fuzz(void **state)
{
	struct limiter *l;
	double now = 0, sent[64];
	unsigned n = 0, i, k;

	(void)state;
	assert_int_equal(lim_new(3, 10, 40, 0, &l), 0);
	for (i = 0; i < 200000; i++) {
		now += urand() * 0.05;
		if (n < 64 && lim_acquire(l, now))
			sent[n++] = now;
		assert_true(lim_in_flight(l) <= 40);
		if (n > 0 && urand() < 0.5) {
			k = (unsigned)(urand() * n);
			release(l, (enum lim_outcome)(urand() * 5),
			    now - sent[k], now);
			sent[k] = sent[--n];
		}
		if (urand() < 0.001)
			lim_pause(l, urand() * 2, now);
		assert_true(lim_limit(l) >= 3 && lim_limit(l) <= 40);
	}
	lim_free(l);
}

/* Latency that does not answer to load is not a reason to stay small. */
static void
test_slower_queries_not_queueing(void **state)
{
	struct limiter *l;
	double now = 0;
	unsigned i, j, lim;

	(void)state;
	assert_int_equal(lim_new(1, 16, 16, 0, &l), 0);
	for (i = 0; i < 400; i++) {
		double rtt = i < 100 ? 0.2 : 0.6;	/* the mix got heavier */

		lim = lim_limit(l);
		for (j = 0; j < lim; j++)
			assert_int_equal(lim_acquire(l, now), 1);
		now += rtt;
		for (j = 0; j < lim; j++)
			release(l, LIM_OK, rtt, now);
	}
	assert_int_equal(lim_limit(l), 16);
	lim_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_acquire_at_limit),
		cmocka_unit_test(test_grows_when_flat),
		cmocka_unit_test(test_no_growth_unused),
		cmocka_unit_test(test_shrinks_on_overload),
		cmocka_unit_test(test_shrink_floor_min),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_trace_ring),
		cmocka_unit_test(test_converge_plain),
		cmocka_unit_test(test_converge_network),
		cmocka_unit_test(test_converge_sized),
		cmocka_unit_test(test_follows_capacity_sized),
		cmocka_unit_test(test_bounds_fuzz),
		cmocka_unit_test(test_slower_queries_not_queueing),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
