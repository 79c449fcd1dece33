/* Fuzz target: drorchd's action bodies (orchestrator/apibody.c), the same
 * bytes through every api_parse_*, opened as the routes open them (an
 * empty body stands for none). */
#include "api.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	json_t *j = NULL;
	if (size && !(j = http_body_json((const char *)data, size, err, sizeof(err))))
		return 0;
	struct api_failover fo;
	struct api_switchover so;
	struct api_upgrade up;
	struct api_playbook_run pr;
	struct api_comment cm;
	api_parse_failover(j, &fo, err, sizeof(err));
	api_parse_switchover(j, &so, err, sizeof(err));
	api_parse_empty(j, err, sizeof(err));
	api_parse_upgrade(j, &up, err, sizeof(err));
	api_parse_playbook_run(j, &pr, err, sizeof(err));
	api_parse_approve(j, &cm, err, sizeof(err));
	api_parse_ack(j, &cm, err, sizeof(err));
	json_decref(j);
	return 0;
}
