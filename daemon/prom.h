/*
 * prom: the Prometheus text exposition format (version 0.0.4), as
 * node_exporter's textfile collector and every scraper read it. A family
 * is its HELP and TYPE lines followed by its samples; the caller writes
 * each family's samples together, which the format requires.
 */
#ifndef QP_PROM_H
#define QP_PROM_H

#include "base/buf.h"

/* "# HELP NAME HELP\n# TYPE NAME TYPE\n"; HELP is escaped (\\, \n). */
void	 prom_family(struct buf *b, const char *name, const char *type,
	    const char *help);
/*
 * Add KEY="VALUE" to the label set L (a buf holding "k1=\"v1\",..."),
 * VALUE escaped as the format says (\\, \", \n).
 */
void	 prom_label(struct buf *l, const char *key, const char *value);
/* "NAME{LABELS} VALUE\n"; LABELS may be NULL or empty; +Inf, NaN spelled out. */
void	 prom_sample(struct buf *b, const char *name, const struct buf *labels,
	    double value);

#endif
