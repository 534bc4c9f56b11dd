/*
 * jobs: see jobs.h. The records clients ask for: submit (admitted by
 * admit.h), cancel, get, list, watch, recover, stats; jobrun.c runs them.
 */
#include <sys/queue.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "config.h"
#include "jobrun.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "qp_build.h"
#include "siteup.h"
#include "base/xmalloc.h"

#define PRUNE_MS	(3600 * 1000)
#define SEED_JOBS	1000	/* records read at start for each site's last success */

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

	assert(p != NULL);	/* only a client's text is redacted */
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
/* ---- queueing ---- */
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
	assert(j->site != NULL);	/* admitted first */
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

	assert((name == NULL) != (text == NULL));	/* a site or a client's text */
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

	/* The insert is answered once, to the submission still waiting. */
	assert(js->writes > 0 && cb != NULL);
	assert(j->rec.id == 0);	/* no id before the store gave one */
	js->writes--;
	j->reply = NULL;
	if (rc < 0) {
		log_err("store.insert_failed", "site=%s error=%s", j->rec.site,
		    error);
		snprintf(msg, sizeof(msg), "cannot write to the job store: %s",
		    error);
		cb(cb_arg, NULL, PROTO_E_INTERNAL, msg);
		jr_djob_free(j);
		jr_maybe_free(js);
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
		jr_djob_free(j);
		cb(cb_arg, &rec, 0, NULL);
		jr_maybe_free(js);
		return;
	}
	TAILQ_INSERT_TAIL(&js->active, j, entry);
	log_info("job.queued", "job=%lld site=%s uid=%ld output=%s",
	    (long long)id, j->rec.site, j->rec.uid, j->rec.output_dir);
	jr_schedule(js);
	jr_snapshot(j);
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
	struct admit_who who;
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
		admit_who_user(s->uid, &who);
	if ((rc = admit_site(js->set, s->site, s->config, s->config_len,
	    &s->from, s->who ? s->who : &who, &j->site, code, err, errlen)) < 0) {
		jr_djob_free(j);
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
		jr_djob_free(j);
		return -EINVAL;
	}
	label(j);
	j->rec.quick = s->quick;
	j->cache = s->cache;
	j->rec.uid = s->uid;
	if ((same = find_same(js, j)) != NULL) {
		jr_djob_free(j);
		jr_snapshot(same);
		*out = same->rec;
		out->summary = NULL;
		return 0;
	}
	j->rec.state = PROTO_QUEUED;
	j->rec.created = jr_now();
	snprintf(j->rec.stage, sizeof(j->rec.stage), "%s",
	    job_stage_name(JOB_QUEUED));
	j->reply = cb;
	j->reply_arg = arg;
	js->writes++;
	jst_insert(js->store, &j->rec, j->config, j->origin, on_inserted, j);
	return 1;
}

static int
recover_one(void *arg, const struct proto_job *r, const char *config,
    const char *origin)
{
	struct jobs *js = arg;
	struct admit_from from;
	enum proto_err code;
	struct admit_who who;
	struct djob *j;
	cJSON *doc;
	char err[512];
	int rc, env_token;

	assert(r->id > 0);	/* a stored record has its id */
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
		jr_retire(js, j, PROTO_FAILED, "cannot resume after a restart: the "
		    "daemon keeps no client's token on disk; submit the job "
		    "again");
		return 0;
	}
	/* The submitter's groups as the group database has them now. */
	admit_who_user(r->uid, &who);
	rc = admit_site(js->set, j->sitename, config,
	    config ? strlen(config) : 0, &from, &who, &j->site, &code, err, sizeof(err));
	cJSON_Delete(doc);
	if (rc < 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "cannot resume after a restart: %s",
		    err);
		jr_retire(js, j, PROTO_FAILED, msg);
		return 0;
	}
	jr_store(js, j);
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

	if ((rc = jst_list(js->store, SEED_JOBS, seed_one, js)) < 0 ||
	    (rc = jst_unfinished(js->store, recover_one, js)) < 0)
		return rc;
	jr_schedule(js);
	return 0;
}

int
jobs_cancel(struct jobs *js, int64_t id, long uid, jobs_reply_cb cb,
    void *arg, struct proto_job *out, enum proto_err *code, char *err,
    size_t errlen)
{
	struct djob *j = jr_find(js, id);

	if (j != NULL && j->retiring) {
		*code = PROTO_E_FINISHED;
		snprintf(err, errlen, "job %lld has already ended (%s)",
		    (long long)id, proto_state_name(j->rec.state));
		return -EALREADY;
	}
	if (j == NULL) {
		if (jst_get(js->store, id, out) == 0) {
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
	/* Answered once the store has it (settle). A queued job's own
	 * submission was answered when it was queued. */
	assert(j->reply == NULL);
	jr_retire(js, j, PROTO_CANCELLED, NULL);
	j->reply = cb;
	j->reply_arg = arg;
	return 1;
}

int
jobs_get(struct jobs *js, int64_t id, struct proto_job *out)
{
	struct djob *j = jr_find(js, id);

	if (j == NULL)
		return jst_get(js->store, id, out);
	jr_snapshot(j);
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
	struct djob *j = jr_find(l->js, r->id);

	(void)config;
	(void)origin;
	if (j != NULL)
		jr_snapshot(j);
	cJSON_AddItemToArray(l->a, proto_job_json(j ? &j->rec : r));
	return 0;
}

int
jobs_list(struct jobs *js, size_t limit, int active, cJSON *a)
{
	struct listing l = { js, a };
	struct djob *j;

	if (!active)
		return jst_list(js->store, limit, list_one, &l);
	TAILQ_FOREACH_REVERSE(j, &js->active, djobq, entry) {
		jr_snapshot(j);
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
	cJSON_AddNumberToObject(o, "uptime_s", jr_now() - js->started);
	cJSON_AddNumberToObject(o, "queued", queued);
	cJSON_AddNumberToObject(o, "running", js->nrunning);
	cJSON_AddNumberToObject(o, "max_parallel_jobs",
	    js->set->max_parallel_jobs);
	cJSON_AddNumberToObject(o, "started_since_start",
	    (double)js->started_total);
	cJSON_AddNumberToObject(o, "finished_since_start",
	    (double)js->finished_total);
	if (jst_counts(js->store, c) == 0) {
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
		jr_account_to(m, j);
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
	struct djob *j = jr_find(js, id);
	struct proto_job r;
	struct jobs_watch *w;

	*out = NULL;
	if (j == NULL) {
		if (jst_get(js->store, id, &r) < 0)
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

	assert(js->writes > 0);	/* on_prune counted it */
	js->writes--;
	if (rc < 0)
		log_err("store.prune_failed", "error=%s", error);
	else if (n > 0 && !js->freeing)
		log_info("store.pruned", "records=%lld history_days=%u",
		    (long long)n, js->set->history_days);
	jr_maybe_free(js);
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
	jst_prune(js->store, jr_now() - 86400.0 * js->set->history_days,
	    on_pruned, js);
}

void
jobs_new(uv_loop_t *loop, struct jobstore *store, const struct settings *set,
    struct jobs **out)
{
	struct jobs *js;

	js = xcalloc(1, sizeof(*js));
	js->loop = loop;
	js->store = store;
	js->set = set;
	js->started = jr_now();
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
	assert(set != NULL);	/* a reload that fails keeps the old ones */
	js->set = set;
	jr_schedule(js);
}

void
jobs_stop(struct jobs *js, void (*cb)(void *), void *arg)
{
	struct djob *j;

	/* the daemon stops once */
	assert(!js->stopping && !js->freeing);
	js->stopping = 1;
	js->stop_cb = cb;
	js->stop_arg = arg;
	TAILQ_FOREACH(j, &js->active, entry)
		if (j->job != NULL) {
			j->requeue = 1;
			job_cancel(j->job);
		}
	/* Nothing running: report from the reap step, not from here. */
	jr_reap_soon(js);
}

static void
on_closed(uv_handle_t *h)
{
	struct jobs *js = h->data;

	/* three handles, closed once */
	assert(js->freeing && js->closing > 0);
	js->closing--;
	jr_maybe_free(js);
}

void
jobs_free(struct jobs *js)
{
	struct djob *j;

	if (js == NULL)
		return;
	assert(!js->freeing);	/* freed once */
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
		jr_djob_free(j);
	}
	while ((j = TAILQ_FIRST(&js->retiring)) != NULL) {
		TAILQ_REMOVE(&js->retiring, j, entry);
		if (j->reply && !j->kept)
			j->reply(j->reply_arg, &j->rec, PROTO_E_STOPPING, "the "
			    "daemon stopped before the job store confirmed "
			    "this");
		jr_djob_free(j);
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
