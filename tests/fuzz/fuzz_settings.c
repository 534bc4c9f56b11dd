/*
 * libFuzzer harness: the daemon's settings file as settings_parse (what
 * settings_load runs on the file's text) reads it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "base/xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings *s;
	char err[512];
	size_t i;

	if (settings_parse("fuzz.yaml", (const char *)data, size, &s, err,
	    sizeof(err)) < 0) {
		if (s != NULL || err[0] == '\0')
			abort();	/* a refusal frees and says why */
		return 0;
	}
	/* What the daemon relies on in settings that load. */
	if (s->socket[0] != '/' || s->state_dir[0] != '/' ||
	    s->cache_dir[0] != '/' || s->max_parallel_jobs < 1)
		abort();
	for (i = 0; i < s->nroots; i++)
		if (s->roots[i][0] != '/')
			abort();
	for (i = 0; i < s->nsites; i++)
		if (s->sites[i].config[0] != '/' ||
		    settings_site(s, s->sites[i].name) != s->sites[i].config)
			abort();
	settings_free(s);
	return 0;
}
