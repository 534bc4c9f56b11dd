/*
 * render: index.html, static/js/neuron-search.js and types.json, staged
 * beneath the output directory and committed together, the index last
 * (outdir.h: no symlink followed, all old or all new on a failure). Templates, CSS and JS are data/templates, compiled in
 * at build time (templates.h), never C string literals in this code. Safe
 * to call from any thread, several at once, as long as nobody changes the
 * arguments meanwhile.
 */
#ifndef QP_RENDER_H
#define QP_RENDER_H

#include <stddef.h>
#include <time.h>

#include "base/fio.h"
#include "render/outdir.h"
#include "index/typeset.h"

struct render_opts {
	const char	*out_dir;
	const char	*template_dir;	/* NULL: the built-in set */
	int		 template_no_symlinks;	/* open templates with none in the path */
	const char	*title_prefix;
	const char	*dataset;
	const char	*server;	/* https://host, for the neuview pages */
	const char	*dataset_version;	/* uuid@lastDatabaseEdit, NULL: --quick */
	const char	*dataset_uuid;		/* Meta.uuid, NULL with --quick */
	const char	*last_database_edit;	/* NULL if unknown */
	const char	*layout;	/* "quickpage" or "neuview", for types.json */
	const char	*rules;		/* "quickpage" or "neuview", for types.json */
	double		 roi_threshold_pct;	/* what the neuview help page says */
	time_t		 generated_at;
	int		 quick;
	struct fio	*io;		/* the file seam (fio.h); NULL: none */
	int		 out_dir_nofollow;	/* no symlink on out_dir's path */
};

/* The files a template_dir must hold. */
#define RENDER_NTPL	4
extern const char *const render_tpl_names[RENDER_NTPL];

/* TYPES sorted by name (ts_cmp_name). 0, or negative errno + message. */
int	 render_all(const struct ts_type *types, size_t n,
	    const struct render_opts *o, char *err, size_t errlen);
/* Stage types.json in OD (both layouts); V sorted by name. */
int	 render_types_json_stage(const struct ts_type *const *v, size_t n,
	    const struct render_opts *o, struct od *od, char *err,
	    size_t errlen);
/*
 * The stem every page of T shares, PREFIX <stem> <""|_L|_R|_M> ".html"
 * (malloc'd), or NULL when its pages do not follow that pattern. The pages
 * store a type's links as a side bit mask and this stem.
 */
char	*render_stem(const struct ts_type *t, const char *prefix);

#endif
