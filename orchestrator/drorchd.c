/*
 * drorchd — the DR orchestrator daemon.
 *
 *   drorchd --config FILE [--log-level L]
 *   drorchd --config FILE --verify-audit
 *   drorchd --config FILE --accept-lost-history
 *
 * A store that is not at its head file (it lost history) is taken as it
 * is, the loss recorded in the audit (orch.c: take_history); the sites'
 * epochs then correct its cluster row (STORE_BEHIND).
 *
 * Exit codes: 0 clean shutdown (SIGTERM/SIGINT), an intact audit, or a loss
 * accepted (or nothing to accept); 1 start-up failure (among them a damaged
 * store, a missing or wrong audit key) or a broken audit (a damaged store
 * too); 2 usage, a bad config file, or an audit that cannot be read (no
 * such store, no key file).
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "http.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "nofile.h"
#include "orch.h"
#include "pbrun.h"
#include "sigstop.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: drorchd --config FILE [--log-level debug|info|warn|error]\n"
		   "       drorchd --config FILE --verify-audit\n"
		   "       drorchd --config FILE --accept-lost-history\n"
		   "       drorchd --version | -h\n"
		   "  with an ha: section in FILE, one of several instances through etcd (docs/ha.md)\n");
}

static void print_rows(const char *table, int64_t rows, const char *what)
{
	if (rows < 0)
		printf("  %-13s not checked\n", table);
	else
		printf("  %-13s %6" PRId64 " %s: %s\n", table, rows, rows == 1 ? "row" : "rows", what);
}

static void print_report(const struct config *cfg, struct store *st,
			 const struct store_audit_report *r)
{
	printf("audit of %s (schema %d", cfg->db, r->schema_version);
	if (r->macs)
		printf(", key file %s, key id %s", store_key_file(st), r->key_id);
	printf(")\n");
	print_rows("transitions", r->transitions,
		   r->macs ? "hash chain, MACs, cluster head" : "hash chain, cluster head (no MACs)");
	if (r->schema_version < 3)
		return;
	print_rows("audit_events", r->audit_events, "hash chain, MACs");
	print_rows("runs", r->runs, "each as its newest audit event recorded it, none removed");
	print_rows("run_steps", r->run_steps, "each as its audit event recorded it, none removed");
	print_rows("policies", r->policies, "each as its audit event recorded it, none removed");
	if (r->head.detail[0])
		printf("  head file     %s\n", r->head.detail);
}

/*
 * --verify-audit: opens the store read-only (nothing is written, not even
 * the head file; a running drorchd is not disturbed), checks everything the
 * audit covers, says what it checked and the first bad row.
 */
static int verify_audit(const struct config *cfg)
{
	struct store *st = NULL;
	struct store_options opt = { .key_file = cfg->audit_key_file, .read_only = true };
	struct store_audit_report r;
	char err[1024];
	int rc = store_open_ex(&st, cfg->db, &opt, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "drorchd: verify-audit: %s\n", err);
		return rc == STORE_DAMAGED ? 1 : 2;
	}
	rc = store_verify(st, &r, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "drorchd: verify-audit: %s\n", err);
		store_close(st);
		return 2;
	}
	print_report(cfg, st, &r);
	store_close(st);
	if (rc > 0) {
		printf("audit BROKEN: %s\n", r.first_bad);
		return 1;
	}
	printf("audit intact\n");
	return 0;
}

/* Opens the store read-write as the orchestrator will, and reads where it
 * stands against its head file.  0, or 1 with the message printed. */
static int open_with_head(const struct config *cfg, struct store **st,
			  struct store_head_status *hs)
{
	struct store_options opt = { .key_file = cfg->audit_key_file };
	char err[1024];
	if (store_open_ex(st, cfg->db, &opt, err, sizeof(err)) != 0 ||
	    store_head_status(*st, hs, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		store_close(*st);
		*st = NULL;
		return 1;
	}
	return 0;
}

/*
 * --accept-lost-history: an operator goes on from a store that is not at
 * its head file (behind, forked, missing or invalid head): the loss and the
 * epoch floor are recorded in the audit, and the head file moves to where
 * the database ends.
 */
static int accept_lost_history(const struct config *cfg)
{
	struct store *st = NULL;
	struct store_head_status hs;
	char err[1024], actor[160];
	if (open_with_head(cfg, &st, &hs) != 0)
		return 1;
	if (hs.writable) {
		printf("%s: nothing to accept\n", hs.detail);
		store_close(st);
		return 0;
	}
	const char *user = getenv("USER");
	snprintf(actor, sizeof(actor), "operator:%s", user && *user ? user : "unknown");
	printf("%s\n", hs.detail);
	int rc = store_head_accept(st, actor, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "drorchd: %s\n", err);
	else
		printf("accepted by %s and recorded in the audit; epochs up to %" PRId64
		       " will not be issued again; %s now says where the database ends\n",
		       actor, hs.epoch_floor, store_head_file(st));
	store_close(st);
	return rc != 0;
}

/* SIGHUP: the policy file the config names, read again, checked against
 * the sites and put in force; a bad file is logged with its position and
 * changes nothing. */
static void reload_policy(struct orch *o, const struct config *cfg)
{
	char err[1024];
	struct policy p;
	struct policy_cluster cl = config_policy_cluster(cfg);
	if (!cfg->policy_file[0]) {
		log_event(LOG_WARN, "drorchd.policy_not_reloaded", "{s:s}", "reason",
			  "the config names no policy file (PUT /v1/policy puts one in force)");
	} else if (policy_load(cfg->policy_file, &cl, &p, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "drorchd.policy_refused", "{s:s, s:s}", "file",
			  cfg->policy_file, "error", err);
	} else if (orch_set_policy(o, &p, "operator:sighup", "file", err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "drorchd.policy_not_reloaded", "{s:s}", "reason", err);
	} else {
		log_event(LOG_INFO, "drorchd.policy_reloaded", "{s:s, s:s}", "file",
			  cfg->policy_file, "name", p.name);
	}
}

/* Who may act: the token_file's token as operator "api", and every
 * operator of the operators_file (operators.h). */
static int load_operators(const struct config *cfg, struct operators *ops, char *err,
			  size_t errlen)
{
	char token[512];
	operators_init(ops);
	int rc = auth_read_token(cfg->token_file, token, sizeof(token), err, errlen) != 0 ||
		 operators_add(ops, "api", token, err, errlen) != 0 ||
		 (cfg->operators_file[0] &&
		  operators_load(ops, cfg->operators_file, err, errlen) != 0) ? -1 : 0;
	explicit_bzero(token, sizeof(token));  /* only its hash is kept */
	if (rc)
		return -1;
	log_event(LOG_INFO, "drorchd.operators", "{s:i, s:s}", "count", ops->n, "file",
		  cfg->operators_file[0] ? cfg->operators_file : "(none: token_file only)");
	return 0;
}

/* SIGHUP: the operators file read again (with the token_file's token); a
 * bad file is logged with its line and changes nothing. */
static void reload_operators(struct api *api, const struct config *cfg)
{
	char err[600];
	struct operators *ops = malloc(sizeof(*ops));
	if (!ops || load_operators(cfg, ops, err, sizeof(err)) != 0)
		log_event(LOG_ERROR, "drorchd.operators_refused", "{s:s, s:s}", "file",
			  cfg->operators_file, "error", ops ? err : "out of memory");
	else
		api_set_operators(api, ops);
	free(ops);
}

static int serve(const struct config *cfg)
{
	char err[512], host[CONFIG_URL_MAX];
	uint16_t port;
	static struct api api;  /* lives as long as main; ops replaced by SIGHUP */
	pthread_rwlock_init(&api.ops_lock, NULL);
	if (load_operators(cfg, &api.ops, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		return 1;
	}
	sigset_t sigs;
	sigstop_block(&sigs);
	sigaddset(&sigs, SIGHUP);  /* reloads the policy and operators files */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (orch_start(&api.orch, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		return 1;
	}
	if (pbrun_new(&api.pbrun, api.orch, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		orch_stop(api.orch);
		return 1;
	}
	http_parse_hostport(cfg->listen, host, sizeof(host), &port);
	struct http_server *srv = NULL;
	struct http_server_opts ho = { .host = host, .port = port, .max_body = API_MAX_BODY,
				       .handler = api_handler, .ctx = &api,
				       .stats = metrics_http_stats(api.orch), .routes = api_routes };
	if (http_server_start(&srv, &ho, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		pbrun_free(api.pbrun);
		orch_stop(api.orch);
		return 1;
	}
	log_event(LOG_INFO, "drorchd.listening", "{s:s, s:s, s:i}", "db", cfg->db,
		  "host", host, "port", (int)http_server_port(srv));
	int sig = 0;
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
		reload_policy(api.orch, cfg);
		if (cfg->operators_file[0])
			reload_operators(&api, cfg);
	}
	log_event(LOG_INFO, "drorchd.stopping", "{s:i}", "signal", sig);
	http_server_stop(srv);
	pbrun_free(api.pbrun);
	orch_stop(api.orch);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verify-audit", no_argument, NULL, 'v' },
		{ "accept-lost-history", no_argument, NULL, 'a' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	int verify = 0, accept = 0, c;
	enum log_level level = LOG_INFO;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'v': verify = 1; break;
		case 'a': accept = 1; break;
		case 'L':
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "drorchd: --log-level: '%s' is not debug|info|warn|error\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("drorchd %s (store schema %d)\n", PACKAGE_VERSION, STORE_SCHEMA_VERSION);
			  return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind < argc || (verify && accept)) {
		usage(stderr);
		return 2;
	}
	static struct config cfg;  /* main's own: large, read-only once loaded */
	char err[1024];
	if (config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		return 2;
	}
	log_init("drorchd", NULL, level);
	nofile_raise();
	if (httpc_global_init() != 0) {
		fprintf(stderr, "drorchd: cannot initialise libcurl\n");
		return 1;
	}
	if (verify)
		return verify_audit(&cfg);
	return accept ? accept_lost_history(&cfg) : serve(&cfg);
}
