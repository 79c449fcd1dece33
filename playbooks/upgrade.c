/*
 * upgrade.c — the plans of a rolling upgrade and of its rollback (see
 * upgrade.h for the rules).  Pure: the cluster in, a playbook out.
 */
#include "upgrade.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

enum { SWAP_TIMEOUT_MS = 600000, SWITCHOVER_TIMEOUT_MS = 60000 };

static struct pb_step *add(struct playbook *pb, enum pb_kind kind, const char *name)
{
	struct pb_step *s = &pb->steps[pb->nsteps];
	pb_step_init(s, kind, 0);
	snprintf(s->name, sizeof(s->name), "%d-%s", pb->nsteps + 1, name);
	pb->nsteps++;
	return s;
}

/* An empty plan named `name` with room for n swaps, beginning with the
 * check that the cluster rests in `steady` with every replica streaming. */
static bool begin(struct playbook *pb, const char *name, int n, const char *steady)
{
	memset(pb, 0, sizeof(*pb));
	pb->steps = calloc((size_t)n + 4, sizeof(*pb->steps));
	if (!pb->steps)
		return false;
	snprintf(pb->name, sizeof(pb->name), "%s", name);
	struct pb_step *s = add(pb, PB_CHECK, "cluster-steady");
	snprintf(s->state, sizeof(s->state), "%s", steady);
	s->replicas_streaming = 1;
	return true;
}

static void swap(struct playbook *pb, const char *label, const char *site, const char *version)
{
	struct pb_step *s = add(pb, PB_UPGRADE_SITE, label);
	snprintf(s->site, sizeof(s->site), "%.*s", (int)sizeof(s->site) - 1, site);
	snprintf(s->version, sizeof(s->version), "%.*s", (int)sizeof(s->version) - 1, version);
	s->timeout_ms = SWAP_TIMEOUT_MS;
}

static void switch_to(struct playbook *pb, const char *site)
{
	struct pb_step *s = add(pb, PB_SWITCHOVER, "switchover");
	snprintf(s->to, sizeof(s->to), "%.*s", (int)sizeof(s->to) - 1, site);
	s->timeout_ms = SWITCHOVER_TIMEOUT_MS;
}

static int primary_of(const struct pb_site_state *sites, int n)
{
	for (int i = 0; i < n; i++)
		if (sites[i].primary)
			return i;
	return -1;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* The cluster's FCV: the highest any site reports ("" when none does). */
static const char *cluster_fcv(const struct pb_site_state *sites, int n)
{
	const char *best = "";
	for (int i = 0; i < n; i++)
		if (or_empty(sites[i].fcv)[0] && (!best[0] || version_cmp_text(sites[i].fcv, best) > 0))
			best = sites[i].fcv;
	return best;
}

__attribute__((format(printf, 4, 5)))
static enum pb_plan_result say(enum pb_plan_result r, char *why, size_t len, const char *fmt,
			       ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return r;
}

/* Refuses `to` below any site's FCV: a finalized upgrade cannot be undone. */
static bool below_fcv(const struct pb_site_state *sites, int n, const char *to, char *why,
		      size_t len)
{
	for (int i = 0; i < n; i++) {
		const char *fcv = or_empty(sites[i].fcv);
		if (fcv[0] && version_cmp_text(to, fcv) < 0) {
			snprintf(why, len, "%s is at fcv %s: a binary older than the cluster's fcv "
				 "cannot run (the upgrade to %s was finalized)", sites[i].name, fcv, fcv);
			return true;
		}
	}
	return false;
}

enum pb_plan_result pb_upgrade_plan(const struct pb_site_state *sites, int n, const char *to,
				    bool finalize, const char *steady, struct playbook *pb,
				    char *why, size_t len)
{
	struct version v;
	memset(pb, 0, sizeof(*pb));
	if (!version_parse(or_empty(to), &v))
		return say(PB_PLAN_REFUSED, why, len, "to: expected a version X.Y.Z, got '%s'",
			   or_empty(to));
	if (below_fcv(sites, n, to, why, len))
		return PB_PLAN_REFUSED;
	int p = primary_of(sites, n), swaps = 0;
	bool fcv_behind = false;
	for (int i = 0; i < n; i++) {
		swaps += version_cmp_text(sites[i].version, to) != 0;
		fcv_behind |= version_cmp_text(or_empty(sites[i].fcv), to) < 0;
	}
	if (!swaps && !(finalize && fcv_behind))
		return say(PB_PLAN_NOOP, why, len, "every site runs %s%s%s already", to,
			   fcv_behind ? "" : " at fcv ", fcv_behind ? "" : to);
	if (p < 0)
		return say(PB_PLAN_REFUSED, why, len, "no site is the primary: an upgrade needs "
			   "a primary to switch over from");
	bool swap_primary = version_cmp_text(sites[p].version, to) != 0;
	const char *target = NULL, *ready = NULL;
	for (int i = 0; i < n; i++)
		if (i != p && version_cmp_text(sites[i].version, to) == 0)
			ready = ready ? ready : sites[i].name;
	for (int i = 0; i < n && !target; i++)
		if (i != p && version_cmp_text(sites[i].version, to) != 0)
			target = sites[i].name;  /* the first replica swapped */
	target = target ? target : ready;
	if (swap_primary && !target)
		return say(PB_PLAN_REFUSED, why, len, "%s is the only site: it cannot be upgraded "
			   "without downtime (no replica to switch over to)", sites[p].name);
	if (!begin(pb, "upgrade", n, steady))
		return PB_PLAN_NOMEM;
	for (int i = 0; i < n; i++)
		if (i != p && version_cmp_text(sites[i].version, to) != 0)
			swap(pb, "upgrade-site", sites[i].name, to);
	if (swap_primary) {
		switch_to(pb, target);
		swap(pb, "upgrade-site", sites[p].name, to);
	}
	if (finalize) {
		struct pb_step *s = add(pb, PB_FINALIZE, "finalize");
		snprintf(s->version, sizeof(s->version), "%s", to);
	}
	return PB_PLAN_OK;
}

/* Index of the site called name among sites[0..n), or -1. */
static int site_index(const struct pb_site_state *sites, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (name && !strcmp(sites[i].name, name))
			return i;
	return -1;
}

/* The rollback's swap order into idx[] (non-primary sites above fcv): the
 * reverse of the upgrade's order, then the others in reverse config order. */
static int rollback_order(const struct pb_site_state *sites, int n, const char *const order[],
			  int norder, const char *fcv, int p, int *idx)
{
	int k = 0;
	for (int j = norder - 1; j >= -n; j--) {
		int i = j >= 0 ? site_index(sites, n, order[j]) : n + j;  /* then n-1 .. 0 */
		bool taken = false;
		for (int m = 0; m < k; m++)
			taken |= idx[m] == i;
		if (i >= 0 && i != p && !taken && version_cmp_text(sites[i].version, fcv) > 0)
			idx[k++] = i;
	}
	return k;
}

enum pb_plan_result pb_rollback_plan(const struct pb_site_state *sites, int n,
				     const char *const order[], int norder, const char *steady,
				     struct playbook *pb, char *why, size_t len)
{
	memset(pb, 0, sizeof(*pb));
	const char *fcv = cluster_fcv(sites, n);
	if (!fcv[0])
		return say(PB_PLAN_REFUSED, why, len, "no site reports its fcv: there is no "
			   "version to roll back to");
	int p = primary_of(sites, n), above = 0;
	for (int i = 0; i < n; i++)
		above += version_cmp_text(sites[i].version, fcv) > 0;
	if (!above)
		return say(PB_PLAN_REFUSED, why, len, "every site runs %s, the cluster's fcv: there "
			   "is nothing to roll back (an upgrade, once finalized, cannot be rolled "
			   "back: older binaries cannot read what the new format may have written)",
			   fcv);
	if (p < 0)
		return say(PB_PLAN_REFUSED, why, len, "no site is the primary: a rollback needs a "
			   "primary to switch over from");
	int *idx = calloc((size_t)n, sizeof(*idx));
	if (!idx || !begin(pb, "rollback", n, steady)) {
		free(idx);
		return PB_PLAN_NOMEM;
	}
	int k = rollback_order(sites, n, order, norder, fcv, p, idx);
	for (int m = 0; m < k; m++)
		swap(pb, "rollback-site", sites[idx[m]].name, fcv);
	if (version_cmp_text(sites[p].version, fcv) > 0) {
		const char *target = k ? sites[idx[0]].name : NULL;
		for (int i = 0; i < n && !target; i++)
			if (i != p)
				target = sites[i].name;  /* already at the fcv */
		free(idx);
		if (!target) {
			playbook_free(pb);
			return say(PB_PLAN_REFUSED, why, len, "%s is the only site: it cannot be "
				   "rolled back without downtime", sites[p].name);
		}
		switch_to(pb, target);
		swap(pb, "rollback-site", sites[p].name, fcv);
		return PB_PLAN_OK;
	}
	free(idx);
	return PB_PLAN_OK;
}
