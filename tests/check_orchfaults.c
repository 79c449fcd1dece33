/*
 * check_orchfaults.c — drorchd under the faults an outside checker broke
 * it with, each done for real on real processes: a primary restarted at
 * once on a damaged WAL (it must be failed over, and no healthy replica
 * rewound to its short log), a store that lost its SQLite WAL while
 * drorchd was down (it must adopt the sites' epoch and still fail over), a
 * sync election that hears too few sites (refused: HELD), such a held
 * failover of a store behind the sites resumed by an operator (it must
 * elect again, not promote the store's stale primary), a full disk on
 * the primary, and operator commands in every state (refused
 * with the table's reason, changing nothing, or acted on).
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

#define NSITES 3
#define OP_TOKEN "operator-token-for-tests"

static struct tl_lab L;

static void setup(void)
{
	tl_lab_init(&L, "check_orchfaults", NSITES, OP_TOKEN,
		    "name: test\nfailover: {anti_flap_s: 0}\ndetection: {canary_ms: 500}\n");
	L.peers = true;
}

static void teardown(void)
{
	tl_lab_free(&L);
}

static void put_range(const struct th_site *s, const char *prefix, int n)
{
	char key[64];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ck_assert_int_eq(th_site_put(s, key), 200);
	}
}

static void assert_range_on(const struct th_site *s, const char *prefix, int n)
{
	char key[64];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ck_assert_msg(th_site_has(s, key), "acknowledged %s lost on %s", key, s->name);
	}
}

static bool exists(const char *dir, const char *rel)
{
	char path[700];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &sb) == 0;
}

/* ---- a primary restarted on a damaged log ---------------------------------------------- */

START_TEST(test_damaged_primary_log_fails_over_without_rewinding_replicas)
{
	tl_lab_up(&L, NULL);
	put_range(&L.site[0], "a", 300);  /* sync, quorum 1: each on a replica too */
	th_kill(L.site[0].pid, SIGKILL, 5000);
	ck_assert_int_gt(th_site_flip_wal(&L.site[0], 1.0 / 3, 0x04), 0);
	/* Back at once, before drorchd can miss it. */
	ck_assert_msg(th_site_start(&L.site[0], NULL), "us-east did not restart; see %s",
		      L.site[0].log);
	const char *moved = tl_wait_failover_from(&L, L.names[0], 20000);
	ck_assert_msg(moved, "the damaged primary stayed primary; see %s", L.log);
	const struct th_site *np = tl_site_named(&L, moved);
	assert_range_on(np, "a", 300);
	/* The healthy replicas were never rewound to the damaged log ... */
	for (int i = 1; i < NSITES; i++)
		ck_assert_msg(!exists(L.site[i].data, "quarantine"), "%s was rewound",
			      L.names[i]);
	/* ... and the damaged site rejoins as a replica and fetches what it lacks. */
	json_t *st = NULL;
	uint64_t deadline = time_mono_ms() + 20000;
	while (time_mono_ms() < deadline && !(st = tl_wait_cluster(&L, "STEADY", moved, NULL, 500)))
		;
	ck_assert_msg(st && tl_all_in_role(st, moved), "us-east did not rejoin; see %s", L.log);
	json_decref(st);
	assert_range_on(&L.site[0], "a", 300);
	char rows[4096];
	tl_rows(&L, rows, sizeof(rows));
	ck_assert_msg(strstr(rows, "D10") || strstr(rows, "D05"), "no failover rows: %s", rows);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/* ---- a store that went back in time ------------------------------------------------------ */

static void failover_to(const char *site)
{
	char body[64];
	snprintf(body, sizeof(body), "{\"to\":\"%s\"}", site);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", body), 202);
	json_t *st = tl_wait_cluster(&L, "STEADY", site, NULL, 20000);
	ck_assert_msg(st, "failover to %s did not finish; see %s", site, L.log);
	json_decref(st);
}

/* kill -9 drorchd and delete its store's -wal and -shm: the store goes
 * back to its last checkpoint. */
static void lose_store_wal(void)
{
	th_kill(L.orch, SIGKILL, 5000);
	char path[700];
	snprintf(path, sizeof(path), "%s-wal", L.db);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s-shm", L.db);
	unlink(path);
}

START_TEST(test_store_that_lost_its_wal_adopts_the_sites_epoch)
{
	tl_lab_up(&L, NULL);
	failover_to("eu-west");
	failover_to("ap-south");
	ck_assert_int_eq(tl_status_epoch(&L), 3);
	lose_store_wal();
	tl_start_orch(&L, NULL);
	/* It says so, takes the sites' epoch and primary, and never issues an
	 * epoch a site has already seen. */
	json_t *st = tl_wait_cluster(&L, "STEADY", "ap-south", NULL, 15000);
	ck_assert_msg(st, "drorchd did not adopt the sites' state; see %s", L.log);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "epoch")), 3);
	json_decref(st);
	char rows[4096];
	tl_rows(&L, rows, sizeof(rows));
	ck_assert_msg(strstr(rows, "R01"), "the adoption is not in the audit: %s", rows);
	/* And it still fails over, at a new epoch. */
	const struct th_site *ap = tl_site_named(&L, "ap-south");
	th_kill(ap->pid, SIGKILL, 5000);
	ck_assert_msg(tl_wait_failover_from(&L, "ap-south", 20000), "no failover; see %s", L.log);
	ck_assert_int_ge(tl_status_epoch(&L), 4);
}
END_TEST

/* ---- an election that cannot hear enough sites ---------------------------------------- */

START_TEST(test_sync_election_waits_for_the_sites_that_may_hold_acked_writes)
{
	tl_lab_up(&L, NULL);
	put_range(&L.site[0], "b", 100);
	/* ap-south down, then the primary: eu-west alone cannot tell whether
	 * ap-south flushed writes it lacks (sync, quorum 1 of 2 replicas). */
	th_kill(L.site[2].pid, SIGKILL, 5000);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	json_t *st = tl_wait_cluster(&L, "HELD", NULL, NULL, 20000);
	ck_assert_msg(st, "no HELD with one replica heard; see %s", L.log);
	json_decref(st);
	size_t len;
	char *log = th_read_file(L.log, &len);
	ck_assert_msg(log && strstr(log, "too few sites answered"), "no refusal in %s", L.log);
	free(log);
	ck_assert_int_eq(tl_status_epoch(&L) >= 2, 1);
	/* ap-south back: an operator's failover hears both and elects. */
	ck_assert(th_site_start(&L.site[2], NULL));
	ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", NULL), 202);
	const char *moved = NULL;
	uint64_t deadline = time_mono_ms() + 20000;
	while (time_mono_ms() < deadline && !moved) {  /* DEGRADED: us-east is down */
		st = tl_wait_cluster(&L, "DEGRADED", NULL, NULL, 500);
		const char *p = json_string_value(json_object_get(st, "primary"));
		moved = p && strcmp(p, "us-east") ? tl_site_named(&L, p)->name : NULL;
		json_decref(st);
	}
	ck_assert_msg(moved, "no failover once both replicas answered; see %s", L.log);
	assert_range_on(tl_site_named(&L, moved), "b", 100);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/* drchaos seed 52011: a replica that lost records it held (its store or WAL
 * damaged: "behind") cannot tell what it had, so it does not count among
 * the sites an election must hear.  ap-south comes back with a damaged WAL
 * while the primary is down: eu-west alone is heard, and the failover is
 * held rather than trusting ap-south's short log. */
START_TEST(test_replica_that_lost_records_testifies_to_nothing)
{
	tl_lab_up(&L, NULL);
	put_range(&L.site[0], "c", 300);
	th_kill(L.site[2].pid, SIGKILL, 5000);
	ck_assert_int_gt(th_site_flip_wal(&L.site[2], 1.0 / 3, 0x04), 0);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	ck_assert_msg(th_site_start(&L.site[2], NULL), "ap-south did not restart; see %s",
		      L.site[2].log);
	json_t *st = tl_wait_cluster(&L, "HELD", NULL, NULL, 20000);
	ck_assert_msg(st, "an election counted a replica that lost records; see %s", L.log);
	json_decref(st);
	size_t len;
	char *log = th_read_file(L.log, &len);
	ck_assert_msg(log && strstr(log, "too few sites answered"), "no refusal in %s", L.log);
	ck_assert_msg(strstr(log, "\"behind\":true"), "ap-south's testimony not marked in %s",
		      L.log);
	free(log);
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/* ---- a held R02 failover, resumed ------------------------------------------------------ */

/* Waits until drorchd's status shows every site answering (no role
 * "down"); false on timeout. */
static bool wait_all_sites_up(long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		json_t *sites = json_object_get(st, "sites");
		bool ok = json_array_size(sites) == NSITES;
		for (size_t i = 0; ok && i < json_array_size(sites); i++) {
			const char *role = json_string_value(json_object_get(json_array_get(sites, i),
									     "role"));
			ok = role && strcmp(role, "down") != 0;
		}
		json_decref(st);
		if (ok)
			return true;
		time_sleep_ms(50);
	}
	return false;
}

/* The step called name of run id (new ref), or NULL. */
static json_t *run_step(json_int_t id, const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/runs/%lld", (long long)id);
	json_t *run = tl_orch_get(&L, path), *found = NULL;
	json_t *steps = json_object_get(run, "steps");
	for (size_t i = 0; !found && i < json_array_size(steps); i++) {
		json_t *s = json_array_get(steps, i);
		if (!strcmp(json_string_value(json_object_get(s, "name")) ?: "", name))
			found = json_incref(s);
	}
	json_decref(run);
	return found;
}

/*
 * drchaos seeds 20047, 20051: a store that went back in time, sites at a
 * newer epoch with no primary there (R02), and an election that heard too
 * few sites (HELD).  An operator's resume gave the primary role to the
 * store's stale row primary at the held epoch, and the sites holding the
 * acknowledged writes were rewound to its shorter log.  The row's primary
 * is not believed: the resume must fail over again, electing from every
 * site, at a newer epoch.
 */
START_TEST(test_resumed_store_behind_failover_elects_again)
{
	tl_lab_up(&L, NULL);
	struct tl_writers ws;
	tl_writers_start(&L, &ws);
	time_sleep_ms(300);
	/* An operator's failover (epoch 2) to the newest log, P (a target could
	 * be refused: under writes the other replica may be ahead of it). */
	ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", NULL), 202);
	json_t *st = NULL;
	uint64_t deadline = time_mono_ms() + 20000;
	while (time_mono_ms() < deadline && !st) {
		st = tl_wait_cluster(&L, "STEADY", NULL, "us-east", 500);
		if (st && !tl_all_in_role(st, json_string_value(json_object_get(st, "primary")))) {
			json_decref(st);
			st = NULL;
		}
	}
	ck_assert_msg(st, "the failover did not finish; see %s", L.log);
	struct th_site *P = (struct th_site *)tl_site_named(
		&L, json_string_value(json_object_get(st, "primary")));
	json_decref(st);
	/* us-east stops: P's writes are acknowledged through the other replica
	 * alone (sync, quorum 1), so us-east lacks them. */
	ck_assert_int_eq(kill(L.site[0].pid, SIGSTOP), 0);
	time_sleep_ms(1000);
	ck_assert_int_gt(tl_writers_stop(&ws), 20);
	/* drorchd's store loses its WAL while drorchd is down (its row goes back
	 * to us-east, before epoch 2), and P dies. */
	lose_store_wal();
	th_kill(P->pid, SIGKILL, 5000);
	ck_assert_int_eq(kill(L.site[0].pid, SIGCONT), 0);
	/* No site is primary at the sites' epoch: R02 fails over at a newer one,
	 * believing no old primary.  us-east stops again once fenced, so the
	 * election hears one site and refuses: HELD. */
	setenv("DRORCH_TEST_STEP_MS", "2000", 1);  /* each step of a run waits 2 s */
	tl_start_orch(&L, NULL);
	unsetenv("DRORCH_TEST_STEP_MS");
	st = tl_wait_cluster(&L, "ELECTING", NULL, NULL, 15000);
	ck_assert_msg(st, "no R02 election; see %s", L.log);
	json_decref(st);
	ck_assert_int_eq(kill(L.site[0].pid, SIGSTOP), 0);
	st = tl_wait_cluster(&L, "HELD", NULL, NULL, 15000);
	ck_assert_msg(st, "the R02 election was not held; see %s", L.log);
	long long held_epoch = json_integer_value(json_object_get(st, "epoch"));
	json_decref(st);
	ck_assert_int_ge(held_epoch, 3);
	size_t len;
	char *log = th_read_file(L.log, &len);
	ck_assert_msg(log && strstr(log, "too few sites answered"), "no refusal in %s", L.log);
	free(log);
	/* (the failover: drorchd may also record, as a run of its own, the
	 * rewind of us-east that the lost history had recorded) */
	json_t *held = tl_newest_run_of(&L, "failover");
	ck_assert_str_eq(json_string_value(json_object_get(held, "outcome")) ?: "", "held");
	ck_assert_msg(json_is_null(json_object_get(held, "from_site")),
		      "the R02 run believed an old primary");
	json_int_t held_run = json_integer_value(json_object_get(held, "id"));
	json_decref(held);
	/* Every site back, then an operator resumes. */
	ck_assert_int_eq(kill(L.site[0].pid, SIGCONT), 0);
	ck_assert_msg(th_site_start(P, NULL), "%s did not restart; see %s", P->name, P->log);
	ck_assert_msg(wait_all_sites_up(10000), "drorchd does not hear every site; see %s", L.log);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/resume", NULL), 202);
	/* The stale row's primary gets no role: R02 runs again, at a newer
	 * epoch, and elects with every site heard. */
	char primary[32] = "";
	long long epoch = 0;
	deadline = time_mono_ms() + 30000;
	while (time_mono_ms() < deadline && !primary[0]) {
		st = tl_wait_cluster(&L, NULL, NULL, NULL, 500);
		const char *p = json_string_value(json_object_get(st, "primary"));
		epoch = json_integer_value(json_object_get(st, "epoch"));
		if (st && epoch > held_epoch && tl_all_in_role(st, p))
			snprintf(primary, sizeof(primary), "%s", p);
		json_decref(st);
	}
	char rows[4096];
	tl_rows(&L, rows, sizeof(rows));
	ck_assert_msg(primary[0], "no election after the resume (epoch %lld, rows %s); see %s",
		      epoch, rows, L.log);
	const char *resumed = strstr(rows, "O03@HELD");
	ck_assert_msg(resumed && strstr(resumed, "R02@"), "no R02 after the resume: %s", rows);
	json_t *run = tl_newest_run_of(&L, "failover");
	ck_assert_int_gt(json_integer_value(json_object_get(run, "id")), held_run);
	ck_assert_int_gt(json_integer_value(json_object_get(run, "epoch")), held_epoch);
	json_t *elect = run_step(json_integer_value(json_object_get(run, "id")), "elect");
	json_decref(run);
	json_t *ed = json_object_get(elect, "detail");
	ck_assert_msg(elect && !strcmp(json_string_value(json_object_get(elect, "status")) ?: "", "ok") &&
		      !strcmp(json_string_value(json_object_get(ed, "candidate")) ?: "", primary) &&
		      json_integer_value(json_object_get(ed, "sites_heard")) == NSITES,
		      "%s became primary without an election of every site; see %s", primary, L.log);
	json_decref(elect);
	tl_writers_check_on(&ws, tl_site_named(&L, primary));
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/*
 * drchaos seed 98904 (async): a rewind recorded in a store that then lost
 * its history is seen again, in the site's last_rewind, by a store whose
 * only failover came after it.  That failover did not lose the records:
 * the rewind gets a run of its own that counts them, and the failover's
 * RPO is not raised by them.
 */
START_TEST(test_rewind_seen_again_after_lost_history_is_its_own_run)
{
	tl_lab_free(&L);
	tl_lab_init(&L, "check_orchfaults", NSITES, OP_TOKEN,
		    "name: async\nreplication: {mode: async}\nrpo: {max_ms: 60000}\n"
		    "failover: {anti_flap_s: 0}\n");
	L.peers = true;
	const char *faults[] = { "--enable-faults", NULL };
	tl_lab_up(&L, faults);
	/* us-east acknowledges what no replica gets, dies, is failed over
	 * (epoch 2) and, back, rewound: its records go to a quarantine file. */
	const char *drop = "{\"drop_replication\":true}";
	ck_assert_int_eq(th_site_req(&L.site[0], "POST", "/v1/admin/faults", true, drop,
				     strlen(drop), NULL, NULL), 200);
	time_sleep_ms(300);  /* fetches in flight are over */
	put_range(&L.site[0], "lost-", 5);
	time_sleep_ms(300);  /* drorchd's monitor sees the primary's last LSN */
	th_kill(L.site[0].pid, SIGKILL, 5000);
	const char *moved = tl_wait_failover_from(&L, L.names[0], 20000);
	ck_assert_msg(moved, "no failover; see %s", L.log);
	ck_assert(th_site_start(&L.site[0], NULL));
	json_t *st = tl_wait_cluster(&L, "STEADY", moved, NULL, 20000);
	ck_assert_msg(st && tl_all_in_role(st, moved), "us-east was not rewound; see %s", L.log);
	json_decref(st);
	long long records = th_site_status_int(&L.site[0], "last_rewind", "records");
	ck_assert_int_ge(records, 5);
	/* The store loses its history while the primary and us-east are
	 * stopped: no site is primary at the sites' epoch, so the new store's
	 * first run is an R02 failover (epoch 3) to the third site. */
	struct th_site *P = (struct th_site *)tl_site_named(&L, moved);
	lose_store_wal();
	ck_assert_int_eq(kill(P->pid, SIGSTOP), 0);
	ck_assert_int_eq(kill(L.site[0].pid, SIGSTOP), 0);
	tl_start_orch(&L, NULL);
	json_t *run = tl_ended_run(&L, 20000);
	ck_assert_int_eq(kill(L.site[0].pid, SIGCONT), 0);
	ck_assert_int_eq(kill(P->pid, SIGCONT), 0);
	ck_assert_msg(run, "no R02 failover; see %s", L.log);
	ck_assert_str_eq(json_string_value(json_object_get(run, "kind")), "failover");
	json_int_t r02 = json_integer_value(json_object_get(run, "id"));
	ck_assert_int_ge(json_integer_value(json_object_get(run, "epoch")), 3);
	json_decref(run);
	/* us-east answers again with its last_rewind: a rewind run counts it
	 * (its RPO is set when it ends, just after it begins). */
	json_t *rewind = NULL;
	for (uint64_t end = time_mono_ms() + 15000; !rewind && time_mono_ms() < end;) {
		rewind = tl_newest_run_of(&L, "rewind");
		if (!strcmp(json_string_value(json_object_get(rewind, "outcome")) ?: "running",
			    "running")) {
			json_decref(rewind);
			rewind = NULL;
			time_sleep_ms(100);
		}
	}
	ck_assert_msg(rewind, "the rewind seen again is in no ended run of its own; see %s", L.log);
	ck_assert_str_eq(json_string_value(json_object_get(rewind, "from_site")) ?: "", "us-east");
	ck_assert_int_eq(json_integer_value(json_object_get(rewind, "rpo_records")), records);
	json_decref(rewind);
	ck_assert_ptr_null(run_step(r02, "rewind"));
	ck_assert_int_eq(tl_verify_audit(&L), 0);
}
END_TEST

/* ---- a full disk on the primary ---------------------------------------------------------- */

START_TEST(test_full_disk_on_the_primary_fails_over)
{
	const char *faults[] = { "--enable-faults", NULL };
	tl_lab_up(&L, faults);
	struct tl_writers ws;
	tl_writers_start(&L, &ws);
	time_sleep_ms(300);
	const char *full = "{\"disk_full\":true}";
	ck_assert_int_eq(th_site_req(&L.site[0], "POST", "/v1/admin/faults", true, full,
				     strlen(full), NULL, NULL), 200);
	const char *moved = tl_wait_failover_from(&L, L.names[0], 20000);
	ck_assert_msg(moved, "a primary that cannot write stayed primary; see %s", L.log);
	time_sleep_ms(300);
	ck_assert_int_gt(tl_writers_stop(&ws), 20);
	tl_writers_check_on(&ws, tl_site_named(&L, moved));
}
END_TEST

/* ---- operator commands in every state ------------------------------------------------- */

struct op {
	const char *name, *path, *body, *event;
};

static const struct op ops[] = {
	{ "failover", "/v1/failover", NULL, "OP_FAILOVER" },
	{ "switchover", "/v1/switchover", "{\"to\":\"eu-west\"}", "OP_SWITCHOVER" },
	{ "failback", "/v1/failback", NULL, "OP_SWITCHOVER" },
	{ "pause", "/v1/pause", NULL, "OP_PAUSE" },
	{ "resume", "/v1/resume", NULL, "OP_RESUME" },
};

/* The first row of (state, event) in GET /v1/fsm (new ref). */
static json_t *table_row(json_t *fsm, const char *state, const char *event)
{
	json_t *rows = json_object_get(fsm, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *r = json_array_get(rows, i);
		if (!strcmp(json_string_value(json_object_get(r, "from")), state) &&
		    !strcmp(json_string_value(json_object_get(r, "event")), event))
			return json_incref(r);
	}
	return NULL;
}

static int transitions_count(void)
{
	json_t *tr = tl_orch_get(&L, "/v1/transitions");
	int n = (int)json_array_size(json_object_get(tr, "transitions"));
	json_decref(tr);
	return n;
}

/* Every command the table refuses in `state` answers 409 with the row's
 * reason in a JSON error, and changes neither state, epoch nor audit. */
static void refusals_hold(const char *state)
{
	json_t *fsm = tl_orch_get(&L, "/v1/fsm");
	ck_assert_ptr_nonnull(fsm);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		json_t *row = table_row(fsm, state, ops[i].event);
		ck_assert_ptr_nonnull(row);
		const char *kind = json_string_value(json_object_get(row, "kind"));
		if (!strcmp(kind, "transition")) {
			json_decref(row);
			continue;
		}
		long long epoch = tl_status_epoch(&L);
		int before = transitions_count();
		char url[256], *out = NULL;
		snprintf(url, sizeof(url), "%s%s", L.url, ops[i].path);
		long code = th_http("POST", url, OP_TOKEN, ops[i].body,
				    ops[i].body ? strlen(ops[i].body) : 0, &out, NULL);
		json_t *err = out ? json_loads(out, 0, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(err, "error"));
		const char *reason = json_string_value(json_object_get(row, "reason"));
		ck_assert_msg(code == 409 && msg && strstr(msg, reason),
			      "%s in %s: %ld %s (the table says: %s)", ops[i].name, state, code,
			      out ? out : "", reason);
		json_t *st = tl_wait_cluster(&L, state, NULL, NULL, 1000);
		ck_assert_msg(st, "%s in %s moved the machine", ops[i].name, state);
		json_decref(st);
		ck_assert_int_eq(tl_status_epoch(&L), epoch);
		ck_assert_int_eq(transitions_count(), before);
		json_decref(err);
		free(out);
		json_decref(row);
	}
	json_decref(fsm);
}

/* Waits until drorchd's status shows site name in role; false on timeout. */
static bool wait_site_role(const char *name, const char *role, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		json_t *sites = json_object_get(st, "sites");
		bool ok = false;
		for (size_t i = 0; i < json_array_size(sites); i++) {
			json_t *s = json_array_get(sites, i);
			ok = ok || (!strcmp(json_string_value(json_object_get(s, "name")), name) &&
				    !strcmp(json_string_value(json_object_get(s, "role")), role));
		}
		json_decref(st);
		if (ok)
			return true;
		time_sleep_ms(50);
	}
	return false;
}

START_TEST(test_operator_commands_in_every_resting_state)
{
	tl_lab_up(&L, NULL);
	refusals_hold("STEADY");
	/* Bad targets are refused before anything moves. */
	long long epoch = tl_status_epoch(&L);
	char url[256], *out = NULL;
	snprintf(url, sizeof(url), "%s/v1/failover", L.url);
	const char *to_primary = "{\"to\":\"us-east\"}";
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, to_primary, strlen(to_primary), &out,
				 NULL), 409);
	ck_assert_msg(strstr(out, "already the primary"), "%s", out);
	free(out);
	th_kill(L.site[2].pid, SIGKILL, 5000);
	ck_assert_msg(wait_site_role("ap-south", "down", 5000), "ap-south not seen down");
	const char *to_down = "{\"to\":\"ap-south\"}";
	out = NULL;
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, to_down, strlen(to_down), &out, NULL), 409);
	ck_assert_msg(strstr(out, "does not answer"), "%s", out);
	free(out);
	ck_assert_int_eq(tl_status_epoch(&L), epoch);
	json_t *st = tl_wait_cluster(&L, "DEGRADED", NULL, NULL, 10000);
	ck_assert_msg(st, "no DEGRADED with a replica down; see %s", L.log);
	json_decref(st);
	refusals_hold("DEGRADED");
	ck_assert_int_eq(tl_orch_post(&L, "/v1/pause", NULL), 202);
	st = tl_wait_cluster(&L, "PAUSED", NULL, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	refusals_hold("PAUSED");
	/* A policy nobody could satisfy is refused, and changes nothing. */
	snprintf(url, sizeof(url), "%s/v1/policy", L.url);
	const char *impossible = "replication: {mode: sync, quorum: 3}\n";
	out = NULL;
	ck_assert_int_eq(th_http("PUT", url, OP_TOKEN, impossible, strlen(impossible), &out, NULL),
			 400);
	ck_assert_msg(strstr(out, "quorum"), "%s", out);
	free(out);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/resume", NULL), 202);
	/* Both replicas gone, an operator's failover finds no candidate: HELD. */
	th_kill(L.site[1].pid, SIGKILL, 5000);
	st = tl_wait_cluster(&L, "DEGRADED", NULL, NULL, 10000);
	json_decref(st);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", NULL), 202);
	st = tl_wait_cluster(&L, "HELD", NULL, NULL, 20000);
	ck_assert_msg(st, "no HELD without a candidate; see %s", L.log);
	json_decref(st);
	refusals_hold("HELD");
	ck_assert_int_eq(tl_orch_post(&L, "/v1/resume", NULL), 202);
	st = tl_wait_cluster(&L, NULL, "us-east", NULL, 10000);
	ck_assert_msg(st, "resume did not bring the primary back; see %s", L.log);
	json_decref(st);
	ck_assert_int_eq(th_site_put(&L.site[0], "after-held"), 503);  /* sync, no replica */
}
END_TEST

START_TEST(test_operator_commands_during_a_recovery)
{
	setenv("DRORCH_TEST_STEP_MS", "2500", 1);  /* each failover step waits 2.5 s */
	tl_lab_up(&L, NULL);
	unsetenv("DRORCH_TEST_STEP_MS");
	json_t *st;
	ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", "{\"to\":\"eu-west\"}"), 202);
	st = tl_wait_cluster(&L, "FENCING", NULL, NULL, 5000);
	ck_assert_msg(st, "no FENCING; see %s", L.log);
	json_decref(st);
	refusals_hold("FENCING");
	char url[256], *out = NULL;
	snprintf(url, sizeof(url), "%s/v1/policy", L.url);
	const char *policy = "name: other\n";
	ck_assert_int_eq(th_http("PUT", url, OP_TOKEN, policy, strlen(policy), &out, NULL), 409);
	ck_assert_msg(strstr(out, "recovery"), "%s", out);
	free(out);
	st = tl_wait_cluster(&L, "STEADY", "eu-west", NULL, 30000);
	ck_assert_msg(st, "the failover did not finish; see %s", L.log);
	json_decref(st);
}
END_TEST

static Suite *orchfaults_suite(void)
{
	Suite *s = suite_create("orchfaults");
	TCase *tc = th_tcase(s, "damage", 0, 120, setup, teardown);
	tcase_add_test(tc, test_damaged_primary_log_fails_over_without_rewinding_replicas);
	tcase_add_test(tc, test_store_that_lost_its_wal_adopts_the_sites_epoch);
	tcase_add_test(tc, test_sync_election_waits_for_the_sites_that_may_hold_acked_writes);
	tcase_add_test(tc, test_replica_that_lost_records_testifies_to_nothing);
	tcase_add_test(tc, test_full_disk_on_the_primary_fails_over);
	tc = th_tcase(s, "operators", 0, 120, setup, teardown);
	tcase_add_test(tc, test_resumed_store_behind_failover_elects_again);
	tcase_add_test(tc, test_rewind_seen_again_after_lost_history_is_its_own_run);
	tc = th_tcase(s, "operators-resting", 0, 120, setup, teardown);
	tcase_add_test(tc, test_operator_commands_in_every_resting_state);
	tc = th_tcase(s, "operators-recovery", 0, 120, setup, teardown);
	tcase_add_test(tc, test_operator_commands_during_a_recovery);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), the four run at once, each in
 * its own labs. */
int main(void)
{
	Suite *s = orchfaults_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
