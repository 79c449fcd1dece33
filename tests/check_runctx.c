/*
 * check_runctx.c — the run context (orchestrator/runctx.h) without
 * processes: what a run keeps and clears when it opens (automatic or
 * asked for, failover or not), its text form (every field round-trips, an
 * empty context is {}, unknown keys are ignored, a wrong type is an error
 * that leaves an empty context), the rejoin's list and the upgrade plan.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runctx.h"

/* A context with every field set. */
static void full(struct run_ctx *c)
{
	runctx_init(c);
	c->last_failover_ms = 1700000000123;
	c->primary_unknown = true;
	strcpy(c->kind, "upgrade");
	strcpy(c->target, "eu-west");
	c->force = true;
	c->detected_ms = 11;
	c->last_good_heartbeat_ms = 10;
	c->old_primary_lsn = 4242;
	c->regressed = true;
	strcpy(c->candidate, "ap-south");
	c->rpo_records = 0;
	c->rpo_ms = 0;
	c->all_replicas_follow = true;
	strcpy(c->awaiting, "us-east");
	ck_assert(runctx_rejoining_add(c, "us-east"));
	ck_assert(runctx_rejoining_add(c, "eu-west"));
	c->upgrade.set = true;
	strcpy(c->upgrade.to, "0.2.0");
	c->upgrade.finalize = true;
	strcpy(c->upgrade.order[0], "ap-south");
	strcpy(c->upgrade.order[1], "eu-west");
	strcpy(c->upgrade.order[2], "us-east");
	c->upgrade.norder = 3;
	strcpy(c->upgrade.switch_to, "eu-west");
}

START_TEST(test_empty_context_is_an_empty_object)
{
	struct run_ctx c;
	char err[200];
	runctx_init(&c);
	ck_assert_int_eq(c.rpo_records, -1);
	ck_assert_int_eq(c.rpo_ms, -1);
	char *text = runctx_format(&c);
	ck_assert_str_eq(text, "{}");
	free(text);
	struct run_ctx d;
	ck_assert_int_eq(runctx_parse(&d, "", err, sizeof(err)), 0);
	ck_assert_mem_eq(&c, &d, sizeof(c));
	ck_assert_int_eq(runctx_parse(&d, NULL, err, sizeof(err)), 0);
	ck_assert_mem_eq(&c, &d, sizeof(c));
}
END_TEST

START_TEST(test_every_field_round_trips)
{
	struct run_ctx c, d;
	char err[200];
	full(&c);
	char *text = runctx_format(&c);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(runctx_parse(&d, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(&c, &d, sizeof(c));
	/* zero RPO is a figure, not "unknown": it is written */
	ck_assert_ptr_nonnull(strstr(text, "\"rpo_ms\":0"));
	free(text);
}
END_TEST

/* What drorchd before the typed context wrote (same keys) still loads, and
 * keys it does not know are ignored. */
START_TEST(test_older_and_newer_texts_load)
{
	struct run_ctx c;
	char err[200];
	const char *old = "{\"candidate\":\"eu-west\",\"force\":false,\"kind\":\"failover\","
			  "\"last_failover_ms\":5,\"rejoining\":[],\"rpo_ms\":3,"
			  "\"rpo_records\":2,\"target\":\"\",\"phase\":\"x\"}";
	ck_assert_msg(runctx_parse(&c, old, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.candidate, "eu-west");
	ck_assert_str_eq(c.kind, "failover");
	ck_assert_int_eq(c.last_failover_ms, 5);
	ck_assert_int_eq(c.rpo_records, 2);
	ck_assert_int_eq(c.rpo_ms, 3);
	ck_assert_int_eq(c.nrejoining, 0);
	ck_assert(runctx_is(&c, "failover"));
}
END_TEST

START_TEST(test_wrong_types_are_refused)
{
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "[]", "not a JSON object" },
		{ "{\"candidate\":7", "not a JSON object" },
		{ "{\"candidate\":7}", "\"candidate\" is not a string" },
		{ "{\"force\":\"yes\"}", "\"force\" is not a boolean" },
		{ "{\"rpo_ms\":1.5}", "\"rpo_ms\" is not an integer" },
		{ "{\"rejoining\":\"a\"}", "\"rejoining\" is not an array" },
		{ "{\"rejoining\":[1]}", "\"rejoining\" holds a value" },
		{ "{\"rejoining\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}",
		  "names too many sites" },
		{ "{\"upgrade\":{\"finalize\":true}}", "names no version" },
		{ "{\"upgrade\":5}", "\"upgrade\" is not an object" },
		{ "{\"kind\":\"a-kind-name-much-too-long\"}", "\"kind\" is too long" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_ctx c, empty;
		char err[200] = "";
		full(&c);
		runctx_init(&empty);
		ck_assert_int_eq(runctx_parse(&c, bad[i].text, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, bad[i].says), "%s: %s", bad[i].text, err);
		ck_assert_mem_eq(&c, &empty, sizeof(c));  /* nothing half-read */
	}
}
END_TEST

/* An automatic failover keeps what detection found and clears the last
 * run's figures; the anti-flapping clock and R02's doubt stay. */
START_TEST(test_automatic_failover_keeps_detection)
{
	struct run_ctx c;
	full(&c);
	runctx_begin(&c, "failover", NULL, 999);
	ck_assert_str_eq(c.kind, "failover");
	ck_assert_int_eq(c.detected_ms, 11);
	ck_assert_int_eq(c.last_good_heartbeat_ms, 10);
	ck_assert_int_eq(c.last_failover_ms, 1700000000123);
	ck_assert(c.primary_unknown);
	ck_assert_str_eq(c.target, "");
	ck_assert(!c.force && !c.regressed && !c.all_replicas_follow);
	ck_assert_str_eq(c.candidate, "");
	ck_assert_int_eq(c.rpo_records, -1);
	ck_assert_int_eq(c.rpo_ms, -1);
	ck_assert_int_eq(c.old_primary_lsn, 0);
	ck_assert_int_eq(c.nrejoining, 0);
	ck_assert_str_eq(c.awaiting, "");
	ck_assert(!c.upgrade.set);
}
END_TEST

/* An operator's failover is detected when asked for; a switchover or an
 * automatic run of another kind has no detection. */
START_TEST(test_asked_failover_is_detected_now_and_others_not_at_all)
{
	struct run_ctx c;
	struct runctx_request req = { .target = "eu-west", .force = true };
	full(&c);
	runctx_begin(&c, "failover", &req, 999);
	ck_assert_int_eq(c.detected_ms, 999);
	ck_assert_int_eq(c.last_good_heartbeat_ms, 999);
	ck_assert_str_eq(c.target, "eu-west");
	ck_assert(c.force);

	full(&c);
	runctx_begin(&c, "switchover", &req, 999);
	ck_assert_int_eq(c.detected_ms, 0);
	ck_assert_int_eq(c.last_good_heartbeat_ms, 0);
	ck_assert_str_eq(c.kind, "switchover");

	full(&c);
	runctx_begin(&c, "rejoin", NULL, 999);
	ck_assert_int_eq(c.detected_ms, 0);
	ck_assert_int_eq(c.last_good_heartbeat_ms, 10);  /* an automatic run keeps it */
}
END_TEST

START_TEST(test_asked_upgrade_carries_its_plan)
{
	struct run_ctx c, planned;
	full(&planned);
	struct runctx_request req = { .plan = &planned.upgrade };
	runctx_init(&c);
	runctx_begin(&c, "upgrade", &req, 1);
	ck_assert(c.upgrade.set);
	ck_assert_mem_eq(&c.upgrade, &planned.upgrade, sizeof(c.upgrade));
	ck_assert(runctx_is(&c, "upgrade"));
	ck_assert(!runctx_is(&c, "failover"));
}
END_TEST

START_TEST(test_rejoining_names_each_site_once)
{
	struct run_ctx c;
	char name[RUNCTX_NAME_MAX];
	runctx_init(&c);
	ck_assert(!runctx_rejoining_has(&c, "a"));
	ck_assert(runctx_rejoining_add(&c, "a"));
	ck_assert(runctx_rejoining_add(&c, "a"));
	ck_assert_int_eq(c.nrejoining, 1);
	ck_assert(runctx_rejoining_has(&c, "a"));
	for (int i = 1; i < RUNCTX_MAX_SITES; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ck_assert(runctx_rejoining_add(&c, name));
	}
	ck_assert(!runctx_rejoining_add(&c, "one-too-many"));
	ck_assert_int_eq(c.nrejoining, RUNCTX_MAX_SITES);
	char longname[RUNCTX_NAME_MAX + 1];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[RUNCTX_NAME_MAX] = '\0';
	runctx_init(&c);
	ck_assert(!runctx_rejoining_add(&c, longname));
}
END_TEST

START_TEST(test_plan_json_round_trips)
{
	struct run_ctx c;
	struct runctx_plan p;
	char err[200];
	full(&c);
	json_t *j = runctx_plan_json(&c.upgrade);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_array_size(json_object_get(j, "order")), 3);
	ck_assert_msg(runctx_plan_from_json(&p, j, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(&p, &c.upgrade, sizeof(p));
	json_decref(j);
}
END_TEST

static Suite *runctx_suite(void)
{
	Suite *s = suite_create("runctx");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_empty_context_is_an_empty_object);
	tcase_add_test(tc, test_every_field_round_trips);
	tcase_add_test(tc, test_older_and_newer_texts_load);
	tcase_add_test(tc, test_wrong_types_are_refused);
	tcase_add_test(tc, test_automatic_failover_keeps_detection);
	tcase_add_test(tc, test_asked_failover_is_detected_now_and_others_not_at_all);
	tcase_add_test(tc, test_asked_upgrade_carries_its_plan);
	tcase_add_test(tc, test_rejoining_names_each_site_once);
	tcase_add_test(tc, test_plan_json_round_trips);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(runctx_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
