/*
 * policy.h — what drorchd enforces: the replication mode, the RPO and RTO
 * targets, detection and the automatic failover (prefix policy_).
 *
 * Owns the policy's schema (every key, its default and its bounds:
 * docs/policy.md), its loader (a YAML file, or a document in memory: YAML,
 * or the JSON GET /v1/policy prints), durations with units, and the checks
 * of a policy against the cluster it will govern.  A bad policy is refused
 * whole with "FILE:LINE:COLUMN: what was expected" and *out is left as it
 * was: nothing is applied half-way.  Pure: no I/O but reading the file.
 * Unit tests: tests/check_policy.c, which also loads policies/examples/.
 *
 *   name: default
 *   replication: {mode: sync, quorum: 1, degrade_to_async: false}
 *   rpo: {max_ms: 5s, max_records: 0}   # automatic failover refused beyond
 *   rto_ms: 1s
 *   prefer: rpo                         # rto: past the RTO budget, elect beyond the RPO (async only)
 *   detection: {heartbeat_ms: 100ms, misses: 3, canary_ms: 1s, lease_ms: 0}
 *   failover: {automatic: true, anti_flap_s: 30s, candidates: [eu-west, ap-south]}
 *   switchover: {max_pause_ms: 20s}     # writes paused at most this long, then it aborts
 *
 * A duration is a number in the key's unit (rto_ms: 1000, anti_flap_s: 30)
 * or a string with its unit: "250ms", "5s", "2m", "1h".
 */
#ifndef DRORCH_POLICY_H
#define DRORCH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define POLICY_NAME_MAX 64
#define POLICY_MAX_SITES 8
/* switchover.max_pause_ms's bound: the SWITCHOVER state's own deadline
 * (fsm/dr.fsm.yaml; tests/check_policy.c holds them equal). */
#define POLICY_MAX_PAUSE_MS 20000

struct policy {
	char name[POLICY_NAME_MAX];
	char mode[16];                /* async | sync | remote_apply */
	uint64_t quorum;
	bool degrade_to_async;        /* no replica left: ack async rather than refuse */
	uint64_t rpo_ms;              /* automatic failover refused beyond this lag */
	uint64_t rpo_records;         /* ... or beyond this many records (0 = no limit) */
	uint64_t rto_ms;              /* target: the election waits for an unheard site
				       * only within it; every run is measured against it */
	char prefer[4];               /* rpo | rto: when no candidate is within the RPO
				       * once the RTO budget is spent, refuse (rpo) or
				       * elect the best beyond it (rto: async mode only) */
	uint64_t heartbeat_ms;
	uint64_t misses;
	uint64_t canary_ms;           /* a canary write slower than this is failing */
	uint64_t lease_ms;            /* the primary's write lease drorchd asks for;
				       * 0: the detection window (policy_lease_ms) */
	bool automatic;
	uint64_t anti_flap_s;
	char candidates[POLICY_MAX_SITES][POLICY_NAME_MAX];
	int ncandidates;
	uint64_t max_pause_ms;        /* switchover, failback: the longest the primary's
				       * writes stay paused for the target to catch up;
				       * past it the switchover aborts, writes resume */
};

/* The cluster a policy will govern: its sites' names (nsites 0: no
 * cluster checks, as for a policy file read on its own). */
struct policy_cluster {
	const char *sites[POLICY_MAX_SITES];
	int nsites;
};

/* The built-in default: sync quorum 1, RPO 5 s, RTO 1 s, prefer rpo,
 * heartbeat 100 ms x 3, canary 1 s, automatic, anti-flapping 30 s, a
 * switchover's pause at most 20 s. */
void policy_default(struct policy *p);

/*
 * A policy document on top of the built-in default, checked against cl (may
 * be NULL): quorum within the cluster's replicas, a quorum only where the
 * mode waits for replicas, degrade_to_async only where there is something to
 * degrade, prefer: rto only in async mode (a sync mode's acknowledged write
 * must never be lost), candidates that are sites (each once).  name stands for the
 * document in errors.  0, or -1 with "NAME:LINE:COLUMN: ..." in err.
 */
int policy_parse(const char *name, const char *buf, size_t len, const struct policy_cluster *cl,
		 struct policy *out, char *err, size_t errlen);
/* The same from a file. */
int policy_load(const char *path, const struct policy_cluster *cl, struct policy *out,
		char *err, size_t errlen);

/* The write lease drorchd asks the sites for (each caps it at its own
 * --lease-ms): lease_ms, or heartbeat_ms x misses when that is 0, so a
 * primary cut off from drorchd stops taking writes about when drorchd
 * would declare it dead, and a failover waits no longer than detection. */
uint64_t policy_lease_ms(const struct policy *p);

/* The policy as JSON, in the shape of the policy file (durations as
 * numbers in their keys' units); NULL when out of memory. */
json_t *policy_json(const struct policy *p);

/* A duration: a whole number of unit_ms ("30"), or a number with a unit
 * ("250ms", "5s", "2m", "1h") that is a whole number of unit_ms.  Into
 * *out, in unit_ms.  0, or -1 (with why) on anything else or overflow. */
int policy_duration(const char *text, uint64_t unit_ms, uint64_t *out, const char **why);

/* What differs between two policies as JSON (policy_json's shape): one
 * line per leaf, "KEY.PATH: OLD -> NEW\n", in key order; "" when they are
 * the same.  malloc'd; NULL when out of memory. */
char *policy_diff(const json_t *from, const json_t *to);

#endif
