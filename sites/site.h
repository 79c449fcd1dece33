/*
 * site.h — one drsite: the data directory, its WAL and map, checkpoints,
 * its role (standalone, primary, replica, fenced) and WAL shipping, and the
 * site's HTTP API.
 *
 * Owns the data-dir lock (DIR/LOCK, flock'd: one drsite per directory), the
 * checkpointer and follower threads, and the mapping of HTTP requests onto
 * WAL appends, map reads and role changes.  A PUT or DELETE answers only
 * once its record is acknowledged under the replication mode in force.
 */
#ifndef DRORCH_SITE_H
#define DRORCH_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "version.h"

struct site_opts {
	const char *name;
	const char *datadir;
	const char *token_file;      /* admin/replication bearer token, or NULL */
	uint64_t segment_bytes;      /* WAL segment rotation size */
	uint64_t checkpoint_bytes;   /* checkpoint after this much WAL */
	uint64_t lease_ms;           /* write lease TTL of a primary */
	uint64_t sync_timeout_ms;    /* how long a sync write waits for its quorum */
	int json_framing;            /* replica asks for JSON framing, not binary */
	int enable_faults;           /* POST /v1/admin/faults exists (drills only) */
	struct version binary;       /* the binary version this site claims to be */
};

struct site;

/* Locks the data dir, loads snapshot + WAL + role, starts the threads.
 * Refuses, changing nothing, a data dir whose FCV is above opts->binary. */
int site_open(struct site **out, const struct site_opts *opts, char *err, size_t errlen);
/* Stops the threads, checkpoints if anything changed, closes the WAL,
 * releases the lock, frees s.  Call after the HTTP server has stopped. */
void site_close(struct site *s);

/* The HTTP handler (ctx is the struct site). */
void site_http_handler(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
