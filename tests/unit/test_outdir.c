/*
 * test_outdir: writes beneath the output directory (outdir.c) through the
 * file seam (fio.c): staged files committed together, all old or all new
 * when any operation fails (every operation failed in turn), no symlink
 * followed (one swapped in between staging and commit included), the
 * failure paths of a real file system (size limit, permissions).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/fio.h"
#include "render/outdir.h"
#include "base/xmalloc.h"

/* ---- helpers ---- */

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
rm_rf(const char *dir)
{
	chmod(dir, 0755);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
mktmp(void)
{
	char tmpl[] = "/tmp/qp-outdir-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

/* DIR/NAME's text; NULL if it cannot be opened. */
static char *
slurp(const char *dir, const char *name)
{
	char path[4096], chunk[8192];
	struct buf b = BUF_INIT;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW)) < 0)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	buf_append(&b, "", 0);
	return buf_steal(&b);
}

static void
assert_text(const char *dir, const char *name, const char *want)
{
	char *s = slurp(dir, name);

	if (s == NULL)
		fail_msg("cannot open %s/%s: %s", dir, name, strerror(errno));
	else if (strcmp(s, want) != 0)
		fail_msg("%s/%s: \"%s\", want \"%s\"", dir, name, s, want);
	free(s);
}

static void
spit(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	free(path);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int
exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* Files whose name starts with '.' (our temp files) in DIR. */
static int
count_hidden(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
hidden_in(const char *out, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", out, sub);
	return count_hidden(path);
}

/* Stage each NAME=TEXT pair, then commit. */
static int
write_set(const char *out, struct fio *io, const char *const *kv, size_t n,
    char *err, size_t errlen)
{
	struct od *d;
	size_t i;
	int rc;

	if ((rc = od_open(&d, out, 0, io, err, errlen)) < 0)
		return rc;
	for (i = 0; i + 1 < n && rc == 0; i += 2)
		rc = od_stage(d, kv[i], kv[i + 1], strlen(kv[i + 1]), err,
		    errlen);
	if (rc == 0)
		rc = od_commit(d, err, errlen);
	od_free(d);
	return rc;
}

static int
write_one(const char *out, const char *rel, const char *text, char *err,
    size_t errlen)
{
	const char *kv[] = { rel, text };

	return write_set(out, NULL, kv, 2, err, errlen);
}

/* ---- the seam ---- */

static void
test_fio_env(void **state)
{
	struct fio io;

	(void)state;
	unsetenv("QP_TEST_IO_FAULT");
	assert_int_equal(fio_from_env(&io), 0);
	assert_int_equal(io.action, FIO_NONE);
	setenv("QP_TEST_IO_FAULT", "7", 1);
	assert_int_equal(fio_from_env(&io), 0);
	assert_int_equal(io.action, FIO_FAIL);
	assert_int_equal(io.err, EIO);
	assert_int_equal(io.at, 7);
	assert_int_equal(io.only, -1);
	setenv("QP_TEST_IO_FAULT", "write:2:ENOSPC", 1);
	assert_int_equal(fio_from_env(&io), 0);
	assert_int_equal(io.only, FIO_WRITE);
	assert_int_equal(io.err, ENOSPC);
	assert_int_equal(io.at, 2);
	setenv("QP_TEST_IO_FAULT", "socket:4:EMFILE", 1);
	assert_int_equal(fio_from_env(&io), 0);
	assert_int_equal(io.only, FIO_SOCKET);
	assert_int_equal(io.err, EMFILE);
	assert_true(fio_active(&io));
	/* The socket fails, undone; the next one is real. */
	io.at = 1;
	errno = 0;
	assert_int_equal(fio_socket(&io, AF_UNIX, SOCK_STREAM, 0), -1);
	assert_int_equal(errno, EMFILE);
	{
		int fd = fio_socket(&io, AF_UNIX, SOCK_STREAM, 0);

		assert_true(fd >= 0);
		close(fd);
	}
	setenv("QP_TEST_IO_FAULT", "rename:1:kill", 1);
	assert_int_equal(fio_from_env(&io), 0);
	assert_int_equal(io.action, FIO_KILL);
	setenv("QP_TEST_IO_FAULT", "open:3:pause=250", 1);
	assert_int_equal(fio_from_env(&io), 0);
	assert_int_equal(io.action, FIO_PAUSE);
	assert_int_equal(io.pause_ms, 250);
	/* Malformed: refused, and no fault rather than a wrong one. */
	setenv("QP_TEST_IO_FAULT", "0", 1);
	assert_int_equal(fio_from_env(&io), -EINVAL);
	assert_int_equal(io.action, FIO_NONE);
	setenv("QP_TEST_IO_FAULT", "write:x", 1);
	assert_int_equal(fio_from_env(&io), -EINVAL);
	setenv("QP_TEST_IO_FAULT", "3:EBOGUS", 1);
	assert_int_equal(fio_from_env(&io), -EINVAL);
	unsetenv("QP_TEST_IO_FAULT");
}

/* ---- writes ---- */

static void
test_mkdir(void **state)
{
	char *out = mktmp(), err[512] = "", want[4096], path[4096];
	struct od *d;

	(void)state;
	assert_int_equal(od_open(&d, out, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(od_mkdir(d, "d", err, sizeof(err)), 0);
	assert_true(exists(out, "d"));
	/* One that exists is fine: every render makes its dirs again. */
	assert_int_equal(od_mkdir(d, "d", err, sizeof(err)), 0);
	assert_int_equal(od_mkdir(d, "d/e", err, sizeof(err)), 0);
	assert_true(exists(out, "d/e"));
	/* One level only; the error names the path and the call. */
	assert_int_equal(od_mkdir(d, "x/y", err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s/x: open: ", out);
	assert_non_null(strstr(err, want));
	assert_false(exists(out, "x"));
	/* A symlink where a directory goes is not one. */
	snprintf(path, sizeof(path), "%s/l", out);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(od_mkdir(d, "l", err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "/l: a symlink"));
	od_free(d);
	rm_rf(out);
	free(out);
}

/* A set replaces the old files, leaves the rest, and no temp file. */
static void
test_commit(void **state)
{
	static const char *const kv[] = {
		"a.json", "new a", "d/b.js", "new b", "index.html", "new i",
	};
	char *out = mktmp(), err[512] = "", path[4096];
	struct stat st;
	mode_t um;

	(void)state;
	snprintf(path, sizeof(path), "%s/d", out);
	assert_int_equal(mkdir(path, 0755), 0);
	spit(out, "a.json", "old a");
	spit(out, "sentinel.html", "keep me");
	assert_int_equal(write_set(out, NULL, kv, 6, err, sizeof(err)), 0);
	assert_text(out, "a.json", "new a");
	assert_text(out, "d/b.js", "new b");
	assert_text(out, "index.html", "new i");
	assert_text(out, "sentinel.html", "keep me");
	assert_int_equal(count_hidden(out), 0);
	assert_int_equal(hidden_in(out, "d"), 0);
	/* Mode 0644 through the umask. */
	snprintf(path, sizeof(path), "%s/index.html", out);
	assert_int_equal(stat(path, &st), 0);
	um = umask(0);
	umask(um);
	assert_int_equal(st.st_mode & 0777, 0644 & ~um);
	rm_rf(out);
	free(out);
}

static void
test_root_enotdir(void **state)
{
	char *out = mktmp(), err[512] = "", dir[1024];
	struct od *d;

	(void)state;
	spit(out, "file", "x");
	snprintf(dir, sizeof(dir), "%s/file/sub", out);
	assert_int_equal(od_open(&d, dir, 0, NULL, err, sizeof(err)), -ENOTDIR);
	assert_null(d);
	assert_non_null(strstr(err, "/file/sub: open: "));
	rm_rf(out);
	free(out);
}

/* NOFOLLOW (the daemon's): no symlink anywhere on the root's path. */
static void
test_root_nofollow(void **state)
{
	char *out = mktmp(), err[512] = "", real[1024], link[1024];
	struct od *d;

	(void)state;
	snprintf(real, sizeof(real), "%s/real", out);
	snprintf(link, sizeof(link), "%s/link", out);
	assert_int_equal(mkdir(real, 0755), 0);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(od_open(&d, real, 1, NULL, err, sizeof(err)), 0);
	od_free(d);
	assert_int_equal(od_open(&d, "/", 1, NULL, err, sizeof(err)), 0);
	od_free(d);
	assert_int_equal(od_open(&d, link, 1, NULL, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "/link: a symlink is on the output "
	    "directory's path"));
	/* A symlink higher up counts too. */
	snprintf(link, sizeof(link), "%s/link/.", out);
	assert_int_equal(od_open(&d, link, 1, NULL, err, sizeof(err)), -ELOOP);
	assert_int_equal(od_open(&d, "relative", 1, NULL, err, sizeof(err)),
	    -EINVAL);
	/* Without NOFOLLOW (a one-shot run's own config) it is followed. */
	assert_int_equal(od_open(&d, link, 0, NULL, err, sizeof(err)), 0);
	od_free(d);
	rm_rf(out);
	free(out);
}

static void
test_bad_names(void **state)
{
	static const char *const bad[] = {
		"", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/",
	};
	char err[512] = "";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(write_one("/tmp", bad[i], "", err,
		    sizeof(err)), -EINVAL);
}

/* A directory or a symlink in an output's place: refused by name. */
static void
test_refuses_in_place(void **state)
{
	char *out = mktmp(), *outside = mktmp(), err[512] = "", path[4096];
	static const char *const check[] = { "d/", "d/b.js" };
	struct od *d;

	(void)state;
	snprintf(path, sizeof(path), "%s/index.html", out);
	assert_int_equal(mkdir(path, 0755), 0);
	spit(path, "inner", "x");
	assert_int_equal(write_one(out, "index.html", "new", err, sizeof(err)),
	    -EISDIR);
	assert_non_null(strstr(err, "/index.html: a directory is in an "
	    "output's place"));
	assert_true(exists(out, "index.html/inner"));
	assert_int_equal(count_hidden(out), 0);

	/* The file itself a symlink: refused, the target untouched. */
	spit(outside, "t.json", "theirs");
	snprintf(path, sizeof(path), "%s/t.json", outside);
	{
		char link[4096];

		snprintf(link, sizeof(link), "%s/types.json", out);
		assert_int_equal(symlink(path, link), 0);
	}
	assert_int_equal(write_one(out, "types.json", "new", err, sizeof(err)),
	    -ELOOP);
	assert_non_null(strstr(err, "/types.json: a symlink"));
	assert_text(outside, "t.json", "theirs");

	/* A directory on the way a symlink: refused, nothing made there. */
	snprintf(path, sizeof(path), "%s/d", out);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(write_one(out, "d/b.js", "new", err, sizeof(err)),
	    -ELOOP);
	assert_non_null(strstr(err, "/d: a symlink"));
	assert_int_equal(count_hidden(outside), 0);
	assert_false(exists(outside, "b.js"));
	/* ... and od_check says so before anything is made. */
	assert_int_equal(od_open(&d, out, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(od_check(d, check, 2, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "/d: a symlink"));
	od_free(d);
	rm_rf(out);
	rm_rf(outside);
	free(out);
	free(outside);
}

/*
 * The directory swapped for a symlink after staging: the commit still
 * goes where the files were staged (the directory, wherever it went
 * inside the site), never through the symlink.
 */
static void
test_swap_after_stage(void **state)
{
	char *out = mktmp(), *outside = mktmp(), err[512] = "";
	char path[4096], moved[4096];
	struct od *d;

	(void)state;
	snprintf(path, sizeof(path), "%s/d", out);
	assert_int_equal(mkdir(path, 0755), 0);
	spit(path, "b.js", "old");
	spit(outside, "b.js", "theirs");
	assert_int_equal(od_open(&d, out, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(od_stage(d, "d/b.js", "new", 3, err, sizeof(err)), 0);
	snprintf(moved, sizeof(moved), "%s/d-moved", out);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(od_commit(d, err, sizeof(err)), 0);
	od_free(d);
	assert_text(outside, "b.js", "theirs");
	assert_int_equal(count_hidden(outside), 0);
	assert_text(out, "d-moved/b.js", "new");
	rm_rf(out);
	rm_rf(outside);
	free(out);
	free(outside);
}

/*
 * Failure torture: every operation of a three-file set (two directories,
 * one file new) failed in turn, until a run meets no fault. Each failure
 * names the file and the call, leaves the old files and no temp file;
 * only a directory's fsync, after the commit, leaves the new set (whole).
 */
static void
test_every_fault(void **state)
{
	static const char *const kv[] = {
		"a.json", "new a", "d/b.js", "new b", "c.html", "new c",
	};
	static const char *const ops[] = {
		"open", "create temp file", "write", "fsync", "rename",
		"mkdir", "close",
	};
	static const int errs[] = { EIO, ENOSPC };
	char *out = mktmp(), err[512], path[4096];
	unsigned long at;
	struct fio io;
	struct od *d;
	size_t e, k;
	int rc, named, faults = 0;

	(void)state;
	for (e = 0; e < sizeof(errs) / sizeof(errs[0]); e++) {
		for (at = 1;; at++) {
			rm_rf(out);
			assert_int_equal(mkdir(out, 0755), 0);
			snprintf(path, sizeof(path), "%s/d", out);
			assert_int_equal(mkdir(path, 0755), 0);
			spit(out, "a.json", "old a");
			spit(path, "b.js", "old b");
			fio_none(&io);
			io.action = FIO_FAIL;
			io.err = errs[e];
			io.at = at;
			err[0] = '\0';
			rc = od_open(&d, out, 0, &io, err, sizeof(err));
			if (rc == 0)
				rc = od_mkdir(d, "d", err, sizeof(err));
			for (k = 0; k + 1 < 6 && rc == 0; k += 2)
				rc = od_stage(d, kv[k], kv[k + 1],
				    strlen(kv[k + 1]), err, sizeof(err));
			if (rc == 0)
				rc = od_commit(d, err, sizeof(err));
			od_free(d);
			if (io.n < at) {	/* the run met no fault */
				assert_int_equal(rc, 0);
				assert_text(out, "c.html", "new c");
				break;
			}
			faults++;
			if (rc == 0)
				fail_msg("fault at op %lu swallowed", at);
			assert_int_equal(rc, -errs[e]);
			/* One line: the file, the call, the reason. */
			assert_null(strchr(err, '\n'));
			assert_non_null(strstr(err, out));
			assert_non_null(strstr(err, strerror(errs[e])));
			for (k = 0, named = 0; k < sizeof(ops) / sizeof(*ops); k++)
				named |= strstr(err, ops[k]) != NULL;
			if (!named)
				fail_msg("no call named: %s", err);
			assert_int_equal(count_hidden(out), 0);
			assert_int_equal(hidden_in(out, "d"), 0);
			if (strstr(err, ": fsync: ") != NULL &&
			    exists(out, "c.html")) {
				/* A directory's fsync: after the commit. */
				assert_text(out, "a.json", "new a");
				assert_text(out, "d/b.js", "new b");
				assert_text(out, "c.html", "new c");
				continue;
			}
			assert_text(out, "a.json", "old a");
			assert_text(out, "d/b.js", "old b");
			assert_false(exists(out, "c.html"));
		}
	}
	print_message("outdir: %d faults injected, each left a whole set\n",
	    faults);
	assert_true(faults >= 2 * 18);
	rm_rf(out);
	free(out);
}

/* A write that fails half way (file size limit) keeps the old file. */
static void
test_write_fails(void **state)
{
	char *out = mktmp(), err[512] = "", *big;
	struct rlimit old, lim;
	void (*prev)(int);
	int rc;

	(void)state;
	assert_int_equal(write_one(out, "types.json", "old", err, sizeof(err)),
	    0);
	big = xmalloc(65537);
	memset(big, 'x', 65536);
	big[65536] = '\0';
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	prev = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = write_one(out, "types.json", big, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(rc, -EFBIG);
	assert_non_null(strstr(err, "/types.json: write: "));
	assert_text(out, "types.json", "old");
	assert_int_equal(count_hidden(out), 0);
	free(big);
	rm_rf(out);
	free(out);
}

/*
 * A read-only directory refuses the write and keeps the old file. Root
 * bypasses permissions, so as root the write runs in a child that has
 * dropped to nobody (65534).
 */
static int
write_as_nobody(const char *dir, char *err, size_t errlen)
{
	int pfd[2], st, rc;
	ssize_t n;
	pid_t pid;

	if (geteuid() != 0)
		return write_one(dir, "index.html", "new", err, errlen);
	assert_int_equal(pipe(pfd), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(pfd[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		rc = write_one(dir, "index.html", "new", err, errlen);
		(void)!write(pfd[1], err, strlen(err));
		_exit(rc == -EACCES ? 0 : 101);
	}
	close(pfd[1]);
	n = read(pfd[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 100);	/* could not drop root */
	return WEXITSTATUS(st) == 0 ? -EACCES : -EIO;
}

static void
test_readonly(void **state)
{
	char *out = mktmp(), err[512] = "";

	(void)state;
	spit(out, "index.html", "old");
	assert_int_equal(chmod(out, 0555), 0);
	assert_int_equal(write_as_nobody(out, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "Permission denied"));
	assert_text(out, "index.html", "old");
	rm_rf(out);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fio_env),
		cmocka_unit_test(test_mkdir),
		cmocka_unit_test(test_commit),
		cmocka_unit_test(test_root_enotdir),
		cmocka_unit_test(test_root_nofollow),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_refuses_in_place),
		cmocka_unit_test(test_swap_after_stage),
		cmocka_unit_test(test_every_fault),
		cmocka_unit_test(test_write_fails),
		cmocka_unit_test(test_readonly),
	};

	xmalloc_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
