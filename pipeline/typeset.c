/*
 * typeset: what the index says about each type. Accumulators collect the
 * rows fetch parses (per candidate type name); ts_finish turns the winner's
 * accumulator into the final record render reads.
 */
#include <stdlib.h>
#include <string.h>

#include "typeset.h"
#include "xmalloc.h"

/* Neurons (or CELLS counts) seen with one neurotransmitter. */
struct ts_nt {
	char	*name;
	int64_t	 n;
};

void
ts_acc_init(struct ts_acc *a, const char *name, const struct roi_meta *m)
{
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	roi_acc_init(&a->roi, m);
}

void
ts_acc_free(struct ts_acc *a)
{
	size_t i;

	if (a == NULL)
		return;
	free(a->name);
	for (i = 0; i < a->nnts; i++)
		free(a->nts[i].name);
	free(a->nts);
	roi_acc_free(&a->roi);
	memset(a, 0, sizeof(*a));
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* somaSide when L, R or M; else the instance's _L / _R suffix; else none. */
static int
side_of(const char *side, const char *instance)
{
	if (side != NULL && side[0] != '\0' && side[1] == '\0') {
		switch (side[0]) {
		case 'L': return TS_LEFT;
		case 'R': return TS_RIGHT;
		case 'M': return TS_MIDDLE;
		}
	}
	if (instance != NULL) {
		if (ends_with(instance, "_L"))
			return TS_LEFT;
		if (ends_with(instance, "_R"))
			return TS_RIGHT;
	}
	return -1;
}

/* A type has a handful of neurotransmitters at most: a list will do. */
static void
nt_add(struct ts_acc *a, const char *nt, int64_t n)
{
	size_t i;

	for (i = 0; i < a->nnts; i++) {
		if (strcmp(a->nts[i].name, nt) == 0) {
			a->nts[i].n += n;
			return;
		}
	}
	a->nts = xreallocarray(a->nts, a->nnts + 1, sizeof(*a->nts));
	a->nts[a->nnts].name = xstrdup(nt);
	a->nts[a->nnts++].n = n;
}

void
ts_acc_add_cells(struct ts_acc *a, const char *side, const char *instance,
    const char *nt, int64_t cells, int64_t pre, int64_t post)
{
	int s = side_of(side, instance);

	a->seen = 1;
	a->count[TS_TOTAL] += cells;
	if (s >= 0)
		a->count[s] += cells;
	a->pre += pre;
	a->post += post;
	if (nt != NULL)
		nt_add(a, nt, cells);
}

void
ts_acc_add_roi(struct ts_acc *a, const struct roi_meta *m, const char *roi,
    int64_t pre, int64_t post)
{
	a->seen = 1;
	roi_acc_add(&a->roi, roi_primary_index(m, roi), pre, post);
}

int
ts_acc_add_neuron(struct ts_acc *a, const struct roi_meta *m,
    const char *side, const char *instance, const char *nt, int64_t pre,
    int64_t post, const char *roi_info)
{
	ts_acc_add_cells(a, side, instance, nt, 1, pre, post);
	return roi_acc_add_info(&a->roi, m, roi_info);
}

/* Most frequent; ties to the smallest name; NULL when none. */
static const char *
consensus(const struct ts_acc *a)
{
	const struct ts_nt *best = NULL, *t;
	size_t i;

	for (i = 0; i < a->nnts; i++) {
		t = &a->nts[i];
		if (t->n <= 0)
			continue;
		if (best == NULL || t->n > best->n ||
		    (t->n == best->n && strcmp(t->name, best->name) < 0))
			best = t;
	}
	return best ? best->name : NULL;
}

static void
copy_page(struct ts_type *t, const struct scan_stem *s, const char *name)
{
	int i;

	t->name = xstrdup(name);
	for (i = 0; i < SIDE_COUNT; i++)
		if (s->file[i] != NULL)
			t->file[i] = xstrdup(s->file[i]);
}

void
ts_unmatched(struct ts_type *t, const struct scan_stem *s, const char *error)
{
	memset(t, 0, sizeof(*t));
	copy_page(t, s, s->stem);
	t->roi.parent = xstrdup("");
	if (error != NULL)
		t->error = xstrdup(error);
}

void
ts_finish(struct ts_type *t, const struct scan_stem *s,
    const struct ts_acc *winner, const struct roi_meta *m)
{
	const char *nt;
	int i;

	if (winner == NULL) {
		ts_unmatched(t, s, NULL);
		return;
	}
	memset(t, 0, sizeof(*t));
	copy_page(t, s, winner->name);
	t->matched = 1;
	for (i = 0; i < TS_NCOUNTS; i++)
		t->count[i] = winner->count[i];
	t->pre = winner->pre;
	t->post = winner->post;
	if ((nt = consensus(winner)) != NULL)
		t->nt = xstrdup(nt);
	roi_summarize(m, &winner->roi, &t->roi);
}

void
ts_type_free(struct ts_type *t)
{
	int i;

	free(t->name);
	for (i = 0; i < SIDE_COUNT; i++)
		free(t->file[i]);
	free(t->nt);
	free(t->error);
	roi_summary_free(&t->roi);
	memset(t, 0, sizeof(*t));
}

int
ts_cmp_name(const void *a, const void *b)
{
	const struct ts_type *x = a, *y = b;

	return strcmp(x->name, y->name);
}
