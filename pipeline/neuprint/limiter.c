/*
 * limiter: an adaptive limit on requests in flight to one server.
 *
 * TCP Vegas applied to the server's queue. By Little's law the requests
 * waiting at the server are the load times the share of latency spent
 * waiting, so after each window of answers the limit moves to keep about
 * ALPHA of them queued: enough that a slot never idles, few enough that
 * latency stays at its floor.
 *
 * Raw latency cannot tell waiting from work on neuPrint: one batch of
 * types can cost the server thirty times another. So each answer comes
 * with its size (the neurons it covered) and its query shape, and per
 * shape the limiter fits latency = a + b * size over recent answers.
 * What the size does not explain, the "excess", is network plus waiting;
 * its floor (tracked low, and re-measured now and then by halving the
 * load, as BBR does) is the network, and the rest is queue.
 *
 * Answers of unknown size count whole, which is plain Vegas; their
 * latency varies with the mix of work as much as with the queue, so then
 * only a queue of RAW_SHARE of the load counts, and only two windows in a
 * row of it.
 *
 * Overload (429/503) and time-outs cut by BETA, once per round trip.
 * docs/concurrency.md has the reasoning and the measurements. No clock of
 * its own: every call gets NOW, so tests can drive it.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "neuprint/limiter.h"
#include "base/xmalloc.h"

#define TRACE_KEEP	1024		/* samples lim_trace promises */
#define TRACE_CAP	(2 * TRACE_KEEP)

#define WIN_MIN		3		/* answers before a window may close */
#define WIN_MAX		32		/* answers kept per window */
#define FIT_KEEP	(1.0 - 1.0 / 512) /* the size fit's memory: 512 answers */
#define FIT_MIN		8		/* answers of a shape before its fit counts */
#define ALPHA		0.5		/* requests queued at the server we aim for */
#define RAW_SHARE	0.15		/* ... or this share of the load, unsized */
#define SLACK		1.5		/* a queue past SLACK * ALPHA is cut */
#define CUT_KEEP	0.25		/* one cut keeps at least this share ... */
#define RAW_KEEP	0.50		/* ... or this, unsized */
#define FLOOR_DOWN	0.50		/* floors move this share toward a lower median */
#define FLOOR_UP	0.02		/* ... and this share toward a higher one */
#define PROBE_EVERY	16		/* windows between floor probes */
#define BETA		0.70		/* cut on overload or time-out */
#define GAP_UNKNOWN	0.1		/* decrease spacing before any latency is known */
#define PAUSE_MAX	600.0		/* longest Retry-After honoured, seconds */

/* Exponentially weighted sums for latency = a + b * size. */
struct fit {
	double	 n, w, ww, r, wr;
};

struct limiter {
	unsigned	 min, max;
	double		 limit;		/* fractional; acquisitions use its floor */
	double		 ssthresh;	/* slow start below this */
	unsigned	 in_flight;
	double		 t0;
	double		 pause_until;
	double		 last_dec;	/* time of the last decrease */

	/* the current window of answers */
	int		 probe;		/* run at half the limit */
	double		 win_start;
	unsigned	 win_peak;	/* most in flight since win_start */
	unsigned	 nsamp;
	unsigned	 nsized;	/* answers whose size the fit explained */
	double		 excess[WIN_MAX];
	double		 rtt[WIN_MAX];
	unsigned	 nwin;		/* windows since the last probe */

	/* answers to the last window's requests that came after it closed */
	double		 late_start;	/* sent since then; INFINITY: none wanted */
	double		 late_load;	/* under this load */
	unsigned	 nlate;
	double		 late_excess[WIN_MIN];
	double		 late_rtt[WIN_MIN];

	double		 base;		/* excess with no queue: the network */
	double		 rtt_floor;	/* round trip with no queue; 0: unknown */
	int		 high;		/* the last window's queue was too long */

	struct fit	 fit[LIM_KINDS];

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

	if (l->probe)
		v /= 2;
	assert(l->min >= 1 && l->min <= l->max);	/* lim_new refused others */
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
	assert(l->ntrace < TRACE_CAP);	/* room made above */
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
	/* The limit never leaves [min, max], so never goes below 1. */
	assert(v >= l->min && v <= l->max && l->min >= 1);
	l->limit = v;
	trace(l, now);
}

static void
window_start(struct limiter *l, int probe, double now)
{
	l->probe = probe;
	l->win_start = now;
	l->win_peak = l->in_flight;
	l->nsamp = 0;
	l->nsized = 0;
	trace(l, now);
}

static void
cut(struct limiter *l, double v, double now)
{
	l->late_start = INFINITY;
	set_limit(l, v, now);
	l->ssthresh = l->limit;
	l->last_dec = now;
	window_start(l, 0, now);
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
	assert(n > 0);		/* a window closes only on answers */
	qsort(v, n, sizeof(*v), cmpd);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A window wants about half a limit's worth of answers: one round trip. */
static unsigned
window_target(const struct limiter *l)
{
	return clampu(effective(l) / 2.0, WIN_MIN, WIN_MAX);
}

/*
 * The part of an answer's latency its size does not explain. The fit
 * runs over answers at every load: waiting in a FIFO queue does not
 * depend on one's own size, so it moves a, not b.
 */
static int
excess(struct limiter *l, const struct lim_answer *a, double rtt, double *e)
{
	struct fit *f = &l->fit[a->kind < LIM_KINDS ? a->kind : LIM_KINDS - 1];
	double mw, mr, var, b;

	*e = rtt;
	if (!(a->work > 0))
		return 0;
	f->n = f->n * FIT_KEEP + 1;
	f->w = f->w * FIT_KEEP + a->work;
	f->ww = f->ww * FIT_KEEP + a->work * a->work;
	f->r = f->r * FIT_KEEP + rtt;
	f->wr = f->wr * FIT_KEEP + a->work * rtt;
	if (f->n < FIT_MIN)
		return 0;
	mw = f->w / f->n;
	mr = f->r / f->n;
	var = f->ww / f->n - mw * mw;
	if (!(var > 0))
		return 0;	/* one size only: no slope to fit */
	/* 0 <= b and a >= 0: size never explains more than all of it. */
	b = fmin(fmax((f->wr / f->n - mw * mr) / var, 0), mr / mw);
	*e = fmax(rtt - b * a->work, 0);
	return 1;
}

/*
 * A floor follows lower medians quickly and higher ones slowly, since a
 * median above it is as likely queueing as a change; a probe (half the
 * load) sets it outright.
 */
static void
track(double *floor, double m, int probe)
{
	if (probe || *floor == 0)
		*floor = m;
	else if (m < *floor)
		*floor += (m - *floor) * FLOOR_DOWN;
	else
		*floor += (m - *floor) * FLOOR_UP;
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
cut_queue(struct limiter *l, double q, double alpha, double keep, double now)
{
	cut(l, fmax(l->limit - (q - alpha), l->limit * keep), now);
}

/* At most one decrease per round trip, whatever its cause. */
static int
round_trip_since_cut(const struct limiter *l, double now)
{
	return now - l->last_dec >= (l->rtt_floor > 0 ? l->rtt_floor :
	    GAP_UNKNOWN);
}

/* Little's law: the load times the share of latency spent waiting. */
static double
queue_len(const struct limiter *l, double load, double e, double r)
{
	return load * fmax(e - l->base, 0) / fmax(r, 1e-6);
}

/*
 * A window closes on its first answers; its other requests are still out,
 * and when the queue has just grown (the server lost capacity) they come
 * back one by one, seconds later, while the next window waits for
 * answers sent after them. They need not be waited out: what they show,
 * less the load cut since, is the queue now.
 */
static void
expect_late(struct limiter *l, double since, double load)
{
	l->late_start = since;
	l->late_load = load;
	l->nlate = 0;
}

static void
late(struct limiter *l, double e, double rtt, double now)
{
	double q, since = l->win_start, load = fmax(l->win_peak, 1);

	/* expect_late zeroes nlate; a full set ends in a verdict or a reset. */
	assert(l->nlate < WIN_MIN);
	l->late_excess[l->nlate] = e;
	l->late_rtt[l->nlate++] = rtt;
	if (l->nlate < WIN_MIN)
		return;
	if (!round_trip_since_cut(l, now)) {
		l->nlate = 0;		/* too soon: listen on */
		return;
	}
	l->late_start = INFINITY;	/* one verdict per window */
	/*
	 * Less the load cut since. Load added since is not counted: below
	 * the knee it does not queue, and slow start adds a lot.
	 */
	q = queue_len(l, l->late_load, median(l->late_excess, l->nlate),
	    median(l->late_rtt, l->nlate)) - fmax(l->late_load - l->limit, 0);
	if (q > SLACK * ALPHA) {
		cut_queue(l, q, ALPHA, CUT_KEEP, now);
		expect_late(l, since, load);
	}
}

static void
window_close(struct limiter *l, double now)
{
	double e, r, q, alpha, win_start = l->win_start;
	double load = fmax(l->win_peak, 1);
	int probe = l->probe, sized, high;

	assert(l->nsamp > 0 && l->nsamp <= WIN_MAX && l->nsized <= l->nsamp);
	e = median(l->excess, l->nsamp);
	r = fmax(median(l->rtt, l->nsamp), 1e-6);
	track(&l->base, e, probe);
	track(&l->rtt_floor, r, probe);
	q = queue_len(l, load, e, r);
	sized = l->nsized * 2 >= l->nsamp;
	alpha = sized ? ALPHA : fmax(ALPHA, RAW_SHARE * load);
	if (probe) {
		/* Measured at half load to refresh the floors: no verdict. */
		window_start(l, 0, now);
		return;
	}
	high = l->high;
	l->high = q > SLACK * alpha;
	if (l->high && (sized || high)) {
		/* Take the surplus queue off at once, but not all the limit. */
		cut_queue(l, q, alpha, sized ? CUT_KEEP : RAW_KEEP, now);
	} else if (++l->nwin >= PROBE_EVERY) {
		/* Halving the load is a decrease too: one per round trip. */
		l->nwin = 0;
		l->last_dec = now;
		window_start(l, 1, now);
	} else {
		if (q < alpha)
			grow(l, now);
		window_start(l, 0, now);
	}
	if (sized)
		expect_late(l, win_start, load);
}

int
lim_new(unsigned min, unsigned initial, unsigned max, double now,
    struct limiter **out)
{
	struct limiter *l;

	if (min == 0 || min > max)
		return -EINVAL;
	l = xcalloc(1, sizeof(*l));
	l->min = min;
	l->max = max;
	l->t0 = now;
	l->limit = clampu(initial, min, max);
	l->ssthresh = max;
	l->last_dec = -INFINITY;
	l->late_start = INFINITY;
	l->nwin = PROBE_EVERY - 1;	/* the first floors may be measured overloaded */
	window_start(l, 0, now);
	assert(l->limit >= 1);		/* min >= 1: the limit never goes below 1 */
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
	/* A slot is taken only under the limit, and the limit is <= max. */
	assert(l->in_flight <= l->max);
	return 1;
}

static void
overload(struct limiter *l, double sent, double now)
{
	/*
	 * Answers to requests sent before the last decrease describe the
	 * old limit, not this one.
	 */
	if (sent < l->last_dec || !round_trip_since_cut(l, now))
		return;
	cut(l, l->limit * BETA, now);
}

static void
answered(struct limiter *l, const struct lim_answer *a, double rtt, double now)
{
	double e;
	int sized = excess(l, a, rtt, &e);	/* every answer feeds the fit */

	/* Only requests sent under this window's limit measure it. */
	if (now - rtt < l->win_start) {
		if (now - rtt >= l->late_start && sized)
			late(l, e, rtt, now);
		return;
	}
	/* A window closes at WIN_MAX answers at the latest (below). */
	assert(l->nsamp < WIN_MAX);
	l->excess[l->nsamp] = e;
	l->rtt[l->nsamp++] = rtt;
	l->nsized += sized != 0;
	if (l->nsamp >= window_target(l) || l->nsamp == WIN_MAX)
		window_close(l, now);
}

void
lim_release(struct limiter *l, enum lim_outcome o,
    const struct lim_answer *a, double now)
{
	double sent, rtt_s = a && a->rtt_s >= 0 ? a->rtt_s : 0;	/* NaN too */

	/* Every release gives back a slot lim_acquire took: never negative. */
	assert(l->in_flight > 0);
	if (l->in_flight > 0)
		l->in_flight--;
	sent = now - rtt_s;
	switch (o) {
	case LIM_OK:
		if (a != NULL)
			answered(l, a, rtt_s, now);
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
	assert(seconds > 0 && seconds <= PAUSE_MAX);	/* capped, NaN refused */
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

	assert(l->ntrace <= TRACE_CAP);	/* the buffer stays contiguous */
	*out = l->trace + l->ntrace - n;
	return n;
}
