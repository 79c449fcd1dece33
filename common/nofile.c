/*
 * nofile.c — the process's open-file limit (see nofile.h).
 */
#include "nofile.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

static uint64_t as_u64(rlim_t v)
{
	return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

uint64_t nofile_soft(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? as_u64(rl.rlim_cur) : 0;
}

uint64_t nofile_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
		return nofile_soft();
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_event(LOG_WARN, "nofile.not_raised", "{s:I, s:I, s:s}",
			  "soft", (json_int_t)as_u64(was), "hard", (json_int_t)as_u64(rl.rlim_max),
			  "error", strerror(errno));
	return nofile_soft();
}
