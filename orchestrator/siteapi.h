/*
 * siteapi.h — drorchd's calls to a drsite's HTTP API (status, role, fence,
 * heartbeat, rewind, canary writes), with the site token.  One call, one
 * request on the caller's struct httpc (which reuses its kept-alive
 * connection: fanout.h keeps one per site for the failover actions).
 */
#ifndef DRORCH_SITEAPI_H
#define DRORCH_SITEAPI_H

#include <stdint.h>

#include <jansson.h>

#include "httpc.h"

/* GET url/v1/status; the parsed JSON (new ref) or NULL with err.  With a
 * token (may be NULL) the request carries it, and so c's term header when
 * it has one (orch_poll_client): the site learns the leader's term. */
json_t *siteapi_status(struct httpc *c, const char *url, const char *token, long timeout_ms,
		       char *err, size_t errlen);
/* POST url/v1/admin/PATH with body; returns the HTTP status (0 = no answer). */
long siteapi_admin(struct httpc *c, const char *url, const char *token, const char *path,
		   json_t *body, long timeout_ms, char *err, size_t errlen);
/* As siteapi_admin; *answer receives a 200 answer's JSON (new ref or NULL). */
long siteapi_admin_json(struct httpc *c, const char *url, const char *token, const char *path,
			json_t *body, long timeout_ms, json_t **answer, char *err, size_t errlen);
/* PUT url/v1/kv/__drorch.canary; HTTP status (0 = no answer), *ms its latency. */
long siteapi_canary(struct httpc *c, const char *url, long timeout_ms, uint64_t *ms,
		    char *err, size_t errlen);

#endif
