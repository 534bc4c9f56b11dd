/*
 * jobstore: job records in SQLite (WAL) under the state directory. The
 * store is the truth about a job's state: the daemon commits every state
 * change (queued, running, finished), in order, and progress now and then,
 * so a restart after a crash finds every job where it was. Commits happen
 * on a writer thread, so an fsync never stalls the loop; the caller learns
 * of each from its callback (jobs.c acknowledges a submission only then).
 *
 * A job submitted with its config text keeps the text (it holds the
 * token) so a restart can run it again; the database file is mode 0600
 * and the text never leaves this module except to the job runner.
 */
#ifndef QP_JOBSTORE_H
#define QP_JOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "protocol.h"

#define JST_SCHEMA_VERSION 2

struct jobstore;

/*
 * Writes (jst_insert, jst_update, jst_prune) go to one writer thread with its
 * own connection and are committed one by one, in the order given, each
 * with its fsync (synchronous=FULL); CB runs on the loop once the write is
 * committed or has failed, never before the call returns, in the same order.
 * RC is 0 or a negative errno, ERROR a message (SQLite's) when RC < 0. N:
 * jst_insert the new id, jst_update the job's id, jst_prune how many records
 * went, jst_sync 0.
 *
 * Reads (jst_get, jst_list, jst_unfinished, jst_counts) run on the caller's
 * thread on a second connection: in WAL mode a reader neither waits for
 * the writer nor holds it up, and reads only pages, no fsync. They see
 * what is committed, not what is still queued.
 */
typedef void (*jst_cb)(void *arg, int rc, int64_t n, const char *error);

/*
 * Open or create DIR/jobs.db and start the writer; the loop keeps running
 * while writes are outstanding. Errors: negative errno, message in err.
 */
int	 jst_open(uv_loop_t *loop, const char *dir, struct jobstore **out, char *err,
	    size_t errlen);
/*
 * Finish the queued writes (their callbacks do not run), stop the writer
 * and close; the loop must run once more to release the handle.
 */
void	 jst_close(struct jobstore *s);
/*
 * Insert J (its id is ignored) with CONFIG and ORIGIN (either may be
 * NULL: texts the job runner gave and reads back); all are copied.
 */
void	 jst_insert(struct jobstore *s, const struct proto_job *j, const char *config,
	    const char *origin, jst_cb cb, void *arg);
/* Write J's state, times, progress, summary and error (copied). -ENOENT. */
void	 jst_update(struct jobstore *s, const struct proto_job *j, jst_cb cb,
	    void *arg);
/* Delete finished jobs that ended before BEFORE. */
void	 jst_prune(struct jobstore *s, double before, jst_cb cb, void *arg);

/* -ENOENT when there is no such job. OUT's summary must be cleared. */
int	 jst_get(struct jobstore *s, int64_t id, struct proto_job *out);

/* CB gets each job (and its config and origin texts or NULL); nonzero stops. */
typedef int (*jst_each_cb)(void *arg, const struct proto_job *j,
	    const char *config, const char *origin);
/* The LIMIT newest jobs, newest first. */
int	 jst_list(struct jobstore *s, size_t limit, jst_each_cb cb, void *arg);
/* Queued and running jobs, oldest first: what a restart resumes. */
int	 jst_unfinished(struct jobstore *s, jst_each_cb cb, void *arg);
/* Jobs per state, for stats. */
int	 jst_counts(struct jobstore *s, uint64_t counts[PROTO_NSTATES]);

/*
 * Test seams: exported for tests/unit/test_jobstore.c, called by nothing
 * in the daemon.
 * jst_sync: CB runs once everything queued before it is committed.
 */
void	 jst_sync(struct jobstore *s, jst_cb cb, void *arg);

#endif
