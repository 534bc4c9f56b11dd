/*
 * access: the kernel's permission rule for another user, from the mode
 * bits: the first class that matches (owner, group, other) decides alone;
 * every parent needs search permission; a symlink or the wrong file type
 * is refused. No privilege needed: the "other users" are made-up uids.
 */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "admit.h"

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

#define NOGROUP	((gid_t)-1)	/* who(): no supplementary group */

static struct acc_who
who(long uid, long gid, gid_t extra)
{
	struct acc_who w;

	memset(&w, 0, sizeof(w));
	w.uid = uid;
	w.gid = gid;
	if (extra != NOGROUP)
		w.groups[w.ngroups++] = extra;
	return w;
}

#define OTHER	4242424L	/* no such user or group */

static int
check(struct acc_who w, const char *path, int mode, int is_dir)
{
	char err[512] = "";

	return acc_check(&w, path, mode, is_dir, err, sizeof(err));
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
	assert_int_equal(check(who(me, OTHER, NOGROUP), file, R_OK | W_OK, 0), 0);
	assert_int_equal(check(who(OTHER, mygid, NOGROUP), file, R_OK, 0), 0);
	assert_int_equal(check(who(OTHER, mygid, NOGROUP), file, W_OK, 0), -EACCES);
	/* a supplementary group counts like the primary one */
	assert_int_equal(check(who(OTHER, OTHER, (gid_t)mygid), file, R_OK, 0), 0);
	assert_int_equal(check(who(OTHER, OTHER, NOGROUP), file, R_OK, 0), -EACCES);
	/* the group class decides alone: other's bits do not help a member */
	assert_int_equal(chmod(file, 0604), 0);
	assert_int_equal(check(who(OTHER, mygid, NOGROUP), file, R_OK, 0), -EACCES);
	assert_int_equal(check(who(OTHER, OTHER, NOGROUP), file, R_OK, 0), 0);
	/* nor the owner's */
	assert_int_equal(chmod(file, 0044), 0);
	assert_int_equal(check(who(me, mygid, NOGROUP), file, R_OK, 0), -EACCES);
	/* root may */
	assert_int_equal(check(who(0, 0, NOGROUP), file, R_OK | W_OK, 0), 0);
	assert_int_equal(chmod(file, 0644), 0);
}

static void
test_parents_and_types(void **state)
{
	char err[512] = "";
	struct acc_who w = who(OTHER, OTHER, NOGROUP);

	(void)state;
	assert_int_equal(check(w, file, R_OK, 0), 0);
	assert_int_equal(chmod(sub, 0750), 0);
	assert_int_equal(acc_check(&w, file, R_OK, 0, err, sizeof(err)),
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
	assert_int_equal(acc_check(&w, link_, R_OK, 0, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "is not a regular file"));
	assert_int_equal(check(w, "relative/path", R_OK, 0), -EINVAL);
	assert_int_equal(check(w, "/no/such/qp-file", R_OK, 0), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_parents_and_types),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
