/*
 * jobrun: the inside of the jobs module (jobs.h), shared by its two files:
 * jobs.c keeps the records clients ask for (submit, cancel, list, watch,
 * recover, stats) and jobrun.c runs them (start, progress, the end, the
 * store's answers). Nothing outside the jobs module includes this.
 *
 * A job's life: queued on ACTIVE (no pipeline job), running on ACTIVE
 * (J->job set, counted in NRUNNING), then retired: its final state
 * written, on RETIRING until the store has it (settle), then freed. A job
 * whose final write failed stays there, KEPT, to be told of.
 */
#ifndef QP_JOBRUN_H
#define QP_JOBRUN_H

#include <sys/queue.h>

#include <stdint.h>

#include <uv.h>

#include "job.h"
#include "jobs.h"
#include "metrics.h"
#include "siteup.h"

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
	struct jobstore	*store;
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

/* Wall clock, Unix seconds. */
double	 jr_now(void);
/* An active job, or one whose end the store has not yet confirmed. */
struct djob *jr_find(struct jobs *js, int64_t id);
/* Queue J's record for the store; the answer settles J if it retired. */
void	 jr_store(struct jobs *js, struct djob *j);
/* Refresh a running J's record from its pipeline job. */
void	 jr_snapshot(struct djob *j);
/* Free J: on no list, its watchers dropped, its upstream put back. */
void	 jr_djob_free(struct djob *j);
/* Add J's pipeline work so far to M (a running job's; else nothing). */
void	 jr_account_to(struct met *m, const struct djob *j);
/*
 * Leave the active list with final state ST: written now, reported and
 * freed once the store has it. ERROR may be NULL.
 */
void	 jr_retire(struct jobs *js, struct djob *j, enum proto_state st,
	    const char *error);
/* Start queued jobs while fewer than max_parallel_jobs run. */
void	 jr_schedule(struct jobs *js);
/* From the reap step, soon: ended jobs, then the stop's report or more. */
void	 jr_reap_soon(struct jobs *js);
/* Free JS once jobs_free ran, its handles are closed and its writes back. */
void	 jr_maybe_free(struct jobs *js);

#endif
