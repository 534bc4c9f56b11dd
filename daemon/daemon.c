/*
 * daemon: settings, job store, jobs and the socket on one loop, plus the
 * signals: SIGTERM/SIGINT stop (docs/daemon.md), SIGHUP reloads.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "qp_build.h"
#include "config.h"
#include "daemon.h"
#include "jobs.h"
#include "jobstore.h"
#include "log.h"
#include "metfile.h"
#include "ops.h"
#include "sd.h"
#include "server.h"
#include "settings.h"
#include "siteup.h"

struct daemon {
	uv_loop_t	 loop;
	const char	*file;
	struct settings	*set;
	struct jobstore	*store;
	struct jobs	*jobs;
	struct srv	*srv;
	struct mf	*mf;		/* metrics_file, NULL until started */
	uv_signal_t	 sigterm, sigint, sighup;
	uv_timer_t	 grace;
	int		 stopping;
	int		 stopped;
	int		 lockfd;
};

static void
make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		log_warn("dir.create_failed", "path=%s error=%s", path,
		    strerror(errno));
}

/* One daemon per state directory: two would run each job twice. */
static int
lock_state(struct daemon *d)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/quickpaged.lock", d->set->state_dir);
	d->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lockfd < 0) {
		int e = errno;

		log_err("state.lock_failed", "path=%s error=%s", path,
		    strerror(e));
		return -e;
	}
	if (flock(d->lockfd, LOCK_EX | LOCK_NB) < 0) {
		log_err("state.locked", "state_dir=%s msg=%s",
		    d->set->state_dir, "another quickpaged uses this state "
		    "directory; stop it first");
		return -EBUSY;
	}
	return 0;
}

/* Everything but the loop is released; handles close as the loop runs. */
static void
finish(void *arg)
{
	struct daemon *d = arg;

	if (d->stopped)
		return;
	/* Reached from the stop (all jobs stopped), the grace timer or a
	 * failed start: each frees what exists, once. */
	d->stopped = 1;
	srv_free(d->srv);
	d->srv = NULL;
	/* Before the jobs go: its last write renders them (none running). */
	mf_free(d->mf);
	d->mf = NULL;
	jobs_free(d->jobs);
	d->jobs = NULL;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->grace, NULL);
}

static void
on_grace(uv_timer_t *t)
{
	log_warn("daemon.stop_timeout", "stop_grace_s=%u msg=%s",
	    ((struct daemon *)t->data)->set->stop_grace_s, "jobs did not stop "
	    "within stop_grace_s; exiting anyway (they run again at the next "
	    "start)");
	finish(t->data);
}

static void
on_stop(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (d->stopping)
		return;
	/* Signals run only once start() succeeded; finish() closes them. */
	assert(!d->stopped && d->jobs != NULL && d->srv != NULL);
	d->stopping = 1;
	log_info("daemon.stopping", "signal=%s", signum == SIGTERM ?
	    "SIGTERM" : "SIGINT");
	sd_notify_state("STOPPING=1\nSTATUS=stopping");
	srv_stop_listening(d->srv);
	uv_timer_start(&d->grace, on_grace, 1000ULL * d->set->stop_grace_s, 0);
	jobs_stop(d->jobs, finish, d);
}

/*
 * Each named site's config, read now so that one the daemon cannot use
 * (a relative path, which no command's working directory resolves, a
 * syntax error) shows in the log at the start or reload, not first at a
 * nightly submit. A submit reads it again, as it is then.
 */
static void
check_sites(const struct settings *set)
{
	struct cfg_site *site;
	char err[1024];
	size_t i;

	for (i = 0; i < set->nsites; i++) {
		if (settings_site_load(set, set->sites[i].name, &site, err,
		    sizeof(err)) < 0)
			log_warn("site.unusable", "site=%s error=%s msg=%s",
			    set->sites[i].name, err, "its jobs will be refused "
			    "until its config is mended");
		cfg_site_free(site);
	}
}

static void
on_hup(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	struct settings *n;
	char err[1024];

	(void)signum;
	if (d->stopping)
		return;
	/* Signals run only once start() succeeded; finish() closes them. */
	assert(!d->stopped && d->jobs != NULL && d->mf != NULL);
	sd_notify_state("RELOADING=1");
	if (settings_load(d->file, &n, err, sizeof(err)) < 0) {
		log_err("settings.reload_failed", "error=%s msg=%s", err,
		    "SIGHUP: keeping the current settings");
		sd_notify_state("READY=1\nSTATUS=reload failed; see the log");
		return;
	}
	if (strcmp(n->state_dir, d->set->state_dir) != 0)
		log_warn("settings.not_applied", "key=state_dir msg=%s",
		    "state_dir changes only at the next start");
	log_set_level((enum log_level)n->log_level);
	check_sites(n);
	jobs_configure(d->jobs, n);
	srv_configure(d->srv, n);
	mf_configure(d->mf, n->metrics_file);
	settings_free(d->set);
	d->set = n;
	log_info("settings.reloaded", "sites=%zu", n->nsites);
	sd_notify_state("READY=1\nSTATUS=running; settings reloaded");
}

static void
render_metrics(void *arg, struct buf *out)
{
	jobs_metrics(arg, out);
}

static void
kick_metrics(void *arg)
{
	mf_kick(arg);
}

static int
start(struct daemon *d)
{
	char err[1024];
	int rc;

	make_dir(d->set->state_dir, 0700);
	make_dir(d->set->cache_dir, 0700);
	if ((rc = lock_state(d)) < 0)
		return rc;
	if ((rc = jst_open(&d->loop, d->set->state_dir, &d->store, err,
	    sizeof(err))) < 0) {
		log_err("store.open_failed", "error=%s", err);
		return rc;
	}
	jobs_new(&d->loop, d->store, d->set, &d->jobs);
	mf_new(&d->loop, d->set->metrics_file, render_metrics, d->jobs, &d->mf);
	jobs_on_ended(d->jobs, kick_metrics, d->mf);
	if ((rc = srv_open(&d->loop, d->set, ops_handle, d->jobs, &d->srv,
	    err, sizeof(err))) < 0) {
		log_err("socket.failed", "error=%s", err);
		return rc;
	}
	if ((rc = jobs_recover(d->jobs)) < 0) {
		log_err("store.resume_failed", "error=%s msg=%s", strerror(-rc),
		    "cannot read the job store to resume jobs");
		return rc;
	}
	return 0;
}

static void
signals(struct daemon *d)
{
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sighup);
	uv_timer_init(&d->loop, &d->grace);
	d->sigterm.data = d->sigint.data = d->sighup.data = d->grace.data = d;
	uv_signal_start(&d->sigterm, on_stop, SIGTERM);
	uv_signal_start(&d->sigint, on_stop, SIGINT);
	uv_signal_start(&d->sighup, on_hup, SIGHUP);
}

static void
walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * The proxy from the environment (systemd: Environment= in a drop-in),
 * said once at start, so that a unit that lacks it shows; one that
 * cannot be used stops the start, as a bad setting does.
 */
static void
say_proxy(void *arg, const char *shown, const char *var, const char *no_proxy)
{
	(void)arg;
	log_info("daemon.proxy", "proxy=%s from=%s no_proxy=%s", shown, var,
	    no_proxy);
}

static int
check_proxy(void)
{
	char err[256];

	if (siteup_proxy_check(say_proxy, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "quickpaged: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

int
daemon_run(const char *file)
{
	struct daemon d = { .file = file, .lockfd = -1 };
	char err[1024];
	int rc, status = 0;

	if (settings_load(file, &d.set, err, sizeof(err)) < 0) {
		fprintf(stderr, "quickpaged: %s\n", err);
		return 2;
	}
	log_init((enum log_level)d.set->log_level);
	check_sites(d.set);
	if (check_proxy() < 0) {
		settings_free(d.set);
		return 2;
	}
	/* A client that hangs up must not kill us on write. */
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&d.loop);
	signals(&d);
	if ((rc = start(&d)) < 0) {
		status = 1;
		finish(&d);
	} else {
		log_info("daemon.listening", "socket=%s sites=%zu "
		    "max_parallel_jobs=%u version=%s", d.set->socket,
		    d.set->nsites, d.set->max_parallel_jobs, QP_VERSION);
		sd_notify_state("READY=1\nSTATUS=running");
	}
	/* Returns once the store has no write out and no render runs. */
	uv_run(&d.loop, UV_RUN_DEFAULT);
	jst_close(d.store);
	/* Anything a module forgot would keep uv_loop_close from succeeding. */
	uv_walk(&d.loop, walk_close, NULL);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&d.loop);
	assert(rc == 0);
	if (d.lockfd >= 0)
		close(d.lockfd);
	if (status == 0)
		log_info("daemon.stopped", "status=%d", status);
	settings_free(d.set);
	return status;
}
