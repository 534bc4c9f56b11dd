/*
 * outdir: see outdir.h.
 *
 * Thread-safe as render is: an od belongs to the one render that opened
 * it; nothing here keeps state between calls but the od.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/outdir.h"
#include "base/xmalloc.h"

#define OD_TMP_TRIES	64

enum od_state { OD_STAGED, OD_EXCHANGED, OD_CREATED, OD_REPLACED };

struct od_file {
	char		*rel;		/* as staged, for messages */
	char		*name;		/* the last component */
	char		 tmp[320];	/* ".NAME.XXXXXX" in the same directory */
	int		 dfd;		/* its directory */
	int		 existed;	/* something was at NAME when staged */
	enum od_state	 state;
};

struct od {
	char		*root;
	int		 fd;
	struct fio	*io;
	struct od_file	*f;
	size_t		 n, cap;
	mode_t		 mode;		/* 0: 0644 minus the umask */
};

/* "ROOT/REL: WHAT: strerror(E)" (WHAT alone when E is 0); -E or -EIO. */
static int
od_fail(char *err, size_t errlen, const struct od *d, const char *rel,
    const char *what, int e)
{
	char ebuf[128];
	const char *sep = rel != NULL && *rel ? "/" : "";

	if (err != NULL && errlen > 0) {
		if (e > 0)
			snprintf(err, errlen, "%s%s%s: %s: %s", d->root, sep,
			    rel ? rel : "", what, strerror_r(e, ebuf,
			    sizeof(ebuf)));
		else
			snprintf(err, errlen, "%s%s%s: %s", d->root, sep,
			    rel ? rel : "", what);
	}
	return e > 0 ? -e : e < 0 ? e : -EIO;
}

/* Absolute PATH, no symlink on it: beneath "/" (RESOLVE_BENEATH refuses
 * absolute paths themselves). */
static int
od_open_nofollow(struct fio *io, const char *path, int how)
{
	const char *p = path;
	int slash, fd, e;

	if (*p != '/') {
		errno = EINVAL;
		return -1;
	}
	while (*p == '/')
		p++;
	if ((slash = open("/", how)) < 0 || *p == '\0')
		return slash;
	fd = fio_open_beneath(io, slash, p, how, 0);
	e = errno;
	close(slash);
	errno = e;
	return fd;
}

int
od_open(struct od **out, const char *root, int nofollow, struct fio *io,
    char *err, size_t errlen)
{
	const int how = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	struct od *d = xcalloc(1, sizeof(*d));
	int rc;

	d->root = xstrdup(root);
	d->io = io;
	d->fd = nofollow ? od_open_nofollow(io, root, how) :
	    fio_openat(io, AT_FDCWD, root, how, 0);
	if (d->fd < 0 && errno == ELOOP && nofollow) {
		rc = od_fail(err, errlen, d, NULL, "a symlink is on the output "
		    "directory's path now (there was none when the job was "
		    "accepted); nothing written", -ELOOP);
		od_free(d);
		*out = NULL;
		return rc;
	}
	if (d->fd < 0) {
		rc = od_fail(err, errlen, d, NULL, "open", errno);
		od_free(d);
		*out = NULL;
		return rc;
	}
	*out = d;
	return 0;
}

/* REL is relative, without "." or ".." components or empty ones. */
static int
od_rel_ok(const char *rel)
{
	const char *p = rel, *e;
	size_t n;

	if (*rel == '\0' || *rel == '/')
		return 0;
	for (;;) {
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (e == NULL)
			return 1;
		p = e + 1;
	}
}

/*
 * The directory holding REL, opened beneath the root, and REL's last
 * component in *NAME (pointing into REL). The fd, or negative errno with
 * the message.
 */
static int
od_parent(struct od *d, const char *rel, const char **name, char *err,
    size_t errlen)
{
	const char *slash = strrchr(rel, '/');
	char *dir;
	int fd, e;

	if (!od_rel_ok(rel))
		return od_fail(err, errlen, d, rel, "bad output name", EINVAL);
	*name = slash ? slash + 1 : rel;
	if (slash == NULL) {
		if ((fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0)) < 0)
			return od_fail(err, errlen, d, NULL, "dup", errno);
		return fd;
	}
	dir = xstrndup(rel, (size_t)(slash - rel));
	fd = fio_open_beneath(d->io, d->fd, dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC, 0);
	e = errno;
	if (fd < 0 && e == ELOOP)
		fd = od_fail(err, errlen, d, dir, "a symlink is in an output "
		    "directory's place; nothing written", -ELOOP);
	else if (fd < 0)
		fd = od_fail(err, errlen, d, dir, "open", e);
	free(dir);
	return fd;
}

/* What is at NAME in DFD: 0 nothing, 1 a file to replace, or an error. */
static int
od_target(struct od *d, int dfd, const char *name, const char *rel,
    char *err, size_t errlen)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 :
		    od_fail(err, errlen, d, rel, "stat", errno);
	if (S_ISLNK(st.st_mode))
		return od_fail(err, errlen, d, rel, "a symlink is in an "
		    "output's place; nothing written", -ELOOP);
	if (S_ISDIR(st.st_mode))
		return od_fail(err, errlen, d, rel, "a directory is in an "
		    "output's place; nothing written", -EISDIR);
	return 1;
}

int
od_check(struct od *d, const char *const *rel, size_t n, char *err,
    size_t errlen)
{
	struct stat st;
	size_t i, len;
	char *p;
	int rc = 0, dir;

	for (i = 0; i < n && rc == 0; i++) {
		p = xstrdup(rel[i]);
		len = strlen(p);
		dir = len > 0 && p[len - 1] == '/';
		if (dir)
			p[len - 1] = '\0';
		/* The prefixes were checked first: only the last is followed. */
		if (!od_rel_ok(p))
			rc = od_fail(err, errlen, d, p, "bad output name",
			    EINVAL);
		else if (fstatat(d->fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = od_fail(err, errlen, d, p, "stat", errno);
		} else if (S_ISLNK(st.st_mode))
			rc = od_fail(err, errlen, d, p, "a symlink is in an "
			    "output's place; nothing written", -ELOOP);
		else if (!dir && S_ISDIR(st.st_mode))
			rc = od_fail(err, errlen, d, p, "a directory is in an "
			    "output's place; nothing written", -EISDIR);
		else if (dir && !S_ISDIR(st.st_mode))
			rc = od_fail(err, errlen, d, p, "not a directory, where "
			    "outputs go; nothing written", -ENOTDIR);
		free(p);
	}
	return rc;
}

int
od_mkdir(struct od *d, const char *rel, char *err, size_t errlen)
{
	struct stat st;
	const char *name;
	int dfd, rc = 0;

	if ((dfd = od_parent(d, rel, &name, err, errlen)) < 0)
		return dfd;
	if (fio_mkdirat(d->io, dfd, name, 0755) < 0) {
		if (errno != EEXIST)
			rc = od_fail(err, errlen, d, rel, "mkdir", errno);
		else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = od_fail(err, errlen, d, rel, "stat", errno);
		else if (S_ISLNK(st.st_mode))
			rc = od_fail(err, errlen, d, rel, "a symlink is in an "
			    "output directory's place; nothing written",
			    -ELOOP);
		else if (!S_ISDIR(st.st_mode))
			rc = od_fail(err, errlen, d, rel, "mkdir", ENOTDIR);
	}
	close(dfd);
	return rc;
}

/* Create F's temp file in its directory; the fd or -errno. */
static int
od_tmp_open(struct od *d, struct od_file *f)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	char sfx[7];
	int fd, i, try;

	for (try = 0; try < OD_TMP_TRIES; try++) {
		arc4random_buf(rnd, sizeof(rnd));
		for (i = 0; i < 6; i++)
			sfx[i] = set[rnd[i] % (sizeof(set) - 1)];
		sfx[6] = '\0';
		if ((size_t)snprintf(f->tmp, sizeof(f->tmp), ".%s.%s", f->name,
		    sfx) >= sizeof(f->tmp))
			return -ENAMETOOLONG;
		/* 0644 goes through the umask like any created file. */
		fd = fio_openat(d->io, f->dfd, f->tmp, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* Fill FD: its contents, fsync, close; the failing call in *OP. */
static int
od_fill(struct od *d, int fd, const char *p, size_t len, const char **op)
{
	ssize_t n;
	int e;

	*op = "chmod";
	if (d->mode != 0 && fchmod(fd, d->mode) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	*op = "write";
	while (len > 0) {
		n = fio_write(d->io, fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			return -e;
		}
		p += n;
		len -= (size_t)n;
	}
	*op = "fsync";
	if (fio_fsync(d->io, fd) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	*op = "close";
	return fio_close(d->io, fd) < 0 ? -errno : 0;
}

static void
od_file_free(struct od_file *f)
{
	free(f->rel);
	if (f->dfd >= 0)
		close(f->dfd);
}

void
od_set_mode(struct od *d, mode_t mode)
{
	d->mode = mode;
}

int
od_stage(struct od *d, const char *rel, const void *data, size_t len,
    char *err, size_t errlen)
{
	struct od_file f;
	const char *op = "create temp file", *name;
	int fd, rc;

	memset(&f, 0, sizeof(f));
	if ((f.dfd = od_parent(d, rel, &name, err, errlen)) < 0)
		return f.dfd;
	f.rel = xstrdup(rel);
	f.name = f.rel + (size_t)(name - rel);	/* the same, in our copy */
	if ((rc = od_target(d, f.dfd, f.name, rel, err, errlen)) < 0) {
		od_file_free(&f);
		return rc;
	}
	f.existed = rc;
	if ((fd = od_tmp_open(d, &f)) < 0) {
		od_file_free(&f);
		return od_fail(err, errlen, d, rel, op, -fd);
	}
	if ((rc = od_fill(d, fd, data, len, &op)) < 0) {
		unlinkat(f.dfd, f.tmp, 0);
		od_file_free(&f);
		return od_fail(err, errlen, d, rel, op, -rc);
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->f = xreallocarray(d->f, d->cap, sizeof(*d->f));
	}
	f.state = OD_STAGED;
	d->f[d->n++] = f;
	return 0;
}

/*
 * Put F in place. RENAME_EXCHANGE keeps the old file at the temp name, so
 * it can be put back; a file system without it (EINVAL) gets a plain
 * rename, which cannot be undone.
 */
static int
od_place(struct od *d, struct od_file *f)
{
	unsigned how = f->existed ? RENAME_EXCHANGE : RENAME_NOREPLACE;
	int r;

	r = fio_renameat2(d->io, f->dfd, f->tmp, f->dfd, f->name, how);
	if (r < 0 && errno == ENOENT && how == RENAME_EXCHANGE)
		r = fio_renameat2(d->io, f->dfd, f->tmp, f->dfd, f->name,
		    how = RENAME_NOREPLACE);	/* the old one went */
	else if (r < 0 && errno == EEXIST && how == RENAME_NOREPLACE)
		r = fio_renameat2(d->io, f->dfd, f->tmp, f->dfd, f->name,
		    how = RENAME_EXCHANGE);	/* one came meanwhile */
	if (r < 0 && errno == EINVAL)
		r = fio_renameat2(d->io, f->dfd, f->tmp, f->dfd, f->name,
		    how = 0);
	if (r < 0)
		return -errno;
	f->state = how == RENAME_EXCHANGE ? OD_EXCHANGED :
	    how == RENAME_NOREPLACE ? OD_CREATED : OD_REPLACED;
	return 0;
}

/* Undo od_place (not through the seam: recovery is not a fault site). */
static int
od_unplace(struct od_file *f)
{
	switch (f->state) {
	case OD_EXCHANGED:
		if (renameat2(f->dfd, f->tmp, f->dfd, f->name,
		    RENAME_EXCHANGE) < 0)
			return -errno;
		break;
	case OD_CREATED:
		if (unlinkat(f->dfd, f->name, 0) < 0)
			return -errno;
		break;
	case OD_REPLACED:
		return -ENOTSUP;
	case OD_STAGED:
		break;
	}
	f->state = OD_STAGED;
	return 0;
}

/* Roll back the first K files after the failure already in ERR. */
static void
od_rollback(struct od *d, size_t k, char *err, size_t errlen)
{
	char ebuf[128];
	size_t len;
	int rc;

	while (k-- > 0) {
		if ((rc = od_unplace(&d->f[k])) == 0)
			continue;
		len = err != NULL ? strlen(err) : errlen;
		if (len < errlen)
			snprintf(err + len, errlen - len, "; putting back %s "
			    "failed too (%s): the outputs are mixed",
			    d->f[k].rel, strerror_r(-rc, ebuf, sizeof(ebuf)));
	}
}

/* fsync each directory written once; EINVAL: it cannot be, nothing to do. */
static int
od_sync_dirs(struct od *d, char *err, size_t errlen)
{
	struct stat st, *seen = xcalloc(d->n ? d->n : 1, sizeof(*seen));
	size_t i, k, nseen = 0;
	char *dir;
	int rc = 0;

	for (i = 0; i < d->n && rc == 0; i++) {
		if (fstat(d->f[i].dfd, &st) < 0)
			continue;
		for (k = 0; k < nseen; k++)
			if (seen[k].st_dev == st.st_dev &&
			    seen[k].st_ino == st.st_ino)
				break;
		if (k < nseen)
			continue;
		seen[nseen++] = st;
		if (fio_fsync(d->io, d->f[i].dfd) == 0 || errno == EINVAL)
			continue;
		dir = xstrndup(d->f[i].rel, (size_t)(d->f[i].name -
		    d->f[i].rel));
		if (*dir != '\0')
			dir[strlen(dir) - 1] = '\0';	/* its '/' */
		rc = od_fail(err, errlen, d, dir, "fsync", errno);
		free(dir);
	}
	free(seen);
	return rc;
}

int
od_commit(struct od *d, char *err, size_t errlen)
{
	size_t i;
	int rc;

	for (i = 0; i < d->n; i++) {
		if ((rc = od_place(d, &d->f[i])) < 0) {
			rc = od_fail(err, errlen, d, d->f[i].rel, "rename", -rc);
			od_rollback(d, i, err, errlen);
			return rc;
		}
	}
	/* In place: the temp names hold the old files now, or nothing. */
	for (i = 0; i < d->n; i++) {
		if (d->f[i].state == OD_EXCHANGED)
			unlinkat(d->f[i].dfd, d->f[i].tmp, 0);
		d->f[i].state = OD_REPLACED;	/* od_free leaves it */
	}
	return od_sync_dirs(d, err, errlen);
}

void
od_free(struct od *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++) {
		if (d->f[i].state == OD_STAGED)
			unlinkat(d->f[i].dfd, d->f[i].tmp, 0);
		od_file_free(&d->f[i]);
	}
	free(d->f);
	if (d->fd >= 0)
		close(d->fd);
	free(d->root);
	free(d);
}
