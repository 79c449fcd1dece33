/*
 * decide.c — drorchd's pure decisions (see decide.h for each contract).
 */
#include "decide.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- detection ----------------------------------------------------------------- */

/* Is view r a replica of the primary at the cluster's epoch? */
static bool follows(const struct site_view *r, int i, const struct judge_in *in)
{
	return r->reachable && !strcmp(r->role, "replica") && r->epoch == in->epoch &&
	       (!in->peer_addr || !strcmp(r->repl_primary, in->peer_addr[i]));
}

enum verdict decide_judge(const struct site_view *v, int n, int p, const struct judge_in *in)
{
	const struct site_view *pv = &v[p];
	if (pv->canary_failures >= 2 || (pv->reachable && pv->wal_failed))
		return V_DOWN;  /* it answers but cannot commit: a grey failure */
	if (pv->reachable && in->now - pv->last_ok_ms <= in->window)
		return V_BACK;
	int reachable = 0, lost = 0;
	for (int i = 0; i < n; i++) {
		const struct site_view *r = &v[i];
		if (i == p || !follows(r, i, in))
			continue;
		reachable++;
		if (r->contact_seen_ms <= pv->last_ok_ms)
			return V_UNSURE;  /* no testimony read since drorchd lost it */
		uint64_t ago = r->contact_ago_ms > 0 ? (uint64_t)r->contact_ago_ms : 0;
		uint64_t heard = r->contact_seen_ms - ago;
		bool streaming = !strcmp(r->repl_state, "streaming");
		bool fresh = streaming && ago <= in->window;
		if (fresh && heard > pv->last_ok_ms + in->heartbeat && r->primary_writable)
			return V_LINK_ONLY;  /* it heard the primary after drorchd lost it */
		if (!fresh || !r->primary_writable)
			lost++;
	}
	return reachable && lost == reachable ? V_DOWN : V_UNSURE;
}

/* ---- the primary's log ----------------------------------------------------------- */

int64_t decide_behind_evidence(const struct site_view *v)
{
	return v->behind_need_unknown ? 0 : v->behind_need_lsn;
}

bool decide_regressed(const struct site_view *v, int n, int p, int64_t epoch,
		      const char *const *peer_addr, int64_t *need_lsn)
{
	const struct site_view *pv = &v[p];
	*need_lsn = pv->lsn;
	if (!pv->reachable)
		return false;
	bool regressed = false;
	if (pv->behind_need_lsn > 0 && pv->behind_epoch >= pv->epoch) {
		regressed = true;
		if (decide_behind_evidence(pv) > *need_lsn)
			*need_lsn = decide_behind_evidence(pv);
	}
	/* Primary at epoch, it once showed more durable records than now: it
	 * lost a tail without a trace of its own (a WAL segment gone); made
	 * primary again it would reissue those LSNs at the same epoch
	 * (drchaos seed 30024). */
	if (pv->primary_epoch == epoch && pv->epoch == epoch &&
	    pv->primary_high > pv->flushed_lsn) {
		regressed = true;
		if (pv->primary_high > *need_lsn)
			*need_lsn = pv->primary_high;
	}
	/* It took another role at the cluster's epoch (a promotion elsewhere that
	 * timed out): only a newer epoch can make any site primary again. */
	if (pv->epoch == epoch && !strcmp(pv->role, "replica"))
		regressed = true;
	bool settled = pv->confirmed && pv->epoch == epoch && !strcmp(pv->role, "primary");
	if (settled && !regressed)
		return false;
	for (int i = 0; i < n; i++) {
		const struct site_view *r = &v[i];
		/* Another site took a role at epoch naming another primary: the
		 * epoch went to a promotion elsewhere (held, then resumed: drchaos
		 * seed 22002), and no epoch is issued twice. */
		if (i != p && r->reachable && r->epoch == epoch &&
		    (!strcmp(r->role, "primary") ||
		     (!strcmp(r->role, "replica") && peer_addr && peer_addr[i] &&
		      strcmp(r->repl_primary, peer_addr[i]))))
			regressed = true;
		/* A fenced site counts too: a failover held before it promoted
		 * anyone (resumed by an operator) leaves every site fenced, and
		 * their logs may run past the row's primary's. */
		if (i == p || !r->reachable || r->epoch != epoch ||
		    (strcmp(r->role, "replica") && strcmp(r->role, "fenced")))
			continue;
		if (r->flushed_lsn > pv->lsn) {
			regressed = true;
			if (r->flushed_lsn > *need_lsn)
				*need_lsn = r->flushed_lsn;
		}
	}
	return regressed;
}

int64_t decide_sites_epoch(const struct site_view *v, int n, int *primary)
{
	int64_t newest = 0;
	*primary = -1;
	for (int i = 0; i < n; i++)
		if (v[i].reachable && v[i].epoch > newest)
			newest = v[i].epoch;
	for (int i = 0; i < n && newest; i++)
		if (v[i].reachable && v[i].epoch == newest && !strcmp(v[i].role, "primary") &&
		    (*primary < 0 || v[i].lsn > v[*primary].lsn))
			*primary = i;
	return newest;
}

/* ---- the old primary's lease --------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

void decide_lease_asked(uint64_t *asked_ms, int64_t *asked_epoch, int64_t epoch,
			uint64_t lease)
{
	if (epoch > *asked_epoch) {
		*asked_epoch = epoch;
		*asked_ms = lease;
	} else if (lease > *asked_ms) {
		*asked_ms = lease;
	}
}

uint64_t decide_lease_want(uint64_t lease_ms, bool explicit_lease, uint64_t rtt_ms,
			   uint64_t hb_ms, uint64_t max)
{
	uint64_t want = explicit_lease ? lease_ms : lease_ms + rtt_ms;
	if (!explicit_lease && max && 2 * rtt_ms >= hb_ms)
		want = max;
	return max && want > max ? max : want;
}

uint64_t decide_lease_bound(int64_t reported, int64_t max, uint64_t asked_ms,
			    int64_t asked_epoch, int64_t conf_epoch, int64_t epoch)
{
	uint64_t b = reported > 0 ? (uint64_t)reported : 0;
	if (asked_epoch == epoch && asked_ms > b)
		b = asked_ms;
	bool set_by_us = epoch > 0 && conf_epoch == epoch && asked_epoch == epoch;
	if (!set_by_us && max > 0 && (uint64_t)max > b)
		b = (uint64_t)max;
	return b;
}

void decide_rtt_note(struct rtt_window *w, uint64_t now, uint64_t rtt)
{
	if (now - w->started_ms >= DECIDE_RTT_BUCKET_MS) {
		w->prev = now - w->started_ms >= 2 * DECIDE_RTT_BUCKET_MS ? 0 : w->cur;
		w->cur = 0;
		w->started_ms = now;
	}
	if (rtt > w->cur)
		w->cur = rtt;
}

uint64_t decide_rtt_high(const struct rtt_window *w, uint64_t now)
{
	if (now - w->started_ms >= 2 * DECIDE_RTT_BUCKET_MS)
		return 0;
	if (now - w->started_ms >= DECIDE_RTT_BUCKET_MS)
		return w->cur;
	return w->cur > w->prev ? w->cur : w->prev;
}

bool decide_lease_end(uint64_t orch_bound, int k, int replicas, const uint64_t *fenced,
		      int nfenced, uint64_t lease_ms, uint64_t margin, uint64_t *end)
{
	uint64_t renewed = orch_bound;
	if (k > 0) {
		int unfenced = replicas - nfenced;
		if (unfenced < 0)
			unfenced = 0;
		if (unfenced >= k)
			return false;
		/* Newest first, the unfenced ones at +infinity: the k-th newest
		 * renewal is the (k - unfenced)-th newest fenced bound. */
		uint64_t sorted[CONFIG_MAX_SITES];
		int m = nfenced < CONFIG_MAX_SITES ? nfenced : CONFIG_MAX_SITES;
		memcpy(sorted, fenced, (size_t)m * sizeof(*sorted));
		qsort(sorted, (size_t)m, sizeof(*sorted), cmp_desc);
		int at = k - unfenced - 1;
		uint64_t by_replicas = at < m ? sorted[at] : 0;
		if (by_replicas > renewed)
			renewed = by_replicas;
	}
	*end = renewed + lease_ms + margin;
	return true;
}

uint64_t decide_renew_turn(uint64_t now, uint64_t hb, int k, int n)
{
	if (hb == 0)
		hb = 1;
	if (n < 1)
		n = 1;
	uint64_t tick = now / hb + 1;
	tick += ((uint64_t)k % (uint64_t)n + (uint64_t)n - tick % (uint64_t)n) % (uint64_t)n;
	return tick * hb - now;
}

/* ---- the election --------------------------------------------------------------------- */

bool decide_heard_enough(bool sync, uint64_t quorum, int nsites, int heard)
{
	if (!sync)
		return true;
	int q = quorum < (uint64_t)nsites ? (int)quorum : nsites;
	return heard >= nsites - q;
}

bool decide_log_newer(const struct candidate *a, const struct candidate *b)
{
	if (a->last_epoch != b->last_epoch)
		return a->last_epoch > b->last_epoch;
	return a->flushed > b->flushed;
}

int64_t decide_epoch_at(const int64_t *epochs, const int64_t *first_lsn, int n, int64_t lsn)
{
	int64_t e = 0, from = -1;
	for (int i = 0; i < n; i++)
		if (first_lsn[i] <= lsn && (first_lsn[i] > from ||
					    (first_lsn[i] == from && epochs[i] > e))) {
			e = epochs[i];
			from = first_lsn[i];
		}
	return e;
}

int64_t decide_loss_run(const struct run_brief *runs, int n, int64_t from_epoch,
			int64_t rewind_epoch)
{
	int64_t ended = 0, ended_epoch = 0, from = 0;
	for (int i = 0; i < n; i++) {
		const struct run_brief *r = &runs[i];
		if (!from && r->from_site)
			from = r->id;
		if (r->epoch > from_epoch && (rewind_epoch <= 0 || r->epoch <= rewind_epoch) &&
		    (!ended || r->epoch < ended_epoch)) {
			ended = r->id;
			ended_epoch = r->epoch;
		}
	}
	if (from_epoch > 0)
		return ended;
	return from ? from : n > 0 ? runs[0].id : 0;
}

bool decide_better(const struct candidate *a, const struct candidate *b)
{
	if (decide_log_newer(a, b) || decide_log_newer(b, a))
		return decide_log_newer(a, b);
	if (a->order != b->order)
		return a->order < b->order;
	if (a->other_region != b->other_region)
		return a->other_region;
	return strcmp(a->name, b->name) < 0;
}

const char *const decide_phase_names[PHASE_COUNT] = {
	"detection", "fence_and_elect", "drain_fence_and_elect", "promote", "first_write",
};

/* b - a when both are marked and in order, else -1. */
static int64_t span(int64_t a, int64_t b)
{
	return a > 0 && b > 0 && b >= a ? b - a : -1;
}

void decide_measure(const struct run_marks *m, struct run_measure *out)
{
	int64_t start = m->last_good_heartbeat ? m->last_good_heartbeat : m->writes_paused;
	out->rto_ms = span(start, m->first_write);
	out->phase_ms[PHASE_DETECTION] = span(m->last_good_heartbeat, m->detected);
	out->phase_ms[PHASE_FENCE_ELECT] = span(m->detected, m->decided);
	out->phase_ms[PHASE_DRAIN_FENCE_ELECT] = m->last_good_heartbeat ? -1 :
						 span(m->writes_paused, m->decided);
	out->phase_ms[PHASE_PROMOTE] = span(m->decided, m->promoted);
	out->phase_ms[PHASE_FIRST_WRITE] = span(m->promoted, m->first_write);
	out->slowest = -1;
	for (int p = 0; p < PHASE_COUNT; p++)
		if (out->phase_ms[p] >= 0 &&
		    (out->slowest < 0 || out->phase_ms[p] > out->phase_ms[out->slowest]))
			out->slowest = p;
}

const char *const decide_verdict_names[3] = { "unknown", "met", "missed" };

void decide_verdict(const struct verdict_in *in, struct run_verdict *out)
{
	const struct run_measure *m = in->measure;
	bool past = (in->rpo_ms >= 0 && in->rpo_ms > (int64_t)in->rpo_ms_max) ||
		    (in->rpo_records_max && in->rpo_records > (int64_t)in->rpo_records_max);
	bool shown = in->rpo_records == 0 ||
		     (in->rpo_ms >= 0 && (!in->rpo_records_max || in->rpo_records >= 0));
	out->rpo = past ? TARGET_MISSED : shown ? TARGET_MET : TARGET_UNKNOWN;
	int64_t target = (int64_t)in->rto_ms_max;
	if (m->rto_ms >= 0)
		out->rto = m->rto_ms > target ? TARGET_MISSED : TARGET_MET;
	else
		out->rto = in->unmeasured_ms > target ? TARGET_MISSED : TARGET_UNKNOWN;
	out->overrun_phase = out->rto == TARGET_MISSED ? m->slowest : -1;
}

int64_t decide_rpo_ms(int64_t rpo_records, int64_t newest_commit_ms, int64_t kept_commit_ms,
		      int64_t lag_estimate_ms, bool *exact)
{
	*exact = newest_commit_ms > 0 && kept_commit_ms > 0;
	if (rpo_records <= 0) {
		*exact = true;  /* nothing lost: exactly 0 */
		return 0;
	}
	if (!*exact)
		return lag_estimate_ms > 0 ? lag_estimate_ms : 0;
	return newest_commit_ms > kept_commit_ms ? newest_commit_ms - kept_commit_ms : 0;
}

/* decide_better, and at logs alike a site that does not say it lacks
 * records before one that does. */
static bool elect_better(const struct candidate *a, const struct candidate *b)
{
	bool alike = !decide_log_newer(a, b) && !decide_log_newer(b, a);
	if (alike && a->lacks != b->lacks)
		return !a->lacks;
	return decide_better(a, b);
}

void decide_elect(const struct elect_in *in, struct elect_out *out)
{
	const struct candidate *best = NULL, *newest = NULL;
	int64_t last_seen = in->last_seen, newest_commit = in->newest_commit_ms;
	*out = (struct elect_out){ .rpo_records = -1 };
	for (int i = 0; i < in->n; i++) {
		const struct candidate *c = &in->sites[i];
		/* A site that lost records it held cannot tell what it had: it
		 * testifies to nothing (drchaos seed 52011). */
		if (!c->lacks)
			out->heard++;
		last_seen = c->lsn > last_seen ? c->lsn : last_seen;
		if (!c->need_unknown)  /* a marker is no evidence of records */
			last_seen = c->need > last_seen ? c->need : last_seen;
		newest_commit = c->last_commit_ms > newest_commit ? c->last_commit_ms : newest_commit;
		if (!newest || decide_log_newer(c, newest))
			newest = c;
		if (in->target && strcmp(in->target, c->name) != 0)
			continue;
		if (!best || elect_better(c, best))
			best = c;
	}
	/* The old primary failed over for its log but strictly the newest keeps
	 * what it acknowledged, at the new epoch (drchaos seed 22062). */
	const struct candidate *stand = in->stand;
	if (stand && (!best || decide_log_newer(stand, best))) {
		best = stand;
		if (!newest || decide_log_newer(stand, newest))
			newest = stand;
		last_seen = stand->lsn > last_seen ? stand->lsn : last_seen;
		if (stand->last_commit_ms > newest_commit)
			newest_commit = stand->last_commit_ms;
	}
	out->best = best;
	if (!best) {
		out->refused = "no eligible replica";
		return;
	}
	out->rpo_records = last_seen - best->flushed;
	bool told_all = in->fenced_at > 0 && best->flushed >= last_seen;
	/* It lacks what it cannot tell (a marker): at least one record, never
	 * complete, unless the old primary told where the log ended. */
	if (best->lacks && best->need_unknown && !told_all && out->rpo_records < 1)
		out->rpo_records = 1;
	out->rpo_ms = decide_rpo_ms(out->rpo_records, newest_commit, best->last_commit_ms,
				    best->lag_ms, &out->rpo_exact);
	bool dominated = in->sync && decide_log_newer(newest, best);
	bool unheard = !told_all && !decide_heard_enough(in->sync, in->quorum, in->nsites,
							 out->heard);
	bool rpo = (in->rpo_records_max && out->rpo_records > (int64_t)in->rpo_records_max) ||
		   out->rpo_ms > (int64_t)in->rpo_ms_max;
	const char *why = dominated ? "the candidate lacks records another replica flushed: "
				      "acknowledged writes would be lost (force to accept)" :
			  unheard ? "too few sites answered at the new epoch to know every "
				    "acknowledged write: one held by an unreachable site would be "
				    "lost (force to accept)" :
			  rpo ? "the best candidate would break the RPO target" : NULL;
	if (why && !in->force) {
		out->best = NULL;
		out->refused = why;
		out->beyond_rpo = !dominated && !unheard ? best : NULL;  /* the RPO alone */
	}
	out->forced = why && in->force;
}

/* ---- the RTO budget --------------------------------------------------------------- */

const char *const decide_choice_names[ELECTION_CHOICES] = {
	"wait", "complete", "within_rpo", "forced", "prefer_rto", "refused",
};

/* The election's figures and the targets, for people: "the best candidate
 * lacks 12 records (300 ms); RPO target 5000 ms (10 records); RTO budget
 * 1700 of 2000 ms used (300 ms kept to promote), 1 site(s) unheard". */
static void budget_figures(const struct budget_in *in, char *buf, size_t len)
{
	const struct elect_out *e = in->elect;
	char lacks[96] = "", records[48] = "";
	if (e->rpo_records >= 0)
		snprintf(lacks, sizeof(lacks), "the best candidate lacks %" PRId64 " records (%"
			 PRId64 " ms); ", e->rpo_records, e->rpo_ms);
	if (in->rpo_records_max)
		snprintf(records, sizeof(records), " (%" PRIu64 " records)", in->rpo_records_max);
	snprintf(buf, len, "%sRPO target %" PRIu64 " ms%s; RTO budget %" PRId64 " of %" PRId64
		 " ms used (%" PRId64 " ms kept to promote), %d site(s) unheard", lacks,
		 in->rpo_ms_max, records, in->elapsed_ms, in->rto_ms, in->reserve_ms, in->unheard);
}

void decide_budget(const struct budget_in *in, struct budget_out *out)
{
	const struct elect_out *e = in->elect;
	bool complete = e->best && e->rpo_records == 0 && !e->forced;
	bool time_left = in->elapsed_ms < in->rto_ms - in->reserve_ms && in->state_left_ms > 0;
	char figures[384];
	budget_figures(in, figures, sizeof(figures));
	*out = (struct budget_out){ .choice = ELECTION_REFUSED, .elected = e->best };
	if (!complete && in->unheard > 0 && time_left) {
		out->choice = ELECTION_WAIT;
		out->elected = NULL;
		snprintf(out->why, sizeof(out->why), "waiting for the sites that did not testify: %s",
			 figures);
	} else if (complete) {
		out->choice = ELECTION_COMPLETE;
		snprintf(out->why, sizeof(out->why), "the candidate holds every record known to exist");
	} else if (e->best) {
		out->choice = e->forced ? ELECTION_FORCED : ELECTION_WITHIN_RPO;
		snprintf(out->why, sizeof(out->why), "%s: %s", e->forced ? "forced by the operator" :
			 "within the RPO target", figures);
	} else if (e->beyond_rpo && in->prefer_rto) {
		out->choice = ELECTION_PREFER_RTO;
		out->elected = e->beyond_rpo;
		snprintf(out->why, sizeof(out->why), "no candidate within the RPO target once the "
			 "RTO budget was spent: prefer rto elects the best beyond it: %s", figures);
	} else {
		snprintf(out->why, sizeof(out->why), "%s%s: %s", e->refused ? e->refused : "refused",
			 e->beyond_rpo ? " (prefer rpo: an operator must decide)" : "", figures);
	}
}

struct lag decide_lag(const struct site_view *p, const struct site_view *r)
{
	struct lag l = { .records = r->lag_records, .ms = r->lag_ms, .exact = r->lag_exact };
	if (!p || p == r || p->epoch != r->epoch || p->flushed_lsn <= r->flushed_lsn)
		return l;
	if (p->flushed_lsn - r->flushed_lsn > l.records)
		l.records = p->flushed_lsn - r->flushed_lsn;
	/* Format 2 on both: each says its newest record's commit time. */
	if (p->last_commit_ms > 0 && r->last_commit_ms > 0 &&
	    p->last_commit_ms - r->last_commit_ms > l.ms) {
		l.ms = p->last_commit_ms - r->last_commit_ms;
		l.exact = true;
	}
	return l;
}

enum replica_health decide_replica(const struct site_view *v, const struct replica_in *in,
				   char *why, size_t len)
{
	uint64_t silent = in->now > in->last_ok ? in->now - in->last_ok : 0;
	bool past_ms = v->lag_ms > 0 && (uint64_t)v->lag_ms > in->rpo_ms;
	bool past_records = in->rpo_records && v->lag_records > 0 &&
			    (uint64_t)v->lag_records > in->rpo_records;
	if (!v->reachable || silent > in->window) {
		snprintf(why, len, "not answering for %" PRIu64 " ms", silent);
		return REPLICA_SILENT;
	}
	if (strcmp(v->role, "replica")) {
		snprintf(why, len, "in role %s, not replica", v->role[0] ? v->role : "(none)");
		return REPLICA_OTHER_ROLE;
	}
	if (strcmp(v->repl_state, "streaming")) {
		snprintf(why, len, "replication %s", v->repl_state[0] ? v->repl_state : "not started");
		return REPLICA_NOT_STREAMING;
	}
	if (!past_ms && !past_records)
		return REPLICA_OK;
	if (past_records && !past_ms)
		snprintf(why, len, "lag %" PRId64 " records (%" PRId64 " ms) past the RPO of %"
			 PRIu64 " records", v->lag_records, v->lag_ms, in->rpo_records);
	else
		snprintf(why, len, "lag %" PRId64 " ms (%" PRId64 " records) past the RPO of %"
			 PRIu64 " ms", v->lag_ms, v->lag_records, in->rpo_ms);
	return REPLICA_PAST_RPO;
}
