/* Fuzz target: config_load_mem (orchestrator/config.c), drorchd's --config
 * document (the file loader runs the same walk). */
#include "../../orchestrator/config.h"  /* not the build's config.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c;
	char err[512];
	config_load_mem("fuzz", (const char *)data, size, &c, err, sizeof(err));
	return 0;
}
