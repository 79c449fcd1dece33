/*
 * timeutil.c — monotonic and wall clocks, RFC 3339 formatting.
 */
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t time_mono_ms(void) { return clock_ns(CLOCK_MONOTONIC) / 1000000u; }
uint64_t time_wall_ms(void) { return clock_ns(CLOCK_REALTIME) / 1000000u; }

void time_format_rfc3339(uint64_t wall_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000));
}

void time_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void time_deadline(struct timespec *ts, uint64_t ms_from_now)
{
	clock_gettime(CLOCK_REALTIME, ts);
	uint64_t ns = (uint64_t)ts->tv_nsec + (ms_from_now % 1000) * 1000000u;
	ts->tv_sec += (time_t)(ms_from_now / 1000 + ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}
