/*
 * scan: list the QuickPage pages of an output directory and map their file
 * stems back to type names (docs/create-index.md, "Scan and name
 * resolution").
 *
 * One readdir pass, no stat unless the file system leaves d_type unknown or
 * the entry is a symlink, one sort, one merge: at 33,000 pages the kernel's
 * readdir is most of the cost.
 */
#include <sys/stat.h>

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "index/scan.h"
#include "base/xmalloc.h"

/* Past this many underscores 3^k no longer fits any sane amount of memory. */
#define SCAN_HARD_MAX_UNDERSCORES 20

struct page {
	uint64_t key;		/* first 8 stem bytes, big-endian, 0-padded */
	char	*name;		/* file name */
	size_t	 stemlen;	/* the stem is name[0, stemlen) */
	int	 side;
};

struct pagev {
	struct page *v;
	size_t	 n, cap;
};

/* ALL: every page counts (neuView's types/ holds nothing else). */
static int
is_page_name(const char *name, size_t len, int all)
{
	if (name[0] == '.' || len <= 5 || memcmp(name + len - 5, ".html", 5) != 0)
		return 0;
	return all || (strcmp(name, "index.html") != 0 &&
	    strcmp(name, "main.html") != 0);
}

/*
 * ^(.+?)(?:_([LRM]))?\.html$ : the lazy stem stops before a side suffix when
 * one is there and the stem left over is not empty ("_L.html" is stem "_L").
 */
static void
split_name(const char *name, size_t len, size_t *stemlen, int *side)
{
	size_t base;

	assert(len > 5);	/* a page name: is_page_name said so */
	base = len - 5;
	*stemlen = base;
	*side = SIDE_BOTH;
	if (base < 3 || name[base - 2] != '_')
		return;
	switch (name[base - 1]) {
	case 'L':
		*side = SIDE_LEFT;
		break;
	case 'R':
		*side = SIDE_RIGHT;
		break;
	case 'M':
		*side = SIDE_MIDDLE;
		break;
	default:
		return;
	}
	*stemlen = base - 2;
}

/* 1 regular file (symlinks followed), 0 not, negative errno. */
static int
is_regular(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type == DT_REG)
		return 1;
	if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
		return 0;
	if (fstatat(dfd, de->d_name, &st, 0) == -1) {
		/* A dangling or looping link is not a page. */
		if (errno == ENOENT || errno == ELOOP)
			return 0;
		return -errno;
	}
	return S_ISREG(st.st_mode) ? 1 : 0;
}

/*
 * Comparing these integers orders stems as memcmp would on their first 8
 * bytes; most comparisons in the sort stop here without touching the names.
 */
static uint64_t
prefix_key(const char *s, size_t len)
{
	uint64_t k = 0;
	size_t i;

	for (i = 0; i < 8; i++)
		k = k << 8 | (i < len ? (unsigned char)s[i] : 0);
	return k;
}

static void
pagev_add(struct pagev *pv, const char *name, size_t len)
{
	struct page *p;

	if (pv->n == pv->cap) {
		pv->cap = pv->cap ? pv->cap * 2 : 1024;
		pv->v = xreallocarray(pv->v, pv->cap, sizeof(*pv->v));
	}
	p = &pv->v[pv->n];
	p->name = xstrndup(name, len);
	split_name(name, len, &p->stemlen, &p->side);
	/* the lazy stem is never empty, the side in range */
	assert(p->stemlen > 0 && p->stemlen < len);
	assert(p->side >= SIDE_BOTH && p->side < SIDE_COUNT);
	p->key = prefix_key(name, p->stemlen);
	pv->n++;
}

static void
pagev_free(struct pagev *pv)
{
	size_t i;

	for (i = 0; i < pv->n; i++)
		free(pv->v[i].name);
	free(pv->v);
}

/* Compare two stems (not NUL-terminated) as strcmp would the strdup'd ones. */
static int
stem_cmp(const struct page *a, const struct page *b)
{
	size_t n = a->stemlen < b->stemlen ? a->stemlen : b->stemlen;
	int c;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (n > 8 && (c = memcmp(a->name + 8, b->name + 8, n - 8)) != 0)
		return c;
	return (a->stemlen > b->stemlen) - (a->stemlen < b->stemlen);
}

static int
page_cmp(const void *x, const void *y)
{
	const struct page *a = x, *b = y;
	int c;

	if ((c = stem_cmp(a, b)) != 0)
		return c;
	return a->side - b->side;
}

/*
 * LSD radix sort on the 8-byte prefix keys, then qsort only within runs of
 * equal keys (the sides of one stem, stems sharing 8 leading bytes). At
 * 33,000 pages this is several times cheaper than one qsort over them all.
 */
static void
sort_pages(struct page *v, size_t n)
{
	struct page *tmp, *src = v, *dst, *t;
	size_t count[256], i, j, off, c;
	unsigned shift;

	if (n < 2)
		return;
	dst = tmp = xreallocarray(NULL, n, sizeof(*tmp));
	for (shift = 0; shift < 64; shift += 8) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(src[i].key >> shift) & 0xff]++;
		if (count[(src[0].key >> shift) & 0xff] == n)
			continue;	/* one digit for all: nothing moves */
		for (i = 0, off = 0; i < 256; i++) {
			c = count[i];
			count[i] = off;
			off += c;
		}
		for (i = 0; i < n; i++)
			dst[count[(src[i].key >> shift) & 0xff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	assert(src == v || src == tmp);	/* the passes swap the two */
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j].key == v[i].key; j++)
			;
		if (j - i > 1)
			qsort(v + i, j - i, sizeof(*v), page_cmp);
	}
}

/*
 * The names of one directory's regular pages, NUL-separated in NAMES (one
 * buffer, not a malloc per name: a site has 33,000 of them).
 */
static int
read_pages(DIR *d, struct buf *names, size_t *n, char *err, size_t errlen,
    const char *dir, int all)
{
	struct dirent *de;
	size_t len;
	int rc;

	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno == 0)
				return 0;
			rc = -errno;
			snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
			return rc;
		}
		len = strlen(de->d_name);
		if (!is_page_name(de->d_name, len, all))
			continue;
		if ((rc = is_regular(dirfd(d), de)) < 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, de->d_name,
			    strerror(-rc));
			return rc;
		}
		if (rc == 1) {
			buf_append(names, de->d_name, len + 1);
			(*n)++;
		}
	}
}

/* Sorted pages -> one scan_stem per run of equal stems; takes the names. */
static void
group_pages(struct pagev *pv, struct scan_result *out)
{
	struct scan_stem *s = NULL;
	struct page *p;
	size_t i, slen = 0;

	out->stems = xcalloc(pv->n, sizeof(*out->stems));
	for (i = 0; i < pv->n; i++) {
		p = &pv->v[i];
		if (s == NULL || slen != p->stemlen ||
		    memcmp(s->stem, p->name, slen) != 0) {
			/* a stem per page at most: the array holds them */
			assert(out->nstems < pv->n);
			s = &out->stems[out->nstems];
			s->stem = xstrndup(p->name, p->stemlen);
			slen = p->stemlen;
			out->nstems++;
		}
		/*
		 * The names are distinct (a directory's), and a name is its
		 * stem and side: no side of a stem is seen twice.
		 */
		assert(s->file[p->side] == NULL);
		s->file[p->side] = p->name;
		p->name = NULL;
		out->nfiles++;
	}
}

void
scan_names(const char *const *names, size_t n, int all,
    struct scan_result *out)
{
	struct pagev pv = { NULL, 0, 0 };
	size_t i, len;

	memset(out, 0, sizeof(*out));
	out->layout = SCAN_LAYOUT_QUICKPAGE;
	for (i = 0; i < n; i++) {
		len = strlen(names[i]);
		if (is_page_name(names[i], len, all))
			pagev_add(&pv, names[i], len);
	}
	sort_pages(pv.v, pv.n);
	group_pages(&pv, out);
	pagev_free(&pv);
}

static int
scan_read(const char *dir, int all, struct scan_result *out, char *err,
    size_t errlen)
{
	struct buf names = BUF_INIT;
	const char **v;
	size_t n = 0, i, off;
	DIR *d;
	int rc;

	memset(out, 0, sizeof(*out));
	out->layout = SCAN_LAYOUT_QUICKPAGE;
	if ((d = opendir(dir)) == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = read_pages(d, &names, &n, err, errlen, dir, all);
	closedir(d);
	if (rc == 0) {
		v = xcalloc(n ? n : 1, sizeof(*v));
		for (i = 0, off = 0; i < n; i++) {
			v[i] = names.data + off;
			off += strlen(v[i]) + 1;
		}
		scan_names(v, n, all, out);
		free(v);
	}
	buf_free(&names);
	return rc;
}

int
scan_dir(const char *dir, struct scan_result *out, char *err, size_t errlen)
{
	return scan_read(dir, 0, out, err, errlen);
}

const char *
scan_layout_name(enum scan_layout l)
{
	return l == SCAN_LAYOUT_NEUVIEW ? "neuview" : "quickpage";
}

/* 1 when DIR/types is a directory holding a page, 0 when not. */
static int
has_types_pages(const char *types)
{
	struct dirent *de;
	DIR *d;
	int found = 0;

	if ((d = opendir(types)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL)
		if (is_page_name(de->d_name, strlen(de->d_name), 1) &&
		    is_regular(dirfd(d), de) == 1)
			found = 1;
	closedir(d);
	return found;
}

int
scan_site(const char *dir, enum scan_layout layout, struct scan_result *out,
    char *err, size_t errlen)
{
	char *types = xasprintf("%s/types", dir), *p;
	size_t i;
	int rc, s;

	if (layout == SCAN_LAYOUT_AUTO)
		layout = has_types_pages(types) ? SCAN_LAYOUT_NEUVIEW :
		    SCAN_LAYOUT_QUICKPAGE;
	if (layout == SCAN_LAYOUT_QUICKPAGE) {
		free(types);
		return scan_dir(dir, out, err, errlen);
	}
	assert(layout == SCAN_LAYOUT_NEUVIEW);	/* AUTO resolved above */
	rc = scan_read(types, 1, out, err, errlen);
	free(types);
	out->layout = SCAN_LAYOUT_NEUVIEW;
	for (i = 0; rc == 0 && i < out->nstems; i++) {
		for (s = 0; s < SIDE_COUNT; s++) {
			if ((p = out->stems[i].file[s]) == NULL)
				continue;
			out->stems[i].file[s] = xasprintf("types/%s", p);
			free(p);
		}
	}
	return rc;
}

void
scan_free(struct scan_result *res)
{
	size_t i;
	int s;

	if (res->stems != NULL) {
		for (i = 0; i < res->nstems; i++) {
			free(res->stems[i].stem);
			for (s = 0; s < SIDE_COUNT; s++)
				free(res->stems[i].file[s]);
		}
		free(res->stems);
	}
	memset(res, 0, sizeof(*res));
}

char *
scan_stem_of(const char *type)
{
	char *s = xstrdup(type), *p;

	for (p = s; *p != '\0'; p++)
		if (*p == '/' || *p == ' ')
			*p = '_';
	return s;
}

void
scan_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Candidate i spells the underscores as the base-3 digits of i, the first
 * underscore most significant: 0 '_', 1 '/', 2 ' '. i = 0 is the stem.
 */
int
scan_candidates(const char *stem, unsigned max_underscores, char ***out,
    size_t *n)
{
	static const char spell[3] = { '_', '/', ' ' };
	size_t len = strlen(stem), pos[SCAN_HARD_MAX_UNDERSCORES];
	size_t k = 0, total = 1, i, j, d;
	char **v;

	*out = NULL;
	*n = 0;
	for (i = 0; i < len; i++) {
		if (stem[i] != '_')
			continue;
		if (k >= max_underscores || k >= SCAN_HARD_MAX_UNDERSCORES)
			return -E2BIG;
		pos[k++] = i;
	}
	assert(k <= SCAN_HARD_MAX_UNDERSCORES);	/* refused past it above */
	for (i = 0; i < k; i++)
		total *= 3;
	v = xcalloc(total, sizeof(*v));
	for (i = 0; i < total; i++) {
		v[i] = xstrdup(stem);
		for (d = i, j = k; j-- > 0; d /= 3)
			v[i][pos[j]] = spell[d % 3];
	}
	*out = v;
	*n = total;
	return 0;
}

int
scan_spells(const char *stem, const char *type)
{
	for (; *stem && *type; stem++, type++)
		if (*stem != *type && !(*stem == '_' && (*type == '/' ||
		    *type == ' ')))
			return 0;
	return *stem == *type;
}

const char *
scan_resolve(const char *stem, const char *const *found, size_t n)
{
	const char *best = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(found[i], stem) == 0)
			return found[i];
		if (best == NULL || strcmp(found[i], best) < 0)
			best = found[i];
	}
	assert(n == 0 || best != NULL);	/* one of FOUND wins */
	return best;
}
