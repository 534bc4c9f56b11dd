/*
 * dbl: the fast formatter gives exactly the text of the snprintf/strtod
 * reference (types.json must not change by a byte), over the values an
 * index holds (percentages of integer counts), random bit patterns in and
 * around the fast range, and the edges: binade bottoms, powers of ten,
 * exact ties, carries to the next power of ten.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/dbl.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
same(double d)
{
	char a[DBL_FMT_MAX], b[DBL_FMT_MAX];
	size_t na = dbl_fmt(a, d), nb = dbl_fmt_libc(b, d);

	if (na != nb || strcmp(a, b) != 0)
		fail_msg("%a: fast \"%s\", reference \"%s\"", d, a, b);
	assert_int_equal(na, strlen(a));
}

static void
test_known_texts(void **state)
{
	char t[DBL_FMT_MAX];

	(void)state;
	dbl_fmt(t, 12.5);
	assert_string_equal(t, "12.5");
	dbl_fmt(t, 100);
	assert_string_equal(t, "100.0");
	dbl_fmt(t, 0.1);
	assert_string_equal(t, "0.1");
	dbl_fmt(t, 100.0 / 3);
	assert_string_equal(t, "33.333333333333336");
	dbl_fmt(t, 0);
	assert_string_equal(t, "0.0");
	dbl_fmt(t, 0.00012);
	assert_string_equal(t, "0.00012");
	dbl_fmt(t, 1e-5);
	assert_string_equal(t, "1e-05");
	dbl_fmt(t, NAN);
	assert_string_equal(t, "0.0");
}

static void
test_percentages(void **state)
{
	uint64_t a, b;

	(void)state;
	/* What roi.c computes: 100 * part / whole of synapse counts. */
	for (b = 1; b <= 3000; b++)
		for (a = 0; a <= b; a += 1 + b / 97)
			same(100.0 * (double)a / (double)b);
	for (b = 0; b < 200000; b++) {
		a = next() % 10000000 + 1;
		same(100.0 * (double)(next() % (a + 1)) / (double)a);
	}
}

static void
test_random_bits(void **state)
{
	uint64_t bits;
	double d;
	int i;

	(void)state;
	for (i = 0; i < 300000; i++) {
		/* exponents from about 2^-20 to 2^56: the range and past it */
		bits = (next() & 0x000fffffffffffffu) |
		    (uint64_t)(1023 - 20 + next() % 77) << 52;
		memcpy(&d, &bits, sizeof(d));
		same(d);
	}
}

static void
test_edges(void **state)
{
	double d, p;
	int e, i;

	(void)state;
	for (e = -20; e < 56; e++) {
		d = ldexp(1, e);	/* binade bottoms and their neighbours */
		same(d);
		same(nextafter(d, 0));
		same(nextafter(d, INFINITY));
	}
	for (e = -6; e <= 16; e++) {
		p = pow(10, e);
		same(p);
		for (d = p, i = 0; i < 40; i++)
			same(d = nextafter(d, 0));
		for (d = p, i = 0; i < 40; i++)
			same(d = nextafter(d, INFINITY));
	}
	for (i = 1; i < 4096; i++)
		same((double)i / 64);	/* exact binary fractions: ties */
	same(99.999999999999986);
	same(9.9999999999999995e-05);
	same(999999999999999.88);
	same(-1.5);
	same(1e300);
	same(5e-324);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_texts),
		cmocka_unit_test(test_percentages),
		cmocka_unit_test(test_random_bits),
		cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
