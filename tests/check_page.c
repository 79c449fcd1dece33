/*
 * check_page.c — end-to-end: drorchd's status page (GET /) in a real
 * browser.  A 3-site lab and drorchd run on loopback; headless Chromium
 * loads the page, lets its script poll the API for a few seconds of
 * virtual time, and dumps the DOM, which must name the primary in
 * #primary and the FSM state in #state.  Then the primary is killed -9 and,
 * once drorchd has failed over, the page must name the new primary, show
 * the topology, a lag sparkline per site, the run with its report link and
 * the actions, and a screenshot of it must not be blank.  Last, an operator
 * drives a switchover from the page (thcdp.h: the DevTools protocol over a
 * pipe): a wrong token is refused and shown, the right one moves the
 * primary, and the page shows it.
 *
 * Chromium is required: without it the test fails and says how to install
 * it.  It runs through th_chromium (testhelp.h): in its own process group,
 * under a deadline, the whole group killed by its id afterwards, so no
 * browser process outlives a test.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testhelp.h"
#include "testlab.h"
#include "thcdp.h"
#include "timeutil.h"

#define NSITES 3
#define OP_TOKEN "operator-token-for-page-tests"
#define CHROMIUM_TIMEOUT_MS 45000

static struct tl_lab L;

static void setup(void)
{
	tl_lab_init(&L, "check_page", NSITES, OP_TOKEN,
		    "name: page-test\nfailover: {anti_flap_s: 0}\n");
}

static void teardown(void)
{
	tl_lab_free(&L);
}

/* Fails the test, with how to install it, when Chromium is missing. */
static void require_chromium(void)
{
	const char *p = th_chromium_path();
	ck_assert_msg(access(p, X_OK) == 0,
		      "%s: not found or not executable: the status page test needs Chromium. "
		      "Install it (Debian: apt-get install -y chromium, as scripts/install-deps.sh "
		      "does) or set DRORCH_CHROMIUM to its path", p);
}

/*
 * Loads url in headless Chromium (th_chromium: no browser process outlives
 * it), lets the page's script poll for 3 s of virtual time, and returns the
 * DOM it dumps (malloc'd, caller frees).
 */
static char *chromium_dump_dom(const char *url, int run)
{
	static const char *const args[] = { "--enable-logging=stderr", "--log-level=0",
		"--virtual-time-budget=3000", "--dump-dom", NULL };
	char tag[16], dom[700], errlog[700], err[800];
	snprintf(tag, sizeof(tag), "%d", run);
	snprintf(dom, sizeof(dom), "%s/chromium-%s.out", L.root, tag);
	snprintf(errlog, sizeof(errlog), "%s/chromium-%s.log", L.root, tag);
	uint64_t started = time_mono_ms();
	int status = th_chromium(L.root, tag, args, url, CHROMIUM_TIMEOUT_MS, err, sizeof(err));
	ck_assert_msg(status >= 0, "%s", err);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "chromium failed (wait status %d); see %s", status, errlog);
	fprintf(stderr, "check_page: chromium run %d took %llu ms\n", run,
		(unsigned long long)(time_mono_ms() - started));
	char *text = th_read_file(dom, NULL);
	ck_assert_msg(text && *text, "chromium dumped no DOM; see %s", errlog);
	char *errs = th_read_file(errlog, NULL);
	ck_assert_msg(!errs || (!strstr(errs, "Uncaught") && !strstr(errs, "Content Security Policy")),
		      "the page logged a script or CSP error; see %s", errlog);
	free(errs);
	return text;
}

/* The text of the element with id (no markup inside it); "" if absent. */
static const char *dom_text(const char *dom, const char *id, char *out, size_t len)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "id=\"%s\"", id);
	out[0] = '\0';
	const char *p = strstr(dom, needle);
	const char *start = p ? strchr(p, '>') : NULL;
	const char *end = start ? strchr(start + 1, '<') : NULL;
	if (end)
		snprintf(out, len, "%.*s", (int)(end - start - 1), start + 1);
	return out;
}

/* The page as rendered, checked against what drorchd reports now. */
static void assert_page_shows(const char *dom, const char *primary, const char *state)
{
	char text[256];
	ck_assert_msg(strcmp(dom_text(dom, "primary", text, sizeof(text)), primary) == 0,
		      "#primary shows '%s', expected '%s'", text, primary);
	ck_assert_msg(strcmp(dom_text(dom, "state", text, sizeof(text)), state) == 0,
		      "#state shows '%s', expected '%s'", text, state);
	ck_assert_msg(strncmp(dom_text(dom, "updated", text, sizeof(text)), "updated ", 8) == 0,
		      "the page never completed a poll (#updated: '%s')", text);
	ck_assert_msg(!strstr(dom, "display: block"), "the page shows its error banner");
	for (int i = 0; i < NSITES; i++) {
		char td[64];
		snprintf(td, sizeof(td), "<td>%s</td>", L.names[i]);
		ck_assert_msg(strstr(dom, td), "site %s is not in the sites table", L.names[i]);
	}
}

/* What an operator runs a drill from: the topology names the primary, each
 * site has a lag sparkline, the run history lists the failover with a link
 * to its report, and the actions are there (enabled as the state accepts
 * them: DEGRADED accepts a switchover). */
static void assert_drill_parts(const char *dom, const char *primary)
{
	char want[128];
	snprintf(want, sizeof(want), ">%s (primary)<", primary);
	ck_assert_msg(strstr(dom, "id=\"topology\"") && strstr(dom, want),
		      "the topology does not show %s as primary", primary);
	const char *spark = dom;
	int sparks = 0;
	while ((spark = strstr(spark, "class=\"spark\"")))
		sparks++, spark++;
	ck_assert_int_eq(sparks, 2 * NSITES);  /* lag and write latency */
	ck_assert_msg(strstr(dom, "data-run=\"1\"") && strstr(dom, "/v1/runs/1/report?format=html"),
		      "the run history has no run 1 with its report link");
	ck_assert_msg(strstr(dom, ">failover<"), "run 1 is not shown as a failover");
	const char *sw = strstr(dom, "id=\"do-switchover\"");
	ck_assert_msg(sw, "no switchover button");
	const char *end = strchr(sw, '>');
	ck_assert_msg(end && !memmem(sw, (size_t)(end - sw), "disabled", 8),
		      "switchover is disabled in DEGRADED, which accepts it");
	ck_assert_msg(strstr(dom, "id=\"token\""), "no token field for the actions");
}

/* The picture: a full-page screenshot of the page is a PNG with content
 * (a blank page is a few kB), kept in the lab directory to look at. */
static void assert_screenshot(const char *url)
{
	char shot[800], arg[820], err[800];
	snprintf(shot, sizeof(shot), "%s/status-page.png", L.root);
	snprintf(arg, sizeof(arg), "--screenshot=%s", shot);
	const char *const args[] = { "--virtual-time-budget=3000", "--window-size=1200,1600",
				     "--hide-scrollbars", arg, NULL };
	int status = th_chromium(L.root, "shot", args, url, CHROMIUM_TIMEOUT_MS, err, sizeof(err));
	ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "chromium --screenshot failed: %s", err);
	size_t len = 0;
	char *png = th_read_file(shot, &len);
	ck_assert_msg(png && len > 8 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8),
		      "%s is not a PNG", shot);
	ck_assert_msg(len > 30000, "%s is %zu bytes: a blank page?", shot, len);
	free(png);
}

/* ---- tests ------------------------------------------------------------------- */

START_TEST(test_page_is_self_contained_html)
{
	tl_lab_up(&L, NULL);
	char url[128], *body = NULL;
	snprintf(url, sizeof(url), "%s/", L.url);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	ck_assert_ptr_nonnull(strstr(body, "<!DOCTYPE html>"));
	ck_assert_ptr_nonnull(strstr(body, "id=\"primary\""));
	ck_assert_ptr_nonnull(strstr(body, "id=\"state\""));
	/* No external asset: nothing loaded from elsewhere. */
	ck_assert_ptr_null(strstr(body, "src=\"http"));
	ck_assert_ptr_null(strstr(body, "href=\"http"));
	ck_assert_ptr_null(strstr(body, "<script src"));
	ck_assert_ptr_null(strstr(body, "stylesheet"));
	free(body);
}
END_TEST

START_TEST(test_page_follows_a_failover)
{
	require_chromium();
	tl_lab_up(&L, NULL);
	char url[128];
	snprintf(url, sizeof(url), "%s/", L.url);

	char *dom = chromium_dump_dom(url, 1);
	assert_page_shows(dom, L.names[0], "STEADY");
	free(dom);

	th_kill(L.site[0].pid, SIGKILL, 5000);
	json_t *st = tl_wait_cluster(&L, NULL, NULL, L.names[0], 20000);
	ck_assert_msg(st, "no failover after kill -9 of %s; see %s", L.names[0], L.log);
	char moved[64];
	snprintf(moved, sizeof(moved), "%s", json_string_value(json_object_get(st, "primary")));
	json_decref(st);
	/* The old primary stays down: the cluster rests in DEGRADED. */
	st = tl_wait_cluster(&L, "DEGRADED", moved, NULL, 10000);
	ck_assert_msg(st, "cluster did not settle in DEGRADED under %s; see %s", moved, L.log);
	json_decref(st);

	dom = chromium_dump_dom(url, 2);
	assert_page_shows(dom, moved, "DEGRADED");
	ck_assert_msg(strstr(dom, ">D05<") && strstr(dom, ">F01<"),
		      "the failover's transitions (D05, F01) are not listed");
	assert_drill_parts(dom, moved);
	free(dom);
	assert_screenshot(url);
}
END_TEST

/* Evaluates expr in the page until it returns want (timeout_ms); the last
 * value it returned (static storage). */
static const char *eval_until(struct th_cdp *c, const char *expr, const char *want,
			      long timeout_ms)
{
	static char last[512];
	char err[512] = "";
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		char *v = th_cdp_eval(c, expr, 5000, err, sizeof(err));
		snprintf(last, sizeof(last), "%s", v ? v : err);
		free(v);
		if (!strcmp(last, want) || time_mono_ms() >= deadline)
			return last;
		time_sleep_ms(100);
	}
}

#define BY_ID(id, prop) "document.getElementById('" id "')." prop

/* An operator drives a switchover from the page: a wrong token is refused
 * (401 shown, nothing changes), the right one moves the primary, and the
 * page shows the new primary and the run. */
START_TEST(test_page_drives_a_switchover)
{
	require_chromium();
	tl_lab_up(&L, NULL);
	char url[128], err[512], expr[600];
	snprintf(url, sizeof(url), "%s/", L.url);
	struct th_cdp c;
	ck_assert_msg(th_cdp_open(&c, L.root, url, err, sizeof(err)) == 0, "%s", err);
	const char *v = eval_until(&c, BY_ID("state", "textContent"), "STEADY", 15000);
	ck_assert_msg(!strcmp(v, "STEADY"), "the page shows state '%s'", v);
	snprintf(expr, sizeof(expr), "(function () { var s = document.getElementById('switch-to'); "
		 "s.value = '%s'; return s.value; })()", L.names[1]);
	v = eval_until(&c, expr, L.names[1], 10000);
	ck_assert_msg(!strcmp(v, L.names[1]), "no switchover target %s offered (%s)", L.names[1], v);

	/* A wrong token: refused, shown, nothing moves. */
	v = eval_until(&c, "(function () { " BY_ID("token", "value") " = 'not-the-token'; "
		       BY_ID("do-switchover", "click()") "; return 'clicked'; })()", "clicked", 5000);
	ck_assert_str_eq(v, "clicked");
	v = eval_until(&c, BY_ID("action-result", "textContent.indexOf('HTTP 401') >= 0"), "true",
		       10000);
	ck_assert_msg(!strcmp(v, "true"), "a wrong token's refusal is not shown");
	ck_assert_int_eq(tl_status_epoch(&L), 1);

	snprintf(expr, sizeof(expr), "(function () { " BY_ID("token", "value") " = '%s'; "
		 BY_ID("switch-to", "value") " = '%s'; " BY_ID("do-switchover", "click()") "; "
		 "return 'clicked'; })()", OP_TOKEN, L.names[1]);
	ck_assert_str_eq(eval_until(&c, expr, "clicked", 5000), "clicked");
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[1], NULL, 20000);
	ck_assert_msg(st, "the page's switchover to %s did not happen; see %s", L.names[1], L.log);
	json_decref(st);
	v = eval_until(&c, BY_ID("primary", "textContent"), L.names[1], 10000);
	ck_assert_msg(!strcmp(v, L.names[1]), "the page shows primary '%s'", v);
	v = eval_until(&c, BY_ID("action-result", "textContent.indexOf('HTTP 202') >= 0"), "true",
		       5000);
	ck_assert_msg(!strcmp(v, "true"), "the accepted switchover is not shown");
	v = eval_until(&c, "document.querySelector('#runs tr[data-run=\"1\"]') ? "
		       "document.querySelector('#runs tr[data-run=\"1\"]').cells[1].textContent : ''",
		       "switchover", 10000);
	ck_assert_msg(!strcmp(v, "switchover"), "the run history shows run 1 as '%s'", v);
	th_cdp_close(&c);
}
END_TEST

static Suite *page_suite(void)
{
	Suite *s = suite_create("page");
	TCase *tc = tcase_create("status page");
	tcase_set_timeout(tc, 150);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_page_is_self_contained_html);
	tcase_add_test(tc, test_page_follows_a_failover);
	tcase_add_test(tc, test_page_drives_a_switchover);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(page_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
