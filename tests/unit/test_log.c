/* log: the logfmt line, its quoting, truncation and the journal prefix. */
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void
test_fields(void **state)
{
	char line[512];

	(void)state;
	log_format(line, sizeof(line), LOG_L_INFO, "job.running",
	    "job=%lld site=%s attempt=%u", 12LL, "cns", 1u);
	assert_string_equal(line, "level=info event=job.running job=12 "
	    "site=cns attempt=1\n");
	log_format(line, sizeof(line), LOG_L_WARN, "job.end",
	    "duration_s=%.3f size=%zu id=%lu x=%x", 1.5, (size_t)7, 9ul, 255u);
	assert_string_equal(line, "level=warning event=job.end "
	    "duration_s=1.500 size=7 id=9 x=ff\n");
	/* Literal text and conversions make one value, quoted as a whole. */
	log_format(line, sizeof(line), LOG_L_ERR, "a.b", "path=%s/%s pct=50%%",
	    "/srv/my site", "x");
	assert_string_equal(line, "level=error event=a.b path=\"/srv/my "
	    "site/x\" pct=50%\n");
}

static void
test_quoting(void **state)
{
	char line[512];

	(void)state;
	log_format(line, sizeof(line), LOG_L_DEBUG, "e", "a=%s b=%s c=%s d=%s",
	    "", "say \"hi\"", "back\\slash", "k=v");
	assert_string_equal(line, "level=debug event=e a=\"\" "
	    "b=\"say \\\"hi\\\"\" c=\"back\\\\slash\" d=\"k=v\"\n");
	/* A newline never splits the event; control bytes are escaped. */
	log_format(line, sizeof(line), LOG_L_INFO, "e", "error=%s",
	    "two\nlines\tand\r\x01");
	assert_string_equal(line, "level=info event=e "
	    "error=\"two\\nlines\\tand\\r\\x01\"\n");
	/* UTF-8 needs no quotes. */
	log_format(line, sizeof(line), LOG_L_INFO, "e", "site=%s", "Käfer");
	assert_string_equal(line, "level=info event=e site=Käfer\n");
}

/* A line longer than the buffer is cut between escapes, still well-formed. */
static void
test_truncation(void **state)
{
	char line[80], big[300];
	size_t n;

	(void)state;
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = log_format(line, sizeof(line), LOG_L_INFO, "e", "a=1 error=%s b=2",
	    big);
	assert_int_equal(n, strlen(line));
	assert_true(n < sizeof(line));
	assert_string_equal(line + n - strlen("\" truncated=1\n"),
	    "\" truncated=1\n");
	/* Escaped quotes come in pairs: no dangling backslash. */
	assert_non_null(strstr(line, "a=1 error=\"\\\"\\\""));
	assert_null(strstr(line, "b=2"));
	memset(big, 'x', sizeof(big) - 1);
	n = log_format(line, sizeof(line), LOG_L_INFO, "e", "error=%s", big);
	assert_true(n < sizeof(line));
	assert_string_equal(line + n - strlen("x truncated=1\n"),
	    "x truncated=1\n");
}

/* Read what FN logs to stderr (redirected to a temp file). */
static void
capture(const char *journal, enum log_level lv, char *out, size_t len)
{
	char path[] = "/tmp/qp-test-log.XXXXXX", env[64];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct stat st;
	ssize_t n;

	assert_true(fd >= 0);
	dup2(fd, STDERR_FILENO);
	fstat(fd, &st);
	if (journal != NULL && strcmp(journal, "ours") == 0) {
		snprintf(env, sizeof(env), "%llu:%llu",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", env, 1);
	} else if (journal != NULL)
		setenv("JOURNAL_STREAM", journal, 1);
	else
		unsetenv("JOURNAL_STREAM");
	log_init(lv);
	log_info("job.queued", "job=%d site=%s", 3, "a");
	log_debug("job.debug", "job=%d", 3);
	log_err("store.write_failed", "job=%d error=%s", 3, "disk full");
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

static void
test_journal_prefix(void **state)
{
	char got[1024];

	(void)state;
	capture(NULL, LOG_L_INFO, got, sizeof(got));
	assert_string_equal(got, "level=info event=job.queued job=3 site=a\n"
	    "level=error event=store.write_failed job=3 error=\"disk full\"\n");
	/* Our stderr is the journal's stream: "<N>" priorities. */
	capture("ours", LOG_L_DEBUG, got, sizeof(got));
	assert_string_equal(got, "<6>level=info event=job.queued job=3 site=a\n"
	    "<7>level=debug event=job.debug job=3\n"
	    "<3>level=error event=store.write_failed job=3 error=\"disk full\"\n");
	/* Inherited for another stream (stderr redirected): no prefix. */
	capture("1:2", LOG_L_ERR, got, sizeof(got));
	assert_string_equal(got, "level=error event=store.write_failed job=3 "
	    "error=\"disk full\"\n");
	unsetenv("JOURNAL_STREAM");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_journal_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
