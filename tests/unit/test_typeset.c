/*
 * typeset tests: sides, counts and sums from CELLS, ROIS and TYPE rows, the
 * neurotransmitter tie-break, and the final records.
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

#include "typeset.h"
#include "xmalloc.h"

static const char *hierarchy =
    "{\"name\": \"CNS\", \"children\": [{\"name\": \"OL(R)\", "
    "\"children\": [{\"name\": \"ME(R)\"}, {\"name\": \"LO(R)\"}]}, "
    "{\"name\": \"FB\"}]}";
static const char *primary[] = { "ME(R)", "LO(R)", "FB" };

static struct roi_meta *
meta(void)
{
	struct roi_meta *m;
	char err[128];

	assert_int_equal(roi_meta_new(primary, 3, hierarchy, &m, err,
	    sizeof(err)), 0);
	return m;
}

static void
test_sides(void **state)
{
	struct roi_meta *m = meta();
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "LC10a", m);
	assert_false(a.seen);
	/* somaSide wins over the instance */
	ts_acc_add_cells(&a, "L", "LC10a_R", NULL, 3, 30, 300);
	ts_acc_add_cells(&a, NULL, "LC10a_R", NULL, 5, 50, 500);
	ts_acc_add_cells(&a, "", "LC10a_L", NULL, 7, 70, 700);
	ts_acc_add_cells(&a, "M", "LC10a_L", NULL, 11, 0, 0);
	/* not L/R/M: the instance decides */
	ts_acc_add_cells(&a, "U", "LC10a_R", NULL, 13, 0, 0);
	/* _M in an instance is no side */
	ts_acc_add_cells(&a, NULL, "LC10a_M", NULL, 17, 0, 0);
	ts_acc_add_cells(&a, NULL, NULL, NULL, 19, 1, 2);
	ts_acc_add_cells(&a, "LL", "x", NULL, 23, 0, 0);
	assert_true(a.seen);
	assert_int_equal(a.count[TS_TOTAL], 3 + 5 + 7 + 11 + 13 + 17 + 19 + 23);
	assert_int_equal(a.count[TS_LEFT], 3 + 7);
	assert_int_equal(a.count[TS_RIGHT], 5 + 13);
	assert_int_equal(a.count[TS_MIDDLE], 11);
	assert_int_equal(a.pre, 151);
	assert_int_equal(a.post, 1502);
	ts_acc_free(&a);
	roi_meta_free(m);
}

static const char *
finish_nt(struct ts_acc *a, struct ts_type *t, const struct roi_meta *m)
{
	struct scan_stem s = { .stem = a->name };

	ts_finish(t, &s, a, m);
	return t->nt;
}

static void
test_nt(void **state)
{
	struct roi_meta *m = meta();
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	/* Tallied by cells: gaba 2 + 2 rows = 4 beats acetylcholine 3 rows. */
	ts_acc_init(&a, "T", m);
	ts_acc_add_cells(&a, "L", NULL, "acetylcholine", 1, 0, 0);
	ts_acc_add_cells(&a, "R", NULL, "acetylcholine", 1, 0, 0);
	ts_acc_add_cells(&a, "M", NULL, "acetylcholine", 1, 0, 0);
	ts_acc_add_cells(&a, "L", NULL, "gaba", 2, 0, 0);
	ts_acc_add_cells(&a, "R", NULL, "gaba", 2, 0, 0);
	ts_acc_add_cells(&a, "R", NULL, NULL, 9, 0, 0);	/* null nt */
	assert_string_equal(finish_nt(&a, &t, m), "gaba");
	ts_type_free(&t);
	/* Tie at 4: the smallest name wins. */
	ts_acc_add_cells(&a, "R", NULL, "acetylcholine", 1, 0, 0);
	ts_acc_add_cells(&a, "R", NULL, "glutamate", 4, 0, 0);
	assert_string_equal(finish_nt(&a, &t, m), "acetylcholine");
	ts_type_free(&t);
	ts_acc_free(&a);

	ts_acc_init(&a, "U", m);
	ts_acc_add_cells(&a, "R", NULL, NULL, 9, 0, 0);
	assert_null(finish_nt(&a, &t, m));
	ts_type_free(&t);
	ts_acc_free(&a);
	roi_meta_free(m);
}

static void
test_finish(void **state)
{
	struct scan_stem s = { .stem = "ADNM1_MN" };
	struct roi_meta *m = meta();
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	s.file[SIDE_BOTH] = "ADNM1_MN.html";
	s.file[SIDE_RIGHT] = "ADNM1_MN_R.html";
	ts_acc_init(&a, "ADNM1 MN", m);
	ts_acc_add_cells(&a, "R", NULL, "gaba", 2, 100, 900);
	ts_acc_add_cells(&a, NULL, "ADNM1 MN_L", "gaba", 1, 10, 90);
	ts_acc_add_roi(&a, m, "ME(R)", 60, 600);
	ts_acc_add_roi(&a, m, "LO(R)", 40, 390);
	ts_acc_add_roi(&a, m, "OL(R)", 100, 990);	/* not primary */
	ts_acc_add_roi(&a, m, "FB", 10, 0);
	ts_acc_add_roi(&a, m, NULL, 10, 0);
	ts_finish(&t, &s, &a, m);
	ts_acc_free(&a);	/* the record owns its copies */

	assert_string_equal(t.name, "ADNM1 MN");
	assert_true(t.matched);
	assert_string_equal(t.file[SIDE_BOTH], "ADNM1_MN.html");
	assert_string_equal(t.file[SIDE_RIGHT], "ADNM1_MN_R.html");
	assert_null(t.file[SIDE_LEFT]);
	assert_null(t.file[SIDE_MIDDLE]);
	assert_ptr_not_equal(t.file[SIDE_BOTH], s.file[SIDE_BOTH]);
	assert_int_equal(t.count[TS_TOTAL], 3);
	assert_int_equal(t.count[TS_LEFT], 1);
	assert_int_equal(t.count[TS_RIGHT], 2);
	assert_int_equal(t.count[TS_MIDDLE], 0);
	assert_int_equal(t.pre, 110);
	assert_int_equal(t.post, 990);
	assert_string_equal(t.nt, "gaba");
	assert_null(t.error);
	/* Σpre 110, Σpost 990: ME 660, LO 430, FB 10 (9.09 % pre). */
	assert_int_equal(t.roi.n, 3);
	assert_string_equal(t.roi.e[0].name, "ME");
	assert_true(t.roi.e[0].pre_pct == 100.0 * 60.0 / 110.0);
	assert_true(t.roi.e[0].post_pct == 100.0 * 600.0 / 990.0);
	assert_string_equal(t.roi.e[1].name, "LO");
	assert_string_equal(t.roi.e[2].name, "FB");
	assert_string_equal(t.roi.parent, "OL");
	ts_type_free(&t);
	roi_meta_free(m);
}

static void
test_neuron(void **state)
{
	struct scan_stem s = { .stem = "T4a" };
	struct roi_meta *m = meta();
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "T4a", m);
	assert_int_equal(ts_acc_add_neuron(&a, m, NULL, "T4a_R", "acetylcholine",
	    5, 50, "{\"FB\": {\"pre\": 5, \"post\": 50}, "
	    "\"OL(R)\": {\"pre\": 9, \"post\": 9}}"), 0);
	assert_int_equal(ts_acc_add_neuron(&a, m, "L", "T4a_R", NULL, 1, 2,
	    NULL), 0);
	assert_int_equal(ts_acc_add_neuron(&a, m, "L", NULL, NULL, 0, 0,
	    "not json"), -EBADMSG);
	assert_int_equal(a.count[TS_TOTAL], 3);
	assert_int_equal(a.count[TS_LEFT], 2);
	assert_int_equal(a.count[TS_RIGHT], 1);
	ts_finish(&t, &s, &a, m);
	assert_int_equal(t.roi.n, 1);
	assert_string_equal(t.roi.e[0].name, "FB");
	assert_int_equal(t.roi.e[0].pre, 5);
	assert_true(t.roi.e[0].pre_pct == 100.0);
	assert_string_equal(t.roi.parent, "CNS");
	assert_string_equal(t.nt, "acetylcholine");
	ts_type_free(&t);
	ts_acc_free(&a);
	roi_meta_free(m);
}

static void
test_unmatched(void **state)
{
	struct scan_stem s = { .stem = "Mystery_x" };
	struct ts_type t;
	int i;

	(void)state;
	s.file[SIDE_LEFT] = "Mystery_x_L.html";
	ts_unmatched(&t, &s, "neuPrint said no");
	assert_string_equal(t.name, "Mystery_x");
	assert_false(t.matched);
	assert_string_equal(t.file[SIDE_LEFT], "Mystery_x_L.html");
	assert_null(t.file[SIDE_BOTH]);
	for (i = 0; i < TS_NCOUNTS; i++)
		assert_int_equal(t.count[i], 0);
	assert_int_equal(t.pre, 0);
	assert_int_equal(t.post, 0);
	assert_null(t.nt);
	assert_int_equal(t.roi.n, 0);
	assert_string_equal(t.roi.parent, "");
	assert_string_equal(t.error, "neuPrint said no");
	ts_type_free(&t);

	ts_finish(&t, &s, NULL, NULL);
	assert_false(t.matched);
	assert_null(t.error);
	assert_string_equal(t.name, "Mystery_x");
	ts_type_free(&t);
}

static void
test_cmp(void **state)
{
	(void)state;
	struct scan_stem s[] = { { .stem = "b" }, { .stem = "B" },
	    { .stem = "a b" }, { .stem = "a_b" }, { .stem = "a/b" } };
	static const char *want[] = { "B", "a b", "a/b", "a_b", "b" };
	struct ts_type t[5];
	int i;

	for (i = 0; i < 5; i++)
		ts_unmatched(&t[i], &s[i], NULL);
	qsort(t, 5, sizeof(t[0]), ts_cmp_name);
	for (i = 0; i < 5; i++) {
		assert_string_equal(t[i].name, want[i]);
		ts_type_free(&t[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sides),
		cmocka_unit_test(test_nt),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_neuron),
		cmocka_unit_test(test_unmatched),
		cmocka_unit_test(test_cmp),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
