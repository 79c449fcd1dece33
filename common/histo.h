/*
 * histo.h — latency histograms and the Prometheus text they are scraped in.
 *
 * A struct histo has fixed buckets (100 µs .. 10 s, below) and is lock-free:
 * histo_observe is two relaxed atomic adds, so it can sit on hot paths (every
 * HTTP request, every WAL fsync) and be embedded in any struct without an
 * allocation.  histo_snapshot copies the counts; its count is the sum of the
 * copied buckets, so a rendered histogram is always self-consistent
 * (le="+Inf" == _count) even while observations race with the scrape.
 *
 * struct prom builds a /metrics body in the Prometheus text exposition format
 * 0.0.4: prom_family writes "# HELP" and "# TYPE" once per metric name, then
 * prom_value / prom_histo write its samples.  Labels are passed preformatted
 * (`site="eu-west",role="primary"`, or "" for none); prom_label_escape makes
 * an arbitrary string safe inside the quotes.  A failed allocation is sticky:
 * prom_respond then answers 503 instead of a truncated body.
 */
#ifndef DRORCH_HISTO_H
#define DRORCH_HISTO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_resp;

#define HISTO_NBOUNDS 16

/* Upper bounds of the buckets, in microseconds, ascending; +Inf follows. */
extern const uint64_t histo_bounds_us[HISTO_NBOUNDS];

struct histo {
	_Atomic uint64_t counts[HISTO_NBOUNDS + 1];  /* per bucket, not cumulative */
	_Atomic uint64_t sum_us;
};

struct histo_snapshot {
	uint64_t counts[HISTO_NBOUNDS + 1];  /* per bucket, not cumulative */
	uint64_t count;
	uint64_t sum_us;
};

void histo_init(struct histo *h);
void histo_observe_us(struct histo *h, uint64_t us);
/* Observes the time since start_ns (a time_mono_ns() reading). */
void histo_observe_since(struct histo *h, uint64_t start_ns);
void histo_snapshot(const struct histo *h, struct histo_snapshot *out);

/* ---- Prometheus text ------------------------------------------------------ */

struct prom {
	char *buf;
	size_t len, cap;
	bool failed;
};

void prom_init(struct prom *p);
/* "# HELP name help" and "# TYPE name type" (counter|gauge|histogram). */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);
/* "name{labels} value"; labels "" writes no braces. */
void prom_value(struct prom *p, const char *name, const char *labels, double value);
/* name_bucket{labels,le=...} (cumulative, ending with +Inf), name_sum, name_count. */
void prom_histo(struct prom *p, const char *name, const char *labels,
		const struct histo_snapshot *s);
/* Copies s into out (at most outlen bytes, NUL-terminated) with \, " and
 * newline escaped as a label value requires. */
void prom_label_escape(const char *s, char *out, size_t outlen);
/* Hands the body to resp (200 text/plain; version=0.0.4) and resets p; 503
 * if an allocation failed on the way. */
void prom_respond(struct prom *p, struct http_resp *resp);
void prom_free(struct prom *p);

#endif
