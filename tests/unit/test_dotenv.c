/*
 * dotenv: the token lines neuView's ./.env holds, read as python-dotenv
 * reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/dotenv.h"
#include "base/xmalloc.h"

static char path[] = "/tmp/qp-dotenv-XXXXXX";

static void
write_env(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
expect(const char *text, const char *name, const char *want)
{
	char *v;

	write_env(text);
	v = dotenv_get(path, name);
	if (want == NULL) {
		if (v != NULL)
			fail_msg("%s: got '%s', want none", name, v);
		return;
	}
	if (v == NULL)
		fail_msg("%s: none, want '%s' in <<%s>>", name, want, text);
	assert_string_equal(v, want);
	free(v);
}

static void
test_forms(void **state)
{
	(void)state;
	expect("NEUPRINT_TOKEN=abc.def-1\n", "NEUPRINT_TOKEN", "abc.def-1");
	expect("export NEUPRINT_TOKEN=abc\n", "NEUPRINT_TOKEN", "abc");
	expect("  NEUPRINT_TOKEN = abc  \n", "NEUPRINT_TOKEN", "abc");
	expect("NEUPRINT_TOKEN='a b # c'\n", "NEUPRINT_TOKEN", "a b # c");
	expect("NEUPRINT_TOKEN=\"a\\\"b\\\\c\"\n", "NEUPRINT_TOKEN", "a\"b\\c");
	expect("NEUPRINT_TOKEN=abc # the lab's\n", "NEUPRINT_TOKEN", "abc");
	expect("NEUPRINT_TOKEN=abc#def\n", "NEUPRINT_TOKEN", "abc#def");
	expect("NEUPRINT_TOKEN=abc", "NEUPRINT_TOKEN", "abc");	/* no newline */
	expect("NEUPRINT_TOKEN=abc\r\n", "NEUPRINT_TOKEN", "abc");
	/* the last one wins, as python-dotenv's */
	expect("NEUPRINT_TOKEN=one\nNEUPRINT_TOKEN=two\n", "NEUPRINT_TOKEN", "two");
}

static void
test_not_there(void **state)
{
	(void)state;
	expect("# NEUPRINT_TOKEN=abc\n", "NEUPRINT_TOKEN", NULL);
	expect("NEUPRINT_TOKEN_OLD=abc\n", "NEUPRINT_TOKEN", NULL);
	expect("XNEUPRINT_TOKEN=abc\n", "NEUPRINT_TOKEN", NULL);
	expect("NEUPRINT_TOKEN\n", "NEUPRINT_TOKEN", NULL);
	expect("", "NEUPRINT_TOKEN", NULL);
	assert_null(dotenv_get("/nonexistent/.env", "NEUPRINT_TOKEN"));
}

/* A line past the buffer is skipped whole: its tail is not a line. */
static void
test_long_line(void **state)
{
	size_t n = 20000;
	char *text = xmalloc(n + 64);

	(void)state;
	memcpy(text, "JUNK=", 5);
	memset(text + 5, 'x', n);
	strcpy(text + 5 + n - 20, "\nNEUPRINT_TOKEN=t\n");
	expect(text, "NEUPRINT_TOKEN", "t");
	memcpy(text, "JUNK=", 5);
	memset(text + 5, 'x', n);
	strcpy(text + 8192 - 1, "NEUPRINT_TOKEN=bad\n");
	expect(text, "NEUPRINT_TOKEN", NULL);
	free(text);
}

/*
 * A NUL right after a chunk of a long line: fgets gives a chunk that reads
 * as empty, and the reader once looked at the byte before its buffer
 * (ASan: stack-buffer-underflow). The lines after it still count.
 */
static void
test_nul_after_long_line(void **state)
{
	static const char tail[] = "\0\nNEUPRINT_TOKEN=t\n";
	size_t n = 8192 - 1;
	char *text = xmalloc(n + sizeof(tail));
	FILE *f;
	char *v;

	(void)state;
	memset(text, 'x', n);
	memcpy(text + n, tail, sizeof(tail) - 1);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, n + sizeof(tail) - 1, f),
	    n + sizeof(tail) - 1);
	assert_int_equal(fclose(f), 0);
	v = dotenv_get(path, "NEUPRINT_TOKEN");
	assert_non_null(v);
	assert_string_equal(v, "t");
	free(v);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_not_there),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_nul_after_long_line),
	};
	int fd, rc;

	xmalloc_install();
	if ((fd = mkstemp(path)) < 0)
		return 1;
	close(fd);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return rc;
}
