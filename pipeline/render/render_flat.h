/*
 * render_flat: the flat (QuickPage) layout (docs/output.md): types.json,
 * static/js/neuron-search.js and index.html, from the template set
 * (render.h, render_tpl_load), staged beneath the output directory and
 * committed together, index.html last. A peer of render_neuview; the job
 * reaches both through render_run (render.h).
 */
#ifndef QP_RENDER_FLAT_H
#define QP_RENDER_FLAT_H

#include <stddef.h>

#include "render/render.h"
#include "index/typeset.h"

/* TYPES in any order (sorted by name here). 0, or negative errno + message. */
int	 render_flat_all(const struct ts_type *types, size_t n,
	    const struct render_opts *o, char *err, size_t errlen);

#endif
