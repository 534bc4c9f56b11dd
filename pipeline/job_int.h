/*
 * job_int: the insides of a job, shared by its two files: job.c (its
 * life: the stages, the workers, set_state) and jobsum.c (what it found:
 * the ROI stage's records, the failures, the summary). Nothing else
 * includes it; the daemon sees job.h.
 */
#ifndef QP_JOB_INT_H
#define QP_JOB_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "job.h"
#include "jobcache.h"
#include "index/roi.h"
#include "index/scan.h"
#include "index/typeset.h"

/* A batch in the ROI queue, drained at the idle step. */
struct ready {
	STAILQ_ENTRY(ready) entry;
	struct fetch_batch *b;
	int		 cached;	/* served by the cache: not stored again */
};

/*
 * The job's life, in the order it is lived: a move only ever goes down
 * this list (set_state() in job.c asserts it, with its table of moves). The reported
 * stages (enum job_stage) are coarser and run beside it.
 */
enum job_state {
	JOB_S_NEW,	/* job_start: META and the scan about to go */
	JOB_S_SCANNING,	/* the scan is out (META too, but with quick) */
	JOB_S_META_IN,	/* META is in and taken, the scan still out */
	JOB_S_META,	/* the scan is in, META out (the preload maybe) */
	JOB_S_LOADING,	/* both in: the cache's load out */
	JOB_S_FETCHING,	/* the fetch is out, its batches through ROI */
	JOB_S_FETCHED,	/* every stem handed on: last batches, then render */
	JOB_S_RENDERING,	/* the render is out on the pool */
	JOB_S_STORING,	/* the index is written, the cache's store out */
	JOB_S_ENDING,	/* end() came: finish() at the next step */
	JOB_S_ENDED,	/* finish() ran, and the callback */
	JOB_S_ORPHAN,	/* job_free() came while the scan or render was out */
	JOB_S_N
};

/*
 * What the job has out on the pool: one at a time. The scan and the
 * render hold the job's records (job_free waits for them: the orphan);
 * a load is let go when the job ends; the store is waited for.
 */
enum job_worker { W_NONE, W_SCAN, W_RENDER, W_PRELOAD, W_LOAD, W_STORE };

struct job {
	uv_loop_t	*loop;
	struct job_opts	 o;
	job_done_cb	 cb;
	void		*arg;
	enum job_state	 state;		/* set_state() only */
	enum job_worker	 out;		/* set_out() only */
	uv_work_t	*work;		/* the scan's or the render's, while out */
	struct job_summary s;
	struct scan_result scan;
	struct ts_type	*types;		/* one per stem, filled by the ROI stage */
	struct roi_meta	*meta;
	struct roi_rules rules;		/* quickpaged.rules, or the layout's */
	char		 uuid[128];	/* Meta.uuid, "" if none */
	struct up_query	*meta_q;
	struct fetch	*fetch;
	STAILQ_HEAD(, ready) ready;
	uv_idle_t	*idle;
	uint64_t	 t0, stage_t0;
	double		 stage_at[JOB_NSTAGES];	/* job seconds at each start */
	double		 trace_t0;	/* up_clock() at start */

	char		**failures;
	size_t		 nfailures;
	char		**dups;		/* pages not linked (ts_merge_names) */
	size_t		 ntypes;	/* records in types once merged */
	struct jc	*jc;		/* the persistent cache's part */
	int		 end_rc;	/* the callback's, set by end() */
	char		 error[512];
};

/* ROI stage for a batch whose rows are all in (jobsum.c). */
void	 job_roi_batch(struct job *j, struct fetch_batch *b, int cached);
/*
 * Past max_failed_fraction: 1 and MSG says why (the job ends); else 0.
 */
int	 job_too_many_failed(const struct job *j, char *msg, size_t len);

#endif
