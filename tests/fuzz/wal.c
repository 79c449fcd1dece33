/* Fuzz target: wal_decode (sites/wal.c), record after record, as replay
 * reads a segment's bytes.  Each input is decoded as it is, and again with
 * every record's CRC made right (records framed by their lengths), so the
 * checks behind the CRC are reached too. */
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz.h"
#include "lebytes.h"
#include "wal.h"

static void decode_all(const unsigned char *d, size_t size)
{
	size_t off = 0, n;
	struct wal_record rec;
	while (off < size && (n = wal_decode(d + off, size - off, &rec)) > 0) {
		if (n < WAL_HEADER_SIZE || n > size - off || rec.key_len == 0 ||
		    rec.key_len > WAL_MAX_KEY || rec.value_len > WAL_MAX_VALUE)
			__builtin_trap();  /* a decoded record must lie within the input */
		off += n;
	}
}

/* The record layout is the one documented at the top of sites/wal.c. */
static void fix_crcs(unsigned char *d, size_t size)
{
	size_t off = 0;
	while (size - off >= WAL_HEADER_SIZE) {
		size_t n = wal_record_size(wal_encoded_format(d + off), get_le32(d + off + 4),
					   get_le32(d + off + 8));
		if (n > size - off)
			break;
		put_le32(d + off, crc32c(0, d + off + 4, n - 4));
		off += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_all(data, size);
	unsigned char *fixed = malloc(size ? size : 1);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	fix_crcs(fixed, size);
	decode_all(fixed, size);
	free(fixed);
	return 0;
}
