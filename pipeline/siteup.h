/*
 * siteup: the upstream (neuPrint server client) a site config asks for.
 * Shared by oneshot (one job) and jobs (every job of the daemon).
 */
#ifndef QP_SITEUP_H
#define QP_SITEUP_H

#include <uv.h>

#include "config.h"
#include "neuprint/upstream.h"

int	 siteup_new(uv_loop_t *loop, const struct cfg_site *site,
	    struct upstream **up);

#endif
