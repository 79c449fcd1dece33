/* Fuzz target: snap_decode (sites/snapshot.c), the path of every snapshot
 * loaded from a file (snap_load_latest) or received from a primary
 * (snap_install).
 *
 * Each input is decoded twice: as it is, and with every CRC made right
 * (header, each entry as its lengths frame it, trailer), so that the
 * fuzzer also reaches the entry framing and the map behind the checksums,
 * which random bytes almost never pass. */
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz.h"
#include "kv.h"
#include "lebytes.h"
#include "snapshot.h"

/* The layout is the one documented at the top of sites/snapshot.c. */
static void fix_crcs(unsigned char *d, size_t len)
{
	size_t h = len >= 8 && memcmp(d, "DRSNAP02", 8) == 0 ? 48 : 40;  /* format 2 : 1 */
	if (len < h + 16)
		return;
	put_le32(d + h - 4, crc32c(0, d, h - 4));
	size_t off = h, end = len - 16;
	while (end - off >= 24) {
		size_t n = 24 + (size_t)get_le32(d + off + 4) + get_le32(d + off + 8);
		if (n > end - off)
			break;
		put_le32(d + off, crc32c(0, d + off + 4, n - 4));
		off += n;
	}
	put_le32(d + end + 8, crc32c(0, d, end));
}

static void decode(const unsigned char *d, size_t len)
{
	struct kv *kv = kv_new();
	uint64_t lsn = 0, epoch = 0, commit_ms = 0;
	char err[256];
	if (!kv)
		return;
	snap_decode(d, len, kv, &lsn, &epoch, &commit_ms, err, sizeof(err));
	kv_free(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size);
	unsigned char *fixed = malloc(size ? size : 1);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	fix_crcs(fixed, size);
	decode(fixed, size);
	free(fixed);
	return 0;
}
