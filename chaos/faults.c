/*
 * faults.c — firing the schedule at a live lab, and healing it afterwards.
 *
 * The story: faults_run walks the schedule in time order; each fault is
 * fired (its target resolved now: "@primary" is the primary drorchd names
 * at this moment) and, when it has a duration, finished at its end (link
 * healed, process continued or restarted, fault cleared, policy restored).
 * Between faults a watchdog restarts any process that died without drchaos
 * killing it (a crash the log shows, or a rewind crash hook), and an
 * upgrade agent swaps drsite binaries for a rolling upgrade, as drctl does.
 * faults_heal then finishes whatever is still in force and acts as an
 * operator until the cluster is STEADY again.
 *
 * When a process will not start on what a fault left, drchaos repairs as an
 * operator would and says so: a site gets its corrupt state.json, then its
 * WAL and snapshots, then its whole data directory moved aside (the last
 * makes it a new, empty site: recorded in t->rebuilt_at_s); drorchd gets
 * its store moved aside and starts on a fresh one (t->db_generation).
 *
 * With --ha a fault on drorchd hits the instance that leads when it fires.
 * An instance's store is its copy of the log in etcd (docs/ha.md): one that
 * refuses to start on what a fault left, or whose copy stops applying the
 * log, gets its store (with its .head) moved aside and rebuilds its copy
 * from etcd; the history is the log's and stays whole (t->ha_rebuilds
 * counts them, the store generation does not move).  One that does so on a
 * store drchaos did not touch is a finding for check (h).
 *
 * Data-destroying storage faults are never in force on two sites at once:
 * one on a site whose data is not yet repaired from its peers (it has not
 * caught up with what the cluster held when it was damaged) defers any
 * other to a later fault, which is skipped, so that what is lost is never
 * lost because drchaos destroyed every copy.
 */
#include "chaos.h"
#include "damage.h"
#include "format.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OP_TIMEOUT_MS 5000
#define ADMIN_TIMEOUT_MS 3000
#define START_TIMEOUT_MS 10000
#define WATCHDOG_GRACE_NS 1000000000LL
#define POLICY_RETRY_NS 1500000000LL
#define AGENT_PERIOD_NS 300000000LL
#define MIRROR_CHECK_NS 1000000000LL
#define SUCCESSOR_CHECK_NS 500000000LL
#define QUORUM_FIRST_START_MS 300  /* an etcd member alone cannot answer: do not wait */
#define RESUME_WATCH_MS 2000       /* a resumed leader must say it follows within this */
#define LEADER_WAIT_S ((SCHED_HA_LEASE_MS + 3000) / 1000.0)  /* a fault on the leader waits
							      * this long for one */

/* A fault at run time. */
struct frt {
	const struct fault *f;
	bool fired, done, skipped;
	int site, peer;            /* resolved sites (-1: none) */
	char proc[LAB_NAME];       /* the process it stopped or killed */
	char proc2[LAB_NAME];      /* a second one (etcd's quorum lost) */
	int inst;                  /* the drorchd instance it hit (-1: none) */
	bool cut;                  /* HA: inst is cut off from etcd */
	int spare;                 /* ... but from this member (-1: from all) */
	int64_t term;              /* HA: a stopped leader's term */
	int successor;             /* HA: an instance seen leading while inst is stopped */
	int nlinks;
	char links[LAB_MAX_LINKS][80];  /* the drlink links it changed */
	double end_s;              /* when it ends: fired + its duration (from the phase's start) */
	double kill_at_s;          /* mid-operation: when its kill is due (0: done) */
	double restart_at_s;       /* mid-operation: when its victim restarts */
	bool killed;
};

struct faults {
	struct trial *t;
	struct schedule *s;
	struct chttp *c;
	int64_t phase0_ns;
	struct frt *rt;
	bool down_by_us[LAB_MAX_PROCS];    /* killed by drchaos, restart pending */
	int64_t dead_since[LAB_MAX_PROCS]; /* watchdog: when it was first seen dead */
	int64_t next_try[LAB_MAX_PROCS];   /* watchdog: a start that failed is retried later */
	int deaths[LAB_MAX_PROCS];         /* watchdog: deaths seen, for its back-off */
	bool stopped[CHAOS_SITES];
	bool disk_full[CHAOS_SITES];
	bool orch_stopped[LAB_HA_NODES];   /* HA: an instance drchaos SIGSTOPped */
	bool store_hit[LAB_HA_NODES];      /* a fault damaged the instance's store, not yet aside */
	int64_t mirror_check_ns;           /* HA: the next look at the instances' mirrors */
	int64_t successor_check_ns;        /* HA: the next look for a stopped leader's successor */
	int unrepaired;                    /* the site whose data drchaos destroyed, or -1 */
	int64_t unrepaired_lsn;            /* what it must catch up to */
	int64_t unrepaired_ns;             /* its last (re)start: only later looks count */
	long long upgrade_run;
	char upgraded[96];                 /* "site@version" last swapped */
	bool policy_dirty;
	int64_t policy_retry_ns, agent_ns;
	int aside_seq;
};

static double phase_s(const struct faults *fs)
{
	return (double)(chaos_now_ns() - fs->phase0_ns) / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ==== processes ============================================================ */

static int proc_index(struct faults *fs, const char *name)
{
	struct lab_proc *p = lab_proc_named(fs->t->lab, name);
	return p ? (int)(p - fs->t->lab->procs) : -1;
}

static bool proc_up(struct faults *fs, const char *name)
{
	int i = proc_index(fs, name);
	return i >= 0 && !fs->down_by_us[i] && lab_proc_alive(&fs->t->lab->procs[i]);
}

static int kill9(struct faults *fs, const char *name)
{
	char err[300];
	int i = proc_index(fs, name);
	if (i < 0 || fs->down_by_us[i] || !lab_proc_alive(&fs->t->lab->procs[i]))
		return -1;
	if (lab_kill(fs->t->lab, name, err, sizeof(err))) {
		chaos_say(fs->t, "kill -9 %s: %s", name, err);
		return -1;
	}
	fs->down_by_us[i] = true;
	int s = chaos_site_index(fs->t, name), o = chaos_orch_index(fs->t, name);
	if (s >= 0) {
		fs->stopped[s] = false;
		fs->disk_full[s] = false;
	}
	if (o >= 0)
		fs->orch_stopped[o] = false;
	lab_save(fs->t->lab, err, sizeof(err));
	return 0;
}

/* HA: what an instance did on its own that it must not, for check (h). */
static void finding(struct trial *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void finding(struct trial *t, const char *fmt, ...)
{
	char line[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	chaos_say(t, "FINDING: %s", line);
	if (t->nfindings < (int)(sizeof(t->findings) / sizeof(t->findings[0])))
		snprintf(t->findings[t->nfindings++], sizeof(t->findings[0]), "%s", line);
}

/* Site i's data was destroyed (by a fault or a repair) now. */
static void note_destroyed(struct trial *t, int i)
{
	pthread_mutex_lock(&t->mu);
	json_t *held = json_deep_copy(t->held);
	pthread_mutex_unlock(&t->mu);
	if (t->ndestroyed < CHAOS_MAX_DESTROYED)
		t->destroyed[t->ndestroyed++] = (struct destroyed){ i, chaos_now_ns() - t->t0_ns, held };
	else
		json_decref(held);
}

/* Moves path aside under DIR/aside, tagged with name and a counter. */
static int aside(struct faults *fs, const char *path, const char *name, const char *what)
{
	char dir[LAB_PATH + 16], tag[128], done[1200];
	snprintf(dir, sizeof(dir), "%s/aside", fs->t->dir);
	snprintf(tag, sizeof(tag), "%s-%d-%s", name, ++fs->aside_seq, what);
	int rc = damage_move_aside(path, dir, tag, done, sizeof(done));
	if (rc == 0)
		chaos_say(fs->t, "operator: %s", done);
	else if (rc < 0)
		chaos_say(fs->t, "operator: %s", done);
	return rc;
}

/* The site's data: lab_start failed on it; an operator's next repair. */
static void repair_site(struct faults *fs, int i, int step, const char *why)
{
	const struct lab_site *site = &fs->t->lab->sites[i];
	char path[LAB_PATH + 32];
	chaos_say(fs->t, "operator: %s will not start (%s)", site->name, why);
	if (step == 0) {
		snprintf(path, sizeof(path), "%s/state.json", site->data);
		aside(fs, path, site->name, "state.json");
	} else if (step == 1) {
		snprintf(path, sizeof(path), "%s/wal", site->data);
		aside(fs, path, site->name, "wal");
		snprintf(path, sizeof(path), "%s/snap", site->data);
		aside(fs, path, site->name, "snap");
		fs->unrepaired = i;
		note_destroyed(fs->t, i);
	} else {
		aside(fs, site->data, site->name, "data");
		fs->unrepaired = i;
		note_destroyed(fs->t, i);
	}
}

/* A site about to start on nothing at all: no state.json, no WAL record,
 * no snapshot.  It is a new site, a standalone primary at epoch 0 by
 * design until drorchd gives it a role (its acknowledgements then are
 * not the cluster's: see t->rebuilt_at_s).  One that still holds records
 * but lost its state.json is not new: it must know it had a role. */
static void note_if_new(struct faults *fs, int i)
{
	const char *data = fs->t->lab->sites[i].data;
	char path[LAB_PATH + 32];
	snprintf(path, sizeof(path), "%s/state.json", data);
	if (access(path, F_OK) == 0 || damage_has_records(data))
		return;
	fs->t->rebuilt_at_s[i] = chaos_elapsed_s(fs->t);
	chaos_say(fs->t, "%s starts as a new site (no state.json, no record): a standalone primary until "
		  "drorchd gives it a role", fs->t->lab->sites[i].name);
}

/* Starts a site; when it exits at start-up, repairs and tries again: its
 * state.json aside first when that is what it complains about, then its
 * WAL and snapshots, then its whole data directory. */
static int start_site(struct faults *fs, int i)
{
	char err[1200];
	const char *name = fs->t->lab->sites[i].name;
	bool state_tried = false;
	for (int step = 1; step <= 3; step++) {
		note_if_new(fs, i);
		if (lab_start(fs->t->lab, name, START_TIMEOUT_MS, err, sizeof(err)) == 0)
			return 0;
		struct lab_proc *p = lab_proc_named(fs->t->lab, name);
		if (lab_proc_alive(p)) {
			chaos_say(fs->t, "%s: started but not healthy yet (%s)", name, err);
			return 0;
		}
		if (step == 3)
			break;
		if (!state_tried && strstr(err, "state.json")) {
			state_tried = true;
			repair_site(fs, i, 0, err);
			step--;
			continue;
		}
		repair_site(fs, i, step, err);
	}
	chaos_say(fs->t, "%s: does not start even on an empty data dir: %s", name, err);
	return -1;
}

/* What an operator does with a store drorchd instance i cannot use.  One
 * drorchd: the store, its -wal and -shm moved aside; drorchd then starts on
 * a fresh one, a new generation of the history.  With HA the instance's
 * copy of the log, with its .head (a fresh store beside an old head file
 * looks like one that lost its history), moved aside: it rebuilds its copy
 * from etcd, the history unchanged. */
static void store_aside(struct faults *fs, int i)
{
	static const char *const suffix[] = { "", "-wal", "-shm", ".head" };
	struct trial *t = fs->t;
	const char *name = chaos_orch_name(t, i);
	char path[LAB_PATH + 16];
	for (int k = 0; k < (t->ha ? 4 : 3); k++) {
		snprintf(path, sizeof(path), "%s%s", t->lab->dbs[i], suffix[k]);
		aside(fs, path, name, suffix[k][0] ? suffix[k] + 1 : "store");
	}
	t->db_damaged_at_s[i] = -1;
	fs->store_hit[i] = false;
	if (t->ha) {
		chaos_say(t, "operator: %s rebuilds its copy of the log from etcd (rebuild %d)", name,
			  ++t->ha_rebuilds);
		return;
	}
	pthread_mutex_lock(&t->mu);
	int g = ++t->db_generation;
	pthread_mutex_unlock(&t->mu);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (t->ndb_resets < (int)(sizeof(t->db_reset_at_ms) / sizeof(t->db_reset_at_ms[0])))
		t->db_reset_at_ms[t->ndb_resets++] = (double)now.tv_sec * 1e3 + now.tv_nsec / 1e6;
	chaos_say(t, "operator: drorchd gets a fresh store (generation %d)", g);
}

/* Starts drorchd instance `name`; on a store it cannot open, moves the
 * store aside and starts it on a fresh one.  With HA, an instance that
 * refuses a store no fault touched is a finding. */
static int start_orch(struct faults *fs, const char *name)
{
	char err[1200];
	struct lab *l = fs->t->lab;
	int i = chaos_orch_index(fs->t, name);
	if (lab_start(l, name, START_TIMEOUT_MS, err, sizeof(err)) == 0 ||
	    lab_proc_alive(lab_proc_named(l, name)))
		return 0;
	chaos_say(fs->t, "operator: %s will not start (%s)", name, err);
	if (fs->t->ha && !fs->store_hit[i])
		finding(fs->t, "%s refused to start on a store no fault touched: %.300s", name, err);
	store_aside(fs, i);
	if (lab_start(l, name, START_TIMEOUT_MS, err, sizeof(err)) == 0)
		return 0;
	chaos_say(fs->t, "%s: does not start on a fresh store either: %s", name, err);
	return -1;
}

/* Starts etcd member `name`.  A member answers only once a quorum of its
 * cluster runs: one started while another is down is left running, not
 * yet healthy (the next member's start makes the quorum). */
static int start_member(struct faults *fs, const char *name, long timeout_ms)
{
	char err[1200];
	if (lab_start(fs->t->lab, name, timeout_ms, err, sizeof(err)) == 0)
		return 0;
	if (lab_proc_alive(lab_proc_named(fs->t->lab, name))) {
		chaos_say(fs->t, "%s: started, not healthy yet (waiting for a quorum)", name);
		return 0;
	}
	chaos_say(fs->t, "%s: does not start: %s", name, err);
	return -1;
}

static int start_proc(struct faults *fs, const char *name)
{
	int i = proc_index(fs, name), s = chaos_site_index(fs->t, name);
	if (i < 0)
		return -1;
	fs->down_by_us[i] = false;
	fs->dead_since[i] = 0;
	if (lab_proc_alive(&fs->t->lab->procs[i]))
		return 0;
	int rc = s >= 0 ? start_site(fs, s)
		 : !strcmp(fs->t->lab->procs[i].kind, "etcd") ? start_member(fs, name, START_TIMEOUT_MS)
		 : start_orch(fs, name);
	if (s >= 0 && s == fs->unrepaired)
		fs->unrepaired_ns = chaos_now_ns();
	if (rc)
		fs->next_try[i] = chaos_now_ns() + 5 * WATCHDOG_GRACE_NS;
	return rc;
}

/* The last line of a log, for the watchdog's report. */
static void log_last_line(const char *path, char *out, size_t len)
{
	char buf[2048];
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END))
		rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	const char *last = strrchr(buf, '\n');
	last = last ? last + 1 : buf;
	size_t k = strlen(last) < len ? strlen(last) : len - 1;
	memcpy(out, last, k);
	out[k] = '\0';
}

/* Restarts (after a grace second) a process that died without drchaos. */
static void watchdog(struct faults *fs)
{
	struct lab *l = fs->t->lab;
	int64_t now = chaos_now_ns();
	for (int i = 0; i < l->nprocs; i++) {
		struct lab_proc *p = &l->procs[i];
		if (fs->down_by_us[i] || lab_proc_alive(p) || now < fs->next_try[i]) {
			if (!fs->down_by_us[i] && lab_proc_alive(p))
				fs->dead_since[i] = 0;
			continue;
		}
		if (!fs->dead_since[i]) {
			char last[400];
			log_last_line(p->log, last, sizeof(last));
			chaos_say(fs->t, "watchdog: %s (pid %d) died, not killed by drchaos (death %d); its log "
				  "ends: %s", p->name, (int)p->pid, ++fs->deaths[i], last);
			fs->dead_since[i] = now;
			continue;
		}
		/* 1 s, then 2, 4, 8 s for a process that keeps dying */
		int64_t grace = WATCHDOG_GRACE_NS << (fs->deaths[i] > 4 ? 3 : fs->deaths[i] - 1);
		if (now - fs->dead_since[i] < grace || !strcmp(p->kind, "drlink"))
			continue;
		chaos_say(fs->t, "watchdog: restarting %s", p->name);
		if (start_proc(fs, p->name) == 0)
			chaos_say(fs->t, "watchdog: %s is back (pid %d)", p->name, (int)p->pid);
	}
}

/* ==== targets =============================================================== */

/* The primary: drorchd's, or while drorchd does not answer, the site that
 * says it is primary at the newest epoch (the sites' own statuses). */
static int current_primary(struct faults *fs)
{
	struct trial *t = fs->t;
	char state[24], primary[LAB_NAME];
	int64_t epoch, best_epoch = -1;
	monitor_view(t, state, sizeof(state), primary, sizeof(primary), &epoch);
	int i = chaos_site_index(t, primary), best = -1;
	pthread_mutex_lock(&t->mu);
	bool orch = t->orch_answers;
	const char *name;
	json_t *st;
	json_object_foreach(t->sites_status, name, st) {
		int64_t e = json_integer_value(json_object_get(st, "epoch"));
		if (!strcmp(json_string_value(json_object_get(st, "role")) ?: "", "primary") && e > best_epoch) {
			best_epoch = e;
			best = chaos_site_index(t, name);
		}
	}
	pthread_mutex_unlock(&t->mu);
	if (orch && i >= 0)
		return i;
	if (best >= 0)
		return best;
	return i >= 0 ? i : chaos_site_index(t, t->first_primary);
}

/* The pick-th site other than `not`, in lab order. */
static int other_site(struct faults *fs, int not, int pick)
{
	int others[CHAOS_SITES], n = 0;
	for (int i = 0; i < fs->t->lab->nsites; i++)
		if (i != not)
			others[n++] = i;
	return n ? others[pick % n] : -1;
}

static int resolve(struct faults *fs, enum target tg, int pick)
{
	switch (tg) {
	case T_PRIMARY: return current_primary(fs);
	case T_REPLICA: return other_site(fs, current_primary(fs), pick);
	case T_SITE0: case T_SITE1: case T_SITE2: return tg - T_SITE0;
	default: return -1;
	}
}

static const char *site_name(struct faults *fs, int i)
{
	return i >= 0 ? fs->t->lab->sites[i].name : "?";
}

/* The drorchd instances drchaos has down or stopped, as a mask. */
static unsigned orchs_out(struct faults *fs)
{
	unsigned mask = 0;
	for (int i = 0; i < fs->t->lab->norchs; i++)
		if (fs->orch_stopped[i] || !proc_up(fs, chaos_orch_name(fs->t, i)))
			mask |= 1u << i;
	return mask;
}

/* The drorchd a fault on "drorchd" hits: the one, or with HA the instance
 * that leads now (-1: none does). */
static int orch_target(struct faults *fs)
{
	return fs->t->ha ? chaos_leader(fs->t, fs->c, orchs_out(fs), NULL) : 0;
}

/* HA: the pick-th instance other than the leader, in instance order (-1:
 * no instance leads). */
static int follower_target(struct faults *fs, int pick)
{
	int leader = orch_target(fs), others[LAB_HA_NODES], n = 0;
	for (int i = 0; leader >= 0 && i < fs->t->lab->norchs; i++)
		if (i != leader)
			others[n++] = i;
	return n ? others[pick % n] : -1;
}

/* ==== HTTP: site admin, operators ============================================ */

static long site_admin(struct faults *fs, int i, const char *cmd, const char *body, char *out,
		       size_t outlen)
{
	char url[256];
	struct chttp_ans a;
	snprintf(url, sizeof(url), "%s/v1/admin/%s", fs->t->lab->sites[i].url, cmd);
	long st = chttp_do(fs->c, "POST", url, fs->t->site_token, body, strlen(body), ADMIN_TIMEOUT_MS,
			   &a) ? 0 : a.status;
	if (out)
		snprintf(out, outlen, "%s", st ? (a.body ? a.body : "") : a.err);
	chttp_ans_free(&a);
	return st;
}

static long site_faults(struct faults *fs, int i, const char *body)
{
	char out[300];
	long st = site_admin(fs, i, "faults", body, out, sizeof(out));
	chaos_debug(fs->t, "%s: POST /v1/admin/faults %s -> %ld %s", site_name(fs, i), body, st, out);
	return st;
}

static void fresh_state(struct faults *fs, char *state, size_t len)
{
	json_t *j = chaos_orch_get(fs->t, fs->c, "/v1/status", 1000, NULL);
	snprintf(state, len, "%s", json_string_value(json_object_get(j, "state")) ?: "(no answer)");
	json_decref(j);
}

/* An answer an operator may get: 2xx, or 4xx with a JSON {"error": "..."}. */
static bool answer_ok(long status, const char *body)
{
	if (status >= 200 && status < 300)
		return true;
	if (status < 400 || status >= 500)
		return false;
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	bool ok = json_is_string(json_object_get(j, "error"));
	json_decref(j);
	return ok;
}

/* HA: the 503 a follower gives while no instance leads (docs/ha.md). */
static bool no_leader_answer(const struct trial *t, long status, const char *body)
{
	json_t *j = t->ha && status == 503 && body ? json_loads(body, 0, NULL) : NULL;
	const char *e = json_string_value(json_object_get(j, "error"));
	bool yes = e && !strncmp(e, "no leader", 9);
	json_decref(j);
	return yes;
}

static bool store_damaged(const struct trial *t)
{
	for (int i = 0; i < LAB_HA_NODES; i++)
		if (t->db_damaged_at_s[i] >= 0)
			return true;
	return false;
}

/* The instance whose URL begins url, for the log ("drorchd-2"), or "?". */
static const char *orch_of_url(struct faults *fs, const char *url)
{
	for (int i = 0; i < fs->t->lab->norchs; i++)
		if (!strncmp(url, fs->t->lab->urls[i], strlen(fs->t->lab->urls[i])))
			return chaos_orch_name(fs->t, i);
	return "?";
}

/* One operator request to drorchd (with HA: to the instance believed to
 * lead, a 307 followed), recorded with the state it met; the answer's JSON
 * in *out when asked (caller frees).  Returns the status. */
static long operator_call(struct faults *fs, const char *method, const char *path,
			  const char *body, json_t **out)
{
	struct trial *t = fs->t;
	struct opans o = { .at_s = chaos_elapsed_s(t) };
	char via[96] = "";
	struct chttp_ans a;
	fresh_state(fs, o.state, sizeof(o.state));
	snprintf(o.what, sizeof(o.what), "%s %s%s%s", method, path, body ? " " : "", body ? body : "");
	int rc = chaos_orch_do(t, fs->c, method, path, body, OP_TIMEOUT_MS, &a, NULL);
	o.status = rc ? 0 : a.status;
	snprintf(o.answer, sizeof(o.answer), "%s", rc ? a.err : a.body ? a.body : "");
	if (t->ha)
		snprintf(via, sizeof(via), " (%s%s)", orch_of_url(fs, a.url), a.redirects ? ", after a 307" : "");
	o.no_leader = no_leader_answer(t, o.status, a.body);
	o.bad = o.status && !answer_ok(o.status, a.body) && !o.no_leader;
	o.excused = o.bad && o.status >= 500 && store_damaged(t);
	if (out)
		*out = o.status && a.body ? json_loads(a.body, 0, NULL) : NULL;
	chttp_ans_free(&a);
	if (t->nops == t->capops) {
		int cap = t->capops ? t->capops * 2 : 64;
		struct opans *v = realloc(t->ops, (size_t)cap * sizeof(*v));
		if (v) {
			t->ops = v;
			t->capops = cap;
		}
	}
	if (t->nops < t->capops)
		t->ops[t->nops++] = o;
	chaos_say(t, "operator: %s (state %s) -> %ld%s %s%s", o.what, o.state, o.status, via, o.answer,
		  o.bad ? (o.excused ? "  [bad answer, store damaged by drchaos]" : "  [BAD ANSWER]")
		  : o.no_leader ? "  [no instance leads now]" : "");
	return o.status;
}

/* The newest run of kind in the current store generation, or 0. */
static long long newest_run(struct faults *fs, const char *kind, bool running_only)
{
	struct trial *t = fs->t;
	long long best = 0;
	const char *key;
	json_t *run;
	pthread_mutex_lock(&t->mu);
	json_object_foreach(t->runs_seen, key, run) {
		long long id = json_integer_value(json_object_get(run, "id"));
		const char *k = json_string_value(json_object_get(run, "kind")) ?: "";
		const char *outcome = json_string_value(json_object_get(run, "outcome")) ?: "";
		if (atoi(key) == t->db_generation && (!kind || !strcmp(k, kind)) &&
		    (!running_only || !strcmp(outcome, "running")) && id > best)
			best = id;
	}
	pthread_mutex_unlock(&t->mu);
	return best;
}

/* ==== links ====================================================================== */

static void link_add(struct frt *r, const struct lab_link *k)
{
	if (k && r->nlinks < (int)(sizeof(r->links) / sizeof(r->links[0])))
		snprintf(r->links[r->nlinks++], sizeof(r->links[0]), "%s", k->name);
}

static void links_set(struct faults *fs, struct frt *r, const struct lab_cond *c)
{
	char err[300];
	for (int i = 0; i < r->nlinks; i++)
		if (lab_link_set(fs->t->lab, r->links[i], c, NULL, err, sizeof(err)))
			chaos_say(fs->t, "drlink: %s", err);
}

static const struct lab_cond healthy_link = {
	.has_latency = true, .has_jitter = true, .has_loss = true, .has_bandwidth = true,
	.has_partition = true, .partition = "none", .direction = "both",
};

static void partition_cond(const struct fault *f, struct lab_cond *c)
{
	*c = (struct lab_cond){ .has_partition = true };
	snprintf(c->partition, sizeof(c->partition), "%s", f->partition);
	snprintf(c->direction, sizeof(c->direction), "%s", f->direction);
}

/* Every link from or to site (drorchd's included). */
static void links_of_site(struct faults *fs, struct frt *r, int site)
{
	const struct lab *l = fs->t->lab;
	for (int i = 0; i < l->nlinks; i++)
		if (!strcmp(l->links[i].from, l->sites[site].name) || !strcmp(l->links[i].to, l->sites[site].name))
			link_add(r, &l->links[i]);
}

static int fire_network(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	struct lab *l = fs->t->lab;
	struct lab_cond c;
	r->site = resolve(fs, f->target, f->pick);
	const char *a = site_name(fs, r->site);
	switch (f->kind) {
	case FK_PART_ORCH:
		link_add(r, lab_link_between(l, LAB_ORCH, a));
		partition_cond(f, &c);
		break;
	case FK_PART_SITES:
		r->peer = other_site(fs, r->site, f->peer);
		if (f->op != 2)
			link_add(r, lab_link_between(l, a, site_name(fs, r->peer)));
		if (f->op != 1)
			link_add(r, lab_link_between(l, site_name(fs, r->peer), a));
		partition_cond(f, &c);
		break;
	case FK_ISOLATE:
		links_of_site(fs, r, r->site);
		partition_cond(f, &c);
		break;
	case FK_WAN:  /* every link between sites and from drorchd: etcd's are the ha class's */
		if (f->op == 0) {
			for (int i = 0; i < l->nlinks; i++)
				if (strncmp(l->links[i].to, "etcd-", 5))
					link_add(r, &l->links[i]);
		} else {
			links_of_site(fs, r, r->site);
		}
		c = (struct lab_cond){ .has_latency = true, .has_jitter = true, .has_loss = true,
				       .latency_ms = f->latency_ms, .jitter_ms = f->jitter_ms,
				       .loss_pct = f->loss_pct };
		break;
	case FK_LATE:
		link_add(r, f->op == 0 ? lab_link_between(l, LAB_ORCH, a)
				       : lab_link_between(l, site_name(fs, other_site(fs, r->site, f->pick)), a));
		partition_cond(f, &c);
		break;
	default: /* FK_DROP_REPL */
		if (!proc_up(fs, a))
			return snprintf(what, len, "%s is down", a), 1;
		site_faults(fs, r->site, "{\"drop_replication\":true}");
		snprintf(what, len, "%s drops replication", a);
		return 0;
	}
	links_set(fs, r, &c);
	int n = snprintf(what, len, "%s:", a);
	for (int i = 0; i < r->nlinks && n > 0 && (size_t)n < len; i++)
		n += snprintf(what + n, len - (size_t)n, " %s", r->links[i]);
	if (fs->t->ha && (f->kind == FK_PART_ORCH || (f->kind == FK_LATE && f->op == 0)) && n > 0 &&
	    (size_t)n < len)
		snprintf(what + n, len - (size_t)n, " (shared by every drorchd instance)");
	return 0;
}

/* ==== storage ======================================================================= */

static bool destroys_data(enum fkind k)
{
	return k == FK_WAL_FLIP || k == FK_WAL_TRUNC || k == FK_WAL_DELETE || k == FK_SNAP_DAMAGE ||
	       k == FK_SNAP_EMPTY || k == FK_SNAP_MISSING;
}

/* The highest LSN any site reports now (the monitor's last look). */
static int64_t cluster_lsn(struct faults *fs)
{
	int64_t best = 0;
	const char *name;
	json_t *st;
	pthread_mutex_lock(&fs->t->mu);
	json_object_foreach(fs->t->sites_status, name, st) {
		int64_t lsn = json_integer_value(json_object_get(st, "lsn"));
		best = lsn > best ? lsn : best;
	}
	pthread_mutex_unlock(&fs->t->mu);
	return best;
}

/* A damaged site is repaired once it streams (or serves as primary) with
 * everything the cluster held when drchaos damaged it. */
static void track_repair(struct faults *fs)
{
	if (fs->unrepaired < 0)
		return;
	const char *name = site_name(fs, fs->unrepaired);
	if (!proc_up(fs, name))
		return;
	pthread_mutex_lock(&fs->t->mu);
	json_t *st = fs->t->sites_status_ns > fs->unrepaired_ns
		     ? json_object_get(fs->t->sites_status, name) : NULL;
	const char *role = json_string_value(json_object_get(st, "role")) ?: "";
	const char *rs = json_string_value(json_object_get(json_object_get(st, "replication"), "state"));
	int64_t flushed = json_integer_value(json_object_get(st, "flushed_lsn"));
	bool repaired = ((!strcmp(role, "replica") && rs && !strcmp(rs, "streaming")) ||
			 (!strcmp(role, "primary") && json_is_true(json_object_get(st, "writable")))) &&
			flushed >= fs->unrepaired_lsn;
	pthread_mutex_unlock(&fs->t->mu);
	if (repaired) {
		chaos_say(fs->t, "%s: data repaired (flushed %" PRId64 " >= %" PRId64 ")", name, flushed,
			  fs->unrepaired_lsn);
		fs->unrepaired = -1;
	}
}

static int fire_storage(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	r->site = resolve(fs, f->target, f->pick);
	const char *name = site_name(fs, r->site);
	if (!proc_up(fs, name))
		return snprintf(what, len, "%s is down", name), 1;
	if (destroys_data(f->kind) && fs->unrepaired >= 0 && fs->unrepaired != r->site)
		return snprintf(what, len, "%s: %s's data is not repaired yet", name,
				site_name(fs, fs->unrepaired)), 1;
	if (f->kind == FK_SNAP_DAMAGE || f->kind == FK_SNAP_EMPTY || f->kind == FK_SNAP_MISSING) {
		char out[200];
		long st = site_admin(fs, r->site, "checkpoint", "{}", out, sizeof(out));
		chaos_debug(fs->t, "%s: checkpoint -> %ld %s", name, st, out);
	}
	int64_t need = cluster_lsn(fs);
	if (kill9(fs, name))
		return snprintf(what, len, "%s: kill -9 failed", name), 1;
	snprintf(r->proc, sizeof(r->proc), "%s", name);
	char done[900];
	int rc = damage_site(fs->t->lab->sites[r->site].data, f, done, sizeof(done));
	if (rc == 0 && destroys_data(f->kind)) {
		fs->unrepaired = r->site;
		fs->unrepaired_lsn = need;
		fs->unrepaired_ns = chaos_now_ns();
		note_destroyed(fs->t, r->site);
	}
	snprintf(what, len, "%s: kill -9, %s", name, done);
	return 0;
}

/* On drorchd killed for it (with HA, the instance that leads). */
static int fire_orchstore(struct faults *fs, struct frt *r, char *what, size_t len)
{
	struct trial *t = fs->t;
	int i = orch_target(fs);
	if (i < 0)
		return snprintf(what, len, "no drorchd instance leads now"), 1;
	const char *name = chaos_orch_name(t, i);
	if (kill9(fs, name))
		return snprintf(what, len, "%s is down", name), 1;
	snprintf(r->proc, sizeof(r->proc), "%s", name);
	r->inst = i;
	char done[900];
	int rc = damage_store(t->lab->dbs[i], r->f, done, sizeof(done));
	fs->store_hit[i] |= rc == 0;
	if (rc == 0 && r->f->kind == FK_DB_PAGE) {
		/* An operator checks the audit of a store whose disk misbehaved,
		 * and does not start drorchd on one whose chain is broken. */
		char out[512];
		int st = chaos_verify_audit(t, i, out, sizeof(out));
		if (st != 0) {
			chaos_say(t, "operator: %s --verify-audit fails on the damaged store (exit %d: %s)",
				  name, st, out);
			store_aside(fs, i);
		} else {
			t->db_damaged_at_s[i] = chaos_elapsed_s(t);
		}
	}
	snprintf(what, len, "%s: kill -9, %s", name, done);
	return 0;
}

/* ==== disk ============================================================================ */

static int fire_disk(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	r->site = resolve(fs, f->target, f->pick);
	const char *name = site_name(fs, r->site);
	char body[96];
	if (!proc_up(fs, name))
		return snprintf(what, len, "%s is down", name), 1;
	if (f->kind == FK_SLOW_FSYNC)
		snprintf(body, sizeof(body), "{\"slow_fsync_ms\":%d}", f->slow_ms);
	else
		snprintf(body, sizeof(body), "{\"%s\":true}", f->kind == FK_DISK_FULL ? "disk_full" : "stall_writes");
	long st = site_faults(fs, r->site, body);
	/* Unanswered (a stopped site) is not undone: the request may land once
	 * it runs again, and a full disk's WAL then needs the restart the
	 * fault's end or the heal gives it (seed 31004). */
	if (f->kind == FK_DISK_FULL && st != 200 && st != 400 && st != 404)
		fs->disk_full[r->site] = true;
	if (st != 200)
		return snprintf(what, len, "%s: POST /v1/admin/faults %s answered %ld (not supported by this "
				"drsite?)", name, body, st), 1;
	if (f->kind == FK_DISK_FULL)
		fs->disk_full[r->site] = true;
	snprintf(what, len, "%s: %s", name, body);
	return 0;
}

/* ==== operators ========================================================================= */

static const char gate_playbook[] =
	"{\"playbook\":\"name: chaos-gate\\nsteps:\\n  - approve: {message: drchaos, timeout_s: 30}\\n"
	"  - sleep: {ms: 10}\\n\"}";

/* The policy document of variant v (see schedule.h), for this trial's mode. */
static void policy_variant(const struct trial *t, int v, char *out, size_t len)
{
	const char *mode = t->async ? "async" : "sync";
	switch (v) {
	case 0: snprintf(out, len, "{\"name\":\"chaos-q2\",\"replication\":{\"mode\":\"%s\",\"quorum\":2}}",
			 t->async ? "async" : "sync"); break;
	case 1: snprintf(out, len, "{\"name\":\"chaos-q3\",\"replication\":{\"mode\":\"sync\",\"quorum\":3}}"); break;
	case 2: snprintf(out, len, "{\"name\":\"chaos-detect\",\"replication\":{\"mode\":\"%s\",\"quorum\":1},"
			 "\"detection\":{\"heartbeat_ms\":150,\"misses\":4}}", mode); break;
	case 3: snprintf(out, len, "{\"name\":\"chaos-stronger\",\"replication\":{\"mode\":\"%s\",\"quorum\":1}}",
			 t->async ? "sync" : "remote_apply"); break;
	case 4: snprintf(out, len, "{\"name\":\"chaos-noflap\",\"replication\":{\"mode\":\"%s\",\"quorum\":1},"
			 "\"failover\":{\"anti_flap_s\":0}}", mode); break;
	case 5: snprintf(out, len, "{\"name\":\"chaos-bad\",\"replication\":{\"mode\":\"bogus\"}}"); break;
	default: snprintf(out, len, "{\"name\":\"chaos-q5\",\"replication\":{\"mode\":\"remote_apply\",\"quorum\":5}}"); break;
	}
}

static void restore_policy(struct faults *fs)
{
	if (!fs->policy_dirty || chaos_now_ns() < fs->policy_retry_ns)
		return;
	long st = operator_call(fs, "PUT", "/v1/policy", fs->t->policy_json, NULL);
	fs->policy_dirty = st != 200;
	fs->policy_retry_ns = chaos_now_ns() + POLICY_RETRY_NS;
}

/* A rolling upgrade goes to the plain drsite's version (DRSITE_VERSION),
 * from the older drsite-X.Y.Z a lab with upgrades in its schedule starts
 * on (drchaos.c): real binaries, swapped.  Once the cluster runs it, a
 * later upgrade is drorchd's no-op (or finishes one that was held). */
static void start_upgrade(struct faults *fs)
{
	char body[64];
	json_t *ans = NULL;
	snprintf(body, sizeof(body), "{\"to\":\"%s\"}", DRSITE_VERSION);
	if (operator_call(fs, "POST", "/v1/upgrades", body, &ans) == 202) {
		fs->upgrade_run = json_integer_value(json_object_get(ans, "run"));
		fs->upgraded[0] = '\0';  /* a new run may wait for a site@version again */
	}
	json_decref(ans);
}

static int fire_operator(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	char body[300], path[64];
	int primary = current_primary(fs);
	switch (f->kind) {
	case FK_OP_FAILOVER: {
		int to = f->op == TO_PRIMARY ? primary : f->op == TO_REPLICA ? other_site(fs, primary, f->pick)
			 : -1;
		if (f->op == TO_DOWN) {
			to = f->pick % fs->t->lab->nsites;
			for (int i = 0; i < fs->t->lab->nsites; i++)
				if (!proc_up(fs, site_name(fs, i)))
					to = i;
		}
		if (to >= 0)
			snprintf(body, sizeof(body), "{\"to\":\"%s\"}", site_name(fs, to));
		operator_call(fs, "POST", "/v1/failover", to >= 0 ? body : NULL, NULL);
		break;
	}
	case FK_OP_SWITCHOVER:
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", site_name(fs, f->pick % fs->t->lab->nsites));
		operator_call(fs, "POST", "/v1/switchover", body, NULL);
		break;
	case FK_OP_FAILBACK:
		operator_call(fs, "POST", "/v1/failback", NULL, NULL);
		break;
	case FK_OP_PAUSE:
		operator_call(fs, "POST", "/v1/pause", NULL, NULL);
		break;
	case FK_OP_RESUME:
		operator_call(fs, "POST", "/v1/resume", NULL, NULL);
		break;
	case FK_OP_ACK: {
		long long run = newest_run(fs, "failover", false);
		snprintf(path, sizeof(path), "/v1/runs/%lld/ack", run ? run : 1);
		operator_call(fs, "POST", path, "{\"comment\":\"drchaos\"}", NULL);
		break;
	}
	case FK_OP_APPROVE:
		operator_call(fs, "POST", "/v1/playbooks/chaos-gate/runs", gate_playbook, NULL);
		break;
	case FK_OP_UPGRADE:
		start_upgrade(fs);
		break;
	default: /* FK_OP_POLICY */
		policy_variant(fs->t, f->op, body, sizeof(body));
		operator_call(fs, "PUT", "/v1/policy", body, NULL);
		fs->policy_dirty = true;
		break;
	}
	snprintf(what, len, "done");
	return 0;
}

/* Approves every gated playbook run waiting at its gate. */
static void approve_waiting(struct faults *fs)
{
	struct trial *t = fs->t;
	long long ids[16];
	int n = 0;
	const char *key;
	json_t *run;
	pthread_mutex_lock(&t->mu);
	json_object_foreach(t->runs_seen, key, run) {
		json_t *gate = json_object_get(json_object_get(run, "detail"), "waiting_for_approval");
		if (gate && atoi(key) == t->db_generation && n < 16 &&
		    !strcmp(json_string_value(json_object_get(run, "outcome")) ?: "", "running"))
			ids[n++] = json_integer_value(json_object_get(run, "id"));
	}
	pthread_mutex_unlock(&t->mu);
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/v1/runs/%lld/approve", ids[i]);
		operator_call(fs, "POST", path, "{\"comment\":\"drchaos\"}", NULL);
	}
	if (n)
		monitor_poll_runs(t, fs->c);
}

/* A rolling upgrade in progress waits for drsite binaries: swap them. */
static void upgrade_agent(struct faults *fs)
{
	if (!fs->upgrade_run || chaos_now_ns() < fs->agent_ns)
		return;
	fs->agent_ns = chaos_now_ns() + AGENT_PERIOD_NS;
	char path[64], err[600], key[96];
	struct chttp_ans a;
	snprintf(path, sizeof(path), "/v1/runs/%lld", fs->upgrade_run);
	if (chaos_orch_do(fs->t, fs->c, "GET", path, NULL, 1000, &a, NULL))
		return;
	json_t *run = a.status == 200 && a.body ? json_loads(a.body, 0, NULL) : NULL;
	long status = a.status;
	chttp_ans_free(&a);
	json_t *want = json_object_get(json_object_get(run, "detail"), "waiting_for_site_upgrade");
	const char *site = json_string_value(json_object_get(want, "site"));
	const char *version = json_string_value(json_object_get(want, "version"));
	const char *outcome = json_string_value(json_object_get(run, "outcome"));
	if (status == 404 || (outcome && strcmp(outcome, "running"))) {
		chaos_say(fs->t, "upgrade run %lld: %s", fs->upgrade_run, outcome ? outcome : "gone");
		fs->upgrade_run = 0;
	} else if (site && version) {
		snprintf(key, sizeof(key), "%s@%s", site, version);
		int s = chaos_site_index(fs->t, site);
		if (strcmp(key, fs->upgraded) && s >= 0 && proc_up(fs, site)) {
			snprintf(fs->upgraded, sizeof(fs->upgraded), "%s", key);
			if (fs->stopped[s]) {
				kill(lab_proc_named(fs->t->lab, site)->pid, SIGCONT);
				fs->stopped[s] = false;
			}
			char prog[LAB_PATH];
			if (lab_drsite_program(version, prog, sizeof(prog), err, sizeof(err))) {
				chaos_say(fs->t, "upgrade agent: %s: %s", site, err);
			} else {
				const char *base = strrchr(prog, '/');
				chaos_say(fs->t, "upgrade agent: restarting %s on %s (%s)", site,
					  base ? base + 1 : prog, version);
				if (lab_upgrade_site(fs->t->lab, site, version, START_TIMEOUT_MS, err,
						     sizeof(err)))
					chaos_say(fs->t, "upgrade agent: %s", err);
			}
		}
	}
	json_decref(run);
}

/* ==== process faults ========================================================================= */

static int fire_process(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	if (f->kind == FK_KILL_ORCH) {
		int i = orch_target(fs);
		const char *name = i >= 0 ? chaos_orch_name(fs->t, i) : "";
		if (i < 0)
			return snprintf(what, len, "no drorchd instance leads now"), 1;
		if (kill9(fs, name))
			return snprintf(what, len, "%s is down", name), 1;
		snprintf(r->proc, sizeof(r->proc), "%s", name);
		r->inst = i;
		return snprintf(what, len, "kill -9 %s", name), 0;
	}
	if (f->kind == FK_MIDOP) {
		int primary = current_primary(fs), target = other_site(fs, primary, f->pick);
		char body[96];
		static const char *const ops[] = { "failover", "switchover", "failback", "upgrade" };
		snprintf(body, sizeof(body), "{\"to\":\"%s\"}", site_name(fs, target));
		if (f->op == MO_FAILOVER)
			operator_call(fs, "POST", "/v1/failover", body, NULL);
		else if (f->op == MO_SWITCHOVER)
			operator_call(fs, "POST", "/v1/switchover", body, NULL);
		else if (f->op == MO_FAILBACK)
			operator_call(fs, "POST", "/v1/failback", NULL, NULL);
		else
			start_upgrade(fs);
		/* drorchd: with HA the instance that leads when the kill is due */
		snprintf(r->proc, sizeof(r->proc), "%s", f->victim != V_ORCH
			 ? site_name(fs, f->victim == V_PRIMARY ? primary : target)
			 : fs->t->ha ? "@leader" : LAB_ORCH);
		r->kill_at_s = phase_s(fs) + f->delay_ms / 1000.0;
		return snprintf(what, len, "%s started; kill -9 %s in %d ms", ops[f->op], r->proc,
				f->delay_ms), 0;
	}
	r->site = resolve(fs, f->target, f->pick);
	const char *name = site_name(fs, r->site);
	if (f->kind == FK_KILL_SITE) {
		if (kill9(fs, name))
			return snprintf(what, len, "%s is down", name), 1;
		snprintf(r->proc, sizeof(r->proc), "%s", name);
		return snprintf(what, len, "kill -9 %s", name), 0;
	}
	if (!proc_up(fs, name) || fs->stopped[r->site])
		return snprintf(what, len, "%s is down", name), 1;
	kill(lab_proc_named(fs->t->lab, name)->pid, SIGSTOP);
	fs->stopped[r->site] = true;
	return snprintf(what, len, "SIGSTOP %s", name), 0;
}

/* ==== HA: the drorchd instances and etcd ==================================================== */

/* GET path of instance i alone: the HTTP status, or -1 when it gives no answer;
 * the body's JSON in *out when asked (caller decrefs). */
static long orch_ask(struct faults *fs, int i, const char *path, json_t **out)
{
	char url[200];
	struct chttp_ans a;
	snprintf(url, sizeof(url), "%s%s", fs->t->lab->urls[i], path);
	long st = chttp_do(fs->c, "GET", url, NULL, NULL, 0, 500, &a) ? -1 : a.status;
	if (out)
		*out = st > 0 && a.body ? json_loads(a.body, 0, NULL) : NULL;
	chttp_ans_free(&a);
	return st;
}

/* Instance i's term as leader (its status's ha.term; 0: it does not lead
 * or gives no answer). */
static int64_t orch_term(struct faults *fs, int i)
{
	json_t *st = NULL;
	orch_ask(fs, i, "/v1/status", &st);
	int64_t term = json_integer_value(json_object_get(json_object_get(st, "ha"), "term"));
	json_decref(st);
	return term;
}

/* An etcd member is down (-1: none): its index. */
static int etcd_down(struct faults *fs)
{
	for (int k = 0; k < fs->t->lab->netcd; k++) {
		char name[LAB_NAME];
		snprintf(name, sizeof(name), "etcd-%d", k + 1);
		if (!proc_up(fs, name))
			return k;
	}
	return -1;
}

/* kill -9 of one etcd member, or of the two other than pick (quorum lost). */
static int fire_etcd(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	char a[LAB_NAME], b[LAB_NAME];
	int down = etcd_down(fs);
	if (down >= 0)  /* never two members down, unless this fault means it */
		return snprintf(what, len, "etcd-%d is down", down + 1), 1;
	if (f->kind == FK_HA_KILL_ETCD) {
		snprintf(a, sizeof(a), "etcd-%d", f->pick + 1);
		if (kill9(fs, a))
			return snprintf(what, len, "%s is down", a), 1;
		snprintf(r->proc, sizeof(r->proc), "%s", a);
		return snprintf(what, len, "kill -9 %s", a), 0;
	}
	snprintf(a, sizeof(a), "etcd-%d", (f->pick + 1) % LAB_HA_NODES + 1);
	snprintf(b, sizeof(b), "etcd-%d", (f->pick + 2) % LAB_HA_NODES + 1);
	if (kill9(fs, a) || kill9(fs, b))
		return snprintf(what, len, "kill -9 %s and %s failed", a, b), 1;
	snprintf(r->proc, sizeof(r->proc), "%s", a);
	snprintf(r->proc2, sizeof(r->proc2), "%s", b);
	return snprintf(what, len, "kill -9 %s and %s: etcd-%d alone, no quorum", a, b, f->pick + 1), 0;
}

static int fire_ha(struct faults *fs, struct frt *r, char *what, size_t len)
{
	const struct fault *f = r->f;
	struct trial *t = fs->t;
	char err[300];
	if (f->target == T_ETCD)
		return fire_etcd(fs, r, what, len);
	int i = f->target == T_FOLLOWER ? follower_target(fs, f->pick) : orch_target(fs);
	if (i < 0)
		return snprintf(what, len, "no drorchd instance leads now"), 1;
	const char *name = chaos_orch_name(t, i);
	r->inst = i;
	if (!proc_up(fs, name) || fs->orch_stopped[i])
		return snprintf(what, len, "%s is down", name), 1;
	switch (f->kind) {
	case FK_HA_STOP_LEADER:
		r->term = orch_term(fs, i);
		r->successor = -1;
		kill(lab_proc_named(t->lab, name)->pid, SIGSTOP);
		fs->orch_stopped[i] = true;
		return snprintf(what, len, "SIGSTOP %s (term %" PRId64 ")", name, r->term), 0;
	case FK_HA_CUT_LEADER:
	case FK_HA_CUT_LEADER_PARTLY:
		r->spare = f->kind == FK_HA_CUT_LEADER ? -1 : f->pick;
		if (lab_cut_from_etcd(t->lab, i, true, r->spare, err, sizeof(err)))
			return snprintf(what, len, "%s", err), 1;
		r->cut = true;
		if (r->spare >= 0)
			return snprintf(what, len, "%s cut off from etcd but etcd-%d", name,
					r->spare + 1), 0;
		return snprintf(what, len, "%s cut off from etcd (%s.etcd-1..3 blackholed)", name, name), 0;
	default:  /* the leader or a follower, killed */
		if (kill9(fs, name))
			return snprintf(what, len, "%s is down", name), 1;
		snprintf(r->proc, sizeof(r->proc), "%s", name);
		return snprintf(what, len, "kill -9 %s", name), 0;
	}
}

/* An instance that leads while another (the stopped leader) is stopped:
 * noted on the fault, twice a second. */
static void watch_successors(struct faults *fs)
{
	if (!fs->t->ha || chaos_now_ns() < fs->successor_check_ns)
		return;
	fs->successor_check_ns = chaos_now_ns() + SUCCESSOR_CHECK_NS;
	for (int n = 0; n < fs->s->n; n++) {
		struct frt *r = &fs->rt[n];
		if (r->f->kind != FK_HA_STOP_LEADER || !r->fired || r->done || r->skipped ||
		    r->successor >= 0)
			continue;
		for (int k = 0; k < fs->t->lab->norchs; k++)
			if (k != r->inst && !(orchs_out(fs) & (1u << k)) &&
			    orch_ask(fs, k, "/healthz/leader", NULL) == 200)
				r->successor = k;
	}
}

/* A leader stopped past its lease comes back: SIGCONT, then what it says
 * for RESUME_WATCH_MS.  Once another instance led meanwhile, it must not
 * lead on its old term, and must say it follows; check (h) judges the
 * record. */
static void resume_leader(struct faults *fs, struct frt *r)
{
	struct trial *t = fs->t;
	int i = r->inst;
	if (!fs->orch_stopped[i])
		return;
	watch_successors(fs);
	struct resume rs = { .at_s = chaos_elapsed_s(t), .inst = i, .other_leader = -1,
			     .stopped_s = phase_s(fs) - (r->end_s - r->f->dur_s),
			     .term_before = r->term, .successor = r->successor };
	kill(lab_proc_named(t->lab, chaos_orch_name(t, i))->pid, SIGCONT);
	fs->orch_stopped[i] = false;
	for (int k = 0; k < t->lab->norchs; k++)
		if (k != i && !(orchs_out(fs) & (1u << k)) && orch_ask(fs, k, "/healthz/leader", NULL) == 200)
			rs.other_leader = k;
	int64_t end = chaos_now_ns() + (int64_t)RESUME_WATCH_MS * 1000000;
	do {
		json_t *h = NULL;
		if (orch_ask(fs, i, "/healthz/leader", NULL) == 200 && !rs.led_after) {
			rs.led_after = true;
			rs.term_after = orch_term(fs, i);
		}
		orch_ask(fs, i, "/healthz", &h);
		snprintf(rs.role, sizeof(rs.role), "%s", json_string_value(json_object_get(h, "role")) ?: "");
		json_decref(h);
		if (!strcmp(rs.role, "follower"))
			break;
		sleep_ms(100);
	} while (chaos_now_ns() < end);
	if (t->nresumes < CHAOS_MAX_RESUMES)
		t->resumes[t->nresumes++] = rs;
	chaos_say(t, "#%d end: SIGCONT %s after %.1f s: %s, says %s; %s%s led meanwhile, %s%s leads now",
		  r->f->index, chaos_orch_name(t, i), rs.stopped_s,
		  rs.led_after ? "it answered /healthz/leader 200" : "not the leader",
		  rs.role[0] ? rs.role : "(no answer)", rs.successor >= 0 ? "" : "no other instance",
		  rs.successor >= 0 ? chaos_orch_name(t, rs.successor) : "",
		  rs.other_leader >= 0 ? "" : "no other instance",
		  rs.other_leader >= 0 ? chaos_orch_name(t, rs.other_leader) : "");
}

/* The two members killed to lose the quorum, started again: the first is
 * not waited for (alone with the survivor it needs a moment), the second
 * makes the quorum either way. */
static void restore_quorum(struct faults *fs, struct frt *r)
{
	int a = proc_index(fs, r->proc);
	fs->down_by_us[a] = false;
	fs->dead_since[a] = 0;
	int rc = lab_proc_alive(&fs->t->lab->procs[a]) ? 0
		 : start_member(fs, r->proc, QUORUM_FIRST_START_MS);
	rc |= start_proc(fs, r->proc2);
	chaos_say(fs->t, "#%d end: %s and %s restarted%s", r->f->index, r->proc, r->proc2,
		  rc ? " -- FAILED" : "");
}

/* HA: an instance whose copy stopped applying the log (its status's
 * ha.mirror says why) is rebuilt as an operator would: killed, its store
 * moved aside, started again to fill a fresh copy from etcd.  On a store
 * no fault touched, that is a finding. */
static void watch_mirrors(struct faults *fs)
{
	struct trial *t = fs->t;
	if (!t->ha || chaos_now_ns() < fs->mirror_check_ns)
		return;
	fs->mirror_check_ns = chaos_now_ns() + MIRROR_CHECK_NS;
	for (int i = 0; i < t->lab->norchs; i++) {
		const char *name = chaos_orch_name(t, i);
		json_t *st = NULL;
		if ((orchs_out(fs) & (1u << i)) || orch_ask(fs, i, "/v1/status", &st) != 200) {
			json_decref(st);
			continue;
		}
		char why[300];
		snprintf(why, sizeof(why), "%s",
			 json_string_value(json_object_get(json_object_get(st, "ha"), "mirror")) ?: "ok");
		json_decref(st);
		if (!strcmp(why, "ok"))
			continue;
		chaos_say(t, "operator: %s stopped applying the log (%s)", name, why);
		if (!fs->store_hit[i])
			finding(t, "%s stopped applying the log on a store no fault touched: %s", name, why);
		if (kill9(fs, name) == 0) {
			store_aside(fs, i);
			start_proc(fs, name);
		}
	}
}

/* ==== firing and finishing ======================================================================== */

/*
 * HA: a fault that is due while what it needs is not there waits for it,
 * LEADER_WAIT_S at most, the faults after it with it (each says how late it
 * fired); the rest of the fault loop goes on.  One on the leader or a
 * follower waits until every instance runs and one leads (a takeover, etcd
 * without quorum, an instance still down); one on etcd until every member
 * runs.  A fault fired late lasts its whole duration, so that the
 * schedule's one-at-a-time slots are kept at run time too.
 */
static bool must_wait(struct faults *fs, const struct frt *r)
{
	const struct fault *f = r->f;
	if (!fs->t->ha || phase_s(fs) >= f->at_s + LEADER_WAIT_S)
		return false;
	if (f->target == T_ETCD)
		return etcd_down(fs) >= 0;
	return (f->target == T_LEADER || f->target == T_FOLLOWER) &&
	       (orchs_out(fs) || orch_target(fs) < 0);
}

/* Fires fault r; false when it waits for a leader (not fired yet). */
static bool fire(struct faults *fs, struct frt *r)
{
	char what[1200] = "", line[400];
	int rc;
	if (must_wait(fs, r))
		return false;
	r->fired = true;
	r->end_s = phase_s(fs) + r->f->dur_s;
	r->site = r->peer = r->inst = -1;
	switch (sched_class_of(r->f->kind)) {
	case FC_PROCESS: rc = fire_process(fs, r, what, sizeof(what)); break;
	case FC_NETWORK: rc = fire_network(fs, r, what, sizeof(what)); break;
	case FC_STORAGE: rc = fire_storage(fs, r, what, sizeof(what)); break;
	case FC_ORCHSTORE: rc = fire_orchstore(fs, r, what, sizeof(what)); break;
	case FC_DISK: rc = fire_disk(fs, r, what, sizeof(what)); break;
	case FC_HA: rc = fire_ha(fs, r, what, sizeof(what)); break;
	default: rc = fire_operator(fs, r, what, sizeof(what)); break;
	}
	sched_describe(r->f, fs->t->names, line, sizeof(line));
	double late = phase_s(fs) - r->f->at_s;
	if (fs->t->ha && late > 1.0)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " (%.1f s late)", late);
	if (rc) {
		r->skipped = r->done = true;
		fs->t->faults_skipped++;
		chaos_say(fs->t, "%s  -- skipped: %s", line, what);
		return true;
	}
	fs->t->faults_fired[sched_class_of(r->f->kind)]++;
	chaos_say(fs->t, "%s  -- %s", line, what);
	if (r->f->dur_s <= 0 && r->f->kind != FK_MIDOP)
		r->done = true;
	return true;
}

/* Ends fault r: what it changed goes back, what it stopped restarts. */
static void finish(struct faults *fs, struct frt *r)
{
	const struct fault *f = r->f;
	r->done = true;
	switch (f->kind) {
	case FK_STOP_SITE:
		if (fs->stopped[r->site]) {
			kill(lab_proc_named(fs->t->lab, site_name(fs, r->site))->pid, SIGCONT);
			fs->stopped[r->site] = false;
		}
		chaos_say(fs->t, "#%d end: SIGCONT %s", f->index, site_name(fs, r->site));
		return;
	case FK_DROP_REPL:
		site_faults(fs, r->site, "{\"drop_replication\":false}");
		break;
	case FK_SLOW_FSYNC:
		site_faults(fs, r->site, "{\"slow_fsync_ms\":0}");
		break;
	case FK_STALL_WRITES:
		site_faults(fs, r->site, "{\"stall_writes\":false}");
		break;
	case FK_DISK_FULL:
		site_faults(fs, r->site, "{\"disk_full\":false}");
		if (kill9(fs, site_name(fs, r->site)) == 0)
			start_proc(fs, site_name(fs, r->site));
		break;
	case FK_OP_PAUSE:
		operator_call(fs, "POST", "/v1/resume", NULL, NULL);
		break;
	case FK_OP_APPROVE:
		approve_waiting(fs);
		break;
	case FK_OP_POLICY:
		restore_policy(fs);
		break;
	case FK_HA_STOP_LEADER:
		resume_leader(fs, r);
		return;
	case FK_HA_CUT_LEADER:
	case FK_HA_CUT_LEADER_PARTLY: {
		char err[300];
		if (r->cut && lab_cut_from_etcd(fs->t->lab, r->inst, false, r->spare, err,
						sizeof(err)))
			chaos_say(fs->t, "drlink: %s", err);
		r->cut = false;
		chaos_say(fs->t, "#%d end: %s's links to etcd healed", f->index, chaos_orch_name(fs->t, r->inst));
		return;
	}
	case FK_HA_LOSE_QUORUM:
		restore_quorum(fs, r);
		return;
	default:
		break;
	}
	if (r->nlinks)
		links_set(fs, r, &healthy_link);
	if (r->proc[0] && (f->kind != FK_MIDOP || r->killed)) {
		int rc = start_proc(fs, r->proc);
		chaos_say(fs->t, "#%d end: %s restarted%s", f->index, r->proc, rc ? " -- FAILED" : "");
	} else {
		chaos_debug(fs->t, "#%d end", f->index);
	}
}

/* A mid-operation fault whose kill is due. */
static void midop_kill(struct faults *fs, struct frt *r)
{
	if (fs->t->ha && r->f->victim == V_ORCH) {
		int i = orch_target(fs);
		snprintf(r->proc, sizeof(r->proc), "%s", i >= 0 ? chaos_orch_name(fs->t, i) : "@leader");
	}
	r->killed = kill9(fs, r->proc) == 0;
	chaos_say(fs->t, "#%d kill -9 %s %s", r->f->index, r->proc,
		  r->killed ? "in the middle of the operation" : "-- skipped: it is down");
	r->kill_at_s = 0;
	r->restart_at_s = phase_s(fs) + r->f->dur_s;
	if (!r->killed)
		r->done = true;
}

static void tick(struct faults *fs)
{
	double now = phase_s(fs);
	for (int i = 0; i < fs->s->n; i++) {
		struct frt *r = &fs->rt[i];
		if (!r->fired || r->done)
			continue;
		if (r->f->kind == FK_MIDOP && r->kill_at_s > 0 && now >= r->kill_at_s)
			midop_kill(fs, r);
		else if (r->f->kind == FK_MIDOP && r->killed && now >= r->restart_at_s)
			finish(fs, r);
		else if (r->f->kind != FK_MIDOP && now >= r->end_s)
			finish(fs, r);
	}
	watchdog(fs);
	watch_mirrors(fs);
	watch_successors(fs);
	upgrade_agent(fs);
	restore_policy(fs);
	track_repair(fs);
}

int faults_run(struct trial *t, struct schedule *s, struct faults **out)
{
	struct faults *fs = calloc(1, sizeof(*fs));
	if (!fs || !(fs->rt = calloc((size_t)s->n + 1, sizeof(*fs->rt))) || !(fs->c = chttp_new())) {
		faults_free(fs);
		return -1;
	}
	fs->t = t;
	fs->s = s;
	fs->unrepaired = -1;
	fs->phase0_ns = chaos_now_ns();
	for (int i = 0; i < s->n; i++)
		fs->rt[i].f = &s->faults[i];
	*out = fs;
	int next = 0;
	while (!atomic_load(&t->interrupted)) {
		double now = phase_s(fs);
		if (now >= t->duration_s)
			break;
		while (next < s->n && s->faults[next].at_s <= now && !atomic_load(&t->interrupted) &&
		       fire(fs, &fs->rt[next]))
			next++;
		tick(fs);
		sleep_ms(20);
	}
	for (; next < s->n; next++) {
		fs->rt[next].skipped = fs->rt[next].done = true;
		t->faults_skipped++;
	}
	return 0;
}

/* ==== the heal ====================================================================================== */

static bool cluster_ready(json_t *st)
{
	const char *primary = json_string_value(json_object_get(st, "primary"));
	size_t i;
	json_t *s;
	if (!json_is_true(json_object_get(st, "steady")) || !primary || !*primary)
		return false;
	json_array_foreach(json_object_get(st, "sites"), i, s) {
		const char *name = json_string_value(json_object_get(s, "name")) ?: "";
		const char *role = json_string_value(json_object_get(s, "role")) ?: "";
		const char *repl = json_string_value(json_object_get(s, "replication")) ?: "";
		if (!strcmp(name, primary) ? strcmp(role, "primary")
					   : strcmp(role, "replica") || strcmp(repl, "streaming"))
			return false;
	}
	return i > 0;
}

static json_t *orch_status(struct faults *fs)
{
	return chaos_orch_get(fs->t, fs->c, "/v1/status", 1000, NULL);
}

/* HA: every instance runs and exactly one leads (else why, in why). */
static bool one_leader(struct faults *fs, char *why, size_t len)
{
	int n;
	if (!fs->t->ha)
		return true;
	for (int i = 0; i < fs->t->lab->norchs; i++)
		if (!proc_up(fs, chaos_orch_name(fs->t, i)))
			return snprintf(why, len, "%s does not run", chaos_orch_name(fs->t, i)), false;
	if (chaos_leader(fs->t, fs->c, 0, &n) < 0)
		return snprintf(why, len, "%d drorchd instances answer /healthz/leader 200", n), false;
	return true;
}

/* Everything back to normal: links, stopped and killed processes, faults. */
static void undo_everything(struct faults *fs)
{
	for (int i = 0; i < fs->s->n; i++) {
		struct frt *r = &fs->rt[i];
		if (r->fired && !r->done) {
			if (r->f->kind == FK_MIDOP && r->kill_at_s > 0) {
				r->done = true;  /* its kill never came: the operation ran */
				continue;
			}
			/* a leader stopped past its lease: the stop runs its course */
			while (r->f->kind == FK_HA_STOP_LEADER && phase_s(fs) < r->end_s &&
			       !atomic_load(&fs->t->interrupted)) {
				watch_successors(fs);
				sleep_ms(20);
			}
			finish(fs, r);
		}
	}
	struct lab *l = fs->t->lab;
	char err[300];
	for (int i = 0; i < l->nlinks; i++)
		if (lab_link_set(l, l->links[i].name, &healthy_link, NULL, err, sizeof(err)))
			chaos_say(fs->t, "drlink: %s", err);
	for (int i = 0; i < l->nsites; i++) {
		struct lab_proc *p = lab_proc_named(l, l->sites[i].name);
		if (lab_proc_alive(p))
			kill(p->pid, SIGCONT);
		fs->stopped[i] = false;
	}
	for (int i = 0; i < l->norchs; i++) {
		struct lab_proc *p = lab_orch_proc(l, i);
		if (fs->orch_stopped[i] && lab_proc_alive(p))
			kill(p->pid, SIGCONT);
		fs->orch_stopped[i] = false;
	}
	for (int i = 0; i < l->nprocs; i++)
		if (fs->down_by_us[i])
			start_proc(fs, l->procs[i].name);
	for (int i = 0; i < l->nsites; i++) {
		if (!proc_up(fs, l->sites[i].name))
			continue;
		site_faults(fs, i, "{\"clear\":true}");
		if (fs->disk_full[i]) {
			site_faults(fs, i, "{\"disk_full\":false}");
			if (kill9(fs, l->sites[i].name) == 0)
				start_proc(fs, l->sites[i].name);
		}
	}
}

/* Whether status st says its state accepts the operator command cmd. */
static bool accepts(json_t *st, const char *cmd)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(st, "accepts"), i, c)
		if (!strcmp(json_string_value(c) ?: "", cmd))
			return true;
	return false;
}

/* The acknowledgements drorchd says must come first (its status:
 * awaiting_operator.next, "drctl ack RUN ..."): given. */
static void ack_as_told(struct faults *fs, json_t *st)
{
	json_t *n;
	size_t i;
	json_array_foreach(json_object_get(json_object_get(st, "awaiting_operator"), "next"), i, n) {
		long long run;
		char path[64];
		if (sscanf(json_string_value(n) ?: "", "drctl ack %lld", &run) != 1)
			continue;
		snprintf(path, sizeof(path), "/v1/runs/%lld/ack", run);
		operator_call(fs, "POST", path, "{\"comment\":\"drchaos heal\"}", NULL);
	}
}

/* A state that awaits an operator (HELD, PAUSED): what an operator does
 * next, escalating with time.  Paused (only resume is accepted): resume,
 * after the acknowledgement drorchd asks for, if any. */
static void operator_unstick(struct faults *fs, json_t *st, double stuck_s)
{
	ack_as_told(fs, st);
	if (!accepts(st, "failover")) {
		operator_call(fs, "POST", "/v1/resume", NULL, NULL);
		return;
	}
	long long run = newest_run(fs, "failover", false);
	char path[64];
	if (run) {
		snprintf(path, sizeof(path), "/v1/runs/%lld/ack", run);
		operator_call(fs, "POST", path, "{\"comment\":\"drchaos heal\"}", NULL);
	}
	if (stuck_s > 35)
		operator_call(fs, "POST", "/v1/failover", "{\"force\":true}", NULL);
	else if (stuck_s > 20)
		operator_call(fs, "POST", "/v1/failover", NULL, NULL);
	else
		operator_call(fs, "POST", "/v1/resume", NULL, NULL);
}

/* "state DEGRADED, primary us-east at epoch 1; us-east replica@2 streaming
 * lsn 25484, ..." from drorchd's status. */
static void describe_cluster(json_t *st, char *out, size_t len)
{
	size_t i, n = 0;
	json_t *s;
	n += (size_t)snprintf(out, len, "state %s, primary %s at epoch %" JSON_INTEGER_FORMAT ";",
			      json_string_value(json_object_get(st, "state")) ?: "?",
			      json_string_value(json_object_get(st, "primary")) ?: "-",
			      json_integer_value(json_object_get(st, "epoch")));
	json_array_foreach(json_object_get(st, "sites"), i, s) {
		if (n >= len)
			break;
		const char *repl = json_string_value(json_object_get(s, "replication")) ?: "";
		n += (size_t)snprintf(out + n, len - n, " %s %s@%" JSON_INTEGER_FORMAT "%s%s lsn %"
				      JSON_INTEGER_FORMAT "%s;",
				      json_string_value(json_object_get(s, "name")) ?: "?",
				      json_string_value(json_object_get(s, "role")) ?: "?",
				      json_integer_value(json_object_get(s, "epoch")), repl[0] ? " " : "", repl,
				      json_integer_value(json_object_get(s, "lsn")),
				      json_is_true(json_object_get(s, "healthy")) ? "" : " unhealthy");
	}
}

void faults_heal(struct faults *fs, long timeout_ms)
{
	struct trial *t = fs->t;
	chaos_say(t, "heal: ending every fault, restarting what is down");
	undo_everything(fs);
	fs->policy_dirty = true;
	fs->policy_retry_ns = 0;
	int64_t start = chaos_now_ns(), deadline = start + (int64_t)timeout_ms * 1000000;
	int64_t stuck_since = 0, last_unstick = 0;
	char last[600] = "no answer from drorchd";
	while (!atomic_load(&t->interrupted) && chaos_now_ns() < deadline) {
		watchdog(fs);
		watch_mirrors(fs);
		upgrade_agent(fs);
		restore_policy(fs);
		track_repair(fs);
		approve_waiting(fs);
		json_t *st = orch_status(fs);
		char why[200] = "";
		bool leads = cluster_ready(st) && one_leader(fs, why, sizeof(why));
		if (leads) {
			t->healed = true;
			chaos_say(t, "heal: steady, primary %s, epoch %" JSON_INTEGER_FORMAT ", after %.1fs",
				  json_string_value(json_object_get(st, "primary")),
				  json_integer_value(json_object_get(st, "epoch")),
				  (double)(chaos_now_ns() - start) / 1e9);
			json_decref(st);
			return;
		}
		if (st)
			describe_cluster(st, last, sizeof(last));
		if (why[0])
			snprintf(last + strlen(last), sizeof(last) - strlen(last), " %s", why);
		bool stuck = json_is_true(json_object_get(st, "awaits_operator"));
		int64_t now = chaos_now_ns();
		stuck_since = stuck ? (stuck_since ? stuck_since : now) : 0;
		if (stuck && now - last_unstick > 2000000000LL) {
			last_unstick = now;
			/* Escalates with the time the heal has taken, too: a resume
			 * that only leads back to HELD (an election that keeps
			 * refusing) does not start the operator over (seed 52011). */
			int64_t held = now - stuck_since, healing = now - start;
			operator_unstick(fs, st, (double)(held > healing ? held : healing) / 1e9);
		}
		json_decref(st);
		sleep_ms(200);
	}
	if (atomic_load(&t->interrupted))
		return;
	snprintf(t->heal_failure, sizeof(t->heal_failure), "not STEADY with every replica streaming "
		 "after %ld s: %s", timeout_ms / 1000, last);
	chaos_say(t, "heal: %s", t->heal_failure);
}

void faults_free(struct faults *fs)
{
	if (!fs)
		return;
	chttp_free(fs->c);
	free(fs->rt);
	free(fs);
}
