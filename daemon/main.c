/*
 * quickpaged: builds the index of a QuickPage site.
 *   quickpaged --run create-index|create-list [-c FILE] [--output-dir DIR]
 *              [--quick] [--strategy S] [--json]
 *     runs one job in the foreground and exits (create-list is neuView's
 *     name for the same job, with neuView's spellings).
 *   quickpaged --config FILE
 *     runs the job daemon in the foreground (docs/daemon.md).
 */
#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "qp_build.h"
#include "daemon.h"
#include "oneshot.h"
#include "siteup.h"
#include "base/xmalloc.h"

extern char **environ;

/*
 * Keep the token's variables for getenv but out of /proc/PID/environ,
 * which shows the block the kernel put on the stack at exec: the value
 * moves to the heap (setenv) and its bytes in that block are wiped.
 * Before any thread, as setenv requires.
 */
static void
hide_env(const char *name)
{
	size_t n = strlen(name);
	char **e, *copy = NULL;

	/* A variable's name, from our own lists: never empty, never a '=' */
	assert(n > 0 && strchr(name, '=') == NULL);

	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, name, n) != 0 || (*e)[n] != '=')
			continue;
		if (copy == NULL)
			copy = xstrdup(*e + n + 1);
		explicit_bzero(*e + n + 1, strlen(*e + n + 1));
	}
	if (copy == NULL)
		return;
	setenv(name, copy, 1);
	explicit_bzero(copy, strlen(copy));
	free(copy);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: quickpaged --config SETTINGS.yaml\n"
	    "       quickpaged --run create-index|create-list [-c|--config FILE]\n"
	    "                  [--output-dir DIR] [--quick] [--json]\n"
	    "                  [--strategy batched|per-type]\n"
	    "                  [--no-cache | --refresh] [--minify | --no-minify]\n"
	    "       quickpaged --version\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "run", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "quick", no_argument, NULL, 'q' },
		{ "strategy", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "refresh", no_argument, NULL, 'R' },
		{ "output-dir", required_argument, NULL, 'o' },
		{ "minify", no_argument, NULL, 'm' },
		{ "no-minify", no_argument, NULL, 'm' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct oneshot_opts o = { 0 };
	const char *run = NULL, *var;
	size_t i;
	int c, status, oneshot_only = 0;

	xmalloc_install();
	hide_env("NEUPRINT_TOKEN");
	hide_env("NEUPRINT_APPLICATION_CREDENTIALS");
	/* A proxy's URL may hold its password. */
	for (i = 0; (var = siteup_proxy_var(i)) != NULL; i++)
		hide_env(var);
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			run = optarg;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 'q':
			oneshot_only = 1;
			o.quick = 1;
			break;
		case 's':
			oneshot_only = 1;
			if (strcmp(optarg, "per-type") == 0)
				o.per_type = 1;
			else if (strcmp(optarg, "batched") != 0) {
				fprintf(stderr, "quickpaged: --strategy is "
				    "batched or per-type, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			oneshot_only = 1;
			o.json = 1;
			break;
		case 'n':
			oneshot_only = 1;
			o.no_cache = 1;
			break;
		case 'R':
			oneshot_only = 1;
			o.refresh = 1;
			break;
		case 'o':
			oneshot_only = 1;
			o.output_dir = optarg;
			break;
		case 'm':
			/*
			 * neuView's create-list minifies its HTML unless told
			 * not to; ours is written compact either way, so both
			 * spellings are taken and change nothing.
			 */
			oneshot_only = 1;
			break;
		case 'V':
			/* The digest tells which page a binary writes. */
			printf("quickpaged %s\ntemplates sha256:%s\n",
			    QP_VERSION, siteup_tpl_digest());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (run == NULL && o.config != NULL && !oneshot_only &&
	    optind == argc) {
		/*
		 * No curl_global_init here: http_client_new does it when the
		 * first job needs a server (libcurl >= 7.84 makes that safe),
		 * so an idle daemon does not carry TLS library state.
		 */
		return daemon_run(o.config);
	}
	if (run == NULL || optind != argc || (o.no_cache && o.refresh)) {
		usage(stderr);
		return 2;
	}
	if (strcmp(run, "create-index") != 0 &&
	    strcmp(run, "create-list") != 0) {
		fprintf(stderr, "quickpaged: unknown job '%s' (known: "
		    "create-index, and neuView's name for it, create-list)\n",
		    run);
		return 2;
	}
	/* QuickPage and neuView read ./config.yaml when not told. */
	if (o.config == NULL)
		o.config = "config.yaml";
	o.job = run;
	/* Once, before any thread or handle exists, as libcurl requires. */
	if (xmalloc_curl_init() < 0) {
		fprintf(stderr, "quickpaged: libcurl failed to initialize\n");
		return 1;
	}
	status = oneshot_run(&o);
	curl_global_cleanup();
	return status;
}
