/*
 * access: may a client's user do this to a path? The daemon runs as its
 * own user (or root) and could read and write far more than the user who
 * sent a config; before it opens a path named in a client's config on
 * that user's behalf, it checks the path as the kernel would check it for
 * that user: search permission on every parent directory, then the asked
 * mode on the path itself, from the owner/group/other mode bits (POSIX
 * ACLs are not consulted: an ACL can only be refused). Root may do
 * anything.
 */
#ifndef QP_ACCESS_H
#define QP_ACCESS_H

#include <stddef.h>
#include <sys/types.h>

#define ACC_GROUPS_MAX	256

struct acc_who {
	long		 uid, gid;
	gid_t		 groups[ACC_GROUPS_MAX];	/* supplementary */
	size_t		 ngroups;
};

/*
 * The peer of the connected Unix socket FD (SO_PEERCRED, SO_PEERGROUPS).
 * 0, or a negative errno.
 */
int	 acc_who_peer(int fd, struct acc_who *w);
/* User UID as the group database has them (a job resumed after a restart). */
int	 acc_who_user(long uid, struct acc_who *w);
/*
 * 0 if W may reach the absolute path PATH and access it with MODE (R_OK,
 * W_OK, X_OK or'ed); else a negative errno (-EACCES: which component
 * refused, in ERR as "PATH: user N may not read"). IS_DIR: PATH must be
 * a directory, else a regular file (a symlink as PATH itself is refused:
 * the caller passes resolved paths).
 */
int	 acc_check(const struct acc_who *w, const char *path, int mode,
	    int is_dir, char *err, size_t errlen);

#endif
