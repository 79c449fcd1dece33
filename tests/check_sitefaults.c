/*
 * check_sitefaults.c — drsite under the faults an outside checker used to
 * break the promise with, each done for real on real processes: lease
 * renewals that arrive late (an old nonce renews nothing), a site whose
 * state.json is lost or damaged (read-only until given a role), a WAL
 * damaged in the middle (the site knows what it lacks and is never made
 * primary at that epoch), an incomplete store (quarantined, refetched), a
 * full disk, admin bodies with unknown fields, and a lease asked shorter
 * (never lengthened by a later command).
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "admincmd.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"
#include "format.h"

static char *root;
static struct th_site A, B;

static void setup(void)
{
	root = th_mkdtemp("check_sitefaults");
	ck_assert_ptr_nonnull(root);
	th_site_init(&A, root, "site-a");
	th_site_init(&B, root, "site-b");
}

static void teardown(void)
{
	th_cleanup();
	th_rmrf(root);
	free(root);
}

static void start(struct th_site *s, const char *const extra[])
{
	ck_assert_msg(th_site_start(s, extra), "%s did not come up; see %s", s->name, s->log);
}

static void restart(struct th_site *s, const char *const extra[])
{
	th_kill(s->pid, SIGKILL, 5000);
	start(s, extra);
}

static long admin(const struct th_site *s, const char *cmd, const char *body, char **out)
{
	char path[64];
	snprintf(path, sizeof(path), "/v1/admin/%s", cmd);
	return th_site_req(s, "POST", path, true, body, strlen(body), out, NULL);
}

/* The site's current lease nonce, from its status. */
static void nonce_of(const struct th_site *s, char *buf, size_t len)
{
	th_site_status_str(s, "lease_nonce", buf, len);
	ck_assert_msg(buf[0], "%s has no lease_nonce in its status", s->name);
}

static long heartbeat(const struct th_site *s, int epoch, const char *nonce)
{
	char body[160];
	snprintf(body, sizeof(body), "{\"epoch\":%d,\"lease_nonce\":\"%s\"}", epoch, nonce);
	return admin(s, "heartbeat", body, NULL);
}

static void put_range(const struct th_site *s, const char *prefix, int from, int to)
{
	char key[64];
	for (int i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ck_assert_int_eq(th_site_put(s, key), 200);
	}
}

static char *path_in(const struct th_site *s, const char *rel)
{
	char *p = NULL;
	ck_assert_int_ge(asprintf(&p, "%s/%s", s->data, rel), 0);
	return p;
}

/* ---- late renewals --------------------------------------------------------------- */

START_TEST(test_late_heartbeat_renews_no_lease)
{
	const char *lease[] = { "--lease-ms", "400", NULL };
	start(&A, lease);
	char old[64], fresh[64];
	nonce_of(&A, old, sizeof(old));
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "in-lease"), 200);
	time_sleep_ms(600);
	ck_assert_int_eq(th_site_put(&A, "expired"), 503);
	/* A heartbeat sent before the lease ran out, delivered now (a partition
	 * held it back): it counts from its nonce, so it renews nothing. */
	ck_assert_int_eq(heartbeat(&A, 1, old), 200);
	ck_assert_int_eq(th_site_put(&A, "late"), 503);
	nonce_of(&A, fresh, sizeof(fresh));
	ck_assert_int_eq(heartbeat(&A, 1, fresh), 200);
	ck_assert_int_eq(th_site_put(&A, "renewed"), 200);
	char *out = NULL;
	ck_assert_int_eq(heartbeat(&A, 1, "zz-not-a-nonce"), 400);
	ck_assert_int_eq(admin(&A, "heartbeat", "{\"epoch\":1,\"lease_nonce\":7}", &out), 400);
	ck_assert_ptr_nonnull(strstr(out, "lease_nonce"));
	free(out);
}
END_TEST

/* An fcv command (a playbook's finalize step) renews no lease, with or
 * without a nonce: one held by a partition kept a deposed primary
 * writing (drchaos seed 23004). */
START_TEST(test_late_fcv_command_renews_no_lease)
{
	const char *lease[] = { "--lease-ms", "400", NULL };
	start(&A, lease);
	char fresh[64], body[160];
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "in-lease"), 200);
	time_sleep_ms(600);
	ck_assert_int_eq(th_site_put(&A, "expired"), 503);
	snprintf(body, sizeof(body), "{\"epoch\":1,\"fcv\":\"%s\"}", DRSITE_VERSION);
	ck_assert_int_eq(admin(&A, "fcv", body, NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "after-fcv"), 503);
	nonce_of(&A, fresh, sizeof(fresh));
	snprintf(body, sizeof(body), "{\"epoch\":1,\"fcv\":\"%s\",\"lease_nonce\":\"%s\"}",
		 DRSITE_VERSION, fresh);
	ck_assert_int_eq(admin(&A, "fcv", body, NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "after-fcv-nonce"), 503);
	ck_assert_int_eq(heartbeat(&A, 1, fresh), 200);  /* a heartbeat does renew */
	ck_assert_int_eq(th_site_put(&A, "renewed"), 200);
}
END_TEST

START_TEST(test_command_from_before_a_restart_confirms_nothing)
{
	start(&A, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	char before[64], now[64], body[256];
	nonce_of(&A, before, sizeof(before));
	restart(&A, NULL);
	/* The role command carries a nonce of the site's previous start: it was
	 * sent before the restart, so it neither confirms nor renews. */
	snprintf(body, sizeof(body), "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"async\","
		 "\"lease_nonce\":\"%s\"}", before);
	char *out = NULL;
	ck_assert_int_eq(admin(&A, "role", body, &out), 200);
	ck_assert_int_eq(th_site_put(&A, "stale-confirm"), 503);
	ck_assert(th_site_wait_status(&A, "\"confirmed\":false", 1000));
	/* Its answer says so, with a nonce of this start: the command sent
	 * again with it (as drorchd does) confirms. */
	json_t *answer = json_loads(out ? out : "", 0, NULL);
	free(out);
	ck_assert_msg(json_is_false(json_object_get(answer, "confirmed")), "the answer says nothing "
		      "of its confirmation");
	snprintf(now, sizeof(now), "%s",
		 json_string_value(json_object_get(answer, "lease_nonce")) ?: "");
	json_decref(answer);
	ck_assert_str_ne(now, before);
	snprintf(body, sizeof(body), "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"async\","
		 "\"lease_nonce\":\"%s\"}", now);
	ck_assert_int_eq(admin(&A, "role", body, NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "confirmed"), 200);
}
END_TEST

/* A confirmed replica r's fetch and vouch at epoch 1, but for the nonce. */
#define FETCH_ECHOING "/v1/wal?from=1&epoch=1&replica=r&confirmed=1&lease_nonce="
#define VOUCH_ECHOING "/v1/wal/vouch?epoch=1&replica=r&confirmed=1&lease_nonce="

/* GET path_head followed by nonce (a lease_nonce echoed): its status. */
static long get_echoing(const struct th_site *s, const char *path_head, const char *nonce)
{
	char path[256];
	snprintf(path, sizeof(path), "%s%s", path_head, nonce);
	return th_site_req(s, "GET", path, true, NULL, 0, NULL, NULL);
}

/* A as the primary at epoch 1 with a 400 ms lease that one confirmed
 * replica renews. */
static void primary_renewed_by_one_replica(void)
{
	const char *lease[] = { "--lease-ms", "400", NULL };
	start(&A, lease);
	const char *role = "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"async\",\"quorum\":1,"
			   "\"lease_replicas\":1}";
	ck_assert_int_eq(admin(&A, "role", role, NULL), 200);
}

START_TEST(test_late_replica_fetch_renews_no_lease)
{
	primary_renewed_by_one_replica();
	char old[64], fresh[64];
	nonce_of(&A, old, sizeof(old));
	time_sleep_ms(600);
	ck_assert_int_eq(th_site_put(&A, "expired"), 503);
	/* A confirmed replica's fetch held back by the network echoes an old
	 * nonce: admitted (it acks), but the lease stays expired. */
	ck_assert_int_eq(get_echoing(&A, FETCH_ECHOING, old), 200);
	ck_assert_int_eq(th_site_put(&A, "late-fetch"), 503);
	nonce_of(&A, fresh, sizeof(fresh));
	ck_assert_int_eq(get_echoing(&A, FETCH_ECHOING, fresh), 200);
	ck_assert_int_eq(th_site_put(&A, "fresh-fetch"), 200);
	ck_assert_int_eq(get_echoing(&A, "/v1/wal?from=1&epoch=1&replica=r&lease_nonce=", "bogus"),
			 400);
}
END_TEST

/* A replica's vouch (sent while it applies a shipment) renews the lease as
 * a fetch does: as of its nonce, only for a replica whose fetch was
 * admitted at that epoch, and a late one renews nothing. */
START_TEST(test_late_vouch_renews_no_lease)
{
	primary_renewed_by_one_replica();
	char old[64], fresh[64], path[256];
	nonce_of(&A, old, sizeof(old));
	ck_assert_int_eq(get_echoing(&A, VOUCH_ECHOING, old), 409);  /* no fetch admitted yet */
	time_sleep_ms(600);
	ck_assert_int_eq(th_site_put(&A, "expired"), 503);
	ck_assert_int_eq(get_echoing(&A, FETCH_ECHOING, old), 200);
	ck_assert_int_eq(get_echoing(&A, VOUCH_ECHOING, old), 200);
	ck_assert_int_eq(th_site_put(&A, "late-vouch"), 503);
	nonce_of(&A, fresh, sizeof(fresh));
	ck_assert_int_eq(get_echoing(&A, "/v1/wal/vouch?epoch=0&replica=r&confirmed=1&lease_nonce=",
				     fresh), 409);  /* a stale epoch */
	ck_assert_int_eq(get_echoing(&A, "/v1/wal/vouch?epoch=1&replica=r&lease_nonce=", fresh), 200);
	ck_assert_int_eq(th_site_put(&A, "unconfirmed-vouch"), 503);
	snprintf(path, sizeof(path), "%s%s", VOUCH_ECHOING, fresh);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&A, "GET", path, true, NULL, 0, &body, NULL), 200);
	ck_assert_ptr_nonnull(strstr(body ?: "", "\"epoch\":1"));
	free(body);
	ck_assert_int_eq(th_site_put(&A, "fresh-vouch"), 200);
	ck_assert_int_eq(get_echoing(&A, VOUCH_ECHOING, "bogus"), 400);
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/wal/vouch?epoch=1", true, NULL, 0, NULL, NULL),
			 400);
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/wal/vouch?epoch=1&replica=r", false, NULL, 0,
				     NULL, NULL), 401);
	ck_assert_int_eq(th_site_req(&A, "POST", "/v1/wal/vouch", true, NULL, 0, NULL, NULL), 405);
}
END_TEST

/* ---- lost metadata ----------------------------------------------------------------- */

START_TEST(test_site_without_state_json_comes_back_read_only)
{
	start(&A, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 3, NULL, "async", 1), 200);
	put_range(&A, "k", 0, 5);
	th_kill(A.pid, SIGKILL, 5000);
	char *state = path_in(&A, "state.json");
	ck_assert_int_eq(unlink(state), 0);
	start(&A, NULL);
	/* Not a standalone primary at epoch 0: fenced at the epoch its log
	 * shows, read-only until the orchestrator gives it a role. */
	char role[32];
	ck_assert_str_eq(th_site_status_str(&A, "role", role, sizeof(role)), "fenced");
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 3);
	ck_assert_int_eq(th_site_put(&A, "split"), 503);
	ck_assert_int_eq(th_site_req(&A, "GET", "/primary", false, NULL, 0, NULL, NULL), 503);
	ck_assert(th_site_has(&A, "k4"));  /* its data is intact and served */
	/* What it lacked before is unknown: a marker (need_known false, its
	 * last LSN + 1), which an election counts as no record (check_decide). */
	ck_assert(th_site_wait_status(&A, "\"need_known\":false", 1000));
	ck_assert_int_eq(th_site_status_int(&A, "behind", "need_lsn"),
			 th_site_status_int(&A, "behind", "have_lsn") + 1);
	/* A damaged state.json: set aside (never deleted), same outcome. */
	th_kill(A.pid, SIGKILL, 5000);
	tl_write_file(state, "{\"role\":\"prim");
	start(&A, NULL);
	ck_assert_str_eq(th_site_status_str(&A, "role", role, sizeof(role)), "fenced");
	ck_assert_int_eq(th_site_put(&A, "split2"), 503);
	ck_assert_int_eq(th_site_role(&A, "primary", 4, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "after-role"), 200);
	/* Damage that still parses (a bit of its epoch flipped, 4 -> 5): its
	 * crc32c tells, same outcome (drchaos seed 21061: a primary's port). */
	th_kill(A.pid, SIGKILL, 5000);
	char *text = th_read_file(state, NULL);
	ck_assert_ptr_nonnull(text);
	char *e = strstr(text, "\"epoch\": 4");
	ck_assert_ptr_nonnull(e);
	e[strlen("\"epoch\": ")] = '5';
	tl_write_file(state, text);
	free(text);
	start(&A, NULL);
	ck_assert_str_eq(th_site_status_str(&A, "role", role, sizeof(role)), "fenced");
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 4);
	ck_assert_int_eq(th_site_put(&A, "split3"), 503);
	/* A fresh, empty data dir is still the way to a standalone site. */
	start(&B, NULL);
	ck_assert_int_eq(th_site_put(&B, "standalone"), 200);
	free(state);
}
END_TEST

/* ---- a damaged WAL ------------------------------------------------------------------ */

START_TEST(test_damaged_wal_leaves_the_site_behind)
{
	start(&A, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	put_range(&A, "d", 0, 90);
	th_kill(A.pid, SIGKILL, 5000);
	ck_assert_int_gt(th_site_flip_wal(&A, 1.0 / 3, 0x10), 0);
	start(&A, NULL);
	char *body = NULL;
	ck_assert_int_eq(th_site_req(&A, "GET", "/v1/status", false, NULL, 0, &body, NULL), 200);
	json_t *st = json_loads(body, 0, NULL);
	free(body);
	json_t *dmg = json_object_get(json_object_get(st, "wal"), "damage_at_open");
	ck_assert_str_eq(json_string_value(json_object_get(dmg, "kind")), "damaged");
	/* The records after the damage prove how far the log went. */
	ck_assert_int_eq(json_integer_value(json_object_get(dmg, "evidence_lsn")), 90);
	long long last = json_integer_value(json_object_get(st, "lsn"));
	ck_assert_int_lt(last, 60);
	json_t *behind = json_object_get(st, "behind");
	ck_assert_int_eq(json_integer_value(json_object_get(behind, "need_lsn")), 90);
	ck_assert(json_is_true(json_object_get(behind, "need_known")));  /* evidence */
	ck_assert_str_eq(json_string_value(json_object_get(st, "role")), "fenced");
	json_decref(st);
	/* Never the source of truth at that epoch; nothing past the damage served. */
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 409);
	ck_assert(!th_site_has(&A, "d89"));
	ck_assert_int_eq(th_site_put(&A, "x"), 503);
	/* A newer epoch is the orchestrator's informed decision. */
	ck_assert_int_eq(th_site_role(&A, "primary", 2, NULL, "async", 1), 200);
	ck_assert(!th_site_wait_status(&A, "\"behind\"", 200));
	ck_assert_int_eq(th_site_put(&A, "x"), 200);
	/* The damaged bytes were kept, not deleted. */
	char *q = path_in(&A, "wal/quarantine");
	struct stat sb;
	ck_assert_int_eq(stat(q, &sb), 0);
	free(q);
}
END_TEST

/* ---- an incomplete store --------------------------------------------------------- */

START_TEST(test_incomplete_store_is_quarantined_and_refetched)
{
	const char *small[] = { "--segment-bytes", "4096", "--checkpoint-bytes", "8192", NULL };
	start(&A, small);
	start(&B, small);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "async", 1), 200);
	put_range(&A, "s", 0, 120);
	ck_assert(th_site_wait_status(&B, "\"applied_lsn\":120", 10000));
	ck_assert_int_eq(admin(&B, "checkpoint", "{}", NULL), 200);
	th_kill(B.pid, SIGKILL, 5000);
	/* The snapshot is lost, and the WAL it let go is gone: B's store can
	 * no longer be served. */
	char *snapdir = path_in(&B, "snap");
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.snap", snapdir);
	ck_assert_int_eq(system(cmd), 0);
	start(&B, small);
	/* It starts empty (nothing half served), knows what it lacks, kept the
	 * old files, and as a replica fetches everything from its primary. */
	ck_assert(th_site_wait_status(&B, "store incomplete", 1000));
	/* What it lacks is what its files showed existed (the first LSN of the
	 * segment after the lost checkpoint), not just "something": an
	 * election counts it (check_decide). */
	ck_assert_int_ge(th_site_status_int(&B, "behind", "need_lsn"), 120);
	ck_assert(th_site_wait_status(&B, "\"need_known\":true", 1000));
	char *q = path_in(&B, "quarantine");
	struct stat sb;
	ck_assert_int_eq(stat(q, &sb), 0);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "async", 1), 200);
	ck_assert(th_site_wait_status(&B, "\"applied_lsn\":120", 10000));
	ck_assert(th_site_has(&B, "s0"));
	ck_assert(th_site_has(&B, "s119"));
	free(q);
	free(snapdir);
}
END_TEST

/* ---- a full disk ---------------------------------------------------------------------- */

START_TEST(test_full_disk_fails_the_wal_until_restart)
{
	const char *faults[] = { "--enable-faults", NULL };
	start(&A, faults);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "before"), 200);
	ck_assert_int_eq(admin(&A, "faults", "{\"disk_full\":true}", NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "no-room"), 503);
	ck_assert_int_eq(th_site_req(&A, "GET", "/healthz", false, NULL, 0, NULL, NULL), 503);
	ck_assert(th_site_wait_status(&A, "\"failed\":true", 1000));
	ck_assert_int_eq(admin(&A, "faults", "{\"disk_full\":false}", NULL), 200);
	ck_assert_int_eq(th_site_put(&A, "still-failed"), 503);  /* fsyncgate: restart */
	restart(&A, faults);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	ck_assert_int_eq(th_site_put(&A, "after-restart"), 200);
	ck_assert(th_site_has(&A, "before"));
	ck_assert(!th_site_has(&A, "no-room"));
}
END_TEST

/* A sync replica whose disk filled acknowledged nothing more: a fetch from
 * L+1 says L is durable there, so its log's failure stops its fetches
 * (drchaos seed 22054: a record in its memory, never on disk, counted for
 * the quorum).  What it acknowledged before is on it after a restart. */
START_TEST(test_replica_with_a_full_disk_acknowledges_nothing)
{
	const char *faults[] = { "--enable-faults", "--sync-timeout-ms", "600", NULL };
	start(&A, faults);
	start(&B, faults);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "sync", 1), 200);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "sync", 1), 200);
	ck_assert(th_site_wait_status(&B, "\"streaming\"", 5000));
	ck_assert_int_eq(th_site_put(&A, "before"), 200);
	ck_assert_int_eq(admin(&B, "faults", "{\"disk_full\":true}", NULL), 200);
	char key[16];
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "full%d", i);
		ck_assert_msg(th_site_put(&A, key) != 200,
			      "%s acknowledged while its one sync replica cannot write", key);
	}
	ck_assert(th_site_wait_status(&B, "\"stalled\"", 3000));
	ck_assert_int_eq(admin(&B, "faults", "{\"disk_full\":false}", NULL), 200);
	restart(&B, faults);
	ck_assert_int_eq(th_site_role(&B, "replica", 1, &A, "sync", 1), 200);
	ck_assert(th_site_wait_status(&B, "\"streaming\"", 5000));
	ck_assert(th_site_has(&B, "before"));
}
END_TEST

/* ---- the lease a role command asks for ---------------------------------------------- */

START_TEST(test_admin_lease_is_asked_capped_and_only_shortened)
{
	struct admin_lease l = { 500, 1000 }, r;
	/* A fresh role takes the request, capped at --lease-ms; none: --lease-ms. */
	r = admin_lease_after(l, 500, 300, 900, true);
	ck_assert_uint_eq(r.ms, 300);
	ck_assert_uint_eq(r.set_at, 900);
	ck_assert_uint_eq(admin_lease_after(l, 500, 900, 900, true).ms, 500);
	ck_assert_uint_eq(admin_lease_after(r, 500, 0, 900, true).ms, 500);
	/* Within a role: shorter from any command, even one held back. */
	l = (struct admin_lease){ 300, 1000 };
	r = admin_lease_after(l, 500, 200, 10, false);
	ck_assert_uint_eq(r.ms, 200);
	ck_assert_uint_eq(r.set_at, 1000);
	/* Longer only from a command granted no earlier than the setter's. */
	ck_assert_uint_eq(admin_lease_after(l, 500, 400, 999, false).ms, 300);
	r = admin_lease_after(l, 500, 400, 1000, false);
	ck_assert_uint_eq(r.ms, 400);
	r = admin_lease_after(l, 500, 900, 1200, false);
	ck_assert_uint_eq(r.ms, 500);
	ck_assert_uint_eq(r.set_at, 1200);
	/* No request keeps it. */
	ck_assert_uint_eq(admin_lease_after(l, 500, 0, 2000, false).ms, 300);
}
END_TEST

static long role_lease(const struct th_site *s, int epoch, const char *lease, long *granted)
{
	char body[256], *out = NULL;
	snprintf(body, sizeof(body), "{\"role\":\"primary\",\"epoch\":%d,\"mode\":\"async\","
		 "\"quorum\":1,\"lease_replicas\":1%s%s}", epoch, lease ? ",\"lease_ms\":" : "",
		 lease ? lease : "");
	long st = admin(s, "role", body, &out);
	json_t *j = st == 200 ? json_loads(out, 0, NULL) : NULL;
	*granted = j ? (long)json_integer_value(json_object_get(j, "lease_ms")) : -1;
	json_decref(j);
	free(out);
	return st;
}

/* A role command asks for a lease shorter than --lease-ms: the primary
 * stops taking writes when it ends.  A later command at the same epoch can
 * shorten or lengthen it, but one held back since before the command that
 * set it (its nonce older) lengthens nothing; a new epoch takes its own; a
 * restart goes back to --lease-ms, unconfirmed. */
START_TEST(test_role_asks_a_shorter_lease_and_none_lengthens_it)
{
	const char *lease[] = { "--lease-ms", "5000", NULL };
	start(&A, lease);
	long granted;
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_max_ms"), 5000);
	ck_assert_int_eq(role_lease(&A, 1, "1000", &granted), 200);
	ck_assert_int_eq(granted, 1000);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_ms"), 1000);
	ck_assert_int_eq(th_site_put(&A, "in-lease"), 200);
	time_sleep_ms(1400);
	ck_assert_int_eq(th_site_put(&A, "past-1000"), 503);  /* --lease-ms alone: 200 */
	/* A command sent before that one (its nonce older), delivered now:
	 * it renews nothing and lengthens nothing. */
	char old_nonce[64], body[256];
	nonce_of(&A, old_nonce, sizeof(old_nonce));
	time_sleep_ms(20);
	ck_assert_int_eq(role_lease(&A, 1, "800", &granted), 200);  /* shorter: taken */
	ck_assert_int_eq(granted, 800);
	snprintf(body, sizeof(body), "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"async\","
		 "\"lease_replicas\":1,\"lease_ms\":4000,\"lease_nonce\":\"%s\"}", old_nonce);
	ck_assert_int_eq(admin(&A, "role", body, NULL), 200);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_ms"), 800);
	/* None asked: kept; a newer command lengthens it. */
	ck_assert_int_eq(role_lease(&A, 1, NULL, &granted), 200);
	ck_assert_int_eq(granted, 800);
	ck_assert_int_eq(role_lease(&A, 1, "1000", &granted), 200);
	ck_assert_int_eq(granted, 1000);
	ck_assert_int_eq(th_site_put(&A, "renewed"), 200);
	time_sleep_ms(1400);
	ck_assert_int_eq(th_site_put(&A, "past-1000-again"), 503);
	/* Out of bounds: 400, nothing changes. */
	static const char *const bad[] = { "0", "9", "86400001", "\"300\"", "1.5", "null" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(role_lease(&A, 2, bad[i], &granted), 400);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 1);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_ms"), 1000);
	/* A new epoch: its own lease, capped at --lease-ms. */
	ck_assert_int_eq(role_lease(&A, 2, "9000", &granted), 200);
	ck_assert_int_eq(granted, 5000);
	ck_assert_int_eq(role_lease(&A, 3, "2000", &granted), 200);
	ck_assert_int_eq(granted, 2000);
	restart(&A, lease);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_ms"), 5000);
	ck_assert_int_eq(th_site_put(&A, "unconfirmed"), 503);
}
END_TEST

/* ---- the orchestrator's term ------------------------------------------------------------ */

START_TEST(test_admin_term_check_keeps_the_newest)
{
	uint64_t seen = 0;
	char err[300];
	ck_assert_int_eq(admin_term_check(NULL, &seen, err, sizeof(err)), ADMIN_TERM_OK);
	ck_assert_uint_eq(seen, 0);
	ck_assert_int_eq(admin_term_check("7", &seen, err, sizeof(err)), ADMIN_TERM_OK);
	ck_assert_uint_eq(seen, 7);
	ck_assert_int_eq(admin_term_check("7", &seen, err, sizeof(err)), ADMIN_TERM_OK);
	ck_assert_int_eq(admin_term_check("6", &seen, err, sizeof(err)), ADMIN_TERM_STALE);
	ck_assert_msg(strstr(err, "term 6, older than term 7"), "%s", err);
	ck_assert_int_eq(admin_term_check("0", &seen, err, sizeof(err)), ADMIN_TERM_STALE);
	ck_assert_int_eq(admin_term_check(NULL, &seen, err, sizeof(err)), ADMIN_TERM_OK);
	static const char *const bad[] = { "", "-1", "+8", " 8", "8 ", "0x8", "8a",
					   "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(admin_term_check(bad[i], &seen, err, sizeof(err)) == ADMIN_TERM_BAD,
			      "\"%s\" taken as a term", bad[i]);
	ck_assert_uint_eq(seen, 7);
	ck_assert_int_eq(admin_term_check("18446744073709551615", &seen, err, sizeof(err)),
			 ADMIN_TERM_OK);
}
END_TEST

/*
 * A deposed drorchd's command that a partition held back past its
 * successor's first (HA: an older term) is refused, whatever its epoch and
 * nonce: it would have lengthened the lease the new leader set.
 */
START_TEST(test_command_of_an_older_orchestrator_term_is_refused)
{
	const char *lease[] = { "--lease-ms", "5000", NULL };
	start(&A, lease);
	char nonce[64], body[256], *out = NULL;
	const char *role = "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"async\","
			   "\"lease_replicas\":1,\"lease_ms\":1000}";
	ck_assert_int_eq(th_site_admin_at_term(&A, "7", "role", role, NULL), 200);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "orch_term"), 7);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_ms"), 1000);
	/* Term 6, with a fresh nonce that would let it lengthen the lease. */
	nonce_of(&A, nonce, sizeof(nonce));
	snprintf(body, sizeof(body), "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"async\","
		 "\"lease_replicas\":1,\"lease_ms\":4000,\"lease_nonce\":\"%s\"}", nonce);
	ck_assert_int_eq(th_site_admin_at_term(&A, "6", "role", body, &out), 409);
	ck_assert_msg(strstr(out, "older than term 7") && strstr(out, "deposed"), "%s", out);
	free(out);
	snprintf(body, sizeof(body), "{\"epoch\":1,\"lease_nonce\":\"%s\"}", nonce);
	ck_assert_int_eq(th_site_admin_at_term(&A, "6", "heartbeat", body, NULL), 409);
	ck_assert_int_eq(th_site_admin_at_term(&A, "0", "fence", "{\"epoch\":2}", NULL), 409);
	ck_assert_int_eq(th_site_admin_at_term(&A, "x7", "fence", "{\"epoch\":2}", NULL), 400);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "lease_ms"), 1000);  /* nothing changed */
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 1);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "orch_term"), 7);
	ck_assert_int_eq(th_site_put(&A, "still-primary"), 200);
	/* The same term and a newer one are taken; no header is not checked. */
	ck_assert_int_eq(th_site_admin_at_term(&A, "7", "heartbeat", body, NULL), 200);
	ck_assert_int_eq(heartbeat(&A, 1, nonce), 200);
	ck_assert_int_eq(th_site_admin_at_term(&A, "9", "fence", "{\"epoch\":2}", NULL), 200);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "orch_term"), 9);
	ck_assert_int_eq(th_site_put(&A, "fenced"), 503);
	/* A status read with the token teaches a newer term (drorchd's polls:
	 * a replica no command reaches hears a new leader); an older one, a
	 * bad one or one without the token teaches nothing, and each read is
	 * answered. */
	ck_assert_int_eq(th_site_status_at_term(&A, TH_TOKEN, "11"), 200);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "orch_term"), 11);
	ck_assert_int_eq(th_site_status_at_term(&A, TH_TOKEN, "10"), 200);
	ck_assert_int_eq(th_site_status_at_term(&A, TH_TOKEN, "+12"), 200);
	ck_assert_int_eq(th_site_status_at_term(&A, "not-the-token", "13"), 200);
	ck_assert_int_eq(th_site_status_at_term(&A, NULL, "13"), 200);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "orch_term"), 11);
	ck_assert_int_eq(th_site_admin_at_term(&A, "10", "fence", "{\"epoch\":3}", NULL), 409);
	/* Not persisted: a restarted site takes the next term it sees. */
	restart(&A, lease);
	ck_assert_int_eq(th_site_status_int(&A, NULL, "orch_term"), 0);
}
END_TEST

/* ---- strict admin bodies ---------------------------------------------------------------- */

START_TEST(test_admin_commands_refuse_unknown_fields)
{
	start(&A, NULL);
	ck_assert_int_eq(th_site_role(&A, "primary", 1, NULL, "async", 1), 200);
	static const char *const cmds[][2] = {
		{ "role", "{\"role\":\"primary\",\"epoch\":2,\"mode\":\"async\",\"bogus\":1}" },
		{ "fence", "{\"epoch\":2,\"bogus\":1}" },
		{ "heartbeat", "{\"epoch\":1,\"bogus\":1}" },
		{ "fcv", "{\"epoch\":1,\"fcv\":\"0.1.0\",\"bogus\":1}" },
		{ "rewind", "{\"epoch\":1,\"bogus\":1}" },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *out = NULL;
		ck_assert_int_eq(admin(&A, cmds[i][0], cmds[i][1], &out), 400);
		ck_assert_msg(strstr(out, "bogus"), "%s: the answer does not name the field: %s",
			      cmds[i][0], out);
		free(out);
	}
	ck_assert_int_eq(th_site_status_int(&A, NULL, "epoch"), 1);  /* nothing changed */
	ck_assert_int_eq(th_site_put(&A, "still-primary"), 200);
}
END_TEST

static Suite *sitefaults_suite(void)
{
	Suite *s = suite_create("sitefaults");
	TCase *tc = tcase_create("sitefaults");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_late_heartbeat_renews_no_lease);
	tcase_add_test(tc, test_late_fcv_command_renews_no_lease);
	tcase_add_test(tc, test_command_from_before_a_restart_confirms_nothing);
	tcase_add_test(tc, test_late_replica_fetch_renews_no_lease);
	tcase_add_test(tc, test_late_vouch_renews_no_lease);
	tcase_add_test(tc, test_site_without_state_json_comes_back_read_only);
	tcase_add_test(tc, test_damaged_wal_leaves_the_site_behind);
	tcase_add_test(tc, test_incomplete_store_is_quarantined_and_refetched);
	tcase_add_test(tc, test_full_disk_fails_the_wal_until_restart);
	tcase_add_test(tc, test_replica_with_a_full_disk_acknowledges_nothing);
	tcase_add_test(tc, test_admin_lease_is_asked_capped_and_only_shortened);
	tcase_add_test(tc, test_role_asks_a_shorter_lease_and_none_lengthens_it);
	tcase_add_test(tc, test_admin_commands_refuse_unknown_fields);
	tcase_add_test(tc, test_admin_term_check_keeps_the_newest);
	tcase_add_test(tc, test_command_of_an_older_orchestrator_term_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sitefaults_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
