/*
 * render_neuview: the index step's outputs in neuView's site layout
 * (docs/output.md, "neuview layout"): types.json, data/neurons.json and
 * data/neurons.js in neuView's shape, help.html, README.md and index.html
 * (written last). Nothing under types/ is written.
 * Every output path is checked before anything is written: a directory,
 * or a symlink leading out of the output directory, in an output's place
 * is refused with a message naming it.
 */
#ifndef QP_RENDER_NEUVIEW_H
#define QP_RENDER_NEUVIEW_H

#include <stddef.h>

#include "render.h"
#include "typeset.h"

/* TYPES in any order. 0, or negative errno + message naming the path. */
int	 render_neuview_all(const struct ts_type *types, size_t n,
	    const struct render_opts *o, char *err, size_t errlen);

/*
 * The compact per-type data of types.html (docs/output.md, "types.html
 * data"): every field of types.json a card shows or filters on, tag values
 * as indexes into one sorted table of distinct strings. V sorted by name;
 * the caller frees the result (cJSON_free). Not yet written anywhere:
 * types.html, the next step of issue 14, inlines it.
 */
char	*render_neuview_types_data(const struct ts_type *const *v, size_t n);

#endif
