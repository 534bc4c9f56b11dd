/* prom and metrics: the exposition text, escaping, sums over jobs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "prom.h"
#include "neuprint/upstream.h"

static void
test_prom_escaping(void **state)
{
	struct buf b = BUF_INIT, l = BUF_INIT;

	(void)state;
	prom_family(&b, "x_total", "counter", "a \\ back\nslash \"q\"");
	prom_label(&l, "site", "a\"b\\c\nd");
	prom_label(&l, "cause", "5xx");
	prom_sample(&b, "x_total", &l, 3);
	prom_sample(&b, "y", NULL, 0.2);
	prom_sample(&b, "y", NULL, 1796127248.528853);
	prom_sample(&b, "y", NULL, INFINITY);
	prom_sample(&b, "y", NULL, NAN);
	prom_sample(&b, "y", NULL, 12345678901234.0);
	assert_string_equal(b.data,
	    "# HELP x_total a \\\\ back\\nslash \"q\"\n"
	    "# TYPE x_total counter\n"
	    "x_total{site=\"a\\\"b\\\\c\\nd\",cause=\"5xx\"} 3\n"
	    "y 0.2\n"
	    "y 1796127248.528853\n"
	    "y +Inf\n"
	    "y NaN\n"
	    "y 12345678901234\n");
	buf_free(&b);
	buf_free(&l);
}

static void
summary(struct job_summary *s, unsigned long q, unsigned long long bytes)
{
	memset(s, 0, sizeof(*s));
	s->q.queries = q;
	s->q.attempts = q + 2;
	s->q.retries[UP_C_OVERLOAD] = 1;
	s->q.retries[UP_C_RESET] = 1;
	s->q.bytes_in = bytes;
	s->splits = 3;
	s->cache_hits = 10;
	s->cache_misses = 5;
	s->q.rtt_hist[0] = 1;			/* <= 0.025 */
	s->q.rtt_hist[UP_RTT_BUCKETS] = 1;	/* > the last bound */
	s->q.nrtt = 2;
	s->q.rtt_sum_s = 400.5;
}

static char *
render(const struct met *m, const struct met_server_live *sv, size_t n)
{
	struct met_live lv = { .version = "1.0", .start_time = 100,
	    .queued = 2, .running = 1, .servers = sv, .nservers = n };
	struct buf b = BUF_INIT;

	met_render(m, &lv, &b);
	return buf_steal(&b);
}

static void
has(const char *text, const char *line)
{
	char *want;

	if (asprintf(&want, "\n%s\n", line) < 0)
		fail();
	if (strstr(text, want) == NULL)
		fail_msg("no line \"%s\" in:\n%s", line, text);
	free(want);
}

static void
test_sums(void **state)
{
	const char *srv = "https://user:secret@np.example.org:8443/api";
	struct met_server_live live = { .server = srv, .jobs = 1, .limit = 7,
	    .in_flight = 3, .queued = 4 };
	struct job_summary s;
	struct met *m, *c;
	char *t;

	(void)state;
	met_new(&m);
	summary(&s, 10, 1000);
	met_add_work(m, "cns", srv, &s);
	met_job_ended(m, "cns", PROTO_SUCCEEDED, 1500.25);
	summary(&s, 4, 24);
	met_add_work(m, "cns", srv, &s);
	met_job_ended(m, "cns", PROTO_FAILED, 1600);
	met_add_work(m, "quick", NULL, &s);	/* no server: no histogram */
	met_job_ended(m, "quick", PROTO_CANCELLED, 1700);
	/* A copy with a running job's work so far; M itself stays. */
	c = met_copy(m);
	met_add_work(c, "cns", srv, &s);
	t = render(c, &live, 1);
	has(t, "quickpaged_queries_total{site=\"cns\"} 18");
	free(t);
	met_free(c);
	t = render(m, &live, 1);
	has(t, "quickpaged_build_info{version=\"1.0\"} 1");
	has(t, "quickpaged_start_time_seconds 100");
	has(t, "quickpaged_jobs{state=\"queued\"} 2");
	has(t, "quickpaged_jobs{state=\"running\"} 1");
	has(t, "quickpaged_jobs_ended_total{site=\"cns\",state=\"succeeded\"} 1");
	has(t, "quickpaged_jobs_ended_total{site=\"cns\",state=\"failed\"} 1");
	has(t, "quickpaged_jobs_ended_total{site=\"quick\",state=\"cancelled\"} 1");
	has(t, "quickpaged_last_success_timestamp_seconds{site=\"cns\"} 1500.25");
	assert_null(strstr(t, "last_success_timestamp_seconds{site=\"quick\"}"));
	has(t, "quickpaged_queries_total{site=\"cns\"} 14");
	has(t, "quickpaged_requests_total{site=\"cns\"} 18");
	has(t, "quickpaged_response_bytes_total{site=\"cns\"} 1024");
	has(t, "quickpaged_retries_total{site=\"cns\",cause=\"overload\"} 2");
	has(t, "quickpaged_retries_total{site=\"cns\",cause=\"reset\"} 2");
	has(t, "quickpaged_retries_total{site=\"cns\",cause=\"5xx\"} 0");
	has(t, "quickpaged_batch_splits_total{site=\"cns\"} 6");
	has(t, "quickpaged_cache_hits_total{site=\"cns\"} 20");
	has(t, "quickpaged_cache_misses_total{site=\"cns\"} 10");
	/* The server's label has no user:password@. */
	assert_null(strstr(t, "secret"));
	has(t, "quickpaged_server_concurrency_limit{server=\"https://"
	    "np.example.org:8443/api\"} 7");
	has(t, "quickpaged_server_requests_in_flight{server=\"https://"
	    "np.example.org:8443/api\"} 3");
	has(t, "quickpaged_server_queued_queries{server=\"https://"
	    "np.example.org:8443/api\"} 4");
	/* Buckets are cumulative; the quick job added none. */
	has(t, "quickpaged_request_duration_seconds_bucket{server=\"https://"
	    "np.example.org:8443/api\",le=\"0.025\"} 2");
	has(t, "quickpaged_request_duration_seconds_bucket{server=\"https://"
	    "np.example.org:8443/api\",le=\"300\"} 2");
	has(t, "quickpaged_request_duration_seconds_bucket{server=\"https://"
	    "np.example.org:8443/api\",le=\"+Inf\"} 4");
	has(t, "quickpaged_request_duration_seconds_count{server=\"https://"
	    "np.example.org:8443/api\"} 4");
	has(t, "quickpaged_request_duration_seconds_sum{server=\"https://"
	    "np.example.org:8443/api\"} 801");
	free(t);
	/* Idle: the limit its last job left; no job on it now. */
	met_server_idle(m, srv, 5);
	t = render(m, NULL, 0);
	has(t, "quickpaged_server_concurrency_limit{server=\"https://"
	    "np.example.org:8443/api\"} 5");
	has(t, "quickpaged_server_jobs{server=\"https://"
	    "np.example.org:8443/api\"} 0");
	free(t);
	met_free(m);
}

/* Client configs cannot grow the label set without end. */
static void
test_site_cap(void **state)
{
	struct job_summary s;
	char name[32], *t;
	struct met *m;
	int i;

	(void)state;
	met_new(&m);
	summary(&s, 1, 1);
	for (i = 0; i < MET_MAX_SITES + 10; i++) {
		snprintf(name, sizeof(name), "config:d%d", i);
		met_add_work(m, name, NULL, &s);
	}
	t = render(m, NULL, 0);
	has(t, "quickpaged_queries_total{site=\"config:d0\"} 1");
	assert_null(strstr(t, "site=\"config:d256\""));
	has(t, "quickpaged_queries_total{site=\"other\"} 10");
	free(t);
	met_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_escaping),
		cmocka_unit_test(test_sums),
		cmocka_unit_test(test_site_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
