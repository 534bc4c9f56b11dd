/*
 * tpl: what every page writer does with a template. Look a built-in one up
 * by name (the set templates.h compiles in), fill its {{placeholders}}, and
 * escape the text that goes into HTML. render (flat layout), render_typelist
 * and render_neuview all fill their pages through here, so a placeholder or
 * an escaped character means the same in every output. Shares the tpl_
 * prefix with templates.h, whose data it reads. No state; thread-safe.
 */
#ifndef QP_TPL_H
#define QP_TPL_H

#include <stddef.h>
#include <string.h>

#include "base/buf.h"
#include "render/templates.h"

/* The "directory" messages name for a built-in template. */
#define TPL_BUILTIN	"(built-in templates)"

/* A placeholder's name and its value: LEN bytes at VAL, inserted as is. */
struct tpl_var {
	const char	*key;
	const char	*val;
	size_t		 len;
};

/* A tpl_var for the NUL-terminated string S. */
#define TPL_STR(k, s)	{ (k), (s), strlen(s) }

/*
 * The built-in template NAME, or NULL with "(built-in templates)/NAME: not
 * compiled in" in ERR (a file missing from data/templates/meson.build).
 */
const struct tpl_file	*tpl_get(const char *name, char *err, size_t errlen);

/*
 * Append TPL to OUT with each placeholder replaced by the value of its key
 * in V. A placeholder is "{{" key "}}", the key lower-case letters, digits
 * and '_'; any other "{{" is text (so "{{ x }}" or a JavaScript "{{" stays
 * as it is). Values are not scanned again, so data can never add a
 * placeholder. A placeholder whose key V lacks is an error, "WHERE: unknown
 * placeholder {{key}}" and -EINVAL, so a typo in a template cannot go
 * unnoticed; WHERE names the template ("dir/name"). 0 on success.
 */
int	 tpl_fill(struct buf *out, const char *tpl, const char *where,
	    const struct tpl_var *v, size_t nv, char *err, size_t errlen);
/* tpl_fill on the built-in template NAME; -ENOENT if it is missing. */
int	 tpl_fill_builtin(struct buf *out, const char *name,
	    const struct tpl_var *v, size_t nv, char *err, size_t errlen);

/*
 * Append S (NULL: nothing) escaped for HTML text or a quoted attribute
 * value: & < > " ' as entities; a C0 control other than tab, line feed
 * and carriage return (form feed too), or DEL, as &#xFFFD; (controls are
 * parse errors; CR, like tab and LF, is HTML whitespace and kept). Other
 * bytes, UTF-8 included, as they are.
 */
void	 tpl_html(struct buf *out, const char *s);
/*
 * S, a relative file name, as an href: everything outside the unreserved
 * set and '/' percent-encoded, so '%', '#', '?', blanks, quotes and
 * non-ASCII bytes reach the file on disk unchanged. Needs no HTML escaping.
 */
void	 tpl_url(struct buf *out, const char *s);

#endif
