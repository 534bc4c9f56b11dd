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
 * waits for it (JOB_S_META_IN) if it comes first, since the rule set, and
 * so everything after META, depends on the layout the scan finds.
 *
 * The job's life is one enum job_state, changed only by set_state(),
 * which holds the table of legal moves; what it has out on the pool is
 * one enum job_worker, changed only by set_out(). The cache's part
 * (jobcache.h) reports back through on_cache().
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "qp_build.h"
#include "neuprint/cypher.h"
#include "base/fio.h"
#include "job_int.h"
#include "render/render.h"
#include "index/roi.h"
#include "index/scan.h"
#include "base/xmalloc.h"

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

#define TO(s)	(1u << (s))

/* The legal moves, from each state. */
static const unsigned moves[JOB_S_N] = {
	[JOB_S_NEW] = TO(JOB_S_SCANNING) | TO(JOB_S_ENDING),
	[JOB_S_SCANNING] = TO(JOB_S_META_IN) | TO(JOB_S_META) |
	    TO(JOB_S_FETCHED) | TO(JOB_S_ENDING) | TO(JOB_S_ORPHAN),
	[JOB_S_META_IN] = TO(JOB_S_LOADING) | TO(JOB_S_FETCHING) |
	    TO(JOB_S_ENDING) | TO(JOB_S_ORPHAN),
	[JOB_S_META] = TO(JOB_S_LOADING) | TO(JOB_S_FETCHING) |
	    TO(JOB_S_ENDING),
	[JOB_S_LOADING] = TO(JOB_S_FETCHING) | TO(JOB_S_ENDING),
	[JOB_S_FETCHING] = TO(JOB_S_FETCHED) | TO(JOB_S_ENDING),
	[JOB_S_FETCHED] = TO(JOB_S_RENDERING) | TO(JOB_S_ENDING),
	[JOB_S_RENDERING] = TO(JOB_S_STORING) | TO(JOB_S_ENDING) |
	    TO(JOB_S_ORPHAN),
	[JOB_S_STORING] = TO(JOB_S_ENDING),
	[JOB_S_ENDING] = TO(JOB_S_ENDED) | TO(JOB_S_ORPHAN),
	[JOB_S_ENDED] = 0,
	[JOB_S_ORPHAN] = 0,
};

static const char *const state_names[JOB_S_N] = {
	"new", "scanning", "meta_in", "meta", "loading", "fetching",
	"fetched", "rendering", "storing", "ending", "ended", "orphan",
};

/* The one place the job's life moves; the daemon's debug log sees it. */
static void
set_state(struct job *j, enum job_state to)
{
	assert(to < JOB_S_N);			/* a state of the list */
	assert(moves[j->state] & TO(to));	/* a legal move */
	assert(to > j->state);			/* a life never goes back */
	/* job_free's move is not told: the caller may be tearing ARG down. */
	if (j->o.debug && to != JOB_S_ORPHAN)
		j->o.debug(j->arg, state_names[j->state], state_names[to]);
	j->state = to;
}

/* The one place a worker goes out or comes back. */
static void
set_out(struct job *j, enum job_worker w)
{
	/* One at a time: out from none, back to none; the preload may
	 * become the load the job waits for. */
	assert(w == W_NONE || j->out == W_NONE ||
	    (j->out == W_PRELOAD && w == W_LOAD));
	j->out = w;
}

/* The reported stage. */
static void
enter(struct job *j, enum job_stage s)
{
	uint64_t now = uv_hrtime();

	assert(s > j->s.stage);		/* a stage never goes back */
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
	/* Nothing wakes a job that ended or was freed. */
	assert(j->state != JOB_S_ENDED && j->state != JOB_S_ORPHAN);
	uv_idle_start(j->idle, step);
}

/* End the job at the next idle step with RC and a message. */
static void
end(struct job *j, int rc, const char *msg)
{
	/* No callback reaches a job past its end or its free. */
	assert(j->state != JOB_S_ENDED && j->state != JOB_S_ORPHAN);
	assert(j->out != W_RENDER);	/* render_done() decides, not a cancel */
	if (j->state == JOB_S_ENDING)
		return;
	set_state(j, JOB_S_ENDING);
	j->end_rc = rc;
	if (msg)
		snprintf(j->error, sizeof(j->error), "%s", msg);
	wake(j);
}

/* The summary's cache fields, after each word from or to the cache. */
static void
sync_cache(struct job *j)
{
	const struct jc_stats *c = jc_stats(j->jc);

	j->s.cache_mode = c->mode;
	j->s.cache_hits = c->hits;
	j->s.cache_misses = c->misses;
	j->s.cache_stored = c->stored;
	j->s.cache_load_s = c->load_s;
	j->s.cache_store_s = c->store_s;
	snprintf(j->s.cache_warning, sizeof(j->s.cache_warning), "%s",
	    c->warning);
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

/*
 * The index is written: the cache stores what this run fetched. 0:
 * nothing to wait for; else on_cache() ends the job.
 */
static int
store(struct job *j)
{
	int out = jc_store(j->jc);

	sync_cache(j);
	if (out) {
		set_state(j, JOB_S_STORING);
		set_out(j, W_STORE);
	}
	return out;
}

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

	assert(j->out == W_RENDER && j->work == req);	/* the one sent */
	set_out(j, W_NONE);
	j->work = NULL;
	if (j->state == JOB_S_ORPHAN) {
		render_work_free(w);
		job_destroy(j);
		return;
	}
	assert(j->state == JOB_S_RENDERING);	/* a cancel waited for us */
	if (status == UV_ECANCELED) {
		end(j, -ECANCELED, "cancelled");
	} else if (w->rc < 0) {
		end(j, w->rc, w->err);
	} else {
		/* Both layouts write their home page last. */
		snprintf(j->s.index_path, sizeof(j->s.index_path),
		    "%s/index.html", j->o.site->output_dir);
		if (!store(j))
			end(j, 0, NULL);
	}
	render_work_free(w);
	wake(j);
}

static int
render_stage(struct job *j)
{
	struct render_work *w;
	int rc;

	assert(j->state == JOB_S_FETCHED);	/* every stem is through ROI */
	assert(STAILQ_EMPTY(&j->ready));	/* step() drained the queue */
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
	set_state(j, JOB_S_RENDERING);
	set_out(j, W_RENDER);
	j->work = &w->req;
	return 0;
}

static void
finish(struct job *j)
{
	/* step() waited for the scan, the render and the store. */
	assert(j->out == W_NONE || j->out == W_PRELOAD || j->out == W_LOAD);
	set_state(j, JOB_S_ENDED);	/* a job ends once: the table */
	uv_idle_stop(j->idle);
	if (j->fetch) {
		fetch_free(j->fetch);
		j->fetch = NULL;
	}
	if (j->meta_q) {
		up_cancel(j->meta_q);
		j->meta_q = NULL;
	}
	jc_abandon(j->jc);	/* a load the job no longer waits for */
	set_out(j, W_NONE);
	enter(j, JOB_DONE);
	j->s.wall_s = (double)(uv_hrtime() - j->t0) / 1e9;
	j->cb(j->arg, j, j->end_rc, j->end_rc ? j->error : NULL);
}

static void
step(uv_idle_t *h)
{
	struct job *j = h->data;
	struct ready *r;
	char msg[512];
	uint64_t t;

	if (j->out == W_SCAN || j->out == W_RENDER || j->out == W_STORE) {
		/* scan_done(), render_done(), on_cache() wake us */
		uv_idle_stop(h);
		return;
	}
	if (j->state == JOB_S_ENDING) {
		finish(j);
		return;
	}
	t = uv_hrtime();
	while ((r = STAILQ_FIRST(&j->ready)) != NULL) {
		STAILQ_REMOVE_HEAD(&j->ready, entry);
		job_roi_batch(j, r->b, r->cached);
		fetch_batch_free(r->b);
		free(r);
	}
	j->s.stage_s[JOB_ROI] += (double)(uv_hrtime() - t) / 1e9;
	if (j->fetch) {
		struct fetch_progress p;

		fetch_get_progress(j->fetch, &p);
		j->s.splits = p.splits;
	}
	if (j->state != JOB_S_FETCHED) {
		uv_idle_stop(h);
		return;
	}
	if (j->fetch) {
		fetch_free(j->fetch);
		j->fetch = NULL;
	}
	if (j->s.stage == JOB_FETCH || j->s.stage == JOB_SCAN)
		enter(j, JOB_ROI);
	if (job_too_many_failed(j, msg, sizeof(msg))) {
		end(j, -EIO, msg);
		return;
	}
	if (render_stage(j) == 0)
		uv_idle_stop(h);
}

static void
on_batch(void *arg, struct fetch_batch *b)
{
	struct job *j = arg;
	struct ready *r;

	/* The fetch is out only while fetching; finish() frees it. */
	assert(j->state == JOB_S_FETCHING || j->state == JOB_S_ENDING);
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
	if (j->state == JOB_S_ENDING)	/* the next step finishes it */
		return;
	set_state(j, JOB_S_FETCHED);
	wake(j);
}

static void
start_fetch(struct job *j)
{
	struct fetch_opts fo = { 0 };
	int rc;

	assert(j->fetch == NULL);	/* the fetch goes once */
	enter(j, JOB_FETCH);
	set_state(j, JOB_S_FETCHING);	/* before: its callbacks may come now */
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
	fo.skip = jc_have(j->jc);
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

	assert(j->meta == NULL);	/* META is taken once */
	if (r->nrows != 1 || cu < 0) {
		snprintf(err, errlen, "the dataset's Meta node is missing or "
		    "lacks primaryRois/roiHierarchy/uuid");
		return -EBADMSG;
	}
	rc = roi_meta_parse(r, &j->meta, err, errlen);
	if (rc == 0)	/* what the cache's ROI stage is keyed by (cw_roi) */
		jc_take_meta(j->jc, r);
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

/* ---- the persistent cache's part (jobcache.h) ---- */

/* What the cache's load runs with: the scan, the rules, the version. */
static void
cache_view(const struct job *j, struct jc_view *v)
{
	v->scan = &j->scan;
	v->types = j->types;
	v->rules = j->rules;
	v->uuid = j->uuid;
	v->edit = j->s.last_database_edit;
	v->nprimary = j->meta ? (unsigned)roi_nprimary(j->meta) : 0;
}

/* The cache served SV: its records are in place, its batch goes to ROI. */
static void
served(struct job *j, struct jc_served *sv)
{
	struct ready *r;

	j->s.types += sv->types;
	j->s.unmatched += sv->unmatched;
	j->s.done += sv->types + sv->unmatched;
	if (sv->batch) {
		r = xcalloc(1, sizeof(*r));
		r->b = sv->batch;
		sv->batch = NULL;
		r->cached = 1;
		STAILQ_INSERT_TAIL(&j->ready, r, entry);
		wake(j);
	}
	if (j->state != JOB_S_ENDING)
		start_fetch(j);
}

static void
on_cache(void *arg, enum jc_event ev, struct jc_served *sv)
{
	struct job *j = arg;

	/* jc_abandon() and jc_free() silence it: never past the end. */
	assert(j->state != JOB_S_ENDED && j->state != JOB_S_ORPHAN);
	sync_cache(j);
	switch (ev) {
	case JC_PRELOADED:	/* kept for after_meta() */
		assert(j->out == W_PRELOAD);
		set_out(j, W_NONE);
		break;
	case JC_RELOAD:		/* the load out is now by the key */
		assert(j->out == W_LOAD);
		break;
	case JC_SERVED:		/* jc_start() made the preload W_LOAD */
		assert(j->out == W_LOAD);
		set_out(j, W_NONE);
		served(j, sv);
		break;
	case JC_STORED:
		assert(j->out == W_STORE && j->state == JOB_S_STORING);
		set_out(j, W_NONE);
		end(j, 0, NULL);
		wake(j);
		break;
	}
}

/* META and the scan are both in: the rules are known, the cache's turn. */
static void
after_meta(struct job *j)
{
	struct jc_served sv;
	struct jc_view v;

	roi_meta_set_rules(j->meta, &j->rules);
	cache_view(j, &v);
	if (jc_start(j->jc, &v, &sv)) {
		sync_cache(j);
		set_state(j, JOB_S_LOADING);	/* on_cache() goes on */
		set_out(j, W_LOAD);
		return;
	}
	sync_cache(j);
	set_out(j, W_NONE);	/* a preload still out was let go */
	served(j, &sv);
}

static double
on_meta(void *arg, const struct up_result *r)
{
	struct job *j = arg;
	char err[512];

	j->meta_q = NULL;
	if (j->state == JOB_S_ENDING || j->state == JOB_S_ORPHAN)
		return 0;
	/* META goes once, at the start; finish() cancels it. */
	assert(j->state == JOB_S_SCANNING || j->state == JOB_S_META);
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
	if (j->state == JOB_S_SCANNING)
		set_state(j, JOB_S_META_IN);	/* scan_done() goes on */
	else
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
	set_state(j, JOB_S_FETCHED);
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
	struct jc_view v;

	assert(j->types == NULL);	/* the scan is taken once */
	j->scan = w->scan;
	memset(&w->scan, 0, sizeof(w->scan));
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
	if (j->state == JOB_S_META_IN) {	/* META came first (a slow disk) */
		after_meta(j);
		return;
	}
	enter(j, JOB_META);
	set_state(j, JOB_S_META);
	/*
	 * While META is out, load the version used last: most nights it is
	 * the one META will give, and the load then costs no time of its own.
	 */
	cache_view(j, &v);
	if (jc_preload(j->jc, &v))
		set_out(j, W_PRELOAD);
}

/* Back on the loop, as render_done() is for the render. */
static void
scan_done(uv_work_t *req, int status)
{
	struct scan_work *w = req->data;
	struct job *j = w->j;

	assert(j->out == W_SCAN && j->work == req);	/* the one sent */
	set_out(j, W_NONE);
	j->work = NULL;
	if (j->state == JOB_S_ORPHAN) {
		scan_work_free(w);
		job_destroy(j);
		return;
	}
	if (status == UV_ECANCELED)	/* only job_cancel, after end() */
		assert(j->state == JOB_S_ENDING);
	else if (w->rc < 0)
		end(j, w->rc, w->err);
	else if (j->state != JOB_S_ENDING)
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
	set_out(j, W_SCAN);
	j->work = &w->req;
	return 0;
}

void
job_start(uv_loop_t *loop, const struct job_opts *o, job_done_cb cb,
    void *arg, struct job **out)
{
	struct jc_opts co = { 0 };
	struct job *j;
	int rc;

	j = xcalloc(1, sizeof(*j));
	j->loop = loop;
	j->o = *o;
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
	/* The cache may serve this job: batched, with a cache, not --no-cache. */
	co.loop = loop;
	co.dir = o->cache_dir;	/* copied: the daemon's settings may be reloaded */
	co.wanted = o->cache != JOB_CACHE_OFF && o->strategy == FETCH_BATCHED;
	co.refresh = o->cache == JOB_CACHE_REFRESH;
	co.server = o->site->server;
	co.ca_file = o->site->ca_file;
	co.dataset = o->site->dataset;
	co.cb = on_cache;
	co.arg = j;
	j->jc = jc_new(&co);
	j->o.cache_dir = NULL;	/* the jc's copy is the one */
	sync_cache(j);

	j->rules.threshold_pct = o->site->roi_threshold_pct;
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
	else
		set_state(j, JOB_S_SCANNING);
	assert(j->state != JOB_S_ENDED);	/* CB never before this returns */
}

/*
 * A render not yet started is abandoned (render_done sees UV_ECANCELED);
 * one under way runs to its end, since the files are replaced whole.
 */
void
job_cancel(struct job *j)
{
	assert(j->state != JOB_S_ORPHAN);	/* not after job_free() */
	switch (j->state) {
	case JOB_S_ENDED:
	case JOB_S_STORING:	/* the index is written: it stands */
		return;
	case JOB_S_RENDERING:	/* render_done() decides */
		uv_cancel((uv_req_t *)j->work);
		return;
	default:
		end(j, -ECANCELED, "cancelled");
		if (j->out == W_SCAN)
			uv_cancel((uv_req_t *)j->work);
	}
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
	assert(j->state != JOB_S_ORPHAN);	/* freed once */
	if (j->out == W_SCAN || j->out == W_RENDER) {
		/* A worker is out: render_done() or scan_done() frees it. */
		set_state(j, JOB_S_ORPHAN);
		uv_idle_stop(j->idle);
		uv_cancel((uv_req_t *)j->work);
		return;
	}
	job_destroy(j);
}

static void
job_destroy(struct job *j)
{
	struct ready *r;
	size_t i;

	/* No record is freed while a worker holds it. */
	assert(j->out != W_SCAN && j->out != W_RENDER);
	if (j->fetch)
		fetch_free(j->fetch);
	if (j->meta_q)
		up_cancel(j->meta_q);
	jc_free(j->jc);		/* a load or store out goes on alone */
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
