/*
 * api.h — drorchd's REST control surface (v1, JSON): reads for status, the
 * audit (transitions, runs), the FSM table and the policy; bearer-token
 * actions that queue operator events (failover, switchover, failback, pause,
 * resume), put a policy in force, and start and approve playbook runs.  Errors are
 * {"error": "..."} with the right status.
 */
#ifndef DRORCH_API_H
#define DRORCH_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <pthread.h>

#include "http.h"
#include "operators.h"
#include "orch.h"
#include "version.h"

struct pbrun;

struct api {
	struct orch *orch;
	struct pbrun *pbrun;       /* the playbook runner */
	struct operators ops;      /* who may act: the token_file's token ("api")
				    * and the operators_file's (operators.h) */
	pthread_rwlock_t ops_lock; /* ops: read per request, replaced by SIGHUP */
};

/* Puts a new table of operators in force (SIGHUP), under ops_lock. */
void api_set_operators(struct api *a, const struct operators *ops);

/* The largest request body (a policy, a playbook): larger ones answer 413. */
#define API_MAX_BODY (64u * 1024u)

/* The routes api_handler serves, as docs/openapi.yaml names them
 * (NULL-terminated): the labels of the request histogram (httpstats.h). */
extern const char *const api_routes[];

void api_handler(void *ctx, const struct http_req *req, struct http_resp *resp);

/* ---- action bodies (apibody.c) --------------------------------------------
 *
 * One parser per body.  Each is pure: it reads its arguments only (whether a
 * named site exists is for the route to check against the config), so it
 * can be unit-tested and fuzzed.  body is the request's JSON, or NULL when
 * the request had no body (the same as {}).  On success *out is filled and
 * 0 returned; its strings point into body.  Otherwise -1, with err[]
 * naming the field and what it expected, and the request is answered 400:
 * an unknown field, a missing required one, a wrong type (null included)
 * or a value out of range.
 */

#define API_COMMENT_MAX 1024      /* bytes of an approve or ack comment */

/* POST /v1/failover {"to": SITE, "force": bool} */
struct api_failover {
	const char *to;            /* NULL: the policy's election */
	bool force;
};
int api_parse_failover(json_t *body, struct api_failover *out, char *err, size_t errlen);

/* POST /v1/switchover {"to": SITE} (required) */
struct api_switchover {
	const char *to;
};
int api_parse_switchover(json_t *body, struct api_switchover *out, char *err, size_t errlen);

/* POST /v1/failback, /v1/pause, /v1/resume: no field at all. */
int api_parse_empty(json_t *body, char *err, size_t errlen);

/* POST /v1/upgrades {"to": "X.Y.Z", "finalize": bool, "dry_run": bool} or
 * {"rollback": true, "dry_run": bool}. */
struct api_upgrade {
	const char *to;            /* required unless rollback; NULL then */
	struct version version;    /* to, parsed */
	bool finalize;             /* default true */
	bool dry_run;
	bool rollback;             /* back to the cluster's fcv; takes no to or finalize */
};
int api_parse_upgrade(json_t *body, struct api_upgrade *out, char *err, size_t errlen);

/* POST /v1/playbooks/{name}/runs {"dry_run": bool, "playbook": "YAML"} */
struct api_playbook_run {
	const char *playbook;      /* NULL: {name}.yaml of the playbooks directory */
	bool dry_run;
};
int api_parse_playbook_run(json_t *body, struct api_playbook_run *out, char *err,
			   size_t errlen);

/* POST /v1/runs/{id}/approve {"comment"} (optional), /ack {"comment"} (required). */
struct api_comment {
	const char *comment;       /* NULL: none given (approve only) */
};
int api_parse_approve(json_t *body, struct api_comment *out, char *err, size_t errlen);
int api_parse_ack(json_t *body, struct api_comment *out, char *err, size_t errlen);

#endif
