/* fakenp: see fakenp.h. */
#include <sys/queue.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fakenp.h"
#include "neuprint/limiter.h"
#include "base/xmalloc.h"

/* ---- scheduler ---- */

struct sim_ev {
	double		 t;
	unsigned long	 seq;		/* same time: first scheduled, first run */
	void		(*fn)(void *);
	void		*arg;
	struct sim_ev	*next;
};

struct sim {
	double		 now;
	unsigned long	 seq;
	struct sim_ev	*head;		/* sorted by (t, seq) */
	struct clk	 clk;
};

struct sim_timer {
	struct sim	*s;
	clk_cb		 cb;
	void		*arg;
	struct sim_ev	*ev;
};

static double
st_now(void *ctx)
{
	return ((struct sim *)ctx)->now;
}

static void
st_fire(void *arg)
{
	struct sim_timer *t = arg;

	t->ev = NULL;
	t->cb(t->arg);
}

static void *
st_new(void *ctx, clk_cb cb, void *arg)
{
	struct sim_timer *t = xcalloc(1, sizeof(*t));

	t->s = ctx;
	t->cb = cb;
	t->arg = arg;
	return t;
}

static void
st_stop(void *ctx, void *timer)
{
	struct sim_timer *t = timer;

	if (t->ev)
		sim_cancel(ctx, t->ev);
	t->ev = NULL;
}

static void
st_start(void *ctx, void *timer, double delay)
{
	struct sim_timer *t = timer;
	struct sim *s = ctx;

	st_stop(ctx, timer);
	t->ev = sim_at(s, s->now + (delay > 0 ? delay : 0), st_fire, t);
}

static void
st_free(void *ctx, void *timer)
{
	st_stop(ctx, timer);
	free(timer);
}

static const struct clk_ops sim_clk_ops = {
	st_now, st_new, st_start, st_stop, st_free,
};

struct sim *
sim_new(double t0)
{
	struct sim *s = xcalloc(1, sizeof(*s));

	s->now = t0;
	s->clk.ops = &sim_clk_ops;
	s->clk.ctx = s;
	return s;
}

void
sim_free(struct sim *s)
{
	struct sim_ev *e;

	while ((e = s->head) != NULL) {
		s->head = e->next;
		free(e);
	}
	free(s);
}

const struct clk *
sim_clock(struct sim *s)
{
	return &s->clk;
}

double
sim_now(const struct sim *s)
{
	return s->now;
}

struct sim_ev *
sim_at(struct sim *s, double t, void (*fn)(void *), void *arg)
{
	struct sim_ev *e = xcalloc(1, sizeof(*e)), **p;

	e->t = t < s->now ? s->now : t;
	e->seq = s->seq++;
	e->fn = fn;
	e->arg = arg;
	for (p = &s->head; *p && (*p)->t <= e->t; p = &(*p)->next)
		;
	e->next = *p;
	*p = e;
	return e;
}

void
sim_cancel(struct sim *s, struct sim_ev *e)
{
	struct sim_ev **p;

	for (p = &s->head; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			free(e);
			return;
		}
}

int
sim_step(struct sim *s)
{
	struct sim_ev *e = s->head;
	void (*fn)(void *);
	void *arg;

	if (e == NULL)
		return 0;
	s->head = e->next;
	s->now = e->t;
	fn = e->fn;
	arg = e->arg;
	free(e);
	fn(arg);
	return 1;
}

double
sim_next(const struct sim *s)
{
	return s->head ? s->head->t : -1;
}

/* ---- fake transport ---- */

struct fake_req {
	TAILQ_ENTRY(fake_req) entry;
	struct fake_tr	*f;
	struct sim_ev	*ev;
	http_cb		 cb;
	void		*arg;
	double		 sent;
	struct fake_answer a;
};

struct fake_tr {
	struct sim	*s;
	fake_server	 fn;
	void		*arg;
	struct up_transport ops;
	TAILQ_HEAD(, fake_req) live;
	struct fake_post *posts;
	size_t		 nposts;
	unsigned	 cancels, in_flight;
};

static void
fr_answer(void *arg)
{
	struct fake_req *r = arg;
	struct fake_tr *f = r->f;
	struct http_response res = { 0 };

	TAILQ_REMOVE(&f->live, r, entry);
	f->in_flight--;
	res.fail = r->a.fail;
	res.status = r->a.fail == HTTP_OK ? r->a.status : 0;
	res.body = r->a.body ? r->a.body : "";
	res.len = strlen(res.body);
	res.retry_after_s = r->a.retry_after_s > 0 ? r->a.retry_after_s : -1;
	res.elapsed_s = f->s->now - r->sent;
	/* curl's STARTTRANSFER_TIME: 0 when nothing came before a time-out */
	res.ttfb_s = r->a.fail == HTTP_ERR_TIMEOUT && !r->a.started ? 0 :
	    res.elapsed_s;
	res.error = r->a.error ? r->a.error :
	    r->a.fail != HTTP_OK ? "fake transport failure" : NULL;
	r->cb(r->arg, &res);
	free(r->a.body);
	free(r);
}

static int
fr_post(void *ctx, const char *url, const char *token, const char *body,
    size_t len, http_cb cb, void *arg, void **req)
{
	struct fake_tr *f = ctx;
	struct fake_req *r;
	struct fake_post *p;

	(void)url;
	(void)token;
	f->posts = xreallocarray(f->posts, f->nposts + 1, sizeof(*f->posts));
	p = &f->posts[f->nposts++];
	p->t = f->s->now;
	p->body = xstrndup(body, len);
	r = xcalloc(1, sizeof(*r));
	f->fn(f->arg, body, len, f->s->now, &r->a);
	if (r->a.send_rc < 0) {
		int rc = r->a.send_rc;

		free(r->a.body);
		free(r);
		return rc;
	}
	p->sent = 1;
	r->f = f;
	r->cb = cb;
	r->arg = arg;
	r->sent = f->s->now;
	r->ev = sim_at(f->s, f->s->now + r->a.delay_s, fr_answer, r);
	TAILQ_INSERT_TAIL(&f->live, r, entry);
	f->in_flight++;
	*req = r;
	return 0;
}

static void
fr_cancel(void *ctx, void *req)
{
	struct fake_tr *f = ctx;
	struct fake_req *r = req;

	sim_cancel(f->s, r->ev);
	TAILQ_REMOVE(&f->live, r, entry);
	f->in_flight--;
	f->cancels++;
	free(r->a.body);
	free(r);
}

struct fake_tr *
fake_tr_new(struct sim *s, fake_server fn, void *arg)
{
	struct fake_tr *f = xcalloc(1, sizeof(*f));

	f->s = s;
	f->fn = fn;
	f->arg = arg;
	TAILQ_INIT(&f->live);
	f->ops = (struct up_transport){ fr_post, fr_cancel, f };
	return f;
}

void
fake_tr_free(struct fake_tr *f)
{
	struct fake_req *r;
	size_t i;

	while ((r = TAILQ_FIRST(&f->live)) != NULL)
		fr_cancel(f, r);
	for (i = 0; i < f->nposts; i++)
		free(f->posts[i].body);
	free(f->posts);
	free(f);
}

const struct up_transport *
fake_tr_ops(struct fake_tr *f)
{
	return &f->ops;
}

size_t
fake_tr_posts(const struct fake_tr *f, const struct fake_post **out)
{
	*out = f->posts;
	return f->nposts;
}

unsigned
fake_tr_cancels(const struct fake_tr *f)
{
	return f->cancels;
}

unsigned
fake_tr_in_flight(const struct fake_tr *f)
{
	return f->in_flight;
}

struct upstream *
fake_upstream(struct sim *s, struct fake_tr *f, unsigned lmin, unsigned linit,
    unsigned lmax, unsigned max_retries)
{
	struct upstream_opts o = { 0 };
	struct upstream *u = NULL;

	o.server = "https://sim.invalid";
	o.lim_min = lmin;
	o.lim_initial = linit;
	o.lim_max = lmax;
	o.max_retries = max_retries;
	o.transport = fake_tr_ops(f);
	o.clock = sim_clock(s);
	o.seed = 12345;
	if (upstream_new(NULL, &o, &u) < 0)
		abort();
	return u;
}

char *
fake_body(const char *cypher)
{
	struct buf b = BUF_INIT;

	if (cy_request_body(&b, cypher, "sim") < 0)
		abort();
	return buf_steal(&b);
}

char *
fake_rows(const char *json)
{
	return xstrdup(json);
}

/* ---- fake neuPrint ---- */

const char *const fnp_primary[FNP_NPRIMARY] = { "A(R)", "B(L)" };

static uint64_t
xs(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static double
u01(uint64_t *r)
{
	return (double)(xs(r) >> 11) / 9007199254740992.0;
}

void
fnp_init(struct fnp *n, size_t ntypes, unsigned maxn, double p,
    unsigned long seed)
{
	uint64_t r = seed * 2654435761ULL + 88172645463325252ULL;
	size_t i;

	memset(n, 0, sizeof(*n));
	n->types = xcalloc(ntypes ? ntypes : 1, sizeof(*n->types));
	n->ntypes = ntypes;
	for (i = 0; i < ntypes; i++) {
		n->types[i].name = xasprintf("T%04zu", i);
		n->types[i].neurons = 1 + (unsigned)floor(maxn * pow(u01(&r), p));
	}
	n->t_after = INFINITY;
}

void
fnp_free(struct fnp *n)
{
	size_t i;

	for (i = 0; i < n->nruns; i++)
		free(n->runs[i].body);
	free(n->runs);
	for (i = 0; i < n->ntypes; i++)
		free(n->types[i].name);
	free(n->types);
}

unsigned
fnp_neurons(const struct fnp *n, const char *type)
{
	size_t i;

	for (i = 0; i < n->ntypes; i++)
		if (strcmp(n->types[i].name, type) == 0)
			return n->types[i].neurons;
	return 0;
}

/* The names of "UNWIND ['a', 'b'] AS t" (or the one of "n.type = 'a'"). */
static size_t
literals(const char *q, const char *start, char ***out)
{
	const char *p = strstr(q, start);
	char **v = NULL;
	size_t n = 0;
	struct buf b = BUF_INIT;

	*out = NULL;
	if (p == NULL)
		return 0;
	p += strlen(start);
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p != '\'')
			break;
		buf_reset(&b);
		buf_puts(&b, "");
		for (p++; *p && *p != '\''; p++) {
			unsigned c;

			if (*p == '\\' && p[1] == 'u' &&
			    sscanf(p + 2, "%4x", &c) == 1 && c < 0x80) {
				buf_putc(&b, (char)c);	/* cy_quote's \u003A */
				p += 5;
				continue;
			}
			if (*p == '\\' && p[1])
				p++;
			buf_putc(&b, *p);
		}
		if (*p == '\'')
			p++;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrdup(b.data);
		if (start[strlen(start) - 1] != '[')
			break;		/* a single literal */
	}
	buf_free(&b);
	*out = v;
	return n;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char *
print(cJSON *o)
{
	char *t = cJSON_PrintUnformatted(o);
	char *s = xstrdup(t);

	cJSON_free(t);
	cJSON_Delete(o);
	return s;
}

static cJSON *
answer_obj(const char *const *cols, size_t ncols, cJSON **data)
{
	cJSON *o = cJSON_CreateObject(), *c = cJSON_AddArrayToObject(o, "columns");
	size_t i;

	for (i = 0; i < ncols; i++)
		cJSON_AddItemToArray(c, cJSON_CreateString(cols[i]));
	*data = cJSON_AddArrayToObject(o, "data");
	return o;
}

static cJSON *
row(cJSON *data)
{
	cJSON *r = cJSON_CreateArray();

	cJSON_AddItemToArray(data, r);
	return r;
}

static void
add_str(cJSON *r, const char *s)
{
	cJSON_AddItemToArray(r, s ? cJSON_CreateString(s) : cJSON_CreateNull());
}

static void
add_num(cJSON *r, double x)
{
	cJSON_AddItemToArray(r, cJSON_CreateNumber(x));
}

static char *
meta_answer(void)
{
	static const char *const cols[] = { "primaryRois", "roiHierarchy",
	    "uuid", "lastDatabaseEdit" };
	cJSON *data, *o = answer_obj(cols, 4, &data), *r = row(data);
	cJSON *p = cJSON_CreateArray();
	size_t i;

	for (i = 0; i < FNP_NPRIMARY; i++)
		cJSON_AddItemToArray(p, cJSON_CreateString(fnp_primary[i]));
	cJSON_AddItemToArray(r, p);
	add_str(r, "{}");
	add_str(r, "sim-uuid");
	add_str(r, "2024-01-01");
	return print(o);
}

static char *
types_answer(const struct fnp *n)
{
	static const char *const cols[] = { "type" };
	cJSON *data, *o = answer_obj(cols, 1, &data);
	size_t i;

	for (i = 0; i < n->ntypes; i++)
		add_str(row(data), n->types[i].name);
	return print(o);
}

static char *
cells_answer(const struct fnp *n, char **names, size_t k)
{
	static const char *const cols[] = { "type", "rootSide", "somaSide",
	    "side", "instance", "nt", "pnt", "dimorphism", "synonyms", "first",
	    "cells", "pre", "post", "superclass", "class", "subclass",
	    "flywireType", "somaNeuromere", "trumanHl" };
	cJSON *data, *o = answer_obj(cols, 19, &data), *r;
	char inst[80];
	size_t i, j;
	unsigned m;

	for (i = 0; i < k; i++) {
		if ((m = fnp_neurons(n, names[i])) == 0)
			continue;
		r = row(data);
		snprintf(inst, sizeof(inst), "%s_L", names[i]);
		add_str(r, names[i]);
		add_str(r, "L");
		add_str(r, "L");
		cJSON_AddItemToArray(r, cJSON_CreateNull());
		add_str(r, inst);
		add_str(r, "gaba");
		add_str(r, "gaba");
		cJSON_AddItemToArray(r, cJSON_CreateNull());
		cJSON_AddItemToArray(r, cJSON_CreateNull());
		add_num(r, 1000);
		if (n->bad_count_type && strcmp(names[i], n->bad_count_type) == 0)
			add_str(r, "many");
		else
			add_num(r, m);
		add_num(r, 10.0 * m);
		add_num(r, 20.0 * m);
		for (j = 0; j < 6; j++)
			cJSON_AddItemToArray(r, cJSON_CreateArray());
	}
	return print(o);
}

static char *
rois_answer(const struct fnp *n, char **names, size_t k)
{
	static const char *const cols[] = { "type", "roi", "pre", "post" };
	cJSON *data, *o = answer_obj(cols, 4, &data), *r;
	size_t i, j;
	unsigned m;

	for (i = 0; i < k; i++) {
		if ((m = fnp_neurons(n, names[i])) == 0)
			continue;
		for (j = 0; j < FNP_NPRIMARY; j++) {
			r = row(data);
			add_str(r, names[i]);
			add_str(r, fnp_primary[j]);
			add_num(r, ((double)j + 1.0) * m);
			add_num(r, ((double)j + 2.0) * m);
		}
	}
	return print(o);
}

static char *
type_answer(const struct fnp *n, const char *name)
{
	static const char *const cols[] = { "bodyId", "type", "instance",
	    "somaSide", "status", "pre", "post", "consensusNt", "roiInfo",
	    "rootSide", "side", "pnt", "dimorphism", "synonyms", "superclass",
	    "class", "subclass", "flywireType", "somaNeuromere", "trumanHl" };
	cJSON *data, *o = answer_obj(cols, 20, &data), *r;
	unsigned i, j, m = fnp_neurons(n, name);
	char info[200];

	snprintf(info, sizeof(info), "{\"%s\": {\"pre\": 1, \"post\": 2}, "
	    "\"%s\": {\"pre\": 2, \"post\": 3}}", fnp_primary[0], fnp_primary[1]);
	for (i = 0; i < m; i++) {
		r = row(data);
		add_num(r, 1000 + i);
		add_str(r, name);
		add_str(r, name);
		add_str(r, "L");
		add_str(r, "Traced");
		add_num(r, 10);
		add_num(r, 20);
		add_str(r, "gaba");
		add_str(r, info);
		add_str(r, "L");
		for (j = 0; j < 10; j++)
			cJSON_AddItemToArray(r, cJSON_CreateNull());
	}
	return print(o);
}

/* Start, finish and answer times by the capacity model (test_limiter's). */
static int
schedule(struct fnp *n, double now, double exec, double *delay)
{
	double arrive = now + n->net / 2, start;
	unsigned i, k = 0, m = 0, slots = n->slots;

	if (slots == 0) {
		*delay = n->net + exec;
		return 1;
	}
	if (slots > 256)
		slots = 256;
	for (i = 1; i < slots; i++)
		if (n->slot_free[i] < n->slot_free[k])
			k = i;
	for (i = 0; i < n->nwaiting; i++)
		if (n->waiting[i] > arrive)
			n->waiting[m++] = n->waiting[i];
	n->nwaiting = m;
	if (n->slot_free[k] > arrive && n->nwaiting >= n->queue) {
		/* Even a refusal takes a moment; 0 would stop the clock. */
		*delay = n->net > 0.001 ? n->net : 0.001;
		return 0;
	}
	start = arrive > n->slot_free[k] ? arrive : n->slot_free[k];
	n->slot_free[k] = start + exec;
	if (start > arrive && n->nwaiting < 4096)
		n->waiting[n->nwaiting++] = start;
	*delay = start + exec + n->net / 2 - now;
	return 1;
}

/* neuPrintHTTP 1.9.2's words (api/custom/custom.go, storage/neuprintbolt). */
#define FNP_TRANSIENT "{\"error\": \"failed to execute query: " \
	"TransactionExecutionLimit: timeout (exceeded max retry time: 30s) " \
	"after 3 attempts, last error: Neo4jError: " \
	"Neo.TransientError.General.MemoryPoolOutOfMemoryError (...)\"}"
#define FNP_BUSY "{\"error\": \"Timeout experienced. This could be due " \
	"to database traffic or to non-optimal database queries.\"}"
#define FNP_HTML(code, what) "<html>\r\n<head><title>" code " " what \
	"</title></head>\r\n<body>\r\n<center><h1>" code " " what \
	"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

/*
 * Answers that cost no slot: a proxy's 413, the database's transient and
 * busy 400s. 1 when A is one.
 */
static int
early_answer(struct fnp *n, size_t len, struct fake_answer *a)
{
	const char *body = NULL;

	if (n->max_body > 0 && len > n->max_body) {
		n->too_large++;
		a->status = 413;
		body = FNP_HTML("413", "Request Entity Too Large");
	} else if (n->transient_left > 0) {
		n->transient_left--;
		a->status = 400;
		body = FNP_TRANSIENT;
	} else if (n->busy_left > 0) {
		n->busy_left--;
		a->status = 400;
		body = FNP_BUSY;
	} else
		return 0;
	a->body = xstrdup(body);
	a->delay_s = n->net > 0.001 ? n->net : 0.001;
	return 1;
}

/*
 * The query holds its slot on [start, end); count a start while an
 * identical body is still on the server (abandoned by its client or not).
 */
static void
note_run(struct fnp *n, const char *body, size_t len, double start,
    double end)
{
	size_t i;

	for (i = 0; i < n->nruns; i++)
		if (n->runs[i].end > start && strlen(n->runs[i].body) == len &&
		    memcmp(n->runs[i].body, body, len) == 0)
			n->identical_overlaps++;
	n->runs = xreallocarray(n->runs, n->nruns + 1, sizeof(*n->runs));
	n->runs[n->nruns].body = xstrndup(body, len);
	n->runs[n->nruns].start = start;
	n->runs[n->nruns++].end = end;
}

/*
 * neuPrintHTTP 1.9's label rewrite (storage/masterdb.go): plain text
 * replacement of ":Neuron", string literals included. Returns a malloc'd
 * copy of Q.
 */
static char *
rewrite(const char *q)
{
	struct buf b = BUF_INIT;
	const char *p;

	buf_puts(&b, "");
	while ((p = strstr(q, ":Neuron")) != NULL) {
		buf_append(&b, q, (size_t)(p - q));
		buf_puts(&b, ":`sim_Neuron`");
		q = p + strlen(":Neuron");
	}
	buf_puts(&b, q);
	return buf_steal(&b);
}

void
fnp_serve(void *arg, const char *body, size_t len, double now,
    struct fake_answer *a)
{
	struct fnp *n = arg;
	cJSON *req = cJSON_ParseWithLength(body, len);
	const char *q = cJSON_GetStringValue(cJSON_GetObjectItem(req, "cypher"));
	enum cy_shape shape = CY_OTHER;
	char **names = NULL, *text = NULL;
	size_t k = 0, i;
	double work = 0, exec, start;
	char *rewritten = NULL;
	int failed = 0;

	if (q == NULL)
		abort();	/* upstream sent something that is no query */
	if (n->v19)
		q = rewritten = rewrite(q);
	if (strstr(q, "UNWIND [") != NULL) {
		k = literals(q, "UNWIND [", &names);
		shape = strstr(q, "count(n) AS cells") ? CY_CELLS : CY_ROIS;
	} else if (strstr(q, "WHERE n.type = '") != NULL) {
		k = literals(q, "WHERE n.type = ", &names);
		shape = CY_NEURONS;
	}
	for (i = 0; i < k; i++) {
		work += fnp_neurons(n, names[i]);
		if (n->fail_type && strcmp(names[i], n->fail_type) == 0)
			failed = 1;
	}
	n->requests++;
	n->by_shape[shape]++;
	if (now >= n->t_after)
		n->req_after++;
	if (early_answer(n, len, a)) {
		strv_free(names, k);
		cJSON_Delete(req);
		free(rewritten);
		return;
	}
	exec = n->a[shape] + n->b[shape] * work;
	if (!schedule(n, now, exec, &a->delay_s)) {
		n->rejected++;
		if (now >= n->t_after)
			n->rej_after++;
		a->status = 503;
		a->body = xstrdup("{\"error\": \"server busy\"}");
		strv_free(names, k);
		cJSON_Delete(req);
		free(rewritten);
		return;
	}
	start = now + a->delay_s - exec - n->net / 2;
	if (n->proxy_timeout > 0)	/* only then can a copy outlive its client */
		note_run(n, body, len, start, start + exec);
	if (n->proxy_timeout > 0 && start + exec - (now + n->net / 2) >
	    n->proxy_timeout) {
		/* The proxy stops waiting; the query keeps its slot. */
		n->proxy_timeouts++;
		a->status = 504;
		a->body = xstrdup(FNP_HTML("504", "Gateway Time-out"));
		a->delay_s = n->net + n->proxy_timeout;
	} else if (failed) {
		a->status = 400;
		a->body = xstrdup(n->v19 ? "{\"error\": \"failed to execute "
		    "query: Neo4jError: Neo.DatabaseError.Statement."
		    "ExecutionFailed (emulated failure)\"}" :
		    "{\"error\": \"emulated failure\"}");
	} else {
		a->status = 200;
		if (strstr(q, "MATCH (m:Meta)"))
			text = meta_answer();
		else if (strstr(q, "RETURN DISTINCT n.type")) {
			n->types_queries++;
			text = types_answer(n);
		}
		else if (shape == CY_CELLS)
			text = cells_answer(n, names, k);
		else if (shape == CY_ROIS)
			text = rois_answer(n, names, k);
		else if (shape == CY_NEURONS && k > 0 && names != NULL)
			text = type_answer(n, names[0]);
		else
			abort();	/* no query upstream sends */
		a->body = text;
		if (n->max_answer > 0 && strlen(text) > n->max_answer) {
			n->too_big++;
			free(a->body);
			a->body = NULL;
			a->fail = HTTP_ERR_TOO_BIG;
			a->error = "response body larger than the cap";
			a->started = 1;
		}
	}
	strv_free(names, k);
	cJSON_Delete(req);
	free(rewritten);
}

struct slots_at {
	struct fnp	*n;
	unsigned	 slots;
};

static void
set_slots(void *arg)
{
	struct slots_at *s = arg;

	s->n->slots = s->slots;
	free(s);
}

void
fnp_set_slots_at(struct fnp *n, struct sim *s, double t, unsigned slots)
{
	struct slots_at *x = xmalloc(sizeof(*x));

	x->n = n;
	x->slots = slots;
	sim_at(s, t, set_slots, x);
}

double
trace_mean(const struct limiter *l, double t0, double t1)
{
	const struct lim_sample *v;
	size_t i, n = lim_trace(l, &v);
	double total = 0, a, b, end;

	if (t1 <= t0 || n == 0)
		return NAN;
	for (i = 0; i < n; i++) {
		end = i + 1 < n ? v[i + 1].t : (t1 > v[i].t ? t1 : v[i].t);
		a = v[i].t > t0 ? v[i].t : t0;
		b = end < t1 ? end : t1;
		if (b > a)
			total += (b - a) * v[i].limit;
	}
	if (v[0].t > t0)
		total += ((v[0].t < t1 ? v[0].t : t1) - t0) * v[0].limit;
	return total / (t1 - t0);
}

void
trace_print(const struct limiter *l)
{
	const struct lim_sample *v;
	size_t i, n = lim_trace(l, &v);

	for (i = 0; i < n; i++)
		printf("%s%.2f:%u", i % 10 ? "  " : "\n    ", v[i].t, v[i].limit);
	printf("\n");
}
