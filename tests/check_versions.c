/*
 * check_versions.c — drsite's two real binaries and the feature-compatibility
 * version (FCV): `drsite` (0.2.0, reads formats 1 and 2) and `drsite-0.1.0`
 * (reads format 1), both built from the same sources (sites/format.h), and a
 * site "upgraded" by restarting it on the other program as the lab does: the
 * version each says and the FCV a fresh site takes, POST /v1/admin/fcv, the
 * rollback guard at start, and the primary's refusal of a replica binary
 * below its FCV.  (Parsing and ordering versions: check_common.)
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "format.h"
#include "testhelp.h"
#include "timeutil.h"

#define OLD "0.1.0"             /* drsite-0.1.0 */

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

/* Starts s on the drsite program of version v (NULL: plain drsite), with
 * --sync-timeout-ms sync_timeout_ms if given. */
static void start_at(struct th_site *s, const char *v, const char *sync_timeout_ms)
{
	const char *args[3] = { NULL };
	if (sync_timeout_ms) {
		args[0] = "--sync-timeout-ms";
		args[1] = sync_timeout_ms;
	}
	snprintf(s->version, sizeof(s->version), "%s", v ? v : "");
	ck_assert_msg(th_site_start(s, args), "%s did not come up on %s; see %s", s->name,
		      th_drsite_bin(s->version), s->log);
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

/* The FCV in s's state.json is fcv. */
static void assert_state_fcv(const struct th_site *s, const char *fcv)
{
	char path[700], want[64];
	snprintf(path, sizeof(path), "%s/state.json", s->data);
	snprintf(want, sizeof(want), "\"fcv\": \"%s\"", fcv);
	char *state = th_read_file(path, NULL);
	ck_assert_ptr_nonnull(state);
	ck_assert_msg(strstr(state, want), "%s: %s", path, state);
	free(state);
}

/* POST /v1/admin/fcv with body; admin = with the token.  *out if given. */
static long post_fcv(const struct th_site *s, const char *body, bool admin, char **out)
{
	return th_site_req(s, "POST", "/v1/admin/fcv", admin, body, strlen(body), out, NULL);
}

/* Runs argv (NULL-terminated) with its output into a file under root;
 * returns its exit status (-1: killed or still running after 10 s), the
 * output into *out (caller frees). */
static int run_cmd(char *const argv[], char **out)
{
	static int seq;
	char log[700];
	snprintf(log, sizeof(log), "%s/cmd.%d.log", root, seq++);
	pid_t pid = th_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	int st = th_wait_exit(pid, 10000);
	*out = th_read_file(log, NULL);
	ck_assert_ptr_nonnull(*out);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A site given a role on drsite-0.1.0 (a key written there), upgraded to
 * drsite and finalized there (fcv 0.2.0 at epoch 1, a key written after),
 * then stopped cleanly. */
static void finalized_at_020(struct th_site *s)
{
	start_at(s, OLD, NULL);
	ck_assert_int_eq(th_site_role(s, "primary", 1, NULL, "async", 0), 200);
	ck_assert_int_eq(th_site_put(s, "before-upgrade"), 200);
	stop(s);
	start_at(s, NULL, NULL);
	ck_assert_int_eq(th_site_role(s, "primary", 1, NULL, "async", 0), 200);
	ck_assert_int_eq(th_site_put(s, "upgraded-not-finalized"), 200);
	ck_assert_int_eq(post_fcv(s, "{\"epoch\":1,\"fcv\":\"0.2.0\"}", true, NULL), 200);
	ck_assert_int_eq(th_site_put(s, "finalized"), 200);
	stop(s);
}

/* Runs the drsite program of version v on s's data dir and waits for it to
 * exit by itself; returns the wait status (-1: still running after 10 s). */
static int run_to_exit(struct th_site *s, const char *v)
{
	const char *bin = th_drsite_bin(v);
	ck_assert_ptr_nonnull(bin);
	char *argv[] = { (char *)bin, "--name", s->name, "--listen", s->listen,
			 "--data", s->data, "--token-file", s->token_file, NULL };
	s->pid = th_spawn(argv, s->log);
	ck_assert_int_gt(s->pid, 0);
	return th_wait_exit(s->pid, 10000);
}

/* ---- the two programs ------------------------------------------------------- */

START_TEST(test_programs_say_their_version_and_formats)
{
	ck_assert_str_eq(DRSITE_VERSION, "0.2.0");
	ck_assert_str_eq(th_drsite_bin(NULL), th_bin("drsite"));
	ck_assert_str_eq(th_drsite_bin("0.2.0"), th_bin("drsite"));
	ck_assert_str_eq(th_drsite_bin(OLD), th_bin("drsite-0.1.0"));
	ck_assert_ptr_null(th_drsite_bin("0.3.0"));
	char *out = NULL;
	char *v2[] = { (char *)th_bin("drsite"), "--version", NULL };
	ck_assert_int_eq(run_cmd(v2, &out), 0);
	ck_assert_msg(!strcmp(out, "drsite 0.2.0 (reads formats 1,2)\n"), "drsite --version: %s", out);
	free(out);
	char *v1[] = { (char *)th_bin("drsite-0.1.0"), "--version", NULL };
	ck_assert_int_eq(run_cmd(v1, &out), 0);
	ck_assert_msg(!strcmp(out, "drsite 0.1.0 (reads formats 1)\n"), "drsite-0.1.0 --version: %s",
		      out);
	free(out);
	/* The label that stood for a binary is gone: a usage error. */
	char *label[] = { (char *)th_bin("drsite"), "--name", "x", "--listen", A.listen, "--data",
			  A.data, "--binary-version", "0.2.0", NULL };
	ck_assert_int_eq(run_cmd(label, &out), 2);
	free(out);
}
END_TEST

START_TEST(test_fresh_drsite_is_020_at_fcv_020)
{
	start_at(&A, NULL, NULL);
	assert_versions(&A, "0.2.0", "0.2.0");
	ck_assert_int_eq(th_site_put(&A, "k"), 200);
	stop(&A);
	/* The FCV written at the first start does not make it a site with a role:
	 * a standalone site still comes back writable. */
	start_at(&A, NULL, NULL);
	assert_versions(&A, "0.2.0", "0.2.0");
	ck_assert_int_eq(th_site_put(&A, "k2"), 200);
	ck_assert(th_site_has(&A, "k"));
	assert_state_fcv(&A, "0.2.0");
}
END_TEST

START_TEST(test_fresh_drsite_010_is_010_at_fcv_010)
{
	start_at(&A, OLD, NULL);
	assert_versions(&A, "0.1.0", "0.1.0");
	ck_assert_int_eq(th_site_put(&A, "k"), 200);
	stop(&A);
	start_at(&A, OLD, NULL);
	assert_versions(&A, "0.1.0", "0.1.0");
	ck_assert(th_site_has(&A, "k"));
	assert_state_fcv(&A, "0.1.0");
}
END_TEST

/* drsite on a 0.1.0 site keeps its FCV, and until it is finalized the site
 * goes back to drsite-0.1.0 with every key, the ones drsite wrote too. */
START_TEST(test_new_binary_keeps_the_fcv_it_found_and_can_go_back)
{
	start_at(&A, OLD, NULL);
	assert_versions(&A, "0.1.0", "0.1.0");
	ck_assert_int_eq(th_site_put(&A, "on-010"), 200);
	stop(&A);
	start_at(&A, NULL, NULL);
	assert_versions(&A, "0.2.0", "0.1.0");
	ck_assert(th_site_has(&A, "on-010"));
	ck_assert_int_eq(th_site_put(&A, "on-020"), 200);
	stop(&A);
	start_at(&A, OLD, NULL);
	assert_versions(&A, "0.1.0", "0.1.0");
	ck_assert(th_site_has(&A, "on-010"));
	ck_assert(th_site_has(&A, "on-020"));
}
END_TEST

START_TEST(test_admin_fcv_moves_up_only_within_the_binary)
{
	start_at(&A, OLD, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);
	char *out = NULL;
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":1,\"fcv\":\"0.2.0\"}", true, &out), 409);
	ck_assert_ptr_nonnull(strstr(out, "binary 0.1.0 cannot run at fcv 0.2.0"));
	free(out);
	stop(&A);
	start_at(&A, NULL, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 0), 200);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.2.0\"}", false, NULL), 401);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.2\"}", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":2}", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{\"fcv\":\"0.2.0\"}", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{bad", true, NULL), 400);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":1,\"fcv\":\"0.2.0\"}", true, NULL), 409);
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":2,\"fcv\":\"0.3.0\"}", true, &out), 409);
	ck_assert_ptr_nonnull(strstr(out, "binary 0.2.0 cannot run at fcv 0.3.0"));
	free(out);
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
	start_at(&A, NULL, NULL);
	assert_versions(&A, "0.2.0", "0.2.0");  /* persisted */
	/* A newer epoch fences the site, as a heartbeat would, and sets nothing. */
	ck_assert_int_eq(post_fcv(&A, "{\"epoch\":3,\"fcv\":\"0.2.0\"}", true, NULL), 409);
	ck_assert(th_site_wait_status(&A, "\"role\":\"fenced\"", 1000));
}
END_TEST

/* After a finalized upgrade drsite-0.1.0 refuses the data dir (exit 1, the
 * FCV and the binary needed in its message) and changes nothing in it:
 * drsite then serves every key written before, during and after. */
START_TEST(test_older_binary_refuses_to_start_on_a_finalized_fcv)
{
	finalized_at_020(&A);
	char *before = th_dir_digest(A.data);
	ck_assert_ptr_nonnull(before);
	int st = run_to_exit(&A, OLD);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "drsite-0.1.0 on fcv 0.2.0 data: status %d (want exit 1); see %s", st, A.log);
	char *log = th_read_file(A.log, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "is at fcv 0.2.0, above this binary's version 0.1.0") &&
		      strstr(log, "run a binary >= 0.2.0"), "drsite-0.1.0 said: %s", log);
	free(log);
	char *after = th_dir_digest(A.data);
	ck_assert_msg(after && !strcmp(before, after), "the data dir changed:\n%s---\n%s", before,
		      after ? after : "(unreadable)");
	free(before);
	free(after);
	start_at(&A, NULL, NULL);  /* the new binary still runs on it */
	assert_versions(&A, "0.2.0", "0.2.0");
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 0), 200);
	ck_assert(th_site_has(&A, "before-upgrade"));
	ck_assert(th_site_has(&A, "upgraded-not-finalized"));
	ck_assert(th_site_has(&A, "finalized"));
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
	start_at(&A, NULL, "400");  /* a first start on drsite: fcv 0.2.0 */
	start_at(&B, OLD, "400");
	assert_versions(&A, "0.2.0", "0.2.0");
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "remote_apply", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "remote_apply", 1), 200);
	ck_assert(th_site_wait_status(&B, "replica binary 0.1.0 is below the cluster's fcv 0.2.0",
				  5000));
	ck_assert(th_site_wait_status(&B, "\"state\":\"refused\"", 1000));
	ck_assert_int_eq(th_site_put(&A, "no-quorum"), 503);  /* B acks nothing */
	ck_assert(th_site_wait_status(&A, "\"peers\":[]", 1000));
	/* The same by hand: versions compare as numbers (0.10.0 > 0.2.0), and a
	 * fetch without a version passes the version gate.  (A's records are
	 * format 2, at fcv 0.2.0: these fetches say they read it.) */
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g&version=0.1.0&formats=2", NULL), 409);
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g&version=0.1&formats=2", NULL), 400);
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g&version=0.10.0&formats=2", NULL), 200);
	ck_assert_int_eq(fetch(&A, "from=1&epoch=1&replica=g2&formats=2", NULL), 200);
	/* A replica on the new binary streams. */
	start_at(&C, NULL, "400");
	ck_assert_int_eq(th_site_role(&C, "replica", 1, &A, "remote_apply", 1), 200);
	ck_assert(th_site_wait_status(&C, "\"state\":\"streaming\"", 5000));
	ck_assert_int_eq(th_site_put(&A, "k"), 200);  /* remote_apply: applied on C */
	ck_assert(th_site_has(&C, "k"));
	ck_assert(!th_site_has(&B, "k"));
	ck_assert(th_site_wait_status(&B, "\"state\":\"refused\"", 1000));
}
END_TEST

/* INITIAL FCV (repl.c): a site started on fresh data with the new binary
 * takes its binary's version as FCV; as the replica of a cluster not
 * finalized it takes its primary's before it writes anything, so it never
 * writes format 2 there, and the old binary runs on its data (a rollback
 * swaps it back). */
START_TEST(test_fresh_replica_takes_its_primary_fcv)
{
	start_at(&A, OLD, "2000");
	start_at(&B, NULL, "2000");
	assert_versions(&B, "0.2.0", "0.2.0");  /* a first start: its binary's */
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "remote_apply", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "remote_apply", 1), 200);
	ck_assert(th_site_wait_status(&B, "\"state\":\"streaming\"", 5000));
	ck_assert_int_eq(th_site_put(&A, "k"), 200);  /* remote_apply: applied on B */
	ck_assert(th_site_has(&B, "k"));
	assert_versions(&B, "0.2.0", "0.1.0");
	assert_state_fcv(&B, "0.1.0");
	ck_assert(th_site_wait_status(&B, "\"format\":1", 1000));
	char *magics = th_wal_magics(B.data);
	ck_assert_ptr_nonnull(magics);
	ck_assert_msg(!strstr(magics, "DRWAL002"), "%s", magics);
	free(magics);
	stop(&B);
	start_at(&B, OLD, "2000");
	assert_versions(&B, "0.1.0", "0.1.0");
	ck_assert(th_site_has(&B, "k"));
}
END_TEST

static Suite *versions_suite(void)
{
	Suite *s = suite_create("versions");
	TCase *e2e = tcase_create("sites");
	tcase_set_timeout(e2e, 60);
	tcase_add_checked_fixture(e2e, setup, teardown);
	tcase_add_test(e2e, test_programs_say_their_version_and_formats);
	tcase_add_test(e2e, test_fresh_drsite_is_020_at_fcv_020);
	tcase_add_test(e2e, test_fresh_drsite_010_is_010_at_fcv_010);
	tcase_add_test(e2e, test_new_binary_keeps_the_fcv_it_found_and_can_go_back);
	tcase_add_test(e2e, test_admin_fcv_moves_up_only_within_the_binary);
	tcase_add_test(e2e, test_older_binary_refuses_to_start_on_a_finalized_fcv);
	tcase_add_test(e2e, test_primary_refuses_a_replica_binary_below_its_fcv);
	tcase_add_test(e2e, test_fresh_replica_takes_its_primary_fcv);
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
