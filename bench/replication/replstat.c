/*
 * replstat.c — samples a drsite cluster's /v1/status while kvload drives it,
 * for bench/replication and bench/encodings.  It sends no writes: kvload is
 * the only load generator.
 *
 *   replstat --port P [--replica-port P]... [--pid NAME=PID]... \
 *            [--delay S] --duration S [--interval-ms MS]
 *   replstat --port P --replica-port P... --catch-up [--cont PID]... [--duration S]
 *
 * Window mode.  After --delay seconds (set it to kvload's --warmup so the two
 * windows line up) it reads the primary's status every --interval-ms until
 * --duration seconds have passed.  Each sample contributes every peer's
 * "lag_records" and "lag_ms" (the primary's view: records appended but not
 * yet acknowledged by that replica, and the age of the oldest of them) to one
 * pool; the line gives the median, p99 (nearest rank) and max of the pool.
 * The first and last samples also read each replica's status and, for each
 * --pid, utime+stime from /proc/PID/stat, for the rates over the window:
 *
 *   writes_per_sec          primary wal.writes delta / secs
 *   primary_wal_mb_per_sec  primary wal.bytes delta / secs
 *   ship_records_per_sec    slowest replica's applied_lsn delta / secs
 *   ship_mb_per_sec         slowest replica's wal.bytes delta / secs
 *   cpu_NAME_us_per_write   CPU time of PID over the window / primary writes
 *
 * Catch-up mode (--catch-up).  Reads the primary's last LSN, sends SIGCONT to
 * each --cont PID (replicas that run.sh stopped while it loaded the primary),
 * then polls the replicas every --interval-ms until every one has applied it, or
 * --duration seconds pass (exit 1).  The rates are then over that interval:
 * catch_up_secs, ship_records_per_sec and ship_mb_per_sec (slowest replica).
 *
 * Output: one key=value line on stdout.  Exit 0, 1 on a failed request or a
 * timeout (message on stderr), 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "../benchutil.h"
#include "httpc.h"
#include "timeutil.h"

#define MAX_REPLICAS 8
#define MAX_PIDS 8
#define ERR_MAX 300

struct proc {
	char name[32];
	pid_t pid;
};

struct config {
	const char *host;
	int port;
	int replica_ports[MAX_REPLICAS];
	int nreplicas;
	struct proc procs[MAX_PIDS];
	int nprocs;
	pid_t cont[MAX_PIDS];
	int ncont;
	uint64_t delay_ms, duration_ms, interval_ms;
	bool catch_up;
};

/* What one status answer says that we use. */
struct site_figures {
	uint64_t writes, wal_bytes, applied_lsn;
};

/* Pool of lag samples (one value per peer per sample). */
struct pool {
	uint64_t *v;
	size_t n, cap;
};

struct sampler {
	const struct config *cfg;
	struct httpc *primary;
	struct httpc *replicas[MAX_REPLICAS];
	struct pool lag_records, lag_ms;
	uint64_t cpu_us_start[MAX_PIDS], cpu_us_end[MAX_PIDS];
	size_t samples;
	char err[ERR_MAX];
};

/* ---- status requests ------------------------------------------------------ */

/* GET /v1/status from port through hc; the parsed body, or NULL with err. */
static json_t *get_status(struct sampler *sm, struct httpc *hc, int port)
{
	char url[128];
	struct httpc_resp resp;
	snprintf(url, sizeof(url), "http://%s:%d/v1/status", sm->cfg->host, port);
	if (httpc_request(hc, "GET", url, NULL, NULL, 0, 5000, &resp, sm->err, ERR_MAX) != 0)
		return NULL;
	json_t *st = NULL;
	if (resp.status == 200)
		st = json_loadb(resp.body, resp.body_len, 0, NULL);
	if (!st)
		snprintf(sm->err, ERR_MAX, "GET %s: HTTP %ld, not a JSON status", url, resp.status);
	httpc_resp_free(&resp);
	return st;
}

static int figures_of(struct sampler *sm, json_t *st, int port, struct site_figures *f)
{
	json_int_t writes = 0, bytes = 0, applied = 0;
	if (json_unpack(st, "{s:I, s:{s:I, s:I}}", "applied_lsn", &applied, "wal",
			"writes", &writes, "bytes", &bytes) != 0) {
		snprintf(sm->err, ERR_MAX, "127.0.0.1:%d: status without applied_lsn, wal.writes, wal.bytes",
			 port);
		return -1;
	}
	*f = (struct site_figures){ (uint64_t)writes, (uint64_t)bytes, (uint64_t)applied };
	return 0;
}

static int pool_push(struct pool *p, uint64_t v)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		uint64_t *nv = reallocarray(p->v, cap, sizeof(*nv));
		if (!nv)
			return -1;
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = v;
	return 0;
}

/* Reads the primary's status: its figures, and every peer's lag into the pools. */
static int sample_primary(struct sampler *sm, struct site_figures *f)
{
	json_t *st = get_status(sm, sm->primary, sm->cfg->port);
	if (!st)
		return -1;
	int rc = figures_of(sm, st, sm->cfg->port, f);
	json_t *peers = json_object_get(st, "peers"), *p;
	size_t i;
	json_array_foreach(peers, i, p) {
		json_int_t recs = 0, ms = 0;
		if (rc == 0 && json_unpack(p, "{s:I, s:I}", "lag_records", &recs, "lag_ms", &ms) != 0) {
			snprintf(sm->err, ERR_MAX, "peer #%zu without lag_records/lag_ms", i);
			rc = -1;
		}
		if (rc == 0 && (pool_push(&sm->lag_records, (uint64_t)recs) != 0 ||
				pool_push(&sm->lag_ms, (uint64_t)ms) != 0)) {
			snprintf(sm->err, ERR_MAX, "out of memory");
			rc = -1;
		}
	}
	json_decref(st);
	sm->samples++;
	return rc;
}

static int sample_replicas(struct sampler *sm, struct site_figures *f)
{
	for (int i = 0; i < sm->cfg->nreplicas; i++) {
		json_t *st = get_status(sm, sm->replicas[i], sm->cfg->replica_ports[i]);
		if (!st)
			return -1;
		int rc = figures_of(sm, st, sm->cfg->replica_ports[i], &f[i]);
		json_decref(st);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* utime + stime of pid in microseconds, from /proc/PID/stat. */
static int proc_cpu_us(struct sampler *sm, pid_t pid, uint64_t *us)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
	if (fp)
		fclose(fp);
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces: parse after its ')'. */
	const char *p = strrchr(buf, ')');
	unsigned long long utime, stime;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &utime, &stime) != 2) {
		snprintf(sm->err, ERR_MAX, "%s: cannot read CPU times", path);
		return -1;
	}
	long hz = sysconf(_SC_CLK_TCK);
	*us = (utime + stime) * 1000000ull / (unsigned long long)(hz > 0 ? hz : 100);
	return 0;
}

static int sample_cpu(struct sampler *sm, bool end)
{
	for (int i = 0; i < sm->cfg->nprocs; i++)
		if (proc_cpu_us(sm, sm->cfg->procs[i].pid,
				end ? &sm->cpu_us_end[i] : &sm->cpu_us_start[i]) != 0)
			return -1;
	return 0;
}

/* ---- statistics ------------------------------------------------------------- */

/* Prints NAME_p50, NAME_p99, NAME_max of the pool (nearest rank). */
static void print_pool(const char *name, struct pool *p)
{
	if (p->n == 0) {
		printf(" %s_p50=NA %s_p99=NA %s_max=NA", name, name, name);
		return;
	}
	qsort(p->v, p->n, sizeof(*p->v), bench_cmp_u64);
	printf(" %s_p50=%" PRIu64 " %s_p99=%" PRIu64 " %s_max=%" PRIu64, name,
	       bench_percentile(p->v, p->n, 0.50), name, bench_percentile(p->v, p->n, 0.99), name,
	       p->v[p->n - 1]);
}

/* Slowest replica's applied-LSN and WAL-bytes rates over secs. */
static void print_ship(const struct config *cfg, const struct site_figures *a,
		       const struct site_figures *b, double secs)
{
	double recs = -1, bytes = -1;
	for (int i = 0; i < cfg->nreplicas; i++) {
		double r = (double)(b[i].applied_lsn - a[i].applied_lsn) / secs;
		double by = (double)(b[i].wal_bytes - a[i].wal_bytes) / secs;
		if (recs < 0 || r < recs)
			recs = r;
		if (bytes < 0 || by < bytes)
			bytes = by;
	}
	if (recs < 0)
		printf(" ship_records_per_sec=NA ship_mb_per_sec=NA");
	else
		printf(" ship_records_per_sec=%.1f ship_mb_per_sec=%.3f", recs, bytes / 1e6);
}

/* ---- the two modes ---------------------------------------------------------- */

static int run_window(struct sampler *sm)
{
	const struct config *cfg = sm->cfg;
	struct site_figures p0, p1, r0[MAX_REPLICAS], r1[MAX_REPLICAS];
	time_sleep_ms(cfg->delay_ms);
	uint64_t t0 = time_mono_ns(), end = t0 + cfg->duration_ms * 1000000u;
	if (sample_cpu(sm, false) != 0 || sample_replicas(sm, r0) != 0 ||
	    sample_primary(sm, &p0) != 0)
		return -1;
	for (uint64_t next = t0 + cfg->interval_ms * 1000000u; next < end;
	     next += cfg->interval_ms * 1000000u) {
		uint64_t now = time_mono_ns();
		if (now < next)
			time_sleep_ms((next - now) / 1000000u);
		if (sample_primary(sm, &p1) != 0)
			return -1;
	}
	uint64_t now = time_mono_ns();
	if (now < end)
		time_sleep_ms((end - now) / 1000000u);
	if (sample_primary(sm, &p1) != 0 || sample_replicas(sm, r1) != 0 ||
	    sample_cpu(sm, true) != 0)
		return -1;
	double secs = (double)(time_mono_ns() - t0) / 1e9;
	uint64_t writes = p1.writes - p0.writes;
	printf("samples=%zu secs=%.3f writes_per_sec=%.1f primary_wal_mb_per_sec=%.3f", sm->samples,
	       secs, (double)writes / secs, (double)(p1.wal_bytes - p0.wal_bytes) / secs / 1e6);
	print_ship(cfg, r0, r1, secs);
	print_pool("lag_records", &sm->lag_records);
	print_pool("lag_ms", &sm->lag_ms);
	for (int i = 0; i < cfg->nprocs; i++) {
		if (writes > 0)
			printf(" cpu_%s_us_per_write=%.2f", cfg->procs[i].name,
			       (double)(sm->cpu_us_end[i] - sm->cpu_us_start[i]) / (double)writes);
		else
			printf(" cpu_%s_us_per_write=NA", cfg->procs[i].name);
	}
	printf("\n");
	return 0;
}

static bool all_applied(const struct config *cfg, const struct site_figures *f, uint64_t lsn)
{
	for (int i = 0; i < cfg->nreplicas; i++)
		if (f[i].applied_lsn < lsn)
			return false;
	return true;
}

/*
 * The stopped replicas cannot answer, so the starting point is what the
 * primary last heard from them (its peers' applied_lsn), and bytes are
 * records x the primary's WAL bytes per record (the same records, byte for
 * byte, in every site's WAL).
 */
static int run_catch_up(struct sampler *sm)
{
	const struct config *cfg = sm->cfg;
	struct site_figures r[MAX_REPLICAS], p;
	json_t *st = get_status(sm, sm->primary, cfg->port);
	json_int_t last = 0;
	if (!st || figures_of(sm, st, cfg->port, &p) != 0 ||
	    json_unpack(st, "{s:I}", "lsn", &last) != 0) {
		if (st)
			snprintf(sm->err, ERR_MAX, "catch-up: primary status without lsn");
		json_decref(st);
		return -1;
	}
	uint64_t target = (uint64_t)last;
	json_t *peers = json_object_get(st, "peers"), *peer;
	size_t i;
	uint64_t from = UINT64_MAX;
	json_array_foreach(peers, i, peer) {
		json_int_t applied = 0;
		if (json_unpack(peer, "{s:I}", "applied_lsn", &applied) == 0 &&
		    (uint64_t)applied < from)
			from = (uint64_t)applied;
	}
	json_decref(st);
	if (from == UINT64_MAX || cfg->nreplicas == 0 || from >= target) {
		snprintf(sm->err, ERR_MAX, "catch-up: no peer behind lsn %" PRIu64, target);
		return -1;
	}
	uint64_t t0 = time_mono_ns(), deadline = t0 + cfg->duration_ms * 1000000u;
	for (int k = 0; k < cfg->ncont; k++)
		if (kill(cfg->cont[k], SIGCONT) != 0) {
			snprintf(sm->err, ERR_MAX, "SIGCONT %d: %s", (int)cfg->cont[k], strerror(errno));
			return -1;
		}
	for (;;) {
		if (sample_replicas(sm, r) != 0)
			return -1;
		if (all_applied(cfg, r, target))
			break;
		if (time_mono_ns() > deadline) {
			snprintf(sm->err, ERR_MAX, "catch-up: replicas not at lsn %" PRIu64 " after %" PRIu64
				 " ms", target, cfg->duration_ms);
			return -1;
		}
		time_sleep_ms(cfg->interval_ms);
	}
	double secs = (double)(time_mono_ns() - t0) / 1e9;
	double records = (double)(target - from);
	double per_record = p.writes ? (double)p.wal_bytes / (double)p.writes : 0;
	printf("catch_up_records=%.0f catch_up_secs=%.3f ship_records_per_sec=%.1f "
	       "ship_mb_per_sec=%.3f\n", records, secs, records / secs,
	       records * per_record / secs / 1e6);
	return 0;
}

/* ---- command line ----------------------------------------------------------- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: replstat --port PRIMARY_PORT [options]\n"
		"  --host H             sites' address (default 127.0.0.1)\n"
		"  --replica-port P     a replica's port (repeat; up to %d)\n"
		"  --pid NAME=PID       report PID's CPU per write as cpu_NAME_us_per_write (repeat)\n"
		"  --delay S            wait before the window (default 0; use kvload's --warmup)\n"
		"  --duration S         window length, or catch-up timeout (default 5)\n"
		"  --interval-ms MS     sampling interval (default 20)\n"
		"  --catch-up           catch-up mode: time until every replica applied the\n"
		"                       primary's last LSN\n"
		"  --cont PID           catch-up mode: SIGCONT this stopped replica first (repeat)\n"
		"Prints one key=value line; see bench/replication/README.md.\n", MAX_REPLICAS);
}

static int parse_ms(const char *s, uint64_t *ms)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 3600)
		return -1;
	*ms = (uint64_t)(v * 1000.0);
	return 0;
}

static int parse_proc(const char *arg, struct config *cfg)
{
	const char *eq = strchr(arg, '=');
	uint64_t pid;
	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(cfg->procs[0].name) ||
	    cfg->nprocs == MAX_PIDS || bench_parse_u64(eq + 1, 1, INT32_MAX, &pid) != 0)
		return -1;
	struct proc *p = &cfg->procs[cfg->nprocs++];
	snprintf(p->name, sizeof(p->name), "%.*s", (int)(eq - arg), arg);
	p->pid = (pid_t)pid;
	return 0;
}

static int parse_option(struct config *cfg, int opt, const char *arg)
{
	uint64_t v = 0;
	switch (opt) {
	case 'H': cfg->host = arg; return 0;
	case 'p':
		if (bench_parse_u64(arg, 1, 65535, &v) != 0)
			return -1;
		cfg->port = (int)v;
		return 0;
	case 'r':
		if (cfg->nreplicas == MAX_REPLICAS || bench_parse_u64(arg, 1, 65535, &v) != 0)
			return -1;
		cfg->replica_ports[cfg->nreplicas++] = (int)v;
		return 0;
	case 'P': return parse_proc(arg, cfg);
	case 'c':
		if (cfg->ncont == MAX_PIDS || bench_parse_u64(arg, 1, INT32_MAX, &v) != 0)
			return -1;
		cfg->cont[cfg->ncont++] = (pid_t)v;
		return 0;
	case 'D': return parse_ms(arg, &cfg->delay_ms);
	case 'd': return parse_ms(arg, &cfg->duration_ms);
	case 'i': return bench_parse_u64(arg, 1, 60000, &cfg->interval_ms);
	case 'u': cfg->catch_up = true; return 0;
	default: return -1;
	}
}

/* 0 to run, 1 after --help, 2 on bad usage (message printed). */
static int parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "replica-port", required_argument, NULL, 'r' },
		{ "pid", required_argument, NULL, 'P' },
		{ "cont", required_argument, NULL, 'c' },
		{ "delay", required_argument, NULL, 'D' },
		{ "duration", required_argument, NULL, 'd' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "catch-up", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, idx;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 1;
		}
		if (opt == '?' || parse_option(cfg, opt, optarg) != 0) {
			if (opt != '?')
				fprintf(stderr, "replstat: bad value for --%s: %s\n",
					opts[idx].name, optarg);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || cfg->port == 0 || cfg->duration_ms == 0) {
		fprintf(stderr, "replstat: --port and a non-zero --duration are required\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg = { .host = "127.0.0.1", .duration_ms = 5000, .interval_ms = 20 };
	int rc = parse_args(argc, argv, &cfg);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (httpc_global_init() != 0) {
		fprintf(stderr, "replstat: libcurl initialisation failed\n");
		return 1;
	}
	struct sampler sm = { .cfg = &cfg, .primary = httpc_new() };
	bool ok = sm.primary != NULL;
	for (int i = 0; i < cfg.nreplicas; i++)
		ok = (sm.replicas[i] = httpc_new()) != NULL && ok;
	if (!ok)
		snprintf(sm.err, ERR_MAX, "out of memory");
	else
		rc = cfg.catch_up ? run_catch_up(&sm) : run_window(&sm);
	if (!ok || rc != 0)
		fprintf(stderr, "replstat: %s\n", sm.err);
	fflush(stdout);
	httpc_free(sm.primary);
	for (int i = 0; i < cfg.nreplicas; i++)
		httpc_free(sm.replicas[i]);
	free(sm.lag_records.v);
	free(sm.lag_ms.v);
	return ok && rc == 0 ? 0 : 1;
}
