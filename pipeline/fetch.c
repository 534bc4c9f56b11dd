/*
 * fetch: batches of page stems -> queries -> per-type accumulators.
 * See fetch.h; the query texts are in cypher.c and docs/queries.md.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "neuprint/cypher.h"
#include "fetch.h"
#include "base/xmalloc.h"

/* scan_candidates spells out stems with at most this many '_' (scan.h). */
#define FETCH_MAX_UNDERSCORES	20

struct cand {
	char	*name;
	size_t	 slot;		/* index into batch->stems */
};

/* Slot SLOT asked for cands[CAND] as well (distinct_cands). */
struct also {
	size_t	 cand;
	size_t	 slot;
};

struct batch {
	TAILQ_ENTRY(batch) entry;
	struct fetch	*f;
	size_t		*stems;		/* stem indices */
	size_t		 n;
	struct cand	*cands;		/* sorted by name, each name once */
	size_t		 ncands;
	struct also	*also;		/* names other slots asked for too */
	size_t		 nalso;
	struct ts_acc	**acc;		/* per cand, made on its first row */
	struct up_query	*q[2];
	int		 pending;
	double		 neurons;	/* counted by CELLS (or per-type) rows */
	enum up_status	 fail;		/* UP_OK while nothing failed */
	int		 too_large;	/* the failure was a 413 */
	char		*error;
};

TAILQ_HEAD(batch_list, batch);

/* A type name and the stem the file rule gives it. */
struct named {
	char	*stem;
	char	*type;
};

struct fetch {
	struct fetch_opts o;
	fetch_batch_cb	 on_batch;
	fetch_done_cb	 on_done;
	void		*arg;
	size_t		 next_stem;	/* first stem not yet in a batch */
	struct batch_list todo;		/* halves of split batches, to send */
	struct batch_list out;		/* sent, rows not all in */
	struct named	*types;		/* from the TYPES query, by stem */
	size_t		 ntypes;
	struct up_query	*types_q;
	int		 need_types;	/* nothing goes before the type list */
	int		 have_types;	/* the type list is in */
	unsigned char	*overflow;	/* per stem: too many spellings to guess */
	size_t		*cost;		/* per stem: body bytes of its spellings */
	size_t		 fixed;		/* body bytes of a ROIS query with none */
	size_t		*waiting;	/* overflow stems, batched once types are in */
	size_t		 nwaiting;
	int		 finished;	/* on_done ran, or fetch_free began */
	struct fetch_progress p;
	struct buf	 text;		/* query text scratch */
	struct buf	 body;		/* request body scratch */
};

static void	pump(struct fetch *);
static int	want_types(struct fetch *);

#define DEFAULT_MAX_QUERY	(256 * 1024)

static void
batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->ncands; i++) {
		free(b->cands[i].name);
		if (b->acc && b->acc[i]) {
			ts_acc_free(b->acc[i]);
			free(b->acc[i]);
		}
	}
	free(b->cands);
	free(b->also);
	free(b->acc);
	free(b->stems);
	free(b->error);
	free(b);
}

static void
fail_job(struct fetch *f, int rc, const char *error)
{
	if (f->finished)
		return;
	f->finished = 1;
	f->on_done(f->arg, rc, error);
}

static int
cmp_cand(const void *a, const void *b)
{
	return strcmp(((const struct cand *)a)->name,
	    ((const struct cand *)b)->name);
}

/* bsearch's: KEY is a name. */
static int
cmp_name_cand(const void *key, const void *b)
{
	return strcmp(key, ((const struct cand *)b)->name);
}

static int
cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->stem, y->stem);

	return c ? c : strcmp(x->type, y->type);
}

/* The types of the TYPES list whose stem is STEM: [*first, *first + n). */
static size_t
types_of_stem(const struct fetch *f, const char *stem, size_t *first)
{
	size_t lo = 0, hi = f->ntypes, n = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(f->types[mid].stem, stem) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (lo + n < f->ntypes && strcmp(f->types[lo + n].stem, stem) == 0)
		n++;
	return n;
}

static void
add_cand(struct batch *b, size_t *cap, const char *name, size_t slot)
{
	if (b->ncands == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		b->cands = xreallocarray(b->cands, *cap, sizeof(*b->cands));
	}
	b->cands[b->ncands].name = xstrdup(name);
	b->cands[b->ncands++].slot = slot;
}

/* Candidate type names of one stem: from the TYPES list, or by the rule. */
static void
add_stem_cands(struct fetch *f, struct batch *b, size_t *cap, size_t slot)
{
	const char *stem = f->o.scan->stems[b->stems[slot]].stem;
	const char **found;
	char **v, *key;
	size_t first, n, i, k = 0;

	/* neuPrint's names are JSON strings: a stem that is not UTF-8 is no type. */
	if (!cy_utf8_valid(stem))
		return;
	if (f->o.strategy == FETCH_PER_TYPE || f->overflow[b->stems[slot]]) {
		/* The types of the rule's stem that STEM spells (scan_spells). */
		key = scan_stem_of(stem);
		n = types_of_stem(f, key, &first);
		free(key);
		found = xcalloc(n ? n : 1, sizeof(*found));
		for (i = 0; i < n; i++)
			if (scan_spells(stem, f->types[first + i].type))
				found[k++] = f->types[first + i].type;
		/* Per type: one query for the winner only, as QuickPage did. */
		if (k > 0 && f->o.strategy == FETCH_PER_TYPE)
			add_cand(b, cap, scan_resolve(stem, found, k), slot);
		else
			for (i = 0; i < k; i++)
				add_cand(b, cap, found[i], slot);
		free(found);
		return;
	}
	/*
	 * Cannot fail: fetch_start sends every stem with more underscores than
	 * max_underscores (at most FETCH_MAX_UNDERSCORES) to the type list.
	 */
	if (scan_candidates(stem, f->o.max_underscores, &v, &n) < 0)
		return;
	for (i = 0; i < n; i++)
		add_cand(b, cap, v[i], slot);
	scan_strv_free(v, n);
}

/*
 * Each name once in a query: two stems may both stand for a type (a stray
 * "X Y.html" beside the rule's "X_Y.html" both stand for type "X Y"), and
 * a name twice in UNWIND makes the server count the type's neurons twice.
 * The other slots that asked for a name go to ALSO and get a copy of its
 * rows (hand_on), so each stem sees the same rows whatever the batching.
 */
static void
distinct_cands(struct batch *b)
{
	size_t i, k = 0, cap = 0;

	for (i = 0; i < b->ncands; i++) {
		if (k == 0 || strcmp(b->cands[i].name,
		    b->cands[k - 1].name) != 0) {
			b->cands[k++] = b->cands[i];
			continue;
		}
		if (b->nalso == cap) {
			cap = cap ? cap * 2 : 8;
			b->also = xreallocarray(b->also, cap, sizeof(*b->also));
		}
		b->also[b->nalso].cand = k - 1;
		b->also[b->nalso++].slot = b->cands[i].slot;
		free(b->cands[i].name);
	}
	b->ncands = k;
}

static struct batch *
batch_new(struct fetch *f, const size_t *stems, size_t n)
{
	struct batch *b;
	size_t i, cap = 0;

	b = xcalloc(1, sizeof(*b));
	b->f = f;
	b->stems = xreallocarray(NULL, n, sizeof(*b->stems));
	memcpy(b->stems, stems, n * sizeof(*stems));
	b->n = n;
	for (i = 0; i < n; i++)
		add_stem_cands(f, b, &cap, i);
	if (b->ncands)
		qsort(b->cands, b->ncands, sizeof(*b->cands), cmp_cand);
	distinct_cands(b);
	b->acc = xcalloc(b->ncands ? b->ncands : 1, sizeof(*b->acc));
	return b;
}

static void
give_acc(struct fetch_stem *s, struct ts_acc *a)
{
	s->accs = xreallocarray(s->accs, s->naccs + 1, sizeof(*s->accs));
	s->accs[s->naccs++] = a;
}

/* Hand a batch whose rows are all in to the ROI stage. */
static void
hand_on(struct batch *b)
{
	struct fetch *f = b->f;
	struct fetch_batch *fb;
	size_t i, k;

	fb = xcalloc(1, sizeof(*fb));
	fb->stems = xcalloc(b->n, sizeof(*fb->stems));
	fb->n = b->n;
	for (i = 0; i < b->n; i++) {
		fb->stems[i].stem = b->stems[i];
		if (b->error)
			fb->stems[i].error = xstrdup(b->error);
	}
	for (k = 0; k < b->nalso; k++)
		if (b->acc[b->also[k].cand] != NULL)
			give_acc(&fb->stems[b->also[k].slot],
			    ts_acc_copy(b->acc[b->also[k].cand]));
	for (k = 0; k < b->ncands; k++) {
		if (b->acc[k] == NULL)
			continue;
		give_acc(&fb->stems[b->cands[k].slot], b->acc[k]);
		b->acc[k] = NULL;
	}
	f->on_batch(f->arg, fb);
}

static struct ts_acc *
acc_for(struct batch *b, const char *type)
{
	struct cand *c;
	size_t k;

	if (type == NULL)
		return NULL;
	c = bsearch(type, b->cands, b->ncands, sizeof(*c), cmp_name_cand);
	if (c == NULL)
		return NULL;	/* not asked for: ignore */
	k = (size_t)(c - b->cands);
	if (b->acc[k] == NULL) {
		b->acc[k] = xcalloc(1, sizeof(**b->acc));
		ts_acc_init(b->acc[k], type, b->f->o.meta);
	}
	return b->acc[k];
}

/* Column indexes, looked up once per answer; -1 when absent. */
static int
columns(const struct cy_result *r, const char *const *names, int *col, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if ((col[i] = cy_column(r, names[i])) < 0)
			return -EBADMSG;
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

static int
take_cells(struct batch *b, const struct cy_result *r, char *msg, size_t len)
{
	static const char *const names[] = { "type", "somaSide", "cells",
	    "pre", "post", "first" };
	enum ts_adapter ad = ts_adapter_for(b->f->o.dataset);
	int c[6], f[NROW_STRS + TS_NLISTS];
	int64_t n[4];
	size_t i;
	int k;

	if (columns(r, names, c, 6) < 0 || row_columns(r, "nt", f) < 0)
		return -EBADMSG;
	for (i = 0; i < r->nrows; i++) {
		const cJSON *row = cy_row(r, i);
		struct ts_acc *a = acc_for(b, cy_str(row, c[0]));
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

static int
take_rois(struct batch *b, const struct cy_result *r, char *msg, size_t len)
{
	static const char *const names[] = { "type", "roi", "pre", "post" };
	int c[4];
	int64_t pre, post;
	size_t i;

	if (columns(r, names, c, 4) < 0)
		return -EBADMSG;
	for (i = 0; i < r->nrows; i++) {
		const cJSON *row = cy_row(r, i);
		struct ts_acc *a = acc_for(b, cy_str(row, c[0]));

		if (count(row, c[2], "ROIS", "pre", i, 0, &pre, msg, len) < 0 ||
		    count(row, c[3], "ROIS", "post", i, 0, &post, msg, len) < 0)
			return -EBADMSG;
		if (a != NULL)
			ts_acc_add_roi(a, b->f->o.meta, cy_str(row, c[1]), pre,
			    post);
	}
	return 0;
}

static int
take_neurons(struct batch *b, const struct cy_result *r, char *msg, size_t len)
{
	static const char *const names[] = { "type", "somaSide", "bodyId",
	    "consensusNt", "pre", "post", "roiInfo" };
	enum ts_adapter ad = ts_adapter_for(b->f->o.dataset);
	int c[7], f[NROW_STRS + TS_NLISTS], rc;
	int64_t pre, post, body;
	size_t i;

	if (columns(r, names, c, 7) < 0 ||
	    row_columns(r, "consensusNt", f) < 0)
		return -EBADMSG;
	for (i = 0; i < r->nrows; i++) {
		const cJSON *row = cy_row(r, i);
		struct ts_acc *a = acc_for(b, cy_str(row, c[0]));
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
		rc = ts_acc_add_neuron(a, ad, b->f->o.meta, &t,
		    cy_str(row, c[6]));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void
note_failure(struct batch *b, enum up_status s, const char *error)
{
	if (b->fail != UP_OK)
		return;		/* keep the first reason */
	b->fail = s;
	b->too_large = 0;
	free(b->error);
	b->error = xstrdup(error ? error : "query failed");
}

/*
 * A stem whose spellings alone made a body a proxy refused: ask for its
 * real types instead, as for a stem with too many underscores.
 */
static void
reroute(struct fetch *f, size_t stem)
{
	struct batch *b;

	f->overflow[stem] = 1;
	if (!f->have_types) {
		f->waiting[f->nwaiting++] = stem;
		if (f->types_q == NULL && want_types(f) < 0)
			fail_job(f, -EILSEQ, "the dataset name is not valid UTF-8");
		return;
	}
	b = batch_new(f, &stem, 1);	/* the macro reads its argument twice */
	TAILQ_INSERT_HEAD(&f->todo, b, entry);
}

/* Split a rejected batch in halves, or give a single stem its error. */
static void
split(struct batch *b)
{
	struct fetch *f = b->f;
	struct batch *lo, *hi;
	size_t h = b->n / 2;

	if (b->n == 1 && b->too_large && !f->overflow[b->stems[0]] &&
	    f->o.strategy == FETCH_BATCHED) {
		reroute(f, b->stems[0]);
		return;
	}
	if (b->n == 1) {
		hand_on(b);
		return;
	}
	lo = batch_new(f, b->stems, h);
	hi = batch_new(f, b->stems + h, b->n - h);
	f->p.splits++;
	TAILQ_INSERT_HEAD(&f->todo, hi, entry);
	TAILQ_INSERT_HEAD(&f->todo, lo, entry);
}

/* All queries of B are back. */
static void
batch_done(struct batch *b)
{
	struct fetch *f = b->f;
	char msg[512];
	int rc;

	TAILQ_REMOVE(&f->out, b, entry);
	f->p.batches_out--;
	if (f->finished) {
		/* The job already failed: these rows have nowhere to go. */
		batch_free(b);
		return;
	}
	switch (b->fail) {
	case UP_OK:
		hand_on(b);
		break;
	case UP_QUERY_ERROR:
		split(b);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: %s", up_status_text(b->fail),
		    b->error ? b->error : "no detail");
		/* Read b->fail before B goes. */
		rc = up_status_errno(b->fail);
		batch_free(b);
		fail_job(f, rc, msg);
		return;
	}
	batch_free(b);
	pump(f);
}

typedef int (*take_fn)(struct batch *, const struct cy_result *, char *,
    size_t);

/*
 * Returns the batch's neurons as far as known (upstream.h: the answer's
 * size for the limiter; a ROIS answer costs what its batch's CELLS
 * counted, 0 if that is not in yet).
 */
static double
answer(struct batch *b, int idx, const struct up_result *r, take_fn take)
{
	char msg[200] = "";
	double neurons;

	b->q[idx] = NULL;
	b->pending--;
	if (r->status == UP_OK) {
		/* A malformed answer fails the batch: split, as a 400 does. */
		if (b->fail == UP_OK && take(b, r->rows, msg, sizeof(msg)) < 0)
			note_failure(b, UP_QUERY_ERROR, msg[0] ? msg :
			    "answer lacks the expected columns");
	} else {
		note_failure(b, r->status, r->error);
		if (r->too_large && b->fail == r->status)
			b->too_large = 1;
	}
	neurons = b->neurons;
	if (b->pending == 0)
		batch_done(b);
	return neurons;
}

static double
on_cells(void *arg, const struct up_result *r)
{
	return answer(arg, 0, r, take_cells);
}

static double
on_rois(void *arg, const struct up_result *r)
{
	return answer(arg, 1, r, take_rois);
}

static double
on_neurons(void *arg, const struct up_result *r)
{
	return answer(arg, 0, r, take_neurons);
}

static int
submit(struct batch *b, int idx, enum cy_shape shape, up_cb cb)
{
	struct fetch *f = b->f;
	int rc;

	buf_reset(&f->body);
	if ((rc = cy_request_body(&f->body, f->text.data, f->o.dataset)) < 0)
		return rc;
	up_submit(f->o.up, f->o.token, f->body.data, f->body.len, shape,
	    f->o.stats, cb, b, &b->q[idx]);
	b->pending++;
	return 0;
}

static void
send_batch(struct batch *b)
{
	struct fetch *f = b->f;
	const char **names;
	const char **prim;
	size_t i, np = roi_nprimary(f->o.meta);
	int rc;

	names = xcalloc(b->ncands, sizeof(*names));
	prim = xcalloc(np ? np : 1, sizeof(*prim));
	for (i = 0; i < b->ncands; i++)
		names[i] = b->cands[i].name;
	for (i = 0; i < np; i++)
		prim[i] = roi_primary_name(f->o.meta, i);
	/* One held while the queries go: batch_done runs once, here or last. */
	b->pending = 1;
	TAILQ_INSERT_TAIL(&f->out, b, entry);
	f->p.batches_out++;
	buf_reset(&f->text);
	if (f->o.strategy == FETCH_PER_TYPE) {
		cy_type_query(&f->text, names[0]);
		rc = submit(b, 0, CY_NEURONS, on_neurons);
	} else {
		cy_cells_query(&f->text, names, b->ncands);
		rc = submit(b, 0, CY_CELLS, on_cells);
		buf_reset(&f->text);
		cy_rois_query(&f->text, names, b->ncands, prim, np);
		if (rc == 0)
			rc = submit(b, 1, CY_ROIS, on_rois);
	}
	if (rc < 0)
		note_failure(b, UP_UNAVAILABLE, "cannot build the query: a name "
		    "or the dataset is not valid UTF-8");
	free(names);
	free(prim);
	if (--b->pending == 0)
		batch_done(b);
}

/* Batches out at once: enough to keep every allowed request busy. */
static size_t
window(const struct fetch *f)
{
	unsigned per = f->o.strategy == FETCH_PER_TYPE ? 1 : 2;

	return up_limit(f->o.up) / per + 2;
}

static struct batch *
next_batch(struct fetch *f)
{
	const struct scan_result *s = f->o.scan;
	struct batch *b;
	size_t n, *idx, i, used;

	if ((b = TAILQ_FIRST(&f->todo)) != NULL) {
		TAILQ_REMOVE(&f->todo, b, entry);
		return b;
	}
	if (f->next_stem >= s->nstems)
		return NULL;
	n = f->o.strategy == FETCH_PER_TYPE ? 1 : f->o.batch_size;
	idx = xreallocarray(NULL, n, sizeof(*idx));
	/*
	 * Overflow stems wait for the type list; the rest go now, as many as
	 * fit in max_query_bytes (overflow stems are those that fit in none).
	 */
	used = f->fixed;
	for (i = 0; i < n && f->next_stem < s->nstems; f->next_stem++) {
		if (f->overflow[f->next_stem] && f->o.strategy != FETCH_PER_TYPE)
			continue;
		if (f->o.skip && f->o.skip[f->next_stem])
			continue;	/* the cache had it */
		if (i > 0 && used + f->cost[f->next_stem] > f->o.max_query_bytes)
			break;
		used += f->cost[f->next_stem];
		idx[i++] = f->next_stem;
	}
	b = i ? batch_new(f, idx, i) : NULL;
	free(idx);
	return b;
}

static void
pump(struct fetch *f)
{
	struct batch *b;

	while (!f->finished && f->p.batches_out < window(f)) {
		if (f->need_types)
			break;
		if ((b = next_batch(f)) == NULL)
			break;
		if (b->ncands == 0) {
			/* No stem of it can be a type: nothing to ask. */
			hand_on(b);
			batch_free(b);
			continue;
		}
		send_batch(b);
	}
	if (!f->finished && f->p.batches_out == 0 && TAILQ_EMPTY(&f->todo) &&
	    f->next_stem >= f->o.scan->nstems && f->types_q == NULL) {
		f->finished = 1;
		f->on_done(f->arg, 0, NULL);
	}
}

static int
take_types(struct fetch *f, const struct cy_result *r)
{
	int col = cy_column(r, "type");
	size_t i;

	if (col < 0)
		return -EBADMSG;
	f->types = xcalloc(r->nrows ? r->nrows : 1, sizeof(*f->types));
	for (i = 0; i < r->nrows; i++) {
		const char *t = cy_str(cy_row(r, i), col);
		struct named *n = &f->types[f->ntypes];

		if (t == NULL)
			continue;
		n->type = xstrdup(t);
		n->stem = scan_stem_of(t);	/* never NULL: xstrdup */
		f->ntypes++;
	}
	qsort(f->types, f->ntypes, sizeof(*f->types), cmp_named);
	return 0;
}

/* The overflow stems, now resolvable from the type list, as batches. */
static void
queue_waiting(struct fetch *f)
{
	struct batch *b;
	size_t i, n;

	for (i = 0; i < f->nwaiting; i += n) {
		n = f->nwaiting - i < f->o.batch_size ? f->nwaiting - i :
		    f->o.batch_size;
		/* Not inside TAILQ_INSERT_TAIL: it reads its argument twice. */
		b = batch_new(f, f->waiting + i, n);
		TAILQ_INSERT_TAIL(&f->todo, b, entry);
	}
	f->nwaiting = 0;
}

static double
on_types(void *arg, const struct up_result *r)
{
	struct fetch *f = arg;
	char msg[512];

	f->types_q = NULL;
	if (f->finished)
		return 0;
	if (r->status != UP_OK) {
		snprintf(msg, sizeof(msg), "%s: %s", r->status == UP_QUERY_ERROR ?
		    "listing the dataset's types failed" :
		    up_status_text(r->status), r->error ? r->error : "no detail");
		fail_job(f, up_status_errno(r->status), msg);
		return 0;
	}
	if (take_types(f, r->rows) < 0) {
		fail_job(f, -EBADMSG, "the type list answer is malformed");
		return 0;
	}
	f->need_types = 0;
	f->have_types = 1;
	queue_waiting(f);
	pump(f);
	return 0;
}

static int
count_underscores(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '_';
	return n;
}

/*
 * Bytes one spelling of STEM adds to a request body: cy_quote's literal,
 * then JSON-escaped, and ", ". Every spelling ('_', '/' or ' ' for each
 * '_') has the same length.
 */
static size_t
spelling_bytes(const char *stem)
{
	const unsigned char *p;
	size_t n = 2 + 2;

	for (p = (const unsigned char *)stem; *p; p++) {
		if (*p == '\\')
			n += 4;			/* \\ -> \\\\ */
		else if (*p == '\'' || *p == '\n' || *p == '\r' ||
		    *p == '\t' || *p == '\b' || *p == '\f')
			n += 3;			/* \' -> \\' */
		else if (*p < 0x20 || *p == ':')
			n += 7;			/* \u003A -> \\u003A */
		else if (*p == '"')
			n += 2;
		else
			n++;
	}
	return n;
}

/*
 * Per stem, what its spellings add to a CELLS or ROIS body, and the ROIS
 * body with none (the larger of the two). A stem that cannot fit with
 * the fixed part is resolved from the type list.
 */
static int
size_stems(struct fetch *f, const char *dataset)
{
	const struct scan_result *s = f->o.scan;
	const char **prim;
	size_t i, k, np = roi_nprimary(f->o.meta), c;
	int u, rc;

	prim = xcalloc(np ? np : 1, sizeof(*prim));
	for (i = 0; i < np; i++)
		prim[i] = roi_primary_name(f->o.meta, i);
	buf_reset(&f->text);
	buf_reset(&f->body);
	cy_rois_query(&f->text, NULL, 0, prim, np);
	free(prim);
	if ((rc = cy_request_body(&f->body, f->text.data, dataset)) < 0)
		return rc;
	f->fixed = f->body.len;
	for (i = 0; i < s->nstems; i++) {
		if (f->o.skip && f->o.skip[i])
			continue;
		u = count_underscores(s->stems[i].stem);
		if (u > (int)f->o.max_underscores)
			continue;	/* overflow already */
		c = spelling_bytes(s->stems[i].stem);
		for (k = 0; k < (size_t)u; k++)
			c *= 3;
		f->cost[i] = c;
		if (f->fixed + c > f->o.max_query_bytes && !f->overflow[i]) {
			f->overflow[i] = 1;
			f->waiting[f->nwaiting++] = i;
		}
	}
	return 0;
}

/* Ask for every type name (a scan), once. */
static int
want_types(struct fetch *f)
{
	int rc;

	buf_reset(&f->text);
	buf_reset(&f->body);
	cy_types_query(&f->text);
	if ((rc = cy_request_body(&f->body, f->text.data, f->o.dataset)) < 0)
		return rc;
	up_submit(f->o.up, f->o.token, f->body.data, f->body.len, CY_OTHER,
	    f->o.stats, on_types, f, &f->types_q);
	return 0;
}

int
fetch_start(const struct fetch_opts *o, fetch_batch_cb on_batch,
    fetch_done_cb on_done, void *arg, struct fetch **out)
{
	struct fetch *f;
	size_t i;
	int rc;

	/* Stems up to the bound are spelled out: scan_candidates' own limit. */
	if (o->max_underscores > FETCH_MAX_UNDERSCORES)
		return -EINVAL;
	f = xcalloc(1, sizeof(*f));
	f->o = *o;
	if (f->o.batch_size == 0)
		f->o.batch_size = 200;
	if (f->o.max_query_bytes == 0)
		f->o.max_query_bytes = DEFAULT_MAX_QUERY;
	f->on_batch = on_batch;
	f->on_done = on_done;
	f->arg = arg;
	TAILQ_INIT(&f->todo);
	TAILQ_INIT(&f->out);
	f->need_types = o->strategy == FETCH_PER_TYPE;
	f->overflow = xcalloc(o->scan->nstems ? o->scan->nstems : 1, 1);
	f->waiting = xcalloc(o->scan->nstems ? o->scan->nstems : 1,
	    sizeof(*f->waiting));
	f->cost = xcalloc(o->scan->nstems ? o->scan->nstems : 1,
	    sizeof(*f->cost));
	for (i = 0; i < o->scan->nstems && !f->need_types; i++)
		if (!(o->skip && o->skip[i]) &&
		    count_underscores(o->scan->stems[i].stem) >
		    (int)o->max_underscores) {
			f->overflow[i] = 1;
			f->waiting[f->nwaiting++] = i;
		}
	if (!f->need_types && (rc = size_stems(f, o->dataset)) < 0) {
		fetch_free(f);
		return rc;
	}
	*out = f;
	if (!f->need_types && f->nwaiting == 0) {
		pump(f);
		return 0;
	}
	/*
	 * QuickPage's way, or a few stems with too many spellings to guess:
	 * list every type (a scan). Batched, only those stems wait for it.
	 */
	if ((rc = want_types(f)) < 0) {
		*out = NULL;
		fetch_free(f);
		return rc;
	}
	pump(f);
	return 0;
}

void
fetch_free(struct fetch *f)
{
	struct batch *b;
	size_t i;

	if (f == NULL)
		return;
	f->finished = 1;
	if (f->types_q)
		up_cancel(f->types_q);
	while ((b = TAILQ_FIRST(&f->out)) != NULL) {
		TAILQ_REMOVE(&f->out, b, entry);
		for (i = 0; i < 2; i++)
			if (b->q[i])
				up_cancel(b->q[i]);
		batch_free(b);
	}
	while ((b = TAILQ_FIRST(&f->todo)) != NULL) {
		TAILQ_REMOVE(&f->todo, b, entry);
		batch_free(b);
	}
	for (i = 0; i < f->ntypes; i++) {
		free(f->types[i].type);
		free(f->types[i].stem);
	}
	free(f->types);
	free(f->overflow);
	free(f->cost);
	free(f->waiting);
	buf_free(&f->text);
	buf_free(&f->body);
	free(f);
}

void
fetch_get_progress(const struct fetch *f, struct fetch_progress *p)
{
	*p = f->p;
}
