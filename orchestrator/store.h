/*
 * store.h — drorchd's durable state: the cluster row, the hash-chained
 * transition log, runs with their steps, and the sites cache, in one SQLite
 * file (WAL journal, synchronous=FULL: a committed transition survives
 * kill -9 and power loss).  The schema and the hash encoding are documented
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
#include <stddef.h>
#include <stdint.h>

/* A compare-and-set lost: someone else moved the cluster row first. */
#define STORE_CONFLICT 1

#define STORE_BUSY_TIMEOUT_MS 5000
/* PRAGMA application_id of a drorch store ("dRoR"), and its schema version. */
#define STORE_APPLICATION_ID 0x64526f52
#define STORE_SCHEMA_VERSION 2
/* prev_hash of the first transition: 64 zeros. */
#define STORE_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct store;

/*
 * Opens PATH, creating the file and the schema if absent.  Refuses, with a
 * message that says which, a file that is not SQLite, a SQLite database that
 * is not a drorch store, or a store of a newer schema version.
 */
int store_open(struct store **out, const char *path, char *err, size_t errlen);
/* Closes the connection and frees s (NULL is fine). */
void store_close(struct store *s);

/* ---- the cluster row ---------------------------------------------------- */

struct store_cluster {
	char state[32];        /* FSM state name, e.g. "STEADY" */
	int64_t epoch;
	char primary[128];     /* site name of the primary */
	int64_t version;       /* CAS counter; 1 after store_cluster_init */
	char action[32];       /* the action of the last transition ("" if none) */
	int64_t run_id;        /* the run in progress, 0 if none */
	int64_t updated_ms;    /* wall clock of the last change */
	char detail[4096];     /* JSON text, "" if none (e.g. failover candidate) */
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
 * Recomputes every hash of the log in seq order.  Returns 0 when the chain
 * is intact, 1 when it is broken, -1 on error.  When broken, *first_bad_seq
 * is the first seq that fails: a row whose content or prev_hash does not
 * match (edited), or a seq that is missing (removed; also a removed tail,
 * found against the chain head kept in the cluster row).  *rows_checked is
 * the number of rows read.  Either pointer may be NULL.
 */
int store_verify_chain(struct store *s, int64_t *rows_checked, int64_t *first_bad_seq,
		       char *err, size_t errlen);

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
 * Ends a run: outcome succeeded | failed | held, ended_ms now.  A run can be
 * ended while running or held (a held run that a human approves may end
 * again), not once it succeeded or failed.  target, timestamps_json and
 * detail_json, when NULL, keep what the run has; a timestamps_json object is
 * merged into the run's timestamps.  rpo_records, rpo_ms, rto_ms < 0 mean
 * "not measured": an earlier measurement is kept, else the column stays NULL
 * (null in JSON).
 */
int store_run_end(struct store *s, int64_t run_id, const char *outcome, const char *target,
		  int64_t rpo_records, int64_t rpo_ms, int64_t rto_ms,
		  const char *timestamps_json, const char *detail_json, char *err, size_t errlen);

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
 * Transitions with seq > since_seq, of run run_id (0 = all), oldest first,
 * at most limit (<= 0: no limit).  Each object has every column: seq, ts_ms,
 * from_state, event, to_state, row_id, epoch, actor, run_id (null if none),
 * reason, detail (parsed JSON, null if none), prev_hash, hash.
 */
json_t *store_transitions_json(struct store *s, int64_t since_seq, int64_t run_id, int limit);
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
