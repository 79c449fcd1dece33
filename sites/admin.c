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
 * WRITE LEASE.  A primary takes writes only while its lease holds: within
 * the last lease_ms, the orchestrator renewed it (an admin command at its
 * epoch), or `lease_replicas` confirmed replicas streaming at its epoch did
 * (a fetch).  The orchestrator sends lease_replicas = every other site, so
 * an orchestrator outage alone never stops writes, a primary cut off from
 * everyone stops within lease_ms in every mode, and fencing any ONE replica
 * ends the replicas' part of the lease (as Patroni's failsafe mode needs
 * every member).  A command without lease_replicas keeps the old rule:
 * `quorum` replicas (at least one).
 * lease_ms is the site's --lease-ms, or shorter when a role command asks
 * for less ("lease_ms": drorchd asks for its policy's detection window and
 * the round trip, so a dead primary's lease ends about when drorchd
 * declares it dead).  A new role or epoch takes the request.  Within one a
 * request may always shorten the lease, and lengthens it only when its
 * grant instant (nonce) is no older than that of the command that set it
 * (admin_lease_after): a command a partition held back, or one of a
 * deposed orchestrator, cannot lengthen a lease a newer command set, so an
 * orchestrator whose command set the lease bounds it by what it asked
 * since.  A restarted site starts at --lease-ms, and writes nothing before
 * a role command confirms it.  GET /v1/status and the role answer tell
 * lease_ms (in force); the status also lease_max_ms (--lease-ms).
 * A replica is confirmed once it has had a role command since it started
 * (it says so in each fetch: confirmed=1).  A replica that restarted from
 * its state.json and has not heard from the orchestrator since may follow
 * a primary the orchestrator has already given up on: it still acks records
 * (durability: sync writes count it), but it does not renew the lease.
 *
 * LEASE NONCES.  A renewal counts from when it was SENT, never from when it
 * arrived, so a command or a fetch that a partition held back and delivered
 * late grants nothing.  Every answer that may lead to a renewal carries a
 * nonce: GET /v1/status, the role, heartbeat and fcv answers ("lease_nonce")
 * and every WAL shipment (header X-Drorch-Lease-Nonce).  A nonce is
 * "BOOT-MS": a random id of this start of the site (16 hex digits) and its
 * monotonic clock in ms when the nonce was handed out.  A command or fetch
 * that echoes a nonce ("lease_nonce" in the body; &lease_nonce= on a fetch)
 * renews the lease as of that instant, which precedes its sending; one with
 * another start's nonce (or one not handed out yet) renews nothing and
 * confirms no role.  A command without a nonce (a person with curl) renews
 * from its arrival; drorchd always sends one.  So after the orchestrator
 * fences a replica (which then stops fetching at the old epoch), the old
 * primary's lease ends at most lease_ms after the replica's last contact
 * with it, whatever is still in flight: that is what drorchd waits out.
 *
 * ORCHESTRATOR TERM.  With HA, drorchd sends its leader term (the leader
 * key's create_revision in etcd, higher for each new leader) on every
 * authenticated request: header X-Drorch-Term.  A site keeps the newest it
 * has seen since it started and refuses a request of an older term with
 * 409, changing nothing (admin_term_check): a fencing token, so once the
 * new leader's first command or status poll (the leader's polls carry the
 * token and the term: admin_learn_term, within a heartbeat of its
 * takeover, also at a replica no command reaches) has reached a site, a
 * deposed leader's command that a partition held back is refused there
 * whatever its epoch and nonce
 * (it could otherwise still lengthen a lease the new leader set: WRITE
 * LEASE).  A request without the header (one drorchd without HA, a
 * replica's fetch, a person with curl) is not checked.  The term is not
 * persisted: a restarted site takes the next one it sees, and until a role
 * command confirms it, its lease is none and a command carrying another
 * start's nonce confirms nothing.  GET /v1/status tells it ("orch_term").
 *
 * SELF-FENCING WHEN BEHIND.  A site that knows it lacks records of its own
 * epoch (role.h: struct behind_record: WAL damage, an incomplete store at
 * start, or a replica at its epoch asking beyond its end) is refused as
 * primary at that epoch (409 with the reason) and, if it is primary, fences
 * itself: its log is not the source of truth.  A role at a newer epoch
 * clears it: the orchestrator has decided with that knowledge.
 *
 * STRICT BODIES.  Every admin command names the fields it takes; another
 * field is a 400 naming it, and nothing changes.  The bodies are parsed by
 * admincmd.c, pure functions of their bytes (fuzzed: docs/fuzzing.md).
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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admincmd.h"
#include "format.h"
#include "auth.h"
#include "log.h"
#include "site_internal.h"
#include "timeutil.h"

/* ---- authorization ----------------------------------------------------------- */

/* The request's X-Drorch-Term against the newest this site has seen
 * (admin_term_check, under mu): a newer one is taken. */
static int request_term(struct site *s, const struct http_req *req, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	int t = admin_term_check(http_req_header(req, "X-Drorch-Term"), &s->orch_term, err, errlen);
	pthread_mutex_unlock(&s->mu);
	return t;
}

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
	char err[300];
	int t = request_term(s, req, err, sizeof(err));
	if (t != ADMIN_TERM_OK) {
		http_resp_error(resp, t == ADMIN_TERM_BAD ? 400 : 409, "%s", err);
		return false;
	}
	return true;
}

void admin_learn_term(struct site *s, const struct http_req *req)
{
	char err[300];
	/* Anyone may read; only the token holder's term counts, and an older or
	 * malformed one refuses nothing here. */
	if (s->token && auth_bearer_ok(http_req_header(req, "Authorization"), s->token))
		request_term(s, req, err, sizeof(err));
}

/* ---- lease nonces ------------------------------------------------------------ */

void site_nonce(const struct site *s, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 "-%" PRIu64, s->boot_id, time_mono_ms());
}

int site_nonce_parse(const struct site *s, const char *text, uint64_t now, uint64_t *at)
{
	return admin_nonce_parse(s->boot_id, text, now, at);
}

/* ---- lease and epochs -------------------------------------------------------- */

/* The replicas' part of the lease: the lease_replicas-th newest credit of
 * the confirmed replicas at the primary's epoch; 0 when there are fewer. */
static uint64_t replica_credit_locked(const struct site *s)
{
	int need = s->lease_replicas;
	uint64_t seen[SITE_MAX_PEERS];
	int n = 0;
	for (int i = 0; i < s->npeers; i++)
		if (s->peers[i].epoch == s->role.epoch && s->peers[i].confirmed &&
		    s->peers[i].lease_credit_ms)
			seen[n++] = s->peers[i].lease_credit_ms;
	if (need == 0 || n < need)
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
	uint64_t last = s->orch_seen_ms, q = replica_credit_locked(s);
	if (q > last)
		last = q;
	if (!last || now - last > s->lease_ms) {
		snprintf(why, whylen, "write lease expired: not renewed by the orchestrator or "
			 "%d replica(s) at epoch %" PRIu64 " for %s%" PRIu64 " ms",
			 s->lease_replicas, r->epoch, last ? "" : "more than ",
			 last ? now - last : s->lease_ms);
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
void site_role_changed_locked(struct site *s)
{
	if (s->role.role != ROLE_PRIMARY)
		s->writes_paused = false;
	site_gate_locked(s);
	repl_wake_writers_locked(s);
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
	site_role_changed_locked(s);
}

/* ---- command bodies ------------------------------------------------------------ */

/* The clock a command's lease nonce is read against: now, this start. */
static struct admin_clock admin_clock(const struct site *s)
{
	return (struct admin_clock){ .boot_id = s->boot_id, .now_ms = time_mono_ms() };
}

/* Whether the command may confirm a role: a nonce of another start of this
 * site means it was sent before the site restarted. */
static bool grant_current(const struct admin_grant *g)
{
	return !g->has_nonce || g->nonce == NONCE_OURS;
}

/* The instant a command grants from: its nonce's, its arrival without one,
 * 0 with a nonce of another start. */
static uint64_t grant_at(const struct admin_grant *g)
{
	return !g->has_nonce ? time_mono_ms() : g->nonce == NONCE_OURS ? g->at : 0;
}

/* The orchestrator's part of the lease after this command, under s->mu:
 * renewed from the nonce's instant (or the arrival of a command without
 * one), never moved back; a new epoch starts over. */
static void grant_lease_locked(struct site *s, const struct admin_grant *g, bool new_epoch)
{
	uint64_t at = grant_at(g);
	if (new_epoch)
		s->orch_seen_ms = at;
	else if (at > s->orch_seen_ms)
		s->orch_seen_ms = at;
}

int admin_parse_epoch(const struct http_req *req, struct http_resp *resp, uint64_t *epoch)
{
	char err[512];
	if (admin_parse_epoch_body(req->body, req->body_len, epoch, err, sizeof(err)) != 0)
		return http_resp_error(resp, 400, "%s", err), -1;
	return 0;
}

/* ---- role ------------------------------------------------------------------------ */

/* What an admin command answers: the role, the log's ends and a fresh
 * lease nonce.  Under s->mu. */
static json_t *role_reply_locked(struct site *s)
{
	struct wal_stats ws;
	char nonce[SITE_NONCE_MAX];
	wal_get_stats(s->wal, &ws);
	site_nonce(s, nonce, sizeof(nonce));
	return json_pack("{s:s, s:I, s:s, s:i, s:i, s:I, s:I, s:I, s:s, s:s, s:b}",
			 "role", role_name(s->role.role), "epoch", (json_int_t)s->role.epoch,
			 "mode", role_mode_name(s->role.mode), "quorum", s->role.quorum,
			 "lease_replicas", s->lease_replicas, "lease_ms", (json_int_t)s->lease_ms,
			 "lsn", (json_int_t)ws.last_lsn,
			 "flushed_lsn", (json_int_t)ws.flushed_lsn,
			 "writes", s->writes_paused ? "paused" : "open", "lease_nonce", nonce,
			 "confirmed", s->confirmed);
}

/* Why this site may not be primary at epoch, or NULL (under s->mu). */
static const char *behind_refusal_locked(struct site *s, uint64_t epoch, char *err,
					 size_t errlen)
{
	const struct behind_record *b = &s->role.behind;
	if (!b->need_lsn || epoch > b->epoch)
		return NULL;
	snprintf(err, errlen, "this site cannot be primary at epoch %" PRIu64 ": it lacks "
		 "records %" PRIu64 "..%" PRIu64 " of epoch %" PRIu64 " (%s); fail over to a "
		 "site that has them, or give it a newer epoch", epoch, b->have_lsn + 1,
		 b->need_lsn, b->epoch, b->why);
	return err;
}

/* Checks a role command against the site's epoch; 0 or an HTTP status. */
static int check_role_locked(struct site *s, const struct admin_role_cmd *c, bool *same_role,
			     char *err, size_t errlen)
{
	struct role_state *r = &s->role;
	if (c->epoch < r->epoch) {
		snprintf(err, errlen, "stale epoch %" PRIu64 ": this site is at epoch %" PRIu64,
			 c->epoch, r->epoch);
		return 409;
	}
	/* A fenced site takes a role at its own epoch as if it were new: it may
	 * have been fenced by learning of that epoch before the command came. */
	*same_role = c->epoch == r->epoch && s->had_role && r->role != ROLE_FENCED;
	if (*same_role && (r->role != c->role ||
			   (c->role == ROLE_REPLICA && strcmp(r->primary, c->primary) != 0))) {
		snprintf(err, errlen, "epoch %" PRIu64 " is already assigned to role %s here",
			 c->epoch, role_name(r->role));
		return 409;
	}
	if (c->role == ROLE_PRIMARY && behind_refusal_locked(s, c->epoch, err, errlen))
		return 409;
	return 0;
}

/* Applies a checked role command under s->mu; 0 or an HTTP status. */
static int apply_role_locked(struct site *s, const struct admin_role_cmd *c, char *err, size_t errlen)
{
	struct role_state *r = &s->role;
	bool same_role;
	int status = check_role_locked(s, c, &same_role, err, errlen);
	if (status)
		return status;
	struct role_state before = *r;
	bool new_epoch = c->epoch > r->epoch;
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	if (c->role == ROLE_PRIMARY && !same_role)
		role_history_add(r, c->epoch, ws.last_lsn + 1);
	if (!same_role)
		s->npeers = 0;  /* replicas re-register at the new epoch */
	if (r->behind.need_lsn && c->epoch > r->behind.epoch)  /* decided above it */
		r->behind = (struct behind_record){ 0 };
	r->role = c->role;
	r->epoch = c->epoch;
	r->mode = c->mode;
	r->quorum = c->quorum;
	snprintf(r->primary, sizeof(r->primary), "%s", c->role == ROLE_REPLICA ? c->primary : "");
	if (persist_locked(s, err, errlen) != 0) {
		*r = before;
		return 500;
	}
	s->lease_replicas = c->lease_replicas;
	struct admin_lease l = admin_lease_after(
		(struct admin_lease){ s->lease_ms, s->lease_set_at }, s->opts.lease_ms,
		c->lease_ms, grant_at(&c->grant), new_epoch || !same_role);
	s->lease_ms = l.ms;
	s->lease_set_at = l.set_at;
	if (grant_current(&c->grant))
		s->confirmed = true;
	grant_lease_locked(s, &c->grant, new_epoch || !same_role);
	s->writes_paused = c->writes_paused;
	site_role_changed_locked(s);
	return 0;
}

static void cmd_role(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	struct admin_clock k = admin_clock(s);
	struct admin_role_cmd c;
	char why[512];
	if (admin_parse_role(req->body, req->body_len, &k, &c, why, sizeof(why)) != 0) {
		http_resp_error(resp, 400, "%s", why);
		return;
	}
	char err[400];
	pthread_mutex_lock(&s->mu);
	int status = apply_role_locked(s, &c, err, sizeof(err));
	json_t *reply = status ? NULL : role_reply_locked(s);
	bool confirmed = s->confirmed;
	uint64_t lease = s->lease_ms;
	pthread_mutex_unlock(&s->mu);
	if (status) {
		http_resp_error(resp, status, "%s", err);
	} else {
		log_event(LOG_INFO, "site.role", "{s:s, s:I, s:s, s:s, s:i, s:i, s:I, s:s, s:b}",
			  "role", role_name(c.role), "epoch", (json_int_t)c.epoch,
			  "primary", c.primary ? c.primary : "", "mode", role_mode_name(c.mode),
			  "quorum", c.quorum, "lease_replicas", c.lease_replicas,
			  "lease_ms", (json_int_t)lease,
			  "writes", c.writes_paused ? "paused" : "open", "confirmed", confirmed);
		http_resp_json(resp, 200, reply);
	}
	json_decref(c.doc);
}

/* ---- fence, heartbeat, fcv ---------------------------------------------------------- */

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
		site_role_changed_locked(s);
	json_t *reply = rc ? NULL : role_reply_locked(s);
	if (reply)  /* since when its old primary has not been heard (drorchd's lease wait) */
		json_object_set_new(reply, "primary_contact_ms_ago", json_integer(
			s->follow.last_contact_ms ? (json_int_t)(time_mono_ms() -
							s->follow.last_contact_ms) : -1));
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		http_resp_error(resp, 500, "%s", err);
		return;
	}
	log_event(LOG_WARN, "site.fenced", "{s:I}", "epoch", (json_int_t)epoch);
	http_resp_json(resp, 200, reply);
}

/* An orchestrator's command at epoch, under s->mu: 0 at the site's epoch,
 * else 409 with err (older: stale; newer: the site fences itself). */
static int command_epoch_locked(struct site *s, uint64_t epoch, const char *from, char *err,
				size_t errlen)
{
	uint64_t cur = s->role.epoch;
	if (epoch < cur) {
		snprintf(err, errlen, "stale epoch %" PRIu64 ": this site is at epoch %" PRIu64,
			 epoch, cur);
		return 409;
	}
	if (epoch > cur) {
		site_learn_epoch_locked(s, epoch, from);
		snprintf(err, errlen, "this site was at epoch %" PRIu64 "; fenced at epoch %" PRIu64
			 " until it is given a role", cur, epoch);
		return 409;
	}
	return 0;
}

static int heartbeat_epoch_locked(struct site *s, uint64_t epoch, const struct admin_grant *g,
				  const char *from, char *err, size_t errlen)
{
	int status = command_epoch_locked(s, epoch, from, err, errlen);
	if (status == 0)
		grant_lease_locked(s, g, false);
	return status;
}

static void cmd_heartbeat(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	struct admin_clock k = admin_clock(s);
	uint64_t epoch;
	struct admin_grant g;
	char why[512];
	if (admin_parse_heartbeat(req->body, req->body_len, &k, &epoch, &g, why,
				  sizeof(why)) != 0) {
		http_resp_error(resp, 400, "%s", why);
		return;
	}
	char err[300];
	pthread_mutex_lock(&s->mu);
	int status = heartbeat_epoch_locked(s, epoch, &g, "orchestrator heartbeat", err,
					    sizeof(err));
	json_t *reply = status ? NULL : role_reply_locked(s);
	if (reply)
		json_object_set_new(reply, "lease_renewed", json_boolean(grant_current(&g)));
	pthread_mutex_unlock(&s->mu);
	if (status)
		http_resp_error(resp, status, "%s", err);
	else
		http_resp_json(resp, 200, reply);
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
	wal_set_format(s->wal, format_for_fcv(fcv));  /* format 2 from 0.2.0 on */
	log_event(LOG_INFO, "site.fcv", "{s:s, s:s, s:I, s:i}", "fcv", want, "from", have,
		  "epoch", (json_int_t)s->role.epoch, "writes_format", (int)format_for_fcv(fcv));
	return 0;
}

/* Epochs as a heartbeat: older 409, newer fences and 409; then the FCV.  It
 * renews no lease: a playbook's fcv step delivered late (drchaos seed 23004,
 * held 3.6 s by a partition) kept a deposed primary writing. */
static void cmd_fcv(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	struct admin_clock k = admin_clock(s);
	uint64_t epoch;
	struct version fcv;
	struct admin_grant g;
	char why[512];
	if (admin_parse_fcv(req->body, req->body_len, &k, &epoch, &fcv, &g, why,
			    sizeof(why)) != 0) {
		http_resp_error(resp, 400, "%s", why);
		return;
	}
	char err[300], now[ROLE_VERSION_MAX], bin[ROLE_VERSION_MAX];
	pthread_mutex_lock(&s->mu);
	int status = command_epoch_locked(s, epoch, "orchestrator fcv", err, sizeof(err));
	if (status == 0)
		status = apply_fcv_locked(s, &fcv, err, sizeof(err));
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
	return json_pack("{s:I, s:b, s:b, s:b}", "slow_fsync_ms",
			 (json_int_t)s->faults.slow_fsync_ms, "stall_writes", s->faults.stall_writes,
			 "drop_replication", s->faults.drop_replication,
			 "disk_full", s->faults.disk_full);
}

/* Fault injection for drills; exists only with --enable-faults. */
static void cmd_faults(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	char why[512];
	pthread_mutex_lock(&s->mu);
	struct faults f = s->faults;
	int rc = admin_parse_faults(req->body, req->body_len, &f, why, sizeof(why));
	if (rc == 0) {
		s->faults = f;
		wal_set_fsync_delay(s->wal, f.slow_fsync_ms);
		wal_set_disk_full(s->wal, f.disk_full);
	}
	json_t *reply = rc == 0 ? site_faults_json_locked(s) : NULL;
	pthread_mutex_unlock(&s->mu);
	if (rc != 0) {
		http_resp_error(resp, 400, "%s", why);
		return;
	}
	log_event(LOG_WARN, "site.faults", "{s:O}", "faults", reply);
	http_resp_json(resp, 200, reply);
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
