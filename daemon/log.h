/*
 * log: the daemon's log lines on stderr. Under systemd (JOURNAL_STREAM
 * names our stderr) each line starts with a syslog priority "<N>" so the
 * journal files it at the right level; otherwise lines read
 * "quickpaged: LEVEL: message".
 *
 * The module holds the process-wide level and journal flag: logging is a
 * property of the process, and passing a handle to every call site would
 * buy nothing.
 */
#ifndef QP_LOG_H
#define QP_LOG_H

enum log_level { LOG_L_ERR = 3, LOG_L_WARN = 4, LOG_L_INFO = 6, LOG_L_DEBUG = 7 };

/* Reads JOURNAL_STREAM once. */
void	 log_init(enum log_level level);
void	 log_set_level(enum log_level level);
int	 log_level_parse(const char *name);	/* -1: unknown */
const char *log_level_name(enum log_level level);
void	 log_msg(enum log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_L_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_L_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_L_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_L_DEBUG, __VA_ARGS__)

#endif
