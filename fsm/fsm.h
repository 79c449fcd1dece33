/*
 * fsm.h — the contract of the DR state machine engine (prefix fsm_).
 *
 * The table itself (states, events, guards, actions, rows, names, docs and
 * timeouts) is generated from fsm/dr.fsm.yaml into fsm_table.h; this header
 * adds the few functions that read it.  The engine has no state of its own:
 * the caller owns the current state, evaluates guards, commits the
 * transition and runs the row's action.
 */
#ifndef DRORCH_FSM_H
#define DRORCH_FSM_H

#include <stdbool.h>

#include "fsm_table.h"

/* Answers whether guard g holds now (never called with FSM_G_NONE). */
typedef bool (*fsm_guard_fn)(void *ctx, enum fsm_guard g);

/*
 * The row that fires for event e in state s: the first row of (s, e) whose
 * guard holds.  A NULL guard function means that no guard holds (only
 * unguarded rows fire).  Never NULL for valid s and e (fsmgen guarantees a
 * fallback row for every pair); NULL when s or e is out of range.  The row
 * says what to do: FSM_TRANSITION (commit, then run row->action),
 * FSM_IGNORE, or FSM_REJECT (refuse the request with row->reason).
 */
const struct fsm_row *fsm_step(enum fsm_state s, enum fsm_event e, fsm_guard_fn guard,
			       void *ctx);

/* The state or event of that exact name (e.g. "STEADY"), or -1. */
int fsm_state_by_name(const char *name);
int fsm_event_by_name(const char *name);

/* The expanded row of that id (e.g. "D01@STEADY"), or NULL. */
const struct fsm_row *fsm_row_by_id(const char *id);

/* "transition", "ignore" or "reject". */
const char *fsm_kind_name(enum fsm_kind kind);

#endif
