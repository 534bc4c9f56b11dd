/*
 * job: one create-index job as stage queues on a libuv loop. See job.h.
 *
 * The fetch stage calls back with batches whose rows are all in; they wait
 * in the ROI queue until the loop is idle, so summaries are computed between
 * network events instead of inside them. Everything that ends the job also
 * happens from the idle step, never inside another module's callback, so no
 * module is freed while it is still on the stack.
 *
 * Render runs on libuv's thread pool (uv_queue_work): writes, fsyncs and
 * renames of a large index never stall the loop, so other jobs' queries
 * and the round trips their limiter measures go on meanwhile. Ownership
 * while a render is out: the worker has its struct render_work (options
 * with their own copies of the strings, its result) and reads j->types
 * and, through the records, j->meta; the loop touches none of them until
 * render_done() runs on the loop again. job_free() then only marks the
 * job and render_done() frees it.
 *
 * The scan of the site's pages runs there too (a directory of 33,000
 * pages is tens of milliseconds of disk work), after META has gone out:
 * the round trip and the scan overlap. The worker owns its struct
 * scan_work, the job takes the result in scan_done(), and META's answer
 * waits for it (meta_ok) if it comes first, since the rule set, and so
 * everything after META, depends on the layout the scan finds.
 */
#include <sys/queue.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "qp_build.h"
#include "neuprint/limiter.h"
#include "store/cache.h"
#include "store/cachework.h"
#include "neuprint/cypher.h"
#include "base/fio.h"
#include "job.h"
#include "render/render.h"
#include "render/render_neuview.h"
#include "index/roi.h"
#include "index/scan.h"
#include "base/xmalloc.h"

struct ready {
	STAILQ_ENTRY(ready) entry;
	struct fetch_batch *b;
	int		 cached;	/* served by the cache: not stored again */
};

/* One render on the thread pool; see the ownership rule above. */
struct render_work {
	uv_work_t	 req;
	struct job	*j;
	const struct ts_type *types;
	size_t		 n;
	struct render_opts ro;
	char		*strs[8];	/* the worker's copies of ro's strings */
	enum scan_layout layout;	/* which render module writes */
	struct fio	 io;		/* the file seam, QP_TEST_IO_FAULT */
	int		 rc;
	char		 err[512];
};

/* The scan on the thread pool; the job takes SCAN in scan_done(). */
struct scan_work {
	uv_work_t	 req;
	struct job	*j;
	char		*dir;		/* the worker's copy */
	enum scan_layout layout;	/* asked for: AUTO finds out */
	struct scan_result scan;
	int		 rc;
	char		 err[512];
};

struct job {
	uv_loop_t	*loop;
	struct job_opts	 o;
	job_done_cb	 cb;
	void		*arg;
	struct job_summary s;
	struct scan_result scan;
	struct ts_type	*types;		/* one per stem, filled by the ROI stage */
	struct roi_meta	*meta;
	struct roi_rules rules;		/* quickpaged.rules, or the layout's */
	char		 uuid[128];	/* Meta.uuid, "" if none */
	char		*meta_text;	/* META's answer, cw_meta_text */
	struct up_query	*meta_q;
	struct fetch	*fetch;
	int		 fetch_done;
	STAILQ_HEAD(, ready) ready;
	uv_idle_t	*idle;
	uint64_t	 t0, stage_t0;
	double		 stage_at[JOB_NSTAGES];	/* job seconds at each start */
	double		 trace_t0;	/* up_clock() at start */

	char		**failures;
	size_t		 nfailures;
	char		**dups;		/* pages not linked (ts_merge_names) */
	size_t		 ntypes;	/* records in types once merged */
	struct render_work *render;	/* while the worker renders */
	struct scan_work *scanning;	/* while the worker scans */
	int		 scanned;	/* j->scan, j->types and the rules are set */
	int		 meta_ok;	/* META is in and taken */
	/* The persistent cache, see start_cache() */
	int		 caching;	/* this run reads or writes it */
	unsigned char	*have;		/* per stem: the cache served it */
	struct cw_entries *learned;	/* fetched stems, to store */
	struct cw_req	*cw;		/* a load or store out */
	int		 storing;	/* the index is written, the store out */
	char		*cache_dir;	/* j->o.cache_dir, our copy */
	char		*cache_srv;	/* the key's server (cache_server) */
	int		 loaded;	/* the load opened and checked the file */
	uint64_t	 cw_t0;		/* uv_hrtime when the load or store went */
	int		 preloading;	/* the load of the latest version is out */
	int		 meta_in;	/* META came while it was */
	struct cw_loaded *pre;		/* it came before META did */
	int		 orphan;	/* job_free() came during a worker's turn */
	int		 end_rc;	/* set: the job ends at the next step */
	int		 ending;
	int		 ended;
	char		 error[512];
};

static const char *const stage_names[JOB_NSTAGES] = {
	"queued", "scan", "meta", "fetch", "roi", "render", "done",
};

const char *
job_stage_name(enum job_stage s)
{
	return s < JOB_NSTAGES ? stage_names[s] : "?";
}

static void
enter(struct job *j, enum job_stage s)
{
	uint64_t now = uv_hrtime();

	if (j->s.stage != JOB_ROI)	/* ROI time is CPU, counted in step() */
		j->s.stage_s[j->s.stage] += (double)(now - j->stage_t0) / 1e9;
	j->stage_t0 = now;
	j->stage_at[s] = (double)(now - j->t0) / 1e9;
	j->s.stage = s;
}

static void step(uv_idle_t *);

static void
wake(struct job *j)
{
	uv_idle_start(j->idle, step);
}

/* End the job at the next idle step with RC and a message. */
static void
end(struct job *j, int rc, const char *msg)
{
	if (j->ending)
		return;
	j->ending = 1;
	j->end_rc = rc;
	if (msg)
		snprintf(j->error, sizeof(j->error), "%s", msg);
	wake(j);
}

static void
add_failure(struct job *j, const char *name, const char *error)
{
	j->failures = xreallocarray(j->failures, j->nfailures + 1,
	    sizeof(*j->failures));
	j->failures[j->nfailures++] = xasprintf("%s: %s", name, error);
}

/* ROI stage for one stem: pick the type the stem stands for, summarize. */
static void
roi_stem(struct job *j, const struct fetch_stem *fs)
{
	const struct scan_stem *st = &j->scan.stems[fs->stem];
	struct ts_type *t = &j->types[fs->stem];
	const struct ts_acc *win;

	if (fs->error) {
		j->s.failed++;
		ts_unmatched(t, st, fs->error);
		add_failure(j, st->stem, fs->error);
		return;
	}
	if ((win = ts_winner(st->stem, fs->accs, fs->naccs)) == NULL) {
		j->s.unmatched++;
		ts_unmatched(t, st, NULL);
		return;
	}
	j->s.types++;
	ts_finish(t, st, win, j->meta, ts_adapter_for(j->o.site->dataset));
}

static void
roi_batch(struct job *j, struct fetch_batch *b, int cached)
{
	const struct fetch_stem *fs;
	size_t i;

	for (i = 0; i < b->n; i++) {
		fs = &b->stems[i];
		roi_stem(j, fs);
		j->s.done++;
		/* What fetch learned, for the next run; failures are not. */
		if (j->learned && !cached && fs->error == NULL)
			cw_entries_add(j->learned, j->scan.stems[fs->stem].stem,
			    fs->accs, fs->naccs);
	}
}

static char *
own(struct render_work *w, int i, const char *s)
{
	return w->strs[i] = s ? xstrdup(s) : NULL;
}

static void
render_work_free(struct render_work *w)
{
	size_t i;

	for (i = 0; i < sizeof(w->strs) / sizeof(w->strs[0]); i++)
		free(w->strs[i]);
	free(w);
}

/* On a pool thread: touches only W and what W->types points to. */
static void
render_work(uv_work_t *req)
{
	struct render_work *w = req->data;

	fio_hold(&w->io, FIO_HOLD_RENDER);
	w->rc = render_run(w->layout, w->types, w->n, &w->ro, w->err,
	    sizeof(w->err));
}

static void job_destroy(struct job *j);
static int store_cache(struct job *j);

/*
 * Back on the loop. A render that ran decides the outcome even if a cancel
 * came meanwhile: its files are in place, and saying "cancelled" would
 * hide that. One abandoned before it started (uv_cancel) is cancelled.
 */
static void
render_done(uv_work_t *req, int status)
{
	struct render_work *w = req->data;
	struct job *j = w->j;

	j->render = NULL;
	if (j->orphan) {
		render_work_free(w);
		if (j->scanning == NULL)
			job_destroy(j);
		return;
	}
	if (status == UV_ECANCELED) {
		end(j, -ECANCELED, "cancelled");	/* ending already */
	} else {
		j->ending = 0;	/* the render's result replaces a cancel */
		if (w->rc < 0)
			end(j, w->rc, w->err);
		else {
			/* Both layouts write their home page last. */
			snprintf(j->s.index_path, sizeof(j->s.index_path),
			    "%s/index.html", j->o.site->output_dir);
			if (store_cache(j) < 0)
				end(j, 0, NULL);
		}
	}
	render_work_free(w);
	wake(j);	/* end() does not when a cancel set ending */
}

static int
render_stage(struct job *j)
{
	struct render_work *w;
	int rc;

	enter(j, JOB_RENDER);
	qsort(j->types, j->scan.nstems, sizeof(*j->types), ts_cmp_name);
	j->ntypes = ts_merge_names(j->types, j->scan.nstems, &j->dups,
	    &j->s.duplicates);
	j->s.stems -= j->scan.nstems - j->ntypes;
	j->s.types -= j->scan.nstems - j->ntypes;	/* only matched ones merge */
	w = xcalloc(1, sizeof(*w));
	w->req.data = w;
	w->j = j;
	w->types = j->types;
	w->n = j->ntypes;
	w->layout = j->scan.layout;
	w->ro.out_dir = own(w, 0, j->o.site->output_dir);
	w->ro.template_dir = own(w, 1, j->o.site->template_dir);
	w->ro.template_no_symlinks = j->o.site->strict_paths;
	w->ro.title_prefix = own(w, 2, j->o.site->title_prefix);
	w->ro.dataset = own(w, 3, j->o.site->dataset);
	w->ro.dataset_version = own(w, 4, j->o.quick ? NULL :
	    j->s.dataset_version);
	w->ro.dataset_uuid = own(w, 5, j->o.quick || !j->uuid[0] ? NULL :
	    j->uuid);
	w->ro.last_database_edit = own(w, 6, j->o.quick ||
	    !j->s.last_database_edit[0] ? NULL : j->s.last_database_edit);
	w->ro.server = own(w, 7, j->o.site->server);
	w->ro.roi_threshold_pct = j->rules.threshold_pct;
	/* Both name static strings. */
	w->ro.rules = roi_rules_name(j->rules.set);
	w->ro.layout = scan_layout_name(j->scan.layout);
	w->ro.generated_at = time(NULL);
	w->ro.quick = j->o.quick;
	w->ro.out_dir_nofollow = j->o.out_dir_resolved;
	/* A malformed test hook is none (the test sees its fault not come). */
	(void)fio_from_env(&w->io);
	w->ro.io = &w->io;
	if ((rc = uv_queue_work(j->loop, &w->req, render_work,
	    render_done)) < 0) {
		render_work_free(w);
		end(j, rc, "cannot start the render stage");
		return rc;
	}
	j->render = w;
	return 0;
}

/*
 * A few failed types still make a useful index (they are listed); past
 * max_failed_fraction the server is not answering for the dataset and the
 * previous index is better than a hollow one.
 */
static int
too_many_failed(struct job *j)
{
	char msg[512];
	double frac;

	if (j->s.failed == 0 || j->s.stems == 0)
		return 0;
	frac = (double)j->s.failed / (double)j->s.stems;
	if (frac <= j->o.site->max_failed_fraction)
		return 0;
	snprintf(msg, sizeof(msg), "%zu of %zu types failed (more than "
	    "max_failed_fraction %.3g); first: %s", j->s.failed, j->s.stems,
	    j->o.site->max_failed_fraction,
	    j->nfailures ? j->failures[0] : "?");
	end(j, -EIO, msg);
	return 1;
}

static void
finish(struct job *j)
{
	j->ended = 1;
	uv_idle_stop(j->idle);
	if (j->fetch) {
		fetch_free(j->fetch);
		j->fetch = NULL;
	}
	if (j->meta_q) {
		up_cancel(j->meta_q);
		j->meta_q = NULL;
	}
	if (j->cw) {	/* a load the job no longer waits for */
		cw_abandon(j->cw);
		j->cw = NULL;
	}
	enter(j, JOB_DONE);
	j->s.wall_s = (double)(uv_hrtime() - j->t0) / 1e9;
	j->cb(j->arg, j, j->end_rc, j->end_rc ? j->error : NULL);
}

static void
step(uv_idle_t *h)
{
	struct job *j = h->data;
	struct ready *r;
	uint64_t t;

	if (j->render || j->storing || j->scanning) {
		/* render_done(), on_stored(), scan_done() wake us */
		uv_idle_stop(h);
		return;
	}
	if (j->ending) {
		finish(j);
		return;
	}
	t = uv_hrtime();
	while ((r = STAILQ_FIRST(&j->ready)) != NULL) {
		STAILQ_REMOVE_HEAD(&j->ready, entry);
		roi_batch(j, r->b, r->cached);
		fetch_batch_free(r->b);
		free(r);
	}
	j->s.stage_s[JOB_ROI] += (double)(uv_hrtime() - t) / 1e9;
	if (j->fetch) {
		struct fetch_progress p;

		fetch_get_progress(j->fetch, &p);
		j->s.splits = p.splits;
	}
	if (!j->fetch_done) {
		uv_idle_stop(h);
		return;
	}
	if (j->fetch) {
		fetch_free(j->fetch);
		j->fetch = NULL;
	}
	if (j->s.stage == JOB_FETCH || j->s.stage == JOB_SCAN)
		enter(j, JOB_ROI);
	if (too_many_failed(j))
		return;
	if (render_stage(j) == 0)
		uv_idle_stop(h);
}

static void
on_batch(void *arg, struct fetch_batch *b)
{
	struct job *j = arg;
	struct ready *r;

	r = xmalloc(sizeof(*r));
	r->b = b;
	r->cached = 0;
	STAILQ_INSERT_TAIL(&j->ready, r, entry);
	wake(j);
}

static void
on_fetch_done(void *arg, int rc, const char *error)
{
	struct job *j = arg;

	if (rc < 0) {
		end(j, rc, error);
		return;
	}
	j->fetch_done = 1;
	wake(j);
}

static void
start_fetch(struct job *j)
{
	struct fetch_opts fo = { 0 };
	int rc;

	enter(j, JOB_FETCH);
	fo.up = j->o.up;
	fo.token = j->o.site->token;
	fo.dataset = j->o.site->dataset;
	fo.scan = &j->scan;
	fo.meta = j->meta;
	fo.batch_size = j->o.site->batch_size;
	fo.max_underscores = j->o.site->max_candidates_underscores;
	fo.max_query_bytes = j->o.site->max_query_bytes;
	fo.strategy = j->o.strategy;
	fo.stats = &j->s.q;
	fo.skip = j->have;
	if ((rc = fetch_start(&fo, on_batch, on_fetch_done, j, &j->fetch)) < 0)
		end(j, rc, "cannot start the fetch stage");
}

/* META row: primaryRois and roiHierarchy (roi_meta_parse), uuid, lastDatabaseEdit. */
static int
take_meta(struct job *j, const struct cy_result *r, char *err, size_t errlen)
{
	int cu = cy_column(r, "uuid");
	const cJSON *row;
	const char *uuid, *edit;
	int rc;

	if (r->nrows != 1 || cu < 0) {
		snprintf(err, errlen, "the dataset's Meta node is missing or "
		    "lacks primaryRois/roiHierarchy/uuid");
		return -EBADMSG;
	}
	rc = roi_meta_parse(r, &j->meta, err, errlen);
	if (rc == 0)	/* what the cache's ROI stage is keyed by (cw_roi) */
		j->meta_text = cw_meta_text(r);
	row = cy_row(r, 0);
	/*
	 * uuid stays when only annotations (types, NT) change; lastDatabaseEdit
	 * moves then too, so the version is both (docs/output.md).
	 */
	edit = cy_str(row, cy_column(r, "lastDatabaseEdit"));
	if ((uuid = cy_str(row, cu)) != NULL)
		snprintf(j->s.dataset_version, sizeof(j->s.dataset_version),
		    "%s%s%s", uuid, edit ? "@" : "", edit ? edit : "");
	if (uuid != NULL)
		snprintf(j->uuid, sizeof(j->uuid), "%s", uuid);
	if (edit != NULL)
		snprintf(j->s.last_database_edit,
		    sizeof(j->s.last_database_edit), "%s", edit);
	return rc;
}

/* ---- the persistent cache (cache.h, cachework.h) ---- */

static void
cache_warn(struct job *j, const char *what, const char *detail)
{
	size_t n = strlen(j->s.cache_warning);

	snprintf(j->s.cache_warning + n, sizeof(j->s.cache_warning) - n,
	    "%s%s%s%s", n ? "; " : "", what, detail ? ": " : "",
	    detail ? detail : "");
}

static void
cache_key(const struct job *j, struct cache_key *k)
{
	k->server = j->cache_srv;
	k->dataset = j->o.site->dataset;
	k->uuid = j->uuid;
	k->edit = j->s.last_database_edit;
	k->generation = CY_QUERY_GENERATION;
	k->nprimary = (unsigned)roi_nprimary(j->meta);
}

/*
 * The records the load's ROI stage made (cw_roi) go in place: the same
 * as roi_batch would have made of the batch, files added from the scan.
 */
static void
take_records(struct job *j, struct cw_loaded *res)
{
	const struct scan_stem *st;
	struct cw_record *rec;
	size_t i;

	for (i = 0; i < res->nrecords; i++) {
		rec = &res->records[i];
		st = &j->scan.stems[rec->stem];
		if (rec->matched) {
			j->types[rec->stem] = rec->t;
			memset(&rec->t, 0, sizeof(rec->t));	/* moved */
			ts_add_files(&j->types[rec->stem], st);
			j->s.types++;
		} else {
			ts_unmatched(&j->types[rec->stem], st, NULL);
			j->s.unmatched++;
		}
		j->s.done++;
	}
}

/* Serve what the cache holds for this version, then fetch the rest. */
static void
use_load(struct job *j, struct cw_loaded *res)
{
	struct ready *r;
	char msg[64];

	if (res->note[0])
		cache_warn(j, res->note, NULL);
	if (res->rc < 0) {
		/* No cache this run (e.g. a full disk), never a failed index. */
		cache_warn(j, "cache unavailable, running without it",
		    res->err);
		j->caching = 0;
		j->s.cache_mode = "off";
		cw_entries_free(j->learned);
		j->learned = NULL;
	}
	if (res->bad) {
		snprintf(msg, sizeof(msg), "%zu damaged cache entries "
		    "ignored", res->bad);
		cache_warn(j, msg, NULL);
	}
	j->have = res->have;
	res->have = NULL;
	j->loaded = res->rc == 0;
	j->s.cache_hits = res->hits;
	j->s.cache_misses = j->scan.nstems - res->hits;
	if (res->records)
		take_records(j, res);
	if (res->batch) {
		r = xcalloc(1, sizeof(*r));
		r->b = res->batch;
		res->batch = NULL;
		r->cached = 1;
		STAILQ_INSERT_TAIL(&j->ready, r, entry);
		wake(j);
	}
	cw_loaded_free(res);
	if (!j->ending)
		start_fetch(j);
}

/* The cache may serve this job: batched, with a cache, not --no-cache. */
static int
cache_wanted(const struct job *j)
{
	return j->o.cache_dir != NULL && j->o.cache != JOB_CACHE_OFF &&
	    j->o.strategy == FETCH_BATCHED;
}

static void keyed_load(struct job *j);

/* The cache's ROI stage, with META's text or (NULL) the stored one's. */
static void
roi_opts(const struct job *j, const char *meta, struct cw_roi *roi)
{
	roi->rules = j->rules;
	roi->ad = ts_adapter_for(j->o.site->dataset);
	roi->meta = meta;
}

/*
 * META and the load of the latest version are both in. The version META
 * gave: serve it, with the records the load made if they were made by
 * the same META (else load it again: rare, the hierarchy changed with
 * the version staying). None stored for the dataset (or no cache):
 * nothing to serve. Another: that one may still be stored too (two jobs
 * at once), so ask for it by its key.
 */
static void
after_preload(struct job *j, struct cw_loaded *res)
{
	int same = res->found && strcmp(res->uuid, j->uuid) == 0 &&
	    strcmp(res->edit, j->s.last_database_edit) == 0 &&
	    res->nprimary == roi_nprimary(j->meta);

	if (res->rc < 0 || !res->found || (same && (res->records == NULL ||
	    strcmp(res->meta, j->meta_text) == 0))) {
		use_load(j, res);
		return;
	}
	cw_loaded_free(res);
	keyed_load(j);
}

static void
on_loaded(void *arg, struct cw_loaded *res)
{
	struct job *j = arg;

	j->cw = NULL;
	j->s.cache_load_s = (double)(uv_hrtime() - j->cw_t0) / 1e9;
	if (!j->preloading) {
		use_load(j, res);
		return;
	}
	j->preloading = 0;
	if (!j->meta_in) {
		j->pre = res;	/* on_meta goes on */
		return;
	}
	after_preload(j, res);
}

/*
 * While META is out, load the version used last: most nights it is the
 * one META will give, and the load then costs no time of its own.
 */
static void
preload(struct job *j)
{
	struct cache_key k = { 0 };
	struct cw_roi roi;

	if (!cache_wanted(j) || j->o.cache == JOB_CACHE_REFRESH)
		return;
	k.server = j->cache_srv;
	k.dataset = j->o.site->dataset;
	k.generation = CY_QUERY_GENERATION;
	roi_opts(j, NULL, &roi);
	j->cw_t0 = uv_hrtime();
	if (cw_load(j->loop, j->o.cache_dir, &k, &j->scan, &roi, on_loaded, j,
	    &j->cw) == 0)
		j->preloading = 1;
}

static void
keyed_load(struct job *j)
{
	struct cache_key k;
	struct cw_roi roi;
	int rc;

	cache_key(j, &k);
	roi_opts(j, j->meta_text, &roi);
	j->cw_t0 = uv_hrtime();
	if ((rc = cw_load(j->loop, j->o.cache_dir, &k, &j->scan, &roi,
	    on_loaded, j, &j->cw)) < 0) {
		cache_warn(j, "cache unavailable", uv_strerror(rc));
		start_fetch(j);
	}
}

/*
 * After META: use the cache when the job may and the dataset has a
 * version to key it by; on_loaded or after_preload go on to fetch.
 */
static void
start_cache(struct job *j)
{
	struct cw_loaded *pre = j->pre;

	j->pre = NULL;
	if (!cache_wanted(j) || j->uuid[0] == '\0') {
		cw_loaded_free(pre);	/* and a preload still out is abandoned */
		cw_abandon(j->cw);
		j->cw = NULL;
		j->preloading = 0;
		start_fetch(j);
		return;
	}
	j->caching = 1;
	j->learned = cw_entries_new();
	j->s.cache_misses = j->scan.nstems;
	if (j->o.cache == JOB_CACHE_REFRESH) {
		j->s.cache_mode = "refresh";
		start_fetch(j);
		return;
	}
	j->s.cache_mode = "use";
	if (j->preloading)
		j->meta_in = 1;		/* on_loaded goes on */
	else if (pre)
		after_preload(j, pre);
	else
		keyed_load(j);
}

static void
on_stored(void *arg, int rc, const char *err, const char *note)
{
	struct job *j = arg;

	j->cw = NULL;
	j->storing = 0;
	j->s.cache_store_s = (double)(uv_hrtime() - j->cw_t0) / 1e9;
	if (note)
		cache_warn(j, note, NULL);
	if (rc < 0) {
		cache_warn(j, rc == -ENOSPC ? "cache not written (disk full); "
		    "the index is fine" : "cache not written; the index is fine",
		    err);
		j->s.cache_stored = 0;
	}
	end(j, 0, NULL);
	wake(j);
}

/*
 * The index is written: store what this run fetched, note the run and
 * drop the dataset's older versions (only now, so a failed run keeps
 * them). 0: the store is out and on_stored ends the job.
 */
static int
store_cache(struct job *j)
{
	struct cache_run run = { 0 };
	struct cache_key k;
	struct cw_entries *e;
	int rc;

	if (!j->caching)
		return -1;
	cache_key(j, &k);
	run.mode = j->s.cache_mode;
	run.hits = j->s.cache_hits;
	run.misses = j->s.cache_misses;
	run.meta = j->meta_text;
	/* The request owns the entries from here on, even if it fails. */
	e = j->learned;
	j->learned = NULL;
	j->s.cache_stored = cw_entries_count(e);
	j->cw_t0 = uv_hrtime();
	if ((rc = cw_store(j->loop, j->o.cache_dir, &k, e, &run, CW_PRUNE |
	    (j->loaded ? CW_CHECKED : 0), on_stored, j, &j->cw)) < 0) {
		cache_warn(j, "cache not written", uv_strerror(rc));
		j->s.cache_stored = 0;
		return rc;
	}
	j->storing = 1;
	return 0;
}

/* META and the scan are both in: the rules are known, go on to the cache. */
static void
after_meta(struct job *j)
{
	roi_meta_set_rules(j->meta, &j->rules);
	start_cache(j);
}

static double
on_meta(void *arg, const struct up_result *r)
{
	struct job *j = arg;
	char err[512];

	j->meta_q = NULL;
	if (j->ending)
		return 0;
	if (r->status != UP_OK) {
		snprintf(err, sizeof(err), "%s: %s", r->status == UP_AUTH ||
		    r->status == UP_NOT_FOUND || r->status == UP_PROXY ?
		    up_status_text(r->status) :
		    "reading the dataset's metadata failed", r->error);
		end(j, up_status_errno(r->status), err);
		return 0;
	}
	if (take_meta(j, r->rows, err, sizeof(err)) < 0) {
		end(j, -EBADMSG, err);
		return 0;
	}
	j->meta_ok = 1;
	if (j->scanned)		/* else scan_done() goes on */
		after_meta(j);
	return 0;
}

static int
start_meta(struct job *j)
{
	struct buf text = BUF_INIT, body = BUF_INIT;
	int rc;

	cy_meta_query(&text);
	if ((rc = cy_request_body(&body, text.data, j->o.site->dataset)) == 0)
		up_submit(j->o.up, j->o.site->token, body.data, body.len,
		    CY_OTHER, &j->s.q, on_meta, j, &j->meta_q);
	buf_free(&text);
	buf_free(&body);
	return rc;
}

/* --quick: every page becomes an entry with its links, nothing is asked. */
static void
quick_entries(struct job *j)
{
	size_t i;

	for (i = 0; i < j->scan.nstems; i++) {
		ts_unmatched(&j->types[i], &j->scan.stems[i], NULL);
		j->s.done++;
	}
	j->fetch_done = 1;
}

/* On a pool thread: touches only W. */
static void
scan_work(uv_work_t *req)
{
	struct scan_work *w = req->data;

	w->rc = scan_site(w->dir, w->layout, &w->scan, w->err,
	    sizeof(w->err));
}

static void
scan_work_free(struct scan_work *w)
{
	scan_free(&w->scan);
	free(w->dir);
	free(w);
}

/* The pages are known: the rule set, the types, then META's turn. */
static void
take_scan(struct job *j, struct scan_work *w)
{
	j->scan = w->scan;
	memset(&w->scan, 0, sizeof(w->scan));
	j->scanned = 1;
	/* Each layout has its default rule set; quickpaged.rules overrides. */
	j->rules.set = j->o.site->rules == ROI_RULES_NEUVIEW ||
	    (j->o.site->rules == ROI_RULES_DEFAULT &&
	    j->scan.layout == SCAN_LAYOUT_NEUVIEW) ? ROI_RULES_NEUVIEW :
	    ROI_RULES_QUICKPAGE;
	j->s.pages = j->scan.nfiles;
	j->s.stems = j->scan.nstems;
	j->types = xcalloc(j->scan.nstems ? j->scan.nstems : 1,
	    sizeof(*j->types));
	if (j->o.quick) {
		quick_entries(j);
		wake(j);
		return;
	}
	if (j->meta_ok) {	/* META came first (a slow disk) */
		after_meta(j);
		return;
	}
	enter(j, JOB_META);
	preload(j);
}

/* Back on the loop, as render_done() is for the render. */
static void
scan_done(uv_work_t *req, int status)
{
	struct scan_work *w = req->data;
	struct job *j = w->j;

	j->scanning = NULL;
	if (j->orphan) {
		scan_work_free(w);
		if (j->render == NULL)
			job_destroy(j);
		return;
	}
	if (status == UV_ECANCELED)
		end(j, -ECANCELED, "cancelled");	/* ending already */
	else if (w->rc < 0)
		end(j, w->rc, w->err);
	else if (!j->ending)
		take_scan(j, w);
	scan_work_free(w);
	wake(j);
}

static int
start_scan(struct job *j)
{
	const struct cfg_site *site = j->o.site;
	struct scan_work *w;
	int rc;

	w = xcalloc(1, sizeof(*w));
	w->req.data = w;
	w->j = j;
	w->dir = xstrdup(site->output_dir);
	w->layout = site->layout;
	if ((rc = uv_queue_work(j->loop, &w->req, scan_work,
	    scan_done)) < 0) {
		scan_work_free(w);
		return rc;
	}
	j->scanning = w;
	return 0;
}

void
job_start(uv_loop_t *loop, const struct job_opts *o, job_done_cb cb,
    void *arg, struct job **out)
{
	struct job *j;
	int rc;

	j = xcalloc(1, sizeof(*j));
	j->loop = loop;
	j->o = *o;
	/* Ours: the daemon's settings (and so the path) may be reloaded. */
	j->o.cache_dir = j->cache_dir = o->cache_dir ? xstrdup(o->cache_dir) :
	    NULL;
	j->cb = cb;
	j->arg = arg;
	STAILQ_INIT(&j->ready);
	j->t0 = j->stage_t0 = uv_hrtime();
	if (o->up)
		j->trace_t0 = up_clock(o->up);
	j->idle = xmalloc(sizeof(*j->idle));
	uv_idle_init(loop, j->idle);
	j->idle->data = j;
	*out = j;
	if (j->cache_dir)
		j->cache_srv = cache_server(o->site->server, o->site->ca_file);

	j->rules.threshold_pct = o->site->roi_threshold_pct;
	j->s.cache_mode = "off";
	enter(j, JOB_SCAN);
	if (!o->quick && o->site->token == NULL) {
		end(j, -EINVAL, o->site->no_token ? o->site->no_token :
		    "no neuPrint token");
		return;
	}
	/* META first: its round trip overlaps the scan. */
	if (!o->quick && (rc = start_meta(j)) < 0) {
		end(j, rc, "cannot send the metadata query");
		return;
	}
	if ((rc = start_scan(j)) < 0)
		end(j, rc, "cannot start the scan");
}

/*
 * A render not yet started is abandoned (render_done sees UV_ECANCELED);
 * one under way runs to its end, since the files are replaced whole.
 */
void
job_cancel(struct job *j)
{
	if (j->ended || j->storing)	/* the index is written: it stands */
		return;
	end(j, -ECANCELED, "cancelled");
	if (j->render)
		uv_cancel((uv_req_t *)&j->render->req);
	if (j->scanning)
		uv_cancel((uv_req_t *)&j->scanning->req);
}

static void
idle_closed(uv_handle_t *h)
{
	free(h);
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->render || j->scanning) {
		/* A worker is out: render_done() or scan_done() frees it. */
		j->orphan = 1;
		uv_idle_stop(j->idle);
		if (j->render)
			uv_cancel((uv_req_t *)&j->render->req);
		if (j->scanning)
			uv_cancel((uv_req_t *)&j->scanning->req);
		return;
	}
	job_destroy(j);
}

static void
job_destroy(struct job *j)
{
	struct ready *r;
	size_t i;

	if (j->fetch)
		fetch_free(j->fetch);
	if (j->meta_q)
		up_cancel(j->meta_q);
	cw_abandon(j->cw);
	cw_entries_free(j->learned);
	free(j->have);
	free(j->cache_dir);
	free(j->cache_srv);
	free(j->meta_text);
	cw_loaded_free(j->pre);
	while ((r = STAILQ_FIRST(&j->ready)) != NULL) {
		STAILQ_REMOVE_HEAD(&j->ready, entry);
		fetch_batch_free(r->b);
		free(r);
	}
	uv_close((uv_handle_t *)j->idle, idle_closed);
	if (j->types)
		for (i = 0; i < j->scan.nstems; i++)
			ts_type_free(&j->types[i]);
	free(j->types);
	scan_free(&j->scan);
	roi_meta_free(j->meta);
	for (i = 0; i < j->nfailures; i++)
		free(j->failures[i]);
	free(j->failures);
	for (i = 0; i < j->s.duplicates; i++)
		free(j->dups[i]);
	free(j->dups);
	free(j);
}

const struct job_summary *
job_summary(const struct job *j)
{
	return &j->s;
}

size_t
job_duplicates(const struct job *j, const char *const **out)
{
	*out = (const char *const *)j->dups;
	return j->s.duplicates;
}

size_t
job_failures(const struct job *j, const char *const **out)
{
	*out = (const char *const *)j->failures;
	return j->nfailures;
}

/* The server's limit from this job's start on, in job seconds. */
static void
add_trace(cJSON *o, const struct job *j)
{
	const struct lim_sample *v;
	cJSON *a, *p;
	size_t i, n;
	unsigned before = 0;

	a = cJSON_AddArrayToObject(o, "limit_trace");
	if (j->o.up == NULL)
		return;
	n = lim_trace(up_limiter(j->o.up), &v);
	for (i = 0; i < n; i++) {
		if (v[i].t < j->trace_t0) {
			before = v[i].limit;
			continue;
		}
		if (before) {	/* the limit the job started with */
			p = cJSON_CreateArray();
			cJSON_AddItemToArray(p, cJSON_CreateNumber(0));
			cJSON_AddItemToArray(p, cJSON_CreateNumber(before));
			cJSON_AddItemToArray(a, p);
			before = 0;
		}
		p = cJSON_CreateArray();
		cJSON_AddItemToArray(p, cJSON_CreateNumber(v[i].t - j->trace_t0));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(v[i].limit));
		cJSON_AddItemToArray(a, p);
	}
	if (before) {
		p = cJSON_CreateArray();
		cJSON_AddItemToArray(p, cJSON_CreateNumber(0));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(before));
		cJSON_AddItemToArray(a, p);
	}
}

/*
 * The round trips of this job's last answers, oldest first, as [[s, rtt],
 * ...] in job seconds; "up_t0" puts job seconds on the server's clock,
 * which every job of the server shares.
 */
static void
add_rtts(cJSON *o, const struct job *j)
{
	const struct up_stats *q = &j->s.q;
	unsigned long i, first;
	cJSON *a, *p;

	cJSON_AddNumberToObject(o, "up_t0", j->trace_t0);
	a = cJSON_AddArrayToObject(o, "rtt_samples");
	first = q->nrtt > UP_RTT_SAMPLES ? q->nrtt - UP_RTT_SAMPLES : 0;
	for (i = first; i < q->nrtt; i++) {
		const struct up_rtt *r = &q->rtt[i % UP_RTT_SAMPLES];

		/* to 0.1 ms: short numbers, the summary is stored per job */
		p = cJSON_CreateArray();
		cJSON_AddItemToArray(p, cJSON_CreateNumber(
		    round((r->t - j->trace_t0) * 1e4) / 1e4));
		cJSON_AddItemToArray(p, cJSON_CreateNumber(
		    round(r->rtt_s * 1e4) / 1e4));
		cJSON_AddItemToArray(a, p);
	}
}

cJSON *
job_summary_json(const struct job *j)
{
	const struct job_summary *s = &j->s;
	cJSON *o, *st;
	size_t i;

	o = cJSON_CreateObject();	/* xmalloc_install: never NULL */
	cJSON_AddStringToObject(o, "dataset", j->o.site->dataset);
	if (s->dataset_version[0])
		cJSON_AddStringToObject(o, "dataset_version", s->dataset_version);
	else
		cJSON_AddNullToObject(o, "dataset_version");
	cJSON_AddNumberToObject(o, "pages", (double)s->pages);
	cJSON_AddNumberToObject(o, "entries", (double)s->stems);
	cJSON_AddNumberToObject(o, "types", (double)s->types);
	cJSON_AddNumberToObject(o, "unmatched", (double)s->unmatched);
	cJSON_AddNumberToObject(o, "failed", (double)s->failed);
	cJSON_AddNumberToObject(o, "queries", (double)s->q.queries);
	cJSON_AddNumberToObject(o, "requests", (double)s->q.attempts);
	cJSON_AddNumberToObject(o, "retries", (double)up_retries(&s->q));
	st = cJSON_AddObjectToObject(o, "retries_by_cause");
	for (i = 0; i < UP_NCAUSES; i++)
		cJSON_AddNumberToObject(st, up_cause_name((enum up_cause)i),
		    (double)s->q.retries[i]);
	cJSON_AddNumberToObject(o, "splits", (double)s->splits);
	cJSON_AddNumberToObject(o, "timeouts", (double)s->q.timeouts);
	cJSON_AddNumberToObject(o, "held", (double)s->q.held);
	cJSON_AddNumberToObject(o, "bytes_in", (double)s->q.bytes_in);
	cJSON_AddNumberToObject(o, "wall_s", s->wall_s);
	st = cJSON_AddObjectToObject(o, "stage_s");
	for (i = JOB_SCAN; i < JOB_DONE; i++)
		cJSON_AddNumberToObject(st, job_stage_name((enum job_stage)i),
		    s->stage_s[i]);
	st = cJSON_AddObjectToObject(o, "stage_start_s");
	for (i = JOB_SCAN; i < JOB_DONE; i++)
		cJSON_AddNumberToObject(st, job_stage_name((enum job_stage)i),
		    j->stage_at[i]);
	add_trace(o, j);
	add_rtts(o, j);
	st = cJSON_AddArrayToObject(o, "failures");
	for (i = 0; i < j->nfailures; i++)
		cJSON_AddItemToArray(st, cJSON_CreateString(j->failures[i]));
	st = cJSON_AddArrayToObject(o, "duplicate_pages");
	for (i = 0; i < j->s.duplicates; i++)
		cJSON_AddItemToArray(st, cJSON_CreateString(j->dups[i]));
	cJSON_AddStringToObject(o, "index", s->index_path);
	st = cJSON_AddObjectToObject(o, "cache");
	cJSON_AddStringToObject(st, "mode", s->cache_mode ? s->cache_mode :
	    "off");
	cJSON_AddNumberToObject(st, "hits", (double)s->cache_hits);
	cJSON_AddNumberToObject(st, "misses", (double)s->cache_misses);
	cJSON_AddNumberToObject(st, "stored", (double)s->cache_stored);
	cJSON_AddNumberToObject(st, "load_s", s->cache_load_s);
	cJSON_AddNumberToObject(st, "store_s", s->cache_store_s);
	/* The version the hits came from: the one this run was keyed by. */
	if (s->cache_hits)
		cJSON_AddStringToObject(st, "version", s->dataset_version);
	else
		cJSON_AddNullToObject(st, "version");
	if (s->cache_warning[0])
		cJSON_AddStringToObject(st, "warning", s->cache_warning);
	else
		cJSON_AddNullToObject(st, "warning");
	return o;
}
