/*
 * check_drsite.c — end-to-end: real drsite processes on free loopback ports,
 * killed for real (SIGKILL), with their data dirs damaged on purpose.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testhelp.h"
#include "timeutil.h"

static char *root;
static struct th_site S;

static void setup(void)
{
	root = th_mkdtemp("check_drsite");
	ck_assert_ptr_nonnull(root);
	th_site_init(&S, root, "test-site");
}

static void teardown(void)
{
	th_cleanup();
	th_rmrf(root);
	free(root);
}

/* Starts drsite on S with optional extra args; waits for /healthz. */
static void site_start(const char *extra1, const char *extra2,
		       const char *extra3, const char *extra4)
{
	const char *extra[] = { extra1, extra2, extra3, extra4, NULL };
	ck_assert_msg(th_site_start(&S, extra), "drsite did not come up; see %s", S.log);
}

static long req(const char *method, const char *path, const void *body, size_t len,
		char **out, size_t *outlen)
{
	return th_site_req(&S, method, path, false, body, len, out, outlen);
}

static json_t *status(void)
{
	char *body = NULL;
	ck_assert_int_eq(req("GET", "/v1/status", NULL, 0, &body, NULL), 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	ck_assert_ptr_nonnull(j);
	return j;
}

static long long status_int(const char *obj, const char *field)
{
	return th_site_status_int(&S, obj, field);
}

static void put_checked(const char *key)
{
	ck_assert_int_eq(th_site_put(&S, key), 200);
}

static void assert_served(const char *key)
{
	ck_assert_msg(th_site_has(&S, key), "%s not served intact", key);
}

static char *newest_segment(void)
{
	char cmd[600], line[1024] = "";
	snprintf(cmd, sizeof(cmd), "ls %s/wal/*.wal | tail -n 1", S.data);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	return strdup(line);
}

/* ---- API ------------------------------------------------------------------------ */

START_TEST(test_put_get_delete_binary_values)
{
	site_start(NULL, NULL, NULL, NULL);
	unsigned char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	char *body = NULL;
	ck_assert_int_eq(req("PUT", "/v1/kv/bin.key_1~x", bin, sizeof(bin), &body, NULL), 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "lsn")), 1);
	ck_assert_ptr_nonnull(json_object_get(j, "epoch"));
	json_decref(j);
	size_t len = 0;
	ck_assert_int_eq(req("GET", "/v1/kv/bin.key_1~x", NULL, 0, &body, &len), 200);
	ck_assert_uint_eq(len, 256);
	ck_assert(memcmp(body, bin, 256) == 0);
	free(body);
	ck_assert_int_eq(req("PUT", "/v1/kv/empty", "", 0, NULL, NULL), 200);
	ck_assert_int_eq(req("GET", "/v1/kv/empty", NULL, 0, NULL, &len), 200);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(req("DELETE", "/v1/kv/bin.key_1~x", NULL, 0, NULL, NULL), 200);
	ck_assert_int_eq(req("GET", "/v1/kv/bin.key_1~x", NULL, 0, NULL, NULL), 404);

	json_t *st = status();
	ck_assert_str_eq(json_string_value(json_object_get(st, "name")), "test-site");
	ck_assert_str_eq(json_string_value(json_object_get(st, "role")), "primary");
	ck_assert_int_eq(json_integer_value(json_object_get(st, "lsn")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "flushed_lsn")), 3);
	ck_assert_ptr_nonnull(json_object_get(st, "epoch"));
	ck_assert_ptr_nonnull(json_object_get(st, "version"));
	ck_assert_ptr_nonnull(json_object_get(st, "fcv"));
	ck_assert(json_is_real(json_object_get(json_object_get(st, "wal"), "fsyncs_per_write")));
	json_decref(st);
}
END_TEST

static void assert_json_error(long want, const char *method, const char *path,
			      const void *body, size_t len)
{
	char *out = NULL;
	long got = req(method, path, body, len, &out, NULL);
	ck_assert_msg(got == want, "%s %.60s: %ld, want %ld", method, path, got, want);
	json_t *j = json_loads(out ? out : "", 0, NULL);
	ck_assert_msg(j && json_is_string(json_object_get(j, "error")), "not a JSON error: %s", out);
	json_decref(j);
	free(out);
}

START_TEST(test_bad_input_gets_json_errors_and_changes_nothing)
{
	site_start(NULL, NULL, NULL, NULL);
	char path[1200] = "/v1/kv/";
	memset(path + 7, 'k', 1025);
	path[7 + 1025] = '\0';
	assert_json_error(413, "PUT", path, "v", 1);
	char *big = calloc(1, (1 << 20) + 1);
	assert_json_error(413, "PUT", "/v1/kv/big", big, (1 << 20) + 1);
	ck_assert_int_eq(req("PUT", "/v1/kv/max", big, 1 << 20, NULL, NULL), 200);
	free(big);
	assert_json_error(400, "PUT", "/v1/kv/bad%20key", "v", 1);
	assert_json_error(400, "PUT", "/v1/kv/a/b", "v", 1);
	assert_json_error(400, "PUT", "/v1/kv/", "v", 1);
	assert_json_error(404, "GET", "/v1/nope", NULL, 0);
	assert_json_error(404, "GET", "/v1/kv/missing", NULL, 0);
	assert_json_error(405, "POST", "/v1/kv/x", "v", 1);
	ck_assert_int_eq(status_int(NULL, "lsn"), 1);  /* only the 1 MiB write landed */
}
END_TEST

/* Sends raw bytes as one request (the connection closes after it) and
 * returns the answer (malloc'd, NUL-terminated), or NULL. */
static char *raw_request(const char *bytes, size_t len)
{
	int port = atoi(strrchr(S.listen, ':') + 1);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char *out = calloc(1, 8192);
	size_t n = 0;
	ssize_t r;
	if (out && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    send(fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len)
		while (n < 8191 && (r = recv(fd, out + n, 8191 - n, 0)) > 0)
			n += (size_t)r;
	close(fd);
	if (!out || n == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* A raw request answered 400 with a JSON error that names want_byte. */
static void assert_raw_400_naming(const char *bytes, size_t len, const char *want_byte)
{
	char *out = raw_request(bytes, len);
	ck_assert_msg(out, "no answer to %.40s", bytes);
	ck_assert_msg(strncmp(out, "HTTP/1.1 400 ", 13) == 0, "%.40s: %.60s", bytes, out);
	const char *body = strstr(out, "\r\n\r\n");
	json_t *j = body ? json_loads(body + 4, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "error"));
	ck_assert_msg(msg && strstr(msg, want_byte), "%.40s: error %s does not name %s", bytes,
		      msg ? msg : "(none)", want_byte);
	json_decref(j);
	free(out);
}

/*
 * Keys are checked after percent-decoding: a byte outside A-Z a-z 0-9 - _
 * . ~ is refused and named in the error, and a NUL, raw or %00, never cuts
 * a key short (a%00b is not the key a).  Nothing refused reaches the WAL.
 */
START_TEST(test_keys_with_nul_or_bytes_outside_the_alphabet_are_refused_by_name)
{
	site_start(NULL, NULL, NULL, NULL);
	static const struct { const char *path, *byte; } bad[] = {
		{ "/v1/kv/a%00b", "0x00" }, { "/v1/kv/%00", "0x00" }, { "/v1/kv/a%00", "0x00" },
		{ "/v1/kv/a%2Fb", "0x2f" }, { "/v1/kv/a%2fb", "0x2f" }, { "/v1/kv/a%FFb", "0xff" },
		{ "/v1/kv/a%0Ab", "0x0a" }, { "/v1/kv/a%25b", "0x25" }, { "/v1/kv/%zz", "0x25" },
		{ "/v1/kv/a+b", "0x2b" }, { "/v1/kv/a%3Fb", "0x3f" },
	};
	static const char *const methods[] = { "PUT", "GET", "DELETE" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int m = 0; m < 3; m++) {
			char head[256];
			int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t\r\n"
					 "Content-Length: 1\r\nConnection: close\r\n\r\nv", methods[m],
					 bad[i].path);
			assert_raw_400_naming(head, (size_t)n, bad[i].byte);
		}
	/* A raw NUL in the request line, and %00 in a query, are refused too. */
	static const char raw_nul[] = "PUT /v1/kv/a\0b HTTP/1.1\r\nHost: t\r\n"
		"Content-Length: 1\r\nConnection: close\r\n\r\nv";
	assert_raw_400_naming(raw_nul, sizeof(raw_nul) - 1, "0x00");
	static const char raw_nul_health[] = "GET /healthz\0x HTTP/1.1\r\nHost: t\r\n"
		"Connection: close\r\n\r\n";
	assert_raw_400_naming(raw_nul_health, sizeof(raw_nul_health) - 1, "0x00");
	assert_json_error(400, "GET", "/replica?lag=5%00", NULL, 0);
	assert_json_error(400, "GET", "/replica?lag=%2B5", NULL, 0);
	assert_json_error(400, "GET", "/replica?lag=-1", NULL, 0);
	ck_assert_int_eq(status_int(NULL, "lsn"), 0);
	assert_json_error(404, "GET", "/v1/kv/a", NULL, 0);
	/* Escapes of allowed bytes are those bytes: %7E is ~, %41 is A. */
	ck_assert_int_eq(req("PUT", "/v1/kv/%7E%41", "v", 1, NULL, NULL), 200);
	char *out = NULL;
	ck_assert_int_eq(req("GET", "/v1/kv/~A", NULL, 0, &out, NULL), 200);
	ck_assert_str_eq(out, "v");
	free(out);
	ck_assert_int_eq(status_int(NULL, "lsn"), 1);
}
END_TEST

/*
 * A body somewhat over the limit (up to twice it) is read and discarded
 * before the answer, so the client, still sending, gets its 413 every time
 * and never a reset.
 */
START_TEST(test_oversized_bodies_always_get_413_not_a_reset)
{
	site_start(NULL, NULL, NULL, NULL);
	size_t len = 2u << 20;
	char *big = calloc(1, len);
	ck_assert_ptr_nonnull(big);
	for (int i = 0; i < 20; i++) {
		long got = req("PUT", "/v1/kv/big", big, len, NULL, NULL);
		ck_assert_msg(got == 413, "PUT #%d of %zu bytes: %ld, want 413", i, len, got);
	}
	free(big);
	ck_assert_int_eq(req("PUT", "/v1/kv/small", "v", 1, NULL, NULL), 200);
	ck_assert_int_eq(status_int(NULL, "lsn"), 1);
}
END_TEST

/*
 * A Content-Length far over the limit is answered 413 as soon as the
 * headers are in: the server does not wait for a body that may never come.
 * So is any over-limit body behind "Expect: 100-continue".
 */
START_TEST(test_huge_content_length_is_refused_at_once)
{
	site_start(NULL, NULL, NULL, NULL);
	static const char *const heads[] = {
		"PUT /v1/kv/huge HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000000\r\n\r\n",
		"PUT /v1/kv/huge HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551615\r\n\r\n",
		"PUT /v1/kv/huge HTTP/1.1\r\nHost: t\r\nContent-Length: 16777216\r\n\r\n",
		"PUT /v1/kv/huge HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n"
		"Expect: 100-continue\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		uint64_t t0 = time_mono_ms();
		char *out = raw_request(heads[i], strlen(heads[i]));
		uint64_t ms = time_mono_ms() - t0;
		ck_assert_msg(out && strncmp(out, "HTTP/1.1 413 ", 13) == 0, "%s: %.60s", heads[i],
			      out ? out : "(no answer)");
		ck_assert_msg(strstr(out, "{\"error\":"), "not a JSON error: %s", out);
		ck_assert_msg(ms < 1000, "413 after %llu ms", (unsigned long long)ms);
		free(out);
	}
	ck_assert_int_eq(status_int(NULL, "lsn"), 0);
}
END_TEST

START_TEST(test_bad_command_line_exits_2)
{
	char *argv[] = { (char *)th_bin("drsite"), "--name", "x", NULL };
	pid_t pid = th_spawn(argv, S.log);
	int st = th_wait_exit(pid, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	char *argv2[] = { (char *)th_bin("drsite"), "--name", "x", "--listen", "nope",
			  "--data", S.data, NULL };
	pid = th_spawn(argv2, S.log);
	st = th_wait_exit(pid, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	/* A port is digits alone: strtoul once let a sign through. */
	char *argv3[] = { (char *)th_bin("drsite"), "--name", "x", "--listen", "127.0.0.1:+1",
			  "--data", S.data, NULL };
	pid = th_spawn(argv3, S.log);
	st = th_wait_exit(pid, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	char *out = th_read_file(S.log, NULL);
	ck_assert_msg(out && strstr(out, "--listen: '127.0.0.1:+1' is not HOST:PORT"),
		      "no message; see %s", S.log);
	free(out);
}
END_TEST

START_TEST(test_data_dir_held_or_unusable_is_refused)
{
	site_start(NULL, NULL, NULL, NULL);
	char listen[64], log2[600];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", th_free_port());
	snprintf(log2, sizeof(log2), "%s/second.log", root);
	char *argv[] = { (char *)th_bin("drsite"), "--name", "twin", "--listen", listen,
			 "--data", S.data, NULL };
	pid_t pid = th_spawn(argv, log2);
	int st = th_wait_exit(pid, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	char *out = th_read_file(log2, NULL);
	ck_assert_ptr_nonnull(strstr(out, "held by another drsite"));
	free(out);

	/* A data path below a regular file cannot be created, even by root. */
	char file[600], bad[700];
	snprintf(file, sizeof(file), "%s/plainfile", root);
	fclose(fopen(file, "w"));
	snprintf(bad, sizeof(bad), "%s/data", file);
	char *argv2[] = { (char *)th_bin("drsite"), "--name", "x", "--listen", listen,
			  "--data", bad, NULL };
	pid = th_spawn(argv2, log2);
	st = th_wait_exit(pid, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	out = th_read_file(log2, NULL);
	ck_assert_ptr_nonnull(strstr(out, "cannot create"));
	free(out);
}
END_TEST

START_TEST(test_sigterm_shuts_down_cleanly_and_keeps_data)
{
	site_start(NULL, NULL, NULL, NULL);
	put_checked("before-term");
	int st = th_kill(S.pid, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	site_start(NULL, NULL, NULL, NULL);
	assert_served("before-term");
	ck_assert_int_ge(status_int("checkpoint", "lsn"), 1);  /* checkpointed on the way out */
}
END_TEST

/* ---- faults ----------------------------------------------------------------------- */

#define WRITERS 8
#define MAX_PER_WRITER 100000

struct writer {
	int id;
	int acked;                /* writes 0..acked-1 were acknowledged */
	atomic_bool *stop;
};

static void *writer_main(void *p)
{
	struct writer *w = p;
	struct httpc *c = httpc_new();
	char url[256], key[64], val[512], err[256];
	while (!atomic_load(w->stop) && w->acked < MAX_PER_WRITER) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, w->acked);
		snprintf(url, sizeof(url), "%s/v1/kv/%s", S.base, key);
		size_t n = th_value_for(key, val, sizeof(val));
		struct httpc_resp r;
		if (httpc_request(c, "PUT", url, NULL, val, n, 5000, &r, err, sizeof(err)) != 0)
			break;  /* the site died under us: this write was not acknowledged */
		long status = r.status;
		httpc_resp_free(&r);
		if (status != 200)
			break;
		w->acked++;
	}
	httpc_free(c);
	return NULL;
}

START_TEST(test_kill9_under_8_writers_loses_no_acked_write)
{
	site_start(NULL, NULL, NULL, NULL);
	atomic_bool stop = false;
	pthread_t t[WRITERS];
	struct writer w[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .id = i, .stop = &stop };
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
	time_sleep_ms(1500);
	ck_assert(WIFSIGNALED(th_kill(S.pid, SIGKILL, 5000)));  /* mid-write, for real */
	atomic_store(&stop, true);
	int total = 0;
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(t[i], NULL);
		total += w[i].acked;
	}
	ck_assert_int_gt(total, 100);
	site_start(NULL, NULL, NULL, NULL);
	for (int i = 0; i < WRITERS; i++)
		for (int k = 0; k < w[i].acked; k++) {
			char key[64];
			snprintf(key, sizeof(key), "w%d-%d", i, k);
			assert_served(key);
		}
	ck_assert_int_ge(status_int(NULL, "lsn"), total);
}
END_TEST

START_TEST(test_garbage_appended_to_newest_segment_is_truncated)
{
	site_start(NULL, NULL, NULL, NULL);
	for (int i = 0; i < 50; i++) {
		char key[32];
		snprintf(key, sizeof(key), "g%d", i);
		put_checked(key);
	}
	th_kill(S.pid, SIGKILL, 5000);
	char *seg = newest_segment();
	int fd = open(seg, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	char junk[300];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 31 + 7);
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	free(seg);
	site_start(NULL, NULL, NULL, NULL);
	for (int i = 0; i < 50; i++) {
		char key[32];
		snprintf(key, sizeof(key), "g%d", i);
		assert_served(key);
	}
	ck_assert_int_eq(status_int("wal", "truncated_bytes_at_open"), (long long)sizeof(junk));
	put_checked("after-truncation");
	assert_served("after-truncation");
}
END_TEST

START_TEST(test_flipped_value_byte_is_never_served)
{
	site_start(NULL, NULL, NULL, NULL);
	put_checked("first");
	ck_assert_int_eq(req("PUT", "/v1/kv/victim", "VICTIM-VALUE-BYTES", 18, NULL, NULL), 200);
	th_kill(S.pid, SIGKILL, 5000);
	char *seg = newest_segment();
	size_t len;
	char *data = th_read_file(seg, &len);
	char *hit = memmem(data, len, "VICTIM-VALUE-BYTES", 18);
	ck_assert_ptr_nonnull(hit);
	int fd = open(seg, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "v", 1, hit - data), 1);  /* V -> v: one bit */
	close(fd);
	free(data);
	free(seg);
	site_start(NULL, NULL, NULL, NULL);
	assert_served("first");
	char *got = NULL;
	size_t got_len = 0;
	long st = req("GET", "/v1/kv/victim", NULL, 0, &got, &got_len);
	ck_assert_int_ne(st, 200);
	ck_assert(!got || !memmem(got, got_len, "vICTIM", 6));
	free(got);
}
END_TEST

START_TEST(test_checkpoint_then_writes_then_kill9_replays_both)
{
	site_start("--segment-bytes", "16384", "--checkpoint-bytes", "65536");
	char key[32];
	for (int i = 0; i < 600; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		put_checked(key);
	}
	uint64_t deadline = time_mono_ms() + 10000;
	while (status_int("checkpoint", "count") < 1 && time_mono_ms() < deadline)
		time_sleep_ms(50);
	long long cp_lsn = status_int("checkpoint", "lsn");
	ck_assert_int_gt(cp_lsn, 0);
	ck_assert_int_gt(status_int("wal", "oldest_lsn"), 1);  /* old segments removed */
	for (int i = 600; i < 700; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		put_checked(key);
	}
	th_kill(S.pid, SIGKILL, 5000);
	site_start("--segment-bytes", "16384", "--checkpoint-bytes", "65536");
	for (int i = 0; i < 700; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		assert_served(key);
	}
	ck_assert_int_eq(status_int(NULL, "lsn"), 700);
}
END_TEST

static Suite *drsite_suite(void)
{
	Suite *s = suite_create("drsite");
	TCase *tc = tcase_create("api");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get_delete_binary_values);
	tcase_add_test(tc, test_bad_input_gets_json_errors_and_changes_nothing);
	tcase_add_test(tc, test_keys_with_nul_or_bytes_outside_the_alphabet_are_refused_by_name);
	tcase_add_test(tc, test_oversized_bodies_always_get_413_not_a_reset);
	tcase_add_test(tc, test_huge_content_length_is_refused_at_once);
	tcase_add_test(tc, test_bad_command_line_exits_2);
	tcase_add_test(tc, test_data_dir_held_or_unusable_is_refused);
	tcase_add_test(tc, test_sigterm_shuts_down_cleanly_and_keeps_data);
	suite_add_tcase(s, tc);
	tc = tcase_create("faults");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kill9_under_8_writers_loses_no_acked_write);
	tcase_add_test(tc, test_garbage_appended_to_newest_segment_is_truncated);
	tcase_add_test(tc, test_flipped_value_byte_is_never_served);
	tcase_add_test(tc, test_checkpoint_then_writes_then_kill9_replays_both);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(drsite_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
