/*
 * cachecodec: the cache entry's encoding. See cachecodec.h and
 * docs/cache.md.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cachecodec.h"
#include "base/xmalloc.h"

#define ENTRY_MAGIC	0xC1		/* first byte of an encoded entry */

/*
 * put_acc and get_acc write and read every field of struct ts_acc: a new
 * field must be added to both and CACHE_SCHEMA_VERSION bumped. This trips
 * (on 64-bit builds) when the struct changes, as a reminder.
 */
_Static_assert(sizeof(void *) != 8 || sizeof(struct ts_acc) == 304,
    "struct ts_acc changed: update the cache's entry encoding");

/* ---- the entry encoding: varints, zigzag for signed values ---- */

static void
put_u(struct buf *b, uint64_t v)
{
	unsigned char t[10];
	size_t n = 0;

	do {
		assert(n < sizeof(t));	/* 64 bits are at most 10 groups of 7 */
		t[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	buf_append(b, t, n);
}

static void
put_i(struct buf *b, int64_t v)
{
	put_u(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* A string: 0 for NULL, else its length + 1, then its bytes. */
static void
put_s(struct buf *b, const char *s)
{
	size_t n;

	if (s == NULL) {
		put_u(b, 0);
		return;
	}
	n = strlen(s);
	put_u(b, n + 1);
	buf_append(b, s, n);
}

static void
put_acc(struct buf *b, const struct ts_acc *a)
{
	size_t i, nz = 0;
	int k;

	put_s(b, a->name);
	for (k = 0; k < TS_NCOUNTS; k++) {
		put_i(b, a->count[k]);
		put_i(b, a->count_inst[k]);
	}
	put_u(b, (uint64_t)(a->side_prop ? 1 : 0) | (a->seen ? 2 : 0));
	put_i(b, a->pre);
	put_i(b, a->post);
	for (k = 0; k < TS_NFIRST; k++) {
		put_s(b, a->first[k]);
		put_i(b, a->first_body[k]);
	}
	for (k = 0; k < TS_NLISTS; k++) {
		put_u(b, a->list[k].n);
		for (i = 0; i < a->list[k].n; i++)
			put_s(b, a->list[k].v[i]);
	}
	/* ts_acc_init sized both for the primary ROIs: none without them. */
	assert(a->roi.n == 0 || (a->roi.pre != NULL && a->roi.post != NULL));
	/* Most primary ROIs are empty for a type: only the others. */
	for (i = 0; i < a->roi.n; i++)
		nz += a->roi.pre[i] || a->roi.post[i];
	put_u(b, a->roi.n);
	put_u(b, nz);
	for (i = 0; i < a->roi.n; i++)
		if (a->roi.pre[i] || a->roi.post[i]) {
			put_u(b, i);
			put_i(b, a->roi.pre[i]);
			put_i(b, a->roi.post[i]);
		}
}

void
cache_encode(struct buf *b, struct ts_acc *const *accs, size_t n)
{
	size_t i, start = b->len;

	assert(n == 0 || accs != NULL);	/* N accumulators to write */
	buf_putc(b, (char)ENTRY_MAGIC);
	put_u(b, n);
	for (i = 0; i < n; i++)
		put_acc(b, accs[i]);
	/* The magic and the count at least: cache_decode refuses less. */
	assert(b->len >= start + 2);
}

struct rd {
	const unsigned char *p, *end;
	int bad;
};

static uint64_t
get_u(struct rd *r)
{
	uint64_t v = 0;
	int shift = 0;

	for (;;) {
		if (r->p >= r->end || shift > 63) {
			r->bad = 1;
			return 0;
		}
		assert(r->p < r->end);	/* never reads past the entry */
		v |= (uint64_t)(*r->p & 0x7f) << shift;
		if (!(*r->p++ & 0x80))
			return v;
		shift += 7;
	}
}

static int64_t
get_i(struct rd *r)
{
	uint64_t u = get_u(r);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Bounded by what is left: a damaged length cannot make a huge string. */
static char *
get_s(struct rd *r, int *isnull)
{
	uint64_t n = get_u(r);
	char *s;

	*isnull = n == 0;
	if (r->bad || n == 0)
		return NULL;
	n--;
	if (n > (uint64_t)(r->end - r->p) || memchr(r->p, '\0', n)) {
		r->bad = 1;
		return NULL;
	}
	s = xstrndup((const char *)r->p, n);
	r->p += n;
	assert(r->p <= r->end);	/* N was bounded by what is left */
	return s;
}

/*
 * An accumulator as ts_acc_init makes one, for NPRIMARY primary ROIs: the
 * worker that decodes has no roi_meta (the job may go meanwhile).
 */
static void
acc_init(struct ts_acc *a, char *name, size_t nprimary)
{
	memset(a, 0, sizeof(*a));
	a->name = name ? name : xstrdup("");
	a->roi.n = nprimary;
	a->roi.pre = xcalloc(nprimary ? nprimary : 1, sizeof(*a->roi.pre));
	a->roi.post = xcalloc(nprimary ? nprimary : 1, sizeof(*a->roi.post));
}

static void
get_acc(struct rd *r, struct ts_acc *a, size_t nprimary)
{
	uint64_t n, nz, i, idx;
	int k, isnull;
	char *name;

	name = get_s(r, &isnull);
	if (name == NULL)
		r->bad = 1;
	acc_init(a, name, nprimary);
	assert(a->roi.n == nprimary);	/* the width every accumulator has */
	for (k = 0; k < TS_NCOUNTS; k++) {
		a->count[k] = get_i(r);
		a->count_inst[k] = get_i(r);
	}
	n = get_u(r);
	a->side_prop = (n & 1) != 0;
	a->seen = (n & 2) != 0;
	a->pre = get_i(r);
	a->post = get_i(r);
	for (k = 0; k < TS_NFIRST; k++) {
		a->first[k] = get_s(r, &isnull);
		a->first_body[k] = get_i(r);
	}
	for (k = 0; k < TS_NLISTS && !r->bad; k++) {
		n = get_u(r);
		if (n > (uint64_t)(r->end - r->p)) {	/* each takes a byte */
			r->bad = 1;
			break;
		}
		a->list[k].v = xcalloc(n ? n : 1, sizeof(char *));
		for (i = 0; i < n && !r->bad; i++) {
			a->list[k].v[i] = get_s(r, &isnull);
			a->list[k].n++;
			if (isnull)
				r->bad = 1;
		}
	}
	n = get_u(r);
	nz = get_u(r);
	if (r->bad || n != a->roi.n || nz > n) {
		r->bad = 1;
		return;
	}
	for (i = 0; i < nz && !r->bad; i++) {
		idx = get_u(r);
		if (idx >= n) {
			r->bad = 1;
			return;
		}
		assert(idx < a->roi.n);	/* in the arrays acc_init made */
		a->roi.pre[idx] = get_i(r);
		a->roi.post[idx] = get_i(r);
	}
}

int
cache_decode(const void *data, size_t len, size_t nprimary,
    struct ts_acc ***accs, size_t *n)
{
	struct rd r = { data, (const unsigned char *)data + len, 0 };
	struct ts_acc **v;
	uint64_t cnt, i;

	*accs = NULL;
	*n = 0;
	if (len < 2 || r.p[0] != ENTRY_MAGIC)
		return -EBADMSG;
	r.p++;
	cnt = get_u(&r);
	if (r.bad || cnt > len)
		return -EBADMSG;
	v = xcalloc(cnt ? cnt : 1, sizeof(*v));
	for (i = 0; i < cnt && !r.bad; i++) {
		v[i] = xcalloc(1, sizeof(**v));
		get_acc(&r, v[i], nprimary);
	}
	if (r.bad || r.p != r.end) {
		for (; i > 0; i--) {
			ts_acc_free(v[i - 1]);
			free(v[i - 1]);
		}
		free(v);
		return -EBADMSG;
	}
	/* A well-formed entry is read to its last byte, no further. */
	assert(r.p == r.end && i == cnt);
	*accs = v;
	*n = (size_t)cnt;
	return 0;
}
