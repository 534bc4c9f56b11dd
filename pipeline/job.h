/*
 * job: one create-index job on a libuv loop, as stage queues:
 * scan -> meta -> fetch (batches in flight) -> ROI (summaries) -> render.
 * The job never blocks the loop on the network; scan reads a directory
 * listing on the loop, and render (writes, fsyncs, renames) runs on
 * libuv's thread pool, so it never blocks the loop either.
 */
#ifndef QP_JOB_H
#define QP_JOB_H

#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "fetch.h"
#include "neuprint/upstream.h"

enum job_stage {
	JOB_QUEUED, JOB_SCAN, JOB_META, JOB_FETCH, JOB_ROI, JOB_RENDER, JOB_DONE,
	JOB_NSTAGES
};

/*
 * The persistent cache (cache.h): USE reads and writes it, REFRESH only
 * writes (every stem is fetched), OFF neither.
 */
enum job_cache { JOB_CACHE_USE, JOB_CACHE_REFRESH, JOB_CACHE_OFF };

struct job_opts {
	const struct cfg_site	*site;	/* must outlive the job */
	struct upstream		*up;	/* NULL with quick */
	int			 quick;
	enum fetch_strategy	 strategy;
	/*
	 * The cache's directory, NULL: no cache. Only batched jobs with a
	 * dataset uuid use it (per-type is the uncached reference).
	 */
	const char		*cache_dir;	/* copied */
	enum job_cache		 cache;
	/*
	 * site->output_dir was resolved (realpath) and checked when the job
	 * was accepted (the daemon): the render follows no symlink on its
	 * path either, so one swapped in meanwhile leads nowhere.
	 */
	int			 out_dir_resolved;
	/*
	 * The job's life as it moves, old -> new (state names), for a debug
	 * log; NULL: not told. ARG is job_start's. Never called from
	 * job_free().
	 */
	void			(*debug)(void *arg, const char *from,
				    const char *to);
};

/* What a job did; read it any time, final once done. */
struct job_summary {
	enum job_stage	 stage;
	size_t		 pages;		/* page files found */
	size_t		 stems;		/* index entries */
	size_t		 types;		/* entries matched to a dataset type */
	size_t		 unmatched;	/* pages whose stem matches no type */
	size_t		 failed;	/* types whose queries failed */
	size_t		 duplicates;	/* pages not linked: another names their type */
	size_t		 done;		/* entries through the ROI stage */
	size_t		 splits;
	struct up_stats	 q;		/* queries, retries, bytes */
	double		 stage_s[JOB_NSTAGES];	/* seconds spent per stage */
	double		 wall_s;
	char		 index_path[4096];
	char		 dataset_version[128];
	char		 last_database_edit[64];	/* Meta.lastDatabaseEdit, "" if none */
	/* The cache: "off", "use" or "refresh"; stems served and fetched. */
	const char	*cache_mode;
	size_t		 cache_hits, cache_misses, cache_stored;
	double		 cache_load_s, cache_store_s;	/* wall, on the pool */
	char		 cache_warning[700];	/* "" or one line: what went wrong */
};

struct job;
/* RC 0 success (maybe with failed types), < 0 failure; ERROR says why. */
typedef void (*job_done_cb)(void *arg, struct job *j, int rc, const char *error);

/*
 * Start a job; *OUT is set before it returns. Every failure, even one at
 * the start (an unreadable output_dir), reaches CB, never before this
 * returns.
 */
void	 job_start(uv_loop_t *loop, const struct job_opts *o, job_done_cb cb,
	    void *arg, struct job **out);
/*
 * Stop a running job; its callback runs later with -ECANCELED. Once the
 * render is under way it is not stopped (the files are replaced whole):
 * the callback then runs when it ends, with its result.
 */
void	 job_cancel(struct job *j);
void	 job_free(struct job *j);
const struct job_summary *job_summary(const struct job *j);
/* Names and errors of failed types, one "name: error" per entry. */
size_t	 job_failures(const struct job *j, const char *const **out);
/*
 * Pages not linked because another page of theirs names the same type
 * (ts_merge_names: "X Y.html" beside "X_Y.html"), once the render began.
 */
size_t	 job_duplicates(const struct job *j, const char *const **out);
const char *job_stage_name(enum job_stage s);
/*
 * The summary as a JSON object (caller frees with cJSON_Delete): counts,
 * queries, retries by cause, splits, time-outs (attempts abandoned
 * unanswered), held (queries that waited for an identical one to be
 * surely over), seconds per stage, failures, the
 * limit of the job's server over the job's lifetime ([[s, limit], ...]).
 */
struct cJSON *job_summary_json(const struct job *j);

#endif
