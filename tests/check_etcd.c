/*
 * check_etcd.c — the etcd gateway client (common/etcd.c) against real etcd
 * processes on free loopback ports: one member for the calls, three for
 * endpoint failover, a stopped member for a transaction of unknown outcome.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "httpc.h"
#include "testhelp.h"
#include "timeutil.h"

/* Messages of the calls made by the test's own thread. */
static char err[1024];

/* A cluster under a fresh directory and a client of all its members. */
struct fix {
	char *dir;
	struct th_etcd c;
	struct etcd *e;
};

static void fix_start(struct fix *f, int members, long timeout_ms)
{
	memset(f, 0, sizeof(*f));
	f->dir = th_mkdtemp("check_etcd");
	ck_assert_ptr_nonnull(f->dir);
	ck_assert_msg(th_etcd_start(f->dir, members, &f->c), "etcd did not start under %s", f->dir);
	ck_assert_msg(etcd_open(&f->e, f->c.endpoints, members, timeout_ms, err, sizeof(err)) == 0,
		      "%s", err);
}

static void fix_stop(struct fix *f)
{
	etcd_close(f->e);
	th_etcd_stop(&f->c);
	th_rmrf(f->dir);
	free(f->dir);
}

static int64_t put(struct etcd *e, const char *key, const char *value)
{
	int64_t rev = 0;
	ck_assert_msg(etcd_put(e, key, value, strlen(value), 0, &rev, err, sizeof(err)) == 0, "%s",
		      err);
	return rev;
}

/* key's value as text, or NULL when absent (caller frees). */
static char *get(struct etcd *e, const char *key)
{
	struct etcd_kvs k;
	ck_assert_msg(etcd_range(e, key, NULL, 0, &k, err, sizeof(err)) == 0, "%s", err);
	char *v = k.n ? strdup(k.kv[0].value) : NULL;
	etcd_kvs_free(&k);
	return v;
}

static void assert_value(struct etcd *e, const char *key, const char *want)
{
	char *got = get(e, key);
	ck_assert_msg(got && !strcmp(got, want), "%s: %s, want %s", key, got ? got : "(absent)",
		      want);
	free(got);
}

/* ---- without a server ---- */

START_TEST(test_prefix_end_and_bad_endpoints)
{
	char end[16];
	ck_assert_int_eq(etcd_prefix_end("drorch/", end, sizeof(end)), 0);
	ck_assert_str_eq(end, "drorch0");
	ck_assert_int_eq(etcd_prefix_end("a\xff\xff", end, sizeof(end)), 0);
	ck_assert_str_eq(end, "b");
	ck_assert_int_eq(etcd_prefix_end("\xff", end, sizeof(end)), 0);
	ck_assert_str_eq(end, "");  /* to the end of the keyspace */
	ck_assert_int_eq(etcd_prefix_end("0123456789abcdef", end, sizeof(end)), -1);
	struct etcd *e = NULL;
	const char *bad[] = { "127.0.0.1:2379" };
	ck_assert_int_eq(etcd_open(&e, bad, 1, 1000, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "127.0.0.1:2379: expected http://HOST:PORT"), "%s", err);
	ck_assert_int_eq(etcd_open(&e, bad, 0, 1000, err, sizeof(err)), -1);
	ck_assert_ptr_null(e);
}
END_TEST

/* ---- one member ---- */

START_TEST(test_put_range_prefix_delete)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	int64_t r1 = put(f.e, "app/a", "1");
	int64_t r2 = put(f.e, "app/b", "2");
	put(f.e, "apq", "outside the prefix");
	const char binary[] = { 'x', 0, (char)0xff, '\n' };
	ck_assert_int_eq(etcd_put(f.e, "app/c", binary, sizeof(binary), 0, NULL, err,
				  sizeof(err)), 0);
	int64_t r3 = put(f.e, "app/a", "one");
	ck_assert_int_gt(r2, r1);
	struct etcd_kvs k;
	ck_assert_int_eq(etcd_range(f.e, "app/a", NULL, 0, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.n, 1);
	ck_assert_str_eq(k.kv[0].key, "app/a");
	ck_assert_str_eq(k.kv[0].value, "one");
	ck_assert_int_eq(k.kv[0].create_rev, r1);
	ck_assert_int_eq(k.kv[0].mod_rev, r3);
	ck_assert_int_eq(k.kv[0].version, 2);
	ck_assert_int_eq(k.revision, r3);
	etcd_kvs_free(&k);

	char end[64];
	ck_assert_int_eq(etcd_prefix_end("app/", end, sizeof(end)), 0);
	ck_assert_int_eq(etcd_range(f.e, "app/", end, 0, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.n, 3);
	ck_assert_str_eq(k.kv[0].key, "app/a");
	ck_assert_str_eq(k.kv[1].key, "app/b");
	ck_assert_str_eq(k.kv[2].key, "app/c");
	ck_assert_uint_eq(k.kv[2].value_len, sizeof(binary));
	ck_assert_mem_eq(k.kv[2].value, binary, sizeof(binary));
	ck_assert(!k.more);
	etcd_kvs_free(&k);
	ck_assert_int_eq(etcd_range(f.e, "app/", end, 2, &k, err, sizeof(err)), 0);
	ck_assert(k.n == 2 && k.more);
	etcd_kvs_free(&k);
	ck_assert_int_eq(etcd_range(f.e, "", "", 0, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.n, 4);  /* every key */
	etcd_kvs_free(&k);

	int64_t deleted = -1, rev = 0;
	ck_assert_int_eq(etcd_delete(f.e, "app/", end, &deleted, &rev, err, sizeof(err)), 0);
	ck_assert_int_eq(deleted, 3);
	ck_assert_int_eq(rev, r3 + 1);
	ck_assert_int_eq(etcd_delete(f.e, "app/a", NULL, &deleted, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(deleted, 0);
	ck_assert_ptr_null(get(f.e, "app/a"));  /* absent is no error */
	assert_value(f.e, "apq", "outside the prefix");
	ck_assert_int_eq(etcd_put(f.e, "empty", "", 0, 0, NULL, err, sizeof(err)), 0);
	assert_value(f.e, "empty", "");
	fix_stop(&f);
}
END_TEST

START_TEST(test_txn_create_if_absent)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	struct etcd_cmp absent = { .key = "leader", .target = ETCD_CREATE, .result = ETCD_EQUAL };
	struct etcd_op take = { .kind = ETCD_OP_PUT, .key = "leader", .value = "alpha",
				.value_len = 5 };
	struct etcd_op read[] = { { .kind = ETCD_OP_RANGE, .key = "leader" },
				  { .kind = ETCD_OP_PUT, .key = "lost", .value = "beta",
				    .value_len = 4 } };
	struct etcd_txn_result r;
	ck_assert_msg(etcd_txn(f.e, &absent, 1, &take, 1, read, 2, &r, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert(r.succeeded);
	ck_assert_uint_eq(r.nranges, 1);
	ck_assert_uint_eq(r.ranges[0].n, 0);  /* a put's slot */
	int64_t first = r.revision;
	etcd_txn_result_free(&r);

	take.value = "beta";
	take.value_len = 4;
	ck_assert_int_eq(etcd_txn(f.e, &absent, 1, &take, 1, read, 2, &r, err, sizeof(err)), 0);
	ck_assert(!r.succeeded);
	ck_assert_uint_eq(r.nranges, 2);
	ck_assert_uint_eq(r.ranges[0].n, 1);  /* the else branch's range */
	ck_assert_str_eq(r.ranges[0].kv[0].value, "alpha");
	ck_assert_int_eq(r.ranges[0].kv[0].create_rev, first);
	ck_assert_uint_eq(r.ranges[1].n, 0);
	ck_assert_int_eq(r.revision, first + 1);  /* the else branch wrote "lost" */
	etcd_txn_result_free(&r);
	assert_value(f.e, "leader", "alpha");
	assert_value(f.e, "lost", "beta");
	fix_stop(&f);
}
END_TEST

START_TEST(test_txn_mod_revision_compare_fails_after_another_write)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	int64_t seen = put(f.e, "state", "v1");
	put(f.e, "state", "v2");  /* another writer */
	struct etcd_cmp unchanged = { .key = "state", .target = ETCD_MOD, .result = ETCD_EQUAL,
				      .number = seen };
	struct etcd_op write = { .kind = ETCD_OP_PUT, .key = "state", .value = "v3",
				 .value_len = 2 };
	struct etcd_txn_result r;
	ck_assert_int_eq(etcd_txn(f.e, &unchanged, 1, &write, 1, NULL, 0, &r, err,
				  sizeof(err)), 0);
	ck_assert(!r.succeeded);
	ck_assert_uint_eq(r.nranges, 0);
	etcd_txn_result_free(&r);
	assert_value(f.e, "state", "v2");

	struct etcd_cmp is_v2[] = {
		{ .key = "state", .target = ETCD_VALUE, .result = ETCD_EQUAL, .value = "v2",
		  .value_len = 2 },
		{ .key = "state", .target = ETCD_VERSION, .result = ETCD_GREATER, .number = 1 },
		{ .key = "state", .target = ETCD_LEASE, .result = ETCD_EQUAL, .number = 0 },
	};
	ck_assert_int_eq(etcd_txn(f.e, is_v2, 3, &write, 1, NULL, 0, &r, err, sizeof(err)), 0);
	ck_assert(r.succeeded);
	etcd_txn_result_free(&r);
	assert_value(f.e, "state", "v3");

	struct etcd_op twice[] = { write, write };  /* etcd refuses: one key twice */
	ck_assert_int_eq(etcd_txn(f.e, NULL, 0, twice, 2, NULL, 0, &r, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, f.c.m[0].client) && strstr(err, ": txn: HTTP 400: ") &&
		      strstr(err, "duplicate key"), "%s", err);
	ck_assert_uint_eq(r.nranges, 0);
	fix_stop(&f);
}
END_TEST

/* Polls key until it is gone; false after timeout_ms. */
static bool wait_gone(struct fix *f, const char *key, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	char *v;
	while ((v = get(f->e, key)) && time_mono_ms() < deadline) {
		free(v);
		time_sleep_ms(50);
	}
	free(v);
	return v == NULL;
}

START_TEST(test_lease_expires_without_keepalive)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	int64_t id = 0, ttl = 0, left = 0;
	ck_assert_msg(etcd_lease_grant(f.e, 1, &id, &ttl, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ne(id, 0);
	ck_assert_int_eq(ttl, 1);  /* minimum 1.5 election timeouts: 750 ms, 1 s */
	ck_assert_int_eq(etcd_put(f.e, "leader", "me", 2, id, NULL, err, sizeof(err)), 0);
	struct etcd_kvs k;
	ck_assert_int_eq(etcd_range(f.e, "leader", NULL, 0, &k, err, sizeof(err)), 0);
	ck_assert_int_eq(k.kv[0].lease, id);
	etcd_kvs_free(&k);
	for (int i = 0; i < 4; i++) {  /* 2 s, twice the TTL, kept alive */
		ck_assert_int_eq(etcd_lease_keepalive(f.e, id, &left, err, sizeof(err)), 0);
		ck_assert_int_eq(left, 1);
		time_sleep_ms(500);
	}
	assert_value(f.e, "leader", "me");
	/* etcd revokes an expired lease through a raft proposal and, when that
	 * revoke has not applied, tries again 3 s later (its lessor's
	 * expiredLeaseRetryInterval): on a loaded box one retry comes on top of
	 * the 1 s TTL (CI's distcheck once saw the key past 5 s). */
	ck_assert_msg(wait_gone(&f, "leader", 10000), "the lease's key outlived it");
	ck_assert_int_eq(etcd_lease_keepalive(f.e, id, &left, err, sizeof(err)), 0);
	ck_assert_int_eq(left, 0);  /* gone */
	fix_stop(&f);
}
END_TEST

START_TEST(test_lease_revoke_deletes_its_keys)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	int64_t id = 0, left = 0;
	ck_assert_int_eq(etcd_lease_grant(f.e, 60, &id, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(etcd_put(f.e, "a", "1", 1, id, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(etcd_put(f.e, "b", "2", 1, id, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(etcd_lease_keepalive(f.e, id, &left, err, sizeof(err)), 0);
	ck_assert_int_eq(left, 60);
	ck_assert_msg(etcd_lease_revoke(f.e, id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_null(get(f.e, "a"));
	ck_assert_ptr_null(get(f.e, "b"));
	ck_assert_int_eq(etcd_lease_revoke(f.e, id, err, sizeof(err)), 0);  /* already gone */
	ck_assert_int_eq(etcd_lease_keepalive(f.e, id, &left, err, sizeof(err)), 0);
	ck_assert_int_eq(left, 0);
	ck_assert_int_eq(etcd_put(f.e, "c", "3", 1, id, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "put: HTTP 404: etcdserver: requested lease not found"), "%s",
		      err);
	fix_stop(&f);
}
END_TEST

/* ---- watch ---- */

struct seen {
	char log[2048];            /* "put k=v@rev del k@rev " */
	int n;
	int stop_at;               /* the callback answers 1 on this event (1-based), 0: never */
};

static int record(void *ctx, const struct etcd_event *ev)
{
	struct seen *s = ctx;
	size_t used = strlen(s->log);
	if (ev->deleted)
		snprintf(s->log + used, sizeof(s->log) - used, "del %s@%lld ", ev->kv.key,
			 (long long)ev->kv.mod_rev);
	else
		snprintf(s->log + used, sizeof(s->log) - used, "put %s=%s@%lld ", ev->kv.key,
			 ev->kv.value, (long long)ev->kv.mod_rev);
	return ++s->n == s->stop_at;
}

START_TEST(test_watch_sees_every_change_in_order)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	int64_t start = put(f.e, "cfg/a", "1");
	put(f.e, "other", "x");
	put(f.e, "cfg/b", "2");
	ck_assert_int_eq(etcd_delete(f.e, "cfg/a", NULL, NULL, NULL, err, sizeof(err)), 0);
	struct etcd_op both[] = {
		{ .kind = ETCD_OP_PUT, .key = "cfg/c", .value = "3", .value_len = 1 },
		{ .kind = ETCD_OP_PUT, .key = "cfg/d", .value = "4", .value_len = 1 },
	};
	struct etcd_txn_result r;
	ck_assert_int_eq(etcd_txn(f.e, NULL, 0, both, 2, NULL, 0, &r, err, sizeof(err)), 0);
	int64_t last = r.revision;
	etcd_txn_result_free(&r);
	ck_assert_int_eq(last, start + 4);

	char end[64], want[512];
	etcd_prefix_end("cfg/", end, sizeof(end));
	struct seen s = { .n = 0 };
	int64_t next = 0;
	uint64_t t0 = time_mono_ms();
	ck_assert_msg(etcd_watch(f.e, "cfg/", end, start, 400, NULL, record, &s, &next, err,
				 sizeof(err)) == 0, "%s", err);
	uint64_t took = time_mono_ms() - t0;
	ck_assert_msg(took >= 400 && took < 900, "watch of 400 ms took %llu ms",
		      (unsigned long long)took);
	snprintf(want, sizeof(want), "put cfg/a=1@%lld put cfg/b=2@%lld del cfg/a@%lld "
		 "put cfg/c=3@%lld put cfg/d=4@%lld ", (long long)start, (long long)start + 2,
		 (long long)start + 3, (long long)last, (long long)last);
	ck_assert_str_eq(s.log, want);
	ck_assert_int_eq(next, last + 1);

	/* Ended by the callback on the first of a transaction's two events:
	 * resuming from next delivers both again. */
	struct seen part = { .stop_at = 4 };
	ck_assert_int_eq(etcd_watch(f.e, "cfg/", end, start, 2000, NULL, record, &part, &next,
				    err, sizeof(err)), 0);
	ck_assert_int_eq(part.n, 4);
	ck_assert_int_eq(next, last);
	struct seen rest = { .stop_at = 2 };
	ck_assert_int_eq(etcd_watch(f.e, "cfg/", end, next, 2000, NULL, record, &rest, &next,
				    err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "put cfg/c=3@%lld put cfg/d=4@%lld ", (long long)last,
		 (long long)last);
	ck_assert_str_eq(rest.log, want);
	ck_assert_int_eq(next, last + 1);
	fix_stop(&f);
}
END_TEST

struct later {
	atomic_bool *stop;
	const char *endpoint;
};

/* After 150 ms a put from a client of its own, after 300 ms *stop. */
static void *put_then_stop(void *arg)
{
	struct later *l = arg;
	struct etcd *e = NULL;
	char why[512];  /* not err: this is another thread */
	time_sleep_ms(150);
	if (etcd_open(&e, &l->endpoint, 1, 2000, why, sizeof(why)) == 0)
		etcd_put(e, "live", "now", 3, 0, NULL, why, sizeof(why));
	etcd_close(e);
	time_sleep_ms(150);
	atomic_store(l->stop, true);
	return NULL;
}

START_TEST(test_watch_from_now_returns_promptly_on_stop)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	int64_t before = put(f.e, "live", "before");
	atomic_bool stop = false;
	struct later l = { .stop = &stop, .endpoint = f.c.endpoints[0] };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, put_then_stop, &l), 0);
	struct seen s = { .n = 0 };
	int64_t next = 0;
	uint64_t t0 = time_mono_ms();
	ck_assert_int_eq(etcd_watch(f.e, "live", NULL, 0, 10000, &stop, record, &s, &next, err,
				    sizeof(err)), 0);
	uint64_t took = time_mono_ms() - t0;
	pthread_join(t, NULL);
	ck_assert_msg(took >= 290 && took < 600, "stop set at 300 ms, watch returned at %llu ms",
		      (unsigned long long)took);
	char want[64];
	snprintf(want, sizeof(want), "put live=now@%lld ", (long long)before + 1);
	ck_assert_str_eq(s.log, want);
	ck_assert_int_eq(next, before + 2);
	fix_stop(&f);
}
END_TEST

START_TEST(test_watch_from_a_compacted_revision)
{
	struct fix f;
	fix_start(&f, 1, 2000);
	put(f.e, "k", "1");
	put(f.e, "k", "2");
	int64_t at = put(f.e, "k", "3");
	char url[128], body[64];
	snprintf(url, sizeof(url), "%s/v3/kv/compaction", f.c.endpoints[0]);
	snprintf(body, sizeof(body), "{\"revision\":\"%lld\"}", (long long)at);
	ck_assert_int_eq(th_http("POST", url, NULL, body, strlen(body), NULL, NULL), 200);
	struct seen s = { .n = 0 };
	int64_t next = 0;
	ck_assert_int_eq(etcd_watch(f.e, "k", NULL, at - 2, 2000, NULL, record, &s, &next, err,
				    sizeof(err)), ETCD_COMPACTED);
	ck_assert_int_eq(next, at);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(etcd_watch(f.e, "k", NULL, next, 300, NULL, record, &s, &next, err,
				    sizeof(err)), 0);
	ck_assert_int_eq(s.n, 1);  /* k=3, at the compaction's revision */
	fix_stop(&f);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_txn_without_answer_is_unknown)
{
	struct fix f;
	fix_start(&f, 1, 500);
	ck_assert(th_etcd_kill_member(&f.c, 0, SIGSTOP));  /* connects, never answers */
	struct etcd_op op = { .kind = ETCD_OP_PUT, .key = "k", .value = "v", .value_len = 1 };
	struct etcd_txn_result r;
	uint64_t t0 = time_mono_ms();
	int rc = etcd_txn(f.e, NULL, 0, &op, 1, NULL, 0, &r, err, sizeof(err));
	uint64_t took = time_mono_ms() - t0;
	ck_assert_int_eq(rc, ETCD_UNKNOWN);
	ck_assert_msg(strstr(err, ": txn: no answer within 500 ms; it may have been applied"),
		      "%s", err);
	ck_assert_msg(took >= 480 && took < 900, "%llu ms", (unsigned long long)took);
	ck_assert(th_etcd_kill_member(&f.c, 0, SIGCONT));
	free(get(f.e, "k"));  /* "v" or absent: either is possible */
	fix_stop(&f);
}
END_TEST

/* A member that takes transactions and never answers (stopped; a proxy in
 * front of a dead one acts the same) is not where the next one goes: a
 * client that stayed on it would lose every write until it came back. */
START_TEST(test_txn_lost_next_call_starts_on_the_next_member)
{
	struct fix f;
	fix_start(&f, 3, 600);
	put(f.e, "k", "v");
	ck_assert_str_eq(etcd_endpoint(f.e), f.c.m[0].client);
	ck_assert(th_etcd_kill_member(&f.c, 0, SIGSTOP));
	struct etcd_op op = { .kind = ETCD_OP_PUT, .key = "k", .value = "w", .value_len = 1 };
	struct etcd_txn_result r;
	ck_assert_int_eq(etcd_txn(f.e, NULL, 0, &op, 1, NULL, 0, &r, err, sizeof(err)),
			 ETCD_UNKNOWN);
	ck_assert_str_eq(etcd_endpoint(f.e), f.c.m[1].client);
	/* The stopped member still counts for the quorum's size: two of three
	 * answer, within a few tries while they notice their leader is gone. */
	int rc = -1;
	for (int i = 0; i < 20 && rc != 0; i++) {
		rc = etcd_txn(f.e, NULL, 0, &op, 1, NULL, 0, &r, err, sizeof(err));
		if (rc == 0)
			etcd_txn_result_free(&r);
	}
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_str_ne(etcd_endpoint(f.e), f.c.m[0].client);
	assert_value(f.e, "k", "w");
	ck_assert(th_etcd_kill_member(&f.c, 0, SIGCONT));
	fix_stop(&f);
}
END_TEST

/* Every call of the client succeeds. */
static void every_call_succeeds(struct etcd *e)
{
	int64_t id = 0, left = 0, deleted = 0;
	put(e, "k", "v");
	assert_value(e, "k", "v");
	struct etcd_cmp cmp = { .key = "k", .target = ETCD_VALUE, .result = ETCD_EQUAL,
				.value = "v", .value_len = 1 };
	struct etcd_op op = { .kind = ETCD_OP_PUT, .key = "k", .value = "w", .value_len = 1 };
	struct etcd_txn_result r;
	ck_assert_msg(etcd_txn(e, &cmp, 1, &op, 1, NULL, 0, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert(r.succeeded);
	etcd_txn_result_free(&r);
	ck_assert_msg(etcd_lease_grant(e, 10, &id, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(etcd_lease_keepalive(e, id, &left, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_gt(left, 0);
	ck_assert_msg(etcd_lease_revoke(e, id, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(etcd_delete(e, "k", NULL, &deleted, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(deleted, 1);
}

/* The watch of the three-member test: on its first event the callback
 * kills the member it watches (m0), then writes through the others. */
struct killer {
	struct th_etcd *c;
	struct etcd *others;       /* a client of m1 and m2 */
	struct seen seen;
};

static int kill_then_write(void *ctx, const struct etcd_event *ev)
{
	struct killer *k = ctx;
	record(&k->seen, ev);
	if (k->seen.n == 1) {
		ck_assert(th_etcd_kill_member(k->c, 0, SIGKILL));
		put(k->others, "w/2", "after");
	}
	return k->seen.n == 2;
}

START_TEST(test_three_members_one_killed)
{
	struct fix f;
	fix_start(&f, 3, 3000);
	struct killer k = { .c = &f.c };
	ck_assert_int_eq(etcd_open(&k.others, f.c.endpoints + 1, 2, 3000, err, sizeof(err)), 0);
	int64_t start = put(f.e, "w/1", "before"), next = 0;
	ck_assert_str_eq(etcd_endpoint(f.e), f.c.m[0].client);
	ck_assert_msg(etcd_watch(f.e, "w/", "w0", start, 8000, NULL, kill_then_write, &k, &next,
				 err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(strstr(k.seen.log, "put w/1=before@") && strstr(k.seen.log, "put w/2=after@"),
		      "%s", k.seen.log);
	ck_assert_str_ne(etcd_endpoint(f.e), f.c.m[0].client);
	every_call_succeeds(f.e);

	struct etcd *fresh = NULL;  /* starts on the dead member */
	ck_assert_int_eq(etcd_open(&fresh, f.c.endpoints, 3, 3000, err, sizeof(err)), 0);
	every_call_succeeds(fresh);
	ck_assert_str_ne(etcd_endpoint(fresh), f.c.m[0].client);
	etcd_close(fresh);

	ck_assert(th_etcd_start_member(&f.c, 0));  /* back, on its data dir */
	ck_assert_int_eq(etcd_open(&fresh, f.c.endpoints, 1, 3000, err, sizeof(err)), 0);
	assert_value(fresh, "w/2", "after");
	etcd_close(fresh);
	etcd_close(k.others);
	fix_stop(&f);
}
END_TEST

START_TEST(test_three_members_all_down)
{
	struct fix f;
	fix_start(&f, 3, 900);
	put(f.e, "k", "v");
	for (int i = 0; i < 3; i++)  /* they connect but never answer */
		ck_assert(th_etcd_kill_member(&f.c, i, SIGSTOP));
	struct etcd_kvs kvs;
	uint64_t t0 = time_mono_ms();
	ck_assert_int_eq(etcd_range(f.e, "k", NULL, 0, &kvs, err, sizeof(err)), -1);
	uint64_t took = time_mono_ms() - t0;
	ck_assert_msg(took >= 880 && took < 1200, "a 900 ms call took %llu ms",
		      (unsigned long long)took);
	for (int i = 0; i < 3; i++) {  /* a third of the time each */
		char says[160];
		snprintf(says, sizeof(says), "etcd %s: range: no answer within ", f.c.endpoints[i]);
		ck_assert_msg(strstr(err, says), "%s", err);
	}

	for (int i = 0; i < 3; i++)
		ck_assert(th_etcd_kill_member(&f.c, i, SIGKILL));
	ck_assert_int_eq(etcd_range(f.e, "k", NULL, 0, &kvs, err, sizeof(err)), -1);
	for (int i = 0; i < 3; i++) {
		char says[160];
		snprintf(says, sizeof(says), "etcd %s: range: connect: Connection refused",
			 f.c.endpoints[i]);
		ck_assert_msg(strstr(err, says), "%s", err);
	}
	struct etcd_op op = { .kind = ETCD_OP_DELETE, .key = "k" };
	struct etcd_txn_result r;
	ck_assert_int_eq(etcd_txn(f.e, NULL, 0, &op, 1, NULL, 0, &r, err, sizeof(err)), -1);
	ck_assert_msg(!strstr(err, "may have been applied"), "%s", err);  /* never sent */
	struct seen s = { .n = 0 };
	int64_t next = 0;
	ck_assert_int_eq(etcd_watch(f.e, "k", NULL, 1, 2000, NULL, record, &s, &next, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, ": watch: connect: Connection refused"), "%s", err);
	ck_assert_int_eq(next, 1);
	fix_stop(&f);
}
END_TEST

static Suite *etcd_suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *tc = th_tcase(s, "client", 0, 0, NULL, NULL);
	tcase_add_test(tc, test_prefix_end_and_bad_endpoints);
	tc = th_tcase(s, "one member", 0, 30, NULL, NULL);
	tcase_add_test(tc, test_put_range_prefix_delete);
	tcase_add_test(tc, test_txn_create_if_absent);
	tcase_add_test(tc, test_txn_mod_revision_compare_fails_after_another_write);
	tcase_add_test(tc, test_lease_expires_without_keepalive);
	tcase_add_test(tc, test_lease_revoke_deletes_its_keys);
	tcase_add_test(tc, test_watch_sees_every_change_in_order);
	tcase_add_test(tc, test_watch_from_now_returns_promptly_on_stop);
	tcase_add_test(tc, test_watch_from_a_compacted_revision);
	tcase_add_test(tc, test_txn_without_answer_is_unknown);
	tc = th_tcase(s, "three members", 0, 30, NULL, NULL);
	tcase_add_test(tc, test_txn_lost_next_call_starts_on_the_next_member);
	tcase_add_test(tc, test_three_members_one_killed);
	tcase_add_test(tc, test_three_members_all_down);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), the three run at once, each
 * with etcd members of its own. */
int main(void)
{
	Suite *s = etcd_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	httpc_global_init();
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
