/*
 * sock: see sock.h.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sd.h"
#include "sock.h"

/* A socket file nobody answers on is left from a crash: remove it. */
static int
clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it "
		    "or choose another 'socket'", path);
		return -EEXIST;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another daemon answers on %s; stop it "
		    "first", path);
		return -EADDRINUSE;
	}
	return unlink(path) < 0 ? -errno : 0;
}

static int
set_group(const char *path, const char *group, char *err, size_t errlen)
{
	struct group *g;

	if (group == NULL)
		return 0;
	if ((g = getgrnam(group)) == NULL) {
		snprintf(err, errlen, "socket_group '%s' is not a group on this "
		    "system", group);
		return -ENOENT;
	}
	if (chown(path, (uid_t)-1, g->gr_gid) < 0) {
		snprintf(err, errlen, "cannot give %s to group '%s': %s", path,
		    group, strerror(errno));
		return -errno;
	}
	return 0;
}

static int
bind_path(uv_pipe_t *p, const char *path, const char *group, int *made,
    char *err, size_t errlen)
{
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	if ((rc = clear_stale(path, err, errlen)) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* Born 0660: no window in which others may connect. */
	old = umask(0117);
	rc = uv_pipe_bind(p, path);
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", path, uv_strerror(rc));
		return rc;
	}
	*made = 1;
	if (chmod(path, 0660) < 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		return -errno;
	}
	return set_group(path, group, err, errlen);
}

int
sock_listen(uv_pipe_t *p, const char *path, const char *group, int *made,
    char *err, size_t errlen)
{
	int rc, n;

	n = sd_listen_count();
	if (n <= 0)
		return bind_path(p, path, group, made, err, errlen);
	if (n > 1)
		log_warn("socket.activation", "fds=%d msg=%s", n,
		    "systemd passed more than one socket; using the first");
	rc = uv_pipe_open(p, SD_LISTEN_FDS_START);
	if (rc < 0)
		snprintf(err, errlen, "cannot use the socket systemd passed: "
		    "%s", uv_strerror(rc));
	return rc;
}

void
sock_peer(uv_pipe_t *p, struct sock_peer *out)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	out->uid = out->gid = out->pid = -1;
	if (uv_fileno((uv_handle_t *)p, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
		out->uid = (long)cr.uid;
		out->gid = (long)cr.gid;
		out->pid = (long)cr.pid;
		if (admit_who_peer(fd, &out->who) < 0)
			out->uid = -1;	/* half known is unknown */
	}
}
