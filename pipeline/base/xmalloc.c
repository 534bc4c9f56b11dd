/*
 * xmalloc: allocation that cannot fail, see xmalloc.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <uv.h>

#include "base/xmalloc.h"

static void __attribute__((noreturn))
oom(size_t n)
{
	/* No allocation here: stdio on stderr is unbuffered. */
	fprintf(stderr, "quickpage: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n ? n : 1)) == NULL)
		oom(n);
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(strlen(fmt));
	return p;
}

/*
 * SQLite's allocator interface: it asks for sizes back, so each block
 * carries its size in front (16 bytes keep the block's alignment).
 */
#define SQ_HDR	16

static void *
sq_malloc(int n)
{
	char *p = xmalloc((size_t)n + SQ_HDR);

	*(size_t *)p = (size_t)n;
	return p + SQ_HDR;
}

static void
sq_free(void *p)
{
	if (p)
		free((char *)p - SQ_HDR);
}

static void *
sq_realloc(void *p, int n)
{
	char *q = p ? (char *)p - SQ_HDR : NULL;

	q = xrealloc(q, (size_t)n + SQ_HDR);
	*(size_t *)q = (size_t)n;
	return q + SQ_HDR;
}

static int
sq_size(void *p)
{
	return p ? (int)*(size_t *)((char *)p - SQ_HDR) : 0;
}

static int
sq_roundup(int n)
{
	return (n + 7) & ~7;
}

static int
sq_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void
sq_shutdown(void *arg)
{
	(void)arg;
}

void
xmalloc_install(void)
{
	static const sqlite3_mem_methods sq = {
		sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup,
		sq_init, sq_shutdown, NULL,
	};
	cJSON_Hooks hooks = { xmalloc, free };

	cJSON_InitHooks(&hooks);
	if (uv_replace_allocator(xmalloc, xrealloc, xcalloc, free) != 0)
		oom(0);		/* only fails once the loop allocated */
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq) != SQLITE_OK)
		oom(0);		/* only fails after sqlite3_initialize */
}

void *
xmalloc_cyaml(void *ctx, void *p, size_t n)
{
	(void)ctx;
	if (n == 0) {
		free(p);
		return NULL;
	}
	return xrealloc(p, n);
}
