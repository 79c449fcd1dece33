/*
 * check_lifecycle.c — crash-resume at every step of every lifecycle.
 *
 * For each lifecycle (a failover after kill -9 of the primary, an
 * operator's failover, a switchover, a failback, an upgrade and its
 * rollback, a rejoin, a failure held in the anti-flapping window and then
 * failed over by an operator or acknowledged and resumed, a switchover
 * whose target cannot catch up, aborted) a reference pass records
 * the transitions it takes, and the test checks that path against the
 * generated table: each row a transition of fsm_rows, chained from a
 * resting state back to one, the run opened by one row (opens_run) and
 * ended by another (ends_run: the lifecycle's outcome).  Then, for every
 * row of that path, the lifecycle runs again under write load with drorchd
 * set to SIGKILL itself right after committing that row
 * (DRORCH_TEST_CRASH_FILE), drorchd is restarted, and the run must end
 * right exactly once: one new run of the lifecycle's kind, with its
 * outcome, whose transitions chain through the table with no step taken
 * twice; one epoch bump (one promotion) when it succeeds, none when it
 * aborts; every acknowledged write on the primary it leaves; the audit
 * chain intact.
 *
 * The crash points come from the table and the reference pass, not from a
 * hand list: a row added to a lifecycle is walked without editing this file.
 * The failure rows (timeouts, failed and refused steps, holds, a store
 * behind the sites, misses that end no run) have lifecycles of their own,
 * each walked only for the rows it is for; after all the walks, every
 * transition row of the table must have been crashed after (check_coverage).
 *
 * Upgrades swap real binaries: their labs start on drsite-0.1.0 and the
 * upgrade restarts each site on drsite (0.2.0), a rollback back on
 * drsite-0.1.0; a finalized upgrade cannot be undone, so each of its
 * passes runs in a fresh lab.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format.h"
#include "fsm.h"
#include "testlab.h"
#include "timeutil.h"

#define OP_TOKEN "operator-token-for-lifecycle"
#define MAX_PATH_ROWS 32

static struct tl_lab L;
static char crash_file[700], abandon_file[700];
static char link_admin[80];  /* LC_LINK_ONLY's drlink: drorchd reaches site S by link orch-S */
static bool crash_taken;  /* the crash of this pass happened in lifecycle_start */

enum lifecycle {
	LC_FAILOVER, LC_OPERATOR, LC_SWITCHOVER, LC_FAILBACK, LC_UPGRADE, LC_ROLLBACK,
	LC_RESUMED, LC_HELD, LC_REJOIN, LC_ABORTED, LC_NO_CANDIDATE, LC_NO_FIRST_WRITE,
	LC_FENCE_FAILED, LC_FENCE_TIMEOUT, LC_ELECT_TIMEOUT, LC_REDIRECT_TIMEOUT,
	LC_UPGRADE_HELD, LC_UPGRADE_REDIRECT, LC_REGRESSED, LC_HELD_REGRESSED,
	LC_BLIP, LC_CONFIRM_TIMEOUT, LC_CONFIRM_FAILED, LC_UPGRADE_REGRESSED, LC_UPGRADE_MISSED,
	LC_UPGRADE_MISSED_HELD, LC_REJOIN_TIMEOUT, LC_LINK_ONLY, LC_REPLICA_LOST, LC_PAUSE,
	LC_STORE_BEHIND,
	LC_COUNT  /* index % 3 is the part: each about as long */
};

/* Upgrades are real: the sites start on drsite-0.1.0 (OLD) and an upgrade
 * restarts them on drsite (NEW, DRSITE_VERSION).  A finalized upgrade
 * cannot be undone, so each pass of LC_UPGRADE gets a fresh lab at OLD. */
#define OLD "0.1.0"
#define NEW DRSITE_VERSION

static const struct {
	const char *name;
	const char *kind;	/* the run it opens */
	const char *outcome;	/* how the run ends: succeeded (a new primary, one
				 * epoch bump), failed (the same primary and epoch)
				 * or held (the old primary fenced at a new epoch,
				 * nobody promoted by the run) */
	bool stays;		/* the primary stays (else it moves) */
	bool awaits;		/* the machine ends awaiting an operator (HELD) */
	const char *then;	/* a row after the run, outside it, that ends the
				 * lifecycle (R01: the sites' primary adopted) */
	const char *abandon;	/* the states whose action's result drorchd drops
				 * until the run has ended (DRORCH_TEST_ABANDON_FILE,
				 * as a leader that lost its term): they time out */
	const char *timeouts;	/* DRORCH_TEST_TIMEOUT_MS: those timeouts shortened */
	bool same_epoch;	/* no epoch bump (else one: a promotion, or the
				 * fence of a run held after it) */
	bool by_hand;		/* nobody installs binaries (no swap agent) */
	/* An upgrade's: its lab starts with every site on drsite-0.1.0 at FCV
	 * 0.1.0, and it leaves each on this version at this FCV. */
	const char *version, *fcv;
	/* The rows of its path it is walked for (crash points there only; ids
	 * before '@', separated by spaces): its other rows are another
	 * lifecycle's, walked there.  NULL: every row of its path. */
	const char *walks;
	/* A miss that opens no run (stall_once): every site stopped until row
	 * resume_on is committed; the lifecycle ends with row ends_with. */
	const char *resume_on, *ends_with;
	/* A second run that follows the first (its kind), to succeed: an upgrade
	 * stopped by a failing primary, then detection's failover. */
	const char *then_run;
} lifecycles[LC_COUNT] = {
	[LC_FAILOVER] = { "failover after kill -9 of the primary", "failover", "succeeded" },
	[LC_OPERATOR] = { "operator failover", "failover", "succeeded" },
	[LC_SWITCHOVER] = { "switchover", "switchover", "succeeded" },
	[LC_FAILBACK] = { "failback", "failback", "succeeded" },
	[LC_UPGRADE] = { "rolling upgrade, finalized", "upgrade", "succeeded",
			 .version = NEW, .fcv = NEW },
	[LC_ROLLBACK] = { "rollback of an upgrade", "upgrade", "succeeded",
			  .version = OLD, .fcv = OLD },
	[LC_REJOIN] = { "rejoin of a diverged old primary", NULL, NULL },  /* no run */
	[LC_HELD] = { "a failure inside the anti-flapping window, held, then an operator's failover",
		      "failover", "succeeded" },
	[LC_RESUMED] = { "a failure inside the anti-flapping window, held, acknowledged and resumed",
			 "failover", "succeeded" },
	[LC_ABORTED] = { "switchover aborted: its target cannot catch up", "switchover",
			 "failed", .stays = true, .same_epoch = true },
	[LC_NO_CANDIDATE] = { "operator failover to a site that dies: no candidate, held", "failover",
			      "held", .stays = true, .awaits = true, .walks = "F04" },
	[LC_NO_FIRST_WRITE] = { "failover whose new primary takes no write: promotion timed out, "
				"held, the promoted site adopted", "failover", "held",
				.then = "R01", .timeouts = "PROMOTING=1500",
				.walks = "F07 R01" },
	[LC_FENCE_FAILED] = { "operator failover with every site down: fencing failed, held",
			      "failover", "held", .stays = true, .awaits = true, .walks = "F11" },
	[LC_FENCE_TIMEOUT] = { "operator failover whose fencing never reports: timed out, held",
			       "failover", "held", .stays = true, .awaits = true,
			       .abandon = "FENCING", .timeouts = "FENCING=1000", .walks = "F02" },
	[LC_ELECT_TIMEOUT] = { "operator failover whose election never reports: timed out, held",
			       "failover", "held", .stays = true, .awaits = true,
			       .abandon = "ELECTING", .timeouts = "ELECTING=1000", .walks = "F05" },
	[LC_REDIRECT_TIMEOUT] = { "operator failover whose redirection never reports: timed out, "
				  "degraded", "failover", "succeeded", .abandon = "REDIRECTING",
				  .timeouts = "REDIRECTING=1000", .walks = "F10" },
	[LC_UPGRADE_HELD] = { "upgrade whose first site is never swapped: timed out, held",
			      "upgrade", "held", .stays = true, .awaits = true,
			      .timeouts = "UPGRADING=1500", .same_epoch = true, .by_hand = true,
			      .version = OLD, .fcv = OLD, .walks = "U09" },
	[LC_UPGRADE_REDIRECT] = { "upgrade whose switchover's redirection never reports: timed "
				  "out, the upgrade goes on", "upgrade", "succeeded",
				  .abandon = "REDIRECTING", .timeouts = "REDIRECTING=1000",
				  .version = NEW, .fcv = OLD, .walks = "U06" },
	[LC_REGRESSED] = { "primary restarted on a damaged log: failover to the most advanced "
			   "replica", "failover", "succeeded", .walks = "D10" },
	[LC_HELD_REGRESSED] = { "a damaged log inside the anti-flapping window, held, then an "
				"operator's failover", "failover", "succeeded", .walks = "D11" },
	[LC_BLIP] = { "every site stalled, back while drorchd confirms: a transient miss", NULL,
		      NULL, .stays = true, .same_epoch = true, .resume_on = "D01",
		      .ends_with = "D03", .walks = "D03" },
	/* The next two: back while drorchd confirms, its confirmation's result
	 * dropped or failed (as by a lost store write) */
	[LC_CONFIRM_TIMEOUT] = { "every site stalled, a confirmation that never reports: timed out",
				 NULL, NULL, .stays = true, .same_epoch = true,
				 .resume_on = "D01", .ends_with = "D06", .walks = "D06",
				 .abandon = "SUSPECT", .timeouts = "SUSPECT=1000" },
	[LC_CONFIRM_FAILED] = { "every site stalled, a confirmation that fails", NULL, NULL,
				.stays = true, .same_epoch = true, .resume_on = "D01",
				.ends_with = "F14", .walks = "F14", .abandon = "SUSPECT=fail" },
	[LC_UPGRADE_REGRESSED] = { "an upgrade's primary restarted on a damaged log: held",
				   "upgrade", "held", .stays = true, .awaits = true,
				   .same_epoch = true, .by_hand = true, .version = OLD,
				   .fcv = OLD, .walks = "U12" },
	[LC_UPGRADE_MISSED] = { "an upgrade's primary killed: the upgrade fails, detection fails "
				"it over", "upgrade", "failed", .by_hand = true, .version = OLD,
				.fcv = OLD, .then_run = "failover", .walks = "U10" },
	[LC_UPGRADE_MISSED_HELD] = { "an upgrade's primary killed inside the anti-flapping window: "
				     "held", "upgrade", "held", .stays = true, .awaits = true,
				     .same_epoch = true, .by_hand = true, .version = OLD,
				     .fcv = OLD, .walks = "U11" },
	[LC_REJOIN_TIMEOUT] = { "rejoin of a diverged old primary whose rewind is slow: timed out, "
				"then rejoined", NULL, NULL, .timeouts = "REJOINING=1000", .walks = "J03" },
	/* Its crash after D01 is other lifecycles' (a drorchd restarted while
	 * cut from the primary never heard it take writes: no LINK_ONLY). */
	[LC_LINK_ONLY] = { "drorchd cut from every site, then from the primary alone: its "
			   "replicas still hear it", NULL, NULL, .stays = true, .same_epoch = true,
			   .resume_on = "D04", .ends_with = "D04", .walks = "D04" },
	[LC_REPLICA_LOST] = { "a replica killed, then back: degraded, then healthy", NULL, NULL,
			      .stays = true, .same_epoch = true, .resume_on = "H01",
			      .ends_with = "H02" },
	[LC_PAUSE] = { "an operator's pause, then resume", NULL, NULL, .stays = true,
		       .same_epoch = true, .resume_on = "O02", .ends_with = "O03", .walks = "O02" },
	[LC_STORE_BEHIND] = { "drorchd's store restored from before a failover whose primary "
			      "then died: a failover at a newer epoch", "failover", "succeeded",
			      .walks = "R02" },
};

/* LC_HELD's and LC_RESUMED's policy: a failover inside the last 10
 * minutes holds the next. */
#define HELD_POLICY "name: test\nfailover: {anti_flap_s: 600}\ndetection: {canary_ms: 500}\n"

/* LC_ABORTED's: a switchover pauses the primary's writes 1 s at most; its
 * target's fsyncs take 20 s (a fault), so it cannot catch up. */
#define ABORT_POLICY "name: test\nfailover: {anti_flap_s: 0}\ndetection: {canary_ms: 500}\n" \
	"switchover: {max_pause_ms: 1s}\n"
#define ABORT_FSYNC "{\"slow_fsync_ms\":20000}"

/* LC_NO_FIRST_WRITE's: its replicas' writes stall, a canary with them,
 * until the test releases it once the run has ended (HELD, then R01): a
 * detection window of 1 s and a 10 s canary keep that short stall from
 * being taken for a failing primary. */
#define STALL_POLICY "name: test\nfailover: {anti_flap_s: 0}\n" \
	"detection: {heartbeat_ms: 100ms, misses: 10, canary_ms: 10s}\n"

/* LC_REGRESSED's: a 1 s detection window, so that the primary's restart
 * (on its damaged log) is seen as a regression, not as a primary missed;
 * stall_once's, so that the sites continue well inside it. */
#define WIDE_POLICY "name: test\nfailover: {anti_flap_s: 0}\n" \
	"detection: {heartbeat_ms: 100ms, misses: 10, canary_ms: 500}\n"
/* LC_HELD_REGRESSED's: the same inside a 10-minute anti-flapping window. */
#define HELD_REGRESS_POLICY "name: test\nfailover: {anti_flap_s: 600}\n" \
	"detection: {heartbeat_ms: 100ms, misses: 10, canary_ms: 500}\n"

/* The drsite arguments of labs whose faults are injected (LC_REJOIN, LC_ABORTED). */
static const char *const site_faults[] = { "--enable-faults", NULL };


static void setup(void)
{
	tl_lab_init(&L, "check_lifecycle", 3, OP_TOKEN,
		    "name: test\nfailover: {anti_flap_s: 0}\ndetection: {canary_ms: 500}\n");
	L.peers = true;
	snprintf(crash_file, sizeof(crash_file), "%s/crash-at", L.root);
	snprintf(abandon_file, sizeof(abandon_file), "%s/abandon", L.root);
	setenv("DRORCH_TEST_CRASH_FILE", crash_file, 1);
	setenv("DRORCH_TEST_ABANDON_FILE", abandon_file, 1);
}

static void teardown(void)
{
	unsetenv("DRORCH_TEST_CRASH_FILE");
	unsetenv("DRORCH_TEST_ABANDON_FILE");
	unsetenv("DRORCH_TEST_TIMEOUT_MS");
	unsetenv("DRORCH_TEST_STEP_MS");
	tl_lab_free(&L);
}

/* ---- the audit, read from drorchd's store --------------------------------- */

struct transition {
	long long seq, run_id;
	char row[64];
	const struct fsm_row *r;
};

/* Transitions with seq > since, oldest first; how many (at most cap). */
static int transitions_since(long long since, struct transition *out, int cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int n = 0;
	ck_assert_int_eq(sqlite3_open_v2(L.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT seq, coalesce(run_id, 0), row_id FROM "
					    "transitions WHERE seq > ?1 ORDER BY seq", -1, &q,
					    NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, since);
	while (n < cap && sqlite3_step(q) == SQLITE_ROW) {
		out[n].seq = sqlite3_column_int64(q, 0);
		out[n].run_id = sqlite3_column_int64(q, 1);
		snprintf(out[n].row, sizeof(out[n].row), "%s",
			 (const char *)sqlite3_column_text(q, 2) ?: "");
		out[n].r = fsm_row_by_id(out[n].row);
		n++;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/* The newest transition's seq (0: none). */
static long long last_seq(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	long long seq = 0;
	ck_assert_int_eq(sqlite3_open_v2(L.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM transitions", -1,
					    &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		seq = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return seq;
}

static void describe(const struct transition *t, int n, char *out, size_t len)
{
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s(run %lld) ", t[i].row, t[i].run_id);
}

/* ---- the lifecycles --------------------------------------------------------- */

static json_t *status(void)
{
	json_t *st = tl_orch_get(&L, "/v1/status");
	ck_assert_msg(st, "drorchd does not answer; see %s", L.log);
	return st;
}

static long long newest_run_id(void)
{
	json_t *r = tl_newest_run(&L);
	long long id = json_integer_value(json_object_get(r, "id"));
	json_decref(r);
	return id;
}

/* The primary now (into out). */
static void current_primary(char *out, size_t len)
{
	json_t *st = status();
	snprintf(out, len, "%s", json_string_value(json_object_get(st, "primary")) ?: "");
	json_decref(st);
}

static bool in_state(const char *state)
{
	json_t *st = tl_orch_get(&L, "/v1/status");
	bool in = st && !strcmp(json_string_value(json_object_get(st, "state")) ?: "", state);
	json_decref(st);
	return in;
}

/* Waits until the machine rests (steady: in STEADY, where an upgrade may
 * start) with every site in its role under primary. */
static bool wait_all_follow(const char *primary, bool steady, long timeout_ms)
{
	for (uint64_t end = time_mono_ms() + (uint64_t)timeout_ms; time_mono_ms() < end;
	     time_sleep_ms(100)) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		bool ok = st && json_is_true(json_object_get(st, "resting")) &&
			  tl_all_in_role(st, primary) &&
			  (!steady || !strcmp(json_string_value(json_object_get(st, "state")) ?: "",
					      "STEADY"));
		json_decref(st);
		if (ok)
			return true;
	}
	return false;
}

static struct th_site *site_named(const char *name)
{
	for (int i = 0; i < L.nsites; i++)
		if (!strcmp(L.names[i], name))
			return &L.site[i];
	ck_abort_msg("no site %s", name);
	return NULL;
}

static long post_fault(struct th_site *s, const char *body)
{
	return th_site_req(s, "POST", "/v1/admin/faults", true, body, strlen(body), NULL, NULL);
}

/* A switchover's target: the first site that is not `from`. */
static struct th_site *target_of(const char *from)
{
	for (int i = 0; i < L.nsites; i++)
		if (strcmp(L.names[i], from))
			return &L.site[i];
	ck_abort_msg("no site besides %s", from);
	return NULL;
}

/* An operator request's answer: 202, or, when drorchd is to crash on the
 * way (crashing), no answer at all (an upgrade's answer waits for its run
 * to open: U01 kills drorchd first). */
static void accepted(long status, bool crashing, const char *path)
{
	ck_assert_msg(status == 202 || (crashing && status == 0), "POST %s: %ld", path, status);
}

/* When drorchd has exited within wait_ms, which must be its crash point's
 * SIGKILL: spends the crash point, restarts drorchd and returns true. */
static bool restart_crashed(const char *what, long wait_ms)
{
	int st = th_wait_exit(L.orch, wait_ms);
	if (st < 0)
		return false;
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: drorchd exited otherwise; "
		      "see %s", what, L.log);
	unlink(crash_file);
	tl_start_orch(&L, NULL);
	return true;
}

/* The crash of this pass, when drorchd has taken it: restarted (the pass's
 * crash_taken) and true. */
static bool take_crash(const char *what)
{
	bool taken = restart_crashed(what, 1);
	crash_taken = crash_taken || taken;
	return taken;
}

/* An operator's request accepted is not yet taken: waits until the
 * machine has left the hold (or drorchd is gone, crashing after the row
 * that left it). */
static void wait_left_hold(void)
{
	for (uint64_t end = time_mono_ms() + 5000; time_mono_ms() < end; time_sleep_ms(20)) {
		json_t *st = tl_orch_get(&L, "/v1/status");
		bool left = !st || !json_is_true(json_object_get(st, "awaits_operator"));
		json_decref(st);
		if (left)
			return;
	}
}

/* The primary killed, its log's last third lost (records its replicas
 * hold), restarted at once: LC_REGRESSED's and LC_HELD_REGRESSED's fault. */
static void damaged_restart(const char *from)
{
	struct th_site *p = site_named(from);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(th_site_put(p, "before-the-damage"), 200);
	th_kill(p->pid, SIGKILL, 5000);
	ck_assert_int_gt(th_site_flip_wal(p, 2.0 / 3, 0x04), 4096);
	ck_assert_msg(th_site_start(p, NULL), "%s did not restart; see %s", from, p->log);
}

/*
 * LC_HELD's first half: kill -9 of the primary (LC_HELD_REGRESSED: its
 * restart on a damaged log) inside the anti-flapping window holds the machine (a resting state awaiting an operator, no run
 * opened); with a crash after that row, drorchd is restarted and must still
 * hold, nothing else done.  Then an operator's failover, accepted in HELD,
 * or (resume) the failover run acknowledged and automation resumed: the
 * machine rests again, detects the failure and fails over itself.
 */
static void held_then_failover(enum lifecycle lc, const char *from, const char *crash_row)
{
	bool resume = lc == LC_RESUMED;
	if (lc == LC_HELD_REGRESSED)  /* (the same, D11 instead of D02) */
		damaged_restart(from);
	else
		th_kill(site_named(from)->pid, SIGKILL, 5000);
	bool held = false;
	char last[128] = "no answer";
	for (uint64_t end = time_mono_ms() + 20000; !held && time_mono_ms() < end;
	     time_sleep_ms(50)) {
		if (crash_row && !crash_taken)
			take_crash("held");
		json_t *st = tl_orch_get(&L, "/v1/status");
		snprintf(last, sizeof(last), "%s", json_string_value(json_object_get(st, "state")) ?: "?");
		held = json_is_true(json_object_get(st, "awaits_operator")) &&
		       !strcmp(json_string_value(json_object_get(st, "primary")) ?: "", from);
		json_decref(st);
		/* Held, and the row that held it is the crash point: drorchd
		 * is about to kill itself; the hold must outlive the restart. */
		struct transition t[1];
		int n = held && crash_row && !crash_taken ? transitions_since(last_seq() - 1, t, 1) : 0;
		char tok[80];  /* its crash point: outside a run, "ID#1" (crash_spec) */
		snprintf(tok, sizeof(tok), "%.*s#1", n ? (int)strcspn(t[n - 1].row, "@") : 0,
			 n ? t[n - 1].row : "");
		if (n && !strcmp(crash_row, tok)) {
			for (uint64_t e2 = time_mono_ms() + 5000; !crash_taken && time_mono_ms() < e2; )
				take_crash("held");
			held = false;
		}
	}
	ck_assert_msg(held, "kill -9 of %s inside the anti-flapping window was not held (last %s); "
		      "see %s", from, last, L.log);
	if (resume) {
		char path[64];
		snprintf(path, sizeof(path), "/v1/runs/%lld/ack", newest_run_id());
		ck_assert_int_eq(tl_orch_post(&L, path, "{\"comment\":\"drill: known cause\"}"), 200);
		accepted(tl_orch_post(&L, "/v1/resume", NULL), crash_row && !crash_taken, "/v1/resume");
	} else {
		accepted(tl_orch_post(&L, "/v1/failover", NULL), crash_row && !crash_taken,
			 "/v1/failover");
	}
	wait_left_hold();
}

/* Starts lifecycle lc away from primary `from`. */
static void lifecycle_start(enum lifecycle lc, const char *from, const char *crash_row)
{
	bool crashing = crash_row != NULL;
	char body[128];
	switch (lc) {
	case LC_FAILOVER:
		th_kill(site_named(from)->pid, SIGKILL, 5000);
		return;
	case LC_HELD:
	case LC_RESUMED:
	case LC_HELD_REGRESSED:
		held_then_failover(lc, from, crash_row);
		return;
	case LC_OPERATOR:
		accepted(tl_orch_post(&L, "/v1/failover", NULL), crashing, "/v1/failover");
		return;
	case LC_ABORTED:  /* the target's next flush takes 20 s, a write after the fault */
		ck_assert_int_eq(post_fault(target_of(from), ABORT_FSYNC), 200);
		time_sleep_ms(100);
		/* fall through */
	case LC_SWITCHOVER:
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", target_of(from)->name);
		accepted(tl_orch_post(&L, "/v1/switchover", body), crashing, "/v1/switchover");
		return;
	case LC_FAILBACK:
		accepted(tl_orch_post(&L, "/v1/failback", NULL), crashing, "/v1/failback");
		return;
	case LC_NO_CANDIDATE:  /* the operator names a site that dies before it is fenced */
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", target_of(from)->name);
		accepted(tl_orch_post(&L, "/v1/failover", body), crashing, "/v1/failover");
		for (uint64_t end = time_mono_ms() + 10000;
		     !th_pid_gone(L.orch) && !in_state("FENCING") && time_mono_ms() < end; )
			time_sleep_ms(10);
		th_kill(target_of(from)->pid, SIGKILL, 5000);  /* (in FENCING's step pause) */
		return;
	case LC_FENCE_FAILED:  /* nobody to fence: the primary's lease may still hold */
		for (int i = L.nsites - 1; i >= 0; i--)
			th_kill(L.site[i].pid, SIGKILL, 5000);
		accepted(tl_orch_post(&L, "/v1/failover", NULL), crashing, "/v1/failover");
		return;
	case LC_FENCE_TIMEOUT:
	case LC_ELECT_TIMEOUT:
	case LC_REDIRECT_TIMEOUT:
		accepted(tl_orch_post(&L, "/v1/failover", NULL), crashing, "/v1/failover");
		return;
	case LC_REGRESSED:
		damaged_restart(from);
		return;
	case LC_NO_FIRST_WRITE:  /* whichever is elected takes no write (STALL_POLICY) */
		for (int i = 0; i < L.nsites; i++)
			if (strcmp(L.names[i], from))
				ck_assert_int_eq(post_fault(&L.site[i], "{\"stall_writes\":true}"), 200);
		accepted(tl_orch_post(&L, "/v1/failover", NULL), crashing, "/v1/failover");
		return;
	case LC_UPGRADE:  /* from drsite-0.1.0 to drsite; finalized */
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", NEW);
		accepted(tl_orch_post(&L, "/v1/upgrades", body), crashing, "/v1/upgrades");
		return;
	case LC_UPGRADE_HELD:
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", NEW);
		accepted(tl_orch_post(&L, "/v1/upgrades", body), crashing, "/v1/upgrades");
		return;
	case LC_UPGRADE_REDIRECT:
		snprintf(body, sizeof(body), "{\"to\":\"%s\",\"finalize\":false}", NEW);
		accepted(tl_orch_post(&L, "/v1/upgrades", body), crashing, "/v1/upgrades");
		return;
	case LC_UPGRADE_REGRESSED:  /* the upgrade waits for its first site: a fault at the primary */
	case LC_UPGRADE_MISSED:
	case LC_UPGRADE_MISSED_HELD:
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", NEW);
		accepted(tl_orch_post(&L, "/v1/upgrades", body), crashing, "/v1/upgrades");
		for (uint64_t end = time_mono_ms() + 10000;
		     !th_pid_gone(L.orch) && !in_state("UPGRADING") && time_mono_ms() < end; )
			time_sleep_ms(20);
		if (lc == LC_UPGRADE_REGRESSED)
			damaged_restart(from);
		else
			th_kill(site_named(from)->pid, SIGKILL, 5000);
		return;
	case LC_ROLLBACK:
		accepted(tl_orch_post(&L, "/v1/upgrades", "{\"rollback\":true}"), crashing,
			 "/v1/upgrades");
		return;
	default:
		ck_abort();
	}
}

/* Plays whoever installs binaries: when the newest run waits for a site's
 * upgrade, restarts that site on the drsite program of VERSION. */
static bool by_hand;  /* the lifecycle walked has nobody install binaries */

static void swap_agent(void)
{
	if (by_hand)
		return;
	json_t *run = tl_newest_run(&L);
	json_t *want = json_object_get(json_object_get(run, "detail"), "waiting_for_site_upgrade");
	const char *site = json_string_value(json_object_get(want, "site"));
	const char *version = json_string_value(json_object_get(want, "version"));
	struct th_site *s = NULL;
	for (int i = 0; site && i < L.nsites; i++)
		if (!strcmp(L.names[i], site))
			s = &L.site[i];
	char v[64];
	if (s && version && *th_site_status_str(s, "version", v, sizeof(v)) && strcmp(v, version))
		ck_assert_msg(th_site_swap(s, version, NULL), "%s did not start on %s; see %s", site,
			      th_drsite_bin(version), s->log);
	json_decref(run);
}

/* Once lc's run has ended: drorchd acts on its actions' results again;
 * LC_NO_FIRST_WRITE's replicas take writes again. */
static void release(enum lifecycle lc, const char *from)
{
	unlink(abandon_file);
	for (int i = 0; lc == LC_NO_FIRST_WRITE && i < L.nsites; i++)
		if (strcmp(L.names[i], from))
			ck_assert_int_eq(post_fault(&L.site[i], "{\"clear\":true}"), 200);
}

/* Whether the run after runs_before has ended. */
static bool run_ended(long long runs_before)
{
	json_t *run = tl_newest_run(&L);
	const char *outcome = json_string_value(json_object_get(run, "outcome")) ?: "";
	bool ended = run && json_integer_value(json_object_get(run, "id")) > runs_before &&
		     strcmp(outcome, "running");
	json_decref(run);
	return ended;
}

/* Waits until the run of lifecycle lc after `runs_before` has ended and
 * the machine rests as lc leaves it: with a primary other than `from`
 * (it moves) or `from` still, awaiting an operator or not; the primary's
 * name into primary.  Awaiting an operator when lc does not end so fails
 * the test at once (unless a row after the run follows: R01 adopts). */
static void wait_lifecycle_done(long long runs_before, const char *from, enum lifecycle lc,
				char *primary, size_t len, const char *what)
{
	char last[256] = "no answer";
	bool held = lifecycles[lc].awaits;
	bool released = !lifecycles[lc].then && !lifecycles[lc].abandon;
	for (uint64_t end = time_mono_ms() + 30000; time_mono_ms() < end; time_sleep_ms(50)) {
		swap_agent();
		if (!released && run_ended(runs_before)) {
			release(lc, from);
			released = true;
		}
		json_t *st = tl_orch_get(&L, "/v1/status");
		if (!st)
			continue;
		const char *p = json_string_value(json_object_get(st, "primary")) ?: "";
		snprintf(last, sizeof(last), "%s primary %s",
			 json_string_value(json_object_get(st, "state")) ?: "?", p);
		bool awaits = json_is_true(json_object_get(st, "awaits_operator"));
		ck_assert_msg(held || !awaits || lifecycles[lc].then, "%s: %s; see %s", what, last,
			      L.log);
		bool rests = json_is_true(json_object_get(st, "resting")) && *p &&
			     !strcmp(p, from) == lifecycles[lc].stays && awaits == held;
		snprintf(primary, len, "%s", p);
		json_decref(st);
		if (rests && run_ended(runs_before)) {
			if (!released)
				release(lc, from);
			return;
		}
	}
	ck_abort_msg("%s did not end: last %s; see %s", what, last, L.log);
}

/* After the lifecycle: every site back in its role under the new primary
 * (a killed primary restarted: it rejoins; an aborted switchover's target,
 * inside its 20 s fsync, restarted without the fault). */
static void lifecycle_settle(enum lifecycle lc, const char *from, char *primary, size_t len)
{
	if (lifecycles[lc].awaits && lc == LC_UPGRADE_HELD) {  /* the operator resumes */
		ck_assert_int_eq(tl_orch_post(&L, "/v1/resume", NULL), 202);
		json_t *st = tl_wait_cluster(&L, NULL, from, NULL, 10000);
		ck_assert_msg(st, "not resumed; see %s", L.log);
		json_decref(st);
	} else if (lifecycles[lc].awaits) {  /* the dead back; an operator's failover leaves HELD */
		for (int i = 0; i < L.nsites; i++)
			if (th_pid_gone(L.site[i].pid))
				ck_assert(th_site_start(&L.site[i], NULL));
		long long runs = newest_run_id();
		ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", NULL), 202);
		wait_left_hold();
		wait_lifecycle_done(runs, from, LC_OPERATOR, primary, len,
				    "the operator's failover out of HELD");
	}
	if (th_pid_gone(site_named(from)->pid))  /* a killed primary back: it rejoins */
		ck_assert(th_site_start(site_named(from), NULL));
	if (lc == LC_ABORTED) {  /* the primary takes writes again: reopened */
		long put = 0;
		for (uint64_t end = time_mono_ms() + 5000; put != 200 && time_mono_ms() < end;
		     time_sleep_ms(50))
			put = th_site_put(site_named(primary), "after-the-abort");
		ck_assert_msg(put == 200, "%s's writes stay paused after the abort: %ld; see %s",
			      primary, put, L.log);
		struct th_site *t = target_of(from);
		th_kill(t->pid, SIGKILL, 5000);
		ck_assert(th_site_start(t, site_faults));
	}
	ck_assert_msg(wait_all_follow(primary, lifecycles[lc].version, 20000),
		      "%s does not lead every site; see %s",
		      primary, L.log);
	const char *want = lifecycles[lc].version, *fcv = lifecycles[lc].fcv;
	if (!want)
		return;
	/* Every site on the program, at the FCV the lifecycle leaves. */
	for (int i = 0; i < L.nsites; i++) {
		char v[32];
		ck_assert_str_eq(L.site[i].version, want);
		ck_assert_str_eq(th_site_status_str(&L.site[i], "version", v, sizeof(v)), want);
		ck_assert_str_eq(th_site_status_str(&L.site[i], "fcv", v, sizeof(v)), fcv);
	}
}

/* ---- checks ------------------------------------------------------------------ */

/* How often row id (or a row of the same state and event) is in path[0..n). */
static int times_in(const char *id, char path[][64], int n)
{
	const struct fsm_row *r = fsm_row_by_id(id);
	int k = 0;
	for (int i = 0; r && i < n; i++) {
		const struct fsm_row *q = fsm_row_by_id(path[i]);
		k += q && q->from == r->from && q->event == r->event;
	}
	return k;
}

/* The reference path of the lifecycle being walked (NULL: none yet). */
static char (*ref_path)[64];
static int ref_n;

/*
 * The run's transitions among t[0..n): chained through the table from the
 * row that opened it (opens_run) to the one that ended it (ends_run:
 * outcome), no step taken more often than in the reference pass.
 * Returns how many; fails the test if the chain is broken.
 */
static int check_run_chain(const struct transition *t, int n, long long run,
			   const char *outcome, const char *what)
{
	const struct transition *v[MAX_PATH_ROWS];
	int k = 0;
	char rows[2048];
	describe(t, n, rows, sizeof(rows));
	for (int i = 0; i < n; i++)
		if (t[i].run_id == run && k < MAX_PATH_ROWS)
			v[k++] = &t[i];
	ck_assert_msg(k >= 2, "%s: run %lld has %d transitions: %s", what, run, k, rows);
	for (int i = 0; i < k; i++) {
		ck_assert_msg(v[i]->r && v[i]->r->kind == FSM_TRANSITION, "%s: %s is no transition "
			      "of the table", what, v[i]->row);
		ck_assert_msg(i == 0 || v[i - 1]->r->to == v[i]->r->from, "%s: %s does not follow "
			      "%s: %s", what, v[i]->row, v[i - 1]->row, rows);
		int seen = 1;
		for (int j = 0; j < i; j++)
			seen += v[j]->r->from == v[i]->r->from && v[j]->r->event == v[i]->r->event;
		int allowed = ref_path ? times_in(v[i]->row, ref_path, ref_n) : MAX_PATH_ROWS;
		ck_assert_msg(seen <= (allowed > 1 ? allowed : 1), "%s: %s taken %d times: %s", what,
			      v[i]->row, seen, rows);
	}
	ck_assert_msg(v[0]->r->opens_run, "%s: run %lld begins with %s, which opens no run: %s",
		      what, run, v[0]->row, rows);
	ck_assert_msg(v[k - 1]->r->ends_run && !strcmp(v[k - 1]->r->ends_run, outcome),
		      "%s: run %lld ends with %s, not %s: %s", what, run, v[k - 1]->row, outcome,
		      rows);
	return k;
}

/* Whether audit ids a and b name the same row of the spec (their ids
 * before '@': D02@STEADY and D02@DEGRADED are D02). */
static bool same_spec_row(const char *a, const char *b)
{
	size_t base = strcspn(a, "@");
	return strcspn(b, "@") == base && !strncmp(a, b, base);
}

/* How many of t[0..n) fired rows of id's id before '@'. */
static int count_rows(const struct transition *t, int n, const char *id)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += same_spec_row(t[i].row, id);
	return k;
}

struct mark {
	long long seq, epoch, runs;
	char primary[64];
};

static void mark_now(struct mark *m)
{
	m->seq = last_seq();
	m->epoch = tl_status_epoch(&L);
	m->runs = newest_run_id();
	current_primary(m->primary, sizeof(m->primary));
}

/* A pass's writer pauses this long after each acknowledged write: three
 * labs share the machine's two cores, and an unpaced writer in each (sync
 * writes as fast as a site takes them) spent a third of the walk's CPU. */
#define PASS_PACE_MS 5

/* The start of a pass of lc crashing after crash_row (NULL: none): its name
 * into what[len], the cluster marked, the crash and abandon files written,
 * one paced writer started. */
static void begin_pass(enum lifecycle lc, const char *crash_row, char *what, size_t len,
		       struct mark *m, struct tl_writers *ws)
{
	snprintf(what, len, "%s, crash after %s", lifecycles[lc].name,
		 crash_row ? crash_row : "nothing");
	mark_now(m);
	if (crash_row)
		tl_write_file(crash_file, crash_row);
	if (lifecycles[lc].abandon)
		tl_write_file(abandon_file, lifecycles[lc].abandon);
	tl_writers_start_paced(&L, ws, 1, PASS_PACE_MS);
}

/*
 * Runs lifecycle lc once under write load, with drorchd killing itself
 * after committing `crash_row` (NULL: no crash), and checks it ended right
 * exactly once.  The path of rows it took into path[] (when not NULL).
 */
static int run_once(enum lifecycle lc, const char *crash_row, char path[][64], int cap)
{
	char what[160];
	struct mark m;
	struct tl_writers ws;
	crash_taken = false;
	by_hand = lifecycles[lc].by_hand;
	begin_pass(lc, crash_row, what, sizeof(what), &m, &ws);
	time_sleep_ms(lc == LC_FENCE_FAILED ? 500 : 150);  /* (no site takes writes after) */
	lifecycle_start(lc, m.primary, crash_row);
	if (crash_row && !crash_taken) {
		/* binaries are swapped meanwhile: an upgrade goes on to its crash */
		for (uint64_t end = time_mono_ms() + 30000; !crash_taken && time_mono_ms() < end; )
			if (!(crash_taken = restart_crashed(what, 50)))
				swap_agent();
		ck_assert_msg(crash_taken, "%s: drorchd did not stop there; see %s", what, L.log);
	}
	char primary[64];
	wait_lifecycle_done(m.runs, m.primary, lc, primary, sizeof(primary), what);
	time_sleep_ms(150);  /* the writers reach the new primary */
	ck_assert_int_gt(tl_writers_stop(&ws), 10);

	/* Its run (mine[0]), and the one that follows it (then_run) */
	json_t *runs = tl_orch_get(&L, "/v1/runs");
	int fresh = 0, want = lifecycles[lc].then_run ? 2 : 1;
	json_t *r, *mine[2] = { NULL, NULL };
	size_t i;
	json_array_foreach(json_object_get(runs, "runs"), i, r) {
		long long id = json_integer_value(json_object_get(r, "id"));
		if (id > m.runs && fresh++ < 2)
			mine[id == m.runs + 1 ? 0 : 1] = r;
	}
	struct transition t[64];
	int n = transitions_since(m.seq, t, 64);
	char rows[2048];
	describe(t, n, rows, sizeof(rows));
	ck_assert_msg(fresh == want && mine[0], "%s: %d runs instead of %d: %s", what, fresh, want,
		      rows);
	ck_assert_str_eq(json_string_value(json_object_get(mine[0], "kind")), lifecycles[lc].kind);
	ck_assert_str_eq(json_string_value(json_object_get(mine[0], "outcome")),
			 lifecycles[lc].outcome);
	long long run = json_integer_value(json_object_get(mine[0], "id")), run2 = -1;
	if (want == 2) {
		ck_assert_str_eq(json_string_value(json_object_get(mine[1], "kind")),
				 lifecycles[lc].then_run);
		run2 = json_integer_value(json_object_get(mine[1], "id"));
		check_run_chain(t, n, run2, "succeeded", what);
	}
	json_decref(runs);
	/* One bump for a promotion, or for the fence of a run held after it */
	long long bumps = lifecycles[lc].same_epoch ? 0 : 1;
	ck_assert_msg(tl_status_epoch(&L) == m.epoch + bumps, "%s: epoch %lld -> %lld, not %lld "
		      "bump(s)", what, m.epoch, tl_status_epoch(&L), bumps);

	check_run_chain(t, n, run, lifecycles[lc].outcome, what);
	ck_assert_msg(tl_verify_audit(&L) == 0, "%s: the audit chain does not verify", what);
	lifecycle_settle(lc, m.primary, primary, sizeof(primary));
	tl_writers_check_on(&ws, site_named(primary));

	/* The path: the run's rows, and the rows that led to its opening from
	 * a resting state where automation runs (detection: D01 before D05; a
	 * hold before an operator's failover: D02 before O01@HELD; a hold and
	 * the resume that left it: D02, O03@HELD before D01), each taken no
	 * more often than in the reference pass. */
	int open = 0;
	while (open < n && t[open].run_id != run)
		open++;
	int first = open;
	while (first > 0 && first < n && t[first - 1].r && t[first].r &&
	       t[first - 1].r->to == t[first].r->from &&
	       (!fsm_state_resting[t[first].r->from] || fsm_state_awaits_operator[t[first].r->from] ||
		fsm_state_awaits_operator[t[first - 1].r->from]))
		first--;
	for (int j = first; ref_path && j < open; j++) {
		int seen = count_rows(t + first, j - first + 1, t[j].row), allowed = 0;
		for (int q = 0; q < ref_n; q++)  /* the spec's row, from whichever state */
			allowed += same_spec_row(ref_path[q], t[j].row);
		ck_assert_msg(seen <= allowed, "%s: %s taken %d times", what, t[j].row, seen);
	}
	const char *then = lifecycles[lc].then;
	ck_assert_msg(!then || count_rows(t, n, then) == 1, "%s: %s not once after the run: %s",
		      what, then, rows);
	int k = 0;
	for (int j = first; path && j < n && k < cap; j++)
		if (j < open || t[j].run_id == run || t[j].run_id == run2 ||
		    (then && same_spec_row(t[j].row, then)))
			snprintf(path[k++], 64, "%s", t[j].row);
	return k;
}

/*
 * The crash point of path[i] (drorchd's DRORCH_TEST_CRASH_FILE syntax).  In
 * the run: every transition row of the same state and event (a guarded row
 * and its fallback are the same step: F08 or F09), each by its id before '@'
 * (the spec's row, whichever state it fires from) and at the occurrence of
 * that step in the run (#K: U02 fires once per site swapped).  Before the
 * run opens, drorchd counts no occurrences (#1 is every time) and the guard
 * is what the lifecycle is about (D02 holds, D01 detects): the row's own id.
 */
static void crash_spec(char path[][64], int i, char *out, size_t len)
{
	const struct fsm_row *r = fsm_row_by_id(path[i]);
	int open = 0;
	while (open <= i && !fsm_row_by_id(path[open])->opens_run)
		open++;
	if (open > i) {
		snprintf(out, len, "%.*s#1", (int)strcspn(path[i], "@"), path[i]);
		return;
	}
	int k = times_in(path[i], path + open, i - open + 1);
	out[0] = '\0';
	for (size_t j = 0; r && j < fsm_nrows; j++) {
		const struct fsm_row *q = &fsm_rows[j];
		char tok[80];
		/* by its id before '@': the spec's row, from whichever state */
		snprintf(tok, sizeof(tok), "%.*s#%d", (int)strcspn(q->id, "@"), q->id, k);
		if (q->from == r->from && q->event == r->event && q->kind == FSM_TRANSITION &&
		    !strstr(out, tok))
			snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? " " : "", tok);
	}
}

/* The lab of lifecycle lc, up: its policy, its shortened timeouts, its
 * sites' program (drsite-0.1.0 for an upgrade) and faults. */
static void lab_up_for(enum lifecycle lc)
{
	if (lc == LC_HELD || lc == LC_RESUMED || lc == LC_UPGRADE_MISSED_HELD)
		tl_write_file(L.policy, HELD_POLICY);
	if (lc == LC_HELD_REGRESSED)
		tl_write_file(L.policy, HELD_REGRESS_POLICY);
	if (lc == LC_ABORTED)
		tl_write_file(L.policy, ABORT_POLICY);
	if (lc == LC_NO_FIRST_WRITE)
		tl_write_file(L.policy, STALL_POLICY);
	if (lc == LC_REGRESSED || lc == LC_UPGRADE_REGRESSED || lifecycles[lc].resume_on)
		tl_write_file(L.policy, WIDE_POLICY);
	if (lifecycles[lc].timeouts)
		setenv("DRORCH_TEST_TIMEOUT_MS", lifecycles[lc].timeouts, 1);
	if (lc == LC_NO_CANDIDATE)  /* each step of a run waits: its target dies meanwhile */
		setenv("DRORCH_TEST_STEP_MS", "700", 1);
	if (lifecycles[lc].version)
		tl_lab_version(&L, OLD);
	if (lc == LC_LINK_ONLY) {
		ck_assert_msg(th_drlink_start(L.root, link_admin, sizeof(link_admin)),
			      "drlink did not start; see %s/drlink.log", L.root);
		for (int i = 0; i < L.nsites; i++) {
			char name[64], hp[64];
			snprintf(name, sizeof(name), "orch-%s", L.names[i]);
			snprintf(hp, sizeof(hp), "127.0.0.1:%d", th_free_port());
			ck_assert_int_eq(th_link_add(link_admin, name, hp, L.site[i].listen), 201);
			snprintf(L.orch_url[i], sizeof(L.orch_url[i]), "http://%s", hp);
		}
	}
	tl_lab_up(&L, lc == LC_REJOIN || lc == LC_REJOIN_TIMEOUT || lc == LC_ABORTED ||
		      lc == LC_NO_FIRST_WRITE ?
		      site_faults : NULL);
}

/* What must precede a pass of lc: a failback or rollback undoes something;
 * an upgrade needs a cluster still at 0.1.0 (after one, a fresh lab); a hold needs a failover inside the anti-flapping window (each
 * pass's own failover is the next pass's). */
static void prepare(enum lifecycle lc)
{
	bool hold = lc == LC_HELD || lc == LC_RESUMED || lc == LC_HELD_REGRESSED ||
		    lc == LC_UPGRADE_MISSED_HELD;
	if (lc == LC_FAILBACK || (hold && newest_run_id() == 0))
		run_once(hold ? LC_OPERATOR : LC_SWITCHOVER, NULL, NULL, 0);
	bool old = true;  /* every site on OLD at FCV OLD */
	for (int i = 0; lifecycles[lc].version && lc != LC_ROLLBACK && i < L.nsites; i++) {
		char v[32], fcv[32];
		old = old && !strcmp(th_site_status_str(&L.site[i], "version", v, sizeof(v)), OLD) &&
		      !strcmp(th_site_status_str(&L.site[i], "fcv", fcv, sizeof(fcv)), OLD);
	}
	if (!old) {
		teardown();
		setup();
		lab_up_for(lc);
	}
	if (lc == LC_ROLLBACK) {  /* an upgrade left unfinalized */
		char body[64];
		snprintf(body, sizeof(body), "{\"to\":\"%s\",\"finalize\":false}", NEW);
		long long runs = newest_run_id();
		char from[64], primary[64];
		current_primary(from, sizeof(from));
		ck_assert_int_eq(tl_orch_post(&L, "/v1/upgrades", body), 202);
		wait_lifecycle_done(runs, from, LC_UPGRADE, primary, sizeof(primary),
				    "the upgrade to roll back");
		ck_assert_msg(wait_all_follow(primary, true, 20000), "after the upgrade; see %s",
			      L.log);
	}
}

/* Whether J03 is among the rows since seq. */
static int timed_out_seen(long long seq)
{
	struct transition t[64];
	return count_rows(t, transitions_since(seq, t, 64), "J03");
}

/* A rejoin that never ended, described: the rows since seq, drorchd's
 * status, and the old primary's own (its role, replication and rewind). */
static void not_rejoined(const struct th_site *old, long long seq, char *out, size_t len)
{
	struct transition t[64];
	char rows[1024], *body = NULL;
	describe(t, transitions_since(seq, t, 64), rows, sizeof(rows));
	json_t *st = tl_orch_get(&L, "/v1/status"), *own = NULL;
	if (th_site_req(old, "GET", "/v1/status", false, NULL, 0, &body, NULL) == 200)
		own = json_loads(body, 0, NULL);
	json_t *mine = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "role",
				 json_object_get(own, "role"), "epoch", json_object_get(own, "epoch"),
				 "lsn", json_object_get(own, "lsn"), "replication",
				 json_object_get(own, "replication"), "last_rewind",
				 json_object_get(own, "last_rewind"), "behind",
				 json_object_get(own, "behind"));
	char *sites = st ? json_dumps(json_object_get(st, "sites"), JSON_COMPACT) : NULL;
	char *site = mine ? json_dumps(mine, JSON_COMPACT) : NULL;
	int n = snprintf(out, len, "rows %s; drorchd %s, primary %s, resting %d, sites %.900s; "
			 "%s %.600s", rows,
			 json_string_value(json_object_get(st, "state")) ?: "(no answer)",
			 json_string_value(json_object_get(st, "primary")) ?: "-",
			 json_is_true(json_object_get(st, "resting")), sites ? sites : "-",
			 old->name, site ? site : "(no answer)");
	if (n < 0 || (size_t)n >= len)  /* (cut short: its start says enough) */
		out[len - 1] = '\0';
	free(site);
	free(sites);
	free(body);
	json_decref(mine);
	json_decref(own);
	json_decref(st);
}

/*
 * A returning old primary whose log diverged: its replication is cut
 * (drop_replication), a write it takes is never acknowledged yet stays in
 * its log, drorchd fails it over (its canary writes fail: a grey failure),
 * then its replication comes back: the new primary refuses its log as
 * diverged, and it rejoins (REJOINING: rewound, its record quarantined in a
 * file the audit names, then streaming).  With drorchd SIGKILLed after
 * `crash_row` (NULL: no crash), the rejoin must happen once: its rows once
 * each, no epoch bump, nothing acknowledged lost, the chain intact.  The
 * rows from a resting state back to one into path[].
 */
static int rejoin_once(enum lifecycle lc, const char *crash_row, char path[][64], int cap)
{
	char what[600], from[64], primary[64] = "";
	bool timing_out = lc == LC_REJOIN_TIMEOUT;  /* its fsyncs slow until J03 */
	struct mark m;
	struct tl_writers ws;
	begin_pass(lc, crash_row, what, sizeof(what), &m, &ws);
	snprintf(from, sizeof(from), "%s", m.primary);
	struct th_site *old = site_named(from);
	ck_assert_int_eq(post_fault(old, "{\"drop_replication\":true}"), 200);
	/* A write its log takes but that is never acknowledged: retried until
	 * its log holds one (a put may be refused before it is written; CI's
	 * distcheck once saw the old primary write nothing, then follow the new
	 * one without diverging), bounded. */
	bool written = false;
	for (uint64_t end = time_mono_ms() + 3000; !written && time_mono_ms() < end;
	     time_sleep_ms(20)) {
		ck_assert_int_ne(th_site_put(old, "never-acknowledged"), 200);
		long long replicas = 0;  /* the most any other site holds */
		for (int i = 0; i < L.nsites; i++)
			if (&L.site[i] != old && th_site_status_int(&L.site[i], NULL, "lsn") > replicas)
				replicas = th_site_status_int(&L.site[i], NULL, "lsn");
		written = th_site_status_int(old, NULL, "lsn") > replicas;
	}
	ck_assert_msg(written, "%s: %s took no write after its replication was cut; see %s", what,
		      from, L.log);
	if (timing_out)  /* its rewind takes longer than REJOINING's 1 s */
		ck_assert_int_eq(post_fault(old, "{\"slow_fsync_ms\":2500}"), 200);
	/* Its canary writes fail too (a grey failure): drorchd fails it over;
	 * as a replica it is refused as diverged, and rejoins. */
	bool restarted = false, done = false, cleared = false;
	for (uint64_t end = time_mono_ms() + 40000; !done && time_mono_ms() < end;
	     time_sleep_ms(50)) {
		if (crash_row && !restarted)
			restarted = restart_crashed(what, 1);
		bool timed_out = timing_out && timed_out_seen(m.seq);
		if (timed_out && !cleared)  /* the rejoin starts over, and ends */
			cleared = post_fault(old, "{\"clear\":true}") == 200;
		json_t *st = tl_orch_get(&L, "/v1/status");
		const char *p = json_string_value(json_object_get(st, "primary")) ?: "";
		/* (a crash after the last row comes a moment after its commit) */
		done = st && *p && strcmp(p, from) && json_is_true(json_object_get(st, "resting")) &&
		       tl_all_in_role(st, p) && th_site_status_int(old, "last_rewind", "records") >= 1 &&
		       timed_out == timing_out && (!crash_row || restarted);
		if (done)
			snprintf(primary, sizeof(primary), "%s", p);
		json_decref(st);
	}
	if (!done) {  /* what was missing, for a failure seen only in CI's log */
		char why[3072];
		not_rejoined(old, m.seq, why, sizeof(why));
		ck_abort_msg("%s: %s was not failed over and rejoined (restarted %d, J03 seen %d, "
			     "cleared %d): %s; see %s", what, from, restarted, timed_out_seen(m.seq),
			     cleared, why, L.log);
	}
	ck_assert_msg(!crash_row || restarted, "%s: drorchd did not stop there; see %s", what, L.log);
	ck_assert_int_eq(post_fault(old, "{\"clear\":true}"), 200);
	time_sleep_ms(300);
	ck_assert_int_gt(tl_writers_stop(&ws), 10);
	tl_writers_check_on(&ws, site_named(primary));
	ck_assert_msg(tl_status_epoch(&L) == m.epoch + 1, "%s: epoch %lld -> %lld: one failover, "
		      "and no bump for the rejoin", what, m.epoch, tl_status_epoch(&L));
	ck_assert_int_eq(newest_run_id(), m.runs + 1);  /* the failover's; a rejoin has none */
	struct transition t[64];
	int n = transitions_since(m.seq, t, 64);
	char rows[2048];
	describe(t, n, rows, sizeof(rows));
	/* Once each; timing out, J03 once, and the rejoin started over at most
	 * once (the first rewind may have done the work: nothing diverges). */
	ck_assert_msg(timing_out ? count_rows(t, n, "J03") == 1 && count_rows(t, n, "J01") <= 2 &&
				   count_rows(t, n, "J02") <= 1 :
				   count_rows(t, n, "J01") == 1 && count_rows(t, n, "J02") == 1,
		      "%s: the rejoin's rows: %s", what, rows);
	ck_assert_msg(tl_verify_audit(&L) == 0, "%s: the audit chain does not verify", what);
	/* The path: after the failover's run, from rest to rest. */
	int k = 0, first = 0;
	for (int i = 0; i < n; i++)
		if (t[i].run_id)
			first = i + 1;
	bool in = false;
	for (int i = first; path && i < n && k < cap; i++) {
		if (!t[i].r)
			continue;
		in = in || (fsm_state_resting[t[i].r->from] && !fsm_state_resting[t[i].r->to]);
		if (in)
			snprintf(path[k++], 64, "%s", t[i].row);
		if (in && fsm_state_resting[t[i].r->to])
			break;
	}
	return k;
}

/* LC_LINK_ONLY's: drorchd's link to site `name` cut or healed. */
static void cut_orch_link(const char *name, bool cut)
{
	char link[80];
	snprintf(link, sizeof(link), "orch-%s", name);
	ck_assert_int_eq(th_link_set(link_admin, link, cut ? "{\"partition\":\"blackhole\"}" :
				     "{\"partition\":\"none\"}"), 200);
}

/* Whether list (ID#N tokens separated by spaces or lines: a crash point,
 * or the walks' record) names spec row `row` (its id before '@'). */
static bool names_row(const char *list, const char *row)
{
	char tok[40];
	snprintf(tok, sizeof(tok), "%.*s#", (int)strcspn(row, "@"), row);
	for (const char *p = list; p && (p = strstr(p, tok)); p++)
		if (p == list || p[-1] == ' ' || p[-1] == '\n')
			return true;
	return false;
}

/* An operator's request, sent again while drorchd restarts (bounded). */
static void post_until_accepted(const char *path)
{
	long st = 0;
	for (uint64_t end = time_mono_ms() + 10000; st != 202 && time_mono_ms() < end;
	     time_sleep_ms(50))
		st = tl_orch_post(&L, path, NULL);
	ck_assert_msg(st == 202, "POST %s: %ld; see %s", path, st, L.log);
}

/* stall_once's fault, with primary `from`: every site stopped (SIGSTOP),
 * drorchd's links cut (LC_LINK_ONLY), a replica killed (LC_REPLICA_LOST),
 * or an operator's pause (LC_PAUSE; no answer when drorchd is to crash
 * after it). */
static void norun_fault(enum lifecycle lc, const char *from, bool crashing)
{
	switch (lc) {
	case LC_LINK_ONLY:
		for (int i = 0; i < L.nsites; i++)
			cut_orch_link(L.names[i], true);
		return;
	case LC_REPLICA_LOST:
		th_kill(target_of(from)->pid, SIGKILL, 5000);
		return;
	case LC_PAUSE:
		accepted(tl_orch_post(&L, "/v1/pause", NULL), crashing, "/v1/pause");
		return;
	default:
		for (int i = 0; i < L.nsites; i++)
			ck_assert_int_eq(kill(L.site[i].pid, SIGSTOP), 0);
	}
}

/* And its undoing: the sites continue, the primary first (drorchd hears it
 * before its replicas, who lost it while stopped, can testify); the
 * primary's link heals; the replica restarts; the operator resumes. */
static void norun_undo(enum lifecycle lc, const char *from)
{
	switch (lc) {
	case LC_LINK_ONLY:
		for (int i = 0; i < L.nsites; i++)
			cut_orch_link(L.names[i], false);
		return;
	case LC_REPLICA_LOST:
		ck_assert(th_site_start(target_of(from), NULL));
		return;
	case LC_PAUSE:
		post_until_accepted("/v1/resume");
		return;
	default:
		kill(site_named(from)->pid, SIGCONT);
		time_sleep_ms(300);
		for (int i = 0; i < L.nsites; i++)
			kill(L.site[i].pid, SIGCONT);
	}
}

/*
 * A lifecycle that opens no run (lc's resume_on), mostly a miss: every site
 * stopped (SIGSTOP), so drorchd misses the primary and no replica can
 * confirm it (LC_LINK_ONLY: drorchd's links to every site cut, the
 * replicas' healed once it suspects the primary: they testify that it
 * lives); or a replica killed, or automation paused (norun_fault).  Once
 * row resume_on is committed the fault is undone (norun_undo), and the
 * lifecycle ends with row ends_with.  With
 * drorchd SIGKILLed after `crash_row` (NULL: no crash), the machine must
 * rest again with the same primary: no run, no epoch bump, each row no
 * more often than in the reference pass, nothing acknowledged lost, the
 * chain intact.  Its rows (health's aside) into path[].
 */
static int stall_once(enum lifecycle lc, const char *crash_row, char path[][64], int cap)
{
	char what[200];
	struct mark m;
	struct tl_writers ws;
	begin_pass(lc, crash_row, what, sizeof(what), &m, &ws);
	time_sleep_ms(150);
	norun_fault(lc, m.primary, crash_row != NULL);
	bool stopped = true, restarted = false, done = false, replicas_heard = false;
	struct transition t[64];
	int n = 0;
	for (uint64_t end = time_mono_ms() + 30000; !done && time_mono_ms() < end;
	     time_sleep_ms(50)) {
		if (crash_row && !restarted)
			restarted = restart_crashed(what, 1);
		n = transitions_since(m.seq, t, 64);
		if (lc == LC_LINK_ONLY && !replicas_heard && count_rows(t, n, "D01") > 0) {
			for (int i = 0; i < L.nsites; i++)  /* they testify: it lives */
				if (strcmp(L.names[i], m.primary))
					cut_orch_link(L.names[i], false);
			replicas_heard = true;
		}
		if (count_rows(t, n, lifecycles[lc].ends_with) > 0)
			unlink(abandon_file);
		if (stopped && count_rows(t, n, lifecycles[lc].resume_on) > 0) {
			if (names_row(crash_row, lifecycles[lc].resume_on) && !restarted) {
				/* committed, about to crash: no request before the restart */
				restarted = restart_crashed(what, 5000);
				ck_assert_msg(restarted, "%s: drorchd did not stop there; see %s", what,
					      L.log);
			}
			norun_undo(lc, m.primary);
			stopped = false;
		}
		json_t *st = stopped || !count_rows(t, n, lifecycles[lc].ends_with) ? NULL :
			     tl_orch_get(&L, "/v1/status");
		done = st && json_is_true(json_object_get(st, "resting")) &&
		       !json_is_true(json_object_get(st, "awaits_operator")) &&
		       tl_all_in_role(st, m.primary) && (!crash_row || restarted);  /* (as above) */
		json_decref(st);
	}
	if (stopped)
		norun_undo(lc, m.primary);
	char rows[2048];
	describe(t, n, rows, sizeof(rows));
	ck_assert_msg(done, "%s: did not rest again under %s: %s; see %s", what, m.primary, rows,
		      L.log);
	ck_assert_msg(!crash_row || restarted, "%s: drorchd did not stop there; see %s", what, L.log);
	time_sleep_ms(150);
	ck_assert_int_gt(tl_writers_stop(&ws), 10);
	tl_writers_check_on(&ws, site_named(m.primary));
	ck_assert_msg(newest_run_id() == m.runs, "%s: a run opened: %s", what, rows);
	ck_assert_msg(tl_status_epoch(&L) == m.epoch, "%s: epoch %lld -> %lld", what, m.epoch,
		      tl_status_epoch(&L));
	ck_assert_msg(tl_verify_audit(&L) == 0, "%s: the audit chain does not verify", what);
	n = transitions_since(m.seq, t, 64);
	describe(t, n, rows, sizeof(rows));
	int k = 0;
	for (int i = 0; i < n; i++) {
		ck_assert_msg(t[i].r && t[i].r->kind == FSM_TRANSITION, "%s: %s", what, rows);
		if (lc != LC_REPLICA_LOST && (t[i].r->event == FSM_E_HEALTHY ||
					       t[i].r->event == FSM_E_REPLICA_DEGRADED))
			continue;  /* the replicas' health: not this lifecycle's */
		int seen = count_rows(t, i + 1, t[i].row), allowed = 0;
		for (int q = 0; ref_path && q < ref_n; q++)
			allowed += same_spec_row(ref_path[q], t[i].row);
		ck_assert_msg(!ref_path || seen <= allowed, "%s: %s taken %d times: %s", what,
			      t[i].row, seen, rows);
		if (path && k < cap)
			snprintf(path[k++], 64, "%s", t[i].row);
	}
	ck_assert_msg(count_rows(t, n, lifecycles[lc].ends_with) >= 1, "%s: no %s: %s", what,
		      lifecycles[lc].ends_with, rows);
	return k;
}

/* Whether lifecycle lc is walked for the row of audit id `row`. */
static bool walked_for(enum lifecycle lc, const char *row)
{
	const char *w = lifecycles[lc].walks;
	size_t base = strcspn(row, "@");
	for (const char *p = w; p && *p; p += strspn(p, " ")) {
		size_t len = strcspn(p, " ");
		if (len == base && !strncmp(p, row, base))
			return true;
		p += len;
	}
	return !w;
}

/* Whether a sanitizer build may leave out crash points another walk has
 * taken (DRORCH_LIFECYCLE_ALL=1 walks them all there too). */
static bool sanitizer_thins_walks(void)
{
#ifdef __SANITIZE_ADDRESS__
	const char *all = getenv("DRORCH_LIFECYCLE_ALL");
	return !(all && !strcmp(all, "1"));
#else
	return false;
#endif
}

/*
 * Claims the crash after `row` for this walk in the file
 * DRORCH_LIFECYCLE_WALKED names (the copies' shared record, checked by main
 * for coverage once every walk has passed): appends the row's audit id and
 * returns true, or returns false when the walk may leave it out because a
 * walk (of this lifecycle or another, in any copy) has already claimed it.
 * Only a sanitizer build leaves rows out: its walk looks for memory errors on
 * each recovery path and takes twice the CPU, so there each row of the table
 * is crashed after at least once rather than in every lifecycle that takes
 * it.  The claim is taken when the walk starts, under a lock, so copies
 * walking at once (an upgrade and its rollback share five rows) do not both
 * take it; the plain build always walks.
 */
static bool claim_walk(const char *row)
{
	const char *file = getenv("DRORCH_LIFECYCLE_WALKED");
	int fd = file && *file ? open(file, O_RDWR | O_APPEND) : -1;
	if (fd < 0)
		return true;
	bool mine = true;
	if (flock(fd, LOCK_EX) == 0) {
		size_t len = 0;
		char *text = sanitizer_thins_walks() ? th_read_file(file, &len) : NULL;
		mine = !(text && names_row(text, row));
		free(text);
		if (mine)
			dprintf(fd, "%.*s#\n", (int)strcspn(row, "@"), row);
	}
	close(fd);  /* (drops the lock) */
	return mine;
}

/* The newest run's id in the store (0: none), read from its file. */
static long long stored_runs(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	long long id = 0;
	ck_assert_int_eq(sqlite3_open_v2(L.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM runs", -1, &q,
					    NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return id;
}

/* Copies drorchd's store files (the database, its WAL, its head file) from
 * directory-less names `from` + suffix to `to` + suffix; a missing file is
 * removed at the destination.  drorchd must not be running. */
static void copy_store(const char *from, const char *to)
{
	static const char *const suffix[] = { "", "-wal", ".head", NULL };
	for (int i = 0; suffix[i]; i++) {
		char src[800], dst[800];
		snprintf(src, sizeof(src), "%s%s", from, suffix[i]);
		snprintf(dst, sizeof(dst), "%s%s", to, suffix[i]);
		size_t len = 0;
		char *data = th_read_file(src, &len);
		unlink(dst);
		if (!data)
			continue;
		FILE *f = fopen(dst, "wb");
		ck_assert_msg(f && fwrite(data, 1, len, f) == len && fclose(f) == 0, "copy %s", dst);
		free(data);
	}
	char shm[800];
	snprintf(shm, sizeof(shm), "%s-shm", to);
	unlink(shm);
}

/*
 * LC_STORE_BEHIND: drorchd's store is copied (drorchd killed for it), an
 * operator's failover moves the primary to P, drorchd is killed and its
 * store restored from the copy (it names the old primary at the old
 * epoch), and P dies: at its start drorchd finds the sites at a newer
 * epoch with no primary there (R02) and fails over at a newer one still.
 * With drorchd SIGKILLed after `crash_row`, that failover must end right
 * exactly once: one run, opened by R02, one bump past the sites' epoch,
 * nothing acknowledged lost, the chain intact.  Its rows into path[].
 */
static int behind_once(enum lifecycle lc, const char *crash_row, char path[][64], int cap)
{
	char what[200], backup[700], from[64], moved[64];
	snprintf(what, sizeof(what), "%s, crash after %s", lifecycles[lc].name,
		 crash_row ? crash_row : "nothing");
	snprintf(backup, sizeof(backup), "%s/backup.db", L.root);
	current_primary(from, sizeof(from));
	struct tl_writers ws;
	tl_writers_start_paced(&L, &ws, 1, PASS_PACE_MS);
	th_kill(L.orch, SIGKILL, 5000);
	copy_store(L.db, backup);
	tl_start_orch(&L, NULL);
	long long runs = newest_run_id();
	ck_assert_int_eq(tl_orch_post(&L, "/v1/failover", NULL), 202);
	wait_lifecycle_done(runs, from, LC_OPERATOR, moved, sizeof(moved), what);
	/* The old primary rejoined first: a diverged site, its rewind still to
	 * come, cannot confirm the sync writes of the next primary. */
	ck_assert_msg(wait_all_follow(moved, true, 20000), "%s: %s does not lead every site; see %s",
		      what, moved, L.log);
	long long sites_epoch = tl_status_epoch(&L);
	th_kill(L.orch, SIGKILL, 5000);
	copy_store(backup, L.db);
	th_kill(site_named(moved)->pid, SIGKILL, 5000);
	struct mark m = { .seq = last_seq(), .runs = stored_runs() };
	if (crash_row)
		tl_write_file(crash_file, crash_row);
	tl_start_orch_or_exit(&L, NULL);  /* (R02 comes at once: it may crash before answering) */
	ck_assert_msg(!crash_row || restart_crashed(what, 30000), "%s: drorchd did not stop there; "
		      "see %s", what, L.log);
	char primary[64];
	wait_lifecycle_done(m.runs, moved, LC_OPERATOR, primary, sizeof(primary), what);
	time_sleep_ms(150);
	ck_assert_int_gt(tl_writers_stop(&ws), 10);
	/* One failover run since the mark; besides it, at most the rewind of
	 * the old primary that the restored store had lost, seen again and
	 * recorded as a run of its own. */
	json_t *all = tl_orch_get(&L, "/v1/runs"), *r;
	long long id = 0;
	int failovers = 0;
	size_t ri;
	json_array_foreach(json_object_get(all, "runs"), ri, r) {
		long long rid = json_integer_value(json_object_get(r, "id"));
		const char *kind = json_string_value(json_object_get(r, "kind")) ?: "";
		if (rid <= m.runs)
			continue;
		ck_assert_msg(!strcmp(kind, "failover") || !strcmp(kind, "rewind"),
			      "%s: run %lld of kind %s", what, rid, kind);
		if (strcmp(kind, "failover"))
			continue;
		failovers++;
		id = rid;
		ck_assert_str_eq(json_string_value(json_object_get(r, "outcome")) ?: "", "succeeded");
	}
	json_decref(all);
	ck_assert_msg(failovers == 1, "%s: %d failover runs since run %lld", what, failovers, m.runs);
	ck_assert_msg(tl_status_epoch(&L) == sites_epoch + 1, "%s: epoch %lld, sites at %lld",
		      what, tl_status_epoch(&L), sites_epoch);
	struct transition t[64];
	int n = transitions_since(m.seq, t, 64);
	int k = check_run_chain(t, n, id, "succeeded", what);
	char rows[2048];
	describe(t, n, rows, sizeof(rows));
	ck_assert_msg(n >= 1 && same_spec_row(t[0].row, "R02"), "%s: %s", what, rows);
	ck_assert_msg(tl_verify_audit(&L) == 0, "%s: the audit chain does not verify", what);
	ck_assert(th_site_start(site_named(moved), NULL));  /* P back: it rejoins */
	ck_assert_msg(wait_all_follow(primary, false, 20000), "%s does not lead every site; see %s",
		      primary, L.log);
	tl_writers_check_on(&ws, site_named(primary));
	for (int i = 0; path && i < n && i < cap; i++)
		snprintf(path[i], 64, "%s", t[i].row);
	return path ? (n < cap ? n : cap) : k;
}

/*
 * An upgrade's first swap, with drorchd killed once that action has kept
 * its context (awaiting the site) and before the run's detail names that
 * site to whoever installs binaries (crash point ROW+ctx): resumed, the
 * action must name it again, or nobody swaps it and the upgrade waits for
 * ever (drchaos seed 99601, async, HA: a leader killed there).
 */
static void walk_swap_context_crash(enum lifecycle lc, char path[][64], int n,
				    int (*once)(enum lifecycle, const char *, char[][64], int))
{
	for (int i = 0; i < n; i++) {
		const struct fsm_row *r = fsm_row_by_id(path[i]);
		if (!r || r->action != FSM_A_SWAP)
			continue;
		char spec[512], ctx[600] = "";
		crash_spec(path, i, spec, sizeof(spec));
		for (char *tok = strtok(spec, " "); tok; tok = strtok(NULL, " "))
			snprintf(ctx + strlen(ctx), sizeof(ctx) - strlen(ctx), "%s%s+ctx",
				 ctx[0] ? " " : "", tok);
		uint64_t t0 = time_mono_ms();
		prepare(lc);
		once(lc, ctx, NULL, 0);
		fprintf(stderr, "check_lifecycle: %s: crash once %s kept its context: resumed once "
			"(%.1f s)\n", lifecycles[lc].name, ctx, (double)(time_mono_ms() - t0) / 1000.0);
		return;
	}
	ck_abort_msg("%s: no row of its path swaps a site", lifecycles[lc].name);
}

/* The reference pass, then a crash after each of its rows (those it is
 * walked for). */
static void walk(enum lifecycle lc)
{
	int (*once)(enum lifecycle, const char *, char[][64], int) =
		lc == LC_REJOIN || lc == LC_REJOIN_TIMEOUT ? rejoin_once :
		lc == LC_STORE_BEHIND ? behind_once :
		lifecycles[lc].resume_on ? stall_once : run_once;
	lab_up_for(lc);
	char path[MAX_PATH_ROWS][64];
	ref_path = NULL;
	prepare(lc);
	int n = once(lc, NULL, path, MAX_PATH_ROWS);
	ref_path = path;
	ref_n = n;
	ck_assert_msg(n >= 2, "%s: a path of %d rows", lifecycles[lc].name, n);
	const struct fsm_row *first = fsm_row_by_id(path[0]), *last = fsm_row_by_id(path[n - 1]);
	ck_assert_msg(fsm_state_resting[first->from] && fsm_state_resting[last->to],
		      "%s: the path %s..%s does not go from rest to rest", lifecycles[lc].name,
		      path[0], path[n - 1]);
	char said[1024] = "";
	for (int i = 0; i < n; i++)
		snprintf(said + strlen(said), sizeof(said) - strlen(said), "%.63s ", path[i]);
	fprintf(stderr, "check_lifecycle: %s: %d rows: %s\n", lifecycles[lc].name, n, said);
	int walked = 0, elsewhere = 0;
	for (int i = 0; i < n; i++) {
		if (!walked_for(lc, path[i]))
			continue;
		if (!claim_walk(path[i])) {
			elsewhere++;
			continue;
		}
		uint64_t t0 = time_mono_ms();
		char spec[512];
		crash_spec(path, i, spec, sizeof(spec));
		prepare(lc);
		once(lc, spec, NULL, 0);
		walked++;
		fprintf(stderr, "check_lifecycle: %s: crash after %s: resumed once (%.1f s)\n",
			lifecycles[lc].name, spec, (double)(time_mono_ms() - t0) / 1000.0);
	}
	ck_assert_msg(walked + elsewhere > 0, "%s: none of %s in its path %s", lifecycles[lc].name,
		      lifecycles[lc].walks, said);
	if (lc == LC_UPGRADE)
		walk_swap_context_crash(lc, path, n, once);
	if (elsewhere)
		fprintf(stderr, "check_lifecycle: %s: %d crash points already walked (sanitizer "
			"build: each row once)\n", lifecycles[lc].name, elsewhere);
}

/* After every copy has walked: each transition row of the table must have
 * been crashed after (a row added to the table fails the walk until a
 * lifecycle takes it).  0 when so. */
static int check_coverage(const char *file)
{
	size_t tlen = 0;
	char *text = th_read_file(file, &tlen);
	int bad = 0;
	for (size_t j = 0; j < fsm_nrows; j++) {
		const struct fsm_row *r = &fsm_rows[j];
		size_t base = strcspn(r->id, "@");
		if (r->kind == FSM_TRANSITION && !names_row(text, r->id)) {
			fprintf(stderr, "check_lifecycle: %.*s is walked by no lifecycle\n", (int)base,
				r->id);
			bad++;
		}
	}
	fprintf(stderr, "check_lifecycle: %s\n", bad ? "some rows of the table were not walked" :
		"every transition row of the table walked");
	free(text);
	return bad;
}

START_TEST(test_crash_after_every_transition_of_each_lifecycle_resumes_once)
{
	const char *only = getenv("DRORCH_LIFECYCLE");  /* one lifecycle, by name */
	const char *part = getenv("DRORCH_LIFECYCLE_PART");  /* K/N: index % N == K */
	int k = 0, n = 1;
	if (only && *only && !strstr(lifecycles[_i].name, only))
		return;
	if (part && sscanf(part, "%d/%d", &k, &n) == 2 && n > 0 && _i % n != k)
		return;
	walk((enum lifecycle)_i);
}
END_TEST

/* The walks take minutes, mostly waiting: unless one lifecycle or part is
 * asked for, this program runs itself three times at once, copy K walking
 * the lifecycles whose index is K modulo 3, each in its own lab. */
static const char *const parts[] = { "0/3", "1/3", "2/3", NULL };

int main(void)
{
	if (!getenv("DRORCH_LIFECYCLE") && !getenv("DRORCH_LIFECYCLE_PART")) {
		char file[] = "/tmp/check_lifecycle.walked.XXXXXX";
		int fd = mkstemp(file);
		if (fd < 0)
			return 1;
		close(fd);
		setenv("DRORCH_LIFECYCLE_WALKED", file, 1);
		int failed = th_run_copies("DRORCH_LIFECYCLE_PART", parts);
		failed = failed || check_coverage(file);  /* (only when every walk passed) */
		unlink(file);
		return failed ? 1 : 0;
	}
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("crash-resume");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 400);
	tcase_add_loop_test(tc, test_crash_after_every_transition_of_each_lifecycle_resumes_once, 0,
			    LC_COUNT);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	uint64_t t0 = time_mono_ms();
	srunner_run_all(sr, CK_NORMAL);
	if (getenv("DRORCH_LIFECYCLE_PART"))  /* which share of the walk took the time */
		fprintf(stderr, "check_lifecycle: part %s took %.1f s\n", getenv("DRORCH_LIFECYCLE_PART"),
			(double)(time_mono_ms() - t0) / 1000.0);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
