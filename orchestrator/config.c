/*
 * config.c — drorchd's config file (see config.h); the policy it names is
 * policies/policy.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "ydoc.h"

_Static_assert(POLICY_NAME_MAX == CONFIG_NAME_MAX && POLICY_MAX_SITES == CONFIG_MAX_SITES,
	       "policy.h and config.h bound names and sites alike");

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

/* A list of up to max http://HOST:PORT URLs under key into out[], *n of them
 * (at least one when required). */
static int parse_urls(struct ydoc *d, yaml_node_t *map, const char *key, bool required,
		      char (*out)[CONFIG_URL_MAX], int max, int *n)
{
	yaml_node_t *seq;
	if (ydoc_seq(d, map, key, required, &seq))
		return -1;
	if (!seq)
		return 0;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *u = ydoc_node(d, *i);
		const char *v = ydoc_scalar(u);
		char hp[CONFIG_URL_MAX];
		if (!v || *n == max || strlen(v) >= CONFIG_URL_MAX || url_hostport(v, hp, sizeof(hp)))
			return ydoc_fail(d, u, "%s: expected up to %d http:// URLs", key, max);
		snprintf(out[(*n)++], CONFIG_URL_MAX, "%s", v);
	}
	if (required && *n == 0)
		return ydoc_fail(d, seq, "%s: expected 1 to %d http:// URLs", key, max);
	return 0;
}

/* A name of [A-Za-z0-9_-], 1 to CONFIG_NAME_MAX - 1 characters. */
static bool plain_name(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < CONFIG_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ha.prefix: "/" then path segments of plain names, no trailing '/'. */
static bool ha_prefix_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) >= CONFIG_NAME_MAX * 2)
		return false;
	for (const char *seg = p + 1; ; ) {
		size_t n = strcspn(seg, "/");
		char name[CONFIG_NAME_MAX];
		if (n == 0 || n >= sizeof(name))
			return false;
		memcpy(name, seg, n);
		name[n] = '\0';
		if (!plain_name(name))
			return false;
		if (!seg[n])
			return true;
		seg += n + 1;
	}
}

/* ha: {etcd, prefix, lease_ttl_ms, name, advertise}; absent: one instance. */
static int parse_ha(struct ydoc *d, yaml_node_t *root, struct config *c)
{
	static const char *const keys[] = { "etcd", "prefix", "lease_ttl_ms", "name",
					    "advertise", NULL };
	yaml_node_t *ha = ydoc_get(d, root, "ha");
	struct config_ha *h = &c->ha;
	char hp[CONFIG_URL_MAX];
	if (!ha)
		return 0;
	h->enabled = true;
	h->lease_ttl_ms = 3000;
	if (ydoc_check_keys(d, ha, "ha", keys) || parse_urls(d, ha, "etcd", true, h->etcd, CONFIG_MAX_ETCD, &h->netcd) ||
	    ydoc_string(d, ha, "prefix", true, h->prefix, sizeof(h->prefix)) ||
	    ydoc_uint(d, ha, "lease_ttl_ms", false, 1000, 60000, &h->lease_ttl_ms) ||
	    ydoc_string(d, ha, "name", true, h->name, sizeof(h->name)) ||
	    ydoc_string(d, ha, "advertise", false, h->advertise, sizeof(h->advertise)))
		return -1;
	if (!ha_prefix_ok(h->prefix))
		return ydoc_fail(d, ydoc_get(d, ha, "prefix"),
				 "prefix: expected /NAME[/NAME...] of [A-Za-z0-9_-], e.g. /drorch/prod");
	if (!plain_name(h->name))
		return ydoc_fail(d, ydoc_get(d, ha, "name"),
				 "name: expected 1-63 characters of [A-Za-z0-9_-]");
	if (h->advertise[0] && url_hostport(h->advertise, hp, sizeof(hp)))
		return ydoc_fail(d, ydoc_get(d, ha, "advertise"),
				 "advertise: expected this instance's API URL, http://HOST:PORT");
	if (!h->advertise[0])
		snprintf(h->advertise, sizeof(h->advertise), "http://%.240s", c->listen);
	return 0;
}

static int parse_config(struct ydoc *d, struct config *c)
{
	static const char *const keys[] = { "listen", "db", "token_file", "site_token_file",
					    "policy", "sites", "initial_primary", "webhooks",
					    "playbooks", "drlink", "audit_key_file", "operators_file",
					    "ha", NULL };
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
	    ydoc_string(d, root, "operators_file", false, c->operators_file,
			sizeof(c->operators_file)) ||
	    parse_sites(d, root, c) ||
	    parse_urls(d, root, "webhooks", false, c->webhooks, CONFIG_MAX_WEBHOOKS, &c->nwebhooks))
		return -1;
	if (c->drlink[0] && strncmp(c->drlink, "http://", 7) != 0)
		return ydoc_fail(d, ydoc_get(d, root, "drlink"),
				 "drlink: expected drlink's admin URL, http://HOST:PORT");
	if (http_parse_hostport(c->listen, host, sizeof(host), &port) != 0)
		return ydoc_fail(d, ydoc_get(d, root, "listen"), "listen: expected HOST:PORT");
	if (!config_site(c, c->initial_primary))
		return ydoc_fail(d, ydoc_get(d, root, "initial_primary"),
				 "initial_primary: '%s' is not one of the sites", c->initial_primary);
	return parse_ha(d, root, c);
}

struct policy_cluster config_policy_cluster(const struct config *c)
{
	struct policy_cluster cl = { .nsites = c->nsites };
	for (int i = 0; i < c->nsites; i++)
		cl.sites[i] = c->sites[i].name;
	return cl;
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
	if (rc == 0)
		rc = parse_config(d, c);
	ydoc_free(d);
	if (rc == 0 && c->policy_file[0]) {  /* checked against these sites */
		struct policy_cluster cl = config_policy_cluster(c);
		rc = policy_load(c->policy_file, &cl, &c->policy, err, errlen);
	}
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
