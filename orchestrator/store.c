/*
 * store.c — drorchd's durable state in one SQLite file, and the audit that
 * proves its history: two hash chains, MACs made with a key the database
 * does not hold, and a head file published beside it.
 *
 * DURABILITY
 *
 * journal_mode=WAL (persistent in the file), and per connection
 * synchronous=FULL (the WAL is fsynced at every COMMIT, so a committed
 * transition survives kill -9 and power loss), foreign_keys=ON and a busy
 * timeout of STORE_BUSY_TIMEOUT_MS.  Every write transaction starts with
 * BEGIN IMMEDIATE, so two writers (threads of one process through the
 * store's mutex, or two processes through SQLite's lock) never deadlock on a
 * read-to-write upgrade: the second waits, then sees the first's commit.
 *
 * IDENTITY AND INTEGRITY
 *
 * PRAGMA application_id = STORE_APPLICATION_ID (0x64526f52, "dRoR") and
 * PRAGMA user_version = STORE_SCHEMA_VERSION mark a drorch store.  At open:
 * a file SQLite cannot read is refused ("not a SQLite database"); a SQLite
 * database with another application_id, or with objects but no
 * application_id, is refused ("not a drorch store") and left untouched; an
 * empty database gets the schema; a newer schema version is refused.  Then
 * PRAGMA quick_check runs: a damaged page refuses the open with
 * STORE_DAMAGED and a message naming the file.
 *
 * READ-ONLY OPEN (store_options.read_only, for drorchd --verify-audit)
 *
 * SQLITE_OPEN_READONLY, PRAGMA query_only=1 and no checkpoint on close: no
 * pragma is written, no schema created or migrated, no trigger restored, no
 * key file created and no head file written, so the bytes of the database
 * and of its -wal are unchanged, and a running drorchd is not disturbed (the
 * -shm is shared memory, which SQLite may rebuild).  An older schema is read
 * as it is.
 *
 * SCHEMA (version 4; every table STRICT, so a column holds only its type)
 *
 * cluster — exactly one row, id = 1; the FSM's current position.
 *   id            INTEGER  always 1 (CHECK)
 *   state         TEXT     FSM state name
 *   epoch         INTEGER  the fencing epoch in force
 *   primary_site  TEXT     name of the primary site, NULL if none
 *   version       INTEGER  compare-and-set counter: +1 on every change
 *   action        TEXT     the action of the last transition, re-run after a
 *                          crash; NULL if none
 *   run_id        INTEGER  -> runs.id: the run in progress, NULL if none
 *   updated_ms    INTEGER  wall clock of the last change (ms since 1970)
 *   detail        TEXT     JSON (e.g. the failover's candidate), NULL if none
 *   head_seq      INTEGER  seq of the last transition (0: none yet)
 *   head_hash     TEXT     hash of that transition (64 zeros: none yet)
 *   head_seq/head_hash are written in the same transaction as each
 *   transition; they anchor the chain's tail inside the database.
 *
 * transitions — the FSM's log: append-only, hash-chained, MAC'd.
 *   seq           INTEGER PRIMARY KEY  1, 2, 3... without gaps
 *   ts_ms         INTEGER  wall clock of the commit
 *   from_state    TEXT     state left
 *   event         TEXT     event that fired
 *   to_state      TEXT     state entered
 *   row_id        TEXT     id of the FSM table row that fired (NULL: none)
 *   epoch         INTEGER  epoch of the transition
 *   actor         TEXT     'auto' | 'operator:NAME' | 'playbook:RUN' (CHECK)
 *   run_id        INTEGER  -> runs.id, NULL if none
 *   reason        TEXT     the row's reason, as shown to operators
 *   detail        TEXT     JSON, NULL if none
 *   prev_hash     TEXT     hash of row seq-1; 64 zeros for seq 1
 *   hash          TEXT     see HASH CHAINS
 *   mac           TEXT     see MACS (schema 3; NOT NULL DEFAULT '')
 *   Index transitions_run (run_id, seq).
 *
 * audit_events (schema 3) — everything else the audit covers, one row per
 * mutation, append-only, hash-chained, MAC'd.
 *   seq           INTEGER PRIMARY KEY  1, 2, 3... without gaps
 *   ts_ms         INTEGER  wall clock of the commit
 *   kind          TEXT     (CHECK) audit_start: seq 1, written with the
 *                          schema; migrated: a row that existed when the
 *                          store became version 3; run_begin, run_step,
 *                          run_mark, run_detail, run_end: store_run_*
 *                          (run_detail also for store_run_raise_rpo);
 *                          policy: store_policy_add; history_accepted:
 *                          store_head_accept
 *   tbl           TEXT     the table of the row written: runs | run_steps |
 *                          policies (CHECK); NULL for audit_start and
 *                          history_accepted
 *   ref_id        INTEGER  runs.id, run_steps.run_id or policies.seq; NULL
 *                          when tbl is
 *   ref_seq       INTEGER  run_steps.seq; 0 for runs and policies; NULL when
 *                          tbl is
 *   digest        TEXT     the row as it is after the mutation, see ROW
 *                          DIGESTS; NULL when tbl is
 *   detail        TEXT     JSON, NULL if none.  audit_start:
 *                          {"from":V,"key_id":"16 hex","schema":3,
 *                          "transitions":N} (V the schema migrated from, 0
 *                          for a new store; N the transitions it had).
 *                          history_accepted: {"actor","state","detail",
 *                          "database":{"transitions","audit_events","epoch"},
 *                          "head_file":{...} or null,"epoch_floor"}
 *   prev_hash, hash, mac  TEXT  as in transitions
 *   Index audit_events_ref (tbl, ref_id, ref_seq, seq).
 *
 * runs — one failover, switchover, failback, upgrade, playbook run or drill,
 * or a rewind recorded on its own (the failover that caused it is not in
 * the store: it lost that history).  A store of schema 1, 2 or 3 gets this
 * table rebuilt with today's CHECKs (schema 3: the kind "rewind"; schema 4:
 * the outcome "dry_run") when it is migrated.
 *   id            INTEGER PRIMARY KEY
 *   kind          TEXT     failover|switchover|failback|upgrade|playbook|drill|rewind
 *   started_ms    INTEGER
 *   ended_ms      INTEGER  NULL while running
 *   outcome       TEXT     running|succeeded|failed|held|dry_run (a playbook's
 *                          plan: nothing was done; detail.would says what
 *                          the plan found, "succeed" or "fail")
 *   actor         TEXT     as transitions.actor
 *   target        TEXT     e.g. the new primary; NULL until known
 *   from_site     TEXT     e.g. the old primary
 *   epoch         INTEGER  epoch at the start
 *   rpo_records   INTEGER  measured loss in records, NULL if not measured
 *   rpo_ms        INTEGER  measured loss in time
 *   rto_ms        INTEGER  measured downtime
 *   timestamps    TEXT     JSON object name -> ms: last_good_heartbeat,
 *                          detected, decided, promoted, first_write...
 *   detail        TEXT     JSON, NULL if none
 *
 * run_steps — what a run did, in order (approvals, acknowledgements and
 * their comments are steps too).  PRIMARY KEY (run_id, seq).
 *   run_id        INTEGER  -> runs.id
 *   seq           INTEGER  1, 2, 3... within the run
 *   ts_ms         INTEGER
 *   name          TEXT
 *   status        TEXT     ok|failed|skipped
 *   detail        TEXT     JSON, NULL if none
 *
 * policies (schema 2) — every policy put in force over REST, newest last;
 * drorchd enforces the newest.
 *   seq           INTEGER PRIMARY KEY
 *   ts_ms         INTEGER
 *   actor         TEXT     as transitions.actor
 *   policy        TEXT     JSON, as GET /v1/policy prints it
 *
 * sites — a cache of what the monitor last saw; not authoritative, not
 * audited.
 *   name          TEXT PRIMARY KEY
 *   url, region, role  TEXT
 *   healthy       INTEGER  0 or 1
 *   lsn, flushed_lsn, epoch, last_seen_ms, updated_ms  INTEGER
 *   detail        TEXT     JSON, NULL if none
 *
 * Triggers refuse UPDATE and DELETE on transitions, audit_events, run_steps
 * and policies (<table>_no_update, <table>_no_delete) and DELETE on runs
 * (runs_no_delete).  A read-write open re-creates any that were dropped
 * (and logs store.triggers_restored).  They stop accidents; the MACs are
 * what stops someone who can write the file.
 *
 * ENCODING OF VALUES
 *
 * Hashes and digests are SHA-256 over a sequence of values, each encoded as
 *   NULL     1 byte 0x00
 *   INTEGER  1 byte 0x01, then 8 bytes: the value, two's complement,
 *            big-endian
 *   TEXT     1 byte 0x02, then 4 bytes: the length in bytes, big-endian,
 *            then the bytes exactly as stored (UTF-8, no terminator)
 * (a REAL or BLOB, which STRICT tables refuse, is encoded as a bare 0xff,
 * which never matches).  The tags and lengths make the encoding unambiguous:
 * NULL is not '' and not 0; "ab","c" is not "a","bc".  Hex is lowercase.
 *
 * HASH CHAINS
 *
 * transitions.hash = hex SHA-256 over prev_hash as its 64 ASCII hex digits,
 * then the values seq, ts_ms, from_state, event, to_state, row_id, epoch,
 * actor, run_id, reason, detail.
 * audit_events.hash = hex SHA-256 over prev_hash as its 64 ASCII hex digits,
 * then the values seq, ts_ms, kind, tbl, ref_id, ref_seq, digest, detail.
 * Row seq's prev_hash is row seq-1's hash; row 1's is 64 zeros.
 *
 * ROW DIGESTS
 *
 * audit_events.digest = hex SHA-256 over the values: the table's name (as
 * TEXT), then the row's columns in this order
 *   runs       id, kind, started_ms, ended_ms, outcome, actor, target,
 *              from_site, epoch, rpo_records, rpo_ms, rto_ms, timestamps,
 *              detail
 *   run_steps  run_id, seq, ts_ms, name, status, detail
 *   policies   seq, ts_ms, actor, policy
 * A row must match the digest of the newest event naming it (tbl, ref_id,
 * ref_seq); every such event's row must exist; every row must be named.
 *
 * MACS
 *
 * The audit key is 32 bytes, kept in the key file (store_options.key_file;
 * default PATH.key) as 64 hex digits and a newline, mode 0600.  A read-write
 * open of a store that has no audit yet (new, or schema 1 or 2) creates it
 * from getrandom(2) when it does not exist; a store that has an audit and no
 * key file, or another key, is refused.  Its key id is the first 16 hex
 * digits of HMAC-SHA256(key, the 19 ASCII bytes "drorch audit key id");
 * audit_start records it.
 *
 * mac (transitions and audit_events) = hex HMAC-SHA256(key, the table's name
 * in ASCII, one 0x00 byte, then the row's hash as its 64 ASCII hex digits).
 * The hash covers the row and, through prev_hash, every row before it, so a
 * history rewritten with recomputed hashes fails at its first changed row
 * unless the key is known.
 *
 * HEAD FILE
 *
 * PATH.head publishes where both chains end, outside the database, so that
 * a database that lost its newest commits (a lost -wal, a restored backup)
 * is found out although it is consistent in itself.  It is exactly
 *   "drorch-head 1\n"
 *   "key_id " KEYID "\n"
 *   "transitions " SEQ " " HASH " " MAC "\n"
 *   "audit_events " SEQ " " HASH " " MAC "\n"
 *   "epoch " EPOCH "\n"
 *   "mac " HEADMAC "\n"
 * with KEYID the key id, SEQ and EPOCH in decimal, HASH and MAC those of the
 * chain's last row (64 zeros for both when the chain is empty, SEQ 0), EPOCH
 * the highest cluster epoch committed, and HEADMAC = hex HMAC-SHA256(key,
 * every byte of the file before "mac ").  After every commit that appends to a chain, and
 * at open when the database has passed the file, it is rewritten whole:
 * temporary file PATH.head.tmp.XXXXXX, fsync, rename, fsync of the
 * directory.  A commit comes first, its head after: the file may lag the
 * database (a crash in between; the next open or write catches it up) but
 * never leads it, and it never goes back (a chain's position is the larger
 * of the database's and the file's) except when store_head_accept moves it
 * to where the database ends.
 *
 * At open the database is compared with the file (store_head_status):
 *   ok       each chain reaches the file's SEQ with the file's HASH and MAC
 *            there, and the cluster epoch reaches EPOCH
 *   new      no file, and the audit holds nothing but what the store was
 *            created or migrated with (audit_start, migrated, and as many
 *            transitions as audit_start says): a first start; the file is
 *            written
 *   missing  no file, although the audit has grown since: lost or removed
 *   behind   a chain ends before the file's SEQ, or the epoch is below
 *   forked   the row at the file's SEQ is another row
 *   invalid  the file cannot be read, is not in the format above, its MAC
 *            fails, or it names another key
 * Only ok and new allow audited writes; otherwise every write but the sites
 * cache is refused until store_head_accept records the loss (an audit event
 * with both positions and the highest epoch that may be in use, the "epoch
 * floor"), after which a transition may raise the epoch only above that
 * floor.  Removing the database and its head file together looks like a
 * first start: copy the head elsewhere (webhooks carry every transition's
 * hash) to anchor against that too.
 *
 * MIGRATION
 *
 * Schema 1 gains policies.  Schema 1 and 2 gain transitions.mac and
 * audit_events in one transaction: the transition chain is verified first
 * (a broken one is refused, not blessed with MACs), every transition gets
 * its MAC, audit_start is appended, then one migrated event per runs,
 * run_steps and policies row (in that order, by key), and store.migrated is
 * logged with the counts.  What those rows held before the migration is not
 * provable; from then on it is.  Schema 1, 2 and 3 get the runs table
 * rebuilt first (rebuild_old_runs); for schema 3 that is all (rows and
 * their audit digests unchanged).
 *
 * THREADS
 *
 * The connection is opened SQLITE_OPEN_NOMUTEX and guarded by s->mu, held
 * for the whole of each public function, so the statements of one
 * transaction are never interleaved with another thread's, and one handle
 * writes its head file in commit order.  Public functions are thin wrappers
 * that lock and call a *_locked function.
 */
#include "store.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fileio.h"
#include "log.h"
#include "sha256.h"
#include "timeutil.h"

#define KEY_SIZE 32            /* bytes of the audit key */
#define HEAD_FILE_MAX 1024     /* a head file is about 460 bytes */

/* The two hash chains, in the order the head file lists them. */
enum chain { CHAIN_TRANSITIONS, CHAIN_EVENTS, NCHAINS };

/* A chain's last row, as the head file records it. */
struct chain_pos {
	int64_t seq;                /* 0: the chain is empty */
	char hash[SHA256_HEX_SIZE]; /* 64 zeros when empty */
	char mac[SHA256_HEX_SIZE];  /* 64 zeros when empty */
};

/* Where the audit ends: in the database, or according to a head file. */
struct audit_pos {
	struct chain_pos chain[NCHAINS];
	int64_t epoch;
};

struct store {
	sqlite3 *db;
	pthread_mutex_t mu;
	char *path;
	char *key_path;
	char *head_path;
	bool read_only;
	int version;                          /* schema version, after open */
	bool have_key;
	uint8_t key[KEY_SIZE];
	char key_id[STORE_KEY_ID_SIZE];       /* of key, "" without one */
	char audit_key_id[STORE_KEY_ID_SIZE]; /* from audit_start, "" if none */
	bool writable;                        /* audited writes allowed */
	char refusal[512];                    /* why not, when not */
	int64_t epoch_floor;                  /* the highest recorded by history_accepted */
	store_replicate_fn repl;              /* HA: commits each write elsewhere first */
	void *repl_ctx;
	int64_t applied;                      /* the replication position (table replication) */
};

/* The runs table, named t (SCHEMA_SQL, and the rebuild of an older one). */
#define RUNS_TABLE_SQL(t)                                                               \
	"CREATE TABLE " t " ("                                                          \
	" id INTEGER PRIMARY KEY,"                                                     \
	" kind TEXT NOT NULL CHECK (kind IN"                                            \
	"  ('failover','switchover','failback','upgrade','playbook','drill','rewind')),"  \
	" started_ms INTEGER NOT NULL,"                                                \
	" ended_ms INTEGER,"                                                           \
	" outcome TEXT NOT NULL CHECK (outcome IN"                                       \
	"  ('running','succeeded','failed','held','dry_run')),"  \
	" actor TEXT NOT NULL CHECK (actor = 'auto' OR actor GLOB 'operator:?*'"        \
	"  OR actor GLOB 'playbook:?*'),"                                              \
	" target TEXT, from_site TEXT, epoch INTEGER,"                                 \
	" rpo_records INTEGER, rpo_ms INTEGER, rto_ms INTEGER,"                        \
	" timestamps TEXT NOT NULL DEFAULT '{}',"                                      \
	" detail TEXT) STRICT;"

/* A store older than schema 3 knew no run kind "rewind", one older than
 * schema 4 no outcome "dry_run": its runs table is rebuilt with the CHECKs
 * above, rows and ids unchanged, before the
 * migration (rebuild_old_runs: SQLite's recipe for a changed constraint,
 * with foreign keys off so that run_steps and cluster keep naming "runs").
 * DROP's implicit delete fires no trigger; the append-only triggers are
 * restored after the migration. */
static const char RUNS_REBUILD_SQL[] =
	RUNS_TABLE_SQL("runs_v3")
	"INSERT INTO runs_v3 (id, kind, started_ms, ended_ms, outcome, actor, target, from_site,"
	" epoch, rpo_records, rpo_ms, rto_ms, timestamps, detail)"
	" SELECT id, kind, started_ms, ended_ms, outcome, actor, target, from_site, epoch,"
	" rpo_records, rpo_ms, rto_ms, timestamps, detail FROM runs;"
	"DROP TABLE runs;"
	"ALTER TABLE runs_v3 RENAME TO runs;";

static const char SCHEMA_SQL[] =
	RUNS_TABLE_SQL("runs")
	"CREATE TABLE run_steps ("
	" run_id INTEGER NOT NULL REFERENCES runs(id),"
	" seq INTEGER NOT NULL,"
	" ts_ms INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('ok','failed','skipped')),"
	" detail TEXT,"
	" PRIMARY KEY (run_id, seq)) STRICT;"
	"CREATE TABLE cluster ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" state TEXT NOT NULL,"
	" epoch INTEGER NOT NULL,"
	" primary_site TEXT,"
	" version INTEGER NOT NULL,"
	" action TEXT,"
	" run_id INTEGER REFERENCES runs(id),"
	" updated_ms INTEGER NOT NULL,"
	" detail TEXT,"
	" head_seq INTEGER NOT NULL DEFAULT 0,"
	" head_hash TEXT NOT NULL DEFAULT '" STORE_GENESIS_HASH "') STRICT;"
	"CREATE TABLE transitions ("
	" seq INTEGER PRIMARY KEY,"
	" ts_ms INTEGER NOT NULL,"
	" from_state TEXT NOT NULL,"
	" event TEXT NOT NULL,"
	" to_state TEXT NOT NULL,"
	" row_id TEXT,"
	" epoch INTEGER NOT NULL,"
	" actor TEXT NOT NULL CHECK (actor = 'auto' OR actor GLOB 'operator:?*'"
	"  OR actor GLOB 'playbook:?*'),"
	" run_id INTEGER REFERENCES runs(id),"
	" reason TEXT,"
	" detail TEXT,"
	" prev_hash TEXT NOT NULL,"
	" hash TEXT NOT NULL) STRICT;"
	"CREATE INDEX transitions_run ON transitions (run_id, seq);"
	"CREATE TABLE sites ("
	" name TEXT PRIMARY KEY,"
	" url TEXT, region TEXT, role TEXT,"
	" healthy INTEGER NOT NULL DEFAULT 0,"
	" lsn INTEGER, flushed_lsn INTEGER, epoch INTEGER,"
	" last_seen_ms INTEGER, updated_ms INTEGER,"
	" detail TEXT) STRICT;";

/* Schema version 2: policies put in force over REST (PUT /v1/policy). */
static const char POLICIES_SQL[] =
	"CREATE TABLE IF NOT EXISTS policies ("
	" seq INTEGER PRIMARY KEY,"
	" ts_ms INTEGER NOT NULL,"
	" actor TEXT NOT NULL CHECK (actor = 'auto' OR actor GLOB 'operator:?*'"
	"  OR actor GLOB 'playbook:?*'),"
	" policy TEXT NOT NULL CHECK (json_valid(policy))) STRICT;";

/* Schema version 3: MACs on transitions, and the audit_events chain.  A new
 * store is made as version 2 and migrated, so both have one schema. */
static const char AUDIT_SQL[] =
	"ALTER TABLE transitions ADD COLUMN mac TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE audit_events ("
	" seq INTEGER PRIMARY KEY,"
	" ts_ms INTEGER NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('audit_start','migrated','run_begin','run_step',"
	"  'run_mark','run_detail','run_end','policy','history_accepted')),"
	" tbl TEXT CHECK (tbl IN ('runs','run_steps','policies')),"
	" ref_id INTEGER,"
	" ref_seq INTEGER,"
	" digest TEXT,"
	" detail TEXT,"
	" prev_hash TEXT NOT NULL,"
	" hash TEXT NOT NULL,"
	" mac TEXT NOT NULL) STRICT;"
	"CREATE INDEX audit_events_ref ON audit_events (tbl, ref_id, ref_seq, seq);";

/* Run at every read-write open: a dropped trigger comes back. */
#define APPEND_ONLY(t)                                                              \
	"CREATE TRIGGER IF NOT EXISTS " t "_no_update BEFORE UPDATE ON " t          \
	" BEGIN SELECT RAISE(ABORT, '" t " is append-only: UPDATE refused'); END;" \
	"CREATE TRIGGER IF NOT EXISTS " t "_no_delete BEFORE DELETE ON " t          \
	" BEGIN SELECT RAISE(ABORT, '" t " is append-only: DELETE refused'); END;"
static const char TRIGGERS_SQL[] =
	APPEND_ONLY("transitions") APPEND_ONLY("audit_events") APPEND_ONLY("run_steps")
	APPEND_ONLY("policies")
	"CREATE TRIGGER IF NOT EXISTS runs_no_delete BEFORE DELETE ON runs"
	" BEGIN SELECT RAISE(ABORT, 'runs are kept: DELETE refused'); END;";
static const char TRIGGER_NAMES[] =
	"'transitions_no_update','transitions_no_delete','audit_events_no_update',"
	"'audit_events_no_delete','run_steps_no_update','run_steps_no_delete',"
	"'policies_no_update','policies_no_delete','runs_no_delete'";
#define NTRIGGERS 9

/* The columns each chain hashes, in order (HASH CHAINS). */
struct chain_desc {
	const char *table;
	const char *hashed; /* seq first */
	int ncols;
};

static const struct chain_desc CHAINS[NCHAINS] = {
	{ "transitions",
	  "seq, ts_ms, from_state, event, to_state, row_id, epoch, actor, run_id, reason, detail",
	  11 },
	{ "audit_events", "seq, ts_ms, kind, tbl, ref_id, ref_seq, digest, detail", 8 },
};
#define MAX_CHAIN_COLUMNS 11

#define RUN_COLUMNS \
	"id, kind, started_ms, ended_ms, outcome, actor, target, from_site, epoch," \
	" rpo_records, rpo_ms, rto_ms, timestamps, detail"

/* What /v1/runs shows of a run: its row, and the epoch of its newest
 * transition (the epoch it ended at, once ended). */
#define RUN_SELECT \
	"SELECT " RUN_COLUMNS ", (SELECT t.epoch FROM transitions t WHERE t.run_id = runs.id" \
	" ORDER BY t.seq DESC LIMIT 1) AS end_epoch FROM runs"

/* A table whose rows audit_events vouches for (ROW DIGESTS). */
struct audited_table {
	const char *name;
	const char *columns;     /* digested in this order; the key first */
	int ncols;
	const char *key_where;   /* the row (?1) or (?1, ?2) */
	const char *key_order;
	const char *event_match; /* row r named by event e */
	bool two_keys;           /* (ref_id, ref_seq) rather than (ref_id) */
};

static const struct audited_table T_RUNS = {
	"runs", RUN_COLUMNS, 14, "id = ?1", "id", "r.id = e.ref_id", false,
};
static const struct audited_table T_STEPS = {
	"run_steps", "run_id, seq, ts_ms, name, status, detail", 6, "run_id = ?1 AND seq = ?2",
	"run_id, seq", "r.run_id = e.ref_id AND r.seq = e.ref_seq", true,
};
static const struct audited_table T_POLICIES = {
	"policies", "seq, ts_ms, actor, policy", 4, "seq = ?1", "seq", "r.seq = e.ref_id", false,
};
static const struct audited_table *const AUDITED[] = { &T_RUNS, &T_STEPS, &T_POLICIES };
#define NAUDITED 3
#define MAX_ROW_COLUMNS 14
/* ==== plumbing: errors, statements, transactions ========================= */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "store: CTX: <SQLite's message>"; returns -1. */
static int db_fail(struct store *s, const char *ctx, char *err, size_t errlen)
{
	seterr(err, errlen, "store: %s: %s", ctx, sqlite3_errmsg(s->db));
	return -1;
}

static void lock(struct store *s)
{
	pthread_mutex_lock(&s->mu);
}

static void unlock(struct store *s)
{
	pthread_mutex_unlock(&s->mu);
}

static sqlite3_stmt *prep(struct store *s, const char *sql, const char *ctx, char *err,
			  size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(s, ctx, err, errlen);
		return NULL;
	}
	return st;
}

static int exec(struct store *s, const char *sql, const char *ctx, char *err, size_t errlen)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, ctx, err, errlen);
	return 0;
}

static int tx_begin(struct store *s, const char *ctx, char *err, size_t errlen)
{
	return exec(s, "BEGIN IMMEDIATE", ctx, err, errlen);
}

/* Rolls back if a transaction is open (a failed COMMIT may have ended it). */
static void tx_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int tx_commit(struct store *s, const char *ctx, char *err, size_t errlen)
{
	if (exec(s, "COMMIT", ctx, err, errlen) == 0)
		return 0;
	tx_rollback(s);
	return -1;
}

/* Ends a write transaction: commit when rc is 0 or positive, else roll back. */
static int tx_end(struct store *s, int rc, const char *ctx, char *err, size_t errlen)
{
	if (rc < 0 || rc == STORE_CONFLICT) {
		tx_rollback(s);
		return rc;
	}
	return tx_commit(s, ctx, err, errlen) ? -1 : rc;
}

/* Steps a statement that returns no rows, then finalizes it. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *ctx, char *err,
		     size_t errlen)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

static bool utf8_valid(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	while (*u) {
		unsigned n;
		uint32_t cp;
		if (*u < 0x80) {
			u++;
			continue;
		} else if ((*u & 0xe0) == 0xc0) {
			n = 1, cp = *u & 0x1f;
		} else if ((*u & 0xf0) == 0xe0) {
			n = 2, cp = *u & 0x0f;
		} else if ((*u & 0xf8) == 0xf0) {
			n = 3, cp = *u & 0x07;
		} else {
			return false;
		}
		for (unsigned i = 1; i <= n; i++) {
			if ((u[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (u[i] & 0x3f);
		}
		static const uint32_t min_cp[4] = { 0, 0x80, 0x800, 0x10000 };
		if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		u += n + 1;
	}
	return true;
}

/*
 * Binding.  Text is bound SQLITE_STATIC: every statement is stepped before
 * its arguments go out of scope.  Invalid UTF-8 is refused (BIND_BAD_UTF8)
 * because everything stored is read back as JSON strings.
 */
#define BIND_BAD_UTF8 (-1)

static int bind_text(sqlite3_stmt *st, int idx, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, idx);
	if (!utf8_valid(v))
		return BIND_BAD_UTF8;
	return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

/* Binds v, or NULL when v is below min (the "not given" convention). */
static int bind_i64_min(sqlite3_stmt *st, int idx, int64_t v, int64_t min)
{
	return v < min ? sqlite3_bind_null(st, idx) : sqlite3_bind_int64(st, idx, v);
}

/* Reports a failed bind (rc is the first non-zero bind result); returns -1. */
static int bind_fail(int rc, const char *ctx, char *err, size_t errlen)
{
	seterr(err, errlen, "store: %s: %s", ctx,
	       rc == BIND_BAD_UTF8 ? "a text argument is not valid UTF-8" : sqlite3_errstr(rc));
	return -1;
}

/* "" means none, as NULL does. */
static const char *nz(const char *v)
{
	return v && *v ? v : NULL;
}

/* NULL (none) or JSON text (any value). */
static int check_json(const char *what, const char *text, const char *ctx, char *err,
		      size_t errlen)
{
	if (!text)
		return 0;
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!j) {
		seterr(err, errlen, "store: %s: %s is not JSON: %s (line %d, column %d)", ctx, what,
		       jerr.text, jerr.line, jerr.column);
		return -1;
	}
	json_decref(j);
	return 0;
}

/*
 * The clock of a write: while a write runs under the store's mutex, the
 * time of its operation (a replicated write stamps its operation with it,
 * an applied one takes the operation's), so that every copy of the store
 * records the same times and so the same hashes.  0 outside a write.
 */
static _Thread_local int64_t tl_clock;

/* store_apply's operation on this thread: its index, while it runs. */
static _Thread_local int64_t tl_apply_index;
static _Thread_local int64_t tl_apply_ts;
static _Thread_local bool tl_apply_skipped;

static int64_t now_ms(void)
{
	return tl_clock ? tl_clock : (int64_t)time_wall_ms();
}


static int pragma_int(struct store *s, const char *sql, int64_t *out, const char *ctx,
		      char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}


/* Copies text column col into dst[cap] ("" for NULL); -1 if it does not fit. */
static int copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col, const char *ctx,
		    char *err, size_t errlen)
{
	const char *v = (const char *)sqlite3_column_text(st, col);
	size_t len = v ? (size_t)sqlite3_column_bytes(st, col) : 0;
	if (len >= cap) {
		seterr(err, errlen, "store: %s: %s is %zu bytes, more than %zu", ctx,
		       sqlite3_column_name(st, col), len, cap - 1);
		return -1;
	}
	memcpy(dst, v ? v : "", len);
	dst[len] = '\0';
	return 0;
}

/* ==== the encoding: hashes, digests, MACs ================================== */

/* One value as hashed: a SQLite storage class and its payload. */
struct chain_value {
	int type; /* SQLITE_NULL, SQLITE_INTEGER or SQLITE_TEXT */
	int64_t i;
	const char *text;
	size_t len;
};

static struct chain_value cv_int(int64_t v)
{
	return (struct chain_value){ .type = SQLITE_INTEGER, .i = v };
}

static struct chain_value cv_text(const char *v)
{
	if (!v)
		return (struct chain_value){ .type = SQLITE_NULL };
	return (struct chain_value){ .type = SQLITE_TEXT, .text = v, .len = strlen(v) };
}

/* What the row holds in column col, as stored. */
static struct chain_value cv_column(sqlite3_stmt *st, int col)
{
	struct chain_value v = { .type = sqlite3_column_type(st, col) };
	if (v.type == SQLITE_INTEGER) {
		v.i = sqlite3_column_int64(st, col);
	} else if (v.type == SQLITE_TEXT) {
		v.text = (const char *)sqlite3_column_text(st, col);
		v.len = (size_t)sqlite3_column_bytes(st, col);
	}
	return v;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int k = bytes - 1; k >= 0; k--, v >>= 8)
		p[k] = (uint8_t)v;
}

/* ENCODING OF VALUES above. */
static void encode_value(struct sha256_ctx *c, const struct chain_value *v)
{
	uint8_t buf[9];
	if (v->type == SQLITE_INTEGER) {
		buf[0] = 0x01;
		put_be(buf + 1, (uint64_t)v->i, 8);
		sha256_update(c, buf, 9);
	} else if (v->type == SQLITE_TEXT) {
		buf[0] = 0x02;
		put_be(buf + 1, v->len, 4);
		sha256_update(c, buf, 5);
		sha256_update(c, v->text, v->len);
	} else {
		buf[0] = v->type == SQLITE_NULL ? 0x00 : 0xff;
		sha256_update(c, buf, 1);
	}
}

/* HASH CHAINS: prev_hash's hex digits, then the n values. */
static void chain_hash(const char *prev_hash, const struct chain_value *v, int n,
		       char out[SHA256_HEX_SIZE])
{
	struct sha256_ctx c;
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_init(&c);
	sha256_update(&c, prev_hash, strlen(prev_hash));
	for (int k = 0; k < n; k++)
		encode_value(&c, &v[k]);
	sha256_final(&c, digest);
	sha256_hex(digest, out);
}

/* ROW DIGESTS: the table's name, then the row's columns 0..ncols-1 of st. */
static void row_digest(const struct audited_table *t, sqlite3_stmt *st,
		       char out[SHA256_HEX_SIZE])
{
	struct sha256_ctx c;
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct chain_value name = cv_text(t->name);
	sha256_init(&c);
	encode_value(&c, &name);
	for (int col = 0; col < t->ncols; col++) {
		struct chain_value v = cv_column(st, col);
		encode_value(&c, &v);
	}
	sha256_final(&c, digest);
	sha256_hex(digest, out);
}

/* MACS: HMAC(key, table name, 0x00, the row's hash in hex). */
static void row_mac(const struct store *s, const char *table, const char *hash,
		    char out[SHA256_HEX_SIZE])
{
	struct hmac_sha256_ctx c;
	uint8_t mac[SHA256_DIGEST_SIZE];
	assert(s->have_key);
	hmac_sha256_init(&c, s->key, KEY_SIZE);
	hmac_sha256_update(&c, table, strlen(table) + 1);
	hmac_sha256_update(&c, hash, SHA256_HEX_SIZE - 1);
	hmac_sha256_final(&c, mac);
	sha256_hex(mac, out);
}

static void key_id_of(const uint8_t key[KEY_SIZE], char out[STORE_KEY_ID_SIZE])
{
	static const char label[] = "drorch audit key id";
	uint8_t mac[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	hmac_sha256(key, KEY_SIZE, label, sizeof(label) - 1, mac);
	sha256_hex(mac, hex);
	memcpy(out, hex, STORE_KEY_ID_SIZE - 1);
	out[STORE_KEY_ID_SIZE - 1] = '\0';
}

/* Binds v[0..n) to parameters 1..n. */
static int bind_values(sqlite3_stmt *st, const struct chain_value *v, int n)
{
	int rc = 0;
	for (int k = 0; k < n; k++)
		rc |= v[k].type == SQLITE_INTEGER ? sqlite3_bind_int64(st, k + 1, v[k].i)
						  : bind_text(st, k + 1, v[k].text);
	return rc;
}

/* ==== files beside the database: the key and the head ====================== */

/* dir[cap] receives the directory of path ("." when it has none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 64 hex digits, then nothing but white space. */
static int key_parse(const char *text, size_t len, uint8_t key[KEY_SIZE])
{
	if (len < 2 * KEY_SIZE)
		return -1;
	for (int i = 0; i < KEY_SIZE; i++) {
		int hi = hex_digit((unsigned char)text[2 * i]);
		int lo = hex_digit((unsigned char)text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	for (size_t i = 2 * KEY_SIZE; i < len; i++)
		if (!isspace((unsigned char)text[i]))
			return -1;
	return 0;
}

static void key_loaded(struct store *s, const uint8_t key[KEY_SIZE])
{
	memcpy(s->key, key, KEY_SIZE);
	s->have_key = true;
	key_id_of(s->key, s->key_id);
}

/* Loads the key file: 0, 1 when it does not exist, -1 (err) when it is
 * unreadable or not a key.  A key others may read is logged. */
static int key_load(struct store *s, char *err, size_t errlen)
{
	char buf[256];
	uint8_t key[KEY_SIZE];
	struct stat st;
	int fd = open(s->key_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		seterr(err, errlen, "store: %s: audit key file: %s", s->key_path, strerror(errno));
		return -1;
	}
	ssize_t n = read_all(fd, buf, sizeof(buf));
	bool stat_ok = fstat(fd, &st) == 0;
	close(fd);
	if (n < 0 || key_parse(buf, (size_t)n, key) != 0) {
		seterr(err, errlen, "store: %s: audit key file: %s", s->key_path,
		       n < 0 ? strerror(errno) : "not 64 hex digits (a 32-byte key)");
		return -1;
	}
	if (stat_ok && (st.st_mode & 077))
		log_event(LOG_WARN, "store.key_file_mode", "{s:s, s:i}", "file", s->key_path,
			  "mode", (int)(st.st_mode & 0777));
	key_loaded(s, key);
	memset(key, 0, sizeof(key));
	return 0;
}

/* Creates the key file (O_EXCL, 0600) with 32 random bytes; a file another
 * process created first is loaded instead. */
static int key_create(struct store *s, char *err, size_t errlen)
{
	uint8_t key[KEY_SIZE];
	char text[2 * KEY_SIZE + 2], dir[4096];
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		seterr(err, errlen, "store: %s: audit key: getrandom: %s", s->key_path,
		       strerror(errno));
		return -1;
	}
	for (int i = 0; i < KEY_SIZE; i++)
		snprintf(text + 2 * i, 3, "%02x", key[i]);
	text[2 * KEY_SIZE] = '\n';
	int fd = open(s->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return key_load(s, err, errlen) == 0 ? 0 : -1;
	bool ok = fd >= 0 && fchmod(fd, 0600) == 0 && write_all(fd, text, 2 * KEY_SIZE + 1) == 0 &&
		  fsync(fd) == 0;
	int saved = errno;
	if (fd >= 0 && close(fd) != 0 && ok)
		ok = false, saved = errno;
	dir_of(s->key_path, dir, sizeof(dir));
	if (ok && fsync_dir(dir) != 0)
		ok = false, saved = errno;
	if (!ok) {
		if (fd >= 0)
			unlink(s->key_path);
		seterr(err, errlen, "store: %s: cannot create the audit key file: %s", s->key_path,
		       strerror(saved));
		return -1;
	}
	key_loaded(s, key);
	memset(key, 0, sizeof(key));
	memset(text, 0, sizeof(text));
	log_event(LOG_INFO, "store.key_created", "{s:s, s:s}", "file", s->key_path, "key_id",
		  s->key_id);
	return 0;
}

/* HEAD FILE above: the text for p, its mac line included; returns its length. */
static size_t head_format(const struct store *s, const struct audit_pos *p, char *buf,
			  size_t cap)
{
	uint8_t mac[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	size_t n = (size_t)snprintf(buf, cap, "drorch-head 1\nkey_id %s\n", s->key_id);
	for (int c = 0; c < NCHAINS && n < cap; c++)
		n += (size_t)snprintf(buf + n, cap - n, "%s %" PRId64 " %s %s\n", CHAINS[c].table,
				      p->chain[c].seq, p->chain[c].hash, p->chain[c].mac);
	if (n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "epoch %" PRId64 "\n", p->epoch);
	assert(n + 70 < cap);
	hmac_sha256(s->key, KEY_SIZE, buf, n, mac);
	sha256_hex(mac, hex);
	n += (size_t)snprintf(buf + n, cap - n, "mac %s\n", hex);
	return n;
}

enum head_file { HEAD_VALID, HEAD_ABSENT, HEAD_INVALID };

/* Reads the head file into *p and checks it against s's key; why[] says
 * what is wrong with an invalid one. */
static enum head_file head_read(const struct store *s, struct audit_pos *p, char *why,
				size_t whylen)
{
	char buf[HEAD_FILE_MAX + 1], canon[HEAD_FILE_MAX], key_id[STORE_KEY_ID_SIZE];
	char mac[SHA256_HEX_SIZE];
	memset(p, 0, sizeof(*p));
	int fd = open(s->head_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return HEAD_ABSENT;
		snprintf(why, whylen, "%s", strerror(errno));
		return HEAD_INVALID;
	}
	ssize_t n = read_all(fd, buf, HEAD_FILE_MAX + 1);
	close(fd);
	if (n < 0 || n > HEAD_FILE_MAX) {
		snprintf(why, whylen, "%s", n < 0 ? strerror(errno) : "too long");
		return HEAD_INVALID;
	}
	buf[n] = '\0';
	struct chain_pos *t = &p->chain[CHAIN_TRANSITIONS], *e = &p->chain[CHAIN_EVENTS];
	if (sscanf(buf,
		   "drorch-head 1 key_id %16[0-9a-f] transitions %" SCNd64 " %64[0-9a-f] %64[0-9a-f]"
		   " audit_events %" SCNd64 " %64[0-9a-f] %64[0-9a-f] epoch %" SCNd64
		   " mac %64[0-9a-f]",
		   key_id, &t->seq, t->hash, t->mac, &e->seq, e->hash, e->mac, &p->epoch,
		   mac) != 9) {
		snprintf(why, whylen, "not a drorch head file");
		return HEAD_INVALID;
	}
	if (!s->have_key || strcmp(key_id, s->key_id) != 0) {
		snprintf(why, whylen, "written with another audit key (key id %s, not %s)", key_id,
			 s->have_key ? s->key_id : "known");
		return HEAD_INVALID;
	}
	size_t len = head_format(s, p, canon, sizeof(canon));
	if (len != (size_t)n || memcmp(canon, buf, len) != 0) {
		snprintf(why, whylen, "its MAC does not match its content");
		return HEAD_INVALID;
	}
	return HEAD_VALID;
}

/* Replaces the head file atomically and durably with p. */
static int head_write(const struct store *s, const struct audit_pos *p, char *err,
		      size_t errlen)
{
	char text[HEAD_FILE_MAX], tmp[4200], dir[4096];
	size_t len = head_format(s, p, text, sizeof(text));
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", s->head_path) >= (int)sizeof(tmp)) {
		seterr(err, errlen, "store: %s: path too long", s->head_path);
		return -1;
	}
	dir_of(s->head_path, dir, sizeof(dir));
	int fd = mkostemp(tmp, O_CLOEXEC);
	bool ok = fd >= 0 && fchmod(fd, 0644) == 0 && write_all(fd, text, len) == 0 &&
		  fsync(fd) == 0;
	int saved = errno;
	if (fd >= 0 && close(fd) != 0 && ok)
		ok = false, saved = errno;
	if (ok && rename(tmp, s->head_path) != 0)
		ok = false, saved = errno;
	if (!ok) {
		if (fd >= 0)
			unlink(tmp);
		seterr(err, errlen, "store: %s: cannot write the head file: %s", s->head_path,
		       strerror(saved));
		return -1;
	}
	if (fsync_dir(dir) != 0) {
		seterr(err, errlen, "store: %s: fsync: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* ==== the chains: appending, where they end, walking them ================== */

/* A hash or MAC column: its 64 digits, or "" for anything else (which then
 * matches nothing). */
static void copy_hex(char dst[SHA256_HEX_SIZE], sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);
	bool ok = v && sqlite3_column_bytes(st, col) == SHA256_HEX_SIZE - 1;
	snprintf(dst, SHA256_HEX_SIZE, "%s", ok ? v : "");
}

/* The chain's row at seq (seq > 0), or its last row (seq 0): *out, and
 * *found (may be NULL); an empty position when there is none. */
static int chain_row(struct store *s, enum chain c, int64_t seq, struct chain_pos *out,
		     bool *found, const char *ctx, char *err, size_t errlen)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT seq, hash, mac FROM %s %s", CHAINS[c].table,
		 seq > 0 ? "WHERE seq = ?1" : "ORDER BY seq DESC LIMIT 1");
	sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
	if (!st)
		return -1;
	if (seq > 0)
		sqlite3_bind_int64(st, 1, seq);
	*out = (struct chain_pos){ .hash = STORE_GENESIS_HASH, .mac = STORE_GENESIS_HASH };
	int rc = sqlite3_step(st);
	if (found)
		*found = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW) {
		out->seq = sqlite3_column_int64(st, 0);
		copy_hex(out->hash, st, 1);
		copy_hex(out->mac, st, 2);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? 0 : db_fail(s, ctx, err, errlen);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Where both chains end in the database, and the cluster's epoch. */
static int db_pos(struct store *s, struct audit_pos *p, const char *ctx, char *err,
		  size_t errlen)
{
	for (int c = 0; c < NCHAINS; c++)
		if (chain_row(s, (enum chain)c, 0, &p->chain[c], NULL, ctx, err, errlen))
			return -1;
	return pragma_int(s, "SELECT coalesce((SELECT epoch FROM cluster WHERE id = 1), 0)",
			  &p->epoch, ctx, err, errlen);
}

/* One row of audit_events; tbl NULL for an event about no row. */
struct audit_event {
	const char *kind;
	const struct audited_table *tbl;
	int64_t ref_id, ref_seq;
	const char *digest;
	const char *detail; /* JSON, or NULL */
};

/* Appends e to audit_events, chained and MAC'd, inside the caller's write
 * transaction. */
static int append_event(struct store *s, const struct audit_event *e, const char *ctx,
			char *err, size_t errlen)
{
	struct chain_pos last;
	char hash[SHA256_HEX_SIZE], mac[SHA256_HEX_SIZE];
	if (chain_row(s, CHAIN_EVENTS, 0, &last, NULL, ctx, err, errlen))
		return -1;
	struct chain_value v[8] = {
		cv_int(last.seq + 1), cv_int(now_ms()), cv_text(e->kind),
		cv_text(e->tbl ? e->tbl->name : NULL),
		e->tbl ? cv_int(e->ref_id) : cv_text(NULL),
		e->tbl ? cv_int(e->ref_seq) : cv_text(NULL),
		cv_text(e->digest), cv_text(e->detail),
	};
	chain_hash(last.hash, v, 8, hash);
	row_mac(s, CHAINS[CHAIN_EVENTS].table, hash, mac);
	sqlite3_stmt *st = prep(s,
				"INSERT INTO audit_events (seq, ts_ms, kind, tbl, ref_id, ref_seq,"
				" digest, detail, prev_hash, hash, mac)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = bind_values(st, v, 8) | bind_text(st, 9, last.hash) | bind_text(st, 10, hash) |
		 bind_text(st, 11, mac);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

/* Binds a row's key, (ref_id) or (ref_id, ref_seq), to ?1 (and ?2). */
static void bind_key(sqlite3_stmt *st, const struct audited_table *t, int64_t ref_id,
		     int64_t ref_seq)
{
	sqlite3_bind_int64(st, 1, ref_id);
	if (t->two_keys)
		sqlite3_bind_int64(st, 2, ref_seq);
}

/* Appends the event that vouches for the row (ref_id, ref_seq) of t as it
 * is now: after the caller wrote it, in the same transaction. */
static int row_event(struct store *s, const char *kind, const struct audited_table *t,
		     int64_t ref_id, int64_t ref_seq, const char *ctx, char *err, size_t errlen)
{
	char sql[256], digest[SHA256_HEX_SIZE];
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s", t->columns, t->name,
		 t->key_where);
	sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
	if (!st)
		return -1;
	bind_key(st, t, ref_id, ref_seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_digest(t, st, digest);
	else if (rc == SQLITE_DONE)
		seterr(err, errlen, "store: %s: the %s row just written is not there", ctx, t->name);
	else
		db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return -1;
	struct audit_event e = { kind, t, ref_id, t->two_keys ? ref_seq : 0, digest, NULL };
	return append_event(s, &e, ctx, err, errlen);
}

/*
 * Walking a chain (verification, and before a migration): rows in seq
 * order, each checked for its seq, its link, its hash and (with macs) its
 * MAC; the walk stops at the first bad row.
 */
struct chain_walk {
	enum chain chain;
	bool macs;
	int64_t rows;      /* rows read */
	int64_t next_seq;  /* the seq the next row must have */
	bool broken;
	int64_t bad_seq;   /* the first bad seq, once broken */
	const char *why;   /* what is wrong with it */
	struct chain_pos last; /* the last good row */
};

static void walk_init(struct chain_walk *w, enum chain c, bool macs)
{
	*w = (struct chain_walk){ .chain = c, .macs = macs, .next_seq = 1,
				  .last = { .hash = STORE_GENESIS_HASH, .mac = STORE_GENESIS_HASH } };
}

static void walk_break(struct chain_walk *w, int64_t seq, const char *why)
{
	w->broken = true;
	w->bad_seq = seq;
	w->why = why;
}

/* Checks one row: the hashed columns, then prev_hash, hash (and mac). */
static void walk_row(const struct store *s, struct chain_walk *w, sqlite3_stmt *st)
{
	const struct chain_desc *d = &CHAINS[w->chain];
	struct chain_value v[MAX_CHAIN_COLUMNS];
	char hash[SHA256_HEX_SIZE], mac[SHA256_HEX_SIZE], stored[SHA256_HEX_SIZE];
	char prev[SHA256_HEX_SIZE], stored_mac[SHA256_HEX_SIZE] = "";
	int64_t seq = sqlite3_column_int64(st, 0);
	w->rows++;
	if (seq != w->next_seq) {
		/* A gap names the missing seq; a seq below 1 names itself. */
		if (seq > w->next_seq)
			walk_break(w, w->next_seq, "missing (removed)");
		else
			walk_break(w, seq, "a seq out of order");
		return;
	}
	for (int k = 0; k < d->ncols; k++)
		v[k] = cv_column(st, k);
	chain_hash(w->last.hash, v, d->ncols, hash);
	copy_hex(prev, st, d->ncols);
	copy_hex(stored, st, d->ncols + 1);
	if (w->macs)
		copy_hex(stored_mac, st, d->ncols + 2);
	if (strcmp(prev, w->last.hash) != 0) {
		walk_break(w, seq, "its prev_hash is not the hash of the row before it");
		return;
	}
	if (strcmp(stored, hash) != 0) {
		walk_break(w, seq, "its content does not match its hash (edited)");
		return;
	}
	if (w->macs) {
		row_mac(s, d->table, hash, mac);
		if (strcmp(stored_mac, mac) != 0) {
			walk_break(w, seq, "its MAC does not match (rewritten without the audit key)");
			return;
		}
	}
	w->last.seq = seq;
	memcpy(w->last.hash, hash, sizeof(hash));
	memcpy(w->last.mac, stored_mac, sizeof(stored_mac));
	w->next_seq++;
}

static int walk_chain(struct store *s, struct chain_walk *w, const char *ctx, char *err,
		      size_t errlen)
{
	char sql[256];
	const struct chain_desc *d = &CHAINS[w->chain];
	snprintf(sql, sizeof(sql), "SELECT %s, prev_hash, hash%s FROM %s ORDER BY seq", d->hashed,
		 w->macs ? ", mac" : "", d->table);
	sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
	if (!st)
		return -1;
	int rc = SQLITE_DONE;
	while (!w->broken && (rc = sqlite3_step(st)) == SQLITE_ROW)
		walk_row(s, w, st);
	rc = w->broken || rc == SQLITE_DONE ? 0 : db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

/* The transition chain's last row must be the head recorded with it in the
 * cluster row. */
static int check_cluster_head(struct store *s, struct chain_walk *w, const char *ctx,
			      char *err, size_t errlen)
{
	int64_t head_seq = 0, clusters;
	char head_hash[SHA256_HEX_SIZE] = "";
	int64_t last = w->next_seq - 1;
	if (w->broken)
		return 0;
	if (pragma_int(s, "SELECT count(*) FROM cluster", &clusters, ctx, err, errlen))
		return -1;
	if (clusters == 0) {
		if (last > 0)
			walk_break(w, 1, "there are transitions but no cluster row");
		return 0; /* a fresh store: no cluster row, no rows */
	}
	sqlite3_stmt *st = prep(s, "SELECT head_seq, head_hash FROM cluster WHERE id = 1", ctx,
				err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		head_seq = sqlite3_column_int64(st, 0);
		copy_hex(head_hash, st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return db_fail(s, ctx, err, errlen);
	if (head_seq > last)
		walk_break(w, last + 1, "missing (the cluster row's head is past the last row)");
	else if (head_seq < last)
		walk_break(w, head_seq + 1, "appended behind the store's back (past the cluster row's head)");
	else if (strcmp(head_hash, w->last.hash) != 0)
		walk_break(w, last, "not the row the cluster row's head names");
	return 0;
}

/* ==== the head: the database against its head file ======================== */

/* No head file: a first start when the audit holds nothing but what the
 * store was created or migrated with. */
static int audit_pristine(struct store *s, bool *pristine, const char *ctx, char *err,
			  size_t errlen)
{
	int64_t later, expected, transitions;
	if (pragma_int(s,
		       "SELECT count(*) FROM audit_events"
		       " WHERE kind NOT IN ('audit_start', 'migrated')",
		       &later, ctx, err, errlen) ||
	    pragma_int(s,
		       "SELECT coalesce((SELECT CASE WHEN json_valid(detail)"
		       " THEN json_extract(detail, '$.transitions') END"
		       " FROM audit_events WHERE seq = 1 AND kind = 'audit_start'), -1)",
		       &expected, ctx, err, errlen) ||
	    pragma_int(s, "SELECT count(*) FROM transitions", &transitions, ctx, err, errlen))
		return -1;
	*pristine = later == 0 && expected == transitions;
	return 0;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* The row at the file's position in chain c is the one the file names. */
static int same_row(struct store *s, enum chain c, const struct chain_pos *f, bool *same,
		    const char *ctx, char *err, size_t errlen)
{
	struct chain_pos at;
	bool found;
	*same = true;
	if (f->seq == 0)
		return 0;
	if (chain_row(s, c, f->seq, &at, &found, ctx, err, errlen))
		return -1;
	*same = found && strcmp(at.hash, f->hash) == 0 && strcmp(at.mac, f->mac) == 0;
	return 0;
}

/* Compares the file (hf, *file) with the database and fills *out; *ahead
 * says whether the database has passed a valid file.  Inside a transaction:
 * the positions and rows from one snapshot. */
static int head_classify(struct store *s, enum head_file hf, const struct audit_pos *file,
			 const char *why, struct store_head_status *out, bool *ahead,
			 const char *ctx, char *err, size_t errlen)
{
	struct audit_pos db;
	bool pristine, same, behind = false, forked = false;
	int forked_chain = 0;
	memset(out, 0, sizeof(*out));
	*ahead = false;
	if (db_pos(s, &db, ctx, err, errlen))
		return -1;
	out->db_transition_seq = db.chain[CHAIN_TRANSITIONS].seq;
	out->db_event_seq = db.chain[CHAIN_EVENTS].seq;
	out->db_epoch = db.epoch;
	out->file_transition_seq = out->file_event_seq = out->file_epoch = -1;
	out->epoch_floor = max64(db.epoch, s->epoch_floor);
	if (hf == HEAD_ABSENT) {
		if (audit_pristine(s, &pristine, ctx, err, errlen))
			return -1;
		out->state = pristine ? STORE_HEAD_NEW : STORE_HEAD_MISSING;
		if (pristine)
			snprintf(out->detail, sizeof(out->detail),
				 "no head file %s yet: a new or just migrated store", s->head_path);
		else
			snprintf(out->detail, sizeof(out->detail),
				 "the head file %s is missing, but the audit of %s has grown since"
				 " the store was created: the file was lost or removed",
				 s->head_path, s->path);
		return 0;
	}
	if (hf == HEAD_INVALID) {
		out->state = STORE_HEAD_INVALID;
		snprintf(out->detail, sizeof(out->detail), "the head file %s is not valid: %s",
			 s->head_path, why);
		return 0;
	}
	out->file_transition_seq = file->chain[CHAIN_TRANSITIONS].seq;
	out->file_event_seq = file->chain[CHAIN_EVENTS].seq;
	out->file_epoch = file->epoch;
	out->epoch_floor = max64(out->epoch_floor, file->epoch);
	behind = db.epoch < file->epoch;
	for (int c = 0; c < NCHAINS; c++) {
		if (db.chain[c].seq < file->chain[c].seq) {
			behind = true;
			continue;
		}
		*ahead |= db.chain[c].seq > file->chain[c].seq;
		if (forked)
			continue;
		if (same_row(s, (enum chain)c, &file->chain[c], &same, ctx, err, errlen))
			return -1;
		forked = !same;
		forked_chain = c;
	}
	if (forked) {
		out->state = STORE_HEAD_FORKED;
		snprintf(out->detail, sizeof(out->detail),
			 "%s has another history than its head file %s: its %s seq %" PRId64
			 " is not the row the head file names",
			 s->path, s->head_path, CHAINS[forked_chain].table,
			 file->chain[forked_chain].seq);
	} else if (behind) {
		out->state = STORE_HEAD_BEHIND;
		out->behind = true;
		snprintf(out->detail, sizeof(out->detail),
			 "%s is behind its head file %s: the database ends at transitions seq %" PRId64
			 ", audit_events seq %" PRId64 ", epoch %" PRId64
			 "; the head file says transitions seq %" PRId64 ", audit_events seq %" PRId64
			 ", epoch %" PRId64 " (its newest commits were lost: a lost -wal, or a"
			 " restored backup)",
			 s->path, s->head_path, out->db_transition_seq, out->db_event_seq,
			 out->db_epoch, out->file_transition_seq, out->file_event_seq,
			 out->file_epoch);
	} else {
		out->state = STORE_HEAD_OK;
		snprintf(out->detail, sizeof(out->detail), "%s reaches its head file %s%s", s->path,
			 s->head_path,
			 *ahead ? " and passes it (commits whose head was not written yet)" : "");
	}
	return 0;
}

/* Reads the head file, then (so that the file is never newer than the
 * snapshot) compares it with the database in one read transaction. */
static int head_status_locked(struct store *s, struct store_head_status *out, bool *ahead,
			      char *err, size_t errlen)
{
	char why[200] = "", ctx[600];
	struct audit_pos file;
	snprintf(ctx, sizeof(ctx), "%s: head", s->path);
	enum head_file hf = head_read(s, &file, why, sizeof(why));
	if (exec(s, "BEGIN", ctx, err, errlen))
		return -1;
	int rc = head_classify(s, hf, &file, why, out, ahead, ctx, err, errlen);
	tx_rollback(s);
	out->writable = !s->read_only && s->writable;
	return rc;
}

/*
 * Writes the head file at the database's positions (read after the commit),
 * never behind what a valid file already says: another handle may have
 * published a later commit first.  forced: exactly the database's positions
 * (store_head_accept).
 */
static int publish_head(struct store *s, bool forced, char *err, size_t errlen)
{
	struct audit_pos db, file;
	char why[200], ctx[600];
	snprintf(ctx, sizeof(ctx), "%s: head", s->path);
	assert(!s->read_only && s->have_key);
	if (exec(s, "BEGIN", ctx, err, errlen))
		return -1;
	int rc = db_pos(s, &db, ctx, err, errlen);
	tx_rollback(s);
	if (rc)
		return -1;
	if (!forced && head_read(s, &file, why, sizeof(why)) == HEAD_VALID) {
		for (int c = 0; c < NCHAINS; c++)
			if (file.chain[c].seq > db.chain[c].seq)
				db.chain[c] = file.chain[c];
		db.epoch = max64(db.epoch, file.epoch);
	}
	return head_write(s, &db, err, errlen);
}

/* After a commit: the commit stands whatever happens here; a head file that
 * could not be written is logged and catches up at the next write or open. */
static void publish_after_commit(struct store *s)
{
	char err[600];
	if (publish_head(s, false, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "store.head_write_failed", "{s:s, s:s}", "db", s->path, "error",
			  err);
}

/* At a read-write open: decides whether audited writes are allowed, and
 * writes the head file of a new store or of one that passed its file. */
static int settle_head(struct store *s, char *err, size_t errlen)
{
	struct store_head_status st;
	bool ahead;
	if (head_status_locked(s, &st, &ahead, err, errlen))
		return -1;
	s->writable = st.state == STORE_HEAD_OK || st.state == STORE_HEAD_NEW;
	if (!s->writable) {
		snprintf(s->refusal, sizeof(s->refusal), "%s", st.detail);
		log_event(LOG_ERROR, "store.head_mismatch", "{s:s, s:s, s:s}", "db", s->path, "state",
			  store_head_state_name(st.state), "detail", st.detail);
		return 0;
	}
	if (st.state == STORE_HEAD_NEW || ahead)
		publish_after_commit(s);
	return 0;
}

/* ==== open: identity, integrity, the key, schema and migration ============= */

enum store_identity { STORE_EMPTY, STORE_OURS };

/* "the database file is damaged", with SQLite's or quick_check's words. */
static int damaged(struct store *s, const char *what, char *err, size_t errlen)
{
	seterr(err, errlen,
	       "store: %s: the database file is damaged (%s); restore it from a backup, or"
	       " salvage what is left with sqlite3's .recover",
	       s->path, what);
	return STORE_DAMAGED;
}

static bool corrupt(struct store *s)
{
	int code = sqlite3_errcode(s->db);
	return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

/* Decides whether the file is empty, ours, or to be refused (-1, or
 * STORE_DAMAGED). */
static int identify(struct store *s, enum store_identity *id, char *err, size_t errlen)
{
	int64_t app_id, version, objects;
	char ctx[600];
	snprintf(ctx, sizeof(ctx), "%s", s->path);
	if (pragma_int(s, "PRAGMA application_id", &app_id, ctx, err, errlen) ||
	    pragma_int(s, "PRAGMA user_version", &version, ctx, err, errlen) ||
	    pragma_int(s, "SELECT count(*) FROM sqlite_schema", &objects, ctx, err, errlen)) {
		if (sqlite3_errcode(s->db) == SQLITE_NOTADB)
			seterr(err, errlen, "store: %s: not a SQLite database, so not a drorch store",
			       s->path);
		else if (corrupt(s))
			return damaged(s, sqlite3_errmsg(s->db), err, errlen);
		return -1;
	}
	if (app_id == 0 && objects == 0) {
		*id = STORE_EMPTY;
		return 0;
	}
	if (app_id != STORE_APPLICATION_ID) {
		seterr(err, errlen,
		       "store: %s: a SQLite database but not a drorch store (application_id 0x%08" PRIx64
		       ", %" PRId64 " schema objects); refusing to touch it",
		       s->path, (uint64_t)app_id & 0xffffffffu, objects);
		return -1;
	}
	if (version < 1 || version > STORE_SCHEMA_VERSION) {
		seterr(err, errlen,
		       "store: %s: drorch store of schema version %" PRId64
		       "; this build knows version %d",
		       s->path, version, STORE_SCHEMA_VERSION);
		return -1;
	}
	*id = STORE_OURS;
	return 0;
}

/* PRAGMA quick_check: every page readable and well-formed (indexes are not
 * compared with their tables: that is integrity_check's longer job). */
static int quick_check(struct store *s, char *err, size_t errlen)
{
	char ctx[600], what[400];
	snprintf(ctx, sizeof(ctx), "%s: quick_check", s->path);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
		return corrupt(s) ? damaged(s, sqlite3_errmsg(s->db), err, errlen)
				  : db_fail(s, ctx, err, errlen);
	int rc = sqlite3_step(st);
	const char *result = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (rc != SQLITE_ROW) {
		rc = corrupt(s) ? damaged(s, sqlite3_errmsg(s->db), err, errlen)
				: db_fail(s, ctx, err, errlen);
	} else if (!result || strcmp(result, "ok") != 0) {
		snprintf(what, sizeof(what), "quick_check: %s", result ? result : "no answer");
		rc = damaged(s, what, err, errlen);
	} else {
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int set_pragmas(struct store *s, char *err, size_t errlen)
{
	char ctx[600];
	snprintf(ctx, sizeof(ctx), "%s: pragmas", s->path);
	sqlite3_stmt *st = prep(s, "PRAGMA journal_mode=WAL", ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	bool wal = mode && strcmp(mode, "wal") == 0;
	if (rc != SQLITE_ROW)
		db_fail(s, ctx, err, errlen);
	else if (!wal)
		seterr(err, errlen, "store: %s: journal_mode is %s, not wal", s->path,
		       mode ? mode : "unknown");
	sqlite3_finalize(st);
	if (!wal)
		return -1;
	return exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", ctx, err, errlen);
}

/* Reads what the audit says of itself: the schema version, the key id in
 * audit_start, and the epoch floor of history_accepted events. */
static int read_audit_identity(struct store *s, char *err, size_t errlen)
{
	int64_t version;
	char ctx[600];
	snprintf(ctx, sizeof(ctx), "%s: audit", s->path);
	s->audit_key_id[0] = '\0';
	if (pragma_int(s, "PRAGMA user_version", &version, ctx, err, errlen))
		return -1;
	s->version = (int)version;
	if (version < 3)
		return 0;
	sqlite3_stmt *st = prep(s,
				"SELECT CASE WHEN json_valid(detail)"
				" THEN json_extract(detail, '$.key_id') END"
				" FROM audit_events WHERE seq = 1 AND kind = 'audit_start'",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (id && strlen(id) == STORE_KEY_ID_SIZE - 1)
		memcpy(s->audit_key_id, id, STORE_KEY_ID_SIZE);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(s, ctx, err, errlen);
	return pragma_int(s,
			  "SELECT coalesce(max(CASE WHEN json_valid(detail)"
			  " THEN json_extract(detail, '$.epoch_floor') END), 0)"
			  " FROM audit_events WHERE kind = 'history_accepted'",
			  &s->epoch_floor, ctx, err, errlen);
}

/*
 * Loads the audit key, or creates it for a store that has no audit yet (new,
 * or schema 1 or 2).  A read-only open goes on without one: verification
 * says what that means.
 */
static int open_key(struct store *s, enum store_identity id, char *err, size_t errlen)
{
	int rc = key_load(s, err, errlen);
	if (rc <= 0)
		return rc;
	if (s->read_only)
		return 0;
	if (id == STORE_EMPTY)
		return key_create(s, err, errlen);
	if (read_audit_identity(s, err, errlen))
		return -1;
	if (s->version < 3)
		return key_create(s, err, errlen);
	seterr(err, errlen,
	       "store: %s: the audit key file %s is missing, and this store's audit is MAC'd with"
	       " key id %s: restore the key file, or set audit_key_file to where it is",
	       s->path, s->key_path, s->audit_key_id[0] ? s->audit_key_id : "(unreadable)");
	return -1;
}

/* A read-write open refuses a key the audit was not made with. */
static int check_key(struct store *s, char *err, size_t errlen)
{
	if (s->version < 3 || strcmp(s->audit_key_id, s->key_id) == 0)
		return 0;
	if (!s->audit_key_id[0])
		seterr(err, errlen,
		       "store: %s: audit_events has no audit_start row naming its key: the audit"
		       " was tampered with (drorchd --verify-audit says more)",
		       s->path);
	else
		seterr(err, errlen,
		       "store: %s: the audit key file %s (key id %s) is not this store's key (key"
		       " id %s): set audit_key_file to the store's key file",
		       s->path, s->key_path, s->key_id, s->audit_key_id);
	return -1;
}

static int create_schema(struct store *s, const char *ctx, char *err, size_t errlen)
{
	char sql[64];
	if (exec(s, SCHEMA_SQL, ctx, err, errlen) || exec(s, POLICIES_SQL, ctx, err, errlen))
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d", STORE_APPLICATION_ID);
	return exec(s, sql, ctx, err, errlen);
}

/* Creates the append-only triggers that are absent; logs when a store that
 * had them (had_them) lost some. */
static int ensure_triggers(struct store *s, bool had_them, const char *ctx, char *err,
			   size_t errlen)
{
	int64_t present;
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name IN (%s)",
		 TRIGGER_NAMES);
	if (pragma_int(s, sql, &present, ctx, err, errlen))
		return -1;
	if (present == NTRIGGERS)
		return 0;
	if (exec(s, TRIGGERS_SQL, ctx, err, errlen))
		return -1;
	if (had_them)
		log_event(LOG_WARN, "store.triggers_restored", "{s:s, s:I}", "db", s->path,
			  "missing", (json_int_t)(NTRIGGERS - present));
	return 0;
}

/* The transition chain of an older store must be intact before it gets
 * MACs: a MAC would bless an edit made before it. */
static int check_chain_before_migration(struct store *s, const char *ctx, char *err,
					size_t errlen)
{
	struct chain_walk w;
	walk_init(&w, CHAIN_TRANSITIONS, false);
	if (walk_chain(s, &w, ctx, err, errlen) || check_cluster_head(s, &w, ctx, err, errlen))
		return -1;
	if (!w.broken)
		return 0;
	seterr(err, errlen,
	       "store: %s: the transition log is broken at seq %" PRId64 " (%s); refusing to"
	       " migrate it to schema %d, which would give it MACs (drorchd --verify-audit)",
	       s->path, w.bad_seq, w.why, STORE_SCHEMA_VERSION);
	return -1;
}

/* drorch_row_mac(table, hash): row_mac as an SQL function, for migration. */
static void sql_row_mac(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	const struct store *s = sqlite3_user_data(c);
	const char *table = (const char *)sqlite3_value_text(argv[0]);
	const char *hash = (const char *)sqlite3_value_text(argv[1]);
	char mac[SHA256_HEX_SIZE];
	assert(argc == 2);
	if (!table || !hash || strlen(hash) != SHA256_HEX_SIZE - 1) {
		sqlite3_result_error(c, "drorch_row_mac: not a hash", -1);
		return;
	}
	row_mac(s, table, hash, mac);
	sqlite3_result_text(c, mac, SHA256_HEX_SIZE - 1, SQLITE_TRANSIENT);
}

static int mac_transitions(struct store *s, int64_t *n, const char *ctx, char *err,
			   size_t errlen)
{
	if (sqlite3_create_function(s->db, "drorch_row_mac", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    s, sql_row_mac, NULL, NULL) != SQLITE_OK)
		return db_fail(s, ctx, err, errlen);
	int rc = exec(s,
		      "DROP TRIGGER IF EXISTS transitions_no_update;"
		      "UPDATE transitions SET mac = drorch_row_mac('transitions', hash)",
		      ctx, err, errlen);
	*n = rc == 0 ? sqlite3_changes64(s->db) : 0;
	sqlite3_create_function(s->db, "drorch_row_mac", 2, SQLITE_UTF8, NULL, NULL, NULL, NULL);
	return rc;
}

static int append_audit_start(struct store *s, int64_t from, int64_t transitions,
			      const char *ctx, char *err, size_t errlen)
{
	json_t *d = json_pack("{s:i, s:I, s:s, s:I}", "schema", STORE_SCHEMA_VERSION, "from",
			      (json_int_t)from, "key_id", s->key_id, "transitions",
			      (json_int_t)transitions);
	char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	if (!text) {
		seterr(err, errlen, "store: %s: out of memory", ctx);
		return -1;
	}
	struct audit_event e = { .kind = "audit_start", .detail = text };
	int rc = append_event(s, &e, ctx, err, errlen);
	free(text);
	return rc;
}

/* One migrated event per row of each audited table; counts[i] rows of
 * AUDITED[i]. */
static int migrated_events(struct store *s, int64_t counts[NAUDITED], const char *ctx,
			   char *err, size_t errlen)
{
	char sql[256], digest[SHA256_HEX_SIZE];
	for (int i = 0; i < NAUDITED; i++) {
		const struct audited_table *t = AUDITED[i];
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->columns, t->name,
			 t->key_order);
		sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
		if (!st)
			return -1;
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			row_digest(t, st, digest);
			struct audit_event e = { "migrated", t, sqlite3_column_int64(st, 0),
						 t->two_keys ? sqlite3_column_int64(st, 1) : 0,
						 digest, NULL };
			if (append_event(s, &e, ctx, err, errlen))
				break;
			counts[i]++;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			db_fail(s, ctx, err, errlen);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* Schema 3 to 4: only the runs table's CHECK changed (rebuild_old_runs
 * did it, rows unchanged, so their audit digests still hold). */
static int migrate_from_3(struct store *s, const char *ctx, char *err, size_t errlen)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	if (exec(s, sql, ctx, err, errlen))
		return -1;
	log_event(LOG_INFO, "store.migrated", "{s:s, s:i, s:i, s:s}", "db", s->path, "from", 3,
		  "to", STORE_SCHEMA_VERSION, "change", "runs.outcome may be dry_run");
	return 0;
}

/* MIGRATION above: schema `from` (1, 2 or 3; 0 for a store just created)
 * becomes STORE_SCHEMA_VERSION, inside the caller's write transaction. */
static int migrate(struct store *s, int64_t from, const char *ctx, char *err, size_t errlen)
{
	int64_t counts[NAUDITED] = { 0 }, transitions = 0;
	char sql[64];
	if (from == 3)
		return migrate_from_3(s, ctx, err, errlen);
	if (from >= 1 && (exec(s, POLICIES_SQL, ctx, err, errlen) ||
			  check_chain_before_migration(s, ctx, err, errlen)))
		return -1;
	if (exec(s, AUDIT_SQL, ctx, err, errlen) ||
	    mac_transitions(s, &transitions, ctx, err, errlen) ||
	    append_audit_start(s, from, transitions, ctx, err, errlen) ||
	    migrated_events(s, counts, ctx, err, errlen))
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	if (exec(s, sql, ctx, err, errlen))
		return -1;
	if (from >= 1)
		log_event(LOG_INFO, "store.migrated", "{s:s, s:I, s:i, s:s, s:I, s:I, s:I, s:I}",
			  "db", s->path, "from", (json_int_t)from, "to", STORE_SCHEMA_VERSION,
			  "key_id", s->key_id, "transitions", (json_int_t)transitions, "runs",
			  (json_int_t)counts[0], "run_steps", (json_int_t)counts[1], "policies",
			  (json_int_t)counts[2]);
	return 0;
}

/*
 * Before migrating a store of schema 1, 2 or 3: its runs table rebuilt with
 * the run kinds of today (RUNS_REBUILD_SQL), in a transaction of its own
 * with foreign keys off (they cannot be switched inside one), checked with
 * foreign_key_check before the commit.  Idempotent: a migration that fails
 * after it leaves the same rows, and the next open rebuilds again.
 */
static int rebuild_old_runs(struct store *s, char *err, size_t errlen)
{
	char ctx[600];
	int64_t version = 0, runs = 0, dangling = 0;
	snprintf(ctx, sizeof(ctx), "%s: rebuild runs", s->path);
	if (pragma_int(s, "PRAGMA user_version", &version, ctx, err, errlen) ||
	    pragma_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'runs'", &runs, ctx,
		       err, errlen))
		return -1;
	if (version < 1 || version > 3 || runs == 0)
		return 0;
	if (exec(s, "PRAGMA foreign_keys=OFF", ctx, err, errlen) || tx_begin(s, ctx, err, errlen))
		return -1;
	int rc = exec(s, RUNS_REBUILD_SQL, ctx, err, errlen);
	if (rc == 0)
		rc = pragma_int(s, "SELECT count(*) FROM pragma_foreign_key_check", &dangling, ctx,
				err, errlen);
	if (rc == 0 && dangling) {
		seterr(err, errlen, "store: %s: %" PRId64 " rows would reference no run", ctx,
		       dangling);
		rc = -1;
	}
	rc = tx_end(s, rc, ctx, err, errlen);
	if (exec(s, "PRAGMA foreign_keys=ON", ctx, err, errlen))
		rc = -1;
	return rc;
}

/* In one write transaction: identify again (another process may have just
 * created the schema), create it if the file is empty, migrate an older
 * one, restore triggers. */
/*
 * The replication position (HA, orchestrator/ha.c): the index of the last
 * operation of the cluster's log this store holds, written in the
 * transaction of that operation's write.  Not audited: which copy of the
 * log a store is, not what the log says.  Created by any read-write open.
 */
#define REPLICATION_SQL                                                                  \
	"CREATE TABLE IF NOT EXISTS replication ("                                      \
	" id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL) STRICT;"

static int ensure_schema(struct store *s, char *err, size_t errlen)
{
	char ctx[600];
	enum store_identity id;
	int64_t version = 0;
	snprintf(ctx, sizeof(ctx), "%s: schema", s->path);
	if (tx_begin(s, ctx, err, errlen))
		return -1;
	int rc = identify(s, &id, err, errlen);
	if (rc == 0 && id == STORE_EMPTY)
		rc = create_schema(s, ctx, err, errlen);
	if (rc == 0 && id == STORE_OURS)
		rc = pragma_int(s, "PRAGMA user_version", &version, ctx, err, errlen);
	if (rc == 0 && version < STORE_SCHEMA_VERSION)
		rc = migrate(s, version, ctx, err, errlen);
	if (rc == 0)
		rc = ensure_triggers(s, version >= STORE_SCHEMA_VERSION, ctx, err, errlen);
	if (rc == 0)
		rc = exec(s, REPLICATION_SQL, ctx, err, errlen);
	if (rc == 0)
		rc = pragma_int(s, "SELECT coalesce((SELECT applied FROM replication), 0)",
				&s->applied, ctx, err, errlen);
	return tx_end(s, rc ? -1 : 0, ctx, err, errlen);
}

static char *path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

static struct store *store_new(const char *path, const struct store_options *opt)
{
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	const char *key_file = opt && opt->key_file && *opt->key_file ? opt->key_file : NULL;
	s->path = strdup(path);
	s->key_path = key_file ? strdup(key_file) : path_with(path, ".key");
	s->head_path = path_with(path, ".head");
	s->read_only = opt && opt->read_only;
	pthread_mutex_init(&s->mu, NULL);
	if (!s->path || !s->key_path || !s->head_path) {
		store_close(s);
		return NULL;
	}
	return s;
}

/* Identity, integrity, key, schema, audit identity, head: in that order, so
 * a foreign or damaged file is refused before anything is written. */
static int open_steps(struct store *s, char *err, size_t errlen)
{
	enum store_identity id;
	int rc = identify(s, &id, err, errlen);
	if (rc == 0 && s->read_only && id == STORE_EMPTY) {
		seterr(err, errlen, "store: %s: empty: no drorch store here yet", s->path);
		rc = -1;
	}
	if (rc == 0)
		rc = s->read_only ? exec(s, "PRAGMA query_only=1", s->path, err, errlen)
				  : set_pragmas(s, err, errlen);
	if (rc == 0)
		rc = quick_check(s, err, errlen);
	if (rc == 0)
		rc = open_key(s, id, err, errlen);
	if (rc == 0 && !s->read_only && id == STORE_OURS)
		rc = rebuild_old_runs(s, err, errlen);
	if (rc == 0 && !s->read_only)
		rc = ensure_schema(s, err, errlen);
	if (rc == 0)
		rc = read_audit_identity(s, err, errlen);
	if (rc == 0 && !s->read_only)
		rc = check_key(s, err, errlen);
	if (rc == 0 && !s->read_only)
		rc = settle_head(s, err, errlen);
	return rc;
}

int store_open_ex(struct store **out, const char *path, const struct store_options *opt,
		  char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !*path) {
		seterr(err, errlen, "store: open: no database path");
		return -1;
	}
	struct store *s = store_new(path, opt);
	if (!s) {
		seterr(err, errlen, "store: %s: out of memory", path);
		return -1;
	}
	int flags = (s->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
		    SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store: %s: open: %s", path,
		       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		rc = -1;
	} else {
		sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
		if (s->read_only)
			sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
		rc = open_steps(s, err, errlen);
	}
	if (rc != 0) {
		store_close(s);
		return rc == STORE_DAMAGED ? STORE_DAMAGED : -1;
	}
	*out = s;
	return 0;
}

int store_open(struct store **out, const char *path, char *err, size_t errlen)
{
	return store_open_ex(out, path, NULL, err, errlen);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	/* Every statement is finalized where it is prepared, so this succeeds. */
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	memset(s->key, 0, sizeof(s->key));
	free(s->path);
	free(s->key_path);
	free(s->head_path);
	free(s);
}

const char *store_key_file(const struct store *s)
{
	return s->key_path;
}

const char *store_head_file(const struct store *s)
{
	return s->head_path;
}

/* ==== writes: who may write, and audited transactions ===================== */

/* Authoritative state is written only through a read-write handle whose
 * database reaches its head file (or whose loss an operator accepted). */
static int check_writable(struct store *s, const char *ctx, char *err, size_t errlen)
{
	if (s->read_only) {
		seterr(err, errlen, "store: %s: %s is open read-only", ctx, s->path);
		return -1;
	}
	if (s->writable)
		return 0;
	seterr(err, errlen,
	       "store: %s: refused: %s; writes stay refused until an operator accepts the loss"
	       " (drorchd --accept-lost-history)",
	       ctx, s->refusal);
	return -1;
}

typedef int (*audited_fn)(struct store *s, const void *args, const char *ctx, char *err,
			  size_t errlen);

static int set_applied(struct store *s, int64_t index, const char *ctx, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = prep(s, "INSERT INTO replication (id, applied) VALUES (1, ?1)"
				" ON CONFLICT (id) DO UPDATE SET applied = ?1", ctx, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, index);
	return step_done(s, st, ctx, err, errlen);
}

/*
 * fn's write, then (replicated) its operation handed to the replicator,
 * then the replication position, in one transaction: the write commits only
 * once the replicator committed its operation.  Under the store's mutex.
 */
static int write_tx_locked(struct store *s, audited_fn fn, const void *args, json_t *op,
			   const char *ctx, char *err, size_t errlen)
{
	bool repl = s->repl && !tl_apply_index;
	int64_t index = tl_apply_index;
	tl_clock = tl_apply_index ? tl_apply_ts : repl ? (int64_t)time_wall_ms() : 0;
	if (repl && (!op || json_object_set_new(op, "ts", json_integer(tl_clock)))) {
		seterr(err, errlen, "store: %s: out of memory", ctx);
		tl_clock = 0;
		return -1;
	}
	int rc = tx_begin(s, ctx, err, errlen);
	if (rc == 0) {
		rc = fn(s, args, ctx, err, errlen);
		if (rc == 0 && repl)
			rc = s->repl(s->repl_ctx, op, &index, err, errlen) ? -1 : 0;
		if (rc == 0 && index)
			rc = set_applied(s, index, ctx, err, errlen);
		rc = tx_end(s, rc, ctx, err, errlen);
		if (rc == 0 && index)
			s->applied = index;
	}
	tl_clock = 0;
	return rc;
}

/* Runs fn in one write transaction of a writable store (fn's 0 commits,
 * STORE_CONFLICT and -1 roll back), replicated (op, stolen: the write as
 * an operation) when the store has a replicator; publishes the head after
 * an audited write.  An operation store_apply has applied before is
 * skipped. */
static int write_op(struct store *s, audited_fn fn, const void *args, json_t *op, bool audited,
		    const char *ctx, char *err, size_t errlen)
{
	lock(s);
	int rc = check_writable(s, ctx, err, errlen);
	if (rc == 0 && tl_apply_index && tl_apply_index <= s->applied) {
		tl_apply_skipped = true;
	} else if (rc == 0) {
		rc = write_tx_locked(s, fn, args, op, ctx, err, errlen);
		if (rc == 0 && audited)
			publish_after_commit(s);
	}
	unlock(s);
	json_decref(op);
	return rc;
}

static int audited_write(struct store *s, audited_fn fn, const void *args, json_t *op,
			 const char *ctx, char *err, size_t errlen)
{
	return write_op(s, fn, args, op, true, ctx, err, errlen);
}

/* ==== the cluster row ===================================================== */

static int cluster_get_locked(struct store *s, struct store_cluster *out, char *err,
			      size_t errlen)
{
	const char *ctx = "cluster";
	sqlite3_stmt *st = prep(s,
				"SELECT state, epoch, primary_site, version, action, run_id,"
				" updated_ms, detail FROM cluster WHERE id = 1",
				ctx, err, errlen);
	if (!st)
		return -1;
	memset(out, 0, sizeof(*out));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->epoch = sqlite3_column_int64(st, 1);
		out->version = sqlite3_column_int64(st, 3);
		out->run_id = sqlite3_column_int64(st, 5);
		out->updated_ms = sqlite3_column_int64(st, 6);
		rc = copy_col(out->state, sizeof(out->state), st, 0, ctx, err, errlen) ||
		     copy_col(out->primary, sizeof(out->primary), st, 2, ctx, err, errlen) ||
		     copy_col(out->action, sizeof(out->action), st, 4, ctx, err, errlen) ? -1 : 0;
		char perr[200];
		if (rc == 0 && runctx_parse(&out->ctx, (const char *)sqlite3_column_text(st, 7),
					    perr, sizeof(perr)) != 0) {
			seterr(err, errlen, "store: %s: %s", ctx, perr);
			rc = -1;
		}
	} else {
		rc = rc == SQLITE_DONE ? 1 : db_fail(s, ctx, err, errlen);
	}
	sqlite3_finalize(st);
	return rc;
}

int store_cluster_get(struct store *s, struct store_cluster *out, char *err, size_t errlen)
{
	lock(s);
	int rc = cluster_get_locked(s, out, err, errlen);
	unlock(s);
	return rc;
}

/* The strings of next are NUL-terminated within their arrays, state is set,
 * detail is JSON. */
static int check_cluster(const struct store_cluster *c, const char *ctx, char *err,
			 size_t errlen)
{
	if (strnlen(c->state, sizeof(c->state)) == sizeof(c->state) ||
	    strnlen(c->primary, sizeof(c->primary)) == sizeof(c->primary) ||
	    strnlen(c->action, sizeof(c->action)) == sizeof(c->action)) {
		seterr(err, errlen, "store: %s: a cluster field is not NUL-terminated", ctx);
		return -1;
	}
	if (!c->state[0]) {
		seterr(err, errlen, "store: %s: cluster state is empty", ctx);
		return -1;
	}
	return 0;
}

static int cluster_init_locked(struct store *s, const char *state, int64_t epoch,
			       const char *primary, char *err, size_t errlen)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "cluster init %s", state ? state : "(null)");
	struct store_cluster c = { .epoch = epoch };
	if (!state || snprintf(c.state, sizeof(c.state), "%s", state) >= (int)sizeof(c.state) ||
	    snprintf(c.primary, sizeof(c.primary), "%s", primary ? primary : "") >=
		    (int)sizeof(c.primary)) {
		seterr(err, errlen, "store: %s: state missing, or state or primary too long", ctx);
		return -1;
	}
	if (check_cluster(&c, ctx, err, errlen))
		return -1;
	sqlite3_stmt *st = prep(s,
				"INSERT INTO cluster (id, state, epoch, primary_site, version,"
				" updated_ms) VALUES (1, ?1, ?2, ?3, 1, ?4)"
				" ON CONFLICT (id) DO NOTHING",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = bind_text(st, 1, c.state) | sqlite3_bind_int64(st, 2, epoch) |
		 bind_text(st, 3, nz(c.primary)) | sqlite3_bind_int64(st, 4, now_ms());
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

struct cluster_init_args {
	const char *state, *primary;
	int64_t epoch;
};

static int cluster_init_fn(struct store *s, const void *args, const char *ctx, char *err,
			   size_t errlen)
{
	(void)ctx;
	const struct cluster_init_args *a = args;
	return cluster_init_locked(s, a->state, a->epoch, a->primary, err, errlen);
}

int store_cluster_init(struct store *s, const char *state, int64_t epoch, const char *primary,
		       char *err, size_t errlen)
{
	struct cluster_init_args a = { state, primary, epoch };
	json_t *op = json_pack("{s:s, s:s?, s:I, s:s?}", "op", "cluster_init", "state", state,
			       "epoch", (json_int_t)epoch, "primary", primary);
	return write_op(s, cluster_init_fn, &a, op, false, "cluster init", err, errlen);
}

/*
 * Why a CAS matched no row: there is no cluster row (-1), or the version
 * moved (STORE_CONFLICT).
 */
static int cas_lost(struct store *s, int64_t expected, const char *ctx, char *err,
		    size_t errlen)
{
	int64_t version;
	if (pragma_int(s, "SELECT coalesce((SELECT version FROM cluster WHERE id = 1), -1)",
		       &version, ctx, err, errlen))
		return -1;
	if (version < 0) {
		seterr(err, errlen, "store: %s: no cluster row (store_cluster_init first)", ctx);
		return -1;
	}
	seterr(err, errlen, "store: %s: CAS lost: expected version %" PRId64 ", store is at %" PRId64,
	       ctx, expected, version);
	return STORE_CONFLICT;
}

/*
 * UPDATE cluster ... version = version + 1 WHERE version = expected.  The
 * chain head is written when head_hash is not NULL.  0, STORE_CONFLICT, -1.
 */
static int cluster_cas(struct store *s, int64_t expected, const struct store_cluster *next,
		       int64_t head_seq, const char *head_hash, const char *ctx, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"UPDATE cluster SET state = ?1, epoch = ?2, primary_site = ?3,"
				" action = ?4, run_id = ?5, detail = ?6, updated_ms = ?7,"
				" version = version + 1,"
				" head_seq = coalesce(?9, head_seq), head_hash = coalesce(?10, head_hash)"
				" WHERE id = 1 AND version = ?8",
				ctx, err, errlen);
	char *detail = st ? runctx_format(&next->ctx) : NULL;
	if (st && !detail) {
		sqlite3_finalize(st);
		seterr(err, errlen, "store: %s: out of memory", ctx);
	}
	if (!detail)
		return -1;
	int rc = bind_text(st, 1, next->state) | sqlite3_bind_int64(st, 2, next->epoch) |
		 bind_text(st, 3, nz(next->primary)) | bind_text(st, 4, nz(next->action)) |
		 bind_i64_min(st, 5, next->run_id, 1) | bind_text(st, 6, detail) |
		 sqlite3_bind_int64(st, 7, now_ms()) | sqlite3_bind_int64(st, 8, expected) |
		 (head_hash ? sqlite3_bind_int64(st, 9, head_seq) : SQLITE_OK) |
		 bind_text(st, 10, head_hash);
	if (rc) {
		sqlite3_finalize(st);
		free(detail);
		return bind_fail(rc, ctx, err, errlen);
	}
	rc = step_done(s, st, ctx, err, errlen);
	free(detail);
	if (rc)
		return -1;
	return sqlite3_changes(s->db) == 1 ? 0 : cas_lost(s, expected, ctx, err, errlen);
}

/* The cluster row as an operation carries it (store_apply: cluster_from_op). */
static json_t *cluster_op_json(const struct store_cluster *c)
{
	char *text = runctx_format(&c->ctx);
	json_t *j = text ? json_pack("{s:s, s:I, s:s, s:s, s:I, s:s}", "state", c->state,
				     "epoch", (json_int_t)c->epoch, "primary", c->primary,
				     "action", c->action, "run_id", (json_int_t)c->run_id,
				     "ctx", text)
			 : NULL;
	free(text);
	return j;
}

struct cluster_update_args {
	int64_t expected;
	const struct store_cluster *next;
};

static int cluster_update_fn(struct store *s, const void *args, const char *ctx, char *err,
			     size_t errlen)
{
	const struct cluster_update_args *a = args;
	return cluster_cas(s, a->expected, a->next, 0, NULL, ctx, err, errlen);
}

int store_cluster_update(struct store *s, int64_t expected_version,
			 const struct store_cluster *next, char *err, size_t errlen)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "cluster update to %.32s", next->state);
	if (check_cluster(next, ctx, err, errlen))
		return -1;
	struct cluster_update_args a = { expected_version, next };
	json_t *op = json_pack("{s:s, s:I, s:o}", "op", "cluster_update", "expected",
			       (json_int_t)expected_version, "next", cluster_op_json(next));
	return write_op(s, cluster_update_fn, &a, op, false, ctx, err, errlen);
}

/* ==== transitions ========================================================== */

static int check_transition(const struct store_transition *t,
			    const struct store_cluster *next, const char *ctx, char *err,
			    size_t errlen)
{
	if (!t->from || !t->event || !t->to || !t->actor) {
		seterr(err, errlen, "store: %s: from, event, to and actor are required", ctx);
		return -1;
	}
	/* The cluster row's state is always the last transition's to_state. */
	if (strcmp(next->state, t->to) != 0) {
		seterr(err, errlen, "store: %s: the cluster's next state is %.32s", ctx, next->state);
		return -1;
	}
	return check_json("transition detail", nz(t->detail_json), ctx, err, errlen);
}

/* The cluster row's version, epoch and chain head, under the write lock. */
struct cluster_head {
	int64_t version, epoch, head_seq;
	char head_hash[SHA256_HEX_SIZE];
};

static int read_head(struct store *s, struct cluster_head *h, const char *ctx, char *err,
		     size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"SELECT version, epoch, head_seq, head_hash FROM cluster WHERE id = 1",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		h->version = sqlite3_column_int64(st, 0);
		h->epoch = sqlite3_column_int64(st, 1);
		h->head_seq = sqlite3_column_int64(st, 2);
		rc = copy_col(h->head_hash, SHA256_HEX_SIZE, st, 3, ctx, err, errlen);
	} else if (rc == SQLITE_DONE) {
		seterr(err, errlen, "store: %s: no cluster row (store_cluster_init first)", ctx);
		rc = -1;
	} else {
		rc = db_fail(s, ctx, err, errlen);
	}
	sqlite3_finalize(st);
	return rc;
}

/* After store_head_accept, a raised epoch must pass the floor it recorded:
 * epochs up to it may have been issued in the history that was lost.  The
 * floor itself may be taken (the orchestrator adopting the epoch the sites
 * are at: that names an epoch, it issues none); a fence goes above it. */
static int check_epoch_floor(const struct store *s, int64_t current, int64_t next,
			     const char *ctx, char *err, size_t errlen)
{
	if (next <= current || next >= s->epoch_floor)
		return 0;
	seterr(err, errlen,
	       "store: %s: epoch %" PRId64 " may already be in use: the store lost history in"
	       " which epochs up to %" PRId64 " may have been issued; raise the epoch past it",
	       ctx, next, s->epoch_floor);
	return -1;
}

/* Appends row seq chained to prev_hash, with its MAC; hash_out receives its
 * hash. */
static int insert_transition(struct store *s, int64_t seq, const char *prev_hash,
			     const struct store_transition *t, char hash_out[SHA256_HEX_SIZE],
			     const char *ctx, char *err, size_t errlen)
{
	char mac[SHA256_HEX_SIZE];
	struct chain_value v[11] = {
		cv_int(seq), cv_int(now_ms()), cv_text(t->from), cv_text(t->event),
		cv_text(t->to), cv_text(t->row_id), cv_int(t->epoch), cv_text(t->actor),
		t->run_id > 0 ? cv_int(t->run_id) : cv_text(NULL), cv_text(t->reason),
		cv_text(nz(t->detail_json)),
	};
	chain_hash(prev_hash, v, 11, hash_out);
	row_mac(s, CHAINS[CHAIN_TRANSITIONS].table, hash_out, mac);
	sqlite3_stmt *st = prep(s,
				"INSERT INTO transitions (seq, ts_ms, from_state, event, to_state,"
				" row_id, epoch, actor, run_id, reason, detail, prev_hash, hash, mac)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = bind_values(st, v, 11) | bind_text(st, 12, prev_hash) |
		 bind_text(st, 13, hash_out) | bind_text(st, 14, mac);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

struct transition_args {
	int64_t expected;
	const struct store_cluster *next;
	const struct store_transition *t;
	int64_t *seq_out;
};

static int transition_locked(struct store *s, const void *args, const char *ctx, char *err,
			     size_t errlen)
{
	const struct transition_args *a = args;
	struct cluster_head h;
	char hash[SHA256_HEX_SIZE];
	if (read_head(s, &h, ctx, err, errlen))
		return -1;
	if (h.version != a->expected)
		return cas_lost(s, a->expected, ctx, err, errlen);
	if (check_epoch_floor(s, h.epoch, a->next->epoch, ctx, err, errlen) ||
	    insert_transition(s, h.head_seq + 1, h.head_hash, a->t, hash, ctx, err, errlen) ||
	    cluster_cas(s, a->expected, a->next, h.head_seq + 1, hash, ctx, err, errlen))
		return -1;
	if (a->seq_out)
		*a->seq_out = h.head_seq + 1;
	return 0;
}

int store_transition(struct store *s, int64_t expected_version,
		     const struct store_cluster *next, const struct store_transition *t,
		     int64_t *seq_out, char *err, size_t errlen)
{
	char ctx[128];
	snprintf(ctx, sizeof(ctx), "transition %.40s->%.40s", t->from ? t->from : "?",
		 t->to ? t->to : "?");
	if (check_cluster(next, ctx, err, errlen) || check_transition(t, next, ctx, err, errlen))
		return -1;
	struct transition_args a = { expected_version, next, t, seq_out };
	json_t *op = json_pack("{s:s, s:I, s:o, s:{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I}}",
			       "op", "transition", "expected", (json_int_t)expected_version,
			       "next", cluster_op_json(next), "t", "from", t->from,
			       "event", t->event, "to", t->to, "row_id", t->row_id,
			       "actor", t->actor, "reason", t->reason, "detail", t->detail_json,
			       "epoch", (json_int_t)t->epoch, "run_id", (json_int_t)t->run_id);
	return audited_write(s, transition_locked, &a, op, ctx, err, errlen);
}

/* ==== runs ================================================================= */

struct run_begin_args {
	const char *kind, *actor, *from_site, *detail_json;
	int64_t epoch;
	int64_t *run_id;
};

static int run_begin_locked(struct store *s, const void *args, const char *ctx, char *err,
			    size_t errlen)
{
	const struct run_begin_args *a = args;
	sqlite3_stmt *st = prep(s,
				"INSERT INTO runs (kind, started_ms, outcome, actor, from_site,"
				" epoch, detail) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = bind_text(st, 1, a->kind) | sqlite3_bind_int64(st, 2, now_ms()) |
		 bind_text(st, 3, a->actor) | bind_text(st, 4, nz(a->from_site)) |
		 sqlite3_bind_int64(st, 5, a->epoch) | bind_text(st, 6, a->detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	*a->run_id = sqlite3_last_insert_rowid(s->db);
	return row_event(s, "run_begin", &T_RUNS, *a->run_id, 0, ctx, err, errlen);
}

int store_run_begin(struct store *s, const char *kind, const char *actor, const char *from_site,
		    int64_t epoch, const char *detail_json, int64_t *run_id,
		    char *err, size_t errlen)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "run begin %.20s by %.40s", kind ? kind : "?",
		 actor ? actor : "?");
	detail_json = nz(detail_json);
	if (check_json("run detail", detail_json, ctx, err, errlen))
		return -1;
	struct run_begin_args a = { kind, actor, from_site, detail_json, epoch, run_id };
	json_t *op = json_pack("{s:s, s:s?, s:s?, s:s?, s:I, s:s?}", "op", "run_begin",
			       "kind", kind, "actor", actor, "from_site", from_site,
			       "epoch", (json_int_t)epoch, "detail", detail_json);
	return audited_write(s, run_begin_locked, &a, op, ctx, err, errlen);
}

/* outcome[cap] receives the run's outcome; -1 (with a message) if no such run. */
static int run_outcome(struct store *s, int64_t run_id, char *outcome, size_t cap,
		       const char *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s, "SELECT outcome FROM runs WHERE id = ?1", ctx, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = copy_col(outcome, cap, st, 0, ctx, err, errlen);
	} else if (rc == SQLITE_DONE) {
		seterr(err, errlen, "store: %s: no such run", ctx);
		rc = -1;
	} else {
		rc = db_fail(s, ctx, err, errlen);
	}
	sqlite3_finalize(st);
	return rc;
}

struct run_step_args {
	int64_t run_id;
	const char *name, *status, *detail_json;
};

static int run_step_locked(struct store *s, const void *args, const char *ctx, char *err,
			   size_t errlen)
{
	const struct run_step_args *a = args;
	char outcome[16];
	int64_t seq;
	if (run_outcome(s, a->run_id, outcome, sizeof(outcome), ctx, err, errlen))
		return -1;
	sqlite3_stmt *st = prep(s,
				"SELECT coalesce(max(seq), 0) + 1 FROM run_steps WHERE run_id = ?1",
				ctx, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, a->run_id);
	int rc = sqlite3_step(st);
	seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return db_fail(s, ctx, err, errlen);
	st = prep(s,
		  "INSERT INTO run_steps (run_id, seq, ts_ms, name, status, detail)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		  ctx, err, errlen);
	if (!st)
		return -1;
	rc = sqlite3_bind_int64(st, 1, a->run_id) | sqlite3_bind_int64(st, 2, seq) |
	     sqlite3_bind_int64(st, 3, now_ms()) | bind_text(st, 4, a->name) |
	     bind_text(st, 5, a->status) | bind_text(st, 6, a->detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	return row_event(s, "run_step", &T_STEPS, a->run_id, seq, ctx, err, errlen);
}

int store_run_step(struct store *s, int64_t run_id, const char *name, const char *status,
		   const char *detail_json, char *err, size_t errlen)
{
	char ctx[128];
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " step %.60s", run_id, name ? name : "?");
	detail_json = nz(detail_json);
	if (check_json("step detail", detail_json, ctx, err, errlen))
		return -1;
	struct run_step_args a = { run_id, name, status, detail_json };
	json_t *op = json_pack("{s:s, s:I, s:s?, s:s?, s:s?}", "op", "run_step", "run_id",
			       (json_int_t)run_id, "name", name, "status", status, "detail",
			       detail_json);
	return audited_write(s, run_step_locked, &a, op, ctx, err, errlen);
}

/* Reads the run's timestamps object; *out is a new reference. */
static int read_timestamps(struct store *s, int64_t run_id, json_t **out, const char *ctx,
			   char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s, "SELECT timestamps FROM runs WHERE id = ?1", ctx, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	int rc = sqlite3_step(st);
	*out = NULL;
	if (rc == SQLITE_ROW) {
		*out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = json_object();
		}
		rc = *out ? 0 : -1;
		if (rc)
			seterr(err, errlen, "store: %s: out of memory", ctx);
	} else {
		seterr(err, errlen, "store: %s: %s", ctx,
		       rc == SQLITE_DONE ? "no such run" : sqlite3_errmsg(s->db));
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* timestamps = timestamps merged with the object add (keys of add win). */
static int merge_timestamps(struct store *s, int64_t run_id, json_t *add, const char *ctx,
			    char *err, size_t errlen)
{
	json_t *ts;
	if (read_timestamps(s, run_id, &ts, ctx, err, errlen))
		return -1;
	char *text = json_object_update(ts, add) == 0
			     ? json_dumps(ts, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(ts);
	if (!text) {
		seterr(err, errlen, "store: %s: out of memory", ctx);
		return -1;
	}
	int rc = -1;
	sqlite3_stmt *st = prep(s, "UPDATE runs SET timestamps = ?2 WHERE id = ?1", ctx, err,
				errlen);
	if (st) {
		int brc = sqlite3_bind_int64(st, 1, run_id) | bind_text(st, 2, text);
		if (brc) {
			sqlite3_finalize(st);
			rc = bind_fail(brc, ctx, err, errlen);
		} else {
			rc = step_done(s, st, ctx, err, errlen);
		}
	}
	free(text);
	return rc;
}

struct run_mark_args {
	int64_t run_id;
	json_t *add;
};

static int run_mark_locked(struct store *s, const void *args, const char *ctx, char *err,
			   size_t errlen)
{
	const struct run_mark_args *a = args;
	if (merge_timestamps(s, a->run_id, a->add, ctx, err, errlen))
		return -1;
	return row_event(s, "run_mark", &T_RUNS, a->run_id, 0, ctx, err, errlen);
}

int store_run_mark(struct store *s, int64_t run_id, const char *name, int64_t ts_ms,
		   char *err, size_t errlen)
{
	char ctx[128];
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " mark %.60s", run_id, name ? name : "?");
	json_t *add = name && *name ? json_pack("{s:I}", name, (json_int_t)ts_ms) : NULL;
	if (!add) {
		seterr(err, errlen, "store: %s: name missing or not UTF-8", ctx);
		return -1;
	}
	struct run_mark_args a = { run_id, add };
	json_t *op = json_pack("{s:s, s:I, s:s, s:I}", "op", "run_mark", "run_id",
			       (json_int_t)run_id, "name", name, "ts_ms", (json_int_t)ts_ms);
	int rc = audited_write(s, run_mark_locked, &a, op, ctx, err, errlen);
	json_decref(add);
	return rc;
}

struct run_detail_args {
	int64_t run_id;
	const char *detail_json;
};

static int run_detail_locked(struct store *s, const void *args, const char *ctx, char *err,
			     size_t errlen)
{
	const struct run_detail_args *a = args;
	sqlite3_stmt *st = prep(s, "UPDATE runs SET detail = ?2 WHERE id = ?1", ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, a->run_id) | bind_text(st, 2, a->detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	if (sqlite3_changes(s->db) == 0) {
		seterr(err, errlen, "store: %s: no such run", ctx);
		return -1;
	}
	return row_event(s, "run_detail", &T_RUNS, a->run_id, 0, ctx, err, errlen);
}

int store_run_update_detail(struct store *s, int64_t run_id, const char *detail_json,
			    char *err, size_t errlen)
{
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " detail", run_id);
	detail_json = nz(detail_json);
	if (check_json("run detail", detail_json, ctx, err, errlen))
		return -1;
	struct run_detail_args a = { run_id, detail_json };
	json_t *op = json_pack("{s:s, s:I, s:s?}", "op", "run_detail", "run_id",
			       (json_int_t)run_id, "detail", detail_json);
	return audited_write(s, run_detail_locked, &a, op, ctx, err, errlen);
}

struct run_rpo_args {
	int64_t run_id, rpo_records;
};

static int run_rpo_locked(struct store *s, const void *args, const char *ctx, char *err,
			  size_t errlen)
{
	const struct run_rpo_args *a = args;
	sqlite3_stmt *st = prep(s,
				"UPDATE runs SET rpo_records = ?2 WHERE id = ?1 AND"
				" (rpo_records IS NULL OR rpo_records < ?2)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, a->run_id) | sqlite3_bind_int64(st, 2, a->rpo_records);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return 0;  /* already at least that: nothing to record */
	/* A change of the run row like any other: a run_detail event. */
	return row_event(s, "run_detail", &T_RUNS, a->run_id, 0, ctx, err, errlen);
}

int store_run_raise_rpo(struct store *s, int64_t run_id, int64_t rpo_records, char *err,
			size_t errlen)
{
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " rpo", run_id);
	struct run_rpo_args a = { run_id, rpo_records };
	json_t *op = json_pack("{s:s, s:I, s:I}", "op", "run_raise_rpo", "run_id",
			       (json_int_t)run_id, "rpo_records", (json_int_t)rpo_records);
	return audited_write(s, run_rpo_locked, &a, op, ctx, err, errlen);
}

struct run_end_args {
	int64_t run_id;
	const char *outcome, *target, *detail_json;
	int64_t rpo_records, rpo_ms, rto_ms;
	json_t *timestamps; /* object to merge, or NULL */
};

static int run_end_update(struct store *s, const struct run_end_args *a, const char *ctx,
			  char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"UPDATE runs SET outcome = ?2, ended_ms = ?3,"
				" target = coalesce(?4, target),"
				" rpo_records = coalesce(?5, rpo_records),"
				" rpo_ms = coalesce(?6, rpo_ms), rto_ms = coalesce(?7, rto_ms),"
				" detail = coalesce(?8, detail) WHERE id = ?1",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, a->run_id) | bind_text(st, 2, a->outcome) |
		 sqlite3_bind_int64(st, 3, now_ms()) | bind_text(st, 4, nz(a->target)) |
		 bind_i64_min(st, 5, a->rpo_records, 0) | bind_i64_min(st, 6, a->rpo_ms, 0) |
		 bind_i64_min(st, 7, a->rto_ms, 0) | bind_text(st, 8, a->detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

static int run_end_locked(struct store *s, const void *args, const char *ctx, char *err,
			  size_t errlen)
{
	const struct run_end_args *a = args;
	char outcome[16];
	if (run_outcome(s, a->run_id, outcome, sizeof(outcome), ctx, err, errlen))
		return -1;
	if (strcmp(outcome, "running") != 0 && strcmp(outcome, "held") != 0) {
		seterr(err, errlen, "store: %s: the run already ended (%s)", ctx, outcome);
		return -1;
	}
	if ((a->timestamps && merge_timestamps(s, a->run_id, a->timestamps, ctx, err, errlen)) ||
	    run_end_update(s, a, ctx, err, errlen))
		return -1;
	return row_event(s, "run_end", &T_RUNS, a->run_id, 0, ctx, err, errlen);
}

/* Parses timestamps_json into a->timestamps (an object, or NULL). */
static int parse_timestamps(const char *text, struct run_end_args *a, const char *ctx,
			    char *err, size_t errlen)
{
	json_error_t jerr;
	a->timestamps = NULL;
	if (!text)
		return 0;
	a->timestamps = json_loads(text, 0, &jerr);
	if (json_is_object(a->timestamps))
		return 0;
	seterr(err, errlen, "store: %s: timestamps is not a JSON object%s%s", ctx,
	       a->timestamps ? "" : ": ", a->timestamps ? "" : jerr.text);
	json_decref(a->timestamps);
	a->timestamps = NULL;
	return -1;
}

static bool outcome_final(const char *outcome)
{
	return outcome && (strcmp(outcome, "succeeded") == 0 || strcmp(outcome, "failed") == 0 ||
			   strcmp(outcome, "held") == 0 || strcmp(outcome, "dry_run") == 0);
}

int store_run_end(struct store *s, int64_t run_id, const char *outcome, const char *target,
		  int64_t rpo_records, int64_t rpo_ms, int64_t rto_ms,
		  const char *timestamps_json, const char *detail_json, char *err, size_t errlen)
{
	char ctx[96];
	struct run_end_args a = { run_id, outcome, target, nz(detail_json), rpo_records, rpo_ms,
				  rto_ms, NULL };
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " end %.20s", run_id, outcome ? outcome : "?");
	if (!outcome_final(outcome)) {
		seterr(err, errlen, "store: %s: outcome must be succeeded, failed, held or dry_run", ctx);
		return -1;
	}
	if (check_json("run detail", a.detail_json, ctx, err, errlen) ||
	    parse_timestamps(nz(timestamps_json), &a, ctx, err, errlen))
		return -1;
	json_t *op = json_pack("{s:s, s:I, s:s, s:s?, s:I, s:I, s:I, s:s?, s:s?}", "op", "run_end",
			       "run_id", (json_int_t)run_id, "outcome", outcome, "target", target,
			       "rpo_records", (json_int_t)rpo_records, "rpo_ms", (json_int_t)rpo_ms,
			       "rto_ms", (json_int_t)rto_ms, "timestamps", nz(timestamps_json),
			       "detail", a.detail_json);
	int rc = audited_write(s, run_end_locked, &a, op, ctx, err, errlen);
	json_decref(a.timestamps);
	return rc;
}

struct run_rewind_args {
	int64_t run_id;                /* the failover run that lost the records; 0: its own */
	const char *site, *detail_json;
	int64_t epoch, records;
	int64_t *out_run;
};

/* store_run_rewind's writes, in its one transaction. */
static int run_rewind_locked(struct store *s, const void *args, const char *ctx, char *err,
			     size_t errlen)
{
	const struct run_rewind_args *a = args;
	int64_t run = a->run_id;
	struct run_begin_args begin = { "rewind", "auto", a->site, NULL, a->epoch, &run };
	if (!a->run_id && run_begin_locked(s, &begin, ctx, err, errlen))
		return -1;
	struct run_step_args step = { run, "rewind", "ok", a->detail_json };
	if (run_step_locked(s, &step, ctx, err, errlen))
		return -1;
	struct run_rpo_args rpo = { run, a->records };
	if (a->run_id && a->records > 0 && run_rpo_locked(s, &rpo, ctx, err, errlen))
		return -1;
	struct run_end_args end = { run, "succeeded", a->site, NULL, a->records, -1, -1, NULL };
	if (!a->run_id && run_end_locked(s, &end, ctx, err, errlen))
		return -1;
	*a->out_run = run;
	return 0;
}

int store_run_rewind(struct store *s, int64_t run_id, const char *site, int64_t epoch,
		     int64_t records, const char *detail_json, int64_t *out_run, char *err,
		     size_t errlen)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "rewind of %.40s into run %" PRId64, site ? site : "?", run_id);
	detail_json = nz(detail_json);
	if (check_json("step detail", detail_json, ctx, err, errlen))
		return -1;
	int64_t run = 0;
	struct run_rewind_args a = { run_id, site, detail_json, epoch, records, &run };
	json_t *op = json_pack("{s:s, s:I, s:s?, s:I, s:I, s:s?}", "op", "run_rewind", "run_id",
			       (json_int_t)run_id, "site", site, "epoch", (json_int_t)epoch,
			       "records", (json_int_t)records, "detail", detail_json);
	int rc = audited_write(s, run_rewind_locked, &a, op, ctx, err, errlen);
	if (out_run)
		*out_run = rc == 0 ? run : 0;  /* (a run begun then rolled back is none) */
	return rc;
}

/* ==== policies ============================================================= */

struct policy_args {
	const char *actor, *policy_json;
};

static int policy_add_locked(struct store *s, const void *args, const char *ctx, char *err,
			     size_t errlen)
{
	const struct policy_args *a = args;
	sqlite3_stmt *st = prep(s, "INSERT INTO policies (ts_ms, actor, policy) VALUES (?1, ?2, ?3)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, now_ms()) | bind_text(st, 2, a->actor) |
		 bind_text(st, 3, a->policy_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	return row_event(s, "policy", &T_POLICIES, sqlite3_last_insert_rowid(s->db), 0, ctx, err,
			 errlen);
}

int store_policy_add(struct store *s, const char *actor, const char *policy_json, char *err,
		     size_t errlen)
{
	const char *ctx = "policy add";
	if (check_json("policy", policy_json, ctx, err, errlen))
		return -1;
	struct policy_args a = { actor, policy_json };
	json_t *op = json_pack("{s:s, s:s?, s:s?}", "op", "policy_add", "actor", actor, "policy",
			       policy_json);
	return audited_write(s, policy_add_locked, &a, op, ctx, err, errlen);
}

/* ==== the head: status and accepting a loss ================================ */

const char *store_head_state_name(enum store_head_state state)
{
	static const char *const names[] = { "ok", "new", "missing", "behind", "forked",
					      "invalid" };
	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

int store_head_status(struct store *s, struct store_head_status *out, char *err,
		      size_t errlen)
{
	bool ahead;
	memset(out, 0, sizeof(*out));
	lock(s);
	int rc = 0;
	if (s->version < 3 || !s->have_key) {
		seterr(err, errlen, "store: %s: %s", s->path,
		       s->version < 3 ? "schema version 2 or older: no audit head"
				      : "no audit key: the head file cannot be checked");
		rc = -1;
	} else {
		rc = head_status_locked(s, out, &ahead, err, errlen);
	}
	unlock(s);
	return rc;
}

/* The history_accepted event's detail: what was lost, and the epoch floor. */
static char *accepted_detail(const char *actor, const struct store_head_status *st)
{
	json_t *file = st->file_transition_seq < 0
			       ? json_null()
			       : json_pack("{s:I, s:I, s:I}", "transitions",
					   (json_int_t)st->file_transition_seq, "audit_events",
					   (json_int_t)st->file_event_seq, "epoch",
					   (json_int_t)st->file_epoch);
	json_t *d = json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:o, s:I}", "actor", actor,
			      "state", store_head_state_name(st->state), "detail", st->detail,
			      "database", "transitions", (json_int_t)st->db_transition_seq,
			      "audit_events", (json_int_t)st->db_event_seq, "epoch",
			      (json_int_t)st->db_epoch, "head_file", file, "epoch_floor",
			      (json_int_t)st->epoch_floor);
	char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	return text;
}

static int accept_locked(struct store *s, const char *actor, const char *ctx, char *err,
			 size_t errlen)
{
	struct store_head_status st;
	bool ahead;
	if (head_status_locked(s, &st, &ahead, err, errlen))
		return -1;
	if (st.state == STORE_HEAD_OK || st.state == STORE_HEAD_NEW) {
		s->writable = true;
		return 0;
	}
	char *text = accepted_detail(actor, &st);
	if (!text) {
		seterr(err, errlen, "store: %s: out of memory, or actor is not UTF-8", ctx);
		return -1;
	}
	struct audit_event e = { .kind = "history_accepted", .detail = text };
	int rc = tx_begin(s, ctx, err, errlen);
	if (rc == 0)
		rc = tx_end(s, append_event(s, &e, ctx, err, errlen), ctx, err, errlen);
	free(text);
	if (rc)
		return -1;
	s->epoch_floor = max64(s->epoch_floor, st.epoch_floor);
	s->writable = true;
	log_event(LOG_WARN, "store.history_accepted", "{s:s, s:s, s:s, s:I, s:s}", "db", s->path,
		  "actor", actor, "state", store_head_state_name(st.state), "epoch_floor",
		  (json_int_t)s->epoch_floor, "detail", st.detail);
	return publish_head(s, true, err, errlen);
}

int store_head_accept(struct store *s, const char *actor, char *err, size_t errlen)
{
	char ctx[600];
	snprintf(ctx, sizeof(ctx), "%s: accept the head", s->path);
	if (!actor || !*actor) {
		seterr(err, errlen, "store: %s: who accepts it (actor) is required", ctx);
		return -1;
	}
	lock(s);
	int rc = -1;
	if (s->read_only)
		seterr(err, errlen, "store: %s: the store is open read-only", ctx);
	else if (s->repl)
		seterr(err, errlen, "store: %s: a replicated store is rebuilt from its log, not"
		       " accepted as it is", ctx);
	else
		rc = accept_locked(s, actor, ctx, err, errlen);
	unlock(s);
	return rc;
}

/* ==== replication ========================================================== */

void store_set_replicator(struct store *s, store_replicate_fn fn, void *ctx)
{
	lock(s);
	s->repl = fn;
	s->repl_ctx = ctx;
	unlock(s);
}

int64_t store_applied_index(struct store *s)
{
	lock(s);
	int64_t n = s->applied;
	unlock(s);
	return n;
}

/* A string member of an operation, NULL when absent or null. */
static const char *op_str(const json_t *op, const char *key)
{
	return json_string_value(json_object_get(op, key));
}

static int64_t op_int(const json_t *op, const char *key)
{
	return json_integer_value(json_object_get(op, key));
}

static int cluster_from_op(const json_t *j, struct store_cluster *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	const char *state = op_str(j, "state"), *primary = op_str(j, "primary"),
		   *action = op_str(j, "action"), *ctx = op_str(j, "ctx");
	if (!state || !primary || !action || !ctx ||
	    snprintf(c->state, sizeof(c->state), "%s", state) >= (int)sizeof(c->state) ||
	    snprintf(c->primary, sizeof(c->primary), "%s", primary) >= (int)sizeof(c->primary) ||
	    snprintf(c->action, sizeof(c->action), "%s", action) >= (int)sizeof(c->action)) {
		seterr(err, errlen, "store: apply: a cluster row that is not one");
		return -1;
	}
	c->epoch = op_int(j, "epoch");
	c->run_id = op_int(j, "run_id");
	char perr[200];
	if (runctx_parse(&c->ctx, ctx, perr, sizeof(perr)) != 0) {
		seterr(err, errlen, "store: apply: cluster ctx: %s", perr);
		return -1;
	}
	return 0;
}

static int apply_transition(struct store *s, const json_t *op, char *err, size_t errlen)
{
	struct store_cluster next;
	const json_t *t = json_object_get(op, "t");
	if (cluster_from_op(json_object_get(op, "next"), &next, err, errlen))
		return -1;
	struct store_transition tr = {
		.from = op_str(t, "from"), .event = op_str(t, "event"), .to = op_str(t, "to"),
		.row_id = op_str(t, "row_id"), .actor = op_str(t, "actor"),
		.reason = op_str(t, "reason"), .detail_json = op_str(t, "detail"),
		.epoch = op_int(t, "epoch"), .run_id = op_int(t, "run_id"),
	};
	return store_transition(s, op_int(op, "expected"), &next, &tr, NULL, err, errlen);
}

/* The write an operation stands for, through the public function. */
static int apply_op(struct store *s, const json_t *op, char *err, size_t errlen)
{
	const char *name = op_str(op, "op") ?: "";
	int64_t run = op_int(op, "run_id"), id;
	struct store_cluster next;
	if (!strcmp(name, "cluster_init"))
		return store_cluster_init(s, op_str(op, "state"), op_int(op, "epoch"),
					  op_str(op, "primary"), err, errlen);
	if (!strcmp(name, "cluster_update"))
		return cluster_from_op(json_object_get(op, "next"), &next, err, errlen) ? -1 :
		       store_cluster_update(s, op_int(op, "expected"), &next, err, errlen);
	if (!strcmp(name, "transition"))
		return apply_transition(s, op, err, errlen);
	if (!strcmp(name, "run_begin"))
		return store_run_begin(s, op_str(op, "kind"), op_str(op, "actor"),
				       op_str(op, "from_site"), op_int(op, "epoch"),
				       op_str(op, "detail"), &id, err, errlen);
	if (!strcmp(name, "run_step"))
		return store_run_step(s, run, op_str(op, "name"), op_str(op, "status"),
				      op_str(op, "detail"), err, errlen);
	if (!strcmp(name, "run_mark"))
		return store_run_mark(s, run, op_str(op, "name"), op_int(op, "ts_ms"), err, errlen);
	if (!strcmp(name, "run_detail"))
		return store_run_update_detail(s, run, op_str(op, "detail"), err, errlen);
	if (!strcmp(name, "run_raise_rpo"))
		return store_run_raise_rpo(s, run, op_int(op, "rpo_records"), err, errlen);
	if (!strcmp(name, "run_rewind"))
		return store_run_rewind(s, run, op_str(op, "site"), op_int(op, "epoch"),
					op_int(op, "records"), op_str(op, "detail"), NULL, err, errlen);
	if (!strcmp(name, "run_end"))
		return store_run_end(s, run, op_str(op, "outcome"), op_str(op, "target"),
				     op_int(op, "rpo_records"), op_int(op, "rpo_ms"),
				     op_int(op, "rto_ms"), op_str(op, "timestamps"),
				     op_str(op, "detail"), err, errlen);
	if (!strcmp(name, "policy_add"))
		return store_policy_add(s, op_str(op, "actor"), op_str(op, "policy"), err, errlen);
	seterr(err, errlen, "store: apply: unknown operation '%s'", name);
	return -1;
}

int store_apply(struct store *s, const json_t *op, int64_t index, char *err, size_t errlen)
{
	if (index <= 0 || !json_is_integer(json_object_get(op, "ts"))) {
		seterr(err, errlen, "store: apply: operation %" PRId64 " has no index or no ts",
		       index);
		return -1;
	}
	tl_apply_index = index;
	tl_apply_ts = op_int(op, "ts");
	tl_apply_skipped = false;
	int rc = apply_op(s, op, err, errlen);
	bool skipped = tl_apply_skipped;
	tl_apply_index = 0;
	if (rc == STORE_CONFLICT)
		rc = -1;  /* the leader's write succeeded on the same state: this copy differs */
	return rc == 0 && skipped ? 1 : rc;
}

/* ==== verification ========================================================= */

int store_verify_chain(struct store *s, int64_t *rows_checked, int64_t *first_bad_seq,
		       char *err, size_t errlen)
{
	const char *ctx = "verify chain";
	struct chain_walk w;
	lock(s);
	walk_init(&w, CHAIN_TRANSITIONS, s->version >= 3);
	int rc = -1;
	if (w.macs && !s->have_key) {
		seterr(err, errlen, "store: %s: no audit key file (%s): cannot check MACs", ctx,
		       s->key_path);
	} else if (exec(s, "BEGIN", ctx, err, errlen) == 0) {
		/* One read transaction: the rows and the head from the same snapshot. */
		rc = walk_chain(s, &w, ctx, err, errlen);
		if (rc == 0)
			rc = check_cluster_head(s, &w, ctx, err, errlen);
		tx_rollback(s);
	}
	unlock(s);
	if (rows_checked)
		*rows_checked = w.rows;
	if (first_bad_seq)
		*first_bad_seq = w.bad_seq;
	if (rc == 0 && w.broken) {
		seterr(err, errlen, "store: verify chain: broken at seq %" PRId64 ": %s", w.bad_seq,
		       w.why);
		return 1;
	}
	return rc;
}

static void report_bad(struct store_audit_report *r, const char *table, int64_t seq,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records the first bad thing found (later ones are not looked for). */
static void report_bad(struct store_audit_report *r, const char *table, int64_t seq,
		       const char *fmt, ...)
{
	va_list ap;
	snprintf(r->bad_table, sizeof(r->bad_table), "%s", table);
	r->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(r->first_bad, sizeof(r->first_bad), fmt, ap);
	va_end(ap);
}

/* The key file must be the one audit_start names. */
static int verify_key(struct store *s, struct store_audit_report *r, char *err, size_t errlen)
{
	if (!s->have_key) {
		seterr(err, errlen,
		       "store: %s: the audit key file %s is missing: cannot check the MACs (this"
		       " store's audit is MAC'd with key id %s)",
		       s->path, s->key_path, s->audit_key_id[0] ? s->audit_key_id : "(unreadable)");
		return -1;
	}
	if (!s->audit_key_id[0])
		report_bad(r, "audit_events", 1,
			   "audit_events seq 1: not an audit_start naming the audit key (edited or"
			   " removed)");
	else if (strcmp(s->audit_key_id, s->key_id) != 0)
		report_bad(r, "key", 0,
			   "the audit key file %s (key id %s) is not this store's key (key id %s): a"
			   " wrong key file, or an audit rewritten with another key",
			   s->key_path, s->key_id, s->audit_key_id);
	return 0;
}

static int verify_chains(struct store *s, struct store_audit_report *r, const char *ctx,
			 char *err, size_t errlen)
{
	int64_t *rows[NCHAINS] = { &r->transitions, &r->audit_events };
	for (int c = 0; c < NCHAINS; c++) {
		struct chain_walk w;
		walk_init(&w, (enum chain)c, true);
		if (walk_chain(s, &w, ctx, err, errlen) ||
		    (c == CHAIN_TRANSITIONS && check_cluster_head(s, &w, ctx, err, errlen)))
			return -1;
		*rows[c] = w.rows;
		if (w.broken) {
			report_bad(r, CHAINS[c].table, w.bad_seq, "%s seq %" PRId64 ": %s",
				   CHAINS[c].table, w.bad_seq, w.why);
			return 0;
		}
	}
	return 0;
}

static void row_name(const struct audited_table *t, int64_t ref_id, int64_t ref_seq,
		     char *buf, size_t cap)
{
	if (t == &T_STEPS)
		snprintf(buf, cap, "run_steps: run %" PRId64 " step %" PRId64, ref_id, ref_seq);
	else
		snprintf(buf, cap, "%s: %s %" PRId64, t->name, t == &T_RUNS ? "run" : "policy",
			 ref_id);
}

/* The newest event naming the row: *seq (0: none) and its digest. */
static int newest_event(struct store *s, sqlite3_stmt *ev, const struct audited_table *t,
			int64_t ref_id, int64_t ref_seq, int64_t *seq,
			char digest[SHA256_HEX_SIZE], const char *ctx, char *err, size_t errlen)
{
	sqlite3_reset(ev);
	sqlite3_bind_text(ev, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ev, 2, ref_id);
	sqlite3_bind_int64(ev, 3, ref_seq);
	int rc = sqlite3_step(ev);
	*seq = 0;
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(ev, 0);
		copy_hex(digest, ev, 1);
	}
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(s, ctx, err, errlen);
}

/* Every row of t matches the newest event naming it. */
static int verify_rows(struct store *s, const struct audited_table *t, int64_t *rows,
		       struct store_audit_report *r, const char *ctx, char *err, size_t errlen)
{
	char sql[256], digest[SHA256_HEX_SIZE], recorded[SHA256_HEX_SIZE], name[96];
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->columns, t->name,
		 t->key_order);
	sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
	sqlite3_stmt *ev = st ? prep(s,
				     "SELECT seq, digest FROM audit_events WHERE tbl = ?1 AND"
				     " ref_id = ?2 AND ref_seq = ?3 ORDER BY seq DESC LIMIT 1",
				     ctx, err, errlen)
			      : NULL;
	int rc = ev ? SQLITE_DONE : -1;
	*rows = 0;
	while (ev && !r->bad_table[0] && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t ref_id = sqlite3_column_int64(st, 0), seq;
		int64_t ref_seq = t->two_keys ? sqlite3_column_int64(st, 1) : 0;
		(*rows)++;
		row_digest(t, st, digest);
		if (newest_event(s, ev, t, ref_id, ref_seq, &seq, recorded, ctx, err, errlen)) {
			rc = -1;
			break;
		}
		row_name(t, ref_id, ref_seq, name, sizeof(name));
		if (seq == 0)
			report_bad(r, t->name, ref_id,
				   "%s: not in the audit (added behind the store's back)", name);
		else if (strcmp(digest, recorded) != 0)
			report_bad(r, t->name, ref_id,
				   "%s: not what audit event seq %" PRId64 " recorded (edited)", name,
				   seq);
	}
	if (rc != -1 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	sqlite3_finalize(ev);
	return rc == -1 ? -1 : 0;
}

/* Every row an event names still exists. */
static int verify_none_removed(struct store *s, const struct audited_table *t,
			       struct store_audit_report *r, const char *ctx, char *err,
			       size_t errlen)
{
	char sql[400], name[96];
	snprintf(sql, sizeof(sql),
		 "SELECT e.ref_id, e.ref_seq, max(e.seq) FROM audit_events e WHERE e.tbl = ?1"
		 " AND NOT EXISTS (SELECT 1 FROM %s r WHERE %s)"
		 " GROUP BY e.ref_id, e.ref_seq ORDER BY 3 LIMIT 1",
		 t->name, t->event_match);
	sqlite3_stmt *st = prep(s, sql, ctx, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t ref_id = sqlite3_column_int64(st, 0);
		row_name(t, ref_id, sqlite3_column_int64(st, 1), name, sizeof(name));
		report_bad(r, t->name, ref_id,
			   "%s: removed (audit event seq %" PRId64 " vouches for it)", name,
			   (int64_t)sqlite3_column_int64(st, 2));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(s, ctx, err, errlen);
}

/* Schema 1 or 2: the transition chain is all there is to check, and there
 * must be no head file (one would mean a downgraded or replaced store). */
static int verify_old(struct store *s, struct store_audit_report *r, enum head_file hf,
		      const char *ctx, char *err, size_t errlen)
{
	struct chain_walk w;
	walk_init(&w, CHAIN_TRANSITIONS, false);
	if (walk_chain(s, &w, ctx, err, errlen) || check_cluster_head(s, &w, ctx, err, errlen))
		return -1;
	r->transitions = w.rows;
	if (w.broken)
		report_bad(r, "transitions", w.bad_seq, "transitions seq %" PRId64 ": %s",
			   w.bad_seq, w.why);
	else if (hf != HEAD_ABSENT)
		report_bad(r, "head file", 0,
			   "a head file %s exists, but %s is of schema version %d, which has none:"
			   " downgraded or replaced?",
			   s->head_path, s->path, s->version);
	return 0;
}

static int verify_locked(struct store *s, struct store_audit_report *r, enum head_file hf,
			 const struct audit_pos *file, const char *why, const char *ctx,
			 char *err, size_t errlen)
{
	int64_t *rows[NAUDITED] = { &r->runs, &r->run_steps, &r->policies };
	bool ahead;
	if (s->version < 3)
		return verify_old(s, r, hf, ctx, err, errlen);
	if (verify_key(s, r, err, errlen))
		return -1;
	r->macs = true;
	if (r->bad_table[0])
		return 0;
	if (verify_chains(s, r, ctx, err, errlen))
		return -1;
	if (r->bad_table[0])
		return 0;
	if (head_classify(s, hf, file, why, &r->head, &ahead, ctx, err, errlen))
		return -1;
	if (r->head.state != STORE_HEAD_OK && r->head.state != STORE_HEAD_NEW) {
		report_bad(r, "head file", 0, "%s", r->head.detail);
		return 0;
	}
	for (int i = 0; i < NAUDITED && !r->bad_table[0]; i++)
		if (verify_rows(s, AUDITED[i], rows[i], r, ctx, err, errlen) ||
		    (!r->bad_table[0] && verify_none_removed(s, AUDITED[i], r, ctx, err, errlen)))
			return -1;
	return 0;
}

int store_verify_path(const char *path, const char *key_file, struct store_audit_report *r,
		      char *err, size_t errlen)
{
	struct store *ro = NULL;
	struct store_options opt = { .key_file = key_file, .read_only = true };
	int rc = store_open_ex(&ro, path, &opt, err, errlen) == 0 ?
		 store_verify(ro, r, err, errlen) : -1;
	store_close(ro);
	return rc;
}

int store_verify(struct store *s, struct store_audit_report *r, char *err, size_t errlen)
{
	char ctx[600], why[200] = "";
	struct audit_pos file;
	snprintf(ctx, sizeof(ctx), "%s: verify", s->path);
	memset(r, 0, sizeof(*r));
	r->transitions = r->audit_events = r->runs = r->run_steps = r->policies = -1;
	lock(s);
	r->schema_version = s->version;
	snprintf(r->key_id, sizeof(r->key_id), "%s", s->key_id);
	/* The head file first: it is never newer than a snapshot taken after. */
	enum head_file hf = head_read(s, &file, why, sizeof(why));
	int rc = exec(s, "BEGIN", ctx, err, errlen);
	if (rc == 0)
		rc = verify_locked(s, r, hf, &file, why, ctx, err, errlen);
	tx_rollback(s);
	unlock(s);
	if (rc)
		return -1;
	return r->bad_table[0] ? 1 : 0;
}

/* ==== sites cache ========================================================== */

static int site_upsert_locked(struct store *s, const struct store_site *site, const char *ctx,
			      char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"INSERT INTO sites (name, url, region, role, healthy, lsn,"
				" flushed_lsn, epoch, last_seen_ms, detail, updated_ms)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
				" ON CONFLICT (name) DO UPDATE SET"
				" url = coalesce(excluded.url, url),"
				" region = coalesce(excluded.region, region),"
				" role = coalesce(excluded.role, role),"
				" healthy = excluded.healthy,"
				" lsn = coalesce(excluded.lsn, lsn),"
				" flushed_lsn = coalesce(excluded.flushed_lsn, flushed_lsn),"
				" epoch = coalesce(excluded.epoch, epoch),"
				" last_seen_ms = coalesce(excluded.last_seen_ms, last_seen_ms),"
				" detail = coalesce(excluded.detail, detail),"
				" updated_ms = excluded.updated_ms",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = bind_text(st, 1, site->name) | bind_text(st, 2, site->url) |
		 bind_text(st, 3, site->region) | bind_text(st, 4, site->role) |
		 sqlite3_bind_int(st, 5, site->healthy ? 1 : 0) |
		 bind_i64_min(st, 6, site->lsn, 0) | bind_i64_min(st, 7, site->flushed_lsn, 0) |
		 bind_i64_min(st, 8, site->epoch, 0) | bind_i64_min(st, 9, site->last_seen_ms, 1) |
		 bind_text(st, 10, nz(site->detail_json)) | sqlite3_bind_int64(st, 11, now_ms());
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

int store_site_upsert(struct store *s, const struct store_site *site, char *err, size_t errlen)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "site %.64s", site->name ? site->name : "?");
	if (!site->name || !*site->name) {
		seterr(err, errlen, "store: %s: name is required", ctx);
		return -1;
	}
	if (check_json("site detail", nz(site->detail_json), ctx, err, errlen))
		return -1;
	lock(s);
	int rc = site_upsert_locked(s, site, ctx, err, errlen);
	unlock(s);
	return rc;
}

/* ==== readers ============================================================== */

/* Columns holding JSON text, returned parsed; "healthy" is a boolean. */
static bool json_column(const char *name)
{
	return strcmp(name, "detail") == 0 || strcmp(name, "timestamps") == 0 ||
	       strcmp(name, "policy") == 0;
}

static json_t *column_json(sqlite3_stmt *st, int col)
{
	const char *name = sqlite3_column_name(st, col);
	if (sqlite3_column_type(st, col) == SQLITE_INTEGER) {
		int64_t v = sqlite3_column_int64(st, col);
		return strcmp(name, "healthy") == 0 ? json_boolean(v) : json_integer(v);
	}
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return json_null(); /* NULL; STRICT tables hold no REAL or BLOB */
	const char *text = (const char *)sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);
	if (!text)
		return NULL;
	json_t *parsed = json_column(name) ? json_loadb(text, len, JSON_DECODE_ANY, NULL) : NULL;
	return parsed ? parsed : json_stringn(text, len);
}

/* The current row as an object named by the columns; NULL on out of memory. */
static json_t *row_json(sqlite3_stmt *st)
{
	json_t *obj = json_object();
	for (int col = 0; obj && col < sqlite3_column_count(st); col++) {
		json_t *v = column_json(st, col);
		if (!v || json_object_set_new(obj, sqlite3_column_name(st, col), v) != 0) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

/* Every row of st as an array; finalizes st.  NULL on error. */
static json_t *rows_json(struct store *s, sqlite3_stmt *st, const char *ctx, char *err,
			 size_t errlen)
{
	json_t *arr = json_array();
	int rc = SQLITE_DONE;
	while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(arr, row_json(st)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr) {
		seterr(err, errlen, "store: %s: out of memory", ctx);
	} else if (rc != SQLITE_DONE) {
		db_fail(s, ctx, err, errlen);
		json_decref(arr);
		arr = NULL;
	}
	sqlite3_finalize(st);
	return arr;
}

static void log_read_error(const char *msg)
{
	log_event(LOG_ERROR, "store.error", "{s:s}", "error", msg);
}

/* Every column of transitions as store_transitions_json gives them. */
#define TRANSITIONS_SELECT                                                        \
	"SELECT seq, ts_ms, from_state, event, to_state, row_id, epoch,"           \
	" actor, run_id, reason, detail, prev_hash, hash FROM transitions"

static json_t *transitions_locked(struct store *s, int64_t since_seq, int64_t run_id,
				  int limit, char *err, size_t errlen)
{
	const char *ctx = "read transitions";
	sqlite3_stmt *st = prep(s,
				TRANSITIONS_SELECT
				" WHERE seq > ?1 AND (?2 = 0 OR run_id = ?2 OR actor = 'playbook:' || ?2"
				" OR run_id IN (SELECT id FROM runs WHERE actor = 'playbook:' || ?2))"
				" ORDER BY seq LIMIT ?3",
				ctx, err, errlen);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, since_seq);
	sqlite3_bind_int64(st, 2, run_id);
	sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
	return rows_json(s, st, ctx, err, errlen);
}

json_t *store_last_transition_json(struct store *s)
{
	char err[256];
	const char *ctx = "read the last transition";
	lock(s);
	sqlite3_stmt *st = prep(s,
				TRANSITIONS_SELECT
				" ORDER BY seq DESC LIMIT 1",
				ctx, err, sizeof(err));
	json_t *rows = st ? rows_json(s, st, ctx, err, sizeof(err)) : NULL;
	unlock(s);
	if (!rows)
		log_read_error(err);
	json_t *last = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return last;
}

json_t *store_transitions_json(struct store *s, int64_t since_seq, int64_t run_id, int limit)
{
	char err[256];
	lock(s);
	json_t *out = transitions_locked(s, since_seq, run_id, limit, err, sizeof(err));
	unlock(s);
	if (!out)
		log_read_error(err);
	return out;
}


json_t *store_runs_json(struct store *s, int limit)
{
	char err[256];
	const char *ctx = "read runs";
	json_t *out = NULL;
	lock(s);
	sqlite3_stmt *st = prep(s, RUN_SELECT " ORDER BY id DESC LIMIT ?1",
				ctx, err, sizeof(err));
	if (st) {
		sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
		out = rows_json(s, st, ctx, err, sizeof(err));
	}
	unlock(s);
	if (!out)
		log_read_error(err);
	return out;
}

/* The run row as an object; *out stays NULL when there is no such run. */
static int run_row(struct store *s, int64_t id, json_t **out, const char *ctx, char *err,
		   size_t errlen)
{
	sqlite3_stmt *st = prep(s, RUN_SELECT " WHERE id = ?1", ctx, err,
				errlen);
	*out = NULL;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && !(*out = row_json(st)))
		seterr(err, errlen, "store: %s: out of memory", ctx);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	return (rc == SQLITE_ROW && *out) || rc == SQLITE_DONE ? 0 : -1;
}

static json_t *steps_locked(struct store *s, int64_t id, const char *ctx, char *err,
			    size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"SELECT seq, ts_ms, name, status, detail FROM run_steps"
				" WHERE run_id = ?1 ORDER BY seq",
				ctx, err, errlen);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	return rows_json(s, st, ctx, err, errlen);
}

static json_t *run_locked(struct store *s, int64_t id, char *err, size_t errlen)
{
	char ctx[64];
	json_t *run, *list;
	snprintf(ctx, sizeof(ctx), "read run %" PRId64, id);
	if (run_row(s, id, &run, ctx, err, errlen) || !run)
		return NULL;
	if (!(list = steps_locked(s, id, ctx, err, errlen)))
		goto fail;
	if (json_object_set_new(run, "steps", list) != 0)
		goto oom;
	if (!(list = transitions_locked(s, 0, id, 0, err, errlen)))
		goto fail;
	if (json_object_set_new(run, "transitions", list) != 0)
		goto oom;
	return run;
oom:
	seterr(err, errlen, "store: %s: out of memory", ctx);
fail:
	json_decref(run);
	return NULL;
}

/* NULL with err[0] == '\0' means "no such run". */
json_t *store_run_json(struct store *s, int64_t id)
{
	char err[256] = "";
	json_t *out = NULL;
	lock(s);
	/* One read transaction: the run, its steps and transitions agree. */
	if (exec(s, "BEGIN", "read run", err, sizeof(err)) == 0) {
		out = run_locked(s, id, err, sizeof(err));
		tx_rollback(s);
	}
	unlock(s);
	if (!out && err[0])
		log_read_error(err);
	return out;
}

json_t *store_sites_json(struct store *s)
{
	char err[256];
	const char *ctx = "read sites";
	json_t *out = NULL;
	lock(s);
	sqlite3_stmt *st = prep(s,
				"SELECT name, url, region, role, healthy, lsn, flushed_lsn, epoch,"
				" last_seen_ms, updated_ms, detail FROM sites ORDER BY name",
				ctx, err, sizeof(err));
	if (st)
		out = rows_json(s, st, ctx, err, sizeof(err));
	unlock(s);
	if (!out)
		log_read_error(err);
	return out;
}


json_t *store_policy_latest(struct store *s)
{
	char err[256];
	const char *ctx = "read policy";
	json_t *rows = NULL;
	lock(s);
	sqlite3_stmt *st = prep(s, "SELECT seq, ts_ms, actor, policy FROM policies"
				" ORDER BY seq DESC LIMIT 1", ctx, err, sizeof(err));
	if (st)
		rows = rows_json(s, st, ctx, err, sizeof(err));
	unlock(s);
	if (!rows)
		log_read_error(err);
	json_t *row = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return row;
}

