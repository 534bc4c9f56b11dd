/*
 * tpl: built-in template lookup, {{placeholder}} filling and HTML escaping
 * for the three page writers (render, render_typelist, render_neuview).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "render/tpl.h"

#define TPL_KEY_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_"

const struct tpl_file *
tpl_get(const char *name, char *err, size_t errlen)
{
	const struct tpl_file *f;

	for (f = tpl_builtin; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, TPL_BUILTIN "/%s: not compiled in", name);
	return NULL;
}

static const struct tpl_var *
tpl_var_find(const struct tpl_var *v, size_t nv, const char *key,
    size_t klen)
{
	size_t i;

	for (i = 0; i < nv; i++)
		if (strlen(v[i].key) == klen && memcmp(v[i].key, key, klen) == 0)
			return &v[i];
	return NULL;
}

int
tpl_fill(struct buf *out, const char *tpl, const char *where,
    const struct tpl_var *v, size_t nv, char *err, size_t errlen)
{
	const struct tpl_var *var;
	const char *p = tpl, *open, *key;
	size_t klen;

	while ((open = strstr(p, "{{")) != NULL) {
		key = open + 2;
		klen = strspn(key, TPL_KEY_CHARS);
		if (klen == 0 || strncmp(key + klen, "}}", 2) != 0) {
			/* Not a placeholder: keep "{{", look again after it. */
			buf_append(out, p, (size_t)(key - p));
			p = key;
			continue;
		}
		if ((var = tpl_var_find(v, nv, key, klen)) == NULL) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "%s: unknown placeholder "
				    "{{%.*s}}", where, (int)klen, key);
			return -EINVAL;
		}
		buf_append(out, p, (size_t)(open - p));
		buf_append(out, var->val, var->len);
		p = key + klen + 2;
	}
	buf_puts(out, p);
	return 0;
}

int
tpl_fill_builtin(struct buf *out, const char *name, const struct tpl_var *v,
    size_t nv, char *err, size_t errlen)
{
	const struct tpl_file *f = tpl_get(name, err, errlen);
	char where[256];

	if (f == NULL)
		return -ENOENT;
	snprintf(where, sizeof(where), TPL_BUILTIN "/%s", name);
	return tpl_fill(out, (const char *)f->data, where, v, nv, err, errlen);
}

void
tpl_html(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;
	const char *rep;
	unsigned char c;

	if (s == NULL)
		return;
	for (run = p; (c = *p) != '\0'; p++) {
		switch (c) {
		case '&':  rep = "&amp;"; break;
		case '<':  rep = "&lt;"; break;
		case '>':  rep = "&gt;"; break;
		case '"':  rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
			    c == 0x7f)
				rep = "&#xFFFD;";
			else
				continue;
		}
		buf_append(out, run, (size_t)(p - run));
		buf_puts(out, rep);
		run = p + 1;
	}
	buf_append(out, run, (size_t)(p - run));
}

void
tpl_url(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char esc[3] = { '%', 0, 0 };

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL) {
			buf_putc(out, (char)*p);
			continue;
		}
		esc[1] = hex[*p >> 4];
		esc[2] = hex[*p & 15];
		buf_append(out, esc, 3);
	}
}
