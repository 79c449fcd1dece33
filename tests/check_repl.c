/*
 * check_repl.c — end-to-end WAL shipping: three real drsite processes, roles
 * given through the admin API as the orchestrator would, primaries and
 * replicas killed (SIGKILL) or frozen (SIGSTOP) for real.  Also a primary's
 * writes paused for a switchover (case "pause") and the rewind of a
 * diverged replica (case "rewind"), including drsite killed part way
 * through it (DRORCH_TEST_REWIND_CRASH, see sites/rewind.c).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <jansson.h>

#include "base64.h"
#include "testhelp.h"
#include "timeutil.h"

static char *root;
static struct th_site A, B, C;   /* A starts as the primary */

static void setup(void)
{
	root = th_mkdtemp("check_repl");
	ck_assert_ptr_nonnull(root);
	th_site_init(&A, root, "site-a");
	th_site_init(&B, root, "site-b");
	th_site_init(&C, root, "site-c");
}

static void teardown(void)
{
	th_cleanup();  /* also wakes any SIGSTOP'd site: SIGKILL works on stopped processes */
	th_rmrf(root);
	free(root);
}

static void start(struct th_site *s, const char *const extra[])
{
	ck_assert_msg(th_site_start(s, extra), "%s did not come up; see %s", s->name, s->log);
}

/* A primary at epoch 1 with B and C streaming from it. */
static void cluster(const char *mode, int quorum, const char *const extra[])
{
	start(&A, extra);
	start(&B, extra);
	start(&C, extra);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, mode, quorum), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, mode, quorum), 200);
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, mode, quorum), 200);
}

static bool wait_applied(const struct th_site *s, long long lsn, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		if (th_site_status_int(s, NULL, "applied_lsn") >= lsn)
			return true;
		time_sleep_ms(20);
	}
	return false;
}

static void put_n(const struct th_site *s, const char *prefix, int from, int to)
{
	char key[64];
	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ck_assert_int_eq(th_site_put(s, key), 200);
	}
}

static void assert_has_n(const struct th_site *s, const char *prefix, int from, int to)
{
	char key[64];
	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ck_assert_msg(th_site_has(s, key), "%s lacks %s", s->name, key);
	}
}

/* ---- writers ------------------------------------------------------------------ */

#define WRITERS 4

struct writer {
	const struct th_site *site;
	int id;
	int acked;
	atomic_bool *stop;
};

static void *writer_main(void *p)
{
	struct writer *w = p;
	char key[64];
	while (!atomic_load(w->stop) && w->acked < 100000) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, w->acked);
		if (th_site_put(w->site, key) != 200)
			break;
		w->acked++;
	}
	return NULL;
}

static void writers_start(struct writer *w, pthread_t *t, const struct th_site *s,
			  atomic_bool *stop)
{
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .site = s, .id = i, .stop = stop };
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
}

static int writers_join(struct writer *w, pthread_t *t, atomic_bool *stop)
{
	atomic_store(stop, true);
	int total = 0;
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(t[i], NULL);
		total += w[i].acked;
	}
	return total;
}

/* ---- tests -------------------------------------------------------------------- */

START_TEST(test_sync_kill9_primary_every_acked_write_on_a_replica)
{
	cluster("sync", 1, NULL);
	atomic_bool stop = false;
	pthread_t t[WRITERS];
	struct writer w[WRITERS];
	writers_start(w, t, &A, &stop);
	time_sleep_ms(1500);
	th_kill(A.pid, SIGKILL, 5000);  /* right after a burst of acknowledged writes */
	int total = writers_join(w, t, &stop);
	ck_assert_int_gt(total, 50);
	/* The replica with the highest flushed LSN holds every acknowledged write. */
	long long lb = th_site_status_int(&B, NULL, "flushed_lsn");
	long long lc = th_site_status_int(&C, NULL, "flushed_lsn");
	const struct th_site *best = lb >= lc ? &B : &C;
	ck_assert_int_ge(lb > lc ? lb : lc, total);
	char key[64];
	for (int i = 0; i < WRITERS; i++)
		for (int k = 0; k < w[i].acked; k++) {
			snprintf(key, sizeof(key), "w%d-%d", i, k);
			ck_assert_msg(th_site_has(best, key), "acked %s lost on %s", key, best->name);
		}
}
END_TEST

START_TEST(test_async_lag_under_load_then_zero_when_idle)
{
	cluster("async", 1, NULL);
	put_n(&A, "warm", 0, 5);
	th_kill(C.pid, SIGSTOP, 0);  /* C falls behind while the load runs */
	atomic_bool stop = false;
	pthread_t t[WRITERS];
	struct writer w[WRITERS];
	writers_start(w, t, &A, &stop);
	time_sleep_ms(800);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/status", false, NULL, 0, &body, NULL), 200);
	json_t *st = json_loads(body, 0, NULL);
	free(body);
	json_t *peers = json_object_get(st, "peers");
	long long max_lag = 0;
	for (size_t i = 0; i < json_array_size(peers); i++) {
		long long lag = json_integer_value(json_object_get(json_array_get(peers, i), "lag_records"));
		max_lag = lag > max_lag ? lag : max_lag;
	}
	json_decref(st);
	ck_assert_msg(max_lag > 0, "no lag reported under load");
	kill(C.pid, SIGCONT);
	int total = writers_join(w, t, &stop);
	ck_assert_int_gt(total, 0);  /* async: writes went on while C was frozen */
	long long last = th_site_status_int(&A, NULL, "lsn");
	ck_assert(wait_applied(&B, last, 5000));
	ck_assert(wait_applied(&C, last, 5000));
	time_sleep_ms(300);
	ck_assert_int_eq(th_site_status_int(&B, "replication", "lag_records"), 0);
	ck_assert_int_eq(th_site_status_int(&C, "replication", "lag_ms"), 0);
	assert_has_n(&C, "warm", 0, 5);
}
END_TEST

START_TEST(test_old_primary_cannot_ack_after_replicas_move_to_new_epoch)
{
	const char *extra[] = { "--sync-timeout-ms", "400", NULL };
	cluster("sync", 1, extra);
	put_n(&A, "before", 0, 10);
	ck_assert(wait_applied(&B, 10, 5000));
	/* Failover without A: B is promoted at epoch 2, C follows B. */
	ck_assert_int_eq(th_site_role(&B, "primary", 2, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_role(&C, "replica", 2, &B, "sync", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "split-brain"), 503);  /* no replica of epoch 1 left */
	ck_assert_int_eq(th_site_put(&B, "after"), 200);
	ck_assert(!th_site_has(&C, "split-brain"));
	/* Commands of the old epoch are refused; a newer one fences A at once. */
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "sync", 1), 409);
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/heartbeat", true, "{\"epoch\":2}", 11,
				     NULL, NULL), 409);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 503);
	uint64_t t0 = time_mono_ms();
	ck_assert_int_eq(th_site_put(&A, "fenced"), 503);
	ck_assert_uint_lt(time_mono_ms() - t0, 300);  /* refused at once, no quorum wait */
	ck_assert_int_eq(th_site_status_int(&B, NULL, "epoch"), 2);
}
END_TEST

START_TEST(test_isolated_async_primary_stops_acking_within_lease)
{
	const char *extra[] = { "--lease-ms", "300", NULL };
	cluster("async", 1, extra);
	put_n(&A, "ok", 0, 5);
	th_kill(B.pid, SIGSTOP, 0);
	th_kill(C.pid, SIGSTOP, 0);
	uint64_t t0 = time_mono_ms(), refused_at = 0;
	while (time_mono_ms() - t0 < 3000) {
		long st = th_site_put(&A, "isolated");
		if (st == 503) {
			refused_at = time_mono_ms();
			break;
		}
		time_sleep_ms(10);
	}
	ck_assert_msg(refused_at, "isolated primary kept acknowledging writes");
	ck_assert_uint_le(refused_at - t0, 300 + 400);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 503);
	kill(B.pid, SIGCONT);
	kill(C.pid, SIGCONT);
	/* Contact from its replicas renews the lease: writes resume.  (One
	 * 200 is the proof: a second write right after may find the 300 ms
	 * lease lapsed again on a box the sanitizers slow down.) */
	uint64_t deadline = time_mono_ms() + 5000;
	long st;
	while ((st = th_site_put(&A, "healed")) != 200 && time_mono_ms() < deadline)
		time_sleep_ms(20);
	ck_assert_int_eq(st, 200);
}
END_TEST

START_TEST(test_replica_catches_up_after_restart)
{
	cluster("sync", 1, NULL);
	put_n(&A, "a", 0, 20);
	th_kill(B.pid, SIGKILL, 5000);
	put_n(&A, "b", 0, 200);  /* C alone makes the quorum */
	start(&B, NULL);          /* restarts as a replica of A: state.json */
	long long last = th_site_status_int(&A, NULL, "lsn");
	ck_assert(wait_applied(&B, last, 10000));
	assert_has_n(&B, "a", 0, 20);
	assert_has_n(&B, "b", 0, 200);
	ck_assert_int_eq(th_site_put(&B, "on-replica"), 503);  /* replicas take no writes */
}
END_TEST

START_TEST(test_snapshot_catch_up_after_checkpoints)
{
	const char *extra[] = { "--segment-bytes", "8192", NULL };
	cluster("sync", 1, extra);
	put_n(&A, "old", 0, 30);
	th_kill(C.pid, SIGKILL, 5000);
	put_n(&A, "mid", 0, 300);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/checkpoint", true, "{}", 2,
				     &body, NULL), 200);
	free(body);
	ck_assert_int_gt(th_site_status_int(&A, "wal", "oldest_lsn"), 31);  /* C's gap is gone */
	/* A restarts too, so nothing of C's gap is left even in A's memory. */
	th_kill(A.pid, SIGKILL, 5000);
	start(&A, extra);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	start(&C, extra);
	long long last = th_site_status_int(&A, NULL, "lsn");
	ck_assert(wait_applied(&C, last, 10000));
	ck_assert_int_ge(th_site_status_int(&C, "replication", "snapshots"), 1);
	assert_has_n(&C, "old", 0, 30);
	assert_has_n(&C, "mid", 0, 300);
	put_n(&A, "new", 0, 10);  /* and streams on after the snapshot */
	ck_assert(wait_applied(&C, last + 10, 5000));
	assert_has_n(&C, "new", 0, 10);
	/* C restarts from its installed snapshot and WAL. */
	th_kill(C.pid, SIGKILL, 5000);
	start(&C, extra);
	assert_has_n(&C, "old", 0, 30);
	assert_has_n(&C, "new", 0, 10);
}
END_TEST

START_TEST(test_admin_api_needs_token_and_checks_input)
{
	start(&A, NULL);
	const char *role = "{\"role\":\"primary\",\"epoch\":3}";
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/admin/role", A.base);
	ck_assert_int_eq(th_http("POST", url, NULL, role, strlen(role), NULL, NULL), 401);
	ck_assert_int_eq(th_http("POST", url, "wrong-token-xxxxxxxx", role, strlen(role), NULL, NULL), 401);
	char *out = NULL;
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/role", true, "{\"role\":\"boss\",\"epoch\":1}",
				     25, &out, NULL), 400);
	ck_assert_ptr_nonnull(strstr(out, "role"));
	free(out);
	const char *no_primary = "{\"role\":\"replica\",\"epoch\":1}";
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/role", true, no_primary,
				     strlen(no_primary), &out, NULL), 400);
	ck_assert_ptr_nonnull(strstr(out, "primary"));
	free(out);
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/role", true, "{bad", 4, NULL, NULL), 400);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 0);  /* nothing changed */
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/role", true, role, strlen(role),
				     NULL, NULL), 200);
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 1), 409);
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/fence", true, "{\"epoch\":2}", 11,
				     NULL, NULL), 409);
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/fence", true, "{\"epoch\":4}", 11,
				     NULL, NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "x"), 503);
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/nope", true, "{}", 2, NULL, NULL), 404);
}
END_TEST

START_TEST(test_restarted_primary_is_read_only_until_confirmed)
{
	start(&A, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);
	ck_assert_int_eq(th_site_put(&A, "k1"), 200);
	th_kill(A.pid, SIGKILL, 5000);
	start(&A, NULL);
	ck_assert(th_site_has(&A, "k1"));
	ck_assert_int_eq(th_site_put(&A, "k2"), 503);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 503);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);  /* confirmed */
	ck_assert_int_eq(th_site_put(&A, "k2"), 200);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 200);
}
END_TEST

START_TEST(test_json_framing_replicates_the_same_bytes)
{
	const char *json[] = { "--repl-encoding", "json", NULL };
	start(&A, NULL);
	start(&B, json);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "remote_apply", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "remote_apply", 1), 200);
	put_n(&A, "j", 0, 50);  /* binary values; remote_apply: on B once acked */
	assert_has_n(&B, "j", 0, 50);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&B, "GET", "/v1/status", false, NULL, 0, &body, NULL), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"encoding\":\"json\""));
	free(body);
	ck_assert_int_eq(th_site_req(&B, "GET", "/replica?lag=1000", false, NULL, 0, NULL, NULL), 200);
	ck_assert_int_eq(th_site_req(&A, "GET", "/replica", false, NULL, 0, NULL, NULL), 503);
}
END_TEST

START_TEST(test_deposed_primary_with_extra_records_is_refused_as_diverged)
{
	const char *extra[] = { "--lease-ms", "10000", NULL };
	cluster("async", 1, extra);
	put_n(&A, "common", 0, 5);
	ck_assert(wait_applied(&B, 5, 5000));
	ck_assert(wait_applied(&C, 5, 5000));
	/* The replicas die; A acknowledges one more write (async, within its lease)
	 * and then freezes, so no replica ever receives that record. */
	th_kill(B.pid, SIGKILL, 5000);
	th_kill(C.pid, SIGKILL, 5000);
	ck_assert_int_eq(th_site_put(&A, "only-on-a"), 200);
	th_kill(A.pid, SIGSTOP, 0);
	start(&B, extra);
	start(&C, extra);
	ck_assert_int_eq(th_site_role(&B, "primary", 2, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&C, "replica", 2, &B, "async", 1), 200);
	put_n(&B, "new", 0, 3);
	kill(A.pid, SIGCONT);
	ck_assert_int_eq(th_site_role(&A, "replica", 2, &B, "async", 1), 200);
	uint64_t deadline = time_mono_ms() + 5000;
	char *body = NULL;
	bool refused = false;
	while (!refused && time_mono_ms() < deadline) {
		free(body);
		body = NULL;
		th_site_req(&A, "GET", "/v1/status", false, NULL, 0, &body, NULL);
		refused = body && strstr(body, "diverged at lsn 6");
		time_sleep_ms(50);
	}
	free(body);
	ck_assert_msg(refused, "A's divergent record was not detected");
	ck_assert(!th_site_has(&A, "new0"));  /* nothing applied on top of the divergence */
	ck_assert(wait_applied(&C, 8, 5000));  /* C may still be flushing B's records */
	ck_assert(th_site_has(&C, "new2"));
	ck_assert(!th_site_has(&B, "only-on-a"));
}
END_TEST

static long faults(const struct th_site *s, const char *body)
{
	return th_site_req(s, "POST", "/v1/admin/faults", true, body, strlen(body), NULL, NULL);
}

/*
 * Replicas whose every shipment takes 1.5 s to fsync, past the primary's
 * 400 ms lease, still follow: their vouches keep the async primary writable
 * (before them, a fetch renewed the lease only after the apply, and the
 * primary refused writes with no one about to replace it).  replica_extra:
 * the replicas' options (their own lease may be longer: they vouch at a
 * quarter of the primary's, which its answers carry).
 */
static void slow_replicas_keep_the_lease(const char *const replica_extra[])
{
	const char *primary_extra[] = { "--enable-faults", "--lease-ms", "400", NULL };
	start(&A, primary_extra);
	start(&B, replica_extra);
	start(&C, replica_extra);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "async", 1), 200);
	put_n(&A, "ok", 0, 3);
	ck_assert(wait_applied(&B, 3, 5000) && wait_applied(&C, 3, 5000));
	ck_assert_int_eq(faults(&B, "{\"slow_fsync_ms\":1500}"), 200);
	ck_assert_int_eq(faults(&C, "{\"slow_fsync_ms\":1500}"), 200);
	int refused = 0, acked = 0;
	for (uint64_t end = time_mono_ms() + 2500; time_mono_ms() < end; time_sleep_ms(50)) {
		char key[32];
		snprintf(key, sizeof(key), "slow-%d", acked + refused);
		if (th_site_put(&A, key) == 200)
			acked++;
		else
			refused++;
	}
	ck_assert_msg(refused == 0, "the primary refused %d of %d writes", refused, acked + refused);
	ck_assert_int_gt(th_site_status_int(&B, "replication", "vouches") +
			 th_site_status_int(&C, "replication", "vouches"), 0);
	ck_assert_int_eq(faults(&B, "{\"clear\":true}"), 200);
	ck_assert_int_eq(faults(&C, "{\"clear\":true}"), 200);
	ck_assert(wait_applied(&B, 3 + acked, 10000));
}

START_TEST(test_replicas_applying_on_a_slow_disk_keep_the_lease)
{
	const char *same[] = { "--enable-faults", "--lease-ms", "400", NULL };
	slow_replicas_keep_the_lease(same);
}
END_TEST

START_TEST(test_replicas_with_a_longer_lease_vouch_at_the_primarys)
{
	const char *longer[] = { "--enable-faults", "--lease-ms", "4000", NULL };
	slow_replicas_keep_the_lease(longer);
}
END_TEST

START_TEST(test_fault_injection_for_drills)
{
	const char *extra[] = { "--enable-faults", "--sync-timeout-ms", "400", NULL };
	start(&A, extra);
	start(&B, extra);
	start(&C, NULL);
	ck_assert_int_eq(faults(&C, "{\"slow_fsync_ms\":100}"), 404);  /* not enabled */
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "sync", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "fast"), 200);
	ck_assert_int_eq(faults(&A, "{\"slow_fsync_ms\":300}"), 200);
	uint64_t t0 = time_mono_ms();
	ck_assert_int_eq(th_site_put(&A, "slow"), 200);
	ck_assert_uint_ge(time_mono_ms() - t0, 300);  /* a grey failure: slow but alive */
	ck_assert_int_eq(th_site_req(&A, "GET", "/healthz", false, NULL, 0, NULL, NULL), 200);
	ck_assert_int_eq(faults(&A, "{\"clear\":true, \"drop_replication\":true}"), 200);
	ck_assert_int_eq(th_site_put(&A, "unreplicated"), 503);  /* sync quorum unreachable */
	ck_assert_int_eq(faults(&A, "{\"drop_replication\":false}"), 200);
	/* B retries with backoff (up to 1 s): give it time to stream again. */
	uint64_t deadline = time_mono_ms() + 3000;
	while (th_site_put(&A, "replicated") != 200 && time_mono_ms() < deadline)
		time_sleep_ms(50);
	ck_assert_int_eq(th_site_put(&A, "replicated"), 200);
	ck_assert_int_eq(faults(&A, "{\"slow_fsync\":1}"), 400);
	ck_assert_int_eq(faults(&A, "{\"stall_writes\":3}"), 400);
}
END_TEST

/* GET /v1/wal as a replica named name would; returns the status. */
static long fetch(const struct th_site *s, const char *query, char **out)
{
	char path[512];
	snprintf(path, sizeof(path), "/v1/wal?%s", query);
	return th_site_req(s, "GET", path, true, NULL, 0, out, NULL);
}

START_TEST(test_refused_fetch_acks_nothing_and_renews_no_lease)
{
	const char *extra[] = { "--sync-timeout-ms", "400", NULL };
	start(&A, extra);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "alone"), 503);  /* no replica: no quorum */
	/* A ghost asks far beyond A's end: refused, and must count for nothing. */
	ck_assert_int_eq(fetch(&A, "from=1000000&epoch=1&replica=ghost&confirmed=1", NULL), 409);
	ck_assert_int_eq(th_site_put(&A, "after-ghost"), 503);
	/* Numbers past 2^64 are refused, not clamped to 2^64 - 1. */
	ck_assert_int_eq(fetch(&A, "from=18446744073709551616&epoch=1&replica=ghost", NULL), 400);
	ck_assert_int_eq(fetch(&A, "from=2&epoch=99999999999999999999&replica=ghost", NULL), 400);
	/* Nor is a sign or a space read past as strtoull(3) would. */
	ck_assert_int_eq(fetch(&A, "from=%2B2&epoch=1&replica=ghost", NULL), 400);
	ck_assert_int_eq(fetch(&A, "from=2&epoch=%201&replica=ghost", NULL), 400);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/status", false, NULL, 0, &body, NULL), 200);
	ck_assert_msg(strstr(body, "\"peers\":[]"), "a refused fetch left a peer: %s", body);
	free(body);
	/* A diverged replica is refused too and acks nothing. */
	ck_assert_int_eq(fetch(&A, "from=2&epoch=1&replica=ghost&prev_epoch=7&confirmed=1", NULL),
			 409);
	ck_assert_int_eq(th_site_put(&A, "after-diverged"), 503);
}
END_TEST

struct bg_put {
	const struct th_site *site;
	const char *key;
	pthread_t t;
};

static void *bg_put_main(void *p)
{
	struct bg_put *b = p;
	th_site_put(b->site, b->key);  /* the site is killed under it: any outcome */
	return NULL;
}

static void bg_put(struct bg_put *b, const struct th_site *s, const char *key)
{
	*b = (struct bg_put){ .site = s, .key = key };
	pthread_create(&b->t, NULL, bg_put_main, b);
}

/*
 * Records are shipped before the primary's own fsync.  A primary killed with
 * one in flight restarts without it, is re-confirmed at the same epoch and
 * writes another record at that LSN: same LSN, same epoch, different
 * record.  The replica holding the old one must be refused as diverged, not
 * counted as an ack of the new one (which it does not have).
 */
START_TEST(test_primary_restarted_behind_its_replica_fences_itself)
{
	const char *faulty[] = { "--enable-faults", "--sync-timeout-ms", "500", NULL };
	start(&A, faulty);
	start(&C, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "sync", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "k"), 200);  /* lsn 1 */
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/faults", true,
				     "{\"slow_fsync_ms\":5000}", 22, NULL, NULL), 200);
	struct bg_put p1, p2;
	bg_put(&p1, &A, "other");  /* lsn 2: written, its fsync held back */
	time_sleep_ms(300);
	bg_put(&p2, &A, "k2");     /* lsn 3: in memory only, shipped to C */
	ck_assert(wait_applied(&C, 3, 5000));
	th_kill(A.pid, SIGKILL, 5000);
	pthread_join(p1.t, NULL);
	pthread_join(p2.t, NULL);
	start(&A, faulty);
	long long last = th_site_status_int(&A, NULL, "lsn");
	ck_assert_int_lt(last, 3);  /* lsn 3 never reached A's disk */
	/* C asks A for records after its lsn 3, of A's own epoch: A lost
	 * records of its epoch, so it is not the source of truth.  It fences
	 * itself and refuses to be confirmed at that epoch; C, holding more,
	 * is not called diverged (it must never be rewound to A's log). */
	ck_assert_msg(th_site_wait_status(&A, "\"behind\"", 5000), "A did not notice; see %s",
		      A.log);
	char role[32];
	ck_assert_str_eq(th_site_status_str(&A, "role", role, sizeof(role)), "fenced");
	ck_assert_int_ge(th_site_status_int(&A, "behind", "need_lsn"), 3);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 409);
	ck_assert_int_eq(th_site_put(&A, "rewrite"), 503);
	ck_assert(!th_site_wait_status(&C, "diverged_lsn", 500));
	ck_assert(th_site_has(&C, "k2"));
	/* A newer epoch is the orchestrator's decision: C is promoted, A
	 * follows it and fetches what it lacks. */
	ck_assert_int_eq(th_site_role(&C, "primary", 2, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&A, "replica", 2, &C, "async", 1), 200);
	ck_assert(wait_applied(&A, 3, 5000));
	ck_assert(th_site_has(&A, "k2"));
	ck_assert(!th_site_wait_status(&A, "\"behind\"", 200));
}
END_TEST

START_TEST(test_fenced_site_takes_a_role_at_the_epoch_it_learnt)
{
	start(&A, NULL);
	start(&B, NULL);
	ck_assert_int_eq(th_site_role(&A, "replica", 1, &B, "async", 1), 200);
	/* The orchestrator's heartbeat at epoch 2 arrives before the role command. */
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/heartbeat", true, "{\"epoch\":2}", 11,
				     NULL, NULL), 409);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/status", false, NULL, 0, &body, NULL), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"role\":\"fenced\""));
	free(body);
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "at-2"), 200);
	ck_assert_int_eq(th_site_role(&A, "replica", 2, &B, "async", 1), 409);  /* taken */
	/* Fenced at its own epoch, it may again be given a role at that epoch. */
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/fence", true, "{\"epoch\":2}", 11,
				     NULL, NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "fenced"), 503);
	ck_assert_int_eq(th_site_role(&A, "replica", 2, &B, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 409);
}
END_TEST

START_TEST(test_unconfirmed_replica_does_not_renew_the_lease)
{
	start(&A, NULL);
	start(&C, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "streamed"), 200);
	/* C dies; the orchestrator cannot reach A and has moved on.  A is cut off. */
	th_kill(C.pid, SIGKILL, 5000);
	time_sleep_ms(800);
	ck_assert_int_eq(th_site_put(&A, "cut-off"), 503);
	/* C restarts from its state.json: it streams from A again, unconfirmed. */
	start(&C, NULL);
	ck_assert(th_site_wait_status(&C, "\"state\":\"streaming\"", 5000));
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lsn"), 1);
	time_sleep_ms(200);
	ck_assert_int_eq(th_site_put(&A, "renewed-by-unconfirmed"), 503);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 503);
	/* Once the orchestrator confirms C, its fetches renew A's lease again. */
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "async", 1), 200);
	uint64_t deadline = time_mono_ms() + 3000;
	while (th_site_put(&A, "renewed") != 200 && time_mono_ms() < deadline)
		time_sleep_ms(50);
	ck_assert_int_eq(th_site_put(&A, "renewed"), 200);
}
END_TEST

START_TEST(test_sync_modes_need_a_quorum_of_at_least_one)
{
	start(&A, NULL);
	char *out = NULL;
	const char *sync0 = "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"sync\",\"quorum\":0}";
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/role", true, sync0, strlen(sync0),
				     &out, NULL), 400);
	ck_assert_ptr_nonnull(strstr(out, "quorum"));
	free(out);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "remote_apply", 0), 400);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 0);  /* nothing changed */
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);
}
END_TEST

struct putter {
	const struct th_site *site;
	int id, n, ok;
	pthread_t t;
};

static void *putter_main(void *p)
{
	struct putter *w = p;
	char key[32];
	for (int i = 0; i < w->n; i++) {
		snprintf(key, sizeof(key), "s%d-%d", w->id, i);
		w->ok += th_site_put(w->site, key) == 200;
	}
	return NULL;
}

/* Sync writers each wait for their own LSN: an ack wakes only those it
 * completes, and a role command (here the quorum lowered at the same epoch)
 * wakes them all to look again, well before their sync timeout. */
START_TEST(test_waiting_sync_writers_are_woken_when_the_quorum_changes)
{
	const char *extra[] = { "--lease-ms", "60000", "--sync-timeout-ms", "30000", NULL };
	cluster("sync", 2, extra);
	put_n(&A, "both-", 0, 5);  /* both replicas stream and ack */
	th_kill(C.pid, SIGSTOP, 0);
	struct putter p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (struct putter){ .site = &A, .id = i, .n = 1 };
		pthread_create(&p[i].t, NULL, putter_main, &p[i]);
	}
	time_sleep_ms(500);  /* held: only B acks, quorum 2 */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(p[i].ok, 0);
	uint64_t t0 = time_mono_ms();
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	for (int i = 0; i < 4; i++) {
		pthread_join(p[i].t, NULL);
		ck_assert_int_eq(p[i].ok, 1);
	}
	ck_assert_uint_lt(time_mono_ms() - t0, 5000);
	th_kill(C.pid, SIGCONT, 0);
	put_n(&A, "after-", 0, 20);  /* many acks, each waking only its writer */
	assert_has_n(&B, "after-", 0, 20);
}
END_TEST

/* Caps a running process's address space at its current size + extra_mb. */
static void cap_memory(pid_t pid, long extra_mb)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	unsigned long long vm_kb = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &vm_kb) == 1)
			break;
	fclose(f);
	ck_assert_uint_gt(vm_kb, 0);
	rlim_t cap = (rlim_t)(vm_kb * 1024ull + (unsigned long long)extra_mb * 1024 * 1024);
	struct rlimit rl = { .rlim_cur = cap, .rlim_max = cap };
	ck_assert_int_eq(prlimit(pid, RLIMIT_AS, &rl, NULL), 0);
}

/* A JSON-framed batch of many small records must not be sized as if each
 * record were the largest possible (1 MiB): 3000 records asked for 3 GB. */
START_TEST(test_json_catch_up_of_many_small_records_fits_in_memory)
{
	const char *lease[] = { "--lease-ms", "60000", NULL };
	const char *json[] = { "--repl-encoding", "json", NULL };
	start(&A, lease);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	struct putter p[8];
	for (int i = 0; i < 8; i++) {
		p[i] = (struct putter){ .site = &A, .id = i, .n = 375 };
		pthread_create(&p[i].t, NULL, putter_main, &p[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(p[i].t, NULL);
		ck_assert_int_eq(p[i].ok, p[i].n);
	}
	long long last = th_site_status_int(&A, NULL, "lsn");
	ck_assert_int_eq(last, 3000);
	start(&C, json);
	cap_memory(C.pid, 1024);  /* plenty for 3000 small records, not for 3 GB */
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "async", 1), 200);
	ck_assert_msg(wait_applied(&C, last, 10000), "C did not catch up; see %s", C.log);
	ck_assert(th_site_has(&C, "s7-374"));
}
END_TEST

/* A replica that streamed a standalone site's records (epoch 0) has
 * {"epoch":0,...} first in its epoch history: it must still restart. */
START_TEST(test_replica_of_a_former_standalone_restarts)
{
	start(&A, NULL);
	start(&B, NULL);
	ck_assert_int_eq(th_site_put(&A, "standalone"), 200);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "async", 1), 200);
	ck_assert(wait_applied(&B, 1, 5000));
	th_kill(B.pid, SIGKILL, 5000);
	start(&B, NULL);
	ck_assert(th_site_has(&B, "standalone"));
	ck_assert(th_site_wait_status(&B, "\"epoch_history\":[{\"epoch\":0,\"first_lsn\":1}", 1000));
}
END_TEST

/* ---- paused writes (switchover) ------------------------------------------------------- */

static long role_body(const struct th_site *s, const char *body, char **out)
{
	return th_site_req(s, "POST", "/v1/admin/role", true, body, strlen(body), out, NULL);
}

static bool wait_flushed(const struct th_site *s, long long lsn, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		if (th_site_status_int(s, NULL, "flushed_lsn") >= lsn)
			return true;
		time_sleep_ms(20);
	}
	return false;
}

START_TEST(test_paused_primary_refuses_writes_but_ships_its_log)
{
	start(&A, NULL);
	start(&B, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "sync", 1), 200);
	put_n(&A, "before", 0, 10);
	atomic_bool stop = false;
	pthread_t t[WRITERS];
	struct writer w[WRITERS];
	writers_start(w, t, &A, &stop);
	time_sleep_ms(300);  /* the pause lands among sync writes in flight */
	const char *pause = "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"sync\",\"quorum\":1,"
			    "\"writes\":\"paused\"}";
	char *out = NULL;
	ck_assert_int_eq(role_body(&A, pause, &out), 200);
	ck_assert_ptr_nonnull(strstr(out, "\"writes\":\"paused\""));
	free(out);
	long long last = th_site_status_int(&A, NULL, "lsn");
	int total = writers_join(w, t, &stop);  /* each writer stops at its first 503 */
	ck_assert_int_gt(total, 0);
	out = NULL;
	ck_assert_int_eq(th_site_req(&A, "PUT", "/v1/kv/paused", false, "x", 1, &out, NULL), 503);
	ck_assert_msg(strstr(out, "writes paused for a switchover"), "%s", out);
	free(out);
	ck_assert_int_eq(th_site_req(&A, "DELETE", "/v1/kv/before0", false, NULL, 0, NULL, NULL),
			 503);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 503);
	ck_assert(th_site_wait_status(&A, "\"writes\":\"paused\"", 1000));
	/* No client write reached the log once the pause was answered, and the
	 * replica still gets (and acks) everything up to the primary's end. */
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lsn"), last);
	ck_assert_msg(wait_flushed(&B, last, 5000), "B did not reach the paused primary's lsn");
	char key[64];
	for (int i = 0; i < WRITERS; i++)
		for (int k = 0; k < w[i].acked; k++) {
			snprintf(key, sizeof(key), "w%d-%d", i, k);
			ck_assert_msg(th_site_has(&B, key), "acked %s is not on B", key);
		}
	ck_assert(th_site_has(&A, "before0"));  /* reads go on */
	/* A role command without the field reopens. */
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "reopened"), 200);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 200);
	ck_assert(th_site_wait_status(&A, "\"writes\":\"open\"", 1000));
	ck_assert(th_site_has(&B, "reopened"));
}
END_TEST

START_TEST(test_pause_checks_its_input)
{
	start(&A, NULL);
	start(&B, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	char *out = NULL;
	ck_assert_int_eq(role_body(&A, "{\"role\":\"primary\",\"epoch\":1,\"writes\":\"closed\"}",
				   &out), 400);
	ck_assert_ptr_nonnull(strstr(out, "writes"));
	free(out);
	ck_assert_int_eq(role_body(&A, "{\"role\":\"primary\",\"epoch\":1,\"writes\":true}", NULL),
			 400);
	char body[256];
	snprintf(body, sizeof(body), "{\"role\":\"replica\",\"epoch\":1,\"primary\":\"%s\","
		 "\"writes\":\"paused\"}", A.listen);
	ck_assert_int_eq(role_body(&B, body, NULL), 400);  /* only a primary pauses */
	ck_assert_int_eq(th_site_put(&A, "still-open"), 200);
	ck_assert_int_eq(role_body(&A, "{\"role\":\"primary\",\"epoch\":1,\"writes\":\"paused\"}",
				   NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "x"), 503);
	/* A fence ends the pause with the primary role; so does a newer epoch. */
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/fence", true, "{\"epoch\":2}", 11,
				     NULL, NULL), 200);
	ck_assert(th_site_wait_status(&A, "\"writes\":\"open\"", 1000));
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "at-2"), 200);
}
END_TEST

/* ---- rewind (failback) ---------------------------------------------------------------- */

static const char *const long_lease[] = { "--lease-ms", "10000", NULL };

/*
 * A is the primary of epoch 1, B its replica; `common` writes reach both.
 * B dies; A acknowledges `extra` writes alone (async, within a long lease;
 * with a_args it may checkpoint them away too) and is killed.  B returns as
 * the primary of epoch 2 and takes `fresh` writes; A returns as B's
 * replica at epoch 2, and B refuses its log as diverged.
 */
static void diverge(int common, int extra, int fresh, const char *const a_args[],
		    bool checkpoint)
{
	start(&A, a_args);
	start(&B, long_lease);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "async", 1), 200);
	put_n(&A, "common", 0, common);
	ck_assert(wait_applied(&B, common, 5000));
	th_kill(B.pid, SIGKILL, 5000);
	put_n(&A, "only-a", 0, extra);
	if (checkpoint)
		ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/checkpoint", true, "{}", 2,
					     NULL, NULL), 200);
	th_kill(A.pid, SIGKILL, 5000);
	start(&B, long_lease);
	ck_assert_int_eq(th_site_role(&B, "primary", 2, NULL, "async", 1), 200);
	put_n(&B, "new", 0, fresh);
	start(&A, a_args);
	ck_assert_int_eq(th_site_role(&A, "replica", 2, &B, "async", 1), 200);
	ck_assert_msg(th_site_wait_status(&A, "\"diverged_lsn\"", 5000), "A was not refused as "
		      "diverged; see %s", A.log);
}

static long post_rewind(const struct th_site *s, const char *body, json_t **answer)
{
	char *out = NULL;
	long st = th_site_req(s, "POST", "/v1/admin/rewind", true, body, body ? strlen(body) : 0,
			      &out, NULL);
	if (answer)
		*answer = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	return st;
}

/* Checks that the quarantine file holds exactly `n` records, the puts of
 * prefix0.. at LSNs from first_lsn on, of epoch 1, with their values;
 * counts the lines from each source. */
static void check_quarantine(const char *path, const char *prefix, int n, long long first_lsn,
			     int *from_wal, int *from_checkpoint)
{
	size_t len = 0;
	char *text = th_read_file(path, &len);
	ck_assert_msg(text, "no quarantine file %s", path);
	int lines = 0;
	*from_wal = *from_checkpoint = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		json_t *r = json_loads(line, 0, NULL);
		ck_assert_msg(r, "bad quarantine line: %s", line);
		char key[64], want[512];
		snprintf(key, sizeof(key), "%s%d", prefix, lines);
		size_t want_len = th_value_for(key, want, sizeof(want)), got_len = 0;
		unsigned char *got = base64_decode(json_string_value(json_object_get(r, "value")),
						   &got_len);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "lsn")), first_lsn + lines);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "epoch")), 1);
		ck_assert_str_eq(json_string_value(json_object_get(r, "type")), "put");
		ck_assert_str_eq(json_string_value(json_object_get(r, "key")), key);
		ck_assert(got && got_len == want_len && memcmp(got, want, want_len) == 0);
		ck_assert(json_is_integer(json_object_get(r, "crc")));
		const char *src = json_string_value(json_object_get(r, "source"));
		ck_assert(src);
		*from_wal += strcmp(src, "wal") == 0;
		*from_checkpoint += strcmp(src, "checkpoint") == 0;
		free(got);
		json_decref(r);
	}
	ck_assert_int_eq(lines, n);
	free(text);
}

/* A follows B again: it has all of B's keys, and none of prefix0..n-1. */
static void check_follows_b(int common, int fresh, int extra)
{
	put_n(&B, "after", 0, 5);
	long long last = th_site_status_int(&B, NULL, "lsn");
	ck_assert_msg(wait_applied(&A, last, 10000), "A did not catch up with B; see %s", A.log);
	assert_has_n(&A, "common", 0, common);
	assert_has_n(&A, "new", 0, fresh);
	assert_has_n(&A, "after", 0, 5);
	char path[64];
	for (int i = 0; i < extra; i++) {
		snprintf(path, sizeof(path), "/v1/kv/only-a%d", i);
		ck_assert_int_eq(th_site_req(&A, "GET", path, false, NULL, 0, NULL, NULL), 404);
	}
	ck_assert(th_site_wait_status(&A, "\"state\":\"streaming\"", 5000));
}

START_TEST(test_rewind_quarantines_divergent_records_then_streams)
{
	diverge(10, 5, 3, long_lease, false);  /* A asks beyond B's end */
	json_t *ans = NULL;
	ck_assert_int_eq(post_rewind(&A, "{\"epoch\":2}", &ans), 200);
	const char *path = json_string_value(json_object_get(ans, "quarantine"));
	ck_assert_ptr_nonnull(path);
	ck_assert_ptr_nonnull(strstr(path, "/quarantine/diverged-2-11.jsonl"));
	ck_assert_int_eq(json_integer_value(json_object_get(ans, "records")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(ans, "from_lsn")), 11);
	ck_assert_int_eq(json_integer_value(json_object_get(ans, "epoch")), 2);
	int wal = 0, folded = 0;
	check_quarantine(path, "only-a", 5, 11, &wal, &folded);
	ck_assert_int_eq(wal, 5);
	check_follows_b(10, 3, 5);
	char needle[1200];
	snprintf(needle, sizeof(needle), "\"last_rewind\":{\"quarantine\":\"%s\"", path);
	ck_assert(th_site_wait_status(&A, needle, 1000));
	/* The audit still finds it after a restart. */
	th_kill(A.pid, SIGKILL, 5000);
	start(&A, long_lease);
	ck_assert(th_site_wait_status(&A, needle, 1000));
	ck_assert(th_site_has(&A, "after4"));
	json_decref(ans);
}
END_TEST

START_TEST(test_rewind_exports_records_a_checkpoint_folded)
{
	const char *small[] = { "--lease-ms", "10000", "--segment-bytes", "4096", NULL };
	diverge(10, 40, 3, small, true);
	ck_assert_int_gt(th_site_status_int(&A, "wal", "oldest_lsn"), 11);  /* folded */
	json_t *ans = NULL;
	ck_assert_int_eq(post_rewind(&A, "{\"epoch\":2}", &ans), 200);
	const char *path = json_string_value(json_object_get(ans, "quarantine"));
	ck_assert_int_eq(json_integer_value(json_object_get(ans, "records")), 40);
	int wal = 0, folded = 0;
	check_quarantine(path, "only-a", 40, 11, &wal, &folded);
	ck_assert_int_gt(folded, 0);
	check_follows_b(10, 3, 40);
	json_decref(ans);
}
END_TEST

static const char *const crash_points[] = { "after_quarantine", "after_intent", "after_install" };

/* drsite is killed at a step of the rewind; restarted, it serves either its
 * old state (and a new rewind writes the same quarantine file) or has
 * finished the rewind; the quarantine file is always there. */
START_TEST(test_rewind_killed_part_way_recovers)
{
	const char *point = crash_points[_i];
	setenv("DRORCH_TEST_REWIND_CRASH", point, 1);
	diverge(10, 2, 3, long_lease, false);  /* B refuses "diverged at lsn 12" */
	ck_assert(th_site_wait_status(&A, "diverged at lsn 12", 5000));
	ck_assert_int_eq(post_rewind(&A, "{\"epoch\":2}", NULL), 0);  /* killed: no answer */
	int status = th_wait_exit(A.pid, 5000);
	ck_assert_msg(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "%s: drsite was not killed at the crash point", point);
	unsetenv("DRORCH_TEST_REWIND_CRASH");
	char path[1100];
	snprintf(path, sizeof(path), "%s/quarantine/diverged-2-11.jsonl", A.data);
	size_t len = 0;
	char *before = th_read_file(path, &len);
	ck_assert_msg(before, "%s: quarantine file lost", point);
	start(&A, long_lease);
	int wal = 0, folded = 0;
	if (_i == 0) {  /* crashed before the intent: the old state, refused again */
		ck_assert(th_site_has(&A, "only-a1"));
		ck_assert(th_site_wait_status(&A, "\"diverged_lsn\"", 5000));
		json_t *ans = NULL;
		ck_assert_int_eq(post_rewind(&A, "{\"epoch\":2}", &ans), 200);
		ck_assert_int_eq(json_integer_value(json_object_get(ans, "records")), 2);
		json_decref(ans);
	} else {        /* committed: the restart finished it */
		ck_assert(th_site_wait_status(&A, "\"last_rewind\"", 1000));
		ck_assert_int_eq(post_rewind(&A, "{\"epoch\":2}", NULL), 409);
	}
	size_t len2 = 0;
	char *after = th_read_file(path, &len2);
	ck_assert(after && len2 == len && memcmp(before, after, len) == 0);
	check_quarantine(path, "only-a", 2, 11, &wal, &folded);
	check_follows_b(10, 3, 2);
	ck_assert(th_site_wait_status(&A, "diverged-2-11.jsonl", 1000));
	free(before);
	free(after);
}
END_TEST

START_TEST(test_rewind_checks_its_input_and_the_sites_state)
{
	start(&A, NULL);
	start(&B, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 2, &A, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "k"), 200);
	ck_assert(wait_applied(&B, 1, 5000));
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/admin/rewind", B.base);
	ck_assert_int_eq(th_http("POST", url, NULL, "{\"epoch\":2}", 11, NULL, NULL), 401);
	ck_assert_int_eq(post_rewind(&B, "{bad", NULL), 400);
	ck_assert_int_eq(post_rewind(&B, "{\"epoch\":0}", NULL), 400);
	ck_assert_int_eq(post_rewind(&B, "{\"epoch\":\"2\"}", NULL), 400);
	ck_assert_int_eq(post_rewind(&B, NULL, NULL), 400);
	ck_assert_int_eq(th_site_req(&B, "GET", "/v1/admin/rewind", true, NULL, 0, NULL, NULL), 405);
	char *out = NULL;
	ck_assert_int_eq(th_site_req(&B, "POST", "/v1/admin/rewind", true, "{\"epoch\":2}", 11,
				     &out, NULL), 409);  /* streaming: nothing to rewind */
	ck_assert_msg(strstr(out, "nothing to rewind"), "%s", out);
	free(out);
	out = NULL;
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/admin/rewind", true, "{\"epoch\":2}", 11,
				     &out, NULL), 409);  /* a primary */
	ck_assert_msg(strstr(out, "only a replica"), "%s", out);
	free(out);
	ck_assert_int_eq(post_rewind(&B, "{\"epoch\":1}", NULL), 409);  /* older epoch */
	ck_assert_int_eq(th_site_status_int(&B, NULL, "lsn"), 1);  /* nothing changed */
	ck_assert(th_site_has(&B, "k"));
	ck_assert_int_eq(post_rewind(&B, "{\"epoch\":3}", NULL), 409);  /* newer: fences B */
	ck_assert(th_site_wait_status(&B, "\"role\":\"fenced\"", 1000));
	ck_assert(th_site_has(&B, "k"));
}
END_TEST

static Suite *repl_suite(void)
{
	Suite *s = suite_create("repl");
	TCase *tc = th_tcase(s, "repl", 0, 90, setup, teardown);
	tcase_add_test(tc, test_sync_kill9_primary_every_acked_write_on_a_replica);
	tcase_add_test(tc, test_async_lag_under_load_then_zero_when_idle);
	tcase_add_test(tc, test_old_primary_cannot_ack_after_replicas_move_to_new_epoch);
	tcase_add_test(tc, test_isolated_async_primary_stops_acking_within_lease);
	tcase_add_test(tc, test_replicas_applying_on_a_slow_disk_keep_the_lease);
	tcase_add_test(tc, test_replica_catches_up_after_restart);
	tcase_add_test(tc, test_snapshot_catch_up_after_checkpoints);
	tcase_add_test(tc, test_admin_api_needs_token_and_checks_input);
	tcase_add_test(tc, test_restarted_primary_is_read_only_until_confirmed);
	tcase_add_test(tc, test_json_framing_replicates_the_same_bytes);
	tcase_add_test(tc, test_deposed_primary_with_extra_records_is_refused_as_diverged);
	tc = th_tcase(s, "repl-2", 0, 90, setup, teardown);
	tcase_add_test(tc, test_fault_injection_for_drills);
	tcase_add_test(tc, test_replicas_with_a_longer_lease_vouch_at_the_primarys);
	tcase_add_test(tc, test_refused_fetch_acks_nothing_and_renews_no_lease);
	tcase_add_test(tc, test_primary_restarted_behind_its_replica_fences_itself);
	tcase_add_test(tc, test_fenced_site_takes_a_role_at_the_epoch_it_learnt);
	tcase_add_test(tc, test_unconfirmed_replica_does_not_renew_the_lease);
	tcase_add_test(tc, test_sync_modes_need_a_quorum_of_at_least_one);
	tcase_add_test(tc, test_json_catch_up_of_many_small_records_fits_in_memory);
	tcase_add_test(tc, test_replica_of_a_former_standalone_restarts);
	tcase_add_test(tc, test_waiting_sync_writers_are_woken_when_the_quorum_changes);
	TCase *pause = th_tcase(s, "pause", 0, 60, setup, teardown);
	tcase_add_test(pause, test_paused_primary_refuses_writes_but_ships_its_log);
	tcase_add_test(pause, test_pause_checks_its_input);
	TCase *rw = th_tcase(s, "rewind", 0, 60, setup, teardown);
	tcase_add_test(rw, test_rewind_quarantines_divergent_records_then_streams);
	tcase_add_test(rw, test_rewind_exports_records_a_checkpoint_folded);
	tcase_add_loop_test(rw, test_rewind_killed_part_way_recovers, 0,
			    (int)(sizeof(crash_points) / sizeof(crash_points[0])));
	tcase_add_test(rw, test_rewind_checks_its_input_and_the_sites_state);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), the four run at once, each
 * with sites of its own. */
int main(void)
{
	Suite *s = repl_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	httpc_global_init();
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
