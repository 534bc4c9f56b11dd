/*
 * job: one create-index job as stage queues on a libuv loop. See job.h.
 *
 * The fetch stage calls back with batches whose rows are all in; they wait
 * in the ROI queue until the loop is idle, so summaries are computed between
 * network events instead of inside them. Everything that ends the job also
 * happens from the idle step, never inside another module's callback, so no
 * module is freed while it is still on the stack.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "qp_build.h"
#include "limiter.h"
#include "cypher.h"
#include "job.h"
#include "render.h"
#include "render_neuview.h"
#include "roi.h"
#include "scan.h"

struct ready {
	STAILQ_ENTRY(ready) entry;
	struct fetch_batch *b;
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
	struct up_query	*meta_q;
	struct fetch	*fetch;
	int		 fetch_done;
	STAILQ_HEAD(, ready) ready;
	uv_idle_t	*idle;
	uint64_t	 t0, stage_t0;
	double		 trace_t0;	/* up_clock() at start */

	const char	**failures;
	size_t		 nfailures;
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

static int
add_failure(struct job *j, const char *name, const char *error)
{
	const char **v;
	char *line;

	if (asprintf(&line, "%s: %s", name, error) < 0)
		return -ENOMEM;
	v = realloc(j->failures, (j->nfailures + 1) * sizeof(*v));
	if (v == NULL) {
		free(line);
		return -ENOMEM;
	}
	j->failures = v;
	j->failures[j->nfailures++] = line;
	return 0;
}

/* ROI stage for one stem: pick the type the stem stands for, summarize. */
static int
roi_stem(struct job *j, const struct fetch_stem *fs)
{
	const struct scan_stem *st = &j->scan.stems[fs->stem];
	struct ts_type *t = &j->types[fs->stem];
	const struct ts_acc *win = NULL;
	const char **names;
	const char *w;
	size_t i;
	int rc;

	if (fs->error) {
		j->s.failed++;
		if ((rc = ts_unmatched(t, st, fs->error)) < 0)
			return rc;
		return add_failure(j, st->stem, fs->error);
	}
	if (fs->naccs > 0) {
		if ((names = calloc(fs->naccs, sizeof(*names))) == NULL)
			return -ENOMEM;
		for (i = 0; i < fs->naccs; i++)
			names[i] = fs->accs[i]->name;
		w = scan_resolve(st->stem, names, fs->naccs);
		for (i = 0; i < fs->naccs; i++)
			if (names[i] == w)
				win = fs->accs[i];
		free(names);
	}
	if (win == NULL) {
		j->s.unmatched++;
		return ts_unmatched(t, st, NULL);
	}
	j->s.types++;
	return ts_finish(t, st, win, j->meta, ts_adapter_for(j->o.site->dataset));
}

static int
roi_batch(struct job *j, struct fetch_batch *b)
{
	size_t i;
	int rc;

	for (i = 0; i < b->n; i++) {
		if ((rc = roi_stem(j, &b->stems[i])) < 0)
			return rc;
		j->s.done++;
	}
	return 0;
}

static int
render_stage(struct job *j)
{
	struct render_opts ro = { 0 };
	char err[512];
	int rc;

	enter(j, JOB_RENDER);
	qsort(j->types, j->scan.nstems, sizeof(*j->types), ts_cmp_name);
	ro.out_dir = j->o.site->output_dir;
	ro.template_dir = j->o.site->template_dir;
	ro.title_prefix = j->o.site->title_prefix;
	ro.dataset = j->o.site->dataset;
	ro.dataset_version = j->o.quick ? NULL : j->s.dataset_version;
	ro.last_database_edit = j->o.quick || !j->s.last_database_edit[0] ?
	    NULL : j->s.last_database_edit;
	ro.rules = roi_rules_name(j->rules.set);
	ro.generated_at = time(NULL);
	ro.quick = j->o.quick;
	ro.layout = scan_layout_name(j->scan.layout);
	if (j->scan.layout == SCAN_LAYOUT_NEUVIEW)
		rc = render_neuview_all(j->types, j->scan.nstems, &ro, err,
		    sizeof(err));
	else
		rc = render_all(j->types, j->scan.nstems, &ro, err, sizeof(err));
	if (rc < 0) {
		end(j, rc, err);
		return rc;
	}
	snprintf(j->s.index_path, sizeof(j->s.index_path), "%s/index.html",
	    j->o.site->output_dir);
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
	int rc;

	if (j->ending) {
		finish(j);
		return;
	}
	t = uv_hrtime();
	while ((r = STAILQ_FIRST(&j->ready)) != NULL) {
		STAILQ_REMOVE_HEAD(&j->ready, entry);
		rc = roi_batch(j, r->b);
		fetch_batch_free(r->b);
		free(r);
		if (rc < 0) {
			end(j, rc, "out of memory in the ROI stage");
			return;
		}
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
		end(j, 0, NULL);
}

static void
on_batch(void *arg, struct fetch_batch *b)
{
	struct job *j = arg;
	struct ready *r;

	if ((r = malloc(sizeof(*r))) == NULL) {
		fetch_batch_free(b);
		end(j, -ENOMEM, "out of memory");
		return;
	}
	r->b = b;
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
	fo.strategy = j->o.strategy;
	fo.stats = &j->s.q;
	if ((rc = fetch_start(&fo, on_batch, on_fetch_done, j, &j->fetch)) < 0)
		end(j, rc, "cannot start the fetch stage");
}

/* META row: primaryRois (list), roiHierarchy (JSON text), uuid. */
static int
take_meta(struct job *j, const struct cy_result *r, char *err, size_t errlen)
{
	int cp = cy_column(r, "primaryRois"), ch = cy_column(r, "roiHierarchy");
	int cu = cy_column(r, "uuid"), ce = cy_column(r, "lastDatabaseEdit");
	const cJSON *row, *list, *e;
	const char **prim;
	const char *uuid;
	size_t n = 0;
	int rc;

	if (r->nrows != 1 || cp < 0 || ch < 0 || cu < 0) {
		snprintf(err, errlen, "the dataset's Meta node is missing or "
		    "lacks primaryRois/roiHierarchy/uuid");
		return -EBADMSG;
	}
	row = cy_row(r, 0);
	list = cJSON_GetArrayItem(row, cp);
	if (!cJSON_IsArray(list)) {
		snprintf(err, errlen, "Meta.primaryRois is not a list");
		return -EBADMSG;
	}
	if ((prim = calloc((size_t)cJSON_GetArraySize(list) + 1,
	    sizeof(*prim))) == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(e, list)
		if (cJSON_IsString(e))
			prim[n++] = e->valuestring;
	rc = roi_meta_new(prim, n, cy_str(row, ch) ? cy_str(row, ch) : "{}",
	    &j->meta, err, errlen);
	free(prim);
	if ((uuid = cy_str(row, cu)) != NULL)
		snprintf(j->s.dataset_version, sizeof(j->s.dataset_version),
		    "%s", uuid);
	if (ce >= 0 && cy_str(row, ce) != NULL)
		snprintf(j->s.last_database_edit,
		    sizeof(j->s.last_database_edit), "%s", cy_str(row, ce));
	if (rc == 0)
		roi_meta_set_rules(j->meta, &j->rules);
	return rc;
}

static double
on_meta(void *arg, const struct up_result *r)
{
	struct job *j = arg;
	char err[300];

	j->meta_q = NULL;
	if (j->ending)
		return 0;
	if (r->status != UP_OK) {
		snprintf(err, sizeof(err), "%s: %s", r->status == UP_AUTH ||
		    r->status == UP_NOT_FOUND ? up_status_text(r->status) :
		    "reading the dataset's metadata failed", r->error);
		end(j, up_status_errno(r->status), err);
		return 0;
	}
	if (take_meta(j, r->rows, err, sizeof(err)) < 0) {
		end(j, -EBADMSG, err);
		return 0;
	}
	start_fetch(j);
	return 0;
}

static int
start_meta(struct job *j)
{
	struct buf text = BUF_INIT, body = BUF_INIT;
	int rc;

	enter(j, JOB_META);
	cy_meta_query(&text);
	if ((rc = cy_request_body(&body, text.data, j->o.site->dataset)) == 0)
		up_submit(j->o.up, j->o.site->token, body.data, body.len,
		    CY_OTHER, &j->s.q, on_meta, j, &j->meta_q);
	buf_free(&text);
	buf_free(&body);
	return rc;
}

/* --quick: every page becomes an entry with its links, nothing is asked. */
static int
quick_entries(struct job *j)
{
	size_t i;
	int rc;

	for (i = 0; i < j->scan.nstems; i++) {
		if ((rc = ts_unmatched(&j->types[i], &j->scan.stems[i], NULL)) < 0)
			return rc;
		j->s.done++;
	}
	j->fetch_done = 1;
	return 0;
}

int
job_start(uv_loop_t *loop, const struct job_opts *o, job_done_cb cb,
    void *arg, struct job **out)
{
	struct job *j;
	char err[512];
	int rc;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	j->loop = loop;
	j->o = *o;
	j->cb = cb;
	j->arg = arg;
	STAILQ_INIT(&j->ready);
	j->t0 = j->stage_t0 = uv_hrtime();
	if (o->up)
		j->trace_t0 = up_clock(o->up);
	if ((j->idle = malloc(sizeof(*j->idle))) == NULL) {
		free(j);
		return -ENOMEM;
	}
	uv_idle_init(loop, j->idle);
	j->idle->data = j;
	*out = j;

	j->rules.threshold_pct = o->site->roi_threshold_pct;
	enter(j, JOB_SCAN);
	rc = scan_site(o->site->output_dir, o->site->layout ==
	    CFG_LAYOUT_NEUVIEW ? SCAN_LAYOUT_NEUVIEW : o->site->layout ==
	    CFG_LAYOUT_QUICKPAGE ? SCAN_LAYOUT_QUICKPAGE : SCAN_LAYOUT_AUTO,
	    &j->scan, err, sizeof(err));
	if (rc < 0) {
		end(j, rc, err);
		return 0;
	}
	/* Each layout has its default rule set; quickpaged.rules overrides. */
	j->rules.set = o->site->rules == CFG_RULES_NEUVIEW ||
	    (o->site->rules == CFG_RULES_DEFAULT &&
	    j->scan.layout == SCAN_LAYOUT_NEUVIEW) ? ROI_RULES_NEUVIEW :
	    ROI_RULES_QUICKPAGE;
	j->s.pages = j->scan.nfiles;
	j->s.stems = j->scan.nstems;
	j->types = calloc(j->scan.nstems ? j->scan.nstems : 1, sizeof(*j->types));
	if (j->types == NULL) {
		end(j, -ENOMEM, "out of memory");
		return 0;
	}
	if (o->quick) {
		if ((rc = quick_entries(j)) < 0)
			end(j, rc, "out of memory");
		wake(j);
		return 0;
	}
	if ((rc = start_meta(j)) < 0)
		end(j, rc, "cannot send the metadata query");
	return 0;
}

void
job_cancel(struct job *j)
{
	if (!j->ended)
		end(j, -ECANCELED, "cancelled");
}

static void
idle_closed(uv_handle_t *h)
{
	free(h);
}

void
job_free(struct job *j)
{
	struct ready *r;
	size_t i;

	if (j == NULL)
		return;
	if (j->fetch)
		fetch_free(j->fetch);
	if (j->meta_q)
		up_cancel(j->meta_q);
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
		free((char *)j->failures[i]);
	free(j->failures);
	free(j);
}

const struct job_summary *
job_summary(const struct job *j)
{
	return &j->s;
}

size_t
job_failures(const struct job *j, const char *const **out)
{
	*out = j->failures;
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

cJSON *
job_summary_json(const struct job *j)
{
	const struct job_summary *s = &j->s;
	cJSON *o, *st;
	size_t i;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
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
		cJSON_AddNumberToObject(st, up_cause_name(i),
		    (double)s->q.retries[i]);
	cJSON_AddNumberToObject(o, "splits", (double)s->splits);
	cJSON_AddNumberToObject(o, "bytes_in", (double)s->q.bytes_in);
	cJSON_AddNumberToObject(o, "wall_s", s->wall_s);
	st = cJSON_AddObjectToObject(o, "stage_s");
	for (i = JOB_SCAN; i < JOB_DONE; i++)
		cJSON_AddNumberToObject(st, job_stage_name(i), s->stage_s[i]);
	add_trace(o, j);
	st = cJSON_AddArrayToObject(o, "failures");
	for (i = 0; i < j->nfailures; i++)
		cJSON_AddItemToArray(st, cJSON_CreateString(j->failures[i]));
	cJSON_AddStringToObject(o, "index", s->index_path);
	return o;
}
