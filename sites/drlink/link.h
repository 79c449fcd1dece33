/*
 * link.h — drlink's proxy engine: a simulated WAN made of directed links.
 *
 * A link is one TCP listener ("listen") forwarding every accepted connection
 * to one upstream address.  Bytes flowing client→upstream travel the link's
 * "upstream" direction, upstream→client the "downstream" direction; each
 * direction has its own conditions (one-way latency and jitter, loss modelled
 * as retransmission delay, a token-bucket bandwidth cap, a partition).  The
 * model is written down in docs/drlink.md and at the top of link.c.
 *
 * Owns: the link table, every listening and proxied socket, every queued
 * byte, the timers and the epoll loop that moves the bytes.  All of it is
 * touched by one thread only, the one inside link_engine_run().
 *
 * Threading: link_add(), link_remove(), link_set_conditions(), link_get()
 * and link_list() may be called from any thread (drlink's admin API runs on
 * libmicrohttpd's threads).  Each posts a command to the engine under a
 * mutex, wakes the loop through an eventfd and waits until the loop has
 * carried it out, so when a call returns its effect is in force (a removed
 * link's port is free, a reset link's connections are closed).
 *
 * Errors: functions return LINK_OK (0) or a negative enum link_error, with a
 * message naming the link or field in err[].
 */
#ifndef DRORCH_LINK_H
#define DRORCH_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "histo.h"

struct link_engine;

enum link_error {
	LINK_OK = 0,
	LINK_ERR_INVALID = -1,     /* bad argument: err names the field */
	LINK_ERR_NOT_FOUND = -2,   /* no link of that name */
	LINK_ERR_EXISTS = -3,      /* a link of that name exists */
	LINK_ERR_ADDR_IN_USE = -4, /* the listen address is taken */
	LINK_ERR_SYSTEM = -5,      /* socket/epoll/memory failure */
	LINK_ERR_STOPPED = -6,     /* the engine is not running any more */
};

enum link_partition {
	LINK_PARTITION_NONE = 0,
	LINK_PARTITION_BLACKHOLE,  /* data held, new connections hang */
	LINK_PARTITION_RESET,      /* connections reset, new ones too */
};

/* Direction indexes, and the bits of link_cond_update.directions. */
enum link_dir { LINK_UPSTREAM = 0, LINK_DOWNSTREAM = 1 };
#define LINK_DIR_BIT(d) (1u << (d))
#define LINK_DIRS_BOTH (LINK_DIR_BIT(LINK_UPSTREAM) | LINK_DIR_BIT(LINK_DOWNSTREAM))

/* Conditions of one direction of one link.  All zero: a plain proxy. */
struct link_conditions {
	uint32_t latency_ms;       /* one-way propagation delay */
	uint32_t jitter_ms;        /* each chunk's delay varies by ±jitter */
	double loss_pct;           /* chunks that need a retransmission, 0..100 */
	uint64_t bandwidth_kbps;   /* 1000 bits/s units; 0 = no cap */
	enum link_partition partition;
};

/* Limits of the condition values (inclusive). */
#define LINK_MAX_LATENCY_MS 600000u
#define LINK_MAX_BANDWIDTH_KBPS 100000000u

/* A partial change: only the fields whose LINK_SET_* bit is set are applied,
 * to each direction in `directions`; the others keep their value. */
enum link_cond_field {
	LINK_SET_LATENCY = 1u << 0,
	LINK_SET_JITTER = 1u << 1,
	LINK_SET_LOSS = 1u << 2,
	LINK_SET_BANDWIDTH = 1u << 3,
	LINK_SET_PARTITION = 1u << 4,
};

struct link_cond_update {
	unsigned fields;           /* LINK_SET_* bits */
	unsigned directions;       /* LINK_DIR_BIT() bits; 0 means both */
	struct link_conditions values;
};

struct link_engine_opts {
	/* Per connection and direction, bytes read but not yet delivered; at
	 * this bound the engine stops reading from the source.  0: default. */
	size_t queue_bytes;
	uint64_t seed;             /* jitter/loss randomness; 0: from the clock */
};

#define LINK_DEFAULT_QUEUE_BYTES (256u * 1024u)
#define LINK_NAME_MAX 64

/* ---- engine lifecycle ---------------------------------------------------- */

int link_engine_new(struct link_engine **out, const struct link_engine_opts *opts,
		    char *err, size_t errlen);
/* Runs the event loop on the calling thread until link_engine_stop(). */
int link_engine_run(struct link_engine *e, char *err, size_t errlen);
/* Asks the loop to return; safe from any thread (not a signal handler). */
void link_engine_stop(struct link_engine *e);
/* Closes every link and connection; call after link_engine_run() returned
 * (or if it never ran).  NULL is fine. */
void link_engine_free(struct link_engine *e);

/* ---- links (any thread) -------------------------------------------------- */

/*
 * Creates link `name` listening on listen ("HOST:PORT", port 0 picks one)
 * and forwarding to upstream ("HOST:PORT").  Starts with zero conditions.
 * On success *out (if not NULL) receives the link as link_get() shows it.
 */
int link_add(struct link_engine *e, const char *name, const char *listen,
	     const char *upstream, json_t **out, char *err, size_t errlen);
/* Closes the listener and every connection of the link. */
int link_remove(struct link_engine *e, const char *name, char *err, size_t errlen);
/* Applies u; established connections survive unless a direction is reset. */
int link_set_conditions(struct link_engine *e, const char *name,
			const struct link_cond_update *u, json_t **out,
			char *err, size_t errlen);
/* {"name","listen","upstream","connections","conditions":{"upstream":{},
 *  "downstream":{}},"bytes":{"upstream":N,"downstream":N} (read so far),
 *  "queued":{"upstream":N,"downstream":N} (read, not yet delivered)};
 * caller decrefs. */
int link_get(struct link_engine *e, const char *name, json_t **out,
	     char *err, size_t errlen);
/* An array of link_get() objects in creation order; caller decrefs. */
int link_list(struct link_engine *e, json_t **out, char *err, size_t errlen);

/* What a link has done since it was added, per direction (LINK_UPSTREAM,
 * LINK_DOWNSTREAM): what /metrics exports. */
struct link_stats {
	char name[LINK_NAME_MAX + 1];
	size_t connections;        /* open now */
	uint64_t connections_total;/* accepted */
	struct {
		uint64_t bytes_read;   /* from the source */
		uint64_t bytes_sent;   /* delivered to the destination */
		uint64_t queued;       /* read, not yet delivered (now) */
		uint64_t chunks;       /* recv(2)s, each given a due time */
		uint64_t chunks_lost;  /* chunks that drew at least one loss */
		struct histo_snapshot delay;  /* each chunk's emulated delay */
		struct link_conditions cond;
	} dir[2];
};

/* Every link's stats in creation order into *out (caller frees), their
 * count into *n. */
int link_stats_all(struct link_engine *e, struct link_stats **out, size_t *n,
		   char *err, size_t errlen);

/* ---- parsing helpers shared by the REST API and the config loader -------- */

/* Each returns 0, or -1 with a message naming the field in err[]. */
int link_partition_parse(const char *s, enum link_partition *out, char *err, size_t errlen);
int link_direction_parse(const char *s, unsigned *dirs, char *err, size_t errlen);
int link_cond_update_check(const struct link_cond_update *u, char *err, size_t errlen);
int link_name_check(const char *name, char *err, size_t errlen);
const char *link_partition_name(enum link_partition p);

#endif
