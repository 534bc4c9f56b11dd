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

#define JS_SCHEMA_VERSION 2

struct js;

/*
 * Writes (js_insert, js_update, js_prune) go to one writer thread with its
 * own connection and are committed one by one, in the order given, each
 * with its fsync (synchronous=FULL); CB runs on the loop once the write is
 * committed or has failed, never before the call returns, in the same order.
 * RC is 0 or a negative errno, ERROR a message (SQLite's) when RC < 0. N:
 * js_insert the new id, js_update the job's id, js_prune how many records
 * went, js_sync 0.
 *
 * Reads (js_get, js_list, js_unfinished, js_counts) run on the caller's
 * thread on a second connection: in WAL mode a reader neither waits for
 * the writer nor holds it up, and reads only pages, no fsync. They see
 * what is committed, not what is still queued.
 */
typedef void (*js_cb)(void *arg, int rc, int64_t n, const char *error);

/*
 * Open or create DIR/jobs.db and start the writer; the loop keeps running
 * while writes are outstanding. Errors: negative errno, message in err.
 */
int	 js_open(uv_loop_t *loop, const char *dir, struct js **out, char *err,
	    size_t errlen);
/*
 * Finish the queued writes (their callbacks do not run), stop the writer
 * and close; the loop must run once more to release the handle.
 */
void	 js_close(struct js *s);
/*
 * Insert J (its id is ignored) with CONFIG and ORIGIN (either may be
 * NULL: texts the job runner gave and reads back); all are copied.
 */
void	 js_insert(struct js *s, const struct proto_job *j, const char *config,
	    const char *origin, js_cb cb, void *arg);
/* Write J's state, times, progress, summary and error (copied). -ENOENT. */
void	 js_update(struct js *s, const struct proto_job *j, js_cb cb,
	    void *arg);
/* Delete finished jobs that ended before BEFORE. */
void	 js_prune(struct js *s, double before, js_cb cb, void *arg);

/* -ENOENT when there is no such job. OUT's summary must be cleared. */
int	 js_get(struct js *s, int64_t id, struct proto_job *out);

/* CB gets each job (and its config and origin texts or NULL); nonzero stops. */
typedef int (*js_each_cb)(void *arg, const struct proto_job *j,
	    const char *config, const char *origin);
/* The LIMIT newest jobs, newest first. */
int	 js_list(struct js *s, size_t limit, js_each_cb cb, void *arg);
/* Queued and running jobs, oldest first: what a restart resumes. */
int	 js_unfinished(struct js *s, js_each_cb cb, void *arg);
/* Jobs per state, for stats. */
int	 js_counts(struct js *s, uint64_t counts[PROTO_NSTATES]);

/*
 * Test seams: exported for tests/unit/test_jobstore.c, called by nothing
 * in the daemon.
 * js_sync: CB runs once everything queued before it is committed.
 */
void	 js_sync(struct js *s, js_cb cb, void *arg);

#endif
