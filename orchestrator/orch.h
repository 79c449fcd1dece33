/*
 * orch.h — drorchd's core: the cluster as the orchestrator sees it, the FSM
 * driver and its actions, the health monitor.
 *
 * Owns: the in-memory view of every site (filled by one monitor thread per
 * site), the driver thread that turns health into FSM events, commits each
 * transition to the store (compare-and-set) BEFORE running its action, and
 * runs the actions (confirm, fence, elect, promote, redirect; drain and
 * reopen for a switchover), and the queue
 * of operator requests.  orch->mu guards views, the cached cluster row and
 * the queue; no I/O happens under it.
 *
 * Files: orch.c (lifecycle, driver, transitions, recording what actions
 * did), actions.c (the failover actions), upgrading.c and rejoin.c (the
 * upgrade's and the rejoin's), monitor.c (polling sites), siteapi.c (HTTP
 * calls to sites), runctx.c (the run's context), transition.c (the run
 * lifecycle: what a row does to the cluster row, pure).
 */
#ifndef DRORCH_ORCH_H
#define DRORCH_ORCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "fsm.h"
#include "httpc.h"
#include "store.h"

/* Lease renewers per site (monitor.c): they take turns heartbeating the
 * primary, each on a connection of its own. */
#define ORCH_RENEWERS 2

struct ha;
struct orch_metrics;
struct webhooks;

/* The largest round trips of two consecutive periods (decide_rtt_note). */
struct rtt_window {
	uint64_t started_ms;   /* when the current period started */
	uint64_t cur, prev;    /* the largest sample of it and of the one before */
};

/* What the monitor last saw of one site. */
struct site_view {
	bool polled;               /* polled at least once since drorchd started */
	bool reachable;            /* the last poll answered */
	uint64_t last_ok_ms;       /* monotonic: last answered poll */
	uint64_t asked_ms;         /* monotonic: when that poll was sent (its
				    * answer shows the site as it was then or later) */
	uint64_t last_hb_ok_ms;    /* monotonic: last accepted heartbeat (primary) */
	char role[16];             /* primary | replica | fenced | standalone | "" */
	int64_t epoch;
	int64_t lsn, flushed_lsn, applied_lsn;
	bool confirmed, writable;
	bool writes_paused;        /* a primary told to pause writes (switchover) */
	char mode[16];             /* how it acknowledges writes, as it reports ... */
	int64_t quorum;            /* ... with how many replicas */
	int64_t lease_ms;          /* its write lease in force, as it reports ... */
	int64_t lease_max_ms;      /* ... and its --lease-ms (0: not reported) */
	uint64_t lease_asked_ms;   /* the longest lease a role command of drorchd
				    * asked it for at lease_asked_epoch: with
				    * lease_ms, its lease there cannot be longer */
	int64_t lease_asked_epoch;
	int64_t lease_conf_epoch;  /* a role answer at this epoch showed a command
				    * of drorchd's setting its lease (decide_lease_bound) */
	struct rtt_window rtt;     /* its status polls' round trips */
	char version[16];
	char fcv[16];              /* the site's feature-compatibility version */
	int format;                /* the WAL/wire format it writes (1 or 2) */
	bool lag_exact;            /* replica: lag_ms from commit times (format 2) */
	char repl_state[16];       /* replica: streaming | disconnected | ... */
	char repl_primary[CONFIG_URL_MAX];
	int64_t contact_ago_ms;    /* replica: ms since it last heard its primary */
	uint64_t contact_seen_ms;  /* monotonic time that figure was read */
	int64_t lag_ms, lag_records;
	int64_t diverged_lsn;      /* replica: where its primary refused its log, or 0 */
	int canary_failures;       /* consecutive slow or failed canary writes */
	int64_t canary_ms;         /* the last canary write's latency, -1 none or failed */
	bool wal_failed;           /* its WAL can no longer make writes durable */
	int64_t behind_need_lsn;   /* it lacks records through this LSN (0: none) */
	bool behind_need_unknown;  /* ... a marker only: it lacks what it cannot tell
				    * (its need_known false), no evidence of records */
	int64_t behind_epoch;      /* ... of this epoch */
	int64_t primary_epoch;     /* the newest epoch it was seen primary at ... */
	int64_t primary_high;      /* ... and the highest flushed LSN it showed then:
				    * a restart showing less lost acknowledged records */
	int64_t last_commit_ms;    /* commit time of its last record (format 2; 0 unknown) */
	int64_t primary_high_commit_ms; /* the newest commit time it showed as primary */
	bool primary_writable;     /* replica: its primary's last answer said writable */
	int lease_replicas;        /* replicas that renew its lease, as it reports */
	json_t *last_rewind;       /* its last rewind as it reports it, or NULL (owned) */
	char last_rewind_path[1024];  /* ... its quarantine file */
	char rewind_noted[1024];      /* the last one checked against the audit */
	char lease_nonce[64];      /* its newest lease nonce (admin.c: LEASE NONCES) */
	uint64_t nonce_rx_ms;      /* monotonic: when drorchd received that nonce */
	uint64_t nonce_used_rx_ms; /* the receipt time of the newest nonce drorchd
				    * sent it in a command: its lease from drorchd
				    * cannot outlast this + its lease_ms */
	uint64_t role_sent_ms;     /* last reconcile command sent (rate limit) */
	uint64_t rewind_sent_ms;   /* last rewind command sent (rate limit) */
};

/* An operator request waiting for the driver. */
struct op_request {
	enum fsm_event event;
	char actor[96];
	char target[CONFIG_NAME_MAX];  /* failover --to, or "" */
	bool force;                    /* skip the RPO check */
	char kind[16];                 /* OP_SWITCHOVER: switchover | failback */
	struct runctx_plan plan;       /* OP_UPGRADE: the plan (orch_upgrade) */
	bool pending;
};

/* A policy once in force: kept until orch_stop, so a reader's pointer
 * stays valid however often the policy is replaced. */
struct policy_node {
	struct policy p;
	struct policy_node *next;
};

struct orch {
	struct config cfg;
	const struct policy *policy;    /* in force; atomic (orch_policy) */
	struct policy_node *policies;   /* every one put in force (under mu) */
	char policy_source[8];          /* file | default | api (under mu) */
	struct store *store;
	char site_token[512];

	pthread_mutex_t mu;
	pthread_cond_t wake;
	bool stopping;
	struct store_cluster cluster;   /* cached copy of the store's row */
	uint64_t state_entered_ms;      /* monotonic */
	/* Each state's timeout: the spec's, or a test's shorter one
	 * (DRORCH_TEST_TIMEOUT_MS, see orch.c); 0 for a resting state. */
	unsigned state_timeout_ms[FSM_NSTATES];
	struct site_view views[CONFIG_MAX_SITES];
	struct op_request op;
	/* Health hysteresis: a health verdict becomes an event only once it has
	 * held for the detection window (no transition per flapping tick). */
	int health_seen;                /* the last verdict (event), or -1 */
	uint64_t health_since_ms;       /* monotonic: since when it holds */
	/* The sites' newest epoch (decide_sites_epoch), under mu: a fence
	 * never issues an epoch at or below it, even if the store lost one. */
	int64_t sites_epoch;
	int sites_primary;              /* index of the site primary at it, or -1 */
	/* The store's history check at start (store_head_status): epochs up to
	 * epoch_floor may have been issued; history_lost says what was lost
	 * ("" when the store was at its head file). */
	int64_t epoch_floor;
	/* When an operator last acknowledged a failover run (wall ms, 0 never):
	 * the anti-flapping guard's reading, from the store at start, then
	 * from orch_ack_run. */
	_Atomic int64_t ack_ms;
	char history_lost[512];

	pthread_t driver;
	pthread_t monitors[CONFIG_MAX_SITES * (1 + ORCH_RENEWERS)];  /* per site: a poller
					  * and its lease renewers (monitor.c) */
	int nmonitors;

	struct ha *ha;                  /* high availability (ha.h), or NULL: one instance */
	struct orch_metrics *metrics;   /* counters and histograms (metrics.c) */
	struct webhooks *webhooks;      /* transition webhooks (webhook.c) */
	/* The driver thread's kept client per site (fanout.c), or NULL. */
	struct httpc *act_clients[CONFIG_MAX_SITES];
};

int orch_start(struct orch **out, const struct config *cfg, char *err, size_t errlen);
void orch_stop(struct orch *o);

/* Operator entry point: checks the FSM table now (REJECT -> 409 with the
 * row's reason) and queues the event for the driver.  0 queued, 409
 * rejected, 503 another request is queued. */
int orch_request(struct orch *o, enum fsm_event ev, const char *actor, const char *target,
		 bool force, char *why, size_t whylen);

/* A planned switchover to `target`, or (target NULL) a failback: back to
 * the site the last successful failover or switchover took the primary
 * role from.  The
 * target must be a replica streaming from the primary at the cluster's
 * epoch.  As orch_request, plus 409 for a target that cannot take over
 * now (with why) and for a failback with nothing to fail back to. */
int orch_switchover(struct orch *o, const char *actor, const char *target, char *why,
		    size_t whylen);

/*
 * A rolling upgrade (or rollback) by the state machine: plan is
 * {"to": VERSION, "finalize": bool, "rollback": bool, "order": [SITE...],
 * "switch_to": SITE} (playbooks/upgrade.c decides it).  Queued as
 * OP_UPGRADE; waits up to 5 s for the driver to open its run.  0 with
 * *run_id, 409 refused (why), 503 busy or not started in time.
 */
int orch_upgrade(struct orch *o, const char *actor, json_t *plan, int64_t *run_id, char *why,
		 size_t whylen);

/* The current state's deadline (monotonic ms): entered + its timeout, less
 * a 100 ms margin. */
uint64_t orch_state_deadline(struct orch *o);

/* Whether site i, heard within the detection window, is a replica
 * streaming at the cluster's epoch.  Under o->mu. */
bool orch_streams_locked(struct orch *o, int i);

/*
 * What an action did, for the driver to record.  An action reads the views
 * and its run's context (ctx, a copy of the cluster row's) and talks to the
 * sites; it never writes the cluster row or the run itself
 * (pg_auto_failover's shape: table and driver -> action -> result -> state,
 * one way).  The driver commits ctx when the action changed it, then the
 * steps, marks and run-detail keys, before it feeds the event the action
 * returned.
 */
#define ORCH_RESULT_NOTES 8
struct act_step {
	char name[24];
	char status[12];           /* ok | failed | skipped */
	json_t *detail;            /* owned, or NULL */
};
struct act_mark {
	char name[24];             /* a run timestamp: detected, decided, promoted, ... */
	int64_t wall_ms;
};
struct act_result {
	struct run_ctx ctx;        /* in: the cluster row's; out: as the action leaves it */
	struct act_step steps[ORCH_RESULT_NOTES];
	int nsteps;
	struct act_mark marks[ORCH_RESULT_NOTES];
	int nmarks;
	json_t *run_detail;        /* keys to set in the run's detail (JSON null: remove) */
};
/* Notes a step (detail stolen), a timestamp, a key of the run's detail
 * (value stolen; NULL removes the key).  Past ORCH_RESULT_NOTES, logged
 * and dropped. */
void orch_result_step(struct act_result *r, const char *name, const char *status,
		      json_t *detail);
void orch_result_mark(struct act_result *r, const char *name, int64_t wall_ms);
void orch_result_detail(struct act_result *r, const char *key, json_t *value);

/* The upgrade states' actions and tick (upgrading.c). */
int orch_act_swap(struct orch *o, struct act_result *r);
int orch_act_finalize(struct orch *o, struct act_result *r);
/* One round of the finalize: every site must run at least `to`; each is
 * told fcv `to` at the cluster's epoch, its answer in report[name], until
 * one refuses.  NULL, or why not (into why).  FINALIZING's action retries
 * it to the state's deadline; a playbook's finalize step runs it once. */
const char *orch_finalize_round(struct orch *o, struct httpc *h, const char *to, json_t *report,
				char *why, size_t len);
/* SITE_SWAPPED once the site the swap waits for runs its new binary and
 * streams at the cluster's epoch, else -1.  Under o->mu. */
int orch_upgrade_event_locked(struct orch *o);

/* An operator acknowledges a failover run with a comment: recorded as a
 * step of the run, and the anti-flapping window no longer holds back the
 * next automatic failover.  0, 404 (no such run) or 409 (not a failover
 * that ended). */
int orch_ack_run(struct orch *o, int64_t run_id, const char *actor, const char *comment,
		 char *why, size_t whylen);

/* The policy in force (never NULL; valid until orch_stop). */
const struct policy *orch_policy(const struct orch *o);
/* Puts p in force: recorded in the store first (a restarted drorchd
 * enforces it), then published as coming from source (orch_policy_source:
 * "api", or "file" for a SIGHUP reload); the primary gets the new mode and
 * quorum.
 * 0, or -1 with err (nothing changed). */
int orch_set_policy(struct orch *o, const struct policy *p, const char *actor,
		    const char *source, char *err, size_t errlen);
/* Where the policy in force came from: "file", "default" or "api". */
const char *orch_policy_source(struct orch *o);

/* The FSM state now. */
enum fsm_state orch_state(struct orch *o);

/* Whether this drorchd may act on the sites: a single instance always; with
 * HA (ha.h) only the leader, while its lease holds. */
bool orch_may_act(struct orch *o);
/* A client for commands to the sites (and drlink): with HA, a request is
 * not sent, or is cut short, once this drorchd may not act (httpc's give
 * up), and each command carries X-Drorch-Term, this instance's term as it
 * leaves (ha_term).  NULL when out of memory; the caller frees it
 * (httpc_free). */
struct httpc *orch_site_client(struct orch *o);
/* A client for the status polls, which every instance sends: with HA, a
 * poll that carries the site token also carries X-Drorch-Term while this
 * instance leads (a follower's carry none), so each site learns a new
 * leader's term within a heartbeat of its takeover, also one that no
 * command reaches.  Never gives up.  NULL when out of memory. */
struct httpc *orch_poll_client(struct orch *o);

/* The FSM state's name into state[len]; whether the state accepts command
 * c (the spec's `commands`: fsm_state_accepts). */
bool orch_accepts(struct orch *o, enum fsm_command c, char *state, size_t len);

/* /v1/status body. */
json_t *orch_status_json(struct orch *o);

/* ---- internals shared by orch.c, actions.c, monitor.c ---- */

/* Index of a site in cfg.sites, or -1. */
int orch_site_index(const struct orch *o, const char *name);
bool orch_stopping(struct orch *o);
/* Runs one action (actions.c) into r; returns the event it produced, or
 * -1 for none. */
int orch_run_action(struct orch *o, enum fsm_action a, struct act_result *r);
/* A copy of the cluster row's run context. */
void orch_ctx(struct orch *o, struct run_ctx *out);
/* The detection window: heartbeat_ms x misses (also drorchd's request timeout). */
uint64_t orch_window_ms(const struct orch *o);
/* The role command that puts site i in its place under `primary` at epoch,
 * with site i's newest lease nonce (so it renews the lease as of then). */
json_t *orch_role_body(struct orch *o, int i, const char *primary, int64_t epoch);
/* Adds site i's newest lease nonce to body as "lease_nonce" (if drorchd has
 * one) and notes that it was sent: the lease drorchd grants site i cannot
 * outlast nonce_used_rx_ms + lease_ms.  Returns body. */
json_t *orch_with_nonce(struct orch *o, int i, json_t *body);
/* orch_with_nonce, under o->mu. */
json_t *orch_with_nonce_locked(struct orch *o, int i, json_t *body);
/* Keeps the lease nonce of an admin answer of site i (may be NULL) as its
 * newest: it is fresher than the last status poll's.  A role answer also
 * tells that our command set its lease (lease_conf_epoch). */
void orch_note_nonce(struct orch *o, int i, json_t *answer);
/* Keeps nonce (may be NULL) as v's newest, received at now; a nonce of
 * another start of the site forgets that our command set its lease.
 * Under o->mu. */
void orch_view_nonce_locked(struct site_view *v, const char *nonce, uint64_t now);

/* The FSM state of the cached cluster row.  Under o->mu. */
enum fsm_state orch_state_locked(struct orch *o);
/* The newest of the last 100 runs whose kind is one of kinds (NULL-ended)
 * and, when outcome is not NULL, whose outcome it is; new ref or NULL. */
json_t *orch_newest_run(struct orch *o, const char *const kinds[], const char *outcome);

/* ---- rejoin.c: the driver keeps sites in their roles ---- */
/* Sends site i a role command (body stolen); logs a refusal. */
void orch_send_role(struct orch *o, int i, json_t *body);
/* Tells every reachable site out of its role its role (at most once a
 * second each), unless it is a primary whose log regressed. */
void orch_reconcile(struct orch *o);
/* REJOINING (fsm/dr.fsm.yaml): SITE_DIVERGED when a replica at the
 * cluster's epoch was refused by its confirmed primary as diverged, else
 * -1 (under mu); the rejoin action rewinds every such replica; REJOINED once
 * every site it rewound streams again, else -1 (under mu). */
int orch_diverged_event_locked(struct orch *o);
int orch_act_rejoin(struct orch *o, struct act_result *r);
int orch_rejoin_event_locked(struct orch *o);
/* Records in the audit every rewind a site reports that it does not name
 * yet (its answer was lost). */
void orch_note_rewinds(struct orch *o);

/* Holistic detection of primary p now (decide_judge over the views):
 * one of decide.h's enum verdict.  Under o->mu. */
int orch_judge_locked(struct orch *o, int p, uint64_t now);
/* decide_regressed for primary p at the cluster's epoch, with the links
 * by which each site reaches p.  Under mu. */
bool orch_regressed_locked(struct orch *o, int p, int64_t *need_lsn);

int monitor_start(struct orch *o, char *err, size_t errlen);

#endif
