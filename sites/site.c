/*
 * site.c — a drsite: data dir, WAL + map, checkpoints, HTTP API.
 *
 * Start-up order: lock DIR/LOCK; load the newest snapshot into the map;
 * open the WAL, which replays every record after the snapshot into the map
 * and truncates a torn tail; start the checkpointer.  From then on the WAL's
 * flusher is the only writer of the map (records are applied in LSN order,
 * after their fsync), so a read never sees a write that is not durable.
 */
#include "site.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"
#include "log.h"
#include "snapshot.h"
#include "timeutil.h"
#include "wal.h"

#define SITE_FCV "0.1"

struct site {
	struct site_opts opts;
	char *name;
	char *datadir;
	int lock_fd;
	struct kv *kv;
	struct wal *wal;

	pthread_t checkpointer;
	pthread_mutex_t cp_mu;
	pthread_cond_t cp_cv;
	bool cp_stop;
	uint64_t cp_lsn;           /* LSN of the newest checkpoint */
	uint64_t cp_wal_bytes;     /* WAL bytes written when it was taken */
	uint64_t cp_count;
	uint64_t cp_last_ms;       /* how long the last one took */
};

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

static void checkpoint_now(struct site *s)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	uint64_t t0 = time_mono_ms(), lsn = 0;
	char err[256];
	if (snap_write(s->kv, s->datadir, &lsn, err, sizeof(err)) != 0) {
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

static bool checkpoint_due(struct site *s)
{
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	return ws.bytes - s->cp_wal_bytes >= s->opts.checkpoint_bytes;
}

/* Polls the WAL volume every 100 ms; a checkpoint never blocks a writer for
 * longer than it takes to copy the map under its read lock. */
static void *checkpointer_main(void *arg)
{
	struct site *s = arg;
	pthread_mutex_lock(&s->cp_mu);
	while (!s->cp_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cp_cv, &s->cp_mu, &ts);
		if (s->cp_stop)
			break;
		pthread_mutex_unlock(&s->cp_mu);
		if (checkpoint_due(s))
			checkpoint_now(s);
		pthread_mutex_lock(&s->cp_mu);
	}
	pthread_mutex_unlock(&s->cp_mu);
	return NULL;
}

/* ---- open / close ------------------------------------------------------------ */

static int apply_to_map(void *ctx, const struct wal_record *rec)
{
	return kv_apply(ctx, rec);
}

static int site_load(struct site *s, char *err, size_t errlen)
{
	uint64_t snap_lsn, snap_epoch;
	if (snap_load_latest(s->kv, s->datadir, &snap_lsn, &snap_epoch, err, errlen) != 0)
		return -1;
	s->cp_lsn = snap_lsn;
	struct wal_opts wo = { .dir = s->datadir, .segment_bytes = s->opts.segment_bytes,
			       .replay_after_lsn = snap_lsn, .apply = apply_to_map,
			       .apply_ctx = s->kv };
	if (wal_open(&s->wal, &wo, err, errlen) != 0)
		return -1;
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

int site_open(struct site **out, const struct site_opts *opts, char *err, size_t errlen)
{
	struct site *s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(opts->name)) || !(s->datadir = strdup(opts->datadir)) ||
	    !(s->kv = kv_new())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->opts = *opts;
	s->lock_fd = -1;
	pthread_mutex_init(&s->cp_mu, NULL);
	pthread_cond_init(&s->cp_cv, NULL);
	if (lock_datadir(s, err, errlen) != 0 || site_load(s, err, errlen) != 0)
		goto fail;
	if (pthread_create(&s->checkpointer, NULL, checkpointer_main, s) != 0) {
		snprintf(err, errlen, "start checkpointer: %s", strerror(errno));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s) {
		wal_close(s->wal);
		kv_free(s->kv);
		if (s->lock_fd >= 0)
			close(s->lock_fd);
		free(s->name);
		free(s->datadir);
		free(s);
	}
	return -1;
}

void site_close(struct site *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->cp_mu);
	s->cp_stop = true;
	pthread_cond_signal(&s->cp_cv);
	pthread_mutex_unlock(&s->cp_mu);
	pthread_join(s->checkpointer, NULL);
	struct wal_stats ws;
	wal_get_stats(s->wal, &ws);
	if (ws.flushed_lsn > s->cp_lsn)
		checkpoint_now(s);  /* makes the next start-up replay nothing */
	wal_close(s->wal);
	kv_free(s->kv);
	pthread_mutex_destroy(&s->cp_mu);
	pthread_cond_destroy(&s->cp_cv);
	close(s->lock_fd);
	free(s->name);
	free(s->datadir);
	free(s);
}

/* ---- HTTP API ----------------------------------------------------------------- */

#define KV_PREFIX "/v1/kv/"

static bool key_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Validates the key of a /v1/kv/ path; sets the error response if bad. */
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
			http_resp_error(resp, 400, "key has a byte (0x%02x at offset %zu) outside "
					"A-Z a-z 0-9 - _ . ~", (unsigned char)key[i], i);
			return false;
		}
	return true;
}

static void site_epoch_lsn_json(struct http_resp *resp, uint64_t lsn, uint64_t epoch)
{
	http_resp_json(resp, 200, json_pack("{s:I, s:I}", "lsn", (json_int_t)lsn,
					    "epoch", (json_int_t)epoch));
}

/* Appends one record and answers once it is durable. */
static void kv_write(struct site *s, uint8_t type, const char *key, size_t klen,
		     const char *value, size_t vlen, struct http_resp *resp)
{
	if (vlen > WAL_MAX_VALUE) {
		http_resp_error(resp, 413, "value is %zu bytes; the limit is %u", vlen, WAL_MAX_VALUE);
		return;
	}
	struct kv_info ki;
	kv_get_info(s->kv, &ki);
	uint64_t lsn;
	char err[300];
	if (wal_append(s->wal, type, ki.epoch, key, (uint32_t)klen, value, (uint32_t)vlen,
		       &lsn, err, sizeof(err)) != 0 ||
	    wal_wait(s->wal, lsn, err, sizeof(err)) != 0) {
		http_resp_error(resp, 503, "write not acknowledged: %s", err);
		return;
	}
	site_epoch_lsn_json(resp, lsn, ki.epoch);
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

static json_t *status_json(struct site *s)
{
	struct wal_stats ws;
	struct kv_info ki;
	wal_get_stats(s->wal, &ws);
	kv_get_info(s->kv, &ki);
	pthread_mutex_lock(&s->cp_mu);
	json_t *cp = json_pack("{s:I, s:I, s:I}", "lsn", (json_int_t)s->cp_lsn,
			       "count", (json_int_t)s->cp_count,
			       "last_ms", (json_int_t)s->cp_last_ms);
	pthread_mutex_unlock(&s->cp_mu);
	json_t *wal = json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:I}",
				"writes", (json_int_t)ws.records, "fsyncs", (json_int_t)ws.fsyncs,
				"fsyncs_per_write", ws.records ? (double)ws.fsyncs / (double)ws.records : 0.0,
				"bytes", (json_int_t)ws.bytes, "segments", (json_int_t)ws.segments,
				"oldest_lsn", (json_int_t)ws.oldest_lsn,
				"truncated_bytes_at_open", (json_int_t)ws.truncated_bytes);
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:o, s:o, s:[]}",
			 "name", s->name, "role", "primary", "standalone", 1,
			 "epoch", (json_int_t)ki.epoch, "lsn", (json_int_t)ws.last_lsn,
			 "flushed_lsn", (json_int_t)ws.flushed_lsn,
			 "applied_lsn", (json_int_t)ki.applied_lsn,
			 "version", PACKAGE_VERSION, "fcv", SITE_FCV,
			 "keys", (json_int_t)ki.keys, "wal", wal, "checkpoint", cp, "peers");
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

void site_http_handler(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct site *s = ctx;
	bool get = strcmp(req->method, "GET") == 0;
	if (strncmp(req->path, KV_PREFIX, strlen(KV_PREFIX)) == 0)
		route_kv(s, req, resp);
	else if (strcmp(req->path, "/v1/kv") == 0 || strcmp(req->path, "/v1/kv/") == 0)
		http_resp_error(resp, 400, "missing key: use /v1/kv/{key}");
	else if (get && strcmp(req->path, "/v1/status") == 0)
		http_resp_json(resp, 200, status_json(s));
	else if (get && strcmp(req->path, "/healthz") == 0)
		health(s, resp);
	else if (strcmp(req->path, "/v1/status") == 0 || strcmp(req->path, "/healthz") == 0)
		http_resp_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
	else
		http_resp_error(resp, 404, "no route for %s %s", req->method, req->path);
}
