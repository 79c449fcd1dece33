/*
 * check_store.c — drorchd's SQLite store and the SHA-256 under its hash
 * chain: FIPS 180-4 vectors, RFC 4231 HMAC-SHA256 vectors, schema creation and identity, transitions with
 * compare-and-set, chain verification against edits and removals made
 * straight through SQLite (as an attacker would), the append-only triggers,
 * runs round-tripped through the JSON readers, a commit surviving kill -9,
 * and two writers racing on the same version.
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
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sha256.h"
#include "store.h"
#include "testhelp.h"

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
	snprintf(c.detail, sizeof(c.detail), "{\"candidate\":\"eu-west\"}");
	ck_assert_msg(store_cluster_update(s, c.version, &c, err, sizeof(err)) == 0, "%s", err);
	c = get_cluster(s);
	ck_assert_str_eq(c.detail, "{\"candidate\":\"eu-west\"}");
	ck_assert_int_eq(c.version, 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM transitions"), 0);
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
	suite_add_tcase(s, tc);
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
