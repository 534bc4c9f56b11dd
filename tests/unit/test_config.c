/*
 * test_config: QuickPage site configs. QuickPage's own keys accepted and
 * ignored, the quickpaged: section's defaults and strictness, token
 * sources and their order, server normalisation, error messages with
 * FILE:LINE:COL and the key, relative paths, and no token in any message.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "config.h"
#include "base/xmalloc.h"
#include "yamlgen.h"

/* A JWT-shaped token; no error message may ever contain any part of it. */
#define TOKEN	"eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.S3cr3tSig"
#define TOKEN2	"env-credentials-Zq7Tk9"
#define TOKEN3	"env-neuprint-token-Wx4Rp2"
#define NAME	"t.yaml"

#define NENV	2
static const char *const env_names[NENV] = {
	"NEUPRINT_APPLICATION_CREDENTIALS", "NEUPRINT_TOKEN",
};

/* ---- fixtures: the token variables are saved, cleared and restored ---- */

struct envsave {
	char	*val[NENV];
	int	 had[NENV];
};

static int
setup(void **state)
{
	struct envsave *e = xcalloc(1, sizeof(*e));
	const char *v;
	int i;

	for (i = 0; i < NENV; i++) {
		if ((v = getenv(env_names[i])) != NULL) {
			e->had[i] = 1;
			e->val[i] = xstrdup(v);
		}
		if (unsetenv(env_names[i]) != 0)
			return -1;
	}
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct envsave *e = *state;
	int i, rc = 0;

	for (i = 0; i < NENV; i++) {
		if (e->had[i])
			rc |= setenv(env_names[i], e->val[i], 1);
		else
			rc |= unsetenv(env_names[i]);
		free(e->val[i]);
	}
	free(e);
	return rc ? -1 : 0;
}

/* ---- helpers ---- */

static char err[1024];

/*
 * parse() reads as the daemon reads a named site: its environment, no
 * working directory (relative paths refused).
 */
static const struct cfg_origin named = {
	.no_cwd = "no working directory here", .getenv = cfg_process_env,
};

static int
parse(const char *yaml, struct cfg_site **out)
{
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	return cfg_site_parse(NAME, yaml, strlen(yaml), &named, out, err,
	    sizeof(err));
}

static void
assert_no_secret(const char *e)
{
	if (strstr(e, TOKEN) || strstr(e, "S3cr3tSig") ||
	    strstr(e, "c2VjcmV0") || strstr(e, TOKEN2) || strstr(e, TOKEN3) ||
	    strstr(e, "Zq7Tk9") || strstr(e, "Wx4Rp2"))
		fail_msg("a token leaked into an error message: %s", e);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

/*
 * YAML must fail to load; ERR must start with PREFIX (NULL: skip) and hold
 * every further string up to NULL. The token is never in ERR.
 */
static void expect_fail(const char *, const char *, ...)
    __attribute__((sentinel));

static void
expect_fail(const char *yaml, const char *prefix, ...)
{
	struct cfg_site *s = (struct cfg_site *)1;
	const char *want;
	va_list ap;
	int rc;

	rc = parse(yaml, &s);
	if (rc != -EINVAL)
		fail_msg("expected -EINVAL, got %d for:\n%s", rc, yaml);
	assert_null(s);
	assert_true(strlen(err) > 0);
	if (prefix)
		assert_prefix(err, prefix);
	va_start(ap, prefix);
	while ((want = va_arg(ap, const char *)) != NULL)
		assert_contains(err, want);
	va_end(ap);
	assert_no_secret(err);
}

static struct cfg_site *
expect_ok(const char *yaml)
{
	struct cfg_site *s = NULL;
	int rc;

	rc = parse(yaml, &s);
	if (rc != 0)
		fail_msg("rc %d: %s\nfor:\n%s", rc, err, yaml);
	assert_non_null(s);
	return s;
}

/* A valid minimal document with the token in the file. */
#define BASE \
	"neuprint:\n" \
	"  server: neuprint.example.org\n" \
	"  dataset: male-cns:v0.9\n" \
	"  token: " TOKEN "\n" \
	"output:\n" \
	"  directory: /srv/quickpage/cns\n"

/* The same without a token. */
#define BASE_NOTOKEN \
	"neuprint:\n" \
	"  server: neuprint.example.org\n" \
	"  dataset: male-cns:v0.9\n" \
	"output:\n" \
	"  directory: /srv/quickpage/cns\n"

static char *
mktmp(void)
{
	char tpl[] = "/tmp/qp-test-config-XXXXXX";
	char *d;

	assert_non_null(mkdtemp(tpl));
	d = xstrdup(tpl);
	return d;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void
rm_rf(const char *dir)
{
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *
path_join(const char *a, const char *b)
{
	char *p;

	p = xasprintf("%s/%s", a, b);
	return p;
}

/* ---- accepted documents ---- */

/* A config as QuickPage users have it: many keys we never read. */
static const char full_config[] =
	"# config.cns.yaml, QuickPage's own file\n"
	"neuprint:\n"
	"  server: https://neuprint.janelia.org/\n"
	"  dataset: \"male-cns:v0.9\"\n"
	"  token: " TOKEN "\n"
	"  timeout: 60\n"
	"  verify: true\n"
	"defaults: &defaults\n"
	"  min_synapses: 5\n"
	"  sides: [L, R, M]\n"
	"discovery:\n"
	"  include_types: [LC10a, \"KCa'b'-ap1\", 'Tergopleural/Pleural promotor MN']\n"
	"  exclude_types: []\n"
	"  max_types: null\n"
	"  type_filter: '.*'\n"
	"  <<: *defaults\n"
	"subsets:\n"
	"  - name: visual\n"
	"    types: [T4a, T4b]\n"
	"    rois:\n"
	"      - ME(R)\n"
	"      - LO(R)\n"
	"  - name: central\n"
	"    description: |\n"
	"      Central brain types,\n"
	"      over two lines.\n"
	"    settings: *defaults\n"
	"neuroglancer:\n"
	"  base_url: https://clio-ng.janelia.org/\n"
	"  layers:\n"
	"    - {name: em, source: \"precomputed://gs://bucket/em\", visible: true}\n"
	"    - {name: seg, source: precomputed://gs://bucket/seg, opacity: 0.5}\n"
	"  template: {position: [1, 2.5, -3], crossSectionScale: 1.0e+1}\n"
	"html:\n"
	"  title_prefix: Male CNS\n"
	"  github_repo: https://github.com/reiserlab/quickpage\n"
	"  footer: >\n"
	"    folded\n"
	"    text\n"
	"output:\n"
	"  directory: /srv/quickpage/cns\n"
	"  static_dir: static\n"
	"  formats: [html, json]\n"
	"  cache:\n"
	"    enabled: yes\n"
	"    ttl: 3600\n"
	"    nested: {deep: {deeper: [1, {x: y}]}}\n"
	"plots:\n"
	"  ? [complex, key]\n"
	"  : value\n"
	"  1: numeric key\n"
	"  ~: null key\n"
	"quickpaged:\n"
	"  ca_file: /etc/quickpage/ca.pem\n"
	"  template_dir: /etc/quickpage/templates\n"
	"  batch_size: 150\n"
	"  max_candidates_underscores: 4\n"
	"  layout: neuview\n"
	"  rules: quickpage\n"
	"  roi_threshold_pct: 2.5\n"
	"  concurrency:\n"
	"    min: 2\n"
	"    initial: 12\n"
	"    max: 48\n"
	"  connect_timeout_s: 5\n"
	"  request_timeout_s: 300\n"
	"  low_speed_time_s: 45\n"
	"  max_retries: 3\n"
	"  max_failed_fraction: 0.25\n"
	"unknown_top_level: [anything, {goes: here}]\n";

static void
test_full_quickpage_config(void **state)
{
	struct cfg_site *s;

	(void)state;
	s = expect_ok(full_config);
	assert_string_equal(s->server, "https://neuprint.janelia.org");
	assert_string_equal(s->dataset, "male-cns:v0.9");
	assert_string_equal(s->token, TOKEN);
	assert_string_equal(s->output_dir, "/srv/quickpage/cns");
	assert_string_equal(s->title_prefix, "Male CNS");
	assert_string_equal(s->ca_file, "/etc/quickpage/ca.pem");
	assert_string_equal(s->template_dir, "/etc/quickpage/templates");
	assert_int_equal(s->batch_size, 150);
	assert_int_equal(s->max_candidates_underscores, 4);
	assert_int_equal(s->layout, SCAN_LAYOUT_NEUVIEW);
	assert_int_equal(s->rules, ROI_RULES_QUICKPAGE);
	assert_true(s->roi_threshold_pct == 2.5);
	assert_int_equal(s->concurrency.min, 2);
	assert_int_equal(s->concurrency.initial, 12);
	assert_int_equal(s->concurrency.max, 48);
	assert_int_equal(s->connect_timeout_s, 5);
	assert_int_equal(s->request_timeout_s, 300);
	assert_int_equal(s->low_speed_time_s, 45);
	assert_int_equal(s->max_retries, 3);
	assert_true(s->max_failed_fraction == 0.25);
	cfg_site_free(s);
}

/* The example shipped in data/examples must load (with relative paths). */
static void
test_example_file(void **state)
{
	struct cfg_site *s = NULL;
	int rc;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	rc = cfg_site_load(QP_TEST_SRCDIR "/data/examples/site.yaml", NULL, &s, err,
	    sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	assert_string_equal(s->server, "https://neuprint.janelia.org");
	assert_string_equal(s->dataset, "male-cns:v0.9");
	assert_string_equal(s->token, TOKEN3);
	assert_string_equal(s->output_dir, "/srv/quickpage/male-cns");
	assert_string_equal(s->title_prefix, "Male CNS");
	assert_null(s->ca_file);
	assert_null(s->template_dir);
	assert_int_equal(s->batch_size, 200);
	assert_int_equal(s->concurrency.initial, 8);
	assert_true(s->max_failed_fraction == 0.01);
	cfg_site_free(s);
}

static void
test_defaults(void **state)
{
	struct cfg_site *s;

	(void)state;
	s = expect_ok(BASE);
	assert_string_equal(s->server, "https://neuprint.example.org");
	assert_string_equal(s->title_prefix, "");
	assert_null(s->ca_file);
	assert_null(s->template_dir);
	assert_int_equal(s->batch_size, 200);
	assert_int_equal(s->max_candidates_underscores, 8);
	assert_int_equal(s->layout, SCAN_LAYOUT_AUTO);
	assert_int_equal(s->rules, ROI_RULES_DEFAULT);
	assert_true(s->roi_threshold_pct == 1.5);
	assert_int_equal(s->concurrency.min, 1);
	assert_int_equal(s->concurrency.initial, 8);
	assert_int_equal(s->concurrency.max, 64);
	assert_int_equal(s->connect_timeout_s, 10);
	assert_int_equal(s->request_timeout_s, 120);
	assert_int_equal(s->low_speed_time_s, 30);
	assert_int_equal(s->max_retries, 6);
	assert_int_equal(s->max_query_bytes, 256 * 1024);
	assert_int_equal(s->server_query_limit_s, 3600);
	assert_true(s->max_failed_fraction == 0.01);
	cfg_site_free(s);

	/* An empty section and an empty concurrency mapping: the same. */
	s = expect_ok(BASE "quickpaged: {concurrency: {}}\nhtml: {}\n");
	assert_int_equal(s->batch_size, 200);
	assert_int_equal(s->concurrency.min, 1);
	assert_int_equal(s->concurrency.initial, 8);
	assert_int_equal(s->concurrency.max, 64);
	assert_true(s->max_failed_fraction == 0.01);
	assert_string_equal(s->title_prefix, "");
	cfg_site_free(s);
}

/* Zero is a value, not "absent"; partial sections keep other defaults. */
static void
test_explicit_values(void **state)
{
	struct cfg_site *s;

	(void)state;
	s = expect_ok(BASE "quickpaged:\n  max_retries: 0\n"
	    "  max_candidates_underscores: 0\n  low_speed_time_s: 0\n"
	    "  max_failed_fraction: 0\n");
	assert_int_equal(s->max_retries, 0);
	assert_int_equal(s->max_candidates_underscores, 0);
	assert_int_equal(s->low_speed_time_s, 0);
	assert_true(s->max_failed_fraction == 0.0);
	assert_int_equal(s->batch_size, 200);
	assert_int_equal(s->connect_timeout_s, 10);
	cfg_site_free(s);

	s = expect_ok(BASE "quickpaged:\n  max_failed_fraction: 1\n"
	    "  batch_size: 100000\n  max_candidates_underscores: 20\n");
	assert_true(s->max_failed_fraction == 1.0);
	assert_int_equal(s->batch_size, 100000);
	assert_int_equal(s->max_candidates_underscores, 20);
	cfg_site_free(s);

	/* Without initial, initial is 8 but never above max. */
	s = expect_ok(BASE "quickpaged:\n  concurrency:\n    max: 4\n");
	assert_int_equal(s->concurrency.min, 1);
	assert_int_equal(s->concurrency.initial, 4);
	assert_int_equal(s->concurrency.max, 4);
	cfg_site_free(s);

	s = expect_ok(BASE "quickpaged:\n  concurrency: {min: 3}\n");
	assert_int_equal(s->concurrency.min, 3);
	assert_int_equal(s->concurrency.initial, 8);
	assert_int_equal(s->concurrency.max, 64);
	cfg_site_free(s);

	s = expect_ok(BASE "quickpaged:\n  concurrency: {min: 16}\n");
	assert_int_equal(s->concurrency.min, 16);
	assert_int_equal(s->concurrency.initial, 16);
	assert_int_equal(s->concurrency.max, 64);
	cfg_site_free(s);

	s = expect_ok(BASE "quickpaged:\n  concurrency: {min: 1024, "
	    "initial: 1024, max: 1024}\n");
	assert_int_equal(s->concurrency.initial, 1024);
	cfg_site_free(s);

	/* A title prefix with YAML-special characters. */
	s = expect_ok(BASE "html:\n  title_prefix: \"CNS: <&> 'x'\"\n");
	assert_string_equal(s->title_prefix, "CNS: <&> 'x'");
	cfg_site_free(s);
}

/* "key:", "key: ~", "key: null": absent, as QuickPage (PyYAML) reads them. */
static void
test_null_values(void **state)
{
	struct cfg_site *s;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	s = expect_ok(BASE_NOTOKEN "  token: null\n");
	assert_string_equal(s->token, TOKEN3);
	cfg_site_free(s);
	s = expect_ok(BASE_NOTOKEN "  token: ~\n");
	assert_string_equal(s->token, TOKEN3);
	cfg_site_free(s);
	s = expect_ok(BASE_NOTOKEN "  token:\n");
	assert_string_equal(s->token, TOKEN3);
	cfg_site_free(s);
	/* Every key of our section commented out; empty sections. */
	s = expect_ok(BASE "html:\n  title_prefix: ~\nquickpaged:\n"
	    "  # batch_size: 200\n  ca_file: null\n  template_dir:\n"
	    "  concurrency:\n");
	assert_string_equal(s->title_prefix, "");
	assert_null(s->ca_file);
	assert_null(s->template_dir);
	assert_int_equal(s->batch_size, 200);
	assert_int_equal(s->concurrency.initial, 8);
	cfg_site_free(s);
	s = expect_ok(BASE "html:\nquickpaged: ~\n");
	assert_int_equal(s->concurrency.max, 64);
	cfg_site_free(s);
	/* Quoted empty strings too. */
	s = expect_ok(BASE "html:\n  title_prefix: ''\nquickpaged:\n"
	    "  ca_file: \"\"\n  template_dir: ''\n");
	assert_string_equal(s->title_prefix, "");
	assert_null(s->ca_file);
	assert_null(s->template_dir);
	cfg_site_free(s);
	expect_fail("neuprint:\n  server: ~\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n  directory: /o\n", NAME ":2:3: key 'neuprint.server'",
	    "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n  directory: null\n",
	    NAME ":6:3: key 'output.directory'", "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n", NAME ": key 'output.directory'", "missing", NULL);
	expect_fail("neuprint:\n", NAME ": key 'neuprint.server'", NULL);
}

/* ---- the token ---- */

static void
test_token_from_file(void **state)
{
	struct cfg_site *s;

	(void)state;
	s = expect_ok(BASE);
	assert_string_equal(s->token, TOKEN);
	cfg_site_free(s);
}

static void
test_token_credentials_plain(void **state)
{
	struct cfg_site *s;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS", TOKEN2, 1), 0);
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN2);
	cfg_site_free(s);
}

static void
test_token_credentials_json(void **state)
{
	struct cfg_site *s;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS",
	    "{\"user\": \"someone@example.org\", \"token\": \"" TOKEN2 "\"}",
	    1), 0);
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN2);
	cfg_site_free(s);

	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS",
	    "  {\"token\":\"" TOKEN2 "\"}\n", 1), 0);
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN2);
	cfg_site_free(s);

	/* JSON without a usable token: an error that names the variable. */
	static const char *const bad[] = {
		"{\"tok\": \"" TOKEN2 "\"}",
		"{\"token\": 12, \"x\": \"" TOKEN2 "\"}",
		"{\"token\": \"\", \"x\": \"" TOKEN2 "\"}",
		"{\"token\": \"" TOKEN2 "\"",	/* not JSON */
		"[{\"token\": \"" TOKEN2 "\"}]",
		("user:" TOKEN2),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS",
		    bad[i], 1), 0);
		/* NEUPRINT_TOKEN does not rescue a broken credentials value. */
		assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
		expect_fail(BASE_NOTOKEN, NAME ": key 'neuprint.token'",
		    "NEUPRINT_APPLICATION_CREDENTIALS", "token", NULL);
	}
}

static void
test_token_neuprint_token(void **state)
{
	struct cfg_site *s;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN3);
	cfg_site_free(s);
}

static void
test_token_precedence(void **state)
{
	struct cfg_site *s;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS", TOKEN2, 1), 0);
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	/* 1. the file */
	s = expect_ok(BASE);
	assert_string_equal(s->token, TOKEN);
	cfg_site_free(s);
	/* 2. NEUPRINT_APPLICATION_CREDENTIALS */
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN2);
	cfg_site_free(s);
	/* An empty value in the file or in a variable counts as absent. */
	s = expect_ok(BASE_NOTOKEN "neuprint_extra: 1\n");
	cfg_site_free(s);
	s = expect_ok("neuprint:\n  server: h\n  dataset: d\n  token: \"\"\n"
	    "output:\n  directory: /o\n");
	assert_string_equal(s->token, TOKEN2);
	cfg_site_free(s);
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS", "", 1), 0);
	/* 3. NEUPRINT_TOKEN */
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN3);
	cfg_site_free(s);
	assert_int_equal(unsetenv("NEUPRINT_APPLICATION_CREDENTIALS"), 0);
	s = expect_ok(BASE_NOTOKEN);
	assert_string_equal(s->token, TOKEN3);
	cfg_site_free(s);
}

/* expect_ok, and the token is absent: NO_TOKEN holds the message. */
static void
expect_no_token(const char *yaml)
{
	struct cfg_site *s = expect_ok(yaml);

	assert_null(s->token);
	assert_non_null(s->no_token);
	assert_prefix(s->no_token, NAME ": key 'neuprint.token'");
	assert_contains(s->no_token, "neuprint.token");
	assert_contains(s->no_token, "NEUPRINT_APPLICATION_CREDENTIALS");
	assert_contains(s->no_token, "NEUPRINT_TOKEN");
	assert_contains(s->no_token, "--quick");
	cfg_site_free(s);
}

/*
 * No token anywhere: the config loads (a --quick run needs none), and
 * says why a run that asks neuPrint cannot start (job_start reports it).
 */
static void
test_token_none(void **state)
{
	struct cfg_site *s;

	(void)state;
	expect_no_token(BASE_NOTOKEN);
	assert_int_equal(setenv("NEUPRINT_TOKEN", "", 1), 0);
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS", "", 1), 0);
	expect_no_token(BASE_NOTOKEN);
	/* With a token, no message. */
	s = expect_ok(BASE);
	assert_null(s->no_token);
	cfg_site_free(s);
	/* An empty token in the file counts as none; the message points there. */
	s = expect_ok("neuprint:\n  server: h\n  dataset: d\n  token: ''\n"
	    "output:\n  directory: /o\n");
	assert_null(s->token);
	assert_prefix(s->no_token, NAME ":4:3: key 'neuprint.token'");
	cfg_site_free(s);
}

/*
 * neuView's own site configs (reiserlab/neuView 2ae6997, the YAML files in config/),
 * in their shape: no token in the file (neuView reads NEUPRINT_TOKEN from
 * .env), a server without a scheme, a relative output directory, its
 * neuroglancer, discovery, html and subsets sections with YAML's quoting
 * styles in the type names. Written for this test, not copied.
 */
static const char neuview_cns[] =
	"# neuView Configuration\n"
	"neuprint:\n"
	"  server: \"neuprint.janelia.org\"\n"
	"  dataset: \"male-cns:v1.0\"\n"
	"\n"
	"output:\n"
	"  directory: \"output\"\n"
	"  # further output settings\n"
	"\n"
	"neuroglancer:\n"
	"  base_url: \"https://neuroglancer-demo.appspot.com/\"\n"
	"  template: \"neuroglancer-cns.js.jinja\"\n"
	"\n"
	"discovery:\n"
	"  max_types: 10\n"
	"  type_filter: \"\"\n"
	"  exclude_types: []\n"
	"  include_only: []\n"
	"  randomize: true\n"
	"\n"
	"html:\n"
	"  title_prefix: \"Male CNS\"\n"
	"  github_repo: \"https://github.com/example/explorer\"\n"
	"  youtube_channel: \"https://www.youtube.com/@example\"\n"
	"  fathom_id: \"ABCDEFGH\"\n"
	"\n"
	"subsets:\n"
	"  subset-medium:\n"
	"    - \"Tm3\"\n"
	"    - \"'Tergopleural/Pleural promotor MN'\"\n"
	"    - \"'IN20A.22A070,IN20A.22A080'\"\n"
	"    - \"'PEN_b(PEN2)'\"\n"
	"    - '\"KCa''b''-ap1\"'\n"
	"  subset-small:\n"
	"    - \"SAD103\"\n";

static void
test_neuview_configs(void **state)
{
	static const char *const other[][2] = {
		{ "neuprint-cns.janelia.org", "flywire-fafb:v783b" },
		{ "neuprint.janelia.org", "optic-lobe:v1.1" },
		{ "neuprint.janelia.org", "hemibrain:v1.2.1" },
	};
	char *dir = mktmp(), *sub, *file, *want, *text;
	struct cfg_origin root = { .getenv = cfg_process_env };
	struct cfg_site *s = NULL;
	size_t i;
	int rc;

	(void)state;
	/* A checkout: config/config.cns.yaml, run from its root. */
	sub = path_join(dir, "config");
	assert_int_equal(mkdir(sub, 0700), 0);
	file = path_join(sub, "config.cns.yaml");
	write_file(file, neuview_cns);
	root.cwd = dir;
	rc = cfg_site_load(file, &root, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	assert_string_equal(s->server, "https://neuprint.janelia.org");
	assert_string_equal(s->dataset, "male-cns:v1.0");
	assert_string_equal(s->title_prefix, "Male CNS");
	want = path_join(dir, "output");
	assert_string_equal(s->output_dir, want);
	free(want);
	assert_int_equal(s->layout, SCAN_LAYOUT_AUTO);
	assert_int_equal(s->rules, ROI_RULES_DEFAULT);
	assert_null(s->token);
	assert_contains(s->no_token, "NEUPRINT_TOKEN");
	cfg_site_free(s);
	/* As neuView runs it: the token in the environment. */
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	rc = cfg_site_load(file, &root, &s, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(s->token, TOKEN3);
	assert_null(s->no_token);
	cfg_site_free(s);
	/* The other datasets' files differ in server and dataset only. */
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_true(asprintf(&text, "neuprint:\n  server: \"%s\"\n"
		    "  dataset: \"%s\"\n%s", other[i][0], other[i][1],
		    strstr(neuview_cns, "\noutput:") + 1) > 0);
		write_file(file, text);
		rc = cfg_site_load(file, &root, &s, err, sizeof(err));
		if (rc != 0)
			fail_msg("rc %d: %s", rc, err);
		assert_string_equal(s->dataset, other[i][1]);
		assert_string_equal(s->server + 8, other[i][0]);
		cfg_site_free(s);
		free(text);
	}
	unlink(file);
	rmdir(sub);
	rmdir(dir);
	free(sub);
	free(file);
	free(dir);
}

/* ---- the server ---- */

static void
server_is(const char *given, const char *want)
{
	char yaml[512];
	struct cfg_site *s;

	snprintf(yaml, sizeof(yaml), "neuprint:\n  server: '%s'\n"
	    "  dataset: d\n  token: " TOKEN "\noutput:\n  directory: /o\n",
	    given);
	s = expect_ok(yaml);
	assert_string_equal(s->server, want);
	cfg_site_free(s);
}

static void
test_server(void **state)
{
	char yaml[512];

	(void)state;
	server_is("neuprint.janelia.org", "https://neuprint.janelia.org");
	server_is("neuprint.janelia.org/", "https://neuprint.janelia.org");
	server_is("https://neuprint.janelia.org", "https://neuprint.janelia.org");
	server_is("https://neuprint.janelia.org/", "https://neuprint.janelia.org");
	server_is("https://127.0.0.1:8443//", "https://127.0.0.1:8443");
	server_is("localhost:8443", "https://localhost:8443");

	static const char *const refused[] = {
		"http://neuprint.janelia.org", "ftp://neuprint.janelia.org",
		"https://", "https:///", "/",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(yaml, sizeof(yaml), "neuprint:\n  server: '%s'\n"
		    "  dataset: d\n  token: " TOKEN "\noutput:\n"
		    "  directory: /o\n", refused[i]);
		expect_fail(yaml, NAME ":2:3: key 'neuprint.server'", NULL);
	}
	expect_fail("neuprint:\n  server: http://neuprint.janelia.org\n"
	    "  dataset: d\n  token: " TOKEN "\noutput:\n  directory: /o\n",
	    NAME ":2:3: key 'neuprint.server'", "HTTPS", NULL);
}

/* ---- missing keys ---- */

static void
test_missing_keys(void **state)
{
	(void)state;
	expect_fail("neuprint:\n  dataset: d\n  token: " TOKEN "\n"
	    "output:\n  directory: /o\n", NAME ": key 'neuprint.server'",
	    "missing", NULL);
	expect_fail("neuprint:\n  server: ''\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n  directory: /o\n", NAME ":2:3: key 'neuprint.server'",
	    "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  token: " TOKEN "\n"
	    "output:\n  directory: /o\n", NAME ": key 'neuprint.dataset'",
	    "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: ''\n  token: " TOKEN
	    "\noutput:\n  directory: /o\n", NAME ":3:3: key 'neuprint.dataset'",
	    "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\n", NAME ": key 'output.directory'", "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n  formats: [html]\n", NAME ": key 'output.directory'",
	    "missing", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n  directory: ''\n", NAME ":6:3: key 'output.directory'",
	    NULL);
	expect_fail("html:\n  title_prefix: x\n", NAME ": key 'neuprint.server'",
	    NULL);
	expect_fail("neuprint: {}\n", NAME ": key 'neuprint.server'", NULL);
}

/* ---- strictness of quickpaged: ---- */

static void
test_unknown_key(void **state)
{
	(void)state;
	expect_fail(BASE "quickpaged:\n  batch_size: 10\n  batchsize: 10\n",
	    NAME ":9:3: key 'quickpaged.batchsize'", "unknown key", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency:\n    min: 1\n"
	    "    maximum: 10\n",
	    NAME ":10:5: key 'quickpaged.concurrency.maximum'", "unknown key",
	    NULL);
	/* A misplaced token is reported by key, never by value... */
	expect_fail(BASE "quickpaged:\n  token: " TOKEN "\n",
	    NAME ":8:3: key 'quickpaged.token'", "unknown key", NULL);
	/* ...and a key that does not look like one is not shown. */
	expect_fail(BASE "quickpaged:\n  " TOKEN ": 1\n",
	    NAME ":8:3: key 'quickpaged.?'", "unknown key", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency:\n    " TOKEN ":\n",
	    NAME ":9:5: key 'quickpaged.concurrency.?'", "unknown key", NULL);
	/* Our keys given twice, anywhere. */
	expect_fail(BASE "quickpaged:\n  batch_size: 10\n  batch_size: 20\n",
	    NAME ":9:3: key 'quickpaged.batch_size'", "twice", "line 8", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\n  token: " TOKEN "\noutput:\n  directory: /o\n",
	    NAME ":5:3: key 'neuprint.token'", "twice", NULL);
	expect_fail(BASE "output:\n  x: 1\n", NAME ":7:1: key 'output'",
	    "twice", NULL);
	expect_fail(BASE "quickpaged: {ca_file: /x, retries: 3}\n",
	    NAME ":7:27: key 'quickpaged.retries'", NULL);
}

/* ---- node kinds and numbers ---- */

static void
test_wrong_kinds(void **state)
{
	(void)state;
	expect_fail("neuprint:\n  server: [a, b]\n  dataset: d\n  token: "
	    TOKEN "\noutput:\n  directory: /o\n",
	    NAME ":2:11: key 'neuprint.server'", "single value", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset:\n    - a\n  token: "
	    TOKEN "\noutput:\n  directory: /o\n",
	    NAME ":4:5: key 'neuprint.dataset'", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: [" TOKEN
	    "]\noutput:\n  directory: /o\n",
	    NAME ":4:10: key 'neuprint.token'", "single value", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: {t: " TOKEN
	    "}\noutput:\n  directory: /o\n",
	    NAME ":4:10: key 'neuprint.token'", NULL);
	expect_fail(BASE "html:\n  title_prefix: {a: b}\n",
	    NAME ":8:17: key 'html.title_prefix'", NULL);
	expect_fail("neuprint: [server, dataset]\n",
	    NAME ":1:11: key 'neuprint'", "mapping", NULL);
	expect_fail(BASE "html: Male CNS\n", NAME ":7:7: key 'html'",
	    "mapping", NULL);
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\noutput: /srv/x\n", NAME ":5:9: key 'output'", "mapping", NULL);
	expect_fail(BASE "quickpaged:\n  - batch_size: 1\n",
	    NAME ":8:3: key 'quickpaged'", "mapping", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency: 8\n",
	    NAME ":8:16: key 'quickpaged.concurrency'", "mapping", NULL);
	expect_fail(BASE "quickpaged:\n  ca_file: [a]\n",
	    NAME ":8:12: key 'quickpaged.ca_file'", NULL);

	/* Numbers. */
	expect_fail(BASE "quickpaged:\n  batch_size: abc\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", "'abc'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: -3\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", "'-3'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: \"8\"\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: '8'\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: 1.5\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: 0x10\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: 010\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", "leading zeros", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: 08\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size:\n",
	    NAME ":8:", "key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: [1]\n",
	    NAME ":8:15: key 'quickpaged.batch_size'", "number", NULL);
	expect_fail(BASE "quickpaged:\n  max_retries: 99999999999\n",
	    NAME ":8:16: key 'quickpaged.max_retries'", "too large", NULL);
	expect_fail(BASE "quickpaged:\n  max_query_bytes: 100\n",
	    NAME ":8:3: key 'quickpaged.max_query_bytes'", "4096", NULL);
	expect_fail(BASE "quickpaged:\n  server_query_limit_s: 9999999\n",
	    NAME ":8:3: key 'quickpaged.server_query_limit_s'", "604800", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency:\n    max: \"8\"\n",
	    NAME ":9:10: key 'quickpaged.concurrency.max'", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency:\n    initial: eight\n",
	    NAME ":9:14: key 'quickpaged.concurrency.initial'", "'eight'",
	    NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: abc\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", "'abc'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: \"0.5\"\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: [0.5]\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: 1%\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
	/* A long value is not quoted: it could be a misplaced token. */
	expect_fail(BASE "quickpaged:\n  max_retries: " TOKEN "\n",
	    NAME ":8:16: key 'quickpaged.max_retries'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: " TOKEN "\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
}

/* ---- ranges ---- */

static void
test_ranges(void **state)
{
	(void)state;
	expect_fail(BASE "quickpaged:\n  concurrency: {min: 9, initial: 8}\n",
	    NAME ":8:3: key 'quickpaged.concurrency'", "min <= initial",
	    "9, 8, 64", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency: {initial: 65}\n",
	    NAME ":8:3: key 'quickpaged.concurrency'", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency: {min: 4, max: 2}\n",
	    NAME ":8:3: key 'quickpaged.concurrency'", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency: {min: 0}\n",
	    NAME ":8:3: key 'quickpaged.concurrency'", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency: {max: 1025, "
	    "initial: 8}\n", NAME ":8:3: key 'quickpaged.concurrency'", NULL);
	expect_fail(BASE "quickpaged:\n  concurrency: {max: 0}\n",
	    NAME ":8:3: key 'quickpaged.concurrency'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: 0\n",
	    NAME ":8:3: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  batch_size: 100001\n",
	    NAME ":8:3: key 'quickpaged.batch_size'", NULL);
	expect_fail(BASE "quickpaged:\n  max_candidates_underscores: 21\n",
	    NAME ":8:3: key 'quickpaged.max_candidates_underscores'", NULL);
	expect_fail(BASE "quickpaged:\n  layout: flat\n",
	    NAME ":8:3: key 'quickpaged.layout'", "flat", NULL);
	expect_fail(BASE "quickpaged:\n  rules: auto\n",
	    NAME ":8:3: key 'quickpaged.rules'", "neuview or quickpage", NULL);
	expect_fail(BASE "quickpaged:\n  roi_threshold_pct: 101\n",
	    NAME ":8:3: key 'quickpaged.roi_threshold_pct'", NULL);
	expect_fail(BASE "quickpaged:\n  connect_timeout_s: 0\n",
	    NAME ":8:3: key 'quickpaged.connect_timeout_s'", NULL);
	expect_fail(BASE "quickpaged:\n  request_timeout_s: 0\n",
	    NAME ":8:3: key 'quickpaged.request_timeout_s'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: 1.5\n",
	    NAME ":8:3: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: -0.1\n",
	    NAME ":8:3: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: nan\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: inf\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: 1e999\n",
	    NAME ":8:24: key 'quickpaged.max_failed_fraction'", NULL);
	expect_fail(BASE "quickpaged:\n  max_failed_fraction: .nan\n",
	    NAME ":8:", "key 'quickpaged.max_failed_fraction'", NULL);
}

/* ---- YAML itself ---- */

static void
test_yaml_syntax(void **state)
{
	(void)state;
	/* An unclosed flow sequence. */
	expect_fail("neuprint:\n  server: [a, b\n  dataset: d\n",
	    NAME ":", NULL);
	assert_true(strspn(err + strlen(NAME ":"), "0123456789") > 0);
	/* A mapping value where none may be: the position is exact. */
	expect_fail("neuprint:\n  server: h\n  dataset: d: e\n",
	    NAME ":3:13: ", "mapping values are not allowed", NULL);
	/* A tab in the indentation. */
	expect_fail("neuprint:\n\tserver: h\n", NAME ":2:1: ", NULL);
	/* A bad indentation right after the token: no token in the message. */
	expect_fail("neuprint:\n  server: h\n  token: " TOKEN "\n   dataset: d\n",
	    NAME ":4:", NULL);
	expect_fail("neuprint:\n  token: \"" TOKEN "\n", NAME ":", NULL);
	expect_fail("neuprint:\n  token: " TOKEN ": x\n", NAME ":2:", NULL);
	/* Not a mapping at all. */
	expect_fail("- neuprint\n- output\n", NAME ":1:1: ", "mapping", NULL);
	expect_fail("just a string\n", NAME ":1:1: ", NULL);
	expect_fail("", NAME ":1:1: ", NULL);
	expect_fail("# only a comment\n", NAME ":1:1: ", NULL);
	/* Duplicate keys. */
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\n  token: " TOKEN "x\noutput:\n  directory: /o\n", NAME, NULL);
	/* An alias that names no anchor. */
	expect_fail(BASE "x: *nowhere\n", NAME ":7:", NULL);
}

/* ---- relative paths ---- */

/* A named site has no working directory: a relative path is refused. */
static void
test_relative_refused_by_parse(void **state)
{
	(void)state;
	expect_fail("neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN
	    "\noutput:\n  directory: out\n", NAME ":6:3: key 'output.directory'",
	    "'out' is relative, and no working directory here", "absolute",
	    NULL);
	expect_fail(BASE "quickpaged:\n  ca_file: ca.pem\n",
	    NAME ":8:3: key 'quickpaged.ca_file'", "absolute", NULL);
	expect_fail(BASE "quickpaged:\n  template_dir: ./templates\n",
	    NAME ":8:3: key 'quickpaged.template_dir'", "absolute", NULL);
}

/*
 * Relative paths resolve against the working directory of the command
 * (as QuickPage and neuView resolve them), never against the config's
 * folder; --output-dir replaces output.directory, resolved the same way.
 */
static void
test_load_resolves_relative(void **state)
{
	static const char text[] = "neuprint:\n  server: h\n  dataset: d\n"
	    "  token: " TOKEN "\noutput:\n  directory: ./output\n"
	    "quickpaged:\n  ca_file: ../ca.pem\n  template_dir: tpl/x\n"
	    "  cache_dir: .\n";
	struct cfg_origin o = { .cwd = "/home/lab/neuView" };
	char *dir = mktmp(), *sub, *file, *want;
	char cwd[PATH_MAX];
	struct cfg_site *s = NULL;
	int rc;

	(void)state;
	rc = cfg_site_parse(NAME, text, strlen(text), &o, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	assert_string_equal(s->output_dir, "/home/lab/neuView/output");
	assert_string_equal(s->ca_file, "/home/lab/neuView/../ca.pem");
	assert_string_equal(s->template_dir, "/home/lab/neuView/tpl/x");
	assert_string_equal(s->cache_dir, "/home/lab/neuView");
	cfg_site_free(s);
	o.output_dir = "site/out";
	assert_int_equal(cfg_site_parse(NAME, text, strlen(text), &o, &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s->output_dir, "/home/lab/neuView/site/out");
	cfg_site_free(s);
	o.output_dir = "/srv/www";
	assert_int_equal(cfg_site_parse(NAME, text, strlen(text), &o, &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s->output_dir, "/srv/www");
	cfg_site_free(s);
	o.cwd = "/";
	o.output_dir = NULL;
	assert_int_equal(cfg_site_parse(NAME, text, strlen(text), &o, &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s->output_dir, "/output");
	cfg_site_free(s);

	/* cfg_site_load with no origin: this process's working directory. */
	sub = path_join(dir, "config");
	assert_int_equal(mkdir(sub, 0700), 0);
	file = path_join(sub, "config.cns.yaml");
	write_file(file, text);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	rc = cfg_site_load("config/config.cns.yaml", NULL, &s, err,
	    sizeof(err));
	assert_int_equal(chdir(cwd), 0);	/* before any assertion fails */
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	want = path_join(dir, "output");	/* not config/output */
	assert_string_equal(s->output_dir, want);
	free(want);
	cfg_site_free(s);

	/* Absolute paths are kept as written. */
	write_file(file, "neuprint:\n  server: h\n  dataset: d\n  token: "
	    TOKEN "\noutput:\n  directory: /srv/pages\nquickpaged:\n"
	    "  ca_file: /etc/ca.pem\n");
	rc = cfg_site_load(file, &named, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	assert_string_equal(s->output_dir, "/srv/pages");
	assert_string_equal(s->ca_file, "/etc/ca.pem");
	assert_null(s->template_dir);
	cfg_site_free(s);

	free(file);
	free(sub);
	rm_rf(dir);
	free(dir);
}

/* A client's config sees the client's variables, never this process's. */
static const char *
fake_env(const void *arg, const char *name)
{
	return strcmp(name, "NEUPRINT_TOKEN") == 0 ? arg : NULL;
}

static void
test_origin_env(void **state)
{
	struct cfg_origin o = { .cwd = "/x", .getenv = fake_env,
	    .env_arg = TOKEN2 };
	struct cfg_site *s = NULL;
	const char *text = "neuprint: {server: h, dataset: d}\n"
	    "output: {directory: o}\n";

	(void)state;
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	assert_int_equal(cfg_site_parse(NAME, text, strlen(text), &o, &s, err,
	    sizeof(err)), 0);
	assert_string_equal(s->token, TOKEN2);
	cfg_site_free(s);
	o.getenv = NULL;	/* no environment: no token, and says so */
	assert_int_equal(cfg_site_parse(NAME, text, strlen(text), &o, &s, err,
	    sizeof(err)), 0);
	assert_null(s->token);
	assert_contains(s->no_token, "NEUPRINT_TOKEN");
	cfg_site_free(s);
	assert_int_equal(unsetenv("NEUPRINT_TOKEN"), 0);
}

/* ---- cfg_site_load's own errors ---- */

/*
 * cfg_site_load(FILE) as a user other than root, who reads any file: as
 * nobody in a child when we are root. Its result; the message in ERR.
 */
static int
load_unprivileged(const char *file, char *msg, size_t msglen)
{
	struct cfg_site *s = NULL;
	int pfd[2], st, rc;
	ssize_t n;
	pid_t pid;

	if (geteuid() != 0) {
		rc = cfg_site_load(file, NULL, &s, msg, msglen);
		cfg_site_free(s);
		return rc;
	}
	assert_int_equal(pipe(pfd), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(pfd[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		rc = cfg_site_load(file, NULL, &s, msg, msglen);
		(void)!write(pfd[1], msg, strlen(msg));
		/* A negative errno fits an exit status (errno < 100). */
		_exit(rc == 0 ? 0 : rc < 0 && rc > -100 ? -rc : 101);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, msglen - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 100);	/* could not drop root */
	assert_int_not_equal(WEXITSTATUS(st), 101);	/* not an errno */
	return -WEXITSTATUS(st);
}

static void
test_load_errors(void **state)
{
	char *dir = mktmp(), *file, *missing, *prefix;
	struct cfg_site *s = (struct cfg_site *)1;
	int rc;

	(void)state;
	missing = path_join(dir, "no-such.yaml");
	rc = cfg_site_load(missing, NULL, &s, err, sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_null(s);
	assert_prefix(err, missing);
	assert_contains(err, "No such file");

	/* A directory is not a config. */
	s = (struct cfg_site *)1;
	rc = cfg_site_load(dir, NULL, &s, err, sizeof(err));
	assert_true(rc < 0);
	assert_null(s);
	assert_prefix(err, dir);

	/* Errors inside the file name the file, the line and the column. */
	file = path_join(dir, "site.yaml");
	write_file(file, BASE "quickpaged:\n  batch_size: many\n");
	s = (struct cfg_site *)1;
	rc = cfg_site_load(file, NULL, &s, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_null(s);
	prefix = xasprintf("%s:8:15: key 'quickpaged.batch_size'", file);
	assert_prefix(err, prefix);
	free(prefix);
	assert_no_secret(err);

	write_file(file, BASE "quickpaged:\n  concurrency: {min: 9, "
	    "initial: 8}\n");
	rc = cfg_site_load(file, NULL, &s, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	prefix = xasprintf("%s:8:3: key 'quickpaged.concurrency'", file);
	assert_prefix(err, prefix);
	free(prefix);
	assert_no_secret(err);

	write_file(file, "neuprint:\n  server: h\n  dataset: d\n"
	    "output:\n  directory: out\n");
	/* No token loads; the message a run would give names the file. */
	rc = cfg_site_load(file, NULL, &s, err, sizeof(err));
	assert_int_equal(rc, 0);
	prefix = xasprintf("%s: key 'neuprint.token'", file);
	assert_prefix(s->no_token, prefix);
	free(prefix);
	cfg_site_free(s);

	/*
	 * Unreadable. The directory is opened to others (mkdtemp made it
	 * 0700) so that the file's own mode is what refuses.
	 */
	write_file(file, BASE);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(file, 0), 0);
	err[0] = '\0';
	assert_int_equal(load_unprivileged(file, err, sizeof(err)), -EACCES);
	assert_prefix(err, file);

	free(file);
	free(missing);
	rm_rf(dir);
	free(dir);
}

/* ---- the token stays out of every message ---- */

static void
test_token_not_in_errors(void **state)
{
	static const char *const docs[] = {
		/* errors elsewhere, with the token in the file */
		BASE "quickpaged:\n  batch_size: x\n",
		BASE "quickpaged:\n  unknown: 1\n",
		BASE "quickpaged:\n  concurrency: {min: 5, max: 2}\n",
		BASE "quickpaged:\n  ca_file: rel.pem\n",
		BASE "quickpaged:\n  max_failed_fraction: 2\n",
		BASE "html: [x]\n",
		"neuprint:\n  server: http://h\n  dataset: d\n  token: " TOKEN "\n"
		    "output:\n  directory: /o\n",
		"neuprint:\n  server: h\n  token: " TOKEN "\n"
		    "output:\n  directory: /o\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN "\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN "\n"
		    "output:\n  directory: o\n",
		/* the token itself malformed or misplaced */
		"neuprint:\n  server: h\n  dataset: d\n  token: [" TOKEN "]\n",
		"neuprint:\n  server: h\n  dataset: d\n  token:\n    - " TOKEN "\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: '" TOKEN "\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN " : x\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN "\n"
		    "  token: " TOKEN "\noutput:\n  directory: /o\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: &a " TOKEN "\n"
		    "  server: *a\n",
		"- " TOKEN "\n",
		TOKEN "\n",
		"neuprint: " TOKEN "\n",
		BASE "quickpaged:\n  " TOKEN ": 1\n",
		"neuprint:\n  server: h\n  dataset: d\n  token: " TOKEN "\n"
		    "\t\n  x: {\n",
	};
	size_t i;

	(void)state;
	assert_int_equal(setenv("NEUPRINT_TOKEN", TOKEN3, 1), 0);
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		expect_fail(docs[i], NAME ":", NULL);

	/* Environment tokens, with errors after they were read. */
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS",
	    "{\"token\": \"" TOKEN2 "\"}", 1), 0);
	expect_fail(BASE_NOTOKEN "quickpaged:\n  batch_size: 0\n", NAME ":",
	    NULL);
	expect_fail(BASE_NOTOKEN "quickpaged:\n  ca_file: x\n", NAME ":", NULL);
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS",
	    "{\"token\" \"" TOKEN2 "\", \"a\": 1}", 1), 0);
	expect_fail(BASE_NOTOKEN, NAME ":", NULL);
	assert_int_equal(setenv("NEUPRINT_APPLICATION_CREDENTIALS",
	    "{\"token\": [\"" TOKEN2 "\"]}", 1), 0);
	expect_fail(BASE_NOTOKEN, NAME ":", NULL);
}

/* A short error buffer is filled, terminated, never overrun. */
static void
test_short_err_buffer(void **state)
{
	char small[24];
	struct cfg_site *s;
	const char *yaml = BASE "quickpaged:\n  batch_size: abc\n";
	int rc;

	(void)state;
	memset(small, 'X', sizeof(small));
	rc = cfg_site_parse(NAME, yaml, strlen(yaml), &named, &s, small,
	    sizeof(small));
	assert_int_equal(rc, -EINVAL);
	assert_null(s);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_prefix(small, NAME ":8:15: key");
	cfg_site_free(NULL);
}

/* Input need not be NUL-terminated: LEN bounds it. */
static void
test_length_bounded(void **state)
{
	struct cfg_site *s = NULL;
	char *text;
	size_t len = strlen(BASE);
	int rc;

	(void)state;
	text = xmalloc(len);
	memcpy(text, BASE, len);
	rc = cfg_site_parse(NAME, text, len, &named, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	assert_string_equal(s->output_dir, "/srv/quickpage/cns");
	cfg_site_free(s);
	/* Only the part before LEN counts. */
	rc = cfg_site_parse(NAME, BASE "quickpaged: {batch_size: 0}\n",
	    len, &named, &s, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(s->batch_size, 200);
	cfg_site_free(s);
	free(text);
}

/*
 * Found with the config fuzz harness on crafted inputs
 * (tests/fuzz/corpus/config/laughs, deep): nine anchors
 * of ten aliases each ("billion laughs", 500 bytes) made libcyaml allocate
 * past 2 GB, and 20,000 nested "[" took libyaml 12 s; a client can send
 * either over the socket. Both are refused at once, with the line.
 */
static void
test_yaml_limits(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	yg_laughs(&b, 9);
	buf_puts(&b, BASE);
	expect_fail(b.data, NAME ":5: ", "100000 values", NULL);
	buf_reset(&b);
	buf_puts(&b, BASE "x: ");
	yg_nest(&b, 20000, '[', ']');
	expect_fail(b.data, NAME ":7: ", "64 levels", NULL);
	/* an alias inside its own anchor */
	expect_fail(BASE "x: &r [1, *r]\n", NAME ":7: ", "inside", NULL);
	/* within the limits: 63 levels, aliases worth 10,000 values */
	buf_reset(&b);
	buf_puts(&b, BASE "x: ");
	yg_nest(&b, 62, '[', ']');
	buf_puts(&b, "\n");
	yg_laughs(&b, 4);
	cfg_site_free(expect_ok(b.data));
	buf_free(&b);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_full_quickpage_config),
		T(test_example_file),
		T(test_defaults),
		T(test_explicit_values),
		T(test_null_values),
		T(test_token_from_file),
		T(test_token_credentials_plain),
		T(test_token_credentials_json),
		T(test_token_neuprint_token),
		T(test_token_precedence),
		T(test_token_none),
		T(test_neuview_configs),
		T(test_server),
		T(test_missing_keys),
		T(test_unknown_key),
		T(test_wrong_kinds),
		T(test_ranges),
		T(test_yaml_syntax),
		T(test_relative_refused_by_parse),
		T(test_load_resolves_relative),
		T(test_origin_env),
		T(test_load_errors),
		T(test_token_not_in_errors),
		T(test_short_err_buffer),
		T(test_length_bounded),
		T(test_yaml_limits),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
