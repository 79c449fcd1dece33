/*
 * playbook.h — a DR playbook: an ordered list of steps, read from YAML.
 *
 * Owns parsing and validation only: every error names NAME:LINE:COLUMN and
 * what was expected, and nothing is half-filled (*out is written only when
 * the whole document is valid).  Running a playbook is drorchd's job
 * (orchestrator/pbrun.c).
 *
 *   name: regional-drill                # required, [A-Za-z0-9_-]{1,63}
 *   description: "..."                  # optional
 *   steps:                              # 1..PB_MAX_STEPS, each a one-key map
 *     - check: {state: STEADY, primary: us-east, replicas_streaming: true}
 *              # also not_primary: SITE (check and wait): any primary but SITE
 *     - approve: {message: "Cut us-east off?", timeout_s: 600}
 *     - wan: {between: [us-east, eu-west], latency_ms: 80, jitter_ms: 10,
 *             loss_pct: 1.5, bandwidth_kbps: 1000, partition: none}
 *     - fault: {site: us-east, slow_fsync_ms: 2000, stall_writes: false,
 *               drop_replication: false}          # or {site: X, clear: true}
 *     - failover: {to: eu-west, force: false, timeout_s: 60}
 *     - switchover: {to: eu-west, timeout_s: 60}
 *     - failback: {timeout_s: 60}
 *     - wait: {state: STEADY, primary: eu-west, timeout_s: 30}
 *     - assert: {rpo_records_max: 0, rpo_ms_max: 0, rto_ms_max: 1000}
 *     - sleep: {ms: 500}
 *     - pause: {}
 *     - resume: {}
 *     - upgrade_site: {site: eu-west, version: 0.2.0, timeout_s: 600}
 *     - finalize: {version: 0.2.0}
 *     - write_load: {writers: 2, rate: 50, gap_ms: 500}  # starts background writers
 *     - write_load: {stop: true, timeout_s: 30}   # stops them, reads every ack back
 *     - assert: {lost_max: 0, availability_min: 0.9, longest_gap_ms_max: 3000}
 *     - partition: {site: us-east}         # every link to and from the site
 *     - partition: {from: us-east, to: eu-west}   # one direction of one pair
 *     - partition: {between: [us-east, eu-west]}  # both directions
 *     - partition: {heal: true}            # every partition this run made
 *   on_failure: abort                      # default; or a list of steps run, in
 *     # order, after a step failed (e.g. [{partition: {heal: true}}]); the run
 *     # still ends failed
 *
 * A step may also carry `name: TEXT` next to its kind key (two keys then);
 * TEXT is [A-Za-z0-9_-]{1,63} and unique in the playbook.  An empty value
 * (`- pause:`) is the same as {}.  Ranges: timeout_s 1..86400, latency_ms
 * and jitter_ms 0..60000, loss_pct 0..100 (decimal), bandwidth_kbps
 * 0..10000000 (0: no cap), slow_fsync_ms 0..60000, sleep ms 0..600000
 * (required), assert bounds >= 0 (availability_min 0..1).  state is
 * syntactic only ([A-Z_]+): drorchd checks it names an FSM state.  A fault
 * step has faults or clear: true, not both.  write_load: writers 1..16
 * (default 2), rate 1..1000 writes/s per writer (default 50), gap_ms
 * 1..60000 (default 500: a longer gap between acknowledgements counts as
 * unavailable); a stop needs a load started before it, a start needs none
 * running, and the write-load bounds of an assert need a stop before it.
 * A load still running when the playbook ends is stopped and checked then.
 */
#ifndef DRORCH_PLAYBOOK_H
#define DRORCH_PLAYBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PB_MAX_STEPS 64
#define PB_NAME_MAX 64
#define PB_SITE_MAX 32

enum pb_kind {
	PB_CHECK, PB_APPROVE, PB_WAN, PB_FAULT, PB_FAILOVER, PB_SWITCHOVER, PB_FAILBACK,
	PB_WAIT, PB_ASSERT, PB_SLEEP, PB_PAUSE, PB_RESUME, PB_UPGRADE_SITE, PB_FINALIZE,
	PB_WRITE_LOAD, PB_PARTITION,
};

/* -1 in an int64_t field, "" in a string field: not given. */
struct pb_step {
	enum pb_kind kind;
	char name[PB_NAME_MAX];       /* given, else "N-KIND" (N from 1) */
	int line;                     /* 1-based line of the step in the document */
	/* check, wait */
	char state[24];
	char primary[PB_SITE_MAX];
	char not_primary[PB_SITE_MAX];
	int replicas_streaming;       /* -1, 0 or 1 */
	/* approve, wait, failover, switchover, failback: ms (defaults: approve
	 * 600000, wait 30000, the three recoveries 60000) */
	int64_t timeout_ms;
	/* approve */
	char message[256];
	/* failover, switchover (to required for switchover) */
	char to[PB_SITE_MAX];
	bool force;
	/* wan: both sites (or "drorchd") required, at least one condition */
	char a[PB_SITE_MAX], b[PB_SITE_MAX];
	int64_t latency_ms, jitter_ms, bandwidth_kbps;
	double loss_pct;              /* < 0: not given */
	char partition[16];           /* none | blackhole | reset | "" */
	/* fault: site required; at least one fault, or clear */
	char site[PB_SITE_MAX];
	int64_t slow_fsync_ms;
	int stall_writes, drop_replication;  /* -1, 0 or 1 */
	bool clear;
	/* assert: at least one bound */
	int64_t rpo_records_max, rpo_ms_max, rto_ms_max;
	int64_t lost_max, longest_gap_ms_max;
	double availability_min;      /* < 0: not given */
	/* write_load (stop: true, or a start with writers, rate, gap_ms) */
	int64_t writers, rate, gap_ms;
	bool stop;
	/* partition: site (one site from everyone), or a -> b with one_way
	 * (from/to), or a <-> b (between), or heal */
	bool one_way, heal;
	/* sleep */
	int64_t sleep_ms;
	/* upgrade_site (site and version required; timeout default 600000),
	 * finalize (version required): X.Y.Z */
	char version[16];
};

struct playbook {
	char name[PB_NAME_MAX];
	char description[256];
	struct pb_step *steps;        /* nsteps, then nrollback: playbook_free */
	int nsteps;
	int nrollback;                /* on_failure's steps, at steps[nsteps..) (0: abort) */
};

/* Parses a playbook document held in buf; `name` stands for it in errors.
 * Site names (check.primary, wait.primary, failover/switchover.to, wan
 * between, fault.site) must be among sites[0..nsites) (wan also accepts
 * "drorchd").  0, or -1 with err = "NAME:LINE:COLUMN: what was expected". */
int playbook_parse(const char *name, const char *buf, size_t len, const char *const sites[],
		   int nsites, struct playbook *out, char *err, size_t errlen);
/* The same from a file (errors name the path). */
int playbook_load(const char *path, const char *const sites[], int nsites,
		  struct playbook *out, char *err, size_t errlen);
void playbook_free(struct playbook *pb);

const char *pb_kind_name(enum pb_kind k);   /* "check", "approve", ... */
/* An assert step with bounds on a write load's figures / on a recovery's. */
bool pb_asserts_load(const struct pb_step *s);
bool pb_asserts_recovery(const struct pb_step *s);
/* A step of kind with nothing given (-1 and "" markers), as the parser
 * starts each one; for playbooks built in code. */
void pb_step_init(struct pb_step *s, enum pb_kind kind, int line);
/* The step as JSON: {"name","kind","line", and the fields given}, keyed as
 * in struct pb_step except wan's a, b as "between": [a, b]; timeout_ms
 * includes the kind's default; "force" (failover) and "clear" (fault) are
 * always present for their kind.  New reference, or NULL (out of memory). */
json_t *pb_step_json(const struct pb_step *s);

#endif
