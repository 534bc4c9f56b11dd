/*
 * render: what every layout shares (render.h): the writers (struct
 * render_w, w_*) with their JSON and HTML escaping, types.json (schema 2,
 * both layouts), the flat layout's template set, the messages and the
 * staging of a built output, and render_run, which hands a job's records
 * to its layout: render_flat.c (QuickPage's) or render_neuview.c.
 *
 * Every output is built in one buf and staged in the output directory
 * (outdir.h); when all are staged they are committed together.
 * Page text lives in template files (docs/output.md), compiled in
 * (templates.h) or read from quickpaged.template_dir; the layouts only
 * fill their {{placeholders}} with escaped data (both by tpl.c).
 *
 * Thread-safe: job.c runs render_run on libuv's thread pool, several jobs'
 * renders at once. Nothing here keeps state between calls (the tables are
 * const), and only reentrant libc calls are made (gmtime_r, strerror_r);
 * everything a call touches is its arguments or its own.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "render/render.h"
#include "render/render_flat.h"
#include "render/render_neuview.h"
#include "render/tpl.h"
#include "base/xmalloc.h"

void
w_put(struct render_w *w, const void *p, size_t n)
{
	assert(w->rc <= 0);	/* 0, or the first failure: a negative errno */
	if (w->rc == 0)
		buf_append(&w->b, p, n);
}

void
w_puts(struct render_w *w, const char *s)
{
	w_put(w, s, strlen(s));
}

void
w_printf(struct render_w *w, const char *fmt, ...)
{
	va_list ap;

	if (w->rc != 0)
		return;
	va_start(ap, fmt);
	w->rc = buf_vprintf(&w->b, fmt, ap);
	va_end(ap);
	assert(w->rc <= 0);	/* a failure sticks as a negative errno */
}

/* SEP "KEY": (a JSON key of ours, needing no escapes), without printf. */
void
w_key(struct render_w *w, const char *sep, const char *key)
{
	w_puts(w, sep);
	w_put(w, "\"", 1);
	w_puts(w, key);
	w_put(w, "\": ", 3);
}

/* Faster than printf for the many counts of a large index. */
void
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
	assert(p >= tmp);	/* 20 digits and a sign fit in 24 */
	w_put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Shortest %g that reads back as the same double; "x.0" for integers. */
void
w_double(struct render_w *w, double d)
{
	char tmp[DBL_FMT_MAX];
	size_t n = dbl_fmt(tmp, d);

	assert(n < sizeof(tmp));	/* dbl_fmt's bound */
	w_put(w, tmp, n);
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
void
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
			assert(n >= 2 && n <= 4);	/* a multi-byte sequence */
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

void
w_json_or_null(struct render_w *w, const char *s, int js)
{
	if (s == NULL)
		w_puts(w, "null");
	else
		w_json(w, s, js);
}

/* HTML text or attribute value (always quoted with "); tpl_html's rules. */
void
w_html(struct render_w *w, const char *s)
{
	if (w->rc == 0)
		tpl_html(&w->b, s);
}

/* A relative file name as an href (tpl_url). */
void
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
int
render_fail(char *err, size_t errlen, const char *dir, const char *name,
    const char *op, int e)
{
	char path[4096], ebuf[128];

	if (e <= 0)
		e = EIO;
	assert(e > 0);	/* so the caller gets a negative errno */
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
	assert(rc < 0 || out->data != NULL);	/* a loaded template is a string */
	return rc;
}

/* tpl_fill into W; the template is named DIR/NAME in messages. */
int
render_subst(struct render_w *w, const char *tpl, const char *dir,
    const char *name, const struct tpl_var *v, size_t nv, char *err,
    size_t errlen)
{
	char path[4096];

	if (w->rc != 0)
		return w->rc;
	assert(tpl != NULL);	/* the loaders make every template a string */
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

void
render_iso8601(char *dst, size_t len, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dst, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(dst, len, "1970-01-01T00:00:00Z");
}

/* V is sorted by name, so the unmatched list comes out sorted too. */
int
render_types_json(struct render_w *w, const struct ts_type *const *v,
    size_t n, const struct render_opts *o, const char *when)
{
	size_t i, k = 0;

	/* Sorted by name (the layouts sort): the lists come out sorted too. */
	for (i = 1; i < n; i++)
		assert(strcmp(v[i - 1]->name, v[i]->name) <= 0);
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

int
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
	/* Every text of the set is a string, an empty file's too. */
	assert(t->index.data != NULL && t->css.data != NULL &&
	    t->js.data != NULL && t->search.data != NULL);
	return 0;
}

void
render_tpl_free(struct render_tpl *t)
{
	buf_free(&t->index);
	buf_free(&t->css);
	buf_free(&t->js);
	buf_free(&t->search);
}

/*
 * Stage what was built into W as REL, or report why building failed: a
 * template error has its message already, anything else (a conversion
 * buf_vprintf refused) gets one.
 */
int
render_emit(struct render_w *w, int rc, struct od *od, const char *dir,
    const char *rel, char *err, size_t errlen)
{
	assert(rc <= 0 && od != NULL);	/* the directory opened before writes */
	if (rc < 0 && err != NULL && errlen > 0 && err[0] != '\0')
		return rc;
	if (rc < 0)
		return render_fail(err, errlen, dir, rel, "render", -rc);
	return od_stage(od, rel, w->b.data, w->b.len, err, errlen);
}


int
render_types_json_stage(const struct ts_type *const *v, size_t n,
    const struct render_opts *o, struct od *od, char *err, size_t errlen)
{
	struct render_w w = RENDER_W_INIT;
	char when[32];
	int rc;

	assert(od != NULL);	/* the layout opened its directory first */
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	render_iso8601(when, sizeof(when), o->generated_at);
	rc = render_types_json(&w, v, n, o, when);
	rc = render_emit(&w, rc, od, o->out_dir, "types.json", err, errlen);
	buf_free(&w.b);
	return rc;
}

int
render_run(enum scan_layout layout, const struct ts_type *types, size_t n,
    const struct render_opts *o, char *err, size_t errlen)
{
	/* scan_site found the layout before any render (never AUTO). */
	assert(layout == SCAN_LAYOUT_QUICKPAGE || layout == SCAN_LAYOUT_NEUVIEW);
	if (layout == SCAN_LAYOUT_NEUVIEW)
		return render_neuview_all(types, n, o, err, errlen);
	return render_flat_all(types, n, o, err, errlen);
}
