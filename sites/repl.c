/*
 * repl.c — WAL shipping between sites, both ends.
 *
 * Replica-driven, as in PostgreSQL streaming replication and Redis PSYNC:
 * a replica asks its primary for the records after the last one it has
 * made durable, and that request is also its acknowledgement of everything
 * before it.  One request is a long poll: the primary answers as soon as it
 * has records (or after wait_ms with none).
 *
 *   GET /v1/wal?from=LSN&epoch=E&replica=NAME&applied=LSN&prev_epoch=PE
 *       &prev_crc=CRC&confirmed=0|1&wait_ms=MS&encoding=binary|json&version=X.Y.Z
 *       &lease_nonce=BOOT-MS&formats=F
 *   Authorization: Bearer <site token>
 *
 * prev_epoch and prev_crc identify the replica's record at from - 1: its
 * epoch and its CRC-32C as stored in the record header (bytes 0..3, the
 * decimal value of the little-endian u32); prev_crc is left out when the
 * replica does not know it (its last LSN is an installed snapshot's).
 * confirmed=1 when the replica's role was confirmed by the orchestrator
 * since it started (see WRITE LEASE in admin.c).  version is the replica's
 * binary version: one below the primary's FCV is refused (409), as it may
 * not read the format the cluster has finalized; a fetch without it (an
 * older follower) is taken as compatible.  lease_nonce echoes the
 * X-Drorch-Lease-Nonce header of the primary's last 200 answer to this
 * replica at this epoch: the fetch renews the primary's write lease as of
 * when that nonce was handed out, never as of its own arrival (LEASE
 * NONCES in admin.c), so a fetch held back by the network renews nothing.
 * Every 200 answer also says X-Drorch-Primary-Writable: 1 or 0 (whether
 * the primary's lease holds); the replica reports it in its status, so
 * drorchd can tell a primary its replicas still reach but that can no
 * longer take writes from one that is fine.
 * While a replica applies a shipment, GET /v1/wal/vouch renews the lease
 * in its stead and acks nothing (VOUCHING, below).
 * The fetch acknowledges from - 1 only if it is admitted: a fetch answered
 * 409 (stale or newer epoch, a binary below the FCV, beyond the primary's
 * end, diverged), 410 or 503 acks nothing and renews no lease.
 *
 * SHIPPING FRAME (encoding=binary, the default), little-endian:
 *
 *   offset size  field
 *   0      8     magic "DRSHIP01" (format 1) or "DRSHIP02" (format 2)
 *   8      8     epoch of the primary
 *   16     8     the primary's last LSN
 *   24     8     the primary's flushed LSN
 *   32     8     format 2 only: the commit time of the primary's last record
 *                (ms since the Unix epoch; 0 when it is a format-1 record)
 *   H      ..    WAL records, exactly as in the segment files (wal.c), each
 *                with its own CRC-32C, consecutive LSNs starting at `from`
 *                (H = 32 in format 1, 40 in format 2)
 *
 * encoding=json carries the same content as
 *   {"epoch":E,"last_lsn":L,"flushed_lsn":F,"records":[{"lsn":N,"epoch":E,
 *    "type":"put"|"delete","key":"...","value":"<base64>","crc":C}]}
 * where crc is the record's CRC-32C as the primary encoded it; the replica
 * re-encodes each record and checks it, so JSON framing keeps the same
 * end-to-end integrity check.  In format 2 the frame also says
 * "format":2,"last_commit_ms":T and each format-2 record "format":2,
 * "commit_ms":T.
 *
 * FORMATS (format.h).  formats=F is the highest format the replica reads
 * (absent: 1, as drsite 0.1.0 sends nothing).  The primary ships a format-2
 * frame only when it writes format 2 itself (its FCV is finalized) and the
 * replica reads it; a frame never holds a record of a newer format than its
 * own.  A replica that cannot read the record it asks for is answered 409
 * with "format": the record's format, and the reason; a snapshot of a
 * format it cannot read likewise.  A format-2 frame tells the replica the
 * commit time of the primary's newest record, so its lag (status: lag_ms,
 * lag_exact) is the exact span of commit time it lacks: the RPO of a
 * failover to it at that moment.
 *
 * Answers: 200 with a frame (possibly holding no records); 409 when the
 * epochs do not match (a stale replica, or a primary that has just learnt
 * of a newer epoch and fenced itself), this site is not a primary, the
 * replica asks beyond the primary's end, or the replica's record at
 * from - 1 is not the primary's ("diverged at lsn N"); the two divergence
 * answers also carry "diverged_lsn": N (from - 1, or the primary's last
 * LSN + 1 for a replica beyond its end), which a rewind starts from.
 * BEHIND ITS REPLICA: a replica beyond the primary's end whose last record
 * is of the primary's own epoch has not diverged: the primary lost records
 * of its epoch (a crash took records it had shipped before its fsync, or
 * its WAL was damaged).  That primary is not the source of truth: it
 * records what it lacks (role.h: behind), fences itself at its epoch and
 * answers 409 with "behind_replica": true and no diverged_lsn, so the
 * replica is never rewound to the shorter log; the orchestrator fails
 * over to a site that has the records.  410
 * when `from` was removed by a checkpoint: the replica then fetches
 *   GET /v1/snapshot?epoch=E&version=X.Y.Z&formats=F  ->  a snapshot image (snapshot.c
 *                                               format), admitted as a fetch
 * installs it, and streams on from the snapshot's LSN + 1.
 *
 * SYNC WRITERS.  A primary's writer in sync or remote_apply mode waits in
 * repl_wait_quorum on its own condition, linked in s->sync_waiters with its
 * LSN; an admitted fetch wakes only the writers whose quorum it completes,
 * a role, mode or quorum change wakes them all.  A replica sends its next
 * fetch (the ack) as soon as its fsync returns, and a long poll is answered
 * as soon as a record is appended: no timer is on a sync write's path.
 *
 * SHIPPING BEFORE FSYNC.  Records are shipped as soon as the primary
 * appends them, in parallel with its own fsync, on purpose: a sync write
 * then costs about one fsync plus one round trip, not two fsyncs in a row.
 * The price: a replica may hold records that a crashed primary never made
 * durable (never acknowledged, either).  If that primary restarts without
 * them and is re-confirmed at the same epoch, it writes other records at
 * those LSNs, of the same epoch: the epoch cannot tell the two logs apart,
 * the record's CRC can.  So the replica sends the CRC of its last record
 * (prev_crc) and the primary compares it with its own record at that LSN
 * whenever that record is in memory (the tail cache, or the last record,
 * whose CRC replay recovers); a mismatch answers 409 "diverged at lsn N"
 * and the replica applies nothing.  Where the primary no longer has the
 * record in memory it falls back to the epochs.  Such a replica must be
 * rewound before it follows (failback, POST /v1/admin/rewind: rewind.c),
 * as must a returning old primary.  The follower keeps the lowest
 * diverged_lsn its primary named; while a rewind runs it is parked.
 *
 * INITIAL FCV.  Every 200 answer (/v1/wal and /v1/snapshot) says
 * X-Drorch-Fcv: X.Y.Z, the primary's FCV.  A replica whose log is empty
 * (nothing written, no snapshot installed) and whose FCV is above it takes
 * it, as MongoDB's initial sync copies the FCV: a site started on fresh data
 * takes its binary's version as FCV, which in a cluster not yet finalized
 * would have it write a format the older binaries cannot read (and refuse a
 * rollback).  A site that holds records keeps its FCV: it may have written
 * them in its format.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "decimal.h"
#include "format.h"
#include "lebytes.h"
#include "httpc.h"
#include "log.h"
#include "repl.h"
#include "site_internal.h"
#include "snapshot.h"
#include "timeutil.h"

#define SHIP_MAGIC "DRSHIP01"
#define SHIP_HEADER 32u
#if DRSITE_FORMAT_MAX >= 2
#define SHIP_MAGIC2 "DRSHIP02"
#define SHIP_HEADER2 40u
#endif
#define SHIP_MAX_BYTES (1u << 20)
#define FOLLOW_WAIT_MS 100  /* idle re-poll: keeps the primary's lease fresh */
#define FOLLOW_MAX_BACKOFF_MS 1000
/* What a follower says it reads (a 0.1.0 build says nothing: format 1). */
#if DRSITE_FORMAT_MAX >= 2
#define FORMATS_ARG "&formats=2"
#else
#define FORMATS_ARG ""
#endif


/* ================================================================ primary side */

struct fetch {
	uint64_t from, epoch, applied, wait_ms;
	uint64_t prev_epoch;       /* epoch of the replica's record at from - 1 */
	uint64_t prev_crc;         /* its CRC-32C (record header bytes 0..3) */
	bool has_prev, has_prev_crc;
	bool confirmed;            /* the replica's role was confirmed since it started */
	uint64_t lease_credit;     /* its echoed nonce's instant; 0: none of ours */
	struct version version;    /* the replica's binary version ... */
	bool has_version;          /* ... if it sent one (older followers do not) */
	const char *replica;
	bool json;
	uint64_t formats;          /* the highest format the replica reads (1 if unsaid) */
};

static int parse_u64_arg(const struct http_req *req, const char *name, bool required,
			 uint64_t dflt, uint64_t *out, struct http_resp *resp)
{
	const char *v = http_req_query(req, name);
	if (!v) {
		if (required)
			return http_resp_error(resp, 400, "%s: required", name), -1;
		*out = dflt;
		return 0;
	}
	switch (decimal_u64(v, out)) {
	case DECIMAL_OK:
		return 0;
	case DECIMAL_RANGE:
		return http_resp_error(resp, 400, "%s: out of range (at most %" PRIu64 ")", name,
				       UINT64_MAX), -1;
	default:
		return http_resp_error(resp, 400, "%s: must be a non-negative integer", name), -1;
	}
}

/* The optional version=X.Y.Z; 0, or -1 with a 400 set. */
static int parse_version_arg(const struct http_req *req, struct fetch *f,
			     struct http_resp *resp)
{
	const char *v = http_req_query(req, "version");
	f->has_version = v != NULL;
	if (v && !version_parse(v, &f->version))
		return http_resp_error(resp, 400, "version: must be " ROLE_VERSION_SYNTAX), -1;
	return 0;
}

/* The optional formats=F (1..255); 0, or -1 with a 400 set. */
static int parse_formats_arg(const struct http_req *req, struct fetch *f, struct http_resp *resp)
{
	if (parse_u64_arg(req, "formats", false, 1, &f->formats, resp) != 0)
		return -1;
	if (f->formats < 1 || f->formats > 255)
		return http_resp_error(resp, 400, "formats: must be 1..255"), -1;
	return 0;
}

/* The highest format a replica that says it reads up to `formats` can be
 * sent by this build. */
static uint8_t readable_by(uint64_t formats)
{
	return formats < DRSITE_FORMAT_MAX ? (uint8_t)formats : DRSITE_FORMAT_MAX;
}

/*
 * The format of the frame that carries recs: the primary's write format
 * when the replica reads it, or the newest format among the records (a
 * log may hold format-2 records while the site writes format 1: one whose
 * metadata was lost takes the baseline FCV again).  wal_read already cut
 * the records to what the replica reads.
 */
static uint8_t frame_format(const struct wal_stats *ws, uint64_t formats,
			    const unsigned char *recs, size_t len)
{
	uint8_t f = ws->write_format <= readable_by(formats) ? ws->write_format : 1;
	uint8_t in = len ? wal_max_format(recs, len) : 1;
	return in > f ? in : f;
}

/* 409 {"error", "format"}: the replica cannot read what it asked for. */
static void refuse_format(struct http_resp *resp, const struct fetch *f, unsigned format,
			  const char *what)
{
	char bin[ROLE_VERSION_MAX] = "an older drsite";
	if (f->has_version)
		version_text(&f->version, bin, sizeof(bin));
	char msg[400];
	snprintf(msg, sizeof(msg), "%s is format %u and replica %s (%s) reads formats up to %u: "
		 "upgrade it to a drsite that reads format %u", what, format, f->replica, bin,
		 (unsigned)f->formats, format);
	http_resp_json(resp, 409, json_pack("{s:s, s:i}", "error", msg, "format", (int)format));
}

/* The optional lease_nonce; 0, or -1 with a 400 set. */
static int parse_nonce_arg(const struct site *s, const struct http_req *req, struct fetch *f,
			   struct http_resp *resp)
{
	const char *n = http_req_query(req, "lease_nonce");
	uint64_t at = 0;
	int kind = n ? site_nonce_parse(s, n, time_mono_ms(), &at) : NONCE_FOREIGN;
	if (kind == NONCE_BAD)
		return http_resp_error(resp, 400, "lease_nonce: must be BOOT-MS as this site "
				       "handed it out"), -1;
	f->lease_credit = kind == NONCE_OURS ? at : 0;
	return 0;
}

/* The required replica= name, 1..63 bytes (a peer's); 0, or -1 with a 400
 * set. */
static int parse_replica_arg(const struct http_req *req, struct fetch *f,
			     struct http_resp *resp)
{
	f->replica = http_req_query(req, "replica");
	if (!f->replica || !*f->replica || strlen(f->replica) >= sizeof(((struct peer *)0)->name))
		return http_resp_error(resp, 400, "replica: a name of 1..63 bytes is required"), -1;
	return 0;
}

static int parse_fetch(const struct site *s, const struct http_req *req, struct fetch *f,
		       struct http_resp *resp)
{
	const char *enc = http_req_query(req, "encoding");
	uint64_t confirmed;
	if (parse_u64_arg(req, "from", true, 0, &f->from, resp) ||
	    parse_u64_arg(req, "epoch", true, 0, &f->epoch, resp) ||
	    parse_u64_arg(req, "applied", false, 0, &f->applied, resp) ||
	    parse_u64_arg(req, "wait_ms", false, 0, &f->wait_ms, resp) ||
	    parse_u64_arg(req, "prev_epoch", false, 0, &f->prev_epoch, resp) ||
	    parse_u64_arg(req, "prev_crc", false, 0, &f->prev_crc, resp) ||
	    parse_u64_arg(req, "confirmed", false, 0, &confirmed, resp) ||
	    parse_version_arg(req, f, resp) || parse_nonce_arg(s, req, f, resp) ||
	    parse_formats_arg(req, f, resp))
		return -1;
	f->has_prev = http_req_query(req, "prev_epoch") != NULL;
	f->has_prev_crc = http_req_query(req, "prev_crc") != NULL;
	f->confirmed = confirmed != 0;
	if (f->from < 1)
		return http_resp_error(resp, 400, "from: must be >= 1"), -1;
	if (f->prev_crc > UINT32_MAX)
		return http_resp_error(resp, 400, "prev_crc: a CRC-32C is at most %" PRIu32,
				       UINT32_MAX), -1;
	if (f->wait_ms > 5000)
		return http_resp_error(resp, 400, "wait_ms: at most 5000"), -1;
	if (parse_replica_arg(req, f, resp))
		return -1;
	if (enc && strcmp(enc, "binary") && strcmp(enc, "json"))
		return http_resp_error(resp, 400, "encoding: must be binary or json"), -1;
	f->json = enc && strcmp(enc, "json") == 0;
	return 0;
}

/* How many replicas at epoch hold lsn (flushed, or applied in
 * remote_apply mode); under s->mu. */
static int holders_locked(const struct site *s, uint64_t lsn, uint64_t epoch)
{
	bool apply = s->role.mode == MODE_REMOTE_APPLY;
	int have = 0;
	for (int i = 0; i < s->npeers; i++)
		if (s->peers[i].epoch == epoch &&
		    (apply ? s->peers[i].applied_lsn : s->peers[i].flushed_lsn) >= lsn)
			have++;
	return have;
}

/* After an ack: wakes only the sync writers whose quorum now holds their
 * LSN (a broadcast woke every writer for every ack of every replica, to
 * find most of them still short); under s->mu. */
static void wake_acked_locked(struct site *s)
{
	for (struct sync_waiter *w = s->sync_waiters; w; w = w->next)
		if (holders_locked(s, w->lsn, s->role.epoch) >= s->role.quorum)
			pthread_cond_signal(&w->cv);
}

void repl_wake_writers_locked(struct site *s)
{
	for (struct sync_waiter *w = s->sync_waiters; w; w = w->next)
		pthread_cond_signal(&w->cv);
}

/*
 * Records the replica's acknowledgement (from - 1 is durable there), once
 * its fetch has passed every check: a refused fetch acks nothing and renews
 * no lease.  The ack is capped at the primary's own last LSN.  false (and
 * nothing recorded) when this site is no longer the primary at epoch.
 */
static bool note_peer(struct site *s, const struct fetch *f, uint64_t epoch, uint64_t last_lsn)
{
	pthread_mutex_lock(&s->mu);
	bool still = s->role.role == ROLE_PRIMARY && s->role.epoch == epoch;
	struct peer *p = NULL;
	for (int i = 0; i < s->npeers && !p && still; i++)
		if (strcmp(s->peers[i].name, f->replica) == 0)
			p = &s->peers[i];
	bool fresh = !p;
	if (!p && still && s->npeers < SITE_MAX_PEERS)
		p = &s->peers[s->npeers++];
	if (!p && still) {  /* table full: replace the one heard from least recently */
		p = &s->peers[0];
		for (int i = 1; i < s->npeers; i++)
			if (s->peers[i].last_seen_ms < p->last_seen_ms)
				p = &s->peers[i];
	}
	if (p) {
		uint64_t flushed = f->from - 1 < last_lsn ? f->from - 1 : last_lsn;
		snprintf(p->name, sizeof(p->name), "%s", f->replica);
		p->epoch = f->epoch;
		p->flushed_lsn = flushed;
		p->applied_lsn = f->applied < flushed ? f->applied : flushed;
		p->confirmed = f->confirmed;
		p->last_seen_ms = time_mono_ms();
		/* The lease counts from the echoed nonce, never backwards. */
		if (fresh || f->lease_credit > p->lease_credit_ms)
			p->lease_credit_ms = f->lease_credit;
		wake_acked_locked(s);
	}
	pthread_mutex_unlock(&s->mu);
	return still;
}

/* Checks epochs and role for a fetch; 0, or an HTTP status with err[]. */
static int admit_fetch_locked(struct site *s, const struct fetch *f, char *err, size_t errlen)
{
	if (f->epoch > s->role.epoch) {
		snprintf(err, errlen, "replica %s is at epoch %" PRIu64 ", newer than %" PRIu64
			 ": this site fences itself", f->replica, f->epoch, s->role.epoch);
		site_learn_epoch_locked(s, f->epoch, f->replica);
		return 409;
	}
	if (s->role.role != ROLE_PRIMARY) {
		snprintf(err, errlen, "this site is not a primary (role %s)", role_name(s->role.role));
		return 409;
	}
	if (f->epoch < s->role.epoch) {
		snprintf(err, errlen, "stale epoch %" PRIu64 ": the primary is at epoch %" PRIu64,
			 f->epoch, s->role.epoch);
		return 409;
	}
	if (f->has_version && version_cmp(&f->version, &s->role.fcv) < 0) {
		char bin[ROLE_VERSION_MAX], fcv[ROLE_VERSION_MAX];
		snprintf(err, errlen, "replica binary %s is below the cluster's fcv %s",
			 version_text(&f->version, bin, sizeof(bin)),
			 version_text(&s->role.fcv, fcv, sizeof(fcv)));
		return 409;
	}
	return 0;
}

/* admit_fetch_locked, and refuses a replica's fetch or vouch while
 * replication is dropped (an injected fault): 503. */
static int admit_replica_locked(struct site *s, const struct fetch *f, char *err,
				size_t errlen)
{
	int status = admit_fetch_locked(s, f, err, errlen);
	if (status == 0 && s->faults.drop_replication) {
		snprintf(err, errlen, "replication dropped (injected fault)");
		status = 503;
	}
	return status;
}

json_t *repl_record_json(const unsigned char *encoded, const struct wal_record *r)
{
	char *b64 = base64_encode(r->value, r->value_len);
	json_t *j = b64 ? json_pack("{s:I, s:I, s:s, s:s%, s:s, s:I}",
		"lsn", (json_int_t)r->lsn, "epoch", (json_int_t)r->epoch,
		"type", r->type == WAL_PUT ? "put" : "delete", "key", r->key, (size_t)r->key_len,
		"value", b64, "crc", (json_int_t)get_le32(encoded)) : NULL;
	free(b64);
	if (j && r->format == 2 &&
	    (json_object_set_new(j, "format", json_integer(2)) ||
	     json_object_set_new(j, "commit_ms", json_integer((json_int_t)r->commit_ms)))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The records as a JSON array; NULL on allocation failure. */
static json_t *records_json(const unsigned char *buf, size_t len)
{
	json_t *arr = json_array();
	size_t off = 0;
	while (arr && off < len) {
		struct wal_record r;
		size_t n = wal_decode(buf + off, len - off, &r);
		if (n == 0)
			break;
		if (json_array_append_new(arr, repl_record_json(buf + off, &r)) != 0) {
			json_decref(arr);
			return NULL;
		}
		off += n;
	}
	return arr;
}

/* The JSON frame (format 2 adds "format" and "last_commit_ms"). */
static json_t *frame_json(uint8_t format, uint64_t epoch, const struct wal_stats *ws,
			  unsigned char *recs, size_t len)
{
	json_t *arr = records_json(recs, len);
	json_t *j = arr ? json_pack("{s:I, s:I, s:I, s:o}", "epoch", (json_int_t)epoch,
		"last_lsn", (json_int_t)ws->last_lsn, "flushed_lsn", (json_int_t)ws->flushed_lsn,
		"records", arr) : NULL;
	if (j && format == 2 &&
	    (json_object_set_new(j, "format", json_integer(2)) ||
	     json_object_set_new(j, "last_commit_ms", json_integer((json_int_t)ws->last_commit_ms)))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static void reply_frame(struct http_resp *resp, bool json, uint8_t format, uint64_t epoch,
			const struct wal_stats *ws, unsigned char *recs, size_t len)
{
	if (json) {
		json_t *j = frame_json(format, epoch, ws, recs, len);
		if (j)
			http_resp_json(resp, 200, j);
		else
			http_resp_error(resp, 503, "out of memory");
		return;
	}
	size_t hn = SHIP_HEADER;
	const char *magic = SHIP_MAGIC;
#if DRSITE_FORMAT_MAX >= 2
	if (format == 2) {
		hn = SHIP_HEADER2;
		magic = SHIP_MAGIC2;
	}
#endif
	unsigned char *frame = malloc(hn + len);
	if (!frame) {
		http_resp_error(resp, 503, "out of memory");
		return;
	}
	memcpy(frame, magic, 8);
	put_le64(frame + 8, epoch);
	put_le64(frame + 16, ws->last_lsn);
	put_le64(frame + 24, ws->flushed_lsn);
	if (hn > SHIP_HEADER)
		put_le64(frame + 32, ws->last_commit_ms);
	if (len)
		memcpy(frame + hn, recs, len);
	free(resp->body);
	resp->body = (char *)frame;
	resp->body_len = hn + len;
	resp->status = 200;
	resp->content_type = "application/x-drorch-wal";
}

/*
 * Timeline check, as PostgreSQL does with timeline histories: the replica's
 * last record must be the primary's record at that LSN, or the two logs
 * have diverged there.  Where the primary still has that record in memory,
 * the replica's CRC of it must match (the CRC covers LSN, epoch, key and
 * value): the epoch alone cannot tell apart two records of the same epoch,
 * which happens when a primary that crashed with records in flight (shipped
 * before its own fsync) restarts without them, is re-confirmed at the same
 * epoch and writes others at the same LSNs.  Otherwise the epochs must
 * match (the record's, or the epoch history's).  On divergence fills why[].
 */
static bool diverged(struct site *s, const struct fetch *f, char *why, size_t whylen)
{
	if (!f->has_prev || f->from < 2)
		return false;
	uint64_t lsn = f->from - 1, mine;
	uint32_t crc;
	bool crc_known, known = wal_record_id_at(s->wal, lsn, &mine, &crc, &crc_known);
	if (!known) {
		pthread_mutex_lock(&s->mu);
		known = role_epoch_at(&s->role, lsn, &mine);
		pthread_mutex_unlock(&s->mu);
		crc_known = false;
	}
	if (known && mine != f->prev_epoch) {
		snprintf(why, whylen, "its record is of epoch %" PRIu64 ", the primary's of epoch %"
			 PRIu64, f->prev_epoch, mine);
		return true;
	}
	if (known && crc_known && f->has_prev_crc && crc != (uint32_t)f->prev_crc) {
		snprintf(why, whylen, "its record (epoch %" PRIu64 ", crc %08" PRIx32 ") is not the "
			 "primary's (crc %08" PRIx32 ")", f->prev_epoch, (uint32_t)f->prev_crc, crc);
		return true;
	}
	return false;
}

/* 409 {"error": msg, "diverged_lsn": lsn}: the replica must be rewound. */
static void refuse_diverged(struct http_resp *resp, const char *msg, uint64_t lsn)
{
	http_resp_json(resp, 409, json_pack("{s:s, s:I}", "error", msg,
					    "diverged_lsn", (json_int_t)lsn));
}

/*
 * A replica holds records of this primary's epoch beyond its end: the
 * primary lost them (BEHIND ITS REPLICA above).  It records what it lacks
 * and fences itself at its epoch, durably, unless its role moved meanwhile.
 */
static void fence_behind(struct site *s, const struct fetch *f, uint64_t epoch, uint64_t last)
{
	char err[300];
	pthread_mutex_lock(&s->mu);
	struct role_state before = s->role;
	bool still = s->role.role == ROLE_PRIMARY && s->role.epoch == epoch;
	if (still) {
		struct behind_record *b = &s->role.behind;
		if (!b->need_lsn || b->epoch != epoch || b->need_lsn < f->from - 1)
			*b = (struct behind_record){ .epoch = epoch, .have_lsn = last,
						     .need_lsn = f->from - 1 };
		snprintf(b->why, sizeof(b->why), "replica %s holds records through lsn %" PRIu64,
			 f->replica, b->need_lsn);
		s->role.role = ROLE_FENCED;
		if (role_save(s->datadir, &s->role, err, sizeof(err)) != 0) {
			log_event(LOG_ERROR, "site.persist_failed", "{s:s}", "error", err);
			s->role = before;
			still = false;
		}
	}
	if (still)
		site_role_changed_locked(s);
	pthread_mutex_unlock(&s->mu);
	if (still)
		log_event(LOG_ERROR, "site.behind_replica", "{s:s, s:I, s:I, s:I}", "replica",
			  f->replica, "epoch", (json_int_t)epoch, "last_lsn", (json_int_t)last,
			  "replica_lsn", (json_int_t)(f->from - 1));
}

/* Admits a fetch: role and epoch, then its position in the primary's log.
 * 0 and *epoch, or -1 with the answer set. */
static int check_fetch(struct site *s, const struct fetch *f, uint64_t *epoch,
		       struct wal_stats *ws, struct http_resp *resp)
{
	char err[300];
	pthread_mutex_lock(&s->mu);
	int status = admit_replica_locked(s, f, err, sizeof(err));
	*epoch = s->role.epoch;
	pthread_mutex_unlock(&s->mu);
	if (status)
		return http_resp_error(resp, status, "%s", err), -1;
	wal_get_stats(s->wal, ws);
	char msg[512];
	if (f->from > ws->last_lsn + 1 && f->has_prev && f->prev_epoch == *epoch) {
		fence_behind(s, f, *epoch, ws->last_lsn);
		snprintf(msg, sizeof(msg), "replica %s holds records of epoch %" PRIu64 " through "
			 "lsn %" PRIu64 " but this primary ends at %" PRIu64 ": this site lost "
			 "records of its own epoch and fenced itself", f->replica, *epoch,
			 f->from - 1, ws->last_lsn);
		return http_resp_json(resp, 409, json_pack("{s:s, s:b}", "error", msg,
							   "behind_replica", 1)), -1;
	}
	if (f->from > ws->last_lsn + 1) {
		snprintf(msg, sizeof(msg), "replica %s asks for lsn %" PRIu64 " but the primary "
			 "ends at %" PRIu64 ": its log has diverged and must be rewound",
			 f->replica, f->from, ws->last_lsn);
		return refuse_diverged(resp, msg, ws->last_lsn + 1), -1;
	}
	if (diverged(s, f, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "replica %s diverged at lsn %" PRIu64 ": %s; it must be "
			 "rewound", f->replica, f->from - 1, err);
		return refuse_diverged(resp, msg, f->from - 1), -1;
	}
	return 0;
}

/* A 200 answer's lease headers: a fresh X-Drorch-Lease-Nonce,
 * X-Drorch-Primary-Writable, whether this primary's lease holds now, and
 * X-Drorch-Lease-Ms, the lease in force (a replica vouches at a quarter of
 * it when that is shorter than its own). */
static void lease_headers(struct site *s, struct http_resp *resp)
{
	char nonce[SITE_NONCE_MAX], why[300], ms[24];
	site_nonce(s, nonce, sizeof(nonce));
	http_resp_header(resp, "X-Drorch-Lease-Nonce", nonce);
	pthread_mutex_lock(&s->mu);
	bool writable = site_writable_locked(s, time_mono_ms(), why, sizeof(why));
	snprintf(ms, sizeof(ms), "%" PRIu64, s->lease_ms);
	pthread_mutex_unlock(&s->mu);
	http_resp_header(resp, "X-Drorch-Primary-Writable", writable ? "1" : "0");
	http_resp_header(resp, "X-Drorch-Lease-Ms", ms);
}

/* The X-Drorch-Lease-Ms of a primary's answer; 0 when absent or malformed
 * (an older primary). */
static uint64_t answer_lease_ms(const struct httpc_resp *r)
{
	char text[24];
	uint64_t v = 0;
	if (!httpc_resp_header(r, "X-Drorch-Lease-Ms", text, sizeof(text)) ||
	    decimal_u64(text, &v) != DECIMAL_OK)
		return 0;
	return v;
}

/* X-Drorch-Fcv: this primary's FCV (INITIAL FCV). */
static void fcv_header(struct site *s, struct http_resp *resp)
{
	char fcv[ROLE_VERSION_MAX];
	pthread_mutex_lock(&s->mu);
	version_text(&s->role.fcv, fcv, sizeof(fcv));
	pthread_mutex_unlock(&s->mu);
	http_resp_header(resp, "X-Drorch-Fcv", fcv);
}

void repl_route_wal(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	struct fetch f;
	struct wal_stats ws;
	uint64_t epoch;
	char err[300];
	if (!admin_authorized(s, req, resp) || parse_fetch(s, req, &f, resp) != 0 ||
	    check_fetch(s, &f, &epoch, &ws, resp) != 0)
		return;
	/* A replica that is caught up is acked before the long poll, so that a
	 * sync writer waiting for that ack does not wait for the next record
	 * too; asking for the next LSN can only be answered 200.  One that asks
	 * for older records is acked once they are read (they may be gone). */
	bool caught_up = f.from > ws.last_lsn;
	if (caught_up && !note_peer(s, &f, epoch, ws.last_lsn)) {
		http_resp_error(resp, 409, "this site stopped being the primary at epoch %"
				PRIu64, epoch);
		return;
	}
	if (caught_up && f.wait_ms)
		wal_wait_append(s->wal, f.from, f.wait_ms);
	unsigned char *recs = NULL;
	size_t len = 0;
	uint64_t last;
	int rc = wal_read(s->wal, f.from, SHIP_MAX_BYTES, readable_by(f.formats), &recs, &len,
			  &last, err, sizeof(err));
	struct wal_stats now;
	wal_get_stats(s->wal, &now);
	uint8_t format = frame_format(&now, f.formats, recs, rc == WAL_READ_OK ? len : 0);
	char what[64];
	snprintf(what, sizeof(what), "the record at lsn %" PRIu64, f.from);
	if (rc == WAL_READ_FORMAT)
		refuse_format(resp, &f, 2, what);
	else if (rc == WAL_READ_GONE)
		http_resp_json(resp, 410, json_pack("{s:s, s:I}", "error",
			"requested records were removed by a checkpoint: fetch /v1/snapshot",
			"oldest_lsn", (json_int_t)now.oldest_lsn));
	else if (rc < 0)
		http_resp_error(resp, 500, "read WAL: %s", err);
	else if (!caught_up && !note_peer(s, &f, epoch, ws.last_lsn))
		http_resp_error(resp, 409, "this site stopped being the primary at epoch %"
				PRIu64, epoch);
	else
		reply_frame(resp, f.json, format, epoch, &now, recs, len);
	if (resp->status == 200) {
		lease_headers(s, resp);
		fcv_header(s, resp);
	}
	free(recs);
}

/*
 * Records a vouch (VOUCHING): the lease credit of a replica whose fetch was
 * admitted at this epoch, as of its echoed nonce and never backwards; it
 * acks nothing.  0, or an HTTP status with err[].
 */
static int note_vouch(struct site *s, const struct fetch *f, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	int status = admit_replica_locked(s, f, err, errlen);
	struct peer *p = NULL;
	for (int i = 0; i < s->npeers && !p && status == 0; i++)
		if (!strcmp(s->peers[i].name, f->replica) && s->peers[i].epoch == f->epoch)
			p = &s->peers[i];
	if (status == 0 && !p) {
		snprintf(err, errlen, "no fetch of replica %s was admitted at epoch %" PRIu64
			 ": it vouches for nothing", f->replica, f->epoch);
		status = 409;
	}
	if (p) {
		p->confirmed = f->confirmed;
		if (f->lease_credit > p->lease_credit_ms)
			p->lease_credit_ms = f->lease_credit;
	}
	pthread_mutex_unlock(&s->mu);
	return status;
}

void repl_route_vouch(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	struct fetch f = { .from = 1 };
	uint64_t confirmed;
	char err[300];
	if (!admin_authorized(s, req, resp) ||
	    parse_u64_arg(req, "epoch", true, 0, &f.epoch, resp) ||
	    parse_u64_arg(req, "confirmed", false, 0, &confirmed, resp) ||
	    parse_nonce_arg(s, req, &f, resp) || parse_replica_arg(req, &f, resp))
		return;
	f.confirmed = confirmed != 0;
	int status = note_vouch(s, &f, err, sizeof(err));
	if (status) {
		http_resp_error(resp, status, "%s", err);
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:I}", "epoch", (json_int_t)f.epoch));
	lease_headers(s, resp);
}

void repl_route_snapshot(struct site *s, const struct http_req *req, struct http_resp *resp)
{
	struct fetch f = { .from = 1, .replica = "snapshot" };
	char err[300];
	if (!admin_authorized(s, req, resp) ||
	    parse_u64_arg(req, "epoch", true, 0, &f.epoch, resp) != 0 ||
	    parse_version_arg(req, &f, resp) != 0 || parse_formats_arg(req, &f, resp) != 0)
		return;
	pthread_mutex_lock(&s->mu);
	int status = admit_fetch_locked(s, &f, err, sizeof(err));
	pthread_mutex_unlock(&s->mu);
	if (status) {
		http_resp_error(resp, status, "%s", err);
		return;
	}
	unsigned char *img = NULL;
	size_t len = 0;
	uint64_t lsn;
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	if (ws.write_format > f.formats) {
		refuse_format(resp, &f, ws.write_format, "this primary's snapshot");
		return;
	}
	if (snap_serialise(s->kv, ws.write_format, &img, &len, &lsn, err, sizeof(err)) != 0) {
		http_resp_error(resp, 500, "snapshot: %s", err);
		return;
	}
	log_event(LOG_INFO, "repl.snapshot_sent", "{s:I, s:I}", "lsn", (json_int_t)lsn,
		  "bytes", (json_int_t)len);
	free(resp->body);
	resp->body = (char *)img;
	resp->body_len = len;
	resp->status = 200;
	resp->content_type = "application/x-drorch-snapshot";
	fcv_header(s, resp);
}

/* Unlinks w from the sync writers; under s->mu. */
static void unlink_waiter_locked(struct site *s, struct sync_waiter *w)
{
	for (struct sync_waiter **p = &s->sync_waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
}

int repl_wait_quorum(struct site *s, uint64_t lsn, uint64_t epoch, char *err, size_t errlen)
{
	struct timespec deadline;
	time_deadline(&deadline, s->opts.sync_timeout_ms);
	struct sync_waiter me = { .lsn = lsn };
	int rc = pthread_cond_init(&me.cv, NULL);  /* time_deadline is CLOCK_REALTIME */
	if (rc != 0) {
		snprintf(err, errlen, "cannot wait for replicas: %s", strerror(rc));
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	me.next = s->sync_waiters;
	s->sync_waiters = &me;
	int have = 0;
	rc = -1;
	for (;;) {
		if (s->role.role != ROLE_PRIMARY || s->role.epoch != epoch) {
			snprintf(err, errlen, "role changed while waiting for replicas (now %s at "
				 "epoch %" PRIu64 ")", role_name(s->role.role), s->role.epoch);
			break;
		}
		have = holders_locked(s, lsn, epoch);
		if (have >= s->role.quorum) {
			rc = 0;
			break;
		}
		if (pthread_cond_timedwait(&me.cv, &s->mu, &deadline) != 0) {
			snprintf(err, errlen, "only %d of %d replica(s) confirmed lsn %" PRIu64
				 " within %" PRIu64 " ms (%s)", have, s->role.quorum, lsn,
				 s->opts.sync_timeout_ms, role_mode_name(s->role.mode));
			break;
		}
	}
	unlink_waiter_locked(s, &me);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&me.cv);
	return rc;
}

json_t *repl_peers_json(struct site *s)
{
	json_t *arr = json_array();
	uint64_t now = time_mono_ms();
	for (int i = 0; i < s->npeers; i++) {
		const struct peer *p = &s->peers[i];
		uint64_t recs, bytes, age;
		wal_lag(s->wal, p->flushed_lsn, &recs, &bytes, &age);
		uint64_t ago = now - p->last_seen_ms;
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			"name", p->name, "epoch", (json_int_t)p->epoch,
			"flushed_lsn", (json_int_t)p->flushed_lsn, "applied_lsn", (json_int_t)p->applied_lsn,
			"lag_records", (json_int_t)recs, "lag_bytes", (json_int_t)bytes,
			"lag_ms", (json_int_t)age, "last_seen_ms_ago", (json_int_t)ago,
			"state", p->epoch != s->role.epoch ? "stale_epoch" :
				 ago > s->lease_ms ? "silent" : "streaming"));
	}
	return arr;
}

/* ================================================================ replica side */

/* Records the follower's state; under s->mu. */
static void follow_set_locked(struct site *s, const char *state, const char *error)
{
	s->follow.state = state;
	if (error)
		snprintf(s->follow.last_error, sizeof(s->follow.last_error), "%s", error);
}

static void follow_set(struct site *s, const char *state, const char *error)
{
	pthread_mutex_lock(&s->mu);
	follow_set_locked(s, state, error);
	pthread_mutex_unlock(&s->mu);
}

json_t *repl_follow_json(struct site *s)
{
	struct wal_stats ws;
	struct kv_info ki;
	wal_get_stats(s->wal, &ws);
	kv_get_info(s->kv, &ki);
	const struct follow_status *f = &s->follow;
	uint64_t now = time_mono_ms();
	uint64_t plast = f->primary_last_lsn;
	uint64_t since = f->caught_up_ms ? f->caught_up_ms : f->started_ms;
	bool caught_up = ki.applied_lsn >= plast && f->last_contact_ms &&
			 now - f->last_contact_ms <= s->lease_ms;
	/* Exact (format 2): how long ago the oldest record this replica lacks
	 * was committed, once it has received that record (its commit time is
	 * in the local tail); 0 when it holds the primary's last one.  Else
	 * the time since it was last caught up, an estimate. */
	uint64_t missing_commit = 0, wall = time_wall_ms();
	bool holds_all = ki.applied_lsn >= plast && f->primary_last_commit_ms;
	bool exact = holds_all ||
		     (ki.applied_lsn < plast &&
		      wal_commit_ms_at(s->wal, ki.applied_lsn + 1, &missing_commit));
	uint64_t lag_ms = caught_up ? 0 : now - since;
	if (exact)
		lag_ms = holds_all || missing_commit >= wall ? 0 : wall - missing_commit;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
		"primary", s->role.primary, "state", f->state,
		"encoding", s->opts.json_framing ? "json" : "binary",
		"received_lsn", (json_int_t)ws.last_lsn, "applied_lsn", (json_int_t)ki.applied_lsn,
		"primary_last_lsn", (json_int_t)plast,
		"lag_records", (json_int_t)(plast > ki.applied_lsn ? plast - ki.applied_lsn : 0),
		"lag_ms", (json_int_t)lag_ms,
		"last_contact_ms_ago", (json_int_t)(f->last_contact_ms ? now - f->last_contact_ms : 0),
		"snapshots", (json_int_t)f->snapshots, "last_error", f->last_error);
	if (j) {
		json_object_set_new(j, "primary_writable", json_boolean(f->primary_writable));
		json_object_set_new(j, "vouches", json_integer((json_int_t)f->vouches));
		json_object_set_new(j, "lag_exact", json_boolean(exact));
		json_object_set_new(j, "applied_commit_ms", json_integer((json_int_t)ki.applied_commit_ms));
		json_object_set_new(j, "primary_last_commit_ms",
				    json_integer((json_int_t)f->primary_last_commit_ms));
	}
	if (j && f->diverged_lsn && f->diverged_epoch == s->role.epoch &&
	    strcmp(f->diverged_primary, s->role.primary) == 0)
		json_object_set_new(j, "diverged_lsn", json_integer((json_int_t)f->diverged_lsn));
	return j;
}

/* Notes a record's epoch in the history; true if the history grew. */
static bool note_epoch_locked(struct site *s, const struct wal_record *r)
{
	struct role_state *st = &s->role;
	if (st->nhistory && st->history[st->nhistory - 1].epoch >= r->epoch)
		return false;
	role_history_add(st, r->epoch, r->lsn);
	return true;
}

/* ---------------------------------------------------------- decoding a shipment
 * Pure functions of the answer's bytes (repl.h): the follower below and
 * the fuzz targets run them alike. */

/*
 * Bytes the binary form of JSON-framed records needs, from the actual key
 * and value lengths (a base64 text of n bytes decodes to at most n / 4 * 3).
 * 0 if a record lacks its key or value string.
 */
static size_t json_records_size(json_t *records)
{
	size_t need = 0, i;
	json_t *e;
	json_array_foreach(records, i, e) {
		json_t *k = json_object_get(e, "key"), *v = json_object_get(e, "value");
		if (!json_is_string(k) || !json_is_string(v))
			return 0;
		need += WAL_HEADER_SIZE_MAX + json_string_length(k) + json_string_length(v) / 4 * 3 + 3;
	}
	return need;
}

/* A JSON record's format and commit time: 0, or -1 when the frame's format
 * does not allow them or this build does not read them. */
static int json_record_format(json_t *e, uint8_t frame_format, struct wal_record *r)
{
	json_t *f = json_object_get(e, "format"), *t = json_object_get(e, "commit_ms");
	r->format = 1;
	r->commit_ms = 0;
	if (!f && !t)
		return 0;
	if (!json_is_integer(f) || json_integer_value(f) != 2 || frame_format < 2 ||
	    !format_readable(2) || !json_is_integer(t) || json_integer_value(t) < 0)
		return -1;
	r->format = 2;
	r->commit_ms = (uint64_t)json_integer_value(t);
	return 0;
}

/* Re-encodes JSON-framed records into the binary form, checking each CRC. */
static unsigned char *json_records_to_wal(json_t *records, uint8_t frame_format, size_t *len,
					  char *err, size_t errlen)
{
	size_t cap = json_records_size(records), i;
	json_t *e;
	*len = 0;
	if (cap == 0 && json_array_size(records) > 0) {
		snprintf(err, errlen, "bad JSON record in shipment: key and value must be strings");
		return NULL;
	}
	unsigned char *buf = malloc(cap ? cap : 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory: %zu bytes for %zu JSON records", cap,
			 json_array_size(records));
		return NULL;
	}
	json_array_foreach(records, i, e) {
		const char *type = NULL, *key = NULL, *value = NULL;
		json_int_t lsn = 0, epoch = 0, crc = 0;
		size_t klen = 0, vlen = 0;
		unsigned char *v = NULL;
		struct wal_record r = { 0 };
		if (json_unpack(e, "{s:I, s:I, s:s, s:s%, s:s, s:I}", "lsn", &lsn, "epoch",
				&epoch, "type", &type, "key", &key, &klen, "value", &value,
				"crc", &crc) != 0 || json_record_format(e, frame_format, &r) != 0 ||
		    !(v = base64_decode(value, &vlen)) ||
		    klen == 0 || klen > WAL_MAX_KEY || vlen > WAL_MAX_VALUE ||
		    *len + wal_record_size(r.format, (uint32_t)klen, (uint32_t)vlen) > cap) {
			free(v);
			free(buf);
			snprintf(err, errlen, "bad JSON record #%zu in shipment", i);
			return NULL;
		}
		r.lsn = (uint64_t)lsn;
		r.epoch = (uint64_t)epoch;
		r.type = strcmp(type, "put") == 0 ? WAL_PUT : WAL_DELETE;
		r.key = key;
		r.key_len = (uint32_t)klen;
		r.value = v;
		r.value_len = (uint32_t)vlen;
		unsigned char *dst = buf + *len;
		wal_encode(&r, dst);
		free(v);
		if (get_le32(dst) != (uint32_t)crc) {
			free(buf);
			snprintf(err, errlen, "CRC mismatch in JSON record at lsn %lld", (long long)lsn);
			return NULL;
		}
		*len += wal_record_size(r.format, r.key_len, r.value_len);
	}
	return buf;
}

/* Checks a binary frame's header; the records follow it. */
static int frame_open(struct repl_batch *b, const char *body, size_t len, uint64_t epoch,
		      char *err, size_t errlen)
{
	const unsigned char *f = (const unsigned char *)body;
	size_t hn = SHIP_HEADER;
	b->format = 1;
#if DRSITE_FORMAT_MAX >= 2
	if (len >= SHIP_HEADER2 && memcmp(f, SHIP_MAGIC2, 8) == 0) {
		hn = SHIP_HEADER2;
		b->format = 2;
		b->primary_last_commit_ms = get_le64(f + 32);
	}
#endif
	if (len < hn || (hn == SHIP_HEADER && memcmp(f, SHIP_MAGIC, 8) != 0)) {
		snprintf(err, errlen, "malformed shipping frame (%zu bytes)", len);
		return -1;
	}
	if (get_le64(f + 8) != epoch) {
		snprintf(err, errlen, "primary is at epoch %" PRIu64 ", this replica at %" PRIu64,
			 get_le64(f + 8), epoch);
		return -1;
	}
	b->primary_last_lsn = get_le64(f + 16);
	b->records = f + hn;
	b->len = len - hn;
	return 0;
}

/* Reads a JSON frame: its records re-encoded (and CRC-checked) into b->owned. */
static int frame_open_json(struct repl_batch *b, const char *body, size_t len, uint64_t epoch,
			   char *err, size_t errlen)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	json_t *recs = json_object_get(j, "records");
	json_int_t pe = json_integer_value(json_object_get(j, "epoch"));
	b->primary_last_lsn = (uint64_t)json_integer_value(json_object_get(j, "last_lsn"));
	json_t *format = json_object_get(j, "format");
	b->format = format ? (uint8_t)json_integer_value(format) : 1;
	json_int_t last_commit = json_integer_value(json_object_get(j, "last_commit_ms"));
	b->primary_last_commit_ms = b->format == 2 && last_commit > 0 ? (uint64_t)last_commit : 0;
	int rc = -1;
	if (!json_is_array(recs) || !format_readable(b->format))
		snprintf(err, errlen, "malformed JSON shipping frame");
	else if ((uint64_t)pe != epoch)
		snprintf(err, errlen, "primary is at epoch %lld, this replica at %" PRIu64,
			 (long long)pe, epoch);
	else if ((b->owned = json_records_to_wal(recs, b->format, &b->len, err, errlen)))
		rc = 0;
	b->records = b->owned;
	json_decref(j);
	return rc;
}

int repl_batch_open(struct repl_batch *b, const char *body, size_t len, bool json,
		    uint64_t epoch, uint64_t from, char *err, size_t errlen)
{
	*b = (struct repl_batch){ .next_lsn = from, .epoch = epoch };
	return json ? frame_open_json(b, body, len, epoch, err, errlen)
		    : frame_open(b, body, len, epoch, err, errlen);
}

int repl_batch_next(struct repl_batch *b, struct wal_record *r, char *err, size_t errlen)
{
	if (b->off >= b->len)
		return 0;
	size_t n = wal_decode(b->records + b->off, b->len - b->off, r);
	if (n == 0 || r->lsn != b->next_lsn || r->epoch > b->epoch || r->format > b->format) {
		snprintf(err, errlen, "bad record in shipment at lsn %" PRIu64
			 " (CRC, format, order or epoch)", b->next_lsn);
		return -1;
	}
	b->off += n;
	b->next_lsn++;
	return 1;
}

void repl_batch_free(struct repl_batch *b)
{
	free(b->owned);
	b->owned = NULL;
	b->records = NULL;
	b->len = b->off = 0;
}

/* "diverged_lsn" is the field; older primaries only say "diverged at lsn N"
 * in the message. */
uint64_t repl_diverged_lsn(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	json_t *lsn = json_object_get(j, "diverged_lsn");
	const char *msg = json_string_value(json_object_get(j, "error"));
	const char *at = msg ? strstr(msg, "diverged at lsn ") : NULL;
	uint64_t n = 0;
	if (json_is_integer(lsn) && json_integer_value(lsn) > 0)
		n = (uint64_t)json_integer_value(lsn);
	else if (at)
		n = strtoull(at + strlen("diverged at lsn "), NULL, 10);
	json_decref(j);
	return n;
}

/*
 * Appends the records of a shipment (consecutive from the batch's first
 * LSN, each CRC-checked by repl_batch_next) to the local WAL and waits
 * until they are durable.  Returns the count, or -1.
 */
static long apply_records(struct site *s, struct repl_batch *b, const char *primary,
			  uint64_t epoch, char *err, size_t errlen)
{
	uint64_t from = b->next_lsn;
	bool history_grew = false;
	long rc = 0;
	/* Under s->mu, so a role change cannot slip in between the check and the
	 * append: once the orchestrator has moved this replica, nothing more from
	 * its old primary lands. */
	pthread_mutex_lock(&s->mu);
	if (s->role.role != ROLE_REPLICA || s->role.epoch != epoch ||
	    strcmp(s->role.primary, primary) != 0) {
		snprintf(err, errlen, "role changed during the fetch; shipment discarded");
		rc = -1;
	}
	uint64_t expect = from;
	while (rc == 0) {
		struct wal_record r;
		int more = repl_batch_next(b, &r, err, errlen);
		if (more <= 0) {
			rc = more;
			break;
		}
		if (wal_append_record(s->wal, &r, err, errlen) != 0) {
			rc = -1;
		} else {
			history_grew |= note_epoch_locked(s, &r);
			expect++;
		}
	}
	if (history_grew && role_save(s->datadir, &s->role, err, errlen) != 0)
		log_event(LOG_ERROR, "site.persist_failed", "{s:s}", "error", err);
	pthread_mutex_unlock(&s->mu);
	if (expect > from && wal_wait(s->wal, expect - 1, err, errlen) != 0)
		return -1;
	return rc ? -1 : (long)(expect - from);
}

/*
 * Whether this site is still a replica of primary at epoch.  A snapshot
 * download can take long; one from a primary this site no longer follows
 * must not replace its data.  Checked under s->mu right before the
 * install; a role change in the short window between this check and the
 * install is not covered (closing it would mean holding s->mu across the
 * snapshot's write and fsync), the next round sees it.
 */
static bool still_following(struct site *s, const char *primary, uint64_t epoch,
			    char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	bool still = s->role.role == ROLE_REPLICA && s->role.epoch == epoch &&
		     strcmp(s->role.primary, primary) == 0;
	if (!still)
		snprintf(err, errlen, "role changed during the snapshot download (now %s at "
			 "epoch %" PRIu64 "); snapshot discarded", role_name(s->role.role),
			 s->role.epoch);
	pthread_mutex_unlock(&s->mu);
	return still;
}

int repl_snapshot_download(struct site *s, struct httpc *c, const char *primary,
			   uint64_t epoch, struct httpc_resp *r, char *err, size_t errlen)
{
	char url[512], bin[ROLE_VERSION_MAX];
	snprintf(url, sizeof(url), "http://%s/v1/snapshot?epoch=%" PRIu64 "&version=%s%s", primary,
		 epoch, version_text(&s->opts.binary, bin, sizeof(bin)), FORMATS_ARG);
	if (httpc_request(c, "GET", url, s->token, NULL, 0, 60000, r, err, errlen) != 0)
		return -1;
	if (r->status == 200)
		return 0;
	snprintf(err, errlen, "snapshot: HTTP %ld: %.200s", r->status, r->body);
	httpc_resp_free(r);
	return -1;
}

int repl_snapshot_install(struct site *s, const char *primary, uint64_t epoch,
			  const unsigned char *img, size_t len, uint64_t *lsn, bool *changed,
			  char *err, size_t errlen)
{
	int rc = -1;
	uint64_t snap_epoch = 0;
	*changed = false;
	pthread_mutex_lock(&s->cp_run_mu);  /* no checkpoint while the log is replaced */
	if (still_following(s, primary, epoch, err, errlen)) {
		*changed = true;
		rc = snap_install(s->kv, s->datadir, img, len, lsn, &snap_epoch, err, errlen);
	}
	struct kv_info ki;
	kv_get_info(s->kv, &ki);
	if (rc == 0)
		rc = wal_reset(s->wal, *lsn, snap_epoch, ki.applied_commit_ms, err, errlen);
	if (rc == 0) {
		pthread_mutex_lock(&s->cp_mu);
		s->cp_lsn = *lsn;
		pthread_mutex_unlock(&s->cp_mu);
	}
	pthread_mutex_unlock(&s->cp_run_mu);
	if (rc == 0) {
		pthread_mutex_lock(&s->mu);
		s->follow.snapshots++;
		pthread_mutex_unlock(&s->mu);
		log_event(LOG_INFO, "repl.snapshot_installed", "{s:s, s:I, s:I}", "primary", primary,
			  "lsn", (json_int_t)*lsn, "bytes", (json_int_t)len);
	}
	return rc;
}

/* INITIAL FCV: an empty replica takes its primary's FCV when it is lower
 * than its own (the answer's X-Drorch-Fcv), before it writes anything. */
static void adopt_primary_fcv(struct site *s, const struct httpc_resp *r)
{
	char text[ROLE_VERSION_MAX], have[ROLE_VERSION_MAX], err[300];
	struct version fcv;
	struct wal_stats ws;
	if (!httpc_resp_header(r, "X-Drorch-Fcv", text, sizeof(text)) || !version_parse(text, &fcv))
		return;
	wal_get_stats(s->wal, &ws);
	pthread_mutex_lock(&s->mu);
	struct version before = s->role.fcv;
	if (ws.last_lsn == 0 && version_cmp(&fcv, &before) < 0) {
		version_text(&before, have, sizeof(have));
		s->role.fcv = fcv;
		if (role_save(s->datadir, &s->role, err, sizeof(err)) != 0) {
			s->role.fcv = before;
			log_event(LOG_ERROR, "repl.fcv_adopt_failed", "{s:s, s:s}", "fcv", text,
				  "error", err);
		} else {
			wal_set_format(s->wal, format_for_fcv(&fcv));
			log_event(LOG_INFO, "repl.fcv_adopted", "{s:s, s:s, s:i}", "fcv", text,
				  "from", have, "writes_format", (int)format_for_fcv(&fcv));
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* Installs the primary's snapshot, then restarts the local WAL after it. */
static int fetch_snapshot(struct site *s, struct httpc *c, const char *primary,
			  uint64_t epoch, char *err, size_t errlen)
{
	follow_set(s, "snapshot", NULL);
	struct httpc_resp r;
	if (repl_snapshot_download(s, c, primary, epoch, &r, err, errlen) != 0)
		return -1;
	adopt_primary_fcv(s, &r);
	uint64_t lsn = 0;
	bool changed;
	int rc = repl_snapshot_install(s, primary, epoch, (const unsigned char *)r.body,
				       r.body_len, &lsn, &changed, err, errlen);
	httpc_resp_free(&r);
	return rc;
}

/* Applies one 200 answer, binary or JSON. */
static int apply_answer(struct site *s, const struct httpc_resp *r, uint64_t from,
			const char *primary, uint64_t epoch, uint64_t *plast, uint64_t *plast_commit,
			char *err, size_t errlen)
{
	struct repl_batch b;
	int rc = repl_batch_open(&b, r->body, r->body_len, s->opts.json_framing, epoch, from,
				 err, errlen);
	if (rc == 0) {
		*plast = b.primary_last_lsn;
		*plast_commit = b.primary_last_commit_ms;
		/* Known before the records are applied: lag counts what is in flight. */
		pthread_mutex_lock(&s->mu);
		s->follow.primary_last_lsn = b.primary_last_lsn;
		s->follow.primary_last_commit_ms = b.primary_last_commit_ms;
		pthread_mutex_unlock(&s->mu);
		rc = apply_records(s, &b, primary, epoch, err, errlen) < 0 ? -1 : 0;
	}
	repl_batch_free(&b);
	return rc;
}

/* Keeps the lowest LSN the primary said this site's log diverged at, while
 * this site still follows that primary at that epoch; under s->mu. */
static void note_diverged_locked(struct site *s, const char *primary, uint64_t epoch,
				 uint64_t lsn)
{
	struct follow_status *f = &s->follow;
	if (s->role.role != ROLE_REPLICA || s->role.epoch != epoch ||
	    strcmp(s->role.primary, primary) != 0)
		return;
	bool same = f->diverged_lsn && f->diverged_epoch == epoch &&
		    strcmp(f->diverged_primary, primary) == 0;
	if (same && f->diverged_lsn <= lsn)
		return;
	f->diverged_lsn = lsn;
	f->diverged_epoch = epoch;
	snprintf(f->diverged_primary, sizeof(f->diverged_primary), "%s", primary);
}

/* The fetch in flight is from this primary at this epoch. */
struct fetch_plan {
	struct site *s;
	const char *primary;
	uint64_t epoch;
};

/* Whether a role command changed the plan while the fetch waits: a
 * partitioned primary's long poll must not hold a replica that drorchd
 * already repointed (httpc_set_give_up). */
static bool plan_changed(void *ctx)
{
	const struct fetch_plan *p = ctx;
	pthread_mutex_lock(&p->s->mu);
	bool changed = p->s->role.role != ROLE_REPLICA || p->s->role.epoch != p->epoch ||
		       strcmp(p->s->role.primary, p->primary) != 0;
	pthread_mutex_unlock(&p->s->mu);
	return changed;
}

/*
 * VOUCHING.  A fetch renews the primary's lease as of the nonce of the
 * primary's previous answer, so it renews nothing while the replica
 * applies that answer's records: a slow disk or a starved CPU that makes
 * the apply outlast the lease would stop a replica in contact from
 * vouching, and the primary would refuse writes with nobody about to
 * replace it.  So while an apply lasts, the voucher thread sends
 *
 *   GET /v1/wal/vouch?epoch=E&replica=NAME&confirmed=0|1&lease_nonce=N
 *
 * every quarter lease (the shorter of its own and the primary's, from the
 * answers' X-Drorch-Lease-Ms), echoing the newest nonce that primary handed out
 * (the answer being applied, then each vouch's answer).  It renews the
 * lease as a fetch does, as of the nonce's instant, and acks nothing.  It
 * is sent only while the site still follows that primary at that epoch,
 * checked under s->mu before each send, so a fenced or repointed replica
 * vouches for nothing after its role changed: the nonce it echoes was
 * handed out before the change, as a fetch's would be.  Every answer whose
 * nonce may be echoed moves last_contact_ms when it comes, the fetch's
 * before its apply and each vouch's, under s->mu with the nonce: a fence's
 * primary_contact_ms_ago, drorchd's bound on when this replica can last
 * have renewed the old primary's lease, stays true.
 */

/* A 200 answer's records are about to be applied; its nonce is the one to
 * vouch with, and lease_ms the primary's lease (0: unknown). */
static void applying_begin(struct site *s, const char *primary, uint64_t epoch,
			   const char *nonce, uint64_t lease_ms)
{
	pthread_mutex_lock(&s->mu);
	struct follow_status *f = &s->follow;
	f->applying_since = time_mono_ms();
	f->last_contact_ms = f->applying_since;  /* see the fence's primary_contact_ms_ago */
	f->applying_epoch = epoch;
	snprintf(f->applying_primary, sizeof(f->applying_primary), "%s", primary);
	snprintf(f->applying_nonce, sizeof(f->applying_nonce), "%s", nonce);
	f->applying_lease_ms = lease_ms;
	pthread_mutex_unlock(&s->mu);
}

/* One long-poll round with the primary: fetch (and so ack), apply, flush. */
static int follow_once(struct site *s, struct httpc *c, const char *primary, uint64_t epoch)
{
	struct wal_stats ws;
	struct kv_info ki;
	wal_get_stats(s->wal, &ws);
	/* A fetch from L+1 tells the primary that L is durable here (it counts
	 * it for a sync quorum and renews its lease): a log that failed, or
	 * holds records not yet on disk (a stalled flush), sends none. */
	if (ws.failed || ws.flushed_lsn != ws.last_lsn) {
		follow_set(s, "stalled", ws.failed ? "the local WAL failed: nothing more is durable here"
						  : "records not yet durable here");
		return -1;
	}
	kv_get_info(s->kv, &ki);
	char nonce[SITE_NONCE_MAX + 16] = "";
	pthread_mutex_lock(&s->mu);
	bool confirmed = s->confirmed;
	if (s->follow.lease_nonce[0] && s->follow.nonce_epoch == epoch &&
	    strcmp(s->follow.nonce_primary, primary) == 0)
		snprintf(nonce, sizeof(nonce), "&lease_nonce=%s", s->follow.lease_nonce);
	pthread_mutex_unlock(&s->mu);
	uint64_t from = ws.last_lsn + 1, plast = 0, plast_commit = 0;
	char url[900], err[300], prev_crc[32] = "", bin[ROLE_VERSION_MAX];
	if (ws.last_crc_known)
		snprintf(prev_crc, sizeof(prev_crc), "&prev_crc=%" PRIu32, ws.last_crc);
	snprintf(url, sizeof(url), "http://%s/v1/wal?from=%" PRIu64 "&epoch=%" PRIu64
		 "&replica=%s&applied=%" PRIu64 "&prev_epoch=%" PRIu64 "%s&confirmed=%d"
		 "&wait_ms=%d&encoding=%s&version=%s%s%s", primary, from, epoch, s->name,
		 ki.applied_lsn, ws.last_epoch, prev_crc, confirmed, FOLLOW_WAIT_MS,
		 s->opts.json_framing ? "json" : "binary",
		 version_text(&s->opts.binary, bin, sizeof(bin)), nonce, FORMATS_ARG);
	struct httpc_resp r;
	struct fetch_plan plan = { s, primary, epoch };
	httpc_set_give_up(c, plan_changed, &plan);
	int got = httpc_request(c, "GET", url, s->token, NULL, 0, FOLLOW_WAIT_MS + 4500, &r, err,
				sizeof(err));
	httpc_set_give_up(c, NULL, NULL);
	if (got != 0) {
		/* "unreachable": the fetch never reached the primary, so it renewed
		 * no lease there (drorchd relies on that to shorten its wait). */
		follow_set(s, httpc_not_delivered(c) ? "unreachable" : "disconnected", err);
		return -1;
	}
	int rc = -1;
	uint64_t diverged = r.status == 409 ? repl_diverged_lsn(r.body, r.body_len) : 0;
	char answer_nonce[SITE_NONCE_MAX] = "", writable[4] = "1";
	if (r.status == 200 &&
	    !httpc_resp_header(&r, "X-Drorch-Lease-Nonce", answer_nonce, sizeof(answer_nonce)))
		answer_nonce[0] = '\0';
	if (r.status == 200)
		httpc_resp_header(&r, "X-Drorch-Primary-Writable", writable, sizeof(writable));
	if (r.status == 200) {
		adopt_primary_fcv(s, &r);
		applying_begin(s, primary, epoch, answer_nonce, answer_lease_ms(&r));
		rc = apply_answer(s, &r, from, primary, epoch, &plast, &plast_commit, err,
				  sizeof(err));
	}
	else if (r.status == 410)
		rc = fetch_snapshot(s, c, primary, epoch, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "HTTP %ld: %.200s", r.status, r.body);
	httpc_resp_free(&r);
	pthread_mutex_lock(&s->mu);
	if (s->follow.applying_since) {  /* a vouch may have brought a newer nonce */
		snprintf(answer_nonce, sizeof(answer_nonce), "%s", s->follow.applying_nonce);
		s->follow.applying_since = 0;
	}
	if (rc == 0 && r.status == 200) {
		uint64_t now = time_mono_ms();
		wal_get_stats(s->wal, &ws);
		s->follow.primary_last_lsn = plast;
		s->follow.primary_last_commit_ms = plast_commit;
		s->follow.last_contact_ms = now;
		if (ws.flushed_lsn >= plast)
			s->follow.caught_up_ms = now;
		follow_set_locked(s, "streaming", NULL);
		snprintf(s->follow.lease_nonce, sizeof(s->follow.lease_nonce), "%s", answer_nonce);
		snprintf(s->follow.nonce_primary, sizeof(s->follow.nonce_primary), "%s", primary);
		s->follow.nonce_epoch = epoch;
		s->follow.primary_writable = strcmp(writable, "0") != 0;
		s->follow.last_error[0] = '\0';  /* the error is over */
		s->follow.diverged_lsn = 0;       /* admitted: the logs agree */
	} else if (rc != 0) {
		follow_set_locked(s, "refused", err);
		if (diverged)
			note_diverged_locked(s, primary, epoch, diverged);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		log_event(LOG_WARN, "repl.follow_failed", "{s:s, s:s}", "primary", primary,
			  "error", err);
	return rc;
}

static void timed_wait_role(struct site *s, uint64_t ms)
{
	struct timespec ts;
	time_deadline(&ts, ms);
	pthread_cond_timedwait(&s->role_cv, &s->mu, &ts);
}

static void *follower_main(void *arg)
{
	struct site *s = arg;
	struct httpc *c = httpc_new();
	uint64_t backoff = 0;
	pthread_mutex_lock(&s->mu);
	s->follow.started_ms = time_mono_ms();
	while (!s->stopping && c) {
		if (s->role.role != ROLE_REPLICA || s->rewinding) {
			follow_set_locked(s, s->rewinding ? "rewinding" : "idle", NULL);
			timed_wait_role(s, 1000);
			continue;
		}
		char primary[ROLE_ADDR_MAX];
		snprintf(primary, sizeof(primary), "%s", s->role.primary);
		uint64_t epoch = s->role.epoch;
		s->follow.in_round = true;
		pthread_mutex_unlock(&s->mu);
		int rc = follow_once(s, c, primary, epoch);
		pthread_mutex_lock(&s->mu);
		s->follow.in_round = false;
		pthread_cond_broadcast(&s->role_cv);  /* a rewind may wait for the round */
		backoff = rc == 0 ? 0 : backoff ? backoff * 2 : 50;
		if (backoff > FOLLOW_MAX_BACKOFF_MS)
			backoff = FOLLOW_MAX_BACKOFF_MS;
		if (backoff && !s->stopping)
			timed_wait_role(s, backoff);
	}
	pthread_mutex_unlock(&s->mu);
	httpc_free(c);
	return NULL;
}

/* Stops the follower and, if it runs, the voucher. */
static void repl_follower_stop_threads(struct site *s, bool voucher)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->role_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->follower, NULL);
	if (voucher)
		pthread_join(s->voucher, NULL);
}

/* The voucher's period: a quarter of the shorter of this site's lease and
 * its primary's, 20 ms at least.  Under s->mu. */
static uint64_t vouch_period_locked(const struct site *s)
{
	uint64_t lease = s->lease_ms, theirs = s->follow.applying_lease_ms;
	if (theirs && theirs < lease)
		lease = theirs;
	return lease / 4 > 20 ? lease / 4 : 20;
}

/* Under s->mu: the url of a vouch due now (VOUCHING), "" when none is. */
static void vouch_due_locked(struct site *s, uint64_t now, char *url, size_t len)
{
	const struct follow_status *f = &s->follow;
	uint64_t last = f->vouched_ms > f->applying_since ? f->vouched_ms : f->applying_since;
	url[0] = '\0';
	if (!f->applying_since || !f->applying_nonce[0] || now - last < vouch_period_locked(s) ||
	    s->role.role != ROLE_REPLICA || s->rewinding || s->role.epoch != f->applying_epoch ||
	    strcmp(s->role.primary, f->applying_primary) != 0)
		return;
	snprintf(url, len, "http://%s/v1/wal/vouch?epoch=%" PRIu64 "&replica=%s&confirmed=%d"
		 "&lease_nonce=%s", f->applying_primary, f->applying_epoch, s->name, s->confirmed,
		 f->applying_nonce);
}

/* Sends one vouch to primary at epoch; a 200's nonce becomes the one to
 * echo next.  Answered or not, the next is a period later. */
static void vouch_once(struct site *s, struct httpc *c, const char *url, const char *primary,
		       uint64_t epoch)
{
	struct httpc_resp r;
	char err[300], nonce[SITE_NONCE_MAX] = "";
	bool ok = false;
	uint64_t timeout, lease = 0;
	pthread_mutex_lock(&s->mu);
	timeout = vouch_period_locked(s) * 2;  /* at most 1 s: a stop waits for it */
	pthread_mutex_unlock(&s->mu);
	if (timeout > 1000)
		timeout = 1000;
	if (httpc_request(c, "GET", url, s->token, NULL, 0, (long)timeout, &r, err,
			  sizeof(err)) == 0) {
		ok = r.status == 200 &&
		     httpc_resp_header(&r, "X-Drorch-Lease-Nonce", nonce, sizeof(nonce)) && nonce[0];
		lease = ok ? answer_lease_ms(&r) : 0;
		httpc_resp_free(&r);
	}
	pthread_mutex_lock(&s->mu);
	struct follow_status *f = &s->follow;
	if (ok && f->applying_since && f->applying_epoch == epoch &&
	    !strcmp(f->applying_primary, primary)) {
		snprintf(f->applying_nonce, sizeof(f->applying_nonce), "%s", nonce);
		f->applying_lease_ms = lease;
		f->last_contact_ms = time_mono_ms();
		f->vouches++;
	}
	f->vouched_ms = time_mono_ms();
	pthread_mutex_unlock(&s->mu);
}

/* It polls rather than waits on role_cv, which every fetch round signals:
 * at most 20 wake-ups a second, none per round. */
static void *voucher_main(void *arg)
{
	struct site *s = arg;
	struct httpc *c = httpc_new();
	for (;;) {
		char url[600], primary[ROLE_ADDR_MAX];
		pthread_mutex_lock(&s->mu);
		bool stop = s->stopping || !c;
		uint64_t epoch = s->follow.applying_epoch, nap = vouch_period_locked(s) / 2;
		snprintf(primary, sizeof(primary), "%s", s->follow.applying_primary);
		vouch_due_locked(s, time_mono_ms(), url, sizeof(url));
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		if (url[0])
			vouch_once(s, c, url, primary, epoch);
		else
			time_sleep_ms(nap < 50 ? nap : 50);
	}
	httpc_free(c);
	return NULL;
}

int repl_follower_start(struct site *s, char *err, size_t errlen)
{
	int rc = pthread_create(&s->follower, NULL, follower_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "start replication follower: %s", strerror(rc));
		return -1;
	}
	rc = pthread_create(&s->voucher, NULL, voucher_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "start replication voucher: %s", strerror(rc));
		repl_follower_stop_threads(s, false);
		return -1;
	}
	s->follower_started = true;
	return 0;
}

void repl_follower_stop(struct site *s)
{
	if (!s->follower_started)
		return;
	repl_follower_stop_threads(s, true);
	s->follower_started = false;
}
