/*
 * check_store.c — drorchd's SQLite store and the SHA-256 under its hash
 * chain: FIPS 180-4 vectors, RFC 4231 HMAC-SHA256 vectors, schema creation
 * and identity, transitions with compare-and-set, chain verification against edits and removals made
 * straight through SQLite (as an attacker would), the append-only triggers,
 * runs round-tripped through the JSON readers, a commit surviving kill -9,
 * and two writers racing on the same version.  The audit: the key file, the
 * MAC, digest and head-file encodings rewritten from store.c's comment, a
 * wholesale rewrite with recomputed hashes, edited and removed run steps,
 * runs and policies, a lost -wal and a copy taken without it (behind the
 * head file), an accepted loss and its epoch floor, wrong and missing keys,
 * a damaged page, read-only verification that changes no byte, migration
 * from schema 2; and drorchd itself (--verify-audit, refusals at start-up,
 * --accept-lost-history).
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sha256.h"
#include "store.h"
#include "testhelp.h"
#include "timeutil.h"

static char *dir;
static char db_path[600];

static void setup(void)
{
	dir = th_mkdtemp("check_store");
	ck_assert_ptr_nonnull(dir);
	snprintf(db_path, sizeof(db_path), "%s/drorch.db", dir);
}

static void teardown(void)
{
	th_rmrf(dir);
	free(dir);
}

/* ---- helpers ---- */

static struct store *open_store(void)
{
	struct store *s = NULL;
	char err[512];
	ck_assert_msg(store_open(&s, db_path, err, sizeof(err)) == 0, "store_open: %s", err);
	return s;
}

static struct store *open_cluster(void)
{
	char err[512];
	struct store *s = open_store();
	ck_assert_msg(store_cluster_init(s, "STEADY", 1, "us-east", err, sizeof(err)) == 0, "%s",
		      err);
	return s;
}

static struct store_cluster get_cluster(struct store *s)
{
	struct store_cluster c;
	char err[512];
	ck_assert_msg(store_cluster_get(s, &c, err, sizeof(err)) == 0, "cluster_get: %s", err);
	return c;
}

/* Moves the cluster from its state to `to` at the current version. */
static int64_t move(struct store *s, const char *event, const char *to, int64_t run_id)
{
	char err[512];
	struct store_cluster cur = get_cluster(s), next = cur;
	snprintf(next.state, sizeof(next.state), "%s", to);
	snprintf(next.action, sizeof(next.action), "act_%s", to);
	next.run_id = run_id;
	struct store_transition t = {
		.from = cur.state, .event = event, .to = to, .row_id = "r1", .actor = "auto",
		.reason = "because", .detail_json = "{\"k\":1}", .epoch = cur.epoch,
		.run_id = run_id,
	};
	int64_t seq = 0;
	ck_assert_msg(store_transition(s, cur.version, &next, &t, &seq, err, sizeof(err)) == 0,
		      "store_transition: %s", err);
	return seq;
}

/* A second, raw connection: what an attacker (or an operator's sqlite3) has. */
static int raw_exec(const char *sql, char *msg, size_t len)
{
	sqlite3 *db = NULL;
	char *emsg = NULL;
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_exec(db, sql, NULL, NULL, &emsg);
	if (msg)
		snprintf(msg, len, "%s", emsg ? emsg : "");
	sqlite3_free(emsg);
	sqlite3_close(db);
	return rc;
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int verify(struct store *s, int64_t *rows, int64_t *bad)
{
	char err[512];
	int rc = store_verify_chain(s, rows, bad, err, sizeof(err));
	ck_assert_msg(rc >= 0, "verify: %s", err);
	return rc;
}

static void sha_hex(const char *msg, char hex[SHA256_HEX_SIZE])
{
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256(msg, strlen(msg), d);
	sha256_hex(d, hex);
}

/* ---- SHA-256 (FIPS 180-4 / NIST CSRC example vectors) ---- */

START_TEST(test_sha256_abc)
{
	char hex[SHA256_HEX_SIZE];
	sha_hex("abc", hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_sha256_empty)
{
	char hex[SHA256_HEX_SIZE];
	sha_hex("", hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_sha256_448_bits)
{
	char hex[SHA256_HEX_SIZE];
	sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
	ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

/* A million 'a', fed in odd-sized pieces: exercises block carry-over. */
START_TEST(test_sha256_incremental_million_a)
{
	static char buf[1000000];
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	memset(buf, 'a', sizeof(buf));
	sha256_init(&c);
	for (size_t off = 0; off < sizeof(buf); off += 997)
		sha256_update(&c, buf + off, off + 997 <= sizeof(buf) ? 997 : sizeof(buf) - off);
	sha256_final(&c, d);
	sha256_hex(d, hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

/* ---- HMAC-SHA256 (RFC 4231 test cases 1, 2, 3, 6, 7) ---- */

static void hmac_hex(const void *key, size_t keylen, const void *msg, size_t len,
		     char hex[SHA256_HEX_SIZE])
{
	uint8_t mac[SHA256_DIGEST_SIZE];
	hmac_sha256(key, keylen, msg, len, mac);
	sha256_hex(mac, hex);
}

START_TEST(test_hmac_sha256_rfc4231_short_keys)
{
	char hex[SHA256_HEX_SIZE];
	uint8_t k0b[20], kaa[20], ddd[50];
	memset(k0b, 0x0b, sizeof(k0b));
	memset(kaa, 0xaa, sizeof(kaa));
	memset(ddd, 0xdd, sizeof(ddd));
	hmac_hex(k0b, sizeof(k0b), "Hi There", 8, hex);
	ck_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
	ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	hmac_hex(kaa, sizeof(kaa), ddd, sizeof(ddd), hex);
	ck_assert_str_eq(hex, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}
END_TEST

/* A key longer than the block is hashed first; data fed in pieces. */
START_TEST(test_hmac_sha256_rfc4231_long_key)
{
	static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char m7[] = "This is a test using a larger than block-size key and a larger"
				 " than block-size data. The key needs to be hashed before being"
				 " used by the HMAC algorithm.";
	char hex[SHA256_HEX_SIZE];
	uint8_t key[131], mac[SHA256_DIGEST_SIZE];
	memset(key, 0xaa, sizeof(key));
	hmac_hex(key, sizeof(key), m6, strlen(m6), hex);
	ck_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	struct hmac_sha256_ctx c;
	hmac_sha256_init(&c, key, sizeof(key));
	for (size_t off = 0; off < strlen(m7); off += 7)
		hmac_sha256_update(&c, m7 + off, off + 7 <= strlen(m7) ? 7 : strlen(m7) - off);
	hmac_sha256_final(&c, mac);
	sha256_hex(mac, hex);
	ck_assert_str_eq(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
END_TEST

/* ---- schema and identity ---- */

START_TEST(test_store_creates_schema_and_reopens)
{
	char err[512];
	struct store_cluster c;
	struct store *s = open_store();
	ck_assert_int_eq(store_cluster_get(s, &c, err, sizeof(err)), 1);
	ck_assert_int_eq(store_cluster_init(s, "STEADY", 3, "us-east", err, sizeof(err)), 0);
	store_close(s);
	ck_assert_int_eq(raw_int("PRAGMA application_id"), STORE_APPLICATION_ID);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name"
				 " IN ('cluster','transitions','runs','run_steps','sites')"),
			 5);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode"
				 " = 'wal'"),
			 1);
	s = open_store();
	c = get_cluster(s);
	ck_assert_str_eq(c.state, "STEADY");
	ck_assert_str_eq(c.primary, "us-east");
	ck_assert_int_eq(c.epoch, 3);
	ck_assert_int_eq(c.version, 1);
	ck_assert_str_eq(c.action, "");
	ck_assert_int_eq(c.run_id, 0);
	store_close(s);
}
END_TEST

START_TEST(test_cluster_init_leaves_existing_row)
{
	char err[512];
	struct store *s = open_cluster();
	move(s, "heartbeat_missed", "SUSPECT", 0);
	ck_assert_int_eq(store_cluster_init(s, "STEADY", 9, "eu-west", err, sizeof(err)), 0);
	struct store_cluster c = get_cluster(s);
	ck_assert_str_eq(c.state, "SUSPECT");
	ck_assert_str_eq(c.primary, "us-east");
	ck_assert_int_eq(c.version, 2);
	store_close(s);
}
END_TEST

START_TEST(test_store_refuses_non_sqlite_file)
{
	char err[512];
	struct store *s = NULL;
	FILE *f = fopen(db_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("listen: 127.0.0.1:8080\ndb: /var/lib/drorch.db\n and more text to fill a page\n", f);
	fclose(f);
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "not a SQLite database"), "%s", err);
}
END_TEST

START_TEST(test_store_refuses_foreign_sqlite_database)
{
	char err[512];
	struct store *s = NULL;
	ck_assert_int_eq(raw_exec("CREATE TABLE accounts (id INTEGER, balance INTEGER)", NULL, 0),
			 SQLITE_OK);
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a drorch store"), "%s", err);
	/* Untouched: no tables of ours, not switched to WAL. */
	ck_assert_int_eq(raw_int("SELECT count(*) FROM sqlite_schema"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode"
				 " = 'wal'"),
			 0);
}
END_TEST

START_TEST(test_store_refuses_newer_schema)
{
	char err[512];
	struct store *s = open_store();
	store_close(s);
	ck_assert_int_eq(raw_exec("PRAGMA user_version = 99", NULL, 0), SQLITE_OK);
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "schema version 99"), "%s", err);
}
END_TEST

/* ---- transitions ---- */

START_TEST(test_transition_commits_with_cas_and_chains)
{
	struct store *s = open_cluster();
	ck_assert_int_eq(move(s, "heartbeat_missed", "SUSPECT", 0), 1);
	struct store_cluster c = get_cluster(s);
	ck_assert_str_eq(c.state, "SUSPECT");
	ck_assert_str_eq(c.action, "act_SUSPECT");
	ck_assert_int_eq(c.version, 2);
	ck_assert_int_eq(move(s, "confirmed", "FENCING", 0), 2);

	json_t *rows = store_transitions_json(s, 0, 0, 0);
	ck_assert_int_eq(json_array_size(rows), 2);
	json_t *r1 = json_array_get(rows, 0), *r2 = json_array_get(rows, 1);
	ck_assert_str_eq(json_string_value(json_object_get(r1, "from_state")), "STEADY");
	ck_assert_str_eq(json_string_value(json_object_get(r1, "to_state")), "SUSPECT");
	ck_assert_str_eq(json_string_value(json_object_get(r1, "event")), "heartbeat_missed");
	ck_assert_str_eq(json_string_value(json_object_get(r1, "actor")), "auto");
	ck_assert_str_eq(json_string_value(json_object_get(r1, "row_id")), "r1");
	ck_assert(json_is_null(json_object_get(r1, "run_id")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r1, "detail"), "k")),
			 1);
	ck_assert_str_eq(json_string_value(json_object_get(r1, "prev_hash")), STORE_GENESIS_HASH);
	ck_assert_int_eq(strlen(json_string_value(json_object_get(r1, "hash"))), 64);
	ck_assert_str_eq(json_string_value(json_object_get(r2, "prev_hash")),
			 json_string_value(json_object_get(r1, "hash")));
	json_decref(rows);

	rows = store_transitions_json(s, 1, 0, 0);
	ck_assert_int_eq(json_array_size(rows), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rows, 0), "seq")), 2);
	json_decref(rows);
	store_close(s);
}
END_TEST

START_TEST(test_stale_version_conflicts_and_changes_nothing)
{
	char err[512];
	struct store *s = open_cluster();
	struct store_cluster stale = get_cluster(s), next = stale;
	move(s, "heartbeat_missed", "SUSPECT", 0);
	snprintf(next.state, sizeof(next.state), "PAUSED");
	struct store_transition t = { .from = "STEADY", .event = "pause", .to = "PAUSED",
				      .actor = "operator:alice", .epoch = 1 };
	int64_t seq = -7;
	ck_assert_int_eq(store_transition(s, stale.version, &next, &t, &seq, err, sizeof(err)),
			 STORE_CONFLICT);
	ck_assert_msg(strstr(err, "transition STEADY->PAUSED: CAS lost: expected version 1,"
				  " store is at 2"),
		      "%s", err);
	ck_assert_int_eq(seq, -7);
	struct store_cluster c = get_cluster(s);
	ck_assert_str_eq(c.state, "SUSPECT");
	ck_assert_int_eq(c.version, 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 1);
	ck_assert_int_eq(store_cluster_update(s, stale.version, &next, err, sizeof(err)),
			 STORE_CONFLICT);
	ck_assert_str_eq(get_cluster(s).state, "SUSPECT");
	store_close(s);
}
END_TEST

START_TEST(test_cluster_update_changes_detail_without_transition)
{
	char err[512];
	struct store *s = open_cluster();
	struct store_cluster c = get_cluster(s);
	snprintf(c.ctx.candidate, sizeof(c.ctx.candidate), "eu-west");
	c.ctx.rpo_ms = 12;
	ck_assert_msg(store_cluster_update(s, c.version, &c, err, sizeof(err)) == 0, "%s", err);
	c = get_cluster(s);
	ck_assert_str_eq(c.ctx.candidate, "eu-west");
	ck_assert_int_eq(c.ctx.rpo_ms, 12);
	ck_assert_int_eq(c.ctx.rpo_records, -1);  /* unset fields keep their defaults */
	ck_assert_int_eq(c.version, 2);
	ck_assert_int_eq(raw_int("SELECT json_extract(detail, '$.candidate') = 'eu-west'"
				 " FROM cluster"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 0);
	store_close(s);
}
END_TEST

/* A run context the store cannot read is an error, not an empty context. */
START_TEST(test_damaged_run_context_is_refused_on_read)
{
	char err[512], msg[256];
	struct store *s = open_cluster();
	ck_assert_msg(raw_exec("UPDATE cluster SET detail = '{\"candidate\":7}'", msg,
			       sizeof(msg)) == 0, "%s", msg);
	struct store_cluster c;
	ck_assert_int_eq(store_cluster_get(s, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "\"candidate\" is not a string"), "%s", err);
	store_close(s);
}
END_TEST

START_TEST(test_bad_json_is_refused_and_nothing_written)
{
	char err[512];
	struct store *s = open_cluster();
	struct store_cluster next = get_cluster(s);
	struct store_transition t = { .from = "STEADY", .event = "x", .to = "SUSPECT",
				      .actor = "auto", .detail_json = "{\"candidate\":" };
	snprintf(next.state, sizeof(next.state), "SUSPECT");
	ck_assert_int_eq(store_transition(s, next.version, &next, &t, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "transition detail is not JSON"), "%s", err);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 0);
	ck_assert_int_eq(get_cluster(s).version, 1);
	store_close(s);
}
END_TEST

START_TEST(test_bad_actor_is_refused_by_schema)
{
	char err[512];
	struct store *s = open_cluster();
	struct store_cluster next = get_cluster(s);
	struct store_transition t = { .from = "STEADY", .event = "x", .to = "SUSPECT",
				      .actor = "mallory" };
	snprintf(next.state, sizeof(next.state), "SUSPECT");
	ck_assert_int_eq(store_transition(s, next.version, &next, &t, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "CHECK constraint failed"), "%s", err);
	ck_assert_int_eq(get_cluster(s).version, 1);
	store_close(s);
}
END_TEST

START_TEST(test_cluster_state_must_be_the_transition_target)
{
	char err[512];
	struct store *s = open_cluster();
	struct store_cluster next = get_cluster(s);
	struct store_transition t = { .from = "STEADY", .event = "x", .to = "SUSPECT",
				      .actor = "auto" };
	ck_assert_int_eq(store_transition(s, next.version, &next, &t, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "next state is STEADY"), "%s", err);
	ck_assert_int_eq(get_cluster(s).version, 1);
	store_close(s);
}
END_TEST

/* ---- the hash chain ---- */


/* ---- replication: operations applied to a second store ---- */

struct oplog {
	json_t *ops;      /* the operations, in order */
	bool refuse;      /* the next call fails, as a lost leadership does */
};

static int record_op(void *ctx, const json_t *op, int64_t *index, char *err, size_t errlen)
{
	struct oplog *l = ctx;
	if (l->refuse) {
		snprintf(err, errlen, "not the leader");
		return -1;
	}
	json_array_append_new(l->ops, json_deep_copy(op));
	*index = (int64_t)json_array_size(l->ops);
	return 0;
}

/* A second store, PATH_B = dir/mirror.db, for what a's writes replicate
 * into log (a's replicator from now on). */
static struct store *open_mirror(struct store *a, struct oplog *log, char *path_b, size_t len)
{
	char err[512];
	struct store *b = NULL;
	snprintf(path_b, len, "%s/mirror.db", dir);
	ck_assert_msg(store_open(&b, path_b, err, sizeof(err)) == 0, "%s", err);
	store_set_replicator(a, record_op, log);
	return b;
}

/* Applies every operation of log to b, in order. */
static void apply_all(struct store *b, const struct oplog *log)
{
	char err[512];
	size_t i;
	json_t *op;
	json_array_foreach(log->ops, i, op)
		ck_assert_msg(store_apply(b, op, (int64_t)i + 1, err, sizeof(err)) == 0,
			      "op %zu: %s", i + 1, err);
}

static char *dump(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

/* What both copies must show alike: transitions (hashes), runs, policy. */
static void assert_same_state(struct store *a, struct store *b)
{
	const char *what[] = { "transitions", "runs", "policy" };
	for (int i = 0; i < 3; i++) {
		char *x = dump(i == 0 ? store_transitions_json(a, 0, 0, 0) :
			       i == 1 ? store_runs_json(a, 0) : store_policy_latest(a));
		char *y = dump(i == 0 ? store_transitions_json(b, 0, 0, 0) :
			       i == 1 ? store_runs_json(b, 0) : store_policy_latest(b));
		ck_assert_msg(x && y && !strcmp(x, y), "%s differ:\n%s\n%s", what[i], x, y);
		free(x);
		free(y);
	}
	struct store_cluster ca = get_cluster(a), cb = get_cluster(b);
	ck_assert_str_eq(ca.state, cb.state);
	ck_assert_int_eq(ca.version, cb.version);
	ck_assert_int_eq(ca.updated_ms, cb.updated_ms);
}

START_TEST(test_replicated_writes_apply_alike_on_a_second_store)
{
	char err[512], path_b[700];
	struct oplog log = { json_array(), false };
	struct store *a = open_store(), *b = open_mirror(a, &log, path_b, sizeof(path_b));
	ck_assert_msg(store_cluster_init(a, "STEADY", 1, "us-east", err, sizeof(err)) == 0, "%s",
		      err);
	int64_t run = 0;
	ck_assert_msg(store_run_begin(a, "failover", "auto", "us-east", 2, "{\"x\":1}", &run, err,
				      sizeof(err)) == 0, "%s", err);
	move(a, "PRIMARY_DOWN", "SUSPECT", run);
	ck_assert_int_eq(store_run_step(a, run, "fence", "ok", "{\"epoch\":2}", err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_mark(a, run, "detected", 1234, err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_update_detail(a, run, "{\"y\":2}", err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_raise_rpo(a, run, 3, err, sizeof(err)), 0);
	move(a, "PROMOTED", "STEADY", run);
	ck_assert_int_eq(store_run_end(a, run, "succeeded", "eu-west", 0, 5, 600, "{\"t\":1}",
				       NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_policy_add(a, "operator:api", "{\"mode\":\"sync\"}", err,
					  sizeof(err)), 0);
	struct store_cluster c = get_cluster(a), next = c;
	next.epoch = 2;
	ck_assert_int_eq(store_cluster_update(a, c.version, &next, err, sizeof(err)), 0);
	ck_assert_int_eq(store_applied_index(a), (int64_t)json_array_size(log.ops));

	/* Applied in order, later (another clock): the same rows and hashes. */
	time_sleep_ms(5);
	apply_all(b, &log);
	assert_same_state(a, b);
	ck_assert_int_eq(store_applied_index(b), (int64_t)json_array_size(log.ops));
	int64_t rows, bad;
	ck_assert_int_eq(verify(b, &rows, &bad), 0);
	/* Applying again is a no-op. */
	ck_assert_int_eq(store_apply(b, json_array_get(log.ops, 1), 2, err, sizeof(err)), 1);

	/* A write the replicator refuses is not written. */
	log.refuse = true;
	c = get_cluster(a);
	ck_assert_int_eq(store_run_begin(a, "drill", "auto", NULL, 2, NULL, &run, err, sizeof(err)),
			 -1);
	ck_assert_msg(strstr(err, "not the leader"), "%s", err);
	ck_assert_int_eq(get_cluster(a).version, c.version);
	json_t *runs = store_runs_json(a, 0);
	ck_assert_int_eq(json_array_size(runs), 1);
	json_decref(runs);
	ck_assert_int_eq(store_head_accept(a, "operator:x", err, sizeof(err)), -1);

	/* A copy that differs refuses the operation. */
	json_t *stale = json_deep_copy(json_array_get(log.ops, json_array_size(log.ops) - 1));
	ck_assert_int_eq(store_apply(b, stale, 100, err, sizeof(err)), -1);
	json_decref(stale);
	store_close(a);
	store_close(b);
	/* The position survives a reopen. */
	ck_assert_msg(store_open(&b, path_b, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_applied_index(b), (int64_t)json_array_size(log.ops));
	store_close(b);
	json_decref(log.ops);
}
END_TEST

/* The steps of run id as JSON text (a new string), for comparisons. */
static char *steps_of(struct store *s, int64_t id)
{
	json_t *run = store_run_json(s, id);
	char *text = json_dumps(json_object_get(run, "steps"), JSON_COMPACT);
	json_decref(run);
	return text;
}

/*
 * A rewind is recorded in one write: into the failover run that lost the
 * records (its step, its RPO raised), or into a run of its own (begun,
 * stepped, ended), all or nothing; a second store applies it alike.
 */
START_TEST(test_rewind_is_recorded_in_one_write)
{
	char err[512], path_b[700];
	struct oplog log = { json_array(), false };
	struct store *a = open_store(), *b = open_mirror(a, &log, path_b, sizeof(path_b));
	ck_assert_int_eq(store_cluster_init(a, "STEADY", 1, "us-east", err, sizeof(err)), 0);
	ck_assert_int_eq(store_policy_add(a, "operator:api", "{\"mode\":\"async\"}", err,
					  sizeof(err)), 0);
	int64_t fo = 0, run = 0, own = 0;
	ck_assert_int_eq(store_run_begin(a, "failover", "auto", "us-east", 2, NULL, &fo, err,
					 sizeof(err)), 0);
	ck_assert_int_eq(store_run_end(a, fo, "succeeded", "eu-west", 2, -1, 600, NULL, NULL, err,
				       sizeof(err)), 0);
	const char *q1 = "{\"quarantine\":\"/d/us-east/quarantine/diverged-2-9.jsonl\","
			 "\"records\":5,\"site\":\"us-east\"}";
	ck_assert_msg(store_run_rewind(a, fo, "us-east", 2, 5, q1, &run, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(run, fo);
	json_t *j = store_run_json(a, fo);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rpo_records")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")), "succeeded");
	json_t *step = json_array_get(json_object_get(j, "steps"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(step, "name")), "rewind");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(step, "detail"),
							    "records")), 5);
	json_decref(j);
	/* No failover run to charge: a run of its own, ended, its RPO the records. */
	const char *q2 = "{\"quarantine\":\"/d/us-east/quarantine/diverged-3-40.jsonl\","
			 "\"records\":4,\"site\":\"us-east\"}";
	ck_assert_int_eq(store_run_rewind(a, 0, "us-east", 3, 4, q2, &own, err, sizeof(err)), 0);
	ck_assert_int_gt(own, fo);
	j = store_run_json(a, own);
	ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), "rewind");
	ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")), "succeeded");
	ck_assert_str_eq(json_string_value(json_object_get(j, "target")), "us-east");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rpo_records")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "epoch")), 3);
	ck_assert_int_eq(json_array_size(json_object_get(j, "steps")), 1);
	json_decref(j);
	/* All or nothing: a write refused at its end leaves no run, no step,
	 * no raised RPO. */
	log.refuse = true;
	char *before = steps_of(a, fo);
	json_t *runs = store_runs_json(a, 0);
	size_t nruns = json_array_size(runs);
	json_decref(runs);
	ck_assert_int_eq(store_run_rewind(a, fo, "us-east", 2, 50, q2, &run, err, sizeof(err)), -1);
	ck_assert_int_eq(store_run_rewind(a, 0, "us-east", 3, 9, q2, &run, err, sizeof(err)), -1);
	ck_assert_int_eq(run, 0);  /* the run it began was rolled back */
	char *after = steps_of(a, fo);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	j = store_run_json(a, fo);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rpo_records")), 5);
	json_decref(j);
	runs = store_runs_json(a, 0);
	ck_assert_uint_eq(json_array_size(runs), nruns);
	json_decref(runs);
	/* Refused input changes nothing either. */
	ck_assert_int_eq(store_run_rewind(a, fo + 100, "us-east", 2, 1, q1, &run, err,
					  sizeof(err)), -1);
	ck_assert_int_eq(store_run_rewind(a, fo, "us-east", 2, 1, "{oops", &run, err, sizeof(err)),
			 -1);
	/* Applied on a second store: the same runs, steps and chain. */
	apply_all(b, &log);
	assert_same_state(a, b);
	for (int64_t id = fo; id <= own; id++) {
		char *x = steps_of(a, id), *y = steps_of(b, id);
		ck_assert_msg(x && y && !strcmp(x, y), "run %lld's steps differ: %s / %s",
			      (long long)id, x, y);
		free(x);
		free(y);
	}
	int64_t rows, bad;
	ck_assert_int_eq(verify(a, &rows, &bad), 0);
	ck_assert_int_eq(verify(b, &rows, &bad), 0);
	store_close(a);
	store_close(b);
	json_decref(log.ops);
}
END_TEST

static struct store *five_transitions(void)
{
	static const char *const states[] = { "SUSPECT", "FENCING", "ELECTING", "PROMOTING",
					       "FAILED_OVER" };
	struct store *s = open_cluster();
	for (int i = 0; i < 5; i++)
		move(s, "next", states[i], 0);
	return s;
}

START_TEST(test_chain_verifies)
{
	int64_t rows = -1, bad = -1;
	struct store *s = open_store();
	ck_assert_int_eq(verify(s, &rows, &bad), 0); /* fresh store: nothing to check */
	store_close(s);
	s = five_transitions();
	ck_assert_int_eq(verify(s, &rows, &bad), 0);
	ck_assert_int_eq(rows, 5);
	ck_assert_int_eq(bad, 0);
	store_close(s);
}
END_TEST

START_TEST(test_edited_row_is_detected)
{
	char msg[256];
	int64_t rows, bad;
	struct store *s = five_transitions();
	ck_assert_int_eq(raw_exec("DROP TRIGGER transitions_no_update;"
				  "UPDATE transitions SET reason = 'nothing to see' WHERE seq = 3",
				  msg, sizeof(msg)),
			 SQLITE_OK);
	ck_assert_int_eq(verify(s, &rows, &bad), 1);
	ck_assert_int_eq(bad, 3);
	store_close(s);
}
END_TEST

/* An integer column edited, at the last row. */
START_TEST(test_edit_of_epoch_is_detected)
{
	int64_t rows, bad;
	struct store *s = five_transitions();
	ck_assert_int_eq(raw_exec("DROP TRIGGER transitions_no_update;"
				  "UPDATE transitions SET epoch = epoch + 1 WHERE seq = 5",
				  NULL, 0),
			 SQLITE_OK);
	ck_assert_int_eq(verify(s, &rows, &bad), 1);
	ck_assert_int_eq(bad, 5);
	store_close(s);
}
END_TEST

START_TEST(test_deleted_row_is_detected)
{
	int64_t rows, bad;
	struct store *s = five_transitions();
	ck_assert_int_eq(raw_exec("DROP TRIGGER transitions_no_delete;"
				  "DELETE FROM transitions WHERE seq = 2",
				  NULL, 0),
			 SQLITE_OK);
	ck_assert_int_eq(verify(s, &rows, &bad), 1);
	ck_assert_int_eq(bad, 2);
	store_close(s);
}
END_TEST

START_TEST(test_removed_tail_is_detected)
{
	int64_t rows, bad;
	struct store *s = five_transitions();
	ck_assert_int_eq(raw_exec("DROP TRIGGER transitions_no_delete;"
				  "DELETE FROM transitions WHERE seq >= 4",
				  NULL, 0),
			 SQLITE_OK);
	ck_assert_int_eq(verify(s, &rows, &bad), 1);
	ck_assert_int_eq(rows, 3);
	ck_assert_int_eq(bad, 4);
	store_close(s);
}
END_TEST

/*
 * The encoding of store.c's HASH CHAIN comment, written again from the
 * comment: hash = SHA-256(prev_hash hex, then seq .. detail, each tagged
 * 0x00 NULL, 0x01 + 8-byte big-endian integer, 0x02 + 4-byte big-endian
 * length + bytes).  Recomputes row seq with reason replaced by `reason`
 * (NULL: as stored).
 */
static void documented_hash(int64_t seq, const char *reason, char hex[SHA256_HEX_SIZE])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT prev_hash, seq, ts_ms, from_state, event,"
					    " to_state, row_id, epoch, actor, run_id, reason,"
					    " detail FROM transitions WHERE seq = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	sha256_init(&c);
	sha256_update(&c, sqlite3_column_text(st, 0), 64);
	for (int col = 1; col <= 11; col++) {
		uint8_t b[9] = { 0 };
		int type = sqlite3_column_type(st, col);
		const char *text = (const char *)sqlite3_column_text(st, col);
		if (col == 10 && reason)
			type = SQLITE_TEXT, text = reason;
		if (type == SQLITE_NULL) {
			sha256_update(&c, b, 1);
		} else if (type == SQLITE_INTEGER) {
			uint64_t v = (uint64_t)sqlite3_column_int64(st, col);
			b[0] = 1;
			for (int k = 0; k < 8; k++)
				b[1 + k] = (uint8_t)(v >> (56 - 8 * k));
			sha256_update(&c, b, 9);
		} else {
			uint32_t len = (uint32_t)strlen(text);
			b[0] = 2;
			for (int k = 0; k < 4; k++)
				b[1 + k] = (uint8_t)(len >> (24 - 8 * k));
			sha256_update(&c, b, 5);
			sha256_update(&c, text, len);
		}
	}
	sha256_final(&c, d);
	sha256_hex(d, hex);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

START_TEST(test_hash_follows_the_documented_encoding)
{
	char hex[SHA256_HEX_SIZE], sql[160];
	struct store *s = five_transitions();
	for (int64_t seq = 1; seq <= 5; seq++) {
		documented_hash(seq, NULL, hex);
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM transitions WHERE seq = %" PRId64 " AND hash = '%s'",
			 seq, hex);
		ck_assert_int_eq(raw_int(sql), 1);
	}
	store_close(s);
}
END_TEST

/* A row rewritten together with a correct hash of its own: its MAC, made
 * with a key the database does not hold, no longer matches. */
START_TEST(test_rehashed_row_fails_its_mac)
{
	char hex[SHA256_HEX_SIZE], sql[256];
	int64_t rows, bad;
	struct store *s = five_transitions();
	documented_hash(2, "forged", hex);
	snprintf(sql, sizeof(sql),
		 "DROP TRIGGER transitions_no_update;"
		 "UPDATE transitions SET reason = 'forged', hash = '%s' WHERE seq = 2",
		 hex);
	ck_assert_int_eq(raw_exec(sql, NULL, 0), SQLITE_OK);
	ck_assert_int_eq(verify(s, &rows, &bad), 1);
	ck_assert_int_eq(bad, 2);
	store_close(s);
}
END_TEST

START_TEST(test_sql_update_and_delete_are_refused)
{
	char msg[256];
	struct store *s = five_transitions();
	ck_assert_int_ne(raw_exec("UPDATE transitions SET reason = 'x' WHERE seq = 1", msg,
				  sizeof(msg)),
			 SQLITE_OK);
	ck_assert_msg(strstr(msg, "append-only"), "%s", msg);
	ck_assert_int_ne(raw_exec("DELETE FROM transitions", msg, sizeof(msg)), SQLITE_OK);
	ck_assert_msg(strstr(msg, "append-only"), "%s", msg);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 5);
	ck_assert_int_eq(verify(s, NULL, NULL), 0);
	store_close(s);
}
END_TEST

START_TEST(test_dropped_triggers_come_back_at_open)
{
	struct store *s = five_transitions();
	store_close(s);
	ck_assert_int_eq(raw_exec("DROP TRIGGER transitions_no_update;"
				  "DROP TRIGGER transitions_no_delete",
				  NULL, 0),
			 SQLITE_OK);
	s = open_store();
	ck_assert_int_ne(raw_exec("DELETE FROM transitions", NULL, 0), SQLITE_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 5);
	store_close(s);
}
END_TEST

/* ---- runs ---- */

START_TEST(test_run_with_steps_and_rpo_rto_round_trips)
{
	char err[512];
	int64_t run = 0;
	struct store *s = open_cluster();
	ck_assert_msg(store_run_begin(s, "failover", "operator:alice", "us-east", 1,
				      "{\"reason\":\"drill\"}", &run, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_gt(run, 0);
	ck_assert_int_eq(store_run_step(s, run, "fence", "ok", "{\"epoch\":2}", err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_step(s, run, "promote", "ok", NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_step(s, run, "redirect", "skipped", NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_mark(s, run, "detected", 1000, err, sizeof(err)), 0);
	move(s, "failover", "FENCING", run);
	move(s, "fenced", "PROMOTING", run);
	move(s, "promoted", "STEADY", 0);
	ck_assert_msg(store_run_end(s, run, "succeeded", "eu-west", 3, 120, 2500,
				    "{\"promoted\":3500,\"first_write\":3600}", NULL, err,
				    sizeof(err)) == 0,
		      "%s", err);

	json_t *j = store_run_json(s, run);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), "failover");
	ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")), "succeeded");
	ck_assert_str_eq(json_string_value(json_object_get(j, "target")), "eu-west");
	ck_assert_str_eq(json_string_value(json_object_get(j, "from_site")), "us-east");
	ck_assert_str_eq(json_string_value(json_object_get(j, "actor")), "operator:alice");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rpo_records")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rpo_ms")), 120);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "rto_ms")), 2500);
	ck_assert(json_is_integer(json_object_get(j, "ended_ms")));
	json_t *ts = json_object_get(j, "timestamps");
	ck_assert_int_eq(json_integer_value(json_object_get(ts, "detected")), 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(ts, "promoted")), 3500);
	ck_assert_int_eq(json_integer_value(json_object_get(ts, "first_write")), 3600);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "detail"), "reason")),
			 "drill");
	json_t *steps = json_object_get(j, "steps");
	ck_assert_int_eq(json_array_size(steps), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(steps, 2), "seq")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 2), "status")),
			 "skipped");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(json_array_get(steps, 0), "detail"), "epoch")),
			 2);
	ck_assert_int_eq(json_array_size(json_object_get(j, "transitions")), 2);
	json_decref(j);

	j = store_runs_json(s, 10);
	ck_assert_int_eq(json_array_size(j), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "id")), run);
	json_decref(j);
	ck_assert_ptr_null(store_run_json(s, run + 100));
	store_close(s);
}
END_TEST

START_TEST(test_ended_run_cannot_end_again)
{
	char err[512];
	int64_t run = 0;
	struct store *s = open_cluster();
	ck_assert_int_eq(store_run_begin(s, "drill", "auto", NULL, 1, NULL, &run, err,
					 sizeof(err)), 0);
	ck_assert_int_eq(store_run_end(s, run, "held", NULL, -1, -1, -1, NULL, NULL, err,
				       sizeof(err)), 0);
	ck_assert_int_eq(store_run_end(s, run, "failed", NULL, -1, -1, 900, NULL, NULL, err,
				       sizeof(err)), 0);
	ck_assert_int_eq(store_run_end(s, run, "succeeded", NULL, -1, -1, -1, NULL, NULL, err,
				       sizeof(err)), -1);
	ck_assert_msg(strstr(err, "already ended (failed)"), "%s", err);
	ck_assert_int_eq(store_run_step(s, run + 1, "x", "ok", NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no such run"), "%s", err);
	ck_assert_int_eq(store_run_begin(s, "coffee", "auto", NULL, 1, NULL, &run, err,
					 sizeof(err)), -1);
	store_close(s);
}
END_TEST

/* ---- sites cache ---- */

START_TEST(test_site_upsert_round_trips_and_keeps_unknowns)
{
	char err[512];
	struct store *s = open_store();
	struct store_site site = { .name = "us-east", .url = "http://127.0.0.1:7001",
				   .region = "us", .role = "primary", .healthy = 1, .lsn = 42,
				   .flushed_lsn = 40, .epoch = 1, .last_seen_ms = 5000 };
	ck_assert_msg(store_site_upsert(s, &site, err, sizeof(err)) == 0, "%s", err);
	struct store_site down = { .name = "us-east", .role = "down", .healthy = 0, .lsn = -1,
				   .flushed_lsn = -1, .epoch = -1 };
	ck_assert_msg(store_site_upsert(s, &down, err, sizeof(err)) == 0, "%s", err);
	json_t *j = store_sites_json(s);
	ck_assert_int_eq(json_array_size(j), 1);
	json_t *o = json_array_get(j, 0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "url")), "http://127.0.0.1:7001");
	ck_assert_str_eq(json_string_value(json_object_get(o, "role")), "down");
	ck_assert(json_is_false(json_object_get(o, "healthy")));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "lsn")), 42);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "last_seen_ms")), 5000);
	json_decref(j);
	store_close(s);
}
END_TEST

/* ---- durability ---- */

START_TEST(test_transition_survives_kill9)
{
	struct store *s = open_cluster();
	store_close(s);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *child = NULL;
		char err[512];
		struct store_cluster next = { .epoch = 2, .version = 0 };
		snprintf(next.state, sizeof(next.state), "FAILED_OVER");
		snprintf(next.primary, sizeof(next.primary), "eu-west");
		struct store_transition t = { .from = "STEADY", .event = "failover",
					      .to = "FAILED_OVER", .actor = "auto", .epoch = 2 };
		if (store_open(&child, db_path, err, sizeof(err)) != 0 ||
		    store_transition(child, 1, &next, &t, NULL, err, sizeof(err)) != 0)
			_exit(3);
		kill(getpid(), SIGKILL); /* no close, no checkpoint, no atexit */
		_exit(4);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d",
		      status);
	s = open_store();
	struct store_cluster c = get_cluster(s);
	ck_assert_str_eq(c.state, "FAILED_OVER");
	ck_assert_str_eq(c.primary, "eu-west");
	ck_assert_int_eq(c.version, 2);
	ck_assert_int_eq(verify(s, NULL, NULL), 0);
	store_close(s);
}
END_TEST

/* ---- concurrency ---- */

#define RACE_ROUNDS 40

/*
 * Each round, both racers read the cluster row (so both hold the same
 * version), wait for each other, then both try to move from it: exactly one
 * may win.  The barrier makes every round a real race.
 */
struct race {
	struct store *shared;            /* one handle for both, or NULL */
	pthread_barrier_t barrier;
	int64_t won[2][RACE_ROUNDS];     /* version won, or 0 */
	int conflicts[2];
	int errors[2];
	char err[2][512];
};

struct racer {
	struct race *race;
	int id;
};

static void race_round(struct racer *r, struct store *s, int round)
{
	struct race *race = r->race;
	struct store_cluster c;
	char *err = race->err[r->id];
	/* A racer whose open failed still meets every barrier. */
	int rc = s ? store_cluster_get(s, &c, err, 512) : -1;
	pthread_barrier_wait(&race->barrier);
	if (rc == 0) {
		struct store_transition t = { .from = c.state, .event = "tick", .to = c.state,
					      .actor = "auto", .epoch = c.epoch };
		rc = store_transition(s, c.version, &c, &t, NULL, err, 512);
	}
	if (rc == 0)
		race->won[r->id][round] = c.version;
	else if (rc == STORE_CONFLICT)
		race->conflicts[r->id]++;
	else
		race->errors[r->id]++;
	pthread_barrier_wait(&race->barrier);
}

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	struct store *s = r->race->shared;
	if (!s && store_open(&s, db_path, r->race->err[r->id], 512) != 0)
		r->race->errors[r->id]++;
	for (int round = 0; round < RACE_ROUNDS; round++)
		race_round(r, s, round);
	if (!r->race->shared)
		store_close(s); /* NULL is fine */
	return NULL;
}

static void check_race(struct race *race, struct store *s)
{
	for (int i = 0; i < 2; i++)
		ck_assert_msg(race->errors[i] == 0, "racer %d: %s", i, race->err[i]);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		int64_t a = race->won[0][round], b = race->won[1][round];
		ck_assert_msg((a != 0) != (b != 0), "round %d: versions won %" PRId64 " and %" PRId64,
			      round, a, b);
		ck_assert_int_eq(a ? a : b, round + 1);
	}
	ck_assert_int_eq(race->conflicts[0] + race->conflicts[1], RACE_ROUNDS);
	ck_assert_int_eq(get_cluster(s).version, RACE_ROUNDS + 1);
	int64_t rows;
	ck_assert_int_eq(verify(s, &rows, NULL), 0);
	ck_assert_int_eq(rows, RACE_ROUNDS);
}

static void run_race(bool shared)
{
	struct store *s = open_cluster();
	struct race *race = calloc(1, sizeof(*race));
	struct racer r[2] = { { race, 0 }, { race, 1 } };
	pthread_t th[2];
	ck_assert_ptr_nonnull(race);
	race->shared = shared ? s : NULL;
	pthread_barrier_init(&race->barrier, NULL, 2);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	check_race(race, s);
	pthread_barrier_destroy(&race->barrier);
	free(race);
	store_close(s);
}

START_TEST(test_concurrent_writers_on_two_connections_never_share_a_version)
{
	run_race(false);
}
END_TEST

START_TEST(test_concurrent_writers_on_one_handle_never_share_a_version)
{
	run_race(true);
}
END_TEST

/* ---- the audit: key, MACs, head file, audit events ---- */

#define ALL_TRIGGERS_DROPPED \
	"DROP TRIGGER IF EXISTS transitions_no_update; DROP TRIGGER IF EXISTS transitions_no_delete;" \
	"DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;" \
	"DROP TRIGGER IF EXISTS run_steps_no_update; DROP TRIGGER IF EXISTS run_steps_no_delete;" \
	"DROP TRIGGER IF EXISTS policies_no_update; DROP TRIGGER IF EXISTS policies_no_delete;" \
	"DROP TRIGGER IF EXISTS runs_no_delete;"

static char key_path[640], head_path[640], wal_path[640], shm_path[640];

static void audit_paths(void)
{
	snprintf(key_path, sizeof(key_path), "%s.key", db_path);
	snprintf(head_path, sizeof(head_path), "%s.head", db_path);
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db_path);
	snprintf(shm_path, sizeof(shm_path), "%s-shm", db_path);
}

/* What someone who can write the file does: triggers out of the way first. */
static void tamper(const char *sql)
{
	char all[2048], msg[256];
	snprintf(all, sizeof(all), "%s%s", ALL_TRIGGERS_DROPPED, sql);
	ck_assert_msg(raw_exec(all, msg, sizeof(msg)) == SQLITE_OK, "%s: %s", sql, msg);
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole audit, through store_verify; returns its result and fills *r. */
static int verify_all(struct store *s, struct store_audit_report *r)
{
	char err[512];
	int rc = store_verify(s, r, err, sizeof(err));
	ck_assert_msg(rc >= 0, "store_verify: %s", err);
	return rc;
}

static struct store *open_read_only(void)
{
	struct store *s = NULL;
	char err[512];
	struct store_options opt = { .read_only = true };
	ck_assert_msg(store_open_ex(&s, db_path, &opt, err, sizeof(err)) == 0, "%s", err);
	return s;
}

static struct store_head_status head_status(struct store *s)
{
	struct store_head_status hs;
	char err[512];
	ck_assert_msg(store_head_status(s, &hs, err, sizeof(err)) == 0, "%s", err);
	return hs;
}

/* Like move, to a new epoch; returns store_transition's result. */
static int move_epoch(struct store *s, const char *to, int64_t epoch, char *err, size_t errlen)
{
	struct store_cluster cur = get_cluster(s), next = cur;
	snprintf(next.state, sizeof(next.state), "%s", to);
	next.epoch = epoch;
	struct store_transition t = { .from = cur.state, .event = "next", .to = to,
				      .actor = "auto", .epoch = epoch };
	return store_transition(s, cur.version, &next, &t, NULL, err, errlen);
}

/* A failover run with three steps, RPO/RTO measured, and a policy. */
static struct store *store_with_run(int64_t *run)
{
	char err[512];
	struct store *s = five_transitions();
	ck_assert_msg(store_run_begin(s, "failover", "auto", "us-east", 1, NULL, run, err,
				      sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_run_step(s, *run, "fence", "ok", "{\"epoch\":2}", err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_step(s, *run, "promote", "failed", NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_step(s, *run, "acknowledged", "ok",
					"{\"by\":\"operator:alice\",\"comment\":\"drill\"}", err,
					sizeof(err)), 0);
	ck_assert_int_eq(store_run_mark(s, *run, "detected", 1000, err, sizeof(err)), 0);
	ck_assert_int_eq(store_run_end(s, *run, "succeeded", "eu-west", 3, 120, 2500, NULL, NULL,
				       err, sizeof(err)), 0);
	ck_assert_int_eq(store_policy_add(s, "operator:alice", "{\"name\":\"p\"}", err,
					  sizeof(err)), 0);
	return s;
}

/* The key file's 32 bytes. */
static void read_key(uint8_t key[32])
{
	size_t len = 0;
	char *text = th_read_file(key_path, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(len, 65);
	for (int i = 0; i < 32; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(text + 2 * i, "%2x", &v), 1);
		key[i] = (uint8_t)v;
	}
	free(text);
}

static void hmac_of(const uint8_t key[32], const void *msg, size_t len, char hex[SHA256_HEX_SIZE])
{
	hmac_hex(key, 32, msg, len, hex);
}

START_TEST(test_key_file_is_created_0600_and_named_in_the_audit)
{
	struct stat st;
	uint8_t key[32];
	char id[SHA256_HEX_SIZE], sql[200];
	audit_paths();
	struct store *s = open_store();
	store_close(s);
	ck_assert_int_eq(stat(key_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	read_key(key);
	/* key id: HMAC(key, "drorch audit key id"), first 16 hex digits */
	hmac_of(key, "drorch audit key id", 19, id);
	id[16] = '\0';
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM audit_events WHERE seq = 1 AND kind = 'audit_start'"
		 " AND json_extract(detail, '$.key_id') = '%s'", id);
	ck_assert_int_eq(raw_int(sql), 1);
	ck_assert(file_exists(head_path));
	/* Opening again keeps the key. */
	uint8_t again[32];
	s = open_store();
	store_close(s);
	read_key(again);
	ck_assert_int_eq(memcmp(key, again, 32), 0);
}
END_TEST

/* Row seq of table, column col, as text (a static buffer per call). */
static const char *raw_text(const char *sql)
{
	static char out[4][4096];
	static int slot;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *o = out[slot++ % 4];
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(o, 4096, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return o;
}

/* MACS and HEAD FILE of store.c's comment, written again from the comment. */
START_TEST(test_macs_and_head_file_follow_the_documented_format)
{
	uint8_t key[32];
	char mac[SHA256_HEX_SIZE], msg[128], expect[1024], sql[160], id[SHA256_HEX_SIZE];
	int64_t run;
	audit_paths();
	struct store *s = store_with_run(&run);
	store_close(s);
	read_key(key);
	for (int64_t seq = 1; seq <= 5; seq++) {
		snprintf(sql, sizeof(sql), "SELECT hash FROM transitions WHERE seq = %" PRId64, seq);
		int n = snprintf(msg, sizeof(msg), "transitions%c%s", 0, raw_text(sql));
		hmac_of(key, msg, (size_t)n, mac);
		snprintf(sql, sizeof(sql), "SELECT mac FROM transitions WHERE seq = %" PRId64, seq);
		ck_assert_str_eq(raw_text(sql), mac);
	}
	const char *ehash = raw_text("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1");
	const char *emac = raw_text("SELECT mac FROM audit_events ORDER BY seq DESC LIMIT 1");
	int64_t eseq = raw_int("SELECT max(seq) FROM audit_events");
	int n = snprintf(msg, sizeof(msg), "audit_events%c%s", 0, ehash);
	hmac_of(key, msg, (size_t)n, mac);
	ck_assert_str_eq(emac, mac);
	hmac_of(key, "drorch audit key id", 19, id);
	id[16] = '\0';
	n = snprintf(expect, sizeof(expect),
		     "drorch-head 1\nkey_id %s\ntransitions 5 %s %s\naudit_events %" PRId64
		     " %s %s\nepoch 1\n",
		     id, raw_text("SELECT hash FROM transitions WHERE seq = 5"),
		     raw_text("SELECT mac FROM transitions WHERE seq = 5"), eseq, ehash, emac);
	hmac_of(key, expect, (size_t)n, mac);
	snprintf(expect + n, sizeof(expect) - (size_t)n, "mac %s\n", mac);
	size_t len = 0;
	char *head = th_read_file(head_path, &len);
	ck_assert_ptr_nonnull(head);
	ck_assert_str_eq(head, expect);
	free(head);
}
END_TEST

/* ROW DIGESTS: a run_steps row, encoded again from the comment. */
START_TEST(test_row_digest_follows_the_documented_encoding)
{
	int64_t run;
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE], b[9];
	char hex[SHA256_HEX_SIZE], sql[200];
	audit_paths();
	struct store *s = store_with_run(&run);
	store_close(s);
	/* run_steps, run, 1, ts_ms, "fence", "ok", "{\"epoch\":2}" */
	snprintf(sql, sizeof(sql), "SELECT ts_ms FROM run_steps WHERE run_id = %" PRId64 " AND seq = 1",
		 run);
	int64_t ts = raw_int(sql);
	const char *texts[] = { "run_steps", NULL, NULL, NULL, "fence", "ok", "{\"epoch\":2}" };
	int64_t ints[] = { 0, run, 1, ts, 0, 0, 0 };
	sha256_init(&c);
	for (int k = 0; k < 7; k++) {
		if (texts[k]) {
			uint32_t len = (uint32_t)strlen(texts[k]);
			b[0] = 2;
			for (int i = 0; i < 4; i++)
				b[1 + i] = (uint8_t)(len >> (24 - 8 * i));
			sha256_update(&c, b, 5);
			sha256_update(&c, texts[k], len);
		} else {
			b[0] = 1;
			for (int i = 0; i < 8; i++)
				b[1 + i] = (uint8_t)((uint64_t)ints[k] >> (56 - 8 * i));
			sha256_update(&c, b, 9);
		}
	}
	sha256_final(&c, d);
	sha256_hex(d, hex);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM audit_events WHERE kind = 'run_step' AND tbl = 'run_steps'"
		 " AND ref_id = %" PRId64 " AND ref_seq = 1 AND digest = '%s'", run, hex);
	ck_assert_int_eq(raw_int(sql), 1);
}
END_TEST

START_TEST(test_runs_steps_and_policies_verify)
{
	int64_t run;
	struct store_audit_report r;
	struct store *s = store_with_run(&run);
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	ck_assert(r.macs);
	ck_assert_int_eq(r.transitions, 5);
	ck_assert_int_eq(r.runs, 1);
	ck_assert_int_eq(r.run_steps, 3);
	ck_assert_int_eq(r.policies, 1);
	/* audit_start, run_begin, 3 run_step, run_mark, run_end, policy */
	ck_assert_int_eq(r.audit_events, 8);
	ck_assert_int_eq(r.head.state, STORE_HEAD_OK);
	store_close(s);
}
END_TEST

/*
 * Someone who can write the file edits a transition, then recomputes every
 * SHA-256 after it and the cluster row's head: the chain is consistent
 * again, but the MACs need the key.
 */
START_TEST(test_wholesale_rewrite_with_recomputed_hashes_fails_the_mac)
{
	char hex[SHA256_HEX_SIZE], sql[512];
	int64_t rows, bad;
	struct store_audit_report r;
	struct store *s = five_transitions();
	for (int64_t seq = 2; seq <= 5; seq++) {
		if (seq > 2) {
			snprintf(sql, sizeof(sql),
				 "UPDATE transitions SET prev_hash = (SELECT hash FROM transitions"
				 " WHERE seq = %" PRId64 ") WHERE seq = %" PRId64, seq - 1, seq);
			tamper(sql);
		}
		documented_hash(seq, seq == 2 ? "forged" : NULL, hex);
		snprintf(sql, sizeof(sql), "UPDATE transitions SET %s hash = '%s' WHERE seq = %" PRId64,
			 seq == 2 ? "reason = 'forged'," : "", hex, seq);
		tamper(sql);
	}
	snprintf(sql, sizeof(sql), "UPDATE cluster SET head_hash = '%s'", hex);
	tamper(sql);
	ck_assert_int_eq(verify(s, &rows, &bad), 1);
	ck_assert_int_eq(bad, 2);
	ck_assert_int_eq(verify_all(s, &r), 1);
	ck_assert_str_eq(r.bad_table, "transitions");
	ck_assert_msg(strstr(r.first_bad, "transitions seq 2: its MAC does not match"), "%s",
		      r.first_bad);
	store_close(s);
}
END_TEST

static void expect_broken(struct store *s, const char *table, const char *text)
{
	struct store_audit_report r;
	ck_assert_int_eq(verify_all(s, &r), 1);
	ck_assert_str_eq(r.bad_table, table);
	ck_assert_msg(strstr(r.first_bad, text), "'%s' has no '%s'", r.first_bad, text);
}

START_TEST(test_edited_run_step_is_detected)
{
	int64_t run;
	char sql[160];
	struct store *s = store_with_run(&run);
	snprintf(sql, sizeof(sql), "UPDATE run_steps SET status = 'ok' WHERE run_id = %" PRId64
		 " AND seq = 2", run);
	tamper(sql);
	snprintf(sql, sizeof(sql), "run_steps: run %" PRId64 " step 2: not what audit event", run);
	expect_broken(s, "run_steps", sql);
	store_close(s);
}
END_TEST

/* An acknowledgement's comment is a step's detail. */
START_TEST(test_deleted_acknowledgement_is_detected)
{
	int64_t run;
	char sql[160];
	struct store *s = store_with_run(&run);
	snprintf(sql, sizeof(sql), "DELETE FROM run_steps WHERE run_id = %" PRId64 " AND seq = 3", run);
	tamper(sql);
	snprintf(sql, sizeof(sql), "run_steps: run %" PRId64 " step 3: removed", run);
	expect_broken(s, "run_steps", sql);
	store_close(s);
}
END_TEST

START_TEST(test_inserted_run_step_is_detected)
{
	int64_t run;
	char sql[200];
	struct store *s = store_with_run(&run);
	snprintf(sql, sizeof(sql), "INSERT INTO run_steps VALUES (%" PRId64 ", 4, 1, 'approved',"
		 " 'ok', NULL)", run);
	tamper(sql);
	expect_broken(s, "run_steps", "not in the audit");
	store_close(s);
}
END_TEST

START_TEST(test_edited_run_outcome_is_detected)
{
	int64_t run;
	struct store *s = store_with_run(&run);
	tamper("UPDATE runs SET rto_ms = 900, outcome = 'succeeded'");
	expect_broken(s, "runs", "not what audit event");
	store_close(s);
}
END_TEST

START_TEST(test_deleted_run_is_detected)
{
	int64_t run;
	struct store *s = store_with_run(&run);
	tamper("DELETE FROM runs");
	expect_broken(s, "runs", "removed");
	store_close(s);
}
END_TEST

START_TEST(test_edited_policy_is_detected)
{
	int64_t run;
	struct store *s = store_with_run(&run);
	tamper("UPDATE policies SET policy = '{\"name\":\"lax\"}'");
	expect_broken(s, "policies", "policies: policy 1: not what audit event");
	store_close(s);
}
END_TEST

START_TEST(test_removed_audit_event_is_detected)
{
	int64_t run;
	struct store *s = store_with_run(&run);
	tamper("DELETE FROM audit_events WHERE seq = 3");
	expect_broken(s, "audit_events", "audit_events seq 3: missing");
	store_close(s);
}
END_TEST

START_TEST(test_new_tables_are_append_only)
{
	int64_t run;
	char msg[256];
	struct store *s = store_with_run(&run);
	ck_assert_int_ne(raw_exec("UPDATE run_steps SET status = 'ok'", msg, sizeof(msg)), SQLITE_OK);
	ck_assert_msg(strstr(msg, "append-only"), "%s", msg);
	ck_assert_int_ne(raw_exec("DELETE FROM audit_events", msg, sizeof(msg)), SQLITE_OK);
	ck_assert_int_ne(raw_exec("DELETE FROM policies", msg, sizeof(msg)), SQLITE_OK);
	ck_assert_int_ne(raw_exec("DELETE FROM runs", msg, sizeof(msg)), SQLITE_OK);
	store_close(s);
}
END_TEST

/* ---- a database that lost its newest commits ---- */

/* In a child: opens the store, moves it to epochs 2 and 3 with a run step,
 * and dies by SIGKILL holding it: no close, no checkpoint; the commits are
 * in the -wal only. */
static void two_epochs_then_kill9(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *child = NULL;
		char err[512];
		int64_t run;
		if (store_open(&child, db_path, err, sizeof(err)) != 0 ||
		    move_epoch(child, "FENCING", 2, err, sizeof(err)) != 0 ||
		    move_epoch(child, "STEADY", 3, err, sizeof(err)) != 0 ||
		    store_run_begin(child, "drill", "auto", NULL, 3, NULL, &run, err, sizeof(err)))
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d",
		      status);
}

/* Five transitions checkpointed into the db file, two more in the -wal of a
 * killed process, then the -wal and -shm are lost. */
static void lose_the_wal(void)
{
	audit_paths();
	struct store *s = five_transitions();
	store_close(s); /* the last connection checkpoints and removes the -wal */
	ck_assert(!file_exists(wal_path));
	two_epochs_then_kill9();
	ck_assert(file_exists(wal_path));
	ck_assert_int_eq(unlink(wal_path), 0);
	unlink(shm_path);
}

START_TEST(test_lost_wal_is_behind_its_head)
{
	char err[512];
	int64_t run;
	struct store_audit_report r;
	lose_the_wal();
	struct store *s = open_store();
	struct store_head_status hs = head_status(s);
	ck_assert_int_eq(hs.state, STORE_HEAD_BEHIND);
	ck_assert(hs.behind);
	ck_assert(!hs.writable);
	ck_assert_int_eq(hs.db_transition_seq, 5);
	ck_assert_int_eq(hs.file_transition_seq, 7);
	ck_assert_int_eq(hs.db_epoch, 1);
	ck_assert_int_eq(hs.file_epoch, 3);
	ck_assert_int_eq(hs.epoch_floor, 3);
	ck_assert_int_lt(hs.db_event_seq, hs.file_event_seq);
	/* Nothing is written on top of the lost history. */
	ck_assert_int_eq(move_epoch(s, "FENCING", 2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "behind its head file") && strstr(err, "--accept-lost-history"),
		      "%s", err);
	ck_assert_int_eq(store_run_begin(s, "drill", "auto", NULL, 1, NULL, &run, err, sizeof(err)),
			 -1);
	struct store_cluster c = get_cluster(s);
	ck_assert_int_eq(store_cluster_update(s, c.version, &c, err, sizeof(err)), -1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 5);
	/* verify: broken, with both positions */
	ck_assert_int_eq(verify_all(s, &r), 1);
	ck_assert_str_eq(r.bad_table, "head file");
	ck_assert_msg(strstr(r.first_bad, "the database ends at transitions seq 5") &&
		      strstr(r.first_bad, "the head file says transitions seq 7"), "%s",
		      r.first_bad);
	store_close(s);
	/* Read-only, too. */
	s = open_read_only();
	ck_assert_int_eq(verify_all(s, &r), 1);
	ck_assert_int_eq(r.head.state, STORE_HEAD_BEHIND);
	store_close(s);
}
END_TEST

/* A backup taken by copying the db file while a process holds it, without
 * its -wal, restored beside the head file. */
START_TEST(test_a_copy_without_its_wal_is_behind_its_head)
{
	char copy_dir[560], copy_db[590], from[700], to[700];
	static const char *const suffix[] = { "", ".head", ".key" };
	audit_paths();
	struct store *s = five_transitions();
	store_close(s);
	s = open_store();
	move(s, "next", "STEADY", 0);
	move(s, "next", "SUSPECT", 0);
	snprintf(copy_dir, sizeof(copy_dir), "%s/restored", dir);
	ck_assert_int_eq(mkdir(copy_dir, 0700), 0);
	snprintf(copy_db, sizeof(copy_db), "%s/drorch.db", copy_dir);
	for (int i = 0; i < 3; i++) {
		size_t len = 0;
		snprintf(from, sizeof(from), "%s%s", db_path, suffix[i]);
		snprintf(to, sizeof(to), "%s%s", copy_db, suffix[i]);
		char *bytes = th_read_file(from, &len);
		ck_assert_ptr_nonnull(bytes);
		FILE *f = fopen(to, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fwrite(bytes, 1, len, f), len);
		fclose(f);
		free(bytes);
	}
	store_close(s);
	snprintf(db_path, sizeof(db_path), "%s", copy_db);
	s = open_store();
	struct store_head_status hs = head_status(s);
	ck_assert_int_eq(hs.state, STORE_HEAD_BEHIND);
	ck_assert_int_eq(hs.db_transition_seq, 5);
	ck_assert_int_eq(hs.file_transition_seq, 7);
	store_close(s);
}
END_TEST

START_TEST(test_accepted_loss_is_audited_and_keeps_epochs_above_the_floor)
{
	char err[512];
	struct store_audit_report r;
	lose_the_wal();
	struct store *s = open_store();
	ck_assert_msg(store_head_accept(s, "operator:alice", err, sizeof(err)) == 0, "%s", err);
	struct store_head_status hs = head_status(s);
	ck_assert_int_eq(hs.state, STORE_HEAD_OK);
	ck_assert(hs.writable);
	ck_assert_int_eq(hs.epoch_floor, 3);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit_events WHERE kind = 'history_accepted'"
				 " AND json_extract(detail, '$.actor') = 'operator:alice'"
				 " AND json_extract(detail, '$.epoch_floor') = 3"
				 " AND json_extract(detail, '$.head_file.transitions') = 7"
				 " AND json_extract(detail, '$.database.transitions') = 5"),
			 1);
	store_close(s);
	/* The floor outlives the handle: epoch 2 is not issued again; the floor
	 * itself may be taken (adopting the sites' epoch names it, issues none),
	 * and the next fence goes above it. */
	s = open_store();
	ck_assert_int_eq(move_epoch(s, "FENCING", 2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "epoch 2 may already be in use"), "%s", err);
	ck_assert_msg(move_epoch(s, "STEADY", 3, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(move_epoch(s, "FENCING", 4, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	store_close(s);
}
END_TEST

START_TEST(test_missing_head_file_is_reported_and_a_first_start_writes_one)
{
	struct store_audit_report r;
	char err[512];
	audit_paths();
	struct store *s = open_store();
	ck_assert(file_exists(head_path));
	ck_assert_int_eq(head_status(s).state, STORE_HEAD_OK);
	store_close(s);
	/* Lost before anything was audited (a crash right after creation):
	 * still a first start. */
	unlink(head_path);
	s = open_cluster();
	ck_assert(file_exists(head_path));
	ck_assert_int_eq(head_status(s).state, STORE_HEAD_OK);
	move(s, "next", "SUSPECT", 0);
	store_close(s);
	/* Lost once the audit has grown: reported, and nothing is written. */
	unlink(head_path);
	s = open_store();
	struct store_head_status hs = head_status(s);
	ck_assert_int_eq(hs.state, STORE_HEAD_MISSING);
	ck_assert(!hs.writable);
	ck_assert_int_eq(store_policy_add(s, "auto", "{}", err, sizeof(err)), -1);
	ck_assert_int_eq(verify_all(s, &r), 1);
	ck_assert_msg(strstr(r.first_bad, "is missing"), "%s", r.first_bad);
	ck_assert(!file_exists(head_path));
	store_close(s);
}
END_TEST

START_TEST(test_edited_head_file_is_invalid)
{
	size_t len = 0;
	struct store_audit_report r;
	audit_paths();
	struct store *s = five_transitions();
	store_close(s);
	char *text = th_read_file(head_path, &len);
	ck_assert_ptr_nonnull(text);
	char *epoch = strstr(text, "epoch 1\n");
	ck_assert_ptr_nonnull(epoch);
	epoch[6] = '9';
	write_text(head_path, text);
	free(text);
	s = open_store();
	struct store_head_status hs = head_status(s);
	ck_assert_int_eq(hs.state, STORE_HEAD_INVALID);
	ck_assert_msg(strstr(hs.detail, "MAC does not match"), "%s", hs.detail);
	ck_assert_int_eq(verify_all(s, &r), 1);
	store_close(s);
}
END_TEST

/* ---- the key ---- */

START_TEST(test_wrong_or_missing_key_is_refused_and_reported)
{
	char err[512];
	struct store *s = NULL;
	struct store_audit_report r;
	audit_paths();
	s = five_transitions();
	store_close(s);
	write_text(key_path, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is not this store's key (key id"), "%s", err);
	s = open_read_only();
	ck_assert_int_eq(verify_all(s, &r), 1);
	ck_assert_str_eq(r.bad_table, "key");
	ck_assert_msg(strstr(r.first_bad, key_path), "%s", r.first_bad);
	store_close(s);
	unlink(key_path);
	s = NULL;
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "audit key file") && strstr(err, "is missing"), "%s", err);
	ck_assert(!file_exists(key_path)); /* not replaced by a new one */
	s = open_read_only();
	ck_assert_int_eq(store_verify(s, &r, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is missing"), "%s", err);
	store_close(s);
}
END_TEST

START_TEST(test_key_file_option_is_used)
{
	char err[512], other[700];
	struct store *s = NULL;
	audit_paths();
	snprintf(other, sizeof(other), "%s/elsewhere.key", dir);
	struct store_options opt = { .key_file = other };
	ck_assert_msg(store_open_ex(&s, db_path, &opt, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(store_key_file(s), other);
	store_close(s);
	ck_assert(file_exists(other));
	ck_assert(!file_exists(key_path));
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1); /* PATH.key: another key */
}
END_TEST

/* ---- drorchd, the real process: helpers ---- */

static char cfg_path[700], out_path[700];
static int orch_port;  /* the listen port write_config chose */

/* The output has a line "  TABLE ..." that contains text. */
static bool line_has(const char *out, const char *table, const char *text)
{
	char start[64];
	snprintf(start, sizeof(start), "\n  %s ", table);
	const char *line = strstr(out, start);
	const char *end = line ? strchr(line + 1, '\n') : NULL;
	const char *hit = line ? strstr(line, text) : NULL;
	return hit && (!end || hit < end);
}

/* A config naming db_path; tokens exist.  key_line: an extra line, or "". */
static void write_config(const char *key_line)
{
	char text[4096], tok[700];
	snprintf(tok, sizeof(tok), "%s/token", dir);
	write_text(tok, "a-token-for-tests\n");
	snprintf(cfg_path, sizeof(cfg_path), "%s/drorchd.yaml", dir);
	snprintf(out_path, sizeof(out_path), "%s/drorchd.out", dir);
	snprintf(text, sizeof(text),
		 "listen: 127.0.0.1:%d\ndb: %s\ntoken_file: %s\nsite_token_file: %s\n"
		 "initial_primary: a\nsites:\n"
		 "  - {name: a, url: \"http://127.0.0.1:1\", region: r1}\n"
		 "  - {name: b, url: \"http://127.0.0.1:2\", region: r2}\n%s",
		 orch_port = th_free_port(), db_path, tok, tok, key_line);
	write_text(cfg_path, text);
}

/* Runs drorchd --config cfg_path [mode]; returns its exit code, *out its
 * stdout and stderr (caller frees). */
static int drorchd(const char *mode, char **out)
{
	char *argv[] = { (char *)th_bin("drorchd"), "--config", cfg_path, (char *)mode, NULL };
	size_t len;
	unlink(out_path);
	pid_t pid = th_spawn(argv, out_path);
	ck_assert_int_gt(pid, 0);
	int st = th_wait_exit(pid, 30000);
	ck_assert_msg(st != -1, "drorchd %s did not exit", mode ? mode : "");
	*out = th_read_file(out_path, &len);
	ck_assert_ptr_nonnull(*out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- integrity and read-only verification ---- */

static void damage_page_of(const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT rootpage FROM sqlite_schema WHERE name = '%s'", table);
	int64_t page = raw_int(sql), size = raw_int("PRAGMA page_size");
	uint8_t junk[64];
	memset(junk, 0xa5, sizeof(junk));
	int fd = open(db_path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (page - 1) * size), sizeof(junk));
	close(fd);
}

START_TEST(test_damaged_page_is_refused_at_open)
{
	char err[512];
	struct store *s = five_transitions();
	store_close(s);
	damage_page_of("transitions");
	s = NULL;
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), STORE_DAMAGED);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, db_path) && strstr(err, "damaged"), "%s", err);
	struct store_options opt = { .read_only = true };
	ck_assert_int_eq(store_open_ex(&s, db_path, &opt, err, sizeof(err)), STORE_DAMAGED);
}
END_TEST

/* Bytes of path, NULL when it does not exist. */
static char *bytes_of(const char *path, size_t *len)
{
	*len = 0;
	return file_exists(path) ? th_read_file(path, len) : NULL;
}

struct snapshot {
	char *db, *wal, *head;
	size_t db_len, wal_len, head_len;
};

static void snap(struct snapshot *sn)
{
	sn->db = bytes_of(db_path, &sn->db_len);
	sn->wal = bytes_of(wal_path, &sn->wal_len);
	sn->head = bytes_of(head_path, &sn->head_len);
}

static void same_bytes(const char *what, const char *a, size_t alen, const char *b, size_t blen)
{
	ck_assert_msg((a == NULL) == (b == NULL), "%s: appeared or vanished", what);
	ck_assert_msg(alen == blen && (!a || memcmp(a, b, alen) == 0), "%s: changed", what);
}

static void check_unchanged(struct snapshot *before)
{
	struct snapshot after;
	snap(&after);
	same_bytes("db", before->db, before->db_len, after.db, after.db_len);
	same_bytes("-wal", before->wal, before->wal_len, after.wal, after.wal_len);
	same_bytes("head", before->head, before->head_len, after.head, after.head_len);
	free(before->db), free(before->wal), free(before->head);
	free(after.db), free(after.wal), free(after.head);
}

START_TEST(test_read_only_verify_changes_nothing_while_a_writer_holds_the_store)
{
	int64_t run;
	char err[512];
	struct snapshot before;
	struct store_audit_report r;
	audit_paths();
	struct store *s = store_with_run(&run); /* held open: everything is in the -wal */
	ck_assert(file_exists(wal_path));
	snap(&before);
	struct store *ro = open_read_only();
	ck_assert_msg(verify_all(ro, &r) == 0, "%s", r.first_bad);
	ck_assert_int_eq(store_run_step(ro, run, "x", "ok", NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "read-only"), "%s", err);
	store_close(ro);
	char *out;
	write_config("");
	ck_assert_int_eq(drorchd("--verify-audit", &out), 0);
	free(out);
	check_unchanged(&before);
	store_close(s);
}
END_TEST

START_TEST(test_read_only_verify_changes_nothing_after_a_kill9)
{
	struct snapshot before;
	struct store_audit_report r;
	audit_paths();
	struct store *s = five_transitions();
	store_close(s);
	two_epochs_then_kill9();
	ck_assert(file_exists(wal_path));
	snap(&before);
	s = open_read_only();
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	ck_assert_int_eq(r.transitions, 7);
	store_close(s);
	check_unchanged(&before);
}
END_TEST

/* ---- migration from schema 2 ---- */

/* Turns the store into what schema 2 left: no MACs, no audit_events, no
 * key or head file. */
static void downgrade_to_schema_2(void)
{
	tamper("DROP TABLE audit_events; ALTER TABLE transitions DROP COLUMN mac;"
	       "PRAGMA user_version = 2;");
	ck_assert_int_eq(unlink(key_path), 0);
	ck_assert_int_eq(unlink(head_path), 0);
}

START_TEST(test_schema_2_store_is_migrated_with_macs_and_events)
{
	int64_t run;
	struct store_audit_report r;
	audit_paths();
	struct store *s = store_with_run(&run);
	store_close(s);
	downgrade_to_schema_2();
	s = open_read_only(); /* verify does not migrate: the chain alone */
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	ck_assert(!r.macs);
	ck_assert_int_eq(r.schema_version, 2);
	store_close(s);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 2);
	s = open_store();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert(file_exists(key_path) && file_exists(head_path));
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions WHERE length(mac) = 64"), 5);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit_events WHERE seq = 1 AND"
				 " kind = 'audit_start' AND json_extract(detail, '$.from') = 2"
				 " AND json_extract(detail, '$.transitions') = 5"),
			 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit_events WHERE kind = 'migrated'"), 5);
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	ck_assert_int_eq(r.run_steps, 3);
	/* The rebuilt runs table takes today's kinds, its foreign keys intact. */
	char err[256];
	int64_t rw;
	ck_assert_msg(store_run_begin(s, "rewind", "auto", "a", 2, NULL, &rw, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_foreign_key_check"), 0);
	store_close(s);
	/* From then on, an edit of a migrated row is caught. */
	tamper("UPDATE run_steps SET detail = NULL WHERE seq = 1");
	s = open_store();
	expect_broken(s, "run_steps", "step 1: not what audit event");
	store_close(s);
}
END_TEST

/* Schema 3's runs table knew no outcome "dry_run": opened, the store is
 * schema 4, takes a dry run, and its audit still holds (rows unchanged). */
START_TEST(test_schema_3_store_takes_dry_runs_after_migration)
{
	int64_t run, dry;
	char err[512];
	struct store_audit_report r;
	audit_paths();
	struct store *s = store_with_run(&run);
	store_close(s);
	tamper("PRAGMA foreign_keys=OFF;"
	       "CREATE TABLE runs_v3 ( id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN"
	       " ('failover','switchover','failback','upgrade','playbook','drill','rewind')),"
	       " started_ms INTEGER NOT NULL, ended_ms INTEGER,"
	       " outcome TEXT NOT NULL CHECK (outcome IN ('running','succeeded','failed','held')),"
	       " actor TEXT NOT NULL, target TEXT, from_site TEXT, epoch INTEGER,"
	       " rpo_records INTEGER, rpo_ms INTEGER, rto_ms INTEGER,"
	       " timestamps TEXT NOT NULL DEFAULT '{}', detail TEXT) STRICT;"
	       "INSERT INTO runs_v3 SELECT * FROM runs; DROP TABLE runs;"
	       "ALTER TABLE runs_v3 RENAME TO runs; PRAGMA user_version = 3;");
	ck_assert_int_eq(raw_exec("INSERT INTO runs (kind, started_ms, outcome, actor)"
				  " VALUES ('playbook', 1, 'dry_run', 'auto')", NULL, 0),
			 SQLITE_CONSTRAINT);
	s = open_store();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	ck_assert_msg(store_run_begin(s, "playbook", "auto", NULL, 1, NULL, &dry, err,
				      sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_run_end(s, dry, "dry_run", NULL, -1, -1, -1, NULL, "{\"would\":\"fail\"}",
				    err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_run_end(s, dry, "maybe", NULL, -1, -1, -1, NULL, NULL, err,
				       sizeof(err)), -1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM pragma_foreign_key_check"), 0);
	ck_assert_msg(verify_all(s, &r) == 0, "%s", r.first_bad);
	store_close(s);
	/* The rebuilt table is guarded like the one it replaced. */
	ck_assert_int_ne(raw_exec("DELETE FROM runs WHERE kind = 'playbook'", NULL, 0), SQLITE_OK);
}
END_TEST

START_TEST(test_broken_schema_2_chain_is_not_given_macs)
{
	char err[512];
	struct store *s = five_transitions();
	audit_paths();
	store_close(s);
	downgrade_to_schema_2();
	tamper("UPDATE transitions SET reason = 'x' WHERE seq = 3");
	s = NULL;
	ck_assert_int_eq(store_open(&s, db_path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "broken at seq 3") && strstr(err, "refusing to migrate"), "%s",
		      err);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 2);
}
END_TEST

/* ---- drorchd, the real process ---- */

START_TEST(test_verify_audit_says_what_it_checked_and_the_first_bad_row)
{
	int64_t run;
	char *out, want[200];
	audit_paths();
	struct store *s = store_with_run(&run);
	store_close(s);
	write_config("");
	ck_assert_int_eq(drorchd("--verify-audit", &out), 0);
	ck_assert_msg(line_has(out, "transitions", " 5 rows: hash chain, MACs") &&
		      line_has(out, "audit_events", " 8 rows") && line_has(out, "runs", " 1 row:") &&
		      line_has(out, "run_steps", " 3 rows") && line_has(out, "policies", " 1 row:") &&
		      line_has(out, "head file", "reaches its head file") &&
		      strstr(out, "\naudit intact\n"), "%s", out);
	free(out);
	snprintf(want, sizeof(want), "UPDATE run_steps SET name = 'skip' WHERE run_id = %" PRId64
		 " AND seq = 1", run);
	tamper(want);
	ck_assert_int_eq(drorchd("--verify-audit", &out), 1);
	snprintf(want, sizeof(want), "audit BROKEN: run_steps: run %" PRId64 " step 1: not what", run);
	ck_assert_msg(strstr(out, want), "%s", out);
	free(out);
	unlink(key_path);
	ck_assert_int_eq(drorchd("--verify-audit", &out), 2);
	ck_assert_msg(strstr(out, "is missing"), "%s", out);
	free(out);
}
END_TEST

START_TEST(test_drorchd_records_lost_history_and_goes_on)
{
	char *out;
	lose_the_wal();
	write_config("");
	ck_assert_int_eq(drorchd("--verify-audit", &out), 1);
	ck_assert_msg(strstr(out, "audit BROKEN") && strstr(out, "transitions seq 5") &&
		      strstr(out, "transitions seq 7"), "%s", out);
	free(out);
	/* A DR orchestrator that refused to start would fail over nothing: it
	 * starts, records the loss in the audit and says so in its status. */
	char *argv[] = { (char *)th_bin("drorchd"), "--config", cfg_path, NULL };
	pid_t pid = th_spawn(argv, out_path);
	char url[128], *body = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/status", orch_port);
	ck_assert_msg(th_wait_http(url, 200, 10000), "drorchd did not start");
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *st = json_loads(body, 0, NULL);
	json_t *store = json_object_get(st, "store");
	ck_assert_msg(json_is_true(json_object_get(store, "history_lost")), "%s", body);
	ck_assert_int_eq(json_integer_value(json_object_get(store, "epoch_floor")), 3);
	json_decref(st);
	free(body);
	ck_assert_int_ge(th_kill(pid, SIGTERM, 10000), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM audit_events WHERE kind = 'history_accepted'"
				 " AND json_extract(detail, '$.actor') = 'auto'"), 1);
	ck_assert_int_eq(drorchd("--verify-audit", &out), 0);
	free(out);
	ck_assert_int_eq(drorchd("--accept-lost-history", &out), 0);
	ck_assert_msg(strstr(out, "nothing to accept"), "%s", out);
	free(out);
}
END_TEST

START_TEST(test_drorchd_refuses_a_damaged_store_naming_it)
{
	char *out;
	struct store *s = five_transitions();
	store_close(s);
	damage_page_of("transitions");
	write_config("");
	ck_assert_int_eq(drorchd(NULL, &out), 1);
	ck_assert_msg(strstr(out, db_path) && strstr(out, "damaged"), "%s", out);
	free(out);
	ck_assert_int_eq(drorchd("--verify-audit", &out), 1);
	ck_assert_msg(strstr(out, db_path) && strstr(out, "damaged"), "%s", out);
	free(out);
}
END_TEST

START_TEST(test_verify_audit_uses_audit_key_file)
{
	char *out, line[800], other[700];
	struct store *s = NULL;
	char err[512];
	audit_paths();
	snprintf(other, sizeof(other), "%s/audit.key", dir);
	struct store_options opt = { .key_file = other };
	ck_assert_msg(store_open_ex(&s, db_path, &opt, err, sizeof(err)) == 0, "%s", err);
	store_close(s);
	snprintf(line, sizeof(line), "audit_key_file: %s\n", other);
	write_config(line);
	ck_assert_int_eq(drorchd("--verify-audit", &out), 0);
	ck_assert_msg(strstr(out, other), "%s", out);
	free(out);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *sha = tcase_create("sha256");
	tcase_add_test(sha, test_sha256_abc);
	tcase_add_test(sha, test_sha256_empty);
	tcase_add_test(sha, test_sha256_448_bits);
	tcase_add_test(sha, test_sha256_incremental_million_a);
	tcase_add_test(sha, test_hmac_sha256_rfc4231_short_keys);
	tcase_add_test(sha, test_hmac_sha256_rfc4231_long_key);
	suite_add_tcase(s, sha);

	TCase *tc = tcase_create("store");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store_creates_schema_and_reopens);
	tcase_add_test(tc, test_cluster_init_leaves_existing_row);
	tcase_add_test(tc, test_store_refuses_non_sqlite_file);
	tcase_add_test(tc, test_store_refuses_foreign_sqlite_database);
	tcase_add_test(tc, test_store_refuses_newer_schema);
	tcase_add_test(tc, test_transition_commits_with_cas_and_chains);
	tcase_add_test(tc, test_stale_version_conflicts_and_changes_nothing);
	tcase_add_test(tc, test_cluster_update_changes_detail_without_transition);
	tcase_add_test(tc, test_damaged_run_context_is_refused_on_read);
	tcase_add_test(tc, test_bad_json_is_refused_and_nothing_written);
	tcase_add_test(tc, test_bad_actor_is_refused_by_schema);
	tcase_add_test(tc, test_cluster_state_must_be_the_transition_target);
	tcase_add_test(tc, test_chain_verifies);
	tcase_add_test(tc, test_edited_row_is_detected);
	tcase_add_test(tc, test_edit_of_epoch_is_detected);
	tcase_add_test(tc, test_deleted_row_is_detected);
	tcase_add_test(tc, test_removed_tail_is_detected);
	tcase_add_test(tc, test_hash_follows_the_documented_encoding);
	tcase_add_test(tc, test_rehashed_row_fails_its_mac);
	tcase_add_test(tc, test_sql_update_and_delete_are_refused);
	tcase_add_test(tc, test_dropped_triggers_come_back_at_open);
	tcase_add_test(tc, test_run_with_steps_and_rpo_rto_round_trips);
	tcase_add_test(tc, test_ended_run_cannot_end_again);
	tcase_add_test(tc, test_site_upsert_round_trips_and_keeps_unknowns);
	tcase_add_test(tc, test_transition_survives_kill9);
	tcase_add_test(tc, test_concurrent_writers_on_two_connections_never_share_a_version);
	tcase_add_test(tc, test_concurrent_writers_on_one_handle_never_share_a_version);
	tcase_add_test(tc, test_replicated_writes_apply_alike_on_a_second_store);
	tcase_add_test(tc, test_rewind_is_recorded_in_one_write);
	suite_add_tcase(s, tc);

	TCase *audit = tcase_create("audit");
	tcase_set_timeout(audit, 120);
	tcase_add_checked_fixture(audit, setup, teardown);
	tcase_add_test(audit, test_key_file_is_created_0600_and_named_in_the_audit);
	tcase_add_test(audit, test_macs_and_head_file_follow_the_documented_format);
	tcase_add_test(audit, test_row_digest_follows_the_documented_encoding);
	tcase_add_test(audit, test_runs_steps_and_policies_verify);
	tcase_add_test(audit, test_wholesale_rewrite_with_recomputed_hashes_fails_the_mac);
	tcase_add_test(audit, test_edited_run_step_is_detected);
	tcase_add_test(audit, test_deleted_acknowledgement_is_detected);
	tcase_add_test(audit, test_inserted_run_step_is_detected);
	tcase_add_test(audit, test_edited_run_outcome_is_detected);
	tcase_add_test(audit, test_deleted_run_is_detected);
	tcase_add_test(audit, test_edited_policy_is_detected);
	tcase_add_test(audit, test_removed_audit_event_is_detected);
	tcase_add_test(audit, test_new_tables_are_append_only);
	tcase_add_test(audit, test_lost_wal_is_behind_its_head);
	tcase_add_test(audit, test_a_copy_without_its_wal_is_behind_its_head);
	tcase_add_test(audit, test_accepted_loss_is_audited_and_keeps_epochs_above_the_floor);
	tcase_add_test(audit, test_missing_head_file_is_reported_and_a_first_start_writes_one);
	tcase_add_test(audit, test_edited_head_file_is_invalid);
	tcase_add_test(audit, test_wrong_or_missing_key_is_refused_and_reported);
	tcase_add_test(audit, test_key_file_option_is_used);
	tcase_add_test(audit, test_damaged_page_is_refused_at_open);
	tcase_add_test(audit, test_read_only_verify_changes_nothing_while_a_writer_holds_the_store);
	tcase_add_test(audit, test_read_only_verify_changes_nothing_after_a_kill9);
	tcase_add_test(audit, test_schema_2_store_is_migrated_with_macs_and_events);
	tcase_add_test(audit, test_schema_3_store_takes_dry_runs_after_migration);
	tcase_add_test(audit, test_broken_schema_2_chain_is_not_given_macs);
	suite_add_tcase(s, audit);

	TCase *cli = tcase_create("drorchd");
	tcase_set_timeout(cli, 120);
	tcase_add_checked_fixture(cli, setup, teardown);
	tcase_add_test(cli, test_verify_audit_says_what_it_checked_and_the_first_bad_row);
	tcase_add_test(cli, test_drorchd_records_lost_history_and_goes_on);
	tcase_add_test(cli, test_drorchd_refuses_a_damaged_store_naming_it);
	tcase_add_test(cli, test_verify_audit_uses_audit_key_file);
	suite_add_tcase(s, cli);
	return s;
}

int main(void)
{
	log_init("check_store", NULL, LOG_ERROR);
	SRunner *sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
