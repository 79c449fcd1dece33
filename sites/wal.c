/*
 * wal.c — drsite's write-ahead log.
 *
 * WAL FILE FORMAT
 *
 * DIR/wal/ holds segment files named by the LSN of their first record,
 * twenty decimal digits: 00000000000000000001.wal.  LSNs start at 1 and
 * increase by exactly 1 per record, across segments, with no gaps.
 *
 * Every segment begins with a 16-byte header, all integers little-endian:
 *
 *   offset size  field
 *   0      8     magic "DRWAL001" (format 1) or "DRWAL002" (format 2)
 *   8      8     first_lsn (equals the number in the file name)
 *
 * followed by records of the segment's format, back to back, never spanning
 * two segments:
 *
 *   offset size  field
 *   0      4     crc32c of bytes [4, H + key_len + value_len)
 *   4      4     key_len    (1 .. 1024)
 *   8      4     value_len  (0 .. 1 MiB; 0 for a delete)
 *   12     1     type       (1 = put, 2 = delete)
 *   13     1     format     (0 in format 1, 2 in format 2)
 *   14     2     reserved, zero
 *   16     8     lsn
 *   24     8     epoch
 *   32     8     format 2 only: commit_ms, when the primary that accepted
 *                the record appended it (ms since the Unix epoch)
 *   H      ..    key bytes, then value bytes (H = 32 in format 1, 40 in 2)
 *
 * The CRC covers everything after itself, so a flipped bit anywhere in the
 * header, key or value is caught.  A record is valid when it fits in the
 * file, its lengths are within bounds, its format is its segment's, its
 * reserved bytes are zero, its CRC matches and its LSN is the previous one
 * plus 1.
 *
 * FORMATS (format.h).  Format 1 is drsite 0.1.0's; format 2 (drsite 0.2.0)
 * adds the commit time.  A site writes client records in the format its FCV
 * allows (wal_set_format); a replica appends shipped records in the format
 * they came in.  Records of another format than the current segment's start
 * a new segment (the flusher rotates before writing them; an append of a
 * new format waits until the records before it are handed to the flusher,
 * so a batch is of one format).  Replay refuses to start, changing nothing,
 * when any segment is of a format this build does not read ("DRWAL" and a
 * higher number): that is a newer binary's log, not damage, and must never
 * be quarantined.  drsite 0.1.0 is built without any format-2 code.
 *
 * TORN TAILS.  Replay reads segments in LSN order and stops at the first
 * invalid record: a write that a crash cut short, garbage appended, or a
 * corrupted record.  Everything from that offset on is copied to
 * DIR/wal/quarantine/ (with any later segments, moved whole), the segment is
 * truncated there and fsync'd, and the event is logged with the LSN range
 * and bytes dropped.  Nothing past the first bad record is served.  Because
 * a record is acknowledged only after the fdatasync that covers it returns,
 * a crash can only tear records that were never acknowledged.
 *
 * TORN OR DAMAGED.  What was dropped is classified (struct wal_damage).  A
 * TORN tail is what an interrupted append leaves: at the end of the last
 * segment, a record header cut short or a record whose bytes run past the
 * end of the file.  Anything else is DAMAGE: a complete record whose CRC,
 * bounds or LSN fail, a bad segment header, a segment that does not
 * continue the previous one, or any later segment.  Damage may have taken
 * acknowledged records, so replay also looks for evidence of how far the
 * log went: every valid record (CRC checked, LSN beyond the last good one)
 * found by scanning the dropped bytes and the later segments, the LSN in
 * the damaged record's header when that header is sane, and the first LSN
 * of any later segment.  The site then knows it lacks records up to that
 * LSN (role.h: behind) and is never made the source of truth for them.
 *
 * GROUP COMMIT.  wal_append() encodes a record into the "filling" buffer
 * under the mutex and hands out the next LSN.  A flush swaps the filling
 * buffer for an empty one, writes it with one write(2), calls one
 * fdatasync(2), applies each record (in LSN order) through the caller's
 * apply function, then publishes flushed_lsn and wakes the batch's
 * waiters.  All writers that arrived during one fsync therefore share the
 * next one.
 *
 * LEADERS.  A wal_wait() that finds nobody flushing and records in the
 * filling buffer takes the buffer and flushes it itself (the group commit
 * leader of MySQL and PostgreSQL): a lone writer costs no thread hand-off
 * (it cost two wake-ups when a flusher thread did every flush: bench/kv's
 * README).  Records appended during a flush go to the flusher thread, which
 * flushes batch after batch while they keep coming, so under load the disk
 * never waits for a thread to wake, and falls idle when they stop; the
 * next lone writer leads again.  The flusher thread also flushes what
 * nobody waits for yet: a shipment appends many records before its one
 * wal_wait and may wait for room, and wal_reset and close drain through it.
 *
 * WAKING WRITERS.  The writers of a batch sleep on a futex word of the
 * batch's parity; the flush that makes the batch durable publishes
 * flushed_now, moves the word and wakes them all, and each reads
 * flushed_now and returns without taking the mutex again.  With a
 * condition variable, the woken writers queued on the mutex one after the
 * other, each unlock waking the next: a second context switch per writer
 * at 64 clients (bench/kv/README.md).
 *
 * GATHERING.  A flush about to start waits for the writers the last flush
 * released, when fewer than were in flight then (the writers it released
 * plus those already waiting) are in the batch: at most half an average
 * fdatasync (1 ms at most), and only after a flush that had company, so a
 * lone writer never waits.  Without it, writers split into cohorts that
 * take turns on the disk: the writers a flush releases come back while the
 * next flush, started at once for the few already waiting, is in its
 * fdatasync, and wait for it and then their own (8 clients: about 4 per
 * fsync instead of 8).  PostgreSQL's commit_delay and commit_siblings do
 * the same with a fixed delay; this one is bounded by the disk's own
 * speed and ends the moment the last expected writer arrives
 * (bench/kv/README.md).  Records shipped to a replica are not counted:
 * their flush never waits.
 *
 * WRITE GATE.  A client record (wal_append) is taken only while the gate is
 * open at the record's epoch; the check and the LSN hand-out happen under
 * the same mutex.  The site closes the gate (or moves it to a new epoch) at
 * every role change (and when a primary's writes are paused for a
 * switchover), under its role lock, so once a demotion or a pause is
 * answered no client record can still enter the log, however long the
 * writer took between its role check and its append.  Shipped records
 * (wal_append_record) bypass the gate: a replica decides what it appends
 * under its own role lock.
 */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "lebytes.h"
#include "fileio.h"
#include "histo.h"
#include "log.h"
#include "timeutil.h"
#include "waitword.h"
#include "format.h"

#define WAL_MAGIC_PREFIX "DRWAL"   /* then the format, 3 digits */
#define WAL_FILLING_LIMIT (64u * 1024u * 1024u)  /* backpressure on writers */
#define WAL_TAIL_LIMIT (32u * 1024u * 1024u)     /* in-memory tail for replicas */

struct buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	uint64_t first_lsn;    /* LSN of the first record in data */
	uint64_t last_lsn;     /* LSN of the last record in data */
	uint8_t format;        /* every record in data is of this format */
	unsigned writers;      /* client records (wal_append) in data */
};

struct segment {
	uint64_t first_lsn;
	uint8_t format;
};

/*
 * The tail cache: the newest records, encoded exactly as on disk, kept in
 * memory from the moment they are appended (before their fsync), so that
 * replicas streaming from this site are served without touching the disk and
 * in parallel with the local fsync.  Bounded by WAL_TAIL_LIMIT: when it
 * overflows, the older half is dropped and reads fall back to the segments.
 */
struct tail {
	unsigned char *data;
	size_t len, cap;
	uint64_t base_lsn;         /* LSN of the record at data[0]; 0 when empty */
	size_t *off;               /* off[i]: offset of record base_lsn + i */
	uint64_t *at_ms;           /* at_ms[i]: when it was appended (monotonic) */
	size_t n, ncap;
};

/* Where the last disk read ended, so sequential catch-up does not rescan. */
struct read_hint {
	uint64_t seg_first_lsn;
	uint64_t next_lsn;
	size_t offset;
};

struct wal {
	struct wal_opts opts;
	char *dir;                 /* DIR/wal */
	int fd;                    /* current segment, open for append */
	uint64_t seg_first_lsn;    /* first LSN of the current segment */
	uint64_t seg_size;         /* bytes in the current segment */
	uint8_t seg_format;        /* the format of the current segment's records */

	pthread_mutex_t mu;
	pthread_cond_t work_cv;    /* flusher waits for records */
	pthread_cond_t done_cv;    /* flusher went idle, or the WAL failed */
	/* Writers of batch b sleep on batch_word[b & 1] (a futex), which each
	 * flush of a batch of that parity moves, and read flushed_now when
	 * woken: no mutex to take again (WAKING WRITERS above). */
	_Atomic uint32_t batch_word[2];
	_Atomic uint32_t batch_sleepers[2];
	_Atomic uint64_t flushed_now; /* st.flushed_lsn, readable without mu */
	uint64_t filling_seq;      /* batch number of the filling buffer */
	pthread_cond_t room_cv;    /* writers wait for room in filling */
	pthread_cond_t append_cv;  /* readers (replicas) wait for new records */
	pthread_t flusher;
	bool stopping;
	bool failed;
	bool flusher_busy;         /* a thread holds a batch outside the mutex */
	bool flush_wanted;         /* the flusher thread is to flush filling */
	/* GATHERING above: a flush about to start may wait for writers. */
	pthread_cond_t gather_cv;  /* signalled when filling reaches gather_want */
	bool gathering;            /* a thread waits to take filling: no one else takes it */
	bool room_wanted;          /* a writer waits for room in filling */
	unsigned gather_want;      /* writers last seen in flight: released + waiting */
	uint64_t fsync_avg_ns;     /* moving average of fdatasync's time */
	char fail_msg[256];

	struct buf filling;
	struct buf flushing;       /* owned by the flusher while it works */

	struct tail tail;
	struct read_hint hint;

	struct segment *segs;      /* all segments on disk, oldest first */
	size_t nsegs;
	size_t segs_cap;

	struct wal_stats st;
	bool gate_open;            /* client appends allowed ... */
	uint64_t gate_epoch;       /* ... at this epoch only */
	struct wal_damage damage;  /* what replay dropped, if anything */
	_Atomic uint64_t fsync_delay_ms;  /* fault injection (drills): slow disk */
	_Atomic bool disk_full;           /* fault injection (drills): writes fail ENOSPC */
	struct histo fsync_seconds;       /* flush_batch's fdatasync (with any delay) */
};

/* ---- record encoding -------------------------------------------------------- */

/* A record's header size in format f (0 and 1 both mean format 1). */
static size_t header_size(uint8_t f)
{
#if DRSITE_FORMAT_MAX >= 2
	if (f == 2)
		return WAL_HEADER_SIZE_MAX;
#endif
	(void)f;
	return WAL_HEADER_SIZE;
}

size_t wal_record_size(uint8_t format, uint32_t key_len, uint32_t value_len)
{
	return header_size(format) + (size_t)key_len + value_len;
}

uint8_t wal_encoded_format(const unsigned char *buf)
{
	return buf[13] == 0 ? 1 : buf[13] == 2 ? 2 : 0;
}

uint8_t wal_max_format(const unsigned char *buf, size_t len)
{
	uint8_t max = 1;
	for (size_t off = 0; off + WAL_HEADER_SIZE <= len; ) {
		uint8_t f = wal_encoded_format(buf + off);
		if (!f)
			break;
		max = f > max ? f : max;
		off += wal_record_size(f, get_le32(buf + off + 4), get_le32(buf + off + 8));
	}
	return max;
}

void wal_encode(const struct wal_record *rec, unsigned char *buf)
{
	size_t h = header_size(rec->format);
	put_le32(buf + 4, rec->key_len);
	put_le32(buf + 8, rec->value_len);
	buf[12] = rec->type;
	buf[13] = h == WAL_HEADER_SIZE ? 0 : 2;
	buf[14] = buf[15] = 0;
	put_le64(buf + 16, rec->lsn);
	put_le64(buf + 24, rec->epoch);
	if (h > WAL_HEADER_SIZE)
		put_le64(buf + 32, rec->commit_ms);
	memcpy(buf + h, rec->key, rec->key_len);
	if (rec->value_len)
		memcpy(buf + h + rec->key_len, rec->value, rec->value_len);
	size_t n = h + rec->key_len + rec->value_len;
	put_le32(buf, crc32c(0, buf + 4, n - 4));
}

/* The record's format if this build reads it, else 0. */
static uint8_t readable_format(const unsigned char *buf)
{
	uint8_t f = wal_encoded_format(buf);
	return f && format_readable(f) ? f : 0;
}

size_t wal_decode(const unsigned char *buf, size_t avail, struct wal_record *rec)
{
	if (avail < WAL_HEADER_SIZE)
		return 0;
	uint32_t klen = get_le32(buf + 4), vlen = get_le32(buf + 8);
	uint8_t type = buf[12], format = readable_format(buf);
	if (klen == 0 || klen > WAL_MAX_KEY || vlen > WAL_MAX_VALUE)
		return 0;
	if ((type != WAL_PUT && type != WAL_DELETE) || !format || buf[14] || buf[15])
		return 0;
	size_t h = header_size(format), n = h + (size_t)klen + vlen;
	if (n > avail || crc32c(0, buf + 4, n - 4) != get_le32(buf))
		return 0;
	rec->key_len = klen;
	rec->value_len = vlen;
	rec->type = type;
	rec->format = format;
	rec->lsn = get_le64(buf + 16);
	rec->epoch = get_le64(buf + 24);
	rec->commit_ms = h > WAL_HEADER_SIZE ? get_le64(buf + 32) : 0;
	rec->key = (const char *)buf + h;
	rec->value = buf + h + klen;
	return n;
}

/* The size of the encoded record at buf, from its header alone (no checks
 * beyond the format byte): for walking records already validated. */
static size_t encoded_size(const unsigned char *buf)
{
	return wal_record_size(wal_encoded_format(buf), get_le32(buf + 4), get_le32(buf + 8));
}

/* ---- files ------------------------------------------------------------------- */

/* DIR/wal/NNNN.wal of the segment that starts at first_lsn; NULL when out of memory. */
static char *seg_path_in(const char *dir, uint64_t first_lsn)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%020" PRIu64 ".wal", dir, first_lsn) < 0)
		return NULL;
	return p;
}

static char *seg_path(const struct wal *w, uint64_t first_lsn)
{
	return seg_path_in(w->dir, first_lsn);
}

static int segs_push(struct wal *w, uint64_t first_lsn, uint8_t format)
{
	if (w->nsegs == w->segs_cap) {
		size_t cap = w->segs_cap ? w->segs_cap * 2 : 16;
		struct segment *n = realloc(w->segs, cap * sizeof(*n));
		if (!n)
			return -1;
		w->segs = n;
		w->segs_cap = cap;
	}
	w->segs[w->nsegs++] = (struct segment){ first_lsn, format };
	return 0;
}

/* The segment header's magic for format f. */
static void seg_magic(uint8_t f, unsigned char out[8])
{
	char m[9];
	snprintf(m, sizeof(m), WAL_MAGIC_PREFIX "%03u", (unsigned)f);
	memcpy(out, m, 8);
}

/* The format a segment header names: 1..999, or 0 when it is no segment
 * header at all. */
static unsigned seg_header_format(const unsigned char *p, size_t size)
{
	if (size < WAL_SEG_HEADER_SIZE || memcmp(p, WAL_MAGIC_PREFIX, 5) != 0 ||
	    strspn((const char *)p + 5, "0123456789") < 3)
		return 0;
	return (unsigned)(p[5] - '0') * 100 + (unsigned)(p[6] - '0') * 10 + (unsigned)(p[7] - '0');
}

/*
 * Creates a new, empty segment of records of `format` starting at first_lsn
 * and makes it current.  When the current segment is still empty and starts
 * at first_lsn, it is rewritten in place (a batch of a new format arriving
 * right after a rotation).
 */
static int seg_create(struct wal *w, uint64_t first_lsn, uint8_t format, char *err, size_t errlen)
{
	char *path = seg_path(w, first_lsn);
	if (!path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	unsigned char hdr[WAL_SEG_HEADER_SIZE];
	seg_magic(format, hdr);
	put_le64(hdr + 8, first_lsn);
	bool same = w->nsegs && w->segs[w->nsegs - 1].first_lsn == first_lsn;
	if (same)
		w->nsegs--;  /* the empty segment being rewritten */
	if (fd < 0 || write_all(fd, hdr, sizeof(hdr)) || fdatasync(fd) ||
	    fsync_dir(w->dir) || segs_push(w, first_lsn, format)) {
		snprintf(err, errlen, "create segment %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	free(path);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->seg_first_lsn = first_lsn;
	w->seg_size = WAL_SEG_HEADER_SIZE;
	w->seg_format = format;
	w->st.segments = w->nsegs;
	return 0;
}

/* ---- replay -------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists first-LSNs of DIR/wal/NNNN.wal, sorted.  Caller frees *out. */
static int list_segments(const char *dir, uint64_t **out, size_t *n,
			 char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
		return -1;
	}
	uint64_t *v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".wal") != 0 ||
		    strspn(e->d_name, "0123456789") != 20)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			v = nv;
		}
		v[len++] = strtoull(e->d_name, NULL, 10);
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof(*v), cmp_u64);
	*out = v;
	*n = len;
	return 0;
}

static char *read_whole(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat sb;
	char *buf = NULL;
	if (fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1))) {
		ssize_t got = read_all(fd, buf, (size_t)sb.st_size);
		if (got < 0) {  /* a read error is not an empty segment */
			free(buf);
			buf = NULL;
		} else {
			*len = (size_t)got;
		}
	}
	close(fd);
	return buf;
}

/* Moves everything from byte `from` of a segment into the quarantine. */
static int quarantine_tail(struct wal *w, uint64_t first_lsn, const char *data,
			   size_t from, size_t size)
{
	char *qdir = NULL, *qpath = NULL, *path = seg_path(w, first_lsn);
	int rc = -1;
	if (!path || asprintf(&qdir, "%s/quarantine", w->dir) < 0)
		goto out;
	if (mkdir(qdir, 0755) != 0 && errno != EEXIST)
		goto out;
	if (asprintf(&qpath, "%s/%020" PRIu64 ".wal.at-%zu", qdir, first_lsn, from) < 0)
		goto out;
	int qfd = open(qpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (qfd < 0)
		goto out;
	int wrc = write_all(qfd, data + from, size - from) || fsync(qfd);
	close(qfd);
	if (wrc || fsync_dir(qdir) || truncate(path, (off_t)from))
		goto out;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	rc = fsync(fd);
	close(fd);
out:
	free(qdir);
	free(qpath);
	free(path);
	return rc;
}

static int quarantine_segment(struct wal *w, uint64_t first_lsn)
{
	char *from = seg_path(w, first_lsn), *to = NULL;
	int rc = -1;
	if (from && asprintf(&to, "%s/quarantine/%020" PRIu64 ".wal", w->dir, first_lsn) >= 0)
		rc = rename(from, to);
	free(from);
	free(to);
	return rc;
}

/* ---- damage -------------------------------------------------------------------- */

/* The LSN a plausible record header at p claims (0 if not plausible). */
static uint64_t header_lsn(const unsigned char *p, size_t avail)
{
	if (avail < WAL_HEADER_SIZE)
		return 0;
	uint32_t klen = get_le32(p + 4), vlen = get_le32(p + 8);
	bool sane = klen >= 1 && klen <= WAL_MAX_KEY && vlen <= WAL_MAX_VALUE &&
		    (p[12] == WAL_PUT || p[12] == WAL_DELETE) && readable_format(p) &&
		    !p[14] && !p[15];
	return sane ? get_le64(p + 16) : 0;
}

/* Highest LSN of a valid record anywhere in data[from, size) (a byte-wise
 * scan: the cheap header checks run first, the CRC only when they pass). */
static uint64_t scan_evidence(const unsigned char *data, size_t from, size_t size)
{
	uint64_t best = 0;
	for (size_t off = from; off + WAL_HEADER_SIZE <= size; off++) {
		struct wal_record rec;
		if (header_lsn(data + off, size - off) && wal_decode(data + off, size - off, &rec) &&
		    rec.lsn > best)
			best = rec.lsn;
	}
	return best;
}

/* The highest LSN the segment of dir that starts at first_lsn shows
 * existed: the LSN before its first, or its last valid record. */
static uint64_t segment_evidence(const char *dir, uint64_t first_lsn)
{
	char *path = seg_path_in(dir, first_lsn);
	size_t len = 0;
	char *seg = path ? read_whole(path, &len) : NULL;
	uint64_t in = seg ? scan_evidence((const unsigned char *)seg, WAL_SEG_HEADER_SIZE, len) : 0;
	free(seg);
	free(path);
	return in > first_lsn - 1 ? in : first_lsn - 1;
}

/* Torn (an append cut short at the end of the last segment) or damaged. */
static bool is_torn(const unsigned char *data, size_t good, size_t size, bool last_segment)
{
	if (!last_segment || good < WAL_SEG_HEADER_SIZE)
		return false;
	size_t left = size - good;
	if (left < WAL_HEADER_SIZE)
		return true;
	return header_lsn(data + good, left) && encoded_size(data + good) > left;
}

/* Records what the dropped bytes of segment i (and every later segment)
 * tell: torn or damaged, and the highest LSN they show existed. */
static void note_damage(struct wal *w, uint64_t *firsts, size_t i, size_t n,
			const unsigned char *data, size_t good, size_t size)
{
	struct wal_damage *d = &w->damage;
	d->kind = is_torn(data, good, size, i + 1 == n) ? WAL_TORN : WAL_DAMAGED;
	d->first_lost_lsn = w->st.last_lsn + 1;
	d->segment_first_lsn = firsts[i];
	d->offset = good;
	if (d->kind == WAL_TORN)
		return;
	uint64_t ev = header_lsn(data + good, size - good);
	if (ev != w->st.last_lsn + 1)
		ev = 0;  /* a header that claims another LSN proves nothing */
	uint64_t scanned = scan_evidence(data, good + 1, size);
	ev = scanned > ev ? scanned : ev;
	for (size_t j = i + 1; j < n; j++) {
		uint64_t in = segment_evidence(w->dir, firsts[j]);
		ev = in > ev ? in : ev;
	}
	d->evidence_lsn = ev > w->st.last_lsn ? ev : w->st.last_lsn + 1;
}

/*
 * Replays one segment.  Returns the offset of the first invalid byte (== size
 * when the whole segment is good), or (size_t)-1 on an apply/IO error.
 */
static size_t replay_segment(struct wal *w, uint64_t first_lsn, const char *data,
			     size_t size, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)data;
	unsigned format = seg_header_format(p, size);
	if (!format_readable(format) || get_le64(p + 8) != first_lsn)
		return 0;
	size_t off = WAL_SEG_HEADER_SIZE;
	while (off < size) {
		struct wal_record rec;
		size_t n = wal_decode(p + off, size - off, &rec);
		if (n == 0 || rec.format != format || rec.lsn != w->st.last_lsn + 1)
			break;
		if (rec.lsn > w->opts.replay_after_lsn &&
		    w->opts.apply(w->opts.apply_ctx, &rec) != 0) {
			snprintf(err, errlen, "apply lsn %" PRIu64 " failed during replay", rec.lsn);
			return (size_t)-1;
		}
		w->st.last_lsn = rec.lsn;
		w->st.last_epoch = rec.epoch;
		w->st.last_crc = get_le32(p + off);
		w->st.last_crc_known = true;
		w->st.last_commit_ms = rec.commit_ms;
		off += n;
	}
	return off;
}

/*
 * Refuses a log with a segment of a format this build does not read: a
 * newer binary wrote it.  Checked for every segment before replay drops or
 * quarantines anything.  0, or -1 with err naming the file and the fix.
 */
static int check_formats(struct wal *w, const uint64_t *firsts, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char *path = seg_path(w, firsts[i]);
		int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
		unsigned char hdr[WAL_SEG_HEADER_SIZE];
		ssize_t got = fd >= 0 ? pread(fd, hdr, sizeof(hdr), 0) : -1;
		if (fd >= 0)
			close(fd);
		unsigned f = got == (ssize_t)sizeof(hdr) ? seg_header_format(hdr, sizeof(hdr)) : 0;
		if (f > DRSITE_FORMAT_MAX) {
			snprintf(err, errlen, "WAL segment %s is format %u; this drsite %s reads "
				 "formats %s only: a newer drsite wrote this data dir, run it "
				 "(nothing was changed)", path, f, DRSITE_VERSION, DRSITE_FORMATS);
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

/* Drops the bad tail of segment i and every later segment; logs what went. */
static int drop_from(struct wal *w, uint64_t *firsts, size_t i, size_t nfirsts,
		     const char *data, size_t good, size_t size)
{
	log_event(LOG_WARN, "wal.truncated",
		  "{s:I, s:I, s:I, s:I, s:I, s:s}",
		  "segment_first_lsn", (json_int_t)firsts[i], "offset", (json_int_t)good,
		  "dropped_bytes", (json_int_t)(size - good),
		  "last_good_lsn", (json_int_t)w->st.last_lsn,
		  "later_segments_quarantined", (json_int_t)(nfirsts - i - 1),
		  "quarantine", "wal/quarantine");
	if (good < WAL_SEG_HEADER_SIZE) {
		/* Even the header is bad: quarantine the whole file. */
		char *qdir = NULL;
		if (asprintf(&qdir, "%s/quarantine", w->dir) < 0)
			return -1;
		int rc = (mkdir(qdir, 0755) != 0 && errno != EEXIST) ? -1 : 0;
		free(qdir);
		if (rc || quarantine_segment(w, firsts[i]))
			return -1;
	} else if (quarantine_tail(w, firsts[i], data, good, size)) {
		return -1;
	}
	for (size_t j = i + 1; j < nfirsts; j++)
		if (quarantine_segment(w, firsts[j]))
			return -1;
	w->st.truncated_bytes += size - good;
	return fsync_dir(w->dir);
}

/* A segment may follow a gap only where the snapshot covers the gap. */
static bool seg_continues(const struct wal *w, uint64_t first_lsn)
{
	return first_lsn == w->st.last_lsn + 1 ||
	       (first_lsn > w->st.last_lsn && first_lsn <= w->opts.replay_after_lsn + 1);
}

static int replay_all(struct wal *w, uint64_t *firsts, size_t n, char *err, size_t errlen)
{
	if (check_formats(w, firsts, n, err, errlen) != 0)
		return -1;
	if (n && firsts[0] > w->opts.replay_after_lsn + 1) {
		snprintf(err, errlen, "WAL gap: snapshot ends at lsn %" PRIu64
			 " but the oldest segment starts at lsn %" PRIu64,
			 w->opts.replay_after_lsn, firsts[0]);
		return WAL_INCOMPLETE;
	}
	for (size_t i = 0; i < n; i++) {
		char *path = seg_path(w, firsts[i]);
		size_t size = 0;
		char *data = path ? read_whole(path, &size) : NULL;
		free(path);
		if (!data) {
			snprintf(err, errlen, "read segment %" PRIu64 ": %s", firsts[i], strerror(errno));
			return -1;
		}
		size_t good = 0;
		if (seg_continues(w, firsts[i])) {
			w->st.last_lsn = firsts[i] - 1;
			good = replay_segment(w, firsts[i], data, size, err, errlen);
		}
		if (good == (size_t)-1) {
			free(data);
			return -1;
		}
		if (good >= WAL_SEG_HEADER_SIZE &&
		    segs_push(w, firsts[i], (uint8_t)seg_header_format((unsigned char *)data, size))) {
			free(data);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (good < size) {
			note_damage(w, firsts, i, n, (const unsigned char *)data, good, size);
			int rc = drop_from(w, firsts, i, n, data, good, size);
			free(data);
			if (rc) {
				snprintf(err, errlen, "quarantine torn WAL tail: %s", strerror(errno));
				return -1;
			}
			return 0;
		}
		free(data);
	}
	return 0;
}

/*
 * Opens the newest segment for appending, or starts a new one: also when the
 * snapshot is ahead of every record on disk (a replica that installed a
 * snapshot from its primary), since LSNs inside a segment never skip.
 */
static int open_current(struct wal *w, char *err, size_t errlen)
{
	if (w->st.last_lsn <= w->opts.replay_after_lsn) {
		w->st.last_epoch = w->opts.replay_after_epoch;
		w->st.last_commit_ms = w->opts.replay_after_commit_ms;
	}
	if (w->st.last_lsn < w->opts.replay_after_lsn) {
		w->st.last_lsn = w->opts.replay_after_lsn;
		w->st.last_crc_known = false;  /* a snapshot's LSN: no record here */
		w->st.last_commit_ms = w->opts.replay_after_commit_ms;
		return seg_create(w, w->st.last_lsn + 1, w->st.write_format, err, errlen);
	}
	if (w->nsegs == 0)
		return seg_create(w, w->st.last_lsn + 1, w->st.write_format, err, errlen);
	uint64_t first = w->segs[w->nsegs - 1].first_lsn;
	char *path = seg_path(w, first);
	int fd = path ? open(path, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "open segment %s: %s", path ? path : "?", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	free(path);
	w->fd = fd;
	w->seg_first_lsn = first;
	w->seg_size = (uint64_t)sb.st_size;
	w->seg_format = w->segs[w->nsegs - 1].format;
	w->st.segments = w->nsegs;
	return 0;
}

/* ---- group commit ------------------------------------------------------------ */

static int buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64 * 1024;
	while (cap < b->len + more)
		cap *= 2;
	unsigned char *n = realloc(b->data, cap);
	if (!n)
		return -1;
	b->data = n;
	b->cap = cap;
	return 0;
}

static void wal_fail(struct wal *w, const char *what)
{
	pthread_mutex_lock(&w->mu);
	if (!w->failed) {
		w->failed = true;
		snprintf(w->fail_msg, sizeof(w->fail_msg), "WAL failed: %s: %s", what, strerror(errno));
	}
	pthread_cond_broadcast(&w->done_cv);
	pthread_cond_broadcast(&w->room_cv);
	pthread_cond_signal(&w->gather_cv);
	for (int i = 0; i < 2; i++)
		atomic_fetch_add(&w->batch_word[i], 1);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < 2; i++)
		waitword_wake_all(&w->batch_word[i]);
	log_event(LOG_ERROR, "wal.failed", "{s:s}", "reason", w->fail_msg);
}

/* Applies each record of a flushed batch, in order, through opts.apply. */
static int apply_batch(struct wal *w, const struct buf *b)
{
	size_t off = 0;
	while (off < b->len) {
		struct wal_record rec;
		size_t n = wal_decode(b->data + off, b->len - off, &rec);
		if (n == 0 || w->opts.apply(w->opts.apply_ctx, &rec) != 0)
			return -1;
		off += n;
	}
	return 0;
}

/* Rotates to a new segment when the current one is full.  Only the thread flushing a batch. */
static int maybe_rotate(struct wal *w)
{
	if (w->seg_size < w->opts.segment_bytes)
		return 0;
	char err[256];
	pthread_mutex_lock(&w->mu);
	uint64_t next = w->flushing.last_lsn + 1;
	int rc = seg_create(w, next, w->seg_format, err, sizeof(err));
	pthread_mutex_unlock(&w->mu);
	if (rc)
		log_event(LOG_ERROR, "wal.rotate_failed", "{s:s}", "error", err);
	return rc;
}

/* Starts a segment of the batch's format when the current one is of
 * another (FORMATS above).  Only the thread flushing a batch. */
static int rotate_for_format(struct wal *w, const struct buf *b)
{
	if (b->format == w->seg_format)
		return 0;
	char err[256];
	pthread_mutex_lock(&w->mu);
	int rc = seg_create(w, b->first_lsn, b->format, err, sizeof(err));
	pthread_mutex_unlock(&w->mu);
	if (rc)
		log_event(LOG_ERROR, "wal.rotate_failed", "{s:s}", "error", err);
	else
		log_event(LOG_INFO, "wal.format_segment", "{s:I, s:i}", "first_lsn",
			  (json_int_t)b->first_lsn, "format", (int)b->format);
	return rc;
}

/* Flushes the batch numbered seq: write, fdatasync, apply, wake its writers. */
static int flush_batch(struct wal *w, uint64_t seq)
{
	struct buf *b = &w->flushing;
	if (atomic_load(&w->disk_full)) {
		errno = ENOSPC;
		wal_fail(w, "write (injected fault: disk full)");
		return -1;
	}
	if (rotate_for_format(w, b) != 0) {
		wal_fail(w, "rotate");
		return -1;
	}
	if (write_all(w->fd, b->data, b->len) != 0) {
		wal_fail(w, "write");
		return -1;
	}
	uint64_t delay = atomic_load(&w->fsync_delay_ms);
	uint64_t sync_start_ns = time_mono_ns();
	if (delay)
		time_sleep_ms(delay);
	if (fdatasync(w->fd) != 0) {
		wal_fail(w, "fdatasync");
		return -1;
	}
	uint64_t took = time_mono_ns() - sync_start_ns;
	histo_observe_us(&w->fsync_seconds, took / 1000);
	w->seg_size += b->len;
	if (apply_batch(w, b) != 0) {
		errno = EIO;
		wal_fail(w, "apply");
		return -1;
	}
	pthread_mutex_lock(&w->mu);
	w->st.flushed_lsn = b->last_lsn;
	atomic_store(&w->flushed_now, b->last_lsn);
	w->fsync_avg_ns = w->fsync_avg_ns ? (w->fsync_avg_ns * 7 + took) / 8 : took;
	w->st.fsyncs++;
	w->st.bytes += b->len;
	atomic_fetch_add(&w->batch_word[seq & 1], 1);
	bool sleepers = atomic_load(&w->batch_sleepers[seq & 1]) > 0;
	pthread_mutex_unlock(&w->mu);
	if (sleepers)
		waitword_wake_all(&w->batch_word[seq & 1]);
	b->len = 0;
	return maybe_rotate(w) == 0 ? 0 : (wal_fail(w, "rotate"), -1);
}

/* Takes the filling buffer as the batch to flush (the caller becomes its
 * flusher until flush_taken returns); its batch number.  Under mu. */
static uint64_t take_batch_locked(struct wal *w)
{
	struct buf tmp = w->flushing;
	w->flushing = w->filling;
	w->filling = tmp;
	w->filling.len = 0;
	w->filling.writers = 0;
	w->room_wanted = false;
	w->flusher_busy = true;
	pthread_cond_broadcast(&w->room_cv);
	return w->filling_seq++;
}

/* The longest a flush waits for writers (GATHERING above). */
#define GATHER_MAX_NS 1000000u

/* GATHERING: before taking filling, waits while it holds fewer writers
 * than were in flight when the last flush ended (the writers that flush
 * released and those already waiting), at most half an average fdatasync.
 * Each writer that arrives meanwhile would otherwise start the next batch
 * of a cohort of its own.  Under mu. */
static void gather_locked(struct wal *w)
{
	if (!w->filling.writers || w->filling.writers >= w->gather_want || w->room_wanted ||
	    w->failed || w->stopping)
		return;
	uint64_t wait_ns = w->fsync_avg_ns / 2 < GATHER_MAX_NS ? w->fsync_avg_ns / 2 : GATHER_MAX_NS;
	uint64_t start = time_mono_ns(), until = start + wait_ns;
	struct timespec ts = { .tv_sec = (time_t)(until / 1000000000u),
			       .tv_nsec = (long)(until % 1000000000u) };
	w->gathering = true;
	while (w->filling.writers < w->gather_want && !w->room_wanted && !w->failed &&
	       !w->stopping && pthread_cond_timedwait(&w->gather_cv, &w->mu, &ts) != ETIMEDOUT)
		;
	w->gathering = false;
	w->st.gather_waits++;
	w->st.gather_wait_ns += time_mono_ns() - start;
}

/* Flushes the batch take_batch_locked gave, outside mu; records that came
 * in meanwhile go to the flusher thread, which flushes batch after batch
 * while they keep coming (no wake-up between two fsyncs).  Under mu. */
static int flush_taken_locked(struct wal *w, uint64_t seq)
{
	unsigned released = w->flushing.writers;
	pthread_mutex_unlock(&w->mu);
	int rc = flush_batch(w, seq);
	pthread_mutex_lock(&w->mu);
	w->flusher_busy = false;
	w->gather_want = released + w->filling.writers;
	pthread_cond_broadcast(&w->done_cv);
	if (w->filling.len)
		w->flush_wanted = true;
	if (w->flush_wanted || w->stopping)
		pthread_cond_signal(&w->work_cv);
	return rc;
}

/* Whether the flusher thread has something to do.  Under mu. */
static bool flusher_has_work(const struct wal *w)
{
	if (w->failed)
		return true;
	if (w->flusher_busy || w->gathering)
		return false;
	return w->stopping || (w->flush_wanted && w->filling.len);
}

/* The flusher thread flushes what no writer waits for: records a shipment
 * appends while it waits for room, the rest at wal_reset, and at close. */
static void *flusher_main(void *arg)
{
	struct wal *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!flusher_has_work(w))
			pthread_cond_wait(&w->work_cv, &w->mu);
		if (w->failed || (w->filling.len == 0 && w->stopping))
			break;
		if (w->filling.len)
			gather_locked(w);
		if (w->filling.len && flush_taken_locked(w, take_batch_locked(w)) != 0)
			break;
		if (w->filling.len == 0)
			w->flush_wanted = false;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Asks the flusher thread to flush the filling buffer.  Under mu. */
static void want_flush_locked(struct wal *w)
{
	w->flush_wanted = true;
	pthread_cond_signal(&w->work_cv);
}

/* ---- public API ----------------------------------------------------------------- */

static struct wal *wal_alloc(const struct wal_opts *opts)
{
	struct wal *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->opts = *opts;
	w->fd = -1;
	w->st.write_format = format_readable(opts->format) ? opts->format : 1;
	histo_init(&w->fsync_seconds);
	if (asprintf(&w->dir, "%s/wal", opts->dir) < 0) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	pthread_cond_init(&w->room_cv, NULL);
	pthread_condattr_t mono;  /* gather_locked's deadline is CLOCK_MONOTONIC */
	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_cond_init(&w->gather_cv, &mono);
	pthread_condattr_destroy(&mono);
	pthread_cond_init(&w->append_cv, NULL);
	return w;
}

static void wal_free(struct wal *w)
{
	if (w->fd >= 0)
		close(w->fd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->room_cv);
	pthread_cond_destroy(&w->gather_cv);
	pthread_cond_destroy(&w->append_cv);
	free(w->filling.data);
	free(w->flushing.data);
	free(w->tail.data);
	free(w->tail.off);
	free(w->tail.at_ms);
	free(w->segs);
	free(w->dir);
	free(w);
}

int wal_open(struct wal **out, const struct wal_opts *opts, char *err, size_t errlen)
{
	struct wal *w = wal_alloc(opts);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint64_t *firsts = NULL;
	size_t n = 0;
	if (mkdir(w->dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "create %s: %s", w->dir, strerror(errno));
		goto fail;
	}
	int rc = list_segments(w->dir, &firsts, &n, err, errlen);
	if (rc == 0)
		rc = replay_all(w, firsts, n, err, errlen);
	if (rc == 0)
		rc = open_current(w, err, errlen);
	if (rc != 0) {
		free(firsts);
		wal_free(w);
		return rc;
	}
	free(firsts);
	w->st.flushed_lsn = w->st.last_lsn;
	atomic_store(&w->flushed_now, w->st.flushed_lsn);
	w->st.oldest_lsn = w->nsegs ? w->segs[0].first_lsn : w->st.last_lsn + 1;
	rc = pthread_create(&w->flusher, NULL, flusher_main, w);
	if (rc != 0) {
		snprintf(err, errlen, "start WAL flusher: %s", strerror(rc));
		wal_free(w);
		return -1;
	}
	*out = w;
	return 0;
fail:
	free(firsts);
	wal_free(w);
	return -1;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->work_cv);
	pthread_cond_broadcast(&w->gather_cv);
	pthread_cond_broadcast(&w->append_cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->flusher, NULL);
	pthread_mutex_lock(&w->mu);
	while (w->flusher_busy)  /* a writer leading a batch (the WAL failed) */
		pthread_cond_wait(&w->done_cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	wal_free(w);
}

/* Drops the older half of the tail cache.  Caller holds mu. */
static void tail_trim(struct tail *t)
{
	size_t keep_from = t->n / 2;
	size_t cut = t->off[keep_from];
	memmove(t->data, t->data + cut, t->len - cut);
	t->len -= cut;
	for (size_t i = keep_from; i < t->n; i++) {
		t->off[i - keep_from] = t->off[i] - cut;
		t->at_ms[i - keep_from] = t->at_ms[i];
	}
	t->n -= keep_from;
	t->base_lsn += keep_from;
}

/* Copies an encoded record into the tail cache.  Caller holds mu. */
static int tail_add(struct tail *t, const unsigned char *rec, size_t n, uint64_t lsn)
{
	if (t->len + n > WAL_TAIL_LIMIT && t->n > 1)
		tail_trim(t);
	if (t->n == 0) {
		t->base_lsn = lsn;
		t->len = 0;
	}
	if (t->n == t->ncap) {
		size_t cap = t->ncap ? t->ncap * 2 : 4096;
		size_t *off = realloc(t->off, cap * sizeof(*off));
		if (off)
			t->off = off;
		uint64_t *at = off ? realloc(t->at_ms, cap * sizeof(*at)) : NULL;
		if (!off || !at)
			return -1;
		t->at_ms = at;
		t->ncap = cap;
	}
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap : 1 << 20;
		while (cap < t->len + n)
			cap *= 2;
		unsigned char *d = realloc(t->data, cap);
		if (!d)
			return -1;
		t->data = d;
		t->cap = cap;
	}
	memcpy(t->data + t->len, rec, n);
	t->off[t->n] = t->len;
	t->at_ms[t->n] = time_mono_ms();
	t->len += n;
	t->n++;
	return 0;
}

static int check_bounds(uint32_t key_len, uint32_t value_len, char *err, size_t errlen)
{
	if (key_len == 0 || key_len > WAL_MAX_KEY || value_len > WAL_MAX_VALUE) {
		snprintf(err, errlen, "record out of bounds (key %u bytes, value %u bytes)",
			 key_len, value_len);
		return -1;
	}
	return 0;
}

/* Why a client append at epoch is refused, or NULL.  Caller holds mu. */
static const char *gate_refusal(const struct wal *w, uint64_t epoch, char *buf, size_t len)
{
	if (!w->gate_open)
		return "writes are closed on this site (its role changed, or its writes "
		       "were paused)";
	if (epoch != w->gate_epoch) {
		snprintf(buf, len, "writes are open at epoch %" PRIu64 ", not %" PRIu64,
			 w->gate_epoch, epoch);
		return buf;
	}
	return NULL;
}

/*
 * Queues rec into the filling buffer and the tail cache, waiting for room
 * first.  A client record (gated) gets its LSN here, after the wait and the
 * gate check, so two writers that both waited for room never take the same
 * LSN; a shipped record must already be last_lsn + 1.  Caller holds mu.
 */
static int append_locked(struct wal *w, struct wal_record *rec, bool gated,
			 char *err, size_t errlen)
{
	if (gated)
		rec->format = w->st.write_format;
	rec->format = rec->format == 2 ? 2 : 1;
	if (!format_readable(rec->format)) {
		snprintf(err, errlen, "record of format %u: this drsite writes formats %s only",
			 (unsigned)rec->format, DRSITE_FORMATS);
		return -1;
	}
	size_t n = wal_record_size(rec->format, rec->key_len, rec->value_len);
	/* A batch is of one format: a record of another waits for the flusher
	 * to take the records before it. */
	while (!w->failed && !w->stopping && w->filling.len > 0 &&
	       (w->filling.len + n > WAL_FILLING_LIMIT || w->filling.format != rec->format)) {
		want_flush_locked(w);  /* this writer's own records may fill it */
		w->room_wanted = true;
		pthread_cond_signal(&w->gather_cv);
		pthread_cond_wait(&w->room_cv, &w->mu);
	}
	if (w->failed || w->stopping || buf_reserve(&w->filling, n) != 0) {
		snprintf(err, errlen, "%s", w->failed ? w->fail_msg :
			 w->stopping ? "WAL is closing" : "out of memory");
		return -1;
	}
	char why[128];
	const char *refusal = gated ? gate_refusal(w, rec->epoch, why, sizeof(why)) : NULL;
	if (refusal) {
		snprintf(err, errlen, "%s", refusal);
		return -1;
	}
	if (gated) {
		rec->lsn = w->st.last_lsn + 1;
		rec->commit_ms = time_wall_ms();
	}
	if (rec->lsn != w->st.last_lsn + 1) {
		snprintf(err, errlen, "LSN %" PRIu64 " does not follow %" PRIu64,
			 rec->lsn, w->st.last_lsn);
		return -1;
	}
	unsigned char *dst = w->filling.data + w->filling.len;
	wal_encode(rec, dst);
	if (tail_add(&w->tail, dst, n, rec->lsn) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (w->filling.len == 0) {
		w->filling.first_lsn = rec->lsn;
		w->filling.format = rec->format;
	}
	w->filling.len += n;
	w->filling.last_lsn = rec->lsn;
	if (gated && ++w->filling.writers >= w->gather_want && w->gathering)
		pthread_cond_signal(&w->gather_cv);
	w->st.last_commit_ms = rec->format == 2 ? rec->commit_ms : 0;
	w->st.last_lsn = rec->lsn;
	w->st.last_epoch = rec->epoch;
	w->st.last_crc = get_le32(dst);
	w->st.last_crc_known = true;
	w->st.records++;
	pthread_cond_broadcast(&w->append_cv);
	return 0;
}

int wal_append(struct wal *w, uint8_t type, uint64_t epoch,
	       const char *key, uint32_t key_len,
	       const void *value, uint32_t value_len,
	       uint64_t *lsn_out, char *err, size_t errlen)
{
	if (check_bounds(key_len, value_len, err, errlen) != 0)
		return -1;
	struct wal_record rec = { .epoch = epoch, .type = type, .key = key, .key_len = key_len,
				  .value = value, .value_len = value_len };
	pthread_mutex_lock(&w->mu);
	int rc = append_locked(w, &rec, true, err, errlen);
	pthread_mutex_unlock(&w->mu);
	if (rc == 0)
		*lsn_out = rec.lsn;
	return rc;
}

int wal_append_record(struct wal *w, const struct wal_record *rec, char *err, size_t errlen)
{
	if (check_bounds(rec->key_len, rec->value_len, err, errlen) != 0)
		return -1;
	struct wal_record copy = *rec;
	pthread_mutex_lock(&w->mu);
	int rc = append_locked(w, &copy, false, err, errlen);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void wal_set_format(struct wal *w, uint8_t format)
{
	pthread_mutex_lock(&w->mu);
	w->st.write_format = format_readable(format) ? format : 1;
	pthread_mutex_unlock(&w->mu);
}

void wal_set_gate(struct wal *w, bool open, uint64_t epoch)
{
	pthread_mutex_lock(&w->mu);
	w->gate_open = open;
	w->gate_epoch = epoch;
	pthread_mutex_unlock(&w->mu);
}

int wal_wait(struct wal *w, uint64_t lsn, char *err, size_t errlen)
{
	pthread_mutex_lock(&w->mu);
	while (w->st.flushed_lsn < lsn && !w->failed) {
		/* Nobody flushing and lsn in filling: this writer flushes it,
		 * with every record appended so far (LEADERS above). */
		if (!w->flusher_busy && !w->gathering && w->filling.len) {
			gather_locked(w);
			if (!w->failed)
				flush_taken_locked(w, take_batch_locked(w));
			continue;
		}
		/* Only the writers of the batch just flushed are woken. */
		bool in_flushing = w->flusher_busy && lsn <= w->flushing.last_lsn;
		unsigned b = (in_flushing ? w->filling_seq - 1 : w->filling_seq) & 1;
		uint32_t seen = atomic_load(&w->batch_word[b]);
		atomic_fetch_add(&w->batch_sleepers[b], 1);
		pthread_mutex_unlock(&w->mu);
		waitword_wait(&w->batch_word[b], seen);
		atomic_fetch_sub(&w->batch_sleepers[b], 1);
		if (atomic_load(&w->flushed_now) >= lsn)
			return 0;  /* flushed: nothing else to read under mu */
		pthread_mutex_lock(&w->mu);
	}
	int rc = w->st.flushed_lsn >= lsn ? 0 : -1;
	if (rc)
		snprintf(err, errlen, "%s", w->fail_msg);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int wal_remove_through(struct wal *w, uint64_t lsn, char *err, size_t errlen)
{
	pthread_mutex_lock(&w->mu);
	size_t drop = 0;
	int rc = 0;
	/* Segment i holds LSNs [first_i, first_{i+1}); never drop the current one. */
	while (drop + 1 < w->nsegs && w->segs[drop + 1].first_lsn <= lsn + 1) {
		char *path = seg_path(w, w->segs[drop].first_lsn);
		if (!path || unlink(path) != 0) {
			snprintf(err, errlen, "remove segment %" PRIu64 ": %s",
				 w->segs[drop].first_lsn, strerror(errno));
			free(path);
			rc = -1;
			break;
		}
		free(path);
		drop++;
	}
	if (drop) {
		memmove(w->segs, w->segs + drop, (w->nsegs - drop) * sizeof(*w->segs));
		w->nsegs -= drop;
		w->st.segments = w->nsegs;
		w->st.oldest_lsn = w->segs[0].first_lsn;
	}
	pthread_mutex_unlock(&w->mu);
	if (drop)
		fsync_dir(w->dir);
	return rc;
}

uint64_t wal_dir_evidence(const char *datadir)
{
	char *dir = NULL, err[256];
	uint64_t *firsts = NULL, ev = 0;
	size_t n = 0;
	if (asprintf(&dir, "%s/wal", datadir) < 0)
		return 0;
	if (list_segments(dir, &firsts, &n, err, sizeof(err)) != 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t in = segment_evidence(dir, firsts[i]);
		ev = in > ev ? in : ev;
	}
	free(firsts);
	free(dir);
	return ev;
}

int wal_discard_dir(const char *datadir, char *err, size_t errlen)
{
	char *dir = NULL;
	uint64_t *firsts = NULL;
	size_t n = 0;
	if (asprintf(&dir, "%s/wal", datadir) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = 0;  /* no WAL yet: nothing to discard */
	if (access(dir, F_OK) == 0)
		rc = list_segments(dir, &firsts, &n, err, errlen) ||
		     remove_numbered(dir, firsts, n, ".wal", err, errlen) ? -1 : 0;
	free(firsts);
	free(dir);
	return rc;
}

void wal_get_stats(struct wal *w, struct wal_stats *st)
{
	pthread_mutex_lock(&w->mu);
	*st = w->st;
	st->failed = w->failed;
	pthread_mutex_unlock(&w->mu);
}

/* ---- reading the log back (replication) ----------------------------------------- */

/* Copies records [from, ...] out of the tail cache.  Caller holds mu. */
static int tail_read(const struct tail *t, uint64_t from, size_t max_bytes,
		     unsigned char **out, size_t *len, uint64_t *last)
{
	size_t i = (size_t)(from - t->base_lsn), j = i + 1;
	size_t start = t->off[i];
	while (j < t->n && t->off[j + 1 < t->n ? j + 1 : j] - start <= max_bytes &&
	       (j + 1 < t->n || t->len - start <= max_bytes))
		j++;
	size_t end = j < t->n ? t->off[j] : t->len;
	unsigned char *buf = malloc(end - start);
	if (!buf)
		return -1;
	memcpy(buf, t->data + start, end - start);
	*out = buf;
	*len = end - start;
	*last = t->base_lsn + j - 1;
	return 0;
}

/*
 * Cuts records read [out, out + *len) before the first one of a format above
 * max_format: WAL_READ_OK (possibly shortened, *last moved back), or
 * WAL_READ_FORMAT when that is the first record.  Records were validated
 * when they were appended or read.
 */
static int cut_to_format(unsigned char *out, size_t *len, uint64_t from, uint64_t *last,
			 uint8_t max_format, char *err, size_t errlen)
{
	size_t off = 0;
	uint64_t lsn = from;
	while (off < *len) {
		uint8_t f = wal_encoded_format(out + off);
		if (f > max_format) {
			if (off == 0) {
				snprintf(err, errlen, "the record at lsn %" PRIu64 " is format %u; "
					 "the reader takes formats up to %u", lsn, (unsigned)f,
					 (unsigned)max_format);
				*len = 0;
				return WAL_READ_FORMAT;
			}
			*len = off;
			*last = lsn - 1;
			return WAL_READ_OK;
		}
		off += encoded_size(out + off);
		lsn++;
	}
	return WAL_READ_OK;
}

/*
 * Reads whole records from one segment file, starting the scan at (offset,
 * lsn) and collecting records from `from` on, up to max_bytes (at least
 * one).  Records on disk below the tail cache are all complete.
 */
static int disk_read(struct wal *w, uint64_t seg_first, size_t offset, uint64_t lsn,
		     uint64_t from, size_t max_bytes, unsigned char **out, size_t *len,
		     uint64_t *last, char *err, size_t errlen)
{
	char *path = seg_path(w, seg_first);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	size_t chunk = max_bytes + WAL_MAX_VALUE + WAL_MAX_KEY + WAL_HEADER_SIZE_MAX;
	unsigned char *buf = fd >= 0 ? malloc(chunk) : NULL;
	if (!buf) {
		snprintf(err, errlen, "read segment %s: %s", path ? path : "?", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	free(path);
	size_t got = 0, pos = 0, first_off = 0;
	*len = 0;
	for (;;) {
		ssize_t r = pread(fd, buf, chunk, (off_t)offset);
		got = r > 0 ? (size_t)r : 0;
		pos = 0;
		while (pos < got) {
			struct wal_record rec;
			size_t n = wal_decode(buf + pos, got - pos, &rec);
			if (n == 0 || rec.lsn != lsn)
				break;
			if (lsn == from)
				first_off = pos;
			if (lsn >= from && pos + n - first_off > max_bytes && *len > 0)
				break;
			if (lsn >= from) {
				*len = pos + n - first_off;
				*last = lsn;
			}
			pos += n;
			lsn++;
		}
		/* Found, or nothing more to read: done.  Else `from` lies beyond
		 * this chunk (a long segment read from its start, as after a
		 * restart): skip what was scanned and read on. */
		if (*len || lsn > from || pos == 0 || got < chunk)
			break;
		offset += pos;
	}
	close(fd);
	if (*len)
		memmove(buf, buf + first_off, *len);
	*out = buf;
	pthread_mutex_lock(&w->mu);
	w->hint = (struct read_hint){ seg_first, lsn, offset + pos };
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static int read_any(struct wal *w, uint64_t from, size_t max_bytes, unsigned char **out,
		    size_t *len, uint64_t *last_lsn, char *err, size_t errlen)
{
	*out = NULL;
	*len = 0;
	*last_lsn = from - 1;
	pthread_mutex_lock(&w->mu);
	if (from > w->st.last_lsn) {
		pthread_mutex_unlock(&w->mu);
		return WAL_READ_OK;
	}
	if (w->tail.n && from >= w->tail.base_lsn) {
		int rc = tail_read(&w->tail, from, max_bytes, out, len, last_lsn);
		pthread_mutex_unlock(&w->mu);
		if (rc)
			snprintf(err, errlen, "out of memory");
		return rc ? -1 : WAL_READ_OK;
	}
	if (w->nsegs == 0 || from < w->segs[0].first_lsn) {
		pthread_mutex_unlock(&w->mu);
		return WAL_READ_GONE;
	}
	size_t k = w->nsegs - 1;
	while (k > 0 && w->segs[k].first_lsn > from)
		k--;
	uint64_t seg = w->segs[k].first_lsn, lsn = seg;
	size_t offset = WAL_SEG_HEADER_SIZE;
	if (w->hint.seg_first_lsn == seg && w->hint.next_lsn <= from && w->hint.next_lsn) {
		lsn = w->hint.next_lsn;
		offset = w->hint.offset;
	}
	pthread_mutex_unlock(&w->mu);
	if (disk_read(w, seg, offset, lsn, from, max_bytes, out, len, last_lsn, err, errlen))
		return -1;
	return WAL_READ_OK;
}

int wal_read(struct wal *w, uint64_t from, size_t max_bytes, uint8_t max_format,
	     unsigned char **out, size_t *len, uint64_t *last_lsn, char *err, size_t errlen)
{
	int rc = read_any(w, from, max_bytes, out, len, last_lsn, err, errlen);
	if (rc == WAL_READ_OK && *len)
		rc = cut_to_format(*out, len, from, last_lsn, max_format, err, errlen);
	return rc;
}

void wal_lag(struct wal *w, uint64_t acked_lsn, uint64_t *records, uint64_t *bytes,
	     uint64_t *age_ms)
{
	pthread_mutex_lock(&w->mu);
	const struct tail *t = &w->tail;
	uint64_t next = acked_lsn + 1;
	*records = w->st.last_lsn > acked_lsn ? w->st.last_lsn - acked_lsn : 0;
	*bytes = *age_ms = 0;
	if (*records && t->n) {
		size_t i = next >= t->base_lsn ? (size_t)(next - t->base_lsn) : 0;
		*bytes = t->len - t->off[i];
		*age_ms = time_mono_ms() - t->at_ms[i];
		if (next < t->base_lsn)  /* older than the cache: at least this much */
			*bytes += (t->base_lsn - next) * WAL_HEADER_SIZE;
	}
	pthread_mutex_unlock(&w->mu);
}

int wal_reset(struct wal *w, uint64_t lsn, uint64_t epoch, uint64_t commit_ms,
	      char *err, size_t errlen)
{
	pthread_mutex_lock(&w->mu);
	while ((w->filling.len || w->flusher_busy) && !w->failed) {
		want_flush_locked(w);
		pthread_cond_wait(&w->done_cv, &w->mu);
	}
	int rc = -1;
	if (w->failed) {
		snprintf(err, errlen, "%s", w->fail_msg);
		goto out;
	}
	for (size_t i = 0; i < w->nsegs; i++) {
		char *path = seg_path(w, w->segs[i].first_lsn);
		if (path)
			unlink(path);
		free(path);
	}
	w->nsegs = 0;
	w->tail.n = w->tail.len = 0;
	w->tail.base_lsn = 0;
	w->hint = (struct read_hint){ 0 };
	if (seg_create(w, lsn + 1, w->st.write_format, err, errlen) != 0)
		goto out;
	w->st.last_lsn = w->st.flushed_lsn = lsn;
	atomic_store(&w->flushed_now, lsn);
	w->st.last_epoch = epoch;
	w->st.last_commit_ms = commit_ms;
	w->st.last_crc_known = false;  /* the snapshot carries no record CRC */
	w->st.oldest_lsn = lsn + 1;
	rc = 0;
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

bool wal_wait_append(struct wal *w, uint64_t lsn, uint64_t timeout_ms)
{
	struct timespec ts;
	time_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&w->mu);
	while (w->st.last_lsn < lsn && !w->stopping && !w->failed)
		if (pthread_cond_timedwait(&w->append_cv, &w->mu, &ts) != 0)
			break;
	bool ok = w->st.last_lsn >= lsn;
	pthread_mutex_unlock(&w->mu);
	return ok;
}

bool wal_record_id_at(struct wal *w, uint64_t lsn, uint64_t *epoch, uint32_t *crc,
		      bool *crc_known)
{
	bool known = false;
	pthread_mutex_lock(&w->mu);
	const struct tail *t = &w->tail;
	if (t->n && lsn >= t->base_lsn && lsn < t->base_lsn + t->n) {
		const unsigned char *rec = t->data + t->off[lsn - t->base_lsn];
		*epoch = get_le64(rec + 24);
		*crc = get_le32(rec);
		*crc_known = known = true;
	} else if (lsn == w->st.last_lsn) {
		*epoch = w->st.last_epoch;
		*crc = w->st.last_crc;
		*crc_known = w->st.last_crc_known;
		known = true;
	}
	pthread_mutex_unlock(&w->mu);
	return known;
}

bool wal_commit_ms_at(struct wal *w, uint64_t lsn, uint64_t *commit_ms)
{
	bool known = false;
	pthread_mutex_lock(&w->mu);
	const struct tail *t = &w->tail;
	if (t->n && lsn >= t->base_lsn && lsn < t->base_lsn + t->n) {
		const unsigned char *rec = t->data + t->off[lsn - t->base_lsn];
		if (wal_encoded_format(rec) == 2) {
			*commit_ms = get_le64(rec + 32);
			known = true;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return known;
}

void wal_fsync_histogram(struct wal *w, struct histo_snapshot *out)
{
	histo_snapshot(&w->fsync_seconds, out);
}

void wal_get_damage(struct wal *w, struct wal_damage *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->damage;
	pthread_mutex_unlock(&w->mu);
}

void wal_set_disk_full(struct wal *w, bool full)
{
	atomic_store(&w->disk_full, full);
}

void wal_set_fsync_delay(struct wal *w, uint64_t ms)
{
	atomic_store(&w->fsync_delay_ms, ms);
}
