/*
 * upgrading.c — what drorchd does in the upgrade states (fsm/dr.fsm.yaml:
 * UPGRADING, FINALIZING), following the plan playbooks/upgrade.c decided
 * (kept in the run's context: runctx.h, struct runctx_plan).
 *
 *   swap      UPGRADING: the next site of the plan's order that does not run
 *             `to` yet.  A replica: it is named in the run's detail
 *             (waiting_for_site_upgrade, for whoever installs binaries) and
 *             in the run's context (awaiting); each tick checks it
 *             (orch_upgrade_event_locked) and raises SITE_SWAPPED once it
 *             runs `to` and streams again.  The primary: PRIMARY_TO_SWAP,
 *             with the switchover's target in the context.  None left:
 *             SWAPPED.
 *   finalize  FINALIZING: every site runs at least `to`; each takes it as
 *             its FCV.  FINALIZED, or ACTION_FAILED at the state's deadline.
 *
 * Both are idempotent: after a crash, swap finds the next site from what the
 * sites report, and an FCV a site already has is a confirmation.  Neither
 * blocks the driver while a site is being swapped: health ticks go on, so a
 * primary failing during an upgrade is still detected (U10).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "orch.h"
#include "siteapi.h"
#include "timeutil.h"
#include "version.h"

/* The site the plan's order has next: the first that does not run `to` yet. */
static int next_site_locked(struct orch *o, const struct runctx_plan *plan)
{
	for (int i = 0; i < plan->norder; i++) {
		int k = orch_site_index(o, plan->order[i]);
		if (k >= 0 && strcmp(o->views[k].version, plan->to) != 0)
			return k;
	}
	return -1;
}

/* The switchover's target when the primary's turn comes: the plan's, if it
 * runs `to` and is not the primary, else the first of the order that does. */
static int switch_target_locked(struct orch *o, const struct runctx_plan *plan, int p)
{
	int t = orch_site_index(o, plan->switch_to);
	if (t >= 0 && t != p && !strcmp(o->views[t].version, plan->to))
		return t;
	for (int i = 0; i < plan->norder; i++) {
		int k = orch_site_index(o, plan->order[i]);
		if (k >= 0 && k != p && !strcmp(o->views[k].version, plan->to))
			return k;
	}
	return -1;
}

int orch_act_swap(struct orch *o, struct act_result *r)
{
	const struct runctx_plan *plan = &r->ctx.upgrade;
	char *awaited = r->ctx.awaiting;
	if (!plan->set) {
		orch_result_step(r, "swap", "failed", json_pack("{s:s}", "error",
				 "the run's context holds no upgrade plan"));
		return FSM_E_ACTION_FAILED;
	}
	char next[CONFIG_NAME_MAX] = "", target[CONFIG_NAME_MAX] = "";
	pthread_mutex_lock(&o->mu);
	int p = orch_site_index(o, o->cluster.primary);
	int k = next_site_locked(o, plan);
	int t = k >= 0 && k == p ? switch_target_locked(o, plan, p) : -1;
	if (k >= 0)
		snprintf(next, sizeof(next), "%s", o->cfg.sites[k].name);
	if (t >= 0)
		snprintf(target, sizeof(target), "%s", o->cfg.sites[t].name);
	pthread_mutex_unlock(&o->mu);
	if (awaited[0] && strcmp(awaited, next)) {  /* the site it waited for is done */
		orch_result_step(r, "swapped", "ok", json_pack("{s:s, s:s}", "site", awaited,
							       "version", plan->to));
		awaited[0] = '\0';
	}
	if (k < 0) {
		orch_result_detail(r, "waiting_for_site_upgrade", NULL);
		return FSM_E_SWAPPED;
	}
	if (k == p) {
		orch_result_detail(r, "waiting_for_site_upgrade", NULL);
		if (!target[0]) {
			orch_result_step(r, "swap", "failed", json_pack("{s:s, s:s}", "error",
					 "no replica runs the new version to switch over to",
					 "version", plan->to));
			return FSM_E_ACTION_FAILED;
		}
		snprintf(r->ctx.target, sizeof(r->ctx.target), "%s", target);
		orch_result_step(r, "switch", "ok", json_pack("{s:s, s:s}", "primary", next, "to",
							      target));
		return FSM_E_PRIMARY_TO_SWAP;
	}
	if (strcmp(awaited, next)) {
		snprintf(r->ctx.awaiting, sizeof(r->ctx.awaiting), "%s", next);
		log_event(LOG_INFO, "orch.swap_wait", "{s:s, s:s}", "site", next, "version",
			  plan->to);
	}
	/* Named at every run, not only when the awaited site changes: the
	 * context is kept before the run's detail, and a leader killed in
	 * between left a successor awaiting a site no detail named, so no
	 * installer swapped it (drchaos seed 99601, async, HA). */
	orch_result_detail(r, "waiting_for_site_upgrade",
			   json_pack("{s:s, s:s}", "site", next, "version", plan->to));
	return -1;  /* ticks raise SITE_SWAPPED */
}

int orch_upgrade_event_locked(struct orch *o)
{
	const struct run_ctx *c = &o->cluster.ctx;
	int i = orch_site_index(o, c->awaiting);
	bool ready = i >= 0 && c->upgrade.set && !strcmp(o->views[i].version, c->upgrade.to) &&
		     orch_streams_locked(o, i);
	return ready ? FSM_E_SITE_SWAPPED : -1;
}

/* Why the sites cannot take fcv `to` now (one of them runs an older
 * binary), or NULL.  Under o->mu. */
static const char *not_ready_locked(struct orch *o, const char *to, char *why, size_t len)
{
	for (int i = 0; i < o->cfg.nsites; i++)
		if (version_cmp_text(o->views[i].version, to) < 0) {
			snprintf(why, len, "%s runs %s, older than %s", o->cfg.sites[i].name,
				 o->views[i].version[0] ? o->views[i].version : "?", to);
			return why;
		}
	return NULL;
}

const char *orch_finalize_round(struct orch *o, struct httpc *h, const char *to, json_t *report,
				char *why, size_t len)
{
	pthread_mutex_lock(&o->mu);
	const char *no = not_ready_locked(o, to, why, len);
	int64_t epoch = o->cluster.epoch;
	pthread_mutex_unlock(&o->mu);
	json_t *body = no ? NULL : json_pack("{s:I, s:s}", "epoch", (json_int_t)epoch, "fcv", to);
	if (!no && !body)
		no = "out of memory";
	for (int i = 0; body && i < o->cfg.nsites && !no; i++) {
		long rc = siteapi_admin(h, o->cfg.sites[i].url, o->site_token, "fcv", body, 5000, why,
					len);
		json_object_set_new(report, o->cfg.sites[i].name, json_string(rc == 200 ? "ok" : why));
		if (rc != 200) {
			no = why[0] ? why : "the site refused the fcv";
		} else {  /* it took it (it never goes down): known before the next poll, so
			   * a rollback asked right after the finalize is refused */
			pthread_mutex_lock(&o->mu);
			snprintf(o->views[i].fcv, sizeof(o->views[i].fcv), "%s", to);
			pthread_mutex_unlock(&o->mu);
		}
	}
	json_decref(body);
	return no;
}

int orch_act_finalize(struct orch *o, struct act_result *r)
{
	const char *to = r->ctx.upgrade.to;
	uint64_t deadline = orch_state_deadline(o);
	struct httpc *h = orch_site_client(o);
	json_t *report = json_object();
	char why[300] = "";
	bool ok = false;
	while (h && to[0] && !ok && !orch_stopping(o)) {
		ok = !orch_finalize_round(o, h, to, report, why, sizeof(why));
		if (ok || time_mono_ms() >= deadline)
			break;
		time_sleep_ms(200);
	}
	httpc_free(h);
	if (!ok)
		json_object_set_new(report, "error", json_string(why[0] ? why :
				    "not every site took the fcv in time"));
	json_object_set_new(report, "fcv", json_string(to));
	orch_result_step(r, "finalize", ok ? "ok" : "failed", report);
	return ok ? FSM_E_FINALIZED : FSM_E_ACTION_FAILED;
}
