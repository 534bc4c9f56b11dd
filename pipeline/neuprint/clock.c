/* clock: see clock.h. */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "neuprint/clock.h"
#include "base/xmalloc.h"

struct uvt {
	uv_timer_t	 t;
	clk_cb		 cb;
	void		*arg;
};

static double
uv_clk_now(void *ctx)
{
	uv_loop_t *loop = ctx;

	/* The loop's cached time may be a whole callback's work old. */
	uv_update_time(loop);
	return (double)uv_now(loop) / 1000.0;
}

static void
uv_clk_fire(uv_timer_t *t)
{
	struct uvt *u = t->data;

	assert(!uv_is_closing((uv_handle_t *)t));	/* never after free */
	u->cb(u->arg);
}

static void *
uv_clk_timer_new(void *ctx, clk_cb cb, void *arg)
{
	struct uvt *u = xcalloc(1, sizeof(*u));

	uv_timer_init(ctx, &u->t);
	u->t.data = u;
	u->cb = cb;
	u->arg = arg;
	return u;
}

static void
uv_clk_timer_start(void *ctx, void *timer, double delay_s)
{
	struct uvt *u = timer;
	double ms = ceil(delay_s * 1000.0);

	(void)ctx;
	assert(!uv_is_closing((uv_handle_t *)&u->t));	/* not started after free */
	/* libuv runs a 0 ms timer on the next turn of the loop, not now. */
	uv_timer_start(&u->t, uv_clk_fire, ms > 0 ? (uint64_t)ms : 0, 0);
}

static void
uv_clk_timer_stop(void *ctx, void *timer)
{
	struct uvt *u = timer;

	(void)ctx;
	uv_timer_stop(&u->t);
}

static void
uv_clk_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
uv_clk_timer_free(void *ctx, void *timer)
{
	struct uvt *u = timer;

	(void)ctx;
	if (u == NULL)
		return;
	assert(!uv_is_closing((uv_handle_t *)&u->t));	/* a timer is freed once */
	uv_timer_stop(&u->t);
	uv_close((uv_handle_t *)&u->t, uv_clk_closed);
}

static const struct clk_ops uv_clk_ops = {
	uv_clk_now, uv_clk_timer_new, uv_clk_timer_start, uv_clk_timer_stop,
	uv_clk_timer_free,
};

void
clk_uv(uv_loop_t *loop, struct clk *out)
{
	out->ops = &uv_clk_ops;
	out->ctx = loop;
}

double
clk_now(const struct clk *c)
{
	return c->ops->now(c->ctx);
}

void *
clk_timer_new(const struct clk *c, clk_cb cb, void *arg)
{
	assert(cb != NULL);	/* a started timer fires into it */
	return c->ops->timer_new(c->ctx, cb, arg);
}

void
clk_timer_start(const struct clk *c, void *timer, double delay_s)
{
	assert(timer != NULL);	/* made by clk_timer_new, which cannot fail */
	c->ops->timer_start(c->ctx, timer, delay_s);
}

void
clk_timer_stop(const struct clk *c, void *timer)
{
	c->ops->timer_stop(c->ctx, timer);
}

void
clk_timer_free(const struct clk *c, void *timer)
{
	c->ops->timer_free(c->ctx, timer);
}
