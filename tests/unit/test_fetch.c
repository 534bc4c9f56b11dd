/*
 * fetch tests against the fake neuPrint of fakenp.h on simulated time:
 * batches, splits down to the failing type, malformed counts, fatal
 * statuses, the per-type strategy and stopping mid-flight.
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
#include "fetch.h"
#include "index/roi.h"
#include "index/scan.h"
#include "base/xmalloc.h"

struct got {
	size_t		 nstems;
	int64_t		*pre;		/* per stem; -1: no rows */
	char		**error;	/* per stem */
	size_t		 batches;
	int		 done, rc;
	char		 msg[400];
};

struct rig {
	struct sim	*sim;
	struct fnp	 np;
	struct fake_tr	*tr;
	struct upstream	*up;
	struct scan_result scan;
	struct roi_meta	*meta;
	struct up_stats	 st;
	struct got	 g;
	struct fetch	*f;
	size_t		 max_query;	/* fetch_opts.max_query_bytes */
	unsigned char	*skip;		/* fetch_opts.skip */
};

static void
on_batch(void *arg, struct fetch_batch *b)
{
	struct got *g = arg;
	size_t i, j;

	g->batches++;
	for (i = 0; i < b->n; i++) {
		const struct fetch_stem *s = &b->stems[i];

		assert_true(s->stem < g->nstems);
		if (s->error)
			g->error[s->stem] = xstrdup(s->error);
		for (j = 0; j < s->naccs; j++)
			g->pre[s->stem] = s->accs[j]->pre;
	}
	fetch_batch_free(b);
}

static void
on_done(void *arg, int rc, const char *error)
{
	struct got *g = arg;

	assert_int_equal(g->done, 0);
	g->done = 1;
	g->rc = rc;
	snprintf(g->msg, sizeof(g->msg), "%s", error ? error : "");
}

/* NTYPES types on the server; pages for the first NPAGES and one stranger. */
static void
rig_init(struct rig *r, size_t ntypes, size_t npages)
{
	char err[128];
	size_t i;

	memset(r, 0, sizeof(*r));
	r->sim = sim_new(0);
	fnp_init(&r->np, ntypes, 30, 2, 1);
	r->np.a[CY_CELLS] = r->np.a[CY_ROIS] = r->np.a[CY_OTHER] = 0.02;
	r->np.b[CY_CELLS] = 0.001;
	r->np.b[CY_ROIS] = 0.002;
	r->tr = fake_tr_new(r->sim, fnp_serve, &r->np);
	r->up = fake_upstream(r->sim, r->tr, 1, 4, 16, 3);
	r->scan.nstems = npages + 1;
	r->scan.stems = xcalloc(r->scan.nstems, sizeof(*r->scan.stems));
	for (i = 0; i < r->scan.nstems; i++) {
		r->scan.stems[i].stem = i < npages ?
		    xstrdup(r->np.types[i].name) : xstrdup("Zz_not_a_type");
		r->scan.stems[i].file[SIDE_BOTH] =
		    xasprintf("%s.html", r->scan.stems[i].stem);
	}
	r->scan.nfiles = r->scan.nstems;
	assert_int_equal(roi_meta_new(fnp_primary, FNP_NPRIMARY, "{}",
	    &r->meta, err, sizeof(err)), 0);
	r->g.nstems = r->scan.nstems;
	r->g.pre = xcalloc(r->g.nstems, sizeof(*r->g.pre));
	r->g.error = xcalloc(r->g.nstems, sizeof(*r->g.error));
	for (i = 0; i < r->g.nstems; i++)
		r->g.pre[i] = -1;
}

static void
rig_start(struct rig *r, unsigned batch, enum fetch_strategy how)
{
	struct fetch_opts o = { 0 };

	o.up = r->up;
	o.token = "tok";
	o.dataset = "sim";
	o.scan = &r->scan;
	o.meta = r->meta;
	o.batch_size = batch;
	o.max_underscores = 8;
	o.strategy = how;
	o.stats = &r->st;
	o.max_query_bytes = r->max_query;
	o.skip = r->skip;
	assert_int_equal(fetch_start(&o, on_batch, on_done, &r->g, &r->f), 0);
	assert_int_equal(r->g.done, 0);		/* nothing calls back inside */
}

static void
rig_run(struct rig *r)
{
	while (!r->g.done && sim_step(r->sim))
		;
	assert_int_equal(r->g.done, 1);
}

static void
rig_free(struct rig *r)
{
	size_t i;

	fetch_free(r->f);
	upstream_free(r->up);
	fake_tr_free(r->tr);
	sim_free(r->sim);
	for (i = 0; i < r->g.nstems; i++)
		free(r->g.error[i]);
	free(r->g.error);
	free(r->g.pre);
	scan_free(&r->scan);
	roi_meta_free(r->meta);
	fnp_free(&r->np);
}

/* Every page's type has its sums; the stranger has no rows and no error. */
static void
check_all(struct rig *r, size_t npages, size_t except)
{
	size_t i;

	for (i = 0; i < npages; i++) {
		if (i == except)
			continue;
		assert_null(r->g.error[i]);
		assert_int_equal(r->g.pre[i], 10 * (int64_t)r->np.types[i].neurons);
	}
	assert_int_equal(r->g.pre[npages], -1);
	assert_null(r->g.error[npages]);
}

static void
test_batches(void **state)
{
	struct rig r;
	struct fetch_progress p;

	(void)state;
	rig_init(&r, 40, 30);
	rig_start(&r, 5, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 30, (size_t)-1);
	fetch_get_progress(r.f, &p);
	assert_int_equal(p.splits, 0);
	/* 31 stems in batches of 5: 7 batches, two queries each. */
	assert_int_equal(r.st.queries, 14);
	assert_int_equal(r.np.by_shape[CY_CELLS], 7);
	assert_int_equal(r.np.by_shape[CY_ROIS], 7);
	rig_free(&r);
}

/* A type the server always fails: halves down to it, the rest unharmed. */
static void
test_split_to_failing_type(void **state)
{
	struct rig r;
	struct fetch_progress p;

	(void)state;
	rig_init(&r, 40, 31);
	r.np.fail_type = r.np.types[13].name;
	rig_start(&r, 16, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, 13);
	assert_non_null(r.g.error[13]);
	assert_string_equal(r.g.error[13], "HTTP 400: emulated failure");
	fetch_get_progress(r.f, &p);
	/* 16 -> 8 -> 4 -> 2 -> 1: four splits. */
	assert_int_equal(p.splits, 4);
	rig_free(&r);
}

/*
 * neuPrintHTTP 1.9's transient and busy 400s ("TransientError", "Timeout
 * experienced"): retried, never split, nothing fails.
 */
static void
test_transient_not_split(void **state)
{
	struct rig r;
	struct fetch_progress p;

	(void)state;
	rig_init(&r, 40, 31);
	r.np.v19 = 1;
	r.np.transient_left = 2;
	r.np.busy_left = 2;
	rig_start(&r, 16, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	fetch_get_progress(r.f, &p);
	assert_int_equal(p.splits, 0);
	assert_int_equal(r.st.retries[UP_C_TRANSIENT], 2);
	assert_int_equal(r.st.retries[UP_C_BUSY], 2);
	rig_free(&r);
}

/*
 * A proxy answers 504 when a query runs past 0.1 s, and the query goes on
 * holding its slot: batches split until they fit, and no body ever starts
 * while an identical one is still on the server.
 */
static void
test_proxy_timeout_splits(void **state)
{
	struct rig r;
	struct fetch_progress p;

	(void)state;
	rig_init(&r, 40, 31);
	r.np.v19 = 1;
	r.np.slots = 8;
	r.np.queue = 64;
	r.np.net = 0.01;
	r.np.proxy_timeout = 0.1;	/* one type: at most 0.02 + 31 * 0.002 */
	rig_start(&r, 16, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	fetch_get_progress(r.f, &p);
	assert_true(p.splits > 0);
	assert_true(r.np.proxy_timeouts > 0);
	assert_int_equal(r.st.timeouts, r.np.proxy_timeouts);
	assert_int_equal(r.np.identical_overlaps, 0);
	assert_int_equal(up_retries(&r.st), 0);
	rig_free(&r);
}

/* A proxy refuses bodies above 600 bytes (413): halves pass. */
static void
test_too_large_splits(void **state)
{
	struct rig r;
	struct fetch_progress p;

	(void)state;
	rig_init(&r, 40, 31);
	/* A body of 8 names fits, of 16 not (with issue 14's CELLS columns). */
	r.np.max_body = 1100;
	rig_start(&r, 16, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	fetch_get_progress(r.f, &p);
	assert_true(p.splits > 0);
	assert_true(r.np.too_large > 0);
	rig_free(&r);
}

/*
 * Answers above the client's cap (max_answer_bytes) are not read: the
 * batch is split as for a 413, never resent whole, and the halves pass
 * (a batch of 16 stems answers ~1.6 KB here, its halves under 1 KB).
 */
static void
test_too_big_answer_splits(void **state)
{
	struct rig r;
	struct fetch_progress p;

	(void)state;
	rig_init(&r, 40, 31);
	r.np.max_answer = 1500;
	rig_start(&r, 16, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	fetch_get_progress(r.f, &p);
	assert_true(p.splits > 0);
	assert_true(r.np.too_big > 0);
	/* Halves sufficed: no stem needed the type list's detour. */
	assert_int_equal(r.np.types_queries, 0);
	rig_free(&r);
}

/* Type 3 renamed to a stem of 6 underscores: 729 spellings, ~13 KB. */
static void
long_stem(struct rig *r)
{
	free(r->np.types[3].name);
	r->np.types[3].name = xstrdup("Ab_c_d_e_f_g_h");
	free(r->scan.stems[3].stem);
	r->scan.stems[3].stem = xstrdup("Ab_c_d_e_f_g_h");
}

/*
 * That stem alone makes a body the proxy refuses: after the halves it is
 * resolved from the type list (one TYPES query) instead of failing.
 */
static void
test_too_large_stem_rerouted(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 40, 31);
	long_stem(&r);
	r.np.max_body = 4000;
	rig_start(&r, 4, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	assert_true(r.np.too_large >= 2);
	assert_int_equal(r.np.types_queries, 1);
	rig_free(&r);
}

/*
 * Stems the cache served (fetch_opts.skip) are neither asked for nor
 * handed on; the others are, in as few batches as without them. A skipped
 * stem with too many underscores does not cost the TYPES query.
 */
static void
test_skip(void **state)
{
	struct rig r;
	size_t i;

	(void)state;
	rig_init(&r, 40, 30);
	free(r.np.types[3].name);
	r.np.types[3].name = xstrdup("A_b_c_d_e_f_g_h_i_j");	/* 9 '_' > 8 */
	free(r.scan.stems[3].stem);
	r.scan.stems[3].stem = xstrdup("A_b_c_d_e_f_g_h_i_j");
	r.skip = xcalloc(r.scan.nstems, 1);
	for (i = 0; i < 20; i++)
		r.skip[i] = 1;
	rig_start(&r, 5, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(r.g.pre[i], -1);
		assert_null(r.g.error[i]);
	}
	for (i = 20; i < 30; i++)
		assert_int_equal(r.g.pre[i], 10 * (int64_t)r.np.types[i].neurons);
	assert_int_equal(r.g.pre[30], -1);
	/* 11 stems in batches of 5: 3 batches, two queries each; no TYPES. */
	assert_int_equal(r.np.types_queries, 0);
	assert_int_equal(r.st.queries, 6);
	free(r.skip);
	rig_free(&r);
}

/*
 * max_query_bytes: batches are cut to fit, and the stem that fits in none
 * goes through the type list: nothing is refused.
 */
static void
test_max_query_bytes(void **state)
{
	struct rig r;
	struct fetch_progress p;
	const struct fake_post *post;
	size_t i, n;

	(void)state;
	rig_init(&r, 40, 31);
	long_stem(&r);
	r.np.max_body = 4096;
	r.max_query = 4096;
	rig_start(&r, 200, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	fetch_get_progress(r.f, &p);
	assert_int_equal(p.splits, 0);
	assert_int_equal(r.np.too_large, 0);
	assert_int_equal(r.np.types_queries, 1);
	n = fake_tr_posts(r.tr, &post);
	for (i = 0; i < n; i++)
		assert_true(strlen(post[i].body) <= 4096);
	rig_free(&r);
}

/* A type named to trip neuPrint's label rewrite is asked for intact. */
static void
test_label_in_name(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 40, 31);
	free(r.np.types[5].name);
	r.np.types[5].name = xstrdup("PN:Neuron_like");
	free(r.scan.stems[5].stem);
	r.scan.stems[5].stem = xstrdup("PN:Neuron_like");
	r.np.v19 = 1;		/* the fake rewrites ":Neuron" as 1.9 does */
	rig_start(&r, 16, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 31, (size_t)-1);
	rig_free(&r);
}

/*
 * A stray page keeping a space ("X Y.html") beside the rule's "X_Y.html":
 * both stand for type "X Y", which is asked for once per query (twice in
 * UNWIND, the server counts its neurons twice), and each stem gets its
 * rows, in one batch or two, in either strategy.
 */
static void
test_two_stems_one_type(void **state)
{
	static const unsigned batch[] = { 40, 2 };
	struct rig r;
	int64_t want;
	size_t i, k;

	(void)state;
	for (k = 0; k < 3; k++) {
		rig_init(&r, 40, 31);
		free(r.np.types[5].name);
		r.np.types[5].name = xstrdup("X Y");
		free(r.scan.stems[5].stem);
		r.scan.stems[5].stem = xstrdup("X Y");
		free(r.scan.stems[6].stem);	/* type 6 loses its page */
		r.scan.stems[6].stem = xstrdup("X_Y");
		rig_start(&r, k < 2 ? batch[k] : 1, k < 2 ? FETCH_BATCHED :
		    FETCH_PER_TYPE);
		rig_run(&r);
		assert_int_equal(r.g.rc, 0);
		want = 10 * (int64_t)r.np.types[5].neurons;
		assert_int_equal(r.g.pre[5], want);
		assert_int_equal(r.g.pre[6], want);
		for (i = 0; i < 31; i++)
			if (i != 5 && i != 6)
				assert_int_equal(r.g.pre[i],
				    10 * (int64_t)r.np.types[i].neurons);
		rig_free(&r);
	}
}

/* A count that is no number fails its batch, naming the column. */
static void
test_malformed_count(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 20, 12);
	r.np.bad_count_type = r.np.types[6].name;
	rig_start(&r, 4, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 12, 6);
	assert_non_null(r.g.error[6]);
	print_message("%s\n", r.g.error[6]);
	assert_non_null(strstr(r.g.error[6], "CELLS"));
	assert_non_null(strstr(r.g.error[6], "column \"cells\""));
	assert_non_null(strstr(r.g.error[6], "\"many\""));
	rig_free(&r);
}

static void
refuse(void *arg, const char *body, size_t len, double now,
    struct fake_answer *a)
{
	(void)arg;
	(void)body;
	(void)len;
	(void)now;
	a->status = 401;
	a->delay_s = 0.05;
}

/* A refused token ends the fetch with one clear reason. */
static void
test_fatal_status(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 10, 10);
	fake_tr_free(r.tr);
	upstream_free(r.up);
	r.tr = fake_tr_new(r.sim, refuse, NULL);
	r.up = fake_upstream(r.sim, r.tr, 1, 4, 16, 3);
	rig_start(&r, 2, FETCH_BATCHED);
	rig_run(&r);
	assert_int_equal(r.g.rc, -EACCES);
	assert_string_equal(r.g.msg,
	    "neuPrint refused access: HTTP 401: token refused");
	rig_free(&r);
}

/* QuickPage's pattern: the TYPES list, then one query per page. */
static void
test_per_type(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 15, 10);
	rig_start(&r, 0, FETCH_PER_TYPE);
	rig_run(&r);
	assert_int_equal(r.g.rc, 0);
	check_all(&r, 10, (size_t)-1);
	assert_int_equal(r.np.by_shape[CY_NEURONS], 10);
	assert_int_equal(r.np.by_shape[CY_OTHER], 1);	/* TYPES */
	rig_free(&r);
}

/* Stopping mid-flight: queries cancelled, nothing calls back afterwards. */
static void
test_free_mid_flight(void **state)
{
	struct rig r;
	size_t before;

	(void)state;
	rig_init(&r, 40, 40);
	rig_start(&r, 2, FETCH_BATCHED);
	while (r.g.batches < 3 && sim_step(r.sim))
		;
	assert_int_equal(r.g.done, 0);
	before = r.g.batches;
	fetch_free(r.f);
	r.f = NULL;
	assert_true(fake_tr_cancels(r.tr) > 0);
	assert_int_equal(fake_tr_in_flight(r.tr), 0);
	assert_int_equal(up_in_flight(r.up), 0);
	while (sim_step(r.sim))
		;
	assert_int_equal(r.g.batches, before);
	assert_int_equal(r.g.done, 0);
	r.g.done = 1;
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_split_to_failing_type),
		cmocka_unit_test(test_malformed_count),
		cmocka_unit_test(test_transient_not_split),
		cmocka_unit_test(test_proxy_timeout_splits),
		cmocka_unit_test(test_too_large_splits),
		cmocka_unit_test(test_too_big_answer_splits),
		cmocka_unit_test(test_too_large_stem_rerouted),
		cmocka_unit_test(test_max_query_bytes),
		cmocka_unit_test(test_label_in_name),
		cmocka_unit_test(test_two_stems_one_type),
		cmocka_unit_test(test_fatal_status),
		cmocka_unit_test(test_per_type),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_free_mid_flight),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
