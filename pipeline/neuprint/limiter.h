/*
 * limiter: how many requests may be in flight to one neuPrint server.
 * Shared by every job that talks to that server. docs/concurrency.md has
 * the algorithm and its constants.
 */
#ifndef QP_LIMITER_H
#define QP_LIMITER_H

#include <stddef.h>

struct limiter;			/* opaque */

enum lim_outcome {
	LIM_OK,			/* answered in time */
	LIM_OVERLOAD,		/* 429, 503, 502, 504: the server said it is busy */
	LIM_TIMEOUT,		/* our time-out or the server's query time-out */
	LIM_ERROR,		/* other failure: does not move the limit */
	LIM_DROPPED,		/* cancelled: does not move the limit */
};

/* Query shapes told apart; a larger kind counts as the last. */
#define LIM_KINDS	4

/* What an answer tells besides its outcome. */
struct lim_answer {
	double	 rtt_s;		/* from send to answer */
	double	 work;		/* what it covered in the caller's unit (neurons);
				   0: not known */
	unsigned kind;		/* its query shape: work is compared within one */
};

struct lim_sample {
	double	 t;		/* seconds since the limiter was made */
	unsigned limit;
	unsigned in_flight;
};

/*
 * NOW is the caller's clock in seconds (uv_now / 1000.0). 0, or -EINVAL
 * when not 1 <= MIN <= MAX.
 */
int	 lim_new(unsigned min, unsigned initial, unsigned max, double now,
	    struct limiter **out);
void	 lim_free(struct limiter *l);

/* 1 and a slot taken, or 0 when at the limit or inside a Retry-After pause. */
int	 lim_acquire(struct limiter *l, double now);
/* Give a slot back with what happened; A may be NULL (nothing measured). */
void	 lim_release(struct limiter *l, enum lim_outcome o,
	    const struct lim_answer *a, double now);
/* The server asked us to wait SECONDS (Retry-After). */
void	 lim_pause(struct limiter *l, double seconds, double now);
/* Seconds until a pause ends, 0 if none. */
double	 lim_pause_left(const struct limiter *l, double now);

unsigned lim_limit(const struct limiter *l);
unsigned lim_in_flight(const struct limiter *l);
/* Limit changes so far (oldest first, at most the last 1024). */
size_t	 lim_trace(const struct limiter *l, const struct lim_sample **out);

#endif
