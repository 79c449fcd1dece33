/* Fuzz target: what a replica parses from its primary (sites/repl.h): the
 * shipping frame of a 200 answer, binary and JSON, walked record by record
 * as the follower does, and the diverged_lsn of a 409 answer.  The
 * replica is at epoch 1 and asks from LSN 1. */
#include <string.h>

#include "fuzz.h"
#include "repl.h"

static void walk(const uint8_t *data, size_t size, bool json)
{
	struct repl_batch b;
	char err[256];
	if (repl_batch_open(&b, (const char *)data, size, json, 1, 1, err, sizeof(err)) == 0) {
		struct wal_record r;
		while (repl_batch_next(&b, &r, err, sizeof(err)) > 0)
			;
	}
	repl_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk(data, size, false);
	walk(data, size, true);
	repl_diverged_lsn((const char *)data, size);
	return 0;
}
