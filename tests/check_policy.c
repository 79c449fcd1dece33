/*
 * check_policy.c — policies/policy.c without processes: the built-in
 * default, every example in policies/examples/ against the default lab's
 * three sites, durations with units, and every way a policy is refused
 * (FILE:LINE:COLUMN and the reason; nothing written): bad values, checks
 * against the cluster, duplicate keys, a second document.  policy_diff.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const struct policy_cluster three = { { "us-east", "eu-west", "ap-south" }, 3 };
static const struct policy_cluster two = { { "us-east", "eu-west" }, 2 };

/* Parses text against cl; its error, or "" when accepted. */
static const char *refusal(const char *text, const struct policy_cluster *cl)
{
	static char err[512];
	struct policy p;
	policy_default(&p);
	strcpy(p.name, "untouched");
	err[0] = '\0';
	if (policy_parse("p.yaml", text, strlen(text), cl, &p, err, sizeof(err)) == 0)
		return "";
	ck_assert_str_eq(p.name, "untouched");  /* *out is written only on success */
	return err;
}

static struct policy accepted(const char *text, const struct policy_cluster *cl)
{
	struct policy p;
	char err[512];
	ck_assert_msg(policy_parse("p.yaml", text, strlen(text), cl, &p, err, sizeof(err)) == 0,
		      "%s: %s", text, err);
	return p;
}

START_TEST(test_default)
{
	struct policy p;
	policy_default(&p);
	ck_assert_str_eq(p.name, "default");
	ck_assert_str_eq(p.mode, "sync");
	ck_assert_int_eq(p.quorum, 1);
	ck_assert_int_eq(p.rpo_ms, 5000);
	ck_assert_int_eq(p.rto_ms, 1000);
	ck_assert_str_eq(p.prefer, "rpo");
	ck_assert_int_eq(p.heartbeat_ms, 100);
	ck_assert_int_eq(p.misses, 3);
	ck_assert_int_eq(p.canary_ms, 1000);
	ck_assert_int_eq(p.lease_ms, 0);
	ck_assert_int_eq(policy_lease_ms(&p), 300);  /* the detection window */
	ck_assert(p.automatic);
	ck_assert_int_eq(p.anti_flap_s, 30);
	ck_assert_int_eq(p.max_pause_ms, 20000);
	struct policy q = accepted("name: default\n", &three);  /* every key optional */
	ck_assert_mem_eq(&p, &q, sizeof(p));
}
END_TEST

START_TEST(test_examples_load_against_the_default_lab)
{
	static const struct {
		const char *file, *mode;
		bool automatic;
		uint64_t rpo_ms, heartbeat_ms, misses, anti_flap_s;
	} ex[] = {
		{ "sync-zero-rpo.yaml", "sync", true, 1000, 100, 3, 30 },
		{ "async-5s-rpo.yaml", "async", true, 5000, 100, 3, 30 },
		{ "manual-failover.yaml", "sync", false, 5000, 200, 3, 30 },
		{ "wan-tolerant.yaml", "sync", true, 10000, 250, 6, 300 },
	};
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		char path[600], err[512], name[64];
		struct policy p;
		snprintf(path, sizeof(path), "%s/%s", POLICY_EXAMPLES, ex[i].file);
		ck_assert_msg(policy_load(path, &three, &p, err, sizeof(err)) == 0, "%s", err);
		snprintf(name, sizeof(name), "%s", ex[i].file);
		*strstr(name, ".yaml") = '\0';
		ck_assert_str_eq(p.name, name);  /* each names itself after its file */
		ck_assert_str_eq(p.mode, ex[i].mode);
		ck_assert_int_eq(p.automatic, ex[i].automatic);
		ck_assert_int_eq(p.rpo_ms, ex[i].rpo_ms);
		ck_assert_int_eq(p.heartbeat_ms, ex[i].heartbeat_ms);
		ck_assert_int_eq(p.misses, ex[i].misses);
		ck_assert_int_eq(p.anti_flap_s, ex[i].anti_flap_s);
		/* Its JSON form (GET /v1/policy) is a policy document too. */
		json_t *j = policy_json(&p);
		char *text = json_dumps(j, JSON_COMPACT);
		struct policy back = accepted(text, &three);
		ck_assert_mem_eq(&p, &back, sizeof(p));
		free(text);
		json_decref(j);
	}
	/* manual-failover names eu-west and ap-south: not a two-site cluster's. */
	char path[600], err[512];
	struct policy p;
	snprintf(path, sizeof(path), "%s/manual-failover.yaml", POLICY_EXAMPLES);
	ck_assert_int_eq(policy_load(path, &two, &p, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "manual-failover.yaml:") &&
		      strstr(err, "candidates: 'ap-south' is not one of the sites"), "%s", err);
}
END_TEST

START_TEST(test_durations_take_units)
{
	static const struct {
		const char *text;
		uint64_t unit, want;
	} ok[] = {
		{ "250", 1, 250 }, { "250ms", 1, 250 }, { "5s", 1, 5000 }, { "2m", 1, 120000 },
		{ "1h", 1, 3600000 }, { "30", 1000, 30 }, { "30s", 1000, 30 }, { "5m", 1000, 300 },
		{ "0", 1, 0 }, { "2000ms", 1000, 2 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v;
		const char *why;
		ck_assert_msg(policy_duration(ok[i].text, ok[i].unit, &v, &why) == 0, "%s", ok[i].text);
		ck_assert_int_eq(v, ok[i].want);
	}
	static const struct {
		const char *text;
		uint64_t unit;
	} bad[] = { { "", 1 }, { "5 s", 1 }, { "5sec", 1 }, { "-1", 1 }, { "1.5s", 1 },
		    { "s", 1 }, { "500ms", 1000 }, { "99999999999999999999", 1 },
		    { "9999999999999999h", 1 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;
		const char *why;
		ck_assert_msg(policy_duration(bad[i].text, bad[i].unit, &v, &why) == -1, "%s",
			      bad[i].text);
	}
	struct policy p = accepted("rto_ms: 2s\nrpo: {max_ms: 250ms}\n"
				   "detection: {heartbeat_ms: 50ms, canary_ms: 3s}\n"
				   "failover: {anti_flap_s: 2m}\n"
				   "switchover: {max_pause_ms: 3s}\n", &three);
	ck_assert_int_eq(p.rto_ms, 2000);
	ck_assert_int_eq(p.rpo_ms, 250);
	ck_assert_int_eq(p.heartbeat_ms, 50);
	ck_assert_int_eq(p.canary_ms, 3000);
	ck_assert_int_eq(p.anti_flap_s, 120);
	ck_assert_int_eq(p.max_pause_ms, 3000);
}
END_TEST

/* Every refusal names the document, the line and column, and the reason. */
/* The lease drorchd asks the sites for: the detection window, or lease_ms. */
START_TEST(test_lease_follows_detection_unless_set)
{
	struct policy p = accepted("detection: {heartbeat_ms: 200ms, misses: 5}\n", &three);
	ck_assert_uint_eq(policy_lease_ms(&p), 1000);
	p = accepted("detection: {heartbeat_ms: 100ms, lease_ms: 1s}\n", &three);
	ck_assert_uint_eq(policy_lease_ms(&p), 1000);
	p = accepted("detection: {heartbeat_ms: 100ms, lease_ms: 200}\n", &three);
	ck_assert_uint_eq(policy_lease_ms(&p), 200);
	json_t *j = policy_json(&p);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "detection"),
							    "lease_ms")), 200);
	json_decref(j);
}
END_TEST

START_TEST(test_bad_policies_are_refused_with_position)
{
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "name: x\nbogus: 1\n", "p.yaml:2:1: policy: unknown key 'bogus'" },
		{ "replication: {mode: fast}\n", "p.yaml:1:21: mode: expected async, sync or "
						 "remote_apply" },
		{ "replication: {mode: sync, quorum: 0}\n", "p.yaml:1:35: quorum: sync needs at "
							   "least one replica" },
		{ "replication: {mode: async, quorum: 2}\n", "p.yaml:1:36: quorum: async "
							    "acknowledges" },
		{ "replication: {mode: async, degrade_to_async: true}\n",
		  "p.yaml:1:46: degrade_to_async: the mode is async already" },
		{ "replication:\n  quorum: 3\n", "p.yaml:2:11: quorum: 3 replica(s) must confirm "
						 "each write, but this cluster has 2" },
		{ "rto_ms: 0\n", "p.yaml:1:9: rto_ms: expected between 1 and 3600000 ms" },
		{ "switchover: {max_pause_ms: 30s}\n", "p.yaml:1:28: max_pause_ms: expected "
		  "between 100 and 20000 ms" },
		{ "switchover: {pause: 1s}\n", "p.yaml:1:14: switchover: unknown key 'pause'" },
		{ "rto_ms: soon\n", "p.yaml:1:9: rto_ms: expected a whole number, or one with a "
				    "unit" },
		{ "detection: {heartbeat_ms: 5ms}\n", "p.yaml:1:27: heartbeat_ms: expected between "
						      "10 and 60000" },
		{ "detection: {heartbeat_ms: 200ms, lease_ms: 300ms}\n", "p.yaml:1:44: lease_ms: "
		  "expected 0 (the detection window plus the round trip) or at least two "
		  "heartbeats (400 ms)" },
		{ "detection: {lease_ms: 2h}\n", "p.yaml:1:23: lease_ms: expected between 0 and "
						 "3600000 ms" },
		{ "failover: {anti_flap_s: 1500ms}\n", "p.yaml:1:25: anti_flap_s: expected a whole "
						       "number of seconds" },
		{ "failover: {candidates: [mars]}\n", "p.yaml:1:24: candidates: 'mars' is not one "
						      "of the sites" },
		{ "failover: {candidates: [eu-west, eu-west]}\n", "p.yaml:1:34: candidates: "
								  "'eu-west' is named twice" },
		{ "name: ''\n", "p.yaml:1:7: name: expected a non-empty string" },
		{ "name: a\nname: b\n", "p.yaml:2:1: duplicate key 'name' (first at line 1, "
					"column 1)" },
		{ "rpo: {max_ms: 1s, max_ms: 2s}\n", "p.yaml:1:19: duplicate key 'max_ms'" },
		{ "name: a\n---\nname: b\n", "p.yaml:2:1: a second YAML document: one document "
					     "per file" },
		{ "name: [\n", "p.yaml:2:1:" },
		{ "", "p.yaml:1:1: the document is empty" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = refusal(bad[i].text, &three);
		ck_assert_msg(strstr(err, bad[i].says), "%s\n  wanted: %s\n  got:    %s",
			      bad[i].text, bad[i].says, err[0] ? err : "(accepted)");
	}
}
END_TEST

/* prefer: rpo (the default) or rto; rto only where an acknowledged write
 * may be lost at all: async. */
START_TEST(test_prefer_rto_only_in_async_mode)
{
	ck_assert_str_eq(accepted("prefer: rpo\n", &three).prefer, "rpo");
	struct policy p = accepted("replication: {mode: async}\nprefer: rto\n", &three);
	ck_assert_str_eq(p.prefer, "rto");
	p = accepted("prefer: rto\nreplication: {mode: async}\n", NULL);  /* any key order */
	ck_assert_str_eq(p.prefer, "rto");
	ck_assert_str_eq(refusal("prefer: soon\n", &three),
			 "p.yaml:1:9: prefer: expected rpo or rto");
	ck_assert_str_eq(refusal("prefer: [rto]\n", &three),
			 "p.yaml:1:9: prefer: expected rpo or rto");
	ck_assert_str_eq(refusal("prefer: rto\n", &three),
			 "p.yaml:1:9: prefer: rto elects a candidate beyond the RPO target, losing "
			 "acknowledged writes: only mode async may (the mode is sync)");
	const char *ra = refusal("replication: {mode: remote_apply}\nprefer: rto\n", NULL);
	ck_assert_msg(strstr(ra, "p.yaml:2:9: prefer: rto") && strstr(ra, "remote_apply"), "%s", ra);
	json_t *j = policy_json(&p);
	ck_assert_str_eq(json_string_value(json_object_get(j, "prefer")), "rto");
	struct policy back;
	char *text = json_dumps(j, 0), err[512];
	ck_assert_int_eq(policy_parse("json", text, strlen(text), &three, &back, err,
				      sizeof(err)), 0);
	ck_assert_mem_eq(&p, &back, sizeof(p));  /* the JSON reads back the same */
	free(text);
	json_decref(j);
}
END_TEST

/* Without a cluster (a policy file read on its own), only the document's
 * own rules apply. */
START_TEST(test_cluster_checks_need_a_cluster)
{
	const char *text = "replication: {quorum: 5}\nfailover: {candidates: [mars]}\n";
	struct policy p = accepted(text, NULL);
	ck_assert_int_eq(p.quorum, 5);
	ck_assert_str_eq(refusal(text, &two), "p.yaml:1:23: quorum: 5 replica(s) must confirm "
				 "each write, but this cluster has 1 replica(s): no write could ever be "
				 "acknowledged");
	ck_assert(accepted("replication: {mode: async}\n", &two).quorum == 1);
}
END_TEST

START_TEST(test_diff_names_each_changed_key)
{
	struct policy a, b;
	policy_default(&a);
	b = accepted("name: other\nreplication: {mode: async}\nprefer: rto\n"
		     "failover: {candidates: [eu-west]}\n", &three);
	json_t *ja = policy_json(&a), *jb = policy_json(&b);
	char *d = policy_diff(ja, jb);
	ck_assert_str_eq(d, "failover.candidates: [] -> [\"eu-west\"]\n"
			    "name: \"default\" -> \"other\"\n"
			    "prefer: \"rpo\" -> \"rto\"\n"
			    "replication.mode: \"sync\" -> \"async\"\n");
	free(d);
	d = policy_diff(ja, ja);
	ck_assert_str_eq(d, "");
	free(d);
	json_t *extra = json_pack("{s:s}", "source", "api"), *empty = json_object();
	d = policy_diff(extra, empty);
	ck_assert_str_eq(d, "source: \"api\" -> (none)\n");
	free(d);
	json_decref(extra);
	json_decref(empty);
	json_decref(ja);
	json_decref(jb);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_default);
	tcase_add_test(tc, test_examples_load_against_the_default_lab);
	tcase_add_test(tc, test_durations_take_units);
	tcase_add_test(tc, test_lease_follows_detection_unless_set);
	tcase_add_test(tc, test_bad_policies_are_refused_with_position);
	tcase_add_test(tc, test_cluster_checks_need_a_cluster);
	tcase_add_test(tc, test_prefer_rto_only_in_async_mode);
	tcase_add_test(tc, test_diff_names_each_changed_key);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
