/*
 * templates: the index page's built-in templates (data/templates), compiled
 * in at build time: tools/embed.py writes templates.c, so the binary needs
 * no installed data and the page it writes cannot drift from the binary.
 * quickpaged.template_dir replaces the whole set (render.c).
 */
#ifndef QP_TEMPLATES_H
#define QP_TEMPLATES_H

#include <stddef.h>

struct tpl_file {
	const char		*name;	/* base name, e.g. "index.html" */
	const unsigned char	*data;	/* LEN bytes, then a NUL */
	size_t			 len;
};

/* In name order; the last entry has name NULL. */
extern const struct tpl_file tpl_builtin[];
/*
 * SHA-256 (hex) of the set, as `sha256sum FILE... | sha256sum` prints it
 * in data/templates with the files in name order.
 */
extern const char tpl_builtin_digest[];

#endif
