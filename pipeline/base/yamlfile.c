/*
 * yamlfile: see yamlfile.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "base/xmalloc.h"
#include "base/yamlfile.h"

int
yf_read_file(const char *file, const char *what, char **text, size_t *len,
    char *err, size_t errlen)
{
	char *t = NULL;
	size_t n, l = 0, cap = 0;
	FILE *f;
	int rc;

	*text = NULL;
	*len = 0;
	if ((f = fopen(file, "r")) == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(-rc));
		return rc;
	}
	do {
		if (l + 4096 > cap)
			t = xrealloc(t, cap = cap ? cap * 2 : 8192);
		n = fread(t + l, 1, cap - l - 1, f);
		l += n;
	} while (n > 0 && l < YF_MAX_FILE_BYTES);
	rc = ferror(f) ? -EIO : l >= YF_MAX_FILE_BYTES ? -EFBIG : 0;
	fclose(f);
	if (rc < 0) {
		if (rc == -EFBIG)
			snprintf(err, errlen, "%s: larger than 16 MiB: not %s",
			    file, what);
		else
			snprintf(err, errlen, "%s: %s", file, strerror(-rc));
		yf_free_text(t, l);
		return rc;
	}
	/* each read leaves a byte for the NUL */
	assert(t != NULL && l < cap);
	t[l] = '\0';
	*text = t;
	*len = l;
	return 0;
}

void
yf_free_text(char *text, size_t len)
{
	if (text == NULL)
		return;
	explicit_bzero(text, len);	/* it may hold a token */
	free(text);
}

/*
 * A few hundred bytes of YAML can cost the reader without bound: libyaml's
 * scanner takes time quadratic in the flow nesting depth ("[[[[..."; 20,000
 * levels took 12 s), and libcyaml replays an anchor's events at each alias,
 * so aliases of aliases ("billion laughs") stand for billions of nodes, all
 * allocated. Configs come from clients over the socket. Both found with
 * the config fuzz harness (tests/fuzz). One event pass, stopped at the
 * first breach, bounds both; no real config comes near.
 */
struct ychk_anchor {
	char	*name;
	size_t	 size;		/* nodes once expanded; 0 while still open */
};

struct ychk {
	struct ychk_anchor *a;
	size_t	 na;
	size_t	 open[YF_MAX_DEPTH + 1];	/* per level: anchor + 1, 0 none */
	size_t	 start[YF_MAX_DEPTH + 1];	/* nodes when the level began */
	int	 depth;
	size_t	 nodes;		/* so far, aliases expanded */
};

static size_t
ychk_define(struct ychk *c, const unsigned char *name, size_t size)
{
	assert(name != NULL);	/* only events with an anchor define one */
	c->a = xreallocarray(c->a, c->na + 1, sizeof(*c->a));
	c->a[c->na].name = xstrdup((const char *)name);
	c->a[c->na].size = size;
	return ++c->na;		/* index + 1 */
}

/* The latest anchor NAME (YAML lets a name be reused), or NULL. */
static struct ychk_anchor *
ychk_find(struct ychk *c, const unsigned char *name)
{
	size_t i;

	for (i = c->na; i-- > 0; )
		if (strcmp(c->a[i].name, (const char *)name) == 0)
			return &c->a[i];
	return NULL;
}

/* One event: 0, 1 at the stream's end, or a message in WHAT. */
static int
ychk_event(struct ychk *c, const yaml_event_t *ev, const char **what)
{
	const unsigned char *anchor = NULL;
	struct ychk_anchor *a;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_SCALAR_EVENT:
		c->nodes++;
		if (ev->data.scalar.anchor != NULL)
			ychk_define(c, ev->data.scalar.anchor, 1);
		break;
	case YAML_ALIAS_EVENT:
		/* Unknown anchors are the loader's to report, with a place. */
		if ((a = ychk_find(c, ev->data.alias.anchor)) == NULL)
			c->nodes++;
		else if (a->size == 0) {
			*what = "an alias refers to the anchor it is inside of";
			return -1;
		} else
			c->nodes += a->size;
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		anchor = ev->type == YAML_SEQUENCE_START_EVENT ?
		    ev->data.sequence_start.anchor :
		    ev->data.mapping_start.anchor;
		if (c->depth == YF_MAX_DEPTH) {
			*what = "nested more than 64 levels deep";
			return -1;
		}
		assert(c->depth < YF_MAX_DEPTH);	/* refused at it */
		c->depth++;
		c->start[c->depth] = c->nodes++;
		c->open[c->depth] = anchor ? ychk_define(c, anchor, 0) : 0;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		/* libyaml's events nest: an end closes the start before it */
		assert(c->depth > 0);
		if (c->open[c->depth] != 0) {
			/* the anchor's index + 1, defined at its start */
			assert(c->open[c->depth] <= c->na);
			c->a[c->open[c->depth] - 1].size =
			    c->nodes - c->start[c->depth];
		}
		c->depth--;
		break;
	default:
		break;
	}
	if (c->nodes > YF_MAX_NODES) {
		*what = "more than 100000 values once its aliases are expanded";
		return -1;
	}
	return 0;
}

int
yf_check(const char *name, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct ychk c = { .na = 0 };
	const char *what = NULL;
	yaml_parser_t p;
	yaml_event_t ev;
	size_t i, line = 0;
	int rc = 0;

	yf_parser_open(&p, text, len);
	while (rc == 0) {
		/* Syntax errors are the loaders' to report: stop quietly. */
		if (!yaml_parser_parse(&p, &ev))
			break;
		rc = ychk_event(&c, &ev, &what);
		line = ev.start_mark.line + 1;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	assert(c.depth >= 0 && c.depth <= YF_MAX_DEPTH);	/* ychk_event */
	for (i = 0; i < c.na; i++)
		free(c.a[i].name);
	free(c.a);
	if (rc >= 0)
		return 0;
	snprintf(err, errlen, "%s:%zu: the document is %s", name, line, what);
	return -EINVAL;
}


/* ---- libcyaml: allocation by xmalloc, its log into the message ---- */

/* libcyaml reports through a log callback; its lines are kept here. */
struct yf_logbuf {
	char	 text[1024];
	size_t	 len;
};

/* libcyaml passes a printf format: clang checks the vsnprintf on it. */
static void
log_first(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));
static void
log_all(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

static void
log_first(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct yf_logbuf *lb = ctx;
	char line[256];
	size_t n;

	assert(lb != NULL);	/* yf_cyaml_load's own, for the call */
	if (level < CYAML_LOG_ERROR || lb->text[0])
		return;		/* the first error says most */
	vsnprintf(line, sizeof(line), fmt, args);
	n = strcspn(line, "\n");
	line[n] = '\0';
	snprintf(lb->text, sizeof(line), "%s", line);
	lb->len = strlen(lb->text);
}

static void
log_all(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct yf_logbuf *l = ctx;
	char line[512], *p;
	size_t n;
	int k;

	assert(l != NULL);	/* yf_cyaml_load's own, for the call */
	if (level < CYAML_LOG_ERROR)
		return;
	if ((k = vsnprintf(line, sizeof(line), fmt, args)) <= 0)
		return;
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (strncmp(line, "Load: ", 6) == 0)
		memmove(line, line + 6, n - 5);
	/* libcyaml's "Backtrace:" header adds nothing on one line. */
	p = line + strspn(line, " ");
	if (*p == '\0' || strcmp(p, "Backtrace:") == 0)
		return;
	k = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s%s",
	    l->len ? " " : "", p);
	if (k > 0 && l->len + (size_t)k < sizeof(l->text))
		l->len += (size_t)k;
}

static const cyaml_config_t *
cyaml_config(struct yf_logbuf *lb, cyaml_cfg_flags_t flags, enum yf_log log,
    cyaml_config_t *c)
{
	memset(c, 0, sizeof(*c));
	c->log_fn = log == YF_LOG_FIRST ? log_first : log_all;
	c->log_ctx = lb;
	c->mem_fn = xmalloc_cyaml;
	c->log_level = CYAML_LOG_ERROR;
	c->flags = flags;
	return c;
}

int
yf_cyaml_load(const char *name, const char *text, size_t len,
    const cyaml_schema_value_t *schema, cyaml_cfg_flags_t flags,
    enum yf_log log, cyaml_data_t **out, char *err, size_t errlen)
{
	struct yf_logbuf lb = { .len = 0 };
	cyaml_config_t cc;
	cyaml_err_t ce;

	*out = NULL;
	ce = cyaml_load_data((const uint8_t *)text, len,
	    cyaml_config(&lb, flags, log, &cc), schema, out, NULL);
	if (ce == CYAML_OK)
		return 0;
	snprintf(err, errlen, "%s: %s", name, lb.len ? lb.text :
	    cyaml_strerror(ce));
	return -EINVAL;
}

void
yf_cyaml_free(const cyaml_schema_value_t *schema, cyaml_data_t *data)
{
	struct yf_logbuf lb = { .len = 0 };
	cyaml_config_t cc;

	cyaml_free(cyaml_config(&lb, CYAML_CFG_DEFAULT, YF_LOG_ALL, &cc),
	    schema, data, 0);
}

/* ---- libyaml's events ---- */

void
yf_parser_open(yaml_parser_t *p, const char *text, size_t len)
{
	yaml_parser_initialize(p);
	yaml_parser_set_input_string(p, (const unsigned char *)text, len);
}

int
yf_next(yaml_parser_t *p, yaml_event_t *ev)
{
	return yaml_parser_parse(p, ev) ? 0 : -EINVAL;
}

int
yf_skip_value(yaml_parser_t *p, const yaml_event_t *ev)
{
	int depth;
	yaml_event_t e;

	if (ev->type != YAML_MAPPING_START_EVENT &&
	    ev->type != YAML_SEQUENCE_START_EVENT)
		return 0;
	depth = 1;
	while (depth > 0) {
		if (yf_next(p, &e) < 0)
			return -EINVAL;
		if (e.type == YAML_MAPPING_START_EVENT ||
		    e.type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (e.type == YAML_MAPPING_END_EVENT ||
		    e.type == YAML_SEQUENCE_END_EVENT)
			depth--;
		else if (e.type == YAML_STREAM_END_EVENT)
			depth = 0;
		yaml_event_delete(&e);
	}
	return 0;
}
