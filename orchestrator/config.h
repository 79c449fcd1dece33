/*
 * config.h — drorchd's configuration file and the policy it enforces.
 *
 * Owns parsing and validating `drorchd --config FILE` and the optional
 * policy file it names.  Every error names FILE:LINE:COLUMN and what was
 * expected; a bad file changes nothing (the caller installs a config only
 * when config_load returned 0).
 *
 *   listen: 127.0.0.1:7000
 *   db: /var/lib/drorch/drorch.db
 *   token_file: /etc/drorch/operator.token
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
 */
#ifndef DRORCH_CONFIG_H
#define DRORCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CONFIG_MAX_SITES 8
#define CONFIG_MAX_WEBHOOKS 8
#define CONFIG_NAME_MAX 64
#define CONFIG_URL_MAX 256

struct policy {
	char name[CONFIG_NAME_MAX];
	char mode[16];                /* async | sync | remote_apply */
	uint64_t quorum;
	bool degrade_to_async;        /* no replica left: ack async rather than refuse */
	uint64_t rpo_ms;              /* automatic failover refused beyond this lag */
	uint64_t rpo_records;         /* ... or beyond this many records (0 = no limit) */
	uint64_t rto_ms;              /* target, reported against */
	uint64_t heartbeat_ms;
	uint64_t misses;
	uint64_t canary_ms;           /* a canary write slower than this is failing */
	bool automatic;
	uint64_t anti_flap_s;
	char candidates[CONFIG_MAX_SITES][CONFIG_NAME_MAX];
	int ncandidates;
};

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

struct config {
	char path[512];
	char listen[CONFIG_URL_MAX];
	char db[512];
	char token_file[512];
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
	struct policy policy;
};

/* The built-in default: sync quorum 1, heartbeat 100 ms x 3, automatic. */
void policy_default(struct policy *p);
int policy_load(const char *path, struct policy *out, char *err, size_t errlen);
/* A policy document in memory (YAML, or JSON as GET /v1/policy prints it),
 * on top of the built-in default; every candidate must be a site of cfg.
 * Errors are "NAME:LINE:COLUMN: ...".  *out is written only on success. */
int policy_parse(const char *name, const char *buf, size_t len, const struct config *cfg,
		 struct policy *out, char *err, size_t errlen);
/* The policy as JSON, in the shape of the policy file. */
json_t *policy_json(const struct policy *p);
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
