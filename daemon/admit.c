/*
 * access: see access.h.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"

int
acc_who_peer(int fd, struct acc_who *w)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	size_t i;

	memset(w, 0, sizeof(*w));
	w->uid = w->gid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	w->uid = (long)cr.uid;
	w->gid = (long)cr.gid;
	len = sizeof(w->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, w->groups, &len) < 0) {
		/* More groups than we keep: the user's primary group only. */
		w->ngroups = 0;
		return errno == ERANGE ? 0 : -errno;
	}
	w->ngroups = len / sizeof(gid_t);
	for (i = 0; i < w->ngroups; i++)
		if (w->groups[i] == (gid_t)-1)
			w->ngroups = i;
	return 0;
}

int
acc_who_user(long uid, struct acc_who *w)
{
	struct passwd pw, *p = NULL;
	char buf[4096];
	int n = ACC_GROUPS_MAX;

	memset(w, 0, sizeof(*w));
	w->uid = uid;
	w->gid = -1;
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &p) != 0 ||
	    p == NULL)
		return -ENOENT;		/* no groups: owner and other bits */
	w->gid = (long)p->pw_gid;
	if (getgrouplist(p->pw_name, p->pw_gid, w->groups, &n) < 0)
		n = 0;
	w->ngroups = (size_t)n;
	return 0;
}

static int
in_group(const struct acc_who *w, gid_t g)
{
	size_t i;

	if (w->gid >= 0 && (gid_t)w->gid == g)
		return 1;
	for (i = 0; i < w->ngroups; i++)
		if (w->groups[i] == g)
			return 1;
	return 0;
}

/* The kernel's rule: the first class that matches decides, alone. */
static int
allowed(const struct acc_who *w, const struct stat *st, int mode)
{
	unsigned bits;

	if (w->uid == 0)
		return 1;
	if ((uid_t)w->uid == st->st_uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_group(w, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return ((unsigned)mode & ~bits & 7) == 0;
}

static const char *
mode_words(int mode)
{
	if (mode & W_OK)
		return "write to";
	if (mode & R_OK)
		return "read";
	return "enter";
}

int
acc_check(const struct acc_who *w, const char *path, int mode, int is_dir,
    char *err, size_t errlen)
{
	char p[PATH_MAX];
	struct stat st;
	size_t n = strlen(path), i;

	if (path[0] != '/' || n >= sizeof(p))
		return -EINVAL;
	memcpy(p, path, n + 1);
	/* "/" and every parent after it: search permission. */
	for (i = 0; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (stat(i == 0 ? "/" : p, &st) < 0)
			return -errno;
		if (!allowed(w, &st, X_OK)) {
			snprintf(err, errlen, "%s: user %ld may not enter it",
			    i == 0 ? "/" : p, w->uid);
			return -EACCES;
		}
		p[i] = '/';
	}
	if (lstat(path, &st) < 0)
		return -errno;
	if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a %s", path,
		    is_dir ? "directory" : "regular file");
		return -EINVAL;
	}
	if (!allowed(w, &st, mode)) {
		snprintf(err, errlen, "%s: user %ld may not %s it", path,
		    w->uid, mode_words(mode));
		return -EACCES;
	}
	return 0;
}
