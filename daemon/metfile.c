/*
 * metfile: see metfile.h. One write at a time: a kick or a period while a
 * write is out marks the file dirty and the write's callback starts the
 * next one, so the last text always lands and writes never pile up.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metfile.h"
#include "siteup.h"
#include "base/xmalloc.h"

struct mf {
	uv_loop_t	*loop;
	char		*path;
	mf_render_cb	 render;
	void		*arg;
	uv_timer_t	 period, soon;
	char		*last;		/* the text last written, NULL: none */
	struct mf_work	*out;		/* the write under way */
	char		*pending;	/* mf_free's text, once OUT is back */
	int		 dirty;		/* write again once it is back */
	int		 failing;	/* the last write failed (logged once) */
	int		 freeing;
	int		 closing;	/* handles still to close */
};

/* Owned by the worker while it runs: copies, so a reload or free can go on. */
struct mf_work {
	uv_work_t	 req;
	struct mf	*f;
	char		*path;
	char		*text;
	size_t		 len;
	int		 rc;		/* 0 or a negative errno */
	char		 what[512];	/* why it failed: "PATH: step: error" */
};

/*
 * Written as a render writes (outdir: a hidden temp file beside the
 * target, fsync, rename), so the collector never reads half a file; the
 * temp name has no .prom suffix, so it never reads that either. 0644:
 * node_exporter runs as another user, past the service's umask.
 */
static int
write_file(struct mf_work *w)
{
	return siteup_replace_file(w->path, w->text, w->len, 0644, w->what,
	    sizeof(w->what));
}

static void
work(uv_work_t *req)
{
	struct mf_work *w = req->data;

	w->rc = write_file(w);
}

static void maybe_free(struct mf *f);
static void start_write(struct mf *f);
static void queue_write(struct mf *f, char *text, size_t len);

static void
work_done(uv_work_t *req, int status)
{
	struct mf_work *w = req->data;
	struct mf *f = w->f;

	/* One write at a time: the one out is this one. */
	assert(f->out == w);
	if (status < 0 && w->rc == 0)
		w->rc = status;
	f->out = NULL;
	/* Once per outage, not every period. */
	if (w->rc < 0 && !f->failing)
		log_warn("metrics.write_failed", "file=%s error=%s", w->path,
		    w->what[0] ? w->what : strerror(-w->rc));
	else if (w->rc == 0 && f->failing)
		log_info("metrics.written", "file=%s msg=%s", w->path,
		    "the metrics file is written again");
	f->failing = w->rc < 0;
	/* A reload may have moved the file while this write was out. */
	if (w->rc == 0 && f->path && strcmp(w->path, f->path) == 0) {
		free(f->last);
		f->last = w->text;
		w->text = NULL;
	}
	free(w->text);
	free(w->path);
	free(w);
	if (f->pending != NULL) {
		queue_write(f, f->pending, strlen(f->pending));
		f->pending = NULL;
	} else if (f->dirty && !f->freeing) {
		f->dirty = 0;
		start_write(f);
	}
	maybe_free(f);
}

/* Hand TEXT (owned) to a worker for f->path. */
static void
queue_write(struct mf *f, char *text, size_t len)
{
	struct mf_work *w;

	if (f->path == NULL) {
		free(text);
		return;
	}
	assert(f->out == NULL);	/* one write at a time */
	w = xcalloc(1, sizeof(*w));
	w->f = f;
	w->req.data = w;
	w->path = xstrdup(f->path);
	w->len = len;
	w->text = text;
	/* Only fails for a bad argument: nothing to retry. */
	if (uv_queue_work(f->loop, &w->req, work, work_done) < 0) {
		free(w->text);
		free(w->path);
		free(w);
		return;
	}
	f->out = w;
}

static char *
render(struct mf *f, size_t *len)
{
	struct buf b = BUF_INIT;

	f->render(f->arg, &b);
	*len = b.len;
	return b.data ? buf_steal(&b) : xstrdup("");
}

/* Render now; queue a write unless the file already holds this text. */
static void
start_write(struct mf *f)
{
	size_t len;
	char *text;

	if (f->path == NULL)
		return;
	if (f->out != NULL) {
		f->dirty = 1;
		return;
	}
	text = render(f, &len);
	if (f->last != NULL && strcmp(text, f->last) == 0) {
		free(text);
		return;
	}
	queue_write(f, text, len);
}

static void
on_timer(uv_timer_t *t)
{
	start_write(t->data);
}

void
mf_new(uv_loop_t *loop, const char *path, mf_render_cb cb, void *arg,
    struct mf **out)
{
	struct mf *f = xcalloc(1, sizeof(*f));

	assert(cb != NULL);	/* the text comes from it */
	f->loop = loop;
	f->render = cb;
	f->arg = arg;
	uv_timer_init(loop, &f->period);
	uv_timer_init(loop, &f->soon);
	f->period.data = f->soon.data = f;
	*out = f;
	mf_configure(f, path);
}

void
mf_configure(struct mf *f, const char *path)
{
	if (f->path && path && strcmp(f->path, path) == 0)
		return;
	free(f->path);
	f->path = path ? xstrdup(path) : NULL;
	/* A new file starts with the whole text. */
	free(f->last);
	f->last = NULL;
	f->failing = 0;
	if (path == NULL) {
		uv_timer_stop(&f->period);
		return;
	}
	uv_timer_start(&f->period, on_timer, MF_PERIOD_MS, MF_PERIOD_MS);
	mf_kick(f);
}

void
mf_kick(struct mf *f)
{
	if (f->path != NULL && !f->freeing)
		uv_timer_start(&f->soon, on_timer, 0, 0);
}

static void
on_closed(uv_handle_t *h)
{
	struct mf *f = h->data;

	/* two handles, closed once */
	assert(f->freeing && f->closing > 0);
	f->closing--;
	maybe_free(f);
}

static void
maybe_free(struct mf *f)
{
	if (!f->freeing || f->closing > 0 || f->out != NULL)
		return;
	/* The last text went out when the write before it came back. */
	assert(f->pending == NULL);
	free(f->path);
	free(f->last);
	free(f);
}

void
mf_free(struct mf *f)
{
	size_t len;

	if (f == NULL)
		return;
	assert(!f->freeing);	/* freed once */
	/* The last text (no job running, the final counts) lands too. */
	if (f->path != NULL && f->out != NULL) {
		f->dirty = 0;
		f->pending = render(f, &len);
	} else
		start_write(f);
	f->freeing = 1;
	f->closing = 2;
	uv_close((uv_handle_t *)&f->period, on_closed);
	uv_close((uv_handle_t *)&f->soon, on_closed);
}
