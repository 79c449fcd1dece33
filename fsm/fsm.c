/*
 * fsm.c — the DR state machine engine: looks rows up in the generated table
 * (fsm_table.c).  Stateless and allocation-free; safe from any thread.
 *
 * The table is small (one row per (state, event) plus one per extra guarded
 * row), so lookups are linear scans: the order of the scan is the order in
 * which the rows of a pair are tried, which is the spec's order.
 */
#include <stddef.h>
#include <string.h>

#include "fsm.h"

static bool guard_holds(fsm_guard_fn guard, void *ctx, enum fsm_guard g)
{
	if (g == FSM_G_NONE)
		return true;
	return guard && guard(ctx, g);
}

const struct fsm_row *fsm_step(enum fsm_state s, enum fsm_event e, fsm_guard_fn guard,
			       void *ctx)
{
	if ((unsigned)s >= FSM_NSTATES || (unsigned)e >= FSM_NEVENTS)
		return NULL;
	for (size_t i = 0; i < fsm_nrows; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		if (r->from == s && r->event == e && guard_holds(guard, ctx, r->guard))
			return r;
	}
	return NULL;
}

static int name_index(const char *const names[], int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

int fsm_state_by_name(const char *name)
{
	return name_index(fsm_state_names, FSM_NSTATES, name);
}

int fsm_event_by_name(const char *name)
{
	return name_index(fsm_event_names, FSM_NEVENTS, name);
}

const struct fsm_row *fsm_row_by_id(const char *id)
{
	for (size_t i = 0; id && i < fsm_nrows; i++)
		if (strcmp(fsm_rows[i].id, id) == 0)
			return &fsm_rows[i];
	return NULL;
}

const char *fsm_kind_name(enum fsm_kind kind)
{
	switch (kind) {
	case FSM_TRANSITION:
		return "transition";
	case FSM_IGNORE:
		return "ignore";
	case FSM_REJECT:
		return "reject";
	}
	return "?";
}
