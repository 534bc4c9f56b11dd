/*
 * typeset: what the index says about each type. Accumulators collect the
 * rows fetch parses (per candidate type name); ts_finish turns the winner's
 * accumulator into the final record render reads.
 */
#ifndef QP_TYPESET_H
#define QP_TYPESET_H

#include <stddef.h>
#include <stdint.h>

#include "roi.h"
#include "scan.h"

enum ts_count { TS_TOTAL, TS_LEFT, TS_RIGHT, TS_MIDDLE, TS_NCOUNTS };

/* Final record of one index entry (one page stem). Read-only outside. */
struct ts_type {
	char	*name;			/* resolved type name, or the stem if unmatched */
	char	*file[SIDE_COUNT];	/* page file per side, NULL if absent */
	int	 matched;		/* a dataset type was found */
	int64_t	 count[TS_NCOUNTS];
	int64_t	 pre, post;
	char	*nt;			/* consensus neurotransmitter, NULL if none */
	struct roi_summary roi;
	char	*error;			/* why this type has no data, NULL if fine */
};

struct ts_nt;			/* a neurotransmitter tally, private */

/* Rows seen for one candidate type name. */
struct ts_acc {
	char	*name;
	int64_t	 count[TS_NCOUNTS];
	int64_t	 pre, post;
	struct ts_nt	*nts;		/* tallies per neurotransmitter */
	size_t	 nnts;
	struct roi_acc roi;
	int	 seen;			/* any row arrived */
};

void	 ts_acc_init(struct ts_acc *a, const char *name, const struct roi_meta *m);
void	 ts_acc_free(struct ts_acc *a);
/* One CELLS row: SIDE may be NULL; INSTANCE decides the side then. */
void	 ts_acc_add_cells(struct ts_acc *a, const char *side, const char *instance,
	    const char *nt, int64_t cells, int64_t pre, int64_t post);
/* One ROIS row; rows for non-primary ROIs are ignored. */
void	 ts_acc_add_roi(struct ts_acc *a, const struct roi_meta *m,
	    const char *roi, int64_t pre, int64_t post);
/*
 * One TYPE row (per-type strategy): a neuron with its roiInfo string.
 * -EBADMSG when ROI_INFO is not a JSON object.
 */
int	 ts_acc_add_neuron(struct ts_acc *a, const struct roi_meta *m,
	    const char *side, const char *instance, const char *nt,
	    int64_t pre, int64_t post, const char *roi_info);

/*
 * Fill T for page stem S from the accumulator of the winning type (NULL:
 * unmatched). Copies what it needs; the accumulator can be freed after.
 */
void	 ts_finish(struct ts_type *t, const struct scan_stem *s,
	    const struct ts_acc *winner, const struct roi_meta *m);
/* An unmatched / failed record (ERROR may be NULL). */
void	 ts_unmatched(struct ts_type *t, const struct scan_stem *s, const char *error);
void	 ts_type_free(struct ts_type *t);
/* qsort comparator: by name, byte order. */
int	 ts_cmp_name(const void *a, const void *b);

#endif
