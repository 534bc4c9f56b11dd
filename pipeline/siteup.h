/*
 * siteup: what the daemon and oneshot take from the pipeline beside a
 * job, so that they see only its face (job.h, config.h, siteup.h,
 * store/cachework.h and base/):
 * - the upstream (neuPrint server client) a site config asks for: one of
 *   its own (oneshot), or shared through a pool by every job talking to
 *   the same server, URL and CA (the daemon), so one concurrency limit
 *   covers them all;
 * - the proxy of the environment (neuprint/proxy.h), checked before any
 *   work, and the variables that may name it (they may hold a password);
 * - the template files a template_dir must hold, and the digest of the
 *   built-in set (render/);
 * - a file replaced whole, as a render writes (render/outdir.h).
 * The functions that only forward say so; the rules are their modules'.
 */
#ifndef QP_SITEUP_H
#define QP_SITEUP_H

#include <sys/types.h>

#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "neuprint/upstream.h"

/* A private upstream for SITE (oneshot): 0, or a negative errno. */
int	 siteup_new(uv_loop_t *loop, const struct cfg_site *site,
	    struct upstream **up);

/* ---- shared upstreams ---- */

struct siteup_pool;
struct siteup;		/* one server (URL + CA) and the jobs using it */

/* One shared upstream's figures now (stats, metrics, a job's progress). */
struct siteup_load {
	const char	*server;	/* the URL, while the siteup lives */
	unsigned	 users;		/* jobs holding it */
	unsigned	 limit, in_flight;
	size_t		 queued;
};

/*
 * IDLE (may be NULL) runs when the last user of SERVER lets go, with the
 * concurrency limit it reached, just before its upstream goes.
 */
typedef void (*siteup_idle_cb)(void *arg, const char *server, unsigned limit);

void	 siteup_pool_new(uv_loop_t *loop, siteup_idle_cb idle, void *arg,
	    struct siteup_pool **out);
/* Every siteup must have been put back. NULL is fine. */
void	 siteup_pool_free(struct siteup_pool *p);
/*
 * One more user of SITE's server: the existing upstream, or a new one
 * whose timeouts and limits are this site's (the first user's). 0, or a
 * negative errno (*OUT untouched).
 */
int	 siteup_get(struct siteup_pool *p, const struct cfg_site *site,
	    struct siteup **out);
/* One user less; the last one's going frees the upstream. S may be NULL. */
void	 siteup_put(struct siteup_pool *p, struct siteup *s);
struct upstream *siteup_upstream(const struct siteup *s);
void	 siteup_load(const struct siteup *s, struct siteup_load *l);
/*
 * Every server's load, newest first, in *OUT (caller frees; never NULL,
 * one spare slot): their count.
 */
size_t	 siteup_loads(const struct siteup_pool *p,
	    struct siteup_load **out);

/* ---- the environment's proxy ---- */

/* Told of the proxy in use: never its credentials. NO_PROXY "" for none. */
typedef void (*siteup_proxy_cb)(void *arg, const char *shown,
	    const char *var, const char *no_proxy);

/*
 * Read the proxy from the environment as every request will
 * (proxy_from_env): -EINVAL with ERR naming the variable when its URL
 * cannot be used; else 0, and CB (may be NULL) hears of the proxy, if one
 * is set.
 */
int	 siteup_proxy_check(siteup_proxy_cb cb, void *arg, char *err,
	    size_t errlen);
/* The I-th variable that may name a proxy (proxy_vars), NULL past it. */
const char *siteup_proxy_var(size_t i);

/* ---- templates ---- */

/*
 * The I-th file a template_dir must hold (render_tpl_names), NULL past
 * the last.
 */
const char *siteup_tpl_name(size_t i);
/* SHA-256 (hex) of the built-in templates (tpl_builtin_digest). */
const char *siteup_tpl_digest(void);

/* ---- files ---- */

/*
 * Replace the file PATH (absolute) with DATA, mode MODE, as a render
 * writes (outdir.h: a hidden temp file beside it, fsync, rename): a
 * reader sees the old file or the new one, never half of one. 0, or a
 * negative errno with "PATH: step: error" in ERR. Blocks: a worker's.
 */
int	 siteup_replace_file(const char *path, const void *data, size_t len,
	    mode_t mode, char *err, size_t errlen);

#endif
