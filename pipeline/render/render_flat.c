/*
 * render_flat: the flat (QuickPage) layout, beside render_neuview.c:
 * types.json (render.c writes it for both), static/js/neuron-search.js
 * and index.html, filled into the template set (render_tpl_load) and
 * staged, then committed together, the index last.
 *
 * index.html carries its rows as compact JSON (docs/output.md, "index.html
 * data"), grouped by parent ROI, with a list of links for the page without
 * JavaScript. It is the largest page: it is built on a second thread (par)
 * while types.json and the search script are built and staged here.
 *
 * Thread-safe as render.c is: nothing here keeps state between calls.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "render/outdir.h"
#include "base/par.h"
#include "render/render.h"
#include "render/render_flat.h"
#include "render/tpl.h"
#include "base/xmalloc.h"

static const char *const render_side_key[SIDE_COUNT] = {
	"both", "left", "right", "middle"
};
static const char *const render_side_letter[SIDE_COUNT] = {
	"B", "L", "R", "M"
};
/* primary_url: both, then left, right, middle (docs/create-index.md). */
static const int render_primary_order[SIDE_COUNT] = {
	SIDE_BOTH, SIDE_LEFT, SIDE_RIGHT, SIDE_MIDDLE
};

/* {"both": "X.html", ...} with only the pages that exist. */
static void
render_json_urls(struct render_w *w, const struct ts_type *t, int js)
{
	int s, first = 1;

	w_puts(w, "{");
	for (s = 0; s < SIDE_COUNT; s++) {
		if (t->file[s] == NULL)
			continue;
		w_puts(w, first ? "\"" : ", \"");
		w_puts(w, render_side_key[s]);
		w_puts(w, "\": ");
		w_json(w, t->file[s], js);
		first = 0;
	}
	w_puts(w, "}");
}

/* ---- static/js/neuron-search.js ---- */

static const char *
render_primary(const struct ts_type *t)
{
	int i;

	for (i = 0; i < SIDE_COUNT; i++)
		if (t->file[render_primary_order[i]] != NULL)
			return t->file[render_primary_order[i]];
	return NULL;
}

/* The two arrays the template's globals are set to (JS-escaped). */
static int
render_search_data(struct render_w *names, struct render_w *data,
    const struct ts_type *const *v, size_t n)
{
	size_t i;

	w_puts(names, "[");
	w_puts(data, "[");
	for (i = 0; i < n; i++) {
		w_puts(names, i ? ",\n  " : "\n  ");
		w_json(names, v[i]->name, 1);
		w_puts(data, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
		w_json(data, v[i]->name, 1);
		w_puts(data, ", \"urls\": ");
		render_json_urls(data, v[i], 1);
		w_puts(data, ", \"primary_url\": ");
		w_json_or_null(data, render_primary(v[i]), 1);
		w_puts(data, "}");
	}
	w_puts(names, n ? "\n]" : "]");
	w_puts(data, n ? "\n]" : "]");
	return names->rc ? names->rc : data->rc;
}

/* ---- index.html ---- */

static int
render_is_other(const struct ts_type *t)
{
	return t->roi.parent == NULL || t->roi.parent[0] == '\0';
}

/* Groups by parent ROI name, "Other" (no parent) last; names within. */
static int
render_cmp_group(const void *a, const void *b)
{
	const struct ts_type *x = *(const struct ts_type *const *)a;
	const struct ts_type *y = *(const struct ts_type *const *)b;
	int ox = render_is_other(x), oy = render_is_other(y), c;

	if (ox != oy)
		return ox - oy;
	if (!ox && (c = strcmp(x->roi.parent, y->roi.parent)) != 0)
		return c;
	return strcmp(x->name, y->name);
}

static int
render_cmp_name(const void *a, const void *b)
{
	const struct ts_type *x = *(const struct ts_type *const *)a;
	const struct ts_type *y = *(const struct ts_type *const *)b;

	return strcmp(x->name, y->name);
}

static int
render_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
render_same_group(const struct ts_type *a, const struct ts_type *b)
{
	if (render_is_other(a) || render_is_other(b))
		return render_is_other(a) == render_is_other(b);
	return strcmp(a->roi.parent, b->roi.parent) == 0;
}

/*
 * The strings rows refer to by index: every ROI name and NT once, sorted
 * (byte order). Built once per render, looked up by bsearch: linear-log.
 */
struct render_strs {
	const char	**v;
	size_t		 n;
};

static void
render_strs_build(struct render_strs *s, const struct ts_type *const *v,
    size_t n)
{
	size_t i, k, out, cap = 0;

	for (i = 0; i < n; i++)
		cap += v[i]->roi.n + (v[i]->nt != NULL);
	s->v = xreallocarray(NULL, cap ? cap : 1, sizeof(*s->v));
	s->n = 0;
	for (i = 0; i < n; i++) {
		if (v[i]->nt != NULL)
			s->v[s->n++] = v[i]->nt;
		for (k = 0; k < v[i]->roi.n; k++)
			s->v[s->n++] = v[i]->roi.e[k].name;
	}
	assert(s->n <= cap);	/* counted above */
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), render_cmp_str);
	for (i = 1, out = 1; i < s->n; i++)
		if (strcmp(s->v[i], s->v[out - 1]) != 0)
			s->v[out++] = s->v[i];
	s->n = out;
}

static int64_t
render_strs_idx(const struct render_strs *s, const char *str)
{
	const char **hit;

	if (str == NULL || s->n == 0)
		return -1;
	hit = bsearch(&str, s->v, s->n, sizeof(*s->v), render_cmp_str);
	/* Rows look up only what render_strs_build took from them. */
	assert(hit != NULL);
	return hit ? (int64_t)(hit - s->v) : -1;
}

/* Row fields 1 and 2: side bit mask and stem (0: the name), or paths. */
static void
render_data_pages(struct render_w *w, const struct ts_type *t)
{
	char *stem = render_stem(t, "");
	int s, mask = 0;

	if (stem == NULL) {
		w_puts(w, "[");
		for (s = 0; s < SIDE_COUNT; s++) {
			w_puts(w, s ? "," : "");
			w_json_or_null(w, t->file[s], 1);
		}
		w_puts(w, "],0");
		return;
	}
	for (s = 0; s < SIDE_COUNT; s++)
		if (t->file[s] != NULL)
			mask |= 1 << s;
	w_int(w, mask);
	w_puts(w, ",");
	if (strcmp(stem, t->name) == 0)
		w_puts(w, "0");
	else
		w_json(w, stem, 1);
	free(stem);
}

/*
 * One row of the page's data (docs/output.md, "index.html data"):
 * [name, pages, stem, group, [total,L,R,M], pre, post, nt, [roi, pre per
 * mille, post per mille, ...], state (0 ok, 1 not in dataset, or the
 * error text)].
 */
static void
render_data_row(struct render_w *w, const struct render_strs *s,
    const struct ts_type *t, size_t group, int quick)
{
	size_t i;
	int c;

	w_puts(w, "[");
	w_json(w, t->name, 1);
	w_puts(w, ",");
	render_data_pages(w, t);
	w_puts(w, ",");
	w_int(w, (int64_t)group);
	w_puts(w, ",[");
	for (c = TS_TOTAL; c <= TS_MIDDLE; c++) {
		w_puts(w, c ? "," : "");
		w_int(w, t->count[c]);
	}
	w_puts(w, "],");
	w_int(w, t->pre);
	w_puts(w, ",");
	w_int(w, t->post);
	w_puts(w, ",");
	w_int(w, render_strs_idx(s, t->nt));
	w_puts(w, ",[");
	for (i = 0; i < t->roi.n; i++) {
		const struct roi_entry *e = &t->roi.e[i];

		w_puts(w, i ? "," : "");
		w_int(w, render_strs_idx(s, e->name));
		w_puts(w, ",");
		w_int(w, isfinite(e->pre_pct) ? (int64_t)llround(e->pre_pct * 10) : 0);
		w_puts(w, ",");
		w_int(w, isfinite(e->post_pct) ? (int64_t)llround(e->post_pct * 10) : 0);
	}
	w_puts(w, "],");
	if (t->error != NULL)
		w_json(w, t->error, 1);
	else
		w_puts(w, !t->matched && !quick ? "1" : "0");
	w_puts(w, "]");
}

/* One type of the list shown without JavaScript: its pages' links. */
static void
render_plain_row(struct render_w *w, const struct ts_type *t)
{
	int s;

	w_puts(w, "<li>");
	if (t->file[SIDE_BOTH] != NULL) {
		w_puts(w, "<a href=\"");
		w_url(w, t->file[SIDE_BOTH]);
		w_puts(w, "\">");
		w_html(w, t->name);
		w_puts(w, "</a>");
	} else
		w_html(w, t->name);
	for (s = SIDE_LEFT; s < SIDE_COUNT; s++) {
		if (t->file[s] == NULL)
			continue;
		w_puts(w, " <a href=\"");
		w_url(w, t->file[s]);
		w_puts(w, "\">");
		w_puts(w, render_side_letter[s]);
		w_puts(w, "</a>");
	}
	w_puts(w, "</li>\n");
}

/*
 * G sorted by group (render_cmp_group). Into DATA the page's JSON
 * {"v":1,"s":[strings],"g":[group names],"r":[rows]}, "<" ">" "&"
 * escaped so it is safe in a <script>; into PLAIN every group as a
 * <section> of links (the page without JavaScript); into OPTS one
 * <option> per group.
 */
static int
render_groups(struct render_w *data, struct render_w *plain,
    struct render_w *opts, const struct ts_type **g, size_t n, int quick,
    size_t *ngroups)
{
	struct render_strs s;
	size_t i, j, k, gi, ng, rows = 0;

	render_strs_build(&s, g, n);
	/* About 110 bytes a row of data, 90 of links: no doublings. */
	if (n < SIZE_MAX / 1024) {
		buf_reserve(&data->b, n * 128 + 4096);
		buf_reserve(&plain->b, n * 100 + 4096);
	}
	w_puts(data, "{\"v\":1,\"s\":[");
	for (i = 0; i < s.n; i++) {
		w_puts(data, i ? "," : "");
		w_json(data, s.v[i], 1);
	}
	w_puts(data, "],\"g\":[");
	for (i = 0, gi = 0; i < n; i = j, gi++) {
		for (j = i + 1; j < n && render_same_group(g[i], g[j]); j++)
			;
		w_puts(data, gi ? "," : "");
		w_json(data, render_is_other(g[i]) ? "Other" : g[i]->roi.parent,
		    1);
		w_printf(plain, "<section id=\"g%zu\"><h2>", gi);
		w_html(plain, render_is_other(g[i]) ? "Other" : g[i]->roi.parent);
		w_printf(plain, " (%zu)</h2>\n<ul class=\"plain\">\n", j - i);
		w_printf(opts, "<option value=\"%zu\">", gi);
		w_html(opts, render_is_other(g[i]) ? "Other" : g[i]->roi.parent);
		w_printf(opts, " (%zu)</option>\n", j - i);
		for (k = i; k < j; k++)
			render_plain_row(plain, g[k]);
		w_puts(plain, "</ul></section>\n");
	}
	ng = gi;
	w_puts(data, "],\"r\":[");
	for (i = 0, gi = 0; i < n; i = j, gi++) {
		for (j = i + 1; j < n && render_same_group(g[i], g[j]); j++)
			;
		for (k = i; k < j; k++) {
			w_puts(data, k ? ",\n" : "\n");
			render_data_row(data, &s, g[k], gi, quick);
			rows++;
		}
	}
	/* Both passes cut the same groups, and every type is one row. */
	assert(gi == ng && rows == n);
	w_puts(data, "]}");
	free(s.v);
	*ngroups = gi;
	return data->rc ? data->rc : plain->rc ? plain->rc : opts->rc;
}

/* Every ROI tag once, sorted, as <option>s. */
static int
render_tag_options(struct render_w *w, const struct ts_type *const *v,
    size_t n)
{
	const char **tags;
	size_t i, k, nt = 0;

	for (i = 0; i < n; i++)
		nt += v[i]->roi.n;
	if (nt == 0)
		return 0;
	tags = xreallocarray(NULL, nt, sizeof(*tags));
	for (i = 0, nt = 0; i < n; i++)
		for (k = 0; k < v[i]->roi.n; k++)
			tags[nt++] = v[i]->roi.e[k].name;
	assert(nt > 0);	/* counted above: the same entries */
	qsort(tags, nt, sizeof(*tags), render_cmp_str);
	for (i = 0; i < nt; i++) {
		if (i > 0 && strcmp(tags[i], tags[i - 1]) == 0)
			continue;
		w_puts(w, "<option value=\"");
		w_html(w, tags[i]);
		w_puts(w, "\">");
		w_html(w, tags[i]);
		w_puts(w, "</option>\n");
	}
	free(tags);
	return w->rc;
}

#define RENDER_VAR(k, w)	{ (k), (w).b.data ? (w).b.data : "", (w).b.len }

/* A scalar placeholder value, HTML-escaped. */
static void
render_text_var(struct render_w *w, const char *s)
{
	w_html(w, s != NULL ? s : "");
	if (w->b.data == NULL)
		w_put(w, "", 0);
}

static int
render_index(struct render_w *out, const struct render_tpl *tpl,
    const struct ts_type *const *v, size_t n, const struct render_opts *o,
    const char *when, char *err, size_t errlen)
{
	struct render_w groups = RENDER_W_INIT, regions = RENDER_W_INIT;
	struct render_w data = RENDER_W_INIT;
	struct render_w tags = RENDER_W_INIT, title = RENDER_W_INIT;
	struct render_w prefix = RENDER_W_INIT, ds = RENDER_W_INIT;
	struct render_w ver = RENDER_W_INIT, at = RENDER_W_INIT;
	const struct ts_type **g;
	size_t i, ngroups = 0, unmatched = 0;
	char ntypes[24], nunm[24], ngrp[24];
	int rc;

	g = xreallocarray(NULL, n ? n : 1, sizeof(*g));
	memcpy(g, v, n * sizeof(*g));
	qsort(g, n, sizeof(*g), render_cmp_group);
	rc = render_groups(&data, &groups, &regions, g, n, o->quick,
	    &ngroups);
	free(g);
	if (rc == 0)
		rc = render_tag_options(&tags, v, n);
	for (i = 0; i < n; i++)
		unmatched += !v[i]->matched && !v[i]->error && !o->quick;
	snprintf(ntypes, sizeof(ntypes), "%zu", n);
	snprintf(nunm, sizeof(nunm), "%zu", unmatched);
	snprintf(ngrp, sizeof(ngrp), "%zu", ngroups);
	render_text_var(&prefix, o->title_prefix);
	if (o->title_prefix != NULL && *o->title_prefix != '\0') {
		w_html(&title, o->title_prefix);
		w_puts(&title, " ");
	}
	w_puts(&title, "Neuron Types");
	render_text_var(&ds, o->dataset);
	render_text_var(&ver, o->quick || o->dataset_version == NULL ?
	    "\xe2\x80\x94" : o->dataset_version);
	render_text_var(&at, when);
	if (rc == 0) {
		const struct tpl_var vars[] = {
			{ "title", title.b.data, title.b.len },
			RENDER_VAR("title_prefix", prefix),
			RENDER_VAR("dataset", ds),
			RENDER_VAR("dataset_version", ver),
			RENDER_VAR("generated_at", at),
			{ "type_count", ntypes, strlen(ntypes) },
			{ "unmatched_count", nunm, strlen(nunm) },
			{ "group_count", ngrp, strlen(ngrp) },
			{ "body_class", o->quick ? "quick" : "full",
			    o->quick ? 5 : 4 },
			{ "css", tpl->css.data, tpl->css.len },
			{ "js", tpl->js.data, tpl->js.len },
			RENDER_VAR("region_options", regions),
			RENDER_VAR("tag_options", tags),
			RENDER_VAR("groups", groups),
			RENDER_VAR("data", data),
		};
		rc = title.rc ? title.rc : prefix.rc ? prefix.rc : ds.rc ?
		    ds.rc : ver.rc ? ver.rc : at.rc;
		if (rc == 0)
			rc = render_subst(out, tpl->index.data, tpl->dir,
			    "index.html", vars, sizeof(vars) / sizeof(vars[0]),
			    err, errlen);
	}
	buf_free(&groups.b);
	buf_free(&data.b);
	buf_free(&regions.b);
	buf_free(&tags.b);
	buf_free(&title.b);
	buf_free(&prefix.b);
	buf_free(&ds.b);
	buf_free(&ver.b);
	buf_free(&at.b);
	return rc;
}

static int
render_search_js(struct render_w *out, const struct render_tpl *tpl,
    const struct ts_type *const *v, size_t n, const char *when, char *err,
    size_t errlen)
{
	struct render_w names = RENDER_W_INIT, data = RENDER_W_INIT;
	char ntypes[24];
	int rc;

	snprintf(ntypes, sizeof(ntypes), "%zu", n);
	rc = render_search_data(&names, &data, v, n);
	if (rc == 0) {
		/* generated_at is fixed ASCII; safe in a JS comment. */
		const struct tpl_var vars[] = {
			RENDER_VAR("types_json", names),
			RENDER_VAR("data_json", data),
			{ "generated_at", when, strlen(when) },
			{ "type_count", ntypes, strlen(ntypes) },
		};
		rc = render_subst(out, tpl->search.data, tpl->dir,
		    "neuron-search.js", vars, sizeof(vars) / sizeof(vars[0]),
		    err, errlen);
	}
	buf_free(&names.b);
	buf_free(&data.b);
	return rc;
}

/* What render_flat_all writes, relative to the output directory; dirs end in /. */
static const char *const render_outputs_list[] = {
	"types.json", "static/", "static/js/", "static/js/neuron-search.js",
	"index.html",
};

/* index.html, built on a second thread while the rest is built and staged. */
struct render_index_job {
	const struct render_tpl		 *tpl;
	const struct ts_type *const	 *v;
	size_t				  n;
	const struct render_opts	 *o;
	const char			 *when;
	struct render_w			  w;
	int				  rc;
	char				  err[512];
};

static void
render_index_run(void *arg)
{
	struct render_index_job *ij = arg;

	ij->rc = render_index(&ij->w, ij->tpl, ij->v, ij->n, ij->o, ij->when,
	    ij->err, sizeof(ij->err));
}

/*
 * Built in parallel (index.html on its own thread, types.json and the
 * search script here), staged in order, committed together. The first
 * error in staging order is the one reported.
 */
static int
render_outputs(const struct render_tpl *tpl, const struct ts_type *const *v,
    size_t n, const struct render_opts *o, char *err, size_t errlen)
{
	struct render_index_job ij;
	struct render_w w = RENDER_W_INIT;
	struct od *od;
	struct par par;
	char when[32];
	int rc;

	if ((rc = od_open(&od, o->out_dir, o->out_dir_nofollow, o->io, err,
	    errlen)) < 0)
		return rc;
	assert(od != NULL);	/* opened before anything is written */
	if ((rc = od_check(od, render_outputs_list,
	    sizeof(render_outputs_list) / sizeof(*render_outputs_list), err,
	    errlen)) < 0) {
		od_free(od);
		return rc;
	}
	render_iso8601(when, sizeof(when), o->generated_at);
	if ((rc = od_mkdir(od, "static", err, errlen)) < 0 ||
	    (rc = od_mkdir(od, "static/js", err, errlen)) < 0) {
		od_free(od);
		return rc;
	}
	memset(&ij, 0, sizeof(ij));
	ij.tpl = tpl;
	ij.v = v;
	ij.n = n;
	ij.o = o;
	ij.when = when;
	ij.w = (struct render_w)RENDER_W_INIT;
	par_run(&par, render_index_run, &ij);

	/* types.json is the largest output: size the one buffer for it. */
	if (n < SIZE_MAX / 1024)
		buf_reserve(&w.b, n * 960 + 65536);
	rc = render_types_json(&w, v, n, o, when);
	rc = render_emit(&w, rc, od, o->out_dir, "types.json", err, errlen);
	if (rc == 0) {
		buf_reset(&w.b);
		rc = render_search_js(&w, tpl, v, n, when, err, errlen);
		rc = render_emit(&w, rc, od, o->out_dir,
		    "static/js/neuron-search.js", err, errlen);
	}
	par_wait(&par);
	assert(ij.rc <= 0);	/* joined: 0 or a negative errno */
	if (rc == 0 && ij.rc < 0 && ij.err[0] != '\0' && err != NULL &&
	    errlen > 0)
		snprintf(err, errlen, "%s", ij.err);
	if (rc == 0)
		rc = render_emit(&ij.w, ij.rc, od, o->out_dir, "index.html",
		    err, errlen);
	if (rc == 0)
		rc = od_commit(od, err, errlen);
	od_free(od);
	buf_free(&w.b);
	buf_free(&ij.w.b);
	return rc;
}

int
render_flat_all(const struct ts_type *types, size_t n,
    const struct render_opts *o, char *err, size_t errlen)
{
	struct render_tpl tpl = RENDER_TPL_INIT;
	const struct ts_type **v;
	size_t i;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';	/* render_emit tells set messages by it */
	/* Sorted here too, so output order never depends on the caller. */
	v = xreallocarray(NULL, n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = &types[i];
	qsort(v, n, sizeof(*v), render_cmp_name);
	/* Templates first: a bad template dir must not leave half the output. */
	rc = render_tpl_load(&tpl, o->template_dir, o->template_no_symlinks,
	    err, errlen);
	if (rc == 0)
		rc = render_outputs(&tpl, v, n, o, err, errlen);
	render_tpl_free(&tpl);
	free(v);
	return rc;
}
