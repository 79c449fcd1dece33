/*
 * drorchd — the DR orchestrator daemon.
 *
 *   drorchd --config FILE [--log-level L]
 *   drorchd --config FILE --verify-audit
 *
 * Exit codes: 0 clean shutdown (SIGTERM/SIGINT) or an intact audit chain;
 * 1 start-up failure or a broken chain; 2 usage or a bad config file.
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
		   "       drorchd --config FILE --verify-audit\n");
}

/* --verify-audit: recompute the transition log's hash chain. */
static int verify_audit(const struct config *cfg)
{
	struct store *st = NULL;
	char err[512];
	if (store_open(&st, cfg->db, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		return 1;
	}
	int64_t rows = 0, bad = 0;
	int rc = store_verify_chain(st, &rows, &bad, err, sizeof(err));
	store_close(st);
	if (rc < 0) {
		fprintf(stderr, "drorchd: verify-audit: %s\n", err);
		return 1;
	}
	if (rc > 0) {
		printf("audit chain BROKEN at seq %" PRId64 " (%" PRId64 " rows checked)\n", bad, rows);
		return 1;
	}
	printf("audit chain intact: %" PRId64 " transitions\n", rows);
	return 0;
}

static int serve(const struct config *cfg)
{
	char err[512], host[CONFIG_URL_MAX];
	uint16_t port;
	static struct api api;  /* lives as long as main; read-only after start */
	if (auth_read_token(cfg->token_file, api.token, sizeof(api.token), err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		return 1;
	}
	sigset_t sigs;
	sigstop_block(&sigs);
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
				       .request_seconds = metrics_http_histo(api.orch) };
	if (http_server_start(&srv, &ho, err, sizeof(err)) != 0) {
		fprintf(stderr, "drorchd: %s\n", err);
		pbrun_free(api.pbrun);
		orch_stop(api.orch);
		return 1;
	}
	log_event(LOG_INFO, "drorchd.listening", "{s:s, s:s, s:i}", "db", cfg->db,
		  "host", host, "port", (int)http_server_port(srv));
	int sig = 0;
	sigwait(&sigs, &sig);
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
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	int verify = 0, c;
	enum log_level level = LOG_INFO;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'v': verify = 1; break;
		case 'L':
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "drorchd: --log-level: '%s' is not debug|info|warn|error\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind < argc) {
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
	return verify ? verify_audit(&cfg) : serve(&cfg);
}
