/*
 * admin.c — the orchestrator's levers on a site: role, fence, heartbeat,
 * checkpoint, paused writes (rewind is in rewind.c); the bearer-token
 * check; and the write lease.
 *
 * EPOCH RULES.  Every role change carries an epoch.  A command with an
 * epoch older than the site's answers 409 and changes nothing.  The same
 * epoch re-confirms the role (idempotent; a primary may change its mode or
 * quorum); another role at the same epoch answers 409, except on a fenced
 * site: fenced at E, it takes any role at E (that is how a site that learnt
 * of epoch E is put back to work).  A fence at the same epoch is always
 * taken: it only ever takes writes away.  A newer epoch takes effect and is
 * written to state.json before the answer.  A site that learns of a newer
 * epoch any other way (a heartbeat, a replica streaming at a newer epoch)
 * fences itself: it stops taking writes until the orchestrator gives it a
 * role at that epoch.  Every role change also moves the WAL's write gate
 * (wal_set_gate), under s->mu, so no client write of the old role can reach
 * the log once the change is answered.
 *
 * WRITE LEASE.  A primary takes writes only while, within the last lease_ms,
 * it has heard from the orchestrator (any admin command at its epoch) or
 * from `quorum` confirmed replicas (at least one) streaming at its epoch.
 * An orchestrator outage alone therefore never stops writes, while a
 * primary cut off from everyone stops within lease_ms, in every mode.
 * A replica is confirmed once it has had a role command since it started
 * (it says so in each fetch: confirmed=1).  A replica that restarted from
 * its state.json and has not heard from the orchestrator since may follow
 * a primary the orchestrator has already given up on: it still acks records
 * (durability: sync writes count it), but it does not renew the lease.
 *
 * PAUSED WRITES.  For a planned switchover the orchestrator sends the
 * primary its own role again with "writes":"paused": the primary stops
 * admitting client writes (503 "writes paused for a switchover"; /primary
 * 503) and closes the WAL's write gate before answering, so no client
 * record enters the log once the command is answered.  It still ships its
 * WAL and takes acks: a write already in the log is acknowledged as usual
 * once its quorum holds it, and the replicas catch up to its last LSN.  A
 * role command with "writes":"open", or without the field, reopens; any
 * change away from primary (fence, a newer epoch) ends the pause.  The
 * pause is not persisted: a restarted primary is read-only until the
 * orchestrator confirms it anyway, and that role command says whether its
 * writes are open.
 *
 * FEATURE-COMPATIBILITY VERSION.  POST /v1/admin/fcv {"epoch":E,"fcv":V}
 * follows the epoch rules of a heartbeat (older: 409; newer: fences, 409),
 * then moves the site's FCV up to V and writes it to state.json before the
 * answer.  V above this site's binary version answers 409 (that binary
 * cannot write V's format), as does V below the FCV (it never goes down);
 * V equal to it answers 200 (idempotent).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "site_internal.h"
#include "timeutil.h"

/* ---- authorization ----------------------------------------------------------- */

bool admin_authorized(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	if (!s->token) {
		http_resp_error(resp, 403, "admin API disabled: start drsite with --token-file");
		return false;
	}
	if (!auth_bearer_ok(http_req_header(req, "Authorization"), s->token)) {
		http_resp_header(resp, "WWW-Authenticate", "Bearer");
		http_resp_error(resp, 401, "missing or wrong bearer token");
		return false;
	}
	return true;
}

/* ---- lease and epochs -------------------------------------------------------- */

/* When the primary last heard from `quorum` confirmed replicas at its epoch. */
static uint64_t quorum_seen_locked(const struct site *s)
{
	int need = s->role.quorum > 0 ? s->role.quorum : 1;
	uint64_t seen[SITE_MAX_PEERS];
	int n = 0;
	for (int i = 0; i < s->npeers; i++)
		if (s->peers[i].epoch == s->role.epoch && s->peers[i].confirmed)
			seen[n++] = s->peers[i].last_seen_ms;
	if (n < need)
		return 0;
	for (int i = 1; i < n; i++)  /* newest first */
		for (int j = i; j > 0 && seen[j] > seen[j - 1]; j--) {
			uint64_t t = seen[j]; seen[j] = seen[j - 1]; seen[j - 1] = t;
		}
	return seen[need - 1];
}

bool site_writable_locked(struct site *s, uint64_t now, char *why, size_t whylen)
{
	const struct role_state *r = &s->role;
	switch (r->role) {
	case ROLE_STANDALONE:
		return true;
	case ROLE_REPLICA:
		snprintf(why, whylen, "this site is a replica of %s", r->primary);
		return false;
	case ROLE_FENCED:
		snprintf(why, whylen, "this site is fenced at epoch %" PRIu64, r->epoch);
		return false;
	case ROLE_PRIMARY:
		break;
	}
	if (!s->confirmed) {
		snprintf(why, whylen, "restarted: role not yet confirmed by the orchestrator");
		return false;
	}
	uint64_t last = s->orch_seen_ms, q = quorum_seen_locked(s);
	if (q > last)
		last = q;
	if (now - last > s->opts.lease_ms) {
		snprintf(why, whylen, "write lease expired: no contact with the orchestrator or "
			 "%d replica(s) at epoch %" PRIu64 " for %" PRIu64 " ms",
			 r->quorum > 0 ? r->quorum : 1, r->epoch, now - last);
		return false;
	}
	return true;
}

bool site_admits_writes_locked(struct site *s, uint64_t now, char *why, size_t whylen)
{
	if (!site_writable_locked(s, now, why, whylen))
		return false;
	if (s->writes_paused) {
		snprintf(why, whylen, "writes paused for a switchover");
		return false;
	}
	return true;
}

static int persist_locked(struct site *s, char *err, size_t errlen)
{
	s->had_role = true;
	return role_save(s->datadir, &s->role, err, errlen);
}

void site_gate_locked(struct site *s)
{
	enum role_kind r = s->role.role;
	bool open = (r == ROLE_STANDALONE || r == ROLE_PRIMARY) && !s->writes_paused;
	wal_set_gate(s->wal, open, s->role.epoch);
}

/* Moves the write gate, wakes whoever waits on the role (sync writers and
 * the follower).  Only a primary's writes can be paused. */
static void role_changed_locked(struct site *s)
{
	if (s->role.role != ROLE_PRIMARY)
		s->writes_paused = false;
	site_gate_locked(s);
	pthread_cond_broadcast(&s->peers_cv);
	pthread_cond_broadcast(&s->role_cv);
}

void site_learn_epoch_locked(struct site *s, uint64_t epoch, const char *from)
{
	if (epoch <= s->role.epoch)
		return;
	log_event(LOG_WARN, "site.fenced_by_newer_epoch", "{s:I, s:I, s:s, s:s}",
		  "epoch", (json_int_t)s->role.epoch, "newer_epoch", (json_int_t)epoch,
		  "was", role_name(s->role.role), "from", from);
	s->role.role = ROLE_FENCED;
	s->role.epoch = epoch;
	char err[256];
	if (persist_locked(s, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "site.persist_failed", "{s:s}", "error", err);
	role_changed_locked(s);
}

/* ---- commands ------------------------------------------------------------------ */

struct role_cmd {
	enum role_kind role;
	uint64_t epoch;
	const char *primary;
	enum repl_mode mode;
	int quorum;
	bool writes_paused;
};

/* Parses and checks a role command; on error fills a 400 naming the field. */
static int parse_role_cmd(json_t *j, struct role_cmd *c, struct http_resp *resp)
{
	const char *role = json_string_value(json_object_get(j, "role"));
	json_t *epoch = json_object_get(j, "epoch"), *q = json_object_get(j, "quorum");
	json_t *mode = json_object_get(j, "mode"), *primary = json_object_get(j, "primary");
	json_t *writes = json_object_get(j, "writes");
	char host[ROLE_ADDR_MAX];
	uint16_t port;
	memset(c, 0, sizeof(*c));
	c->quorum = 1;
	if (!role || (strcmp(role, "primary") && strcmp(role, "replica")))
		return http_resp_error(resp, 400, "role: must be \"primary\" or \"replica\""), -1;
	c->role = strcmp(role, "primary") == 0 ? ROLE_PRIMARY : ROLE_REPLICA;
	if (!json_is_integer(epoch) || json_integer_value(epoch) < 1)
		return http_resp_error(resp, 400, "epoch: must be an integer >= 1"), -1;
	c->epoch = (uint64_t)json_integer_value(epoch);
	if (mode && role_parse_mode(json_string_value(mode), &c->mode) != 0)
		return http_resp_error(resp, 400, "mode: must be async, sync or remote_apply"), -1;
	if (q && (!json_is_integer(q) || json_integer_value(q) < 0 ||
		  json_integer_value(q) > SITE_MAX_PEERS))
		return http_resp_error(resp, 400, "quorum: must be an integer 0..%d", SITE_MAX_PEERS), -1;
	if (q)
		c->quorum = (int)json_integer_value(q);
	if (c->quorum == 0 && c->mode != MODE_ASYNC)  /* would acknowledge on no replica */
		return http_resp_error(resp, 400, "quorum: must be >= 1 in mode %s",
				       role_mode_name(c->mode)), -1;
	c->primary = json_string_value(primary);
	if (c->role == ROLE_REPLICA &&
	    (!c->primary || http_parse_hostport(c->primary, host, sizeof(host), &port) != 0))
		return http_resp_error(resp, 400, "primary: a replica needs \"HOST:PORT\""), -1;
	const char *w = writes ? json_string_value(writes) : "open";
	if (!w || (strcmp(w, "open") && strcmp(w, "paused")))
		return http_resp_error(resp, 400, "writes: must be \"open\" or \"paused\""), -1;
	c->writes_paused = strcmp(w, "paused") == 0;
	if (c->writes_paused && c->role != ROLE_PRIMARY)
		return http_resp_error(resp, 400, "writes: only a primary's writes can be "
				       "paused"), -1;
	return 0;
}

static json_t *role_reply_locked(struct site *s)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	return json_pack("{s:s, s:I, s:s, s:i, s:I, s:I, s:s}", "role", role_name(s->role.role),
			 "epoch", (json_int_t)s->role.epoch, "mode", role_mode_name(s->role.mode),
			 "quorum", s->role.quorum, "lsn", (json_int_t)ws.last_lsn,
			 "flushed_lsn", (json_int_t)ws.flushed_lsn,
			 "writes", s->writes_paused ? "paused" : "open");
}

/* Applies a checked role command under s->mu; 0 or an HTTP status. */
static int apply_role_locked(struct site *s, const struct role_cmd *c, char *err, size_t errlen)
{
	struct role_state *r = &s->role;
	if (c->epoch < r->epoch) {
		snprintf(err, errlen, "stale epoch %" PRIu64 ": this site is at epoch %" PRIu64,
			 c->epoch, r->epoch);
		return 409;
	}
	/* A fenced site takes a role at its own epoch as if it were new: it may
	 * have been fenced by learning of that epoch before the command came. */
	bool same_role = c->epoch == r->epoch && s->had_role && r->role != ROLE_FENCED;
	if (same_role && (r->role != c->role ||
			  (c->role == ROLE_REPLICA && strcmp(r->primary, c->primary) != 0))) {
		snprintf(err, errlen, "epoch %" PRIu64 " is already assigned to role %s here",
			 c->epoch, role_name(r->role));
		return 409;
	}
	struct role_state before = *r;
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	if (c->role == ROLE_PRIMARY && !same_role)
		role_history_add(r, c->epoch, ws.last_lsn + 1);
	if (!same_role)
		s->npeers = 0;  /* replicas re-register at the new epoch */
	r->role = c->role;
	r->epoch = c->epoch;
	r->mode = c->mode;
	r->quorum = c->quorum;
	snprintf(r->primary, sizeof(r->primary), "%s", c->role == ROLE_REPLICA ? c->primary : "");
	if (persist_locked(s, err, errlen) != 0) {
		*r = before;
		return 500;
	}
	s->confirmed = true;
	s->orch_seen_ms = time_mono_ms();
	s->writes_paused = c->writes_paused;
	role_changed_locked(s);
	return 0;
}

static void cmd_role(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	json_t *j = http_req_json(req, resp);
	struct role_cmd c;
	if (!j || parse_role_cmd(j, &c, resp) != 0) {
		json_decref(j);
		return;
	}
	char err[300];
	pthread_mutex_lock(&s->mu);
	int status = apply_role_locked(s, &c, err, sizeof(err));
	json_t *reply = status ? NULL : role_reply_locked(s);
	pthread_mutex_unlock(&s->mu);
	if (status) {
		http_resp_error(resp, status, "%s", err);
	} else {
		log_event(LOG_INFO, "site.role", "{s:s, s:I, s:s, s:s, s:i, s:s}",
			  "role", role_name(c.role), "epoch", (json_int_t)c.epoch,
			  "primary", c.primary ? c.primary : "", "mode", role_mode_name(c.mode),
			  "quorum", c.quorum, "writes", c.writes_paused ? "paused" : "open");
		http_resp_json(resp, 200, reply);
	}
	json_decref(j);
}

/* Reads {"epoch": E >= 1}; 0 or -1 with a 400 set. */
int admin_parse_epoch(const struct http_req *req, struct http_resp *resp, uint64_t *epoch)
{
	json_t *j = http_req_json(req, resp);
	if (!j)
		return -1;
	json_t *e = json_object_get(j, "epoch");
	int ok = json_is_integer(e) && json_integer_value(e) >= 1;
	if (ok)
		*epoch = (uint64_t)json_integer_value(e);
	else
		http_resp_error(resp, 400, "epoch: must be an integer >= 1");
	json_decref(j);
	return ok ? 0 : -1;
}

static void cmd_fence(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	uint64_t epoch;
	if (admin_parse_epoch(req, resp, &epoch) != 0)
		return;
	char err[300];
	pthread_mutex_lock(&s->mu);
	if (epoch < s->role.epoch) {
		uint64_t cur = s->role.epoch;
		pthread_mutex_unlock(&s->mu);
		http_resp_error(resp, 409, "stale epoch %" PRIu64 ": this site is at epoch %" PRIu64,
				epoch, cur);
		return;
	}
	struct role_state before = s->role;
	s->role.role = ROLE_FENCED;
	s->role.epoch = epoch;
	int rc = persist_locked(s, err, sizeof(err));
	if (rc)
		s->role = before;
	else
		role_changed_locked(s);
	json_t *reply = rc ? NULL : role_reply_locked(s);
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		http_resp_error(resp, 500, "%s", err);
		return;
	}
	log_event(LOG_WARN, "site.fenced", "{s:I}", "epoch", (json_int_t)epoch);
	http_resp_json(resp, 200, reply);
}

static void cmd_heartbeat(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	uint64_t epoch;
	if (admin_parse_epoch(req, resp, &epoch) != 0)
		return;
	pthread_mutex_lock(&s->mu);
	uint64_t cur = s->role.epoch;
	if (epoch > cur)
		site_learn_epoch_locked(s, epoch, "orchestrator heartbeat");
	else if (epoch == cur)
		s->orch_seen_ms = time_mono_ms();
	json_t *reply = epoch == cur ? role_reply_locked(s) : NULL;
	pthread_mutex_unlock(&s->mu);
	if (epoch < cur)
		http_resp_error(resp, 409, "stale epoch %" PRIu64 ": this site is at epoch %" PRIu64,
				epoch, cur);
	else if (epoch > cur)
		http_resp_error(resp, 409, "this site was at epoch %" PRIu64 "; fenced at epoch %"
				PRIu64 " until it is given a role", cur, epoch);
	else
		http_resp_json(resp, 200, reply);
}

/* Reads {"epoch": E >= 1, "fcv": "X.Y.Z"}; 0 or -1 with a 400 set. */
static int parse_fcv_cmd(const struct http_req *req, struct http_resp *resp,
			 uint64_t *epoch, struct version *fcv)
{
	json_t *j = http_req_json(req, resp);
	if (!j)
		return -1;
	json_t *e = json_object_get(j, "epoch");
	const char *v = json_string_value(json_object_get(j, "fcv"));
	int rc = -1;
	if (!json_is_integer(e) || json_integer_value(e) < 1)
		http_resp_error(resp, 400, "epoch: must be an integer >= 1");
	else if (!v || !version_parse(v, fcv))
		http_resp_error(resp, 400, "fcv: must be a string " ROLE_VERSION_SYNTAX);
	else
		rc = 0;
	if (rc == 0)
		*epoch = (uint64_t)json_integer_value(e);
	json_decref(j);
	return rc;
}

/* Moves the FCV to fcv under s->mu, at the site's epoch; 0 or an HTTP status. */
static int apply_fcv_locked(struct site *s, const struct version *fcv, char *err, size_t errlen)
{
	char want[ROLE_VERSION_MAX], have[ROLE_VERSION_MAX];
	version_text(fcv, want, sizeof(want));
	if (version_cmp(fcv, &s->opts.binary) > 0) {
		snprintf(err, errlen, "binary %s cannot run at fcv %s",
			 version_text(&s->opts.binary, have, sizeof(have)), want);
		return 409;
	}
	int c = version_cmp(fcv, &s->role.fcv);
	version_text(&s->role.fcv, have, sizeof(have));
	if (c < 0) {
		snprintf(err, errlen, "fcv %s is below this site's fcv %s: the fcv never goes "
			 "down", want, have);
		return 409;
	}
	if (c == 0)
		return 0;
	struct version before = s->role.fcv;
	s->role.fcv = *fcv;
	if (role_save(s->datadir, &s->role, err, errlen) != 0) {
		s->role.fcv = before;
		return 500;
	}
	log_event(LOG_INFO, "site.fcv", "{s:s, s:s, s:I}", "fcv", want, "from", have,
		  "epoch", (json_int_t)s->role.epoch);
	return 0;
}

/* Epochs as a heartbeat: older 409, newer fences and 409; then the FCV. */
static void cmd_fcv(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	uint64_t epoch;
	struct version fcv;
	if (parse_fcv_cmd(req, resp, &epoch, &fcv) != 0)
		return;
	char err[300], now[ROLE_VERSION_MAX], bin[ROLE_VERSION_MAX];
	int status = 409;
	pthread_mutex_lock(&s->mu);
	uint64_t cur = s->role.epoch;
	if (epoch < cur) {
		snprintf(err, sizeof(err), "stale epoch %" PRIu64 ": this site is at epoch %"
			 PRIu64, epoch, cur);
	} else if (epoch > cur) {
		site_learn_epoch_locked(s, epoch, "orchestrator fcv");
		snprintf(err, sizeof(err), "this site was at epoch %" PRIu64 "; fenced at epoch %"
			 PRIu64 " until it is given a role", cur, epoch);
	} else {
		s->orch_seen_ms = time_mono_ms();
		status = apply_fcv_locked(s, &fcv, err, sizeof(err));
	}
	version_text(&s->role.fcv, now, sizeof(now));
	pthread_mutex_unlock(&s->mu);
	if (status) {
		http_resp_error(resp, status, "%s", err);
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:s, s:s}", "fcv", now, "version",
					    version_text(&s->opts.binary, bin, sizeof(bin))));
}

static void cmd_checkpoint(struct site *s, struct http_resp *resp)
{
	site_checkpoint(s);
	pthread_mutex_lock(&s->cp_mu);
	uint64_t lsn = s->cp_lsn;
	pthread_mutex_unlock(&s->cp_mu);
	http_resp_json(resp, 200, json_pack("{s:I}", "checkpoint_lsn", (json_int_t)lsn));
}

json_t *site_faults_json_locked(struct site *s)
{
	return json_pack("{s:I, s:b, s:b}", "slow_fsync_ms", (json_int_t)s->faults.slow_fsync_ms,
			 "stall_writes", s->faults.stall_writes,
			 "drop_replication", s->faults.drop_replication);
}

/* Validates a faults body: every field optional, nothing else allowed. */
static int parse_faults(json_t *j, struct faults *f, struct http_resp *resp)
{
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		if (strcmp(key, "slow_fsync_ms") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 60000)
				return http_resp_error(resp, 400, "slow_fsync_ms: must be 0..60000"), -1;
			f->slow_fsync_ms = (uint64_t)json_integer_value(v);
		} else if (strcmp(key, "stall_writes") == 0 || strcmp(key, "drop_replication") == 0 ||
			   strcmp(key, "clear") == 0) {
			if (!json_is_boolean(v))
				return http_resp_error(resp, 400, "%s: must be true or false", key), -1;
			bool on = json_is_true(v);
			if (key[0] == 's')
				f->stall_writes = on;
			else if (key[0] == 'd')
				f->drop_replication = on;
			else if (on)
				*f = (struct faults){ 0 };
		} else {
			return http_resp_error(resp, 400, "%s: unknown fault (slow_fsync_ms, "
					       "stall_writes, drop_replication, clear)", key), -1;
		}
	}
	return 0;
}

/* Fault injection for drills; exists only with --enable-faults. */
static void cmd_faults(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	json_t *j = http_req_json(req, resp);
	if (!j)
		return;
	pthread_mutex_lock(&s->mu);
	struct faults f = s->faults;
	int rc = parse_faults(j, &f, resp);
	if (rc == 0) {
		s->faults = f;
		wal_set_fsync_delay(s->wal, f.slow_fsync_ms);
	}
	json_t *reply = rc == 0 ? site_faults_json_locked(s) : NULL;
	pthread_mutex_unlock(&s->mu);
	json_decref(j);
	if (rc == 0) {
		log_event(LOG_WARN, "site.faults", "{s:O}", "faults", reply);
		http_resp_json(resp, 200, reply);
	}
}

void admin_route(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	if (!admin_authorized(s, req, resp))
		return;
	const char *cmd = req->path + strlen("/v1/admin/");
	bool post = strcmp(req->method, "POST") == 0;
	if (strcmp(cmd, "faults") == 0 && !s->opts.enable_faults)
		http_resp_error(resp, 404, "no admin command faults: start drsite with --enable-faults");
	else if (strcmp(cmd, "faults") == 0 && post)
		cmd_faults(s, req, resp);
	else if (post && strcmp(cmd, "role") == 0)
		cmd_role(s, req, resp);
	else if (post && strcmp(cmd, "fence") == 0)
		cmd_fence(s, req, resp);
	else if (post && strcmp(cmd, "heartbeat") == 0)
		cmd_heartbeat(s, req, resp);
	else if (post && strcmp(cmd, "checkpoint") == 0)
		cmd_checkpoint(s, resp);
	else if (post && strcmp(cmd, "fcv") == 0)
		cmd_fcv(s, req, resp);
	else if (post && strcmp(cmd, "rewind") == 0)
		rewind_cmd(s, req, resp);
	else if (!strcmp(cmd, "role") || !strcmp(cmd, "fence") || !strcmp(cmd, "heartbeat") ||
		 !strcmp(cmd, "checkpoint") || !strcmp(cmd, "faults") || !strcmp(cmd, "rewind") ||
		 !strcmp(cmd, "fcv"))
		http_resp_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
	else
		http_resp_error(resp, 404, "no admin command %s", cmd);
}
