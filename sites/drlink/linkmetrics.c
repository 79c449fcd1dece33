/*
 * linkmetrics.c — drlink's /metrics (see linkmetrics.h).
 *
 * Labels: link="NAME" and direction="upstream"|"downstream" (client to
 * upstream, upstream to client).  Times in seconds, sizes in bytes, loss as
 * a ratio: base units, as Prometheus asks.
 */
#include "linkmetrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "histo.h"
#include "http.h"
#include "link.h"
#include "procmetrics.h"

static const char *const dir_names[2] = { "upstream", "downstream" };

/* One family with one sample per link and direction; field(st, d). */
static void per_dir(struct prom *p, const struct link_stats *st, size_t n, const char *name,
		    const char *type, const char *help,
		    double (*field)(const struct link_stats *, int))
{
	char esc[2 * LINK_NAME_MAX + 8], labels[256];
	prom_family(p, name, type, help);
	for (size_t i = 0; i < n; i++) {
		prom_label_escape(st[i].name, esc, sizeof(esc));
		for (int d = 0; d < 2; d++) {
			snprintf(labels, sizeof(labels), "link=\"%s\",direction=\"%s\"", esc,
				 dir_names[d]);
			prom_value(p, name, labels, field(&st[i], d));
		}
	}
}

static double f_read(const struct link_stats *s, int d) { return (double)s->dir[d].bytes_read; }
static double f_sent(const struct link_stats *s, int d) { return (double)s->dir[d].bytes_sent; }
static double f_queued(const struct link_stats *s, int d) { return (double)s->dir[d].queued; }
static double f_chunks(const struct link_stats *s, int d) { return (double)s->dir[d].chunks; }
static double f_lost(const struct link_stats *s, int d) { return (double)s->dir[d].chunks_lost; }
static double f_latency(const struct link_stats *s, int d)
{
	return s->dir[d].cond.latency_ms / 1000.0;
}
static double f_jitter(const struct link_stats *s, int d)
{
	return s->dir[d].cond.jitter_ms / 1000.0;
}
static double f_loss(const struct link_stats *s, int d) { return s->dir[d].cond.loss_pct / 100.0; }
static double f_bandwidth(const struct link_stats *s, int d)
{
	return (double)s->dir[d].cond.bandwidth_kbps * 125.0;
}

static void render_conditions(struct prom *p, const struct link_stats *st, size_t n)
{
	per_dir(p, st, n, "drorch_link_latency_seconds", "gauge",
		"The link's configured one-way latency.", f_latency);
	per_dir(p, st, n, "drorch_link_jitter_seconds", "gauge",
		"The link's configured jitter (each chunk's delay varies by +/- this).", f_jitter);
	per_dir(p, st, n, "drorch_link_loss_ratio", "gauge",
		"The link's configured share of chunks that need a retransmission.", f_loss);
	per_dir(p, st, n, "drorch_link_bandwidth_bytes_per_second", "gauge",
		"The link's configured bandwidth cap, 0 for none.", f_bandwidth);
	static const enum link_partition modes[] = { LINK_PARTITION_NONE,
		LINK_PARTITION_BLACKHOLE, LINK_PARTITION_RESET };
	char esc[2 * LINK_NAME_MAX + 8], labels[256];
	prom_family(p, "drorch_link_partition", "gauge",
		    "1 for the partition mode the direction is in, 0 for the others.");
	for (size_t i = 0; i < n; i++) {
		prom_label_escape(st[i].name, esc, sizeof(esc));
		for (int d = 0; d < 2; d++)
			for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
				snprintf(labels, sizeof(labels),
					 "link=\"%s\",direction=\"%s\",mode=\"%s\"", esc,
					 dir_names[d], link_partition_name(modes[m]));
				prom_value(p, "drorch_link_partition", labels,
					   st[i].dir[d].cond.partition == modes[m]);
			}
	}
}

static void render_traffic(struct prom *p, const struct link_stats *st, size_t n)
{
	char esc[2 * LINK_NAME_MAX + 8], labels[256];
	prom_family(p, "drorch_link_connections", "gauge", "Connections open through the link.");
	for (size_t i = 0; i < n; i++) {
		prom_label_escape(st[i].name, esc, sizeof(esc));
		snprintf(labels, sizeof(labels), "link=\"%s\"", esc);
		prom_value(p, "drorch_link_connections", labels, (double)st[i].connections);
	}
	prom_family(p, "drorch_link_connections_total", "counter",
		    "Connections the link accepted.");
	for (size_t i = 0; i < n; i++) {
		prom_label_escape(st[i].name, esc, sizeof(esc));
		snprintf(labels, sizeof(labels), "link=\"%s\"", esc);
		prom_value(p, "drorch_link_connections_total", labels,
			   (double)st[i].connections_total);
	}
	per_dir(p, st, n, "drorch_link_read_bytes_total", "counter",
		"Bytes the link read from the direction's source.", f_read);
	per_dir(p, st, n, "drorch_link_sent_bytes_total", "counter",
		"Bytes the link delivered to the direction's destination.", f_sent);
	per_dir(p, st, n, "drorch_link_queued_bytes", "gauge",
		"Bytes read and not yet delivered (held by delay, a cap or a partition).",
		f_queued);
	per_dir(p, st, n, "drorch_link_chunks_total", "counter",
		"Chunks (one recv each) the link gave a due time.", f_chunks);
	per_dir(p, st, n, "drorch_link_chunks_lost_total", "counter",
		"Chunks that drew at least one emulated loss (delivered a retransmission "
		"timeout late).", f_lost);
	prom_family(p, "drorch_link_delay_seconds", "histogram",
		    "The delay the link gave each chunk (latency, jitter, loss, order).");
	for (size_t i = 0; i < n; i++) {
		prom_label_escape(st[i].name, esc, sizeof(esc));
		for (int d = 0; d < 2; d++) {
			snprintf(labels, sizeof(labels), "link=\"%s\",direction=\"%s\"", esc,
				 dir_names[d]);
			prom_histo(p, "drorch_link_delay_seconds", labels, &st[i].dir[d].delay);
		}
	}
}

void linkmetrics_respond(struct link_engine *e, struct http_resp *resp)
{
	struct link_stats *st = NULL;
	size_t n = 0;
	char err[256];
	if (link_stats_all(e, &st, &n, err, sizeof(err)) != 0) {
		http_resp_error(resp, 503, "%s", err);
		return;
	}
	struct prom p;
	prom_init(&p);
	render_conditions(&p, st, n);
	render_traffic(&p, st, n);
	prom_build_info(&p, "drlink", PACKAGE_VERSION);
	prom_process(&p);
	free(st);
	prom_respond(&p, resp);
}
