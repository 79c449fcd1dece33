/*
 * snapshot.c — checkpoint files.
 *
 * SNAPSHOT FILE FORMAT
 *
 * DIR/snap/NNNNNNNNNNNNNNNNNNNN.snap, named by the LSN it covers (twenty
 * decimal digits).  All integers little-endian.
 *
 *   header, 40 bytes (format 1) or 48 (format 2)
 *   0   8  magic "DRSNAP01" (format 1) or "DRSNAP02" (format 2)
 *   8   8  lsn     every record <= lsn is included, none after
 *   16  8  epoch   epoch of the record at lsn
 *   24  8  count   number of entries
 *   format 1:
 *   32  4  reserved, zero
 *   36  4  crc32c of bytes [0, 36)
 *   format 2:
 *   32  8  commit_ms  commit time of the record at lsn (0: unknown, e.g. a
 *                     format-1 record), so a replica that installed the
 *                     snapshot knows its lag exactly (format.h)
 *   40  4  reserved, zero
 *   44  4  crc32c of bytes [0, 44)
 *
 *   entry, 24 + key_len + value_len bytes, count times
 *   0   4  crc32c of bytes [4, 24 + key_len + value_len)
 *   4   4  key_len
 *   8   4  value_len
 *   12  4  reserved, zero
 *   16  8  lsn of the record that last wrote the key
 *   24  .. key bytes, then value bytes
 *
 *   trailer, 16 bytes
 *   0   8  magic "DRSNAPND"
 *   8   4  crc32c of every byte before the trailer
 *   12  4  reserved, zero
 *
 * A snapshot is valid only if the header CRC, every entry CRC, the entry
 * count and the trailer CRC all check out and nothing follows the trailer.
 * It is written to a temporary name, fsync'd, renamed and the directory
 * fsync'd, so a crash leaves either the old snapshot or the new one.
 *
 * A site writes the format its FCV allows (format.h).  "DRSNAP" and a
 * number above what this build reads is a newer binary's snapshot:
 * SNAP_FORMAT, never SNAP_CORRUPT, so the site refuses to start rather than
 * discarding it.  drsite 0.1.0 is built without the format-2 code.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "lebytes.h"
#include "fileio.h"
#include "log.h"
#include "format.h"

#define SNAP_HDR 40u       /* format 1 */
#define SNAP_HDR_MAX 48u   /* format 2 */
#define SNAP_ENTRY_HDR 24u
#define SNAP_TRAILER 16u

struct out {
	unsigned char *data;
	size_t len, cap;
	uint64_t count;
	int oom;
};


static unsigned char *out_grow(struct out *o, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 1 << 20;
		while (cap < o->len + n)
			cap *= 2;
		unsigned char *d = realloc(o->data, cap);
		if (!d) {
			o->oom = 1;
			return NULL;
		}
		o->data = d;
		o->cap = cap;
	}
	unsigned char *p = o->data + o->len;
	o->len += n;
	return p;
}

static int add_entry(void *ctx, const char *key, uint32_t klen, const char *value,
		     uint32_t vlen, uint64_t lsn)
{
	struct out *o = ctx;
	size_t n = SNAP_ENTRY_HDR + (size_t)klen + vlen;
	unsigned char *p = out_grow(o, n);
	if (!p)
		return -1;
	put_le32(p + 4, klen);
	put_le32(p + 8, vlen);
	put_le32(p + 12, 0);
	put_le64(p + 16, lsn);
	memcpy(p + SNAP_ENTRY_HDR, key, klen);
	if (vlen)
		memcpy(p + SNAP_ENTRY_HDR + klen, value, vlen);
	put_le32(p, crc32c(0, p + 4, n - 4));
	o->count++;
	return 0;
}

static int snap_dir(const char *datadir, char **out)
{
	if (asprintf(out, "%s/snap", datadir) < 0)
		return -1;
	if (mkdir(*out, 0755) != 0 && errno != EEXIST) {
		free(*out);
		return -1;
	}
	return 0;
}

/* Lists snapshot LSNs in dir, newest first.  Caller frees. */
static int list_snaps(const char *dir, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	uint64_t *v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 25 || strcmp(e->d_name + 20, ".snap") != 0 ||
		    strspn(e->d_name, "0123456789") != 20)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -1;
			}
			v = nv;
		}
		v[len++] = strtoull(e->d_name, NULL, 10);
	}
	closedir(d);
	for (size_t i = 1; i < len; i++)  /* insertion sort, newest first */
		for (size_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
			uint64_t t = v[j]; v[j] = v[j - 1]; v[j - 1] = t;
		}
	*out = v;
	*n = len;
	return 0;
}

/*
 * Removes every snapshot but keep, newer ones too: the one just written or
 * installed describes the map, and start-up loads the newest file, so a
 * newer leftover (say, from before a replica installed its primary's older
 * snapshot) would bring back data the site no longer has.
 */
static void remove_others(const char *dir, uint64_t keep)
{
	uint64_t *v = NULL;
	size_t n = 0;
	if (list_snaps(dir, &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *p = NULL;
		if (v[i] != keep && asprintf(&p, "%s/%020" PRIu64 ".snap", dir, v[i]) >= 0)
			unlink(p);
		free(p);
	}
	free(v);
}

static int write_file(const char *tmp, const char *final, const struct out *o)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, o->data, o->len) != 0 || fsync(fd) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return rename(tmp, final);
}

/* The header size of format f. */
static size_t hdr_size(uint8_t f)
{
#if DRSITE_FORMAT_MAX >= 2
	if (f == 2)
		return SNAP_HDR_MAX;
#endif
	(void)f;
	return SNAP_HDR;
}

/* Writes the header of format f at h (its size: hdr_size(f)). */
static void put_header(unsigned char *h, uint8_t f, const struct kv_info *info, uint64_t count)
{
	size_t n = hdr_size(f);
	memcpy(h, n == SNAP_HDR ? "DRSNAP01" : "DRSNAP02", 8);
	put_le64(h + 8, info->applied_lsn);
	put_le64(h + 16, info->epoch);
	put_le64(h + 24, count);
	if (n > SNAP_HDR)
		put_le64(h + 32, info->applied_commit_ms);
	put_le32(h + n - 8, 0);
	put_le32(h + n - 4, crc32c(0, h, n - 4));
}

/* Serialises the map (under its read lock) into o in format f; fills info. */
static int serialise(struct kv *kv, uint8_t f, struct out *o, struct kv_info *info,
		     char *err, size_t errlen)
{
	size_t hn = hdr_size(f);
	if (!out_grow(o, hn)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int corrupt = 0;
	if (kv_foreach(kv, add_entry, o, info, &corrupt) != 0) {
		snprintf(err, errlen, "%s", corrupt ? "a value failed its CRC in memory"
						    : "out of memory");
		return -1;
	}
	put_header(o->data, f, info, o->count);
	uint32_t body_crc = crc32c(0, o->data, o->len);
	unsigned char *t = out_grow(o, SNAP_TRAILER);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(t, "DRSNAPND", 8);
	put_le32(t + 8, body_crc);
	put_le32(t + 12, 0);
	return 0;
}

int snap_write(struct kv *kv, const char *datadir, uint8_t format, uint64_t *lsn_out,
	       char *err, size_t errlen)
{
	struct out o = { 0 };
	struct kv_info info;
	char *dir = NULL, *tmp = NULL, *final = NULL;
	int rc = -1;
	if (snap_dir(datadir, &dir) != 0) {
		snprintf(err, errlen, "create %s/snap: %s", datadir, strerror(errno));
		return -1;
	}
	if (serialise(kv, format, &o, &info, err, errlen) != 0)
		goto out;
	if (asprintf(&tmp, "%s/snapshot.tmp", dir) < 0 ||
	    asprintf(&final, "%s/%020" PRIu64 ".snap", dir, info.applied_lsn) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (write_file(tmp, final, &o) != 0 || fsync_dir(dir) != 0) {
		snprintf(err, errlen, "write %s: %s", final, strerror(errno));
		unlink(tmp);
		goto out;
	}
	remove_others(dir, info.applied_lsn);
	*lsn_out = info.applied_lsn;
	rc = 0;
out:
	free(o.data);
	free(dir);
	free(tmp);
	free(final);
	return rc;
}

/* The format a snapshot image names in its magic: 1..99, or 0 for none. */
static unsigned image_format(const unsigned char *d, size_t len)
{
	if (len < 8 || memcmp(d, "DRSNAP", 6) != 0 || d[6] < '0' || d[6] > '9' ||
	    d[7] < '0' || d[7] > '9')
		return 0;
	return (unsigned)(d[6] - '0') * 10 + (unsigned)(d[7] - '0');
}

/* Checks header and trailer; fills the header's fields; 0 or -1. */
static int check_frame(const unsigned char *d, size_t len, uint64_t *lsn,
		       uint64_t *epoch, uint64_t *commit_ms, uint64_t *count, size_t *hn)
{
	unsigned f = image_format(d, len);
	if (!format_readable(f))
		return -1;
	*hn = hdr_size((uint8_t)f);
	if (len < *hn + SNAP_TRAILER || crc32c(0, d, *hn - 4) != get_le32(d + *hn - 4) ||
	    get_le32(d + *hn - 8) != 0)
		return -1;
	const unsigned char *t = d + len - SNAP_TRAILER;
	if (memcmp(t, "DRSNAPND", 8) != 0 ||
	    crc32c(0, d, len - SNAP_TRAILER) != get_le32(t + 8))
		return -1;
	*lsn = get_le64(d + 8);
	*epoch = get_le64(d + 16);
	*count = get_le64(d + 24);
	*commit_ms = *hn > SNAP_HDR ? get_le64(d + 32) : 0;
	return 0;
}

static int load_entries(struct kv *kv, const unsigned char *d, size_t len, size_t hn,
			uint64_t count, uint64_t epoch)
{
	size_t off = hn, end = len - SNAP_TRAILER;
	for (uint64_t i = 0; i < count; i++) {
		if (end - off < SNAP_ENTRY_HDR)
			return -1;
		const unsigned char *p = d + off;
		uint32_t klen = get_le32(p + 4), vlen = get_le32(p + 8);
		size_t n = SNAP_ENTRY_HDR + (size_t)klen + vlen;
		if (klen == 0 || klen > WAL_MAX_KEY || vlen > WAL_MAX_VALUE ||
		    n > end - off || crc32c(0, p + 4, n - 4) != get_le32(p))
			return -1;
		struct wal_record rec = { .lsn = get_le64(p + 16), .epoch = epoch, .type = WAL_PUT,
					  .key = (const char *)p + SNAP_ENTRY_HDR, .key_len = klen,
					  .value = p + SNAP_ENTRY_HDR + klen, .value_len = vlen };
		if (kv_apply(kv, &rec) != 0)
			return -1;
		off += n;
	}
	return off == end ? 0 : -1;
}

int snap_decode(const unsigned char *buf, size_t len, struct kv *kv, uint64_t *lsn,
		uint64_t *epoch, uint64_t *commit_ms, char *err, size_t errlen)
{
	uint64_t count;
	size_t hn = 0;
	unsigned f = image_format(buf, len);
	if (f > DRSITE_FORMAT_MAX) {
		snprintf(err, errlen, "the snapshot is format %u; this drsite %s reads formats %s "
			 "only: a newer drsite wrote it", f, DRSITE_VERSION, DRSITE_FORMATS);
		return SNAP_FORMAT;
	}
	if (check_frame(buf, len, lsn, epoch, commit_ms, &count, &hn) != 0 ||
	    load_entries(kv, buf, len, hn, count, *epoch) != 0) {
		snprintf(err, errlen, "CRC or framing check failed");
		return SNAP_CORRUPT;
	}
	return 0;
}

int snap_load_latest(struct kv *kv, const char *datadir, uint64_t *lsn_out,
		     uint64_t *epoch_out, char *err, size_t errlen)
{
	char *dir = NULL, *path = NULL, *tmp = NULL;
	uint64_t *v = NULL;
	size_t n = 0;
	unsigned char *d = NULL;
	int rc = -1;
	*lsn_out = *epoch_out = 0;
	if (snap_dir(datadir, &dir) != 0 || list_snaps(dir, &v, &n) != 0) {
		snprintf(err, errlen, "open %s/snap: %s", datadir, strerror(errno));
		goto out;
	}
	if (asprintf(&tmp, "%s/snapshot.tmp", dir) >= 0)
		unlink(tmp);  /* a checkpoint that crashed before its rename */
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (asprintf(&path, "%s/%020" PRIu64 ".snap", dir, v[0]) < 0)
		goto out;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0 || !(d = malloc((size_t)sb.st_size + 1)) ||
	    read_all(fd, d, (size_t)sb.st_size) != sb.st_size) {
		snprintf(err, errlen, "read snapshot %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	uint64_t lsn = 0, epoch = 0, commit_ms = 0;
	char why[256];
	rc = snap_decode(d, (size_t)sb.st_size, kv, &lsn, &epoch, &commit_ms, why, sizeof(why));
	if (rc == SNAP_FORMAT) {
		snprintf(err, errlen, "%s: %s (nothing was changed)", path, why);
		goto out;
	}
	if (rc != 0 || lsn != v[0]) {
		snprintf(err, errlen, "snapshot %s is corrupt (CRC or framing check failed); "
			 "refusing to serve from it", path);
		rc = SNAP_CORRUPT;
		goto out;
	}
	kv_set_position(kv, lsn, epoch, commit_ms);
	*lsn_out = lsn;
	*epoch_out = epoch;
	struct kv_info info;
	kv_get_info(kv, &info);
	log_event(LOG_INFO, "snapshot.loaded", "{s:s, s:I, s:I}", "file", path,
		  "lsn", (json_int_t)lsn, "keys", (json_int_t)info.keys);
	rc = 0;
out:
	free(d);
	free(v);
	free(dir);
	free(path);
	free(tmp);
	return rc;
}

int snap_remove_all(const char *datadir, char *err, size_t errlen)
{
	char *dir = NULL, *tmp = NULL;
	uint64_t *v = NULL;
	size_t n = 0;
	int rc = -1;
	if (snap_dir(datadir, &dir) != 0 || list_snaps(dir, &v, &n) != 0) {
		snprintf(err, errlen, "open %s/snap: %s", datadir, strerror(errno));
	} else if (asprintf(&tmp, "%s/snapshot.tmp", dir) < 0) {
		tmp = NULL;
		snprintf(err, errlen, "out of memory");
	} else if (unlink(tmp) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "remove %s: %s", tmp, strerror(errno));
	} else {
		rc = remove_numbered(dir, v, n, ".snap", err, errlen);  /* fsyncs dir too */
	}
	free(tmp);
	free(v);
	free(dir);
	return rc;
}

uint64_t snap_newest_named(const char *datadir)
{
	char *dir = NULL;
	uint64_t *v = NULL, newest = 0;
	size_t n = 0;
	if (snap_dir(datadir, &dir) == 0 && list_snaps(dir, &v, &n) == 0 && n)
		newest = v[0];
	free(v);
	free(dir);
	return newest;
}

int snap_serialise(struct kv *kv, uint8_t format, unsigned char **buf, size_t *len,
		   uint64_t *lsn_out, char *err, size_t errlen)
{
	struct out o = { 0 };
	struct kv_info info;
	if (serialise(kv, format, &o, &info, err, errlen) != 0) {
		free(o.data);
		return -1;
	}
	*buf = o.data;
	*len = o.len;
	*lsn_out = info.applied_lsn;
	return 0;
}

int snap_install(struct kv *kv, const char *datadir, const unsigned char *buf, size_t len,
		 uint64_t *lsn_out, uint64_t *epoch_out, char *err, size_t errlen)
{
	uint64_t lsn, epoch, commit_ms;
	struct kv *fresh = kv_new();
	char *dir = NULL, *tmp = NULL, *final = NULL;
	int rc = -1;
	if (!fresh) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char why[256];
	int drc = snap_decode(buf, len, fresh, &lsn, &epoch, &commit_ms, why, sizeof(why));
	if (drc != 0) {
		snprintf(err, errlen, "received snapshot %s", drc == SNAP_FORMAT ? why :
			 "is corrupt (CRC or framing check failed)");
		goto out;
	}
	struct out o = { .data = (unsigned char *)buf, .len = len };
	if (snap_dir(datadir, &dir) != 0 || asprintf(&tmp, "%s/snapshot.tmp", dir) < 0 ||
	    asprintf(&final, "%s/%020" PRIu64 ".snap", dir, lsn) < 0 ||
	    write_file(tmp, final, &o) != 0 || fsync_dir(dir) != 0) {
		snprintf(err, errlen, "store received snapshot: %s", strerror(errno));
		goto out;
	}
	remove_others(dir, lsn);
	kv_set_position(fresh, lsn, epoch, commit_ms);
	kv_swap(kv, fresh);
	*lsn_out = lsn;
	*epoch_out = epoch;
	rc = 0;
out:
	kv_free(fresh);
	free(dir);
	free(tmp);
	free(final);
	return rc;
}
