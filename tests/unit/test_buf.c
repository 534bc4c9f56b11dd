/*
 * buf: growth, NUL termination, formatting, steal/reset/free, and the
 * out-of-memory policy it allocates by (a message, then abort).
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/xmalloc.h"

/*
 * Under ASan an impossible allocation returns NULL, as glibc's does,
 * instead of ASan ending the process itself: the policy is what is tested.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void
test_append_grows_and_terminates(void **state)
{
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < 10000; i++)
		buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[26], 'a');
	buf_append(&b, "\0x", 2);	/* binary safe */
	assert_int_equal(b.len, 10002);
	assert_int_equal(b.data[10000], '\0');
	assert_int_equal(b.data[10001], 'x');
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void
test_printf(void **state)
{
	struct buf b = BUF_INIT;
	char big[5000];

	(void)state;
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "42-x");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "[%s]", big), 0);	/* past one growth */
	assert_int_equal(b.len, 4 + 2 + sizeof(big) - 1);
	assert_int_equal(b.data[b.len - 1], ']');
	buf_free(&b);
}

static void
test_reset_and_steal(void **state)
{
	struct buf b = BUF_INIT;
	char *p;

	(void)state;
	p = buf_steal(&b);		/* empty buffer: an empty string */
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
	buf_puts(&b, "hello");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_puts(&b, "again");
	p = buf_steal(&b);
	assert_string_equal(p, "again");
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	free(p);
}

/* Run FN in a child: it must die of SIGABRT having said MSG on stderr. */
static void
expect_abort(void (*fn)(void), const char *msg)
{
	struct rlimit nocore = { 0, 0 };
	char out[512];
	size_t len = 0;
	ssize_t n;
	int fd[2], status;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &nocore);
		dup2(fd[1], STDERR_FILENO);
		close(fd[0]);
		fn();
		_exit(0);
	}
	close(fd[1]);
	while (len < sizeof(out) - 1 &&
	    (n = read(fd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, msg));
}

static void
reserve_past_size_max(void)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "x");
	buf_reserve(&b, SIZE_MAX);
}

static void
reserve_too_much(void)
{
	struct buf b = BUF_INIT;

	buf_reserve(&b, SIZE_MAX / 2);
}

/* No size or memory is large enough: the process says so and aborts. */
static void
test_reserve_impossible_aborts(void **state)
{
	char msg[80];

	(void)state;
	snprintf(msg, sizeof(msg), "quickpage: out of memory allocating %zu "
	    "bytes", SIZE_MAX);
	expect_abort(reserve_past_size_max, msg);
	snprintf(msg, sizeof(msg), "quickpage: out of memory allocating %zu "
	    "bytes", SIZE_MAX / 2 + 1);
	expect_abort(reserve_too_much, msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_grows_and_terminates),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_reset_and_steal),
		cmocka_unit_test(test_reserve_impossible_aborts),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
