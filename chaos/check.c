/*
 * check.c — the invariants a trial is judged by, from drchaos's own records.
 *
 *   (a) sync: every acknowledged write is readable from the primary with its
 *       last acknowledged value (a later unacknowledged write's value is
 *       fine too, and an earlier one that never got an answer, if the
 *       primary's log wrote it after the acknowledged one).
 *   (b) async: every lost acknowledged write is attributed to a failover run
 *       (the first whose epoch is past the write's), and that run's
 *       rpo_records is not below what it lost.
 *   (c) one epoch, one site acknowledging; and no acknowledgement at an older
 *       epoch from a request that started after a newer epoch's first
 *       acknowledgement had ended.
 *   (d) the transition log is a path through drorchd's FSM table from its
 *       steady state, its hash chain is intact (drorchd --verify-audit), and
 *       it does not flood (a storm of transitions with nothing to show).
 *   (e) every rewind's quarantine file exists with the records its run step
 *       says, every quarantine file on disk is named by one, and (async)
 *       every lost acknowledged write not covered by (b) is in one.
 *   (f) every operator request was answered 2xx, or 4xx with a JSON
 *       {"error": ...}; no process reported a sanitizer error.
 *   (g) the cluster healed: STEADY with every replica streaming, in time.
 *   (h) HA only: no epoch was issued twice (each raised by one transition of
 *       the log, and every epoch a site reported is one the log raised);
 *       every live instance's copy of the transitions (seq, hash) is the
 *       same once settled; exactly one instance leads at the end; a leader
 *       stopped past its lease came back a follower and did not lead; no
 *       instance refused, or stopped applying, a store no fault touched.
 *
 * A loss is "lost" only when the read proves it: the key is missing, or
 * holds the value of a write that cannot have come after the acknowledged
 * one.  A sync loss the orchestrator itself counted (a failover whose
 * rpo_records covers it, which needs two sites out at once) and an operator
 * accepted (the election forced past its refusal) is reported as
 * sanctioned, not failed.  A loss is excused, and said so, only where
 * drchaos destroyed every copy the cluster can have held (storage faults on
 * the acknowledging site, and in sync mode on a second site too, after the
 * acknowledgement).
 */
#include "chaos.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVIDENCE_MAX 12
#define FLOOD_WINDOW_MS 10000
#define FLOOD_MAX 20
#define COPIES_SETTLE_MS 10000     /* (h): how long the copies may take to agree */
#define LEADER_SETTLE_MS 5000      /* (h): how long one leader may take to show */

enum inv { INV_A, INV_B, INV_C, INV_D, INV_E, INV_F, INV_G, INV_H, INV_N };

struct loss {
	const struct rec *acked;   /* the last acknowledged write of the key */
	long read_status;          /* what the read found */
	const struct rec *found;   /* the write whose value it found, or NULL */
	int64_t read_lsn;
	json_t *run;               /* the failover run it is attributed to (in runs_seen), or NULL */
	bool excused, sanctioned, quarantined;
};

struct checker {
	struct trial *t;
	struct chttp *c;
	bool failed[INV_N];
	int evidence[INV_N];
	struct rec *all;           /* every record, by writer, key, seq */
	size_t nall;
	struct loss *losses;
	size_t nlosses, caplosses;
	json_t *quarantined;       /* "key\tvalue" of every quarantined record -> 1 */
	json_t *named;             /* quarantine path -> records, from the runs' rewind steps */
	json_t *named_read;        /* quarantine path -> records it holds (-1: missing) */
	json_t *on_disk;           /* quarantine files no step names -> records (-1: unknowable) */
	char primary[LAB_NAME];
	int primary_site;
};

static const char inv_letter[INV_N] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' };

static void fail(struct checker *k, enum inv i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Marks invariant i failed and prints one line of evidence (up to a bound). */
static void fail(struct checker *k, enum inv i, const char *fmt, ...)
{
	k->failed[i] = true;
	if (++k->evidence[i] > EVIDENCE_MAX) {
		if (k->evidence[i] == EVIDENCE_MAX + 1)
			printf("  (%c) ... more evidence left out\n", inv_letter[i]);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	printf("  (%c) FAIL: ", inv_letter[i]);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void verdict_line(struct checker *k, enum inv i, const char *what, const char *detail)
{
	printf("check (%c) %s: %s%s%s\n", inv_letter[i], what, k->failed[i] ? "FAIL" : "PASS",
	       detail && *detail ? " -- " : "", detail ? detail : "");
}

static double sec(int64_t ns)
{
	return (double)ns / 1e9;
}

static const char *site_of(struct checker *k, int i)
{
	return i >= 0 && i < k->t->lab->nsites ? k->t->lab->sites[i].name : "?";
}

/* ==== the records ============================================================ */

static int by_key(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	if (x->writer != y->writer)
		return x->writer - y->writer;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int gather(struct checker *k)
{
	size_t n = 0;
	for (int w = 0; w < CHAOS_WRITERS; w++)
		n += k->t->recs[w].n;
	if (!(k->all = malloc((n ? n : 1) * sizeof(*k->all))))
		return -1;
	for (int w = 0; w < CHAOS_WRITERS; w++) {
		memcpy(k->all + k->nall, k->t->recs[w].v, k->t->recs[w].n * sizeof(*k->all));
		k->nall += k->t->recs[w].n;
	}
	qsort(k->all, k->nall, sizeof(*k->all), by_key);
	return 0;
}

/* true when site s was emptied by drchaos before this acknowledgement at
 * epoch 0: a new site is a standalone primary until drorchd gives it a role. */
static bool rebuilt_standalone(struct checker *k, const struct rec *r)
{
	double at = k->t->rebuilt_at_s[r->site];
	return r->epoch == 0 && at >= 0 && sec(r->t0_ns) >= at;
}

/* ==== (c) epochs ================================================================ */

struct epoch_first {
	int64_t epoch;
	const struct rec *first;   /* the acknowledgement that ended first */
	int sites;                 /* bit per site that acknowledged at this epoch */
	const struct rec *by_site[CHAOS_SITES];
};

static int by_epoch(const void *a, const void *b)
{
	const struct epoch_first *x = a, *y = b;
	return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

static struct epoch_first *epoch_table(struct checker *k, size_t *n)
{
	struct epoch_first *e = NULL;
	size_t ne = 0, cap = 0;
	for (size_t i = 0; i < k->nall; i++) {
		const struct rec *r = &k->all[i];
		if (r->status != 200 || rebuilt_standalone(k, r))
			continue;
		size_t j = 0;
		while (j < ne && e[j].epoch != r->epoch)
			j++;
		if (j == ne) {
			if (ne == cap) {
				cap = cap ? cap * 2 : 16;
				struct epoch_first *more = realloc(e, cap * sizeof(*e));
				if (!more)
					break;
				e = more;
			}
			e[ne++] = (struct epoch_first){ .epoch = r->epoch };
		}
		if (!e[j].first || r->t1_ns < e[j].first->t1_ns)
			e[j].first = r;
		if (!e[j].by_site[r->site] || r->t1_ns < e[j].by_site[r->site]->t1_ns)
			e[j].by_site[r->site] = r;
		e[j].sites |= 1 << r->site;
	}
	if (e)
		qsort(e, ne, sizeof(*e), by_epoch);
	*n = ne;
	return e;
}

static void check_epochs(struct checker *k)
{
	size_t ne;
	struct epoch_first *e = epoch_table(k, &ne);
	char key[48], key2[48];
	for (size_t j = 0; j < ne; j++) {
		if (__builtin_popcount((unsigned)e[j].sites) < 2)
			continue;
		char who[300] = "";
		for (int s = 0; s < CHAOS_SITES; s++)
			if (e[j].by_site[s]) {
				const struct rec *r = e[j].by_site[s];
				chaos_key_text(r->writer, r->key, key, sizeof(key));
				snprintf(who + strlen(who), sizeof(who) - strlen(who), "%s%s (first: %s lsn %"
					 PRId64 " at +%.3fs)", who[0] ? ", " : "", site_of(k, s), key, r->lsn,
					 sec(r->t1_ns));
			}
		fail(k, INV_C, "epoch %" PRId64 ": two sites acknowledged writes: %s", e[j].epoch, who);
	}
	/* newer[j]: the earliest-ending acknowledgement of any epoch after e[j] */
	const struct rec **newer = calloc(ne + 1, sizeof(*newer));
	for (size_t j = ne; newer && j-- > 0;)
		newer[j] = j + 1 < ne && (!newer[j + 1] || e[j + 1].first->t1_ns < newer[j + 1]->t1_ns)
			   ? e[j + 1].first : newer[j + 1];
	/* late[j][s]: site s's acknowledgements at e[j] that came too late */
	struct late {
		size_t n;
		const struct rec *first;   /* an example */
		int64_t lo, hi;            /* their LSNs */
		int64_t t_lo, t_hi;        /* their acknowledgement times */
	} *late = calloc(ne * CHAOS_SITES + 1, sizeof(*late));
	for (size_t i = 0; newer && late && i < k->nall; i++) {
		const struct rec *r = &k->all[i];
		if (r->status != 200 || rebuilt_standalone(k, r))
			continue;
		size_t j = 0;
		while (j < ne && e[j].epoch != r->epoch)
			j++;
		const struct rec *n = j < ne ? newer[j] : NULL;
		if (!n || r->t0_ns <= n->t1_ns)
			continue;
		struct late *l = &late[j * CHAOS_SITES + (size_t)r->site];
		if (!l->n++) {
			l->first = r;
			l->lo = l->hi = r->lsn;
			l->t_lo = l->t_hi = r->t1_ns;
		}
		l->t_lo = r->t1_ns < l->t_lo ? r->t1_ns : l->t_lo;
		l->t_hi = r->t1_ns > l->t_hi ? r->t1_ns : l->t_hi;
		l->lo = r->lsn < l->lo ? r->lsn : l->lo;
		l->hi = r->lsn > l->hi ? r->lsn : l->hi;
	}
	for (size_t j = 0; newer && late && j < ne; j++)
		for (int s = 0; s < CHAOS_SITES; s++) {
			const struct late *l = &late[j * CHAOS_SITES + (size_t)s];
			const struct rec *r = l->first, *n = newer[j];
			if (!l->n)
				continue;
			chaos_key_text(r->writer, r->key, key, sizeof(key));
			chaos_key_text(n->writer, n->key, key2, sizeof(key2));
			fail(k, INV_C, "%s acknowledged %zu writes at epoch %" PRId64 " (lsn %" PRId64 "..%"
			     PRId64 ", +%.3fs..+%.3fs) whose requests started after %s's first "
			     "acknowledgement at the newer epoch %" PRId64 " had ended (%s lsn %" PRId64
			     ", +%.3fs); e.g. %s, request +%.3fs..+%.3fs", site_of(k, s), l->n, r->epoch,
			     l->lo, l->hi, sec(l->t_lo), sec(l->t_hi), site_of(k, n->site),
			     n->epoch, key2, n->lsn, sec(n->t1_ns), key, sec(r->t0_ns), sec(r->t1_ns));
		}
	free(late);
	free(newer);
	free(e);
	char detail[64];
	snprintf(detail, sizeof(detail), "%zu epochs acknowledged", ne);
	verdict_line(k, INV_C, "one site per epoch, no acknowledgement from a deposed epoch", detail);
}

/* ==== reading back ============================================================== */

/* GET key from the primary, retried on a transport error. */
static long read_key(struct checker *k, const char *key, char *val, size_t vlen, size_t *got,
		     int64_t *lsn)
{
	char url[256];
	struct chttp_ans a = { 0 };
	snprintf(url, sizeof(url), "%s/v1/kv/%s", k->t->lab->sites[k->primary_site].url, key);
	long st = 0;
	for (int attempt = 0; attempt < 4 && !st; attempt++) {
		if (chttp_do(k->c, "GET", url, NULL, NULL, 0, 3000, &a) == 0)
			st = a.status;
		else
			chttp_ans_free(&a);
	}
	*got = 0;
	*lsn = a.lsn_header;
	if (st == 200 && a.body) {
		*got = a.len < vlen ? a.len : vlen;
		memcpy(val, a.body, *got);
	}
	chttp_ans_free(&a);
	return st;
}

static struct loss *add_loss(struct checker *k)
{
	if (k->nlosses == k->caplosses) {
		size_t cap = k->caplosses ? k->caplosses * 2 : 64;
		struct loss *v = realloc(k->losses, cap * sizeof(*v));
		if (!v)
			return NULL;
		k->losses = v;
		k->caplosses = cap;
	}
	struct loss *l = &k->losses[k->nlosses++];
	memset(l, 0, sizeof(*l));
	return l;
}

/* The records [from, to) of one key: judges what the primary holds. */
static void judge_key(struct checker *k, size_t from, size_t to, struct verdict *v)
{
	const struct rec *last = NULL;
	for (size_t i = from; i < to; i++)
		if (k->all[i].status == 200)
			last = &k->all[i];
	if (!last)
		return;
	v->keys_checked++;
	char key[48], val[256];
	size_t got;
	int64_t lsn;
	chaos_key_text(last->writer, last->key, key, sizeof(key));
	long st = read_key(k, key, val, sizeof(val), &got, &lsn);
	unsigned w;
	uint64_t seq;
	const struct rec *found = NULL;
	if (st == 200 && chaos_value_parse(val, got, &w, &seq) && w == last->writer)
		for (size_t i = from; i < to; i++)
			if (k->all[i].seq == seq)
				found = &k->all[i];
	if (found == last || (found && found->seq > last->seq) ||
	    (found && found->status == 0 && lsn > last->lsn))
		return;
	struct loss *l = add_loss(k);
	if (l)
		*l = (struct loss){ .acked = last, .read_status = st, .found = found, .read_lsn = lsn };
}

/* Every key's last acknowledged value, read from the primary. */
static int read_back(struct checker *k, struct verdict *v)
{
	for (size_t i = 0; i < k->nall;) {
		size_t j = i;
		while (j < k->nall && k->all[j].writer == k->all[i].writer && k->all[j].key == k->all[i].key)
			j++;
		judge_key(k, i, j, v);
		i = j;
	}
	return 0;
}

static void describe_loss(struct checker *k, const struct loss *l, char *out, size_t len)
{
	char key[48], found[160];
	const struct rec *a = l->acked;
	chaos_key_text(a->writer, a->key, key, sizeof(key));
	if (l->found)
		snprintf(found, sizeof(found), "the value of write #%" PRIu64 " (HTTP %d at +%.3fs, "
			 "X-Drorch-Lsn %" PRId64 ")", l->found->seq, l->found->status, sec(l->found->t1_ns),
			 l->read_lsn);
	else if (l->read_status == 200)
		snprintf(found, sizeof(found), "a value no writer wrote (X-Drorch-Lsn %" PRId64 ")",
			 l->read_lsn);
	else
		snprintf(found, sizeof(found), "HTTP %ld", l->read_status);
	snprintf(out, len, "%s: write #%" PRIu64 " acknowledged by %s at epoch %" PRId64 " lsn %" PRId64
		 " (request +%.3fs..+%.3fs); %s reads %s", key, a->seq, site_of(k, a->site), a->epoch,
		 a->lsn, sec(a->t0_ns), sec(a->t1_ns), k->primary, found);
}

/* ==== runs, attribution, excuses ======================================================= */

/* The epoch a run moved the cluster to: the newest of its transitions'
 * (a failover's run starts at the new epoch, a switchover's before it). */
static int64_t run_new_epoch(json_t *run)
{
	int64_t e = json_integer_value(json_object_get(run, "epoch"));
	size_t i;
	json_t *tr;
	json_array_foreach(json_object_get(run, "transitions"), i, tr)
		if (json_integer_value(json_object_get(tr, "epoch")) > e)
			e = json_integer_value(json_object_get(tr, "epoch"));
	return e;
}

/* A run that may move the primary role: a rolling upgrade does, by its
 * switchover, within its own run (the state machine's UPGRADING). */
static bool recovery_kind(json_t *run)
{
	const char *kind = json_string_value(json_object_get(run, "kind")) ?: "";
	return !strcmp(kind, "failover") || !strcmp(kind, "switchover") ||
	       !strcmp(kind, "failback") || !strcmp(kind, "upgrade");
}

/*
 * The recovery that ended epoch e on site `site`: the failover, switchover
 * and failback runs (of every store generation seen) from the first whose
 * new epoch is above e up to the first of them that succeeded (a failover
 * HELD and then forced by an operator is two runs).  One of them must have
 * moved the primary role away from site: a site that acknowledged at an
 * epoch it was not the primary of has no run to answer for it.  Returns
 * the run that bounds the group (NULL: none; a run, not an id: ids repeat
 * across store generations, seed 98904) and, in *rpo, the most records
 * any run of the group reported losing.
 */
static json_t *recovery_after(struct checker *k, int64_t e, const char *site, long long *rpo)
{
	int64_t end = INT64_MAX, first = INT64_MAX;
	const char *key;
	json_t *run;
	json_object_foreach(k->t->runs_seen, key, run) {
		int64_t ne = run_new_epoch(run);
		const char *outcome = json_string_value(json_object_get(run, "outcome")) ?: "";
		if (recovery_kind(run) && ne > e && ne < end && !strcmp(outcome, "succeeded"))
			end = ne;
		if (recovery_kind(run) && ne > e && ne < first)
			first = ne;
	}
	json_t *id = NULL;
	long long best = -1;
	bool from_site = false;
	/* A rewind of that site at a newer epoch counts what it moved off it,
	 * whichever run records it: one of its own, or the newest failover
	 * when the one that ended epoch e was lost with the store's history. */
	json_object_foreach(k->t->runs_seen, key, run) {
		json_t *r = json_object_get(run, "rpo_records");
		if (!strcmp(json_string_value(json_object_get(run, "kind")) ?: "", "rewind") &&
		    !strcmp(json_string_value(json_object_get(run, "from_site")) ?: "", site) &&
		    json_integer_value(json_object_get(run, "epoch")) > e && json_is_integer(r) &&
		    json_integer_value(r) > best) {
			best = json_integer_value(r);
			id = run;
		}
		size_t i;
		json_t *st;
		json_array_foreach(json_object_get(run, "steps"), i, st) {
			json_t *d = json_object_get(st, "detail");
			json_int_t n = json_integer_value(json_object_get(d, "records"));
			/* ... or of any site, when it names records of epoch e as
			 * what it removed first (from_epoch; seed 71005) */
			bool ours = !strcmp(json_string_value(json_object_get(d, "site")) ?: "", site) ||
				    json_integer_value(json_object_get(d, "from_epoch")) == e;
			if (!strcmp(json_string_value(json_object_get(st, "name")) ?: "", "rewind") &&
			    ours && json_integer_value(json_object_get(d, "epoch")) > e && n > best) {
				best = n;
				id = run;
			}
		}
	}
	if (first != e + 1) {  /* no run ended epoch e: a standalone site's epoch 0, or lost */
		*rpo = best < 0 ? 0 : best;
		return id;
	}
	json_t *rewind_id = id;
	id = NULL;
	json_object_foreach(k->t->runs_seen, key, run) {
		int64_t ne = run_new_epoch(run);
		if (!recovery_kind(run) || ne <= e || ne > end)
			continue;
		json_t *r = json_object_get(run, "rpo_records");
		long long records = json_is_integer(r) ? json_integer_value(r) : 0;
		best = records > best ? records : best;
		/* An R02 failover names no old primary: it may be any site. */
		const char *from = json_string_value(json_object_get(run, "from_site")) ?: "";
		from_site |= !*from || !strcmp(from, site);
		if (ne == end || !id)
			id = run;
	}
	*rpo = best < 0 ? 0 : best;
	return from_site ? id : rewind_id;
}

/* Did drchaos destroy every copy of write a?  The sites seen holding it
 * (drorchd's monitor view of flushed_lsn at its epoch, and the site that
 * acknowledged it) must all have had their data destroyed after it, and in
 * sync mode at least two sites. */
static bool every_copy_destroyed(struct checker *k, const struct rec *a)
{
	struct trial *t = k->t;
	bool destroyed[CHAOS_SITES] = { false }, holder[CHAOS_SITES] = { false };
	int ndestroyed = 0;
	json_t *held = t->held;
	for (int i = 0; i < t->ndestroyed; i++)
		if (t->destroyed[i].at_ns > a->t1_ns && !destroyed[t->destroyed[i].site]) {
			destroyed[t->destroyed[i].site] = true;
			ndestroyed++;
			/* Async: what the others held before the acknowledging site lost
			 * it (a site back without its tail may reissue those LSNs at the
			 * same epoch, and others then hold the new records: seed 30024). */
			if (t->async && t->destroyed[i].site == a->site && t->destroyed[i].held_before &&
			    held == t->held)
				held = t->destroyed[i].held_before;
		}
	holder[a->site] = true;
	char epoch[32];
	snprintf(epoch, sizeof(epoch), "%" PRId64, a->epoch);
	for (int s = 0; s < t->lab->nsites; s++) {
		json_t *h = json_object_get(json_object_get(held, t->lab->sites[s].name), epoch);
		if (json_integer_value(h) >= a->lsn)
			holder[s] = true;
	}
	for (int s = 0; s < t->lab->nsites; s++)
		if (holder[s] && !destroyed[s])
			return false;
	return ndestroyed >= (t->async ? 1 : 2);
}

/* Whether an operator forced run's election past a refusal (its elect
 * step says "forced"): the one way a sync loss is sanctioned. */
static bool run_forced(json_t *run)
{
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(run, "steps"), i, st)
		if (!strcmp(json_string_value(json_object_get(st, "name")) ?: "", "elect") &&
		    json_is_true(json_object_get(json_object_get(st, "detail"), "forced")))
			return true;
	return false;
}

/* A run's id, as drorchd numbers them (a store generation's own). */
static long long run_id(json_t *run)
{
	return json_integer_value(json_object_get(run, "id"));
}

/* The site a run elected and the flushed LSN it testified to, from its
 * elect step (false when it elected none). */
static bool run_elected(json_t *run, const char **site, int64_t *flushed)
{
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(run, "steps"), i, st) {
		json_t *d = json_object_get(st, "detail");
		const char *c = json_string_value(json_object_get(d, "candidate"));
		if (strcmp(json_string_value(json_object_get(st, "name")) ?: "", "elect") || !c)
			continue;
		*site = c;
		*flushed = json_integer_value(json_object_get(json_object_get(d, c), "flushed_lsn"));
		return true;
	}
	return false;
}

/* A write the run that ended its epoch carried over (the site it elected
 * held its LSN) was lost by a later run, from that site: follows it there
 * (seed 31003: epoch 1's writes went to eu-west at epoch 2, and were lost
 * when eu-west, damaged, was failed over in turn). */
static void carry(struct checker *k, struct loss *l, const char **from, long long *rpo)
{
	for (int hop = 0; l->run && hop < 8; hop++) {
		json_t *found = NULL, *run;
		const char *key, *site = NULL;
		int64_t flushed = 0;
		json_object_foreach(k->t->runs_seen, key, run)
			if (run == l->run && run_elected(run, &site, &flushed) &&
			    flushed >= l->acked->lsn)
				found = run;
		if (!found)
			return;
		long long next_rpo = 0;
		json_t *next = recovery_after(k, run_new_epoch(found), site, &next_rpo);
		if (!next || next == l->run)
			return;
		l->run = next;
		*rpo = next_rpo;
		*from = site;
	}
}

/* Attributes every loss to a run, checks the runs' rpo_records. */
static void attribute(struct checker *k)
{
	struct {
		json_t *run;
		long long rpo, lost;
		const char *from;
	} per[64];
	memset(per, 0, sizeof(per));
	int nper = 0;
	for (size_t i = 0; i < k->nlosses; i++) {
		struct loss *l = &k->losses[i];
		char key[48], val[128], note[200];
		chaos_key_text(l->acked->writer, l->acked->key, key, sizeof(key));
		chaos_value_text(l->acked->writer, l->acked->seq, val, sizeof(val));
		snprintf(note, sizeof(note), "%s\t%s", key, val);
		/* a rewind quarantined it: a copy survived on a site drchaos spared */
		l->quarantined = json_object_get(k->quarantined, note) != NULL;
		l->excused = !l->quarantined && every_copy_destroyed(k, l->acked);
		if (l->excused || rebuilt_standalone(k, l->acked))
			continue;
		long long rpo = 0;
		const char *from = site_of(k, l->acked->site);
		l->run = recovery_after(k, l->acked->epoch, from, &rpo);
		carry(k, l, &from, &rpo);
		if (!l->run)
			continue;
		int j = 0;
		while (j < nper && per[j].run != l->run)
			j++;
		if (j == nper && nper < 64)
			per[nper++] = (typeof(per[0])){ l->run, rpo, 0, from };
		if (j < nper)
			per[j].lost++;
	}
	for (size_t i = 0; i < k->nlosses; i++) {
		struct loss *l = &k->losses[i];
		for (int j = 0; l->run && j < nper; j++)
			if (per[j].run == l->run)
				l->sanctioned = per[j].lost <= per[j].rpo &&
						(k->t->async || run_forced(l->run));
	}
	for (int j = 0; j < nper; j++)
		printf("  run %lld (to epoch %" PRId64 ", the recovery from %s, rpo_records %lld): %lld "
		       "acknowledged writes it answers for are lost%s\n", run_id(per[j].run),
		       run_new_epoch(per[j].run), per[j].from, per[j].rpo, per[j].lost,
		       per[j].lost <= per[j].rpo ? "" : " -- more than it reported");
}

/* ==== (a), (b) ============================================================================ */

/* What a loss is, once attributed. */
enum loss_kind { LK_STANDALONE, LK_EXCUSED, LK_SANCTIONED, LK_LOST, LK_NO_RUN, LK_BEYOND_RPO, LK_N };

static enum loss_kind loss_kind(struct checker *k, const struct loss *l)
{
	if (rebuilt_standalone(k, l->acked))
		return LK_STANDALONE;
	if (l->excused)
		return LK_EXCUSED;
	if (l->sanctioned)
		return LK_SANCTIONED;
	if (!k->t->async)
		return LK_LOST;
	return l->run ? LK_BEYOND_RPO : LK_NO_RUN;
}

/* One group of losses: the same kind, acknowledging site and epoch. */
struct loss_group {
	enum loss_kind kind;
	int site;
	int64_t epoch;
	size_t n, quarantined;
	const struct loss *first, *second;     /* examples */
	int64_t lo, hi, t_lo, t_hi;            /* LSNs, acknowledgement times */
};

static void report_group(struct checker *k, const struct loss_group *g)
{
	static const char *const what[LK_N] = {
		"excused (a site drchaos emptied is a standalone primary until drorchd gives it a role)",
		"excused (drchaos destroyed every copy the cluster can have held)",
		"sanctioned (counted by the failover run's rpo_records, within the policy's RPO; "
		"in sync mode, forced by an operator)",
		"lost", "lost, and no failover run from that site after that epoch counts them",
		"lost beyond the rpo_records of the run that ended that epoch",
	};
	char ex1[600], ex2[600] = "", head[300];
	describe_loss(k, g->first, ex1, sizeof(ex1));
	if (g->second)
		describe_loss(k, g->second, ex2, sizeof(ex2));
	snprintf(head, sizeof(head), "%zu acknowledged by %s at epoch %" PRId64 " (lsn %" PRId64 "..%"
		 PRId64 ", acknowledged +%.3fs..+%.3fs) %s", g->n, site_of(k, g->site), g->epoch,
		 g->lo, g->hi, sec(g->t_lo), sec(g->t_hi), what[g->kind]);
	if (g->first->run)
		snprintf(head + strlen(head), sizeof(head) - strlen(head), " (run %lld)",
			 run_id(g->first->run));
	if (g->quarantined)
		snprintf(head + strlen(head), sizeof(head) - strlen(head), "; %zu of them are in a rewind's "
			 "quarantine file", g->quarantined);
	if (g->kind == LK_STANDALONE || g->kind == LK_EXCUSED || g->kind == LK_SANCTIONED)
		printf("  %s; e.g. %s\n", head, ex1);
	else
		fail(k, k->t->async ? INV_B : INV_A, "%s; e.g. %s%s%s", head, ex1, ex2[0] ? "; " : "", ex2);
}

static void check_losses(struct checker *k, struct verdict *v)
{
	char detail[128];
	struct loss_group g[64];
	int ng = 0;
	attribute(k);
	for (size_t i = 0; i < k->nlosses; i++) {
		const struct loss *l = &k->losses[i];
		enum loss_kind kind = loss_kind(k, l);
		v->lost++;
		v->sanctioned += kind == LK_SANCTIONED;
		int j = 0;
		while (j < ng && (g[j].kind != kind || g[j].site != l->acked->site ||
				  g[j].epoch != l->acked->epoch))
			j++;
		const struct rec *a = l->acked;
		if (j == ng && ng < 64)
			g[ng++] = (struct loss_group){ kind, a->site, a->epoch, 0, 0, l, NULL, a->lsn, a->lsn,
						       a->t1_ns, a->t1_ns };
		if (j == ng)
			continue;
		g[j].quarantined += l->quarantined;
		if (g[j].n++ == 1)
			g[j].second = l;
		g[j].lo = a->lsn < g[j].lo ? a->lsn : g[j].lo;
		g[j].hi = a->lsn > g[j].hi ? a->lsn : g[j].hi;
		g[j].t_lo = a->t1_ns < g[j].t_lo ? a->t1_ns : g[j].t_lo;
		g[j].t_hi = a->t1_ns > g[j].t_hi ? a->t1_ns : g[j].t_hi;
	}
	for (int j = 0; j < ng; j++)
		report_group(k, &g[j]);
	snprintf(detail, sizeof(detail), "%zu keys read from %s, %zu lost (%zu counted by a run)",
		 v->keys_checked, k->primary, v->lost, v->sanctioned);
	if (!k->t->async)
		verdict_line(k, INV_A, "every acknowledged write readable with its last value", detail);
	else
		verdict_line(k, INV_B, "every async loss counted by a failover run's RPO", detail);
}

/* ==== (d) the audit ========================================================================= */

/* From any instance, the leader first (orchs.c). */
static json_t *orch_get(struct checker *k, const char *path)
{
	return chaos_orch_get(k->t, k->c, path, 10000, NULL);
}

static bool orch_alive(struct checker *k, int i)
{
	const struct lab_proc *p = lab_orch_proc(k->t->lab, i);
	return p && lab_proc_alive(p);
}

static bool table_has(json_t *rows, const char *from, const char *event, const char *id, const char *to)
{
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
		if (!strcmp(json_string_value(json_object_get(r, "id")) ?: "", id) &&
		    !strcmp(json_string_value(json_object_get(r, "from")) ?: "", from) &&
		    !strcmp(json_string_value(json_object_get(r, "event")) ?: "", event) &&
		    !strcmp(json_string_value(json_object_get(r, "to")) ?: "", to))
			return true;
	return false;
}

/*
 * A flood: one row of the table firing again and again with nothing to
 * show for it (detection that starts and stops every heartbeat).  The most
 * times any one row fired within FLOOD_WINDOW_MS, which row, and the seq
 * where that window starts.  A failover fires each of its rows once; a
 * fault makes a health row fire once or twice.
 */
static size_t busiest_row(json_t *tr, char *row, size_t rowlen, long long *at_seq)
{
	size_t best = 0, n = json_array_size(tr);
	json_t *seen = json_object();   /* row id -> [index of each firing] */
	for (size_t i = 0; seen && i < n; i++) {
		json_t *t = json_array_get(tr, i);
		const char *id = json_string_value(json_object_get(t, "row_id")) ?: "(none)";
		json_t *list = json_object_get(seen, id);
		if (!list) {
			list = json_array();
			json_object_set_new(seen, id, list);
		}
		json_array_append_new(list, json_integer((json_int_t)i));
	}
	const char *id;
	json_t *list;
	json_object_foreach(seen, id, list) {
		size_t lo = 0, m = json_array_size(list);
		for (size_t hi = 0; hi < m; hi++) {
			json_t *th = json_array_get(tr, (size_t)json_integer_value(json_array_get(list, hi)));
			long long t_hi = json_integer_value(json_object_get(th, "ts_ms"));
			while (t_hi - json_integer_value(json_object_get(json_array_get(tr,
			       (size_t)json_integer_value(json_array_get(list, lo))), "ts_ms")) > FLOOD_WINDOW_MS)
				lo++;
			if (hi - lo + 1 > best) {
				best = hi - lo + 1;
				snprintf(row, rowlen, "%s", id);
				*at_seq = json_integer_value(json_object_get(json_array_get(tr,
					  (size_t)json_integer_value(json_array_get(list, lo))), "seq"));
			}
		}
	}
	json_decref(seen);
	return best;
}

static void check_audit(struct checker *k)
{
	json_t *fsm = orch_get(k, "/v1/fsm"), *tj = orch_get(k, "/v1/transitions");
	json_t *rows = json_object_get(fsm, "rows"), *tr = json_object_get(tj, "transitions");
	const char *steady = json_string_value(json_object_get(fsm, "steady"));
	char detail[200] = "", out[512];
	if (!fsm || !tj || !steady) {
		fail(k, INV_D, "cannot read GET /v1/fsm and /v1/transitions from drorchd");
	} else {
		const char *prev = steady;
		size_t i;
		json_t *r;
		json_array_foreach(tr, i, r) {
			const char *from = json_string_value(json_object_get(r, "from_state")) ?: "";
			const char *to = json_string_value(json_object_get(r, "to_state")) ?: "";
			const char *ev = json_string_value(json_object_get(r, "event")) ?: "";
			const char *id = json_string_value(json_object_get(r, "row_id")) ?: "(none)";
			long long seq = json_integer_value(json_object_get(r, "seq"));
			if (strcmp(from, prev))
				fail(k, INV_D, "transition %lld starts from %s, but the previous one ended in %s",
				     seq, from, prev);
			if (!table_has(rows, from, ev, id, to))
				fail(k, INV_D, "transition %lld (%s --%s/%s--> %s) is no row of the FSM table",
				     seq, from, ev, id, to);
			prev = to;
		}
		long long at = 0;
		char row[64] = "";
		size_t busiest = busiest_row(tr, row, sizeof(row), &at);
		if (busiest > FLOOD_MAX)
			fail(k, INV_D, "the audit floods: row %s fired %zu times within %d s from seq %lld "
			     "(%zu transitions in all)", row, busiest, FLOOD_WINDOW_MS / 1000, at,
			     json_array_size(tr));
		snprintf(detail, sizeof(detail), "%zu transitions; the most one row fired in %d s: %zu (%s)",
			 json_array_size(tr), FLOOD_WINDOW_MS / 1000, busiest, row[0] ? row : "-");
	}
	/* every instance's copy: the one drorchd's store, or each live HA copy */
	for (int i = 0; i < k->t->lab->norchs; i++) {
		const char *name = chaos_orch_name(k->t, i);
		if (k->t->ha && !orch_alive(k, i))
			continue;
		int rc = chaos_verify_audit(k->t, i, out, sizeof(out));
		if (rc != 0 && k->t->db_damaged_at_s[i] >= 0)
			printf("  (d) not judged: %s --verify-audit exit %d (%s), but drchaos damaged a page "
			       "of this store at +%.2fs\n", name, rc, out, k->t->db_damaged_at_s[i]);
		else if (rc != 0)
			fail(k, INV_D, "%s --verify-audit: exit %d: %s", name, rc, out);
	}
	verdict_line(k, INV_D, "the audit is a path through the FSM, its chain intact", detail);
	json_decref(fsm);
	json_decref(tj);
}

/* ==== (e) quarantine ======================================================================== */

static int b64_value(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
	       : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 into out; the decoded length, or -1. */
static long b64_decode(const char *in, unsigned char *out, size_t cap)
{
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	for (; *in && *in != '='; in++) {
		int v = b64_value((unsigned char)*in);
		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)n;
}

/* Reads a quarantine file: its record count, each "key\tvalue" noted. */
static long read_quarantine(struct checker *k, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[8192];
	long n = 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *key = json_string_value(json_object_get(j, "key"));
		const char *value = json_string_value(json_object_get(j, "value"));
		unsigned char raw[512];
		long len = value ? b64_decode(value, raw, sizeof(raw)) : -1;
		if (key && len >= 0) {
			char note[700];
			snprintf(note, sizeof(note), "%s\t%.*s", key, (int)len, (const char *)raw);
			json_object_set_new(k->quarantined, note, json_true());
		}
		n += j != NULL;
		json_decref(j);
	}
	fclose(f);
	return n;
}

/* Every rewind step of every run seen: path -> records. */
static void collect_named(struct checker *k)
{
	const char *key;
	json_t *run;
	json_object_foreach(k->t->runs_seen, key, run) {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(run, "steps"), i, s) {
			json_t *d = json_object_get(s, "detail");
			const char *path = json_string_value(json_object_get(d, "quarantine"));
			if (strcmp(json_string_value(json_object_get(s, "name")) ?: "", "rewind") || !path)
				continue;
			json_object_set(k->named, path, json_object_get(d, "records"));
		}
	}
}

/* true when a rewind at wall-clock at_ms may have been recorded in a store
 * that drchaos moved aside before the monitor saw it. */
static bool near_store_reset(const struct trial *t, double at_ms)
{
	for (int i = 0; i < t->ndb_resets; i++)
		if (at_ms <= t->db_reset_at_ms[i] && t->db_reset_at_ms[i] - at_ms < 5000)
			return true;
	return false;
}

/*
 * Reads every quarantine file before the losses are judged: those the
 * audit's rewind steps name (k->named: path -> records the step says) and
 * those in the sites' data directories (k->on_disk: path -> records it
 * holds; -1 when it is not judged: no site ever reported that rewind
 * complete (one that crashed before removing anything leaves its file
 * behind and is done again), or its step may have been recorded in a
 * store drchaos moved aside).
 */
static void load_quarantine(struct checker *k)
{
	collect_named(k);
	const char *path;
	json_t *records;
	json_object_foreach(k->named, path, records)
		json_object_set_new(k->named_read, path, json_integer(read_quarantine(k, path)));
	for (int s = 0; s < k->t->lab->nsites; s++) {
		char dir[LAB_PATH + 32], file[LAB_PATH + 300];
		snprintf(dir, sizeof(dir), "%s/quarantine", k->t->lab->sites[s].data);
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l < 6 || strcmp(e->d_name + l - 6, ".jsonl"))
				continue;
			snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
			if (json_object_get(k->named, file))
				continue;
			json_t *done = json_object_get(k->t->rewinds_seen, file);
			long n = read_quarantine(k, file);
			bool unknowable = !done ||
					  near_store_reset(k->t, json_number_value(json_object_get(done, "at_ms")));
			if (!done)
				printf("  (e) not judged: %s (%ld records) was left by a rewind no site reported "
				       "complete\n", file, n);
			json_object_set_new(k->on_disk, file, json_integer(unknowable ? -1 : n));
		}
		if (d)
			closedir(d);
	}
}

static void check_quarantine(struct checker *k)
{
	const char *path;
	json_t *records;
	json_object_foreach(k->named, path, records) {
		long n = (long)json_integer_value(json_object_get(k->named_read, path));
		if (n < 0)
			fail(k, INV_E, "the audit names quarantine file %s (%" JSON_INTEGER_FORMAT " records): "
			     "it does not exist", path, json_integer_value(records));
		else if (n != json_integer_value(records))
			fail(k, INV_E, "quarantine file %s holds %ld records, the audit says %"
			     JSON_INTEGER_FORMAT, path, n, json_integer_value(records));
	}
	json_object_foreach(k->on_disk, path, records)
		if (json_integer_value(records) >= 0)
			fail(k, INV_E, "a rewind quarantined %" JSON_INTEGER_FORMAT " records in %s, and no run "
			     "of the audit names it", json_integer_value(records), path);
	size_t uncovered = 0;
	const struct loss *ex = NULL;
	for (size_t i = 0; k->t->async && i < k->nlosses; i++) {
		const struct loss *l = &k->losses[i];
		if (!l->quarantined && !l->excused && !l->sanctioned && !rebuilt_standalone(k, l->acked) &&
		    !uncovered++)
			ex = l;
	}
	if (ex) {
		char line[600];
		describe_loss(k, ex, line, sizeof(line));
		fail(k, INV_E, "%zu lost acknowledged writes are counted by no run and in no quarantine "
		     "file; e.g. %s", uncovered, line);
	}
	char detail[64];
	snprintf(detail, sizeof(detail), "%zu quarantine files named by the audit",
		 json_object_size(k->named));
	verdict_line(k, INV_E, "what a rewind removed is in a quarantine file the audit names", detail);
}

/* ==== (f) answers, sanitizers =================================================================== */

static void scan_log(struct checker *k, const char *path, const char *name)
{
	static const char *const needles[] = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
					       "runtime error:", "ThreadSanitizer", NULL };
	FILE *f = fopen(path, "r");
	char line[4096];
	while (f && fgets(line, sizeof(line), f))
		for (int i = 0; needles[i]; i++)
			if (strstr(line, needles[i])) {
				line[strcspn(line, "\n")] = '\0';
				fail(k, INV_F, "%s reported: %.300s (%s)", name, line, path);
				break;
			}
	if (f)
		fclose(f);
}

static void check_answers(struct checker *k)
{
	size_t bad = 0, excused = 0, no_leader = 0;
	for (int i = 0; i < k->t->nops; i++) {
		const struct opans *o = &k->t->ops[i];
		no_leader += o->no_leader;
		if (o->bad && o->excused) {
			excused++;
			printf("  (f) not judged (drchaos damaged the store): %s in %s -> %ld %s\n", o->what,
			       o->state, o->status, o->answer);
		} else if (o->bad) {
			bad++;
			fail(k, INV_F, "+%.2fs %s in state %s -> %ld %s", o->at_s, o->what, o->state,
			     o->status, o->answer);
		}
	}
	for (int i = 0; i < k->t->lab->nprocs; i++)
		scan_log(k, k->t->lab->procs[i].log, k->t->lab->procs[i].name);
	char detail[160];
	snprintf(detail, sizeof(detail), "%d operator requests, %zu bad answers%s", k->t->nops, bad,
		 excused ? " (and some on a damaged store)" : "");
	if (no_leader)
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "; %zu answered 503 "
			 "while no drorchd instance led", no_leader);
	verdict_line(k, INV_F, "operators get 2xx or a 4xx JSON error; no sanitizer report", detail);
}

/* ==== (h) HA: one leader, equal copies, each epoch issued once ================================ */

/* Instance i's copy of the transitions as "seq:hash,..." (malloc'd), and
 * the rows in *rows (caller decrefs) when asked; NULL when it does not
 * answer. */
static char *copy_of(struct checker *k, int i, json_t **rows)
{
	char url[256];
	struct chttp_ans a;
	snprintf(url, sizeof(url), "%s/v1/transitions", k->t->lab->urls[i]);
	json_t *j = chttp_do(k->c, "GET", url, NULL, NULL, 0, 10000, &a) == 0 && a.status == 200 &&
		    a.body ? json_loads(a.body, 0, NULL) : NULL;
	chttp_ans_free(&a);
	json_t *tr = json_object_get(j, "transitions");
	char *text = NULL;
	size_t len = 0;
	FILE *f = j ? open_memstream(&text, &len) : NULL;
	size_t n;
	json_t *r;
	json_array_foreach(tr, n, r)
		if (f)
			fprintf(f, "%" JSON_INTEGER_FORMAT ":%s,", json_integer_value(json_object_get(r, "seq")),
				json_string_value(json_object_get(r, "hash")) ?: "-");
	if (f && fclose(f)) {
		free(text);
		text = NULL;
	}
	if (rows && text)
		*rows = json_incref(tr);
	json_decref(j);
	return text;
}

/* Waits until every live instance's copy equals the reference instance's
 * (the leader's, or the first that answers); the reference's rows in
 * *rows.  False, with the evidence printed, when they still differ. */
static bool copies_equal(struct checker *k, int ref, json_t **rows, size_t *ncopies)
{
	struct trial *t = k->t;
	int64_t end = chaos_now_ns() + (int64_t)COPIES_SETTLE_MS * 1000000;
	char differ[300];
	for (;;) {
		json_decref(*rows);
		*rows = NULL;
		char *want = copy_of(k, ref, rows);
		differ[0] = '\0';
		*ncopies = want ? 1 : 0;
		for (int i = 0; want && i < t->lab->norchs; i++) {
			if (i == ref || !orch_alive(k, i))
				continue;
			char *have = copy_of(k, i, NULL);
			if (have && !strcmp(have, want))
				(*ncopies)++;
			else if (!differ[0])
				snprintf(differ, sizeof(differ), "%s's copy (%zu bytes of seq:hash) differs from "
					 "%s's (%zu)", chaos_orch_name(t, i), have ? strlen(have) : 0,
					 chaos_orch_name(t, ref), strlen(want));
			free(have);
		}
		bool ok = want && !differ[0];
		free(want);
		if (ok || chaos_now_ns() >= end) {
			if (!ok)
				fail(k, INV_H, "after %d s: %s", COPIES_SETTLE_MS / 1000,
				     differ[0] ? differ : "the reference copy cannot be read");
			return ok;
		}
		struct timespec ts = { 0, 200000000 };
		nanosleep(&ts, NULL);
	}
}

/* Every epoch raised by one transition: epochs never go back along the log
 * (so none is raised twice), and every epoch above the cluster's first (its
 * first transition's, which leaves STEADY and raises none; with none, the
 * epoch it is at) that a site reported holding records at is one the log
 * raised.  The epochs raised, epoch -> seq, into raised. */
static void check_epochs_issued(struct checker *k, json_t *rows, json_t *raised)
{
	int64_t prev = -1, first = -1;
	size_t i;
	json_t *r;
	if (!json_array_size(rows)) {
		json_t *st = orch_get(k, "/v1/status");
		first = st ? json_integer_value(json_object_get(st, "epoch")) : INT64_MAX;
		json_decref(st);
	}
	json_array_foreach(rows, i, r) {
		int64_t e = json_integer_value(json_object_get(r, "epoch"));
		long long seq = json_integer_value(json_object_get(r, "seq"));
		char key[32];
		snprintf(key, sizeof(key), "%" PRId64, e);
		if (first < 0)
			first = e;
		if (prev >= 0 && e < prev)
			fail(k, INV_H, "transition %lld goes back from epoch %" PRId64 " to %" PRId64, seq, prev, e);
		else if (e > prev && json_object_get(raised, key))
			fail(k, INV_H, "epoch %" PRId64 " raised twice: transitions %" JSON_INTEGER_FORMAT
			     " and %lld", e, json_integer_value(json_object_get(raised, key)), seq);
		else if (e > prev)
			json_object_set_new(raised, key, json_integer(seq));
		prev = e > prev ? e : prev;
	}
	const char *site, *epoch;
	json_t *bysite, *lsn;
	json_object_foreach(k->t->held, site, bysite)
		json_object_foreach(bysite, epoch, lsn)
			if (atoll(epoch) > first && !json_object_get(raised, epoch))
				fail(k, INV_H, "%s held records at epoch %s (to lsn %" JSON_INTEGER_FORMAT "), "
				     "which no transition of the log raised", site, epoch, json_integer_value(lsn));
}

/* Exactly one instance leads (waiting a little for a takeover to end). */
static int the_leader(struct checker *k, int *n)
{
	int64_t end = chaos_now_ns() + (int64_t)LEADER_SETTLE_MS * 1000000;
	int leader;
	while ((leader = chaos_leader(k->t, k->c, 0, n)) < 0 && chaos_now_ns() < end) {
		struct timespec ts = { 0, 200000000 };
		nanosleep(&ts, NULL);
	}
	return leader;
}

/*
 * A leader stopped past its lease, as it came back.  Two leaders at once
 * fail; so does leading again on its old term once another instance led
 * meanwhile (it acted on a lease it had lost).  Leading on, on its old term,
 * when nobody led meanwhile is its lease living on (etcd extends leases when
 * its own leader changes, e.g. an etcd member killed), and leading on a new
 * term is a new election: printed, not judged.
 */
static void check_resumes(struct checker *k)
{
	struct trial *t = k->t;
	for (int i = 0; i < t->nresumes; i++) {
		const struct resume *r = &t->resumes[i];
		const char *name = chaos_orch_name(t, r->inst);
		bool leads = r->led_after || !strcmp(r->role, "leader");
		if (leads && r->other_leader >= 0)
			fail(k, INV_H, "%s, stopped %.1f s, came back at +%.2fs and leads while %s leads too",
			     name, r->stopped_s, r->at_s, chaos_orch_name(t, r->other_leader));
		else if (r->led_after && r->successor >= 0 && r->term_after == r->term_before)
			fail(k, INV_H, "%s, stopped %.1f s, came back at +%.2fs and led on its old term %"
			     PRId64 ", after %s had led", name, r->stopped_s, r->at_s, r->term_before,
			     chaos_orch_name(t, r->successor));
		else if (leads)
			printf("  (h) not judged: %s, stopped %.1f s, came back at +%.2fs and leads (term %"
			       PRId64 " -> %" PRId64 "); no other instance led meanwhile\n", name,
			       r->stopped_s, r->at_s, r->term_before, r->term_after);
	}
}

static void check_ha(struct checker *k)
{
	struct trial *t = k->t;
	int n, leader = the_leader(k, &n);
	char detail[300];
	size_t ncopies = 0;
	json_t *rows = NULL, *raised = json_object();
	if (leader < 0)
		fail(k, INV_H, "at the end %d drorchd instances answer /healthz/leader 200, not one", n);
	int ref = leader;
	for (int i = 0; ref < 0 && i < t->lab->norchs; i++)
		if (orch_alive(k, i))
			ref = i;
	if (ref >= 0 && copies_equal(k, ref, &rows, &ncopies) && raised)
		check_epochs_issued(k, rows, raised);
	check_resumes(k);
	for (int i = 0; i < t->nfindings; i++)
		fail(k, INV_H, "%s", t->findings[i]);
	snprintf(detail, sizeof(detail), "leader %s; %zu copies equal at %zu transitions; %zu epochs "
		 "in the log, each raised once; %d copies rebuilt from etcd; %d leaders stopped past "
		 "their lease",
		 leader >= 0 ? chaos_orch_name(t, leader) : "none", ncopies, json_array_size(rows),
		 json_object_size(raised), t->ha_rebuilds, t->nresumes);
	verdict_line(k, INV_H, "HA: one leader, equal copies, each epoch issued once", detail);
	json_decref(rows);
	json_decref(raised);
}

/* ==== all of them ================================================================================= */

static int find_primary(struct checker *k)
{
	json_t *st = orch_get(k, "/v1/status");
	const char *p = json_string_value(json_object_get(st, "primary"));
	snprintf(k->primary, sizeof(k->primary), "%s", p ? p : "");
	json_decref(st);
	k->primary_site = chaos_site_index(k->t, k->primary);
	return k->primary_site;
}

void check_all(struct trial *t, struct verdict *v)
{
	struct checker k = { .t = t, .c = chttp_new(), .quarantined = json_object(),
			     .named = json_object(), .named_read = json_object(), .on_disk = json_object() };
	memset(v, 0, sizeof(*v));
	printf("\n== checks\n");
	if (!k.c || !k.quarantined || !k.named || !k.named_read || !k.on_disk || gather(&k)) {
		printf("drchaos: out of memory\n");
		snprintf(v->failed, sizeof(v->failed), "oom");
		goto done;
	}
	for (size_t i = 0; i < k.nall; i++) {
		v->acked += k.all[i].status == 200;
		v->indeterminate += k.all[i].status != 200;
	}
	load_quarantine(&k);
	if (find_primary(&k) >= 0) {
		read_back(&k, v);
		check_losses(&k, v);
	} else {
		fail(&k, t->async ? INV_B : INV_A, "no primary to read from (drorchd names none)");
		verdict_line(&k, t->async ? INV_B : INV_A, "acknowledged writes", "not judged");
	}
	check_epochs(&k);
	check_audit(&k);
	check_quarantine(&k);
	check_answers(&k);
	if (!t->healed)
		fail(&k, INV_G, "%s", t->heal_failure);
	verdict_line(&k, INV_G, "the cluster healed", t->healed ? "STEADY, every replica streaming" : "");
	if (t->ha)
		check_ha(&k);
	int n = 0;
	for (int i = 0; i < INV_N; i++)
		if (k.failed[i]) {
			v->failed[n++] = inv_letter[i];
			v->failed[n++] = ',';
		}
	v->failed[n ? n - 1 : 0] = '\0';
done:
	chttp_free(k.c);
	free(k.all);
	free(k.losses);
	json_decref(k.quarantined);
	json_decref(k.named);
	json_decref(k.named_read);
	json_decref(k.on_disk);
}
