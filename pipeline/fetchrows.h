/*
 * fetchrows: the answers of the fetch stage's queries (docs/queries.md)
 * read into what fetch.c keeps: the rows of CELLS, ROIS and TYPE into the
 * accumulators of the type names a batch asked for, and the TYPES list
 * as (stem, type) pairs. A malformed answer (a column missing, a count
 * that is not one) is refused with a message naming the query, the column
 * and the row, so the batch fails as a rejected query does (fetch.h).
 */
#ifndef QP_FETCHROWS_H
#define QP_FETCHROWS_H

#include <stddef.h>

#include "index/roi.h"
#include "index/typeset.h"
#include "neuprint/cypher.h"

/* Where one batch's rows go. */
struct fr_sink {
	/* TYPE's accumulator (made on its first row); NULL: not asked for. */
	struct ts_acc	*(*acc)(void *arg, const char *type);
	void		*arg;
	const char	*dataset;	/* its adapter reads the sides */
	const struct roi_meta *meta;
	double		 neurons;	/* counted by CELLS (or per-type) rows */
};

/*
 * One answer of CELLS, ROIS or TYPE (per type) into S. 0; -EBADMSG with
 * MSG (LEN bytes) saying why when it is malformed ("" when a column is
 * missing); fr_neurons: a negative errno of ts_acc_add_neuron.
 */
int	 fr_cells(struct fr_sink *s, const struct cy_result *r, char *msg,
	    size_t len);
int	 fr_rois(struct fr_sink *s, const struct cy_result *r, char *msg,
	    size_t len);
int	 fr_neurons(struct fr_sink *s, const struct cy_result *r, char *msg,
	    size_t len);

/* A type name and the stem the file rule gives it. */
struct fr_named {
	char	*stem;
	char	*type;
};

/*
 * TYPES' answer: every type with its stem, sorted by stem, then type
 * (*OUT, *N; free each string, then the array). 0, or -EBADMSG when the
 * column is missing (then nothing is made).
 */
int	 fr_types(const struct cy_result *r, struct fr_named **out, size_t *n);

#endif
