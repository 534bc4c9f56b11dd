/*
 * roi tests: display names, primary lookup, roiInfo sums, the summary rules
 * with hand-computed numbers, and the parent walk.
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

#include "index/roi.h"
#include "base/xmalloc.h"

#define N(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Children are listed out of order on purpose: "Zeta" before "Alpha",
 * "Beta" before "Alpha". Sorted depth-first, Alpha's subtree comes first.
 */
static const char *hierarchy =
    "{\"name\": \"CNS\", \"children\": ["
    " {\"name\": \"Zeta\", \"children\": [{\"name\": \"X(R)\"}]},"
    " {\"name\": \"OL(R)\", \"children\": [{\"name\": \"ME(R)\"},"
    "   {\"name\": \"LO(R)\"}]},"
    " {\"name\": \"OL(L)\", \"children\": [{\"name\": \"ME(L)\"},"
    "   {\"name\": \"LO(L)\"}]},"
    " {\"name\": \"Beta\", \"children\": [{\"name\": \"Y\"}]},"
    " {\"name\": \"Alpha\", \"children\": ["
    "   {\"name\": \"Deep\", \"children\": [{\"name\": \"Y\"}]},"
    "   {\"name\": \"X(L)\"}]},"
    " {\"name\": \"VNC\", \"children\": [{\"name\": \"LegNp(T1)(L)\"},"
    "   {\"name\": \"LegNp(T1)(R)\"}]},"
    " {\"name\": \"FB\"},"
    " {\"noname\": 1, \"children\": [{\"name\": \"Hidden\"},"
    "   {\"name\": \"NO\"}]},"
    " {\"name\": \"Gamma\", \"children\": [{\"name\": \"NO\"},"
    "   {\"name\": \"Hidden\"}]}"
    "]}";

static const char *primary[] = {
	"ME(R)", "ME(L)", "LO(R)", "FB", "EB", "PB", "NO", "AB(R)", "Z1",
	"X(R)", "Y", "LegNp(T1)(L)", "CNS", "Nowhere", "Hidden", "ME(R)",
};

static struct roi_meta *
meta(void)
{
	struct roi_meta *m;
	char err[128];

	assert_int_equal(roi_meta_new(primary, N(primary), hierarchy, &m, err,
	    sizeof(err)), 0);
	return m;
}

static void
check_display(const char *raw, const char *want)
{
	char *d = roi_display_name(raw);

	assert_non_null(d);
	assert_string_equal(d, want);
	free(d);
}

static void
test_display(void **state)
{
	(void)state;
	check_display("ME(R)", "ME");
	check_display("ME(L)", "ME");
	check_display("AB(M)", "AB");
	check_display("LegNp(T1)(L)", "LegNp(T1)");
	check_display("LegNp(T1)", "LegNp(T1)");
	check_display("FB", "FB");
	check_display("X (R)", "X");
	check_display("X \t (L)", "X");
	check_display("X\n(L)", "X\n");	/* blanks are spaces and tabs */
	check_display("X(R)(R)", "X(R)");	/* one suffix only */
	check_display("X(r)", "X(r)");
	check_display("X(RR)", "X(RR)");
	check_display("(R)", "");
	check_display("", "");
}

static void
test_primary(void **state)
{
	struct roi_meta *m = meta();

	(void)state;
	assert_int_equal(roi_nprimary(m), N(primary) - 1);	/* ME(R) twice */
	assert_int_equal(roi_primary_index(m, "ME(R)"), 0);
	assert_int_equal(roi_primary_index(m, "LO(R)"), 2);
	assert_int_equal(roi_primary_index(m, "Hidden"), 14);
	assert_int_equal(roi_primary_index(m, "ME"), -1);
	assert_int_equal(roi_primary_index(m, "OL(R)"), -1);
	assert_int_equal(roi_primary_index(m, NULL), -1);
	assert_string_equal(roi_primary_name(m, 3), "FB");
	assert_null(roi_primary_name(m, 99));
	roi_meta_free(m);
}

static void
test_meta_errors(void **state)
{
	struct roi_meta *m;
	char err[128];

	(void)state;
	assert_int_equal(roi_meta_new(primary, 2, "{\"name\": ", &m, err,
	    sizeof(err)), -EBADMSG);
	assert_null(m);
	assert_non_null(strstr(err, "roiHierarchy"));
	assert_int_equal(roi_meta_new(primary, 2, "[1]", &m, err, sizeof(err)),
	    -EBADMSG);
	assert_int_equal(roi_meta_new(primary, 2, "{}", &m, err, sizeof(err)),
	    0);
	roi_meta_free(m);
	assert_int_equal(roi_meta_new(NULL, 0, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(roi_nprimary(m), 0);
	roi_meta_free(m);
	roi_meta_free(NULL);
}

static void
set(struct roi_acc *a, const struct roi_meta *m, const char *roi,
    int64_t pre, int64_t post)
{
	int i = roi_primary_index(m, roi);

	assert_true(i >= 0);
	roi_acc_add(a, i, pre, post);
}

static void
check_entry(const struct roi_summary *s, size_t i, const char *name,
    int64_t pre, int64_t post, int64_t tpre, int64_t tpost)
{
	assert_true(i < s->n);
	assert_string_equal(s->e[i].name, name);
	assert_int_equal(s->e[i].pre, pre);
	assert_int_equal(s->e[i].post, post);
	assert_true(s->e[i].pre_pct == 100.0 * (double)pre / (double)tpre);
	assert_true(s->e[i].post_pct == 100.0 * (double)post / (double)tpost);
}

/*
 * Σpre = 1000, Σpost = 2000. By pre + post: ME(R) 1200, Z1 641, LO(R) 600,
 * ME(L) 400 (ME again: skipped), NO 50, EB 43 (1.4 % / 1.45 %: dropped),
 * PB 30 (post exactly 1.5 %: kept, fifth), AB(R) 21, FB 15 (not reached).
 */
static void
test_summary_main(void **state)
{
	struct roi_meta *m = meta();
	struct roi_summary s;
	struct roi_acc a;

	(void)state;
	roi_acc_init(&a, m);
	set(&a, m, "ME(R)", 400, 800);
	set(&a, m, "ME(L)", 300, 100);
	set(&a, m, "LO(R)", 200, 400);
	set(&a, m, "FB", 15, 0);
	set(&a, m, "EB", 14, 29);
	set(&a, m, "PB", 0, 30);
	set(&a, m, "NO", 50, 0);
	set(&a, m, "AB(R)", 21, 0);
	set(&a, m, "Z1", 0, 641);
	roi_acc_add(&a, -1, 1000, 1000);	/* not primary: ignored */
	roi_acc_add(&a, 999, 1000, 1000);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, 5);
	check_entry(&s, 0, "ME", 400, 800, 1000, 2000);
	check_entry(&s, 1, "Z1", 0, 641, 1000, 2000);
	check_entry(&s, 2, "LO", 200, 400, 1000, 2000);
	check_entry(&s, 3, "NO", 50, 0, 1000, 2000);
	check_entry(&s, 4, "PB", 0, 30, 1000, 2000);
	assert_true(s.e[0].pre_pct == 40.0);
	assert_true(s.e[4].post_pct == 1.5);
	assert_string_equal(s.parent, "OL");
	roi_summary_free(&s);
	roi_acc_free(&a);
	roi_meta_free(m);
}

/*
 * The same sums under the neuview rules: no cap (AB(R) 2.1 % and FB 1.5 %
 * kept too), cleaned names, every distinct parent, sorted: ME and LO under
 * OL, FB under the root, NO first met under the unnamed node (no parent:
 * itself), Z1, PB, AB in no node (themselves).
 */
static void
test_summary_neuview(void **state)
{
	static const char *const want[] = { "ME", "Z1", "LO", "NO", "PB", "AB",
	    "FB" };
	static const char *const parents[] = { "AB", "CNS", "NO", "OL", "PB",
	    "Z1" };
	struct roi_rules r = { ROI_RULES_NEUVIEW, 1.5 };
	struct roi_meta *m = meta();
	struct roi_summary s;
	struct roi_acc a;
	size_t i;

	(void)state;
	roi_meta_set_rules(m, &r);	/* the summary below is neuView's */
	roi_acc_init(&a, m);
	set(&a, m, "ME(R)", 400, 800);
	set(&a, m, "ME(L)", 300, 100);
	set(&a, m, "LO(R)", 200, 400);
	set(&a, m, "FB", 15, 0);
	set(&a, m, "EB", 14, 29);
	set(&a, m, "PB", 0, 30);
	set(&a, m, "NO", 50, 0);
	set(&a, m, "AB(R)", 21, 0);
	set(&a, m, "Z1", 0, 641);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, N(want));
	for (i = 0; i < N(want); i++)
		assert_string_equal(s.e[i].name, want[i]);
	check_entry(&s, 0, "ME", 400, 800, 1000, 2000);
	assert_int_equal(s.nparents, N(parents));
	for (i = 0; i < N(parents); i++)
		assert_string_equal(s.parents[i], parents[i]);
	assert_string_equal(s.parent, "AB");
	roi_summary_free(&s);

	/* The threshold is the site's: at 30 % only ME and Z1 (32 % post). */
	r.threshold_pct = 30;
	roi_meta_set_rules(m, &r);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.e[1].name, "Z1");
	roi_summary_free(&s);
	roi_acc_free(&a);
	roi_meta_free(m);
}

static void
test_clean_name(void **state)
{
	static const char *const c[][2] = {
		{ "ME(R)", "ME" }, { "ME_L", "ME" }, { "LegNp(T1)(L)", "LegNp(T1)" },
		{ "X_R (L)", "X" }, { "PB(R1)", "PB(R1)" }, { " a_M ", "a_M" },
		{ "_R", "" }, { "", "" },
	};
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < N(c); i++) {
		s = roi_clean_name(c[i][0]);
		assert_string_equal(s, c[i][1]);
		free(s);
	}
	assert_string_equal(roi_rules_name(ROI_RULES_NEUVIEW), "neuview");
}

/* The 1.5 boundary on pre, ties by raw name, fewer than five kept. */
static void
test_summary_boundary(void **state)
{
	struct roi_meta *m = meta();
	struct roi_summary s;
	struct roi_acc a;

	(void)state;
	roi_acc_init(&a, m);
	set(&a, m, "NO", 485, 0);
	set(&a, m, "EB", 485, 0);	/* tie with NO: EB first */
	set(&a, m, "FB", 15, 0);	/* exactly 1.5 %: kept */
	set(&a, m, "PB", 14, 0);	/* 1.4 %: dropped */
	set(&a, m, "AB(R)", 1, 0);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, 3);
	check_entry(&s, 0, "EB", 485, 0, 1000, 1);
	check_entry(&s, 1, "NO", 485, 0, 1000, 1);
	assert_string_equal(s.e[2].name, "FB");
	assert_true(s.e[2].pre_pct == 1.5);
	assert_true(s.e[2].post_pct == 0.0);	/* Σpost = 0 */
	assert_string_equal(s.parent, "");	/* EB is not in the tree */
	roi_summary_free(&s);
	roi_acc_free(&a);
	roi_meta_free(m);
}

static void
test_summary_zero(void **state)
{
	struct roi_meta *m = meta();
	struct roi_summary s;
	struct roi_acc a;

	(void)state;
	roi_acc_init(&a, m);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, 0);
	assert_string_equal(s.parent, "");
	roi_summary_free(&s);
	roi_acc_free(&a);
	roi_meta_free(m);
}

/* Parent of ROI when it is the only one with synapses. */
static void
check_parent(const char *roi, const char *want)
{
	struct roi_meta *m = meta();
	struct roi_summary s;
	struct roi_acc a;

	roi_acc_init(&a, m);
	set(&a, m, roi, 10, 10);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, 1);
	if (strcmp(s.parent, want) != 0)
		fail_msg("parent of %s: \"%s\", want \"%s\"", roi, s.parent,
		    want);
	roi_summary_free(&s);
	roi_acc_free(&a);
	roi_meta_free(m);
}

static void
test_parent(void **state)
{
	(void)state;
	check_parent("ME(R)", "OL");
	check_parent("ME(L)", "OL");
	check_parent("LO(R)", "OL");
	check_parent("X(R)", "Alpha");		/* Alpha sorts before Zeta */
	check_parent("Y", "Deep");		/* depth first, not Beta */
	check_parent("LegNp(T1)(L)", "VNC");
	check_parent("FB", "CNS");		/* the root as parent */
	check_parent("CNS", "");		/* the root itself */
	check_parent("Nowhere", "");
	/* A nameless node sorts first; under it there is no parent. */
	check_parent("Hidden", "");
	check_parent("NO", "");
}

static void
test_add_info(void **state)
{
	struct roi_meta *m = meta();
	struct roi_acc a;

	(void)state;
	roi_acc_init(&a, m);
	assert_int_equal(roi_acc_add_info(&a, m, "{\"ME(R)\": {\"pre\": 12, "
	    "\"post\": 340, \"downstream\": 80, \"upstream\": 340}, "
	    "\"ME_R_layer_03\": {\"pre\": 5, \"post\": 5}, "
	    "\"OL(R)\": {\"pre\": 12, \"post\": 340}, "
	    "\"FB\": {\"post\": 7}, \"EB\": {\"pre\": 3}, \"PB\": 4, "
	    "\"NO\": {}}"), 0);
	assert_int_equal(roi_acc_add_info(&a, m, "{\"ME(R)\": {\"pre\": 1, "
	    "\"post\": 2}}"), 0);
	assert_int_equal(roi_acc_add_info(&a, m, NULL), 0);
	assert_int_equal(roi_acc_add_info(&a, m, ""), 0);
	assert_int_equal(roi_acc_add_info(&a, m, "{\"ME(R)\": "), -EBADMSG);
	assert_int_equal(roi_acc_add_info(&a, m, "[]"), -EBADMSG);
	assert_int_equal(a.pre[roi_primary_index(m, "ME(R)")], 13);
	assert_int_equal(a.post[roi_primary_index(m, "ME(R)")], 342);
	assert_int_equal(a.pre[roi_primary_index(m, "FB")], 0);
	assert_int_equal(a.post[roi_primary_index(m, "FB")], 7);
	assert_int_equal(a.pre[roi_primary_index(m, "EB")], 3);
	assert_int_equal(a.post[roi_primary_index(m, "EB")], 0);
	assert_int_equal(a.pre[roi_primary_index(m, "PB")], 0);
	assert_int_equal(a.pre[roi_primary_index(m, "NO")], 0);
	roi_acc_free(&a);
	roi_meta_free(m);
}

/*
 * Found with the answers fuzz harness on a crafted input (a random search
 * needs 1,025 rows; tests/fuzz/corpus/answers/overflow-rois): counts are the
 * server's, each exact (<= 2^53) but their sums past int64; UBSan aborted
 * the daemon on the overflow. Sums now hold at INT64_MAX (or INT64_MIN),
 * and the summary still ranks and keeps the ROI.
 */
static void
test_count_overflow(void **state)
{
	const int64_t big = INT64_C(9007199254740992);	/* 2^53 */
	struct roi_meta *m = meta();
	struct roi_summary s;
	struct roi_acc a;
	int i, me = roi_primary_index(m, "ME(R)"), fb = roi_primary_index(m, "FB");

	(void)state;
	assert_int_equal(roi_count_add(INT64_MAX - 1, 5), INT64_MAX);
	assert_int_equal(roi_count_add(INT64_MIN + 1, -5), INT64_MIN);
	assert_int_equal(roi_count_add(40, -2), 38);
	roi_acc_init(&a, m);
	for (i = 0; i < 1100; i++)	/* 1100 * 2^53 > INT64_MAX */
		roi_acc_add(&a, me, big, big);
	assert_int_equal(a.pre[me], INT64_MAX);
	assert_int_equal(a.post[me], INT64_MAX);
	/* ME's pre + post ranks at INT64_MAX; FB has half of all pre */
	roi_acc_add(&a, fb, INT64_MAX / 2, 0);
	roi_summarize(m, &a, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.e[0].name, "ME");
	assert_string_equal(s.e[1].name, "FB");
	roi_summary_free(&s);
	roi_acc_free(&a);
	roi_meta_free(m);
}

/* 200 primary ROIs through the hash: every one found at its index. */
static void
test_many(void **state)
{
	char *names[200], err[64];
	struct roi_meta *m;
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		names[i] = xmalloc(16);
		snprintf(names[i], 16, "R%d(%c)", i, "LRM"[i % 3]);
	}
	assert_int_equal(roi_meta_new((const char *const *)names, 200, "{}",
	    &m, err, sizeof(err)), 0);
	for (i = 0; i < 200; i++)
		assert_int_equal(roi_primary_index(m, names[i]), i);
	assert_int_equal(roi_primary_index(m, "R200(L)"), -1);
	roi_meta_free(m);
	for (i = 0; i < 200; i++)
		free(names[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_display),
		cmocka_unit_test(test_primary),
		cmocka_unit_test(test_meta_errors),
		cmocka_unit_test(test_summary_main),
		cmocka_unit_test(test_summary_neuview),
		cmocka_unit_test(test_clean_name),
		cmocka_unit_test(test_summary_boundary),
		cmocka_unit_test(test_summary_zero),
		cmocka_unit_test(test_parent),
		cmocka_unit_test(test_add_info),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_count_overflow),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
