/* par: one function on a second thread (par.h). */
#include <assert.h>
#include <stdlib.h>

#include "base/par.h"

void
par_run(struct par *p, void (*fn)(void *), void *arg)
{
	assert(p != NULL && fn != NULL);	/* a function to run, once */
	p->threaded = uv_thread_create(&p->thread, fn, arg) == 0;
	if (!p->threaded)
		fn(arg);
}

void
par_wait(struct par *p)
{
	if (p->threaded && uv_thread_join(&p->thread) != 0)
		abort();	/* joining a thread we made cannot fail */
	p->threaded = 0;
}
