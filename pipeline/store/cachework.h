/*
 * cachework: the cache (cache.h) on libuv's thread pool, for a job. A load
 * opens the cache (checking it, moving a bad file aside), reads one
 * version's entries for the job's stems and decodes them; a store writes
 * a run's new entries and prunes. Both run in uv_queue_work, so no open,
 * read, commit or fsync of the cache ever stalls the loop, and both own
 * copies of everything they read: the job may go while one is out
 * (cw_abandon), and the request then frees itself.
 */
#ifndef QP_CACHEWORK_H
#define QP_CACHEWORK_H

#include <stddef.h>

#include <uv.h>

#include "store/cache.h"
#include "index/batch.h"
#include "index/scan.h"

struct cw_req;

/*
 * A load may also run the ROI stage on what it found, so that a warm run
 * has its records by the time META is back: with these rules and adapter
 * and the roi_meta made from META (the job's meta text: a JSON array of
 * primaryRois and roiHierarchy, see cw_meta_text). META NULL: the answer
 * stored with the version loaded, for a load that goes before META does;
 * the job keeps the records only if its META's text is the same.
 */
struct cw_roi {
	struct roi_rules rules;
	enum ts_adapter	 ad;
	const char	*meta;
};

/* One cached stem through the ROI stage (ts_summarize; no files yet). */
struct cw_record {
	size_t		 stem;		/* index in the scan */
	int		 matched;	/* else unmatched: T is empty */
	struct ts_type	 t;
};

/*
 * What a load found; the callee owns BATCH, HAVE, META and RECORDS (free
 * them with cw_loaded_free). With the ROI stage run, the stems it served
 * are in RECORDS and BATCH is NULL; else they are in BATCH.
 */
struct cw_loaded {
	int		 rc;		/* < 0: no cache this run (err says why) */
	struct fetch_batch *batch;	/* the cached stems, NULL when none */
	unsigned char	*have;		/* per stem of the scan: served */
	char		*meta;		/* the meta text RECORDS were made by */
	struct cw_record *records;
	size_t		 nrecords;
	size_t		 hits;
	size_t		 bad;		/* entries that failed their check */
	/* The version loaded (a load of the latest says which it was). */
	int		 found;		/* some version of the dataset is stored */
	char		 uuid[128], edit[64];
	unsigned	 nprimary;
	char		 note[600];	/* the file was moved aside: why */
	char		 err[400];
};

typedef void (*cw_load_cb)(void *arg, struct cw_loaded *res);
void	 cw_loaded_free(struct cw_loaded *res);

/*
 * META's answer as the cache keeps it and cw_roi names it: its primary
 * ROIs and hierarchy text, as one JSON text (caller frees). R is a META
 * answer roi_meta_parse accepted.
 */
char	*cw_meta_text(const struct cy_result *r);
/* RC 0 or a negative errno (-ENOSPC: the disk is full), ERR says why. */
typedef void (*cw_store_cb)(void *arg, int rc, const char *err,
	    const char *note);

/*
 * Load version K of the cache in DIR for the stems of SCAN, and with ROI
 * (may be NULL) run the ROI stage on them. CB runs on
 * the loop, never before this returns. 0, or a negative errno from
 * uv_queue_work (then CB never runs). K->uuid NULL: the version of K's
 * server, dataset and generation used last, whichever it is (so a job can
 * load while its META is out, and compare).
 */
int	 cw_load(uv_loop_t *loop, const char *dir, const struct cache_key *k,
	    const struct scan_result *scan, const struct cw_roi *roi,
	    cw_load_cb cb, void *arg, struct cw_req **out);

/* The entries a run learned, gathered on the loop for cw_store. */
struct cw_entries;
struct cw_entries *cw_entries_new(void);
/* Encode the N accumulators of STEM (cache_encode) and keep them. */
void	 cw_entries_add(struct cw_entries *e, const char *stem,
	    struct ts_acc *const *accs, size_t n);
size_t	 cw_entries_count(const struct cw_entries *e);
void	 cw_entries_free(struct cw_entries *e);

/*
 * Store E (taken, freed by the request) as version K in DIR's cache with
 * RUN noted. FLAGS: CW_PRUNE drops K's other versions (cache_store);
 * CW_CHECKED skips quick_check on open (this run's load did it).
 */
#define CW_PRUNE	1
#define CW_CHECKED	2
int	 cw_store(uv_loop_t *loop, const char *dir, const struct cache_key *k,
	    struct cw_entries *e, const struct cache_run *run, int flags,
	    cw_store_cb cb, void *arg, struct cw_req **out);

/*
 * For `qpctl cache`: the cache's stats (cache_stats) or its clearing
 * (cache_clear; RESULT {"cleared": entries}), for SERVER and DATASET or
 * (both NULL) all. CB gets RESULT (it owns it) or RC < 0 and ERR.
 */
typedef void (*cw_admin_cb)(void *arg, int rc, struct cJSON *result,
	    const char *err);
/* SERVER for cw_admin: a site's URL and CA file as the cache keys them
 * (cache_server). Caller frees. */
char	*cw_server(const char *url, const char *ca_file);
int	 cw_admin(uv_loop_t *loop, const char *dir, int clear,
	    const char *server, const char *dataset, cw_admin_cb cb, void *arg,
	    struct cw_req **out);

/* The callback of R will not run; R frees itself when its work ends. */
void	 cw_abandon(struct cw_req *r);

#endif
