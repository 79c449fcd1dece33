/*
 * benchutil.h — small helpers the bench programs (kvload, replstat,
 * encbench) share: parsing a bounded integer option and nearest-rank
 * percentiles of sorted samples.
 */
#ifndef DRORCH_BENCHUTIL_H
#define DRORCH_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses a decimal s into *out when lo <= value <= hi; 0, or -1 when s is
 * empty, signed, not all digits, out of range or overflows. */
int bench_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* qsort comparator for uint64_t, ascending. */
int bench_cmp_u64(const void *a, const void *b);

/* Nearest-rank percentile p (0..1) of a sorted, non-empty array. */
uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p);

#endif
