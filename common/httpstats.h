/*
 * httpstats.h — HTTP request durations by route, method and status code,
 * for a server's /metrics.
 *
 * A route is a template of the server's own list ("/v1/runs/{id}/report"):
 * httpstats_route matches a request path against the list, segment by
 * segment, "{...}" matching any one segment, so the labels stay as few as
 * the routes whatever paths clients send (an unknown path is "other").
 * Observing is lock-free (an atomic slot claim, then histo.h's atomic adds),
 * so it can sit on every request of a busy server.
 */
#ifndef DRORCH_HTTPSTATS_H
#define DRORCH_HTTPSTATS_H

#include <stdint.h>

struct prom;
struct httpstats;

/* NULL on allocation failure; httpstats_free(NULL) is fine. */
struct httpstats *httpstats_new(void);
void httpstats_free(struct httpstats *s);

/* The template of routes (NULL-terminated) that path matches, or "other".
 * The query string, if any, is not part of path. */
const char *httpstats_route(const char *const *routes, const char *path);

/* One request: route a string that outlives s (a template of the list, or
 * "other"), its method, the status answered, started a time_mono_ns(). */
void httpstats_observe(struct httpstats *s, const char *route, const char *method, int code,
		       uint64_t started_ns);

/* The histogram family `name` with one series per route, method and code
 * seen: {route="...",method="...",code="..."}; and the counter
 * drorch_http_requests_unlabelled_total of requests it could not hold. */
void httpstats_render(struct httpstats *s, struct prom *p, const char *name, const char *help);

#endif
