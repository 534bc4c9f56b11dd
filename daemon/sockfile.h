/*
 * sockfile: the daemon's socket file when it binds one itself (no socket
 * activation): a stale file left by a crash is removed, one another daemon
 * answers on or that is no socket is refused, and the socket is born mode
 * 0660 (no window in which others may connect) in socket_group.
 */
#ifndef QP_SOCKFILE_H
#define QP_SOCKFILE_H

#include <stddef.h>

#include <uv.h>

/*
 * Bind the pipe P to PATH, its group GROUP (NULL: the daemon's). *MADE
 * is set once the file exists (the caller removes it at the end). 0, or
 * a negative errno with ERR saying why.
 */
int	 sockfile_bind(uv_pipe_t *p, const char *path, const char *group,
	    int *made, char *err, size_t errlen);

#endif
