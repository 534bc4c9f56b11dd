/*
 * render: types.json, static/js/neuron-search.js and index.html.
 *
 * Every output is built in one buf and staged in the output directory
 * (outdir.h); when all are staged they are committed together.
 * Page text lives in template files (docs/output.md), compiled in
 * (templates.h) or read from quickpaged.template_dir; this file only fills
 * their {{placeholders}} with escaped data (both by tpl.c).
 *
 * Thread-safe: job.c runs render_all on libuv's thread pool, several jobs'
 * renders at once. Nothing here keeps state between calls (the tables are
 * const), and only reentrant libc calls are made (gmtime_r, strerror_r);
 * everything a call touches is its arguments or its own.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "base/buf.h"
#include "base/dbl.h"
#include "render/outdir.h"
#include "base/par.h"
#include "render/render.h"
#include "render/tpl.h"
#include "base/xmalloc.h"

static const char *const render_side_key[SIDE_COUNT] = {
	"both", "left", "right", "middle"
};
static const char *const render_side_letter[SIDE_COUNT] = {
	"B", "L", "R", "M"
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

/*
 * Open PATH for reading. NO_SYMLINKS (a daemon job from a client's
 * config, its template_dir resolved at submission): no symlink anywhere
 * in the path, so one swapped in after the daemon checked the files
 * cannot lead it to a file the client may not read.
 */
static int
render_open_tpl(const char *path, int no_symlinks)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	long fd;

	if (!no_symlinks)
		return open(path, O_RDONLY | O_CLOEXEC);
	fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)	/* before Linux 5.6: the last one */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return (int)fd;
}

/* Read the template DIR/NAME whole. */
static int
render_load(const char *dir, const char *name, int no_symlinks,
    struct buf *out, char *err, size_t errlen)
{
	char path[4096], chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	render_path(path, sizeof(path), dir, name);
	if ((fd = render_open_tpl(path, no_symlinks)) < 0)
		return render_fail(err, errlen, dir, name, errno == ELOOP ||
		    errno == EXDEV ? "open template (symlinks are not "
		    "followed for a client's config)" : "open template",
		    errno);
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

/*
 * The strings rows refer to by index: every ROI name and NT once, sorted
 * (byte order). Built once per render, looked up by bsearch: linear-log.
 */
struct render_strs {
	const char	**v;
	size_t		 n;
};

static void
render_strs_build(struct render_strs *s, const struct ts_type *const *v,
    size_t n)
{
	size_t i, k, out, cap = 0;

	for (i = 0; i < n; i++)
		cap += v[i]->roi.n + (v[i]->nt != NULL);
	s->v = xreallocarray(NULL, cap ? cap : 1, sizeof(*s->v));
	s->n = 0;
	for (i = 0; i < n; i++) {
		if (v[i]->nt != NULL)
			s->v[s->n++] = v[i]->nt;
		for (k = 0; k < v[i]->roi.n; k++)
			s->v[s->n++] = v[i]->roi.e[k].name;
	}
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), render_cmp_str);
	for (i = 1, out = 1; i < s->n; i++)
		if (strcmp(s->v[i], s->v[out - 1]) != 0)
			s->v[out++] = s->v[i];
	s->n = out;
}

static int64_t
render_strs_idx(const struct render_strs *s, const char *str)
{
	const char **hit;

	if (str == NULL || s->n == 0)
		return -1;
	hit = bsearch(&str, s->v, s->n, sizeof(*s->v), render_cmp_str);
	return hit ? (int64_t)(hit - s->v) : -1;
}

/* Side suffixes of page names, in SIDE_* order. */
static const char *const render_suffix[SIDE_COUNT] = { "", "_L", "_R", "_M" };

char *
render_stem(const struct ts_type *t, const char *prefix)
{
	size_t len, pl = strlen(prefix), sl;
	char *stem = NULL, *want;
	int s, ok = 1;

	for (s = 0; s < SIDE_COUNT && ok; s++) {
		const char *f = t->file[s];

		if (f == NULL)
			continue;
		len = strlen(f);
		sl = strlen(render_suffix[s]) + 5;	/* suffix + ".html" */
		if (stem == NULL) {
			if (strncmp(f, prefix, pl) != 0 || len < pl + sl + 1) {
				ok = 0;
				break;
			}
			stem = xstrndup(f + pl, len - pl - sl);
		}
		want = xasprintf("%s%s%s.html", prefix, stem, render_suffix[s]);
		ok = strcmp(want, f) == 0;
		free(want);
	}
	if (!ok) {
		free(stem);
		return NULL;
	}
	return stem;
}

/* Row fields 1 and 2: side bit mask and stem (0: the name), or paths. */
static void
render_data_pages(struct render_w *w, const struct ts_type *t)
{
	char *stem = render_stem(t, "");
	int s, mask = 0;

	if (stem == NULL) {
		w_puts(w, "[");
		for (s = 0; s < SIDE_COUNT; s++) {
			w_puts(w, s ? "," : "");
			w_json_or_null(w, t->file[s], 1);
		}
		w_puts(w, "],0");
		return;
	}
	for (s = 0; s < SIDE_COUNT; s++)
		if (t->file[s] != NULL)
			mask |= 1 << s;
	w_int(w, mask);
	w_puts(w, ",");
	if (strcmp(stem, t->name) == 0)
		w_puts(w, "0");
	else
		w_json(w, stem, 1);
	free(stem);
}

/*
 * One row of the page's data (docs/output.md, "index.html data"):
 * [name, pages, stem, group, [total,L,R,M], pre, post, nt, [roi, pre per
 * mille, post per mille, ...], state (0 ok, 1 not in dataset, or the
 * error text)].
 */
static void
render_data_row(struct render_w *w, const struct render_strs *s,
    const struct ts_type *t, size_t group, int quick)
{
	size_t i;
	int c;

	w_puts(w, "[");
	w_json(w, t->name, 1);
	w_puts(w, ",");
	render_data_pages(w, t);
	w_puts(w, ",");
	w_int(w, (int64_t)group);
	w_puts(w, ",[");
	for (c = TS_TOTAL; c <= TS_MIDDLE; c++) {
		w_puts(w, c ? "," : "");
		w_int(w, t->count[c]);
	}
	w_puts(w, "],");
	w_int(w, t->pre);
	w_puts(w, ",");
	w_int(w, t->post);
	w_puts(w, ",");
	w_int(w, render_strs_idx(s, t->nt));
	w_puts(w, ",[");
	for (i = 0; i < t->roi.n; i++) {
		const struct roi_entry *e = &t->roi.e[i];

		w_puts(w, i ? "," : "");
		w_int(w, render_strs_idx(s, e->name));
		w_puts(w, ",");
		w_int(w, isfinite(e->pre_pct) ? (int64_t)llround(e->pre_pct * 10) : 0);
		w_puts(w, ",");
		w_int(w, isfinite(e->post_pct) ? (int64_t)llround(e->post_pct * 10) : 0);
	}
	w_puts(w, "],");
	if (t->error != NULL)
		w_json(w, t->error, 1);
	else
		w_puts(w, !t->matched && !quick ? "1" : "0");
	w_puts(w, "]");
}

/* One type of the list shown without JavaScript: its pages' links. */
static void
render_plain_row(struct render_w *w, const struct ts_type *t)
{
	int s;

	w_puts(w, "<li>");
	if (t->file[SIDE_BOTH] != NULL) {
		w_puts(w, "<a href=\"");
		w_url(w, t->file[SIDE_BOTH]);
		w_puts(w, "\">");
		w_html(w, t->name);
		w_puts(w, "</a>");
	} else
		w_html(w, t->name);
	for (s = SIDE_LEFT; s < SIDE_COUNT; s++) {
		if (t->file[s] == NULL)
			continue;
		w_puts(w, " <a href=\"");
		w_url(w, t->file[s]);
		w_puts(w, "\">");
		w_puts(w, render_side_letter[s]);
		w_puts(w, "</a>");
	}
	w_puts(w, "</li>\n");
}

/*
 * G sorted by group (render_cmp_group). Into DATA the page's JSON
 * {"v":1,"s":[strings],"g":[group names],"r":[rows]}, "<" ">" "&"
 * escaped so it is safe in a <script>; into PLAIN every group as a
 * <section> of links (the page without JavaScript); into OPTS one
 * <option> per group.
 */
static int
render_groups(struct render_w *data, struct render_w *plain,
    struct render_w *opts, const struct ts_type **g, size_t n, int quick,
    size_t *ngroups)
{
	struct render_strs s;
	size_t i, j, k, gi;

	render_strs_build(&s, g, n);
	/* About 110 bytes a row of data, 90 of links: no doublings. */
	if (n < SIZE_MAX / 1024) {
		buf_reserve(&data->b, n * 128 + 4096);
		buf_reserve(&plain->b, n * 100 + 4096);
	}
	w_puts(data, "{\"v\":1,\"s\":[");
	for (i = 0; i < s.n; i++) {
		w_puts(data, i ? "," : "");
		w_json(data, s.v[i], 1);
	}
	w_puts(data, "],\"g\":[");
	for (i = 0, gi = 0; i < n; i = j, gi++) {
		for (j = i + 1; j < n && render_same_group(g[i], g[j]); j++)
			;
		w_puts(data, gi ? "," : "");
		w_json(data, render_is_other(g[i]) ? "Other" : g[i]->roi.parent,
		    1);
		w_printf(plain, "<section id=\"g%zu\"><h2>", gi);
		w_html(plain, render_is_other(g[i]) ? "Other" : g[i]->roi.parent);
		w_printf(plain, " (%zu)</h2>\n<ul class=\"plain\">\n", j - i);
		w_printf(opts, "<option value=\"%zu\">", gi);
		w_html(opts, render_is_other(g[i]) ? "Other" : g[i]->roi.parent);
		w_printf(opts, " (%zu)</option>\n", j - i);
		for (k = i; k < j; k++)
			render_plain_row(plain, g[k]);
		w_puts(plain, "</ul></section>\n");
	}
	w_puts(data, "],\"r\":[");
	for (i = 0, gi = 0; i < n; i = j, gi++) {
		for (j = i + 1; j < n && render_same_group(g[i], g[j]); j++)
			;
		for (k = i; k < j; k++) {
			w_puts(data, k ? ",\n" : "\n");
			render_data_row(data, &s, g[k], gi, quick);
		}
	}
	w_puts(data, "]}");
	free(s.v);
	*ngroups = gi;
	return data->rc ? data->rc : plain->rc ? plain->rc : opts->rc;
}

/* Every ROI tag once, sorted, as <option>s. */
static int
render_tag_options(struct render_w *w, const struct ts_type *const *v,
    size_t n)
{
	const char **tags;
	size_t i, k, nt = 0;

	for (i = 0; i < n; i++)
		nt += v[i]->roi.n;
	if (nt == 0)
		return 0;
	tags = xreallocarray(NULL, nt, sizeof(*tags));
	for (i = 0, nt = 0; i < n; i++)
		for (k = 0; k < v[i]->roi.n; k++)
			tags[nt++] = v[i]->roi.e[k].name;
	qsort(tags, nt, sizeof(*tags), render_cmp_str);
	for (i = 0; i < nt; i++) {
		if (i > 0 && strcmp(tags[i], tags[i - 1]) == 0)
			continue;
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

const char *const render_tpl_names[RENDER_NTPL] = {
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
render_tpl_load(struct render_tpl *t, const char *override, int no_symlinks,
    char *err, size_t errlen)
{
	struct buf *const dst[] = { &t->index, &t->css, &t->js, &t->search };
	size_t i;
	int rc;

	t->dir = override != NULL ? override : TPL_BUILTIN;
	for (i = 0; i < sizeof(dst) / sizeof(dst[0]); i++) {
		rc = override != NULL ?
		    render_load(override, render_tpl_names[i], no_symlinks,
		    dst[i], err, errlen) :
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
	struct render_w data = RENDER_W_INIT;
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
	rc = render_groups(&data, &groups, &regions, g, n, o->quick,
	    &ngroups);
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
			RENDER_VAR("data", data),
		};
		rc = title.rc ? title.rc : prefix.rc ? prefix.rc : ds.rc ?
		    ds.rc : ver.rc ? ver.rc : at.rc;
		if (rc == 0)
			rc = render_subst(out, tpl->index.data, tpl->dir,
			    "index.html", vars, sizeof(vars) / sizeof(vars[0]),
			    err, errlen);
	}
	buf_free(&groups.b);
	buf_free(&data.b);
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

/*
 * Stage what was built into W as REL, or report why building failed: a
 * template error has its message already, anything else (a conversion
 * buf_vprintf refused) gets one.
 */
static int
render_emit(struct render_w *w, int rc, struct od *od, const char *dir,
    const char *rel, char *err, size_t errlen)
{
	if (rc < 0 && err != NULL && errlen > 0 && err[0] != '\0')
		return rc;
	if (rc < 0)
		return render_fail(err, errlen, dir, rel, "render", -rc);
	return od_stage(od, rel, w->b.data, w->b.len, err, errlen);
}

/* What render_all writes, relative to the output directory; dirs end in /. */
static const char *const render_outputs_list[] = {
	"types.json", "static/", "static/js/", "static/js/neuron-search.js",
	"index.html",
};

/* index.html, built on a second thread while the rest is built and staged. */
struct render_index_job {
	const struct render_tpl		 *tpl;
	const struct ts_type *const	 *v;
	size_t				  n;
	const struct render_opts	 *o;
	const char			 *when;
	struct render_w			  w;
	int				  rc;
	char				  err[512];
};

static void
render_index_run(void *arg)
{
	struct render_index_job *ij = arg;

	ij->rc = render_index(&ij->w, ij->tpl, ij->v, ij->n, ij->o, ij->when,
	    ij->err, sizeof(ij->err));
}

/*
 * Built in parallel (index.html on its own thread, types.json and the
 * search script here), staged in order, committed together. The first
 * error in staging order is the one reported.
 */
static int
render_outputs(const struct render_tpl *tpl, const struct ts_type *const *v,
    size_t n, const struct render_opts *o, char *err, size_t errlen)
{
	struct render_index_job ij;
	struct render_w w = RENDER_W_INIT;
	struct od *od;
	struct par par;
	char when[32];
	int rc;

	if ((rc = od_open(&od, o->out_dir, o->out_dir_nofollow, o->io, err,
	    errlen)) < 0)
		return rc;
	if ((rc = od_check(od, render_outputs_list,
	    sizeof(render_outputs_list) / sizeof(*render_outputs_list), err,
	    errlen)) < 0) {
		od_free(od);
		return rc;
	}
	render_iso8601(when, sizeof(when), o->generated_at);
	if ((rc = od_mkdir(od, "static", err, errlen)) < 0 ||
	    (rc = od_mkdir(od, "static/js", err, errlen)) < 0) {
		od_free(od);
		return rc;
	}
	memset(&ij, 0, sizeof(ij));
	ij.tpl = tpl;
	ij.v = v;
	ij.n = n;
	ij.o = o;
	ij.when = when;
	ij.w = (struct render_w)RENDER_W_INIT;
	par_run(&par, render_index_run, &ij);

	/* types.json is the largest output: size the one buffer for it. */
	if (n < SIZE_MAX / 1024)
		buf_reserve(&w.b, n * 960 + 65536);
	rc = render_types_json(&w, v, n, o, when);
	rc = render_emit(&w, rc, od, o->out_dir, "types.json", err, errlen);
	if (rc == 0) {
		buf_reset(&w.b);
		rc = render_search_js(&w, tpl, v, n, when, err, errlen);
		rc = render_emit(&w, rc, od, o->out_dir,
		    "static/js/neuron-search.js", err, errlen);
	}
	par_wait(&par);
	if (rc == 0 && ij.rc < 0 && ij.err[0] != '\0' && err != NULL &&
	    errlen > 0)
		snprintf(err, errlen, "%s", ij.err);
	if (rc == 0)
		rc = render_emit(&ij.w, ij.rc, od, o->out_dir, "index.html",
		    err, errlen);
	if (rc == 0)
		rc = od_commit(od, err, errlen);
	od_free(od);
	buf_free(&w.b);
	buf_free(&ij.w.b);
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
	rc = render_tpl_load(&tpl, o->template_dir, o->template_no_symlinks,
	    err, errlen);
	if (rc == 0)
		rc = render_outputs(&tpl, v, n, o, err, errlen);
	render_tpl_free(&tpl);
	free(v);
	return rc;
}

int
render_types_json_stage(const struct ts_type *const *v, size_t n,
    const struct render_opts *o, struct od *od, char *err, size_t errlen)
{
	struct render_w w = RENDER_W_INIT;
	char when[32];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	render_iso8601(when, sizeof(when), o->generated_at);
	rc = render_types_json(&w, v, n, o, when);
	rc = render_emit(&w, rc, od, o->out_dir, "types.json", err, errlen);
	buf_free(&w.b);
	return rc;
}
