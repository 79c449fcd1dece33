/*
 * orch.c — drorchd's driver: health in, FSM events out, every transition
 * committed to the store before its action runs.
 *
 * The driver thread wakes at least every heartbeat/2 (and whenever a monitor
 * posts a poll), turns the views into at most one event (an operator
 * request first, then a state timeout, then health), looks the event up in
 * the generated table and, for a transition row: begins a run if the row
 * starts a failover, commits the transition with a compare-and-set on the
 * cluster row's version, and runs the row's action, which returns the next
 * event.  After a crash, orch_start re-runs the action of the last committed
 * transition: actions are idempotent and keyed by the epoch in the row.
 *
 * Test builds and drills: DRORCH_TEST_CRASH_AT=ROW_ID makes drorchd kill
 * itself (SIGKILL) right after committing the transition of that row (by
 * its id, or the part before '@'), before the action runs; ROW_ID+ctx,
 * once that action has kept its context (crash_point).
 * DRORCH_TEST_STEP_MS=N makes every action of a run start N ms after its
 * transition commits, so a test can act while a recovery is in progress.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "decide.h"
#include "fanout.h"
#include "ha.h"
#include "log.h"
#include "metrics.h"
#include "orch.h"
#include "siteapi.h"
#include "timeutil.h"
#include "transition.h"

#define START_GRACE_MS 3000
#include "webhook.h"

bool orch_stopping(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	bool s = o->stopping;
	pthread_mutex_unlock(&o->mu);
	return s;
}

int orch_site_index(const struct orch *o, const char *name)
{
	for (int i = 0; i < o->cfg.nsites; i++)
		if (strcmp(o->cfg.sites[i].name, name) == 0)
			return i;
	return -1;
}

enum fsm_state orch_state_locked(struct orch *o)
{
	int s = fsm_state_by_name(o->cluster.state);
	return s < 0 ? FSM_STEADY : (enum fsm_state)s;
}

_Static_assert(RUNCTX_NAME_MAX == CONFIG_NAME_MAX && RUNCTX_MAX_SITES == CONFIG_MAX_SITES,
	       "runctx.h and config.h bound names and sites alike");

/* ---- the cluster row and its run context ----------------------------------- */

void orch_ctx(struct orch *o, struct run_ctx *out)
{
	pthread_mutex_lock(&o->mu);
	*out = o->cluster.ctx;
	pthread_mutex_unlock(&o->mu);
}

static int reload_cluster(struct orch *o)
{
	struct store_cluster c;
	char err[300];
	int rc = store_cluster_get(o->store, &c, err, sizeof(err));
	if (rc == 1 && o->ha)
		return 0;  /* no leader has written the cluster row yet */
	if (rc != 0) {
		log_event(LOG_ERROR, "orch.store_read_failed", "{s:s}", "error", err);
		return -1;
	}
	pthread_mutex_lock(&o->mu);
	o->cluster = c;
	pthread_mutex_unlock(&o->mu);
	return 0;
}

/* An edit of the cluster row (in place); 0, or -1 to give up. */
typedef int (*cluster_edit_fn)(struct store_cluster *next, void *arg);

/*
 * Reads the cached row, edits it and writes it back with a compare-and-set;
 * when another thread moved the row first (an operator's ack beside the
 * driver), reloads and edits again, a few times.  Reloads the cache in the
 * end.  0, STORE_CONFLICT (still lost), or -1.
 */
static int cluster_change(struct orch *o, cluster_edit_fn edit, void *arg)
{
	char err[300];
	int rc = STORE_CONFLICT;
	for (int attempt = 0; attempt < 5 && rc == STORE_CONFLICT; attempt++) {
		pthread_mutex_lock(&o->mu);
		struct store_cluster next = o->cluster;
		pthread_mutex_unlock(&o->mu);
		if (edit(&next, arg) != 0)
			return -1;
		rc = store_cluster_update(o->store, next.version, &next, err, sizeof(err));
		reload_cluster(o);
	}
	if (rc != 0)
		log_event(LOG_ERROR, "orch.cluster_update_failed", "{s:s}", "error", err);
	return rc;
}

/* Puts the action's context in the cluster row (arg: struct run_ctx). */
static int edit_ctx(struct store_cluster *next, void *arg)
{
	next->ctx = *(const struct run_ctx *)arg;
	return 0;
}

/* ---- runs -------------------------------------------------------------------- */

/* The run in progress, 0 if none. */
static int64_t current_run(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	int64_t run = o->cluster.run_id;
	pthread_mutex_unlock(&o->mu);
	return run;
}

static void run_step(struct orch *o, const char *name, const char *status, const json_t *detail)
{
	char err[300], *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	int64_t run = current_run(o);
	if (run && store_run_step(o->store, run, name, status, text, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "orch.run_step_failed", "{s:s}", "error", err);
	log_event(strcmp(status, "ok") ? LOG_WARN : LOG_INFO, "orch.step",
		  "{s:I, s:s, s:s, s:O?}", "run", (json_int_t)run, "step", name, "status", status,
		  "detail", detail);
	free(text);
}

static void run_mark(struct orch *o, const char *name, int64_t wall_ms)
{
	char err[300];
	int64_t run = current_run(o);
	if (run && store_run_mark(o->store, run, name, wall_ms, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "orch.run_mark_failed", "{s:s}", "error", err);
}

/* Sets each key of keys in the run's detail, the detail clients follow
 * (e.g. waiting_for_site_upgrade); a JSON null removes the key. */
static void run_detail_update(struct orch *o, const json_t *keys)
{
	char err[300];
	int64_t run = current_run(o);
	json_t *r = run ? store_run_json(o->store, run) : NULL;
	json_t *d = json_object_get(r, "detail");
	d = json_is_object(d) ? json_incref(d) : json_object();
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)keys, key, value)
		if (json_is_null(value))
			json_object_del(d, key);
		else
			json_object_set(d, key, value);
	char *text = r && d ? json_dumps(d, JSON_COMPACT) : NULL;
	if (text && store_run_update_detail(o->store, run, text, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "orch.run_detail_failed", "{s:s}", "error", err);
	free(text);
	json_decref(d);
	json_decref(r);
}

static void crash_point(struct orch *o, const struct fsm_row *row, const char *phase);

/* act's work, whoever leads; row started it (NULL: a resume). */
static int act_once(struct orch *o, const struct fsm_row *row, enum fsm_action a)
{
	struct act_result *r = calloc(1, sizeof(*r));
	if (!r) {
		log_event(LOG_ERROR, "orch.out_of_memory", "{s:s}", "action", fsm_action_names[a]);
		return FSM_E_ACTION_FAILED;
	}
	orch_ctx(o, &r->ctx);
	struct run_ctx before = r->ctx;
	int ev = orch_run_action(o, a, r);
	if (memcmp(&before, &r->ctx, sizeof(before)) != 0 &&
	    cluster_change(o, edit_ctx, &r->ctx) != 0 && ev >= 0)
		ev = FSM_E_ACTION_FAILED;  /* what it found is not kept: not acted on */
	crash_point(o, row, "ctx");
	for (int i = 0; i < r->nsteps; i++) {
		run_step(o, r->steps[i].name, r->steps[i].status, r->steps[i].detail);
		json_decref(r->steps[i].detail);
	}
	for (int i = 0; i < r->nmarks; i++)
		run_mark(o, r->marks[i].name, r->marks[i].wall_ms);
	if (r->run_detail)
		run_detail_update(o, r->run_detail);
	json_decref(r->run_detail);
	free(r);
	return ev;
}

/* This instance's term as a leader (HA), 0 for a single instance. */
static uint64_t term_of(struct orch *o)
{
	return o->ha ? ha_terms(o->ha) : 0;
}

/*
 * Tests only: what becomes of the result of an action run in the current
 * state, per the first line of the file DRORCH_TEST_ABANDON_FILE (read at
 * each action, so a test can stop it): a name of that state drops the
 * result, as a leader that lost its term drops it (the state then ends by
 * its timeout row, as in a cluster whose leaders kept changing); STATE=fail
 * makes it ACTION_FAILED, as when what the action found could not be
 * stored.  Names are separated by spaces.  0: the result stands, -1:
 * dropped, 1: failed.
 */
static int test_abandons(struct orch *o)
{
	const char *file = getenv("DRORCH_TEST_ABANDON_FILE");
	FILE *f = file && *file ? fopen(file, "r") : NULL;
	char line[256] = "";
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\r\n")] = '\0';
	fclose(f);
	pthread_mutex_lock(&o->mu);
	const char *state = fsm_state_names[orch_state_locked(o)];
	pthread_mutex_unlock(&o->mu);
	size_t len = strlen(state);
	for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		if (!strncmp(tok, state, len) && (!tok[len] || !strcmp(tok + len, "=fail")))
			return tok[len] ? 1 : -1;
	return 0;
}

/*
 * Runs action a and records what it did: its context in the cluster row
 * (when changed), then its steps, timestamps and run-detail keys.  Returns
 * the action's event, or -1.  With HA, an action this instance stopped
 * leading during answers -1: what it saw belongs to a term that is over
 * (its ACTION_FAILED may be a write etcd did not confirm, not a site's
 * failure), and whoever leads next runs the state's action again (resume).
 * A test may drop or fail the result the same way (test_abandons).
 */
static int act(struct orch *o, const struct fsm_row *row, enum fsm_action a)
{
	uint64_t term = term_of(o);
	int ev = act_once(o, row, a);
	int test = ev >= 0 ? test_abandons(o) : 0;
	if (test > 0) {
		log_event(LOG_WARN, "orch.action_failed_for_test", "{s:s, s:s}", "action",
			  fsm_action_names[a], "fsm_event", fsm_event_names[ev]);
		return FSM_E_ACTION_FAILED;
	}
	if (ev >= 0 && (test || term_of(o) != term || !orch_may_act(o))) {
		log_event(LOG_WARN, "orch.action_abandoned", "{s:s, s:s, s:b}", "action",
			  fsm_action_names[a], "fsm_event", fsm_event_names[ev], "test", test != 0);
		return -1;
	}
	return ev;
}

/* The newest of the last 100 runs whose kind is one of kinds (NULL-ended)
 * and, when outcome is not NULL, whose outcome it is; new ref or NULL. */
json_t *orch_newest_run(struct orch *o, const char *const kinds[], const char *outcome)
{
	json_t *runs = store_runs_json(o->store, 100), *r, *found = NULL;
	size_t i;
	json_array_foreach(runs, i, r) {
		const char *kind = json_string_value(json_object_get(r, "kind")) ?: "";
		const char *out = json_string_value(json_object_get(r, "outcome")) ?: "";
		bool kind_ok = false;
		for (int k = 0; kinds[k]; k++)
			kind_ok = kind_ok || !strcmp(kind, kinds[k]);
		if (kind_ok && (!outcome || !strcmp(out, outcome))) {
			found = json_incref(r);
			break;
		}
	}
	json_decref(runs);
	return found;
}

uint64_t orch_window_ms(const struct orch *o)
{
	const struct policy *p = orch_policy(o);  /* one policy, even across a PUT */
	return p->heartbeat_ms * p->misses;
}

/* The run is over (transition_run_over; arg: struct run_over). */
struct run_over {
	const char *outcome;
	int64_t now_ms;
	bool failover;  /* out */
};

static int edit_run_over(struct store_cluster *next, void *arg)
{
	struct run_over *r = arg;
	r->failover = transition_run_over(next, r->outcome, r->now_ms);
	return 0;
}

/* The time each phase of the run took, and the slowest, in its detail. */
static void record_phases(struct orch *o, const struct run_measure *m)
{
	json_t *phases = json_object(), *keys = json_object();
	for (int p = 0; p < PHASE_COUNT; p++)
		if (m->phase_ms[p] >= 0)
			json_object_set_new(phases, decide_phase_names[p],
					    json_integer((json_int_t)m->phase_ms[p]));
	if (json_object_size(phases))
		json_object_set(keys, "phases_ms", phases);
	if (m->slowest >= 0)
		json_object_set_new(keys, "slowest_phase",
				    json_string(decide_phase_names[m->slowest]));
	if (json_object_size(keys))
		run_detail_update(o, keys);
	json_decref(phases);
	json_decref(keys);
}

/* A recovery's measured RPO and RTO against the policy's targets, in its
 * detail: targets {rpo_ms, rpo_records, rto_ms} and verdict {rpo, rto,
 * rto_overrun_phase (only when the RTO was missed)}.  A run without a first
 * write counts its outage until now from start (wall ms, 0 unknown). */
static void record_verdict(struct orch *o, const struct run_measure *m, const struct run_ctx *c,
			   int64_t start)
{
	const struct policy *p = orch_policy(o);
	int64_t now = (int64_t)time_wall_ms();
	struct verdict_in in = { .measure = m, .unmeasured_ms = start > 0 && now > start ?
				 now - start : -1, .rpo_ms = c->rpo_ms,
				 .rpo_records = c->rpo_records, .rpo_ms_max = p->rpo_ms,
				 .rpo_records_max = p->rpo_records, .rto_ms_max = p->rto_ms };
	struct run_verdict v;
	decide_verdict(&in, &v);
	json_t *verdict = json_pack("{s:s, s:s}", "rpo", decide_verdict_names[v.rpo],
				    "rto", decide_verdict_names[v.rto]);
	if (verdict && v.overrun_phase >= 0)
		json_object_set_new(verdict, "rto_overrun_phase",
				    json_string(decide_phase_names[v.overrun_phase]));
	json_t *keys = json_pack("{s:{s:I, s:I, s:I}, s:o*}", "targets",
				 "rpo_ms", (json_int_t)p->rpo_ms, "rpo_records",
				 (json_int_t)p->rpo_records, "rto_ms", (json_int_t)p->rto_ms,
				 "verdict", verdict);
	if (keys)
		run_detail_update(o, keys);
	else
		log_event(LOG_ERROR, "orch.out_of_memory", "{s:s}", "detail", "verdict");
	json_decref(keys);
}

/* Closes the run when the machine leaves the failover or switchover states. */
static void finish_run(struct orch *o, const char *outcome)
{
	pthread_mutex_lock(&o->mu);
	int64_t run = o->cluster.run_id;
	pthread_mutex_unlock(&o->mu);
	if (!run)
		return;
	json_t *r = store_run_json(o->store, run);
	json_t *ts = json_object_get(r, "timestamps");
	/* Unavailability begins at the last good heartbeat of a failed primary,
	 * or when a switchover paused the primary's writes (decide_measure). */
	struct run_marks marks = {
		.last_good_heartbeat = json_integer_value(json_object_get(ts, "last_good_heartbeat")),
		.detected = json_integer_value(json_object_get(ts, "detected")),
		.writes_paused = json_integer_value(json_object_get(ts, "writes_paused")),
		.decided = json_integer_value(json_object_get(ts, "decided")),
		.promoted = json_integer_value(json_object_get(ts, "promoted")),
		.first_write = json_integer_value(json_object_get(ts, "first_write")),
	};
	struct run_measure m;
	decide_measure(&marks, &m);
	record_phases(o, &m);
	struct run_ctx c;
	orch_ctx(o, &c);
	if (runctx_is(&c, "failover") || runctx_is(&c, "switchover") || runctx_is(&c, "failback"))
		record_verdict(o, &m, &c, marks.last_good_heartbeat ? marks.last_good_heartbeat :
			       marks.writes_paused);
	int64_t rto = m.rto_ms, rpo_records = c.rpo_records, rpo_ms = c.rpo_ms;
	char err[300];
	if (store_run_end(o->store, run, outcome, c.candidate[0] ? c.candidate : NULL,
			  rpo_records, rpo_ms, rto, NULL, NULL, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "orch.run_end_failed", "{s:s}", "error", err);
	log_event(LOG_INFO, "orch.run_ended", "{s:I, s:s, s:I, s:I, s:I}", "run", (json_int_t)run,
		  "outcome", outcome, "rto_ms", (json_int_t)rto, "rpo_records",
		  (json_int_t)rpo_records, "rpo_ms", (json_int_t)rpo_ms);
	json_decref(r);
	struct run_over over = { outcome, (int64_t)time_wall_ms(), false };
	cluster_change(o, edit_run_over, &over);
	if (over.failover)  /* drorch_failovers_total counts failovers only */
		metrics_failover(o->metrics, outcome);
}

/* ---- transitions ------------------------------------------------------------ */

/* When an operator last acknowledged a failover run (its "acknowledged"
 * step), in wall-clock ms; 0 if never among the recent runs.  Read from the
 * store once, at start (a restarted drorchd knows it too); orch_ack_run
 * keeps o->ack_ms up to date after that, so the anti-flapping guard reads
 * no store (it is evaluated under o->mu for an operator's resume). */
static int64_t stored_ack_ms(struct orch *o)
{
	json_t *runs = store_runs_json(o->store, 20), *r;
	size_t i;
	int64_t newest = 0;
	json_array_foreach(runs, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "failover"))
			continue;
		json_t *run = store_run_json(o->store, json_integer_value(json_object_get(r, "id")));
		json_t *st;
		size_t k;
		json_array_foreach(json_object_get(run, "steps"), k, st)
			if (!strcmp(json_string_value(json_object_get(st, "name")) ?: "", "acknowledged") &&
			    json_integer_value(json_object_get(st, "ts_ms")) > newest)
				newest = json_integer_value(json_object_get(st, "ts_ms"));
		json_decref(run);
	}
	json_decref(runs);
	return newest;
}

static bool guard_holds(void *ctx, enum fsm_guard g)
{
	struct orch *o = ctx;
	switch (g) {
	case FSM_G_NONE:
		return true;
	case FSM_G_ANTI_FLAP_OK: {
		int64_t last = o->cluster.ctx.last_failover_ms;
		return !last || time_wall_ms() - (uint64_t)last > orch_policy(o)->anti_flap_s * 1000 ||
		       atomic_load(&o->ack_ms) >= last;
	}
	case FSM_G_ALL_REPLICAS_OK:
		return o->cluster.ctx.all_replicas_follow;
	case FSM_G_PRIMARY_KNOWN:
		return o->sites_primary >= 0;
	case FSM_G_UPGRADE_RUNNING:
		return runctx_is(&o->cluster.ctx, "upgrade");
	case FSM_G_FINALIZE_ASKED:
		return o->cluster.ctx.upgrade.finalize && !o->cluster.ctx.upgrade.rollback;
	default:
		return false;
	}
}

/* The cluster row after row fires (transition_next decides it), with the
 * run it opens begun in the store. */
static int next_cluster(struct orch *o, const struct fsm_row *row, const char *actor,
			const struct op_request *req, struct store_cluster *next)
{
	struct runctx_request r = { 0 };
	if (req) {
		r.target = req->target;
		r.force = req->force;
		r.plan = req->plan.set ? &req->plan : NULL;
	}
	struct transition_in in = { .row = row, .req = req ? &r : NULL,
				    .req_kind = req ? req->kind : NULL,
				    .now_ms = (int64_t)time_wall_ms() };
	pthread_mutex_lock(&o->mu);
	struct store_cluster cur = o->cluster;
	in.sites_epoch = o->sites_epoch;
	in.epoch_floor = o->epoch_floor;
	in.sites_primary = o->sites_primary >= 0 ? o->cfg.sites[o->sites_primary].name : NULL;
	pthread_mutex_unlock(&o->mu);
	struct transition_out out;
	transition_next(&cur, &in, next, &out);
	if (!out.run_kind)
		return 0;
	char err[300];
	json_t *plan = r.plan ? runctx_plan_json(r.plan) : NULL;
	char *rdetail = plan ? json_dumps(plan, JSON_COMPACT) : NULL;
	json_decref(plan);
	int rc = store_run_begin(o->store, out.run_kind, actor, out.run_from, next->epoch, rdetail,
				 &next->run_id, err, sizeof(err));
	free(rdetail);
	if (rc != 0)
		log_event(LOG_ERROR, "orch.run_begin_failed", "{s:s}", "error", err);
	return rc != 0 ? -1 : 0;
}

/* How many transitions of the current run fired rows of `row`'s id
 * (its id before '@', so D01@STEADY and D01@DEGRADED count alike). */
static int run_row_count(struct orch *o, const struct fsm_row *row)
{
	pthread_mutex_lock(&o->mu);
	int64_t run = o->cluster.run_id;
	pthread_mutex_unlock(&o->mu);
	json_t *ts = run ? store_transitions_json(o->store, 0, run, 0) : NULL, *t;
	size_t i, base = strcspn(row->id, "@");
	int n = 0;
	json_array_foreach(ts, i, t) {
		const char *id = json_string_value(json_object_get(t, "row_id")) ?: "";
		n += strcspn(id, "@") == base && !strncmp(id, row->id, base);
	}
	json_decref(ts);
	return run ? n : 1;
}

/* Does crash point tok ("ID" or "ID#N": the Nth time in the run) name row? */
static bool crash_matches(struct orch *o, const struct fsm_row *row, const char *tok, size_t len)
{
	const char *hash = memchr(tok, '#', len);
	size_t idlen = hash ? (size_t)(hash - tok) : len;
	size_t base = strcspn(row->id, "@");
	bool named = (idlen == strlen(row->id) && !strncmp(tok, row->id, idlen)) ||
		     (idlen == base && !strncmp(tok, row->id, base));
	return named && (!hash || atoi(hash + 1) == run_row_count(o, row));
}

/*
 * Tests only: SIGKILL right after row is committed, when a crash point
 * names it: DRORCH_TEST_CRASH_AT, or the first line of the file
 * DRORCH_TEST_CRASH_FILE names (read at each transition, so one drorchd can
 * be given crash points one after another).  A crash point is a list of
 * ROW or ROW#N separated by spaces: ROW is a row id or its id before '@';
 * #N the Nth time that row fires in the current run.  ROW+ctx (or
 * ROW#N+ctx) is later: once the action that row started has kept its
 * context in the cluster row, before its steps and run detail (phase
 * "ctx"; an action resumed after a restart names no row and never stops
 * there).
 */
static void crash_point(struct orch *o, const struct fsm_row *row, const char *phase)
{
	const char *at = getenv("DRORCH_TEST_CRASH_AT"), *file = getenv("DRORCH_TEST_CRASH_FILE");
	char line[512] = "";
	FILE *f = file && *file ? fopen(file, "r") : NULL;
	if (f) {
		if (fgets(line, sizeof(line), f))
			line[strcspn(line, "\r\n")] = '\0';
		fclose(f);
		at = line;
	}
	for (const char *p = at ? at : ""; *p && row; ) {
		size_t len = strcspn(p, " ");
		const char *plus = memchr(p, '+', len);
		size_t idlen = plus ? (size_t)(plus - p) : len;
		bool at_phase = plus ? phase && len - idlen - 1 == strlen(phase) &&
					       !strncmp(plus + 1, phase, strlen(phase))
				     : !phase;
		if (idlen && at_phase && crash_matches(o, row, p, idlen)) {
			log_event(LOG_WARN, "orch.test_crash", "{s:s}", "row", row->id);
			kill(getpid(), SIGKILL);
		}
		p += len;
		p += strspn(p, " ");
	}
}

/*
 * Tests only: each state's timeout from the spec, but for the states that
 * DRORCH_TEST_TIMEOUT_MS names ("STATE=MS[,STATE=MS...]", e.g.
 * "PROMOTING=1500"), so that a test reaches a timeout row in seconds.  A
 * resting state keeps having none; a bad entry is logged and skipped.
 */
static void state_timeouts(struct orch *o)
{
	memcpy(o->state_timeout_ms, fsm_state_timeout_ms, sizeof(o->state_timeout_ms));
	const char *p = getenv("DRORCH_TEST_TIMEOUT_MS");
	while (p && *p) {
		size_t len = strcspn(p, ",");
		char item[64];
		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		char *eq = strchr(item, '=');
		int s = eq ? (*eq = '\0', fsm_state_by_name(item)) : -1;
		long ms = eq ? strtol(eq + 1, NULL, 10) : 0;
		if (s >= 0 && fsm_state_timeout_ms[s] && ms > 0 && ms <= 3600000)
			o->state_timeout_ms[s] = (unsigned)ms;
		else
			log_event(LOG_WARN, "orch.test_timeout_ignored", "{s:s}", "item", item);
		p += len;
		p += strspn(p, ",");
	}
}

static void step_pause(const struct fsm_row *row)
{
	const char *ms = getenv("DRORCH_TEST_STEP_MS");
	bool in_run = row->action == FSM_A_FENCE || row->action == FSM_A_ELECT ||
		      row->action == FSM_A_PROMOTE || row->action == FSM_A_REDIRECT;
	if (!ms || !*ms || !in_run)
		return;
	long n = strtol(ms, NULL, 10);
	if (n > 0 && n <= 10000)
		time_sleep_ms((uint64_t)n);
}

/* What an operator asked for, as the transition's detail in the audit. */
static char *request_text(const struct op_request *req)
{
	if (!req)
		return NULL;
	json_t *d = json_pack("{s:s, s:b, s:s}", "target", req->target, "force", req->force,
			      "kind", req->kind[0] ? req->kind : "failover");
	if (d && req->plan.set)
		json_object_set_new(d, "upgrade", runctx_plan_json(&req->plan));
	char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	return text;
}

/* Commits row's transition (CAS) and returns 0; -1 when it could not.
 * Its audit detail: what the operator asked (req), or what the event
 * found (detail, may be NULL). */
static int commit(struct orch *o, const struct fsm_row *row, const char *actor,
		  const struct op_request *req, const json_t *detail)
{
	struct store_cluster next;
	if (next_cluster(o, row, actor, req, &next) != 0)
		return -1;
	char *dtext = req ? request_text(req) : detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	struct store_transition t = {
		.from = fsm_state_names[row->from], .event = fsm_event_names[row->event],
		.to = fsm_state_names[row->to], .row_id = row->id, .actor = actor,
		.reason = row->reason, .detail_json = dtext, .epoch = next.epoch,
		.run_id = next.run_id,
	};
	char err[300];
	int64_t seq = 0;
	pthread_mutex_lock(&o->mu);
	int64_t expected = o->cluster.version;
	pthread_mutex_unlock(&o->mu);
	int rc = store_transition(o->store, expected, &next, &t, &seq, err, sizeof(err));
	free(dtext);
	reload_cluster(o);
	if (rc != 0) {
		log_event(LOG_ERROR, "orch.transition_failed", "{s:s, s:s}", "row", row->id,
			  "error", rc == STORE_CONFLICT ? "compare-and-set lost" : err);
		/* The run begun for this transition never started: close it. */
		pthread_mutex_lock(&o->mu);
		bool began = next.run_id && next.run_id != o->cluster.run_id;
		pthread_mutex_unlock(&o->mu);
		if (began &&
		    store_run_end(o->store, next.run_id, "failed", NULL, -1, -1, -1, NULL,
				  "{\"reason\":\"its first transition was not committed\"}",
				  err, sizeof(err)) != 0)
			log_event(LOG_ERROR, "orch.run_end_failed", "{s:s}", "error", err);
		return -1;
	}
	pthread_mutex_lock(&o->mu);
	o->state_entered_ms = time_mono_ms();
	pthread_mutex_unlock(&o->mu);
	metrics_transition(o->metrics, row);
	webhook_transition(o->webhooks, o->store, seq, next.primary);
	log_event(LOG_INFO, "orch.transition", "{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s}",
		  "seq", (json_int_t)seq, "row", row->id, "from", t.from, "fsm_event", t.event,
		  "to", t.to, "epoch", (json_int_t)t.epoch, "actor", actor,
		  "run", (json_int_t)t.run_id, "reason", row->reason);
	return 0;
}

/*
 * Feeds ev to the machine, then every event the actions produce, until an
 * ignore, a reject or an action with no result.  Returns the first row.
 */
static const struct fsm_row *feed(struct orch *o, int ev, const char *actor,
				   const struct op_request *req, const json_t *detail)
{
	const struct fsm_row *first = NULL;
	while (ev >= 0 && !orch_stopping(o)) {
		pthread_mutex_lock(&o->mu);
		enum fsm_state s = orch_state_locked(o);
		pthread_mutex_unlock(&o->mu);
		const struct fsm_row *row = fsm_step(s, (enum fsm_event)ev, guard_holds, o);
		if (!first)
			first = row;
		if (!row || row->kind != FSM_TRANSITION || commit(o, row, actor, req, detail) != 0)
			break;
		req = NULL;
		detail = NULL;
		crash_point(o, row, NULL);
		step_pause(row);
		if (row->ends_run)
			finish_run(o, row->ends_run);
		ev = act(o, row, row->action);
	}
	return first;
}

/* ---- health -> events ---------------------------------------------------------- */

/* Monotonic time of a site's last answer (start of drorchd if never). */
static uint64_t last_ok_locked(const struct orch *o, int i, uint64_t started)
{
	return o->views[i].last_ok_ms ? o->views[i].last_ok_ms : started;
}

/* decide_replica for site i under the policy in force.  Under o->mu. */
static bool replica_degraded_locked(const struct orch *o, int i, uint64_t now, uint64_t window,
				    uint64_t started, char *why, size_t len)
{
	const struct policy *p = orch_policy(o);
	struct replica_in in = { .now = now, .last_ok = last_ok_locked(o, i, started),
				 .window = window, .rpo_ms = p->rpo_ms,
				 .rpo_records = p->rpo_records };
	return decide_replica(&o->views[i], &in, why, len) != REPLICA_OK;
}

/* A health level (HEALTHY, REPLICA_DEGRADED) becomes an event only once it
 * has held for the detection window: a flapping replica writes no
 * transition per tick.  Under o->mu. */
static int settled_locked(struct orch *o, int ev, uint64_t now, uint64_t window)
{
	if (ev != o->health_seen) {
		o->health_seen = ev;
		o->health_since_ms = now;
	}
	return now - o->health_since_ms >= window ? ev : -1;
}

/* Is the primary missing: silent for the window, failing its canary
 * writes, or unable to make writes durable?  Under o->mu. */
static bool primary_missed_locked(const struct orch *o, int p, uint64_t now, uint64_t window,
				  uint64_t started)
{
	const struct site_view *v = &o->views[p];
	return now - last_ok_locked(o, p, started) > window || v->canary_failures >= 2 ||
	       (v->reachable && v->wal_failed);
}

/*
 * Whether the sites are ahead of the store (under o->mu): at a newer epoch
 * (the store went back in time), or, outside a recovery, with another site
 * primary at the store's own epoch than the one its row names (a promotion
 * sent but never committed: a failover that timed out in PROMOTING).  The
 * sites' state wins: confirming the row's primary at that epoch would make
 * two primaries of one epoch.
 */
static bool store_behind_locked(struct orch *o)
{
	if (o->sites_epoch > o->cluster.epoch)
		return true;
	if (fsm_state_timeout_ms[orch_state_locked(o)] || o->sites_primary < 0 ||
	    o->sites_epoch != o->cluster.epoch)
		return false;
	return strcmp(o->cfg.sites[o->sites_primary].name, o->cluster.primary) != 0;
}

/* Whether the run's context says its primary is not believed (R02): an
 * operator resumed a held R02 failover, and no site was promoted. */
static bool primary_unknown_locked(struct orch *o)
{
	return o->cluster.ctx.primary_unknown;
}

/* The replicas decide_replica finds degraded, each with why, into
 * detail {"degraded": [{"site", "why"}]} (new; NULL when none).  Under mu. */
static json_t *degraded_locked(struct orch *o, int p, uint64_t now, uint64_t window,
			       uint64_t started)
{
	json_t *list = NULL;
	for (int i = 0; i < o->cfg.nsites; i++) {
		char why[200];
		if (i == p || !replica_degraded_locked(o, i, now, window, started, why, sizeof(why)))
			continue;
		if (!list)
			list = json_array();
		json_array_append_new(list, json_pack("{s:s, s:s}", "site", o->cfg.sites[i].name,
						      "why", why));
	}
	return list ? json_pack("{s:o}", "degraded", list) : NULL;
}

/*
 * Whether every site drorchd reaches was asked since `since` (monotonic):
 * a verdict on the primary's log compares sites with one another, and a
 * view read before the last transition (the new primary still a replica
 * at the new epoch, a poll taken during the promotion) would judge a
 * cluster that no longer exists — a switchover was followed by a failover
 * 50 ms later (PRIMARY_REGRESSED) when a poll straddled its promotion.
 */
static bool views_since_locked(const struct orch *o, uint64_t since)
{
	for (int i = 0; i < o->cfg.nsites; i++)
		if (o->views[i].reachable && o->views[i].asked_ms < since)
			return false;
	return true;
}

/* At most one event from the views, under o->mu; -1 for none.  A replica
 * degraded comes with *detail (new), which replicas and why, for the
 * transition's audit detail and its webhook. */
static int health_event_locked(struct orch *o, uint64_t now, uint64_t started, json_t **detail)
{
	enum fsm_state s = orch_state_locked(o);
	uint32_t timeout = o->state_timeout_ms[s];
	if (timeout && now - o->state_entered_ms > timeout)
		return FSM_E_TIMEOUT;
	int p = orch_site_index(o, o->cluster.primary);
	uint64_t window = orch_window_ms(o);
	if (p < 0 || now - started < window)
		return -1;  /* a grace period at start: let sites answer and take roles */
	if (store_behind_locked(o) || (fsm_state_reconciles[s] && primary_unknown_locked(o)))
		return FSM_E_STORE_BEHIND;
	bool automatic = orch_policy(o)->automatic;
	int64_t need;
	if (views_since_locked(o, o->state_entered_ms) && orch_regressed_locked(o, p, &need))
		return automatic ? FSM_E_PRIMARY_REGRESSED : -1;
	if (primary_missed_locked(o, p, now, window, started)) {
		/* Quiet while its replicas still hear a primary that takes writes:
		 * only drorchd's link to it is down. */
		if (orch_judge_locked(o, p, now) == V_LINK_ONLY)
			return -1;
		return automatic ? FSM_E_PRIMARY_MISSED : -1;
	}
	/* The state's action swaps a site's binary, or rejoins a diverged site:
	 * is it back? */
	if (!strcmp(o->cluster.action, fsm_action_names[FSM_A_SWAP]))
		return orch_upgrade_event_locked(o);
	if (!strcmp(o->cluster.action, fsm_action_names[FSM_A_REJOIN]))
		return orch_rejoin_event_locked(o);
	if (orch_diverged_event_locked(o) >= 0)
		return FSM_E_SITE_DIVERGED;  /* the table says where it rejoins */
	json_t *degraded = degraded_locked(o, p, now, window, started);
	/* At start, replicas take a moment to get their role and stream. */
	int ev = !degraded ? FSM_E_HEALTHY :
		 now - started < START_GRACE_MS ? -1 : FSM_E_REPLICA_DEGRADED;
	ev = ev < 0 ? -1 : settled_locked(o, ev, now, window);
	if (ev == FSM_E_REPLICA_DEGRADED)
		*detail = json_incref(degraded);
	json_decref(degraded);
	return ev;
}

/* The sites' newest epoch and its primary, from the views (under o->mu). */
static void note_sites_epoch_locked(struct orch *o)
{
	o->sites_epoch = decide_sites_epoch(o->views, o->cfg.nsites, &o->sites_primary);
}

/* An operator request, if one waits, into *req; clears it.  Under o->mu. */
static int take_request_locked(struct orch *o, struct op_request *req)
{
	if (!o->op.pending)
		return -1;
	o->op.pending = false;
	*req = o->op;
	return o->op.event;
}

/* ---- the driver ------------------------------------------------------------------ */

static void wait_wake(struct orch *o, uint64_t ms)
{
	struct timespec ts;
	time_deadline(&ts, ms);
	pthread_cond_timedwait(&o->wake, &o->mu, &ts);
}

/* The outcome the run's last transition gave it (its row's ends_run), or
 * "failed" when that row ends none. */
static const char *run_last_outcome(struct orch *o, int64_t run)
{
	json_t *ts = store_transitions_json(o->store, 0, run, 0);
	size_t n = json_array_size(ts);
	json_t *last = n ? json_array_get(ts, n - 1) : NULL;
	const struct fsm_row *row = fsm_row_by_id(json_string_value(json_object_get(last,
								 "row_id")) ?: "");
	json_decref(ts);
	return row && row->ends_run ? row->ends_run : "failed";
}

/*
 * After a (re)start: a run still open in a state that has none (a crash
 * between the transition that ended it and its end) is ended with the
 * outcome that transition gave it, before anything else is fed (a store
 * found behind the sites must not end it a second time: R01 ends runs).
 */
static void end_ended_run(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	enum fsm_state s = orch_state_locked(o);
	int64_t run = o->cluster.run_id;
	pthread_mutex_unlock(&o->mu);
	if (!run || fsm_state_run_open[s])
		return;
	const char *outcome = run_last_outcome(o, run);
	log_event(LOG_WARN, "orch.resume_run_end", "{s:I, s:s, s:s}", "run", (json_int_t)run,
		  "state", fsm_state_names[s], "outcome", outcome);
	finish_run(o, outcome);
}

/* After a (re)start, in a transient state: its action is re-run. */
static void resume(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	enum fsm_state s = orch_state_locked(o);
	char action[32];
	snprintf(action, sizeof(action), "%s", o->cluster.action);
	pthread_mutex_unlock(&o->mu);
	if (!fsm_state_timeout_ms[s])
		return;
	for (int a = 0; fsm_action_names[a]; a++)
		if (strcmp(fsm_action_names[a], action) == 0) {
			log_event(LOG_WARN, "orch.resume", "{s:s, s:s}", "state", fsm_state_names[s],
				  "action", action);
			feed(o, act(o, NULL, (enum fsm_action)a), "auto", NULL, NULL);
			return;
		}
}

/*
 * At start, before anything is acted on: one round of polls (bounded by
 * twice the detection window), so that a store that went back in time
 * (the sites are at a newer epoch) is caught before the action of its
 * stale state is re-run.
 */
static void first_round(struct orch *o)
{
	uint64_t deadline = time_mono_ms() + 2 * orch_window_ms(o);
	end_ended_run(o);
	pthread_mutex_lock(&o->mu);
	/* Leading again (HA): another leader may have set the leases since this
	 * instance's commands did, so until a role answer of this term shows
	 * one of its commands setting a lease, a fence waits --lease-ms
	 * (decide_lease_bound), and the lease is asked again (lease_due). */
	for (int i = 0; i < o->cfg.nsites; i++)
		o->views[i].lease_conf_epoch = 0;
	for (;;) {
		int polled = 0;
		for (int i = 0; i < o->cfg.nsites; i++)
			polled += o->views[i].polled;
		if (polled == o->cfg.nsites || o->stopping || time_mono_ms() >= deadline)
			break;
		wait_wake(o, 20);
	}
	note_sites_epoch_locked(o);
	bool behind = store_behind_locked(o);
	int64_t sites = o->sites_epoch, mine = o->cluster.epoch;
	pthread_mutex_unlock(&o->mu);
	if (!behind) {
		resume(o);
		return;
	}
	log_event(LOG_ERROR, "orch.store_behind", "{s:I, s:I, s:s}", "store_epoch",
		  (json_int_t)mine, "sites_epoch", (json_int_t)sites, "action",
		  "adopting the sites' epoch; no epoch at or below it will be issued");
	feed(o, FSM_E_STORE_BEHIND, "auto", NULL, NULL);
}

/* Whether this drorchd may act on the sites: always for a single instance;
 * with HA, while it leads and its lease holds (ha.h). */
bool orch_may_act(struct orch *o)
{
	return !o->ha || ha_may_act(o->ha);
}

static bool give_up_acting(void *ctx)
{
	return !orch_may_act(ctx);
}

/* With HA, each command carries this instance's term (0 once it no longer
 * leads), which a site that has seen a newer one refuses. */
static bool term_header(void *ctx, char *line, size_t len)
{
	struct orch *o = ctx;
	snprintf(line, len, "X-Drorch-Term: %" PRId64, ha_term(o->ha));
	return true;
}

/* A poll's term: only while this instance leads (ha_term is 0 otherwise). */
static bool poll_term_header(void *ctx, char *line, size_t len)
{
	int64_t term = ha_term(((struct orch *)ctx)->ha);
	snprintf(line, len, "X-Drorch-Term: %" PRId64, term);
	return term > 0;
}

struct httpc *orch_poll_client(struct orch *o)
{
	struct httpc *c = httpc_new();
	if (c && o->ha)
		httpc_set_header(c, poll_term_header, o);
	return c;
}

struct httpc *orch_site_client(struct orch *o)
{
	struct httpc *c = httpc_new();
	if (c && o->ha) {
		httpc_set_give_up(c, give_up_acting, o);
		httpc_set_header(c, term_header, o);
	}
	return c;
}

/* The driver's rounds while this drorchd may act, in the term it began
 * in (a new term, even this instance's again, resumes the state's action
 * first): one every half heartbeat. */
static void drive(struct orch *o, uint64_t started)
{
	uint64_t term = term_of(o);
	first_round(o);
	pthread_mutex_lock(&o->mu);
	while (!o->stopping) {
		if (o->ha) {
			pthread_mutex_unlock(&o->mu);
			bool acts = orch_may_act(o) && term_of(o) == term;
			pthread_mutex_lock(&o->mu);
			if (!acts)
				break;
		}
		wait_wake(o, orch_policy(o)->heartbeat_ms / 2);
		struct op_request req;
		json_t *found = NULL;
		note_sites_epoch_locked(o);
		int ev = take_request_locked(o, &req);
		bool asked = ev >= 0;
		if (ev < 0)
			ev = health_event_locked(o, time_mono_ms(), started, &found);
		pthread_mutex_unlock(&o->mu);
		if (ev >= 0)
			feed(o, ev, asked ? req.actor : "auto", asked ? &req : NULL, found);
		json_decref(found);
		orch_reconcile(o);
		orch_note_rewinds(o);
		pthread_mutex_lock(&o->mu);
	}
	pthread_mutex_unlock(&o->mu);
}

static int initial_policy(struct orch *o);

/*
 * Runs of the state machine left "running" that the cluster row does not
 * name: begun by a leader whose first transition of the run was never
 * committed (it lost its office in between, or etcd's answer was lost).
 * Ended failed, saying so.  Playbook and rewind runs are not the row's.
 */
static void close_orphan_runs(struct orch *o)
{
	static const char *const kinds[] = { "failover", "switchover", "failback", "upgrade", NULL };
	json_t *runs = store_runs_json(o->store, 100), *r;
	size_t i;
	pthread_mutex_lock(&o->mu);
	int64_t current = o->cluster.run_id;
	pthread_mutex_unlock(&o->mu);
	json_array_foreach(runs, i, r) {
		int64_t id = json_integer_value(json_object_get(r, "id"));
		const char *kind = json_string_value(json_object_get(r, "kind")) ?: "";
		bool ours = false;
		for (int k = 0; kinds[k]; k++)
			ours = ours || !strcmp(kind, kinds[k]);
		if (!ours || id == current ||
		    strcmp(json_string_value(json_object_get(r, "outcome")) ?: "", "running"))
			continue;
		char err[300];
		log_event(LOG_WARN, "orch.orphan_run_ended", "{s:I, s:s}", "run", (json_int_t)id,
			  "kind", kind);
		if (store_run_end(o->store, id, "failed", NULL, -1, -1, -1, NULL,
				  "{\"reason\":\"its first transition was never committed (the"
				  " leader that began it lost its office)\"}", err, sizeof(err)) != 0)
			log_event(LOG_ERROR, "orch.run_end_failed", "{s:s}", "error", err);
	}
	json_decref(runs);
}

/*
 * A leader's first steps (HA): its store holds the whole log (ha.h), so it
 * reads the cluster row from it (writing the first one in a new cluster),
 * the policy last put in force and the newest acknowledgement, as a
 * restarted drorchd does.  0, or -1 (it could not write: no longer leads).
 */
static int take_office(struct orch *o)
{
	char err[300];
	struct store_cluster c;
	if (store_cluster_get(o->store, &c, err, sizeof(err)) == 1 &&
	    store_cluster_init(o->store, fsm_state_names[FSM_STEADY], 1, o->cfg.initial_primary,
			       err, sizeof(err)) != 0) {
		log_event(LOG_WARN, "orch.take_office_failed", "{s:s}", "error", err);
		return -1;
	}
	if (reload_cluster(o) != 0 || initial_policy(o) != 0)
		return -1;
	close_orphan_runs(o);
	atomic_store(&o->ack_ms, stored_ack_ms(o));
	pthread_mutex_lock(&o->mu);
	o->state_entered_ms = time_mono_ms();
	o->health_seen = -1;
	struct store_cluster now = o->cluster;
	pthread_mutex_unlock(&o->mu);
	log_event(LOG_INFO, "orch.leading", "{s:s, s:s, s:I}", "name", o->cfg.ha.name, "state",
		  now.state, "epoch", (json_int_t)now.epoch);
	return 0;
}

static void *driver_main(void *arg)
{
	struct orch *o = arg;
	if (!o->ha) {
		drive(o, time_mono_ms());
		return NULL;
	}
	while (!orch_stopping(o)) {
		if (!ha_wait_leader(o->ha, 200)) {
			reload_cluster(o);  /* a follower shows the mirror's row */
			continue;
		}
		if (take_office(o) == 0)
			drive(o, time_mono_ms());
		else
			time_sleep_ms(100);  /* not a busy loop while the store fails */
	}
	return NULL;
}

/* ---- the policy in force --------------------------------------------------------- */

const struct policy *orch_policy(const struct orch *o)
{
	return __atomic_load_n(&o->policy, __ATOMIC_ACQUIRE);
}

const char *orch_policy_source(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	const char *s = o->policy_source;
	pthread_mutex_unlock(&o->mu);
	return s;
}

/* Keeps a copy of p for the life of o and makes it the one in force. */
static int publish_policy(struct orch *o, const struct policy *p, const char *source)
{
	struct policy_node *n = malloc(sizeof(*n));
	if (!n)
		return -1;
	n->p = *p;
	pthread_mutex_lock(&o->mu);
	n->next = o->policies;
	o->policies = n;
	snprintf(o->policy_source, sizeof(o->policy_source), "%s", source);
	__atomic_store_n(&o->policy, &n->p, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&o->wake);
	pthread_mutex_unlock(&o->mu);
	return 0;
}

/* The primary takes the policy's replication mode and quorum now. */
static void apply_mode(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	int p = orch_site_index(o, o->cluster.primary);
	int64_t epoch = o->cluster.epoch;
	bool resting = fsm_state_reconciles[orch_state_locked(o)];
	pthread_mutex_unlock(&o->mu);
	if (p >= 0 && resting)
		orch_send_role(o, p, orch_role_body(o, p, o->cfg.sites[p].name, epoch));
}

int orch_set_policy(struct orch *o, const struct policy *p, const char *actor,
		    const char *source, char *err, size_t errlen)
{
	const struct policy *was = orch_policy(o);
	bool mode_changed = strcmp(was->mode, p->mode) || was->quorum != p->quorum;
	json_t *j = policy_json(p);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	int rc = text ? store_policy_add(o->store, actor, text, err, errlen) : -1;
	if (!text)
		snprintf(err, errlen, "out of memory");
	if (rc == 0 && publish_policy(o, p, source) != 0) {
		snprintf(err, errlen, "out of memory (the policy is recorded; it applies at restart)");
		rc = -1;
	}
	if (rc == 0) {
		log_event(LOG_WARN, "orch.policy_changed", "{s:s, s:s, s:s}", "actor", actor,
			  "name", p->name, "policy", text);
		if (mode_changed)
			apply_mode(o);
	}
	free(text);
	return rc;
}

/* At start: the newest policy put over REST wins over the file's, as
 * Patroni's dynamic configuration wins over its bootstrap section. */
static int initial_policy(struct orch *o)
{
	struct policy p;
	char err[400];
	json_t *row = store_policy_latest(o->store);
	char *text = row ? json_dumps(json_object_get(row, "policy"), JSON_COMPACT) : NULL;
	struct policy_cluster cl = config_policy_cluster(&o->cfg);
	bool stored = text && policy_parse("stored policy", text, strlen(text), &cl, &p,
					   err, sizeof(err)) == 0;
	if (text && !stored)
		log_event(LOG_ERROR, "orch.stored_policy_refused", "{s:s}", "error", err);
	if (stored)
		log_event(LOG_INFO, "orch.policy_from_store", "{s:O, s:O}", "seq",
			  json_object_get(row, "seq"), "actor", json_object_get(row, "actor"));
	free(text);
	const char *actor = json_string_value(json_object_get(row, "actor")) ?: "";
	const char *source = !stored ? (o->cfg.policy_file[0] ? "file" : "default") :
			     !strcmp(actor, "operator:sighup") ? "file" : "api";
	int rc = publish_policy(o, stored ? &p : &o->cfg.policy, source);
	json_decref(row);
	return rc;
}

/* ---- lifecycle ---------------------------------------------------------------- */

/*
 * A store that is not at its head file lost history (a lost -wal, a
 * restored backup, a rewritten database): drorchd goes on, so that the
 * cluster keeps failing over, but says so: the loss is recorded in the
 * audit (store_head_accept, actor "auto"), /v1/status reports it, and no
 * epoch at or below the floor is issued again.  Its cluster row is then
 * checked against the sites at the first round (STORE_BEHIND).
 */
static int take_history(struct orch *o, char *err, size_t errlen)
{
	struct store_head_status hs;
	if (store_head_status(o->store, &hs, err, errlen) != 0)
		return -1;
	o->epoch_floor = hs.epoch_floor;
	if (hs.writable)
		return 0;
	if (o->cfg.ha.enabled) {
		snprintf(err, errlen, "store %s: %s; with ha, a store is this instance's copy of the"
			 " cluster's log: move it (and its .head) away and start again to rebuild"
			 " it from etcd", o->cfg.db, hs.detail);
		return -1;
	}
	snprintf(o->history_lost, sizeof(o->history_lost), "%s", hs.detail);
	log_event(LOG_ERROR, "orch.store_lost_history", "{s:s, s:s, s:I}", "state",
		  store_head_state_name(hs.state), "detail", hs.detail, "epoch_floor",
		  (json_int_t)hs.epoch_floor);
	return store_head_accept(o->store, "auto", err, errlen);
}


/* With HA a store is a copy of the cluster's log from its first operation:
 * one that holds a cluster row it did not take from a log (a single
 * drorchd's) would differ from every other copy.  -1 with why for such. */
static int not_a_copy(struct orch *o, char *err, size_t errlen)
{
	struct store_cluster c;
	int rc = store_cluster_get(o->store, &c, err, errlen);
	if (rc == 0 && store_applied_index(o->store) == 0) {
		snprintf(err, errlen, "store %s holds a cluster (state %s, epoch %lld) that is not"
			 " from the ha log: an ha instance starts from an empty store, which it"
			 " fills from etcd", o->cfg.db, c.state, (long long)c.epoch);
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static void free_policies(struct orch *o)
{
	while (o->policies) {
		struct policy_node *n = o->policies;
		o->policies = n->next;
		free(n);
	}
}

int orch_start(struct orch **out, const struct config *cfg, char *err, size_t errlen)
{
	struct orch *o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o->cfg = *cfg;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->wake, NULL);
	struct store_options so = { .key_file = cfg->audit_key_file };
	if (auth_read_token(cfg->site_token_file, o->site_token, sizeof(o->site_token),
			    err, errlen) ||
	    store_open_ex(&o->store, cfg->db, &so, err, errlen) ||
	    take_history(o, err, errlen))
		goto fail;
	/* With HA the cluster row is the log's: the first leader writes it. */
	if (cfg->ha.enabled && not_a_copy(o, err, errlen))
		goto fail;
	if (cfg->ha.enabled ? ha_start(&o->ha, &cfg->ha, o->store, err, errlen) != 0 :
	    store_cluster_init(o->store, fsm_state_names[FSM_STEADY], 1, cfg->initial_primary,
			       err, errlen) != 0)
		goto fail;
	if (reload_cluster(o) != 0)
		goto fail;
	atomic_store(&o->ack_ms, stored_ack_ms(o));
	if (initial_policy(o) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!(o->metrics = metrics_new())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (webhook_start(&o->webhooks, cfg, err, errlen) != 0)
		goto fail;
	o->state_entered_ms = time_mono_ms();
	state_timeouts(o);
	o->health_seen = -1;
	o->sites_primary = -1;
	if (monitor_start(o, err, errlen) != 0)
		goto fail_threads;
	int rc = pthread_create(&o->driver, NULL, driver_main, o);
	if (rc != 0) {
		snprintf(err, errlen, "start driver: %s", strerror(rc));
		goto fail_threads;
	}
	*out = o;
	return 0;
fail_threads:
	pthread_mutex_lock(&o->mu);
	o->stopping = true;
	pthread_mutex_unlock(&o->mu);
	for (int i = 0; i < o->nmonitors; i++)
		pthread_join(o->monitors[i], NULL);
fail:
	ha_stop(o->ha);
	webhook_stop(o->webhooks);
	metrics_free(o->metrics);
	store_close(o->store);
	for (int i = 0; i < o->cfg.nsites; i++)
		json_decref(o->views[i].last_rewind);
	free_policies(o);
	free(o);
	return -1;
}

void orch_stop(struct orch *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->stopping = true;
	pthread_cond_broadcast(&o->wake);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->driver, NULL);
	orch_act_clients_free(o);
	for (int i = 0; i < o->nmonitors; i++)
		pthread_join(o->monitors[i], NULL);
	ha_stop(o->ha);
	webhook_stop(o->webhooks);
	metrics_free(o->metrics);
	store_close(o->store);
	for (int i = 0; i < o->cfg.nsites; i++)
		json_decref(o->views[i].last_rewind);
	free_policies(o);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->wake);
	free(o);
}

/* Why an operator's failover cannot go to site t now, or NULL.  (Whether it
 * lacks records another replica flushed is judged by the election, once
 * the fence has stopped the log: the views race.)  Under mu. */
static const char *failover_target_refusal_locked(struct orch *o, int t)
{
	const struct site_view *v = &o->views[t];
	if (!strcmp(o->cfg.sites[t].name, o->cluster.primary))
		return "it is already the primary";
	if (!v->reachable || time_mono_ms() - v->last_ok_ms > orch_window_ms(o))
		return "it does not answer";
	if (strcmp(v->role, "replica") && strcmp(v->role, "fenced"))
		return "it is not a replica";
	if (v->epoch != o->cluster.epoch)
		return "it is not at the cluster's epoch (a returning site must rejoin first)";
	if (v->behind_need_lsn)
		return "it lacks records it once held (damaged or lost log)";
	return NULL;
}

/* The row the table would fire for ev now, when it is not a transition:
 * the request is refused with its reason (why); NULL when it would fire a
 * transition.  Under mu. */
static const struct fsm_row *refusing_row_locked(struct orch *o, enum fsm_event ev, char *why,
						 size_t whylen)
{
	const struct fsm_row *row = fsm_step(orch_state_locked(o), ev, guard_holds, o);
	if (row && row->kind == FSM_TRANSITION)
		return NULL;
	snprintf(why, whylen, "%s (%s in state %s, row %s)", row ? row->reason : "refused",
		 fsm_event_names[ev], o->cluster.state, row ? row->id : "-");
	return row ? row : &fsm_rows[0];
}

static int queue_request(struct orch *o, enum fsm_event ev, const char *actor,
			 const char *target, bool force, const char *kind,
			 const struct runctx_plan *plan, char *why, size_t whylen)
{
	pthread_mutex_lock(&o->mu);
	int t = target && *target ? orch_site_index(o, target) : -1;
	const char *no = ev == FSM_E_OP_FAILOVER && t >= 0 ?
			 failover_target_refusal_locked(o, t) : NULL;
	int rc = 0;
	const struct fsm_row *row = NULL;
	if (refusing_row_locked(o, ev, why, whylen)) {
		rc = 409;
	} else if (no) {
		snprintf(why, whylen, "failover to %s refused: %s", target, no);
		rc = 409;
	} else if (o->op.pending) {
		snprintf(why, whylen, "another operator request is being processed");
		rc = 503;
	} else {
		o->op = (struct op_request){ .event = ev, .force = force, .pending = true };
		snprintf(o->op.actor, sizeof(o->op.actor), "%s", actor);
		snprintf(o->op.target, sizeof(o->op.target), "%s", target ? target : "");
		snprintf(o->op.kind, sizeof(o->op.kind), "%s", kind);
		if (plan)
			o->op.plan = *plan;
		row = fsm_step(orch_state_locked(o), ev, guard_holds, o);
		snprintf(why, whylen, "%s", row->reason);
		pthread_cond_broadcast(&o->wake);
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

int orch_request(struct orch *o, enum fsm_event ev, const char *actor, const char *target,
		 bool force, char *why, size_t whylen)
{
	return queue_request(o, ev, actor, target, force, "failover", NULL, why, whylen);
}

int orch_upgrade(struct orch *o, const char *actor, json_t *plan, int64_t *run_id, char *why,
		 size_t whylen)
{
	struct runctx_plan p;
	int64_t before = current_run(o);
	int rc = runctx_plan_from_json(&p, plan, why, whylen) != 0 ? 400 :
		 queue_request(o, FSM_E_OP_UPGRADE, actor, NULL, false, "upgrade", &p, why,
			       whylen);
	*run_id = 0;
	for (uint64_t end = time_mono_ms() + 5000; rc == 0 && time_mono_ms() < end;
	     time_sleep_ms(10)) {
		pthread_mutex_lock(&o->mu);
		int64_t run = o->cluster.run_id;  /* opened by the row the request fires */
		pthread_mutex_unlock(&o->mu);
		if (run && run != before) {
			*run_id = run;
			return 0;
		}
	}
	if (rc == 0) {
		snprintf(why, whylen, "the upgrade was queued but its run did not open in 5 s: "
			 "see GET /v1/runs and the audit");
		rc = 503;
	}
	return rc;
}

/* The site the last successful failover or switchover took the primary
 * role from (a failback's own runs do not count).  The table accepted the
 * failback, so the machine rests: a newest run still "running" is one its
 * last transition ended and that is being closed (its outcome is written
 * just after): it is waited for, up to a second, or a failback asked in
 * that window would go back past it (check_api under ASan did). */
static int failback_target(struct orch *o, char *name, size_t len)
{
	static const char *const kinds[] = { "failover", "switchover", NULL };
	for (int i = 0; i < 50; i++) {
		json_t *newest = orch_newest_run(o, kinds, NULL);
		bool closing = !strcmp(json_string_value(json_object_get(newest, "outcome")) ?: "",
				       "running");
		json_decref(newest);
		if (!closing)
			break;
		time_sleep_ms(20);
	}
	json_t *r = orch_newest_run(o, kinds, "succeeded");
	const char *from = json_string_value(json_object_get(r, "from_site"));
	int rc = from && *from ? 0 : -1;
	if (rc == 0)
		snprintf(name, len, "%s", from);
	json_decref(r);
	return rc;
}

/* Why site t cannot take over from the primary now, or NULL.  Under mu. */
static const char *not_ready_locked(struct orch *o, int t)
{
	const struct site_view *v = &o->views[t];
	const char *addr = config_peer_addr(&o->cfg, o->cfg.sites[t].name, o->cluster.primary);
	if (!strcmp(o->cfg.sites[t].name, o->cluster.primary))
		return "it is already the primary";
	if (!v->reachable)
		return "it does not answer";
	if (strcmp(v->role, "replica") || v->epoch != o->cluster.epoch)
		return "it is not a replica at the cluster's epoch (a returning old primary must rejoin first)";
	if (strcmp(v->repl_state, "streaming") || strcmp(v->repl_primary, addr))
		return "it is not streaming from the primary";
	return NULL;
}

int orch_switchover(struct orch *o, const char *actor, const char *target, char *why,
		    size_t whylen)
{
	char name[CONFIG_NAME_MAX];
	const char *kind = target ? "switchover" : "failback";
	/* A refusal by the table comes first: it says what runs now. */
	pthread_mutex_lock(&o->mu);
	bool refused = refusing_row_locked(o, FSM_E_OP_SWITCHOVER, why, whylen);
	pthread_mutex_unlock(&o->mu);
	if (refused)
		return 409;
	if (!target) {
		if (failback_target(o, name, sizeof(name)) != 0) {
			snprintf(why, whylen, "failback: no successful failover or switchover to fail "
				 "back from");
			return 409;
		}
		target = name;
	}
	int t = orch_site_index(o, target);
	if (t < 0) {
		snprintf(why, whylen, "%s: no site named '%s'", kind, target);
		return 400;
	}
	pthread_mutex_lock(&o->mu);
	const char *no = not_ready_locked(o, t);
	if (no)
		snprintf(why, whylen, "%s to %s refused: %s", kind, target, no);
	pthread_mutex_unlock(&o->mu);
	if (no)
		return 409;
	return queue_request(o, FSM_E_OP_SWITCHOVER, actor, target, false, kind, NULL, why, whylen);
}

int orch_ack_run(struct orch *o, int64_t run_id, const char *actor, const char *comment,
		 char *why, size_t whylen)
{
	json_t *run = store_run_json(o->store, run_id);
	const char *kind = json_string_value(json_object_get(run, "kind"));
	const char *outcome = json_string_value(json_object_get(run, "outcome"));
	json_t *note = json_pack("{s:s, s:s}", "by", actor, "comment", comment);
	char *text = json_dumps(note, JSON_COMPACT);
	int rc = 0;
	char err[300] = "";
	if (!run) {
		snprintf(why, whylen, "no run %lld", (long long)run_id);
		rc = 404;
	} else if (!kind || strcmp(kind, "failover") || !outcome || !strcmp(outcome, "running")) {
		snprintf(why, whylen, "run %lld is not a failover that ended", (long long)run_id);
		rc = 409;
	} else if (store_run_step(o->store, run_id, "acknowledged", "ok", text, err,
				  sizeof(err)) != 0) {
		snprintf(why, whylen, "store: %s", err);
		rc = 500;
	} else {  /* the step's time is at most now: the guard sees the ack at once */
		atomic_store(&o->ack_ms, (int64_t)time_wall_ms());
	}
	free(text);
	json_decref(note);
	json_decref(run);
	return rc;
}

enum fsm_state orch_state(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	enum fsm_state s = orch_state_locked(o);
	pthread_mutex_unlock(&o->mu);
	return s;
}

bool orch_accepts(struct orch *o, enum fsm_command c, char *state, size_t len)
{
	enum fsm_state s = orch_state(o);
	snprintf(state, len, "%s", fsm_state_names[s]);
	return fsm_state_accepts[s][c];
}

bool orch_streams_locked(struct orch *o, int i)
{
	const struct site_view *v = &o->views[i];
	return v->reachable && v->epoch == o->cluster.epoch && !strcmp(v->role, "replica") &&
	       !strcmp(v->repl_state, "streaming") &&
	       time_mono_ms() - v->last_ok_ms <= orch_window_ms(o);
}

/* primary | replica | fenced | down, as DESIGN.md's status contract says. */
static const char *status_role(const struct site_view *v, uint64_t now, uint64_t window)
{
	if (!v->reachable || now - v->last_ok_ms > window)
		return "down";
	if (!strcmp(v->role, "standalone"))
		return "primary";
	return v->role[0] ? v->role : "down";
}

/* What the spec says of state s, so that clients need no state names:
 * resting, run_open, awaits_operator and the commands it accepts. */
static void state_properties(json_t *j, enum fsm_state s)
{
	json_t *accepts = json_array();
	for (int c = 0; c < FSM_NCOMMANDS; c++)
		if (fsm_state_accepts[s][c])
			json_array_append_new(accepts, json_string(fsm_command_names[c]));
	json_object_set_new(j, "steady", json_boolean(s == FSM_STEADY));
	json_object_set_new(j, "resting", json_boolean(fsm_state_resting[s]));
	json_object_set_new(j, "run_open", json_boolean(fsm_state_run_open[s]));
	json_object_set_new(j, "awaits_operator", json_boolean(fsm_state_awaits_operator[s]));
	json_object_set_new(j, "accepts", accepts);
}

/* The failover run an operator must acknowledge before automation may
 * resume (the anti-flapping guard does not hold), or 0. */
static int64_t unacknowledged_run(struct orch *o)
{
	if (guard_holds(o, FSM_G_ANTI_FLAP_OK))
		return 0;
	static const char *const failover[] = { "failover", NULL };
	json_t *r = orch_newest_run(o, failover, "succeeded");
	int64_t id = json_integer_value(json_object_get(r, "id"));
	json_decref(r);
	return id;
}

/*
 * In a state that awaits an operator (the spec's awaits_operator): why
 * (the transition that entered it and, when it ended a run, what that run
 * found) and the exact commands to give, in order.  NULL otherwise.
 */
static json_t *operator_guidance(struct orch *o, enum fsm_state s)
{
	if (!fsm_state_awaits_operator[s])
		return NULL;
	json_t *t = store_last_transition_json(o->store);
	int64_t run = json_integer_value(json_object_get(t, "run_id"));
	json_t *r = run ? store_run_json(o->store, run) : NULL, *st;
	const char *kind = json_string_value(json_object_get(r, "kind")) ?: "";
	json_t *g = json_pack("{s:s, s:s, s:O?, s:[]}", "why",
			      json_string_value(json_object_get(t, "reason")) ?: "",
			      "row", json_string_value(json_object_get(t, "row_id")) ?: "",
			      "run", run ? json_object_get(t, "run_id") : NULL, "next");
	size_t i;
	json_array_foreach(json_object_get(r, "steps"), i, st)  /* what the run found */
		if (g && strcmp(json_string_value(json_object_get(st, "status")) ?: "", "ok")) {
			json_t *d = json_object_get(st, "detail");
			json_t *found = json_object_get(d, "refused") ?: json_object_get(d, "error");
			if (json_is_string(found))
				json_object_set(g, "found", found);
		}
	json_t *next = json_object_get(g, "next");
	int64_t unacked = unacknowledged_run(o);
	if (unacked)
		json_array_append_new(next, json_sprintf("drctl ack %lld --comment TEXT",
							 (long long)unacked));
	if (fsm_state_accepts[s][FSM_C_RESUME])
		json_array_append_new(next, json_string("drctl resume"));
	if (fsm_state_accepts[s][FSM_C_FAILOVER] && !strcmp(kind, "failover"))
		json_array_append_new(next, json_string("drctl failover [--to SITE] [--force] "
							"(instead: an operator's failover)"));
	if (!strcmp(kind, "upgrade"))
		json_array_append_new(next, json_string("drctl upgrade --rollback (after resume: "
							"back to the cluster's fcv)"));
	json_decref(r);
	json_decref(t);
	return g;
}

json_t *orch_status_json(struct orch *o)
{
	uint64_t now = time_mono_ms();
	uint64_t window = orch_window_ms(o);
	json_t *sites = json_array();
	const struct policy *pol = orch_policy(o);
	pthread_mutex_lock(&o->mu);
	int primary = orch_site_index(o, o->cluster.primary);
	for (int i = 0; i < o->cfg.nsites; i++) {
		const struct site_view *v = &o->views[i];
		const struct config_site *c = &o->cfg.sites[i];
		const char *role = status_role(v, now, window);
		struct replica_in rin = { .now = now, .last_ok = v->last_ok_ms ? v->last_ok_ms : now,
					  .window = window, .rpo_ms = pol->rpo_ms,
					  .rpo_records = pol->rpo_records };
		char why[200];
		enum replica_health h = i == primary ? REPLICA_OK :
					decide_replica(v, &rin, why, sizeof(why));
		struct lag lag = decide_lag(primary >= 0 ? &o->views[primary] : NULL, v);
		json_t *site = json_pack(
			"{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:s, s:s, s:i, s:I, s:b, s:s, s:I}",
			"name", c->name, "url", c->url, "region", c->region, "role", role,
			"healthy", strcmp(role, "down") != 0, "lsn", (json_int_t)v->lsn,
			"flushed_lsn", (json_int_t)v->flushed_lsn, "epoch", (json_int_t)v->epoch,
			"version", v->version, "fcv", v->fcv, "format", v->format,
			"lag_ms", (json_int_t)lag.ms, "lag_exact", lag.exact,
			"replication", v->repl_state,
			"last_seen_ms_ago", (json_int_t)(v->last_ok_ms ? now - v->last_ok_ms : 0));
		/* A replica's health against the policy: the figure past the RPO. */
		json_object_set_new(site, "lag_records", json_integer(lag.records));
		json_object_set_new(site, "canary_failures", json_integer(v->canary_failures));
		json_object_set_new(site, "canary_ms", i == primary && v->canary_ms >= 0 ?
				    json_integer(v->canary_ms) : json_null());
		json_object_set_new(site, "rpo_breached", json_boolean(h == REPLICA_PAST_RPO));
		json_object_set_new(site, "degraded", h == REPLICA_OK ? json_null() : json_string(why));
		json_array_append_new(sites, site);
	}
	json_t *j = json_pack("{s:s, s:I, s:s, s:I, s:s, s:o, s:s, s:I, s:I, s:{s:b, s:s, s:I}}",
			      "state", o->cluster.state, "epoch", (json_int_t)o->cluster.epoch,
			      "primary", o->cluster.primary, "version", (json_int_t)o->cluster.version,
			      "action", o->cluster.action, "sites", sites,
			      "policy", orch_policy(o)->name, "run", (json_int_t)o->cluster.run_id,
			      "sites_epoch", (json_int_t)o->sites_epoch,
			      "store", "history_lost", o->history_lost[0] != '\0',
			      "detail", o->history_lost, "epoch_floor", (json_int_t)o->epoch_floor);
	enum fsm_state s = orch_state_locked(o);
	state_properties(j, s);
	pthread_mutex_unlock(&o->mu);
	/* For the state this answer shows (read under the lock with the rest),
	 * not one read before it: a state entered in between would be shown
	 * without its guidance. */
	json_t *guidance = operator_guidance(o, s);
	if (guidance)
		json_object_set_new(j, "awaiting_operator", guidance);
	json_object_set_new(j, "ha", o->ha ? ha_status_json(o->ha) : json_pack("{s:b}", "enabled", 0));
	return j;
}
