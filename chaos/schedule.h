/*
 * schedule.h — drchaos's fault schedule, drawn from the seed alone.
 *
 * The same seed, duration, mode and class list give the same schedule: the
 * same faults, in the same order, at the same times relative to the start
 * of the fault phase, with the same parameters.  Targets are named by role
 * where the role is what matters ("@primary", "@replica#N": resolved when
 * the fault fires, the Nth replica in site order) and by name otherwise, so
 * the schedule printed before the trial is the one executed; what each
 * target resolved to is printed when it fires.
 *
 * With ha (drchaos --ha: three drorchd instances through three etcd
 * members), a fault that hits "drorchd" hits "@leader", the instance that
 * leads when it fires, and the class FC_HA may be drawn: the leader or a
 * follower killed, the leader stopped past its lease or cut off from etcd,
 * an etcd member killed, or (rarely) etcd's quorum lost for a few seconds.
 */
#ifndef DRCHAOS_SCHED_H
#define DRCHAOS_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* xoshiro256** seeded through splitmix64: small, fast, the same everywhere. */
struct rng {
	uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [lo, hi] (integers) and [lo, hi) (doubles). */
int64_t rng_range(struct rng *r, int64_t lo, int64_t hi);
double rng_real(struct rng *r, double lo, double hi);

enum fclass { FC_PROCESS, FC_NETWORK, FC_STORAGE, FC_ORCHSTORE, FC_DISK, FC_OPERATOR, FC_HA, FC_N };

/* "all": every class; the ha class only in an HA trial. */
#define SCHED_ALL_CLASSES(ha) ((ha) ? (1u << FC_N) - 1 : (1u << FC_HA) - 1)

/* The leader's lease in drchaos's HA labs (chaos-lab.yaml's ha:
 * {lease_ttl_ms}): a leader stopped past it has lost it. */
#define SCHED_HA_LEASE_MS 3000

enum fkind {
	/* process */
	FK_KILL_SITE, FK_KILL_ORCH, FK_STOP_SITE, FK_MIDOP,
	/* network */
	FK_PART_ORCH, FK_PART_SITES, FK_ISOLATE, FK_WAN, FK_LATE, FK_DROP_REPL,
	/* storage (a stopped site) */
	FK_WAL_FLIP, FK_WAL_TRUNC, FK_WAL_DELETE, FK_SNAP_DAMAGE, FK_SNAP_EMPTY, FK_SNAP_MISSING,
	FK_STATE_DELETE, FK_STATE_DAMAGE, FK_LOCK_DAMAGE,
	/* orchstore (a stopped drorchd) */
	FK_DB_WAL_DELETE, FK_DB_SHM_DELETE, FK_DB_PAGE,
	/* disk (a live site) */
	FK_SLOW_FSYNC, FK_DISK_FULL, FK_STALL_WRITES,
	/* operator */
	FK_OP_FAILOVER, FK_OP_SWITCHOVER, FK_OP_FAILBACK, FK_OP_PAUSE, FK_OP_RESUME, FK_OP_ACK,
	FK_OP_APPROVE, FK_OP_UPGRADE, FK_OP_POLICY,
	/* ha (an HA lab's drorchd instances and etcd members) */
	FK_HA_KILL_LEADER, FK_HA_KILL_FOLLOWER, FK_HA_STOP_LEADER, FK_HA_CUT_LEADER, FK_HA_KILL_ETCD,
	FK_HA_LOSE_QUORUM, FK_HA_CUT_LEADER_PARTLY,
	FK_N
};

/* Who a fault hits.  SITE_n is the nth site of the lab (0..2).  With ha:
 * T_LEADER the instance that leads (instead of T_ORCH), T_FOLLOWER the
 * pick-th other instance, T_ETCD etcd member pick + 1. */
enum target { T_NONE, T_ORCH, T_PRIMARY, T_REPLICA, T_SITE0, T_SITE1, T_SITE2, T_LEADER,
	      T_FOLLOWER, T_ETCD };

/* What a mid-operation kill interrupts, and an operator failover's target. */
enum midop { MO_FAILOVER, MO_SWITCHOVER, MO_FAILBACK, MO_UPGRADE, MO_N };
enum victim { V_ORCH, V_PRIMARY, V_TARGET, V_N };
enum fo_to { TO_NONE, TO_PRIMARY, TO_DOWN, TO_REPLICA, TO_N };

struct fault {
	int index;                 /* 1, 2, ... in schedule order */
	double at_s;               /* from the start of the fault phase */
	double dur_s;              /* how long it lasts (0: instantaneous) */
	enum fkind kind;
	enum target target;
	int pick;                  /* which replica (T_REPLICA), follower, etcd member
				    * (the one left running when quorum is lost)... */
	int peer;                  /* the other end of a site-site link (T_SITE*) */
	char partition[12];        /* blackhole | reset */
	char direction[12];        /* both | upstream | downstream */
	int latency_ms, jitter_ms;
	double loss_pct;
	int segment;               /* 0 first, 1 middle, 2 last */
	uint32_t frac;             /* where in a file: frac / 2^32 of its size */
	int delay_ms;              /* mid-operation: the kill's delay */
	int op;                    /* enum midop, enum fo_to, or a policy variant */
	int victim;                /* enum victim */
	int slow_ms;
};

struct schedule {
	int n;
	struct fault *faults;      /* sorted by at_s */
	int per_class[FC_N];
	char rewind_crash[24];     /* DRORCH_TEST_REWIND_CRASH for the lab, or "" */
};

/* The class list ("process,network,...", or "all") as a mask; -1 if bad.
 * The ha class only when ha (an HA trial); "all" includes it then. */
int sched_parse_classes(const char *list, bool ha, unsigned *mask, char *err, size_t errlen);
const char *sched_class_name(enum fclass c);
enum fclass sched_class_of(enum fkind k);
const char *sched_kind_name(enum fkind k);

/* Draws the schedule (ha: for an HA trial); 0, or -1 out of memory.
 * sched_free releases it. */
int sched_make(uint64_t seed, double duration_s, bool async, bool ha, unsigned classes,
	       struct schedule *out);
void sched_free(struct schedule *s);
/* One line describing f (no newline), site names from names[3]. */
void sched_describe(const struct fault *f, const char *const names[3], char *out, size_t len);
void sched_print(FILE *f, const struct schedule *s, const char *const names[3]);

#define POLICY_VARIANTS 7

#endif
