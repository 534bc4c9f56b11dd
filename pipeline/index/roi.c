/*
 * roi: the dataset's primary ROIs and hierarchy, per-type synapse sums per
 * primary ROI, and the ROI summary rules of docs/create-index.md.
 *
 * Everything a summary needs that does not depend on the type (display
 * names, the parent of every primary ROI) is computed once in roi_meta_new,
 * so roi_summarize costs one pass over the primary ROIs of one type.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "neuprint/cypher.h"
#include "index/roi.h"
#include "base/xmalloc.h"

/* String -> index, open addressing, linear probing; keys are borrowed. */
struct strmap {
	const char **key;
	size_t	*val;
	size_t	 mask;
	size_t	 used;		/* keys in it */
};

struct roi_meta {
	char	**primary;	/* deduplicated, in META order */
	char	**display;	/* display name per primary */
	char	**parent;	/* parent display name per primary, "" if none */
	char	**clean;	/* neuView's cleaned name per primary */
	char	**nvparent;	/* neuView's parent per primary (itself if none) */
	size_t	 n;
	struct roi_rules rules;
	struct strmap index;	/* primary name -> index */
};

#define ROI_NO_PARENT	SIZE_MAX

/* Hierarchy nodes in depth-first order, children by name. */
struct node {
	char	*disp;		/* display name */
	char	*clean;		/* roi_clean_name */
	size_t	 parent;	/* index of the parent node, ROI_NO_PARENT */
};

struct walk {
	struct node *v;
	size_t	 n, cap;
};

struct child {
	const cJSON *node;
	const char *name;
	size_t	 pos;
};

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
strmap_init(struct strmap *m, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap *= 2;
	m->key = xcalloc(cap, sizeof(*m->key));
	m->val = xcalloc(cap, sizeof(*m->val));
	m->mask = cap - 1;
	m->used = 0;
}

static void
strmap_free(struct strmap *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

/* Slot of KEY, or of the empty slot where it would go. */
static size_t
strmap_slot(const struct strmap *m, const char *key)
{
	size_t i;

	/* a free slot ends every probe: init sized the map past twice N */
	assert(m->key != NULL && m->used <= m->mask);
	i = (size_t)hash_str(key) & m->mask;
	while (m->key[i] != NULL && strcmp(m->key[i], key) != 0)
		i = (i + 1) & m->mask;
	return i;
}

/* 1 when found (*val set), 0 when not. */
static int
strmap_get(const struct strmap *m, const char *key, size_t *val)
{
	size_t i;

	if (m->key == NULL)
		return 0;
	i = strmap_slot(m, key);
	if (m->key[i] == NULL)
		return 0;
	*val = m->val[i];
	return 1;
}

/* Insert unless present (first wins); the map must have room (see init). */
static int
strmap_put_new(struct strmap *m, const char *key, size_t val)
{
	size_t i = strmap_slot(m, key);

	if (m->key[i] != NULL)
		return 0;
	assert(m->used < m->mask);	/* the map has room (see init) */
	m->key[i] = key;
	m->val[i] = val;
	m->used++;
	return 1;
}

char *
roi_display_name(const char *raw)
{
	size_t len = strlen(raw);

	if (len >= 3 && raw[len - 3] == '(' && raw[len - 1] == ')' &&
	    (raw[len - 2] == 'R' || raw[len - 2] == 'L' || raw[len - 2] == 'M')) {
		len -= 3;
		while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t'))
			len--;
	}
	return xstrndup(raw, len);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/*
 * neuView's cleaning (reference section 3.6): a trailing "\s*\([RLM]\)",
 * then a trailing "_[RLM]", then blanks at both ends.
 */
char *
roi_clean_name(const char *raw)
{
	size_t len = strlen(raw), start = 0;

	if (len >= 3 && raw[len - 3] == '(' && raw[len - 1] == ')' &&
	    (raw[len - 2] == 'R' || raw[len - 2] == 'L' || raw[len - 2] == 'M')) {
		len -= 3;
		while (len > 0 && is_space(raw[len - 1]))
			len--;
	}
	if (len >= 2 && raw[len - 2] == '_' &&
	    (raw[len - 1] == 'R' || raw[len - 1] == 'L' || raw[len - 1] == 'M'))
		len -= 2;
	while (len > 0 && is_space(raw[len - 1]))
		len--;
	while (start < len && is_space(raw[start]))
		start++;
	return xstrndup(raw + start, len - start);
}

/* ---- hierarchy walk ---- */

static void
walk_add(struct walk *w, const char *raw, size_t parent)
{
	/* depth first: a node's parent was added before it */
	assert(parent == ROI_NO_PARENT || parent < w->n);
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
	}
	w->v[w->n].disp = roi_display_name(raw);
	w->v[w->n].clean = roi_clean_name(raw);
	w->v[w->n].parent = parent;
	w->n++;
}

static void
walk_free(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->v[i].disp);
		free(w->v[i].clean);
	}
	free(w->v);
}

static int
child_cmp(const void *x, const void *y)
{
	const struct child *a = x, *b = y;
	int c;

	if ((c = strcmp(a->name, b->name)) != 0)
		return c;
	return (a->pos > b->pos) - (a->pos < b->pos);
}

static const char *
node_name(const cJSON *node)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(node, "name");

	return cJSON_IsString(n) ? n->valuestring : NULL;
}

/*
 * Visit NODE, then its children in byte order of their raw names. A node
 * without a string "name" matches nothing and sorts as ""; its children
 * have no parent to answer (as the emulator's oracle does). cJSON's nesting
 * limit (1000) bounds the recursion.
 */
static void
walk_node(struct walk *w, const cJSON *node, size_t parent)
{
	const cJSON *kids, *k;
	struct child *c;
	size_t self = ROI_NO_PARENT, n = 0, i;
	const char *name = node_name(node);

	if (name != NULL) {
		self = w->n;
		walk_add(w, name, parent);
	}
	kids = cJSON_GetObjectItemCaseSensitive(node, "children");
	if (!cJSON_IsArray(kids) || cJSON_GetArraySize(kids) == 0)
		return;
	c = xcalloc((size_t)cJSON_GetArraySize(kids), sizeof(*c));
	cJSON_ArrayForEach(k, kids) {
		if (!cJSON_IsObject(k))
			continue;
		c[n].name = node_name(k) ? node_name(k) : "";
		c[n].node = k;
		c[n].pos = n;
		n++;
	}
	qsort(c, n, sizeof(*c), child_cmp);
	for (i = 0; i < n; i++)
		walk_node(w, c[i].node, self);
	free(c);
}

/* Parent display name of every primary ROI, by the first node matching it. */
static void
meta_parents(struct roi_meta *m, const struct walk *w)
{
	struct strmap first;
	const char *p;
	size_t i, k;

	strmap_init(&first, w->n);
	for (i = 0; i < w->n; i++)
		strmap_put_new(&first, w->v[i].disp, i);
	for (i = 0; i < m->n; i++) {
		p = "";
		if (strmap_get(&first, m->display[i], &k) &&
		    w->v[k].parent != ROI_NO_PARENT)
			p = w->v[w->v[k].parent].disp;
		m->parent[i] = xstrdup(p);
	}
	strmap_free(&first);
	/* neuView: the same walk on cleaned names; no parent gives itself. */
	strmap_init(&first, w->n);
	for (i = 0; i < w->n; i++)
		strmap_put_new(&first, w->v[i].clean, i);
	for (i = 0; i < m->n; i++) {
		p = m->clean[i];
		if (strmap_get(&first, m->clean[i], &k) &&
		    w->v[k].parent != ROI_NO_PARENT)
			p = w->v[w->v[k].parent].clean;
		m->nvparent[i] = xstrdup(p);
	}
	strmap_free(&first);
}

static int
meta_hierarchy(struct roi_meta *m, const char *json, char *err, size_t errlen)
{
	struct walk w = { NULL, 0, 0 };
	cJSON *root;

	if (json == NULL || *json == '\0')
		json = "{}";
	if ((root = cJSON_Parse(json)) == NULL) {
		snprintf(err, errlen, "roiHierarchy is not valid JSON");
		return -EBADMSG;
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		snprintf(err, errlen, "roiHierarchy is not a JSON object");
		return -EBADMSG;
	}
	walk_node(&w, root, ROI_NO_PARENT);
	cJSON_Delete(root);
	meta_parents(m, &w);
	walk_free(&w);
	return 0;
}

/* ---- primary ROIs ---- */

static void
meta_primary(struct roi_meta *m, const char *const *primary, size_t n)
{
	size_t i;

	strmap_init(&m->index, n);
	m->primary = xcalloc(n, sizeof(*m->primary));
	m->display = xcalloc(n, sizeof(*m->display));
	m->parent = xcalloc(n, sizeof(*m->parent));
	m->clean = xcalloc(n, sizeof(*m->clean));
	m->nvparent = xcalloc(n, sizeof(*m->nvparent));
	for (i = 0; i < n; i++) {
		/* A name listed twice would split its sums: keep the first. */
		if (strmap_get(&m->index, primary[i], &(size_t){ 0 }))
			continue;
		m->primary[m->n] = xstrdup(primary[i]);
		m->display[m->n] = roi_display_name(primary[i]);
		m->clean[m->n] = roi_clean_name(primary[i]);
		strmap_put_new(&m->index, m->primary[m->n], m->n);
		m->n++;
	}
	assert(m->n <= n);	/* the first of each name only */
}

int
roi_meta_new(const char *const *primary, size_t nprimary,
    const char *hierarchy_json, struct roi_meta **out, char *err,
    size_t errlen)
{
	struct roi_meta *m;
	int rc;

	*out = NULL;
	if (nprimary > INT32_MAX) {
		snprintf(err, errlen, "too many primary ROIs");
		return -E2BIG;
	}
	m = xcalloc(1, sizeof(*m));
	m->rules.set = ROI_RULES_QUICKPAGE;
	m->rules.threshold_pct = ROI_THRESHOLD_PCT;
	meta_primary(m, primary, nprimary);
	if ((rc = meta_hierarchy(m, hierarchy_json, err, errlen)) < 0) {
		roi_meta_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int
roi_meta_parse(const struct cy_result *r, struct roi_meta **out, char *err,
    size_t errlen)
{
	int cp = cy_column(r, "primaryRois"), ch = cy_column(r, "roiHierarchy");
	const cJSON *row, *list, *e;
	const char **prim;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (r->nrows != 1 || cp < 0 || ch < 0) {
		snprintf(err, errlen, "the dataset's Meta node is missing or "
		    "lacks primaryRois/roiHierarchy/uuid");
		return -EBADMSG;
	}
	row = cy_row(r, 0);
	list = cJSON_GetArrayItem(row, cp);
	if (!cJSON_IsArray(list)) {
		snprintf(err, errlen, "Meta.primaryRois is not a list");
		return -EBADMSG;
	}
	prim = xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*prim));
	cJSON_ArrayForEach(e, list)
		if (cJSON_IsString(e))
			prim[n++] = e->valuestring;
	rc = roi_meta_new(prim, n, cy_str(row, ch) ? cy_str(row, ch) : "{}",
	    out, err, errlen);
	free(prim);
	return rc;
}

void
roi_meta_free(struct roi_meta *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->primary[i]);
		free(m->display[i]);
		free(m->parent[i]);
		free(m->clean[i]);
		free(m->nvparent[i]);
	}
	free(m->clean);
	free(m->nvparent);
	free(m->primary);
	free(m->display);
	free(m->parent);
	strmap_free(&m->index);
	free(m);
}

void
roi_meta_set_rules(struct roi_meta *m, const struct roi_rules *r)
{
	/* DEFAULT is a config's: the job resolved it by the layout */
	assert(r->set == ROI_RULES_QUICKPAGE || r->set == ROI_RULES_NEUVIEW);
	m->rules = *r;
}

const char *
roi_rules_name(enum roi_ruleset set)
{
	/* DEFAULT is a config's: the job resolved it by the layout */
	assert(set == ROI_RULES_QUICKPAGE || set == ROI_RULES_NEUVIEW);
	return set == ROI_RULES_NEUVIEW ? "neuview" : "quickpage";
}

size_t
roi_nprimary(const struct roi_meta *m)
{
	return m ? m->n : 0;
}

const char *
roi_primary_name(const struct roi_meta *m, size_t i)
{
	return m && i < m->n ? m->primary[i] : NULL;
}

int
roi_primary_index(const struct roi_meta *m, const char *name)
{
	size_t v;

	if (m == NULL || name == NULL || !strmap_get(&m->index, name, &v))
		return -1;
	assert(v < m->n && v <= INT32_MAX);	/* roi_meta_new refuses more */
	return (int)v;
}

/* ---- per-type sums ---- */

void
roi_acc_init(struct roi_acc *a, const struct roi_meta *m)
{
	a->n = roi_nprimary(m);
	a->pre = xcalloc(a->n, sizeof(*a->pre));
	a->post = xcalloc(a->n, sizeof(*a->post));
}

int64_t
roi_count_add(int64_t a, int64_t b)
{
	int64_t s;

	if (__builtin_add_overflow(a, b, &s))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return s;
}

void
roi_acc_add(struct roi_acc *a, int idx, int64_t pre, int64_t post)
{
	if (idx < 0 || (size_t)idx >= a->n)
		return;
	a->pre[idx] = roi_count_add(a->pre[idx], pre);
	a->post[idx] = roi_count_add(a->post[idx], post);
}

/* A count in roiInfo: an integral JSON number, else 0. */
static int64_t
info_count(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double d;

	if (!cJSON_IsNumber(v))
		return 0;
	d = v->valuedouble;
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0))
		return 0;
	return (int64_t)d;
}

int
roi_acc_add_info(struct roi_acc *a, const struct roi_meta *m,
    const char *roi_info_json)
{
	const cJSON *e;
	cJSON *root;

	if (roi_info_json == NULL || *roi_info_json == '\0')
		return 0;
	if ((root = cJSON_Parse(roi_info_json)) == NULL)
		return -EBADMSG;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EBADMSG;
	}
	cJSON_ArrayForEach(e, root)
		if (e->string != NULL && cJSON_IsObject(e))
			roi_acc_add(a, roi_primary_index(m, e->string),
			    info_count(e, "pre"), info_count(e, "post"));
	cJSON_Delete(root);
	return 0;
}

void
roi_acc_free(struct roi_acc *a)
{
	free(a->pre);
	free(a->post);
	memset(a, 0, sizeof(*a));
}

/* ---- summary ---- */

struct rank {
	const struct roi_meta *m;
	const struct roi_acc *a;
};

/* By pre + post descending, then raw name ascending. */
static int
rank_cmp(const void *x, const void *y, void *arg)
{
	const struct rank *r = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	int64_t si, sj;

	/* only ROIs both the sums and the meta have are ranked */
	assert(i < r->a->n && j < r->a->n && i < r->m->n && j < r->m->n);
	si = roi_count_add(r->a->pre[i], r->a->post[i]);
	sj = roi_count_add(r->a->pre[j], r->a->post[j]);
	if (si != sj)
		return si > sj ? -1 : 1;
	return strcmp(r->m->primary[i], r->m->primary[j]);
}

static double
pct(int64_t part, int64_t total)
{
	return total != 0 ? 100.0 * (double)part / (double)total : 0.0;
}

static int
already_kept(const struct roi_summary *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return 1;
	return 0;
}

static int
cmp_strp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Walk the ranked ROIs and keep those at or above the threshold, under the
 * names of the rule set, the first of each name only; quickpage stops after
 * ROI_SUMMARY_MAX. *first: the first kept.
 */
static void
summary_keep(const struct roi_meta *m, const struct roi_acc *a,
    const size_t *order, size_t n, struct roi_summary *out, size_t *first)
{
	int nv = m->rules.set == ROI_RULES_NEUVIEW;
	double th = m->rules.threshold_pct;
	int64_t tpre = 0, tpost = 0;
	struct roi_entry *e;
	const char *name;
	double pp, qp;
	size_t i, k;

	for (i = 0; i < a->n; i++) {
		tpre = roi_count_add(tpre, a->pre[i]);
		tpost = roi_count_add(tpost, a->post[i]);
	}
	out->e = xcalloc(n ? n : 1, sizeof(*out->e));
	for (i = 0; i < n && (nv || out->n < ROI_SUMMARY_MAX); i++) {
		k = order[i];
		pp = pct(a->pre[k], tpre);
		qp = pct(a->post[k], tpost);
		name = nv ? m->clean[k] : m->display[k];
		if (!(pp >= th || qp >= th) || already_kept(out, name))
			continue;
		e = &out->e[out->n];
		e->name = xstrdup(name);
		e->pre = a->pre[k];
		e->post = a->post[k];
		e->pre_pct = pp;
		e->post_pct = qp;
		e->roi = k;
		if (out->n++ == 0)
			*first = k;
	}
	/* an entry per ranked ROI at most; quickpage's capped */
	assert(out->n <= n && (nv || out->n <= ROI_SUMMARY_MAX));
}

/* neuView: every distinct parent of a kept ROI, sorted. */
static void
summary_parents_nv(const struct roi_meta *m, struct roi_summary *out)
{
	size_t i, j, n = 0;

	out->parents = xcalloc(out->n ? out->n : 1, sizeof(*out->parents));
	for (i = 0; i < out->n; i++)
		out->parents[i] = m->nvparent[out->e[i].roi];
	qsort(out->parents, out->n, sizeof(*out->parents), cmp_strp);
	for (i = 0; i < out->n; i++) {
		if (n > 0 && strcmp(out->parents[n - 1], out->parents[i]) == 0)
			continue;
		out->parents[n++] = out->parents[i];
	}
	assert(n <= out->n);	/* distinct parents of the kept ROIs */
	for (j = 0; j < n; j++)
		out->parents[j] = xstrdup(out->parents[j]);
	out->nparents = n;
	out->parent = xstrdup(n ? out->parents[0] : "");
}

void
roi_summarize(const struct roi_meta *m, const struct roi_acc *a,
    struct roi_summary *out)
{
	struct rank r = { m, a };
	size_t *order, i, n = 0, first = 0;
	size_t np = a->n < roi_nprimary(m) ? a->n : roi_nprimary(m);

	if (m == NULL) {
		roi_summary_empty(out);
		return;
	}
	/* DEFAULT never reaches the meta (roi_meta_set_rules) */
	assert(m->rules.set != ROI_RULES_DEFAULT);
	memset(out, 0, sizeof(*out));
	order = xcalloc(np ? np : 1, sizeof(*order));
	/* An ROI with no synapses has 0 % and is never kept: skip ranking it. */
	for (i = 0; i < np; i++)
		if (a->pre[i] != 0 || a->post[i] != 0)
			order[n++] = i;
	qsort_r(order, n, sizeof(*order), rank_cmp, &r);
	summary_keep(m, a, order, n, out, &first);
	free(order);
	if (m->rules.set == ROI_RULES_NEUVIEW) {
		summary_parents_nv(m, out);
		return;
	}
	assert(out->n == 0 || first < m->n);	/* summary_keep set it */
	out->parent = xstrdup(out->n ? m->parent[first] : "");
	out->parents = xcalloc(1, sizeof(*out->parents));
	if (out->parent[0] != '\0')
		out->parents[out->nparents++] = xstrdup(out->parent);
}

void
roi_summary_empty(struct roi_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->parent = xstrdup("");
}

void
roi_summary_free(struct roi_summary *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->e[i].name);
	free(s->e);
	for (i = 0; i < s->nparents; i++)
		free(s->parents[i]);
	free(s->parents);
	free(s->parent);
	memset(s, 0, sizeof(*s));
}
