/*
 * replay.c — runs a fuzz target over saved inputs without libFuzzer:
 *
 *   replay-NAME DIR|FILE ...
 *
 * calls LLVMFuzzerTestOneInput once per file (every regular file of each
 * DIR, in name order), so make check replays the committed corpora (and,
 * in the sanitizer build, under ASan and UBSan).  A crash or sanitizer
 * report ends the run; otherwise the last line is a Check-style summary
 * (one check per input) that .ci/run tallies.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads path whole into a malloc'd buffer (at least 1 byte); NULL on error. */
static unsigned char *read_input(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			unsigned char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Replays one file; 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
	size_t len = 0;
	unsigned char *buf = read_input(path, &len);
	if (!buf) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		return -1;
	}
	/* An exact-size copy, so ASan sees a read past the input's end. */
	unsigned char *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays every regular file of dir; the count into *n.  0 or -1. */
static int replay_dir(const char *dir, long *n)
{
	struct dirent **names = NULL;
	int count = scandir(dir, &names, NULL, by_name), rc = 0;
	if (count < 0) {
		fprintf(stderr, "replay: cannot list %s\n", dir);
		return -1;
	}
	for (int i = 0; i < count; i++) {
		char path[4096];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (replay_file(path) != 0)
				rc = -1;
			else
				(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	long n = 0;
	int rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if (replay_dir(argv[i], &n) != 0)
				rc = 1;
		} else if (replay_file(argv[i]) != 0) {
			rc = 1;
		} else {
			n++;
		}
	}
	if (n == 0) {
		fprintf(stderr, "replay: no input found\n");
		rc = 1;
	}
	printf("%s: %ld inputs replayed\n", argv[0], n);
	printf("%d%%: Checks: %ld, Failures: 0, Errors: %d\n", rc ? 0 : 100, n + rc, rc);
	return rc;
}
