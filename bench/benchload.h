/*
 * benchload.h — the client write load the lab benches share (lifebench,
 * habench): W writer threads, each putting unique keys w<W>-<N> (N from 0,
 * the value the key itself) through a write function to the target of the
 * moment (the primary as the bench last looked it up), retrying a refused or
 * failed write after 5 ms.  Writer w's keys 0..n-1 are all acknowledged, in
 * order, so the read-back at the end knows every key it must find.
 *
 * While gaps are on, each writer's longest time without an acknowledgement
 * is noted (counted from when gaps were turned on); the load's gap is the
 * longest over the writers: the write unavailability one client saw, which
 * another writer's stream cannot hide.
 *
 * The writer threads block SIGINT and SIGTERM: a bench's handler runs on
 * its main thread, never beside it.
 */
#ifndef DRORCH_BENCHLOAD_H
#define DRORCH_BENCHLOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lab.h"

#define BENCH_MAX_WRITERS 32

struct bench_load;
struct httpc;

/* Writes key (value: key) to the target; true when acknowledged. */
typedef bool (*bench_write_fn)(struct bench_load *l, int w, const char *key);

struct bench_writer {
	struct bench_load *l;
	int id;
	pthread_t th;
	uint64_t n;           /* keys acknowledged: w<id>-<0..n-1> */
	uint64_t failed;      /* writes refused or failed */
	uint64_t last_ack_ms; /* monotonic: its newest acknowledgement */
	struct httpc *http;   /* bench_drorch_write's connection */
	int fd, port;         /* a peer's connection (lifebench's Redis writers); fd -1: none */
};

struct bench_load {
	bench_write_fn write;
	atomic_bool stop;
	pthread_mutex_t mu;
	char target[128];        /* drorch: the primary site's base URL; a peer: its own */
	uint64_t gap_ms;         /* the longest gap one writer saw while gaps were on */
	uint64_t gaps_from_ms;   /* when gaps were turned on */
	bool gaps_on;
	int nw;
	struct bench_writer w[BENCH_MAX_WRITERS];
};

/* What a load did, once stopped. */
struct bench_load_figures {
	uint64_t acked, failed, gap_ms;
};

/* Starts nw (1..BENCH_MAX_WRITERS) writers on l, which must be zeroed
 * except for its target. */
void bench_load_start(struct bench_load *l, int nw, bench_write_fn write);
/* Gaps on (from now, forgetting any before) or off (a writer still waiting
 * for its first acknowledgement since counts up to now). */
void bench_load_gaps(struct bench_load *l, bool on);
/* Stops and joins the writers. */
void bench_load_stop(struct bench_load *l, struct bench_load_figures *out);
/* Closes l's connections and its mutex (after bench_load_stop). */
void bench_load_free(struct bench_load *l);

void bench_load_target_get(struct bench_load *l, char *out, size_t len);
void bench_load_target_set(struct bench_load *l, const char *target);

/* ---- drorch: the primary drorchd names, through the lab ---------------- */

/* method url (with token as bearer, body or NULL), 5 s at most; the answer
 * parsed as JSON (NULL when none or not JSON; caller decrefs), its status
 * in *status (0: no answer). */
json_t *bench_orch_json(const char *token, const char *method, const char *url,
			const char *body, long *status);
/* PUT TARGET/v1/kv/KEY: the write of a drorch load. */
bool bench_drorch_write(struct bench_load *l, int w, const char *key);
/* Points the load at the site orch_url's GET /v1/status names primary (no
 * change when it names none or does not answer). */
void bench_drorch_follow(const struct lab *lab, const char *orch_url, const char *token,
			 struct bench_load *l);
/* Reads every acknowledged key back from the target (after
 * bench_load_stop): how many are missing or hold another value. */
uint64_t bench_drorch_lost(struct bench_load *l);

#endif
