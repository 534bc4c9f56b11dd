/*
 * oneshot: `quickpaged --run create-index` (or neuView's `create-list`):
 * one job in the foreground.
 */
#ifndef QP_ONESHOT_H
#define QP_ONESHOT_H

struct oneshot_opts {
	const char	*job;		/* "create-index" or "create-list" (messages) */
	const char	*config;	/* site config file */
	const char	*output_dir;	/* --output-dir: replaces output.directory */
	int		 quick;
	int		 per_type;
	int		 json;		/* summary as one JSON object */
	int		 no_cache;	/* --no-cache: neither read nor write */
	int		 refresh;	/* --refresh: write, do not read */
};

/* Returns the process exit status: 0 success, 1 job failed, 2 bad config. */
int	 oneshot_run(const struct oneshot_opts *o);

#endif
