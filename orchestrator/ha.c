/*
 * ha.c — leader election, self-fencing, the replicated log and its mirror
 * (ha.h says what each key holds and why).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "ha.h"
#include "log.h"
#include "timeutil.h"

#define HA_KEY_MAX 256
#define HA_APPLY_BATCH 256
#define HA_WATCH_MS 2000
#define HA_MEMBERS_EVERY_MS 1000
#define HA_RETRY_MS 20         /* between tries of a log write */

struct ha {
	struct config_ha cfg;
	struct store *store;
	struct etcd *session;          /* the session thread's client */
	struct etcd *mirror;           /* the mirror thread's */
	struct etcd *writer;           /* ha_replicate's (under the store's mutex) */
	char leader_key[HA_KEY_MAX], head_key[HA_KEY_MAX], cluster_key[HA_KEY_MAX],
	     log_prefix[HA_KEY_MAX],
	     member_key[HA_KEY_MAX], members_prefix[HA_KEY_MAX];
	uint64_t tick_ms;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
	int64_t lease;                 /* 0: none */
	uint64_t lease_sent_ms;        /* monotonic: when the last renewal that held was sent */
	bool leads;                    /* holds P/leader (as of the last look) */
	bool ready;                    /* ... and its store holds the whole log */
	int64_t term;                  /* P/leader's create_revision while it leads */
	int64_t head_rev;              /* P/head's mod_revision as the leader wrote it */
	int64_t head_index;            /* the log's last index as the leader wrote it */
	uint64_t terms;                /* times it became a ready leader */
	char leader_name[CONFIG_NAME_MAX], leader_url[CONFIG_URL_MAX];
	int64_t leader_term;           /* P/leader's create_revision as last seen (0: none) */
	char mirror_error[512];        /* "" while the mirror applies the log */
	json_t *instances;             /* [{name, url}] as last read */

	pthread_t session_thread, mirror_thread;
	bool threads;
	atomic_bool stop_flag;         /* etcd_watch's */
};

static uint64_t fence_ms(const struct ha *h)
{
	return h->cfg.lease_ttl_ms - h->cfg.lease_ttl_ms / 4;
}

/* The lease cannot have expired in etcd yet (with a quarter to spare). */
static bool lease_valid_locked(const struct ha *h)
{
	return h->lease && time_mono_ms() < h->lease_sent_ms + fence_ms(h);
}

static bool may_act_locked(const struct ha *h)
{
	return h->ready && lease_valid_locked(h);
}

bool ha_may_act(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	bool ok = may_act_locked(h);
	pthread_mutex_unlock(&h->mu);
	return ok;
}

bool ha_wait_leader(struct ha *h, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	pthread_mutex_lock(&h->mu);
	while (!may_act_locked(h) && !h->stopping && time_mono_ms() < end) {
		struct timespec ts;
		time_deadline(&ts, 50);
		pthread_cond_timedwait(&h->cond, &h->mu, &ts);
	}
	bool ok = may_act_locked(h);
	pthread_mutex_unlock(&h->mu);
	return ok;
}

uint64_t ha_terms(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	uint64_t n = h->terms;
	pthread_mutex_unlock(&h->mu);
	return n;
}

int64_t ha_term(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	int64_t t = h->leads ? h->term : 0;
	pthread_mutex_unlock(&h->mu);
	return t;
}

/* Another instance holds the leader key.  A key that names this instance
 * but that it does not hold is an earlier run's of this instance (killed,
 * its lease not expired yet): nobody leads, and sending a client there
 * would send it back here. */
static bool other_leads_locked(const struct ha *h)
{
	return !h->leads && h->leader_url[0] && strcmp(h->leader_name, h->cfg.name) != 0;
}

bool ha_leader_url(struct ha *h, char *url, size_t len)
{
	pthread_mutex_lock(&h->mu);
	bool other = other_leads_locked(h);
	snprintf(url, len, "%s", other ? h->leader_url : "");
	pthread_mutex_unlock(&h->mu);
	return other;
}

static const char *role_locked(const struct ha *h)
{
	return h->leads ? "leader" : other_leads_locked(h) ? "follower" : "candidate";
}

const char *ha_role(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	const char *r = role_locked(h);
	pthread_mutex_unlock(&h->mu);
	return r;
}

/* Stops acting (the caller holds mu); says why once. */
static void step_down_locked(struct ha *h, const char *why)
{
	if (h->ready || h->leads)
		log_event(LOG_WARN, "ha.step_down", "{s:s, s:I, s:s, s:I}", "name", h->cfg.name,
			  "term", (json_int_t)h->term, "why", why, "wall_ms",
			  (json_int_t)time_wall_ms());
	h->ready = false;
	h->leads = false;
	h->term = 0;
	pthread_cond_broadcast(&h->cond);
}

/* ---- the replicated log ------------------------------------------------------- */

static void log_key(const struct ha *h, int64_t index, char *key, size_t len)
{
	snprintf(key, len, "%.200s%020" PRId64, h->log_prefix, index);
}

/* P/cluster's new value when op changes the cluster row (its state, epoch,
 * primary, run and version, and the log index that made it), else NULL. */
static char *cluster_value(const json_t *op, int64_t n)
{
	const char *name = json_string_value(json_object_get(op, "op")) ?: "";
	bool init = !strcmp(name, "cluster_init");
	if (!init && strcmp(name, "transition") && strcmp(name, "cluster_update"))
		return NULL;
	const json_t *row = init ? op : json_object_get(op, "next");
	json_int_t version = init ? 1 : json_integer_value(json_object_get(op, "expected")) + 1;
	json_t *v = json_pack("{s:O?, s:O?, s:O?, s:I, s:I, s:I}", "state",
			      json_object_get(row, "state"), "epoch", json_object_get(row, "epoch"),
			      "primary", json_object_get(row, "primary"), "run_id",
			      json_integer_value(json_object_get(row, "run_id")), "version", version,
			      "index", (json_int_t)n);
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	return text;
}

/* One write of the log: operation n (value) and P/head, with P/cluster's
 * new value when it changes, if this leader's term and P/head's revision
 * still hold. */
struct log_write {
	int64_t term, rev, n;
	char key[HA_KEY_MAX], head[64];
	char *value, *cluster;
};

/* Sends w's transaction: 0 (r filled), -1 or ETCD_UNKNOWN as etcd_txn. */
static int send_write(struct ha *h, const struct log_write *w, struct etcd_txn_result *r,
		      char *err, size_t errlen)
{
	struct etcd_cmp cmp[2] = {
		{ .key = h->leader_key, .target = ETCD_CREATE, .result = ETCD_EQUAL,
		  .number = w->term },
		{ .key = h->head_key, .target = ETCD_MOD, .result = ETCD_EQUAL, .number = w->rev },
	};
	struct etcd_op then[3] = {
		{ .kind = ETCD_OP_PUT, .key = w->key, .value = w->value,
		  .value_len = strlen(w->value) },
		{ .kind = ETCD_OP_PUT, .key = h->head_key, .value = w->head,
		  .value_len = strlen(w->head) },
		{ .kind = ETCD_OP_PUT, .key = h->cluster_key, .value = w->cluster,
		  .value_len = w->cluster ? strlen(w->cluster) : 0 },
	};
	return etcd_txn(h->writer, cmp, 2, then, w->cluster ? 3 : 2, NULL, 0, r, err, errlen);
}

/* What the log says of a write whose answer was lost or negative. */
enum landed {
	LANDED,      /* operation n is w's, P/head names it: written */
	NOT_LANDED,  /* the leader key and P/head as w expects: send it again */
	MOVED,       /* another term or another write: this leader is deposed */
	UNREAD,      /* etcd did not answer the read */
};

static const struct etcd_kv *first_kv(const struct etcd_txn_result *r, size_t i)
{
	return i < r->nranges && r->ranges[i].n ? &r->ranges[i].kv[0] : NULL;
}

/* Reads P/leader, P/head and operation n's key in one transaction: whether
 * w landed (*revision: P/head's mod_revision then). */
static enum landed find_write(struct ha *h, const struct log_write *w, int64_t *revision)
{
	struct etcd_op get[3] = { { .kind = ETCD_OP_RANGE, .key = h->leader_key },
				  { .kind = ETCD_OP_RANGE, .key = h->head_key },
				  { .kind = ETCD_OP_RANGE, .key = w->key } };
	struct etcd_txn_result r = { 0 };
	char err[512];
	if (etcd_txn(h->writer, NULL, 0, get, 3, NULL, 0, &r, err, sizeof(err)) != 0) {
		etcd_txn_result_free(&r);
		return UNREAD;
	}
	const struct etcd_kv *leader = first_kv(&r, 0), *head = first_kv(&r, 1),
			     *op = first_kv(&r, 2);
	size_t len = strlen(w->value);
	enum landed l = MOVED;
	if (!leader || leader->create_rev != w->term)
		l = MOVED;
	else if (op && head && op->value_len == len && !memcmp(op->value, w->value, len) &&
		 head->mod_rev == op->mod_rev)
		l = LANDED;
	else if (!op && (head ? head->mod_rev : 0) == w->rev)
		l = NOT_LANDED;
	if (l == LANDED)
		*revision = head->mod_rev;
	etcd_txn_result_free(&r);
	return l;
}

/*
 * Writes w: 0 (*revision: P/head's new mod_revision), 1 when another term
 * or write moved the log (this leader is deposed), -1 when etcd did not
 * confirm it within a lease's time (err says why).  A write whose answer is
 * lost (a member killed, a proxy dropping it) is not taken for a failure:
 * the log is read to learn whether it landed, and it is sent again while it
 * did not and this leader may act (its compares make a second copy
 * impossible).
 */
static int write_log(struct ha *h, const struct log_write *w, int64_t *revision, char *err,
		     size_t errlen)
{
	uint64_t deadline = time_mono_ms() + fence_ms(h);
	for (int tries = 1;; tries++) {
		struct etcd_txn_result r = { 0 };
		int rc = send_write(h, w, &r, err, errlen);
		bool done = rc == 0 && r.succeeded;
		*revision = r.revision;
		etcd_txn_result_free(&r);
		if (done)
			return 0;
		enum landed l = UNREAD;
		while (l == UNREAD && ha_may_act(h) && time_mono_ms() < deadline) {
			l = find_write(h, w, revision);
			if (l == UNREAD)
				time_sleep_ms(HA_RETRY_MS);
		}
		if (l == LANDED)
			return 0;
		if (l == MOVED || (rc == 0 && l == NOT_LANDED)) {
			snprintf(err, errlen, "ha: %s: the leader key or the log moved: no longer"
				 " the leader", h->cfg.name);
			return 1;
		}
		if (l == UNREAD || !ha_may_act(h) || time_mono_ms() >= deadline)
			return -1;  /* err: etcd's, of the last try */
		log_event(LOG_WARN, "ha.write_retry", "{s:s, s:I, s:i, s:s}", "name", h->cfg.name,
			  "index", (json_int_t)w->n, "tries", tries, "error", err);
		time_sleep_ms(HA_RETRY_MS);
	}
}

/* The store's replicator: operation op becomes the log's next entry, if this
 * instance still leads its term and nobody wrote since. */
static int ha_replicate(void *ctx, const json_t *op, int64_t *index, char *err, size_t errlen)
{
	struct ha *h = ctx;
	struct log_write w = { 0 };
	pthread_mutex_lock(&h->mu);
	bool ok = may_act_locked(h);
	w.term = h->term;
	w.rev = h->head_rev;
	w.n = h->head_index + 1;
	pthread_mutex_unlock(&h->mu);
	if (!ok) {
		snprintf(err, errlen, "ha: %s is not the leader (or may not act now)", h->cfg.name);
		return -1;
	}
	log_key(h, w.n, w.key, sizeof(w.key));
	snprintf(w.head, sizeof(w.head), "{\"index\":%" PRId64 "}", w.n);
	w.value = json_dumps(op, JSON_COMPACT);
	w.cluster = cluster_value(op, w.n);
	int64_t revision = 0;
	int rc = w.value ? write_log(h, &w, &revision, err, errlen) : -1;
	if (!w.value)
		snprintf(err, errlen, "ha: out of memory");
	free(w.value);
	free(w.cluster);
	pthread_mutex_lock(&h->mu);
	if (rc == 0) {
		h->head_index = w.n;
		h->head_rev = revision;
	} else {
		step_down_locked(h, rc == 1 ? "the leader key or the log moved"
					    : "etcd did not confirm a write in time");
	}
	pthread_mutex_unlock(&h->mu);
	if (rc != 0)
		return -1;
	*index = w.n;
	return 0;
}

/* ---- the mirror ------------------------------------------------------------ */

static void mirror_fail(struct ha *h, int64_t index, const char *why)
{
	pthread_mutex_lock(&h->mu);
	if (!h->mirror_error[0]) {
		snprintf(h->mirror_error, sizeof(h->mirror_error), "operation %" PRId64 ": %.400s",
			 index, why);
		log_event(LOG_ERROR, "ha.mirror_failed", "{s:I, s:s}", "index", (json_int_t)index,
			  "error", why);
	}
	step_down_locked(h, "this store could not apply the log");
	pthread_mutex_unlock(&h->mu);
}

/* The index of a log key, or -1. */
static int64_t key_index(const struct ha *h, const char *key)
{
	size_t n = strlen(h->log_prefix);
	if (strncmp(key, h->log_prefix, n) != 0 || strlen(key + n) != 20)
		return -1;
	char *end;
	long long v = strtoll(key + n, &end, 10);
	return *end ? -1 : (int64_t)v;
}

/* Applies the entry at index if it is the store's next; 0 applied or not
 * next, -1 the store refused it (mirror broken). */
static int apply_entry(struct ha *h, int64_t index, const char *value, size_t len)
{
	if (index != store_applied_index(h->store) + 1)
		return 0;
	json_error_t jerr;
	json_t *op = json_loadb(value, len, 0, &jerr);
	char err[512];
	int rc = op ? store_apply(h->store, op, index, err, sizeof(err)) : -1;
	if (!op)
		snprintf(err, sizeof(err), "not JSON: %s", jerr.text);
	json_decref(op);
	if (rc < 0) {
		mirror_fail(h, index, err);
		return -1;
	}
	return 0;
}

/* Ranges the log after the store's position and applies it; *rev receives
 * the revision read at.  0, or -1 (etcd unreachable, or mirror broken). */
static int catch_up(struct ha *h, int64_t *rev, char *err, size_t errlen)
{
	char from[HA_KEY_MAX], end[HA_KEY_MAX];
	if (etcd_prefix_end(h->log_prefix, end, sizeof(end)) != 0)
		return -1;
	for (;;) {
		struct etcd_kvs kvs = { 0 };
		log_key(h, store_applied_index(h->store) + 1, from, sizeof(from));
		if (etcd_range(h->mirror, from, end, HA_APPLY_BATCH, &kvs, err, errlen) != 0)
			return -1;
		int rc = 0;
		for (size_t i = 0; i < kvs.n && rc == 0; i++)
			rc = apply_entry(h, key_index(h, kvs.kv[i].key), kvs.kv[i].value,
					 kvs.kv[i].value_len);
		bool more = kvs.more;
		*rev = kvs.revision;
		etcd_kvs_free(&kvs);
		if (rc != 0)
			return -1;
		if (!more)
			return 0;
	}
}

static int on_log_event(void *ctx, const struct etcd_event *ev)
{
	struct ha *h = ctx;
	if (ev->deleted)
		return 0;
	int64_t index = key_index(h, ev->kv.key);
	if (index > store_applied_index(h->store) + 1)
		return 1;  /* a gap: range again */
	return apply_entry(h, index, ev->kv.value, ev->kv.value_len) ? 1 : 0;
}

static bool stopping(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	bool s = h->stopping;
	pthread_mutex_unlock(&h->mu);
	return s;
}

static bool mirror_broken(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	bool b = h->mirror_error[0] != '\0';
	pthread_mutex_unlock(&h->mu);
	return b;
}

static void *mirror_main(void *arg)
{
	struct ha *h = arg;
	char err[512], end[HA_KEY_MAX];
	etcd_prefix_end(h->log_prefix, end, sizeof(end));
	while (!stopping(h)) {
		int64_t rev = 0, next = 0;
		if (mirror_broken(h) || catch_up(h, &rev, err, sizeof(err)) != 0) {
			time_sleep_ms(h->tick_ms);
			continue;
		}
		int rc = etcd_watch(h->mirror, h->log_prefix, end, rev + 1, HA_WATCH_MS,
				    &h->stop_flag, on_log_event, h, &next, err, sizeof(err));
		if (rc < 0)
			time_sleep_ms(h->tick_ms);
	}
	return NULL;
}

/* ---- the session: lease, campaign ------------------------------------------ */

static int grant(struct ha *h, char *err, size_t errlen)
{
	int64_t id = 0, ttl = 0;
	uint64_t sent = time_mono_ms();
	int64_t ttl_s = (int64_t)((h->cfg.lease_ttl_ms + 999) / 1000);
	if (etcd_lease_grant(h->session, ttl_s, &id, &ttl, err, errlen) != 0)
		return -1;
	char value[512];
	snprintf(value, sizeof(value), "{\"name\":\"%s\",\"url\":\"%s\"}", h->cfg.name,
		 h->cfg.advertise);
	if (etcd_put(h->session, h->member_key, value, strlen(value), id, NULL, err, errlen) != 0) {
		etcd_lease_revoke(h->session, id, err, errlen);
		return -1;
	}
	pthread_mutex_lock(&h->mu);
	h->lease = id;
	h->lease_sent_ms = sent;
	pthread_mutex_unlock(&h->mu);
	log_event(LOG_INFO, "ha.lease", "{s:s, s:I, s:I}", "name", h->cfg.name, "lease",
		  (json_int_t)id, "ttl_s", (json_int_t)ttl);
	return 0;
}

/* Renews the lease; a lease etcd no longer knows is dropped (and with it
 * the leadership).  Whether etcd answered. */
static bool keepalive(struct ha *h)
{
	char err[512];
	int64_t left = 0;
	uint64_t sent = time_mono_ms();
	pthread_mutex_lock(&h->mu);
	int64_t id = h->lease;
	pthread_mutex_unlock(&h->mu);
	if (etcd_lease_keepalive(h->session, id, &left, err, sizeof(err)) != 0) {
		log_event(LOG_WARN, "ha.keepalive_failed", "{s:s, s:s}", "name", h->cfg.name,
			  "error", err);
		return false;
	}
	pthread_mutex_lock(&h->mu);
	if (left > 0) {
		h->lease_sent_ms = sent;
	} else {
		h->lease = 0;
		step_down_locked(h, "the lease expired");
	}
	pthread_mutex_unlock(&h->mu);
	return true;
}

/* Reads P/head: its index and mod_revision (0, 0 when absent). */
static int read_head(struct ha *h, int64_t *index, int64_t *rev, char *err, size_t errlen)
{
	struct etcd_kvs kvs = { 0 };
	if (etcd_range(h->session, h->head_key, NULL, 1, &kvs, err, errlen) != 0)
		return -1;
	*index = *rev = 0;
	if (kvs.n) {
		json_t *j = json_loadb(kvs.kv[0].value, kvs.kv[0].value_len, 0, NULL);
		*index = json_integer_value(json_object_get(j, "index"));
		*rev = kvs.kv[0].mod_rev;
		json_decref(j);
	}
	etcd_kvs_free(&kvs);
	return 0;
}

/* A new leader acts once its store holds the log up to P/head. */
static void become_ready(struct ha *h)
{
	char err[512];
	int64_t index, rev;
	if (read_head(h, &index, &rev, err, sizeof(err)) != 0)
		return;
	uint64_t end = time_mono_ms() + h->cfg.lease_ttl_ms / 4;  /* then renew, look again */
	while (store_applied_index(h->store) < index && time_mono_ms() < end && !stopping(h) &&
	       !mirror_broken(h))
		time_sleep_ms(5);
	if (store_applied_index(h->store) < index)
		return;
	pthread_mutex_lock(&h->mu);
	if (h->leads && lease_valid_locked(h)) {
		h->ready = true;
		h->head_index = index;
		h->head_rev = rev;
		h->terms++;
		log_event(LOG_INFO, "ha.leader", "{s:s, s:I, s:I, s:I}", "name", h->cfg.name,
			  "term", (json_int_t)h->term, "index", (json_int_t)index, "wall_ms",
			  (json_int_t)time_wall_ms());
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->mu);
}

/* Notes who holds P/leader (kv NULL: nobody). */
static void note_leader(struct ha *h, const struct etcd_kv *kv, int64_t lease)
{
	json_t *j = kv ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
	const char *name = json_string_value(json_object_get(j, "name")) ?: "";
	const char *url = json_string_value(json_object_get(j, "url")) ?: "";
	pthread_mutex_lock(&h->mu);
	bool mine = kv && lease && kv->lease == lease && !strcmp(name, h->cfg.name);
	if (!mine && h->leads)
		step_down_locked(h, "another instance holds the leader key");
	if (mine && !h->leads) {
		h->leads = true;
		h->term = kv->create_rev;
	}
	snprintf(h->leader_name, sizeof(h->leader_name), "%s", name);
	snprintf(h->leader_url, sizeof(h->leader_url), "%s", url);
	h->leader_term = kv ? kv->create_rev : 0;
	pthread_mutex_unlock(&h->mu);
	json_decref(j);
}

/* One look at P/leader; takes it when nobody holds it. */
static void campaign(struct ha *h)
{
	char err[512], value[512];
	pthread_mutex_lock(&h->mu);
	int64_t lease = h->lease;
	bool eligible = !h->mirror_error[0];
	pthread_mutex_unlock(&h->mu);
	snprintf(value, sizeof(value), "{\"name\":\"%s\",\"url\":\"%s\"}", h->cfg.name,
		 h->cfg.advertise);
	struct etcd_cmp cmp = { .key = h->leader_key, .target = ETCD_CREATE, .result = ETCD_EQUAL,
				.number = 0 };
	struct etcd_op put = { .kind = ETCD_OP_PUT, .key = h->leader_key, .value = value,
			       .value_len = strlen(value), .lease = lease };
	struct etcd_op get = { .kind = ETCD_OP_RANGE, .key = h->leader_key };
	struct etcd_txn_result r = { 0 };
	bool take = eligible && lease;
	if (etcd_txn(h->session, &cmp, 1, take ? &put : &get, 1, &get, 1, &r, err,
		     sizeof(err)) != 0) {
		etcd_txn_result_free(&r);
		return;
	}
	if (take && r.succeeded) {
		struct etcd_kv kv = { .key = h->leader_key, .value = value,
				      .value_len = strlen(value), .create_rev = r.revision,
				      .lease = lease };
		note_leader(h, &kv, lease);
	} else {
		const struct etcd_kvs *k = r.nranges ? &r.ranges[0] : NULL;
		note_leader(h, k && k->n ? &k->kv[0] : NULL, lease);
	}
	etcd_txn_result_free(&r);
}

/* The instances' member keys, for the status. */
static void read_members(struct ha *h)
{
	char err[512], end[HA_KEY_MAX];
	etcd_prefix_end(h->members_prefix, end, sizeof(end));
	struct etcd_kvs kvs = { 0 };
	if (etcd_range(h->session, h->members_prefix, end, 64, &kvs, err, sizeof(err)) != 0)
		return;
	json_t *list = json_array();
	for (size_t i = 0; list && i < kvs.n; i++) {
		json_t *j = json_loadb(kvs.kv[i].value, kvs.kv[i].value_len, 0, NULL);
		if (json_is_object(j))
			json_array_append(list, j);
		json_decref(j);
	}
	etcd_kvs_free(&kvs);
	pthread_mutex_lock(&h->mu);
	json_decref(h->instances);
	h->instances = list;
	pthread_mutex_unlock(&h->mu);
}

static void *session_main(void *arg)
{
	struct ha *h = arg;
	char err[512];
	uint64_t renew_every = h->cfg.lease_ttl_ms / 4, last_renew = 0, last_members = 0;
	while (!stopping(h)) {
		pthread_mutex_lock(&h->mu);
		int64_t lease = h->lease;
		if (h->leads && !lease_valid_locked(h))
			step_down_locked(h, "the lease could not be renewed in time (self-fenced)");
		pthread_mutex_unlock(&h->mu);
		uint64_t now = time_mono_ms();
		if (!lease) {
			if (grant(h, err, sizeof(err)) != 0)
				log_event(LOG_WARN, "ha.grant_failed", "{s:s}", "error", err);
			last_renew = now;
		} else if (now - last_renew >= renew_every && keepalive(h)) {
			last_renew = now;  /* a failed renewal is tried again next tick */
		}
		campaign(h);
		pthread_mutex_lock(&h->mu);
		bool leads = h->leads, ready = h->ready;  /* it may have just taken the key */
		pthread_mutex_unlock(&h->mu);
		if (leads && !ready)
			become_ready(h);
		if (now - last_members >= HA_MEMBERS_EVERY_MS) {
			read_members(h);
			last_members = now;
		}
		pthread_mutex_lock(&h->mu);
		if (!h->stopping) {
			struct timespec ts;
			time_deadline(&ts, h->tick_ms);
			pthread_cond_timedwait(&h->cond, &h->mu, &ts);
		}
		pthread_mutex_unlock(&h->mu);
	}
	return NULL;
}

/* ---- life ---------------------------------------------------------------- */

json_t *ha_status_json(struct ha *h)
{
	pthread_mutex_lock(&h->mu);
	json_t *leader = h->leader_name[0] ? json_pack("{s:s, s:s}", "name", h->leader_name,
						       "url", h->leader_url)
					   : json_null();
	json_t *inst = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(h->instances, i, m) {
		const char *name = json_string_value(json_object_get(m, "name")) ?: "";
		json_array_append_new(inst, json_pack("{s:s, s:O, s:s}", "name", name, "url",
						      json_object_get(m, "url"), "role",
						      !strcmp(name, h->leader_name) ? "leader"
										    : "follower"));
	}
	json_t *j = json_pack("{s:b, s:s, s:s, s:b, s:o, s:I, s:I, s:s, s:o}", "enabled", 1,
			      "name", h->cfg.name, "role", role_locked(h), "ready",
			      may_act_locked(h), "leader", leader, "term", (json_int_t)h->leader_term,
			      "lease_ttl_ms", (json_int_t)h->cfg.lease_ttl_ms, "mirror",
			      h->mirror_error[0] ? h->mirror_error : "ok", "instances", inst);
	pthread_mutex_unlock(&h->mu);
	if (j)
		json_object_set_new(j, "applied", json_integer(store_applied_index(h->store)));
	return j;
}

static int open_clients(struct ha *h, char *err, size_t errlen)
{
	const char *eps[CONFIG_MAX_ETCD];
	for (int i = 0; i < h->cfg.netcd; i++)
		eps[i] = h->cfg.etcd[i];
	long timeout = (long)(h->cfg.lease_ttl_ms / 4);
	return etcd_open(&h->session, eps, h->cfg.netcd, timeout, err, errlen) ||
	       etcd_open(&h->mirror, eps, h->cfg.netcd, timeout, err, errlen) ||
	       etcd_open(&h->writer, eps, h->cfg.netcd, timeout, err, errlen) ? -1 : 0;
}

static void ha_free(struct ha *h)
{
	etcd_close(h->session);
	etcd_close(h->mirror);
	etcd_close(h->writer);
	json_decref(h->instances);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cond);
	free(h);
}

int ha_start(struct ha **out, const struct config_ha *cfg, struct store *store, char *err,
	     size_t errlen)
{
	struct ha *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	h->cfg = *cfg;
	h->store = store;
	h->tick_ms = cfg->lease_ttl_ms / 10 < 50 ? 50 : cfg->lease_ttl_ms / 10 > 250 ? 250 :
		     cfg->lease_ttl_ms / 10;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cond, NULL);
	snprintf(h->leader_key, sizeof(h->leader_key), "%s/leader", cfg->prefix);
	snprintf(h->head_key, sizeof(h->head_key), "%s/head", cfg->prefix);
	snprintf(h->cluster_key, sizeof(h->cluster_key), "%s/cluster", cfg->prefix);
	snprintf(h->log_prefix, sizeof(h->log_prefix), "%s/log/", cfg->prefix);
	snprintf(h->members_prefix, sizeof(h->members_prefix), "%s/members/", cfg->prefix);
	snprintf(h->member_key, sizeof(h->member_key), "%s/members/%s", cfg->prefix, cfg->name);
	if (open_clients(h, err, errlen) != 0) {
		ha_free(h);
		return -1;
	}
	store_set_replicator(store, ha_replicate, h);
	if (pthread_create(&h->mirror_thread, NULL, mirror_main, h) != 0) {
		store_set_replicator(store, NULL, NULL);
		ha_free(h);
		snprintf(err, errlen, "ha: cannot start the mirror thread");
		return -1;
	}
	if (pthread_create(&h->session_thread, NULL, session_main, h) != 0) {
		pthread_mutex_lock(&h->mu);
		h->stopping = true;
		atomic_store(&h->stop_flag, true);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->mirror_thread, NULL);
		store_set_replicator(store, NULL, NULL);
		ha_free(h);
		snprintf(err, errlen, "ha: cannot start the session thread");
		return -1;
	}
	log_event(LOG_INFO, "ha.start", "{s:s, s:s, s:I}", "name", cfg->name, "prefix",
		  cfg->prefix, "lease_ttl_ms", (json_int_t)cfg->lease_ttl_ms);
	*out = h;
	return 0;
}

void ha_stop(struct ha *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	atomic_store(&h->stop_flag, true);
	step_down_locked(h, "stopping");
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->session_thread, NULL);
	pthread_join(h->mirror_thread, NULL);
	store_set_replicator(h->store, NULL, NULL);
	char err[512];
	if (h->lease && etcd_lease_revoke(h->session, h->lease, err, sizeof(err)) != 0)
		log_event(LOG_WARN, "ha.revoke_failed", "{s:s}", "error", err);
	ha_free(h);
}
