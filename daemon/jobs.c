/*
 * jobs: see jobs.h.
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
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "config.h"
#include "job.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "qp_build.h"
#include "siteup.h"
#include "base/xmalloc.h"

#define PROGRESS_MS	250	/* watchers see this often */
#define SAVE_EVERY	8	/* progress ticks between store writes (2 s) */
#define PRUNE_MS	(3600 * 1000)
#define SEED_JOBS	1000	/* records read at start for each site's last success */

struct jobs_watch {
	LIST_ENTRY(jobs_watch) entry;
	jobs_watch_cb	 cb;
	void		*arg;
};

struct djob {
	TAILQ_ENTRY(djob) entry;	/* active, in id order */
	STAILQ_ENTRY(djob) reap;
	struct jobs	*js;
	struct proto_job rec;
	char		*sitename;	/* NULL for a client-sent config */
	char		*config;	/* client-sent text, or NULL */
	char		*origin;	/* where it came from (origin_json), or NULL */
	struct cfg_site	*site;
	struct siteup	*sup;		/* its server's shared upstream, while running */
	struct job	*job;		/* while running */
	int		 rc;		/* the pipeline's result */
	int		 cache;		/* enum job_cache; a restart: use */
	int		 requeue;	/* cancelled by shutdown: run again */
	int		 retiring;	/* on js->retiring: final state written */
	int		 kept;		/* its final write failed: kept to tell */
	unsigned	 writes;	/* store writes not yet back */
	jobs_reply_cb	 reply;		/* a submit or cancel awaiting commit */
	void		*reply_arg;
	unsigned	 ticks;
	uint64_t	 t_start;	/* uv_hrtime at start */
	LIST_HEAD(, jobs_watch) watchers;
};

struct jobs {
	uv_loop_t	*loop;
	struct js	*store;
	const struct settings *set;
	TAILQ_HEAD(djobq, djob) active;
	struct djobq	 retiring;	/* ended, final write not yet back */
	STAILQ_HEAD(, djob) dead;
	struct siteup_pool *sups;	/* the shared upstreams (siteup.h) */
	unsigned	 nrunning;
	uv_idle_t	 reap;
	uv_timer_t	 tick;
	uv_timer_t	 prune;
	int		 stopping;
	int		 closing;	/* handles still to close */
	int		 freeing;	/* jobs_free() ran; free once all is back */
	unsigned	 writes;	/* store writes whose callbacks are due */
	void		(*stop_cb)(void *);
	void		*stop_arg;
	double		 started;
	uint64_t	 started_total, finished_total;
	struct met	*met;		/* counters since the start (metrics.h) */
	void		(*ended_cb)(void *);	/* a job ended: metrics changed */
	void		*ended_arg;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void schedule(struct jobs *js);

/* ---- a client's config: its origin and token ---- */

/*
 * Whether the token is written in the config TEXT. A client's config may
 * also take it from the client's own environment (jobs_from); the daemon
 * never lends out its own, which is why a client's config is read with
 * the client's variables and never with getenv(3).
 */
static int
own_token(const struct cfg_site *site, const char *text, size_t len)
{
	return text && site->token && site->token[0] && memmem(text, len,
	    site->token, strlen(site->token)) != NULL;
}

/*
 * What a restart needs to read a client's config as its first run did,
 * as JSON for the store: the working directory, --output-dir, and
 * whether the token came from the client's environment (which the
 * daemon does not keep: such a job cannot resume).
 */
static char *
origin_json(const struct admit_from *f, int env_token)
{
	cJSON *o = cJSON_CreateObject();
	char *txt;

	if (f->cwd)
		cJSON_AddStringToObject(o, "cwd", f->cwd);
	if (f->output_dir)
		cJSON_AddStringToObject(o, "output_dir", f->output_dir);
	if (env_token)
		cJSON_AddTrueToObject(o, "token_from_client_env");
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

/*
 * The stored origin back (ENV_TOKEN set from it); a record of an older
 * quickpaged has none. Its strings point into *DOC, which the caller
 * deletes.
 */
static void
origin_parse(const char *text, struct admit_from *f, int *env_token,
    cJSON **doc)
{
	memset(f, 0, sizeof(*f));
	*env_token = 0;
	if (text == NULL || (*doc = cJSON_Parse(text)) == NULL) {
		*doc = NULL;
		return;
	}
	f->cwd = cJSON_GetStringValue(cJSON_GetObjectItem(*doc, "cwd"));
	f->output_dir = cJSON_GetStringValue(cJSON_GetObjectItem(*doc,
	    "output_dir"));
	*env_token = cJSON_IsTrue(cJSON_GetObjectItem(*doc,
	    "token_from_client_env"));
}

/*
 * The stored copy of a client's config (jobs.db) keeps no token: each
 * occurrence of it (own_token found it there verbatim) becomes
 * TOKEN_GONE. A job from it cannot run again after a restart; it fails
 * saying so (recover_one).
 */
#define TOKEN_GONE	"token-not-stored-by-quickpaged"

static void
redact(char **text, const char *token)
{
	size_t tl = strlen(token), gl = strlen(TOKEN_GONE);
	struct buf b = { 0 };
	const char *p = *text, *q;

	if (tl == 0)
		return;
	while ((q = strstr(p, token)) != NULL) {
		buf_append(&b, p, (size_t)(q - p));
		buf_append(&b, TOKEN_GONE, gl);
		p = q + tl;
	}
	buf_append(&b, p, strlen(p));
	explicit_bzero(*text, strlen(*text));
	free(*text);
	*text = b.data;
}

/* ---- records ---- */

static void on_stored(void *arg, int rc, int64_t id, const char *error);

/* Queue J's record for the store; on_stored() hears back. */
static void
store(struct jobs *js, struct djob *j)
{
	js->writes++;
	j->writes++;
	js_update(js->store, &j->rec, on_stored, js);
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

static void
maybe_free(struct jobs *js)
{
	if (js->freeing && js->closing == 0 && js->writes == 0) {
		siteup_pool_free(js->sups);
		met_free(js->met);
		free(js);
	}
}

static void
snapshot(struct djob *j)
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
}

static char *
summary_text(const struct djob *j)
{
	cJSON *o = job_summary_json(j->job);
	char *txt, *out;

	/* cJSON allocates by xmalloc (xmalloc_install): never NULL. */
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	out = xstrdup(txt);
	cJSON_free(txt);
	return out;
}

static struct djob *find(struct jobs *js, int64_t id);

static void
djob_free(struct djob *j)
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

static void
account_to(struct met *m, const struct djob *j)
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
	account_to(js->met, j);
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
static void
retire(struct jobs *js, struct djob *j, enum proto_state st,
    const char *error)
{
	j->rec.state = st;
	j->rec.finished = now_s();
	j->rec.eta_s = -1;
	/* ERROR may be rec.error itself (end_running): an overlapping
	 * snprintf wrote "" there, and every failed job lost its reason. */
	if (error && error != j->rec.error)
		snprintf(j->rec.error, sizeof(j->rec.error), "%s", error);
	store(js, j);
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
	djob_free(j);
}

static void
on_stored(void *arg, int rc, int64_t id, const char *error)
{
	struct jobs *js = arg;
	struct djob *j = js->freeing ? NULL : find(js, id);

	js->writes--;
	if (rc < 0)
		store_failed(j, id, error);
	if (j != NULL && --j->writes == 0 && j->retiring && !j->kept)
		settle(js, j, rc, error);
	maybe_free(js);
}

/* ---- running ---- */

static void on_reap(uv_idle_t *);

static void
on_job_done(void *arg, struct job *pj, int rc, const char *error)
{
	struct djob *j = arg;

	(void)pj;
	j->rc = rc;
	if (error)
		snprintf(j->rec.error, sizeof(j->rec.error), "%s", error);
	STAILQ_INSERT_TAIL(&j->js->dead, j, reap);
	uv_idle_start(&j->js->reap, on_reap);
}

static void
end_running(struct jobs *js, struct djob *j)
{
	snapshot(j);
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
		store(js, j);
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
		retire(js, j, PROTO_SUCCEEDED, NULL);
	} else if (j->rc == -ECANCELED)
		retire(js, j, PROTO_CANCELLED, NULL);
	else
		retire(js, j, PROTO_FAILED, j->rec.error[0] ? j->rec.error :
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
	schedule(js);
}

static void
on_tick(uv_timer_t *t)
{
	struct jobs *js = t->data;
	struct djob *j;

	TAILQ_FOREACH(j, &js->active, entry) {
		if (j->job == NULL)
			continue;
		snapshot(j);
		notify(j, 0);
		if (++j->ticks % SAVE_EVERY == 0)
			store(js, j);
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

static void
start(struct jobs *js, struct djob *j)
{
	struct job_opts jo = { 0 };
	char msg[256];
	int rc;

	if (!j->rec.quick && (rc = siteup_get(js->sups, j->site,
	    &j->sup)) < 0) {
		snprintf(msg, sizeof(msg), "cannot set up HTTP for %s: %s",
		    j->site->server, strerror(-rc));
		retire(js, j, PROTO_FAILED, msg);
		return;
	}
	jo.site = j->site;
	jo.up = j->sup ? siteup_upstream(j->sup) : NULL;
	jo.quick = j->rec.quick;
	jo.strategy = FETCH_BATCHED;
	/* The daemon's cache_dir: a client's config cannot point elsewhere. */
	jo.cache_dir = js->set->cache_dir;
	jo.cache = (enum job_cache)j->cache;
	jo.out_dir_resolved = 1;	/* check_path's realpath */
	j->rec.state = PROTO_RUNNING;
	j->rec.started = now_s();
	j->rec.attempt++;
	j->rec.error[0] = '\0';
	j->t_start = uv_hrtime();
	j->rc = 0;
	store(js, j);
	job_start(js->loop, &jo, on_job_done, j, &j->job);
	js->nrunning++;
	js->started_total++;
	snapshot(j);
	log_info("job.running", "job=%lld site=%s attempt=%u output=%s",
	    (long long)j->rec.id, j->rec.site, j->rec.attempt,
	    j->rec.output_dir);
	notify(j, 0);
	if (!uv_is_active((uv_handle_t *)&js->tick))
		uv_timer_start(&js->tick, on_tick, PROGRESS_MS, PROGRESS_MS);
}

static void
schedule(struct jobs *js)
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

/* ---- queueing ---- */

/* An active job, or one whose end the store has not yet confirmed. */
static struct djob *
find(struct jobs *js, int64_t id)
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

/* A queued job this submission would duplicate. */
static int
same_token(const struct cfg_site *a, const struct cfg_site *b)
{
	if (a == NULL || b == NULL || a->token == NULL || b->token == NULL)
		return a != NULL && b != NULL && a->token == b->token;
	return strcmp(a->token, b->token) == 0;
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static struct djob *
find_same(struct jobs *js, const struct djob *n)
{
	struct djob *j;

	TAILQ_FOREACH(j, &js->active, entry) {
		if (j->job != NULL || j->rec.quick != n->rec.quick ||
		    j->cache != n->cache ||
		    strcmp(j->rec.output_dir, n->rec.output_dir) != 0)
			continue;
		if (n->sitename && j->sitename &&
		    strcmp(n->sitename, j->sitename) == 0)
			return j;
		/* Stored texts are redacted: the tokens must match too. */
		if (n->config && j->config && strcmp(n->config, j->config) == 0 &&
		    same_str(n->origin, j->origin) &&
		    same_token(n->site, j->site))
			return j;
	}
	return NULL;
}

static void
label(struct djob *j)
{
	if (j->sitename)
		snprintf(j->rec.site, sizeof(j->rec.site), "%s", j->sitename);
	else
		snprintf(j->rec.site, sizeof(j->rec.site), "config:%.100s",
		    j->site->dataset ? j->site->dataset : "?");
	snprintf(j->rec.output_dir, sizeof(j->rec.output_dir), "%s",
	    j->site->output_dir);
}

static struct djob *
djob_new(struct jobs *js, const char *name, const char *text, size_t len)
{
	struct djob *j = xcalloc(1, sizeof(*j));

	j->js = js;
	LIST_INIT(&j->watchers);
	j->rec.eta_s = -1;
	j->sitename = name ? xstrdup(name) : NULL;
	j->config = text ? xstrndup(text, len) : NULL;
	return j;
}

/* The new job's insert is back: now it exists, and the client hears. */
static void
on_inserted(void *arg, int rc, int64_t id, const char *error)
{
	struct djob *j = arg;
	struct jobs *js = j->js;
	jobs_reply_cb cb = j->reply;
	void *cb_arg = j->reply_arg;
	struct proto_job rec;
	char msg[512];

	js->writes--;
	j->reply = NULL;
	if (rc < 0) {
		log_err("store.insert_failed", "site=%s error=%s", j->rec.site,
		    error);
		snprintf(msg, sizeof(msg), "cannot write to the job store: %s",
		    error);
		cb(cb_arg, NULL, PROTO_E_INTERNAL, msg);
		djob_free(j);
		maybe_free(js);
		return;
	}
	j->rec.id = id;
	if (js->freeing) {
		/* Stored as queued: the next start runs it. */
		log_info("job.queued", "job=%lld site=%s uid=%ld output=%s "
		    "msg=%s", (long long)id, j->rec.site, j->rec.uid,
		    j->rec.output_dir, "the daemon stops; runs at the next "
		    "start");
		rec = j->rec;
		djob_free(j);
		cb(cb_arg, &rec, 0, NULL);
		maybe_free(js);
		return;
	}
	TAILQ_INSERT_TAIL(&js->active, j, entry);
	log_info("job.queued", "job=%lld site=%s uid=%ld output=%s",
	    (long long)id, j->rec.site, j->rec.uid, j->rec.output_dir);
	schedule(js);
	snapshot(j);
	rec = j->rec;
	rec.summary = NULL;
	cb(cb_arg, &rec, 0, NULL);
}

int
jobs_submit(struct jobs *js, const struct jobs_submit *s, jobs_reply_cb cb,
    void *arg, struct proto_job *out, enum proto_err *code, char *err,
    size_t errlen)
{
	struct djob *j, *same;
	struct acc_who who;
	int rc;

	if (js->stopping) {
		*code = PROTO_E_STOPPING;
		snprintf(err, errlen, "the daemon is stopping; submit again "
		    "once it is back");
		return -ESHUTDOWN;
	}
	if ((s->site == NULL) == (s->config == NULL)) {
		*code = PROTO_E_INVALID;
		snprintf(err, errlen, "give either \"site\" or \"config\"");
		return -EINVAL;
	}
	if (s->config && (s->config_len > PROTO_MAX_CONFIG ||
	    memchr(s->config, '\0', s->config_len))) {
		*code = PROTO_E_INVALID;
		snprintf(err, errlen, "the config text is over %d bytes or "
		    "holds NUL bytes", PROTO_MAX_CONFIG);
		return -EINVAL;
	}
	j = djob_new(js, s->site, s->config, s->config_len);
	if (s->who == NULL)
		acc_who_user(s->uid, &who);
	if ((rc = admit_site(js->set, s->site, s->config, s->config_len, &s->from,
	    s->who ? s->who : &who, &j->site, code, err, errlen)) < 0) {
		djob_free(j);
		return rc;
	}
	if (j->config)
		j->origin = origin_json(&s->from, j->site->token != NULL &&
		    !own_token(j->site, s->config, s->config_len));
	if (j->config && j->site->token)
		redact(&j->config, j->site->token);
	/* Only a --quick job runs without a token. */
	if (!s->quick && j->site->token == NULL) {
		*code = PROTO_E_BAD_CONFIG;
		snprintf(err, errlen, "%s", j->site->no_token ?
		    j->site->no_token : "no neuPrint token");
		djob_free(j);
		return -EINVAL;
	}
	label(j);
	j->rec.quick = s->quick;
	j->cache = s->cache;
	j->rec.uid = s->uid;
	if ((same = find_same(js, j)) != NULL) {
		djob_free(j);
		snapshot(same);
		*out = same->rec;
		out->summary = NULL;
		return 0;
	}
	j->rec.state = PROTO_QUEUED;
	j->rec.created = now_s();
	snprintf(j->rec.stage, sizeof(j->rec.stage), "%s",
	    job_stage_name(JOB_QUEUED));
	j->reply = cb;
	j->reply_arg = arg;
	js->writes++;
	js_insert(js->store, &j->rec, j->config, j->origin, on_inserted, j);
	return 1;
}

static int
recover_one(void *arg, const struct proto_job *r, const char *config,
    const char *origin)
{
	struct jobs *js = arg;
	struct admit_from from;
	enum proto_err code;
	struct acc_who who;
	struct djob *j;
	cJSON *doc;
	char err[512];
	int rc, env_token;

	j = djob_new(js, config ? NULL : r->site, config,
	    config ? strlen(config) : 0);
	j->origin = origin ? xstrdup(origin) : NULL;
	j->rec = *r;
	j->rec.summary = NULL;
	j->rec.state = PROTO_QUEUED;
	j->rec.started = 0;
	j->rec.eta_s = -1;
	snprintf(j->rec.stage, sizeof(j->rec.stage), "%s",
	    job_stage_name(JOB_QUEUED));
	TAILQ_INSERT_TAIL(&js->active, j, entry);
	origin_parse(origin, &from, &env_token, &doc);
	if (config && !r->quick && (env_token ||
	    strstr(config, TOKEN_GONE) != NULL)) {
		cJSON_Delete(doc);
		retire(js, j, PROTO_FAILED, "cannot resume after a restart: the "
		    "daemon keeps no client's token on disk; submit the job "
		    "again");
		return 0;
	}
	/* The submitter's groups as the group database has them now. */
	acc_who_user(r->uid, &who);
	rc = admit_site(js->set, j->sitename, config, config ? strlen(config) : 0,
	    &from, &who, &j->site, &code, err, sizeof(err));
	cJSON_Delete(doc);
	if (rc < 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "cannot resume after a restart: %s",
		    err);
		retire(js, j, PROTO_FAILED, msg);
		return 0;
	}
	store(js, j);
	log_info("job.resumed", "job=%lld site=%s attempt=%u",
	    (long long)r->id, r->site, r->attempt);
	return 0;
}

/* The store's last success per site, for the metrics after a restart. */
static int
seed_one(void *arg, const struct proto_job *r, const char *config,
    const char *origin)
{
	struct jobs *js = arg;

	(void)config;
	(void)origin;
	if (r->state == PROTO_SUCCEEDED)
		met_last_success(js->met, r->site, r->finished);
	return 0;
}

int
jobs_recover(struct jobs *js)
{
	int rc;

	if ((rc = js_list(js->store, SEED_JOBS, seed_one, js)) < 0 ||
	    (rc = js_unfinished(js->store, recover_one, js)) < 0)
		return rc;
	schedule(js);
	return 0;
}

int
jobs_cancel(struct jobs *js, int64_t id, long uid, jobs_reply_cb cb,
    void *arg, struct proto_job *out, enum proto_err *code, char *err,
    size_t errlen)
{
	struct djob *j = find(js, id);

	if (j != NULL && j->retiring) {
		*code = PROTO_E_FINISHED;
		snprintf(err, errlen, "job %lld has already ended (%s)",
		    (long long)id, proto_state_name(j->rec.state));
		return -EALREADY;
	}
	if (j == NULL) {
		if (js_get(js->store, id, out) == 0) {
			*code = PROTO_E_FINISHED;
			snprintf(err, errlen, "job %lld has already ended (%s)",
			    (long long)id, proto_state_name(out->state));
			proto_job_clear(out);
			return -EALREADY;
		}
		*code = PROTO_E_NOT_FOUND;
		snprintf(err, errlen, "no job %lld; `qpctl list` shows the "
		    "jobs", (long long)id);
		return -ENOENT;
	}
	if (!admit_may_cancel(uid, j->rec.uid)) {
		*code = PROTO_E_FORBIDDEN;
		snprintf(err, errlen, "job %lld was submitted by uid %ld; only "
		    "that user, root or the daemon's user may cancel it",
		    (long long)id, j->rec.uid);
		return -EPERM;
	}
	*out = j->rec;
	out->summary = NULL;
	if (j->job != NULL) {
		/* Reported as cancelled once the pipeline has stopped. */
		job_cancel(j->job);
		return 0;
	}
	/* Answered once the store has it (settle). */
	retire(js, j, PROTO_CANCELLED, NULL);
	j->reply = cb;
	j->reply_arg = arg;
	return 1;
}

int
jobs_get(struct jobs *js, int64_t id, struct proto_job *out)
{
	struct djob *j = find(js, id);

	if (j == NULL)
		return js_get(js->store, id, out);
	snapshot(j);
	*out = j->rec;
	/* An ended job not yet confirmed by the store has its summary. */
	out->summary = j->rec.summary ? xstrdup(j->rec.summary) : NULL;
	return 0;
}

struct listing {
	struct jobs	*js;
	cJSON		*a;
};

static int
list_one(void *arg, const struct proto_job *r, const char *config,
    const char *origin)
{
	struct listing *l = arg;
	struct djob *j = find(l->js, r->id);

	(void)config;
	(void)origin;
	if (j != NULL)
		snapshot(j);
	cJSON_AddItemToArray(l->a, proto_job_json(j ? &j->rec : r));
	return 0;
}

int
jobs_list(struct jobs *js, size_t limit, int active, cJSON *a)
{
	struct listing l = { js, a };
	struct djob *j;

	if (!active)
		return js_list(js->store, limit, list_one, &l);
	TAILQ_FOREACH_REVERSE(j, &js->active, djobq, entry) {
		snapshot(j);
		cJSON_AddItemToArray(a, proto_job_json(&j->rec));
	}
	return 0;
}

void
jobs_stats(struct jobs *js, cJSON *o)
{
	uint64_t c[PROTO_NSTATES];
	cJSON *a, *u, *st;
	struct siteup_load *l;
	struct djob *j;
	unsigned queued = 0;
	size_t k, n;
	int i;

	TAILQ_FOREACH(j, &js->active, entry)
		if (j->job == NULL)
			queued++;
	cJSON_AddNumberToObject(o, "uptime_s", now_s() - js->started);
	cJSON_AddNumberToObject(o, "queued", queued);
	cJSON_AddNumberToObject(o, "running", js->nrunning);
	cJSON_AddNumberToObject(o, "max_parallel_jobs",
	    js->set->max_parallel_jobs);
	cJSON_AddNumberToObject(o, "started_since_start",
	    (double)js->started_total);
	cJSON_AddNumberToObject(o, "finished_since_start",
	    (double)js->finished_total);
	if (js_counts(js->store, c) == 0) {
		st = cJSON_AddObjectToObject(o, "stored");
		for (i = 0; i < PROTO_NSTATES; i++)
			cJSON_AddNumberToObject(st,
			    proto_state_name((enum proto_state)i),
			    (double)c[i]);
	}
	a = cJSON_AddArrayToObject(o, "servers");
	n = siteup_loads(js->sups, &l);
	for (k = 0; k < n; k++) {
		u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "server", l[k].server);
		cJSON_AddNumberToObject(u, "jobs", l[k].users);
		cJSON_AddNumberToObject(u, "limit", l[k].limit);
		cJSON_AddNumberToObject(u, "in_flight", l[k].in_flight);
		cJSON_AddNumberToObject(u, "queued", (double)l[k].queued);
		cJSON_AddItemToArray(a, u);
	}
	free(l);
	a = cJSON_AddArrayToObject(o, "sites");
	for (i = 0; i < (int)js->set->nsites; i++)
		cJSON_AddItemToArray(a,
		    cJSON_CreateString(js->set->sites[i].name));
}

void
jobs_metrics(struct jobs *js, struct buf *out)
{
	struct met_server_live *sv;
	struct met_live lv = { 0 };
	struct met *m = met_copy(js->met);
	struct siteup_load *l;
	struct djob *j;
	size_t i, n;

	TAILQ_FOREACH(j, &js->active, entry) {
		if (j->job == NULL)
			lv.queued++;
		account_to(m, j);
	}
	/* Named sites show zeros before their first job. */
	for (i = 0; i < js->set->nsites; i++)
		met_add_site(m, js->set->sites[i].name);
	n = siteup_loads(js->sups, &l);
	sv = xcalloc(n + 1, sizeof(*sv));
	for (i = 0; i < n; i++)
		sv[i] = (struct met_server_live){ .server = l[i].server,
		    .jobs = l[i].users, .limit = l[i].limit,
		    .in_flight = l[i].in_flight, .queued = l[i].queued };
	lv.version = QP_VERSION;
	lv.start_time = js->started;
	lv.running = js->nrunning;
	lv.servers = sv;
	lv.nservers = n;
	met_render(m, &lv, out);
	free(sv);
	free(l);
	met_free(m);
}

void
jobs_on_ended(struct jobs *js, void (*cb)(void *), void *arg)
{
	js->ended_cb = cb;
	js->ended_arg = arg;
}

int
jobs_watch(struct jobs *js, int64_t id, jobs_watch_cb cb, void *arg,
    struct jobs_watch **out)
{
	struct djob *j = find(js, id);
	struct proto_job r;
	struct jobs_watch *w;

	*out = NULL;
	if (j == NULL) {
		if (js_get(js->store, id, &r) < 0)
			return -ENOENT;
		proto_job_clear(&r);
		return 1;
	}
	if (j->kept)	/* its end was reported already */
		return 1;
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	LIST_INSERT_HEAD(&j->watchers, w, entry);
	*out = w;
	return 0;
}

void
jobs_unwatch(struct jobs_watch *w)
{
	if (w == NULL)
		return;
	LIST_REMOVE(w, entry);
	free(w);
}

/* ---- life cycle ---- */

static void
on_pruned(void *arg, int rc, int64_t n, const char *error)
{
	struct jobs *js = arg;

	js->writes--;
	if (rc < 0)
		log_err("store.prune_failed", "error=%s", error);
	else if (n > 0 && !js->freeing)
		log_info("store.pruned", "records=%lld history_days=%u",
		    (long long)n, js->set->history_days);
	maybe_free(js);
}

/* A server's last job let go of it: its limit stays in the metrics. */
static void
on_server_idle(void *arg, const char *server, unsigned limit)
{
	struct jobs *js = arg;

	met_server_idle(js->met, server, limit);
}

static void
on_prune(uv_timer_t *t)
{
	struct jobs *js = t->data;

	if (js->set->history_days == 0)
		return;
	js->writes++;
	js_prune(js->store, now_s() - 86400.0 * js->set->history_days,
	    on_pruned, js);
}

void
jobs_new(uv_loop_t *loop, struct js *store, const struct settings *set,
    struct jobs **out)
{
	struct jobs *js;

	js = xcalloc(1, sizeof(*js));
	js->loop = loop;
	js->store = store;
	js->set = set;
	js->started = now_s();
	met_new(&js->met);
	TAILQ_INIT(&js->active);
	TAILQ_INIT(&js->retiring);
	STAILQ_INIT(&js->dead);
	siteup_pool_new(loop, on_server_idle, js, &js->sups);
	uv_idle_init(loop, &js->reap);
	uv_timer_init(loop, &js->tick);
	uv_timer_init(loop, &js->prune);
	js->reap.data = js->tick.data = js->prune.data = js;
	on_prune(&js->prune);
	uv_timer_start(&js->prune, on_prune, PRUNE_MS, PRUNE_MS);
	*out = js;
}

void
jobs_configure(struct jobs *js, const struct settings *set)
{
	js->set = set;
	schedule(js);
}

void
jobs_stop(struct jobs *js, void (*cb)(void *), void *arg)
{
	struct djob *j;

	js->stopping = 1;
	js->stop_cb = cb;
	js->stop_arg = arg;
	TAILQ_FOREACH(j, &js->active, entry)
		if (j->job != NULL) {
			j->requeue = 1;
			job_cancel(j->job);
		}
	/* Nothing running: report from the reap step, not from here. */
	uv_idle_start(&js->reap, on_reap);
}

static void
on_closed(uv_handle_t *h)
{
	struct jobs *js = h->data;

	js->closing--;
	maybe_free(js);
}

void
jobs_free(struct jobs *js)
{
	struct djob *j;

	if (js == NULL)
		return;
	while ((j = TAILQ_FIRST(&js->active)) != NULL) {
		TAILQ_REMOVE(&js->active, j, entry);
		if (j->job != NULL && j->requeue) {
			/* Past the grace period: still stored as running,
			 * so the next start runs it again. */
			log_warn("job.stop_timeout", "job=%lld site=%s "
			    "stage=%s msg=%s", (long long)j->rec.id,
			    j->rec.site, j->rec.stage, "did not stop in time; "
			    "runs again at the next start");
		}
		djob_free(j);
	}
	while ((j = TAILQ_FIRST(&js->retiring)) != NULL) {
		TAILQ_REMOVE(&js->retiring, j, entry);
		if (j->reply && !j->kept)
			j->reply(j->reply_arg, &j->rec, PROTO_E_STOPPING, "the "
			    "daemon stopped before the job store confirmed "
			    "this");
		djob_free(j);
	}
	/* The handles live in JS, and store callbacks get JS: free it once
	 * the handles are closed and the writes are back (maybe_free). */
	js->freeing = 1;
	js->ended_cb = NULL;
	js->closing = 3;
	uv_close((uv_handle_t *)&js->reap, on_closed);
	uv_close((uv_handle_t *)&js->tick, on_closed);
	uv_close((uv_handle_t *)&js->prune, on_closed);
}
