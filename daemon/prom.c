/* prom: see prom.h. */
#include <assert.h>
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/dbl.h"
#include "prom.h"

/* What metric and label names are made of (the exposition format). */
#define PROM_NAME_CHARS	"abcdefghijklmnopqrstuvwxyz" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:"

/* Escape \ and newline, and " too when QUOTE (label values). */
static void
escape(struct buf *b, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (*s == '"' && quote)
			buf_puts(b, "\\\"");
		else
			buf_putc(b, *s);
	}
}

void
prom_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	/* NAME and TYPE are the code's own, never input: written unescaped. */
	assert(strspn(name, PROM_NAME_CHARS) == strlen(name) && *name != '\0');
	assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
	    strcmp(type, "histogram") == 0);
	buf_printf(b, "# HELP %s ", name);
	escape(b, help, 0);
	buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void
prom_label(struct buf *l, const char *key, const char *value)
{
	/* KEY is the code's own label name: written unescaped. */
	assert(strspn(key, PROM_NAME_CHARS) == strlen(key) && *key != '\0');
	if (l->len > 0)
		buf_putc(l, ',');
	buf_printf(l, "%s=\"", key);
	escape(l, value, 1);
	buf_putc(l, '"');
}

void
prom_sample(struct buf *b, const char *name, const struct buf *labels,
    double value)
{
	char num[DBL_FMT_MAX];

	/* NAME is the code's own metric name: written unescaped. */
	assert(strspn(name, PROM_NAME_CHARS) == strlen(name) && *name != '\0');
	/* A label set is built by prom_label: NUL-terminated, no newline. */
	assert(labels == NULL || labels->len == 0 ||
	    (labels->data[labels->len] == '\0' &&
	    memchr(labels->data, '\n', labels->len) == NULL));
	buf_puts(b, name);
	if (labels != NULL && labels->len > 0)
		buf_printf(b, "{%s}", labels->data);
	if (isnan(value))
		buf_puts(b, " NaN\n");
	else if (isinf(value))
		buf_puts(b, value > 0 ? " +Inf\n" : " -Inf\n");
	/* Counts print as integers; 2^53 is where doubles stop being exact. */
	else if (value == floor(value) && fabs(value) < 9007199254740992.0)
		buf_printf(b, " %.0f\n", value);
	else {
		/* The shortest text that reads back as VALUE (0.2, not 0.2000..1). */
		(void)dbl_fmt(num, value);	/* NUL-terminated */
		buf_printf(b, " %s\n", num);
	}
}
