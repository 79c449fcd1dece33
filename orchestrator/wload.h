/*
 * wload.h — a playbook's write load (prefix wload_): background writers
 * that put unique keys to the cluster's primary, record every write the
 * primary acknowledged, and at the end read each one back to say what a
 * client saw of the drill.
 *
 * Each writer w puts KEY = PREFIX-wW-SEQ (SEQ from 1) with the value SEQ,
 * at most `rate` writes per second, to the URL the primary callback names
 * at that moment (it follows a failover).  A 2xx answer is acknowledged;
 * any other answer is refused; no answer (timeout, reset) is in doubt and
 * counted apart — it was not acknowledged, so its loss loses nothing.
 *
 * The check (wload_stop) reads every acknowledged key from the primary of
 * that moment: missing or another value is lost.  The figures
 * (wload_measure, a pure function) come from the acknowledgement times:
 *   longest_gap_ms  the longest time without an acknowledgement, from the
 *                   start to the first, between two, and from the last to
 *                   the end;
 *   availability    1 - (the sum of those gaps longer than gap_ms) /
 *                   duration: the fraction of the time in which writes were
 *                   being acknowledged at the pace asked.
 */
#ifndef DRORCH_WLOAD_H
#define DRORCH_WLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define WLOAD_MAX_WRITERS 16

struct wload_opts {
	int writers;           /* 1..WLOAD_MAX_WRITERS */
	int rate;              /* writes per second per writer, 1..1000 */
	int64_t gap_ms;        /* a gap longer than this is unavailability */
	char prefix[48];       /* key prefix, [A-Za-z0-9_-] */
};

/* Writes the primary's base URL ("http://HOST:PORT") into url[len]; false
 * when there is no primary to write to now. */
typedef bool (*wload_primary_fn)(void *ctx, char *url, size_t len);

struct wload;

/* Starts the writers; 0, or -1 with err. */
int wload_start(struct wload **out, const struct wload_opts *o, wload_primary_fn primary,
		void *ctx, char *err, size_t errlen);

/*
 * Stops the writers, reads back every acknowledged write (the primary of
 * now; the reads retried for up to check_timeout_ms in all while the
 * primary does not answer; check_timeout_ms < 0: no reads) and frees w.  Returns the figures as a new JSON object:
 * {writers, rate, duration_ms, attempted, acked, refused, in_doubt, lost,
 * lost_keys (up to 10), availability, longest_gap_ms, gap_ms, checked}
 * where checked is false (and "check_error" says why) when the reads could
 * not be done; NULL only when out of memory.
 */
json_t *wload_stop(struct wload *w, long check_timeout_ms);

struct wload_figures {
	int64_t longest_gap_ms;
	double availability;   /* 0..1 */
};

/* The figures of acknowledgements at times acks[0..n) (any order; sorted
 * in place) over [start_ms, end_ms]. */
void wload_measure(int64_t *acks, size_t n, int64_t start_ms, int64_t end_ms, int64_t gap_ms,
		   struct wload_figures *out);

#endif
