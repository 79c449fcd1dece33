/*
 * lab.c — a local drorch lab (see lab.h).
 *
 * The story of `lab up`, in order: lay out DIR (tokens, data dirs), start
 * drlink, create its links (every directed site pair, drorchd to every
 * site; drlink picks the ports), start the sites, apply the spec's WAN
 * profile, write drorchd's config and policy, start drorchd, and wait until
 * it reports STEADY with every replica streaming.  lab.json is rewritten
 * after every process start, so whatever happens a later `lab down` finds
 * every pid; a failed start kills what it started before returning.
 *
 * With HA, before drorchd: start the three etcd members of one new cluster
 * (etcd-1..3, data in DIR/etcd-N) all at once, as a member answers /health
 * only once a quorum of its cluster runs, then wait for each; create a drlink
 * link from each instance N to each member M (drorchd-N.etcd-M); then start
 * drorchd-1..3, each with its own config (DIR/drorchd-N.yaml: an ha: section
 * naming it, its own links to the etcd members and its own URL), listen port
 * and store (DIR/drorchd-N.db), all through the same drorchd->site links;
 * then wait until exactly one instance answers /healthz/leader 200 and it
 * reports STEADY.  Its own etcd links let one instance be cut off from etcd
 * alone, or from all members but one (lab_cut_from_etcd).  A member restarted on its data dir (lab start) rejoins with the
 * same argv: etcd ignores the --initial-cluster flags once it has data.
 *
 * LAB.yaml (every key optional):
 *   sites:   [{name: us-east, region: us-east-1}, ...]     2 or 3 sites
 *   initial_primary: us-east                               default: the first
 *   policy:  policies/x.yaml  (relative to LAB.yaml)  or an inline mapping
 *   wan:
 *     default: {latency: 20ms, jitter: 2ms, loss: 0%, bandwidth: 100mbit}
 *     links:   [{between: [us-east, ap-south], latency: 120ms, loss: 0.5%}]
 *   A wan entry applies to both links between its two ends ("drorchd" is
 *   an end too), each direction; latency is one-way (latency_ms, a number
 *   of ms as playbooks write it, and the older delay are accepted).
 *   enable_faults: true      every drsite with --enable-faults (drills, drchaos)
 *   site_args: [--segment-bytes, "65536"]   more drsite arguments (at most 8)
 *   drsite_version: 0.1.0    the drsite version every site starts on (default
 *                            DRSITE_VERSION, the plain `drsite`): its program is
 *                            lab_drsite_program's, e.g. drsite-0.1.0, so that a
 *                            rolling upgrade really swaps binaries
 *   ha: true                 drorchd-1..3 through etcd-1..3 (lab_up_opts.ha);
 *                            or ha: {lease_ttl_ms: 2000}, HA with that lease
 *                            (default 3000)
 */
#include "lab.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "freeport.h"
#include "format.h"
#include "httpc.h"
#include "timeutil.h"
#include "version.h"
#include "ydoc.h"

#define LAB_HTTP_TIMEOUT_MS 3000
#define LAB_HA_PREFIX "/drorch/lab"   /* the HA lab's keys in etcd */
#define LAB_HA_LEASE_MS 3000          /* the leader's lease, unless LAB.yaml says */

static const char *const default_names[LAB_MAX_SITES] = { "us-east", "eu-west", "ap-south" };
static const char *const default_regions[LAB_MAX_SITES] = { "us-east-1", "eu-west-1",
							     "ap-south-1" };

/* What LAB.yaml asks for. */
struct lab_wan_rule {
	char a[LAB_NAME], b[LAB_NAME];
	struct lab_cond cond;
};

struct lab_spec {
	int nsites;
	struct lab_site sites[LAB_MAX_SITES];
	char initial_primary[LAB_NAME];
	char policy_path[LAB_PATH];
	char *policy_text;                 /* inline policy as YAML, malloc'd */
	bool has_default;
	struct lab_cond wan_default;
	int nrules;
	struct lab_wan_rule rules[16];
	bool enable_faults;                /* drsite --enable-faults */
	int nsite_args;
	char site_args[LAB_MAX_SITE_ARGS][LAB_PATH];
	char drsite_version[LAB_NAME];     /* X.Y.Z every site starts on */
	bool ha;                           /* drorchd-1..3 through etcd-1..3 */
	uint64_t lease_ttl_ms;             /* their leader's lease */
};

static int seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* snprintf into a fixed field; -1 when it does not fit. */
static int fmt_field(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fmt_field(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void lab_free(struct lab *l)
{
	free(l);
}

/* ==== values: durations, percentages, bandwidths ============================ */

/* A non-negative decimal number followed by *unit. */
static int parse_number(const char *text, double *v, const char **unit)
{
	char *end = NULL;
	if (!text || !*text || *text == '-' || *text == '+')
		return -1;
	errno = 0;
	*v = strtod(text, &end);
	if (errno || end == text || !isfinite(*v))
		return -1;
	*unit = end;
	return 0;
}

int lab_parse_ms(const char *text, int64_t *ms)
{
	double v;
	const char *u;
	if (parse_number(text, &v, &u))
		return -1;
	double scale = !*u || !strcmp(u, "ms") ? 1 : !strcmp(u, "s") ? 1000 : -1;
	if (scale < 0 || v * scale > 600000)
		return -1;
	*ms = (int64_t)llround(v * scale);
	return 0;
}

int lab_parse_pct(const char *text, double *pct)
{
	double v;
	const char *u;
	if (parse_number(text, &v, &u) || (*u && strcmp(u, "%")) || v > 100)
		return -1;
	*pct = v;
	return 0;
}

int lab_parse_kbps(const char *text, int64_t *kbps)
{
	double v;
	const char *u;
	if (parse_number(text, &v, &u))
		return -1;
	double scale = !*u || !strcasecmp(u, "kbit") ? 1 : !strcasecmp(u, "mbit") ? 1e3
		     : !strcasecmp(u, "gbit") ? 1e6 : -1;
	if (scale < 0 || v * scale > 100000000)
		return -1;
	*kbps = (int64_t)llround(v * scale);
	return 0;
}

/* ==== LAB.yaml ============================================================== */

/* One scalar field of a wan mapping, parsed with fn into the condition. */
static int spec_cond(struct ydoc *d, yaml_node_t *map, struct lab_cond *c)
{
	static const char *const keys[] = { "between", "latency", "latency_ms", "delay", "jitter",
					    "loss", "bandwidth", "partition", NULL };
	if (ydoc_check_keys(d, map, "wan link", keys))
		return -1;
	const char *s;
	yaml_node_t *n = NULL;
	/* latency (as drctl wan set --latency, playbooks' latency_ms); delay
	 * is the older spelling; one of them only. */
	static const char *const spellings[] = { "latency", "latency_ms", "delay" };
	const char *key = NULL;
	for (int i = 0; i < 3; i++) {
		yaml_node_t *k = ydoc_get(d, map, spellings[i]);
		if (k && n)
			return ydoc_fail(d, k, "%s: %s is given already (the same setting)", spellings[i], key);
		if (k) {
			n = k;
			key = spellings[i];
		}
	}
	if (n && (!(s = ydoc_scalar(n)) || lab_parse_ms(s, &c->latency_ms)))
		return ydoc_fail(d, n, "%s: expected a duration such as 80ms or 1s", key);
	c->has_latency |= n != NULL;
	if ((n = ydoc_get(d, map, "jitter")) && (!(s = ydoc_scalar(n)) || lab_parse_ms(s, &c->jitter_ms)))
		return ydoc_fail(d, n, "jitter: expected a duration such as 10ms");
	c->has_jitter |= n != NULL;
	if ((n = ydoc_get(d, map, "loss")) && (!(s = ydoc_scalar(n)) || lab_parse_pct(s, &c->loss_pct)))
		return ydoc_fail(d, n, "loss: expected a percentage such as 1%%");
	c->has_loss |= n != NULL;
	if ((n = ydoc_get(d, map, "bandwidth")) &&
	    (!(s = ydoc_scalar(n)) || lab_parse_kbps(s, &c->bandwidth_kbps)))
		return ydoc_fail(d, n, "bandwidth: expected a rate such as 10mbit or 500kbit");
	c->has_bandwidth |= n != NULL;
	if ((n = ydoc_get(d, map, "partition"))) {
		s = ydoc_scalar(n);
		if (!s || (strcmp(s, "none") && strcmp(s, "blackhole") && strcmp(s, "reset")))
			return ydoc_fail(d, n, "partition: expected none, blackhole or reset");
		snprintf(c->partition, sizeof(c->partition), "%s", s);
		c->has_partition = true;
	}
	return 0;
}

static bool spec_has_end(const struct lab_spec *s, const char *name)
{
	if (!strcmp(name, LAB_ORCH))
		return true;
	for (int i = 0; i < s->nsites; i++)
		if (!strcmp(s->sites[i].name, name))
			return true;
	return false;
}

static int spec_rule(struct ydoc *d, yaml_node_t *map, struct lab_spec *s)
{
	if (s->nrules == (int)(sizeof(s->rules) / sizeof(s->rules[0])))
		return ydoc_fail(d, map, "wan.links: at most 16 entries");
	struct lab_wan_rule *r = &s->rules[s->nrules];
	memset(r, 0, sizeof(*r));
	yaml_node_t *between = ydoc_get(d, map, "between");
	if (!between || between->type != YAML_SEQUENCE_NODE ||
	    between->data.sequence.items.top - between->data.sequence.items.start != 2)
		return ydoc_fail(d, between ? between : map, "between: expected [SITE, SITE]");
	const char *a = ydoc_scalar(ydoc_node(d, between->data.sequence.items.start[0]));
	const char *b = ydoc_scalar(ydoc_node(d, between->data.sequence.items.start[1]));
	if (!a || !b || !spec_has_end(s, a) || !spec_has_end(s, b) || !strcmp(a, b))
		return ydoc_fail(d, between, "between: expected two different site names (or drorchd)");
	snprintf(r->a, sizeof(r->a), "%s", a);
	snprintf(r->b, sizeof(r->b), "%s", b);
	if (spec_cond(d, map, &r->cond))
		return -1;
	s->nrules++;
	return 0;
}

static int spec_wan(struct ydoc *d, yaml_node_t *wan, struct lab_spec *s)
{
	static const char *const keys[] = { "default", "links", NULL };
	if (ydoc_check_keys(d, wan, "wan", keys))
		return -1;
	yaml_node_t *def = ydoc_get(d, wan, "default"), *links = NULL;
	if (def && def->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, def, "wan.default: expected a mapping");
	if (def && spec_cond(d, def, &s->wan_default))
		return -1;
	s->has_default = def != NULL;
	if (ydoc_seq(d, wan, "links", false, &links))
		return -1;
	for (yaml_node_item_t *it = links ? links->data.sequence.items.start : NULL;
	     links && it < links->data.sequence.items.top; it++) {
		yaml_node_t *n = ydoc_node(d, *it);
		if (n->type != YAML_MAPPING_NODE)
			return ydoc_fail(d, n, "wan.links: expected a mapping per link");
		if (spec_rule(d, n, s))
			return -1;
	}
	return 0;
}

/* A site name: not one of the lab's other processes' names (drorchd,
 * drorchd-N, etcd-N, drlink). */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= LAB_NAME || !strncmp(s, LAB_ORCH, strlen(LAB_ORCH)) ||
	    !strncmp(s, "etcd-", 5) || !strcmp(s, "drlink"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int spec_sites(struct ydoc *d, yaml_node_t *seq, struct lab_spec *s)
{
	static const char *const keys[] = { "name", "region", NULL };
	int n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n < 2 || n > LAB_MAX_SITES)
		return ydoc_fail(d, seq, "sites: expected 2 or 3 sites");
	for (int i = 0; i < n; i++) {
		yaml_node_t *m = ydoc_node(d, seq->data.sequence.items.start[i]);
		struct lab_site *site = &s->sites[i];
		memset(site, 0, sizeof(*site));
		if (ydoc_check_keys(d, m, "site", keys) ||
		    ydoc_string(d, m, "name", true, site->name, sizeof(site->name)) ||
		    ydoc_string(d, m, "region", false, site->region, sizeof(site->region)))
			return -1;
		if (!name_ok(site->name))
			return ydoc_fail(d, m, "name: 1-31 characters of [A-Za-z0-9_-], not drlink and "
					 "not starting with drorchd or etcd-");
		for (int j = 0; j < i; j++)
			if (!strcmp(s->sites[j].name, site->name))
				return ydoc_fail(d, m, "name: '%s' appears twice", site->name);
		if (!site->region[0])
			memcpy(site->region, site->name, sizeof(site->region));
	}
	s->nsites = n;
	return 0;
}

/* ---- an inline policy, written back as flow YAML for drorchd --------------- */

static void emit_scalar(FILE *f, const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static void emit_node(FILE *f, struct ydoc *d, yaml_node_t *n)
{
	if (n->type == YAML_SCALAR_NODE) {
		emit_scalar(f, n);
	} else if (n->type == YAML_SEQUENCE_NODE) {
		fputc('[', f);
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			fputs(it == n->data.sequence.items.start ? "" : ", ", f);
			emit_node(f, d, ydoc_node(d, *it));
		}
		fputc(']', f);
	} else if (n->type == YAML_MAPPING_NODE) {
		fputc('{', f);
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			fputs(p == n->data.mapping.pairs.start ? "" : ", ", f);
			emit_node(f, d, ydoc_node(d, p->key));
			fputs(": ", f);
			emit_node(f, d, ydoc_node(d, p->value));
		}
		fputc('}', f);
	}
}

static int spec_policy(struct ydoc *d, yaml_node_t *n, const char *spec_path, struct lab_spec *s)
{
	if (n->type == YAML_MAPPING_NODE) {
		size_t len = 0;
		FILE *f = open_memstream(&s->policy_text, &len);
		if (!f)
			return ydoc_fail(d, n, "policy: out of memory");
		emit_node(f, d, n);
		fputc('\n', f);
		return fclose(f) ? ydoc_fail(d, n, "policy: out of memory") : 0;
	}
	const char *p = ydoc_scalar(n);
	if (!p || !*p)
		return ydoc_fail(d, n, "policy: expected a file name or a mapping");
	char base[LAB_PATH];
	snprintf(base, sizeof(base), "%s", spec_path);
	char *slash = strrchr(base, '/');
	int rc = p[0] == '/' || !slash ? fmt_field(s->policy_path, sizeof(s->policy_path), "%s", p)
		 : fmt_field(s->policy_path, sizeof(s->policy_path), "%.*s/%s",
			     (int)(slash - base), base, p);
	if (rc || access(s->policy_path, R_OK))
		return ydoc_fail(d, n, "policy: cannot read %s", s->policy_path);
	return 0;
}

/* Appends NULL-terminated args to the spec's extra drsite arguments. */
static int spec_add_site_args(struct lab_spec *s, const char *const *args, char *err, size_t errlen)
{
	for (; args && *args; args++) {
		if (s->nsite_args == LAB_MAX_SITE_ARGS ||
		    fmt_field(s->site_args[s->nsite_args], LAB_PATH, "%s", *args))
			return seterr(err, errlen, "site_args: at most %d arguments of %d bytes",
				      LAB_MAX_SITE_ARGS, LAB_PATH - 1);
		s->nsite_args++;
	}
	return 0;
}

static int spec_site_args(struct ydoc *d, yaml_node_t *seq, struct lab_spec *s)
{
	if (seq->type != YAML_SEQUENCE_NODE)
		return ydoc_fail(d, seq, "site_args: expected a list of drsite arguments");
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
	     it++) {
		yaml_node_t *n = ydoc_node(d, *it);
		const char *a = ydoc_scalar(n);
		const char *one[] = { a, NULL };
		char why[128];
		if (!a || !*a)
			return ydoc_fail(d, n, "site_args: expected a drsite argument");
		if (spec_add_site_args(s, one, why, sizeof(why)))
			return ydoc_fail(d, n, "%s", why);
	}
	return 0;
}

/* drsite_version: X.Y.Z, a version there is a drsite program for. */
static int spec_drsite_version(struct ydoc *d, yaml_node_t *n, struct lab_spec *s)
{
	const char *v = ydoc_scalar(n);
	struct version parsed;
	char prog[LAB_PATH], why[512];
	if (!v || !version_parse(v, &parsed))
		return ydoc_fail(d, n, "drsite_version: expected X.Y.Z, e.g. %s", DRSITE_VERSION);
	if (lab_drsite_program(v, prog, sizeof(prog), why, sizeof(why)))
		return ydoc_fail(d, n, "drsite_version: %s", why);
	version_text(&parsed, s->drsite_version, sizeof(s->drsite_version));
	return 0;
}

/* ha: true|false, or a mapping {lease_ttl_ms} that turns HA on. */
static int spec_ha(struct ydoc *d, yaml_node_t *root, struct lab_spec *s)
{
	static const char *const keys[] = { "lease_ttl_ms", NULL };
	yaml_node_t *n = ydoc_get(d, root, "ha");
	if (!n || n->type != YAML_MAPPING_NODE)
		return ydoc_bool(d, root, "ha", &s->ha)
		       ? ydoc_fail(d, n, "ha: expected true, false or {lease_ttl_ms: MS}") : 0;
	s->ha = true;
	if (ydoc_check_keys(d, n, "ha", keys) ||
	    ydoc_uint(d, n, "lease_ttl_ms", false, 1000, 60000, &s->lease_ttl_ms))
		return -1;
	return 0;
}

static int spec_walk(struct ydoc *d, const char *path, struct lab_spec *s)
{
	static const char *const keys[] = { "sites", "initial_primary", "policy", "wan",
					    "enable_faults", "site_args", "drsite_version", "ha",
					    NULL };
	yaml_node_t *root = ydoc_root(d), *n;
	if (!root)
		return seterr(d->err, d->errlen, "%s: empty file", path);
	if (ydoc_check_keys(d, root, "lab", keys) || ydoc_seq(d, root, "sites", false, &n))
		return -1;
	if (n && spec_sites(d, n, s))
		return -1;
	if (ydoc_string(d, root, "initial_primary", false, s->initial_primary,
			sizeof(s->initial_primary)))
		return -1;
	if ((n = ydoc_get(d, root, "policy")) && spec_policy(d, n, path, s))
		return -1;
	if ((n = ydoc_get(d, root, "wan")) && spec_wan(d, n, s))
		return -1;
	if (ydoc_bool(d, root, "enable_faults", &s->enable_faults))
		return -1;
	if ((n = ydoc_get(d, root, "site_args")) && spec_site_args(d, n, s))
		return -1;
	if ((n = ydoc_get(d, root, "drsite_version")) && spec_drsite_version(d, n, s))
		return -1;
	return spec_ha(d, root, s);
}

static void spec_defaults(struct lab_spec *s, int nsites)
{
	memset(s, 0, sizeof(*s));
	s->nsites = nsites;
	snprintf(s->drsite_version, sizeof(s->drsite_version), "%s", DRSITE_VERSION);
	s->lease_ttl_ms = LAB_HA_LEASE_MS;
	for (int i = 0; i < nsites; i++) {
		snprintf(s->sites[i].name, sizeof(s->sites[i].name), "%s", default_names[i]);
		snprintf(s->sites[i].region, sizeof(s->sites[i].region), "%s", default_regions[i]);
	}
}

static int spec_load(const char *path, int nsites, struct lab_spec *s, char *err, size_t errlen)
{
	spec_defaults(s, nsites ? nsites : LAB_MAX_SITES);
	if (path) {
		struct ydoc d;
		int rc = ydoc_load(&d, path, err, errlen);
		if (rc == 0)
			rc = spec_walk(&d, path, s);
		ydoc_free(&d);
		if (rc)
			return -1;
	}
	if (nsites && nsites != s->nsites)
		return seterr(err, errlen, "--sites %d, but %s names %d sites", nsites, path, s->nsites);
	if (!s->initial_primary[0])
		snprintf(s->initial_primary, sizeof(s->initial_primary), "%s", s->sites[0].name);
	for (int i = 0; i < s->nsites; i++)
		if (!strcmp(s->sites[i].name, s->initial_primary))
			return 0;
	return seterr(err, errlen, "%s: initial_primary: no site named '%s'", path ? path : "lab",
		      s->initial_primary);
}

/* ==== lab.json ============================================================== */

static json_t *proc_json(const struct lab_proc *p)
{
	json_t *argv = json_array();
	for (int i = 0; argv && i < p->argc; i++)
		if (json_array_append_new(argv, json_string(p->argv[i]))) {
			json_decref(argv);
			return NULL;
		}
	return argv ? json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "name", p->name, "kind", p->kind,
				"pid", (json_int_t)p->pid, "log", p->log, "health", p->health,
				"argv", argv) : NULL;
}

/* n strings from a table of rows `width` bytes apart, as a JSON array. */
static json_t *strings_json(const char *table, size_t width, int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(table + (size_t)i * width))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* urls, dbs and etcd, added to the lab's object j; -1 when out of memory. */
static int lab_json_instances(const struct lab *l, json_t *j)
{
	json_t *urls = strings_json(l->urls[0], sizeof(l->urls[0]), l->norchs);
	json_t *dbs = strings_json(l->dbs[0], sizeof(l->dbs[0]), l->norchs);
	json_t *etcd = strings_json(l->etcd[0], sizeof(l->etcd[0]), l->netcd);
	int rc = urls && dbs && etcd ? 0 : -1;
	if (rc == 0)
		rc = json_object_set(j, "urls", urls) || json_object_set(j, "dbs", dbs) ||
		     json_object_set(j, "etcd", etcd) ? -1 : 0;
	json_decref(urls);
	json_decref(dbs);
	json_decref(etcd);
	return rc;
}

static json_t *lab_json(const struct lab *l)
{
	json_t *sites = json_array(), *links = json_array(), *procs = json_array();
	for (int i = 0; sites && i < l->nsites; i++) {
		const struct lab_site *s = &l->sites[i];
		json_array_append_new(sites, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", s->name,
						       "url", s->url, "region", s->region,
						       "listen", s->listen, "data", s->data));
	}
	for (int i = 0; links && i < l->nlinks; i++) {
		const struct lab_link *k = &l->links[i];
		json_array_append_new(links, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", k->name,
						       "from", k->from, "to", k->to, "listen", k->listen,
						       "upstream", k->upstream));
	}
	for (int i = 0; procs && i < l->nprocs; i++)
		json_array_append_new(procs, proc_json(&l->procs[i]));
	if (!sites || !links || !procs || json_array_size(sites) != (size_t)l->nsites ||
	    json_array_size(links) != (size_t)l->nlinks || json_array_size(procs) != (size_t)l->nprocs) {
		json_decref(sites);
		json_decref(links);
		json_decref(procs);
		return NULL;
	}
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
			      "version", 1, "state", l->state, "dir", l->dir, "url", l->url,
			      "token_file", l->token_file, "site_token_file", l->site_token_file,
			      "config", l->config, "db", l->db, "policy", l->policy, "drlink", l->drlink,
			      "sites", sites, "links", links, "procs", procs);
	if (j && lab_json_instances(l, j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int lab_save(const struct lab *l, char *err, size_t errlen)
{
	char path[LAB_PATH + 16], tmp[LAB_PATH + 32];
	snprintf(path, sizeof(path), "%s/lab.json", l->dir);
	snprintf(tmp, sizeof(tmp), "%s/.lab.json.tmp", l->dir);
	json_t *j = lab_json(l);
	if (!j)
		return seterr(err, errlen, "%s: out of memory", path);
	int rc = json_dump_file(j, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (rc || rename(tmp, path))
		return seterr(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	return 0;
}

/* Copies string field key of o into out; -1 when missing or too long. */
static int get_str(json_t *o, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? fmt_field(out, len, "%s", v) : -1;
}

static int load_proc(json_t *o, struct lab_proc *p)
{
	json_t *argv = json_object_get(o, "argv");
	size_t n = json_array_size(argv);
	if (get_str(o, "name", p->name, sizeof(p->name)) || get_str(o, "kind", p->kind, sizeof(p->kind)) ||
	    get_str(o, "log", p->log, sizeof(p->log)) ||
	    get_str(o, "health", p->health, sizeof(p->health)) ||
	    !json_is_integer(json_object_get(o, "pid")) || n == 0 || n > LAB_MAX_ARGS)
		return -1;
	p->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	p->argc = (int)n;
	for (size_t i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(argv, i));
		if (!a || fmt_field(p->argv[i], sizeof(p->argv[i]), "%s", a))
			return -1;
	}
	return 0;
}

/* String array key of o into rows `width` bytes apart, at most max of
 * them; an absent key leaves *n as it is (a lab.json written before the key
 * existed).  -1 on anything else. */
static int get_strs(json_t *o, const char *key, char *table, size_t width, int max, int *n)
{
	json_t *a = json_object_get(o, key);
	if (!a)
		return 0;
	size_t len = json_array_size(a);
	if (!json_is_array(a) || len > (size_t)max)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *v = json_string_value(json_array_get(a, i));
		if (!v || fmt_field(table + i * width, width, "%s", v))
			return -1;
	}
	*n = (int)len;
	return 0;
}

/* urls, dbs and etcd; a lab.json without them has one drorchd (url, db).
 * Empty while lab up had not yet reached drorchd. */
static int load_instances(json_t *j, struct lab *l)
{
	int ndbs = 1;
	l->norchs = 1;
	l->netcd = 0;
	memcpy(l->urls[0], l->url, sizeof(l->urls[0]));
	memcpy(l->dbs[0], l->db, sizeof(l->dbs[0]));
	if (get_strs(j, "urls", l->urls[0], sizeof(l->urls[0]), LAB_HA_NODES, &l->norchs) ||
	    get_strs(j, "dbs", l->dbs[0], sizeof(l->dbs[0]), LAB_HA_NODES, &ndbs) ||
	    get_strs(j, "etcd", l->etcd[0], sizeof(l->etcd[0]), LAB_HA_NODES, &l->netcd))
		return -1;
	return ndbs == l->norchs ? 0 : -1;
}

static int load_arrays(json_t *j, struct lab *l)
{
	json_t *sites = json_object_get(j, "sites"), *links = json_object_get(j, "links"),
	       *procs = json_object_get(j, "procs");
	if (json_array_size(sites) > LAB_MAX_SITES || json_array_size(links) > LAB_MAX_LINKS ||
	    json_array_size(procs) > LAB_MAX_PROCS)
		return -1;
	l->nsites = (int)json_array_size(sites);
	l->nlinks = (int)json_array_size(links);
	l->nprocs = (int)json_array_size(procs);
	for (int i = 0; i < l->nsites; i++) {
		json_t *o = json_array_get(sites, (size_t)i);
		struct lab_site *s = &l->sites[i];
		if (get_str(o, "name", s->name, sizeof(s->name)) || get_str(o, "url", s->url, sizeof(s->url)) ||
		    get_str(o, "region", s->region, sizeof(s->region)) ||
		    get_str(o, "listen", s->listen, sizeof(s->listen)) ||
		    get_str(o, "data", s->data, sizeof(s->data)))
			return -1;
	}
	for (int i = 0; i < l->nlinks; i++) {
		json_t *o = json_array_get(links, (size_t)i);
		struct lab_link *k = &l->links[i];
		if (get_str(o, "name", k->name, sizeof(k->name)) || get_str(o, "from", k->from, sizeof(k->from)) ||
		    get_str(o, "to", k->to, sizeof(k->to)) || get_str(o, "listen", k->listen, sizeof(k->listen)) ||
		    get_str(o, "upstream", k->upstream, sizeof(k->upstream)))
			return -1;
	}
	for (int i = 0; i < l->nprocs; i++)
		if (load_proc(json_array_get(procs, (size_t)i), &l->procs[i]))
			return -1;
	return 0;
}

int lab_load(const char *dir, struct lab **out, char *err, size_t errlen)
{
	char path[LAB_PATH + 16];
	json_error_t jerr;
	snprintf(path, sizeof(path), "%s/lab.json", dir);
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		return seterr(err, errlen, "%s: %s", path, jerr.text);
	struct lab *l = calloc(1, sizeof(*l));
	int rc = -1;
	if (!l)
		seterr(err, errlen, "%s: out of memory", path);
	else if (get_str(j, "state", l->state, sizeof(l->state)) || get_str(j, "dir", l->dir, sizeof(l->dir)) ||
		 get_str(j, "url", l->url, sizeof(l->url)) ||
		 get_str(j, "token_file", l->token_file, sizeof(l->token_file)) ||
		 get_str(j, "site_token_file", l->site_token_file, sizeof(l->site_token_file)) ||
		 get_str(j, "config", l->config, sizeof(l->config)) || get_str(j, "db", l->db, sizeof(l->db)) ||
		 get_str(j, "policy", l->policy, sizeof(l->policy)) ||
		 get_str(j, "drlink", l->drlink, sizeof(l->drlink)) || load_arrays(j, l) ||
		 load_instances(j, l))
		seterr(err, errlen, "%s: not a lab.json written by drctl lab up", path);
	else
		rc = 0;
	json_decref(j);
	if (rc)
		free(l);
	else
		*out = l;
	return rc;
}

/* ==== processes ============================================================= */

struct lab_proc *lab_proc_named(struct lab *l, const char *name)
{
	for (int i = 0; i < l->nprocs; i++)
		if (!strcmp(l->procs[i].name, name))
			return &l->procs[i];
	return NULL;
}

/* Instance i's process name: "drorchd" alone, "drorchd-N" (N = i + 1) in HA. */
static void orch_name(const struct lab *l, int i, char *out, size_t len)
{
	if (l->norchs > 1)
		snprintf(out, len, "%s-%d", LAB_ORCH, i + 1);
	else
		snprintf(out, len, "%s", LAB_ORCH);
}

struct lab_proc *lab_orch_proc(struct lab *l, int i)
{
	char name[LAB_NAME];
	if (i < 0 || i >= l->norchs)
		return NULL;
	orch_name(l, i, name, sizeof(name));
	return lab_proc_named(l, name);
}

const char *lab_orch_url(struct lab *l)
{
	for (int i = 0; i < l->norchs; i++) {
		const struct lab_proc *p = lab_orch_proc(l, i);
		if (p && lab_proc_alive(p))
			return l->urls[i];
	}
	return NULL;
}

/* true when /proc/PID/cmdline is exactly p's argv (NUL-separated): the
 * binary and every argument, so a recycled pid running the same binary for
 * another lab (another --data, --config or --admin) is never taken for p.
 * A zombie or a gone pid has an empty cmdline. */
static bool proc_cmd_is(const struct lab_proc *p)
{
	char path[64], cmd[LAB_MAX_ARGS * LAB_PATH + 1];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read_all(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	size_t at = 0;
	for (int i = 0; n > 0 && i < p->argc; i++) {
		size_t len = strlen(p->argv[i]) + 1;  /* with its NUL */
		if (at + len > (size_t)n || memcmp(cmd + at, p->argv[i], len))
			return false;
		at += len;
	}
	return n > 0 && at == (size_t)n;
}

bool lab_proc_alive(const struct lab_proc *p)
{
	int status;
	if (p->pid <= 0)
		return false;
	pid_t r = waitpid(p->pid, &status, WNOHANG);
	if (r == p->pid)
		return false;  /* our own child that exited: now reaped */
	if (r == 0)
		return true;   /* our own child, running (maybe not yet exec'd) */
	if (kill(p->pid, 0) != 0 && errno != EPERM)
		return false;
	return proc_cmd_is(p);
}

/* Starts p detached (own session, stdin /dev/null, output appended to its log). */
static int spawn_detached(struct lab_proc *p, char *err, size_t errlen)
{
	char *argv[LAB_MAX_ARGS + 1];
	for (int i = 0; i < p->argc; i++)
		argv[i] = p->argv[i];
	argv[p->argc] = NULL;
	int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return seterr(err, errlen, "%s: log %s: %s", p->name, p->log, strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fd, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int saved = errno;
	close(fd);
	if (pid < 0)
		return seterr(err, errlen, "%s: fork: %s", p->name, strerror(saved));
	p->pid = pid;
	return 0;
}

static bool wait_gone(const struct lab_proc *p, long timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	while (lab_proc_alive(p)) {
		if (time_mono_ms() >= deadline)
			return false;
		time_sleep_ms(10);
	}
	return true;
}

/* SIGTERM (and SIGCONT, so a stopped process can act on it), then SIGKILL
 * after grace_ms; true when it is gone. */
static bool stop_proc(const struct lab_proc *p, long grace_ms)
{
	if (!lab_proc_alive(p))
		return true;
	kill(p->pid, SIGTERM);
	kill(p->pid, SIGCONT);
	if (wait_gone(p, grace_ms))
		return true;
	kill(p->pid, SIGKILL);
	return wait_gone(p, 3000);
}

static long http_get(struct httpc *c, const char *url, const char *bearer, json_t **out)
{
	struct httpc_resp r;
	char err[256];
	if (out)
		*out = NULL;
	if (httpc_request(c, "GET", url, bearer, NULL, 0, LAB_HTTP_TIMEOUT_MS, &r, err, sizeof(err)))
		return 0;
	long st = r.status;
	if (out && st == 200)
		*out = json_loadb(r.body, r.body_len, 0, NULL);
	httpc_resp_free(&r);
	return st;
}

/* The last line of a log file, for error messages. */
static void log_tail(const char *path, char *out, size_t len)
{
	char buf[4096];
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	const char *last = strrchr(buf, '\n');
	last = last ? last + 1 : buf;
	size_t k = strlen(last) < len ? strlen(last) : len - 1;
	memcpy(out, last, k);
	out[k] = '\0';
}

/* Waits until p's health URL answers 200; fails early when p exits. */
static int wait_healthy(struct httpc *c, const struct lab_proc *p, long timeout_ms, char *err,
			size_t errlen)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		if (http_get(c, p->health, NULL, NULL) == 200)
			return 0;
		if (!lab_proc_alive(p) || time_mono_ms() >= deadline) {
			char tail[512];
			bool alive = lab_proc_alive(p);
			log_tail(p->log, tail, sizeof(tail));
			return seterr(err, errlen, "%s: %s%s (see %s%s%s)", p->name,
				      alive ? "not healthy in time" : "exited at start-up",
				      alive && !strcmp(p->kind, "etcd") ? " (an etcd member answers only "
				      "once a quorum of its cluster runs: left running, start another)"
				      : "",
				      p->log, tail[0] ? ": " : "", tail);
		}
		time_sleep_ms(20);
	}
}

/* Fills a new proc entry; argv is NULL-terminated. */
static struct lab_proc *add_proc(struct lab *l, const char *name, const char *kind,
				 const char *health, const char *const argv[])
{
	struct lab_proc *p = &l->procs[l->nprocs];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->kind, sizeof(p->kind), "%s", kind);
	snprintf(p->health, sizeof(p->health), "%s", health);
	if (fmt_field(p->log, sizeof(p->log), "%s/%s.log", l->dir, name))
		return NULL;
	for (; argv[p->argc] && p->argc < LAB_MAX_ARGS; p->argc++)
		if (fmt_field(p->argv[p->argc], sizeof(p->argv[0]), "%s", argv[p->argc]))
			return NULL;
	l->nprocs++;
	return p;
}

/* Spawns the process just added and records it in lab.json.  A process
 * lab.json could not record is killed at once: a lab never runs a process
 * its lab.json does not name. */
static int spawn_recorded(struct lab *l, struct lab_proc *p, char *err, size_t errlen)
{
	if (spawn_detached(p, err, errlen))
		return -1;
	if (lab_save(l, err, errlen)) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
		return -1;
	}
	return 0;
}

/* spawn_recorded, then waits for health. */
static int start_proc(struct lab *l, struct httpc *c, struct lab_proc *p, long timeout_ms,
		      char *err, size_t errlen)
{
	if (spawn_recorded(l, p, err, errlen))
		return -1;
	return wait_healthy(c, p, timeout_ms, err, errlen);
}

/* ==== binaries, files ======================================================= */

/* NAME next to the running drctl, else on $PATH. */
static int find_bin(const char *name, char *out, size_t len, char *err, size_t errlen)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash && !fmt_field(out, len, "%.*s/%s", (int)(slash - self), self, name) &&
		    access(out, X_OK) == 0)
			return 0;
	}
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	if (!copy)
		return seterr(err, errlen, "%s: out of memory", name);
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (*d == '/' && !fmt_field(out, len, "%s/%s", d, name) && access(out, X_OK) == 0) {
			free(copy);
			return 0;
		}
	free(copy);
	return seterr(err, errlen, "%s: not found next to drctl or on PATH", name);
}

/* "0.2.0 (drsite) and 0.1.0 (drsite-0.1.0)": the drsite programs in the
 * directory of drsite (its path), `drsite` first, then each drsite-X.Y.Z
 * there, newest first. */
static void drsite_versions(const char *drsite, char *out, size_t len)
{
	enum { MAX_PROGS = 16 };
	struct version v[MAX_PROGS];
	int n = 0;
	char dir[LAB_PATH];
	snprintf(dir, sizeof(dir), "%s", drsite);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	DIR *dd = slash ? opendir(dir) : NULL;
	for (struct dirent *e; dd && (e = readdir(dd)) && n < MAX_PROGS; ) {
		char path[LAB_PATH + 300];
		if (strncmp(e->d_name, "drsite-", 7) || !version_parse(e->d_name + 7, &v[n]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (access(path, X_OK) == 0)
			n++;
	}
	if (dd)
		closedir(dd);
	for (int i = 1; i < n; i++)  /* newest first */
		for (int j = i; j > 0 && version_cmp(&v[j - 1], &v[j]) < 0; j--) {
			struct version t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	snprintf(out, len, "%s (drsite)", DRSITE_VERSION);
	for (int i = 0; i < n; i++) {
		char t[40];
		version_text(&v[i], t, sizeof(t));
		size_t at = strlen(out);
		snprintf(out + at, len - at, "%s%s (drsite-%s)", i == n - 1 ? " and " : ", ", t, t);
	}
}

int lab_drsite_program(const char *version, char *out, size_t len, char *err, size_t errlen)
{
	struct version v;
	char canon[40], drsite[LAB_PATH], have[512];
	if (!version || !version_parse(version, &v))
		return seterr(err, errlen, "drsite version '%s' is not X.Y.Z", version ? version : "");
	version_text(&v, canon, sizeof(canon));
	if (find_bin("drsite", drsite, sizeof(drsite), err, errlen))
		return -1;
	if (!fmt_field(out, len, "%s-%s", drsite, canon) && access(out, X_OK) == 0)
		return 0;
	if (!strcmp(canon, DRSITE_VERSION))
		return fmt_field(out, len, "%s", drsite) ? seterr(err, errlen, "%s: path too long", drsite)
		       : 0;
	drsite_versions(drsite, have, sizeof(have));
	return seterr(err, errlen, "no drsite binary for version %s: have %s", canon, have);
}

static int write_text(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	int rc = write_all(fd, text, strlen(text));
	int saved = errno;
	if (close(fd) || rc)
		return seterr(err, errlen, "%s: write: %s", path, strerror(rc ? saved : errno));
	return 0;
}

/* A random 32-hex-digit token into path (mode 0600). */
static int write_token(const char *path, char *err, size_t errlen)
{
	unsigned char raw[16];
	char text[40];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read_all(fd, raw, sizeof(raw)) : -1;
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(raw))
		return seterr(err, errlen, "/dev/urandom: cannot read a token");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(text + 2 * i, 3, "%02x", raw[i]);
	text[32] = '\n';
	text[33] = '\0';
	return write_text(path, text, 0600, err, errlen);
}

/* ==== drlink links ========================================================= */

static int link_create(struct lab *l, struct httpc *c, const char *from, const char *to,
		       const char *upstream, char *err, size_t errlen)
{
	struct lab_link *k = &l->links[l->nlinks];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s.%s", from, to);
	snprintf(k->from, sizeof(k->from), "%s", from);
	snprintf(k->to, sizeof(k->to), "%s", to);
	snprintf(k->upstream, sizeof(k->upstream), "%s", upstream);
	char url[160], body[300], herr[256];
	snprintf(url, sizeof(url), "%s/v1/links", l->drlink);
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"%s\"}",
		 k->name, upstream);
	struct httpc_resp r;
	if (httpc_request(c, "POST", url, NULL, body, strlen(body), LAB_HTTP_TIMEOUT_MS, &r, herr,
			  sizeof(herr)))
		return seterr(err, errlen, "drlink: create link %s: %s", k->name, herr);
	json_t *j = r.status == 201 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	const char *listen = json_string_value(json_object_get(j, "listen"));
	int rc = listen ? fmt_field(k->listen, sizeof(k->listen), "%s", listen) : -1;
	if (rc)
		seterr(err, errlen, "drlink: create link %s: HTTP %ld %s", k->name, r.status,
		       r.body ? r.body : "");
	json_decref(j);
	httpc_resp_free(&r);
	if (rc == 0)
		l->nlinks++;
	return rc;
}

const struct lab_link *lab_link_between(const struct lab *l, const char *from, const char *to)
{
	for (int i = 0; i < l->nlinks; i++)
		if (!strcmp(l->links[i].from, from) && !strcmp(l->links[i].to, to))
			return &l->links[i];
	return NULL;
}

static json_t *cond_json(const struct lab_cond *c)
{
	json_t *j = json_object();
	if (!j)
		return NULL;
	if (c->has_latency)
		json_object_set_new(j, "latency_ms", json_integer(c->latency_ms));
	if (c->has_jitter)
		json_object_set_new(j, "jitter_ms", json_integer(c->jitter_ms));
	if (c->has_loss)
		json_object_set_new(j, "loss_pct", json_real(c->loss_pct));
	if (c->has_bandwidth)
		json_object_set_new(j, "bandwidth_kbps", json_integer(c->bandwidth_kbps));
	if (c->has_partition)
		json_object_set_new(j, "partition", json_string(c->partition));
	if (c->direction[0])
		json_object_set_new(j, "direction", json_string(c->direction));
	return j;
}

int lab_link_set(const struct lab *l, const char *link, const struct lab_cond *c, char **answer,
		 char *err, size_t errlen)
{
	char url[256], herr[256];
	snprintf(url, sizeof(url), "%s/v1/links/%s/conditions", l->drlink, link);
	json_t *j = cond_json(c);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	struct httpc *hc = body ? httpc_new() : NULL;
	struct httpc_resp r;
	int rc = -1;
	if (!hc)
		seterr(err, errlen, "drlink: %s: out of memory", link);
	else if (httpc_request(hc, "PUT", url, NULL, body, strlen(body), LAB_HTTP_TIMEOUT_MS, &r, herr,
			       sizeof(herr))) {
		if (httpc_not_delivered(hc))
			seterr(err, errlen, "drlink: set %s: nothing listens at %s: is the lab up? "
			       "(drctl lab status)", link, l->drlink);
		else
			seterr(err, errlen, "drlink: set %s: %s: %s", link, l->drlink, herr);
	} else {
		if (r.status != 200)
			seterr(err, errlen, "drlink: set %s: HTTP %ld %s", link, r.status, r.body);
		rc = r.status == 200 ? 0 : -1;
		if (rc == 0 && answer) {
			*answer = r.body;
			r.body = NULL;
		}
		httpc_resp_free(&r);
	}
	httpc_free(hc);
	free(body);
	return rc;
}

/* Both links between a and b (either may be missing, e.g. site->drorchd). */
static int wan_apply_pair(const struct lab *l, const char *a, const char *b,
			  const struct lab_cond *c, char *err, size_t errlen)
{
	const struct lab_link *ab = lab_link_between(l, a, b), *ba = lab_link_between(l, b, a);
	if ((ab && lab_link_set(l, ab->name, c, NULL, err, errlen)) ||
	    (ba && lab_link_set(l, ba->name, c, NULL, err, errlen)))
		return -1;
	return 0;
}

static int wan_apply(const struct lab *l, const struct lab_spec *s, char *err, size_t errlen)
{
	for (int i = 0; s->has_default && i < l->nlinks; i++)
		if (lab_link_set(l, l->links[i].name, &s->wan_default, NULL, err, errlen))
			return -1;
	for (int i = 0; i < s->nrules; i++)
		if (wan_apply_pair(l, s->rules[i].a, s->rules[i].b, &s->rules[i].cond, err, errlen))
			return -1;
	return 0;
}

/* ==== drorchd's config ===================================================== */

static void config_site(FILE *f, const struct lab *l, const struct lab_site *s)
{
	const struct lab_link *orch = lab_link_between(l, LAB_ORCH, s->name);
	fprintf(f, "  - name: %s\n    url: \"http://%s\"\n    region: %s\n    peers: {", s->name,
		orch->listen, s->region);
	int first = 1;
	for (int j = 0; j < l->nsites; j++) {
		const struct lab_link *k = lab_link_between(l, s->name, l->sites[j].name);
		if (k) {
			fprintf(f, "%s%s: \"%s\"", first ? "" : ", ", l->sites[j].name, k->listen);
			first = 0;
		}
	}
	fprintf(f, "}\n");
}

/* The policy drorchd reads: the spec's file, an inline one written to
 * DIR/policy.yaml, or "" (the built-in default). */
static int write_policy(struct lab *l, const struct lab_spec *s, char *err, size_t errlen)
{
	if (!s->policy_text) {
		memcpy(l->policy, s->policy_path, sizeof(l->policy));
		return 0;
	}
	if (fmt_field(l->policy, sizeof(l->policy), "%s/policy.yaml", l->dir))
		return seterr(err, errlen, "%s: path too long", l->dir);
	return write_text(l->policy, s->policy_text, 0644, err, errlen);
}

/* The ha: section of instance i (its name, its URL, its links to the etcd
 * members) in an HA lab. */
static int config_ha(FILE *f, const struct lab *l, const struct lab_spec *s, int i, char *err,
		     size_t errlen)
{
	char name[LAB_NAME], member[LAB_NAME];
	orch_name(l, i, name, sizeof(name));
	fprintf(f, "ha:\n  etcd: [");
	for (int k = 0; k < l->netcd; k++) {
		snprintf(member, sizeof(member), "etcd-%d", k + 1);
		const struct lab_link *link = lab_link_between(l, name, member);
		if (!link)
			return seterr(err, errlen, "%s: no drlink link to %s", name, member);
		fprintf(f, "%s\"http://%s\"", k ? ", " : "", link->listen);
	}
	fprintf(f, "]\n  prefix: %s\n  lease_ttl_ms: %llu\n  name: %s\n  advertise: \"%s\"\n",
		LAB_HA_PREFIX, (unsigned long long)s->lease_ttl_ms, name, l->urls[i]);
	return 0;
}

/* Instance i's config at path: listening on its URL, on its own store; the
 * same sites, tokens and policy as every other instance. */
static int write_config(const struct lab *l, const struct lab_spec *s, int i, const char *path,
			char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	fprintf(f, "# written by drctl lab up\nlisten: %s\ndb: %s\ntoken_file: %s\n"
		"site_token_file: %s\n", l->urls[i] + strlen("http://"), l->dbs[i], l->token_file,
		l->site_token_file);
	if (l->policy[0])
		fprintf(f, "policy: %s\n", l->policy);
	fprintf(f, "drlink: \"%s\"\n", l->drlink);  /* playbooks' wan steps */
	fprintf(f, "initial_primary: %s\nsites:\n", s->initial_primary);
	for (int k = 0; k < l->nsites; k++)
		config_site(f, l, &l->sites[k]);
	int rc = l->netcd ? config_ha(f, l, s, i, err, errlen) : 0;
	if (fclose(f) && rc == 0)
		return seterr(err, errlen, "%s: write: %s", path, strerror(errno));
	return rc;
}

/* ==== waiting for STEADY ==================================================== */

/* true when status is in the steady state (STEADY), with a primary and every
 * other site streaming. */
static bool status_ready(json_t *st)
{
	const char *primary = json_string_value(json_object_get(st, "primary"));
	json_t *sites = json_object_get(st, "sites");
	if (!json_is_true(json_object_get(st, "steady")) || !primary || !*primary ||
	    !json_array_size(sites))
		return false;
	for (size_t i = 0; i < json_array_size(sites); i++) {
		json_t *s = json_array_get(sites, i);
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *role = json_string_value(json_object_get(s, "role"));
		const char *repl = json_string_value(json_object_get(s, "replication"));
		bool ok = name && role && (!strcmp(name, primary) ? !strcmp(role, "primary")
					   : !strcmp(role, "replica") && repl && !strcmp(repl, "streaming"));
		if (!ok)
			return false;
	}
	return true;
}

/* Waits until instance i (the one drorchd, or the leader) reports STEADY. */
static int wait_steady(struct lab *l, int i, struct httpc *c, uint64_t deadline, char *err,
		       size_t errlen)
{
	char url[160], last[64] = "no answer";
	snprintf(url, sizeof(url), "%s/v1/status", l->urls[i]);
	const struct lab_proc *orch = lab_orch_proc(l, i);
	for (;;) {
		json_t *st = NULL;
		http_get(c, url, NULL, &st);
		bool ready = status_ready(st);
		const char *state = json_string_value(json_object_get(st, "state"));
		if (state)
			snprintf(last, sizeof(last), "%s", state);
		json_decref(st);
		if (ready)
			return 0;
		if (!lab_proc_alive(orch))
			return seterr(err, errlen, "%s exited (see %s)", orch->name, orch->log);
		if (time_mono_ms() >= deadline)
			return seterr(err, errlen, "%s: not STEADY with every replica streaming in "
				      "time (last state %s; see %s)", orch->name, last, orch->log);
		time_sleep_ms(50);
	}
}

/* One round of GET /healthz/leader on every instance: the index of the
 * only one answering 200, else -1, with what each answered in seen
 * ("drorchd-1 404, drorchd-2 200, ..."; 0: no answer). */
static int leader_round(struct lab *l, struct httpc *c, char *seen, size_t len)
{
	int leader = -1, leaders = 0;
	seen[0] = '\0';
	for (int i = 0; i < l->norchs; i++) {
		char url[160];
		snprintf(url, sizeof(url), "%s/healthz/leader", l->urls[i]);
		long st = http_get(c, url, NULL, NULL);
		if (st == 200) {
			leader = i;
			leaders++;
		}
		size_t at = strlen(seen);
		snprintf(seen + at, len - at, "%sdrorchd-%d %ld", i ? ", " : "", i + 1, st);
	}
	return leaders == 1 ? leader : -1;
}

/* Waits until exactly one instance answers /healthz/leader 200; its index
 * in *leader.  Fails early when every instance has exited. */
static int wait_leader(struct lab *l, struct httpc *c, uint64_t deadline, int *leader, char *err,
		       size_t errlen)
{
	char seen[256];
	for (;;) {
		if ((*leader = leader_round(l, c, seen, sizeof(seen))) >= 0)
			return 0;
		if (!lab_orch_url(l))
			return seterr(err, errlen, "every drorchd instance exited (see %s/drorchd-N.log)",
				      l->dir);
		if (time_mono_ms() >= deadline)
			return seterr(err, errlen, "not exactly one drorchd instance answered "
				      "/healthz/leader 200 in time (last: %s; see %s/drorchd-N.log)",
				      seen, l->dir);
		time_sleep_ms(50);
	}
}

/* ==== lab up ================================================================ */

static long left_ms(uint64_t deadline)
{
	uint64_t now = time_mono_ms();
	return now >= deadline ? 1 : (long)(deadline - now);
}

static void say(const struct lab_up_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct lab_up_opts *o, const char *fmt, ...)
{
	if (!o->progress)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(o->progress, fmt, ap);
	va_end(ap);
	fputc('\n', o->progress);
	fflush(o->progress);
}

/* The first process of old that still runs, or NULL. */
static const struct lab_proc *live_proc(const struct lab *old)
{
	for (int i = 0; i < old->nprocs; i++)
		if (lab_proc_alive(&old->procs[i]))
			return &old->procs[i];
	return NULL;
}

/*
 * Makes and resolves DIR and takes DIR/.lab.lock (flock, held by the caller
 * until lab up ends: two `lab up` never race on one DIR).  Refused, with
 * nothing written, when DIR's lab.json names a live process or cannot be
 * read: lab.json is the only record of a lab's pids, so it is never
 * replaced while it may still name a running process.
 */
static int claim_dir(struct lab *l, const struct lab_up_opts *o, int *lock_fd, char *err,
		     size_t errlen)
{
	if (mkdir(o->dir, 0755) && errno != EEXIST)
		return seterr(err, errlen, "%s: %s", o->dir, strerror(errno));
	char real[PATH_MAX], path[PATH_MAX + 16];
	if (!realpath(o->dir, real) || fmt_field(l->dir, sizeof(l->dir), "%s", real) ||
	    strlen(real) > LAB_PATH - 64)
		return seterr(err, errlen, "%s: cannot resolve (or path too long)", o->dir);
	snprintf(path, sizeof(path), "%s/.lab.lock", l->dir);
	*lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*lock_fd < 0)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	if (flock(*lock_fd, LOCK_EX | LOCK_NB))
		return seterr(err, errlen, "%s: a lab is running here (another lab up is starting "
			      "it); nothing changed", l->dir);
	snprintf(path, sizeof(path), "%s/lab.json", l->dir);
	if (access(path, F_OK) && errno == ENOENT)
		return 0;
	struct lab *old = NULL;
	char why[512];
	if (lab_load(l->dir, &old, why, sizeof(why)))
		return seterr(err, errlen, "%s: cannot tell whether a lab is running here (%s); "
			      "stop its processes and remove lab.json, or use another --dir; "
			      "nothing changed", l->dir, why);
	const struct lab_proc *live = live_proc(old);
	int rc = live ? seterr(err, errlen, "%s: a lab is running here (%s, pid %d); nothing "
			       "changed; drctl lab down --dir %s first", l->dir, live->name,
			       (int)live->pid, l->dir) : 0;
	lab_free(old);
	return rc;
}

/* Tokens and the paths lab.json names, in a claimed DIR. */
static int layout(struct lab *l, char *err, size_t errlen)
{
	snprintf(l->state, sizeof(l->state), "starting");
	if (fmt_field(l->token_file, sizeof(l->token_file), "%s/operator.token", l->dir) ||
	    fmt_field(l->site_token_file, sizeof(l->site_token_file), "%s/site.token", l->dir))
		return seterr(err, errlen, "%s: path too long", l->dir);
	return write_token(l->token_file, err, errlen) || write_token(l->site_token_file, err, errlen)
	       ? -1 : 0;
}

static int start_drlink(struct lab *l, struct httpc *c, uint64_t deadline, char *err, size_t errlen)
{
	char bin[LAB_PATH], admin[64], health[128];
	if (find_bin("drlink", bin, sizeof(bin), err, errlen))
		return -1;
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", freeport_one());
	snprintf(l->drlink, sizeof(l->drlink), "http://%s", admin);
	snprintf(health, sizeof(health), "%s/healthz", l->drlink);
	const char *argv[] = { bin, "--admin", admin, NULL };
	struct lab_proc *p = add_proc(l, "drlink", "drlink", health, argv);
	if (!p)
		return seterr(err, errlen, "drlink: path too long");
	return start_proc(l, c, p, left_ms(deadline), err, errlen);
}

static int lay_sites(struct lab *l, const struct lab_spec *s, char *err, size_t errlen)
{
	l->nsites = s->nsites;
	for (int i = 0; i < s->nsites; i++) {
		struct lab_site *site = &l->sites[i];
		*site = s->sites[i];
		int port = freeport_one();
		snprintf(site->listen, sizeof(site->listen), "127.0.0.1:%d", port);
		snprintf(site->url, sizeof(site->url), "http://127.0.0.1:%d", port);
		if (port <= 0 || fmt_field(site->data, sizeof(site->data), "%s/%s", l->dir, site->name))
			return seterr(err, errlen, "%s: no free port or path too long", site->name);
	}
	return 0;
}

static int create_links(struct lab *l, struct httpc *c, char *err, size_t errlen)
{
	for (int i = 0; i < l->nsites; i++)
		for (int j = 0; j < l->nsites; j++)
			if (i != j && link_create(l, c, l->sites[i].name, l->sites[j].name,
						  l->sites[j].listen, err, errlen))
				return -1;
	for (int j = 0; j < l->nsites; j++)
		if (link_create(l, c, LAB_ORCH, l->sites[j].name, l->sites[j].listen, err, errlen))
			return -1;
	return 0;
}

static int start_sites(struct lab *l, const struct lab_spec *spec, struct httpc *c,
		       uint64_t deadline, char *err, size_t errlen)
{
	char bin[LAB_PATH], health[128];
	if (lab_drsite_program(spec->drsite_version, bin, sizeof(bin), err, errlen))
		return -1;
	for (int i = 0; i < l->nsites; i++) {
		struct lab_site *s = &l->sites[i];
		snprintf(health, sizeof(health), "%s/healthz", s->url);
		const char *argv[LAB_MAX_ARGS + 1] = { bin, "--name", s->name, "--listen", s->listen,
						       "--data", s->data, "--token-file",
						       l->site_token_file };
		int argc = 9;
		if (spec->enable_faults)
			argv[argc++] = "--enable-faults";
		for (int k = 0; k < spec->nsite_args && argc < LAB_MAX_ARGS; k++)
			argv[argc++] = spec->site_args[k];
		struct lab_proc *p = add_proc(l, s->name, "drsite", health, argv);
		if (!p)
			return seterr(err, errlen, "%s: path too long", s->name);
		if (start_proc(l, c, p, left_ms(deadline), err, errlen))
			return -1;
	}
	return 0;
}

/* Spawns the last n processes added, then waits for each to be healthy:
 * etcd members must all run before any can answer. */
static int start_group(struct lab *l, struct httpc *c, int n, uint64_t deadline, char *err,
		       size_t errlen)
{
	for (int i = l->nprocs - n; i < l->nprocs; i++)
		if (spawn_recorded(l, &l->procs[i], err, errlen))
			return -1;
	for (int i = l->nprocs - n; i < l->nprocs; i++)
		if (wait_healthy(c, &l->procs[i], left_ms(deadline), err, errlen))
			return -1;
	return 0;
}

/* Member k of the HA lab's etcd cluster: client port ports[2k], peer port
 * ports[2k + 1], data in DIR/etcd-N; cluster is every member's name=peer. */
static struct lab_proc *add_etcd(struct lab *l, const char *bin, int k, const int *ports,
				 const char *cluster)
{
	char name[LAB_NAME], data[LAB_PATH], peer[64], health[128];
	snprintf(name, sizeof(name), "etcd-%d", k + 1);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", ports[2 * k + 1]);
	snprintf(health, sizeof(health), "%s/health", l->etcd[k]);
	if (fmt_field(data, sizeof(data), "%s/%s", l->dir, name))
		return NULL;
	const char *argv[] = { bin, "--name", name, "--data-dir", data,
			       "--listen-client-urls", l->etcd[k], "--advertise-client-urls", l->etcd[k],
			       "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			       "--initial-cluster", cluster, "--initial-cluster-state", "new",
			       "--initial-cluster-token", l->dir,  /* unique to this lab */
			       "--heartbeat-interval", "50", "--election-timeout", "500", NULL };
	return add_proc(l, name, "etcd", health, argv);
}

/* The three members of a new etcd cluster on ports[0..2 * LAB_HA_NODES). */
static int start_etcd(struct lab *l, struct httpc *c, const int *ports, uint64_t deadline,
		      char *err, size_t errlen)
{
	char bin[LAB_PATH], cluster[LAB_PATH] = "";
	if (find_bin("etcd", bin, sizeof(bin), err, errlen))
		return -1;
	l->netcd = LAB_HA_NODES;
	for (int k = 0; k < LAB_HA_NODES; k++) {
		size_t at = strlen(cluster);
		snprintf(l->etcd[k], sizeof(l->etcd[k]), "http://127.0.0.1:%d", ports[2 * k]);
		snprintf(cluster + at, sizeof(cluster) - at, "%setcd-%d=http://127.0.0.1:%d",
			 k ? "," : "", k + 1, ports[2 * k + 1]);
	}
	for (int k = 0; k < LAB_HA_NODES; k++)
		if (!add_etcd(l, bin, k, ports, cluster))
			return seterr(err, errlen, "etcd-%d: path too long", k + 1);
	return start_group(l, c, LAB_HA_NODES, deadline, err, errlen);
}

/* A link from each drorchd instance to each etcd member, drorchd-N.etcd-M
 * (drlink picks its port): each instance's own way to etcd. */
static int create_etcd_links(struct lab *l, struct httpc *c, char *err, size_t errlen)
{
	for (int i = 0; i < l->norchs; i++)
		for (int k = 0; k < l->netcd; k++) {
			char from[LAB_NAME], to[LAB_NAME];
			orch_name(l, i, from, sizeof(from));
			snprintf(to, sizeof(to), "etcd-%d", k + 1);
			if (link_create(l, c, from, to, l->etcd[k] + strlen("http://"), err, errlen))
				return -1;
		}
	return 0;
}

int lab_cut_from_etcd(const struct lab *l, int i, bool cut, int spare, char *err,
		      size_t errlen)
{
	struct lab_cond cond = { .has_partition = true, .direction = "both" };
	snprintf(cond.partition, sizeof(cond.partition), "%s", cut ? "blackhole" : "none");
	if (!l->netcd || i < 0 || i >= l->norchs)
		return seterr(err, errlen, "drorchd instance %d: not an instance of an HA lab", i + 1);
	for (int k = 0; k < l->netcd; k++) {
		char from[LAB_NAME], to[LAB_NAME];
		if (k == spare)
			continue;
		orch_name(l, i, from, sizeof(from));
		snprintf(to, sizeof(to), "etcd-%d", k + 1);
		const struct lab_link *link = lab_link_between(l, from, to);
		if (!link)
			return seterr(err, errlen, "%s: no drlink link to %s", from, to);
		if (lab_link_set(l, link->name, &cond, NULL, err, errlen))
			return -1;
	}
	return 0;
}

/* Instance i's config file: DIR/drorchd.yaml, or DIR/drorchd-N.yaml in HA. */
static int orch_config(const struct lab *l, int i, char *out, size_t len)
{
	char name[LAB_NAME];
	orch_name(l, i, name, sizeof(name));
	return fmt_field(out, len, "%s/%s.yaml", l->dir, name);
}

/* Each drorchd instance's URL (on ports[i]) and store; url, config and db
 * name the first instance's. */
static int lay_orchs(struct lab *l, bool ha, const int *ports, char *err, size_t errlen)
{
	l->norchs = ha ? LAB_HA_NODES : 1;
	for (int i = 0; i < l->norchs; i++) {
		snprintf(l->urls[i], sizeof(l->urls[i]), "http://127.0.0.1:%d", ports[i]);
		if (ha ? fmt_field(l->dbs[i], sizeof(l->dbs[i]), "%s/drorchd-%d.db", l->dir, i + 1)
		       : fmt_field(l->dbs[i], sizeof(l->dbs[i]), "%s/drorch.db", l->dir))
			return seterr(err, errlen, "%s: path too long", l->dir);
	}
	memcpy(l->url, l->urls[0], sizeof(l->url));
	memcpy(l->db, l->dbs[0], sizeof(l->db));
	return orch_config(l, 0, l->config, sizeof(l->config)) ? seterr(err, errlen, "%s: path too "
								"long", l->dir) : 0;
}

/* Every drorchd instance, each with its config, sharing the policy. */
static int start_orchs(struct lab *l, const struct lab_spec *s, struct httpc *c, uint64_t deadline,
		       char *err, size_t errlen)
{
	char bin[LAB_PATH];
	if (find_bin("drorchd", bin, sizeof(bin), err, errlen) || write_policy(l, s, err, errlen))
		return -1;
	for (int i = 0; i < l->norchs; i++) {
		char name[LAB_NAME], config[LAB_PATH], health[128];
		orch_name(l, i, name, sizeof(name));
		snprintf(health, sizeof(health), "%s/healthz", l->urls[i]);
		if (orch_config(l, i, config, sizeof(config)))
			return seterr(err, errlen, "%s: path too long", name);
		if (write_config(l, s, i, config, err, errlen))
			return -1;
		const char *argv[] = { bin, "--config", config, NULL };
		if (!add_proc(l, name, "drorchd", health, argv))
			return seterr(err, errlen, "%s: path too long", name);
	}
	return start_group(l, c, l->norchs, deadline, err, errlen);
}

/* With HA, etcd and the instances' links to it, on ports picked together
 * so that they differ (the sites', drlink's and its site links' are bound
 * by now).  Before drorchd's ports are picked: a link listens on a port
 * drlink picks, which must not be one picked for drorchd. */
static int up_etcd(struct lab *l, struct httpc *c, uint64_t deadline, char *err, size_t errlen)
{
	int ports[2 * LAB_HA_NODES];
	if (freeport_pick(ports, 2 * LAB_HA_NODES))
		return seterr(err, errlen, "no free loopback ports for etcd");
	if (start_etcd(l, c, ports, deadline, err, errlen))
		return -1;
	l->norchs = LAB_HA_NODES;  /* the instances' names, for their links; lay_orchs follows */
	return create_etcd_links(l, c, err, errlen);
}

/* etcd (with HA), then drorchd on ports picked together so that they
 * differ; waits for STEADY at the one drorchd, or at the leader. */
static int up_orch(struct lab *l, const struct lab_up_opts *o, const struct lab_spec *s,
		   struct httpc *c, uint64_t deadline, char *err, size_t errlen)
{
	int ports[LAB_HA_NODES], leader = 0;
	if (s->ha && up_etcd(l, c, deadline, err, errlen))
		return -1;
	if (freeport_pick(ports, s->ha ? LAB_HA_NODES : 1))
		return seterr(err, errlen, "no free loopback ports");
	if (lay_orchs(l, s->ha, ports, err, errlen))
		return -1;
	for (int k = 0; k < l->netcd; k++)
		say(o, "%-9s %s  data %s/etcd-%d", l->procs[l->nprocs - l->netcd + k].name, l->etcd[k],
		    l->dir, k + 1);
	if (start_orchs(l, s, c, deadline, err, errlen))
		return -1;
	for (int i = 0; i < l->norchs; i++)
		say(o, "%-9s %s  db %s  (policy %s)", lab_orch_proc(l, i)->name, l->urls[i], l->dbs[i],
		    l->policy[0] ? l->policy : "built-in default");
	if (s->ha) {
		say(o, "waiting for exactly one leader (/healthz/leader)...");
		if (wait_leader(l, c, deadline, &leader, err, errlen))
			return -1;
		say(o, "leader    %s  %s", lab_orch_proc(l, leader)->name, l->urls[leader]);
	}
	say(o, "waiting for STEADY with every replica streaming...");
	return wait_steady(l, leader, c, deadline, err, errlen);
}

static int up_steps(struct lab *l, const struct lab_up_opts *o, const struct lab_spec *s,
		    struct httpc *c, char *err, size_t errlen)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : 60000);
	if (start_drlink(l, c, deadline, err, errlen))
		return -1;
	say(o, "drlink    %s (admin)", l->drlink);
	if (lay_sites(l, s, err, errlen) || create_links(l, c, err, errlen) ||
	    start_sites(l, s, c, deadline, err, errlen))
		return -1;
	for (int i = 0; i < l->nsites; i++)
		say(o, "%-9s %s  region %s  data %s", l->sites[i].name, l->sites[i].url,
		    l->sites[i].region, l->sites[i].data);
	if (wan_apply(l, s, err, errlen))
		return -1;
	return up_orch(l, o, s, c, deadline, err, errlen);
}

int lab_up(const struct lab_up_opts *o, struct lab **out, char *err, size_t errlen)
{
	struct lab_spec spec;
	if (o->nsites && (o->nsites < 2 || o->nsites > LAB_MAX_SITES))
		return seterr(err, errlen, "--sites: expected 2 or 3");
	if (spec_load(o->spec, o->nsites, &spec, err, errlen))
		return -1;
	spec.enable_faults |= o->enable_faults;
	spec.ha |= o->ha;
	if (spec_add_site_args(&spec, o->site_args, err, errlen)) {
		free(spec.policy_text);
		return -1;
	}
	struct lab *l = calloc(1, sizeof(*l));
	struct httpc *c = httpc_new();
	int rc = -1, lock_fd = -1;
	if (!l || !c) {
		seterr(err, errlen, "lab up: out of memory");
	} else if (claim_dir(l, o, &lock_fd, err, errlen) == 0) {
		/* From here on DIR is ours: a failure stops what was started and
		 * says so in lab.json. */
		rc = layout(l, err, errlen);
		if (rc == 0)
			rc = up_steps(l, o, &spec, c, err, errlen);
		char ignored[256];
		if (rc)
			lab_down(l, 3000, false, ignored, sizeof(ignored));
		snprintf(l->state, sizeof(l->state), "%s", rc ? "failed" : "up");
		if (lab_save(l, rc ? ignored : err, rc ? sizeof(ignored) : errlen) && !rc)
			rc = -1;
	}
	if (lock_fd >= 0)
		close(lock_fd);
	httpc_free(c);
	free(spec.policy_text);
	if (rc)
		free(l);
	else
		*out = l;
	return rc;
}

/* ==== down, kill, start ==================================================== */

static int purge(const struct lab *l, char *err, size_t errlen);

/* Every recorded process, checked once more after all were stopped: one
 * that a stop missed (or that came back) is named, never reported down. */
static int verify_down(const struct lab *l, char *err, size_t errlen)
{
	char left[256] = "";
	for (int i = 0; i < l->nprocs; i++)
		if (lab_proc_alive(&l->procs[i]))
			snprintf(left + strlen(left), sizeof(left) - strlen(left), " %s(pid %d)",
				 l->procs[i].name, (int)l->procs[i].pid);
	return left[0] ? seterr(err, errlen, "still alive after SIGKILL:%s", left) : 0;
}

int lab_down(struct lab *l, long grace_ms, bool purge_data, char *err, size_t errlen)
{
	for (int i = l->nprocs - 1; i >= 0; i--)
		stop_proc(&l->procs[i], grace_ms);
	if (verify_down(l, err, errlen))
		return -1;
	snprintf(l->state, sizeof(l->state), "down");
	return purge_data ? purge(l, err, errlen) : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path) && errno != ENOENT ? -1 : 0;
}

/* Removes what lab up made that holds state: data dirs and the store (with
 * its audit key and head file: a head file left behind would make the next
 * store look like one that lost its history). */
static int rm_tree(const char *dir, char *err, size_t errlen)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return seterr(err, errlen, "%s: cannot remove: %s", dir, strerror(errno));
	return 0;
}

/* The value of `opt value` in p's argv, or NULL. */
static const char *proc_arg(const struct lab_proc *p, const char *opt)
{
	for (int i = 1; i + 1 < p->argc; i++)
		if (!strcmp(p->argv[i], opt))
			return p->argv[i + 1];
	return NULL;
}

/* Also every instance's store of an HA lab, and its etcd members' data. */
static int purge(const struct lab *l, char *err, size_t errlen)
{
	static const char *const suffix[] = { "", "-wal", "-shm", ".head", ".key" };
	for (int i = 0; i < l->nsites; i++)
		if (rm_tree(l->sites[i].data, err, errlen))
			return -1;
	for (int i = 0; i < l->nprocs; i++) {
		const char *data = proc_arg(&l->procs[i], "--data-dir");
		if (!strcmp(l->procs[i].kind, "etcd") && data && rm_tree(data, err, errlen))
			return -1;
	}
	for (int k = 0; k < l->norchs; k++)
		for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
			char path[LAB_PATH + 8];
			snprintf(path, sizeof(path), "%s%s", l->dbs[k], suffix[i]);
			if (remove(path) && errno != ENOENT)
				return seterr(err, errlen, "%s: cannot remove: %s", path,
					      strerror(errno));
		}
	return 0;
}

int lab_kill(struct lab *l, const char *name, char *err, size_t errlen)
{
	struct lab_proc *p = lab_proc_named(l, name);
	if (!p)
		return seterr(err, errlen, "%s: no such process in %s/lab.json", name, l->dir);
	if (!lab_proc_alive(p))
		return seterr(err, errlen, "%s: not running (pid %d)", name, (int)p->pid);
	if (kill(p->pid, SIGKILL))
		return seterr(err, errlen, "%s: kill -9 %d: %s", name, (int)p->pid, strerror(errno));
	if (!wait_gone(p, 5000))
		return seterr(err, errlen, "%s: pid %d still alive after SIGKILL", name, (int)p->pid);
	p->pid = 0;
	return 0;
}

int lab_start(struct lab *l, const char *name, long timeout_ms, char *err, size_t errlen)
{
	struct lab_proc *p = lab_proc_named(l, name);
	if (!p)
		return seterr(err, errlen, "%s: no such process in %s/lab.json", name, l->dir);
	if (lab_proc_alive(p))
		return seterr(err, errlen, "%s: already running (pid %d)", name, (int)p->pid);
	struct httpc *c = httpc_new();
	if (!c)
		return seterr(err, errlen, "%s: out of memory", name);
	int rc = start_proc(l, c, p, timeout_ms, err, errlen);
	httpc_free(c);
	return rc;
}

/* Removes `opt value` from p's argv, if there. */
static void drop_arg(struct lab_proc *p, const char *opt)
{
	for (int i = 1; i + 1 < p->argc; i++)
		if (!strcmp(p->argv[i], opt)) {
			memmove(p->argv[i], p->argv[i + 2], (size_t)(p->argc - i - 2) * sizeof(p->argv[0]));
			p->argc -= 2;
			return;
		}
}

int lab_upgrade_site(struct lab *l, const char *name, const char *version, long timeout_ms,
		     char *err, size_t errlen)
{
	struct lab_proc *p = lab_proc_named(l, name);
	char prog[LAB_PATH];
	if (!p || strcmp(p->kind, "drsite"))
		return seterr(err, errlen, "%s: no such site in %s/lab.json", name, l->dir);
	if (lab_drsite_program(version, prog, sizeof(prog), err, errlen))
		return -1;  /* nothing stopped */
	if (lab_proc_alive(p)) {
		kill(p->pid, SIGTERM);  /* a clean stop: flush, checkpoint */
		if (!wait_gone(p, 10000) && (kill(p->pid, SIGKILL) || !wait_gone(p, 5000)))
			return seterr(err, errlen, "%s: pid %d would not stop", name, (int)p->pid);
	}
	char was[LAB_PATH];
	snprintf(was, sizeof(was), "%s", p->argv[0]);
	snprintf(p->argv[0], sizeof(p->argv[0]), "%s", prog);
	/* A lab.json written before there were real binaries may still carry
	 * the old label, which drsite no longer takes. */
	drop_arg(p, "--binary-version");
	if (lab_start(l, name, timeout_ms, err, errlen)) {
		/* The new program refused the data (an older binary on a finalized
		 * FCV) or would not start: the site goes back on the program it
		 * ran, so that it is not left down and lab.json names a program
		 * that can start on its data. */
		if (lab_proc_alive(p) || !strcmp(was, prog))
			return -1;
		char why[LAB_PATH + 64];
		snprintf(p->argv[0], sizeof(p->argv[0]), "%s", was);
		int back = lab_start(l, name, timeout_ms, why, sizeof(why));
		size_t at = strlen(err);
		snprintf(err + at, errlen - at, back ? "; and back on %s: %s" :
			 "; restarted on %s%s", was, back ? why : "");
		lab_save(l, why, sizeof(why));
		return -1;
	}
	return lab_save(l, err, errlen);  /* its argv and new pid */
}
