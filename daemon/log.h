/*
 * log: the daemon's log lines on stderr, one event per line in logfmt:
 *
 *	level=info event=job.end job=12 site=cns state=succeeded stage=done
 *
 * "level" and "event" come first; then the caller's KEY=value fields. A
 * value holding a space, a quote, '=', a backslash or a control character
 * (or empty) is double-quoted with \" \\ \n \r \t \xHH escapes, so a line
 * is always one line and splits unambiguously. Under systemd (JOURNAL_STREAM
 * names our stderr) each line also starts with its syslog priority "<N>",
 * which the journal strips and records as PRIORITY. docs/daemon.md lists
 * the events and fields. Nothing logged ever holds a token: callers pass
 * names, ids, paths and the pipeline's one-line errors, none of which
 * carry one.
 *
 * The module holds the process-wide level and journal flag: logging is a
 * property of the process, and passing a handle to every call site would
 * buy nothing.
 */
#ifndef QP_LOG_H
#define QP_LOG_H

#include <stddef.h>

enum log_level { LOG_L_ERR = 3, LOG_L_WARN = 4, LOG_L_INFO = 6, LOG_L_DEBUG = 7 };

#define LOG_LINE_MAX	4096	/* longer lines end with truncated=1 */

/* Reads JOURNAL_STREAM once. */
void	 log_init(enum log_level level);
void	 log_set_level(enum log_level level);
int	 log_level_parse(const char *name);	/* -1: unknown */
const char *log_level_name(enum log_level level);

/*
 * Log EVENT (a dotted name, e.g. "job.end") with FIELDS: "KEY=VALUE ..."
 * where each VALUE is literal text and printf conversions (%s %d %u %ld
 * %lu %lld %llu %zu %x %g %f, with flags, width and precision; no '*'),
 * quoted as a whole when it needs it. KEY is [a-z0-9_]. FIELDS may be "".
 */
void	 log_event(enum log_level level, const char *event, const char *fields,
	    ...) __attribute__((format(printf, 3, 4)));

#define log_err(...)	log_event(LOG_L_ERR, __VA_ARGS__)
#define log_warn(...)	log_event(LOG_L_WARN, __VA_ARGS__)
#define log_info(...)	log_event(LOG_L_INFO, __VA_ARGS__)
#define log_debug(...)	log_event(LOG_L_DEBUG, __VA_ARGS__)

/*
 * Test seams: exported for tests/unit/test_log.c, called by nothing in
 * the daemon.
 * log_format: one line as log_event would write it, without the "<N>".
 */
size_t	 log_format(char *out, size_t len, enum log_level level,
	    const char *event, const char *fields, ...)
	    __attribute__((format(printf, 5, 6)));

#endif
