/*
 * actions.c — what drorchd does in each failover state.  Each action runs
 * after its transition is committed, returns the event that ends its state,
 * and is idempotent: after a crash it runs again with the epoch already in
 * the cluster row (role and fence commands at an epoch a site already has
 * are confirmations, not changes).
 *
 *   confirm   SUSPECT: did the primary's replicas lose it too?
 *   fence     FENCING: new epoch to every reachable site; old lease expires
 *   elect     ELECTING: newest log (last epoch, flushed LSN); candidate order; region;
 *             waits for unheard sites within the RTO budget
 *   promote   PROMOTING: primary at the new epoch, replicas repointed,
 *             a canary write (the first write the new primary acknowledges)
 *   redirect  REDIRECTING: every replica streams from the new primary?
 *   drain     SWITCHOVER: primary's writes paused; target flushed its last LSN?
 *   reopen    (aborted switchover): the primary takes writes again
 *
 * The failover steps talk to the sites on the driver's kept per-site
 * clients, and to several sites at once (fanout.h): fence, testimonies,
 * the replicas' role commands.
 *
 * The upgrade states' actions (swap, finalize) are in upgrading.c, the
 * rejoin's in rejoin.c.  An action reads its run's context and notes what
 * it did in a struct act_result (orch.h); the driver records it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "fanout.h"
#include "log.h"
#include "orch.h"
#include "siteapi.h"
#include "timeutil.h"

#define POLL_MS 20
#define CONFIRM_POLL_MS 5   /* judging the views is cheap; detection waits on it */

uint64_t orch_state_deadline(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	int s = fsm_state_by_name(o->cluster.state);
	uint64_t d = o->state_entered_ms + (s >= 0 ? o->state_timeout_ms[s] : 0);
	pthread_mutex_unlock(&o->mu);
	return d > 100 ? d - 100 : d;
}

static uint64_t mono_to_wall(uint64_t mono)
{
	return time_wall_ms() - (time_mono_ms() - mono);
}

/* ---- confirm ----------------------------------------------------------------------- */

int orch_judge_locked(struct orch *o, int p, uint64_t now)
{
	const char *addr[CONFIG_MAX_SITES];
	for (int i = 0; i < o->cfg.nsites; i++)
		addr[i] = config_peer_addr(&o->cfg, o->cfg.sites[i].name, o->cfg.sites[p].name);
	struct judge_in in = { .epoch = o->cluster.epoch, .now = now,
			       .window = orch_window_ms(o),
			       .heartbeat = orch_policy(o)->heartbeat_ms, .peer_addr = addr };
	return decide_judge(o->views, o->cfg.nsites, p, &in);
}

bool orch_regressed_locked(struct orch *o, int p, int64_t *need_lsn)
{
	const char *addr[CONFIG_MAX_SITES];
	for (int i = 0; i < o->cfg.nsites; i++)
		addr[i] = config_peer_addr(&o->cfg, o->cfg.sites[i].name, o->cfg.sites[p].name);
	return decide_regressed(o->views, o->cfg.nsites, p, o->cluster.epoch, addr, need_lsn);
}

static int act_confirm(struct orch *o, struct act_result *r)
{
	int p = orch_site_index(o, o->cluster.primary);
	uint64_t deadline = orch_state_deadline(o);
	pthread_mutex_lock(&o->mu);
	uint64_t last_ok = o->views[p].last_ok_ms;
	pthread_mutex_unlock(&o->mu);
	orch_result_mark(r, "last_good_heartbeat", (int64_t)mono_to_wall(last_ok));
	while (!orch_stopping(o) && time_mono_ms() < deadline) {
		pthread_mutex_lock(&o->mu);
		enum verdict v = orch_judge_locked(o, p, time_mono_ms());
		pthread_mutex_unlock(&o->mu);
		if (v == V_BACK)
			return FSM_E_PRIMARY_BACK;
		if (v == V_LINK_ONLY)
			return FSM_E_LINK_ONLY;
		if (v == V_DOWN) {
			json_t *d = json_pack("{s:s, s:I}", "primary", o->cfg.sites[p].name,
					      "last_good_heartbeat", (json_int_t)mono_to_wall(last_ok));
			r->ctx.detected_ms = (int64_t)time_wall_ms();
			r->ctx.last_good_heartbeat_ms = (int64_t)mono_to_wall(last_ok);
			log_event(LOG_WARN, "orch.primary_failed", "{s:O}", "detail", d);
			json_decref(d);
			return FSM_E_CONFIRMED_DOWN;
		}
		time_sleep_ms(CONFIRM_POLL_MS);
	}
	return FSM_E_TIMEOUT;
}

/* ---- fence ------------------------------------------------------------------------- */

/* The site the running recovery takes over from: the cluster row's
 * primary, or -1 when the row is not to be believed (a store behind the
 * sites with no primary at their newest epoch: R02). */
static int run_old_primary(struct orch *o, const struct run_ctx *c)
{
	bool believed = !c->primary_unknown;
	pthread_mutex_lock(&o->mu);
	int old = believed ? orch_site_index(o, o->cluster.primary) : -1;
	pthread_mutex_unlock(&o->mu);
	return old;
}

/* What fencing found: whether the old primary took the fence, and for each
 * replica that took it, the latest instant it can have renewed the old
 * primary's lease. */
struct fenced {
	bool old_fenced;
	int64_t old_lsn;           /* the old primary's last LSN when it took the fence */
	uint64_t bound[CONFIG_MAX_SITES];
	int n;
};

/* Sends fence{epoch} to site i: its HTTP status (200: it took the epoch),
 * its answer into *answer (may be NULL), else why into err. */
static long fence_site(struct orch *o, struct httpc *c, int i, int64_t epoch, json_t **answer,
		       char *err, size_t errlen)
{
	json_t *body = json_pack("{s:I}", "epoch", (json_int_t)epoch);
	long st = body ? siteapi_admin_json(c, o->cfg.sites[i].url, o->site_token, "fence", body,
					    (long)orch_window_ms(o), answer, err, errlen) : 0;
	json_decref(body);
	return st;
}

/* The fence sent to every site at once: each site's answer and when it came. */
struct fence_job {
	int64_t epoch;
	struct fence_answer {
		long st;
		json_t *answer;
		uint64_t rx;
		char err[300];
	} a[CONFIG_MAX_SITES];
};

static void fence_one(struct orch *o, struct httpc *h, int i, void *arg)
{
	struct fence_job *j = arg;
	struct fence_answer *a = &j->a[i];
	if (h)
		a->st = fence_site(o, h, i, j->epoch, &a->answer, a->err, sizeof(a->err));
	else
		snprintf(a->err, sizeof(a->err), "out of memory");
	a->rx = time_mono_ms();
}

/* Sends fence{epoch} to every site, all at once (each answer in report). */
static void fence_all(struct orch *o, int old, int64_t epoch, json_t *report, struct fenced *f)
{
	struct fence_job j = { .epoch = epoch };
	bool every[CONFIG_MAX_SITES];
	for (int i = 0; i < CONFIG_MAX_SITES; i++)
		every[i] = true;
	orch_fanout(o, every, fence_one, &j);
	for (int i = 0; i < o->cfg.nsites; i++) {
		const char *err = j.a[i].err;
		json_t *answer = j.a[i].answer;
		long st = j.a[i].st;
		uint64_t rx = j.a[i].rx;
		if (st == 200 && i == old) {
			/* Its last LSN as it took the fence: it acknowledges nothing
			 * after it, so the RPO is measured against it. */
			f->old_fenced = true;
			f->old_lsn = json_integer_value(json_object_get(answer, "lsn"));
		} else if (st == 200) {
			/* It stopped fetching at the old epoch when it took the
			 * fence; the last answer it had from the old primary (and
			 * so the newest lease nonce it can echo) is older still. */
			json_t *ago = json_object_get(answer, "primary_contact_ms_ago");
			int64_t a = json_is_integer(ago) ? json_integer_value(ago) : 0;
			f->bound[f->n++] = a < 0 ? 0 : (uint64_t)a < rx ? rx - (uint64_t)a : 0;
		}
		json_decref(answer);
		json_object_set_new(report, o->cfg.sites[i].name,
				    json_string(st == 200 ? "fenced" : err[0] ? err : "no answer"));
	}
}

/* The longest lease site v may hold at its epoch (decide_lease_bound). */
static uint64_t fence_lease(const struct site_view *v)
{
	return decide_lease_bound(v->lease_ms, v->lease_max_ms, v->lease_asked_ms,
				  v->lease_asked_epoch, v->lease_conf_epoch, v->epoch);
}

/*
 * FENCING: the new epoch (already in the cluster row) to every site, then,
 * unless the old primary took it, wait until its write lease has surely
 * ended (decide_lease_end: drorchd's last nonce sent to it, and the fenced
 * replicas' last contact with it).  When its replicas could keep its lease
 * alive (too few fenced), no wait is enough: the failover stops (HELD).
 */
static int act_fence(struct orch *o, struct act_result *r)
{
	int old = run_old_primary(o, &r->ctx);
	pthread_mutex_lock(&o->mu);
	int64_t epoch = o->cluster.epoch;
	/* Unknown primary, or one this drorchd never heard (it restarted while
	 * cut off from it: its view is all zeros): any site's lease, renewed by
	 * an earlier drorchd until now at the latest, and by at least one
	 * replica (drchaos seed 22006 waited 0 ms on a zeroed view). */
	bool known = old >= 0 && o->views[old].last_ok_ms > 0;
	uint64_t lease = 0, orch_bound = time_mono_ms();
	int k = 1;
	for (int i = 0; i < o->cfg.nsites; i++) {
		uint64_t l = fence_lease(&o->views[i]);
		if ((!known || i == old) && l > lease)
			lease = l;
	}
	lease = lease ? lease : 500;
	if (known) {
		orch_bound = o->views[old].nonce_used_rx_ms;
		k = o->views[old].lease_replicas >= 1 ? o->views[old].lease_replicas : 1;
	}
	pthread_mutex_unlock(&o->mu);
	/* A failover's detection timestamps (a switchover has none). */
	if (r->ctx.last_good_heartbeat_ms > 0)
		orch_result_mark(r, "last_good_heartbeat", r->ctx.last_good_heartbeat_ms);
	if (r->ctx.detected_ms > 0)
		orch_result_mark(r, "detected", r->ctx.detected_ms);
	json_t *report = json_object();
	struct fenced f = { 0 };
	fence_all(o, old, epoch, report, &f);
	uint64_t now = time_mono_ms(), until = now;
	bool bounded = f.old_fenced ||
		       decide_lease_end(orch_bound, k, o->cfg.nsites - 1, f.bound, f.n, lease,
					50 + lease / 20, &until);
	uint64_t waited = f.old_fenced || until <= now ? 0 : until - now;
	if (bounded && !f.old_fenced)
		for (uint64_t t; (t = time_mono_ms()) < until && !orch_stopping(o); )
			time_sleep_ms(until - t < POLL_MS ? until - t : POLL_MS);
	json_object_set_new(report, "epoch", json_integer(epoch));
	json_object_set_new(report, "waited_lease_ms", json_integer((json_int_t)waited));
	if (f.old_fenced)
		r->ctx.old_primary_lsn = f.old_lsn;
	if (!bounded)
		json_object_set_new(report, "error", json_string(
			"too few replicas fenced: the old primary's replicas may keep its lease alive"));
	orch_result_step(r, "fence", bounded ? "ok" : "failed", report);
	return bounded ? FSM_E_FENCED : FSM_E_ACTION_FAILED;
}

/* ---- elect ------------------------------------------------------------------------- */

static int policy_order(const struct orch *o, const char *name)
{
	for (int i = 0; i < orch_policy(o)->ncandidates; i++)
		if (strcmp(orch_policy(o)->candidates[i], name) == 0)
			return i;
	return CONFIG_MAX_SITES;
}

/* The epoch of a site's last durable record, from its status: the WAL's
 * own, else its epoch history's at flushed (0 when neither says). */
static int64_t log_last_epoch(json_t *st, int64_t flushed)
{
	json_t *e = json_object_get(json_object_get(st, "wal"), "last_epoch");
	if (json_integer_value(e) > 0)
		return json_integer_value(e);
	json_t *hist = json_object_get(st, "epoch_history");
	size_t n = json_array_size(hist), i;
	int64_t *epochs = n ? calloc(n, sizeof(*epochs)) : NULL;
	int64_t *first = n ? calloc(n, sizeof(*first)) : NULL;
	int64_t last = 0;
	if (epochs && first) {
		json_t *h;
		json_array_foreach(hist, i, h) {
			epochs[i] = json_integer_value(json_object_get(h, "epoch"));
			first[i] = json_integer_value(json_object_get(h, "first_lsn"));
		}
		last = decide_epoch_at(epochs, first, (int)n, flushed);
	}
	free(epochs);
	free(first);
	return last;
}

/* Why a site does not testify; the first three may pass by waiting. */
static const char UNREACHABLE[] = "unreachable";
static const char NOT_FENCED[] = "not fenced at the new epoch";
static const char IN_SNAPSHOT[] = "still in a snapshot transfer";
static const char NOT_REPLICA[] = "not a replica";

/* Asks site i for its status now; fills c if it may take over at epoch
 * (NULL), else says why not.  Its answer (or why) in report. */
static const char *testify(struct orch *o, struct httpc *h, int i, int old, int64_t epoch,
			   struct candidate *c, json_t *report)
{
	char err[300];
	json_t *st = siteapi_status(h, o->cfg.sites[i].url, o->site_token, (long)orch_window_ms(o),
				    err, sizeof(err));
	const char *role = json_string_value(json_object_get(st, "role"));
	const char *rs = json_string_value(json_object_get(json_object_get(st, "replication"), "state"));
	const char *why = !st ? UNREACHABLE :
			  json_integer_value(json_object_get(st, "epoch")) != epoch ? NOT_FENCED :
			  !role || (strcmp(role, "fenced") && strcmp(role, "replica")) ? NOT_REPLICA :
			  rs && !strcmp(rs, "snapshot") ? IN_SNAPSHOT : NULL;
	if (st && !why) {
		int64_t flushed = json_integer_value(json_object_get(st, "flushed_lsn"));
		json_t *behind = json_object_get(st, "behind");
		int64_t need = json_integer_value(json_object_get(behind, "need_lsn"));
		*c = (struct candidate){
			.last_epoch = log_last_epoch(st, flushed),
			.lacks = need > flushed, .need = need,
			.need_unknown = json_is_false(json_object_get(behind, "need_known")),
			.idx = i, .flushed = flushed,
			.lsn = json_integer_value(json_object_get(st, "lsn")),
			.last_commit_ms = json_integer_value(json_object_get(st, "last_commit_ms")),
			.lag_ms = json_integer_value(json_object_get(json_object_get(st, "replication"), "lag_ms")),
			.order = policy_order(o, o->cfg.sites[i].name),
			.other_region = old >= 0 && strcmp(o->cfg.sites[i].region, o->cfg.sites[old].region) != 0,
			.name = o->cfg.sites[i].name };
	}
	json_object_set_new(report, o->cfg.sites[i].name, why ? json_string(why) :
		json_pack("{s:I, s:I, s:b, s:I, s:b}", "flushed_lsn", (json_int_t)c->flushed,
			  "last_epoch", (json_int_t)c->last_epoch, "behind", c->lacks,
			  "need_lsn", (json_int_t)(c->lacks ? c->need : 0),
			  "need_known", !(c->lacks && c->need_unknown)));
	json_decref(st);
	return why;
}

/* Site i's testimony; a site that answers at an older epoch (unreachable
 * while the fence step ran, or stopped) is first fenced at epoch exactly
 * as the fence step does, so that it can testify and stand. */
static const char *testify_fenced(struct orch *o, struct httpc *h, int i, int old, int64_t epoch,
				  struct candidate *c, json_t *report)
{
	const char *why = testify(o, h, i, old, epoch, c, report);
	char err[300];
	json_t *answer = NULL;
	if (why == NOT_FENCED && fence_site(o, h, i, epoch, &answer, err, sizeof(err)) == 200)
		why = testify(o, h, i, old, epoch, c, report);
	json_decref(answer);
	return why;
}

/* Every site's testimony, asked at once: each kept apart until merged. */
struct testify_job {
	int old;
	int64_t epoch;
	struct testimony {
		const char *why;
		struct candidate c;
		json_t *report;    /* this site's entry */
	} t[CONFIG_MAX_SITES];
};

static void testify_one(struct orch *o, struct httpc *h, int i, void *arg)
{
	struct testify_job *j = arg;
	struct testimony *t = &j->t[i];
	t->report = json_object();
	if (h)
		t->why = testify_fenced(o, h, i, j->old, j->epoch, &t->c, t->report);
	else
		json_object_set_new(t->report, o->cfg.sites[i].name, json_string(t->why = UNREACHABLE));
}

/* The testimonies of the sites at the new epoch (each site's answer in
 * report): into c[] the eligible sites but the old primary, into *stand
 * the old primary when it may stand, into unheard the names of those that
 * may be elected but did not testify yet.  Returns how many in c[]. */
static int gather_testimonies(struct orch *o, int old, int64_t epoch, bool may_stand,
			      struct candidate *c, struct candidate *stand, json_t *report,
			      json_t *unheard)
{
	struct testify_job *j = calloc(1, sizeof(*j));
	bool asked[CONFIG_MAX_SITES] = { false };
	int n = 0;
	if (!j)
		return 0;
	*j = (struct testify_job){ .old = old, .epoch = epoch };
	for (int i = 0; i < o->cfg.nsites; i++)
		asked[i] = i != old || may_stand;
	orch_fanout(o, asked, testify_one, j);  /* every site at once */
	for (int i = 0; i < o->cfg.nsites; i++) {
		struct testimony *t = &j->t[i];
		if (!asked[i])
			continue;
		json_object_update(report, t->report);
		json_decref(t->report);
		if (!t->why && i == old)
			*stand = t->c;
		else if (!t->why)
			c[n++] = t->c;
		else if (t->why != NOT_REPLICA)
			json_array_append_new(unheard, json_string(o->cfg.sites[i].name));
	}
	free(j);
	return n;
}

#define ELECT_POLL_MS 100       /* between two rounds of testimonies while waiting */
#define PROMOTE_RESERVE_MS 300  /* of the RTO budget, kept for the promotion and first write */

/* One election as it waits: what it knows before the testimonies, and the
 * testimonies of the last round. */
struct election {
	struct elect_in in;
	int old;
	int64_t epoch;
	bool may_stand;
	int64_t start_wall;     /* the run's last good heartbeat: the RTO budget's start */
	struct candidate sites[CONFIG_MAX_SITES], stand;
	json_t *report, *unheard;   /* the last round's */
	struct elect_out out;
	struct budget_out budget;
};

/* A round: every site's testimony (a late site fenced first), the
 * election on them, and the choice against the RTO budget. */
static void elect_round(struct orch *o, struct election *e, uint64_t deadline)
{
	const struct policy *p = orch_policy(o);
	json_decref(e->report);
	json_decref(e->unheard);
	e->report = json_object();
	e->unheard = json_array();
	e->stand = (struct candidate){ .idx = -1 };
	e->in.n = gather_testimonies(o, e->old, e->epoch, e->may_stand, e->sites, &e->stand,
				     e->report, e->unheard);
	e->in.stand = e->stand.idx >= 0 ? &e->stand : NULL;
	decide_elect(&e->in, &e->out);
	/* A round may take a status and a fence timeout per unheard site. */
	int64_t round = (int64_t)(2 * orch_window_ms(o) + ELECT_POLL_MS), now = (int64_t)time_mono_ms();
	struct budget_in b = { .elect = &e->out, .unheard = (int)json_array_size(e->unheard),
			       .elapsed_ms = (int64_t)time_wall_ms() - e->start_wall,
			       .rto_ms = (int64_t)p->rto_ms, .reserve_ms = PROMOTE_RESERVE_MS,
			       .state_left_ms = (int64_t)deadline - now - round,
			       .prefer_rto = !strcmp(p->prefer, "rto"),
			       .rpo_ms_max = p->rpo_ms, .rpo_records_max = p->rpo_records };
	decide_budget(&b, &e->budget);
}

/* What the election knows before the testimonies: the policy, the
 * operator's request, how far the old primary's log went. */
static void election_begin(struct orch *o, const struct run_ctx *c, struct election *e)
{
	const struct policy *p = orch_policy(o);
	e->old = run_old_primary(o, c);
	e->in = (struct elect_in){ .fenced_at = c->old_primary_lsn,
				   .target = c->target[0] ? c->target : NULL, .force = c->force,
				   .sync = strcmp(p->mode, "async") != 0, .quorum = p->quorum,
				   .nsites = o->cfg.nsites, .rpo_ms_max = p->rpo_ms,
				   .rpo_records_max = p->rpo_records, .sites = e->sites };
	pthread_mutex_lock(&o->mu);
	e->epoch = o->cluster.epoch;
	if (e->old >= 0) {  /* how far its log went: records it lost were acked, or lost without a trace */
		const struct site_view *v = &o->views[e->old];
		int64_t need = decide_behind_evidence(v);
		e->in.last_seen = v->lsn > need ? v->lsn : need;
		e->in.last_seen = v->primary_high > e->in.last_seen ? v->primary_high : e->in.last_seen;
		e->in.newest_commit_ms = v->primary_high_commit_ms;
	}
	e->may_stand = e->old >= 0 && c->regressed && !o->views[e->old].wal_failed && !e->in.target;
	pthread_mutex_unlock(&o->mu);
	if (e->in.fenced_at > e->in.last_seen)  /* a live old primary's last LSN, as it took the fence */
		e->in.last_seen = e->in.fenced_at;
	/* A failover's budget runs from the last good heartbeat, kept in the run
	 * context so a restarted drorchd resumes it; a switchover's from now. */
	e->start_wall = c->last_good_heartbeat_ms > 0 ? c->last_good_heartbeat_ms :
			(int64_t)time_wall_ms();
}

/* The election's record: {choice, why, waited_ms, prefer, unheard}. */
static json_t *election_json(struct orch *o, const struct election *e, uint64_t waited)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:O}", "choice",
			 decide_choice_names[e->budget.choice], "why", e->budget.why,
			 "waited_ms", (json_int_t)waited, "prefer", orch_policy(o)->prefer,
			 "unheard", e->unheard);
}

/* Notes the election's outcome in r (the elect step, the run's detail
 * `election`, the candidate and its RPO); its event. */
static int election_result(struct orch *o, struct election *e, struct act_result *r,
			   uint64_t waited)
{
	const struct candidate *best = e->budget.elected;
	json_t *report = e->report, *election = election_json(o, e, waited);
	e->report = NULL;
	json_object_set_new(report, "rpo_records", json_integer(e->out.rpo_records));
	json_object_set_new(report, "rpo_ms", json_integer(e->out.rpo_ms));
	json_object_set_new(report, "rpo_exact", json_boolean(e->out.rpo_exact));
	json_object_set_new(report, "sites_heard", json_integer(e->out.heard));
	json_object_set(report, "election", election);
	orch_result_detail(r, "election", election);
	if (!best) {
		json_object_set_new(report, "refused", json_string(e->budget.why));
	} else {
		if (e->out.forced)  /* an operator accepted what the election refuses */
			json_object_set_new(report, "forced", json_true());
		const char *name = o->cfg.sites[best->idx].name;
		snprintf(r->ctx.candidate, sizeof(r->ctx.candidate), "%s", name);
		r->ctx.rpo_records = e->out.rpo_records;
		r->ctx.rpo_ms = e->out.rpo_ms;
		orch_result_detail(r, "rpo_exact", json_boolean(e->out.rpo_exact));
		orch_result_mark(r, "decided", (int64_t)time_wall_ms());
		json_object_set_new(report, "candidate", json_string(name));
	}
	orch_result_step(r, "elect", best ? "ok" : "failed", report);
	return best ? FSM_E_ELECTED : FSM_E_NO_CANDIDATE;
}

/*
 * ELECTING: every site testifies to how far its log goes (an operator's
 * target alone may be chosen).  While the best candidate lacks records
 * known to exist and a site did not testify, the testimonies are gathered
 * again every ELECT_POLL_MS as long as the RTO budget allows (decide_budget);
 * then the best within the RPO is elected, or per the policy's prefer the
 * best beyond it, or nobody (HELD).  The choice and why go to the step's
 * report and the run's detail (election).
 */
static int act_elect(struct orch *o, struct act_result *r)
{
	struct election *e = calloc(1, sizeof(*e));
	if (!e)
		return FSM_E_ACTION_FAILED;
	uint64_t t0 = time_mono_ms(), deadline = orch_state_deadline(o);
	election_begin(o, &r->ctx, e);
	elect_round(o, e, deadline);
	while (e->budget.choice == ELECTION_WAIT && !orch_stopping(o)) {
		time_sleep_ms(ELECT_POLL_MS);
		elect_round(o, e, deadline);
	}
	/* Stopping mid-wait: no event; the next start re-runs the election. */
	int ev = e->budget.choice == ELECTION_WAIT ? -1 :
		 election_result(o, e, r, time_mono_ms() - t0);
	json_decref(e->report);
	json_decref(e->unheard);
	free(e);
	return ev;
}

/* ---- promote ----------------------------------------------------------------------- */

/* Sends a role command (body is consumed); its HTTP status, the answer's
 * lease nonce kept, else why into err. */
static long role_send(struct orch *o, struct httpc *h, int i, json_t *body, char *err,
		      size_t errlen)
{
	for (int tries = 0;; tries++) {
		json_t *answer = NULL;
		long st = siteapi_admin_json(h, o->cfg.sites[i].url, o->site_token, "role", body,
					     (long)orch_window_ms(o), &answer, err, errlen);
		orch_note_nonce(o, i, answer);
		/* A site restarted since its last status was read takes the role
		 * but not as a confirmation (its nonce was of its last start):
		 * once more, with the nonce this answer gave.  Unconfirmed, a new
		 * primary would refuse every write (a failover held at PROMOTING). */
		bool again = st == 200 && tries == 0 &&
			     json_is_false(json_object_get(answer, "confirmed"));
		json_decref(answer);
		if (!again) {
			json_decref(body);
			return st;
		}
		body = orch_with_nonce(o, i, body);
	}
}

/* Sends a role command; true on 200 (its outcome in report). */
static bool role_cmd(struct orch *o, struct httpc *h, int i, json_t *body, json_t *report)
{
	char err[300] = "";
	long st = role_send(o, h, i, body, err, sizeof(err));
	json_object_set_new(report, o->cfg.sites[i].name, json_string(st == 200 ? "ok" : err));
	return st == 200;
}

/* Renews the new primary's lease while it is not yet the cluster row's
 * primary (the monitor heartbeats that one): a heartbeat at the new epoch
 * with its newest nonce, whose answer brings the next nonce. */
static void renew_candidate(struct orch *o, struct httpc *h, int cand, int64_t epoch)
{
	char err[300];
	json_t *answer = NULL;
	json_t *body = orch_with_nonce(o, cand, json_pack("{s:I}", "epoch", (json_int_t)epoch));
	siteapi_admin_json(h, o->cfg.sites[cand].url, o->site_token, "heartbeat", body,
			   (long)orch_window_ms(o), &answer, err, sizeof(err));
	json_decref(body);
	orch_note_nonce(o, cand, answer);
	json_decref(answer);
}

/* The primary's role command: the policy's mode, or async (recorded) when
 * the policy allows it and no replica is left to confirm writes. */
static json_t *primary_body(struct orch *o, int cand, int64_t epoch, int replicas, json_t *report)
{
	json_t *body = orch_role_body(o, cand, o->cfg.sites[cand].name, epoch);
	const struct policy *p = orch_policy(o);
	if (replicas == 0 && strcmp(p->mode, "async") && p->degrade_to_async) {
		json_object_set_new(body, "mode", json_string("async"));
		json_object_set_new(body, "quorum", json_integer(1));
		json_object_set_new(report, "rpo_protection", json_string("off: no replica left"));
	}
	return body;
}

/* After the new primary's role command, at once: the role command that
 * repoints each other site to it, and the heartbeat that renews its lease. */
struct follow_job {
	int cand;
	int64_t epoch;
	json_t *body[CONFIG_MAX_SITES];   /* the role commands, consumed */
	long st[CONFIG_MAX_SITES];
	char err[CONFIG_MAX_SITES][300];
};

static void follow_one(struct orch *o, struct httpc *h, int i, void *arg)
{
	struct follow_job *j = arg;
	if (!h) {
		json_decref(j->body[i]);
		snprintf(j->err[i], sizeof(j->err[i]), "out of memory");
	} else if (i == j->cand) {
		renew_candidate(o, h, i, j->epoch);
	} else {
		j->st[i] = role_send(o, h, i, j->body[i], j->err[i], sizeof(j->err[i]));
	}
}

/* Repoints every site in follows[] to the new primary cand and renews its
 * lease, all at once; each follower's outcome in report.  false: out of
 * memory, nothing sent. */
static bool follow_all(struct orch *o, int cand, int64_t epoch, const bool follows[],
		       json_t *report)
{
	struct follow_job *j = calloc(1, sizeof(*j));
	bool which[CONFIG_MAX_SITES] = { false };
	if (!j)
		return false;
	j->cand = cand;
	j->epoch = epoch;
	for (int i = 0; i < o->cfg.nsites; i++) {
		which[i] = follows[i] || i == cand;
		if (follows[i])
			j->body[i] = orch_role_body(o, i, o->cfg.sites[cand].name, epoch);
	}
	orch_fanout(o, which, follow_one, j);
	for (int i = 0; i < o->cfg.nsites; i++)
		if (follows[i])
			json_object_set_new(report, o->cfg.sites[i].name,
					    json_string(j->st[i] == 200 ? "ok" : j->err[i]));
	free(j);
	return true;
}

/* The first write the new primary acknowledges (retried until deadline,
 * its lease renewed before each try, but the first when renewed). */
static bool first_write(struct orch *o, struct httpc *h, int cand, int64_t epoch,
			uint64_t deadline, bool renewed, char *err, size_t errlen)
{
	snprintf(err, errlen, "no write tried before the state's deadline");
	for (bool renew = !renewed; !orch_stopping(o) && time_mono_ms() < deadline; renew = true) {
		uint64_t ms;
		if (renew)
			renew_candidate(o, h, cand, epoch);
		if (siteapi_canary(h, o->cfg.sites[cand].url, 1000, &ms, err, errlen) == 200)
			return true;
		time_sleep_ms(POLL_MS);
	}
	return false;
}

static int act_promote(struct orch *o, struct act_result *r)
{
	int cand = orch_site_index(o, r->ctx.candidate);
	pthread_mutex_lock(&o->mu);
	int64_t epoch = o->cluster.epoch;
	pthread_mutex_unlock(&o->mu);
	struct httpc *h = orch_act_client(o, cand);
	json_t *report = json_object();
	if (cand < 0 || !h) {
		orch_result_step(r, "promote", "failed", report);
		return FSM_E_ACTION_FAILED;
	}
	/* Every other reachable site follows the new primary, the old primary
	 * too when it is alive (an operator's failover): if its log diverged,
	 * its divergence check refuses it and it applies nothing. */
	int replicas = 0;
	pthread_mutex_lock(&o->mu);
	int old = orch_site_index(o, o->cluster.primary);
	bool follows[CONFIG_MAX_SITES];
	for (int i = 0; i < o->cfg.nsites; i++) {
		follows[i] = i != cand && (i != old || o->views[old].reachable);
		replicas += follows[i] && (o->views[i].reachable || !o->views[i].last_ok_ms);
	}
	pthread_mutex_unlock(&o->mu);
	if (!role_cmd(o, h, cand, primary_body(o, cand, epoch, replicas, report), report)) {
		orch_result_step(r, "promote", "failed", report);
		return FSM_E_ACTION_FAILED;
	}
	orch_result_mark(r, "promoted", (int64_t)time_wall_ms());
	bool renewed = follow_all(o, cand, epoch, follows, report);
	char why[300];
	bool wrote = first_write(o, h, cand, epoch, orch_state_deadline(o), renewed, why,
				 sizeof(why));
	if (wrote)
		orch_result_mark(r, "first_write", (int64_t)time_wall_ms());
	else  /* the last refusal of its first write */
		json_object_set_new(report, "first_write", json_string(why));
	orch_result_step(r, "promote", wrote ? "ok" : "failed", report);
	return wrote ? FSM_E_PROMOTED : FSM_E_TIMEOUT;
}

/* ---- redirect ---------------------------------------------------------------------- */

/* Does every other site stream from the new primary at the epoch?  Under mu. */
static bool all_follow_locked(struct orch *o, int primary, int64_t epoch)
{
	const char *name = o->cfg.sites[primary].name;
	for (int i = 0; i < o->cfg.nsites; i++) {
		const struct site_view *v = &o->views[i];
		if (i != primary &&
		    (!v->reachable || v->epoch != epoch || strcmp(v->role, "replica") ||
		     strcmp(v->repl_state, "streaming") ||
		     strcmp(v->repl_primary, config_peer_addr(&o->cfg, o->cfg.sites[i].name, name))))
			return false;
	}
	return true;
}

/* Can every site that does not follow yet not do so by waiting: down, or
 * refused as diverged by the new primary (a rewind is a rejoin's work)?
 * Under mu. */
static bool none_attaching_locked(struct orch *o, int primary, int64_t epoch)
{
	for (int i = 0; i < o->cfg.nsites; i++) {
		const struct site_view *v = &o->views[i];
		bool follows = v->reachable && v->epoch == epoch && !strcmp(v->role, "replica") &&
			       !strcmp(v->repl_state, "streaming");
		if (i != primary && !follows && v->reachable && !(v->diverged_lsn && v->epoch == epoch))
			return false;
	}
	return true;
}

static int act_redirect(struct orch *o, struct act_result *r)
{
	uint64_t deadline = orch_state_deadline(o);
	uint64_t settle = time_mono_ms() + 3000;  /* give replicas a moment to attach */
	uint64_t least = time_mono_ms() + 2 * orch_window_ms(o);  /* views a poll old */
	bool ok = false;
	while (!orch_stopping(o) && time_mono_ms() < deadline && time_mono_ms() < settle) {
		pthread_mutex_lock(&o->mu);
		int p = orch_site_index(o, o->cluster.primary);
		ok = p >= 0 && all_follow_locked(o, p, o->cluster.epoch);
		bool hopeless = p >= 0 && time_mono_ms() >= least &&
				none_attaching_locked(o, p, o->cluster.epoch);
		pthread_mutex_unlock(&o->mu);
		if (ok || hopeless)
			break;
		time_sleep_ms(POLL_MS * 5);
	}
	r->ctx.all_replicas_follow = ok;
	orch_result_step(r, "redirect", ok ? "ok" : "skipped",
			 json_pack("{s:b}", "all_replicas_follow", ok));
	return FSM_E_REDIRECTED;
}

/* ---- drain and reopen (switchover) ---------------------------------------------------- */

/* The primary's role command with its client writes paused or open. */
static long primary_writes(struct orch *o, struct httpc *h, int p, int64_t epoch, bool paused,
			   char *err, size_t errlen)
{
	json_t *body = orch_role_body(o, p, o->cfg.sites[p].name, epoch);
	json_object_set_new(body, "writes", json_string(paused ? "paused" : "open"));
	json_t *answer = NULL;
	long st = siteapi_admin_json(h, o->cfg.sites[p].url, o->site_token, "role", body,
				     (long)orch_window_ms(o), &answer, err, errlen);
	json_decref(body);
	orch_note_nonce(o, p, answer);
	json_decref(answer);
	return st;
}

/* An integer field of site i's status now, or -1. */
static int64_t status_int(struct orch *o, struct httpc *h, int i, const char *field,
			  int64_t *epoch)
{
	char err[300];
	json_t *st = siteapi_status(h, o->cfg.sites[i].url, o->site_token, (long)orch_window_ms(o),
				    err, sizeof(err));
	int64_t v = st ? json_integer_value(json_object_get(st, field)) : -1;
	if (epoch)
		*epoch = st ? json_integer_value(json_object_get(st, "epoch")) : -1;
	json_decref(st);
	return v;
}

/* Polls until the target has flushed the paused primary's last LSN. */
static bool caught_up(struct orch *o, struct httpc *h, int p, int t, int64_t epoch,
		      uint64_t deadline, json_t *report)
{
	int64_t last = -1, flushed = -1, te = -1, pe = -1;
	while (!orch_stopping(o) && time_mono_ms() < deadline) {
		last = status_int(o, h, p, "lsn", &pe);
		flushed = status_int(o, h, t, "flushed_lsn", &te);
		if (last >= 0 && pe == epoch && te == epoch && flushed >= last)
			break;
		time_sleep_ms(POLL_MS / 4);
	}
	json_object_set_new(report, "primary_lsn", json_integer(last));
	json_object_set_new(report, "target_flushed_lsn", json_integer(flushed));
	return last >= 0 && pe == epoch && te == epoch && flushed >= last;
}

/*
 * SWITCHOVER: pause the primary's client writes (it still ships its WAL),
 * wait until the target has flushed the primary's last LSN, and answer
 * CAUGHT_UP: the fence that follows then loses nothing.  When the target
 * cannot catch up within the policy's switchover.max_pause_ms (or the
 * state's deadline, if sooner), reopen the primary's writes and answer
 * ACTION_FAILED (the switchover aborts; nothing was lost).
 */
static int act_drain(struct orch *o, struct act_result *r)
{
	pthread_mutex_lock(&o->mu);
	int p = orch_site_index(o, o->cluster.primary);
	int64_t epoch = o->cluster.epoch;
	pthread_mutex_unlock(&o->mu);
	int t = orch_site_index(o, r->ctx.target);
	struct httpc *h = orch_site_client(o);
	json_t *report = json_object();
	char err[300] = "";
	uint64_t t0 = time_mono_ms(), max_pause = orch_policy(o)->max_pause_ms;
	uint64_t deadline = orch_state_deadline(o);
	if (t0 + max_pause < deadline)
		deadline = t0 + max_pause;
	bool paused = h && t >= 0 && p >= 0 &&
		      primary_writes(o, h, p, epoch, true, err, sizeof(err)) == 200;
	if (paused)
		orch_result_mark(r, "writes_paused", (int64_t)time_wall_ms());
	bool ok = paused && caught_up(o, h, p, t, epoch, deadline, report);
	json_object_set_new(report, "waited_ms", json_integer((json_int_t)(time_mono_ms() - t0)));
	json_object_set_new(report, "max_pause_ms", json_integer((json_int_t)max_pause));
	if (!ok) {
		if (paused)
			snprintf(err, sizeof(err), "the target did not catch up in %" PRIu64 " ms "
				 "(the policy's switchover.max_pause_ms, or the state's deadline)",
				 deadline - t0);
		json_object_set_new(report, "error", json_string(err[0] ? err :
			"the primary did not pause its writes"));
		if (h && p >= 0)
			primary_writes(o, h, p, epoch, false, err, sizeof(err));
	} else {
		snprintf(r->ctx.candidate, sizeof(r->ctx.candidate), "%s", o->cfg.sites[t].name);
	}
	httpc_free(h);
	orch_result_step(r, "drain", ok ? "ok" : "failed", report);
	return ok ? FSM_E_CAUGHT_UP : FSM_E_ACTION_FAILED;
}

/* After an aborted switchover: the primary takes client writes again. */
static int act_reopen(struct orch *o)
{
	pthread_mutex_lock(&o->mu);
	int p = orch_site_index(o, o->cluster.primary);
	int64_t epoch = o->cluster.epoch;
	pthread_mutex_unlock(&o->mu);
	struct httpc *h = orch_site_client(o);
	char err[300] = "";
	long st = h && p >= 0 ? primary_writes(o, h, p, epoch, false, err, sizeof(err)) : 0;
	httpc_free(h);
	if (st != 200)  /* reconcile keeps trying once the state rests */
		log_event(LOG_WARN, "orch.reopen_failed", "{s:s}", "error", err);
	return -1;
}

/* ---- the result -------------------------------------------------------------------- */

void orch_result_step(struct act_result *r, const char *name, const char *status,
		      json_t *detail)
{
	if (r->nsteps >= ORCH_RESULT_NOTES) {
		log_event(LOG_ERROR, "orch.result_full", "{s:s}", "step", name);
		json_decref(detail);
		return;
	}
	struct act_step *s = &r->steps[r->nsteps++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->status, sizeof(s->status), "%s", status);
	s->detail = detail;
}

void orch_result_mark(struct act_result *r, const char *name, int64_t wall_ms)
{
	if (r->nmarks >= ORCH_RESULT_NOTES) {
		log_event(LOG_ERROR, "orch.result_full", "{s:s}", "mark", name);
		return;
	}
	struct act_mark *m = &r->marks[r->nmarks++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->wall_ms = wall_ms;
}

void orch_result_detail(struct act_result *r, const char *key, json_t *value)
{
	if (!r->run_detail)
		r->run_detail = json_object();
	if (r->run_detail)
		json_object_set_new(r->run_detail, key, value ? value : json_null());
	else
		json_decref(value);
}

int orch_run_action(struct orch *o, enum fsm_action a, struct act_result *r)
{
	switch (a) {
	case FSM_A_CONFIRM: return act_confirm(o, r);
	case FSM_A_FENCE: return act_fence(o, r);
	case FSM_A_ELECT: return act_elect(o, r);
	case FSM_A_PROMOTE: return act_promote(o, r);
	case FSM_A_REDIRECT: return act_redirect(o, r);
	case FSM_A_DRAIN: return act_drain(o, r);
	case FSM_A_REOPEN: return act_reopen(o);
	case FSM_A_SWAP: return orch_act_swap(o, r);
	case FSM_A_FINALIZE: return orch_act_finalize(o, r);
	case FSM_A_REJOIN: return orch_act_rejoin(o, r);
	default: return -1;  /* record, none: the transition itself is the record */
	}
}
