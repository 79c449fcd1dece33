/*
 * timeutil.h — clocks.  Monotonic time for durations and deadlines, wall time
 * for timestamps that people and audit logs read.
 */
#ifndef DRORCH_TIMEUTIL_H
#define DRORCH_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

uint64_t time_mono_ns(void);
uint64_t time_mono_ms(void);
uint64_t time_wall_ms(void);            /* milliseconds since the Unix epoch */
/* Formats a wall-clock ms timestamp as RFC 3339 UTC with milliseconds. */
void time_format_rfc3339(uint64_t wall_ms, char *buf, size_t len);
void time_sleep_ms(uint64_t ms);
/* The CLOCK_REALTIME instant ms_from_now from now, as pthread_cond_timedwait
 * wants its deadline (condition variables use the realtime clock by default). */
void time_deadline(struct timespec *ts, uint64_t ms_from_now);

#endif
