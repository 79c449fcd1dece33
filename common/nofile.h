/*
 * nofile.h — the process's open-file limit.
 *
 * Each HTTP connection costs a descriptor (drlink's proxied ones two), and
 * the soft RLIMIT_NOFILE is often 1024 while the hard limit is far higher,
 * so every daemon raises its soft limit to the hard one at start, after
 * log_init() and before its first server: http_server_start() sizes its
 * connection cap from the soft limit it finds (see http.h).
 */
#ifndef DRORCH_NOFILE_H
#define DRORCH_NOFILE_H

#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard limit, logging a warning
 * (event nofile.not_raised) if it cannot; returns the soft limit in force. */
uint64_t nofile_raise(void);

/* The soft RLIMIT_NOFILE in force (RLIM_INFINITY as UINT64_MAX). */
uint64_t nofile_soft(void);

#endif
