/*
 * clock: the time and the one-shot timers a module runs on. Upstream asks
 * it for "now" and for its timers instead of asking libuv, so that a test
 * can give it a simulated clock and run retries, backoff and the limiter's
 * windows in simulated time (tests/unit/fakenp.c); the daemon gives it the
 * loop's (clk_uv).
 */
#ifndef QP_CLOCK_H
#define QP_CLOCK_H

#include <uv.h>

typedef void (*clk_cb)(void *arg);

/*
 * A clock. Timers are opaque handles made by timer_new; a started timer
 * fires once, later, from the clock's event loop, never inside the call
 * that started it; start on a started timer re-arms it; after stop or free
 * its callback does not run.
 */
struct clk_ops {
	double	 (*now)(void *ctx);		/* seconds, monotonic */
	void	*(*timer_new)(void *ctx, clk_cb cb, void *arg);
	void	 (*timer_start)(void *ctx, void *timer, double delay_s);
	void	 (*timer_stop)(void *ctx, void *timer);
	void	 (*timer_free)(void *ctx, void *timer);
};

struct clk {
	const struct clk_ops *ops;
	void		*ctx;
};

/* The libuv loop's clock: uv_now (brought up to date), uv_timer. */
void	 clk_uv(uv_loop_t *loop, struct clk *out);

double	 clk_now(const struct clk *c);
void	*clk_timer_new(const struct clk *c, clk_cb cb, void *arg);
void	 clk_timer_start(const struct clk *c, void *timer, double delay_s);
void	 clk_timer_stop(const struct clk *c, void *timer);
void	 clk_timer_free(const struct clk *c, void *timer);

#endif
