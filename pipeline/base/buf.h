/* buf: a growable byte buffer, always NUL-terminated. */
#ifndef QP_BUF_H
#define QP_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char	*data;	/* NUL-terminated; NULL until the first append */
	size_t	 len;
	size_t	 cap;
};

#define BUF_INIT { NULL, 0, 0 }

/*
 * Memory comes from xmalloc, so these cannot fail; buf_printf and
 * buf_vprintf return 0, or -EINVAL for a conversion vsnprintf refuses.
 */
void	 buf_reserve(struct buf *b, size_t extra);
void	 buf_append_grow(struct buf *b, const void *p, size_t n);
void	 buf_puts(struct buf *b, const char *s);
void	 buf_putc(struct buf *b, char c);
int	 buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
void	 buf_reset(struct buf *b);			/* len = 0, keeps memory */
char	*buf_steal(struct buf *b);			/* caller frees; b empty */
void	 buf_free(struct buf *b);

/*
 * Append N bytes. Inline: render appends tens of millions of short
 * pieces for a large index, and most fit without growing.
 */
static inline void
buf_append(struct buf *b, const void *p, size_t n)
{
	/* An empty buf (BUF_INIT) has cap 0 and so always grows; saying so
	 * lets gcc's analyzer see that data is never NULL below. */
	if (b->data == NULL || b->cap - b->len <= n) {
		buf_append_grow(b, p, n);
		return;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

#endif
