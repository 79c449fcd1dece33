/*
 * linkconf.h — drlink's --config file: the links to create at start-up.
 *
 *   links:
 *     - name: us-east.eu-west           # [A-Za-z0-9._-], at most 64
 *       listen: 127.0.0.1:7001
 *       upstream: 127.0.0.1:8002
 *       conditions:                     # optional: a mapping, or a list of
 *         latency_ms: 40                # them to set directions apart
 *         jitter_ms: 5
 *         direction: both
 *
 * The condition keys are those of PUT /v1/links/{name}/conditions.
 *
 * Owns: parsing (libyaml) and the parsed links.  Loading either returns the
 * whole file or an error "FILE:LINE:COLUMN: what was expected"; nothing is
 * applied here, so a bad file applies nothing.
 */
#ifndef DRORCH_LINKCONF_H
#define DRORCH_LINKCONF_H

#include <stddef.h>

#include "link.h"

struct linkconf_cond {
	struct link_cond_update update;
	int line, column;          /* 1-based, of the mapping */
};

struct linkconf_link {
	char *name, *listen, *upstream;
	struct linkconf_cond *conds;
	size_t nconds;
	int line, column;          /* 1-based, of the link's mapping */
};

struct linkconf {
	struct linkconf_link *links;
	size_t nlinks;
};

/* 0, or -1 with "path:line:column: message" in err[].  Free with
 * linkconf_free(). */
int linkconf_load(const char *path, struct linkconf **out, char *err, size_t errlen);
void linkconf_free(struct linkconf *conf);

#endif
