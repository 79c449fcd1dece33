/*
 * check_flood.c — every server of drorch under a connection flood.
 *
 * 2,000 idle connections (connect, send nothing) or 2,000 slow ones
 * (slowloris: a request head sent one byte a second, never finished) are
 * opened to drsite, drorchd and drlink's admin port, all real processes.
 * While they are open, normal requests (the health check, a status read,
 * an admin or client request) must each answer within PROBE_MAX_MS, and
 * drorchd's own health checks of a flooded site must keep passing (the
 * cluster stays STEADY at the same epoch).  The slow connections must be
 * closed by the server once their head deadline has passed.
 *
 * The test process raises its own RLIMIT_NOFILE to open that many sockets;
 * every process is killed by pid (th_cleanup), every wait has a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "http.h"
#include "nofile.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

#define FLOOD 2000
#define PROBE_MAX_MS 1000
#define FIRST_MAX_MS 10000
#define OP_TOKEN "operator-token-for-flood-tests"

/* ---- the flood ----------------------------------------------------------------- */

/* A slowloris head: sent a byte a second, it never ends within a test. */
static const char slow_head[] = "GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Pad: "
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct flood {
	int fds[FLOOD];
	int n;
	bool slow;
	atomic_bool stop;
	pthread_t drip;
	bool dripping;
	uint64_t opened_ms;        /* when the last one was open */
};

/* Connects to 127.0.0.1:port from src (NULL: any address); -1 on failure. */
static int tcp_connect_from(const char *src, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	struct sockaddr_in from = { .sin_family = AF_INET };
	if ((src && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
		     bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)) ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One more byte of the head on every slow connection, each second. */
static void *drip_main(void *arg)
{
	struct flood *f = arg;
	for (size_t pos = 0; !atomic_load(&f->stop); pos = (pos + 1) % (sizeof(slow_head) - 1)) {
		for (int i = 0; i < f->n; i++)
			send(f->fds[i], slow_head + pos, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		for (int t = 0; t < 20 && !atomic_load(&f->stop); t++)
			time_sleep_ms(50);
	}
	return NULL;
}

static void flood_open(struct flood *f, int port, bool slow)
{
	memset(f, 0, sizeof(*f));
	f->slow = slow;
	uint64_t t0 = time_mono_ms();
	while (f->n < FLOOD) {
		int fd = tcp_connect_from(NULL, port);
		ck_assert_msg(fd >= 0, "flood: connection %d to port %d failed: %s", f->n, port,
			      strerror(errno));
		f->fds[f->n++] = fd;
	}
	f->opened_ms = time_mono_ms();
	if (slow) {
		ck_assert_int_eq(pthread_create(&f->drip, NULL, drip_main, f), 0);
		f->dripping = true;
	}
	fprintf(stderr, "flood: %d %s connections to port %d opened in %llu ms\n", f->n,
		slow ? "slow" : "idle", port, (unsigned long long)(time_mono_ms() - t0));
}

static void flood_close(struct flood *f)
{
	atomic_store(&f->stop, true);
	if (f->dripping)
		pthread_join(f->drip, NULL);
	f->dripping = false;
	for (int i = 0; i < f->n; i++)
		close(f->fds[i]);
	f->n = 0;
}

/* How many of the flood's connections the server has closed. */
static int flood_closed(const struct flood *f)
{
	int closed = 0;
	for (int i = 0; i < f->n; i++) {
		char c;
		ssize_t r = recv(f->fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);
		closed += r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
	}
	return closed;
}

/* ---- probes -------------------------------------------------------------------- */

struct probe {
	const char *method, *url, *bearer, *body;
	long want;
};

/*
 * How long until p first answers as expected: its connection waits in the
 * listen backlog behind the flood's, each of which costs the server a
 * thread to accept (a few hundred ms in all; seconds under
 * AddressSanitizer, whose threads are dear).  At most FIRST_MAX_MS.
 */
static uint64_t first_answer_ms(const char *what, const struct probe *p)
{
	uint64_t t0 = time_mono_ms();
	long got;
	while ((got = th_http(p->method, p->url, p->bearer, p->body,
			      p->body ? strlen(p->body) : 0, NULL, NULL)) != p->want &&
	       time_mono_ms() - t0 < FIRST_MAX_MS)
		time_sleep_ms(50);
	uint64_t ms = time_mono_ms() - t0;
	ck_assert_msg(got == p->want, "%s: %s %s answered %ld, want %ld, for %llu ms", what,
		      p->method, p->url, got, p->want, (unsigned long long)ms);
	return ms;
}

/* After the first answer, runs each probe `rounds` times, 200 ms apart:
 * every answer must be the expected one within PROBE_MAX_MS.  Prints the
 * figures, for the record. */
static void probe_all(const char *what, const struct probe *p, int n, int rounds)
{
	uint64_t first_ms = first_answer_ms(what, &p[0]);
	uint64_t worst = 0, sum = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++) {
			uint64_t t0 = time_mono_ms();
			long got = th_http(p[i].method, p[i].url, p[i].bearer, p[i].body,
					   p[i].body ? strlen(p[i].body) : 0, NULL, NULL);
			uint64_t ms = time_mono_ms() - t0;
			ck_assert_msg(got == p[i].want, "%s: %s %s answered %ld after %llu ms, want %ld",
				      what, p[i].method, p[i].url, got, (unsigned long long)ms, p[i].want);
			ck_assert_msg(ms <= PROBE_MAX_MS, "%s: %s %s took %llu ms", what, p[i].method,
				      p[i].url, (unsigned long long)ms);
			worst = ms > worst ? ms : worst;
			sum += ms;
		}
		time_sleep_ms(200);
	}
	fprintf(stderr, "flood: %s: first answer after %llu ms, then %d requests: mean %.1f ms, "
		"slowest %llu ms\n", what, (unsigned long long)first_ms, n * rounds,
		(double)sum / (n * rounds), (unsigned long long)worst);
}

/* ---- fixtures ------------------------------------------------------------------- */

static struct tl_lab L;
static char *dir;

static void setup(void)
{
	uint64_t nofile = nofile_raise();
	ck_assert_msg(nofile >= FLOOD + 256, "RLIMIT_NOFILE hard limit %llu: too low to open "
		      "%d sockets", (unsigned long long)nofile, FLOOD);
	ck_assert_int_eq(httpc_global_init(), 0);
	tl_lab_init(&L, "check_flood", 2, OP_TOKEN, "name: flood-test\n");
	dir = L.root;
}

static void teardown(void)
{
	tl_lab_free(&L);
}

static void assert_cluster_untouched(long long epoch)
{
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 2000);
	ck_assert_msg(st, "the cluster left STEADY under the flood; see %s", L.log);
	json_decref(st);
	ck_assert_int_eq(tl_status_epoch(&L), epoch);
}

static int port_of(const char *listen)
{
	return atoi(strrchr(listen, ':') + 1);
}

/* ---- drsite ------------------------------------------------------------------- */

static void site_probes(struct probe *p, char urls[][160])
{
	const struct th_site *s = &L.site[0];
	snprintf(urls[0], 160, "%s/healthz", s->base);
	snprintf(urls[1], 160, "%s/v1/status", s->base);
	snprintf(urls[2], 160, "%s/v1/kv/flood-key", s->base);
	snprintf(urls[3], 160, "%s/v1/admin/checkpoint", s->base);
	p[0] = (struct probe){ "GET", urls[0], NULL, NULL, 200 };
	p[1] = (struct probe){ "GET", urls[1], NULL, NULL, 200 };
	p[2] = (struct probe){ "PUT", urls[2], NULL, "v", 200 };
	p[3] = (struct probe){ "POST", urls[3], TH_TOKEN, "{}", 200 };
}

/* A flooded primary keeps answering its clients, its admin API and drorchd's
 * health checks, and its replica keeps streaming (sync writes need it). */
static void drsite_flood(bool slow)
{
	tl_lab_up(&L, NULL);
	long long epoch = tl_status_epoch(&L);
	struct probe p[4];
	char urls[4][160];
	site_probes(p, urls);
	struct flood f;
	flood_open(&f, port_of(L.site[0].listen), slow);
	probe_all(slow ? "drsite, 2000 slow" : "drsite, 2000 idle", p, 4, 15);
	assert_cluster_untouched(epoch);
	if (slow) {
		/* The head deadline closes every slow connection. */
		uint64_t deadline = f.opened_ms + (HTTP_HEAD_TIMEOUT_S + 5) * 1000u;
		int closed = 0;
		while ((closed = flood_closed(&f)) < f.n && time_mono_ms() < deadline)
			time_sleep_ms(250);
		ck_assert_msg(closed == f.n, "%d of %d slow connections still open %u s after "
			      "they opened", f.n - closed, f.n, HTTP_HEAD_TIMEOUT_S + 5);
		fprintf(stderr, "flood: every slow connection closed by drsite %llu ms after the "
			"last opened\n", (unsigned long long)(time_mono_ms() - f.opened_ms));
	}
	flood_close(&f);
}

START_TEST(test_drsite_answers_under_2000_idle_connections)
{
	drsite_flood(false);
}
END_TEST

START_TEST(test_drsite_answers_under_2000_slow_connections_then_closes_them)
{
	drsite_flood(true);
}
END_TEST

/* ---- drorchd ------------------------------------------------------------------- */

START_TEST(test_drorchd_answers_under_2000_idle_or_slow_connections)
{
	tl_lab_up(&L, NULL);
	long long epoch = tl_status_epoch(&L);
	char health[160], status[160], pause[160];
	snprintf(health, sizeof(health), "%s/healthz", L.url);
	snprintf(status, sizeof(status), "%s/v1/status", L.url);
	snprintf(pause, sizeof(pause), "%s/v1/pause", L.url);
	const struct probe p[] = {
		{ "GET", health, NULL, NULL, 200 },
		{ "GET", status, NULL, NULL, 200 },
		{ "POST", pause, OP_TOKEN, "{\"flood\":1}", 400 },  /* refused, changes nothing */
	};
	for (int slow = 0; slow <= 1; slow++) {
		struct flood f;
		flood_open(&f, port_of(L.listen), slow);
		probe_all(slow ? "drorchd, 2000 slow" : "drorchd, 2000 idle", p, 3, 10);
		flood_close(&f);
	}
	assert_cluster_untouched(epoch);
}
END_TEST

/* ---- drlink -------------------------------------------------------------------- */

START_TEST(test_drlink_admin_answers_under_2000_idle_or_slow_connections)
{
	char log[600], admin[64], health[160], links[160], cond[160];
	int port = th_free_port();
	snprintf(log, sizeof(log), "%s/drlink.log", dir);
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", port);
	char *argv[] = { (char *)th_bin("drlink"), "--admin", admin, NULL };
	pid_t pid = th_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	snprintf(health, sizeof(health), "http://%s/healthz", admin);
	ck_assert_msg(th_wait_http(health, 200, 10000), "drlink did not come up; see %s", log);
	snprintf(links, sizeof(links), "http://%s/v1/links", admin);
	snprintf(cond, sizeof(cond), "http://%s/v1/links/l1/conditions", admin);
	char body[160];
	snprintf(body, sizeof(body), "{\"name\":\"l1\",\"listen\":\"127.0.0.1:0\","
		 "\"upstream\":\"127.0.0.1:%d\"}", th_free_port());
	ck_assert_int_eq(th_http("POST", links, NULL, body, strlen(body), NULL, NULL), 201);
	const struct probe p[] = {
		{ "GET", health, NULL, NULL, 200 },
		{ "GET", links, NULL, NULL, 200 },
		{ "PUT", cond, NULL, "{\"latency_ms\":1}", 200 },
	};
	for (int slow = 0; slow <= 1; slow++) {
		struct flood f;
		flood_open(&f, port, slow);
		probe_all(slow ? "drlink admin, 2000 slow" : "drlink admin, 2000 idle", p, 3, 10);
		flood_close(&f);
	}
	int st = th_kill(pid, SIGTERM, 10000);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "drlink did not exit cleanly (status %d); see %s", st, log);
}
END_TEST

/* ---- the per-peer cap ------------------------------------------------------------ */

static void hello(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	(void)ctx; (void)req;
	http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

/* true when a request from src is answered 200 (a raw HTTP/1.0 exchange:
 * the server closes the connection after it). */
static bool answered_from(const char *src, int port)
{
	int fd = tcp_connect_from(src, port);
	if (fd < 0)
		return false;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	static const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
	char buf[256] = "";
	bool ok = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1 &&
		  recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL) > 0 && strstr(buf, " 200 ");
	close(fd);
	return ok;
}

/* With loopback counted (as it is not by default), a peer at its cap gets
 * no more connections while other peers still do, and gets them again once
 * its own close. */
START_TEST(test_peer_at_its_cap_is_refused_and_others_are_not)
{
	struct http_server *srv = NULL;
	char err[256];
	struct http_server_opts o = { .host = "127.0.0.1", .max_body = 1024, .handler = hello,
				      .max_connections_per_peer = 8, .count_loopback_peers = true };
	ck_assert_msg(http_server_start(&srv, &o, err, sizeof(err)) == 0, "%s", err);
	int port = http_server_port(srv), fds[8];
	ck_assert(answered_from("127.0.0.1", port));
	for (int i = 0; i < 8; i++)
		ck_assert_int_ge(fds[i] = tcp_connect_from("127.0.0.1", port), 0);
	time_sleep_ms(100);
	ck_assert_msg(!answered_from("127.0.0.1", port), "a 9th connection was served");
	ck_assert_msg(answered_from("127.0.0.2", port), "another peer was refused");
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	uint64_t deadline = time_mono_ms() + 5000;
	bool again = false;
	while (!(again = answered_from("127.0.0.1", port)) && time_mono_ms() < deadline)
		time_sleep_ms(50);
	ck_assert_msg(again, "the peer stayed refused after closing its connections");
	http_server_stop(srv);
}
END_TEST

static Suite *flood_suite(void)
{
	Suite *s = suite_create("flood");
	TCase *tc = th_tcase(s, "servers", 0, 90, setup, teardown);
	tcase_add_test(tc, test_drsite_answers_under_2000_idle_connections);
	tcase_add_test(tc, test_drsite_answers_under_2000_slow_connections_then_closes_them);
	tc = th_tcase(s, "servers-2", 0, 90, setup, teardown);
	tcase_add_test(tc, test_drorchd_answers_under_2000_idle_or_slow_connections);
	tcase_add_test(tc, test_drlink_admin_answers_under_2000_idle_or_slow_connections);
	tc = th_tcase(s, "limits", 1, 30, NULL, NULL);
	tcase_add_test(tc, test_peer_at_its_cap_is_refused_and_others_are_not);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), the two flood cases run at
 * once, then limits alone: beside the floods (some 4,000 connections, a
 * thread each, in other processes) distcheck once saw its 9th connection
 * served (CI of fae2251); the cause is not found (MHD counts a connection on
 * its accept thread, before the next accept), and the case takes a second. */
int main(void)
{
	Suite *s = flood_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
