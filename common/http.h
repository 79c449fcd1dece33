/*
 * http.h — drorch's HTTP server wrapper over libmicrohttpd.
 *
 * Owns: the listening daemon, per-request body accumulation with a size cap,
 * and building responses (JSON, raw bytes, JSON errors).  Callers supply one
 * handler per server; it sees a whole request (headers and body) and fills a
 * response.  Every server of drorch (drsite, drlink's admin API, drorchd)
 * goes through this module, so error shapes and limits are the same everywhere.
 *
 * Threading: one thread per connection (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION).  A handler may therefore block — drsite's
 * PUT waits on group commit — without stalling other connections.  Handlers
 * run concurrently and must lock what they share.
 *
 * Errors: functions return 0 on success or -1 with a message in err[].
 */
#ifndef DRORCH_HTTP_H
#define DRORCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct http_server;
struct histo;
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
	struct histo *request_seconds;  /* optional: observes each handler call */
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

/* Response builders.  Each replaces any body set before. */
void http_resp_json(struct http_resp *resp, int status, json_t *body); /* steals body */
void http_resp_bytes(struct http_resp *resp, int status, const char *content_type,
		     const void *data, size_t len);
void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int http_resp_header(struct http_resp *resp, const char *name, const char *value);

/* Splits "HOST:PORT" (IPv4 or name, no brackets) into parts; 0 or -1. */
int http_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
