/*
 * rejoin.c — keeping every site in the role the cluster row says, and
 * bringing back the ones that left it: role commands (reconcile), in the
 * states the spec marks `reconciles` (fsm/dr.fsm.yaml), between two ticks;
 * the REJOINING state's rewinds of replicas whose log diverged (its action
 * and its tick); and the audit of every rewind.  All of it runs on the
 * driver thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "log.h"
#include "orch.h"
#include "siteapi.h"
#include "timeutil.h"

void orch_send_role(struct orch *o, int i, json_t *body)
{
	char err[300];
	json_t *answer = NULL;
	struct httpc *c = orch_site_client(o);
	long st = c ? siteapi_admin_json(c, o->cfg.sites[i].url, o->site_token, "role", body,
					 (long)orch_window_ms(o), &answer, err, sizeof(err)) : 0;
	httpc_free(c);
	orch_note_nonce(o, i, answer);
	json_decref(answer);
	if (st != 200)
		log_event(LOG_WARN, "orch.role_failed", "{s:s, s:s}", "site", o->cfg.sites[i].name,
			  "error", err);
	json_decref(body);
}

json_t *orch_with_nonce_locked(struct orch *o, int i, json_t *body)
{
	struct site_view *v = &o->views[i];
	if (body && v->lease_nonce[0]) {
		json_object_set_new(body, "lease_nonce", json_string(v->lease_nonce));
		if (v->nonce_rx_ms > v->nonce_used_rx_ms)
			v->nonce_used_rx_ms = v->nonce_rx_ms;
	}
	return body;
}

json_t *orch_with_nonce(struct orch *o, int i, json_t *body)
{
	pthread_mutex_lock(&o->mu);
	orch_with_nonce_locked(o, i, body);
	pthread_mutex_unlock(&o->mu);
	return body;
}

void orch_view_nonce_locked(struct site_view *v, const char *nonce, uint64_t now)
{
	if (!nonce || strlen(nonce) >= sizeof(v->lease_nonce))
		return;
	/* BOOT-MS: another BOOT is another start of the site, which went back
	 * to its --lease-ms: no command of ours set its lease since. */
	const char *dash = strchr(nonce, '-');
	size_t boot = dash ? (size_t)(dash - nonce) + 1 : strlen(nonce);
	if (strncmp(v->lease_nonce, nonce, boot) != 0)
		v->lease_conf_epoch = 0;
	snprintf(v->lease_nonce, sizeof(v->lease_nonce), "%s", nonce);
	v->nonce_rx_ms = now;
}

void orch_note_nonce(struct orch *o, int i, json_t *answer)
{
	const char *nonce = json_string_value(json_object_get(answer, "lease_nonce"));
	json_t *lease = json_object_get(answer, "lease_ms");
	json_t *epoch = json_object_get(answer, "epoch");
	pthread_mutex_lock(&o->mu);
	struct site_view *v = &o->views[i];
	orch_view_nonce_locked(v, nonce, time_mono_ms());
	/* A role answer at the epoch we asked a lease at: our command set it
	 * (or a shorter one of ours stands), so only ours can lengthen it. */
	if (json_is_integer(lease) && json_is_integer(epoch) &&
	    json_integer_value(epoch) == v->lease_asked_epoch)
		v->lease_conf_epoch = json_integer_value(epoch);
	pthread_mutex_unlock(&o->mu);
}

/* The lease to ask site i for now (under o->mu): the policy's, plus the
 * longest recent round trip to it unless the policy sets the lease, within
 * the site's --lease-ms (it would cap it: the wait counts what it grants). */
static uint64_t lease_want_locked(struct orch *o, int i)
{
	const struct policy *p = orch_policy(o);
	const struct site_view *v = &o->views[i];
	return decide_lease_want(policy_lease_ms(p), p->lease_ms > 0,
				 decide_rtt_high(&v->rtt, time_mono_ms()), p->heartbeat_ms,
				 v->lease_max_ms > 0 ? (uint64_t)v->lease_max_ms : 0);
}

/* The primary's write lease is renewed by drorchd or by every other site
 * (admin.c: WRITE LEASE), so fencing any one replica ends the replicas'
 * part of it.  Its length is lease_want_locked's, which the site caps at
 * its --lease-ms: asked of a site that tells its lease_max_ms (an older
 * drsite refuses the field).  The view keeps the longest asked at the
 * newest epoch, which the fence's wait counts on (decide_lease_bound). */
json_t *orch_role_body(struct orch *o, int i, const char *primary, int64_t epoch)
{
	const struct policy *p = orch_policy(o);
	json_int_t others = o->cfg.nsites - 1;
	json_t *body;
	if (strcmp(o->cfg.sites[i].name, primary) == 0)
		body = json_pack("{s:s, s:I, s:s, s:I, s:I}", "role", "primary",
				 "epoch", (json_int_t)epoch, "mode", p->mode,
				 "quorum", (json_int_t)p->quorum, "lease_replicas", others);
	else
		body = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I}", "role", "replica",
				 "epoch", (json_int_t)epoch,
				 "primary", config_peer_addr(&o->cfg, o->cfg.sites[i].name, primary),
				 "mode", p->mode, "quorum", (json_int_t)p->quorum,
				 "lease_replicas", others);
	pthread_mutex_lock(&o->mu);
	struct site_view *v = &o->views[i];
	if (body && v->lease_max_ms > 0) {
		uint64_t lease = lease_want_locked(o, i);
		json_object_set_new(body, "lease_ms", json_integer((json_int_t)lease));
		decide_lease_asked(&v->lease_asked_ms, &v->lease_asked_epoch, epoch, lease);
	}
	orch_with_nonce_locked(o, i, body);
	pthread_mutex_unlock(&o->mu);
	return body;
}

/* Whether the primary's lease should be asked again (under o->mu): no
 * command of ours set it at its epoch (drorchd restarted, or took over as
 * HA leader), or it is 25 ms shorter than the policy and the round trip now
 * want (the round trip grew), or 50 ms longer (it shrank, or the policy
 * was changed). */
static bool lease_due_locked(struct orch *o, int i)
{
	const struct site_view *v = &o->views[i];
	if (v->lease_max_ms <= 0 || v->lease_ms <= 0)
		return false;
	uint64_t want = lease_want_locked(o, i), have = (uint64_t)v->lease_ms;
	return v->lease_conf_epoch != v->epoch || have + 25 < want || have > want + 50;
}

/*
 * In the states the spec marks `reconciles` (fsm/dr.fsm.yaml): a reachable
 * site whose role, epoch or primary differs from the cluster row's (first
 * start, a restarted primary or replica waiting to be confirmed, a
 * returning old primary), or a primary whose lease is due (lease_due_locked),
 * is told its role, at most once a second.  A site
 * that refuses (a diverged old primary) stays refused.  A restarted primary
 * whose log is no longer the source of truth (decide_regressed) is not
 * confirmed: the health check fails it over instead; nor is a primary the
 * run context says is unknown (R02).
 */
void orch_reconcile(struct orch *o)
{
	/* No role for a primary the store does not believe (R02, resumed by an
	 * operator): the health check fails over again (drchaos seeds 20047,
	 * 20051 promoted a stale row's primary here, rewinding the others). */
	pthread_mutex_lock(&o->mu);
	bool skip = o->cluster.ctx.primary_unknown;
	pthread_mutex_unlock(&o->mu);
	if (skip)
		return;
	uint64_t now = time_mono_ms();
	for (int i = 0; i < o->cfg.nsites; i++) {
		pthread_mutex_lock(&o->mu);
		enum fsm_state s = orch_state_locked(o);
		struct site_view *v = &o->views[i];
		const char *name = o->cfg.sites[i].name;
		char primary[128];
		snprintf(primary, sizeof(primary), "%s", o->cluster.primary);
		int64_t epoch = o->cluster.epoch, need;
		bool is_primary = strcmp(name, primary) == 0;
		const char *addr = config_peer_addr(&o->cfg, name, primary);
		bool ok = v->epoch == epoch && v->confirmed &&
			  (is_primary ? !strcmp(v->role, "primary") && !v->writes_paused
				      : !strcmp(v->role, "replica") && !strcmp(v->repl_primary, addr));
		/* Only its lease to ask again: the role it runs, as it is (a
		 * primary degraded to async stays so). */
		bool lease_only = ok && is_primary && lease_due_locked(o, i);
		char mode[16];
		int64_t quorum = v->quorum;
		snprintf(mode, sizeof(mode), "%s", v->mode);
		ok = ok && !lease_only;
		bool regressed = is_primary && orch_regressed_locked(o, i, &need);
		bool due = fsm_state_reconciles[s] && v->reachable && !ok && !regressed &&
			   v->epoch <= epoch && now - v->role_sent_ms > 1000;
		if (due)
			v->role_sent_ms = now;
		pthread_mutex_unlock(&o->mu);
		if (!due)
			continue;
		json_t *body = orch_role_body(o, i, primary, epoch);
		if (lease_only && body && mode[0]) {
			json_object_set_new(body, "mode", json_string(mode));
			json_object_set_new(body, "quorum", json_integer((json_int_t)quorum));
		}
		orch_send_role(o, i, body);
	}
}

/* ---- rewinds, and what the audit says of them ------------------------------------- */

/* Whether a "rewind" step of a recent failover or rewind run names the
 * quarantine file path. */
static bool rewind_recorded(struct orch *o, const char *path)
{
	json_t *runs = store_runs_json(o->store, 100), *r;
	size_t i;
	bool found = false;
	json_array_foreach(runs, i, r) {
		const char *kind = json_string_value(json_object_get(r, "kind")) ?: "";
		if (found || (strcmp(kind, "failover") && strcmp(kind, "rewind")))
			continue;
		json_t *run = store_run_json(o->store, json_integer_value(json_object_get(r, "id")));
		json_t *steps = json_object_get(run, "steps"), *st;
		size_t k;
		json_array_foreach(steps, k, st) {
			const char *q = json_string_value(json_object_get(json_object_get(st, "detail"),
									  "quarantine"));
			found = found || (!strcmp(json_string_value(json_object_get(st, "name")) ?: "",
						  "rewind") && q && !strcmp(q, path));
		}
		json_decref(run);
	}
	json_decref(runs);
	return found;
}

/* The failover run that lost the records of a rewind of site
 * (decide_loss_run, over the store's recent failover runs); 0 when the
 * store has none that did. */
static int64_t failover_run_from(struct orch *o, const char *site, json_t *rewind)
{
	json_t *runs = store_runs_json(o->store, 100), *r;
	struct run_brief brief[100];
	int n = 0;
	size_t i;
	json_array_foreach(runs, i, r) {
		if (n == 100 || strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "failover"))
			continue;
		brief[n++] = (struct run_brief){
			.id = json_integer_value(json_object_get(r, "id")),
			.epoch = json_integer_value(json_object_get(r, "epoch")),
			.from_site = !strcmp(json_string_value(json_object_get(r, "from_site")) ?: "",
					     site),
		};
	}
	json_decref(runs);
	return decide_loss_run(brief, n, json_integer_value(json_object_get(rewind, "from_epoch")),
			       json_integer_value(json_object_get(rewind, "epoch")));
}

/*
 * Records a rewind of site i (its answer, or the last_rewind its status
 * reports) as a "rewind" step: of the failover run that lost its records
 * (failover_run_from), whose RPO is raised to the records the rewind moved
 * off, or of a run of its own (kind "rewind") when the store has no such
 * run (it lost its history).  Once per quarantine file, so that every
 * record a rewind removed is in a file the audit names, also when the
 * rewind's answer was lost (the site crashed, and finished the rewind at
 * its next start).
 */
static void record_rewind(struct orch *o, int i, json_t *rewind)
{
	const char *path = json_string_value(json_object_get(rewind, "quarantine"));
	char err[300] = "";
	if (!path || rewind_recorded(o, path))
		return;
	json_t *detail = json_deep_copy(rewind);
	json_object_set_new(detail, "site", json_string(o->cfg.sites[i].name));
	char *text = json_dumps(detail, JSON_COMPACT);
	/* What the rewind moved off is what that failover lost (async): its RPO
	 * counts at least that many records, learnt only now.  With no such run
	 * in the store (it lost its history), a run of its own whose RPO is
	 * those records.  One transaction: a crash records all or nothing. */
	int64_t run = failover_run_from(o, o->cfg.sites[i].name, rewind);
	int rc = text ? store_run_rewind(o->store, run, o->cfg.sites[i].name,
					 json_integer_value(json_object_get(rewind, "epoch")),
					 json_integer_value(json_object_get(rewind, "records")), text,
					 &run, err, sizeof(err)) : -1;
	if (!text)
		snprintf(err, sizeof(err), "out of memory");
	if (rc != 0)
		log_event(LOG_ERROR, "orch.run_step_failed", "{s:s}", "error", err);
	else
		log_event(LOG_WARN, "orch.rewound", "{s:O, s:I}", "rewind", detail, "run",
			  (json_int_t)run);
	free(text);
	json_decref(detail);
}

/* Tells site i to rewind (it refused its primary's log as diverged) and
 * records its answer. */
static void rewind_site(struct orch *o, int i, int64_t epoch)
{
	char err[300] = "";
	json_t *body = json_pack("{s:I}", "epoch", (json_int_t)epoch), *answer = NULL;
	struct httpc *c = orch_site_client(o);
	long st = c ? siteapi_admin_json(c, o->cfg.sites[i].url, o->site_token, "rewind", body,
					 10000, &answer, err, sizeof(err)) : 0;
	httpc_free(c);
	json_decref(body);
	if (st == 200)
		record_rewind(o, i, answer);
	else
		log_event(LOG_WARN, "orch.rewind_failed", "{s:s, s:I, s:s}", "site",
			  o->cfg.sites[i].name, "status", (json_int_t)st, "error", err);
	json_decref(answer);
}

void orch_note_rewinds(struct orch *o)
{
	for (int i = 0; i < o->cfg.nsites; i++) {
		pthread_mutex_lock(&o->mu);
		struct site_view *v = &o->views[i];
		json_t *last = v->last_rewind && strcmp(v->last_rewind_path, v->rewind_noted) ?
			       json_incref(v->last_rewind) : NULL;
		if (last)
			snprintf(v->rewind_noted, sizeof(v->rewind_noted), "%s", v->last_rewind_path);
		pthread_mutex_unlock(&o->mu);
		if (last)
			record_rewind(o, i, last);
		json_decref(last);
	}
}

/* ---- REJOINING ------------------------------------------------------------------ */

/* Whether replica i at the cluster's epoch was refused by its confirmed
 * primary as diverged (a returning old primary holding records the new one
 * never had).  Never towards a primary that is not confirmed or lacks
 * records: a replica ahead of such a primary is not diverged.  Under mu. */
static bool diverged_locked(struct orch *o, int i)
{
	int64_t epoch = o->cluster.epoch;
	int p = orch_site_index(o, o->cluster.primary);
	const struct site_view *pv = p >= 0 ? &o->views[p] : NULL, *v = &o->views[i];
	bool primary_ok = pv && pv->reachable && pv->epoch == epoch && pv->confirmed &&
			  !strcmp(pv->role, "primary") && !pv->behind_need_lsn;
	return i != p && primary_ok && v->reachable && !strcmp(v->role, "replica") &&
	       v->epoch == epoch && !strcmp(v->repl_state, "refused") && v->diverged_lsn > 0;
}

int orch_diverged_event_locked(struct orch *o)
{
	for (int i = 0; i < o->cfg.nsites; i++)
		if (diverged_locked(o, i))
			return FSM_E_SITE_DIVERGED;
	return -1;
}

/*
 * REJOINING: every diverged replica is rewound (at most once every 2 s),
 * its answer recorded (record_rewind: the quarantine file in the audit),
 * and named in the run's context (rejoining), which the ticks
 * watch (orch_rejoin_event_locked).  REJOINED at once when no site is, or
 * was, to rejoin (a resume after the rewind was done).
 */
int orch_act_rejoin(struct orch *o, struct act_result *r)
{
	uint64_t now = time_mono_ms();
	for (int i = 0; i < o->cfg.nsites; i++) {
		pthread_mutex_lock(&o->mu);
		struct site_view *v = &o->views[i];
		int64_t epoch = o->cluster.epoch;
		bool due = diverged_locked(o, i) && now - v->rewind_sent_ms > 2000;
		if (due)
			v->rewind_sent_ms = now;
		pthread_mutex_unlock(&o->mu);
		if (!due)
			continue;
		rewind_site(o, i, epoch);
		runctx_rejoining_add(&r->ctx, o->cfg.sites[i].name);  /* at most every site */
	}
	return r->ctx.nrejoining == 0 ? FSM_E_REJOINED : -1;
}

/* Every site the rejoin named streams again (none named: its action has
 * not run yet, or answered REJOINED itself). */
int orch_rejoin_event_locked(struct orch *o)
{
	const struct run_ctx *c = &o->cluster.ctx;
	bool all = c->nrejoining > 0;
	for (int k = 0; k < c->nrejoining; k++) {
		int i = orch_site_index(o, c->rejoining[k]);
		all = all && i >= 0 && orch_streams_locked(o, i);
	}
	return all ? FSM_E_REJOINED : -1;
}
