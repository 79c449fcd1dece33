/*
 * http.h — drorch's HTTP server wrapper over libmicrohttpd.
 *
 * Owns: the listening daemon, per-request body accumulation with a size cap,
 * the connection limits below, and building responses (JSON, raw bytes, JSON
 * errors).  Callers supply one handler per server; it sees a whole request
 * (headers and body) and fills a response.  Every server of drorch (drsite,
 * drlink's admin API, drorchd) goes through this module, so error shapes and
 * limits are the same everywhere.
 *
 * Threading: one thread per connection (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION).  A handler may therefore block — drsite's
 * PUT waits on group commit, a replica's WAL fetch is a long poll — without
 * stalling other connections.  Handlers run concurrently and must lock what
 * they share.
 *
 * Limits, so that a flood of idle or slow connections does not lock out the
 * health checks and the admin API (README.md, "Connection limits", has the
 * measurements):
 *  - At most HTTP_MAX_CONNECTIONS open connections, fewer when the soft
 *    RLIMIT_NOFILE leaves less than that plus HTTP_FD_RESERVE descriptors
 *    (daemons raise it to the hard limit first: nofile.h).  Past the cap,
 *    new connections wait in the listen backlog.
 *  - At most max_connections_per_peer (default a quarter of the cap) from
 *    one IPv4 address; more are closed at accept.  Loopback peers are not
 *    counted: on one host every client is 127.0.0.1, so a per-address cap
 *    there would lock out the orchestrator and the replicas with the flood.
 *  - HTTP_HEAD_TIMEOUT_S: a request's line and headers must be complete
 *    that long after the connection opened or its previous response was
 *    sent, or the connection is closed (a slowloris client sending a byte a
 *    second never looks idle).  This also bounds keep-alive idleness.
 *  - HTTP_IDLE_TIMEOUT_S without a byte either way while a body is read or
 *    a response written closes the connection.  A handler's own run time
 *    does not count (libmicrohttpd restarts the clock when the response is
 *    queued): a handler may block for as long as it needs.
 *  - Bodies: up to max_body bytes reach the handler.  A larger body is
 *    answered 413; one at most HTTP_DRAIN_FACTOR times max_body is read and
 *    discarded first, so the client (still sending) sees the 413 and not a
 *    reset; a larger one, or one behind "Expect: 100-continue", is answered
 *    as soon as its headers are in, and the connection closed.
 *  - A request head is at most HTTP_CONN_MEMORY bytes (431, or 414 for the
 *    request line): MHD's per-connection pool, which it zeroes before every
 *    request on a kept-alive connection, so its size is paid per request
 *    (64 KiB cost a tenth of drsite's CPU at 64 clients: bench/kv/README.md).
 *  - HTTP_THREAD_STACK bytes of stack per connection thread (4096 threads
 *    fit in 1 GiB of address space; every test suite passes at 64 KiB).
 *
 * Paths: http_req.path is percent-decoded and never holds a NUL.  A request
 * whose target holds one (a raw 0x00 byte, or %00 in the path or the query)
 * is answered 400 before any handler runs, so no route can be confused by a
 * C string cut short.
 *
 * Errors: functions return 0 on success or -1 with a message in err[].
 */
#ifndef DRORCH_HTTP_H
#define DRORCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HTTP_MAX_CONNECTIONS 4096u
#define HTTP_FD_RESERVE 256u
#define HTTP_HEAD_TIMEOUT_S 10u
#define HTTP_IDLE_TIMEOUT_S 10u
#define HTTP_DRAIN_FACTOR 2u
#define HTTP_THREAD_STACK (256u * 1024u)
#define HTTP_CONN_MEMORY (16u * 1024u)

struct http_server;
struct httpstats;
struct MHD_Connection;

struct http_req {
	const char *method;        /* "GET", "PUT", ... */
	const char *path;          /* URL path, percent-decoded, no query */
	const char *body;          /* NUL-terminated copy of the body, or NULL */
	size_t body_len;
	struct MHD_Connection *conn;
};

struct http_header {
	char *name;
	char *value;
};

#define HTTP_MAX_RESP_HEADERS 8

struct http_resp {
	int status;
	const char *content_type;  /* static string */
	char *body;                /* owned: malloc'd, freed by the server */
	size_t body_len;
	struct http_header headers[HTTP_MAX_RESP_HEADERS];
	int nheaders;
};

typedef void (*http_handler_fn)(void *ctx, const struct http_req *req,
				struct http_resp *resp);

struct http_server_opts {
	const char *host;          /* dotted IPv4, e.g. "127.0.0.1" */
	uint16_t port;             /* 0 picks a free port; see http_server_port */
	size_t max_body;           /* larger bodies answer 413 before the handler */
	http_handler_fn handler;
	void *ctx;
	struct httpstats *stats;   /* optional: each handler call by route and code */
	const char *const *routes; /* the route templates for stats (httpstats.h) */
	unsigned max_connections;  /* 0: HTTP_MAX_CONNECTIONS (see Limits) */
	unsigned max_connections_per_peer;  /* 0: a quarter of the cap */
	bool count_loopback_peers; /* apply the per-peer cap to loopback (tests) */
};

int http_server_start(struct http_server **out, const struct http_server_opts *opts,
		      char *err, size_t errlen);
uint16_t http_server_port(const struct http_server *srv);
/* Stops listening, waits for in-flight requests to finish, frees srv. */
void http_server_stop(struct http_server *srv);

/* Request accessors (valid during the handler). */
const char *http_req_header(const struct http_req *req, const char *name);
const char *http_req_query(const struct http_req *req, const char *name);
/* Parses the body as a JSON object; on failure sets a 400 error on resp. */
json_t *http_req_json(const struct http_req *req, struct http_resp *resp);
/* The same for bytes held anywhere (pure: the fuzz targets use it); NULL
 * with err set when they are not a JSON object.  Caller json_decref()s. */
json_t *http_body_json(const char *body, size_t len, char *err, size_t errlen);

/* Response builders.  Each replaces any body set before. */
void http_resp_json(struct http_resp *resp, int status, json_t *body); /* steals body */
void http_resp_bytes(struct http_resp *resp, int status, const char *content_type,
		     const void *data, size_t len);
void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int http_resp_header(struct http_resp *resp, const char *name, const char *value);

/* Splits "HOST:PORT" (IPv4 or name, no brackets) into parts; 0 or -1.
 * PORT is digits alone, 0..65535 (decimal.h). */
int http_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
