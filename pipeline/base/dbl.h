/*
 * dbl: a double as the shortest of %.15g, %.16g that reads back as the
 * same double, else %.17g: the number format of types.json. Exact, and
 * about twenty times faster than snprintf plus strtod for the percentages
 * of a large index; values outside its fast range go through libc.
 */
#ifndef QP_DBL_H
#define QP_DBL_H

#include <stddef.h>

#define DBL_FMT_MAX	40	/* room for any result and its NUL */

/* Writes into DST (at least DBL_FMT_MAX bytes); returns the length. */
size_t	 dbl_fmt(char *dst, double d);

/* The reference dbl_fmt must equal: snprintf and strtod (for tests). */
size_t	 dbl_fmt_libc(char *dst, double d);

#endif
