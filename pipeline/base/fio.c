/* fio: see fio.h. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fio.h"
#include "base/xmalloc.h"

/* openat2 answers EAGAIN when a rename raced the lookup; a few retries. */
#define FIO_AGAIN_TRIES	8

static const char *const fio_names[FIO_NOPS] = {
	"open", "write", "fsync", "rename", "mkdir", "close", "socket",
};

static const struct {
	const char	*name;
	int		 err;
} fio_errs[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
	{ "EROFS", EROFS }, { "EACCES", EACCES }, { "EPERM", EPERM },
	{ "ENOENT", ENOENT }, { "EMFILE", EMFILE },
};

static const char *const fio_hold_vars[FIO_NHOLDS] = {
	"QP_TEST_RENDER_DELAY_MS", "QP_TEST_CACHE_STORE_DELAY_MS",
};

void
fio_none(struct fio *io)
{
	memset(io, 0, sizeof(*io));
	io->action = FIO_NONE;
	io->only = -1;
}

int
fio_active(const struct fio *io)
{
	return io != NULL && io->action != FIO_NONE;
}

static int
fio_parse_action(struct fio *io, const char *s)
{
	unsigned long ms;
	char *end;
	size_t i;

	if (strcmp(s, "kill") == 0) {
		io->action = FIO_KILL;
		return 0;
	}
	if (strncmp(s, "pause=", 6) == 0) {
		ms = strtoul(s + 6, &end, 10);
		if (end == s + 6 || *end != '\0' || ms > 600000)
			return -EINVAL;
		io->action = FIO_PAUSE;
		io->pause_ms = (unsigned)ms;
		return 0;
	}
	for (i = 0; i < sizeof(fio_errs) / sizeof(fio_errs[0]); i++)
		if (strcmp(s, fio_errs[i].name) == 0) {
			io->action = FIO_FAIL;
			io->err = fio_errs[i].err;
			return 0;
		}
	return -EINVAL;
}

/* "[OP:]N[:ACTION]" */
static int
fio_parse(struct fio *io, const char *spec)
{
	char *s = xstrdup(spec), *p = s, *colon, *end;
	int i, rc = 0;

	io->action = FIO_FAIL;
	io->err = EIO;
	for (i = 0; i < FIO_NOPS; i++) {
		size_t n = strlen(fio_names[i]);

		if (strncmp(p, fio_names[i], n) == 0 && p[n] == ':') {
			io->only = i;
			p += n + 1;
			break;
		}
	}
	colon = strchr(p, ':');
	if (colon != NULL)
		*colon = '\0';
	io->at = strtoul(p, &end, 10);
	if (end == p || *end != '\0' || io->at == 0)
		rc = -EINVAL;
	else if (colon != NULL)
		rc = fio_parse_action(io, colon + 1);
	free(s);
	/* A parsed fault counts one kind of operation, or every one. */
	assert(rc < 0 || (io->only >= -1 && io->only < FIO_NOPS));
	return rc;
}

/* Milliseconds in variable NAME: 0 when unset, malformed or too long. */
static unsigned
fio_env_ms(const char *name)
{
	const char *v = getenv(name);
	unsigned long n;
	char *end;

	if (v == NULL || *v == '\0')
		return 0;
	n = strtoul(v, &end, 10);
	return *end == '\0' && n <= 600000 ? (unsigned)n : 0;
}

int
fio_from_env(struct fio *io)
{
	const char *v = getenv("QP_TEST_IO_FAULT");
	unsigned holds[FIO_NHOLDS];
	int h;

	for (h = 0; h < FIO_NHOLDS; h++)
		holds[h] = fio_env_ms(fio_hold_vars[h]);
	fio_none(io);
	memcpy(io->hold_ms, holds, sizeof(holds));
	if (v == NULL || *v == '\0')
		return 0;
	if (fio_parse(io, v) < 0) {
		fio_none(io);
		memcpy(io->hold_ms, holds, sizeof(holds));
		return -EINVAL;
	}
	/* A fault names its N-th operation, 1-based; a failure its errno. */
	assert(io->action == FIO_NONE || io->at >= 1);
	assert(io->action != FIO_FAIL || io->err > 0);
	return 0;
}

static void
fio_sleep(unsigned ms)
{
	struct timespec ts;

	assert(ms <= 600000);	/* pauses and holds are capped when read */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void
fio_hold(const struct fio *io, enum fio_hold h)
{
	assert((unsigned)h < FIO_NHOLDS);	/* one of the enum's holds */
	if (io != NULL && io->hold_ms[h] > 0)
		fio_sleep(io->hold_ms[h]);
}

/* Before operation OP: 0 to go on, -1 with errno set to fail it. */
static int
fio_step(struct fio *io, enum fio_op op)
{
	if (io == NULL || io->action == FIO_NONE)
		return 0;
	if (io->only >= 0 && io->only != (int)op)
		return 0;
	if (++io->n != io->at)
		return 0;
	switch (io->action) {
	case FIO_FAIL:
		assert(io->err > 0);	/* fio_parse_action set a real errno */
		errno = io->err;
		return -1;
	case FIO_KILL:
		kill(getpid(), SIGKILL);
		for (;;)	/* delivery may lag the call on another thread */
			pause();
	case FIO_PAUSE:
		fio_sleep(io->pause_ms);
		return 0;
	case FIO_NONE:
		break;
	}
	return 0;
}

int
fio_openat(struct fio *io, int dfd, const char *path, int flags, mode_t mode)
{
	if (fio_step(io, FIO_OPEN) < 0)
		return -1;
	return openat(dfd, path, flags, mode);
}

/*
 * Without openat2 (a kernel before 5.6): component by component, each
 * directory opened O_NOFOLLOW from the last, ".." refused. The same
 * answer as openat2's for what we open: ELOOP at a symlink, EXDEV at "..".
 */
static int
fio_walk(int dfd, const char *path, int flags, mode_t mode)
{
	char *s = xstrdup(path), *p = s, *slash;
	int fd = dfd, next, e;

	if (*p == '/') {
		free(s);
		errno = EXDEV;
		return -1;
	}
	for (;;) {
		slash = strchr(p, '/');
		if (slash != NULL)
			*slash = '\0';
		if (strcmp(p, "..") == 0) {
			next = -1;
			errno = EXDEV;
		} else if (slash == NULL)
			next = openat(fd, p, flags | O_NOFOLLOW, mode);
		else
			next = openat(fd, *p ? p : ".", O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		if (fd != dfd)
			close(fd);
		if (next < 0 || slash == NULL) {
			free(s);
			errno = e;
			return next;
		}
		fd = next;
		p = slash + 1;
	}
}

int
fio_open_beneath(struct fio *io, int dfd, const char *path, int flags,
    mode_t mode)
{
	struct open_how how;
	long fd = -1;
	int i;

	if (fio_step(io, FIO_OPEN) < 0)
		return -1;
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned)flags;
	how.mode = flags & O_CREAT ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
	for (i = 0; i < FIO_AGAIN_TRIES; i++) {
		fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0 && errno == ENOSYS)
		return fio_walk(dfd, path, flags, mode);
	return (int)fd;
}

ssize_t
fio_write(struct fio *io, int fd, const void *p, size_t n)
{
	if (fio_step(io, FIO_WRITE) < 0)
		return -1;
	return write(fd, p, n);
}

int
fio_fsync(struct fio *io, int fd)
{
	if (fio_step(io, FIO_FSYNC) < 0)
		return -1;
	return fsync(fd);
}

int
fio_renameat2(struct fio *io, int odfd, const char *from, int ndfd,
    const char *to, unsigned flags)
{
	if (fio_step(io, FIO_RENAME) < 0)
		return -1;
	return renameat2(odfd, from, ndfd, to, flags);
}

int
fio_mkdirat(struct fio *io, int dfd, const char *path, mode_t mode)
{
	if (fio_step(io, FIO_MKDIR) < 0)
		return -1;
	return mkdirat(dfd, path, mode);
}

/* An injected close failure still closes: the fd must not leak. */
int
fio_close(struct fio *io, int fd)
{
	int e;

	if (fio_step(io, FIO_CLOSE) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

int
fio_socket(struct fio *io, int domain, int type, int protocol)
{
	if (fio_step(io, FIO_SOCKET) < 0)
		return -1;
	return socket(domain, type, protocol);
}
