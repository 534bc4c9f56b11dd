/*
 * test_render: types.json schema and values, neuron-search.js in node,
 * index.html escaping and grouping, the files left in place (sentinel, no
 * temp files); the neuview layout's shared pages (render_neuview); the
 * helpers all three writers share (tpl.c: escaping, placeholders,
 * built-ins). The writes themselves: test_outdir.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "base/buf.h"
#include "render/render.h"
#include "render/render_flat.h"
#include "render/render_neuview.h"
#include "render/tpl.h"
#include "base/xmalloc.h"

#define TPL_DIR	QP_TEST_SRCDIR "/data/templates"
#define BIG	INT64_C(9007199254740993)	/* 2^53 + 1: not a double */

extern char **environ;

/* ---- fixtures ---- */

/* A fixture's optional string: NULL stays NULL. */
static char *
fx_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct fx_type {
	const char	*name;
	const char	*file[SIDE_COUNT];
	int		 matched;
	const char	*parent;
	const char	*rois[3];
	const char	*nt;
	const char	*error;
};

/*
 * Awkward names: quotes, </script>, &, <b>, non-ASCII, U+2028, spaces and
 * '/' turned to '_' in file names, '%', '#' and '?'.
 */
static const struct fx_type fx[] = {
	{ "A \"quoted\" 'x'", { "A_\"quoted\"_'x'.html", NULL, NULL, NULL },
	    1, "OL", { "ME", "LO" }, "acetylcholine", NULL },
	{ "</script><b>bold</b>", { NULL, "<_script><b>bold<_b>_L.html",
	    "<_script><b>bold<_b>_R.html", NULL },
	    1, "CX", { "</script>", "FB" }, "gaba", NULL },
	{ "Tom & Jerry", { "Tom_&_Jerry.html", NULL, NULL, "Tom_&_Jerry_M.html" },
	    1, "OL", { "LO" }, NULL, NULL },
	{ "\xc3\x9c" "ber\xe2\x80\xa8" "line", { "\xc3\x9c" "ber\xe2\x80\xa8" "line.html",
	    NULL, NULL, NULL }, 1, "", { NULL }, "glutamate", NULL },
	{ "100%#1?", { "100%#1?.html", NULL, "100%#1?_R.html", NULL },
	    0, NULL, { NULL }, NULL, NULL },
	{ "Broken", { "Broken.html", NULL, NULL, NULL }, 0, NULL, { NULL }, NULL,
	    "neuPrint: <timeout> & \"retry\"" },
	{ "Zeta", { NULL, NULL, NULL, "Zeta_M.html" }, 1, "CX", { "EB", "FB",
	    "PB" }, "dopamine", NULL },
};
#define NFX	(sizeof(fx) / sizeof(fx[0]))

static double
fx_pct(size_t i, size_t k, int post)
{
	/* Values that need all 17 digits to read back. */
	return 100.0 * ((double)(k + 1) + post) / (3.0 + (double)i);
}

static void
fx_fill(struct ts_type *t, size_t i, const struct fx_type *f)
{
	size_t k;
	int s;

	memset(t, 0, sizeof(*t));
	t->name = xstrdup(f->name);
	for (s = 0; s < SIDE_COUNT; s++)
		t->file[s] = fx_dup(f->file[s]);
	t->matched = f->matched;
	if (f->matched) {
		t->count[TS_LEFT] = (int64_t)i;
		t->count[TS_RIGHT] = (int64_t)i + 1;
		t->count[TS_MIDDLE] = 2;
		t->count[TS_TOTAL] = 2 * (int64_t)i + 4;
		t->pre = BIG;
		t->post = (int64_t)i * 1000 + 7;
	}
	t->nt = fx_dup(f->nt);
	t->error = fx_dup(f->error);
	t->roi.parent = xstrdup(f->parent ? f->parent : "");
	t->roi.e = calloc(3, sizeof(*t->roi.e));
	assert_non_null(t->roi.e);
	for (k = 0; k < 3 && f->rois[k] != NULL; k++) {
		t->roi.e[k].name = xstrdup(f->rois[k]);
		t->roi.e[k].pre = (int64_t)(10 * k + i);
		t->roi.e[k].post = -1 - (int64_t)k;
		t->roi.e[k].pre_pct = fx_pct(i, k, 0);
		t->roi.e[k].post_pct = fx_pct(i, k, 1);
	}
	t->roi.n = k;
}

static void
fx_free(struct ts_type *t, size_t n)
{
	size_t i, k;
	int s;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		for (s = 0; s < SIDE_COUNT; s++)
			free(t[i].file[s]);
		free(t[i].nt);
		free(t[i].error);
		free(t[i].roi.parent);
		for (k = 0; k < t[i].roi.n; k++)
			free(t[i].roi.e[k].name);
		free(t[i].roi.e);
	}
	free(t);
}

/* ts_cmp_name's order (typeset.c), kept local so this test needs only
 * render.c and buf.c. */
static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct ts_type *)a)->name,
	    ((const struct ts_type *)b)->name);
}

static struct ts_type *
fx_types(void)
{
	struct ts_type *t = xcalloc(NFX, sizeof(*t));
	size_t i;

	for (i = 0; i < NFX; i++)
		fx_fill(&t[i], i, &fx[i]);
	qsort(t, NFX, sizeof(*t), cmp_name);
	return t;
}

/* ---- helpers ---- */

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
rm_rf(const char *dir)
{
	chmod(dir, 0755);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
mktmp(void)
{
	char tmpl[] = "/tmp/qp-render-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

/* DIR/NAME's text, never NULL: a file that cannot be opened fails the test. */
static char *
slurp(const char *dir, const char *name)
{
	char path[4096];
	struct buf b = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) < 0) {
		/*
		 * fail_msg returns as far as the compiler knows (cmocka has
		 * no noreturn): an empty text keeps callers off NULL.
		 */
		fail_msg("cannot open %s: %s", path, strerror(errno));
		return xstrdup("");
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	return buf_steal(&b);
}

static void
spit(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int
exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* Files whose name starts with '.' (our temp files) in DIR. */
static int
count_hidden(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static size_t
count_str(const char *hay, const char *needle, int icase)
{
	size_t n = 0;
	const char *p = hay;

	while ((p = icase ? strcasestr(p, needle) : strstr(p, needle)) != NULL) {
		n++;
		p++;
	}
	return n;
}

static struct render_opts
opts(const char *out)
{
	struct render_opts o = {
		.out_dir = out,
		.template_dir = TPL_DIR,
		.title_prefix = "CNS <&>",
		.dataset = "cns:v1 \"x\"",
		.dataset_version = "abc123@2026-11-20",
		.dataset_uuid = "abc123",
		.generated_at = 1795467600,	/* 2026-11-23T21:00:00Z */
		.quick = 0,
	};
	return o;
}

static void
render_ok(const struct ts_type *t, size_t n, const struct render_opts *o)
{
	char err[512] = "";
	/* Through the dispatch, as the job calls it. */
	int rc = render_run(SCAN_LAYOUT_QUICKPAGE, t, n, o, err, sizeof(err));

	if (rc != 0)
		fail_msg("render_run: %d %s", rc, err);
}

/* ---- types.json ---- */

static void
check_keys(const cJSON *obj, const char *const *keys, size_t n)
{
	const cJSON *c = obj->child;
	size_t i;

	for (i = 0; i < n; i++, c = c->next) {
		assert_non_null(c);
		assert_string_equal(c->string, keys[i]);
	}
	assert_null(c);
}

static const struct fx_type *
fx_find(const char *name)
{
	size_t i;

	for (i = 0; i < NFX; i++)
		if (strcmp(fx[i].name, name) == 0)
			return &fx[i];
	fail_msg("unexpected type %s", name);
	return NULL;
}

static void
check_urls(const cJSON *urls, const struct fx_type *f)
{
	static const char *const key[SIDE_COUNT] = {
		"combined", "left", "right", "middle"
	};
	const cJSON *c = urls->child;
	int s;

	for (s = 0; s < SIDE_COUNT; s++) {
		if (f->file[s] == NULL)
			continue;
		assert_non_null(c);
		assert_string_equal(c->string, key[s]);
		assert_string_equal(c->valuestring, f->file[s]);
		c = c->next;
	}
	assert_null(c);
}

static void
check_roi(const cJSON *arr, size_t fi, const struct fx_type *f)
{
	static const char *const key[] = {
		"name", "pre", "post", "pre_pct", "post_pct"
	};
	const cJSON *e;
	size_t k = 0;

	cJSON_ArrayForEach(e, arr) {
		check_keys(e, key, 5);
		assert_string_equal(cJSON_GetObjectItem(e, "name")->valuestring,
		    f->rois[k]);
		/* Bit-exact: doubles must round-trip. */
		assert_true(cJSON_GetObjectItem(e, "pre_pct")->valuedouble ==
		    fx_pct(fi, k, 0));
		assert_true(cJSON_GetObjectItem(e, "post_pct")->valuedouble ==
		    fx_pct(fi, k, 1));
		assert_true(cJSON_GetObjectItem(e, "post")->valuedouble ==
		    -1.0 - (double)k);
		k++;
	}
	assert_true(k == 3 || f->rois[k] == NULL);
}

static void
check_type(const cJSON *t, int quick)
{
	static const char *const key[] = {
		"name", "urls", "counts", "synapses", "nt", "superclass",
		"class", "subclass", "dimorphism", "synonyms", "flywire_types",
		"soma_neuromeres", "truman_hemilineages", "roi_summary",
		"parent_rois", "parent_roi"
	};
	static const char *const ckey[] = { "total", "left", "right", "middle",
	    "undefined" };
	const struct fx_type *f;
	const cJSON *nt;

	check_keys(t, key, 16);
	/* cmocka's failures return (not noreturn): stop here by hand. */
	if ((f = fx_find(cJSON_GetObjectItem(t, "name")->valuestring)) == NULL)
		return;
	check_urls(cJSON_GetObjectItem(t, "urls"), f);
	check_keys(cJSON_GetObjectItem(t, "counts"), ckey, 5);
	assert_string_equal(cJSON_GetObjectItem(t, "parent_roi")->valuestring,
	    f->parent ? f->parent : "");
	nt = cJSON_GetObjectItem(t, "nt");
	if (f->nt == NULL)
		assert_true(cJSON_IsNull(nt));
	else
		assert_string_equal(nt->valuestring, f->nt);
	check_roi(cJSON_GetObjectItem(t, "roi_summary"), (size_t)(f - fx), f);
	(void)quick;
}

static void
test_types_json(void **state)
{
	static const char *const key[] = {
		"version", "layout", "rules", "dataset", "dataset_version",
		"generated_at", "types", "unmatched", "failed"
	};
	struct ts_type *t = fx_types();
	char *out = mktmp(), *text;
	struct render_opts o = opts(out);
	cJSON *root, *e;
	const char *prev = "";
	size_t n = 0;

	(void)state;
	render_ok(t, NFX, &o);
	text = slurp(out, "types.json");
	assert_non_null(root = cJSON_Parse(text));
	check_keys(root, key, 9);
	assert_int_equal(cJSON_GetObjectItem(root, "version")->valueint, 2);
	assert_string_equal(cJSON_GetObjectItem(root, "dataset")->valuestring,
	    "cns:v1 \"x\"");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(root,
	    "dataset_version"), "uuid")->valuestring, "abc123");
	/* The failed type is listed with its reason. */
	e = cJSON_GetObjectItem(root, "failed");
	assert_int_equal(cJSON_GetArraySize(e), 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(e, 0),
	    "name")->valuestring, "Broken");
	assert_string_equal(cJSON_GetObjectItem(root,
	    "generated_at")->valuestring, "2026-11-23T21:00:00Z");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "types")) {
		check_type(e, 0);
		assert_true(strcmp(prev, e->child->valuestring) < 0);
		prev = e->child->valuestring;
		n++;
	}
	assert_int_equal(n, NFX);
	/* Stems no type maps to; a failed type ("Broken") is not one. */
	e = cJSON_GetObjectItem(root, "unmatched");
	assert_int_equal(cJSON_GetArraySize(e), 1);
	assert_string_equal(cJSON_GetArrayItem(e, 0)->valuestring, "100%#1?");
	/* int64 beyond 2^53 printed exactly (cJSON itself cannot hold it). */
	assert_non_null(strstr(text, "\"pre\": 9007199254740993,"));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "types")) {
		const cJSON *pr = cJSON_GetObjectItem(e, "parent_rois");

		assert_true(cJSON_IsArray(pr));
	}
	/* U+2028 escaped, the other non-ASCII kept as UTF-8. */
	assert_non_null(strstr(text, "\\u2028"));
	assert_non_null(strstr(text, "\xc3\x9c" "ber"));
	cJSON_Delete(root);
	free(text);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

static cJSON	*index_data(const char *);

static void
test_quick(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), *text, *html;
	struct render_opts o = opts(out);
	cJSON *root, *row;
	size_t i;

	(void)state;
	for (i = 0; i < NFX; i++)
		t[i].matched = 0;
	o.quick = 1;
	o.dataset_version = NULL;
	o.dataset_uuid = NULL;
	render_ok(t, NFX, &o);
	text = slurp(out, "types.json");
	assert_non_null(root = cJSON_Parse(text));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(root, "dataset_version")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root,
	    "unmatched")), 0);
	html = slurp(out, "index.html");
	assert_non_null(strstr(html, "<body class=\"quick\">"));
	cJSON_Delete(root);
	/* --quick: no type is "not in dataset" (nothing was asked). */
	root = index_data(html);
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(root, "r"))
		assert_int_equal(cJSON_GetArrayItem(row, 9)->valuedouble, 0);
	cJSON_Delete(root);
	free(text);
	free(html);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

static void
test_empty(void **state)
{
	char *out = mktmp(), *text;
	struct render_opts o = opts(out);
	cJSON *root;

	(void)state;
	render_ok(NULL, 0, &o);
	text = slurp(out, "types.json");
	assert_non_null(root = cJSON_Parse(text));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root,
	    "types")), 0);
	cJSON_Delete(root);
	free(text);
	assert_true(exists(out, "index.html"));
	assert_true(exists(out, "static/js/neuron-search.js"));
	rm_rf(out);
	free(out);
}

/* ---- neuron-search.js ---- */

static int
have_node(void)
{
	return system("command -v node >/dev/null 2>&1") == 0;
}

static int
run_node(const char *out, size_t n)
{
	char num[24], *dir = xstrdup(out);
	char *argv[] = { "node", QP_TEST_SRCDIR "/tests/unit/render_check.js",
	    dir, num, NULL };
	pid_t pid;
	int st, rc;

	snprintf(num, sizeof(num), "%zu", n);
	rc = posix_spawnp(&pid, "node", NULL, NULL, argv, environ);
	free(dir);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_search_js(void **state)
{
	struct ts_type *t;
	char *out, *js;

	(void)state;
	/* node is in tools/deps: a missing one is a broken machine, not a pass. */
	if (!have_node())
		fail_msg("node not found: cannot check neuron-search.js");
	t = fx_types();
	out = mktmp();
	struct render_opts o = opts(out);
	render_ok(t, NFX, &o);
	assert_int_equal(run_node(out, NFX), 0);
	js = slurp(out, "static/js/neuron-search.js");
	assert_non_null(strstr(js, "var NEURON_TYPES_DATA = ["));
	assert_non_null(strstr(js, "var NEURON_DATA = ["));
	assert_non_null(strstr(js, "\\u003c/script\\u003e"));
	free(js);
	render_ok(NULL, 0, &o);
	assert_int_equal(run_node(out, 0), 0);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/* ---- index.html ---- */

static void
html_esc(struct buf *b, const char *s)
{
	buf_reset(b);
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_putc(b, *s); break;
		}
	}
}

/* The page's data: the JSON of <script type="application/json" id="index-data">. */
static cJSON *
index_data(const char *html)
{
	static const char open[] =
	    "<script type=\"application/json\" id=\"index-data\">";
	const char *p = strstr(html, open), *e;
	cJSON *j;
	char *s;

	assert_non_null(p);
	p += strlen(open);
	assert_non_null(e = strstr(p, "</script>"));
	s = xstrndup(p, (size_t)(e - p));
	/* Safe in a <script>: no < at all, so no </script or <!--. */
	assert_null(strchr(s, '<'));
	assert_non_null(j = cJSON_Parse(s));
	free(s);
	return j;
}

/* Row of NAME in the data (fails if absent); its position in *AT. */
static cJSON *
index_row(cJSON *data, const char *name, int *at)
{
	cJSON *r;
	int i = 0;

	cJSON_ArrayForEach(r, cJSON_GetObjectItem(data, "r")) {
		if (strcmp(cJSON_GetArrayItem(r, 0)->valuestring, name) == 0) {
			if (at)
				*at = i;
			return r;
		}
		i++;
	}
	fail_msg("no row %s", name);
	return NULL;
}

static const char *
index_str(cJSON *data, cJSON *idx)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(data, "s"),
	    (int)idx->valuedouble)->valuestring;
}

static void
test_index_html(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), *html, *tpl;
	struct render_opts o = opts(out);
	struct buf b = BUF_INIT;
	const char *p, *cx, *ol, *other;
	cJSON *d, *r, *g;
	int a, z;
	size_t i;

	(void)state;
	render_ok(t, NFX, &o);
	html = slurp(out, "index.html");
	tpl = slurp(TPL_DIR, "index.html");
	d = index_data(html);
	/* Every name, escaped, in the list without JavaScript, and in the data. */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "r")), NFX);
	for (i = 0; i < NFX; i++) {
		html_esc(&b, fx[i].name);
		assert_non_null(strstr(html, b.data));
		(void)index_row(d, fx[i].name, NULL);
	}
	/* The only </script> are the template's own. */
	assert_int_equal(count_str(html, "</script", 1),
	    count_str(tpl, "</script", 1));
	assert_null(strstr(html, "<b>bold"));
	/* Three groups: CX, OL, then Other last; rows point at them. */
	g = cJSON_GetObjectItem(d, "g");
	assert_int_equal(cJSON_GetArraySize(g), 3);
	assert_string_equal(cJSON_GetArrayItem(g, 0)->valuestring, "CX");
	assert_string_equal(cJSON_GetArrayItem(g, 1)->valuestring, "OL");
	assert_string_equal(cJSON_GetArrayItem(g, 2)->valuestring, "Other");
	assert_int_equal(count_str(html, "<section id=\"g", 0), 3);
	assert_non_null(cx = strstr(html, "<h2>CX (2)</h2>"));
	assert_non_null(ol = strstr(html, "<h2>OL (2)</h2>"));
	assert_non_null(other = strstr(html, "<h2>Other (3)</h2>"));
	assert_true(cx < ol && ol < other);
	assert_non_null(strstr(html, "<option value=\"0\">CX (2)</option>"));
	assert_non_null(strstr(html, "<option value=\"2\">Other (3)</option>"));
	/* Within CX: the </script> type before Zeta (byte order). */
	r = index_row(d, "</script><b>bold</b>", &a);
	(void)index_row(d, "Zeta", &z);
	assert_true(a < z);
	assert_int_equal(cJSON_GetArrayItem(r, 3)->valuedouble, 0);
	assert_int_equal(cJSON_GetArrayItem(index_row(d, "Zeta", NULL), 3)->valuedouble, 0);
	/* Pages: a side mask and the stem when it is not the name. */
	assert_int_equal(cJSON_GetArrayItem(r, 1)->valuedouble, 2 | 4);
	assert_string_equal(cJSON_GetArrayItem(r, 2)->valuestring,
	    "<_script><b>bold<_b>");
	r = index_row(d, "Tom & Jerry", NULL);
	assert_int_equal(cJSON_GetArrayItem(r, 1)->valuedouble, 1 | 8);
	assert_string_equal(cJSON_GetArrayItem(r, 2)->valuestring, "Tom_&_Jerry");
	r = index_row(d, "100%#1?", NULL);
	assert_int_equal(cJSON_GetArrayItem(r, 1)->valuedouble, 1 | 4);
	assert_int_equal(cJSON_GetArrayItem(r, 2)->valuedouble, 0);
	/* Unmatched in Other, marked 1; a failed type carries its error. */
	assert_int_equal(cJSON_GetArrayItem(r, 3)->valuedouble, 2);
	assert_int_equal(cJSON_GetArrayItem(r, 9)->valuedouble, 1);
	r = index_row(d, "Broken", NULL);
	assert_string_equal(cJSON_GetArrayItem(r, 9)->valuestring,
	    "neuPrint: <timeout> & \"retry\"");
	r = index_row(d, "A \"quoted\" 'x'", NULL);
	assert_int_equal(cJSON_GetArrayItem(r, 9)->valuedouble, 0);
	/* Counts, synapses (exact beyond 2^53), NT, ROIs with per mille shares. */
	r = index_row(d, "Zeta", NULL);
	assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(r, 4), 0)->valuedouble,
	    2 * 6 + 4);
	p = strstr(html, "[\"Zeta\",8,0,0,[16,6,7,2],9007199254740993,6007,");
	assert_non_null(p);
	assert_string_equal(index_str(d, cJSON_GetArrayItem(r, 7)), "dopamine");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(r, 8)), 9);
	assert_string_equal(index_str(d, cJSON_GetArrayItem(cJSON_GetArrayItem(r, 8), 6)),
	    "PB");
	assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(r, 8), 7)->valuedouble,
	    llround(fx_pct(6, 2, 0) * 10));
	assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(r, 8), 8)->valuedouble,
	    llround(fx_pct(6, 2, 1) * 10));
	assert_string_equal(index_str(d, cJSON_GetArrayItem(cJSON_GetArrayItem(
	    index_row(d, "</script><b>bold</b>", NULL), 8), 0)), "</script>");
	/* No NT: -1 (compared as a double: cmocka's integers are unsigned). */
	assert_true(cJSON_GetArrayItem(index_row(d, "Tom & Jerry", NULL), 7)
	    ->valuedouble == -1);
	/* The list without JavaScript: hrefs percent-encoded, side links. */
	assert_non_null(strstr(html, "href=\"100%25%231%3F_R.html\">R</a>"));
	assert_non_null(strstr(html, "href=\"Tom_%26_Jerry.html\">Tom &amp; Jerry</a>"));
	assert_non_null(strstr(html, "href=\"%3C_script%3E%3Cb%3Ebold%3C_b%3E_L.html\">L</a>"));
	assert_non_null(strstr(html, "href=\"A_%22quoted%22_%27x%27.html\""));
	assert_non_null(strstr(html, "href=\"%C3%9Cber%E2%80%A8line.html\""));
	/* No combined page: the name as text, then the side links. */
	assert_non_null(strstr(html, "<li>Zeta <a href=\"Zeta_M.html\">M</a></li>"));
	/* Header facts, escaped. */
	assert_non_null(strstr(html, "<title>CNS &lt;&amp;&gt; Neuron Types</title>"));
	assert_non_null(strstr(html, "cns:v1 &quot;x&quot;"));
	assert_non_null(strstr(html, "2026-11-23T21:00:00Z"));
	/* ROI tag filter lists every tag once, escaped. */
	assert_int_equal(count_str(html, "<option value=\"FB\">", 0), 1);
	assert_non_null(strstr(html, "<option value=\"&lt;/script&gt;\">"));
	/* Self-contained: no external resources. */
	assert_null(strstr(html, "src=\"http"));
	assert_null(strstr(html, "<link "));
	assert_null(strstr(html, "{{"));
	cJSON_Delete(d);
	buf_free(&b);
	free(html);
	free(tpl);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/* ---- neuview layout: index.html, help.html, README.md ---- */

static struct render_opts
nv_opts(const char *out)
{
	struct render_opts o = opts(out);

	o.server = "https://np.example.org";
	o.last_database_edit = "2026-11-20";
	o.roi_threshold_pct = 2.5;
	o.layout = "neuview";
	o.rules = "neuview";
	return o;
}

static void
nv_ok(const struct ts_type *t, size_t n, const struct render_opts *o)
{
	char err[512] = "";
	int rc = render_run(SCAN_LAYOUT_NEUVIEW, t, n, o, err, sizeof(err));

	if (rc != 0)
		fail_msg("render_run (neuview): %d %s", rc, err);
}

/* N with a ',' every three digits, built digit by digit from the right. */
static void
grouped(char *dst, size_t len, int64_t n)
{
	char tmp[64];
	size_t k = 0, d = 0, i;

	do {
		if (d > 0 && d % 3 == 0)
			tmp[k++] = ',';
		tmp[k++] = (char)('0' + n % 10);
		n /= 10;
		d++;
	} while (n > 0);
	assert_true(k < len);
	for (i = 0; i < k; i++)
		dst[i] = tmp[k - 1 - i];
	dst[k] = '\0';
}

static void
test_neuview_shared(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), *html, *help, *md, want[160], num[64];
	struct render_opts o = nv_opts(out);
	int64_t cells = 0, syn = 0;
	size_t i;

	(void)state;
	o.title_prefix = "CNS <&>\n# not a heading";
	for (i = 0; i < NFX; i++) {
		cells += t[i].count[TS_TOTAL];
		syn += t[i].pre + t[i].post;
	}
	nv_ok(t, NFX, &o);
	assert_non_null(html = slurp(out, "index.html"));
	assert_non_null(help = slurp(out, "help.html"));
	assert_non_null(md = slurp(out, "README.md"));
	/* Figures as neuView prints them: neurons and pre + post summed. */
	grouped(num, sizeof(num), cells);
	snprintf(want, sizeof(want), "<span class=\"n\">%s</span> neurons", num);
	assert_non_null(strstr(html, want));
	grouped(num, sizeof(num), syn);
	assert_true(strlen(num) > 20);	/* beyond 2^53, with separators */
	snprintf(want, sizeof(want), "<span class=\"n\">%s</span> synapses", num);
	assert_non_null(strstr(html, want));
	assert_non_null(strstr(html, "<span class=\"n\">7</span> types"));
	/* The facts, escaped; the time in UTC and saying so. */
	assert_non_null(strstr(html, "<title>CNS &lt;&amp;&gt;\n# not a heading"
	    " \xe2\x80\x93 Neuron Types</title>"));
	assert_non_null(strstr(html, ">cns:v1 &quot;x&quot;</a>"));
	assert_non_null(strstr(html, "href=\"https://np.example.org/?dataset="
	    "cns%3Av1%20%22x%22\""));
	assert_non_null(strstr(html, "<dd>np.example.org</dd>"));
	assert_non_null(strstr(html, "<dd>abc123</dd>"));
	assert_non_null(strstr(html, "<dd>2026-11-20</dd>"));
	assert_non_null(strstr(html, "<time datetime=\"2026-11-23T21:00:00Z\">"
	    "2026-11-23 21:00 UTC</time>"));
	assert_non_null(strstr(html, "<input id=\"landing-search\""));
	assert_non_null(strstr(html, "href=\"types.html\""));
	assert_non_null(strstr(html, "href=\"help.html\""));
	assert_null(strstr(html, "{{"));
	assert_null(strstr(html, "src=\"http"));
	/* help.html: dataset, server and the site's ROI threshold. */
	assert_non_null(strstr(help, "<strong>cns:v1 &quot;x&quot;</strong>"));
	assert_non_null(strstr(help, "<strong>np.example.org</strong>"));
	assert_non_null(strstr(help, "at least 2.5&nbsp;%"));
	assert_null(strstr(help, "{{"));
	/* README.md: one line per fact; a line break cannot add a heading. */
	assert_non_null(strstr(md, "# CNS <&> # not a heading \xe2\x80\x93 "
	    "Neuron Types\n"));
	assert_null(strstr(md, "\n# not"));
	assert_non_null(strstr(md, "\n- Dataset: cns:v1 \"x\"\n"));
	assert_non_null(strstr(md, "\n- Server: np.example.org\n"));
	assert_non_null(strstr(md, "\n- UUID: abc123\n"));
	assert_non_null(strstr(md, "\n- Last database edit: 2026-11-20\n"));
	assert_non_null(strstr(md, "\n- Generated: 2026-11-23 21:00 UTC\n"));
	assert_non_null(strstr(md, "\n- Neuron types: 7\n"));
	assert_null(strstr(md, "{{"));
	assert_true(exists(out, "types.json"));
	assert_true(exists(out, "data/neurons.json"));
	assert_true(exists(out, "data/neurons.js"));
	assert_int_equal(count_hidden(out), 0);
	free(html);
	free(help);
	free(md);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/*
 * Counts from the server may sum past int64 over the types (typeset holds
 * each type's at INT64_MAX, roi_count_add): the home page's totals hold
 * there too instead of overflowing (UBSan aborted the render).
 */
static void
test_neuview_count_overflow(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), *html;
	struct render_opts o = nv_opts(out);

	(void)state;
	t[0].count[TS_TOTAL] = t[1].count[TS_TOTAL] = INT64_MAX;
	t[0].pre = t[0].post = INT64_MAX;
	nv_ok(t, NFX, &o);
	assert_non_null(html = slurp(out, "index.html"));
	assert_non_null(strstr(html, "<span class=\"n\">9,223,372,036,854,"
	    "775,807</span> neurons"));
	assert_non_null(strstr(html, "<span class=\"n\">9,223,372,036,854,"
	    "775,807</span> synapses"));
	free(html);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/* --quick asks nothing: the figures and the version are unknown, not 0. */
static void
test_neuview_quick(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), *html, *md;
	struct render_opts o = nv_opts(out);

	(void)state;
	o.quick = 1;
	o.dataset_version = o.dataset_uuid = o.last_database_edit = NULL;
	nv_ok(t, NFX, &o);
	assert_non_null(html = slurp(out, "index.html"));
	assert_non_null(md = slurp(out, "README.md"));
	assert_non_null(strstr(html, "<span class=\"n\">\xe2\x80\x94</span> "
	    "neurons"));
	assert_non_null(strstr(html, "<span class=\"n\">\xe2\x80\x94</span> "
	    "synapses"));
	assert_non_null(strstr(html, "<dt>UUID</dt><dd>\xe2\x80\x94</dd>"));
	assert_non_null(strstr(md, "\n- UUID: unknown\n"));
	free(html);
	free(md);
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/* A directory where help.html goes: refused, named, nothing written. */
static void
test_neuview_refuses_directory(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), err[512] = "", path[4096];
	struct render_opts o = nv_opts(out);

	(void)state;
	snprintf(path, sizeof(path), "%s/help.html", out);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(render_neuview_all(t, NFX, &o, err, sizeof(err)),
	    -EISDIR);
	assert_non_null(strstr(err, "/help.html: a directory"));
	assert_false(exists(out, "types.json"));
	assert_false(exists(out, "index.html"));
	assert_false(exists(out, "data"));
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/* ---- templates ---- */

static void
copy_templates(const char *dst)
{
	static const char *const f[] = {
		"index.html", "index.css", "index.js", "neuron-search.js"
	};
	size_t i;
	char *s;

	for (i = 0; i < 4; i++) {
		s = slurp(TPL_DIR, f[i]);
		spit(dst, f[i], s);
		free(s);
	}
}

static void
test_missing_template(void **state)
{
	char *out = mktmp(), err[512] = "";
	struct render_opts o = opts(out);

	(void)state;
	o.template_dir = "/nonexistent/qp-templates";
	assert_int_equal(render_flat_all(NULL, 0, &o, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/qp-templates/index.html"));
	assert_non_null(strstr(err, "open template"));
	/* Nothing written before the templates were all there. */
	assert_false(exists(out, "types.json"));
	rm_rf(out);
	free(out);
}

static void
test_bad_placeholder(void **state)
{
	char *out = mktmp(), *tpl = mktmp(), err[512] = "";
	struct render_opts o = opts(out);

	(void)state;
	copy_templates(tpl);
	spit(tpl, "index.html", "<p>{{ not one }} {{}} {{x</p>{{nope}}\n");
	o.template_dir = tpl;
	assert_int_equal(render_flat_all(NULL, 0, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "index.html: unknown placeholder {{nope}}"));
	/* A custom template with only known names works. */
	spit(tpl, "index.html", "<p>{{ x }} {{dataset}}</p>{{groups}}\n");
	render_ok(NULL, 0, &o);
	{
		char *h = slurp(out, "index.html");
		assert_string_equal(h, "<p>{{ x }} cns:v1 &quot;x&quot;</p>\n");
		free(h);
	}
	/* index.js must not be able to end its <script>. */
	spit(tpl, "index.js", "var a = '</SCRIPT>';\n");
	assert_int_equal(render_flat_all(NULL, 0, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "index.js"));
	rm_rf(tpl);
	rm_rf(out);
	free(tpl);
	free(out);
}

/* ---- the shared helpers (tpl.c, render_mkdir) ---- */

static void
html_of(struct buf *b, const char *s)
{
	buf_reset(b);
	buf_append(b, "", 0);
	tpl_html(b, s);
}

/*
 * One escaping rule for every layout: the five specials as entities; tab,
 * LF and CR kept (HTML whitespace); every other C0 control and DEL as
 * U+FFFD; UTF-8 untouched; NULL adds nothing.
 */
static void
test_tpl_html(void **state)
{
	struct buf b = BUF_INIT;
	char in[2] = "";
	int c;

	(void)state;
	html_of(&b, "a&b<c>d\"e'f");
	assert_string_equal(b.data, "a&amp;b&lt;c&gt;d&quot;e&#39;f");
	html_of(&b, "\t\n\r");
	assert_string_equal(b.data, "\t\n\r");
	for (c = 1; c < 0x20; c++) {
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		in[0] = (char)c;
		html_of(&b, in);
		assert_string_equal(b.data, "&#xFFFD;");
	}
	html_of(&b, "x\x7fy\x0cz");
	assert_string_equal(b.data, "x&#xFFFD;y&#xFFFD;z");
	html_of(&b, "\xc3\x9c" "ber\xe2\x80\xa8 ~");
	assert_string_equal(b.data, "\xc3\x9c" "ber\xe2\x80\xa8 ~");
	html_of(&b, NULL);
	assert_string_equal(b.data, "");
	/* Appends: what is already there stays. */
	buf_reset(&b);
	buf_puts(&b, "<p>");
	tpl_html(&b, "&");
	assert_string_equal(b.data, "<p>&amp;");
	buf_free(&b);
}

static void
test_tpl_fill(void **state)
{
	const struct tpl_var v[] = {
		TPL_STR("a", "{{b}}"), TPL_STR("b", "B"), TPL_STR("x_1", "X"),
		{ "cut", "12345", 2 },	/* LEN bytes, not the whole string */
	};
	const size_t nv = sizeof(v) / sizeof(v[0]);
	struct buf b = BUF_INIT;
	char err[256] = "";

	(void)state;
	/* A value is never scanned again: {{a}} yields "{{b}}", not "B". */
	assert_int_equal(tpl_fill(&b, "[{{a}}|{{b}}|{{x_1}}|{{cut}}]", "t",
	    v, nv, err, sizeof(err)), 0);
	assert_string_equal(b.data, "[{{b}}|B|X|12]");
	/* Only "{{" lower-case-key "}}" is a placeholder; the rest is text,
	 * such as JavaScript's "{{" or a key with capitals or blanks. */
	buf_reset(&b);
	assert_int_equal(tpl_fill(&b, "{{ b }} {{}} {{B}} {{b-c}} {{{b}}} "
	    "f(){{return 1}} {{b", "t", v, nv, err, sizeof(err)), 0);
	assert_string_equal(b.data, "{{ b }} {{}} {{B}} {{b-c}} {{{b}}} "
	    "f(){{return 1}} {{b");
	/* An unknown well-formed key: an error naming template and key. */
	buf_reset(&b);
	assert_int_equal(tpl_fill(&b, "ok {{b}} {{nope_2}}", "dir/page.html",
	    v, nv, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "dir/page.html: unknown placeholder "
	    "{{nope_2}}");
	/* The built-in variant names the set. */
	buf_reset(&b);
	assert_int_equal(tpl_fill_builtin(&b, "nv-search.js", v, nv, err,
	    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "(built-in templates)/nv-search.js: "
	    "unknown placeholder {{"));
	assert_int_equal(tpl_fill_builtin(&b, "nope.html", v, nv, err,
	    sizeof(err)), -ENOENT);
	assert_string_equal(err, "(built-in templates)/nope.html: not "
	    "compiled in");
	buf_free(&b);
}

/*
 * Every file in data/templates is compiled in, byte for byte, and nothing
 * else is.
 */
static void
test_tpl_get(void **state)
{
	const struct tpl_file *f;
	DIR *d = opendir(TPL_DIR);
	struct dirent *e;
	char err[256] = "", *want;
	size_t n = 0, nbuiltin = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "meson.build") == 0)
			continue;
		f = tpl_get(e->d_name, err, sizeof(err));
		if (f == NULL)
			fail_msg("%s", err);
		want = slurp(TPL_DIR, e->d_name);
		assert_int_equal(f->len, strlen(want));
		assert_memory_equal(f->data, want, f->len);
		assert_int_equal(f->data[f->len], '\0');
		free(want);
		n++;
	}
	closedir(d);
	for (f = tpl_builtin; f->name != NULL; f++)
		nbuiltin++;
	assert_int_equal(n, nbuiltin);
	assert_true(n >= 12);
	assert_null(tpl_get("index.htm", err, sizeof(err)));
	assert_string_equal(err, "(built-in templates)/index.htm: not "
	    "compiled in");
}

/* No filled output keeps a placeholder (a key its writer does not have). */
static void
no_placeholder(const char *dir, const char *name)
{
	char *s = slurp(dir, name), *p = s;
	size_t k;

	while ((p = strstr(p, "{{")) != NULL) {
		p += 2;
		k = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (k > 0 && strncmp(p + k, "}}", 2) == 0)
			fail_msg("%s/%s: placeholder {{%.*s}} left", dir, name,
			    (int)k, p);
	}
	free(s);
}

/*
 * Every built-in template renders with the strict rule (types.html and
 * nv-search.js used to keep unknown keys), and all three writers escape
 * alike: the page titles keep CR and replace other controls.
 */
static void
test_every_template_renders(void **state)
{
	static const char *const flat[] = {
		"index.html", "static/js/neuron-search.js"
	};
	static const char *const nv[] = {
		"index.html", "help.html", "README.md", "types.html",
		"data/neurons.js", "static/js/neuron-search.js"
	};
	struct ts_type *t = fx_types();
	char *a = mktmp(), *b = mktmp(), *s;
	struct render_opts o = nv_opts(a);
	size_t i;

	(void)state;
	o.template_dir = NULL;		/* the built-in set */
	o.title_prefix = "T\r\x01&";
	render_ok(t, NFX, &o);
	for (i = 0; i < sizeof(flat) / sizeof(flat[0]); i++)
		no_placeholder(a, flat[i]);
	s = slurp(a, "index.html");
	assert_non_null(strstr(s, "<title>T\r&#xFFFD;&amp; Neuron Types"
	    "</title>"));
	free(s);
	o.out_dir = b;
	nv_ok(t, NFX, &o);
	for (i = 0; i < sizeof(nv) / sizeof(nv[0]); i++)
		no_placeholder(b, nv[i]);
	s = slurp(b, "index.html");
	assert_non_null(strstr(s, "<title>T\r&#xFFFD;&amp; \xe2\x80\x93 "
	    "Neuron Types</title>"));
	free(s);
	s = slurp(b, "types.html");
	assert_non_null(strstr(s, "<title>T\r&#xFFFD;&amp; \xe2\x80\x93 "
	    "Types List</title>"));
	free(s);
	rm_rf(a);
	rm_rf(b);
	free(a);
	free(b);
	fx_free(t, NFX);
}

/* ---- atomic writes ---- */

static void
test_atomic_sentinel(void **state)
{
	struct ts_type *t = fx_types();
	char *out = mktmp(), *s, js[1024];
	struct render_opts o = opts(out);
	struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct stat st;
	char path[4096];

	(void)state;
	spit(out, "sentinel.html", "keep me\n");
	snprintf(path, sizeof(path), "%s/sentinel.html", out);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	render_ok(t, NFX, &o);
	render_ok(t, NFX, &o);	/* over existing files */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	s = slurp(out, "sentinel.html");
	assert_string_equal(s, "keep me\n");
	free(s);
	snprintf(js, sizeof(js), "%s/static/js", out);
	assert_int_equal(count_hidden(out), 0);
	assert_int_equal(count_hidden(js), 0);
	/* Mode 0644 through the umask. */
	snprintf(path, sizeof(path), "%s/index.html", out);
	assert_int_equal(stat(path, &st), 0);
	{
		mode_t um = umask(0);
		umask(um);
		assert_int_equal(st.st_mode & 0777, 0644 & ~um);
	}
	rm_rf(out);
	free(out);
	fx_free(t, NFX);
}

/* ---- scale ---- */

static void
test_scale(void **state)
{
	static const char *const parents[] = { "OL", "CX", "", "VNC", "CB" };
	const size_t n = 10000;
	struct ts_type *t = xcalloc(n, sizeof(*t));
	struct render_opts o;
	struct timespec a, b;
	char *out = mktmp(), name[64];
	struct fx_type f = { 0 };
	double ms;
	size_t i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "T%05zu", i);
		f.name = name;
		f.file[SIDE_BOTH] = "x.html";
		f.file[SIDE_LEFT] = i % 2 ? "x_L.html" : NULL;
		f.matched = 1;
		f.parent = parents[i % 5];
		f.rois[0] = "ME";
		f.rois[1] = i % 3 ? "LO" : NULL;
		f.nt = "gaba";
		fx_fill(&t[i], i, &f);
	}
	o = opts(out);
	clock_gettime(CLOCK_MONOTONIC, &a);
	render_ok(t, n, &o);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("render_flat_all, %zu types (3 files, fsync included): "
	    "%.1f ms\n", n, ms);
	/* Only catches quadratic work: valgrind and ASan runs are slow. */
	assert_true(ms < 20000);
	if (have_node())
		assert_int_equal(run_node(out, n), 0);
	rm_rf(out);
	free(out);
	fx_free(t, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types_json),
		cmocka_unit_test(test_quick),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_search_js),
		cmocka_unit_test(test_index_html),
		cmocka_unit_test(test_neuview_shared),
		cmocka_unit_test(test_neuview_quick),
		cmocka_unit_test(test_neuview_count_overflow),
		cmocka_unit_test(test_neuview_refuses_directory),
		cmocka_unit_test(test_missing_template),
		cmocka_unit_test(test_bad_placeholder),
		cmocka_unit_test(test_tpl_html),
		cmocka_unit_test(test_tpl_fill),
		cmocka_unit_test(test_tpl_get),
		cmocka_unit_test(test_every_template_renders),
		cmocka_unit_test(test_atomic_sentinel),
		cmocka_unit_test(test_scale),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
