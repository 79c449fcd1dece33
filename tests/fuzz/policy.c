/* Fuzz target: policy_parse (orchestrator/config.c), a policy document
 * (YAML or JSON) as PUT /v1/policy and the store hand it over, against a
 * config of three sites. */
#include <stdio.h>
#include <string.h>

#include "../../orchestrator/config.h"  /* not the build's config.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static const char *const names[] = { "us-east", "eu-west", "ap-south" };
	if (cfg.nsites == 0) {
		for (int i = 0; i < 3; i++)
			snprintf(cfg.sites[i].name, sizeof(cfg.sites[i].name), "%s", names[i]);
		cfg.nsites = 3;
	}
	struct policy p;
	char err[512];
	policy_parse("fuzz", (const char *)data, size, &cfg, &p, err, sizeof(err));
	return 0;
}
