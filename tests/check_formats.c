/*
 * check_formats.c — drsite's formats 1 and 2 (sites/format.h) with real
 * processes: drsite (0.2.0) and drsite-0.1.0 side by side, the FCV that
 * switches a site to format 2, what each binary refuses, and the exact lag
 * format 2 gives.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "testhelp.h"
#include "timeutil.h"

static char *root;
static struct th_site A, B, C;

static void setup(void)
{
	root = th_mkdtemp("check_formats");
	ck_assert_ptr_nonnull(root);
	th_site_init(&A, root, "site-a");
	th_site_init(&B, root, "site-b");
	th_site_init(&C, root, "site-c");
}

static void teardown(void)
{
	th_cleanup();
	th_rmrf(root);
	free(root);
}

static void start_on(struct th_site *s, const char *version)
{
	snprintf(s->version, sizeof(s->version), "%s", version);
	/* A long lease: a replica slowed on purpose must not stop the writes. */
	const char *faults[] = { "--enable-faults", "--lease-ms", "3000", NULL };
	ck_assert_msg(th_site_start(s, faults), "%s (%s) did not come up; see %s", s->name,
		      version, s->log);
}

static long admin(const struct th_site *s, const char *cmd, const char *body, char **out)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/admin/%s", cmd);
	return th_site_req(s, "POST", path, true, body, strlen(body), out, NULL);
}

static void put_range(const struct th_site *s, const char *prefix, int from, int to)
{
	char key[64];
	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ck_assert_int_eq(th_site_put(s, key), 200);
	}
}

/* Waits until s has every key prefix[from, to). */
static void assert_has_range(const struct th_site *s, const char *prefix, int from, int to)
{
	char key[64];
	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		uint64_t deadline = time_mono_ms() + 10000;
		while (!th_site_has(s, key) && time_mono_ms() < deadline)
			time_sleep_ms(20);
		ck_assert_msg(th_site_has(s, key), "%s lacks %s", s->name, key);
	}
}

static void assert_status(const struct th_site *s, const char *version, const char *fcv,
			  int format)
{
	char buf[32];
	ck_assert_str_eq(th_site_status_str(s, "version", buf, sizeof(buf)), version);
	ck_assert_str_eq(th_site_status_str(s, "fcv", buf, sizeof(buf)), fcv);
	ck_assert_int_eq(th_site_status_int(s, NULL, "format"), format);
}

static void replicate(struct th_site *primary, struct th_site *replica, int epoch)
{
	ck_assert_int_eq(th_site_role(primary, "primary", epoch, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(replica, "replica", epoch, primary, "async", 1), 200);
}

/* ---- format 2 on a cluster that starts at 0.2.0 ---------------------------------- */

START_TEST(test_fresh_020_cluster_writes_format2_with_exact_lag)
{
	start_on(&A, "");
	start_on(&B, "");
	assert_status(&A, DRSITE_VERSION, DRSITE_VERSION, 2);
	char *st = NULL;
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/status", false, NULL, 0, &st, NULL), 200);
	ck_assert_msg(strstr(st, "\"formats\":[1,2]") || strstr(st, "\"formats\": [1, 2]"), "%s", st);
	free(st);
	replicate(&A, &B, 1);
	put_range(&A, "f2-", 0, 20);
	assert_has_range(&B, "f2-", 0, 20);
	char *magics = th_wal_magics(B.data);
	ck_assert_msg(strstr(magics, "DRWAL002") && !strstr(magics, "DRWAL001"), "%s", magics);
	free(magics);
	ck_assert(th_site_wait_status(&B, "\"lag_exact\":true", 5000));
	/* A replica whose disk is slow falls behind: its lag is how long ago the
	 * oldest record it has received but not applied was committed. */
	ck_assert_int_eq(admin(&B, "faults", "{\"slow_fsync_ms\":300}", NULL), 200);
	uint64_t t0 = time_mono_ms();
	long long lag = 0, plast = 0, applied = 0;
	for (int i = 0; lag <= 0 && time_mono_ms() - t0 < 10000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "lag-%d", i);
		ck_assert_int_eq(th_site_put(&A, key), 200);
		time_sleep_ms(20);
		lag = th_site_status_int(&B, "replication", "lag_ms");
		plast = th_site_status_int(&B, "replication", "primary_last_commit_ms");
		applied = th_site_status_int(&B, "replication", "applied_commit_ms");
	}
	ck_assert_msg(lag > 0, "the slowed replica never showed lag");
	ck_assert_int_gt(applied, 0);
	ck_assert_int_ge(plast, applied);
	/* the age of the oldest record it lacks: at most since the slowdown began */
	ck_assert_int_lt(lag, (long long)(time_mono_ms() - t0) + 1000);
	ck_assert_int_eq(admin(&B, "faults", "{\"slow_fsync_ms\":0}", NULL), 200);
	ck_assert(th_site_wait_status(&B, "\"lag_ms\":0,", 10000));
}
END_TEST

/* ---- a rolling upgrade at the site level ------------------------------------------ */

START_TEST(test_both_versions_side_by_side_then_finalize_switches_to_format2)
{
	start_on(&A, "0.1.0");
	start_on(&B, "0.1.0");
	assert_status(&A, "0.1.0", "0.1.0", 1);
	replicate(&A, &B, 1);
	put_range(&A, "v1-", 0, 10);
	assert_has_range(&B, "v1-", 0, 10);
	/* The replica first: 0.2.0 reads the 0.1.0 data and still writes format 1. */
	ck_assert_msg(th_site_swap(&B, "0.2.0", NULL), "swap: see %s", B.log);
	assert_status(&B, "0.2.0", "0.1.0", 1);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "async", 1), 200);
	put_range(&A, "mixed-", 0, 10);
	assert_has_range(&B, "mixed-", 0, 10);
	assert_has_range(&B, "v1-", 0, 10);
	char *magics = th_wal_magics(B.data);
	ck_assert_msg(!strstr(magics, "DRWAL002"), "%s", magics);
	free(magics);
	/* Then the primary; then the FCV, which switches both to format 2. */
	ck_assert_msg(th_site_swap(&A, "0.2.0", NULL), "swap: see %s", A.log);
	replicate(&A, &B, 2);
	ck_assert_int_eq(admin(&A, "fcv", "{\"epoch\":2,\"fcv\":\"0.2.0\"}", NULL), 200);
	ck_assert_int_eq(admin(&B, "fcv", "{\"epoch\":2,\"fcv\":\"0.2.0\"}", NULL), 200);
	assert_status(&A, "0.2.0", "0.2.0", 2);
	put_range(&A, "v2-", 0, 10);
	assert_has_range(&B, "v2-", 0, 10);
	magics = th_wal_magics(B.data);
	ck_assert_msg(strstr(magics, "DRWAL001") && strstr(magics, "DRWAL002"), "%s", magics);
	free(magics);
	ck_assert(th_site_wait_status(&B, "\"lag_exact\":true", 5000));
	/* A reader of format 1 is refused the format-2 records, with the format. */
	long long last = th_site_status_int(&A, NULL, "lsn");
	char url[512], *out = NULL;
	snprintf(url, sizeof(url), "%s/v1/wal?from=%lld&epoch=2&replica=old", A.base, last);
	ck_assert_int_eq(th_http("GET", url, TH_TOKEN, NULL, 0, &out, NULL), 409);
	ck_assert_msg(strstr(out, "is format 2") && strstr(out, "\"format\""), "%s", out);
	free(out);
	snprintf(url, sizeof(url), "%s/v1/snapshot?epoch=2", A.base);
	ck_assert_int_eq(th_http("GET", url, TH_TOKEN, NULL, 0, &out, NULL), 409);
	ck_assert_msg(strstr(out, "snapshot is format 2"), "%s", out);
	free(out);
	snprintf(url, sizeof(url), "%s/v1/wal?from=%lld&epoch=2&replica=new&formats=2", A.base,
		 last);
	ck_assert_int_eq(th_http("GET", url, TH_TOKEN, NULL, 0, &out, NULL), 200);
	ck_assert(memcmp(out, "DRSHIP02", 8) == 0);
	free(out);
	/* After the finalize, 0.1.0 cannot come back on that data ... */
	th_kill(B.pid, SIGTERM, 10000);
	snprintf(B.version, sizeof(B.version), "0.1.0");
	ck_assert(!th_site_start(&B, NULL));
	size_t len;
	char *log = th_read_file(B.log, &len);
	ck_assert_msg(log && strstr(log, "fcv 0.2.0"), "%s", log ? log : "no log");
	free(log);
	/* ... nor join that cluster fresh: it never gets a format-2 record. */
	start_on(&C, "0.1.0");
	ck_assert_int_eq(th_site_role(&C, "replica", 2, &A, "async", 1), 200);
	ck_assert(th_site_wait_status(&C, "\"state\":\"refused\"", 5000));
	ck_assert_int_eq(th_site_status_int(&C, NULL, "lsn"), 0);
	char *st = NULL;
	ck_assert_int_eq(th_site_req(&C, "GET", "/v1/status", false, NULL, 0, &st, NULL), 200);
	ck_assert_msg(strstr(st, "fcv 0.2.0") || strstr(st, "format 2"), "%s", st);
	free(st);
}
END_TEST

/* ---- drsite 0.1.0 on format-2 data -------------------------------------------------- */

/* 0.1.0 refuses a data dir that 0.2.0 wrote in format 2 even when state.json
 * (and with it the FCV) is gone, and changes nothing in it. */
static void refuse_format2_without_metadata(int sig, const char *what)
{
	start_on(&A, "");
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	put_range(&A, "k-", 0, 20);
	th_kill(A.pid, sig, 10000);
	char *state = NULL;
	ck_assert_int_ge(asprintf(&state, "%s/state.json", A.data), 0);
	ck_assert_int_eq(unlink(state), 0);
	free(state);
	char *before = th_dir_digest(A.data);
	snprintf(A.version, sizeof(A.version), "0.1.0");
	ck_assert(!th_site_start(&A, NULL));
	size_t len;
	char *log = th_read_file(A.log, &len);
	ck_assert_msg(log && strstr(log, what) && strstr(log, "is format 2") &&
		      strstr(log, "nothing was changed"), "%s", log ? log : "no log");
	free(log);
	char *after = th_dir_digest(A.data);
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	/* And 0.2.0 still serves every acknowledged write from it. */
	start_on(&A, "");
	assert_has_range(&A, "k-", 0, 20);
}

START_TEST(test_old_binary_refuses_format2_wal_without_state)
{
	refuse_format2_without_metadata(SIGKILL, "WAL segment");
}
END_TEST

START_TEST(test_old_binary_refuses_format2_snapshot_without_state)
{
	refuse_format2_without_metadata(SIGTERM, "snapshot");  /* a clean stop checkpoints */
}
END_TEST

static Suite *formats_suite(void)
{
	Suite *s = suite_create("formats");
	TCase *tc = tcase_create("formats");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fresh_020_cluster_writes_format2_with_exact_lag);
	tcase_add_test(tc, test_both_versions_side_by_side_then_finalize_switches_to_format2);
	tcase_add_test(tc, test_old_binary_refuses_format2_wal_without_state);
	tcase_add_test(tc, test_old_binary_refuses_format2_snapshot_without_state);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(formats_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
