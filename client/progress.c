/* progress: see progress.h. */
#include <assert.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define TTY_EVERY	0.1	/* seconds between redraws */
#define PLAIN_EVERY	5.0	/* seconds between plain lines in one stage */

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
progress_init(struct progress *p, FILE *f)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->tty = isatty(fileno(f));
}

static void
eta(double s, char *buf, size_t len)
{
	/*
	 * A reply's eta_s is any JSON number: (int) of one past INT_MAX is
	 * undefined (tests/fuzz: protocol), and 30 years is no estimate.
	 */
	if (s < 0 || !(s < 1e9))
		snprintf(buf, len, "?");
	else if (s < 60)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, len, "%dh%02dm", (int)s / 3600,
		    ((int)s % 3600) / 60);
}

void
progress_state(const struct proto_job *j, char *buf, size_t len)
{
	char e[32];

	/* J comes from proto_job_parse: a known state, NUL-terminated text. */
	assert((unsigned)j->state < PROTO_NSTATES && len > 0);
	assert(memchr(j->stage, '\0', sizeof(j->stage)) != NULL);
	if (j->state == PROTO_QUEUED) {
		snprintf(buf, len, "queued");
		return;
	}
	eta(j->eta_s, e, sizeof(e));
	snprintf(buf, len, "%s %llu/%llu, %u in flight, limit %u, ETA %s",
	    j->stage, (unsigned long long)j->done,
	    (unsigned long long)j->total, j->in_flight, j->limit, e);
}

void
progress_format(const struct proto_job *j, char *buf, size_t len)
{
	char st[160];

	progress_state(j, st, sizeof(st));
	snprintf(buf, len, "job %lld %s: %s", (long long)j->id, j->site, st);
}

void
progress_clear(struct progress *p)
{
	assert(p->tty || !p->drawn);	/* a live line only on a terminal */
	if (p->tty && p->drawn) {
		fputs("\r\033[K", p->f);
		fflush(p->f);
	}
	p->drawn = 0;
}

void
progress_update(struct progress *p, const struct proto_job *j)
{
	double now = mono();
	int changed = strcmp(p->stage, j->stage) != 0;
	char line[512];

	assert(p->f != NULL);	/* progress_init ran */
	if (!changed && now - p->last < (p->tty ? TTY_EVERY : PLAIN_EVERY))
		return;
	snprintf(p->stage, sizeof(p->stage), "%s", j->stage);
	p->last = now;
	progress_format(j, line, sizeof(line));
	if (p->tty) {
		fprintf(p->f, "\r\033[K%s", line);
		p->drawn = 1;
	} else
		fprintf(p->f, "%s\n", line);
	fflush(p->f);
}
