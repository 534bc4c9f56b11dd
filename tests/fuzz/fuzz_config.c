/*
 * libFuzzer harness: a site config (YAML) as cfg_site_parse reads it, the
 * path a client-sent config takes through the daemon. A config that loads
 * must have what the rest of the pipeline relies on; one that does not
 * must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "base/xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A client's config as the daemon reads it: its cwd, no environment. */
	static const struct cfg_origin from = { .cwd = "/srv/lab" };
	struct cfg_site *s;
	char err[512];
	int rc;

	err[0] = '\0';
	rc = cfg_site_parse("fuzz.yaml", (const char *)data, size, &from, &s,
	    err, sizeof(err));
	if (rc < 0) {
		if (s != NULL || err[0] == '\0')
			abort();	/* a refusal frees and says why */
		return 0;
	}
	if (strncmp(s->server, "https://", 8) != 0 || s->dataset[0] == '\0' ||
	    s->output_dir[0] != '/' || (s->token == NULL) == (s->no_token == NULL) ||
	    s->concurrency.min < 1 || s->concurrency.min > s->concurrency.initial ||
	    s->concurrency.initial > s->concurrency.max || s->batch_size < 1 ||
	    s->max_candidates_underscores > 20)
		abort();	/* a loaded config breaks its own promises */
	cfg_site_free(s);
	return 0;
}
