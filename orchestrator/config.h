/*
 * config.h — drorchd's configuration file.
 *
 * Owns parsing and validating `drorchd --config FILE`; the policy file it
 * names is read by policies/policy.c and checked against these sites.  Every error names FILE:LINE:COLUMN and what was
 * expected; a bad file changes nothing (the caller installs a config only
 * when config_load returned 0).
 *
 *   listen: 127.0.0.1:7000
 *   db: /var/lib/drorch/drorch.db
 *   token_file: /etc/drorch/operator.token    # its token acts as operator:api
 *   operators_file: /etc/drorch/operators     # optional: NAME sha256:HEX lines
 *   site_token_file: /etc/drorch/site.token
 *   policy: /etc/drorch/policy.yaml        # optional: built-in default
 *   initial_primary: us-east
 *   sites:
 *     - {name: us-east, url: "http://127.0.0.1:7001", region: us-east-1}
 *     - name: eu-west
 *       url: "http://127.0.0.1:7002"
 *       region: eu-west-1
 *       peers: {us-east: "127.0.0.1:7101"}  # how eu-west reaches us-east
 *   webhooks: ["http://127.0.0.1:9000/hook"]
 *   playbooks: /etc/drorch/playbooks        # optional: NAME.yaml files
 *   drlink: "http://127.0.0.1:7900"         # optional: for playbooks' wan steps
 *   audit_key_file: /etc/drorch/audit.key   # optional: default DB.key (db + ".key")
 *   ha:                                     # optional: several drorchd through etcd
 *     etcd: ["http://127.0.0.1:2379", "http://127.0.0.1:2381"]
 *     prefix: /drorch/lab                   # the cluster's keys (docs/ha.md)
 *     lease_ttl_ms: 3000                    # the leader's etcd lease (default 3000)
 *     name: drorchd-1                       # this instance, unique in the cluster
 *     advertise: "http://127.0.0.1:7000"    # optional: its API URL (default http://LISTEN)
 */
#ifndef DRORCH_CONFIG_H
#define DRORCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"

#define CONFIG_MAX_SITES 8
#define CONFIG_MAX_WEBHOOKS 8
#define CONFIG_NAME_MAX 64
#define CONFIG_URL_MAX 256

struct config_peer {
	char name[CONFIG_NAME_MAX];
	char hostport[CONFIG_URL_MAX];
};

struct config_site {
	char name[CONFIG_NAME_MAX];
	char url[CONFIG_URL_MAX];      /* how drorchd reaches it */
	char hostport[CONFIG_URL_MAX]; /* url without scheme and path */
	char region[CONFIG_NAME_MAX];
	struct config_peer peers[CONFIG_MAX_SITES];
	int npeers;
};

#define CONFIG_MAX_ETCD 7

/* High availability (orchestrator/ha.h): absent (enabled false), drorchd is
 * one instance on its own SQLite store. */
struct config_ha {
	bool enabled;
	char etcd[CONFIG_MAX_ETCD][CONFIG_URL_MAX];
	int netcd;
	char prefix[CONFIG_NAME_MAX * 2]; /* "/drorch/NAME": no trailing '/' */
	uint64_t lease_ttl_ms;
	char name[CONFIG_NAME_MAX];       /* this instance */
	char advertise[CONFIG_URL_MAX];   /* its API's base URL */
};

struct config {
	char path[512];
	char listen[CONFIG_URL_MAX];
	char db[512];
	char token_file[512];
	char operators_file[512];      /* operators named by hashed tokens, or "" */
	char site_token_file[512];
	char policy_file[512];
	char initial_primary[CONFIG_NAME_MAX];
	struct config_site sites[CONFIG_MAX_SITES];
	int nsites;
	char webhooks[CONFIG_MAX_WEBHOOKS][CONFIG_URL_MAX];
	int nwebhooks;
	char playbooks_dir[512];       /* POST /v1/playbooks/NAME/runs reads NAME.yaml */
	char drlink[CONFIG_URL_MAX];   /* drlink's admin URL (wan steps), or "" */
	char audit_key_file[512];      /* the store's audit key; "": db + ".key" */
	struct config_ha ha;
	struct policy policy;
};

/* The policy cluster of c: its sites' names (pointers into c). */
struct policy_cluster config_policy_cluster(const struct config *c);
int config_load(const char *path, struct config *out, char *err, size_t errlen);
/* The same from a document in memory; name stands for it in errors and in
 * cfg->path.  A policy file the document names is still read from disk. */
int config_load_mem(const char *name, const char *buf, size_t len, struct config *out,
		    char *err, size_t errlen);

/* The site of that name, or NULL. */
const struct config_site *config_site(const struct config *c, const char *name);
/* HOST:PORT at which site `from` reaches site `to` (a peers entry, else
 * to's own address). */
const char *config_peer_addr(const struct config *c, const char *from, const char *to);

#endif
