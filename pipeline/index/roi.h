/*
 * roi: the dataset's primary ROIs and hierarchy, per-type synapse sums per
 * primary ROI, and the ROI summary rules of docs/create-index.md.
 */
#ifndef QP_ROI_H
#define QP_ROI_H

#include <stddef.h>
#include <stdint.h>

#include "neuprint/cypher.h"

#define ROI_SUMMARY_MAX	5	/* quickpage rules: ROIs kept at most */
#define ROI_THRESHOLD_PCT 1.5	/* default share an ROI needs to be kept */

struct roi_meta;		/* opaque */

/*
 * The rule sets of docs/create-index.md. quickpage: display names, at most
 * ROI_SUMMARY_MAX, the first kept ROI's parent. neuview: neuView's cleaned
 * names, no cap, every distinct parent. DEFAULT is a site config's
 * (quickpaged.rules absent): the layout's own, quickpage for flat sites,
 * neuview for neuView's; the job resolves it once the scan found the
 * layout, and no roi_ function takes it. Last, so that a zeroed struct
 * roi_rules stays quickpage's.
 */
enum roi_ruleset { ROI_RULES_QUICKPAGE, ROI_RULES_NEUVIEW, ROI_RULES_DEFAULT };

struct roi_rules {
	enum roi_ruleset set;
	double	 threshold_pct;	/* keep when pre or post share >= this */
};

/*
 * PRIMARY: the dataset's primaryRois; HIERARCHY: Meta.roiHierarchy (the JSON
 * text). 0, or a negative errno with a message in err.
 */
int	 roi_meta_new(const char *const *primary, size_t nprimary,
	    const char *hierarchy_json, struct roi_meta **out,
	    char *err, size_t errlen);
/*
 * The same from the META answer (docs/queries.md): its one row's
 * primaryRois (a list; entries that are not strings are skipped) and
 * roiHierarchy (JSON text; null reads as {}). -EBADMSG with a message.
 */
int	 roi_meta_parse(const struct cy_result *r, struct roi_meta **out,
	    char *err, size_t errlen);
void	 roi_meta_free(struct roi_meta *m);
/* Rules for every later roi_summarize (default quickpage, 1.5 %). */
void	 roi_meta_set_rules(struct roi_meta *m, const struct roi_rules *r);
/* "quickpage" / "neuview". */
const char *roi_rules_name(enum roi_ruleset set);
size_t	 roi_nprimary(const struct roi_meta *m);
const char *roi_primary_name(const struct roi_meta *m, size_t i);
/* Index of a primary ROI, -1 if NAME is not primary. O(1) average. */
int	 roi_primary_index(const struct roi_meta *m, const char *name);

/* Display name: trailing "(R)", "(L)" or "(M)" and blanks before it dropped. */
char	*roi_display_name(const char *raw);	/* caller frees */
/*
 * neuView's name: a trailing "(R)"/"(L)"/"(M)" with the blanks before it,
 * then a trailing "_R"/"_L"/"_M", then outer blanks dropped. Caller frees.
 */
char	*roi_clean_name(const char *raw);

/* Sums for one type, one slot per primary ROI. */
struct roi_acc {
	int64_t	*pre;
	int64_t	*post;
	size_t	 n;
};

/*
 * A + B held at INT64_MAX or INT64_MIN instead of overflowing: every count
 * comes from the server, whose answers may sum past int64 (each cell is
 * only checked to be exact, <= 2^53). Every sum of counts goes through it.
 */
int64_t	 roi_count_add(int64_t a, int64_t b);

void	 roi_acc_init(struct roi_acc *a, const struct roi_meta *m);
void	 roi_acc_add(struct roi_acc *a, int idx, int64_t pre, int64_t post);
/* Add a neuron's roiInfo JSON string (primary ROIs only). -EBADMSG if bad. */
int	 roi_acc_add_info(struct roi_acc *a, const struct roi_meta *m,
	    const char *roi_info_json);
void	 roi_acc_free(struct roi_acc *a);

struct roi_entry {
	char	*name;		/* display name */
	int64_t	 pre, post;
	double	 pre_pct, post_pct;
	size_t	 roi;		/* index of the primary ROI kept */
};

struct roi_summary {
	struct roi_entry *e;	/* n entries, by pre + post descending */
	size_t	 n;
	char	*parent;	/* the first parent ROI, "" if none */
	char	**parents;	/* quickpage: parent if not ""; neuview: all, sorted */
	size_t	 nparents;
};

void	 roi_summarize(const struct roi_meta *m, const struct roi_acc *a,
	    struct roi_summary *out);
/* An empty summary (no ROI, parent ""), as an unmatched type has. */
void	 roi_summary_empty(struct roi_summary *s);
void	 roi_summary_free(struct roi_summary *s);

#endif
