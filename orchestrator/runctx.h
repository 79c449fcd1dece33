/*
 * runctx.h — the context of the run in progress, as the cluster row keeps it
 * (prefix runctx_).
 *
 * Owns: struct run_ctx, what the actions of a run need from one state to the
 * next (the operator's target, what detection and fencing found, the
 * elected candidate, an upgrade's plan, the sites a rejoin waits for), and
 * its text form in the store.  The driver (orch.c) begins a context when a
 * row opens a run (runctx_begin) and commits it with the cluster row; an
 * action gets a copy and returns it changed (orch.h: struct act_result).
 *
 * Text form: a JSON object whose keys are the fields' names below (absent:
 * the field's default); unknown keys are ignored, so a store written by a
 * newer drorchd still loads.  A value of the wrong type is an error.
 *
 * Pure: no I/O, no clock (callers pass the time).  Unit tests:
 * tests/check_runctx.c.
 */
#ifndef DRORCH_RUNCTX_H
#define DRORCH_RUNCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The same bounds as config.h's (orch.c checks that they agree). */
#define RUNCTX_NAME_MAX 64
#define RUNCTX_MAX_SITES 8
#define RUNCTX_VERSION_MAX 16

/* An upgrade's or rollback's plan (playbooks/upgrade.c decides it). */
struct runctx_plan {
	bool set;                          /* false: the run has no plan */
	char to[RUNCTX_VERSION_MAX];       /* the version every site ends at */
	bool finalize;                     /* then FCV `to` on every site */
	bool rollback;
	char order[RUNCTX_MAX_SITES][RUNCTX_NAME_MAX];  /* swap order */
	int norder;
	char switch_to[RUNCTX_NAME_MAX];   /* the switchover's target, or "" */
};

struct run_ctx {
	/* Kept from run to run. */
	int64_t last_failover_ms;   /* wall: end of the last succeeded failover
				     * (anti-flapping), 0 none; JSON last_failover_ms */
	bool primary_unknown;       /* R02: the row's primary is not believed until
				     * a site is promoted or adopted */
	/* The run's own; runctx_begin clears them. */
	char kind[16];              /* failover | switchover | failback | upgrade |
				     * rollback | rejoin | ... ("" none) */
	char target[RUNCTX_NAME_MAX];     /* the operator's target, or "" */
	bool force;                       /* the operator overrides the RPO check */
	int64_t detected_ms;              /* wall, 0 unknown; JSON detected */
	int64_t last_good_heartbeat_ms;   /* wall, 0 unknown; JSON last_good_heartbeat */
	int64_t old_primary_lsn;          /* the old primary's last LSN as it took the fence, 0 */
	bool regressed;                   /* D10: failed over for its log, not for being down */
	char candidate[RUNCTX_NAME_MAX];  /* elected (or drained to), or "" */
	int64_t rpo_records, rpo_ms;      /* the election's figures, -1 unknown */
	bool all_replicas_follow;         /* the redirect's finding */
	char awaiting[RUNCTX_NAME_MAX];   /* upgrade: the site whose swap it waits for */
	char rejoining[RUNCTX_MAX_SITES][RUNCTX_NAME_MAX];  /* rejoin: the sites rewound */
	int nrejoining;
	struct runctx_plan upgrade;       /* JSON upgrade */
};

/* What an operator asked for when the run opens (NULL: an automatic run). */
struct runctx_request {
	const char *target;               /* or NULL */
	bool force;
	const struct runctx_plan *plan;   /* or NULL */
};

/* The empty context: no run, no clock, RPO unknown. */
void runctx_init(struct run_ctx *c);

/*
 * A run of `kind` opens: the run's fields are cleared and set from req.
 * Kept: the anti-flapping clock, a primary not believed, and for an
 * automatic run what detection found (an automatic failover's detection;
 * a switchover has none).  An operator's failover is detected when asked
 * for: both detection times are now_ms.
 */
void runctx_begin(struct run_ctx *c, const char *kind, const struct runctx_request *req,
		  int64_t now_ms);

/* Whether the run is of kind. */
bool runctx_is(const struct run_ctx *c, const char *kind);
/* Whether a site is named in rejoining; adds it (false when full). */
bool runctx_rejoining_has(const struct run_ctx *c, const char *site);
bool runctx_rejoining_add(struct run_ctx *c, const char *site);

/* Text form: parse ("" or NULL: runctx_init) 0, or -1 with err; format
 * (compact, keys sorted): malloc'd, NULL when out of memory. */
int runctx_parse(struct run_ctx *c, const char *text, char *err, size_t errlen);
char *runctx_format(const struct run_ctx *c);

/* A plan from its JSON form {to, finalize, rollback, order, switch_to}:
 * 0, or -1 with err (a missing `to`, a name too long, too many sites). */
int runctx_plan_from_json(struct runctx_plan *p, const json_t *j, char *err, size_t errlen);
/* ... and back (new reference; NULL when out of memory). */
json_t *runctx_plan_json(const struct runctx_plan *p);

#endif
