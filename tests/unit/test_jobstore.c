/*
 * jobstore: schema, records, recovery queries, pruning, file mode; writes
 * on the writer thread: committed before their callback, in order, errors
 * reported.
 */
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
#include <uv.h>

#include "jobstore.h"
#include "base/xmalloc.h"

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
	char	 origins[16][32];
	int	 n;
};

/* What a write's callback saw. */
struct done {
	int	 ran;
	int	 rc;
	int64_t	 n;
	char	 err[256];
	int	 order;		/* its place among callbacks */
	int	 row_there;	/* a fresh connection saw the row at callback */
};

static int ncallbacks;
static int64_t check_id;	/* row to look for from the callback, or 0 */

/* Is job ID in jobs.db, as a new process would see it right now? */
static int
committed(int64_t id)
{
	char path[256];
	sqlite3_stmt *st;
	sqlite3 *db;
	int found;

	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM jobs WHERE id "
	    "= ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

static void
on_done(void *arg, int rc, int64_t n, const char *error)
{
	struct done *d = arg;

	d->ran++;
	d->rc = rc;
	d->n = n;
	d->order = ++ncallbacks;
	snprintf(d->err, sizeof(d->err), "%s", error ? error : "");
	d->row_there = committed(check_id ? check_id : n);
}

/* Run the loop until D's callback ran (the loop ends when none is out). */
static void
wait_done(uv_loop_t *loop, struct done *d)
{
	while (!d->ran)
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !d->ran)
			fail_msg("the loop ended without the callback");
	assert_int_equal(d->ran, 1);
}

static int64_t
insert(uv_loop_t *loop, struct jobstore *s, const struct proto_job *j,
    const char *config)
{
	struct done d = { 0 };

	check_id = 0;
	jst_insert(s, j, config, config ? "{\"cwd\":\"/x\"}" : NULL, on_done,
	    &d);
	assert_int_equal(d.ran, 0);	/* never before the call returns */
	wait_done(loop, &d);
	assert_int_equal(d.rc, 0);
	assert_true(d.row_there);	/* committed before we were told */
	return d.n;
}

static int
update(uv_loop_t *loop, struct jobstore *s, const struct proto_job *j)
{
	struct done d = { 0 };

	check_id = j->id;
	jst_update(s, j, on_done, &d);
	wait_done(loop, &d);
	if (d.rc < 0)
		assert_true(d.err[0] != '\0');	/* a failure says why */
	return d.rc;
}

static int64_t
prune(uv_loop_t *loop, struct jobstore *s, double before)
{
	struct done d = { 0 };

	check_id = -1;
	jst_prune(s, before, on_done, &d);
	wait_done(loop, &d);
	assert_int_equal(d.rc, 0);
	return d.n;
}

static void
close_store(uv_loop_t *loop, struct jobstore *s)
{
	jst_close(s);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
}

static int
collect(void *arg, const struct proto_job *j, const char *config,
    const char *origin)
{
	struct seen *s = arg;

	s->ids[s->n] = j->id;
	snprintf(s->configs[s->n], sizeof(s->configs[0]), "%s",
	    config ? config : "-");
	snprintf(s->origins[s->n], sizeof(s->origins[0]), "%s",
	    origin ? origin : "-");
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
	struct jobstore *s;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(jst_open(&loop, dir, &s, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	a.id = insert(&loop, s, &a, NULL);
	b = job("b", PROTO_QUEUED, 0);
	b.id = insert(&loop, s, &b, "neuprint: {}");
	assert_true(b.id > a.id);
	a.state = PROTO_RUNNING;
	a.started = 101;
	a.done = 5;
	a.total = 9;
	a.attempt = 1;
	snprintf(a.stage, sizeof(a.stage), "fetch");
	assert_int_equal(update(&loop, s, &a), 0);
	close_store(&loop, s);

	/* what a restart sees */
	assert_int_equal(jst_open(&loop, dir, &s, err, sizeof(err)), 0);
	assert_int_equal(jst_get(s, a.id, &got), 0);
	assert_int_equal(got.state, PROTO_RUNNING);
	assert_string_equal(got.stage, "fetch");
	assert_int_equal(got.done, 5);
	assert_int_equal(got.attempt, 1);
	proto_job_clear(&got);
	assert_int_equal(jst_unfinished(s, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], a.id);
	assert_string_equal(seen.configs[0], "-");
	assert_string_equal(seen.configs[1], "neuprint: {}");
	/* Where a client's config came from goes with it (jobs.c's text). */
	assert_string_equal(seen.origins[0], "-");
	assert_string_equal(seen.origins[1], "{\"cwd\":\"/x\"}");

	b.state = PROTO_SUCCEEDED;
	b.finished = 200;
	b.summary = xstrdup("{\"entries\":9}");
	assert_int_equal(update(&loop, s, &b), 0);
	proto_job_clear(&b);
	assert_int_equal(jst_get(s, b.id, &got), 0);
	assert_string_equal(got.summary, "{\"entries\":9}");
	proto_job_clear(&got);
	seen.n = 0;
	assert_int_equal(jst_list(s, 1, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.ids[0], b.id);
	assert_int_equal(jst_counts(s, counts), 0);
	assert_int_equal(counts[PROTO_RUNNING], 1);
	assert_int_equal(counts[PROTO_SUCCEEDED], 1);

	/* pruning keeps unfinished jobs and recent ones */
	assert_int_equal(prune(&loop, s, 150), 0);
	assert_int_equal(prune(&loop, s, 250), 1);
	assert_int_equal(jst_get(s, b.id, &got), -ENOENT);
	assert_int_equal(jst_get(s, a.id, &got), 0);
	proto_job_clear(&got);
	b.id = 999;
	assert_int_equal(update(&loop, s, &b), -ENOENT);
	close_store(&loop, s);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * Writes queued back to back commit in order and call back in order; a
 * read right after a callback sees that write (read-your-writes); a
 * failing write does not stop the ones after it.
 */
static void
test_order_and_errors(void **state)
{
	struct done d[6] = { 0 };
	struct proto_job a = job("a", PROTO_QUEUED, 0), got;
	char err[256];
	struct jobstore *s;
	uv_loop_t loop;
	int i;

	(void)state;
	ncallbacks = 0;
	uv_loop_init(&loop);
	assert_int_equal(jst_open(&loop, dir, &s, err, sizeof(err)), 0);
	/* nothing out: the store does not keep the loop alive */
	assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
	a.id = insert(&loop, s, &a, NULL);
	check_id = a.id;
	for (i = 0; i < 4; i++) {
		a.done = (uint64_t)i + 1;
		if (i == 2) {
			struct proto_job missing = a;

			missing.id = a.id + 100;
			jst_update(s, &missing, on_done, &d[i]);
		} else
			jst_update(s, &a, on_done, &d[i]);
	}
	jst_sync(s, on_done, &d[4]);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);	/* all back */
	for (i = 0; i < 5; i++) {
		assert_int_equal(d[i].ran, 1);
		assert_int_equal(d[i].order, i + 2);
	}
	assert_int_equal(d[2].rc, -ENOENT);
	assert_non_null(strstr(d[2].err, "no job"));
	assert_int_equal(d[3].rc, 0);
	assert_int_equal(jst_get(s, a.id, &got), 0);
	assert_int_equal(got.done, 4);		/* the last write won */
	proto_job_clear(&got);

	/* queued, then closed: the writes still commit (no callbacks) */
	a.done = 77;
	jst_update(s, &a, on_done, &d[5]);
	close_store(&loop, s);
	assert_int_equal(d[5].ran, 0);
	assert_int_equal(jst_open(&loop, dir, &s, err, sizeof(err)), 0);
	assert_int_equal(jst_get(s, a.id, &got), 0);
	assert_int_equal(got.done, 77);
	proto_job_clear(&got);
	close_store(&loop, s);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_newer_schema_refused(void **state)
{
	char err[256], path[256];
	struct jobstore *s;
	sqlite3 *db;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(jst_open(&loop, dir, &s, err, sizeof(err)), 0);
	close_store(&loop, s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(jst_open(&loop, dir, &s, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A jobs.db of quickpaged 0.1.0 (schema 1, as its jst_open made it, with a
 * queued job) is upgraded in place: the job is there to resume, and jobs
 * inserted after the upgrade keep their origin.
 */
static void
test_schema1_upgraded(void **state)
{
	static const char v1[] =
	    "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " site TEXT NOT NULL, config TEXT, output_dir TEXT NOT NULL,"
	    " quick INTEGER NOT NULL DEFAULT 0, uid INTEGER NOT NULL,"
	    " state TEXT NOT NULL, created REAL NOT NULL,"
	    " started REAL NOT NULL DEFAULT 0, finished REAL NOT NULL DEFAULT 0,"
	    " stage TEXT NOT NULL DEFAULT 'queued',"
	    " done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,"
	    " attempt INTEGER NOT NULL DEFAULT 0, summary TEXT, error TEXT);"
	    "CREATE INDEX jobs_state ON jobs(state);"
	    "INSERT INTO jobs (site, config, output_dir, uid, state, created)"
	    " VALUES ('old', 'neuprint: {}', '/srv/old', 7, 'queued', 50);"
	    "PRAGMA user_version = 1;";
	struct proto_job b = job("b", PROTO_QUEUED, 0);
	struct seen seen = { .n = 0 };
	char err[256], path[256];
	struct jobstore *s;
	sqlite3 *db;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (jst_open(&loop, dir, &s, err, sizeof(err)) != 0)
		fail_msg("a schema-1 file refused: %s", err);
	b.id = insert(&loop, s, &b, "neuprint: {b}");
	assert_int_equal(jst_unfinished(s, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.configs[0], "neuprint: {}");
	assert_string_equal(seen.origins[0], "-");	/* 0.1.0 kept none */
	assert_int_equal(seen.ids[1], b.id);
	assert_string_equal(seen.origins[1], "{\"cwd\":\"/x\"}");
	close_store(&loop, s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT origin FROM jobs", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema1_upgraded,
		    setup, teardown),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
