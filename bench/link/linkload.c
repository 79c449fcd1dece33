/*
 * linkload — what a zero-condition drlink link costs, against a direct
 * connection, in the same run.  See bench/link/README.md.
 *
 *   bench/link/linkload [--drlink PATH] [--reps N] [--trips N] [--size B]
 *                       [--stream-mib N]
 *
 * It starts an echo server on a thread (echosrv.c) and one drlink process
 * with a link to it, both on 127.0.0.1.  Each repetition measures, against
 * the echo server directly and through the link (alternating which goes
 * first): `trips` sequential round trips of `size` bytes on one connection
 * (p50 and p99, nearest rank), and the echo throughput of a `stream-mib` MiB
 * stream.  A round trip through the link crosses drlink twice (there and
 * back), so "added" is the cost of two passes.  It prints every repetition,
 * then the median and the spread over repetitions, and how to rerun.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "echosrv.h"
#include "freeport.h"
#include "httpc.h"
#include "timeutil.h"

#define MAX_REPS 50
#define WARMUP_TRIPS 500
#define AIM_ADDED_P99_US 100.0

struct opts {
	const char *drlink;
	int reps;
	int trips;
	size_t size;
	size_t stream_mib;
};

struct sample {                /* one target, one repetition */
	double p50_us, p99_us, mib_per_s;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("linkload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ==== processes and setup ================================================= */

static pid_t spawn_drlink(const char *path, int admin_port)
{
	char admin[64];
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", admin_port);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		char *argv[] = { (char *)path, "--admin", admin, "--log-level", "warn", NULL };
		execv(path, argv);
		fprintf(stderr, "linkload: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	return pid;
}

static void stop_drlink(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		time_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* One admin request; the answer's status, 0 on transport failure. */
static long admin(struct httpc *c, const char *method, const char *url, const char *body,
		  char **out)
{
	struct httpc_resp r;
	char err[256];
	if (httpc_request(c, method, url, NULL, body, body ? strlen(body) : 0, 2000,
			  &r, err, sizeof(err)) != 0)
		return 0;
	long status = r.status;
	if (out) {
		*out = r.body;
		r.body = NULL;
	}
	httpc_resp_free(&r);
	return status;
}

/* Waits for drlink, creates link "bench" to the echo port, returns its port. */
static int create_link(int admin_port, int echo_port)
{
	struct httpc *c = httpc_new();
	if (!c)
		die("out of memory");
	char url[128], body[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", admin_port);
	uint64_t deadline = time_mono_ms() + 10000;
	while (admin(c, "GET", url, NULL, NULL) != 200) {
		if (time_mono_ms() > deadline)
			die("drlink did not answer %s within 10 s", url);
		time_sleep_ms(20);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/links", admin_port);
	snprintf(body, sizeof(body), "{\"name\":\"bench\",\"listen\":\"127.0.0.1:0\","
		 "\"upstream\":\"127.0.0.1:%d\"}", echo_port);
	char *answer = NULL;
	if (admin(c, "POST", url, body, &answer) != 201)
		die("POST /v1/links failed: %s", answer ? answer : "no answer");
	json_t *j = json_loads(answer, 0, NULL);
	const char *listen = json_string_value(json_object_get(j, "listen"));
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	int port = colon ? atoi(colon + 1) : 0;
	json_decref(j);
	free(answer);
	httpc_free(c);
	if (port <= 0)
		die("POST /v1/links: no listen port in the answer");
	return port;
}

/* ==== measuring =========================================================== */

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect 127.0.0.1:%d: %s", port, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void round_trip(int fd, char *buf, size_t size)
{
	if (send(fd, buf, size, MSG_NOSIGNAL) != (ssize_t)size)
		die("send: %s", strerror(errno));
	for (size_t got = 0; got < size; ) {
		ssize_t r = recv(fd, buf + got, size - got, 0);
		if (r <= 0)
			die("recv: %s", r ? strerror(errno) : "connection closed");
		got += (size_t)r;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return (double)v[rank - 1] / 1000.0;
}

static void measure_latency(int port, const struct opts *o, struct sample *s)
{
	uint64_t *ns = malloc((size_t)o->trips * sizeof(*ns));
	char *buf = malloc(o->size);
	if (!ns || !buf)
		die("out of memory");
	memset(buf, 'p', o->size);
	int fd = tcp_connect(port);
	for (int i = 0; i < WARMUP_TRIPS; i++)
		round_trip(fd, buf, o->size);
	for (int i = 0; i < o->trips; i++) {
		uint64_t t0 = time_mono_ns();
		round_trip(fd, buf, o->size);
		ns[i] = time_mono_ns() - t0;
	}
	close(fd);
	qsort(ns, (size_t)o->trips, sizeof(*ns), cmp_u64);
	s->p50_us = pct_us(ns, (size_t)o->trips, 50);
	s->p99_us = pct_us(ns, (size_t)o->trips, 99);
	free(ns);
	free(buf);
}

/* Streams bytes through the echo server, sending and receiving at once. */
static void measure_stream(int port, const struct opts *o, struct sample *s)
{
	static char out[256 * 1024], in[256 * 1024];
	size_t total = o->stream_mib << 20, sent = 0, got = 0;
	int fd = tcp_connect(port);
	uint64_t t0 = time_mono_ns();
	while (got < total) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		if (poll(&p, 1, 10000) <= 0)
			die("stream stalled after %zu of %zu bytes", got, total);
		if ((p.revents & POLLOUT) && sent < total) {
			size_t n = total - sent < sizeof(out) ? total - sent : sizeof(out);
			ssize_t w = send(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in, sizeof(in), MSG_DONTWAIT);
			if (r == 0)
				die("stream: connection closed after %zu bytes", got);
			if (r > 0)
				got += (size_t)r;
		}
	}
	double secs = (double)(time_mono_ns() - t0) / 1e9;
	close(fd);
	s->mib_per_s = (double)o->stream_mib / secs;
}

static void measure(int port, const struct opts *o, struct sample *s)
{
	measure_latency(port, o, s);
	measure_stream(port, o, s);
}

/* ==== report ============================================================== */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Prints "median [min..max]" of v[0..n) (sorts v). */
static double spread(const char *label, double *v, int n, const char *unit)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("  %-34s %10.2f %-5s [%.2f .. %.2f]\n", label, median, unit, v[0], v[n - 1]);
	return median;
}

static void report(const struct opts *o, struct sample direct[], struct sample via[])
{
	double a[MAX_REPS], b[MAX_REPS], c[MAX_REPS], d[MAX_REPS], e[MAX_REPS], f[MAX_REPS];
	for (int i = 0; i < o->reps; i++) {
		a[i] = direct[i].p50_us;
		b[i] = direct[i].p99_us;
		c[i] = via[i].p50_us - direct[i].p50_us;
		d[i] = via[i].p99_us - direct[i].p99_us;
		e[i] = via[i].mib_per_s;
		f[i] = via[i].mib_per_s / direct[i].mib_per_s;
	}
	printf("\nsummary: median [min .. max] over %d repetitions\n", o->reps);
	spread("direct round trip p50", a, o->reps, "us");
	spread("direct round trip p99", b, o->reps, "us");
	spread("added by drlink, p50 (two passes)", c, o->reps, "us");
	double p99 = spread("added by drlink, p99 (two passes)", d, o->reps, "us");
	spread("throughput through drlink", e, o->reps, "MiB/s");
	spread("throughput ratio link/direct", f, o->reps, "x");
	printf("aim: under %.0f us added at p99: %s (median %.1f us)\n", AIM_ADDED_P99_US,
		p99 < AIM_ADDED_P99_US ? "met" : "NOT met", p99);
	printf("rerun: bench/link/linkload --drlink %s --reps %d --trips %d --size %zu "
	       "--stream-mib %zu\n", o->drlink, o->reps, o->trips, o->size, o->stream_mib);
}

static void print_rep(int rep, const struct sample *d, const struct sample *l)
{
	printf("%3d  %8.1f %8.1f  %8.1f %8.1f  %+8.1f %+8.1f  %9.0f %9.0f  %6.2f\n", rep + 1,
	       d->p50_us, d->p99_us, l->p50_us, l->p99_us, l->p50_us - d->p50_us,
	       l->p99_us - d->p99_us, d->mib_per_s, l->mib_per_s, l->mib_per_s / d->mib_per_s);
	fflush(stdout);
}

/* ==== main ================================================================ */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench/link/linkload [--drlink PATH] [--reps N] [--trips N] "
		   "[--size BYTES] [--stream-mib N]\n"
		   "  defaults: --drlink ./drlink --reps 5 --trips 20000 --size 64 --stream-mib 256\n");
}

static long arg_num(const char *name, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		die("%s: expected %ld to %ld", name, lo, hi);
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "drlink", required_argument, NULL, 'd' },
		{ "reps", required_argument, NULL, 'r' },
		{ "trips", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "stream-mib", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->drlink = optarg; break;
		case 'r': o->reps = (int)arg_num("--reps", optarg, 1, MAX_REPS); break;
		case 't': o->trips = (int)arg_num("--trips", optarg, 100, 10000000); break;
		case 's': o->size = (size_t)arg_num("--size", optarg, 1, 65536); break;
		case 'm': o->stream_mib = (size_t)arg_num("--stream-mib", optarg, 1, 65536); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (access(o->drlink, X_OK) != 0)
		die("%s: not executable; run from the build directory after make, "
		    "or pass --drlink PATH", o->drlink);
}

int main(int argc, char **argv)
{
	struct opts o = { .drlink = "./drlink", .reps = 5, .trips = 20000, .size = 64,
			  .stream_mib = 256 };
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	if (httpc_global_init() != 0)
		die("curl init failed");
	char err[256];
	struct echosrv *echo = NULL;
	if (echosrv_start(&echo, 0, err, sizeof(err)) != 0)
		die("%s", err);
	int admin_port = freeport_one();
	pid_t pid = spawn_drlink(o.drlink, admin_port);
	int link_port = create_link(admin_port, echosrv_port(echo));
	int echo_port = echosrv_port(echo);

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("bench/link: zero-condition drlink link vs direct, echo on 127.0.0.1, %ld CPUs\n"
	       "latency: %d round trips of %zu bytes (after %d warm-up) per target and rep; "
	       "throughput: %zu MiB echoed\n\n", ncpu, o.trips, o.size, WARMUP_TRIPS, o.stream_mib);
	printf("rep  direct p50/p99 us   link p50/p99 us    added p50/p99 us   "
	       "direct/link MiB/s   ratio\n");
	struct sample direct[MAX_REPS], via[MAX_REPS];
	for (int rep = 0; rep < o.reps; rep++) {
		if (rep % 2 == 0) {    /* alternate the order: drift hits both */
			measure(echo_port, &o, &direct[rep]);
			measure(link_port, &o, &via[rep]);
		} else {
			measure(link_port, &o, &via[rep]);
			measure(echo_port, &o, &direct[rep]);
		}
		print_rep(rep, &direct[rep], &via[rep]);
	}
	report(&o, direct, via);
	stop_drlink(pid);
	echosrv_stop(echo);
	return 0;
}
