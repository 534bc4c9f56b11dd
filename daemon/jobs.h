/*
 * jobs: the daemon's create-index jobs on its one loop. Queued jobs start
 * in submission order while fewer than max_parallel_jobs run; two jobs
 * for the same output directory never run at once, and a submission equal
 * to a queued job (same site or config text, directory and mode) becomes
 * that job. Jobs talking to the same neuPrint server (URL and CA) share
 * one upstream, so one concurrency limit covers them all.
 *
 * Every state change goes to the job store's writer in order; progress
 * every few seconds. A submission is acknowledged, a queued job's cancel
 * answered and a job's end reported only once the store has committed
 * it; until then the job's record is served from memory, so what a client
 * reads next is never older than what it was told (docs/daemon.md).
 */
#ifndef QP_JOBS_H
#define QP_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "admit.h"
#include "base/buf.h"
#include "jobstore.h"
#include "protocol.h"
#include "settings.h"

struct jobs;
struct jobs_watch;

struct jobs_submit {
	const char	*site;		/* a site name, or NULL */
	const char	*config;	/* or a config's text */
	size_t		 config_len;
	struct admit_from from;	/* where it comes from (admit.h) */
	int		 quick;
	int		 cache;		/* enum job_cache: use, refresh, off */
	long		 uid;		/* the submitter */
	const struct admit_who *who;	/* its credentials; NULL: uid's, looked up */
};

/*
 * The answer to a submit or cancel that waited for the store: J on success
 * (ERR NULL), else CODE and ERR. Runs once, on the loop, never before the
 * call that took it returns.
 */
typedef void (*jobs_reply_cb)(void *arg, const struct proto_job *j,
	    enum proto_err code, const char *err);

/* FINAL: the job ended (or the daemon stops); the watch is gone after. */
typedef void (*jobs_watch_cb)(void *arg, const struct proto_job *j,
	    int final);

/* SET is borrowed and must outlive the jobs or the next jobs_configure. */
void	 jobs_new(uv_loop_t *loop, struct jobstore *store, const struct settings *set,
	    struct jobs **out);
void	 jobs_configure(struct jobs *js, const struct settings *set);
/* Queue what the store says was queued or running (after a restart). */
int	 jobs_recover(struct jobs *js);

/*
 * Errors (< 0) set CODE and ERR (for the client; never holds a token).
 * 0: OUT is the answer now (a merged submission, the cancel of a running
 * job). 1: CB answers once the store has committed the new record.
 */
int	 jobs_submit(struct jobs *js, const struct jobs_submit *s,
	    jobs_reply_cb cb, void *arg, struct proto_job *out,
	    enum proto_err *code, char *err, size_t errlen);
int	 jobs_cancel(struct jobs *js, int64_t id, long uid, jobs_reply_cb cb,
	    void *arg, struct proto_job *out, enum proto_err *code, char *err,
	    size_t errlen);
/* Live record of an active job, else the stored one. -ENOENT. */
int	 jobs_get(struct jobs *js, int64_t id, struct proto_job *out);
/* Add up to LIMIT jobs, newest first, to the array A (ACTIVE: only queued and running). */
int	 jobs_list(struct jobs *js, size_t limit, int active, cJSON *a);
void	 jobs_stats(struct jobs *js, cJSON *o);
/*
 * The metrics (metrics.h) as Prometheus text, appended to OUT: the ended
 * jobs' counters plus the running jobs' work so far, and the gauges now.
 */
void	 jobs_metrics(struct jobs *js, struct buf *out);
/*
 * CB runs each time a job ends or is queued again at a stop (the metrics
 * changed), from inside the jobs module: it may only note it, not call
 * back into jobs (mf_kick does so on its own timer).
 */
void	 jobs_on_ended(struct jobs *js, void (*cb)(void *), void *arg);

/*
 * Watch job ID: CB runs with each progress snapshot and once, final, at
 * the end. Returns 0 with *OUT set, 1 when the job has already ended
 * (OUT is then NULL; use jobs_get), -ENOENT when unknown.
 */
int	 jobs_watch(struct jobs *js, int64_t id, jobs_watch_cb cb, void *arg,
	    struct jobs_watch **out);
void	 jobs_unwatch(struct jobs_watch *w);

/*
 * Shutdown: start nothing more; cancel running jobs (a safe point: the
 * index is only replaced at the very end) and store them as queued so
 * the next start runs them again. CB runs once none is running.
 */
void	 jobs_stop(struct jobs *js, void (*cb)(void *), void *arg);
/*
 * Frees everything; handles are closed and writes still queued finish
 * (run the loop to finish: it runs while the store has writes out).
 */
void	 jobs_free(struct jobs *js);

#endif
