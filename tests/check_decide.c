/*
 * check_decide.c — drorchd's pure decisions (orchestrator/decide.h) on
 * hand-made site views: detection (stale testimony is no evidence, a
 * partition of drorchd alone is LINK_ONLY, a primary that cannot take
 * writes is DOWN), a primary whose log regressed, the sites' newest epoch,
 * the end of an old primary's lease, the election order, the election
 * against the RTO budget (wait, elect, prefer, refuse) and a run's verdict.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"

#define NOW 100000u
#define WINDOW 300u
#define HB 100u

/* Three views: 0 the primary at epoch 5 (last answered at `lost`), 1 and 2
 * replicas streaming from it. */
static void three(struct site_view v[3], uint64_t lost)
{
	memset(v, 0, 3 * sizeof(*v));
	for (int i = 0; i < 3; i++) {
		v[i].reachable = true;
		v[i].polled = true;
		v[i].epoch = 5;
		v[i].last_ok_ms = NOW;
		v[i].confirmed = true;
		v[i].lease_replicas = 2;
		strcpy(v[i].role, i ? "replica" : "primary");
		if (i) {
			strcpy(v[i].repl_state, "streaming");
			strcpy(v[i].repl_primary, "p");
			v[i].primary_writable = true;
			v[i].contact_seen_ms = NOW;
			v[i].contact_ago_ms = 10;
		}
	}
	v[0].last_ok_ms = lost;
	v[0].reachable = lost == NOW;
	v[0].lsn = v[0].flushed_lsn = 100;
	v[1].lsn = v[1].flushed_lsn = 100;
	v[2].lsn = v[2].flushed_lsn = 90;
}

static const char *const addrs[3] = { "", "p", "p" };

static struct judge_in judge_now(void)
{
	return (struct judge_in){ .epoch = 5, .now = NOW, .window = WINDOW, .heartbeat = HB,
				  .peer_addr = addrs };
}

START_TEST(test_judge_primary_answers_is_back)
{
	struct site_view v[3];
	three(v, NOW);
	struct judge_in in = judge_now();
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_BACK);
}
END_TEST

START_TEST(test_judge_link_only_needs_fresh_writable_testimony)
{
	struct site_view v[3];
	three(v, NOW - 1000);
	struct judge_in in = judge_now();
	/* Both replicas heard it 10 ms ago, long after drorchd lost it. */
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_LINK_ONLY);
	/* Testimony read before drorchd lost it says nothing. */
	v[1].contact_seen_ms = v[2].contact_seen_ms = NOW - 2000;
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_UNSURE);
}
END_TEST

START_TEST(test_judge_stale_contact_is_not_evidence)
{
	struct site_view v[3];
	three(v, NOW - 1000);
	/* The replicas still say "streaming" (their fetch hangs in a
	 * blackhole), but their last contact was 900 ms ago: not alive. */
	v[1].contact_ago_ms = v[2].contact_ago_ms = 900;
	struct judge_in in = judge_now();
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_DOWN);
}
END_TEST

START_TEST(test_judge_unwritable_primary_is_down)
{
	struct site_view v[3];
	three(v, NOW - 1000);
	v[1].primary_writable = v[2].primary_writable = false;
	struct judge_in in = judge_now();
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_DOWN);
	three(v, NOW);
	v[0].wal_failed = true;  /* answers, but cannot make a write durable */
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_DOWN);
}
END_TEST

START_TEST(test_judge_replica_of_another_primary_does_not_testify)
{
	struct site_view v[3];
	three(v, NOW - 1000);
	strcpy(v[1].repl_primary, "elsewhere");
	v[2].contact_ago_ms = 900;
	struct judge_in in = judge_now();
	ck_assert_int_eq(decide_judge(v, 3, 0, &in), V_DOWN);
}
END_TEST

START_TEST(test_regressed_by_behind_record)
{
	struct site_view v[3];
	three(v, NOW);
	int64_t need = 0;
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));
	v[0].behind_need_lsn = 300;
	v[0].behind_epoch = 5;
	ck_assert(decide_regressed(v, 3, 0, 5, NULL, &need));
	ck_assert_int_eq(need, 300);
}
END_TEST

START_TEST(test_regressed_unconfirmed_primary_behind_a_replica)
{
	struct site_view v[3];
	three(v, NOW);
	v[1].flushed_lsn = 130;  /* a confirmed primary: figures race, never judged */
	int64_t need = 0;
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));
	v[0].confirmed = false;  /* restarted: its log stands still */
	ck_assert(decide_regressed(v, 3, 0, 5, NULL, &need));
	ck_assert_int_eq(need, 130);
	v[1].epoch = 4;  /* a replica at another epoch proves nothing */
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));
	/* A held failover resumed: every site fenced at the new epoch, the
	 * row's primary's log shorter than another's (drchaos seed 20051). */
	three(v, NOW);
	strcpy(v[0].role, "fenced");
	v[0].confirmed = false;
	v[0].epoch = 4;
	v[0].lsn = 223;
	strcpy(v[1].role, "fenced");
	v[1].epoch = 5;
	v[1].flushed_lsn = 875;
	ck_assert(decide_regressed(v, 3, 0, 5, NULL, &need));
	ck_assert_int_eq(need, 875);
	/* The epoch went to a promotion elsewhere that was held, then resumed:
	 * a replica at it follows another site (drchaos seed 22002). */
	three(v, NOW);
	v[0].confirmed = false;
	const char *addr[3] = { NULL, "p", "p" };
	ck_assert(!decide_regressed(v, 3, 0, 5, addr, &need));
	strcpy(v[1].repl_primary, "q");
	ck_assert(decide_regressed(v, 3, 0, 5, addr, &need));
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));  /* links unknown */
	strcpy(v[1].repl_primary, "p");
	strcpy(v[2].role, "primary");  /* another primary at the epoch */
	ck_assert(decide_regressed(v, 3, 0, 5, addr, &need));
	/* A primary's site wiped and back as an empty standalone site, or back
	 * fenced at an older epoch without its metadata: judged by its data. */
	three(v, NOW);
	strcpy(v[0].role, "standalone");
	v[0].epoch = 0;
	v[0].lsn = 0;
	ck_assert(decide_regressed(v, 3, 0, 5, NULL, &need));
	ck_assert_int_eq(need, 100);
	strcpy(v[0].role, "fenced");
	v[0].epoch = 4;
	v[0].lsn = 100;
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));  /* it holds all: it may be confirmed */
	strcpy(v[0].role, "replica");  /* follows another site at the cluster's epoch */
	v[0].epoch = 5;
	ck_assert(decide_regressed(v, 3, 0, 5, NULL, &need));
}
END_TEST

START_TEST(test_regressed_primary_that_lost_a_tail_without_a_trace)
{
	struct site_view v[3];
	three(v, NOW);
	int64_t need = 0;
	v[0].primary_epoch = 5;
	v[0].primary_high = 100;
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));
	/* Restarted without its last WAL segment: 80 durable, 100 once shown. */
	v[0].confirmed = false;
	v[0].lsn = v[0].flushed_lsn = 80;
	v[1].flushed_lsn = v[2].flushed_lsn = 70;
	ck_assert(decide_regressed(v, 3, 0, 5, NULL, &need));
	ck_assert_int_eq(need, 100);
	v[0].primary_epoch = 4;  /* what it showed at an older epoch proves nothing */
	ck_assert(!decide_regressed(v, 3, 0, 5, NULL, &need));
}
END_TEST

START_TEST(test_sites_epoch_and_its_primary)
{
	struct site_view v[3];
	three(v, NOW);
	int p = -2;
	ck_assert_int_eq(decide_sites_epoch(v, 3, &p), 5);
	ck_assert_int_eq(p, 0);
	v[2].epoch = 11;
	strcpy(v[2].role, "fenced");
	ck_assert_int_eq(decide_sites_epoch(v, 3, &p), 11);
	ck_assert_int_eq(p, -1);
	strcpy(v[2].role, "primary");
	ck_assert_int_eq(decide_sites_epoch(v, 3, &p), 11);
	ck_assert_int_eq(p, 2);
	v[2].reachable = false;
	ck_assert_int_eq(decide_sites_epoch(v, 3, &p), 5);
}
END_TEST

START_TEST(test_lease_end_all_replicas_rule)
{
	uint64_t end = 0, fenced[2] = { 1200, 900 };
	/* k = 2 (every replica renews): one fenced replica bounds it. */
	ck_assert(decide_lease_end(1000, 2, 2, fenced, 1, 500, 50, &end));
	ck_assert_uint_eq(end, 1200 + 500 + 50);
	/* drorchd's own nonce bound wins when newer. */
	ck_assert(decide_lease_end(1500, 2, 2, fenced, 1, 500, 50, &end));
	ck_assert_uint_eq(end, 1500 + 550);
	/* Both fenced: the older of the two renewals is the 2nd newest. */
	ck_assert(decide_lease_end(0, 2, 2, fenced, 2, 500, 50, &end));
	ck_assert_uint_eq(end, 900 + 550);
}
END_TEST

START_TEST(test_lease_end_quorum_rule_needs_enough_fenced)
{
	uint64_t end = 0, fenced[2] = { 1200, 900 };
	/* k = 1: one unfenced replica can keep the lease alive. */
	ck_assert(!decide_lease_end(1000, 1, 2, fenced, 1, 500, 50, &end));
	ck_assert(decide_lease_end(1000, 1, 2, fenced, 2, 500, 50, &end));
	ck_assert_uint_eq(end, 1200 + 550);
	/* k = 0: only drorchd renews it. */
	ck_assert(decide_lease_end(1000, 0, 2, fenced, 0, 500, 50, &end));
	ck_assert_uint_eq(end, 1000 + 550);
}
END_TEST

START_TEST(test_lease_asked_is_the_longest_at_the_newest_epoch)
{
	uint64_t asked = 0;
	int64_t epoch = 0;
	decide_lease_asked(&asked, &epoch, 3, 500);
	ck_assert_uint_eq(asked, 500);
	decide_lease_asked(&asked, &epoch, 3, 300);  /* the policy shortened it */
	ck_assert_uint_eq(asked, 500);               /* a command at 500 may still land */
	ck_assert_int_eq(epoch, 3);
	decide_lease_asked(&asked, &epoch, 4, 300);  /* a new epoch: its own lease */
	ck_assert_uint_eq(asked, 300);
	ck_assert_int_eq(epoch, 4);
	decide_lease_asked(&asked, &epoch, 4, 800);
	ck_assert_uint_eq(asked, 800);
	decide_lease_asked(&asked, &epoch, 2, 900);  /* older: never shortens the bound */
	ck_assert_uint_eq(asked, 900);
	ck_assert_int_eq(epoch, 4);
}
END_TEST

START_TEST(test_lease_wanted_and_bounded)
{
	/* The detection window plus the round trip, unless the policy sets it. */
	ck_assert_uint_eq(decide_lease_want(300, false, 8, 100, 500), 308);
	ck_assert_uint_eq(decide_lease_want(300, false, 49, 100, 500), 349);
	ck_assert_uint_eq(decide_lease_want(250, true, 80, 100, 500), 250);
	/* A round trip of half a heartbeat (jitter, a retransmission): the
	 * site's longest, which rides out what detection rides out. */
	ck_assert_uint_eq(decide_lease_want(300, false, 50, 100, 500), 500);
	ck_assert_uint_eq(decide_lease_want(300, false, 80, 100, 0), 380);
	/* Within the site's --lease-ms, which it would cap it at: the wait
	 * counts what was granted (a WAN policy's 500 + 80 waited 100 ms more). */
	ck_assert_uint_eq(decide_lease_want(500, false, 20, 100, 500), 500);
	ck_assert_uint_eq(decide_lease_want(900, true, 0, 100, 500), 500);
	ck_assert_uint_eq(decide_lease_want(900, true, 0, 100, 0), 900);
	/* Set by our command at its epoch: what we asked, or more if reported. */
	ck_assert_uint_eq(decide_lease_bound(300, 500, 320, 4, 4, 4), 320);
	ck_assert_uint_eq(decide_lease_bound(400, 500, 320, 4, 4, 4), 400);
	/* Not set by us at its epoch (we restarted, took over, or asked at
	 * another epoch): anyone may have lengthened it up to --lease-ms. */
	ck_assert_uint_eq(decide_lease_bound(300, 500, 320, 4, 3, 4), 500);
	ck_assert_uint_eq(decide_lease_bound(300, 500, 320, 5, 5, 4), 500);
	ck_assert_uint_eq(decide_lease_bound(300, 500, 0, 0, 0, 4), 500);
	/* An older drsite: no --lease-ms told, its lease as reported. */
	ck_assert_uint_eq(decide_lease_bound(500, 0, 0, 0, 0, 4), 500);
	ck_assert_uint_eq(decide_lease_bound(0, 0, 0, 0, 0, 0), 0);
}
END_TEST

START_TEST(test_rtt_window_keeps_the_recent_maximum)
{
	struct rtt_window w = { 0 };
	decide_rtt_note(&w, 10000, 5);
	decide_rtt_note(&w, 10100, 80);
	decide_rtt_note(&w, 10200, 3);
	ck_assert_uint_eq(decide_rtt_high(&w, 10300), 80);
	/* The next period still remembers it ... */
	decide_rtt_note(&w, 10000 + DECIDE_RTT_BUCKET_MS, 4);
	ck_assert_uint_eq(decide_rtt_high(&w, 10000 + DECIDE_RTT_BUCKET_MS + 10), 80);
	/* ... the one after forgets it. */
	decide_rtt_note(&w, 10000 + 2 * DECIDE_RTT_BUCKET_MS, 6);
	ck_assert_uint_eq(decide_rtt_high(&w, 10000 + 2 * DECIDE_RTT_BUCKET_MS + 10), 6);
	/* No samples for two periods (no answers): nothing known. */
	ck_assert_uint_eq(decide_rtt_high(&w, 10000 + 5 * DECIDE_RTT_BUCKET_MS), 0);
}
END_TEST

START_TEST(test_renew_turns_interleave_on_the_grid)
{
	/* Two renewers, 100 ms grid: even ticks are renewer 0's, odd ones 1's. */
	ck_assert_uint_eq(decide_renew_turn(1000, 100, 0, 2), 200);  /* tick 10 is now: next 12 */
	ck_assert_uint_eq(decide_renew_turn(1000, 100, 1, 2), 100);  /* tick 11 */
	ck_assert_uint_eq(decide_renew_turn(1050, 100, 1, 2), 50);
	ck_assert_uint_eq(decide_renew_turn(1050, 100, 0, 2), 150);
	/* Held past its turn (a retransmission): the next turn of its own. */
	ck_assert_uint_eq(decide_renew_turn(1130, 100, 1, 2), 170);  /* tick 13 */
	/* Always within (0, n * hb]. */
	for (uint64_t now = 0; now < 1000; now += 7)
		for (int k = 0; k < 3; k++) {
			uint64_t w = decide_renew_turn(now, 50, k, 3);
			ck_assert(w > 0 && w <= 150);
			ck_assert_uint_eq((now + w) % 50, 0);
			ck_assert_uint_eq((now + w) / 50 % 3, (uint64_t)k);
		}
	/* Degenerate inputs do not divide by zero. */
	ck_assert_uint_eq(decide_renew_turn(10, 0, 0, 0), 1);
}
END_TEST

START_TEST(test_rpo_ms_is_exact_with_commit_times)
{
	bool exact;
	/* Format 2 on both ends: the commit time between newest lost and kept. */
	ck_assert_int_eq(decide_rpo_ms(7, 1764900000900, 1764900000100, 5, &exact), 800);
	ck_assert(exact);
	/* Nothing lost: exactly 0, whatever the estimate says. */
	ck_assert_int_eq(decide_rpo_ms(0, 1764900000900, 1764900000100, 300, &exact), 0);
	ck_assert(exact);
	/* A commit time unknown (format 1): the lag estimate, not exact. */
	ck_assert_int_eq(decide_rpo_ms(7, 0, 1764900000100, 300, &exact), 300);
	ck_assert(!exact);
	ck_assert_int_eq(decide_rpo_ms(7, 1764900000900, 0, 300, &exact), 300);
	ck_assert(!exact);
	ck_assert_int_eq(decide_rpo_ms(7, 0, 0, -1, &exact), 0);
	/* Clocks of two primaries may disagree: never negative. */
	ck_assert_int_eq(decide_rpo_ms(2, 1764900000100, 1764900000900, 5, &exact), 0);
}
END_TEST

/* A candidate's testimony: its log's last epoch and end, its commit time. */
static struct candidate cand(int idx, const char *name, int64_t last_epoch, int64_t lsn,
			     int64_t commit_ms)
{
	return (struct candidate){ .idx = idx, .name = name, .last_epoch = last_epoch,
				   .lsn = lsn, .flushed = lsn, .last_commit_ms = commit_ms,
				   .order = CONFIG_MAX_SITES };
}

static struct elect_in sync_in(const struct candidate *c, int n)
{
	return (struct elect_in){ .sites = c, .n = n, .sync = true, .quorum = 1, .nsites = 3,
				  .rpo_ms_max = 5000 };
}

START_TEST(test_elect_takes_the_newest_log_and_measures_the_rpo)
{
	struct candidate c[] = { cand(1, "eu-west", 1, 90, 1000), cand(2, "ap-south", 1, 100, 1400) };
	struct elect_in in = sync_in(c, 2);
	in.last_seen = 100;
	in.newest_commit_ms = 1400;
	struct elect_out out;
	decide_elect(&in, &out);
	ck_assert_ptr_eq(out.best, &c[1]);
	ck_assert_int_eq(out.rpo_records, 0);
	ck_assert_int_eq(out.rpo_ms, 0);
	ck_assert_int_eq(out.heard, 2);
	ck_assert_ptr_null(out.refused);
	/* The old primary had gone further (async): those records are the RPO. */
	in.sync = false;
	in.last_seen = 104;
	in.newest_commit_ms = 1650;
	decide_elect(&in, &out);
	ck_assert_ptr_eq(out.best, &c[1]);
	ck_assert_int_eq(out.rpo_records, 4);
	ck_assert_int_eq(out.rpo_ms, 250);
	ck_assert(out.rpo_exact);
	in.rpo_ms_max = 200;  /* beyond the target: refused, unless forced */
	decide_elect(&in, &out);
	ck_assert_ptr_null(out.best);
	ck_assert_str_eq(out.refused, "the best candidate would break the RPO target");
	in.force = true;
	decide_elect(&in, &out);
	ck_assert_ptr_eq(out.best, &c[1]);
	ck_assert(out.forced);
}
END_TEST

START_TEST(test_elect_refuses_what_would_lose_acknowledged_writes)
{
	struct candidate c[] = { cand(1, "eu-west", 1, 90, 0), cand(2, "ap-south", 1, 100, 0) };
	struct elect_in in = sync_in(c, 2);
	struct elect_out out;
	in.target = "eu-west";  /* an operator's target with an older log, in sync mode */
	decide_elect(&in, &out);
	ck_assert_ptr_null(out.best);
	ck_assert_msg(strstr(out.refused, "lacks records another replica flushed"), "%s",
		      out.refused);
	ck_assert_int_eq(out.rpo_records, 10);
	ck_assert(!out.rpo_exact);  /* format 1: no commit times */
	in.target = NULL;  /* one site heard of two replicas, quorum 1: not enough */
	in.n = 1;
	decide_elect(&in, &out);
	ck_assert_ptr_null(out.best);
	ck_assert_msg(strstr(out.refused, "too few sites"), "%s", out.refused);
	in.fenced_at = 90;  /* ... unless it has all the fenced old primary had */
	decide_elect(&in, &out);
	ck_assert_ptr_eq(out.best, &c[0]);
	/* A site that lost records testifies to nothing. */
	c[0].lacks = true;
	in.fenced_at = 0;
	in.n = 2;
	decide_elect(&in, &out);
	ck_assert_int_eq(out.heard, 1);
	in.n = 0;
	decide_elect(&in, &out);
	ck_assert_str_eq(out.refused, "no eligible replica");
	ck_assert_int_eq(out.rpo_records, -1);
}
END_TEST

/* A site that lost its store (drchaos seed 99961, async): drorchd's own
 * store lost too, the other sites unheard, and the one that answers empty
 * but saying it lacks records through 951.  Those records existed: it is
 * not a complete candidate, the election waits for the unheard while the
 * RTO budget lasts, and whatever it elects then counts them as the RPO. */
START_TEST(test_elect_counts_what_a_site_lacks_as_records_that_existed)
{
	struct candidate c[] = { cand(2, "ap-south", 0, 0, 0) };
	c[0].lacks = true;
	c[0].need = 951;
	struct elect_in in = sync_in(c, 1);
	in.sync = false;
	in.fenced_at = 0;  /* no old primary heard at the fence, nothing known */
	in.rpo_ms_max = 60000;
	in.rpo_records_max = 2000;
	struct elect_out e;
	decide_elect(&in, &e);
	ck_assert_ptr_eq(e.best, &c[0]);  /* within the RPO target: eligible, ... */
	ck_assert_int_eq(e.rpo_records, 951);  /* ... but not complete */
	ck_assert_int_eq(e.heard, 0);
	struct budget_in b = { .elect = &e, .unheard = 2, .elapsed_ms = 300, .rto_ms = 10000,
			       .reserve_ms = 300, .state_left_ms = 5000, .rpo_ms_max = 60000,
			       .rpo_records_max = 2000 };
	struct budget_out out;
	decide_budget(&b, &out);
	ck_assert_int_eq(out.choice, ELECTION_WAIT);
	b.elapsed_ms = 9900;  /* the budget spent: elected, its loss counted */
	decide_budget(&b, &out);
	ck_assert_int_eq(out.choice, ELECTION_WITHIN_RPO);
	ck_assert_ptr_eq(out.elected, &c[0]);
	/* A replica that has them is better, and complete. */
	struct candidate two[] = { c[0], cand(1, "eu-west", 2, 951, 0) };
	in.sites = two;
	in.n = 2;
	decide_elect(&in, &e);
	ck_assert_ptr_eq(e.best, &two[1]);
	ck_assert_int_eq(e.rpo_records, 0);
}
END_TEST

/*
 * A marker (need_known false: state.json lost, or damage that left no
 * trace) says a site lacks what it cannot tell: it counts no record that
 * existed, so a replica with the same log is complete at once; the marked
 * site alone is not (one record, waiting while the budget lasts), unless
 * the old primary told where the log ended.
 */
START_TEST(test_elect_takes_a_marker_as_no_evidence_of_records)
{
	struct candidate c[] = { cand(1, "eu-west", 2, 100, 0), cand(2, "ap-south", 2, 100, 0) };
	c[0].lacks = c[0].need_unknown = true;
	c[0].need = 101;  /* its have + 1 */
	c[0].order = 0;   /* first in the policy's order, yet the other is taken */
	struct elect_in in = sync_in(c, 2);
	in.sync = false;
	struct elect_out e;
	decide_elect(&in, &e);
	ck_assert_ptr_eq(e.best, &c[1]);
	ck_assert_int_eq(e.rpo_records, 0);  /* counted as evidence, it was 1 */
	struct budget_in b = { .elect = &e, .unheard = 1, .elapsed_ms = 300, .rto_ms = 10000,
			       .reserve_ms = 300, .state_left_ms = 5000, .rpo_ms_max = 5000 };
	struct budget_out out;
	decide_budget(&b, &out);
	ck_assert_int_eq(out.choice, ELECTION_COMPLETE);
	/* The marked site alone: one record it may lack, so it waits. */
	in.n = 1;
	decide_elect(&in, &e);
	ck_assert_ptr_eq(e.best, &c[0]);
	ck_assert_int_eq(e.rpo_records, 1);
	b.unheard = 2;
	decide_budget(&b, &out);
	ck_assert_int_eq(out.choice, ELECTION_WAIT);
	/* The old primary said at the fence where its log ended: complete. */
	in.fenced_at = 100;
	decide_elect(&in, &e);
	ck_assert_int_eq(e.rpo_records, 0);
	/* Evidence (need_known) still counts: the same site, records to 130. */
	c[0].need_unknown = false;
	c[0].need = 130;
	in.fenced_at = 0;
	in.n = 2;
	decide_elect(&in, &e);
	ck_assert_ptr_eq(e.best, &c[1]);
	ck_assert_int_eq(e.rpo_records, 30);
}
END_TEST

START_TEST(test_elect_lets_a_strictly_newer_old_primary_stand)
{
	struct candidate c[] = { cand(1, "eu-west", 1, 95, 0) };
	struct candidate old = cand(0, "us-east", 1, 100, 0);
	struct elect_in in = sync_in(c, 1);
	in.nsites = 2;
	in.stand = &old;
	struct elect_out out;
	decide_elect(&in, &out);
	ck_assert_ptr_eq(out.best, &old);
	ck_assert_int_eq(out.rpo_records, 0);
	old.lsn = old.flushed = 95;  /* not strictly newer: the replica */
	decide_elect(&in, &out);
	ck_assert_ptr_eq(out.best, &c[0]);
}
END_TEST

START_TEST(test_heard_enough_meets_every_acknowledging_set)
{
	/* 3 sites, quorum 1: a write is on the primary and 1 replica; both replicas heard meet it. */
	ck_assert(decide_heard_enough(true, 1, 3, 2));
	ck_assert(!decide_heard_enough(true, 1, 3, 1));  /* the one replica may lack it */
	/* quorum 2 (every replica): any one site holds every write. */
	ck_assert(decide_heard_enough(true, 2, 3, 1));
	/* 2 sites, quorum 1: the replica alone is enough. */
	ck_assert(decide_heard_enough(true, 1, 2, 1));
	ck_assert(!decide_heard_enough(true, 1, 2, 0));
	/* 5 sites, quorum 2: on 3 sites; 3 heard meet it, 2 may not. */
	ck_assert(decide_heard_enough(true, 2, 5, 3));
	ck_assert(!decide_heard_enough(true, 2, 5, 2));
	/* quorum 0 in a sync mode: only the primary had it. */
	ck_assert(!decide_heard_enough(true, 0, 3, 2));
	ck_assert(decide_heard_enough(true, 0, 3, 3));
	/* async: no promise to keep. */
	ck_assert(decide_heard_enough(false, 1, 3, 0));
}
END_TEST

START_TEST(test_better_candidate_order)
{
	struct candidate a = { .flushed = 10, .order = 3, .name = "b" };
	struct candidate b = { .flushed = 9, .order = 0, .other_region = true, .name = "a" };
	ck_assert(decide_better(&a, &b));  /* most records first */
	b.flushed = 10;
	ck_assert(decide_better(&b, &a));  /* then the policy's order */
	b.order = 3;
	ck_assert(decide_better(&b, &a));  /* then another region */
	b.other_region = false;
	ck_assert(decide_better(&b, &a));  /* then the name */
	ck_assert(!decide_better(&a, &b));
	/* The newest log first: a shorter one whose last record is of a newer
	 * epoch beats a deposed primary's longer tail (drchaos seed 22059). */
	a = (struct candidate){ .flushed = 1231, .last_epoch = 1, .name = "eu-west" };
	b = (struct candidate){ .flushed = 1214, .last_epoch = 2, .name = "us-east" };
	ck_assert(decide_better(&b, &a));
	ck_assert(decide_log_newer(&b, &a));
	ck_assert(!decide_log_newer(&a, &b));
	ck_assert(!decide_log_newer(&a, &a));
}
END_TEST

/* The budget of test_budget_*: RTO 2000 ms, 300 kept to promote; RPO
 * 5000 ms or 10 records; ap-south heard at 100 of 110 records. */
static struct budget_in budget(const struct elect_out *e, int unheard, int64_t elapsed)
{
	return (struct budget_in){ .elect = e, .unheard = unheard, .elapsed_ms = elapsed,
				   .rto_ms = 2000, .reserve_ms = 300, .state_left_ms = 5000,
				   .rpo_ms_max = 5000, .rpo_records_max = 10 };
}

/* A candidate that lacks records while a site did not testify: wait while
 * the RTO budget (and the state's timeout) allows, then elect within the
 * RPO; a complete candidate, or nobody left to hear, decides at once. */
START_TEST(test_budget_waits_for_the_unheard_while_the_rto_allows)
{
	struct candidate c = cand(2, "ap-south", 1, 100, 0);
	struct elect_out e = { .best = &c, .rpo_records = 4, .rpo_ms = 250, .heard = 1 };
	struct budget_in in = budget(&e, 1, 1000);
	struct budget_out out;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_WAIT);
	ck_assert_ptr_null(out.elected);
	ck_assert_msg(strstr(out.why, "RTO budget 1000 of 2000 ms used"), "%s", out.why);
	in.elapsed_ms = 1700;  /* the budget less the promotion's reserve: spent */
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_WITHIN_RPO);
	ck_assert_ptr_eq(out.elected, &c);
	ck_assert_str_eq(decide_choice_names[out.choice], "within_rpo");
	ck_assert_msg(strstr(out.why, "lacks 4 records (250 ms); RPO target 5000 ms (10 records)"),
		      "%s", out.why);
	in = budget(&e, 1, 100);
	in.state_left_ms = 0;  /* ELECTING's timeout is near: no more waiting */
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_WITHIN_RPO);
	in = budget(&e, 0, 100);  /* everyone testified: nothing to wait for */
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_WITHIN_RPO);
	e.rpo_records = 0;  /* it holds everything known: no wait */
	in = budget(&e, 1, 100);
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_COMPLETE);
	ck_assert_ptr_eq(out.elected, &c);
	e.forced = true;  /* forced past another refusal: not complete */
	in.elapsed_ms = 1800;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_FORCED);
}
END_TEST

/* Nobody within the RPO once the budget is spent: prefer rto elects the
 * best beyond it, prefer rpo refuses naming the RPO and the RTO; a safety
 * refusal (not the RPO alone) stands whatever prefer says. */
START_TEST(test_budget_past_the_rpo_prefer_decides)
{
	struct candidate c[] = { cand(1, "eu-west", 1, 100, 1000) };
	struct elect_in ein = sync_in(c, 1);
	ein.sync = false;
	ein.last_seen = 130;  /* 30 records beyond its log: past max_records 10 */
	ein.rpo_records_max = 10;
	struct elect_out e;
	decide_elect(&ein, &e);
	ck_assert_ptr_null(e.best);
	ck_assert_ptr_eq(e.beyond_rpo, &c[0]);
	struct budget_in in = budget(&e, 1, 900);
	struct budget_out out;
	in.prefer_rto = true;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_WAIT);  /* the unheard site may hold them */
	in.elapsed_ms = 1750;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_PREFER_RTO);
	ck_assert_ptr_eq(out.elected, &c[0]);
	ck_assert_str_eq(decide_choice_names[out.choice], "prefer_rto");
	in.prefer_rto = false;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_REFUSED);
	ck_assert_ptr_null(out.elected);
	ck_assert_msg(strstr(out.why, "would break the RPO target (prefer rpo") &&
		      strstr(out.why, "lacks 30 records") && strstr(out.why, "RPO target 5000 ms") &&
		      strstr(out.why, "RTO budget 1750 of 2000 ms used"), "%s", out.why);
	/* Sync, too few heard: refused for safety, never by prefer. */
	ein.sync = true;
	ein.rpo_records_max = 0;
	decide_elect(&ein, &e);
	ck_assert_ptr_null(e.best);
	ck_assert_ptr_null(e.beyond_rpo);
	in.prefer_rto = true;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_REFUSED);
	ck_assert_msg(strstr(out.why, "too few sites answered"), "%s", out.why);
	ein.n = 0;  /* nobody eligible yet, one unheard: wait, then refuse */
	decide_elect(&ein, &e);
	in = budget(&e, 1, 10);
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_WAIT);
	in.elapsed_ms = 5000;
	decide_budget(&in, &out);
	ck_assert_int_eq(out.choice, ELECTION_REFUSED);
	ck_assert_msg(strstr(out.why, "no eligible replica: RPO target"), "%s", out.why);
}
END_TEST

/* Met, missed or unknown against the targets; a missed RTO names the phase
 * that used most of it. */
START_TEST(test_verdict_against_the_targets)
{
	struct run_measure m = { .rto_ms = 1500, .slowest = PHASE_FENCE_ELECT };
	struct verdict_in in = { .measure = &m, .unmeasured_ms = -1, .rpo_ms = 0,
				 .rpo_records = 0, .rpo_ms_max = 5000, .rto_ms_max = 2000 };
	struct run_verdict v;
	decide_verdict(&in, &v);
	ck_assert_int_eq(v.rpo, TARGET_MET);
	ck_assert_int_eq(v.rto, TARGET_MET);
	ck_assert_int_eq(v.overrun_phase, -1);
	in.rto_ms_max = 1000;
	in.rpo_records = 12;
	in.rpo_ms = 6000;
	decide_verdict(&in, &v);
	ck_assert_str_eq(decide_verdict_names[v.rpo], "missed");
	ck_assert_str_eq(decide_verdict_names[v.rto], "missed");
	ck_assert_int_eq(v.overrun_phase, PHASE_FENCE_ELECT);
	in.rpo_ms = 100;  /* within in ms, past the records target */
	in.rpo_records_max = 10;
	decide_verdict(&in, &v);
	ck_assert_int_eq(v.rpo, TARGET_MISSED);
	in.rpo_records_max = 0;
	decide_verdict(&in, &v);
	ck_assert_int_eq(v.rpo, TARGET_MET);
	/* Held: nothing measured; an RTO is missed once the outage outlasts it. */
	m = (struct run_measure){ .rto_ms = -1, .slowest = -1 };
	in.rpo_ms = in.rpo_records = -1;
	decide_verdict(&in, &v);
	ck_assert_int_eq(v.rpo, TARGET_UNKNOWN);
	ck_assert_int_eq(v.rto, TARGET_UNKNOWN);
	in.unmeasured_ms = 1200;
	decide_verdict(&in, &v);
	ck_assert_int_eq(v.rto, TARGET_MISSED);
	ck_assert_int_eq(v.overrun_phase, -1);
}
END_TEST

/* A failover's RTO runs from the failed primary's last good heartbeat to
 * the new primary's first write; the phases split it, and the slowest is
 * named.  A switchover starts when its writes pause. */
START_TEST(test_measure_a_run)
{
	struct run_measure r;
	struct run_marks fo = { .last_good_heartbeat = 1000, .detected = 1300, .decided = 1900,
				.promoted = 1950, .first_write = 2000 };
	decide_measure(&fo, &r);
	ck_assert_int_eq(r.rto_ms, 1000);
	ck_assert_int_eq(r.phase_ms[PHASE_DETECTION], 300);
	ck_assert_int_eq(r.phase_ms[PHASE_FENCE_ELECT], 600);
	ck_assert_int_eq(r.phase_ms[PHASE_DRAIN_FENCE_ELECT], -1);
	ck_assert_int_eq(r.phase_ms[PHASE_PROMOTE], 50);
	ck_assert_int_eq(r.phase_ms[PHASE_FIRST_WRITE], 50);
	ck_assert_int_eq(r.slowest, PHASE_FENCE_ELECT);
	ck_assert_str_eq(decide_phase_names[r.slowest], "fence_and_elect");
	struct run_marks sw = { .writes_paused = 5000, .decided = 5030, .promoted = 5040,
				.first_write = 5100 };
	decide_measure(&sw, &r);
	ck_assert_int_eq(r.rto_ms, 100);
	ck_assert_int_eq(r.phase_ms[PHASE_DETECTION], -1);
	ck_assert_int_eq(r.phase_ms[PHASE_DRAIN_FENCE_ELECT], 30);
	ck_assert_int_eq(r.slowest, PHASE_FIRST_WRITE);
	/* A run that never wrote (held): no RTO; marks out of order: no phase. */
	struct run_marks held = { .last_good_heartbeat = 1000, .detected = 900 };
	decide_measure(&held, &r);
	ck_assert_int_eq(r.rto_ms, -1);
	ck_assert_int_eq(r.phase_ms[PHASE_DETECTION], -1);
	ck_assert_int_eq(r.slowest, -1);
}
END_TEST

START_TEST(test_epoch_at_an_lsn)
{
	int64_t epochs[] = { 1, 3, 2, 4 }, first[] = { 1, 101, 51, 101 };
	ck_assert_int_eq(decide_epoch_at(epochs, first, 4, 0), 0);
	ck_assert_int_eq(decide_epoch_at(epochs, first, 4, 50), 1);
	ck_assert_int_eq(decide_epoch_at(epochs, first, 4, 51), 2);
	ck_assert_int_eq(decide_epoch_at(epochs, first, 4, 100), 2);
	/* epoch 3 began at 101 and wrote nothing before epoch 4 did */
	ck_assert_int_eq(decide_epoch_at(epochs, first, 4, 150), 4);
	ck_assert_int_eq(decide_epoch_at(epochs, first, 0, 150), 0);
}
END_TEST

/* Which failover run lost what a rewind moved off a site: the one that
 * ended the epoch of its first record, never one after the rewind. */
START_TEST(test_loss_run_is_the_one_that_ended_the_epoch)
{
	/* newest first: run 3 took epoch 5 from b, run 2 epoch 3 from a, run 1 epoch 2 */
	struct run_brief runs[] = { { 3, 5, false }, { 2, 3, true }, { 1, 2, false } };
	ck_assert_int_eq(decide_loss_run(runs, 3, 1, 5), 1);
	ck_assert_int_eq(decide_loss_run(runs, 3, 2, 5), 2);
	ck_assert_int_eq(decide_loss_run(runs, 3, 3, 5), 3);
	ck_assert_int_eq(decide_loss_run(runs, 3, 1, 0), 1);  /* rewind epoch unknown */
	/* nothing ended epoch 5 yet */
	ck_assert_int_eq(decide_loss_run(runs, 3, 5, 6), 0);
	/* seed 98904: the store lost its history; its only failover (epoch 4)
	 * came after a rewind to epoch 3 of records from epoch 1 */
	struct run_brief later[] = { { 1, 4, false } };
	ck_assert_int_eq(decide_loss_run(later, 1, 1, 3), 0);
	ck_assert_int_eq(decide_loss_run(later, 1, 3, 4), 1);
	/* an older site names no from_epoch: the run from it, else the newest */
	ck_assert_int_eq(decide_loss_run(runs, 3, 0, 0), 2);
	runs[1].from_site = false;
	ck_assert_int_eq(decide_loss_run(runs, 3, 0, 0), 3);
	ck_assert_int_eq(decide_loss_run(runs, 0, 0, 0), 0);
}
END_TEST

/* A replica's health against the RPO: each cause, with its figure. */
START_TEST(test_replica_health_names_the_cause_and_the_figure)
{
	struct site_view v[3];
	three(v, NOW);
	struct replica_in in = { .now = NOW, .last_ok = NOW, .window = WINDOW, .rpo_ms = 5000 };
	char why[200] = "";
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_OK);
	v[1].lag_ms = 7200;
	v[1].lag_records = 12;
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_PAST_RPO);
	ck_assert_str_eq(why, "lag 7200 ms (12 records) past the RPO of 5000 ms");
	v[1].lag_ms = 10;  /* within the ms, past a record limit */
	in.rpo_records = 5;
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_PAST_RPO);
	ck_assert_str_eq(why, "lag 12 records (10 ms) past the RPO of 5 records");
	in.rpo_records = 0;  /* 0: no limit in records */
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_OK);
	strcpy(v[1].repl_state, "refused");
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_NOT_STREAMING);
	ck_assert_str_eq(why, "replication refused");
	strcpy(v[1].role, "fenced");
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_OTHER_ROLE);
	ck_assert_str_eq(why, "in role fenced, not replica");
	in.last_ok = NOW - WINDOW - 1;  /* silence wins over everything else */
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_SILENT);
	ck_assert_str_eq(why, "not answering for 301 ms");
	in.last_ok = NOW;
	v[1].reachable = false;
	ck_assert_int_eq(decide_replica(&v[1], &in, why, sizeof(why)), REPLICA_SILENT);
}
END_TEST

/* A replica 20 records behind over a slow link reports lag 0 (its newest
 * frame says it has everything): status shows what drorchd sees of both. */
START_TEST(test_lag_is_what_drorchd_sees_of_both_ends)
{
	struct site_view p = { .epoch = 3, .flushed_lsn = 73, .last_commit_ms = 10500 };
	struct site_view r = { .epoch = 3, .flushed_lsn = 53, .last_commit_ms = 10300 };
	struct lag l = decide_lag(&p, &r);
	ck_assert_int_eq(l.records, 20);
	ck_assert_int_eq(l.ms, 200);
	ck_assert(l.exact);
	r.lag_records = 25;  /* the replica knows more: its figure stands */
	r.lag_ms = 900;
	l = decide_lag(&p, &r);
	ck_assert_int_eq(l.records, 25);
	ck_assert_int_eq(l.ms, 900);
	r = (struct site_view){ .epoch = 3, .flushed_lsn = 53, .lag_ms = 40, .lag_exact = false };
	p.last_commit_ms = 0;  /* format 1: no commit times; ms stays the report */
	l = decide_lag(&p, &r);
	ck_assert_int_eq(l.records, 20);
	ck_assert_int_eq(l.ms, 40);
	ck_assert(!l.exact);
	r.epoch = 2;  /* another epoch: LSNs are not comparable */
	l = decide_lag(&p, &r);
	ck_assert_int_eq(l.records, 0);
	l = decide_lag(NULL, &r);  /* no primary */
	ck_assert_int_eq(l.records, 0);
	ck_assert_int_eq(decide_lag(&p, &p).records, 0);
}
END_TEST

static Suite *decide_suite(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("decide");
	tcase_add_test(tc, test_judge_primary_answers_is_back);
	tcase_add_test(tc, test_judge_link_only_needs_fresh_writable_testimony);
	tcase_add_test(tc, test_judge_stale_contact_is_not_evidence);
	tcase_add_test(tc, test_judge_unwritable_primary_is_down);
	tcase_add_test(tc, test_judge_replica_of_another_primary_does_not_testify);
	tcase_add_test(tc, test_regressed_by_behind_record);
	tcase_add_test(tc, test_regressed_unconfirmed_primary_behind_a_replica);
	tcase_add_test(tc, test_regressed_primary_that_lost_a_tail_without_a_trace);
	tcase_add_test(tc, test_sites_epoch_and_its_primary);
	tcase_add_test(tc, test_lease_end_all_replicas_rule);
	tcase_add_test(tc, test_lease_end_quorum_rule_needs_enough_fenced);
	tcase_add_test(tc, test_lease_asked_is_the_longest_at_the_newest_epoch);
	tcase_add_test(tc, test_lease_wanted_and_bounded);
	tcase_add_test(tc, test_rtt_window_keeps_the_recent_maximum);
	tcase_add_test(tc, test_renew_turns_interleave_on_the_grid);
	tcase_add_test(tc, test_heard_enough_meets_every_acknowledging_set);
	tcase_add_test(tc, test_better_candidate_order);
	tcase_add_test(tc, test_epoch_at_an_lsn);
	tcase_add_test(tc, test_loss_run_is_the_one_that_ended_the_epoch);
	tcase_add_test(tc, test_measure_a_run);
	tcase_add_test(tc, test_budget_waits_for_the_unheard_while_the_rto_allows);
	tcase_add_test(tc, test_budget_past_the_rpo_prefer_decides);
	tcase_add_test(tc, test_verdict_against_the_targets);
	tcase_add_test(tc, test_rpo_ms_is_exact_with_commit_times);
	tcase_add_test(tc, test_elect_takes_the_newest_log_and_measures_the_rpo);
	tcase_add_test(tc, test_elect_refuses_what_would_lose_acknowledged_writes);
	tcase_add_test(tc, test_elect_counts_what_a_site_lacks_as_records_that_existed);
	tcase_add_test(tc, test_elect_takes_a_marker_as_no_evidence_of_records);
	tcase_add_test(tc, test_elect_lets_a_strictly_newer_old_primary_stand);
	tcase_add_test(tc, test_replica_health_names_the_cause_and_the_figure);
	tcase_add_test(tc, test_lag_is_what_drorchd_sees_of_both_ends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(decide_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
