/*
 * ha.h — drorchd's high availability: several instances, one leader,
 * coordinated through etcd (docs/ha.md).
 *
 * Owns this instance's etcd session (a lease kept alive), its campaign for
 * the leader key, the replication of the store's writes into the cluster's
 * log in etcd (store.h: store_set_replicator), and the mirror that applies
 * that log to this instance's own store.  Keys under the config's prefix P:
 *
 *   P/leader          {"name","url"}, attached to the leader's lease: who
 *                     leads; its create_revision is the leader's term
 *   P/log/NNNNNNNNNNNNNNNNNNNN
 *                     operation N (20 digits, from 1) of the store: a write
 *                     as store.h describes it
 *   P/head            {"index": N}: the log's last operation, written in the
 *                     transaction of each operation
 *   P/cluster         {"state","epoch","primary","run_id","version","index"}:
 *                     the cluster row as the last operation that changed it
 *                     left it (for people and tools; the log is the truth)
 *   P/members/NAME    {"name","url"}, attached to NAME's lease: the instances
 *
 * Every operation is committed by a transaction that compares P/leader's
 * create_revision with the committing leader's term and P/head's
 * mod_revision (which every write moves, the cluster row's included) with
 * the last one it wrote: a deposed leader's write fails,
 * and so every epoch a leader sends to the sites was committed to etcd
 * first, by the only leader that could.  A write whose answer is lost is
 * looked up in the log and sent again while it did not land, within the
 * lease's fenced time.
 *
 * Self-fencing: the leader may act only while its lease cannot have expired:
 * until the send time of its last renewed keepalive + lease_ttl_ms - a
 * quarter of it (etcd counts a lease from when it received the keepalive,
 * which is later).  It stops acting (ha_may_act false) before another
 * instance can take the key.  A leader that takes the key acts only once
 * its store holds the whole log (the mirror caught up to P/head).
 *
 * Threads: one session thread (lease, campaign, members) and one mirror
 * thread (watch and apply); ha_replicate runs on the writer's thread under
 * the store's mutex.  Every function is thread-safe.
 */
#ifndef DRORCH_HA_H
#define DRORCH_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "store.h"

struct ha;

/* Starts the session and mirror threads on store (which must outlive h) and
 * sets store's replicator.  0, or -1 with err (nothing started). */
int ha_start(struct ha **out, const struct config_ha *cfg, struct store *store, char *err,
	     size_t errlen);
/* Stops the threads, revokes the lease (another instance leads at once) and
 * frees h.  NULL is fine. */
void ha_stop(struct ha *h);

/* Leads, caught up, and the lease cannot have expired: may act now. */
bool ha_may_act(struct ha *h);
/* Waits up to ms for ha_may_act; its value. */
bool ha_wait_leader(struct ha *h, uint64_t ms);
/* How many times this instance has become a ready leader (a new term each
 * time): the driver resumes the state's action once per term. */
uint64_t ha_terms(struct ha *h);
/* This instance's term while it holds the leader key: P/leader's
 * create_revision, which etcd makes higher for each new holder, so a site
 * can refuse a command of an older term (drsite: ORCHESTRATOR TERM); 0
 * while it does not lead. */
int64_t ha_term(struct ha *h);

/* The leader's advertised URL into url[len] ("" when none is known, or when
 * this instance leads).  True when another instance leads. */
bool ha_leader_url(struct ha *h, char *url, size_t len);

/* {"enabled": true, "name", "role": leader|follower|candidate, "ready",
 *  "leader": {"name","url"} or null, "term" (the leader's, as last seen),
 *  "lease_ttl_ms", "applied",
 *  "mirror": "ok" or why not, "instances": [{"name","url","role"}]} */
json_t *ha_status_json(struct ha *h);

/* "leader", "follower" or "candidate" (no leader known). */
const char *ha_role(struct ha *h);

#endif
