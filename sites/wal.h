/*
 * wal.h — drsite's write-ahead log: durable, ordered, group-committed.
 *
 * Owns the segment files under DIR/wal/, the record encoding, group commit
 * (one write + one fdatasync for every record queued since the last flush),
 * replay and torn-tail truncation at open, and removal of segments that a
 * checkpoint has made unnecessary.  It does not own the key-value state: the
 * caller passes an apply function that the WAL calls, in LSN order, for every
 * record once it is durable (and for every record replayed at open).
 *
 * Threads: wal_append/wal_wait may be called from any number of threads; one
 * internal flusher thread writes, syncs and applies.
 *
 * Errors: functions return 0 or -1 with a message in err[].  After an fsync
 * failure the WAL is failed for good (we cannot know what reached the disk;
 * see PostgreSQL's "fsyncgate"): every waiter and later append gets an error.
 */
#ifndef DRORCH_WAL_H
#define DRORCH_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct histo_snapshot;

enum wal_type { WAL_PUT = 1, WAL_DELETE = 2 };

#define WAL_MAX_KEY   1024u
#define WAL_MAX_VALUE (1024u * 1024u)
#define WAL_HEADER_SIZE 32u          /* a format-1 record's header */
#define WAL_HEADER_SIZE_MAX 40u      /* a format-2 record's (with its commit time) */
#define WAL_SEG_HEADER_SIZE 16u

struct wal_record {
	uint64_t lsn;
	uint64_t epoch;
	uint8_t type;
	uint8_t format;              /* 1 or 2 (0 is taken as 1); see format.h */
	uint64_t commit_ms;          /* format 2: when its primary accepted it (wall ms); 0 unknown */
	const char *key;
	uint32_t key_len;
	const void *value;
	uint32_t value_len;
};

/* Called in LSN order with each durable record; returns 0, or -1 to fail. */
typedef int (*wal_apply_fn)(void *ctx, const struct wal_record *rec);

struct wal_opts {
	const char *dir;             /* the site's data dir; segments in DIR/wal */
	uint64_t segment_bytes;      /* rotate after a segment reaches this size */
	uint64_t replay_after_lsn;   /* records <= this are already in a snapshot */
	uint64_t replay_after_epoch; /* the epoch of the record at replay_after_lsn */
	uint64_t replay_after_commit_ms; /* and its commit time (0: unknown) */
	uint8_t format;              /* the format client records are written in (0: 1) */
	wal_apply_fn apply;
	void *apply_ctx;
};

struct wal_stats {
	uint64_t last_lsn;           /* highest LSN handed out */
	uint64_t flushed_lsn;        /* highest LSN durable and applied */
	uint64_t last_epoch;         /* epoch of the last record */
	uint32_t last_crc;           /* CRC-32C of the last record (its header bytes 0..3) */
	uint64_t last_commit_ms;     /* commit time of the last record (0: format 1, unknown) */
	uint8_t write_format;        /* the format client records are written in */
	bool last_crc_known;         /* false when the last LSN is a snapshot's, not a record's */
	uint64_t records;            /* records written since start */
	uint64_t fsyncs;             /* fdatasync calls since start */
	uint64_t gather_waits;       /* flushes that waited for more writers (GATHERING) */
	uint64_t gather_wait_ns;     /* the time they waited, in all */
	uint64_t bytes;              /* bytes written since start */
	uint64_t segments;           /* segment files on disk */
	uint64_t oldest_lsn;         /* first LSN still on disk */
	uint64_t truncated_bytes;    /* torn/corrupt bytes dropped at open */
	bool failed;                 /* an fsync or write failed: no more writes */
};

/* What replay dropped at open (TORN OR DAMAGED in wal.c). */
enum wal_damage_kind { WAL_INTACT = 0, WAL_TORN, WAL_DAMAGED };
struct wal_damage {
	enum wal_damage_kind kind;
	uint64_t first_lost_lsn;     /* the last good LSN + 1 */
	uint64_t evidence_lsn;       /* DAMAGED: the highest LSN shown to have existed */
	uint64_t segment_first_lsn;  /* the segment where replay stopped ... */
	uint64_t offset;             /* ... and the byte offset in it */
};

struct wal;

/* wal_open: the log does not start where the snapshot ends (records are
 * missing between them): the store is incomplete. */
#define WAL_INCOMPLETE 1

/*
 * Opens (creating if needed) DIR/wal, replays records after
 * opts->replay_after_lsn through opts->apply, truncates a torn or corrupt
 * tail (the dropped bytes and any later segments are moved to
 * DIR/wal/quarantine/, never deleted; wal_get_damage tells what went) and
 * starts the flusher.  0, WAL_INCOMPLETE, or -1; err says why.
 */
int wal_open(struct wal **out, const struct wal_opts *opts, char *err, size_t errlen);

/* Flushes what is queued, stops the flusher, closes files, frees w. */
void wal_close(struct wal *w);

/*
 * Queues one client record stamped with epoch; *lsn_out receives its LSN.
 * Refused unless the write gate is open at exactly this epoch (see
 * wal_set_gate), checked under the WAL's lock as the LSN is handed out.
 */
int wal_append(struct wal *w, uint8_t type, uint64_t epoch,
	       const char *key, uint32_t key_len,
	       const void *value, uint32_t value_len,
	       uint64_t *lsn_out, char *err, size_t errlen);

/*
 * Queues a record that already has its LSN and epoch (a replica appending
 * what its primary shipped); rec->lsn must be the last LSN + 1.  Not gated:
 * the replica's own role lock decides what it appends.
 */
int wal_append_record(struct wal *w, const struct wal_record *rec, char *err, size_t errlen);

/* Blocks until lsn is durable and applied. */
int wal_wait(struct wal *w, uint64_t lsn, char *err, size_t errlen);

/* Removes whole segments whose records are all <= lsn (after a checkpoint). */
int wal_remove_through(struct wal *w, uint64_t lsn, char *err, size_t errlen);

void wal_get_stats(struct wal *w, struct wal_stats *st);

/*
 * The highest LSN DIR/wal shows existed, for a log wal_open found
 * incomplete (the store is about to be quarantined): the last valid
 * record (CRC checked) of any segment, and the LSN before each segment's
 * first.  0 when it shows none.  Reads only.
 */
uint64_t wal_dir_evidence(const char *datadir);

/*
 * Removes every segment file under DIR/wal (not the torn-tail quarantine),
 * for a WAL that is not open: a rewind interrupted by a crash discards the
 * whole log at start-up, before wal_open.  0, or -1 naming the file.
 */
int wal_discard_dir(const char *datadir, char *err, size_t errlen);

enum { WAL_READ_OK = 0, WAL_READ_GONE = 1, WAL_READ_FORMAT = 2 };
/*
 * Copies whole encoded records with LSNs from `from` on (at least one, then
 * as many as fit in max_bytes, none of a format above max_format) into *out
 * (malloc'd; caller frees); *last_lsn is the LSN of the last one.  Records
 * are served as soon as they are appended, before their local fsync.
 * Returns WAL_READ_OK (with *len 0 when there is nothing after from - 1
 * yet), WAL_READ_GONE when `from` was removed by a checkpoint (the reader
 * needs a snapshot), WAL_READ_FORMAT when the record at `from` is of a
 * format above max_format (err says which), or -1.
 */
int wal_read(struct wal *w, uint64_t from, size_t max_bytes, uint8_t max_format,
	     unsigned char **out, size_t *len, uint64_t *last_lsn, char *err, size_t errlen);

/*
 * What identifies the record at lsn, when it is still in memory (the tail
 * cache, or the last record): its epoch and, when *crc_known, its CRC-32C as
 * stored in its header.  False when the epoch is unknown.  Right after
 * wal_reset the last LSN is a snapshot's: its epoch is known, its CRC not.
 */
bool wal_record_id_at(struct wal *w, uint64_t lsn, uint64_t *epoch, uint32_t *crc,
		      bool *crc_known);

/* The commit time of the record at lsn when it is in the tail cache and of
 * format 2; false otherwise. */
bool wal_commit_ms_at(struct wal *w, uint64_t lsn, uint64_t *commit_ms);

/* Waits up to timeout_ms for a record with LSN >= lsn to be appended. */
bool wal_wait_append(struct wal *w, uint64_t lsn, uint64_t timeout_ms);

/* How far acked_lsn is behind: records, bytes, and the age of the oldest
 * record not yet acked (ms; 0 when caught up). */
void wal_lag(struct wal *w, uint64_t acked_lsn, uint64_t *records, uint64_t *bytes,
	     uint64_t *age_ms);

/*
 * Discards every segment and restarts the log after lsn (a replica that has
 * just installed a snapshot at lsn, whose record there has commit_ms).  Waits for the flusher to go idle.
 */
int wal_reset(struct wal *w, uint64_t lsn, uint64_t epoch, uint64_t commit_ms,
	      char *err, size_t errlen);

/*
 * The write gate for client records (wal_append): open at one epoch, or
 * closed.  The site sets it under its role lock at every role change, so a
 * client write admitted just before a demotion cannot reach the log after
 * it.  A WAL opens with the gate closed.
 */
void wal_set_gate(struct wal *w, bool open, uint64_t epoch);

/* The durations of the flusher's fdatasync calls (group commits) so far. */
void wal_fsync_histogram(struct wal *w, struct histo_snapshot *out);

/* What replay dropped at open (kind WAL_INTACT when nothing). */
void wal_get_damage(struct wal *w, struct wal_damage *out);

/*
 * The format client records are written in from now on (format.h: the site
 * sets it from its FCV).  Records of a new format start a new segment: a
 * segment holds records of one format, named in its header.
 */
void wal_set_format(struct wal *w, uint8_t format);

/* Fault injection for drills: the next write fails with ENOSPC (a full
 * disk), which fails the WAL for good, as any write error does. */
void wal_set_disk_full(struct wal *w, bool full);

/* Fault injection for drills: every fdatasync takes ms longer (0 = off). */
void wal_set_fsync_delay(struct wal *w, uint64_t ms);

/* ---- encoding (exposed for tests and tools) ---- */

/* Bytes a record of this format (0 or 1: format 1) and these lengths takes. */
size_t wal_record_size(uint8_t format, uint32_t key_len, uint32_t value_len);
/* Encodes rec in its format into buf (wal_record_size bytes). */
void wal_encode(const struct wal_record *rec, unsigned char *buf);
/*
 * Decodes the record at buf[0..avail).  Returns its size, 0 if the bytes are
 * not a complete valid record of a format this build reads (torn, garbage,
 * bad CRC, or a newer format).  rec's key/value point into buf.
 */
size_t wal_decode(const unsigned char *buf, size_t avail, struct wal_record *rec);
/* The format of the encoded record at buf (its header byte 13): 1, 2, or 0
 * when that byte names no format. */
uint8_t wal_encoded_format(const unsigned char *buf);
/* The highest format among the valid encoded records buf[0..len) (1 when
 * there are none), as wal_read returns them. */
uint8_t wal_max_format(const unsigned char *buf, size_t len);

#endif
