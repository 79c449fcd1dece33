/*
 * check_drorchd.c — end-to-end: real drsite, drlink and drorchd processes on
 * loopback.  Primaries are killed (SIGKILL), frozen, partitioned (drlink
 * blackholes) and slowed (fault injection).  (drorchd killed after each
 * transition of every lifecycle: check_lifecycle.c.)  The audit is read back
 * from SQLite.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "operators.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

#define NSITES 3
#define OP_TOKEN "operator-token-for-tests"

static struct tl_lab L;
static char link_admin[80];     /* drlink admin base URL, when used */

static void setup(void)
{
	tl_lab_init(&L, "check_drorchd", NSITES, OP_TOKEN,
		    "name: test\nfailover: {anti_flap_s: 0}\ndetection: {canary_ms: 500}\n");
	L.peers = true;
}

static void teardown(void)
{
	tl_lab_free(&L);
}

/* Rows of the transitions table, in seq order, as "ROW_ID ROW_ID ...". */
static void audit_rows(char *out, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	out[0] = '\0';
	ck_assert_int_eq(sqlite3_open_v2(L.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT row_id FROM transitions ORDER BY seq", -1,
					    &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		snprintf(out + strlen(out), len - strlen(out), "%s ", sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static int count_word(const char *hay, const char *word)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, word)); p += strlen(word))
		n++;
	return n;
}


/* ---- tests ------------------------------------------------------------------- */

START_TEST(test_kill9_primary_under_load_fails_over_losing_nothing)
{
	tl_lab_up(&L, NULL);
	struct tl_writers ws;
	tl_writers_start(&L, &ws);
	time_sleep_ms(1000);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	const char *moved = tl_wait_failover_from(&L, L.names[0], 15000);
	ck_assert_msg(moved, "no failover; see %s", L.log);
	const struct th_site *np = tl_site_named(&L, moved);
	time_sleep_ms(500);  /* the writers reach the new primary */
	int total = tl_writers_stop(&ws);
	ck_assert_int_gt(total, 50);
	tl_writers_check_on(&ws, np);
	ck_assert_int_eq(tl_status_epoch(&L), 2);
	char rows[4096];
	audit_rows(rows, sizeof(rows));
	ck_assert_msg(strstr(rows, "D05 F01 F03 F06 F0"), "failover rows out of order: %s", rows);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
	json_t *run = tl_ended_run(&L, 10000);
	ck_assert_str_eq(json_string_value(json_object_get(run, "outcome")), "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(run, "rpo_records")), 0);
	ck_assert(json_integer_value(json_object_get(run, "rto_ms")) > 0);
	json_decref(run);
}
END_TEST

START_TEST(test_operator_failover_and_conflicts)
{
	tl_lab_up(&L, NULL);
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/failover", L.url);
	const char *body = "{\"to\":\"ap-south\"}";
	ck_assert_int_eq(th_http("POST", url, NULL, body, strlen(body), NULL, NULL), 401);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, "{\"to\":\"mars\"}", 13, NULL, NULL), 400);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, "{\"to\":", 6, NULL, NULL), 400);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, body, strlen(body), NULL, NULL), 202);
	json_t *st = tl_wait_cluster(&L, NULL, "ap-south", NULL, 15000);
	ck_assert_msg(st, "operator failover did not complete; see %s", L.log);
	json_decref(st);
	ck_assert_int_eq(th_site_put(tl_site_named(&L, "ap-south"), "after-switch"), 200);
	snprintf(url, sizeof(url), "%s/v1/resume", L.url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, NULL, 0, NULL, NULL), 409);
	snprintf(url, sizeof(url), "%s/v1/pause", L.url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, NULL, 0, NULL, NULL), 202);
	st = tl_wait_cluster(&L, "PAUSED", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, NULL, 0, NULL, NULL), 409);
}
END_TEST

START_TEST(test_grey_failure_slow_fsync_fails_over)
{
	const char *extra[] = { "--enable-faults", NULL };
	tl_lab_up(&L, extra);
	const char *slow = "{\"slow_fsync_ms\":2000}";
	ck_assert_int_eq(th_site_req(&L.site[0], "POST", "/v1/admin/faults", true, slow,
				     strlen(slow), NULL, NULL), 200);
	ck_assert_int_eq(th_site_req(&L.site[0], "GET", "/healthz", false, NULL, 0, NULL, NULL), 200);
	ck_assert_msg(tl_wait_failover_from(&L, L.names[0], 20000), "grey failure not failed over; see %s", L.log);
}
END_TEST

START_TEST(test_bad_config_is_refused_with_position)
{
	tl_write_file(L.cfg, "listen: 127.0.0.1:1\ndb: x.db\ntoken_file: t\nsite_token_file: t\n"
			  "initial_primary: nowhere\nsites:\n  - {name: a, url: \"http://127.0.0.1:2\", region: r}\n"
			  "  - {name: b, url: \"ftp://x\", region: r}\n");
	char *argv[] = { (char *)th_bin("drorchd"), "--config", L.cfg, NULL };
	pid_t pid = th_spawn(argv, L.log);
	int st = th_wait_exit(pid, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	char *out = th_read_file(L.log, NULL);
	ck_assert_msg(strstr(out, "drorchd.yaml:8:") && strstr(out, "url"), "got: %s", out);
	free(out);
}
END_TEST

/* A bad ha: section is refused with its position, and nothing starts. */
START_TEST(test_bad_ha_config_is_refused_with_position)
{
	static const char *const cases[][2] = {
		{ "ha:\n  etcd: [\"http://127.0.0.1:2379\"]\n  prefix: drorch\n  name: d1\n",
		  "drorchd.yaml:11:11: prefix: expected /NAME" },
		{ "ha:\n  etcd: []\n  prefix: /drorch/x\n  name: d1\n",
		  "drorchd.yaml:10:9: etcd: expected 1 to 7" },
		{ "ha:\n  etcd: [\"http://127.0.0.1:2379\"]\n  prefix: /d\n  name: d1\n"
		  "  lease_ttl_ms: 10\n", "drorchd.yaml:13:17: lease_ttl_ms" },
		{ "ha:\n  etcd: [\"http://127.0.0.1:2379\"]\n  prefix: /d\n  name: \"a b\"\n",
		  "drorchd.yaml:12:9: name: expected" },
		{ "ha:\n  etcd: [\"http://127.0.0.1:2379\"]\n  prefix: /d\n  name: d1\n  leader: x\n",
		  "drorchd.yaml:13:3: " },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text),
			 "listen: 127.0.0.1:1\ndb: x.db\ntoken_file: t\nsite_token_file: t\n"
			 "initial_primary: a\nsites:\n  - {name: a, url: \"http://127.0.0.1:2\", region: r}\n"
			 "  - {name: b, url: \"http://127.0.0.1:3\", region: r}\n%s", cases[i][0]);
		tl_write_file(L.cfg, text);
		char *argv[] = { (char *)th_bin("drorchd"), "--config", L.cfg, NULL };
		pid_t pid = th_spawn(argv, L.log);
		int st = th_wait_exit(pid, 5000);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
		char *out = th_read_file(L.log, NULL);
		ck_assert_msg(strstr(out, cases[i][1]), "case %zu: want %s, got: %s", i, cases[i][1],
			      out);
		free(out);
	}
}
END_TEST

/* ---- drlink between drorchd and the sites, and between sites ------------------ */

static void link_start(void)
{
	ck_assert_msg(th_drlink_start(L.root, link_admin, sizeof(link_admin)),
		      "drlink did not start; see %s/drlink.log", L.root);
}

/* A link named name to site `to`; out gets its HOST:PORT. */
static void link_add(const char *name, int to, char *out, size_t len)
{
	snprintf(out, len, "127.0.0.1:%d", th_free_port());
	long st = th_link_add(link_admin, name, out, L.site[to].listen);
	ck_assert_msg(st == 200 || st == 201, "drlink: create %s: %ld", name, st);
}

static void link_set(const char *name, const char *conditions)
{
	ck_assert_int_eq(th_link_set(link_admin, name, conditions), 200);
}

/* drorchd reaches every site through a link orch-SITE; replicas reach
 * us-east through links SITE-us-east. */
static void links_for_primary(void)
{
	link_start();
	char hp[64], name[64];
	for (int i = 0; i < NSITES; i++) {
		snprintf(name, sizeof(name), "orch-%s", L.names[i]);
		link_add(name, i, hp, sizeof(hp));
		snprintf(L.orch_url[i], sizeof(L.orch_url[i]), "http://%s", hp);
	}
	for (int i = 1; i < NSITES; i++) {
		snprintf(name, sizeof(name), "%s-us-east", L.names[i]);
		link_add(name, 0, L.peer_addr[i][0], sizeof(L.peer_addr[i][0]));
	}
}

START_TEST(test_partition_from_orchestrator_only_is_not_a_failover)
{
	links_for_primary();
	tl_lab_up(&L, NULL);
	link_set("orch-us-east", "{\"partition\":\"blackhole\"}");
	time_sleep_ms(5000);
	ck_assert_int_eq(tl_status_epoch(&L), 1);
	ck_assert_int_eq(th_site_put(&L.site[0], "still-primary"), 200);  /* clients reach it */
	link_set("orch-us-east", "{\"partition\":\"none\"}");
	json_t *st = tl_wait_cluster(&L, NULL, L.names[0], NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	/* The replicas still hear a primary that takes writes: no failover, and
	 * a quiet audit (at most one suspicion, not one per tick). */
	char rows[4096];
	audit_rows(rows, sizeof(rows));
	ck_assert_msg(count_word(rows, "D01") <= 1, "the detector flapped: %s", rows);
	ck_assert_msg(!strstr(rows, "D05"), "failed over anyway: %s", rows);
}
END_TEST

START_TEST(test_partition_from_everyone_fails_over_and_old_primary_acks_nothing)
{
	links_for_primary();
	tl_lab_up(&L, NULL);
	link_set("orch-us-east", "{\"partition\":\"blackhole\"}");
	link_set("eu-west-us-east", "{\"partition\":\"blackhole\"}");
	link_set("ap-south-us-east", "{\"partition\":\"blackhole\"}");
	ck_assert_msg(tl_wait_failover_from(&L, L.names[0], 20000), "no failover; see %s", L.log);
	/* Sync mode: the isolated old primary gets no replica ack, so nothing. */
	ck_assert_int_ne(th_site_put(&L.site[0], "split-brain"), 200);
	/* The replicas' last contact, stale once the blackhole began, was never
	 * taken for a live primary (no LINK_ONLY verdict on the way). */
	char rows[4096];
	audit_rows(rows, sizeof(rows));
	ck_assert_msg(!strstr(rows, "D04"), "stale testimony taken as proof of life: %s", rows);
}
END_TEST

START_TEST(test_jitter_and_loss_to_the_sites_is_not_a_failover)
{
	links_for_primary();
	tl_lab_up(&L, NULL);
	char name[64];
	for (int i = 0; i < NSITES; i++) {
		snprintf(name, sizeof(name), "orch-%s", L.names[i]);
		link_set(name, "{\"latency_ms\":25,\"jitter_ms\":50,\"loss_pct\":2}");
	}
	/* 15 s (about 450 heartbeats) in make check; DRORCH_JITTER_TEST_S=600
	 * for a long watch. */
	long seconds = getenv("DRORCH_JITTER_TEST_S") ? atol(getenv("DRORCH_JITTER_TEST_S")) : 15;
	uint64_t end = time_mono_ms() + (uint64_t)seconds * 1000;
	while (time_mono_ms() < end) {
		ck_assert_int_eq(tl_status_epoch(&L), 1);
		time_sleep_ms(500);
	}
	char rows[4096];
	audit_rows(rows, sizeof(rows));
	ck_assert_msg(!strstr(rows, "D05"), "failed over under jitter: %s", rows);
}
END_TEST

/* The status's accepted commands, comma-separated (a static buffer). */
static const char *accepted(json_t *st)
{
	static char buf[256];
	size_t i;
	json_t *c;
	buf[0] = '\0';
	json_array_foreach(json_object_get(st, "accepts"), i, c)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "",
			 json_string_value(c));
	return buf;
}

START_TEST(test_verify_audit_detects_an_edited_transition)
{
	tl_lab_up(&L, NULL);
	char url[128];
	json_t *st = tl_orch_get(&L, "/v1/status");  /* what the spec says of the state */
	ck_assert(json_is_true(json_object_get(st, "steady")) &&
		  json_is_true(json_object_get(st, "resting")) &&
		  json_is_false(json_object_get(st, "awaits_operator")) &&
		  json_is_false(json_object_get(st, "run_open")));
	ck_assert_str_eq(accepted(st), "failover,switchover,failback,pause,upgrade,policy");
	json_decref(st);
	snprintf(url, sizeof(url), "%s/v1/pause", L.url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, NULL, 0, NULL, NULL), 202);
	st = tl_wait_cluster(&L, "PAUSED", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	ck_assert(json_is_false(json_object_get(st, "steady")) &&
		  json_is_true(json_object_get(st, "awaits_operator")));
	ck_assert_str_eq(accepted(st), "resume,policy");
	json_decref(st);
	th_kill(L.orch, SIGTERM, 10000);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
	sqlite3 *db = NULL;
	ck_assert_int_eq(sqlite3_open(L.db, &db), SQLITE_OK);
	char *err = NULL;
	sqlite3_stmt *q = NULL;
	sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='trigger'", -1, &q, NULL);
	char drops[1024] = "";
	while (sqlite3_step(q) == SQLITE_ROW)
		snprintf(drops + strlen(drops), sizeof(drops) - strlen(drops), "DROP TRIGGER %s;",
			 sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	ck_assert_int_eq(sqlite3_exec(db, drops, NULL, NULL, &err), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE transitions SET reason='nothing to see' WHERE seq=1",
				      NULL, NULL, &err), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(tl_verify_audit(&L), 1);
}
END_TEST

START_TEST(test_anti_flapping_holds_a_second_failover_until_acknowledged)
{
	tl_write_file(L.policy, "name: test\nfailover: {anti_flap_s: 300}\n");
	tl_lab_up(&L, NULL);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	const char *first = tl_wait_failover_from(&L, L.names[0], 15000);
	ck_assert_msg(first, "first failover did not happen; see %s", L.log);
	char second_from[64];
	snprintf(second_from, sizeof(second_from), "%s", first);
	ck_assert(th_site_start(&L.site[0], NULL));  /* rejoins as a replica */
	json_t *st = NULL;
	uint64_t deadline = time_mono_ms() + 15000;
	while (!(st && tl_all_in_role(st, second_from)) && time_mono_ms() < deadline) {
		json_decref(st);
		time_sleep_ms(100);
		st = tl_orch_get(&L, "/v1/status");
	}
	ck_assert_msg(st && tl_all_in_role(st, second_from), "us-east did not rejoin; see %s", L.log);
	json_decref(st);
	th_kill(tl_site_named(&L, second_from)->pid, SIGKILL, 5000);
	st = tl_wait_cluster(&L, "HELD", second_from, NULL, 10000);
	ck_assert_msg(st, "second failure inside the window was not held; see %s", L.log);
	/* HELD says why and the commands to give, in order; given out of order,
	 * the resume is refused with the right order. */
	json_t *g = json_object_get(st, "awaiting_operator");
	ck_assert_msg(g, "HELD without awaiting_operator");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(g, "why")),
				     "anti-flapping window"));
	json_t *next = json_object_get(g, "next");
	ck_assert_str_eq(json_string_value(json_array_get(next, 0)), "drctl ack 1 --comment TEXT");
	ck_assert_str_eq(json_string_value(json_array_get(next, 1)), "drctl resume");
	json_decref(st);
	char *why = NULL;
	char url[160];
	snprintf(url, sizeof(url), "%s/v1/resume", L.url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, "{}", 2, &why, NULL), 409);
	ck_assert_msg(why && strstr(why, "acknowledge it first") && strstr(why, "O08@HELD"), "%s",
		      why ? why : "(no body)");
	free(why);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/runs/1/ack", "{}"), 400);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/runs/99/ack", "{\"comment\":\"x\"}"), 404);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/runs/1/ack", "{\"comment\":\"root cause known: bad disk\"}"), 200);
	st = tl_orch_get(&L, "/v1/status");  /* acknowledged: resume is all that is left */
	next = json_object_get(json_object_get(st, "awaiting_operator"), "next");
	ck_assert_str_eq(json_string_value(json_array_get(next, 0)), "drctl resume");
	json_decref(st);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/resume", NULL), 202);
	ck_assert_msg(tl_wait_failover_from(&L, second_from, 15000), "no failover after ack; see %s", L.log);
	ck_assert_int_eq(tl_status_epoch(&L), 3);
}
END_TEST

START_TEST(test_lost_replica_is_degraded_then_steady_again)
{
	tl_lab_up(&L, NULL);
	th_kill(L.site[1].pid, SIGKILL, 5000);
	json_t *st = tl_wait_cluster(&L, "DEGRADED", L.names[0], NULL, 5000);
	ck_assert_msg(st, "a lost replica did not make the cluster DEGRADED");
	/* The site and why, in its status, and in the transition (its audit
	 * detail, which the webhook carries). */
	json_t *site = json_array_get(json_object_get(st, "sites"), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(site, "degraded")) ?: "",
				     "not answering"));
	ck_assert(json_is_false(json_object_get(site, "rpo_breached")));
	json_decref(st);
	json_t *t = tl_orch_get(&L, "/v1/transitions");
	json_t *all = json_object_get(t, "transitions");
	json_t *last = json_array_get(all, json_array_size(all) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(last, "to_state")), "DEGRADED");
	json_t *deg = json_array_get(json_object_get(json_object_get(last, "detail"), "degraded"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(deg, "site")), L.names[1]);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(deg, "why")) ?: "",
				     "not answering for"));
	json_decref(t);
	ck_assert(th_site_start(&L.site[1], NULL));
	st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 10000);
	ck_assert_msg(st, "the cluster did not return to STEADY");
	json_decref(st);
	ck_assert_int_eq(tl_status_epoch(&L), 1);
}
END_TEST

START_TEST(test_sites_keep_serving_while_drorchd_is_down)
{
	tl_lab_up(&L, NULL);
	th_kill(L.orch, SIGKILL, 5000);
	char key[32];
	for (int i = 0; i < 40; i++) {  /* 2 s: four times the write lease */
		snprintf(key, sizeof(key), "orch-down-%d", i);
		ck_assert_int_eq(th_site_put(&L.site[0], key), 200);
		time_sleep_ms(50);
	}
	ck_assert(th_site_has(&L.site[2], "orch-down-39") ||
		  th_site_status_int(&L.site[2], NULL, "applied_lsn") > 0);
	tl_start_orch(&L, NULL);
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_int_eq(tl_status_epoch(&L), 1);
}
END_TEST

/* ---- switchover and failback ------------------------------------------------- */

/* The newest run, ended, as /v1/runs/{id} shows it (new ref), or NULL. */
static json_t *newest_run(void)
{
	json_t *run = tl_ended_run(&L, 10000);
	long long id = json_integer_value(json_object_get(run, "id"));
	json_decref(run);
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld", id);
	return id > 0 ? tl_orch_get(&L, path) : NULL;
}

/* Waits until every site other than primary streams from it, at epoch. */
static bool wait_all_follow(const char *primary, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		bool ok = st && tl_all_in_role(st, primary);
		json_decref(st);
		if (ok)
			return true;
		time_sleep_ms(100);
	}
	return false;
}

START_TEST(test_switchover_under_load_loses_nothing)
{
	tl_lab_up(&L, NULL);
	struct tl_writers ws;
	tl_writers_start(&L, &ws);
	time_sleep_ms(700);
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/switchover", L.url);
	const char *body = "{\"to\":\"eu-west\"}";
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, body, strlen(body), NULL, NULL), 202);
	json_t *st = tl_wait_cluster(&L, NULL, "eu-west", NULL, 15000);
	ck_assert_msg(st, "switchover did not complete; see %s", L.log);
	json_decref(st);
	time_sleep_ms(500);  /* the writers reach the new primary */
	int total = tl_writers_stop(&ws);
	ck_assert_int_gt(total, 50);
	/* The old primary follows the new one: nothing of its log diverged. */
	ck_assert_msg(wait_all_follow("eu-west", 10000), "us-east does not follow eu-west; see %s", L.log);
	ck_assert_int_eq(th_site_status_int(&L.site[0], "last_rewind", "records"), 0);
	tl_writers_check_on(&ws, tl_site_named(&L, "eu-west"));
	ck_assert_int_eq(tl_status_epoch(&L), 2);
	char rows[4096];
	audit_rows(rows, sizeof(rows));
	ck_assert_msg(strstr(rows, "S01@STEADY S02 F01 F03 F06 F0"), "switchover rows: %s", rows);
	json_t *run = newest_run();
	ck_assert_str_eq(json_string_value(json_object_get(run, "kind")), "switchover");
	ck_assert_str_eq(json_string_value(json_object_get(run, "outcome")), "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(run, "rpo_records")), 0);
	ck_assert(json_integer_value(json_object_get(run, "rto_ms")) > 0);
	json_decref(run);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/* A target that cannot flush (its fsync takes 25 s) never catches up: the
 * switchover aborts, the primary takes writes again, the epoch is unchanged. */
START_TEST(test_switchover_aborts_when_the_target_cannot_catch_up)
{
	const char *extra[] = { "--enable-faults", NULL };
	tl_lab_up(&L, extra);
	/* The primary's writes stay paused 2 s at most, not the state's 20 s. */
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/policy", L.url);
	const char *pol = "name: test\nfailover: {anti_flap_s: 0}\nswitchover: {max_pause_ms: 2s}\n";
	ck_assert_int_eq(th_http("PUT", url, OP_TOKEN, pol, strlen(pol), NULL, NULL), 200);
	const char *slow = "{\"slow_fsync_ms\":25000}";
	ck_assert_int_eq(th_site_req(&L.site[2], "POST", "/v1/admin/faults", true, slow,
				     strlen(slow), NULL, NULL), 200);
	ck_assert_int_eq(th_site_put(&L.site[0], "before-switchover"), 200);
	snprintf(url, sizeof(url), "%s/v1/switchover", L.url);
	const char *body = "{\"to\":\"ap-south\"}";
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, body, strlen(body), NULL, NULL), 202);
	json_t *st = tl_wait_cluster(&L, "SWITCHOVER", NULL, NULL, 5000);
	ck_assert_msg(st, "no SWITCHOVER state; see %s", L.log);
	json_decref(st);
	ck_assert_int_eq(th_site_put(&L.site[0], "while-paused"), 503);
	snprintf(url, sizeof(url), "%s/v1/failover", L.url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, NULL, 0, NULL, NULL), 409);
	st = tl_wait_cluster(&L, NULL, L.names[0], NULL, 30000);
	ck_assert_msg(st, "the switchover did not abort; see %s", L.log);
	json_decref(st);
	json_t *run = newest_run();
	ck_assert_str_eq(json_string_value(json_object_get(run, "kind")), "switchover");
	ck_assert_str_eq(json_string_value(json_object_get(run, "outcome")), "failed");
	json_t *steps = json_object_get(run, "steps"), *step, *drain = NULL;
	size_t i;
	json_array_foreach(steps, i, step)
		if (!strcmp(json_string_value(json_object_get(step, "name")) ?: "", "drain"))
			drain = json_object_get(step, "detail");
	ck_assert_msg(drain, "the run has no drain step");
	json_int_t waited = json_integer_value(json_object_get(drain, "waited_ms"));
	ck_assert_int_eq(json_integer_value(json_object_get(drain, "max_pause_ms")), 2000);
	ck_assert_msg(waited >= 2000 && waited < 10000, "paused %lld ms", (long long)waited);
	ck_assert_msg(strstr(json_string_value(json_object_get(drain, "error")) ?: "",
			     "did not catch up in 2000 ms"), "drain: %s",
		      json_string_value(json_object_get(drain, "error")));
	json_decref(run);
	ck_assert_int_eq(tl_status_epoch(&L), 1);
	long rc = 0;
	for (uint64_t end = time_mono_ms() + 5000; rc != 200 && time_mono_ms() < end; time_sleep_ms(50))
		rc = th_site_put(&L.site[0], "after-abort");
	ck_assert_int_eq(rc, 200);
	char rows[4096];
	audit_rows(rows, sizeof(rows));
	ck_assert_msg(strstr(rows, "S01@STEADY S03@SWITCHOVER"), "abort rows: %s", rows);
}
END_TEST

/* kill -9 the primary under load, restart it: it rejoins (rewound if its log
 * diverged, the quarantine named in the failover's audit), then a failback
 * returns the primary role to it with every acknowledged write. */
START_TEST(test_failback_after_kill9_returns_to_the_old_primary)
{
	tl_lab_up(&L, NULL);
	struct tl_writers ws;
	tl_writers_start(&L, &ws);
	time_sleep_ms(700);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	const char *moved = tl_wait_failover_from(&L, L.names[0], 15000);
	ck_assert_msg(moved, "no failover; see %s", L.log);
	ck_assert(th_site_start(&L.site[0], NULL));
	ck_assert_msg(wait_all_follow(moved, 15000), "us-east did not rejoin; see %s", L.log);
	/* Every site follows before the machine has left REJOINING (or DEGRADED):
	 * a failback is taken from STEADY. */
	json_t *steady = tl_wait_cluster(&L, "STEADY", moved, NULL, 15000);
	ck_assert_msg(steady, "not STEADY after the rejoin; see %s", L.log);
	json_decref(steady);
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/failback", L.url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, NULL, 0, NULL, NULL), 202);
	json_t *st = tl_wait_cluster(&L, NULL, L.names[0], NULL, 15000);
	ck_assert_msg(st, "failback did not complete; see %s", L.log);
	json_decref(st);
	time_sleep_ms(500);
	int total = tl_writers_stop(&ws);
	ck_assert_int_gt(total, 50);
	tl_writers_check_on(&ws, &L.site[0]);
	json_t *run = newest_run();
	ck_assert_str_eq(json_string_value(json_object_get(run, "kind")), "failback");
	ck_assert_str_eq(json_string_value(json_object_get(run, "outcome")), "succeeded");
	ck_assert_str_eq(json_string_value(json_object_get(run, "target")), L.names[0]);
	json_decref(run);
	/* A rewind, if one happened, is named in the failover run's steps. */
	long long rewound = th_site_status_int(&L.site[0], "last_rewind", "records");
	json_t *fo = tl_orch_get(&L, "/v1/runs/1");
	char *text = json_dumps(fo, 0);
	ck_assert_msg(rewound <= 0 || strstr(text, "quarantine"), "rewind of %lld records not in the "
		      "audit: %s", rewound, text);
	free(text);
	json_decref(fo);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/* PUT /v1/policy applies at once (the primary's mode and lease) and
 * survives a restart of drorchd; a bad one changes nothing. */
START_TEST(test_policy_put_applies_and_survives_restart)
{
	tl_lab_up(&L, NULL);
	/* The default policy's lease: its detection window (100 ms x 3) and the
	 * round trip, within the site's --lease-ms. */
	long long lease = th_site_status_int(&L.site[0], NULL, "lease_ms");
	ck_assert_msg(lease >= 300 && lease <= 500, "the primary's lease is %lld ms", lease);
	ck_assert_int_eq(th_site_status_int(&L.site[0], NULL, "lease_max_ms"), 500);
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/policy", L.url);
	const char *pol = "name: tuned\nreplication: {mode: async}\nfailover: {anti_flap_s: 0}\n"
			  "detection: {lease_ms: 250}\n";
	ck_assert_int_eq(th_http("PUT", url, NULL, pol, strlen(pol), NULL, NULL), 401);
	ck_assert_int_eq(th_http("PUT", url, OP_TOKEN, pol, strlen(pol), NULL, NULL), 200);
	long long mode_async = 0;
	for (uint64_t end = time_mono_ms() + 5000; !mode_async && time_mono_ms() < end;
	     time_sleep_ms(50)) {
		char *body = NULL;
		th_site_req(&L.site[0], "GET", "/v1/status", false, NULL, 0, &body, NULL);
		mode_async = body && strstr(body, "\"mode\":\"async\"");
		free(body);
	}
	ck_assert_msg(mode_async, "the primary did not take mode async; see %s", L.log);
	ck_assert_msg(th_site_wait_status(&L.site[0], "\"lease_ms\":250", 5000),
		      "the primary did not take the policy's 250 ms lease; see %s", L.log);
	const char *bad = "name: worse\ndetection: {heartbeat_ms: 1}\n";
	ck_assert_int_eq(th_http("PUT", url, OP_TOKEN, bad, strlen(bad), NULL, NULL), 400);
	th_kill(L.orch, SIGKILL, 5000);
	tl_start_orch(&L, NULL);
	json_t *p = tl_orch_get(&L, "/v1/policy");
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "tuned");
	ck_assert_str_eq(json_string_value(json_object_get(p, "source")), "api");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "replication"), "mode")),
			 "async");
	json_decref(p);
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 5000);
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(json_string_value(json_object_get(st, "policy")), "tuned");
	json_decref(st);
}
END_TEST

/* Waits up to 5 s for GET /v1/policy to name `name`; the policy, or NULL. */
static json_t *wait_policy(const char *name)
{
	for (uint64_t end = time_mono_ms() + 5000; time_mono_ms() < end; time_sleep_ms(50)) {
		json_t *p = tl_orch_get(&L, "/v1/policy");
		if (p && !strcmp(json_string_value(json_object_get(p, "name")) ?: "", name))
			return p;
		json_decref(p);
	}
	return NULL;
}

/* SIGHUP reads the config's policy file again: a good one is in force at
 * once (source "file"), a bad one is logged with its position and changes
 * nothing; drorchd goes on. */
START_TEST(test_sighup_reloads_the_policy_file)
{
	tl_lab_up(&L, NULL);
	tl_write_file(L.policy, "name: reloaded\nreplication: {mode: async}\nrto_ms: 3s\n");
	ck_assert_int_eq(kill(L.orch, SIGHUP), 0);
	json_t *p = wait_policy("reloaded");
	ck_assert_msg(p, "SIGHUP did not put the file's policy in force; see %s", L.log);
	ck_assert_str_eq(json_string_value(json_object_get(p, "source")), "file");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "rto_ms")), 3000);
	json_decref(p);
	tl_write_file(L.policy, "name: broken\nrto_ms: 3s\nrto_ms: 4s\n");
	ck_assert_int_eq(kill(L.orch, SIGHUP), 0);
	bool logged = false;
	for (uint64_t end = time_mono_ms() + 5000; !logged && time_mono_ms() < end;
	     time_sleep_ms(50)) {
		char *log = th_read_file(L.log, NULL);
		logged = log && strstr(log, "drorchd.policy_refused") &&
			 strstr(log, "policy.yaml:3:1: duplicate key 'rto_ms'");
		free(log);
	}
	ck_assert_msg(logged, "the bad policy file was not refused with its position; see %s",
		      L.log);
	p = tl_orch_get(&L, "/v1/policy");
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "reloaded");
	json_decref(p);
	ck_assert(!th_pid_gone(L.orch));
}
END_TEST

/* POST path as the operator whose token is token; the HTTP status. */
static long post_as(const char *token, const char *path)
{
	char url[200];
	snprintf(url, sizeof(url), "%s%s", L.url, path);
	return th_http("POST", url, token, "{}", 2, NULL, NULL);
}

/* Whether the file at path holds needle (binary-safe). */
static bool file_holds(const char *path, const char *needle)
{
	size_t len = 0;
	char *text = th_read_file(path, &len);
	bool found = text && memmem(text, len, needle, strlen(needle));
	free(text);
	return found;
}

/* Operators are named (operators_file): each token acts as its operator,
 * operator:NAME in the audit; the token_file's as operator:api; an unknown
 * token is 401 and changes nothing; no token is written to the store or
 * the log, only its hash to the operators file. */
START_TEST(test_operators_are_named_in_the_audit)
{
	char path[200], alice[200], bob[200], err[200], text[500];
	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/operators", L.root), (int)sizeof(path));
	ck_assert_int_eq(operators_line("alice", "alice-secret-token", alice, sizeof(alice), err,
					sizeof(err)), 0);
	ck_assert_int_eq(operators_line("bob", "bob-secret-token", bob, sizeof(bob), err,
					sizeof(err)), 0);
	snprintf(text, sizeof(text), "# on call\n%s\n%s\n", alice, bob);
	tl_write_file(path, text);
	snprintf(L.extra_config, sizeof(L.extra_config), "operators_file: %s\n", path);
	tl_lab_up(&L, NULL);
	ck_assert_int_eq(post_as("alice-secret-token", "/v1/pause"), 202);
	json_t *st = tl_wait_cluster(&L, "PAUSED", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_int_eq(post_as("mallory-token", "/v1/resume"), 401);
	ck_assert_int_eq(post_as("bob-secret-token", "/v1/resume"), 202);
	st = tl_wait_cluster(&L, "STEADY", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_int_eq(post_as(OP_TOKEN, "/v1/pause"), 202);
	st = tl_wait_cluster(&L, "PAUSED", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	json_t *t = tl_orch_get(&L, "/v1/transitions");
	json_t *all = json_object_get(t, "transitions");
	size_t n = json_array_size(all);
	ck_assert_uint_ge(n, 3);
	static const char *const want[][2] = { { "PAUSED", "operator:alice" },
					       { "STEADY", "operator:bob" },
					       { "PAUSED", "operator:api" } };
	for (int i = 0; i < 3; i++) {
		json_t *tr = json_array_get(all, n - 3 + (size_t)i);
		ck_assert_str_eq(json_string_value(json_object_get(tr, "to_state")), want[i][0]);
		ck_assert_str_eq(json_string_value(json_object_get(tr, "actor")), want[i][1]);
	}
	json_decref(t);
	/* SIGHUP reads the file again: bob is gone, carol came; a bad file
	 * (a name twice) is refused and changes nothing. */
	char carol[200];
	ck_assert_int_eq(operators_line("carol", "carol-secret-token", carol, sizeof(carol), err,
					sizeof(err)), 0);
	snprintf(text, sizeof(text), "%s\n%s\n", alice, carol);
	tl_write_file(path, text);
	ck_assert_int_eq(kill(L.orch, SIGHUP), 0);
	long st_carol = 401;
	for (uint64_t end = time_mono_ms() + 5000; st_carol == 401 && time_mono_ms() < end;
	     time_sleep_ms(50))
		st_carol = post_as("carol-secret-token", "/v1/resume");
	ck_assert_int_eq(st_carol, 202);
	ck_assert_int_eq(post_as("bob-secret-token", "/v1/pause"), 401);
	snprintf(text, sizeof(text), "%s\n%s\n", carol, carol);
	tl_write_file(path, text);
	ck_assert_int_eq(kill(L.orch, SIGHUP), 0);
	uint64_t end = time_mono_ms() + 5000;
	while (!file_holds(L.log, "drorchd.operators_refused") && time_mono_ms() < end)
		time_sleep_ms(50);
	ck_assert_msg(file_holds(L.log, "drorchd.operators_refused"), "see %s", L.log);
	st = tl_wait_cluster(&L, "STEADY", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_int_eq(post_as("carol-secret-token", "/v1/pause"), 202);
	th_kill(L.orch, SIGTERM, 10000);  /* the store and the log as they stay */
	static const char *const tokens[] = { "alice-secret-token", "bob-secret-token",
					      "mallory-token", OP_TOKEN, "carol-secret-token" };
	char wal[sizeof(L.db) + 8];
	snprintf(wal, sizeof(wal), "%s-wal", L.db);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(!file_holds(L.db, tokens[i]) && !file_holds(wal, tokens[i]) &&
			      !file_holds(L.log, tokens[i]) && !file_holds(path, tokens[i]),
			      "token %s written somewhere", tokens[i]);
}
END_TEST

/* drop_replication on us-east, the primary: from now on what it
 * acknowledges reaches no replica. */
static void drop_replication(void)
{
	const char *drop = "{\"drop_replication\":true}";
	ck_assert_int_eq(th_site_req(&L.site[0], "POST", "/v1/admin/faults", true, drop,
				     strlen(drop), NULL, NULL), 200);
	time_sleep_ms(300);  /* fetches in flight (100 ms long polls) are over */
}

/* The fixture's lab, replaced by one with an async policy (no anti-flapping
 * wait) whose sites take faults; with shipping dropped at the primary
 * unless keep_shipping. */
static void async_lab_with(bool keep_shipping, const char *more_policy)
{
	char policy[512];
	snprintf(policy, sizeof(policy), "name: async\nreplication: {mode: async}\n"
		 "rpo: {max_ms: 60000}\nfailover: {anti_flap_s: 0}\n%s", more_policy);
	tl_lab_free(&L);
	tl_lab_init(&L, "check_drorchd", NSITES, OP_TOKEN, policy);
	L.peers = true;
	const char *extra[] = { "--enable-faults", NULL };
	tl_lab_up(&L, extra);
	if (!keep_shipping)
		drop_replication();
}

static void async_lab(bool keep_shipping)
{
	async_lab_with(keep_shipping, "");
}

/* Async: the primary acknowledges writes its replicas never get (its
 * shipping dropped by fault injection),
 * then dies.  The failover loses them (async, within the RPO); the old
 * primary returns with them, is refused as diverged, and drorchd rewinds it:
 * the records go to a quarantine file named in the failover's audit, and
 * the site follows the new primary with the new primary's data. */
START_TEST(test_diverged_old_primary_is_rewound_and_audited)
{
	async_lab(false);
	char key[32];
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "lost-%d", i);
		ck_assert_int_eq(th_site_put(&L.site[0], key), 200);
	}
	time_sleep_ms(300);  /* drorchd's monitor sees the primary's last LSN */
	th_kill(L.site[0].pid, SIGKILL, 5000);
	const char *moved = tl_wait_failover_from(&L, L.names[0], 20000);
	ck_assert_msg(moved, "no failover; see %s", L.log);
	ck_assert(th_site_start(&L.site[0], NULL));
	ck_assert_msg(wait_all_follow(moved, 20000), "us-east was not rewound; see %s", L.log);
	ck_assert_int_ge(th_site_status_int(&L.site[0], "last_rewind", "records"), 5);
	ck_assert(!th_site_has(&L.site[0], "lost-0"));
	json_t *fo = tl_orch_get(&L, "/v1/runs/1");
	json_t *steps = json_object_get(fo, "steps");
	const char *quarantine = NULL;
	size_t i;
	json_t *st;
	json_array_foreach(steps, i, st)
		if (!strcmp(json_string_value(json_object_get(st, "name")), "rewind"))
			quarantine = json_string_value(json_object_get(json_object_get(st, "detail"),
								       "quarantine"));
	ck_assert_msg(quarantine, "no rewind step in the failover's audit");
	FILE *f = fopen(quarantine, "r");
	ck_assert_msg(f, "quarantine %s: cannot open", quarantine);
	char line[4096];
	int found = 0;
	while (fgets(line, sizeof(line), f))
		found += strstr(line, "\"key\":\"lost-") != NULL;
	fclose(f);
	ck_assert_int_eq(found, 5);
	json_decref(fo);
}
END_TEST

/* The path of the newest WAL segment of site s (names sort by first LSN). */
static void newest_segment(const struct th_site *s, char *path, size_t len)
{
	char dir[700], best[256] = "";
	snprintf(dir, sizeof(dir), "%s/wal", s->data);
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".wal") && strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	closedir(d);
	ck_assert(best[0]);
	snprintf(path, len, "%s/%s", dir, best);
}

/* Async: the primary acknowledges writes no replica gets, is killed and
 * comes back at once without them and without a trace (its log cut at a
 * record boundary: a lost tail, as a deleted last segment leaves).  It is
 * not made primary again at that epoch, reissuing those LSNs: drorchd saw
 * it hold more, fails it over at a new epoch and counts them in the RPO
 * (drchaos seed 30024). */
START_TEST(test_primary_back_without_its_tail_is_failed_over)
{
	async_lab(true);
	ck_assert_int_eq(th_site_put(&L.site[0], "kept"), 200);
	drop_replication();
	char seg[1024], key[32];
	newest_segment(&L.site[0], seg, sizeof(seg));
	struct stat sb;
	ck_assert_int_eq(stat(seg, &sb), 0);
	off_t before = sb.st_size;
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "tail-%d", i);
		ck_assert_int_eq(th_site_put(&L.site[0], key), 200);
	}
	/* drorchd's monitor sees the primary's last LSN (bounded wait). */
	long long want = th_site_status_int(&L.site[0], NULL, "flushed_lsn"), seen = 0;
	for (uint64_t end = time_mono_ms() + 5000; seen < want && time_mono_ms() < end;) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		json_t *site = json_array_get(json_object_get(st, "sites"), 0);
		seen = json_integer_value(json_object_get(site, "flushed_lsn"));
		json_decref(st);
		if (seen < want)
			time_sleep_ms(50);
	}
	ck_assert_int_ge(seen, want);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	ck_assert_int_eq(truncate(seg, before), 0);
	ck_assert(th_site_start(&L.site[0], NULL));  /* back at once */
	/* A failover at a new epoch (us-east's log, though short, may still be
	 * the newest: then it is elected again, at the new epoch). */
	json_t *st = NULL;
	uint64_t deadline = time_mono_ms() + 20000;
	while (time_mono_ms() < deadline && !st) {
		st = tl_wait_cluster(&L, NULL, NULL, NULL, 500);
		if (st && json_integer_value(json_object_get(st, "epoch")) < 2) {
			json_decref(st);
			st = NULL;
		}
	}
	ck_assert_msg(st, "us-east was confirmed again without its tail; see %s", L.log);
	const char *moved = json_string_value(json_object_get(st, "primary"));
	ck_assert(th_site_has(tl_site_named(&L, moved), "kept"));
	json_decref(st);
	json_t *run = tl_ended_run(&L, 10000);
	ck_assert_int_ge(json_integer_value(json_object_get(run, "rpo_records")), 5);
	ck_assert_int_ge(json_integer_value(json_object_get(run, "epoch")), 2);
	/* Format 2: the RPO in ms is the commit time between the newest record
	 * lost and the newest kept, not an estimate. */
	json_t *detail = json_object_get(run, "detail");
	ck_assert_msg(json_is_true(json_object_get(detail, "rpo_exact")), "%s",
		      json_dumps(run, 0));
	ck_assert_int_ge(json_integer_value(json_object_get(run, "rpo_ms")), 0);
	ck_assert_int_lt(json_integer_value(json_object_get(run, "rpo_ms")), 5000);
	json_decref(run);
}
END_TEST

/* Async: the primary holds writes no replica got, and comes back at once
 * without its state.json (its log intact): it is failed over for it (D10),
 * and, its log strictly the newest, elected again at the new epoch: what
 * it acknowledged is kept, not rewound away (drchaos seed 22062). */
START_TEST(test_primary_back_without_metadata_keeps_its_writes)
{
	/* A 1 s detection window: "back at once" must come before a miss is
	 * confirmed (the sanitizer build's CI, four labs at once, restarted
	 * it after the 300 ms window: a plain failover, then a rewind). */
	async_lab_with(false, "detection: {heartbeat_ms: 100, misses: 10}\n");
	char key[32], path[1024];
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "only-here-%d", i);
		ck_assert_int_eq(th_site_put(&L.site[0], key), 200);
	}
	th_kill(L.site[0].pid, SIGKILL, 5000);
	snprintf(path, sizeof(path), "%s/state.json", L.site[0].data);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert(th_site_start(&L.site[0], NULL));  /* back at once, faults off */
	json_t *st = NULL;
	uint64_t deadline = time_mono_ms() + 20000;
	while (time_mono_ms() < deadline && !st) {
		st = tl_wait_cluster(&L, NULL, "us-east", NULL, 500);
		if (st && (json_integer_value(json_object_get(st, "epoch")) < 2 ||
			   !tl_all_in_role(st, "us-east"))) {
			json_decref(st);
			st = NULL;
		}
	}
	ck_assert_msg(st, "us-east was not made primary again at a new epoch; see %s", L.log);
	json_decref(st);
	json_t *run = tl_ended_run(&L, 10000);
	ck_assert_str_eq(json_string_value(json_object_get(run, "from_site")) ?: "", "us-east");
	/* (at most an unacknowledged record in flight at the kill) */
	ck_assert_int_lt(json_integer_value(json_object_get(run, "rpo_records")), 5);
	json_decref(run);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "only-here-%d", i);
		ck_assert_msg(th_site_has(&L.site[0], key), "%s lost", key);
	}
}
END_TEST

/* ---- playbooks --------------------------------------------------------------- */

static long post_playbook(const char *name, const char *doc, bool dry, char **out)
{
	char url[160];
	snprintf(url, sizeof(url), "%s/v1/playbooks/%s/runs", L.url, name);
	json_t *b = json_pack("{s:b, s:s}", "dry_run", dry, "playbook", doc);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	long st = th_http("POST", url, OP_TOKEN, body, strlen(body), out, NULL);
	free(body);
	return st;
}

static long approve(long long run, const char *comment)
{
	char url[160], body[200];
	snprintf(url, sizeof(url), "%s/v1/runs/%lld/approve", L.url, run);
	snprintf(body, sizeof(body), "{\"comment\":\"%s\"}", comment);
	return th_http("POST", url, OP_TOKEN, body, strlen(body), NULL, NULL);
}

/* Polls run id until its detail shows an approval gate, or it ended. */
static json_t *wait_run(long long id, bool gate, long timeout_ms)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld", id);
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < end) {
		json_t *r = tl_orch_get(&L, path);
		const char *outcome = json_string_value(json_object_get(r, "outcome")) ?: "";
		bool at_gate = json_object_get(json_object_get(r, "detail"), "waiting_for_approval");
		if ((gate && at_gate) || (!gate && strcmp(outcome, "running") && outcome[0]))
			return r;
		json_decref(r);
		time_sleep_ms(50);
	}
	return NULL;
}

/* Run id was recorded as a dry run whose plan would `would`. */
static void expect_dry_run(long long id, const char *would)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld", id);
	json_t *r = tl_orch_get(&L, path);
	ck_assert_msg(r, "GET %s failed", path);
	ck_assert_str_eq(json_string_value(json_object_get(r, "outcome")), "dry_run");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "detail"), "would")),
			 would);
	ck_assert_int_gt(json_array_size(json_object_get(r, "steps")), 0);
	json_decref(r);
}

static const char *const DRILL =
	"name: drill\n"
	"steps:\n"
	"  - check: {state: STEADY, primary: us-east, replicas_streaming: true}\n"
	"  - approve: {message: \"switch to eu-west?\", timeout_s: 30}\n"
	"  - switchover: {to: eu-west, timeout_s: 30}\n"
	"  - wait: {state: STEADY, primary: eu-west, timeout_s: 15}\n"
	"  - assert: {rpo_records_max: 0}\n"
	"  - name: wrong-primary\n"
	"    check: {primary: us-east}\n"
	"  - failback: {}\n";

/* A playbook plans (dry run), waits at its gate until approved, runs a
 * switchover as actor playbook:RUN, and stops at the first failed step. */
START_TEST(test_playbook_dry_run_gate_and_failed_step)
{
	tl_lab_up(&L, NULL);
	char *out = NULL;
	ck_assert_int_eq(post_playbook("drill", DRILL, true, &out), 200);
	json_t *plan = json_loads(out, 0, NULL);
	free(out);
	/* Checks are judged against the cluster as it is now: they all hold. */
	ck_assert_str_eq(json_string_value(json_object_get(plan, "outcome")), "succeeded");
	ck_assert_int_eq(json_array_size(json_object_get(plan, "plan")), 7);
	/* ... and it is recorded as a dry run, not as a run that succeeded. */
	expect_dry_run(json_integer_value(json_object_get(plan, "run")), "succeed");
	json_decref(plan);
	ck_assert_int_eq(post_playbook("drill", "name: drill\nsteps:\n  - check: {primary: ap-south}\n",
				       true, &out), 200);
	ck_assert_msg(strstr(out, "\"outcome\":\"failed\"") && strstr(out, "primary is us-east"),
		      "%s", out);
	plan = json_loads(out, 0, NULL);
	expect_dry_run(json_integer_value(json_object_get(plan, "run")), "fail");
	json_decref(plan);
	free(out);
	ck_assert_int_eq(tl_status_epoch(&L), 1);  /* a dry run acts on nothing */
	ck_assert_int_eq(post_playbook("drill", "name: drill\nsteps:\n  - wait: {state: CALM}\n",
				       false, &out), 400);
	ck_assert_msg(strstr(out, "CALM"), "%s", out);
	free(out);
	ck_assert_int_eq(post_playbook("other", DRILL, false, NULL), 400);  /* name mismatch */
	ck_assert_int_eq(post_playbook("drill", DRILL, false, &out), 202);
	json_t *acc = json_loads(out, 0, NULL);
	free(out);
	long long run = json_integer_value(json_object_get(acc, "run"));
	json_decref(acc);
	ck_assert_int_eq(post_playbook("drill", DRILL, false, NULL), 409);  /* one at a time */
	json_t *r = wait_run(run, true, 10000);
	ck_assert_msg(r, "the playbook never reached its gate; see %s", L.log);
	json_decref(r);
	ck_assert_int_eq(approve(run + 100, "no"), 404);
	ck_assert_int_eq(approve(run, "go"), 200);
	r = wait_run(run, false, 30000);
	ck_assert_msg(r, "the playbook did not end; see %s", L.log);
	ck_assert_str_eq(json_string_value(json_object_get(r, "outcome")), "failed");
	json_t *steps = json_object_get(r, "steps");
	ck_assert_int_eq(json_array_size(steps), 6);  /* failback never ran */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 5), "name")),
			 "wrong-primary");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 5), "status")),
			 "failed");
	json_decref(r);
	ck_assert_int_eq(approve(run, "late"), 404);
	json_t *runs = tl_orch_get(&L, "/v1/runs");  /* newest first: the switchover it ran */
	json_t *so = json_array_get(json_object_get(runs, "runs"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(so, "kind")), "switchover");
	char actor[64];
	snprintf(actor, sizeof(actor), "playbook:%lld", run);
	ck_assert_str_eq(json_string_value(json_object_get(so, "actor")), actor);
	long long so_id = json_integer_value(json_object_get(so, "id"));
	json_decref(runs);
	/* The playbook's audit holds the transitions of the switchover it ran. */
	char path[64];
	snprintf(path, sizeof(path), "/v1/transitions?run=%lld", run);
	json_t *trs = tl_orch_get(&L, path), *t;
	size_t i, of_so = 0;
	json_array_foreach(json_object_get(trs, "transitions"), i, t)
		of_so += json_integer_value(json_object_get(t, "run_id")) == so_id;
	ck_assert_msg(of_so >= 2, "the playbook's audit lacks run %lld's transitions", so_id);
	t = json_array_get(json_object_get(trs, "transitions"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(t, "to_state")), "SWITCHOVER");
	ck_assert_str_eq(json_string_value(json_object_get(t, "actor")), actor);
	json_decref(trs);
}
END_TEST

/* drorchd dies (SIGKILL, right after it committed the switchover the
 * playbook asked for) in the middle of a playbook under a write load; the
 * next drorchd resumes the run at that step: it waits for the switchover
 * already asked for rather than asking again, starts the load again
 * (saying so), and the run ends succeeded with every step recorded once. */
START_TEST(test_playbook_resumes_after_drorchd_is_killed)
{
	tl_lab_up(&L, NULL);
	th_kill(L.orch, SIGTERM, 10000);
	tl_start_orch(&L, "S01");
	static const char *const doc =
		"name: resumable\n"
		"steps:\n"
		"  - write_load: {writers: 1, rate: 50}\n"
		"  - sleep: {ms: 300}\n"
		"  - switchover: {to: eu-west, timeout_s: 30}\n"
		"  - wait: {state: STEADY, primary: eu-west, replicas_streaming: true, timeout_s: 30}\n"
		"  - write_load: {stop: true}\n"
		"  - assert: {lost_max: 0, rpo_records_max: 0}\n";
	char *out = NULL;
	ck_assert_int_eq(post_playbook("resumable", doc, false, &out), 202);
	json_t *acc = json_loads(out, 0, NULL);
	free(out);
	long long run = json_integer_value(json_object_get(acc, "run"));
	json_decref(acc);
	uint64_t end = time_mono_ms() + 15000;
	while (!th_pid_gone(L.orch) && time_mono_ms() < end)
		time_sleep_ms(20);
	ck_assert_msg(th_pid_gone(L.orch), "drorchd did not crash at S01; see %s", L.log);
	tl_start_orch(&L, NULL);
	json_t *r = wait_run(run, false, 40000);
	ck_assert_msg(r, "the resumed playbook did not end; see %s", L.log);
	char *text = json_dumps(r, JSON_COMPACT);
	ck_assert_msg(!strcmp(json_string_value(json_object_get(r, "outcome")), "succeeded"), "%s",
		      text);
	json_t *steps = json_object_get(r, "steps"), *detail = json_object_get(r, "detail");
	ck_assert_msg(json_array_size(steps) == 6, "%s", text);
	json_t *so = json_object_get(json_object_get(json_array_get(steps, 2), "detail"), "result");
	ck_assert_msg(json_is_true(json_object_get(so, "resumed")), "%s", text);
	ck_assert_msg(json_array_size(json_object_get(detail, "resumed")) == 1 &&
		      json_object_get(detail, "write_load_restarted") &&
		      json_integer_value(json_object_get(json_object_get(detail, "write_load"),
							 "lost")) == 0, "%s", text);
	free(text);
	json_decref(r);
	/* One switchover, the one asked for before the crash. */
	char actor[64];
	snprintf(actor, sizeof(actor), "playbook:%lld", run);
	json_t *runs = tl_orch_get(&L, "/v1/runs"), *x;
	size_t i, n = 0;
	json_array_foreach(json_object_get(runs, "runs"), i, x)
		n += !strcmp(json_string_value(json_object_get(x, "actor")) ?: "", actor);
	json_decref(runs);
	ck_assert_int_eq(n, 1);

	/* Killed in its rollback (on_failure), a run resumes there: the
	 * rollback goes on and the run ends failed, naming its failed step. */
	static const char *const failing =
		"name: rolls-back\n"
		"steps:\n"
		"  - check: {primary: ap-south}\n"
		"on_failure:\n"
		"  - name: slow-rollback\n"
		"    sleep: {ms: 1500}\n"
		"  - name: last-rollback\n"
		"    check: {primary: eu-west}\n";
	ck_assert_int_eq(post_playbook("rolls-back", failing, false, &out), 202);
	acc = json_loads(out, 0, NULL);
	free(out);
	run = json_integer_value(json_object_get(acc, "run"));
	json_decref(acc);
	time_sleep_ms(500);  /* in slow-rollback */
	th_kill(L.orch, SIGKILL, 5000);
	tl_start_orch(&L, NULL);
	r = wait_run(run, false, 20000);
	ck_assert_msg(r, "the resumed rollback did not end; see %s", L.log);
	text = json_dumps(r, JSON_COMPACT);
	detail = json_object_get(r, "detail");
	ck_assert_msg(!strcmp(json_string_value(json_object_get(r, "outcome")), "failed") &&
		      json_array_size(json_object_get(r, "steps")) == 3 &&
		      !strcmp(json_string_value(json_object_get(json_object_get(detail, "rollback"),
								"outcome")) ?: "", "succeeded") &&
		      !strcmp(json_string_value(json_object_get(json_object_get(detail, "failed_step"),
								"step")) ?: "", "1-check") &&
		      json_array_size(json_object_get(detail, "resumed")) == 1, "%s", text);
	free(text);
	json_decref(r);
}
END_TEST

/* ---- rolling upgrade ------------------------------------------------------------ */

/* Plays the operator who installs binaries: whenever upgrade run `run`
 * waits for a site, restarts that site on the drsite program of the
 * version it waits for (drsite-0.1.0, or drsite for 0.2.0).  Returns the
 * run once it ended (new ref), or NULL after timeout_ms. */
static json_t *swap_binaries_until_done(long long run, long timeout_ms)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld", run);
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < end) {
		json_t *r = tl_orch_get(&L, path);
		const char *outcome = json_string_value(json_object_get(r, "outcome")) ?: "";
		if (outcome[0] && strcmp(outcome, "running"))
			return r;
		json_t *want = json_object_get(json_object_get(r, "detail"), "waiting_for_site_upgrade");
		struct th_site *s = (struct th_site *)tl_site_named(
			&L, json_string_value(json_object_get(want, "site")) ?: "");
		const char *to = json_string_value(json_object_get(want, "version"));
		char v[64];
		if (s && to && *th_site_status_str(s, "version", v, sizeof(v)) && strcmp(v, to))
			ck_assert_msg(th_site_swap(s, to, NULL), "%s did not start on %s; see %s",
				      s->name, th_drsite_bin(to), s->log);
		json_decref(r);
		time_sleep_ms(100);
	}
	return NULL;
}

/* POSTs body to /v1/upgrades; the HTTP status, the answer into *out. */
static long post_upgrade(const char *body, json_t **out)
{
	char url[128], *text = NULL;
	snprintf(url, sizeof(url), "%s/v1/upgrades", L.url);
	long rc = th_http("POST", url, OP_TOKEN, body, strlen(body), &text, NULL);
	*out = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return rc;
}

static long long last_upgrade_run;  /* the run upgrade_under_load started */

/* Runs an upgrade (or rollback) body to its end under write load, swapping
 * binaries as asked; checks it succeeded with nothing acknowledged lost and
 * every site at `to`; returns the primary it left (static).  With keep, the
 * writers are left there (their keys checked on the primary only) for the
 * caller's own checks; it frees them with tl_writers_check_on. */
static const char *upgrade_under_load(const char *body, const char *to, struct tl_writers *keep)
{
	static char primary[64];
	struct tl_writers mine, *ws = keep ? keep : &mine;
	tl_writers_start(&L, ws);
	time_sleep_ms(300);
	json_t *acc = NULL;
	ck_assert_int_eq(post_upgrade(body, &acc), 202);
	long long run = json_integer_value(json_object_get(acc, "run"));
	json_decref(acc);
	last_upgrade_run = run;
	json_t *r = swap_binaries_until_done(run, 90000);
	ck_assert_msg(r, "%s did not end; see %s", body, L.log);
	if (!strstr(body, "finalize") && !strstr(body, "rollback")) {
		/* Finalized: a rollback asked at once is refused (drorchd knows
		 * the sites took the fcv before its monitor polls them again). */
		json_t *no = NULL;
		ck_assert_int_eq(post_upgrade("{\"rollback\":true}", &no), 409);
		json_decref(no);
	}
	char *text = json_dumps(r, JSON_COMPACT);
	ck_assert_msg(!strcmp(json_string_value(json_object_get(r, "outcome")), "succeeded"),
		      "%s: %s", body, text);
	free(text);
	ck_assert_str_eq(json_string_value(json_object_get(r, "kind")), "upgrade");
	json_decref(r);
	json_t *st = tl_wait_cluster(&L, "STEADY", NULL, NULL, 10000);
	ck_assert_msg(st, "not STEADY after %s; see %s", body, L.log);
	snprintf(primary, sizeof(primary), "%s", json_string_value(json_object_get(st, "primary")));
	json_decref(st);
	time_sleep_ms(300);
	ck_assert_int_gt(tl_writers_stop(ws), 20);
	if (keep)
		tl_writers_assert_on(ws, tl_site_named(&L, primary));
	else
		tl_writers_check_on(ws, tl_site_named(&L, primary));
	for (int i = 0; i < NSITES; i++) {
		char v[64];
		ck_assert_str_eq(th_site_status_str(&L.site[i], "version", v, sizeof(v)), to);
		/* ... on the program of that version */
		ck_assert_str_eq(L.site[i].version, to);
	}
	return primary;
}

static void assert_fcv(const char *fcv)
{
	for (int i = 0; i < NSITES; i++) {
		char v[64];
		ck_assert_str_eq(th_site_status_str(&L.site[i], "fcv", v, sizeof(v)), fcv);
	}
}

/* Every site writes format `format`, and its WAL holds a format-2 segment
 * (DRWAL002) exactly when has2: format 2 on disk only after a finalize. */
static void assert_format(int format, bool has2)
{
	for (int i = 0; i < NSITES; i++) {
		ck_assert_int_eq(th_site_status_int(&L.site[i], NULL, "format"), format);
		char *magics = th_wal_magics(L.site[i].data);
		ck_assert_ptr_nonnull(magics);
		ck_assert_msg(!strstr(magics, "DRWAL002") == !has2, "%s: segments %s", L.site[i].name,
			      magics);
		free(magics);
	}
}

/* Runs drsite-V on s's data dir (s stopped) until it exits by itself;
 * returns its exit code (-1: killed, or still running after 10 s). */
static int run_site_to_exit(struct th_site *s, const char *v)
{
	const char *bin = th_drsite_bin(v);
	ck_assert_ptr_nonnull(bin);
	char *argv[] = { (char *)bin, "--name", s->name, "--listen", s->listen, "--data", s->data,
			 "--token-file", s->token_file, NULL };
	pid_t pid = th_spawn(argv, s->log);
	ck_assert_int_gt(pid, 0);
	int st = th_wait_exit(pid, 10000);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Real binaries: the sites start on drsite-0.1.0 (fcv 0.1.0).  Under write
 * load, each with nothing acknowledged lost: an upgrade to 0.2.0 left
 * unfinalized (replicas restarted on drsite in turn, the primary switched
 * over); the same upgrade again, which moves nothing; a rollback that
 * restarts every site on drsite-0.1.0 in reverse order (the old primary
 * first, a switchover back to it); an upgrade finalized; then no way back:
 * a rollback and a downgrade are refused with the reason, and drsite-0.1.0
 * refuses a site's data dir (exit 1, the fcv in its message), changing
 * nothing in it: back on drsite, the site serves every acknowledged write.
 */
START_TEST(test_rolling_upgrade_rollback_then_no_way_back)
{
	tl_lab_version(&L, "0.1.0");
	tl_lab_up(&L, NULL);
	for (int i = 0; i < NSITES; i++) {
		char v[64];
		ck_assert_str_eq(th_site_status_str(&L.site[i], "version", v, sizeof(v)), "0.1.0");
	}
	assert_fcv("0.1.0");
	json_t *ans = NULL;
	ck_assert_int_eq(post_upgrade("{\"to\":\"two\"}", &ans), 400);
	json_decref(ans);
	const char *p = upgrade_under_load("{\"to\":\"0.2.0\",\"finalize\":false}", "0.2.0", NULL);
	ck_assert_str_eq(p, "eu-west");
	assert_fcv("0.1.0");
	assert_format(1, false);  /* 0.2.0 everywhere, still format 1: a way back */

	/* The version the cluster runs: nothing moves, no run. */
	json_t *last = tl_newest_run(&L);
	long long runs = json_integer_value(json_object_get(last, "id"));
	json_decref(last);
	ck_assert_int_eq(post_upgrade("{\"to\":\"0.2.0\",\"finalize\":false}", &ans), 200);
	ck_assert(json_is_true(json_object_get(ans, "noop")));
	ck_assert_msg(strstr(json_string_value(json_object_get(ans, "reason")) ?: "",
			     "every site runs 0.2.0"), "no-op answer");
	json_decref(ans);
	last = tl_newest_run(&L);
	ck_assert_int_eq(json_integer_value(json_object_get(last, "id")), runs);
	json_decref(last);
	json_t *st = tl_orch_get(&L, "/v1/status");
	ck_assert_str_eq(json_string_value(json_object_get(st, "primary")), "eu-west");
	json_decref(st);

	p = upgrade_under_load("{\"rollback\":true}", "0.1.0", NULL);
	ck_assert_str_eq(p, L.names[0]);  /* back on the old primary, swapped back first */
	assert_fcv("0.1.0");
	assert_format(1, false);
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld", last_upgrade_run);
	last = tl_orch_get(&L, path);
	ck_assert(json_is_true(json_object_get(json_object_get(last, "detail"), "rollback")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "detail"), "to")),
			 "0.1.0");
	json_decref(last);

	struct tl_writers ws;
	p = upgrade_under_load("{\"to\":\"0.2.0\"}", "0.2.0", &ws);
	assert_fcv("0.2.0");
	/* Finalized: format 2 from now on, in a new segment on every site. */
	ck_assert_int_eq(th_site_put(tl_site_named(&L, p), "after-finalize"), 200);
	for (uint64_t end = time_mono_ms() + 5000; time_mono_ms() < end; time_sleep_ms(50))
		if (th_site_has(&L.site[0], "after-finalize") && th_site_has(&L.site[1], "after-finalize") &&
		    th_site_has(&L.site[2], "after-finalize"))
			break;
	assert_format(2, true);
	/* No way back below the finalized FCV: drorchd refuses, a site too. */
	ck_assert_int_eq(post_upgrade("{\"rollback\":true}", &ans), 409);
	ck_assert_msg(strstr(json_string_value(json_object_get(ans, "error")) ?: "",
			     "every site runs 0.2.0, the cluster's fcv: there is nothing to roll back"), "rollback refusal");
	json_decref(ans);
	ck_assert_int_eq(post_upgrade("{\"to\":\"0.1.0\"}", &ans), 409);
	json_decref(ans);

	struct th_site *s = &L.site[strcmp(p, L.names[2]) ? 2 : 1];  /* a replica */
	int stopped = th_kill(s->pid, SIGTERM, 10000);
	ck_assert_msg(stopped != -1 && WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0,
		      "%s did not stop cleanly; see %s", s->name, s->log);
	char *before = th_dir_digest(s->data);
	ck_assert_ptr_nonnull(before);
	size_t log_at = 0;
	free(th_read_file(s->log, &log_at));
	ck_assert_int_eq(run_site_to_exit(s, "0.1.0"), 1);
	char *log = th_read_file(s->log, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log + log_at, "is at fcv 0.2.0, above this binary's version 0.1.0") &&
		      strstr(log + log_at, "run a binary >= 0.2.0"), "drsite-0.1.0 said: %s",
		      log + log_at);
	free(log);
	char *after = th_dir_digest(s->data);
	ck_assert_msg(after && !strcmp(before, after), "the data dir changed:\n%s---\n%s", before,
		      after ? after : "(unreadable)");
	free(before);
	free(after);

	/* Back on drsite: it streams again and holds every acknowledged write. */
	ck_assert_msg(th_site_start(s, NULL), "%s did not start on drsite; see %s", s->name, s->log);
	const struct th_site *primary = tl_site_named(&L, p);
	ck_assert_ptr_nonnull(primary);
	long long target = th_site_status_int(primary, NULL, "lsn");
	bool caught_up = false;
	for (uint64_t end = time_mono_ms() + 15000; !caught_up && time_mono_ms() < end;
	     time_sleep_ms(50))
		caught_up = th_site_status_int(s, NULL, "applied_lsn") >= target &&
			    th_site_wait_status(s, "\"state\":\"streaming\"", 1);
	ck_assert_msg(caught_up, "%s did not catch up with %s (lsn %lld); see %s", s->name, p,
		      target, s->log);
	assert_fcv("0.2.0");
	tl_writers_check_on(&ws, s);
}
END_TEST

static Suite *drorchd_suite(void)
{
	Suite *s = suite_create("drorchd");
	TCase *tc = th_tcase(s, "failover", 0, 120, setup, teardown);
	tcase_add_test(tc, test_kill9_primary_under_load_fails_over_losing_nothing);
	tcase_add_test(tc, test_operator_failover_and_conflicts);
	tcase_add_test(tc, test_grey_failure_slow_fsync_fails_over);
	tcase_add_test(tc, test_bad_config_is_refused_with_position);
	tcase_add_test(tc, test_bad_ha_config_is_refused_with_position);
	tcase_add_test(tc, test_verify_audit_detects_an_edited_transition);
	tc = th_tcase(s, "failover-2", 0, 120, setup, teardown);
	tcase_add_test(tc, test_anti_flapping_holds_a_second_failover_until_acknowledged);
	tcase_add_test(tc, test_lost_replica_is_degraded_then_steady_again);
	tcase_add_test(tc, test_sites_keep_serving_while_drorchd_is_down);
	tcase_add_test(tc, test_policy_put_applies_and_survives_restart);
	tcase_add_test(tc, test_sighup_reloads_the_policy_file);
	tcase_add_test(tc, test_operators_are_named_in_the_audit);
	tc = th_tcase(s, "switchover", 0, 120, setup, teardown);
	tcase_add_test(tc, test_switchover_under_load_loses_nothing);
	tcase_add_test(tc, test_switchover_aborts_when_the_target_cannot_catch_up);
	tcase_add_test(tc, test_failback_after_kill9_returns_to_the_old_primary);
	tcase_add_test(tc, test_diverged_old_primary_is_rewound_and_audited);
	tc = th_tcase(s, "switchover-2", 0, 120, setup, teardown);
	tcase_add_test(tc, test_primary_back_without_its_tail_is_failed_over);
	tcase_add_test(tc, test_primary_back_without_metadata_keeps_its_writes);
	tcase_add_test(tc, test_playbook_dry_run_gate_and_failed_step);
	tcase_add_test(tc, test_playbook_resumes_after_drorchd_is_killed);
	tcase_add_test(tc, test_rolling_upgrade_rollback_then_no_way_back);
	tc = th_tcase(s, "wan", 1, 150, setup, teardown);
	tcase_add_test(tc, test_partition_from_orchestrator_only_is_not_a_failover);
	tcase_add_test(tc, test_partition_from_everyone_fails_over_and_old_primary_acks_nothing);
	tcase_add_test(tc, test_jitter_and_loss_to_the_sites_is_not_a_failover);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), failover and switchover (each
 * in two halves) run at once, each in its own labs; then wan alone (its
 * jitter watch must not share the machine with failovers). */
int main(void)
{
	Suite *s = drorchd_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	httpc_global_init();
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
