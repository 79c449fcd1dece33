/*
 * load.c — the load drchaos checks, and the monitor that tells it where the
 * primary is.
 *
 * Writers 0..3 follow the primary: drorchd's GET /v1/status (from whichever
 * instance answers, orchs.c) names it, a
 * refusing replica's X-Drorch-Primary points at it, and on any failure the
 * writer asks again.  Writer 4 is pinned to the first primary for the whole
 * trial (a deposed primary that still acknowledges is what it is there to
 * catch).  One prober per site PUTs to its site every 100 ms whatever its
 * role.  Every writer writes its own keys: mostly a fresh key per write,
 * one in five an overwrite of one of its eight own keys, so that "the last
 * acknowledged value" is put to the test.  Every answer is recorded (see
 * struct rec), also the refusals and the silences.
 */
#include "chaos.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITE_TIMEOUT_MS 4000
#define PROBE_TIMEOUT_MS 1000
#define STATUS_TIMEOUT_MS 1000
#define FOLLOWER_PACE_MS 15
#define PINNED_PACE_MS 40
#define PROBE_PACE_MS 100

/* ---- keys and values ----------------------------------------------------------------- */

void chaos_key_text(unsigned writer, uint32_t key, char *out, size_t len)
{
	if (key >= CHAOS_OVERWRITE_BASE)
		snprintf(out, len, "c%u-o%u", writer, key - CHAOS_OVERWRITE_BASE);
	else
		snprintf(out, len, "c%u-%u", writer, key);
}

size_t chaos_value_text(unsigned writer, uint64_t seq, char *out, size_t len)
{
	int n = snprintf(out, len, "%u.%" PRIu64 ".", writer, seq);
	size_t pad = (size_t)(seq * 7 % 48);
	for (size_t i = 0; i < pad && (size_t)n + 1 < len; i++)
		out[n++] = (char)('a' + (seq + i) % 26);
	out[n] = '\0';
	return (size_t)n;
}

bool chaos_value_parse(const char *v, size_t len, unsigned *writer, uint64_t *seq)
{
	char buf[128], expect[128];
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	unsigned long long s;
	if (sscanf(buf, "%u.%llu.", writer, &s) != 2 || *writer >= CHAOS_WRITERS)
		return false;
	*seq = s;
	size_t n = chaos_value_text(*writer, *seq, expect, sizeof(expect));
	return n == len && !memcmp(expect, buf, len);
}

uint64_t chaos_digest(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* ---- the recorder --------------------------------------------------------------------- */

static struct rec *rec_add(struct recbuf *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		struct rec *v = realloc(b->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		b->v = v;
		b->cap = cap;
	}
	return &b->v[b->n++];
}

/* PUTs key = the next value of writer w to site, and records the answer.
 * Returns the record (NULL out of memory); *hint gets X-Drorch-Primary. */
static const struct rec *put_recorded(struct trial *t, struct chttp *c, unsigned w, uint32_t key,
				      int site, long timeout_ms, char *hint, size_t hintlen)
{
	struct recbuf *b = &t->recs[w];
	char k[48], v[128], url[256];
	uint64_t seq = ++b->next_seq;
	size_t vlen = chaos_value_text(w, seq, v, sizeof(v));
	chaos_key_text(w, key, k, sizeof(k));
	snprintf(url, sizeof(url), "%s/v1/kv/%s", t->lab->sites[site].url, k);
	struct chttp_ans a;
	int64_t t0 = chaos_now_ns() - t->t0_ns;
	int rc = chttp_do(c, "PUT", url, NULL, v, vlen, timeout_ms, &a);
	int64_t t1 = chaos_now_ns() - t->t0_ns;
	struct rec *r = rec_add(b);
	if (r) {
		*r = (struct rec){ .t0_ns = t0, .t1_ns = t1, .lsn = -1, .epoch = -1, .seq = seq,
				   .digest = chaos_digest(v, vlen), .key = key,
				   .status = (int16_t)(rc ? 0 : a.status), .site = (int8_t)site,
				   .writer = (uint8_t)w };
		json_t *j = a.status == 200 && a.body ? json_loads(a.body, 0, NULL) : NULL;
		json_t *lsn = json_object_get(j, "lsn"), *epoch = json_object_get(j, "epoch");
		if (json_is_integer(lsn) && json_is_integer(epoch)) {
			r->lsn = json_integer_value(lsn);
			r->epoch = json_integer_value(epoch);
		} else if (a.status == 200) {
			r->status = -200;  /* a 200 without its body: not an acknowledgement */
		}
		json_decref(j);
	}
	if (hint)
		snprintf(hint, hintlen, "%s", a.primary_hint);
	chttp_ans_free(&a);
	return r;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- writers ---------------------------------------------------------------------------- */

/* Where a follower writes next: the primary drorchd names, else the next site. */
static int discover(struct trial *t, int previous)
{
	char state[24], primary[LAB_NAME];
	int64_t epoch;
	monitor_view(t, state, sizeof(state), primary, sizeof(primary), &epoch);
	int i = chaos_site_index(t, primary);
	if (i >= 0 && i != previous)
		return i;
	return (previous + 1) % t->lab->nsites;
}

/* Fresh keys 1, 2, 3...; one write in five overwrites one of 8 own keys. */
static uint32_t next_key(uint32_t *fresh, uint64_t *rnd)
{
	*rnd = *rnd * 6364136223846793005ull + 1442695040888963407ull;
	if ((*rnd >> 33) % 5 == 0)
		return CHAOS_OVERWRITE_BASE + (uint32_t)((*rnd >> 40) % 8);
	return ++*fresh;
}

static void *follower_main(void *arg)
{
	struct writer_arg *wa = arg;
	struct trial *t = wa->t;
	struct chttp *c = chttp_new();
	uint32_t fresh = 0;
	uint64_t rnd = t->seed * 31 + wa->w;
	int site = -1;
	char hint[64];
	while (c && !atomic_load(&t->stop_load)) {
		if (site < 0)
			site = discover(t, -1);
		const struct rec *r = put_recorded(t, c, wa->w, next_key(&fresh, &rnd), site,
						   WRITE_TIMEOUT_MS, hint, sizeof(hint));
		if (!r)
			break;
		if (r->status != 200) {
			int hinted = hint[0] ? chaos_site_by_addr(t, hint) : -1;
			site = hinted >= 0 && hinted != site ? hinted : discover(t, site);
			sleep_ms(50);
		}
		sleep_ms(FOLLOWER_PACE_MS);
	}
	chttp_free(c);
	return NULL;
}

static void *pinned_main(void *arg)
{
	struct writer_arg *wa = arg;
	struct trial *t = wa->t;
	struct chttp *c = chttp_new();
	uint32_t fresh = 0;
	uint64_t rnd = t->seed * 37 + wa->w;
	int site = chaos_site_index(t, t->first_primary);
	while (c && site >= 0 && !atomic_load(&t->stop_load)) {
		if (!put_recorded(t, c, wa->w, next_key(&fresh, &rnd), site, WRITE_TIMEOUT_MS, NULL, 0))
			break;
		sleep_ms(PINNED_PACE_MS);
	}
	chttp_free(c);
	return NULL;
}

static void *prober_main(void *arg)
{
	struct writer_arg *wa = arg;
	struct trial *t = wa->t;
	struct chttp *c = chttp_new();
	uint32_t fresh = 0;
	int site = (int)(wa->w - CHAOS_PROBE0);
	while (c && !atomic_load(&t->stop_load)) {
		int64_t start = chaos_now_ns();
		if (!put_recorded(t, c, wa->w, ++fresh, site, PROBE_TIMEOUT_MS, NULL, 0))
			break;
		long spent = (long)((chaos_now_ns() - start) / 1000000);
		if (spent < PROBE_PACE_MS)
			sleep_ms(PROBE_PACE_MS - spent);
	}
	chttp_free(c);
	return NULL;
}

/* ---- the monitor ----------------------------------------------------------------------------- */

void monitor_view(struct trial *t, char *state, size_t slen, char *primary, size_t plen,
		  int64_t *epoch)
{
	pthread_mutex_lock(&t->mu);
	snprintf(state, slen, "%s", t->state);
	snprintf(primary, plen, "%s", t->primary);
	*epoch = t->epoch;
	pthread_mutex_unlock(&t->mu);
}

static json_t *get_json(struct trial *t, struct chttp *c, const char *base, const char *path)
{
	char url[300];
	struct chttp_ans a;
	snprintf(url, sizeof(url), "%s%s", base, path);
	json_t *j = NULL;
	if (chttp_do(c, "GET", url, NULL, NULL, 0, STATUS_TIMEOUT_MS, &a) == 0 && a.status == 200 && a.body)
		j = json_loads(a.body, 0, NULL);
	chttp_ans_free(&a);
	(void)t;
	return j;
}

static void poll_status(struct trial *t, struct chttp *c)
{
	json_t *st = chaos_orch_get(t, c, "/v1/status", STATUS_TIMEOUT_MS, NULL);
	const char *state = json_string_value(json_object_get(st, "state"));
	const char *primary = json_string_value(json_object_get(st, "primary"));
	pthread_mutex_lock(&t->mu);
	char before[24];
	snprintf(before, sizeof(before), "%s", t->state);
	t->orch_answers = st != NULL;
	if (state) {
		snprintf(t->state, sizeof(t->state), "%s", state);
		snprintf(t->primary, sizeof(t->primary), "%s", primary ? primary : "");
		t->epoch = json_integer_value(json_object_get(st, "epoch"));
	}
	bool changed = state && strcmp(before, state);
	char now[24], prim[LAB_NAME];
	snprintf(now, sizeof(now), "%s", t->state);
	snprintf(prim, sizeof(prim), "%s", t->primary);
	int64_t epoch = t->epoch;
	pthread_mutex_unlock(&t->mu);
	if (changed)
		chaos_debug(t, "drorchd: %s epoch %" PRId64 " primary %s", now, epoch, prim);
	json_decref(st);
}

/* Adds one run (with steps) to runs_seen under generation g.  Keyed by its
 * start too: a store that lost its -wal reuses the ids of the runs it lost,
 * and those runs still answer for what they lost. */
static void remember_run(struct trial *t, int g, json_t *run)
{
	char key[80];
	snprintf(key, sizeof(key), "%d/%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, g,
		 json_integer_value(json_object_get(run, "id")),
		 json_integer_value(json_object_get(run, "started_ms")));
	pthread_mutex_lock(&t->mu);
	json_object_set(t->runs_seen, key, run);
	pthread_mutex_unlock(&t->mu);
}

void monitor_poll_runs(struct trial *t, struct chttp *c)
{
	pthread_mutex_lock(&t->mu);
	int g = t->db_generation;
	pthread_mutex_unlock(&t->mu);
	json_t *runs = chaos_orch_get(t, c, "/v1/runs", STATUS_TIMEOUT_MS, NULL);
	size_t i;
	json_t *r;
	/* Every run again, ended ones too: drorchd adds steps to a run after
	 * it ended (a rewind is recorded in the last failover run). */
	json_array_foreach(json_object_get(runs, "runs"), i, r) {
		char path[64];
		json_int_t id = json_integer_value(json_object_get(r, "id"));
		snprintf(path, sizeof(path), "/v1/runs/%" JSON_INTEGER_FORMAT, id);
		json_t *full = chaos_orch_get(t, c, path, STATUS_TIMEOUT_MS, NULL);
		if (full)
			remember_run(t, g, full);
		json_decref(full);
	}
	json_decref(runs);
}

/* Under t->mu: remembers, for every epoch whose records the site's log
 * holds (its status's epoch_history: an epoch's records run from its
 * first_lsn to the next one's), the highest such LSN it flushed.  A site's
 * flushed LSN alone says nothing of whose records they are: a deposed
 * primary's log that diverged holds its own epoch's records there. */
static void note_held(struct trial *t, const char *site, json_t *st)
{
	const char *role = json_string_value(json_object_get(st, "role")) ?: "";
	if (strcmp(role, "replica") && strcmp(role, "primary"))
		return;
	json_int_t flushed = json_integer_value(json_object_get(st, "flushed_lsn"));
	json_t *hist = json_object_get(st, "epoch_history");
	json_t *bysite = json_object_get(t->held, site);
	if (!bysite) {
		bysite = json_object();
		if (json_object_set_new(t->held, site, bysite) != 0)
			return;
	}
	size_t n = json_array_size(hist);
	for (size_t i = 0; i < n; i++) {
		json_t *h = json_array_get(hist, i);
		json_int_t first = json_integer_value(json_object_get(h, "first_lsn"));
		json_int_t end = i + 1 < n ? json_integer_value(json_object_get(json_array_get(hist, i + 1),
										"first_lsn")) - 1 : flushed;
		end = end < flushed ? end : flushed;
		char epoch[32];
		snprintf(epoch, sizeof(epoch), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(h, "epoch")));
		if (end >= first && end > json_integer_value(json_object_get(bysite, epoch)))
			json_object_set_new(bysite, epoch, json_integer(end));
	}
}

void monitor_poll_sites(struct trial *t, struct chttp *c)
{
	int64_t asked = chaos_now_ns();
	json_t *all = json_object();
	for (int i = 0; all && i < t->lab->nsites; i++) {
		json_t *st = get_json(t, c, t->lab->sites[i].url, "/v1/status");
		if (st)
			json_object_set_new(all, t->lab->sites[i].name, st);
	}
	pthread_mutex_lock(&t->mu);
	const char *name;
	json_t *st;
	json_object_foreach(all, name, st) {
		note_held(t, name, st);
		json_t *last = json_object_get(st, "last_rewind");
		const char *q = json_string_value(json_object_get(last, "quarantine"));
		if (q)
			json_object_set(t->rewinds_seen, q, last);
	}
	json_decref(t->sites_status);
	t->sites_status = all;
	t->sites_status_ns = asked;
	pthread_mutex_unlock(&t->mu);
}

static void *monitor_main(void *arg)
{
	struct trial *t = arg;
	struct chttp *c = chttp_new();
	for (unsigned tick = 0; c && !atomic_load(&t->stop_monitor); tick++) {
		poll_status(t, c);
		if (tick % 3 == 0)
			monitor_poll_sites(t, c);
		if (tick % 13 == 0)
			monitor_poll_runs(t, c);
		sleep_ms(150);
	}
	chttp_free(c);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

int load_start(struct trial *t, char *err, size_t errlen)
{
	if (pthread_create(&t->monitor, NULL, monitor_main, t)) {
		snprintf(err, errlen, "cannot start the monitor thread");
		return -1;
	}
	t->monitor_running = true;
	for (unsigned w = 0; w < CHAOS_WRITERS; w++) {
		t->wargs[w] = (struct writer_arg){ t, w };
		void *(*fn)(void *) = w < CHAOS_PINNED ? follower_main : w == CHAOS_PINNED ? pinned_main
				      : prober_main;
		if (pthread_create(&t->threads[w], NULL, fn, &t->wargs[w])) {
			snprintf(err, errlen, "cannot start writer %u", w);
			load_stop(t);
			return -1;
		}
		t->nthreads++;
	}
	return 0;
}

void load_stop(struct trial *t)
{
	atomic_store(&t->stop_load, true);
	for (int i = 0; i < t->nthreads; i++)
		pthread_join(t->threads[i], NULL);
	t->nthreads = 0;
}

void load_stop_monitor(struct trial *t)
{
	atomic_store(&t->stop_monitor, true);
	if (t->monitor_running)
		pthread_join(t->monitor, NULL);
	t->monitor_running = false;
}

void load_stats(const struct trial *t, size_t *acked, size_t *refused, size_t *noanswer)
{
	*acked = *refused = *noanswer = 0;
	for (int w = 0; w < CHAOS_WRITERS; w++)
		for (size_t i = 0; i < t->recs[w].n; i++) {
			int st = t->recs[w].v[i].status;
			*acked += st == 200;
			*refused += st != 200 && st != 0;
			*noanswer += st == 0;
		}
}
