/*
 * metrics.h — drorchd's /metrics in the Prometheus text format 0.0.4 (names
 * start with drorch_).
 *
 * Owns the counters only drorchd's own code can see (transitions committed,
 * failover runs ended, by outcome) and the histogram of its HTTP API's
 * request durations.  Everything else is read at scrape time: the cluster
 * row and the monitor's views (orch_status_json, so /metrics and /v1/status
 * agree), the last failover run from the store, the webhook senders' counts.
 * Counters start at zero with the process, as Prometheus expects.
 */
#ifndef DRORCH_ORCH_METRICS_H
#define DRORCH_ORCH_METRICS_H

#include "fsm.h"
#include "http.h"
#include "orch.h"

struct httpstats;
struct orch_metrics;

/* NULL when out of memory; metrics_free(NULL) is fine. */
struct orch_metrics *metrics_new(void);
void metrics_free(struct orch_metrics *m);

/* A transition of row was committed. */
void metrics_transition(struct orch_metrics *m, const struct fsm_row *row);
/* A failover run ended: succeeded | held | failed. */
void metrics_failover(struct orch_metrics *m, const char *outcome);
/* What drorchd's HTTP server observes every request into (by route). */
struct httpstats *metrics_http_stats(struct orch *o);

/* GET /metrics. */
void metrics_orch(struct orch *o, struct http_resp *resp);

#endif
