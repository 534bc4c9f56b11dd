/*
 * fio: the file operations a render makes (open, write, fsync, rename,
 * mkdir, close), through one seam a test can fail, as clock.h is the seam
 * for time. With no fault set (the production case) each call is the
 * system call and nothing more.
 *
 * TEST HOOK, never set in production: QP_TEST_IO_FAULT=[OP:]N[:ACTION]
 * in the environment of quickpaged (--run or the daemon) acts on the N-th
 * operation (1-based) of each render, counting only operations of kind OP
 * (open, write, fsync, rename, mkdir, close) when given, all of them
 * otherwise; with OP "socket", on the N-th socket of each HTTP client
 * (http.c) instead. ACTION: an errno name (EIO, the default, ENOSPC,
 * EDQUOT, EROFS, EACCES, EPERM, ENOENT, EMFILE): the operation fails with
 * it, undone;
 * "kill": the process sends itself SIGKILL before the operation (the
 * kill -9 tests' deterministic crash points); "pause=MS": the operation
 * runs after MS milliseconds (a test swaps a symlink in meanwhile).
 *
 * The holds, read by fio_from_env too: QP_TEST_RENDER_DELAY_MS holds a
 * render's worker that long before it renders (a test watches the loop
 * go on meanwhile: test_daemon.py, TestRenderOffLoop);
 * QP_TEST_CACHE_STORE_DELAY_MS holds a cache store inside its transaction,
 * entries written and not yet committed (a test kills the process there:
 * test_cache.py). Every test hook of quickpaged is read here and nowhere
 * else; nothing in quickpaged calls setenv.
 */
#ifndef QP_FIO_H
#define QP_FIO_H

#include <sys/types.h>

#include <stddef.h>

enum fio_op {
	FIO_OPEN, FIO_WRITE, FIO_FSYNC, FIO_RENAME, FIO_MKDIR, FIO_CLOSE,
	FIO_SOCKET, FIO_NOPS
};

enum fio_action { FIO_NONE, FIO_FAIL, FIO_KILL, FIO_PAUSE };

/* Where a test may hold a worker (fio_hold). */
enum fio_hold { FIO_HOLD_RENDER, FIO_HOLD_CACHE_STORE, FIO_NHOLDS };

/* One render's seam: the fault to inject and the count so far. */
struct fio {
	enum fio_action	 action;
	int		 only;		/* an enum fio_op, or -1: every op */
	unsigned long	 at;		/* the N-th operation */
	int		 err;		/* FIO_FAIL: the positive errno */
	unsigned	 pause_ms;	/* FIO_PAUSE */
	unsigned long	 n;		/* operations counted so far */
	unsigned	 hold_ms[FIO_NHOLDS];	/* fio_hold's, 0: none */
};

/*
 * IO from QP_TEST_IO_FAULT and the holds' variables; no fault (every
 * call real) and no hold when they are unset. 0, or -EINVAL when the
 * fault is set but malformed (IO then has no fault). A malformed or
 * out-of-range hold (over 600000 ms) is no hold.
 */
int	 fio_from_env(struct fio *io);
/* No fault, no hold: every call is the system call. */
void	 fio_none(struct fio *io);
/* 1 when IO injects a fault. */
int	 fio_active(const struct fio *io);
/* Sleep IO's hold H, if any (on a worker thread: it blocks). */
void	 fio_hold(const struct fio *io, enum fio_hold h);

/*
 * The calls. IO may be NULL (no fault). Each returns what the system
 * call returns and sets errno as it does; an injected failure returns -1
 * with errno set and does nothing else.
 */
int	 fio_openat(struct fio *io, int dfd, const char *path, int flags,
	    mode_t mode);
/* openat2(DFD, PATH, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS); see fio.c. */
int	 fio_open_beneath(struct fio *io, int dfd, const char *path,
	    int flags, mode_t mode);
ssize_t	 fio_write(struct fio *io, int fd, const void *p, size_t n);
int	 fio_fsync(struct fio *io, int fd);
int	 fio_renameat2(struct fio *io, int odfd, const char *from, int ndfd,
	    const char *to, unsigned flags);
int	 fio_mkdirat(struct fio *io, int dfd, const char *path, mode_t mode);
int	 fio_close(struct fio *io, int fd);
int	 fio_socket(struct fio *io, int domain, int type, int protocol);

#endif
