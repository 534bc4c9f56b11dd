/*
 * log: see log.h. The fields' format is walked here rather than handed
 * to vsnprintf whole, because each value must be quoted as a whole after
 * its conversions are done; the conversions themselves still go through
 * snprintf, one at a time, with the argument fetched at its own type, and
 * the compiler checks the types against the format (log.h's attribute).
 */
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define TRUNCATED	" truncated=1"

static enum log_level log_level = LOG_L_INFO;
static int log_journal;

/* JOURNAL_STREAM is "DEV:INO" of the stream; trust it only if it is ours. */
static int
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_level level)
{
	assert(level >= LOG_L_ERR && level <= LOG_L_DEBUG);	/* parsed */
	log_level = level;
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	assert(level >= LOG_L_ERR && level <= LOG_L_DEBUG);	/* parsed */
	log_level = level;
}

int
log_level_parse(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "error") == 0)
		return LOG_L_ERR;
	if (strcmp(name, "warning") == 0 || strcmp(name, "warn") == 0)
		return LOG_L_WARN;
	if (strcmp(name, "info") == 0)
		return LOG_L_INFO;
	if (strcmp(name, "debug") == 0)
		return LOG_L_DEBUG;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_L_ERR:
		return "error";
	case LOG_L_WARN:
		return "warning";
	case LOG_L_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* ---- one line ---- */

struct line {
	char	*p;
	size_t	 len;
	size_t	 limit;		/* room for text; TRUNCATED and '\n' fit after */
	int	 full;
};

static void
put(struct line *l, const char *s, size_t n)
{
	if (l->full || l->len + n > l->limit) {
		l->full = 1;
		return;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	assert(l->len <= l->limit);	/* TRUNCATED and '\n' still fit */
}

static int
plain(unsigned char c)
{
	return c > ' ' && c != 0x7f && c != '"' && c != '=' && c != '\\';
}

/* C inside a quoted value: itself or its escape. */
static void
escape(unsigned char c, char esc[8])
{
	if (c == '"' || c == '\\')
		snprintf(esc, 8, "\\%c", c);
	else if (c == '\n')
		snprintf(esc, 8, "\\n");
	else if (c == '\r')
		snprintf(esc, 8, "\\r");
	else if (c == '\t')
		snprintf(esc, 8, "\\t");
	else if (c < ' ' || c == 0x7f)
		snprintf(esc, 8, "\\x%02x", c);
	else
		esc[0] = (char)c, esc[1] = '\0';
}

/*
 * V, quoted and escaped if it needs it. When the line is full the value
 * is cut between two escapes and its quote still closed.
 */
static void
put_value(struct line *l, const char *v, size_t n)
{
	size_t i;
	int q = n == 0;
	char esc[8];

	for (i = 0; i < n && !q; i++)
		q = !plain((unsigned char)v[i]);
	assert(l->len <= l->limit);	/* put and put_value keep it */
	if (!q) {
		if (l->len + n > l->limit) {	/* a bare value cuts anywhere */
			n = l->limit - l->len;
			l->full = 1;
		}
		memcpy(l->p + l->len, v, n);
		l->len += n;
		return;
	}
	put(l, "\"", 1);
	if (l->full)
		return;
	l->limit--;		/* the closing quote always fits */
	for (i = 0; i < n && !l->full; i++) {
		escape((unsigned char)v[i], esc);
		put(l, esc, strlen(esc));
	}
	l->limit++;
	l->p[l->len++] = '"';
	assert(l->len <= l->limit);	/* the closing quote always fits */
}

static void
bad_format(const char *fields)
{
	fprintf(stderr, "quickpaged: log: unsupported conversion in \"%s\"\n",
	    fields);
	abort();
}

/*
 * The spec handed to snprintf below is a piece of the caller's format,
 * which the compiler checked against its arguments (log.h's attribute),
 * and each argument is fetched at the type the spec names.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/*
 * The conversion at *FMT (past the '%') into OUT; *FMT moves past it. The
 * argument is read at the type the conversion names.
 */
static void
convert(const char **fmt, va_list *ap, const char *fields, char *out,
    size_t len)
{
	const char *s = *fmt;
	char spec[32];
	size_t n;
	int lng = 0, sz = 0;

	s += strspn(s, "-+ #0");
	s += strspn(s, "0123456789");
	if (*s == '.') {
		s++;
		s += strspn(s, "0123456789");
	}
	if (*s == 'h')
		s += s[1] == 'h' ? 2 : 1;
	else if (*s == 'l')
		lng = s[1] == 'l' ? 2 : 1, s += lng;
	else if (*s == 'z')
		sz = 1, s++;
	if (*s == '\0' || strchr("diuxXcsfFeEgGp", *s) == NULL)
		bad_format(fields);
	n = (size_t)(s + 1 - (*fmt - 1));
	if (n >= sizeof(spec))
		bad_format(fields);
	memcpy(spec, *fmt - 1, n);
	spec[n] = '\0';
	*fmt = s + 1;
	switch (*s) {
	case 'd': case 'i':
		if (lng == 2)
			snprintf(out, len, spec, va_arg(*ap, long long));
		else if (lng == 1)
			snprintf(out, len, spec, va_arg(*ap, long));
		else if (sz)
			snprintf(out, len, spec, va_arg(*ap, ssize_t));
		else
			snprintf(out, len, spec, va_arg(*ap, int));
		break;
	case 'u': case 'x': case 'X':
		if (lng == 2)
			snprintf(out, len, spec, va_arg(*ap, unsigned long long));
		else if (lng == 1)
			snprintf(out, len, spec, va_arg(*ap, unsigned long));
		else if (sz)
			snprintf(out, len, spec, va_arg(*ap, size_t));
		else
			snprintf(out, len, spec, va_arg(*ap, unsigned));
		break;
	case 'c':
		snprintf(out, len, spec, va_arg(*ap, int));
		break;
	case 's': {
		const char *v = va_arg(*ap, const char *);

		snprintf(out, len, spec, v ? v : "");
		break;
	}
	case 'p':
		snprintf(out, len, spec, va_arg(*ap, void *));
		break;
	default:
		snprintf(out, len, spec, va_arg(*ap, double));
	}
}
#pragma GCC diagnostic pop

/* " KEY=VALUE" for each field of FIELDS. */
static void
put_fields(struct line *l, const char *fields, va_list *ap)
{
	char val[LOG_LINE_MAX];
	const char *f = fields, *k;
	size_t vlen;

	while (*f && !l->full) {
		if (*f == ' ') {
			f++;
			continue;
		}
		k = f;
		while (*f && *f != '=' && *f != ' ')
			f++;
		if (*f != '=' || f == k)
			bad_format(fields);
		/* KEY is [a-z0-9_] (log.h): it never needs quoting. */
		assert(strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") >=
		    (size_t)(f - k));
		/* A key goes only with room for at least "" after it. */
		if (l->len + (size_t)(f - k) + 4 > l->limit) {
			l->full = 1;
			break;
		}
		put(l, " ", 1);
		put(l, k, (size_t)(f - k + 1));
		f++;
		vlen = 0;
		while (*f && *f != ' ') {
			if (*f == '%' && f[1] == '%') {
				f += 2;
				if (vlen + 1 < sizeof(val))
					val[vlen++] = '%';
			} else if (*f == '%') {
				f++;
				convert(&f, ap, fields, val + vlen,
				    sizeof(val) - vlen);
				vlen += strlen(val + vlen);
				assert(vlen < sizeof(val));	/* snprintf's NUL */
			} else if (vlen + 1 < sizeof(val))
				val[vlen++] = *f++;
			else
				f++;
		}
		put_value(l, val, vlen);
	}
}

/* The line into OUT (LEN bytes, '\n' and NUL included); its length. */
static size_t
vformat(char *out, size_t len, const char *prefix, enum log_level level,
    const char *event, const char *fields, va_list *ap)
{
	struct line l = { .p = out, .len = 0 };

	if (len < sizeof(TRUNCATED) + 2 + strlen(prefix)) {
		if (len > 0)
			out[0] = '\0';
		return 0;
	}
	l.limit = len - sizeof(TRUNCATED) - 1;	/* '\n' and NUL */
	put(&l, prefix, strlen(prefix));
	put(&l, "level=", 6);
	put(&l, log_level_name(level), strlen(log_level_name(level)));
	put(&l, " event=", 7);
	put_value(&l, event, strlen(event));
	put_fields(&l, fields, ap);
	if (l.full) {
		memcpy(out + l.len, TRUNCATED, sizeof(TRUNCATED) - 1);
		l.len += sizeof(TRUNCATED) - 1;
	}
	assert(l.len + 2 <= len);	/* '\n' and the NUL fit: limit kept room */
	/* A line is always one line: values are escaped, keys are plain. */
	assert(memchr(out, '\n', l.len) == NULL);
	out[l.len++] = '\n';
	out[l.len] = '\0';
	return l.len;
}

size_t
log_format(char *out, size_t len, enum log_level level, const char *event,
    const char *fields, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fields);
	n = vformat(out, len, "", level, event, fields, &ap);
	va_end(ap);
	return n;
}

void
log_event(enum log_level level, const char *event, const char *fields, ...)
{
	char line[LOG_LINE_MAX], prefix[8] = "";
	va_list ap;
	size_t n;
	ssize_t w;

	if (level > log_level)
		return;
	if (log_journal)
		snprintf(prefix, sizeof(prefix), "<%d>", (int)level);
	va_start(ap, fields);
	n = vformat(line, sizeof(line), prefix, level, event, fields, &ap);
	va_end(ap);
	assert(n > 0 && n < sizeof(line));	/* LOG_LINE_MAX holds any frame */
	/* One write per line keeps lines whole when others share stderr. */
	do
		w = write(STDERR_FILENO, line, n);
	while (w < 0 && errno == EINTR);
}
