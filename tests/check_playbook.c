/*
 * check_playbook.c — the playbook parser: the shipped examples, defaults,
 * every kind of bad input reported at its NAME:LINE:COLUMN with *out left
 * untouched, and a step as JSON.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "playbook.h"
#include "upgrade.h"
#include "testhelp.h"

static const char *const lab_sites[] = { "us-east", "eu-west", "ap-south" };

static int parse(const char *yaml, struct playbook *pb, char *err, size_t errlen)
{
	return playbook_parse("t.yaml", yaml, strlen(yaml), lab_sites, 3, pb, err, errlen);
}

/* Parses yaml, which must fail with exactly want and leave *out alone. */
static void expect_error(const char *yaml, const char *want)
{
	struct playbook pb;
	char err[512] = "";
	memset(&pb, 0x5a, sizeof(pb));
	struct playbook before = pb;
	ck_assert_int_eq(parse(yaml, &pb, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_mem_eq(&pb, &before, sizeof(pb));
}

/* A one-step playbook: `name: t`, `steps:` then "  - STEP" on line 3. */
static void expect_step_error(const char *step, const char *want)
{
	char yaml[1024];
	snprintf(yaml, sizeof(yaml), "name: t\nsteps:\n  - %s\n", step);
	expect_error(yaml, want);
}

static void parse_ok(const char *yaml, struct playbook *pb)
{
	char err[512] = "";
	int rc = parse(yaml, pb, err, sizeof(err));
	ck_assert_msg(rc == 0, "parse failed: %s", err);
}

/* ---- the shipped examples ------------------------------------------------ */

static void load_example(const char *rel, struct playbook *pb)
{
	char err[512] = "";
	int rc = playbook_load(th_src(rel), lab_sites, 3, pb, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s: %s", rel, err);
}

START_TEST(test_example_switchover_drill)
{
	struct playbook pb;
	load_example("playbooks/examples/switchover-drill.yaml", &pb);
	ck_assert_str_eq(pb.name, "switchover-drill");
	ck_assert_int_eq(pb.nsteps, 7);
	const enum pb_kind kinds[] = { PB_CHECK, PB_APPROVE, PB_SWITCHOVER, PB_WAIT,
				       PB_ASSERT, PB_FAILBACK, PB_WAIT };
	for (int i = 0; i < 7; i++)
		ck_assert_int_eq(pb.steps[i].kind, kinds[i]);
	ck_assert_str_eq(pb.steps[0].state, "STEADY");
	ck_assert_str_eq(pb.steps[2].to, "eu-west");
	ck_assert_str_eq(pb.steps[3].primary, "eu-west");
	ck_assert_int_eq(pb.steps[4].rpo_records_max, 0);
	ck_assert_int_eq(pb.steps[4].rto_ms_max, 1000);
	ck_assert_int_eq(pb.steps[4].rpo_ms_max, -1);
	ck_assert_str_eq(pb.steps[6].primary, "us-east");
	ck_assert_str_eq(pb.steps[6].name, "back-on-us-east");
	playbook_free(&pb);
}
END_TEST

START_TEST(test_example_wan_degradation_drill)
{
	struct playbook pb;
	load_example("playbooks/examples/wan-degradation-drill.yaml", &pb);
	ck_assert_str_eq(pb.name, "wan-degradation-drill");
	ck_assert_int_eq(pb.nsteps, 6);
	const struct pb_step *degrade = &pb.steps[1], *restore = &pb.steps[4];
	ck_assert_int_eq(degrade->kind, PB_WAN);
	ck_assert_str_eq(degrade->a, "us-east");
	ck_assert_str_eq(degrade->b, "eu-west");
	ck_assert_int_eq(degrade->latency_ms, 80);
	ck_assert_int_eq(degrade->jitter_ms, 10);
	ck_assert_double_eq(degrade->loss_pct, 1.0);
	ck_assert_int_eq(degrade->bandwidth_kbps, -1);
	ck_assert_str_eq(degrade->partition, "");
	ck_assert_int_eq(pb.steps[2].kind, PB_SLEEP);
	ck_assert_int_eq(pb.steps[3].kind, PB_CHECK);
	ck_assert_str_eq(pb.steps[3].primary, "us-east");
	ck_assert_int_eq(restore->latency_ms, 0);
	ck_assert_double_eq(restore->loss_pct, 0.0);
	ck_assert_str_eq(restore->partition, "none");
	playbook_free(&pb);
}
END_TEST

/* Every drill of the library parses against the default lab's sites. */
START_TEST(test_library_playbooks_parse)
{
	static const char *const names[] = { "regional-failover", "planned-switchover",
					     "failback", "wan-degradation-drill",
					     "partition-election-drill", "grey-failure-drill",
					     "rolling-upgrade" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char rel[160];
		struct playbook pb;
		snprintf(rel, sizeof(rel), "playbooks/library/%s.yaml", names[i]);
		load_example(rel, &pb);
		ck_assert_str_eq(pb.name, names[i]);
		bool load = false;
		for (int k = 0; k < pb.nsteps; k++)
			load = load || pb_asserts_load(&pb.steps[k]);
		ck_assert_msg(load, "%s asserts nothing of its write load", names[i]);
		playbook_free(&pb);
	}
}
END_TEST

START_TEST(test_load_missing_file_names_the_path)
{
	struct playbook pb;
	char err[512];
	ck_assert_int_eq(playbook_load("/nonexistent/x.yaml", lab_sites, 3, &pb, err,
				       sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/x.yaml: No such file or directory");
}
END_TEST

/* ---- defaults ------------------------------------------------------------ */

START_TEST(test_defaults_names_timeouts_and_unset_fields)
{
	struct playbook pb;
	parse_ok("name: d\n"
		 "steps:\n"
		 "  - approve: {}\n"
		 "  - wait: {}\n"
		 "  - failover: {}\n"
		 "  - switchover: {to: ap-south}\n"
		 "  - failback:\n"
		 "  - pause: {}\n"
		 "  - name: go-on\n"
		 "    resume: {}\n"
		 "  - fault: {site: us-east, clear: true}\n",
		 &pb);
	ck_assert_str_eq(pb.description, "");
	ck_assert_int_eq(pb.nsteps, 8);
	const char *names[] = { "1-approve", "2-wait", "3-failover", "4-switchover",
				"5-failback", "6-pause", "go-on", "8-fault" };
	const int64_t timeouts[] = { 600000, 30000, 60000, 60000, 60000, -1, -1, -1 };
	const int lines[] = { 3, 4, 5, 6, 7, 8, 9, 11 };
	for (int i = 0; i < 8; i++) {
		ck_assert_str_eq(pb.steps[i].name, names[i]);
		ck_assert_int_eq(pb.steps[i].timeout_ms, timeouts[i]);
		ck_assert_int_eq(pb.steps[i].line, lines[i]);
		ck_assert_int_eq(pb.steps[i].replicas_streaming, -1);
		ck_assert_int_eq(pb.steps[i].latency_ms, -1);
		ck_assert(pb.steps[i].loss_pct < 0);
		ck_assert_int_eq(pb.steps[i].sleep_ms, -1);
	}
	ck_assert_str_eq(pb.steps[2].to, "");
	ck_assert(!pb.steps[2].force);
	ck_assert(pb.steps[7].clear);
	ck_assert_int_eq(pb.steps[7].stall_writes, -1);
	ck_assert_int_eq(pb.steps[7].slow_fsync_ms, -1);
	playbook_free(&pb);
	ck_assert_ptr_null(pb.steps);
	ck_assert_int_eq(pb.nsteps, 0);
}
END_TEST

START_TEST(test_bounds_are_inclusive)
{
	struct playbook pb;
	parse_ok("name: b\n"
		 "steps:\n"
		 "  - approve: {timeout_s: 1}\n"
		 "  - wait: {timeout_s: 86400}\n"
		 "  - wan: {between: [drorchd, ap-south], latency_ms: 60000, jitter_ms: 0,\n"
		 "          loss_pct: 100, bandwidth_kbps: 10000000, partition: blackhole}\n"
		 "  - wan: {between: [eu-west, us-east], loss_pct: 0.25, bandwidth_kbps: 0}\n"
		 "  - fault: {site: eu-west, slow_fsync_ms: 60000, stall_writes: true,\n"
		 "            drop_replication: false}\n"
		 "  - sleep: {ms: 600000}\n"
		 "  - sleep: {ms: 0}\n"
		 "  - assert: {rpo_ms_max: 0}\n",
		 &pb);
	ck_assert_int_eq(pb.steps[0].timeout_ms, 1000);
	ck_assert_int_eq(pb.steps[1].timeout_ms, 86400000);
	ck_assert_str_eq(pb.steps[2].a, "drorchd");
	ck_assert_int_eq(pb.steps[2].latency_ms, 60000);
	ck_assert_double_eq(pb.steps[2].loss_pct, 100.0);
	ck_assert_int_eq(pb.steps[2].bandwidth_kbps, 10000000);
	ck_assert_double_eq(pb.steps[3].loss_pct, 0.25);
	ck_assert_int_eq(pb.steps[3].bandwidth_kbps, 0);
	ck_assert_int_eq(pb.steps[4].slow_fsync_ms, 60000);
	ck_assert_int_eq(pb.steps[4].stall_writes, 1);
	ck_assert_int_eq(pb.steps[4].drop_replication, 0);
	ck_assert_int_eq(pb.steps[5].sleep_ms, 600000);
	ck_assert_int_eq(pb.steps[6].sleep_ms, 0);
	ck_assert_int_eq(pb.steps[7].rpo_ms_max, 0);
	playbook_free(&pb);
}
END_TEST

START_TEST(test_max_steps_accepted)
{
	char yaml[4096] = "name: full\nsteps:\n";
	for (int i = 0; i < PB_MAX_STEPS; i++)
		strcat(yaml, "  - pause: {}\n");
	struct playbook pb;
	parse_ok(yaml, &pb);
	ck_assert_int_eq(pb.nsteps, PB_MAX_STEPS);
	ck_assert_str_eq(pb.steps[PB_MAX_STEPS - 1].name, "64-pause");
	playbook_free(&pb);
}
END_TEST

/* ---- the document -------------------------------------------------------- */

START_TEST(test_error_yaml_syntax)
{
	expect_error("name: t\nsteps: [\n", "t.yaml:3:1: did not find expected node content "
					    "while parsing a flow node");
}
END_TEST

START_TEST(test_error_root_and_top_level_keys)
{
	expect_error("- check: {}\n", "t.yaml:1:1: playbook: expected a mapping");
	expect_error("name: t\nsteps: [pause: {}]\nowner: me\n",
		     "t.yaml:3:1: playbook: unknown key 'owner' (expected one of: name, "
		     "description, steps, on_failure)");
	expect_error("steps: [pause: {}]\n", "t.yaml:1:1: missing required key 'name'");
	expect_error("name: t\n", "t.yaml:1:1: missing required key 'steps'");
	expect_error("name: t\ndescription: [x]\nsteps: [pause: {}]\n",
		     "t.yaml:2:14: description: expected a non-empty string");
}
END_TEST

START_TEST(test_error_playbook_name)
{
	expect_error("name: drill one\nsteps: [pause: {}]\n",
		     "t.yaml:1:7: name: expected [A-Za-z0-9_-]{1,63}, got 'drill one'");
	expect_error("name: {a: b}\nsteps: [pause: {}]\n",
		     "t.yaml:1:7: name: expected [A-Za-z0-9_-]{1,63}, got '(not a scalar)'");
	expect_error("name: ''\nsteps: [pause: {}]\n",
		     "t.yaml:1:7: name: expected [A-Za-z0-9_-]{1,63}, got ''");
	char yaml[256], want[256];
	char long_name[PB_NAME_MAX + 1];
	memset(long_name, 'x', PB_NAME_MAX);
	long_name[PB_NAME_MAX] = '\0';
	snprintf(yaml, sizeof(yaml), "name: %s\nsteps: [pause: {}]\n", long_name);
	snprintf(want, sizeof(want), "t.yaml:1:7: name: expected [A-Za-z0-9_-]{1,63}, got '%s'",
		 long_name);
	expect_error(yaml, want);
	struct playbook pb;
	long_name[PB_NAME_MAX - 1] = '\0';
	snprintf(yaml, sizeof(yaml), "name: %s\nsteps: [pause: {}]\n", long_name);
	parse_ok(yaml, &pb);
	ck_assert_str_eq(pb.name, long_name);
	playbook_free(&pb);
}
END_TEST

START_TEST(test_error_steps_empty_not_a_list_too_many)
{
	expect_error("name: t\nsteps: []\n", "t.yaml:2:8: steps: expected at least one step");
	expect_error("name: t\nsteps: {pause: {}}\n", "t.yaml:2:8: steps: expected a list");
	char yaml[4096] = "name: t\nsteps:\n";
	for (int i = 0; i <= PB_MAX_STEPS; i++)
		strcat(yaml, "  - pause: {}\n");
	expect_error(yaml, "t.yaml:67:5: steps: at most 64");
}
END_TEST

/* ---- the shape of a step ------------------------------------------------- */

START_TEST(test_error_step_shape)
{
	expect_step_error("chek: {state: STEADY}",
			  "t.yaml:3:5: step: unknown kind 'chek' (expected one of: check, approve, "
			  "wan, fault, failover, switchover, failback, wait, assert, sleep, pause, "
			  "resume, upgrade_site, finalize, write_load, partition)");
	expect_step_error("pause", "t.yaml:3:5: step: expected a mapping such as "
				   "{check: {state: STEADY}}");
	expect_step_error("{pause: {}, resume: {}}",
			  "t.yaml:3:17: step: 'resume' after 'pause': one kind per step");
	expect_step_error("name: lonely",
			  "t.yaml:3:5: step: expected a kind key (check, approve, wan, ...)");
	expect_step_error("check: 5", "t.yaml:3:12: check: expected a mapping");
	expect_step_error("check: {state: STEADY, primry: us-east}",
			  "t.yaml:3:28: check: unknown key 'primry' (expected one of: state, "
			  "primary, not_primary, replicas_streaming)");
	expect_step_error("pause: {now: true}",
			  "t.yaml:3:13: pause: unknown key 'now' (pause takes none)");
	expect_step_error("resume: [1]", "t.yaml:3:13: resume: expected {}");
}
END_TEST

START_TEST(test_error_step_names)
{
	expect_step_error("{name: 'two words', pause: {}}",
			  "t.yaml:3:12: step name: expected [A-Za-z0-9_-]{1,63}, got 'two words'");
	expect_error("name: t\nsteps:\n"
		     "  - {name: hold, pause: {}}\n"
		     "  - resume: {}\n"
		     "  - {name: hold, sleep: {ms: 5}}\n",
		     "t.yaml:5:12: step name 'hold' is already used by step 1 (line 3)");
	expect_error("name: t\nsteps:\n"
		     "  - {name: 2-resume, pause: {}}\n"
		     "  - resume: {}\n",
		     "t.yaml:4:5: step name '2-resume' is already used by step 1 (line 3)");
}
END_TEST

/* ---- field types and ranges ---------------------------------------------- */

START_TEST(test_error_wrong_types)
{
	expect_step_error("sleep: {ms: fast}",
			  "t.yaml:3:17: ms: expected an integer from 0 to 600000, got 'fast'");
	expect_step_error("approve: {timeout_s: [1]}",
			  "t.yaml:3:26: timeout_s: expected an integer from 1 to 86400, "
			  "got '(not a scalar)'");
	expect_step_error("check: {replicas_streaming: maybe}",
			  "t.yaml:3:33: replicas_streaming: expected true or false");
	expect_step_error("failover: {force: 1}", "t.yaml:3:23: force: expected true or false");
	expect_step_error("approve: {message: {a: b}}",
			  "t.yaml:3:24: message: expected a non-empty string");
	expect_step_error("wan: {between: [us-east, eu-west], loss_pct: lots}",
			  "t.yaml:3:50: loss_pct: expected a number from 0 to 100, got 'lots'");
	expect_step_error("wan: {between: us-east, latency_ms: 1}",
			  "t.yaml:3:20: between: expected a list");
	expect_step_error("wan: {between: [us-east, [eu-west]], latency_ms: 1}",
			  "t.yaml:3:30: between: expected a site name");
	expect_step_error("check: {state: steady}",
			  "t.yaml:3:20: state: expected a state name such as STEADY, got 'steady'");
	expect_step_error("wan: {between: [us-east, eu-west], partition: half}",
			  "t.yaml:3:51: partition: expected none, blackhole or reset, got 'half'");
}
END_TEST

START_TEST(test_error_out_of_range)
{
	expect_step_error("approve: {timeout_s: 0}",
			  "t.yaml:3:26: timeout_s: expected an integer from 1 to 86400, got '0'");
	expect_step_error("failback: {timeout_s: 86401}",
			  "t.yaml:3:27: timeout_s: expected an integer from 1 to 86400, got '86401'");
	expect_step_error("wan: {between: [us-east, eu-west], latency_ms: 60001}",
			  "t.yaml:3:52: latency_ms: expected an integer from 0 to 60000, got '60001'");
	expect_step_error("wan: {between: [us-east, eu-west], jitter_ms: -1}",
			  "t.yaml:3:51: jitter_ms: expected an integer from 0 to 60000, got '-1'");
	expect_step_error("wan: {between: [us-east, eu-west], loss_pct: 100.5}",
			  "t.yaml:3:50: loss_pct: expected a number from 0 to 100, got '100.5'");
	expect_step_error("wan: {between: [us-east, eu-west], loss_pct: -0.5}",
			  "t.yaml:3:50: loss_pct: expected a number from 0 to 100, got '-0.5'");
	expect_step_error("wan: {between: [us-east, eu-west], bandwidth_kbps: 10000001}",
			  "t.yaml:3:56: bandwidth_kbps: expected an integer from 0 to 10000000, "
			  "got '10000001'");
	expect_step_error("fault: {site: us-east, slow_fsync_ms: 60001}",
			  "t.yaml:3:43: slow_fsync_ms: expected an integer from 0 to 60000, "
			  "got '60001'");
	expect_step_error("sleep: {ms: 600001}",
			  "t.yaml:3:17: ms: expected an integer from 0 to 600000, got '600001'");
	expect_step_error("assert: {rto_ms_max: -1}",
			  "t.yaml:3:26: rto_ms_max: expected an integer from 0 to "
			  "9223372036854775807, got '-1'");
}
END_TEST

START_TEST(test_error_unknown_sites)
{
	expect_step_error("switchover: {to: mars}",
			  "t.yaml:3:22: to: 'mars' is not one of the sites");
	expect_step_error("failover: {to: drorchd}",
			  "t.yaml:3:20: to: 'drorchd' is not one of the sites");
	expect_step_error("wait: {primary: eu-wset}",
			  "t.yaml:3:21: primary: 'eu-wset' is not one of the sites");
	expect_step_error("check: {primary: us-west}",
			  "t.yaml:3:22: primary: 'us-west' is not one of the sites");
	expect_step_error("fault: {site: moon, clear: true}",
			  "t.yaml:3:19: site: 'moon' is not one of the sites");
	expect_step_error("wan: {between: [us-east, mars], latency_ms: 1}",
			  "t.yaml:3:30: between: 'mars' is not one of the sites");
}
END_TEST

/* ---- required fields and "at least one" rules ---------------------------- */

START_TEST(test_error_missing_required)
{
	expect_step_error("switchover: {timeout_s: 5}",
			  "t.yaml:3:17: missing required key 'to'");
	expect_step_error("switchover:", "t.yaml:3:16: missing required key 'to'");
	expect_step_error("fault: {clear: true}", "t.yaml:3:12: missing required key 'site'");
	expect_step_error("wan: {latency_ms: 5}", "t.yaml:3:10: missing required key 'between'");
	expect_step_error("sleep: {}", "t.yaml:3:12: missing required key 'ms'");
	expect_step_error("wan: {between: [us-east], latency_ms: 5}",
			  "t.yaml:3:20: between: expected exactly two site names");
	expect_step_error("wan: {between: [us-east, eu-west, ap-south], latency_ms: 5}",
			  "t.yaml:3:20: between: expected exactly two site names");
	expect_step_error("wan: {between: [eu-west, eu-west], latency_ms: 5}",
			  "t.yaml:3:30: between: expected two different sites, got 'eu-west' twice");
}
END_TEST

START_TEST(test_error_nothing_to_do)
{
	expect_step_error("assert: {}",
			  "t.yaml:3:13: assert: expected at least one of rpo_records_max, "
			  "rpo_ms_max, rto_ms_max, lost_max, availability_min, longest_gap_ms_max");
	expect_step_error("wan: {between: [us-east, eu-west]}",
			  "t.yaml:3:10: wan: expected at least one of latency_ms, jitter_ms, "
			  "loss_pct, bandwidth_kbps, partition");
	expect_step_error("fault: {site: us-east}",
			  "t.yaml:3:12: fault: expected at least one of slow_fsync_ms, "
			  "stall_writes, drop_replication, or clear: true");
	expect_step_error("fault: {site: us-east, clear: false}",
			  "t.yaml:3:12: fault: expected at least one of slow_fsync_ms, "
			  "stall_writes, drop_replication, or clear: true");
	expect_step_error("fault: {site: us-east, stall_writes: true, clear: true}",
			  "t.yaml:3:55: fault: clear: true cannot be combined with faults");
}
END_TEST

/* An error late in the document frees what was built (run under ASan/valgrind). */
START_TEST(test_error_after_many_steps_leaves_out_alone)
{
	char yaml[4096] = "name: t\nsteps:\n";
	for (int i = 0; i < 10; i++)
		strcat(yaml, "  - wait: {state: STEADY, primary: us-east}\n");
	strcat(yaml, "  - sleep: {ms: -5}\n");
	expect_error(yaml, "t.yaml:13:17: ms: expected an integer from 0 to 600000, got '-5'");
}
END_TEST

/* ---- JSON ---------------------------------------------------------------- */

static void expect_json(const struct pb_step *s, const char *want)
{
	json_error_t jerr;
	json_t *expected = json_loads(want, 0, &jerr), *got = pb_step_json(s);
	ck_assert_ptr_nonnull(expected);
	ck_assert_ptr_nonnull(got);
	char *text = json_dumps(got, JSON_SORT_KEYS);
	ck_assert_msg(json_equal(expected, got), "got %s", text);
	free(text);
	json_decref(expected);
	json_decref(got);
}

START_TEST(test_step_json_has_given_fields_only)
{
	struct playbook pb;
	parse_ok("name: j\n"
		 "steps:\n"
		 "  - check: {state: STEADY, replicas_streaming: false}\n"
		 "  - switchover: {to: eu-west}\n"
		 "  - {name: slow-wan, wan: {between: [us-east, drorchd], loss_pct: 1.5,\n"
		 "     partition: reset}}\n"
		 "  - fault: {site: ap-south, slow_fsync_ms: 2000}\n"
		 "  - failover: {force: true, timeout_s: 5}\n"
		 "  - assert: {rpo_records_max: 0, rto_ms_max: 1000}\n"
		 "  - sleep: {ms: 250}\n"
		 "  - approve: {message: Go?}\n"
		 "  - resume:\n",
		 &pb);
	expect_json(&pb.steps[0], "{\"name\": \"1-check\", \"kind\": \"check\", \"line\": 3,"
				  " \"state\": \"STEADY\", \"replicas_streaming\": false}");
	expect_json(&pb.steps[1], "{\"name\": \"2-switchover\", \"kind\": \"switchover\","
				  " \"line\": 4, \"to\": \"eu-west\", \"timeout_ms\": 60000}");
	expect_json(&pb.steps[2], "{\"name\": \"slow-wan\", \"kind\": \"wan\", \"line\": 5,"
				  " \"between\": [\"us-east\", \"drorchd\"], \"loss_pct\": 1.5,"
				  " \"partition\": \"reset\"}");
	expect_json(&pb.steps[3], "{\"name\": \"4-fault\", \"kind\": \"fault\", \"line\": 7,"
				  " \"site\": \"ap-south\", \"slow_fsync_ms\": 2000,"
				  " \"clear\": false}");
	expect_json(&pb.steps[4], "{\"name\": \"5-failover\", \"kind\": \"failover\","
				  " \"line\": 8, \"force\": true, \"timeout_ms\": 5000}");
	expect_json(&pb.steps[5], "{\"name\": \"6-assert\", \"kind\": \"assert\", \"line\": 9,"
				  " \"rpo_records_max\": 0, \"rto_ms_max\": 1000}");
	expect_json(&pb.steps[6], "{\"name\": \"7-sleep\", \"kind\": \"sleep\", \"line\": 10,"
				  " \"sleep_ms\": 250}");
	expect_json(&pb.steps[7], "{\"name\": \"8-approve\", \"kind\": \"approve\","
				  " \"line\": 11, \"message\": \"Go?\", \"timeout_ms\": 600000}");
	expect_json(&pb.steps[8], "{\"name\": \"9-resume\", \"kind\": \"resume\", \"line\": 12}");
	playbook_free(&pb);
}
END_TEST

START_TEST(test_kind_names)
{
	const char *names[] = { "check", "approve", "wan", "fault", "failover", "switchover",
				"failback", "wait", "assert", "sleep", "pause", "resume" };
	for (int k = PB_CHECK; k <= PB_RESUME; k++)
		ck_assert_str_eq(pb_kind_name((enum pb_kind)k), names[k]);
}
END_TEST

/* upgrade_site and finalize: required site and version, X.Y.Z checked. */
START_TEST(test_upgrade_kinds)
{
	const char *sites[] = { "us-east", "eu-west", "ap-south" };
	struct playbook pb;
	char err[400];
	const char *ok = "name: up\nsteps:\n  - upgrade_site: {site: eu-west, version: 0.2.0}\n"
			 "  - finalize: {version: 0.2.0}\n";
	ck_assert_int_eq(playbook_parse("t.yaml", ok, strlen(ok), sites, 3, &pb, err, sizeof(err)), 0);
	ck_assert_int_eq(pb.steps[0].kind, PB_UPGRADE_SITE);
	ck_assert_str_eq(pb.steps[0].version, "0.2.0");
	ck_assert_int_eq(pb.steps[0].timeout_ms, 600000);
	ck_assert_int_eq(pb.steps[1].kind, PB_FINALIZE);
	playbook_free(&pb);
	const char *bad = "name: up\nsteps:\n  - upgrade_site: {site: eu-west, version: two}\n";
	ck_assert_int_eq(playbook_parse("t.yaml", bad, strlen(bad), sites, 3, &pb, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.yaml:3:44: upgrade_site: version: expected X.Y.Z, got 'two'");
	const char *nosite = "name: up\nsteps:\n  - upgrade_site: {version: 0.2.0}\n";
	ck_assert_int_eq(playbook_parse("t.yaml", nosite, strlen(nosite), sites, 3, &pb, err,
					sizeof(err)), -1);
	ck_assert_msg(strstr(err, "site"), "%s", err);
}
END_TEST


/* ---- upgrade and rollback plans (playbooks/upgrade.c) -------------------- */

/* The plan's steps as "KIND:ARG KIND:ARG ...": the site swapped (with its
 * version), the switchover's target, the finalize's version. */
static const char *plan_text(const struct playbook *pb)
{
	static char buf[1024];
	buf[0] = '\0';
	for (int i = 0; i < pb->nsteps; i++) {
		const struct pb_step *s = &pb->steps[i];
		char arg[96] = "";
		if (s->kind == PB_UPGRADE_SITE)
			snprintf(arg, sizeof(arg), "%s@%s", s->site, s->version);
		else if (s->kind == PB_SWITCHOVER)
			snprintf(arg, sizeof(arg), "%s", s->to);
		else if (s->kind == PB_FINALIZE)
			snprintf(arg, sizeof(arg), "%s", s->version);
		else if (s->kind == PB_CHECK)
			snprintf(arg, sizeof(arg), "%s", s->state);
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%s", i ? " " : "",
			 pb_kind_name(s->kind), arg);
	}
	return buf;
}

#define SITE(n, v, f, p) { .name = n, .version = v, .fcv = f, .primary = p }

START_TEST(test_upgrade_plan_swaps_replicas_then_the_primary)
{
	struct pb_site_state c[] = { SITE("us-east", "0.1.0", "0.1.0", true),
				     SITE("eu-west", "0.1.0", "0.1.0", false),
				     SITE("ap-south", "0.1.0", "0.1.0", false) };
	struct playbook pb;
	char why[300];
	ck_assert_int_eq(pb_upgrade_plan(c, 3, "0.2.0", true, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY upgrade_site:eu-west@0.2.0 "
			 "upgrade_site:ap-south@0.2.0 switchover:eu-west upgrade_site:us-east@0.2.0 "
			 "finalize:0.2.0");
	ck_assert_str_eq(pb.name, "upgrade");
	ck_assert_str_eq(pb.steps[1].name, "2-upgrade-site");
	playbook_free(&pb);
	/* Not finalized: no finalize step. */
	ck_assert_int_eq(pb_upgrade_plan(c, 3, "0.2.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_ptr_null(strstr(plan_text(&pb), "finalize"));
	playbook_free(&pb);
}
END_TEST

/* Sites already at the version are left alone: the cluster at `to` moves
 * nothing (no switchover); one that only lacks its finalize is a finalize. */
START_TEST(test_upgrade_plan_leaves_upgraded_sites_alone)
{
	struct pb_site_state c[] = { SITE("us-east", "0.2.0", "0.1.0", false),
				     SITE("eu-west", "0.2.0", "0.1.0", true),
				     SITE("ap-south", "0.1.0", "0.1.0", false) };
	struct playbook pb;
	char why[300];
	ck_assert_int_eq(pb_upgrade_plan(c, 3, "0.2.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY upgrade_site:ap-south@0.2.0");
	playbook_free(&pb);
	c[2].version = "0.2.0";
	ck_assert_int_eq(pb_upgrade_plan(c, 3, "0.2.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_NOOP);
	ck_assert_int_eq(pb.nsteps, 0);
	ck_assert_msg(strstr(why, "every site runs 0.2.0"), "%s", why);
	ck_assert_int_eq(pb_upgrade_plan(c, 3, "0.2.0", true, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY finalize:0.2.0");
	playbook_free(&pb);
	for (int i = 0; i < 3; i++)
		c[i].fcv = "0.2.0";
	ck_assert_int_eq(pb_upgrade_plan(c, 3, "0.2.0", true, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_NOOP);
	ck_assert_msg(strstr(why, "at fcv 0.2.0"), "%s", why);
	/* The primary alone behind: a switchover to a replica that is ready. */
	struct pb_site_state d[] = { SITE("us-east", "0.1.0", "0.1.0", true),
				     SITE("eu-west", "0.2.0", "0.1.0", false) };
	ck_assert_int_eq(pb_upgrade_plan(d, 2, "0.2.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY switchover:eu-west upgrade_site:us-east@0.2.0");
	playbook_free(&pb);
}
END_TEST

START_TEST(test_upgrade_plan_refusals)
{
	struct pb_site_state c[] = { SITE("us-east", "0.2.0", "0.2.0", true),
				     SITE("eu-west", "0.2.0", "0.2.0", false) };
	struct playbook pb;
	char why[300];
	ck_assert_int_eq(pb_upgrade_plan(c, 2, "0.1.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
	ck_assert_msg(strstr(why, "us-east is at fcv 0.2.0") && strstr(why, "finalized"), "%s", why);
	ck_assert_ptr_null(pb.steps);
	ck_assert_int_eq(pb_upgrade_plan(c, 2, "two", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
	struct pb_site_state one[] = { SITE("us-east", "0.1.0", "0.1.0", true) };
	ck_assert_int_eq(pb_upgrade_plan(one, 1, "0.2.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
	ck_assert_msg(strstr(why, "only site"), "%s", why);
	struct pb_site_state none[] = { SITE("us-east", "0.1.0", "0.1.0", false),
					SITE("eu-west", "0.1.0", "0.1.0", false) };
	ck_assert_int_eq(pb_upgrade_plan(none, 2, "0.2.0", false, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
}
END_TEST

/* A rollback undoes the upgrade in reverse: the old primary (swapped last)
 * first, then the other replicas, a switchover back to the old primary,
 * then the upgrade's first replica, now the primary. */
START_TEST(test_rollback_plan_reverses_the_upgrade)
{
	struct pb_site_state c[] = { SITE("us-east", "0.2.0", "0.1.0", false),
				     SITE("eu-west", "0.2.0", "0.1.0", true),
				     SITE("ap-south", "0.2.0", "0.1.0", false) };
	const char *order[] = { "eu-west", "ap-south", "us-east" };
	struct playbook pb;
	char why[300];
	ck_assert_int_eq(pb_rollback_plan(c, 3, order, 3, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY upgrade_site:us-east@0.1.0 "
			 "upgrade_site:ap-south@0.1.0 switchover:us-east upgrade_site:eu-west@0.1.0");
	ck_assert_str_eq(pb.name, "rollback");
	ck_assert_str_eq(pb.steps[1].name, "2-rollback-site");
	playbook_free(&pb);
	/* Without the upgrade's order: reverse configuration order. */
	ck_assert_int_eq(pb_rollback_plan(c, 3, NULL, 0, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY upgrade_site:ap-south@0.1.0 "
			 "upgrade_site:us-east@0.1.0 switchover:ap-south upgrade_site:eu-west@0.1.0");
	playbook_free(&pb);
	/* An upgrade that stopped after one replica: only that one goes back. */
	struct pb_site_state half[] = { SITE("us-east", "0.1.0", "0.1.0", true),
					SITE("eu-west", "0.2.0", "0.1.0", false),
					SITE("ap-south", "0.1.0", "0.1.0", false) };
	ck_assert_int_eq(pb_rollback_plan(half, 3, order, 1, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_OK);
	ck_assert_str_eq(plan_text(&pb), "check:STEADY upgrade_site:eu-west@0.1.0");
	playbook_free(&pb);
}
END_TEST

/* After a finalize every site runs the fcv: nothing can be rolled back. */
START_TEST(test_rollback_plan_refused_after_finalize)
{
	struct pb_site_state c[] = { SITE("us-east", "0.2.0", "0.2.0", false),
				     SITE("eu-west", "0.2.0", "0.2.0", true) };
	struct playbook pb;
	char why[300];
	ck_assert_int_eq(pb_rollback_plan(c, 2, NULL, 0, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
	ck_assert_msg(strstr(why, "every site runs 0.2.0, the cluster's fcv: there is nothing to roll back (an upgrade, once finalized, cannot be"), "%s", why);
	ck_assert_ptr_null(pb.steps);
	/* A finalize that reached one site only: the highest fcv binds. */
	c[0].fcv = "0.1.0";
	ck_assert_int_eq(pb_rollback_plan(c, 2, NULL, 0, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
	struct pb_site_state nofcv[] = { SITE("us-east", "0.2.0", "", true) };
	ck_assert_int_eq(pb_rollback_plan(nofcv, 1, NULL, 0, "STEADY", &pb, why, sizeof(why)),
			 PB_PLAN_REFUSED);
}
END_TEST

/* ---- write loads, partitions, on_failure ---------------------------------- */

START_TEST(test_write_load_partition_and_on_failure)
{
	struct playbook pb;
	parse_ok("name: t\n"
		 "steps:\n"
		 "  - write_load: {}\n"
		 "  - partition: {site: us-east}\n"
		 "  - partition: {from: us-east, to: eu-west}\n"
		 "  - partition: {between: [eu-west, drorchd]}\n"
		 "  - write_load: {stop: true}\n"
		 "  - assert: {lost_max: 0, availability_min: 0.95, longest_gap_ms_max: 2500}\n"
		 "  - write_load: {writers: 4, rate: 200, gap_ms: 100}\n"
		 "on_failure:\n"
		 "  - partition: {heal: true}\n"
		 "  - name: calm\n"
		 "    fault: {site: us-east, clear: true}\n", &pb);
	ck_assert_int_eq(pb.nsteps, 7);
	ck_assert_int_eq(pb.nrollback, 2);
	expect_json(&pb.steps[0], "{\"name\":\"1-write_load\",\"kind\":\"write_load\",\"line\":3,"
				  "\"writers\":2,\"rate\":50,\"gap_ms\":500}");
	expect_json(&pb.steps[1], "{\"name\":\"2-partition\",\"kind\":\"partition\",\"line\":4,"
				  "\"site\":\"us-east\"}");
	expect_json(&pb.steps[2], "{\"name\":\"3-partition\",\"kind\":\"partition\",\"line\":5,"
				  "\"from\":\"us-east\",\"to\":\"eu-west\"}");
	expect_json(&pb.steps[3], "{\"name\":\"4-partition\",\"kind\":\"partition\",\"line\":6,"
				  "\"between\":[\"eu-west\",\"drorchd\"]}");
	expect_json(&pb.steps[4], "{\"name\":\"5-write_load\",\"kind\":\"write_load\",\"line\":7,"
				  "\"stop\":true,\"timeout_ms\":30000}");
	expect_json(&pb.steps[5], "{\"name\":\"6-assert\",\"kind\":\"assert\",\"line\":8,"
				  "\"lost_max\":0,\"availability_min\":0.95,"
				  "\"longest_gap_ms_max\":2500}");
	ck_assert(pb_asserts_load(&pb.steps[5]) && !pb_asserts_recovery(&pb.steps[5]));
	ck_assert_int_eq(pb.steps[6].rate, 200);
	ck_assert_str_eq(pb.steps[7].name, "rollback-1-partition");
	ck_assert(pb.steps[7].heal);
	ck_assert_str_eq(pb.steps[8].name, "calm");
	playbook_free(&pb);
	parse_ok("name: t\nsteps: [pause: {}]\non_failure: abort\n", &pb);
	ck_assert_int_eq(pb.nrollback, 0);
	playbook_free(&pb);
}
END_TEST

START_TEST(test_error_write_load_partition_and_on_failure)
{
	expect_step_error("write_load: {stop: true}",
			  "t.yaml:3:5: write_load: stop: no write_load started before it");
	expect_step_error("assert: {lost_max: 0}",
			  "t.yaml:3:5: assert: lost_max, availability_min and longest_gap_ms_max "
			  "need a write_load stopped before it");
	expect_step_error("write_load: {stop: true, rate: 5}",
			  "t.yaml:3:24: write_load: stop: true takes only timeout_s (writers, rate "
			  "and gap_ms are a start's)");
	expect_step_error("write_load: {writers: 17}",
			  "t.yaml:3:27: writers: expected an integer from 1 to 16, got '17'");
	expect_error("name: t\nsteps:\n  - write_load: {}\n  - write_load: {}\n",
		     "t.yaml:4:5: write_load: one is already running (stop it first)");
	expect_step_error("assert: {availability_min: 1.5}",
			  "t.yaml:3:32: availability_min: expected a number from 0 to 1, got '1.5'");
	expect_step_error("partition: {}",
			  "t.yaml:3:16: partition: expected exactly one of site, from/to, between, "
			  "heal: true");
	expect_step_error("partition: {site: us-east, heal: true}",
			  "t.yaml:3:16: partition: expected exactly one of site, from/to, between, "
			  "heal: true");
	expect_step_error("partition: {from: us-east}",
			  "t.yaml:3:16: partition: from and to go together");
	expect_step_error("partition: {from: us-east, to: us-east}",
			  "t.yaml:3:36: partition: from and to are the same site");
	expect_step_error("partition: {site: mars}",
			  "t.yaml:3:23: site: 'mars' is not one of the sites");
	expect_error("name: t\nsteps: [pause: {}]\non_failure: retry\n",
		     "t.yaml:3:13: on_failure: expected abort or a list of steps");
	expect_error("name: t\nsteps: [pause: {}]\non_failure: [write_load: {}]\n",
		     "t.yaml:3:14: on_failure: write_load is not a rollback step (a load still "
		     "running is stopped and checked at the end)");
	expect_error("name: t\nsteps: [{name: x, pause: {}}]\non_failure: [{name: x, resume: {}}]\n",
		     "t.yaml:3:21: step name 'x' is already used by step 1 (line 2)");
}
END_TEST

static Suite *playbook_suite(void)
{
	Suite *s = suite_create("playbook");
	TCase *tc = tcase_create("valid");
	tcase_add_test(tc, test_example_switchover_drill);
	tcase_add_test(tc, test_example_wan_degradation_drill);
	tcase_add_test(tc, test_load_missing_file_names_the_path);
	tcase_add_test(tc, test_library_playbooks_parse);
	tcase_add_test(tc, test_defaults_names_timeouts_and_unset_fields);
	tcase_add_test(tc, test_bounds_are_inclusive);
	tcase_add_test(tc, test_max_steps_accepted);
	tcase_add_test(tc, test_write_load_partition_and_on_failure);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_error_yaml_syntax);
	tcase_add_test(tc, test_error_root_and_top_level_keys);
	tcase_add_test(tc, test_error_playbook_name);
	tcase_add_test(tc, test_error_steps_empty_not_a_list_too_many);
	tcase_add_test(tc, test_error_step_shape);
	tcase_add_test(tc, test_error_step_names);
	tcase_add_test(tc, test_error_wrong_types);
	tcase_add_test(tc, test_error_out_of_range);
	tcase_add_test(tc, test_error_unknown_sites);
	tcase_add_test(tc, test_error_missing_required);
	tcase_add_test(tc, test_error_nothing_to_do);
	tcase_add_test(tc, test_error_after_many_steps_leaves_out_alone);
	tcase_add_test(tc, test_error_write_load_partition_and_on_failure);
	suite_add_tcase(s, tc);
	tc = tcase_create("json");
	tcase_add_test(tc, test_step_json_has_given_fields_only);
	tcase_add_test(tc, test_kind_names);
	tcase_add_test(tc, test_upgrade_kinds);
	suite_add_tcase(s, tc);
	tc = tcase_create("upgrade-plans");
	tcase_add_test(tc, test_upgrade_plan_swaps_replicas_then_the_primary);
	tcase_add_test(tc, test_upgrade_plan_leaves_upgraded_sites_alone);
	tcase_add_test(tc, test_upgrade_plan_refusals);
	tcase_add_test(tc, test_rollback_plan_reverses_the_upgrade);
	tcase_add_test(tc, test_rollback_plan_refused_after_finalize);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(playbook_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
