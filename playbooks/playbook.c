/*
 * playbook.c — DR playbooks read from YAML (see playbook.h for the format).
 *
 * The story: load the document with ydoc, walk the top-level mapping, then
 * each step: find its one kind key (and an optional `name`), check the keys
 * its kind allows, read the typed fields into a fresh pb_step whose "not
 * given" markers were set first, apply the kind's defaults and its rules
 * (required fields, at least one condition), and finally check that step
 * names are unique.  Everything is built aside and copied to *out only when
 * the whole document is valid; on any failure what was built is freed.
 */
#include "playbook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ydoc.h"

/* What the parser is checked against: the lab's sites. */
struct pb_sites {
	const char *const *names;
	int n;
};

static const char *const kind_names[] = {
	[PB_CHECK] = "check",       [PB_APPROVE] = "approve",   [PB_WAN] = "wan",
	[PB_FAULT] = "fault",       [PB_FAILOVER] = "failover", [PB_SWITCHOVER] = "switchover",
	[PB_FAILBACK] = "failback", [PB_WAIT] = "wait",         [PB_ASSERT] = "assert",
	[PB_SLEEP] = "sleep",       [PB_PAUSE] = "pause",       [PB_RESUME] = "resume",
	[PB_UPGRADE_SITE] = "upgrade_site", [PB_FINALIZE] = "finalize",
	[PB_WRITE_LOAD] = "write_load", [PB_PARTITION] = "partition",
};
#define PB_NKINDS ((int)(sizeof(kind_names) / sizeof(kind_names[0])))

const char *pb_kind_name(enum pb_kind k)
{
	return (int)k >= 0 && (int)k < PB_NKINDS ? kind_names[k] : "?";
}

static int kind_from_name(const char *s)
{
	for (int k = 0; s && k < PB_NKINDS; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return -1;
}

/* ---- field readers ----------------------------------------------------- */

/* [A-Za-z0-9_-]{1,63}: playbook and step names end up in URLs and logs. */
static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n < PB_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int read_name(struct ydoc *d, yaml_node_t *n, const char *what, char *out)
{
	const char *s = ydoc_scalar(n);
	if (!valid_name(s))
		return ydoc_fail(d, n, "%s: expected [A-Za-z0-9_-]{1,%d}, got '%s'", what,
				 PB_NAME_MAX - 1, s ? s : "(not a scalar)");
	snprintf(out, PB_NAME_MAX, "%s", s);
	return 0;
}

/* An optional integer field min..max into *out (left as is when absent). */
static int read_int(struct ydoc *d, yaml_node_t *map, const char *key, int64_t min, int64_t max,
		    int64_t *out)
{
	uint64_t v;
	if (!ydoc_get(d, map, key))
		return 0;
	if (ydoc_uint(d, map, key, false, (uint64_t)min, (uint64_t)max, &v))
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* timeout_s: 1..86400 seconds, kept in ms. */
static int read_timeout(struct ydoc *d, yaml_node_t *map, int64_t *timeout_ms)
{
	int64_t s = -1;
	if (read_int(d, map, "timeout_s", 1, 86400, &s))
		return -1;
	if (s >= 0)
		*timeout_ms = s * 1000;
	return 0;
}

/* An optional boolean into -1 (absent), 0 or 1. */
static int read_tri(struct ydoc *d, yaml_node_t *map, const char *key, int *out)
{
	bool b = false;
	if (!ydoc_get(d, map, key))
		return 0;
	if (ydoc_bool(d, map, key, &b))
		return -1;
	*out = b;
	return 0;
}

/* A decimal number lo..hi into *out (left as is when absent). */
static int read_decimal(struct ydoc *d, yaml_node_t *map, const char *key, double lo, double hi,
			double *out)
{
	yaml_node_t *n = ydoc_get(d, map, key);
	const char *s = ydoc_scalar(n);
	char *end = NULL;
	if (!n)
		return 0;
	errno = 0;
	double v = s && ((*s >= '0' && *s <= '9') || *s == '.') ? strtod(s, &end) : -1;
	if (!end || *end || errno || !(v >= lo && v <= hi))
		return ydoc_fail(d, n, "%s: expected a number from %g to %g, got '%s'", key, lo, hi,
				 s ? s : "(not a scalar)");
	*out = v;
	return 0;
}

static bool site_known(const struct pb_sites *sites, const char *s, bool drorchd_too)
{
	if (drorchd_too && strcmp(s, "drorchd") == 0)
		return true;
	for (int i = 0; i < sites->n; i++)
		if (strcmp(sites->names[i], s) == 0)
			return true;
	return false;
}

static int site_error(struct ydoc *d, yaml_node_t *n, const char *key, const char *s)
{
	return ydoc_fail(d, n, "%s: '%s' is not one of the sites", key, s);
}

/* An optional (or required) site name field, checked against the sites. */
static int read_site(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
		     const struct pb_sites *sites, char *out)
{
	if (ydoc_string(d, map, key, required, out, PB_SITE_MAX))
		return -1;
	if (*out && !site_known(sites, out, false))
		return site_error(d, ydoc_get(d, map, key), key, out);
	return 0;
}

/* state: an FSM state name (drorchd checks it names a real state). */
static int read_state(struct ydoc *d, yaml_node_t *map, char *out, size_t outlen)
{
	if (ydoc_string(d, map, "state", false, out, outlen))
		return -1;
	if (*out && strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != strlen(out))
		return ydoc_fail(d, ydoc_get(d, map, "state"),
				 "state: expected a state name such as STEADY, got '%s'", out);
	return 0;
}

/* An empty value (`- pause:`) stands for a body with no keys. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = ydoc_scalar(n);
	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

/* Fails on a key of the step's body that its kind does not take. */
static int body_keys(struct ydoc *d, yaml_node_t *m, const char *kind,
		     const char *const allowed[])
{
	return is_null(m) ? 0 : ydoc_check_keys(d, m, kind, allowed);
}

/* ---- one parser per kind ----------------------------------------------- */

static int parse_check(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
		       struct pb_step *s)
{
	static const char *const keys[] = { "state", "primary", "not_primary",
					    "replicas_streaming", NULL };
	if (body_keys(d, m, "check", keys) ||
	    read_state(d, m, s->state, sizeof(s->state)) ||
	    read_site(d, m, "primary", false, sites, s->primary) ||
	    read_site(d, m, "not_primary", false, sites, s->not_primary) ||
	    read_tri(d, m, "replicas_streaming", &s->replicas_streaming))
		return -1;
	return 0;
}

static int parse_approve(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			 struct pb_step *s)
{
	static const char *const keys[] = { "message", "timeout_s", NULL };
	(void)sites;
	s->timeout_ms = 600000;
	if (body_keys(d, m, "approve", keys) ||
	    ydoc_string(d, m, "message", false, s->message, sizeof(s->message)) ||
	    read_timeout(d, m, &s->timeout_ms))
		return -1;
	return 0;
}

/* between: exactly two different names, each a site or "drorchd". */
static int read_between(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			struct pb_step *s)
{
	yaml_node_t *seq;
	if (ydoc_seq(d, m, "between", true, &seq))
		return -1;
	yaml_node_item_t *items = seq->data.sequence.items.start;
	if (seq->data.sequence.items.top - items != 2)
		return ydoc_fail(d, seq, "between: expected exactly two site names");
	char *ends[2] = { s->a, s->b };
	for (int i = 0; i < 2; i++) {
		yaml_node_t *n = ydoc_node(d, items[i]);
		const char *name = ydoc_scalar(n);
		if (!name || !*name || strlen(name) >= PB_SITE_MAX)
			return ydoc_fail(d, n, "between: expected a site name");
		if (!site_known(sites, name, true))
			return site_error(d, n, "between", name);
		if (i == 1 && strcmp(name, s->a) == 0)
			return ydoc_fail(d, n, "between: expected two different sites, got '%s' twice",
					 name);
		snprintf(ends[i], PB_SITE_MAX, "%s", name);
	}
	return 0;
}

static int read_partition(struct ydoc *d, yaml_node_t *m, char *out, size_t outlen)
{
	if (ydoc_string(d, m, "partition", false, out, outlen))
		return -1;
	if (*out && strcmp(out, "none") && strcmp(out, "blackhole") && strcmp(out, "reset"))
		return ydoc_fail(d, ydoc_get(d, m, "partition"),
				 "partition: expected none, blackhole or reset, got '%s'", out);
	return 0;
}

static int parse_wan(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
		     struct pb_step *s)
{
	static const char *const keys[] = { "between",  "latency_ms",     "jitter_ms",
					    "loss_pct", "bandwidth_kbps", "partition", NULL };
	if (body_keys(d, m, "wan", keys) || read_between(d, m, sites, s) ||
	    read_int(d, m, "latency_ms", 0, 60000, &s->latency_ms) ||
	    read_int(d, m, "jitter_ms", 0, 60000, &s->jitter_ms) ||
	    read_decimal(d, m, "loss_pct", 0, 100, &s->loss_pct) ||
	    read_int(d, m, "bandwidth_kbps", 0, 10000000, &s->bandwidth_kbps) ||
	    read_partition(d, m, s->partition, sizeof(s->partition)))
		return -1;
	if (s->latency_ms < 0 && s->jitter_ms < 0 && s->loss_pct < 0 && s->bandwidth_kbps < 0 &&
	    !s->partition[0])
		return ydoc_fail(d, m, "wan: expected at least one of latency_ms, jitter_ms, "
				       "loss_pct, bandwidth_kbps, partition");
	return 0;
}

/* A fault step sets faults, or clears them all: not both, not neither. */
static int parse_fault(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
		       struct pb_step *s)
{
	static const char *const keys[] = { "site", "slow_fsync_ms", "stall_writes",
					    "drop_replication", "clear", NULL };
	if (body_keys(d, m, "fault", keys) || read_site(d, m, "site", true, sites, s->site) ||
	    read_int(d, m, "slow_fsync_ms", 0, 60000, &s->slow_fsync_ms) ||
	    read_tri(d, m, "stall_writes", &s->stall_writes) ||
	    read_tri(d, m, "drop_replication", &s->drop_replication) ||
	    ydoc_bool(d, m, "clear", &s->clear))
		return -1;
	bool faults = s->slow_fsync_ms >= 0 || s->stall_writes >= 0 || s->drop_replication >= 0;
	if (s->clear && faults)
		return ydoc_fail(d, ydoc_get(d, m, "clear"),
				 "fault: clear: true cannot be combined with faults");
	if (!s->clear && !faults)
		return ydoc_fail(d, m, "fault: expected at least one of slow_fsync_ms, "
				       "stall_writes, drop_replication, or clear: true");
	return 0;
}

static int parse_failover(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			  struct pb_step *s)
{
	static const char *const keys[] = { "to", "force", "timeout_s", NULL };
	s->timeout_ms = 60000;
	if (body_keys(d, m, "failover", keys) ||
	    read_site(d, m, "to", false, sites, s->to) || ydoc_bool(d, m, "force", &s->force) ||
	    read_timeout(d, m, &s->timeout_ms))
		return -1;
	return 0;
}

static int parse_switchover(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			    struct pb_step *s)
{
	static const char *const keys[] = { "to", "timeout_s", NULL };
	s->timeout_ms = 60000;
	if (body_keys(d, m, "switchover", keys) ||
	    read_site(d, m, "to", true, sites, s->to) || read_timeout(d, m, &s->timeout_ms))
		return -1;
	return 0;
}

static int parse_failback(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			  struct pb_step *s)
{
	static const char *const keys[] = { "timeout_s", NULL };
	(void)sites;
	s->timeout_ms = 60000;
	if (body_keys(d, m, "failback", keys) || read_timeout(d, m, &s->timeout_ms))
		return -1;
	return 0;
}

static int parse_wait(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
		      struct pb_step *s)
{
	static const char *const keys[] = { "state", "primary", "not_primary",
					    "replicas_streaming", "timeout_s", NULL };
	s->timeout_ms = 30000;
	if (body_keys(d, m, "wait", keys) ||
	    read_state(d, m, s->state, sizeof(s->state)) ||
	    read_site(d, m, "primary", false, sites, s->primary) ||
	    read_site(d, m, "not_primary", false, sites, s->not_primary) ||
	    read_tri(d, m, "replicas_streaming", &s->replicas_streaming) ||
	    read_timeout(d, m, &s->timeout_ms))
		return -1;
	return 0;
}

static int parse_assert(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			struct pb_step *s)
{
	static const char *const keys[] = { "rpo_records_max", "rpo_ms_max", "rto_ms_max",
					    "lost_max", "availability_min", "longest_gap_ms_max",
					    NULL };
	(void)sites;
	if (body_keys(d, m, "assert", keys) ||
	    read_int(d, m, "rpo_records_max", 0, INT64_MAX, &s->rpo_records_max) ||
	    read_int(d, m, "rpo_ms_max", 0, INT64_MAX, &s->rpo_ms_max) ||
	    read_int(d, m, "rto_ms_max", 0, INT64_MAX, &s->rto_ms_max) ||
	    read_int(d, m, "lost_max", 0, INT64_MAX, &s->lost_max) ||
	    read_decimal(d, m, "availability_min", 0, 1, &s->availability_min) ||
	    read_int(d, m, "longest_gap_ms_max", 0, INT64_MAX, &s->longest_gap_ms_max))
		return -1;
	if (s->rpo_records_max < 0 && s->rpo_ms_max < 0 && s->rto_ms_max < 0 && !pb_asserts_load(s))
		return ydoc_fail(d, m, "assert: expected at least one of rpo_records_max, "
				       "rpo_ms_max, rto_ms_max, lost_max, availability_min, "
				       "longest_gap_ms_max");
	return 0;
}

bool pb_asserts_load(const struct pb_step *s)
{
	return s->kind == PB_ASSERT && (s->lost_max >= 0 || s->availability_min >= 0 ||
					s->longest_gap_ms_max >= 0);
}

bool pb_asserts_recovery(const struct pb_step *s)
{
	return s->kind == PB_ASSERT && (s->rpo_records_max >= 0 || s->rpo_ms_max >= 0 ||
					s->rto_ms_max >= 0);
}

/* write_load: a start (writers, rate, gap_ms with defaults) or a stop. */
static int parse_write_load(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			    struct pb_step *s)
{
	static const char *const keys[] = { "writers", "rate", "gap_ms", "stop", "timeout_s",
					    NULL };
	(void)sites;
	if (body_keys(d, m, "write_load", keys) || ydoc_bool(d, m, "stop", &s->stop) ||
	    read_int(d, m, "writers", 1, 16, &s->writers) ||
	    read_int(d, m, "rate", 1, 1000, &s->rate) ||
	    read_int(d, m, "gap_ms", 1, 60000, &s->gap_ms) || read_timeout(d, m, &s->timeout_ms))
		return -1;
	bool start_keys = s->writers >= 0 || s->rate >= 0 || s->gap_ms >= 0;
	if (s->stop && start_keys)
		return ydoc_fail(d, ydoc_get(d, m, "stop"), "write_load: stop: true takes only "
				 "timeout_s (writers, rate and gap_ms are a start's)");
	if (!s->stop && s->timeout_ms >= 0)
		return ydoc_fail(d, ydoc_get(d, m, "timeout_s"), "write_load: timeout_s is a stop's "
				 "(how long the reads may wait for a primary)");
	if (s->stop && s->timeout_ms < 0)
		s->timeout_ms = 30000;
	if (!s->stop) {
		s->writers = s->writers < 0 ? 2 : s->writers;
		s->rate = s->rate < 0 ? 50 : s->rate;
		s->gap_ms = s->gap_ms < 0 ? 500 : s->gap_ms;
	}
	return 0;
}

/* partition: exactly one of site, from+to, between, heal: true. */
static int parse_partition(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			   struct pb_step *s)
{
	static const char *const keys[] = { "site", "from", "to", "between", "heal", NULL };
	if (body_keys(d, m, "partition", keys) || read_site(d, m, "site", false, sites, s->site) ||
	    read_site(d, m, "from", false, sites, s->a) || read_site(d, m, "to", false, sites, s->b) ||
	    ydoc_bool(d, m, "heal", &s->heal))
		return -1;
	bool between = ydoc_get(d, m, "between") != NULL;
	if (between && (s->a[0] || s->b[0]))
		return ydoc_fail(d, m, "partition: between cannot be combined with from/to");
	if (between && read_between(d, m, sites, s))
		return -1;
	if (!between && (!s->a[0]) != (!s->b[0]))
		return ydoc_fail(d, m, "partition: from and to go together");
	if (!between && s->a[0] && !strcmp(s->a, s->b))
		return ydoc_fail(d, ydoc_get(d, m, "to"), "partition: from and to are the same site");
	s->one_way = !between && s->a[0];
	int given = (s->site[0] != 0) + (s->a[0] != 0) + s->heal;
	if (given != 1)
		return ydoc_fail(d, m, "partition: expected exactly one of site, from/to, between, "
				       "heal: true");
	return 0;
}

static int parse_sleep(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
		       struct pb_step *s)
{
	static const char *const keys[] = { "ms", NULL };
	(void)sites;
	uint64_t ms;
	if (body_keys(d, m, "sleep", keys) ||
	    ydoc_uint(d, m, "ms", true, 0, 600000, &ms))
		return -1;
	s->sleep_ms = (int64_t)ms;
	return 0;
}

/* A required version X.Y.Z (three non-negative integers). */
static int read_version(struct ydoc *d, yaml_node_t *m, const char *kind, char *out, size_t len)
{
	unsigned a, b, c;
	char tail;
	if (ydoc_string(d, m, "version", true, out, len))
		return -1;
	if (sscanf(out, "%u.%u.%u%c", &a, &b, &c, &tail) != 3 || out[0] < '0' || out[0] > '9')
		return ydoc_fail(d, ydoc_get(d, m, "version"), "%s: version: expected X.Y.Z, got '%s'",
				 kind, out);
	return 0;
}

static int parse_upgrade_site(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			      struct pb_step *s)
{
	static const char *const keys[] = { "site", "version", "timeout_s", NULL };
	s->timeout_ms = 600000;
	if (body_keys(d, m, "upgrade_site", keys) ||
	    read_site(d, m, "site", true, sites, s->site) ||
	    read_version(d, m, "upgrade_site", s->version, sizeof(s->version)) ||
	    read_timeout(d, m, &s->timeout_ms))
		return -1;
	return 0;
}

static int parse_finalize(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
			  struct pb_step *s)
{
	static const char *const keys[] = { "version", NULL };
	(void)sites;
	if (body_keys(d, m, "finalize", keys) ||
	    read_version(d, m, "finalize", s->version, sizeof(s->version)))
		return -1;
	return 0;
}

/* pause and resume take no fields. */
static int parse_bare(struct ydoc *d, yaml_node_t *m, const struct pb_sites *sites,
		      struct pb_step *s)
{
	(void)sites;
	const char *kind = pb_kind_name(s->kind);
	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, m, "%s: expected {}", kind);
	if (m->data.mapping.pairs.top > m->data.mapping.pairs.start) {
		yaml_node_t *k = ydoc_node(d, m->data.mapping.pairs.start->key);
		return ydoc_fail(d, k, "%s: unknown key '%s' (%s takes none)", kind,
				 ydoc_scalar(k) ? ydoc_scalar(k) : "?", kind);
	}
	return 0;
}

typedef int (*kind_parser)(struct ydoc *, yaml_node_t *, const struct pb_sites *,
			   struct pb_step *);
static const kind_parser kind_parsers[] = {
	[PB_CHECK] = parse_check,     [PB_APPROVE] = parse_approve,
	[PB_WAN] = parse_wan,         [PB_FAULT] = parse_fault,
	[PB_FAILOVER] = parse_failover, [PB_SWITCHOVER] = parse_switchover,
	[PB_FAILBACK] = parse_failback, [PB_WAIT] = parse_wait,
	[PB_ASSERT] = parse_assert,   [PB_SLEEP] = parse_sleep,
	[PB_PAUSE] = parse_bare,      [PB_RESUME] = parse_bare,
	[PB_UPGRADE_SITE] = parse_upgrade_site, [PB_FINALIZE] = parse_finalize,
	[PB_WRITE_LOAD] = parse_write_load, [PB_PARTITION] = parse_partition,
};

/* ---- steps ------------------------------------------------------------- */

void pb_step_init(struct pb_step *s, enum pb_kind kind, int line)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->line = line;
	s->replicas_streaming = s->stall_writes = s->drop_replication = -1;
	s->timeout_ms = s->latency_ms = s->jitter_ms = s->bandwidth_kbps = -1;
	s->loss_pct = -1;
	s->slow_fsync_ms = s->rpo_records_max = s->rpo_ms_max = s->rto_ms_max = -1;
	s->lost_max = s->longest_gap_ms_max = -1;
	s->availability_min = -1;
	s->writers = s->rate = s->gap_ms = -1;
	s->sleep_ms = -1;
}

/* The step's kind key (exactly one besides `name`); *body its value. */
static int step_kind(struct ydoc *d, yaml_node_t *n, int *kind, yaml_node_t **body)
{
	if (n->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, n, "step: expected a mapping such as {check: {state: STEADY}}");
	*kind = -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = ydoc_node(d, p->key);
		const char *k = ydoc_scalar(kn);
		if (k && strcmp(k, "name") == 0)
			continue;
		int kk = kind_from_name(k);
		if (kk < 0)
			return ydoc_fail(d, kn, "step: unknown kind '%s' (expected one of: check, "
						"approve, wan, fault, failover, switchover, failback, "
						"wait, assert, sleep, pause, resume, upgrade_site, "
						"finalize, write_load, partition)", k ? k : "?");
		if (*kind >= 0)
			return ydoc_fail(d, kn, "step: '%s' after '%s': one kind per step", k,
					 kind_names[*kind]);
		*kind = kk;
		*body = ydoc_node(d, p->value);
	}
	if (*kind < 0)
		return ydoc_fail(d, n, "step: expected a kind key (check, approve, wan, ...)");
	return 0;
}

static int parse_step(struct ydoc *d, yaml_node_t *n, const char *prefix, int index,
		      const struct pb_sites *sites, struct pb_step *s)
{
	int kind = -1;
	yaml_node_t *body = NULL;
	if (step_kind(d, n, &kind, &body))
		return -1;
	pb_step_init(s, (enum pb_kind)kind, (int)n->start_mark.line + 1);
	snprintf(s->name, sizeof(s->name), "%s%d-%s", prefix, index + 1, kind_names[kind]);
	yaml_node_t *name = ydoc_get(d, n, "name");
	if (name && read_name(d, name, "step name", s->name))
		return -1;
	return kind_parsers[kind](d, body, sites, s);
}

/* The node naming a step: its `name` value, else the step itself. */
static yaml_node_t *step_name_node(struct ydoc *d, yaml_node_t *step)
{
	yaml_node_t *name = ydoc_get(d, step, "name");
	return name ? name : step;
}

/* The node of step i of pb: in steps, else in on_failure (rb). */
static yaml_node_t *step_node(struct ydoc *d, yaml_node_t *seq, yaml_node_t *rb,
			      const struct playbook *pb, int i)
{
	yaml_node_t *in = i < pb->nsteps ? seq : rb;
	return ydoc_node(d, in->data.sequence.items.start[i < pb->nsteps ? i : i - pb->nsteps]);
}

static int check_unique(struct ydoc *d, yaml_node_t *seq, yaml_node_t *rb,
			const struct playbook *pb)
{
	for (int i = 1; i < pb->nsteps + pb->nrollback; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(pb->steps[i].name, pb->steps[j].name) == 0)
				return ydoc_fail(d, step_name_node(d, step_node(d, seq, rb, pb, i)),
						 "step name '%s' is already used by step %d (line %d)",
						 pb->steps[i].name, j + 1, pb->steps[j].line);
	return 0;
}

/* A write load is started before it is stopped, never twice at once, and
 * measured (stopped) before an assert reads its figures; on_failure's
 * steps start and stop none (the runner stops a running load itself). */
static int check_load_order(struct ydoc *d, yaml_node_t *seq, yaml_node_t *rb,
			    const struct playbook *pb)
{
	bool running = false, measured = false;
	for (int i = 0; i < pb->nsteps + pb->nrollback; i++) {
		const struct pb_step *s = &pb->steps[i];
		yaml_node_t *n = step_node(d, seq, rb, pb, i);
		if (s->kind == PB_WRITE_LOAD && i >= pb->nsteps)
			return ydoc_fail(d, n, "on_failure: write_load is not a rollback step (a "
					 "load still running is stopped and checked at the end)");
		if (s->kind == PB_WRITE_LOAD && s->stop && !running)
			return ydoc_fail(d, n, "write_load: stop: no write_load started before it");
		if (s->kind == PB_WRITE_LOAD && !s->stop && running)
			return ydoc_fail(d, n, "write_load: one is already running (stop it first)");
		if (pb_asserts_load(s) && !measured)
			return ydoc_fail(d, n, "assert: lost_max, availability_min and "
					 "longest_gap_ms_max need a write_load stopped before it");
		if (s->kind == PB_WRITE_LOAD) {
			running = !s->stop;
			measured = measured || s->stop;
		}
	}
	return 0;
}

/* The items of seq into out[0..n) (named PREFIX N-KIND by default). */
static int parse_list(struct ydoc *d, yaml_node_t *seq, const char *prefix,
		      const struct pb_sites *sites, struct pb_step *out, int *count)
{
	yaml_node_item_t *items = seq->data.sequence.items.start;
	long n = seq->data.sequence.items.top - items;
	for (*count = 0; *count < n; (*count)++)
		if (parse_step(d, ydoc_node(d, items[*count]), prefix, *count, sites,
			       &out[*count]))
			return -1;
	return 0;
}

/* on_failure: abort (the default), or a sequence of steps; *rb the latter. */
static int read_on_failure(struct ydoc *d, yaml_node_t *root, yaml_node_t **rb)
{
	yaml_node_t *n = ydoc_get(d, root, "on_failure");
	*rb = NULL;
	if (!n || (ydoc_scalar(n) && !strcmp(ydoc_scalar(n), "abort")))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return ydoc_fail(d, n, "on_failure: expected abort or a list of steps");
	long m = n->data.sequence.items.top - n->data.sequence.items.start;
	if (m == 0 || m > PB_MAX_STEPS)
		return ydoc_fail(d, n, "on_failure: expected 1 to %d steps", PB_MAX_STEPS);
	*rb = n;
	return 0;
}

static int parse_steps(struct ydoc *d, yaml_node_t *root, const struct pb_sites *sites,
		       struct playbook *pb)
{
	yaml_node_t *seq, *rb;
	if (ydoc_seq(d, root, "steps", true, &seq) || read_on_failure(d, root, &rb))
		return -1;
	yaml_node_item_t *items = seq->data.sequence.items.start;
	long n = seq->data.sequence.items.top - items;
	long m = rb ? rb->data.sequence.items.top - rb->data.sequence.items.start : 0;
	if (n == 0)
		return ydoc_fail(d, seq, "steps: expected at least one step");
	if (n > PB_MAX_STEPS)
		return ydoc_fail(d, ydoc_node(d, items[PB_MAX_STEPS]), "steps: at most %d",
				 PB_MAX_STEPS);
	pb->steps = calloc((size_t)(n + m), sizeof(*pb->steps));
	if (!pb->steps)
		return ydoc_fail(d, seq, "steps: out of memory");
	if (parse_list(d, seq, "", sites, pb->steps, &pb->nsteps) ||
	    (rb && parse_list(d, rb, "rollback-", sites, pb->steps + n, &pb->nrollback)))
		return -1;
	return check_unique(d, seq, rb, pb) || check_load_order(d, seq, rb, pb) ? -1 : 0;
}

static int parse_playbook(struct ydoc *d, const struct pb_sites *sites, struct playbook *pb)
{
	static const char *const keys[] = { "name", "description", "steps", "on_failure", NULL };
	yaml_node_t *root = ydoc_root(d), *name;
	if (ydoc_check_keys(d, root, "playbook", keys))
		return -1;
	name = ydoc_get(d, root, "name");
	if (!name)
		return ydoc_fail(d, root, "missing required key 'name'");
	if (read_name(d, name, "name", pb->name) ||
	    ydoc_string(d, root, "description", false, pb->description,
			sizeof(pb->description)) ||
	    parse_steps(d, root, sites, pb))
		return -1;
	return 0;
}

/* Walks a loaded document (or not: rc from loading) into *out, or frees. */
static int finish(struct ydoc *d, int rc, const char *const sites[], int nsites,
		  struct playbook *out)
{
	struct pb_sites s = { sites, nsites };
	struct playbook pb;
	memset(&pb, 0, sizeof(pb));
	if (rc == 0)
		rc = parse_playbook(d, &s, &pb);
	ydoc_free(d);
	if (rc != 0) {
		playbook_free(&pb);
		return -1;
	}
	*out = pb;
	return 0;
}

int playbook_parse(const char *name, const char *buf, size_t len, const char *const sites[],
		   int nsites, struct playbook *out, char *err, size_t errlen)
{
	struct ydoc d;
	int rc = ydoc_load_mem(&d, name, buf, len, err, errlen);
	return finish(&d, rc, sites, nsites, out);
}

int playbook_load(const char *path, const char *const sites[], int nsites,
		  struct playbook *out, char *err, size_t errlen)
{
	struct ydoc d;
	int rc = ydoc_load(&d, path, err, errlen);
	return finish(&d, rc, sites, nsites, out);
}

void playbook_free(struct playbook *pb)
{
	free(pb->steps);
	pb->steps = NULL;
	pb->nsteps = pb->nrollback = 0;
}

/* ---- JSON -------------------------------------------------------------- */

/* Adds key: value to o, counting failures in *bad. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, key, v))
		(*bad)++;
}

static void put_str(json_t *o, const char *key, const char *v, int *bad)
{
	if (*v)
		put(o, key, json_string(v), bad);
}

static void put_int(json_t *o, const char *key, int64_t v, int *bad)
{
	if (v >= 0)
		put(o, key, json_integer((json_int_t)v), bad);
}

static void put_tri(json_t *o, const char *key, int v, int *bad)
{
	if (v >= 0)
		put(o, key, json_boolean(v), bad);
}

static void put_wan(json_t *o, const struct pb_step *s, int *bad)
{
	put(o, "between", json_pack("[s, s]", s->a, s->b), bad);
	put_int(o, "latency_ms", s->latency_ms, bad);
	put_int(o, "jitter_ms", s->jitter_ms, bad);
	if (s->loss_pct >= 0)
		put(o, "loss_pct", json_real(s->loss_pct), bad);
	put_int(o, "bandwidth_kbps", s->bandwidth_kbps, bad);
	put_str(o, "partition", s->partition, bad);
}

static void put_load(json_t *o, const struct pb_step *s, int *bad)
{
	if (s->stop) {
		put(o, "stop", json_true(), bad);
		return;
	}
	put_int(o, "writers", s->writers, bad);
	put_int(o, "rate", s->rate, bad);
	put_int(o, "gap_ms", s->gap_ms, bad);
}

static void put_partition(json_t *o, const struct pb_step *s, int *bad)
{
	if (s->heal)
		put(o, "heal", json_true(), bad);
	else if (s->site[0])
		put_str(o, "site", s->site, bad);
	else if (s->one_way)
		put(o, "from", json_string(s->a), bad), put(o, "to", json_string(s->b), bad);
	else
		put(o, "between", json_pack("[s, s]", s->a, s->b), bad);
}

static void put_fields(json_t *o, const struct pb_step *s, int *bad)
{
	put_str(o, "state", s->state, bad);
	put_str(o, "primary", s->primary, bad);
	put_str(o, "not_primary", s->not_primary, bad);
	put_tri(o, "replicas_streaming", s->replicas_streaming, bad);
	put_int(o, "timeout_ms", s->timeout_ms, bad);
	put_str(o, "message", s->message, bad);
	put_str(o, "to", s->to, bad);
	if (s->kind == PB_FAILOVER)
		put(o, "force", json_boolean(s->force), bad);
	if (s->kind == PB_WAN)
		put_wan(o, s, bad);
	if (s->kind == PB_WRITE_LOAD)
		put_load(o, s, bad);
	if (s->kind == PB_PARTITION) {
		put_partition(o, s, bad);
		return;  /* its site is the partition's, put above */
	}
	put_str(o, "site", s->site, bad);
	put_int(o, "slow_fsync_ms", s->slow_fsync_ms, bad);
	put_tri(o, "stall_writes", s->stall_writes, bad);
	put_tri(o, "drop_replication", s->drop_replication, bad);
	if (s->kind == PB_FAULT)
		put(o, "clear", json_boolean(s->clear), bad);
	put_int(o, "rpo_records_max", s->rpo_records_max, bad);
	put_int(o, "rpo_ms_max", s->rpo_ms_max, bad);
	put_int(o, "rto_ms_max", s->rto_ms_max, bad);
	put_int(o, "lost_max", s->lost_max, bad);
	if (s->availability_min >= 0)
		put(o, "availability_min", json_real(s->availability_min), bad);
	put_int(o, "longest_gap_ms_max", s->longest_gap_ms_max, bad);
	put_int(o, "sleep_ms", s->sleep_ms, bad);
	put_str(o, "version", s->version, bad);
}

json_t *pb_step_json(const struct pb_step *s)
{
	int bad = 0;
	json_t *o = json_pack("{s:s, s:s, s:i}", "name", s->name, "kind", pb_kind_name(s->kind),
			      "line", s->line);
	if (!o)
		return NULL;
	put_fields(o, s, &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
