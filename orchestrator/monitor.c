/*
 * monitor.c — per site, one poller thread and ORCH_RENEWERS lease renewers.
 *
 * The poller asks the site for /v1/status every heartbeat interval; the
 * primary also takes a canary write every few rounds (grey failures:
 * /healthz answers, writes do not).
 *
 * The renewers heartbeat the primary (as the cluster row names it) at the
 * current epoch, which renews its write lease — but only in the states the
 * spec marks renews_lease (fsm/dr.fsm.yaml): once a failure is suspected
 * drorchd stops renewing, so the lease can run out.  A heartbeat echoes the
 * newest lease nonce the site handed out, so it renews the lease as of when
 * drorchd learnt that nonce, never later.  The renewers take turns on the
 * heartbeat grid, one interval apart, each on a connection of its own: a
 * chunk lost on one connection holds every later request on it for a
 * retransmission, and the other keeps renewing meanwhile (issue 13: a 300 ms
 * lease under 2% loss).  With HA, only the leader heartbeats and canaries,
 * and its polls carry the site token and its term (orch_poll_client), so
 * every site learns a new leader's term within a heartbeat, also a replica
 * no command reaches: a deposed leader's late command is refused there.
 *
 * Requests time out after heartbeat x misses, so a slow WAN stretches a
 * round instead of counting as a miss; the driver judges a site by the time
 * since its last answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "log.h"
#include "orch.h"
#include "siteapi.h"
#include "timeutil.h"

#define CANARY_EVERY 5   /* rounds between canary writes */

/* Does the spec say drorchd renews the primary's lease in this state? */
static bool renews_lease(const char *state)
{
	int s = fsm_state_by_name(state);
	return s >= 0 && fsm_state_renews_lease[s];
}

static void copy_str(char *dst, size_t len, json_t *v)
{
	snprintf(dst, len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* Copies what matters of a /v1/status answer into v.  Under o->mu. */
static void view_update_locked(struct site_view *v, json_t *st, uint64_t now)
{
	json_t *repl = json_object_get(st, "replication");
	v->reachable = true;
	v->last_ok_ms = now;
	copy_str(v->role, sizeof(v->role), json_object_get(st, "role"));
	if (json_is_true(json_object_get(st, "standalone")))
		snprintf(v->role, sizeof(v->role), "standalone");
	copy_str(v->version, sizeof(v->version), json_object_get(st, "version"));
	copy_str(v->fcv, sizeof(v->fcv), json_object_get(st, "fcv"));
	v->format = (int)json_integer_value(json_object_get(st, "format"));
	v->last_commit_ms = json_integer_value(json_object_get(st, "last_commit_ms"));
	if (!strcmp(v->role, "primary") && v->last_commit_ms > v->primary_high_commit_ms)
		v->primary_high_commit_ms = v->last_commit_ms;
	v->epoch = json_integer_value(json_object_get(st, "epoch"));
	v->lsn = json_integer_value(json_object_get(st, "lsn"));
	v->flushed_lsn = json_integer_value(json_object_get(st, "flushed_lsn"));
	v->applied_lsn = json_integer_value(json_object_get(st, "applied_lsn"));
	if (!strcmp(v->role, "primary") && v->epoch > v->primary_epoch) {
		v->primary_epoch = v->epoch;
		v->primary_high = v->flushed_lsn;
	} else if (!strcmp(v->role, "primary") && v->epoch == v->primary_epoch &&
		   v->flushed_lsn > v->primary_high) {
		v->primary_high = v->flushed_lsn;
	}
	v->confirmed = json_is_true(json_object_get(st, "confirmed"));
	v->writable = json_is_true(json_object_get(st, "writable"));
	v->writes_paused = !strcmp(json_string_value(json_object_get(st, "writes")) ?: "", "paused");
	copy_str(v->mode, sizeof(v->mode), json_object_get(st, "mode"));
	v->quorum = json_integer_value(json_object_get(st, "quorum"));
	v->lease_ms = json_integer_value(json_object_get(st, "lease_ms"));
	v->lease_max_ms = json_integer_value(json_object_get(st, "lease_max_ms"));
	copy_str(v->repl_state, sizeof(v->repl_state), json_object_get(repl, "state"));
	copy_str(v->repl_primary, sizeof(v->repl_primary), json_object_get(repl, "primary"));
	v->contact_ago_ms = json_integer_value(json_object_get(repl, "last_contact_ms_ago"));
	v->contact_seen_ms = now;
	v->lag_ms = json_integer_value(json_object_get(repl, "lag_ms"));
	v->lag_exact = json_is_true(json_object_get(repl, "lag_exact"));
	v->lag_records = json_integer_value(json_object_get(repl, "lag_records"));
	v->diverged_lsn = json_integer_value(json_object_get(repl, "diverged_lsn"));
	v->primary_writable = json_is_true(json_object_get(repl, "primary_writable"));
	v->wal_failed = json_is_true(json_object_get(json_object_get(st, "wal"), "failed"));
	json_t *behind = json_object_get(st, "behind");
	v->behind_need_lsn = json_integer_value(json_object_get(behind, "need_lsn"));
	v->behind_need_unknown = json_is_false(json_object_get(behind, "need_known"));
	v->behind_epoch = json_integer_value(json_object_get(behind, "epoch"));
	json_t *lr = json_object_get(st, "lease_replicas");
	v->lease_replicas = json_is_integer(lr) ? (int)json_integer_value(lr) : -1;
	json_t *rw = json_object_get(st, "last_rewind");
	const char *q = json_string_value(json_object_get(rw, "quarantine"));
	if (q && strlen(q) < sizeof(v->last_rewind_path) && strcmp(q, v->last_rewind_path)) {
		json_decref(v->last_rewind);
		v->last_rewind = json_incref(rw);
		snprintf(v->last_rewind_path, sizeof(v->last_rewind_path), "%s", q);
	}
	orch_view_nonce_locked(v, json_string_value(json_object_get(st, "lease_nonce")), now);
}

/* The canary verdict: slow or failed counts, a quorum 503 does not (that
 * is a replication problem, not a failing primary). */
static void canary(struct orch *o, struct httpc *c, int idx, const char *url)
{
	char err[300] = "";
	uint64_t ms = 0;
	long timeout = (long)orch_policy(o)->canary_ms;
	long st = siteapi_canary(c, url, timeout, &ms, err, sizeof(err));
	/* A 503 is the site refusing on purpose (role, lease, quorum): not a
	 * grey failure.  No answer, a slow answer or another error is. */
	bool failing = st != 503 && (st != 200 || ms > orch_policy(o)->canary_ms);
	pthread_mutex_lock(&o->mu);
	o->views[idx].canary_failures = failing ? o->views[idx].canary_failures + 1 : 0;
	o->views[idx].canary_ms = st == 200 ? (int64_t)ms : -1;
	int n = o->views[idx].canary_failures;
	pthread_mutex_unlock(&o->mu);
	if (failing)
		log_event(LOG_WARN, "monitor.canary_failed", "{s:s, s:i, s:I, s:s}", "site",
			  o->cfg.sites[idx].name, "failures", n, "ms", (json_int_t)ms, "error", err);
}

/* Sends body (renewal_body's) to site idx as a heartbeat; frees body. */
static void heartbeat(struct orch *o, struct httpc *c, int idx, const char *url, json_t *body,
		      long timeout)
{
	char err[300];
	json_t *answer = NULL;
	long st = siteapi_admin_json(c, url, o->site_token, "heartbeat", body, timeout, &answer,
				     err, sizeof(err));
	json_decref(body);
	orch_note_nonce(o, idx, answer);
	json_decref(answer);
	pthread_mutex_lock(&o->mu);
	if (st == 200)
		o->views[idx].last_hb_ok_ms = time_mono_ms();
	pthread_mutex_unlock(&o->mu);
}

struct monitor_arg {
	struct orch *o;
	int idx;
	int renewer;   /* 0..ORCH_RENEWERS-1: a renewer's turn; -1: the poller */
};

/* Under o->mu: is idx the primary drorchd renews and canaries now?  The
 * site the cluster row names primary, in a state that renews the lease, and
 * already primary at our epoch: a heartbeat of a newer epoch would fence it,
 * and its refusal of a canary by role or lease is not a grey failure. */
static bool renewable_locked(const struct orch *o, int idx)
{
	const struct site_view *v = &o->views[idx];
	return !strcmp(o->cluster.primary, o->cfg.sites[idx].name) &&
	       renews_lease(o->cluster.state) && !strcmp(v->role, "primary") &&
	       v->epoch == o->cluster.epoch;
}

/* The heartbeat body for idx if it should be heartbeaten now, else NULL:
 * renewable, by an instance that may act (with HA, the leader).  The state
 * is read and the nonce taken (nonce_used_rx_ms) under one hold of o->mu:
 * once the driver has left a renewing state, and read the nonce bound for
 * its lease wait, no renewer can take a newer nonce. */
static json_t *renewal_body(struct orch *o, int idx)
{
	if (!orch_may_act(o))
		return NULL;
	pthread_mutex_lock(&o->mu);
	json_t *body = NULL;
	if (renewable_locked(o, idx))
		body = orch_with_nonce_locked(o, idx, json_pack("{s:I}", "epoch",
								(json_int_t)o->cluster.epoch));
	pthread_mutex_unlock(&o->mu);
	return body;
}

static void *renewer_main(void *p)
{
	struct monitor_arg *a = p;
	struct orch *o = a->o;
	int idx = a->idx, k = a->renewer;
	free(a);
	struct httpc *c = orch_site_client(o);
	while (c && !orch_stopping(o)) {
		time_sleep_ms(decide_renew_turn(time_mono_ms(), orch_policy(o)->heartbeat_ms, k,
						ORCH_RENEWERS));
		json_t *body = orch_stopping(o) ? NULL : renewal_body(o, idx);
		if (body)
			heartbeat(o, c, idx, o->cfg.sites[idx].url, body, (long)orch_window_ms(o));
	}
	httpc_free(c);
	return NULL;
}

static void poll_once(struct orch *o, struct httpc *c, int idx, unsigned round)
{
	const struct config_site *cs = &o->cfg.sites[idx];
	long timeout = (long)orch_window_ms(o);
	/* With HA only the leader canaries; every instance polls (a follower's
	 * status shows the sites too). */
	bool acts = orch_may_act(o);
	pthread_mutex_lock(&o->mu);
	bool is_primary = strcmp(o->cluster.primary, cs->name) == 0;
	bool canary_ok = acts && renewable_locked(o, idx) && o->views[idx].writable;
	/* The canary judges the primary only: a count left from an earlier
	 * turn as primary (a grey failure, then a failback) is not a verdict
	 * on its next one. */
	if (!is_primary) {
		o->views[idx].canary_failures = 0;
		o->views[idx].canary_ms = -1;
	}
	pthread_mutex_unlock(&o->mu);
	char err[300];
	uint64_t asked = time_mono_ms();
	json_t *st = siteapi_status(c, cs->url, o->site_token, timeout, err, sizeof(err));
	pthread_mutex_lock(&o->mu);
	if (st) {
		uint64_t now = time_mono_ms();
		o->views[idx].asked_ms = asked;
		decide_rtt_note(&o->views[idx].rtt, now, now - asked);
		view_update_locked(&o->views[idx], st, now);
	}
	else
		o->views[idx].reachable = false;
	o->views[idx].polled = true;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->mu);
	json_decref(st);
	if (st && canary_ok && round % CANARY_EVERY == 0)
		canary(o, c, idx, cs->url);
}

static void *monitor_main(void *p)
{
	struct monitor_arg *a = p;
	struct orch *o = a->o;
	int idx = a->idx;
	free(a);
	struct httpc *c = orch_poll_client(o);
	for (unsigned round = 0; c && !orch_stopping(o); round++) {
		uint64_t t0 = time_mono_ms();
		poll_once(o, c, idx, round);
		uint64_t spent = time_mono_ms() - t0;
		if (spent < orch_policy(o)->heartbeat_ms)
			time_sleep_ms(orch_policy(o)->heartbeat_ms - spent);
	}
	httpc_free(c);
	return NULL;
}

int monitor_start(struct orch *o, char *err, size_t errlen)
{
	for (int i = 0; i < o->cfg.nsites; i++)
		for (int k = -1; k < ORCH_RENEWERS; k++) {
			struct monitor_arg *a = malloc(sizeof(*a));
			if (a)
				*a = (struct monitor_arg){ o, i, k };
			if (!a || pthread_create(&o->monitors[o->nmonitors], NULL,
						 k < 0 ? monitor_main : renewer_main, a) != 0) {
				free(a);
				snprintf(err, errlen, "start monitor for %s: failed",
					 o->cfg.sites[i].name);
				return -1;
			}
			o->nmonitors++;
		}
	return 0;
}
