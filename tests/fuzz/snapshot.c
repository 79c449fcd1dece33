/* Fuzz target: snap_decode (sites/snapshot.c), the path of every snapshot
 * loaded from a file (snap_load_latest) or received from a primary
 * (snap_install). */
#include "fuzz.h"
#include "kv.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv *kv = kv_new();
	uint64_t lsn = 0, epoch = 0;
	char err[256];
	if (!kv)
		return 0;
	snap_decode(data, size, kv, &lsn, &epoch, err, sizeof(err));
	kv_free(kv);
	return 0;
}
