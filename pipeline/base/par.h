/*
 * par: one function run on a second thread while the caller goes on, for
 * the render stage, whose outputs are built from the same read-only types
 * and are independent until they are staged. par_run starts FN(ARG);
 * par_wait returns once it has returned, and returns at once on a par
 * that is zeroed or already waited for. When no thread can be made, FN
 * runs inside par_run instead: the same result, later.
 */
#ifndef QP_PAR_H
#define QP_PAR_H

#include <uv.h>

struct par {
	uv_thread_t	 thread;
	int		 threaded;	/* else FN already ran in par_run */
};

void	par_run(struct par *p, void (*fn)(void *), void *arg);
void	par_wait(struct par *p);

#endif
