/*
 * check_drctl.c — end-to-end: the real drctl binary against a real lab it
 * brings up itself (drsite x3, drlink, drorchd; or with --ha drorchd-1..3
 * and etcd-1..3), on loopback.
 *
 * Every lab lives under one root made by main() before the tests fork, so
 * that whatever happens to a test (a failed assertion, a Check timeout that
 * SIGKILLs it) main() can still read each DIR/lab.json afterwards and kill
 * every pid it names.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "operators.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

static char *root;             /* made by main(); every lab is under it */

#define LAB_PIDS 16            /* at least a lab's processes (10 with --ha) */

struct out {
	int code;                  /* exit status; -1 killed or timed out */
	char *stdout_text;
	char *stderr_text;
};

static void out_free(struct out *o)
{
	free(o->stdout_text);
	free(o->stderr_text);
	memset(o, 0, sizeof(*o));
}

/* Starts drctl with argv (NULL-terminated, without argv[0]); stdin is
 * /dev/null, stdout and stderr go to files named after tag. */
static pid_t drctl_spawn_in(const char *tag, const char *const argv[], const char *in_path);

static pid_t drctl_spawn(const char *tag, const char *const argv[])
{
	return drctl_spawn_in(tag, argv, NULL);
}

/* The same with stdin read from in_path (NULL: /dev/null). */
static pid_t drctl_spawn_in(const char *tag, const char *const argv[], const char *in_path)
{
	char *full[32] = { (char *)th_bin("drctl") };
	int n = 1;
	for (int i = 0; argv[i] && n < 31; i++)
		full[n++] = (char *)argv[i];
	full[n] = NULL;
	char outp[600], errp[600];
	snprintf(outp, sizeof(outp), "%s/%s.out", root, tag);
	snprintf(errp, sizeof(errp), "%s/%s.err", root, tag);
	pid_t pid = fork();
	if (pid == 0) {
		int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || o < 0 || e < 0)
			_exit(127);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(full[0], full);
		_exit(127);
	}
	return pid;
}

static struct out drctl_wait(const char *tag, pid_t pid, long timeout_ms)
{
	struct out o = { .code = -1 };
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	int st;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (time_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			st = -1;
			break;
		}
		time_sleep_ms(10);
	}
	if (st != -1 && WIFEXITED(st))
		o.code = WEXITSTATUS(st);
	char path[600];
	snprintf(path, sizeof(path), "%s/%s.out", root, tag);
	o.stdout_text = th_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/%s.err", root, tag);
	o.stderr_text = th_read_file(path, NULL);
	return o;
}

static struct out drctl(const char *const argv[], long timeout_ms)
{
	return drctl_wait("drctl", drctl_spawn("drctl", argv), timeout_ms);
}

/* ---- labs and their cleanup ------------------------------------------------- */

/* SIGKILLs every live pid of every lab under root. */
static void kill_all_labs(void)
{
	DIR *d = root ? opendir(root) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char dir[700];
		pid_t pids[LAB_PIDS];
		snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
		int n = e->d_name[0] == '.' ? -1 : th_lab_pids(dir, pids, LAB_PIDS);
		for (int i = 0; i < n; i++)
			if (pids[i] > 0 && !th_pid_gone(pids[i]))
				kill(pids[i], SIGKILL);
	}
	if (d)
		closedir(d);
}

static char lab_dir[600];

static void setup(void)
{
	static int seq;
	snprintf(lab_dir, sizeof(lab_dir), "%s/lab-%d-%d", root, (int)getpid(), seq++);
	atexit(kill_all_labs);  /* a failed assertion exits the forked test */
}

static void teardown(void)
{
	kill_all_labs();
}

static json_t *lab_json(void)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/lab.json", lab_dir);
	return json_load_file(path, 0, NULL);
}

static json_t *status_json(void)
{
	const char *argv[] = { "--lab", lab_dir, "status", "--json", NULL };
	struct out o = drctl(argv, 10000);
	json_t *j = o.code == 0 ? json_loads(o.stdout_text, 0, NULL) : NULL;
	out_free(&o);
	return j;
}

static void lab_up(void)
{
	/* drorchd inherits this: each step of a run starts 300 ms after its
	 * transition, so the second failover surely meets the first running. */
	setenv("DRORCH_TEST_STEP_MS", "300", 1);
	const char *argv[] = { "lab", "up", "--dir", lab_dir, NULL };
	struct out o = drctl(argv, 45000);
	ck_assert_msg(o.code == 0, "lab up: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
}

/* Waits for a resting state whose primary is not `not`; returns its name. */
static char *wait_new_primary(const char *not, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		json_t *st = status_json();
		const char *s = json_string_value(json_object_get(st, "state"));
		const char *p = json_string_value(json_object_get(st, "primary"));
		char *found = s && p && strcmp(p, not) && (!strcmp(s, "STEADY") || !strcmp(s, "DEGRADED"))
			      ? strdup(p) : NULL;
		json_decref(st);
		if (found)
			return found;
		time_sleep_ms(100);
	}
	return NULL;
}

static bool wait_state(const char *state, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	bool ok = false;
	while (!ok && time_mono_ms() < deadline) {
		json_t *st = status_json();
		ok = !strcmp(json_string_value(json_object_get(st, "state")) ?: "", state);
		json_decref(st);
		if (!ok)
			time_sleep_ms(100);
	}
	return ok;
}

/* ---- tests ------------------------------------------------------------------- */

static void expect_usage(const char *const argv[], const char *needle)
{
	struct out o = drctl(argv, 10000);
	ck_assert_msg(o.code == 2, "%s: exit %d (want 2): %s", argv[0], o.code, o.stderr_text);
	ck_assert_msg(strstr(o.stderr_text, needle), "%s: stderr lacks '%s': %s", argv[0], needle,
		      o.stderr_text);
	out_free(&o);
}

/* Every program says its version and its usage, exit 0 (stdout). */
START_TEST(test_every_binary_answers_version_and_help)
{
	static const char *const bins[] = { "drsite", "drlink", "drorchd", "drctl" };
	for (size_t b = 0; b < sizeof(bins) / sizeof(bins[0]); b++) {
		for (int h = 0; h < 2; h++) {
			char log[700];
			snprintf(log, sizeof(log), "%s/%s-%d.out", root, bins[b], h);
			char *argv[] = { (char *)th_bin(bins[b]), h ? "-h" : "--version", NULL };
			int st = th_wait_exit(th_spawn(argv, log), 5000);
			ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s: status %d", bins[b],
				      argv[1], st);
			char *out = th_read_file(log, NULL);
			ck_assert_msg(out && strstr(out, h ? "usage: " : bins[b]), "%s %s: %s", bins[b],
				      argv[1], out ? out : "(nothing)");
			free(out);
		}
	}
}
END_TEST

START_TEST(test_usage_errors_exit_2_with_a_message)
{
	const char *none[] = { NULL };
	expect_usage(none, "usage: drctl");
	const char *bogus[] = { "bogus", NULL };
	expect_usage(bogus, "unknown command 'bogus'");
	const char *upto[] = { "--url", "http://127.0.0.1:1", "upgrade", "--yes", NULL };
	expect_usage(upto, "--to VERSION (or --rollback) is required");
	const char *both[] = { "--url", "http://127.0.0.1:1", "upgrade", "--rollback", "--to",
			       "0.1.0", "--yes", NULL };
	expect_usage(both, "--rollback takes no --to or --no-finalize");
	const char *nourl[] = { "status", NULL };
	expect_usage(nourl, "--url URL --token-file F, or --lab DIR");
	const char *badopt[] = { "--url", "http://127.0.0.1:1", "runs", "--frobnicate", NULL };
	expect_usage(badopt, "unknown option --frobnicate");
	const char *badrun[] = { "--url", "http://127.0.0.1:1", "audit", "seven", NULL };
	expect_usage(badrun, "RUN: expected a run id");
	const char *sites[] = { "lab", "up", "--sites", "5", NULL };
	expect_usage(sites, "--sites: expected 2 or 3");
	const char *nolab[] = { "lab", "down", "--dir", "/nonexistent/drorch", NULL };
	expect_usage(nolab, "lab.json");
	const char *ack[] = { "--url", "http://127.0.0.1:1", "ack", "3", NULL };
	expect_usage(ack, "--comment TEXT");
	const char *noto[] = { "--url", "http://127.0.0.1:1", "switchover", "--yes", NULL };
	expect_usage(noto, "--to SITE is required");
	const char *fbto[] = { "--url", "http://127.0.0.1:1", "failback", "--to", "x", NULL };
	expect_usage(fbto, "unknown option --to");
	const char *hash[] = { "hash-token", "alice", NULL };
	expect_usage(hash, "hash-token: no token on standard input");
	char tok[600];
	snprintf(tok, sizeof(tok), "%s/alice.token", root);
	tl_write_file(tok, "alice-secret-token\n");
	const char *hashname[] = { "hash-token", "Alice Smith", NULL };
	struct out bn = drctl_wait("hashname", drctl_spawn_in("hashname", hashname, tok), 5000);
	ck_assert_msg(bn.code == 2 && strstr(bn.stderr_text, "operator Alice Smith: a name is"),
		      "hash-token with a bad name: exit %d: %s", bn.code, bn.stderr_text);
	out_free(&bn);
	struct out h = drctl_wait("hash", drctl_spawn_in("hash", hash, tok), 5000);
	/* sha256("alice-secret-token"), as the operators file wants it */
	char want[200], err[100];
	ck_assert_int_eq(operators_line("alice", "alice-secret-token", want, sizeof(want), err,
					sizeof(err)), 0);
	ck_assert_msg(h.code == 0 && !strncmp(h.stdout_text, want, strlen(want)),
		      "hash-token: exit %d: %s%s", h.code, h.stdout_text, h.stderr_text);
	out_free(&h);
	const char *help[] = { "failover", "--help", NULL };
	struct out o = drctl(help, 5000);
	ck_assert_int_eq(o.code, 0);
	ck_assert_ptr_nonnull(strstr(o.stdout_text, "--to SITE"));
	out_free(&o);
	/* Every command's help ends with examples of it. */
	static const char *const commands[] = { "status", "sites", "failover", "switchover",
		"failback", "watch", "pause", "resume", "runs", "audit", "report", "run", "upgrade",
		"approve", "policy", "hash-token", "ack", "wan", "lab", NULL };
	for (int i = 0; commands[i]; i++) {
		const char *h1[] = { commands[i], "-h", NULL };
		o = drctl(h1, 5000);
		ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "examples:\n  drctl ") &&
			      strstr(o.stdout_text, commands[i]),
			      "drctl %s -h: exit %d, no examples: %s", commands[i], o.code,
			      o.stdout_text);
		out_free(&o);
	}
}
END_TEST

static void check_lab_json_contract(void)
{
	json_t *j = lab_json();
	ck_assert_ptr_nonnull(j);
	ck_assert(!strncmp(json_string_value(json_object_get(j, "url")) ?: "", "http://127.0.0.1:", 17));
	ck_assert(!strncmp(json_string_value(json_object_get(j, "drlink")) ?: "", "http://127.0.0.1:", 17));
	const char *tok = json_string_value(json_object_get(j, "token_file"));
	ck_assert_msg(tok && access(tok, R_OK) == 0, "token_file %s", tok);
	json_t *sites = json_object_get(j, "sites");
	ck_assert_int_eq(json_array_size(sites), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *s = json_array_get(sites, i);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(s, "name")));
		ck_assert_ptr_nonnull(json_string_value(json_object_get(s, "url")));
	}
	ck_assert_int_eq(json_array_size(json_object_get(j, "procs")), 5);
	json_decref(j);
}

/* The conditions of one direction of a lab link, as drlink reports them
 * (new ref). */
static json_t *link_dir(const char *link, const char *dir)
{
	json_t *lab = lab_json();
	char url[200], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/links/%s",
		 json_string_value(json_object_get(lab, "drlink")), link);
	json_decref(lab);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *k = json_loads(body, 0, NULL);
	free(body);
	json_t *d = json_incref(json_object_get(json_object_get(k, "conditions"), dir));
	json_decref(k);
	ck_assert_ptr_nonnull(d);
	return d;
}

static long long link_latency(const char *link, const char *dir)
{
	json_t *d = link_dir(link, dir);
	long long ms = json_integer_value(json_object_get(d, "latency_ms"));
	json_decref(d);
	return ms;
}

/* --one-way sets only what flows from A to B; `wan reset` clears every
 * link; `status --watch` prints one JSON line per tick. */
static void check_wan_one_way_reset_and_watch(void)
{
	const char *one[] = { "--lab", lab_dir, "wan", "set", "us-east", "ap-south", "--latency",
			      "30ms", "--one-way", NULL };
	struct out o = drctl(one, 10000);
	ck_assert_msg(o.code == 0, "wan set --one-way: %d %s", o.code, o.stderr_text);
	out_free(&o);
	ck_assert_int_eq(link_latency("us-east.ap-south", "upstream"), 30);
	ck_assert_int_eq(link_latency("us-east.ap-south", "downstream"), 0);
	ck_assert_int_eq(link_latency("ap-south.us-east", "downstream"), 30);
	ck_assert_int_eq(link_latency("ap-south.us-east", "upstream"), 0);
	const char *both[] = { "--lab", lab_dir, "wan", "set", "us-east", "ap-south", "--latency",
			       "5ms", "--delay", "5ms", NULL };
	expect_usage(both, "the same option");
	const char *reset[] = { "--lab", lab_dir, "wan", "reset", NULL };
	o = drctl(reset, 10000);
	ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "links without conditions"),
		      "wan reset: %d %s", o.code, o.stderr_text);
	out_free(&o);
	ck_assert_int_eq(link_latency("us-east.ap-south", "upstream"), 0);
	ck_assert_int_eq(link_latency("us-east.eu-west", "upstream"), 0);
	const char *watch[] = { "--lab", lab_dir, "status", "--watch", "1", "--count", "2", "--json",
				NULL };
	o = drctl(watch, 15000);
	ck_assert_msg(o.code == 0, "status --watch: %d %s", o.code, o.stderr_text);
	int lines = 0;
	for (char *line = o.stdout_text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		json_t *j = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
		ck_assert_msg(j, "status --watch --json: not one object per line: %s", line);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "tick")), ++lines);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "status"),
								     "state")), "STEADY");
		json_decref(j);
	}
	ck_assert_int_eq(lines, 2);
	out_free(&o);
	const char *bad[] = { "--lab", lab_dir, "status", "5", NULL };
	expect_usage(bad, "go with --watch");
	const char *signed_every[] = { "--lab", lab_dir, "status", "--watch", "+1", NULL };
	expect_usage(signed_every, "expected a number of seconds");
	const char *spaced_count[] = { "--lab", lab_dir, "status", "--watch", "1", "--count", " 2",
				       NULL };
	expect_usage(spaced_count, "--count: expected a positive number");
}

/* `wan set` changes the link's conditions as drlink reports them. */
static void check_wan_set(void)
{
	const char *argv[] = { "--lab", lab_dir, "wan", "set", "us-east", "eu-west", "--latency", "80ms",
			       "--jitter", "10ms", "--loss", "1%", "--bandwidth", "1mbit", NULL };
	struct out o = drctl(argv, 10000);
	ck_assert_msg(o.code == 0, "wan set: %d %s", o.code, o.stderr_text);
	out_free(&o);
	json_t *lab = lab_json();
	char url[200], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/links/us-east.eu-west",
		 json_string_value(json_object_get(lab, "drlink")));
	json_decref(lab);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *k = json_loads(body, 0, NULL);
	free(body);
	json_t *up = json_object_get(json_object_get(k, "conditions"), "upstream");
	ck_assert_int_eq(json_integer_value(json_object_get(up, "latency_ms")), 80);
	ck_assert_int_eq(json_integer_value(json_object_get(up, "jitter_ms")), 10);
	ck_assert_int_eq(json_integer_value(json_object_get(up, "bandwidth_kbps")), 1000);
	ck_assert(json_number_value(json_object_get(up, "loss_pct")) == 1.0);
	json_decref(k);
	/* drorchd shows the same through GET /v1/wan (the status page's WAN table). */
	lab = lab_json();
	snprintf(url, sizeof(url), "%s/v1/wan", json_string_value(json_object_get(lab, "url")));
	json_decref(lab);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *wan = json_loads(body, 0, NULL);
	free(body);
	ck_assert_int_eq(json_array_size(json_object_get(wan, "links")), 9);
	size_t li;
	json_t *link;
	bool seen = false;
	json_array_foreach(json_object_get(wan, "links"), li, link)
		if (!strcmp(json_string_value(json_object_get(link, "name")) ?: "", "us-east.eu-west"))
			seen = json_integer_value(json_object_get(json_object_get(json_object_get(
				link, "conditions"), "upstream"), "latency_ms")) == 80;
	ck_assert_msg(seen, "GET /v1/wan does not show us-east.eu-west at 80 ms");
	json_decref(wan);
	/* --delay, the older spelling, still sets the latency. */
	const char *reset[] = { "--lab", lab_dir, "wan", "set", "eu-west", "us-east", "--delay", "0",
				"--jitter", "0", "--loss", "0", "--bandwidth", "0", NULL };
	o = drctl(reset, 10000);
	ck_assert_int_eq(o.code, 0);
	out_free(&o);
	ck_assert_int_eq(link_latency("us-east.eu-west", "upstream"), 0);
	check_wan_one_way_reset_and_watch();
}

/* `run`: a bad playbook file is refused with FILE:LINE:COLUMN and exit 2;
 * the example drill's dry run plans it (exit 0, {"run": ID, ...}). */
static void check_run_dry(void)
{
	char bad[700];
	snprintf(bad, sizeof(bad), "%s/bad-playbook.yaml", root);
	tl_write_file(bad, "name: bad\nsteps:\n  - switchover: {to: mars}\n");
	const char *argv[] = { "--lab", lab_dir, "run", bad, "--yes", NULL };
	struct out o = drctl(argv, 10000);
	ck_assert_msg(o.code == 2 && strstr(o.stderr_text, "bad-playbook.yaml:3:"),
		      "bad playbook: exit %d: %s", o.code, o.stderr_text);
	out_free(&o);
	const char *dry[] = { "--lab", lab_dir, "run", th_src("playbooks/examples/switchover-drill.yaml"),
			      "--dry-run", "--json", NULL };
	o = drctl(dry, 10000);
	json_t *j = json_loads(o.stdout_text, 0, NULL);
	ck_assert_msg(o.code == 0 && j && json_integer_value(json_object_get(j, "run")) > 0,
		      "dry run: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	json_decref(j);
	out_free(&o);
}

/* `policy`: a bad file is refused with FILE:LINE:COLUMN and exit 2 (nothing
 * changed); diff names what a file would change (exit 1) or says nothing
 * would (exit 0); apply puts it in force; show prints it. */
static void check_policy_cmds(void)
{
	char bad[700];
	snprintf(bad, sizeof(bad), "%s/bad-policy.yaml", root);
	tl_write_file(bad, "name: bad\nreplication: {quorum: 3}\n");  /* 2 replicas in the lab */
	const char *apply_bad[] = { "--lab", lab_dir, "policy", "apply", bad, "--yes", NULL };
	struct out o = drctl(apply_bad, 10000);
	ck_assert_msg(o.code == 2 && strstr(o.stderr_text, "bad-policy.yaml:2:23: quorum: 3"),
		      "bad policy: exit %d: %s", o.code, o.stderr_text);
	out_free(&o);
	const char *file = th_src("policies/examples/sync-zero-rpo.yaml");
	const char *diff[] = { "--lab", lab_dir, "policy", "diff", file, NULL };
	o = drctl(diff, 10000);
	ck_assert_msg(o.code == 1 && strstr(o.stdout_text, "name: \"default\" -> \"sync-zero-rpo\"") &&
		      strstr(o.stdout_text, "rpo.max_ms: 5000 -> 1000"),
		      "policy diff: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	const char *apply[] = { "--lab", lab_dir, "policy", "apply", file, "--yes", NULL };
	o = drctl(apply, 10000);
	ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "policy sync-zero-rpo in force"),
		      "policy apply: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	o = drctl(diff, 10000);
	ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "no change"),
		      "policy diff after apply: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	const char *show[] = { "--lab", lab_dir, "policy", "show", NULL };
	o = drctl(show, 10000);
	ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "\"sync-zero-rpo\""),
		      "policy show: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	const char *usage[] = { "--lab", lab_dir, "policy", "diff", NULL };
	expect_usage(usage, "usage: drctl policy show");
}

static pid_t pid_of(const char *name)
{
	json_t *j = lab_json();
	size_t i;
	json_t *p;
	pid_t pid = -1;
	json_array_foreach(json_object_get(j, "procs"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), name))
			pid = (pid_t)json_integer_value(json_object_get(p, "pid"));
	json_decref(j);
	return pid;
}

/* One operator failover to `to` while a second is refused with drorchd's 409. */
static void check_operator_failover(const char *to)
{
	const char *first[] = { "--lab", lab_dir, "failover", "--to", to, "--yes", NULL };
	pid_t bg = drctl_spawn("first", first);
	uint64_t deadline = time_mono_ms() + 10000;
	bool running = false;
	while (!running && time_mono_ms() < deadline) {
		json_t *st = status_json();
		const char *s = json_string_value(json_object_get(st, "state"));
		running = s && strcmp(s, "STEADY") && strcmp(s, "DEGRADED");
		json_decref(st);
	}
	ck_assert_msg(running, "the operator failover never showed as running");
	const char *second[] = { "--lab", lab_dir, "failover", "--yes", NULL };
	struct out o = drctl(second, 10000);
	ck_assert_msg(o.code == 1 && strstr(o.stderr_text, "409") &&
		      strstr(o.stderr_text, "already running"),
		      "second failover: exit %d: %s", o.code, o.stderr_text);
	out_free(&o);
	o = drctl_wait("first", bg, 30000);
	ck_assert_msg(o.code == 0, "failover --to %s: exit %d: %s%s", to, o.code, o.stdout_text,
		      o.stderr_text);
	ck_assert_ptr_nonnull(strstr(o.stdout_text, "REDIRECTING"));  /* the progress lines */
	out_free(&o);
	json_t *st = status_json();
	ck_assert_str_eq(json_string_value(json_object_get(st, "primary")), to);
	json_decref(st);
}

/* A planned switchover back to `to`, watched to its end; asked of drorchd
 * at url with the lab's token (NULL: --lab). */
static void check_switchover_at(const char *url, const char *to)
{
	json_t *lab = lab_json();
	const char *token = json_string_value(json_object_get(lab, "token_file"));
	const char *at_lab[] = { "--lab", lab_dir, "switchover", "--to", to, "--yes", "--json", NULL };
	const char *at_url[] = { "--url", url, "--token-file", token, "switchover", "--to", to, "--yes",
				 "--json", NULL };
	struct out o = drctl(url ? at_url : at_lab, 30000);
	json_decref(lab);
	json_t *j = json_loads(o.stdout_text, 0, NULL);
	ck_assert_msg(o.code == 0 && j, "switchover --to %s: exit %d: %s%s", to, o.code,
		      o.stdout_text, o.stderr_text);
	json_t *run = json_object_get(j, "run");
	ck_assert_str_eq(json_string_value(json_object_get(run, "kind")), "switchover");
	ck_assert_str_eq(json_string_value(json_object_get(run, "outcome")), "succeeded");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "status"), "primary")), to);
	json_decref(j);
	out_free(&o);
}

static void check_switchover(const char *to)
{
	check_switchover_at(NULL, to);
}

/* `lab down` of a lab of nprocs processes: every one of them is gone. */
static void check_lab_down(int nprocs)
{
	pid_t pids[LAB_PIDS];
	int n = th_lab_pids(lab_dir, pids, LAB_PIDS);
	ck_assert_int_eq(n, nprocs);
	const char *argv[] = { "lab", "down", "--dir", lab_dir, NULL };
	struct out o = drctl(argv, 30000);
	ck_assert_msg(o.code == 0, "lab down: %d %s", o.code, o.stderr_text);
	out_free(&o);
	for (int i = 0; i < n; i++)
		ck_assert_msg(th_pid_gone(pids[i]), "pid %d alive after lab down", (int)pids[i]);
}

START_TEST(test_lab_kill_failover_audit_wan_and_down)
{
	lab_up();
	check_lab_json_contract();
	json_t *st = status_json();
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "STEADY");
	ck_assert_str_eq(json_string_value(json_object_get(st, "primary")), "us-east");
	json_decref(st);
	check_wan_set();
	check_run_dry();
	check_policy_cmds();

	const char *noyes[] = { "--lab", lab_dir, "failover", NULL };
	expect_usage(noyes, "pass --yes");

	pid_t old = pid_of("us-east");
	const char *kill9[] = { "--lab", lab_dir, "lab", "kill", "us-east", NULL };
	struct out o = drctl(kill9, 10000);
	ck_assert_msg(o.code == 0, "lab kill: %s", o.stderr_text);
	out_free(&o);
	ck_assert(th_pid_gone(old));
	char *moved = wait_new_primary("us-east", 20000);
	ck_assert_msg(moved, "no automatic failover after lab kill");

	const char *audit[] = { "--lab", lab_dir, "audit", "--json", NULL };
	o = drctl(audit, 10000);
	json_t *a = json_loads(o.stdout_text, 0, NULL);
	ck_assert_msg(o.code == 0 && a, "audit: %d %s", o.code, o.stderr_text);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "run"), "kind")), "failover");
	ck_assert(json_array_size(json_object_get(a, "transitions")) >= 4);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(a, "targets"), "rto_ms"));
	json_decref(a);
	out_free(&o);

	const char *start[] = { "--lab", lab_dir, "lab", "start", "us-east", NULL };
	o = drctl(start, 20000);
	ck_assert_msg(o.code == 0, "lab start: %s", o.stderr_text);
	out_free(&o);
	ck_assert_msg(wait_state("STEADY", 20000), "us-east did not rejoin: cluster not STEADY");

	const char *to = strcmp(moved, "eu-west") ? "eu-west" : "ap-south";
	free(moved);
	check_operator_failover(to);
	check_switchover("us-east");
	check_lab_down(5);
}
END_TEST

/* POST /v1/admin/faults on the first site of lab.json, with the site token;
 * returns the HTTP status. */
static long post_site_faults(const char *body)
{
	json_t *j = lab_json();
	const char *url = json_string_value(json_object_get(json_array_get(json_object_get(j, "sites"), 0),
							    "url"));
	size_t len = 0;
	char *token = th_read_file(json_string_value(json_object_get(j, "site_token_file")), &len);
	ck_assert_ptr_nonnull(url);
	ck_assert_ptr_nonnull(token);
	while (len && (token[len - 1] == '\n' || token[len - 1] == '\r'))
		token[--len] = '\0';
	char full[200];
	snprintf(full, sizeof(full), "%s/v1/admin/faults", url);
	long st = th_http("POST", full, token, body, strlen(body), NULL, NULL);
	free(token);
	json_decref(j);
	return st;
}

/* `lab up` on a running lab is refused (exit 1) and changes nothing: lab.json
 * keeps every pid byte for byte, every process keeps running, and `lab down`
 * then stops all five for real.  --enable-faults reaches every drsite. */
START_TEST(test_lab_up_on_a_running_lab_is_refused_and_changes_nothing)
{
	const char *up[] = { "lab", "up", "--dir", lab_dir, "--enable-faults", NULL };
	struct out o = drctl(up, 45000);
	ck_assert_msg(o.code == 0, "lab up: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	ck_assert_int_eq(post_site_faults("{\"slow_fsync_ms\":1}"), 200);
	ck_assert_int_eq(post_site_faults("{\"clear\":true}"), 200);

	char path[700];
	snprintf(path, sizeof(path), "%s/lab.json", lab_dir);
	char *before = th_read_file(path, NULL);
	ck_assert_ptr_nonnull(before);
	pid_t pids[8];
	ck_assert_int_eq(th_lab_pids(lab_dir, pids, 8), 5);

	const char *again[] = { "lab", "up", "--dir", lab_dir, NULL };
	o = drctl(again, 45000);
	ck_assert_msg(o.code == 1 && strstr(o.stderr_text, "a lab is running here"),
		      "second lab up: exit %d: %s", o.code, o.stderr_text);
	out_free(&o);
	char *after = th_read_file(path, NULL);
	ck_assert_msg(after && !strcmp(before, after), "lab.json changed:\n%s\n---\n%s", before, after);
	free(before);
	free(after);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(!th_pid_gone(pids[i]), "pid %d died after the refused lab up", (int)pids[i]);

	/* kill and start keep lab.json's pids current */
	const char *kill9[] = { "--lab", lab_dir, "lab", "kill", "eu-west", NULL };
	o = drctl(kill9, 10000);
	ck_assert_msg(o.code == 0, "lab kill: %s", o.stderr_text);
	out_free(&o);
	ck_assert_int_eq(pid_of("eu-west"), 0);
	const char *start[] = { "--lab", lab_dir, "lab", "start", "eu-west", NULL };
	o = drctl(start, 20000);
	ck_assert_msg(o.code == 0, "lab start: %s", o.stderr_text);
	out_free(&o);
	pid_t restarted = pid_of("eu-west");
	ck_assert_msg(restarted > 0 && !th_pid_gone(restarted), "lab.json's eu-west pid %d", (int)restarted);
	check_lab_down(5);
}
END_TEST

/* The argv[0] lab.json records for process name. */
static char *argv0_of(const char *name)
{
	json_t *j = lab_json();
	size_t i;
	json_t *p;
	char *out = NULL;
	json_array_foreach(json_object_get(j, "procs"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")) ?: "", name))
			out = strdup(json_string_value(json_array_get(json_object_get(p, "argv"), 0)) ?: "");
	json_decref(j);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* Every site of lab.json runs program prog (argv[0] ends with "/prog") and
 * says version in its /v1/status. */
static void check_sites_on(const char *prog, const char *version)
{
	json_t *j = lab_json();
	size_t i;
	json_t *site;
	char tail[64];
	snprintf(tail, sizeof(tail), "/%s", prog);
	json_array_foreach(json_object_get(j, "sites"), i, site) {
		const char *name = json_string_value(json_object_get(site, "name"));
		char *a0 = argv0_of(name), url[200], *body = NULL;
		size_t n = strlen(a0), t = strlen(tail);
		ck_assert_msg(n >= t && !strcmp(a0 + n - t, tail), "%s runs %s, not %s", name, a0, prog);
		free(a0);
		snprintf(url, sizeof(url), "%s/v1/status", json_string_value(json_object_get(site, "url")));
		ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
		json_t *st = json_loads(body, 0, NULL);
		free(body);
		ck_assert_str_eq(json_string_value(json_object_get(st, "version")) ?: "", version);
		json_decref(st);
	}
	json_decref(j);
}

/* LAB.yaml's drsite_version: checked (FILE:LINE:COLUMN, exit 2, nothing
 * started), and a lab at 0.1.0 upgraded by drctl, which restarts each site
 * on drsite, then rolled back onto drsite-0.1.0, lab.json following. */
START_TEST(test_lab_upgrade_swaps_real_binaries)
{
	char spec[700];
	snprintf(spec, sizeof(spec), "%s/lab-%d.yaml", root, (int)getpid());
	tl_write_file(spec, "drsite_version: 0.2\n");
	const char *up[] = { "lab", "up", "--dir", lab_dir, spec, NULL };
	struct out o = drctl(up, 10000);
	ck_assert_msg(o.code == 2 && strstr(o.stderr_text, ".yaml:1:17: drsite_version: expected X.Y.Z"),
		      "drsite_version: 0.2: exit %d: %s", o.code, o.stderr_text);
	out_free(&o);
	tl_write_file(spec, "drsite_version: 0.3.0\n");
	o = drctl(up, 10000);
	ck_assert_msg(o.code == 2 && strstr(o.stderr_text, ".yaml:1:17: drsite_version: no drsite "
					    "binary for version 0.3.0: have 0.2.0 (drsite) and "
					    "0.1.0 (drsite-0.1.0)"),
		      "drsite_version: 0.3.0: exit %d: %s", o.code, o.stderr_text);
	out_free(&o);
	ck_assert_int_lt(th_lab_pids(lab_dir, (pid_t[8]){ 0 }, 8), 1);  /* nothing started */

	tl_write_file(spec, "drsite_version: 0.1.0\n");
	o = drctl(up, 45000);
	ck_assert_msg(o.code == 0, "lab up: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	check_sites_on("drsite-0.1.0", "0.1.0");

	const char *upgrade[] = { "--lab", lab_dir, "upgrade", "--to", "0.2.0", "--no-finalize",
				  "--yes", NULL };
	o = drctl(upgrade, 80000);
	ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "lab: restarting eu-west on drsite (0.2.0)") &&
		      strstr(o.stdout_text, "lab: restarting us-east on drsite (0.2.0)"),
		      "upgrade: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	check_sites_on("drsite", "0.2.0");
	/* The upgrade's report (the newest run): its path through UPGRADING,
	 * as a self-contained page. */
	const char *report[] = { "--lab", lab_dir, "report", "--format", "html", NULL };
	o = drctl(report, 20000);
	ck_assert_msg(o.code == 0 && strstr(o.stdout_text, "<svg") &&
		      strstr(o.stdout_text, "UPGRADING") && strstr(o.stdout_text, "upgrade") &&
		      !strstr(o.stdout_text, "<script"),
		      "upgrade report: exit %d: %.300s", o.code, o.stderr_text);
	out_free(&o);

	const char *rollback[] = { "--lab", lab_dir, "upgrade", "--rollback", "--yes", NULL };
	o = drctl(rollback, 80000);
	ck_assert_msg(o.code == 0 &&
		      strstr(o.stdout_text, "lab: restarting us-east on drsite-0.1.0 (0.1.0)"),
		      "rollback: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	check_sites_on("drsite-0.1.0", "0.1.0");
	check_lab_down(5);
}
END_TEST

/* ---- the playbook library ------------------------------------------------ */

/* An integer field of o as text, "-" when it is not one (static buffer). */
static const char *figure(const json_t *o, const char *key)
{
	static char buf[4][32];
	static int n;
	char *out = buf[n++ % 4];
	json_t *v = json_object_get(o, key);
	snprintf(out, sizeof(buf[0]), json_is_integer(v) ? "%lld" : "-",
		 (long long)json_integer_value(v));
	return out;
}

/* Runs playbooks/library/NAME.yaml on the lab with drctl (which swaps
 * binaries for a rolling upgrade); fails unless it succeeded.  Prints its
 * figures: the closing note's table comes from these lines. */
static long long run_library(const char *name)
{
	char rel[160], tag[96];
	snprintf(rel, sizeof(rel), "playbooks/library/%s.yaml", name);
	snprintf(tag, sizeof(tag), "run-%s", name);
	const char *argv[] = { "--lab", lab_dir, "run", th_src(rel), "--yes", "--json",
			       "--timeout", "150", NULL };
	uint64_t t0 = time_mono_ms();
	struct out o = drctl_wait(tag, drctl_spawn(tag, argv), 160000);
	json_t *j = json_loads(o.stdout_text ? o.stdout_text : "", 0, NULL);
	json_t *run = json_object_get(j, "detail");
	json_t *load = json_object_get(json_object_get(run, "detail"), "write_load");
	char *steps = json_dumps(json_object_get(run, "steps"), JSON_COMPACT);
	ck_assert_msg(o.code == 0 && !strcmp(json_string_value(json_object_get(run, "outcome")) ?: "",
					     "succeeded"),
		      "%s: exit %d: %s%s\nsteps: %s", name, o.code, o.stdout_text, o.stderr_text,
		      steps ? steps : "");
	ck_assert_msg(json_is_true(json_object_get(load, "checked")) &&
		      json_integer_value(json_object_get(load, "acked")) > 0 &&
		      json_integer_value(json_object_get(load, "lost")) == 0,
		      "%s: write load: %s", name, o.stdout_text);
	printf("library %-26s %5.1f s  RPO %s records / %s ms  RTO %s ms  acked %lld lost %lld "
	       "in doubt %lld  availability %.3f  longest gap %lld ms\n", name,
	       (double)(time_mono_ms() - t0) / 1000.0, figure(run, "rpo_records"),
	       figure(run, "rpo_ms"), figure(run, "rto_ms"),
	       (long long)json_integer_value(json_object_get(load, "acked")),
	       (long long)json_integer_value(json_object_get(load, "lost")),
	       (long long)json_integer_value(json_object_get(load, "in_doubt")),
	       json_real_value(json_object_get(load, "availability")),
	       (long long)json_integer_value(json_object_get(load, "longest_gap_ms")));
	fflush(stdout);
	long long id = json_integer_value(json_object_get(run, "id"));
	free(steps);
	json_decref(j);
	out_free(&o);
	return id;
}

/* `drctl report RUN --format FMT -o FILE` on the lab: exit 0 and the file
 * holds every needle (NULL-terminated). */
static void expect_report(long long run, const char *fmt, const char *const needles[])
{
	char ids[32], file[700];
	snprintf(ids, sizeof(ids), "%lld", run);
	snprintf(file, sizeof(file), "%s/report-%lld.%s", lab_dir, run, fmt);
	const char *argv[] = { "--lab", lab_dir, "report", ids, "--format", fmt, "-o", file, NULL };
	struct out o = drctl(argv, 20000);
	ck_assert_msg(o.code == 0, "report %lld: exit %d: %s", run, o.code, o.stderr_text);
	out_free(&o);
	char *text = th_read_file(file, NULL);
	for (int i = 0; needles[i]; i++)
		ck_assert_msg(text && strstr(text, needles[i]), "report %lld (%s) lacks '%s'", run, fmt,
			      needles[i]);
	free(text);
}

/* Every playbook of playbooks/library, in turn on one lab that starts on
 * drsite 0.1.0 (the rolling upgrade first), with faults enabled (the grey
 * failure) and no anti-flapping window (the drills fail over one after
 * another); failback brings the primary home after each failover. */
START_TEST(test_library_playbooks_on_a_lab)
{
	char spec[700];
	snprintf(spec, sizeof(spec), "%s/library-%d.yaml", root, (int)getpid());
	tl_write_file(spec, "drsite_version: 0.1.0\nenable_faults: true\n"
			    "policy: {name: drills, failover: {anti_flap_s: 0}}\n");
	const char *up[] = { "lab", "up", "--dir", lab_dir, spec, NULL };
	struct out o = drctl(up, 45000);
	ck_assert_msg(o.code == 0, "lab up: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	static const char *const order[] = {
		"rolling-upgrade", "planned-switchover", "wan-degradation-drill",
		"regional-failover", "failback", "partition-election-drill", "failback",
		"grey-failure-drill", "failback",
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		long long run = run_library(order[i]);
		/* The switchover drill's report: its path through SWITCHOVER (the
		 * runs it started are in its audit) and what the writers saw. */
		if (!strcmp(order[i], "planned-switchover"))
			expect_report(run, "md", (const char *const[]){ "SWITCHOVER", "lost", "audit",
									 NULL });
	}
	check_lab_down(5);
}
END_TEST

/* ---- an HA lab: drorchd-1..3 through etcd-1..3 ------------------------------ */

#define HA_LEASE_MS 3000       /* the lab's default lease_ttl_ms */
#define LAB_ETCD_ELECTION_MS 500  /* the lab's etcd --election-timeout */

/* The index of the only instance of urls (lab.json's) answering
 * /healthz/leader 200, else -1. */
static int only_leader(json_t *urls)
{
	int leader = -1, n = 0;
	for (size_t i = 0; i < json_array_size(urls); i++) {
		char url[200];
		snprintf(url, sizeof(url), "%s/healthz/leader", json_string_value(json_array_get(urls, i)));
		if (th_http("GET", url, NULL, NULL, 0, NULL, NULL) == 200) {
			leader = (int)i;
			n++;
		}
	}
	return n == 1 ? leader : -1;
}

/* Polls until only_leader names an instance other than `not` (-1: any);
 * that index, or -1 after timeout_ms. */
static int wait_leader(json_t *urls, int not, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int leader = only_leader(urls);
		if (leader >= 0 && leader != not)
			return leader;
		if (time_mono_ms() >= deadline)
			return -1;
		time_sleep_ms(50);
	}
}

/* The role instance url's /healthz names (static storage; "" if none). */
static const char *role_of(const char *url)
{
	static char role[32];
	char u[200], *body = NULL;
	snprintf(u, sizeof(u), "%s/healthz", url);
	long st = th_http("GET", u, NULL, NULL, 0, &body, NULL);
	json_t *j = st == 200 && body ? json_loads(body, 0, NULL) : NULL;
	snprintf(role, sizeof(role), "%s", json_string_value(json_object_get(j, "role")) ?: "");
	json_decref(j);
	free(body);
	return role;
}

/* lab.json of an HA lab: etcd-1..3 and drorchd-1..3 with live pids, no
 * lone "drorchd", three urls (the first is url), dbs and etcd URLs. */
static void check_ha_lab_json(json_t *j)
{
	static const char *const want[][2] = {
		{ "etcd-1", "etcd" }, { "etcd-2", "etcd" }, { "etcd-3", "etcd" },
		{ "drorchd-1", "drorchd" }, { "drorchd-2", "drorchd" }, { "drorchd-3", "drorchd" },
	};
	json_t *urls = json_object_get(j, "urls");
	ck_assert_int_eq(json_array_size(urls), 3);
	ck_assert_int_eq(json_array_size(json_object_get(j, "dbs")), 3);
	ck_assert_int_eq(json_array_size(json_object_get(j, "etcd")), 3);
	ck_assert_str_eq(json_string_value(json_array_get(urls, 0)),
			 json_string_value(json_object_get(j, "url")));
	ck_assert_int_eq(pid_of("drorchd"), -1);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		size_t i;
		json_t *p, *found = NULL;
		json_array_foreach(json_object_get(j, "procs"), i, p)
			if (!strcmp(json_string_value(json_object_get(p, "name")), want[k][0]))
				found = p;
		ck_assert_msg(found, "lab.json names no %s", want[k][0]);
		ck_assert_str_eq(json_string_value(json_object_get(found, "kind")), want[k][1]);
		pid_t pid = (pid_t)json_integer_value(json_object_get(found, "pid"));
		ck_assert_msg(pid > 0 && !th_pid_gone(pid), "%s: pid %d not running", want[k][0], (int)pid);
	}
}

/* `drctl lab status --json` of an HA lab: ten processes alive, and three
 * instances of which exactly one is the leader. */
static void check_ha_lab_status(void)
{
	const char *argv[] = { "--lab", lab_dir, "lab", "status", "--json", NULL };
	struct out o = drctl(argv, 20000);
	json_t *j = o.code == 0 ? json_loads(o.stdout_text, 0, NULL) : NULL;
	ck_assert_msg(j, "lab status --json: exit %d: %s", o.code, o.stderr_text);
	size_t i, alive = 0, leaders = 0;
	json_t *e;
	json_array_foreach(json_object_get(j, "procs"), i, e)
		alive += json_is_true(json_object_get(e, "alive"));
	json_array_foreach(json_object_get(j, "instances"), i, e)
		leaders += !strcmp(json_string_value(json_object_get(e, "role")) ?: "", "leader");
	ck_assert_int_eq(alive, 10);
	ck_assert_int_eq(json_array_size(json_object_get(j, "instances")), 3);
	ck_assert_int_eq(leaders, 1);
	json_decref(j);
	out_free(&o);
}

/* Runs `drctl --lab DIR lab kill|start NAME`; fails the test unless exit 0. */
static void lab_one(const char *action, const char *name)
{
	const char *argv[] = { "--lab", lab_dir, "lab", action, name, NULL };
	struct out o = drctl(argv, 20000);
	ck_assert_msg(o.code == 0, "lab %s %s: exit %d: %s", action, name, o.code, o.stderr_text);
	out_free(&o);
}

/* kill -9 of an etcd member and `lab start`: it rejoins on its data dir
 * with its recorded argv (--initial-cluster-state new, ignored with data). */
static void check_etcd_restart(json_t *j)
{
	const char *etcd2 = json_string_value(json_array_get(json_object_get(j, "etcd"), 1));
	char health[200];
	snprintf(health, sizeof(health), "%s/health", etcd2);
	lab_one("kill", "etcd-2");
	ck_assert_msg(th_http("GET", health, NULL, NULL, 0, NULL, NULL) == 0, "etcd-2 answers after kill");
	lab_one("start", "etcd-2");
	ck_assert_msg(th_wait_http(health, 200, 5000), "etcd-2 not healthy after lab start");
	/* If etcd-2 led etcd, its loss moved etcd's leadership, and a new etcd
	 * leader re-arms every lease for its TTL + etcd's election timeout: a
	 * takeover then takes up to that much longer (docs/ha.md).  Let those
	 * re-armed expiries pass, so the next step measures a settled etcd. */
	time_sleep_ms(HA_LEASE_MS + LAB_ETCD_ELECTION_MS);
}

/* Each instance reaches each etcd member through its own drlink link
 * drorchd-N.etcd-M (upstream: the member's client address), and its config
 * lists those links as its etcd endpoints. */
static void check_etcd_links(json_t *j)
{
	json_t *etcd = json_object_get(j, "etcd"), *links = json_object_get(j, "links");
	for (int n = 1; n <= 3; n++) {
		char path[700], *yaml;
		snprintf(path, sizeof(path), "%s/drorchd-%d.yaml", lab_dir, n);
		yaml = th_read_file(path, NULL);
		ck_assert_ptr_nonnull(yaml);
		for (int m = 1; m <= 3; m++) {
			char name[64], want[200];
			size_t i;
			json_t *k, *found = NULL;
			snprintf(name, sizeof(name), "drorchd-%d.etcd-%d", n, m);
			json_array_foreach(links, i, k)
				if (!strcmp(json_string_value(json_object_get(k, "name")) ?: "", name))
					found = k;
			ck_assert_msg(found, "lab.json has no link %s", name);
			ck_assert_str_eq(json_string_value(json_object_get(found, "upstream")),
					 json_string_value(json_array_get(etcd, (size_t)m - 1)) + 7);
			snprintf(want, sizeof(want), "\"http://%s\"",
				 json_string_value(json_object_get(found, "listen")));
			ck_assert_msg(strstr(yaml, want), "%s does not list %s (%s)", path, want, name);
		}
		free(yaml);
	}
}

/* Blackholes (cut) or heals instance i's three links to etcd. */
static void cut_from_etcd(json_t *j, int i, bool cut)
{
	const char *drlink = json_string_value(json_object_get(j, "drlink"));
	const char *body = cut ? "{\"partition\":\"blackhole\"}" : "{\"partition\":\"none\"}";
	for (int m = 1; m <= 3; m++) {
		char url[300];
		snprintf(url, sizeof(url), "%s/v1/links/drorchd-%d.etcd-%d/conditions", drlink, i + 1, m);
		ck_assert_int_eq(th_http("PUT", url, NULL, body, strlen(body), NULL, NULL), 200);
	}
}

/* The leader cut off from etcd alone (its own links): another leads within
 * the lease + 1 s; healed, it follows.  Returns its URL (a follower's). */
static const char *check_leader_cut_from_etcd(json_t *j)
{
	json_t *urls = json_object_get(j, "urls");
	int leader = wait_leader(urls, -1, 5000);
	ck_assert_int_ge(leader, 0);
	cut_from_etcd(j, leader, true);
	uint64_t t0 = time_mono_ms();
	int next = wait_leader(urls, leader, HA_LEASE_MS + 1000);
	cut_from_etcd(j, leader, false);
	ck_assert_msg(next >= 0, "no other leader within %d ms of cutting drorchd-%d from etcd",
		      HA_LEASE_MS + 1000, leader + 1);
	printf("lab ha: drorchd-%d cut off from etcd, drorchd-%d leads after %llu ms\n", leader + 1,
	       next + 1, (unsigned long long)(time_mono_ms() - t0));
	const char *back = json_string_value(json_array_get(urls, (size_t)leader));
	uint64_t deadline = time_mono_ms() + 5000;
	while (strcmp(role_of(back), "follower") && time_mono_ms() < deadline)
		time_sleep_ms(50);
	ck_assert_str_eq(role_of(back), "follower");
	ck_assert_int_eq(only_leader(urls), next);
	return back;
}

/* `drctl lab up --ha` on the default lab: every instance answers /healthz
 * and exactly one /healthz/leader; kill -9 of the leader hands the lead to
 * another instance within the lease + 1 s; `lab start` brings it back as a
 * follower; the leader cut off from etcd through its own links does the
 * same; a switchover asked of a follower (drctl follows its 307) and one
 * through --lab; lab down stops all ten processes. */
START_TEST(test_lab_ha_leader_killed_another_leads)
{
	const char *up[] = { "lab", "up", "--ha", "--dir", lab_dir, NULL };
	uint64_t t0 = time_mono_ms();
	struct out o = drctl(up, 60000);
	ck_assert_msg(o.code == 0, "lab up --ha: exit %d: %s%s", o.code, o.stdout_text, o.stderr_text);
	out_free(&o);
	printf("lab up --ha: STEADY with one leader in %llu ms\n", (unsigned long long)(time_mono_ms() - t0));
	json_t *j = lab_json();
	check_ha_lab_json(j);
	check_etcd_links(j);
	json_t *urls = json_object_get(j, "urls");
	for (size_t i = 0; i < json_array_size(urls); i++) {
		const char *role = role_of(json_string_value(json_array_get(urls, i)));
		ck_assert_msg(!strcmp(role, "leader") || !strcmp(role, "follower") ||
			      !strcmp(role, "candidate"), "drorchd-%zu /healthz role '%s'", i + 1, role);
	}
	int leader = wait_leader(urls, -1, 2000);
	ck_assert_msg(leader >= 0, "not exactly one instance answers /healthz/leader 200");
	check_ha_lab_status();

	char name[32];
	snprintf(name, sizeof(name), "drorchd-%d", leader + 1);
	lab_one("kill", name);
	t0 = time_mono_ms();
	int next = wait_leader(urls, leader, HA_LEASE_MS + 1000);
	uint64_t took = time_mono_ms() - t0;
	ck_assert_msg(next >= 0, "no other leader within %d ms of kill -9 %s", HA_LEASE_MS + 1000, name);
	printf("lab ha: %s killed, drorchd-%d leads after %llu ms\n", name, next + 1,
	       (unsigned long long)took);
	lab_one("start", name);
	const char *back = json_string_value(json_array_get(urls, (size_t)leader));
	uint64_t deadline = time_mono_ms() + 5000;
	while (strcmp(role_of(back), "follower") && time_mono_ms() < deadline)
		time_sleep_ms(50);
	ck_assert_str_eq(role_of(back), "follower");
	ck_assert_int_eq(only_leader(urls), next);

	check_etcd_restart(j);
	back = check_leader_cut_from_etcd(j);
	check_switchover_at(back, "eu-west");  /* a follower: drctl follows its 307 */
	check_switchover("us-east");
	json_decref(j);
	check_lab_down(10);
}
END_TEST

static Suite *drctl_suite(void)
{
	Suite *s = suite_create("drctl");
	TCase *tc = th_tcase(s, "cli", 0, 90, setup, teardown);
	tcase_add_test(tc, test_every_binary_answers_version_and_help);
	tcase_add_test(tc, test_usage_errors_exit_2_with_a_message);
	tcase_add_test(tc, test_lab_kill_failover_audit_wan_and_down);
	tcase_add_test(tc, test_lab_up_on_a_running_lab_is_refused_and_changes_nothing);
	tcase_add_test(tc, test_lab_upgrade_swaps_real_binaries);
	tc = th_tcase(s, "ha", 0, 120, setup, teardown);
	tcase_add_test(tc, test_lab_ha_leader_killed_another_leads);
	tc = th_tcase(s, "library", 0, 420, setup, teardown);
	tcase_add_test(tc, test_library_playbooks_on_a_lab);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), cli, library and ha run at
 * once, each in its own labs (ha's takeover bound, the lease + 1 s, holds
 * beside them: they mostly wait). */
int main(void)
{
	Suite *s = drctl_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	httpc_global_init();
	root = th_mkdtemp("check_drctl");
	if (!root)
		return EXIT_FAILURE;
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	kill_all_labs();
	if (!failed)
		th_rmrf(root);
	else
		fprintf(stderr, "check_drctl: logs kept in %s\n", root);
	free(root);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
