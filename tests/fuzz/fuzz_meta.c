/*
 * libFuzzer harness: neuPrint's answer to META (an HTTP body) as the job
 * reads it: cy_parse, then roi_meta_parse (primaryRois and the
 * roiHierarchy string). A meta that loads is summarized under both rule
 * sets with synapses in every primary ROI, so the hierarchy's parents are
 * looked up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "neuprint/cypher.h"
#include "index/roi.h"
#include "base/xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
summarize(struct roi_meta *m, enum roi_ruleset set)
{
	struct roi_rules rules = { set, 1.5 };
	struct roi_summary s;
	struct roi_acc a;
	size_t i;

	roi_meta_set_rules(m, &rules);
	roi_acc_init(&a, m);
	for (i = 0; i < a.n; i++) {
		roi_acc_add(&a, (int)i, (int64_t)(i % 7) * 100 + 1,
		    (int64_t)(i % 3) * 50);
		if (roi_primary_index(m, roi_primary_name(m, i)) != (int)i)
			abort();	/* the index finds what it holds */
	}
	roi_summarize(m, &a, &s);
	if (set == ROI_RULES_QUICKPAGE && s.n > ROI_SUMMARY_MAX)
		abort();
	roi_summary_free(&s);
	roi_acc_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cy_result r;
	struct roi_meta *m;
	char err[300];

	err[0] = '\0';
	if (cy_parse((const char *)data, size, &r, err, sizeof(err)) < 0)
		return 0;
	if (roi_meta_parse(&r, &m, err, sizeof(err)) == 0) {
		summarize(m, ROI_RULES_QUICKPAGE);
		summarize(m, ROI_RULES_NEUVIEW);
		roi_meta_free(m);
	} else if (m != NULL || err[0] == '\0')
		abort();
	cy_result_free(&r);
	return 0;
}
