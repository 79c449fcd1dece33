/*
 * decide.c — drorchd's pure decisions (see decide.h for each contract).
 */
#include "decide.h"

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
		if (pv->behind_need_lsn > *need_lsn)
			*need_lsn = pv->behind_need_lsn;
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
