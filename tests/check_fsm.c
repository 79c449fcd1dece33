/*
 * check_fsm.c — the DR state machine: the engine on the real generated table
 * (guards, fallbacks, ids, names, the invariants fsmgen promises), and fsmgen
 * itself, run as a process on tests/fsm/good_small.yaml and on one bad spec
 * per kind of refusal, each expected to fail with SPEC:LINE:COLUMN: message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsm.h"
#include "policy.h"
#include "testhelp.h"

/* ---- the engine on the real table ---------------------------------------- */

static bool all_guards(void *ctx, enum fsm_guard g)
{
	(void)ctx;
	(void)g;
	return true;
}

static bool no_guards(void *ctx, enum fsm_guard g)
{
	(void)ctx;
	(void)g;
	return false;
}

/* ctx is the one guard that holds. */
static bool only_guard(void *ctx, enum fsm_guard g)
{
	return g == *(enum fsm_guard *)ctx;
}

START_TEST(test_fsm_primary_missed_with_anti_flap_ok_goes_suspect)
{
	enum fsm_guard ok = FSM_G_ANTI_FLAP_OK;
	const struct fsm_row *r = fsm_step(FSM_S_STEADY, FSM_E_PRIMARY_MISSED, only_guard, &ok);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->id, "D01@STEADY");
	ck_assert_int_eq(r->kind, FSM_TRANSITION);
	ck_assert_int_eq(r->to, FSM_S_SUSPECT);
	ck_assert_int_eq(r->action, FSM_A_CONFIRM);
	ck_assert_int_eq(r->guard, FSM_G_ANTI_FLAP_OK);
}
END_TEST

START_TEST(test_fsm_primary_missed_inside_flap_window_goes_held)
{
	const struct fsm_row *r = fsm_step(FSM_S_STEADY, FSM_E_PRIMARY_MISSED, no_guards, NULL);
	ck_assert_str_eq(r->id, "D02@STEADY");
	ck_assert_int_eq(r->to, FSM_S_HELD);
	ck_assert_int_eq(r->action, FSM_A_RECORD);
	r = fsm_step(FSM_S_DEGRADED, FSM_E_PRIMARY_MISSED, NULL, NULL);
	ck_assert_str_eq(r->id, "D02@DEGRADED");
}
END_TEST

static bool not_upgrading(void *ctx, enum fsm_guard g)
{
	(void)ctx;
	return g != FSM_G_UPGRADE_RUNNING;
}

START_TEST(test_fsm_null_guard_function_means_no_guard_holds)
{
	const struct fsm_row *r = fsm_step(FSM_S_REDIRECTING, FSM_E_REDIRECTED, NULL, NULL);
	ck_assert_str_eq(r->id, "F09");
	ck_assert_int_eq(r->to, FSM_S_DEGRADED);
	r = fsm_step(FSM_S_REDIRECTING, FSM_E_REDIRECTED, all_guards, NULL);
	ck_assert_str_eq(r->id, "U05");  /* an upgrade's switchover goes on with the upgrade */
	ck_assert_int_eq(r->to, FSM_S_UPGRADING);
	r = fsm_step(FSM_S_REDIRECTING, FSM_E_REDIRECTED, not_upgrading, NULL);
	ck_assert_str_eq(r->id, "F08");
	ck_assert_int_eq(r->to, FSM_STEADY);
}
END_TEST

START_TEST(test_fsm_ignore_and_reject_stay_put_with_a_reason)
{
	const struct fsm_row *r = fsm_step(FSM_S_FENCING, FSM_E_OP_PAUSE, NULL, NULL);
	ck_assert_str_eq(r->id, "O04@FENCING/OP_PAUSE");
	ck_assert_int_eq(r->kind, FSM_REJECT);
	ck_assert_int_eq(r->to, FSM_S_FENCING);
	ck_assert_int_eq(r->action, FSM_A_NONE);
	ck_assert_str_eq(r->reason, "A failover is already running");
	r = fsm_step(FSM_S_STEADY, FSM_E_TIMEOUT, NULL, NULL);
	ck_assert_str_eq(r->id, "Z03@STEADY");
	ck_assert_int_eq(r->kind, FSM_IGNORE);
	ck_assert_str_eq(fsm_kind_name(r->kind), "ignore");
}
END_TEST

/* Both with every guard holding and with none: some row, of that very pair. */
START_TEST(test_fsm_every_pair_resolves)
{
	for (int s = 0; s < FSM_NSTATES; s++)
		for (int e = 0; e < FSM_NEVENTS; e++) {
			const struct fsm_row *a = fsm_step(s, e, all_guards, NULL);
			const struct fsm_row *n = fsm_step(s, e, NULL, NULL);
			ck_assert_msg(a && n, "(%s, %s) has no row", fsm_state_names[s],
				      fsm_event_names[e]);
			ck_assert(a->from == (enum fsm_state)s && a->event == (enum fsm_event)e);
			ck_assert(n->from == (enum fsm_state)s && n->event == (enum fsm_event)e);
			ck_assert_int_eq(n->guard, FSM_G_NONE);
			ck_assert_ptr_nonnull(n->reason);
		}
}
END_TEST

START_TEST(test_fsm_out_of_range_steps_are_null)
{
	ck_assert_ptr_null(fsm_step(FSM_NSTATES, FSM_E_HEALTHY, NULL, NULL));
	ck_assert_ptr_null(fsm_step(FSM_S_STEADY, FSM_NEVENTS, NULL, NULL));
	ck_assert_ptr_null(fsm_step((enum fsm_state)-1, FSM_E_HEALTHY, NULL, NULL));
}
END_TEST

START_TEST(test_fsm_transient_states_leave_on_timeout)
{
	int transient = 0;
	for (int s = 0; s < FSM_NSTATES; s++) {
		const struct fsm_row *r = fsm_step(s, FSM_E_TIMEOUT, NULL, NULL);
		if (fsm_state_timeout_ms[s] == 0) {
			ck_assert_int_ne(r->kind, FSM_TRANSITION);
			continue;
		}
		transient++;
		ck_assert_msg(r->kind == FSM_TRANSITION, "%s ignores its timeout", fsm_state_names[s]);
		ck_assert_int_ne(r->to, s);
	}
	ck_assert_int_gt(transient, 0);
	ck_assert_uint_eq(fsm_state_timeout_ms[FSM_S_SUSPECT], 3000);
	ck_assert_uint_eq(fsm_state_timeout_ms[FSM_STEADY], 0);
	/* A policy's switchover.max_pause_ms cannot outlast the state it pauses in. */
	ck_assert_uint_eq(fsm_state_timeout_ms[FSM_S_SWITCHOVER], POLICY_MAX_PAUSE_MS);
}
END_TEST

/* Reached[] from STEADY forwards, or backwards (which states lead to it). */
static void reach(bool reached[FSM_NSTATES], bool backwards)
{
	bool changed = true;
	memset(reached, 0, FSM_NSTATES * sizeof(bool));
	reached[FSM_STEADY] = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < fsm_nrows; i++) {
			const struct fsm_row *r = &fsm_rows[i];
			int src = backwards ? r->to : r->from, dst = backwards ? r->from : r->to;
			if (r->kind == FSM_TRANSITION && reached[src] && !reached[dst])
				reached[dst] = changed = true;
		}
	}
}

START_TEST(test_fsm_every_state_reachable_and_can_return)
{
	bool fwd[FSM_NSTATES], back[FSM_NSTATES];
	reach(fwd, false);
	reach(back, true);
	for (int s = 0; s < FSM_NSTATES; s++) {
		ck_assert_msg(fwd[s], "%s unreachable", fsm_state_names[s]);
		ck_assert_msg(back[s], "%s cannot return to STEADY", fsm_state_names[s]);
	}
}
END_TEST

START_TEST(test_fsm_row_ids_are_unique_and_found)
{
	for (size_t i = 0; i < fsm_nrows; i++) {
		ck_assert_ptr_eq(fsm_row_by_id(fsm_rows[i].id), &fsm_rows[i]);
		ck_assert_uint_gt(strlen(fsm_rows[i].reason), 0);
	}
	ck_assert_str_eq(fsm_rows[0].id, "H01");
	ck_assert_ptr_nonnull(fsm_row_by_id("F12@FENCING/HEALTHY"));
	ck_assert_ptr_nonnull(fsm_row_by_id("O03@HELD"));
	ck_assert_ptr_null(fsm_row_by_id("D01"));
	ck_assert_ptr_null(fsm_row_by_id("Z03@SUSPECT"));
	ck_assert_ptr_null(fsm_row_by_id(NULL));
}
END_TEST

START_TEST(test_fsm_names_round_trip)
{
	for (int s = 0; s < FSM_NSTATES; s++)
		ck_assert_int_eq(fsm_state_by_name(fsm_state_names[s]), s);
	for (int e = 0; e < FSM_NEVENTS; e++)
		ck_assert_int_eq(fsm_event_by_name(fsm_event_names[e]), e);
	ck_assert_int_eq(fsm_state_by_name("STEADY"), FSM_STEADY);
	ck_assert_int_eq(fsm_event_by_name("OP_RESUME"), FSM_E_OP_RESUME);
	ck_assert_int_eq(fsm_state_by_name("steady"), -1);
	ck_assert_int_eq(fsm_state_by_name("NOPE"), -1);
	ck_assert_int_eq(fsm_event_by_name(NULL), -1);
	ck_assert_str_eq(fsm_guard_names[FSM_G_ANTI_FLAP_OK], "anti_flap_ok");
	ck_assert_str_eq(fsm_action_names[FSM_A_FENCE], "fence");
	ck_assert_uint_gt(strlen(fsm_state_docs[FSM_S_HELD]), 0);
}
END_TEST

/* ---- fsmgen as a process -------------------------------------------------- */

struct gen_run {
	char *dir;	/* private output directory (OUTDIR = DOCDIR) */
	char *output;	/* stdout + stderr */
	int status;	/* exit status, or -1 */
};

static void gen_run(struct gen_run *g, const char *spec)
{
	char log[1100];

	g->dir = th_mkdtemp("check_fsm");
	ck_assert_ptr_nonnull(g->dir);
	snprintf(log, sizeof(log), "%s/output.log", g->dir);
	char *argv[] = { (char *)th_bin("fsm/fsmgen"), (char *)spec, g->dir, g->dir, NULL };
	pid_t pid = th_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	int ws = th_wait_exit(pid, 10000);
	g->status = ws >= 0 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
	size_t len;
	g->output = th_read_file(log, &len);
	if (!g->output)
		g->output = strdup("");
	ck_assert_ptr_nonnull(g->output);
}

static void gen_free(struct gen_run *g)
{
	th_rmrf(g->dir);
	free(g->dir);
	free(g->output);
}

static bool gen_wrote(const struct gen_run *g, const char *name)
{
	char path[1100];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", g->dir, name);
	return stat(path, &st) == 0;
}

static char *gen_file(const struct gen_run *g, const char *name)
{
	char path[1100];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", g->dir, name);
	char *text = th_read_file(path, &len);
	ck_assert_msg(text != NULL, "%s not written", name);
	return text;
}

START_TEST(test_fsmgen_accepts_the_real_spec)
{
	struct gen_run g;
	gen_run(&g, th_src("fsm/dr.fsm.yaml"));
	ck_assert_msg(g.status == 0, "fsmgen: %s", g.output);
	char *h = gen_file(&g, "fsm_table.h"), *dot = gen_file(&g, "fsm.dot");
	char *md = gen_file(&g, "fsm.md"), *c = gen_file(&g, "fsm_table.c");
	ck_assert_ptr_nonnull(strstr(h, "FSM_S_STEADY"));
	ck_assert_ptr_nonnull(strstr(c, "\"D01@STEADY\""));
	ck_assert_ptr_nonnull(strstr(dot, "\"STEADY\" -> \"SUSPECT\" [label=\"PRIMARY_MISSED [anti_flap_ok]\\nD01@STEADY\""));
	ck_assert_ptr_nonnull(strstr(dot, "style=\"rounded,dashed\""));
	ck_assert_ptr_nonnull(strstr(md, "| D01 | `STEADY`, `DEGRADED`, `REJOINING` | `PRIMARY_MISSED` | `anti_flap_ok` | `confirm` | → `SUSPECT` |"));
	ck_assert_ptr_nonnull(strstr(md, "| `SUSPECT` | transient | 3000 ms |"));
	ck_assert_ptr_nonnull(strstr(md, "| `HELD` | resting, waits | — | renewed | — | — |"));
	ck_assert_ptr_nonnull(strstr(md, "| `FENCING` | transient | 15000 ms | — | — | open |"));
	ck_assert_ptr_nonnull(strstr(c, "fsm_state_accepts[FSM_NSTATES][FSM_NCOMMANDS + 1]"));
	free(h);
	free(c);
	free(dot);
	free(md);
	gen_free(&g);
}
END_TEST

/* File `name` as fsmgen writes it from the real spec (caller frees). */
static char *generated_from_spec(const char *name)
{
	struct gen_run g;
	gen_run(&g, th_src("fsm/dr.fsm.yaml"));
	ck_assert_msg(g.status == 0, "fsmgen: %s", g.output);
	char *text = gen_file(&g, name);
	gen_free(&g);
	return text;
}

/* docs/fsm.md, the table people read (and docs link to), is committed: it
 * must be the fsm.md fsmgen writes from the spec. */
START_TEST(test_fsm_doc_is_the_generated_table)
{
	char *md = generated_from_spec("fsm.md");
	size_t len;
	char *doc = th_read_file(th_src("docs/fsm.md"), &len);
	ck_assert_msg(doc, "docs/fsm.md is missing");
	ck_assert_msg(len == strlen(md) && !memcmp(doc, md, len),
		      "docs/fsm.md is stale: run `make update-docs`");
	free(doc);
	free(md);
}
END_TEST

/* docs/reliability.md carries the generated table of operator commands by
 * state between its fsmgen markers: it must be the table fsmgen writes. */
START_TEST(test_reliability_doc_has_the_generated_commands_table)
{
	char *table = generated_from_spec("fsm-commands.md");
	size_t len;
	char *doc = th_read_file(th_src("docs/reliability.md"), &len);
	ck_assert_ptr_nonnull(doc);
	const char *open = "<!-- fsmgen: fsm-commands.md -->\n", *close = "<!-- /fsmgen -->";
	char *from = strstr(doc, open), *to = from ? strstr(from, close) : NULL;
	ck_assert_msg(from && to, "docs/reliability.md lacks its fsmgen markers");
	from += strlen(open);
	ck_assert_msg((size_t)(to - from) == strlen(table) && !strncmp(from, table, strlen(table)),
		      "docs/reliability.md's table of commands by state is stale: run "
		      "`make update-docs`");
	ck_assert_ptr_nonnull(strstr(table, "| `PAUSED` |"));
	free(doc);
	free(table);
}
END_TEST

START_TEST(test_fsmgen_expands_ids_by_how_rows_are_written)
{
	struct gen_run g;
	gen_run(&g, th_src("tests/fsm/good_small.yaml"));
	ck_assert_msg(g.status == 0, "fsmgen: %s", g.output);
	char *c = gen_file(&g, "fsm_table.c");
	ck_assert_ptr_nonnull(strstr(c, "{ \"R01\", FSM_S_STEADY, FSM_E_MISSED, FSM_G_OK, FSM_A_FENCE, FSM_S_FAILING, FSM_TRANSITION,"));
	ck_assert_ptr_nonnull(strstr(c, "{ \"R06@HELD\", FSM_S_HELD, FSM_E_MISSED, FSM_G_NONE, FSM_A_NONE, FSM_S_HELD, FSM_IGNORE,"));
	/* "*" skips the states that have a row of their own for that event */
	ck_assert_ptr_nonnull(strstr(c, "\"R07@STEADY/TIMEOUT\""));
	ck_assert_ptr_null(strstr(c, "\"R07@FAILING/TIMEOUT\""));
	ck_assert_ptr_null(strstr(c, "\"R07@FAILING/DONE\""));
	ck_assert_ptr_nonnull(strstr(c, "\"R07@HELD/DONE\""));
	ck_assert_ptr_nonnull(strstr(c, "\"R08@STEADY\""));
	free(c);
	gen_free(&g);
}
END_TEST

START_TEST(test_fsmgen_usage_and_missing_spec)
{
	char *argv[] = { (char *)th_bin("fsm/fsmgen"), NULL };
	pid_t pid = th_spawn(argv, "/dev/null");
	int ws = th_wait_exit(pid, 10000);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 2);

	struct gen_run g;
	gen_run(&g, th_src("tests/fsm/no_such_spec.yaml"));
	ck_assert_int_eq(g.status, 1);
	ck_assert_ptr_nonnull(strstr(g.output, "no_such_spec.yaml: No such file"));
	gen_free(&g);
}
END_TEST

/* One bad spec and the messages (after "SPEC:") it must be refused with. */
struct bad_spec {
	const char *file;
	const char *messages[5];
};

static const struct bad_spec bad_specs[] = {
	{ "bad_unknown_name.yaml", {
		"24:48: unknown guard 'okay'",
		"25:45: unknown state 'HOLD'",
		"26:60: unknown action 'recrod'",
		"30:46: unknown event 'TIMEDOUT'" } },
	{ "bad_outcome.yaml", {
		"26:5: row R03: needs exactly one of to, ignore or reject (has to, ignore)",
		"31:5: row R08: needs exactly one of to, ignore or reject (has none)" } },
	{ "bad_unreachable.yaml", {
		"9:3: state LOST is unreachable: no chain of transitions leads to it from STEADY" } },
	{ "bad_no_way_back.yaml", {
		"9:3: state STUCK has no way back: no chain of transitions leads from it to STEADY" } },
	{ "bad_no_timeout.yaml", {
		"7:3: transient state FAILING (timeout_ms 1000) has no TIMEOUT transition row" } },
	{ "bad_stable_timeout.yaml", {
		"32:5: row R09: state HELD has no timeout_ms, so its TIMEOUT transition can never fire" } },
	{ "bad_undeclared_pair.yaml", {
		"7:3: state FAILING declares no behaviour for event OP_RESUME" } },
	{ "bad_guard_without_fallback.yaml", {
		"24:48: row R01: guard ok has no fallback: the last row of (STEADY, MISSED) must carry no guard" } },
	{ "bad_unreachable_row.yaml", {
		"26:5: row R02b is unreachable: row R02 (line 25) already handles (STEADY, MISSED) without a guard" } },
	{ "bad_duplicate_id.yaml", {
		"31:10: duplicate row id R05 (first at line 28)" } },
	{ "bad_duplicate_state.yaml", {
		"9:3: state 'HELD' already declared at line 8" } },
	{ "bad_duplicate_key.yaml", {
		"28:54: row R05: key 'to' given twice" } },
	{ "bad_state_kind.yaml", {
		"6:12: state STEADY: a state is either resting (resting: true) or transient (timeout_ms), exactly one",
		"7:12: state FAILING: a state is either resting (resting: true) or transient (timeout_ms), exactly one",
		"8:12: state HELD: a run is never left open while waiting for an operator (end it: held)" } },
	{ "bad_run_lifecycle.yaml", {
		"25:5: row R01: enters FAILING (run_open) from STEADY, which has no run open: it needs opens_run: KIND",
		"27:5: row R03: leaves the run of FAILING for STEADY: it needs ends_run: succeeded | failed | held",
		"29:80: row R05: ends_run applies to none of its transitions (none leaves a run_open state)" } },
	{ "bad_run_on_ignore.yaml", {
		"29:86: row R06: an ignore row opens or ends no run" } },
	{ "bad_yaml.yaml", {
		"27:3: YAML: did not find expected ',' or '}'" } },
};

START_TEST(test_fsmgen_refuses_bad_spec)
{
	const struct bad_spec *b = &bad_specs[_i];
	char rel[256], want[512];
	snprintf(rel, sizeof(rel), "tests/fsm/%s", b->file);
	const char *spec = th_src(rel);
	struct gen_run g;

	gen_run(&g, spec);
	ck_assert_msg(g.status == 1, "%s: exit %d, output: %s", b->file, g.status, g.output);
	for (int i = 0; i < 5 && b->messages[i]; i++) {
		snprintf(want, sizeof(want), "%s:%s", spec, b->messages[i]);
		ck_assert_msg(strstr(g.output, want), "%s: expected \"%s\" in:\n%s", b->file, want,
			      g.output);
	}
	ck_assert_msg(!gen_wrote(&g, "fsm_table.c") && !gen_wrote(&g, "fsm_table.h") &&
		      !gen_wrote(&g, "fsm.dot") && !gen_wrote(&g, "fsm.md"),
		      "%s: refused, yet wrote output", b->file);
	gen_free(&g);
}
END_TEST

/* The properties the spec declares per state hold together: resting is
 * exactly "no timeout", only a resting state awaits an operator, a run is
 * open only while a recovery runs. */
START_TEST(test_fsm_state_properties_are_consistent)
{
	for (int s = 0; s < FSM_NSTATES; s++) {
		ck_assert_msg(fsm_state_resting[s] == !fsm_state_timeout_ms[s], "%s", fsm_state_names[s]);
		ck_assert(!fsm_state_awaits_operator[s] || fsm_state_resting[s]);
		ck_assert(!fsm_state_run_open[s] || !fsm_state_resting[s]);
		ck_assert(!fsm_state_reconciles[s] || fsm_state_renews_lease[s]);
	}
	ck_assert(fsm_state_resting[FSM_STEADY] && !fsm_state_awaits_operator[FSM_STEADY]);
	ck_assert(fsm_state_awaits_operator[FSM_S_HELD] && fsm_state_awaits_operator[FSM_S_PAUSED]);
	ck_assert(fsm_state_run_open[FSM_S_FENCING] && fsm_state_run_open[FSM_S_SWITCHOVER]);
	ck_assert(!fsm_state_run_open[FSM_S_SUSPECT]);
}
END_TEST

/* Every transition into the run states opens a run, every one out of them
 * ends it, and no other row does either: the run lifecycle is the table's. */
START_TEST(test_fsm_rows_open_and_end_runs)
{
	for (size_t i = 0; i < fsm_nrows; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		bool t = r->kind == FSM_TRANSITION;
		bool enters = t && !fsm_state_run_open[r->from] && fsm_state_run_open[r->to];
		bool leaves = t && fsm_state_run_open[r->from] && !fsm_state_run_open[r->to];
		ck_assert_msg(!!r->opens_run == enters, "%s opens_run", r->id);
		ck_assert_msg(!!r->ends_run == leaves, "%s ends_run", r->id);
	}
	ck_assert_str_eq(fsm_row_by_id("D05")->opens_run, "failover");
	ck_assert_str_eq(fsm_row_by_id("S01@STEADY")->opens_run, "switchover");
	ck_assert_str_eq(fsm_row_by_id("F08")->ends_run, "succeeded");
	ck_assert_str_eq(fsm_row_by_id("F11@PROMOTING")->ends_run, "held");
	ck_assert_str_eq(fsm_row_by_id("R01@FENCING")->ends_run, "failed");
	ck_assert_ptr_null(fsm_row_by_id("R01@STEADY")->ends_run);
	ck_assert_ptr_null(fsm_row_by_id("S02")->opens_run);
	ck_assert_ptr_null(fsm_row_by_id("R02@FENCING")->opens_run);
}
END_TEST

/* Which commands a state accepts is derived from the rows (and, for a
 * command without an event, from the state being resting). */
START_TEST(test_fsm_commands_accepted_by_state)
{
	for (int c = 0; c < FSM_NCOMMANDS; c++) {
		ck_assert_ptr_nonnull(fsm_command_names[c]);
		ck_assert_ptr_nonnull(fsm_command_requests[c]);
		for (int s = 0; s < FSM_NSTATES; s++) {
			int e = fsm_command_events[c];
			const struct fsm_row *r = e >= 0 ? fsm_step((enum fsm_state)s, (enum fsm_event)e,
							       all_guards, NULL) : NULL;
			bool want = e >= 0 ? r->kind == FSM_TRANSITION : fsm_state_resting[s];
			ck_assert_msg(fsm_state_accepts[s][c] == want, "%s %s", fsm_state_names[s],
				      fsm_command_names[c]);
		}
	}
	ck_assert_ptr_null(fsm_command_names[FSM_NCOMMANDS]);
	ck_assert_int_eq(fsm_command_events[FSM_C_FAILOVER], FSM_E_OP_FAILOVER);
	ck_assert_int_eq(fsm_command_events[FSM_C_POLICY], -1);
	ck_assert_ptr_nonnull(fsm_command_refusals[FSM_C_POLICY]);
	ck_assert(fsm_state_accepts[FSM_STEADY][FSM_C_SWITCHOVER]);
	ck_assert(!fsm_state_accepts[FSM_STEADY][FSM_C_RESUME]);
	ck_assert(fsm_state_accepts[FSM_S_PAUSED][FSM_C_RESUME]);
	ck_assert(!fsm_state_accepts[FSM_S_PAUSED][FSM_C_FAILOVER]);
	ck_assert(fsm_state_accepts[FSM_S_HELD][FSM_C_FAILOVER]);
	ck_assert(!fsm_state_accepts[FSM_S_FENCING][FSM_C_POLICY]);
	for (int c = 0; c < FSM_NCOMMANDS; c++)
		ck_assert(!fsm_state_accepts[FSM_S_ELECTING][c]);
}
END_TEST

static Suite *fsm_suite(void)
{
	Suite *s = suite_create("fsm");
	TCase *engine = tcase_create("engine");
	tcase_add_test(engine, test_fsm_primary_missed_with_anti_flap_ok_goes_suspect);
	tcase_add_test(engine, test_fsm_primary_missed_inside_flap_window_goes_held);
	tcase_add_test(engine, test_fsm_null_guard_function_means_no_guard_holds);
	tcase_add_test(engine, test_fsm_ignore_and_reject_stay_put_with_a_reason);
	tcase_add_test(engine, test_fsm_every_pair_resolves);
	tcase_add_test(engine, test_fsm_out_of_range_steps_are_null);
	tcase_add_test(engine, test_fsm_transient_states_leave_on_timeout);
	tcase_add_test(engine, test_fsm_every_state_reachable_and_can_return);
	tcase_add_test(engine, test_fsm_row_ids_are_unique_and_found);
	tcase_add_test(engine, test_fsm_names_round_trip);
	tcase_add_test(engine, test_fsm_state_properties_are_consistent);
	tcase_add_test(engine, test_fsm_rows_open_and_end_runs);
	tcase_add_test(engine, test_fsm_commands_accepted_by_state);
	suite_add_tcase(s, engine);

	TCase *gen = tcase_create("fsmgen");
	tcase_set_timeout(gen, 30);
	tcase_add_test(gen, test_fsmgen_accepts_the_real_spec);
	tcase_add_test(gen, test_fsmgen_expands_ids_by_how_rows_are_written);
	tcase_add_test(gen, test_reliability_doc_has_the_generated_commands_table);
	tcase_add_test(gen, test_fsm_doc_is_the_generated_table);
	tcase_add_test(gen, test_fsmgen_usage_and_missing_spec);
	tcase_add_loop_test(gen, test_fsmgen_refuses_bad_spec, 0,
			    (int)(sizeof(bad_specs) / sizeof(bad_specs[0])));
	suite_add_tcase(s, gen);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fsm_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
