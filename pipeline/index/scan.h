/*
 * scan: list the QuickPage pages of an output directory and map their file
 * stems back to type names (docs/create-index.md, "Scan and name
 * resolution").
 */
#ifndef QP_SCAN_H
#define QP_SCAN_H

#include <stddef.h>

enum scan_side { SIDE_BOTH, SIDE_LEFT, SIDE_RIGHT, SIDE_MIDDLE, SIDE_COUNT };

struct scan_stem {
	char	*stem;			/* file name minus side suffix and ".html" */
	char	*file[SIDE_COUNT];	/* page file name per side, NULL if none */
};

/*
 * Where a site keeps its pages: flat in the output directory (QuickPage),
 * or in its types/ folder (neuView). AUTO: neuview when types/ holds pages.
 */
enum scan_layout { SCAN_LAYOUT_AUTO, SCAN_LAYOUT_QUICKPAGE, SCAN_LAYOUT_NEUVIEW };

struct scan_result {
	struct scan_stem *stems;	/* sorted by stem, byte order */
	size_t	 nstems;
	size_t	 nfiles;		/* pages counted */
	enum scan_layout layout;	/* what scan_site found (never AUTO) */
};

/* Read DIR. 0, or a negative errno with a message naming DIR in err. */
int	 scan_dir(const char *dir, struct scan_result *out, char *err, size_t errlen);
/*
 * Read the site in DIR by LAYOUT (AUTO: detect). In the neuview layout only
 * DIR/types is read, every page there counts (hidden files aside), and the
 * file names are paths relative to DIR ("types/X.html").
 */
int	 scan_site(const char *dir, enum scan_layout layout,
	    struct scan_result *out, char *err, size_t errlen);
/*
 * What scan_dir makes of a directory holding the files NAMES (distinct, as
 * a directory's are; ALL: every page counts, as in neuView's types/): the
 * pages among them, grouped by stem. Every name is taken as a regular
 * file's.
 */
void	 scan_names(const char *const *names, size_t n, int all,
	    struct scan_result *out);
const char *scan_layout_name(enum scan_layout l);
void	 scan_free(struct scan_result *res);

/* The file rule: type name -> stem ('/' and ' ' become '_'); caller frees. */
char	*scan_stem_of(const char *type);

/*
 * Every name the file rule maps to STEM (each '_' may be '_', '/' or ' '),
 * the stem itself first, then in base-3 counting order ('_' < '/' < ' ',
 * the last underscore varying fastest). -E2BIG when STEM has more than
 * MAX_UNDERSCORES underscores (or more than 20, whatever MAX_UNDERSCORES
 * says: 3^20 names). *out is a malloc'd array of malloc'd strings.
 */
int	 scan_candidates(const char *stem, unsigned max_underscores,
	    char ***out, size_t *n);
void	 scan_strv_free(char **v, size_t n);

/*
 * Whether page stem STEM stands for type name TYPE: each '_' of STEM is
 * '_', '/' or ' ' in TYPE, everything else equal (scan_candidates' set).
 * So the file rule's stem of TYPE, or a stray page's that kept some of
 * TYPE's spaces ("X Y.html" beside "X_Y.html") stand for TYPE.
 */
int	 scan_spells(const char *stem, const char *type);

/*
 * Of the type names FOUND (all mapping to STEM), the one that wins: the one
 * equal to STEM, else the smallest by strcmp. NULL when n == 0.
 */
const char *scan_resolve(const char *stem, const char *const *found, size_t n);

#endif
