/*
 * job end to end on the fake neuPrint (fakenp.h): a temporary directory of
 * pages is scanned, the META and batch queries are answered on simulated
 * time, and the index is rendered into the directory. The job's idle step
 * runs on a real libuv loop; the upstream's timers on the scheduler.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "config.h"
#include "fakenp.h"
#include "job.h"
#include "base/xmalloc.h"

struct rig {
	uv_loop_t	 loop;
	struct sim	*sim;
	struct fnp	 np;
	struct fake_tr	*tr;
	struct upstream	*up;
	struct cfg_site	 site;
	char		 dir[64];
	struct job	*job;
	int		 done, rc;
	char		 error[512];
	size_t		 cancel_after;	/* job_cancel once this many queries went */
	char		 life[512];	/* job_opts.debug: "from>to " each move */
};

static void
touch(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "<html></html>\n", 14), 14);
	close(fd);
	free(p);
}

static void
rig_init(struct rig *r, size_t ntypes, size_t npages, fake_server fn)
{
	size_t i;
	char name[64];

	memset(r, 0, sizeof(*r));
	assert_int_equal(uv_loop_init(&r->loop), 0);
	r->sim = sim_new(0);
	fnp_init(&r->np, ntypes, 20, 2, 7);
	r->np.a[CY_CELLS] = r->np.a[CY_ROIS] = r->np.a[CY_OTHER] = 0.05;
	r->np.b[CY_CELLS] = 0.002;
	r->np.b[CY_ROIS] = 0.004;
	r->tr = fake_tr_new(r->sim, fn ? fn : fnp_serve, &r->np);
	r->up = fake_upstream(r->sim, r->tr, 1, 4, 16, 3);
	snprintf(r->dir, sizeof(r->dir), "/tmp/qp-test-job-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	for (i = 0; i < npages; i++) {
		snprintf(name, sizeof(name), "%s%s.html", r->np.types[i].name,
		    i % 3 == 1 ? "_L" : "");
		touch(r->dir, name);
	}
	touch(r->dir, "NoSuchType.html");
	r->site.server = "https://sim.invalid";
	r->site.dataset = "sim";
	r->site.token = "tok";
	r->site.output_dir = r->dir;
	r->site.title_prefix = "";
	r->site.template_dir = QP_TEST_SRCDIR "/data/templates";
	r->site.batch_size = 4;
	r->site.max_candidates_underscores = 8;
	r->site.concurrency = (struct cfg_concurrency){ 1, 4, 16 };
	r->site.max_retries = 3;
	r->site.max_failed_fraction = 0.5;
}

static void
on_done(void *arg, struct job *j, int rc, const char *error)
{
	struct rig *r = arg;

	assert_ptr_equal(j, r->job);
	r->done = 1;
	r->rc = rc;
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
}

static void
on_debug(void *arg, const char *from, const char *to)
{
	struct rig *r = arg;
	size_t n = strlen(r->life);

	snprintf(r->life + n, sizeof(r->life) - n, "%s>%s ", from, to);
}

/* Loop events first (the job's idle step), then the next simulated event. */
static void
rig_run(struct rig *r)
{
	const struct fake_post *p;

	while (!r->done) {
		while (!r->done && uv_run(&r->loop, UV_RUN_NOWAIT))
			;
		if (r->done)
			break;
		if (r->cancel_after &&
		    fake_tr_posts(r->tr, &p) >= r->cancel_after) {
			job_cancel(r->job);
			r->cancel_after = 0;
			continue;
		}
		if (!sim_step(r->sim))
			break;
	}
	assert_int_equal(r->done, 1);
}

static void
rm_tree(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void
rig_free(struct rig *r)
{
	job_free(r->job);
	upstream_free(r->up);
	fake_tr_free(r->tr);
	sim_free(r->sim);
	uv_run(&r->loop, UV_RUN_DEFAULT);	/* the job's handle closes */
	assert_int_equal(uv_loop_close(&r->loop), 0);
	fnp_free(&r->np);
	rm_tree(r->dir);
}

static int
exists(const char *dir, const char *name)
{
	struct stat sb;
	char *p = xasprintf("%s/%s", dir, name);
	int rc = stat(p, &sb) == 0;

	free(p);
	return rc;
}

static cJSON *
load_types(const char *dir)
{
	char *p = xasprintf("%s/types.json", dir), buf[1 << 16];
	FILE *f = fopen(p, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	free(p);
	return cJSON_Parse(buf);
}

static void
start(struct rig *r)
{
	struct job_opts o = { 0 };

	o.site = &r->site;
	o.up = r->up;
	o.strategy = FETCH_BATCHED;
	o.debug = on_debug;
	job_start(&r->loop, &o, on_done, r, &r->job);
	assert_int_equal(r->done, 0);
}

static void
test_index(void **state)
{
	struct rig r;
	const struct job_summary *s;
	const char *const *fail;
	cJSON *t, *e;
	size_t nfail;
	int found = 0;

	(void)state;
	rig_init(&r, 30, 20, NULL);
	r.np.fail_type = r.np.types[5].name;
	start(&r);
	rig_run(&r);
	assert_int_equal(r.rc, 0);
	s = job_summary(r.job);
	assert_int_equal(s->pages, 21);
	assert_int_equal(s->stems, 21);
	assert_int_equal(s->types, 19);
	assert_int_equal(s->unmatched, 1);
	assert_int_equal(s->failed, 1);
	assert_string_equal(s->dataset_version, "sim-uuid@2024-01-01");
	nfail = job_failures(r.job, &fail);
	assert_int_equal(nfail, 1);
	assert_string_equal(fail[0], "T0005: HTTP 400: emulated failure");
	assert_true(exists(r.dir, "index.html"));
	assert_true(exists(r.dir, "static/js/neuron-search.js"));
	t = load_types(r.dir);
	assert_non_null(t);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(t,
	    "version")), 2);
	/* types.json splits what the job record joins. */
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(t, "dataset_version"), "uuid")), "sim-uuid");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(t, "dataset_version"), "last_database_edit")),
	    "2024-01-01");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(t, "failed"), 0), "name")),
	    "T0005");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "types")) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e,
		    "name"));
		if (strcmp(name, "T0007") == 0) {
			assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(e, "synapses"), "pre")) ==
			    10.0 * fnp_neurons(&r.np, "T0007"));
			found = 1;
		}
	}
	assert_true(found);
	cJSON_Delete(t);
	/* META or the scan first, as the pool goes; then one way on. */
	assert_true(strncmp(r.life, "new>scanning ", 13) == 0);
	assert_non_null(strstr(r.life, ">fetching fetching>fetched "
	    "fetched>rendering rendering>ending ending>ended "));
	rig_free(&r);
}

static void
refuse(void *arg, const char *body, size_t len, double now,
    struct fake_answer *a)
{
	(void)arg;
	(void)body;
	(void)len;
	(void)now;
	a->status = 403;
	a->body = xstrdup("{\"error\": \"no access to dataset sim\"}");
	a->delay_s = 0.2;
}

/* The token refused at META: one clear error, nothing written. */
static void
test_refused(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 5, 5, refuse);
	start(&r);
	rig_run(&r);
	assert_int_equal(r.rc, -EACCES);
	assert_string_equal(r.error, "neuPrint refused access: HTTP 403: "
	    "no access to dataset sim");
	assert_false(exists(r.dir, "index.html"));
	assert_false(exists(r.dir, "types.json"));
	assert_non_null(strstr(r.life, ">ending ending>ended "));
	rig_free(&r);
}

/* Cancelled mid-fetch: -ECANCELED, no index, every query dropped. */
static void
test_cancel(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 60, 60, NULL);
	r.cancel_after = 6;
	start(&r);
	rig_run(&r);
	assert_int_equal(r.rc, -ECANCELED);
	assert_false(exists(r.dir, "index.html"));
	assert_int_equal(up_in_flight(r.up), 0);
	assert_int_equal(fake_tr_in_flight(r.tr), 0);
	rig_free(&r);
}

/*
 * The pool's one thread (main sets UV_THREADPOOL_SIZE=1), held until
 * released, so that a job's scan waits in the pool while the simulated
 * server answers META: the order a slow disk gives.
 */
struct hold {
	uv_work_t	 req;
	uv_sem_t	 go;
};

static void
hold_work(uv_work_t *req)
{
	struct hold *h = req->data;

	uv_sem_wait(&h->go);
}

static void
hold_done(uv_work_t *req, int status)
{
	(void)req;
	assert_int_equal(status, 0);
}

static void
hold_pool(struct rig *r, struct hold *h)
{
	assert_int_equal(uv_sem_init(&h->go, 0), 0);
	h->req.data = h;
	assert_int_equal(uv_queue_work(&r->loop, &h->req, hold_work,
	    hold_done), 0);
}

/* Every simulated event while the scan waits: META's round trip only. */
static void
answer_while_held(struct rig *r, struct hold *h)
{
	const struct fake_post *p;
	int k;

	for (k = 0; k < 100000 && !r->done; k++) {
		uv_run(&r->loop, UV_RUN_NOWAIT);
		if (!sim_step(r->sim))
			break;
	}
	assert_int_equal(fake_tr_posts(r->tr, &p), 1);	/* META, nothing else */
	assert_int_equal(job_summary(r->job)->stage, JOB_SCAN);
	uv_sem_post(&h->go);
}

/* META answered before the scan is done: the job waits, then goes on. */
static void
test_meta_before_scan(void **state)
{
	struct rig r;
	struct hold h;
	const struct job_summary *s;

	(void)state;
	rig_init(&r, 30, 20, NULL);
	hold_pool(&r, &h);
	start(&r);
	answer_while_held(&r, &h);
	rig_run(&r);
	assert_int_equal(r.rc, 0);
	s = job_summary(r.job);
	assert_int_equal(s->stems, 21);
	assert_int_equal(s->types, 20);
	assert_int_equal(s->unmatched, 1);
	assert_string_equal(s->dataset_version, "sim-uuid@2024-01-01");
	assert_true(exists(r.dir, "index.html"));
	/* META waited for the scan; no cache: straight on to the fetch. */
	assert_string_equal(r.life, "new>scanning scanning>meta_in "
	    "meta_in>fetching fetching>fetched fetched>rendering "
	    "rendering>ending ending>ended ");
	uv_sem_destroy(&h.go);
	rig_free(&r);
}

/*
 * job_free() while the scan waits in the pool: the scan is cancelled,
 * its end frees the job, the callback never runs and META is dropped.
 */
static void
test_free_during_scan(void **state)
{
	struct rig r;
	struct hold h;

	(void)state;
	rig_init(&r, 5, 5, NULL);
	hold_pool(&r, &h);
	start(&r);
	job_free(r.job);
	r.job = NULL;
	uv_sem_post(&h.go);
	uv_run(&r.loop, UV_RUN_DEFAULT);	/* the scan's end, the close */
	assert_int_equal(r.done, 0);
	assert_int_equal(up_in_flight(r.up), 0);
	assert_string_equal(r.life, "new>scanning ");	/* orphan: not told */
	uv_sem_destroy(&h.go);
	rig_free(&r);
}

/* META refused while the scan waits: the refusal, once the scan is back. */
static void
test_refused_before_scan(void **state)
{
	struct rig r;
	struct hold h;

	(void)state;
	rig_init(&r, 5, 5, refuse);
	hold_pool(&r, &h);
	start(&r);
	answer_while_held(&r, &h);
	rig_run(&r);
	assert_int_equal(r.rc, -EACCES);
	assert_string_equal(r.error, "neuPrint refused access: HTTP 403: "
	    "no access to dataset sim");
	assert_false(exists(r.dir, "index.html"));
	uv_sem_destroy(&h.go);
	rig_free(&r);
}

/* Run the job until its render runs (held QP_TEST_RENDER_DELAY_MS). */
static void
run_to_render(struct rig *r)
{
	int k;

	for (k = 0; k < 100000 && !r->done &&
	    job_summary(r->job)->stage != JOB_RENDER; k++) {
		uv_run(&r->loop, UV_RUN_NOWAIT);
		if (job_summary(r->job)->stage != JOB_RENDER)
			(void)sim_step(r->sim);
	}
	assert_int_equal(r->done, 0);
	assert_int_equal(job_summary(r->job)->stage, JOB_RENDER);
	usleep(100000);	/* the pool's thread takes it up, into the hold */
}

/*
 * Cancelled while the render runs: it runs to its end, and its result
 * (the index in place) is the job's, not "cancelled".
 */
static void
test_cancel_during_render(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 10, 10, NULL);
	setenv("QP_TEST_RENDER_DELAY_MS", "200", 1);	/* read at the render */
	start(&r);
	run_to_render(&r);
	unsetenv("QP_TEST_RENDER_DELAY_MS");
	job_cancel(r.job);
	job_cancel(r.job);	/* twice: the same */
	rig_run(&r);
	/* Under way (the usual case), or not yet taken up on a slow box. */
	if (r.rc == 0)
		assert_true(exists(r.dir, "index.html"));
	else
		assert_int_equal(r.rc, -ECANCELED);
	assert_non_null(strstr(r.life, "fetched>rendering rendering>ending "
	    "ending>ended "));
	rig_free(&r);
}

/*
 * job_free() while the render runs: the render ends, then frees the job
 * (the orphan); the callback never runs.
 */
static void
test_free_during_render(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 10, 10, NULL);
	setenv("QP_TEST_RENDER_DELAY_MS", "200", 1);	/* read at the render */
	start(&r);
	run_to_render(&r);
	unsetenv("QP_TEST_RENDER_DELAY_MS");
	job_free(r.job);
	r.job = NULL;
	uv_run(&r.loop, UV_RUN_DEFAULT);	/* the render's end, the close */
	assert_int_equal(r.done, 0);
	assert_non_null(strstr(r.life, "fetched>rendering "));
	assert_null(strstr(r.life, "ending"));
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_meta_before_scan),
		cmocka_unit_test(test_refused_before_scan),
		cmocka_unit_test(test_free_during_scan),
		cmocka_unit_test(test_cancel_during_render),
		cmocka_unit_test(test_free_during_render),
	};

	/* One pool thread, before the pool starts: hold_pool() needs it. */
	setenv("UV_THREADPOOL_SIZE", "1", 1);
	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
