/*
 * ops: see ops.h.
 *
 * Each op answers its request now, or promises the answer (sess_wait)
 * when the job store must commit first (jobs.h) or the cache works on
 * the thread pool; the session then handles nothing more until the
 * answer (sess_answer). A watch holds its session (sess_watch) until the
 * job ends, the client goes or the daemon stops.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qp_build.h"
#include "store/cachework.h"
#include "config.h"
#include "job.h"
#include "jobs.h"
#include "log.h"
#include "ops.h"
#include "protocol.h"
#include "server.h"
#include "base/buf.h"
#include "base/xmalloc.h"

#define LIST_MAX	1000

/* A watch holding a session (sess_watch). */
struct watch {
	struct jobs_watch *jw;
	long		 req;	/* the watch request's id */
};

static cJSON *
job_reply(long id, const struct proto_job *j, int merged)
{
	cJSON *r = proto_reply(id);

	cJSON_AddItemToObject(r, "job", proto_job_json(j));
	if (merged >= 0)
		cJSON_AddBoolToObject(r, "merged", merged);
	return r;
}

/* The client's user (sess_who). */
static long
uid(const struct sess *s)
{
	return sess_who(s)->uid;
}

static void
send_error(struct sess *s, long id, enum proto_err code, const char *msg)
{
	sess_send(s, proto_error(id, code, msg));
}

static void
reply_job(struct sess *s, long id, const struct proto_job *j, int merged)
{
	sess_send(s, job_reply(id, j, merged));
}

static void
op_ping(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	cJSON *r = proto_reply(id);

	(void)js;
	(void)req;
	cJSON_AddStringToObject(r, "version", QP_VERSION);
	cJSON_AddNumberToObject(r, "protocol", PROTO_VERSION);
	cJSON_AddNumberToObject(r, "pid", getpid());
	cJSON_AddNumberToObject(r, "uid", (double)uid(s));
	sess_send(s, r);
}

/* The store has answered: reply, then go on with the next request. */
static void
answer_job(struct sess *s, const struct proto_job *j, enum proto_err code,
    const char *err, int merged)
{
	long id = sess_wait_id(s);

	assert(err != NULL || j != NULL);	/* the job, or why not */
	sess_answer(s, err != NULL ? proto_error(id, code, err) :
	    job_reply(id, j, merged));
}

static void
on_submitted(void *arg, const struct proto_job *j, enum proto_err code,
    const char *err)
{
	answer_job(arg, j, code, err, 0);
}

static void
on_cancelled(void *arg, const struct proto_job *j, enum proto_err code,
    const char *err)
{
	answer_job(arg, j, code, err, -1);
}

static void
op_submit(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	struct jobs_submit sub = { 0 };
	const char *kind = proto_str(req, "kind"), *cache;
	const cJSON *env;
	struct proto_job j;
	enum proto_err code;
	char err[1024];
	int rc;

	/* create-list is neuView's name for the same job. */
	if (kind != NULL && strcmp(kind, "create-index") != 0 &&
	    strcmp(kind, "create-list") != 0) {
		send_error(s, id, PROTO_E_INVALID, "the only job kind is "
		    "create-index (or neuView's name for it, create-list)");
		return;
	}
	sub.site = proto_str(req, "site");
	sub.config = proto_str(req, "config");
	sub.config_len = sub.config ? strlen(sub.config) : 0;
	sub.from.cwd = proto_str(req, "cwd");
	sub.from.output_dir = proto_str(req, "output_dir");
	env = cJSON_GetObjectItemCaseSensitive(req, "env");
	sub.from.token = proto_str(env, "NEUPRINT_TOKEN");
	sub.from.credentials = proto_str(env,
	    "NEUPRINT_APPLICATION_CREDENTIALS");
	sub.quick = proto_bool(req, "quick", 0);
	cache = proto_str(req, "cache");
	if (cache == NULL || strcmp(cache, "use") == 0)
		sub.cache = JOB_CACHE_USE;
	else if (strcmp(cache, "refresh") == 0)
		sub.cache = JOB_CACHE_REFRESH;
	else if (strcmp(cache, "off") == 0)
		sub.cache = JOB_CACHE_OFF;
	else {
		send_error(s, id, PROTO_E_INVALID, "\"cache\" is \"use\", "
		    "\"refresh\" or \"off\"");
		return;
	}
	sub.uid = uid(s);
	sub.who = sess_who(s);
	rc = jobs_submit(js, &sub, on_submitted, s, &j, &code, err,
	    sizeof(err));
	if (rc < 0)
		send_error(s, id, code, err);
	else if (rc == 0)
		reply_job(s, id, &j, 1);	/* merged with a queued job */
	else
		sess_wait(s, id);
}

static int64_t
job_id(struct sess *s, long id, const cJSON *req)
{
	int64_t j = proto_int(req, "job_id", -1);

	if (j <= 0)
		send_error(s, id, PROTO_E_INVALID, "\"job_id\" must be a "
		    "positive integer");
	return j;
}

static void
send_jobs(struct jobs *js, struct sess *s, long id, size_t limit, int active)
{
	cJSON *r = proto_reply(id), *a;

	a = cJSON_AddArrayToObject(r, "jobs");
	if (jobs_list(js, limit, active, a) < 0) {
		cJSON_Delete(r);
		send_error(s, id, PROTO_E_INTERNAL, "cannot read the job store");
		return;
	}
	sess_send(s, r);
}

static void
op_status(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	struct proto_job j;
	int64_t n;
	char msg[128];

	if (cJSON_GetObjectItemCaseSensitive(req, "job_id") == NULL) {
		send_jobs(js, s, id, LIST_MAX, 1);
		return;
	}
	if ((n = job_id(s, id, req)) <= 0)
		return;
	if (jobs_get(js, n, &j) < 0) {
		snprintf(msg, sizeof(msg), "no job %lld; `qpctl list` shows the "
		    "jobs", (long long)n);
		send_error(s, id, PROTO_E_NOT_FOUND, msg);
		return;
	}
	reply_job(s, id, &j, -1);
	proto_job_clear(&j);
}

static void
op_list(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	int64_t limit = proto_int(req, "limit", 50);

	if (limit <= 0 || limit > LIST_MAX)
		limit = LIST_MAX;
	send_jobs(js, s, id, (size_t)limit, 0);
}

static void
op_cancel(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	struct proto_job j;
	enum proto_err code;
	char err[512];
	int64_t n;
	int rc;

	if ((n = job_id(s, id, req)) <= 0)
		return;
	rc = jobs_cancel(js, n, uid(s), on_cancelled, s, &j, &code, err,
	    sizeof(err));
	if (rc < 0) {
		send_error(s, id, code, err);
		return;
	}
	log_info("job.cancel", "job=%lld uid=%ld", (long long)n, uid(s));
	if (rc == 0)
		reply_job(s, id, &j, -1);
	else
		sess_wait(s, id);
}

/* The session ends or closes first: let go of the job. */
static void
unwatch(struct sess *s, void *arg, int daemon_stops)
{
	struct watch *w = arg;
	cJSON *e;

	if (daemon_stops) {
		e = proto_event(w->req, "stopping");
		cJSON_AddStringToObject(e, "message", "the daemon is "
		    "stopping; the job stays queued and runs again "
		    "when it starts");
		sess_send(s, e);
	}
	jobs_unwatch(w->jw);
	free(w);
}

static void
on_watch(void *arg, const struct proto_job *j, int final)
{
	struct sess *s = arg;
	struct watch *w = sess_watching(s);
	cJSON *e;

	assert(w != NULL);	/* never called after unwatch */
	if (!final && sess_behind(s))
		return;		/* a later snapshot will do */
	e = proto_event(w->req, final ? "end" : "progress");
	cJSON_AddItemToObject(e, "job", proto_job_json(j));
	if (!final) {
		sess_send(s, e);
		return;
	}
	free(w);		/* the watch is gone after its final call */
	sess_watch_end(s, e);
}

static void
op_watch(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	struct proto_job j;
	struct watch *w;
	int64_t n;
	cJSON *e;
	int rc;

	if ((n = job_id(s, id, req)) <= 0)
		return;
	if (sess_watching(s)) {
		send_error(s, id, PROTO_E_INVALID, "this connection already "
		    "watches a job; open another");
		return;
	}
	if (jobs_get(js, n, &j) < 0) {
		send_error(s, id, PROTO_E_NOT_FOUND, "no such job");
		return;
	}
	reply_job(s, id, &j, -1);
	w = xmalloc(sizeof(*w));
	w->req = id;
	w->jw = NULL;
	rc = jobs_watch(js, n, on_watch, s, &w->jw);
	if (rc == 0) {
		assert(w->jw != NULL);	/* jobs_watch: 0 sets the watch */
		sess_watch(s, w, unwatch);
	} else
		free(w);
	if (rc == 1) {
		e = proto_event(id, "end");
		cJSON_AddItemToObject(e, "job", proto_job_json(&j));
		sess_send(s, e);
	}
	proto_job_clear(&j);
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
op_stats(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	const char *format = proto_str(req, "format");
	struct buf b = BUF_INIT;
	struct srv_counts c;
	cJSON *r, *o;

	if (format != NULL && strcmp(format, "prometheus") == 0) {
		/* The same text as the metrics_file (jobs_metrics). */
		r = proto_reply(id);
		jobs_metrics(js, &b);
		cJSON_AddStringToObject(r, "prometheus", b.data ? b.data : "");
		buf_free(&b);
		sess_send(s, r);
		return;
	}
	if (format != NULL && strcmp(format, "json") != 0) {
		send_error(s, id, PROTO_E_INVALID, "\"format\" is \"json\" "
		    "(the default) or \"prometheus\"");
		return;
	}
	sess_counts(s, &c);
	r = proto_reply(id);
	o = cJSON_AddObjectToObject(r, "stats");
	cJSON_AddStringToObject(o, "version", QP_VERSION);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddNumberToObject(o, "rss_kb", (double)rss_kb());
	cJSON_AddNumberToObject(o, "connections", c.live);
	cJSON_AddNumberToObject(o, "connections_accepted",
	    (double)c.accepted);
	cJSON_AddNumberToObject(o, "connections_rejected",
	    (double)c.rejected);
	jobs_stats(js, o);
	sess_send(s, r);
}

/* The cache's answer (on the loop): reply, then read on, as on_submitted. */
static void
on_cache_done(void *arg, int rc, cJSON *result, const char *err)
{
	struct sess *s = arg;
	long id = sess_wait_id(s);
	cJSON *r;

	if (rc < 0) {
		cJSON_Delete(result);
		r = proto_error(id, PROTO_E_INTERNAL, err);
	} else {
		r = proto_reply(id);
		cJSON_AddItemToObject(r, "cache", result);
	}
	sess_answer(s, r);
}

/*
 * {"action": "stats"|"clear", "site": NAME?}: the daemon's cache, all of
 * it or a site's dataset. Anyone may read the stats; only root and the
 * daemon's own user may clear. Opening (with its integrity check) and
 * clearing run on the thread pool.
 */
static void
op_cache(struct jobs *js, struct sess *s, long id, const cJSON *req)
{
	const struct settings *set = sess_settings(s);
	const char *action = proto_str(req, "action");
	const char *name = proto_str(req, "site");
	struct cfg_site *site = NULL;
	struct cw_req *cr;
	char err[600], *srvkey;
	int clear, rc;

	(void)js;
	if (action == NULL || (strcmp(action, "stats") != 0 &&
	    strcmp(action, "clear") != 0)) {
		send_error(s, id, PROTO_E_INVALID, "\"action\" is \"stats\" "
		    "or \"clear\"");
		return;
	}
	clear = strcmp(action, "clear") == 0;
	if (clear && !admit_privileged(uid(s))) {
		send_error(s, id, PROTO_E_FORBIDDEN, "only root or the daemon's "
		    "user may clear the cache");
		return;
	}
	if (name != NULL && settings_site_load(set, name, &site, err,
	    sizeof(err)) < 0) {
		send_error(s, id, settings_site(set, name) ?
		    PROTO_E_BAD_CONFIG : PROTO_E_NOT_FOUND, err);
		return;
	}
	srvkey = site ? cw_server(site->server, site->ca_file) : NULL;
	rc = cw_admin(sess_loop(s), set->cache_dir, clear, srvkey,
	    site ? site->dataset : NULL, on_cache_done, s, &cr);
	free(srvkey);
	cfg_site_free(site);
	if (rc < 0) {
		send_error(s, id, PROTO_E_INTERNAL, uv_strerror(rc));
		return;
	}
	if (clear)
		log_info("cache.cleared", "site=%s uid=%ld", name ? name :
		    "*", uid(s));
	sess_wait(s, id);
}

static void (*const ops[PROTO_NOPS])(struct jobs *, struct sess *, long,
    const cJSON *) = {
	[PROTO_PING] = op_ping,
	[PROTO_SUBMIT] = op_submit,
	[PROTO_STATUS] = op_status,
	[PROTO_LIST] = op_list,
	[PROTO_CANCEL] = op_cancel,
	[PROTO_WATCH] = op_watch,
	[PROTO_STATS] = op_stats,
	[PROTO_CACHE] = op_cache,
};

void
ops_handle(void *arg, struct sess *s, long id, enum proto_op op,
    const cJSON *req)
{
	/* proto_parse_request knows only the ops of this table. */
	assert((unsigned)op < PROTO_NOPS && ops[op] != NULL);
	ops[op](arg, s, id, req);
}
