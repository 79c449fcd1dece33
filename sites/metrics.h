/*
 * metrics.h — drsite's GET /metrics (Prometheus text format 0.0.4; names
 * start with drorch_site_ or drorch_http_, besides drorch_build_info and
 * process_*: procmetrics.h).
 *
 * Owns the site's latency histograms: client PUTs from request to
 * acknowledgement, by the replication mode they were acknowledged under, and
 * HTTP request durations by route, method and code (observed by
 * common/http.c through http_server_opts.stats: httpstats.h).  Everything else is read at scrape
 * time from the WAL, the map and the role state; the WAL keeps its own fsync
 * histogram (wal_fsync_histogram).
 */
#ifndef DRORCH_SITE_METRICS_H
#define DRORCH_SITE_METRICS_H

#include <stdint.h>

#include "http.h"

struct site;
struct httpstats;
struct site_metrics;

/* NULL when out of memory; site_metrics_free(NULL) is fine. */
struct site_metrics *site_metrics_new(void);
void site_metrics_free(struct site_metrics *m);

/* What drsite's HTTP server observes every request into (by route). */
struct httpstats *site_metrics_http_stats(struct site *s);
/* A PUT that arrived at start_ns (time_mono_ns) was acknowledged now. */
void site_metrics_put_acked(struct site *s, uint64_t start_ns);
/* GET /metrics. */
void site_metrics_render(struct site *s, struct http_resp *resp);

#endif
