/*
 * typeset: what the index says about each type. Accumulators collect the
 * rows fetch parses (per candidate type name); ts_finish turns the winner's
 * accumulator into the final record render reads. The rules are those of
 * docs/create-index.md ("Per type"); none depends on the site's layout.
 */
#ifndef QP_TYPESET_H
#define QP_TYPESET_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "index/roi.h"
#include "index/scan.h"

enum ts_count { TS_TOTAL, TS_LEFT, TS_RIGHT, TS_MIDDLE, TS_UNDEFINED,
	TS_NCOUNTS };

/* Scalars taken from the first neuron (bodyId order) that has one. */
enum ts_first { TS_CONSENSUS_NT, TS_PREDICTED_NT, TS_DIMORPHISM, TS_SYNONYMS,
	TS_NFIRST };

/* Sorted distinct values over the type's neurons. */
enum ts_list { TS_SUPERCLASS, TS_CLASS, TS_SUBCLASS, TS_FLYWIRE,
	TS_NEUROMERE, TS_HEMILINEAGE, TS_NLISTS };

/*
 * How a dataset writes a neuron's side (neuview-site.md section 5): the name
 * without ":version"; male-cns, manc and any unknown name use cns.
 */
enum ts_adapter { TS_ADAPT_CNS, TS_ADAPT_HEMIBRAIN, TS_ADAPT_OPTIC,
	TS_ADAPT_FAFB };

enum ts_adapter ts_adapter_for(const char *dataset);

/* Final record of one index entry (one page stem). Read-only outside. */
struct ts_type {
	char	*name;			/* resolved type name, or the stem if unmatched */
	char	*file[SIDE_COUNT];	/* page path per side, NULL if absent */
	int	 matched;		/* a dataset type was found */
	int64_t	 count[TS_NCOUNTS];
	int64_t	 pre, post;
	char	*nt;			/* consensusNt, else predicted; NULL if none */
	char	*dimorphism;		/* NULL if none */
	char	*synonyms;		/* the raw string, NULL if none */
	char	**list[TS_NLISTS];	/* sorted distinct; flywire split on ',' */
	size_t	 nlist[TS_NLISTS];
	struct roi_summary roi;
	char	*error;			/* why this type has no data, NULL if fine */
};

/*
 * One group of neurons of a type as a CELLS row has it (one neuron in a
 * TYPE row): every string may be NULL; FIRST is the smallest bodyId of the
 * group; LIST holds cJSON arrays of values, or single values, or NULL.
 */
struct ts_row {
	const char	*root_side, *soma_side, *side, *instance;
	const char	*first[TS_NFIRST];
	int64_t		 first_body;
	int64_t		 cells, pre, post;
	const cJSON	*list[TS_NLISTS];
};

struct ts_strs {
	char	**v;
	size_t	 n;
};

/*
 * Rows seen for one candidate type name. The persistent cache stores these
 * field by field (pipeline/store/cache.c): a new field goes there too.
 */
struct ts_acc {
	char	*name;
	int64_t	 count[TS_NCOUNTS];	/* side from the properties */
	int64_t	 count_inst[TS_NCOUNTS];	/* side from the instance */
	int	 side_prop;		/* a neuron has rootSide or somaSide */
	int64_t	 pre, post;
	char	*first[TS_NFIRST];
	int64_t	 first_body[TS_NFIRST];
	struct ts_strs list[TS_NLISTS];
	struct roi_acc roi;
	int	 seen;			/* any row arrived */
};

void	 ts_acc_init(struct ts_acc *a, const char *name, const struct roi_meta *m);
void	 ts_acc_free(struct ts_acc *a);
/* A deep copy of A, for a second page stem the same type name stands for. */
struct ts_acc *ts_acc_copy(const struct ts_acc *a);
/* One CELLS row. */
void	 ts_acc_add_cells(struct ts_acc *a, enum ts_adapter ad,
	    const struct ts_row *r);
/* One ROIS row; rows for non-primary ROIs are ignored. */
void	 ts_acc_add_roi(struct ts_acc *a, const struct roi_meta *m,
	    const char *roi, int64_t pre, int64_t post);
/*
 * One TYPE row (per-type strategy): a neuron (R->cells 1) with its roiInfo
 * string. -EBADMSG when ROI_INFO is not a JSON object.
 */
int	 ts_acc_add_neuron(struct ts_acc *a, enum ts_adapter ad,
	    const struct roi_meta *m, const struct ts_row *r,
	    const char *roi_info);

/*
 * Fill T for page stem S from the accumulator of the winning type (NULL:
 * unmatched). Copies what it needs; the accumulator can be freed after.
 */
void	 ts_finish(struct ts_type *t, const struct scan_stem *s,
	    const struct ts_acc *winner, const struct roi_meta *m,
	    enum ts_adapter ad);
/*
 * ts_finish in two halves, for a worker that has the accumulators but not
 * the scan: ts_summarize fills everything but the page files (WINNER not
 * NULL), ts_add_files adds them from S.
 */
void	 ts_summarize(struct ts_type *t, const struct ts_acc *winner,
	    const struct roi_meta *m, enum ts_adapter ad);
void	 ts_add_files(struct ts_type *t, const struct scan_stem *s);
/*
 * The accumulator page stem STEM stands for among the N that had rows
 * (scan_resolve's choice), NULL if none.
 */
const struct ts_acc *ts_winner(const char *stem, struct ts_acc *const *accs,
	    size_t n);
/* An unmatched / failed record (ERROR may be NULL). */
void	 ts_unmatched(struct ts_type *t, const struct scan_stem *s, const char *error);
void	 ts_type_free(struct ts_type *t);
/* qsort comparator: by name, byte order. */
int	 ts_cmp_name(const void *a, const void *b);
/*
 * V (N records sorted by name) with the matched records of one type made
 * one: a stray page that keeps a space ("X Y.html") stands for the same
 * type as the file rule's "X_Y.html", and a type is one entry. Per side
 * the page kept is the file rule's spelling, else the smaller name; each
 * page not kept is appended to *DROPPED (*NDROPPED; the caller frees).
 * A record with data wins over one whose queries failed. The records
 * merged away are freed and the rest moved up: returns the new count.
 */
size_t	 ts_merge_names(struct ts_type *v, size_t n, char ***dropped,
	    size_t *ndropped);

#endif
