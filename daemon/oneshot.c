/*
 * oneshot: run one create-index (create-list) job on a private loop and report it.
 * The summary goes to stdout; its last line is the index path, so scripts
 * can take `tail -n1`. Failures are one line on stderr.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "config.h"
#include "base/dotenv.h"
#include "job.h"
#include "oneshot.h"
#include "siteup.h"
#include "base/xmalloc.h"

struct run {
	struct job	*job;
	int		 rc;
	char		 error[512];
	int		 done;
};

static void
on_done(void *arg, struct job *j, int rc, const char *error)
{
	struct run *r = arg;

	/* Once, never before job_start returned (job.h), for our job. */
	assert(!r->done && j == r->job);
	r->rc = rc;
	r->done = 1;
	if (error)
		snprintf(r->error, sizeof(r->error), "%s", error);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct run *r = s->data;

	(void)signum;
	if (r->job && !r->done)
		job_cancel(r->job);
}

static void
print_text(const char *job, const struct cfg_site *site,
    const struct job *j, const char *const *fail, size_t nfail)
{
	const struct job_summary *s = job_summary(j);
	const char *const *dup;
	size_t i, ndup = job_duplicates(j, &dup);

	printf("%s %s: %zu entries from %zu pages: %zu types, "
	    "%zu unmatched pages, %zu failed types\n", job, site->dataset,
	    s->stems,
	    s->pages, s->types, s->unmatched, s->failed);
	printf("queries %lu (%lu requests, %lu retries, %zu splits), "
	    "received %.2f MB\n", s->q.queries, s->q.attempts, up_retries(&s->q),
	    s->splits, (double)s->q.bytes_in / 1e6);
	printf("seconds: scan %.3f, meta %.3f, fetch+roi %.3f (roi cpu %.3f), "
	    "render %.3f, total %.3f\n", s->stage_s[JOB_SCAN],
	    s->stage_s[JOB_META], s->stage_s[JOB_FETCH], s->stage_s[JOB_ROI],
	    s->stage_s[JOB_RENDER], s->wall_s);
	if (strcmp(s->cache_mode, "off") != 0)
		printf("cache (%s): %zu entries served, %zu fetched, %zu "
		    "stored\n", s->cache_mode, s->cache_hits, s->cache_misses,
		    s->cache_stored);
	for (i = 0; i < nfail; i++)
		printf("warning: no data for type %s\n", fail[i]);
	for (i = 0; i < ndup; i++)
		printf("warning: page %s names a type another page of the "
		    "site already names; the index links that one\n", dup[i]);
	printf("%s\n", s->index_path);
}

static void
print_json(const struct job *j)
{
	cJSON *o = job_summary_json(j);
	/* cJSON allocates by xmalloc (xmalloc_install): never NULL. */
	char *txt = cJSON_PrintUnformatted(o);

	assert(txt != NULL);
	printf("%s\n", txt);
	cJSON_free(txt);
	cJSON_Delete(o);
}

/*
 * The site's quickpaged.cache_dir, else $XDG_CACHE_HOME/quickpage, else
 * ~/.cache/quickpage; NULL (no cache) when none can be named.
 */
static char *
cache_dir(const struct cfg_site *site)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (site->cache_dir)
		return xstrdup(site->cache_dir);
	if (x && x[0] == '/')
		return xasprintf("%s/quickpage", x);
	if (home && home[0] == '/')
		return xasprintf("%s/.cache/quickpage", home);
	return NULL;
}

/*
 * neuView reads ./.env into its environment (python-dotenv, never over a
 * variable already set), and labs keep their token there: so do we, for
 * the two variables a token comes from. Before any thread: setenv.
 */
static void
load_dotenv(void)
{
	static const char *const vars[] = {
		"NEUPRINT_TOKEN", "NEUPRINT_APPLICATION_CREDENTIALS"
	};
	size_t i;
	char *v;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (getenv(vars[i]) != NULL || (v = dotenv_get(".env",
		    vars[i])) == NULL)
			continue;
		setenv(vars[i], v, 0);
		explicit_bzero(v, strlen(v));
		free(v);
	}
}

static void
walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
oneshot_run(const struct oneshot_opts *o)
{
	struct cfg_site *site = NULL;
	struct upstream *up = NULL;
	struct job_opts jo = { 0 };
	struct run r = { 0 };
	const char *const *fail;
	uv_signal_t sigint, sigterm;
	uv_loop_t loop;
	struct cfg_origin from = { .getenv = cfg_process_env };
	char err[512], cwd[PATH_MAX], *cdir = NULL;
	size_t nfail;
	int rc, status;

	/* Relative paths: against our working directory, as neuView's. */
	from.cwd = getcwd(cwd, sizeof(cwd));
	load_dotenv();
	from.output_dir = o->output_dir;
	if ((rc = cfg_site_load(o->config, &from, &site, err,
	    sizeof(err))) < 0) {
		fprintf(stderr, "quickpaged: %s\n", err);
		return 2;
	}
	/* Before any work: a proxy URL that cannot be used is the user's to fix. */
	if (!o->quick) {
		if (siteup_proxy_check(NULL, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "quickpaged: %s\n", err);
			cfg_site_free(site);
			return 2;
		}
	}
	uv_loop_init(&loop);
	if (!o->quick && (rc = siteup_new(&loop, site, &up)) < 0) {
		fprintf(stderr, "quickpaged: cannot set up HTTP: %s\n",
		    strerror(-rc));
		cfg_site_free(site);
		uv_loop_close(&loop);
		return 1;
	}
	jo.site = site;
	jo.up = up;
	jo.quick = o->quick;
	jo.strategy = o->per_type ? FETCH_PER_TYPE : FETCH_BATCHED;
	cdir = o->no_cache ? NULL : cache_dir(site);
	jo.cache_dir = cdir;
	jo.cache = o->no_cache ? JOB_CACHE_OFF : o->refresh ?
	    JOB_CACHE_REFRESH : JOB_CACHE_USE;
	uv_signal_init(&loop, &sigint);
	uv_signal_init(&loop, &sigterm);
	sigint.data = sigterm.data = &r;
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	/* Quick runs without an upstream; every other job has one. */
	assert(o->quick ? up == NULL : up != NULL);
	job_start(&loop, &jo, on_done, &r, &r.job);
	assert(r.job != NULL);	/* job.h: *OUT set before it returns */
	while (!r.done && uv_run(&loop, UV_RUN_ONCE))
		;
	uv_signal_stop(&sigint);
	uv_signal_stop(&sigterm);
	if (r.job && r.done && job_summary(r.job)->cache_warning[0])
		fprintf(stderr, "quickpaged: warning: %s\n",
		    job_summary(r.job)->cache_warning);
	if (r.job && r.done && r.rc == 0) {
		nfail = job_failures(r.job, &fail);
		if (o->json)
			print_json(r.job);
		else
			print_text(o->job, site, r.job, fail, nfail);
		status = 0;
	} else {
		fprintf(stderr, "quickpaged: %s failed: %s (the previous "
		    "index, if any, is untouched)\n", o->job,
		    r.error[0] ? r.error : "unknown error");
		status = 1;
	}
	job_free(r.job);
	upstream_free(up);
	uv_walk(&loop, walk_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	cfg_site_free(site);
	free(cdir);
	return status;
}
