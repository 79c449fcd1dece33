/*
 * fileio.h — whole reads and writes (read(2) and write(2) may move less
 * than asked and may be interrupted), and making a new file or a rename
 * durable by fsyncing its directory.
 *
 * Errors: -1 with errno set.
 */
#ifndef DRORCH_FILEIO_H
#define DRORCH_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all len bytes, retrying short writes and EINTR. */
int write_all(int fd, const void *data, size_t len);
/* Reads until len bytes or end of file; returns the bytes read, or -1. */
ssize_t read_all(int fd, void *buf, size_t len);
/* The whole file as a NUL-terminated string (malloc'd; *len its length
 * when len is not NULL), or NULL with errno set (EFBIG: more than max
 * bytes). */
char *read_text_file(const char *path, size_t max, size_t *len);
/* fsyncs the directory dir, so that entries created or renamed in it last. */
int fsync_dir(const char *dir);
/* Removes DIR/%020llu SUFFIX for each of nums[0..n) (a missing one is no
 * error), then fsyncs dir so the removals last.  0, or -1 with err. */
int remove_numbered(const char *dir, const uint64_t *nums, size_t n, const char *suffix,
		    char *err, size_t errlen);

#endif
