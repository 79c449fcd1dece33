/* Fuzz target: wal_decode (sites/wal.c), record after record, as replay
 * reads a segment's bytes. */
#include "fuzz.h"
#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, n;
	struct wal_record rec;
	while (off < size && (n = wal_decode(data + off, size - off, &rec)) > 0) {
		if (n < WAL_HEADER_SIZE || n > size - off || rec.key_len == 0 ||
		    rec.key_len > WAL_MAX_KEY || rec.value_len > WAL_MAX_VALUE)
			__builtin_trap();  /* a decoded record must lie within the input */
		off += n;
	}
	return 0;
}
