/*
 * metrics.h — drorchd's /metrics in the Prometheus text format (names start
 * with drorch_).
 */
#ifndef DRORCH_ORCH_METRICS_H
#define DRORCH_ORCH_METRICS_H

#include "http.h"
#include "orch.h"

void metrics_orch(struct orch *o, struct http_resp *resp);

#endif
