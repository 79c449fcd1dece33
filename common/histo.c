/*
 * histo.c — fixed-bucket latency histograms and Prometheus text (histo.h).
 */
#include "histo.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "timeutil.h"

/* 100 µs .. 10 s: a WAL fsync on a fast disk sits in the first buckets, a
 * sync write over a WAN or a failover-time HTTP call in the last ones. */
const uint64_t histo_bounds_us[HISTO_NBOUNDS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

void histo_init(struct histo *h)
{
	for (int i = 0; i <= HISTO_NBOUNDS; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum_us, 0);
}

void histo_observe_us(struct histo *h, uint64_t us)
{
	int i = 0;
	while (i < HISTO_NBOUNDS && us > histo_bounds_us[i])
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void histo_observe_since(struct histo *h, uint64_t start_ns)
{
	uint64_t now = time_mono_ns();
	histo_observe_us(h, now > start_ns ? (now - start_ns) / 1000 : 0);
}

void histo_snapshot(const struct histo *h, struct histo_snapshot *out)
{
	out->count = 0;
	for (int i = 0; i <= HISTO_NBOUNDS; i++) {
		out->counts[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		out->count += out->counts[i];
	}
	out->sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

/* ---- Prometheus text ------------------------------------------------------ */

void prom_init(struct prom *p)
{
	memset(p, 0, sizeof(*p));
}

void prom_free(struct prom *p)
{
	free(p->buf);
	prom_init(p);
}

static void prom_printf(struct prom *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void prom_printf(struct prom *p, const char *fmt, ...)
{
	if (p->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(p->buf ? p->buf + p->len : NULL, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			p->failed = true;
			return;
		}
		if ((size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
		size_t cap = p->cap ? p->cap * 2 : 8192;
		while (cap < p->len + (size_t)n + 1)
			cap *= 2;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->failed = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
	prom_printf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_value(struct prom *p, const char *name, const char *labels, double value)
{
	if (labels && *labels)
		prom_printf(p, "%s{%s} %.15g\n", name, labels, value);
	else
		prom_printf(p, "%s %.15g\n", name, value);
}

void prom_histo(struct prom *p, const char *name, const char *labels,
		const struct histo_snapshot *s)
{
	const char *sep = labels && *labels ? "," : "";
	const char *lab = labels ? labels : "";
	uint64_t cum = 0;
	for (int i = 0; i < HISTO_NBOUNDS; i++) {
		cum += s->counts[i];
		prom_printf(p, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lab, sep,
			    (double)histo_bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	prom_printf(p, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep,
		    (unsigned long long)s->count);
	prom_printf(p, "%s_sum%s%s%s %.6f\n", name, *lab ? "{" : "", lab, *lab ? "}" : "",
		    (double)s->sum_us / 1e6);
	prom_printf(p, "%s_count%s%s%s %llu\n", name, *lab ? "{" : "", lab, *lab ? "}" : "",
		    (unsigned long long)s->count);
}

void prom_label_escape(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; s && *s && n + 2 < outlen; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			out[n++] = '\\';
			out[n++] = *s == '\n' ? 'n' : *s;
		} else {
			out[n++] = *s;
		}
	}
	if (outlen)
		out[n] = '\0';
}

void prom_respond(struct prom *p, struct http_resp *resp)
{
	if (p->failed) {
		http_resp_error(resp, 503, "out of memory rendering metrics");
	} else {
		free(resp->body);
		resp->status = 200;
		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		resp->body = p->buf ? p->buf : strdup("");
		resp->body_len = p->len;
		p->buf = NULL;
		if (!resp->body)
			http_resp_error(resp, 503, "out of memory rendering metrics");
	}
	prom_free(p);
}
