/*
 * site_internal.h — the inside of a drsite, shared by the files that make
 * it up: site.c (lifecycle, client API, status), admin.c (role, fence,
 * heartbeat, write lease, paused writes), repl.c (WAL shipping, both ends)
 * and rewind.c (failback of a diverged replica).  Nothing outside sites/
 * includes this; the contract is site.h.
 *
 * Locking: s->mu guards the role state, the lease, the peer table and the
 * follower's status.  It is never held across I/O (HTTP, fsync) except the
 * small state.json write that makes a role change durable before it is
 * acknowledged.  Lock order: s->mu, then the WAL's or the map's own locks.
 */
#ifndef DRORCH_SITE_INTERNAL_H
#define DRORCH_SITE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "httpc.h"
#include "kv.h"
#include "role.h"
#include "site.h"
#include "wal.h"

#define SITE_MAX_PEERS 16
#define SITE_NONCE_MAX 48  /* "BOOT-MS": 16 hex digits, '-', up to 20 digits */

/* What a primary knows about one replica streaming from it. */
struct peer {
	char name[64];
	uint64_t epoch;
	uint64_t flushed_lsn;      /* acked: everything <= this is durable there */
	uint64_t applied_lsn;
	uint64_t last_seen_ms;     /* monotonic: its last admitted fetch arrived */
	uint64_t lease_credit_ms;  /* monotonic: when the lease nonce its last fetch
				    * echoed was handed out (0: none); see WRITE LEASE */
	bool confirmed;            /* its role was confirmed since it started (lease) */
};

/* A sync writer waiting for its quorum (repl_wait_quorum): woken alone,
 * when enough replicas hold its LSN or the role changes. */
struct sync_waiter {
	uint64_t lsn;
	pthread_cond_t cv;
	struct sync_waiter *next;
};

/* What a replica knows about its own streaming. */
struct follow_status {
	const char *state;         /* "idle", "streaming", "snapshot", "unreachable",
				    * "disconnected", "refused", "rewinding" */
	char last_error[320];
	uint64_t primary_last_lsn;
	uint64_t primary_last_commit_ms; /* its newest record's commit time (format 2; 0 unknown) */
	uint64_t last_contact_ms;  /* monotonic; 0 = never */
	uint64_t caught_up_ms;     /* last time applied reached the primary's last LSN */
	uint64_t started_ms;
	uint64_t snapshots;        /* snapshot transfers installed */
	bool in_round;             /* a fetch (or snapshot install) is under way */
	/* The lease nonce of the primary's last answer, echoed by the next
	 * fetch to that primary at that epoch (WRITE LEASE in admin.c). */
	char lease_nonce[SITE_NONCE_MAX];
	char nonce_primary[ROLE_ADDR_MAX];
	uint64_t nonce_epoch;
	bool primary_writable;     /* the primary's last answer said its lease holds */
	/* A shipment being applied (VOUCHING in repl.c): when its answer came
	 * (monotonic ms; 0 when none is), from which primary at which epoch,
	 * and the newest lease nonce that primary handed out since, which the
	 * voucher echoes while the apply lasts and the next fetch echoes after. */
	uint64_t applying_since;
	char applying_primary[ROLE_ADDR_MAX];
	uint64_t applying_epoch;
	char applying_nonce[SITE_NONCE_MAX];
	uint64_t applying_lease_ms;  /* that primary's lease, as it last said (0: unknown) */
	uint64_t vouched_ms;       /* monotonic: the voucher's last vouch was answered */
	uint64_t vouches;          /* vouches answered 200 since start */
	/* The primary refused this site's log as diverged: the lowest LSN its
	 * 409 answers named (0 = no divergence known), for that primary at
	 * that epoch.  Cleared by a fetch that is admitted, and by a rewind. */
	uint64_t diverged_lsn;
	uint64_t diverged_epoch;
	char diverged_primary[ROLE_ADDR_MAX];
};

/* Injected faults (drills), set through POST /v1/admin/faults. */
struct faults {
	uint64_t slow_fsync_ms;    /* every WAL fsync takes this much longer */
	bool stall_writes;         /* client writes hang until cleared */
	bool drop_replication;     /* the primary ships nothing (503 to replicas) */
	bool disk_full;            /* WAL writes fail with ENOSPC: the WAL fails for good */
};

struct site {
	struct site_opts opts;
	char *name;
	char *datadir;
	char *token;               /* admin + replication bearer token, or NULL */
	int lock_fd;
	struct kv *kv;
	struct wal *wal;

	pthread_t checkpointer;
	pthread_mutex_t cp_run_mu; /* one checkpoint at a time */
	pthread_mutex_t cp_mu;     /* guards the cp_ figures below */
	pthread_cond_t cp_cv;
	bool cp_stop;
	uint64_t cp_lsn;
	uint64_t cp_wal_bytes;
	uint64_t cp_count;
	uint64_t cp_last_ms;

	pthread_mutex_t mu;
	struct sync_waiter *sync_waiters; /* sync writers waiting for replica acks */
	pthread_cond_t role_cv;    /* the follower waits here for a role */
	struct role_state role;
	bool had_role;             /* state.json existed or a role was assigned */
	bool confirmed;            /* role confirmed since start (writes allowed) */
	bool writes_paused;        /* a primary's client writes paused (switchover) */
	bool rewinding;            /* a rewind is under way: the follower is parked */
	uint64_t boot_id;          /* random per start: lease nonces of another
				    * start of this site grant nothing */
	uint64_t orch_seen_ms;     /* the orchestrator's lease credit at the current
				    * epoch (monotonic; 0 = none), see WRITE LEASE */
	int lease_replicas;        /* confirmed replicas that renew the lease */
	uint64_t lease_ms;         /* the write lease in force: opts.lease_ms or
				    * shorter, as role commands ask (WRITE LEASE) */
	uint64_t lease_set_at;     /* the grant instant of the command that set it */
	uint64_t orch_term;        /* the newest orchestrator term a command carried
				    * since start (0: none), ORCHESTRATOR TERM */
	struct peer peers[SITE_MAX_PEERS];
	int npeers;

	/* Start-up only (site.c): what the store and state.json showed. */
	bool replaying;            /* wal_open is replaying: note record epochs */
	struct role_state replayed;/* the epoch history the replayed records show */
	bool meta_missing;         /* state.json was absent (or damaged: set aside) */
	bool fcv_saved;            /* state.json already holds the FCV */
	bool store_lost;           /* the store was incomplete and quarantined */
	char store_lost_why[160];
	uint64_t store_lost_lsn;   /* the highest LSN it showed existed (0: none) */

	struct faults faults;      /* under mu */
	struct site_metrics *metrics; /* histograms (metrics.c); lock-free */

	pthread_t follower;
	pthread_t voucher;         /* repl.c VOUCHING */
	bool follower_started;     /* both threads */
	bool stopping;
	struct follow_status follow;
};

/* ---- admin.c ---- */
/* A fresh lease nonce of this start of the site, into buf[SITE_NONCE_MAX]. */
void site_nonce(const struct site *s, char *buf, size_t len);
enum { NONCE_BAD = -1, NONCE_FOREIGN = 0, NONCE_OURS = 1 };
/* Reads a nonce: NONCE_OURS (handed out by this start, at *at <= now),
 * NONCE_FOREIGN (another start's, or not handed out yet: it grants
 * nothing), or NONCE_BAD (not a nonce). */
int site_nonce_parse(const struct site *s, const char *text, uint64_t now, uint64_t *at);
bool admin_authorized(struct site *s, const struct http_req *req, struct http_resp *resp);
/* A read that carries the site token and X-Drorch-Term (drorchd's status
 * polls with HA) teaches this site a newer term, as a command would; an
 * older or malformed one changes nothing and refuses nothing: the read is
 * answered either way. */
void admin_learn_term(struct site *s, const struct http_req *req);
void admin_route(struct site *s, const struct http_req *req, struct http_resp *resp);
/* Reads a body {"epoch": E >= 1}; 0, or -1 with a 400 set. */
int admin_parse_epoch(const struct http_req *req, struct http_resp *resp, uint64_t *epoch);
/* Under s->mu: may this site acknowledge a client write now (role, lease)?
 * If not, fills why[] and returns false.  A write already in the log is
 * acknowledged on this test alone: a pause does not stop it. */
bool site_writable_locked(struct site *s, uint64_t now_ms, char *why, size_t whylen);
/* Under s->mu: may this site take a new client write now?  As
 * site_writable_locked, and its writes are not paused. */
bool site_admits_writes_locked(struct site *s, uint64_t now_ms, char *why, size_t whylen);
/* Under s->mu: the injected faults, for status. */
json_t *site_faults_json_locked(struct site *s);
/* Under s->mu: a newer epoch was seen from a peer or the orchestrator. */
void site_learn_epoch_locked(struct site *s, uint64_t epoch, const char *from);
/* Under s->mu, after the role changed: moves the write gate, ends a pause
 * unless still primary, wakes sync writers and the follower. */
void site_role_changed_locked(struct site *s);
/* Under s->mu: sets the WAL's write gate from the role (open on a
 * standalone site or a primary whose writes are not paused, at its epoch;
 * closed otherwise). */
void site_gate_locked(struct site *s);

/* ---- site.c ---- */
/* Takes a checkpoint now (snapshot + WAL cleanup). */
void site_checkpoint(struct site *s);

/* ---- repl.c ---- */
void repl_route_wal(struct site *s, const struct http_req *req, struct http_resp *resp);
void repl_route_snapshot(struct site *s, const struct http_req *req, struct http_resp *resp);
void repl_route_vouch(struct site *s, const struct http_req *req, struct http_resp *resp);
/* Waits (up to the sync timeout) until `quorum` replicas hold lsn. */
int repl_wait_quorum(struct site *s, uint64_t lsn, uint64_t epoch, char *err, size_t errlen);
/* Under s->mu: wakes every sync writer (the role, mode or quorum changed). */
void repl_wake_writers_locked(struct site *s);
json_t *repl_peers_json(struct site *s);      /* under s->mu */
json_t *repl_follow_json(struct site *s);     /* under s->mu */
int repl_follower_start(struct site *s, char *err, size_t errlen);
void repl_follower_stop(struct site *s);
/* One record as JSON framing ships it: {"lsn","epoch","type","key",
 * "value" (base64),"crc"}; encoded is the record as stored (its CRC is
 * bytes 0..3).  NULL on allocation failure. */
json_t *repl_record_json(const unsigned char *encoded, const struct wal_record *r);
/* GET /v1/snapshot?epoch=E from primary; on 0, *r holds the image (200)
 * and the caller frees it with httpc_resp_free. */
int repl_snapshot_download(struct site *s, struct httpc *c, const char *primary,
			   uint64_t epoch, struct httpc_resp *r, char *err, size_t errlen);
/* Installs a snapshot image from primary, if this site is still its
 * replica at epoch, and restarts the WAL after it.  *changed tells whether
 * the local store may have been touched (false: the role had changed and
 * nothing was done).  *lsn gets the snapshot's LSN. */
int repl_snapshot_install(struct site *s, const char *primary, uint64_t epoch,
			  const unsigned char *img, size_t len, uint64_t *lsn, bool *changed,
			  char *err, size_t errlen);

/* ---- rewind.c ---- */
/* POST /v1/admin/rewind (the caller checked the token). */
void rewind_cmd(struct site *s, const struct http_req *req, struct http_resp *resp);
/* At start-up, before the store is loaded: finishes a rewind that a crash
 * interrupted after its intent was recorded. */
int rewind_resume(struct site *s, char *err, size_t errlen);

#endif
