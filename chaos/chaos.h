/*
 * chaos.h — one drchaos trial: the lab, the load and its recorder, the
 * faults, and the checks, sharing one struct trial.
 *
 * The story of a trial (drchaos.c): draw the schedule from the seed, bring
 * up a private lab (lab.h), start the load, fire the faults at their times
 * (faults.c), heal everything and wait for STEADY, stop the load, let
 * replication settle, then judge what the recorder saw (check.c).
 *
 * Threads: the main thread runs the lab and the faults (every lab.h call is
 * made from it); load.c runs the writers, the probers and the monitor.  A
 * writer owns its record buffer until the load has stopped.  What several
 * threads read (the cluster as the monitor last saw it, the runs seen) is
 * under trial.mu.
 *
 * With --ha the lab runs drorchd-1..3 through etcd-1..3 (lab.h).  Every
 * thread reaches drorchd through orchs.c: reads from any instance that
 * answers (followers serve them from their copies), the one believed to
 * lead first; requests that change something to that one, a follower's 307
 * followed (chttp.h).  A fault on "drorchd" hits the instance that leads
 * when it fires.
 */
#ifndef DRCHAOS_CHAOS_H
#define DRCHAOS_CHAOS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lab.h"
#include "chttp.h"
#include "schedule.h"

#define CHAOS_SITES 3
/* The drsite version a lab whose schedule upgrades starts on (its program
 * drsite-0.1.0); the upgrade goes to the plain drsite (DRSITE_VERSION). */
#define CHAOS_OLD_DRSITE "0.1.0"
#define CHAOS_FOLLOWERS 4                      /* writers that follow the primary */
#define CHAOS_PINNED CHAOS_FOLLOWERS           /* the writer pinned to the first primary */
#define CHAOS_PROBE0 (CHAOS_PINNED + 1)        /* one prober per site */
#define CHAOS_WRITERS (CHAOS_PROBE0 + CHAOS_SITES)
#define CHAOS_OVERWRITE_BASE 0x40000000u       /* key numbers of a writer's overwritten set */

/* ---- the recorder ----------------------------------------------------------------- */

/* One answer (or its absence) to one PUT. */
struct rec {
	int64_t t0_ns, t1_ns;      /* request start and end, monotonic, from trial start */
	int64_t lsn, epoch;        /* from a 200 body {"lsn":N,"epoch":E}; -1 otherwise */
	uint64_t seq;              /* the write's number within its writer: its value names it */
	uint64_t digest;           /* FNV-1a 64 of the value */
	uint32_t key;              /* key number within its writer */
	int16_t status;            /* HTTP status; 0 when there was no answer */
	int8_t site;               /* index in lab->sites */
	uint8_t writer;
};

struct recbuf {
	struct rec *v;
	size_t n, cap;
	uint64_t next_seq;
};

/* "c<writer>-<n>" or "c<writer>-o<k>"; value "<writer>.<seq>.<padding>". */
void chaos_key_text(unsigned writer, uint32_t key, char *out, size_t len);
size_t chaos_value_text(unsigned writer, uint64_t seq, char *out, size_t len);
/* Parses a value written by chaos_value_text; false if it is not one. */
bool chaos_value_parse(const char *v, size_t len, unsigned *writer, uint64_t *seq);
uint64_t chaos_digest(const void *data, size_t len);

/* ---- what an operator asked, and the answer ---------------------------------------- */

struct opans {
	double at_s;
	char what[96];             /* "POST /v1/failover {\"to\":\"eu-west\"}" */
	char state[24];            /* the state it met */
	long status;               /* 0: no answer */
	char answer[200];
	bool bad;                  /* a 5xx, or an error that is not JSON {"error":...} */
	bool excused;              /* drorchd's store was damaged by drchaos at the time */
	bool no_leader;            /* HA: a 503 "no leader" while no instance led */
};

/* ---- HA: a leader stopped past its lease, as it came back -------------------------- */

#define CHAOS_MAX_RESUMES 16

struct resume {
	double at_s;               /* its SIGCONT */
	double stopped_s;          /* how long it was stopped */
	int inst;                  /* the instance */
	int64_t term_before;       /* its term as leader when it was stopped */
	int successor;             /* an instance seen leading while it was stopped, or -1 */
	int other_leader;          /* the instance answering /healthz/leader 200 then, or -1 */
	bool led_after;            /* it answered /healthz/leader 200 after its SIGCONT */
	int64_t term_after;        /* ... with this term (its status's ha.term) */
	char role[16];             /* its /healthz role once settled ("" : no answer) */
};

/* ---- the trial -------------------------------------------------------------------------- */

#define CHAOS_MAX_DESTROYED 64

/* A site whose data drchaos destroyed (a storage fault, or a repair). */
struct destroyed {
	int site;
	int64_t at_ns;             /* from trial start */
	json_t *held_before;       /* a copy of trial.held then (owned; may be NULL) */
};

struct trial;
struct writer_arg {
	struct trial *t;
	unsigned w;
};

struct trial {
	/* options */
	uint64_t seed;
	double duration_s;
	long heal_timeout_ms;
	bool async;
	unsigned classes;
	bool verbose;
	bool ha;                   /* an HA lab: drorchd-1..3 through etcd-1..3 */
	char dir[LAB_PATH];
	bool dir_given;

	/* the lab */
	struct lab *lab;
	const char *names[CHAOS_SITES];
	char op_token[128], site_token[128];
	char first_primary[LAB_NAME];
	char policy_json[512];     /* the mode's policy, for PUT /v1/policy */

	int64_t t0_ns;             /* monotonic origin of every recorded time */
	atomic_bool stop_load, stop_monitor, interrupted;
	atomic_int orch_hint;      /* the drorchd instance believed to lead (orchs.c) */
	atomic_llong orch_silent_ns[LAB_HA_NODES];  /* an instance gave no answer: tried last
						     * until then (orchs.c) */

	/* under mu: the cluster as the monitor last saw it */
	pthread_mutex_t mu;
	char state[24], primary[LAB_NAME];
	int64_t epoch;
	bool orch_answers;
	json_t *runs_seen;         /* "G/ID" -> run with steps: the union over the trial */
	int db_generation;         /* +1 each time drchaos gives drorchd a fresh store */
	json_t *sites_status;      /* the sites' own /v1/status, by name (monitor) */
	int64_t sites_status_ns;   /* when the monitor asked them (its first request) */
	json_t *rewinds_seen;      /* quarantine path -> a site's last_rewind naming it:
				    * every rewind a site reported complete */
	json_t *held;              /* site -> epoch -> the highest flushed_lsn it reported
				    * at that epoch as a replica, or as that epoch's primary */

	/* the load; writer w owns recs[w] until the load stops */
	struct recbuf recs[CHAOS_WRITERS];
	struct writer_arg wargs[CHAOS_WRITERS];
	pthread_t threads[CHAOS_WRITERS];
	int nthreads;
	pthread_t monitor;
	bool monitor_running;

	/* the faults' footprint, for the checks */
	int ndestroyed;
	struct destroyed destroyed[CHAOS_MAX_DESTROYED];   /* site data drchaos destroyed */
	int nops, capops;
	struct opans *ops;
	double rebuilt_at_s[CHAOS_SITES];   /* a data dir drchaos emptied (-1: never) */
	double db_damaged_at_s[LAB_HA_NODES];  /* a page of instance i's store drchaos damaged,
					     * this generation or copy (-1) */
	double db_reset_at_ms[8];           /* wall clock of each fresh store */
	int ndb_resets;
	int faults_fired[FC_N], faults_skipped;
	bool healed;                        /* STEADY with every replica streaming, in time */
	char heal_failure[400];
	int ha_rebuilds;                    /* HA: copies rebuilt from etcd (store moved aside) */
	int nfindings;                      /* HA: what an instance did on its own that it must
					     * not (refused a store drchaos did not touch, ...) */
	char findings[8][400];
	int nresumes;
	struct resume resumes[CHAOS_MAX_RESUMES];  /* HA: leaders stopped past their lease */
};

/* drchaos's log: "[+12.34s] text" on stdout (thread-safe). */
void chaos_say(struct trial *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Only with --verbose. */
void chaos_debug(struct trial *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t chaos_now_ns(void);
double chaos_elapsed_s(const struct trial *t);
/* The site of lab->sites named name (or whose listen or link address is
 * addr, for X-Drorch-Primary), or -1. */
int chaos_site_index(const struct trial *t, const char *name);
int chaos_site_by_addr(const struct trial *t, const char *addr);

/* orchs.c: drorchd, whichever instance leads or is dead.  An instance is
 * i in 0..lab->norchs-1 (one without --ha). */
/* GET path from the instance believed to lead, else the others in order
 * (an instance that just gave no answer last): the JSON of the first 200
 * (caller decrefs), or NULL; *from (if not NULL) the instance.  A status
 * that names the leader moves the belief there. */
json_t *chaos_orch_get(struct trial *t, struct chttp *c, const char *path, long timeout_ms,
		       int *from);
/* A request that changes something, to the instance believed to lead (a
 * follower's 307 followed), the next one when it gives no answer.  As
 * chttp_do; *from (if not NULL) the instance asked last. */
int chaos_orch_do(struct trial *t, struct chttp *c, const char *method, const char *path,
		  const char *body, long timeout_ms, struct chttp_ans *a, int *from);
/* The only instance answering GET /healthz/leader 200 now, or -1; *nleaders
 * (if not NULL) how many did.  Instances in mask `skip` are not asked. */
int chaos_leader(struct trial *t, struct chttp *c, unsigned skip, int *nleaders);
/* "drorchd" alone, or "drorchd-N" (lab.h's process names). */
const char *chaos_orch_name(struct trial *t, int i);
/* Instance i of a process name, or -1. */
int chaos_orch_index(struct trial *t, const char *name);
/* drorchd --verify-audit on instance i's config: its exit status (-1: could
 * not run) and what it printed, in out. */
int chaos_verify_audit(struct trial *t, int i, char *out, size_t len);

/* load.c: the monitor, the writers and the probers. */
int load_start(struct trial *t, char *err, size_t errlen);
void load_stop(struct trial *t);        /* writers and probers; the monitor goes on */
void load_stop_monitor(struct trial *t);
void load_stats(const struct trial *t, size_t *acked, size_t *refused, size_t *noanswer);
/* The cluster as the monitor saw it last: state, primary (may be ""). */
void monitor_view(struct trial *t, char *state, size_t slen, char *primary, size_t plen,
		  int64_t *epoch);
/* Fetches the runs now and adds them to runs_seen (the monitor does it every 2 s). */
void monitor_poll_runs(struct trial *t, struct chttp *c);
/* Asks every site for its status now (the monitor does it every 450 ms). */
void monitor_poll_sites(struct trial *t, struct chttp *c);

/* faults.c: the fault phase, then the heal.  faults_run fires the schedule
 * until the trial's duration (or an interrupt) and leaves in *out what is
 * still in force; faults_heal ends all of it, restarts what is down and
 * acts as an operator until drorchd reports STEADY with every replica
 * streaming (t->healed), or timeout_ms passes (t->heal_failure says how it
 * stood).  faults_free releases it. */
struct faults;
int faults_run(struct trial *t, struct schedule *s, struct faults **out);
void faults_heal(struct faults *fs, long timeout_ms);
void faults_free(struct faults *fs);

/* check.c: every invariant; prints the evidence; returns the failed ones as
 * letters ("" when all held) in failed. */
struct verdict {
	char failed[16];
	size_t acked, indeterminate, lost, sanctioned;
	size_t keys_checked;
};
void check_all(struct trial *t, struct verdict *v);

#endif
