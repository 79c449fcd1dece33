/*
 * lab.h — a local drorch lab: two or three drsite processes, one drlink
 * between all of them, and drorchd, on 127.0.0.1 free ports, described by
 * DIR/lab.json.  An HA lab (lab_up_opts.ha) runs three drorchd instances,
 * drorchd-1..3, coordinated through three etcd members, etcd-1..3, instead of
 * the one drorchd.
 *
 * lab.json (the contract of DESIGN.md, plus what lab down/kill/start need):
 *   url              drorchd's base URL (an HA lab: drorchd-1's)
 *   urls[]           every drorchd instance's base URL, urls[0] == url
 *   dbs[]            every instance's own store, in the order of urls
 *   etcd[]           the etcd members' client URLs; [] without HA
 *   token_file       the operators' bearer token (drorchd's token_file)
 *   site_token_file  the sites' admin token
 *   drlink           drlink's admin base URL
 *   sites[]          {name, url, region, listen, data}: url is the site's own
 *                    address (clients write there); drorchd and the other
 *                    sites reach it through drlink links
 *   links[]          {name, from, to, listen, upstream}: one per directed
 *                    site->site pair ("A.B") and drorchd->site ("drorchd.S");
 *                    the instances of an HA lab share the drorchd->site links
 *                    (a partition of drorchd cuts them all off); each
 *                    instance N reaches each etcd member M through its own
 *                    link "drorchd-N.etcd-M" (its config's ha.etcd lists
 *                    those links' addresses), so that one instance can be
 *                    cut off from etcd alone; instances reach each other,
 *                    and the etcd members each other, directly
 *   procs[]          {name, kind, pid, log, argv[]} in start order
 *   state            "starting", "up", "failed", "down"
 *   dir, config, db, policy, version   (config and db: drorchd-1's in HA)
 *
 * Processes are started in their own session (setsid), so they outlive the
 * drctl that started them; they are stopped by the pids in lab.json, only
 * after checking that /proc/PID/cmdline still names the binary started.
 *
 * Every function returns 0 or -1 with a message in err; none exits.
 */
#ifndef DRORCH_LAB_H
#define DRORCH_LAB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define LAB_MAX_SITES 3
#define LAB_HA_NODES 3          /* etcd members, and drorchd instances, of an HA lab */
#define LAB_MAX_PROCS (LAB_MAX_SITES + 1 + 2 * LAB_HA_NODES)
#define LAB_MAX_LINKS (LAB_MAX_SITES * LAB_MAX_SITES + LAB_HA_NODES * LAB_HA_NODES)
#define LAB_MAX_ARGS 32
#define LAB_MAX_SITE_ARGS 8     /* extra drsite arguments (site_args) */
#define LAB_PATH 512
#define LAB_NAME 32
#define LAB_ORCH "drorchd"      /* the "from" of drorchd's links to the sites */

struct lab_proc {
	char name[LAB_NAME];       /* site name, "drorchd" (HA: "drorchd-N"), "etcd-N", "drlink" */
	char kind[LAB_NAME];       /* "drsite", "drorchd", "drlink", "etcd" */
	pid_t pid;
	char log[LAB_PATH];
	char health[128];          /* URL answering 200 once it is up */
	int argc;
	char argv[LAB_MAX_ARGS][LAB_PATH];
};

struct lab_site {
	char name[LAB_NAME];
	char region[LAB_NAME];
	char listen[64];           /* 127.0.0.1:PORT */
	char url[96];              /* http://127.0.0.1:PORT */
	char data[LAB_PATH];
};

struct lab_link {
	char name[80];
	char from[LAB_NAME];
	char to[LAB_NAME];
	char listen[64];
	char upstream[64];
};

struct lab {
	char dir[LAB_PATH];
	char state[16];
	char url[96];              /* drorchd (HA: drorchd-1) */
	int norchs;                /* drorchd instances: 1, or LAB_HA_NODES with HA */
	char urls[LAB_HA_NODES][96];
	char dbs[LAB_HA_NODES][LAB_PATH];
	int netcd;                 /* etcd members: 0, or LAB_HA_NODES with HA */
	char etcd[LAB_HA_NODES][96];
	char token_file[LAB_PATH];
	char site_token_file[LAB_PATH];
	char config[LAB_PATH];
	char db[LAB_PATH];
	char policy[LAB_PATH];     /* "" : drorchd's built-in default */
	char drlink[96];           /* drlink admin URL */
	int nsites;
	struct lab_site sites[LAB_MAX_SITES];
	int nlinks;
	struct lab_link links[LAB_MAX_LINKS];
	int nprocs;
	struct lab_proc procs[LAB_MAX_PROCS];
};

/* WAN conditions of one link; a field applies only when its has_ flag is set.
 * direction: "" or "both" (default), "upstream" or "downstream". */
struct lab_cond {
	bool has_latency, has_jitter, has_loss, has_bandwidth, has_partition;
	int64_t latency_ms, jitter_ms, bandwidth_kbps;
	double loss_pct;
	char partition[16];
	char direction[16];
};

struct lab_up_opts {
	const char *dir;           /* created if missing */
	const char *spec;          /* LAB.yaml, or NULL */
	int nsites;                /* 2 or 3; 0: the spec's, else 3 */
	long timeout_ms;           /* bound on the whole start-up */
	FILE *progress;            /* one line per step, or NULL */
	bool enable_faults;        /* drsite --enable-faults (or LAB.yaml enable_faults) */
	const char *const *site_args;  /* more drsite arguments, NULL-terminated, after
				    * LAB.yaml's site_args; or NULL */
	bool ha;                   /* drorchd-1..3 through etcd-1..3 (or LAB.yaml ha:) */
};

/* Starts a lab; on failure kills everything it started (lab.json then says
 * "failed").  A lab is up when drorchd (with HA: the one instance answering
 * /healthz/leader 200) reports STEADY with every replica streaming.  Refused with nothing changed when DIR's lab.json names a live
 * process (or cannot be read), or while another lab_up holds DIR.
 * *out is allocated; the caller frees it with lab_free. */
int lab_up(const struct lab_up_opts *o, struct lab **out, char *err, size_t errlen);
/* Reads DIR/lab.json. */
int lab_load(const char *dir, struct lab **out, char *err, size_t errlen);
int lab_save(const struct lab *l, char *err, size_t errlen);
void lab_free(struct lab *l);

/* Stops every process (SIGTERM, SIGKILL after grace_ms); with purge, also
 * removes the data directories and the store.  0 only when every recorded
 * process is verified gone (lab_proc_alive false for each). */
int lab_down(struct lab *l, long grace_ms, bool purge, char *err, size_t errlen);
/* kill -9 one process by name (a site, "drorchd", "drlink", or in an HA lab
 * "drorchd-N" or "etcd-N"); once it is gone its pid is set to 0 (the caller
 * saves lab.json). */
int lab_kill(struct lab *l, const char *name, char *err, size_t errlen);
/* Restarts one stopped process with its recorded argv; waits for health
 * (an etcd member is healthy only once a quorum of its cluster runs: with
 * two members down, start both). */
int lab_start(struct lab *l, const char *name, long timeout_ms, char *err, size_t errlen);

/* The drsite program for version (X.Y.Z) into out: drsite-VERSION beside
 * the drsite binary (next to drctl, else on $PATH) when that file exists,
 * else drsite itself when version is DRSITE_VERSION (sites/format.h); else
 * -1 and "no drsite binary for version V: have 0.2.0 (drsite) and 0.1.0
 * (drsite-0.1.0)".  The one place a lab maps a version to a binary. */
int lab_drsite_program(const char *version, char *out, size_t len, char *err, size_t errlen);

/* A rolling upgrade's binary swap: stops site `name` cleanly (SIGTERM),
 * restarts it on lab_drsite_program(VERSION) (its argv[0], kept in
 * lab.json for later starts) and waits for it to answer.  A version with
 * no program fails before the site is stopped; a program that exits at
 * start-up (an older drsite on data at a finalized FCV) fails, and the site
 * is restarted on the program it ran before (said in err). */
int lab_upgrade_site(struct lab *l, const char *name, const char *version, long timeout_ms,
		     char *err, size_t errlen);
struct lab_proc *lab_proc_named(struct lab *l, const char *name);
/* The process of drorchd instance i (0 <= i < norchs), or NULL. */
struct lab_proc *lab_orch_proc(struct lab *l, int i);
/* The base URL of the first drorchd instance (in urls order) that runs, or
 * NULL when none does. */
const char *lab_orch_url(struct lab *l);
/* true when pid runs and /proc/PID/cmdline is still exactly p's argv. */
bool lab_proc_alive(const struct lab_proc *p);
/* The link carrying from -> to, or NULL. */
const struct lab_link *lab_link_between(const struct lab *l, const char *from, const char *to);

/* PUT conditions on one drlink link; the answer's JSON text in *answer
 * (caller frees) when answer is not NULL. */
int lab_link_set(const struct lab *l, const char *link, const struct lab_cond *c,
		 char **answer, char *err, size_t errlen);
/* Cuts (partition blackhole, both directions) or heals (partition none)
 * every link from drorchd instance i (0 <= i < norchs) to the etcd members
 * of an HA lab but the one to member spare (0-based; -1: none spared): that
 * instance alone loses etcd, or all of it but one member.  -1 without HA. */
int lab_cut_from_etcd(const struct lab *l, int i, bool cut, int spare, char *err,
		      size_t errlen);

/* "80ms", "1.5s", "80" (ms) -> ms; "1%" or "1" -> percent; "1mbit",
 * "500kbit", "1gbit", "800" (kbit) -> kbit/s.  0 or -1 (bad text). */
int lab_parse_ms(const char *text, int64_t *ms);
int lab_parse_pct(const char *text, double *pct);
int lab_parse_kbps(const char *text, int64_t *kbps);

#endif
