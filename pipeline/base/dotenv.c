/* dotenv: see dotenv.h. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dotenv.h"
#include "base/xmalloc.h"

#define DOTENV_MAX_LINE	8192	/* a token is ~1 KB; longer lines are skipped */

static const char *
skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The value after '=': quoted or plain, into a new string. */
static char *
value(const char *p)
{
	size_t n = strlen(p);
	char *v = xmalloc(n + 1), *o = v;
	char q = *p;

	if (q == '\'' || q == '"') {
		for (p++; *p && *p != q; p++) {
			if (q == '"' && *p == '\\' && p[1]) {
				p++;
				*o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
			} else
				*o++ = *p;
		}
		assert((size_t)(o - v) <= n);	/* unquoting only shortens */
		*o = '\0';
		return v;
	}
	for (; *p && *p != '\n' && *p != '\r'; p++) {
		if (*p == '#' && o > v && (o[-1] == ' ' || o[-1] == '\t'))
			break;
		*o++ = *p;
	}
	while (o > v && (o[-1] == ' ' || o[-1] == '\t'))
		o--;
	assert((size_t)(o - v) <= n);	/* a plain value is a prefix of P */
	*o = '\0';
	return v;
}

char *
dotenv_get(const char *file, const char *name)
{
	char line[DOTENV_MAX_LINE], *found = NULL;
	size_t n = strlen(name), len;
	int rest = 0;		/* within a line longer than LINE */
	const char *p;
	FILE *f;

	assert(n > 0);		/* a NAME: "" would match every line */
	if ((f = fopen(file, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strlen(line);
		if (rest || (len == sizeof(line) - 1 && line[len - 1] != '\n')) {
			/* A chunk that starts with a NUL reads as empty. */
			rest = len > 0 && line[len - 1] != '\n';
			continue;
		}
		p = skip_blanks(line);
		if (strncmp(p, "export ", 7) == 0)
			p = skip_blanks(p + 7);
		if (strncmp(p, name, n) != 0)
			continue;
		p = skip_blanks(p + n);
		if (*p != '=')
			continue;
		if (found) {
			explicit_bzero(found, strlen(found));
			free(found);
		}
		found = value(skip_blanks(p + 1));
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return found;
}
