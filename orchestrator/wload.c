/*
 * wload.c — a playbook's write load (see wload.h).
 *
 * One thread per writer, each with its own HTTP handle and its own record
 * of what was acknowledged (no lock: the record is read only after the
 * thread is joined).  The pace is kept by a schedule, not by sleeping
 * after each answer, so a slow answer is followed by the next write at
 * once and the load asks for `rate` writes per second whatever happens.
 */
#include "wload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "timeutil.h"

#define PUT_TIMEOUT_MS 1000   /* a client's patience: longer is in doubt */
#define GET_TIMEOUT_MS 2000
#define RETRY_MS 50
#define LOST_KEYS_SHOWN 10

struct ack {
	uint64_t seq;
	int64_t at_ms;        /* monotonic */
};

struct writer {
	struct wload *w;
	int id;
	pthread_t thread;
	bool started;
	struct ack *acks;
	size_t nacks, cap;
	uint64_t attempted, refused, in_doubt;
	bool oom;             /* an acknowledgement could not be recorded */
};

struct wload {
	struct wload_opts o;
	wload_primary_fn primary;
	void *ctx;
	atomic_bool stop;
	int64_t start_ms, end_ms;
	struct writer wr[WLOAD_MAX_WRITERS];
};

static void key_of(const struct wload *w, int writer, uint64_t seq, char *out, size_t len)
{
	snprintf(out, len, "%s-w%d-%llu", w->o.prefix, writer, (unsigned long long)seq);
}

/* ---- the writers ------------------------------------------------------------- */

static bool remember(struct writer *wr, uint64_t seq, int64_t at)
{
	if (wr->nacks == wr->cap) {
		size_t cap = wr->cap ? wr->cap * 2 : 256;
		struct ack *a = realloc(wr->acks, cap * sizeof(*a));
		if (!a)
			return false;
		wr->acks = a;
		wr->cap = cap;
	}
	wr->acks[wr->nacks++] = (struct ack){ seq, at };
	return true;
}

/* One write of seq: acknowledged, refused or in doubt. */
static void put_one(struct writer *wr, struct httpc *h, uint64_t seq)
{
	struct wload *w = wr->w;
	char base[200], key[96], url[320], value[24], err[200];
	wr->attempted++;
	if (!w->primary(w->ctx, base, sizeof(base))) {
		wr->refused++;  /* no primary to write to: a client is refused */
		return;
	}
	key_of(w, wr->id, seq, key, sizeof(key));
	snprintf(url, sizeof(url), "%s/v1/kv/%s", base, key);
	int n = snprintf(value, sizeof(value), "%llu", (unsigned long long)seq);
	struct httpc_resp r;
	if (httpc_request(h, "PUT", url, NULL, value, (size_t)n, PUT_TIMEOUT_MS, &r, err,
			  sizeof(err)) != 0) {
		if (httpc_not_delivered(h))
			wr->refused++;
		else
			wr->in_doubt++;
		return;
	}
	if (r.status >= 200 && r.status < 300) {
		if (!remember(wr, seq, (int64_t)time_mono_ms()))
			wr->oom = true;
	} else {
		wr->refused++;
	}
	httpc_resp_free(&r);
}

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct wload *w = wr->w;
	struct httpc *h = httpc_new();
	uint64_t interval = 1000 / (uint64_t)w->o.rate, next = time_mono_ms();
	for (uint64_t seq = 1; h && !atomic_load(&w->stop); seq++) {
		put_one(wr, h, seq);
		next += interval ? interval : 1;
		uint64_t now = time_mono_ms();
		if (next > now)
			time_sleep_ms(next - now);
		else if (now - next > 1000)
			next = now;  /* far behind (a long outage): do not burst */
	}
	httpc_free(h);
	return NULL;
}

int wload_start(struct wload **out, const struct wload_opts *o, wload_primary_fn primary,
		void *ctx, char *err, size_t errlen)
{
	if (o->writers < 1 || o->writers > WLOAD_MAX_WRITERS || o->rate < 1 || o->rate > 1000) {
		snprintf(err, errlen, "write_load: writers 1..%d and rate 1..1000",
			 WLOAD_MAX_WRITERS);
		return -1;
	}
	struct wload *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "write_load: out of memory");
		return -1;
	}
	w->o = *o;
	w->primary = primary;
	w->ctx = ctx;
	atomic_init(&w->stop, false);
	w->start_ms = (int64_t)time_mono_ms();
	for (int i = 0; i < o->writers; i++) {
		w->wr[i] = (struct writer){ .w = w, .id = i + 1 };
		w->wr[i].started = pthread_create(&w->wr[i].thread, NULL, writer_main,
						  &w->wr[i]) == 0;
		if (!w->wr[i].started) {
			snprintf(err, errlen, "write_load: cannot start writer %d", i + 1);
			json_decref(wload_stop(w, 0));
			return -1;
		}
	}
	*out = w;
	return 0;
}

/* ---- the check ------------------------------------------------------------------ */

/* 1: the key holds its value; 0: lost; -1: the primary did not answer in time. */
static int read_back(struct wload *w, struct httpc *h, int writer, uint64_t seq, uint64_t until)
{
	char base[200], key[96], url[320], want[24], err[200];
	key_of(w, writer, seq, key, sizeof(key));
	snprintf(want, sizeof(want), "%llu", (unsigned long long)seq);
	for (;;) {
		struct httpc_resp r = { 0 };
		bool asked = w->primary(w->ctx, base, sizeof(base));
		if (asked) {
			snprintf(url, sizeof(url), "%s/v1/kv/%s", base, key);
			asked = httpc_request(h, "GET", url, NULL, NULL, 0, GET_TIMEOUT_MS, &r, err,
					      sizeof(err)) == 0;
		}
		int verdict = !asked || r.status >= 500 ? -1 :
			      r.status == 200 && r.body_len == strlen(want) &&
			      !memcmp(r.body, want, r.body_len);
		if (asked)
			httpc_resp_free(&r);
		if (verdict >= 0 || time_mono_ms() >= until)
			return verdict;
		time_sleep_ms(RETRY_MS);
	}
}

/* Reads every acknowledged write back; fills lost and lost_keys, or says
 * why it could not in *why. */
static void check_acks(struct wload *w, long timeout_ms, uint64_t *lost, json_t *lost_keys,
		       const char **why)
{
	struct httpc *h = httpc_new();
	uint64_t until = time_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	*why = h ? NULL : "out of memory";
	for (int i = 0; !*why && i < w->o.writers; i++)
		for (size_t k = 0; !*why && k < w->wr[i].nacks; k++) {
			int got = read_back(w, h, w->wr[i].id, w->wr[i].acks[k].seq, until);
			if (got < 0) {
				*why = "the primary did not answer the reads in time";
			} else if (got == 0 && ++*lost <= LOST_KEYS_SHOWN) {
				char key[96];
				key_of(w, w->wr[i].id, w->wr[i].acks[k].seq, key, sizeof(key));
				json_array_append_new(lost_keys, json_string(key));
			}
		}
	httpc_free(h);
}

/* Every acknowledgement time of every writer, in one array (caller frees). */
static int64_t *all_acks(const struct wload *w, size_t *n)
{
	size_t total = 0, k = 0;
	for (int i = 0; i < w->o.writers; i++)
		total += w->wr[i].nacks;
	int64_t *t = malloc((total ? total : 1) * sizeof(*t));
	for (int i = 0; t && i < w->o.writers; i++)
		for (size_t j = 0; j < w->wr[i].nacks; j++)
			t[k++] = w->wr[i].acks[j].at_ms;
	*n = total;
	return t;
}

static json_t *figures_json(struct wload *w, long check_timeout_ms)
{
	uint64_t attempted = 0, refused = 0, in_doubt = 0, lost = 0;
	bool oom = false;
	size_t nacks = 0;
	for (int i = 0; i < w->o.writers; i++) {
		attempted += w->wr[i].attempted;
		refused += w->wr[i].refused;
		in_doubt += w->wr[i].in_doubt;
		oom = oom || w->wr[i].oom;
	}
	int64_t *acks = all_acks(w, &nacks);
	json_t *lost_keys = json_array();
	const char *why = !acks || !lost_keys || oom ? "out of memory" : NULL;
	struct wload_figures f = { 0, 0 };
	if (!why)
		wload_measure(acks, nacks, w->start_ms, w->end_ms, w->o.gap_ms, &f);
	if (!why && check_timeout_ms < 0)
		why = "not checked (stopped without reads)";
	else if (!why)
		check_acks(w, check_timeout_ms, &lost, lost_keys, &why);
	free(acks);
	json_t *j = json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f, s:I, s:I, s:b}",
			      "writers", w->o.writers, "rate", w->o.rate, "duration_ms",
			      (json_int_t)(w->end_ms - w->start_ms), "attempted",
			      (json_int_t)attempted, "acked", (json_int_t)nacks, "refused",
			      (json_int_t)refused, "in_doubt", (json_int_t)in_doubt, "lost",
			      (json_int_t)lost, "lost_keys", lost_keys, "availability",
			      f.availability, "longest_gap_ms", (json_int_t)f.longest_gap_ms,
			      "gap_ms", (json_int_t)w->o.gap_ms, "checked", why == NULL);
	if (j && why)
		json_object_set_new(j, "check_error", json_string(why));
	return j;
}

json_t *wload_stop(struct wload *w, long check_timeout_ms)
{
	if (!w)
		return NULL;
	atomic_store(&w->stop, true);
	for (int i = 0; i < w->o.writers; i++)
		if (w->wr[i].started)
			pthread_join(w->wr[i].thread, NULL);
	w->end_ms = (int64_t)time_mono_ms();
	json_t *j = figures_json(w, check_timeout_ms);
	for (int i = 0; i < w->o.writers; i++)
		free(w->wr[i].acks);
	free(w);
	return j;
}

/* ---- the figures (pure) ----------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void wload_measure(int64_t *acks, size_t n, int64_t start_ms, int64_t end_ms, int64_t gap_ms,
		   struct wload_figures *out)
{
	int64_t duration = end_ms > start_ms ? end_ms - start_ms : 0, longest = 0, down = 0;
	int64_t prev = start_ms;
	if (n)
		qsort(acks, n, sizeof(*acks), cmp_i64);
	for (size_t i = 0; i <= n; i++) {
		int64_t t = i < n ? acks[i] : end_ms;
		t = t < prev ? prev : t > end_ms ? end_ms : t;
		int64_t gap = t - prev;
		longest = gap > longest ? gap : longest;
		down += gap > gap_ms ? gap : 0;
		prev = t;
	}
	out->longest_gap_ms = longest;
	out->availability = duration ? 1.0 - (double)down / (double)duration : (n ? 1.0 : 0.0);
}
