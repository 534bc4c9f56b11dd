/*
 * dbl: the shortest round-trip precision among 15, 16, 17, as %g prints
 * it. See dbl.h.
 *
 * The fast path takes 1e-4 <= d < 1e15, where %g prints fixed-point and
 * every product below fits in 128 bits: d = m / 2^k with m < 2^53 and
 * 3 <= k <= 66, the scale 10^s has s <= 20. For a precision p it rounds
 * m * 10^s / 2^k half to even (as glibc's printf does) and checks that
 * the decimal lies inside d's rounding interval, ties going to the even
 * mantissa (as strtod does). No floating-point operation decides a digit.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dbl.h"

size_t
dbl_fmt_libc(char *dst, double d)
{
	int prec, n;

	if (!isfinite(d))
		d = 0;
	for (prec = 15; prec < 17; prec++) {
		snprintf(dst, DBL_FMT_MAX, "%.*g", prec, d);
		if (strtod(dst, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(dst, DBL_FMT_MAX, "%.17g", d);
	n = (int)strlen(dst);
	if (dst[strspn(dst, "-0123456789")] == '\0') {
		memcpy(dst + n, ".0", 3);
		n += 2;
	}
	assert(n > 0 && n < DBL_FMT_MAX);	/* %.17g and ".0" fit, with the NUL */
	return (size_t)n;
}

#ifdef __SIZEOF_INT128__

typedef unsigned __int128 u128;

static u128
dbl_pow10(int n)
{
	u128 r = 1;

	while (n-- > 0)
		r *= 10;
	return r;
}

/* -1, 0, 1 as N / 10^U is below, at or above M / 2^K. */
static int
dbl_cmp(uint64_t n, int u, uint64_t m, int k)
{
	u128 a = (u128)n << k, b = (u128)m * dbl_pow10(u);

	/* Both products fit 128 bits only inside the fast range (dbl.c). */
	assert(u >= 0 && u <= 20 && k >= 3 && k <= 68);
	return a < b ? -1 : a > b;
}

/*
 * The P significant digits of m / 2^k rounded half to even, in *N, and
 * the decimal exponent X of the result (after a carry). 0, or -1 if the
 * digits do not fall where the caller's range promised.
 */
static int
dbl_round(uint64_t m, int k, int p, int x0, uint64_t *n, int *x)
{
	u128 lo = dbl_pow10(p - 1), hi = lo * 10, v, q, r, half;
	int s;

	/* d = m / 2^k, m a normal double's 53-bit mantissa, 3 <= k <= 66. */
	assert(m >> 52 == 1 && k >= 3 && k <= 66);
	for (;;) {
		s = p - 1 - x0;
		if (s < 0 || s > 20)
			return -1;
		v = (u128)m * dbl_pow10(s);
		q = v >> k;
		if (q < lo)
			x0--;
		else if (q >= hi)
			x0++;
		else
			break;
	}
	r = v & (((u128)1 << k) - 1);
	half = (u128)1 << (k - 1);
	if (r > half || (r == half && (q & 1)))
		q++;
	if (q == hi) {
		q /= 10;
		x0++;
	}
	assert(q >= lo && q < hi);	/* exactly P digits, after any carry */
	*n = (uint64_t)q;
	*x = x0;
	return 0;
}

/* N * 10^(X-P+1) reads back as m / 2^k (strtod rounds half to even). */
static int
dbl_reads_back(uint64_t n, int p, int x, uint64_t m, int k)
{
	int u = p - 1 - x, c;

	/* Above the midpoint with the next double up, (2m+1) / 2^(k+1)? */
	c = dbl_cmp(n, u, 2 * m + 1, k + 1);
	if (c > 0 || (c == 0 && (m & 1)))
		return 0;
	/* The gap below is half as wide at the bottom of a binade. */
	if (m == (uint64_t)1 << 52)
		c = dbl_cmp(n, u, 4 * m - 1, k + 2);
	else
		c = dbl_cmp(n, u, 2 * m - 1, k + 1);
	return !(c < 0 || (c == 0 && (m & 1)));
}

/* %g of P digits N at exponent X, -4 <= X < P: fixed, no trailing zeros. */
static size_t
dbl_put(char *dst, uint64_t n, int p, int x)
{
	char dig[20];
	size_t len = 0;
	int i, last;

	/* %g prints fixed-point here; the digits fit dig[] and DST. */
	assert(p >= 15 && p <= 17 && x >= -4 && x < p);
	for (i = p - 1; i >= 0; i--) {
		dig[i] = (char)('0' + n % 10);
		n /= 10;
	}
	for (last = p - 1; last > 0 && dig[last] == '0'; last--)
		;
	if (x < 0) {
		dst[len++] = '0';
		dst[len++] = '.';
		for (i = -1; i > x; i--)
			dst[len++] = '0';
		memcpy(dst + len, dig, (size_t)last + 1);
		len += (size_t)last + 1;
	} else {
		memcpy(dst + len, dig, (size_t)x + 1);
		len += (size_t)x + 1;
		if (last > x) {
			dst[len++] = '.';
			memcpy(dst + len, dig + x + 1, (size_t)(last - x));
			len += (size_t)(last - x);
		} else {	/* an integer: ".0" keeps it a JSON float */
			dst[len++] = '.';
			dst[len++] = '0';
		}
	}
	dst[len] = '\0';
	assert(len < DBL_FMT_MAX);	/* the caller's buffer holds it */
	return len;
}

size_t
dbl_fmt(char *dst, double d)
{
	uint64_t m, n;
	int e, k, p, x, x0;

	if (!(d >= 1e-4 && d < 1e15))
		return dbl_fmt_libc(dst, d);
	m = (uint64_t)ldexp(frexp(d, &e), 53);	/* exact: d = m * 2^(e-53) */
	k = 53 - e;
	x0 = (int)floor(log10(d));	/* a guess; dbl_round corrects it */
	for (p = 15; p <= 17; p++) {
		if (dbl_round(m, k, p, x0, &n, &x) < 0 || x < -4 || x >= p)
			return dbl_fmt_libc(dst, d);
		if (p == 17 || dbl_reads_back(n, p, x, m, k))
			return dbl_put(dst, n, p, x);
	}
	return dbl_fmt_libc(dst, d);	/* not reached */
}

#else	/* no 128-bit integers: libc only */

size_t
dbl_fmt(char *dst, double d)
{
	return dbl_fmt_libc(dst, d);
}

#endif
