/*
 * webhook.c — transition webhooks (see webhook.h).
 *
 * w->mu guards every queue, counter and the stopping flag; w->cv wakes the
 * senders (a new body, or stop).  A sender pops its queue's head and owns
 * that body while it tries to deliver it, outside the lock, so webhook_post
 * (on the driver thread) waits at most for another thread's queue push or
 * pop, never for the network.  The queues are rings of malloc'd JSON texts.
 */
#include "webhook.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "log.h"
#include "timeutil.h"

struct hook_target {
	struct webhooks *owner;
	char url[CONFIG_URL_MAX];
	char *ring[WEBHOOK_QUEUE_MAX];
	size_t head, n;
	struct webhook_stats st;
	pthread_t thread;
};

struct webhooks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	struct hook_target targets[CONFIG_MAX_WEBHOOKS];
	int ntargets;      /* with a running sender */
};

/* ---- the queue (under w->mu) ----------------------------------------------- */

static char *pop_locked(struct hook_target *t)
{
	char *body = t->ring[t->head];
	t->ring[t->head] = NULL;
	t->head = (t->head + 1) % WEBHOOK_QUEUE_MAX;
	t->n--;
	return body;
}

/* Appends body (owned from now on); drops the oldest when full. */
static void push_locked(struct hook_target *t, char *body)
{
	if (t->n == WEBHOOK_QUEUE_MAX) {
		free(pop_locked(t));
		t->st.dropped++;
		log_event(LOG_WARN, "webhook.dropped", "{s:s, s:s, s:I, s:i}", "url", t->url,
			  "why", "queue full", "dropped_total", (json_int_t)t->st.dropped,
			  "queue_max", WEBHOOK_QUEUE_MAX);
	}
	t->ring[(t->head + t->n) % WEBHOOK_QUEUE_MAX] = body;
	t->n++;
}

/* ---- delivery ------------------------------------------------------------------ */

/* One POST; true on a 2xx answer, else err[] says why. */
static bool post_once(struct httpc *c, const char *url, const char *body, char *err,
		      size_t errlen)
{
	struct httpc_resp r;
	if (httpc_request(c, "POST", url, NULL, body, strlen(body), WEBHOOK_TIMEOUT_MS, &r,
			  err, errlen) != 0)
		return false;
	bool ok = r.status >= 200 && r.status < 300;
	if (!ok)
		snprintf(err, errlen, "HTTP %ld", r.status);
	httpc_resp_free(&r);
	return ok;
}

/* Sleeps ms unless the senders are stopping; true if they are.  Under w->mu. */
static bool backoff_locked(struct webhooks *w, uint64_t ms)
{
	uint64_t until = time_mono_ms() + ms;
	while (!w->stopping && time_mono_ms() < until) {
		struct timespec ts;
		time_deadline(&ts, until - time_mono_ms());
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	return w->stopping;
}

/* Tries body until delivered, WEBHOOK_MAX_TRIES, or stop. */
static void deliver(struct hook_target *t, struct httpc *c, const char *body)
{
	struct webhooks *w = t->owner;
	uint64_t wait_ms = WEBHOOK_BACKOFF_FIRST_MS;
	char err[300] = "out of memory";
	for (int attempt = 1;; attempt++) {
		bool ok = c && post_once(c, t->url, body, err, sizeof(err));
		pthread_mutex_lock(&w->mu);
		if (ok)
			t->st.delivered++;
		else
			t->st.failures++;
		bool done = ok || attempt == WEBHOOK_MAX_TRIES || backoff_locked(w, wait_ms);
		if (!ok && attempt == WEBHOOK_MAX_TRIES)
			t->st.gave_up++;
		pthread_mutex_unlock(&w->mu);
		if (!ok)
			log_event(attempt == WEBHOOK_MAX_TRIES ? LOG_WARN : LOG_DEBUG,
				  attempt == WEBHOOK_MAX_TRIES ? "webhook.gave_up" : "webhook.retry",
				  "{s:s, s:i, s:s, s:I}", "url", t->url, "attempt", attempt,
				  "error", err, "next_ms", (json_int_t)wait_ms);
		if (done)
			return;
		wait_ms = wait_ms * 2 > WEBHOOK_BACKOFF_MAX_MS ? WEBHOOK_BACKOFF_MAX_MS : wait_ms * 2;
	}
}

static void *sender_main(void *arg)
{
	struct hook_target *t = arg;
	struct webhooks *w = t->owner;
	struct httpc *c = httpc_new();
	if (!c)
		log_event(LOG_ERROR, "webhook.no_client", "{s:s}", "url", t->url);
	pthread_mutex_lock(&w->mu);
	while (!w->stopping) {
		if (t->n == 0) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		char *body = pop_locked(t);
		pthread_mutex_unlock(&w->mu);
		deliver(t, c, body);
		free(body);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	httpc_free(c);
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int webhook_start(struct webhooks **out, const struct config *cfg, char *err, size_t errlen)
{
	struct webhooks *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "webhooks: out of memory");
		return -1;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (int i = 0; i < cfg->nwebhooks && i < CONFIG_MAX_WEBHOOKS; i++) {
		struct hook_target *t = &w->targets[i];
		t->owner = w;
		snprintf(t->url, sizeof(t->url), "%s", cfg->webhooks[i]);
		t->st.url = t->url;
		int rc = pthread_create(&t->thread, NULL, sender_main, t);
		if (rc != 0) {
			snprintf(err, errlen, "webhooks: start sender for %s: %s", t->url, strerror(rc));
			webhook_stop(w);
			return -1;
		}
		w->ntargets++;
	}
	*out = w;
	return 0;
}

void webhook_stop(struct webhooks *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->ntargets; i++) {
		struct hook_target *t = &w->targets[i];
		pthread_join(t->thread, NULL);
		if (t->n)
			log_event(LOG_WARN, "webhook.undelivered_at_stop", "{s:s, s:I}", "url", t->url,
				  "bodies", (json_int_t)t->n);
		while (t->n)
			free(pop_locked(t));
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* ---- posting --------------------------------------------------------------------- */

void webhook_post(struct webhooks *w, const json_t *event)
{
	if (!w || w->ntargets == 0)
		return;
	char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text) {
		log_event(LOG_ERROR, "webhook.encode_failed", NULL);
		return;
	}
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->ntargets; i++) {
		char *copy = i == w->ntargets - 1 ? text : strdup(text);
		if (!copy) {
			w->targets[i].st.dropped++;
			log_event(LOG_ERROR, "webhook.dropped", "{s:s, s:s}", "url",
				  w->targets[i].url, "why", "out of memory");
			continue;
		}
		push_locked(&w->targets[i], copy);
	}
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The audit row under the names webhook.h documents. */
static json_t *transition_event(json_t *row, const char *primary)
{
	char ts[40];
	json_int_t ts_ms = json_integer_value(json_object_get(row, "ts_ms"));
	time_format_rfc3339((uint64_t)ts_ms, ts, sizeof(ts));
	return json_pack("{s:s, s:O, s:s, s:I, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, "
			 "s:O?, s:s}",
			 "type", "transition", "seq", json_object_get(row, "seq"), "ts", ts,
			 "ts_ms", ts_ms, "from", json_object_get(row, "from_state"),
			 "event", json_object_get(row, "event"),
			 "to", json_object_get(row, "to_state"),
			 "row_id", json_object_get(row, "row_id"),
			 "epoch", json_object_get(row, "epoch"),
			 "actor", json_object_get(row, "actor"),
			 "run_id", json_object_get(row, "run_id"),
			 "reason", json_object_get(row, "reason"),
			 "detail", json_object_get(row, "detail"),
			 "hash", json_object_get(row, "hash"), "primary", primary);
}

void webhook_transition(struct webhooks *w, struct store *st, int64_t seq, const char *primary)
{
	if (!w || w->ntargets == 0)
		return;
	json_t *rows = store_transitions_json(st, seq - 1, 0, 1);
	json_t *row = json_array_get(rows, 0);
	json_t *ev = json_integer_value(json_object_get(row, "seq")) == seq
			     ? transition_event(row, primary) : NULL;
	if (ev)
		webhook_post(w, ev);
	else
		log_event(LOG_ERROR, "webhook.transition_unreadable", "{s:I}", "seq", (json_int_t)seq);
	json_decref(ev);
	json_decref(rows);
}

int webhook_stats(struct webhooks *w, struct webhook_stats *out, int max)
{
	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	int n = w->ntargets < max ? w->ntargets : max;
	for (int i = 0; i < n; i++) {
		out[i] = w->targets[i].st;
		out[i].queued = w->targets[i].n;
	}
	pthread_mutex_unlock(&w->mu);
	return n;
}
