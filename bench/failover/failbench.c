/*
 * failbench.c — N automatic failovers under write load, for bench/failover
 * (issue 5): client-seen RTO, drorchd's own RTO and lost acknowledged
 * writes, per replication mode (sync, async) and network profile
 * (loopback, WAN, lossy: jitter and loss on every link, and a watch before
 * the kill in which no failover may start).
 *
 *   failbench [--bindir DIR] [--cells "sync:loopback async:loopback ..."]
 *             [--trials N] [--wan-trials N] [--writers W] ...   (see --help)
 *
 * One trial, on a fresh lab every time (nothing carries over: no refused
 * replica, no old epoch, no anti-flapping clock):
 *
 *   1. three drsite processes (us-east, eu-west, ap-south) sharing a token
 *      file, and drorchd with a policy of the cell's mode, quorum 1 and
 *      failover.anti_flap_s 0; in the WAN profile one drlink process carries
 *      every site-to-site and drorchd-to-site connection with --wan-latency-ms
 *      one way on each (80 ms RTT by default).  The clients (this program)
 *      and drorchd's REST port stay on plain loopback: the clients sit next
 *      to the sites, only the orchestrator's and the replicas' traffic
 *      crosses the WAN.  Wait until drorchd says STEADY with us-east primary
 *      and both replicas streaming.
 *   2. W writer threads PUT unique keys to the primary that drorchd's
 *      GET /v1/status names (at that site's own address), and remember every
 *      key acknowledged with 200.  A writer whose PUT fails (no answer or
 *      not 200) sleeps --retry-ms and asks drorchd again.
 *   3. After --pre-ms of load (lossy: --watch-ms, after which drorchd must
 *      have opened no run: one would be a false failover, and fails the
 *      trial), kill -9 the primary.  Client-seen RTO = from
 *      just before kill(2) to the first 200 from any other site.
 *   4. --post-ms more of load on the new primary, then stop the writers,
 *      read every acknowledged key back from the new primary (a key missing
 *      or with another value is a lost acknowledged write), and wait for
 *      drorchd to close the failover run: its rto_ms, rpo_records and the
 *      timestamps last_good_heartbeat, detected, decided, promoted,
 *      first_write, and the fence step's waited_lease_ms.
 *
 * Every child runs with PR_SET_PDEATHSIG(SIGKILL) and is killed by PID when
 * its trial ends, on SIGINT/SIGTERM and at exit.  Every wait has a deadline.
 * A trial that fails (lab not STEADY, no failover within --timeout-s) is
 * counted as failed; its directory is kept, as is that of a sync trial that
 * lost an acknowledged write.
 *
 * Output: one line per trial on stderr (progress) and, with --raw FILE, in
 * FILE; then the table on stdout.  Exit 0 when every trial completed, 1 when
 * one failed, 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "freeport.h"
#include "httpc.h"
#include "timeutil.h"

#define NSITES 3
#define MAX_WRITERS 64
#define MAX_CELLS 8
#define MAX_CHILDREN 16
#define ERR_MAX 1200
#define OP_TOKEN "failbench-operator-token"
#define SITE_TOKEN "failbench-site-token-0123456789"

static const char *const site_names[NSITES] = { "us-east", "eu-west", "ap-south" };

/* loopback: direct connections; wan: drlink with latency on every link;
 * lossy: drlink with jitter and loss on every link, loopback's detection, and
 * a watch before the kill in which no failover may start (issue 13). */
enum profile { PROFILE_LOOPBACK, PROFILE_WAN, PROFILE_LOSSY };

struct cell {
	char mode[16];           /* sync | async */
	enum profile profile;
	int trials;
};

struct options {
	char bindir[256];
	char dir[256];
	char raw[256];
	struct cell cells[MAX_CELLS];
	int ncells;
	int trials, wan_trials, lossy_trials;
	int writers;
	int pre_ms, post_ms, retry_ms;
	int value_size;
	int wan_latency_ms;
	int heartbeat_ms, misses;          /* loopback detection; 0: the built-in default */
	int wan_heartbeat_ms, wan_misses;  /* WAN detection; 0: the built-in default */
	int lossy_latency_ms, lossy_jitter_ms;  /* the lossy profile's links */
	double lossy_loss_pct;
	int watch_ms;                      /* lossy: load before the kill, no failover allowed */
	int lease_ms;                      /* drsite --lease-ms; 0: drsite's default (500) */
	int timeout_s;
	bool keep;
};

/* ---- child processes: registered, killed by PID ------------------------------ */

static pid_t children[MAX_CHILDREN];

static void child_forget(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Async-signal-safe: SIGKILL to every child still registered. */
static void children_kill_all(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
}

static void on_signal(int sig)
{
	children_kill_all();
	_exit(128 + sig);
}

static void on_exit_kill(void)
{
	children_kill_all();
}

/* Starts argv with stdout and stderr appended to log; the pid or -1. */
static pid_t spawn(char *const argv[], const char *log)
{
	int slot = -1;
	for (int i = 0; i < MAX_CHILDREN && slot < 0; i++)
		if (children[i] == 0)
			slot = i;
	if (slot < 0)
		return -1;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDONLY);
		if (fd < 0 || null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	children[slot] = pid;
	return pid;
}

/* SIGKILL and reap, waiting at most 5 s.  0, or -1 if it did not go. */
static int kill_child(pid_t pid)
{
	if (pid <= 0)
		return 0;
	kill(pid, SIGKILL);
	uint64_t deadline = time_mono_ms() + 5000;
	while (time_mono_ms() < deadline) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			child_forget(pid);
			return 0;
		}
		time_sleep_ms(2);
	}
	return -1;
}

/* ---- HTTP ------------------------------------------------------------------------ */

/* One request; the status (0 on a transport failure).  With json_out, a 200
 * answer's parsed body (or NULL) goes there; the caller decrefs it. */
static long http(struct httpc *c, const char *method, const char *url, const char *bearer,
		 const char *body, size_t len, long timeout_ms, json_t **json_out)
{
	struct httpc_resp r;
	char err[ERR_MAX];
	if (json_out)
		*json_out = NULL;
	if (httpc_request(c, method, url, bearer, body, len, timeout_ms, &r, err, sizeof(err)) != 0)
		return 0;
	if (json_out && r.status == 200)
		*json_out = json_loadb(r.body, r.body_len, 0, NULL);
	long st = r.status;
	httpc_resp_free(&r);
	return st;
}

static bool wait_http_ok(struct httpc *c, const char *url, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (time_mono_ms() < deadline) {
		if (http(c, "GET", url, NULL, NULL, 0, 1000, NULL) == 200)
			return true;
		time_sleep_ms(20);
	}
	return false;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int rc = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) != 0 ? -1 : rc;
}

/* ---- the lab ----------------------------------------------------------------------- */

struct site {
	const char *name;
	char listen[64];       /* 127.0.0.1:PORT */
	char base[80];         /* http://listen: clients use this */
	char orch_url[80];     /* how drorchd reaches it: direct, or a drlink link */
	char peer[NSITES][64]; /* [to]: how this site reaches site `to` */
	char data[600], log[600];
	pid_t pid;
};

struct lab {
	char root[400];
	const struct options *opt;
	const struct cell *cell;
	struct site site[NSITES];
	char orch_listen[64], orch_base[80], cfg[700], db[700], policy[700], optok[700],
	     sitetok[700], orch_log[700];
	pid_t orch;
	char link_admin[80];
	pid_t link;
	struct httpc *hc;   /* the main thread's client */
	char err[ERR_MAX];
};

/* Records why the lab is not usable; returns false. */
static bool lab_fail(struct lab *L, const char *what, const char *path)
{
	snprintf(L->err, sizeof(L->err), "%s%s%s", what, path ? "; see " : "", path ? path : "");
	return false;
}

static bool start_site(struct lab *L, struct site *s)
{
	char bin[600], url[128], lease[16];
	snprintf(bin, sizeof(bin), "%s/drsite", L->opt->bindir);
	snprintf(lease, sizeof(lease), "%d", L->opt->lease_ms);
	char *argv[] = { bin, "--name", (char *)s->name, "--listen", s->listen, "--data", s->data,
			 "--token-file", L->sitetok, L->opt->lease_ms ? "--lease-ms" : NULL, lease,
			 NULL };
	s->pid = spawn(argv, s->log);
	snprintf(url, sizeof(url), "%s/healthz", s->base);
	return s->pid > 0 && wait_http_ok(L->hc, url, 10000);
}

/* A drlink link `name` to upstream; its HOST:PORT in out. */
static bool link_add(struct lab *L, const char *name, const char *upstream, char *out, size_t len)
{
	char body[300], url[160];
	int port = freeport_one();
	snprintf(out, len, "127.0.0.1:%d", port);
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"listen\":\"%s\",\"upstream\":\"%s\"}",
		 name, out, upstream);
	snprintf(url, sizeof(url), "%s/v1/links", L->link_admin);
	long st = http(L->hc, "POST", url, NULL, body, strlen(body), 5000, NULL);
	if (st == 200 || st == 201) {
		const struct options *o = L->opt;
		if (L->cell->profile == PROFILE_LOSSY)
			snprintf(body, sizeof(body),
				 "{\"latency_ms\":%d,\"jitter_ms\":%d,\"loss_pct\":%g}",
				 o->lossy_latency_ms, o->lossy_jitter_ms, o->lossy_loss_pct);
		else
			snprintf(body, sizeof(body), "{\"latency_ms\":%d}", o->wan_latency_ms);
		snprintf(url, sizeof(url), "%s/v1/links/%s/conditions", L->link_admin, name);
		if (http(L->hc, "PUT", url, NULL, body, strlen(body), 5000, NULL) == 200)
			return true;
	}
	snprintf(body, sizeof(body), "drlink: link %s could not be set up", name);
	return lab_fail(L, body, NULL);
}

/* drlink with one link per drorchd->site and per directed site->site pair,
 * each with the profile's conditions (the WAN's latency, or lossy's jitter
 * and loss). */
static bool start_drlink(struct lab *L)
{
	char bin[600], admin[64], log[700], url[160], name[64];
	snprintf(bin, sizeof(bin), "%s/drlink", L->opt->bindir);
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", freeport_one());
	snprintf(L->link_admin, sizeof(L->link_admin), "http://%s", admin);
	snprintf(log, sizeof(log), "%s/drlink.log", L->root);
	char *argv[] = { bin, "--admin", admin, NULL };
	L->link = spawn(argv, log);
	snprintf(url, sizeof(url), "%s/v1/links", L->link_admin);
	if (L->link < 0 || !wait_http_ok(L->hc, url, 10000))
		return lab_fail(L, "drlink did not come up", log);
	for (int i = 0; i < NSITES; i++) {
		struct site *s = &L->site[i];
		char hp[64];
		snprintf(name, sizeof(name), "orch-%s", s->name);
		if (!link_add(L, name, s->listen, hp, sizeof(hp)))
			return false;
		snprintf(s->orch_url, sizeof(s->orch_url), "http://%s", hp);
		for (int j = 0; j < NSITES; j++) {
			snprintf(name, sizeof(name), "%s-%s", s->name, L->site[j].name);
			if (j != i && !link_add(L, name, L->site[j].listen, s->peer[j], sizeof(s->peer[j])))
				return false;
		}
	}
	return true;
}

static bool write_configs(struct lab *L)
{
	const struct options *o = L->opt;
	bool wan = L->cell->profile == PROFILE_WAN;
	int hb = wan ? o->wan_heartbeat_ms : o->heartbeat_ms;
	int misses = wan ? o->wan_misses : o->misses;
	char policy[1024], detection[128] = "", cfg[8192];
	if (hb || misses) {
		int n = snprintf(detection, sizeof(detection), "detection: {");
		if (hb)
			n += snprintf(detection + n, sizeof(detection) - (size_t)n, "heartbeat_ms: %d%s",
				      hb, misses ? ", " : "");
		if (misses)
			n += snprintf(detection + n, sizeof(detection) - (size_t)n, "misses: %d", misses);
		snprintf(detection + n, sizeof(detection) - (size_t)n, "}\n");
	}
	snprintf(policy, sizeof(policy),
		 "name: failbench-%s\nreplication: {mode: %s, quorum: 1}\nfailover: {anti_flap_s: 0}\n%s",
		 L->cell->mode, L->cell->mode, detection);
	int n = snprintf(cfg, sizeof(cfg),
			 "listen: %s\ndb: %s\ntoken_file: %s\nsite_token_file: %s\npolicy: %s\n"
			 "initial_primary: %s\nsites:\n", L->orch_listen, L->db, L->optok, L->sitetok,
			 L->policy, site_names[0]);
	for (int i = 0; i < NSITES; i++) {
		const struct site *s = &L->site[i];
		n += snprintf(cfg + n, sizeof(cfg) - (size_t)n,
			      "  - name: %s\n    url: \"%s\"\n    region: %s-1\n    peers: {",
			      s->name, s->orch_url, s->name);
		for (int j = 0, first = 1; j < NSITES; j++)
			if (j != i) {
				n += snprintf(cfg + n, sizeof(cfg) - (size_t)n, "%s%s: \"%s\"",
					      first ? "" : ", ", L->site[j].name, s->peer[j]);
				first = 0;
			}
		n += snprintf(cfg + n, sizeof(cfg) - (size_t)n, "}\n");
	}
	if (write_file(L->policy, policy) || write_file(L->cfg, cfg) ||
	    write_file(L->optok, OP_TOKEN "\n") || write_file(L->sitetok, SITE_TOKEN "\n"))
		return lab_fail(L, "cannot write the lab's files", L->root);
	return true;
}

/* drorchd's status shows state STEADY, us-east primary, replicas streaming. */
static bool steady(json_t *st)
{
	const char *state = json_string_value(json_object_get(st, "state"));
	const char *primary = json_string_value(json_object_get(st, "primary"));
	json_t *sites = json_object_get(st, "sites");
	if (!state || strcmp(state, "STEADY") || !primary || strcmp(primary, site_names[0]) ||
	    json_array_size(sites) != NSITES)
		return false;
	for (size_t i = 0; i < json_array_size(sites); i++) {
		json_t *s = json_array_get(sites, i);
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *role = json_string_value(json_object_get(s, "role"));
		const char *repl = json_string_value(json_object_get(s, "replication"));
		bool is_primary = name && !strcmp(name, primary);
		if (!role || strcmp(role, is_primary ? "primary" : "replica") ||
		    (!is_primary && (!repl || strcmp(repl, "streaming"))))
			return false;
	}
	return true;
}

static bool lab_up(struct lab *L)
{
	char url[160], bin[600];
	for (int i = 0; i < NSITES; i++) {
		struct site *s = &L->site[i];
		s->name = site_names[i];
		snprintf(s->listen, sizeof(s->listen), "127.0.0.1:%d", freeport_one());
		snprintf(s->base, sizeof(s->base), "http://%s", s->listen);
		snprintf(s->orch_url, sizeof(s->orch_url), "%s", s->base);
		snprintf(s->data, sizeof(s->data), "%s/%s", L->root, s->name);
		snprintf(s->log, sizeof(s->log), "%s/%s.log", L->root, s->name);
	}
	for (int i = 0; i < NSITES; i++)
		for (int j = 0; j < NSITES; j++)
			snprintf(L->site[i].peer[j], sizeof(L->site[i].peer[j]), "%s", L->site[j].listen);
	snprintf(L->orch_listen, sizeof(L->orch_listen), "127.0.0.1:%d", freeport_one());
	snprintf(L->orch_base, sizeof(L->orch_base), "http://%s", L->orch_listen);
	snprintf(L->cfg, sizeof(L->cfg), "%s/drorchd.yaml", L->root);
	snprintf(L->db, sizeof(L->db), "%s/drorch.db", L->root);
	snprintf(L->policy, sizeof(L->policy), "%s/policy.yaml", L->root);
	snprintf(L->optok, sizeof(L->optok), "%s/operator.token", L->root);
	snprintf(L->sitetok, sizeof(L->sitetok), "%s/site.token", L->root);
	snprintf(L->orch_log, sizeof(L->orch_log), "%s/drorchd.log", L->root);
	if (L->cell->profile != PROFILE_LOOPBACK && !start_drlink(L))
		return false;
	if (!write_configs(L))
		return false;
	for (int i = 0; i < NSITES; i++)
		if (!start_site(L, &L->site[i]))
			return lab_fail(L, "a site did not come up", L->site[i].log);
	snprintf(bin, sizeof(bin), "%s/drorchd", L->opt->bindir);
	char *argv[] = { bin, "--config", L->cfg, NULL };
	L->orch = spawn(argv, L->orch_log);
	snprintf(url, sizeof(url), "%s/healthz", L->orch_base);
	if (L->orch < 0 || !wait_http_ok(L->hc, url, 10000))
		return lab_fail(L, "drorchd did not come up", L->orch_log);
	snprintf(url, sizeof(url), "%s/v1/status", L->orch_base);
	uint64_t deadline = time_mono_ms() + 20000;
	while (time_mono_ms() < deadline) {
		json_t *st;
		http(L->hc, "GET", url, NULL, NULL, 0, 2000, &st);
		bool ok = st && steady(st);
		json_decref(st);
		if (ok)
			return true;
		time_sleep_ms(20);
	}
	return lab_fail(L, "the cluster never reached STEADY with every role in place",
			L->orch_log);
}

static void lab_down(struct lab *L)
{
	kill_child(L->orch);
	for (int i = 0; i < NSITES; i++)
		kill_child(L->site[i].pid);
	kill_child(L->link);
	L->orch = L->link = 0;
	for (int i = 0; i < NSITES; i++)
		L->site[i].pid = 0;
}

static void rmrf(const char *dir)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* ---- writers -------------------------------------------------------------------- */

struct shared {
	struct lab *lab;
	atomic_bool stop;
	atomic_bool killed;          /* set just before kill(2) of site 0, us-east */
	atomic_uint_fast64_t first_new_ack_ns;  /* 0 until the first ack by another site */
	atomic_int refused;          /* writes not acknowledged before the kill */
};

struct writer {
	int id;
	struct shared *sh;
	int64_t *acked;     /* sequence numbers acknowledged */
	size_t nacked, cap;
	int64_t next;
	size_t acked_old, acked_new;  /* by the killed site / by another */
	int lost, unread;             /* filled by the read-back */
};

static void key_of(int writer, int64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "fb-w%d-%lld", writer, (long long)seq);
}

/* The value a key holds: the key repeated to value_size bytes. */
static void value_of(const char *key, char *buf, size_t size)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < size; i++)
		buf[i] = key[i % kl];
}

/* Index of the primary drorchd names now, or -1. */
static int resolve_primary(struct lab *L, struct httpc *orch)
{
	char url[160];
	json_t *st;
	snprintf(url, sizeof(url), "%s/v1/status", L->orch_base);
	http(orch, "GET", url, NULL, NULL, 0, 2000, &st);
	const char *p = json_string_value(json_object_get(st, "primary"));
	int idx = -1;
	for (int i = 0; p && i < NSITES; i++)
		if (!strcmp(p, site_names[i]))
			idx = i;
	json_decref(st);
	return idx;
}

static int writer_record(struct writer *w, int64_t seq)
{
	if (w->nacked == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4096;
		int64_t *n = realloc(w->acked, cap * sizeof(*n));
		if (!n)
			return -1;
		w->acked = n;
		w->cap = cap;
	}
	w->acked[w->nacked++] = seq;
	return 0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct shared *sh = w->sh;
	struct lab *L = sh->lab;
	struct httpc *site = httpc_new(), *orch = httpc_new();
	size_t vsize = (size_t)L->opt->value_size;
	char *value = malloc(vsize);
	char key[64], url[200];
	int target = -1;
	while (site && orch && value && !atomic_load(&sh->stop)) {
		if (target < 0) {
			target = resolve_primary(L, orch);
			if (target < 0) {
				time_sleep_ms((uint64_t)L->opt->retry_ms);
				continue;
			}
		}
		int64_t seq = w->next++;
		key_of(w->id, seq, key, sizeof(key));
		value_of(key, value, vsize);
		snprintf(url, sizeof(url), "%s/v1/kv/%s", L->site[target].base, key);
		long st = http(site, "PUT", url, NULL, value, vsize, 3000, NULL);
		if (st == 200) {
			uint64_t now = time_mono_ns();
			if (writer_record(w, seq) != 0)
				break;
			bool after_kill = atomic_load(&sh->killed);
			if (after_kill && target != 0) {
				w->acked_new++;
				uint_fast64_t zero = 0;
				atomic_compare_exchange_strong(&sh->first_new_ack_ns, &zero, now);
			} else {
				w->acked_old++;
			}
			continue;
		}
		if (!atomic_load(&sh->killed))
			atomic_fetch_add(&sh->refused, 1);
		time_sleep_ms((uint64_t)L->opt->retry_ms);
		target = resolve_primary(L, orch);
	}
	free(value);
	httpc_free(site);
	httpc_free(orch);
	return NULL;
}

struct reader {
	struct writer *w;
	struct lab *lab;
	int site;
};

/* Reads w's acknowledged keys back from the new primary; counts the lost. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct httpc *c = httpc_new();
	size_t vsize = (size_t)r->lab->opt->value_size;
	char *value = malloc(vsize);
	char key[64], url[200];
	for (size_t k = 0; c && value && k < r->w->nacked; k++) {
		key_of(r->w->id, r->w->acked[k], key, sizeof(key));
		value_of(key, value, vsize);
		snprintf(url, sizeof(url), "%s/v1/kv/%s", r->lab->site[r->site].base, key);
		struct httpc_resp resp;
		char err[ERR_MAX];
		int attempt = 0;
		/* no answer is not a loss: ask again, then count it as unread */
		while (attempt < 3 &&
		       httpc_request(c, "GET", url, NULL, NULL, 0, 5000, &resp, err, sizeof(err)) != 0)
			attempt++;
		if (attempt == 3) {
			r->w->unread++;
			continue;
		}
		r->w->lost += !(resp.status == 200 && resp.body_len == vsize &&
				memcmp(resp.body, value, vsize) == 0);
		httpc_resp_free(&resp);
	}
	free(value);
	httpc_free(c);
	return NULL;
}

/* ---- one trial ------------------------------------------------------------------ */

static const char *profile_name(enum profile p)
{
	return p == PROFILE_WAN ? "wan" : p == PROFILE_LOSSY ? "lossy" : "loopback";
}

struct trial {
	bool ok;
	char why[ERR_MAX];
	int new_primary;
	double client_rto_ms;
	double orch_rto_ms;          /* drorchd's rto_ms, NO_MARK if absent */
	long long rpo_records;
	long long acked, acked_old, acked_new, lost;
	/* ms from the kill (wall clock; negative: before it), NO_MARK if absent */
	double last_good, detected, fenced, decided, promoted, first_write, client_ack;
	double lease_wait_ms;        /* the fence step's waited_lease_ms */
	int dismissed;               /* suspicions of the primary dismissed (D03 D04 D06 F14) */
	int false_failovers;         /* runs started before the kill (the lossy watch) */
	int refused;                 /* writes refused or unanswered before the kill */
	bool watched;                /* the lossy watch ran to its end */
};

#define NO_MARK (-1e9)
#define HAS_MARK(x) ((x) > -1e8)

static double ts_rel(json_t *ts, const char *name, uint64_t kill_wall)
{
	json_t *v = json_object_get(ts, name);
	return json_is_integer(v) ? (double)((long long)json_integer_value(v) - (long long)kill_wall)
				  : NO_MARK;
}

/* The run's JSON field (the store may hand it back as text). */
static json_t *as_object(json_t *v)
{
	if (json_is_string(v))
		return json_loads(json_string_value(v), 0, NULL);
	return json_incref(v);
}

/* Counts the transitions that left SUSPECT without a failover: before the
 * kill these are false suspicions (e.g. a WAN round longer than detection's
 * window); their row ids come from fsm/dr.fsm.yaml. */
static void count_dismissed(struct lab *L, struct trial *t)
{
	static const char *const rows[] = { "D03", "D04", "D06", "F14", NULL };
	char url[160];
	json_t *j;
	snprintf(url, sizeof(url), "%s/v1/transitions", L->orch_base);
	http(L->hc, "GET", url, NULL, NULL, 0, 2000, &j);
	json_t *all = json_object_get(j, "transitions");
	for (size_t i = 0; i < json_array_size(all); i++) {
		const char *id = json_string_value(json_object_get(json_array_get(all, i), "row_id"));
		for (int r = 0; id && rows[r]; r++)
			t->dismissed += strncmp(id, rows[r], 3) == 0;
	}
	json_decref(j);
}

/* Waits for drorchd to close its failover run; fills t from it. */
static void read_run(struct lab *L, struct trial *t, uint64_t kill_wall)
{
	char url[160];
	json_t *run = NULL;
	uint64_t deadline = time_mono_ms() + 15000;
	snprintf(url, sizeof(url), "%s/v1/runs", L->orch_base);
	while (time_mono_ms() < deadline) {
		json_t *runs;
		http(L->hc, "GET", url, NULL, NULL, 0, 2000, &runs);
		json_t *r = json_array_get(json_object_get(runs, "runs"), 0);
		const char *outcome = json_string_value(json_object_get(r, "outcome"));
		bool done = outcome && strcmp(outcome, "running") != 0;
		if (r) {
			json_decref(run);
			run = json_incref(r);
		}
		json_decref(runs);
		if (done)
			break;
		time_sleep_ms(50);
	}
	t->orch_rto_ms = NO_MARK;
	t->rpo_records = -1;
	t->last_good = t->detected = t->fenced = t->decided = t->promoted = t->first_write = NO_MARK;
	t->lease_wait_ms = NO_MARK;
	if (!run)
		return;
	json_t *rto = json_object_get(run, "rto_ms"), *rpo = json_object_get(run, "rpo_records");
	if (json_is_integer(rto))
		t->orch_rto_ms = (double)json_integer_value(rto);
	if (json_is_integer(rpo))
		t->rpo_records = json_integer_value(rpo);
	json_t *ts = as_object(json_object_get(run, "timestamps"));
	t->last_good = ts_rel(ts, "last_good_heartbeat", kill_wall);
	t->detected = ts_rel(ts, "detected", kill_wall);
	t->decided = ts_rel(ts, "decided", kill_wall);
	t->promoted = ts_rel(ts, "promoted", kill_wall);
	t->first_write = ts_rel(ts, "first_write", kill_wall);
	json_decref(ts);
	snprintf(url, sizeof(url), "%s/v1/runs/%lld", L->orch_base,
		 (long long)json_integer_value(json_object_get(run, "id")));
	json_decref(run);
	json_t *full;
	http(L->hc, "GET", url, NULL, NULL, 0, 2000, &full);
	json_t *steps = json_object_get(full, "steps");
	for (size_t i = 0; i < json_array_size(steps); i++) {
		json_t *s = json_array_get(steps, i);
		if (strcmp(json_string_value(json_object_get(s, "name")) ?: "", "fence"))
			continue;
		json_t *d = as_object(json_object_get(s, "detail"));
		json_t *w = json_object_get(d, "waited_lease_ms");
		if (json_is_integer(w))
			t->lease_wait_ms = (double)json_integer_value(w);
		json_decref(d);
		/* the step is recorded once fencing is over, lease wait included */
		json_t *at = json_object_get(s, "ts_ms");
		if (json_is_integer(at))
			t->fenced = (double)((long long)json_integer_value(at) - (long long)kill_wall);
	}
	json_decref(full);
}

/* How many runs drorchd has opened (a fresh lab has none); -1 if unknown. */
static int runs_so_far(struct lab *L)
{
	char url[160];
	json_t *runs = NULL;
	snprintf(url, sizeof(url), "%s/v1/runs", L->orch_base);
	http(L->hc, "GET", url, NULL, NULL, 0, 2000, &runs);
	json_t *list = json_object_get(runs, "runs");
	int n = json_is_array(list) ? (int)json_array_size(list) : -1;
	json_decref(runs);
	return n;
}

static bool trial_fail(struct trial *t, const char *why)
{
	snprintf(t->why, sizeof(t->why), "%s", why);
	return false;
}

/* Load, kill, failover, read-back on an up lab. */
static bool trial_measure(struct lab *L, struct trial *t)
{
	const struct options *o = L->opt;
	struct shared sh = { .lab = L };
	struct writer w[MAX_WRITERS];
	pthread_t tid[MAX_WRITERS];
	int n = 0;
	for (; n < o->writers; n++) {
		w[n] = (struct writer){ .id = n, .sh = &sh };
		if (pthread_create(&tid[n], NULL, writer_main, &w[n]) != 0)
			break;
	}
	bool ok = n == o->writers;
	bool lossy = L->cell->profile == PROFILE_LOSSY;
	time_sleep_ms((uint64_t)(lossy ? o->watch_ms : o->pre_ms));
	if (ok && lossy) {
		int runs = runs_so_far(L);
		if (runs < 0)
			ok = trial_fail(t, "drorchd did not list its runs");
		else if ((t->false_failovers = runs) > 0)
			ok = trial_fail(t, "a failover started before the kill (a false failover)");
		t->watched = runs >= 0;
	}
	uint64_t kill_ns = time_mono_ns(), kill_wall = time_wall_ms();
	atomic_store(&sh.killed, true);
	t->refused = atomic_load(&sh.refused);
	if (ok && kill_child(L->site[0].pid) != 0)
		ok = trial_fail(t, "the primary did not die");
	L->site[0].pid = 0;
	uint64_t deadline = time_mono_ms() + (uint64_t)o->timeout_s * 1000;
	while (ok && !atomic_load(&sh.first_new_ack_ns) && time_mono_ms() < deadline)
		time_sleep_ms(1);
	uint64_t first = atomic_load(&sh.first_new_ack_ns);
	if (ok && !first)
		ok = trial_fail(t, "no write acknowledged by a new primary in time");
	if (ok)
		time_sleep_ms((uint64_t)o->post_ms);
	atomic_store(&sh.stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	if (ok) {
		t->client_rto_ms = (double)(first - kill_ns) / 1e6;
		t->client_ack = t->client_rto_ms;
		t->new_primary = resolve_primary(L, L->hc);
		if (t->new_primary <= 0)
			ok = trial_fail(t, "drorchd names no new primary");
	}
	if (ok) {
		struct reader r[MAX_WRITERS];
		pthread_t rt[MAX_WRITERS];
		int nr = 0;
		for (; nr < n; nr++) {
			r[nr] = (struct reader){ .w = &w[nr], .lab = L, .site = t->new_primary };
			if (pthread_create(&rt[nr], NULL, reader_main, &r[nr]) != 0)
				break;
		}
		for (int i = 0; i < nr; i++)
			pthread_join(rt[i], NULL);
		if (nr != n)
			ok = trial_fail(t, "cannot start the readers");
		read_run(L, t, kill_wall);
		count_dismissed(L, t);
	}
	int unread = 0;
	for (int i = 0; i < n; i++) {
		unread += w[i].unread;
		t->acked += (long long)w[i].nacked;
		t->acked_old += (long long)w[i].acked_old;
		t->acked_new += (long long)w[i].acked_new;
		t->lost += w[i].lost;
		free(w[i].acked);
	}
	if (ok && unread) {
		snprintf(t->why, sizeof(t->why), "read-back: %d acknowledged keys got no answer", unread);
		ok = false;
	}
	return ok;
}

static void run_trial(const struct options *o, const struct cell *c, int k, const char *top,
		      struct trial *t)
{
	struct lab L = { .opt = o, .cell = c, .hc = httpc_new() };
	*t = (struct trial){ .new_primary = -1 };
	snprintf(L.root, sizeof(L.root), "%s/%s-%s-%d", top, c->mode, profile_name(c->profile), k);
	if (!L.hc || mkdir(L.root, 0755) != 0)
		snprintf(t->why, sizeof(t->why), "cannot create %s", L.root);
	else if (!lab_up(&L))
		snprintf(t->why, sizeof(t->why), "%s", L.err);
	else
		t->ok = trial_measure(&L, t);
	lab_down(&L);
	httpc_free(L.hc);
	/* kept for a look: failed trials, and sync trials that lost an acked write */
	if (t->ok && !o->keep && !(t->lost && !strcmp(c->mode, "sync")))
		rmrf(L.root);
}

/* ---- statistics and the table -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0: the min, 100: the max) of v[0..n), sorted in
 * place; NAN if n=0. */
static double pct(double *v, int n, double p)
{
	if (n == 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	int rank = (int)ceil(p / 100.0 * n);
	return v[rank < 1 ? 0 : rank - 1];
}

/* Pools the field at offset off of the cell's completed trials into v. */
static int pool(const struct trial *t, int n, size_t off, double *v)
{
	int m = 0;
	for (int i = 0; i < n; i++) {
		double x = *(const double *)((const char *)&t[i] + off);
		if (t[i].ok && HAS_MARK(x))
			v[m++] = x;
	}
	return m;
}

/* Pools, per completed trial, the mark at `to` less the mark at `from`. */
static int pool_span(const struct trial *t, int n, size_t from, size_t to, double *v)
{
	int m = 0;
	for (int i = 0; i < n; i++) {
		double a = *(const double *)((const char *)&t[i] + from);
		double b = *(const double *)((const char *)&t[i] + to);
		if (t[i].ok && HAS_MARK(a) && HAS_MARK(b))
			v[m++] = b - a;
	}
	return m;
}

static void fmt_ms(char *buf, size_t len, double x)
{
	if (isnan(x))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f", x);
}

#define ROW_FMT "%-15s %-7s %-26s %-13s %-10lld %-11lld %-9lld %s\n"
#define ROW_HEAD "%-15s %-7s %-26s %-13s %-10s %-11s %-9s %s\n"

static void print_row(const struct cell *c, const struct trial *t)
{
	int n = c->trials, ok = 0;
	long long lost = 0, rpo = 0, dismissed = 0;
	double *v = calloc((size_t)n + 1, sizeof(double));
	double *acked = calloc((size_t)n + 1, sizeof(double));
	if (!v || !acked) {
		free(v);
		free(acked);
		return;
	}
	for (int i = 0; i < n; i++)
		if (t[i].ok) {
			acked[ok++] = (double)t[i].acked;
			lost += t[i].lost;
			rpo += t[i].rpo_records > 0 ? t[i].rpo_records : 0;
			dismissed += t[i].dismissed;
		}
	char a[24], b[24], d[24], e[24], f[24], g[24], h[24];
	int m = pool(t, n, offsetof(struct trial, client_rto_ms), v);
	fmt_ms(h, sizeof(h), pct(v, m, 0));
	fmt_ms(a, sizeof(a), pct(v, m, 50));
	fmt_ms(b, sizeof(b), pct(v, m, 99));
	fmt_ms(d, sizeof(d), pct(v, m, 100));
	m = pool(t, n, offsetof(struct trial, orch_rto_ms), v);
	fmt_ms(e, sizeof(e), pct(v, m, 50));
	fmt_ms(f, sizeof(f), pct(v, m, 99));
	fmt_ms(g, sizeof(g), pct(acked, ok, 50));
	char cell[32], trials[16], client[128], orch[64], acks[96];
	snprintf(cell, sizeof(cell), "%s %s", c->mode, profile_name(c->profile));
	snprintf(trials, sizeof(trials), "%d/%d", ok, n);
	snprintf(client, sizeof(client), "%s / %s / %s / %s", h, a, b, d);
	snprintf(orch, sizeof(orch), "%s / %s", e, f);
	fmt_ms(a, sizeof(a), pct(acked, ok, 100));
	fmt_ms(b, sizeof(b), ok ? acked[0] : NAN);
	snprintf(acks, sizeof(acks), "%s [%s..%s]", g, b, a);
	printf(ROW_FMT, cell, trials, client, orch, lost, rpo, dismissed, acks);
	free(v);
	free(acked);
}

#define PHASE_FMT "%-15s %-11s %-11s %-11s %-11s %-11s %-11s %-11s %s\n"

/* "median [max]" of v[0..m), or "-". */
static void fmt_med_max(char *buf, size_t len, double *v, int m)
{
	if (m == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f [%.0f]", pct(v, m, 50), pct(v, m, 100));
}

/* Where the failover time goes: each phase's median and max, in ms. */
static void print_phases(const struct cell *c, const struct trial *t)
{
	/* phase i runs from marks[i] to marks[i + 1]; the first two count from the kill */
	static const size_t marks[] = {
		offsetof(struct trial, detected), offsetof(struct trial, fenced),
		offsetof(struct trial, decided), offsetof(struct trial, promoted),
		offsetof(struct trial, first_write), offsetof(struct trial, client_ack),
	};
	enum { NPHASES = 7 };
	int n = c->trials;
	double *v = calloc((size_t)n + 1, sizeof(double));
	if (!v)
		return;
	char cols[NPHASES][32], lease[24], cell[32];
	fmt_med_max(cols[0], sizeof(cols[0]), v, pool(t, n, offsetof(struct trial, last_good), v));
	fmt_med_max(cols[1], sizeof(cols[1]), v, pool(t, n, marks[0], v));
	for (int p = 2; p < NPHASES; p++)
		fmt_med_max(cols[p], sizeof(cols[p]), v, pool_span(t, n, marks[p - 2], marks[p - 1], v));
	int m = pool(t, n, offsetof(struct trial, lease_wait_ms), v);
	fmt_ms(lease, sizeof(lease), pct(v, m, 50));
	snprintf(cell, sizeof(cell), "%s %s", c->mode, profile_name(c->profile));
	printf(PHASE_FMT, cell, cols[0], cols[1],
	       cols[2], cols[3], cols[4], cols[5], cols[6], lease);
	free(v);
}

/* The command that repeats this run, every option explicit. */
static void print_rerun(const struct options *o)
{
	printf("\nrerun (from the build directory): bench/failover/run.sh --cells \"");
	for (int c = 0; c < o->ncells; c++)
		printf("%s%s:%s", c ? " " : "", o->cells[c].mode, profile_name(o->cells[c].profile));
	printf("\" --trials %d --wan-trials %d --lossy-trials %d --writers %d --pre-ms %d "
	       "--post-ms %d --retry-ms %d --value-size %d --wan-latency-ms %d --lossy-latency-ms %d "
	       "--lossy-jitter-ms %d --lossy-loss-pct %g --watch-ms %d", o->trials, o->wan_trials,
	       o->lossy_trials, o->writers, o->pre_ms, o->post_ms, o->retry_ms, o->value_size,
	       o->wan_latency_ms, o->lossy_latency_ms, o->lossy_jitter_ms, o->lossy_loss_pct,
	       o->watch_ms);
	if (o->lease_ms)
		printf(" --lease-ms %d", o->lease_ms);
	if (o->heartbeat_ms)
		printf(" --heartbeat-ms %d", o->heartbeat_ms);
	if (o->misses)
		printf(" --misses %d", o->misses);
	printf(" --wan-heartbeat-ms %d --wan-misses %d --timeout-s %d --dir %s\n",
	       o->wan_heartbeat_ms, o->wan_misses, o->timeout_s, o->dir);
}

/* "heartbeat 100 ms x 3 misses", saying which parts are the policy's built-in. */
static void detection_text(char *buf, size_t len, int heartbeat_ms, int misses)
{
	if (!heartbeat_ms && !misses)
		snprintf(buf, len, "built-in (heartbeat 100 ms x 3 misses)");
	else
		snprintf(buf, len, "heartbeat %d ms x %d misses", heartbeat_ms ? heartbeat_ms : 100,
			 misses ? misses : 3);
}

/* The aims, each with MET or NOT MET: issue 5's (loopback RTO, sync loses
 * nothing) and issue 13's (RTO over the 80 ms RTT WAN, and on loopback). */
static void print_aims(const struct options *o, struct trial *const results[])
{
	printf("aim (issue 5): client RTO p99 < 1000 ms on loopback with the default policy; "
	       "zero lost acknowledged writes in sync mode\n");
	printf("aim (issue 13): client RTO p99 < 1500 ms over the 80 ms RTT WAN, <= 450 ms on "
	       "loopback with the default policy, and no false failover under 50 ms jitter + 2%% "
	       "loss at loopback's detection\n");
	char lease[64] = "", lo[64];
	if (o->lease_ms)
		snprintf(lease, sizeof(lease), "; sites' --lease-ms %d", o->lease_ms);
	detection_text(lo, sizeof(lo), o->heartbeat_ms, o->misses);
	for (int c = 0; c < o->ncells; c++) {
		const struct cell *cl = &o->cells[c];
		double *v = calloc((size_t)cl->trials + 1, sizeof(double));
		if (!v)
			continue;
		int m = pool(results[c], cl->trials, offsetof(struct trial, client_rto_ms), v);
		long long lost = 0;
		for (int i = 0; i < cl->trials; i++)
			lost += results[c][i].ok ? results[c][i].lost : 0;
		double p99 = pct(v, m, 99);
		if (cl->profile == PROFILE_LOOPBACK && !o->heartbeat_ms && !o->misses) {
			printf("  %s loopback: client RTO p99 %.0f ms < 1000 ms (issue 5): %s\n",
			       cl->mode, p99, m && p99 < 1000 ? "MET" : "NOT MET");
			printf("  %s loopback: client RTO p99 %.0f ms <= 450 ms (issue 13%s): %s\n",
			       cl->mode, p99, lease, m && p99 <= 450 ? "MET" : "NOT MET");
		}
		if (cl->profile == PROFILE_LOSSY) {
			int watched = 0, false_failovers = 0, refused = 0;
			for (int i = 0; i < cl->trials; i++) {
				watched += results[c][i].watched;
				false_failovers += results[c][i].false_failovers;
				refused += results[c][i].refused;
			}
			printf("  %s lossy: %d writes refused in the watches (a lapsed lease, a "
			       "timeout)\n", cl->mode, refused);
			printf("  %s lossy: %d false failovers in %d watches of %d ms, jitter %d ms + "
			       "loss %g%%, detection %s (issue 13%s): %s\n", cl->mode, false_failovers,
			       watched, o->watch_ms, o->lossy_jitter_ms, o->lossy_loss_pct, lo, lease,
			       watched == cl->trials && false_failovers == 0 ? "MET" : "NOT MET");
		}
		if (cl->profile == PROFILE_WAN && o->wan_latency_ms == 40)  /* 80 ms RTT */
			printf("  %s wan: client RTO p99 %.0f ms < 1500 ms (issue 13): %s\n", cl->mode,
			       p99, m && p99 < 1500 ? "MET" : "NOT MET");
		if (!strcmp(cl->mode, "sync"))
			printf("  sync %s: %lld lost acknowledged writes over %d trials: %s\n",
			       profile_name(cl->profile), lost, m, m && lost == 0 ? "MET" : "NOT MET");
		free(v);
	}
}

static void print_table(const struct options *o, struct trial *const results[])
{
	printf("\nbench/failover: kill -9 of the primary under write load; 3 drsite + drorchd, "
	       "a fresh lab per trial; %d writers, %d-byte values, %d ms of load before the kill\n",
	       o->writers, o->value_size, o->pre_ms);
	char lo[64], wan[64];
	detection_text(lo, sizeof(lo), o->heartbeat_ms, o->misses);
	detection_text(wan, sizeof(wan), o->wan_heartbeat_ms, o->wan_misses);
	printf("policy: replication {mode: MODE, quorum: 1}, failover {anti_flap_s: 0}, rest built-in; "
	       "detection: loopback %s, wan %s\n", lo, wan);
	printf("wan: drlink, %d ms one way (%d ms RTT) on every site->site and drorchd->site link; "
	       "clients reach the sites and drorchd directly\n", o->wan_latency_ms, 2 * o->wan_latency_ms);
	printf("lossy: drlink on the same links, %d ms +- %d ms one way, %g%% of chunks lost "
	       "(retransmitted after an RTO); loopback's detection; %d ms of load before the kill, "
	       "in which no failover may start\n", o->lossy_latency_ms, o->lossy_jitter_ms,
	       o->lossy_loss_pct, o->watch_ms);
	printf("sites' write lease: the policy's detection window plus drorchd's round trip to "
	       "the site, at most %d ms (drsite --lease-ms%s)\n", o->lease_ms ? o->lease_ms : 500,
	       o->lease_ms ? "" : ", its default");
	printf("client RTO: kill(2) to the first write acknowledged by the new primary (writers "
	       "re-resolve via drorchd GET /v1/status, %d ms after a failed write)\n", o->retry_ms);
	printf("percentiles are nearest-rank: with 100 trials or fewer, p99 is the max\n\n");
	printf(ROW_HEAD, "mode profile", "trials", "client RTO ms", "drorchd", "lost", "drorchd",
	       "false", "acked writes");
	printf(ROW_HEAD, "", "ok/run", "min / p50 / p99 / max", "rto_ms", "acked", "rpo_records",
	       "suspic.", "per trial");
	printf(ROW_HEAD, "", "", "", "p50 / p99", "(total)", "(total)", "(total)", "p50 [min..max]");
	for (int c = 0; c < o->ncells; c++)
		print_row(&o->cells[c], results[c]);
	printf("\nwhere the time goes: ms, median [max] over trials; drorchd's run timestamps "
	       "(fenced: the fence step's) against the kill\n");
	printf(PHASE_FMT, "mode profile", "last good", "detected", "fenced", "decided", "promoted",
	       "first", "client", "lease");
	printf(PHASE_FMT, "", "answer", "", "", "", "", "write", "ack", "waited");
	printf(PHASE_FMT, "", "(kill=0)", "(kill=0)", "-detected", "-fenced", "-decided", "-promoted",
	       "-first w.", "(p50)");
	for (int c = 0; c < o->ncells; c++)
		print_phases(&o->cells[c], results[c]);
	printf("\npeers (published figures, not run here):\n"
	       "  Patroni (PostgreSQL): automatic failover ~25 s with defaults (ttl 30, loop_wait 10), ~7 s at its most aggressive settings\n"
	       "  Redis Sentinel: ~31 s default (down-after-milliseconds 30000), 2.3 s at 1 s detection,\n"
	       "                  1.4 s at 200 ms detection -- where it lost tens of thousands of acknowledged writes\n");
	print_aims(o, results);
	print_rerun(o);
}

/* ---- options ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: failbench [options]\n"
		"  --bindir DIR          where drsite, drlink, drorchd are            [.]\n"
		"  --dir DIR             where the labs go (a real disk)               [$TMPDIR or /tmp]\n"
		"  --cells \"LIST\"        MODE:PROFILE ..., MODE sync|async, PROFILE loopback|wan|lossy\n"
		"                        [\"sync:loopback async:loopback sync:wan async:wan sync:lossy\"]\n"
		"  --trials N            failovers per loopback cell                   [20]\n"
		"  --wan-trials N        failovers per WAN cell                        [8]\n"
		"  --lossy-trials N      watches and failovers per lossy cell          [5]\n"
		"  --writers W           client threads                                [4]\n"
		"  --pre-ms MS           load before the kill                          [1000]\n"
		"  --post-ms MS          load after the first new-primary ack          [300]\n"
		"  --retry-ms MS         a writer's pause before re-resolving          [10]\n"
		"  --value-size B        bytes per value                               [100]\n"
		"  --wan-latency-ms MS   one-way latency on every WAN link             [40]\n"
		"  --heartbeat-ms MS --misses N          loopback detection [policy's built-in: 100 x 3]\n"
		"  --wan-heartbeat-ms MS --wan-misses N  WAN detection      [100 x 5]\n"
		"  --lossy-latency-ms MS --lossy-jitter-ms MS --lossy-loss-pct P\n"
		"                        the lossy profile's links (drlink)            [0, 50, 2]\n"
		"  --watch-ms MS         lossy: load before the kill, in which no failover\n"
		"                        may start                                     [20000]\n"
		"  --lease-ms MS         the sites' longest write lease (drsite --lease-ms) [500]\n"
		"  --timeout-s S         a failover that takes longer fails the trial  [20]\n"
		"  --raw FILE            also write the per-trial lines to FILE\n"
		"  --keep                keep every lab directory (failed ones are always kept)\n");
}

static int parse_cells(struct options *o, const char *list)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", list);
	o->ncells = 0;
	for (char *save, *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon || o->ncells == MAX_CELLS)
			return -1;
		*colon = '\0';
		struct cell *c = &o->cells[o->ncells++];
		if (strcmp(tok, "sync") && strcmp(tok, "async"))
			return -1;
		snprintf(c->mode, sizeof(c->mode), "%s", tok);
		if (!strcmp(colon + 1, "loopback"))
			c->profile = PROFILE_LOOPBACK;
		else if (!strcmp(colon + 1, "wan"))
			c->profile = PROFILE_WAN;
		else if (!strcmp(colon + 1, "lossy"))
			c->profile = PROFILE_LOSSY;
		else
			return -1;
	}
	return o->ncells ? 0 : -1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* A percentage 0..100. */
static int parse_pct(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= 0 && v <= 100))
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "bindir", required_argument, NULL, 'b' }, { "dir", required_argument, NULL, 'd' },
		{ "cells", required_argument, NULL, 'c' }, { "trials", required_argument, NULL, 'n' },
		{ "wan-trials", required_argument, NULL, 'N' },
		{ "writers", required_argument, NULL, 'w' }, { "pre-ms", required_argument, NULL, 'p' },
		{ "post-ms", required_argument, NULL, 'P' }, { "retry-ms", required_argument, NULL, 'r' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "wan-latency-ms", required_argument, NULL, 'l' },
		{ "heartbeat-ms", required_argument, NULL, 'h' }, { "misses", required_argument, NULL, 'm' },
		{ "wan-heartbeat-ms", required_argument, NULL, 'H' },
		{ "wan-misses", required_argument, NULL, 'M' },
		{ "lossy-trials", required_argument, NULL, 'T' },
		{ "lossy-latency-ms", required_argument, NULL, 'x' },
		{ "lossy-jitter-ms", required_argument, NULL, 'j' },
		{ "lossy-loss-pct", required_argument, NULL, 'L' },
		{ "watch-ms", required_argument, NULL, 'W' }, { "lease-ms", required_argument, NULL, 'e' },
		{ "timeout-s", required_argument, NULL, 't' }, { "raw", required_argument, NULL, 'R' },
		{ "keep", no_argument, NULL, 'k' }, { "help", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmp = getenv("TMPDIR");
	*o = (struct options){ .trials = 20, .wan_trials = 8, .writers = 4, .pre_ms = 1000,
			       .post_ms = 300, .retry_ms = 10, .value_size = 100, .wan_latency_ms = 40,
			       .wan_heartbeat_ms = 100, .wan_misses = 5, .timeout_s = 20,
			       .lossy_trials = 5, .lossy_jitter_ms = 50, .lossy_loss_pct = 2,
			       .watch_ms = 20000 };
	snprintf(o->bindir, sizeof(o->bindir), ".");
	snprintf(o->dir, sizeof(o->dir), "%s", tmp && *tmp ? tmp : "/tmp");
	parse_cells(o, "sync:loopback async:loopback sync:wan async:wan sync:lossy");
	int opt, idx, bad = 0;
	while (!bad && (opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		switch (opt) {
		case 'b': snprintf(o->bindir, sizeof(o->bindir), "%s", optarg); break;
		case 'd': snprintf(o->dir, sizeof(o->dir), "%s", optarg); break;
		case 'R': snprintf(o->raw, sizeof(o->raw), "%s", optarg); break;
		case 'c': bad = parse_cells(o, optarg); break;
		case 'n': bad = parse_int(optarg, 1, 10000, &o->trials); break;
		case 'N': bad = parse_int(optarg, 1, 10000, &o->wan_trials); break;
		case 'w': bad = parse_int(optarg, 1, MAX_WRITERS, &o->writers); break;
		case 'p': bad = parse_int(optarg, 0, 600000, &o->pre_ms); break;
		case 'P': bad = parse_int(optarg, 0, 600000, &o->post_ms); break;
		case 'r': bad = parse_int(optarg, 1, 10000, &o->retry_ms); break;
		case 'v': bad = parse_int(optarg, 1, 1 << 20, &o->value_size); break;
		case 'l': bad = parse_int(optarg, 0, 10000, &o->wan_latency_ms); break;
		case 'h': bad = parse_int(optarg, 10, 60000, &o->heartbeat_ms); break;
		case 'm': bad = parse_int(optarg, 1, 100, &o->misses); break;
		case 'H': bad = parse_int(optarg, 10, 60000, &o->wan_heartbeat_ms); break;
		case 'M': bad = parse_int(optarg, 1, 100, &o->wan_misses); break;
		case 't': bad = parse_int(optarg, 1, 3600, &o->timeout_s); break;
		case 'T': bad = parse_int(optarg, 1, 10000, &o->lossy_trials); break;
		case 'x': bad = parse_int(optarg, 0, 10000, &o->lossy_latency_ms); break;
		case 'j': bad = parse_int(optarg, 0, 10000, &o->lossy_jitter_ms); break;
		case 'L': bad = parse_pct(optarg, &o->lossy_loss_pct); break;
		case 'W': bad = parse_int(optarg, 0, 3600000, &o->watch_ms); break;
		case 'e': bad = parse_int(optarg, 1, 3600000, &o->lease_ms); break;
		case 'k': o->keep = true; break;
		case 'u': usage(stdout); exit(0);
		default: bad = -1; break;
		}
		if (bad && opt != '?')
			fprintf(stderr, "failbench: bad value for --%s: %s\n", opts[idx].name, optarg);
	}
	if (!bad && optind != argc) {
		fprintf(stderr, "failbench: unexpected argument: %s\n", argv[optind]);
		bad = -1;
	}
	for (int c = 0; c < o->ncells; c++)
		o->cells[c].trials = o->cells[c].profile == PROFILE_WAN	  ? o->wan_trials
				     : o->cells[c].profile == PROFILE_LOSSY ? o->lossy_trials
									    : o->trials;
	return bad;
}

/* ---- main ------------------------------------------------------------------------ */

static void print_trial(FILE *f, const struct cell *c, int k, const struct trial *t)
{
	if (!t->ok) {
		fprintf(f, "cell=%s/%s trial=%d ok=0 false_failovers=%d refused=%d why=\"%s\"\n",
			c->mode, profile_name(c->profile), k, t->false_failovers, t->refused, t->why);
		return;
	}
	fprintf(f, "cell=%s/%s trial=%d ok=1 new_primary=%s client_rto_ms=%.1f orch_rto_ms=%.0f "
		"rpo_records=%lld acked=%lld acked_old=%lld acked_new=%lld lost=%lld "
		"last_good_ms=%.0f detected_ms=%.0f fenced_ms=%.0f decided_ms=%.0f promoted_ms=%.0f "
		"first_write_ms=%.0f lease_wait_ms=%.0f dismissed_suspicions=%d false_failovers=%d refused=%d\n",
		c->mode, profile_name(c->profile), k, site_names[t->new_primary], t->client_rto_ms,
		t->orch_rto_ms, t->rpo_records, t->acked, t->acked_old, t->acked_new, t->lost,
		t->last_good, t->detected, t->fenced, t->decided, t->promoted, t->first_write, t->lease_wait_ms,
		t->dismissed, t->false_failovers, t->refused);
}

int main(int argc, char **argv)
{
	struct options o;
	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (httpc_global_init() != 0) {
		fprintf(stderr, "failbench: curl global init failed\n");
		return 1;
	}
	atexit(on_exit_kill);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	char top[300];
	snprintf(top, sizeof(top), "%s/failbench.XXXXXX", o.dir);
	if (!mkdtemp(top)) {
		fprintf(stderr, "failbench: mkdtemp %s: %s\n", top, strerror(errno));
		return 1;
	}
	FILE *raw = o.raw[0] ? fopen(o.raw, "w") : NULL;
	if (o.raw[0] && !raw) {
		fprintf(stderr, "failbench: cannot write %s: %s\n", o.raw, strerror(errno));
		return 1;
	}
	fprintf(stderr, "failbench: labs under %s\n", top);
	struct trial *results[MAX_CELLS];
	int failed = 0, sync_lost = 0;
	for (int c = 0; c < o.ncells; c++) {
		const struct cell *cl = &o.cells[c];
		results[c] = calloc((size_t)cl->trials, sizeof(struct trial));
		if (!results[c])
			return 1;
		for (int k = 0; k < cl->trials; k++) {
			struct trial *t = &results[c][k];
			run_trial(&o, cl, k + 1, top, t);
			failed += !t->ok;
			sync_lost += t->ok && t->lost && !strcmp(cl->mode, "sync");
			print_trial(stderr, cl, k + 1, t);
			if (raw) {
				print_trial(raw, cl, k + 1, t);
				fflush(raw);
			}
		}
	}
	if (raw)
		fclose(raw);
	print_table(&o, results);
	if (!failed && !sync_lost && !o.keep)
		rmrf(top);
	else
		fprintf(stderr, "failbench: kept %s (%d failed trials, %d sync trials with lost writes)\n",
			top, failed, sync_lost);
	for (int c = 0; c < o.ncells; c++)
		free(results[c]);
	return failed ? 1 : 0;
}
