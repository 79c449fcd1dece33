/*
 * check_wload.c — a playbook's write load (orchestrator/wload.h): the
 * figures as a pure function (gaps, availability, unsorted and stray
 * times), and the load against a real drsite: what it acknowledged is read
 * back, and a primary that lost it all is caught key by key.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testhelp.h"
#include "timeutil.h"
#include "wload.h"

/* ---- the figures ---- */

START_TEST(test_no_acknowledgement_is_a_whole_outage)
{
	struct wload_figures f;
	wload_measure(NULL, 0, 1000, 3000, 200, &f);
	ck_assert_int_eq(f.longest_gap_ms, 2000);
	ck_assert(f.availability == 0.0);
}
END_TEST

START_TEST(test_a_steady_pace_is_fully_available)
{
	int64_t acks[100];
	for (int i = 0; i < 100; i++)
		acks[i] = 1010 + 10 * i;  /* 1010 .. 2000 */
	struct wload_figures f;
	wload_measure(acks, 100, 1000, 2000, 100, &f);
	ck_assert_int_eq(f.longest_gap_ms, 10);
	ck_assert(f.availability == 1.0);
}
END_TEST

START_TEST(test_a_hole_counts_whole_and_order_does_not_matter)
{
	/* acks every 10 ms but none in (1300, 1700): one 400 ms hole. */
	int64_t acks[80];
	size_t n = 0;
	for (int64_t t = 2000; t > 1000; t -= 10)
		if (t <= 1300 || t >= 1700)
			acks[n++] = t;
	struct wload_figures f;
	wload_measure(acks, n, 1000, 2000, 100, &f);
	ck_assert_int_eq(f.longest_gap_ms, 400);
	ck_assert_msg(f.availability > 0.599 && f.availability < 0.601, "%f", f.availability);
	ck_assert_int_eq(acks[0], 1010);  /* sorted in place */
}
END_TEST

START_TEST(test_times_outside_the_window_are_clamped)
{
	int64_t acks[] = { 500, 1500, 9000 };
	struct wload_figures f;
	wload_measure(acks, 3, 1000, 2000, 1000, &f);
	ck_assert_int_eq(f.longest_gap_ms, 500);
	ck_assert(f.availability == 1.0);
}
END_TEST

/* ---- against a real drsite ---- */

static char *root;
static struct th_site site, empty;

static bool site_url(void *ctx, char *url, size_t len)
{
	const struct th_site *s = ctx;
	snprintf(url, len, "%s", s->base);
	return true;
}

static void up(void)
{
	root = th_mkdtemp("check_wload");
	th_site_init(&site, root, "solo");
	th_site_init(&empty, root, "empty");
	ck_assert(th_site_start(&site, NULL) && th_site_start(&empty, NULL));
}

static void down(void)
{
	th_cleanup();
	th_rmrf(root);
	free(root);
}

START_TEST(test_load_is_acknowledged_and_read_back)
{
	up();
	struct wload_opts o = { .writers = 2, .rate = 100, .gap_ms = 200, .prefix = "t1" };
	struct wload *w = NULL;
	char err[200];
	ck_assert_msg(wload_start(&w, &o, site_url, &site, err, sizeof(err)) == 0, "%s", err);
	time_sleep_ms(600);
	json_t *j = wload_stop(w, 3000);
	char *text = json_dumps(j, JSON_COMPACT);
	ck_assert_msg(json_is_true(json_object_get(j, "checked")), "%s", text);
	ck_assert_msg(json_integer_value(json_object_get(j, "acked")) >= 40, "%s", text);
	ck_assert_msg(json_integer_value(json_object_get(j, "lost")) == 0, "%s", text);
	ck_assert_msg(json_real_value(json_object_get(j, "availability")) > 0.5, "%s", text);
	free(text);
	json_decref(j);
	down();
}
END_TEST

static int calls;

/* Writes go to `site`; the reads after the stop, to `empty`. */
static bool site_then_empty(void *ctx, char *url, size_t len)
{
	(void)ctx;
	snprintf(url, len, "%s", __atomic_load_n(&calls, __ATOMIC_SEQ_CST) ? empty.base : site.base);
	return true;
}

START_TEST(test_a_primary_without_the_writes_is_caught)
{
	up();
	struct wload_opts o = { .writers = 1, .rate = 50, .gap_ms = 200, .prefix = "t2" };
	struct wload *w = NULL;
	char err[200];
	ck_assert_msg(wload_start(&w, &o, site_then_empty, NULL, err, sizeof(err)) == 0, "%s",
		      err);
	time_sleep_ms(300);
	/* The writers stop before the reads begin; from now on "the primary" is
	 * the empty site. */
	__atomic_store_n(&calls, 1, __ATOMIC_SEQ_CST);
	json_t *j = wload_stop(w, 3000);
	char *text = json_dumps(j, JSON_COMPACT);
	json_int_t acked = json_integer_value(json_object_get(j, "acked"));
	ck_assert_msg(acked > 0 && json_integer_value(json_object_get(j, "lost")) >= acked - 1,
		      "%s", text);
	ck_assert_msg(json_array_size(json_object_get(j, "lost_keys")) > 0, "%s", text);
	free(text);
	json_decref(j);
	/* A primary that does not answer: the check says it could not be done. */
	kill(empty.pid, SIGKILL);
	__atomic_store_n(&calls, 0, __ATOMIC_SEQ_CST);
	ck_assert_msg(wload_start(&w, &o, site_then_empty, NULL, err, sizeof(err)) == 0, "%s",
		      err);
	time_sleep_ms(100);
	__atomic_store_n(&calls, 1, __ATOMIC_SEQ_CST);
	j = wload_stop(w, 300);
	ck_assert(json_is_false(json_object_get(j, "checked")));
	ck_assert(json_object_get(j, "check_error"));
	json_decref(j);
	down();
}
END_TEST

START_TEST(test_bad_options_are_refused)
{
	struct wload_opts o = { .writers = 0, .rate = 10, .gap_ms = 100, .prefix = "x" };
	struct wload *w = NULL;
	char err[200];
	ck_assert_int_eq(wload_start(&w, &o, site_url, &site, err, sizeof(err)), -1);
	ck_assert_ptr_null(w);
	ck_assert_ptr_nonnull(strstr(err, "writers"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wload");
	TCase *tc = tcase_create("figures");
	tcase_add_test(tc, test_no_acknowledgement_is_a_whole_outage);
	tcase_add_test(tc, test_a_steady_pace_is_fully_available);
	tcase_add_test(tc, test_a_hole_counts_whole_and_order_does_not_matter);
	tcase_add_test(tc, test_times_outside_the_window_are_clamped);
	tcase_add_test(tc, test_bad_options_are_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("drsite");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_load_is_acknowledged_and_read_back);
	tcase_add_test(tc, test_a_primary_without_the_writes_is_caught);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
