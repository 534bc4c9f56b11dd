/*
 * roi: the dataset's primary ROIs and hierarchy, per-type synapse sums per
 * primary ROI, and the ROI summary rules of docs/create-index.md.
 */
#ifndef QP_ROI_H
#define QP_ROI_H

#include <stddef.h>
#include <stdint.h>

#define ROI_SUMMARY_MAX	5

struct roi_meta;		/* opaque */

/*
 * PRIMARY: the dataset's primaryRois; HIERARCHY: Meta.roiHierarchy (the JSON
 * text). 0, or a negative errno with a message in err.
 */
int	 roi_meta_new(const char *const *primary, size_t nprimary,
	    const char *hierarchy_json, struct roi_meta **out,
	    char *err, size_t errlen);
void	 roi_meta_free(struct roi_meta *m);
size_t	 roi_nprimary(const struct roi_meta *m);
const char *roi_primary_name(const struct roi_meta *m, size_t i);
/* Index of a primary ROI, -1 if NAME is not primary. O(1) average. */
int	 roi_primary_index(const struct roi_meta *m, const char *name);

/* Display name: trailing "(R)", "(L)" or "(M)" and blanks before it dropped. */
char	*roi_display_name(const char *raw);	/* caller frees */

/* Sums for one type, one slot per primary ROI. */
struct roi_acc {
	int64_t	*pre;
	int64_t	*post;
	size_t	 n;
};

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
};

struct roi_summary {
	struct roi_entry e[ROI_SUMMARY_MAX];
	size_t	 n;
	char	*parent;	/* display name of the parent ROI, "" if none */
};

void	 roi_summarize(const struct roi_meta *m, const struct roi_acc *a,
	    struct roi_summary *out);
void	 roi_summary_free(struct roi_summary *s);

#endif
