/*
 * admincmd.c — the bodies of drsite's admin commands, checked field by
 * field (see admincmd.h; what the commands do is admin.c's story).
 */
#include "admincmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

/* The body as a JSON object holding only `allowed` fields (NULL-ended);
 * NULL with err set otherwise.  The caller json_decref()s it. */
static json_t *cmd_body(const char *body, size_t len, const char *const allowed[],
			char *err, size_t errlen)
{
	json_t *j = http_body_json(body, len, err, errlen);
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		bool known = false;
		for (int i = 0; allowed[i] && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known) {
			char list[256] = "";
			for (int i = 0; allowed[i]; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", allowed[i]);
			snprintf(err, errlen, "%s: unknown field (this command takes %s)", key, list);
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

int admin_nonce_parse(uint64_t boot_id, const char *text, uint64_t now, uint64_t *at)
{
	char *end = NULL;
	if (!text || strlen(text) != strspn(text, "0123456789abcdef-") || strlen(text) < 18 ||
	    text[16] != '-' || !text[17])
		return NONCE_BAD;
	uint64_t boot = strtoull(text, &end, 16);
	if (end != text + 16)
		return NONCE_BAD;
	uint64_t ms;
	if (decimal_u64(text + 17, &ms) != DECIMAL_OK)
		return NONCE_BAD;
	if (boot != boot_id || ms > now)
		return NONCE_FOREIGN;
	*at = ms;
	return NONCE_OURS;
}

int admin_term_check(const char *header, uint64_t *seen, char *err, size_t errlen)
{
	if (!header)
		return ADMIN_TERM_OK;
	uint64_t term;
	if (decimal_u64(header, &term) != DECIMAL_OK) {
		snprintf(err, errlen, "X-Drorch-Term: must be a decimal number (an orchestrator's "
			 "term)");
		return ADMIN_TERM_BAD;
	}
	if (term < *seen) {
		snprintf(err, errlen, "a command of orchestrator term %" PRIu64 ", older than term "
			 "%" PRIu64 " this site has seen: from a deposed leader", term, *seen);
		return ADMIN_TERM_STALE;
	}
	*seen = term;
	return ADMIN_TERM_OK;
}

/* The optional "lease_nonce". */
static int parse_grant(json_t *j, const struct admin_clock *k, struct admin_grant *g,
		       char *err, size_t errlen)
{
	json_t *n = json_object_get(j, "lease_nonce");
	*g = (struct admin_grant){ .has_nonce = n != NULL };
	if (!n)
		return 0;
	g->nonce = admin_nonce_parse(k->boot_id, json_string_value(n), k->now_ms, &g->at);
	if (g->nonce == NONCE_BAD) {
		snprintf(err, errlen, "lease_nonce: must be a nonce this site handed out "
			 "(\"BOOT-MS\", from its status or an admin answer)");
		return -1;
	}
	return 0;
}

/* A {"epoch": E >= 1, ...} body. */
static int body_epoch(json_t *j, uint64_t *epoch, char *err, size_t errlen)
{
	json_t *e = json_object_get(j, "epoch");
	if (!json_is_integer(e) || json_integer_value(e) < 1) {
		snprintf(err, errlen, "epoch: must be an integer >= 1");
		return -1;
	}
	*epoch = (uint64_t)json_integer_value(e);
	return 0;
}

int admin_parse_epoch_body(const char *body, size_t len, uint64_t *epoch, char *err,
			   size_t errlen)
{
	static const char *const fields[] = { "epoch", NULL };
	json_t *j = cmd_body(body, len, fields, err, errlen);
	int rc = j ? body_epoch(j, epoch, err, errlen) : -1;
	json_decref(j);
	return rc;
}

int admin_parse_heartbeat(const char *body, size_t len, const struct admin_clock *k,
			  uint64_t *epoch, struct admin_grant *g, char *err, size_t errlen)
{
	static const char *const fields[] = { "epoch", "lease_nonce", NULL };
	json_t *j = cmd_body(body, len, fields, err, errlen);
	int rc = j && body_epoch(j, epoch, err, errlen) == 0 &&
		 parse_grant(j, k, g, err, errlen) == 0 ? 0 : -1;
	json_decref(j);
	return rc;
}

int admin_parse_fcv(const char *body, size_t len, const struct admin_clock *k,
		    uint64_t *epoch, struct version *fcv, struct admin_grant *g,
		    char *err, size_t errlen)
{
	static const char *const fields[] = { "epoch", "fcv", "lease_nonce", NULL };
	json_t *j = cmd_body(body, len, fields, err, errlen);
	if (!j)
		return -1;
	const char *v = json_string_value(json_object_get(j, "fcv"));
	int rc = -1;
	if (body_epoch(j, epoch, err, errlen) == 0 && parse_grant(j, k, g, err, errlen) == 0) {
		if (!v || !version_parse(v, fcv))
			snprintf(err, errlen, "fcv: must be a string " ROLE_VERSION_SYNTAX);
		else
			rc = 0;
	}
	json_decref(j);
	return rc;
}

/* mode, quorum and lease_replicas of a role command. */
static int parse_role_mode(json_t *j, struct admin_role_cmd *c, char *err, size_t errlen)
{
	json_t *mode = json_object_get(j, "mode"), *q = json_object_get(j, "quorum");
	json_t *lr = json_object_get(j, "lease_replicas");
	if (mode && role_parse_mode(json_string_value(mode), &c->mode) != 0)
		return snprintf(err, errlen, "mode: must be async, sync or remote_apply"), -1;
	if (q && (!json_is_integer(q) || json_integer_value(q) < 0 ||
		  json_integer_value(q) > SITE_MAX_PEERS))
		return snprintf(err, errlen, "quorum: must be an integer 0..%d", SITE_MAX_PEERS), -1;
	if (q)
		c->quorum = (int)json_integer_value(q);
	if (c->quorum == 0 && c->mode != MODE_ASYNC)  /* would acknowledge on no replica */
		return snprintf(err, errlen, "quorum: must be >= 1 in mode %s",
				role_mode_name(c->mode)), -1;
	if (lr && (!json_is_integer(lr) || json_integer_value(lr) < 0 ||
		   json_integer_value(lr) > SITE_MAX_PEERS))
		return snprintf(err, errlen, "lease_replicas: must be an integer 0..%d",
				SITE_MAX_PEERS), -1;
	c->lease_replicas = lr ? (int)json_integer_value(lr) : c->quorum > 0 ? c->quorum : 1;
	json_t *lm = json_object_get(j, "lease_ms");
	if (lm && (!json_is_integer(lm) || json_integer_value(lm) < ADMIN_LEASE_MIN_MS ||
		   json_integer_value(lm) > ADMIN_LEASE_MAX_MS))
		return snprintf(err, errlen, "lease_ms: must be an integer %d..%d",
				ADMIN_LEASE_MIN_MS, ADMIN_LEASE_MAX_MS), -1;
	c->lease_ms = lm ? (uint64_t)json_integer_value(lm) : 0;
	return 0;
}

struct admin_lease admin_lease_after(struct admin_lease cur, uint64_t max, uint64_t req,
				     uint64_t at, bool fresh)
{
	uint64_t want = req && req < max ? req : max;
	if (fresh)
		return (struct admin_lease){ want, at };
	if (!req || want == cur.ms || (want > cur.ms && at < cur.set_at))
		return cur;
	return (struct admin_lease){ want, at > cur.set_at ? at : cur.set_at };
}

/* The role command's fields, once the body is known to hold only them. */
static int role_fields(json_t *j, const struct admin_clock *k, struct admin_role_cmd *c,
		       char *err, size_t errlen)
{
	const char *role = json_string_value(json_object_get(j, "role"));
	json_t *primary = json_object_get(j, "primary"), *writes = json_object_get(j, "writes");
	char host[ROLE_ADDR_MAX];
	uint16_t port;
	if (!role || (strcmp(role, "primary") && strcmp(role, "replica")))
		return snprintf(err, errlen, "role: must be \"primary\" or \"replica\""), -1;
	c->role = strcmp(role, "primary") == 0 ? ROLE_PRIMARY : ROLE_REPLICA;
	if (body_epoch(j, &c->epoch, err, errlen) || parse_role_mode(j, c, err, errlen) ||
	    parse_grant(j, k, &c->grant, err, errlen))
		return -1;
	c->primary = json_string_value(primary);
	if (c->role == ROLE_REPLICA &&
	    (!c->primary || http_parse_hostport(c->primary, host, sizeof(host), &port) != 0))
		return snprintf(err, errlen, "primary: a replica needs \"HOST:PORT\""), -1;
	if (c->role == ROLE_PRIMARY && primary && !json_is_string(primary))
		return snprintf(err, errlen, "primary: must be a string"), -1;
	const char *w = writes ? json_string_value(writes) : "open";
	if (!w || (strcmp(w, "open") && strcmp(w, "paused")))
		return snprintf(err, errlen, "writes: must be \"open\" or \"paused\""), -1;
	c->writes_paused = strcmp(w, "paused") == 0;
	if (c->writes_paused && c->role != ROLE_PRIMARY)
		return snprintf(err, errlen, "writes: only a primary's writes can be paused"), -1;
	return 0;
}

int admin_parse_role(const char *body, size_t len, const struct admin_clock *k,
		     struct admin_role_cmd *c, char *err, size_t errlen)
{
	static const char *const fields[] = { "role", "epoch", "primary", "mode", "quorum",
					      "writes", "lease_nonce", "lease_replicas", "lease_ms",
					      NULL };
	memset(c, 0, sizeof(*c));
	c->quorum = 1;
	json_t *j = cmd_body(body, len, fields, err, errlen);
	if (!j || role_fields(j, k, c, err, errlen) != 0) {
		json_decref(j);
		c->doc = NULL;
		c->primary = NULL;
		return -1;
	}
	c->doc = j;
	return 0;
}

/* One field of a faults body into f. */
static int fault_field(const char *key, json_t *v, struct faults *f, char *err, size_t errlen)
{
	if (strcmp(key, "slow_fsync_ms") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 60000)
			return snprintf(err, errlen, "slow_fsync_ms: must be 0..60000"), -1;
		f->slow_fsync_ms = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (strcmp(key, "stall_writes") && strcmp(key, "drop_replication") &&
	    strcmp(key, "disk_full") && strcmp(key, "clear"))
		return snprintf(err, errlen, "%s: unknown fault (slow_fsync_ms, stall_writes, "
				"drop_replication, disk_full, clear)", key), -1;
	if (!json_is_boolean(v))
		return snprintf(err, errlen, "%s: must be true or false", key), -1;
	bool on = json_is_true(v);
	if (strcmp(key, "stall_writes") == 0)
		f->stall_writes = on;
	else if (strcmp(key, "drop_replication") == 0)
		f->drop_replication = on;
	else if (strcmp(key, "disk_full") == 0)
		f->disk_full = on;
	else if (on)
		*f = (struct faults){ 0 };
	return 0;
}

int admin_parse_faults(const char *body, size_t len, struct faults *f, char *err,
		       size_t errlen)
{
	json_t *j = http_body_json(body, len, err, errlen);
	if (!j)
		return -1;
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(j, key, v) {
		if (fault_field(key, v, f, err, errlen) != 0) {
			rc = -1;
			break;
		}
	}
	json_decref(j);
	return rc;
}
