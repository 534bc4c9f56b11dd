/*
 * typeset tests: sides (every dataset convention), counts and sums from
 * CELLS, ROIS and TYPE rows, first non-null scalars, sorted lists, and the
 * final records.
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

#include "index/typeset.h"
#include "base/xmalloc.h"

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

/* A CELLS row: sides, counts; the rest empty. */
static struct ts_row
cells(const char *root, const char *soma, const char *inst, int64_t n,
    int64_t pre, int64_t post)
{
	struct ts_row r = { 0 };

	r.root_side = root;
	r.soma_side = soma;
	r.instance = inst;
	r.cells = n;
	r.pre = pre;
	r.post = post;
	return r;
}

static void
add(struct ts_acc *a, enum ts_adapter ad, struct ts_row r)
{
	ts_acc_add_cells(a, ad, &r);
}

/* cns: rootSide, else somaSide; only L, R, M; never the instance. */
static void
test_sides(void **state)
{
	struct roi_meta *m = meta();
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "LC10a", m);
	assert_false(a.seen);
	add(&a, TS_ADAPT_CNS, cells("L", "R", "LC10a_R", 3, 30, 300));
	add(&a, TS_ADAPT_CNS, cells(NULL, "R", "LC10a_L", 5, 50, 500));
	add(&a, TS_ADAPT_CNS, cells(NULL, NULL, "LC10a_L", 7, 70, 700));
	add(&a, TS_ADAPT_CNS, cells("M", NULL, NULL, 11, 0, 0));
	add(&a, TS_ADAPT_CNS, cells("U", "L", "LC10a_L", 13, 0, 0));
	add(&a, TS_ADAPT_CNS, cells("LL", NULL, "x", 17, 1, 2));
	assert_true(a.seen);
	assert_int_equal(a.count[TS_TOTAL], 3 + 5 + 7 + 11 + 13 + 17);
	assert_int_equal(a.count[TS_LEFT], 3);
	assert_int_equal(a.count[TS_RIGHT], 5);
	assert_int_equal(a.count[TS_MIDDLE], 11);
	assert_int_equal(a.count[TS_UNDEFINED], 7 + 13 + 17);
	assert_int_equal(a.pre, 151);
	assert_int_equal(a.post, 1502);
	ts_acc_free(&a);
	roi_meta_free(m);
}

static void
finish(struct ts_acc *a, struct ts_type *t, const struct roi_meta *m,
    enum ts_adapter ad)
{
	struct scan_stem s = { .stem = a->name };

	ts_finish(t, &s, a, m, ad);
}

/* The other datasets' conventions (neuview-site.md section 5). */
static void
test_adapters(void **state)
{
	struct roi_meta *m = meta();
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	assert_int_equal(ts_adapter_for("male-cns:v1.0"), TS_ADAPT_CNS);
	assert_int_equal(ts_adapter_for("manc:v1.2.1"), TS_ADAPT_CNS);
	assert_int_equal(ts_adapter_for("hemibrain:v1.2.1"), TS_ADAPT_HEMIBRAIN);
	assert_int_equal(ts_adapter_for("optic-lobe"), TS_ADAPT_OPTIC);
	assert_int_equal(ts_adapter_for("flywire-fafb:v783b"), TS_ADAPT_FAFB);
	assert_int_equal(ts_adapter_for("hemibrainx"), TS_ADAPT_CNS);

	/* hemibrain: no neuron with a side property: the instance, _L/_R only. */
	ts_acc_init(&a, "T", m);
	add(&a, TS_ADAPT_HEMIBRAIN, cells(NULL, NULL, "T_L", 2, 0, 0));
	add(&a, TS_ADAPT_HEMIBRAIN, cells(NULL, NULL, "T_R", 3, 0, 0));
	add(&a, TS_ADAPT_HEMIBRAIN, cells(NULL, NULL, "T_M", 5, 0, 0));
	finish(&a, &t, m, TS_ADAPT_HEMIBRAIN);
	assert_int_equal(t.count[TS_LEFT], 2);
	assert_int_equal(t.count[TS_RIGHT], 3);
	assert_int_equal(t.count[TS_UNDEFINED], 5);
	ts_type_free(&t);
	/* One neuron with somaSide: the properties, the rest undefined. */
	add(&a, TS_ADAPT_HEMIBRAIN, cells(NULL, "M", "T_L", 1, 0, 0));
	finish(&a, &t, m, TS_ADAPT_HEMIBRAIN);
	assert_int_equal(t.count[TS_MIDDLE], 1);
	assert_int_equal(t.count[TS_LEFT], 0);
	assert_int_equal(t.count[TS_UNDEFINED], 10);
	ts_type_free(&t);
	ts_acc_free(&a);

	/* optic-lobe: _R, -L, (l), _M_, not _Lx; upper-cased. */
	ts_acc_init(&a, "T", m);
	add(&a, TS_ADAPT_OPTIC, cells(NULL, NULL, "Tm1_R", 1, 0, 0));
	add(&a, TS_ADAPT_OPTIC, cells(NULL, NULL, "Tm1-L", 2, 0, 0));
	add(&a, TS_ADAPT_OPTIC, cells(NULL, NULL, "Tm1(l)", 4, 0, 0));
	add(&a, TS_ADAPT_OPTIC, cells(NULL, NULL, "a_M_b", 8, 0, 0));
	add(&a, TS_ADAPT_OPTIC, cells(NULL, NULL, "Tm_Lx", 16, 0, 0));
	add(&a, TS_ADAPT_OPTIC, cells(NULL, NULL, "Tm_Lx_R", 32, 0, 0));
	finish(&a, &t, m, TS_ADAPT_OPTIC);
	assert_int_equal(t.count[TS_RIGHT], 1 + 32);
	assert_int_equal(t.count[TS_LEFT], 2 + 4);
	assert_int_equal(t.count[TS_MIDDLE], 8);
	assert_int_equal(t.count[TS_UNDEFINED], 16);
	ts_type_free(&t);
	ts_acc_free(&a);

	/* fafb: per neuron rootSide, somaSide, side word, instance. */
	ts_acc_init(&a, "T", m);
	{
		struct ts_row r = cells(NULL, NULL, "T_R", 1, 0, 0);

		r.side = "left";
		add(&a, TS_ADAPT_FAFB, r);
		r.side = "center";
		add(&a, TS_ADAPT_FAFB, r);
		r.side = "sideways";
		add(&a, TS_ADAPT_FAFB, r);
		r.side = NULL;
		add(&a, TS_ADAPT_FAFB, r);
	}
	finish(&a, &t, m, TS_ADAPT_FAFB);
	assert_int_equal(t.count[TS_LEFT], 1);
	assert_int_equal(t.count[TS_MIDDLE], 1);
	assert_int_equal(t.count[TS_RIGHT], 1);
	assert_int_equal(t.count[TS_UNDEFINED], 1);
	ts_type_free(&t);
	ts_acc_free(&a);
	roi_meta_free(m);
}

/* First non-null in bodyId order, whatever the row order. */
static void
test_first(void **state)
{
	struct roi_meta *m = meta();
	struct ts_row r;
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "T", m);
	r = cells("L", NULL, NULL, 1, 0, 0);
	r.first_body = 50;
	r.first[TS_CONSENSUS_NT] = "gaba";
	r.first[TS_PREDICTED_NT] = "glutamate";
	add(&a, TS_ADAPT_CNS, r);
	r.first_body = 20;
	r.first[TS_CONSENSUS_NT] = NULL;	/* null: does not count */
	r.first[TS_PREDICTED_NT] = "acetylcholine";
	r.first[TS_SYNONYMS] = "A 2024: x; B 2025: y";
	add(&a, TS_ADAPT_CNS, r);
	r.first_body = 30;
	r.first[TS_CONSENSUS_NT] = "dopamine";
	r.first[TS_SYNONYMS] = "later";
	r.first[TS_DIMORPHISM] = "sexually dimorphic";
	add(&a, TS_ADAPT_CNS, r);
	finish(&a, &t, m, TS_ADAPT_CNS);
	assert_string_equal(t.nt, "dopamine");
	assert_string_equal(t.synonyms, "A 2024: x; B 2025: y");
	assert_string_equal(t.dimorphism, "sexually dimorphic");
	ts_type_free(&t);
	ts_acc_free(&a);

	/* No consensusNt anywhere: the first predicted one. */
	ts_acc_init(&a, "U", m);
	r = cells("R", NULL, NULL, 9, 0, 0);
	r.first_body = 7;
	r.first[TS_PREDICTED_NT] = "serotonin";
	add(&a, TS_ADAPT_CNS, r);
	r.first_body = 3;
	r.first[TS_PREDICTED_NT] = "octopamine";
	add(&a, TS_ADAPT_CNS, r);
	finish(&a, &t, m, TS_ADAPT_CNS);
	assert_string_equal(t.nt, "octopamine");
	assert_null(t.dimorphism);
	assert_null(t.synonyms);
	ts_type_free(&t);
	ts_acc_free(&a);
	roi_meta_free(m);
}

/* Sorted distinct lists; FlyWire values split on ',' and trimmed. */
static void
test_lists(void **state)
{
	struct roi_meta *m = meta();
	cJSON *cls = cJSON_Parse("[\"b\", \"a\", null, \"b\"]");
	cJSON *fw = cJSON_Parse("[\"LC10a_a, LC10ab\", \" LC10ab\", \",\"]");
	cJSON *hl = cJSON_Parse("[3, \"12A\"]");
	cJSON *one = cJSON_CreateString("a");
	struct ts_row r;
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "T", m);
	r = cells("L", NULL, NULL, 1, 0, 0);
	r.list[TS_CLASS] = cls;
	r.list[TS_FLYWIRE] = fw;
	r.list[TS_HEMILINEAGE] = hl;
	add(&a, TS_ADAPT_CNS, r);
	r = cells("L", NULL, NULL, 1, 0, 0);
	r.list[TS_CLASS] = one;		/* a TYPE row's single value */
	add(&a, TS_ADAPT_CNS, r);
	finish(&a, &t, m, TS_ADAPT_CNS);
	assert_int_equal(t.nlist[TS_CLASS], 2);
	assert_string_equal(t.list[TS_CLASS][0], "a");
	assert_string_equal(t.list[TS_CLASS][1], "b");
	assert_int_equal(t.nlist[TS_FLYWIRE], 2);
	assert_string_equal(t.list[TS_FLYWIRE][0], "LC10a_a");
	assert_string_equal(t.list[TS_FLYWIRE][1], "LC10ab");
	assert_int_equal(t.nlist[TS_HEMILINEAGE], 2);
	assert_string_equal(t.list[TS_HEMILINEAGE][0], "12A");
	assert_string_equal(t.list[TS_HEMILINEAGE][1], "3");
	assert_int_equal(t.nlist[TS_SUPERCLASS], 0);
	ts_type_free(&t);
	ts_acc_free(&a);
	cJSON_Delete(cls);
	cJSON_Delete(fw);
	cJSON_Delete(hl);
	cJSON_Delete(one);
	roi_meta_free(m);
}

/*
 * Found with the answers fuzz harness on a crafted input
 * (tests/fuzz/corpus/answers/list-big): a number past int64 in a list cell
 * ([1e300]) was converted to int64 before its range was checked, which is
 * undefined (UBSan aborted). It is written as %.17g, an integer as one.
 */
static void
test_list_big_number(void **state)
{
	struct scan_stem s = { .stem = "T1" };
	struct roi_meta *m = meta();
	cJSON *v = cJSON_Parse("[1e300, -1e300, 3, 2.5]");
	struct ts_row r = cells("L", NULL, NULL, 1, 1, 1);
	struct ts_type t;
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "T1", m);
	r.list[TS_SUPERCLASS] = v;
	ts_acc_add_cells(&a, TS_ADAPT_CNS, &r);
	ts_finish(&t, &s, &a, m, TS_ADAPT_CNS);
	assert_int_equal(t.nlist[TS_SUPERCLASS], 4);
	assert_string_equal(t.list[TS_SUPERCLASS][0], "-1.0000000000000001e+300");
	assert_string_equal(t.list[TS_SUPERCLASS][1], "1.0000000000000001e+300");
	assert_string_equal(t.list[TS_SUPERCLASS][2], "2.5");
	assert_string_equal(t.list[TS_SUPERCLASS][3], "3");
	ts_type_free(&t);
	ts_acc_free(&a);
	cJSON_Delete(v);
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
	add(&a, TS_ADAPT_CNS, cells("R", NULL, NULL, 2, 100, 900));
	add(&a, TS_ADAPT_CNS, cells(NULL, "L", "ADNM1 MN_L", 1, 10, 90));
	ts_acc_add_roi(&a, m, "ME(R)", 60, 600);
	ts_acc_add_roi(&a, m, "LO(R)", 40, 390);
	ts_acc_add_roi(&a, m, "OL(R)", 100, 990);	/* not primary */
	ts_acc_add_roi(&a, m, "FB", 10, 0);
	ts_acc_add_roi(&a, m, NULL, 10, 0);
	ts_finish(&t, &s, &a, m, TS_ADAPT_CNS);
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
	assert_null(t.nt);
	assert_null(t.error);
	/* Σpre 110, Σpost 990: ME 660, LO 430, FB 10 (9.09 % pre). */
	assert_int_equal(t.roi.n, 3);
	assert_string_equal(t.roi.e[0].name, "ME");
	assert_true(t.roi.e[0].pre_pct == 100.0 * 60.0 / 110.0);
	assert_true(t.roi.e[0].post_pct == 100.0 * 600.0 / 990.0);
	assert_string_equal(t.roi.e[1].name, "LO");
	assert_string_equal(t.roi.e[2].name, "FB");
	assert_string_equal(t.roi.parent, "OL");
	assert_int_equal(t.roi.nparents, 1);
	assert_string_equal(t.roi.parents[0], "OL");
	ts_type_free(&t);
	roi_meta_free(m);
}

/*
 * Found with the answers fuzz harness on a crafted input
 * (tests/fuzz/corpus/answers/overflow-cells): 1100 CELLS
 * rows of 2^53 synapses each summed past int64 (UBSan aborted the daemon).
 * The sums hold at INT64_MAX.
 */
static void
test_count_overflow(void **state)
{
	const int64_t big = INT64_C(9007199254740992);	/* 2^53 */
	struct roi_meta *m = meta();
	struct ts_acc a;
	int i;

	(void)state;
	ts_acc_init(&a, "T1", m);
	for (i = 0; i < 1100; i++)
		add(&a, TS_ADAPT_CNS, cells("L", NULL, "T1_L", big, big, big));
	assert_int_equal(a.count[TS_TOTAL], INT64_MAX);
	assert_int_equal(a.count[TS_LEFT], INT64_MAX);
	assert_int_equal(a.count_inst[TS_TOTAL], INT64_MAX);
	assert_int_equal(a.count_inst[TS_LEFT], INT64_MAX);
	assert_int_equal(a.pre, INT64_MAX);
	assert_int_equal(a.post, INT64_MAX);
	ts_acc_free(&a);
	roi_meta_free(m);
}

static void
test_neuron(void **state)
{
	struct scan_stem s = { .stem = "T4a" };
	struct roi_meta *m = meta();
	struct ts_type t;
	struct ts_row r;
	struct ts_acc a;

	(void)state;
	ts_acc_init(&a, "T4a", m);
	r = cells(NULL, "R", "T4a_R", 1, 5, 50);
	r.first[TS_CONSENSUS_NT] = "acetylcholine";
	r.first_body = 9;
	assert_int_equal(ts_acc_add_neuron(&a, TS_ADAPT_CNS, m, &r,
	    "{\"FB\": {\"pre\": 5, \"post\": 50}, "
	    "\"OL(R)\": {\"pre\": 9, \"post\": 9}}"), 0);
	r = cells("L", NULL, "T4a_R", 1, 1, 2);
	assert_int_equal(ts_acc_add_neuron(&a, TS_ADAPT_CNS, m, &r, NULL), 0);
	r = cells("L", NULL, NULL, 1, 0, 0);
	assert_int_equal(ts_acc_add_neuron(&a, TS_ADAPT_CNS, m, &r,
	    "not json"), -EBADMSG);
	assert_int_equal(a.count[TS_TOTAL], 3);
	assert_int_equal(a.count[TS_LEFT], 2);
	assert_int_equal(a.count[TS_RIGHT], 1);
	ts_finish(&t, &s, &a, m, TS_ADAPT_CNS);
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

	ts_finish(&t, &s, NULL, NULL, TS_ADAPT_CNS);
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

/* A copy is deep: freeing the original leaves it whole. */
static void
test_acc_copy(void **state)
{
	struct roi_meta *m = meta();
	struct ts_type t1, t2;
	struct ts_acc a, *c;
	struct ts_row r = cells("R", NULL, NULL, 2, 100, 900);
	cJSON *cls = cJSON_CreateString("LC");

	(void)state;
	ts_acc_init(&a, "X Y", m);
	r.first[TS_CONSENSUS_NT] = "gaba";
	r.first_body = 7;
	r.list[TS_CLASS] = cls;
	add(&a, TS_ADAPT_CNS, r);
	ts_acc_add_roi(&a, m, "ME(R)", 60, 600);
	ts_summarize(&t1, &a, m, TS_ADAPT_CNS);
	c = ts_acc_copy(&a);
	ts_acc_free(&a);
	ts_summarize(&t2, c, m, TS_ADAPT_CNS);
	ts_acc_free(c);
	free(c);
	assert_string_equal(t2.name, "X Y");
	assert_int_equal(t2.count[TS_TOTAL], t1.count[TS_TOTAL]);
	assert_int_equal(t2.pre, 100);
	assert_string_equal(t2.nt, "gaba");
	assert_int_equal(t2.nlist[TS_CLASS], 1);
	assert_string_equal(t2.list[TS_CLASS][0], "LC");
	assert_int_equal(t2.roi.n, t1.roi.n);
	assert_int_equal(t2.roi.e[0].pre, 60);
	ts_type_free(&t1);
	ts_type_free(&t2);
	cJSON_Delete(cls);
	roi_meta_free(m);
}

/* A matched record of NAME with the page FILE (side both) and PRE. */
static void
rec(struct ts_type *t, const char *name, const char *file, int64_t pre,
    const char *error)
{
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->file[SIDE_BOTH] = file ? xstrdup(file) : NULL;
	t->matched = 1;
	t->pre = pre;
	t->error = error ? xstrdup(error) : NULL;
	roi_summary_empty(&t->roi);
}

static void
test_merge_names(void **state)
{
	struct ts_type v[6];
	char **dropped = NULL;
	size_t n, nd = 0, i;

	(void)state;
	/* As sorted by ts_cmp_name: equal names in either order. */
	rec(&v[0], "A", "A.html", 1, NULL);
	rec(&v[1], "X Y", "X Y.html", 5, NULL);
	rec(&v[2], "X Y", "X_Y.html", 5, NULL);
	v[2].file[SIDE_LEFT] = xstrdup("X_Y_L.html");
	rec(&v[3], "X_Y", "X_Y.html", 9, NULL);	/* another type */
	rec(&v[4], "Z Z Z", "Z Z_Z.html", 0, "HTTP 500");
	rec(&v[5], "Z Z Z", "Z_Z Z.html", 3, NULL);
	n = ts_merge_names(v, 6, &dropped, &nd);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "A");
	assert_string_equal(v[1].name, "X Y");
	/* The rule's spelling is linked; the stray is reported. */
	assert_string_equal(v[1].file[SIDE_BOTH], "X_Y.html");
	assert_string_equal(v[1].file[SIDE_LEFT], "X_Y_L.html");
	assert_int_equal(v[1].pre, 5);
	assert_string_equal(v[2].name, "X_Y");
	assert_int_equal(v[2].pre, 9);
	/* The record with data wins over the failed one. */
	assert_string_equal(v[3].name, "Z Z Z");
	assert_null(v[3].error);
	assert_int_equal(v[3].pre, 3);
	assert_int_equal(nd, 2);
	assert_string_equal(dropped[0], "X Y.html");
	/* Neither is the rule's "Z_Z_Z.html": the smaller name is kept. */
	assert_string_equal(v[3].file[SIDE_BOTH], "Z Z_Z.html");
	assert_string_equal(dropped[1], "Z_Z Z.html");
	assert_null(v[4].name);		/* merged away: zeroed */
	for (i = 0; i < 6; i++)
		ts_type_free(&v[i]);
	for (i = 0; i < nd; i++)
		free(dropped[i]);
	free(dropped);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sides),
		cmocka_unit_test(test_adapters),
		cmocka_unit_test(test_first),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_neuron),
		cmocka_unit_test(test_unmatched),
		cmocka_unit_test(test_cmp),
		cmocka_unit_test(test_acc_copy),
		cmocka_unit_test(test_merge_names),
		cmocka_unit_test(test_count_overflow),
		cmocka_unit_test(test_list_big_number),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
