/*
 * check_ha.c — drorchd's high availability (orchestrator/ha.h, docs/ha.md)
 * with real processes on loopback: three sites, three etcd members and
 * three drorchd instances.  Each instance reaches each etcd member through
 * its own drlink link (dN-eM), so that one instance can be cut off from
 * etcd alone.  Instances log at debug level: every site command they send
 * is a "siteapi.sent" line with its wall time.
 *
 * The leader is killed in STEADY; the leader, a follower or an etcd member
 * in several states of a failover; the leader is cut off from etcd, etcd
 * loses its quorum; every instance's copy of the state is compared with the
 * leader's and verified.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "etcd.h"
#include "httpc.h"
#include "testhelp.h"
#include "testlab.h"
#include "timeutil.h"

#define NINST 3
#define NSITES 3
#define TTL_MS 2000
#define OP_TOKEN "check-ha-operator-token"

struct inst {
	char cfg[600], db[600], log[600], url[80];
	pid_t pid;
};

static struct tl_lab L;
static struct th_etcd E;
static struct inst I[NINST];
static char link_admin[80];

/* ---- set-up ------------------------------------------------------------------- */

static void link_post(const char *name, const char *listen, const char *upstream)
{
	long st = th_link_add(link_admin, name, listen, upstream);
	ck_assert_msg(st == 201 || st == 200, "drlink: create %s: %ld", name, st);
}

/* Blackholes (cut) or heals the links from instance i to etcd's first n
 * members. */
static void cut_links(int i, int n, bool cut)
{
	for (int m = 0; m < n; m++) {
		char name[32];
		snprintf(name, sizeof(name), "d%d-e%d", i, m);
		ck_assert_int_eq(th_link_set(link_admin, name, cut ? "{\"partition\":\"blackhole\"}" :
					     "{\"partition\":\"none\"}"), 200);
	}
}

/* Blackholes (cut) or heals every link from instance i to etcd. */
static void cut_from_etcd(int i, bool cut)
{
	cut_links(i, E.n, cut);
}

static void start_drlink(void)
{
	ck_assert_msg(th_drlink_start(L.root, link_admin, sizeof(link_admin)),
		      "drlink did not start; see %s/drlink.log", L.root);
}

/* Instance i's config: the lab's, with its own listen, db and ha section
 * (its etcd endpoints are its links). */
static void write_instance_config(int i, const char *base)
{
	struct inst *n = &I[i];
	int port = th_free_port();
	char etcd[600] = "", ha[900];
	for (int m = 0; m < E.n; m++) {
		char name[16], listen[64], upstream[64];
		snprintf(name, sizeof(name), "d%d-e%d", i, m);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", th_free_port());
		snprintf(upstream, sizeof(upstream), "%s", E.m[m].client + 7);
		link_post(name, listen, upstream);
		size_t len = strlen(etcd);
		snprintf(etcd + len, sizeof(etcd) - len, "%s\"http://%s\"", m ? ", " : "", listen);
	}
	snprintf(n->url, sizeof(n->url), "http://127.0.0.1:%d", port);
	snprintf(n->cfg, sizeof(n->cfg), "%s/d%d.yaml", L.root, i);
	snprintf(n->db, sizeof(n->db), "%s/d%d.db", L.root, i);
	snprintf(n->log, sizeof(n->log), "%s/d%d.log", L.root, i);
	snprintf(ha, sizeof(ha),
		 "listen: 127.0.0.1:%d\ndb: %s\n"
		 "ha:\n  etcd: [%s]\n  prefix: /drorch/check\n  lease_ttl_ms: %d\n  name: d%d\n",
		 port, n->db, etcd, TTL_MS, i);
	/* The base config without its listen and db lines, then ours. */
	size_t cap = strlen(base) + strlen(ha) + 1;
	char *text = malloc(cap), *out = text;
	ck_assert_ptr_nonnull(text);
	for (const char *line = base; *line; ) {
		size_t len = strcspn(line, "\n");
		bool skip = !strncmp(line, "listen:", 7) || !strncmp(line, "db:", 3);
		if (!skip) {
			memcpy(out, line, len);
			out += len;
			*out++ = '\n';
		}
		line += len + (line[len] == '\n');
	}
	strcpy(out, ha);
	tl_write_file(n->cfg, text);
	free(text);
}

static void inst_start(int i)
{
	char *argv[] = { (char *)th_bin("drorchd"), "--config", I[i].cfg, "--log-level", "debug",
			 NULL };
	I[i].pid = th_spawn(argv, I[i].log);
	char url[128];
	snprintf(url, sizeof(url), "%s/healthz", I[i].url);
	ck_assert_msg(th_wait_http(url, 200, 10000), "d%d did not start; see %s", i, I[i].log);
}

static void inst_kill(int i)
{
	ck_assert_int_ne(th_kill(I[i].pid, SIGKILL, 5000), -1);
	I[i].pid = -1;
}

/* The instance that answers /healthz/leader 200, or -1; fails the test
 * if two do. */
static int leader(void)
{
	int found = -1;
	for (int i = 0; i < NINST; i++) {
		char url[128];
		snprintf(url, sizeof(url), "%s/healthz/leader", I[i].url);
		if (I[i].pid > 0 && th_http("GET", url, NULL, NULL, 0, NULL, NULL) == 200) {
			ck_assert_msg(found < 0, "two leaders: d%d and d%d", found, i);
			found = i;
		}
	}
	return found;
}

/* Waits up to ms for a leader other than `not`; its index or -1. */
static int wait_leader(int not, long ms)
{
	uint64_t end = time_mono_ms() + (uint64_t)ms;
	do {
		int l = leader();
		if (l >= 0 && l != not)
			return l;
		time_sleep_ms(20);
	} while (time_mono_ms() < end);
	return -1;
}

/* Reads go to instance i from now on (tl_* helpers ask L.url). */
static void observe_from(int i)
{
	snprintf(L.url, sizeof(L.url), "%s", I[i].url);
}

static void setup(void)
{
	tl_lab_init(&L, "check_ha", NSITES, OP_TOKEN, "name: test\nfailover: {anti_flap_s: 0}\n");
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/etcd", L.root);
	ck_assert(mkdir(dir, 0700) == 0);
	ck_assert_msg(th_etcd_start(dir, 3, &E), "etcd did not start");
	start_drlink();
	tl_write_config(&L);
	char *base = th_read_file(L.cfg, NULL);
	ck_assert_ptr_nonnull(base);
	for (int i = 0; i < NINST; i++)
		write_instance_config(i, base);
	free(base);
	for (int i = 0; i < L.nsites; i++)
		ck_assert_msg(th_site_start(&L.site[i], NULL), "%s did not start", L.names[i]);
	for (int i = 0; i < NINST; i++)
		inst_start(i);
	ck_assert_msg(wait_leader(-1, 10000) >= 0, "no leader; see %s", I[0].log);
	observe_from(0);
	bool ready = false;
	for (uint64_t end = time_mono_ms() + 15000; !ready && time_mono_ms() < end; ) {
		json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 1000);
		ready = st && tl_all_in_role(st, L.names[0]);
		json_decref(st);
		if (!ready)
			time_sleep_ms(50);
	}
	ck_assert_msg(ready, "not STEADY with every role in place; see %s", I[0].log);
	/* Every copy holds the cluster row (a follower shows it from its copy). */
	for (int i = 0; i < NINST; i++) {
		observe_from(i);
		json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 5000);
		ck_assert_msg(st && json_integer_value(json_object_get(st, "epoch")) >= 1,
			      "d%d's copy lacks the cluster row", i);
		json_decref(st);
	}
	observe_from(0);
}

static void teardown(void)
{
	th_etcd_stop(&E);
	tl_lab_free(&L);
}

/* ---- what the instances logged ---------------------------------------------- */

/* The wall_ms of the first (first) or last line of event in instance i's
 * log with wall_ms >= since; 0 when there is none. */
static int64_t logged_ms(int i, const char *event, int64_t since, bool first)
{
	char *text = th_read_file(I[i].log, NULL), needle[96];
	snprintf(needle, sizeof(needle), "\"event\":\"%s\"", event);
	int64_t found = 0;
	for (char *line = text; line && *line; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		json_t *j = strstr(line, needle) ? json_loads(line, 0, NULL) : NULL;
		int64_t ms = json_integer_value(json_object_get(j, "wall_ms"));
		json_decref(j);
		if (ms >= since && ms > 0 && (!found || !first))
			found = ms;
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return found;
}

/* ---- comparing the copies ----------------------------------------------------- */

/* GET path from instance i, as compact sorted JSON text (caller frees). */
static char *get_text(int i, const char *path)
{
	char url[256], *body = NULL;
	snprintf(url, sizeof(url), "%s%s", I[i].url, path);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	ck_assert_ptr_nonnull(j);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

/* Every running instance's copy shows the transitions (hashes included)
 * and runs the leader's shows, once its mirror has caught up; and
 * drorchd --verify-audit passes on each copy. */
static void assert_copies_equal(int leader_i)
{
	char *want_t = get_text(leader_i, "/v1/transitions"), *want_r = get_text(leader_i, "/v1/runs");
	for (int i = 0; i < NINST; i++) {
		if (I[i].pid <= 0 || i == leader_i)
			continue;
		bool same = false;
		for (uint64_t end = time_mono_ms() + 5000; !same && time_mono_ms() < end; ) {
			char *t = get_text(i, "/v1/transitions"), *r = get_text(i, "/v1/runs");
			same = !strcmp(t, want_t) && !strcmp(r, want_r);
			free(t);
			free(r);
			if (!same)
				time_sleep_ms(50);
		}
		ck_assert_msg(same, "d%d's copy differs from the leader d%d's", i, leader_i);
	}
	free(want_t);
	free(want_r);
	for (int i = 0; i < NINST; i++) {
		char *argv[] = { (char *)th_bin("drorchd"), "--config", I[i].cfg, "--verify-audit",
				 NULL };
		char log[700];
		snprintf(log, sizeof(log), "%s/verify-d%d.log", L.root, i);
		int st = th_wait_exit(th_spawn(argv, log), 10000);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "d%d's audit: see %s", i, log);
	}
}

static json_t *runs_of_kind(int i, const char *kind)
{
	char url[128], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/runs", I[i].url);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *all = json_loads(body, 0, NULL), *out = json_array(), *r;
	free(body);
	size_t k;
	json_array_foreach(json_object_get(all, "runs"), k, r)
		if (!strcmp(json_string_value(json_object_get(r, "kind")) ?: "", kind))
			json_array_append(out, r);
	json_decref(all);
	return out;
}

/* Instance i's leader term as its status tells it (ha.term). */
static long long ha_term_of(int i)
{
	char url[128], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/status", I[i].url);
	ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	long long t = json_integer_value(json_object_get(json_object_get(j, "ha"), "term"));
	json_decref(j);
	return t;
}

/* Once the new leader's heartbeats (the primary) or status polls (every
 * site, also a replica no command reaches) reach site p, it carries the new
 * term, and a command the deposed leader sent at its own (held back by a
 * partition, delivered now) is refused: 409, nothing changes.  The primary
 * still takes writes. */
static void assert_deposed_term_refused(const struct th_site *p, long long old_term,
					long long new_term, long long epoch, bool primary)
{
	bool heard = false;
	for (uint64_t end = time_mono_ms() + 3000; !heard && time_mono_ms() < end; ) {
		heard = th_site_status_int(p, NULL, "orch_term") == new_term;
		if (!heard)
			time_sleep_ms(20);
	}
	ck_assert_msg(heard, "%s never saw the new leader's term %lld (it says %lld)", p->name,
		      new_term, th_site_status_int(p, NULL, "orch_term"));
	char term[32], body[64], *out = NULL;
	snprintf(term, sizeof(term), "%lld", old_term);
	snprintf(body, sizeof(body), "{\"epoch\":%lld}", epoch + 1);
	ck_assert_int_eq(th_site_admin_at_term(p, term, "fence", body, &out), 409);
	ck_assert_msg(out && strstr(out, "deposed"), "%s", out ? out : "(no answer)");
	free(out);
	ck_assert_int_eq(th_site_status_int(p, NULL, "epoch"), epoch);
	if (primary)
		ck_assert_int_eq(th_site_put(p, "after-a-deposed-fence"), 200);
}

/* ---- the tests -------------------------------------------------------------- */

START_TEST(test_leader_killed_in_steady_a_follower_leads)
{
	int l = leader(), obs = (l + 1) % NINST;
	observe_from(obs);
	long long epoch = tl_status_epoch(&L), old_term = ha_term_of(l);
	uint64_t t0 = time_mono_ms();
	inst_kill(l);
	int nl = wait_leader(l, TTL_MS + 5000);
	uint64_t took = time_mono_ms() - t0;
	ck_assert_msg(nl >= 0, "no instance took over; see %s", I[obs].log);
	fprintf(stderr, "check_ha: d%d killed, d%d leads after %llu ms (lease %d ms)\n", l, nl,
		(unsigned long long)took, TTL_MS);
	ck_assert_msg(took <= TTL_MS + 1500, "takeover took %llu ms", (unsigned long long)took);
	/* The takeover is no failover: same primary, same epoch. */
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 5000);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "epoch")), epoch);
	json_decref(st);
	long long new_term = ha_term_of(nl);
	ck_assert_msg(new_term > old_term, "terms %lld then %lld", old_term, new_term);
	for (int i = 0; i < L.nsites; i++)  /* the replicas hear it from its polls alone */
		assert_deposed_term_refused(tl_site_named(&L, L.names[i]), old_term, new_term, epoch,
					    i == 0);
	/* A follower sends a command on to the leader: 307, and drctl follows it. */
	int follower = (nl + 1) % NINST == l ? (nl + 2) % NINST : (nl + 1) % NINST;
	char url[128], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/pause", I[follower].url);
	/* A follower learns of the new leader within a tick of its own. */
	bool named = false;
	for (uint64_t end = time_mono_ms() + 2000; !named && time_mono_ms() < end; ) {
		long code = th_http("POST", url, OP_TOKEN, "{}", 2, &body, NULL);
		ck_assert_msg(code == 307 || code == 503, "a follower answered %ld: %s", code, body);
		named = code == 307 && body && strstr(body, I[nl].url);
		if (!named) {
			free(body);
			body = NULL;
			time_sleep_ms(50);
		}
	}
	ck_assert_msg(named, "307 without the leader's URL: %s", body);
	free(body);
	char *argv[] = { (char *)th_bin("drctl"), "--url", I[follower].url, "--token-file", L.optok,
			 "switchover", "--to", (char *)L.names[1], "--yes", NULL };
	char log[700];
	snprintf(log, sizeof(log), "%s/drctl.log", L.root);
	int rc = th_wait_exit(th_spawn(argv, log), 20000);
	ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "drctl switchover via a follower: see %s",
		      log);
	st = tl_wait_cluster(&L, "STEADY", L.names[1], NULL, 10000);
	ck_assert_msg(st, "the switchover asked of a follower did not happen");
	json_decref(st);
	/* Each instance's metrics say its role. */
	for (int i = 0; i < NINST; i++) {
		if (i == l)
			continue;
		snprintf(url, sizeof(url), "%s/metrics", I[i].url);
		ck_assert_int_eq(th_http("GET", url, NULL, NULL, 0, &body, NULL), 200);
		const char *want = i == nl ? "drorch_ha_role{role=\"leader\"} 1" :
				   "drorch_ha_role{role=\"follower\"} 1";
		ck_assert_msg(strstr(body, want), "d%d's metrics lack %s", i, want);
		free(body);
		body = NULL;
	}
	/* The killed instance comes back as a follower and catches up. */
	inst_start(l);
	ck_assert_int_eq(wait_leader(-1, 1000), nl);
	assert_copies_equal(nl);
}
END_TEST

/* Whom a mid-failover fault kills, and in which state of the failover. */
enum victim { V_LEADER, V_FOLLOWER, V_ETCD_LEADER, V_ETCD_FOLLOWER, V_LEADER_LINKS };

static const struct {
	enum victim victim;
	const char *state;	/* killed once the leader's status shows it */
	const char *what;
} mid_failover[] = {
	{ V_LEADER, "FENCING", "the leader drorchd" },
	{ V_LEADER, "PROMOTING", "the leader drorchd" },
	{ V_FOLLOWER, "FENCING", "a follower drorchd" },
	{ V_FOLLOWER, "ELECTING", "a follower drorchd" },
	{ V_ETCD_LEADER, "FENCING", "etcd's leader member" },
	{ V_ETCD_LEADER, "PROMOTING", "etcd's leader member" },
	{ V_ETCD_FOLLOWER, "ELECTING", "an etcd follower member" },
	{ V_LEADER_LINKS, "PROMOTING", "the leader's links to two etcd members" },
};

/* The etcd member that leads etcd now, or -1. */
static int etcd_leader_member(void)
{
	for (int m = 0; m < E.n; m++) {
		char url[128], *body = NULL;
		snprintf(url, sizeof(url), "%s/v3/maintenance/status", E.m[m].client);
		if (E.m[m].pid <= 0 || th_http("POST", url, NULL, "{}", 2, &body, NULL) != 200) {
			free(body);
			continue;
		}
		json_t *j = json_loads(body, 0, NULL);
		free(body);
		const char *me = json_string_value(json_object_get(json_object_get(j, "header"),
								   "member_id"));
		const char *lead = json_string_value(json_object_get(j, "leader"));
		bool leads = me && lead && !strcmp(me, lead);
		json_decref(j);
		if (leads)
			return m;
	}
	return -1;
}

/* Waits until the leader l's status shows state with the failover run
 * open past epoch; false if it did not within 10 s. */
static bool wait_failover_state(int l, long long epoch, const char *state)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/status", I[l].url);
	for (uint64_t end = time_mono_ms() + 10000; time_mono_ms() < end; time_sleep_ms(5)) {
		char *body = NULL;
		bool there = false;
		if (th_http("GET", url, NULL, NULL, 0, &body, NULL) == 200) {
			json_t *j = json_loads(body, 0, NULL);
			there = json_is_true(json_object_get(j, "run_open")) &&
				json_integer_value(json_object_get(j, "epoch")) > epoch &&
				!strcmp(json_string_value(json_object_get(j, "state")) ?: "", state);
			json_decref(j);
		}
		free(body);
		if (there)
			return true;
	}
	return false;
}

/* Kills the victim of case k; its description for the messages. */
static void kill_victim(int k, int l, char *who, size_t len)
{
	int i = (l + 1) % NINST, m;
	switch (mid_failover[k].victim) {
	case V_LEADER:
		inst_kill(l);
		snprintf(who, len, "leader d%d", l);
		break;
	case V_FOLLOWER:
		inst_kill(i);
		snprintf(who, len, "follower d%d", i);
		break;
	case V_ETCD_LEADER:
	case V_ETCD_FOLLOWER:
		m = etcd_leader_member();
		ck_assert_msg(m >= 0, "no etcd member leads etcd");
		if (mid_failover[k].victim == V_ETCD_FOLLOWER)
			m = (m + 1) % E.n;
		ck_assert(th_etcd_kill_member(&E, m, SIGKILL));
		snprintf(who, len, "etcd %s", E.m[m].name);
		break;
	case V_LEADER_LINKS:
		/* Every client starts on the first endpoint: the writer's next
		 * transaction is lost for sure, and must be found and sent again. */
		cut_links(l, E.n - 1, true);
		snprintf(who, len, "d%d's links to %d etcd members", l, E.n - 1);
		break;
	}
}

/* The leader l, its links to etcd cut but one (V_LEADER_LINKS), kept its
 * office: its lost writes were looked up and sent again, none made it step
 * down.  How many it sent again. */
static int assert_kept_office(int l, int nl, int64_t since)
{
	ck_assert_msg(nl == l, "d%d lost its office to d%d; see %s", l, nl, I[l].log);
	ck_assert_msg(logged_ms(l, "ha.step_down", since, true) == 0, "d%d stepped down; see %s", l,
		      I[l].log);
	char *text = th_read_file(I[l].log, NULL);
	int retries = 0;
	for (const char *p = text; p && (p = strstr(p, "\"event\":\"ha.write_retry\"")); p++)
		retries++;
	free(text);
	ck_assert_msg(retries > 0, "d%d never lost a write; see %s", l, I[l].log);
	return retries;
}

/*
 * Issue 12's promise: the loss of any one drorchd or etcd member at any
 * moment of a failover (and of the leader's links to all etcd members but
 * one: it keeps its office, sending its lost writes again).  The primary site is killed under write load; once
 * the leader's failover is in the case's state (its steps are slowed:
 * DRORCH_TEST_STEP_MS), the case's victim is killed -9.  The failover must
 * finish exactly once: one failover run, succeeded, one epoch bump, etcd's
 * P/cluster saying the same, every acknowledged write on the new primary,
 * every copy equal to the leader's and verified.  A killed instance or
 * member is started again first and must catch up.
 */
START_TEST(test_one_process_lost_mid_failover_it_finishes_once)
{
	int k = _i;
	int l = leader(), obs = (l + 2) % NINST;  /* never the follower killed */
	observe_from(obs);
	long long epoch = tl_status_epoch(&L);
	struct tl_writers ws;
	tl_writers_start(&L, &ws);
	time_sleep_ms(500);
	ck_assert_int_ne(th_kill(L.site[0].pid, SIGKILL, 5000), -1);
	ck_assert_msg(wait_failover_state(l, epoch, mid_failover[k].state),
		      "the failover never showed %s; see %s", mid_failover[k].state, I[l].log);
	char who[64];
	int64_t killed = (int64_t)time_wall_ms();
	kill_victim(k, l, who, sizeof(who));
	const char *np = tl_wait_failover_from(&L, L.names[0], 30000);
	ck_assert_msg(np, "the failover did not finish after %s died in %s; see %s", who,
		      mid_failover[k].state, I[obs].log);
	time_sleep_ms(300);
	int acked = tl_writers_stop(&ws);
	ck_assert_int_gt(acked, 0);
	tl_writers_check_on(&ws, tl_site_named(&L, np));
	if (mid_failover[k].victim == V_LEADER_LINKS) {
		int retries = assert_kept_office(l, leader(), killed);
		fprintf(stderr, "check_ha: d%d kept its office, %d log writes sent again\n", l,
			retries);
		cut_links(l, E.n - 1, false);
	}
	/* What died comes back, and catches up. */
	for (int i = 0; i < NINST; i++)
		if (I[i].pid <= 0 && i != l)
			inst_start(i);
	for (int m = 0; m < E.n; m++)
		if (E.m[m].pid <= 0)
			ck_assert(th_etcd_start_member(&E, m));
	/* One failover run, succeeded, one epoch bump. */
	int nl = wait_leader(-1, 5000);
	ck_assert_int_ge(nl, 0);
	json_t *runs = runs_of_kind(nl, "failover");
	ck_assert_int_eq(json_array_size(runs), 1);
	json_t *st = tl_wait_cluster(&L, NULL, np, NULL, 5000);
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(runs, 0), "outcome")),
			 "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(st, "epoch")), epoch + 1);
	json_decref(st);
	json_decref(runs);
	/* etcd's P/cluster says what the status says. */
	struct etcd *e = NULL;
	char err[512];
	ck_assert_msg(etcd_open(&e, E.endpoints, E.n, 2000, err, sizeof(err)) == 0, "%s", err);
	struct etcd_kvs kvs = { 0 };
	ck_assert_msg(etcd_range(e, "/drorch/check/cluster", NULL, 1, &kvs, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(kvs.n, 1);
	json_t *row = json_loadb(kvs.kv[0].value, kvs.kv[0].value_len, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(row, "primary")), np);
	ck_assert_int_eq(json_integer_value(json_object_get(row, "epoch")), epoch + 1);
	json_decref(row);
	etcd_kvs_free(&kvs);
	etcd_close(e);
	fprintf(stderr, "check_ha: %s killed in %s, d%d leads: %s primary, %d writes acknowledged,"
		" none lost\n", who, mid_failover[k].state, nl, np, acked);
	assert_copies_equal(nl);
}
END_TEST

START_TEST(test_leader_cut_off_from_etcd_stops_acting)
{
	int l = leader(), obs = (l + 1) % NINST;
	observe_from(obs);
	long long epoch = tl_status_epoch(&L);
	int64_t cut = (int64_t)time_wall_ms();
	cut_from_etcd(l, true);
	/* A change asked of it now cannot reach the log: 503 (no leader, ask
	 * again), not a server error. */
	static const char policy[] = "{\"name\":\"test\",\"failover\":{\"anti_flap_s\":0}}";
	char url[128], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/policy", I[l].url);
	long answered = th_http("PUT", url, OP_TOKEN, policy, strlen(policy), &body, NULL);
	fprintf(stderr, "check_ha: PUT /v1/policy to d%d just cut off from etcd: %ld %s\n", l,
		answered, body);
	ck_assert_msg(answered == 503 && body && strstr(body, "no leader"), "a change asked of the "
		      "leader cut off from etcd: %ld %s", answered, body);
	free(body);
	int nl = wait_leader(l, TTL_MS + 5000);  /* leader() fails on two at once */
	ck_assert_msg(nl >= 0, "no instance took over; see %s", I[obs].log);
	time_sleep_ms(1000);
	/* The old leader stepped down before the new one took office, and sent
	 * no site command after the new leader's first. */
	int64_t down = logged_ms(l, "ha.step_down", cut, true);
	int64_t up = logged_ms(nl, "ha.leader", cut, true);
	int64_t last_old = logged_ms(l, "siteapi.sent", 0, false);
	int64_t first_new = logged_ms(nl, "siteapi.sent", cut, true);
	fprintf(stderr, "check_ha: d%d cut off from etcd at %lld: stepped down +%lld ms, d%d leads"
		" +%lld ms; old's last command +%lld ms, new's first +%lld ms\n", l, (long long)cut,
		(long long)(down - cut), nl, (long long)(up - cut), (long long)(last_old - cut),
		(long long)(first_new - cut));
	ck_assert_msg(down > 0 && up > down, "stepped down at %lld, new leader at %lld",
		      (long long)down, (long long)up);
	ck_assert_msg(first_new > 0 && last_old < first_new,
		      "the old leader sent a command at %lld, after the new one's first at %lld",
		      (long long)last_old, (long long)first_new);
	/* No failover for it; healed, the old leader follows. */
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 5000);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "epoch")), epoch);
	json_decref(st);
	cut_from_etcd(l, false);
	time_sleep_ms(TTL_MS);
	ck_assert_int_eq(leader(), nl);
	assert_copies_equal(nl);
}
END_TEST

START_TEST(test_etcd_quorum_lost_no_instance_acts_sites_serve)
{
	observe_from(leader());
	long long epoch = tl_status_epoch(&L);
	ck_assert(th_etcd_kill_member(&E, 1, SIGKILL));
	ck_assert(th_etcd_kill_member(&E, 2, SIGKILL));
	/* etcd's last member stays its leader for up to an election timeout
	 * (500 ms), renewing leases; a lease after that lasts lease_ttl_ms: by
	 * then every leader has self-fenced, and none takes over. */
	time_sleep_ms(TTL_MS + 1000);
	for (uint64_t end = time_mono_ms() + 1500; time_mono_ms() < end; time_sleep_ms(50))
		ck_assert_int_eq(leader(), -1);
	/* The sites keep serving in their roles: the primary takes writes. */
	char key[64];
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "noquorum-%d", k);
		ck_assert_int_eq(th_site_put(&L.site[0], key), 200);
		time_sleep_ms(50);
	}
	/* Quorum back: a leader resumes, nothing moved. */
	ck_assert(th_etcd_start_member(&E, 1));
	ck_assert(th_etcd_start_member(&E, 2));
	int nl = wait_leader(-1, 15000);
	ck_assert_int_ge(nl, 0);
	observe_from(nl);
	json_t *st = tl_wait_cluster(&L, "STEADY", L.names[0], NULL, 5000);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "epoch")), epoch);
	json_decref(st);
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "noquorum-%d", k);
		ck_assert(th_site_has(&L.site[1], key));
	}
}
END_TEST

/* A follower whose copy is lost rebuilds it from the log, equal to the
 * leader's. */
START_TEST(test_follower_copy_rebuilt_from_etcd_equals_the_leaders)
{
	int l = leader(), f = (l + 1) % NINST;
	observe_from(l);
	ck_assert_int_eq(tl_orch_post(&L, "/v1/switchover", "{\"to\":\"eu-west\"}"), 202);
	json_t *st = tl_wait_cluster(&L, "STEADY", "eu-west", NULL, 10000);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	inst_kill(f);
	const char *suffix[] = { "", "-wal", "-shm", ".head", ".key" };
	for (int k = 0; k < 5; k++) {
		char path[700];
		snprintf(path, sizeof(path), "%s%s", I[f].db, suffix[k]);
		unlink(path);
	}
	inst_start(f);
	assert_copies_equal(l);
}
END_TEST

/* A playbook run in flight when the leader dies is resumed by the next
 * leader at its step, and ends once. */
START_TEST(test_playbook_in_flight_is_resumed_by_the_next_leader)
{
	int l = leader(), obs = (l + 1) % NINST;
	observe_from(obs);
	const char *pb = "{\"playbook\": \"name: ha-resume\\nsteps:\\n"
			 "  - sleep: {ms: 3000}\\n"
			 "  - switchover: {to: eu-west, timeout_s: 30}\\n"
			 "  - wait: {state: STEADY, primary: eu-west, timeout_s: 30}\\n\"}";
	char url[160], *body = NULL;
	snprintf(url, sizeof(url), "%s/v1/playbooks/ha-resume/runs", I[l].url);
	ck_assert_int_eq(th_http("POST", url, OP_TOKEN, pb, strlen(pb), &body, NULL), 202);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	long long run = json_integer_value(json_object_get(j, "run"));
	json_decref(j);
	ck_assert_int_gt(run, 0);
	time_sleep_ms(1000);  /* in its sleep step */
	inst_kill(l);
	int nl = wait_leader(l, TTL_MS + 5000);
	ck_assert_int_ge(nl, 0);
	/* It ends succeeded, with one switchover. */
	bool done = false;
	json_t *r = NULL;
	snprintf(url, sizeof(url), "%s/v1/runs/%lld", I[obs].url, run);
	for (uint64_t end = time_mono_ms() + 30000; !done && time_mono_ms() < end; ) {
		json_decref(r);
		r = NULL;
		if (th_http("GET", url, NULL, NULL, 0, &body, NULL) == 200)
			r = json_loads(body, 0, NULL);
		free(body);
		body = NULL;
		const char *o = json_string_value(json_object_get(r, "outcome")) ?: "";
		done = strcmp(o, "running") != 0 && *o;
		if (!done)
			time_sleep_ms(100);
	}
	ck_assert_msg(done, "the playbook did not end; see %s", I[nl].log);
	ck_assert_str_eq(json_string_value(json_object_get(r, "outcome")), "succeeded");
	ck_assert_msg(json_array_size(json_object_get(json_object_get(r, "detail"), "resumed")) >= 1,
		      "the run does not say it was resumed");
	json_decref(r);
	json_t *sw = runs_of_kind(nl, "switchover");
	ck_assert_int_eq(json_array_size(sw), 1);
	json_decref(sw);
	assert_copies_equal(nl);
}
END_TEST

/* The leader killed and started again at once: until its old lease
 * expires, the leader key still names it.  The new run of it does not
 * lead on that key and does not send a client to itself: a command asked
 * of it is answered 503 (no leader) or 307 to another instance, never 307
 * to its own URL; then one instance leads. */
START_TEST(test_leader_restarted_within_its_lease_does_not_redirect_to_itself)
{
	int l = leader();
	ck_assert_int_ge(l, 0);
	inst_kill(l);
	inst_start(l);
	char url[128];
	snprintf(url, sizeof(url), "%s/v1/pause", I[l].url);
	int n503 = 0;
	for (uint64_t end = time_mono_ms() + TTL_MS; time_mono_ms() < end; time_sleep_ms(50)) {
		char *body = NULL;
		long st = th_http("POST", url, OP_TOKEN, "{}", 2, &body, NULL);
		ck_assert_msg(st != 307 || !strstr(body, I[l].url), "d%d sends the client to itself: %s",
			      l, body);
		n503 += st == 503;
		free(body);
		if (st != 503)
			break;
	}
	fprintf(stderr, "check_ha: d%d restarted within its lease: %d answers 503 (no leader)\n", l,
		n503);
	ck_assert_int_ge(wait_leader(-1, TTL_MS + 5000), 0);
}
END_TEST

static Suite *ha_suite(void)
{
	Suite *s = suite_create("ha");
	/* The mid-failover faults in two halves, each a case of its own. */
	const int nmid = (int)(sizeof(mid_failover) / sizeof(mid_failover[0]));
	TCase *tc = th_tcase(s, "mid-failover", 0, 120, setup, teardown);
	tcase_add_loop_test(tc, test_one_process_lost_mid_failover_it_finishes_once, 0, nmid / 2);
	tc = th_tcase(s, "mid-failover-2", 0, 120, setup, teardown);
	tcase_add_loop_test(tc, test_one_process_lost_mid_failover_it_finishes_once, nmid / 2, nmid);
	tc = th_tcase(s, "leadership", 0, 120, setup, teardown);
	tcase_add_test(tc, test_leader_killed_in_steady_a_follower_leads);
	tcase_add_test(tc, test_leader_cut_off_from_etcd_stops_acting);
	tcase_add_test(tc, test_etcd_quorum_lost_no_instance_acts_sites_serve);
	tcase_add_test(tc, test_follower_copy_rebuilt_from_etcd_equals_the_leaders);
	tcase_add_test(tc, test_playbook_in_flight_is_resumed_by_the_next_leader);
	tcase_add_test(tc, test_leader_restarted_within_its_lease_does_not_redirect_to_itself);
	return s;
}

/* Unless one case is asked for (CK_RUN_CASE), the three run at once, each
 * in its own etcd cluster and labs. */
int main(void)
{
	Suite *s = ha_suite();
	if (!getenv("CK_RUN_CASE"))
		return th_run_case_copies(s) ? EXIT_FAILURE : EXIT_SUCCESS;
	/* Failover steps slowed, so that a test can kill the leader in one. */
	setenv("DRORCH_TEST_STEP_MS", "300", 1);
	httpc_global_init();
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
