/*
 * decimal.h — reading an unsigned decimal number from text, strictly.
 *
 * One rule for every number a person, a header or a query argument gives:
 * one or more ASCII digits and nothing else.  No sign, no leading or
 * trailing space, no hex, no empty string, no value past UINT64_MAX.
 * strtoull(3) alone lets " 7", "+7" and "-7" (as 2^64 - 7) through, which
 * is why the callers do not use it directly.  Pure: no allocation, no errno.
 */
#ifndef DRORCH_DECIMAL_H
#define DRORCH_DECIMAL_H

#include <stdint.h>

enum {
	DECIMAL_OK = 0,
	DECIMAL_BAD = -1,    /* not one or more digits alone */
	DECIMAL_RANGE = -2,  /* digits, but more than UINT64_MAX */
};

/* DECIMAL_OK with *out set, or DECIMAL_BAD / DECIMAL_RANGE with *out
 * unchanged.  text may be NULL (DECIMAL_BAD). */
int decimal_u64(const char *text, uint64_t *out);

/* decimal_u64 within [min, max]: a value outside is DECIMAL_RANGE. */
int decimal_u64_in(const char *text, uint64_t min, uint64_t max, uint64_t *out);

#endif
