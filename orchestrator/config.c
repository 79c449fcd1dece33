/*
 * config.c — drorchd's config file and policy (see config.h).
 *
 * POLICY FILE (every key optional; defaults are the built-in policy):
 *
 *   name: default
 *   replication: {mode: sync, quorum: 1, degrade_to_async: false}
 *   rpo: {max_ms: 5000, max_records: 0}   # automatic failover refused beyond
 *   rto_ms: 1000
 *   detection: {heartbeat_ms: 100, misses: 3, canary_ms: 1000}
 *   failover: {automatic: true, anti_flap_s: 30, candidates: [eu-west, ap-south]}
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "ydoc.h"

void policy_default(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "default");
	snprintf(p->mode, sizeof(p->mode), "sync");
	p->quorum = 1;
	p->rpo_ms = 5000;
	p->rto_ms = 1000;
	p->heartbeat_ms = 100;
	p->misses = 3;
	p->canary_ms = 1000;
	p->automatic = true;
	p->anti_flap_s = 30;
}

static int parse_replication(struct ydoc *d, yaml_node_t *n, struct policy *p)
{
	static const char *const keys[] = { "mode", "quorum", "degrade_to_async", NULL };
	if (!n)
		return 0;
	if (ydoc_check_keys(d, n, "replication", keys) ||
	    ydoc_string(d, n, "mode", false, p->mode, sizeof(p->mode)) ||
	    ydoc_uint(d, n, "quorum", false, 0, CONFIG_MAX_SITES, &p->quorum) ||
	    ydoc_bool(d, n, "degrade_to_async", &p->degrade_to_async))
		return -1;
	if (strcmp(p->mode, "async") && strcmp(p->mode, "sync") && strcmp(p->mode, "remote_apply"))
		return ydoc_fail(d, ydoc_get(d, n, "mode"), "mode: expected async, sync or remote_apply");
	if (p->quorum == 0 && strcmp(p->mode, "async"))
		return ydoc_fail(d, ydoc_get(d, n, "quorum") ? ydoc_get(d, n, "quorum") : n,
				 "quorum: %s needs at least one replica (use mode: async instead)",
				 p->mode);
	if (p->quorum == 0)
		p->quorum = 1;  /* async: the lease still wants one replica or drorchd */
	return 0;
}

static int parse_failover(struct ydoc *d, yaml_node_t *n, struct policy *p)
{
	static const char *const keys[] = { "automatic", "anti_flap_s", "candidates", NULL };
	yaml_node_t *cands = NULL;
	if (!n)
		return 0;
	if (ydoc_check_keys(d, n, "failover", keys) ||
	    ydoc_bool(d, n, "automatic", &p->automatic) ||
	    ydoc_uint(d, n, "anti_flap_s", false, 0, 86400, &p->anti_flap_s) ||
	    ydoc_seq(d, n, "candidates", false, &cands))
		return -1;
	for (yaml_node_item_t *i = cands ? cands->data.sequence.items.start : NULL;
	     cands && i < cands->data.sequence.items.top; i++) {
		yaml_node_t *c = ydoc_node(d, *i);
		const char *s = ydoc_scalar(c);
		if (!s || !*s || strlen(s) >= CONFIG_NAME_MAX || p->ncandidates == CONFIG_MAX_SITES)
			return ydoc_fail(d, c, "candidates: expected up to %d site names",
					 CONFIG_MAX_SITES);
		snprintf(p->candidates[p->ncandidates++], CONFIG_NAME_MAX, "%s", s);
	}
	return 0;
}

static int parse_policy(struct ydoc *d, yaml_node_t *root, struct policy *p)
{
	static const char *const keys[] = { "name", "replication", "rpo", "rto_ms", "detection",
					    "failover", NULL };
	static const char *const rpo_keys[] = { "max_ms", "max_records", NULL };
	static const char *const det_keys[] = { "heartbeat_ms", "misses", "canary_ms", NULL };
	yaml_node_t *rpo = ydoc_get(d, root, "rpo"), *det = ydoc_get(d, root, "detection");
	if (ydoc_check_keys(d, root, "policy", keys) ||
	    ydoc_string(d, root, "name", false, p->name, sizeof(p->name)) ||
	    parse_replication(d, ydoc_get(d, root, "replication"), p) ||
	    (rpo && (ydoc_check_keys(d, rpo, "rpo", rpo_keys) ||
		     ydoc_uint(d, rpo, "max_ms", false, 0, 86400000, &p->rpo_ms) ||
		     ydoc_uint(d, rpo, "max_records", false, 0, UINT32_MAX, &p->rpo_records))) ||
	    ydoc_uint(d, root, "rto_ms", false, 1, 3600000, &p->rto_ms) ||
	    (det && (ydoc_check_keys(d, det, "detection", det_keys) ||
		     ydoc_uint(d, det, "heartbeat_ms", false, 10, 60000, &p->heartbeat_ms) ||
		     ydoc_uint(d, det, "misses", false, 1, 100, &p->misses) ||
		     ydoc_uint(d, det, "canary_ms", false, 10, 600000, &p->canary_ms))) ||
	    parse_failover(d, ydoc_get(d, root, "failover"), p))
		return -1;
	return 0;
}

int policy_parse(const char *name, const char *buf, size_t len, const struct config *cfg,
		 struct policy *out, char *err, size_t errlen)
{
	struct ydoc d;
	struct policy p;
	policy_default(&p);
	int rc = ydoc_load_mem(&d, name, buf, len, err, errlen);
	if (rc == 0)
		rc = parse_policy(&d, ydoc_root(&d), &p);
	yaml_node_t *f = rc == 0 ? ydoc_get(&d, ydoc_root(&d), "failover") : NULL;
	yaml_node_t *r = rc == 0 ? ydoc_get(&d, ydoc_root(&d), "replication") : NULL;
	uint64_t replicas = cfg->nsites > 0 ? (uint64_t)cfg->nsites - 1 : 0;
	if (rc == 0 && cfg->nsites > 0 && p.quorum > replicas && strcmp(p.mode, "async"))
		rc = ydoc_fail(&d, ydoc_get(&d, r, "quorum") ? ydoc_get(&d, r, "quorum") : r,
			       "quorum: %llu replica(s) must confirm each write, but this cluster "
			       "has %llu replica(s): no write could ever be acknowledged",
			       (unsigned long long)p.quorum, (unsigned long long)replicas);
	for (int i = 0; rc == 0 && i < p.ncandidates; i++)
		if (!config_site(cfg, p.candidates[i]))
			rc = ydoc_fail(&d, ydoc_get(&d, f, "candidates"),
				       "candidates: '%s' is not one of the sites", p.candidates[i]);
	ydoc_free(&d);
	if (rc == 0)
		*out = p;
	return rc;
}

json_t *policy_json(const struct policy *p)
{
	json_t *cands = json_array();
	for (int i = 0; i < p->ncandidates; i++)
		json_array_append_new(cands, json_string(p->candidates[i]));
	return json_pack(
		"{s:s, s:{s:s, s:I, s:b}, s:{s:I, s:I}, s:I, s:{s:I, s:I, s:I}, s:{s:b, s:I, s:o}}",
		"name", p->name,
		"replication", "mode", p->mode, "quorum", (json_int_t)p->quorum,
		"degrade_to_async", p->degrade_to_async,
		"rpo", "max_ms", (json_int_t)p->rpo_ms, "max_records", (json_int_t)p->rpo_records,
		"rto_ms", (json_int_t)p->rto_ms,
		"detection", "heartbeat_ms", (json_int_t)p->heartbeat_ms,
		"misses", (json_int_t)p->misses, "canary_ms", (json_int_t)p->canary_ms,
		"failover", "automatic", p->automatic, "anti_flap_s", (json_int_t)p->anti_flap_s,
		"candidates", cands);
}

int policy_load(const char *path, struct policy *out, char *err, size_t errlen)
{
	struct ydoc d;
	struct policy p;
	policy_default(&p);
	int rc = ydoc_load(&d, path, err, errlen);
	if (rc == 0)
		rc = parse_policy(&d, ydoc_root(&d), &p);
	ydoc_free(&d);
	if (rc == 0)
		*out = p;
	return rc;
}

/* "http://HOST:PORT[/...]" -> "HOST:PORT". */
static int url_hostport(const char *url, char *out, size_t outlen)
{
	const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
	if (!p)
		return -1;
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	char host[CONFIG_URL_MAX];
	uint16_t port;
	return http_parse_hostport(out, host, sizeof(host), &port);
}

static int parse_peers(struct ydoc *d, yaml_node_t *n, struct config_site *s)
{
	if (!n)
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, n, "peers: expected a mapping of site name to HOST:PORT");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = ydoc_scalar(ydoc_node(d, p->key));
		yaml_node_t *vn = ydoc_node(d, p->value);
		const char *v = ydoc_scalar(vn);
		char host[CONFIG_URL_MAX];
		uint16_t port;
		if (!k || !v || s->npeers == CONFIG_MAX_SITES || strlen(k) >= CONFIG_NAME_MAX ||
		    strlen(v) >= CONFIG_URL_MAX || http_parse_hostport(v, host, sizeof(host), &port))
			return ydoc_fail(d, vn, "peers: expected SITE: HOST:PORT");
		struct config_peer *cp = &s->peers[s->npeers++];
		snprintf(cp->name, sizeof(cp->name), "%s", k);
		snprintf(cp->hostport, sizeof(cp->hostport), "%s", v);
	}
	return 0;
}

static int parse_site(struct ydoc *d, yaml_node_t *n, struct config_site *s)
{
	static const char *const keys[] = { "name", "url", "region", "peers", NULL };
	if (ydoc_check_keys(d, n, "site", keys) ||
	    ydoc_string(d, n, "name", true, s->name, sizeof(s->name)) ||
	    ydoc_string(d, n, "url", true, s->url, sizeof(s->url)) ||
	    ydoc_string(d, n, "region", true, s->region, sizeof(s->region)) ||
	    parse_peers(d, ydoc_get(d, n, "peers"), s))
		return -1;
	if (url_hostport(s->url, s->hostport, sizeof(s->hostport)) != 0)
		return ydoc_fail(d, ydoc_get(d, n, "url"), "url: expected http://HOST:PORT");
	return 0;
}

static int parse_sites(struct ydoc *d, yaml_node_t *root, struct config *c)
{
	yaml_node_t *seq;
	if (ydoc_seq(d, root, "sites", true, &seq))
		return -1;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *n = ydoc_node(d, *i);
		if (c->nsites == CONFIG_MAX_SITES)
			return ydoc_fail(d, n, "sites: at most %d", CONFIG_MAX_SITES);
		if (parse_site(d, n, &c->sites[c->nsites]))
			return -1;
		if (config_site(c, c->sites[c->nsites].name))
			return ydoc_fail(d, n, "sites: duplicate name '%s'", c->sites[c->nsites].name);
		c->nsites++;
	}
	if (c->nsites < 2)
		return ydoc_fail(d, seq, "sites: at least two sites are needed");
	return 0;
}

static int parse_webhooks(struct ydoc *d, yaml_node_t *root, struct config *c)
{
	yaml_node_t *seq;
	if (ydoc_seq(d, root, "webhooks", false, &seq))
		return -1;
	if (!seq)
		return 0;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *n = ydoc_node(d, *i);
		const char *u = ydoc_scalar(n);
		char hp[CONFIG_URL_MAX];
		if (!u || c->nwebhooks == CONFIG_MAX_WEBHOOKS || strlen(u) >= CONFIG_URL_MAX ||
		    url_hostport(u, hp, sizeof(hp)))
			return ydoc_fail(d, n, "webhooks: expected up to %d http:// URLs",
					 CONFIG_MAX_WEBHOOKS);
		snprintf(c->webhooks[c->nwebhooks++], CONFIG_URL_MAX, "%s", u);
	}
	return 0;
}

static int parse_config(struct ydoc *d, struct config *c)
{
	static const char *const keys[] = { "listen", "db", "token_file", "site_token_file",
					    "policy", "sites", "initial_primary", "webhooks",
					    "playbooks", "drlink", "audit_key_file", NULL };
	yaml_node_t *root = ydoc_root(d);
	char host[CONFIG_URL_MAX];
	uint16_t port;
	if (ydoc_check_keys(d, root, "config", keys) ||
	    ydoc_string(d, root, "listen", true, c->listen, sizeof(c->listen)) ||
	    ydoc_string(d, root, "db", true, c->db, sizeof(c->db)) ||
	    ydoc_string(d, root, "token_file", true, c->token_file, sizeof(c->token_file)) ||
	    ydoc_string(d, root, "site_token_file", true, c->site_token_file,
			sizeof(c->site_token_file)) ||
	    ydoc_string(d, root, "policy", false, c->policy_file, sizeof(c->policy_file)) ||
	    ydoc_string(d, root, "initial_primary", true, c->initial_primary,
			sizeof(c->initial_primary)) ||
	    ydoc_string(d, root, "playbooks", false, c->playbooks_dir, sizeof(c->playbooks_dir)) ||
	    ydoc_string(d, root, "drlink", false, c->drlink, sizeof(c->drlink)) ||
	    ydoc_string(d, root, "audit_key_file", false, c->audit_key_file,
			sizeof(c->audit_key_file)) ||
	    parse_sites(d, root, c) || parse_webhooks(d, root, c))
		return -1;
	if (c->drlink[0] && strncmp(c->drlink, "http://", 7) != 0)
		return ydoc_fail(d, ydoc_get(d, root, "drlink"),
				 "drlink: expected drlink's admin URL, http://HOST:PORT");
	if (http_parse_hostport(c->listen, host, sizeof(host), &port) != 0)
		return ydoc_fail(d, ydoc_get(d, root, "listen"), "listen: expected HOST:PORT");
	if (!config_site(c, c->initial_primary))
		return ydoc_fail(d, ydoc_get(d, root, "initial_primary"),
				 "initial_primary: '%s' is not one of the sites", c->initial_primary);
	for (int i = 0; i < c->policy.ncandidates; i++)
		if (!config_site(c, c->policy.candidates[i]))
			return ydoc_fail(d, ydoc_get(d, root, "policy"),
					 "policy: candidate '%s' is not one of the sites",
					 c->policy.candidates[i]);
	uint64_t replicas = c->nsites > 0 ? (uint64_t)c->nsites - 1 : 0;
	if (strcmp(c->policy.mode, "async") && c->policy.quorum > replicas)
		return ydoc_fail(d, ydoc_get(d, root, "policy") ? ydoc_get(d, root, "policy") : root,
				 "policy: quorum %llu exceeds the %llu replica(s) of these sites: "
				 "no write could ever be acknowledged",
				 (unsigned long long)c->policy.quorum, (unsigned long long)replicas);
	return 0;
}

/* The config from a loaded document (rc: how loading it went); d is freed. */
static int config_from_doc(struct ydoc *d, int rc, const char *name, struct config *out,
			   char *err, size_t errlen)
{
	struct config *c = calloc(1, sizeof(*c));  /* built aside, copied out only when valid */
	if (!c) {
		ydoc_free(d);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(c->path, sizeof(c->path), "%s", name);
	policy_default(&c->policy);
	if (rc == 0) {
		char pf[512] = "";
		rc = ydoc_string(d, ydoc_root(d), "policy", false, pf, sizeof(pf));
		if (rc == 0 && pf[0])
			rc = policy_load(pf, &c->policy, err, errlen);
	}
	if (rc == 0)
		rc = parse_config(d, c);
	ydoc_free(d);
	if (rc == 0)
		*out = *c;
	free(c);
	return rc;
}

int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	struct ydoc d;
	int rc = ydoc_load(&d, path, err, errlen);
	return config_from_doc(&d, rc, path, out, err, errlen);
}

int config_load_mem(const char *name, const char *buf, size_t len, struct config *out,
		    char *err, size_t errlen)
{
	struct ydoc d;
	int rc = ydoc_load_mem(&d, name, buf, len, err, errlen);
	return config_from_doc(&d, rc, name, out, err, errlen);
}

const struct config_site *config_site(const struct config *c, const char *name)
{
	for (int i = 0; i < c->nsites; i++)
		if (strcmp(c->sites[i].name, name) == 0)
			return &c->sites[i];
	return NULL;
}

const char *config_peer_addr(const struct config *c, const char *from, const char *to)
{
	const struct config_site *f = config_site(c, from), *t = config_site(c, to);
	for (int i = 0; f && i < f->npeers; i++)
		if (strcmp(f->peers[i].name, to) == 0)
			return f->peers[i].hostport;
	return t ? t->hostport : NULL;
}
