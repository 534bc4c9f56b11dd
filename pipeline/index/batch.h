/*
 * batch: the records a batch of page stems carries from the fetch stage
 * (or the cache, store/cachework.h) to the ROI stage: per stem, the
 * accumulators of every candidate type that had rows, or the error its
 * queries failed with. They live here, below both their makers, so that
 * the cache's face does not pull in the network stack with fetch.h.
 */
#ifndef QP_BATCH_H
#define QP_BATCH_H

#include <stddef.h>

#include "index/typeset.h"

/* The rows of one stem: an accumulator per candidate type that had rows. */
struct fetch_stem {
	size_t		 stem;		/* index into scan->stems */
	struct ts_acc	**accs;
	size_t		 naccs;
	char		*error;		/* the stem's queries failed */
};

struct fetch_batch {
	struct fetch_stem *stems;
	size_t		 n;
};

/* Frees B, its stems and their accumulators; NULL is a no-op. */
void	 fetch_batch_free(struct fetch_batch *b);

#endif
