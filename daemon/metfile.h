/*
 * metfile: the metrics_file setting, a Prometheus textfile for
 * node_exporter's textfile collector. The text is rendered on the loop
 * (from memory) and written on libuv's thread pool: a temp file in the
 * same directory, fsync, rename over the file, so a reader sees the old
 * text or the new one, never a part. Written after each job ends (a
 * kick), and every MF_PERIOD_MS when the text changed (the gauges move
 * while jobs run); an idle daemon writes nothing.
 */
#ifndef QP_METFILE_H
#define QP_METFILE_H

#include <uv.h>

#include "base/buf.h"

#define MF_PERIOD_MS	15000

struct mf;

/* Appends the current text to OUT; runs on the loop. */
typedef void (*mf_render_cb)(void *arg, struct buf *out);

/* PATH NULL: no file (until mf_configure gives one). */
void	 mf_new(uv_loop_t *loop, const char *path, mf_render_cb cb, void *arg,
	    struct mf **out);
/* A reload: the next write goes to PATH (NULL: stop writing). */
void	 mf_configure(struct mf *f, const char *path);
/* The metrics changed: write soon (from a timer, never inside this call). */
void	 mf_kick(struct mf *f);
/*
 * A last write of the text now, then F goes once that write is back
 * (run the loop). RENDER is not called after this returns.
 */
void	 mf_free(struct mf *f);

#endif
