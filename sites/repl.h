/*
 * repl.h — what a replica reads from its primary, decoded without a site:
 * the 200 answer to a WAL fetch (a binary shipping frame or its JSON form,
 * both described at the top of repl.c) and the 409 answer that names where
 * two logs diverged.  Pure functions of the bytes received, so the
 * follower (repl.c) and the fuzz targets (tests/fuzz/) run the same code.
 */
#ifndef DRORCH_REPL_H
#define DRORCH_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

/* The records of one shipment, walked in order by repl_batch_next. */
struct repl_batch {
	uint64_t primary_last_lsn;     /* the primary's last LSN, as the answer says */
	uint64_t primary_last_commit_ms; /* its commit time (format-2 frame; 0 unknown) */
	uint8_t format;                /* the frame's format: no record may be newer */
	const unsigned char *records;  /* WAL records encoded as in the segment files */
	size_t len;
	size_t off;                    /* where the next record starts */
	uint64_t next_lsn;             /* the LSN the next record must carry */
	uint64_t epoch;                /* no record may be of a newer epoch */
	unsigned char *owned;          /* JSON framing: the re-encoded records */
};

/*
 * Opens the body of a 200 answer to a fetch from `from` by a replica at
 * epoch: checks the frame (binary) or re-encodes every record and checks
 * its CRC (json).  The batch points into body, which must outlive it.
 * 0, or -1 with err set; free with repl_batch_free either way.
 */
int repl_batch_open(struct repl_batch *b, const char *body, size_t len, bool json,
		    uint64_t epoch, uint64_t from, char *err, size_t errlen);
/*
 * The next record (key and value point into the batch): 1; 0 at the end;
 * -1 with err set when it fails its CRC, does not carry the next LSN or is
 * of a newer epoch than the replica's (nothing after it is read).
 */
int repl_batch_next(struct repl_batch *b, struct wal_record *r, char *err, size_t errlen);
void repl_batch_free(struct repl_batch *b);

/* The LSN a 409 answer says the logs diverged at, or 0 if it is about
 * something else. */
uint64_t repl_diverged_lsn(const char *body, size_t len);

#endif
