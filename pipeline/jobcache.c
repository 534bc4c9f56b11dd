/*
 * jobcache: one job's use of the persistent cache. See jobcache.h.
 *
 * A warm run's load goes out while META is out (the preload: the version
 * used last, most nights the one META will give), and the cache's ROI
 * stage runs on it meanwhile (cw_roi, with the META text stored with that
 * version). Once META is in, jc_start() keeps the preload when it is the
 * version META gave, made by the same META, and else loads that version
 * by its key. Whatever the cache cannot do (unavailable, a full disk,
 * damaged entries) becomes a warning in the summary, never a failed
 * index.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "index/scan.h"
#include "index/typeset.h"
#include "jobcache.h"
#include "neuprint/cypher.h"
#include "store/cache.h"
#include "store/cachework.h"

struct jc {
	uv_loop_t	*loop;
	jc_cb		 cb;
	void		*arg;
	char		*dir;		/* our copy: the settings may be reloaded */
	char		*srv;		/* the key's server (cache_server) */
	const char	*dataset;
	enum ts_adapter	 ad;
	int		 wanted;
	int		 refresh;
	struct jc_view	 v;		/* the job's, from jc_preload/jc_start */
	char		 uuid[128], edit[64];	/* the key's, for the store */
	int		 started;	/* jc_start ran: the version is known */
	int		 caching;	/* this run reads or writes the cache */
	int		 loaded;	/* the load opened and checked the file */
	char		*meta_text;	/* META's answer, cw_meta_text */
	struct cw_req	*cw;		/* a load or the store out */
	uint64_t	 t0;		/* uv_hrtime when it went */
	struct cw_loaded *pre;		/* the preload, back before jc_start */
	unsigned char	*have;		/* per stem: the cache served it */
	struct cw_entries *learned;	/* fetched stems, to store */
	struct jc_stats	 st;
};

struct jc *
jc_new(const struct jc_opts *o)
{
	struct jc *c;

	c = xcalloc(1, sizeof(*c));
	c->loop = o->loop;
	c->cb = o->cb;
	c->arg = o->arg;
	c->dataset = o->dataset;
	c->ad = ts_adapter_for(o->dataset);
	if (o->dir) {
		c->dir = xstrdup(o->dir);
		c->srv = cache_server(o->server, o->ca_file);
	}
	c->wanted = o->dir != NULL && o->wanted;
	c->refresh = o->refresh;
	c->st.mode = "off";
	return c;
}

void
jc_free(struct jc *c)
{
	if (c == NULL)
		return;
	cw_abandon(c->cw);
	cw_entries_free(c->learned);
	cw_loaded_free(c->pre);
	free(c->have);
	free(c->dir);
	free(c->srv);
	free(c->meta_text);
	free(c);
}

const struct jc_stats *
jc_stats(const struct jc *c)
{
	return &c->st;
}

const unsigned char *
jc_have(const struct jc *c)
{
	return c->have;
}

void
jc_take_meta(struct jc *c, const struct cy_result *r)
{
	assert(c->meta_text == NULL);	/* META is taken once */
	assert(!c->started);		/* and before the cache's turn */
	c->meta_text = cw_meta_text(r);
}

static void
warn(struct jc *c, const char *what, const char *detail)
{
	size_t n = strlen(c->st.warning);

	snprintf(c->st.warning + n, sizeof(c->st.warning) - n,
	    "%s%s%s%s", n ? "; " : "", what, detail ? ": " : "",
	    detail ? detail : "");
}

static void
key(const struct jc *c, struct cache_key *k)
{
	k->server = c->srv;
	k->dataset = c->dataset;
	k->uuid = c->uuid;
	k->edit = c->edit;
	k->generation = CY_QUERY_GENERATION;
	k->nprimary = c->v.nprimary;
}

/* The cache's ROI stage, with META's text or (NULL) the stored one's. */
static void
roi_opts(const struct jc *c, const char *meta, struct cw_roi *roi)
{
	roi->rules = c->v.rules;
	roi->ad = c->ad;
	roi->meta = meta;
}

/*
 * The records the load's ROI stage made (cw_roi) go in place: the same
 * as the job's ROI stage would have made of the batch, files added from
 * the scan.
 */
static void
take_records(struct jc *c, struct cw_loaded *res, struct jc_served *sv)
{
	const struct scan_stem *st;
	struct ts_type *t;
	struct cw_record *rec;
	size_t i;

	for (i = 0; i < res->nrecords; i++) {
		rec = &res->records[i];
		assert(rec->stem < c->v.scan->nstems);	/* a stem of the scan */
		st = &c->v.scan->stems[rec->stem];
		t = &c->v.types[rec->stem];
		if (rec->matched) {
			*t = rec->t;
			memset(&rec->t, 0, sizeof(rec->t));	/* moved */
			ts_add_files(t, st);
			sv->types++;
		} else {
			ts_unmatched(t, st, NULL);
			sv->unmatched++;
		}
	}
}

/* Serve what the cache holds for this version; the job fetches the rest. */
static void
use_load(struct jc *c, struct cw_loaded *res, struct jc_served *sv)
{
	char msg[64];

	if (res->note[0])
		warn(c, res->note, NULL);
	if (res->rc < 0) {
		/* No cache this run (e.g. a full disk), never a failed index. */
		warn(c, "cache unavailable, running without it", res->err);
		c->caching = 0;
		c->st.mode = "off";
		cw_entries_free(c->learned);
		c->learned = NULL;
	}
	if (res->bad) {
		snprintf(msg, sizeof(msg), "%zu damaged cache entries "
		    "ignored", res->bad);
		warn(c, msg, NULL);
	}
	assert(c->have == NULL);	/* one load serves the job */
	c->have = res->have;
	res->have = NULL;
	c->loaded = res->rc == 0;
	c->st.hits = res->hits;
	c->st.misses = c->v.scan->nstems - res->hits;
	if (res->records)
		take_records(c, res, sv);
	sv->batch = res->batch;
	res->batch = NULL;
	cw_loaded_free(res);
}

static void on_loaded(void *arg, struct cw_loaded *res);

/* Load the version META gave. 1: out; 0: it cannot, nothing served. */
static int
keyed_load(struct jc *c)
{
	struct cache_key k;
	struct cw_roi roi;
	int rc;

	assert(c->cw == NULL);	/* one request out at a time */
	key(c, &k);
	roi_opts(c, c->meta_text, &roi);
	c->t0 = uv_hrtime();
	if ((rc = cw_load(c->loop, c->dir, &k, c->v.scan, &roi, on_loaded, c,
	    &c->cw)) < 0) {
		warn(c, "cache unavailable", uv_strerror(rc));
		return 0;
	}
	return 1;
}

/*
 * META and the load of the latest version are both in. The version META
 * gave: serve it, with the records the load made if they were made by
 * the same META (else load it again: rare, the hierarchy changed with
 * the version staying). None stored for the dataset (or no cache):
 * nothing to serve. Another: that one may still be stored too (two jobs
 * at once), so ask for it by its key. 1: a load is out; 0: SV is set.
 */
static int
after_preload(struct jc *c, struct cw_loaded *res, struct jc_served *sv)
{
	int same = res->found && strcmp(res->uuid, c->uuid) == 0 &&
	    strcmp(res->edit, c->edit) == 0 && res->nprimary == c->v.nprimary;

	if (res->rc < 0 || !res->found || (same && (res->records == NULL ||
	    strcmp(res->meta, c->meta_text) == 0))) {
		use_load(c, res, sv);
		return 0;
	}
	cw_loaded_free(res);
	return keyed_load(c);
}

static void
on_loaded(void *arg, struct cw_loaded *res)
{
	struct jc *c = arg;
	struct jc_served sv = { 0 };

	assert(c->cw != NULL && c->started);	/* abandoned: never called */
	c->cw = NULL;
	c->st.load_s = (double)(uv_hrtime() - c->t0) / 1e9;
	use_load(c, res, &sv);
	c->cb(c->arg, JC_SERVED, &sv);
}

static void
on_preloaded(void *arg, struct cw_loaded *res)
{
	struct jc *c = arg;
	struct jc_served sv = { 0 };

	assert(c->cw != NULL);		/* abandoned: never called */
	assert(c->pre == NULL);		/* one preload per job */
	c->cw = NULL;
	c->st.load_s = (double)(uv_hrtime() - c->t0) / 1e9;
	if (!c->started) {
		c->pre = res;		/* jc_start goes on */
		c->cb(c->arg, JC_PRELOADED, NULL);
		return;
	}
	if (after_preload(c, res, &sv) == 0)
		c->cb(c->arg, JC_SERVED, &sv);
	else
		c->cb(c->arg, JC_RELOAD, NULL);	/* the stats moved */
}

int
jc_preload(struct jc *c, const struct jc_view *v)
{
	struct cache_key k = { 0 };
	struct cw_roi roi;

	assert(!c->started && c->cw == NULL);	/* while META is out, once */
	if (!c->wanted || c->refresh)
		return 0;
	c->v = *v;
	k.server = c->srv;
	k.dataset = c->dataset;
	k.generation = CY_QUERY_GENERATION;
	roi_opts(c, NULL, &roi);
	c->t0 = uv_hrtime();
	return cw_load(c->loop, c->dir, &k, v->scan, &roi, on_preloaded, c,
	    &c->cw) == 0;
}

/*
 * After META: use the cache when the job may and the dataset has a
 * version to key it by.
 */
int
jc_start(struct jc *c, const struct jc_view *v, struct jc_served *sv)
{
	struct cw_loaded *pre = c->pre;

	assert(!c->started);	/* the cache's turn comes once */
	c->started = 1;
	c->pre = NULL;
	c->v = *v;
	snprintf(c->uuid, sizeof(c->uuid), "%s", v->uuid);
	snprintf(c->edit, sizeof(c->edit), "%s", v->edit);
	memset(sv, 0, sizeof(*sv));
	if (!c->wanted || c->uuid[0] == '\0') {
		cw_loaded_free(pre);	/* and a preload still out is abandoned */
		jc_abandon(c);
		return 0;
	}
	assert(c->meta_text != NULL);	/* META was taken: it has a uuid */
	c->caching = 1;
	c->learned = cw_entries_new();
	c->st.misses = v->scan->nstems;
	if (c->refresh) {
		c->st.mode = "refresh";
		return 0;
	}
	c->st.mode = "use";
	if (c->cw) {
		assert(pre == NULL);	/* the preload is out: not back */
		return 1;		/* on_preloaded goes on */
	}
	if (pre)
		return after_preload(c, pre, sv);
	return keyed_load(c);
}

void
jc_learn(struct jc *c, const char *stem, struct ts_acc *const *accs,
    size_t n)
{
	if (c->learned)
		cw_entries_add(c->learned, stem, accs, n);
}

static void
on_stored(void *arg, int rc, const char *err, const char *note)
{
	struct jc *c = arg;

	assert(c->cw != NULL);	/* abandoned: never called */
	c->cw = NULL;
	c->st.store_s = (double)(uv_hrtime() - c->t0) / 1e9;
	if (note)
		warn(c, note, NULL);
	if (rc < 0) {
		warn(c, rc == -ENOSPC ? "cache not written (disk full); "
		    "the index is fine" : "cache not written; the index is fine",
		    err);
		c->st.stored = 0;
	}
	c->cb(c->arg, JC_STORED, NULL);
}

/*
 * Note the run and drop the dataset's older versions only now, so a
 * failed run keeps them.
 */
int
jc_store(struct jc *c)
{
	struct cache_run run = { 0 };
	struct cache_key k;
	struct cw_entries *e;
	int rc;

	assert(c->cw == NULL);	/* no load is out once the index is written */
	if (!c->caching)
		return 0;
	assert(c->started);	/* caching is set by jc_start only */
	key(c, &k);
	run.mode = c->st.mode;
	run.hits = c->st.hits;
	run.misses = c->st.misses;
	run.meta = c->meta_text;
	/* The request owns the entries from here on, even if it fails. */
	e = c->learned;
	c->learned = NULL;
	c->st.stored = cw_entries_count(e);
	c->t0 = uv_hrtime();
	if ((rc = cw_store(c->loop, c->dir, &k, e, &run, CW_PRUNE |
	    (c->loaded ? CW_CHECKED : 0), on_stored, c, &c->cw)) < 0) {
		warn(c, "cache not written", uv_strerror(rc));
		c->st.stored = 0;
		return 0;
	}
	return 1;
}

void
jc_abandon(struct jc *c)
{
	cw_abandon(c->cw);
	c->cw = NULL;
}
