/*
 * role.c — persisted role state.
 *
 * DIR/state.json:
 *   {"role":"replica","epoch":7,"primary":"127.0.0.1:7001","mode":"sync",
 *    "quorum":1,"history":[{"epoch":1,"first_lsn":1},{"epoch":7,"first_lsn":4211}],
 *    "last_rewind":{"epoch":7,"from_lsn":4211,"records":3,"at_ms":1718000000000,
 *                   "quarantine":"/data/quarantine/diverged-7-4211.jsonl"},
 *    "behind":{"epoch":7,"have_lsn":4100,"need_lsn":4300,"need_known":true,
 *              "why":"WAL damaged at lsn 4101"},
 *    "fcv":"0.1.0"}
 *
 * last_rewind is there only once the site has been rewound (rewind.c);
 * behind only while the site knows it lacks records of that epoch.
 * fcv is missing only from a state.json written before FCVs existed; a site
 * that was never given a role has {"role":"standalone","epoch":0,...,"fcv":..}.
 */
#include "role.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "crc32c.h"
#include "fileio.h"

static const char *const role_names[] = { "standalone", "primary", "replica", "fenced" };
static const char *const mode_names[] = { "async", "sync", "remote_apply" };

const char *role_name(enum role_kind r) { return role_names[r]; }
const char *role_mode_name(enum repl_mode m) { return mode_names[m]; }

int role_parse_mode(const char *s, enum repl_mode *out)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, mode_names[i]) == 0) {
			*out = (enum repl_mode)i;
			return 0;
		}
	return -1;
}

static int parse_role(const char *s, enum role_kind *out)
{
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, role_names[i]) == 0) {
			*out = (enum role_kind)i;
			return 0;
		}
	return -1;
}

void role_history_add(struct role_state *st, uint64_t epoch, uint64_t first_lsn)
{
	if (st->nhistory && st->history[st->nhistory - 1].epoch >= epoch)
		return;
	if (st->nhistory == ROLE_MAX_HISTORY) {
		memmove(st->history, st->history + 1, (ROLE_MAX_HISTORY - 1) * sizeof(*st->history));
		st->nhistory--;
	}
	st->history[st->nhistory++] = (struct epoch_start){ epoch, first_lsn };
}

bool role_epoch_at(const struct role_state *st, uint64_t lsn, uint64_t *epoch)
{
	for (int i = st->nhistory - 1; i >= 0; i--)
		if (st->history[i].first_lsn <= lsn) {
			*epoch = st->history[i].epoch;
			return true;
		}
	return false;
}

int role_history_load(json_t *arr, struct role_state *st)
{
	if (!json_is_array(arr))
		return -1;
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) {
		json_int_t ep = -1, lsn = 0;
		/* Epoch 0 is a standalone site's: a replica that streamed its
		 * records before it had a role has {"epoch":0,...} first. */
		if (json_unpack(e, "{s:I, s:I}", "epoch", &ep, "first_lsn", &lsn) != 0 ||
		    ep < 0 || lsn <= 0)
			return -1;
		role_history_add(st, (uint64_t)ep, (uint64_t)lsn);
	}
	return 0;
}

json_t *role_history_json(const struct role_state *st)
{
	json_t *hist = json_array();
	for (int i = 0; hist && i < st->nhistory; i++)
		if (json_array_append_new(hist, json_pack("{s:I, s:I}",
				"epoch", (json_int_t)st->history[i].epoch,
				"first_lsn", (json_int_t)st->history[i].first_lsn)) != 0) {
			json_decref(hist);
			return NULL;
		}
	return hist;
}

json_t *role_rewind_json(const struct rewind_record *r)
{
	json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I}", "quarantine", r->quarantine,
			      "records", (json_int_t)r->records, "from_lsn", (json_int_t)r->from_lsn,
			      "epoch", (json_int_t)r->epoch, "at_ms", (json_int_t)r->at_ms);
	if (j && r->from_epoch &&
	    json_object_set_new(j, "from_epoch", json_integer((json_int_t)r->from_epoch)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *role_behind_json(const struct behind_record *b)
{
	return json_pack("{s:I, s:I, s:I, s:b, s:s}", "epoch", (json_int_t)b->epoch,
			 "have_lsn", (json_int_t)b->have_lsn, "need_lsn", (json_int_t)b->need_lsn,
			 "need_known", !b->need_unknown, "why", b->why);
}

static int load_behind(json_t *j, struct behind_record *b)
{
	const char *why = NULL;
	json_int_t epoch = -1, have = -1, need = -1;
	int known = 1;  /* (absent in an older state.json: taken as evidence) */
	if (json_unpack(j, "{s:I, s:I, s:I, s?b, s:s}", "epoch", &epoch, "have_lsn", &have,
			"need_lsn", &need, "need_known", &known, "why", &why) != 0 || epoch < 0 ||
	    have < 0 || need < 0)
		return -1;
	*b = (struct behind_record){ .epoch = (uint64_t)epoch, .have_lsn = (uint64_t)have,
				     .need_lsn = (uint64_t)need, .need_unknown = !known };
	snprintf(b->why, sizeof(b->why), "%s", why);
	return 0;
}

static int load_rewind(json_t *j, struct rewind_record *r)
{
	const char *q = NULL;
	json_int_t epoch = 0, from = 0, records = 0, at = 0, from_epoch = 0;
	if (json_unpack(j, "{s:s, s:I, s:I, s:I, s:I, s?I}", "quarantine", &q, "records", &records,
			"from_lsn", &from, "epoch", &epoch, "at_ms", &at,
			"from_epoch", &from_epoch) != 0 ||
	    epoch <= 0 || from <= 0 || records < 0 || from_epoch < 0 ||
	    strlen(q) >= sizeof(r->quarantine))
		return -1;
	*r = (struct rewind_record){ .epoch = (uint64_t)epoch, .from_lsn = (uint64_t)from,
				     .records = (uint64_t)records, .at_ms = (uint64_t)at,
				     .from_epoch = (uint64_t)from_epoch };
	snprintf(r->quarantine, sizeof(r->quarantine), "%s", q);
	return 0;
}

/* The CRC-32C of j's canonical text (sorted keys, compact), without its
 * "crc32c" member: what role_save writes beside the rest, so a bit flipped
 * in a file that still parses (a primary's address, an epoch) is seen. */
static int canonical_crc(json_t *j, uint32_t *crc)
{
	json_t *copy = json_copy(j);
	char *text = NULL;
	if (copy) {
		json_object_del(copy, "crc32c");
		text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	}
	json_decref(copy);
	if (!text)
		return -1;
	*crc = crc32c(0, text, strlen(text));
	free(text);
	return 0;
}

static const char *const role_keys[] = { "role", "epoch", "primary", "mode", "quorum", "history",
					  "last_rewind", "behind", "fcv", "crc32c", NULL };

/* Whether j's checksum holds: a file written before checksums has none, and
 * then no member outside role_keys (the checksum's own name damaged). */
static bool crc_holds(json_t *j)
{
	json_t *c = json_object_get(j, "crc32c");
	uint32_t crc;
	if (c)
		return json_is_integer(c) && canonical_crc(j, &crc) == 0 &&
		       json_integer_value(c) == (json_int_t)crc;
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		size_t i = 0;
		while (role_keys[i] && strcmp(role_keys[i], key))
			i++;
		if (!role_keys[i])
			return false;
	}
	return true;
}

int role_load(const char *datadir, struct role_state *st, bool *had_role, bool *present,
	      char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->quorum = 1;
	*had_role = *present = false;
	char *path = NULL;
	if (asprintf(&path, "%s/state.json", datadir) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (access(path, F_OK) != 0) {
		free(path);
		return 0;
	}
	*present = true;
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	const char *role = NULL, *mode = "async", *primary = "", *fcv = NULL;
	json_int_t epoch = 0, quorum = 1;
	json_t *hist = NULL, *rewind = NULL, *behind = NULL;
	int rc = -1;
	if (j && !crc_holds(j)) {
		snprintf(err, errlen, "%s: bad role state: its crc32c does not match its content",
			 path);
		rc = ROLE_DAMAGED;
		goto out;
	}
	if (!j || json_unpack_ex(j, &jerr, 0, "{s:s, s:I, s?s, s?s, s?I, s?o, s?o, s?o, s?s}",
				 "role", &role, "epoch", &epoch, "primary", &primary,
				 "mode", &mode, "quorum", &quorum, "history", &hist,
				 "last_rewind", &rewind, "behind", &behind, "fcv", &fcv) != 0 ||
	    epoch < 0 || quorum < 0 ||
	    parse_role(role, &st->role) || role_parse_mode(mode, &st->mode) ||
	    (hist && role_history_load(hist, st)) ||
	    (rewind && load_rewind(rewind, &st->last_rewind)) ||
	    (behind && load_behind(behind, &st->behind)) ||
	    (fcv && !version_parse(fcv, &st->fcv))) {
		snprintf(err, errlen, "%s:%d:%d: bad role state: %s", path, jerr.line, jerr.column,
			 j ? (jerr.text[0] ? jerr.text : "unknown role or mode, negative epoch, "
			      "bad history, last_rewind, behind or fcv (X.Y.Z)") : jerr.text);
		rc = ROLE_DAMAGED;
		goto out;
	}
	st->epoch = (uint64_t)epoch;
	st->quorum = (int)quorum;
	st->has_fcv = fcv != NULL;
	snprintf(st->primary, sizeof(st->primary), "%s", primary);
	*had_role = st->role != ROLE_STANDALONE;
	rc = 0;
out:
	json_decref(j);
	free(path);
	return rc;
}

static json_t *role_json(const struct role_state *st)
{
	json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:i, s:o}", "role", role_name(st->role),
			      "epoch", (json_int_t)st->epoch, "primary", st->primary,
			      "mode", role_mode_name(st->mode), "quorum", st->quorum,
			      "history", role_history_json(st));
	char fcv[ROLE_VERSION_MAX];
	if (j && ((st->last_rewind.epoch &&
		   json_object_set_new(j, "last_rewind", role_rewind_json(&st->last_rewind)) != 0) ||
		  (st->behind.need_lsn &&
		   json_object_set_new(j, "behind", role_behind_json(&st->behind)) != 0) ||
		  (st->has_fcv && json_object_set_new(j, "fcv", json_string(
			version_text(&st->fcv, fcv, sizeof(fcv)))) != 0))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int write_synced(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0 ? 0 : -1;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int role_write_json(const char *datadir, const char *name, json_t *j, char *err, size_t errlen)
{
	char *tmp = NULL, *path = NULL, *text = NULL;
	int rc = -1;
	if (!j || !(text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ||
	    asprintf(&tmp, "%s/%s.tmp", datadir, name) < 0 ||
	    asprintf(&path, "%s/%s", datadir, name) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (write_synced(tmp, text) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "write %s: %s", path, strerror(errno));
		goto out;
	}
	/* The rename is durable only once the directory is: until then a crash
	 * could bring back the old file, whose change has already been answered. */
	if (fsync_dir(datadir) != 0) {
		snprintf(err, errlen, "fsync %s (after renaming %s): %s", datadir, name,
			 strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(text);
	free(tmp);
	free(path);
	return rc;
}

int role_save(const char *datadir, const struct role_state *st, char *err, size_t errlen)
{
	json_t *j = role_json(st);
	uint32_t crc;
	if (j && (canonical_crc(j, &crc) != 0 ||
		  json_object_set_new(j, "crc32c", json_integer(crc)) != 0)) {
		json_decref(j);
		j = NULL;
	}
	int rc = role_write_json(datadir, "state.json", j, err, errlen);
	json_decref(j);
	return rc;
}
