/*
 * libFuzzer harness: neuPrint's answers to CELLS, ROIS, TYPE and TYPES as
 * the fetch stage parses them (upstream's classifier, cy_parse, fetch's
 * row readers, typeset's accumulators, roiInfo), then ts_finish on every
 * type that had rows, as the ROI stage does. The fetch runs for four page
 * stems against a fake transport on simulated time (tests/unit/fakenp.c),
 * so a run takes no wall time.
 *
 * Input: a flags byte (bit 0: the per-type strategy; bits 1-2: the
 * dataset, hence the side adapter), a status byte (the HTTP status of
 * every answer, from a short list), then the bodies of the CELLS, ROIS,
 * TYPE and TYPES answers, separated by NUL bytes. Every query of a kind
 * gets that kind's body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakenp.h"
#include "fetch.h"
#include "index/roi.h"
#include "index/scan.h"
#include "index/typeset.h"
#include "base/xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { A_CELLS, A_ROIS, A_TYPE, A_TYPES, A_N };

static const char *const datasets[4] = { "male-cns:v0.9",
    "hemibrain:v1.2.1", "optic-lobe:v1.1", "flywire-fafb:v783b" };
static const long statuses[8] = { 200, 200, 200, 200, 400, 413, 503, 500 };
/* A plain type, spellings to guess, and one with too many to guess. */
static const char *const stems[] = { "T1", "A_B", "x_y", "a_b_c_d" };
#define NSTEMS	(sizeof(stems) / sizeof(*stems))
static const char *const primary[] = { "A(R)", "B(L)", "FB", "EB_R" };

struct run {
	const char	*body[A_N];
	size_t		 len[A_N];
	long		 status;
	const struct roi_meta *meta;
	enum ts_adapter	 ad;
	struct scan_result *scan;
	unsigned	 handed[NSTEMS];
	int		 done, rc;
};

static void
serve(void *arg, const char *body, size_t len, double now,
    struct fake_answer *a)
{
	struct run *r = arg;
	int k;

	(void)now;
	if (memmem(body, len, "RETURN DISTINCT n.type", 22) != NULL)
		k = A_TYPES;
	else if (memmem(body, len, "count(n) AS cells", 17) != NULL)
		k = A_CELLS;
	else if (memmem(body, len, "UNWIND [", 8) != NULL)
		k = A_ROIS;
	else if (memmem(body, len, "WHERE n.type = ", 15) != NULL)
		k = A_TYPE;
	else
		abort();	/* fetch sent a query of no known kind */
	a->status = r->status;
	a->body = xstrndup(r->body[k], r->len[k]);
	a->delay_s = 0.01;
}

static void
on_batch(void *arg, struct fetch_batch *b)
{
	struct run *r = arg;
	struct ts_type t;
	size_t i, j;

	for (i = 0; i < b->n; i++) {
		const struct fetch_stem *fs = &b->stems[i];

		if (fs->stem >= NSTEMS)
			abort();
		r->handed[fs->stem]++;
		for (j = 0; j < fs->naccs; j++) {
			ts_finish(&t, &r->scan->stems[fs->stem], fs->accs[j],
			    r->meta, r->ad);
			ts_type_free(&t);
		}
	}
	fetch_batch_free(b);
}

static void
on_done(void *arg, int rc, const char *error)
{
	struct run *r = arg;

	(void)error;
	if (r->done++)
		abort();	/* once only */
	r->rc = rc;
}

static void
scan_init(struct scan_result *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->stems = xcalloc(NSTEMS, sizeof(*s->stems));
	for (i = 0; i < NSTEMS; i++) {
		s->stems[i].stem = xstrdup(stems[i]);
		s->stems[i].file[SIDE_BOTH] = xasprintf("%s.html", stems[i]);
	}
	s->nstems = s->nfiles = NSTEMS;
	s->layout = SCAN_LAYOUT_QUICKPAGE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { .done = 0 };
	struct fetch_opts o = { 0 };
	struct scan_result scan;
	struct up_stats st = { 0 };
	struct roi_meta *meta;
	struct fake_tr *tr;
	struct upstream *up;
	struct fetch *f;
	struct sim *sim;
	const char *p, *end, *nul;
	char err[200];
	size_t i;
	int k;

	if (size < 2)
		return 0;
	p = (const char *)data + 2;
	end = (const char *)data + size;
	for (k = 0; k < A_N; k++) {
		nul = memchr(p, '\0', (size_t)(end - p));
		r.body[k] = p;
		r.len[k] = (size_t)((nul ? nul : end) - p);
		p = nul ? nul + 1 : end;
	}
	r.status = statuses[data[1] & 7];
	if (roi_meta_new(primary, 4, "{\"name\": \"all\", \"children\": ["
	    "{\"name\": \"CX\", \"children\": [{\"name\": \"FB\"}, "
	    "{\"name\": \"EB(R)\"}]}, {\"name\": \"A\"}]}", &meta, err,
	    sizeof(err)) < 0)
		abort();
	r.meta = meta;
	r.ad = ts_adapter_for(datasets[(data[0] >> 1) & 3]);
	scan_init(&scan);
	r.scan = &scan;
	sim = sim_new(0);
	tr = fake_tr_new(sim, serve, &r);
	up = fake_upstream(sim, tr, 1, 2, 4, 1);
	o.up = up;
	o.token = "tok";
	o.dataset = datasets[(data[0] >> 1) & 3];
	o.scan = &scan;
	o.meta = meta;
	o.batch_size = 2;
	o.max_underscores = 2;	/* a_b_c_d waits for the type list */
	o.strategy = data[0] & 1 ? FETCH_PER_TYPE : FETCH_BATCHED;
	o.stats = &st;
	if (fetch_start(&o, on_batch, on_done, &r, &f) < 0)
		abort();
	while (!r.done && sim_step(sim))
		;
	if (!r.done)
		abort();	/* fetch stalled with nothing left to wait for */
	fetch_free(f);
	upstream_free(up);
	fake_tr_free(tr);
	sim_free(sim);
	/* fetch.h: rc 0 means every stem was handed on, each once. */
	for (i = 0; i < NSTEMS; i++)
		if (r.handed[i] > 1 || (r.rc == 0 && r.handed[i] != 1))
			abort();
	scan_free(&scan);
	roi_meta_free(meta);
	return 0;
}
