/*
 * report.h — post-mortem reports of one run (prefix report_): what an
 * auditor keeps after a failover, switchover or drill.
 *
 * This module owns the report's content and its three renderings:
 *   - the model: report_json() reads a run exactly as GET /v1/runs/{id}
 *     answers it (RunDetail: the run's columns, steps, transitions), the
 *     targets and the audit's verification, and returns one JSON object
 *     {run, targets, measured, verdict, timeline, path, phases_ms,
 *     slowest_phase, write_load, steps, audit}: docs/orchestrator.md,
 *     "Reports", describes each key;
 *   - report_markdown() and report_html() render that model (Markdown for
 *     post-mortems; one self-contained HTML page with inline CSS and SVG:
 *     the timeline against the RTO target and the state diagram with the
 *     run's path highlighted);
 *   - the verdict (report_judge) and the diagram's layout
 *     (report_fsm_layout), pure functions with unit tests.
 *
 * Nothing here reads the store, the clock or the network: the caller (the
 * REST API) gathers the input.  The state diagram comes from the generated
 * table (fsm_table.h), never from a list of names kept here.
 *
 * Memory: every returned string is malloc'd and freed by the caller; every
 * json_t is a new reference the caller json_decref()s.  NULL means out of
 * memory (or, for report_json, a run that is not a JSON object).
 */
#ifndef DRORCH_REPORT_H
#define DRORCH_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "fsm.h"
#include "store.h"

enum report_format { REPORT_MD, REPORT_HTML, REPORT_JSON };

/* "md", "html" or "json" into *out: 0, or -1 for any other name. */
int report_format_by_name(const char *name, enum report_format *out);
/* The Content-Type of a format, e.g. "text/markdown; charset=utf-8". */
const char *report_content_type(enum report_format f);

/* ---- the verdict ------------------------------------------------------------ */

/* A run's targets.  rpo_ms, rto_ms: < 0 no target; rpo_records: <= 0 no limit. */
struct report_targets {
	int64_t rpo_records, rpo_ms, rto_ms;
};

/* What the run measured; < 0: not measured. */
struct report_measured {
	int64_t rpo_records, rpo_ms, rto_ms;
};

enum report_verdict { REPORT_UNKNOWN, REPORT_MET, REPORT_MISSED };

struct report_judgement {
	enum report_verdict rpo, rto;
	/* When the RTO is missed: the phase that used the budget (the run's
	 * slowest phase, as passed in; NULL when unknown).  Else NULL. */
	const char *rto_overrun_phase;
};

/*
 * Judges measured against targets, as decide_verdict does when a run ends
 * (used for a run that recorded no verdict).  RTO: missed when rto_ms > its target;
 * unknown when not measured or without a target.  RPO: missed when
 * rpo_records > its target (a target <= 0: no limit) or rpo_ms > its target;
 * unknown when neither figure is measured; else met.
 */
void report_judge(const struct report_measured *m, const struct report_targets *t,
		  const char *slowest_phase, struct report_judgement *out);
/* "met", "missed", "unknown". */
const char *report_verdict_name(enum report_verdict v);

/* ---- the state diagram's layout ------------------------------------------------- */

/*
 * Columns by BFS distance from the steady state over the table's
 * transition rows (column 0: FSM_STEADY alone); within a column, states by
 * the mean row of their predecessors in the column before (fewer crossing
 * edges), ties in enum order.  A state no transition reaches (fsmgen
 * refuses such a spec) would get the column after the last.
 * Deterministic: the same table, the same picture.
 */
struct report_layout {
	int col[FSM_NSTATES], row[FSM_NSTATES];
	int height[FSM_NSTATES + 1];  /* states per column */
	int ncols, nrows;             /* nrows: the tallest column */
};
void report_fsm_layout(struct report_layout *out);

/* ---- the report --------------------------------------------------------------- */

struct report_input {
	const json_t *run;      /* RunDetail, as GET /v1/runs/{id} answers */
	/* The policy in force: the targets when the run's detail.targets has none. */
	struct report_targets policy_targets;
	/* store_verify's answer: 0 intact, 1 broken, -1 it could not tell
	 * (audit_error says why); audit may be NULL only with -1. */
	int audit_rc;
	const struct store_audit_report *audit;
	const char *audit_error;
};

json_t *report_json(const struct report_input *in);
/* The model (report_json's object) rendered. */
char *report_markdown(const json_t *model);
char *report_html(const json_t *model);
/* report_json, then the format: *len receives the length.  NULL: out of memory. */
char *report_render(const struct report_input *in, enum report_format f, size_t *len);

#endif
