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

#include "limiter.h"

#define TRACE_KEEP	1024		/* samples lim_trace promises */
#define TRACE_CAP	(2 * TRACE_KEEP)

#define WIN_MIN		3		/* samples before a window may close */
#define WIN_MAX		32		/* samples kept per window */

#define R_GROW		1.15		/* median/floor at or below: grow */
#define R_SHRINK	1.30		/* above: shrink by the gradient */
#define R_SURE		1.60		/* one window this slow is enough */
#define R_TARGET	1.05		/* the ratio a shrink aims for */
#define G_MIN		0.50		/* the most one latency shrink takes */
#define G_MAX		0.90		/* the least one latency shrink takes */
#define BETA		0.70		/* shrink on overload or time-out */
#define UNDO_GAIN	0.95		/* a shrink that won this little was not queueing */
#define FLOOR_DOWN	0.50		/* floor moves this share toward a lower median */
#define FLOOR_UP	0.02		/* ... and this share toward a higher one */
#define PROBE_EVERY	16		/* windows between floor probes */
#define PROBE_SOON	2		/* ... or this many, when far past the knee */
#define GAP_UNKNOWN	0.1		/* decrease spacing before any latency is known */
#define PAUSE_MAX	600.0		/* longest Retry-After honoured, seconds */

enum win_kind {
	WIN_NORMAL,
	WIN_PROBE,		/* load halved to re-measure the floor */
	WIN_AFTER_SHRINK,	/* first window after a latency shrink */
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
	double		 win_start;
	unsigned	 win_peak;	/* most in flight since win_start */
	unsigned	 nsamp;
	double		 samp[WIN_MAX];
	unsigned	 nwin;		/* windows since the last probe */

	/* the last latency shrink, to undo it if it did nothing */
	double		 undo_limit;
	double		 undo_median;

	double		 last_m;	/* median of the last window */
	int		 high;		/* the last window was slow */
	double		 floor;		/* no-load latency estimate; 0: unknown */

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

/* The limit acquisitions obey: halved while probing. */
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
	/* Keep the buffer contiguous so lim_trace can hand out a pointer. */
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

static void
window_start(struct limiter *l, enum win_kind kind, double now)
{
	l->kind = kind;
	l->win_start = now;
	l->win_peak = l->in_flight;
	l->nsamp = 0;
	trace(l, now);
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

static double
median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmpd);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A window wants about half a limit's worth of samples: one round trip. */
static unsigned
window_target(const struct limiter *l)
{
	return clampu(effective(l) / 2.0, WIN_MIN, WIN_MAX);
}

static void
grow(struct limiter *l, double now)
{
	double peak = l->win_peak;

	/* Not using the limit says nothing about a bigger one. */
	if (peak * 2 < l->limit)
		return;
	if (l->limit < l->ssthresh) {
		double v = fmin(2 * l->limit, 2 * peak);

		if (v > l->ssthresh)
			v = l->ssthresh;
		set_limit(l, fmax(v, l->limit + 1), now);
	} else
		set_limit(l, l->limit + 1, now);
}

static void
window_close(struct limiter *l, double now)
{
	enum win_kind kind = l->kind;
	double m, r, g;
	int high;

	m = fmax(median(l->samp, l->nsamp), 1e-6);
	if (kind == WIN_PROBE && m * R_SHRINK < l->last_m) {
		/*
		 * Half the load was much faster: we are far past the knee
		 * (a start from a high initial limit). Probe again soon.
		 */
		l->nwin = PROBE_EVERY - PROBE_SOON;
	}
	if (kind == WIN_PROBE || l->floor == 0)
		l->floor = m;
	else if (m < l->floor)
		l->floor += (m - l->floor) * FLOOR_DOWN;
	else
		l->floor += (m - l->floor) * FLOOR_UP;
	if (kind == WIN_AFTER_SHRINK && m > l->undo_median * UNDO_GAIN) {
		/*
		 * Shrinking did not bring latency down, so the load was not
		 * queueing: the queries got slower. Take the new latency as
		 * the floor and give the limit back.
		 */
		l->floor = m;
		set_limit(l, fmax(l->limit, l->undo_limit), now);
	}
	r = m / l->floor;
	l->last_m = m;
	/*
	 * One window a little slow is noise as often as queueing: act on
	 * two in a row, or on one clearly slow.
	 */
	high = l->high;
	l->high = r > R_SHRINK;
	if (l->high && (high || r > R_SURE) && kind != WIN_PROBE) {
		g = fmin(fmax(R_TARGET / r, G_MIN), G_MAX);
		l->undo_limit = l->limit;
		l->undo_median = m;
		shrink(l, g, now);
		window_start(l, WIN_AFTER_SHRINK, now);
		return;
	}
	if (kind != WIN_PROBE && ++l->nwin >= PROBE_EVERY) {
		/* Halving the load is a decrease too: one per round trip. */
		l->nwin = 0;
		l->last_dec = now;
		window_start(l, WIN_PROBE, now);
		return;
	}
	/* A probe's latency was measured at half load: no reason to grow. */
	if (r <= R_GROW && kind != WIN_PROBE)
		grow(l, now);
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

static void
overload(struct limiter *l, double sent, double now)
{
	/*
	 * One decrease per round trip: answers to requests sent before the
	 * last decrease describe the old limit, not this one.
	 */
	if (sent < l->last_dec ||
	    now - l->last_dec < (l->floor > 0 ? l->floor : GAP_UNKNOWN))
		return;
	shrink(l, BETA, now);
	window_start(l, WIN_NORMAL, now);
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
	switch (o) {
	case LIM_OK:
		/* Only requests sent under this window's limit measure it. */
		if (sent < l->win_start)
			break;
		l->samp[l->nsamp++] = rtt_s;
		if (l->nsamp >= window_target(l) || l->nsamp == WIN_MAX)
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
