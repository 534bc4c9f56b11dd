/*
 * fetch: batches of page stems -> queries -> per-type accumulators.
 * See fetch.h; the query texts are in cypher.c and docs/queries.md.
 */
#include <sys/queue.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "neuprint/cypher.h"
#include "fetch.h"
#include "fetchrows.h"
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
	struct fr_sink	 rows;		/* where its answers go, its neurons */
	enum up_status	 fail;		/* UP_OK while nothing failed */
	int		 too_large;	/* the failure was a 413 */
	int		 handed;	/* hand_on ran: its rows are the ROI stage's */
	char		*error;
};

TAILQ_HEAD(batch_list, batch);

struct fetch {
	struct fetch_opts o;
	fetch_batch_cb	 on_batch;
	fetch_done_cb	 on_done;
	void		*arg;
	size_t		 next_stem;	/* first stem not yet in a batch */
	struct batch_list todo;		/* halves of split batches, to send */
	struct batch_list out;		/* sent, rows not all in */
	struct fr_named	*types;		/* from the TYPES query, by stem */
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
static struct ts_acc *acc_for(void *, const char *);

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
	int rc;

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
	rc = scan_candidates(stem, f->o.max_underscores, &v, &n);
	assert(rc == 0);
	if (rc < 0)
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
	b->rows.acc = acc_for;
	b->rows.arg = b;
	b->rows.dataset = f->o.dataset;
	b->rows.meta = f->o.meta;
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

	assert(!b->handed);	/* a batch's rows go on once */
	b->handed = 1;
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
		assert(b->cands[k].slot < b->n);	/* a slot of this batch */
		give_acc(&fb->stems[b->cands[k].slot], b->acc[k]);
		b->acc[k] = NULL;
	}
	assert(!f->finished);	/* nothing is handed on after on_done */
	f->on_batch(f->arg, fb);
}

/* The batch's fr_sink.acc: the accumulator of a name it asked for. */
static struct ts_acc *
acc_for(void *arg, const char *type)
{
	struct batch *b = arg;
	struct cand *c;
	size_t k;

	if (type == NULL)
		return NULL;
	c = bsearch(type, b->cands, b->ncands, sizeof(*c), cmp_name_cand);
	if (c == NULL)
		return NULL;	/* not asked for: ignore */
	k = (size_t)(c - b->cands);
	assert(k < b->ncands);	/* bsearch found it in the array */
	if (b->acc[k] == NULL) {
		b->acc[k] = xcalloc(1, sizeof(**b->acc));
		ts_acc_init(b->acc[k], type, b->f->o.meta);
	}
	return b->acc[k];
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
		/* One slot per stem: a stem is rerouted once (overflow set). */
		assert(f->nwaiting < f->o.scan->nstems);
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

	/* Every query of B is back (its hold included), none still out. */
	assert(b->pending == 0 && b->q[0] == NULL && b->q[1] == NULL);
	assert(f->p.batches_out > 0);	/* B was counted out by send_batch */
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

typedef int (*take_fn)(struct fr_sink *, const struct cy_result *, char *,
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

	/* Its query's callback runs once, and never after a cancel. */
	assert(b->q[idx] != NULL && b->pending > 0);
	b->q[idx] = NULL;
	b->pending--;
	if (r->status == UP_OK) {
		/* A malformed answer fails the batch: split, as a 400 does. */
		if (b->fail == UP_OK && take(&b->rows, r->rows, msg, sizeof(msg)) < 0)
			note_failure(b, UP_QUERY_ERROR, msg[0] ? msg :
			    "answer lacks the expected columns");
	} else {
		note_failure(b, r->status, r->error);
		if (r->too_large && b->fail == r->status)
			b->too_large = 1;
	}
	neurons = b->rows.neurons;
	if (b->pending == 0)
		batch_done(b);
	return neurons;
}

static double
on_cells(void *arg, const struct up_result *r)
{
	return answer(arg, 0, r, fr_cells);
}

static double
on_rois(void *arg, const struct up_result *r)
{
	return answer(arg, 1, r, fr_rois);
}

static double
on_neurons(void *arg, const struct up_result *r)
{
	return answer(arg, 0, r, fr_neurons);
}

static int
submit(struct batch *b, int idx, enum cy_shape shape, up_cb cb)
{
	struct fetch *f = b->f;
	int rc;

	assert(b->q[idx] == NULL);	/* one query per slot at a time */
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
	assert(n > 0);	/* fetch_start gives batch_size its default */
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
		/* No stem is left waiting for the type list. */
		assert(f->nwaiting == 0);
		assert(TAILQ_EMPTY(&f->out));	/* batches_out counts them */
		f->finished = 1;
		f->on_done(f->arg, 0, NULL);
	}
}

/* The overflow stems, now resolvable from the type list, as batches. */
static void
queue_waiting(struct fetch *f)
{
	struct batch *b;
	size_t i, n;

	assert(f->have_types);	/* what they wait for is in */
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

	assert(f->types_q != NULL);	/* asked once; no answer after a cancel */
	assert(!f->have_types);	/* the type list comes once */
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
	if (fr_types(r->rows, &f->types, &f->ntypes) < 0) {
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

	assert(f->types_q == NULL && !f->have_types);	/* asked once */
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
