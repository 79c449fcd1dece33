/*
 * transition.c — the run lifecycle as pure functions (transition.h).
 */
#include <stdio.h>
#include <string.h>

#include "transition.h"

/* The epoch after row fires: a fence issues one above every epoch a site
 * may have seen; an adoption takes the sites' newest. */
static int64_t next_epoch(const struct fsm_row *row, int64_t epoch, int64_t sites_epoch,
			  int64_t floor)
{
	if (row->action == FSM_A_FENCE) {
		int64_t seen = sites_epoch > floor ? sites_epoch : floor;
		return (epoch > seen ? epoch : seen) + 1;
	}
	if (row->action == FSM_A_ADOPT)
		return sites_epoch > epoch ? sites_epoch : epoch;
	return epoch;
}

void transition_next(const struct store_cluster *cur, const struct transition_in *in,
		     struct store_cluster *next, struct transition_out *out)
{
	const struct fsm_row *row = in->row;
	*next = *cur;
	*out = (struct transition_out){ 0 };
	snprintf(next->state, sizeof(next->state), "%s", fsm_state_names[row->to]);
	snprintf(next->action, sizeof(next->action), "%s", fsm_action_names[row->action]);
	next->epoch = next_epoch(row, cur->epoch, in->sites_epoch, in->epoch_floor);
	if (row->action == FSM_A_ADOPT && in->sites_primary)
		snprintf(next->primary, sizeof(next->primary), "%s", in->sites_primary);
	struct run_ctx *c = &next->ctx;
	if (row->opens_run) {
		out->run_kind = row->event == FSM_E_OP_SWITCHOVER && in->req_kind &&
				in->req_kind[0] ? in->req_kind : row->opens_run;
		runctx_begin(c, out->run_kind, in->req, in->now_ms);
		/* D10: the old primary failed over for its log (not for being
		 * down) may be elected again, at the new epoch, if its log is
		 * the newest. */
		c->regressed = row->event == FSM_E_PRIMARY_REGRESSED;
	}
	/* R02: the store's primary is not believed until a site is promoted
	 * or adopted (health_event_locked fires R02 again meanwhile). */
	if (row->event == FSM_E_STORE_BEHIND && row->action == FSM_A_FENCE)
		c->primary_unknown = true;
	if (row->opens_run)  /* R02 believes no old primary: the run names none */
		out->run_from = c->primary_unknown ? "" : next->primary;
	/* A rejoin begins with no site named yet (its action names them). */
	if (row->action == FSM_A_REJOIN && row->from != row->to)
		c->nrejoining = 0;
	if (row->event == FSM_E_PROMOTED || row->action == FSM_A_ADOPT)
		c->primary_unknown = false;
	if (row->event == FSM_E_PROMOTED && c->candidate[0])
		snprintf(next->primary, sizeof(next->primary), "%s", c->candidate);
}

bool transition_run_over(struct store_cluster *c, const char *outcome, int64_t now_ms)
{
	bool failover = !c->ctx.kind[0] || runctx_is(&c->ctx, "failover");
	c->run_id = 0;
	if (failover && strcmp(outcome, "succeeded") == 0)
		c->ctx.last_failover_ms = now_ms;
	return failover;
}
