/* Fuzz target: playbook_parse (playbooks/playbook.c), a playbook as POST
 * /v1/playbooks/NAME/runs and drctl hand it over, with three sites. */
#include "fuzz.h"
#include "playbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sites[] = { "us-east", "eu-west", "ap-south" };
	struct playbook pb;
	char err[512];
	if (playbook_parse("fuzz", (const char *)data, size, sites, 3, &pb, err, sizeof(err)) == 0) {
		for (int i = 0; i < pb.nsteps; i++)
			json_decref(pb_step_json(&pb.steps[i]));
		playbook_free(&pb);
	}
	return 0;
}
