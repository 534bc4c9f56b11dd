/*
 * outdir: a site's output directory as the one place a render writes.
 *
 * Beneath: the directory is opened once, by the path the config gives
 * (symlinks in that path followed for a one-shot run, where it is the
 * site's choice; none for the daemon, which resolved and checked the path
 * when it took the job); everything else is reached from
 * that descriptor with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so
 * no symlink, whenever it is swapped in, leads a write out of it. A
 * symlink or a directory in an output's place is refused by name.
 *
 * Whole: every output is staged first (a hidden temp file beside its
 * name, written, fsynced and closed), and only when all are staged does
 * od_commit put them in place, in the order staged (the home page last):
 * each by renameat2(RENAME_EXCHANGE) with the old file, or
 * RENAME_NOREPLACE where there was none. A failure while staging replaces
 * nothing; a failed rename puts back the files already exchanged, so the
 * outputs are all old or all new. Only a crash inside the commit (a few
 * renames) leaves some new and some old, each file whole, and the home
 * page, committed last, is new only when all the rest are; the job that
 * crashed runs again on restart and completes the set.
 *
 * Every file operation goes through the fio seam (fio.h).
 */
#ifndef QP_OUTDIR_H
#define QP_OUTDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "base/fio.h"

struct od;

/*
 * Open ROOT; with NOFOLLOW a symlink anywhere on its path is refused (the
 * daemon's output directories, resolved when the job was accepted). IO is
 * the fault seam (NULL: none); it must outlive the od. 0, or negative
 * errno and "ROOT: open: strerror" in ERR.
 */
int	 od_open(struct od **out, const char *root, int nofollow,
	    struct fio *io, char *err, size_t errlen);
/*
 * Before anything is made: each of the N paths REL (a directory's ends in
 * '/'; a directory comes before what it holds) is missing or of its kind,
 * never a symlink. 0, or the first offender named in ERR.
 */
int	 od_check(struct od *d, const char *const *rel, size_t n, char *err,
	    size_t errlen);
/* mkdir REL (0755) beneath the root; its parent must exist; one there is
 * fine if it is a directory. */
int	 od_mkdir(struct od *d, const char *rel, char *err, size_t errlen);
/*
 * Files staged from now on get exactly MODE, past the umask (a file
 * another user's program reads, as the metrics_file); 0: 0644 through the
 * umask, as any created file.
 */
void	 od_set_mode(struct od *d, mode_t mode);
/* Stage DATA as REL (a path beneath the root, its directory existing). */
int	 od_stage(struct od *d, const char *rel, const void *data, size_t len,
	    char *err, size_t errlen);
/* Put everything staged in place (see above) and make it durable. */
int	 od_commit(struct od *d, char *err, size_t errlen);
/* Close; what was staged and not committed is removed. NULL is fine. */
void	 od_free(struct od *d);

#endif
