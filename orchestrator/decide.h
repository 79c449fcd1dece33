/*
 * decide.h — drorchd's decisions that depend only on what the monitor saw:
 * pure functions of the site views (struct site_view, orch.h) and of the
 * clock values passed in, with no I/O, no locks and no state of their own.
 * orch.c and actions.c call them under o->mu with a copy of the views;
 * tests/check_decide.c tests each one on hand-made views.
 *
 *   decide_judge       holistic detection: is the primary down, only cut
 *                      off from drorchd, or back?
 *   decide_regressed   is the primary's log still the source of truth?
 *   decide_sites_epoch the newest epoch the sites report, and its primary
 *   decide_lease_end   when the old primary's write lease has surely ended
 *   decide_renew_turn  when a lease renewer's next turn comes
 *   decide_better      the election's order of candidates
 *   decide_elect       the election: who, at what RPO, or why nobody
 *   decide_budget      wait for an unheard site, elect, or refuse, within
 *                      the RTO budget, and why
 *   decide_measure     a run's RTO and which phase used the time
 *   decide_verdict     a run's RPO and RTO against the targets: met or missed
 *   decide_replica     is a replica degraded (silent, not streaming, past
 *                      the RPO), and why, with the figure
 */
#ifndef DRORCH_DECIDE_H
#define DRORCH_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "orch.h"

enum verdict {
	V_UNSURE,      /* not enough fresh testimony yet */
	V_BACK,        /* drorchd hears the primary again */
	V_LINK_ONLY,   /* only drorchd lost it: its replicas hear it and it takes writes */
	V_DOWN,        /* its replicas lost it too, or it cannot take writes */
};

/* What detection needs besides the views. */
struct judge_in {
	int64_t epoch;          /* the cluster's epoch */
	uint64_t now;           /* monotonic ms */
	uint64_t window;        /* heartbeat x misses */
	uint64_t heartbeat;     /* heartbeat interval */
	const char *const *peer_addr;  /* peer_addr[i]: how site i reaches the primary */
};

/*
 * Holistic detection (as GitHub's orchestrator) of primary p among n views.
 * A replica's testimony counts only when drorchd read it after it lost the
 * primary and the replica follows the primary at the cluster's epoch; it
 * says LINK_ONLY only when the replica heard the primary within the window
 * and after drorchd lost it, and the primary's answers said it takes
 * writes: stale contact proves nothing.  Every replica drorchd can reach
 * must have testified for DOWN.  A primary that answers but fails its
 * canary writes, or whose WAL failed, is DOWN (a grey failure).
 */
enum verdict decide_judge(const struct site_view *v, int n, int p, const struct judge_in *in);

/*
 * Whether primary p's log is no longer the source of truth at epoch: the
 * site says it lacks records (WAL damage, a lost store, a replica ahead of
 * it: drsite's "behind", which only a role at a newer epoch clears), it
 * shows fewer durable records than it once did as primary at epoch
 * (primary_high: a tail lost without a trace), or it
 * is not a confirmed primary at epoch (it restarted, lost its metadata, or
 * came back empty as a standalone site: its log stands still) and a
 * replica at epoch has flushed more records than it holds, or it is a
 * replica at epoch (told to follow another site at that epoch by a
 * promotion that timed out: no role command can make it primary there), or
 * another site took a role at epoch naming another primary (a primary, or
 * a replica whose primary is not peer_addr[i], how site i reaches p; NULL
 * entries are not judged): the epoch went elsewhere.  A fenced site at
 * epoch counts as a replica for the figures.  A confirmed
 * primary at epoch is never judged by its replicas' figures: views read at
 * different instants would race.  *need_lsn gets the highest LSN known to
 * exist.
 */
/* The LSN through which site view v's behind shows records existed: its
 * need_lsn, or 0 when it lacks nothing or says only that it lacks what it
 * cannot tell (a marker, need_known false). */
int64_t decide_behind_evidence(const struct site_view *v);

bool decide_regressed(const struct site_view *v, int n, int p, int64_t epoch,
		      const char *const *peer_addr, int64_t *need_lsn);

/* The newest epoch any reachable site reports (0 if none answers), and in
 * *primary the index of a site that is primary at it (-1 if none). */
int64_t decide_sites_epoch(const struct site_view *v, int n, int *primary);

/*
 * The instant (monotonic ms, drorchd's clock) by which the old primary's
 * write lease has surely ended, given how it is renewed (admin.c: WRITE
 * LEASE): by drorchd, as of a nonce drorchd received at orch_bound at the
 * latest; and by its k = lease_replicas confirmed replicas (the k-th newest
 * renewal counts) among `replicas`, of which nfenced were fenced at the new
 * epoch, fenced[i] being the latest instant replica i can have renewed it
 * (its fence answer's arrival less its "primary_contact_ms_ago").  The
 * unfenced ones may renew it at any time.  lease_ms is the primary's
 * lease, margin covers clock-rate drift.  false when the replicas can keep
 * the lease alive (k > 0 and at least k unfenced): no wait is long enough.
 */
bool decide_lease_end(uint64_t orch_bound, int k, int replicas, const uint64_t *fenced,
		      int nfenced, uint64_t lease_ms, uint64_t margin, uint64_t *end);

/*
 * Notes that a role command at epoch asks a site for a lease of lease ms:
 * *asked_ms becomes the longest lease asked at the newest epoch asked
 * (*asked_epoch).
 */
void decide_lease_asked(uint64_t *asked_ms, int64_t *asked_epoch, int64_t epoch,
			uint64_t lease);

/*
 * The write lease to ask a site for: the policy's (lease_ms), as it is when
 * the policy sets it (explicit); else the detection window it is plus
 * rtt_ms, the longest recent round trip to the site (a renewal is a round
 * trip old when it lands, and the lease must outlast the next one), but
 * only on a link that shows itself fast: once a round trip reached half a
 * heartbeat (hb_ms), jitter or a retransmission, max.  A lease as short as
 * detection lapses in a hiccup that detection rides out (its replicas
 * vouch for a primary only while its lease holds).  At most max, the
 * site's --lease-ms, which it would cap it at (0: unknown).
 */
uint64_t decide_lease_want(uint64_t lease_ms, bool explicit_lease, uint64_t rtt_ms,
			   uint64_t hb_ms, uint64_t max);

/*
 * The longest write lease a site may hold at `epoch` (its epoch as last
 * seen): reported, as its status or a role answer said; max, its
 * --lease-ms (0: not told: an older drsite, whose lease is reported); what
 * drorchd asked (asked_ms at asked_epoch); and conf_epoch, the epoch at
 * which a role answer showed a command of drorchd's setting it.  Once one
 * did, only drorchd's own later commands can lengthen it (admin.c: WRITE
 * LEASE): the longer of what it asked and what was reported.  Before, any
 * command may have: max.
 */
uint64_t decide_lease_bound(int64_t reported, int64_t max, uint64_t asked_ms,
			    int64_t asked_epoch, int64_t conf_epoch, int64_t epoch);

/* A windowed maximum of round trips: samples go into the current bucket,
 * which becomes the previous one every DECIDE_RTT_BUCKET_MS; the maximum
 * is over both (decide_rtt_high). */
#define DECIDE_RTT_BUCKET_MS 10000
void decide_rtt_note(struct rtt_window *w, uint64_t now, uint64_t rtt);
uint64_t decide_rtt_high(const struct rtt_window *w, uint64_t now);

/*
 * Milliseconds from now (monotonic ms) to renewer k's next turn, of n
 * renewers taking turns on the heartbeat grid of hb ms (monitor.c): tick t
 * (at t * hb) is renewer t % n's.  Always in (0, n * hb]: a renewer held
 * past its turn skips to its next one, so the turns stay interleaved.
 */
uint64_t decide_renew_turn(uint64_t now, uint64_t hb, int k, int n);

/*
 * Whether an election heard from enough sites to see every acknowledged
 * write.  In a sync mode (sync true) a write was acknowledged once the
 * primary and `quorum` replicas held it.  `heard` counts the sites other
 * than the old primary (every site, when which one it was is unknown) that
 * took the new epoch and told their log's end: they meet every such set of
 * replicas only when heard >= nsites - quorum.  Async promises nothing.
 */
bool decide_heard_enough(bool sync, uint64_t quorum, int nsites, int heard);

/*
 * The RPO in ms of promoting a log that ends with a record committed at
 * kept_commit_ms when rpo_records records beyond it exist, the newest of
 * them committed at newest_commit_ms.  Exact (*exact) when both commit
 * times are known (format 2 on both ends): the commit time between the
 * newest record lost and the newest kept.  Otherwise the candidate's lag
 * estimate.  0 when nothing is lost.  Pure.
 */
int64_t decide_rpo_ms(int64_t rpo_records, int64_t newest_commit_ms, int64_t kept_commit_ms,
		      int64_t lag_estimate_ms, bool *exact);

/* What an election knows once the sites took the new epoch. */
struct elect_in {
	const struct candidate *sites; /* the eligible sites but the old primary, ... */
	int n;                         /* ... and how many */
	const struct candidate *stand; /* the old primary when it may stand (its log
					* not judged lost, no target named), or NULL */
	int64_t last_seen;       /* the highest LSN known to exist before the
				  * testimonies: the old primary's as drorchd saw it */
	int64_t newest_commit_ms;/* the newest commit time drorchd saw it at (0: unknown) */
	int64_t fenced_at;       /* its last LSN as it took the fence (0: unknown) */
	const char *target;      /* an operator's target site, or NULL */
	bool force;              /* an operator accepts a candidate that breaks the targets */
	bool sync;               /* the policy's mode is sync or remote_apply */
	uint64_t quorum;         /* its replicas per acknowledged write */
	int nsites;              /* sites in the cluster */
	uint64_t rpo_ms_max, rpo_records_max;  /* the policy's RPO (records: 0 = none) */
};

struct elect_out {
	const struct candidate *best;  /* the one elected (into sites or stand), or NULL */
	int64_t rpo_records;     /* records beyond the best's log (-1: no candidate) */
	int64_t rpo_ms;
	bool rpo_exact;          /* rpo_ms from commit times (decide_rpo_ms) */
	int heard;               /* sites that testified to their log's end */
	bool forced;             /* elected only because the operator forced it */
	const char *refused;     /* why nobody is elected, or NULL */
	const struct candidate *beyond_rpo;  /* refused for the RPO target alone (no
					      * other refusal): the one it would
					      * elect, for decide_budget; or NULL */
};

/*
 * The election, as a function of the testimonies: the best candidate
 * (decide_better; the target alone when one is named) unless a fenced old
 * primary's log is strictly newer (it stands).  Refused when there is none,
 * when in a sync mode its log is older than another's (acknowledged writes
 * would be lost), when too few sites were heard to know every acknowledged
 * write (decide_heard_enough) unless it has all the fenced old primary had,
 * or when it breaks the RPO target; force accepts all but the first.
 */
void decide_elect(const struct elect_in *in, struct elect_out *out);

/* What an election chose once it weighed the RTO budget (decide_budget). */
enum election_choice {
	ELECTION_WAIT,        /* not yet: a site that did not testify may hold more */
	ELECTION_COMPLETE,    /* the candidate holds every record known to exist */
	ELECTION_WITHIN_RPO,  /* it lacks records, within the RPO target */
	ELECTION_FORCED,      /* an operator's force accepted what is refused */
	ELECTION_PREFER_RTO,  /* beyond the RPO target: the policy prefers the RTO */
	ELECTION_REFUSED,     /* nobody: an operator must decide */
	ELECTION_CHOICES
};
extern const char *const decide_choice_names[ELECTION_CHOICES];

struct budget_in {
	const struct elect_out *elect;  /* decide_elect on the testimonies so far */
	int unheard;             /* sites that may be elected and did not testify */
	int64_t elapsed_ms;      /* since the run's last good heartbeat (wall) */
	int64_t rto_ms;          /* the policy's RTO target */
	int64_t reserve_ms;      /* of it, kept for the promotion and its first write */
	int64_t state_left_ms;   /* until the state's timeout, less a margin */
	bool prefer_rto;         /* the policy's prefer: rto (async mode only) */
	uint64_t rpo_ms_max, rpo_records_max;  /* the policy's RPO, for why */
};

struct budget_out {
	enum election_choice choice;
	const struct candidate *elected;  /* unless WAIT or REFUSED */
	char why[512];                    /* for people: the figures and the targets */
};

/*
 * The election against the RTO budget.  While the best candidate does not
 * hold every record known to exist (rpo_records > 0, or refused: too few
 * sites heard, none eligible) and a site did not testify, WAIT as long as
 * elapsed_ms < rto_ms - reserve_ms and state_left_ms > 0.  Then the
 * candidate decide_elect elects (COMPLETE, WITHIN_RPO or FORCED); if it
 * refused for the RPO target alone, prefer_rto elects the best beyond it
 * (PREFER_RTO); otherwise REFUSED, why naming the refusal, the RPO and the
 * RTO.  decide_elect's safety refusals are never overridden.
 */
void decide_budget(const struct budget_in *in, struct budget_out *out);

/* One candidate of an election. */
struct candidate {
	int idx;
	int64_t flushed, lsn, lag_ms;
	int64_t last_commit_ms; /* commit time of its last record (format 2; 0 unknown) */
	int64_t last_epoch;  /* epoch of its last durable record (wal.last_epoch) */
	bool lacks;          /* it says it lost records it held ("behind"): its log's
			      * end is no testimony of how far the log went */
	int64_t need;        /* ... but records through this LSN existed (its
			      * need_lsn: evidence, as the old primary's LSN is) */
	bool need_unknown;   /* ... unless need is only a marker (need_known
			      * false): it lacks what it cannot tell, which
			      * counts no record but keeps it from being complete */
	int order;          /* position in policy.candidates, or CONFIG_MAX_SITES */
	bool other_region;  /* not the failed primary's region */
	const char *name;
};

/* Whether a's log is newer than b's: its last record of a later epoch, or
 * of the same epoch and more records (as Raft compares logs).  A longer
 * log whose tail is of an older epoch holds a deposed primary's records,
 * never acknowledged in a sync mode; the shorter one of a newer epoch may
 * hold acknowledged ones (drchaos seed 22059). */
bool decide_log_newer(const struct candidate *a, const struct candidate *b);

/* Earlier wins: the newest log (decide_log_newer), then candidate order,
 * then another region than the failed primary's, then name. */
bool decide_better(const struct candidate *a, const struct candidate *b);

/* A run's clock marks (wall ms; 0: not marked), as actions.c records them. */
struct run_marks {
	int64_t last_good_heartbeat;  /* failover: the failed primary's last good answer */
	int64_t detected;             /* failover: drorchd called it failed */
	int64_t writes_paused;        /* switchover: the primary's writes paused */
	int64_t decided;              /* the candidate chosen (after fencing) */
	int64_t promoted;             /* the candidate made primary */
	int64_t first_write;          /* the new primary acknowledged its first write */
};

/* The phases of a recovery, in order; a run has those whose marks it has. */
enum run_phase {
	PHASE_DETECTION,        /* last_good_heartbeat -> detected */
	PHASE_FENCE_ELECT,      /* detected -> decided (fence, lease wait, election) */
	PHASE_DRAIN_FENCE_ELECT, /* writes_paused -> decided (switchover) */
	PHASE_PROMOTE,          /* decided -> promoted */
	PHASE_FIRST_WRITE,      /* promoted -> first_write */
	PHASE_COUNT
};
extern const char *const decide_phase_names[PHASE_COUNT];

struct run_measure {
	int64_t rto_ms;                   /* unavailability: start -> first_write; -1 unknown */
	int64_t phase_ms[PHASE_COUNT];    /* -1: the run has no such phase */
	int slowest;                      /* the phase that used the most time, -1 none */
};

/* The RTO of a run (from the failed primary's last good heartbeat, or from
 * the switchover's pause, to the new primary's first write) and the time
 * each phase took; marks out of order count as not measured. */
void decide_measure(const struct run_marks *m, struct run_measure *out);

/* A run's figures against the policy's targets. */
enum target_verdict { TARGET_UNKNOWN, TARGET_MET, TARGET_MISSED };
extern const char *const decide_verdict_names[3];  /* unknown, met, missed */

struct verdict_in {
	const struct run_measure *measure;  /* decide_measure's */
	int64_t unmeasured_ms;   /* no RTO measured (no first write): how long the run
				  * left the cluster without a primary, -1 unknown */
	int64_t rpo_ms, rpo_records;        /* the election's figures, -1 unknown */
	uint64_t rpo_ms_max, rpo_records_max, rto_ms_max;  /* the targets (records: 0 none) */
};
struct run_verdict {
	enum target_verdict rpo, rto;
	int overrun_phase;       /* rto missed: the phase that used most of it, else -1 */
};

/* RPO met when no figure is past its target and one shows it (nothing
 * lost, or the ms known); missed when one is past; else unknown.  RTO met
 * or missed by the measured RTO, or when none was measured by
 * unmeasured_ms past the target (missed; met is never inferred). */
void decide_verdict(const struct verdict_in *in, struct run_verdict *out);

/* What a replica's health is judged against. */
struct replica_in {
	uint64_t now;            /* monotonic ms */
	uint64_t last_ok;        /* its last answer (monotonic ms; drorchd's start if never) */
	uint64_t window;         /* heartbeat x misses */
	uint64_t rpo_ms;         /* the policy's RPO ... */
	uint64_t rpo_records;    /* ... and in records (0: no limit) */
};
enum replica_health {
	REPLICA_OK,            /* streaming within the RPO */
	REPLICA_SILENT,        /* not answering past the window */
	REPLICA_OTHER_ROLE,    /* not a replica */
	REPLICA_NOT_STREAMING, /* a replica, not streaming */
	REPLICA_PAST_RPO,      /* streaming, lagging past the RPO */
};
/* Whether replica v is degraded (anything but REPLICA_OK): silent past the
 * window, in another role, not streaming, or lagging past the RPO (in ms,
 * or in records when the policy sets a limit).  When it is, why says so
 * for people, with the figure ("lag 7200 ms (12 records) past the RPO of
 * 5000 ms"). */
enum replica_health decide_replica(const struct site_view *v, const struct replica_in *in,
				   char *why, size_t len);

/* A replica's lag as drorchd shows it (status, metrics): the larger of
 * what the replica reports (it measures against the newest frame it got,
 * which a slow link delivers late) and what drorchd sees of both ends:
 * the primary's flushed LSN less the replica's, and in format 2 the commit
 * time between their newest records.  *exact when lag_ms is exact. */
struct lag {
	int64_t records, ms;
	bool exact;
};
struct lag decide_lag(const struct site_view *primary, const struct site_view *replica);

/* The epoch of the last record at or below lsn, from an epoch history
 * (epochs[i] began at first_lsn[i], in any order); 0 when none did. */
int64_t decide_epoch_at(const int64_t *epochs, const int64_t *first_lsn, int n, int64_t lsn);

/* A failover run as a rewind's attribution sees it: its id, the epoch it
 * raised, and whether it took the primary role from the rewound site. */
struct run_brief {
	int64_t id, epoch;
	bool from_site;
};

/*
 * The failover run that lost the records a rewind moved off a site, among
 * runs (newest first): the one that ended the epoch of the first of them,
 * from_epoch, i.e. the run with the smallest epoch above it.  That run
 * came before the rewind, so its epoch is at most rewind_epoch (the epoch
 * the site was rewound to follow; 0 when unknown): a store that lost its
 * history has only later runs, and none of them lost these records
 * (drchaos seed 98904 charged an R02 failover at epoch 4 with a rewind to
 * epoch 3).  Without from_epoch (an older site), the newest run that took
 * the primary role from the site, or else the newest.  The run's id, or 0
 * when none answers for it.
 */
int64_t decide_loss_run(const struct run_brief *runs, int n, int64_t from_epoch,
			int64_t rewind_epoch);

#endif
