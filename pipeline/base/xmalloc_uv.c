/*
 * xmalloc_install_uv (see xmalloc.h), apart from xmalloc.c so that a
 * program without an event loop (qpctl) links the policy without loading
 * libuv.
 */
#include <assert.h>
#include <stdlib.h>

#include <uv.h>

#include "base/xmalloc.h"

void
xmalloc_install_uv(void)
{
	int rc;

	rc = uv_replace_allocator(xmalloc, xrealloc, xcalloc, free);
	/* only fails once the loop allocated: called first thing */
	assert(rc == 0);
	(void)rc;
}
