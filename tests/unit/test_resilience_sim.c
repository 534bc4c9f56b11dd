/*
 * Resilience in simulated time: the real fetch, upstream and limiter
 * against fakenp's server model (slots, a FIFO queue, 503 beyond it,
 * execution a + b * neurons per query shape), with the properties that
 * tests/integration/test_resilience.py asserted on wall-clock windows
 * (docs/concurrency.md, "What the tests check"). The real-time runs are
 * benchmarks now (bench/resilience).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakenp.h"
#include "fetch.h"
#include "index/roi.h"
#include "index/scan.h"
#include "base/xmalloc.h"

#define SEEDS	40

struct run {
	struct sim	*sim;
	struct fnp	 np;
	struct fake_tr	*tr;
	struct upstream	*up;
	struct scan_result scan;
	struct roi_meta	*meta;
	struct up_stats	 st;
	struct fetch	*f;
	size_t		 right, wrong;	/* stems whose sums are (not) the server's */
	int		 done, rc;
	double		 end;
};

static void
on_batch(void *arg, struct fetch_batch *b)
{
	struct run *r = arg;
	size_t i;

	for (i = 0; i < b->n; i++) {
		const struct fetch_stem *s = &b->stems[i];
		unsigned n = r->np.types[s->stem].neurons;

		if (s->error == NULL && s->naccs == 1 &&
		    s->accs[0]->pre == 10 * (int64_t)n)
			r->right++;
		else
			r->wrong++;
	}
	fetch_batch_free(b);
}

static void
on_done(void *arg, int rc, const char *error)
{
	struct run *r = arg;

	(void)error;
	r->done = 1;
	r->rc = rc;
	r->end = sim_now(r->sim);
}

static void
setup(struct run *r, size_t ntypes, unsigned maxn, double p, unsigned long seed)
{
	char err[128];
	size_t i;

	memset(r, 0, sizeof(*r));
	r->sim = sim_new(0);
	fnp_init(&r->np, ntypes, maxn, p, seed);
	r->tr = fake_tr_new(r->sim, fnp_serve, &r->np);
	r->scan.nstems = r->scan.nfiles = ntypes;
	r->scan.stems = xcalloc(ntypes, sizeof(*r->scan.stems));
	for (i = 0; i < ntypes; i++) {
		r->scan.stems[i].stem = xstrdup(r->np.types[i].name);
		r->scan.stems[i].file[SIDE_BOTH] = xasprintf("%s.html",
		    r->np.types[i].name);
	}
	assert_int_equal(roi_meta_new(fnp_primary, FNP_NPRIMARY, "{}",
	    &r->meta, err, sizeof(err)), 0);
}

static void
go(struct run *r, unsigned linit, unsigned batch)
{
	struct fetch_opts o = { 0 };

	r->up = fake_upstream(r->sim, r->tr, 1, linit, 64, 6);
	o.up = r->up;
	o.token = "tok";
	o.dataset = "sim";
	o.scan = &r->scan;
	o.meta = r->meta;
	o.batch_size = batch;
	o.max_underscores = 8;
	o.strategy = FETCH_BATCHED;
	o.stats = &r->st;
	assert_int_equal(fetch_start(&o, on_batch, on_done, r, &r->f), 0);
	while (!r->done && sim_step(r->sim))
		;
	assert_int_equal(r->done, 1);
}

static void
teardown(struct run *r)
{
	fetch_free(r->f);
	upstream_free(r->up);
	fake_tr_free(r->tr);
	sim_free(r->sim);
	scan_free(&r->scan);
	roi_meta_free(r->meta);
	fnp_free(&r->np);
}

/*
 * TestConverge: capacity 4 and 8 queue places, no network, the limiter
 * from 32: the second half's time-weighted mean limit within +-50 % of 4,
 * under 2 % of the requests after the first 5 s refused, every type's
 * sums right, for each of SEEDS type populations (1,200 types of 1-61
 * neurons, heavy tailed). Costs as the integration test's emulator flags (row_us
 * 1000, json_us 1500): ~1 ms a neuron for CELLS, 2.5 ms for ROIS.
 */
static void
converge(unsigned long seed)
{
	struct run r;
	double half;

	setup(&r, 1200, 60, 3, seed);
	r.np.slots = 4;
	r.np.queue = 8;
	r.np.a[CY_CELLS] = r.np.a[CY_ROIS] = 0.003;
	r.np.b[CY_CELLS] = 0.001;
	r.np.b[CY_ROIS] = 0.0025;
	r.np.t_after = 5.0;
	go(&r, 32, 5);
	half = trace_mean(up_limiter(r.up), r.end / 2, r.end);
	print_message("seed %lu: %.2f s, second-half mean limit %.2f, 503s %lu "
	    "(%lu of %lu requests after 5 s), retries %lu\n", seed, r.end, half,
	    r.np.rejected, r.np.rej_after, r.np.req_after, up_retries(&r.st));
	if (seed == 1)
		trace_print(up_limiter(r.up));
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.wrong, 0);
	assert_int_equal(r.right, 1200);
	assert_true(r.end >= 10.0);		/* long enough to judge settling */
	assert_true(half >= 4 * 0.5);
	assert_true(half <= 4 * 1.5);
	assert_true((double)r.np.rej_after < 0.02 * (double)r.np.req_after);
	teardown(&r);
}

static void
test_converge(void **state)
{
	unsigned long seed;

	(void)state;
	for (seed = 1; seed <= SEEDS; seed++)
		converge(seed);
}

/*
 * TestCapacityChange: 731 types of at most 30 neurons (mean 6.3, as the
 * trimmed demo), batch 5, 8 slots and
 * 16 queue places (no 503s: latency is the only sign), the limiter from
 * 8; the slots go to 2 at 6 s and back to 8 at 13 s. Judged 1.5 s after
 * each switch: the capacity-2 phase's mean limit under 0.6 x both others
 * and at most 4. Over SEEDS type populations: every one follows the drop
 * (under 0.6 x the first phase, at most 4); at least 95 % also climb back
 * (under 0.6 x the last phase); measured 39 of 40. Costs as the emulator's row_us 6000, json_us 9000 fitted
 * (docs/concurrency.md): 6 ms a neuron for CELLS, 15.5 ms for ROIS.
 */
static int
capacity_change(unsigned long seed)
{
	static const double down = 6.0, up = 13.0, settle = 1.5;
	struct run r;
	double m[3];
	int ok;

	setup(&r, 731, 29, 4.5, seed);
	r.np.slots = 8;
	r.np.queue = 16;
	r.np.a[CY_CELLS] = r.np.a[CY_ROIS] = 0.005;
	r.np.b[CY_CELLS] = 0.006;
	r.np.b[CY_ROIS] = 0.0155;
	fnp_set_slots_at(&r.np, r.sim, down, 2);
	fnp_set_slots_at(&r.np, r.sim, up, 8);
	go(&r, 8, 5);
	m[0] = trace_mean(up_limiter(r.up), settle, down);
	m[1] = trace_mean(up_limiter(r.up), down + settle, up);
	m[2] = trace_mean(up_limiter(r.up), up + settle, r.end);
	/* Every seed follows the drop; the way back up is scored below. */
	assert_true(m[1] <= 4.0);
	assert_true(m[1] < 0.6 * m[0]);
	ok = m[1] < 0.6 * m[2];
	print_message("seed %2lu: %.2f s, mean limit %5.2f / %5.2f / %5.2f, "
	    "503s %lu%s\n", seed, r.end, m[0], m[1], m[2], r.np.rejected,
	    ok ? "" : "  (thresholds missed)");
	if (seed == 1)
		trace_print(up_limiter(r.up));
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.wrong, 0);
	assert_true(r.end - (up + settle) >= 3.0);
	teardown(&r);
	return ok;
}

static void
test_capacity_change(void **state)
{
	unsigned long seed;
	unsigned ok = 0;

	(void)state;
	for (seed = 1; seed <= SEEDS; seed++)
		ok += capacity_change(seed) != 0;
	print_message("%u of %u seeds within the thresholds\n", ok, SEEDS);
	/*
	 * The seeds are fixed, so this cannot flake; it is a score, as
	 * tools/limsim's (39/40 for this limiter): a change that makes the
	 * limiter slower to climb back fails here.
	 */
	assert_true(ok >= SEEDS * 95 / 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converge),
		cmocka_unit_test(test_capacity_change),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
