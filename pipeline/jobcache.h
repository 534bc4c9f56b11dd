/*
 * jobcache: one job's use of the persistent cache (store/cache.h on the
 * pool through store/cachework.h): the load of the version used last
 * while META is out (the preload), the load of the version META gives,
 * the records and batch it serves, the entries the fetch learns, their
 * store once the index is written, and what the summary says of it all.
 *
 * It reports back through the callback given to jc_new, so it never
 * knows the job: job.c includes this header and reaches store/ only
 * through it, and nothing here includes job.h.
 *
 * One request at most is out on the pool at a time, a load or a store.
 * jc_abandon() and jc_free() let it go (it frees itself when its work
 * ends); its callback then never runs.
 */
#ifndef QP_JOBCACHE_H
#define QP_JOBCACHE_H

#include <stddef.h>

#include <uv.h>

#include "index/roi.h"

struct cy_result;
struct fetch_batch;
struct scan_result;
struct ts_acc;
struct ts_type;

struct jc;

enum jc_event {
	JC_PRELOADED,	/* the preload came back before jc_start: kept */
	JC_RELOAD,	/* it came after, another version: a load by key out */
	JC_SERVED,	/* the load is over: SV says what it served */
	JC_STORED,	/* the store is over; jc_stats says how it went */
};

/* What a load served; the job fetches the rest (jc_have says which). */
struct jc_served {
	struct fetch_batch *batch;	/* the caller takes it; NULL: none */
	size_t		 types;		/* records put in place, matched */
	size_t		 unmatched;	/* and unmatched */
};

/* SV is set for JC_SERVED only. */
typedef void (*jc_cb)(void *arg, enum jc_event ev, struct jc_served *sv);

/* The summary's cache fields (struct job_summary's cache_*). */
struct jc_stats {
	const char	*mode;		/* "off", "use" or "refresh" */
	size_t		 hits, misses, stored;
	double		 load_s, store_s;
	char		 warning[700];	/* "" or one line: what went wrong */
};

struct jc_opts {
	uv_loop_t	*loop;
	const char	*dir;		/* the cache's directory; NULL: none */
	/* The job may use it (batched, not --no-cache); refresh: write only. */
	int		 wanted;
	int		 refresh;
	const char	*server;	/* the site's; the key's server from */
	const char	*ca_file;	/* these two (cache_server) */
	const char	*dataset;	/* must outlive the jc */
	jc_cb		 cb;
	void		*arg;
};

/*
 * What a load runs the cache's ROI stage with and where its records go:
 * the job's scan and its types (one per stem; both outlive the jc), and,
 * for jc_start, the version META gave.
 */
struct jc_view {
	const struct scan_result *scan;
	struct ts_type	*types;
	struct roi_rules rules;
	const char	*uuid;		/* Meta.uuid, "" if none */
	const char	*edit;		/* Meta.lastDatabaseEdit, "" if none */
	unsigned	 nprimary;
};

struct jc *jc_new(const struct jc_opts *o);
void	 jc_free(struct jc *c);
/*
 * META's answer, once roi_meta_parse accepted it: its text keys the
 * cache's ROI stage (cw_meta_text). Called once.
 */
void	 jc_take_meta(struct jc *c, const struct cy_result *r);
/*
 * While META is out, load the version used last. 1: the load is out
 * (CB gets JC_PRELOADED, or once jc_start ran JC_SERVED, or JC_RELOAD
 * and later JC_SERVED); 0: none.
 */
int	 jc_preload(struct jc *c, const struct jc_view *v);
/*
 * META and the scan are in: serve what the cache holds for V's version.
 * 1: a load is out (the preload or a new one), CB gets JC_SERVED; 0:
 * nothing to wait for, SV says what was served. Called once.
 */
int	 jc_start(struct jc *c, const struct jc_view *v, struct jc_served *sv);
/* Per stem of the scan: the cache served it (the fetch skips it). */
const unsigned char *jc_have(const struct jc *c);
/* A stem the fetch answered: kept for the store (when this run writes). */
void	 jc_learn(struct jc *c, const char *stem, struct ts_acc *const *accs,
	    size_t n);
/*
 * The index is written: store what this run learned and drop the
 * dataset's older versions. 1: the store is out, CB gets JC_STORED; 0:
 * nothing stored (no cache this run, or it could not start).
 */
int	 jc_store(struct jc *c);
/* A load out goes unanswered (the job ends). */
void	 jc_abandon(struct jc *c);
const struct jc_stats *jc_stats(const struct jc *c);

#endif
