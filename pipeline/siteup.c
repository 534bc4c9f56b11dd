/* siteup: see siteup.h. */
#include <sys/queue.h>

#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "siteup.h"
#include "base/xmalloc.h"
#include "neuprint/proxy.h"
#include "render/outdir.h"
#include "render/render.h"
#include "render/templates.h"

struct siteup {
	LIST_ENTRY(siteup) entry;
	char		*server;
	char		*ca;		/* "" for the system's CAs */
	struct upstream	*up;
	unsigned	 users;
};

struct siteup_pool {
	uv_loop_t	*loop;
	LIST_HEAD(, siteup) ups;
	siteup_idle_cb	 idle;
	void		*idle_arg;
};

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

	/* a loaded config names its server */
	assert(site != NULL && site->server != NULL);
	siteup_opts(site, &uo);
	return upstream_new(loop, &uo, up);
}

/* ---- shared upstreams ---- */

void
siteup_pool_new(uv_loop_t *loop, siteup_idle_cb idle, void *arg,
    struct siteup_pool **out)
{
	struct siteup_pool *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->idle = idle;
	p->idle_arg = arg;
	LIST_INIT(&p->ups);
	*out = p;
}

void
siteup_pool_free(struct siteup_pool *p)
{
	if (p == NULL)
		return;
	/* Each user puts its siteup back before the pool goes. */
	assert(LIST_EMPTY(&p->ups));
	free(p);
}

int
siteup_get(struct siteup_pool *p, const struct cfg_site *site,
    struct siteup **out)
{
	const char *ca = site->ca_file ? site->ca_file : "";
	struct siteup *s;
	int rc;

	LIST_FOREACH(s, &p->ups, entry)
		if (strcmp(s->server, site->server) == 0 &&
		    strcmp(s->ca, ca) == 0) {
			assert(s->users > 0);	/* the last put freed it */
			s->users++;
			*out = s;
			return 0;
		}
	s = xcalloc(1, sizeof(*s));
	/* The first job's timeouts and limits set the server's. */
	if ((rc = siteup_new(p->loop, site, &s->up)) < 0) {
		free(s);
		return rc;
	}
	s->server = xstrdup(site->server);
	s->ca = xstrdup(ca);
	s->users = 1;
	LIST_INSERT_HEAD(&p->ups, s, entry);
	*out = s;
	return 0;
}

/* The last job of a server gone, its connections go too (idle memory). */
void
siteup_put(struct siteup_pool *p, struct siteup *s)
{
	if (s == NULL)
		return;
	assert(s->users > 0);	/* never put back more often than got */
	if (--s->users > 0)
		return;
	if (p->idle != NULL)
		p->idle(p->idle_arg, s->server, up_limit(s->up));
	LIST_REMOVE(s, entry);
	upstream_free(s->up);
	free(s->server);
	free(s->ca);
	free(s);
}

struct upstream *
siteup_upstream(const struct siteup *s)
{
	assert(s->users > 0);	/* only a user holds one */
	return s->up;
}

void
siteup_load(const struct siteup *s, struct siteup_load *l)
{
	assert(s->users > 0);	/* only a user holds one */
	l->server = s->server;
	l->users = s->users;
	l->limit = up_limit(s->up);
	l->in_flight = up_in_flight(s->up);
	l->queued = up_queued(s->up);
}

size_t
siteup_loads(const struct siteup_pool *p, struct siteup_load **out)
{
	struct siteup *s;
	size_t n = 0;

	LIST_FOREACH(s, &p->ups, entry)
		n++;
	*out = xcalloc(n + 1, sizeof(**out));
	n = 0;
	LIST_FOREACH(s, &p->ups, entry)
		siteup_load(s, &(*out)[n++]);
	return n;
}

/* ---- the environment's proxy: forwards to neuprint/proxy ---- */

int
siteup_proxy_check(siteup_proxy_cb cb, void *arg, char *err, size_t errlen)
{
	struct proxy px;

	if (proxy_from_env(&px, err, errlen) < 0)
		return -EINVAL;
	if (px.url != NULL && cb != NULL)
		cb(arg, px.shown, px.var, px.no_proxy ? px.no_proxy : "");
	proxy_free(&px);
	return 0;
}

const char *
siteup_proxy_var(size_t i)
{
	return i < PROXY_NVARS ? proxy_vars[i] : NULL;
}

/* ---- templates: forwards to render/ ---- */

const char *
siteup_tpl_name(size_t i)
{
	return i < RENDER_NTPL ? render_tpl_names[i] : NULL;
}

const char *
siteup_tpl_digest(void)
{
	return tpl_builtin_digest;
}

/* ---- files: render/outdir's staging for one file ---- */

int
siteup_replace_file(const char *path, const void *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	char *dir;
	struct od *od;
	int rc;

	/* absolute: it has a directory and a name */
	assert(path[0] == '/');
	dir = xstrdup(path);
	rc = od_open(&od, dirname(dir), 0, NULL, err, errlen);
	free(dir);
	if (rc < 0)
		return rc;
	od_set_mode(od, mode);
	if ((rc = od_stage(od, strrchr(path, '/') + 1, data, len, err,
	    errlen)) == 0)
		rc = od_commit(od, err, errlen);
	od_free(od);
	return rc;
}
