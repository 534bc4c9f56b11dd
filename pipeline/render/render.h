/*
 * render: a job's records written as its site's layout, the flat one
 * (render_flat.h: index.html, static/js/neuron-search.js, types.json) or
 * neuView's (render_neuview.h), staged beneath the output directory and
 * committed together, the home page last (outdir.h: no symlink followed,
 * all old or all new on a failure). Templates, CSS and JS are
 * data/templates, compiled in at build time (templates.h), never C string
 * literals in this code. Safe to call from any thread, several at once,
 * as long as nobody changes the arguments meanwhile.
 *
 * Below render_run is what the layouts share (render.c): they include this
 * header; only render.c knows them both.
 */
#ifndef QP_RENDER_H
#define QP_RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "base/fio.h"
#include "render/outdir.h"
#include "index/scan.h"
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

/*
 * Write TYPES (any order: each layout sorts) as LAYOUT, which scan_site
 * found (never SCAN_LAYOUT_AUTO). 0, or negative errno + message.
 */
int	 render_run(enum scan_layout layout, const struct ts_type *types,
	    size_t n, const struct render_opts *o, char *err, size_t errlen);
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

/* ---- For the layouts ---- */

struct tpl_var;		/* render/tpl.h */

/*
 * A buf whose first failure (a conversion buf_vprintf refuses) sticks, so
 * long runs of appends need one check at the end instead of one per call:
 * once RC is set, every w_* call leaves W as it is.
 */
struct render_w {
	struct buf	 b;
	int		 rc;		/* 0, or the first failure (< 0) */
};

#define RENDER_W_INIT { BUF_INIT, 0 }

void	 w_put(struct render_w *w, const void *p, size_t n);
void	 w_puts(struct render_w *w, const char *s);
void	 w_printf(struct render_w *w, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* SEP "KEY": (a JSON key of ours, needing no escapes), without printf. */
void	 w_key(struct render_w *w, const char *sep, const char *key);
/* Decimal, faster than printf for the many counts of a large index. */
void	 w_int(struct render_w *w, int64_t v);
/* Shortest %g that reads back as the same double; "x.0" for integers. */
void	 w_double(struct render_w *w, double d);
/*
 * S as a JSON string literal, always valid JSON (bytes that are not UTF-8
 * become U+FFFD; U+2028/2029 escaped). JS: also < > & escaped, so the text
 * is safe inside an HTML <script>.
 */
void	 w_json(struct render_w *w, const char *s, int js);
/* w_json, or null for NULL. */
void	 w_json_or_null(struct render_w *w, const char *s, int js);
/* HTML text or attribute value (always quoted with "); tpl_html's rules. */
void	 w_html(struct render_w *w, const char *s);
/* A relative file name as an href (tpl_url). */
void	 w_url(struct render_w *w, const char *s);

/* Message "DIR/NAME: OP: strerror" and the negative errno E (EIO if none). */
int	 render_fail(char *err, size_t errlen, const char *dir,
	    const char *name, const char *op, int e);
/* tpl_fill into W; the template is named DIR/NAME in messages. */
int	 render_subst(struct render_w *w, const char *tpl, const char *dir,
	    const char *name, const struct tpl_var *v, size_t nv, char *err,
	    size_t errlen);
/* T as "YYYY-MM-DDTHH:MM:SSZ" (UTC) in DST. */
void	 render_iso8601(char *dst, size_t len, time_t t);
/* types.json into W, V sorted by name, generated WHEN; W's rc. */
int	 render_types_json(struct render_w *w, const struct ts_type *const *v,
	    size_t n, const struct render_opts *o, const char *when);
/*
 * Stage what was built into W as REL in OD (opened: od_open), or report
 * why building failed (RC < 0): a template error has its message already
 * (ERR not empty), anything else gets one.
 */
int	 render_emit(struct render_w *w, int rc, struct od *od,
	    const char *dir, const char *rel, char *err, size_t errlen);

/*
 * The flat layout's template texts, loaded before anything is written:
 * the built-in set, or with quickpaged.template_dir the whole set
 * (render_tpl_names) from that directory (no per-file fallback: an
 * index.html edited against the built-in CSS would break silently when
 * either changed). NO_SYMLINKS: none in a file's path (a client's config).
 */
struct render_tpl {
	const char	*dir;	/* in messages; TPL_BUILTIN for the built-in set */
	struct buf	 index, css, js, search;
};

#define RENDER_TPL_INIT { NULL, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT }

int	 render_tpl_load(struct render_tpl *t, const char *override,
	    int no_symlinks, char *err, size_t errlen);
void	 render_tpl_free(struct render_tpl *t);

#endif
