/*
 * metrics: the daemon's counters since it started, and their text in the
 * Prometheus exposition format (prom.h) for `qpctl stats --prometheus`
 * and the metrics_file. Jobs add each job's work (its summary) when it
 * ends; a scrape adds the running jobs' work so far to a copy, so the
 * counters grow while a job runs and never go back when it ends.
 *
 * Sites are labelled by name ("config:DATASET" for a config a client
 * sent), servers by URL without any user:password@. Client configs could
 * make up names without end, so past MET_MAX_SITES names the rest count
 * as site "other".
 */
#ifndef QP_METRICS_H
#define QP_METRICS_H

#include <stddef.h>

#include "base/buf.h"
#include "job.h"
#include "protocol.h"

#define MET_MAX_SITES	256

struct met;

/* What the metrics do not keep: gauges read at the moment of a scrape. */
struct met_server_live {
	const char	*server;
	unsigned	 jobs, limit, in_flight;
	size_t		 queued;
};

struct met_live {
	const char	*version;
	double		 start_time;		/* Unix seconds */
	unsigned	 queued, running;	/* jobs */
	const struct met_server_live *servers;	/* those with an upstream now */
	size_t		 nservers;
};

void	 met_new(struct met **out);
struct met *met_copy(const struct met *m);
void	 met_free(struct met *m);
/* Add a job's work: its queries, retries, bytes, splits, cache use, round
 * trips. SERVER is NULL for a --quick job (no network). */
void	 met_add_work(struct met *m, const char *site, const char *server,
	    const struct job_summary *s);
/* SITE exists (its counters start at 0). */
void	 met_add_site(struct met *m, const char *site);
/* A job of SITE ended in state ST at WHEN (Unix seconds). */
void	 met_job_ended(struct met *m, const char *site, enum proto_state st,
	    double when);
/* SITE's last success, as the job store remembers it from before a start. */
void	 met_last_success(struct met *m, const char *site, double when);
/* SERVER's last job left it with concurrency limit LIMIT. */
void	 met_server_idle(struct met *m, const char *server, unsigned limit);
/* Append M's exposition text, with LIVE's gauges, to OUT. */
void	 met_render(const struct met *m, const struct met_live *live,
	    struct buf *out);

#endif
