/*
 * siteapi.c — HTTP calls from drorchd to sites (see siteapi.h).
 */
#include "siteapi.h"

#include "log.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

json_t *siteapi_status(struct httpc *c, const char *url, const char *token, long timeout_ms,
		       char *err, size_t errlen)
{
	char full[512];
	snprintf(full, sizeof(full), "%s/v1/status", url);
	struct httpc_resp r;
	if (httpc_request(c, "GET", full, token, NULL, 0, timeout_ms, &r, err, errlen) != 0)
		return NULL;
	json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	if (!j)
		snprintf(err, errlen, "GET %s: HTTP %ld", full, r.status);
	httpc_resp_free(&r);
	return j;
}

long siteapi_admin_json(struct httpc *c, const char *url, const char *token, const char *path,
			json_t *body, long timeout_ms, json_t **answer, char *err, size_t errlen)
{
	char full[512];
	snprintf(full, sizeof(full), "%s/v1/admin/%s", url, path);
	char *text = json_dumps(body, JSON_COMPACT);
	if (answer)
		*answer = NULL;
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	struct httpc_resp r;
	long status = 0;
	int rc = httpc_request(c, "POST", full, token, text, strlen(text), timeout_ms, &r, err,
			       errlen);
	/* Every command that may have reached a site (tests of HA check that a
	 * deposed leader sent none after its successor's first). */
	if (rc == 0 || !httpc_not_delivered(c))
		log_event(LOG_DEBUG, "siteapi.sent", "{s:s, s:s, s:I}", "url", url, "command", path,
			  "wall_ms", (json_int_t)time_wall_ms());
	if (rc == 0) {
		status = r.status;
		if (status != 200)
			snprintf(err, errlen, "POST %s: HTTP %ld: %.200s", full, status, r.body);
		else if (answer)
			*answer = json_loadb(r.body, r.body_len, 0, NULL);
		httpc_resp_free(&r);
	}
	free(text);
	return status;
}

long siteapi_admin(struct httpc *c, const char *url, const char *token, const char *path,
		   json_t *body, long timeout_ms, char *err, size_t errlen)
{
	return siteapi_admin_json(c, url, token, path, body, timeout_ms, NULL, err, errlen);
}

long siteapi_canary(struct httpc *c, const char *url, long timeout_ms, uint64_t *ms,
		    char *err, size_t errlen)
{
	char full[512], value[64];
	snprintf(full, sizeof(full), "%s/v1/kv/__drorch.canary", url);
	int n = snprintf(value, sizeof(value), "%llu", (unsigned long long)time_wall_ms());
	uint64_t t0 = time_mono_ms();
	struct httpc_resp r;
	long status = 0;
	if (httpc_request(c, "PUT", full, NULL, value, (size_t)n, timeout_ms, &r, err, errlen) == 0) {
		status = r.status;
		if (status != 200)
			snprintf(err, errlen, "canary: HTTP %ld: %.200s", status, r.body);
		httpc_resp_free(&r);
	}
	*ms = time_mono_ms() - t0;
	return status;
}
