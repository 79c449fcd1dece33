/*
 * linkbody.h — the JSON bodies of drlink's admin API (drlink.c), parsed
 * without the engine: pure functions of the parsed body, so drlink and the
 * fuzz targets run the same code.  Each returns 0, or -1 with err naming
 * the field (the request then answers 400 and changes nothing).
 */
#ifndef DRORCH_LINKBODY_H
#define DRORCH_LINKBODY_H

#include <stddef.h>

#include <jansson.h>

#include "link.h"

/* PUT /v1/links/{name}/conditions: any subset of latency_ms, jitter_ms,
 * loss_pct, bandwidth_kbps, partition, direction into *u. */
int linkbody_conditions(json_t *body, struct link_cond_update *u, char *err, size_t errlen);

/* POST /v1/links: name, listen and upstream (val[0..2], pointing into
 * body), each a string, all required, nothing else. */
int linkbody_link(json_t *body, const char *val[3], char *err, size_t errlen);

#endif
