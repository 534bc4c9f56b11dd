/*
 * xmalloc_install_sqlite (see xmalloc.h), apart from xmalloc.c so that a
 * program without a store (qpctl) links the policy without loading
 * libsqlite3.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "base/xmalloc.h"

/*
 * SQLite's allocator interface: it asks for sizes back, so each block
 * carries its size in front (16 bytes keep the block's alignment).
 */
#define SQ_HDR	16

static void *
sq_malloc(int n)
{
	char *p;

	assert(n >= 0);		/* SQLite asks for sizes it checked */
	p = xmalloc((size_t)n + SQ_HDR);

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

	assert(n >= 0);		/* SQLite asks for sizes it checked */
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
xmalloc_install_sqlite(void)
{
	static const sqlite3_mem_methods sq = {
		sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup,
		sq_init, sq_shutdown, NULL,
	};
	int rc;

	rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &sq);
	/* only fails after sqlite3_initialize: called first thing */
	assert(rc == SQLITE_OK);
	(void)rc;
}
