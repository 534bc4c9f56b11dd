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

#include "render.h"
#include "typeset.h"

/* What render_typelist_stage writes, relative to the output directory. */
#define RENDER_TYPELIST_OUTPUTS \
	"types.html", "static/", "static/js/", "static/js/neuron-search.js"

/*
 * V sorted by name. Stages static/js/neuron-search.js and types.html in
 * OD (outdir.h), creating static/js when missing; the caller commits.
 * 0, or negative errno + message naming the path.
 */
int	 render_typelist_stage(const struct ts_type *const *v, size_t n,
	    const struct render_opts *o, struct od *od, char *err,
	    size_t errlen);

#endif
