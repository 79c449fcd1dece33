/*
 * check_report.c — post-mortem reports (orchestrator/report.c).
 *
 * Unit tests on a fixture RunDetail (as GET /v1/runs/{id} answers it): the
 * verdict, the diagram's layout, and each format.  Then end to end: a real
 * lab fails over after kill -9 of its primary, the report is fetched in the
 * three formats from drorchd, `drctl report -o FILE` writes one, and
 * headless Chromium renders the HTML page into a picture that is not blank.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "report.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

/* ---- the fixture -------------------------------------------------------------- */

/* A failover run: kill -9 of us-east, eu-west promoted, RTO 1450 ms, with
 * a reason that holds markup. */
static const char fixture[] =
	"{\"id\": 3, \"kind\": \"failover\", \"started_ms\": 1767225600300,"
	" \"ended_ms\": 1767225601900, \"outcome\": \"succeeded\", \"actor\": \"auto\","
	" \"target\": \"eu-west\", \"from_site\": \"us-east\", \"epoch\": 2,"
	" \"rpo_records\": 0, \"rpo_ms\": 0, \"rto_ms\": 1450,"
	" \"timestamps\": {\"last_good_heartbeat\": 1767225600000, \"detected\": 1767225600300,"
	"   \"decided\": 1767225600500, \"promoted\": 1767225600650, \"first_write\": 1767225601450},"
	" \"detail\": {\"phases_ms\": {\"detection\": 300, \"fence_and_elect\": 200,"
	"   \"promote\": 150, \"first_write\": 800}, \"slowest_phase\": \"first_write\","
	"   \"write_load\": {\"acked\": 5120, \"lost\": 0, \"availability\": 0.987,"
	"     \"longest_gap_ms\": 1400, \"note\": \"not a figure\"}},"
	" \"steps\": [{\"seq\": 1, \"ts_ms\": 1767225600500, \"name\": \"elected\","
	"   \"status\": \"ok\", \"detail\": {\"site\": \"eu-west\"}}],"
	" \"transitions\": ["
	"  {\"seq\": 5, \"ts_ms\": 1767225600300, \"from_state\": \"STEADY\", \"event\": \"PRIMARY_MISSED\","
	"   \"to_state\": \"SUSPECT\", \"row_id\": \"D01@STEADY\", \"epoch\": 1, \"actor\": \"auto\","
	"   \"run_id\": 3, \"reason\": \"primary missed <script>alert(1)</script> & more\"},"
	"  {\"seq\": 6, \"ts_ms\": 1767225600400, \"from_state\": \"SUSPECT\", \"event\": \"CONFIRMED_DOWN\","
	"   \"to_state\": \"FENCING\", \"row_id\": \"D05\", \"epoch\": 1, \"actor\": \"auto\","
	"   \"run_id\": 3, \"reason\": \"confirmed | down\"}]}";

static json_t *fixture_run(void)
{
	json_error_t e;
	json_t *run = json_loads(fixture, 0, &e);
	ck_assert_msg(run, "fixture: %s at %d", e.text, e.position);
	return run;
}

static struct store_audit_report intact = { .schema_version = 3, .macs = true,
	.transitions = 6, .audit_events = 9, .runs = 3, .run_steps = 1, .policies = 1 };

/* The fixture with the policy's targets (RTO 1 s: missed) and an intact audit. */
static json_t *fixture_model(json_t **run)
{
	*run = fixture_run();
	struct report_input in = { .run = *run,
		.policy_targets = { .rpo_records = 0, .rpo_ms = 0, .rto_ms = 1000 },
		.audit_rc = 0, .audit = &intact };
	json_t *m = report_json(&in);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* ---- the verdict --------------------------------------------------------------- */

static struct report_judgement judge(struct report_measured m, struct report_targets t)
{
	struct report_judgement j;
	report_judge(&m, &t, "promote", &j);
	return j;
}

START_TEST(test_verdict_met_when_within_targets)
{
	struct report_judgement j = judge((struct report_measured){ 0, 0, 900 },
					  (struct report_targets){ 0, 0, 1000 });
	ck_assert_int_eq(j.rpo, REPORT_MET);
	ck_assert_int_eq(j.rto, REPORT_MET);
	ck_assert_ptr_null(j.rto_overrun_phase);
	j = judge((struct report_measured){ 5, 100, 1000 }, (struct report_targets){ 5, 100, 1000 });
	ck_assert_int_eq(j.rpo, REPORT_MET);
	ck_assert_int_eq(j.rto, REPORT_MET);
}
END_TEST

START_TEST(test_verdict_rto_missed_names_the_slowest_phase)
{
	struct report_judgement j = judge((struct report_measured){ 0, 0, 1001 },
					  (struct report_targets){ 0, 0, 1000 });
	ck_assert_int_eq(j.rto, REPORT_MISSED);
	ck_assert_str_eq(j.rto_overrun_phase, "promote");
	ck_assert_str_eq(report_verdict_name(j.rto), "missed");
}
END_TEST

START_TEST(test_verdict_rpo_missed_by_records_or_ms)
{
	/* records over a limit */
	ck_assert_int_eq(judge((struct report_measured){ 3, 0, 10 },
			       (struct report_targets){ 2, 1000, 1000 }).rpo, REPORT_MISSED);
	/* records with no limit (0), ms within */
	ck_assert_int_eq(judge((struct report_measured){ 300, 10, 10 },
			       (struct report_targets){ 0, 1000, 1000 }).rpo, REPORT_MET);
	/* ms over its target; a zero-RPO policy misses with any loss in time */
	ck_assert_int_eq(judge((struct report_measured){ 0, 1500, 10 },
			       (struct report_targets){ 0, 1000, 1000 }).rpo, REPORT_MISSED);
	ck_assert_int_eq(judge((struct report_measured){ 1, 1, 10 },
			       (struct report_targets){ 0, 0, 1000 }).rpo, REPORT_MISSED);
}
END_TEST

START_TEST(test_verdict_unknown_when_not_measured)
{
	struct report_judgement j = judge((struct report_measured){ -1, -1, -1 },
					  (struct report_targets){ 0, 0, 1000 });
	ck_assert_int_eq(j.rpo, REPORT_UNKNOWN);
	ck_assert_int_eq(j.rto, REPORT_UNKNOWN);
	ck_assert_ptr_null(j.rto_overrun_phase);
	ck_assert_str_eq(report_verdict_name(j.rpo), "unknown");
	/* measured, but no RTO target */
	ck_assert_int_eq(judge((struct report_measured){ 0, 0, 5 },
			       (struct report_targets){ 0, 0, -1 }).rto, REPORT_UNKNOWN);
}
END_TEST

/* ---- the layout ----------------------------------------------------------------- */

START_TEST(test_layout_places_every_state_once)
{
	struct report_layout l;
	report_fsm_layout(&l);
	ck_assert_int_eq(l.col[FSM_STEADY], 0);
	ck_assert_int_ge(l.ncols, 2);
	for (int s = 0; s < FSM_NSTATES; s++) {
		ck_assert_msg(l.col[s] >= 0 && l.col[s] < l.ncols, "%s: column %d", fsm_state_names[s],
			      l.col[s]);
		ck_assert_msg(l.row[s] >= 0 && l.row[s] < l.nrows, "%s: row %d", fsm_state_names[s],
			      l.row[s]);
		if (s != FSM_STEADY)
			ck_assert_msg(l.col[s] > 0, "%s shares the steady state's column",
				      fsm_state_names[s]);
		for (int t = 0; t < s; t++)
			ck_assert_msg(l.col[s] != l.col[t] || l.row[s] != l.row[t], "%s and %s overlap",
				      fsm_state_names[s], fsm_state_names[t]);
	}
	/* Each transition goes at most one column to the right (BFS distance). */
	for (size_t i = 0; i < fsm_nrows; i++)
		if (fsm_rows[i].kind == FSM_TRANSITION)
			ck_assert_int_le(l.col[fsm_rows[i].to], l.col[fsm_rows[i].from] + 1);
}
END_TEST

/* ---- the formats ---------------------------------------------------------------- */

START_TEST(test_format_names)
{
	enum report_format f;
	ck_assert_int_eq(report_format_by_name("html", &f), 0);
	ck_assert_int_eq(f, REPORT_HTML);
	ck_assert_str_eq(report_content_type(f), "text/html; charset=utf-8");
	ck_assert_int_eq(report_format_by_name("md", &f), 0);
	ck_assert_str_eq(report_content_type(f), "text/markdown; charset=utf-8");
	ck_assert_int_eq(report_format_by_name("pdf", &f), -1);
	ck_assert_int_eq(report_format_by_name(NULL, &f), -1);
}
END_TEST

START_TEST(test_json_has_verdict_path_and_figures)
{
	json_t *run, *m = fixture_model(&run);
	json_t *v = json_object_get(m, "verdict");
	ck_assert_str_eq(json_string_value(json_object_get(v, "rto")), "missed");
	ck_assert_str_eq(json_string_value(json_object_get(v, "rpo")), "met");
	ck_assert_str_eq(json_string_value(json_object_get(v, "rto_overrun_phase")), "first_write");
	ck_assert_str_eq(json_string_value(json_object_get(v, "source")), "computed");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "targets"), "source")),
			 "policy");
	json_t *path = json_object_get(m, "path");
	ck_assert_int_eq(json_array_size(path), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(path, 1), "row")), "D05");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(path, 0), "from")), "STEADY");
	json_t *wl = json_object_get(m, "write_load");
	ck_assert_int_eq(json_object_size(wl), 4);  /* "note" is not a figure */
	ck_assert_int_eq(json_integer_value(json_object_get(wl, "acked")), 5120);
	json_t *tl = json_object_get(m, "timeline");
	ck_assert_int_eq(json_array_size(tl), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(tl, 4), "offset_ms")), 1450);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "audit"), "state")), "ok");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(m, "audit"),
							    "rows"), "transitions")), 6);
	json_decref(m);
	json_decref(run);
}
END_TEST

/* detail.targets and detail.verdict, when the run recorded them, win. */
START_TEST(test_json_prefers_the_runs_own_targets_and_verdict)
{
	json_t *run = fixture_run();
	json_t *detail = json_object_get(run, "detail");
	json_object_set_new(detail, "targets", json_pack("{s:i, s:i, s:i}", "rpo_records", 0,
							 "rpo_ms", 0, "rto_ms", 2000));
	struct report_input in = { .run = run, .policy_targets = { 0, 0, 1000 }, .audit_rc = 0,
				   .audit = &intact };
	json_t *m = report_json(&in);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(m, "targets"), "rto_ms")),
			 2000);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "verdict"), "rto")), "met");
	json_decref(m);
	json_object_set_new(detail, "verdict", json_pack("{s:s, s:s, s:s}", "rpo", "missed", "rto",
							 "unknown", "rto_overrun_phase", "promote"));
	m = report_json(&in);
	json_t *v = json_object_get(m, "verdict");
	ck_assert_str_eq(json_string_value(json_object_get(v, "rpo")), "missed");
	ck_assert_str_eq(json_string_value(json_object_get(v, "source")), "run");
	json_decref(m);
	json_decref(run);
}
END_TEST

START_TEST(test_markdown_has_path_and_transitions_table)
{
	json_t *run, *m = fixture_model(&run);
	char *md = report_markdown(m);
	ck_assert_ptr_nonnull(md);
	ck_assert_msg(strstr(md, "STEADY → SUSPECT → FENCING (rows D01@STEADY, D05)"), "%s", md);
	ck_assert_ptr_nonnull(strstr(md, "| # | time (UTC) | from → to | event | row | actor | reason |"));
	ck_assert_ptr_nonnull(strstr(md, "| 2 | 2026-01-01T00:00:00.400Z | SUSPECT → FENCING | "
					 "CONFIRMED_DOWN | D05 | auto | confirmed \\| down |"));
	ck_assert_ptr_nonnull(strstr(md, "| RTO ms | 1450 | 1000 | missed |"));
	ck_assert_ptr_nonnull(strstr(md, "the phase that used the budget: **first_write**"));
	ck_assert_ptr_nonnull(strstr(md, "| first_write | 2026-01-01T00:00:01.450Z | +1450 |"));
	ck_assert_ptr_nonnull(strstr(md, "| acked | 5120 |"));
	ck_assert_ptr_nonnull(strstr(md, "| 1 | elected | ok | {\"site\":\"eu-west\"} |"));
	ck_assert_ptr_nonnull(strstr(md, "The audit is verified intact"));
	ck_assert_ptr_null(strstr(md, "<script>"));
	free(md);
	json_decref(m);
	json_decref(run);
}
END_TEST

START_TEST(test_html_is_self_contained_and_escaped)
{
	json_t *run, *m = fixture_model(&run);
	char *html = report_html(m);
	ck_assert_ptr_nonnull(html);
	ck_assert_ptr_nonnull(strstr(html, "<!DOCTYPE html>"));
	ck_assert_ptr_nonnull(strstr(html, "<svg id=\"timeline\""));
	ck_assert_ptr_nonnull(strstr(html, "<svg id=\"fsm\""));
	ck_assert_ptr_nonnull(strstr(html, "id=\"rto-target\""));
	/* No external asset, no script. */
	for (const char *p = html; (p = strstr(p, "http")); p++)
		ck_assert_msg(!strncmp(p, "http://www.w3.org/2000/svg\"", 27),
			      "external reference: %.60s", p);
	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_null(strstr(html, "<link"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
	/* Every state is a node; the path's rows are highlighted. */
	for (int s = 0; s < FSM_NSTATES; s++) {
		char id[64];
		snprintf(id, sizeof(id), "<g id=\"state-%s\">", fsm_state_names[s]);
		ck_assert_msg(strstr(html, id), "no node for %s", fsm_state_names[s]);
	}
	ck_assert_ptr_nonnull(strstr(html, "class=\"onpath\" marker-end=\"url(#arrow-path)\"><title>D05 "));
	ck_assert_ptr_nonnull(strstr(html, "<td class=\"missed\">missed</td>"));
	ck_assert_ptr_nonnull(strstr(html, "id=\"write-load\""));
	free(html);
	json_decref(m);
	json_decref(run);
}
END_TEST

/* Every transition row of the table is an edge of the diagram. */
START_TEST(test_html_draws_every_transition_row)
{
	json_t *run, *m = fixture_model(&run);
	char *html = report_html(m);
	size_t edges = 0, rows = 0;
	for (const char *p = html; (p = strstr(p, "marker-end=")); p++)
		edges++;
	for (size_t i = 0; i < fsm_nrows; i++)
		rows += fsm_rows[i].kind == FSM_TRANSITION;
	ck_assert_uint_eq(edges, rows);
	free(html);
	json_decref(m);
	json_decref(run);
}
END_TEST

START_TEST(test_audit_broken_or_unknown_is_said)
{
	json_t *run = fixture_run();
	struct store_audit_report broken = intact;
	snprintf(broken.bad_table, sizeof(broken.bad_table), "transitions");
	broken.bad_seq = 4;
	snprintf(broken.first_bad, sizeof(broken.first_bad), "row 4: hash <mismatch>");
	struct report_input in = { .run = run, .policy_targets = { 0, 0, 1000 }, .audit_rc = 1,
				   .audit = &broken };
	size_t len;
	char *md = report_render(&in, REPORT_MD, &len);
	ck_assert_ptr_nonnull(strstr(md, "The audit is BROKEN"));
	ck_assert_ptr_nonnull(strstr(md, "first bad: transitions row 4: row 4: hash &lt;mismatch&gt;"));
	free(md);
	in = (struct report_input){ .run = run, .audit_rc = -1, .audit_error = "no key file" };
	char *html = report_render(&in, REPORT_HTML, &len);
	ck_assert_ptr_nonnull(strstr(html, "The audit could not be verified: no key file."));
	ck_assert_uint_eq(len, strlen(html));
	free(html);
	json_decref(run);
}
END_TEST

/* A run with no timestamps, steps, detail or transitions still renders. */
START_TEST(test_a_bare_run_renders)
{
	json_t *run = json_pack("{s:i, s:s, s:s, s:s, s:[], s:[], s:{}, s:n}", "id", 9, "kind",
				"playbook", "outcome", "running", "actor", "operator:api", "steps",
				"transitions", "timestamps", "detail");
	struct report_input in = { .run = run, .policy_targets = { 0, -1, -1 }, .audit_rc = 0,
				   .audit = &intact };
	for (int f = REPORT_MD; f <= REPORT_JSON; f++) {
		size_t len;
		char *text = report_render(&in, (enum report_format)f, &len);
		ck_assert_msg(text && len > 0, "format %d", f);
		free(text);
	}
	json_t *m = report_json(&in);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "verdict"), "rto")),
			 "unknown");
	ck_assert(json_is_null(json_object_get(m, "write_load")));
	json_decref(m);
	json_decref(run);
}
END_TEST

/* ---- end to end ------------------------------------------------------------------ */

#define OP_TOKEN "operator-token-for-report-tests"
#define CHROMIUM_TIMEOUT_MS 30000

static struct tl_lab L;

static void setup(void)
{
	tl_lab_init(&L, "check_report", 3, OP_TOKEN,
		    "name: report-test\nfailover: {anti_flap_s: 0}\n");
}

static void teardown(void)
{
	tl_lab_free(&L);
}

/* GET the run's report in format fmt: the body (caller frees) of a 200 with
 * the Content-Type want; other statuses are returned in *status. */
static char *get_report(long long id, const char *fmt, long *status, const char *want)
{
	char url[256], err[256], type[128] = "";
	struct httpc_resp r;
	struct httpc *c = httpc_new();
	snprintf(url, sizeof(url), "%s/v1/runs/%lld/report?format=%s", L.url, id, fmt);
	ck_assert_msg(httpc_request(c, "GET", url, NULL, NULL, 0, 10000, &r, err, sizeof(err)) == 0,
		      "%s", err);
	httpc_resp_header(&r, "Content-Type", type, sizeof(type));
	*status = r.status;
	if (want)
		ck_assert_msg(!strcmp(type, want), "%s: Content-Type '%s', expected '%s'", url, type, want);
	char *body = strdup(r.body ? r.body : "");
	httpc_resp_free(&r);
	httpc_free(c);
	return body;
}

/* drctl with args (NULL-terminated); its exit status. */
static int drctl(const char *const args[])
{
	char *argv[16] = { (char *)th_bin("drctl"), "--url", L.url };
	int n = 3;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	char log[700];
	snprintf(log, sizeof(log), "%s/drctl.log", L.root);
	pid_t pid = th_spawn(argv, log);
	int st = pid > 0 ? th_wait_exit(pid, 10000) : -1;
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_api_formats(long long id)
{
	long status;
	char *json = get_report(id, "json", &status, "application/json");
	ck_assert_int_eq(status, 200);
	json_t *m = json_loads(json, 0, NULL);
	ck_assert_msg(m, "not JSON: %.200s", json);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "run"), "kind")),
			 "failover");
	ck_assert_int_ge(json_array_size(json_object_get(m, "path")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "audit"), "state")), "ok");
	ck_assert(json_is_string(json_object_get(json_object_get(m, "verdict"), "rto")));
	json_decref(m);
	free(json);
	char *md = get_report(id, "md", &status, "text/markdown; charset=utf-8");
	ck_assert_int_eq(status, 200);
	/* The run opens at the confirmation (D05: SUSPECT -> FENCING). */
	ck_assert_msg(strstr(md, "SUSPECT → FENCING → ELECTING → PROMOTING → ") &&
		      strstr(md, "(rows D05, F01, F03, F06, F0") && strstr(md, "| # | time (UTC) |"),
		      "%s", md);
	free(md);
	char *html = get_report(id, "html", &status, "text/html; charset=utf-8");
	ck_assert_int_eq(status, 200);
	ck_assert(strstr(html, "<svg id=\"fsm\"") && strstr(html, "class=\"onpath\""));
	free(html);
	free(get_report(id, "pdf", &status, "application/json"));
	ck_assert_int_eq(status, 400);
	free(get_report(999, "md", &status, "application/json"));
	ck_assert_int_eq(status, 404);
}

/* The size of a PNG Chromium took of url at 1200x1600 (0: none). */
static size_t screenshot(const char *tag, const char *url)
{
	char png[700], arg[720], err[800];
	snprintf(png, sizeof(png), "%s/%s.png", L.root, tag);
	snprintf(arg, sizeof(arg), "--screenshot=%s", png);
	const char *args[] = { "--window-size=1200,1600", "--hide-scrollbars", arg, NULL };
	int st = th_chromium(L.root, tag, args, url, CHROMIUM_TIMEOUT_MS, err, sizeof(err));
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", err);
	size_t len = 0;
	char *data = th_read_file(png, &len);
	ck_assert_msg(data && len > 24 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8), "%s: not a PNG", png);
	free(data);
	return len;
}

/* The page Chromium draws from the file drctl wrote (no server: it must be
 * self-contained) is far from blank: its PNG is several times the size of
 * an empty page's at the same size (a blank one compresses to almost
 * nothing). */
static void check_rendered(const char *file)
{
	char url[800], blank[700];
	ck_assert_msg(access(th_chromium_path(), X_OK) == 0, "%s: no Chromium (apt-get install -y "
		      "chromium, or DRORCH_CHROMIUM)", th_chromium_path());
	snprintf(blank, sizeof(blank), "%s/blank.html", L.root);
	tl_write_file(blank, "<!DOCTYPE html><html><body></body></html>\n");
	snprintf(url, sizeof(url), "file://%s", blank);
	size_t empty = screenshot("blank", url);
	snprintf(url, sizeof(url), "file://%s", file);
	size_t page = screenshot("report", url);
	ck_assert_msg(page > 4 * empty, "the report's picture (%zu bytes) looks blank (an empty page: "
		      "%zu bytes); see %s/report.png", page, empty, L.root);
}

START_TEST(test_report_of_a_real_failover)
{
	uint64_t t0 = time_mono_ms();
	tl_lab_up(&L, NULL);
	th_kill(L.site[0].pid, SIGKILL, 5000);
	ck_assert_msg(tl_wait_failover_from(&L, L.names[0], 15000), "no failover; see %s", L.log);
	json_t *run = tl_ended_run(&L, 10000);
	long long id = json_integer_value(json_object_get(run, "id"));
	json_decref(run);
	check_api_formats(id);
	char file[700], ids[32];
	snprintf(file, sizeof(file), "%s/report.html", L.root);
	snprintf(ids, sizeof(ids), "%lld", id);
	ck_assert_int_eq(drctl((const char *[]){ "report", ids, "--format", "html", "-o", file, NULL }), 0);
	char *html = th_read_file(file, NULL);
	ck_assert_msg(html && !strncmp(html, "<!DOCTYPE html>", 15), "%s: not the page", file);
	ck_assert_ptr_null(strstr(html, "src=\"http"));
	ck_assert_ptr_null(strstr(html, "href=\"http"));
	free(html);
	ck_assert_int_eq(drctl((const char *[]){ "report", ids, "--format", "pdf", NULL }), 2);
	ck_assert_int_eq(drctl((const char *[]){ "report", "x", NULL }), 2);
	check_rendered(file);
	fprintf(stderr, "check_report: end to end in %llu ms\n",
		(unsigned long long)(time_mono_ms() - t0));
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("unit");
	tcase_add_test(tc, test_verdict_met_when_within_targets);
	tcase_add_test(tc, test_verdict_rto_missed_names_the_slowest_phase);
	tcase_add_test(tc, test_verdict_rpo_missed_by_records_or_ms);
	tcase_add_test(tc, test_verdict_unknown_when_not_measured);
	tcase_add_test(tc, test_layout_places_every_state_once);
	tcase_add_test(tc, test_format_names);
	tcase_add_test(tc, test_json_has_verdict_path_and_figures);
	tcase_add_test(tc, test_json_prefers_the_runs_own_targets_and_verdict);
	tcase_add_test(tc, test_markdown_has_path_and_transitions_table);
	tcase_add_test(tc, test_html_is_self_contained_and_escaped);
	tcase_add_test(tc, test_html_draws_every_transition_row);
	tcase_add_test(tc, test_audit_broken_or_unknown_is_said);
	tcase_add_test(tc, test_a_bare_run_renders);
	suite_add_tcase(s, tc);
	tc = tcase_create("end to end");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_report_of_a_real_failover);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	httpc_global_init();
	SRunner *sr = srunner_create(report_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
