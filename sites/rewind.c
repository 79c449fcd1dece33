/*
 * rewind.c — failback: a replica whose log diverged from its primary's
 * moves its divergent records to a quarantine file and takes the primary's
 * history, so that it can stream from it again.
 *
 *   POST /v1/admin/rewind {"epoch": E}          (site token)
 *   200 {"quarantine": PATH, "records": N, "from_lsn": D, "epoch": E, "at_ms": T,
 *        "from_epoch": F}  (F: the epoch of the record at D, when known)
 *
 * WHEN.  Only on a replica at epoch E whose primary refused its log as
 * diverged (a 409 naming diverged_lsn: repl.c).  An older epoch answers
 * 409; a newer one fences the site, as a heartbeat of that epoch would, and
 * answers 409; a site that is not refused for divergence answers 409 and
 * says why (nothing to rewind, or not a replica), as does a site whose
 * rewind is already under way.
 *
 * WHERE THE LOGS PART (D).  The lowest of: the LSN the primary's 409
 * answers named (the follower keeps the lowest); the first LSN of the
 * first epoch in the primary's epoch history (GET /v1/status,
 * epoch_history) newer than the epoch of this site's last record, since
 * from there on the primary's records belong to an epoch this site never
 * wrote in; and the first LSN at which the two epoch histories disagree
 * (this site wrote in an epoch the primary never had, say as a primary
 * that a failover to a site behind it left out).  Every record this site
 * holds from D on is divergent.  (An incomplete history, as a replica that
 * installed a snapshot across an epoch's start has, can only make D lower:
 * more is exported, nothing is lost.  Two logs can also part inside one
 * epoch, when a primary restarts without records it had shipped but never
 * made durable; those records were never acknowledged, and the primary's
 * 409 names where its CRC check failed.)
 *
 * WHAT IS EXPORTED.  Every record this site holds with LSN >= D, in LSN
 * order, one JSON object per line, to DATA/quarantine/diverged-E-D.jsonl:
 *
 *   {"lsn":N,"epoch":P,"type":"put"|"delete","key":"...","value":"<base64>",
 *    "crc":C,"source":"wal"|"checkpoint"}
 *
 * - "wal": a record still in the WAL (LSN >= its oldest LSN), exactly as
 *   stored; crc is its CRC-32C, as JSON framing ships it (repl.c).
 * - "checkpoint": a record a checkpoint has already folded (D <= LSN < the
 *   WAL's oldest LSN).  The map keeps, per key, the value and the LSN of
 *   the last record that wrote it; each entry with an LSN in that range is
 *   exported as a put at that LSN, its epoch taken from this site's epoch
 *   history, its crc that of the record so re-encoded.  What a checkpoint
 *   folded away leaves no trace and cannot be exported: a delete in that
 *   range, or a put that a later record of that range overwrote.
 *
 * The same state always gives the same bytes (no timestamps in the file).
 *
 * STEPS, each durable before the next:
 *   1. The quarantine file: written under a temporary name, fsync'd,
 *      renamed, its directory fsync'd.  If the file exists already (an
 *      earlier attempt crashed after this step) the new export must be the
 *      same bytes, or the rewind stops with 409 and removes nothing.
 *   2. The primary's snapshot is downloaded (GET /v1/snapshot; nothing
 *      local is touched yet).
 *   3. The intent, DATA/rewind.json: the answer, the primary and its epoch
 *      history, written atomically.  From here on the rewind is committed.
 *   4. The snapshot is installed by the replica catch-up path (repl.c):
 *      the snapshot files are replaced and the WAL restarts after it.
 *   5. state.json takes the primary's epoch history and last_rewind.
 *   6. rewind.json is removed.
 *
 * CRASHES.  Killed before step 3, the site restarts with its old state,
 * still refused, and a new rewind writes the same quarantine file.  Killed
 * from step 3 on, the restart finds rewind.json before it loads anything
 * (rewind_resume): it removes every snapshot and WAL segment (the old state
 * or a half-installed one, never served), does step 5 and 6, and starts
 * empty; the follower then catches up from the primary (by streaming, or
 * a snapshot once the primary's log no longer starts at LSN 1).  So a
 * restarted site serves either its old state or the primary's history,
 * never a mix.  The quarantine file is never touched after step 1, and
 * rewind_resume refuses to discard anything if it is missing.
 *
 * TEST HOOK.  DRORCH_TEST_REWIND_CRASH=after_quarantine|after_intent|
 * after_install makes drsite kill itself (SIGKILL) right after that step:
 * the crash tests in tests/check_repl.c use it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "format.h"
#include "site_internal.h"
#include "snapshot.h"
#include "timeutil.h"

#define REWIND_INTENT "rewind.json"
#define REWIND_READ_BYTES (1u << 20)

struct rewind {
	uint64_t epoch;                /* E */
	char primary[ROLE_ADDR_MAX];
	uint64_t diverged_lsn;         /* the lowest LSN the primary's 409s named */
	struct role_state mine;        /* this site's role state when it began */
	struct role_state theirs;      /* only history: the primary's epoch history */
	struct rewind_record result;
	uint64_t from_wal, from_checkpoint;
};

static void crash_point(const char *step)
{
	const char *at = getenv("DRORCH_TEST_REWIND_CRASH");
	if (!at || strcmp(at, step) != 0)
		return;
	log_event(LOG_WARN, "rewind.test_crash", "{s:s}", "after", step);
	kill(getpid(), SIGKILL);
}

/* ================================================================ admission */

/* The epoch rules and the role; under s->mu.  0 or an HTTP status. */
static int check_role_locked(struct site *s, uint64_t epoch, char *err, size_t errlen)
{
	const struct role_state *r = &s->role;
	if (epoch < r->epoch) {
		snprintf(err, errlen, "stale epoch %" PRIu64 ": this site is at epoch %" PRIu64,
			 epoch, r->epoch);
		return 409;
	}
	if (epoch > r->epoch) {
		uint64_t was = r->epoch;
		site_learn_epoch_locked(s, epoch, "orchestrator rewind");
		snprintf(err, errlen, "this site was at epoch %" PRIu64 "; fenced at epoch %"
			 PRIu64 " until it is given a role", was, epoch);
		return 409;
	}
	if (r->role != ROLE_REPLICA) {
		snprintf(err, errlen, "only a replica refused by its primary can be rewound; this "
			 "site is %s at epoch %" PRIu64, role_name(r->role), r->epoch);
		return 409;
	}
	return 0;
}

/* Whether its primary refused this site's log as diverged; under s->mu.
 * 0 or 409 saying why not. */
static int check_diverged_locked(struct site *s, uint64_t epoch, char *err, size_t errlen)
{
	const struct role_state *r = &s->role;
	const struct follow_status *f = &s->follow;
	if (f->diverged_lsn && f->diverged_epoch == epoch &&
	    strcmp(f->diverged_primary, r->primary) == 0)
		return 0;
	int n = snprintf(err, errlen, "nothing to rewind: %s has not refused this site's log "
			 "as diverged at epoch %" PRIu64 " (replication state %s)", r->primary,
			 epoch, f->state);
	if (r->last_rewind.epoch == epoch && n > 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, "; this site was rewound at epoch %" PRIu64
			 " already: %s", epoch, r->last_rewind.quarantine);
	return 409;
}

static void unpark_locked(struct site *s)
{
	s->rewinding = false;
	pthread_cond_broadcast(&s->role_cv);
}

/*
 * Checks that this site may be rewound at epoch, then parks the follower
 * (s->rewinding) and waits for its round in flight to end; checks again,
 * since a role command may have come meanwhile.  Under s->mu.  0 with rw
 * filled, or an HTTP status with err[].
 */
static int begin_locked(struct site *s, uint64_t epoch, struct rewind *rw,
			char *err, size_t errlen)
{
	int status = check_role_locked(s, epoch, err, errlen);
	if (status)
		return status;
	if (s->rewinding) {
		snprintf(err, errlen, "a rewind is already under way");
		return 409;
	}
	s->rewinding = true;
	while (s->follow.in_round)
		pthread_cond_wait(&s->role_cv, &s->mu);
	status = check_role_locked(s, epoch, err, errlen);
	if (!status)
		status = check_diverged_locked(s, epoch, err, errlen);
	if (status) {
		unpark_locked(s);
		return status;
	}
	rw->epoch = epoch;
	rw->diverged_lsn = s->follow.diverged_lsn;
	snprintf(rw->primary, sizeof(rw->primary), "%s", s->role.primary);
	rw->mine = s->role;
	return 0;
}

/* Unparks the follower. */
static void unpark(struct site *s)
{
	pthread_mutex_lock(&s->mu);
	unpark_locked(s);
	pthread_mutex_unlock(&s->mu);
}

/* ================================================================ where the logs part */

/* Reads the primary's epoch history from its status; 0, or an HTTP status. */
static int fetch_history(struct site *s, struct httpc *c, struct rewind *rw,
			 char *err, size_t errlen)
{
	char url[ROLE_ADDR_MAX + 32], why[300];
	struct httpc_resp r;
	snprintf(url, sizeof(url), "http://%s/v1/status", rw->primary);
	if (httpc_request(c, "GET", url, NULL, NULL, 0, 5000, &r, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "primary %s: status: %s", rw->primary, why);
		return 503;
	}
	json_t *j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	const char *role = json_string_value(json_object_get(j, "role"));
	json_int_t epoch = json_integer_value(json_object_get(j, "epoch"));
	int status = 0;
	if (!j) {
		snprintf(err, errlen, "primary %s: status: HTTP %ld: %.200s", rw->primary,
			 r.status, r.body);
		status = 503;
	} else if (!role || strcmp(role, "primary") != 0 || (uint64_t)epoch != rw->epoch) {
		snprintf(err, errlen, "%s is %s at epoch %lld, not the primary at epoch %" PRIu64,
			 rw->primary, role ? role : "?", (long long)epoch, rw->epoch);
		status = 409;
	} else if (role_history_load(json_object_get(j, "epoch_history"), &rw->theirs) != 0) {
		snprintf(err, errlen, "primary %s: malformed epoch_history", rw->primary);
		status = 503;
	}
	json_decref(j);
	httpc_resp_free(&r);
	return status;
}

/*
 * The lowest LSN at which two epoch histories disagree: both know the
 * epoch written there and it differs.  Each history is a step function of
 * the LSN, so the first disagreement is at one of their entries.
 * UINT64_MAX when they agree wherever both know.
 */
static uint64_t histories_part(const struct role_state *a, const struct role_state *b)
{
	uint64_t part = UINT64_MAX;
	for (int k = 0; k < 2; k++) {
		const struct role_state *h = k ? b : a;
		for (int i = 0; i < h->nhistory; i++) {
			uint64_t lsn = h->history[i].first_lsn, ea, eb;
			if (lsn < part && role_epoch_at(a, lsn, &ea) && role_epoch_at(b, lsn, &eb) &&
			    ea != eb)
				part = lsn;
		}
	}
	return part;
}

/* D: the first LSN whose record is not the primary's (see the top). */
static uint64_t divergence_lsn(const struct rewind *rw, uint64_t last_epoch)
{
	uint64_t d = rw->diverged_lsn, part = histories_part(&rw->mine, &rw->theirs);
	const struct role_state *t = &rw->theirs;
	for (int i = 0; i < t->nhistory; i++)
		if (t->history[i].epoch > last_epoch) {
			if (t->history[i].first_lsn < d)
				d = t->history[i].first_lsn;
			break;
		}
	return part < d ? part : d;
}

/* ================================================================ the export */

/* One quarantine line: the record as JSON framing ships it, and its source. */
static int write_line(int fd, json_t *rec, const char *source)
{
	char *text = NULL;
	int rc = -1;
	if (rec && json_object_set_new(rec, "source", json_string(source)) == 0 &&
	    (text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		rc = write_all(fd, text, strlen(text)) == 0 && write_all(fd, "\n", 1) == 0 ? 0 : -1;
	free(text);
	json_decref(rec);
	return rc;
}

/* A map entry that a checkpoint folded: key and value copied. */
struct folded {
	uint64_t lsn;
	char *key;                 /* key bytes, then value bytes, one allocation */
	uint32_t key_len, value_len;
};

struct folded_set {
	uint64_t from, below;      /* entries with from <= lsn < below */
	struct folded *v;
	size_t n, cap;
};

static int collect_folded(void *ctx, const char *key, uint32_t key_len, const char *value,
			  uint32_t value_len, uint64_t lsn)
{
	struct folded_set *fs = ctx;
	if (lsn < fs->from || lsn >= fs->below)
		return 0;
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 64;
		struct folded *v = realloc(fs->v, cap * sizeof(*v));
		if (!v)
			return -1;
		fs->v = v;
		fs->cap = cap;
	}
	char *copy = malloc((size_t)key_len + value_len + 1);
	if (!copy)
		return -1;
	memcpy(copy, key, key_len);
	if (value_len)
		memcpy(copy + key_len, value, value_len);
	fs->v[fs->n++] = (struct folded){ lsn, copy, key_len, value_len };
	return 0;
}

static int cmp_folded(const void *a, const void *b)
{
	uint64_t x = ((const struct folded *)a)->lsn, y = ((const struct folded *)b)->lsn;
	return x < y ? -1 : x > y;
}

/* Writes one folded entry as the put record that last wrote it. */
static int write_folded(int fd, const struct rewind *rw, const struct folded *e)
{
	uint64_t epoch = 0;
	role_epoch_at(&rw->mine, e->lsn, &epoch);
	struct wal_record r = { .lsn = e->lsn, .epoch = epoch, .type = WAL_PUT, .key = e->key,
				.key_len = e->key_len, .value = e->key + e->key_len,
				.value_len = e->value_len };
	unsigned char *buf = malloc(wal_record_size(r.format, e->key_len, e->value_len));
	if (!buf)
		return -1;
	wal_encode(&r, buf);
	int rc = write_line(fd, repl_record_json(buf, &r), "checkpoint");
	free(buf);
	return rc;
}

/* Exports the map entries with from <= LSN < below (checkpointed records). */
static int export_folded(struct site *s, struct rewind *rw, int fd, uint64_t from,
			 uint64_t below, char *err, size_t errlen)
{
	struct folded_set fs = { .from = from, .below = below };
	struct kv_info ki;
	int corrupt = 0, rc = -1;
	if (from >= below)
		return 0;
	if (kv_foreach(s->kv, collect_folded, &fs, &ki, &corrupt) != 0) {
		snprintf(err, errlen, "export checkpointed records: %s", corrupt ?
			 "a value failed its CRC in memory" : "out of memory");
		goto out;
	}
	if (fs.n)
		qsort(fs.v, fs.n, sizeof(*fs.v), cmp_folded);
	for (size_t i = 0; i < fs.n; i++)
		if (write_folded(fd, rw, &fs.v[i]) != 0) {
			snprintf(err, errlen, "write quarantine: %s", strerror(errno));
			goto out;
		}
	rw->from_checkpoint = fs.n;
	rc = 0;
out:
	for (size_t i = 0; i < fs.n; i++)
		free(fs.v[i].key);
	free(fs.v);
	return rc;
}

/* Exports the WAL's records from `from` through `last`, as stored. */
static int export_wal(struct site *s, struct rewind *rw, int fd, uint64_t from,
		      uint64_t last, char *err, size_t errlen)
{
	while (from <= last) {
		unsigned char *buf = NULL;
		size_t len = 0, off = 0;
		uint64_t got_last;
		int rc = wal_read(s->wal, from, REWIND_READ_BYTES, DRSITE_FORMAT_MAX, &buf, &len, &got_last,
				  err, errlen);
		if (rc != WAL_READ_OK || len == 0) {
			if (rc != -1)
				snprintf(err, errlen, "export: the WAL no longer holds lsn %" PRIu64, from);
			free(buf);
			return -1;
		}
		while (off < len) {
			struct wal_record r;
			size_t n = wal_decode(buf + off, len - off, &r);
			if (n == 0 || write_line(fd, repl_record_json(buf + off, &r), "wal") != 0) {
				snprintf(err, errlen, "export lsn %" PRIu64 ": %s", from,
					 n ? strerror(errno) : "undecodable record");
				free(buf);
				return -1;
			}
			rw->from_wal++;
			off += n;
			from++;
		}
		free(buf);
	}
	return 0;
}

/* Writes every record with LSN >= D to fd.  No checkpoint runs meanwhile,
 * so what is folded and what is in the WAL stays put. */
static int export_records(struct site *s, struct rewind *rw, int fd, char *err, size_t errlen)
{
	struct wal_stats ws;
	pthread_mutex_lock(&s->cp_run_mu);
	wal_get_stats(s->wal, &ws);
	uint64_t d = rw->result.from_lsn, wal_from = d > ws.oldest_lsn ? d : ws.oldest_lsn;
	int rc = export_folded(s, rw, fd, d, ws.oldest_lsn, err, errlen);
	if (rc == 0)
		rc = export_wal(s, rw, fd, wal_from, ws.last_lsn, err, errlen);
	pthread_mutex_unlock(&s->cp_run_mu);
	rw->result.records = rw->from_checkpoint + rw->from_wal;
	return rc;
}

/* ================================================================ the quarantine file */

/* true when the two files hold the same bytes. */
static bool same_bytes(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	bool same = fa >= 0 && fb >= 0;
	char x[8192], y[8192];
	while (same) {
		ssize_t n = read_all(fa, x, sizeof(x)), m = read_all(fb, y, sizeof(y));
		same = n == m && n >= 0 && memcmp(x, y, (size_t)(n > 0 ? n : 0)) == 0;
		if (n <= 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/* DATA/quarantine, created durably; its absolute path into dir. */
static int quarantine_dir(struct site *s, char *dir, size_t len, char *err, size_t errlen)
{
	char *path = NULL, *real = NULL;
	int rc = -1;
	if (asprintf(&path, "%s/quarantine", s->datadir) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((mkdir(path, 0755) != 0 && errno != EEXIST) || fsync_dir(s->datadir) != 0 ||
	    !(real = realpath(path, NULL)))
		snprintf(err, errlen, "create %.400s: %s", path, strerror(errno));
	else if (snprintf(dir, len, "%s", real) >= (int)len)
		snprintf(err, errlen, "quarantine path too long: %.400s", real);
	else
		rc = 0;
	free(real);
	free(path);
	return rc;
}

/* Writes the export under tmp, durably.  0 or an HTTP status. */
static int write_export(struct site *s, struct rewind *rw, const char *tmp,
			char *err, size_t errlen)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
		return 500;
	}
	int rc = export_records(s, rw, fd, err, errlen);
	if (rc == 0 && fsync(fd) != 0) {
		snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc ? 500 : 0;
}

/*
 * Step 1: the quarantine file, durable before anything is removed.  An
 * existing file of the same name (an earlier, interrupted attempt) is kept
 * if the export is the same bytes; otherwise nothing changes and the
 * answer is 409.  0 or an HTTP status.
 */
static int write_quarantine(struct site *s, struct rewind *rw, char *err, size_t errlen)
{
	char dir[ROLE_PATH_MAX], tmp[ROLE_PATH_MAX + 8];
	if (quarantine_dir(s, dir, sizeof(dir) - 64, err, errlen) != 0)
		return 500;
	char *path = rw->result.quarantine;
	if (snprintf(path, sizeof(rw->result.quarantine), "%s/diverged-%" PRIu64 "-%" PRIu64
		     ".jsonl", dir, rw->epoch, rw->result.from_lsn) >= ROLE_PATH_MAX ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "quarantine path too long under %.400s", dir);
		return 500;
	}
	int status = write_export(s, rw, tmp, err, errlen);
	if (status == 0 && access(path, F_OK) == 0) {
		bool same = same_bytes(tmp, path);
		unlink(tmp);
		if (!same) {
			snprintf(err, errlen, "%s exists with other contents (an earlier rewind?); "
				 "nothing was removed: move it away and rewind again", path);
			return 409;
		}
		log_event(LOG_INFO, "rewind.quarantine_kept", "{s:s}", "quarantine", path);
		if (fsync_dir(dir) != 0) {  /* the earlier attempt may have died before it */
			snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
			return 500;
		}
		return 0;
	}
	if (status == 0 && (rename(tmp, path) != 0 || fsync_dir(dir) != 0)) {
		snprintf(err, errlen, "write %s: %s", path, strerror(errno));
		status = 500;
	}
	if (status)
		unlink(tmp);
	return status;
}

/* ================================================================ intent and finish */

static int write_intent(struct site *s, const struct rewind *rw, char *err, size_t errlen)
{
	json_t *j = json_pack("{s:o, s:s, s:o}", "rewind", role_rewind_json(&rw->result),
			      "primary", rw->primary, "history", role_history_json(&rw->theirs));
	int rc = role_write_json(s->datadir, REWIND_INTENT, j, err, errlen);
	json_decref(j);
	return rc;
}

static int remove_intent(struct site *s, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", s->datadir, REWIND_INTENT);
	if ((unlink(path) != 0 && errno != ENOENT) || fsync_dir(s->datadir) != 0) {
		snprintf(err, errlen, "remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads DATA/rewind.json into rw; *exists false when there is none. */
static int read_intent(struct site *s, struct rewind *rw, bool *exists, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", s->datadir, REWIND_INTENT);
	*exists = access(path, F_OK) == 0;
	if (!*exists)
		return 0;
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr), *rec = NULL, *hist = NULL;
	const char *primary = NULL, *q = NULL;
	json_int_t epoch = 0, from = 0, records = 0, at = 0, from_epoch = 0;
	int rc = -1;
	if (!j || json_unpack_ex(j, &jerr, 0, "{s:o, s:s, s:o}", "rewind", &rec,
				 "primary", &primary, "history", &hist) != 0 ||
	    json_unpack_ex(rec, &jerr, 0, "{s:s, s:I, s:I, s:I, s:I, s?I}", "quarantine", &q,
			   "records", &records, "from_lsn", &from, "epoch", &epoch,
			   "at_ms", &at, "from_epoch", &from_epoch) != 0 ||
	    strlen(q) >= sizeof(rw->result.quarantine) ||
	    role_history_load(hist, &rw->theirs) != 0) {
		snprintf(err, errlen, "%s:%d:%d: unreadable rewind intent: %s", path, jerr.line,
			 jerr.column, jerr.text[0] ? jerr.text : "bad history or path");
		goto out;
	}
	rw->result = (struct rewind_record){ .epoch = (uint64_t)epoch, .from_lsn = (uint64_t)from,
					     .records = (uint64_t)records, .at_ms = (uint64_t)at,
					     .from_epoch = from_epoch > 0 ? (uint64_t)from_epoch : 0 };
	snprintf(rw->result.quarantine, sizeof(rw->result.quarantine), "%s", q);
	snprintf(rw->primary, sizeof(rw->primary), "%s", primary);
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* Step 5: the primary's epoch history and last_rewind, in state.json. */
static int record_done(struct site *s, const struct rewind *rw, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	struct role_state *r = &s->role;
	memcpy(r->history, rw->theirs.history, sizeof(r->history));
	r->nhistory = rw->theirs.nhistory;
	r->last_rewind = rw->result;
	s->follow.diverged_lsn = 0;
	s->follow.last_error[0] = '\0';
	s->follow.state = "idle";  /* until the follower's next round */
	int rc = role_save(s->datadir, r, err, errlen);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ================================================================ the command */

/* Steps 2 to 6, once the quarantine is durable.  0 or an HTTP status. */
static int replace_state(struct site *s, struct httpc *c, struct rewind *rw,
			 char *err, size_t errlen)
{
	struct httpc_resp img;
	if (repl_snapshot_download(s, c, rw->primary, rw->epoch, &img, err, errlen) != 0)
		return 503;
	rw->result.at_ms = time_wall_ms();
	if (write_intent(s, rw, err, errlen) != 0) {
		httpc_resp_free(&img);
		return 500;
	}
	crash_point("after_intent");
	uint64_t lsn = 0;
	bool changed;
	int rc = repl_snapshot_install(s, rw->primary, rw->epoch, (unsigned char *)img.body,
				       img.body_len, &lsn, &changed, err, errlen);
	httpc_resp_free(&img);
	if (rc != 0 && !changed) {  /* the role moved on: nothing was touched */
		char why[300];
		if (remove_intent(s, why, sizeof(why)) != 0)
			log_event(LOG_ERROR, "rewind.intent_remove_failed", "{s:s}", "error", why);
		return 409;
	}
	if (rc != 0) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, "; the rewind is committed (%s/%s): a restart "
			 "finishes it", s->datadir, REWIND_INTENT);
		return 500;
	}
	crash_point("after_install");
	if (record_done(s, rw, err, errlen) != 0 || remove_intent(s, err, errlen) != 0)
		return 500;
	return 0;
}

/* The whole rewind, with the follower parked.  0 or an HTTP status. */
static int rewind_run(struct site *s, struct httpc *c, struct rewind *rw, char *err, size_t errlen)
{
	struct wal_stats ws;
	int status = fetch_history(s, c, rw, err, errlen);
	if (status)
		return status;
	wal_get_stats(s->wal, &ws);
	rw->result.epoch = rw->epoch;
	rw->result.from_lsn = divergence_lsn(rw, ws.last_epoch);
	/* The epoch the first record moved off was written at: the failover
	 * that ended it lost them (drorchd's audit charges that run). */
	if (!role_epoch_at(&rw->mine, rw->result.from_lsn, &rw->result.from_epoch))
		rw->result.from_epoch = 0;
	status = write_quarantine(s, rw, err, errlen);
	if (status)
		return status;
	log_event(LOG_WARN, "rewind.quarantined", "{s:s, s:I, s:I, s:I, s:I, s:I}",
		  "quarantine", rw->result.quarantine, "epoch", (json_int_t)rw->epoch,
		  "from_lsn", (json_int_t)rw->result.from_lsn,
		  "records", (json_int_t)rw->result.records,
		  "from_wal", (json_int_t)rw->from_wal,
		  "from_checkpoint", (json_int_t)rw->from_checkpoint);
	crash_point("after_quarantine");
	return replace_state(s, c, rw, err, errlen);
}

void rewind_cmd(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	uint64_t epoch;
	if (admin_parse_epoch(req, resp, &epoch) != 0)
		return;
	struct rewind *rw = calloc(1, sizeof(*rw));
	struct httpc *c = httpc_new();
	char err[ROLE_PATH_MAX + 400] = "";
	int status = rw && c ? 0 : 503;
	if (status)
		snprintf(err, sizeof(err), "out of memory");
	if (status == 0) {
		pthread_mutex_lock(&s->mu);
		status = begin_locked(s, epoch, rw, err, sizeof(err));
		pthread_mutex_unlock(&s->mu);
		if (status == 0) {
			status = rewind_run(s, c, rw, err, sizeof(err));
			unpark(s);
		}
	}
	if (status) {
		log_event(LOG_WARN, "rewind.refused", "{s:I, s:i, s:s}", "epoch", (json_int_t)epoch,
			  "status", status, "error", err);
		http_resp_error(resp, status, "rewind at epoch %" PRIu64 ": %s", epoch, err);
	} else {
		log_event(LOG_WARN, "site.rewound", "{s:s, s:I, s:I, s:I, s:s}",
			  "quarantine", rw->result.quarantine, "epoch", (json_int_t)epoch,
			  "from_lsn", (json_int_t)rw->result.from_lsn,
			  "records", (json_int_t)rw->result.records, "primary", rw->primary);
		http_resp_json(resp, 200, role_rewind_json(&rw->result));
	}
	httpc_free(c);
	free(rw);
}

/* ================================================================ after a crash */

int rewind_resume(struct site *s, char *err, size_t errlen)
{
	struct rewind *rw = calloc(1, sizeof(*rw));
	bool exists = false;
	int rc = -1;
	if (!rw) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (read_intent(s, rw, &exists, err, errlen) != 0 || !exists) {
		rc = exists ? -1 : 0;
		goto out;
	}
	if (access(rw->result.quarantine, F_OK) != 0) {
		snprintf(err, errlen, "%s/%s: an interrupted rewind names quarantine file %s, "
			 "which is missing (%s); refusing to discard this site's state",
			 s->datadir, REWIND_INTENT, rw->result.quarantine, strerror(errno));
		goto out;
	}
	if (snap_remove_all(s->datadir, err, errlen) != 0 ||
	    wal_discard_dir(s->datadir, err, errlen) != 0 ||
	    record_done(s, rw, err, errlen) != 0 || remove_intent(s, err, errlen) != 0)
		goto out;
	log_event(LOG_WARN, "site.rewound", "{s:s, s:I, s:I, s:I, s:s, s:b}",
		  "quarantine", rw->result.quarantine, "epoch", (json_int_t)rw->result.epoch,
		  "from_lsn", (json_int_t)rw->result.from_lsn,
		  "records", (json_int_t)rw->result.records, "primary", rw->primary,
		  "finished_at_start", 1);
	rc = 0;
out:
	free(rw);
	return rc;
}
