/*
 * fanout.h — the driver thread's connections to the sites, and one request
 * to several sites at once.
 *
 * Owns one kept-alive HTTP client per site for the failover actions
 * (actions.c): consecutive actions reuse its connection instead of opening
 * a new one per step (over a WAN a handshake is a round trip).  A client is
 * used by one thread at a time: the driver thread, or while orch_fanout
 * runs, the one worker that talks to that site.  With HA each carries
 * orch_site_client's give up: a deposed leader sends nothing.
 */
#ifndef DRORCH_FANOUT_H
#define DRORCH_FANOUT_H

#include <stdbool.h>

#include "httpc.h"

struct orch;

/* Site i's kept client (created on first use); NULL when out of memory.
 * Only from the driver thread (or a worker of its orch_fanout for site i). */
struct httpc *orch_act_client(struct orch *o, int i);
/* Frees every kept client (orch_stop, after the driver thread ended). */
void orch_act_clients_free(struct orch *o);

/* One site's part of a fan-out: talks to site i with client h (NULL: out of
 * memory, it fails its part); arg is orch_fanout's. */
typedef void (*fanout_fn)(struct orch *o, struct httpc *h, int i, void *arg);

/*
 * Runs fn for every site i with which[i], all at once (one thread per site;
 * the caller runs one itself, and any a thread could not be started for),
 * and returns when all have.  fn must touch only its site's share of arg
 * (or take o->mu).
 */
void orch_fanout(struct orch *o, const bool which[], fanout_fn fn, void *arg);

#endif
