/*
 * jobrun: see jobrun.h. Running the daemon's jobs: start, progress,
 * the end, the store's answers.
 *
 * A job's pipeline callback comes from inside the pipeline's own idle step,
 * so the bookkeeping that frees the job and its upstream waits for our own
 * idle step ("reap"): nothing is freed while it is on the stack.
 *
 * Store writes are asynchronous (jobstore.h). A job whose end is written
 * but not yet committed waits on the RETIRING list, still found by id, and
 * is reported (watchers' "end", a cancel's answer) and freed once its last
 * write is back (settle). A new submission is on no list until its insert
 * is committed: before that it has no id, and nobody was told of it.
 */
#include <sys/queue.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "jobrun.h"
#include "log.h"
#include "base/xmalloc.h"

#define PROGRESS_MS	250	/* watchers see this often */
#define SAVE_EVERY	8	/* progress ticks between store writes (2 s) */

double
jr_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void on_stored(void *arg, int rc, int64_t id, const char *error);

/* Queue J's record for the store; on_stored() hears back. */
void
jr_store(struct jobs *js, struct djob *j)
{
	assert(j->rec.id > 0);	/* stored once its insert came back */
	js->writes++;
	j->writes++;
	jst_update(js->store, &j->rec, on_stored, js);
}

/* The store lost a write: the log and the job's own record say so. */
static void
store_failed(struct djob *j, int64_t id, const char *error)
{
	log_err("store.write_failed", "job=%lld error=%s", (long long)id,
	    error ? error : "?");
	if (j != NULL && j->rec.error[0] == '\0')
		snprintf(j->rec.error, sizeof(j->rec.error), "the job store did "
		    "not take this record: %s", error ? error : "?");
}

void
jr_maybe_free(struct jobs *js)
{
	if (js->freeing && js->closing == 0 && js->writes == 0) {
		/* jobs_free emptied both lists; a late insert is freed at once */
		assert(TAILQ_EMPTY(&js->active) && TAILQ_EMPTY(&js->retiring));
		siteup_pool_free(js->sups);
		met_free(js->met);
		free(js);
	}
}

void
jr_snapshot(struct djob *j)
{
	const struct job_summary *s;
	struct siteup_load l;
	double el;

	if (j->job == NULL)
		return;
	s = job_summary(j->job);
	snprintf(j->rec.stage, sizeof(j->rec.stage), "%s",
	    job_stage_name(s->stage));
	j->rec.done = s->done;
	j->rec.total = s->stems;
	if (j->sup) {
		siteup_load(j->sup, &l);
		j->rec.in_flight = l.in_flight;
		j->rec.limit = l.limit;
	}
	el = (double)(uv_hrtime() - j->t_start) / 1e9;
	j->rec.eta_s = s->done > 0 && s->stems >= s->done ?
	    el * (double)(s->stems - s->done) / (double)s->done : -1;
}

static void
notify(struct djob *j, int final)
{
	struct jobs_watch *w, *tmp;

	for (w = LIST_FIRST(&j->watchers); w != NULL; w = tmp) {
		tmp = LIST_NEXT(w, entry);
		if (final)
			LIST_REMOVE(w, entry);
		w->cb(w->arg, &j->rec, final);
		if (final)
			free(w);
	}
	/* The end is told once: every watch is gone after it. */
	assert(!final || LIST_EMPTY(&j->watchers));
}

static char *
summary_text(const struct djob *j)
{
	cJSON *o = job_summary_json(j->job);
	char *txt, *out;

	/* cJSON allocates by xmalloc (xmalloc_install): never NULL. */
	txt = cJSON_PrintUnformatted(o);
	assert(txt != NULL);
	cJSON_Delete(o);
	out = xstrdup(txt);
	cJSON_free(txt);
	return out;
}

void
jr_djob_free(struct djob *j)
{
	struct jobs_watch *w;

	while ((w = LIST_FIRST(&j->watchers)) != NULL) {
		LIST_REMOVE(w, entry);
		free(w);
	}
	job_free(j->job);
	siteup_put(j->js->sups, j->sup);
	cfg_site_free(j->site);
	proto_job_clear(&j->rec);
	free(j->sitename);
	free(j->config);
	free(j->origin);
	free(j);
}

void
jr_account_to(struct met *m, const struct djob *j)
{
	struct siteup_load l = { 0 };

	if (j->job == NULL)
		return;
	if (j->sup)
		siteup_load(j->sup, &l);
	met_add_work(m, j->rec.site, l.server, job_summary(j->job));
}

/* The work of J's pipeline, before it goes, joins the counters. */
static void
account(struct jobs *js, struct djob *j)
{
	jr_account_to(js->met, j);
}

static void
changed(struct jobs *js)
{
	if (js->ended_cb != NULL)
		js->ended_cb(js->ended_arg);
}

/*
 * Leave the active list with a final state: written now, reported and
 * freed by settle() once the store has it.
 */
void
jr_retire(struct jobs *js, struct djob *j, enum proto_state st,
    const char *error)
{
	assert(!j->retiring);	/* a job ends once */
	assert(st == PROTO_SUCCEEDED || st == PROTO_FAILED ||
	    st == PROTO_CANCELLED);	/* an end is final */
	j->rec.state = st;
	j->rec.finished = jr_now();
	j->rec.eta_s = -1;
	/* ERROR may be rec.error itself (end_running): an overlapping
	 * snprintf wrote "" there, and every failed job lost its reason. */
	if (error && error != j->rec.error)
		snprintf(j->rec.error, sizeof(j->rec.error), "%s", error);
	jr_store(js, j);
	js->finished_total++;
	TAILQ_REMOVE(&js->active, j, entry);
	TAILQ_INSERT_TAIL(&js->retiring, j, entry);
	j->retiring = 1;
	account(js, j);
	job_free(j->job);
	j->job = NULL;
	siteup_put(js->sups, j->sup);
	j->sup = NULL;
	met_job_ended(js->met, j->rec.site, st, j->rec.finished);
	changed(js);
}

/*
 * The job's end: failures at warning, so `journalctl -p warning` shows
 * them; figures of the run for a success.
 */
static void
log_end(const struct djob *j)
{
	double dur = j->rec.started > 0 ? j->rec.finished - j->rec.started : 0;

	if (j->rec.state == PROTO_FAILED)
		log_warn("job.end", "job=%lld site=%s state=%s stage=%s "
		    "attempt=%u duration_s=%.3f error=%s", (long long)j->rec.id,
		    j->rec.site, proto_state_name(j->rec.state), j->rec.stage,
		    j->rec.attempt, dur, j->rec.error);
	else
		log_info("job.end", "job=%lld site=%s state=%s stage=%s "
		    "attempt=%u duration_s=%.3f entries=%llu", (long long)j->rec.id,
		    j->rec.site, proto_state_name(j->rec.state), j->rec.stage,
		    j->rec.attempt, dur, (unsigned long long)j->rec.total);
}

/* J's final write is back (RC): report the end, answer a cancel, free. */
static void
settle(struct jobs *js, struct djob *j, int rc, const char *error)
{
	jobs_reply_cb cb = j->reply;
	char msg[512];

	/* Its last write back after its end, and told once: a kept job is
	 * never settled again. */
	assert(j->retiring && !j->kept && j->writes == 0);
	/* retire let them go */
	assert(j->job == NULL && j->sup == NULL);
	j->reply = NULL;
	log_end(j);
	notify(j, 1);
	if (rc < 0) {
		/* The store still has the old state (a restart runs the job
		 * again); keep the record, which says so, for status. */
		j->kept = 1;
		snprintf(msg, sizeof(msg), "the job store did not record this: "
		    "%s", error ? error : "?");
		if (cb)
			cb(j->reply_arg, &j->rec, PROTO_E_INTERNAL, msg);
		return;
	}
	if (cb)
		cb(j->reply_arg, &j->rec, 0, NULL);
	TAILQ_REMOVE(&js->retiring, j, entry);
	jr_djob_free(j);
}

static void
on_stored(void *arg, int rc, int64_t id, const char *error)
{
	struct jobs *js = arg;
	struct djob *j = js->freeing ? NULL : jr_find(js, id);

	assert(js->writes > 0);	/* each write is answered once */
	js->writes--;
	if (rc < 0)
		store_failed(j, id, error);
	/* An active or retiring job's writes are all still out. */
	assert(j == NULL || j->writes > 0);
	if (j != NULL && --j->writes == 0 && j->retiring && !j->kept)
		settle(js, j, rc, error);
	jr_maybe_free(js);
}

/* ---- running ---- */

static void on_reap(uv_idle_t *);

static void
on_job_done(void *arg, struct job *pj, int rc, const char *error)
{
	struct djob *j = arg;

	/* Once, for the job we started, never before job_start returned. */
	assert(pj != NULL && pj == j->job);
	assert(j->rec.state == PROTO_RUNNING);
	j->rc = rc;
	if (error)
		snprintf(j->rec.error, sizeof(j->rec.error), "%s", error);
	STAILQ_INSERT_TAIL(&j->js->dead, j, reap);
	jr_reap_soon(j->js);
}

static void
end_running(struct jobs *js, struct djob *j)
{
	/* reaped once */
	assert(j->job != NULL && j->rec.state == PROTO_RUNNING);
	assert(js->nrunning > 0);	/* it was counted at its start */
	jr_snapshot(j);
	js->nrunning--;
	/* A render that was under way when the stop came finished: keep its
	 * result rather than run the job again. */
	if (j->requeue && j->rc != 0) {
		/* Stopped by shutdown: queued again, run again next start. */
		log_info("job.requeued", "job=%lld site=%s stage=%s msg=%s",
		    (long long)j->rec.id, j->rec.site, j->rec.stage,
		    "stopped by the daemon's stop; runs again at the next "
		    "start");
		j->rec.state = PROTO_QUEUED;
		j->rec.started = 0;
		j->rec.error[0] = '\0';
		snprintf(j->rec.stage, sizeof(j->rec.stage), "%s",
		    job_stage_name(JOB_QUEUED));
		jr_store(js, j);
		account(js, j);
		job_free(j->job);
		j->job = NULL;
		siteup_put(js->sups, j->sup);
		j->sup = NULL;
		changed(js);
		return;
	}
	if (job_summary(j->job)->cache_warning[0])
		log_warn("job.cache_warning", "job=%lld site=%s warning=%s",
		    (long long)j->rec.id, j->rec.site,
		    job_summary(j->job)->cache_warning);
	free(j->rec.summary);
	j->rec.summary = j->rc == 0 ? summary_text(j) : NULL;
	if (j->rc == 0) {
		j->rec.error[0] = '\0';
		jr_retire(js, j, PROTO_SUCCEEDED, NULL);
	} else if (j->rc == -ECANCELED)
		jr_retire(js, j, PROTO_CANCELLED, NULL);
	else
		jr_retire(js, j, PROTO_FAILED, j->rec.error[0] ? j->rec.error :
		    "failed");
}

static void
on_reap(uv_idle_t *h)
{
	struct jobs *js = h->data;
	struct djob *j;

	while ((j = STAILQ_FIRST(&js->dead)) != NULL) {
		STAILQ_REMOVE_HEAD(&js->dead, reap);
		end_running(js, j);
	}
	uv_idle_stop(h);
	if (js->stopping) {
		if (js->nrunning == 0 && js->stop_cb) {
			void (*cb)(void *) = js->stop_cb;

			js->stop_cb = NULL;
			cb(js->stop_arg);
		}
		return;
	}
	jr_schedule(js);
}

void
jr_reap_soon(struct jobs *js)
{
	uv_idle_start(&js->reap, on_reap);
}

static void
on_tick(uv_timer_t *t)
{
	struct jobs *js = t->data;
	struct djob *j;

	TAILQ_FOREACH(j, &js->active, entry) {
		if (j->job == NULL)
			continue;
		jr_snapshot(j);
		notify(j, 0);
		if (++j->ticks % SAVE_EVERY == 0)
			jr_store(js, j);
	}
	if (js->nrunning == 0)
		uv_timer_stop(t);
}

static int
output_busy(struct jobs *js, const struct djob *j)
{
	struct djob *o;

	TAILQ_FOREACH(o, &js->active, entry)
		if (o != j && o->job != NULL &&
		    strcmp(o->rec.output_dir, j->rec.output_dir) == 0)
			return 1;
	return 0;
}

/* A job's life, old -> new, at debug level (job_opts.debug). */
static void
on_job_debug(void *arg, const char *from, const char *to)
{
	struct djob *j = arg;

	log_debug("job.state", "job=%lld from=%s to=%s",
	    (long long)j->rec.id, from, to);
}

static void
start(struct jobs *js, struct djob *j)
{
	struct job_opts jo = { 0 };
	char msg[256];
	int rc;

	assert(!js->stopping);	/* a stop starts nothing */
	/* schedule starts none past the limit, and only a queued job */
	assert(js->nrunning < js->set->max_parallel_jobs);
	assert(j->job == NULL && j->sup == NULL &&
	    j->rec.state == PROTO_QUEUED);
	if (!j->rec.quick && (rc = siteup_get(js->sups, j->site,
	    &j->sup)) < 0) {
		snprintf(msg, sizeof(msg), "cannot set up HTTP for %s: %s",
		    j->site->server, strerror(-rc));
		jr_retire(js, j, PROTO_FAILED, msg);
		return;
	}
	jo.site = j->site;
	jo.up = j->sup ? siteup_upstream(j->sup) : NULL;
	jo.quick = j->rec.quick;
	jo.strategy = FETCH_BATCHED;
	/* The daemon's cache_dir: a client's config cannot point elsewhere. */
	jo.cache_dir = js->set->cache_dir;
	jo.cache = (enum job_cache)j->cache;
	jo.out_dir_resolved = 1;	/* admit_path's realpath */
	jo.debug = on_job_debug;
	j->rec.state = PROTO_RUNNING;
	j->rec.started = jr_now();
	j->rec.attempt++;
	j->rec.error[0] = '\0';
	j->t_start = uv_hrtime();
	j->rc = 0;
	jr_store(js, j);
	job_start(js->loop, &jo, on_job_done, j, &j->job);
	assert(j->job != NULL);	/* job.h: *OUT set before it returns */
	js->nrunning++;
	js->started_total++;
	jr_snapshot(j);
	log_info("job.running", "job=%lld site=%s attempt=%u output=%s",
	    (long long)j->rec.id, j->rec.site, j->rec.attempt,
	    j->rec.output_dir);
	notify(j, 0);
	if (!uv_is_active((uv_handle_t *)&js->tick))
		uv_timer_start(&js->tick, on_tick, PROGRESS_MS, PROGRESS_MS);
}

void
jr_schedule(struct jobs *js)
{
	struct djob *j, *tmp;

	if (js->stopping)
		return;
	for (j = TAILQ_FIRST(&js->active); j != NULL; j = tmp) {
		tmp = TAILQ_NEXT(j, entry);
		if (js->nrunning >= js->set->max_parallel_jobs)
			break;
		if (j->job == NULL && j->rec.state == PROTO_QUEUED &&
		    !output_busy(js, j))
			start(js, j);
	}
}

/* An active job, or one whose end the store has not yet confirmed. */
struct djob *
jr_find(struct jobs *js, int64_t id)
{
	struct djob *j;

	TAILQ_FOREACH(j, &js->active, entry)
		if (j->rec.id == id)
			return j;
	TAILQ_FOREACH(j, &js->retiring, entry)
		if (j->rec.id == id)
			return j;
	return NULL;
}
