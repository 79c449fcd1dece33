/*
 * policy.c — the policy's schema, loader and checks (see policy.h and
 * docs/policy.md, which documents every key below with its default).
 */
#include "policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ydoc.h"

void policy_default(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "default");
	snprintf(p->mode, sizeof(p->mode), "sync");
	p->quorum = 1;
	p->rpo_ms = 5000;
	p->rto_ms = 1000;
	snprintf(p->prefer, sizeof(p->prefer), "rpo");
	p->heartbeat_ms = 100;
	p->misses = 3;
	p->canary_ms = 1000;
	p->automatic = true;
	p->anti_flap_s = 30;
	p->max_pause_ms = POLICY_MAX_PAUSE_MS;
}

/* ---- durations ------------------------------------------------------------- */

int policy_duration(const char *text, uint64_t unit_ms, uint64_t *out, const char **why)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "", 0 } };
	const char *p = text;
	uint64_t n = 0;
	*why = "expected a whole number, or one with a unit: 250ms, 5s, 2m, 1h";
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (!*p) {  /* a bare number: the key's own unit */
		*out = n;
		return 0;
	}
	for (int i = 0; units[i].ms; i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (n > UINT64_MAX / units[i].ms)
			return -1;
		uint64_t ms = n * units[i].ms;
		if (ms % unit_ms) {
			*why = unit_ms == 1000 ? "expected a whole number of seconds" :
						 "expected a whole number of the key's unit";
			return -1;
		}
		*out = ms / unit_ms;
		return 0;
	}
	return -1;
}

/* A duration field of map in unit_ms, within [min, max] (in that unit). */
static int ydur(struct ydoc *d, yaml_node_t *map, const char *key, uint64_t unit_ms,
		uint64_t min, uint64_t max, uint64_t *out)
{
	yaml_node_t *n = ydoc_get(d, map, key);
	if (!n)
		return 0;
	const char *s = ydoc_scalar(n), *why = "expected a duration";
	uint64_t v;
	if (!s || policy_duration(s, unit_ms, &v, &why) != 0)
		return ydoc_fail(d, n, "%s: %s", key, why);
	if (v < min || v > max)
		return ydoc_fail(d, n, "%s: expected between %" PRIu64 " and %" PRIu64 " %s",
				 key, min, max, unit_ms == 1000 ? "s" : "ms");
	*out = v;
	return 0;
}

/* ---- the document ---------------------------------------------------------- */

static int parse_replication(struct ydoc *d, yaml_node_t *n, struct policy *p)
{
	static const char *const keys[] = { "mode", "quorum", "degrade_to_async", NULL };
	if (!n)
		return 0;
	if (ydoc_check_keys(d, n, "replication", keys) ||
	    ydoc_string(d, n, "mode", false, p->mode, sizeof(p->mode)) ||
	    ydoc_uint(d, n, "quorum", false, 0, POLICY_MAX_SITES, &p->quorum) ||
	    ydoc_bool(d, n, "degrade_to_async", &p->degrade_to_async))
		return -1;
	bool async = strcmp(p->mode, "async") == 0;
	if (!async && strcmp(p->mode, "sync") && strcmp(p->mode, "remote_apply"))
		return ydoc_fail(d, ydoc_get(d, n, "mode"), "mode: expected async, sync or remote_apply");
	yaml_node_t *q = ydoc_get(d, n, "quorum");
	if (p->quorum == 0 && !async)
		return ydoc_fail(d, q ? q : n, "quorum: %s needs at least one replica (use mode: "
				 "async instead)", p->mode);
	if (async && p->quorum > 1)
		return ydoc_fail(d, q, "quorum: async acknowledges a write once it is durable "
				 "locally; a quorum applies to sync and remote_apply");
	if (async && p->degrade_to_async)
		return ydoc_fail(d, ydoc_get(d, n, "degrade_to_async"), "degrade_to_async: the "
				 "mode is async already (it applies to sync and remote_apply)");
	if (p->quorum == 0)
		p->quorum = 1;  /* async: the lease still wants one replica or drorchd */
	return 0;
}

static int parse_failover(struct ydoc *d, yaml_node_t *n, struct policy *p)
{
	static const char *const keys[] = { "automatic", "anti_flap_s", "candidates", NULL };
	yaml_node_t *cands = NULL;
	if (!n)
		return 0;
	if (ydoc_check_keys(d, n, "failover", keys) ||
	    ydoc_bool(d, n, "automatic", &p->automatic) ||
	    ydur(d, n, "anti_flap_s", 1000, 0, 86400, &p->anti_flap_s) ||
	    ydoc_seq(d, n, "candidates", false, &cands))
		return -1;
	p->ncandidates = 0;
	for (yaml_node_item_t *i = cands ? cands->data.sequence.items.start : NULL;
	     cands && i < cands->data.sequence.items.top; i++) {
		yaml_node_t *c = ydoc_node(d, *i);
		const char *s = ydoc_scalar(c);
		if (!s || !*s || strlen(s) >= POLICY_NAME_MAX || p->ncandidates == POLICY_MAX_SITES)
			return ydoc_fail(d, c, "candidates: expected up to %d site names",
					 POLICY_MAX_SITES);
		for (int k = 0; k < p->ncandidates; k++)
			if (!strcmp(p->candidates[k], s))
				return ydoc_fail(d, c, "candidates: '%s' is named twice", s);
		snprintf(p->candidates[p->ncandidates++], POLICY_NAME_MAX, "%s", s);
	}
	return 0;
}

/* prefer: rpo | rto, after the replication mode is known: only async may
 * trade RPO for RTO (in a sync mode an acknowledged write is never lost). */
static int parse_prefer(struct ydoc *d, yaml_node_t *root, struct policy *p)
{
	yaml_node_t *n = ydoc_get(d, root, "prefer");
	if (!n)
		return 0;
	const char *s = ydoc_scalar(n);
	if (!s || (strcmp(s, "rpo") && strcmp(s, "rto")))
		return ydoc_fail(d, n, "prefer: expected rpo or rto");
	if (!strcmp(s, "rto") && strcmp(p->mode, "async"))
		return ydoc_fail(d, n, "prefer: rto elects a candidate beyond the RPO target, "
				 "losing acknowledged writes: only mode async may (the mode is %s)",
				 p->mode);
	snprintf(p->prefer, sizeof(p->prefer), "%s", s);
	return 0;
}

/* An explicit lease must outlast one lost renewal: two heartbeats. */
static int check_lease(struct ydoc *d, yaml_node_t *det, const struct policy *p)
{
	if (p->lease_ms == 0 || p->lease_ms >= 2 * p->heartbeat_ms)
		return 0;
	return ydoc_fail(d, ydoc_get(d, det, "lease_ms"),
			 "lease_ms: expected 0 (the detection window plus the round trip) or at least "
			 "two heartbeats "
			 "(%" PRIu64 " ms): a lease renewed once per lease lapses on one lost renewal",
			 2 * p->heartbeat_ms);
}

uint64_t policy_lease_ms(const struct policy *p)
{
	return p->lease_ms ? p->lease_ms : p->heartbeat_ms * p->misses;
}

static int parse_policy(struct ydoc *d, yaml_node_t *root, struct policy *p)
{
	static const char *const keys[] = { "name", "replication", "rpo", "rto_ms", "prefer",
					    "detection", "failover", "switchover", NULL };
	static const char *const rpo_keys[] = { "max_ms", "max_records", NULL };
	static const char *const det_keys[] = { "heartbeat_ms", "misses", "canary_ms",
						"lease_ms", NULL };
	static const char *const sw_keys[] = { "max_pause_ms", NULL };
	yaml_node_t *rpo = ydoc_get(d, root, "rpo"), *det = ydoc_get(d, root, "detection");
	yaml_node_t *sw = ydoc_get(d, root, "switchover");
	if (ydoc_check_keys(d, root, "policy", keys) ||
	    ydoc_string(d, root, "name", false, p->name, sizeof(p->name)) ||
	    parse_replication(d, ydoc_get(d, root, "replication"), p) ||
	    (rpo && (ydoc_check_keys(d, rpo, "rpo", rpo_keys) ||
		     ydur(d, rpo, "max_ms", 1, 0, 86400000, &p->rpo_ms) ||
		     ydoc_uint(d, rpo, "max_records", false, 0, UINT32_MAX, &p->rpo_records))) ||
	    ydur(d, root, "rto_ms", 1, 1, 3600000, &p->rto_ms) ||
	    parse_prefer(d, root, p) ||
	    (det && (ydoc_check_keys(d, det, "detection", det_keys) ||
		     ydur(d, det, "heartbeat_ms", 1, 10, 60000, &p->heartbeat_ms) ||
		     ydoc_uint(d, det, "misses", false, 1, 100, &p->misses) ||
		     ydur(d, det, "canary_ms", 1, 10, 600000, &p->canary_ms) ||
		     ydur(d, det, "lease_ms", 1, 0, 3600000, &p->lease_ms) ||
		     check_lease(d, det, p))) ||
	    parse_failover(d, ydoc_get(d, root, "failover"), p) ||
	    (sw && (ydoc_check_keys(d, sw, "switchover", sw_keys) ||
		    ydur(d, sw, "max_pause_ms", 1, 100, POLICY_MAX_PAUSE_MS, &p->max_pause_ms))))
		return -1;
	return 0;
}

/* The policy against the cluster it will govern. */
static int check_cluster(struct ydoc *d, const struct policy *p, const struct policy_cluster *cl)
{
	yaml_node_t *root = ydoc_root(d), *r = ydoc_get(d, root, "replication");
	yaml_node_t *f = ydoc_get(d, root, "failover");
	uint64_t replicas = (uint64_t)cl->nsites - 1;
	if (p->quorum > replicas && strcmp(p->mode, "async"))
		return ydoc_fail(d, ydoc_get(d, r, "quorum") ? ydoc_get(d, r, "quorum") :
				 r ? r : root,
				 "quorum: %" PRIu64 " replica(s) must confirm each write, but this "
				 "cluster has %" PRIu64 " replica(s): no write could ever be "
				 "acknowledged", p->quorum, replicas);
	for (int i = 0; i < p->ncandidates; i++) {
		bool known = false;
		for (int k = 0; k < cl->nsites; k++)
			known = known || !strcmp(cl->sites[k], p->candidates[i]);
		if (!known)
			return ydoc_fail(d, ydoc_get(d, f, "candidates"),
					 "candidates: '%s' is not one of the sites", p->candidates[i]);
	}
	return 0;
}

/* The policy from a loaded document (rc: how loading it went); d freed. */
static int from_doc(struct ydoc *d, int rc, const struct policy_cluster *cl, struct policy *out)
{
	struct policy p;
	policy_default(&p);
	if (rc == 0)
		rc = parse_policy(d, ydoc_root(d), &p);
	if (rc == 0 && cl && cl->nsites > 0)
		rc = check_cluster(d, &p, cl);
	ydoc_free(d);
	if (rc == 0)
		*out = p;
	return rc;
}

int policy_parse(const char *name, const char *buf, size_t len, const struct policy_cluster *cl,
		 struct policy *out, char *err, size_t errlen)
{
	struct ydoc d;
	int rc = ydoc_load_mem(&d, name, buf, len, err, errlen);
	return from_doc(&d, rc, cl, out);
}

int policy_load(const char *path, const struct policy_cluster *cl, struct policy *out,
		char *err, size_t errlen)
{
	struct ydoc d;
	int rc = ydoc_load(&d, path, err, errlen);
	return from_doc(&d, rc, cl, out);
}

json_t *policy_json(const struct policy *p)
{
	json_t *cands = json_array();
	for (int i = 0; cands && i < p->ncandidates; i++)
		json_array_append_new(cands, json_string(p->candidates[i]));
	return json_pack(
		"{s:s, s:{s:s, s:I, s:b}, s:{s:I, s:I}, s:I, s:s, s:{s:I, s:I, s:I, s:I}, "
		"s:{s:b, s:I, s:o*}, s:{s:I}}",
		"name", p->name,
		"replication", "mode", p->mode, "quorum", (json_int_t)p->quorum,
		"degrade_to_async", p->degrade_to_async,
		"rpo", "max_ms", (json_int_t)p->rpo_ms, "max_records", (json_int_t)p->rpo_records,
		"rto_ms", (json_int_t)p->rto_ms, "prefer", p->prefer,
		"detection", "heartbeat_ms", (json_int_t)p->heartbeat_ms,
		"misses", (json_int_t)p->misses, "canary_ms", (json_int_t)p->canary_ms,
		"lease_ms", (json_int_t)p->lease_ms,
		"failover", "automatic", p->automatic, "anti_flap_s", (json_int_t)p->anti_flap_s,
		"candidates", cands, "switchover", "max_pause_ms", (json_int_t)p->max_pause_ms);
}

/* ---- diff ------------------------------------------------------------------ */

/* Every leaf of j under prefix into flat {"a.b": value}. */
static void flatten(const json_t *j, const char *prefix, json_t *flat)
{
	const char *k;
	json_t *v;
	if (!json_is_object(j)) {
		json_object_set(flat, prefix, (json_t *)j);
		return;
	}
	json_object_foreach((json_t *)j, k, v) {
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
		flatten(v, path, flat);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends "KEY: OLD -> NEW\n" to *buf (size *len, used *used). */
static int add_line(char **buf, size_t *used, size_t *cap, const char *key, const json_t *a,
		    const json_t *b)
{
	char *ta = a ? json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(none)");
	char *tb = b ? json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(none)");
	size_t need = (ta ? strlen(ta) : 0) + (tb ? strlen(tb) : 0) + strlen(key) + 8;
	int rc = ta && tb ? 0 : -1;
	if (rc == 0 && *used + need > *cap) {
		size_t cap2 = (*cap + need) * 2;
		char *n = realloc(*buf, cap2);
		rc = n ? 0 : -1;
		if (n) {
			*buf = n;
			*cap = cap2;
		}
	}
	if (rc == 0)
		*used += (size_t)snprintf(*buf + *used, *cap - *used, "%s: %s -> %s\n", key, ta, tb);
	free(ta);
	free(tb);
	return rc;
}

char *policy_diff(const json_t *from, const json_t *to)
{
	json_t *fa = json_object(), *fb = json_object(), *all = json_object();
	size_t cap = 256, used = 0, n = 0;
	char *out = malloc(cap);
	const char **keys = NULL;
	int rc = fa && fb && all && out ? 0 : -1;
	if (rc == 0) {
		out[0] = '\0';
		flatten(from, "", fa);
		flatten(to, "", fb);
		json_object_update(all, fa);
		json_object_update(all, fb);
		keys = calloc(json_object_size(all) + 1, sizeof(*keys));
		rc = keys ? 0 : -1;
	}
	const char *k;
	json_t *v;
	if (rc == 0) {
		json_object_foreach(all, k, v)
			keys[n++] = k;
		qsort(keys, n, sizeof(*keys), cmp_str);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *a = json_object_get(fa, keys[i]), *b = json_object_get(fb, keys[i]);
		if (!a || !b || !json_equal(a, b))
			rc = add_line(&out, &used, &cap, keys[i], a, b);
	}
	free(keys);
	json_decref(fa);
	json_decref(fb);
	json_decref(all);
	if (rc != 0) {
		free(out);
		return NULL;
	}
	return out;
}
