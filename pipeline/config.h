/*
 * config: a QuickPage site config (YAML, read with libcyaml) plus our own
 * `quickpaged:` section. The only module that knows the file format.
 */
#ifndef QP_CONFIG_H
#define QP_CONFIG_H

#include <stddef.h>

#include "index/roi.h"
#include "index/scan.h"

struct cfg_concurrency {
	unsigned	 min;		/* default 1 */
	unsigned	 initial;	/* default 8 */
	unsigned	 max;		/* default 64 */
};

struct cfg_site {
	char		*server;	/* "https://host[:port]", scheme added if absent, no trailing '/' */
	char		*dataset;
	char		*token;		/* never logged; resolved from file or environment */
	char		*no_token;	/* token NULL: why, as a message; else NULL */
	char		*output_dir;
	char		*title_prefix;	/* "" when absent */
	/* quickpaged: section */
	char		*ca_file;	/* NULL: system trust store */
	char		*template_dir;	/* NULL: the built-in set */
	int		 strict_paths;	/* the daemon's, for a client's config:
					   templates opened with no symlink in the path */
	char		*cache_dir;	/* quickpaged.cache_dir; NULL: the runner's default */
	enum scan_layout layout;	/* quickpaged.layout, default auto */
	enum roi_ruleset rules;		/* quickpaged.rules, default DEFAULT */
	double		 roi_threshold_pct;	/* default 1.5 */
	unsigned	 batch_size;	/* stems per batch, default 200 */
	unsigned	 max_candidates_underscores;	/* default 8 (3^8 spellings) */
	struct cfg_concurrency concurrency;
	unsigned	 connect_timeout_s;	/* default 10 */
	unsigned	 request_timeout_s;	/* whole request, default 120 */
	unsigned	 low_speed_time_s;	/* abort below 1 byte/s for this long, default 30 */
	unsigned	 max_retries;		/* per request, default 6 */
	unsigned	 max_query_bytes;	/* request body cap, default 256 KiB */
	/* how long the server may run a query we gave up on (0: it stops it) */
	unsigned	 server_query_limit_s;	/* default 3600 */
	double		 max_failed_fraction;	/* job fails past this, default 0.01 */
};

/*
 * Where a site config comes from, which decides what it leans on. QuickPage
 * and neuView resolve every relative path against the working directory of
 * the command that reads the config, not against the config's folder: so
 * does CWD here (`--run`: the process's; a client's config: the client's).
 * A site named in the daemon's settings has no command and so no working
 * directory: CWD NULL, and a relative path is refused. GETENV looks up the
 * NEUPRINT_* variables when the file names no token: the process's for
 * `--run` and named sites, the client's (sent with the request) for a
 * client's config, never the daemon's; NULL: no environment. OUTPUT_DIR,
 * when set, replaces output.directory (neuView's --output-dir), resolved
 * against CWD as well.
 */
struct cfg_origin {
	const char	*cwd;
	const char	*no_cwd;	/* CWD NULL: why, for the refusal */
	const char	*(*getenv)(const void *arg, const char *name);
	const void	*env_arg;
	const char	*output_dir;
};

/* getenv(3) in cfg_origin's shape: the process's own environment. */
const char *cfg_process_env(const void *arg, const char *name);

/*
 * Load FILE as ORIGIN says (NULL: the process's working directory and
 * environment, as `--run` reads it). The token comes from neuprint.token,
 * else NEUPRINT_APPLICATION_CREDENTIALS (plain, or JSON {"token": ...}
 * when it holds ':'), else NEUPRINT_TOKEN; with none, token is NULL and
 * no_token says so (only --quick runs without one). Relative paths are
 * made absolute against the working directory (output_dir names the
 * directory as resolved). Returns 0, or a negative errno with a message
 * "FILE:LINE:COL: key 'a.b': what is wrong" in err.
 */
int	 cfg_site_load(const char *file, const struct cfg_origin *origin,
	    struct cfg_site **out, char *err, size_t errlen);
/* The same from a YAML document in memory; NAME is used in messages. */
int	 cfg_site_parse(const char *name, const char *yaml, size_t len,
	    const struct cfg_origin *origin, struct cfg_site **out, char *err,
	    size_t errlen);
void	 cfg_site_free(struct cfg_site *site);

#endif
