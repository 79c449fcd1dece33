/*
 * check_chaos.c — drchaos: its command line, its schedule (unit), and a few
 * short real trials (2 sync, 1 async) run side by side on private labs,
 * then one short HA trial (--ha).
 *
 * A trial must run to its end: exit 0 (every invariant held) or 1 (one did
 * not), its last line the summary with its seed, no sanitizer report in its
 * output, every process of its lab gone by pid afterwards, and every
 * invariant held (DRCHAOS_STRICT=0 reports a broken invariant without
 * failing, for a machine too slow to heal in time).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "schedule.h"
#include "testhelp.h"

#define TRIAL_SECONDS "10"
#define TRIAL_HEAL_SECONDS "30"

static char *root;

/* Runs drchaos with args (NULL-terminated); output into root/tag.out. */
static pid_t drchaos_spawn(const char *tag, const char *const args[])
{
	char *argv[24] = { (char *)th_bin("drchaos") };
	int n = 1;
	for (int i = 0; args[i] && n < 23; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	char log[600];
	snprintf(log, sizeof(log), "%s/%s.out", root, tag);
	return th_spawn(argv, log);
}

/* Exit status (-1: killed or out of time) and output of a finished run. */
static int drchaos_wait(const char *tag, pid_t pid, long timeout_ms, char **out)
{
	int st = th_wait_exit(pid, timeout_ms);
	if (st == -1)
		th_kill(pid, SIGKILL, 5000);
	char log[600];
	snprintf(log, sizeof(log), "%s/%s.out", root, tag);
	*out = th_read_file(log, NULL);
	if (!*out)
		*out = strdup("");
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int drchaos_run(const char *tag, const char *const args[], char **out)
{
	return drchaos_wait(tag, drchaos_spawn(tag, args), 20000, out);
}

static const char *last_line(const char *text)
{
	size_t n = strlen(text);
	while (n && text[n - 1] == '\n')
		n--;
	while (n && text[n - 1] != '\n')
		n--;
	return text + n;
}

/* ---- the command line ------------------------------------------------------------ */

static void expect_usage(const char *tag, const char *const args[], const char *needle)
{
	char *out;
	int rc = drchaos_run(tag, args, &out);
	ck_assert_msg(rc == 2, "%s: exit %d (want 2): %s", tag, rc, out);
	ck_assert_msg(strstr(out, needle), "%s: output lacks '%s': %s", tag, needle, out);
	free(out);
}

START_TEST(test_cli_version_help_and_usage_errors)
{
	char *out;
	const char *version[] = { "--version", NULL };
	ck_assert_int_eq(drchaos_run("version", version, &out), 0);
	ck_assert_msg(!strncmp(out, "drchaos ", 8) && !strchr(out + 8, ' ') && strchr(out, '\n'),
		      "--version: '%s'", out);
	free(out);
	const char *help[] = { "--help", NULL };
	ck_assert_int_eq(drchaos_run("help", help, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: drchaos --seed N"));
	free(out);
	const char *none[] = { NULL };
	expect_usage("none", none, "--seed N is required");
	const char *ha[] = { "--seed", "1", "--faults", "process,ha", NULL };
	expect_usage("ha", ha, "--faults: the ha class needs --ha");
	const char *mode[] = { "--seed", "1", "--mode", "quorum", NULL };
	expect_usage("mode", mode, "--mode: expected sync or async");
	const char *faults[] = { "--seed", "1", "--faults", "process,cosmic-rays", NULL };
	expect_usage("faults", faults, "'cosmic-rays' is not one of");
	const char *seed[] = { "--seed", "-3", NULL };
	expect_usage("seed", seed, "--seed: expected a non-negative integer");
	const char *plus_seed[] = { "--seed", "+3", NULL };
	expect_usage("seed", plus_seed, "--seed: expected a non-negative integer");
	const char *dur[] = { "--seed", "1", "--duration", "2", NULL };
	expect_usage("duration", dur, "--duration: expected seconds");
	const char *opt[] = { "--seed", "1", "--frobnicate", NULL };
	expect_usage("option", opt, "unknown option --frobnicate");
}
END_TEST

/* ---- the schedule (unit) ------------------------------------------------------------ */

static char *schedule_text(uint64_t seed, double duration, bool async, bool ha, unsigned classes)
{
	static const char *const names[3] = { "us-east", "eu-west", "ap-south" };
	struct schedule s;
	ck_assert_int_eq(sched_make(seed, duration, async, ha, classes, &s), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	sched_print(f, &s, names);
	fclose(f);
	sched_free(&s);
	return buf;
}

START_TEST(test_schedule_is_the_seed_s)
{
	unsigned all = SCHED_ALL_CLASSES(false);
	char *a = schedule_text(42, 30, false, false, all), *b = schedule_text(42, 30, false, false, all);
	char *c = schedule_text(43, 30, false, false, all), *d = schedule_text(42, 30, true, false, all);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(a, d);
	ck_assert_ptr_nonnull(strstr(a, "#1 "));
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

START_TEST(test_schedule_draws_from_the_classes_asked_only)
{
	unsigned mask;
	char err[200];
	ck_assert_int_eq(sched_parse_classes("network,operator", false, &mask, err, sizeof(err)), 0);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct schedule s;
		ck_assert_int_eq(sched_make(seed, 60, false, false, mask, &s), 0);
		ck_assert_int_gt(s.n, 5);
		for (int i = 0; i < s.n; i++) {
			enum fclass c = sched_class_of(s.faults[i].kind);
			ck_assert_msg(c == FC_NETWORK || c == FC_OPERATOR, "seed %llu: a %s fault",
				      (unsigned long long)seed, sched_class_name(c));
			ck_assert(i == 0 || s.faults[i].at_s >= s.faults[i - 1].at_s);
			ck_assert(s.faults[i].at_s < 60);
		}
		ck_assert_str_eq(s.rewind_crash, "");  /* no process class: no rewind crash */
		sched_free(&s);
	}
	ck_assert_int_eq(sched_parse_classes("all", false, &mask, err, sizeof(err)), 0);
	ck_assert_uint_eq(mask, (1u << FC_N) - 1 - (1u << FC_HA));  /* all but ha */
	ck_assert_int_eq(sched_parse_classes("all", true, &mask, err, sizeof(err)), 0);
	ck_assert_uint_eq(mask, (1u << FC_N) - 1);
	ck_assert_int_eq(sched_parse_classes("ha", false, &mask, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "needs --ha"));
	ck_assert_int_eq(sched_parse_classes("disk,,", false, &mask, err, sizeof(err)), -1);
}
END_TEST

/* Two faults that take a site down are never in force at once. */
START_TEST(test_schedule_takes_one_site_down_at_a_time)
{
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct schedule s;
		ck_assert_int_eq(sched_make(seed, 60, seed & 1, seed & 2, SCHED_ALL_CLASSES(seed & 2), &s), 0);
		double busy_until = 0;
		for (int i = 0; i < s.n; i++) {
			const struct fault *f = &s.faults[i];
			bool down = f->kind == FK_KILL_SITE || f->kind == FK_STOP_SITE ||
				    sched_class_of(f->kind) == FC_STORAGE ||
				    (f->kind == FK_MIDOP && f->victim != V_ORCH);
			if (!down)
				continue;
			ck_assert_msg(f->at_s >= busy_until, "seed %llu: fault #%d at %.2f s, a site is down "
				      "until %.2f s", (unsigned long long)seed, f->index, f->at_s, busy_until);
			busy_until = f->at_s + f->dur_s + (f->kind == FK_MIDOP ? f->delay_ms / 1000.0 : 0);
		}
		sched_free(&s);
	}
}
END_TEST

/* The ha class: the same seed gives the same schedule; it is drawn only in
 * an HA trial; there a fault on drorchd hits "@leader", never "drorchd". */
START_TEST(test_schedule_ha_is_the_seed_s)
{
	unsigned ha = 1u << FC_HA, all = SCHED_ALL_CLASSES(true);
	char *a = schedule_text(95001, 30, false, true, ha), *b = schedule_text(95001, 30, false, true, ha);
	char *c = schedule_text(95002, 30, false, true, ha), *d = schedule_text(95001, 30, true, true, ha);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(a, d);
	ck_assert_ptr_nonnull(strstr(a, " ha "));
	free(a);
	free(b);
	free(c);
	free(d);
	bool some_ha = false, some_leader = false;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		char *h1 = schedule_text(seed, 60, seed & 1, true, all);
		char *h2 = schedule_text(seed, 60, seed & 1, true, all);
		char *plain = schedule_text(seed, 60, seed & 1, false, SCHED_ALL_CLASSES(false));
		ck_assert_str_eq(h1, h2);
		const char *orch = strstr(h1, " drorchd ");
		ck_assert_msg(!orch, "seed %llu: an HA schedule names drorchd: ...%.80s",
			      (unsigned long long)seed, orch && orch - h1 > 40 ? orch - 40 : h1);
		ck_assert_msg(!strstr(plain, " ha ") && !strstr(plain, "@leader"),
			      "seed %llu: a schedule without --ha has HA faults", (unsigned long long)seed);
		some_ha |= strstr(h1, " ha ") != NULL;
		some_leader |= strstr(h1, "@leader") != NULL;
		free(h1);
		free(h2);
		free(plain);
	}
	ck_assert(some_ha && some_leader);
}
END_TEST

static bool ha_on_etcd(const struct fault *f)
{
	return f->kind == FK_HA_KILL_ETCD || f->kind == FK_HA_LOSE_QUORUM;
}

static bool ha_on_instance(const struct fault *f)
{
	return f->kind == FK_KILL_ORCH || sched_class_of(f->kind) == FC_ORCHSTORE ||
	       (f->kind == FK_MIDOP && f->victim == V_ORCH) ||
	       (sched_class_of(f->kind) == FC_HA && !ha_on_etcd(f));
}

/* One etcd member down at a time (two only in the rare fault that means to
 * lose the quorum), one drorchd instance hit at a time, and a leader
 * stopped for longer than its lease. */
START_TEST(test_schedule_ha_one_member_one_instance_at_a_time)
{
	int quorum = 0, n = 0, kinds[FK_N] = { 0 };
	for (uint64_t seed = 1; seed <= 60; seed++) {
		struct schedule s;
		ck_assert_int_eq(sched_make(seed, 60, seed & 1, true, 1u << FC_HA, &s), 0);
		double etcd_until = 0, orch_until = 0;
		for (int i = 0; i < s.n; i++) {
			const struct fault *f = &s.faults[i];
			ck_assert_int_eq(sched_class_of(f->kind), FC_HA);
			kinds[f->kind]++;
			n++;
			if (ha_on_etcd(f)) {
				ck_assert_msg(f->at_s >= etcd_until, "seed %llu: #%d at %.2f s, etcd busy until %.2f s",
					      (unsigned long long)seed, f->index, f->at_s, etcd_until);
				etcd_until = f->at_s + f->dur_s;
				ck_assert(f->target == T_ETCD && f->pick >= 0 && f->pick <= 2);
				quorum += f->kind == FK_HA_LOSE_QUORUM;
			} else {
				ck_assert(ha_on_instance(f));
				ck_assert_msg(f->at_s >= orch_until, "seed %llu: #%d at %.2f s, an instance is hit "
					      "until %.2f s", (unsigned long long)seed, f->index, f->at_s, orch_until);
				orch_until = f->at_s + f->dur_s;
				ck_assert(f->target == (f->kind == FK_HA_KILL_FOLLOWER ? T_FOLLOWER : T_LEADER));
			}
			if (f->kind == FK_HA_STOP_LEADER)
				ck_assert_msg(f->dur_s > SCHED_HA_LEASE_MS / 1000.0 + 0.9, "seed %llu: #%d stops "
					      "the leader %.2f s", (unsigned long long)seed, f->index, f->dur_s);
		}
		sched_free(&s);
	}
	for (int k = FK_HA_KILL_LEADER; k <= FK_HA_LOSE_QUORUM; k++)
		ck_assert_msg(kinds[k] > 0, "no %s in 60 seeds", sched_kind_name((enum fkind)k));
	ck_assert_msg(quorum * 8 < n, "losing the quorum is not rare: %d of %d", quorum, n);
}
END_TEST

/* ---- real trials ------------------------------------------------------------------------ */

/* Every pid lab.json in dir names is gone; SIGKILLs (and fails on) any left. */
static void check_lab_gone(const char *dir)
{
	pid_t pids[16];
	int n = th_lab_pids(dir, pids, 16), alive = 0;
	ck_assert_msg(n >= 0, "%s: no lab.json", dir);
	for (int i = 0; i < n; i++)
		if (pids[i] > 0 && !th_pid_gone(pids[i])) {
			kill(pids[i], SIGKILL);
			alive++;
		}
	ck_assert_msg(alive == 0, "%s: %d processes of the lab still ran after drchaos", dir, alive);
}

struct trial {
	const char *seed, *mode;
	bool ha;                   /* drchaos --ha --faults process,ha */
	char tag[32], dir[600];
	pid_t pid;
};

static void trial_spawn(struct trial *t)
{
	snprintf(t->tag, sizeof(t->tag), "trial-%s-%s%s", t->mode, t->seed, t->ha ? "-ha" : "");
	snprintf(t->dir, sizeof(t->dir), "%s/%s", root, t->tag);
	const char *args[16] = { "--seed", t->seed, "--mode", t->mode, "--duration", TRIAL_SECONDS,
				 "--heal-timeout", TRIAL_HEAL_SECONDS, "--dir", t->dir };
	if (t->ha) {
		args[10] = "--ha";
		args[11] = "--faults";
		args[12] = "process,ha";
	}
	t->pid = drchaos_spawn(t->tag, args);
	ck_assert_int_gt(t->pid, 0);
}

/* Waits for the trials, checks how each ended; fails (unless
 * DRCHAOS_STRICT=0) when one broke an invariant. */
static void trials_judge(struct trial *trials, int n)
{
	bool strict = !getenv("DRCHAOS_STRICT") || strcmp(getenv("DRCHAOS_STRICT"), "0");
	int failed = 0;
	for (int i = 0; i < n; i++) {
		struct trial *t = &trials[i];
		char *out, want[64];
		int rc = drchaos_wait(t->tag, t->pid, 150000, &out);
		const char *last = last_line(out);
		printf("%s\n", last);
		snprintf(want, sizeof(want), "drchaos: seed=%s mode=%s%s ", t->seed, t->mode,
			 t->ha ? " ha" : "");
		ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d:\n%s", t->tag, rc, out);
		ck_assert_msg(!strncmp(last, want, strlen(want)) && strstr(last, " checks="),
			      "%s: the last line is no summary: '%s'", t->tag, last);
		ck_assert_msg(!strstr(out, "Sanitizer") && !strstr(out, "runtime error:"),
			      "%s: a sanitizer report:\n%s", t->tag, out);
		ck_assert_msg((rc == 0) == (strstr(last, "checks=PASS") != NULL), "%s: exit %d with '%s'",
			      t->tag, rc, last);
		check_lab_gone(t->dir);
		failed += rc != 0;
		if (rc && strstr(out, "\n== checks"))
			printf("%s: invariants broke:%s\n", t->tag, strstr(out, "\n== checks"));
		free(out);
	}
	ck_assert_msg(!strict || failed == 0, "%d of %d trials broke an invariant (their outputs are above)",
		      failed, n);
}

/* Three short trials (two sync, one async) and one HA trial (drorchd-1..3
 * through etcd-1..3; the process and ha classes: the leader killed,
 * stopped, cut off from etcd, an etcd member killed), all at once: each
 * runs to its end and leaves none of its processes. */
START_TEST(test_trials_run_to_their_end_and_clean_up)
{
	struct trial trials[] = { { .seed = "1", .mode = "sync" }, { .seed = "2", .mode = "sync" },
				  { .seed = "3", .mode = "async" },
				  { .seed = "4", .mode = "sync", .ha = true } };
	const int n = sizeof(trials) / sizeof(trials[0]);
	for (int i = 0; i < n; i++)
		trial_spawn(&trials[i]);
	trials_judge(trials, n);
}
END_TEST

static Suite *chaos_suite(void)
{
	Suite *s = suite_create("drchaos");
	TCase *unit = tcase_create("schedule");
	tcase_add_test(unit, test_schedule_is_the_seed_s);
	tcase_add_test(unit, test_schedule_draws_from_the_classes_asked_only);
	tcase_add_test(unit, test_schedule_takes_one_site_down_at_a_time);
	tcase_add_test(unit, test_schedule_ha_is_the_seed_s);
	tcase_add_test(unit, test_schedule_ha_one_member_one_instance_at_a_time);
	suite_add_tcase(s, unit);
	TCase *cli = tcase_create("cli");
	tcase_set_timeout(cli, 60);
	tcase_add_test(cli, test_cli_version_help_and_usage_errors);
	suite_add_tcase(s, cli);
	TCase *trials = tcase_create("trials");
	tcase_set_timeout(trials, 170);
	tcase_add_test(trials, test_trials_run_to_their_end_and_clean_up);
	suite_add_tcase(s, trials);
	return s;
}

int main(void)
{
	root = th_mkdtemp("check_chaos");
	if (!root)
		return EXIT_FAILURE;
	SRunner *sr = srunner_create(chaos_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!failed && !getenv("DRCHAOS_KEEP"))
		th_rmrf(root);
	else
		fprintf(stderr, "check_chaos: outputs kept in %s\n", root);
	free(root);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
