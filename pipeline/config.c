/*
 * config: QuickPage site configs. libcyaml maps the document onto structs
 * by schema; a libyaml walk before it checks what a schema cannot say
 * with a position: wrong node kinds, bad numbers, and unknown keys in our
 * own `quickpaged:` section (QuickPage's sections may hold anything: the
 * same file drives QuickPage itself, so its other keys are ignored).
 */
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cyaml/cyaml.h>
#include <yaml.h>

#include "config.h"
#include "base/xmalloc.h"
#include "base/yamlfile.h"

/* The document as libcyaml loads it; absent optional fields are 0/NULL. */
struct raw_neuprint { char *server, *dataset, *token; };
struct raw_output { char *directory; };
struct raw_html { char *title_prefix; };
struct raw_conc { unsigned min, initial, max; };
struct raw_qp {
	char		*ca_file, *template_dir, *layout, *rules, *cache_dir;
	double		 roi_threshold_pct;
	unsigned	 batch_size, max_candidates_underscores;
	unsigned	 connect_timeout_s, request_timeout_s, low_speed_time_s;
	unsigned	 max_retries;
	unsigned	 max_query_bytes, server_query_limit_s;
	double		 max_failed_fraction;
	struct raw_conc	*concurrency;
};
struct raw {
	struct raw_neuprint *neuprint;
	struct raw_output *output;
	struct raw_html	*html;
	struct raw_qp	*quickpaged;
};

#define OPT	CYAML_FLAG_OPTIONAL
/* "key:", "key: ~" and "key: null" mean absent, as in QuickPage (PyYAML). */
#define OPTP	(CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL_STR)

static const cyaml_schema_field_t neuprint_fields[] = {
	CYAML_FIELD_STRING_PTR("server", OPTP, struct raw_neuprint, server, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("dataset", OPTP, struct raw_neuprint, dataset, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("token", OPTP, struct raw_neuprint, token, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t output_fields[] = {
	CYAML_FIELD_STRING_PTR("directory", OPTP, struct raw_output, directory, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t html_fields[] = {
	CYAML_FIELD_STRING_PTR("title_prefix", OPTP, struct raw_html, title_prefix, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t conc_fields[] = {
	CYAML_FIELD_UINT("min", OPT, struct raw_conc, min),
	CYAML_FIELD_UINT("initial", OPT, struct raw_conc, initial),
	CYAML_FIELD_UINT("max", OPT, struct raw_conc, max),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t qp_fields[] = {
	CYAML_FIELD_STRING_PTR("ca_file", OPTP, struct raw_qp, ca_file, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("template_dir", OPTP, struct raw_qp, template_dir, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("cache_dir", OPTP, struct raw_qp, cache_dir, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("layout", OPTP, struct raw_qp, layout, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("rules", OPTP, struct raw_qp, rules, 0, CYAML_UNLIMITED),
	CYAML_FIELD_FLOAT("roi_threshold_pct", OPT, struct raw_qp, roi_threshold_pct),
	CYAML_FIELD_UINT("batch_size", OPT, struct raw_qp, batch_size),
	CYAML_FIELD_UINT("max_candidates_underscores", OPT, struct raw_qp, max_candidates_underscores),
	CYAML_FIELD_UINT("connect_timeout_s", OPT, struct raw_qp, connect_timeout_s),
	CYAML_FIELD_UINT("request_timeout_s", OPT, struct raw_qp, request_timeout_s),
	CYAML_FIELD_UINT("low_speed_time_s", OPT, struct raw_qp, low_speed_time_s),
	CYAML_FIELD_UINT("max_retries", OPT, struct raw_qp, max_retries),
	CYAML_FIELD_UINT("max_query_bytes", OPT, struct raw_qp, max_query_bytes),
	CYAML_FIELD_UINT("server_query_limit_s", OPT, struct raw_qp, server_query_limit_s),
	CYAML_FIELD_FLOAT("max_failed_fraction", OPT, struct raw_qp, max_failed_fraction),
	CYAML_FIELD_MAPPING_PTR("concurrency", OPTP, struct raw_qp, concurrency, conc_fields),
	CYAML_FIELD_END
};
static const cyaml_schema_field_t top_fields[] = {
	CYAML_FIELD_MAPPING_PTR("neuprint", OPTP, struct raw, neuprint, neuprint_fields),
	CYAML_FIELD_MAPPING_PTR("output", OPTP, struct raw, output, output_fields),
	CYAML_FIELD_MAPPING_PTR("html", OPTP, struct raw, html, html_fields),
	CYAML_FIELD_MAPPING_PTR("quickpaged", OPTP, struct raw, quickpaged, qp_fields),
	CYAML_FIELD_END
};
static const cyaml_schema_value_t top_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw, top_fields),
};

/* ---- the libyaml walk: kinds, numbers, our section's keys, positions ---- */

enum kind { K_STR, K_UINT, K_FLOAT, K_MAP };

struct known {
	const char	*path;		/* dotted */
	enum kind	 kind;
};

static const struct known known[] = {
	{ "neuprint", K_MAP }, { "neuprint.server", K_STR },
	{ "neuprint.dataset", K_STR }, { "neuprint.token", K_STR },
	{ "output", K_MAP }, { "output.directory", K_STR },
	{ "html", K_MAP }, { "html.title_prefix", K_STR },
	{ "quickpaged", K_MAP }, { "quickpaged.ca_file", K_STR },
	{ "quickpaged.template_dir", K_STR }, { "quickpaged.batch_size", K_UINT },
	{ "quickpaged.cache_dir", K_STR },
	{ "quickpaged.max_candidates_underscores", K_UINT },
	{ "quickpaged.layout", K_STR }, { "quickpaged.rules", K_STR },
	{ "quickpaged.roi_threshold_pct", K_FLOAT },
	{ "quickpaged.connect_timeout_s", K_UINT },
	{ "quickpaged.request_timeout_s", K_UINT },
	{ "quickpaged.low_speed_time_s", K_UINT },
	{ "quickpaged.max_retries", K_UINT },
	{ "quickpaged.max_query_bytes", K_UINT },
	{ "quickpaged.server_query_limit_s", K_UINT },
	{ "quickpaged.max_failed_fraction", K_FLOAT },
	{ "quickpaged.concurrency", K_MAP },
	{ "quickpaged.concurrency.min", K_UINT },
	{ "quickpaged.concurrency.initial", K_UINT },
	{ "quickpaged.concurrency.max", K_UINT },
};

#define NKNOWN	(sizeof(known) / sizeof(known[0]))

struct walk {
	const char	*name;		/* file name for messages */
	yaml_document_t	 doc;
	int		 line[NKNOWN];	/* 1-based position of each key, 0: absent */
	int		 col[NKNOWN];
	char		*err;
	size_t		 errlen;
};

static int
known_index(const char *path)
{
	size_t i;

	for (i = 0; i < NKNOWN; i++)
		if (strcmp(known[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* A plain empty, ~ or null scalar: what libcyaml's NULL_STR reads as NULL. */
static int
is_null(const yaml_node_t *v)
{
	const char *s = (const char *)v->data.scalar.value;

	return v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

/*
 * Messages quote a value or key only when it cannot be a token pasted in
 * the wrong place: short, and (for keys) made of key characters.
 */
static int
quotable(const char *s, size_t max, int keychars)
{
	size_t n = strlen(s), i;

	if (n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (keychars ? !(s[i] == '_' || s[i] == '-' ||
		    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9')) : (s[i] < ' ' || s[i] > '~'))
			return 0;
	return 1;
}

static int
fail_at(struct walk *w, const yaml_mark_t *m, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail_at(struct walk *w, const yaml_mark_t *m, const char *path, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(w->err, w->errlen, "%s:%zu:%zu: key '%s': %s", w->name,
	    m->line + 1, m->column + 1, path, what);
	return -EINVAL;
}

/* EXPECTED, and the scalar V got, quoted when it may be (quotable). */
static int
fail_got(struct walk *w, const yaml_node_t *v, const char *path,
    const char *expected)
{
	const char *s = (const char *)v->data.scalar.value;
	int q = quotable(s, 24, 0);

	assert(v->type == YAML_SCALAR_NODE);	/* numbers are scalars */
	return fail_at(w, &v->start_mark, path, "%s, got %s%s%s", expected,
	    q ? "'" : "", q ? s : "a longer text", q ? "'" : "");
}

/* A quoted scalar: numbers are written unquoted (the messages say so). */
static int
quoted(const yaml_node_t *v)
{
	return v->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	    v->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

static int
check_uint(struct walk *w, yaml_node_t *v, const char *path)
{
	const char *s = (const char *)v->data.scalar.value;
	char *end;
	unsigned long n;

	assert(v->type == YAML_SCALAR_NODE);	/* check_value saw to it */

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || quoted(v))
		return fail_got(w, v, path,
		    "expected a whole number >= 0 (unquoted)");
	if (s[0] == '0' && s[1] != '\0')	/* libcyaml: octal */
		return fail_at(w, &v->start_mark, path,
		    "write the number without leading zeros, got '%s'", s);
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || n > UINT_MAX)
		return fail_at(w, &v->start_mark, path, "number too large");
	return 0;
}

static int
check_float(struct walk *w, yaml_node_t *v, const char *path)
{
	const char *s = (const char *)v->data.scalar.value;
	char *end;
	double d;

	assert(v->type == YAML_SCALAR_NODE);	/* check_value saw to it */
	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno || !isfinite(d) || quoted(v))
		return fail_got(w, v, path, "expected a number (unquoted)");
	return 0;
}

static int walk_map(struct walk *, yaml_node_t *, const char *, int);

static int
check_value(struct walk *w, int k, yaml_node_t *v, const char *path)
{
	assert(k >= 0 && (size_t)k < NKNOWN);	/* known_index found it */
	switch (known[k].kind) {
	case K_MAP:
		if (is_null(v))
			return 0;	/* "quickpaged:" with every key commented out */
		if (v->type != YAML_MAPPING_NODE)
			return fail_at(w, &v->start_mark, path,
			    "expected a mapping of keys");
		return walk_map(w, v, path, strncmp(path, "quickpaged", 10) == 0);
	case K_STR:
		if (v->type != YAML_SCALAR_NODE)
			return fail_at(w, &v->start_mark, path,
			    "expected a single value");
		return 0;
	case K_UINT:
		if (v->type != YAML_SCALAR_NODE)
			return fail_at(w, &v->start_mark, path,
			    "expected a number");
		return check_uint(w, v, path);
	case K_FLOAT:
		if (v->type != YAML_SCALAR_NODE)
			return fail_at(w, &v->start_mark, path,
			    "expected a number");
		return check_float(w, v, path);
	}
	assert(0 && "a kind of known[] without its check");
	return 0;
}

/* STRICT: unknown keys are errors (inside our own section). */
static int
walk_map(struct walk *w, yaml_node_t *map, const char *prefix, int strict)
{
	yaml_node_pair_t *p;
	char path[256];
	int k, rc;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(&w->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(&w->doc, p->value);

		if (key == NULL || val == NULL || key->type != YAML_SCALAR_NODE)
			continue;	/* exotic keys cannot be ours */
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
		    (const char *)key->data.scalar.value);
		if ((k = known_index(path)) < 0) {
			if (!strict)
				continue;
			if (!quotable((const char *)key->data.scalar.value, 64, 1))
				snprintf(path, sizeof(path), "%s.?", prefix);
			return fail_at(w, &key->start_mark, path,
			    "unknown key in the quickpaged section "
			    "(see docs/configuration.md)");
		}
		if (w->line[k])
			return fail_at(w, &key->start_mark, path,
			    "given twice (first on line %d)", w->line[k]);
		assert(w->col[k] == 0);	/* a key's place is set once */
		w->line[k] = (int)key->start_mark.line + 1;
		w->col[k] = (int)key->start_mark.column + 1;
		if ((rc = check_value(w, k, val, path)) < 0)
			return rc;
	}
	return 0;
}

static int
walk_document(struct walk *w, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_node_t *root;
	int rc;

	yf_parser_open(&parser, text, len);
	if (!yaml_parser_load(&parser, &w->doc)) {
		snprintf(w->err, w->errlen, "%s:%zu:%zu: %s %s", w->name,
		    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
		    parser.problem ? parser.problem : "YAML error",
		    parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	yaml_parser_delete(&parser);
	root = yaml_document_get_root_node(&w->doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		snprintf(w->err, w->errlen, "%s:1:1: the config must be a "
		    "mapping with neuprint:, output: and html: sections", w->name);
		rc = -EINVAL;
	} else
		rc = walk_map(w, root, "", 0);
	yaml_document_delete(&w->doc);
	return rc;
}

/* ---- from the raw document to cfg_site ---- */

static int
fail_key(struct walk *w, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_key(struct walk *w, const char *path, const char *fmt, ...)
{
	char what[300];
	va_list ap;
	int k = known_index(path);

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (k >= 0 && w->line[k])
		snprintf(w->err, w->errlen, "%s:%d:%d: key '%s': %s", w->name,
		    w->line[k], w->col[k], path, what);
	else
		snprintf(w->err, w->errlen, "%s: key '%s': %s", w->name, path,
		    what);
	return -EINVAL;
}

static int
present(const struct walk *w, const char *path)
{
	int k = known_index(path);

	assert(k >= 0);		/* only keys of known[] are asked for */
	return w->line[k] != 0;
}

/* neuprint-python's variable holds the token, or JSON {"token": ...}. */
static char *
token_from_credentials(const char *v)
{
	cJSON *j, *t;
	char *tok = NULL;

	if (strchr(v, ':') == NULL)
		return xstrdup(v);
	if ((j = cJSON_Parse(v)) == NULL)
		return NULL;
	t = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (cJSON_IsString(t) && t->valuestring[0])
		tok = xstrdup(t->valuestring);
	cJSON_Delete(j);
	return tok;
}

const char *
cfg_process_env(const void *arg, const char *name)
{
	(void)arg;
	return getenv(name);
}

static const char *
env(const struct cfg_origin *o, const char *name)
{
	return o->getenv ? o->getenv(o->env_arg, name) : NULL;
}

static int
resolve_token(struct walk *w, struct cfg_site *s, const char *given,
    const struct cfg_origin *o)
{
	const char *v;

	if (given && *given) {
		s->token = xstrdup(given);
		return 0;
	}
	if ((v = env(o, "NEUPRINT_APPLICATION_CREDENTIALS")) && *v) {
		if ((s->token = token_from_credentials(v)) == NULL)
			return fail_key(w, "neuprint.token", "no token: "
			    "NEUPRINT_APPLICATION_CREDENTIALS holds a ':', so "
			    "it must be JSON {\"token\": \"...\"}, and is not");
		return 0;
	}
	if ((v = env(o, "NEUPRINT_TOKEN")) && *v) {
		s->token = xstrdup(v);
		return 0;
	}
	/*
	 * None at all: the config still loads (a --quick run asks nothing);
	 * a job that would ask reports this message (job_start).
	 */
	fail_key(w, "neuprint.token", "no token: set neuprint.token, "
	    "NEUPRINT_APPLICATION_CREDENTIALS or NEUPRINT_TOKEN (only --quick "
	    "runs without one)");
	s->no_token = xstrdup(w->errlen ? w->err : "no token");
	if (w->errlen)
		w->err[0] = '\0';
	return 0;
}

static int
set_server(struct walk *w, struct cfg_site *s, const char *v)
{
	size_t n;

	if (v == NULL || *v == '\0')
		return fail_key(w, "neuprint.server", "missing (e.g. "
		    "neuprint.janelia.org)");
	if (strncmp(v, "http://", 7) == 0)
		return fail_key(w, "neuprint.server", "neuPrint is served over "
		    "HTTPS only; use https://");
	if (strstr(v, "://") && strncmp(v, "https://", 8) != 0)
		return fail_key(w, "neuprint.server", "unsupported scheme in "
		    "'%.80s'", v);
	s->server = xasprintf("%s%s", strstr(v, "://") ? "" : "https://", v);
	/* any other scheme was refused above */
	assert(strncmp(s->server, "https://", 8) == 0);
	n = strlen(s->server);
	while (n > 8 && s->server[n - 1] == '/')
		s->server[--n] = '\0';
	if (n <= 8 || s->server[8] == '/')
		return fail_key(w, "neuprint.server", "no host name (e.g. "
		    "neuprint.janelia.org)");
	return 0;
}

/*
 * V made absolute against CWD (the command's working directory, as
 * QuickPage and neuView read it), a leading "./" dropped so messages name
 * the path as a user would; CWD NULL: a relative V is refused.
 */
static int
set_path(struct walk *w, char **dst, const char *v,
    const struct cfg_origin *o, const char *path)
{
	const char *cwd = o->cwd;

	if (v == NULL)
		return 0;
	if (*v == '\0')
		return fail_key(w, path, "empty path");
	if (v[0] == '/') {
		*dst = xstrdup(v);
		return 0;
	}
	if (cwd == NULL)
		return fail_key(w, path, "'%.200s' is relative, and %s: write "
		    "it as an absolute path", v, o->no_cwd ? o->no_cwd :
		    "the working directory cannot be read");
	while (v[0] == '.' && v[1] == '/')
		for (v += 2; *v == '/'; v++)
			;
	if (*v == '\0' || strcmp(v, ".") == 0)
		*dst = xstrdup(cwd);
	else
		*dst = xasprintf("%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", v);
	return 0;
}

static unsigned
pick(const struct walk *w, const char *path, unsigned v, unsigned def)
{
	return present(w, path) ? v : def;
}

static int
set_numbers(struct walk *w, struct cfg_site *s, const struct raw_qp *q)
{
	static const struct raw_qp none;
	static const struct raw_conc noconc;
	const struct raw_conc *c;

	if (q == NULL)
		q = &none;
	c = q->concurrency ? q->concurrency : &noconc;
	s->batch_size = pick(w, "quickpaged.batch_size", q->batch_size, 200);
	s->max_candidates_underscores = pick(w,
	    "quickpaged.max_candidates_underscores",
	    q->max_candidates_underscores, 8);
	s->connect_timeout_s = pick(w, "quickpaged.connect_timeout_s",
	    q->connect_timeout_s, 10);
	s->request_timeout_s = pick(w, "quickpaged.request_timeout_s",
	    q->request_timeout_s, 120);
	s->low_speed_time_s = pick(w, "quickpaged.low_speed_time_s",
	    q->low_speed_time_s, 30);
	s->max_retries = pick(w, "quickpaged.max_retries", q->max_retries, 6);
	s->max_query_bytes = pick(w, "quickpaged.max_query_bytes",
	    q->max_query_bytes, 256 * 1024);
	s->server_query_limit_s = pick(w, "quickpaged.server_query_limit_s",
	    q->server_query_limit_s, 3600);
	s->max_failed_fraction = present(w, "quickpaged.max_failed_fraction") ?
	    q->max_failed_fraction : 0.01;
	s->concurrency.min = pick(w, "quickpaged.concurrency.min", c->min, 1);
	s->concurrency.max = pick(w, "quickpaged.concurrency.max", c->max, 64);
	/* Unset initial: 8, within [min, max] (a bad min/max is caught below). */
	s->concurrency.initial = pick(w, "quickpaged.concurrency.initial",
	    c->initial, s->concurrency.max < 8 ? s->concurrency.max :
	    s->concurrency.min > 8 ? s->concurrency.min : 8);
	s->roi_threshold_pct = present(w, "quickpaged.roi_threshold_pct") ?
	    q->roi_threshold_pct : 1.5;
	if (!(s->roi_threshold_pct >= 0 && s->roi_threshold_pct <= 100))
		return fail_key(w, "quickpaged.roi_threshold_pct",
		    "must be between 0 and 100 (a percentage)");
	if (s->batch_size < 1 || s->batch_size > 100000)
		return fail_key(w, "quickpaged.batch_size", "must be 1..100000");
	if (s->max_candidates_underscores > 20)
		return fail_key(w, "quickpaged.max_candidates_underscores",
		    "must be 0..20");
	if (s->connect_timeout_s < 1 || s->request_timeout_s < 1)
		return fail_key(w, s->connect_timeout_s < 1 ?
		    "quickpaged.connect_timeout_s" :
		    "quickpaged.request_timeout_s", "must be at least 1 second");
	if (s->max_query_bytes < 4096 || s->max_query_bytes > 64 * 1024 * 1024)
		return fail_key(w, "quickpaged.max_query_bytes",
		    "must be 4096..67108864");
	if (s->server_query_limit_s > 7 * 86400)
		return fail_key(w, "quickpaged.server_query_limit_s",
		    "must be 0..604800 (seconds)");
	if (!(s->max_failed_fraction >= 0 && s->max_failed_fraction <= 1))
		return fail_key(w, "quickpaged.max_failed_fraction",
		    "must be between 0 and 1");
	if (s->concurrency.min < 1 || s->concurrency.max > 1024 ||
	    s->concurrency.min > s->concurrency.initial ||
	    s->concurrency.initial > s->concurrency.max)
		return fail_key(w, "quickpaged.concurrency", "need 1 <= min <= "
		    "initial <= max <= 1024 (have %u, %u, %u)",
		    s->concurrency.min, s->concurrency.initial,
		    s->concurrency.max);
	return 0;
}

/* quickpaged.layout and quickpaged.rules: a name from a short list. */
static int
set_choices(struct walk *w, struct cfg_site *s, const struct raw_qp *q)
{
	const char *l = q ? q->layout : NULL, *r = q ? q->rules : NULL;

	s->layout = SCAN_LAYOUT_AUTO;
	if (l == NULL || strcmp(l, "auto") == 0)
		;
	else if (strcmp(l, "quickpage") == 0)
		s->layout = SCAN_LAYOUT_QUICKPAGE;
	else if (strcmp(l, "neuview") == 0)
		s->layout = SCAN_LAYOUT_NEUVIEW;
	else
		return fail_key(w, "quickpaged.layout", "must be auto, "
		    "neuview or quickpage (have \"%s\")", l);
	s->rules = ROI_RULES_DEFAULT;
	if (r == NULL)
		;
	else if (strcmp(r, "quickpage") == 0)
		s->rules = ROI_RULES_QUICKPAGE;
	else if (strcmp(r, "neuview") == 0)
		s->rules = ROI_RULES_NEUVIEW;
	else
		return fail_key(w, "quickpaged.rules", "must be neuview or "
		    "quickpage (have \"%s\")", r);
	return 0;
}

static int
build(struct walk *w, const struct raw *r, const struct cfg_origin *o,
    struct cfg_site *s)
{
	const struct raw_neuprint *np = r->neuprint;
	const struct raw_qp *q = r->quickpaged;
	int rc;

	if ((rc = set_server(w, s, np ? np->server : NULL)) < 0)
		return rc;
	if (np == NULL || np->dataset == NULL || *np->dataset == '\0')
		return fail_key(w, "neuprint.dataset", "missing (e.g. "
		    "male-cns:v0.9)");
	s->dataset = xstrdup(np->dataset);
	if ((rc = resolve_token(w, s, np->token, o)) < 0)
		return rc;
	/* config.h: a token, or no_token saying why there is none */
	assert((s->token == NULL) != (s->no_token == NULL));
	if (o->output_dir != NULL)
		rc = set_path(w, &s->output_dir, o->output_dir, o,
		    "--output-dir");
	else if (r->output == NULL || r->output->directory == NULL)
		return fail_key(w, "output.directory", "missing: the directory "
		    "holding the QuickPage pages");
	else
		rc = set_path(w, &s->output_dir, r->output->directory, o,
		    "output.directory");
	if (rc < 0)
		return rc;
	s->title_prefix = xstrdup(r->html && r->html->title_prefix ?
	    r->html->title_prefix : "");
	if (q && (rc = set_path(w, &s->ca_file, q->ca_file, o,
	    "quickpaged.ca_file")) < 0)
		return rc;
	if (q && (rc = set_path(w, &s->template_dir, q->template_dir, o,
	    "quickpaged.template_dir")) < 0)
		return rc;
	if (q && (rc = set_path(w, &s->cache_dir, q->cache_dir, o,
	    "quickpaged.cache_dir")) < 0)
		return rc;
	if ((rc = set_choices(w, s, q)) < 0)
		return rc;
	return set_numbers(w, s, q);
}

static int
parse(const char *name, const char *text, size_t len,
    const struct cfg_origin *o, struct cfg_site **out, char *err,
    size_t errlen)
{
	struct walk w = { .name = name, .err = err, .errlen = errlen };
	struct raw *r = NULL;
	struct cfg_site *s;
	int rc;

	*out = NULL;
	if ((rc = yf_check(name, text, len, err, errlen)) < 0 ||
	    (rc = walk_document(&w, text, len)) < 0 ||
	    (rc = yf_cyaml_load(name, text, len, &top_schema,
	    CYAML_CFG_IGNORE_UNKNOWN_KEYS, YF_LOG_FIRST, (cyaml_data_t **)&r,
	    err, errlen)) < 0)
		return rc;
	/* the walk refused any document that is not a mapping */
	assert(r != NULL);
	s = xcalloc(1, sizeof(*s));
	if ((rc = build(&w, r, o, s)) < 0) {
		cfg_site_free(s);
		s = NULL;
	}
	yf_cyaml_free(&top_schema, r);
	*out = s;
	return rc;
}

/* The process's working directory and environment: how `--run` reads. */
static void
with_process(const struct cfg_origin *given, char *cwd, size_t cwdlen,
    struct cfg_origin *o)
{
	if (given != NULL) {
		*o = *given;
		return;
	}
	memset(o, 0, sizeof(*o));
	o->getenv = cfg_process_env;
	/* An unreadable working directory: relative paths are refused. */
	o->cwd = getcwd(cwd, cwdlen);
}

int
cfg_site_parse(const char *name, const char *yaml, size_t len,
    const struct cfg_origin *origin, struct cfg_site **out, char *err,
    size_t errlen)
{
	char cwd[PATH_MAX];
	struct cfg_origin o;

	with_process(origin, cwd, sizeof(cwd), &o);
	return parse(name, yaml, len, &o, out, err, errlen);
}

int
cfg_site_load(const char *file, const struct cfg_origin *origin,
    struct cfg_site **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = yf_read_file(file, "a config", &text, &len, err,
	    errlen)) < 0)
		return rc;
	rc = cfg_site_parse(file, text, len, origin, out, err, errlen);
	yf_free_text(text, len);	/* it may hold the token */
	return rc;
}

static void
free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
cfg_site_free(struct cfg_site *s)
{
	if (s == NULL)
		return;
	free(s->server);
	free(s->dataset);
	free_secret(s->token);
	free(s->no_token);
	free(s->output_dir);
	free(s->title_prefix);
	free(s->ca_file);
	free(s->cache_dir);
	free(s->template_dir);
	free(s);
}
