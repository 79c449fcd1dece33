/*
 * check_transition.c — the run lifecycle (orchestrator/transition.h)
 * without processes, against the generated table: every transition row
 * enters its state and action and opens a run exactly when the spec says;
 * the epoch moves only on a fence (past every epoch a site may have seen)
 * or an adoption (up to the sites'); the primary changes only on promotion
 * (to the candidate) or adoption; R02 distrusts the row's primary, D10
 * lets a regressed primary stand; an operator's switchover names its kind;
 * the anti-flapping clock starts only when a failover succeeds.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "transition.h"

/* The first expansion of row id (e.g. "R02" finds "R02@STEADY"). */
static const struct fsm_row *row(const char *id)
{
	size_t n = strlen(id);
	for (size_t i = 0; i < fsm_nrows; i++)
		if (!strncmp(fsm_rows[i].id, id, n) &&
		    (fsm_rows[i].id[n] == '\0' || fsm_rows[i].id[n] == '@'))
			return &fsm_rows[i];
	ck_abort_msg("no row %s", id);
	return NULL;
}

/* STEADY at epoch 5, us-east primary, a previous failover's clock. */
static struct store_cluster steady(void)
{
	struct store_cluster c;
	memset(&c, 0, sizeof(c));
	strcpy(c.state, "STEADY");
	strcpy(c.primary, "us-east");
	c.epoch = 5;
	c.version = 9;
	runctx_init(&c.ctx);
	c.ctx.last_failover_ms = 777;
	return c;
}

static struct transition_in in_for(const struct fsm_row *r)
{
	return (struct transition_in){ .row = r, .sites_epoch = 5, .epoch_floor = 0,
				       .sites_primary = "us-east", .now_ms = 1000 };
}

START_TEST(test_every_row_enters_its_state_and_opens_runs_as_the_spec_says)
{
	int opened = 0;
	for (size_t i = 0; i < fsm_nrows; i++) {
		const struct fsm_row *r = &fsm_rows[i];
		if (r->kind != FSM_TRANSITION)
			continue;
		struct store_cluster cur = steady(), next;
		strcpy(cur.ctx.candidate, "eu-west");
		snprintf(cur.state, sizeof(cur.state), "%s", fsm_state_names[r->from]);
		struct transition_in in = in_for(r);
		struct transition_out out;
		transition_next(&cur, &in, &next, &out);
		ck_assert_str_eq(next.state, fsm_state_names[r->to]);
		ck_assert_str_eq(next.action, fsm_action_names[r->action]);
		ck_assert_int_eq(next.version, cur.version);  /* the store moves it */
		ck_assert_int_eq(next.run_id, cur.run_id);
		ck_assert_msg(!out.run_kind == !r->opens_run, "%s", r->id);
		opened += out.run_kind != NULL;
		if (r->opens_run && r->event != FSM_E_OP_SWITCHOVER)
			ck_assert_str_eq(next.ctx.kind, r->opens_run);
		bool moves = r->action == FSM_A_FENCE;
		ck_assert_msg(next.epoch == cur.epoch + moves, "%s: epoch %lld", r->id,
			      (long long)next.epoch);
		bool changes = r->event == FSM_E_PROMOTED;
		ck_assert_str_eq(next.primary, changes ? "eu-west" : "us-east");
		ck_assert_int_eq(next.ctx.last_failover_ms, 777);  /* only a run's end sets it */
	}
	ck_assert_int_ge(opened, 6);  /* D05 D10 S01 O01 U01 R02, at least */
}
END_TEST

/* A fence issues an epoch above the row's, the sites' and the history
 * floor, whichever is highest. */
START_TEST(test_fence_never_reissues_an_epoch)
{
	static const struct {
		int64_t row, sites, floor, want;
	} cases[] = {
		{ 5, 5, 0, 6 }, { 5, 9, 0, 10 }, { 5, 3, 12, 13 }, { 20, 9, 12, 21 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store_cluster cur = steady(), next;
		cur.epoch = cases[i].row;
		struct transition_in in = in_for(row("O01"));
		in.sites_epoch = cases[i].sites;
		in.epoch_floor = cases[i].floor;
		struct transition_out out;
		transition_next(&cur, &in, &next, &out);
		ck_assert_int_eq(next.epoch, cases[i].want);
	}
}
END_TEST

/* R01: the store is behind; the sites' epoch and primary are adopted, and
 * a primary once not believed is believed again. */
START_TEST(test_adoption_takes_the_sites_epoch_and_primary)
{
	struct store_cluster cur = steady(), next;
	cur.ctx.primary_unknown = true;
	struct transition_in in = in_for(row("R01"));
	in.sites_epoch = 8;
	in.sites_primary = "ap-south";
	struct transition_out out;
	transition_next(&cur, &in, &next, &out);
	ck_assert_int_eq(next.epoch, 8);
	ck_assert_str_eq(next.primary, "ap-south");
	ck_assert(!next.ctx.primary_unknown);
	ck_assert_ptr_null(out.run_kind);
}
END_TEST

/* R02: nobody is primary at the sites' newest epoch: fence above it, the
 * row's primary is not believed, the run takes over from no one. */
START_TEST(test_store_behind_without_primary_distrusts_the_row)
{
	struct store_cluster cur = steady(), next;
	struct transition_in in = in_for(row("R02"));
	in.sites_epoch = 8;
	in.sites_primary = NULL;
	struct transition_out out;
	transition_next(&cur, &in, &next, &out);
	ck_assert_int_eq(next.epoch, 9);
	ck_assert(next.ctx.primary_unknown);
	ck_assert_str_eq(out.run_kind, "failover");
	ck_assert_str_eq(out.run_from, "");
	/* ... until a site is promoted */
	struct store_cluster promoted;
	strcpy(next.ctx.candidate, "eu-west");
	in = in_for(row("F06"));
	transition_next(&next, &in, &promoted, &out);
	ck_assert(!promoted.ctx.primary_unknown);
	ck_assert_str_eq(promoted.primary, "eu-west");
	ck_assert_int_eq(promoted.epoch, 9);
}
END_TEST

/* D05 keeps what detection found; D10 marks the primary as failed over
 * for its log, so it may stand again. */
START_TEST(test_automatic_failovers_open_with_detection)
{
	struct store_cluster cur = steady(), next;
	cur.ctx.detected_ms = 950;
	cur.ctx.last_good_heartbeat_ms = 900;
	strcpy(cur.ctx.candidate, "stale");
	struct transition_in in = in_for(row("D05"));
	struct transition_out out;
	transition_next(&cur, &in, &next, &out);
	ck_assert_str_eq(out.run_kind, "failover");
	ck_assert_str_eq(out.run_from, "us-east");
	ck_assert_int_eq(next.ctx.detected_ms, 950);
	ck_assert_int_eq(next.ctx.last_good_heartbeat_ms, 900);
	ck_assert_str_eq(next.ctx.candidate, "");
	ck_assert(!next.ctx.regressed);
	in = in_for(row("D10"));
	transition_next(&cur, &in, &next, &out);
	ck_assert(next.ctx.regressed);
	ck_assert_int_eq(next.epoch, 6);
}
END_TEST

/* An operator's switchover names its kind (a failback), carries its
 * target, and has no detection. */
START_TEST(test_operator_switchover_names_its_kind)
{
	struct store_cluster cur = steady(), next;
	cur.ctx.detected_ms = 950;
	struct runctx_request req = { .target = "ap-south" };
	struct transition_in in = in_for(row("S01"));
	in.req = &req;
	in.req_kind = "failback";
	struct transition_out out;
	transition_next(&cur, &in, &next, &out);
	ck_assert_str_eq(out.run_kind, "failback");
	ck_assert_str_eq(next.ctx.kind, "failback");
	ck_assert_str_eq(next.ctx.target, "ap-south");
	ck_assert_int_eq(next.ctx.detected_ms, 0);
	ck_assert_int_eq(next.epoch, 5);  /* the drain moves no epoch; S02's fence does */
	in.req_kind = NULL;
	transition_next(&cur, &in, &next, &out);
	ck_assert_str_eq(out.run_kind, "switchover");
}
END_TEST

START_TEST(test_upgrade_opens_with_its_plan_and_rejoin_with_no_site)
{
	struct store_cluster cur = steady(), next;
	struct runctx_plan plan = { .set = true, .to = "0.2.0", .finalize = true, .norder = 1 };
	strcpy(plan.order[0], "eu-west");
	struct runctx_request req = { .plan = &plan };
	struct transition_in in = in_for(row("U01"));
	in.req = &req;
	struct transition_out out;
	transition_next(&cur, &in, &next, &out);
	ck_assert_str_eq(out.run_kind, "upgrade");
	ck_assert(next.ctx.upgrade.set);
	ck_assert_str_eq(next.ctx.upgrade.to, "0.2.0");
	ck_assert_str_eq(next.ctx.upgrade.order[0], "eu-west");

	cur.ctx.nrejoining = 1;
	strcpy(cur.ctx.rejoining[0], "us-east");
	in = in_for(row("J01"));
	transition_next(&cur, &in, &next, &out);
	ck_assert_int_eq(next.ctx.nrejoining, 0);
	ck_assert_ptr_null(out.run_kind);
}
END_TEST

START_TEST(test_only_a_succeeded_failover_starts_the_clock)
{
	static const struct {
		const char *kind, *outcome;
		bool failover, clock;
	} cases[] = {
		{ "failover", "succeeded", true, true },
		{ "failover", "held", true, false },
		{ "", "succeeded", true, true },  /* a store from before kinds */
		{ "switchover", "succeeded", false, false },
		{ "failback", "succeeded", false, false },
		{ "upgrade", "failed", false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store_cluster c = steady();
		c.run_id = 4;
		strcpy(c.ctx.kind, cases[i].kind);
		ck_assert_int_eq(transition_run_over(&c, cases[i].outcome, 5000), cases[i].failover);
		ck_assert_int_eq(c.run_id, 0);
		ck_assert_int_eq(c.ctx.last_failover_ms, cases[i].clock ? 5000 : 777);
	}
}
END_TEST

static Suite *transition_suite(void)
{
	Suite *s = suite_create("transition");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_every_row_enters_its_state_and_opens_runs_as_the_spec_says);
	tcase_add_test(tc, test_fence_never_reissues_an_epoch);
	tcase_add_test(tc, test_adoption_takes_the_sites_epoch_and_primary);
	tcase_add_test(tc, test_store_behind_without_primary_distrusts_the_row);
	tcase_add_test(tc, test_automatic_failovers_open_with_detection);
	tcase_add_test(tc, test_operator_switchover_names_its_kind);
	tcase_add_test(tc, test_upgrade_opens_with_its_plan_and_rejoin_with_no_site);
	tcase_add_test(tc, test_only_a_succeeded_failover_starts_the_clock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(transition_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
