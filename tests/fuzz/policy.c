/* Fuzz target: policy_parse (policies/policy.c), a policy document (YAML
 * or JSON) as PUT /v1/policy and the store hand it over, against a cluster
 * of three sites. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct policy_cluster cl = { { "us-east", "eu-west", "ap-south" }, 3 };
	struct policy p;
	char err[512];
	policy_parse("fuzz", (const char *)data, size, &cl, &p, err, sizeof(err));
	return 0;
}
