/*
 * limiter: an adaptive limit on requests in flight to one server.
 *
 * Windowed AIMD with a latency gradient, after TCP (slow start, one
 * decrease per round trip), Netflix's concurrency-limits (the limit
 * follows the ratio of no-load latency to current latency) and BBR (the
 * no-load latency is re-measured by briefly halving the load). The
 * constants and the reasons for them are in docs/concurrency.md.
 *
 * No clock of its own: every call gets NOW, so tests can drive it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "limiter.h"	/* pipeline/limiter.h: the same API */

#define TRACE_KEEP	1024		/* samples lim_trace promises */
#define TRACE_CAP	(2 * TRACE_KEEP)

#define WIN_MIN		8		/* samples before a window may close */
#define WIN_MAX		32		/* samples kept per window */
#ifndef WMUL
#define WMUL 1.0
#endif
#define EARLY_MIN	4		/* samples before an early close */

#define D_GROW		0.14		/* log(stat/floor) at or below: grow (1.15x) */
#define D_SHRINK	0.34		/* above: shrink, on two windows (1.4x) */
#define D_EARLY		1.00		/* the last few all this slow: close now (2.7x) */
#define D_SURE		0.69		/* one window this slow is enough (2x) */
#define G_MIN		0.50		/* the most one latency shrink takes */
#define G_MAX		0.90		/* the least one latency shrink takes */
#define BETA		0.70		/* shrink on overload or time-out */
#define ALPHA		0.125		/* floor's share of each calm window */
#define ALPHA_PROBE	0.50		/* ... of a probe */
#define PROBE_EVERY	12		/* windows between floor probes */
#define PROBE_SOON	2		/* ... after shrinks that did not help */
#define GAP_UNKNOWN	0.1		/* decrease spacing before any latency is known */
#define PAUSE_MAX	600.0		/* longest Retry-After honoured, seconds */

enum win_kind {
	WIN_NORMAL,
	WIN_PROBE,		/* load halved to re-measure the floor */
};

struct limiter {
	unsigned	 min, max;
	double		 limit;		/* fractional; acquisitions use its floor */
	double		 ssthresh;	/* slow start below this */
	unsigned	 in_flight;
	double		 t0;
	double		 pause_until;
	double		 last_dec;	/* time of the last decrease */

	/* the current measurement window */
	enum win_kind	 kind;
	int		 armed;		/* in_flight was down to the limit */
	double		 win_start;
	unsigned	 win_peak;	/* most in flight since win_start */
	unsigned	 nsamp;
	double		 samp[WIN_MAX];
	unsigned	 nwin;		/* windows since the last probe */
	unsigned	 nhigh;		/* slow windows in a row */
	unsigned	 ncalm;		/* windows at the floor in a row */

	int		 have_floor;
	double		 floor;		/* log of the no-load statistic */

	unsigned	 traced;	/* limit of the newest trace sample */
	size_t		 ntrace;
	struct lim_sample trace[TRACE_CAP];
};

static unsigned
clampu(double v, unsigned lo, unsigned hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return (unsigned)v;
}

static unsigned
effective(const struct limiter *l)
{
	double v = l->limit;

	if (l->kind == WIN_PROBE)
		v /= 2;
	return clampu(v, l->min, l->max);
}

static void
trace(struct limiter *l, double now)
{
	struct lim_sample *s;
	unsigned lim = effective(l);

	if (lim == l->traced && l->ntrace > 0)
		return;
	if (l->ntrace == TRACE_CAP) {
		memmove(l->trace, l->trace + TRACE_CAP - TRACE_KEEP + 1,
		    (TRACE_KEEP - 1) * sizeof(l->trace[0]));
		l->ntrace = TRACE_KEEP - 1;
	}
	s = &l->trace[l->ntrace++];
	s->t = now - l->t0;
	s->limit = lim;
	s->in_flight = l->in_flight;
	l->traced = lim;
}

static void
set_limit(struct limiter *l, double v, double now)
{
	if (v < l->min)
		v = l->min;
	if (v > l->max)
		v = l->max;
	l->limit = v;
	trace(l, now);
}

/* A window measures only requests sent once in_flight is within the limit. */
static void
arm(struct limiter *l, double now)
{
	if (l->armed || l->in_flight > effective(l))
		return;
	l->armed = 1;
	l->win_start = now;
	l->win_peak = l->in_flight;
	l->nsamp = 0;
}

static void
window_start(struct limiter *l, enum win_kind kind, double now)
{
	l->kind = kind;
	l->armed = 0;
	l->nsamp = 0;
	trace(l, now);
	arm(l, now);
}

static void
shrink(struct limiter *l, double factor, double now)
{
	set_limit(l, l->limit * factor, now);
	l->ssthresh = l->limit;
	l->last_dec = now;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The window's statistic: log of its lower quartile. Queueing adds the
 * same wait to every request, which lifts the fast ones most; the mix of
 * cheap and dear queries spreads the slow ones most.
 */
static double
stat(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmpd);
	return log(fmax(v[(n - 1) / 4], 1e-6));
}

static unsigned
window_target(const struct limiter *l)
{
	return clampu(WMUL * effective(l), WIN_MIN, WIN_MAX);
}

static void
grow(struct limiter *l, double now)
{
	double peak = l->win_peak;

	if (peak * 2 < l->limit)
		return;
	if (l->limit < l->ssthresh) {
		double v = fmin(2 * l->limit, 2 * peak);

		if (v > l->ssthresh)
			v = l->ssthresh;
		set_limit(l, fmax(v, l->limit + 1), now);
	} else
		set_limit(l, l->limit + l->ncalm, now);
}

static void
window_close(struct limiter *l, double now)
{
	enum win_kind kind = l->kind;
	double x, d, g;

	x = stat(l->samp, l->nsamp);
	if (!l->have_floor) {
		l->floor = x;
		l->have_floor = 1;
	}
	d = x - l->floor;
#ifdef DEBUG
	fprintf(stderr, "%6.2f %s lim %5.2f n %2u d %+.2f floor %.3f\n", now - l->t0,
	    kind == WIN_PROBE ? "P" : " ", l->limit, l->nsamp, d, exp(l->floor));
#endif
	if (kind == WIN_PROBE) {
		l->floor += (x - l->floor) * ALPHA_PROBE;
		l->nhigh = 0;
		window_start(l, WIN_NORMAL, now);
		return;
	}
	if (d <= D_SHRINK)
		l->floor += (x - l->floor) * ALPHA;
	l->nhigh = d > D_SHRINK ? l->nhigh + 1 : 0;
	l->ncalm = d <= D_GROW ? l->ncalm + 1 : 0;
	if (d > D_SURE || l->nhigh >= 2) {
		g = fmin(fmax(exp(-d) * 1.1, G_MIN), G_MAX);
		shrink(l, g, now);
		/* Slow after a shrink too: the queries may have got dearer. */
		if (l->nhigh >= 3 && l->nwin < PROBE_EVERY - PROBE_SOON)
			l->nwin = PROBE_EVERY - PROBE_SOON;
		if (l->nhigh >= 2)
			l->nhigh = 1;
	} else if (d <= D_GROW)
		grow(l, now);
	if (++l->nwin >= PROBE_EVERY) {
		l->nwin = 0;
		l->last_dec = now;
		window_start(l, WIN_PROBE, now);
		return;
	}
	window_start(l, WIN_NORMAL, now);
}

int
lim_new(unsigned min, unsigned initial, unsigned max, double now,
    struct limiter **out)
{
	struct limiter *l;

	if (min == 0 || min > max)
		return -EINVAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
	l->min = min;
	l->max = max;
	l->t0 = now;
	l->limit = clampu(initial, min, max);
	l->ssthresh = max;
	l->last_dec = -INFINITY;
	l->nwin = PROBE_EVERY - 1;	/* the first floor may be measured overloaded */
	window_start(l, WIN_NORMAL, now);
	*out = l;
	return 0;
}

void
lim_free(struct limiter *l)
{
	free(l);
}

int
lim_acquire(struct limiter *l, double now)
{
	if (now < l->pause_until)
		return 0;
	if (l->in_flight >= effective(l))
		return 0;
	l->in_flight++;
	if (l->in_flight > l->win_peak)
		l->win_peak = l->in_flight;
	return 1;
}

/* Even the fastest of a few answers is far past the floor: do not wait. */
static int
early(struct limiter *l)
{
	unsigned i;
	double lo = INFINITY;

	if (!l->have_floor || l->kind == WIN_PROBE || l->nsamp < EARLY_MIN)
		return 0;
	for (i = l->nsamp - EARLY_MIN; i < l->nsamp; i++)
		lo = fmin(lo, l->samp[i]);
	return log(fmax(lo, 1e-6)) - l->floor > D_EARLY;
}

static void
overload(struct limiter *l, double sent, double now)
{
	/*
	 * One decrease per round trip: answers to requests sent before the
	 * last decrease describe the old limit, not this one.
	 */
	if (sent < l->last_dec ||
	    now - l->last_dec < (l->have_floor ? exp(l->floor) : GAP_UNKNOWN))
		return;
	shrink(l, BETA, now);
	l->nhigh = 0;
	window_start(l, l->kind, now);
}

void
lim_release(struct limiter *l, enum lim_outcome o, double rtt_s, double now)
{
	double sent;

	if (l->in_flight > 0)
		l->in_flight--;
	if (!(rtt_s >= 0))	/* also NaN */
		rtt_s = 0;
	sent = now - rtt_s;
	arm(l, now);
	switch (o) {
	case LIM_OK:
		/* Only requests sent under this window's limit measure it. */
		if (!l->armed || sent < l->win_start)
			break;
		l->samp[l->nsamp++] = rtt_s;
		if (l->nsamp >= window_target(l) || l->nsamp == WIN_MAX ||
		    early(l))
			window_close(l, now);
		break;
	case LIM_OVERLOAD:
	case LIM_TIMEOUT:
		overload(l, sent, now);
		break;
	case LIM_ERROR:
	case LIM_DROPPED:
		break;
	}
}

void
lim_pause(struct limiter *l, double seconds, double now)
{
	double until;

	if (!(seconds > 0))
		return;
	if (seconds > PAUSE_MAX)
		seconds = PAUSE_MAX;
	until = now + seconds;
	if (until > l->pause_until)
		l->pause_until = until;
}

double
lim_pause_left(const struct limiter *l, double now)
{
	return l->pause_until > now ? l->pause_until - now : 0;
}

unsigned
lim_limit(const struct limiter *l)
{
	return effective(l);
}

unsigned
lim_in_flight(const struct limiter *l)
{
	return l->in_flight;
}

size_t
lim_trace(const struct limiter *l, const struct lim_sample **out)
{
	size_t n = l->ntrace < TRACE_KEEP ? l->ntrace : TRACE_KEEP;

	*out = l->trace + l->ntrace - n;
	return n;
}
