/*
 * role.h — a site's role, epoch and epoch history, as persisted in
 * DIR/state.json (written atomically: temp file, fsync, rename, fsync dir),
 * with a "crc32c" of its canonical text so damage that still parses is seen.
 *
 * A site whose state.json is missing, or says "standalone", was never given
 * a role: it is a standalone primary.  Once it has one, the orchestrator is
 * the only source of role changes, and every change carries an epoch that
 * never goes backwards.
 * The history maps each epoch this site has seen to the first LSN written
 * in it (like a PostgreSQL timeline history); failback uses it to find
 * where two sites' logs diverge.  The last rewind (failback: what was
 * moved to a quarantine file, see rewind.c) is kept there too, so an audit
 * after a restart still finds it.
 *
 * What the site knows it lacks (struct behind_record) is kept there too, so
 * a restart does not forget it.
 *
 * The feature-compatibility version (FCV, as MongoDB's) lives there as
 * well: a site writes its binary version as its FCV at its first start (so
 * a standalone site has a state.json too, with role "standalone"), and only
 * POST /v1/admin/fcv moves it, never down nor above the binary version.  A
 * binary older than the FCV may neither start on that data (site.c) nor
 * replicate from a primary at that FCV (repl.c).  Versions are X.Y.Z,
 * parsed and ordered by common/version.h.
 */
#ifndef DRORCH_ROLE_H
#define DRORCH_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "version.h"

enum role_kind { ROLE_STANDALONE = 0, ROLE_PRIMARY, ROLE_REPLICA, ROLE_FENCED };
enum repl_mode { MODE_ASYNC = 0, MODE_SYNC, MODE_REMOTE_APPLY };

#define ROLE_MAX_HISTORY 128  /* oldest entries are dropped beyond this */
#define ROLE_ADDR_MAX 256
#define ROLE_PATH_MAX 1024

/* The last rewind of this site (rewind.c); epoch 0 = never rewound. */
struct rewind_record {
	uint64_t epoch;                /* the epoch it was rewound at */
	uint64_t from_lsn;             /* D: the first LSN moved to the quarantine */
	uint64_t from_epoch;           /* the epoch of the record at D (0: unknown) */
	uint64_t records;              /* lines in the quarantine file */
	uint64_t at_ms;                /* wall clock, ms since the Unix epoch */
	char quarantine[ROLE_PATH_MAX];/* the quarantine file's path */
};

/*
 * Records this site knows it lacks (epoch 0 = none): its WAL lost records
 * to damage, its store was incomplete at start-up, or a replica streaming
 * from it held records of its own epoch beyond its end.  Such a site is
 * never confirmed as primary at that epoch (admin.c): it rejoins as a
 * replica and fetches what it lacks.  A role at a newer epoch clears it.
 */
struct behind_record {
	uint64_t epoch;                /* the epoch it was at when it found out */
	uint64_t have_lsn;             /* its last LSN then */
	uint64_t need_lsn;             /* the highest LSN known to have existed */
	bool need_unknown;             /* need_lsn is only a marker (have + 1): it lacks
					* something, how much is unknown (state.json
					* lost, damage that left no trace) */
	char why[160];
};

struct epoch_start {
	uint64_t epoch;
	uint64_t first_lsn;
};

struct role_state {
	enum role_kind role;
	uint64_t epoch;
	char primary[ROLE_ADDR_MAX];   /* a replica's primary, HOST:PORT */
	enum repl_mode mode;           /* how a primary acknowledges writes */
	int quorum;                    /* replicas that must confirm (sync modes) */
	struct epoch_start history[ROLE_MAX_HISTORY];
	int nhistory;
	struct rewind_record last_rewind;
	struct behind_record behind;
	struct version fcv;            /* feature-compatibility version */
	bool has_fcv;                  /* false: state.json predates the FCV, or is absent */
};

/* role_load: state.json exists but cannot be parsed, or its crc32c does not
 * match its content (a file without one: a member outside the known set). */
#define ROLE_DAMAGED 1

/* 0, ROLE_DAMAGED, or -1 if state.json cannot be read.  *present tells
 * whether state.json exists; *had_role is false when there is none or it
 * says "standalone" (it only holds the FCV). */
int role_load(const char *datadir, struct role_state *st, bool *had_role, bool *present,
	      char *err, size_t errlen);
int role_save(const char *datadir, const struct role_state *st, char *err, size_t errlen);
/* Writes j to DIR/name atomically (temp file, fsync, rename, fsync of the
 * directory), as role_save does state.json.  j NULL fails (out of memory). */
int role_write_json(const char *datadir, const char *name, json_t *j, char *err, size_t errlen);

/* Records that `epoch` starts at first_lsn (no-op if already known). */
void role_history_add(struct role_state *st, uint64_t epoch, uint64_t first_lsn);

/* The history as a JSON array [{"epoch":E,"first_lsn":L}], or NULL. */
json_t *role_history_json(const struct role_state *st);
/* Appends the entries of such an array to st's history; -1 if malformed. */
int role_history_load(json_t *arr, struct role_state *st);

/* {"epoch","have_lsn","need_lsn","why"}, or NULL. */
json_t *role_behind_json(const struct behind_record *b);

/* {"epoch","from_lsn","records","quarantine","at_ms"}, or NULL. */
json_t *role_rewind_json(const struct rewind_record *r);

/* The epoch in which lsn was written, as far as the history knows: the
 * newest entry starting at or before lsn; false if lsn precedes them all. */
bool role_epoch_at(const struct role_state *st, uint64_t lsn, uint64_t *epoch);

/* The FCV of the first format.  A site that lost its state.json cannot know
 * its cluster's FCV and takes this one: it then refuses no replica the
 * cluster admitted (a rolling upgrade's finalize raises it again). */
#define ROLE_FCV_BASELINE "0.1.0"

/* Room for "X.Y.Z" with three unsigned fields, and its NUL. */
#define ROLE_VERSION_MAX 36
/* What a version must look like, for error messages. */
#define ROLE_VERSION_SYNTAX "X.Y.Z (three non-negative integers)"

const char *role_name(enum role_kind r);
const char *role_mode_name(enum repl_mode m);
int role_parse_mode(const char *s, enum repl_mode *out);

#endif
