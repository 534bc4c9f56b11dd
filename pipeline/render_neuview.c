/*
 * render_neuview: neuView-layout outputs. The JSON is built with cJSON
 * (compact, UTF-8 kept, as neuView's json.dumps(separators=(",", ":"),
 * ensure_ascii=False) writes it); data/neurons.js wraps the same data in
 * the built-in template neurons.js.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "render_neuview.h"
#include "render_typelist.h"
#include "templates.h"
#include "xmalloc.h"

/* What this step writes, relative to the output directory; dirs end in /. */
static const char *const nv_outputs[] = {
	"types.json", "data/", "data/neurons.json", "data/neurons.js",
	RENDER_TYPELIST_OUTPUTS,
};

static int
nv_fail(char *err, size_t errlen, const char *dir, const char *rel,
    const char *what, int rc)
{
	snprintf(err, errlen, "%s/%s: %s", dir, rel, what);
	return rc;
}

/* 1 when PATH resolves inside ROOT (a resolved directory). */
static int
nv_inside(const char *root, const char *path)
{
	char *real = realpath(path, NULL);
	size_t n = strlen(root);
	int in;

	if (real == NULL)
		return 0;	/* dangling: it would lead nowhere we own */
	in = strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == '\0');
	free(real);
	return in;
}

static int
nv_check(const char *dir, char *err, size_t errlen)
{
	char *root = realpath(dir, NULL), *path, *rel;
	struct stat st;
	size_t i, len;
	int rc = 0;

	if (root == NULL)
		return nv_fail(err, errlen, dir, ".", strerror(errno), -errno);
	for (i = 0; rc == 0 && i < sizeof(nv_outputs) / sizeof(*nv_outputs);
	    i++) {
		rel = xstrdup(nv_outputs[i]);
		len = strlen(rel);
		if (rel[len - 1] == '/')
			rel[len - 1] = '\0';
		path = xasprintf("%s/%s", dir, rel);
		if (lstat(path, &st) == 0) {
			if (S_ISLNK(st.st_mode) && !nv_inside(root, path))
				rc = nv_fail(err, errlen, dir, rel, "a symlink "
				    "leading out of the output directory is "
				    "in an output's place; nothing written",
				    -ELOOP);
			else if (nv_outputs[i][len - 1] != '/' &&
			    S_ISDIR(st.st_mode))
				rc = nv_fail(err, errlen, dir, rel, "a directory "
				    "is in an output's place; nothing written",
				    -EISDIR);
		}
		free(path);
		free(rel);
	}
	free(root);
	return rc;
}

static int
nv_cmp(const void *a, const void *b)
{
	const struct ts_type *x = *(const struct ts_type *const *)a;
	const struct ts_type *y = *(const struct ts_type *const *)b;

	return strcmp(x->name, y->name);
}

/* The page's name inside types/ (neuView's urls have no prefix). */
static const char *
nv_page(const char *file)
{
	return strncmp(file, "types/", 6) == 0 ? file + 6 : file;
}

static cJSON *
nv_synonyms(const char *raw)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = raw, *e, *s, *t;

	while (p != NULL && *p != '\0') {
		e = strchr(p, ';');
		if (e == NULL)
			e = p + strlen(p);
		for (s = p; s < e && (*s == ' ' || *s == '\t'); s++)
			;
		for (t = e; t > s && (t[-1] == ' ' || t[-1] == '\t'); t--)
			;
		if (t > s) {
			char *one = xstrndup(s, (size_t)(t - s));

			cJSON_AddItemToArray(a, cJSON_CreateString(one));
			free(one);
		}
		p = *e ? e + 1 : e;
	}
	return a;
}

static cJSON *
nv_neuron(const struct ts_type *t)
{
	static const char *const key[SIDE_COUNT] = {
		"combined", "left", "right", "middle"
	};
	cJSON *o = cJSON_CreateObject(), *urls, *types, *fw, *syn;
	size_t i;
	int s;

	cJSON_AddStringToObject(o, "name", t->name);
	urls = cJSON_AddObjectToObject(o, "urls");
	for (s = 0; s < SIDE_COUNT; s++)
		if (t->file[s] != NULL)
			cJSON_AddStringToObject(urls, key[s], nv_page(t->file[s]));
	types = cJSON_CreateObject();
	if (t->nlist[TS_FLYWIRE] > 0) {
		fw = cJSON_AddArrayToObject(types, "flywire");
		for (i = 0; i < t->nlist[TS_FLYWIRE]; i++)
			cJSON_AddItemToArray(fw,
			    cJSON_CreateString(t->list[TS_FLYWIRE][i]));
	}
	syn = nv_synonyms(t->synonyms);
	if (cJSON_GetArraySize(syn) > 0)
		cJSON_AddItemToObject(types, "synonyms", syn);
	else
		cJSON_Delete(syn);
	if (types->child != NULL)
		cJSON_AddItemToObject(o, "types", types);
	else
		cJSON_Delete(types);
	return o;
}

/* neuView's data/neurons.json (neuview-site.md section 4). */
static cJSON *
nv_data(const struct ts_type *const *v, size_t n, time_t when)
{
	cJSON *root = cJSON_CreateObject(), *names, *neurons, *meta;
	char stamp[32];
	struct tm tm;
	size_t i;

	names = cJSON_AddArrayToObject(root, "names");
	neurons = cJSON_AddArrayToObject(root, "neurons");
	for (i = 0; i < n; i++) {
		cJSON_AddItemToArray(names, cJSON_CreateString(v[i]->name));
		cJSON_AddItemToArray(neurons, nv_neuron(v[i]));
	}
	/* UTC, where neuView writes local time without a zone. */
	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "1970-01-01 00:00:00");
	meta = cJSON_AddObjectToObject(root, "metadata");
	cJSON_AddStringToObject(meta, "generated", stamp);
	cJSON_AddNumberToObject(meta, "total_types", (double)n);
	cJSON_AddStringToObject(meta, "version", "2.0");
	return root;
}

static const char *
nv_template(const char *name)
{
	const struct tpl_file *f;

	for (f = tpl_builtin; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return (const char *)f->data;
	return NULL;
}

/*
 * The neurons.js template with its three placeholders filled. Values are
 * inserted once and never scanned again.
 */
static char *
nv_js(const char *json, size_t n, time_t when, char *err, size_t errlen)
{
	const char *tpl = nv_template("neurons.js"), *p, *q;
	char stamp[32], count[32];
	struct tm tm;
	size_t cap, len = 0, k;
	char *out;

	if (tpl == NULL) {
		snprintf(err, errlen, "built-in template neurons.js missing");
		return NULL;
	}
	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "1970-01-01T00:00:00Z");
	snprintf(count, sizeof(count), "%zu", n);
	cap = strlen(tpl) + strlen(json) + 64;
	out = xmalloc(cap);
	for (p = tpl; *p != '\0';) {
		const char *val = NULL;

		if (strncmp(p, "{{data_json}}", 13) == 0)
			val = json, k = 13;
		else if (strncmp(p, "{{generated_at}}", 16) == 0)
			val = stamp, k = 16;
		else if (strncmp(p, "{{type_count}}", 14) == 0)
			val = count, k = 14;
		if (val != NULL) {
			q = val;
			p += k;
		} else {
			out[len++] = *p++;
			continue;
		}
		k = strlen(q);
		memcpy(out + len, q, k);
		len += k;
	}
	out[len] = '\0';
	return out;
}

static int
nv_mkdir(const char *dir, const char *rel, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, rel);
	int rc = 0;

	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		rc = nv_fail(err, errlen, dir, rel, strerror(errno), -errno);
	free(path);
	return rc;
}

/* JavaScript-safe: "</" and the two line separators escaped. */
static char *
nv_js_safe(const char *json)
{
	size_t n = strlen(json), i, k = 0;
	char *o = xmalloc(6 * n + 1);

	for (i = 0; i < n; i++) {
		if (json[i] == '<') {
			memcpy(o + k, "\\u003c", 6);
			k += 6;
		} else if ((unsigned char)json[i] == 0xe2 && i + 2 < n &&
		    (unsigned char)json[i + 1] == 0x80 &&
		    ((unsigned char)json[i + 2] == 0xa8 ||
		    (unsigned char)json[i + 2] == 0xa9)) {
			memcpy(o + k, json[i + 2] == (char)0xa8 ? "\\u2028" :
			    "\\u2029", 6);
			k += 6;
			i += 2;
		} else
			o[k++] = json[i];
	}
	o[k] = '\0';
	return o;
}

int
render_neuview_all(const struct ts_type *types, size_t n,
    const struct render_opts *o, char *err, size_t errlen)
{
	const struct ts_type **v = xcalloc(n ? n : 1, sizeof(*v));
	char *json = NULL, *pretty = NULL, *safe = NULL, *js = NULL, *data_dir;
	cJSON *data;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		v[i] = &types[i];
	qsort(v, n, sizeof(*v), nv_cmp);
	data_dir = xasprintf("%s/data", o->out_dir);
	if ((rc = nv_check(o->out_dir, err, errlen)) < 0)
		goto out;
	data = nv_data(v, n, o->generated_at);
	json = cJSON_PrintUnformatted(data);
	pretty = cJSON_Print(data);
	cJSON_Delete(data);
	safe = nv_js_safe(pretty);
	if ((js = nv_js(safe, n, o->generated_at, err, errlen)) == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if ((rc = render_types_json_file(v, n, o, err, errlen)) < 0 ||
	    (rc = nv_mkdir(o->out_dir, "data", err, errlen)) < 0 ||
	    (rc = render_write_atomic(data_dir, "neurons.json", json,
	    strlen(json), err, errlen)) < 0)
		goto out;
	rc = render_write_atomic(data_dir, "neurons.js", js, strlen(js), err,
	    errlen);
	if (rc == 0)
		rc = render_typelist_write(v, n, o, err, errlen);
out:
	cJSON_free(json);
	cJSON_free(pretty);
	free(safe);
	free(js);
	free(data_dir);
	free(v);
	return rc;
}
