/*
 * check_common.c — crc32c, strict decimal numbers, host:port parsing, and the HTTP server wrapper
 * (a real server on a free loopback port, driven with the client wrapper).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "decimal.h"
#include "histo.h"
#include "http.h"
#include "httpc.h"
#include "httpstats.h"
#include "operators.h"
#include "testhelp.h"
#include "timeutil.h"
#include "version.h"

START_TEST(test_crc32c_check_value)
{
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(test_crc32c_incremental_equals_whole)
{
	unsigned char buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	uint32_t whole = crc32c(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 37)
		ck_assert_uint_eq(crc32c(crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut), whole);
}
END_TEST

START_TEST(test_crc32c_detects_single_bit_flip)
{
	unsigned char buf[256] = { 0 };
	uint32_t base = crc32c(0, buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit += 13) {
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		ck_assert_uint_ne(crc32c(0, buf, sizeof(buf)), base);
		buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}
END_TEST

START_TEST(test_decimal_takes_digits_alone)
{
	uint64_t v = 42;
	ck_assert_int_eq(decimal_u64("0", &v), DECIMAL_OK);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(decimal_u64("007", &v), DECIMAL_OK);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(decimal_u64("18446744073709551615", &v), DECIMAL_OK);
	ck_assert_uint_eq(v, UINT64_MAX);
	/* What strtoull lets through, and what it does not: *out unchanged. */
	static const char *const bad[] = { "", " 7", "7 ", "+7", "-7", "0x10", "7a", "1e3",
					   "7.0", "\t7", "٣" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		ck_assert_msg(decimal_u64(bad[i], &v) == DECIMAL_BAD, "\"%s\" taken", bad[i]);
		ck_assert_uint_eq(v, 42);
	}
	ck_assert_int_eq(decimal_u64(NULL, &v), DECIMAL_BAD);
	ck_assert_int_eq(decimal_u64("18446744073709551616", &v), DECIMAL_RANGE);
	ck_assert_int_eq(decimal_u64("99999999999999999999999", &v), DECIMAL_RANGE);
	/* Past the range and then not a number: not a number. */
	ck_assert_int_eq(decimal_u64("99999999999999999999999x", &v), DECIMAL_BAD);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(decimal_u64_in("4096", 4096, 8192, &v), DECIMAL_OK);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(decimal_u64_in("4095", 4096, 8192, &v), DECIMAL_RANGE);
	ck_assert_int_eq(decimal_u64_in("8193", 4096, 8192, &v), DECIMAL_RANGE);
	ck_assert_int_eq(decimal_u64_in("-1", 0, 8192, &v), DECIMAL_BAD);
	ck_assert_uint_eq(v, 4096);
}
END_TEST

START_TEST(test_parse_hostport)
{
	char host[64];
	uint16_t port;
	ck_assert_int_eq(http_parse_hostport("127.0.0.1:8080", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 8080);
	ck_assert_int_eq(http_parse_hostport("127.0.0.1", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport(":80", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport("h:99999", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport("h:8x", host, sizeof(host), &port), -1);
	/* A port is digits alone: strtoul took a sign and leading space. */
	ck_assert_int_eq(http_parse_hostport("h:+80", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport("h: 80", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport("h:-1", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport("h:", host, sizeof(host), &port), -1);
	ck_assert_int_eq(http_parse_hostport("h:65535", host, sizeof(host), &port), 0);
	ck_assert_uint_eq(port, 65535);
}
END_TEST

static void echo_handler(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	(void)ctx;
	if (strcmp(req->path, "/json") == 0) {
		json_t *j = http_req_json(req, resp);
		if (j)
			http_resp_json(resp, 200, j);
		return;
	}
	http_resp_bytes(resp, 200, "application/octet-stream", req->body ? req->body : "",
			req->body_len);
}

START_TEST(test_http_server_roundtrip_and_limits)
{
	struct http_server *srv = NULL;
	char err[256];
	struct http_server_opts o = { .host = "127.0.0.1", .port = 0, .max_body = 1000,
				      .handler = echo_handler };
	ck_assert_int_eq(http_server_start(&srv, &o, err, sizeof(err)), 0);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", http_server_port(srv));
	char *body = NULL;
	ck_assert_int_eq(th_http("PUT", url, NULL, "hello", 5, &body, NULL), 200);
	ck_assert_str_eq(body, "hello");
	free(body);
	char big[1001];
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(th_http("PUT", url, NULL, big, sizeof(big), &body, NULL), 413);
	ck_assert_ptr_nonnull(strstr(body, "\"error\""));
	free(body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/json", http_server_port(srv));
	ck_assert_int_eq(th_http("POST", url, NULL, "{\"a\":", 5, &body, NULL), 400);
	ck_assert_ptr_nonnull(strstr(body, "line 1"));
	free(body);
	ck_assert_int_eq(th_http("POST", url, NULL, "[1]", 3, NULL, NULL), 400);
	http_server_stop(srv);
}
END_TEST

START_TEST(test_http_server_port_in_use_is_an_error)
{
	struct http_server *a = NULL, *b = NULL;
	char err[256];
	struct http_server_opts o = { .host = "127.0.0.1", .port = 0, .max_body = 10,
				      .handler = echo_handler };
	ck_assert_int_eq(http_server_start(&a, &o, err, sizeof(err)), 0);
	o.port = http_server_port(a);
	ck_assert_int_eq(http_server_start(&b, &o, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot listen"));
	http_server_stop(a);
}
END_TEST

START_TEST(test_versions_compare_number_by_number)
{
	struct version v;
	ck_assert(version_parse("0.1.0", &v) && v.major == 0 && v.minor == 1 && v.patch == 0);
	ck_assert(!version_parse("0.1", &v));
	ck_assert(!version_parse("0.1.0-rc1", &v));
	ck_assert(!version_parse("v1.0.0", &v));
	ck_assert(!version_parse("", &v));
	ck_assert(!version_parse("1.-2.3", &v));
	ck_assert(!version_parse("1. 2.3", &v));
	ck_assert(!version_parse("1.+2.3", &v));
	ck_assert(!version_parse("99999999999.0.0", &v));
	ck_assert(!version_parse("1..3", &v));
	ck_assert(version_parse("123456789.0.10", &v) && v.major == 123456789 && v.patch == 10);
	ck_assert_int_lt(version_cmp_text("1.9.0", "1.10.0"), 0);
	ck_assert_int_gt(version_cmp_text("2.0.0", "1.99.99"), 0);
	ck_assert_int_eq(version_cmp_text("0.2.0", "0.2.0"), 0);
	ck_assert_int_lt(version_cmp_text("junk", "0.0.0"), 0);
}
END_TEST

/* ---- operators ---- */

/* Writes text to DIR/operators and loads it into a table holding "api". */
static int load_ops(struct operators *o, const char *text, char *err, size_t len)
{
	char *dir = th_mkdtemp("check_common"), path[600];
	snprintf(path, sizeof(path), "%s/operators", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	operators_init(o);
	ck_assert_int_eq(operators_add(o, "api", "the-api-token", err, len), 0);
	int rc = operators_load(o, path, err, len);
	char *slash = strrchr(err, '/');  /* errors say PATH:LINE: keep operators:LINE */
	if (rc && slash)
		memmove(err, slash + 1, strlen(slash));
	th_rmrf(dir);
	free(dir);
	return rc;
}

START_TEST(test_operators_name_the_caller)
{
	char alice[200], bob[200], text[600], err[300], actor[80];
	struct operators o;
	ck_assert_int_eq(operators_line("alice", "alice-token-1", alice, sizeof(alice), err,
					sizeof(err)), 0);
	ck_assert_int_eq(operators_line("bob", "bob-token-22", bob, sizeof(bob), err,
					sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(alice, "alice sha256:"));
	ck_assert_ptr_null(strstr(alice, "alice-token-1"));  /* never the token itself */
	snprintf(text, sizeof(text), "# the on-call rota\n\n%s\n  %s   # backup\n", alice, bob);
	ck_assert_msg(load_ops(&o, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(o.n, 3);
	ck_assert(operators_actor(&o, "Bearer alice-token-1", actor, sizeof(actor)));
	ck_assert_str_eq(actor, "operator:alice");
	ck_assert(operators_actor(&o, "Bearer bob-token-22", actor, sizeof(actor)));
	ck_assert_str_eq(actor, "operator:bob");
	ck_assert(operators_actor(&o, "Bearer the-api-token", actor, sizeof(actor)));
	ck_assert_str_eq(actor, "operator:api");
	static const char *const no[] = { NULL, "", "Bearer ", "Bearer alice-token-", "bearer "
					  "alice-token-1", "Basic alice-token-1",
					  "Bearer alice-token-1 " };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!operators_actor(&o, no[i], actor, sizeof(actor)), "%s",
			      no[i] ? no[i] : "(null)");
}
END_TEST

START_TEST(test_bad_operators_files_are_refused_with_the_line)
{
	char line[200], err[300], text[800];
	struct operators o;
	ck_assert_int_eq(operators_line("carol", "carol-token", line, sizeof(line), err,
					sizeof(err)), 0);
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "carol\n", "operators:1: expected NAME sha256:HEX" },
		{ "# x\ncarol sha256:abc\n", "operators:2: expected sha256: and 64 lowercase hex" },
		{ "Carol sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
		  "operators:1: a name is 1-47 of a-z" },
		{ "dave sha256:000000000000000000000000000000000000000000000000000000000000000G\n",
		  "operators:1: expected sha256:" },
		{ "a b c\n", "operators:1: expected NAME sha256:HEX" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(load_ops(&o, bad[i].text, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, bad[i].says), "%s: %s", bad[i].text, err);
		ck_assert_int_eq(o.n, 1);  /* nothing added */
	}
	snprintf(text, sizeof(text), "%s\n%s\n", line, line);
	ck_assert_int_eq(load_ops(&o, text, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "operators:2: this operator is named twice"), "%s", err);
	char same[200];
	ck_assert_int_eq(operators_line("erin", "carol-token", same, sizeof(same), err,
					sizeof(err)), 0);
	snprintf(text, sizeof(text), "%s\n%s\n", line, same);
	ck_assert_int_eq(load_ops(&o, text, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "operators:2: this token is another operator's too"), "%s", err);
	ck_assert_int_eq(operators_line("api", "the-api-token", same, sizeof(same), err,
					sizeof(err)), 0);
	ck_assert_int_eq(load_ops(&o, same, err, sizeof(err)), -1);  /* "api" is the token_file's */
	ck_assert_int_eq(operators_line("no way", "t", line, sizeof(line), err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_httpstats_route_templates)
{
	static const char *const routes[] = { "/v1/runs", "/v1/runs/{id}", "/v1/runs/{id}/report",
					      "/", NULL };
	ck_assert_str_eq(httpstats_route(routes, "/v1/runs"), "/v1/runs");
	ck_assert_str_eq(httpstats_route(routes, "/v1/runs/12"), "/v1/runs/{id}");
	ck_assert_str_eq(httpstats_route(routes, "/v1/runs/12/report"), "/v1/runs/{id}/report");
	ck_assert_str_eq(httpstats_route(routes, "/v1/runs/12/report?format=md"),
			 "/v1/runs/{id}/report");
	ck_assert_str_eq(httpstats_route(routes, "/"), "/");
	ck_assert_str_eq(httpstats_route(routes, "/v1/runs/"), "other");  /* empty segment */
	ck_assert_str_eq(httpstats_route(routes, "/v1/runs/1/2"), "other");
	ck_assert_str_eq(httpstats_route(routes, "/v1/run"), "other");
	ck_assert_str_eq(httpstats_route(routes, "/v1/runsx"), "other");
	ck_assert_str_eq(httpstats_route(routes, ""), "other");
	ck_assert_str_eq(httpstats_route(NULL, "/v1/runs"), "other");
	/* Observed and rendered with its labels; the same key twice is one series. */
	struct httpstats *st = httpstats_new();
	ck_assert_ptr_nonnull(st);
	httpstats_observe(st, routes[1], "GET", 200, time_mono_ns());
	httpstats_observe(st, routes[1], "GET", 200, time_mono_ns());
	httpstats_observe(st, routes[1], "BREW", 404, time_mono_ns());
	struct prom p;
	prom_init(&p);
	httpstats_render(st, &p, "x_seconds", "help");
	ck_assert_ptr_nonnull(strstr(p.buf, "x_seconds_count{route=\"/v1/runs/{id}\",method=\"GET\",code=\"200\"} 2"));
	ck_assert_ptr_nonnull(strstr(p.buf, "method=\"OTHER\",code=\"404\"} 1"));
	ck_assert_ptr_nonnull(strstr(p.buf, "drorch_http_requests_unlabelled_total 0"));
	prom_free(&p);
	httpstats_free(st);
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("crc32c");
	tcase_add_test(tc, test_crc32c_check_value);
	tcase_add_test(tc, test_crc32c_incremental_equals_whole);
	tcase_add_test(tc, test_crc32c_detects_single_bit_flip);
	suite_add_tcase(s, tc);
	tc = tcase_create("decimal");
	tcase_add_test(tc, test_decimal_takes_digits_alone);
	suite_add_tcase(s, tc);
	tc = tcase_create("version");
	tcase_add_test(tc, test_versions_compare_number_by_number);
	suite_add_tcase(s, tc);
	tc = tcase_create("operators");
	tcase_add_test(tc, test_operators_name_the_caller);
	tcase_add_test(tc, test_bad_operators_files_are_refused_with_the_line);
	suite_add_tcase(s, tc);
	tc = tcase_create("http");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse_hostport);
	tcase_add_test(tc, test_httpstats_route_templates);
	tcase_add_test(tc, test_http_server_roundtrip_and_limits);
	tcase_add_test(tc, test_http_server_port_in_use_is_an_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(common_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
