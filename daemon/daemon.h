/* daemon: `quickpaged --config FILE`: the job daemon in the foreground. */
#ifndef QP_DAEMON_H
#define QP_DAEMON_H

/* Returns the exit status: 0 after SIGTERM, 1 runtime failure, 2 bad settings. */
int	 daemon_run(const char *settings_file);

#endif
