/*
 * runctx.c — the run context and its text form (runctx.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runctx.h"

void runctx_init(struct run_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->rpo_records = -1;
	c->rpo_ms = -1;
}

void runctx_begin(struct run_ctx *c, const char *kind, const struct runctx_request *req,
		  int64_t now_ms)
{
	struct run_ctx old = *c;
	runctx_init(c);
	c->last_failover_ms = old.last_failover_ms;
	c->primary_unknown = old.primary_unknown;
	snprintf(c->kind, sizeof(c->kind), "%s", kind ? kind : "");
	bool failover = runctx_is(c, "failover");
	if (!req) {
		c->last_good_heartbeat_ms = old.last_good_heartbeat_ms;
		c->detected_ms = failover ? old.detected_ms : 0;
		return;
	}
	if (failover) {
		c->detected_ms = now_ms;
		c->last_good_heartbeat_ms = now_ms;
	}
	snprintf(c->target, sizeof(c->target), "%s", req->target ? req->target : "");
	c->force = req->force;
	if (req->plan)
		c->upgrade = *req->plan;
}

bool runctx_is(const struct run_ctx *c, const char *kind)
{
	return strcmp(c->kind, kind) == 0;
}

bool runctx_rejoining_has(const struct run_ctx *c, const char *site)
{
	for (int i = 0; i < c->nrejoining; i++)
		if (strcmp(c->rejoining[i], site) == 0)
			return true;
	return false;
}

bool runctx_rejoining_add(struct run_ctx *c, const char *site)
{
	if (runctx_rejoining_has(c, site))
		return true;
	if (c->nrejoining >= RUNCTX_MAX_SITES || strlen(site) >= RUNCTX_NAME_MAX)
		return false;
	snprintf(c->rejoining[c->nrejoining++], RUNCTX_NAME_MAX, "%s", site);
	return true;
}

/* ---- text form --------------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *key, const char *what)
{
	snprintf(err, errlen, "run context: \"%s\" %s", key, what);
	return -1;
}

/* A string field into buf[len] (absent: left as is). */
static int get_str(const json_t *o, const char *key, char *buf, size_t len, char *err,
		   size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(err, errlen, key, "is not a string");
	if (json_string_length(v) >= len)
		return bad(err, errlen, key, "is too long");
	snprintf(buf, len, "%s", json_string_value(v));
	return 0;
}

static int get_bool(const json_t *o, const char *key, bool *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad(err, errlen, key, "is not a boolean");
	*out = json_is_true(v);
	return 0;
}

static int get_int(const json_t *o, const char *key, int64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad(err, errlen, key, "is not an integer");
	*out = json_integer_value(v);
	return 0;
}

/* An array of names into names[RUNCTX_MAX_SITES][RUNCTX_NAME_MAX]. */
static int get_names(const json_t *o, const char *key, char names[][RUNCTX_NAME_MAX], int *n,
		     char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_array(v))
		return bad(err, errlen, key, "is not an array");
	if (json_array_size(v) > RUNCTX_MAX_SITES)
		return bad(err, errlen, key, "names too many sites");
	size_t i;
	const json_t *e;
	*n = 0;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) >= RUNCTX_NAME_MAX)
			return bad(err, errlen, key, "holds a value that is not a site name");
		snprintf(names[(*n)++], RUNCTX_NAME_MAX, "%s", json_string_value(e));
	}
	return 0;
}

int runctx_plan_from_json(struct runctx_plan *p, const json_t *j, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "run context: \"upgrade\" is not an object");
		return -1;
	}
	if (get_str(j, "to", p->to, sizeof(p->to), err, errlen) ||
	    get_bool(j, "finalize", &p->finalize, err, errlen) ||
	    get_bool(j, "rollback", &p->rollback, err, errlen) ||
	    get_names(j, "order", p->order, &p->norder, err, errlen) ||
	    get_str(j, "switch_to", p->switch_to, sizeof(p->switch_to), err, errlen))
		return -1;
	if (!p->to[0]) {
		snprintf(err, errlen, "run context: the upgrade plan names no version (\"to\")");
		return -1;
	}
	p->set = true;
	return 0;
}

static json_t *names_json(const char names[][RUNCTX_NAME_MAX], int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(names[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *runctx_plan_json(const struct runctx_plan *p)
{
	return json_pack("{s:s, s:b, s:b, s:o*, s:s}", "to", p->to, "finalize", p->finalize,
			 "rollback", p->rollback, "order", names_json(p->order, p->norder),
			 "switch_to", p->switch_to);
}

int runctx_parse(struct run_ctx *c, const char *text, char *err, size_t errlen)
{
	runctx_init(c);
	if (!text || !*text)
		return 0;
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!json_is_object(j)) {
		snprintf(err, errlen, "run context: not a JSON object: %s", j ? "" : je.text);
		json_decref(j);
		return -1;
	}
	json_t *plan = json_object_get(j, "upgrade");
	int rc = get_int(j, "last_failover_ms", &c->last_failover_ms, err, errlen) ||
		 get_bool(j, "primary_unknown", &c->primary_unknown, err, errlen) ||
		 get_str(j, "kind", c->kind, sizeof(c->kind), err, errlen) ||
		 get_str(j, "target", c->target, sizeof(c->target), err, errlen) ||
		 get_bool(j, "force", &c->force, err, errlen) ||
		 get_int(j, "detected", &c->detected_ms, err, errlen) ||
		 get_int(j, "last_good_heartbeat", &c->last_good_heartbeat_ms, err, errlen) ||
		 get_int(j, "old_primary_lsn", &c->old_primary_lsn, err, errlen) ||
		 get_bool(j, "regressed", &c->regressed, err, errlen) ||
		 get_str(j, "candidate", c->candidate, sizeof(c->candidate), err, errlen) ||
		 get_int(j, "rpo_records", &c->rpo_records, err, errlen) ||
		 get_int(j, "rpo_ms", &c->rpo_ms, err, errlen) ||
		 get_bool(j, "all_replicas_follow", &c->all_replicas_follow, err, errlen) ||
		 get_str(j, "awaiting", c->awaiting, sizeof(c->awaiting), err, errlen) ||
		 get_names(j, "rejoining", c->rejoining, &c->nrejoining, err, errlen) ||
		 (plan && runctx_plan_from_json(&c->upgrade, plan, err, errlen)) ? -1 : 0;
	json_decref(j);
	if (rc)
		runctx_init(c);
	return rc;
}

/* Sets key to v (stolen) unless v is NULL: -1 when out of memory. */
static int put(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

/* The fields that differ from runctx_init's, so an empty context is {}. */
char *runctx_format(const struct run_ctx *c)
{
	json_t *j = json_object();
	int rc = j ? 0 : -1;
	if (c->last_failover_ms)
		rc |= put(j, "last_failover_ms", json_integer(c->last_failover_ms));
	if (c->primary_unknown)
		rc |= put(j, "primary_unknown", json_true());
	if (c->kind[0])
		rc |= put(j, "kind", json_string(c->kind));
	if (c->target[0])
		rc |= put(j, "target", json_string(c->target));
	if (c->force)
		rc |= put(j, "force", json_true());
	if (c->detected_ms)
		rc |= put(j, "detected", json_integer(c->detected_ms));
	if (c->last_good_heartbeat_ms)
		rc |= put(j, "last_good_heartbeat", json_integer(c->last_good_heartbeat_ms));
	if (c->old_primary_lsn)
		rc |= put(j, "old_primary_lsn", json_integer(c->old_primary_lsn));
	if (c->regressed)
		rc |= put(j, "regressed", json_true());
	if (c->candidate[0])
		rc |= put(j, "candidate", json_string(c->candidate));
	if (c->rpo_records >= 0)
		rc |= put(j, "rpo_records", json_integer(c->rpo_records));
	if (c->rpo_ms >= 0)
		rc |= put(j, "rpo_ms", json_integer(c->rpo_ms));
	if (c->all_replicas_follow)
		rc |= put(j, "all_replicas_follow", json_true());
	if (c->awaiting[0])
		rc |= put(j, "awaiting", json_string(c->awaiting));
	if (c->nrejoining)
		rc |= put(j, "rejoining", names_json(c->rejoining, c->nrejoining));
	if (c->upgrade.set)
		rc |= put(j, "upgrade", runctx_plan_json(&c->upgrade));
	char *text = rc == 0 ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return text;
}
