/*
 * store.c — drorchd's durable state in one SQLite file.
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
 * IDENTITY
 *
 * PRAGMA application_id = STORE_APPLICATION_ID (0x64526f52, "dRoR") and
 * PRAGMA user_version = STORE_SCHEMA_VERSION mark a drorch store.  At open:
 * a file SQLite cannot read is refused ("not a SQLite database"); a SQLite
 * database with another application_id, or with objects but no
 * application_id, is refused ("not a drorch store") and left untouched; an
 * empty database gets the schema; a newer schema version is refused.
 *
 * SCHEMA (version 2; every table STRICT, so a column holds only its type)
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
 *   transition; they anchor the chain's tail, so removing the last rows is
 *   detected too.
 *
 * transitions — the audit log: append-only, hash-chained.
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
 *   hash          TEXT     see HASH CHAIN
 *   Triggers transitions_no_update / transitions_no_delete RAISE(ABORT) on
 *   UPDATE and DELETE; store_open re-creates them if they were dropped (and
 *   logs store.triggers_restored).  Index transitions_run (run_id, seq).
 *
 * runs — one failover, switchover, failback, upgrade, playbook run or drill.
 *   id            INTEGER PRIMARY KEY
 *   kind          TEXT     failover|switchover|failback|upgrade|playbook|drill
 *   started_ms    INTEGER
 *   ended_ms      INTEGER  NULL while running
 *   outcome       TEXT     running|succeeded|failed|held
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
 * run_steps — what a run did, in order.  PRIMARY KEY (run_id, seq).
 *   run_id        INTEGER  -> runs.id
 *   seq           INTEGER  1, 2, 3... within the run
 *   ts_ms         INTEGER
 *   name          TEXT
 *   status        TEXT     ok|failed|skipped
 *   detail        TEXT     JSON, NULL if none
 *
 * sites — a cache of what the monitor last saw; not authoritative.
 *   name          TEXT PRIMARY KEY
 *   url, region, role  TEXT
 *   healthy       INTEGER  0 or 1
 *   lsn, flushed_lsn, epoch, last_seen_ms, updated_ms  INTEGER
 *   detail        TEXT     JSON, NULL if none
 *
 * policies (schema version 2; a version-1 store gains it at open) — every
 * policy put in force over REST, newest last; drorchd enforces the newest.
 *   seq           INTEGER PRIMARY KEY
 *   ts_ms         INTEGER
 *   actor         TEXT     as transitions.actor
 *   policy        TEXT     JSON, as GET /v1/policy prints it
 *
 * HASH CHAIN
 *
 * hash = lowercase hex of SHA-256 over
 *   prev_hash as its 64 ASCII hex digits, then the eleven other columns in
 *   this order: seq, ts_ms, from_state, event, to_state, row_id, epoch,
 *   actor, run_id, reason, detail; each column as
 *     NULL     1 byte 0x00
 *     INTEGER  1 byte 0x01, then 8 bytes: the value, two's complement,
 *              big-endian
 *     TEXT     1 byte 0x02, then 4 bytes: the length in bytes, big-endian,
 *              then the bytes exactly as stored (UTF-8, no terminator)
 * The tags and lengths make the encoding unambiguous (NULL is not '' and not
 * 0; "ab","c" is not "a","bc").  Verification walks seq 1, 2, ... and
 * reports the first seq that is missing, whose prev_hash is not the previous
 * row's hash, or whose hash does not match its content; then checks that the
 * last row is the head recorded in the cluster row.  The chain proves
 * nothing against someone who rewrites every row and the head: export the
 * head hash elsewhere (webhooks carry it) to anchor it.
 *
 * THREADS
 *
 * The connection is opened SQLITE_OPEN_NOMUTEX and guarded by s->mu, held
 * for the whole of each public function, so the statements of one
 * transaction are never interleaved with another thread's.  Public functions
 * are thin wrappers that lock and call a *_locked function.
 */
#include "store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "sha256.h"
#include "timeutil.h"

struct store {
	sqlite3 *db;
	pthread_mutex_t mu;
	char *path;
};

static const char SCHEMA_SQL[] =
	"CREATE TABLE runs ("
	" id INTEGER PRIMARY KEY,"
	" kind TEXT NOT NULL CHECK (kind IN"
	"  ('failover','switchover','failback','upgrade','playbook','drill')),"
	" started_ms INTEGER NOT NULL,"
	" ended_ms INTEGER,"
	" outcome TEXT NOT NULL CHECK (outcome IN ('running','succeeded','failed','held')),"
	" actor TEXT NOT NULL CHECK (actor = 'auto' OR actor GLOB 'operator:?*'"
	"  OR actor GLOB 'playbook:?*'),"
	" target TEXT, from_site TEXT, epoch INTEGER,"
	" rpo_records INTEGER, rpo_ms INTEGER, rto_ms INTEGER,"
	" timestamps TEXT NOT NULL DEFAULT '{}',"
	" detail TEXT) STRICT;"
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

/* Run at every open: a dropped trigger comes back. */
static const char TRIGGERS_SQL[] =
	"CREATE TRIGGER IF NOT EXISTS transitions_no_update BEFORE UPDATE ON transitions"
	" BEGIN SELECT RAISE(ABORT, 'transitions is append-only: UPDATE refused'); END;"
	"CREATE TRIGGER IF NOT EXISTS transitions_no_delete BEFORE DELETE ON transitions"
	" BEGIN SELECT RAISE(ABORT, 'transitions is append-only: DELETE refused'); END;";

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

static int64_t now_ms(void)
{
	return (int64_t)time_wall_ms();
}

/* ==== open: identity, pragmas, schema ==================================== */

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

enum store_identity { STORE_EMPTY, STORE_OURS };

/* Decides whether the file is empty, ours, or to be refused (-1). */
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

static int create_schema(struct store *s, const char *ctx, char *err, size_t errlen)
{
	char sql[128];
	if (exec(s, SCHEMA_SQL, ctx, err, errlen) || exec(s, POLICIES_SQL, ctx, err, errlen))
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d",
		 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
	return exec(s, sql, ctx, err, errlen);
}

/* Creates the append-only triggers if absent; logs when a store that had
 * them (existed) lost them. */
static int ensure_triggers(struct store *s, bool existed, const char *ctx, char *err,
			   size_t errlen)
{
	int64_t present;
	if (pragma_int(s,
		       "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name IN"
		       " ('transitions_no_update', 'transitions_no_delete')",
		       &present, ctx, err, errlen))
		return -1;
	if (present == 2)
		return 0;
	if (exec(s, TRIGGERS_SQL, ctx, err, errlen))
		return -1;
	if (existed)
		log_event(LOG_WARN, "store.triggers_restored", "{s:s, s:I}", "db", s->path,
			  "missing", (json_int_t)(2 - present));
	return 0;
}

/* A store of schema version 1 gains the policies table. */
static int migrate(struct store *s, const char *ctx, char *err, size_t errlen)
{
	int64_t version;
	char sql[64];
	if (pragma_int(s, "PRAGMA user_version", &version, ctx, err, errlen))
		return -1;
	if (version >= STORE_SCHEMA_VERSION)
		return 0;
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	if (exec(s, POLICIES_SQL, ctx, err, errlen) || exec(s, sql, ctx, err, errlen))
		return -1;
	log_event(LOG_INFO, "store.migrated", "{s:s, s:I, s:i}", "db", s->path, "from",
		  (json_int_t)version, "to", STORE_SCHEMA_VERSION);
	return 0;
}

/* In one write transaction: identify again (another process may have just
 * created the schema), create it if the file is empty, restore triggers. */
static int ensure_schema(struct store *s, char *err, size_t errlen)
{
	char ctx[600];
	enum store_identity id;
	snprintf(ctx, sizeof(ctx), "%s: schema", s->path);
	if (tx_begin(s, ctx, err, errlen))
		return -1;
	int rc = identify(s, &id, err, errlen);
	if (rc == 0 && id == STORE_EMPTY)
		rc = create_schema(s, ctx, err, errlen);
	if (rc == 0 && id == STORE_OURS)
		rc = migrate(s, ctx, err, errlen);
	if (rc == 0)
		rc = ensure_triggers(s, id == STORE_OURS, ctx, err, errlen);
	return tx_end(s, rc, ctx, err, errlen);
}

int store_open(struct store **out, const char *path, char *err, size_t errlen)
{
	enum store_identity id;
	*out = NULL;
	if (!path || !*path) {
		seterr(err, errlen, "store: open: no database path");
		return -1;
	}
	struct store *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		seterr(err, errlen, "store: %s: out of memory", path);
		return -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "store: %s: open: %s", path,
		       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* Identify before any pragma writes: a foreign file stays untouched. */
	if (identify(s, &id, err, errlen) || set_pragmas(s, err, errlen) ||
	    ensure_schema(s, err, errlen))
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	/* Every statement is finalized where it is prepared, so this succeeds. */
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s->path);
	free(s);
}

/* ==== the cluster row ===================================================== */

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
		     copy_col(out->action, sizeof(out->action), st, 4, ctx, err, errlen) ||
		     copy_col(out->detail, sizeof(out->detail), st, 7, ctx, err, errlen) ? -1 : 0;
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
	    strnlen(c->action, sizeof(c->action)) == sizeof(c->action) ||
	    strnlen(c->detail, sizeof(c->detail)) == sizeof(c->detail)) {
		seterr(err, errlen, "store: %s: a cluster field is not NUL-terminated", ctx);
		return -1;
	}
	if (!c->state[0]) {
		seterr(err, errlen, "store: %s: cluster state is empty", ctx);
		return -1;
	}
	return check_json("cluster detail", nz(c->detail), ctx, err, errlen);
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

int store_cluster_init(struct store *s, const char *state, int64_t epoch, const char *primary,
		       char *err, size_t errlen)
{
	lock(s);
	int rc = cluster_init_locked(s, state, epoch, primary, err, errlen);
	unlock(s);
	return rc;
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
	if (!st)
		return -1;
	int rc = bind_text(st, 1, next->state) | sqlite3_bind_int64(st, 2, next->epoch) |
		 bind_text(st, 3, nz(next->primary)) | bind_text(st, 4, nz(next->action)) |
		 bind_i64_min(st, 5, next->run_id, 1) | bind_text(st, 6, nz(next->detail)) |
		 sqlite3_bind_int64(st, 7, now_ms()) | sqlite3_bind_int64(st, 8, expected) |
		 (head_hash ? sqlite3_bind_int64(st, 9, head_seq) : SQLITE_OK) |
		 bind_text(st, 10, head_hash);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	return sqlite3_changes(s->db) == 1 ? 0 : cas_lost(s, expected, ctx, err, errlen);
}

int store_cluster_update(struct store *s, int64_t expected_version,
			 const struct store_cluster *next, char *err, size_t errlen)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "cluster update to %.32s", next->state);
	if (check_cluster(next, ctx, err, errlen))
		return -1;
	lock(s);
	int rc = cluster_cas(s, expected_version, next, 0, NULL, ctx, err, errlen);
	unlock(s);
	return rc;
}

/* ==== the hash chain ======================================================= */

#define CHAIN_COLUMNS 11 /* seq ... detail: every column but the two hashes */

/* One column's value as hashed: a SQLite storage class and its payload. */
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

/* The encoding of HASH CHAIN above.  A type STRICT tables cannot hold
 * (REAL, BLOB) is hashed as a bare tag 0xff, which never matches. */
static void chain_hash(const char *prev_hash, const struct chain_value v[CHAIN_COLUMNS],
		       char out[SHA256_HEX_SIZE])
{
	struct sha256_ctx c;
	uint8_t digest[SHA256_DIGEST_SIZE], buf[9];
	sha256_init(&c);
	sha256_update(&c, prev_hash, strlen(prev_hash));
	for (int k = 0; k < CHAIN_COLUMNS; k++) {
		if (v[k].type == SQLITE_INTEGER) {
			buf[0] = 0x01;
			put_be(buf + 1, (uint64_t)v[k].i, 8);
			sha256_update(&c, buf, 9);
		} else if (v[k].type == SQLITE_TEXT) {
			buf[0] = 0x02;
			put_be(buf + 1, v[k].len, 4);
			sha256_update(&c, buf, 5);
			sha256_update(&c, v[k].text, v[k].len);
		} else {
			buf[0] = v[k].type == SQLITE_NULL ? 0x00 : 0xff;
			sha256_update(&c, buf, 1);
		}
	}
	sha256_final(&c, digest);
	sha256_hex(digest, out);
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

/* Reads the version and chain head under the write lock. */
static int read_head(struct store *s, int64_t *version, int64_t *head_seq,
		     char head_hash[SHA256_HEX_SIZE], const char *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s, "SELECT version, head_seq, head_hash FROM cluster WHERE id = 1",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int64(st, 0);
		*head_seq = sqlite3_column_int64(st, 1);
		rc = copy_col(head_hash, SHA256_HEX_SIZE, st, 2, ctx, err, errlen);
	} else if (rc == SQLITE_DONE) {
		seterr(err, errlen, "store: %s: no cluster row (store_cluster_init first)", ctx);
		rc = -1;
	} else {
		rc = db_fail(s, ctx, err, errlen);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Appends row seq chained to prev_hash; hash_out receives its hash. */
static int insert_transition(struct store *s, int64_t seq, const char *prev_hash,
			     const struct store_transition *t, char hash_out[SHA256_HEX_SIZE],
			     const char *ctx, char *err, size_t errlen)
{
	struct chain_value v[CHAIN_COLUMNS] = {
		cv_int(seq), cv_int(now_ms()), cv_text(t->from), cv_text(t->event),
		cv_text(t->to), cv_text(t->row_id), cv_int(t->epoch), cv_text(t->actor),
		t->run_id > 0 ? cv_int(t->run_id) : cv_text(NULL), cv_text(t->reason),
		cv_text(nz(t->detail_json)),
	};
	chain_hash(prev_hash, v, hash_out);
	sqlite3_stmt *st = prep(s,
				"INSERT INTO transitions (seq, ts_ms, from_state, event, to_state,"
				" row_id, epoch, actor, run_id, reason, detail, prev_hash, hash)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = 0;
	for (int k = 0; k < CHAIN_COLUMNS; k++)
		rc |= v[k].type == SQLITE_INTEGER ? sqlite3_bind_int64(st, k + 1, v[k].i)
						   : bind_text(st, k + 1, v[k].text);
	rc |= bind_text(st, 12, prev_hash) | bind_text(st, 13, hash_out);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

static int transition_locked(struct store *s, int64_t expected,
			     const struct store_cluster *next, const struct store_transition *t,
			     int64_t *seq_out, const char *ctx, char *err, size_t errlen)
{
	int64_t version, head_seq;
	char head_hash[SHA256_HEX_SIZE], hash[SHA256_HEX_SIZE];
	if (read_head(s, &version, &head_seq, head_hash, ctx, err, errlen))
		return -1;
	if (version != expected)
		return cas_lost(s, expected, ctx, err, errlen);
	if (insert_transition(s, head_seq + 1, head_hash, t, hash, ctx, err, errlen) ||
	    cluster_cas(s, expected, next, head_seq + 1, hash, ctx, err, errlen))
		return -1;
	if (seq_out)
		*seq_out = head_seq + 1;
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
	lock(s);
	int rc = tx_begin(s, ctx, err, errlen);
	if (rc == 0) {
		rc = transition_locked(s, expected_version, next, t, seq_out, ctx, err, errlen);
		rc = tx_end(s, rc, ctx, err, errlen);
	}
	unlock(s);
	return rc;
}

/* ==== verification ========================================================= */

struct chain_walk {
	int64_t rows;      /* rows read */
	int64_t next_seq;  /* the seq the next row must have */
	bool broken;
	int64_t bad_seq;   /* the first bad seq, once broken */
	char prev[SHA256_HEX_SIZE];
};

static void walk_break(struct chain_walk *w, int64_t seq)
{
	w->broken = true;
	w->bad_seq = seq;
}

/* Checks one row (seq, 10 more columns, prev_hash, hash) against the walk. */
static void walk_row(struct chain_walk *w, sqlite3_stmt *st)
{
	struct chain_value v[CHAIN_COLUMNS];
	char hash[SHA256_HEX_SIZE];
	int64_t seq = sqlite3_column_int64(st, 0);
	const char *prev_hash = (const char *)sqlite3_column_text(st, CHAIN_COLUMNS);
	const char *stored = (const char *)sqlite3_column_text(st, CHAIN_COLUMNS + 1);
	w->rows++;
	if (seq != w->next_seq) {
		/* A gap names the missing seq; a seq below 1 names itself. */
		walk_break(w, seq > w->next_seq ? w->next_seq : seq);
		return;
	}
	for (int k = 0; k < CHAIN_COLUMNS; k++)
		v[k] = cv_column(st, k);
	chain_hash(w->prev, v, hash);
	if (!prev_hash || strcmp(prev_hash, w->prev) != 0 || !stored || strcmp(stored, hash) != 0) {
		walk_break(w, seq);
		return;
	}
	memcpy(w->prev, hash, sizeof(hash));
	w->next_seq++;
}

static int walk_rows(struct store *s, struct chain_walk *w, const char *ctx, char *err,
		     size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"SELECT seq, ts_ms, from_state, event, to_state, row_id, epoch,"
				" actor, run_id, reason, detail, prev_hash, hash"
				" FROM transitions ORDER BY seq",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = SQLITE_DONE;
	while (!w->broken && (rc = sqlite3_step(st)) == SQLITE_ROW)
		walk_row(w, st);
	rc = w->broken || rc == SQLITE_DONE ? 0 : db_fail(s, ctx, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

/* The last row must be the head recorded with it in the cluster row. */
static int check_head(struct store *s, struct chain_walk *w, const char *ctx, char *err,
		      size_t errlen)
{
	int64_t version, head_seq, clusters;
	char head_hash[SHA256_HEX_SIZE];
	int64_t last = w->next_seq - 1;
	if (w->broken)
		return 0;
	if (last == 0) {
		if (pragma_int(s, "SELECT count(*) FROM cluster", &clusters, ctx, err, errlen))
			return -1;
		if (clusters == 0)
			return 0; /* a fresh store: no cluster row, no rows */
	}
	if (read_head(s, &version, &head_seq, head_hash, ctx, err, errlen))
		return -1;
	if (head_seq > last)
		walk_break(w, last + 1); /* the tail was removed */
	else if (head_seq < last)
		walk_break(w, head_seq + 1); /* rows appended behind the store's back */
	else if (strcmp(head_hash, w->prev) != 0)
		walk_break(w, last);
	return 0;
}

static int verify_locked(struct store *s, struct chain_walk *w, char *err, size_t errlen)
{
	const char *ctx = "verify chain";
	/* One read transaction: the rows and the head from the same snapshot. */
	if (exec(s, "BEGIN", ctx, err, errlen))
		return -1;
	int rc = walk_rows(s, w, ctx, err, errlen);
	if (rc == 0)
		rc = check_head(s, w, ctx, err, errlen);
	tx_rollback(s);
	return rc;
}

int store_verify_chain(struct store *s, int64_t *rows_checked, int64_t *first_bad_seq,
		       char *err, size_t errlen)
{
	struct chain_walk w = { .next_seq = 1, .prev = STORE_GENESIS_HASH };
	lock(s);
	int rc = verify_locked(s, &w, err, errlen);
	unlock(s);
	if (rows_checked)
		*rows_checked = w.rows;
	if (first_bad_seq)
		*first_bad_seq = w.bad_seq;
	if (rc == 0 && w.broken) {
		seterr(err, errlen, "store: verify chain: broken at seq %" PRId64, w.bad_seq);
		return 1;
	}
	return rc;
}

/* ==== runs ================================================================= */

static int run_begin_locked(struct store *s, const char *kind, const char *actor,
			    const char *from_site, int64_t epoch, const char *detail_json,
			    int64_t *run_id, const char *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s,
				"INSERT INTO runs (kind, started_ms, outcome, actor, from_site,"
				" epoch, detail) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6)",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = bind_text(st, 1, kind) | sqlite3_bind_int64(st, 2, now_ms()) |
		 bind_text(st, 3, actor) | bind_text(st, 4, nz(from_site)) |
		 sqlite3_bind_int64(st, 5, epoch) | bind_text(st, 6, detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	if (step_done(s, st, ctx, err, errlen))
		return -1;
	*run_id = sqlite3_last_insert_rowid(s->db);
	return 0;
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
	lock(s);
	int rc = run_begin_locked(s, kind, actor, from_site, epoch, detail_json, run_id, ctx, err,
				  errlen);
	unlock(s);
	return rc;
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

static int run_step_locked(struct store *s, int64_t run_id, const char *name,
			   const char *status, const char *detail_json, const char *ctx,
			   char *err, size_t errlen)
{
	char outcome[16];
	if (run_outcome(s, run_id, outcome, sizeof(outcome), ctx, err, errlen))
		return -1;
	sqlite3_stmt *st = prep(s,
				"INSERT INTO run_steps (run_id, seq, ts_ms, name, status, detail)"
				" SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5"
				" FROM run_steps WHERE run_id = ?1",
				ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, run_id) | sqlite3_bind_int64(st, 2, now_ms()) |
		 bind_text(st, 3, name) | bind_text(st, 4, status) | bind_text(st, 5, detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

int store_run_step(struct store *s, int64_t run_id, const char *name, const char *status,
		   const char *detail_json, char *err, size_t errlen)
{
	char ctx[128];
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " step %.60s", run_id, name ? name : "?");
	detail_json = nz(detail_json);
	if (check_json("step detail", detail_json, ctx, err, errlen))
		return -1;
	lock(s);
	int rc = tx_begin(s, ctx, err, errlen);
	if (rc == 0)
		rc = tx_end(s, run_step_locked(s, run_id, name, status, detail_json, ctx, err, errlen),
			    ctx, err, errlen);
	unlock(s);
	return rc;
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
	lock(s);
	int rc = tx_begin(s, ctx, err, errlen);
	if (rc == 0)
		rc = tx_end(s, merge_timestamps(s, run_id, add, ctx, err, errlen), ctx, err, errlen);
	unlock(s);
	json_decref(add);
	return rc;
}

static int run_detail_locked(struct store *s, int64_t run_id, const char *detail_json,
			     const char *ctx, char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(s, "UPDATE runs SET detail = ?2 WHERE id = ?1", ctx, err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, run_id) | bind_text(st, 2, detail_json);
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
	return 0;
}

int store_run_update_detail(struct store *s, int64_t run_id, const char *detail_json,
			    char *err, size_t errlen)
{
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " detail", run_id);
	detail_json = nz(detail_json);
	if (check_json("run detail", detail_json, ctx, err, errlen))
		return -1;
	lock(s);
	int rc = run_detail_locked(s, run_id, detail_json, ctx, err, errlen);
	unlock(s);
	return rc;
}

struct run_end_args {
	const char *outcome, *target, *detail_json;
	int64_t rpo_records, rpo_ms, rto_ms;
	json_t *timestamps; /* object to merge, or NULL */
};

static int run_end_update(struct store *s, int64_t run_id, const struct run_end_args *a,
			  const char *ctx, char *err, size_t errlen)
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
	int rc = sqlite3_bind_int64(st, 1, run_id) | bind_text(st, 2, a->outcome) |
		 sqlite3_bind_int64(st, 3, now_ms()) | bind_text(st, 4, nz(a->target)) |
		 bind_i64_min(st, 5, a->rpo_records, 0) | bind_i64_min(st, 6, a->rpo_ms, 0) |
		 bind_i64_min(st, 7, a->rto_ms, 0) | bind_text(st, 8, a->detail_json);
	if (rc) {
		sqlite3_finalize(st);
		return bind_fail(rc, ctx, err, errlen);
	}
	return step_done(s, st, ctx, err, errlen);
}

static int run_end_locked(struct store *s, int64_t run_id, const struct run_end_args *a,
			  const char *ctx, char *err, size_t errlen)
{
	char outcome[16];
	if (run_outcome(s, run_id, outcome, sizeof(outcome), ctx, err, errlen))
		return -1;
	if (strcmp(outcome, "running") != 0 && strcmp(outcome, "held") != 0) {
		seterr(err, errlen, "store: %s: the run already ended (%s)", ctx, outcome);
		return -1;
	}
	if (a->timestamps && merge_timestamps(s, run_id, a->timestamps, ctx, err, errlen))
		return -1;
	return run_end_update(s, run_id, a, ctx, err, errlen);
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
			   strcmp(outcome, "held") == 0);
}

int store_run_end(struct store *s, int64_t run_id, const char *outcome, const char *target,
		  int64_t rpo_records, int64_t rpo_ms, int64_t rto_ms,
		  const char *timestamps_json, const char *detail_json, char *err, size_t errlen)
{
	char ctx[96];
	struct run_end_args a = { outcome, target, nz(detail_json), rpo_records, rpo_ms, rto_ms,
				  NULL };
	snprintf(ctx, sizeof(ctx), "run %" PRId64 " end %.20s", run_id, outcome ? outcome : "?");
	if (!outcome_final(outcome)) {
		seterr(err, errlen, "store: %s: outcome must be succeeded, failed or held", ctx);
		return -1;
	}
	if (check_json("run detail", a.detail_json, ctx, err, errlen) ||
	    parse_timestamps(nz(timestamps_json), &a, ctx, err, errlen))
		return -1;
	lock(s);
	int rc = tx_begin(s, ctx, err, errlen);
	if (rc == 0)
		rc = tx_end(s, run_end_locked(s, run_id, &a, ctx, err, errlen), ctx, err, errlen);
	unlock(s);
	json_decref(a.timestamps);
	return rc;
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

static json_t *transitions_locked(struct store *s, int64_t since_seq, int64_t run_id,
				  int limit, char *err, size_t errlen)
{
	const char *ctx = "read transitions";
	sqlite3_stmt *st = prep(s,
				"SELECT seq, ts_ms, from_state, event, to_state, row_id, epoch,"
				" actor, run_id, reason, detail, prev_hash, hash FROM transitions"
				" WHERE seq > ?1 AND (?2 = 0 OR run_id = ?2) ORDER BY seq LIMIT ?3",
				ctx, err, errlen);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, since_seq);
	sqlite3_bind_int64(st, 2, run_id);
	sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
	return rows_json(s, st, ctx, err, errlen);
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

#define RUN_COLUMNS \
	"id, kind, started_ms, ended_ms, outcome, actor, target, from_site, epoch," \
	" rpo_records, rpo_ms, rto_ms, timestamps, detail"

json_t *store_runs_json(struct store *s, int limit)
{
	char err[256];
	const char *ctx = "read runs";
	json_t *out = NULL;
	lock(s);
	sqlite3_stmt *st = prep(s, "SELECT " RUN_COLUMNS " FROM runs ORDER BY id DESC LIMIT ?1",
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
	sqlite3_stmt *st = prep(s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1", ctx, err,
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

/* ==== policies ============================================================= */

int store_policy_add(struct store *s, const char *actor, const char *policy_json, char *err,
		     size_t errlen)
{
	const char *ctx = "policy add";
	if (check_json("policy", policy_json, ctx, err, errlen))
		return -1;
	lock(s);
	sqlite3_stmt *st = prep(s, "INSERT INTO policies (ts_ms, actor, policy) VALUES (?1, ?2, ?3)",
				ctx, err, errlen);
	int rc = -1;
	if (st) {
		int b = sqlite3_bind_int64(st, 1, now_ms()) | bind_text(st, 2, actor) |
			bind_text(st, 3, policy_json);
		if (b) {
			sqlite3_finalize(st);
			rc = bind_fail(b, ctx, err, errlen);
		} else {
			rc = step_done(s, st, ctx, err, errlen);
		}
	}
	unlock(s);
	return rc;
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
