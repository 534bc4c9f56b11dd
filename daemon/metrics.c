/* metrics: see metrics.h. */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "prom.h"
#include "base/xmalloc.h"

#define NS	"quickpaged_"

struct msite {
	char		*name;
	unsigned long long queries, requests, failures, timeouts, splits;
	unsigned long long bytes, hits, misses;
	unsigned long long retries[UP_NCAUSES];
	unsigned long long ended[PROTO_NSTATES];
	double		 last_success;	/* 0: none known */
};

struct mserver {
	char		*name;
	unsigned long long hist[UP_RTT_BUCKETS + 1];
	unsigned long long count;
	double		 sum_s;
	unsigned	 last_limit;	/* 0: never idle yet */
};

struct met {
	struct msite	*sites;
	size_t		 nsites;
	struct mserver	*servers;
	size_t		 nservers;
};

void
met_new(struct met **out)
{
	*out = xcalloc(1, sizeof(**out));
}

struct met *
met_copy(const struct met *m)
{
	struct met *c = xcalloc(1, sizeof(*c));
	size_t i;

	c->nsites = m->nsites;
	c->sites = xreallocarray(NULL, m->nsites + 1, sizeof(*c->sites));
	for (i = 0; i < m->nsites; i++) {
		c->sites[i] = m->sites[i];
		c->sites[i].name = xstrdup(m->sites[i].name);
	}
	c->nservers = m->nservers;
	c->servers = xreallocarray(NULL, m->nservers + 1, sizeof(*c->servers));
	for (i = 0; i < m->nservers; i++) {
		c->servers[i] = m->servers[i];
		c->servers[i].name = xstrdup(m->servers[i].name);
	}
	return c;
}

void
met_free(struct met *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nsites; i++)
		free(m->sites[i].name);
	for (i = 0; i < m->nservers; i++)
		free(m->servers[i].name);
	free(m->sites);
	free(m->servers);
	free(m);
}

static struct msite *
site(struct met *m, const char *name)
{
	size_t i;

	assert(name != NULL);	/* every job has its site's label */
	/* past MET_MAX_SITES names, only "other" is added */
	assert(m->nsites <= MET_MAX_SITES + 1);
	for (i = 0; i < m->nsites; i++)
		if (strcmp(m->sites[i].name, name) == 0)
			return &m->sites[i];
	if (m->nsites >= MET_MAX_SITES && strcmp(name, "other") != 0)
		return site(m, "other");
	m->sites = xreallocarray(m->sites, m->nsites + 1, sizeof(*m->sites));
	memset(&m->sites[m->nsites], 0, sizeof(*m->sites));
	m->sites[m->nsites].name = xstrdup(name);
	return &m->sites[m->nsites++];
}

/*
 * The server as a label: its URL without user:password@, which could be
 * a credential (the config checks the scheme, not the authority).
 */
static char *
server_label(const char *url)
{
	const char *host = strstr(url, "://"), *at, *slash;

	host = host ? host + 3 : url;
	slash = strchr(host, '/');
	at = memchr(host, '@', slash ? (size_t)(slash - host) : strlen(host));
	if (at == NULL)
		return xstrdup(url);
	return xasprintf("%.*s%s", (int)(host - url), url, at + 1);
}

static struct mserver *
server(struct met *m, const char *url)
{
	char *name = server_label(url);
	size_t i;

	for (i = 0; i < m->nservers; i++)
		if (strcmp(m->servers[i].name, name) == 0) {
			free(name);
			return &m->servers[i];
		}
	m->servers = xreallocarray(m->servers, m->nservers + 1,
	    sizeof(*m->servers));
	memset(&m->servers[m->nservers], 0, sizeof(*m->servers));
	m->servers[m->nservers].name = name;
	return &m->servers[m->nservers++];
}

void
met_add_work(struct met *m, const char *sitename, const char *url,
    const struct job_summary *s)
{
	struct msite *t = site(m, sitename);
	struct mserver *v;
	int i;

	assert(s != NULL);	/* a running job's summary */

	t->queries += s->q.queries;
	t->requests += s->q.attempts;
	t->failures += s->q.failed;
	t->timeouts += s->q.timeouts;
	t->splits += s->splits;
	t->bytes += s->q.bytes_in;
	t->hits += s->cache_hits;
	t->misses += s->cache_misses;
	for (i = 0; i < UP_NCAUSES; i++)
		t->retries[i] += s->q.retries[i];
	if (url == NULL)
		return;
	v = server(m, url);
	for (i = 0; i <= UP_RTT_BUCKETS; i++)
		v->hist[i] += s->q.rtt_hist[i];
	v->count += s->q.nrtt;
	v->sum_s += s->q.rtt_sum_s;
}

void
met_add_site(struct met *m, const char *sitename)
{
	(void)site(m, sitename);
}

void
met_job_ended(struct met *m, const char *sitename, enum proto_state st,
    double when)
{
	struct msite *t = site(m, sitename);

	if (st < PROTO_NSTATES)
		t->ended[st]++;
	if (st == PROTO_SUCCEEDED && when > t->last_success)
		t->last_success = when;
}

void
met_last_success(struct met *m, const char *sitename, double when)
{
	struct msite *t = site(m, sitename);

	if (when > t->last_success)
		t->last_success = when;
}

void
met_server_idle(struct met *m, const char *url, unsigned limit)
{
	server(m, url)->last_limit = limit;
}

/* ---- the text ---- */

static void
one(struct buf *b, const char *name, const char *k, const char *v,
    double value)
{
	struct buf l = BUF_INIT;

	if (k != NULL)
		prom_label(&l, k, v);
	prom_sample(b, name, &l, value);
	buf_free(&l);
}

static void
two(struct buf *b, const char *name, const char *k1, const char *v1,
    const char *k2, const char *v2, double value)
{
	struct buf l = BUF_INIT;

	prom_label(&l, k1, v1);
	prom_label(&l, k2, v2);
	prom_sample(b, name, &l, value);
	buf_free(&l);
}

/* A counter per site, read at OFF in struct msite. */
static void
site_counter(struct buf *b, const struct met *m, const char *name,
    const char *help, size_t off)
{
	size_t i;

	prom_family(b, name, "counter", help);
	for (i = 0; i < m->nsites; i++)
		one(b, name, "site", m->sites[i].name, (double)*(const unsigned
		    long long *)(const void *)((const char *)&m->sites[i] + off));
}

static void
jobs_families(struct buf *b, const struct met *m, const struct met_live *lv)
{
	static const enum proto_state ended[] = { PROTO_SUCCEEDED, PROTO_FAILED,
	    PROTO_CANCELLED };
	size_t i, k;

	prom_family(b, NS "jobs", "gauge", "Jobs queued and running now.");
	one(b, NS "jobs", "state", proto_state_name(PROTO_QUEUED), lv->queued);
	one(b, NS "jobs", "state", proto_state_name(PROTO_RUNNING),
	    lv->running);
	prom_family(b, NS "jobs_ended_total", "counter", "Jobs ended since "
	    "the daemon started, by site and final state.");
	for (i = 0; i < m->nsites; i++)
		for (k = 0; k < sizeof(ended) / sizeof(ended[0]); k++)
			two(b, NS "jobs_ended_total", "site", m->sites[i].name,
			    "state", proto_state_name(ended[k]),
			    (double)m->sites[i].ended[ended[k]]);
	prom_family(b, NS "last_success_timestamp_seconds", "gauge", "When "
	    "the site's last successful job ended (Unix time).");
	for (i = 0; i < m->nsites; i++)
		if (m->sites[i].last_success > 0)
			one(b, NS "last_success_timestamp_seconds", "site",
			    m->sites[i].name, m->sites[i].last_success);
}

static void
work_families(struct buf *b, const struct met *m)
{
	size_t i;
	int c;

	site_counter(b, m, NS "queries_total", "Queries sent to neuPrint "
	    "(each counted once, however many attempts it took).",
	    offsetof(struct msite, queries));
	site_counter(b, m, NS "requests_total", "HTTP requests sent to "
	    "neuPrint (attempts, retries included).",
	    offsetof(struct msite, requests));
	site_counter(b, m, NS "query_failures_total", "Queries given up on "
	    "(retries exhausted or an error that retrying cannot fix).",
	    offsetof(struct msite, failures));
	site_counter(b, m, NS "request_timeouts_total", "Requests abandoned "
	    "unanswered (our time-out or a proxy's 504).",
	    offsetof(struct msite, timeouts));
	site_counter(b, m, NS "response_bytes_total", "Bytes of neuPrint's "
	    "answers received.", offsetof(struct msite, bytes));
	site_counter(b, m, NS "batch_splits_total", "Batches split in halves "
	    "after the server rejected them as a query.",
	    offsetof(struct msite, splits));
	site_counter(b, m, NS "cache_hits_total", "Index entries served from "
	    "the persistent cache.", offsetof(struct msite, hits));
	site_counter(b, m, NS "cache_misses_total", "Index entries fetched "
	    "from neuPrint (not in the cache, or the cache not used).",
	    offsetof(struct msite, misses));
	prom_family(b, NS "retries_total", "counter", "Requests retried, by "
	    "the cause of the failed attempt.");
	for (i = 0; i < m->nsites; i++)
		for (c = 0; c < UP_NCAUSES; c++)
			two(b, NS "retries_total", "site", m->sites[i].name,
			    "cause", up_cause_name((enum up_cause)c),
			    (double)m->sites[i].retries[c]);
}

static const struct met_server_live *
live_server(const struct met_live *lv, const char *name)
{
	size_t i;
	char *l;

	for (i = 0; i < lv->nservers; i++) {
		l = server_label(lv->servers[i].server);
		if (strcmp(l, name) == 0) {
			free(l);
			return &lv->servers[i];
		}
		free(l);
	}
	return NULL;
}

static void
histogram(struct buf *b, const struct mserver *v)
{
	unsigned long long cum = 0;
	struct buf l = BUF_INIT;
	char le[32];
	unsigned i;

	for (i = 0; i <= UP_RTT_BUCKETS; i++) {
		assert(cum + v->hist[i] >= cum);	/* counts only grow */
		cum += v->hist[i];
		if (i < UP_RTT_BUCKETS)
			snprintf(le, sizeof(le), "%g", up_rtt_bound(i));
		else
			snprintf(le, sizeof(le), "+Inf");
		buf_reset(&l);
		prom_label(&l, "server", v->name);
		prom_label(&l, "le", le);
		prom_sample(b, NS "request_duration_seconds_bucket", &l,
		    (double)cum);
	}
	buf_free(&l);
	one(b, NS "request_duration_seconds_sum", "server", v->name, v->sum_s);
	one(b, NS "request_duration_seconds_count", "server", v->name,
	    (double)v->count);
}

static void
server_families(struct buf *b, const struct met *m, const struct met_live *lv)
{
	const struct met_server_live *s;
	size_t i;

	prom_family(b, NS "server_concurrency_limit", "gauge", "The adaptive "
	    "concurrency limit of a neuPrint server: live while jobs use it, "
	    "else the value its last job left.");
	for (i = 0; i < m->nservers; i++) {
		s = live_server(lv, m->servers[i].name);
		if (s != NULL || m->servers[i].last_limit > 0)
			one(b, NS "server_concurrency_limit", "server",
			    m->servers[i].name, s ? s->limit :
			    m->servers[i].last_limit);
	}
	prom_family(b, NS "server_requests_in_flight", "gauge", "Requests "
	    "sent to the server and not yet answered.");
	for (i = 0; i < m->nservers; i++) {
		s = live_server(lv, m->servers[i].name);
		one(b, NS "server_requests_in_flight", "server",
		    m->servers[i].name, s ? s->in_flight : 0);
	}
	prom_family(b, NS "server_queued_queries", "gauge", "Queries waiting "
	    "for a slot under the server's concurrency limit.");
	for (i = 0; i < m->nservers; i++) {
		s = live_server(lv, m->servers[i].name);
		one(b, NS "server_queued_queries", "server",
		    m->servers[i].name, s ? (double)s->queued : 0);
	}
	prom_family(b, NS "server_jobs", "gauge", "Running jobs using the "
	    "server.");
	for (i = 0; i < m->nservers; i++) {
		s = live_server(lv, m->servers[i].name);
		one(b, NS "server_jobs", "server", m->servers[i].name,
		    s ? s->jobs : 0);
	}
	prom_family(b, NS "request_duration_seconds", "histogram", "Round "
	    "trips of HTTP requests to the server, as its limiter measured "
	    "them.");
	for (i = 0; i < m->nservers; i++)
		histogram(b, &m->servers[i]);
}

void
met_render(const struct met *m0, const struct met_live *lv, struct buf *b)
{
	struct met *m = met_copy(m0);
	size_t i;

	/* A live server no job has ended on yet still gets its gauges. */
	for (i = 0; i < lv->nservers; i++)
		(void)server(m, lv->servers[i].server);
	prom_family(b, NS "build_info", "gauge", "The daemon's version; "
	    "always 1.");
	one(b, NS "build_info", "version", lv->version, 1);
	prom_family(b, NS "start_time_seconds", "gauge", "When the daemon "
	    "started (Unix time).");
	one(b, NS "start_time_seconds", NULL, NULL, lv->start_time);
	jobs_families(b, m, lv);
	work_families(b, m);
	server_families(b, m, lv);
	met_free(m);
}
