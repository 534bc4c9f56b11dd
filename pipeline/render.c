/*
 * render: types.json, static/js/neuron-search.js and index.html.
 *
 * Every output is built in a buf of its own, on a thread of its own
 * (render_outputs), staged as a durable temp file, and the three are
 * renamed into place together, the home page last.
 * Page text lives in template files (docs/output.md), compiled in
 * (templates.h) or read from quickpaged.template_dir; this file only fills
 * their {{placeholders}} with escaped data (both by tpl.c).
 *
 * Thread-safe: job.c runs render_all on libuv's thread pool, several jobs'
 * renders at once. Nothing here keeps state between calls (the tables are
 * const), and only reentrant libc calls are made (gmtime_r, strerror_r,
 * arc4random_buf); everything a call touches is its arguments or its own.
 * The threads render_all starts only read the shared arguments, and are
 * joined before it returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "dbl.h"
#include "render.h"
#include "tpl.h"
#include "xmalloc.h"

#define RENDER_TMP_TRIES	64

static const char *const render_side_key[SIDE_COUNT] = {
	"both", "left", "right", "middle"
};
static const char *const render_side_letter[SIDE_COUNT] = {
	"B", "L", "R", "M"
};
static const char *const render_side_title[SIDE_COUNT] = {
	"Combined", "Left", "Right", "Middle"
};
/* primary_url: both, then left, right, middle (docs/create-index.md). */
static const int render_primary_order[SIDE_COUNT] = {
	SIDE_BOTH, SIDE_LEFT, SIDE_RIGHT, SIDE_MIDDLE
};

/*
 * A buf whose first failure (a conversion buf_vprintf refuses) sticks, so
 * long runs of appends need one check at the end instead of one per call.
 */
struct render_w {
	struct buf	 b;
	int		 rc;
};

#define RENDER_W_INIT { BUF_INIT, 0 }

static void
w_put(struct render_w *w, const void *p, size_t n)
{
	if (w->rc == 0)
		buf_append(&w->b, p, n);
}

static void
w_puts(struct render_w *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
w_printf(struct render_w *w, const char *fmt, ...)
{
	va_list ap;

	if (w->rc != 0)
		return;
	va_start(ap, fmt);
	w->rc = buf_vprintf(&w->b, fmt, ap);
	va_end(ap);
}

/* SEP "KEY": (a JSON key of ours, needing no escapes), without printf. */
static void
w_key(struct render_w *w, const char *sep, const char *key)
{
	w_puts(w, sep);
	w_put(w, "\"", 1);
	w_puts(w, key);
	w_put(w, "\": ", 3);
}

/* Faster than printf for the many counts of a large index. */
static void
w_int(struct render_w *w, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	w_put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* A percentage with one decimal for hover titles; printf's %f is slow. */
static void
w_pct1(struct render_w *w, double d)
{
	int64_t v;

	if (!isfinite(d) || d < 0 || d > 1e15)
		d = 0;
	v = (int64_t)(d * 10 + 0.5);
	w_int(w, v / 10);
	w_put(w, ".", 1);
	w_int(w, v % 10);
	w_put(w, "%", 1);
}

/* Shortest %g that reads back as the same double; "x.0" for integers. */
static void
w_double(struct render_w *w, double d)
{
	char tmp[DBL_FMT_MAX];

	w_put(w, tmp, dbl_fmt(tmp, d));
}

/*
 * Length of the well-formed UTF-8 sequence at S (1..4), its code point in
 * *CP; 0 if the bytes are not UTF-8 (overlong, surrogate, truncated).
 */
static size_t
render_utf8(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at NUL */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * A JSON string literal. JS mode also escapes < > & so the text is safe
 * inside an HTML <script>. U+2028/2029 are always escaped (old JS engines
 * end a string there); bytes that are not UTF-8 become U+FFFD, so the output
 * is always valid JSON.
 */
static void
w_json(struct render_w *w, const char *s, int js)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;
	uint32_t cp;
	size_t n;
	unsigned char c;

	w_put(w, "\"", 1);
	while ((c = *p) != '\0') {
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' &&
		    !(js && (c == '<' || c == '>' || c == '&'))) {
			p++;
			continue;
		}
		w_put(w, run, (size_t)(p - run));
		if (c < 0x80) {
			switch (c) {
			case '"':  w_puts(w, "\\\""); break;
			case '\\': w_puts(w, "\\\\"); break;
			case '\n': w_puts(w, "\\n"); break;
			case '\r': w_puts(w, "\\r"); break;
			case '\t': w_puts(w, "\\t"); break;
			default:   w_printf(w, "\\u%04x", c); break;
			}
			p++;
		} else if ((n = render_utf8(p, &cp)) == 0) {
			w_puts(w, "\\ufffd");
			p++;
		} else {
			if (cp == 0x2028 || cp == 0x2029)
				w_printf(w, "\\u%04" PRIx32, cp);
			else
				w_put(w, p, n);
			p += n;
		}
		run = p;
	}
	w_put(w, run, (size_t)(p - run));
	w_put(w, "\"", 1);
}

static void
w_json_or_null(struct render_w *w, const char *s, int js)
{
	if (s == NULL)
		w_puts(w, "null");
	else
		w_json(w, s, js);
}

/* HTML text or attribute value (always quoted with "); tpl_html's rules. */
static void
w_html(struct render_w *w, const char *s)
{
	if (w->rc == 0)
		tpl_html(&w->b, s);
}

/* A relative file name as an href (tpl_url). */
static void
w_url(struct render_w *w, const char *s)
{
	if (w->rc == 0)
		tpl_url(&w->b, s);
}

/* "DIR/NAME" for messages; never fails (truncates). */
static void
render_path(char *dst, size_t len, const char *dir, const char *name)
{
	size_t n = strlen(dir);

	if (name == NULL)
		snprintf(dst, len, "%s", dir);
	else if (n > 0 && dir[n - 1] == '/')
		snprintf(dst, len, "%s%s", dir, name);
	else
		snprintf(dst, len, "%s/%s", dir, name);
}

/* Message "DIR/NAME: OP: strerror" and the negative errno E. */
static int
render_fail(char *err, size_t errlen, const char *dir, const char *name,
    const char *op, int e)
{
	char path[4096], ebuf[128];

	if (e <= 0)
		e = EIO;
	if (err != NULL && errlen > 0) {
		render_path(path, sizeof(path), dir, name);
		snprintf(err, errlen, "%s: %s: %s", path, op,
		    strerror_r(e, ebuf, sizeof(ebuf)));
	}
	return -e;
}

static int
render_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create ".NAME.XXXXXX" in DFD; the name is left in TMP. */
static int
render_tmp_open(int dfd, const char *name, char *tmp, size_t tmplen)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	char sfx[7];
	int fd, i, try;

	for (try = 0; try < RENDER_TMP_TRIES; try++) {
		arc4random_buf(rnd, sizeof(rnd));
		for (i = 0; i < 6; i++)
			sfx[i] = set[rnd[i] % (sizeof(set) - 1)];
		sfx[6] = '\0';
		if ((size_t)snprintf(tmp, tmplen, ".%s.%s", name, sfx) >= tmplen)
			return -ENAMETOOLONG;
		/* 0644 goes through the umask like any created file. */
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/*
 * A file written and made durable under a temporary name, not yet in
 * place: render_publish renames it over its name, render_unstage drops it.
 * Several outputs are staged first and published together, so either all
 * of them are replaced or none is.
 */
struct render_staged {
	const char	*dir, *name;
	int		 dfd;	/* -1: nothing staged */
	char		 tmp[512];
};

static void
render_unstage(struct render_staged *s)
{
	if (s->dfd < 0)
		return;
	unlinkat(s->dfd, s->tmp, 0);
	close(s->dfd);
	s->dfd = -1;
}

/* DATA into a new temp file beside DIR/NAME, fsynced and closed. */
static int
render_stage(const char *dir, const char *name, const void *data, size_t len,
    struct render_staged *s, char *err, size_t errlen)
{
	const char *op = "write";
	int fd, rc;

	s->dir = dir;
	s->name = name;
	s->dfd = -1;
	if (*name == '\0' || strchr(name, '/') != NULL)
		return render_fail(err, errlen, dir, name, "bad file name",
		    EINVAL);
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0)
		return render_fail(err, errlen, dir, NULL, "open", errno);
	if ((fd = render_tmp_open(s->dfd, name, s->tmp, sizeof(s->tmp))) < 0) {
		rc = render_fail(err, errlen, dir, name, "create temp file",
		    -fd);
		close(s->dfd);
		s->dfd = -1;
		return rc;
	}
	if ((rc = render_write_all(fd, data, len)) == 0) {
		op = "fsync";
		rc = fsync(fd) < 0 ? -errno : 0;
	}
	if (close(fd) < 0 && rc == 0) {
		op = "close";
		rc = -errno;
	}
	if (rc < 0) {
		render_unstage(s);
		return render_fail(err, errlen, dir, name, op, -rc);
	}
	return 0;
}

/* Move the staged file over its name; the directory's fsync is left. */
static int
render_publish(struct render_staged *s, char *err, size_t errlen)
{
	if (renameat(s->dfd, s->tmp, s->dfd, s->name) < 0) {
		int e = errno;

		render_unstage(s);
		return render_fail(err, errlen, s->dir, s->name, "rename", e);
	}
	return 0;
}

/* The renames into DFD are only durable once the directory is. */
static int
render_sync_dir(int dfd, const char *dir, char *err, size_t errlen)
{
	/* EINVAL: the fs cannot sync directories, nothing more to do. */
	if (fsync(dfd) < 0 && errno != EINVAL)
		return render_fail(err, errlen, dir, NULL, "fsync", errno);
	return 0;
}

int
render_write_atomic(const char *dir, const char *name, const void *data,
    size_t len, char *err, size_t errlen)
{
	struct render_staged s;
	int rc;

	if ((rc = render_stage(dir, name, data, len, &s, err, errlen)) < 0)
		return rc;
	if ((rc = render_publish(&s, err, errlen)) < 0)
		return rc;
	rc = render_sync_dir(s.dfd, dir, err, errlen);
	close(s.dfd);
	return rc;
}

/* Read the template DIR/NAME whole. */
static int
render_load(const char *dir, const char *name, struct buf *out, char *err,
    size_t errlen)
{
	char path[4096], chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	render_path(path, sizeof(path), dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return render_fail(err, errlen, dir, name,
		    "open template", errno);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = render_fail(err, errlen, dir, name,
			    "read template", errno);
			break;
		}
		if (n == 0)
			break;
		buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	if (rc == 0 && out->data == NULL)
		buf_append(out, "", 0);	/* empty file: still a string */
	return rc;
}

/* tpl_fill into W; the template is named DIR/NAME in messages. */
static int
render_subst(struct render_w *w, const char *tpl, const char *dir,
    const char *name, const struct tpl_var *v, size_t nv, char *err,
    size_t errlen)
{
	char path[4096];

	if (w->rc != 0)
		return w->rc;
	render_path(path, sizeof(path), dir, name);
	return tpl_fill(&w->b, tpl, path, v, nv, err, errlen);
}

/* ---- types.json ---- */

static void
render_json_roi(struct render_w *w, const struct roi_summary *r)
{
	const struct roi_entry *e;
	size_t i;

	w_puts(w, "[");
	for (i = 0; i < r->n; i++) {
		e = &r->e[i];
		w_puts(w, i ? ", {\"name\": " : "{\"name\": ");
		w_json(w, e->name, 0);
		w_puts(w, ", \"pre\": ");
		w_int(w, e->pre);
		w_puts(w, ", \"post\": ");
		w_int(w, e->post);
		w_puts(w, ", \"pre_pct\": ");
		w_double(w, e->pre_pct);
		w_puts(w, ", \"post_pct\": ");
		w_double(w, e->post_pct);
		w_puts(w, "}");
	}
	w_puts(w, "]");
}

/* Schema 2: {"combined": "X.html", ...}, paths relative to the site. */
static void
render_json_urls2(struct render_w *w, const struct ts_type *t)
{
	static const char *const key[SIDE_COUNT] = {
		"combined", "left", "right", "middle"
	};
	int s, first = 1;

	w_puts(w, "{");
	for (s = 0; s < SIDE_COUNT; s++) {
		if (t->file[s] == NULL)
			continue;
		w_key(w, first ? "" : ", ", key[s]);
		w_json(w, t->file[s], 0);
		first = 0;
	}
	w_puts(w, "}");
}

/* {"both": "X.html", ...} with only the pages that exist. */
static void
render_json_urls(struct render_w *w, const struct ts_type *t, int js)
{
	int s, first = 1;

	w_puts(w, "{");
	for (s = 0; s < SIDE_COUNT; s++) {
		if (t->file[s] == NULL)
			continue;
		w_puts(w, first ? "\"" : ", \"");
		w_puts(w, render_side_key[s]);
		w_puts(w, "\": ");
		w_json(w, t->file[s], js);
		first = 0;
	}
	w_puts(w, "}");
}

/* ["a", "b"] */
static void
render_json_strs(struct render_w *w, char *const *v, size_t n)
{
	size_t i;

	w_puts(w, "[");
	for (i = 0; i < n; i++) {
		w_puts(w, i ? ", " : "");
		w_json(w, v[i], 0);
	}
	w_puts(w, "]");
}

/* Schema 2 (docs/output.md): keys in this order, one line per type. */
static void
render_json_type(struct render_w *w, const struct ts_type *t)
{
	static const char *const ckey[TS_NCOUNTS] = {
		"total", "left", "right", "middle", "undefined"
	};
	static const char *const lkey[TS_NLISTS] = {
		"superclass", "class", "subclass", "flywire_types",
		"soma_neuromeres", "truman_hemilineages"
	};
	int c, l;

	w_puts(w, "{\"name\": ");
	w_json(w, t->name, 0);
	w_puts(w, ", \"urls\": ");
	render_json_urls2(w, t);
	w_puts(w, ", \"counts\": {");
	for (c = 0; c < TS_NCOUNTS; c++) {
		w_key(w, c ? ", " : "", ckey[c]);
		w_int(w, t->count[c]);
	}
	w_puts(w, "}, \"synapses\": {\"pre\": ");
	w_int(w, t->pre);
	w_puts(w, ", \"post\": ");
	w_int(w, t->post);
	w_puts(w, "}, \"nt\": ");
	w_json_or_null(w, t->nt, 0);
	for (l = TS_SUPERCLASS; l <= TS_SUBCLASS; l++) {
		w_key(w, ", ", lkey[l]);
		render_json_strs(w, t->list[l], t->nlist[l]);
	}
	w_puts(w, ", \"dimorphism\": ");
	w_json_or_null(w, t->dimorphism, 0);
	w_puts(w, ", \"synonyms\": ");
	w_json_or_null(w, t->synonyms, 0);
	for (l = TS_FLYWIRE; l < TS_NLISTS; l++) {
		w_key(w, ", ", lkey[l]);
		render_json_strs(w, t->list[l], t->nlist[l]);
	}
	w_puts(w, ", \"roi_summary\": ");
	render_json_roi(w, &t->roi);
	w_puts(w, ", \"parent_rois\": ");
	render_json_strs(w, t->roi.parents, t->roi.nparents);
	w_puts(w, ", \"parent_roi\": ");
	w_json(w, t->roi.parent ? t->roi.parent : "", 0);
	w_puts(w, "}");
}

static void
render_iso8601(char *dst, size_t len, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dst, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(dst, len, "1970-01-01T00:00:00Z");
}

/* V is sorted by name, so the unmatched list comes out sorted too. */
static int
render_types_json(struct render_w *w, const struct ts_type *const *v,
    size_t n, const struct render_opts *o, const char *when)
{
	size_t i, k = 0;

	w_puts(w, "{\"version\": 2, \"layout\": ");
	w_json(w, o->layout ? o->layout : "quickpage", 0);
	w_puts(w, ", \"rules\": ");
	w_json(w, o->rules ? o->rules : "quickpage", 0);
	w_puts(w, ", \"dataset\": ");
	w_json(w, o->dataset ? o->dataset : "", 0);
	w_puts(w, ", \"dataset_version\": ");
	if (o->quick || o->dataset_uuid == NULL)
		w_puts(w, "null");
	else {
		w_puts(w, "{\"uuid\": ");
		w_json(w, o->dataset_uuid, 0);
		w_puts(w, ", \"last_database_edit\": ");
		w_json_or_null(w, o->last_database_edit, 0);
		w_puts(w, "}");
	}
	w_puts(w, ", \"generated_at\": ");
	w_json(w, when, 0);
	w_puts(w, ",\n\"types\": [");
	for (i = 0; i < n; i++) {
		w_puts(w, i ? ",\n" : "\n");
		render_json_type(w, v[i]);
	}
	w_puts(w, n ? "\n],\n\"unmatched\": [" : "],\n\"unmatched\": [");
	for (i = 0; i < n && !o->quick; i++) {
		/* Failed types are reported by the job, not as unmatched. */
		if (v[i]->matched || v[i]->error)
			continue;
		w_puts(w, k++ ? ", " : "");
		w_json(w, v[i]->name, 0);
	}
	w_puts(w, "],\n\"failed\": [");
	for (i = 0, k = 0; i < n; i++) {
		if (v[i]->error == NULL)
			continue;
		w_puts(w, k++ ? ", {\"name\": " : "{\"name\": ");
		w_json(w, v[i]->name, 0);
		w_puts(w, ", \"error\": ");
		w_json(w, v[i]->error, 0);
		w_puts(w, "}");
	}
	w_puts(w, "]}\n");
	return w->rc;
}

/* ---- static/js/neuron-search.js ---- */

static const char *
render_primary(const struct ts_type *t)
{
	int i;

	for (i = 0; i < SIDE_COUNT; i++)
		if (t->file[render_primary_order[i]] != NULL)
			return t->file[render_primary_order[i]];
	return NULL;
}

/* The two arrays the template's globals are set to (JS-escaped). */
static int
render_search_data(struct render_w *names, struct render_w *data,
    const struct ts_type *const *v, size_t n)
{
	size_t i;

	w_puts(names, "[");
	w_puts(data, "[");
	for (i = 0; i < n; i++) {
		w_puts(names, i ? ",\n  " : "\n  ");
		w_json(names, v[i]->name, 1);
		w_puts(data, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
		w_json(data, v[i]->name, 1);
		w_puts(data, ", \"urls\": ");
		render_json_urls(data, v[i], 1);
		w_puts(data, ", \"primary_url\": ");
		w_json_or_null(data, render_primary(v[i]), 1);
		w_puts(data, "}");
	}
	w_puts(names, n ? "\n]" : "]");
	w_puts(data, n ? "\n]" : "]");
	return names->rc ? names->rc : data->rc;
}

/* ---- index.html ---- */

static int
render_is_other(const struct ts_type *t)
{
	return t->roi.parent == NULL || t->roi.parent[0] == '\0';
}

/* Groups by parent ROI name, "Other" (no parent) last; names within. */
static int
render_cmp_group(const void *a, const void *b)
{
	const struct ts_type *x = *(const struct ts_type *const *)a;
	const struct ts_type *y = *(const struct ts_type *const *)b;
	int ox = render_is_other(x), oy = render_is_other(y), c;

	if (ox != oy)
		return ox - oy;
	if (!ox && (c = strcmp(x->roi.parent, y->roi.parent)) != 0)
		return c;
	return strcmp(x->name, y->name);
}

static int
render_cmp_name(const void *a, const void *b)
{
	const struct ts_type *x = *(const struct ts_type *const *)a;
	const struct ts_type *y = *(const struct ts_type *const *)b;

	return strcmp(x->name, y->name);
}

static int
render_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
render_same_group(const struct ts_type *a, const struct ts_type *b)
{
	if (render_is_other(a) || render_is_other(b))
		return render_is_other(a) == render_is_other(b);
	return strcmp(a->roi.parent, b->roi.parent) == 0;
}

static void
render_row_name(struct render_w *w, const struct ts_type *t, int quick)
{
	w_puts(w, "<td class=\"c-name\">");
	if (t->file[SIDE_BOTH] != NULL) {
		w_puts(w, "<a href=\"");
		w_url(w, t->file[SIDE_BOTH]);
		w_puts(w, "\">");
		w_html(w, t->name);
		w_puts(w, "</a>");
	} else {
		w_puts(w, "<span class=\"nolink\">");
		w_html(w, t->name);
		w_puts(w, "</span>");
	}
	if (t->error != NULL) {
		w_puts(w, " <span class=\"badge err\" title=\"");
		w_html(w, t->error);
		w_puts(w, "\">no data</span>");
	} else if (!t->matched && !quick)
		w_puts(w, " <span class=\"badge nf\" title=\"No type of this "
		    "name in the dataset\">not in dataset</span>");
	w_puts(w, "</td>");
}

static void
render_row_sides(struct render_w *w, const struct ts_type *t)
{
	int s;

	w_puts(w, "<td class=\"c-pages\">");
	for (s = SIDE_LEFT; s < SIDE_COUNT; s++) {
		if (t->file[s] == NULL) {
			w_puts(w, "<span class=\"side off\">");
			w_puts(w, render_side_letter[s]);
			w_puts(w, "</span>");
			continue;
		}
		w_puts(w, "<a class=\"side\" href=\"");
		w_url(w, t->file[s]);
		w_puts(w, "\" title=\"");
		w_puts(w, render_side_title[s]);
		w_puts(w, " page\">");
		w_puts(w, render_side_letter[s]);
		w_puts(w, "</a>");
	}
	w_puts(w, "</td>");
}

static void
render_row_rois(struct render_w *w, const struct ts_type *t)
{
	const struct roi_entry *e;
	size_t i;

	w_puts(w, "<td class=\"c-rois\">");
	for (i = 0; i < t->roi.n; i++) {
		e = &t->roi.e[i];
		w_puts(w, "<span class=\"tag\" title=\"pre ");
		w_pct1(w, e->pre_pct);
		w_puts(w, " \xc2\xb7 post ");
		w_pct1(w, e->post_pct);
		w_puts(w, "\">");
		w_html(w, e->name);
		w_puts(w, "</span>");
	}
	w_puts(w, "</td>");
}

static void
render_row_counts(struct render_w *w, const struct ts_type *t)
{
	int c;

	w_puts(w, "<td class=\"c-num total\" title=\"synapses: pre ");
	w_int(w, t->pre);
	w_puts(w, ", post ");
	w_int(w, t->post);
	w_puts(w, "\">");
	w_int(w, t->count[TS_TOTAL]);
	w_puts(w, "</td>");
	for (c = TS_LEFT; c <= TS_MIDDLE; c++) {
		w_puts(w, t->count[c] ? "<td class=\"c-num\">" :
		    "<td class=\"c-num zero\">");
		w_int(w, t->count[c]);
		w_puts(w, "</td>");
	}
	w_puts(w, "<td class=\"c-nt\">");
	if (t->nt != NULL)
		w_html(w, t->nt);
	else
		w_puts(w, "<span class=\"muted\">\xe2\x80\x94</span>");
	w_puts(w, "</td>");
}

/* One <tr>; data- attributes carry what the filters need. */
static void
render_row(struct render_w *w, struct render_w *tmp, const struct ts_type *t,
    int quick)
{
	size_t i;
	int s;

	w_puts(w, "<tr data-name=\"");
	w_html(w, t->name);
	w_puts(w, "\" data-sides=\"");
	for (s = 0; s < SIDE_COUNT; s++)
		if (t->file[s] != NULL)
			w_puts(w, render_side_letter[s]);
	/* Tags as a JSON array: any ROI name survives, JSON.parse reads it. */
	buf_reset(&tmp->b);
	w_puts(tmp, "[");
	for (i = 0; i < t->roi.n; i++) {
		w_puts(tmp, i ? "," : "");
		w_json(tmp, t->roi.e[i].name, 0);
	}
	w_puts(tmp, "]");
	w_puts(w, "\" data-tags=\"");
	if (tmp->rc == 0)
		w_html(w, tmp->b.data);
	w->rc = w->rc ? w->rc : tmp->rc;
	w_puts(w, t->matched || quick ? "\">" : "\" class=\"nf\">");
	render_row_name(w, t, quick);
	render_row_sides(w, t);
	if (!quick) {
		render_row_rois(w, t);
		render_row_counts(w, t);
	}
	w_puts(w, "</tr>\n");
}

static void
render_group_head(struct render_w *w, struct render_w *opts, size_t gi,
    const char *title, size_t count, int quick)
{
	w_printf(w, "<section class=\"group\" id=\"g%zu\" data-group=\"g%zu\">\n"
	    "<h2><span class=\"g-name\">", gi, gi);
	w_html(w, title);
	w_printf(w, "</span> <span class=\"g-count\">%zu</span></h2>\n"
	    "<table class=\"types\"><thead><tr><th class=\"c-name\">Type</th>"
	    "<th class=\"c-pages\">Pages</th>", count);
	if (!quick)
		w_puts(w, "<th class=\"c-rois\">ROIs</th>"
		    "<th class=\"c-num\" title=\"cells, all sides\">Cells</th>"
		    "<th class=\"c-num\" title=\"left cells\">L</th>"
		    "<th class=\"c-num\" title=\"right cells\">R</th>"
		    "<th class=\"c-num\" title=\"middle cells\">M</th>"
		    "<th class=\"c-nt\" title=\"consensus neurotransmitter\">NT</th>");
	w_puts(w, "</tr></thead>\n<tbody>\n");
	w_printf(opts, "<option value=\"g%zu\">", gi);
	w_html(opts, title);
	w_printf(opts, " (%zu)</option>\n", count);
}

/* All groups into W, one <option> per group into OPTS. */
static int
render_groups(struct render_w *w, struct render_w *opts,
    const struct ts_type **g, size_t n, int quick, size_t *ngroups)
{
	struct render_w tmp = RENDER_W_INIT;
	size_t i, j, gi = 0;

	/* About 800 bytes a row: one allocation instead of ~20 doublings. */
	if (n < SIZE_MAX / 1024)
		buf_reserve(&w->b, n * 900 + 4096);

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && render_same_group(g[i], g[j]); j++)
			;
		render_group_head(w, opts, gi++, render_is_other(g[i]) ?
		    "Other" : g[i]->roi.parent, j - i, quick);
		for (; i < j; i++)
			render_row(w, &tmp, g[i], quick);
		w_puts(w, "</tbody></table>\n</section>\n");
	}
	buf_free(&tmp.b);
	*ngroups = gi;
	return w->rc ? w->rc : opts->rc;
}

/* FNV-1a of S, for render_tag_options' set. */
static uint64_t
render_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3u;
	return h;
}

/*
 * Every ROI tag once, sorted, as <option>s. The types carry ten times
 * more tags than there are distinct ones: they go through a hash set
 * first, and only the distinct ones are sorted.
 */
static int
render_tag_options(struct render_w *w, const struct ts_type *const *v,
    size_t n)
{
	const char **set, **tags, *s;
	size_t i, k, h, cap, nt = 0;

	for (i = 0; i < n; i++)
		nt += v[i]->roi.n;
	if (nt == 0)
		return 0;
	for (cap = 16; cap < 2 * nt; cap *= 2)
		;
	set = xcalloc(cap, sizeof(*set));
	tags = xreallocarray(NULL, nt, sizeof(*tags));
	for (i = 0, nt = 0; i < n; i++)
		for (k = 0; k < v[i]->roi.n; k++) {
			s = v[i]->roi.e[k].name;
			for (h = render_hash(s) & (cap - 1); set[h] != NULL &&
			    strcmp(set[h], s) != 0; h = (h + 1) & (cap - 1))
				;
			if (set[h] == NULL)
				set[h] = tags[nt++] = s;
		}
	free(set);
	qsort(tags, nt, sizeof(*tags), render_cmp_str);
	for (i = 0; i < nt; i++) {
		w_puts(w, "<option value=\"");
		w_html(w, tags[i]);
		w_puts(w, "\">");
		w_html(w, tags[i]);
		w_puts(w, "</option>\n");
	}
	free(tags);
	return w->rc;
}

/*
 * Template texts, loaded before anything is written: the built-in set, or
 * with quickpaged.template_dir the whole set from that directory (no
 * per-file fallback: an index.html edited against the built-in CSS would
 * break silently when either changed).
 */
struct render_tpl {
	const char	*dir;	/* in messages; TPL_BUILTIN for the built-in set */
	struct buf	 index, css, js, search;
};

static const char *const render_tpl_names[] = {
	"index.html", "index.css", "index.js", "neuron-search.js"
};

/* The built-in NAME, copied so both sets are freed alike. */
static int
render_builtin(const char *name, struct buf *out, char *err, size_t errlen)
{
	const struct tpl_file *f = tpl_get(name, err, errlen);

	if (f == NULL)
		return -ENOENT;
	buf_append(out, f->data, f->len);
	return 0;
}

/* Why a file missing from an override is an error, after its name. */
static void
render_whole_set(char *err, size_t errlen)
{
	size_t n;

	if (err == NULL || (n = strlen(err)) >= errlen)
		return;
	snprintf(err + n, errlen - n, " (quickpaged.template_dir replaces "
	    "the built-in set: it must hold index.html, index.css, index.js "
	    "and neuron-search.js)");
}

/*
 * B holds NEEDLE, any case. A buf's data is NULL until its first append;
 * the loaders append even for an empty file, but that is their contract,
 * not one this check should lean on.
 */
static int
render_contains(const struct buf *b, const char *needle)
{
	return b->data != NULL && strcasestr(b->data, needle) != NULL;
}

static int
render_tpl_load(struct render_tpl *t, const char *override, char *err,
    size_t errlen)
{
	struct buf *const dst[] = { &t->index, &t->css, &t->js, &t->search };
	size_t i;
	int rc;

	t->dir = override != NULL ? override : TPL_BUILTIN;
	for (i = 0; i < sizeof(dst) / sizeof(dst[0]); i++) {
		rc = override != NULL ?
		    render_load(override, render_tpl_names[i], dst[i], err,
		    errlen) :
		    render_builtin(render_tpl_names[i], dst[i], err, errlen);
		if (rc == -ENOENT && override != NULL)
			render_whole_set(err, errlen);
		if (rc < 0)
			return rc;
	}
	/* Inlined verbatim: a closing tag inside would cut the page. */
	if (render_contains(&t->js, "</script"))
		return render_fail(err, errlen, t->dir, "index.js",
		    "contains </script, cannot be inlined", EINVAL);
	if (render_contains(&t->css, "</style"))
		return render_fail(err, errlen, t->dir, "index.css",
		    "contains </style, cannot be inlined", EINVAL);
	return 0;
}

static void
render_tpl_free(struct render_tpl *t)
{
	buf_free(&t->index);
	buf_free(&t->css);
	buf_free(&t->js);
	buf_free(&t->search);
}

#define RENDER_VAR(k, w)	{ (k), (w).b.data ? (w).b.data : "", (w).b.len }

/* A scalar placeholder value, HTML-escaped. */
static void
render_text_var(struct render_w *w, const char *s)
{
	w_html(w, s != NULL ? s : "");
	if (w->b.data == NULL)
		w_put(w, "", 0);
}

static int
render_index(struct render_w *out, const struct render_tpl *tpl,
    const struct ts_type *const *v, size_t n, const struct render_opts *o,
    const char *when, char *err, size_t errlen)
{
	struct render_w groups = RENDER_W_INIT, regions = RENDER_W_INIT;
	struct render_w tags = RENDER_W_INIT, title = RENDER_W_INIT;
	struct render_w prefix = RENDER_W_INIT, ds = RENDER_W_INIT;
	struct render_w ver = RENDER_W_INIT, at = RENDER_W_INIT;
	const struct ts_type **g;
	size_t i, ngroups = 0, unmatched = 0;
	char ntypes[24], nunm[24], ngrp[24];
	int rc;

	g = xreallocarray(NULL, n ? n : 1, sizeof(*g));
	memcpy(g, v, n * sizeof(*g));
	qsort(g, n, sizeof(*g), render_cmp_group);
	rc = render_groups(&groups, &regions, g, n, o->quick, &ngroups);
	free(g);
	if (rc == 0)
		rc = render_tag_options(&tags, v, n);
	for (i = 0; i < n; i++)
		unmatched += !v[i]->matched && !v[i]->error && !o->quick;
	snprintf(ntypes, sizeof(ntypes), "%zu", n);
	snprintf(nunm, sizeof(nunm), "%zu", unmatched);
	snprintf(ngrp, sizeof(ngrp), "%zu", ngroups);
	render_text_var(&prefix, o->title_prefix);
	if (o->title_prefix != NULL && *o->title_prefix != '\0') {
		w_html(&title, o->title_prefix);
		w_puts(&title, " ");
	}
	w_puts(&title, "Neuron Types");
	render_text_var(&ds, o->dataset);
	render_text_var(&ver, o->quick || o->dataset_version == NULL ?
	    "\xe2\x80\x94" : o->dataset_version);
	render_text_var(&at, when);
	if (rc == 0) {
		const struct tpl_var vars[] = {
			{ "title", title.b.data, title.b.len },
			RENDER_VAR("title_prefix", prefix),
			RENDER_VAR("dataset", ds),
			RENDER_VAR("dataset_version", ver),
			RENDER_VAR("generated_at", at),
			{ "type_count", ntypes, strlen(ntypes) },
			{ "unmatched_count", nunm, strlen(nunm) },
			{ "group_count", ngrp, strlen(ngrp) },
			{ "body_class", o->quick ? "quick" : "full",
			    o->quick ? 5 : 4 },
			{ "css", tpl->css.data, tpl->css.len },
			{ "js", tpl->js.data, tpl->js.len },
			RENDER_VAR("region_options", regions),
			RENDER_VAR("tag_options", tags),
			RENDER_VAR("groups", groups),
		};
		rc = title.rc ? title.rc : prefix.rc ? prefix.rc : ds.rc ?
		    ds.rc : ver.rc ? ver.rc : at.rc;
		if (rc == 0)
			rc = render_subst(out, tpl->index.data, tpl->dir,
			    "index.html", vars, sizeof(vars) / sizeof(vars[0]),
			    err, errlen);
	}
	buf_free(&groups.b);
	buf_free(&regions.b);
	buf_free(&tags.b);
	buf_free(&title.b);
	buf_free(&prefix.b);
	buf_free(&ds.b);
	buf_free(&ver.b);
	buf_free(&at.b);
	return rc;
}

static int
render_search_js(struct render_w *out, const struct render_tpl *tpl,
    const struct ts_type *const *v, size_t n, const char *when, char *err,
    size_t errlen)
{
	struct render_w names = RENDER_W_INIT, data = RENDER_W_INIT;
	char ntypes[24];
	int rc;

	snprintf(ntypes, sizeof(ntypes), "%zu", n);
	rc = render_search_data(&names, &data, v, n);
	if (rc == 0) {
		/* generated_at is fixed ASCII; safe in a JS comment. */
		const struct tpl_var vars[] = {
			RENDER_VAR("types_json", names),
			RENDER_VAR("data_json", data),
			{ "generated_at", when, strlen(when) },
			{ "type_count", ntypes, strlen(ntypes) },
		};
		rc = render_subst(out, tpl->search.data, tpl->dir,
		    "neuron-search.js", vars, sizeof(vars) / sizeof(vars[0]),
		    err, errlen);
	}
	buf_free(&names.b);
	buf_free(&data.b);
	return rc;
}

int
render_mkdir(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[4096];

	render_path(path, sizeof(path), dir, name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return render_fail(err, errlen, dir, name, "mkdir", errno);
	return 0;
}

/*
 * Write what was built into W, or report why building failed: a template
 * error has its message already, anything else (a conversion buf_vprintf
 * refused) gets one.
 */
static int
render_emit(struct render_w *w, int rc, const char *dir, const char *name,
    char *err, size_t errlen)
{
	if (rc < 0 && err != NULL && errlen > 0 && err[0] != '\0')
		return rc;
	if (rc < 0)
		return render_fail(err, errlen, dir, name, "render", -rc);
	return render_write_atomic(dir, name, w->b.data, w->b.len, err,
	    errlen);
}

/*
 * One output of render_outputs, built and staged on a thread of its own:
 * the three are independent, so on a multi-core machine the index costs
 * the largest of them instead of their sum, and each file's write and
 * fsync overlap the others' building.
 */
struct render_out {
	uv_thread_t	 th;
	int		 started;
	int		 (*build)(struct render_out *);
	size_t		 reserve;	/* about the output's size */
	const struct render_tpl *tpl;
	const struct ts_type *const *v;
	size_t		 n;
	const struct render_opts *o;
	const char	*when;
	const char	*dir, *name;
	struct render_w	 w;
	struct render_staged st;
	int		 rc;
	char		 err[1024];
};

static int
render_out_types(struct render_out *x)
{
	return render_types_json(&x->w, x->v, x->n, x->o, x->when);
}

static int
render_out_search(struct render_out *x)
{
	return render_search_js(&x->w, x->tpl, x->v, x->n, x->when, x->err,
	    sizeof(x->err));
}

static int
render_out_index(struct render_out *x)
{
	return render_index(&x->w, x->tpl, x->v, x->n, x->o, x->when, x->err,
	    sizeof(x->err));
}

/* Build into X->w, stage it beside X->dir/X->name; touches only X. */
static void
render_out_run(void *arg)
{
	struct render_out *x = arg;

	buf_reserve(&x->w.b, x->reserve);
	x->rc = x->build(x);
	/* A template error has its message; a refused conversion gets one. */
	if (x->rc < 0 && x->err[0] == '\0')
		x->rc = render_fail(x->err, sizeof(x->err), x->dir, x->name,
		    "render", -x->rc);
	if (x->rc == 0)
		x->rc = render_stage(x->dir, x->name, x->w.b.data, x->w.b.len,
		    &x->st, x->err, sizeof(x->err));
	buf_free(&x->w.b);
}

/*
 * types.json, neuron-search.js, index.html: all built and staged, then
 * renamed in that order (the home page last) and their directories
 * synced once each. A failure before the renames replaces nothing.
 */
static int
render_outputs(const struct render_tpl *tpl, const struct ts_type *const *v,
    size_t n, const struct render_opts *o, char *err, size_t errlen)
{
	struct render_out out[3];
	char when[32], js_dir[4096];
	size_t i, per_type[3] = { 1024, 192, 1024 };
	int (*const build[3])(struct render_out *) = {
		render_out_types, render_out_search, render_out_index
	};
	const char *const name[3] = {
		"types.json", "neuron-search.js", "index.html"
	};
	int rc = 0;

	render_iso8601(when, sizeof(when), o->generated_at);
	render_path(js_dir, sizeof(js_dir), o->out_dir, "static/js");
	if ((rc = render_mkdir(o->out_dir, "static", err, errlen)) < 0 ||
	    (rc = render_mkdir(o->out_dir, "static/js", err, errlen)) < 0)
		return rc;
	memset(out, 0, sizeof(out));
	for (i = 0; i < 3; i++) {
		out[i].build = build[i];
		out[i].reserve = n < SIZE_MAX / 2048 ? n * per_type[i] + 65536 :
		    0;
		out[i].tpl = tpl;
		out[i].v = v;
		out[i].n = n;
		out[i].o = o;
		out[i].when = when;
		out[i].dir = i == 1 ? js_dir : o->out_dir;
		out[i].name = name[i];
		out[i].st.dfd = -1;
		/* No thread to be had: build it here, just slower. */
		out[i].started = uv_thread_create(&out[i].th, render_out_run,
		    &out[i]) == 0;
		if (!out[i].started)
			render_out_run(&out[i]);
	}
	for (i = 0; i < 3; i++)
		if (out[i].started)
			uv_thread_join(&out[i].th);
	for (i = 0; i < 3 && rc == 0; i++)
		if ((rc = out[i].rc) < 0 && err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", out[i].err);
	for (i = 0; i < 3 && rc == 0; i++)
		rc = render_publish(&out[i].st, err, errlen);
	/* index.html's directory is types.json's: one fsync covers both. */
	if (rc == 0)
		rc = render_sync_dir(out[2].st.dfd, o->out_dir, err, errlen);
	if (rc == 0)
		rc = render_sync_dir(out[1].st.dfd, js_dir, err, errlen);
	for (i = 0; i < 3; i++) {
		if (rc < 0)	/* unpublished temp files go */
			render_unstage(&out[i].st);
		else if (out[i].st.dfd >= 0)
			close(out[i].st.dfd);
	}
	return rc;
}

int
render_all(const struct ts_type *types, size_t n, const struct render_opts *o,
    char *err, size_t errlen)
{
	struct render_tpl tpl = { NULL, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
	const struct ts_type **v;
	size_t i;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';	/* render_emit tells set messages by it */
	/* Sorted here too, so output order never depends on the caller. */
	v = xreallocarray(NULL, n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = &types[i];
	qsort(v, n, sizeof(*v), render_cmp_name);
	/* Templates first: a bad template dir must not leave half the output. */
	rc = render_tpl_load(&tpl, o->template_dir, err, errlen);
	if (rc == 0)
		rc = render_outputs(&tpl, v, n, o, err, errlen);
	render_tpl_free(&tpl);
	free(v);
	return rc;
}

int
render_types_json_file(const struct ts_type *const *v, size_t n,
    const struct render_opts *o, char *err, size_t errlen)
{
	struct render_w w = RENDER_W_INIT;
	char when[32];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	render_iso8601(when, sizeof(when), o->generated_at);
	rc = render_types_json(&w, v, n, o, when);
	rc = render_emit(&w, rc, o->out_dir, "types.json", err, errlen);
	buf_free(&w.b);
	return rc;
}
