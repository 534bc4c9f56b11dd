/*
 * typeset: what the index says about each type. Accumulators collect the
 * rows fetch parses (per candidate type name); ts_finish turns the winner's
 * accumulator into the final record render reads.
 */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/typeset.h"
#include "base/xmalloc.h"

enum ts_adapter
ts_adapter_for(const char *dataset)
{
	size_t n;

	if (dataset == NULL)
		return TS_ADAPT_CNS;
	n = strcspn(dataset, ":");
	if (n == 9 && strncmp(dataset, "hemibrain", n) == 0)
		return TS_ADAPT_HEMIBRAIN;
	if (n == 10 && strncmp(dataset, "optic-lobe", n) == 0)
		return TS_ADAPT_OPTIC;
	if ((n == 12 && strncmp(dataset, "flywire-fafb", n) == 0) ||
	    (n == 4 && strncmp(dataset, "fafb", n) == 0))
		return TS_ADAPT_FAFB;
	return TS_ADAPT_CNS;
}

void
ts_acc_init(struct ts_acc *a, const char *name, const struct roi_meta *m)
{
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	roi_acc_init(&a->roi, m);
}

static void
strs_free(struct ts_strs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void
ts_acc_free(struct ts_acc *a)
{
	int i;

	if (a == NULL)
		return;
	free(a->name);
	for (i = 0; i < TS_NFIRST; i++)
		free(a->first[i]);
	for (i = 0; i < TS_NLISTS; i++)
		strs_free(&a->list[i]);
	roi_acc_free(&a->roi);
	memset(a, 0, sizeof(*a));
}

struct ts_acc *
ts_acc_copy(const struct ts_acc *a)
{
	struct ts_acc *c = xmalloc(sizeof(*c));
	size_t i, k;

	*c = *a;
	c->name = xstrdup(a->name);
	for (i = 0; i < TS_NFIRST; i++)
		c->first[i] = a->first[i] ? xstrdup(a->first[i]) : NULL;
	for (i = 0; i < TS_NLISTS; i++) {
		c->list[i].v = xreallocarray(NULL, a->list[i].n ? a->list[i].n :
		    1, sizeof(*c->list[i].v));
		for (k = 0; k < a->list[i].n; k++)
			c->list[i].v[k] = xstrdup(a->list[i].v[k]);
	}
	c->roi.pre = xreallocarray(NULL, a->roi.n ? a->roi.n : 1,
	    sizeof(*c->roi.pre));
	c->roi.post = xreallocarray(NULL, a->roi.n ? a->roi.n : 1,
	    sizeof(*c->roi.post));
	if (a->roi.n) {
		memcpy(c->roi.pre, a->roi.pre, a->roi.n * sizeof(*a->roi.pre));
		memcpy(c->roi.post, a->roi.post, a->roi.n *
		    sizeof(*a->roi.post));
	}
	return c;
}

/* Only the values L, R and M are sides. */
static int
lrm(const char *s)
{
	if (s == NULL || s[0] == '\0' || s[1] != '\0')
		return TS_UNDEFINED;
	switch (s[0]) {
	case 'L': return TS_LEFT;
	case 'R': return TS_RIGHT;
	case 'M': return TS_MIDDLE;
	}
	return TS_UNDEFINED;
}

/* FlyWire's side words (neuview-site.md section 5, flywire-fafb). */
static int
side_word(const char *s)
{
	static const char *const left[] = { "LEFT", "left", "L" };
	static const char *const right[] = { "RIGHT", "right", "R" };
	static const char *const mid[] = { "CENTER", "MIDDLE", "center",
	    "middle", "C", "M" };
	size_t i;

	for (i = 0; i < sizeof(left) / sizeof(*left); i++)
		if (strcmp(s, left[i]) == 0)
			return TS_LEFT;
	for (i = 0; i < sizeof(right) / sizeof(*right); i++)
		if (strcmp(s, right[i]) == 0)
			return TS_RIGHT;
	for (i = 0; i < sizeof(mid) / sizeof(*mid); i++)
		if (strcmp(s, mid[i]) == 0)
			return TS_MIDDLE;
	return TS_UNDEFINED;
}

static int
ascii_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * The instance patterns of neuView's adapters. hemibrain: "_([LR])$";
 * optic-lobe and fafb: the first "(?:_|-|\()([LRMlrm])(?:_|\)|$|[^a-zA-Z])",
 * upper-cased.
 */
static int
side_instance(enum ts_adapter ad, const char *inst)
{
	const unsigned char *p;
	size_t n;

	if (inst == NULL)
		return TS_UNDEFINED;
	n = strlen(inst);
	if (ad == TS_ADAPT_HEMIBRAIN) {
		if (n >= 2 && inst[n - 2] == '_' &&
		    (inst[n - 1] == 'L' || inst[n - 1] == 'R'))
			return inst[n - 1] == 'L' ? TS_LEFT : TS_RIGHT;
		return TS_UNDEFINED;
	}
	for (p = (const unsigned char *)inst; p[0] != '\0' && p[1] != '\0'; p++) {
		if (p[0] != '_' && p[0] != '-' && p[0] != '(')
			continue;
		if (strchr("LRMlrm", p[1]) == NULL)
			continue;
		if (p[2] == '\0' || p[2] == '_' || p[2] == ')' ||
		    !ascii_alpha(p[2])) {
			switch (toupper(p[1])) {
			case 'L': return TS_LEFT;
			case 'R': return TS_RIGHT;
			default: return TS_MIDDLE;
			}
		}
	}
	return TS_UNDEFINED;
}

/* The side a row's neurons count under, from their properties. */
static int
side_props(enum ts_adapter ad, const struct ts_row *r)
{
	const char *p = r->root_side ? r->root_side : r->soma_side;

	if (p != NULL)
		return lrm(p);
	if (ad != TS_ADAPT_FAFB)
		return TS_UNDEFINED;
	if (r->side != NULL)
		return side_word(r->side);
	return side_instance(ad, r->instance);
}

static void
strs_add(struct ts_strs *s, const char *v, size_t len)
{
	s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = xstrndup(v, len);
}

/* A value as neuView turns it into a string; NULL for null. */
static char *
value_text(const cJSON *v)
{
	double d;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
		/* Range first: (int64_t) of a double past int64 is undefined. */
		if (d > -9.2e18 && d < 9.2e18 && d == (double)(int64_t)d)
			return xasprintf("%" PRId64, (int64_t)d);
		return xasprintf("%.17g", d);
	}
	if (cJSON_IsBool(v))
		return xstrdup(cJSON_IsTrue(v) ? "True" : "False");
	return NULL;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/* FlyWire types: each value split on ',', pieces trimmed, empty ones dropped. */
static void
add_split(struct ts_strs *s, const char *v)
{
	const char *p = v, *e, *a, *b;

	for (;;) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		for (a = p; a < e && blank(*a); a++)
			;
		for (b = e; b > a && blank(b[-1]); b--)
			;
		if (b > a)
			strs_add(s, a, (size_t)(b - a));
		if (*e == '\0')
			break;
		p = e + 1;
	}
}

static void
list_add(struct ts_acc *a, int k, const cJSON *v)
{
	const cJSON *e;
	char *s;

	assert(k >= 0 && k < TS_NLISTS);
	if (v == NULL)
		return;
	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(e, v)
			list_add(a, k, e);
		return;
	}
	if ((s = value_text(v)) == NULL)
		return;
	if (k == TS_FLYWIRE)
		add_split(&a->list[k], s);
	else
		strs_add(&a->list[k], s, strlen(s));
	free(s);
}

void
ts_acc_add_cells(struct ts_acc *a, enum ts_adapter ad, const struct ts_row *r)
{
	int s = side_props(ad, r), i;

	/* a side, never the total: each neuron counts once per tally */
	assert(s > TS_TOTAL && s < TS_NCOUNTS);
	a->seen = 1;
	/* Counts are the server's: summed without overflow (roi_count_add). */
	a->count[TS_TOTAL] = roi_count_add(a->count[TS_TOTAL], r->cells);
	a->count[s] = roi_count_add(a->count[s], r->cells);
	a->count_inst[TS_TOTAL] = roi_count_add(a->count_inst[TS_TOTAL],
	    r->cells);
	i = side_instance(ad, r->instance);
	assert(i > TS_TOTAL && i < TS_NCOUNTS);	/* a side, as above */
	a->count_inst[i] = roi_count_add(a->count_inst[i], r->cells);
	if (r->root_side != NULL || r->soma_side != NULL)
		a->side_prop = 1;
	a->pre = roi_count_add(a->pre, r->pre);
	a->post = roi_count_add(a->post, r->post);
	for (i = 0; i < TS_NFIRST; i++) {
		if (r->first[i] == NULL || (a->first[i] != NULL &&
		    a->first_body[i] <= r->first_body))
			continue;
		free(a->first[i]);
		a->first[i] = xstrdup(r->first[i]);
		a->first_body[i] = r->first_body;
	}
	for (i = 0; i < TS_NLISTS; i++)
		list_add(a, i, r->list[i]);
}

void
ts_acc_add_roi(struct ts_acc *a, const struct roi_meta *m, const char *roi,
    int64_t pre, int64_t post)
{
	a->seen = 1;
	roi_acc_add(&a->roi, roi_primary_index(m, roi), pre, post);
}

int
ts_acc_add_neuron(struct ts_acc *a, enum ts_adapter ad,
    const struct roi_meta *m, const struct ts_row *r, const char *roi_info)
{
	ts_acc_add_cells(a, ad, r);
	return roi_acc_add_info(&a->roi, m, roi_info);
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
	roi_summary_empty(&t->roi);
	if (error != NULL)
		t->error = xstrdup(error);
}

static int
cmp_strp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorted, duplicates dropped, copied. */
static void
sorted_distinct(const struct ts_strs *in, char ***out, size_t *nout)
{
	char **v = xcalloc(in->n ? in->n : 1, sizeof(*v));
	size_t i, n = 0;

	if (in->n > 0)
		memcpy(v, in->v, in->n * sizeof(*v));
	qsort(v, in->n, sizeof(*v), cmp_strp);
	for (i = 0; i < in->n; i++) {
		if (n > 0 && strcmp(v[n - 1], v[i]) == 0)
			continue;
		v[n++] = v[i];
	}
	for (i = 0; i < n; i++)
		v[i] = xstrdup(v[i]);
	*out = v;
	*nout = n;
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void
ts_summarize(struct ts_type *t, const struct ts_acc *winner,
    const struct roi_meta *m, enum ts_adapter ad)
{
	const int64_t *c;
	const char *nt;
	int i;

	assert(winner != NULL);	/* ts_finish handles none: unmatched */
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(winner->name);
	t->matched = 1;
	/* hemibrain, optic-lobe: the instance only when no neuron has a side. */
	c = winner->count;
	if ((ad == TS_ADAPT_HEMIBRAIN || ad == TS_ADAPT_OPTIC) &&
	    !winner->side_prop)
		c = winner->count_inst;
	for (i = 0; i < TS_NCOUNTS; i++)
		t->count[i] = c[i];
	t->pre = winner->pre;
	t->post = winner->post;
	nt = winner->first[TS_CONSENSUS_NT] ? winner->first[TS_CONSENSUS_NT] :
	    winner->first[TS_PREDICTED_NT];
	t->nt = dup_or_null(nt);
	t->dimorphism = dup_or_null(winner->first[TS_DIMORPHISM]);
	t->synonyms = dup_or_null(winner->first[TS_SYNONYMS]);
	for (i = 0; i < TS_NLISTS; i++)
		sorted_distinct(&winner->list[i], &t->list[i], &t->nlist[i]);
	roi_summarize(m, &winner->roi, &t->roi);
}

void
ts_add_files(struct ts_type *t, const struct scan_stem *s)
{
	int i;

	for (i = 0; i < SIDE_COUNT; i++)
		if (s->file[i] != NULL && t->file[i] == NULL)
			t->file[i] = xstrdup(s->file[i]);
}

void
ts_finish(struct ts_type *t, const struct scan_stem *s,
    const struct ts_acc *winner, const struct roi_meta *m, enum ts_adapter ad)
{
	if (winner == NULL) {
		ts_unmatched(t, s, NULL);
		return;
	}
	ts_summarize(t, winner, m, ad);
	ts_add_files(t, s);
}

const struct ts_acc *
ts_winner(const char *stem, struct ts_acc *const *accs, size_t n)
{
	const struct ts_acc *win = NULL;
	const char **names;
	const char *w;
	size_t i;

	if (n == 0)
		return NULL;
	names = xcalloc(n, sizeof(*names));
	for (i = 0; i < n; i++)
		names[i] = accs[i]->name;
	w = scan_resolve(stem, names, n);
	for (i = 0; i < n; i++)
		if (names[i] == w)
			win = accs[i];
	free(names);
	assert(win != NULL);	/* scan_resolve picks one of the N names */
	return win;
}

void
ts_type_free(struct ts_type *t)
{
	size_t k;
	int i;

	free(t->name);
	for (i = 0; i < SIDE_COUNT; i++)
		free(t->file[i]);
	free(t->nt);
	free(t->dimorphism);
	free(t->synonyms);
	for (i = 0; i < TS_NLISTS; i++) {
		for (k = 0; k < t->nlist[i]; k++)
			free(t->list[i][k]);
		free(t->list[i]);
	}
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

/* FILE (a page path) is the file rule's spelling of type NAME's page. */
static int
rule_spelled(const char *file, const char *name)
{
	const char *base = strrchr(file, '/');
	char *stem = scan_stem_of(name);
	size_t n = strlen(stem);
	int ok;

	base = base ? base + 1 : file;
	ok = strncmp(base, stem, n) == 0 && (strcmp(base + n, ".html") == 0 ||
	    (base[n] == '_' && strchr("LRM", base[n + 1]) && base[n + 1] &&
	    strcmp(base + n + 2, ".html") == 0));
	free(stem);
	return ok;
}

/* Of two pages of type NAME for one side: the rule's spelling, else the smaller. */
static int
better(const char *x, const char *y, const char *name)
{
	int rx = rule_spelled(x, name), ry = rule_spelled(y, name);

	return rx != ry ? rx : strcmp(x, y) < 0;
}

static void
drop(char ***dropped, size_t *n, char *file)
{
	*dropped = xreallocarray(*dropped, *n + 1, sizeof(**dropped));
	(*dropped)[(*n)++] = file;
}

/* Fold record B's pages into A's (same type), B's own data dropped. */
static void
merge_pages(struct ts_type *a, struct ts_type *b, char ***dropped,
    size_t *ndropped)
{
	char *tmp;
	int i;

	for (i = 0; i < SIDE_COUNT; i++) {
		if (b->file[i] == NULL)
			continue;
		if (a->file[i] == NULL) {
			a->file[i] = b->file[i];
		} else {
			if (better(b->file[i], a->file[i], a->name)) {
				tmp = a->file[i];
				a->file[i] = b->file[i];
				b->file[i] = tmp;
			}
			drop(dropped, ndropped, b->file[i]);
		}
		b->file[i] = NULL;
	}
}

size_t
ts_merge_names(struct ts_type *v, size_t n, char ***dropped,
    size_t *ndropped)
{
	struct ts_type tmp;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (k == 0 || !v[i].matched || !v[k - 1].matched ||
		    strcmp(v[i].name, v[k - 1].name) != 0) {
			if (k != i)
				v[k] = v[i];
			k++;
			continue;
		}
		/* The same type: keep the record that has data. */
		if (v[k - 1].error != NULL && v[i].error == NULL) {
			tmp = v[k - 1];
			v[k - 1] = v[i];
			v[i] = tmp;
		}
		merge_pages(&v[k - 1], &v[i], dropped, ndropped);
		ts_type_free(&v[i]);
	}
	assert(k <= n);		/* records are only merged away */
	for (i = k; i < n; i++)
		memset(&v[i], 0, sizeof(v[i]));
	return k;
}
