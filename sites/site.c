/*
 * site.c — a drsite: data dir, WAL + map, checkpoints, HTTP API.
 *
 * Start-up order: lock DIR/LOCK; read the token and DIR/state.json (the
 * role and the FCV: a binary older than the FCV stops here, having changed
 * nothing; a site without an FCV takes its binary version as one and writes
 * it down); finish a rewind that a crash interrupted (rewind.c:
 * DIR/rewind.json says so); load the newest snapshot into the map; open the
 * WAL, which replays every record after the snapshot into the map and
 * truncates a torn tail; start the checkpointer and the replication
 * follower.  From then on the WAL's flusher is the only writer of the map
 * (records are applied in LSN order, after their fsync), so a read never
 * sees a write that is not durable.
 */
#include "site.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "decimal.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "fileio.h"
#include "site_internal.h"
#include "snapshot.h"
#include "timeutil.h"
#include "wal.h"
#include "format.h"

/* ---- data dir ---------------------------------------------------------------- */

static int lock_datadir(struct site *s, char *err, size_t errlen)
{
	if (mkdir(s->datadir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "data dir %s: cannot create: %s", s->datadir, strerror(errno));
		return -1;
	}
	char *path = NULL;
	if (asprintf(&path, "%s/LOCK", s->datadir) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0) {
		snprintf(err, errlen, "data dir %s is not writable: %s", s->datadir, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "?";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 1] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "data dir %s is held by another drsite (pid %s)",
			 s->datadir, pid);
		close(fd);
		return -1;
	}
	char line[32];
	int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
		snprintf(err, errlen, "data dir %s is not writable: %s", s->datadir, strerror(errno));
		close(fd);
		return -1;
	}
	s->lock_fd = fd;
	return 0;
}

/* ---- checkpoints ------------------------------------------------------------- */

/* Snapshot, then drop the WAL it covers.  Caller holds cp_run_mu. */
static void checkpoint_locked(struct site *s)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	uint64_t t0 = time_mono_ms(), lsn = 0;
	char err[256];
	if (snap_write(s->kv, s->datadir, ws.write_format, &lsn, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "checkpoint.failed", "{s:s}", "error", err);
		return;
	}
	if (wal_remove_through(s->wal, lsn, err, sizeof(err)) != 0)
		log_event(LOG_WARN, "checkpoint.wal_cleanup_failed", "{s:s}", "error", err);
	pthread_mutex_lock(&s->cp_mu);
	s->cp_lsn = lsn;
	s->cp_wal_bytes = ws.bytes;
	s->cp_count++;
	s->cp_last_ms = time_mono_ms() - t0;
	pthread_mutex_unlock(&s->cp_mu);
	log_event(LOG_INFO, "checkpoint.done", "{s:I, s:I}", "lsn", (json_int_t)lsn,
		  "ms", (json_int_t)s->cp_last_ms);
}

void site_checkpoint(struct site *s)
{
	pthread_mutex_lock(&s->cp_run_mu);
	checkpoint_locked(s);
	pthread_mutex_unlock(&s->cp_run_mu);
}

static bool checkpoint_due(struct site *s)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	pthread_mutex_lock(&s->cp_mu);
	uint64_t at_last = s->cp_wal_bytes;
	pthread_mutex_unlock(&s->cp_mu);
	return ws.bytes - at_last >= s->opts.checkpoint_bytes;
}

/* Polls the WAL volume every 100 ms; a checkpoint never blocks a writer for
 * longer than it takes to copy the map under its read lock. */
static void *checkpointer_main(void *arg)
{
	struct site *s = arg;
	pthread_mutex_lock(&s->cp_mu);
	while (!s->cp_stop) {
		struct timespec ts;
		time_deadline(&ts, 100);
		pthread_cond_timedwait(&s->cp_cv, &s->cp_mu, &ts);
		if (s->cp_stop)
			break;
		pthread_mutex_unlock(&s->cp_mu);
		if (checkpoint_due(s))
			site_checkpoint(s);
		pthread_mutex_lock(&s->cp_mu);
	}
	pthread_mutex_unlock(&s->cp_mu);
	return NULL;
}

/* A random 64-bit number (this start's boot id); never fails: without
 * getrandom(2) it mixes the clock and the pid. */
static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = time_mono_ns() ^ ((uint64_t)getpid() << 32) ^ time_wall_ms();
	return v;
}

/* ---- open: role, store, and what may be missing ---------------------------------- */

/* Applies a record to the map; during start-up's replay also notes which
 * epochs the log shows (a site whose state.json was lost rebuilds its
 * epoch history from them). */
static int apply_record(void *ctx, const struct wal_record *rec)
{
	struct site *s = ctx;
	if (s->replaying)
		role_history_add(&s->replayed, rec->epoch, rec->lsn);
	return kv_apply(s->kv, rec);
}

/* Loads the newest snapshot, then replays the WAL after it.  0,
 * SITE_INCOMPLETE (the snapshot is corrupt or does not reach the log's
 * start: err says which), or -1. */
#define SITE_INCOMPLETE 1
static int site_load(struct site *s, char *err, size_t errlen)
{
	uint64_t snap_lsn, snap_epoch;
	int rc = snap_load_latest(s->kv, s->datadir, &snap_lsn, &snap_epoch, err, errlen);
	if (rc != 0)
		return rc == SNAP_CORRUPT ? SITE_INCOMPLETE : -1;
	s->cp_lsn = snap_lsn;
	if (snap_lsn)
		role_history_add(&s->replayed, snap_epoch, snap_lsn);
	struct kv_info snap_ki;
	kv_get_info(s->kv, &snap_ki);
	struct wal_opts wo = { .dir = s->datadir, .segment_bytes = s->opts.segment_bytes,
			       .replay_after_lsn = snap_lsn, .replay_after_epoch = snap_epoch,
			       .replay_after_commit_ms = snap_ki.applied_commit_ms,
			       .format = format_for_fcv(&s->role.fcv),
			       .apply = apply_record, .apply_ctx = s };
	s->replaying = true;
	rc = wal_open(&s->wal, &wo, err, errlen);
	s->replaying = false;
	if (rc != 0)
		return rc == WAL_INCOMPLETE ? SITE_INCOMPLETE : -1;
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	struct kv_info ki;
	kv_get_info(s->kv, &ki);
	log_event(LOG_INFO, "site.recovered", "{s:I, s:I, s:I, s:I, s:I}",
		  "snapshot_lsn", (json_int_t)snap_lsn, "last_lsn", (json_int_t)ws.last_lsn,
		  "keys", (json_int_t)ki.keys, "segments", (json_int_t)ws.segments,
		  "truncated_bytes", (json_int_t)ws.truncated_bytes);
	return 0;
}

/* Moves DATA/name (if present) into dir; 0 or -1 with err. */
static int move_into(struct site *s, const char *dir, const char *name, char *err, size_t errlen)
{
	char *from = NULL, *to = NULL;
	int rc = -1;
	if (asprintf(&from, "%s/%s", s->datadir, name) < 0 || asprintf(&to, "%s/%s", dir, name) < 0)
		snprintf(err, errlen, "out of memory");
	else if (rename(from, to) != 0 && errno != ENOENT)
		snprintf(err, errlen, "move %s to %s: %s", from, to, strerror(errno));
	else
		rc = 0;
	free(from);
	free(to);
	return rc;
}

/*
 * The store cannot be served (its snapshot is corrupt, or records are
 * missing between the snapshot and the log): the snapshot and WAL
 * directories are moved, never deleted, to DATA/quarantine/store-MS/, and
 * the site starts empty.  It then lacks every record it held (behind), so
 * it is never the source of truth for them: it catches up as a replica.
 */
static int quarantine_store(struct site *s, const char *why, char *err, size_t errlen)
{
	char *qdir = NULL, *dir = NULL;
	int rc = -1;
	if (asprintf(&qdir, "%s/quarantine", s->datadir) < 0 ||
	    asprintf(&dir, "%s/store-%" PRIu64, qdir, time_wall_ms()) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((mkdir(qdir, 0755) != 0 && errno != EEXIST) || mkdir(dir, 0755) != 0) {
		snprintf(err, errlen, "create %s: %s", dir, strerror(errno));
		goto out;
	}
	if (move_into(s, dir, "snap", err, errlen) || move_into(s, dir, "wal", err, errlen))
		goto out;
	if (fsync_dir(s->datadir) || fsync_dir(qdir)) {
		snprintf(err, errlen, "fsync %s: %s", s->datadir, strerror(errno));
		goto out;
	}
	log_event(LOG_ERROR, "site.store_quarantined", "{s:s, s:s}", "reason", why,
		  "quarantine", dir);
	kv_free(s->kv);
	s->kv = kv_new();
	s->replayed = (struct role_state){ 0 };
	rc = s->kv ? 0 : (snprintf(err, errlen, "out of memory"), -1);
out:
	free(qdir);
	free(dir);
	return rc;
}

/* Records that this site lacks records have+1..need of its epoch; a
 * primary stops being one (it is fenced at its epoch, read-only).  known:
 * need is evidence (an LSN its files showed); otherwise, and whenever need
 * is not beyond have, need_lsn is have + 1, a marker that it lacks what it
 * cannot tell (need_unknown). */
static void note_behind(struct site *s, uint64_t have, uint64_t need, bool known,
			const char *why)
{
	struct role_state *r = &s->role;
	known = known && need > have;
	r->behind = (struct behind_record){ .epoch = r->epoch, .have_lsn = have,
					    .need_lsn = known ? need : have + 1,
					    .need_unknown = !known };
	snprintf(r->behind.why, sizeof(r->behind.why), "%s", why);
	if (r->role == ROLE_PRIMARY)
		r->role = ROLE_FENCED;
	log_event(LOG_ERROR, "site.behind", "{s:I, s:I, s:I, s:b, s:s}", "epoch",
		  (json_int_t)r->epoch, "have_lsn", (json_int_t)have,
		  "need_lsn", (json_int_t)r->behind.need_lsn, "need_known", known, "why", why);
}

/* Loads the store; an incomplete one of a site that has had a role (or
 * lost its state.json) is quarantined and the site starts empty.  A
 * standalone site has no other copy: it refuses to start. */
static int load_store(struct site *s, char *err, size_t errlen)
{
	int rc = site_load(s, err, errlen);
	if (rc != SITE_INCOMPLETE)
		return rc;
	if (!s->had_role && !s->meta_missing) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, "; a standalone site has no other copy of its data: "
			 "restore the data dir from a backup");
		return -1;
	}
	char why[300];
	snprintf(why, sizeof(why), "%s", err);
	/* How far the lost store went, before it is moved away: what this site
	 * lacks, and evidence for an election of how far the log went. */
	uint64_t wal_ev = wal_dir_evidence(s->datadir), snap_ev = snap_newest_named(s->datadir);
	s->store_lost_lsn = wal_ev > snap_ev ? wal_ev : snap_ev;
	if (quarantine_store(s, why, err, errlen) != 0 || site_load(s, err, errlen) != 0)
		return -1;
	s->store_lost = true;
	snprintf(s->store_lost_why, sizeof(s->store_lost_why), "store incomplete at start-up, "
		 "moved to quarantine: %.100s", why);
	return 0;
}

/* Whether the data dir shows a past: a quarantine (of a rewind, a torn
 * WAL tail or a lost store) or a state.json set aside.  Only a data dir
 * without any is fresh. */
static bool has_past(struct site *s)
{
	static const char *const traces[] = { "quarantine", "wal/quarantine", NULL };
	char path[ROLE_PATH_MAX + 32];
	for (int i = 0; traces[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->datadir, traces[i]);
		if (access(path, F_OK) == 0)
			return true;
	}
	DIR *d = opendir(s->datadir);
	struct dirent *e;
	bool found = false;
	while (d && !found && (e = readdir(d)))
		found = strncmp(e->d_name, "state.json.damaged-", 19) == 0;
	if (d)
		closedir(d);
	return found;
}

/*
 * After the store is loaded: a site without state.json whose store holds
 * records (or whose data dir shows a past: has_past) lost its metadata: it comes back fenced (read-only) at the
 * newest epoch its log shows, with the history its records show, until the
 * orchestrator gives it a role; a site without state.json and without
 * data is a fresh standalone site.  A damaged WAL or a lost store means
 * the site lacks records (behind).  state.json is written if any of this
 * changed it (and at a first start, for the FCV).
 */
static int settle_role(struct site *s, char *err, size_t errlen)
{
	struct wal_stats ws;
	struct wal_damage dmg;
	wal_get_stats(s->wal, &ws);
	wal_get_damage(s->wal, &dmg);
	struct role_state *r = &s->role;
	bool save = s->meta_missing || !s->fcv_saved;
	if (s->meta_missing && (ws.last_lsn > 0 || s->store_lost || has_past(s))) {
		r->role = ROLE_FENCED;
		for (int i = 0; i < s->replayed.nhistory; i++)
			role_history_add(r, s->replayed.history[i].epoch,
					 s->replayed.history[i].first_lsn);
		r->epoch = r->nhistory ? r->history[r->nhistory - 1].epoch : 0;
		if (!version_parse(ROLE_FCV_BASELINE, &r->fcv))
			r->fcv = s->opts.binary;
		s->had_role = true;
		s->confirmed = false;
		log_event(LOG_ERROR, "site.metadata_lost", "{s:I, s:I, s:s}", "epoch",
			  (json_int_t)r->epoch, "last_lsn", (json_int_t)ws.last_lsn, "action",
			  "read-only (fenced) until the orchestrator gives this site a role");
		/* What it knew it lacked went with state.json: never the source of
		 * truth at the epoch it shows again. */
		note_behind(s, ws.last_lsn, 0, false, "state.json lost: what this site "
			    "lacked before is unknown");
	}
	if (dmg.kind == WAL_DAMAGED) {
		char why[160];
		snprintf(why, sizeof(why), "WAL damaged at lsn %" PRIu64 " (segment %" PRIu64
			 ", offset %" PRIu64 ")", dmg.first_lost_lsn, dmg.segment_first_lsn,
			 dmg.offset);
		note_behind(s, ws.last_lsn, dmg.evidence_lsn, true, why);
		save = true;
	}
	if (s->store_lost) {
		note_behind(s, 0, s->store_lost_lsn, true, s->store_lost_why);
		save = true;
	}
	return save ? role_save(s->datadir, r, err, errlen) : 0;
}

/* Reads the bearer token: the file's first line, without trailing space. */
static int load_token(struct site *s, char *err, size_t errlen)
{
	if (!s->opts.token_file)
		return 0;
	char line[512];
	if (auth_read_token(s->opts.token_file, line, sizeof(line), err, errlen) != 0)
		return -1;
	s->token = strdup(line);
	return s->token ? 0 : -1;
}

/*
 * The rollback guard and the first FCV.  Once the cluster has finalized a
 * version, an older binary must not run on its data: it may not read what
 * the newer format wrote.  A site that never had an FCV (its first start,
 * or a state.json from before FCVs) takes its binary version; settle_role
 * writes it down.
 */
static int check_fcv(struct site *s, char *err, size_t errlen)
{
	char fcv[ROLE_VERSION_MAX], bin[ROLE_VERSION_MAX];
	version_text(&s->opts.binary, bin, sizeof(bin));
	if (s->role.has_fcv && version_cmp(&s->role.fcv, &s->opts.binary) > 0) {
		snprintf(err, errlen, "data dir %s is at fcv %s, above this binary's version %s: "
			 "a finalized upgrade cannot be rolled back; run a binary >= %s",
			 s->datadir, version_text(&s->role.fcv, fcv, sizeof(fcv)), bin, fcv);
		return -1;
	}
	s->fcv_saved = s->role.has_fcv;
	if (s->role.has_fcv)
		return 0;
	s->role.fcv = s->opts.binary;
	s->role.has_fcv = true;
	log_event(LOG_INFO, "site.fcv_initialised", "{s:s}", "fcv", bin);
	return 0;
}

/* Moves a state.json that cannot be parsed aside (never deleted): the
 * site then starts as one whose metadata was lost. */
static int set_aside_state(struct site *s, const char *why, char *err, size_t errlen)
{
	char *from = NULL, *to = NULL;
	int rc = -1;
	if (asprintf(&from, "%s/state.json", s->datadir) < 0 ||
	    asprintf(&to, "%s/state.json.damaged-%" PRIu64, s->datadir, time_wall_ms()) < 0)
		snprintf(err, errlen, "out of memory");
	else if (rename(from, to) != 0 || fsync_dir(s->datadir) != 0)
		snprintf(err, errlen, "set aside %s: %s", from, strerror(errno));
	else
		rc = 0;
	if (rc == 0)
		log_event(LOG_ERROR, "site.state_damaged", "{s:s, s:s}", "error", why,
			  "moved_to", to);
	free(from);
	free(to);
	return rc;
}

static int load_role(struct site *s, char *err, size_t errlen)
{
	bool had_role, present;
	int rc = role_load(s->datadir, &s->role, &had_role, &present, err, errlen);
	if (rc == ROLE_DAMAGED) {
		char why[400];
		snprintf(why, sizeof(why), "%s", err);
		if (set_aside_state(s, why, err, errlen) != 0)
			return -1;
		memset(&s->role, 0, sizeof(s->role));
		s->role.quorum = 1;
		had_role = present = false;
	} else if (rc != 0) {
		return -1;
	}
	if (check_fcv(s, err, errlen) != 0)
		return -1;
	s->meta_missing = !present;
	s->had_role = had_role;
	s->confirmed = !had_role;  /* a site that has had a role waits to be confirmed */
	if (had_role)
		log_event(LOG_INFO, "site.role_restored", "{s:s, s:I, s:b}", "role",
			  role_name(s->role.role), "epoch", (json_int_t)s->role.epoch,
			  "writable", 0);
	return 0;
}

static void site_free(struct site *s)
{
	wal_close(s->wal);
	kv_free(s->kv);
	site_metrics_free(s->metrics);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	pthread_mutex_destroy(&s->cp_mu);
	pthread_mutex_destroy(&s->cp_run_mu);
	pthread_cond_destroy(&s->cp_cv);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->role_cv);
	free(s->token);
	free(s->name);
	free(s->datadir);
	free(s);
}

int site_open(struct site **out, const struct site_opts *opts, char *err, size_t errlen)
{
	struct site *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->opts = *opts;
	s->lock_fd = -1;
	s->follow.state = "idle";
	pthread_mutex_init(&s->cp_mu, NULL);
	pthread_mutex_init(&s->cp_run_mu, NULL);
	pthread_cond_init(&s->cp_cv, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->role_cv, NULL);
	if (!(s->name = strdup(opts->name)) || !(s->datadir = strdup(opts->datadir)) ||
	    !(s->kv = kv_new()) || !(s->metrics = site_metrics_new()))
		goto oom;
	s->boot_id = random_u64();
	s->lease_replicas = 1;
	s->lease_ms = opts->lease_ms;
	if (load_token(s, err, errlen) != 0 || lock_datadir(s, err, errlen) != 0 ||
	    load_role(s, err, errlen) != 0 || rewind_resume(s, err, errlen) != 0 ||
	    load_store(s, err, errlen) != 0 || settle_role(s, err, errlen) != 0)
		goto fail;
	wal_set_format(s->wal, format_for_fcv(&s->role.fcv));
	pthread_mutex_lock(&s->mu);
	site_gate_locked(s);  /* the role from state.json decides who may append */
	pthread_mutex_unlock(&s->mu);
	int rc = pthread_create(&s->checkpointer, NULL, checkpointer_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "start checkpointer: %s", strerror(rc));
		goto fail;
	}
	if (repl_follower_start(s, err, errlen) != 0) {
		pthread_mutex_lock(&s->cp_mu);
		s->cp_stop = true;
		pthread_cond_signal(&s->cp_cv);
		pthread_mutex_unlock(&s->cp_mu);
		pthread_join(s->checkpointer, NULL);
		goto fail;
	}
	*out = s;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	if (s)
		site_free(s);
	return -1;
}

void site_close(struct site *s)
{
	if (!s)
		return;
	repl_follower_stop(s);
	pthread_mutex_lock(&s->cp_mu);
	s->cp_stop = true;
	pthread_cond_signal(&s->cp_cv);
	pthread_mutex_unlock(&s->cp_mu);
	pthread_join(s->checkpointer, NULL);
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	if (ws.flushed_lsn > s->cp_lsn)
		site_checkpoint(s);  /* makes the next start-up replay nothing */
	site_free(s);
}

/* ---- HTTP API ----------------------------------------------------------------- */

#define KV_PREFIX "/v1/kv/"

static bool key_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Validates the key of a /v1/kv/ path (percent-decoded, so any byte but
 * NUL, which http.c refuses before any route); sets the error if bad. */
static bool key_valid(const char *key, size_t len, struct http_resp *resp)
{
	if (len == 0) {
		http_resp_error(resp, 400, "missing key: use /v1/kv/{key}");
		return false;
	}
	if (len > WAL_MAX_KEY) {
		http_resp_error(resp, 413, "key is %zu bytes; the limit is %u", len, WAL_MAX_KEY);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if (!key_char_ok((unsigned char)key[i])) {
			http_resp_error(resp, 400, "key has a byte (0x%02x at offset %zu, after "
					"percent-decoding) outside A-Z a-z 0-9 - _ . ~",
					(unsigned char)key[i], i);
			return false;
		}
	return true;
}

/* The stall_writes fault: hold the write (up to 60 s) until it is cleared. */
static void stall_if_injected(struct site *s)
{
	for (int i = 0; i < 6000; i++) {
		pthread_mutex_lock(&s->mu);
		bool stalled = s->faults.stall_writes && !s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (!stalled)
			return;
		time_sleep_ms(10);
	}
}

/* Checks that this site may take a new write (fresh), or acknowledge one
 * already in its log, now; answers 503 if not.  A pause refuses new writes
 * only: one that reached the log before it is acknowledged as usual. */
static bool admit_write(struct site *s, bool fresh, uint64_t *epoch, bool *replicated,
			struct http_resp *resp)
{
	char why[300];
	pthread_mutex_lock(&s->mu);
	uint64_t now = time_mono_ms();
	bool ok = fresh ? site_admits_writes_locked(s, now, why, sizeof(why))
			: site_writable_locked(s, now, why, sizeof(why));
	*epoch = s->role.epoch;
	*replicated = s->role.role == ROLE_PRIMARY && s->role.mode != MODE_ASYNC;
	const char *primary = s->role.role == ROLE_REPLICA ? s->role.primary : NULL;
	if (!ok && primary && primary[0])
		http_resp_header(resp, "X-Drorch-Primary", primary);
	pthread_mutex_unlock(&s->mu);
	if (!ok)
		http_resp_error(resp, 503, "write refused: %s", why);
	return ok;
}

/*
 * Appends one record and answers once it is acknowledged: durable here, and
 * for a primary in sync or remote_apply mode, held by its quorum of
 * replicas.  The role is checked again before answering: a primary whose
 * lease ran out while it waited, or whose epoch moved, does not
 * acknowledge, and one whose mode became sync or remote_apply meanwhile
 * waits for that quorum too.  s->mu is not held across wal_append: the
 * WAL's write gate refuses the record if the role changed in between.
 */
/* The second admission, after the record is durable (and replicated if
 * that was asked); 0, or -1 with a 503 set. */
static int recheck_write(struct site *s, uint64_t lsn, uint64_t epoch, bool replicated,
			 struct http_resp *resp)
{
	char err[300];
	for (;;) {
		uint64_t epoch_now;
		bool replicated_now;
		if (!admit_write(s, false, &epoch_now, &replicated_now, resp))
			return -1;
		if (epoch_now != epoch) {
			http_resp_error(resp, 503, "write not acknowledged: epoch moved from %"
					PRIu64 " to %" PRIu64 " while it was in flight", epoch,
					epoch_now);
			return -1;
		}
		if (!replicated_now || replicated)
			return 0;
		replicated = true;  /* the mode became sync or remote_apply meanwhile */
		if (repl_wait_quorum(s, lsn, epoch, err, sizeof(err)) != 0) {
			http_resp_error(resp, 503, "write not acknowledged: %s", err);
			return -1;
		}
	}
}

static void kv_write(struct site *s, uint8_t type, const char *key, size_t klen,
		     const char *value, size_t vlen, struct http_resp *resp)
{
	if (vlen > WAL_MAX_VALUE) {
		http_resp_error(resp, 413, "value is %zu bytes; the limit is %u", vlen, WAL_MAX_VALUE);
		return;
	}
	uint64_t epoch, lsn, started_ns = time_mono_ns();
	bool replicated;
	stall_if_injected(s);
	if (!admit_write(s, true, &epoch, &replicated, resp))
		return;
	char err[300];
	if (wal_append(s->wal, type, epoch, key, (uint32_t)klen, value, (uint32_t)vlen,
		       &lsn, err, sizeof(err)) != 0 ||
	    wal_wait(s->wal, lsn, err, sizeof(err)) != 0 ||
	    (replicated && repl_wait_quorum(s, lsn, epoch, err, sizeof(err)) != 0)) {
		http_resp_error(resp, 503, "write not acknowledged: %s", err);
		return;
	}
	if (recheck_write(s, lsn, epoch, replicated, resp) != 0)
		return;
	if (type == WAL_PUT)
		site_metrics_put_acked(s, started_ns);
	http_resp_json(resp, 200, json_pack("{s:I, s:I}", "lsn", (json_int_t)lsn,
					    "epoch", (json_int_t)epoch));
}

static void kv_read(struct site *s, const char *key, size_t klen, struct http_resp *resp)
{
	char *value = NULL;
	uint32_t vlen = 0;
	uint64_t lsn = 0;
	switch (kv_get(s->kv, key, (uint32_t)klen, &value, &vlen, &lsn)) {
	case KV_NOT_FOUND:
		http_resp_error(resp, 404, "no such key");
		return;
	case KV_CORRUPT:
		log_event(LOG_ERROR, "kv.corrupt", "{s:s%}", "key", key, klen);
		http_resp_error(resp, 500, "stored value failed its CRC check; not served");
		return;
	case KV_NOMEM:
		http_resp_error(resp, 503, "out of memory");
		return;
	case KV_FOUND:
		break;
	}
	free(resp->body);
	resp->body = value;
	resp->body_len = vlen;
	resp->status = 200;
	resp->content_type = "application/octet-stream";
	char num[32];
	snprintf(num, sizeof(num), "%" PRIu64, lsn);
	http_resp_header(resp, "X-Drorch-Lsn", num);
	struct kv_info ki;
	kv_get_info(s->kv, &ki);
	snprintf(num, sizeof(num), "%" PRIu64, ki.applied_lsn);
	http_resp_header(resp, "X-Drorch-Applied-Lsn", num);
}

static void route_kv(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	const char *key = req->path + strlen(KV_PREFIX);
	size_t klen = strlen(key);
	if (!key_valid(key, klen, resp))
		return;
	if (strcmp(req->method, "PUT") == 0)
		kv_write(s, WAL_PUT, key, klen, req->body, req->body_len, resp);
	else if (strcmp(req->method, "DELETE") == 0)
		kv_write(s, WAL_DELETE, key, klen, NULL, 0, resp);
	else if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
		kv_read(s, key, klen, resp);
	else
		http_resp_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
}

/* What replay dropped at open: {"kind":"torn"|"damaged","first_lost_lsn",
 * "evidence_lsn","segment_first_lsn","offset"}, or JSON null. */
static json_t *damage_json(struct site *s)
{
	struct wal_damage d;
	wal_get_damage(s->wal, &d);
	if (d.kind == WAL_INTACT)
		return json_null();
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind", d.kind == WAL_TORN ? "torn" : "damaged",
			 "first_lost_lsn", (json_int_t)d.first_lost_lsn,
			 "evidence_lsn", (json_int_t)d.evidence_lsn,
			 "segment_first_lsn", (json_int_t)d.segment_first_lsn,
			 "offset", (json_int_t)d.offset);
}

static json_t *wal_json(struct site *s)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	return json_pack("{s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:b, s:o}",
			 "last_epoch", (json_int_t)ws.last_epoch,
			 "writes", (json_int_t)ws.records, "fsyncs", (json_int_t)ws.fsyncs,
			 "fsyncs_per_write", ws.records ? (double)ws.fsyncs / (double)ws.records : 0.0,
			 "bytes", (json_int_t)ws.bytes, "segments", (json_int_t)ws.segments,
			 "oldest_lsn", (json_int_t)ws.oldest_lsn,
			 "truncated_bytes_at_open", (json_int_t)ws.truncated_bytes,
			 "failed", ws.failed, "damage_at_open", damage_json(s));
}

static json_t *checkpoint_json(struct site *s)
{
	pthread_mutex_lock(&s->cp_mu);
	json_t *cp = json_pack("{s:I, s:I, s:I}", "lsn", (json_int_t)s->cp_lsn,
			       "count", (json_int_t)s->cp_count,
			       "last_ms", (json_int_t)s->cp_last_ms);
	pthread_mutex_unlock(&s->cp_mu);
	return cp;
}

/* The role part of /v1/status, under s->mu. */
static json_t *role_json_locked(struct site *s, uint64_t now)
{
	const struct role_state *r = &s->role;
	char why[300];
	bool writable = site_admits_writes_locked(s, now, why, sizeof(why));
	json_t *j = json_pack("{s:s, s:b, s:I, s:b, s:s, s:b, s:s, s:i, s:I, s:o}",
			      "role", r->role == ROLE_STANDALONE ? "primary" : role_name(r->role),
			      "standalone", r->role == ROLE_STANDALONE,
			      "epoch", (json_int_t)r->epoch, "writable", writable,
			      "writes", s->writes_paused ? "paused" : "open",
			      "confirmed", s->confirmed, "mode", role_mode_name(r->mode),
			      "quorum", r->quorum, "lease_ms", (json_int_t)s->lease_ms,
			      "epoch_history", role_history_json(r));
	if (!j)
		return json_object();
	if (!writable)
		json_object_set_new(j, "not_writable_because", json_string(why));
	if (r->last_rewind.epoch)
		json_object_set_new(j, "last_rewind", role_rewind_json(&r->last_rewind));
	if (r->behind.need_lsn)
		json_object_set_new(j, "behind", role_behind_json(&r->behind));
	char nonce[SITE_NONCE_MAX];
	site_nonce(s, nonce, sizeof(nonce));
	json_object_set_new(j, "lease_nonce", json_string(nonce));
	json_object_set_new(j, "lease_replicas", json_integer(s->lease_replicas));
	json_object_set_new(j, "lease_max_ms", json_integer((json_int_t)s->opts.lease_ms));
	json_object_set_new(j, "orch_term", json_integer((json_int_t)s->orch_term));
	if (r->role == ROLE_REPLICA) {
		json_object_set_new(j, "primary", json_string(r->primary));
		json_object_set_new(j, "replication", repl_follow_json(s));
	}
	json_object_set_new(j, "peers", repl_peers_json(s));
	if (s->opts.enable_faults)
		json_object_set_new(j, "faults", site_faults_json_locked(s));
	return j;
}

static json_t *status_json(struct site *s)
{
	struct wal_stats ws;
	struct kv_info ki;
	wal_get_stats(s->wal, &ws);
	kv_get_info(s->kv, &ki);
	char bin[ROLE_VERSION_MAX], fcv[ROLE_VERSION_MAX];
	version_text(&s->opts.binary, bin, sizeof(bin));
	pthread_mutex_lock(&s->mu);
	json_t *j = role_json_locked(s, time_mono_ms());
	version_text(&s->role.fcv, fcv, sizeof(fcv));
	pthread_mutex_unlock(&s->mu);
	json_t *formats = json_array();
	for (int f = 1; f <= DRSITE_FORMAT_MAX; f++)
		json_array_append_new(formats, json_integer(f));
	json_t *base = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:i, s:I, s:o, s:I, s:o, s:o}",
				 "name", s->name, "lsn", (json_int_t)ws.last_lsn,
				 "flushed_lsn", (json_int_t)ws.flushed_lsn,
				 "applied_lsn", (json_int_t)ki.applied_lsn,
				 "version", bin, "fcv", fcv, "format", (int)ws.write_format,
				 "last_commit_ms", (json_int_t)ws.last_commit_ms,
				 "formats", formats,
				 "keys", (json_int_t)ki.keys, "wal", wal_json(s),
				 "checkpoint", checkpoint_json(s));
	json_object_update(base, j);
	json_decref(j);
	return base;
}

/* Healthy while the WAL can still make writes durable. */
static void health(struct site *s, struct http_resp *resp)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	if (ws.failed)
		http_resp_json(resp, 503, json_pack("{s:s, s:s, s:s}", "status", "failed",
						    "name", s->name, "error", "WAL cannot sync"));
	else
		http_resp_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "name", s->name));
}

/* Patroni's load-balancer convention: 200 only on a writable primary (one
 * whose writes are paused for a switchover is not). */
static void lb_primary(struct site *s, struct http_resp *resp)
{
	char why[300];
	pthread_mutex_lock(&s->mu);
	bool ok = site_admits_writes_locked(s, time_mono_ms(), why, sizeof(why));
	pthread_mutex_unlock(&s->mu);
	if (ok)
		http_resp_json(resp, 200, json_pack("{s:s, s:s}", "role", "primary", "name", s->name));
	else
		http_resp_error(resp, 503, "not a writable primary: %s", why);
}

/* 200 on a replica whose replay is within ?lag=MS of its primary. */
static void lb_replica(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	const char *q = http_req_query(req, "lag");
	uint64_t max_lag = UINT64_MAX;
	if (q && decimal_u64(q, &max_lag) != DECIMAL_OK) {
		http_resp_error(resp, 400, "lag must be a number of milliseconds");
		return;
	}
	pthread_mutex_lock(&s->mu);
	bool replica = s->role.role == ROLE_REPLICA;
	json_t *f = replica ? repl_follow_json(s) : NULL;
	pthread_mutex_unlock(&s->mu);
	json_int_t lag = f ? json_integer_value(json_object_get(f, "lag_ms")) : 0;
	if (!replica)
		http_resp_error(resp, 503, "not a replica");
	else if ((uint64_t)lag > max_lag)
		http_resp_error(resp, 503, "replica lag %lld ms exceeds %" PRIu64 " ms", (long long)lag, max_lag);
	else
		http_resp_json(resp, 200, json_pack("{s:s, s:I}", "role", "replica", "lag_ms", lag));
	json_decref(f);
}

static bool is(const struct http_req *req, const char *method, const char *path)
{
	return strcmp(req->method, method) == 0 && strcmp(req->path, path) == 0;
}

void site_http_handler(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct site *s = ctx;
	if (strncmp(req->path, KV_PREFIX, strlen(KV_PREFIX)) == 0)
		route_kv(s, req, resp);
	else if (strcmp(req->path, "/v1/kv") == 0)
		http_resp_error(resp, 400, "missing key: use /v1/kv/{key}");
	else if (is(req, "GET", "/v1/status")) {
		admin_learn_term(s, req);
		http_resp_json(resp, 200, status_json(s));
	}
	else if (is(req, "GET", "/healthz"))
		health(s, resp);
	else if (is(req, "GET", "/metrics"))
		site_metrics_render(s, resp);
	else if (is(req, "GET", "/primary"))
		lb_primary(s, resp);
	else if (is(req, "GET", "/replica"))
		lb_replica(s, req, resp);
	else if (strncmp(req->path, "/v1/admin/", 10) == 0)
		admin_route(s, req, resp);
	else if (is(req, "GET", "/v1/wal"))
		repl_route_wal(s, req, resp);
	else if (is(req, "GET", "/v1/wal/vouch"))
		repl_route_vouch(s, req, resp);
	else if (is(req, "GET", "/v1/snapshot"))
		repl_route_snapshot(s, req, resp);
	else if (!strcmp(req->path, "/v1/status") || !strcmp(req->path, "/healthz") ||
		 !strcmp(req->path, "/v1/wal") || !strcmp(req->path, "/v1/wal/vouch") ||
		 !strcmp(req->path, "/v1/snapshot"))
		http_resp_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
	else
		http_resp_error(resp, 404, "no route for %s %s", req->method, req->path);
}
