/* yamlgen: YAML documents that attack a parser (yamlgen.h). */
#include "yamlgen.h"

void
yg_laughs(struct buf *b, int levels)
{
	int i;

	buf_puts(b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < levels; i++)
		buf_printf(b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
		    "*a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1, i - 1, i - 1,
		    i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
}

void
yg_nest(struct buf *b, int depth, char open, char close)
{
	int i;

	for (i = 0; i < depth; i++)
		buf_putc(b, open);
	for (i = 0; close != '\0' && i < depth; i++)
		buf_putc(b, close);
}
