/*
 * transition.h — the run lifecycle as pure functions (prefix transition_):
 * the cluster row after an FSM row fires, and after its run ends.
 *
 * Owns the rules that say, for a row of the generated table: which state
 * and action the row enters; when the epoch moves (a fence: past every
 * epoch a site may have seen, the sites' and the store's history floor
 * included; an adoption: up to the sites' newest); who the primary becomes
 * (the candidate on promotion, the sites' primary on adoption); when a run
 * opens (the spec's opens_run, an operator's switchover naming its own
 * kind: switchover or failback) with a fresh context (runctx_begin), and
 * what it takes over from; and when a run is over (the anti-flapping clock
 * starts on a succeeded failover).  No I/O, no clock: orch.c commits what
 * these return; tests/check_transition.c checks them row by row against
 * the table.
 */
#ifndef DRORCH_TRANSITION_H
#define DRORCH_TRANSITION_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"
#include "runctx.h"
#include "store.h"

struct transition_in {
	const struct fsm_row *row;          /* the row that fires (a transition) */
	const struct runctx_request *req;   /* the operator's request, or NULL */
	const char *req_kind;               /* an operator's switchover: switchover |
					     * failback (NULL: the row's) */
	int64_t sites_epoch;                /* the sites' newest epoch */
	int64_t epoch_floor;                /* epochs up to it may have been issued */
	const char *sites_primary;          /* the site primary at sites_epoch, or NULL */
	int64_t now_ms;                     /* wall clock */
};

struct transition_out {
	const char *run_kind;    /* the kind of run the row opens, or NULL */
	const char *run_from;    /* ... the site it takes over from ("": none known) */
};

/* The cluster row after in->row fires from cur (run_id unchanged: the
 * caller opens the run out->run_kind names and sets it). */
void transition_next(const struct store_cluster *cur, const struct transition_in *in,
		     struct store_cluster *next, struct transition_out *out);

/* The cluster row once its run ended with outcome: no run in progress; a
 * failover that succeeded starts the anti-flapping clock at now_ms.
 * Returns whether the run counts as a failover (drorch_failovers_total). */
bool transition_run_over(struct store_cluster *c, const char *outcome, int64_t now_ms);

#endif
