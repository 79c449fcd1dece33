/*
 * schedule.c — the fault schedule (see schedule.h).
 *
 * One rule shapes the draw besides the seed: at most one fault that takes
 * a site down (kill, stop, storage damage, a mid-operation kill of a site)
 * is active at a time, and the same for drorchd, so that a trial stays
 * within what a 3-site cluster with quorum 1 is meant to survive; network,
 * disk and operator faults overlap them freely.  A fault that would start
 * while its kind's slot is busy is moved to just after it.  With ha, every
 * fault on a drorchd instance (the leader's or a follower's) takes the
 * drorchd slot, and etcd has a slot of its own: one member down at a time,
 * or two only in the fault that means to lose the quorum.
 */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

/* ---- the generator ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
	return hi <= lo ? lo : lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

double rng_real(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

/* ---- names -------------------------------------------------------------------- */

static const char *const class_names[FC_N] = { "process", "network", "storage", "orchstore", "disk",
						"operator", "ha" };

static const struct {
	const char *name;
	enum fclass cls;
} kinds[FK_N] = {
	[FK_KILL_SITE] = { "kill-9-site", FC_PROCESS },
	[FK_KILL_ORCH] = { "kill-9-drorchd", FC_PROCESS },
	[FK_STOP_SITE] = { "sigstop-site", FC_PROCESS },
	[FK_MIDOP] = { "kill-mid-operation", FC_PROCESS },
	[FK_PART_ORCH] = { "partition-drorchd-site", FC_NETWORK },
	[FK_PART_SITES] = { "partition-site-site", FC_NETWORK },
	[FK_ISOLATE] = { "isolate-site", FC_NETWORK },
	[FK_WAN] = { "wan-degrade", FC_NETWORK },
	[FK_LATE] = { "late-delivery", FC_NETWORK },
	[FK_DROP_REPL] = { "drop-replication", FC_NETWORK },
	[FK_WAL_FLIP] = { "wal-bit-flip", FC_STORAGE },
	[FK_WAL_TRUNC] = { "wal-truncate", FC_STORAGE },
	[FK_WAL_DELETE] = { "wal-delete-segment", FC_STORAGE },
	[FK_SNAP_DAMAGE] = { "snapshot-damage", FC_STORAGE },
	[FK_SNAP_EMPTY] = { "snapshot-empty", FC_STORAGE },
	[FK_SNAP_MISSING] = { "snapshot-missing", FC_STORAGE },
	[FK_STATE_DELETE] = { "state-json-delete", FC_STORAGE },
	[FK_STATE_DAMAGE] = { "state-json-damage", FC_STORAGE },
	[FK_LOCK_DAMAGE] = { "lock-damage", FC_STORAGE },
	[FK_DB_WAL_DELETE] = { "db-wal-delete", FC_ORCHSTORE },
	[FK_DB_SHM_DELETE] = { "db-shm-delete", FC_ORCHSTORE },
	[FK_DB_PAGE] = { "db-page-damage", FC_ORCHSTORE },
	[FK_SLOW_FSYNC] = { "slow-fsync", FC_DISK },
	[FK_DISK_FULL] = { "disk-full", FC_DISK },
	[FK_STALL_WRITES] = { "stall-writes", FC_DISK },
	[FK_OP_FAILOVER] = { "op-failover", FC_OPERATOR },
	[FK_OP_SWITCHOVER] = { "op-switchover", FC_OPERATOR },
	[FK_OP_FAILBACK] = { "op-failback", FC_OPERATOR },
	[FK_OP_PAUSE] = { "op-pause", FC_OPERATOR },
	[FK_OP_RESUME] = { "op-resume", FC_OPERATOR },
	[FK_OP_ACK] = { "op-ack", FC_OPERATOR },
	[FK_OP_APPROVE] = { "op-approve", FC_OPERATOR },
	[FK_OP_UPGRADE] = { "op-upgrade", FC_OPERATOR },
	[FK_OP_POLICY] = { "op-policy", FC_OPERATOR },
	[FK_HA_KILL_LEADER] = { "kill-9-leader", FC_HA },
	[FK_HA_KILL_FOLLOWER] = { "kill-9-follower", FC_HA },
	[FK_HA_STOP_LEADER] = { "sigstop-leader", FC_HA },
	[FK_HA_CUT_LEADER] = { "cut-leader-from-etcd", FC_HA },
	[FK_HA_KILL_ETCD] = { "kill-9-etcd-member", FC_HA },
	[FK_HA_LOSE_QUORUM] = { "lose-etcd-quorum", FC_HA },
	[FK_HA_CUT_LEADER_PARTLY] = { "cut-leader-from-2-etcd", FC_HA },
};

const char *sched_class_name(enum fclass c) { return class_names[c]; }
enum fclass sched_class_of(enum fkind k) { return kinds[k].cls; }
const char *sched_kind_name(enum fkind k) { return kinds[k].name; }

int sched_parse_classes(const char *list, bool ha, unsigned *mask, char *err, size_t errlen)
{
	*mask = 0;
	if (!strcmp(list, "all")) {
		*mask = SCHED_ALL_CLASSES(ha);
		return 0;
	}
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		int found = -1;
		for (int c = 0; c < FC_N; c++)
			if (strlen(class_names[c]) == n && !strncmp(p, class_names[c], n))
				found = c;
		if (found < 0) {
			snprintf(err, errlen, "--faults: '%.*s' is not one of process, network, storage, "
				 "orchstore, disk, operator, ha (or all)", (int)n, p);
			return -1;
		}
		if (found == FC_HA && !ha) {
			snprintf(err, errlen, "--faults: the ha class needs --ha (an HA lab)");
			return -1;
		}
		*mask |= 1u << found;
		p += n + (p[n] == ',');
	}
	if (!*mask) {
		snprintf(err, errlen, "--faults: empty list");
		return -1;
	}
	return 0;
}

/* ---- drawing ---------------------------------------------------------------------- */

/* true for a fault that takes a site down for its duration. */
static bool takes_site_down(const struct fault *f)
{
	enum fclass c = sched_class_of(f->kind);
	return f->kind == FK_KILL_SITE || f->kind == FK_STOP_SITE || c == FC_STORAGE ||
	       (f->kind == FK_MIDOP && f->victim != V_ORCH);
}

static bool takes_orch_down(const struct fault *f)
{
	return f->kind == FK_KILL_ORCH || sched_class_of(f->kind) == FC_ORCHSTORE ||
	       (f->kind == FK_MIDOP && f->victim == V_ORCH) ||
	       (sched_class_of(f->kind) == FC_HA && f->target != T_ETCD);
}

static bool takes_etcd_down(const struct fault *f)
{
	return f->kind == FK_HA_KILL_ETCD || f->kind == FK_HA_LOSE_QUORUM;
}

static enum target site_target(struct rng *r, int primary_pct, int *pick)
{
	*pick = (int)rng_range(r, 0, 1);
	return rng_range(r, 1, 100) <= primary_pct ? T_PRIMARY : T_REPLICA;
}

static void draw_partition(struct rng *r, struct fault *f)
{
	static const char *const dirs[] = { "both", "upstream", "downstream" };
	snprintf(f->partition, sizeof(f->partition), "%s", rng_range(r, 0, 2) ? "blackhole" : "reset");
	snprintf(f->direction, sizeof(f->direction), "%s", dirs[rng_range(r, 0, 2)]);
}

static void draw_process(struct rng *r, struct fault *f)
{
	static const enum fkind k[] = { FK_KILL_SITE, FK_KILL_SITE, FK_KILL_ORCH, FK_STOP_SITE, FK_MIDOP,
					FK_MIDOP };
	f->kind = k[rng_range(r, 0, 5)];
	switch (f->kind) {
	case FK_KILL_SITE:
		f->target = site_target(r, 50, &f->pick);
		f->dur_s = rng_real(r, 0.3, 3.5);
		break;
	case FK_KILL_ORCH:
		f->target = T_ORCH;
		f->dur_s = rng_real(r, 0.3, 3.0);
		break;
	case FK_STOP_SITE:
		f->target = site_target(r, 60, &f->pick);
		f->dur_s = rng_real(r, 0.5, 4.0);
		break;
	default:
		f->op = (int)rng_range(r, 0, MO_N - 1);
		f->victim = (int)rng_range(r, 0, V_N - 1);
		f->pick = (int)rng_range(r, 0, 1);
		f->delay_ms = (int)rng_range(r, 20, 900);
		f->dur_s = rng_real(r, 0.3, 2.5);
		f->target = f->victim == V_ORCH ? T_ORCH : f->victim == V_PRIMARY ? T_PRIMARY : T_REPLICA;
		break;
	}
}

static void draw_network(struct rng *r, struct fault *f)
{
	f->kind = (enum fkind)rng_range(r, FK_PART_ORCH, FK_DROP_REPL);
	switch (f->kind) {
	case FK_PART_ORCH:
		f->target = site_target(r, 60, &f->pick);
		draw_partition(r, f);
		f->dur_s = rng_real(r, 0.5, 4.0);
		break;
	case FK_PART_SITES:
		f->target = site_target(r, 60, &f->pick);
		f->peer = (int)rng_range(r, 0, 1);
		f->op = (int)rng_range(r, 0, 2);  /* both links, A->B only, B->A only */
		draw_partition(r, f);
		f->dur_s = rng_real(r, 0.5, 4.0);
		break;
	case FK_ISOLATE:
		f->target = site_target(r, 50, &f->pick);
		draw_partition(r, f);
		snprintf(f->direction, sizeof(f->direction), "both");
		f->dur_s = rng_real(r, 1.0, 5.0);
		break;
	case FK_WAN:
		f->op = (int)rng_range(r, 0, 1);  /* every link, or the links of one site */
		f->target = site_target(r, 50, &f->pick);
		f->latency_ms = (int)rng_range(r, 5, 150);
		f->jitter_ms = (int)rng_range(r, 0, 40);
		f->loss_pct = (double)rng_range(r, 0, 50) / 10.0;
		f->dur_s = rng_real(r, 1.0, 6.0);
		break;
	case FK_LATE:
		f->op = (int)rng_range(r, 0, 1);  /* drorchd->primary, or a replica->primary */
		f->target = T_PRIMARY;
		f->pick = (int)rng_range(r, 0, 1);
		snprintf(f->partition, sizeof(f->partition), "blackhole");
		snprintf(f->direction, sizeof(f->direction), "both");
		f->dur_s = rng_real(r, 0.5, 3.0);
		break;
	default:
		f->target = site_target(r, 30, &f->pick);
		f->dur_s = rng_real(r, 1.0, 4.0);
		break;
	}
}

static void draw_storage(struct rng *r, struct fault *f)
{
	static const enum fkind k[] = { FK_WAL_FLIP, FK_WAL_FLIP, FK_WAL_TRUNC, FK_WAL_DELETE,
					FK_SNAP_DAMAGE, FK_SNAP_EMPTY, FK_SNAP_MISSING, FK_STATE_DELETE,
					FK_STATE_DAMAGE, FK_LOCK_DAMAGE };
	f->kind = k[rng_range(r, 0, (int64_t)(sizeof(k) / sizeof(k[0])) - 1)];
	f->target = site_target(r, 50, &f->pick);
	f->segment = (int)rng_range(r, 0, 2);
	f->frac = (uint32_t)rng_next(r);
	f->dur_s = rng_real(r, 0.3, 2.0);
}

static void draw_orchstore(struct rng *r, struct fault *f)
{
	f->kind = (enum fkind)rng_range(r, FK_DB_WAL_DELETE, FK_DB_PAGE);
	f->target = T_ORCH;
	f->frac = (uint32_t)rng_next(r);
	f->dur_s = rng_real(r, 0.3, 2.0);
}

static void draw_disk(struct rng *r, struct fault *f)
{
	f->kind = (enum fkind)rng_range(r, FK_SLOW_FSYNC, FK_STALL_WRITES);
	f->target = site_target(r, f->kind == FK_DISK_FULL ? 50 : 70, &f->pick);
	f->slow_ms = (int)rng_range(r, 50, 1500);
	f->dur_s = rng_real(r, 0.5, f->kind == FK_SLOW_FSYNC ? 5.0 : 3.0);
}

static void draw_operator(struct rng *r, struct fault *f)
{
	f->kind = (enum fkind)rng_range(r, FK_OP_FAILOVER, FK_OP_POLICY);
	f->target = T_NONE;
	f->pick = (int)rng_range(r, 0, 2);
	switch (f->kind) {
	case FK_OP_FAILOVER:
		f->op = (int)rng_range(r, 0, TO_N - 1);
		break;
	case FK_OP_PAUSE:
	case FK_OP_APPROVE:
		f->dur_s = rng_real(r, 0.3, 4.0);
		break;
	case FK_OP_POLICY:
		f->op = (int)rng_range(r, 0, POLICY_VARIANTS - 1);
		f->dur_s = rng_real(r, 1.0, 5.0);
		break;
	default:
		break;
	}
}

/* Losing etcd's quorum is the rare one: 1 in 18. */
static void draw_ha(struct rng *r, struct fault *f)
{
	static const enum fkind k[] = {
		FK_HA_KILL_LEADER, FK_HA_KILL_LEADER, FK_HA_KILL_LEADER, FK_HA_KILL_LEADER,
		FK_HA_KILL_FOLLOWER, FK_HA_KILL_FOLLOWER, FK_HA_KILL_FOLLOWER,
		FK_HA_STOP_LEADER, FK_HA_STOP_LEADER, FK_HA_STOP_LEADER,
		FK_HA_CUT_LEADER, FK_HA_CUT_LEADER, FK_HA_CUT_LEADER_PARTLY, FK_HA_CUT_LEADER_PARTLY,
		FK_HA_KILL_ETCD, FK_HA_KILL_ETCD, FK_HA_KILL_ETCD,
		FK_HA_LOSE_QUORUM,
	};
	f->kind = k[rng_range(r, 0, (int64_t)(sizeof(k) / sizeof(k[0])) - 1)];
	switch (f->kind) {
	case FK_HA_KILL_LEADER:
		f->target = T_LEADER;
		f->dur_s = rng_real(r, 0.5, 5.0);
		break;
	case FK_HA_KILL_FOLLOWER:
		f->target = T_FOLLOWER;
		f->pick = (int)rng_range(r, 0, 1);
		f->dur_s = rng_real(r, 0.5, 5.0);
		break;
	case FK_HA_STOP_LEADER:  /* past its lease: another instance leads meanwhile */
		f->target = T_LEADER;
		f->dur_s = SCHED_HA_LEASE_MS / 1000.0 + rng_real(r, 1.0, 4.0);
		break;
	case FK_HA_CUT_LEADER:
		f->target = T_LEADER;
		f->dur_s = rng_real(r, 1.0, 6.0);
		break;
	case FK_HA_CUT_LEADER_PARTLY:  /* pick: the member it still reaches */
		f->target = T_LEADER;
		f->pick = (int)rng_range(r, 0, 2);
		f->dur_s = rng_real(r, 1.0, 6.0);
		break;
	case FK_HA_KILL_ETCD:
		f->target = T_ETCD;
		f->pick = (int)rng_range(r, 0, 2);
		f->dur_s = rng_real(r, 0.5, 5.0);
		break;
	default:  /* FK_HA_LOSE_QUORUM: pick is the member left running */
		f->target = T_ETCD;
		f->pick = (int)rng_range(r, 0, 2);
		f->dur_s = rng_real(r, 1.5, 4.0);
		break;
	}
}

static void draw(struct rng *r, enum fclass c, struct fault *f)
{
	switch (c) {
	case FC_PROCESS: draw_process(r, f); break;
	case FC_NETWORK: draw_network(r, f); break;
	case FC_STORAGE: draw_storage(r, f); break;
	case FC_ORCHSTORE: draw_orchstore(r, f); break;
	case FC_DISK: draw_disk(r, f); break;
	case FC_HA: draw_ha(r, f); break;
	default: draw_operator(r, f); break;
	}
}

static int by_time(const void *a, const void *b)
{
	const struct fault *x = a, *y = b;
	return x->at_s < y->at_s ? -1 : x->at_s > y->at_s ? 1 : x->index - y->index;
}

int sched_make(uint64_t seed, double duration_s, bool async, bool ha, unsigned classes,
	       struct schedule *out)
{
	struct rng r;
	enum fclass enabled[FC_N];
	int nenabled = 0, cap = 16;
	memset(out, 0, sizeof(*out));
	rng_seed(&r, seed ^ (async ? 0xa5a5a5a5ull : 0));
	for (int c = 0; c < FC_N; c++)
		if (classes & (1u << c))
			enabled[nenabled++] = (enum fclass)c;
	if (!nenabled || !(out->faults = calloc((size_t)cap, sizeof(*out->faults))))
		return -1;
	static const char *const crash[] = { "after_quarantine", "after_intent", "after_install" };
	if ((classes & (1u << FC_PROCESS)) && rng_range(&r, 0, 2) == 0)
		snprintf(out->rewind_crash, sizeof(out->rewind_crash), "%s", crash[rng_range(&r, 0, 2)]);
	double t = 1.0, site_free = 0, orch_free = 0, etcd_free = 0;
	while (t < duration_s - 0.5) {
		struct fault f = { 0 };
		draw(&r, enabled[rng_range(&r, 0, nenabled - 1)], &f);
		if (ha && f.target == T_ORCH)
			f.target = T_LEADER;
		f.at_s = t;
		if (takes_site_down(&f) && f.at_s < site_free)
			f.at_s = site_free + 0.2;
		if (takes_orch_down(&f) && f.at_s < orch_free)
			f.at_s = orch_free + 0.2;
		if (takes_etcd_down(&f) && f.at_s < etcd_free)
			f.at_s = etcd_free + 0.2;
		double end = f.at_s + f.dur_s + (f.kind == FK_MIDOP ? f.delay_ms / 1000.0 : 0);
		if (takes_site_down(&f))
			site_free = end;
		if (takes_orch_down(&f))
			orch_free = end;
		if (takes_etcd_down(&f))
			etcd_free = end;
		t += rng_real(&r, 0.4, 2.2);
		if (f.at_s >= duration_s - 0.3)
			continue;
		if (out->n == cap) {
			struct fault *more = realloc(out->faults, (size_t)cap * 2 * sizeof(*more));
			if (!more)
				return -1;
			out->faults = more;
			cap *= 2;
		}
		f.index = out->n + 1;
		out->faults[out->n++] = f;
		out->per_class[sched_class_of(f.kind)]++;
	}
	qsort(out->faults, (size_t)out->n, sizeof(*out->faults), by_time);
	for (int i = 0; i < out->n; i++)
		out->faults[i].index = i + 1;
	return 0;
}

void sched_free(struct schedule *s)
{
	free(s->faults);
	s->faults = NULL;
	s->n = 0;
}

/* ---- printing ------------------------------------------------------------------- */

static void target_text(const struct fault *f, const char *const names[3], char *out, size_t len)
{
	switch (f->target) {
	case T_ORCH: snprintf(out, len, "drorchd"); break;
	case T_LEADER: snprintf(out, len, "@leader"); break;
	case T_FOLLOWER: snprintf(out, len, "@follower#%d", f->pick); break;
	case T_ETCD: snprintf(out, len, "etcd-%d", f->pick + 1); break;
	case T_PRIMARY: snprintf(out, len, "@primary"); break;
	case T_REPLICA: snprintf(out, len, "@replica#%d", f->pick); break;
	case T_SITE0: case T_SITE1: case T_SITE2:
		snprintf(out, len, "%s", names[f->target - T_SITE0]);
		break;
	default: out[0] = '\0'; break;
	}
}

void sched_describe(const struct fault *f, const char *const names[3], char *out, size_t len)
{
	static const char *const segs[] = { "first", "middle", "last" };
	static const char *const ops[] = { "failover", "switchover", "failback", "upgrade" };
	static const char *const victims[] = { "drorchd", "the primary", "the target" };
	static const char *const tos[] = { "(best)", "@primary", "a down site", "@replica" };
	char tgt[48], what[200] = "";
	target_text(f, names, tgt, sizeof(tgt));
	double pct = (double)f->frac * 100.0 / 4294967296.0;
	switch (f->kind) {
	case FK_MIDOP:
		snprintf(what, sizeof(what), "start %s, kill -9 %s after %d ms", ops[f->op],
			 f->target == T_LEADER ? "@leader" : victims[f->victim], f->delay_ms);
		break;
	case FK_PART_ORCH: case FK_ISOLATE:
		snprintf(what, sizeof(what), "%s %s", f->partition, f->direction);
		break;
	case FK_PART_SITES:
		snprintf(what, sizeof(what), "with other#%d, %s, %s %s", f->peer,
			 f->op == 0 ? "both links" : f->op == 1 ? "outbound link" : "inbound link",
			 f->partition, f->direction);
		break;
	case FK_WAN:
		snprintf(what, sizeof(what), "%s latency %d ms jitter %d ms loss %.1f%%",
			 f->op ? "its links:" : "every link:", f->latency_ms, f->jitter_ms, f->loss_pct);
		break;
	case FK_LATE:
		snprintf(what, sizeof(what), "blackhole %s, then heal", f->op ? "replica#N->primary"
			 : "drorchd->primary");
		break;
	case FK_WAL_FLIP: case FK_WAL_TRUNC:
		snprintf(what, sizeof(what), "%s segment at %.0f%%", segs[f->segment], pct);
		break;
	case FK_WAL_DELETE:
		snprintf(what, sizeof(what), "%s segment", segs[f->segment]);
		break;
	case FK_SNAP_DAMAGE: case FK_STATE_DAMAGE: case FK_LOCK_DAMAGE: case FK_DB_PAGE:
		snprintf(what, sizeof(what), "at %.0f%%", pct);
		break;
	case FK_SLOW_FSYNC:
		snprintf(what, sizeof(what), "%d ms per fsync", f->slow_ms);
		break;
	case FK_OP_FAILOVER:
		snprintf(what, sizeof(what), "--to %s", tos[f->op]);
		break;
	case FK_OP_SWITCHOVER:
		snprintf(what, sizeof(what), "--to %s", names[f->pick]);
		break;
	case FK_OP_POLICY:
		snprintf(what, sizeof(what), "variant %d", f->op);
		break;
	case FK_HA_STOP_LEADER:
		snprintf(what, sizeof(what), "past its %d ms lease, SIGCONT after", SCHED_HA_LEASE_MS);
		break;
	case FK_HA_CUT_LEADER:
		snprintf(what, sizeof(what), "blackhole its links to etcd");
		break;
	case FK_HA_CUT_LEADER_PARTLY:
		snprintf(what, sizeof(what), "blackhole its links to etcd but etcd-%d's", f->pick + 1);
		break;
	case FK_HA_LOSE_QUORUM:
		snprintf(what, sizeof(what), "left alone: the other two killed (no quorum)");
		break;
	default:
		break;
	}
	snprintf(out, len, "#%-3d +%6.2fs %-9s %-22s %-11s %s", f->index, f->at_s,
		 sched_class_name(sched_class_of(f->kind)), sched_kind_name(f->kind), tgt, what);
	if (f->dur_s > 0) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "%sfor %.2fs", what[0] ? ", " : "", f->dur_s);
	}
}

void sched_print(FILE *f, const struct schedule *s, const char *const names[3])
{
	char line[400];
	for (int i = 0; i < s->n; i++) {
		sched_describe(&s->faults[i], names, line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}
	if (s->rewind_crash[0])
		fprintf(f, "  (a site's first rewind crashes it %s: DRORCH_TEST_REWIND_CRASH on the "
			"sites' first start; restarts go without it)\n", s->rewind_crash);
}
