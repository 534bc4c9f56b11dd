/* buf: growth, NUL termination, formatting, steal/reset/free. */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void
test_append_grows_and_terminates(void **state)
{
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[26], 'a');
	assert_int_equal(buf_append(&b, "\0x", 2), 0);	/* binary safe */
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
	assert_int_equal(buf_puts(&b, "hello"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "again"), 0);
	p = buf_steal(&b);
	assert_string_equal(p, "again");
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	free(p);
}

static void
test_reserve_overflow(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -ENOMEM);
	assert_string_equal(b.data, "x");	/* untouched */
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_grows_and_terminates),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_reset_and_steal),
		cmocka_unit_test(test_reserve_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
