/*
 * jobstore: job records in SQLite (WAL) under the state directory. The
 * store is the truth about a job's state: the daemon writes every state
 * change (queued, running, finished) before it acts on it, and progress
 * now and then, so a restart after a crash finds every job where it was.
 *
 * A job submitted with its config text keeps the text (it holds the
 * token) so a restart can run it again; the database file is mode 0600
 * and the text never leaves this module except to the job runner.
 */
#ifndef QP_JOBSTORE_H
#define QP_JOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define JS_SCHEMA_VERSION 1

struct js;

/* Open or create DIR/jobs.db. Errors: negative errno, message in err. */
int	 js_open(const char *dir, struct js **out, char *err, size_t errlen);
void	 js_close(struct js *s);
/* Insert J (its id is ignored and set); CONFIG may be NULL. */
int	 js_insert(struct js *s, struct proto_job *j, const char *config);
/* Write J's state, times, progress, summary and error. */
int	 js_update(struct js *s, const struct proto_job *j);
/* -ENOENT when there is no such job. OUT's summary must be cleared. */
int	 js_get(struct js *s, int64_t id, struct proto_job *out);

/* CB gets each job (and its config text or NULL); nonzero stops. */
typedef int (*js_each_cb)(void *arg, const struct proto_job *j,
	    const char *config);
/* The LIMIT newest jobs, newest first. */
int	 js_list(struct js *s, size_t limit, js_each_cb cb, void *arg);
/* Queued and running jobs, oldest first: what a restart resumes. */
int	 js_unfinished(struct js *s, js_each_cb cb, void *arg);
/* Delete finished jobs that ended before BEFORE; returns how many. */
int	 js_prune(struct js *s, double before);
/* Jobs per state, for stats. */
int	 js_counts(struct js *s, uint64_t counts[PROTO_NSTATES]);

#endif
