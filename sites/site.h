/*
 * site.h — one drsite: the data directory, its WAL and map, checkpoints, and
 * the site's HTTP API (client KV routes, status, health).
 *
 * Owns the data-dir lock (DIR/LOCK, flock'd: one drsite per directory), the
 * checkpointer thread, and the mapping of HTTP requests onto WAL appends and
 * map reads.  A PUT or DELETE answers only after its record is durable.
 */
#ifndef DRORCH_SITE_H
#define DRORCH_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct site_opts {
	const char *name;
	const char *datadir;
	uint64_t segment_bytes;      /* WAL segment rotation size */
	uint64_t checkpoint_bytes;   /* checkpoint after this much WAL */
};

struct site;

/* Locks the data dir, loads snapshot + WAL, starts the checkpointer. */
int site_open(struct site **out, const struct site_opts *opts, char *err, size_t errlen);
/* Stops the checkpointer, checkpoints if anything changed, closes the WAL,
 * releases the lock, frees s.  Call after the HTTP server has stopped. */
void site_close(struct site *s);

/* The HTTP handler (ctx is the struct site). */
void site_http_handler(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
