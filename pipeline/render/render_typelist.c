/*
 * render_typelist: types.html and static/js/neuron-search.js of the neuview
 * layout. The page's data is one JSON value (built with cJSON, so every
 * string is escaped once, by one encoder):
 *
 *   {"v":1,"s":[strings],"r":[row...]}
 *
 * "s" holds every ROI, parent, NT, class, dimorphism, neuromere and
 * hemilineage value once, in byte order; rows refer to them by index, which
 * keeps the page near 0.3 KB a type where neuView's cards take 1.56 KB. A
 * row is an array (docs/output.md, "types.html data"):
 *
 *   0 name, 1 pages (side bit mask, or [combined,left,right,middle] paths),
 *   2 file stem (0 when the name is the stem), 3 [total,left,right,middle,
 *   undefined], 4 pre, 5 post, 6 nt (-1: none), 7 superclass, 8 class,
 *   9 subclass, 10 dimorphism (-1), 11 synonyms ("" when none), 12 flywire
 *   names, 13 soma neuromeres, 14 hemilineages, 15 ROIs as flat
 *   [string, pre per mille, post per mille, ...], 16 parents.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "render/render_typelist.h"
#include "render/tpl.h"
#include "base/xmalloc.h"

/* The shared strings: sorted, distinct. */
struct tl_strs {
	const char	**v;
	size_t		 n, cap;
};

static void
tl_add(struct tl_strs *s, const char *str)
{
	if (str == NULL)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	assert(s->n < s->cap);	/* grown above */
	s->v[s->n++] = str;
}

static int
tl_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists whose values are shared strings (the flywire names are not). */
static const enum ts_list tl_shared[] = { TS_SUPERCLASS, TS_CLASS,
	TS_SUBCLASS, TS_NEUROMERE, TS_HEMILINEAGE };

static void
tl_collect(struct tl_strs *s, const struct ts_type *const *v, size_t n)
{
	size_t i, j, k, out;

	for (i = 0; i < n; i++) {
		tl_add(s, v[i]->nt);
		tl_add(s, v[i]->dimorphism);
		for (k = 0; k < sizeof(tl_shared) / sizeof(*tl_shared); k++)
			for (j = 0; j < v[i]->nlist[tl_shared[k]]; j++)
				tl_add(s, v[i]->list[tl_shared[k]][j]);
		for (j = 0; j < v[i]->roi.n; j++)
			tl_add(s, v[i]->roi.e[j].name);
		for (j = 0; j < v[i]->roi.nparents; j++)
			tl_add(s, v[i]->roi.parents[j]);
	}
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), tl_cmp);
	for (i = 1, out = 1; i < s->n; i++)
		if (strcmp(s->v[i], s->v[out - 1]) != 0)
			s->v[out++] = s->v[i];
	s->n = out;
}

/* Index of STR in S (it was added by tl_collect), -1 for NULL. */
static double
tl_idx(const struct tl_strs *s, const char *str)
{
	const char **hit;

	if (str == NULL)
		return -1;
	hit = bsearch(&str, s->v, s->n, sizeof(*s->v), tl_cmp);
	assert(hit != NULL);	/* tl_collect took every string rows name */
	return hit ? (double)(hit - s->v) : -1;
}

static cJSON *
tl_idx_list(const struct tl_strs *s, char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(tl_idx(s, v[i])));
	return a;
}

static void
tl_pages(cJSON *row, const struct ts_type *t)
{
	char *stem = render_stem(t, "types/");
	cJSON *a;
	int s, mask = 0;

	if (stem == NULL) {
		a = cJSON_CreateArray();
		for (s = 0; s < SIDE_COUNT; s++)
			cJSON_AddItemToArray(a, t->file[s] ?
			    cJSON_CreateString(t->file[s]) : cJSON_CreateNull());
		cJSON_AddItemToArray(row, a);
		cJSON_AddItemToArray(row, cJSON_CreateNumber(0));
		return;
	}
	for (s = 0; s < SIDE_COUNT; s++)
		if (t->file[s] != NULL)
			mask |= 1 << s;
	cJSON_AddItemToArray(row, cJSON_CreateNumber(mask));
	cJSON_AddItemToArray(row, strcmp(stem, t->name) == 0 ?
	    cJSON_CreateNumber(0) : cJSON_CreateString(stem));
	free(stem);
}

static cJSON *
tl_row(const struct tl_strs *s, const struct ts_type *t)
{
	cJSON *r = cJSON_CreateArray(), *a;
	size_t i;
	int k;

	cJSON_AddItemToArray(r, cJSON_CreateString(t->name));
	tl_pages(r, t);
	a = cJSON_CreateArray();
	for (k = 0; k < TS_NCOUNTS; k++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->count[k]));
	cJSON_AddItemToArray(r, a);
	cJSON_AddItemToArray(r, cJSON_CreateNumber((double)t->pre));
	cJSON_AddItemToArray(r, cJSON_CreateNumber((double)t->post));
	cJSON_AddItemToArray(r, cJSON_CreateNumber(tl_idx(s, t->nt)));
	for (k = TS_SUPERCLASS; k <= TS_SUBCLASS; k++)
		cJSON_AddItemToArray(r, tl_idx_list(s, t->list[k], t->nlist[k]));
	cJSON_AddItemToArray(r, cJSON_CreateNumber(tl_idx(s, t->dimorphism)));
	cJSON_AddItemToArray(r, cJSON_CreateString(t->synonyms ?
	    t->synonyms : ""));
	a = cJSON_CreateArray();
	for (i = 0; i < t->nlist[TS_FLYWIRE]; i++)
		cJSON_AddItemToArray(a,
		    cJSON_CreateString(t->list[TS_FLYWIRE][i]));
	cJSON_AddItemToArray(r, a);
	cJSON_AddItemToArray(r, tl_idx_list(s, t->list[TS_NEUROMERE],
	    t->nlist[TS_NEUROMERE]));
	cJSON_AddItemToArray(r, tl_idx_list(s, t->list[TS_HEMILINEAGE],
	    t->nlist[TS_HEMILINEAGE]));
	/* Shares in tenths of a percent: exact integers, short to print. */
	a = cJSON_CreateArray();
	for (i = 0; i < t->roi.n; i++) {
		cJSON_AddItemToArray(a,
		    cJSON_CreateNumber(tl_idx(s, t->roi.e[i].name)));
		cJSON_AddItemToArray(a,
		    cJSON_CreateNumber(round(t->roi.e[i].pre_pct * 10)));
		cJSON_AddItemToArray(a,
		    cJSON_CreateNumber(round(t->roi.e[i].post_pct * 10)));
	}
	cJSON_AddItemToArray(r, a);
	cJSON_AddItemToArray(r, tl_idx_list(s, t->roi.parents,
	    t->roi.nparents));
	return r;
}

/*
 * The data as script text: "<" becomes \u003c, so neither "</script" nor
 * "<!--" can occur; U+2028/2029 are legal in JSON and left alone.
 */
static char *
tl_data(const struct ts_type *const *v, size_t n)
{
	struct tl_strs s = { NULL, 0, 0 };
	cJSON *root = cJSON_CreateObject(), *strs, *rows;
	struct buf b = BUF_INIT;
	char *json, *p;
	size_t i;

	tl_collect(&s, v, n);
	cJSON_AddNumberToObject(root, "v", 1);
	strs = cJSON_AddArrayToObject(root, "s");
	for (i = 0; i < s.n; i++)
		cJSON_AddItemToArray(strs, cJSON_CreateString(s.v[i]));
	rows = cJSON_AddArrayToObject(root, "r");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(rows, tl_row(&s, v[i]));
	json = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	free(s.v);
	if (json == NULL)	/* cJSON allocates by xmalloc, which aborts */
		abort();
	for (p = json; *p != '\0'; p++) {
		if (*p == '<')
			buf_puts(&b, "\\u003c");
		else
			buf_putc(&b, *p);
	}
	cJSON_free(json);
	buf_puts(&b, "");
	return buf_steal(&b);
}

/*
 * The page without JavaScript: one link per type to its first page
 * (combined, left, right, middle), then its side pages.
 */
static char *
tl_noscript(const struct ts_type *const *v, size_t n)
{
	static const char *const label[SIDE_COUNT] = { "", "L", "R", "M" };
	struct buf b = BUF_INIT;
	size_t i;
	int s, first;

	buf_puts(&b, "");
	for (i = 0; i < n; i++) {
		buf_puts(&b, "<li>");
		for (s = 0, first = 1; s < SIDE_COUNT; s++) {
			if (v[i]->file[s] == NULL)
				continue;
			buf_puts(&b, first ? "<a href=\"" : " <a href=\"");
			tpl_url(&b, v[i]->file[s]);
			buf_puts(&b, "\">");
			tpl_html(&b, first ? v[i]->name : label[s]);
			buf_puts(&b, "</a>");
			if (first && s > SIDE_BOTH) {
				buf_puts(&b, " <a href=\"");
				tpl_url(&b, v[i]->file[s]);
				buf_printf(&b, "\">%s</a>", label[s]);
			}
			first = 0;
		}
		if (first)
			tpl_html(&b, v[i]->name);
		buf_puts(&b, "</li>\n");
	}
	return buf_steal(&b);
}

/* The built-in template NAME as text, or NULL and a message. */
static const char *
tl_template(const char *name, char *err, size_t errlen)
{
	const struct tpl_file *f = tpl_get(name, err, errlen);

	return f != NULL ? (const char *)f->data : NULL;
}

/* types.html, as a string in *PAGE. */
static int
tl_page(char **page, const struct ts_type *const *v, size_t n,
    const struct render_opts *o, const char *when, char *err, size_t errlen)
{
	const char *css, *js;
	struct buf title = BUF_INIT, dataset = BUF_INIT, b = BUF_INIT;
	char count[32], *data, *list;
	int rc;

	if ((css = tl_template("types.css", err, errlen)) == NULL ||
	    (js = tl_template("types.js", err, errlen)) == NULL)
		return -ENOENT;
	buf_puts(&title, "");
	if (o->title_prefix != NULL && *o->title_prefix != '\0') {
		tpl_html(&title, o->title_prefix);
		buf_puts(&title, " \xe2\x80\x93 ");
	}
	buf_puts(&title, "Types List");
	buf_puts(&dataset, "");
	tpl_html(&dataset, o->dataset);
	snprintf(count, sizeof(count), "%zu", n);
	data = tl_data(v, n);
	list = tl_noscript(v, n);
	{
		/* css and js are values: their text is never scanned. */
		const struct tpl_var vars[] = {
			TPL_STR("title", title.data),
			TPL_STR("dataset", dataset.data),
			TPL_STR("type_count", count),
			TPL_STR("generated_at", when),
			TPL_STR("css", css), TPL_STR("js", js),
			TPL_STR("data", data), TPL_STR("noscript", list),
		};

		rc = tpl_fill_builtin(&b, "types.html", vars,
		    sizeof(vars) / sizeof(*vars), err, errlen);
	}
	free(data);
	free(list);
	buf_free(&title);
	buf_free(&dataset);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	*page = buf_steal(&b);
	return 0;
}

int
render_typelist_build(const struct ts_type *const *v, size_t n,
    const struct render_opts *o, struct render_typelist *out, char *err,
    size_t errlen)
{
	char when[32], count[32];
	struct buf b = BUF_INIT;
	struct tm tm;
	int rc;

	out->page = out->js = NULL;
	if (gmtime_r(&o->generated_at, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "1970-01-01T00:00:00Z");
	snprintf(count, sizeof(count), "%zu", n);
	{
		const struct tpl_var vars[] = {
			TPL_STR("generated_at", when),
			TPL_STR("type_count", count),
		};

		rc = tpl_fill_builtin(&b, "nv-search.js", vars,
		    sizeof(vars) / sizeof(*vars), err, errlen);
	}
	if (rc == 0)
		rc = tl_page(&out->page, v, n, o, when, err, errlen);
	if (rc < 0) {
		buf_free(&b);
		free(out->page);
		out->page = NULL;
		return rc;
	}
	buf_append(&b, "", 0);
	out->js = buf_steal(&b);
	assert(out->page != NULL && out->js != NULL);	/* both, or neither */
	return 0;
}

int
render_typelist_put(const struct render_typelist *tl, struct od *od,
    char *err, size_t errlen)
{
	int rc;

	/* Built (render_typelist_build succeeded), into an open directory. */
	assert(tl->page != NULL && tl->js != NULL && od != NULL);
	if ((rc = od_mkdir(od, "static", err, errlen)) == 0 &&
	    (rc = od_mkdir(od, "static/js", err, errlen)) == 0 &&
	    (rc = od_stage(od, "static/js/neuron-search.js", tl->js,
	    strlen(tl->js), err, errlen)) == 0)
		rc = od_stage(od, "types.html", tl->page, strlen(tl->page), err,
		    errlen);
	return rc;
}

void
render_typelist_free(struct render_typelist *tl)
{
	free(tl->page);
	free(tl->js);
	tl->page = tl->js = NULL;
}
