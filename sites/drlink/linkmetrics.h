/*
 * linkmetrics.h — drlink's GET /metrics: every link's conditions and what it
 * has carried, per direction, in the Prometheus text format, with
 * drorch_build_info and the process_* metrics (procmetrics.h).
 */
#ifndef DRORCH_LINKMETRICS_H
#define DRORCH_LINKMETRICS_H

struct link_engine;
struct http_resp;

/* Answers 200 with the metrics, 503 if the engine is stopping or out of
 * memory. */
void linkmetrics_respond(struct link_engine *e, struct http_resp *resp);

#endif
