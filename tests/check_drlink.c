/*
 * check_drlink.c — end-to-end tests of drlink, the WAN emulator.
 *
 * Each test (forked by Check) runs its own drlink on a free loopback port and
 * an echo server on a thread of the test process (bench/link/echosrv.c), and
 * talks to the echo server through links.  Timing tests measure round trips
 * on an established connection, so the emulated handshake is not counted.
 * The teardown stops drlink with SIGTERM and requires a clean exit, which
 * under --enable-sanitizers also means no leak and no memory error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "echosrv.h"
#include "httpc.h"
#include "testhelp.h"
#include "timeutil.h"

#define MANY_CONNS 1000

struct fixture {
	char *dir;
	char log[512];
	pid_t pid;
	int admin_port;
	struct echosrv *echo;
	int echo_port;
};

static struct fixture fx;

/* ==== fixture: echo server, drlink, cleanup =============================== */

static void raise_nofile(void)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void setup(void)
{
	char err[256];
	memset(&fx, 0, sizeof(fx));
	raise_nofile();
	ck_assert_int_eq(httpc_global_init(), 0);
	fx.dir = th_mkdtemp("drlink");
	ck_assert_ptr_nonnull(fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/drlink.log", fx.dir);
	ck_assert_msg(echosrv_start(&fx.echo, 0, err, sizeof(err)) == 0, "%s", err);
	fx.echo_port = echosrv_port(fx.echo);
}

static void dump_log(void)
{
	size_t len = 0;
	char *text = th_read_file(fx.log, &len);
	if (text)
		fprintf(stderr, "---- drlink log ----\n%s--------------------\n", text);
	free(text);
}

static void teardown(void)
{
	int status = 0;
	if (fx.pid > 0)
		status = th_kill(fx.pid, SIGTERM, 10000);
	th_cleanup();
	echosrv_stop(fx.echo);
	bool clean = fx.pid <= 0 || (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!clean)
		dump_log();
	th_rmrf(fx.dir);
	free(fx.dir);
	ck_assert_msg(clean, "drlink did not exit cleanly on SIGTERM (status %d)", status);
}

/* Starts drlink (with extra arguments, NULL-terminated) and waits for it. */
static void start_drlink_args(const char *const *extra)
{
	char bin[512], admin[64];
	snprintf(bin, sizeof(bin), "%s", th_bin("drlink"));
	fx.admin_port = th_free_port();
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", fx.admin_port);
	char *argv[16] = { bin, "--admin", admin };
	int argc = 3;
	for (int i = 0; extra && extra[i] && argc < 15; i++)
		argv[argc++] = (char *)extra[i];
	argv[argc] = NULL;
	fx.pid = th_spawn(argv, fx.log);
	ck_assert_int_gt(fx.pid, 0);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", fx.admin_port);
	if (!th_wait_http(url, 200, 10000)) {
		dump_log();
		ck_abort_msg("drlink did not answer %s", url);
	}
}

static void start_drlink(void)
{
	start_drlink_args(NULL);
}

/* ==== admin API helpers =================================================== */

/* One admin request; *out (if given) receives the parsed JSON body. */
static long api(const char *method, const char *path, const char *body, json_t **out)
{
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx.admin_port, path);
	char *text = NULL;
	size_t len = 0;
	long status = th_http(method, url, NULL, body, body ? strlen(body) : 0, &text, &len);
	if (out)
		*out = text && len ? json_loadb(text, len, 0, NULL) : NULL;
	free(text);
	return status;
}

/* The "error" of a JSON error answer (static copy), or "" if not one. */
static const char *api_error(const char *method, const char *path, const char *body,
			     long want_status)
{
	static char msg[512];
	json_t *j = NULL;
	long status = api(method, path, body, &j);
	const char *e = json_string_value(json_object_get(j, "error"));
	snprintf(msg, sizeof(msg), "%s", e ? e : "");
	json_decref(j);
	ck_assert_msg(status == want_status, "%s %s %s: status %ld, want %ld (%s)",
		      method, path, body ? body : "", status, want_status, msg);
	ck_assert_msg(e != NULL, "%s %s: error answer is not {\"error\": ...}", method, path);
	return msg;
}

static int port_of(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	return colon ? atoi(colon + 1) : -1;
}

/* Creates link name → 127.0.0.1:upstream_port on a port drlink picks;
 * returns that port. */
static int link_create(const char *name, int upstream_port)
{
	char body[256];
	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:%d\"}",
		 name, upstream_port);
	json_t *j = NULL;
	long status = api("POST", "/v1/links", body, &j);
	ck_assert_int_eq(status, 201);
	const char *listen = json_string_value(json_object_get(j, "listen"));
	ck_assert_ptr_nonnull(listen);
	int port = port_of(listen);
	json_decref(j);
	ck_assert_int_gt(port, 0);
	return port;
}

static void set_cond(const char *name, const char *json)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/links/%s/conditions", name);
	json_t *j = NULL;
	long status = api("PUT", path, json, &j);
	ck_assert_msg(status == 200, "PUT %s %s: %ld", path, json, status);
	json_decref(j);
}

/* GET /v1/links/{name} → a field of it: "connections" or "queued.upstream". */
static json_int_t link_stat(const char *name, const char *group, const char *field)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/links/%s", name);
	json_t *j = NULL;
	ck_assert_int_eq(api("GET", path, NULL, &j), 200);
	json_t *v = group ? json_object_get(json_object_get(j, group), field)
			  : json_object_get(j, field);
	ck_assert_msg(json_is_integer(v), "GET %s: no %s", path, field);
	json_int_t n = json_integer_value(v);
	json_decref(j);
	return n;
}

/* ==== socket helpers ====================================================== */

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "connect 127.0.0.1:%d: %s", port, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Reads exactly n bytes within timeout_ms.  Returns n, or the bytes read
 * before the deadline, EOF or an error (errno tells which; 0 for EOF). */
static size_t recv_exact(int fd, void *buf, size_t n, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	size_t got = 0;
	while (got < n) {
		uint64_t now = time_mono_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return got;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r == 0) {
			errno = 0;
			return got;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return got;
		}
		got += (size_t)r;
	}
	return got;
}

static void send_all(int fd, const void *buf, size_t n)
{
	ck_assert_int_eq(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* One echo round trip of n bytes; milliseconds, or -1 if it failed. */
static double round_trip_ms(int fd, size_t n, long timeout_ms)
{
	char out[256], in[256];
	ck_assert_uint_le(n, sizeof(out));
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('a' + (i * 7 + (size_t)time_mono_ns()) % 26);
	uint64_t t0 = time_mono_ns();
	send_all(fd, out, n);
	if (recv_exact(fd, in, n, timeout_ms) != n)
		return -1;
	double ms = (double)(time_mono_ns() - t0) / 1e6;
	ck_assert_msg(memcmp(in, out, n) == 0, "echo came back altered");
	return ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ==== admin API =========================================================== */

START_TEST(test_links_crud)
{
	start_drlink();
	char body[256];
	snprintf(body, sizeof(body),
		 "{\"name\":\"east-west\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:%d\"}",
		 fx.echo_port);
	json_t *j = NULL;
	ck_assert_int_eq(api("POST", "/v1/links", body, &j), 201);
	ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "east-west");
	json_decref(j);

	ck_assert_int_eq(api("GET", "/v1/links", NULL, &j), 200);
	json_t *links = json_object_get(j, "links");
	ck_assert_int_eq(json_array_size(links), 1);
	json_t *up = json_object_get(json_object_get(json_array_get(links, 0), "conditions"),
				     "upstream");
	ck_assert_str_eq(json_string_value(json_object_get(up, "partition")), "none");
	ck_assert_int_eq(json_integer_value(json_object_get(up, "latency_ms")), 0);
	json_decref(j);

	ck_assert_int_eq(api("GET", "/v1/links/east-west", NULL, NULL), 200);
	ck_assert_ptr_nonnull(strstr(api_error("POST", "/v1/links", body, 409), "exists"));
	ck_assert_int_eq(api("DELETE", "/v1/links/east-west", NULL, NULL), 204);
	api_error("GET", "/v1/links/east-west", NULL, 404);
	api_error("DELETE", "/v1/links/east-west", NULL, 404);
	ck_assert_int_eq(api("GET", "/v1/links", NULL, &j), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "links")), 0);
	json_decref(j);
}
END_TEST

START_TEST(test_bad_input_names_the_field)
{
	start_drlink();
	link_create("l1", fx.echo_port);
	api_error("PUT", "/v1/links/nope/conditions", "{\"latency_ms\":5}", 404);
	static const struct { const char *body, *field; } bad[] = {
		{ "{\"latency_ms\":-5}", "latency_ms" },
		{ "{\"latency_ms\":\"20\"}", "latency_ms" },
		{ "{\"jitter_ms\":1.5}", "jitter_ms" },
		{ "{\"loss_pct\":101}", "loss_pct" },
		{ "{\"bandwidth_kbps\":\"fast\"}", "bandwidth_kbps" },
		{ "{\"partition\":\"sometimes\"}", "partition" },
		{ "{\"direction\":\"sideways\"}", "direction" },
		{ "{\"latency\":5}", "latency" },
		{ "{\"latency_ms\":", "JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *msg = api_error("PUT", "/v1/links/l1/conditions", bad[i].body, 400);
		ck_assert_msg(strstr(msg, bad[i].field), "%s: error '%s' does not name %s",
			      bad[i].body, msg, bad[i].field);
	}
	char body[256];
	snprintf(body, sizeof(body),
		 "{\"name\":\"l2\",\"listen\":\"127.0.0.1:0\",\"upstream\":7}");
	ck_assert_ptr_nonnull(strstr(api_error("POST", "/v1/links", body, 400), "upstream"));
	snprintf(body, sizeof(body), "{\"name\":\"bad name\",\"listen\":\"127.0.0.1:0\","
		 "\"upstream\":\"127.0.0.1:1\"}");
	ck_assert_ptr_nonnull(strstr(api_error("POST", "/v1/links", body, 400), "name"));
	snprintf(body, sizeof(body), "{\"name\":\"l2\",\"listen\":\"127.0.0.1\","
		 "\"upstream\":\"127.0.0.1:1\"}");
	ck_assert_ptr_nonnull(strstr(api_error("POST", "/v1/links", body, 400), "listen"));
	snprintf(body, sizeof(body), "{\"name\":\"l2\",\"listen\":\"127.0.0.1:%d\","
		 "\"upstream\":\"127.0.0.1:1\"}", fx.admin_port);
	ck_assert_ptr_nonnull(strstr(api_error("POST", "/v1/links", body, 409), "in use"));
	api_error("GET", "/v1/nothing", NULL, 404);
	/* Every field of a new link is a required string, and only those. */
	static const struct { const char *body, *field; } bad_link[] = {
		{ "{\"name\":\"l3\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:1\","
		  "\"latency_ms\":5}", "latency_ms: unknown field" },
		{ "{\"name\":\"l3\",\"listen\":\"127.0.0.1:0\"}", "upstream: required" },
		{ "{\"name\":null,\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:1\"}",
		  "name: expected a string" },
		{ "{\"name\":\"l3\",\"listen\":[],\"upstream\":\"127.0.0.1:1\"}",
		  "listen: expected a string" },
		{ "{}", "name: required" },
		{ "[]", "JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad_link) / sizeof(bad_link[0]); i++) {
		const char *msg = api_error("POST", "/v1/links", bad_link[i].body, 400);
		ck_assert_msg(strstr(msg, bad_link[i].field), "%s: error '%s' does not say '%s'",
			      bad_link[i].body, msg, bad_link[i].field);
	}
	/* A NUL in a link's name in the path is refused, never cut short. */
	ck_assert_ptr_nonnull(strstr(api_error("PUT", "/v1/links/l1%00x/conditions",
					       "{\"latency_ms\":5}", 400), "0x00"));
	ck_assert_ptr_nonnull(strstr(api_error("DELETE", "/v1/links/l1%00", NULL, 400), "0x00"));
	/* One condition wrong spoils the whole change: none of it applies. */
	api_error("PUT", "/v1/links/l1/conditions", "{\"latency_ms\":5,\"loss\":1}", 400);
	/* Rejected requests changed nothing: one link, its conditions as they were. */
	json_t *j = NULL;
	ck_assert_int_eq(api("GET", "/v1/links", NULL, &j), 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "links")), 1);
	json_decref(j);
	ck_assert_int_eq(link_stat("l1", NULL, "connections"), 0);
	ck_assert_int_eq(api("GET", "/v1/links/l1", NULL, &j), 200);
	json_t *conds = json_object_get(j, "conditions");
	for (int d = 0; d < 2; d++) {
		json_t *c = json_object_get(conds, d ? "downstream" : "upstream");
		ck_assert_int_eq(json_integer_value(json_object_get(c, "latency_ms")), 0);
		ck_assert_int_eq(json_integer_value(json_object_get(c, "jitter_ms")), 0);
		ck_assert_int_eq(json_integer_value(json_object_get(c, "bandwidth_kbps")), 0);
		ck_assert(json_number_value(json_object_get(c, "loss_pct")) == 0.0);
		ck_assert_str_eq(json_string_value(json_object_get(c, "partition")), "none");
	}
	json_decref(j);
}
END_TEST

/* ==== latency ============================================================= */

/* Median of `trips` round trips with latency_ms each way: within ±15% of
 * 2 * latency_ms, and none shorter than 2 * latency_ms. */
static void check_rtt(int port, int latency_ms, int trips)
{
	char cond[64];
	snprintf(cond, sizeof(cond), "{\"latency_ms\":%d}", latency_ms);
	set_cond("rtt", cond);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 32, 5000), 0);   /* pays the handshake */
	double v[16];
	for (int i = 0; i < trips; i++) {
		v[i] = round_trip_ms(fd, 32, 5000);
		ck_assert_double_ge(v[i], 0);
	}
	close(fd);
	qsort(v, (size_t)trips, sizeof(v[0]), cmp_double);
	double want = 2.0 * latency_ms, median = v[trips / 2];
	fprintf(stderr, "rtt: latency %3d ms each way: %d trips, min %.2f median %.2f "
		"max %.2f ms (want %.0f ±15%%)\n", latency_ms, trips, v[0], median,
		v[trips - 1], want);
	ck_assert_msg(v[0] >= want, "a round trip of %.2f ms beat the latency", v[0]);
	ck_assert_msg(median >= 0.85 * want && median <= 1.15 * want,
		      "median rtt %.2f ms, want %.0f ±15%%", median, want);
}

START_TEST(test_latency_round_trips)
{
	start_drlink();
	int port = link_create("rtt", fx.echo_port);
	check_rtt(port, 20, 9);
	check_rtt(port, 80, 5);
	check_rtt(port, 200, 3);
}
END_TEST

START_TEST(test_first_exchange_pays_the_handshake)
{
	start_drlink();
	int port = link_create("hs", fx.echo_port);
	set_cond("hs", "{\"latency_ms\":30}");
	int fd = tcp_connect(port);
	double first = round_trip_ms(fd, 8, 5000);
	double second = round_trip_ms(fd, 8, 5000);
	close(fd);
	fprintf(stderr, "handshake: first exchange %.1f ms, second %.1f ms\n", first, second);
	ck_assert_double_ge(first, 115.0);   /* SYN/SYN-ACK round trip + request */
	ck_assert_double_lt(second, 100.0);
}
END_TEST

START_TEST(test_jitter_never_reorders)
{
	start_drlink();
	int port = link_create("jit", fx.echo_port);
	set_cond("jit", "{\"latency_ms\":10,\"jitter_ms\":10}");
	int fd = tcp_connect(port);
	enum { N = 150 };
	for (uint32_t i = 0; i < N; i++) {
		uint32_t be = htonl(i);
		send_all(fd, &be, sizeof(be));
		time_sleep_ms(1);   /* separate chunks, each with its own delay */
	}
	uint32_t got[N];
	ck_assert_uint_eq(recv_exact(fd, got, sizeof(got), 5000), sizeof(got));
	for (uint32_t i = 0; i < N; i++)
		ck_assert_msg(ntohl(got[i]) == i, "byte run %u arrived at position %u",
			      ntohl(got[i]), i);
	close(fd);
}
END_TEST

START_TEST(test_loss_delays_but_loses_nothing)
{
	const char *const extra[] = { "--seed", "7", NULL };
	start_drlink_args(extra);
	int port = link_create("lossy", fx.echo_port);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	set_cond("lossy", "{\"loss_pct\":30}");
	int slow = 0;
	double total = 0;
	for (int i = 0; i < 12; i++) {
		double ms = round_trip_ms(fd, 16, 10000);
		ck_assert_double_ge(ms, 0);
		total += ms;
		slow += ms >= 200.0;   /* one retransmission timeout at least */
	}
	close(fd);
	fprintf(stderr, "loss 30%%: %d of 12 round trips paid a retransmission, %.0f ms total\n",
		slow, total);
	ck_assert_int_ge(slow, 1);
	ck_assert_int_le(slow, 11);
}
END_TEST

/* ==== bandwidth and backpressure ========================================== */

/* Echoes total bytes through fd; returns the seconds from the first send to
 * the last byte back. */
static double echo_stream(int fd, size_t total)
{
	static char out[64 * 1024], in[64 * 1024];
	memset(out, 'x', sizeof(out));
	size_t sent = 0, got = 0;
	uint64_t t0 = time_mono_ns(), deadline = time_mono_ms() + 30000;
	while (got < total) {
		ck_assert_msg(time_mono_ms() < deadline, "stream stalled at %zu of %zu", got, total);
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if ((p.revents & POLLOUT) && sent < total) {
			size_t n = total - sent < sizeof(out) ? total - sent : sizeof(out);
			ssize_t w = send(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in, sizeof(in), MSG_DONTWAIT);
			ck_assert_msg(r != 0, "EOF after %zu of %zu bytes", got, total);
			if (r > 0)
				got += (size_t)r;
		}
	}
	return (double)(time_mono_ns() - t0) / 1e9;
}

START_TEST(test_bandwidth_cap_1MBps)
{
	start_drlink();
	int port = link_create("bw", fx.echo_port);
	/* 1 MB/s = 8000 kbit/s, on the way back only: the cap is the bottleneck. */
	set_cond("bw", "{\"bandwidth_kbps\":8000,\"direction\":\"downstream\"}");
	int fd = tcp_connect(port);
	size_t total = 2000000;
	double secs = echo_stream(fd, total);
	close(fd);
	double rate = (double)total / secs;
	fprintf(stderr, "bandwidth: cap 1000000 B/s, measured %.0f B/s (%zu bytes in %.3f s)\n",
		rate, total, secs);
	ck_assert_msg(rate >= 850000.0 && rate <= 1150000.0,
		      "measured %.0f B/s, want 1000000 ±15%%", rate);
}
END_TEST

START_TEST(test_blackhole_bounds_queued_bytes)
{
	start_drlink();
	int port = link_create("bp", fx.echo_port);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	set_cond("bp", "{\"partition\":\"blackhole\",\"direction\":\"upstream\"}");
	static char buf[64 * 1024];
	memset(buf, 'q', sizeof(buf));
	size_t sent = 0, limit = 64u * 1024 * 1024;
	while (sent < limit) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 500) <= 0)
			break;   /* the proxy stopped reading: backpressure */
		ssize_t w = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
		ck_assert_int_ge(w, 0);
		sent += (size_t)w;
	}
	json_int_t queued = link_stat("bp", "queued", "upstream");
	fprintf(stderr, "backpressure: client pushed %zu bytes before stalling, "
		"drlink queued %lld\n", sent, (long long)queued);
	ck_assert_uint_lt(sent, limit);
	ck_assert_int_gt(queued, 0);
	ck_assert_int_le(queued, 256 * 1024);
	set_cond("bp", "{\"partition\":\"none\"}");
	static char in[64 * 1024];
	size_t got = 0;
	uint64_t deadline = time_mono_ms() + 20000;
	while (got < sent && time_mono_ms() < deadline) {
		size_t want = sent - got < sizeof(in) ? sent - got : sizeof(in);
		size_t n = recv_exact(fd, in, want, 2000);
		got += n;
		if (n < want && errno != ETIMEDOUT)
			break;
	}
	ck_assert_uint_eq(got, sent);   /* healing delivered every held byte */
	close(fd);
}
END_TEST

/* ==== partitions ========================================================== */

START_TEST(test_blackhole_times_out_http_and_heals)
{
	start_drlink();
	/* The HTTP upstream is drlink's own admin API. */
	int port = link_create("http", fx.admin_port);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, NULL, NULL), 200);

	set_cond("http", "{\"partition\":\"blackhole\"}");
	struct httpc *c = httpc_new();
	ck_assert_ptr_nonnull(c);
	struct httpc_resp r;
	char err[256];
	uint64_t t0 = time_mono_ms();
	int rc = httpc_request(c, "GET", url, NULL, NULL, 0, 700, &r, err, sizeof(err));
	uint64_t waited = time_mono_ms() - t0;
	if (rc == 0)
		httpc_resp_free(&r);
	httpc_free(c);
	fprintf(stderr, "blackhole: request gave up after %llu ms (%s)\n",
		(unsigned long long)waited, rc ? err : "answered!");
	ck_assert_msg(rc != 0, "a request through a blackhole was answered");
	ck_assert_uint_ge(waited, 650);

	set_cond("http", "{\"partition\":\"none\"}");
	ck_assert(th_wait_http(url, 200, 3000));
}
END_TEST

START_TEST(test_blackhole_holds_established_connection)
{
	start_drlink();
	int port = link_create("hold", fx.echo_port);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	set_cond("hold", "{\"partition\":\"blackhole\",\"direction\":\"downstream\"}");
	char out[] = "held, not lost", in[sizeof(out)];
	send_all(fd, out, sizeof(out));
	ck_assert_uint_eq(recv_exact(fd, in, sizeof(in), 400), 0);
	ck_assert_int_eq(errno, ETIMEDOUT);   /* silent, not closed */
	set_cond("hold", "{\"partition\":\"none\"}");
	ck_assert_uint_eq(recv_exact(fd, in, sizeof(in), 2000), sizeof(in));
	ck_assert_str_eq(in, out);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	close(fd);
}
END_TEST

/* true if fd is closed by the peer (EOF or RST) within timeout_ms. */
static bool closed_within(int fd, long timeout_ms)
{
	char b;
	return recv_exact(fd, &b, 1, timeout_ms) == 0 && errno != ETIMEDOUT;
}

START_TEST(test_reset_closes_connections_and_heals)
{
	start_drlink();
	int port = link_create("rst", fx.echo_port);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	set_cond("rst", "{\"partition\":\"reset\"}");
	ck_assert(closed_within(fd, 2000));
	close(fd);
	fd = tcp_connect(port);   /* the kernel accepts; drlink resets it */
	ck_assert(closed_within(fd, 2000));
	close(fd);
	ck_assert_int_eq(link_stat("rst", NULL, "connections"), 0);
	set_cond("rst", "{\"partition\":\"none\"}");
	fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	close(fd);
}
END_TEST

START_TEST(test_condition_changes_keep_connections)
{
	start_drlink();
	int port = link_create("live", fx.echo_port);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	set_cond("live", "{\"latency_ms\":30,\"jitter_ms\":5,\"bandwidth_kbps\":800,"
		 "\"loss_pct\":0}");
	double slow = round_trip_ms(fd, 16, 2000);
	ck_assert_double_ge(slow, 50.0);
	set_cond("live", "{\"partition\":\"blackhole\",\"direction\":\"upstream\"}");
	set_cond("live", "{\"partition\":\"none\",\"latency_ms\":0,\"jitter_ms\":0,"
		 "\"bandwidth_kbps\":0}");
	double fast = round_trip_ms(fd, 16, 2000);
	ck_assert_double_ge(fast, 0);
	ck_assert_double_lt(fast, 30.0);
	ck_assert_int_eq(link_stat("live", NULL, "connections"), 1);
	close(fd);
}
END_TEST

START_TEST(test_delete_closes_connections_and_frees_port)
{
	start_drlink();
	int port = link_create("gone", fx.echo_port);
	int fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	ck_assert_int_eq(api("DELETE", "/v1/links/gone", NULL, NULL), 204);
	ck_assert(closed_within(fd, 2000));
	close(fd);
	char body[256];
	snprintf(body, sizeof(body), "{\"name\":\"gone\",\"listen\":\"127.0.0.1:%d\","
		 "\"upstream\":\"127.0.0.1:%d\"}", port, fx.echo_port);
	ck_assert_int_eq(api("POST", "/v1/links", body, NULL), 201);
	fd = tcp_connect(port);
	ck_assert_double_ge(round_trip_ms(fd, 16, 2000), 0);
	close(fd);
}
END_TEST

/* ==== scale =============================================================== */

START_TEST(test_thousand_concurrent_connections)
{
	start_drlink();
	int port = link_create("many", fx.echo_port);
	static int fds[MANY_CONNS];
	static struct pollfd pfd[MANY_CONNS];
	char msg[32];
	for (int i = 0; i < MANY_CONNS; i++) {
		fds[i] = tcp_connect(port);
		snprintf(msg, sizeof(msg), "connection %06d", i);
		send_all(fds[i], msg, 17);
	}
	int done = 0;
	uint64_t deadline = time_mono_ms() + 20000;
	for (int i = 0; i < MANY_CONNS; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	static char got[MANY_CONNS][17];
	static size_t have[MANY_CONNS];
	while (done < MANY_CONNS && time_mono_ms() < deadline) {
		if (poll(pfd, MANY_CONNS, 1000) <= 0)
			continue;
		for (int i = 0; i < MANY_CONNS; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = recv(fds[i], got[i] + have[i], 17 - have[i], MSG_DONTWAIT);
			ck_assert_msg(r > 0, "connection %d closed early", i);
			have[i] += (size_t)r;
			if (have[i] == 17) {
				snprintf(msg, sizeof(msg), "connection %06d", i);
				ck_assert_msg(memcmp(got[i], msg, 17) == 0, "connection %d: crossed data", i);
				pfd[i].fd = -1;
				done++;
			}
		}
	}
	fprintf(stderr, "scale: %d of %d connections echoed\n", done, MANY_CONNS);
	ck_assert_int_eq(done, MANY_CONNS);
	ck_assert_int_eq(link_stat("many", NULL, "connections"), MANY_CONNS);
	for (int i = 0; i < MANY_CONNS; i++)
		close(fds[i]);
}
END_TEST

/* ==== --config ============================================================ */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_config_creates_links)
{
	char path[600], text[1024];
	snprintf(path, sizeof(path), "%s/links.yaml", fx.dir);
	int lp = th_free_port();
	snprintf(text, sizeof(text),
		 "links:\n"
		 "  - name: a-b\n"
		 "    listen: 127.0.0.1:%d\n"
		 "    upstream: 127.0.0.1:%d\n"
		 "    conditions:\n"
		 "      - {latency_ms: 15, direction: upstream}\n"
		 "      - {latency_ms: 5, loss_pct: 0.5, direction: downstream}\n"
		 "  - name: b-a\n"
		 "    listen: 127.0.0.1:0\n"
		 "    upstream: 127.0.0.1:%d\n", lp, fx.echo_port, fx.echo_port);
	write_file(path, text);
	const char *const extra[] = { "--config", path, NULL };
	start_drlink_args(extra);
	json_t *j = NULL;
	ck_assert_int_eq(api("GET", "/v1/links", NULL, &j), 200);
	json_t *links = json_object_get(j, "links");
	ck_assert_int_eq(json_array_size(links), 2);
	json_t *cond = json_object_get(json_array_get(links, 0), "conditions");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(cond, "upstream"),
							    "latency_ms")), 15);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(cond, "downstream"),
							    "latency_ms")), 5);
	json_decref(j);
	int fd = tcp_connect(lp);
	ck_assert_double_ge(round_trip_ms(fd, 16, 5000), 20.0);
	close(fd);
}
END_TEST

START_TEST(test_config_error_points_at_line_and_column)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/bad.yaml", fx.dir);
	write_file(path,
		   "links:\n"
		   "  - name: a-b\n"
		   "    listen: 127.0.0.1:0\n"
		   "    upstream: 127.0.0.1:1\n"
		   "    conditions:\n"
		   "      latency_ms: soon\n");
	char bin[512], admin[64];
	snprintf(bin, sizeof(bin), "%s", th_bin("drlink"));
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", th_free_port());
	char *argv[] = { bin, "--admin", admin, "--config", path, NULL };
	pid_t pid = th_spawn(argv, fx.log);
	int status = th_wait_exit(pid, 10000);
	ck_assert_int_ge(status, 0);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 2);
	size_t len = 0;
	char *log = th_read_file(fx.log, &len);
	ck_assert_ptr_nonnull(log);
	char want[700];
	snprintf(want, sizeof(want), "%s:6:19: latency_ms", path);
	ck_assert_msg(strstr(log, want), "log lacks '%s':\n%s", want, log);
	free(log);
}
END_TEST

/* ==== suite =============================================================== */

static Suite *drlink_suite(void)
{
	Suite *s = suite_create("drlink");
	struct { const char *name; const TTest *test; } cases[] = {
		{ "api", test_links_crud },
		{ "api", test_bad_input_names_the_field },
		{ "latency", test_latency_round_trips },
		{ "latency", test_first_exchange_pays_the_handshake },
		{ "latency", test_jitter_never_reorders },
		{ "loss", test_loss_delays_but_loses_nothing },
		{ "bandwidth", test_bandwidth_cap_1MBps },
		{ "bandwidth", test_blackhole_bounds_queued_bytes },
		{ "partition", test_blackhole_times_out_http_and_heals },
		{ "partition", test_blackhole_holds_established_connection },
		{ "partition", test_reset_closes_connections_and_heals },
		{ "partition", test_condition_changes_keep_connections },
		{ "partition", test_delete_closes_connections_and_frees_port },
		{ "scale", test_thousand_concurrent_connections },
		{ "config", test_config_creates_links },
		{ "config", test_config_error_points_at_line_and_column },
	};
	TCase *tc = NULL;
	const char *current = "";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, current) != 0) {
			current = cases[i].name;
			tc = tcase_create(current);
			tcase_add_checked_fixture(tc, setup, teardown);
			tcase_set_timeout(tc, 60);
			suite_add_tcase(s, tc);
		}
		tcase_add_test(tc, cases[i].test);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(drlink_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
