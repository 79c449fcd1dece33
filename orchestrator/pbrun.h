/*
 * pbrun.h — drorchd's playbook runner.
 *
 * Owns the one playbook run that may be in progress: its thread, which
 * executes the steps in order and records each as a step of the run (kind
 * "playbook"), and its approval gate.  Recoveries a playbook asks for
 * (failover, switchover, failback) go through the state machine like an
 * operator's, with the actor "playbook:RUN", and are runs of their own; the
 * playbook waits for each to end.  A failed step ends the playbook run
 * "failed" and skips the rest.  A dry run plans without acting: every step
 * recorded "skipped" with what it would do, checks evaluated against the
 * cluster as it is now.
 */
#ifndef DRORCH_PBRUN_H
#define DRORCH_PBRUN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "orch.h"
#include "playbook.h"

struct pbrun;

/* Also ends, as failed, a playbook run a previous drorchd left running. */
int pbrun_new(struct pbrun **out, struct orch *o, char *err, size_t errlen);
/* Stops a run in progress (it ends failed: drorchd stopping) and frees. */
void pbrun_free(struct pbrun *p);

struct pbrun_opts {
	const char *kind;          /* the run's kind: "playbook" (NULL) or "upgrade" */
	const char *actor;         /* operator:NAME */
	bool dry_run;
	json_t *detail;            /* merged into the run's detail (borrowed), or NULL */
	const char *source;        /* the playbook's YAML, kept in the run's detail
				    * ("source") so that a restarted drorchd can
				    * resume the run; NULL: it cannot be resumed */
};

/*
 * Starts playbook pb (taken over: freed by the runner, also on error).
 * Real run: 0 with *run_id, the steps run in the background.  Dry run: the
 * plan is made and recorded now; *plan receives {"run","dry_run","outcome",
 * "plan":[...]} (new ref).  409 when a playbook is already running, 500
 * when the store failed; why says so.
 */
int pbrun_start(struct pbrun *p, struct playbook *pb, const struct pbrun_opts *o,
		int64_t *run_id, json_t **plan, char *why, size_t whylen);

/* Lets run_id past the approval gate it waits at.  0, 404 (not the
 * running playbook) or 409 (it waits at no gate). */
int pbrun_approve(struct pbrun *p, int64_t run_id, const char *actor, const char *comment,
		  char *why, size_t whylen);

#endif
