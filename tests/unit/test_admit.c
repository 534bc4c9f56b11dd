/*
 * admit: the kernel's permission rule for another user, from the mode
 * bits: the first class that matches (owner, group, other) decides alone;
 * every parent needs search permission; a symlink or the wrong file type
 * is refused. Then the daemon's rules: who is privileged, who may cancel,
 * a client's config admitted only under allowed_output_roots, with
 * absolute paths, its template_dir readable by its user. No privilege
 * needed: the "other users" are made-up uids.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "admit.h"
#include "settings.h"
#include "siteup.h"

static char dir[64], sub[96], file[128], link_[128];

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	strcpy(dir, "/tmp/qp-acc-XXXXXX");
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(file, sizeof(file), "%s/f", sub);
	snprintf(link_, sizeof(link_), "%s/l", sub);
	if (mkdir(sub, 0755) < 0 || (f = fopen(file, "w")) == NULL)
		return -1;
	fclose(f);
	return symlink(file, link_);
}

static int
teardown(void **state)
{
	(void)state;
	unlink(link_);
	unlink(file);
	rmdir(sub);
	rmdir(dir);
	return 0;
}

#define NO_EXTRA	((gid_t)-1)	/* who(): no supplementary group */

static struct admit_who
who(long uid, long gid, gid_t extra)
{
	struct admit_who w;

	memset(&w, 0, sizeof(w));
	w.uid = uid;
	w.gid = gid;
	if (extra != NO_EXTRA)
		w.groups[w.ngroups++] = extra;
	return w;
}

#define OTHER	4242424L	/* no such user or group */

static int
check(struct admit_who w, const char *path, int mode, int is_dir)
{
	char err[512] = "";

	return admit_check(&w, path, mode, is_dir, err, sizeof(err));
}

static void
test_classes(void **state)
{
	long me = (long)getuid(), mygid = (long)getgid();

	(void)state;
	/* Root passes every check: as root, the file gets another owner. */
	if (me == 0) {
		assert_int_equal(chown(file, 4242, (gid_t)-1), 0);
		me = 4242;
	}
	assert_int_equal(chmod(file, 0640), 0);
	assert_int_equal(check(who(me, OTHER, NO_EXTRA), file, R_OK | W_OK, 0), 0);
	assert_int_equal(check(who(OTHER, mygid, NO_EXTRA), file, R_OK, 0), 0);
	assert_int_equal(check(who(OTHER, mygid, NO_EXTRA), file, W_OK, 0), -EACCES);
	/* a supplementary group counts like the primary one */
	assert_int_equal(check(who(OTHER, OTHER, (gid_t)mygid), file, R_OK, 0), 0);
	assert_int_equal(check(who(OTHER, OTHER, NO_EXTRA), file, R_OK, 0), -EACCES);
	/* the group class decides alone: other's bits do not help a member */
	assert_int_equal(chmod(file, 0604), 0);
	assert_int_equal(check(who(OTHER, mygid, NO_EXTRA), file, R_OK, 0), -EACCES);
	assert_int_equal(check(who(OTHER, OTHER, NO_EXTRA), file, R_OK, 0), 0);
	/* nor the owner's */
	assert_int_equal(chmod(file, 0044), 0);
	assert_int_equal(check(who(me, mygid, NO_EXTRA), file, R_OK, 0), -EACCES);
	/* root may */
	assert_int_equal(check(who(0, 0, NO_EXTRA), file, R_OK | W_OK, 0), 0);
	assert_int_equal(chmod(file, 0644), 0);
}

static void
test_parents_and_types(void **state)
{
	char err[512] = "";
	struct admit_who w = who(OTHER, OTHER, NO_EXTRA);

	(void)state;
	assert_int_equal(check(w, file, R_OK, 0), 0);
	assert_int_equal(chmod(sub, 0750), 0);
	assert_int_equal(admit_check(&w, file, R_OK, 0, err, sizeof(err)),
	    -EACCES);
	assert_non_null(strstr(err, "/sub: user 4242424 may not enter it"));
	assert_int_equal(chmod(sub, 0755), 0);
	/* a directory: write needs w on it */
	assert_int_equal(check(w, sub, R_OK | X_OK, 1), 0);
	assert_int_equal(check(w, sub, R_OK | W_OK | X_OK, 1), -EACCES);
	assert_int_equal(check(w, file, R_OK, 1), -EINVAL);
	assert_int_equal(check(w, sub, R_OK, 0), -EINVAL);
	/* a symlink is never followed */
	err[0] = '\0';
	assert_int_equal(admit_check(&w, link_, R_OK, 0, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "is not a regular file"));
	assert_int_equal(check(w, "relative/path", R_OK, 0), -EINVAL);
	assert_int_equal(check(w, "/no/such/qp-file", R_OK, 0), -ENOENT);
}

static void
test_privileged(void **state)
{
	(void)state;
	assert_true(admit_privileged(0));
	assert_true(admit_privileged((long)getuid()));
	assert_false(admit_privileged(OTHER));
	assert_false(admit_privileged(-1));
}

static void
test_may_cancel(void **state)
{
	(void)state;
	assert_true(admit_may_cancel(OTHER, OTHER));		/* its owner */
	assert_true(admit_may_cancel(0, OTHER));		/* root */
	assert_true(admit_may_cancel((long)getuid(), OTHER));	/* the daemon's */
	assert_false(admit_may_cancel(OTHER + 1, OTHER));	/* a stranger */
}

/* A tree for admissions: ROOT (the allowed root) holding out/ (anyone may
 * write) and tpl/ (the templates), and OUTSIDE, under no root. */
static char aroot[64], aout[96], atpl[96], aoutside[64];

static void
admit_tree(void)
{
	char p[256];
	const char *name;
	size_t i;
	FILE *f;

	strcpy(aroot, "/tmp/qp-adm-XXXXXX");
	strcpy(aoutside, "/tmp/qp-adm-out-XXXXXX");
	assert_non_null(mkdtemp(aroot));
	assert_non_null(mkdtemp(aoutside));
	assert_int_equal(chmod(aroot, 0755), 0);
	assert_int_equal(chmod(aoutside, 0777), 0);
	snprintf(aout, sizeof(aout), "%s/out", aroot);
	snprintf(atpl, sizeof(atpl), "%s/tpl", aroot);
	assert_int_equal(mkdir(aout, 0777), 0);
	assert_int_equal(chmod(aout, 0777), 0);
	assert_int_equal(mkdir(atpl, 0755), 0);
	for (i = 0; (name = siteup_tpl_name(i)) != NULL; i++) {
		snprintf(p, sizeof(p), "%s/%s", atpl, name);
		assert_non_null(f = fopen(p, "w"));
		fclose(f);
		assert_int_equal(chmod(p, 0644), 0);
	}
	assert_int_equal(i, 4);
}

static void
admit_tree_free(void)
{
	char p[256];
	const char *name;
	size_t i;

	for (i = 0; (name = siteup_tpl_name(i)) != NULL; i++) {
		snprintf(p, sizeof(p), "%s/%s", atpl, name);
		unlink(p);
	}
	rmdir(atpl);
	rmdir(aout);
	rmdir(aroot);
	rmdir(aoutside);
}

static struct settings *
admit_settings(void)
{
	struct settings *set = NULL;
	char text[256], err[512];

	snprintf(text, sizeof(text), "allowed_output_roots: [%s]\n", aroot);
	if (settings_parse("s.yaml", text, strlen(text), &set, err,
	    sizeof(err)) < 0)
		fail_msg("settings_parse: %s", err);
	return set;
}

/* Admit a client's config writing to OUT, with TPL as template_dir
 * (NULL: none), sent from CWD by user OTHER. */
static int
admit_client(const struct settings *set, const char *out, const char *tpl,
    const char *cwd, struct cfg_site **site, enum proto_err *code,
    char *err, size_t errlen)
{
	struct admit_who w = who(OTHER, OTHER, NO_EXTRA);
	struct admit_from from = { .cwd = cwd };
	char text[512];

	snprintf(text, sizeof(text), "neuprint:\n"
	    "  server: neuprint.example.org\n"
	    "  dataset: male-cns:v0.9\n"
	    "  token: not-a-real-token\n"
	    "output:\n"
	    "  directory: %s\n"
	    "%s%s%s", out, tpl ? "quickpaged:\n  template_dir: " : "",
	    tpl ? tpl : "", tpl ? "\n" : "");
	err[0] = '\0';
	*code = 0;
	return admit_site(set, NULL, text, strlen(text), &from, &w, site, code,
	    err, errlen);
}

static void
test_admit_roots(void **state)
{
	struct settings *set;
	struct cfg_site *site = NULL;
	enum proto_err code;
	char err[1024], want[1024];

	(void)state;
	admit_tree();
	set = admit_settings();
	/* under the root: admitted, resolved, its paths strict */
	assert_int_equal(admit_client(set, aout, NULL, "/", &site, &code, err,
	    sizeof(err)), 0);
	assert_non_null(site);
	assert_string_equal(site->output_dir, aout);
	assert_true(site->strict_paths);
	cfg_site_free(site);
	/* outside every root: refused, naming the key and the path */
	assert_int_equal(admit_client(set, aoutside, NULL, "/", &site, &code,
	    err, sizeof(err)), -EPERM);
	assert_null(site);
	assert_int_equal(code, PROTO_E_REFUSED);
	snprintf(want, sizeof(want), "output directory '%s' (resolved: %s) is "
	    "not under the daemon's allowed_output_roots; ask the "
	    "administrator to add its parent directory there", aoutside,
	    aoutside);
	assert_string_equal(err, want);
	/* a relative path resolves against the client's directory */
	assert_int_equal(admit_client(set, "out", NULL, aroot, &site, &code,
	    err, sizeof(err)), 0);
	assert_string_equal(site->output_dir, aout);
	cfg_site_free(site);
	settings_free(set);
	admit_tree_free();
}

static void
test_admit_relative(void **state)
{
	struct settings *set;
	struct cfg_site *site = NULL;
	enum proto_err code = 0;
	char err[1024], resolved[PATH_MAX];

	(void)state;
	admit_tree();
	set = admit_settings();
	assert_int_equal(admit_path(set, "ca_file", "certs/ca.pem", resolved,
	    &code, err, sizeof(err)), -EPERM);
	assert_int_equal(code, PROTO_E_REFUSED);
	assert_string_equal(err, "ca_file 'certs/ca.pem' is relative; the "
	    "daemon takes absolute paths only");
	/* the client's working directory must be absolute itself */
	assert_int_equal(admit_client(set, aout, NULL, "home/me", &site,
	    &code, err, sizeof(err)), -EINVAL);
	assert_null(site);
	assert_int_equal(code, PROTO_E_INVALID);
	assert_string_equal(err, "\"cwd\" 'home/me' is not an absolute path");
	/* a missing path names the key */
	assert_int_equal(admit_path(set, "output directory", "/no/such/qp-dir",
	    resolved, &code, err, sizeof(err)), -ENOENT);
	assert_int_equal(code, PROTO_E_BAD_CONFIG);
	assert_string_equal(err, "output directory '/no/such/qp-dir': No such "
	    "file or directory");
	settings_free(set);
	admit_tree_free();
}

static void
test_admit_templates(void **state)
{
	struct settings *set;
	struct cfg_site *site = NULL;
	enum proto_err code;
	char err[1024], want[1024], p[256];

	(void)state;
	admit_tree();
	set = admit_settings();
	assert_int_equal(admit_client(set, aout, atpl, "/", &site, &code, err,
	    sizeof(err)), 0);
	assert_string_equal(site->template_dir, atpl);
	cfg_site_free(site);
	/* one template the user cannot read: refused, naming it */
	snprintf(p, sizeof(p), "%s/%s", atpl, siteup_tpl_name(2));
	assert_int_equal(chmod(p, 0600), 0);
	if (getuid() == 0)	/* a file of ours, as another user sees it */
		assert_int_equal(chown(p, 4242, (gid_t)-1), 0);
	assert_int_equal(admit_client(set, aout, atpl, "/", &site, &code, err,
	    sizeof(err)), -EACCES);
	assert_int_equal(code, PROTO_E_REFUSED);
	snprintf(want, sizeof(want), "template_dir: %s: user %ld may not read "
	    "it; the daemon reads and writes only what the submitting user "
	    "could", p, OTHER);
	assert_string_equal(err, want);
	/* one missing */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(admit_client(set, aout, atpl, "/", &site, &code, err,
	    sizeof(err)), -ENOENT);
	assert_string_equal(err, "template_dir: No such file or directory; "
	    "the daemon reads and writes only what the submitting user could");
	/* the directory itself closed to the user */
	assert_int_equal(chmod(atpl, 0700), 0);
	assert_int_equal(admit_client(set, aout, atpl, "/", &site, &code, err,
	    sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "template_dir: %s: user %ld may not read "
	    "it; the daemon reads and writes only what the submitting user "
	    "could", atpl, OTHER);
	assert_string_equal(err, want);
	assert_int_equal(chmod(atpl, 0755), 0);
	/* under no root: refused before any check as the user */
	assert_int_equal(admit_client(set, aout, aoutside, "/", &site, &code,
	    err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "template_dir '%s' (resolved: %s) is not "
	    "under the daemon's allowed_output_roots; ask the administrator "
	    "to add its parent directory there", aoutside, aoutside);
	assert_string_equal(err, want);
	settings_free(set);
	admit_tree_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_parents_and_types),
		cmocka_unit_test(test_privileged),
		cmocka_unit_test(test_may_cancel),
		cmocka_unit_test(test_admit_roots),
		cmocka_unit_test(test_admit_relative),
		cmocka_unit_test(test_admit_templates),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
