/*
 * cachework: cache loads and stores on libuv's thread pool. See
 * cachework.h. While a request is out the worker owns it whole (its own
 * copies of the key and the stem names); the loop touches it again only
 * in the after-callback.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store/cachecodec.h"
#include "store/cachework.h"
#include "base/xmalloc.h"

/* V as cache_store takes them; OWN, the same strings and bytes to free. */
struct cw_entries {
	struct cache_entry *v;
	struct cw_owned {
		char	*stem;
		void	*data;
	}		*own;
	size_t		 n, cap;
};

enum cw_kind { CW_LOAD, CW_STORE, CW_ADMIN };

struct cw_req {
	uv_work_t	 req;
	enum cw_kind	 kind;
	char		*dir;
	char		*strs[4];	/* the key's strings */
	struct cache_key key;
	int		 abandoned;
	void		*arg;
	/* load */
	char		**stems;	/* the scan's, sorted (scan.h) */
	size_t		 nstems;
	int		 roi;		/* run the ROI stage (cw_roi) */
	struct roi_rules rules;
	enum ts_adapter	 ad;
	char		*meta;		/* cw_roi.meta, ours */
	cw_load_cb	 load_cb;
	struct cw_loaded *res;
	/* store */
	struct cw_entries *e;
	struct cache_run run;
	char		*mode;
	char		*run_meta;	/* run.meta, ours */
	int		 prune;
	int		 checked;	/* this run's load checked the file */
	cw_store_cb	 store_cb;
	int		 rc;
	char		 err[400];
	char		 note[600];
	/* admin */
	int		 clear;
	cw_admin_cb	 admin_cb;
	cJSON		*result;
};

static struct cw_req *
req_new(const char *dir, const struct cache_key *k, enum cw_kind kind)
{
	struct cw_req *r = xcalloc(1, sizeof(*r));

	r->req.data = r;
	r->kind = kind;
	r->dir = xstrdup(dir);
	r->key = *k;
	r->key.server = r->strs[0] = k->server ? xstrdup(k->server) : NULL;
	r->key.dataset = r->strs[1] = k->dataset ? xstrdup(k->dataset) : NULL;
	r->key.uuid = r->strs[2] = k->uuid ? xstrdup(k->uuid) : NULL;
	r->key.edit = r->strs[3] = xstrdup(k->edit ? k->edit : "");
	return r;
}

static void
req_free(struct cw_req *r)
{
	size_t i;

	for (i = 0; i < 4; i++)
		free(r->strs[i]);
	for (i = 0; i < r->nstems; i++)
		free(r->stems[i]);
	free(r->stems);
	cw_loaded_free(r->res);
	free(r->meta);
	cw_entries_free(r->e);
	cJSON_Delete(r->result);
	free(r->mode);
	free(r->run_meta);
	free(r->dir);
	free(r);
}

void
cw_loaded_free(struct cw_loaded *res)
{
	size_t i;

	if (res == NULL)
		return;
	fetch_batch_free(res->batch);
	for (i = 0; i < res->nrecords; i++)
		ts_type_free(&res->records[i].t);
	free(res->records);
	free(res->meta);
	free(res->have);
	free(res);
}

char *
cw_meta_text(const struct cy_result *r)
{
	const cJSON *row = cy_row(r, 0), *list, *e;
	const char *hier;
	cJSON *a = cJSON_CreateArray(), *p = cJSON_CreateArray();
	char *txt;

	assert(r->nrows == 1);	/* roi_meta_parse accepted it: one row */
	/* The strings roi_meta_parse takes, in its order: equal answers,
	 * equal texts. */
	list = cJSON_GetArrayItem(row, cy_column(r, "primaryRois"));
	cJSON_ArrayForEach(e, list)
		if (cJSON_IsString(e))
			cJSON_AddItemToArray(p, cJSON_CreateString(e->valuestring));
	hier = cy_str(row, cy_column(r, "roiHierarchy"));
	cJSON_AddItemToArray(a, p);
	cJSON_AddItemToArray(a, cJSON_CreateString(hier ? hier : "{}"));
	txt = cJSON_PrintUnformatted(a);	/* xmalloc'd: never NULL */
	assert(txt != NULL);
	cJSON_Delete(a);
	return txt;
}

/* The roi_meta of a meta text (cw_meta_text); NULL if it is not one. */
static struct roi_meta *
meta_of(const char *text, const struct roi_rules *rules)
{
	struct roi_meta *m = NULL;
	const cJSON *p, *h, *e;
	const char **prim;
	cJSON *a;
	char err[200];
	size_t n = 0;

	if ((a = cJSON_Parse(text)) == NULL)
		return NULL;
	p = cJSON_GetArrayItem(a, 0);
	h = cJSON_GetArrayItem(a, 1);
	if (cJSON_IsArray(p) && cJSON_IsString(h)) {
		prim = xcalloc((size_t)cJSON_GetArraySize(p) + 1,
		    sizeof(*prim));
		cJSON_ArrayForEach(e, p)
			if (cJSON_IsString(e))
				prim[n++] = e->valuestring;
		if (roi_meta_new(prim, n, h->valuestring, &m, err,
		    sizeof(err)) < 0)
			m = NULL;
		free(prim);
	}
	if (m != NULL)
		roi_meta_set_rules(m, rules);
	cJSON_Delete(a);
	return m;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Entries as cache_load hands them out. With M, each goes through the ROI
 * stage as job.c's roi_stem would take it on the loop, and its
 * accumulators are freed at once: a warm run's records are ready when
 * META is back, and the accumulators never all live at the same time.
 * Without M (no META text to go by) they are kept in the batch.
 */
struct gather {
	struct cw_req	*r;
	struct roi_meta	*m;
	struct fetch_batch *b;
	size_t		 cap;
};

static void
add_record(struct gather *g, size_t idx, struct ts_acc **accs, size_t n)
{
	struct cw_loaded *res = g->r->res;
	const struct ts_acc *win;
	struct cw_record *rec;
	size_t i;

	assert(g->m != NULL && g->b->n == 0);	/* records, not the batch */
	if (res->nrecords == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 256;
		res->records = xreallocarray(res->records, g->cap,
		    sizeof(*res->records));
	}
	rec = &res->records[res->nrecords++];
	memset(rec, 0, sizeof(*rec));
	rec->stem = idx;
	win = ts_winner(g->r->stems[idx], accs, n);
	if ((rec->matched = win != NULL))
		ts_summarize(&rec->t, win, g->m, g->r->ad);
	for (i = 0; i < n; i++) {
		ts_acc_free(accs[i]);
		free(accs[i]);
	}
	free(accs);
}

static void
add_stem(struct gather *g, size_t idx, struct ts_acc **accs, size_t n)
{
	struct fetch_stem *s;

	/* The batch, not records. */
	assert(g->m == NULL && g->r->res->nrecords == 0);
	if (g->b->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 256;
		g->b->stems = xreallocarray(g->b->stems, g->cap,
		    sizeof(*g->b->stems));
	}
	s = &g->b->stems[g->b->n++];
	memset(s, 0, sizeof(*s));
	s->stem = idx;
	s->accs = accs;
	s->naccs = n;
}

/* One stored entry: kept when its stem is one of the job's. */
static int
take(void *arg, const char *stem, const void *data, size_t len)
{
	struct gather *g = arg;
	struct cw_req *r = g->r;
	struct cw_loaded *res = r->res;
	struct ts_acc **accs;
	const char *key = stem;
	char **hit;
	size_t n, idx;

	hit = bsearch(&key, r->stems, r->nstems, sizeof(*r->stems), cmp_str);
	if (hit == NULL)
		return 0;	/* a page that went: its type drops out */
	idx = (size_t)(hit - r->stems);
	assert(idx < r->nstems);	/* bsearch found it in the array */
	if (res->have[idx])
		return 0;
	if (cache_decode(data, len, r->key.nprimary, &accs, &n) < 0) {
		res->bad++;	/* checksum right, bytes wrong: not served */
		return 0;
	}
	if (g->m)
		add_record(g, idx, accs, n);
	else
		add_stem(g, idx, accs, n);
	res->have[idx] = 1;
	res->hits++;
	return 0;
}

static void
load_work(uv_work_t *w)
{
	struct cw_req *r = w->data;
	struct cw_loaded *res = r->res;
	struct gather g = { r, NULL, NULL, 0 };
	struct cache *c;
	char *stored = NULL;
	const char *meta;
	size_t i, bad = 0;

	res->rc = cache_open(r->dir, CACHE_OPEN_CHECK, &c, res->note,
	    sizeof(res->note), res->err, sizeof(res->err));
	if (res->rc < 0)
		return;
	if (r->key.uuid == NULL) {
		res->rc = cache_latest(c, &r->key, res->uuid, sizeof(res->uuid),
		    res->edit, sizeof(res->edit), &r->key.nprimary, &stored,
		    res->err, sizeof(res->err));
		if (res->rc == -ENOENT) {	/* nothing of this dataset */
			res->rc = 0;
			cache_close(c);
			return;
		}
		r->key.uuid = res->uuid;
		r->key.edit = res->edit;
	} else {
		snprintf(res->uuid, sizeof(res->uuid), "%s", r->key.uuid);
		snprintf(res->edit, sizeof(res->edit), "%s", r->key.edit);
	}
	res->found = res->rc == 0;
	res->nprimary = r->key.nprimary;
	meta = r->meta ? r->meta : stored;
	if (r->roi && meta != NULL && (g.m = meta_of(meta, &r->rules)) != NULL)
		res->meta = xstrdup(meta);
	g.b = xcalloc(1, sizeof(*g.b));
	if (res->rc == 0)
		res->rc = cache_load(c, &r->key, take, &g, &bad, res->err,
		    sizeof(res->err));
	res->bad += bad;
	cache_close(c);
	roi_meta_free(g.m);
	free(stored);
	if (res->rc < 0) {	/* nothing served */
		memset(res->have, 0, r->nstems ? r->nstems : 1);
		res->hits = 0;
		for (i = 0; i < res->nrecords; i++)
			ts_type_free(&res->records[i].t);
		free(res->records);
		res->records = NULL;
		res->nrecords = 0;
	}
	if (res->rc < 0 || g.b->n == 0)
		fetch_batch_free(g.b);
	else
		res->batch = g.b;
}

static void
after(uv_work_t *w, int status)
{
	struct cw_req *r = w->data;
	struct cw_loaded *res;

	if (r->abandoned) {
		req_free(r);
		return;
	}
	if (r->kind == CW_LOAD) {
		res = r->res;
		r->res = NULL;
		/* Made by cw_load, handed on here once, with its callback. */
		assert(res != NULL && r->load_cb != NULL);
		if (status < 0 && res->rc == 0) {
			res->rc = status;
			snprintf(res->err, sizeof(res->err), "cache: %s",
			    uv_strerror(status));
		}
		r->load_cb(r->arg, res);
	} else if (r->kind == CW_ADMIN) {
		assert(r->admin_cb != NULL);	/* cw_admin set it */
		/* Work that ran and succeeded made its result. */
		assert(status < 0 || r->rc < 0 || r->result != NULL);
		if (status < 0 && r->rc == 0) {
			r->rc = status;
			snprintf(r->err, sizeof(r->err), "cache: %s",
			    uv_strerror(status));
		}
		r->admin_cb(r->arg, r->rc, r->rc < 0 ? NULL : r->result,
		    r->rc < 0 ? r->err : NULL);
		if (r->rc == 0)
			r->result = NULL;	/* the callee's */
	} else {
		assert(r->kind == CW_STORE && r->store_cb != NULL);
		if (status < 0 && r->rc == 0) {
			r->rc = status;
			snprintf(r->err, sizeof(r->err), "cache: %s",
			    uv_strerror(status));
		}
		r->store_cb(r->arg, r->rc, r->rc < 0 ? r->err : NULL,
		    r->note[0] ? r->note : NULL);
	}
	req_free(r);
}

int
cw_load(uv_loop_t *loop, const char *dir, const struct cache_key *k,
    const struct scan_result *scan, const struct cw_roi *roi,
    cw_load_cb cb, void *arg, struct cw_req **out)
{
	struct cw_req *r = req_new(dir, k, CW_LOAD);
	size_t i;
	int rc;

	r->load_cb = cb;
	r->arg = arg;
	if (roi != NULL) {
		r->roi = 1;
		r->rules = roi->rules;
		r->ad = roi->ad;
		r->meta = roi->meta ? xstrdup(roi->meta) : NULL;
	}
	r->stems = xcalloc(scan->nstems ? scan->nstems : 1, sizeof(char *));
	for (i = 0; i < scan->nstems; i++)
		r->stems[i] = xstrdup(scan->stems[i].stem);
	r->nstems = scan->nstems;
	r->res = xcalloc(1, sizeof(*r->res));
	r->res->have = xcalloc(scan->nstems ? scan->nstems : 1, 1);
	if ((rc = uv_queue_work(loop, &r->req, load_work, after)) < 0) {
		req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

struct cw_entries *
cw_entries_new(void)
{
	return xcalloc(1, sizeof(struct cw_entries));
}

void
cw_entries_add(struct cw_entries *e, const char *stem,
    struct ts_acc *const *accs, size_t n)
{
	struct buf b = BUF_INIT;

	assert(e != NULL && stem != NULL);	/* cw_entries_new made E */
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 256;
		e->v = xreallocarray(e->v, e->cap, sizeof(*e->v));
		e->own = xreallocarray(e->own, e->cap, sizeof(*e->own));
	}
	assert(e->n < e->cap);	/* grown above */
	cache_encode(&b, accs, n);
	e->v[e->n].len = b.len;
	e->v[e->n].stem = e->own[e->n].stem = xstrdup(stem);
	e->v[e->n].data = e->own[e->n].data = buf_steal(&b);
	e->n++;
}

size_t
cw_entries_count(const struct cw_entries *e)
{
	return e ? e->n : 0;
}

void
cw_entries_free(struct cw_entries *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++) {
		free(e->own[i].stem);
		free(e->own[i].data);
	}
	free(e->own);
	free(e->v);
	free(e);
}

static void
store_work(uv_work_t *w)
{
	struct cw_req *r = w->data;
	struct cache *c;

	assert(r->e != NULL);	/* cw_store made one when it had none */
	r->rc = cache_open(r->dir, r->checked ? 0 : CACHE_OPEN_CHECK, &c,
	    r->note, sizeof(r->note), r->err, sizeof(r->err));
	if (r->rc < 0)
		return;
	r->rc = cache_store(c, &r->key, r->e->v, r->e->n, &r->run, r->prune,
	    r->err, sizeof(r->err));
	cache_close(c);
}

int
cw_store(uv_loop_t *loop, const char *dir, const struct cache_key *k,
    struct cw_entries *e, const struct cache_run *run, int flags,
    cw_store_cb cb, void *arg, struct cw_req **out)
{
	struct cw_req *r = req_new(dir, k, CW_STORE);
	int rc;

	assert(run != NULL && run->mode != NULL);	/* the run is noted */
	r->e = e ? e : cw_entries_new();
	r->run = *run;
	r->run.mode = r->mode = xstrdup(run->mode);
	r->run.meta = r->run_meta = run->meta ? xstrdup(run->meta) : NULL;
	r->prune = (flags & CW_PRUNE) != 0;
	r->checked = (flags & CW_CHECKED) != 0;
	r->store_cb = cb;
	r->arg = arg;
	if ((rc = uv_queue_work(loop, &r->req, store_work, after)) < 0) {
		req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void
admin_work(uv_work_t *w)
{
	struct cw_req *r = w->data;
	struct cache *c;
	uint64_t n;

	r->rc = cache_open(r->dir, CACHE_OPEN_CHECK, &c, r->note,
	    sizeof(r->note), r->err, sizeof(r->err));
	if (r->rc < 0)
		return;
	if (r->clear) {
		r->rc = cache_clear(c, r->key.server, r->key.dataset, &n, r->err,
		    sizeof(r->err));
		if (r->rc == 0) {
			r->result = cJSON_CreateObject();
			cJSON_AddNumberToObject(r->result, "cleared", (double)n);
		}
	} else
		r->rc = cache_stats(c, r->key.server, r->key.dataset,
		    &r->result, r->err, sizeof(r->err));
	if (r->rc == 0 && r->note[0])
		cJSON_AddStringToObject(r->result, "warning", r->note);
	cache_close(c);
}

char *
cw_server(const char *url, const char *ca_file)
{
	return cache_server(url, ca_file);
}

int
cw_admin(uv_loop_t *loop, const char *dir, int clear, const char *server,
    const char *dataset, cw_admin_cb cb, void *arg, struct cw_req **out)
{
	struct cache_key k = { 0 };
	struct cw_req *r;
	int rc;

	k.server = server;
	k.dataset = dataset;
	r = req_new(dir, &k, CW_ADMIN);
	r->clear = clear;
	r->admin_cb = cb;
	r->arg = arg;
	if ((rc = uv_queue_work(loop, &r->req, admin_work, after)) < 0) {
		req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void
cw_abandon(struct cw_req *r)
{
	if (r) {
		assert(!r->abandoned);	/* the job forgets R when it abandons it */
		r->abandoned = 1;
	}
}
