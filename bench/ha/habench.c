/*
 * habench.c — drorchd's high availability under client write load
 * (bench/ha): how long a takeover takes when the leader dies, in STEADY
 * and in the middle of a failover, and what HA costs a site failover,
 * beside a single drorchd in the same run.
 *
 *   habench --dir DIR [--trials N] [--writers W] [--lease-ttl-ms MS]
 *           [--pre-ms MS] [--post-ms MS]
 *           [--only steady|mid-failover|site-failover] [--no-peer]
 *
 * Every trial runs on a fresh lab (orchestrator/drctl/lab.c, the code
 * behind `drctl lab up`): three sites on drsite with drorchd's built-in
 * default policy, and either the HA lab (etcd-1..3, drorchd-1..3, LAB.yaml
 * `ha: {lease_ttl_ms: MS}`) or one drorchd.  W writer threads PUT unique
 * keys to the primary drorchd names (bench/benchload.h); after --pre-ms of
 * load:
 *
 *   steady         kill -9 of the leader (the instance answering
 *                  /healthz/leader 200) in STEADY.  Timed from the kill:
 *                  until another instance answers /healthz/leader 200 (it
 *                  leads, its store holds the whole log, its lease is
 *                  valid: it may act), and until its first committed write
 *                  of the log: a PUT /v1/policy of the policy in force,
 *                  unchanged, sent to it from then on until it answers 200
 *                  (a policy_add operation committed to etcd, then to its
 *                  store).  Nothing else writes the log in STEADY.
 *   mid-failover   kill -9 of the primary site; once the leader's
 *                  /v1/status shows the failover run open (run_open, the
 *                  epoch raised), kill -9 of the leader.  Timed from that
 *                  kill: until another instance answers /healthz/leader
 *                  200, and until a surviving instance's
 *                  GET /v1/transitions shows a transition stamped after
 *                  the kill (one the new leader committed).  Then the run
 *                  ends: its rto_ms (GET /v1/runs/ID), the clients'
 *                  longest write gap from the site's kill to the run's end,
 *                  and how many failover runs and epoch bumps there were.
 *   site-failover  kill -9 of the primary site with the leader alive, on
 *                  an HA lab and (the peer) on a single drorchd: the run's
 *                  rto_ms and the clients' longest write gap, from the
 *                  site's kill to the run's end.
 *
 * --post-ms more of load, then every acknowledged key is read back from the
 * final primary: a key missing or with another value is lost.
 *
 * The lab's processes are recorded in its lab.json and stopped by PID at
 * the end of each trial, and on SIGINT/SIGTERM (also during lab_up, from
 * the lab.json it has written so far).  Every wait has a deadline.  Exit 0
 * when every trial completed, 1 otherwise, 2 usage.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "benchload.h"
#include "benchutil.h"
#include "httpc.h"
#include "lab.h"
#include "timeutil.h"

#define MAX_TRIALS 200
#define RUN_TIMEOUT_MS 120000
#define POLL_MS 10
#define DEFAULT_PRE_MS 500
#define DEFAULT_POST_MS 300

enum kind { K_STEADY, K_MID, K_SITE_SINGLE, K_SITE_HA, K_COUNT };
static const char *const kind_names[K_COUNT] = { "steady", "mid-failover", "single", "ha" };

struct opts {
	char dir[512];
	int trials, writers;
	uint64_t lease_ttl_ms, pre_ms, post_ms;
	const char *only;  /* steady, mid-failover, site-failover; NULL: all three */
	bool peer;         /* site-failover: the single drorchd too */
};

/* One trial's figures; a time not measured is -1. */
struct sample {
	bool ok;
	int64_t takeover_ms;  /* leader killed -> another answers /healthz/leader 200 */
	int64_t first_ms;     /* leader killed -> its first write (steady) or transition (mid) */
	int64_t gap_ms;       /* the longest time one client went without an acknowledged write */
	int64_t rto_ms;       /* the failover run's rto_ms */
	uint64_t acked, failed, lost;
	int runs, bumps;      /* failover runs and epoch bumps in the trial */
	char killed_in[24];   /* mid-failover: the state the leader was killed in */
};

/* ==== one lab ============================================================== */

struct trial {
	const struct opts *o;
	struct lab *lab;
	struct httpc *http;     /* the polls' connection */
	char token[256];
	struct bench_load load;
	int leader;             /* the instance that leads, as last seen; -1: none known */
	int64_t epoch0;         /* the cluster's epoch before the trial's kill */
};

static char cur_dir[700];     /* the lab being started or run, for the signal handler */
static struct lab *cur_lab;

static json_t *get_json(struct trial *t, const char *base, const char *path, long *status)
{
	char url[256];
	*status = 0;
	if (!base)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", base, path);
	return bench_orch_json(t->token, "GET", url, NULL, status);
}

/* The status of GET url (0: no answer). */
static long http_status(struct trial *t, const char *url)
{
	struct httpc_resp r;
	char err[256];
	if (httpc_request(t->http, "GET", url, NULL, NULL, 0, 1000, &r, err, sizeof(err)) != 0)
		return 0;
	long st = r.status;
	httpc_resp_free(&r);
	return st;
}

static bool orch_alive(struct trial *t, int i)
{
	const struct lab_proc *p = lab_orch_proc(t->lab, i);
	return p && lab_proc_alive(p);
}

/* The running instance other than `not` answering /healthz/leader 200
 * (the first in urls order), or -1. */
static int leader_index(struct trial *t, int not)
{
	char url[256];
	for (int i = 0; i < t->lab->norchs; i++) {
		if (i == not || !orch_alive(t, i))
			continue;
		snprintf(url, sizeof(url), "%s/healthz/leader", t->lab->urls[i]);
		if (http_status(t, url) == 200)
			return i;
	}
	return -1;
}

/* The base URL to ask: the leader's (a load balancer's choice, through
 * /healthz/leader: a follower's copy of the cluster row can trail the
 * leader's by a mirror round), else a running instance's. */
static const char *orch_url(struct trial *t)
{
	return t->leader >= 0 && orch_alive(t, t->leader) ? t->lab->urls[t->leader]
							  : lab_orch_url(t->lab);
}

/* Points the writers at the primary drorchd names. */
static void follow(struct trial *t)
{
	bench_drorch_follow(t->lab, orch_url(t), t->token, &t->load);
}

static int64_t status_epoch(struct trial *t, const char *base)
{
	long st;
	json_t *j = get_json(t, base, "/v1/status", &st);
	int64_t epoch = json_integer_value(json_object_get(j, "epoch"));
	json_decref(j);
	return epoch;
}

/* The lab of trial n of kind k, under load: HA with the lease TTL, or one
 * drorchd.  false (said on stderr) when it did not come up. */
static bool trial_up(struct trial *t, enum kind k, int n)
{
	char spec[760], err[1024];
	snprintf(cur_dir, sizeof(cur_dir), "%s/%s-%d", t->o->dir, kind_names[k], n);
	snprintf(spec, sizeof(spec), "%s.yaml", cur_dir);
	bool ha = k != K_SITE_SINGLE;
	FILE *f = ha ? fopen(spec, "w") : NULL;
	bool written = f && fprintf(f, "ha: {lease_ttl_ms: %llu}\n",
				    (unsigned long long)t->o->lease_ttl_ms) > 0;
	if (f && fclose(f))
		written = false;
	if (ha && !written) {
		fprintf(stderr, "habench: cannot write %s\n", spec);
		cur_dir[0] = '\0';
		return false;
	}
	struct lab_up_opts lo = { .dir = cur_dir, .spec = ha ? spec : NULL, .nsites = 3,
				  .timeout_ms = 60000 };
	if (lab_up(&lo, &t->lab, err, sizeof(err)) != 0) {
		fprintf(stderr, "habench: lab up: %s\n", err);
		cur_dir[0] = '\0';
		return false;
	}
	cur_lab = t->lab;
	t->http = httpc_new();
	t->leader = -1;
	if (!t->http || auth_read_token(t->lab->token_file, t->token, sizeof(t->token), err,
					sizeof(err)) != 0)
		return false;
	if ((t->leader = leader_index(t, -1)) < 0) {
		fprintf(stderr, "habench: no drorchd answers /healthz/leader 200\n");
		return false;
	}
	follow(t);
	bench_load_start(&t->load, t->o->writers, bench_drorch_write);
	time_sleep_ms(t->o->pre_ms);
	return true;
}

/* --post-ms more load, the read-back, and the lab down (its data removed
 * when the trial completed). */
static void trial_down(struct trial *t, struct sample *s)
{
	char err[1024];
	if (t->load.nw) {
		struct bench_load_figures f;
		time_sleep_ms(t->o->post_ms);
		bench_load_stop(&t->load, &f);
		follow(t);
		s->acked = f.acked;
		s->failed = f.failed;
		s->gap_ms = (int64_t)f.gap_ms;
		s->lost = bench_drorch_lost(&t->load);
		bench_load_free(&t->load);
	}
	if (t->lab && lab_down(t->lab, 5000, s->ok, err, sizeof(err)) != 0)
		fprintf(stderr, "habench: lab down: %s\n", err);
	cur_lab = NULL;
	cur_dir[0] = '\0';
	lab_free(t->lab);
	httpc_free(t->http);
}

/* ==== failover runs ========================================================= */

/* The failover runs in GET /v1/runs of base, and the newest one's id. */
static int failover_runs(struct trial *t, const char *base, long long *newest)
{
	long st;
	json_t *j = get_json(t, base, "/v1/runs", &st), *r;
	size_t i;
	int n = 0;
	*newest = 0;
	json_array_foreach(json_object_get(j, "runs"), i, r) {
		if (strcmp(json_string_value(json_object_get(r, "kind")) ?: "", "failover"))
			continue;
		long long id = json_integer_value(json_object_get(r, "id"));
		*newest = id > *newest ? id : *newest;
		n++;
	}
	json_decref(j);
	return n;
}

/* The failover runs and epoch bumps after the trial's kill, as the leader (or a running instance) sees them. */
static void count_changes(struct trial *t, struct sample *s)
{
	long long newest;
	s->runs = failover_runs(t, orch_url(t), &newest);
	s->bumps = (int)(status_epoch(t, orch_url(t)) - t->epoch0);
}

/* kill -9 of the primary drorchd names; the epoch before it into t. */
static bool kill_primary(struct trial *t)
{
	char err[256];
	long st;
	json_t *j = get_json(t, orch_url(t), "/v1/status", &st);
	char primary[LAB_NAME];
	snprintf(primary, sizeof(primary), "%s", json_string_value(json_object_get(j, "primary")) ?: "");
	t->epoch0 = json_integer_value(json_object_get(j, "epoch"));
	json_decref(j);
	if (!primary[0] || lab_kill(t->lab, primary, err, sizeof(err)) != 0) {
		fprintf(stderr, "habench: kill -9 of the primary: %s\n",
			primary[0] ? err : "drorchd names none");
		return false;
	}
	return true;
}

/* Waits for failover run `id` (0: the first one to appear) to end, the
 * writers kept on the primary; its rto_ms, the runs and epoch bumps. */
static bool wait_run(struct trial *t, long long id, struct sample *s)
{
	char path[64];
	for (uint64_t end = time_mono_ms() + RUN_TIMEOUT_MS; time_mono_ms() < end;
	     time_sleep_ms(POLL_MS)) {
		const char *base = orch_url(t);
		long long newest;
		long st;
		follow(t);
		if (!id && failover_runs(t, base, &newest))
			id = newest;
		if (!id)
			continue;
		snprintf(path, sizeof(path), "/v1/runs/%lld", id);
		json_t *r = get_json(t, base, path, &st);
		const char *outcome = json_string_value(json_object_get(r, "outcome"));
		if (outcome && strcmp(outcome, "running")) {
			json_t *rto = json_object_get(r, "rto_ms");
			s->rto_ms = json_is_integer(rto) ? json_integer_value(rto) : -1;
			s->ok = !strcmp(outcome, "succeeded");
			json_decref(r);
			count_changes(t, s);
			return s->ok;
		}
		json_decref(r);
	}
	fprintf(stderr, "habench: failover run %lld did not end in %d s\n", id, RUN_TIMEOUT_MS / 1000);
	return false;
}

/* ==== the trials ============================================================ */

/* kill -9 of the leader: its index, the monotonic and wall times just
 * before the signal; -1 when there is none or it would not die. */
static int kill_leader(struct trial *t, uint64_t *t0, int64_t *wall0)
{
	char err[256], name[LAB_NAME];
	int l = leader_index(t, -1);
	if (l < 0) {
		fprintf(stderr, "habench: no drorchd answers /healthz/leader 200\n");
		return -1;
	}
	snprintf(name, sizeof(name), "%s", lab_orch_proc(t->lab, l)->name);
	*t0 = time_mono_ms();
	*wall0 = (int64_t)time_wall_ms();
	if (lab_kill(t->lab, name, err, sizeof(err)) != 0) {
		fprintf(stderr, "habench: kill -9 of the leader: %s\n", err);
		return -1;
	}
	return l;
}

/* PUT /v1/policy of policy (the one in force) to instance i: its status. */
static long put_policy(struct trial *t, int i, const char *policy)
{
	char url[256];
	long st;
	snprintf(url, sizeof(url), "%s/v1/policy", t->lab->urls[i]);
	json_decref(bench_orch_json(t->token, "PUT", url, policy, &st));
	return st;
}

/* kill -9 of the leader in STEADY: until another answers /healthz/leader
 * 200, and until it has committed a write (the policy in force, put
 * again). */
static bool trial_steady(struct trial *t, struct sample *s)
{
	long st;
	json_t *j = get_json(t, orch_url(t), "/v1/policy", &st);
	char *policy = st == 200 ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	t->epoch0 = status_epoch(t, orch_url(t));
	bench_load_gaps(&t->load, true);
	uint64_t t0 = 0;
	int64_t wall0;
	int old = policy ? kill_leader(t, &t0, &wall0) : -1;
	for (uint64_t end = t0 + t->o->lease_ttl_ms + 30000;
	     old >= 0 && s->first_ms < 0 && time_mono_ms() < end; time_sleep_ms(POLL_MS)) {
		if (s->takeover_ms < 0 && (t->leader = leader_index(t, old)) >= 0)
			s->takeover_ms = (int64_t)(time_mono_ms() - t0);
		if (s->takeover_ms >= 0 && put_policy(t, t->leader, policy) == 200)
			s->first_ms = (int64_t)(time_mono_ms() - t0);
	}
	bench_load_gaps(&t->load, false);
	free(policy);
	if (old >= 0 && s->first_ms < 0)
		fprintf(stderr, "habench: no instance took over and committed a write in time\n");
	count_changes(t, s);
	return s->first_ms >= 0;
}

/* Polls instance i's /v1/status until the failover run is open (run_open,
 * the epoch past epoch0): the run's id, the state into state; 0 when the
 * run was missed (already ended) or never opened. */
static long long wait_run_open(struct trial *t, int i, char *state, size_t len)
{
	for (uint64_t end = time_mono_ms() + 30000; time_mono_ms() < end; time_sleep_ms(5)) {
		long st;
		json_t *j = get_json(t, t->lab->urls[i], "/v1/status", &st);
		bool open = json_is_true(json_object_get(j, "run_open"));
		bool raised = json_integer_value(json_object_get(j, "epoch")) > t->epoch0;
		long long run = json_integer_value(json_object_get(j, "run"));
		snprintf(state, len, "%s", json_string_value(json_object_get(j, "state")) ?: "");
		json_decref(j);
		if (open && raised && run)
			return run;
		if (raised && !open) {
			fprintf(stderr, "habench: the failover ended (%s) before the leader was seen "
				"in it\n", state);
			return 0;
		}
	}
	fprintf(stderr, "habench: no failover run opened in 30 s\n");
	return 0;
}

/* Whether a surviving instance shows a transition stamped after wall0: one
 * that only the new leader can have committed. */
static bool transition_after(struct trial *t, int64_t wall0)
{
	long st;
	json_t *j = get_json(t, orch_url(t), "/v1/transitions", &st), *tr;
	size_t i;
	bool found = false;
	json_array_foreach(json_object_get(j, "transitions"), i, tr)
		found |= json_integer_value(json_object_get(tr, "ts_ms")) > wall0;
	json_decref(j);
	return found;
}

/* kill -9 of the primary site, then of the leader inside the failover run:
 * the takeover, the new leader's first transition, and the run to its end. */
static bool trial_mid(struct trial *t, struct sample *s)
{
	bench_load_gaps(&t->load, true);
	if (!kill_primary(t))
		return false;
	long long run = wait_run_open(t, t->leader, s->killed_in, sizeof(s->killed_in));
	uint64_t t0;
	int64_t wall0;
	int old = run ? kill_leader(t, &t0, &wall0) : -1;
	if (old < 0)
		return false;
	t->leader = -1;
	for (uint64_t end = t0 + t->o->lease_ttl_ms + 30000;
	     (s->takeover_ms < 0 || s->first_ms < 0) && time_mono_ms() < end;
	     time_sleep_ms(POLL_MS)) {
		if (s->takeover_ms < 0 && (t->leader = leader_index(t, old)) >= 0)
			s->takeover_ms = (int64_t)(time_mono_ms() - t0);
		if (s->first_ms < 0 && transition_after(t, wall0))
			s->first_ms = (int64_t)(time_mono_ms() - t0);
		follow(t);
	}
	if (s->takeover_ms < 0 || s->first_ms < 0) {
		fprintf(stderr, "habench: no new leader, or no transition of its, in time\n");
		return false;
	}
	bool ok = wait_run(t, run, s);
	bench_load_gaps(&t->load, false);
	return ok && s->first_ms >= 0;
}

/* kill -9 of the primary site, the leader alive: the run to its end. */
static bool trial_site(struct trial *t, struct sample *s)
{
	bench_load_gaps(&t->load, true);
	bool ok = kill_primary(t) && wait_run(t, 0, s);
	bench_load_gaps(&t->load, false);
	return ok;
}

static bool run_trial(const struct opts *o, enum kind k, int n, struct sample *s)
{
	struct trial t = { .o = o, .leader = -1 };
	*s = (struct sample){ .takeover_ms = -1, .first_ms = -1, .gap_ms = -1, .rto_ms = -1 };
	bool ok = trial_up(&t, k, n);
	if (ok && k == K_STEADY)
		ok = trial_steady(&t, s);
	else if (ok && k == K_MID)
		ok = trial_mid(&t, s);
	else if (ok)
		ok = trial_site(&t, s);
	s->ok = ok;
	trial_down(&t, s);
	return ok;
}

/* ==== the table ============================================================= */

struct row {
	struct sample s[MAX_TRIALS];
	int n;
};

enum fig { F_TAKEOVER, F_FIRST, F_GAP, F_RTO };

static int64_t fig_of(const struct sample *s, enum fig f)
{
	return f == F_TAKEOVER ? s->takeover_ms : f == F_FIRST ? s->first_ms :
	       f == F_GAP ? s->gap_ms : s->rto_ms;
}

/* The completed trials' figure f, sorted, into v; how many. */
static int figures(const struct row *r, enum fig f, uint64_t *v)
{
	int n = 0;
	for (int i = 0; i < r->n; i++)
		if (r->s[i].ok && fig_of(&r->s[i], f) >= 0)
			v[n++] = (uint64_t)fig_of(&r->s[i], f);
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_u64);
	return n;
}

static uint64_t pct(const struct row *r, enum fig f, double p)
{
	uint64_t v[MAX_TRIALS];
	int n = figures(r, f, v);
	return n ? bench_percentile(v, (size_t)n, p) : UINT64_MAX;
}

/* One figure's line: trials, min, p50, p99, max and, with ttl, p50 / TTL. */
static void print_fig(const char *trial, const char *what, const struct row *r, enum fig f,
		      uint64_t ttl)
{
	uint64_t v[MAX_TRIALS];
	int n = figures(r, f, v);
	printf("%-22s %-46s %2d/%-2d", trial, what, n, r->n);
	if (!n) {
		printf("   (no trial completed)\n");
		return;
	}
	printf(" %6llu %6llu %6llu %6llu", (unsigned long long)v[0],
	       (unsigned long long)bench_percentile(v, (size_t)n, 0.5),
	       (unsigned long long)bench_percentile(v, (size_t)n, 0.99),
	       (unsigned long long)v[n - 1]);
	if (ttl)
		printf("  %6.2fx", (double)bench_percentile(v, (size_t)n, 0.5) / (double)ttl);
	printf("\n");
}

/* "v (k/n)" for each distinct value of a trial's text, in order met,
 * padded to width. */
static void tally(const struct row *r, void (*text)(const struct sample *, char *, size_t),
		  int width)
{
	char seen[MAX_TRIALS][24];
	int count[MAX_TRIALS], distinct = 0;
	for (int i = 0; i < r->n; i++) {
		char v[24];
		text(&r->s[i], v, sizeof(v));
		int k = 0;
		while (k < distinct && strcmp(seen[k], v))
			k++;
		if (k == distinct) {
			snprintf(seen[distinct], sizeof(seen[0]), "%s", v);
			count[distinct++] = 0;
		}
		count[k]++;
	}
	int used = printf(" ");
	for (int k = 0; k < distinct; k++)
		used += printf("%s%s (%d/%d)", k ? ", " : "", seen[k], count[k], r->n);
	printf("%*s", used < width ? width - used : 0, "");
}

static void runs_text(const struct sample *s, char *out, size_t len)
{
	snprintf(out, len, "%d", s->runs);
}

static void bumps_text(const struct sample *s, char *out, size_t len)
{
	snprintf(out, len, "%d", s->bumps);
}

static void state_text(const struct sample *s, char *out, size_t len)
{
	snprintf(out, len, "%s", s->killed_in[0] ? s->killed_in : "-");
}

static uint64_t sum_of(const struct row *r, size_t offset)
{
	uint64_t sum = 0;
	for (int i = 0; i < r->n; i++)
		sum += *(const uint64_t *)((const char *)&r->s[i] + offset);
	return sum;
}

static void print_counts(const char *what, const struct row *r, bool killed_in)
{
	printf("%-30s %9llu %8llu %5llu ", what,
	       (unsigned long long)sum_of(r, offsetof(struct sample, acked)),
	       (unsigned long long)sum_of(r, offsetof(struct sample, failed)),
	       (unsigned long long)sum_of(r, offsetof(struct sample, lost)));
	tally(r, runs_text, 19);
	tally(r, bumps_text, killed_in ? 19 : 0);
	if (killed_in)
		tally(r, state_text, 0);
	printf("\n");
}

/* Trials of r in which runs and bumps were as wanted. */
static int as_wanted(const struct row *r, int runs, int bumps)
{
	int n = 0;
	for (int i = 0; i < r->n; i++)
		n += r->s[i].runs == runs && r->s[i].bumps == bumps;
	return n;
}

/* A figure's text: its value, or "n/a" (UINT64_MAX: no trial measured it). */
struct ms_text {
	char s[24];
};

static struct ms_text ms_text(uint64_t v)
{
	struct ms_text t;
	if (v == UINT64_MAX)
		snprintf(t.s, sizeof(t.s), "n/a");
	else
		snprintf(t.s, sizeof(t.s), "%llu", (unsigned long long)v);
	return t;
}

static const char *met(bool yes)
{
	return yes ? "MET" : "NOT MET";
}

static bool kind_on(const struct opts *o, enum kind k)
{
	const char *group = k == K_STEADY ? "steady" : k == K_MID ? "mid-failover" : "site-failover";
	return (!o->only || !strcmp(o->only, group)) && (k != K_SITE_SINGLE || o->peer);
}

static void print_table(const struct opts *o, struct row *rows)
{
	uint64_t ttl = o->lease_ttl_ms;
	printf("\nlease TTL %llu ms; %d writers on the primary site; drorchd's default policy (sync, "
	       "quorum 1); times in ms\n", (unsigned long long)ttl, o->writers);
	printf("%-22s %-46s %-5s %6s %6s %6s %6s  %7s\n", "trial", "figure", "ok", "min", "p50",
	       "p99", "max", "p50/TTL");
	if (kind_on(o, K_STEADY)) {
		print_fig("takeover in STEADY", "kill -9 leader -> another /healthz/leader 200",
			  &rows[K_STEADY], F_TAKEOVER, ttl);
		print_fig("", "kill -9 leader -> its first write committed", &rows[K_STEADY],
			  F_FIRST, ttl);
		print_fig("", "longest client write gap", &rows[K_STEADY], F_GAP, 0);
	}
	if (kind_on(o, K_MID)) {
		print_fig("takeover mid-failover", "kill -9 leader -> another /healthz/leader 200",
			  &rows[K_MID], F_TAKEOVER, ttl);
		print_fig("", "kill -9 leader -> its first transition", &rows[K_MID], F_FIRST, ttl);
		print_fig("", "client outage: longest write gap (site kill..)", &rows[K_MID], F_GAP, 0);
		print_fig("", "the failover run's rto_ms", &rows[K_MID], F_RTO, 0);
	}
	static const struct { enum fig f; enum kind k; const char *what; } site[] = {
		{ F_RTO, K_SITE_SINGLE, "single drorchd: the run's rto_ms" },
		{ F_RTO, K_SITE_HA, "HA, leader alive: the run's rto_ms" },
		{ F_GAP, K_SITE_SINGLE, "single drorchd: longest client write gap" },
		{ F_GAP, K_SITE_HA, "HA, leader alive: longest client write gap" } };
	const char *label = "site failover";
	for (size_t i = 0; i < sizeof(site) / sizeof(site[0]); i++)
		if (kind_on(o, site[i].k)) {
			print_fig(label, site[i].what, &rows[site[i].k], site[i].f, 0);
			label = "";
		}
	printf("\n%-30s %9s %8s %5s  %-18s %-18s %s\n", "trial", "acked", "failed", "lost",
	       "failover runs", "epoch bumps", "leader killed in");
	static const char *const count_names[K_COUNT] = {
		"takeover in STEADY", "takeover mid-failover", "site failover, single drorchd",
		"site failover, HA" };
	for (enum kind k = 0; k < K_COUNT; k++)
		if (kind_on(o, k))
			print_counts(count_names[k], &rows[k], k == K_MID);
}

/* The aims, MET or NOT MET; and the command that repeats the run. */
static void print_aims(const struct opts *o, struct row *rows)
{
	uint64_t bound = o->lease_ttl_ms + 1000;
	printf("\naims:\n");
	static const char *const names[K_COUNT] = { "takeover in STEADY", "takeover mid-failover",
						    "site failover, single", "site failover, HA" };
	for (enum kind k = K_STEADY; k <= K_MID; k++) {
		if (!kind_on(o, k))
			continue;
		uint64_t p99 = pct(&rows[k], F_TAKEOVER, 0.99);
		printf("  %-22s takeover p99 <= lease TTL + 1 s: %s (%s vs %llu ms)\n", names[k],
		       met(p99 <= bound), ms_text(p99).s, (unsigned long long)bound);
		int want_runs = k == K_MID, good = as_wanted(&rows[k], want_runs, want_runs);
		printf("  %-22s %s in every trial: %s (%d/%d)\n", names[k],
		       k == K_MID ? "one failover run, one epoch bump" : "no failover run, no epoch bump",
		       met(good == rows[k].n), good, rows[k].n);
	}
	for (enum kind k = 0; k < K_COUNT; k++) {
		uint64_t lost = sum_of(&rows[k], offsetof(struct sample, lost));
		if (kind_on(o, k))
			printf("  %-22s loses no acknowledged write: %s (%llu lost)\n", names[k],
			       met(lost == 0), (unsigned long long)lost);
	}
	if (kind_on(o, K_SITE_HA) && kind_on(o, K_SITE_SINGLE)) {
		uint64_t ha = pct(&rows[K_SITE_HA], F_RTO, 0.5), one = pct(&rows[K_SITE_SINGLE], F_RTO, 0.5);
		bool both = ha != UINT64_MAX && one != UINT64_MAX;
		printf("  %-22s p50 rto_ms <= 1.2 x single drorchd's: %s (%s vs %s ms",
		       names[K_SITE_HA], met(both && (double)ha <= 1.2 * (double)one), ms_text(ha).s,
		       ms_text(one).s);
		if (both && one)
			printf(": %.2fx", (double)ha / (double)one);
		printf(")\n");
	}
	printf("\nrepeat: bench/ha/run.sh --trials %d --writers %d --lease-ttl-ms %llu", o->trials,
	       o->writers, (unsigned long long)o->lease_ttl_ms);
	if (o->pre_ms != DEFAULT_PRE_MS || o->post_ms != DEFAULT_POST_MS)
		printf(" --pre-ms %llu --post-ms %llu", (unsigned long long)o->pre_ms,
		       (unsigned long long)o->post_ms);
	printf("%s%s%s\n", o->only ? " --only " : "", o->only ? o->only : "",
	       o->peer ? "" : " --no-peer");
}

/* ==== main ================================================================== */

/* Stops the lab of the moment by the pids of its lab.json (the one being
 * started included: lab_up records each process as it spawns it), then dies
 * of sig.  Runs on the main thread: the writers block the signal. */
static void on_signal(int sig)
{
	char err[256];
	struct lab *l = NULL;
	if (cur_lab)
		lab_down(cur_lab, 300, false, err, sizeof(err));
	else if (cur_dir[0] && lab_load(cur_dir, &l, err, sizeof(err)) == 0)
		lab_down(l, 300, false, err, sizeof(err));
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: habench --dir DIR [--trials N] [--writers W] [--lease-ttl-ms MS]\n"
		"               [--pre-ms MS] [--post-ms MS] [--only steady|mid-failover|site-failover]"
		"\n               [--no-peer]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' }, { "trials", required_argument, NULL, 't' },
		{ "writers", required_argument, NULL, 'w' },
		{ "lease-ttl-ms", required_argument, NULL, 'l' },
		{ "pre-ms", required_argument, NULL, 'p' }, { "post-ms", required_argument, NULL, 'P' },
		{ "only", required_argument, NULL, 'o' }, { "no-peer", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	static const char *const groups[] = { "steady", "mid-failover", "site-failover" };
	uint64_t v;
	for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (c) {
		case 'd': snprintf(o->dir, sizeof(o->dir), "%s", optarg); break;
		case 't': if (bench_parse_u64(optarg, 1, MAX_TRIALS, &v)) return 2; o->trials = (int)v; break;
		case 'w': if (bench_parse_u64(optarg, 1, BENCH_MAX_WRITERS, &v)) return 2; o->writers = (int)v; break;
		case 'l': if (bench_parse_u64(optarg, 1000, 60000, &o->lease_ttl_ms)) return 2; break;
		case 'p': if (bench_parse_u64(optarg, 0, 60000, &o->pre_ms)) return 2; break;
		case 'P': if (bench_parse_u64(optarg, 0, 60000, &o->post_ms)) return 2; break;
		case 'o':
			o->only = NULL;
			for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
				if (!strcmp(optarg, groups[g]))
					o->only = groups[g];
			if (!o->only)
				return 2;
			break;
		case 'n': o->peer = false; break;
		case 'h': usage(stdout); exit(0);
		default: return 2;
		}
	}
	return optind < argc || !o->dir[0] ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .trials = 5, .writers = 4, .lease_ttl_ms = 3000,
			  .pre_ms = DEFAULT_PRE_MS, .post_ms = DEFAULT_POST_MS, .peer = true };
	if (parse(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	httpc_global_init();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	static struct row rows[K_COUNT];
	bool all = true;
	for (int n = 0; n < o.trials; n++)
		for (enum kind k = 0; k < K_COUNT; k++) {
			if (!kind_on(&o, k))
				continue;
			struct sample *s = &rows[k].s[rows[k].n++];
			all &= run_trial(&o, k, n, s);
			fprintf(stderr, "%-12s #%d: %s takeover %lld ms, first %lld ms, gap %lld ms, "
				"rto_ms %lld, runs %d, epoch bumps %d%s%s, acked %llu, failed %llu, "
				"lost %llu\n", kind_names[k], n, s->ok ? "ok" : "FAILED",
				(long long)s->takeover_ms, (long long)s->first_ms, (long long)s->gap_ms,
				(long long)s->rto_ms, s->runs, s->bumps, s->killed_in[0] ?
				", leader killed in " : "", s->killed_in, (unsigned long long)s->acked,
				(unsigned long long)s->failed, (unsigned long long)s->lost);
		}
	print_table(&o, rows);
	print_aims(&o, rows);
	return all ? 0 : 1;
}
