/*
 * snapshot.h — checkpoints of the key-value map.
 *
 * Owns the snapshot files under DIR/snap/: writing one atomically (temp file,
 * fsync, rename, fsync of the directory), loading the newest one with every
 * CRC checked, and removing the ones it supersedes.  A checkpoint is a
 * snapshot followed by wal_remove_through(snapshot lsn): that bounds replay.
 */
#ifndef DRORCH_SNAPSHOT_H
#define DRORCH_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

/* Writes the map's state at its applied LSN in format (1 or 2, format.h);
 * *lsn_out gets that LSN. */
int snap_write(struct kv *kv, const char *datadir, uint8_t format, uint64_t *lsn_out,
	       char *err, size_t errlen);

/* snap_load_latest: the newest snapshot failed a CRC or framing check. */
#define SNAP_CORRUPT 1
/* snap_load_latest, snap_decode: the snapshot is of a format this build
 * does not read (a newer drsite wrote it); err says so.  Not damage. */
#define SNAP_FORMAT 2

/*
 * Loads the newest snapshot into an empty map.  0 when none exists (*lsn_out
 * = 0) or it loaded; SNAP_CORRUPT when any CRC or framing check fails (the
 * map may then hold part of it: the caller discards the map and must not
 * serve from it); SNAP_FORMAT when it is of a newer format; -1 when it
 * cannot be read (err names the file).
 */
int snap_load_latest(struct kv *kv, const char *datadir, uint64_t *lsn_out,
		     uint64_t *epoch_out, char *err, size_t errlen);

/*
 * Decodes a snapshot image held in memory (the file format) into kv, which
 * the caller gives empty: every CRC and the framing are checked.  0, with
 * *lsn, *epoch and *commit_ms (0 in format 1) from the header; SNAP_FORMAT
 * when it is of a format this build does not read; SNAP_CORRUPT with err
 * set when a check fails (kv may then hold part of the image: the caller
 * discards it).  The
 * applied position of kv is left to the caller.  Pure: no file, no lock
 * beyond kv's own.  snap_load_latest and snap_install both go through it.
 */
int snap_decode(const unsigned char *buf, size_t len, struct kv *kv, uint64_t *lsn,
		uint64_t *epoch, uint64_t *commit_ms, char *err, size_t errlen);

/* Removes every snapshot file (a rewind interrupted by a crash: the store
 * is rebuilt from the primary).  0, or -1 naming the file. */
int snap_remove_all(const char *datadir, char *err, size_t errlen);

/* The LSN the newest snapshot file's name gives (its content unchecked),
 * as evidence of how far a store that cannot be loaded went; 0: none. */
uint64_t snap_newest_named(const char *datadir);

/* Serialises the map into a malloc'd snapshot image (the file format, in
 * format 1 or 2), for shipping to a replica.  Caller frees *buf. */
int snap_serialise(struct kv *kv, uint8_t format, unsigned char **buf, size_t *len,
		   uint64_t *lsn_out, char *err, size_t errlen);

/*
 * Checks a snapshot image received from a primary (every CRC), stores it
 * atomically as this site's only snapshot (older and newer local ones are
 * removed), and swaps it into kv (with its commit time, kv_info).
 * *lsn_out and *epoch_out describe it.  On any error kv is unchanged.
 */
int snap_install(struct kv *kv, const char *datadir, const unsigned char *buf, size_t len,
		 uint64_t *lsn_out, uint64_t *epoch_out, char *err, size_t errlen);

#endif
