/*
 * pbrun.c — drorchd's playbook runner (see pbrun.h).
 *
 * One thread per playbook run.  A step's outcome is recorded as a step of
 * the run when the step ends: "ok", or "failed" with the reason (then the
 * run ends failed).  Waiting steps poll drorchd's own view of the cluster
 * (orch_status_json) every POLL_MS and give up at their timeout; an
 * approval gate waits on a condition variable, and the run's detail says
 * what it waits for, so `drctl run` and GET /v1/runs/{id} can show it.
 * wan steps need the config's `drlink` (drlink's admin URL; links are named
 * FROM.TO, as `drctl lab` names them); fault steps need sites started with
 * --enable-faults.
 *
 * With HA (ha.h) only the leader runs playbooks: a run is taken up by each
 * new term of a leader (the terms thread), as a restarted drorchd takes it
 * up, and a deposed leader's run thread stops at once (its writes would be
 * refused): the next leader resumes the run at the step in flight.
 */
#include "pbrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha.h"
#include "httpc.h"
#include "log.h"
#include "siteapi.h"
#include "timeutil.h"
#include "version.h"
#include "wload.h"

#define POLL_MS 50
#define MAX_CUTS 32

struct pbrun {
	struct orch *o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stopping, joinable;
	pthread_t terms;            /* HA: takes runs up at each term */
	bool terms_started;
	bool ending;                /* the run's outcome is being recorded */
	pthread_t thread;
	struct playbook pb;
	int64_t run_id;
	char actor[96];             /* playbook:RUN: the actor of its recoveries */
	int64_t last_subrun;        /* the newest recovery it asked for */
	json_t *base;               /* the run's detail when it began */
	bool at_gate, approved;
	char approver[96], comment[256];
	/* Owned by the run's thread: */
	struct wload *load;         /* a write load running, or NULL */
	json_t *load_figures;       /* the last stopped load's figures, or NULL */
	int ncuts;                  /* the drlink directions partitioned, to heal */
	struct { char link[80]; char dir[12]; } cuts[MAX_CUTS];
	/* Where the thread begins (0 and nsteps for a new run; a resumed run's
	 * place otherwise) and, resumed after a failed step, which and why. */
	int next, rollback_next;
	char failed[PB_NAME_MAX], failed_why[600];
	int64_t resume_subrun;      /* a recovery it asked for before the crash, or 0 */
};

/* ---- small helpers ----------------------------------------------------------- */

/* drorchd stops, or (HA) this instance no longer leads. */
static bool stopping(struct pbrun *p)
{
	pthread_mutex_lock(&p->mu);
	bool s = p->stopping;
	pthread_mutex_unlock(&p->mu);
	return s || !orch_may_act(p->o);
}

/* Sleeps ms in slices; false when the runner is stopping. */
static bool nap(struct pbrun *p, int64_t ms)
{
	uint64_t end = time_mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
	while (!stopping(p)) {
		uint64_t now = time_mono_ms();
		if (now >= end)
			return true;
		time_sleep_ms(end - now < POLL_MS ? end - now : POLL_MS);
	}
	return false;
}

static void record(struct pbrun *p, const struct pb_step *s, const char *status, json_t *result)
{
	json_t *d = pb_step_json(s);
	char err[300], *text = NULL;
	if (d && result)
		json_object_set(d, "result", result);
	text = d ? json_dumps(d, JSON_COMPACT) : NULL;
	if (store_run_step(p->o->store, p->run_id, s->name, status, text, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "pbrun.step_failed_to_record", "{s:s}", "error", err);
	log_event(strcmp(status, "failed") ? LOG_INFO : LOG_WARN, "pbrun.step",
		  "{s:I, s:s, s:s, s:O?}", "run", (json_int_t)p->run_id, "step", s->name,
		  "status", status, "result", result);
	free(text);
	json_decref(d);
}

/* The run's detail: what it began with, plus extra (taken over), if any. */
static void set_detail(struct pbrun *p, json_t *extra)
{
	json_t *d = json_deep_copy(p->base);
	if (d && extra)
		json_object_update(d, extra);
	char err[300], *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
	if (text && store_run_update_detail(p->o->store, p->run_id, text, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "pbrun.detail_failed", "{s:s}", "error", err);
	free(text);
	json_decref(d);
	json_decref(extra);
}

/* ---- conditions on the cluster ------------------------------------------------- */

/* Why the cluster does not meet s's state/primary/replicas conditions now,
 * or NULL (why[] filled). */
static const char *unmet(struct pbrun *p, const struct pb_step *s, char *why, size_t len)
{
	json_t *st = orch_status_json(p->o);
	const char *state = json_string_value(json_object_get(st, "state"));
	const char *primary = json_string_value(json_object_get(st, "primary"));
	const char *no = NULL;
	if (s->state[0] && strcmp(state, s->state))
		snprintf(why, len, "state is %s, not %s", state, s->state), no = why;
	else if (s->primary[0] && strcmp(primary, s->primary))
		snprintf(why, len, "primary is %s, not %s", primary, s->primary), no = why;
	else if (s->not_primary[0] && !strcmp(primary, s->not_primary))
		snprintf(why, len, "primary is still %s", primary), no = why;
	size_t i;
	json_t *site;
	json_array_foreach(json_object_get(st, "sites"), i, site) {
		const char *name = json_string_value(json_object_get(site, "name"));
		const char *repl = json_string_value(json_object_get(site, "replication")) ?: "";
		bool streams = !strcmp(repl, "streaming");
		if (!no && s->replicas_streaming >= 0 && strcmp(name, primary) &&
		    streams != (s->replicas_streaming == 1))
			snprintf(why, len, "replica %s is %s", name, repl[0] ? repl : "not streaming"),
				no = why;
	}
	json_decref(st);
	return no;
}

/* ---- the steps ------------------------------------------------------------------ */

typedef const char *(*step_fn)(struct pbrun *p, const struct pb_step *s, json_t *result,
			       char *why, size_t len);

static const char *do_check(struct pbrun *p, const struct pb_step *s, json_t *result, char *why,
			    size_t len)
{
	(void)result;
	return unmet(p, s, why, len);
}

static const char *do_wait(struct pbrun *p, const struct pb_step *s, json_t *result, char *why,
			   size_t len)
{
	uint64_t t0 = time_mono_ms(), end = t0 + (uint64_t)s->timeout_ms;
	const char *no;
	while ((no = unmet(p, s, why, len)) && time_mono_ms() < end && nap(p, POLL_MS))
		;
	json_object_set_new(result, "waited_ms", json_integer((json_int_t)(time_mono_ms() - t0)));
	if (no) {
		size_t n = strlen(why);
		snprintf(why + n, len - n, " after %lld ms", (long long)s->timeout_ms);
	}
	return no;
}

static const char *do_approve(struct pbrun *p, const struct pb_step *s, json_t *result,
			      char *why, size_t len)
{
	/* At the gate before the run shows it: an operator who sees the gate
	 * and approves at once must find it (CI of 316df52 got a 409). */
	pthread_mutex_lock(&p->mu);
	p->at_gate = true;
	p->approved = false;
	pthread_mutex_unlock(&p->mu);
	set_detail(p, json_pack("{s:{s:s, s:s}}", "waiting_for_approval", "step", s->name,
				"message", s->message));
	log_event(LOG_WARN, "pbrun.waiting_for_approval", "{s:I, s:s, s:s}", "run",
		  (json_int_t)p->run_id, "step", s->name, "message", s->message);
	struct timespec ts;
	time_deadline(&ts, (uint64_t)s->timeout_ms);
	pthread_mutex_lock(&p->mu);
	int rc = 0;
	while (!p->approved && !p->stopping && rc == 0)
		rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	bool ok = p->approved;
	p->at_gate = false;
	if (ok)
		json_object_set_new(result, "approved_by", json_pack("{s:s, s:s}", "actor",
			p->approver, "comment", p->comment));
	pthread_mutex_unlock(&p->mu);
	set_detail(p, NULL);
	if (!ok)
		snprintf(why, len, "not approved within %lld s", (long long)s->timeout_ms / 1000);
	return ok ? NULL : why;
}

/* The newest run that is not a playbook's, after `after`, or NULL (new ref);
 * with `own`, only one the playbook asked for (its actor). */
static json_t *subrun_after(struct pbrun *p, int64_t after, bool own)
{
	json_t *runs = store_runs_json(p->o->store, 20), *r, *found = NULL;
	size_t i;
	json_array_foreach(runs, i, r)
		if (json_integer_value(json_object_get(r, "id")) > after &&
		    strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "playbook") &&
		    (!own || !strcmp(json_string_value(json_object_get(r, "actor")) ?: "",
				     p->actor))) {
			found = json_incref(r);
			break;
		}
	json_decref(runs);
	return found;
}

static int64_t newest_run_id(struct pbrun *p)
{
	json_t *runs = store_runs_json(p->o->store, 1);
	int64_t id = json_integer_value(json_object_get(json_array_get(runs, 0), "id"));
	json_decref(runs);
	return id;
}

/* Waits for the recovery begun after `before` to end; NULL when it succeeded. */
static const char *await_subrun(struct pbrun *p, const struct pb_step *s, int64_t before,
				json_t *result, char *why, size_t len)
{
	uint64_t end = time_mono_ms() + (uint64_t)s->timeout_ms;
	json_t *r = NULL;
	const char *outcome = "";
	while (time_mono_ms() < end && nap(p, POLL_MS)) {
		json_decref(r);
		r = subrun_after(p, before, true);
		outcome = json_string_value(json_object_get(r, "outcome")) ?: "";
		if (r && strcmp(outcome, "running"))
			break;
	}
	const char *no = NULL;
	if (!r)
		snprintf(why, len, "no run began within %lld s", (long long)s->timeout_ms / 1000), no = why;
	else if (strcmp(outcome, "succeeded"))
		snprintf(why, len, "run %lld %s", (long long)json_integer_value(json_object_get(r, "id")),
			 outcome[0] && strcmp(outcome, "running") ? outcome : "did not end in time"),
			no = why;
	if (r) {
		p->last_subrun = json_integer_value(json_object_get(r, "id"));
		json_object_set_new(result, "run", json_integer(p->last_subrun));
		json_object_set(result, "outcome", json_object_get(r, "outcome"));
	}
	json_decref(r);
	return no;
}

static const char *do_recovery(struct pbrun *p, const struct pb_step *s, json_t *result,
			       char *why, size_t len)
{
	if (p->resume_subrun) {  /* asked for before drorchd's crash: not twice */
		int64_t asked = p->resume_subrun;
		p->resume_subrun = 0;
		json_object_set_new(result, "resumed", json_true());
		return await_subrun(p, s, asked - 1, result, why, len);
	}
	int64_t before = newest_run_id(p);
	int rc;
	if (s->kind == PB_FAILOVER)
		rc = orch_request(p->o, FSM_E_OP_FAILOVER, p->actor, s->to[0] ? s->to : NULL, s->force,
				  why, len);
	else
		rc = orch_switchover(p->o, p->actor, s->kind == PB_SWITCHOVER ? s->to : NULL, why, len);
	if (rc != 0) {
		size_t n = strlen(why);
		snprintf(why + n, len - n, " (HTTP %d)", rc);
		return why;
	}
	return await_subrun(p, s, before, result, why, len);
}

/* The bounds of an assert on the last write load's figures. */
static const char *assert_load(struct pbrun *p, const struct pb_step *s, json_t *result,
			       char *why, size_t len)
{
	json_t *f = p->load_figures;
	json_int_t lost = json_integer_value(json_object_get(f, "lost"));
	json_int_t gap = json_integer_value(json_object_get(f, "longest_gap_ms"));
	double avail = json_number_value(json_object_get(f, "availability"));
	json_object_set_new(result, "write_load", json_pack("{s:I, s:f, s:I}", "lost", lost,
							    "availability", avail,
							    "longest_gap_ms", gap));
	if (!json_is_true(json_object_get(f, "checked")))
		snprintf(why, len, "the write load was not checked: %s",
			 json_string_value(json_object_get(f, "check_error")) ?: "?");
	else if (s->lost_max >= 0 && lost > s->lost_max)
		snprintf(why, len, "write load: lost %lld > %lld", (long long)lost,
			 (long long)s->lost_max);
	else if (s->availability_min >= 0 && avail < s->availability_min)
		snprintf(why, len, "write load: availability %.4f < %.4f", avail, s->availability_min);
	else if (s->longest_gap_ms_max >= 0 && gap > s->longest_gap_ms_max)
		snprintf(why, len, "write load: longest gap %lld ms > %lld", (long long)gap,
			 (long long)s->longest_gap_ms_max);
	else
		return NULL;
	return why;
}

static const char *do_assert(struct pbrun *p, const struct pb_step *s, json_t *result, char *why,
			     size_t len)
{
	if (pb_asserts_load(s) && assert_load(p, s, result, why, len))
		return why;
	if (!pb_asserts_recovery(s))
		return NULL;
	/* The recovery it asked for last, else the newest one since it began
	 * (an automatic failover the drill caused). */
	json_t *r = p->last_subrun ? store_run_json(p->o->store, p->last_subrun) :
		    subrun_after(p, p->run_id, false);
	if (r && !p->last_subrun) {
		int64_t id = json_integer_value(json_object_get(r, "id"));
		json_decref(r);
		r = store_run_json(p->o->store, id);
		p->last_subrun = id;
	}
	static const char *const fields[] = { "rpo_records", "rpo_ms", "rto_ms" };
	const int64_t bounds[] = { s->rpo_records_max, s->rpo_ms_max, s->rto_ms_max };
	const char *no = NULL;
	if (!r)
		snprintf(why, len, "no recovery ran since the playbook began"), no = why;
	for (int i = 0; r && !no && i < 3; i++) {
		json_t *v = json_object_get(r, fields[i]);
		json_object_set(result, fields[i], v ? v : json_null());
		if (bounds[i] < 0)
			continue;
		if (!json_is_integer(v))
			snprintf(why, len, "run %lld: %s was not measured", (long long)p->last_subrun,
				 fields[i]), no = why;
		else if (json_integer_value(v) > bounds[i])
			snprintf(why, len, "run %lld: %s %lld > %lld", (long long)p->last_subrun,
				 fields[i], (long long)json_integer_value(v), (long long)bounds[i]),
				no = why;
	}
	json_decref(r);
	return no;
}

/* PUT drlink's link `link` conditions; the HTTP status (0: no answer), why
 * filled unless 200. */
static long put_conditions(struct pbrun *p, struct httpc *c, const char *link, const char *body,
			   char *why, size_t len)
{
	char url[CONFIG_URL_MAX + 160];
	struct httpc_resp r;
	snprintf(url, sizeof(url), "%s/v1/links/%s/conditions", p->o->cfg.drlink, link);
	if (httpc_request(c, "PUT", url, NULL, body, strlen(body), 5000, &r, why, len) != 0)
		return 0;
	long st = r.status;
	if (st != 200)
		snprintf(why, len, "drlink %s: HTTP %ld: %.200s", link, st, r.body);
	httpc_resp_free(&r);
	return st;
}

/* The link FROM.TO's conditions (put_conditions). */
static long put_link(struct pbrun *p, struct httpc *c, const char *from, const char *to,
		     const char *body, char *why, size_t len)
{
	char link[2 * PB_SITE_MAX + 2];
	snprintf(link, sizeof(link), "%s.%s", from, to);
	return put_conditions(p, c, link, body, why, len);
}

static json_t *wan_body(const struct pb_step *s)
{
	json_t *b = json_object();
	if (s->latency_ms >= 0)
		json_object_set_new(b, "latency_ms", json_integer(s->latency_ms));
	if (s->jitter_ms >= 0)
		json_object_set_new(b, "jitter_ms", json_integer(s->jitter_ms));
	if (s->bandwidth_kbps >= 0)
		json_object_set_new(b, "bandwidth_kbps", json_integer(s->bandwidth_kbps));
	if (s->loss_pct >= 0)
		json_object_set_new(b, "loss_pct", json_real(s->loss_pct));
	if (s->partition[0])
		json_object_set_new(b, "partition", json_string(s->partition));
	return b;
}

/* Both directed links between a and b, where they exist (drorchd's links
 * go one way: drorchd.SITE). */
static const char *do_wan(struct pbrun *p, const struct pb_step *s, json_t *result, char *why,
			  size_t len)
{
	if (!p->o->cfg.drlink[0]) {
		snprintf(why, len, "wan: drorchd's config names no drlink");
		return why;
	}
	json_t *b = wan_body(s);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	struct httpc *c = orch_site_client(p->o);
	long ab = body && c ? put_link(p, c, s->a, s->b, body, why, len) : 0;
	char why2[300] = "";
	long ba = body && c ? put_link(p, c, s->b, s->a, body, why2, sizeof(why2)) : 0;
	httpc_free(c);
	free(body);
	json_object_set_new(result, "links_set", json_integer((ab == 200) + (ba == 200)));
	bool ok = (ab == 200 || ab == 404) && (ba == 200 || ba == 404) && (ab == 200 || ba == 200);
	if (!ok && ab == 200)
		snprintf(why, len, "%s", why2);
	if (!ok && !why[0])
		snprintf(why, len, "wan: no link between %s and %s", s->a, s->b);
	return ok ? NULL : why;
}

static const char *do_fault(struct pbrun *p, const struct pb_step *s, json_t *result, char *why,
			    size_t len)
{
	int i = orch_site_index(p->o, s->site);
	json_t *b = s->clear ? json_pack("{s:b}", "clear", 1) : json_object(), *answer = NULL;
	if (!s->clear && s->slow_fsync_ms >= 0)
		json_object_set_new(b, "slow_fsync_ms", json_integer(s->slow_fsync_ms));
	if (!s->clear && s->stall_writes >= 0)
		json_object_set_new(b, "stall_writes", json_boolean(s->stall_writes));
	if (!s->clear && s->drop_replication >= 0)
		json_object_set_new(b, "drop_replication", json_boolean(s->drop_replication));
	struct httpc *c = orch_site_client(p->o);
	long st = c && i >= 0 ? siteapi_admin_json(c, p->o->cfg.sites[i].url, p->o->site_token,
						   "faults", b, 5000, &answer, why, len) : 0;
	httpc_free(c);
	json_decref(b);
	if (answer)
		json_object_set_new(result, "faults", answer);
	if (st != 200 && !why[0])
		snprintf(why, len, "fault: %s did not answer", s->site);
	return st == 200 ? NULL : why;
}

static const char *do_sleep(struct pbrun *p, const struct pb_step *s, json_t *result, char *why,
			    size_t len)
{
	(void)result;
	if (nap(p, s->sleep_ms))
		return NULL;
	snprintf(why, len, "drorchd is stopping");
	return why;
}

static const char *do_pause_resume(struct pbrun *p, const struct pb_step *s, json_t *result,
				   char *why, size_t len)
{
	(void)result;
	enum fsm_event ev = s->kind == PB_PAUSE ? FSM_E_OP_PAUSE : FSM_E_OP_RESUME;
	const struct fsm_row *row = fsm_step(orch_state(p->o), ev, NULL, NULL);
	int rc = orch_request(p->o, ev, p->actor, NULL, false, why, len);
	if (rc != 0)
		return why;
	struct pb_step w = *s;  /* then wait for the state the spec says it leads to */
	snprintf(w.state, sizeof(w.state), "%s", fsm_state_names[row ? row->to : FSM_STEADY]);
	w.timeout_ms = 10000;
	w.replicas_streaming = -1;
	return do_wait(p, &w, result, why, len);
}

/* Site `name`'s entry in status st, or NULL. */
static json_t *site_in(json_t *st, const char *name)
{
	size_t i;
	json_t *site;
	json_array_foreach(json_object_get(st, "sites"), i, site)
		if (!strcmp(json_string_value(json_object_get(site, "name")) ?: "", name))
			return site;
	return NULL;
}

/* Why site s->site is not yet running version s->version as a streaming
 * replica of the cluster's epoch, or NULL. */
static const char *not_upgraded(struct pbrun *p, const struct pb_step *s, char *why, size_t len)
{
	json_t *st = orch_status_json(p->o);
	json_t *site = site_in(st, s->site);
	const char *version = json_string_value(json_object_get(site, "version")) ?: "";
	const char *role = json_string_value(json_object_get(site, "role")) ?: "";
	const char *repl = json_string_value(json_object_get(site, "replication")) ?: "";
	const char *no = NULL;
	if (strcmp(version, s->version))
		snprintf(why, len, "%s runs %s, not %s", s->site, version[0] ? version : "?",
			 s->version), no = why;
	else if (strcmp(role, "replica") || strcmp(repl, "streaming") ||
		 json_integer_value(json_object_get(site, "epoch")) !=
		 json_integer_value(json_object_get(st, "epoch")))
		snprintf(why, len, "%s runs %s but is %s (%s), not a streaming replica", s->site,
			 version, role, repl[0] ? repl : "-"), no = why;
	json_decref(st);
	return no;
}

/*
 * upgrade_site: a rolling upgrade's binary swap is done outside drorchd
 * (by whoever installs binaries: `drctl upgrade` does it in a lab).  The
 * run's detail asks for it; the step waits until the site answers with the
 * new version and streams again.  Never the primary: a switchover first.
 */
static const char *do_upgrade_site(struct pbrun *p, const struct pb_step *s, json_t *result,
				   char *why, size_t len)
{
	json_t *st = orch_status_json(p->o);
	bool primary = !strcmp(json_string_value(json_object_get(st, "primary")) ?: "", s->site);
	json_decref(st);
	if (primary) {
		snprintf(why, len, "%s is the primary: switch over before upgrading it", s->site);
		return why;
	}
	uint64_t t0 = time_mono_ms(), end = t0 + (uint64_t)s->timeout_ms;
	const char *no = not_upgraded(p, s, why, len);
	if (no)
		set_detail(p, json_pack("{s:{s:s, s:s}}", "waiting_for_site_upgrade", "site", s->site,
					"version", s->version));
	while (no && time_mono_ms() < end && nap(p, POLL_MS))
		no = not_upgraded(p, s, why, len);
	set_detail(p, NULL);
	json_object_set_new(result, "waited_ms", json_integer((json_int_t)(time_mono_ms() - t0)));
	return no;
}

/* finalize: every site runs at least the version; then each takes it as
 * its FCV (POST /v1/admin/fcv), after which an older binary cannot return. */
static const char *do_finalize(struct pbrun *p, const struct pb_step *s, json_t *result,
			       char *why, size_t len)
{
	struct httpc *h = orch_site_client(p->o);
	const char *no = h ? orch_finalize_round(p->o, h, s->version, result, why, len)
			   : "out of memory";
	httpc_free(h);
	return no;
}

/* ---- write load ------------------------------------------------------------------- */

/* The cluster's primary as drorchd reaches it (wload_primary_fn). */
static bool primary_url(void *ctx, char *url, size_t len)
{
	struct orch *o = ctx;
	pthread_mutex_lock(&o->mu);
	int i = orch_site_index(o, o->cluster.primary);
	if (i >= 0)
		snprintf(url, len, "%s", o->cfg.sites[i].url);
	pthread_mutex_unlock(&o->mu);
	return i >= 0;
}

/* Stops the running load, checks it (reads for up to timeout_ms; < 0:
 * none) and keeps its figures, in the run's detail too.  The figures. */
static json_t *stop_load(struct pbrun *p, long timeout_ms)
{
	json_t *f = wload_stop(p->load, timeout_ms);
	p->load = NULL;
	json_decref(p->load_figures);
	p->load_figures = f;
	if (f && p->base)  /* in the base: a resumed run's asserts read it */
		json_object_set(p->base, "write_load", f);
	set_detail(p, NULL);
	log_event(LOG_INFO, "pbrun.write_load", "{s:I, s:O?}", "run", (json_int_t)p->run_id,
		  "figures", f);
	return f;
}

static const char *do_write_load(struct pbrun *p, const struct pb_step *s, json_t *result,
				 char *why, size_t len)
{
	if (s->stop) {
		json_t *f = stop_load(p, (long)s->timeout_ms);
		if (f)
			json_object_set(result, "figures", f);
		if (!f || !json_is_true(json_object_get(f, "checked")))
			snprintf(why, len, "write_load: cannot check what was acknowledged: %s",
				 f ? json_string_value(json_object_get(f, "check_error")) : "out of memory");
		return f && json_is_true(json_object_get(f, "checked")) ? NULL : why;
	}
	struct wload_opts o = { .writers = (int)s->writers, .rate = (int)s->rate,
				.gap_ms = s->gap_ms };
	snprintf(o.prefix, sizeof(o.prefix), "pb%lld-l%d", (long long)p->run_id, s->line);
	json_object_set_new(result, "key_prefix", json_string(o.prefix));
	return wload_start(&p->load, &o, primary_url, p->o, why, len) ? why : NULL;
}

/* ---- partitions --------------------------------------------------------------------- */

/* PUT {"partition": what, "direction": dir} on link; NULL or why. */
static const char *cut(struct pbrun *p, struct httpc *c, const char *link, const char *dir,
		       const char *what, char *why, size_t len)
{
	char body[96];
	snprintf(body, sizeof(body), "{\"partition\":\"%s\",\"direction\":\"%s\"}", what, dir);
	bool ok = put_conditions(p, c, link, body, why, len) == 200;
	if (ok && strcmp(what, "none") && p->ncuts < MAX_CUTS) {
		snprintf(p->cuts[p->ncuts].link, sizeof(p->cuts[0].link), "%s", link);
		snprintf(p->cuts[p->ncuts].dir, sizeof(p->cuts[0].dir), "%s", dir);
		p->ncuts++;
	}
	return ok ? NULL : why;
}

/* The partitions to heal, kept in the run's detail ("cuts") so that a
 * drorchd restarted in the middle of the drill still heals them. */
static void save_cuts(struct pbrun *p)
{
	json_t *a = json_array();
	for (int i = 0; a && i < p->ncuts; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "link", p->cuts[i].link,
						   "direction", p->cuts[i].dir));
	if (a && p->base)
		json_object_set_new(p->base, "cuts", a);
	else
		json_decref(a);
	set_detail(p, NULL);
}

/* Whether link FROM.TO is one the step cuts, and in which direction. */
static const char *cut_direction(const struct pb_step *s, const char *link)
{
	char from[64], to[64];
	const char *dot = strchr(link, '.');
	if (!dot || (size_t)(dot - link) >= sizeof(from))
		return NULL;
	snprintf(from, sizeof(from), "%.*s", (int)(dot - link), link);
	snprintf(to, sizeof(to), "%s", dot + 1);
	if (s->site[0])
		return !strcmp(from, s->site) || !strcmp(to, s->site) ? "both" : NULL;
	bool ab = !strcmp(from, s->a) && !strcmp(to, s->b);
	bool ba = !strcmp(from, s->b) && !strcmp(to, s->a);
	if (!s->one_way)
		return ab || ba ? "both" : NULL;
	/* a's bytes to b: its requests on a.b, its replies on b.a */
	return ab ? "upstream" : ba ? "downstream" : NULL;
}

static const char *heal(struct pbrun *p, struct httpc *c, json_t *result, char *why, size_t len)
{
	const char *no = NULL;
	int n = p->ncuts;
	p->ncuts = 0;
	for (int i = 0; i < n; i++)
		if (cut(p, c, p->cuts[i].link, p->cuts[i].dir, "none", why, len))
			no = why;
	json_object_set_new(result, "healed", json_integer(n));
	save_cuts(p);
	return no;
}

static const char *do_partition(struct pbrun *p, const struct pb_step *s, json_t *result,
				char *why, size_t len)
{
	if (!p->o->cfg.drlink[0]) {
		snprintf(why, len, "partition: drorchd's config names no drlink");
		return why;
	}
	struct httpc *c = orch_site_client(p->o);
	struct httpc_resp r = { 0 };
	char url[CONFIG_URL_MAX + 32];
	snprintf(url, sizeof(url), "%s/v1/links", p->o->cfg.drlink);
	const char *no = !c ? "out of memory" : s->heal ? heal(p, c, result, why, len) :
			 httpc_request(c, "GET", url, NULL, NULL, 0, 5000, &r, why, len) ? why : NULL;
	json_t *links = !no && !s->heal ? json_loads(r.body ? r.body : "", 0, NULL) : NULL, *l;
	json_t *cuts = json_array();
	size_t i;
	json_array_foreach(json_object_get(links, "links"), i, l) {
		const char *name = json_string_value(json_object_get(l, "name")) ?: "";
		const char *dir = cut_direction(s, name);
		if (dir && !no && !(no = cut(p, c, name, dir, "blackhole", why, len)))
			json_array_append_new(cuts, json_pack("{s:s, s:s}", "link", name, "direction", dir));
	}
	if (!s->heal && !no && !json_array_size(cuts))
		snprintf(why, len, "partition: drlink has no link it names"), no = why;
	if (!s->heal)
		save_cuts(p);
	json_object_set_new(result, "cut", cuts);
	json_decref(links);
	httpc_resp_free(&r);
	httpc_free(c);
	return no;
}

static step_fn step_fn_of(enum pb_kind k)
{
	switch (k) {
	case PB_CHECK: return do_check;
	case PB_WAIT: return do_wait;
	case PB_APPROVE: return do_approve;
	case PB_FAILOVER:
	case PB_SWITCHOVER:
	case PB_FAILBACK: return do_recovery;
	case PB_ASSERT: return do_assert;
	case PB_WAN: return do_wan;
	case PB_FAULT: return do_fault;
	case PB_SLEEP: return do_sleep;
	case PB_PAUSE:
	case PB_RESUME: return do_pause_resume;
	case PB_UPGRADE_SITE: return do_upgrade_site;
	case PB_FINALIZE: return do_finalize;
	case PB_WRITE_LOAD: return do_write_load;
	case PB_PARTITION: return do_partition;
	}
	return NULL;
}

/* ---- a run ------------------------------------------------------------------------ */

static void end_run(struct pbrun *p, const char *outcome, json_t *detail)
{
	char err[300], *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	/* The figures of the recovery it asked for last, else of the newest
	 * one since it began (an automatic failover the drill caused). */
	json_t *last = p->last_subrun ? store_run_json(p->o->store, p->last_subrun) :
		       subrun_after(p, p->run_id, false);
	int64_t rpo_r = json_is_integer(json_object_get(last, "rpo_records")) ?
			json_integer_value(json_object_get(last, "rpo_records")) : -1;
	int64_t rpo_ms = json_is_integer(json_object_get(last, "rpo_ms")) ?
			 json_integer_value(json_object_get(last, "rpo_ms")) : -1;
	int64_t rto = json_is_integer(json_object_get(last, "rto_ms")) ?
		      json_integer_value(json_object_get(last, "rto_ms")) : -1;
	if (store_run_end(p->o->store, p->run_id, outcome, NULL, rpo_r, rpo_ms, rto, NULL, text,
			  err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "pbrun.end_failed", "{s:s}", "error", err);
	log_event(LOG_INFO, "pbrun.ended", "{s:I, s:s, s:s}", "run", (json_int_t)p->run_id,
		  "playbook", p->pb.name, "outcome", outcome);
	json_decref(last);
	free(text);
}

/* What the run's thread kept of its run, dropped when the run ends (or
 * could not be resumed), so that the next run starts clean. */
static void forget_run(struct pbrun *p)
{
	json_decref(p->load_figures);
	p->load_figures = NULL;
	p->ncuts = 0;
	p->failed[0] = '\0';
	p->resume_subrun = 0;
}

/* Runs steps[from..to) until one fails; its name (why[] filled), or NULL. */
static const char *run_steps(struct pbrun *p, int from, int to, char *why, size_t len)
{
	const char *failed_step = NULL;
	for (int i = from; i < to && !failed_step; i++) {
		const struct pb_step *s = &p->pb.steps[i];
		json_t *result = json_object();
		why[0] = '\0';
		const char *no = stopping(p) ? "drorchd is stopping" :
				 step_fn_of(s->kind)(p, s, result, why, len);
		if (no) {
			if (no != why)
				snprintf(why, len, "%s", no);
			json_object_set_new(result, "error", json_string(why));
			failed_step = s->name;
		}
		record(p, s, no ? "failed" : "ok", result);
		json_decref(result);
	}
	return failed_step;
}

/*
 * After the steps: a step failed, the rollback steps (on_failure) run, each
 * recorded like any step; a write load still running is stopped and checked
 * (its figures in the run's detail).  Adds what happened to detail d.
 */
static void wind_up(struct pbrun *p, const char *failed_step, const char *why, json_t *d)
{
	char rwhy[600] = "";
	if (failed_step && p->pb.nrollback) {
		const char *rfailed = run_steps(p, p->rollback_next, p->pb.nsteps + p->pb.nrollback,
						rwhy, sizeof(rwhy));
		json_object_set_new(d, "rollback", rfailed ?
			json_pack("{s:s, s:s, s:s}", "outcome", "failed", "step", rfailed, "error", rwhy) :
			json_pack("{s:s}", "outcome", "succeeded"));
	}
	if (p->load) {
		json_t *f = stop_load(p, stopping(p) ? -1 : 30000);
		if (f)
			json_object_set(d, "write_load", f);
	} else if (p->load_figures) {
		json_object_set(d, "write_load", p->load_figures);
	}
	if (failed_step)
		json_object_set_new(d, "failed_step", json_pack("{s:s, s:s}", "step", failed_step,
								 "error", why));
}

static void *run_main(void *arg)
{
	struct pbrun *p = arg;
	char why[600] = "";
	const char *failed_step = p->failed[0] ? p->failed : NULL;
	if (failed_step)  /* resumed after its failed step: the rollback goes on */
		snprintf(why, sizeof(why), "%s", p->failed_why);
	else
		failed_step = run_steps(p, p->next, p->pb.nsteps, why, sizeof(why));
	pthread_mutex_lock(&p->mu);
	p->ending = true;  /* from now on it is not "in progress" for operators */
	pthread_mutex_unlock(&p->mu);
	json_t *d = json_deep_copy(p->base);
	if (d)
		wind_up(p, failed_step, why, d);
	end_run(p, failed_step ? "failed" : "succeeded", d);
	json_decref(d);
	forget_run(p);
	pthread_mutex_lock(&p->mu);
	p->running = false;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* What a step would do, for a dry run; checks are evaluated now. */
static json_t *plan_step(struct pbrun *p, const struct pb_step *s, bool *would_fail)
{
	char why[300];
	json_t *e = pb_step_json(s);
	if (s->kind == PB_CHECK) {
		const char *no = unmet(p, s, why, sizeof(why));
		json_object_set_new(e, "now", json_string(no ? no : "holds"));
		*would_fail = *would_fail || no;
	} else if ((s->kind == PB_WAN || s->kind == PB_PARTITION) && !p->o->cfg.drlink[0]) {
		json_object_set_new(e, "now", json_string("drorchd's config names no drlink"));
		*would_fail = true;
	}
	return e;
}

static json_t *plan_run(struct pbrun *p, int64_t run_id)
{
	json_t *plan = json_array();
	bool would_fail = false;
	char err[300];
	for (int i = 0; i < p->pb.nsteps + p->pb.nrollback; i++) {
		json_t *e = plan_step(p, &p->pb.steps[i], &would_fail);
		if (e && i >= p->pb.nsteps)  /* runs only after a step failed */
			json_object_set_new(e, "on_failure", json_true());
		char *text = json_dumps(e, JSON_COMPACT);
		if (!text || store_run_step(p->o->store, run_id, p->pb.steps[i].name, "skipped", text,
					    err, sizeof(err)) != 0)
			log_event(LOG_ERROR, "pbrun.step_failed_to_record", "{s:s}", "error", err);
		free(text);
		json_array_append_new(plan, e);
	}
	/* Recorded as what it was, a dry run; what the plan found is its detail. */
	const char *outcome = would_fail ? "failed" : "succeeded";
	json_t *d = json_deep_copy(p->base);
	if (d)
		json_object_set_new(d, "would", json_string(would_fail ? "fail" : "succeed"));
	char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
	if (store_run_end(p->o->store, run_id, "dry_run", NULL, -1, -1, -1, NULL, text, err,
			  sizeof(err)) != 0)
		log_event(LOG_ERROR, "pbrun.end_failed", "{s:s}", "error", err);
	free(text);
	json_decref(d);
	return json_pack("{s:I, s:b, s:s, s:o}", "run", (json_int_t)run_id, "dry_run", 1,
			 "outcome", outcome, "plan", plan);
}

/* ---- the API ------------------------------------------------------------------------ */

/* ---- resuming a run after drorchd's crash ------------------------------------- */

/* Ends run id failed with why (a run that cannot be resumed). */
static void close_run(struct orch *o, int64_t id, const char *why)
{
	char err[300];
	json_t *d = json_pack("{s:s}", "error", why);
	char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
	if (store_run_end(o->store, id, "failed", NULL, -1, -1, -1, NULL, text, err,
			  sizeof(err)) != 0)
		log_event(LOG_ERROR, "pbrun.end_failed", "{s:s}", "error", err);
	else
		log_event(LOG_WARN, "pbrun.orphan_closed", "{s:I, s:s}", "run", (json_int_t)id,
			  "why", why);
	free(text);
	json_decref(d);
}

/* The write load that drorchd's crash stopped, started again under new keys. */
static const char *restart_load(struct pbrun *p, const struct pb_step *s, char *why,
				size_t len)
{
	struct wload_opts o = { .writers = (int)s->writers, .rate = (int)s->rate,
				.gap_ms = s->gap_ms };
	snprintf(o.prefix, sizeof(o.prefix), "pb%lld-l%d-r%lld", (long long)p->run_id, s->line,
		 (long long)time_wall_ms() % 100000);
	if (wload_start(&p->load, &o, primary_url, p->o, why, len) != 0)
		return why;
	json_object_set_new(p->base, "write_load_restarted", json_pack("{s:s, s:s}", "step",
		s->name, "why", "drorchd restarted: the writes acknowledged before are not checked"));
	return NULL;
}

/*
 * From the steps the run recorded (each when it ended, in order), where it
 * goes on: the next step, or after a failed step the next rollback step;
 * the newest recovery a recorded step names; a write load that was running
 * (started again: what it had acknowledged died with drorchd, and the
 * run's detail says so); the partitions to heal and the last load's
 * figures, from the run's detail.  NULL, or why it cannot resume.
 */
static const char *resume_point(struct pbrun *p, json_t *steps, char *why, size_t len)
{
	size_t n = json_array_size(steps), i;
	int load_step = -1;
	json_t *st;
	json_array_foreach(steps, i, st) {
		const char *name = json_string_value(json_object_get(st, "name")) ?: "";
		json_t *res = json_object_get(json_object_get(st, "detail"), "result");
		/* After a failed step, what was recorded is the rollback's. */
		int idx = p->failed[0] ? p->rollback_next : (int)i;
		if (idx >= p->pb.nsteps + p->pb.nrollback || strcmp(name, p->pb.steps[idx].name))
			return "its recorded steps are not its playbook's";
		int64_t sub = json_integer_value(json_object_get(res, "run"));
		p->last_subrun = sub > p->last_subrun ? sub : p->last_subrun;
		const struct pb_step *s = &p->pb.steps[idx];
		if (s->kind == PB_WRITE_LOAD)
			load_step = s->stop ? -1 : idx;
		if (p->failed[0]) {
			p->rollback_next++;
		} else if (!strcmp(json_string_value(json_object_get(st, "status")) ?: "", "failed")) {
			snprintf(p->failed, sizeof(p->failed), "%s", name);
			snprintf(p->failed_why, sizeof(p->failed_why), "%s",
				 json_string_value(json_object_get(res, "error")) ?: "failed");
			p->rollback_next = p->pb.nsteps;
		}
	}
	p->next = (int)n;
	json_t *asked = subrun_after(p, p->last_subrun, true);  /* before the crash */
	p->resume_subrun = json_integer_value(json_object_get(asked, "id"));
	json_decref(asked);
	json_t *cuts = json_object_get(p->base, "cuts"), *c;
	json_array_foreach(cuts, i, c)
		if (p->ncuts < MAX_CUTS) {
			snprintf(p->cuts[p->ncuts].link, sizeof(p->cuts[0].link), "%s",
				 json_string_value(json_object_get(c, "link")) ?: "");
			snprintf(p->cuts[p->ncuts].dir, sizeof(p->cuts[0].dir), "%s",
				 json_string_value(json_object_get(c, "direction")) ?: "both");
			p->ncuts++;
		}
	p->load_figures = json_incref(json_object_get(p->base, "write_load"));
	return load_step >= 0 ? restart_load(p, &p->pb.steps[load_step], why, len) : NULL;
}

/* Takes up run r (a playbook left running): 0 when its thread runs again. */
static int resume_run(struct pbrun *p, json_t *r, const struct config *cfg)
{
	int64_t id = json_integer_value(json_object_get(r, "id"));
	json_t *full = store_run_json(p->o->store, id);
	json_t *detail = json_object_get(full, "detail");
	const char *source = json_string_value(json_object_get(detail, "source"));
	const char *sites[CONFIG_MAX_SITES];
	char why[600] = "";
	for (int i = 0; i < cfg->nsites; i++)
		sites[i] = cfg->sites[i].name;
	const char *no = !source ? "it was started without its document, which drorchd did not keep" :
			 playbook_parse("resume", source, strlen(source), sites, cfg->nsites,
					&p->pb, why, sizeof(why)) ? why : NULL;
	if (!no) {
		p->run_id = id;
		snprintf(p->actor, sizeof(p->actor), "playbook:%lld", (long long)id);
		json_decref(p->base);
		p->base = json_deep_copy(detail);
		no = p->base ? resume_point(p, json_object_get(full, "steps"), why, sizeof(why))
			     : "out of memory";
	}
	if (!no) {
		json_t *mark = json_pack("{s:I, s:i}", "ts_ms", (json_int_t)time_wall_ms(), "at_step",
					 p->next);
		json_t *list = json_object_get(p->base, "resumed");
		if (!json_is_array(list))
			json_object_set_new(p->base, "resumed", list = json_array());
		json_array_append_new(list, mark);
		set_detail(p, NULL);
		p->running = true;
		p->joinable = pthread_create(&p->thread, NULL, run_main, p) == 0;
		no = p->joinable ? NULL : "cannot start its thread";
		p->running = p->joinable;
	}
	if (no) {
		char text[700];
		if (p->load) {  /* restarted, then the thread could not start */
			json_decref(wload_stop(p->load, -1));
			p->load = NULL;
		}
		snprintf(text, sizeof(text), "drorchd stopped during the playbook; not resumed: %s", no);
		close_run(p->o, id, text);
		playbook_free(&p->pb);
		forget_run(p);
	} else {
		log_event(LOG_WARN, "pbrun.resumed", "{s:I, s:i, s:s?}", "run", (json_int_t)id,
			  "at_step", p->next, "after_failed", p->failed[0] ? p->failed : NULL);
	}
	json_decref(full);
	return no ? -1 : 0;
}

/* A playbook run left running by a drorchd that died: the newest is
 * resumed at its step, any older one (there is none unless the store was
 * edited) ends failed.  Whether one was resumed (its thread runs). */
static bool resume_orphans(struct pbrun *p)
{
	json_t *runs = store_runs_json(p->o->store, 100), *r;
	size_t i;
	bool taken = false, resumed = false;
	json_array_foreach(runs, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "playbook") ||
		    strcmp(json_string_value(json_object_get(r, "outcome")) ?: "", "running"))
			continue;
		if (taken)
			close_run(p->o, json_integer_value(json_object_get(r, "id")),
				  "drorchd stopped during the playbook");
		else
			resumed = resume_run(p, r, &p->o->cfg) == 0;
		taken = true;
	}
	json_decref(runs);
	return resumed;
}

static void join_done(struct pbrun *p);

/*
 * HA: at each term this instance begins as leader, the run a deposed
 * leader (this one before, or another) left running is taken up, once the
 * thread of this instance's own earlier run has ended.
 */
static void *terms_main(void *arg)
{
	struct pbrun *p = arg;
	uint64_t seen = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		bool quit = p->stopping, busy = p->running;
		pthread_mutex_unlock(&p->mu);
		if (quit)
			return NULL;
		uint64_t term = ha_terms(p->o->ha);
		if (term != seen && !busy && orch_may_act(p->o)) {
			seen = term;
			pthread_mutex_lock(&p->mu);
			bool reserved = !p->running;  /* as pbrun_start reserves */
			p->running = true;
			pthread_mutex_unlock(&p->mu);
			if (reserved) {
				join_done(p);
				bool resumed = resume_orphans(p);
				pthread_mutex_lock(&p->mu);
				p->running = resumed;
				pthread_mutex_unlock(&p->mu);
			}
		}
		time_sleep_ms(POLL_MS);
	}
}

int pbrun_new(struct pbrun **out, struct orch *o, char *err, size_t errlen)
{
	struct pbrun *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->o = o;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!o->ha) {
		resume_orphans(p);
	} else if (pthread_create(&p->terms, NULL, terms_main, p) != 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		free(p);
		snprintf(err, errlen, "cannot start the playbook runner's thread");
		return -1;
	} else {
		p->terms_started = true;
	}
	*out = p;
	return 0;
}

static void join_done(struct pbrun *p)
{
	if (p->joinable) {
		pthread_join(p->thread, NULL);
		p->joinable = false;
		playbook_free(&p->pb);
	}
}

void pbrun_free(struct pbrun *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->terms_started)
		pthread_join(p->terms, NULL);
	join_done(p);
	json_decref(p->base);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

/* Begins the run record; 0 or 500. */
static int begin(struct pbrun *p, const struct playbook *pb, const struct pbrun_opts *o,
		 int64_t *run_id, char *why, size_t whylen)
{
	json_t *d = json_pack("{s:s, s:b, s:i}", "playbook", pb->name, "dry_run", o->dry_run,
			      "steps", pb->nsteps);
	if (d && o->source)  /* what ran, and what a restarted drorchd resumes */
		json_object_set_new(d, "source", json_string(o->source));
	if (d && o->detail)
		json_object_update(d, o->detail);
	char *text = json_dumps(d, JSON_COMPACT);
	json_decref(p->base);
	p->base = d;  /* the runner's, until the next run or pbrun_free */
	int rc = text && store_run_begin(p->o->store, o->kind ? o->kind : "playbook", o->actor,
					 NULL, 0, text, run_id, why, whylen) == 0 ? 0 : 500;
	free(text);
	return rc;
}

int pbrun_start(struct pbrun *p, struct playbook *pb, const struct pbrun_opts *o,
		int64_t *run_id, json_t **plan, char *why, size_t whylen)
{
	pthread_mutex_lock(&p->mu);
	bool busy = p->running;
	int64_t other = p->run_id;
	p->running = true;  /* reserved: only this caller sets the run up */
	if (!busy)
		p->ending = false;
	pthread_mutex_unlock(&p->mu);
	if (busy) {
		snprintf(why, whylen, "playbook run %lld is running; one at a time", (long long)other);
		playbook_free(pb);
		return 409;
	}
	join_done(p);  /* the previous run's thread, finished */
	int rc = begin(p, pb, o, run_id, why, whylen);
	pthread_mutex_lock(&p->mu);
	p->pb = *pb;
	memset(pb, 0, sizeof(*pb));
	p->run_id = *run_id;
	p->last_subrun = 0;
	p->next = 0;
	p->rollback_next = p->pb.nsteps;
	snprintf(p->actor, sizeof(p->actor), "playbook:%lld", (long long)*run_id);
	pthread_mutex_unlock(&p->mu);
	if (rc == 0 && o->dry_run) {
		*plan = plan_run(p, *run_id);
	} else if (rc == 0 && pthread_create(&p->thread, NULL, run_main, p) == 0) {
		p->joinable = true;
		return 0;
	} else if (rc == 0) {
		snprintf(why, whylen, "cannot start the playbook's thread");
		end_run(p, "failed", NULL);
		rc = 500;
	}
	pthread_mutex_lock(&p->mu);
	p->running = false;
	pthread_mutex_unlock(&p->mu);
	playbook_free(&p->pb);
	return rc;
}

int pbrun_approve(struct pbrun *p, int64_t run_id, const char *actor, const char *comment,
		  char *why, size_t whylen)
{
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	if (!p->running || p->ending || p->run_id != run_id) {
		snprintf(why, whylen, "run %lld is not a playbook in progress", (long long)run_id);
		rc = 404;
	} else if (!p->at_gate || p->approved) {
		snprintf(why, whylen, "run %lld waits at no approval gate now", (long long)run_id);
		rc = 409;
	} else {
		p->approved = true;
		snprintf(p->approver, sizeof(p->approver), "%s", actor);
		snprintf(p->comment, sizeof(p->comment), "%s", comment ? comment : "");
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}
