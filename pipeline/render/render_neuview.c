/*
 * render_neuview: neuView-layout outputs. The JSON is built with cJSON
 * (compact, UTF-8 kept, as neuView's json.dumps(separators=(",", ":"),
 * ensure_ascii=False) writes it); data/neurons.js wraps the same data in
 * the built-in template neurons.js. index.html, help.html and README.md
 * fill the built-in templates neuview-*: quickpaged.template_dir is the
 * flat layout's page set and does not apply here.
 */
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "render/outdir.h"
#include "base/par.h"
#include "qp_build.h"
#include "render/render_neuview.h"
#include "render/render_typelist.h"
#include "render/tpl.h"
#include "base/xmalloc.h"

/* What this step writes, relative to the output directory; dirs end in /. */
static const char *const nv_outputs[] = {
	"types.json", "data/", "data/neurons.json", "data/neurons.js",
	RENDER_TYPELIST_OUTPUTS, "help.html", "README.md", "index.html",
};

static int
nv_cmp(const void *a, const void *b)
{
	const struct ts_type *x = *(const struct ts_type *const *)a;
	const struct ts_type *y = *(const struct ts_type *const *)b;

	return strcmp(x->name, y->name);
}

/* The page's name inside types/ (neuView's urls have no prefix). */
static const char *
nv_page(const char *file)
{
	return strncmp(file, "types/", 6) == 0 ? file + 6 : file;
}

static cJSON *
nv_synonyms(const char *raw)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = raw, *e, *s, *t;

	while (p != NULL && *p != '\0') {
		e = strchr(p, ';');
		if (e == NULL)
			e = p + strlen(p);
		for (s = p; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		for (t = e; t > s && (t[-1] == ' ' || t[-1] == '\t'); t--)
			;
		if (t > s) {
			char *one = xstrndup(s, (size_t)(t - s));

			cJSON_AddItemToArray(a, cJSON_CreateString(one));
			free(one);
		}
		p = *e ? e + 1 : e;
	}
	return a;
}

static cJSON *
nv_neuron(const struct ts_type *t)
{
	static const char *const key[SIDE_COUNT] = {
		"combined", "left", "right", "middle"
	};
	cJSON *o = cJSON_CreateObject(), *urls, *types, *fw, *syn;
	size_t i;
	int s;

	cJSON_AddStringToObject(o, "name", t->name);
	urls = cJSON_AddObjectToObject(o, "urls");
	for (s = 0; s < SIDE_COUNT; s++)
		if (t->file[s] != NULL)
			cJSON_AddStringToObject(urls, key[s], nv_page(t->file[s]));
	types = cJSON_CreateObject();
	if (t->nlist[TS_FLYWIRE] > 0) {
		fw = cJSON_AddArrayToObject(types, "flywire");
		for (i = 0; i < t->nlist[TS_FLYWIRE]; i++)
			cJSON_AddItemToArray(fw,
			    cJSON_CreateString(t->list[TS_FLYWIRE][i]));
	}
	syn = nv_synonyms(t->synonyms);
	if (cJSON_GetArraySize(syn) > 0)
		cJSON_AddItemToObject(types, "synonyms", syn);
	else
		cJSON_Delete(syn);
	if (types->child != NULL)
		cJSON_AddItemToObject(o, "types", types);
	else
		cJSON_Delete(types);
	return o;
}

/* neuView's data/neurons.json (neuview-site.md section 4). */
static cJSON *
nv_data(const struct ts_type *const *v, size_t n, time_t when)
{
	cJSON *root = cJSON_CreateObject(), *names, *neurons, *meta;
	char stamp[32];
	struct tm tm;
	size_t i;

	names = cJSON_AddArrayToObject(root, "names");
	neurons = cJSON_AddArrayToObject(root, "neurons");
	for (i = 0; i < n; i++) {
		cJSON_AddItemToArray(names, cJSON_CreateString(v[i]->name));
		cJSON_AddItemToArray(neurons, nv_neuron(v[i]));
	}
	/* UTC, where neuView writes local time without a zone. */
	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "1970-01-01 00:00:00");
	meta = cJSON_AddObjectToObject(root, "metadata");
	cJSON_AddStringToObject(meta, "generated", stamp);
	cJSON_AddNumberToObject(meta, "total_types", (double)n);
	cJSON_AddStringToObject(meta, "version", "2.0");
	return root;
}

/* The built-in template NAME filled from V, as a string in *OUT. */
static int
nv_fill(char **out, const char *name, const struct tpl_var *v, size_t nv,
    char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	int rc;

	if ((rc = tpl_fill_builtin(&b, name, v, nv, err, errlen)) < 0) {
		buf_free(&b);
		return rc;
	}
	buf_append(&b, "", 0);	/* an empty result is still a string */
	*out = buf_steal(&b);
	return 0;
}

enum nv_stamp { NV_ISO, NV_SHOWN };

/* WHEN in UTC: ISO 8601, or as the pages show it (with the zone). */
static void
nv_stamp(char *dst, size_t len, time_t when, enum nv_stamp form)
{
	struct tm tm;
	size_t k = 0;

	if (gmtime_r(&when, &tm) != NULL)
		k = form == NV_ISO ?
		    strftime(dst, len, "%Y-%m-%dT%H:%M:%SZ", &tm) :
		    strftime(dst, len, "%Y-%m-%d %H:%M UTC", &tm);
	if (k == 0)
		snprintf(dst, len, "1970-01-01T00:00:00Z");
}

/* HTML text or a quoted attribute value (tpl_html), as a new string. */
static char *
nv_html(const char *s)
{
	struct buf b = BUF_INIT;

	tpl_html(&b, s);
	buf_append(&b, "", 0);
	return buf_steal(&b);
}

/* A line of Markdown: control characters (line breaks too) become blanks. */
static char *
nv_line(const char *s)
{
	char *o = xstrdup(s ? s : ""), *p;

	for (p = o; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return o;
}

/* A query value: everything but unreserved characters percent-encoded. */
static char *
nv_query(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = xmalloc(3 * strlen(s) + 1), *q = o;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			*q++ = (char)*p;
		else {
			*q++ = '%';
			*q++ = hex[*p >> 4];
			*q++ = hex[*p & 15];
		}
	}
	*q = '\0';
	assert((size_t)(q - o) <= 3 * strlen(s));	/* the bound allocated */
	return o;
}

/* N with thousands separators, as neuView's figures print it. */
static void
nv_thousands(char *dst, size_t len, int64_t n)
{
	char d[32];
	size_t i, k = 0, nd;

	snprintf(d, sizeof(d), "%lld", (long long)(n < 0 ? 0 : n));
	nd = strlen(d);
	for (i = 0; i < nd && k + 2 < len; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			dst[k++] = ',';
		dst[k++] = d[i];
	}
	assert(k < len);	/* room for the NUL kept in the loop */
	dst[k] = '\0';
}

/* data/neurons.js: the comment header and the data (already JS-safe). */
static int
nv_js(char **out, const char *json, size_t n, time_t when, char *err,
    size_t errlen)
{
	char stamp[32], count[32];

	nv_stamp(stamp, sizeof(stamp), when, NV_ISO);
	snprintf(count, sizeof(count), "%zu", n);
	{
		const struct tpl_var vars[] = {
			TPL_STR("data_json", json),
			TPL_STR("generated_at", stamp),
			TPL_STR("type_count", count),
		};

		return nv_fill(out, "neurons.js", vars,
		    sizeof(vars) / sizeof(vars[0]), err, errlen);
	}
}

/* The values the shared pages show, each escaped for one target. */
struct nv_page {
	char	*title, *dataset, *server, *uuid, *edit, *url;
	char	 types[32], neurons[32], synapses[32], when[32], iso[32];
	char	 pct[32];
};

static void
nv_page_free(struct nv_page *p)
{
	free(p->title);
	free(p->dataset);
	free(p->server);
	free(p->uuid);
	free(p->edit);
	free(p->url);
}

/* ESC: nv_html for the pages, nv_line for README.md. */
static void
nv_page_init(struct nv_page *p, const struct ts_type *const *v, size_t n,
    const struct render_opts *o, char *(*esc)(const char *))
{
	const char *host = o->server ? o->server : "";
	const char *none = esc == nv_html ? "\xe2\x80\x94" : "unknown";
	char *title, *q, *url;
	int64_t cells = 0, syn = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		/* the server's counts: summed without overflow */
		cells = roi_count_add(cells, v[i]->count[TS_TOTAL]);
		syn = roi_count_add(syn, roi_count_add(v[i]->pre, v[i]->post));
	}
	title = xasprintf("%s%sNeuron Types",
	    o->title_prefix ? o->title_prefix : "",
	    o->title_prefix && *o->title_prefix ? " \xe2\x80\x93 " : "");
	p->title = esc(title);
	free(title);
	p->dataset = esc(o->dataset);
	if (strncmp(host, "https://", 8) == 0)
		host += 8;
	p->server = esc(host);
	p->uuid = esc(o->quick || !o->dataset_uuid ? none : o->dataset_uuid);
	p->edit = esc(o->quick || !o->last_database_edit ? none :
	    o->last_database_edit);
	q = nv_query(o->dataset ? o->dataset : "");
	url = xasprintf("https://%s/?dataset=%s", host, q);
	p->url = esc(url);	/* the host as given; the query is encoded */
	free(url);
	free(q);
	if (o->quick) {
		/* --quick asks nothing: the figures are unknown, not zero. */
		snprintf(p->neurons, sizeof(p->neurons), "%s", none);
		snprintf(p->synapses, sizeof(p->synapses), "%s", none);
	} else {
		nv_thousands(p->neurons, sizeof(p->neurons), cells);
		nv_thousands(p->synapses, sizeof(p->synapses), syn);
	}
	nv_thousands(p->types, sizeof(p->types), (int64_t)n);
	nv_stamp(p->when, sizeof(p->when), o->generated_at, NV_SHOWN);
	nv_stamp(p->iso, sizeof(p->iso), o->generated_at, NV_ISO);
	snprintf(p->pct, sizeof(p->pct), "%g", o->roi_threshold_pct);
}

/* index.html, help.html or README.md from its template NAME. */
static int
nv_shared(char **out, const char *name, const struct ts_type *const *v,
    size_t n, const struct render_opts *o, char *err, size_t errlen)
{
	struct nv_page p;
	int rc;

	nv_page_init(&p, v, n, o, strstr(name, ".md") ? nv_line : nv_html);
	{
		const struct tpl_var vars[] = {
			TPL_STR("title", p.title),
			TPL_STR("dataset", p.dataset),
			TPL_STR("server", p.server),
			TPL_STR("uuid", p.uuid),
			TPL_STR("last_database_edit", p.edit),
			TPL_STR("dataset_url", p.url),
			TPL_STR("type_count", p.types),
			TPL_STR("neuron_count", p.neurons),
			TPL_STR("synapse_count", p.synapses),
			TPL_STR("generated_at", p.when),
			TPL_STR("generated_iso", p.iso),
			TPL_STR("roi_threshold_pct", p.pct),
			TPL_STR("version", QP_VERSION),
		};

		rc = nv_fill(out, name, vars, sizeof(vars) / sizeof(vars[0]),
		    err, errlen);
	}
	nv_page_free(&p);
	return rc;
}

/* JavaScript-safe: "</" and the two line separators escaped. */
static char *
nv_js_safe(const char *json)
{
	size_t n = strlen(json), i, k = 0;
	char *o = xmalloc(6 * n + 1);

	for (i = 0; i < n; i++) {
		if (json[i] == '<') {
			memcpy(o + k, "\\u003c", 6);
			k += 6;
		} else if ((unsigned char)json[i] == 0xe2 && i + 2 < n &&
		    (unsigned char)json[i + 1] == 0x80 &&
		    ((unsigned char)json[i + 2] == 0xa8 ||
		    (unsigned char)json[i + 2] == 0xa9)) {
			memcpy(o + k, json[i + 2] == (char)0xa8 ? "\\u2028" :
			    "\\u2029", 6);
			k += 6;
			i += 2;
		} else
			o[k++] = json[i];
	}
	assert(k <= 6 * n);	/* at most six bytes for each one in */
	o[k] = '\0';
	return o;
}

/* The shared pages, built before anything is written; index.html last. */
static const char *const nv_pages[][2] = {
	{ "neuview-help.html", "help.html" },
	{ "neuview-README.md", "README.md" },
	{ "neuview-index.html", "index.html" },
};
#define NV_NPAGES	(sizeof(nv_pages) / sizeof(nv_pages[0]))

/* types.html, built on a second thread while the rest is built and staged. */
struct nv_list_job {
	const struct ts_type *const	 *v;
	size_t				  n;
	const struct render_opts	 *o;
	struct render_typelist		  tl;
	int				  rc;
	char				  err[512];
};

static void
nv_list_run(void *arg)
{
	struct nv_list_job *lj = arg;

	lj->rc = render_typelist_build(lj->v, lj->n, lj->o, &lj->tl, lj->err,
	    sizeof(lj->err));
}

int
render_neuview_all(const struct ts_type *types, size_t n,
    const struct render_opts *o, char *err, size_t errlen)
{
	const struct ts_type **v = xcalloc(n ? n : 1, sizeof(*v));
	char *json = NULL, *pretty = NULL, *safe = NULL, *js = NULL;
	char *page[NV_NPAGES] = { NULL };
	struct nv_list_job lj;
	struct od *od = NULL;
	struct par par = { 0 };	/* par_wait on it is a no-op till par_run */
	cJSON *data;
	size_t i;
	int rc;

	/* The home page is committed last (docs/output.md). */
	assert(strcmp(nv_pages[NV_NPAGES - 1][1], "index.html") == 0);
	memset(&lj, 0, sizeof(lj));
	for (i = 0; i < n; i++)
		v[i] = &types[i];
	qsort(v, n, sizeof(*v), nv_cmp);
	if ((rc = od_open(&od, o->out_dir, o->out_dir_nofollow, o->io,
	    err, errlen)) < 0 ||
	    (rc = od_check(od, nv_outputs, sizeof(nv_outputs) /
	    sizeof(*nv_outputs), err, errlen)) < 0)
		goto out;
	assert(od != NULL);	/* opened and checked before anything is written */
	lj.v = v;
	lj.n = n;
	lj.o = o;
	par_run(&par, nv_list_run, &lj);
	data = nv_data(v, n, o->generated_at);
	json = cJSON_PrintUnformatted(data);
	pretty = cJSON_Print(data);
	cJSON_Delete(data);
	assert(json != NULL && pretty != NULL);	/* xmalloc'd: never NULL */
	safe = nv_js_safe(pretty);
	/* A template missing or broken is a build error: nothing written. */
	if ((rc = nv_js(&js, safe, n, o->generated_at, err, errlen)) < 0)
		goto out;
	for (i = 0; i < NV_NPAGES; i++)
		if ((rc = nv_shared(&page[i], nv_pages[i][0], v, n, o, err,
		    errlen)) < 0)
			goto out;
	if ((rc = render_types_json_stage(v, n, o, od, err, errlen)) < 0 ||
	    (rc = od_mkdir(od, "data", err, errlen)) < 0 ||
	    (rc = od_stage(od, "data/neurons.json", json, strlen(json), err,
	    errlen)) < 0 ||
	    (rc = od_stage(od, "data/neurons.js", js, strlen(js), err,
	    errlen)) < 0)
		goto out;
	/* The type list before the home page, which is committed last. */
	par_wait(&par);
	/* A failed build leaves the list empty (render_typelist.h). */
	assert(lj.rc == 0 || (lj.tl.page == NULL && lj.tl.js == NULL));
	if ((rc = lj.rc) < 0 && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", lj.err);
	if (rc == 0)
		rc = render_typelist_put(&lj.tl, od, err, errlen);
	for (i = 0; i < NV_NPAGES && rc == 0; i++)
		rc = od_stage(od, nv_pages[i][1], page[i], strlen(page[i]), err,
		    errlen);
	if (rc == 0)
		rc = od_commit(od, err, errlen);
out:
	par_wait(&par);	/* an earlier step failed: the list is not wanted */
	render_typelist_free(&lj.tl);
	od_free(od);
	for (i = 0; i < NV_NPAGES; i++)
		free(page[i]);
	cJSON_free(json);
	cJSON_free(pretty);
	free(safe);
	free(js);
	free(v);
	return rc;
}
