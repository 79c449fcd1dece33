/*
 * etcd.h — a small client for etcd's v3 JSON gateway (etcd 3.4), over
 * libcurl and jansson: key-value reads and writes, transactions, leases and
 * watches.  drorchd's high-availability mode builds its leader election (a
 * key held by a lease, taken in a transaction) and its state mirror (a watch
 * from a revision) on it.
 *
 * A struct etcd knows several endpoints ("http://127.0.0.1:2379") of one
 * cluster and holds one curl handle: one thread at a time.  Every call is
 * bounded by the client's timeout_ms, whatever the number of endpoints: a
 * call starts on the endpoint that answered last and moves on to the next
 * one when the request cannot connect, gets no answer in its share of the
 * time left (time left / endpoints not yet tried), or is answered with an
 * HTTP 5xx (etcd without quorum, a member shutting down).  An answer of etcd
 * refusing the request ("etcdserver: duplicate key given in txn request")
 * is returned at once as -1 with its message.
 *
 * Failover sends a request again, so a call may act twice: harmless for
 * range, put, delete and the lease calls (the same end state; a second
 * lease_grant leaves a lease that expires by its TTL).  Not for a
 * transaction, whose compares would see its own first effect: etcd_txn
 * moves on only when the request never reached the endpoint, and returns
 * ETCD_UNKNOWN when it may have been applied (the next call then starts on
 * the next endpoint: a member, or a proxy in front of one, that accepts
 * requests and drops them is not tried first again).  A put or delete that
 * returns -1 may also have been applied.
 *
 * Keys are NUL-terminated text; values are bytes with a length.  Errors
 * name the endpoint, the call and what failed:
 *   "etcd http://127.0.0.1:2379: txn: connect: Connection refused".
 * Functions return 0 or -1 with a message in err[errlen], but for the
 * positive results below.
 *
 * Call curl_global_init (httpc_global_init) once per process first.
 */
#ifndef DRORCH_ETCD_H
#define DRORCH_ETCD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results besides 0 and -1: a caller testing `!= 0` never takes one for success. */
enum {
	ETCD_COMPACTED = 1,  /* etcd_watch: start_revision is compacted away */
	ETCD_UNKNOWN = 2,    /* etcd_txn: sent, but no answer: it may have been applied */
};

struct etcd;

/*
 * A client of endpoints[0..n-1] (copied; http:// URLs without a trailing
 * slash).  timeout_ms bounds each call.  On 0 the caller owns *out and
 * frees it with etcd_close().
 */
int etcd_open(struct etcd **out, const char *const *endpoints, int n, long timeout_ms,
	      char *err, size_t errlen);
void etcd_close(struct etcd *e);
/* The endpoint that answered last, where the next call starts (for logs). */
const char *etcd_endpoint(const struct etcd *e);

/*
 * The range_end that makes [prefix, range_end) every key starting with
 * prefix, into out[len]: prefix with its last byte below 0xff incremented
 * and what follows cut.  "" when there is no such byte: "" as a range_end
 * means every key from key on.  0, or -1 when it does not fit.
 */
int etcd_prefix_end(const char *prefix, char *out, size_t len);

struct etcd_kv {
	char *key;            /* NUL-terminated */
	char *value;          /* value_len bytes, then a NUL */
	size_t value_len;
	int64_t create_rev;   /* the revision that created the key */
	int64_t mod_rev;      /* the revision that last changed it */
	int64_t version;      /* changes since its creation, 1 after the first put */
	int64_t lease;        /* the lease it is attached to, 0 for none */
};

struct etcd_kvs {
	struct etcd_kv *kv;   /* n keys in key order */
	size_t n;
	int64_t revision;     /* the store's revision the range was read at */
	bool more;            /* limit cut the range short */
};
/* Frees what k holds and empties it; k itself is the caller's. */
void etcd_kvs_free(struct etcd_kvs *k);

/*
 * Reads one key (range_end NULL) or the keys of [key, range_end), at most
 * limit of them (0: all).  A key that does not exist is no error: out->n 0.
 * On 0 the caller frees out with etcd_kvs_free(); on -1 it is empty.
 */
int etcd_range(struct etcd *e, const char *key, const char *range_end, int64_t limit,
	       struct etcd_kvs *out, char *err, size_t errlen);
/* Sets key to value[len], attached to lease (0: none).  *revision (may be
 * NULL) receives the revision of the write. */
int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *revision, char *err, size_t errlen);
/* Deletes key (range_end NULL) or [key, range_end).  *deleted and *revision
 * (each may be NULL) receive how many keys went and the store's revision. */
int etcd_delete(struct etcd *e, const char *key, const char *range_end, int64_t *deleted,
		int64_t *revision, char *err, size_t errlen);

/* ---- transactions ---- */

/* What a compare reads of its key.  A key that does not exist has create,
 * mod and version revision 0, lease 0 and no value (a VALUE compare fails). */
enum etcd_target { ETCD_CREATE, ETCD_MOD, ETCD_VERSION, ETCD_VALUE, ETCD_LEASE };
enum etcd_result { ETCD_EQUAL, ETCD_NOT_EQUAL, ETCD_GREATER, ETCD_LESS };

/* key's target compared with number (CREATE, MOD, VERSION, LEASE) or with
 * value[value_len] (VALUE): "key's target is result to the operand". */
struct etcd_cmp {
	const char *key;
	enum etcd_target target;
	enum etcd_result result;
	int64_t number;
	const char *value;
	size_t value_len;
};

enum etcd_op_kind { ETCD_OP_PUT, ETCD_OP_RANGE, ETCD_OP_DELETE };

/* PUT key = value[value_len] with lease; RANGE and DELETE key or
 * [key, range_end) as etcd_range and etcd_delete do (RANGE: all keys).
 * etcd refuses a transaction whose branch names one key twice. */
struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	const char *value;
	size_t value_len;
	int64_t lease;
	const char *range_end;
};

struct etcd_txn_result {
	bool succeeded;          /* every compare held: `then` ran, else `otherwise` */
	int64_t revision;        /* the store's revision after the transaction */
	struct etcd_kvs *ranges; /* one per op of the branch taken, in order; */
	size_t nranges;          /* empty (n 0) but for its RANGE ops */
};

/*
 * Runs `then` if every compare of cmp holds, else `otherwise`, atomically.
 * 0: *out says which branch ran and holds the ranges it read (free them
 * with etcd_txn_result_free).  ETCD_UNKNOWN: the request was sent but no
 * answer came back (a timeout, a broken connection, an HTTP 5xx): it may
 * or may not have been applied, and the caller must read the keys to learn
 * which (err says why; *out is empty).  -1: it was not applied.
 */
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp,
	     const struct etcd_op *then, size_t nthen,
	     const struct etcd_op *otherwise, size_t notherwise,
	     struct etcd_txn_result *out, char *err, size_t errlen);
void etcd_txn_result_free(struct etcd_txn_result *r);

/* ---- leases ---- */

/* A new lease of ttl_s seconds; *granted_ttl_s (may be NULL) receives the
 * TTL etcd gave it (it raises a TTL below its minimum, 1.5 election
 * timeouts, rounded up to a second). */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl_s,
		     char *err, size_t errlen);
/* Renews lease id; *ttl_left_s receives its TTL again, or 0 when the lease
 * is gone (expired or revoked: its keys are deleted).  That is no error. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_left_s, char *err,
			 size_t errlen);
/* Ends lease id and deletes its keys; a lease already gone is no error. */
int etcd_lease_revoke(struct etcd *e, int64_t id, char *err, size_t errlen);

/* ---- watch ---- */

/* One change: a put (the key's new kv) or a delete (kv has key and mod_rev
 * only).  Owned by etcd_watch: valid during the callback only. */
struct etcd_event {
	bool deleted;
	struct etcd_kv kv;
};

/* Called for each event; nonzero ends the watch after this event. */
typedef int (*etcd_watch_fn)(void *ctx, const struct etcd_event *ev);

/*
 * Calls cb for every change of key (range_end NULL) or [key, range_end)
 * from start_revision on (0: from now), in revision order, for up to max_ms.
 * It returns 0 when max_ms has passed, cb returned nonzero, or *stop (may be
 * NULL; looked at every 100 ms) became true.  *next_rev always receives the
 * revision to watch from next: every event before it was delivered (0 when
 * start_revision was 0 and no endpoint confirmed the watch).  When
 * cb ends the watch on one of several events of one revision (a
 * transaction's), *next_rev is that revision: the resumed watch delivers
 * all of them again (they are of distinct keys: applying them twice changes
 * nothing).
 *
 * A stream that breaks (its member killed) resumes on the next endpoint
 * from *next_rev; an endpoint that does not confirm the watch within
 * timeout_ms is left for the next.  -1 when the endpoints, each in turn,
 * failed without delivering an event.  ETCD_COMPACTED when start_revision
 * was compacted: *next_rev is then the oldest revision etcd still has, and
 * the caller reads the state afresh (etcd_range) and watches from the
 * revision after the one it read.
 */
int etcd_watch(struct etcd *e, const char *key, const char *range_end, int64_t start_revision,
	       long max_ms, const atomic_bool *stop, etcd_watch_fn cb, void *ctx,
	       int64_t *next_rev, char *err, size_t errlen);

#endif
