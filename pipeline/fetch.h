/*
 * fetch: the fetch stage. Cuts the page stems into batches, sends each
 * batch's queries (docs/queries.md) through the upstream, and parses the
 * rows into per-type accumulators. A batch whose rows are all in is handed
 * on at once (the ROI stage); the number of batches out at a time follows
 * the upstream's concurrency limit, so memory follows the window, not the
 * dataset. Batches are cut so that no request body passes
 * max_query_bytes. A batch the server rejects (bad Cypher, a time-out, 413)
 * is split in halves down to single stems; a single stem that still fails
 * is handed on with its error, except that one whose spellings make a body
 * too big (the cap, or a proxy's 413) is resolved from the type list.
 */
#ifndef QP_FETCH_H
#define QP_FETCH_H

#include <stddef.h>

#include "index/batch.h"
#include "index/roi.h"
#include "index/scan.h"
#include "index/typeset.h"
#include "neuprint/upstream.h"

enum fetch_strategy { FETCH_BATCHED, FETCH_PER_TYPE };

struct fetch_opts {
	struct upstream		*up;
	const char		*token;
	const char		*dataset;
	const struct scan_result *scan;
	const struct roi_meta	*meta;
	unsigned		 batch_size;	/* stems per batch */
	unsigned		 max_underscores;
	size_t			 max_query_bytes;	/* per request body; 0: 256 KiB */
	enum fetch_strategy	 strategy;
	struct up_stats		*stats;		/* charged with every query */
	/* per stem, NULL or nonzero: resolved already (the cache), not asked */
	const unsigned char	*skip;
};

struct fetch_progress {
	size_t		 batches_out;	/* sent, rows not all in */
	size_t		 splits;
};

struct fetch;

/* The callee owns B (fetch_batch_free, index/batch.h). */
typedef void (*fetch_batch_cb)(void *arg, struct fetch_batch *b);
/* RC 0: every stem was handed on; < 0: the job cannot go on (ERROR says why). */
typedef void (*fetch_done_cb)(void *arg, int rc, const char *error);

/*
 * 0; -EINVAL when max_underscores is above 20 (config.c allows 0 to 20);
 * -EILSEQ when the dataset name is not valid UTF-8 and the type list is
 * needed.
 */
int	 fetch_start(const struct fetch_opts *o, fetch_batch_cb on_batch,
	    fetch_done_cb on_done, void *arg, struct fetch **out);
/* Stop: cancels queries; no callback runs afterwards. Frees F. */
void	 fetch_free(struct fetch *f);
void	 fetch_get_progress(const struct fetch *f, struct fetch_progress *p);

#endif
