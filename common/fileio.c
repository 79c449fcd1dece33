/*
 * fileio.c — whole reads and writes, directory fsync (see fileio.h).
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t read_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int remove_numbered(const char *dir, const uint64_t *nums, size_t n, const char *suffix,
		    char *err, size_t errlen)
{
	char path[4096];
	for (size_t i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%020" PRIu64 "%s", dir, nums[i], suffix) >=
		    (int)sizeof(path)) {
			snprintf(err, errlen, "%s: path too long", dir);
			return -1;
		}
		if (unlink(path) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "remove %s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (fsync_dir(dir) != 0) {
		snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

char *read_text_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(max + 2);
	ssize_t n = buf ? read_all(fd, buf, max + 1) : -1;
	int saved = buf ? errno : ENOMEM;
	close(fd);
	if (n < 0 || (size_t)n > max) {
		free(buf);
		errno = n < 0 ? saved : EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}
