/*
 * progress: how qpctl shows a job while it runs. On a terminal, one line
 * redrawn in place (stage, done/total, requests in flight, limit, ETA);
 * otherwise a plain line when the stage changes and every few seconds.
 */
#ifndef QP_PROGRESS_H
#define QP_PROGRESS_H

#include <stdio.h>

#include "protocol.h"

struct progress {
	FILE	*f;
	int	 tty;
	int	 drawn;		/* a live line is on the screen */
	double	 last;		/* when the last line was printed */
	char	 stage[16];
};

void	 progress_init(struct progress *p, FILE *f);
void	 progress_update(struct progress *p, const struct proto_job *j);
/* Clear the live line (before other output). */
void	 progress_clear(struct progress *p);
/* Where J stands: "fetch 120/400, 8 in flight, limit 16, ETA 3s", "queued". */
void	 progress_state(const struct proto_job *j, char *buf, size_t len);
/* One line describing J: "job 7 cns: " and its progress_state. */
void	 progress_format(const struct proto_job *j, char *buf, size_t len);

#endif
