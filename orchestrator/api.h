/*
 * api.h — drorchd's REST control surface (v1, JSON): reads for status, the
 * audit (transitions, runs), the FSM table and the policy; bearer-token
 * actions that queue operator events (failover, switchover, failback, pause,
 * resume), put a policy in force, and start and approve playbook runs.  Errors are
 * {"error": "..."} with the right status.
 */
#ifndef DRORCH_API_H
#define DRORCH_API_H

#include "http.h"
#include "orch.h"

struct pbrun;

struct api {
	struct orch *orch;
	struct pbrun *pbrun;       /* the playbook runner */
	char token[512];           /* operators' bearer token */
};

void api_handler(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
