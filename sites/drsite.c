/*
 * drsite — one region site: a key-value store with a durable WAL.
 *
 *   drsite --name NAME --listen HOST:PORT --data DIR [--token-file F]
 *          [--segment-bytes N] [--checkpoint-bytes N] [--lease-ms MS]
 *          [--sync-timeout-ms MS] [--repl-encoding binary|json] [--log-level L]
 *
 * Built twice from the same sources (sites/format.h): `drsite` is version
 * 0.2.0 and reads WAL/snapshot/shipping formats 1 and 2; `drsite-0.1.0`
 * reads format 1 only.  A rolling upgrade restarts a site on the other
 * program; `--version` says which one this is and the formats it reads.
 *
 * Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 1 start-up failure (data
 * dir, port, a data dir at an FCV above the binary version), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "http.h"
#include "httpc.h"
#include "log.h"
#include "nofile.h"
#include "sigstop.h"
#include "metrics.h"
#include "role.h"
#include "site.h"
#include "version.h"
#include "wal.h"
#include "format.h"

struct args {
	const char *name;
	const char *listen;
	const char *datadir;
	const char *token_file;
	uint64_t segment_bytes;
	uint64_t checkpoint_bytes;
	uint64_t lease_ms;
	uint64_t sync_timeout_ms;
	int json_framing;
	int enable_faults;
	enum log_level level;
	struct version binary;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: drsite --name NAME --listen HOST:PORT --data DIR [options]\n"
		"  --token-file F         bearer token for the admin API and WAL shipping\n"
		"  --segment-bytes N      WAL segment size (default 67108864)\n"
		"  --checkpoint-bytes N   checkpoint after N bytes of WAL (default 67108864)\n"
		"  --lease-ms MS          a primary's write lease (default 500)\n"
		"  --sync-timeout-ms MS   how long a sync write waits for replicas (default 2000)\n"
		"  --repl-encoding E      binary (default) or json framing when replicating\n"
		"  --enable-faults        expose POST /v1/admin/faults (drills and tests only)\n"
		"  --log-level L          debug|info|warn|error (default info)\n"
		"  --version, --help\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	return decimal_u64_in(s, 4096, UINT64_MAX, out) == DECIMAL_OK ? 0 : -1;
}

static int parse_ms(const char *s, uint64_t *out)
{
	return decimal_u64_in(s, 1, 3600000, out) == DECIMAL_OK ? 0 : -1;
}

/* Returns 0, or 2 after printing a usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data", required_argument, NULL, 'd' },
		{ "token-file", required_argument, NULL, 't' },
		{ "segment-bytes", required_argument, NULL, 's' },
		{ "checkpoint-bytes", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "lease-ms", required_argument, NULL, 'e' },
		{ "sync-timeout-ms", required_argument, NULL, 'T' },
		{ "repl-encoding", required_argument, NULL, 'E' },
		{ "enable-faults", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': a->name = optarg; break;
		case 'l': a->listen = optarg; break;
		case 'd': a->datadir = optarg; break;
		case 't': a->token_file = optarg; break;
		case 's':
			if (parse_size(optarg, &a->segment_bytes)) {
				fprintf(stderr, "drsite: --segment-bytes: '%s' is not a size >= 4096\n", optarg);
				return 2;
			}
			break;
		case 'c':
			if (parse_size(optarg, &a->checkpoint_bytes)) {
				fprintf(stderr, "drsite: --checkpoint-bytes: '%s' is not a size >= 4096\n", optarg);
				return 2;
			}
			break;
		case 'e':
			if (parse_ms(optarg, &a->lease_ms)) {
				fprintf(stderr, "drsite: --lease-ms: '%s' is not 1..3600000\n", optarg);
				return 2;
			}
			break;
		case 'T':
			if (parse_ms(optarg, &a->sync_timeout_ms)) {
				fprintf(stderr, "drsite: --sync-timeout-ms: '%s' is not 1..3600000\n", optarg);
				return 2;
			}
			break;
		case 'E':
			if (strcmp(optarg, "binary") && strcmp(optarg, "json")) {
				fprintf(stderr, "drsite: --repl-encoding: '%s' is not binary|json\n", optarg);
				return 2;
			}
			a->json_framing = strcmp(optarg, "json") == 0;
			break;
		case 'F': a->enable_faults = 1; break;
		case 'L':
			if (log_level_parse(optarg, &a->level)) {
				fprintf(stderr, "drsite: --log-level: '%s' is not debug|info|warn|error\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("drsite %s (reads formats %s)\n", DRSITE_VERSION, DRSITE_FORMATS); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "drsite: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!a->name || !a->listen || !a->datadir) {
		fprintf(stderr, "drsite: --name, --listen and --data are required\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* The routes drsite serves (docs/openapi-drsite.yaml): the labels of its
 * request histogram. */
static const char *const routes[] = {
	"/v1/kv/{key}", "/v1/status", "/healthz", "/metrics", "/primary", "/replica",
	"/v1/admin/{command}", "/v1/wal", "/v1/snapshot", NULL,
};

int main(int argc, char **argv)
{
	struct args a = { .segment_bytes = 64u << 20, .checkpoint_bytes = 64u << 20,
			  .lease_ms = 500, .sync_timeout_ms = 2000, .level = LOG_INFO };
	if (!version_parse(DRSITE_VERSION, &a.binary)) {
		fprintf(stderr, "drsite: built as version '%s', which is not "
			ROLE_VERSION_SYNTAX "\n", DRSITE_VERSION);
		return 1;
	}
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc;
	char host[256];
	uint16_t port;
	if (http_parse_hostport(a.listen, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "drsite: --listen: '%s' is not HOST:PORT\n", a.listen);
		return 2;
	}
	log_init("drsite", a.name, a.level);
	nofile_raise();
	if (httpc_global_init() != 0) {
		fprintf(stderr, "drsite: cannot initialise libcurl\n");
		return 1;
	}

	sigset_t sigs;
	sigstop_block(&sigs);

	char err[512];
	struct site *site = NULL;
	struct site_opts so = { .name = a.name, .datadir = a.datadir,
				.token_file = a.token_file,
				.segment_bytes = a.segment_bytes,
				.checkpoint_bytes = a.checkpoint_bytes,
				.lease_ms = a.lease_ms, .sync_timeout_ms = a.sync_timeout_ms,
				.json_framing = a.json_framing,
				.enable_faults = a.enable_faults, .binary = a.binary };
	if (site_open(&site, &so, err, sizeof(err)) != 0) {
		fprintf(stderr, "drsite: %s\n", err);
		return 1;
	}
	struct http_server *srv = NULL;
	struct http_server_opts ho = { .host = host, .port = port, .max_body = WAL_MAX_VALUE,
				       .handler = site_http_handler, .ctx = site,
				       .stats = site_metrics_http_stats(site), .routes = routes };
	if (http_server_start(&srv, &ho, err, sizeof(err)) != 0) {
		fprintf(stderr, "drsite: %s\n", err);
		site_close(site);
		return 1;
	}
	log_event(LOG_INFO, "site.listening", "{s:s, s:i, s:s}", "host", host,
		  "port", (int)http_server_port(srv), "data", a.datadir);

	int sig = 0;
	sigwait(&sigs, &sig);
	log_event(LOG_INFO, "site.stopping", "{s:i}", "signal", sig);
	http_server_stop(srv);
	site_close(site);
	log_event(LOG_INFO, "site.stopped", NULL);
	return 0;
}
