/*
 * format.h — which versions of drsite's on-disk and wire formats this build
 * of drsite reads and writes, and the binary version that follows from it.
 *
 * Format 1 (drsite 0.1.0): WAL records, snapshots and shipping frames as
 * described at the top of wal.c, snapshot.c and repl.c.  Format 2 (drsite
 * 0.2.0) adds to each WAL record its commit time (ms since the Unix epoch,
 * stamped by the primary that accepted it), to a snapshot the commit time of
 * its last record, and to a shipping frame the primary's newest commit time,
 * which make replica lag and RPO exact in milliseconds.
 *
 * One set of sources builds both programs: `drsite` (DRSITE_FORMAT_MAX 2,
 * version 0.2.0) and `drsite-0.1.0` (DRSITE_FORMAT_MAX 1, version 0.1.0),
 * in which every format-2 reader and writer is compiled out.  A build
 * recognises a newer format's magic only to refuse it with a clear error,
 * never to read it.
 *
 * The FCV discipline (MongoDB's): a 0.2.0 site reads formats 1 and 2 but
 * writes format 1 (disk and wire) until the cluster's FCV is 0.2.0; from
 * then on it writes format 2.  site.c decides the format it writes from its
 * FCV (format_for_fcv); the WAL, snapshot and shipping code write whatever
 * format they are told.
 */
#ifndef DRORCH_FORMAT_H
#define DRORCH_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "version.h"

#ifndef DRSITE_FORMAT_MAX
#define DRSITE_FORMAT_MAX 2
#endif

#if DRSITE_FORMAT_MAX >= 2
#define DRSITE_VERSION "0.2.0"
#define DRSITE_FORMATS "1,2"
#else
#define DRSITE_VERSION "0.1.0"
#define DRSITE_FORMATS "1"
#endif

/* The FCV from which a site writes format 2. */
#define FORMAT2_FCV "0.2.0"

/* The format a site at fcv writes: 2 from FORMAT2_FCV on (when this build
 * has it), else 1.  Pure. */
static inline uint8_t format_for_fcv(const struct version *fcv)
{
#if DRSITE_FORMAT_MAX >= 2
	struct version f2;
	if (version_parse(FORMAT2_FCV, &f2) && version_cmp(fcv, &f2) >= 0)
		return 2;
#else
	(void)fcv;
#endif
	return 1;
}

/* Whether this build reads format f. */
static inline bool format_readable(unsigned f)
{
	return f >= 1 && f <= DRSITE_FORMAT_MAX;
}

#endif
