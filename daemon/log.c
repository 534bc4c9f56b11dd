/* log: see log.h. */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

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
	log_level = level;
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
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

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line keeps lines whole when others share stderr. */
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	else
		fprintf(stderr, "quickpaged: %s: %s\n", log_level_name(level),
		    line);
}
