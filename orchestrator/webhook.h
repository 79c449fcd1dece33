/*
 * webhook.h — every committed transition POSTed as JSON to the config's
 * `webhooks: [URL]`.
 *
 * Owns one sender thread and one bounded queue per URL, so a dead or slow
 * receiver delays nobody but itself.  webhook_post only copies the body into
 * the queues: it never blocks the state machine on the network.  A full
 * queue drops its oldest body (counted, and logged as webhook.dropped).  A
 * body is retried with exponential backoff (WEBHOOK_BACKOFF_FIRST_MS
 * doubling up to WEBHOOK_BACKOFF_MAX_MS) until a 2xx answer or
 * WEBHOOK_MAX_TRIES attempts (then logged as webhook.gave_up).  Per URL,
 * bodies are delivered in the order they were posted.
 *
 * The body of a transition is the audit row as committed (store.h), with
 * names a receiver expects and the cluster's primary after it:
 *   {"type":"transition","seq":12,"ts":"2026-...Z","ts_ms":...,"from":"STEADY",
 *    "event":"PRIMARY_MISSED","to":"SUSPECT","row_id":"D01","epoch":3,
 *    "actor":"auto","run_id":null,"reason":"...","detail":...,"hash":"...",
 *    "primary":"us-east"}
 */
#ifndef DRORCH_WEBHOOK_H
#define DRORCH_WEBHOOK_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "store.h"

#define WEBHOOK_QUEUE_MAX 1024
#define WEBHOOK_MAX_TRIES 12
#define WEBHOOK_BACKOFF_FIRST_MS 100
#define WEBHOOK_BACKOFF_MAX_MS 10000
#define WEBHOOK_TIMEOUT_MS 2000

struct webhooks;

/* Starts a sender per URL of cfg (none is fine: posts are then no-ops). */
int webhook_start(struct webhooks **out, const struct config *cfg, char *err, size_t errlen);
/* Stops the senders (an attempt in flight finishes or times out first);
 * bodies still queued are dropped and logged.  NULL is fine. */
void webhook_stop(struct webhooks *w);

/* Queues event (a JSON object; not stolen) for every URL. */
void webhook_post(struct webhooks *w, const json_t *event);
/* Reads transition seq back from the store and posts it with primary. */
void webhook_transition(struct webhooks *w, struct store *st, int64_t seq, const char *primary);

struct webhook_stats {
	const char *url;           /* valid while w is */
	uint64_t delivered;        /* bodies a receiver answered 2xx */
	uint64_t failures;         /* attempts that failed (transport or non-2xx) */
	uint64_t gave_up;          /* bodies dropped after WEBHOOK_MAX_TRIES */
	uint64_t dropped;          /* bodies dropped from a full queue */
	uint64_t queued;           /* bodies waiting now (not counting one in flight) */
};

/* Fills out[0..n) for the first n URLs (n <= max); returns n. */
int webhook_stats(struct webhooks *w, struct webhook_stats *out, int max);

#endif
