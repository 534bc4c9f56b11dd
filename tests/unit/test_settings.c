/*
 * settings tests: the daemon's settings file read from memory
 * (settings_parse, what settings_load runs on the file's text): defaults,
 * every key, the sites mapping, and the refusals that name the key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "settings.h"
#include "base/xmalloc.h"
#include "yamlgen.h"

static char err[512];

static struct settings *
ok(const char *text)
{
	struct settings *s = NULL;

	if (settings_parse("s.yaml", text, strlen(text), &s, err,
	    sizeof(err)) != 0)
		fail_msg("settings_parse: %s", err);
	assert_non_null(s);
	return s;
}

static void
refused(const char *text, const char *want)
{
	struct settings *s = (struct settings *)1;

	assert_int_equal(settings_parse("s.yaml", text, strlen(text), &s, err,
	    sizeof(err)), -EINVAL);
	assert_null(s);
	if (strstr(err, want) == NULL || strncmp(err, "s.yaml:", 7) != 0)
		fail_msg("'%s' lacks '%s'", err, want);
}

static void
test_defaults_and_keys(void **state)
{
	struct settings *s;

	(void)state;
	s = ok("");
	assert_string_equal(s->socket, "/run/quickpaged/quickpaged.sock");
	assert_string_equal(s->state_dir, "/var/lib/quickpaged");
	assert_int_equal(s->max_parallel_jobs, 4);
	assert_int_equal(s->nsites, 0);
	settings_free(s);
	s = ok("socket: /tmp/q.sock\nmax_parallel_jobs: 2\n"
	    "allowed_output_roots: [/srv/a]\nsites:\n  cns: /etc/cns.yaml\n"
	    "  hemi: /etc/hemi.yaml\n");
	assert_string_equal(s->socket, "/tmp/q.sock");
	assert_int_equal(s->max_parallel_jobs, 2);
	assert_int_equal(s->nroots, 1);
	assert_string_equal(s->roots[0], "/srv/a");
	assert_string_equal(settings_site(s, "hemi"), "/etc/hemi.yaml");
	assert_null(settings_site(s, "nope"));
	settings_free(s);
}

static void
test_refusals(void **state)
{
	(void)state;
	refused("sites:\n  cns: relative.yaml\n", "key 'sites.cns'");
	refused("sites:\n  a: /x\n  a: /y\n", "listed twice");
	refused("log_level: loud\n", "key 'log_level'");
	refused("max_parallel_jobs: 0\n", "max_parallel_jobs");
}

/*
 * Found with the config fuzz harness (the settings are read by the same
 * libraries): aliases of aliases and deep nesting are refused before
 * libcyaml or libyaml's loader sees them (yf_check).
 */
static void
test_yaml_limits(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	yg_laughs(&b, 9);
	refused(b.data, "100000 values");
	buf_reset(&b);
	buf_puts(&b, "x: ");
	yg_nest(&b, 20000, '{', '\0');
	refused(b.data, "64 levels");
	buf_free(&b);
}

/*
 * The file read whole (base/yamlfile, the site config's reader too): a
 * missing one named with its errno, one past 16 MiB refused unread.
 */
static void
test_load_file(void **state)
{
	char path[] = "/tmp/qp_settings_XXXXXX";
	struct settings *s = (struct settings *)1;
	int fd;

	(void)state;
	assert_int_equal(settings_load("/nonexistent/s.yaml", &s, err,
	    sizeof(err)), -ENOENT);
	assert_null(s);
	assert_string_equal(err, "/nonexistent/s.yaml: No such file or "
	    "directory");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "max_clients: 3\n", 15), 15);
	s = NULL;
	assert_int_equal(settings_load(path, &s, err, sizeof(err)), 0);
	assert_int_equal(s->max_clients, 3);
	settings_free(s);
	assert_int_equal(ftruncate(fd, (1 << 24) + 1), 0);
	assert_int_equal(settings_load(path, &s, err, sizeof(err)), -EFBIG);
	assert_null(s);
	assert_non_null(strstr(err, ": larger than 16 MiB: not a settings "
	    "file"));
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_keys),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_yaml_limits),
		cmocka_unit_test(test_load_file),
	};

	xmalloc_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
