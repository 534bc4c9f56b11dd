/*
 * admit: who may do what. The daemon runs as its own user (or root) and
 * could read and write far more than the user who sent a config; every
 * rule of who may ask for what is here, taking the daemon's settings:
 *
 * - a site's admission: its config loaded (a named site as the daemon's,
 *   a client's text with the client's working directory and variables),
 *   each path it names resolved and under allowed_output_roots, and a
 *   client's paths checked as its user;
 * - a path checked as a user: before the daemon opens a path named in a
 *   client's config on that user's behalf, it checks it as the kernel
 *   would for that user: search permission on every parent directory,
 *   then the asked mode on the path itself, from the owner/group/other
 *   mode bits (POSIX ACLs are not consulted: an ACL can only be refused).
 *   Root may do anything;
 * - who may cancel a job, and who is privileged (root or the daemon's own
 *   user: clears the cache, has no per-user client limit).
 *
 * Refusals carry the protocol's error code and a message for the client
 * (never a token).
 */
#ifndef QP_ADMIT_H
#define QP_ADMIT_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "protocol.h"
#include "settings.h"

#define ADMIT_GROUPS_MAX	256

struct admit_who {
	long		 uid, gid;
	gid_t		 groups[ADMIT_GROUPS_MAX];	/* supplementary */
	size_t		 ngroups;
};

/*
 * Where a client's config comes from, beside its text: the client's
 * working directory (its relative paths resolve there), neuView's
 * --output-dir, and the client's NEUPRINT_* variables (its token when
 * the text names none). Each may be NULL.
 */
struct admit_from {
	const char	*cwd;
	const char	*output_dir;
	const char	*token;		/* NEUPRINT_TOKEN */
	const char	*credentials;	/* NEUPRINT_APPLICATION_CREDENTIALS */
};

/*
 * The peer of the connected Unix socket FD (SO_PEERCRED, SO_PEERGROUPS).
 * 0, or a negative errno.
 */
int	 admit_who_peer(int fd, struct admit_who *w);
/* User UID as the group database has them (a job resumed after a restart). */
int	 admit_who_user(long uid, struct admit_who *w);
/*
 * 0 if W may reach the absolute path PATH and access it with MODE (R_OK,
 * W_OK, X_OK or'ed); else a negative errno (-EACCES: which component
 * refused, in ERR as "PATH: user N may not read"). IS_DIR: PATH must be
 * a directory, else a regular file (a symlink as PATH itself is refused:
 * the caller passes resolved paths).
 */
int	 admit_check(const struct admit_who *w, const char *path, int mode,
	    int is_dir, char *err, size_t errlen);

/* Root or the daemon's own user: the one rule, written once. */
int	 admit_privileged(long uid);
/* UID may cancel a job submitted by OWNER: its owner, or a privileged user. */
int	 admit_may_cancel(long uid, long owner);

/*
 * Resolve PATH (absolute: else refused) into RESOLVED (PATH_MAX) and check
 * it lies under one of SET's allowed_output_roots; WHAT names it in
 * messages. 0, or a negative errno with CODE and ERR set.
 */
int	 admit_path(const struct settings *set, const char *what,
	    const char *path, char *resolved, enum proto_err *code, char *err,
	    size_t errlen);

/*
 * A site's admission: site NAME (as the daemon's settings say) or a
 * client's config TEXT (exactly one of them), read from where F says,
 * its paths resolved and under the allowed roots; a client's config also
 * checked as its user WHO (and its templates then opened with no symlink
 * in their path). 0 with *OUT, or a negative errno with CODE and ERR set.
 */
int	 admit_site(const struct settings *set, const char *name,
	    const char *text, size_t len, const struct admit_from *f,
	    const struct admit_who *who, struct cfg_site **out,
	    enum proto_err *code, char *err, size_t errlen);

#endif
