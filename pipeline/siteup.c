/* siteup: see siteup.h. */
#include <string.h>

#include "siteup.h"

static void
siteup_opts(const struct cfg_site *site, struct upstream_opts *uo)
{
	memset(uo, 0, sizeof(*uo));
	uo->server = site->server;
	uo->ca_file = site->ca_file;
	uo->connect_timeout_ms = (long)site->connect_timeout_s * 1000;
	uo->request_timeout_ms = (long)site->request_timeout_s * 1000;
	uo->low_speed_time_s = site->low_speed_time_s;
	uo->lim_min = site->concurrency.min;
	uo->lim_initial = site->concurrency.initial;
	uo->lim_max = site->concurrency.max;
	uo->max_retries = site->max_retries;
	/* upstream: 0 means its default, < 0 no hold */
	uo->hold_s = site->server_query_limit_s > 0 ?
	    (double)site->server_query_limit_s : -1;
}

int
siteup_new(uv_loop_t *loop, const struct cfg_site *site, struct upstream **up)
{
	struct upstream_opts uo;

	siteup_opts(site, &uo);
	return upstream_new(loop, &uo, up);
}
