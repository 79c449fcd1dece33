/*
 * lifebench.c — drorch's lifecycles under client write load, beside
 * Redis Sentinel doing the same in the same run (bench/lifecycle, issue 10).
 *
 *   lifebench [--bindir DIR] [--dir DIR] [--trials N] [--writers W]
 *             [--only failover|rejoin|switchover|failback|upgrade|rollback]
 *             [--no-peer]
 *
 * One trial, on a fresh lab every time (orchestrator/drctl/lab.c, the code
 * behind `drctl lab up`): three sites on drsite, or on drsite-0.1.0 for the
 * upgrade rows, with drorchd's built-in default policy; W writer threads
 * PUT unique keys to the primary drorchd names and remember every key
 * acknowledged with 200; after --pre-ms of load the lifecycle starts:
 *
 *   failover    kill -9 of the primary drorchd names; the run drorchd opens
 *               for it (its duration starts once the failure is confirmed;
 *               the write gap includes the detection)
 *   rejoin      such a failover first (not timed), then the old primary is
 *               restarted; timed from its restart until it streams from the
 *               new primary at the cluster's epoch, the machine at rest
 *               (rewound first when its log diverged: J01..J02)
 *   switchover  POST /v1/switchover {"to": eu-west}
 *   failback    a switchover to eu-west first (not timed), then
 *               POST /v1/failback (back to us-east)
 *   upgrade     POST /v1/upgrades {"to": "0.2.0"} (finalized); this program
 *               plays the operator who installs binaries: it restarts each
 *               site drorchd waits for on that version's drsite program
 *   rollback    an upgrade left unfinalized first (not timed), then
 *               POST /v1/upgrades {"rollback": true}, the same agent
 *
 * and ends with its run (GET /v1/runs/ID).  --post-ms more of load, then
 * every acknowledged key is read back from the final primary: a key missing
 * or with another value is a lost acknowledged write.  Per trial: the
 * run's duration (drorchd's started_ms..ended_ms), the longest gap between
 * two acknowledged writes any client saw while it ran (the write
 * unavailability), writes that failed, lost writes.
 *
 * The peer, Redis Sentinel (redis-server, appendfsync always,
 * min-replicas-to-write 1; three sentinels, quorum 2): its failover is a
 * kill -9 of the master (down-after-milliseconds 1000), its switchover
 * SENTINEL FAILOVER (duration: until the new master acknowledges a write),
 * its rolling upgrade a rolling restart (each replica restarted and
 * resynced, SENTINEL FAILOVER, the old master restarted and resynced).
 * Sentinel cannot aim a failover at a node, so a failback has no peer, nor
 * has the rollback.  Writers follow the master that SENTINEL
 * get-master-addr-by-name names.
 *
 * Every child runs with PR_SET_PDEATHSIG(SIGKILL) or is in lab.json; all are
 * killed by PID when the trial ends and on SIGINT/SIGTERM.  Every wait has a
 * deadline.  Exit 0 when every trial completed, 1 otherwise, 2 usage.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "benchload.h"
#include "benchutil.h"
#include "format.h"
#include "freeport.h"
#include "httpc.h"
#include "lab.h"
#include "timeutil.h"

#define MAX_TRIALS 200
#define OLD_VERSION "0.1.0"
#define RUN_TIMEOUT_MS 120000

enum kind { K_FAILOVER, K_REJOIN, K_SWITCHOVER, K_FAILBACK, K_UPGRADE, K_ROLLBACK, K_COUNT };
static const char *const kind_names[K_COUNT] = { "failover", "rejoin", "switchover", "failback",
						 "upgrade", "rollback" };
/* Redis Sentinel's counterpart, or NULL: it cannot aim a failover at a
 * node (no failback), and has no rollback of a version. */
static const char *const peer_names[K_COUNT] = {
	"kill -9 master (automatic)", NULL, "SENTINEL FAILOVER", NULL,
	"rolling restart + FAILOVER", NULL };

struct opts {
	char dir[512];
	int trials, writers;
	uint64_t pre_ms, post_ms;
	int only;        /* -1: every kind */
	bool peer;
};

/* One trial's figures. */
struct sample {
	uint64_t duration_ms, gap_ms;
	uint64_t acked, failed, lost;
	bool ok;
	bool rewound;  /* rejoin: drorchd rewound the old primary (J01 fired) */
};

/* Stops the load; its figures into s. */
static void stop_load(struct bench_load *l, struct sample *s)
{
	struct bench_load_figures f;
	bench_load_stop(l, &f);
	s->acked += f.acked;
	s->failed += f.failed;
	s->gap_ms = f.gap_ms;
}

/* ==== drorch =============================================================== */

static struct lab *cur_lab;  /* for the signal handler */
static char op_token[256];

static json_t *orch_json(const char *method, const char *url, const char *body, long *status)
{
	return bench_orch_json(op_token, method, url, body, status);
}

/* Points the load at the primary drorchd names. */
static void drorch_follow(struct lab *lab, struct bench_load *l)
{
	bench_drorch_follow(lab, lab->url, op_token, l);
}

/* Restarts the site a run waits for on its version's program. */
static void upgrade_agent(struct lab *lab, json_t *run, char *done, size_t len)
{
	json_t *want = json_object_get(json_object_get(run, "detail"), "waiting_for_site_upgrade");
	const char *site = json_string_value(json_object_get(want, "site"));
	const char *version = json_string_value(json_object_get(want, "version"));
	char key[128], err[512];
	if (!site || !version)
		return;
	snprintf(key, sizeof(key), "%s@%s", site, version);
	if (!strcmp(key, done))
		return;
	snprintf(done, len, "%s", key);
	if (lab_upgrade_site(lab, site, version, 20000, err, sizeof(err)) != 0)
		fprintf(stderr, "lifebench: upgrade agent: %s\n", err);
}

/* Waits for run `id` to end, keeping the writers on the primary and
 * swapping binaries; its outcome and duration.  false on timeout. */
static bool drorch_wait_run(struct lab *lab, struct bench_load *l, long long id, struct sample *s)
{
	char url[256], done[128] = "";
	snprintf(url, sizeof(url), "%s/v1/runs/%lld", lab->url, id);
	for (uint64_t end = time_mono_ms() + RUN_TIMEOUT_MS; time_mono_ms() < end;) {
		long st;
		json_t *r = orch_json("GET", url, NULL, &st);
		const char *outcome = json_string_value(json_object_get(r, "outcome"));
		drorch_follow(lab, l);
		if (outcome && strcmp(outcome, "running")) {
			s->ok = !strcmp(outcome, "succeeded");
			s->duration_ms = (uint64_t)(json_integer_value(json_object_get(r, "ended_ms")) -
						    json_integer_value(json_object_get(r, "started_ms")));
			json_decref(r);
			return true;
		}
		if (r)
			upgrade_agent(lab, r, done, sizeof(done));
		json_decref(r);
		time_sleep_ms(20);
	}
	return false;
}

/* The id of the newest run (GET /v1/runs lists the newest first), or 0. */
static long long drorch_newest_run(struct lab *lab)
{
	char url[256];
	long st;
	snprintf(url, sizeof(url), "%s/v1/runs", lab->url);
	json_t *j = orch_json("GET", url, NULL, &st);
	long long id = json_integer_value(json_object_get(json_array_get(
		json_object_get(j, "runs"), 0), "id"));
	json_decref(j);
	return id;
}

/* POSTs body to path; the run it started (the answer's "run", or the
 * newest run once there is one newer than before), or 0. */
static long long drorch_start(struct lab *lab, const char *path, const char *body)
{
	char url[256];
	long st;
	long long before = drorch_newest_run(lab);
	snprintf(url, sizeof(url), "%s%s", lab->url, path);
	json_t *j = orch_json("POST", url, body, &st);
	long long id = json_integer_value(json_object_get(j, "run"));
	json_decref(j);
	for (uint64_t end = time_mono_ms() + 5000; st == 202 && !id && time_mono_ms() < end;) {
		long long n = drorch_newest_run(lab);
		if (n > before)
			id = n;
		else
			time_sleep_ms(10);
	}
	if (st != 202 || !id)
		fprintf(stderr, "lifebench: POST %s %s: HTTP %ld, no run\n", path, body, st);
	return st == 202 ? id : 0;
}

/* kill -9 the primary drorchd names; the failover run drorchd opens for it
 * (within 30 s), or 0. */
static long long drorch_kill_primary(struct lab *lab, struct bench_load *l, char *primary,
				     size_t len)
{
	char url[256], err[256];
	long st;
	snprintf(url, sizeof(url), "%s/v1/status", lab->url);
	json_t *j = orch_json("GET", url, NULL, &st);
	snprintf(primary, len, "%s", json_string_value(json_object_get(j, "primary")) ?: "");
	json_decref(j);
	long long before = drorch_newest_run(lab);
	if (!primary[0] || lab_kill(lab, primary, err, sizeof(err)) != 0) {
		fprintf(stderr, "lifebench: kill -9 %s: %s\n", primary[0] ? primary : "the primary",
			primary[0] ? err : "drorchd names none");
		return 0;
	}
	for (uint64_t end = time_mono_ms() + 30000; time_mono_ms() < end; time_sleep_ms(20)) {
		drorch_follow(lab, l);
		long long n = drorch_newest_run(lab);
		if (n > before)
			return n;
	}
	fprintf(stderr, "lifebench: no failover run within 30 s of killing %s\n", primary);
	return 0;
}

/* The transitions after seq `since` (GET /v1/transitions?since=N): the
 * newest seq (since when none), and how many fired a row whose id starts
 * with prefix. */
static int64_t drorch_rows(struct lab *lab, int64_t since, const char *prefix, int *count)
{
	char url[256];
	long st;
	snprintf(url, sizeof(url), "%s/v1/transitions?since=%lld", lab->url, (long long)since);
	json_t *j = orch_json("GET", url, NULL, &st), *t;
	size_t i;
	*count = 0;
	json_array_foreach(json_object_get(j, "transitions"), i, t) {
		int64_t seq = json_integer_value(json_object_get(t, "seq"));
		since = seq > since ? seq : since;
		*count += !strncmp(json_string_value(json_object_get(t, "row_id")) ?: "", prefix,
				   strlen(prefix));
	}
	json_decref(j);
	return since;
}

/* Whether /v1/status shows site streaming at the cluster's epoch, the
 * machine at rest. */
static bool site_streams(json_t *status, const char *site)
{
	int64_t epoch = json_integer_value(json_object_get(status, "epoch"));
	json_t *v;
	size_t i;
	if (!json_is_true(json_object_get(status, "resting")))
		return false;
	json_array_foreach(json_object_get(status, "sites"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "", site))
			return !strcmp(json_string_value(json_object_get(v, "role")) ?: "", "replica") &&
			       !strcmp(json_string_value(json_object_get(v, "replication")) ?: "",
				       "streaming") &&
			       json_integer_value(json_object_get(v, "epoch")) == epoch;
	return false;
}

/* Restarts the killed old primary and waits until it streams from the new
 * one: the time from its restart, and whether drorchd rewound it. */
static bool drorch_rejoin(struct lab *lab, struct bench_load *l, const char *site, struct sample *s)
{
	char url[256], err[256];
	int n;
	int64_t since = drorch_rows(lab, 0, "", &n);
	uint64_t t0 = time_mono_ms();
	if (lab_start(lab, site, 30000, err, sizeof(err)) != 0) {
		fprintf(stderr, "lifebench: restart %s: %s\n", site, err);
		return false;
	}
	snprintf(url, sizeof(url), "%s/v1/status", lab->url);
	for (uint64_t end = t0 + RUN_TIMEOUT_MS; time_mono_ms() < end; time_sleep_ms(20)) {
		long st;
		drorch_follow(lab, l);
		json_t *j = orch_json("GET", url, NULL, &st);
		bool back = site_streams(j, site);
		json_decref(j);
		if (back) {
			s->duration_ms = time_mono_ms() - t0;
			drorch_rows(lab, since, "J01", &n);
			s->rewound = n > 0;
			return s->ok = true;
		}
	}
	fprintf(stderr, "lifebench: %s did not stream again in time\n", site);
	return false;
}

static bool drorch_trial(const struct opts *o, enum kind k, int n, struct sample *s)
{
	char dir[600], spec[640], err[1024];
	snprintf(dir, sizeof(dir), "%s/drorch-%s-%d", o->dir, kind_names[k], n);
	snprintf(spec, sizeof(spec), "%s.yaml", dir);
	FILE *f = fopen(spec, "w");
	if (!f)
		return false;
	fprintf(f, "drsite_version: %s\n",
		k == K_UPGRADE || k == K_ROLLBACK ? OLD_VERSION : DRSITE_VERSION);
	fclose(f);
	struct lab_up_opts lo = { .dir = dir, .spec = spec, .nsites = 3, .timeout_ms = 60000 };
	struct lab *lab = NULL;
	if (lab_up(&lo, &lab, err, sizeof(err)) != 0) {
		fprintf(stderr, "lifebench: lab up: %s\n", err);
		return false;
	}
	cur_lab = lab;
	bool ok = auth_read_token(lab->token_file, op_token, sizeof(op_token), err, sizeof(err)) == 0;
	struct bench_load l = { 0 };
	drorch_follow(lab, &l);
	bench_load_start(&l, o->writers, bench_drorch_write);
	char old[128] = "";
	if (ok && k == K_REJOIN) {  /* the failover whose old primary returns, not timed */
		long long pre = drorch_kill_primary(lab, &l, old, sizeof(old));
		struct sample ignore = { 0 };
		ok = pre && drorch_wait_run(lab, &l, pre, &ignore) && ignore.ok;
	}
	if (ok && (k == K_ROLLBACK || k == K_FAILBACK)) {  /* what it undoes, not timed */
		long long pre = k == K_FAILBACK ?
				drorch_start(lab, "/v1/switchover", "{\"to\":\"eu-west\"}") :
				drorch_start(lab, "/v1/upgrades", "{\"to\":\"" DRSITE_VERSION
					     "\",\"finalize\":false}");
		struct sample ignore = { 0 };
		ok = pre && drorch_wait_run(lab, &l, pre, &ignore) && ignore.ok;
	}
	time_sleep_ms(o->pre_ms);
	bench_load_gaps(&l, true);
	static const char *const path[K_COUNT] = { NULL, NULL, "/v1/switchover", "/v1/failback",
						   "/v1/upgrades", "/v1/upgrades" };
	static const char *const body[K_COUNT] = {
		NULL, NULL, "{\"to\":\"eu-west\"}", "{}", "{\"to\":\"" DRSITE_VERSION "\"}",
		"{\"rollback\":true}" };
	if (k == K_REJOIN) {
		ok = ok && drorch_rejoin(lab, &l, old, s);
	} else {
		long long id = !ok ? 0 : k == K_FAILOVER ?
			       drorch_kill_primary(lab, &l, old, sizeof(old)) :
			       drorch_start(lab, path[k], body[k]);
		ok = id && drorch_wait_run(lab, &l, id, s) && s->ok;
	}
	bench_load_gaps(&l, false);
	time_sleep_ms(o->post_ms);
	stop_load(&l, s);
	drorch_follow(lab, &l);
	s->lost = bench_drorch_lost(&l);
	bench_load_free(&l);
	s->ok = ok;
	lab_down(lab, 5000, ok, err, sizeof(err));
	cur_lab = NULL;
	lab_free(lab);
	return ok;
}

/* ==== Redis Sentinel ======================================================== */

#define REDIS_MAX_PROCS 6
struct rproc {
	pid_t pid;
	int port;
	char *argv[24];
	int argc;
	char conf[700];
};

struct rlab {
	char dir[600];
	struct rproc node[3];      /* redis-server: master first */
	struct rproc sentinel[3];
};

static struct rlab *cur_rlab;

static int redis_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 3 };
	int one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads one line (without CRLF) into out; false on error. */
static bool read_line(int fd, char *out, size_t len)
{
	size_t n = 0;
	char c;
	while (n + 1 < len) {
		if (read(fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		if (c != '\r')
			out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/*
 * Sends a command (argv) and reads its reply: a status/error line, an
 * integer, a bulk string (into out) or an array of bulk strings (joined
 * with spaces into out).  The reply's type character, or 0 on I/O error.
 */
static char redis_cmd(int fd, int argc, const char *const *argv, char *out, size_t len)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "*%d\r\n", argc);
	for (int i = 0; i < argc && n < (int)sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "$%zu\r\n%s\r\n", strlen(argv[i]),
			      argv[i]);
	if (n >= (int)sizeof(buf) || write(fd, buf, (size_t)n) != n)
		return 0;
	char line[4096];
	if (!read_line(fd, line, sizeof(line)))
		return 0;
	out[0] = '\0';
	if (line[0] == '+' || line[0] == '-' || line[0] == ':') {
		snprintf(out, len, "%s", line + 1);
		return line[0];
	}
	int items = 1;
	if (line[0] == '*') {
		items = atoi(line + 1);
		if (items > 0 && !read_line(fd, line, sizeof(line)))
			return 0;
	}
	size_t at = 0;
	for (int i = 0; i < items; i++) {
		if (i && !read_line(fd, line, sizeof(line)))
			return 0;
		long blen = atol(line + 1);
		if (line[0] != '$' || blen < 0)
			continue;
		char *b = malloc((size_t)blen + 2);
		size_t got = 0;
		while (b && got < (size_t)blen + 2) {
			ssize_t r = read(fd, b + got, (size_t)blen + 2 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (!b || got < (size_t)blen + 2) {
			free(b);
			return 0;
		}
		at += (size_t)snprintf(out + at, at < len ? len - at : 0, "%s%.*s", i ? " " : "",
				       (int)blen, b);
		free(b);
		if (at >= len)
			at = len - 1;
	}
	return items > 1 || line[0] == '*' ? '*' : '$';
}

/* One command on a fresh connection to port; the reply type or 0. */
static char redis_once(int port, int argc, const char *const *argv, char *out, size_t len)
{
	int fd = redis_connect(port);
	if (fd < 0)
		return 0;
	char t = redis_cmd(fd, argc, argv, out, len);
	close(fd);
	return t;
}

static void rproc_start(struct rproc *p, const char *log)
{
	p->pid = fork();
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setsid();
		FILE *f = freopen(log, "a", stdout);
		(void)f;
		dup2(1, 2);
		execvp("redis-server", p->argv);
		_exit(127);
	}
}

static void rproc_stop(struct rproc *p, int sig)
{
	if (p->pid > 0) {
		kill(p->pid, sig);
		for (int i = 0; i < 100 && waitpid(p->pid, NULL, WNOHANG) == 0; i++)
			time_sleep_ms(50);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	p->pid = 0;
}

static void rargs(struct rproc *p, ...)
{
	va_list ap;
	va_start(ap, p);
	p->argc = 0;
	p->argv[p->argc++] = "redis-server";
	for (const char *a; (a = va_arg(ap, const char *)) && p->argc < 23;)
		p->argv[p->argc++] = strdup(a);
	p->argv[p->argc] = NULL;
	va_end(ap);
}

static void rargs_free(struct rproc *p)
{
	for (int i = 1; i < p->argc; i++)
		free(p->argv[i]);
	p->argc = 0;
}

/* The port of the master the sentinels name (0 if none answers). */
static int sentinel_master(struct rlab *r)
{
	static const char *const q[] = { "SENTINEL", "get-master-addr-by-name", "mymaster" };
	char out[256];
	for (int i = 0; i < 3; i++)
		if (redis_once(r->sentinel[i].port, 3, q, out, sizeof(out)) == '*') {
			char *sp = strchr(out, ' ');
			if (sp)
				return atoi(sp + 1);
		}
	return 0;
}

/* Whether port reports `want` in its INFO replication (e.g. role:slave and
 * master_link_status:up, or connected_slaves:2). */
static bool info_has(int port, const char *want, const char *want2)
{
	static const char *const q[] = { "INFO", "replication" };
	char out[4096];
	return redis_once(port, 2, q, out, sizeof(out)) == '$' && strstr(out, want) &&
	       (!want2 || strstr(out, want2));
}

static bool wait_until(bool (*pred)(struct rlab *, int), struct rlab *r, int arg, uint64_t ms)
{
	for (uint64_t end = time_mono_ms() + ms; time_mono_ms() < end; time_sleep_ms(50))
		if (pred(r, arg))
			return true;
	return false;
}

static bool node_synced(struct rlab *r, int i)
{
	return info_has(r->node[i].port, "role:slave", "master_link_status:up");
}

static bool master_has_two(struct rlab *r, int port)
{
	(void)r;
	return info_has(port, "role:master", "connected_slaves:2");
}

static bool sentinels_ready(struct rlab *r, int arg)
{
	(void)arg;
	static const char *const q[] = { "SENTINEL", "master", "mymaster" };
	char out[8192];
	int ok = 0;
	for (int i = 0; i < 3; i++)  /* each sees both replicas and the other two */
		if (redis_once(r->sentinel[i].port, 3, q, out, sizeof(out)) == '*' &&
		    strstr(out, "num-slaves 2") && strstr(out, "num-other-sentinels 2"))
			ok++;
	return ok == 3;
}

static void node_args(struct rlab *r, int i, int master_port)
{
	char port[16], dir[700], mport[16];
	snprintf(port, sizeof(port), "%d", r->node[i].port);
	snprintf(dir, sizeof(dir), "%s/node%d", r->dir, i);
	mkdir(dir, 0755);
	snprintf(mport, sizeof(mport), "%d", master_port);
	if (i == 0)
		rargs(&r->node[i], "--port", port, "--bind", "127.0.0.1", "--dir", dir,
		      "--appendonly", "yes", "--appendfsync", "always", "--save", "",
		      "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10", NULL);
	else
		rargs(&r->node[i], "--port", port, "--bind", "127.0.0.1", "--dir", dir,
		      "--appendonly", "yes", "--appendfsync", "always", "--save", "",
		      "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10",
		      "--replicaof", "127.0.0.1", mport, NULL);
}

static void rlab_down(struct rlab *r)
{
	for (int i = 0; i < 3; i++) {
		rproc_stop(&r->sentinel[i], SIGKILL);
		rproc_stop(&r->node[i], SIGKILL);
		rargs_free(&r->sentinel[i]);
		rargs_free(&r->node[i]);
	}
}

static bool rlab_up(struct rlab *r)
{
	char log[700];
	for (int i = 0; i < 3; i++) {
		r->node[i].port = freeport_one();
		r->sentinel[i].port = freeport_one();
	}
	for (int i = 0; i < 3; i++) {
		node_args(r, i, r->node[0].port);
		snprintf(log, sizeof(log), "%s/node%d.log", r->dir, i);
		rproc_start(&r->node[i], log);
	}
	if (!wait_until(master_has_two, r, r->node[0].port, 20000))
		return false;
	for (int i = 0; i < 3; i++) {
		struct rproc *s = &r->sentinel[i];
		snprintf(s->conf, sizeof(s->conf), "%s/sentinel%d.conf", r->dir, i);
		FILE *f = fopen(s->conf, "w");
		if (!f)
			return false;
		fprintf(f, "port %d\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 %d 2\n"
			"sentinel down-after-milliseconds mymaster 1000\n"
			"sentinel failover-timeout mymaster 10000\n"
			"sentinel parallel-syncs mymaster 2\n", s->port, r->node[0].port);
		fclose(f);
		rargs(s, s->conf, "--sentinel", NULL);
		snprintf(log, sizeof(log), "%s/sentinel%d.log", r->dir, i);
		rproc_start(s, log);
	}
	return wait_until(sentinels_ready, r, 0, 30000);
}

static struct rlab *load_rlab;

static bool redis_write(struct bench_load *l, int wi, const char *key)
{
	struct bench_writer *w = &l->w[wi];
	char leader[128], out[256];
	bench_load_target_get(l, leader, sizeof(leader));
	int port = atoi(leader);
	if (!port)
		return false;
	if (w->fd >= 0 && w->port != port) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->fd < 0 && (w->fd = redis_connect(port)) < 0)
		return false;
	w->port = port;
	const char *q[] = { "SET", key, key };
	char t = redis_cmd(w->fd, 3, q, out, sizeof(out));
	if (t == '+' && !strcmp(out, "OK"))
		return true;
	close(w->fd);  /* an error or a reset: a fresh connection next time */
	w->fd = -1;
	return false;
}

static void redis_follow(struct rlab *r, struct bench_load *l)
{
	int m = sentinel_master(r);
	if (m) {
		char p[16];
		snprintf(p, sizeof(p), "%d", m);
		bench_load_target_set(l, p);
	}
}

static int node_of(struct rlab *r, int port)
{
	for (int i = 0; i < 3; i++)
		if (r->node[i].port == port)
			return i;
	return -1;
}

/* Restarts node i (SHUTDOWN, then the same command line) and waits until
 * it replicates again. */
static bool restart_node(struct rlab *r, int i, struct bench_load *l)
{
	char log[700];
	rproc_stop(&r->node[i], SIGTERM);
	snprintf(log, sizeof(log), "%s/node%d.log", r->dir, i);
	rproc_start(&r->node[i], log);
	for (uint64_t end = time_mono_ms() + 30000; time_mono_ms() < end; time_sleep_ms(50)) {
		redis_follow(r, l);
		if (node_synced(r, i))
			return true;
	}
	return false;
}

/* Until the sentinels name a master other than old and it acknowledges a
 * write. */
static bool redis_new_master(struct rlab *r, struct bench_load *l, int old)
{
	char out[256];
	for (uint64_t end = time_mono_ms() + 30000; time_mono_ms() < end; time_sleep_ms(20)) {
		redis_follow(r, l);
		int now = sentinel_master(r);
		if (now && now != old) {  /* until the new master acknowledges a write */
			static const char *const probe[] = { "SET", "lifebench-probe", "1" };
			for (uint64_t t = time_mono_ms(); time_mono_ms() - t < 30000; time_sleep_ms(10))
				if (redis_once(now, 3, probe, out, sizeof(out)) == '+')
					return true;
			return false;
		}
	}
	return false;
}

/* SENTINEL FAILOVER, until another master acknowledges a write. */
static bool redis_failover(struct rlab *r, struct bench_load *l)
{
	static const char *const q[] = { "SENTINEL", "FAILOVER", "mymaster" };
	char out[256];
	int old = sentinel_master(r);
	return redis_once(r->sentinel[0].port, 3, q, out, sizeof(out)) == '+' &&
	       redis_new_master(r, l, old);
}

/* kill -9 the master; the sentinels find out (down-after-milliseconds)
 * and fail over by themselves. */
static bool redis_kill_master(struct rlab *r, struct bench_load *l)
{
	int old = sentinel_master(r), m = node_of(r, old);
	if (m < 0)
		return false;
	rproc_stop(&r->node[m], SIGKILL);
	return redis_new_master(r, l, old);
}

static uint64_t redis_lost(struct rlab *r, struct bench_load *l)
{
	int port = sentinel_master(r);
	int fd = redis_connect(port);
	uint64_t lost = 0;
	char key[64], out[256];
	for (int i = 0; i < l->nw; i++) {
		if (l->w[i].fd >= 0)
			close(l->w[i].fd);
		l->w[i].fd = -1;
		for (uint64_t k = 0; k < l->w[i].n; k++) {
			snprintf(key, sizeof(key), "w%d-%llu", i, (unsigned long long)k);
			const char *q[] = { "GET", key };
			if (fd < 0 || redis_cmd(fd, 2, q, out, sizeof(out)) != '$' || strcmp(out, key))
				lost++;
		}
	}
	if (fd >= 0)
		close(fd);
	return lost;
}

static bool redis_trial(const struct opts *o, enum kind k, int n, struct sample *s)
{
	struct rlab *r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	snprintf(r->dir, sizeof(r->dir), "%s/redis-%s-%d", o->dir, kind_names[k], n);
	mkdir(r->dir, 0755);
	cur_rlab = load_rlab = r;
	bool ok = rlab_up(r);
	struct bench_load l = { 0 };
	redis_follow(r, &l);
	bench_load_start(&l, o->writers, redis_write);
	time_sleep_ms(o->pre_ms);
	bench_load_gaps(&l, true);
	uint64_t t0 = time_mono_ms();
	if (ok && k == K_FAILOVER) {
		ok = redis_kill_master(r, &l);
	} else if (ok && k == K_SWITCHOVER) {
		ok = redis_failover(r, &l);
	} else if (ok) {  /* a rolling restart: the replicas, a failover, the old master */
		int master = node_of(r, sentinel_master(r));
		for (int i = 0; ok && i < 3; i++)
			if (i != master)
				ok = restart_node(r, i, &l);
		ok = ok && redis_failover(r, &l) && master >= 0 && restart_node(r, master, &l);
	}
	s->duration_ms = time_mono_ms() - t0;
	bench_load_gaps(&l, false);
	time_sleep_ms(o->post_ms);
	stop_load(&l, s);
	time_sleep_ms(1000);  /* the replicas settle */
	s->lost = redis_lost(r, &l);
	s->ok = ok;
	bench_load_free(&l);
	rlab_down(r);
	cur_rlab = load_rlab = NULL;
	free(r);
	return ok;
}

/* ==== the table ============================================================= */

struct row {
	struct sample s[MAX_TRIALS];
	int n;
};

static void figures(const struct row *r, bool gap, uint64_t *v, int *n)
{
	*n = 0;
	for (int i = 0; i < r->n; i++)
		if (r->s[i].ok)
			v[(*n)++] = gap ? r->s[i].gap_ms : r->s[i].duration_ms;
	if (*n)
		qsort(v, (size_t)*n, sizeof(*v), bench_cmp_u64);
}

static void print_row(const char *sys, const char *what, const struct row *r)
{
	uint64_t d[MAX_TRIALS], g[MAX_TRIALS], acked = 0, failed = 0, lost = 0;
	int nd, ng, bad = 0;
	figures(r, false, d, &nd);
	figures(r, true, g, &ng);
	for (int i = 0; i < r->n; i++) {
		acked += r->s[i].acked;
		failed += r->s[i].failed;
		lost += r->s[i].lost;
		bad += !r->s[i].ok;
	}
	if (!nd) {
		printf("%-7s %-27s %3d/%-3d   (no trial completed)\n", sys, what, 0, r->n);
		return;
	}
	printf("%-7s %-27s %3d/%-3d %6llu %6llu %6llu %6llu   %6llu %6llu %6llu %6llu %9llu %8llu %5llu\n",
	       sys, what, nd, r->n, (unsigned long long)d[0],
	       (unsigned long long)bench_percentile(d, (size_t)nd, 0.5),
	       (unsigned long long)bench_percentile(d, (size_t)nd, 0.99),
	       (unsigned long long)d[nd - 1], (unsigned long long)g[0],
	       (unsigned long long)bench_percentile(g, (size_t)ng, 0.5),
	       (unsigned long long)bench_percentile(g, (size_t)ng, 0.99),
	       (unsigned long long)g[ng - 1], (unsigned long long)acked,
	       (unsigned long long)failed, (unsigned long long)lost);
	(void)bad;
}

static uint64_t p50_gap(const struct row *r)
{
	uint64_t g[MAX_TRIALS];
	int n;
	figures(r, true, g, &n);
	return n ? bench_percentile(g, (size_t)n, 0.5) : UINT64_MAX;
}

static uint64_t lost_of(const struct row *r)
{
	uint64_t lost = 0;
	for (int i = 0; i < r->n; i++)
		lost += r->s[i].lost;
	return lost;
}

static void on_signal(int sig)
{
	char err[256];
	if (cur_lab)
		lab_down(cur_lab, 1000, false, err, sizeof(err));
	if (cur_rlab)
		for (int i = 0; i < 3; i++) {
			if (cur_rlab->node[i].pid > 0)
				kill(cur_rlab->node[i].pid, SIGKILL);
			if (cur_rlab->sentinel[i].pid > 0)
				kill(cur_rlab->sentinel[i].pid, SIGKILL);
		}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lifebench [--dir DIR] [--trials N] [--writers W] [--pre-ms MS] "
		"[--post-ms MS]\n                 [--only failover|rejoin|switchover|failback|upgrade|"
		"rollback] [--no-peer]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' }, { "trials", required_argument, NULL, 't' },
		{ "writers", required_argument, NULL, 'w' }, { "pre-ms", required_argument, NULL, 'p' },
		{ "post-ms", required_argument, NULL, 'P' }, { "only", required_argument, NULL, 'o' },
		{ "no-peer", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	uint64_t v;
	for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (c) {
		case 'd': snprintf(o->dir, sizeof(o->dir), "%s", optarg); break;
		case 't': if (bench_parse_u64(optarg, 1, MAX_TRIALS, &v)) return 2; o->trials = (int)v; break;
		case 'w': if (bench_parse_u64(optarg, 1, BENCH_MAX_WRITERS, &v)) return 2; o->writers = (int)v; break;
		case 'p': if (bench_parse_u64(optarg, 0, 60000, &o->pre_ms)) return 2; break;
		case 'P': if (bench_parse_u64(optarg, 0, 60000, &o->post_ms)) return 2; break;
		case 'o':
			o->only = -1;
			for (int k = 0; k < K_COUNT; k++)
				if (!strcmp(optarg, kind_names[k]))
					o->only = k;
			if (o->only < 0)
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
	struct opts o = { .trials = 5, .writers = 4, .pre_ms = 500, .post_ms = 300, .only = -1,
			  .peer = true };
	if (parse(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	httpc_global_init();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	static struct row drorch[K_COUNT], redis[K_COUNT];
	bool all = true;
	for (int k = 0; k < K_COUNT; k++) {
		if (o.only >= 0 && o.only != k)
			continue;
		for (int n = 0; n < o.trials; n++) {
			struct sample *s = &drorch[k].s[drorch[k].n++];
			all &= drorch_trial(&o, (enum kind)k, n, s);
			fprintf(stderr, "drorch %-10s #%d: %s duration %llu ms, longest write gap %llu ms, "
				"acked %llu, failed %llu, lost %llu%s\n", kind_names[k], n,
				s->ok ? "ok" : "FAILED", (unsigned long long)s->duration_ms,
				(unsigned long long)s->gap_ms, (unsigned long long)s->acked,
				(unsigned long long)s->failed, (unsigned long long)s->lost,
				k != K_REJOIN ? "" : s->rewound ? ", rewound (J01)" :
				", caught up without a rewind");
			if (!o.peer || !peer_names[k])
				continue;
			s = &redis[k].s[redis[k].n++];
			all &= redis_trial(&o, (enum kind)k, n, s);
			fprintf(stderr, "redis  %-10s #%d: %s duration %llu ms, longest write gap %llu ms, "
				"acked %llu, failed %llu, lost %llu\n", kind_names[k], n,
				s->ok ? "ok" : "FAILED", (unsigned long long)s->duration_ms,
				(unsigned long long)s->gap_ms, (unsigned long long)s->acked,
				(unsigned long long)s->failed, (unsigned long long)s->lost);
		}
	}
	printf("\n%d writers, drorchd's default policy (sync, quorum 1); Redis: appendfsync always, "
	       "min-replicas-to-write 1, 3 sentinels\n", o.writers);
	printf("%-7s %-27s %-7s %6s %6s %6s %6s   %6s %6s %6s %6s %9s %8s %5s\n", "system",
	       "lifecycle", "trials", "dur", "p50", "p99", "max", "gap", "p50", "p99", "max",
	       "acked", "failed", "lost");
	printf("%-7s %-27s %-7s %6s %6s %6s %6s   %6s %6s %6s %6s\n", "", "", "", "min ms", "", "",
	       "", "min ms", "", "", "");
	for (int k = 0; k < K_COUNT; k++) {
		if (o.only >= 0 && o.only != k)
			continue;
		print_row("drorch", kind_names[k], &drorch[k]);
		if (o.peer && peer_names[k])
			print_row("redis", peer_names[k], &redis[k]);
	}
	printf("\naims:\n");
	for (int k = 0; k < K_COUNT; k++) {
		if (o.only >= 0 && o.only != k)
			continue;
		printf("  drorch %-10s loses no acknowledged write: %s (%llu lost)\n", kind_names[k],
		       lost_of(&drorch[k]) == 0 ? "MET" : "NOT MET",
		       (unsigned long long)lost_of(&drorch[k]));
		if (k == K_REJOIN) {
			int rewound = 0;
			for (int i = 0; i < drorch[k].n; i++)
				rewound += drorch[k].s[i].rewound;
			printf("  (rejoin: the old primary was rewound in %d of %d trials; otherwise "
			       "its log held nothing the new primary lacked)\n", rewound, drorch[k].n);
		}
		if (o.peer && peer_names[k]) {
			uint64_t a = p50_gap(&drorch[k]), b = p50_gap(&redis[k]);
			printf("  drorch %-10s longest write gap p50 <= Redis %s's: %s (%llu vs %llu ms)\n",
			       kind_names[k], peer_names[k], a <= b ? "MET" : "NOT MET",
			       (unsigned long long)a, (unsigned long long)b);
		}
	}
	printf("\nrepeat: bench/lifecycle/run.sh --trials %d --writers %d%s%s%s\n", o.trials, o.writers,
	       o.only >= 0 ? " --only " : "", o.only >= 0 ? kind_names[o.only] : "",
	       o.peer ? "" : " --no-peer");
	return all ? 0 : 1;
}
