/*
 * check_versions.c — binary versions and the feature-compatibility version
 * (FCV) on real drsite processes, "upgraded" by restarting them with another
 * --binary-version as the lab does: the FCV a site starts with, POST
 * /v1/admin/fcv, the rollback guard at start, and the primary's refusal of
 * a replica binary below its FCV.  (Parsing and ordering versions:
 * check_common.)
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "testhelp.h"
#include "timeutil.h"

static char *root;
static struct th_site A, B, C;

static void setup(void)
{
	root = th_mkdtemp("check_versions");
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

/* ---- helpers ------------------------------------------------------------------ */

/* Starts s claiming binary version v (NULL: the default), with
 * --sync-timeout-ms sync_timeout_ms if given. */
static void start_at(struct th_site *s, const char *v, const char *sync_timeout_ms)
{
	const char *args[5] = { NULL };
	int n = 0;
	if (v) {
		args[n++] = "--binary-version";
		args[n++] = v;
	}
	if (sync_timeout_ms) {
		args[n++] = "--sync-timeout-ms";
		args[n++] = sync_timeout_ms;
	}
	ck_assert_msg(th_site_start(s, args), "%s did not come up; see %s", s->name, s->log);
}

/* SIGTERM, and the clean exit that makes the next start replay nothing. */
static void stop(struct th_site *s)
{
	int st = th_kill(s->pid, SIGTERM, 10000);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "%s did not stop cleanly (status %d); see %s", s->name, st, s->log);
}

static void assert_versions(const struct th_site *s, const char *version, const char *fcv)
{
	char buf[64];
	ck_assert_str_eq(th_site_status_str(s, "version", buf, sizeof(buf)), version);
	ck_assert_str_eq(th_site_status_str(s, "fcv", buf, sizeof(buf)), fcv);
}

/* POST /v1/admin/fcv with body; admin = with the token.  *out if given. */
static long post_fcv(const struct th_site *s, const char *body, bool admin, char **out)
{
	return th_site_req(s, "POST", "/v1/admin/fcv", admin, body, strlen(body), out, NULL);
}

/* A site given a role at 0.1.0, upgraded to the 0.2.0 binary and finalized
 * there (fcv 0.2.0 at epoch 1), then stopped cleanly. */
static void finalized_at_020(struct th_site *s)
{
	start_at(s, "0.1.0", NULL);
	ck_assert_int_eq(th_site_role(s, "primary", 1, NULL, "async", 0), 200);
	stop(s);
	start_at(s, "0.2.0", NULL);
	ck_assert_int_eq(th_site_role(s, "primary", 1, NULL, "async", 0), 200);
	ck_assert_int_eq(post_fcv(s, "{\"epoch\":1,\"fcv\":\"0.2.0\"}", true, NULL), 200);
	stop(s);
}

/* Runs drsite on s's data dir at binary v and waits for it to exit by
 * itself; returns the wait status (-1: still running after 10 s). */
static int run_to_exit(struct th_site *s, const char *v)
{
	char *argv[] = { (char *)th_bin("drsite"), "--name", s->name, "--listen", s->listen,
			 "--data", s->data, "--token-file", s->token_file,
			 "--binary-version", (char *)v, NULL };
	s->pid = th_spawn(argv, s->log);
	ck_assert_int_gt(s->pid, 0);
	return th_wait_exit(s->pid, 10000);
}

/* ---- real sites --------------------------------------------------------------- */

START_TEST(test_default_binary_version_is_the_build_and_fcv_follows_it)
{
	start_at(&A, NULL, NULL);
	assert_versions(&A, PACKAGE_VERSION, PACKAGE_VERSION);
	ck_assert_int_eq(th_site_put(&A, "k"), 200);
	stop(&A);
	/* The FCV written at the first start does not make it a site with a role:
	 * a standalone site still comes back writable. */
	start_at(&A, NULL, NULL);
	assert_versions(&A, PACKAGE_VERSION, PACKAGE_VERSION);
	ck_assert_int_eq(th_site_put(&A, "k2"), 200);
	char path[700];
	snprintf(path, sizeof(path), "%s/state.json", A.data);
	char *state = th_read_file(path, NULL);
	ck_assert_ptr_nonnull(state);
	ck_assert_ptr_nonnull(strstr(state, "\"fcv\": \"" PACKAGE_VERSION "\""));
	free(state);
}
END_TEST

START_TEST(test_bad_binary_version_is_a_usage_error)
{
	int st = run_to_exit(&A, "0.2");
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2);
	char *log = th_read_file(A.log, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_ptr_nonnull(strstr(log, "--binary-version: '0.2' is not X.Y.Z"));
	free(log);
}
END_TEST

START_TEST(test_new_binary_keeps_the_fcv_it_found)
{
	start_at(&A, "0.1.0", NULL);
	assert_versions(&A, "0.1.0", "0.1.0");
	stop(&A);
	start_at(&A, "0.2.0", NULL);
	assert_versions(&A, "0.2.0", "0.1.0");
}
END_TEST

START_TEST(test_admin_fcv_moves_up_only_within_the_binary)
{
	start_at(&A, "0.1.0", NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);
	char *out = NULL;
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":1,\"fcv\":\"0.2.0\"}", true, &out), 409);
	ck_assert_ptr_nonnull(strstr(out, "binary 0.1.0 cannot run at fcv 0.2.0"));
	free(out);
	stop(&A);
	start_at(&A, "0.2.0", NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 0), 200);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.2.0\"}", false, NULL), 401);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.2\"}", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":2}", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{\"fcv\":\"0.2.0\"}", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{bad", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":1,\"fcv\":\"0.2.0\"}", true, NULL), 409);
	assert_versions(&A, "0.2.0", "0.1.0");  /* nothing above moved it */
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.2.0\"}", true, &out), 200);
	json_t *reply = json_loads(out, 0, NULL);
	free(out);
	ck_assert_str_eq(json_string_value(json_object_get(reply, "fcv")), "0.2.0");
	ck_assert_str_eq(json_string_value(json_object_get(reply, "version")), "0.2.0");
	json_decref(reply);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.2.0\"}", true, NULL), 200);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.1.0\"}", true, &out), 409);
	ck_assert_ptr_nonnull(strstr(out, "never goes down"));
	free(out);
	stop(&A);
	start_at(&A, "0.2.0", NULL);
	assert_versions(&A, "0.2.0", "0.2.0");  /* persisted */
	/* A newer epoch fences the site, as a heartbeat would, and sets nothing. */
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":3,\"fcv\":\"0.2.0\"}", true, NULL), 409);
	ck_assert(th_site_wait_status(&A, "\"role\":\"fenced\"", 1000));
}
END_TEST

START_TEST(test_older_binary_refuses_to_start_on_a_finalized_fcv)
{
	finalized_at_020(&A);
	char path[700];
	snprintf(path, sizeof(path), "%s/state.json", A.data);
	size_t before_len = 0, after_len = 0;
	char *before = th_read_file(path, &before_len);
	ck_assert_ptr_nonnull(before);
	int st = run_to_exit(&A, "0.1.0");
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0,
		      "0.1.0 started on fcv 0.2.0 data (status %d)", st);
	char *log = th_read_file(A.log, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_ptr_nonnull(strstr(log, "is at fcv 0.2.0, above this binary's version 0.1.0"));
	free(log);
	char *after = th_read_file(path, &after_len);
	ck_assert(after && after_len == before_len && memcmp(before, after, before_len) == 0);
	free(before);
	free(after);
	start_at(&A, "0.2.0", NULL);  /* the new binary still runs on it */
	assert_versions(&A, "0.2.0", "0.2.0");
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);
}
END_TEST

static long fetch(const struct th_site *s, const char *query, char **out)
{
	char path[512];
	snprintf(path, sizeof(path), "/v1/wal?%s", query);
	return th_site_req(s, "GET", path, true, NULL, 0, out, NULL);
}

START_TEST(test_primary_refuses_a_replica_binary_below_its_fcv)
{
	start_at(&A, "0.2.0", "400");  /* a first start: fcv 0.2.0 */
	start_at(&B, "0.1.0", "400");
	assert_versions(&A, "0.2.0", "0.2.0");
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "remote_apply", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "remote_apply", 1), 200);
	ck_assert(th_site_wait_status(&B, "replica binary 0.1.0 is below the cluster's fcv 0.2.0",
				  5000));
	ck_assert(th_site_wait_status(&B, "\"state\":\"refused\"", 1000));
	ck_assert_int_eq(th_site_put(&A, "no-quorum"), 503);  /* B acks nothing */
	ck_assert(th_site_wait_status(&A, "\"peers\":[]", 1000));
	/* The same by hand: versions compare as numbers (0.10.0 > 0.2.0), and a
	 * fetch without a version (an old follower) passes. */
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g&version=0.1.0", NULL), 409);
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g&version=0.1", NULL), 400);
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g&version=0.10.0", NULL), 200);
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g2", NULL), 200);
	/* A replica on the new binary streams. */
	start_at(&C, "0.2.0", "400");
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "remote_apply", 1), 200);
	ck_assert(th_site_wait_status(&C, "\"state\":\"streaming\"", 5000));
	ck_assert_int_eq(th_site_put(&A, "k"), 200);  /* remote_apply: applied on C */
	ck_assert(th_site_has(&C, "k"));
	ck_assert(!th_site_has(&B, "k"));
	ck_assert(th_site_wait_status(&B, "\"state\":\"refused\"", 1000));
}
END_TEST

static Suite *versions_suite(void)
{
	Suite *s = suite_create("versions");
	TCase *e2e = tcase_create("sites");
	tcase_set_timeout(e2e, 60);
	tcase_add_checked_fixture(e2e, setup, teardown);
	tcase_add_test(e2e, test_default_binary_version_is_the_build_and_fcv_follows_it);
	tcase_add_test(e2e, test_bad_binary_version_is_a_usage_error);
	tcase_add_test(e2e, test_new_binary_keeps_the_fcv_it_found);
	tcase_add_test(e2e, test_admin_fcv_moves_up_only_within_the_binary);
	tcase_add_test(e2e, test_older_binary_refuses_to_start_on_a_finalized_fcv);
	tcase_add_test(e2e, test_primary_refuses_a_replica_binary_below_its_fcv);
	suite_add_tcase(s, e2e);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(versions_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
