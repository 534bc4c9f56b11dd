/*
 * jobsum: what a job found and reports. See job.h and job_int.h.
 *
 * The ROI stage runs here on the loop, at the job's idle step: each
 * stem of a batch whose rows are all in becomes its record (one
 * struct ts_type per stem of the scan), a type, an unmatched page or a
 * failure; what the fetch learned goes to the cache. The summary, its
 * accessors and its JSON read what the job's life left.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "base/xmalloc.h"
#include "job_int.h"
#include "neuprint/limiter.h"

static const char *const stage_names[JOB_NSTAGES] = {
	"queued", "scan", "meta", "fetch", "roi", "render", "done",
};

const char *
job_stage_name(enum job_stage s)
{
	return s < JOB_NSTAGES ? stage_names[s] : "?";
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

void
job_roi_batch(struct job *j, struct fetch_batch *b, int cached)
{
	const struct fetch_stem *fs;
	size_t i;

	assert(j->out != W_RENDER);	/* the render's: j->types, j->meta */
	for (i = 0; i < b->n; i++) {
		fs = &b->stems[i];
		assert(fs->stem < j->scan.nstems);	/* a stem of the scan */
		roi_stem(j, fs);
		j->s.done++;
		/* What fetch learned, for the next run; failures are not. */
		if (!cached && fs->error == NULL)
			jc_learn(j->jc, j->scan.stems[fs->stem].stem,
			    fs->accs, fs->naccs);
	}
}

/*
 * A few failed types still make a useful index (they are listed); past
 * max_failed_fraction the server is not answering for the dataset and the
 * previous index is better than a hollow one.
 */
int
job_too_many_failed(const struct job *j, char *msg, size_t len)
{
	double frac;

	if (j->s.failed == 0 || j->s.stems == 0)
		return 0;
	frac = (double)j->s.failed / (double)j->s.stems;
	if (frac <= j->o.site->max_failed_fraction)
		return 0;
	snprintf(msg, len, "%zu of %zu types failed (more than "
	    "max_failed_fraction %.3g); first: %s", j->s.failed, j->s.stems,
	    j->o.site->max_failed_fraction,
	    j->nfailures ? j->failures[0] : "?");
	return 1;
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
