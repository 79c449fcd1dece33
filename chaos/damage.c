/*
 * damage.c — files damaged at rest (see damage.h).
 *
 * Where in a file is drawn by the schedule (fault.frac, a fraction of the
 * size), so a seed damages the same place of a file of the same size.
 */
#include "damage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_FILES 4096

static int fail(char *what, size_t len, const char *path, const char *op)
{
	snprintf(what, len, "%s: %s: %s", path, op, strerror(errno));
	return -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of dir ending in ext, sorted by name (their first LSN: names
 * are zero-padded), choose 0 first, 1 middle, 2 last; into out. 1 if none. */
static int pick_file(const char *dir, const char *ext, int choose, char *out, size_t len)
{
	DIR *d = opendir(dir);
	char *names[NAME_MAX_FILES];
	int n = 0;
	struct dirent *e;
	size_t el = strlen(ext);
	while (d && n < NAME_MAX_FILES && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l <= el || strcmp(e->d_name + l - el, ext))
			continue;
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	if (d)
		closedir(d);
	if (n == 0)
		return 1;
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	int i = choose == 0 ? 0 : choose == 1 ? n / 2 : n - 1;
	snprintf(out, len, "%s/%s", dir, names[i]);
	for (int k = 0; k < n; k++)
		free(names[k]);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : st.st_size;
}

static off_t at_frac(off_t size, uint32_t frac)
{
	return size <= 0 ? 0 : (off_t)(((uint64_t)size * frac) >> 32);
}

/* Flips bit (frac & 7) of the byte at frac of path's size. */
static int flip_bit(const char *path, uint32_t frac, char *what, size_t len)
{
	off_t size = file_size(path), at = at_frac(size, frac);
	if (size <= 0)
		return snprintf(what, len, "%s: empty, nothing to flip", path), 1;
	int fd = open(path, O_RDWR);
	unsigned char b;
	if (fd < 0)
		return fail(what, len, path, "open");
	if (pread(fd, &b, 1, at) != 1) {
		close(fd);
		return fail(what, len, path, "read");
	}
	b ^= (unsigned char)(1u << (frac & 7));
	int rc = pwrite(fd, &b, 1, at) == 1 && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	if (rc)
		return fail(what, len, path, "write");
	snprintf(what, len, "flipped bit %u of byte %lld of %lld in %s", frac & 7, (long long)at,
		 (long long)size, path);
	return 0;
}

static int truncate_at(const char *path, off_t at, char *what, size_t len)
{
	off_t size = file_size(path);
	if (truncate(path, at))
		return fail(what, len, path, "truncate");
	snprintf(what, len, "truncated %s from %lld to %lld bytes", path, (long long)size, (long long)at);
	return 0;
}

static int remove_file(const char *path, char *what, size_t len)
{
	if (unlink(path)) {
		if (errno == ENOENT)
			return snprintf(what, len, "%s: not there", path), 1;
		return fail(what, len, path, "unlink");
	}
	snprintf(what, len, "deleted %s", path);
	return 0;
}

/* Overwrites the start of path with bytes that are no pid. */
static int scribble(const char *path, char *what, size_t len)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno == ENOENT ? (snprintf(what, len, "%s: not there", path), 1)
				       : fail(what, len, path, "open");
	static const char junk[] = "\x01\xfe garbage \xff";
	int rc = pwrite(fd, junk, sizeof(junk) - 1, 0) == (ssize_t)sizeof(junk) - 1 ? 0 : -1;
	close(fd);
	if (rc)
		return fail(what, len, path, "write");
	snprintf(what, len, "scribbled over the start of %s", path);
	return 0;
}

int damage_site(const char *data, const struct fault *f, char *what, size_t len)
{
	char dir[600], path[900];
	int rc;
	switch (f->kind) {
	case FK_WAL_FLIP:
	case FK_WAL_TRUNC:
	case FK_WAL_DELETE:
		snprintf(dir, sizeof(dir), "%s/wal", data);
		if ((rc = pick_file(dir, ".wal", f->segment, path, sizeof(path))))
			return snprintf(what, len, "%s: no WAL segment", dir), rc;
		if (f->kind == FK_WAL_FLIP)
			return flip_bit(path, f->frac, what, len);
		if (f->kind == FK_WAL_TRUNC)
			return truncate_at(path, at_frac(file_size(path), f->frac), what, len);
		return remove_file(path, what, len);
	case FK_SNAP_DAMAGE:
	case FK_SNAP_EMPTY:
	case FK_SNAP_MISSING:
		snprintf(dir, sizeof(dir), "%s/snap", data);
		if ((rc = pick_file(dir, ".snap", 2, path, sizeof(path))))
			return snprintf(what, len, "%s: no snapshot", dir), rc;
		if (f->kind == FK_SNAP_DAMAGE)
			return flip_bit(path, f->frac, what, len);
		if (f->kind == FK_SNAP_EMPTY)
			return truncate_at(path, 0, what, len);
		return remove_file(path, what, len);
	case FK_STATE_DELETE:
		snprintf(path, sizeof(path), "%s/state.json", data);
		return remove_file(path, what, len);
	case FK_STATE_DAMAGE:
		snprintf(path, sizeof(path), "%s/state.json", data);
		return flip_bit(path, f->frac, what, len);
	case FK_LOCK_DAMAGE:
		snprintf(path, sizeof(path), "%s/LOCK", data);
		return scribble(path, what, len);
	default:
		snprintf(what, len, "%s is not a storage fault", sched_kind_name(f->kind));
		return -1;
	}
}

/* The SQLite page size from the header (offset 16, big-endian; 1 = 65536). */
static long page_size(int fd)
{
	unsigned char h[2];
	if (pread(fd, h, 2, 16) != 2)
		return -1;
	long ps = (long)h[0] << 8 | h[1];
	return ps == 1 ? 65536 : ps >= 512 ? ps : -1;
}

/* Inverts 32 bytes inside one page of the store, both drawn from frac. */
static int damage_page(const char *db, uint32_t frac, char *what, size_t len)
{
	int fd = open(db, O_RDWR);
	if (fd < 0)
		return fail(what, len, db, "open");
	long ps = page_size(fd);
	off_t size = file_size(db);
	if (ps < 0 || size < ps) {
		close(fd);
		return snprintf(what, len, "%s: no page to damage", db), 1;
	}
	long npages = (long)(size / ps), page = (long)(frac % (uint32_t)npages);
	off_t at = (off_t)page * ps + (off_t)((frac >> 8) % (uint32_t)(ps - 32));
	unsigned char buf[32];
	int rc = -1;
	if (pread(fd, buf, sizeof(buf), at) == (ssize_t)sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] ^= 0xff;
		rc = pwrite(fd, buf, sizeof(buf), at) == (ssize_t)sizeof(buf) && fsync(fd) == 0 ? 0 : -1;
	}
	close(fd);
	if (rc)
		return fail(what, len, db, "damage");
	snprintf(what, len, "inverted 32 bytes at offset %lld (page %ld of %ld) of %s", (long long)at,
		 page + 1, npages, db);
	return 0;
}

int damage_store(const char *db, const struct fault *f, char *what, size_t len)
{
	char path[700];
	switch (f->kind) {
	case FK_DB_WAL_DELETE:
		snprintf(path, sizeof(path), "%s-wal", db);
		return remove_file(path, what, len);
	case FK_DB_SHM_DELETE:
		snprintf(path, sizeof(path), "%s-shm", db);
		return remove_file(path, what, len);
	case FK_DB_PAGE:
		return damage_page(db, f->frac, what, len);
	default:
		snprintf(what, len, "%s is not an orchstore fault", sched_kind_name(f->kind));
		return -1;
	}
}

/* A file of dir ending in ext and larger than min bytes? */
static bool any_file(const char *dir, const char *ext, off_t min)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	size_t el = strlen(ext);
	while (d && !found && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[1200];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		found = l > el && !strcmp(e->d_name + l - el, ext) && file_size(path) > min;
	}
	if (d)
		closedir(d);
	return found;
}

bool damage_has_records(const char *data)
{
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/snap", data);
	if (any_file(dir, ".snap", 0))
		return true;
	snprintf(dir, sizeof(dir), "%s/wal", data);
	return any_file(dir, ".wal", 16);  /* more than a segment header */
}

int damage_move_aside(const char *path, const char *aside_dir, const char *tag, char *what,
		      size_t len)
{
	char to[900];
	if (access(path, F_OK))
		return 1;
	if (mkdir(aside_dir, 0755) && errno != EEXIST)
		return fail(what, len, aside_dir, "mkdir");
	snprintf(to, sizeof(to), "%s/%s", aside_dir, tag);
	if (rename(path, to))
		return fail(what, len, path, "rename");
	snprintf(what, len, "moved %s to %s", path, to);
	return 0;
}
