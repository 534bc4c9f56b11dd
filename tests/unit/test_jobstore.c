/* jobstore: schema, records, recovery queries, pruning, file mode. */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "jobstore.h"

static char dir[] = "/tmp/qp-js-XXXXXX";

static int
setup(void **state)
{
	char path[256];

	(void)state;
	strcpy(dir, "/tmp/qp-js-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	unlink(path);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct proto_job
job(const char *site, enum proto_state st, double finished)
{
	struct proto_job j = { 0 };

	snprintf(j.site, sizeof(j.site), "%s", site);
	snprintf(j.output_dir, sizeof(j.output_dir), "/srv/%s", site);
	snprintf(j.stage, sizeof(j.stage), "queued");
	j.uid = 1000;
	j.state = st;
	j.created = 100;
	j.finished = finished;
	return j;
}

struct seen {
	int64_t	 ids[16];
	char	 configs[16][32];
	int	 n;
};

static int
collect(void *arg, const struct proto_job *j, const char *config)
{
	struct seen *s = arg;

	s->ids[s->n] = j->id;
	snprintf(s->configs[s->n], sizeof(s->configs[0]), "%s",
	    config ? config : "-");
	s->n++;
	return 0;
}

static void
test_records(void **state)
{
	struct proto_job a = job("a", PROTO_QUEUED, 0), b, got;
	struct seen seen = { .n = 0 };
	char err[256], path[256];
	uint64_t counts[PROTO_NSTATES];
	struct stat st;
	struct js *s;

	(void)state;
	assert_int_equal(js_open(dir, &s, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(js_insert(s, &a, NULL), 0);
	b = job("b", PROTO_QUEUED, 0);
	assert_int_equal(js_insert(s, &b, "neuprint: {}"), 0);
	assert_true(b.id > a.id);
	a.state = PROTO_RUNNING;
	a.started = 101;
	a.done = 5;
	a.total = 9;
	a.attempt = 1;
	snprintf(a.stage, sizeof(a.stage), "fetch");
	assert_int_equal(js_update(s, &a), 0);
	js_close(s);

	/* what a restart sees */
	assert_int_equal(js_open(dir, &s, err, sizeof(err)), 0);
	assert_int_equal(js_get(s, a.id, &got), 0);
	assert_int_equal(got.state, PROTO_RUNNING);
	assert_string_equal(got.stage, "fetch");
	assert_int_equal(got.done, 5);
	assert_int_equal(got.attempt, 1);
	proto_job_clear(&got);
	assert_int_equal(js_unfinished(s, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], a.id);
	assert_string_equal(seen.configs[0], "-");
	assert_string_equal(seen.configs[1], "neuprint: {}");

	b.state = PROTO_SUCCEEDED;
	b.finished = 200;
	b.summary = strdup("{\"entries\":9}");
	assert_int_equal(js_update(s, &b), 0);
	proto_job_clear(&b);
	assert_int_equal(js_get(s, b.id, &got), 0);
	assert_string_equal(got.summary, "{\"entries\":9}");
	proto_job_clear(&got);
	seen.n = 0;
	assert_int_equal(js_list(s, 1, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.ids[0], b.id);
	assert_int_equal(js_counts(s, counts), 0);
	assert_int_equal(counts[PROTO_RUNNING], 1);
	assert_int_equal(counts[PROTO_SUCCEEDED], 1);

	/* pruning keeps unfinished jobs and recent ones */
	assert_int_equal(js_prune(s, 150), 0);
	assert_int_equal(js_prune(s, 250), 1);
	assert_int_equal(js_get(s, b.id, &got), -ENOENT);
	assert_int_equal(js_get(s, a.id, &got), 0);
	proto_job_clear(&got);
	b.id = 999;
	assert_int_equal(js_update(s, &b), -ENOENT);
	js_close(s);
}

static void
test_newer_schema_refused(void **state)
{
	char err[256], path[256];
	struct js *s;
	sqlite3 *db;

	(void)state;
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(js_open(dir, &s, err, sizeof(err)), 0);
	js_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(js_open(dir, &s, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "newer"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
