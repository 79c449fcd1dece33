/*
 * upgrade.h — the plans of a rolling upgrade and of its rollback, as
 * playbooks (prefix pb_upgrade_).
 *
 * Pure functions of the cluster as the caller sees it (each site's name,
 * binary version, feature-compatibility version and role): no I/O, no
 * clock; drorchd runs the plans (orchestrator/pbrun.c), tests/check_playbook
 * checks them.
 *
 * AN UPGRADE TO `to` swaps, one at a time, each replica that does not run
 * `to` yet; then, if the primary does not run it, switches over (zero loss)
 * to a replica that does and swaps the old primary; then, when asked,
 * finalizes: every site takes `to` as its FCV, after which older binaries
 * are refused.  Sites already at `to` are left alone, so an upgrade to the
 * version the cluster runs moves nothing (PB_PLAN_NOOP), and one that only
 * lacks its finalize is a finalize.  `to` below a site's FCV is refused.
 *
 * A ROLLBACK returns every site running above the cluster's FCV to the FCV
 * version, in the reverse of the order the upgrade swapped them (the
 * caller passes that order when it knows it; otherwise the reverse of the
 * configuration's order), the primary last after a switchover to the first
 * site rolled back.  There is nothing to roll back when every site runs
 * the FCV (never upgraded, or finalized: then refused, with the reason).
 */
#ifndef DRORCH_PB_UPGRADE_H
#define DRORCH_PB_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "playbook.h"

/* One site as the plan sees it; sites[] is in configuration order. */
struct pb_site_state {
	const char *name;
	const char *version;	/* the binary it runs, X.Y.Z */
	const char *fcv;	/* its feature-compatibility version, X.Y.Z ("" unknown) */
	bool primary;
};

enum pb_plan_result {
	PB_PLAN_OK,		/* *pb holds the plan (free it with playbook_free) */
	PB_PLAN_NOOP,		/* nothing to do; why says so; *pb empty */
	PB_PLAN_REFUSED,	/* cannot be done now; why says why; *pb empty */
	PB_PLAN_NOMEM,
};

/* The rolling upgrade of sites[0..n) to `to` (X.Y.Z), finalized when
 * `finalize`.  `steady` is the FSM state its first check requires. */
enum pb_plan_result pb_upgrade_plan(const struct pb_site_state *sites, int n, const char *to,
				    bool finalize, const char *steady, struct playbook *pb,
				    char *why, size_t len);

/* The rollback of an unfinalized upgrade.  order[0..norder) is the order
 * the upgrade swapped sites in (may be empty). */
enum pb_plan_result pb_rollback_plan(const struct pb_site_state *sites, int n,
				     const char *const order[], int norder, const char *steady,
				     struct playbook *pb, char *why, size_t len);

#endif
