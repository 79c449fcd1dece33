/*
 * store.h — drorchd's durable state: the cluster row, the hash-chained
 * transition log, runs with their steps, policies, and the sites cache, in
 * one SQLite file (WAL journal, synchronous=FULL: a committed transition
 * survives kill -9 and power loss).
 *
 * The audit: transitions and audit_events (one row per write of a run, a
 * run step, or a policy) are hash chains whose every row carries an
 * HMAC-SHA256 made with a key kept outside the database (the key file,
 * PATH.key by default); after every commit the chains' ends are published
 * in a head file beside the database (PATH.head), so that a database that
 * lost its newest commits is found out.  The schema, the hash, digest and
 * MAC encodings and the head file's format are documented, byte for byte,
 * at the top of store.c.
 *
 * The FSM's contract with the store: every transition is committed here,
 * with a compare-and-set on the cluster row's version, BEFORE its action
 * runs.  A crashed orchestrator reopens the store, reads the cluster row and
 * re-runs cluster.action (actions are idempotent, keyed by epoch).
 *
 * Threads: one struct store may be used from any number of threads.  Every
 * function takes the store's internal mutex for its whole duration (the
 * connection is opened SQLITE_OPEN_NOMUTEX), so a multi-statement
 * transaction is never interleaved with another thread's statements.
 * Separate processes (or separate struct store on the same file) are
 * serialised by SQLite's locks; writers wait up to STORE_BUSY_TIMEOUT_MS.
 *
 * Writes: every function that changes the cluster row, the transition log,
 * runs, steps or policies is refused (-1, with the reason) on a handle
 * opened read-only, or whose database is not at its head file (until
 * store_head_accept); after its commit it rewrites the head file (a failure
 * there is logged as store.head_write_failed, not returned: the commit
 * stands).  store_site_upsert, a cache, is never refused for that.
 *
 * Errors: int functions return 0 on success, -1 on error with a message in
 * err[] ("store: transition STEADY->SUSPECT: CAS lost: expected version 7,
 * store is at 8"), and STORE_CONFLICT where noted.  The json_t readers return
 * a new reference the caller must json_decref(), or NULL on error (the error
 * is then logged as a "store.error" event).
 *
 * Strings passed in are copied; nothing returned points into the store.
 * Every *_json argument is JSON text (any JSON value), or NULL for "none";
 * text that does not parse is refused.
 */
#ifndef DRORCH_STORE_H
#define DRORCH_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runctx.h"

/* A compare-and-set lost: someone else moved the cluster row first. */
#define STORE_CONFLICT 1
/* store_open*: the file is damaged (SQLite corruption, or PRAGMA quick_check
 * failed); the message names the file. */
#define STORE_DAMAGED 2

#define STORE_BUSY_TIMEOUT_MS 5000
/* PRAGMA application_id of a drorch store ("dRoR"), and its schema version. */
#define STORE_APPLICATION_ID 0x64526f52
#define STORE_SCHEMA_VERSION 4
/* prev_hash of the first row of a chain: 64 zeros. */
#define STORE_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* A key id: 16 lowercase hex digits and a NUL. */
#define STORE_KEY_ID_SIZE 17

struct store;

struct store_options {
	/* The audit key file; NULL or "": PATH.key. */
	const char *key_file;
	/*
	 * SQLITE_OPEN_READONLY, for verification: nothing is created,
	 * migrated or written (no schema, no triggers, no key file, no head
	 * file), so the bytes of PATH and PATH-wal stay as they are and a
	 * running drorchd is not disturbed.  A missing key file is no error
	 * here: store_verify reports it.  Every write function fails.
	 */
	bool read_only;
};

/*
 * Opens PATH (read-write: creating the file and the schema if absent, and
 * migrating an older schema, see store.c).  Refuses, with a message that
 * says which, a file that is not SQLite, a SQLite database that is not a
 * drorch store, a store of a newer schema version, and (STORE_DAMAGED) a
 * damaged file: PRAGMA quick_check runs at every open.  Read-write, it also
 * loads the audit key, creating the key file (32 random bytes as hex, mode
 * 0600) for a store that has no audit yet, and refuses a store whose audit
 * has MACs when the key file is missing or holds another key.  Then it
 * compares the database with its head file (see store_head_status): a
 * store that is not at its head opens, but refuses every write except
 * store_site_upsert until store_head_accept.
 * Returns 0, -1 or STORE_DAMAGED.
 */
int store_open_ex(struct store **out, const char *path, const struct store_options *opt,
		  char *err, size_t errlen);
/* store_open_ex with the default options: read-write, key file PATH.key. */
int store_open(struct store **out, const char *path, char *err, size_t errlen);
/* Closes the connection and frees s (NULL is fine). */
void store_close(struct store *s);
/* The paths of the key file and the head file (owned by s). */
const char *store_key_file(const struct store *s);
const char *store_head_file(const struct store *s);

/* ---- the cluster row ---------------------------------------------------- */

struct store_cluster {
	char state[32];        /* FSM state name, e.g. "STEADY" */
	int64_t epoch;
	char primary[128];     /* site name of the primary */
	int64_t version;       /* CAS counter; 1 after store_cluster_init */
	char action[32];       /* the action of the last transition ("" if none) */
	int64_t run_id;        /* the run in progress, 0 if none */
	int64_t updated_ms;    /* wall clock of the last change */
	struct run_ctx ctx;    /* the run's context (runctx.h; column detail: its text form) */
};

/* Fills *out.  Returns 0, 1 when there is no cluster row yet, or -1. */
int store_cluster_get(struct store *s, struct store_cluster *out, char *err, size_t errlen);

/*
 * Creates the cluster row (version 1, no action, no run) unless one exists;
 * returns 0 in both cases (an existing row is left untouched), -1 on error.
 */
int store_cluster_init(struct store *s, const char *state, int64_t epoch, const char *primary,
		       char *err, size_t errlen);

/*
 * Compare-and-set without a transition (detail or run changes): writes
 * next's state, epoch, primary, action, run_id and detail and bumps the
 * version, only if the version is still expected_version.  next->version and
 * next->updated_ms are ignored.  Returns 0, STORE_CONFLICT, or -1.
 */
int store_cluster_update(struct store *s, int64_t expected_version,
			 const struct store_cluster *next, char *err, size_t errlen);

/* ---- the transition log ------------------------------------------------- */

struct store_transition {
	const char *from;        /* state left */
	const char *event;
	const char *to;          /* state entered */
	const char *row_id;      /* id of the FSM table row that fired */
	const char *actor;       /* "auto" | "operator:NAME" | "playbook:RUN" */
	const char *reason;      /* the row's reason text, shown to operators */
	const char *detail_json; /* or NULL */
	int64_t epoch;
	int64_t run_id;          /* 0 = none */
};

/*
 * One SQLite transaction: the cluster row becomes next (as in
 * store_cluster_update) if its version is still expected_version, and t is
 * appended to the log, chained to the previous row's hash; then commit.
 * next->state must be t->to.  *seq_out (may be NULL) receives the new
 * row's seq.  Returns 0;
 * STORE_CONFLICT if the version moved (nothing is written); -1 on error
 * (nothing is written).
 */
int store_transition(struct store *s, int64_t expected_version,
		     const struct store_cluster *next, const struct store_transition *t,
		     int64_t *seq_out, char *err, size_t errlen);

/*
 * Recomputes every hash (and, schema 3, every MAC) of the transition log in
 * seq order.  Returns 0 when the chain is intact, 1 when it is broken, -1 on
 * error (no key for a store with MACs, too).  When broken, *first_bad_seq
 * is the first seq that fails: a row whose content, prev_hash or MAC does
 * not match (edited; rewritten without the key), or a seq that is missing
 * (removed; also a removed tail, found against the chain head kept in the
 * cluster row).  *rows_checked is the number of rows read.  Either pointer
 * may be NULL.  store_verify checks everything else the audit covers.
 */
int store_verify_chain(struct store *s, int64_t *rows_checked, int64_t *first_bad_seq,
		       char *err, size_t errlen);

/*
 * A transition that raises the epoch is refused (-1) when the new epoch is
 * at or below the epoch floor recorded by store_head_accept: those epochs
 * may have been issued in the history the store lost.
 */

/* ---- runs ----------------------------------------------------------------- */

/*
 * Starts a run: kind is failover | switchover | failback | upgrade | playbook
 * | drill; outcome "running", started_ms now.  *run_id receives its id.
 */
int store_run_begin(struct store *s, const char *kind, const char *actor, const char *from_site,
		    int64_t epoch, const char *detail_json, int64_t *run_id,
		    char *err, size_t errlen);

/* Appends a step (status ok | failed | skipped) stamped now, numbered 1, 2... */
int store_run_step(struct store *s, int64_t run_id, const char *name, const char *status,
		   const char *detail_json, char *err, size_t errlen);

/*
 * Records one instant of the run's timeline: timestamps[name] = ts_ms
 * (e.g. "last_good_heartbeat", "detected", "decided", "promoted",
 * "first_write").  Overwrites an earlier value of the same name.
 */
int store_run_mark(struct store *s, int64_t run_id, const char *name, int64_t ts_ms,
		   char *err, size_t errlen);

/* Replaces the run's detail JSON. */
int store_run_update_detail(struct store *s, int64_t run_id, const char *detail_json,
			    char *err, size_t errlen);

/*
 * Ends a run: outcome succeeded | failed | held | dry_run (a playbook's plan,
 * nothing done), ended_ms now.  A run can be ended while running or held (a held run that a human approves may end
 * again), not once it succeeded or failed.  target, timestamps_json and
 * detail_json, when NULL, keep what the run has; a timestamps_json object is
 * merged into the run's timestamps.  rpo_records, rpo_ms, rto_ms < 0 mean
 * "not measured": an earlier measurement is kept, else the column stays NULL
 * (null in JSON).
 */
int store_run_end(struct store *s, int64_t run_id, const char *outcome, const char *target,
		  int64_t rpo_records, int64_t rpo_ms, int64_t rto_ms,
		  const char *timestamps_json, const char *detail_json, char *err, size_t errlen);

/* ---- the head file: is this database the latest one? ---------------------- */

enum store_head_state {
	STORE_HEAD_OK,      /* each chain reaches the head file's position (or passes
			     * it: a crash between a commit and its head write; a
			     * read-write open writes the file anew) */
	STORE_HEAD_NEW,     /* no head file, and the audit holds nothing but what the
			     * store was created or migrated with: a first start (a
			     * read-write open writes the file) */
	STORE_HEAD_MISSING, /* no head file although the audit has grown: lost or
			     * removed */
	STORE_HEAD_BEHIND,  /* the database ends before the head file says: its
			     * newest commits were lost (a lost -wal, a restored
			     * backup); both positions are given */
	STORE_HEAD_FORKED,  /* the row at the head file's position is another row */
	STORE_HEAD_INVALID, /* unreadable, malformed, MAC fails, or another key's */
};

struct store_head_status {
	enum store_head_state state;
	bool behind;                 /* state == STORE_HEAD_BEHIND */
	bool writable;               /* this handle accepts writes: the state was OK or
				      * NEW at open, or store_head_accept was called */
	int64_t db_transition_seq;   /* where the database's chains end (0: empty) */
	int64_t db_event_seq;
	int64_t db_epoch;            /* the cluster row's epoch (0: no row) */
	int64_t file_transition_seq; /* where the head file says they end; */
	int64_t file_event_seq;      /* -1 when there is no valid head file */
	int64_t file_epoch;          /* the highest epoch committed */
	int64_t epoch_floor;         /* no epoch at or below it may be issued anew:
				      * max(db_epoch, file_epoch, floors accepted) */
	char detail[512];            /* for people: what was found, naming the files */
};

/* "ok", "new", "missing", "behind", "forked", "invalid". */
const char *store_head_state_name(enum store_head_state state);

/*
 * Compares the database with its head file now (the file is read first,
 * then the database in one snapshot) and fills *out.  drorchd calls it at
 * start-up: when !out->writable the store refuses writes, and an
 * orchestrator that goes on must say so and must not issue an epoch at or
 * below out->epoch_floor.  Returns 0, or -1 (a schema older than 3 opened
 * read-only, no key, or a read error).
 */
int store_head_status(struct store *s, struct store_head_status *out, char *err,
		      size_t errlen);

/*
 * An operator's decision to go on from this database although it is not at
 * its head file (behind, forked, missing or invalid): appends a
 * history_accepted audit event recording actor (free text, e.g.
 * "operator:alice"), both positions and the epoch floor, writes the head
 * file at the database's position, and makes the handle writable.  From then
 * on store_transition refuses to raise the epoch to the floor or below.
 * Nothing to accept (OK, NEW) is 0 too.  Returns 0 or -1.
 */
int store_head_accept(struct store *s, const char *actor, char *err, size_t errlen);

/* ---- replication (HA: orchestrator/ha.c) ---------------------------------- */

/*
 * Several drorchd instances keep one state: the leader commits each write to
 * a shared log (etcd) before it commits it here, and every instance applies
 * the log's operations to its own store in order, so that every copy holds
 * the same rows, times and chain hashes (the MACs are each copy's own key's).
 *
 * An operation is a write as JSON: {"op": NAME, "ts": MS, ...its arguments}
 * for cluster_init, cluster_update, transition, run_begin, run_step,
 * run_mark, run_detail, run_raise_rpo, run_end, policy_add.  "ts" is the
 * write's clock: every time the write records is ts.
 *
 * With a replicator set, every such write, once it has passed its checks
 * inside its SQLite transaction, hands fn its operation; fn's 0 (with *index,
 * the operation's position in the log) commits the write with the position
 * recorded in the same transaction; fn's -1 rolls it back and the write fails
 * with fn's message.  fn runs under the store's mutex: it must not call the
 * store.  store_head_accept is refused on a replicated store.
 */
typedef int (*store_replicate_fn)(void *ctx, const json_t *op, int64_t *index, char *err,
				  size_t errlen);
void store_set_replicator(struct store *s, store_replicate_fn fn, void *ctx);

/*
 * Applies operation op, at position index of the log, as the write it
 * stands for, stamped with its ts, without the replicator.  0 applied; 1
 * skipped (the store already holds index); -1 refused (this copy is not the
 * state the operation was made on: a CAS lost is an error here).
 */
int store_apply(struct store *s, const json_t *op, int64_t index, char *err, size_t errlen);
/* The index of the newest operation this store holds (0: none). */
int64_t store_applied_index(struct store *s);

/* ---- verification --------------------------------------------------------- */

/* What store_verify checked, and the first thing wrong. */
struct store_audit_report {
	int schema_version;
	bool macs;                     /* MACs checked (schema 3, with its key) */
	char key_id[STORE_KEY_ID_SIZE];/* the key file's key id, "" without one */
	/* Rows checked; -1 when not reached (the check stops at the first bad
	 * row): the two chains (hashes, links, MACs; transitions also against
	 * the cluster row's head), then runs, run_steps and policies against
	 * the newest audit event naming each row. */
	int64_t transitions, audit_events, runs, run_steps, policies;
	struct store_head_status head; /* schema 3: the head file against the db */
	/* When broken: where ("transitions", "audit_events", "runs",
	 * "run_steps", "policies", "head file" or "key"), the row (a chain's
	 * seq, a run's id, a policy's seq; 0 for the head file and the key),
	 * and what is wrong, for people. */
	char bad_table[16];
	int64_t bad_seq;
	char first_bad[600];
};

/*
 * Verifies the whole audit in one snapshot (the head file read first):
 * the key file is the one the audit was made with; both chains are
 * intact (hashes, links, MACs); the database reaches its head file (OK or
 * NEW); every runs, run_steps and policies row matches the newest audit
 * event naming it, none is unnamed, none named is gone.  A store of schema
 * 1 or 2 has its transition chain checked, and must have no head file.
 * Read-only: works on a handle opened with store_options.read_only.
 * Returns 0 intact, 1 broken (see r->first_bad), -1 when it cannot tell
 * (no key file for a store with MACs; a read error).
 */
int store_verify(struct store *s, struct store_audit_report *r, char *err, size_t errlen);
/* store_verify on a read-only handle of its own to the database at path
 * (key_file may be NULL), as --verify-audit does: a long check never holds
 * the mutex a writer's handle commits under (WAL: readers do not block the
 * writer).  The same answers. */
int store_verify_path(const char *path, const char *key_file, struct store_audit_report *r,
		      char *err, size_t errlen);

/*
 * Raises a run's measured RPO in records to at least rpo_records, also
 * once the run has ended: a loss learnt of afterwards (the records a
 * rewind moved off the old primary) is counted by the run that caused it.
 * Audited (a run_detail event) when it changes anything; 0 or -1.
 */
int store_run_raise_rpo(struct store *s, int64_t run_id, int64_t rpo_records, char *err,
			size_t errlen);

/*
 * Records a rewind of site (its answer or last_rewind, detail_json) in one
 * transaction: into the failover run run_id that lost its records (a
 * "rewind" step, the run's RPO raised to at least records), or, with
 * run_id 0, into a run of its own (kind "rewind", begun and ended
 * succeeded with RPO records, the step inside).  So a crash leaves either
 * all of it or none: the step is what says the rewind is recorded.
 * *out_run (may be NULL) gets the run.  0 or -1.
 */
int store_run_rewind(struct store *s, int64_t run_id, const char *site, int64_t epoch,
		     int64_t records, const char *detail_json, int64_t *out_run, char *err,
		     size_t errlen);

/* ---- sites cache ---------------------------------------------------------- */

struct store_site {
	const char *name;        /* key */
	const char *url;         /* NULL keeps the stored value */
	const char *region;      /* NULL keeps */
	const char *role;        /* primary | replica | fenced | down; NULL keeps */
	int healthy;             /* 0 or 1 */
	int64_t lsn;             /* < 0 keeps (unknown: site unreachable) */
	int64_t flushed_lsn;     /* < 0 keeps */
	int64_t epoch;           /* < 0 keeps */
	int64_t last_seen_ms;    /* <= 0 keeps (the last time it answered) */
	const char *detail_json; /* NULL keeps */
};

int store_site_upsert(struct store *s, const struct store_site *site, char *err, size_t errlen);

/* ---- readers (JSON) ------------------------------------------------------- */

/*
 * Transitions with seq > since_seq, of run run_id (0 = all; a playbook's
 * run: also those of the runs it started and the commands it gave, whose
 * actor is playbook:RUN_ID), oldest first,
 * at most limit (<= 0: no limit).  Each object has every column: seq, ts_ms,
 * from_state, event, to_state, row_id, epoch, actor, run_id (null if none),
 * reason, detail (parsed JSON, null if none), prev_hash, hash (not mac).
 */
json_t *store_transitions_json(struct store *s, int64_t since_seq, int64_t run_id, int limit);
/* The newest transition (the same object), or NULL when there is none. */
json_t *store_last_transition_json(struct store *s);
/* Runs, newest first, at most limit (<= 0: all); every column, JSON parsed. */
/* Records a policy put in force by actor (JSON text, as GET /v1/policy
 * prints it); the newest one is what a restarted drorchd enforces. */
int store_policy_add(struct store *s, const char *actor, const char *policy_json, char *err,
		     size_t errlen);
/* The newest recorded policy {"seq","ts_ms","actor","policy"} (new ref), or
 * NULL when none was ever put (or on a read error, logged). */
json_t *store_policy_latest(struct store *s);
json_t *store_runs_json(struct store *s, int limit);
/* One run with "steps" and "transitions" arrays (one snapshot); NULL if
 * there is no such run, or on error (logged). */
json_t *store_run_json(struct store *s, int64_t id);
/* Every site, by name; healthy as a boolean. */
json_t *store_sites_json(struct store *s);

#endif
