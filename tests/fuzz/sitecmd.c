/* Fuzz target: drsite's admin command bodies (sites/admincmd.c): the same
 * bytes as a role, fence/rewind, heartbeat, fcv and faults body. */
#include "admincmd.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	const struct admin_clock k = { .boot_id = 0x0123456789abcdefULL, .now_ms = 1000000 };
	char err[512];
	uint64_t epoch;
	struct admin_grant g;
	struct version fcv;
	struct admin_role_cmd c;
	struct faults f = { 0 };
	if (admin_parse_role(body, size, &k, &c, err, sizeof(err)) == 0)
		json_decref(c.doc);
	admin_parse_epoch_body(body, size, &epoch, err, sizeof(err));
	admin_parse_heartbeat(body, size, &k, &epoch, &g, err, sizeof(err));
	admin_parse_fcv(body, size, &k, &epoch, &fcv, &g, err, sizeof(err));
	admin_parse_faults(body, size, &f, err, sizeof(err));
	return 0;
}
