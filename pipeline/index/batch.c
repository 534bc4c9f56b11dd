/*
 * batch: the batch records (batch.h), freed here by whoever holds them
 * last: the ROI stage, or the cache's load when a job goes first.
 */
#include <assert.h>
#include <stdlib.h>

#include "index/batch.h"

void
fetch_batch_free(struct fetch_batch *fb)
{
	size_t i, j;

	if (fb == NULL)
		return;
	/* A batch of stems always has its array, however few stems it has. */
	assert(fb->n == 0 || fb->stems != NULL);
	for (i = 0; i < fb->n; i++) {
		for (j = 0; j < fb->stems[i].naccs; j++) {
			ts_acc_free(fb->stems[i].accs[j]);
			free(fb->stems[i].accs[j]);
		}
		free(fb->stems[i].accs);
		free(fb->stems[i].error);
	}
	free(fb->stems);
	free(fb);
}
