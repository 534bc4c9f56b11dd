/* buf: a growable byte buffer, always NUL-terminated. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xmalloc.h"

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	/* len < cap whenever there is memory: room for the NUL. */
	assert(b->data == NULL ? b->len == 0 && b->cap == 0 : b->len < b->cap);
	/* Past SIZE_MAX asks for SIZE_MAX, which xrealloc cannot get: abort. */
	need = extra > SIZE_MAX - b->len - 1 ? SIZE_MAX : b->len + extra + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	assert(b->cap >= need);		/* EXTRA bytes and the NUL fit */
}

/* buf_append when B must grow first. */
void
buf_append_grow(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	assert(b->data != NULL && b->len + n < b->cap);	/* reserved */
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -EINVAL;	/* a conversion the format cannot do */
	buf_reserve(b, (size_t)n);
	assert(b->len + (size_t)n < b->cap);	/* the text and its NUL fit */
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	assert(b->data[b->len] == '\0');	/* always NUL-terminated */
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_reset(struct buf *b)
{
	/* No memory means nothing in it: data is NULL only with cap 0. */
	assert(b->data != NULL || (b->len == 0 && b->cap == 0));
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *
buf_steal(struct buf *b)
{
	char *p = b->data;

	assert(p == NULL || p[b->len] == '\0');	/* handed out as a string */
	if (p == NULL)
		p = xcalloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
