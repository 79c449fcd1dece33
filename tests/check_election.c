/*
 * check_election.c — end-to-end: the election against the RTO budget, with
 * real drsite and drorchd processes on loopback (async mode, three sites).
 *
 * Every test lays out the same failure: ap-south is frozen (SIGSTOP) while
 * the primary, us-east, acknowledges writes that only eu-west receives;
 * then eu-west is frozen, us-east killed (SIGKILL) and ap-south woken.
 * ap-south is heard and behind; eu-west, which holds everything, is not.
 * The election waits for eu-west while the RTO budget allows:
 *   - eu-west wakes in time: it is fenced late, testifies, and is elected
 *     (choice complete), nothing acknowledged lost;
 *   - it stays frozen, prefer: rto: ap-south is elected past the budget,
 *     beyond the RPO target (choice prefer_rto);
 *   - it stays frozen, prefer: rpo: HELD, the reason naming RPO and RTO.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "httpc.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

#define OP_TOKEN "operator-token-for-tests"
#define BEHIND 20  /* records ap-south lacks: past the RPO's max_records 5 */

static struct tl_lab L;

/* The lab with an async policy of RPO 5 records and RTO 3 s. */
static void lab_up(const char *prefer)
{
	char policy[512];
	snprintf(policy, sizeof(policy),
		 "name: election\nreplication: {mode: async}\nrpo: {max_ms: 60s, max_records: 5}\n"
		 "rto_ms: 3s\nprefer: %s\nfailover: {anti_flap_s: 0}\ndetection: {canary_ms: 500}\n",
		 prefer);
	tl_lab_init(&L, "check_election", 3, OP_TOKEN, policy);
	L.peers = true;
	tl_lab_up(&L, NULL);
}

static void teardown(void)
{
	tl_lab_free(&L);
}

static void put_keys(const char *prefix, int n)
{
	char key[32];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s-%d", prefix, i);
		ck_assert_int_eq(th_site_put(&L.site[0], key), 200);
	}
}

static void assert_keys_on(const struct th_site *s, const char *prefix, int n)
{
	char key[32];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s-%d", prefix, i);
		ck_assert_msg(th_site_has(s, key), "%s lacks acknowledged %s", s->name, key);
	}
}

/* Waits (bounded) until replica s has flushed the primary's whole log; its
 * LSN then. */
static long long wait_flushed(const struct th_site *s)
{
	long long last = th_site_status_int(&L.site[0], NULL, "lsn");
	uint64_t deadline = time_mono_ms() + 5000;
	while (th_site_status_int(s, NULL, "flushed_lsn") < last && time_mono_ms() < deadline)
		time_sleep_ms(20);
	ck_assert_msg(th_site_status_int(s, NULL, "flushed_lsn") >= last,
		      "%s did not flush LSN %lld in 5 s; see %s", s->name, last, L.log);
	return last;
}

/* The failure every test starts from (see the top of the file). */
static void primary_dies_with_eu_west_frozen(void)
{
	put_keys("a", 10);
	wait_flushed(&L.site[2]);  /* async: the a keys reach ap-south before it freezes */
	ck_assert_int_eq(kill(L.site[2].pid, SIGSTOP), 0);
	put_keys("b", BEHIND);
	long long last = wait_flushed(&L.site[1]);
	/* drorchd's monitor has seen the primary's last LSN (a fixed 400 ms was
	 * too short under distcheck's load: the RPO then measured 0). */
	bool seen = false;
	for (uint64_t deadline = time_mono_ms() + 5000; !seen && time_mono_ms() < deadline; ) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		json_t *p = json_array_get(json_object_get(st, "sites"), 0);
		seen = json_integer_value(json_object_get(p, "flushed_lsn")) >= last;
		json_decref(st);
		if (!seen)
			time_sleep_ms(20);
	}
	ck_assert_msg(seen, "drorchd never saw us-east's LSN %lld; see %s", last, L.log);
	ck_assert_int_eq(kill(L.site[1].pid, SIGSTOP), 0);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	ck_assert_int_eq(kill(L.site[2].pid, SIGCONT), 0);
}

/* Polls drorchd until its state is `state`; false after timeout_ms. */
static bool wait_state(const char *state, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		bool there = !strcmp(json_string_value(json_object_get(st, "state")) ?: "", state);
		json_decref(st);
		if (there)
			return true;
		time_sleep_ms(20);
	}
	return false;
}

/* The newest run, ended, with its detail (new ref). */
static json_t *newest_run(void)
{
	json_t *r = tl_ended_run(&L, 10000);
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld",
		 (long long)json_integer_value(json_object_get(r, "id")));
	json_decref(r);
	r = tl_orch_get(&L, path);
	ck_assert_msg(r, "no run at %s; see %s", path, L.log);
	return r;
}

/* A string at run.detail.obj.key ("" when absent). */
static const char *detail_str(json_t *run, const char *obj, const char *key)
{
	json_t *d = json_object_get(json_object_get(run, "detail"), obj);
	return json_string_value(json_object_get(d, key)) ?: "";
}

START_TEST(test_late_up_to_date_replica_is_waited_for_and_elected)
{
	lab_up("rpo");
	primary_dies_with_eu_west_frozen();
	ck_assert_msg(wait_state("ELECTING", 8000), "no election; see %s", L.log);
	time_sleep_ms(200);  /* it hears ap-south behind and waits */
	ck_assert_int_eq(kill(L.site[1].pid, SIGCONT), 0);
	const char *moved = tl_wait_failover_from(&L, "us-east", 8000);
	ck_assert_msg(moved && !strcmp(moved, "eu-west"), "elected %s; see %s", moved ?: "nobody",
		      L.log);
	assert_keys_on(&L.site[1], "a", 10);
	assert_keys_on(&L.site[1], "b", BEHIND);
	json_t *run = newest_run();
	ck_assert_str_eq(detail_str(run, "election", "choice"), "complete");
	ck_assert_str_eq(detail_str(run, "election", "prefer"), "rpo");
	json_t *el = json_object_get(json_object_get(run, "detail"), "election");
	ck_assert_int_gt(json_integer_value(json_object_get(el, "waited_ms")), 0);
	ck_assert_str_eq(detail_str(run, "verdict", "rpo"), "met");
	ck_assert_int_eq(json_integer_value(json_object_get(run, "rpo_records")), 0);
	json_t *t = json_object_get(json_object_get(run, "detail"), "targets");
	ck_assert_int_eq(json_integer_value(json_object_get(t, "rto_ms")), 3000);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "rpo_records")), 5);
	json_decref(run);
}
END_TEST

START_TEST(test_prefer_rto_elects_beyond_the_rpo_after_the_budget)
{
	lab_up("rto");
	uint64_t t0 = time_mono_ms();
	primary_dies_with_eu_west_frozen();
	const char *moved = tl_wait_failover_from(&L, "us-east", 10000);
	ck_assert_msg(moved && !strcmp(moved, "ap-south"), "elected %s; see %s",
		      moved ?: "nobody", L.log);
	ck_assert_uint_ge(time_mono_ms() - t0, 2700);  /* not before the budget was spent */
	assert_keys_on(&L.site[2], "a", 10);
	json_t *run = newest_run();
	ck_assert_str_eq(detail_str(run, "election", "choice"), "prefer_rto");
	json_t *el = json_object_get(json_object_get(run, "detail"), "election");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(el, "unheard"), 0)),
			 "eu-west");
	/* The clients' records ap-south lacks (a fetch answered just before its
	 * SIGSTOP can still bring it the first), and drorchd's canary writes of
	 * the same span. */
	int missing = 0;
	for (int i = 0; i < BEHIND; i++) {
		char key[32];
		snprintf(key, sizeof(key), "b-%d", i);
		missing += !th_site_has(&L.site[2], key);
	}
	ck_assert_int_ge(missing, BEHIND - 2);
	json_int_t lost = json_integer_value(json_object_get(run, "rpo_records"));
	ck_assert_msg(lost >= missing && lost <= missing + 3, "rpo_records %lld, ap-south lacks %d",
		      (long long)lost, missing);
	ck_assert_str_eq(detail_str(run, "verdict", "rpo"), "missed");
	json_decref(run);
	ck_assert_int_eq(kill(L.site[1].pid, SIGCONT), 0);
}
END_TEST

START_TEST(test_prefer_rpo_holds_after_the_budget_naming_rpo_and_rto)
{
	lab_up("rpo");
	primary_dies_with_eu_west_frozen();
	json_t *st = tl_wait_cluster(&L, "HELD", NULL, NULL, 10000);
	ck_assert_msg(st, "not held; see %s", L.log);
	const char *found = json_string_value(json_object_get(json_object_get(st,
		"awaiting_operator"), "found")) ?: "";
	ck_assert_msg(strstr(found, "RPO target") && strstr(found, "RTO budget") &&
		      strstr(found, "prefer rpo"), "reason: %s", found);
	json_decref(st);
	json_t *run = newest_run();
	ck_assert_str_eq(detail_str(run, "election", "choice"), "refused");
	ck_assert_str_eq(json_string_value(json_object_get(run, "outcome")), "held");
	ck_assert_str_eq(detail_str(run, "verdict", "rpo"), "unknown");
	json_decref(run);
	ck_assert_int_eq(kill(L.site[1].pid, SIGCONT), 0);
}
END_TEST

static Suite *election_suite(void)
{
	Suite *s = suite_create("election");
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "complete", test_late_up_to_date_replica_is_waited_for_and_elected },
		{ "prefer_rto", test_prefer_rto_elects_beyond_the_rpo_after_the_budget },
		{ "prefer_rpo", test_prefer_rpo_holds_after_the_budget_naming_rpo_and_rto },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);  /* CK_RUN_CASE=NAME runs one */
		tcase_set_timeout(tc, 40);
		tcase_add_checked_fixture(tc, NULL, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(election_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
