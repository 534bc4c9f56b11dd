/*
 * settings: see settings.h. libcyaml reads the fixed keys into a raw
 * struct; `sites` is a mapping with names the schema cannot know, so it
 * is read with libyaml's event parser (libcyaml's own base) in a second
 * pass, which also gives its errors a line number.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "config.h"
#include "log.h"
#include "settings.h"
#include "base/xmalloc.h"
#include "base/yamlfile.h"

/* The file as libcyaml fills it; everything optional. */
struct raw {
	char		*socket;
	char		*socket_group;
	char		*state_dir;
	char		*cache_dir;
	char		*metrics_file;
	char		*log_level;
	char		**roots;
	unsigned	 roots_count;
	unsigned	*max_parallel_jobs;
	unsigned	*history_days;
	unsigned	*idle_timeout_ms;
	unsigned	*stop_grace_s;
	unsigned	*max_clients;
	unsigned	*max_clients_per_user;
};

static const cyaml_schema_value_t str_schema = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, 4095),
};

#define OPT_STR(key, field) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER, \
	    struct raw, field, 1, 4095)
/* A number, kept as a pointer so that absent and 0 differ. */
#define OPT_UINT(k, field) \
	{ .key = k, .value = { .type = CYAML_UINT, \
	    .flags = CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER, \
	    .data_size = sizeof(unsigned) }, \
	    .data_offset = offsetof(struct raw, field) }

static const cyaml_schema_field_t raw_fields[] = {
	OPT_STR("socket", socket),
	OPT_STR("socket_group", socket_group),
	OPT_STR("state_dir", state_dir),
	OPT_STR("cache_dir", cache_dir),
	OPT_STR("metrics_file", metrics_file),
	OPT_STR("log_level", log_level),
	CYAML_FIELD_IGNORE("sites", CYAML_FLAG_OPTIONAL),
	CYAML_FIELD_SEQUENCE("allowed_output_roots",
	    CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER, struct raw, roots,
	    &str_schema, 0, 256),
	OPT_UINT("max_parallel_jobs", max_parallel_jobs),
	OPT_UINT("history_days", history_days),
	OPT_UINT("idle_timeout_ms", idle_timeout_ms),
	OPT_UINT("stop_grace_s", stop_grace_s),
	OPT_UINT("max_clients", max_clients),
	OPT_UINT("max_clients_per_user", max_clients_per_user),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t raw_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw, raw_fields),
};

static char *
dup_or(const char *s, const char *def)
{
	return xstrdup(s ? s : def);
}

static void
add_site(struct settings *s, const char *name, const char *path)
{
	/* read_sites_map checked both, and that NAME is new */
	assert(path[0] == '/' && settings_site(s, name) == NULL);
	s->sites = xreallocarray(s->sites, s->nsites + 1, sizeof(*s->sites));
	s->sites[s->nsites].name = xstrdup(name);
	s->sites[s->nsites].config = xstrdup(path);
	s->nsites++;
}

static int
site_error(const char *file, const yaml_event_t *ev, const char *key,
    const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s:%zu: key 'sites%s%s': %s", file,
	    (size_t)ev->start_mark.line + 1, key ? "." : "", key ? key : "",
	    what);
	return -EINVAL;
}

static int
valid_name(const char *n)
{
	size_t i;

	if (n[0] == '\0' || strlen(n) > 100)
		return 0;
	for (i = 0; n[i]; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' &&
		    n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9') ||
		    strchr("-_.", n[i])))
			return 0;
	return 1;
}

/* The body of `sites:` once its MAPPING_START was read. */
static int
read_sites_map(yaml_parser_t *p, const char *file, struct settings *s,
    char *err, size_t errlen)
{
	yaml_event_t k, v;
	const char *name;
	int rc = 0;

	for (;;) {
		if (yf_next(p, &k) < 0)
			return -EINVAL;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return 0;
		}
		if (k.type != YAML_SCALAR_EVENT) {
			rc = site_error(file, &k, NULL, "a site name must be "
			    "a plain string", err, errlen);
			yaml_event_delete(&k);
			return rc;
		}
		name = (const char *)k.data.scalar.value;
		if (yf_next(p, &v) < 0) {
			yaml_event_delete(&k);
			return -EINVAL;
		}
		if (!valid_name(name))
			rc = site_error(file, &k, name, "site names use "
			    "letters, digits, '-', '_' and '.'", err, errlen);
		else if (settings_site(s, name) != NULL)
			rc = site_error(file, &k, name, "listed twice", err,
			    errlen);
		else if (v.type != YAML_SCALAR_EVENT ||
		    v.data.scalar.value[0] != '/')
			rc = site_error(file, &v, name, "must be the absolute "
			    "path of a QuickPage config", err, errlen);
		else
			add_site(s, name, (const char *)v.data.scalar.value);
		yaml_event_delete(&k);
		yaml_event_delete(&v);
		if (rc < 0)
			return rc;
	}
}

/* Walk the top-level mapping to `sites:`. libcyaml has already checked syntax. */
static int
read_sites(const char *text, size_t len, const char *file, struct settings *s,
    char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_event_t ev, v;
	int depth = 0, rc = 0, done = 0, is_sites;

	yf_parser_open(&p, text, len);
	while (!done && rc == 0) {
		if ((rc = yf_next(&p, &ev)) < 0)
			break;
		if (ev.type == YAML_STREAM_END_EVENT)
			done = 1;
		else if (ev.type == YAML_MAPPING_START_EVENT && depth == 0)
			depth = 1;
		else if (ev.type == YAML_SCALAR_EVENT && depth == 1) {
			is_sites = strcmp((char *)ev.data.scalar.value,
			    "sites") == 0;
			if ((rc = yf_next(&p, &v)) < 0) {
				yaml_event_delete(&ev);
				break;
			}
			if (is_sites && v.type == YAML_MAPPING_START_EVENT)
				rc = read_sites_map(&p, file, s, err, errlen);
			else if (is_sites && !(v.type == YAML_SCALAR_EVENT &&
			    v.data.scalar.value[0] == '\0'))
				rc = site_error(file, &v, NULL, "must map "
				    "site names to config paths", err, errlen);
			else
				rc = yf_skip_value(&p, &v);
			yaml_event_delete(&v);
		} else if (ev.type == YAML_MAPPING_END_EVENT && depth == 1)
			done = 1;
		yaml_event_delete(&ev);
	}
	if (rc == -EINVAL && err[0] == '\0')
		snprintf(err, errlen, "%s:%zu: %s", file,
		    (size_t)p.problem_mark.line + 1,
		    p.problem ? p.problem : "cannot read 'sites'");
	yaml_parser_delete(&p);
	return rc;
}

static int
check_roots(const char *file, struct settings *s, char *err, size_t errlen)
{
	size_t i;

	/* from_raw gave every path its default */
	assert(s->socket != NULL && s->state_dir != NULL &&
	    s->cache_dir != NULL);
	for (i = 0; i < s->nroots; i++)
		if (s->roots[i][0] != '/') {
			snprintf(err, errlen, "%s: key 'allowed_output_roots"
			    "[%zu]': '%s' is not an absolute path", file, i,
			    s->roots[i]);
			return -EINVAL;
		}
	if (s->state_dir[0] != '/' || s->cache_dir[0] != '/' ||
	    s->socket[0] != '/') {
		snprintf(err, errlen, "%s: keys 'socket', 'state_dir' and "
		    "'cache_dir' take absolute paths", file);
		return -EINVAL;
	}
	if (s->metrics_file && (s->metrics_file[0] != '/' ||
	    s->metrics_file[strlen(s->metrics_file) - 1] == '/')) {
		snprintf(err, errlen, "%s: key 'metrics_file': '%s' is not the "
		    "absolute path of a file (e.g. /var/lib/prometheus/"
		    "node-exporter/quickpaged.prom)", file, s->metrics_file);
		return -EINVAL;
	}
	if (s->max_parallel_jobs == 0) {
		snprintf(err, errlen, "%s: key 'max_parallel_jobs': must be "
		    "at least 1", file);
		return -EINVAL;
	}
	return 0;
}

static unsigned
uint_or(const unsigned *v, unsigned def)
{
	return v ? *v : def;
}

static int
from_raw(const char *file, const struct raw *r, struct settings *s,
    char *err, size_t errlen)
{
	unsigned i;
	int lv = LOG_L_INFO;

	if (r->log_level && (lv = log_level_parse(r->log_level)) < 0) {
		snprintf(err, errlen, "%s: key 'log_level': '%s' is not one of "
		    "error, warning, info, debug", file, r->log_level);
		return -EINVAL;
	}
	assert(lv >= 0);	/* log_level_parse's refusal is handled above */
	s->log_level = lv;
	s->socket = dup_or(r->socket, "/run/quickpaged/quickpaged.sock");
	s->socket_group = r->socket_group ? xstrdup(r->socket_group) : NULL;
	s->state_dir = dup_or(r->state_dir, "/var/lib/quickpaged");
	s->cache_dir = dup_or(r->cache_dir, "/var/cache/quickpaged");
	s->metrics_file = r->metrics_file ? xstrdup(r->metrics_file) : NULL;
	s->max_parallel_jobs = uint_or(r->max_parallel_jobs, 4);
	s->history_days = uint_or(r->history_days, 30);
	s->idle_timeout_ms = uint_or(r->idle_timeout_ms, 30000);
	s->stop_grace_s = uint_or(r->stop_grace_s, 10);
	s->max_clients = uint_or(r->max_clients, 128);
	s->max_clients_per_user = uint_or(r->max_clients_per_user, 32);
	s->roots = xcalloc(r->roots_count, sizeof(*s->roots));
	for (i = 0; i < r->roots_count; i++)
		s->roots[s->nroots++] = xstrdup(r->roots[i]);
	return check_roots(file, s, err, errlen);
}

int
settings_parse(const char *file, const char *text, size_t len,
    struct settings **out, char *err, size_t errlen)
{
	static const struct raw empty;
	struct settings *s;
	struct raw *r = NULL;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if ((rc = yf_check(file, text, len, err, errlen)) < 0 ||
	    (rc = yf_cyaml_load(file, text, len, &raw_schema,
	    CYAML_CFG_DEFAULT, YF_LOG_ALL, (cyaml_data_t **)&r, err,
	    errlen)) < 0)
		return rc;
	s = xcalloc(1, sizeof(*s));
	/* An empty document: every default. */
	rc = from_raw(file, r != NULL ? r : &empty, s, err, errlen);
	if (rc == 0)
		rc = read_sites(text, len, file, s, err, errlen);
	if (rc < 0 && err[0] == '\0')
		snprintf(err, errlen, "%s: %s", file, strerror(-rc));
	assert(rc == 0 || err[0] != '\0');	/* a refusal has its message */
	if (rc < 0)
		settings_free(s);
	else
		*out = s;
	yf_cyaml_free(&raw_schema, r);
	return rc;
}

int
settings_load(const char *file, struct settings **out, char *err,
    size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if ((rc = yf_read_file(file, "a settings file", &text, &len, err,
	    errlen)) < 0)
		return rc;
	rc = settings_parse(file, text, len, out, err, errlen);
	yf_free_text(text, len);
	return rc;
}

void
settings_free(struct settings *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->socket);
	free(s->socket_group);
	free(s->state_dir);
	free(s->cache_dir);
	free(s->metrics_file);
	for (i = 0; i < s->nsites; i++) {
		free(s->sites[i].name);
		free(s->sites[i].config);
	}
	free(s->sites);
	for (i = 0; i < s->nroots; i++)
		free(s->roots[i]);
	free(s->roots);
	free(s);
}

const char *
settings_site(const struct settings *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nsites; i++)
		if (strcmp(s->sites[i].name, name) == 0)
			return s->sites[i].config;
	return NULL;
}

int
settings_site_load(const struct settings *s, const char *name,
    struct cfg_site **out, char *err, size_t errlen)
{
	const struct cfg_origin o = {
		.no_cwd = "a site named in the daemon's settings is read by "
		    "no command, so it has no working directory to resolve "
		    "it against",
		.getenv = cfg_process_env,
	};
	const char *path = settings_site(s, name);

	*out = NULL;
	if (path == NULL) {
		snprintf(err, errlen, "no site '%s' in the daemon's settings; "
		    "`qpctl stats` lists the sites", name);
		return -ENOENT;
	}
	return cfg_site_load(path, &o, out, err, errlen);
}
