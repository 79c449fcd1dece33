/*
 * drchaos — one randomized fault trial against a private drorch lab, judged
 * by its own recorder of every answer.
 *
 *   drchaos --seed N [--duration S] [--mode sync|async] [--faults LIST]
 *           [--dir DIR] [--verbose] [--ha]
 *
 * The trial, in order: draw the schedule from the seed and print it; bring
 * up a lab of three sites, drlink and drorchd (lab.h; with --ha, drorchd-1..3
 * through etcd-1..3) with the mode's policy and drsite --enable-faults;
 * start the load (load.c); fire the
 * faults (faults.c) for --duration seconds; heal and wait for STEADY; stop
 * the load and let replication settle; check every invariant (check.c);
 * stop every process by pid.  The last line summarizes the trial with its
 * seed.  Exit 0 when every invariant held, 1 when one did not (or the lab
 * could not start), 2 on a usage error, 130 when interrupted.
 *
 * The lab lives in DIR (default: a private directory under $TMPDIR,
 * removed when the trial passes and kept, its path printed, when it does
 * not).  SIGINT and SIGTERM stop the trial: the lab is stopped by pid and
 * the directory kept.
 */
#include "chaos.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "decimal.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130
#define SETTLE_TIMEOUT_MS 20000

static pthread_mutex_t say_mu = PTHREAD_MUTEX_INITIALIZER;

/* ==== shared helpers (chaos.h) =============================================== */

int64_t chaos_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double chaos_elapsed_s(const struct trial *t)
{
	return (double)(chaos_now_ns() - t->t0_ns) / 1e9;
}

static void vsay(struct trial *t, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&say_mu);
	printf("[+%7.2fs] ", t->t0_ns ? chaos_elapsed_s(t) : 0.0);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&say_mu);
}

void chaos_say(struct trial *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(t, fmt, ap);
	va_end(ap);
}

void chaos_debug(struct trial *t, const char *fmt, ...)
{
	if (!t->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsay(t, fmt, ap);
	va_end(ap);
}

int chaos_site_index(const struct trial *t, const char *name)
{
	for (int i = 0; name && t->lab && i < t->lab->nsites; i++)
		if (!strcmp(t->lab->sites[i].name, name))
			return i;
	return -1;
}

int chaos_site_by_addr(const struct trial *t, const char *addr)
{
	const struct lab *l = t->lab;
	for (int i = 0; i < l->nsites; i++)
		if (!strcmp(l->sites[i].listen, addr))
			return i;
	for (int i = 0; i < l->nlinks; i++)
		if (!strcmp(l->links[i].listen, addr))
			return chaos_site_index(t, l->links[i].to);
	return -1;
}

/* ==== the command line ======================================================== */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: drchaos --seed N [--duration S] [--mode sync|async] [--faults LIST]\n"
		"               [--dir DIR] [--heal-timeout S] [--verbose] [--ha]\n"
		"  --seed N          the trial's seed: the same seed, the same schedule\n"
		"  --duration S      seconds of faults (default 30)\n"
		"  --mode M          sync (default: sync quorum 1) or async replication\n"
		"  --faults LIST     classes, comma-separated: process,network,storage,orchstore,\n"
		"                    disk,operator, and with --ha ha (default all)\n"
		"  --dir DIR         keep the lab in DIR (default: a private temp dir, removed\n"
		"                    when the trial passes)\n"
		"  --heal-timeout S  how long the heal may take before the trial fails (default 90)\n"
		"  --verbose         every request and state change\n"
		"  --ha              an HA lab: drorchd-1..3 through etcd-1..3; faults on drorchd\n"
		"                    hit the leader, the ha class is drawn, and (h) is checked\n"
		"exit: 0 every invariant held, 1 one did not, 2 usage, 130 interrupted\n"
		"see drchaos(1)\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "drchaos: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(drchaos --help for usage)\n");
	va_end(ap);
	return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out)
{
	return decimal_u64(s, out) == DECIMAL_OK ? 0 : -1;
}

/* 0 parsed (run the trial), 1 done (--help, --version), or EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct trial *t)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' }, { "duration", required_argument, NULL, 'd' },
		{ "mode", required_argument, NULL, 'm' }, { "faults", required_argument, NULL, 'f' },
		{ "dir", required_argument, NULL, 'D' }, { "verbose", no_argument, NULL, 'v' },
		{ "ha", no_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
		{ "heal-timeout", required_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	bool seeded = false;
	const char *faults = "all";
	uint64_t dur = 30, heal = 90;
	char err[200];
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hv", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, &t->seed))
				return usage_error("--seed: expected a non-negative integer, got '%s'", optarg);
			seeded = true;
			break;
		case 'd':
			if (parse_u64(optarg, &dur) || dur < 5 || dur > 3600)
				return usage_error("--duration: expected seconds, 5..3600, got '%s'", optarg);
			break;
		case 'm':
			if (strcmp(optarg, "sync") && strcmp(optarg, "async"))
				return usage_error("--mode: expected sync or async, got '%s'", optarg);
			t->async = !strcmp(optarg, "async");
			break;
		case 'f':
			faults = optarg;
			break;
		case 'D':
			if (strlen(optarg) >= sizeof(t->dir) - 64)
				return usage_error("--dir: path too long");
			snprintf(t->dir, sizeof(t->dir), "%s", optarg);
			t->dir_given = true;
			break;
		case 'T':
			if (parse_u64(optarg, &heal) || heal < 5 || heal > 3600)
				return usage_error("--heal-timeout: expected seconds, 5..3600, got '%s'", optarg);
			break;
		case 'v': t->verbose = true; break;
		case 'H': t->ha = true; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("drchaos %s\n", PACKAGE_VERSION); return 1;
		case ':': return usage_error("%s needs a value", argv[optind - 1]);
		default: return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (sched_parse_classes(faults, t->ha, &t->classes, err, sizeof(err)))
		return usage_error("%s", err);
	if (!seeded)
		return usage_error("--seed N is required");
	t->duration_s = (double)dur;
	t->heal_timeout_ms = (long)heal * 1000;
	return 0;
}

/* ==== the lab ==================================================================== */

static int read_token(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f || !fgets(out, (int)len, f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* Whether the schedule starts a rolling upgrade (an operator's, or one
 * killed mid-operation). */
static bool sched_upgrades(const struct schedule *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->faults[i].kind == FK_OP_UPGRADE ||
		    (s->faults[i].kind == FK_MIDOP && s->faults[i].op == MO_UPGRADE))
			return true;
	return false;
}

/* DIR/chaos-lab.yaml: the mode's policy, faults on, small WAL segments and
 * checkpoints so that a trial has several segments and a snapshot.  A
 * schedule with an upgrade starts every site on the older drsite
 * (CHAOS_OLD_DRSITE), so that the upgrade swaps real binaries. */
static int write_lab_spec(struct trial *t, const struct schedule *s, char *path, size_t len)
{
	snprintf(path, len, "%s/chaos-lab.yaml", t->dir);
	const char *mode = t->async ? "async" : "sync";
	snprintf(t->policy_json, sizeof(t->policy_json),
		 "{\"name\":\"chaos-%s\",\"replication\":{\"mode\":\"%s\",\"quorum\":1}}", mode, mode);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "# written by drchaos --seed %" PRIu64 "\n"
		"policy: {name: chaos-%s, replication: {mode: %s, quorum: 1}}\n"
		"enable_faults: true\n"
		"site_args: [--segment-bytes, \"32768\", --checkpoint-bytes, \"262144\"]\n",
		t->seed, mode, mode);
	if (t->ha)
		fprintf(f, "ha: {lease_ttl_ms: %d}\n", SCHED_HA_LEASE_MS);
	if (sched_upgrades(s))
		fprintf(f, "drsite_version: %s\n", CHAOS_OLD_DRSITE);
	return fclose(f);
}

/* The sites' first start has DRORCH_TEST_REWIND_CRASH when the schedule
 * says so: a site crashes in the middle of its first rewind, and every
 * restart (without it) finishes the rewind.  Set and unset before any
 * other thread runs. */
static int start_lab(struct trial *t, const struct schedule *s)
{
	const char *rewind_crash = s->rewind_crash;
	char spec[LAB_PATH + 32], err[1024];
	if (write_lab_spec(t, s, spec, sizeof(spec))) {
		fprintf(stderr, "drchaos: %s: %s\n", spec, strerror(errno));
		return -1;
	}
	struct lab_up_opts o = { .dir = t->dir, .spec = spec, .timeout_ms = 60000,
				 .progress = t->verbose ? stdout : NULL, .enable_faults = true };
	if (rewind_crash[0])
		setenv("DRORCH_TEST_REWIND_CRASH", rewind_crash, 1);
	int rc = lab_up(&o, &t->lab, err, sizeof(err));
	/* A free port another process took between the pick and the bind (many
	 * trials at once): the lab, stopped whole by lab_up, starts again on
	 * new ones (seed 51021). */
	for (int tries = 0; rc && strstr(err, "Address already in use") && tries < 3; tries++)
		rc = lab_up(&o, &t->lab, err, sizeof(err));
	unsetenv("DRORCH_TEST_REWIND_CRASH");
	if (rc) {
		printf("drchaos: lab up: %s\n", err);
		return -1;
	}
	if (read_token(t->lab->token_file, t->op_token, sizeof(t->op_token)) ||
	    read_token(t->lab->site_token_file, t->site_token, sizeof(t->site_token))) {
		printf("drchaos: cannot read the lab's tokens\n");
		return -1;
	}
	for (int i = 0; i < CHAOS_SITES && i < t->lab->nsites; i++)
		t->names[i] = t->lab->sites[i].name;
	return 0;
}

static void stop_lab(struct trial *t)
{
	char err[512];
	if (!t->lab)
		return;
	if (lab_down(t->lab, 3000, false, err, sizeof(err)))
		printf("drchaos: lab down: %s\n", err);
	lab_save(t->lab, err, sizeof(err));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path) && errno != ENOENT ? -1 : 0;
}

/* ==== settle: replicas caught up with the primary ================================= */

static json_t *site_status(struct chttp *c, const char *base)
{
	char url[200];
	struct chttp_ans a;
	json_t *j = NULL;
	snprintf(url, sizeof(url), "%s/v1/status", base);
	if (chttp_do(c, "GET", url, NULL, NULL, 0, 2000, &a) == 0 && a.status == 200 && a.body)
		j = json_loads(a.body, 0, NULL);
	chttp_ans_free(&a);
	return j;
}

static void settle(struct trial *t)
{
	struct chttp *c = chttp_new();
	int64_t deadline = chaos_now_ns() + (int64_t)SETTLE_TIMEOUT_MS * 1000000;
	char last[300] = "";
	while (c && chaos_now_ns() < deadline) {
		json_t *st = chaos_orch_get(t, c, "/v1/status", 2000, NULL);
		int p = chaos_site_index(t, json_string_value(json_object_get(st, "primary")));
		json_decref(st);
		json_t *ps = p >= 0 ? site_status(c, t->lab->sites[p].url) : NULL;
		json_int_t lsn = json_integer_value(json_object_get(ps, "lsn"));
		json_decref(ps);
		bool caught_up = p >= 0;
		for (int i = 0; caught_up && i < t->lab->nsites; i++) {
			json_t *s = i == p ? NULL : site_status(c, t->lab->sites[i].url);
			json_int_t flushed = json_integer_value(json_object_get(s, "flushed_lsn"));
			if (i != p && flushed < lsn) {
				caught_up = false;
				snprintf(last, sizeof(last), "%s flushed %" JSON_INTEGER_FORMAT " of the primary's %"
					 JSON_INTEGER_FORMAT, t->lab->sites[i].name, flushed, lsn);
			}
			json_decref(s);
		}
		if (caught_up) {
			chaos_say(t, "settled: every replica holds the primary's lsn %" JSON_INTEGER_FORMAT, lsn);
			chttp_free(c);
			return;
		}
		struct timespec ts = { 0, 200000000 };
		nanosleep(&ts, NULL);
	}
	chaos_say(t, "not settled after %d s: %s", SETTLE_TIMEOUT_MS / 1000, last[0] ? last : "no primary");
	chttp_free(c);
}

/* ==== the record, for a post-mortem ================================================ */

/* DIR/answers.tsv: every answer the load got; DIR/operators.tsv: every
 * operator request.  Times in seconds from the trial's start. */
static void write_record(struct trial *t)
{
	char path[LAB_PATH + 32], key[48];
	snprintf(path, sizeof(path), "%s/answers.tsv", t->dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "writer\tsite\tkey\tseq\tdigest\tstart_s\tend_s\tstatus\tlsn\tepoch\n");
		for (int w = 0; w < CHAOS_WRITERS; w++)
			for (size_t i = 0; i < t->recs[w].n; i++) {
				const struct rec *r = &t->recs[w].v[i];
				chaos_key_text(r->writer, r->key, key, sizeof(key));
				fprintf(f, "%u\t%s\t%s\t%" PRIu64 "\t%016" PRIx64 "\t%.6f\t%.6f\t%d\t%" PRId64
					"\t%" PRId64 "\n", r->writer, t->lab->sites[r->site].name, key, r->seq,
					r->digest, (double)r->t0_ns / 1e9, (double)r->t1_ns / 1e9, r->status, r->lsn,
					r->epoch);
			}
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/operators.tsv", t->dir);
	if ((f = fopen(path, "w"))) {
		fprintf(f, "at_s\trequest\tstate\tstatus\tanswer\tbad\n");
		for (int i = 0; i < t->nops; i++)
			fprintf(f, "%.3f\t%s\t%s\t%ld\t%s\t%d\n", t->ops[i].at_s, t->ops[i].what,
				t->ops[i].state, t->ops[i].status, t->ops[i].answer, t->ops[i].bad);
		fclose(f);
	}
}

/* ==== signals ====================================================================== */

static void *signal_main(void *arg)
{
	struct trial *t = arg;
	sigset_t set;
	int sig;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		if (sigwait(&set, &sig) == 0) {
			if (atomic_exchange(&t->interrupted, true))
				continue;
			chaos_say(t, "interrupted (signal %d): stopping the trial", sig);
		}
	}
	return NULL;
}

/* ==== the trial ======================================================================= */

static void print_summary(const struct trial *t, const struct verdict *v, const char *checks)
{
	int n = 0;
	for (int c = 0; c < FC_N; c++)
		n += t->faults_fired[c];
	printf("drchaos: seed=%" PRIu64 " mode=%s%s duration=%.0fs faults=%d (", t->seed,
	       t->async ? "async" : "sync", t->ha ? " ha" : "", t->duration_s, n);
	for (int c = 0; c < FC_N; c++)
		if (c != FC_HA || t->ha)
			printf("%s%s %d", c ? " " : "", sched_class_name((enum fclass)c), t->faults_fired[c]);
	printf(") acked=%zu lost=%zu indeterminate=%zu", v->acked, v->lost, v->indeterminate);
	if (t->ha)
		printf(" rebuilt=%d", t->ha_rebuilds);
	printf(" checks=%s\n", checks);
	fflush(stdout);
}

static int make_dir(struct trial *t)
{
	if (t->dir_given) {
		if (mkdir(t->dir, 0755) && errno != EEXIST) {
			fprintf(stderr, "drchaos: --dir %s: %s\n", t->dir, strerror(errno));
			return -1;
		}
		return 0;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(t->dir, sizeof(t->dir), "%s/drchaos.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir)) {
		fprintf(stderr, "drchaos: cannot make a directory under $TMPDIR: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Fault phase, heal, settle, checks; the verdict in v and checks. */
static void run_trial(struct trial *t, struct schedule *s, struct verdict *v, char *checks,
		      size_t len)
{
	char err[256];
	struct faults *fs = NULL;
	if (load_start(t, err, sizeof(err))) {
		snprintf(checks, len, "ERROR (%.40s)", err);
		return;
	}
	chaos_say(t, "load: %d writers following the primary, 1 pinned to %s, a prober per site",
		  CHAOS_FOLLOWERS, t->first_primary);
	chaos_say(t, "fault phase: %.0f s, %d faults", t->duration_s, s->n);
	if (faults_run(t, s, &fs) == 0 && !atomic_load(&t->interrupted))
		faults_heal(fs, t->heal_timeout_ms);
	faults_free(fs);
	load_stop(t);
	size_t acked, refused, silent;
	load_stats(t, &acked, &refused, &silent);
	chaos_say(t, "load stopped: %zu acknowledged, %zu refused, %zu without an answer", acked, refused,
		  silent);
	v->acked = acked;
	v->indeterminate = refused + silent;
	write_record(t);
	if (atomic_load(&t->interrupted)) {
		load_stop_monitor(t);
		snprintf(checks, len, "INTERRUPTED");
		return;
	}
	if (t->healed)
		settle(t);
	load_stop_monitor(t);
	struct chttp *c = chttp_new();
	if (c) {
		monitor_poll_runs(t, c);
		monitor_poll_sites(t, c);
	}
	chttp_free(c);
	check_all(t, v);
	snprintf(checks, len, "%s%s%s%s", v->failed[0] ? "FAIL (" : "PASS", v->failed,
		 v->failed[0] ? ")" : "", "");
}

static int trial_main(struct trial *t)
{
	struct schedule s;
	struct verdict v = { 0 };
	char checks[64] = "ERROR";
	if (sched_make(t->seed, t->duration_s, t->async, t->ha, t->classes, &s)) {
		fprintf(stderr, "drchaos: out of memory\n");
		return EXIT_FAIL;
	}
	if (make_dir(t)) {
		sched_free(&s);
		return EXIT_FAIL;
	}
	const char *const default_names[3] = { "us-east", "eu-west", "ap-south" };
	printf("drchaos %s: seed %" PRIu64 ", %s mode%s, %.0f s of faults, lab in %s\nschedule:\n",
	       PACKAGE_VERSION, t->seed, t->async ? "async" : "sync",
	       t->ha ? ", HA (drorchd-1..3 through etcd-1..3)" : "", t->duration_s, t->dir);
	sched_print(stdout, &s, default_names);
	fflush(stdout);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t sig_thread;
	pthread_create(&sig_thread, NULL, signal_main, t);
	pthread_detach(sig_thread);

	t->t0_ns = chaos_now_ns();
	if (start_lab(t, &s) == 0) {
		snprintf(t->first_primary, sizeof(t->first_primary), "%s", t->lab->sites[0].name);
		if (t->ha)
			chaos_say(t, "lab up: drorchd-1..3 %s %s %s through etcd-1..3 %s %s %s, sites %s "
				  "%s %s", t->lab->urls[0], t->lab->urls[1], t->lab->urls[2],
				  t->lab->etcd[0], t->lab->etcd[1], t->lab->etcd[2], t->lab->sites[0].url,
				  t->lab->sites[1].url, t->lab->sites[2].url);
		else
			chaos_say(t, "lab up: drorchd %s, sites %s %s %s", t->lab->url,
				  t->lab->sites[0].url, t->lab->sites[1].url, t->lab->sites[2].url);
		if (!atomic_load(&t->interrupted))
			run_trial(t, &s, &v, checks, sizeof(checks));
		else
			snprintf(checks, sizeof(checks), "INTERRUPTED");
	}
	stop_lab(t);
	bool pass = !strcmp(checks, "PASS");
	char classes[128] = "";
	for (int c = 0; c < FC_N && t->classes != SCHED_ALL_CLASSES(t->ha); c++)
		if (t->classes & (1u << c))
			snprintf(classes + strlen(classes), sizeof(classes) - strlen(classes), "%s%s",
				 classes[0] ? "," : " --faults ", sched_class_name((enum fclass)c));
	if (pass && !t->dir_given)
		nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("drchaos: lab kept in %s (logs: %s/*.log); repeat with: drchaos --seed %" PRIu64
		       " --duration %.0f --mode %s%s%s\n", t->dir, t->dir, t->seed, t->duration_s,
		       t->async ? "async" : "sync", t->ha ? " --ha" : "", classes);
	print_summary(t, &v, checks);
	sched_free(&s);
	return atomic_load(&t->interrupted) ? EXIT_INTERRUPTED : pass ? EXIT_PASS : EXIT_FAIL;
}

int main(int argc, char **argv)
{
	static struct trial t;  /* main's own: large */
	for (int i = 0; i < LAB_HA_NODES; i++)
		t.db_damaged_at_s[i] = -1;
	for (int i = 0; i < CHAOS_SITES; i++)
		t.rebuilt_at_s[i] = -1;
	int rc = parse_args(argc, argv, &t);
	if (rc)
		return rc == 1 ? EXIT_PASS : rc;
	signal(SIGPIPE, SIG_IGN);
	if (chttp_global_init()) {
		fprintf(stderr, "drchaos: cannot initialise libcurl\n");
		return EXIT_FAIL;
	}
	pthread_mutex_init(&t.mu, NULL);
	t.runs_seen = json_object();
	t.held = json_object();
	t.rewinds_seen = json_object();
	t.sites_status = json_object();
	snprintf(t.state, sizeof(t.state), "?");
	rc = trial_main(&t);
	lab_free(t.lab);
	for (int w = 0; w < CHAOS_WRITERS; w++)
		free(t.recs[w].v);
	free(t.ops);
	json_decref(t.runs_seen);
	json_decref(t.held);
	for (int i = 0; i < t.ndestroyed; i++)
		json_decref(t.destroyed[i].held_before);
	json_decref(t.rewinds_seen);
	json_decref(t.sites_status);
	return rc;
}
