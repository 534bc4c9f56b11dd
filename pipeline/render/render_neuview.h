/*
 * render_neuview: the index step's outputs in neuView's site layout
 * (docs/output.md, "neuview layout"): types.json, data/neurons.json and
 * data/neurons.js in neuView's shape, help.html, README.md and index.html
 * (committed last). Nothing under types/ is written.
 * Every output path is checked before anything is written: a directory or
 * a symlink in an output's place is refused with a message naming it. All
 * are staged, then committed together (outdir.h).
 */
#ifndef QP_RENDER_NEUVIEW_H
#define QP_RENDER_NEUVIEW_H

#include <stddef.h>

#include "render/render.h"
#include "index/typeset.h"

/* TYPES in any order. 0, or negative errno + message naming the path. */
int	 render_neuview_all(const struct ts_type *types, size_t n,
	    const struct render_opts *o, char *err, size_t errlen);

#endif
