/*
 * settings: the daemon's own settings file (YAML, read with libcyaml).
 * Site configs are pipeline/config's business; here a site is a name and
 * the path of its config. See docs/daemon.md for every key.
 */
#ifndef QP_SETTINGS_H
#define QP_SETTINGS_H

#include <stddef.h>

struct cfg_site;

struct settings_site {
	char		*name;
	char		*config;	/* absolute path of a QuickPage config */
};

struct settings {
	char		*socket;	/* default /run/quickpaged/quickpaged.sock */
	char		*socket_group;	/* NULL: the daemon's group */
	char		*state_dir;	/* default /var/lib/quickpaged */
	char		*cache_dir;	/* default /var/cache/quickpaged */
	char		*metrics_file;	/* Prometheus textfile; NULL: none */
	int		 log_level;	/* enum log_level */
	struct settings_site *sites;
	size_t		 nsites;
	char		**roots;	/* allowed_output_roots */
	size_t		 nroots;
	unsigned	 max_parallel_jobs;	/* default 4 */
	unsigned	 history_days;		/* default 30; 0 keeps all */
	unsigned	 idle_timeout_ms;	/* default 30000 */
	unsigned	 stop_grace_s;		/* default 10 */
	unsigned	 max_clients;		/* default 128 */
	unsigned	 max_clients_per_user;	/* default 32; root and ours: none */
};

/*
 * Load FILE. Returns 0, or a negative errno with "FILE:LINE: key 'k':
 * what is wrong" in err.
 */
int	 settings_load(const char *file, struct settings **out, char *err,
	    size_t errlen);
/* The same from the file's text in memory; FILE names it in messages. */
int	 settings_parse(const char *file, const char *text, size_t len,
	    struct settings **out, char *err, size_t errlen);
void	 settings_free(struct settings *s);
/* The config path of site NAME, or NULL. */
const char *settings_site(const struct settings *s, const char *name);
/*
 * Load site NAME's config as the daemon reads it: with the daemon's
 * environment, and no working directory (no command reads a named site),
 * so a relative path in it is refused. -ENOENT when there is no such
 * site; else cfg_site_load's result. A message in err either way.
 */
int	 settings_site_load(const struct settings *s, const char *name,
	    struct cfg_site **out, char *err, size_t errlen);

#endif
