/*
 * fetchrows: the fetch stage's answers into accumulators and the type
 * list. See fetchrows.h; the queries and their columns are in cypher.c
 * and docs/queries.md.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fetchrows.h"
#include "index/scan.h"
#include "base/xmalloc.h"

/* Column indexes, looked up once per answer; -1 when absent. */
static int
columns(const struct cy_result *r, const char *const *names, int *col, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if ((col[i] = cy_column(r, names[i])) < 0)
			return -EBADMSG;
		assert((size_t)col[i] < r->ncols);	/* a column of R */
	}
	return 0;
}

/*
 * A count cell (count, sum, n.pre): an exact integer >= 0. Neo4j's count()
 * and sum() never give null, so anything else is a malformed answer, and
 * MSG names the query, the column and the row. NULL_OK: a neuron's own
 * property may be absent (then 0).
 */
static int
count(const cJSON *row, int col, const char *query, const char *name,
    size_t i, int null_ok, int64_t *v, char *msg, size_t len)
{
	const cJSON *c = cJSON_GetArrayItem(row, col);
	char *text;
	int ok;

	*v = cy_int(row, col, &ok);
	if (ok && *v >= 0)
		return 0;
	assert(msg != NULL && len > 0);	/* a refusal always says why */
	*v = 0;
	if (null_ok && cJSON_IsNull(c))
		return 0;
	text = c ? cJSON_PrintUnformatted(c) : NULL;
	snprintf(msg, len, "malformed %s answer: column \"%s\" of row %zu is "
	    "not a count (%.40s)", query, name, i + 1, text ? text : "missing");
	cJSON_free(text);
	return -EBADMSG;
}

/* CELLS and TYPE columns after the counts, in struct ts_row's order. */
static const char *const row_strs[] = { "rootSide", "side", "instance",
    "nt", "pnt", "dimorphism", "synonyms" };
static const char *const row_lists[TS_NLISTS] = { "superclass", "class",
    "subclass", "flywireType", "somaNeuromere", "trumanHl" };
#define NROW_STRS	(sizeof(row_strs) / sizeof(*row_strs))
_Static_assert(NROW_STRS == 7, "row_fields reads seven string columns");

/* The string and list cells of a CELLS or TYPE row; C: their columns. */
static void
row_fields(struct ts_row *t, const cJSON *row, const int *c)
{
	int k;

	t->root_side = cy_str(row, c[0]);
	t->side = cy_str(row, c[1]);
	t->instance = cy_str(row, c[2]);
	t->first[TS_CONSENSUS_NT] = cy_str(row, c[3]);
	t->first[TS_PREDICTED_NT] = cy_str(row, c[4]);
	t->first[TS_DIMORPHISM] = cy_str(row, c[5]);
	t->first[TS_SYNONYMS] = cy_str(row, c[6]);
	for (k = 0; k < TS_NLISTS; k++)
		t->list[k] = cJSON_GetArrayItem(row, c[NROW_STRS + (size_t)k]);
}

/* NT: the consensusNt column's name, "nt" in CELLS, "consensusNt" in TYPE. */
static int
row_columns(const struct cy_result *r, const char *nt, int *c)
{
	const char *names[NROW_STRS];

	memcpy(names, row_strs, sizeof(names));
	names[3] = nt;
	if (columns(r, names, c, (int)NROW_STRS) < 0 ||
	    columns(r, row_lists, c + NROW_STRS, TS_NLISTS) < 0)
		return -EBADMSG;
	return 0;
}

int
fr_cells(struct fr_sink *b, const struct cy_result *r, char *msg, size_t len)
{
	static const char *const names[] = { "type", "somaSide", "cells",
	    "pre", "post", "first" };
	enum ts_adapter ad = ts_adapter_for(b->dataset);
	int c[6], f[NROW_STRS + TS_NLISTS];
	int64_t n[4];
	size_t i;
	int k;

	assert(b->acc != NULL);	/* the sink can find its accumulators */
	if (columns(r, names, c, 6) < 0 || row_columns(r, "nt", f) < 0)
		return -EBADMSG;
	for (i = 0; i < r->nrows; i++) {
		const cJSON *row = cy_row(r, i);
		struct ts_acc *a = b->acc(b->arg, cy_str(row, c[0]));
		struct ts_row t = { 0 };

		for (k = 0; k < 4; k++)
			if (count(row, c[2 + k], "CELLS", names[2 + k], i, 0,
			    &n[k], msg, len) < 0)
				return -EBADMSG;
		b->neurons += (double)n[0];	/* the batch's cost, for the limiter */
		if (a == NULL)
			continue;
		row_fields(&t, row, f);
		t.soma_side = cy_str(row, c[1]);
		t.cells = n[0];
		t.pre = n[1];
		t.post = n[2];
		t.first_body = n[3];
		ts_acc_add_cells(a, ad, &t);
	}
	return 0;
}

int
fr_rois(struct fr_sink *b, const struct cy_result *r, char *msg, size_t len)
{
	static const char *const names[] = { "type", "roi", "pre", "post" };
	int c[4];
	int64_t pre, post;
	size_t i;

	assert(b->acc != NULL);	/* the sink can find its accumulators */
	if (columns(r, names, c, 4) < 0)
		return -EBADMSG;
	for (i = 0; i < r->nrows; i++) {
		const cJSON *row = cy_row(r, i);
		struct ts_acc *a = b->acc(b->arg, cy_str(row, c[0]));

		if (count(row, c[2], "ROIS", "pre", i, 0, &pre, msg, len) < 0 ||
		    count(row, c[3], "ROIS", "post", i, 0, &post, msg, len) < 0)
			return -EBADMSG;
		if (a != NULL)
			ts_acc_add_roi(a, b->meta, cy_str(row, c[1]), pre,
			    post);
	}
	return 0;
}

int
fr_neurons(struct fr_sink *b, const struct cy_result *r, char *msg,
    size_t len)
{
	static const char *const names[] = { "type", "somaSide", "bodyId",
	    "consensusNt", "pre", "post", "roiInfo" };
	enum ts_adapter ad = ts_adapter_for(b->dataset);
	int c[7], f[NROW_STRS + TS_NLISTS], rc;
	int64_t pre, post, body;
	size_t i;

	assert(b->acc != NULL);	/* the sink can find its accumulators */
	if (columns(r, names, c, 7) < 0 ||
	    row_columns(r, "consensusNt", f) < 0)
		return -EBADMSG;
	for (i = 0; i < r->nrows; i++) {
		const cJSON *row = cy_row(r, i);
		struct ts_acc *a = b->acc(b->arg, cy_str(row, c[0]));
		struct ts_row t = { 0 };

		if (count(row, c[4], "TYPE", "pre", i, 1, &pre, msg, len) < 0 ||
		    count(row, c[5], "TYPE", "post", i, 1, &post, msg, len) < 0 ||
		    count(row, c[2], "TYPE", "bodyId", i, 0, &body, msg,
		    len) < 0)
			return -EBADMSG;
		b->neurons++;
		if (a == NULL)
			continue;
		row_fields(&t, row, f);
		t.soma_side = cy_str(row, c[1]);
		t.cells = 1;
		t.pre = pre;
		t.post = post;
		t.first_body = body;
		rc = ts_acc_add_neuron(a, ad, b->meta, &t,
		    cy_str(row, c[6]));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
cmp_named(const void *a, const void *b)
{
	const struct fr_named *x = a, *y = b;
	int c = strcmp(x->stem, y->stem);

	return c ? c : strcmp(x->type, y->type);
}

int
fr_types(const struct cy_result *r, struct fr_named **out, size_t *n)
{
	int col = cy_column(r, "type");
	struct fr_named *v;
	size_t i, k = 0;

	if (col < 0)
		return -EBADMSG;
	v = xcalloc(r->nrows ? r->nrows : 1, sizeof(*v));
	for (i = 0; i < r->nrows; i++) {
		const char *t = cy_str(cy_row(r, i), col);

		if (t == NULL)
			continue;
		v[k].type = xstrdup(t);
		v[k].stem = scan_stem_of(t);	/* never NULL: xstrdup */
		assert(v[k].stem != NULL);
		k++;
	}
	/* One pair per row that names a type, never more. */
	assert(k <= r->nrows);
	qsort(v, k, sizeof(*v), cmp_named);
	*out = v;
	*n = k;
	return 0;
}
