/*
 * render_typelist: the neuview layout's type list (types.html) and its
 * search script (static/js/neuron-search.js), from the built-in templates
 * types.html, types.css, types.js and nv-search.js (data/templates).
 *
 * types.html carries the rows once, as compact JSON in a
 * <script type="application/json"> (docs/output.md, "types.html data"),
 * and builds the visible rows in the browser; a <noscript> list of links
 * is the page without JavaScript. neuron-search.js holds no data: it reads
 * data/neurons.json (data/neurons.js from file://) relative to its own URL.
 */
#ifndef QP_RENDER_TYPELIST_H
#define QP_RENDER_TYPELIST_H

#include <stddef.h>

#include "render/render.h"
#include "index/typeset.h"

/* What render_typelist_put writes, relative to the output directory. */
#define RENDER_TYPELIST_OUTPUTS \
	"types.html", "static/", "static/js/", "static/js/neuron-search.js"

/* The two files, built. */
struct render_typelist {
	char	*page;		/* types.html */
	char	*js;		/* static/js/neuron-search.js */
};

/*
 * V sorted by name. Builds both files into OUT, touching nothing but V,
 * O and OUT (so it may run on a thread of its own); 0, or negative errno
 * + message (OUT then holds nothing).
 */
int	 render_typelist_build(const struct ts_type *const *v, size_t n,
	    const struct render_opts *o, struct render_typelist *out,
	    char *err, size_t errlen);

/*
 * Stages what render_typelist_build made in OD (outdir.h), creating
 * static/js when missing; the caller commits. 0, or negative errno +
 * message naming the path.
 */
int	 render_typelist_put(const struct render_typelist *tl, struct od *od,
	    char *err, size_t errlen);

void	 render_typelist_free(struct render_typelist *tl);

#endif
