/*
 * xmalloc_curl_init (see xmalloc.h), apart from xmalloc.c so that a
 * program without HTTP (qpctl) links the policy without loading libcurl.
 */
#include <errno.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "base/xmalloc.h"

int
xmalloc_curl_init(void)
{
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, xmalloc, free,
	    xrealloc, xstrdup, xcalloc) == CURLE_OK ? 0 : -EIO;
}
