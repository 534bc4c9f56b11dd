/*
 * scan tests: every naming case on a real temporary directory, the error
 * path, candidate expansion, name resolution and the 33,000-page timing.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/scan.h"
#include "base/xmalloc.h"

static void
touch(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static void
link_to(const char *dir, const char *target, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(symlink(target, path), 0);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)f;
	(void)flag;
	(void)st;
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static const struct scan_stem *
find(const struct scan_result *r, const char *stem)
{
	size_t i;

	for (i = 0; i < r->nstems; i++)
		if (strcmp(r->stems[i].stem, stem) == 0)
			return &r->stems[i];
	return NULL;
}

static void
assert_files(const struct scan_stem *s, const char *both, const char *left,
    const char *right, const char *middle)
{
	const char *want[SIDE_COUNT] = { both, left, right, middle };
	int i;

	assert_non_null(s);
	for (i = 0; i < SIDE_COUNT; i++) {
		if (want[i] == NULL)
			assert_null(s->file[i]);
		else
			assert_string_equal(s->file[i], want[i]);
	}
}

static void
test_dir_naming(void **state)
{
	(void)state;
	static const char *const pages[] = {
		"LC10a.html", "LC10a_L.html", "LC10a_R.html", "LC10a_M.html",
		"_L.html", "Foo__R.html", "KCa'b'-ap1.html",
		"DLMn_a,_b.html", "ADNM1_MN_L.html", "X_Q.html", "Y_l.html",
		"Tergopleural_Pleural_promotor_MN_M.html", "Index.html",
		"say\"hi\".html", "_.html", "a_M_L.html", "\xc3\xa9t\xc3\xa9.html",
		"Tergopleural_Pleural_promotor_MN.html", "Tergopleural_A.html",
		"Tergopl.html", "Tergople_R.html",
	};
	static const char *const ignored[] = {
		"index.html", "main.html", ".hidden.html", ".html", "notes.txt",
		"LC10a.htm", "a.html.bak", "html",
	};
	static const char *const order[] = {
		"ADNM1_MN", "DLMn_a,_b", "Foo_", "Index", "KCa'b'-ap1", "LC10a",
		"Link", "Tergopl", "Tergople", "Tergopleural_A",
		"Tergopleural_Pleural_promotor_MN", "X_Q", "Y_l", "_",
		"_L", "a_M", "say\"hi\"", "\xc3\xa9t\xc3\xa9",
	};
	char dir[] = "/tmp/qp-scan-XXXXXX", err[256], sub[300];
	struct scan_result r;
	size_t i;

	assert_non_null(mkdtemp(dir));
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		touch(dir, pages[i]);
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		touch(dir, ignored[i]);
	snprintf(sub, sizeof(sub), "%s/sub.html", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	touch(dir, "sub.html/Inner.html");
	link_to(dir, "notes.txt", "Link_R.html");	/* link to a file: a page */
	link_to(dir, "missing", "Dead.html");		/* dangling: not a page */
	link_to(dir, "sub.html", "Dirlink.html");	/* to a directory: not */

	assert_int_equal(scan_dir(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nstems, sizeof(order) / sizeof(order[0]));
	for (i = 0; i < r.nstems; i++)
		assert_string_equal(r.stems[i].stem, order[i]);
	assert_int_equal(r.nfiles, sizeof(pages) / sizeof(pages[0]) + 1);

	assert_files(find(&r, "LC10a"), "LC10a.html", "LC10a_L.html",
	    "LC10a_R.html", "LC10a_M.html");
	assert_files(find(&r, "_L"), "_L.html", NULL, NULL, NULL);
	assert_files(find(&r, "_"), "_.html", NULL, NULL, NULL);
	assert_files(find(&r, "Foo_"), NULL, NULL, "Foo__R.html", NULL);
	assert_files(find(&r, "ADNM1_MN"), NULL, "ADNM1_MN_L.html", NULL, NULL);
	assert_files(find(&r, "X_Q"), "X_Q.html", NULL, NULL, NULL);
	assert_files(find(&r, "Y_l"), "Y_l.html", NULL, NULL, NULL);
	assert_files(find(&r, "a_M"), NULL, "a_M_L.html", NULL, NULL);
	assert_files(find(&r, "Link"), NULL, NULL, "Link_R.html", NULL);
	assert_files(find(&r, "KCa'b'-ap1"), "KCa'b'-ap1.html", NULL, NULL,
	    NULL);
	assert_files(find(&r, "Tergopleural_Pleural_promotor_MN"),
	    "Tergopleural_Pleural_promotor_MN.html", NULL, NULL,
	    "Tergopleural_Pleural_promotor_MN_M.html");
	assert_files(find(&r, "Tergople"), NULL, NULL, "Tergople_R.html", NULL);
	assert_null(find(&r, "index"));
	assert_null(find(&r, "main"));
	assert_null(find(&r, "sub"));
	assert_null(find(&r, "Dead"));
	assert_null(find(&r, "Dirlink"));
	assert_null(find(&r, "Inner"));
	scan_free(&r);
	assert_null(r.stems);
	assert_int_equal(r.nstems, 0);
	rm_tree(dir);
}

static void
test_dir_empty(void **state)
{
	char dir[] = "/tmp/qp-scan-XXXXXX", err[256];
	struct scan_result r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(scan_dir(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nstems, 0);
	assert_int_equal(r.nfiles, 0);
	scan_free(&r);
	rm_tree(dir);
}

static void
test_dir_errors(void **state)
{
	char dir[] = "/tmp/qp-scan-XXXXXX", err[512], path[300];
	struct scan_result r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nope", dir);
	assert_int_equal(scan_dir(path, &r, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_null(r.stems);

	touch(dir, "file");
	snprintf(path, sizeof(path), "%s/file", dir);
	assert_int_equal(scan_dir(path, &r, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOTDIR)));
	rm_tree(dir);
}

static uint64_t rng = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regex spelled out the slow way: does NAME end in _L/_R/_M.html? */
static char *
ref_stem(const char *name)
{
	size_t n = strlen(name) - 5;

	if (n >= 3 && name[n - 2] == '_' && strchr("LRM", name[n - 1]))
		n -= 2;
	return xstrndup(name, n);
}

/*
 * 3,000 random names over a tiny alphabet, so stems share long prefixes,
 * differ only in length and collide across sides: the result must equal
 * the naive parse, deduplicated and sorted by strcmp.
 */
static void
test_dir_random(void **state)
{
	static const char alpha[] = "ab_LRM";
	char dir[] = "/tmp/qp-scan-XXXXXX", err[256], name[32];
	char **want = xcalloc(3000, sizeof(*want));
	struct scan_result r;
	size_t nwant = 0, nfiles = 0, i, k, len;
	struct stat st;
	char path[300];

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < 3000; i++) {
		len = 1 + rnd(14);
		for (k = 0; k < len; k++)
			name[k] = alpha[rnd(6)];
		memcpy(name + len, ".html", 6);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (stat(path, &st) == 0)
			continue;
		touch(dir, name);
		nfiles++;
		want[nwant++] = ref_stem(name);
	}
	qsort(want, nwant, sizeof(*want), cmp_str);
	for (i = k = 0; i < nwant; i++) {
		if (k > 0 && strcmp(want[k - 1], want[i]) == 0) {
			free(want[i]);
			continue;
		}
		want[k++] = want[i];
	}
	assert_int_equal(scan_dir(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nfiles, nfiles);
	assert_int_equal(r.nstems, k);
	for (i = 0; i < k; i++) {
		assert_string_equal(r.stems[i].stem, want[i]);
		free(want[i]);
	}
	free(want);
	scan_free(&r);
	rm_tree(dir);
}

/*
 * Male-CNS scale, 33,000 pages created out of order: every one found,
 * grouped and sorted, five times over (no state kept between scans). How
 * fast is a benchmark's question: bench/run's "scan" scenario.
 */
static void
test_dir_large(void **state)
{
	static const char *const suf[] = { "", "_L", "_R", "_M" };
	char dir[] = "/tmp/qp-scan-XXXXXX", err[256], name[64];
	struct scan_result r;
	int i, s, rep;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < 8250; i++)
		for (s = 0; s < 4; s++) {
			snprintf(name, sizeof(name), "T%05d_x%s.html",
			    (i * 7919) % 8250, suf[s]);
			touch(dir, name);
		}
	for (rep = 0; rep < 5; rep++) {
		assert_int_equal(scan_dir(dir, &r, err, sizeof(err)), 0);
		assert_int_equal(r.nfiles, 33000);
		assert_int_equal(r.nstems, 8250);
		assert_string_equal(r.stems[0].stem, "T00000_x");
		assert_string_equal(r.stems[8249].stem, "T08249_x");
		assert_string_equal(r.stems[8249].file[SIDE_MIDDLE],
		    "T08249_x_M.html");
		scan_free(&r);
	}
	rm_tree(dir);
}

static void
test_stem_of(void **state)
{
	char *s;

	(void)state;
	s = scan_stem_of("Tergopleural/Pleural promotor MN");
	assert_string_equal(s, "Tergopleural_Pleural_promotor_MN");
	free(s);
	s = scan_stem_of("KCa'b'-ap1 (x),y");
	assert_string_equal(s, "KCa'b'-ap1_(x),y");
	free(s);
	s = scan_stem_of("");
	assert_string_equal(s, "");
	free(s);
}

static int
strv_has(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void
test_candidates(void **state)
{
	char **v;
	size_t n, i, j;

	(void)state;
	assert_int_equal(scan_candidates("LC10a", 6, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "LC10a");
	scan_strv_free(v, n);

	assert_int_equal(scan_candidates("A_B_C", 6, &v, &n), 0);
	assert_int_equal(n, 9);
	assert_string_equal(v[0], "A_B_C");
	assert_string_equal(v[1], "A_B/C");	/* last underscore varies fastest */
	assert_string_equal(v[2], "A_B C");
	assert_string_equal(v[8], "A B C");
	assert_true(strv_has(v, n, "A/B C"));
	assert_true(strv_has(v, n, "A B/C"));
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(v[i], v[j]);
	scan_strv_free(v, n);

	assert_int_equal(scan_candidates("a_b_c_d_e_f", 6, &v, &n), 0);
	assert_int_equal(n, 243);
	assert_string_equal(v[0], "a_b_c_d_e_f");
	scan_strv_free(v, n);

	assert_int_equal(scan_candidates("______", 6, &v, &n), 0);
	assert_int_equal(n, 729);
	assert_string_equal(v[0], "______");
	assert_string_equal(v[728], "      ");
	scan_strv_free(v, n);

	assert_int_equal(scan_candidates("_______", 6, &v, &n), -E2BIG);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(scan_candidates("a_b", 0, &v, &n), -E2BIG);
	assert_int_equal(scan_candidates("ab", 0, &v, &n), 0);
	assert_int_equal(n, 1);
	scan_strv_free(v, n);
	assert_int_equal(scan_candidates("a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p_q_r_s_t_u_v",
	    1000, &v, &n), -E2BIG);
}

static void
test_resolve(void **state)
{
	const char *both[] = { "ADNM1 MN", "ADNM1_MN", "ADNM1/MN" };
	const char *none[] = { "a/b", "a b" };
	const char *one[] = { "x/y" };

	(void)state;
	assert_ptr_equal(scan_resolve("ADNM1_MN", both, 3), both[1]);
	/* ' ' (0x20) sorts before '/' (0x2f). */
	assert_ptr_equal(scan_resolve("a_b", none, 2), none[1]);
	assert_ptr_equal(scan_resolve("x_y", one, 1), one[0]);
	assert_null(scan_resolve("x_y", one, 0));
}

/* A stem stands for the names scan_candidates spells, and only those. */
static void
test_spells(void **state)
{
	char **v;
	size_t n, i;

	(void)state;
	assert_true(scan_spells("X_Y", "X Y"));
	assert_true(scan_spells("X_Y", "X/Y"));
	assert_true(scan_spells("X_Y", "X_Y"));
	assert_true(scan_spells("X Y", "X Y"));	/* a stray page's stem */
	assert_false(scan_spells("X Y", "X_Y"));
	assert_false(scan_spells("X Y", "X/Y"));
	assert_false(scan_spells("X_Y", "X_Y_"));
	assert_false(scan_spells("X_Y_", "X_Y"));
	assert_false(scan_spells("X_Y", "XaY"));
	assert_true(scan_spells("Acc._tr_flexor_MN_a", "Acc. tr flexor MN_a"));
	assert_true(scan_spells("Acc. tr flexor MN_a", "Acc. tr flexor MN_a"));
	assert_true(scan_spells("", ""));
	assert_int_equal(scan_candidates("a_b c_d", 8, &v, &n), 0);
	for (i = 0; i < n; i++)
		assert_true(scan_spells("a_b c_d", v[i]));
	scan_strv_free(v, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_naming),
		cmocka_unit_test(test_dir_empty),
		cmocka_unit_test(test_dir_errors),
		cmocka_unit_test(test_dir_random),
		cmocka_unit_test(test_dir_large),
		cmocka_unit_test(test_stem_of),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_spells),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
