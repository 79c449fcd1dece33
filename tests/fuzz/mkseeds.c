/*
 * mkseeds.c — writes the binary seed inputs of the wal, snapshot and
 * replframe corpora with the project's own encoders (wal_encode,
 * snap_serialise, the shipping frame layout of repl.c):
 *
 *   tests/fuzz/mkseeds DIR      (DIR/wal, DIR/snapshot, DIR/replframe exist)
 *
 * Run by hand when a format changes; the outputs are committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "lebytes.h"
#include "snapshot.h"
#include "wal.h"

static int save(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

/* n records from lsn 1 at epoch 1 (the last one a delete) of format f
 * into buf. */
static size_t records(unsigned char *buf, int n, uint8_t f)
{
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		char key[16], value[32];
		snprintf(key, sizeof(key), "key%d", i);
		snprintf(value, sizeof(value), "value-%d", i * 7);
		struct wal_record r = { .lsn = (uint64_t)i + 1, .epoch = 1,
			.type = i == n - 1 && n > 1 ? WAL_DELETE : WAL_PUT,
			.key = key, .key_len = (uint32_t)strlen(key), .value = value,
			.value_len = i == n - 1 && n > 1 ? 0 : (uint32_t)strlen(value),
			.format = f, .commit_ms = f == 2 ? 1764900000000u + (uint64_t)i : 0 };
		wal_encode(&r, buf + off);
		off += wal_record_size(f, r.key_len, r.value_len);
	}
	return off;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	char dir[900];
	unsigned char buf[4096], frame[4096 + 40];
	int rc = 0;
	snprintf(dir, sizeof(dir), "%s/wal", argv[1]);
	for (int n = 1; n <= 3; n++)
		for (uint8_t f = 1; f <= 2; f++) {
			char name[32];
			snprintf(name, sizeof(name), "records-%d-f%u", n, (unsigned)f);
			rc |= save(dir, name, buf, records(buf, n, f));
		}
	snprintf(dir, sizeof(dir), "%s/replframe", argv[1]);
	size_t len = records(buf, 3, 1);
	memcpy(frame, "DRSHIP01", 8);
	put_le64(frame + 8, 1);
	put_le64(frame + 16, 3);
	put_le64(frame + 24, 3);
	memcpy(frame + 32, buf, len);
	rc |= save(dir, "frame-3", frame, 32 + len);
	rc |= save(dir, "frame-empty", frame, 32);
	len = records(buf, 3, 2);  /* format 2: the header adds the last commit time */
	memcpy(frame, "DRSHIP02", 8);
	put_le64(frame + 32, 1764900000002u);
	memcpy(frame + 40, buf, len);
	rc |= save(dir, "frame-3-f2", frame, 40 + len);
	snprintf(dir, sizeof(dir), "%s/snapshot", argv[1]);
	for (int n = 0; n <= 3; n += 3)
	for (uint8_t f = 1; f <= 2; f++) {
		struct kv *kv = kv_new();
		unsigned char *img = NULL;
		size_t ilen = 0;
		uint64_t lsn;
		char err[256], name[32];
		len = records(buf, n, f);
		struct wal_record r;
		for (size_t off = 0, k; off < len; off += k) {
			k = wal_decode(buf + off, len - off, &r);
			kv_apply(kv, &r);
		}
		if (snap_serialise(kv, f, &img, &ilen, &lsn, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
		} else {
			snprintf(name, sizeof(name), "snap-%d-f%u", n, (unsigned)f);
			rc |= save(dir, name, img, ilen);
		}
		free(img);
		kv_free(kv);
	}
	return rc ? 1 : 0;
}
