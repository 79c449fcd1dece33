/*
 * drlink — the WAN emulator: a TCP proxy with one listener per directed link,
 * whose latency, jitter, loss, bandwidth and partitions change live over REST.
 *
 *   drlink --admin HOST:PORT [--config links.yaml] [--queue-kib N] [--seed N]
 *          [--log-level debug|info|warn|error]
 *
 * Threads: the proxy data path runs on one thread (link_engine_run); the admin
 * API runs on libmicrohttpd's threads and talks to the engine through link.h's
 * calls; the main thread waits for SIGINT/SIGTERM and then stops both.
 *
 * Admin API (errors are {"error": "..."}):
 *   GET    /healthz
 *   GET    /metrics                     Prometheus text (linkmetrics.h)
 *   GET    /v1/links                    {"links": [LINK, ...]}
 *   POST   /v1/links                    {"name","listen","upstream"} (all, only) → 201 LINK
 *   GET    /v1/links/{name}             LINK
 *   DELETE /v1/links/{name}             204
 *   PUT    /v1/links/{name}/conditions  {"latency_ms","jitter_ms","loss_pct",
 *          "bandwidth_kbps","partition","direction"} (any subset) → 200 LINK
 * 400 bad input: an unknown field, a missing one, a wrong type or a value out
 * of range (the message names the field), 404 unknown link, 409 a name or
 * listen address in use, 413 a body over 64 KiB.  A refused request changes
 * nothing.  The model behind the conditions: docs/drlink.md.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decimal.h"
#include "http.h"
#include "link.h"
#include "linkbody.h"
#include "linkconf.h"
#include "linkmetrics.h"
#include "log.h"
#include "nofile.h"
#include "sigstop.h"

#define EXIT_USAGE 2
#define ADMIN_MAX_BODY (64 * 1024)

struct options {
	const char *admin;
	const char *config;
	size_t queue_bytes;
	uint64_t seed;
	enum log_level log_level;
};

/* ==== the admin API ======================================================= */

static int status_of(int rc)
{
	switch (rc) {
	case LINK_OK: return 200;
	case LINK_ERR_INVALID: return 400;
	case LINK_ERR_NOT_FOUND: return 404;
	case LINK_ERR_EXISTS:
	case LINK_ERR_ADDR_IN_USE: return 409;
	case LINK_ERR_STOPPED: return 503;
	default: return 500;
	}
}

/* Answers a link call: the JSON on success, {"error"} otherwise. */
static void reply(struct http_resp *resp, int rc, int ok_status, json_t *j, const char *err)
{
	if (rc == LINK_OK)
		http_resp_json(resp, ok_status, j);
	else
		http_resp_error(resp, status_of(rc), "%s", err);
}

static void put_conditions(struct link_engine *eng, const char *name,
			   const struct http_req *req, struct http_resp *resp)
{
	json_t *body = http_req_json(req, resp);
	if (!body)
		return;
	struct link_cond_update u;
	char err[256];
	json_t *out = NULL;
	int rc = linkbody_conditions(body, &u, err, sizeof(err)) == 0
		 ? link_set_conditions(eng, name, &u, &out, err, sizeof(err)) : LINK_ERR_INVALID;
	json_decref(body);
	reply(resp, rc, 200, out, err);
}

static void post_link(struct link_engine *eng, const struct http_req *req,
		      struct http_resp *resp)
{
	json_t *body = http_req_json(req, resp);
	if (!body)
		return;
	const char *val[3] = { NULL, NULL, NULL };
	char err[256];
	json_t *out = NULL;
	int rc = linkbody_link(body, val, err, sizeof(err)) == 0
		 ? link_add(eng, val[0], val[1], val[2], &out, err, sizeof(err)) : LINK_ERR_INVALID;
	json_decref(body);
	reply(resp, rc, 201, out, err);
}

static void get_links(struct link_engine *eng, struct http_resp *resp)
{
	json_t *arr = NULL;
	char err[256];
	int rc = link_list(eng, &arr, err, sizeof(err));
	reply(resp, rc, 200, rc == LINK_OK ? json_pack("{s:o}", "links", arr) : NULL, err);
}

/* Routes /v1/links/{name}[/conditions]. */
static void link_route(struct link_engine *eng, const char *rest,
		       const struct http_req *req, struct http_resp *resp)
{
	char name[LINK_NAME_MAX + 2];
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(name)) {
		http_resp_error(resp, 404, "no link '%.*s'", (int)(n < 80 ? n : 80), rest);
		return;
	}
	memcpy(name, rest, n);
	name[n] = '\0';
	char err[256];
	int rc;
	if (slash && strcmp(slash, "/conditions") == 0 && strcmp(req->method, "PUT") == 0) {
		put_conditions(eng, name, req, resp);
	} else if (slash) {
		http_resp_error(resp, strcmp(slash, "/conditions") == 0 ? 405 : 404,
				"%s %s: no such route", req->method, req->path);
	} else if (strcmp(req->method, "GET") == 0) {
		json_t *out = NULL;
		rc = link_get(eng, name, &out, err, sizeof(err));
		reply(resp, rc, 200, out, err);
	} else if (strcmp(req->method, "DELETE") == 0) {
		rc = link_remove(eng, name, err, sizeof(err));
		if (rc == LINK_OK)
			http_resp_bytes(resp, 204, NULL, "", 0);
		else
			reply(resp, rc, 204, NULL, err);
	} else {
		http_resp_error(resp, 405, "%s %s: method not allowed", req->method, req->path);
	}
}

static void admin_handle(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct link_engine *eng = ctx;
	static const char prefix[] = "/v1/links/";
	if (strcmp(req->path, "/healthz") == 0 && strcmp(req->method, "GET") == 0)
		http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
	else if (strcmp(req->path, "/metrics") == 0 && strcmp(req->method, "GET") == 0)
		linkmetrics_respond(eng, resp);
	else if (strcmp(req->path, "/v1/links") == 0 && strcmp(req->method, "GET") == 0)
		get_links(eng, resp);
	else if (strcmp(req->path, "/v1/links") == 0 && strcmp(req->method, "POST") == 0)
		post_link(eng, req, resp);
	else if (strcmp(req->path, "/v1/links") == 0)
		http_resp_error(resp, 405, "%s /v1/links: method not allowed", req->method);
	else if (strncmp(req->path, prefix, sizeof(prefix) - 1) == 0)
		link_route(eng, req->path + sizeof(prefix) - 1, req, resp);
	else
		http_resp_error(resp, 404, "%s %s: no such route", req->method, req->path);
}

/* ==== start-up ============================================================ */

static void usage(FILE *f)
{
	fprintf(f, "usage: drlink --admin HOST:PORT [--config links.yaml] [--queue-kib N]\n"
		   "              [--seed N] [--log-level debug|info|warn|error]\n"
		   "       drlink --version | -h\n"
		   "  --queue-kib N  bytes held per connection and direction before drlink\n"
		   "                 stops reading the sender (default 256)\n"
		   "  --seed N       fixes the jitter and loss draws, for repeatable drills\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "config", required_argument, NULL, 'c' },
		{ "queue-kib", required_argument, NULL, 'q' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	uint64_t kib;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': o->admin = optarg; break;
		case 'c': o->config = optarg; break;
		case 'q':
			if (decimal_u64_in(optarg, 16, 65536, &kib) != DECIMAL_OK) {
				fprintf(stderr, "drlink: --queue-kib: expected 16 to 65536\n");
				return -1;
			}
			o->queue_bytes = (size_t)kib * 1024u;
			break;
		case 's':
			if (decimal_u64_in(optarg, 1, UINT64_MAX, &o->seed) != DECIMAL_OK) {
				fprintf(stderr, "drlink: --seed: expected a positive integer\n");
				return -1;
			}
			break;
		case 'l':
			if (log_level_parse(optarg, &o->log_level) != 0) {
				fprintf(stderr, "drlink: --log-level: expected debug, info, warn or error\n");
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("drlink %s\n", PACKAGE_VERSION); exit(0);
		default: return -1;
		}
	}
	if (!o->admin || optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Creates the --config links and their conditions, or reports FILE:L:C. */
static int apply_config(struct link_engine *eng, const char *path)
{
	struct linkconf *conf = NULL;
	char err[512];
	if (linkconf_load(path, &conf, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "drlink.config_invalid", "{s:s}", "error", err);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < conf->nlinks && rc == 0; i++) {
		const struct linkconf_link *l = &conf->links[i];
		int line = l->line, column = l->column;
		rc = link_add(eng, l->name, l->listen, l->upstream, NULL, err, sizeof(err));
		for (size_t j = 0; j < l->nconds && rc == 0; j++) {
			line = l->conds[j].line;
			column = l->conds[j].column;
			rc = link_set_conditions(eng, l->name, &l->conds[j].update, NULL,
						 err, sizeof(err));
		}
		if (rc != 0) {
			char where[600];
			snprintf(where, sizeof(where), "%s:%d:%d: %s", path, line, column, err);
			log_event(LOG_ERROR, "drlink.config_invalid", "{s:s}", "error", where);
		}
	}
	linkconf_free(conf);
	return rc == 0 ? 0 : -1;
}

static void *engine_thread(void *arg)
{
	char err[256];
	if (link_engine_run(arg, err, sizeof(err)) != LINK_OK)
		log_event(LOG_ERROR, "drlink.engine_failed", "{s:s}", "error", err);
	return NULL;
}

static int start_admin(struct link_engine *eng, const char *admin, struct http_server **out)
{
	char host[128], err[256];
	uint16_t port;
	if (http_parse_hostport(admin, host, sizeof(host), &port) != 0) {
		log_event(LOG_ERROR, "drlink.bad_admin", "{s:s}", "admin", admin);
		return -1;
	}
	struct http_server_opts opts = { .host = host, .port = port, .max_body = ADMIN_MAX_BODY,
					 .handler = admin_handle, .ctx = eng };
	if (http_server_start(out, &opts, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "drlink.admin_failed", "{s:s, s:s}", "admin", admin,
			  "error", err);
		return -1;
	}
	log_event(LOG_INFO, "drlink.ready", "{s:s, s:i}", "admin", admin,
		  "admin_port", (int)http_server_port(*out));
	return 0;
}

static int wait_for_stop_signal(const sigset_t *set)
{
	int sig = 0;
	while (sigwait(set, &sig) != 0)
		;
	log_event(LOG_INFO, "drlink.stopping", "{s:i}", "signal", sig);
	return sig;
}

int main(int argc, char **argv)
{
	struct options opts = { .log_level = LOG_INFO };
	if (parse_args(argc, argv, &opts) != 0)
		return EXIT_USAGE;
	log_init("drlink", NULL, opts.log_level);
	nofile_raise();  /* each proxied connection costs two descriptors */
	sigset_t stop;
	sigstop_block(&stop);

	char err[256];
	struct link_engine *eng = NULL;
	struct link_engine_opts eopts = { .queue_bytes = opts.queue_bytes, .seed = opts.seed };
	if (link_engine_new(&eng, &eopts, err, sizeof(err)) != LINK_OK) {
		log_event(LOG_ERROR, "drlink.engine_failed", "{s:s}", "error", err);
		return 1;
	}
	pthread_t loop;
	if (pthread_create(&loop, NULL, engine_thread, eng) != 0) {
		log_event(LOG_ERROR, "drlink.engine_failed", "{s:s}", "error", "pthread_create");
		link_engine_free(eng);
		return 1;
	}
	int status = 0;
	struct http_server *admin = NULL;
	if (opts.config && apply_config(eng, opts.config) != 0)
		status = EXIT_USAGE;
	else if (start_admin(eng, opts.admin, &admin) != 0)
		status = 1;
	else
		wait_for_stop_signal(&stop);
	http_server_stop(admin);
	link_engine_stop(eng);
	pthread_join(loop, NULL);
	link_engine_free(eng);
	return status;
}
